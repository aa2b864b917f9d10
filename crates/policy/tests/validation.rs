//! Every `MalformedPolicyDocument` text of spec §2.2, and documents AWS accepts.

use iamd_policy::{Policy, PolicyError, PolicyKind, Version, is_valid_policy_charset, policy_size};

const SYNTAX: &str = "Syntax errors in policy.";
const LEGACY: &str = "The policy failed legacy parsing";

fn err(json: &str, kind: PolicyKind) -> String {
    Policy::parse(json, kind).expect_err(json).message
}

fn stmt(body: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{body}]}}"#)
}

#[test]
fn identity_policy_messages() {
    use PolicyKind::Identity as I;
    let cases: &[(&str, &str)] = &[
        ("not json", SYNTAX),
        ("null", SYNTAX),
        ("[]", SYNTAX),
        (r#"{"Version":"2012-10-17","Statement":null}"#, SYNTAX),
        (r#"{"Version":"2012-10-17"}"#, SYNTAX),
        (r#"{"Version":"2012-10-17","Statement":[]}"#, SYNTAX),
        (r#"{"Version":"2012-10-17","Statement":"x"}"#, SYNTAX),
        (r#"{"Version":"2012-10-17","Statement":[1]}"#, SYNTAX),
        (r#"{"Version":"2012-10-17","Extra":1,"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#, SYNTAX),
        (&stmt(r#"{"Effect":"Allow","Action":"*","Resource":"*","Bogus":1}"#), SYNTAX),
        (&stmt(r#"{"effect":"Allow","Action":"*","Resource":"*"}"#), SYNTAX),
        (&stmt(r#"{"Effect":"allow","Action":"*","Resource":"*"}"#), SYNTAX),
        (&stmt(r#"{"Action":"*","Resource":"*"}"#), SYNTAX),
        (
            &stmt(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}"#),
            "Policy document should not specify a principal.",
        ),
        (
            &stmt(r#"{"Effect":"Allow","NotPrincipal":{"AWS":"*"},"Action":"*","Resource":"*"}"#),
            "Policy document should not specify a principal.",
        ),
        (&stmt(r#"{"Effect":"Allow","Action":"*"}"#), "Policy statement must contain resources."),
        (&stmt(r#"{"Effect":"Allow","Action":"*","Resource":[]}"#), "Policy statement must contain resources."),
        (&stmt(r#"{"Effect":"Allow","Resource":"*"}"#), "Policy statement must contain actions."),
        (&stmt(r#"{"Effect":"Allow","Action":[],"Resource":"*"}"#), "Policy statement must contain actions."),
        (&stmt(r#"{"Effect":"Allow","Action":"*","NotAction":"iam:*","Resource":"*"}"#), SYNTAX),
        (&stmt(r#"{"Effect":"Allow","Action":"*","Resource":"*","NotResource":"*"}"#), SYNTAX),
        (
            &stmt(r#"{"Effect":"Allow","Action":"iam:Get:User","Resource":"*"}"#),
            "Actions/Condition can contain only one colon.",
        ),
        (&stmt(r#"{"Effect":"Allow","Action":"GetUser","Resource":"*"}"#), SYNTAX),
        (
            &stmt(r#"{"Effect":"Allow","Action":"*","Resource":"s3-bucket-x"}"#),
            "Resource s3-bucket-x must be in ARN format or \"*\".",
        ),
        (
            &stmt(r#"{"Effect":"Allow","Action":"*","NotResource":["arn:aws:iam::*:user/a","user/b"]}"#),
            "Resource user/b must be in ARN format or \"*\".",
        ),
        (r#"{"Version":"2012-10-18","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#, LEGACY),
        (r#"{"Version":2012,"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#, LEGACY),
        (&stmt(r#"{"Sid":1,"Effect":"Allow","Action":"*","Resource":"*"}"#), LEGACY),
        (&stmt(r#"{"Effect":"Allow","Action":5,"Resource":"*"}"#), LEGACY),
        (&stmt(r#"{"Effect":"Allow","Action":"*","Resource":{"a":1}}"#), LEGACY),
        (
            &stmt(
                r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"stringequals":{"aws:username":"a"}}}"#,
            ),
            SYNTAX,
        ),
        (
            &stmt(
                r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NullIfExists":{"aws:username":"true"}}}"#,
            ),
            SYNTAX,
        ),
        (
            &stmt(r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:a:b":"x"}}}"#),
            "Actions/Condition can contain only one colon.",
        ),
        (
            &stmt(
                r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:username":null}}}"#,
            ),
            SYNTAX,
        ),
        (
            &stmt(
                r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:username":{"a":"b"}}}}"#,
            ),
            SYNTAX,
        ),
        (&stmt(r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":"x"}}"#), SYNTAX),
        (&stmt(r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":[]}"#), SYNTAX),
    ];
    for (json, want) in cases {
        assert_eq!(err(json, I), *want, "{json}");
        // Boundaries and session policies follow the same rules.
        assert_eq!(err(json, PolicyKind::SessionOrBoundary), *want, "{json}");
    }
}

#[test]
fn trust_policy_messages() {
    use PolicyKind::Trust as T;
    let no_principals = "Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException: The passed in policy has a statement with no principals!";
    let cases: &[(&str, &str)] = &[
        (
            &stmt(r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole","Resource":"*"}"#),
            "Has prohibited field Resource",
        ),
        (
            &stmt(r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole","NotResource":"*"}"#),
            "Has prohibited field NotResource",
        ),
        (&stmt(r#"{"Effect":"Allow","Action":"sts:AssumeRole"}"#), no_principals),
        (&stmt(r#"{"Effect":"Allow","Principal":{},"Action":"sts:AssumeRole"}"#), no_principals),
        (&stmt(r#"{"Effect":"Allow","Principal":{"AWS":[]},"Action":"sts:AssumeRole"}"#), no_principals),
        (
            &stmt(r#"{"Effect":"Allow","NotPrincipal":{"AWS":"*"},"Action":"sts:AssumeRole"}"#),
            "Has prohibited field NotPrincipal",
        ),
        (&stmt(r#"{"Effect":"Allow","Principal":{"AWS":"*"}}"#), "Policy statement must contain actions."),
        (
            &stmt(
                r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/*"},"Action":"sts:AssumeRole"}"#,
            ),
            r#"Invalid principal in policy: "AWS":"arn:aws:iam::123456789012:user/*""#,
        ),
        (
            &stmt(r#"{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"sts:AssumeRole"}"#),
            r#"Invalid principal in policy: "AWS":"bob""#,
        ),
        (
            &stmt(r#"{"Effect":"Allow","Principal":"bob","Action":"sts:AssumeRole"}"#),
            r#"Invalid principal in policy: "AWS":"bob""#,
        ),
        (
            &stmt(r#"{"Effect":"Allow","Principal":{"Group":"x"},"Action":"sts:AssumeRole"}"#),
            r#"Invalid principal in policy: "Group":"x""#,
        ),
        (
            &stmt(r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:Assume:Role"}"#),
            "Actions/Condition can contain only one colon.",
        ),
    ];
    for (json, want) in cases {
        assert_eq!(err(json, T), *want, "{json}");
    }
}

#[test]
fn accepted_shapes() {
    let ok = |json: &str, kind| Policy::parse(json, kind).unwrap_or_else(|e| panic!("{json}: {e}"));
    // Statement as a single object, no Version (legacy), Id, Sid with any characters.
    let p = ok(
        r#"{"Id":"x","Statement":{"Sid":"any thing-1","Effect":"Deny","NotAction":"iam:*","NotResource":["arn:aws:iam::*:user/a"]}}"#,
        PolicyKind::Identity,
    );
    assert_eq!(p.version(), Version::Absent);
    assert_eq!(p.statements()[0].sid(), Some("any thing-1"));
    // Duplicate Sids are not rejected (open point 11.7).
    ok(
        &stmt(
            r#"{"Sid":"a","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"a","Effect":"Deny","Action":"*","Resource":"*"}"#,
        ),
        PolicyKind::Identity,
    );
    // Condition values may be JSON numbers, booleans and arrays of them.
    ok(
        &stmt(
            r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":true},"NumericLessThan":{"aws:MultiFactorAuthAge":[3600, 7200.5]},"ForAnyValue:StringLikeIfExists":{"aws:TagKeys":[]}}}"#,
        ),
        PolicyKind::Identity,
    );
    // Tag keys with colons are not "two colons" in the condition key.
    ok(
        &stmt(
            r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/aws:cloudformation:stack-name":"x"}}}"#,
        ),
        PolicyKind::Identity,
    );
    // Trust principals in every form.
    let t = ok(
        &stmt(
            r#"{"Effect":"Allow","Principal":{"AWS":["123456789012","arn:aws:iam::123456789012:root","arn:aws:iam::123456789012:user/eng/alice","arn:aws:sts::123456789012:assumed-role/r/s","AIDAJ45Q7YFFAREXAMPLE","*"],"Service":"ec2.amazonaws.com","Federated":"arn:aws:iam::123456789012:saml-provider/x","CanonicalUser":"abc"},"Action":["sts:AssumeRole","sts:TagSession"]}"#,
        ),
        PolicyKind::Trust,
    );
    assert_eq!(t.statements()[0].principals().len(), 9);
    ok(&stmt(r#"{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}"#), PolicyKind::Trust);
}

#[test]
fn managed_policies_need_the_current_version() {
    let body = r#""Statement":{"Effect":"Allow","Action":"*","Resource":"*"}"#;
    let too_old = PolicyError::version_too_old();
    assert_eq!(Policy::parse_managed(&format!("{{{body}}}")).unwrap_err(), too_old);
    assert_eq!(Policy::parse_managed(&format!(r#"{{"Version":"2008-10-17",{body}}}"#)).unwrap_err(), too_old);
    assert!(Policy::parse_managed(&format!(r#"{{"Version":"2012-10-17",{body}}}"#)).is_ok());
    assert_eq!(too_old.message, "Policy document must be version 2012-10-17 or greater.");
}

#[test]
fn size_and_charset() {
    assert_eq!(policy_size("{ \"a\" :\n\t\"b c\" }"), 10);
    assert!(is_valid_policy_charset("{\"a\":\"é\t\"}\r\n"));
    assert!(!is_valid_policy_charset("{\"a\":\"€\"}"));
    assert!(!is_valid_policy_charset("\u{1}"));
    assert!(!is_valid_policy_charset(""));
}
