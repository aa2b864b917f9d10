//! `iamd-policy` on arbitrary documents and requests.

use arbitrary::{Arbitrary, Unstructured};
use iamd_policy::{
    Caller, ContextValue, Decision, Effect, Evaluation, Policy, PolicyKind, PrincipalType, Request, RequestContext,
};
use serde_json::{Value as Json, json};

const ACCOUNT: &str = "123456789012";

/// `policy_parse`: the bytes as an identity, trust and boundary/session policy. A document that
/// parses is layout-independent (re-serialised compactly and pretty-printed it parses to the
/// same statements and decides every request the same), its statement spans point at its
/// braces, and evaluating it never panics.
pub fn check_document(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = iamd_policy::policy_size(text);
    let _ = iamd_policy::is_valid_policy_charset(text);
    let _ = Policy::parse_managed(text);
    for kind in [PolicyKind::Identity, PolicyKind::Trust, PolicyKind::SessionOrBoundary] {
        let policy = match Policy::parse(text, kind) {
            Ok(p) => p,
            Err(e) => {
                assert!(!e.message.is_empty());
                continue;
            }
        };
        check_spans(text, &policy);
        let json: Json = serde_json::from_str(text).expect("a parsed policy is JSON");
        for layout in [serde_json::to_string(&json), serde_json::to_string_pretty(&json)] {
            let layout = layout.expect("JSON values serialise");
            let again = Policy::parse(&layout, kind)
                .unwrap_or_else(|e| panic!("{text:?} parsed, its re-serialisation {layout:?} did not: {e}"));
            assert_same_statements(&policy, &again);
            for request in fixed_requests() {
                assert_eq!(decide(&request, &policy), decide(&request, &again), "{text:?} vs {layout:?}");
            }
        }
        let _ = iamd_policy::context_keys(&policy);
        for request in fixed_requests() {
            let _ = iamd_policy::missing_context_keys(&request, &[&policy]);
        }
    }
}

/// Identity, boundary and session use of `policy` (trust policies: the trust and AssumeRole
/// evaluations) for one request, each checked for consistency.
fn decide(request: &Request, policy: &Policy) -> Vec<Decision> {
    let mut out = Vec::new();
    match policy.kind() {
        PolicyKind::Trust => {
            for caller in callers() {
                let trust = iamd_policy::evaluate_trust(policy, &caller, request);
                out.push(trust.decision);
                let own = iamd_policy::evaluate_assume_role(request, &caller, policy, &[], None, &[]);
                check_evaluation(&own);
                out.push(own.decision);
            }
        }
        _ => {
            for e in [
                iamd_policy::evaluate(request, &[policy], None, &[]),
                iamd_policy::evaluate(request, &[policy], Some(policy), &[]),
                iamd_policy::evaluate(request, &[policy], None, &[policy]),
            ] {
                check_evaluation(&e);
                let _ = e.reason_text(request.action());
                out.push(e.decision);
            }
        }
    }
    out
}

/// What every evaluation promises: the reason is there exactly when denied, and the matched
/// statements are the deciding ones.
fn check_evaluation(e: &Evaluation) {
    assert_eq!(e.reason.is_none(), e.decision == Decision::Allow, "{e:?}");
    match e.decision {
        Decision::Allow => {
            assert!(e.matched.iter().all(|m| m.effect == Effect::Allow) && !e.matched.is_empty(), "{e:?}")
        }
        Decision::ExplicitDeny => assert!(e.matched.iter().any(|m| m.effect == Effect::Deny), "{e:?}"),
        Decision::ImplicitDeny => assert!(e.matched.is_empty(), "{e:?}"),
    }
}

fn assert_same_statements(a: &Policy, b: &Policy) {
    assert_eq!((a.version(), a.kind(), a.statements().len()), (b.version(), b.kind(), b.statements().len()));
    for (x, y) in a.statements().iter().zip(b.statements()) {
        assert_eq!(x.sid(), y.sid());
        assert_eq!(x.effect(), y.effect());
        assert_eq!(x.actions(), y.actions());
        assert_eq!(x.resources(), y.resources());
        assert_eq!(x.principals(), y.principals());
        assert_eq!(x.conditions(), y.conditions());
    }
}

/// A statement's span, when it has one, starts at a `{` and ends at a `}` of the text.
fn check_spans(text: &str, policy: &Policy) {
    let lines: Vec<Vec<char>> = text.split('\n').map(|l| l.chars().collect()).collect();
    let at =
        |p: iamd_policy::Position| lines.get(p.line as usize - 1).and_then(|l| l.get(p.column as usize - 1)).copied();
    for s in policy.statements() {
        if let Some(span) = s.span() {
            assert_eq!(at(span.start), Some('{'), "{span:?} in {text:?}");
            assert_eq!(at(span.end), Some('}'), "{span:?} in {text:?}");
            assert!((span.start.line, span.start.column) < (span.end.line, span.end.column), "{span:?}");
        }
    }
}

fn callers() -> [Caller; 3] {
    [
        Caller {
            principal_type: PrincipalType::User,
            account: ACCOUNT.into(),
            arn: format!("arn:aws:iam::{ACCOUNT}:user/alice"),
            principal_arn: format!("arn:aws:iam::{ACCOUNT}:user/alice"),
            user_id: "AIDAEXAMPLEALICE0001".into(),
            username: Some("alice".into()),
            tags: vec![("team".into(), "mfa".into())],
        },
        Caller {
            principal_type: PrincipalType::AssumedRole,
            account: ACCOUNT.into(),
            arn: format!("arn:aws:sts::{ACCOUNT}:assumed-role/Admin/s"),
            principal_arn: format!("arn:aws:iam::{ACCOUNT}:role/Admin"),
            user_id: "AROAEXAMPLEADMIN0001:s".into(),
            username: None,
            tags: Vec::new(),
        },
        Caller {
            principal_type: PrincipalType::Root,
            account: ACCOUNT.into(),
            arn: format!("arn:aws:iam::{ACCOUNT}:root"),
            principal_arn: format!("arn:aws:iam::{ACCOUNT}:root"),
            user_id: ACCOUNT.into(),
            username: None,
            tags: Vec::new(),
        },
    ]
}

/// Requests like the server's: alice with and without MFA, on her device, on others, on `*`.
fn fixed_requests() -> Vec<Request> {
    let now = time::OffsetDateTime::from_unix_timestamp(1_767_323_045).expect("a valid time");
    let mut out = Vec::new();
    for (action, resource) in [
        ("iam:DeactivateMFADevice", "arn:aws:iam::123456789012:mfa/alice"),
        ("iam:CreateVirtualMFADevice", "arn:aws:iam::123456789012:mfa/bob"),
        ("iam:ListUsers", "*"),
        ("sts:AssumeRole", "arn:aws:iam::123456789012:role/Admin"),
    ] {
        for mfa in [None, Some(false), Some(true)] {
            let mut ctx = RequestContext::new()
                .with("aws:CurrentTime", now)
                .with("aws:EpochTime", now.unix_timestamp())
                .with("aws:SourceIp", std::net::IpAddr::from([10, 0, 0, 1]))
                .with("aws:SecureTransport", false)
                .with("aws:TagKeys", vec!["team".to_owned(), "cost".to_owned()])
                .with("aws:RequestTag/team", "mfa");
            callers()[0].fill_context(&mut ctx);
            if let Some(mfa) = mfa {
                ctx.insert("aws:MultiFactorAuthPresent", mfa);
                if mfa {
                    ctx.insert("aws:MultiFactorAuthAge", 120i64);
                }
            }
            out.push(Request::new(action, resource, ctx));
        }
    }
    out
}

/// A word from a fixed vocabulary (so the fuzzer reaches matches quickly) or any text.
#[derive(Debug)]
pub enum Word {
    Known(usize),
    Free(String),
}

impl<'a> Arbitrary<'a> for Word {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(if u.ratio(7, 8)? { Word::Known(u.arbitrary()?) } else { Word::Free(u.arbitrary()?) })
    }
}

impl Word {
    fn pick(&self, vocabulary: &[&str]) -> String {
        match self {
            Word::Known(i) => vocabulary[i % vocabulary.len()].to_owned(),
            Word::Free(s) => s.clone(),
        }
    }
}

const ACTIONS: &[&str] = &[
    "*",
    "iam:*",
    "iam:GetUser",
    "iam:Get*",
    "IAM:deactivatemfadevice",
    "iam:*MFADevice",
    "iam:??tUser",
    "sts:AssumeRole",
    "sts:*",
    "s3:GetObject",
    "*:Get*",
];
const RESOURCES: &[&str] = &[
    "*",
    "arn:aws:iam::123456789012:user/alice",
    "arn:aws:iam::*:user/${aws:username}",
    "arn:aws:iam::123456789012:mfa/${aws:username}",
    "arn:aws:iam::123456789012:mfa/*",
    "arn:aws:iam::123456789012:*",
    "arn:*:iam::*:role/Adm?n",
    "arn:aws:iam::123456789012:user/${aws:PrincipalTag/team}-${*}${?}${$}",
    "arn:aws:iam::123456789012:user/path/*/alice",
];
const OPERATORS: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Null",
];
const KEYS: &[&str] = &[
    "aws:MultiFactorAuthPresent",
    "aws:MultiFactorAuthAge",
    "aws:username",
    "aws:SourceIp",
    "aws:CurrentTime",
    "aws:EpochTime",
    "aws:RequestTag/team",
    "aws:TagKeys",
    "aws:PrincipalArn",
    "aws:SecureTransport",
    "iam:ResourceTag/${aws:username}",
    "aws:binary",
];
const VALUES: &[&str] = &[
    "true",
    "false",
    "TRUE",
    "3600",
    "-1.5e3",
    "1e999",
    "2026-01-01T00:00:00Z",
    "2026-01-01",
    "1767323045",
    "10.0.0.0/8",
    "10.0.0.1",
    "::1/128",
    "2001:db8::/129",
    "alice",
    "ALICE",
    "${aws:username}",
    "${aws:username}*",
    "arn:aws:iam::123456789012:user/*",
    "arn:aws:iam::*:role/Adm?n",
    "*",
    "?",
    "YWJj",
    "team",
    "",
];
const CONTEXT_TYPES: &[&str] = &[
    "string",
    "stringList",
    "numeric",
    "numericList",
    "boolean",
    "booleanList",
    "ip",
    "ipList",
    "binary",
    "binaryList",
    "date",
    "dateList",
];
const REQUEST_ACTIONS: &[&str] =
    &["iam:GetUser", "iam:DeactivateMFADevice", "iam:ListUsers", "sts:AssumeRole", "s3:GetObject", "IAM:GETUSER"];
const REQUEST_RESOURCES: &[&str] = &[
    "*",
    "arn:aws:iam::123456789012:user/alice",
    "arn:aws:iam::123456789012:mfa/alice",
    "arn:aws:iam::123456789012:role/Admin",
    "arn:aws:iam::123456789012:user/path/to/alice",
    "arn:aws:iam::123456789012:user/mfa-",
];

#[derive(Debug, Arbitrary)]
pub struct ConditionInput {
    qualifier: u8,
    operator: u8,
    if_exists: bool,
    key: Word,
    values: Vec<Word>,
}

#[derive(Debug, Arbitrary)]
pub struct StatementInput {
    deny: bool,
    not_action: bool,
    actions: Vec<Word>,
    not_resource: bool,
    resources: Vec<Word>,
    conditions: Vec<ConditionInput>,
}

#[derive(Debug, Arbitrary)]
pub struct ContextEntry {
    key: Word,
    kind: u8,
    values: Vec<Word>,
}

/// `policy_evaluate`'s input: policies built from these, a request and its context.
#[derive(Debug, Arbitrary)]
pub struct EvaluateInput {
    version: u8,
    identity: Vec<StatementInput>,
    boundary: Vec<StatementInput>,
    session: Vec<StatementInput>,
    action: Word,
    resource: Word,
    context: Vec<ContextEntry>,
}

fn statement_json(s: &StatementInput) -> Json {
    let mut st = serde_json::Map::new();
    st.insert("Effect".into(), json!(if s.deny { "Deny" } else { "Allow" }));
    let actions: Vec<String> = s.actions.iter().take(4).map(|w| w.pick(ACTIONS)).collect();
    st.insert(if s.not_action { "NotAction" } else { "Action" }.into(), json!(actions));
    let resources: Vec<String> = s.resources.iter().take(4).map(|w| w.pick(RESOURCES)).collect();
    st.insert(if s.not_resource { "NotResource" } else { "Resource" }.into(), json!(resources));
    let mut block = serde_json::Map::new();
    for c in s.conditions.iter().take(4) {
        let base = OPERATORS[usize::from(c.operator) % OPERATORS.len()];
        let qualifier = ["", "", "ForAllValues:", "ForAnyValue:"][usize::from(c.qualifier % 4)];
        let op = format!("{qualifier}{base}{}", if c.if_exists { "IfExists" } else { "" });
        let values: Vec<String> = c.values.iter().take(4).map(|w| w.pick(VALUES)).collect();
        let entry = block.entry(op).or_insert_with(|| json!({}));
        entry[c.key.pick(KEYS)] = json!(values);
    }
    if !block.is_empty() {
        st.insert("Condition".into(), Json::Object(block));
    }
    Json::Object(st)
}

fn document(version: u8, statements: &[StatementInput]) -> Option<String> {
    if statements.is_empty() {
        return None;
    }
    let statements: Vec<Json> = statements.iter().take(4).map(statement_json).collect();
    let doc = match version % 3 {
        0 => json!({"Version": "2012-10-17", "Statement": statements}),
        1 => json!({"Version": "2008-10-17", "Statement": statements}),
        _ => json!({"Statement": statements}),
    };
    Some(doc.to_string())
}

/// `policy_evaluate`: policies built from the input, a request whose context comes through the
/// simulator's typed wire form. The layers combine as AWS documents: a boundary or session
/// policy only narrows (allowed with it ⇔ allowed by the identity policies and by it alone), an
/// explicit deny wins over any allow, `Action`/`NotAction` (and `Resource`/`NotResource` without
/// variables) split every request in two.
pub fn check_evaluation_input(input: &EvaluateInput) {
    let parse = |statements: &[StatementInput], kind| {
        document(input.version, statements).and_then(|text| Policy::parse(&text, kind).ok())
    };
    let Some(identity) = parse(&input.identity, PolicyKind::Identity) else { return };
    let boundary = parse(&input.boundary, PolicyKind::SessionOrBoundary);
    let session = parse(&input.session, PolicyKind::SessionOrBoundary);

    let mut ctx = RequestContext::new();
    for entry in input.context.iter().take(8) {
        let kind = CONTEXT_TYPES[usize::from(entry.kind) % CONTEXT_TYPES.len()];
        let values: Vec<String> = entry.values.iter().take(4).map(|w| w.pick(VALUES)).collect();
        if let Ok(value) = ContextValue::from_typed(kind, &values) {
            ctx.insert(&entry.key.pick(KEYS), value);
        }
    }
    let request = Request::new(&input.action.pick(REQUEST_ACTIONS), &input.resource.pick(REQUEST_RESOURCES), ctx);

    let alone = iamd_policy::evaluate(&request, &[&identity], None, &[]);
    check_evaluation(&alone);
    if let Some(b) = &boundary {
        let with = iamd_policy::evaluate(&request, &[&identity], Some(b), &[]);
        check_evaluation(&with);
        let b_alone = iamd_policy::evaluate(&request, &[b], None, &[]);
        assert_eq!(with.is_allowed(), alone.is_allowed() && b_alone.is_allowed(), "boundary: {with:?}");
        assert_eq!(with.boundary_allowed, Some(b_alone.is_allowed()));
    }
    if let Some(s) = &session {
        let with = iamd_policy::evaluate(&request, &[&identity], None, &[s]);
        check_evaluation(&with);
        let s_alone = iamd_policy::evaluate(&request, &[s], None, &[]);
        assert_eq!(with.is_allowed(), alone.is_allowed() && s_alone.is_allowed(), "session: {with:?}");
    }
    if alone.decision == Decision::ExplicitDeny {
        let allow_all =
            Policy::parse(r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#, PolicyKind::Identity)
                .expect("a valid policy");
        let both = iamd_policy::evaluate(&request, &[&allow_all, &identity], None, &[]);
        assert_eq!(both.decision, Decision::ExplicitDeny, "an explicit deny wins over an allow");
    }
    let _ = iamd_policy::missing_context_keys(&request, &[&identity]);

    // Statements skip patterns of other services by a shortcut; it must agree with matching
    // every pattern (case-insensitively, as IAM matches actions).
    let action_lower = request.action().to_ascii_lowercase();
    for s in identity.statements() {
        let (actions, not_action) = s.actions();
        let doc = json!({"Statement": {"Effect": "Allow", (if not_action { "NotAction" } else { "Action" }): actions, "Resource": "*"}});
        let only_actions = Policy::parse(&doc.to_string(), PolicyKind::Identity).expect("the same actions parse again");
        let by_glob =
            actions.iter().any(|a| iamd_policy::wildcard_match(&a.to_ascii_lowercase(), &action_lower)) != not_action;
        assert_eq!(request.matches(&only_actions.statements()[0]), by_glob, "{actions:?} on {action_lower}");
    }
}
