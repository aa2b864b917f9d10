//! The canonical MFA policies of spec §8, verbatim, against the outcome matrices of §8.3/§8.4.
//! Columns: long-term access key (`aws:MultiFactorAuthPresent` absent), temporary credentials
//! without MFA (`false`), with MFA (`true`). The "GST session, no MFA" column of §8.3 is refused
//! before policy evaluation (§3.7), so the `false` column here is §8.3's "console, no MFA".

use iamd_policy::{Decision, Policy, PolicyKind, Request, RequestContext, evaluate};

const ACCT: &str = "123456789012";

#[derive(Clone, Copy, Debug)]
enum Mfa {
    Absent,
    False,
    True,
}

const COLUMNS: [Mfa; 3] = [Mfa::Absent, Mfa::False, Mfa::True];

fn ctx(mfa: Mfa) -> RequestContext {
    let ctx = RequestContext::new().with("aws:username", "alice").with("aws:userid", "AIDAJ45Q7YFFAREXAMPLE");
    match mfa {
        Mfa::Absent => ctx,
        Mfa::False => ctx.with("aws:MultiFactorAuthPresent", false),
        Mfa::True => ctx.with("aws:MultiFactorAuthPresent", true).with("aws:MultiFactorAuthAge", 600i64),
    }
}

fn user(name: &str) -> String {
    format!("arn:aws:iam::{ACCT}:user/{name}")
}

fn mfa(name: &str) -> String {
    format!("arn:aws:iam::{ACCT}:mfa/{name}")
}

use Decision::{Allow as A, ExplicitDeny as D, ImplicitDeny as I};

fn check(policies: &[&Policy], rows: &[(&str, String, [Decision; 3])]) {
    for (action, resource, want) in rows {
        for (col, mfa) in COLUMNS.iter().enumerate() {
            let req = Request::new(action, resource, ctx(*mfa));
            let got = evaluate(&req, policies, None, &[]).decision;
            assert_eq!(got, want[col], "{action} on {resource} with MFA {mfa:?}");
        }
    }
}

fn fixture(name: &str) -> Policy {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    Policy::parse(&std::fs::read_to_string(path).unwrap(), PolicyKind::Identity).unwrap()
}

#[test]
fn self_manage_credentials_matrix_8_3() {
    let p = fixture("mfa_self_manage_credentials.json");
    let rows = [
        ("iam:GetUser", user("alice"), [A, A, A]),
        ("iam:CreateVirtualMFADevice", mfa("alice"), [A, A, A]),
        ("iam:EnableMFADevice", user("alice"), [A, A, A]),
        ("iam:ResyncMFADevice", user("alice"), [A, A, A]),
        ("iam:ListMFADevices", user("alice"), [A, A, A]),
        ("iam:ListVirtualMFADevices", "*".to_string(), [A, A, A]),
        ("iam:DeactivateMFADevice", user("alice"), [D, D, A]),
        ("iam:ChangePassword", user("alice"), [D, D, A]),
        ("iam:GetAccountPasswordPolicy", "*".to_string(), [D, D, A]),
        ("iam:CreateAccessKey", user("alice"), [D, D, A]),
        ("iam:DeleteAccessKey", user("alice"), [D, D, A]),
        ("iam:UpdateAccessKey", user("alice"), [D, D, A]),
        ("iam:ListAccessKeys", user("alice"), [D, D, A]),
        // Someone else: denied without MFA unless the action is in NotAction, never granted.
        ("iam:ListAccessKeys", user("bob"), [D, D, I]),
        ("iam:ChangePassword", user("bob"), [D, D, I]),
        ("iam:GetUser", user("bob"), [I, I, I]),
        ("iam:EnableMFADevice", user("bob"), [I, I, I]),
        ("iam:DeleteVirtualMFADevice", mfa("alice"), [D, D, I]),
        // Action names are case-insensitive.
        ("IAM:changepassword", user("alice"), [D, D, A]),
    ];
    check(&[&p], &rows);
}

#[test]
fn assume_role_row_of_8_3() {
    // "identity allow for it given elsewhere"
    let p = fixture("mfa_self_manage_credentials.json");
    let other = Policy::parse(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}}"#,
        PolicyKind::Identity,
    )
    .unwrap();
    let role = format!("arn:aws:iam::{ACCT}:role/Admin");
    check(&[&p, &other], &[("sts:AssumeRole", role, [D, D, A])]);
}

#[test]
fn self_manage_device_matrix_8_4() {
    let p = fixture("mfa_self_manage_device.json");
    let rows = [
        ("iam:CreateVirtualMFADevice", mfa("alice"), [A, A, A]),
        ("iam:EnableMFADevice", user("alice"), [A, A, A]),
        ("iam:ListMFADevices", user("alice"), [A, A, A]),
        ("iam:ResyncMFADevice", user("alice"), [A, A, A]),
        ("iam:ListUsers", "*".to_string(), [A, A, A]),
        ("iam:ListVirtualMFADevices", "*".to_string(), [A, A, A]),
        ("iam:GetUser", user("alice"), [D, D, I]),
        ("iam:DeactivateMFADevice", user("alice"), [D, D, A]),
        ("iam:ChangePassword", user("alice"), [D, D, I]),
        ("iam:EnableMFADevice", user("bob"), [I, I, I]),
        ("iam:DeactivateMFADevice", user("bob"), [D, D, I]),
    ];
    check(&[&p], &rows);
}

#[test]
fn deny_all_unless_mfa_8_5() {
    let p = fixture("deny_all_unless_mfa.json");
    let rows = [
        ("iam:GetUser", user("alice"), [A, A, A]),
        ("iam:ListMFADevices", user("alice"), [A, A, A]),
        ("iam:CreateUser", user("carol"), [D, D, A]),
        ("s3:ListAllMyBuckets", "*".to_string(), [D, D, A]),
    ];
    check(&[&p], &rows);
}

#[test]
fn matched_statement_is_the_deny_and_reason_names_it() {
    let p = fixture("mfa_self_manage_credentials.json");
    let req = Request::new("iam:ChangePassword", &user("alice"), ctx(Mfa::Absent));
    let e = evaluate(&req, &[&p], None, &[]);
    assert_eq!(e.matched.len(), 1);
    assert_eq!(p.statements()[e.matched[0].statement].sid(), Some("DenyAllExceptListedIfNoMFA"));
    assert_eq!(e.reason_text("iam:ChangePassword").unwrap(), "with an explicit deny in an identity-based policy");
    let req = Request::new("iam:ChangePassword", &user("alice"), ctx(Mfa::True));
    let e = evaluate(&req, &[&p], None, &[]);
    assert_eq!(p.statements()[e.matched[0].statement].sid(), Some("AllowManageOwnPasswords"));
}
