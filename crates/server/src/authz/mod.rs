//! Authorization: may this caller perform this action on this resource?
//!
//! One decision per request, taken by `ops::dispatch` before any handler runs, from data:
//! - [`requests`] says, for every operation (an exhaustive match, so a new operation cannot be
//!   forgotten), which IAM action it is, which resource ARN its input names, and the request
//!   context it contributes (condition keys such as `aws:RequestTag/…`);
//! - [`decide`] evaluates the caller's IAM policies (compiled with its credentials, see
//!   `auth`) against that request and the global condition keys (`aws:MultiFactorAuthPresent`,
//!   `aws:username`, `aws:CurrentTime`, …) with `iamd_policy`, AWS's evaluation logic: root may
//!   do anything in its account; otherwise an explicit deny wins, then an allow from an identity
//!   policy within the permissions boundary, else an implicit deny;
//! - [`authorize`] turns a deny into AWS's `AccessDenied` text, with AWS's reason.

mod requests;

pub use requests::{USERS_MAY_CHANGE_PASSWORD, request_for};

use std::net::IpAddr;

use iamd_domain::{ApiError, ErrorCode, ids};
use iamd_model::Action;
use iamd_policy::{ContextValue, PrincipalType, RequestContext};
use time::OffsetDateTime;

use crate::caller::{Caller, Permissions, Principal, SessionInfo};

/// What a request asks to do, as authorization sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub action: Action,
    /// The resource ARN the input names (`*` for account-wide actions).
    pub resource: String,
    /// How AWS names the resource in an `AccessDenied` message when that differs from
    /// `resource` (`arn:aws:iam::ACCOUNT:user/` for ListUsers, whose resource is `*`).
    pub shown_as: Option<String>,
    /// Condition keys the operation contributes, with their values.
    pub context: Context,
}

/// Request-specific condition keys and their values (`aws:TagKeys` → every key, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    entries: Vec<(String, Vec<String>)>,
}

impl Context {
    pub fn insert(&mut self, key: impl Into<String>, values: Vec<String>) {
        self.entries.push((key.into(), values));
    }

    /// The values of `key` (condition keys compare without regard to case, as on AWS).
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.entries.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_slice())
    }
}

/// Where and when the request was made: the global condition keys that do not come from the
/// caller or the operation.
#[derive(Debug, Clone, Copy)]
pub struct Circumstances<'a> {
    pub now: OffsetDateTime,
    /// The client's address as the audit trail writes it (parsed only when policies are evaluated).
    pub source: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Denied, with AWS's reason (`because no identity-based policy allows the … action`).
    Deny(String),
}

/// The decision for `caller` asking for `request`.
///
/// A decision is a function of the caller's policies, the caller (principal and session), the
/// request (action, resource, the keys the operation contributes) and the circumstances (time,
/// source address). The first two are fixed for as long as the compiled policies are (they are
/// cached together with the credentials), so the decision is remembered with the policies
/// (`Permissions::decisions`), keyed by the request and by whichever circumstances the policies
/// read: repeating a request costs a lookup instead of an evaluation. Policies that read the
/// time (`aws:CurrentTime`, `aws:EpochTime`, `aws:MultiFactorAuthAge`) key on it to the
/// nanosecond — in effect they are evaluated every time.
pub fn decide(caller: &Caller, request: &Request, at: Circumstances<'_>) -> Decision {
    if caller.is_root() {
        return Decision::Allow;
    }
    let memo = &caller.permissions.decisions;
    let inputs = *memo.inputs_read.get_or_init(|| inputs_read(&caller.permissions));
    let key = decision_key(caller, request, at, inputs);
    if let Some(taken) = memo.get(&key) {
        return taken.map_or(Decision::Allow, |reason| Decision::Deny(reason.into()));
    }
    let decision = evaluate(caller, request, at);
    memo.put(
        key,
        match &decision {
            Decision::Allow => None,
            Decision::Deny(reason) => Some(reason.as_str().into()),
        },
    );
    decision
}

/// `inputs_read` bits: the policies read the time, the source address.
const READS_TIME: u8 = 1;
const READS_SOURCE: u8 = 2;

/// Which of the inputs that change between requests of one caller `permissions` read.
fn inputs_read(permissions: &Permissions) -> u8 {
    let policies: Vec<&iamd_policy::Policy> =
        permissions.identity.iter().chain(&permissions.boundary).chain(&permissions.session).collect();
    let keys = iamd_policy::context_keys_of(&policies);
    let reads = |names: &[&str]| keys.iter().any(|k| names.iter().any(|n| k.eq_ignore_ascii_case(n)));
    let mut bits = 0;
    if reads(&["aws:CurrentTime", "aws:EpochTime", "aws:MultiFactorAuthAge"]) {
        bits |= READS_TIME;
    }
    if reads(&["aws:SourceIp"]) {
        bits |= READS_SOURCE;
    }
    bits
}

/// Everything a decision depends on besides the policies and the principal they were compiled
/// for, each part length-prefixed so that no two different requests share a key. The
/// credentials and the session are in it too, although they come with the policies: a caller
/// copied with another session (as AssumeRole's MFA check does) then cannot meet the original's
/// decisions.
fn decision_key(caller: &Caller, request: &Request, at: Circumstances<'_>, inputs: u8) -> Box<[u8]> {
    let mut key = Vec::with_capacity(160);
    let mut part = |bytes: &[u8]| {
        key.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        key.extend_from_slice(bytes);
    };
    part(caller.access_key_id.as_bytes());
    match caller.session {
        None => part(b""),
        Some(s) => {
            let mfa = s.mfa_authenticated_at.unwrap_or(i64::MIN);
            part(&[s.issued_at.to_le_bytes(), s.expires_at.to_le_bytes(), mfa.to_le_bytes()].concat());
        }
    }
    part(request.action.iam_action().as_bytes());
    part(request.resource.as_bytes());
    for (name, values) in &request.context.entries {
        part(name.as_bytes());
        part(&(values.len() as u32).to_le_bytes());
        for value in values {
            part(value.as_bytes());
        }
    }
    if inputs & READS_TIME != 0 {
        part(&at.now.unix_timestamp_nanos().to_le_bytes());
    }
    if inputs & READS_SOURCE != 0 {
        part(at.source.as_bytes());
    }
    key.into_boxed_slice()
}

/// Evaluates the caller's policies for `request` (what [`decide`] remembers).
fn evaluate(caller: &Caller, request: &Request, at: Circumstances<'_>) -> Decision {
    let Some(context) = policy_context(caller, request, at) else {
        return Decision::Allow;
    };
    let action = request.action.iam_action();
    let evaluated = iamd_policy::Request::new(action, &request.resource, context);
    let permissions = &caller.permissions;
    let identity: Vec<_> = permissions.identity.iter().collect();
    let session: Vec<_> = permissions.session.iter().collect();
    let outcome = iamd_policy::evaluate(&evaluated, &identity, permissions.boundary.as_ref(), &session);
    if outcome.is_allowed() || users_may_change_own_password(caller, request, &outcome) {
        return Decision::Allow;
    }
    Decision::Deny(outcome.reason_text(action).unwrap_or_default())
}

/// The caller as policies see it; `None` for root, which policies do not restrict.
fn policy_caller(caller: &Caller) -> Option<iamd_policy::Caller> {
    let (principal_type, principal_arn, username, tags) = match &caller.principal {
        Principal::Root => return None,
        Principal::User(user) => (
            PrincipalType::User,
            caller.arn(),
            Some(user.name.clone()),
            user.tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect(),
        ),
        // Role sessions are matched by the role's ARN (`aws:PrincipalArn`), without its path.
        Principal::AssumedRole(role) => (
            PrincipalType::AssumedRole,
            ids::role_arn(&caller.account_id, "/", &role.role_name),
            None,
            role.tags.clone(),
        ),
    };
    Some(iamd_policy::Caller {
        principal_type,
        account: caller.account_id.clone(),
        arn: caller.arn(),
        principal_arn,
        user_id: caller.user_id(),
        username,
        tags,
    })
}

/// Every condition key of `request` by `caller` (`None` for root): the principal's keys, the
/// session's MFA keys, time and source, and the operation's own keys.
fn policy_context(caller: &Caller, request: &Request, at: Circumstances<'_>) -> Option<RequestContext> {
    let principal = policy_caller(caller)?;
    let mut context = RequestContext::new();
    principal.fill_context(&mut context);
    // Present only for temporary credentials: absent for long-term keys, as on AWS.
    if let Some(session) = caller.session {
        if let Ok(issued) = OffsetDateTime::from_unix_timestamp(session.issued_at) {
            context.insert("aws:TokenIssueTime", issued);
        }
        context.insert("aws:MultiFactorAuthPresent", session.mfa_authenticated_at.is_some());
        if let Some(at_mfa) = session.mfa_authenticated_at {
            context.insert("aws:MultiFactorAuthAge", (at.now.unix_timestamp() - at_mfa).max(0));
        }
    }
    context.insert("aws:CurrentTime", at.now);
    context.insert("aws:EpochTime", at.now.unix_timestamp());
    if let Ok(ip) = at.source.parse::<IpAddr>() {
        context.insert("aws:SourceIp", ip);
    }
    for (key, values) in &request.context.entries {
        if key.starts_with("iamd:") {
            continue;
        }
        let value: ContextValue = if key.eq_ignore_ascii_case("aws:TagKeys") {
            values.clone().into()
        } else {
            values.first().cloned().unwrap_or_default().into()
        };
        context.insert(key, value);
    }
    Some(context)
}

/// `sts_action` (`sts:AssumeRole`, or `sts:TagSession` when the request passes session tags)
/// on a role whose trust policy is `trust` (spec: same-account rules): no explicit deny in the
/// caller's policies or the trust policy; the trust policy allows the caller; and when it names
/// only the caller's account, the caller's own policies allow the action too. `mfa_checked_at` is when the request's own MFA code was accepted: the caller then
/// counts as MFA-authenticated for this decision, even with long-term keys, as AWS documents.
/// Root may not assume roles. AWS's `AccessDenied` texts (without a reason, as STS gives them).
pub fn authorize_assume_role(
    caller: &Caller,
    trust: &iamd_policy::Policy,
    request: &Request,
    sts_action: &str,
    mfa_checked_at: Option<i64>,
    at: Circumstances<'_>,
) -> Result<(), ApiError> {
    let denied = || {
        ApiError::new(
            ErrorCode::AccessDenied,
            format!(
                "User: {} is not authorized to perform: {sts_action} on resource: {}",
                caller.arn(),
                request.resource
            ),
        )
    };
    let Some(principal) = policy_caller(caller) else {
        return Err(ApiError::new(ErrorCode::AccessDenied, "Roles may not be assumed by root accounts."));
    };
    let mut with_mfa = caller.clone();
    if let Some(checked) = mfa_checked_at {
        let (issued_at, expires_at) = caller.session.map_or((checked, i64::MAX), |s| (s.issued_at, s.expires_at));
        with_mfa.session = Some(SessionInfo { issued_at, expires_at, mfa_authenticated_at: Some(checked) });
    }
    let context = policy_context(&with_mfa, request, at).ok_or_else(denied)?;
    let evaluated = iamd_policy::Request::new(sts_action, &request.resource, context);
    let permissions = &caller.permissions;
    let identity: Vec<_> = permissions.identity.iter().collect();
    let session: Vec<_> = permissions.session.iter().collect();
    let outcome = iamd_policy::evaluate_assume_role(
        &evaluated,
        &principal,
        trust,
        &identity,
        permissions.boundary.as_ref(),
        &session,
    );
    if outcome.is_allowed() { Ok(()) } else { Err(denied()) }
}

/// AWS's account setting "Allow users to change their own password" grants ChangePassword on the
/// user itself without any policy (an explicit deny still wins).
fn users_may_change_own_password(caller: &Caller, request: &Request, outcome: &iamd_policy::Evaluation) -> bool {
    request.action == Action::ChangePassword
        && outcome.decision == iamd_policy::Decision::ImplicitDeny
        && request.resource == caller.arn()
        && request.context.get(USERS_MAY_CHANGE_PASSWORD).is_some_and(|v| v.iter().any(|v| v == "true"))
}

/// `Ok` if the caller may do what `request` asks; AWS's `AccessDenied` otherwise.
pub fn authorize(caller: &Caller, request: &Request, at: Circumstances<'_>) -> Result<(), ApiError> {
    match decide(caller, request, at) {
        Decision::Allow => Ok(()),
        Decision::Deny(reason) => Err(ApiError::new(
            ErrorCode::AccessDenied,
            format!(
                "User: {} is not authorized to perform: {} on resource: {} {reason}",
                caller.arn(),
                request.action.iam_action(),
                request.shown_as.as_deref().unwrap_or(&request.resource),
            )
            .trim_end()
            .to_owned(),
        )),
    }
}

#[cfg(test)]
mod memo_tests {
    use std::sync::Arc;

    use iamd_domain::entities::User;
    use iamd_policy::{Policy, PolicyKind};
    use time::OffsetDateTime;

    use super::*;

    const T0: i64 = 1_800_000_000;
    /// Allows reading users only before a time, only from 10.0.0.0/8, and denies anything
    /// on `user/locked`, whatever the time.
    const CONDITIONAL: &str = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"iam:Get*","Resource":"*",
         "Condition":{"DateLessThan":{"aws:CurrentTime":"2027-01-15T08:01:00Z"},
                      "IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}},
        {"Effect":"Allow","Action":"iam:ListMFADevices","Resource":"arn:aws:iam::*:user/${aws:username}"},
        {"Effect":"Deny","Action":"*","Resource":"arn:aws:iam::*:user/locked"}]}"#;
    const PLAIN: &str = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"iam:Get*","Resource":"*"}]}"#;

    fn alice(document: &str) -> Caller {
        let user = User {
            account_id: "123456789012".into(),
            user_id: "AIDAALICE".into(),
            name: "alice".into(),
            path: "/".into(),
            created_at: 0,
            password_last_used: None,
            tags: vec![],
            permissions_boundary: None,
        };
        let identity = vec![Policy::parse(document, PolicyKind::Identity).unwrap()];
        Caller {
            account_id: "123456789012".into(),
            access_key_id: "AKIAALICE".into(),
            principal: Principal::User(user),
            session: None,
            permissions: Arc::new(Permissions { identity, ..Permissions::default() }),
        }
    }

    fn at(seconds: i64, source: &str) -> Circumstances<'_> {
        Circumstances { now: OffsetDateTime::from_unix_timestamp(seconds).unwrap(), source }
    }

    fn request(action: Action, user: &str) -> Request {
        let resource = format!("arn:aws:iam::123456789012:user/{user}");
        Request { action, resource, shown_as: None, context: Context::default() }
    }

    /// The policy's time limit, in seconds.
    fn limit() -> i64 {
        OffsetDateTime::parse("2027-01-15T08:01:00Z", &time::format_description::well_known::Rfc3339)
            .unwrap()
            .unix_timestamp()
    }

    #[test]
    fn remembered_decisions_are_the_evaluated_ones_whatever_the_order() {
        let caller = alice(CONDITIONAL);
        let limit = limit();
        let actions = [Action::GetUser, Action::ListMFADevices, Action::DeleteUser, Action::GetGroup];
        let users = ["alice", "bob", "locked"];
        let times = [limit - 61, limit - 1, limit, limit + 3600];
        let sources = ["10.1.2.3", "192.168.0.1", "unknown"];
        let mut allowed = 0;
        // Every combination twice, in an order that revisits keys after others were stored.
        for round in 0..2 {
            for (i, action) in actions.iter().enumerate() {
                for user in users {
                    for (j, now) in times.iter().enumerate() {
                        let source = sources[(i + j + round) % sources.len()];
                        let request = request(*action, user);
                        let remembered = decide(&caller, &request, at(*now, source));
                        let evaluated = evaluate(&caller, &request, at(*now, source));
                        assert_eq!(remembered, evaluated, "{action:?} {user} at {now} from {source}");
                        allowed += usize::from(remembered == Decision::Allow);
                    }
                }
            }
        }
        assert!(allowed > 0, "the table must contain allows");
    }

    #[test]
    fn time_and_source_conditions_still_decide_once_remembered() {
        let caller = alice(CONDITIONAL);
        let get = request(Action::GetUser, "bob");
        assert_eq!(decide(&caller, &get, at(limit() - 10, "10.0.0.7")), Decision::Allow);
        assert_eq!(decide(&caller, &get, at(limit() - 10, "10.0.0.7")), Decision::Allow);
        assert!(matches!(decide(&caller, &get, at(limit() - 10, "172.16.0.1")), Decision::Deny(_)));
        assert!(matches!(decide(&caller, &get, at(limit() + 1, "10.0.0.7")), Decision::Deny(_)));
    }

    #[test]
    fn only_time_and_source_read_by_the_policies_are_in_the_key() {
        let plain = alice(PLAIN);
        let get = request(Action::GetUser, "bob");
        assert_eq!(decide(&plain, &get, at(1, "10.0.0.1")), Decision::Allow);
        assert_eq!(decide(&plain, &get, at(2, "10.0.0.2")), Decision::Allow);
        assert_eq!(plain.permissions.decisions.len(), 1, "time and source are not read: one entry");
        let conditional = alice(CONDITIONAL);
        decide(&conditional, &get, at(1, "10.0.0.1"));
        decide(&conditional, &get, at(2, "10.0.0.1"));
        decide(&conditional, &get, at(2, "10.0.0.2"));
        assert_eq!(conditional.permissions.decisions.len(), 3);
    }

    #[test]
    fn a_copy_with_another_session_does_not_meet_the_original_decisions() {
        const NEEDS_MFA: &str = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"iam:GetUser","Resource":"*",
             "Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}"#;
        let without = alice(NEEDS_MFA);
        let get = request(Action::GetUser, "bob");
        assert!(matches!(decide(&without, &get, at(T0, "unknown")), Decision::Deny(_)));
        let mut with = without.clone();
        with.session = Some(SessionInfo { issued_at: T0 - 10, expires_at: T0 + 3600, mfa_authenticated_at: Some(T0) });
        assert_eq!(decide(&with, &get, at(T0, "unknown")), Decision::Allow);
        assert!(matches!(decide(&without, &get, at(T0, "unknown")), Decision::Deny(_)));
    }
}
