//! The audit trail of calls: every change that succeeds (an operation the model classes as
//! mutating, `iamd_model::Operation::mutating`) and every call refused with `AccessDenied`, read
//! or write — someone probing with a stolen key shows up — from the API and the console alike,
//! since both run operations through [`super::perform`]. Successful reads are not recorded.
//!
//! The record is written right after the operation, not in the transaction of its change: one
//! place covers every operation, where writing it inside each store transition would change
//! every transition of both backends. A crash between the change's commit and the record's can
//! lose the record (docs/behaviour.md §6.6). A record that cannot be written is logged and the
//! call still answers as it went: the change is durable, and a client told otherwise would
//! retry it.
//!
//! A record names who (caller ARN, and the IAM user behind it), what (`iam:EnableMFADevice`),
//! on what — the request's identifying parameters only ([`TARGET_PARAMETERS`]), so never a
//! password, code, seed, secret or policy document —, from where and through which adapter.

use std::future::Future;

use iamd_domain::ErrorCode;
use iamd_domain::entities::ChangeEvent;

use super::{Ctx, Reply};
use crate::wire::params::Params;

/// Which adapter a request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Api,
    Console,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Api => "api",
            Origin::Console => "console",
        }
    }
}

/// The request an operation serves, as the HTTP layer knows it: its id (`x-amzn-RequestId`) and
/// its origin.
#[derive(Debug, Clone)]
pub struct RequestScope {
    pub id: String,
    pub origin: Origin,
}

tokio::task_local! {
    /// Set by the HTTP layer around each API and console request. A task-local rather than a
    /// `Ctx` member because the console's handlers build their `Ctx` themselves and only the HTTP
    /// layer, which routes the request, knows both the id and the origin.
    static REQUEST: RequestScope;
}

/// Runs `serve` as the request `scope` names: the operations it performs are recorded with that
/// id and origin.
pub async fn scoped<F: Future>(scope: RequestScope, serve: F) -> F::Output {
    REQUEST.scope(scope, serve).await
}

/// The request parameters that name what a call is about, in the order a record lists them.
/// An allowlist: a member the model adds later stays out until it is known not to be a secret
/// (the models do not mark `AuthenticationCode1` sensitive, say).
const TARGET_PARAMETERS: &[&str] = &[
    "UserName",
    "NewUserName",
    "GroupName",
    "NewGroupName",
    "RoleName",
    "RoleArn",
    "RoleSessionName",
    "SerialNumber",
    "VirtualMFADeviceName",
    "PolicyArn",
    "PolicyName",
    "VersionId",
    "AccessKeyId",
    "Status",
    "PermissionsBoundary",
    "Path",
    "NewPath",
];

/// `UserName=alice SerialNumber=arn:…`: the identifying parameters `p` holds (validated by the
/// model before any handler ran, so each is short and has no spaces).
pub fn target(p: &Params) -> String {
    let mut target = String::new();
    for name in TARGET_PARAMETERS {
        if let Some(value) = p.get(name) {
            if !target.is_empty() {
                target.push(' ');
            }
            target.push_str(name);
            target.push('=');
            target.push_str(value);
        }
    }
    target
}

/// Records the call `ctx` served with `p` if the trail keeps it (a change that succeeded, or a
/// refusal).
pub(super) async fn record(ctx: &Ctx<'_>, p: &Params, reply: &Reply) {
    let outcome = match reply {
        Ok(_) if ctx.action.is_mutating() => "success",
        Err(e) if e.code == ErrorCode::AccessDenied => "denied",
        _ => return,
    };
    let (request_id, origin) =
        REQUEST.try_with(|r| (r.id.clone(), r.origin)).unwrap_or_else(|_| (String::new(), Origin::Api));
    let caller_user = ctx.caller.user().map(|u| u.name.clone());
    // The user a call is about: the one it names, or the caller for operations on one's own user
    // that may leave the name out (ChangePassword never takes one).
    let target_user = match p.get("UserName") {
        Some(name) => Some(name.to_owned()),
        None if ctx.action.operation().member("UserName").is_some()
            || ctx.action == iamd_model::Action::ChangePassword =>
        {
            caller_user.clone()
        }
        None => None,
    };
    let event = ChangeEvent {
        at: ctx.now_unix(),
        account_id: ctx.account().to_owned(),
        request_id,
        caller_arn: ctx.caller.arn(),
        caller_user,
        action: ctx.action.iam_action().to_owned(),
        target: target(p),
        target_user,
        source: ctx.source.to_owned(),
        origin: origin.as_str().to_owned(),
        outcome: outcome.to_owned(),
    };
    tracing::info!(
        target: "iamd::audit",
        request_id = event.request_id,
        caller = event.caller_arn,
        action = event.action,
        target = event.target,
        source = event.source,
        origin = event.origin,
        outcome,
        "call"
    );
    if let Err(e) = ctx.app.store.record_change_event(&event).await {
        tracing::error!(error = %e, action = event.action, "could not record a call in the audit trail");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_holds_identifiers_and_never_a_secret_or_document() {
        let p = Params::from_pairs([
            ("Action", "EnableMFADevice"),
            ("UserName", "alice"),
            ("SerialNumber", "arn:aws:iam::123456789012:mfa/alice"),
            ("AuthenticationCode1", "123456"),
            ("AuthenticationCode2", "654321"),
        ]);
        assert_eq!(target(&p), "UserName=alice SerialNumber=arn:aws:iam::123456789012:mfa/alice");
        let p = Params::from_pairs([
            ("Action", "PutUserPolicy"),
            ("PolicyDocument", r#"{"Statement":[]}"#),
            ("PolicyName", "p"),
            ("UserName", "bob"),
        ]);
        assert_eq!(target(&p), "UserName=bob PolicyName=p");
        for secret in [
            [("Password", "Secret-pass-1"), ("UserName", "carol")],
            [("OldPassword", "Secret-pass-1"), ("NewPassword", "Secret-pass-2")],
            [("TokenCode", "123456"), ("Policy", "{}")],
        ] {
            let text = target(&Params::from_pairs(secret));
            assert!(!text.contains("Secret") && !text.contains("123456") && !text.contains('{'), "{text}");
        }
    }
}
