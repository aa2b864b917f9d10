//! Operations: one module per resource family, and [`dispatch`], the table from `Action` to
//! handler. A handler receives validated parameters and returns the XML of its `{Op}Result`
//! element, or nothing for operations without output.

mod access_keys;
mod account;
mod login_profiles;
mod mfa_devices;
mod mfa_tags;
mod pagination;
mod password_policy;
mod sts;
mod users;

pub use mfa_devices::list_mfa_devices_result;

use iamd_domain::{ApiError, ErrorCode};
use serde::Serialize;
use time::OffsetDateTime;

use crate::app::App;
use crate::auth::{Caller, Principal};
use crate::wire::params::Params;
use crate::wire::{Service, xml};

/// The XML of an `{Op}Result` element, or `None` for operations with no output.
pub type Reply = Result<Option<String>, ApiError>;

/// Everything a handler needs to know about the request it serves.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub caller: &'a Caller,
    pub action: &'static str,
    pub now: OffsetDateTime,
    /// The client's address, for the audit trail.
    pub source: &'a str,
}

pub async fn dispatch(ctx: &Ctx<'_>, service: Service, p: &Params) -> Reply {
    match (service, ctx.action) {
        (Service::Iam, "CreateUser") => users::create_user(ctx, p).await,
        (Service::Iam, "GetUser") => users::get_user(ctx, p).await,
        (Service::Iam, "ListUsers") => users::list_users(ctx, p).await,
        (Service::Iam, "UpdateUser") => users::update_user(ctx, p).await,
        (Service::Iam, "DeleteUser") => users::delete_user(ctx, p).await,
        (Service::Iam, "CreateAccessKey") => access_keys::create_access_key(ctx, p).await,
        (Service::Iam, "ListAccessKeys") => access_keys::list_access_keys(ctx, p).await,
        (Service::Iam, "UpdateAccessKey") => access_keys::update_access_key(ctx, p).await,
        (Service::Iam, "DeleteAccessKey") => access_keys::delete_access_key(ctx, p).await,
        (Service::Iam, "CreateVirtualMFADevice") => mfa_devices::create_virtual_mfa_device(ctx, p).await,
        (Service::Iam, "EnableMFADevice") => mfa_devices::enable_mfa_device(ctx, p).await,
        (Service::Iam, "ResyncMFADevice") => mfa_devices::resync_mfa_device(ctx, p).await,
        (Service::Iam, "DeactivateMFADevice") => mfa_devices::deactivate_mfa_device(ctx, p).await,
        (Service::Iam, "DeleteVirtualMFADevice") => mfa_devices::delete_virtual_mfa_device(ctx, p).await,
        (Service::Iam, "ListMFADevices") => mfa_devices::list_mfa_devices(ctx, p).await,
        (Service::Iam, "ListVirtualMFADevices") => mfa_devices::list_virtual_mfa_devices(ctx, p).await,
        (Service::Iam, "GetMFADevice") => mfa_devices::get_mfa_device(ctx, p).await,
        (Service::Iam, "TagMFADevice") => mfa_tags::tag_mfa_device(ctx, p).await,
        (Service::Iam, "UntagMFADevice") => mfa_tags::untag_mfa_device(ctx, p).await,
        (Service::Iam, "ListMFADeviceTags") => mfa_tags::list_mfa_device_tags(ctx, p).await,
        (Service::Iam, "GetAccountSummary") => account::get_account_summary(ctx, p).await,
        (Service::Iam, "CreateLoginProfile") => login_profiles::create_login_profile(ctx, p).await,
        (Service::Iam, "GetLoginProfile") => login_profiles::get_login_profile(ctx, p).await,
        (Service::Iam, "UpdateLoginProfile") => login_profiles::update_login_profile(ctx, p).await,
        (Service::Iam, "DeleteLoginProfile") => login_profiles::delete_login_profile(ctx, p).await,
        (Service::Iam, "ChangePassword") => login_profiles::change_password(ctx, p).await,
        (Service::Iam, "GetAccountPasswordPolicy") => password_policy::get_account_password_policy(ctx, p).await,
        (Service::Iam, "UpdateAccountPasswordPolicy") => password_policy::update_account_password_policy(ctx, p).await,
        (Service::Iam, "DeleteAccountPasswordPolicy") => password_policy::delete_account_password_policy(ctx, p).await,
        (Service::Sts, "GetCallerIdentity") => sts::get_caller_identity(ctx, p).await,
        (Service::Sts, "GetSessionToken") => sts::get_session_token(ctx, p).await,
        // In the model but not served yet: answer as AWS does for an operation it lacks.
        (_, action) => Err(invalid_action(action, p.get("Version").unwrap_or_default())),
    }
}

/// AWS's answer for an action the service (or this version of iamd) does not have.
pub fn invalid_action(action: &str, version: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidAction, format!("Could not find operation {action} for version {version}"))
}

/// Checks with AWS-specific messages that run before the generic model validation.
pub fn check_special_formats(p: &Params) -> Result<(), ApiError> {
    for name in ["Path", "NewPath"] {
        let Some(path) = p.get(name) else { continue };
        // Too long is reported by the model validator in Coral form; a bad shape has its own text.
        let well_formed = path == "/"
            || (path.len() >= 2
                && path.starts_with('/')
                && path.ends_with('/')
                && path.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        if !well_formed && path.chars().count() <= 512 {
            return Err(ApiError::validation(
                "The specified value for path is invalid. It must begin and end with / and contain only \
                 alphanumeric characters and/or / characters.",
            ));
        }
    }
    Ok(())
}

impl Ctx<'_> {
    pub fn account(&self) -> &str {
        &self.caller.account_id
    }

    pub fn now_unix(&self) -> i64 {
        self.now.unix_timestamp()
    }

    /// Serializes a result structure as this operation's `{Op}Result` element.
    pub fn reply<T: Serialize>(&self, result: &T) -> Reply {
        Ok(Some(xml::element(&format!("{}Result", self.action), result)))
    }

    /// Until a policy engine exists: root may do anything in its account; an IAM user only what
    /// `self_service` says it may do to `resource` (its own user, keys and devices).
    pub fn authorize(&self, resource: &str, self_service: bool) -> Result<(), ApiError> {
        match self.caller.principal {
            Principal::Root => Ok(()),
            Principal::User(_) if self_service => Ok(()),
            Principal::User(_) => Err(ApiError::new(
                ErrorCode::AccessDenied,
                format!(
                    "User: {} is not authorized to perform: iam:{} on resource: {resource}",
                    self.caller.arn(),
                    self.action
                ),
            )),
        }
    }

    /// The `UserName` parameter, or the calling user's own name when it is absent.
    /// Root credentials must name a user (iamd has no AssumeRoot).
    pub fn target_user_name(&self, p: &Params) -> Result<String, ApiError> {
        if let Some(name) = p.get("UserName") {
            return Ok(name.to_owned());
        }
        match self.caller.user() {
            Some(user) => Ok(user.name.clone()),
            None => Err(ApiError::validation("Must specify userName when calling with non-User credentials")),
        }
    }

    /// Whether `name` is the calling IAM user (names compare without regard to case).
    pub fn is_caller(&self, name: &str) -> bool {
        self.caller.user().is_some_and(|u| u.name.eq_ignore_ascii_case(name))
    }

    /// The ARN of a user for authorization messages (the path is unknown until looked up).
    pub fn user_resource(&self, name: &str) -> String {
        match self.caller.user() {
            Some(u) if u.name.eq_ignore_ascii_case(name) => {
                iamd_domain::ids::user_arn(self.account(), &u.path, &u.name)
            }
            _ => iamd_domain::ids::user_arn(self.account(), "/", name),
        }
    }
}

/// Runs CPU-heavy work (Argon2, the QR code, a 24 h pair search: up to tens of milliseconds) on
/// the blocking pool, so the requests sharing this runtime worker are not held up behind it.
pub async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(internal)
}

/// An unexpected failure: logged here with its detail, answered as `ServiceFailure`.
pub fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "internal failure");
    ApiError::service_failure()
}

/// A store failure that the handler did not map to something more specific.
pub fn store_failure(e: iamd_store::StoreError) -> ApiError {
    match e {
        iamd_store::StoreError::Unavailable(detail) => {
            tracing::warn!(%detail, "database unavailable");
            ApiError::new(ErrorCode::ServiceUnavailable, "Service is temporarily unavailable. Try again later.")
        }
        iamd_store::StoreError::Conflict => ApiError::new(
            ErrorCode::ConcurrentModification,
            "The request was rejected because it conflicted with a concurrent change. Try again.",
        ),
        other => internal(other),
    }
}

/// Case-insensitively unique tag keys, or AWS's `InvalidInput`.
fn reject_duplicate_tag_keys(tags: &[iamd_store::Tag]) -> Result<(), ApiError> {
    let mut seen = std::collections::HashSet::new();
    if tags.iter().all(|t| seen.insert(t.key.to_lowercase())) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidInput,
            "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
        ))
    }
}
