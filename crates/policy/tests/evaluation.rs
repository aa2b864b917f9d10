//! The decision procedure (spec §3): NotAction/NotResource, resource variables, boundaries,
//! session policies, AccessDenied reasons, trust policies and AssumeRole, context keys.

use iamd_policy::{
    Caller, Decision, DenyReason, Policy, PolicyKind, PolicySource, PrincipalMatch, PrincipalType, Request,
    RequestContext, context_keys, context_keys_of, evaluate, evaluate_assume_role, evaluate_trust,
    missing_context_keys,
};

const ALICE: &str = "arn:aws:iam::123456789012:user/alice";

fn p(statements: &str) -> Policy {
    Policy::parse(&format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#), PolicyKind::Identity)
        .unwrap_or_else(|e| panic!("{statements}: {e}"))
}

fn req(action: &str, resource: &str) -> Request {
    Request::new(action, resource, RequestContext::new().with("aws:username", "alice"))
}

fn decide(r: &Request, identity: &[&Policy]) -> Decision {
    evaluate(r, identity, None, &[]).decision
}

#[test]
fn actions_and_resources() {
    let get = p(r#"{"Effect":"Allow","Action":["iam:Get*","iam:List?sers"],"Resource":"arn:aws:iam::*:user/*"}"#);
    assert_eq!(decide(&req("iam:GetUser", ALICE), &[&get]), Decision::Allow);
    assert_eq!(decide(&req("IAM:GETUSER", ALICE), &[&get]), Decision::Allow);
    assert_eq!(decide(&req("iam:ListUsers", ALICE), &[&get]), Decision::Allow);
    assert_eq!(decide(&req("iam:DeleteUser", ALICE), &[&get]), Decision::ImplicitDeny);
    // Resources are case-sensitive.
    assert_eq!(decide(&req("iam:GetUser", "arn:aws:iam::123456789012:USER/alice"), &[&get]), Decision::ImplicitDeny);
    // `*`-only actions are matched only by `Resource: "*"` (§3.4).
    assert_eq!(decide(&req("iam:GetAccountSummary", "*"), &[&get]), Decision::ImplicitDeny);
    let all = p(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#);
    assert_eq!(decide(&req("s3:ListAllMyBuckets", "*"), &[&all]), Decision::Allow);
}

#[test]
fn service_names_are_compared_before_patterns() {
    // Patterns naming other services never match; wildcards in the service part still do.
    let other = p(r#"{"Effect":"Allow","Action":["S3:Get*","ec2:*"],"Resource":"*"}"#);
    assert_eq!(decide(&req("iam:GetUser", "*"), &[&other]), Decision::ImplicitDeny);
    assert_eq!(decide(&req("s3:getobject", "*"), &[&other]), Decision::Allow);
    let wild = p(r#"{"Effect":"Allow","Action":["i?m:Get*","*:ListUsers"],"Resource":"*"}"#);
    assert_eq!(decide(&req("iam:GetUser", "*"), &[&wild]), Decision::Allow);
    assert_eq!(decide(&req("iam:ListUsers", "*"), &[&wild]), Decision::Allow);
    // NotAction naming another service matches.
    let not = p(r#"{"Effect":"Allow","NotAction":"s3:*","Resource":"*"}"#);
    assert_eq!(decide(&req("iam:GetUser", "*"), &[&not]), Decision::Allow);
    assert_eq!(decide(&req("s3:GetObject", "*"), &[&not]), Decision::ImplicitDeny);
}

#[test]
fn not_action_and_not_resource() {
    // Allow + NotAction: everything but IAM; Deny + NotResource: deny all but one user.
    let pol = p(r#"{"Effect":"Allow","NotAction":"iam:*","Resource":"*"},
                  {"Effect":"Allow","Action":"iam:GetUser","NotResource":"arn:aws:iam::*:user/admin"}"#);
    assert_eq!(decide(&req("s3:GetObject", "arn:aws:s3:::b/k"), &[&pol]), Decision::Allow);
    assert_eq!(decide(&req("iam:CreateUser", ALICE), &[&pol]), Decision::ImplicitDeny);
    assert_eq!(decide(&req("iam:GetUser", ALICE), &[&pol]), Decision::Allow);
    assert_eq!(decide(&req("iam:GetUser", "arn:aws:iam::123456789012:user/admin"), &[&pol]), Decision::ImplicitDeny);
    // NotResource matches `*` unless it lists `*`.
    let nr = p(r#"{"Effect":"Allow","Action":"iam:ListUsers","NotResource":"arn:aws:iam::*:user/x"}"#);
    assert_eq!(decide(&req("iam:ListUsers", "*"), &[&nr]), Decision::Allow);
    let deny = p(r#"{"Effect":"Allow","Action":"*","Resource":"*"},
                   {"Effect":"Deny","Action":"iam:*","NotResource":["arn:aws:iam::*:user/${aws:username}"]}"#);
    assert_eq!(decide(&req("iam:GetUser", ALICE), &[&deny]), Decision::Allow);
    assert_eq!(decide(&req("iam:GetUser", "arn:aws:iam::123456789012:user/bob"), &[&deny]), Decision::ExplicitDeny);
}

#[test]
fn resource_variables() {
    let own = p(
        r#"{"Effect":"Allow","Action":"iam:*","Resource":["arn:aws:iam::*:user/${aws:username}","arn:aws:iam::*:user/*/${aws:username}"]}"#,
    );
    assert_eq!(decide(&req("iam:ChangePassword", ALICE), &[&own]), Decision::Allow);
    assert_eq!(
        decide(&req("iam:ChangePassword", "arn:aws:iam::123456789012:user/eng/alice"), &[&own]),
        Decision::Allow
    );
    assert_eq!(
        decide(&req("iam:ChangePassword", "arn:aws:iam::123456789012:user/bob"), &[&own]),
        Decision::ImplicitDeny
    );
    // No aws:username (a role session): the entries match nothing, even a user literally
    // named "${aws:username}".
    let role = Request::new("iam:ChangePassword", "arn:aws:iam::1:user/${aws:username}", RequestContext::new());
    assert_eq!(decide(&role, &[&own]), Decision::ImplicitDeny);
    // The substituted value's wildcards are literal.
    let star = Request::new("iam:GetUser", ALICE, RequestContext::new().with("aws:username", "*"));
    assert_eq!(decide(&star, &[&own]), Decision::ImplicitDeny);
    // Tags and defaults.
    let team =
        p(r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::home/${aws:PrincipalTag/team, 'shared'}/*"}"#);
    let ctx = RequestContext::new().with("aws:PrincipalTag/Team", "eng");
    assert!(evaluate(&Request::new("s3:GetObject", "arn:aws:s3:::home/eng/x", ctx), &[&team], None, &[]).is_allowed());
    let r = Request::new("s3:GetObject", "arn:aws:s3:::home/shared/x", RequestContext::new());
    assert!(evaluate(&r, &[&team], None, &[]).is_allowed());
    // `${*}` matches a literal star only.
    let lit = p(r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${*}"}"#);
    assert_eq!(decide(&req("s3:GetObject", "arn:aws:s3:::b/*"), &[&lit]), Decision::Allow);
    assert_eq!(decide(&req("s3:GetObject", "arn:aws:s3:::b/x"), &[&lit]), Decision::ImplicitDeny);
}

#[test]
fn boundary_and_session_intersection() {
    let allow_all = p(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#);
    let iam_only = p(r#"{"Effect":"Allow","Action":"iam:*","Resource":"*"}"#);
    let deny_delete = p(
        r#"{"Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"NoDelete","Effect":"Deny","Action":"iam:Delete*","Resource":"*"}"#,
    );
    let nothing = p(r#"{"Effect":"Allow","Action":"ec2:*","Resource":"*"}"#);
    let get = req("iam:GetUser", ALICE);
    let del = req("iam:DeleteUser", ALICE);
    let s3 = req("s3:GetObject", "arn:aws:s3:::b/k");

    // §3.3 worked combinations.
    let e = evaluate(&get, &[&allow_all], None, &[]);
    assert_eq!((e.decision, e.boundary_allowed), (Decision::Allow, None));
    let e = evaluate(&get, &[&allow_all], Some(&iam_only), &[]);
    assert_eq!((e.decision, e.boundary_allowed), (Decision::Allow, Some(true)));
    assert_eq!(e.matched.len(), 2);
    let e = evaluate(&s3, &[&allow_all], Some(&iam_only), &[]);
    assert_eq!(
        (e.decision, e.reason, e.boundary_allowed),
        (Decision::ImplicitDeny, Some(DenyReason::NoBoundaryAllow), Some(false))
    );
    assert_eq!(
        e.reason_text("s3:GetObject").unwrap(),
        "because no permissions boundary allows the s3:GetObject action"
    );
    let e = evaluate(&del, &[&allow_all], Some(&deny_delete), &[]);
    assert_eq!(e.reason, Some(DenyReason::ExplicitDeny(PolicySource::PermissionsBoundary)));
    assert_eq!(e.reason_text("iam:DeleteUser").unwrap(), "with an explicit deny in a permissions boundary");
    assert_eq!(e.matched[0].source, PolicySource::PermissionsBoundary);
    // A boundary never grants.
    let e = evaluate(&get, &[&nothing], Some(&allow_all), &[]);
    assert_eq!(e.reason, Some(DenyReason::NoIdentityAllow));
    assert_eq!(e.reason_text("iam:GetUser").unwrap(), "because no identity-based policy allows the iam:GetUser action");
    // Session policies narrow, never widen.
    let e = evaluate(&s3, &[&allow_all], None, &[&iam_only]);
    assert_eq!(e.reason, Some(DenyReason::NoSessionAllow));
    assert_eq!(e.reason_text("s3:GetObject").unwrap(), "because no session policy allows the s3:GetObject action");
    assert!(evaluate(&get, &[&allow_all], None, &[&nothing, &iam_only]).is_allowed());
    assert!(!evaluate(&get, &[&nothing], None, &[&allow_all]).is_allowed());
    let e = evaluate(&del, &[&allow_all], None, &[&deny_delete]);
    assert_eq!(e.reason_text("iam:DeleteUser").unwrap(), "with an explicit deny in a session policy");
    // Explicit deny anywhere wins; matched lists only the deny.
    let e = evaluate(&del, &[&allow_all, &deny_delete], Some(&allow_all), &[&allow_all]);
    assert_eq!(e.decision, Decision::ExplicitDeny);
    assert_eq!(e.reason, Some(DenyReason::ExplicitDeny(PolicySource::Identity)));
    assert_eq!(e.matched.len(), 1);
    assert_eq!((e.matched[0].policy, e.matched[0].statement), (1, 1));
    assert_eq!(Decision::ExplicitDeny.as_str(), "explicitDeny");
}

fn alice() -> Caller {
    Caller {
        principal_type: PrincipalType::User,
        account: "123456789012".into(),
        arn: ALICE.into(),
        principal_arn: ALICE.into(),
        user_id: "AIDAJ45Q7YFFAREXAMPLE".into(),
        username: Some("alice".into()),
        tags: vec![("team".into(), "eng".into())],
    }
}

fn session() -> Caller {
    Caller {
        principal_type: PrincipalType::AssumedRole,
        account: "123456789012".into(),
        arn: "arn:aws:sts::123456789012:assumed-role/Admin/sess".into(),
        principal_arn: "arn:aws:iam::123456789012:role/ops/Admin".into(),
        user_id: "AROAIDPPEZS35WEXAMPLE:sess".into(),
        username: None,
        tags: vec![],
    }
}

fn trust(principal: &str, extra: &str) -> Policy {
    Policy::parse(
        &format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{principal},"Action":"sts:AssumeRole"{extra}}}]}}"#),
        PolicyKind::Trust,
    )
    .unwrap()
}

fn assume(caller: &Caller, ctx: RequestContext) -> Request {
    let mut ctx = ctx;
    caller.fill_context(&mut ctx);
    Request::new("sts:AssumeRole", "arn:aws:iam::123456789012:role/Target", ctx)
}

#[test]
fn trust_principals() {
    let r = assume(&alice(), RequestContext::new());
    let cases: &[(&str, Caller, Option<PrincipalMatch>)] = &[
        (r#""*""#, alice(), Some(PrincipalMatch::Direct)),
        (r#"{"AWS":"*"}"#, alice(), Some(PrincipalMatch::Direct)),
        (r#"{"AWS":"123456789012"}"#, alice(), Some(PrincipalMatch::Account)),
        (r#"{"AWS":"arn:aws:iam::123456789012:root"}"#, session(), Some(PrincipalMatch::Account)),
        (r#"{"AWS":"arn:aws:iam::999999999999:root"}"#, alice(), None),
        (r#"{"AWS":"arn:aws:iam::123456789012:user/alice"}"#, alice(), Some(PrincipalMatch::Direct)),
        (r#"{"AWS":"arn:aws:iam::123456789012:user/bob"}"#, alice(), None),
        (r#"{"AWS":"arn:aws:iam::123456789012:role/ops/Admin"}"#, session(), Some(PrincipalMatch::Direct)),
        (r#"{"AWS":"arn:aws:sts::123456789012:assumed-role/Admin/sess"}"#, session(), Some(PrincipalMatch::Direct)),
        (r#"{"AWS":"arn:aws:sts::123456789012:assumed-role/Admin/other"}"#, session(), None),
        (r#"{"AWS":"AIDAJ45Q7YFFAREXAMPLE"}"#, alice(), Some(PrincipalMatch::Direct)),
        (r#"{"AWS":"AROAIDPPEZS35WEXAMPLE"}"#, session(), Some(PrincipalMatch::Direct)),
        (r#"{"Service":"ec2.amazonaws.com"}"#, alice(), None),
    ];
    for (principal, caller, want) in cases {
        let t = trust(principal, "");
        let e = evaluate_trust(&t, caller, &r);
        assert_eq!(e.principal, *want, "{principal} for {}", caller.arn);
        assert_eq!(e.decision == Decision::Allow, want.is_some());
    }
}

#[test]
fn assume_role_combinations() {
    let none: &[&Policy] = &[];
    let allow_assume = p(r#"{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}"#);
    let deny_assume = p(r#"{"Effect":"Deny","Action":"sts:*","Resource":"*"}"#);
    let r = assume(&alice(), RequestContext::new());
    // Named directly: no identity allow needed.
    let direct = trust(r#"{"AWS":"arn:aws:iam::123456789012:user/alice"}"#, "");
    let e = evaluate_assume_role(&r, &alice(), &direct, none, None, &[]);
    assert!(e.is_allowed());
    assert_eq!(e.matched[0].source, PolicySource::Trust);
    // Named by account: identity must allow too.
    let account = trust(r#"{"AWS":"123456789012"}"#, "");
    assert_eq!(evaluate_assume_role(&r, &alice(), &account, none, None, &[]).decision, Decision::ImplicitDeny);
    assert!(evaluate_assume_role(&r, &alice(), &account, &[&allow_assume], None, &[]).is_allowed());
    // Explicit deny in the caller's policy wins over a direct trust.
    let e = evaluate_assume_role(&r, &alice(), &direct, &[&deny_assume], None, &[]);
    assert_eq!(e.decision, Decision::ExplicitDeny);
    // Not trusted at all: no reason suffix (STS's wording).
    let other = trust(r#"{"AWS":"arn:aws:iam::123456789012:user/bob"}"#, "");
    let e = evaluate_assume_role(&r, &alice(), &other, &[&allow_assume], None, &[]);
    assert_eq!((e.decision, e.reason), (Decision::ImplicitDeny, Some(DenyReason::NoTrustAllow)));
    assert_eq!(e.reason_text("sts:AssumeRole"), None);
    // Trust conditions see the caller's context: MFA-required trust.
    let mfa = trust(r#"{"AWS":"123456789012"}"#, r#","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}"#);
    assert!(!evaluate_assume_role(&r, &alice(), &mfa, &[&allow_assume], None, &[]).is_allowed());
    let with_mfa = assume(&alice(), RequestContext::new().with("aws:MultiFactorAuthPresent", true));
    assert!(evaluate_assume_role(&with_mfa, &alice(), &mfa, &[&allow_assume], None, &[]).is_allowed());
    // A Deny in the trust policy.
    let t = Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"},
            {"Effect":"Deny","Principal":{"AWS":"*"},"Action":"sts:AssumeRole","Condition":{"StringNotEquals":{"sts:ExternalId":"x"}}}]}"#,
        PolicyKind::Trust,
    )
    .unwrap();
    let e = evaluate_assume_role(&r, &alice(), &t, none, None, &[]);
    assert_eq!(e.reason, Some(DenyReason::ExplicitDeny(PolicySource::Trust)));
    let mut ok = r.clone();
    ok.context_mut().insert("sts:ExternalId", "x");
    assert!(evaluate_assume_role(&ok, &alice(), &t, none, None, &[]).is_allowed());
}

#[test]
fn caller_fills_principal_keys() {
    let mut ctx = RequestContext::new();
    alice().fill_context(&mut ctx);
    assert_eq!(ctx.get("aws:username"), Some(&"alice".into()));
    assert_eq!(ctx.get("aws:PrincipalType"), Some(&"User".into()));
    assert_eq!(ctx.get("aws:principaltag/TEAM"), Some(&"eng".into()));
    let mut ctx = RequestContext::new();
    session().fill_context(&mut ctx);
    assert_eq!(ctx.get("aws:username"), None);
    assert_eq!(ctx.get("aws:PrincipalArn"), Some(&"arn:aws:iam::123456789012:role/ops/Admin".into()));
}

#[test]
fn context_keys_of_policies() {
    let a = p(r#"{"Effect":"Allow","Action":"iam:*","Resource":"arn:aws:iam::*:user/${aws:username}",
                "Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"},"StringEquals":{"aws:ResourceTag/team":"${aws:PrincipalTag/team}"}}},
               {"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"NumericGreaterThan":{"AWS:MultiFactorAuthAge":"3600"}}}"#);
    let b =
        p(r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}"#);
    let keys = context_keys(&a);
    assert_eq!(keys.len(), 5, "{keys:?}");
    for k in [
        "aws:username",
        "aws:MultiFactorAuthPresent",
        "aws:ResourceTag/team",
        "aws:PrincipalTag/team",
        "AWS:MultiFactorAuthAge",
    ] {
        assert!(keys.contains(&k.to_string()), "{k} in {keys:?}");
    }
    assert_eq!(context_keys_of(&[&a, &b, &a]).len(), 6);
    // Legacy documents have no variables, so no variable keys.
    let legacy = Policy::parse(
        r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:iam::*:user/${aws:username}"}}"#,
        PolicyKind::Identity,
    )
    .unwrap();
    assert!(context_keys(&legacy).is_empty());
    // Missing values: only statements for the action, only keys the context lacks.
    let r = req("iam:GetUser", ALICE);
    let missing = missing_context_keys(&r, &[&a, &b]);
    assert_eq!(missing.len(), 4, "{missing:?}");
    assert!(!missing.iter().any(|k| k == "aws:username" || k.eq_ignore_ascii_case("aws:MultiFactorAuthAge")));
}
