//! Properties of the decision procedure over random statements and requests.

use iamd_policy::{Decision, Policy, PolicyKind, Request, RequestContext, evaluate};
use proptest::prelude::*;

const ACTIONS: &[&str] = &["*", "iam:*", "iam:Get*", "iam:GetUser", "iam:*User", "s3:*", "iam:List?sers"];
const RESOURCES: &[&str] = &[
    "*",
    "arn:aws:iam::*:user/*",
    "arn:aws:iam::*:user/${aws:username}",
    "arn:aws:iam::123456789012:user/bob",
    "arn:aws:s3:::b/*",
];
const CONDITIONS: &[&str] = &[
    "",
    r#","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}"#,
    r#","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}"#,
    r#","Condition":{"StringNotEquals":{"aws:username":"bob"}}"#,
    r#","Condition":{"ForAnyValue:StringEquals":{"aws:TagKeys":["a","b"]}}"#,
    r#","Condition":{"Null":{"aws:username":"true"}}"#,
];

fn statement() -> impl Strategy<Value = String> {
    (any::<bool>(), any::<bool>(), 0..ACTIONS.len(), any::<bool>(), 0..RESOURCES.len(), 0..CONDITIONS.len()).prop_map(
        |(allow, not_action, a, not_resource, r, c)| {
            format!(
                r#"{{"Effect":"{}","{}":"{}","{}":"{}"{}}}"#,
                if allow { "Allow" } else { "Deny" },
                if not_action { "NotAction" } else { "Action" },
                ACTIONS[a],
                if not_resource { "NotResource" } else { "Resource" },
                RESOURCES[r],
                CONDITIONS[c]
            )
        },
    )
}

fn policy(statements: &[String]) -> Policy {
    let json = format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, statements.join(","));
    Policy::parse(&json, PolicyKind::Identity).unwrap()
}

fn request() -> impl Strategy<Value = Request> {
    let actions = prop::sample::select(vec!["iam:GetUser", "iam:ListUsers", "iam:DeleteUser", "s3:GetObject"]);
    let resources = prop::sample::select(vec![
        "arn:aws:iam::123456789012:user/alice",
        "arn:aws:iam::123456789012:user/bob",
        "arn:aws:s3:::b/k",
        "*",
    ]);
    (actions, resources, prop::option::of(any::<bool>()), prop::option::of("alice|bob"), any::<bool>()).prop_map(
        |(a, r, mfa, user, tags)| {
            let mut ctx = RequestContext::new();
            if let Some(m) = mfa {
                ctx.insert("aws:MultiFactorAuthPresent", m);
            }
            if let Some(u) = user {
                ctx.insert("aws:username", u);
            }
            if tags {
                ctx.insert("aws:TagKeys", vec!["b".to_string(), "c".to_string()]);
            }
            Request::new(a, r, ctx)
        },
    )
}

fn layers() -> impl Strategy<Value = (Vec<String>, Option<Vec<String>>, Vec<Vec<String>>)> {
    (
        prop::collection::vec(statement(), 1..6),
        prop::option::of(prop::collection::vec(statement(), 1..4)),
        prop::collection::vec(prop::collection::vec(statement(), 1..3), 0..2),
    )
}

fn run(req: &Request, identity: &[String], boundary: &Option<Vec<String>>, session: &[Vec<String>]) -> Decision {
    let id = policy(identity);
    let b = boundary.as_ref().map(|b| policy(b));
    let s: Vec<Policy> = session.iter().map(|s| policy(s)).collect();
    let s: Vec<&Policy> = s.iter().collect();
    evaluate(req, &[&id], b.as_ref(), &s).decision
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn an_explicit_deny_always_wins(req in request(), (identity, boundary, session) in layers()) {
        let decision = run(&req, &identity, &boundary, &session);
        // Does some Deny statement, on its own, match the request?
        let all = identity.iter().chain(boundary.iter().flatten()).chain(session.iter().flatten());
        let some_deny = all
            .filter(|s| s.contains("\"Deny\""))
            .any(|s| evaluate(&req, &[&policy(std::slice::from_ref(s))], None, &[]).decision == Decision::ExplicitDeny);
        prop_assert_eq!(decision == Decision::ExplicitDeny, some_deny);
    }

    #[test]
    fn adding_an_allow_never_turns_allow_into_deny(
        req in request(), (identity, boundary, session) in layers(), extra in statement()
    ) {
        let extra = extra.replace("\"Deny\"", "\"Allow\"");
        if run(&req, &identity, &boundary, &session) == Decision::Allow {
            let mut more = identity.clone();
            more.push(extra);
            prop_assert_eq!(run(&req, &more, &boundary, &session), Decision::Allow);
        }
    }

    #[test]
    fn adding_a_deny_never_turns_deny_into_allow(
        req in request(), (identity, boundary, session) in layers(), extra in statement(), layer in 0..3usize
    ) {
        let extra = extra.replace("\"Allow\"", "\"Deny\"");
        if run(&req, &identity, &boundary, &session) != Decision::Allow {
            let (mut i, mut b, mut s) = (identity.clone(), boundary.clone(), session.clone());
            match layer {
                0 => i.push(extra),
                1 => if let Some(b) = b.as_mut() { b.push(extra) } else { i.push(extra) },
                _ => if let Some(s) = s.first_mut() { s.push(extra) } else { i.push(extra) },
            }
            prop_assert_ne!(run(&req, &i, &b, &s), Decision::Allow);
        }
    }

    #[test]
    fn decision_does_not_depend_on_statement_order(req in request(), (identity, boundary, session) in layers()) {
        let mut reversed = identity.clone();
        reversed.reverse();
        prop_assert_eq!(run(&req, &identity, &boundary, &session), run(&req, &reversed, &boundary, &session));
    }
}
