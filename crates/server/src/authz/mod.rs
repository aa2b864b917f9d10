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

use crate::caller::{Caller, Principal, SessionInfo};

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
pub fn decide(caller: &Caller, request: &Request, at: Circumstances<'_>) -> Decision {
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
