//! Operations: one module per resource family, and [`dispatch`], which authorizes a request
//! (one `authz` decision, before any handler runs) and calls the operation's handler through an
//! exhaustive match on the model's `Action`. A handler receives validated parameters and returns
//! the XML of its `{Op}Result` element, or nothing for operations without output. Handlers do
//! not authorize: by the time one runs, the caller may do what it asks.
//!
//! [`perform`] is the entry point of both adapters above this layer: the query API (`http`) and
//! the console, which runs a signed-in user's actions as that user's operations — validated,
//! authorized and handled exactly as the same call through the API. It records in the audit
//! trail every change that succeeds and every refusal ([`audit`]).

mod access_keys;
mod account;
mod attachments;
pub mod audit;
mod authorization_details;
mod credential_report;
mod groups;
mod holders;
mod inline_policies;
mod login_profiles;
mod managed_policies;
mod mfa_devices;
mod mfa_tags;
mod pagination;
mod password_policy;
mod policy_documents;
mod roles;
mod simulator;
mod sts;
mod tags;
mod user_tags;
mod users;

pub use mfa_devices::list_mfa_devices_result;

use iamd_domain::ApiError;
use iamd_model::Action;
use serde::Serialize;
use time::OffsetDateTime;

use crate::authz;
use crate::caller::Caller;
use crate::state::App;
use crate::wire::params::Params;
use crate::wire::xml;

/// The XML of an `{Op}Result` element, or `None` for operations with no output.
pub type Reply = Result<Option<String>, ApiError>;

/// Everything a handler needs to know about the request it serves.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub caller: &'a Caller,
    pub action: Action,
    pub now: OffsetDateTime,
    /// The client's address, for the audit trail.
    pub source: &'a str,
}

/// Validates `p` against the operation's model (path formats, then required members, lengths,
/// patterns, enums and ranges: AWS's `ValidationError`), then [`dispatch`]es it, and records a
/// change or a refusal in the audit trail.
pub async fn perform(ctx: &Ctx<'_>, p: &Params) -> Reply {
    p.check_paths()?;
    iamd_model::validate(ctx.action.operation(), p.pairs()).map_err(|e| ApiError::validation(e.message))?;
    let reply = dispatch(ctx, p).await;
    audit::record(ctx, p, &reply).await;
    reply
}

/// Authorizes the request, then runs its operation.
pub async fn dispatch(ctx: &Ctx<'_>, p: &Params) -> Reply {
    if let Some(request) = authz::request_for(ctx.app, ctx.caller, ctx.action, p).await? {
        authz::authorize(ctx.caller, &request, authz::Circumstances { now: ctx.now, source: ctx.source })?;
    }
    use Action::*;
    match ctx.action {
        CreateUser => users::create_user(ctx, p).await,
        GetUser => users::get_user(ctx, p).await,
        ListUsers => users::list_users(ctx, p).await,
        UpdateUser => users::update_user(ctx, p).await,
        DeleteUser => users::delete_user(ctx, p).await,
        TagUser => user_tags::tag_user(ctx, p).await,
        UntagUser => user_tags::untag_user(ctx, p).await,
        ListUserTags => user_tags::list_user_tags(ctx, p).await,
        CreateAccessKey => access_keys::create_access_key(ctx, p).await,
        ListAccessKeys => access_keys::list_access_keys(ctx, p).await,
        UpdateAccessKey => access_keys::update_access_key(ctx, p).await,
        DeleteAccessKey => access_keys::delete_access_key(ctx, p).await,
        GetAccessKeyLastUsed => access_keys::get_access_key_last_used(ctx, p).await,
        GenerateCredentialReport => credential_report::generate_credential_report(ctx, p).await,
        GetCredentialReport => credential_report::get_credential_report(ctx, p).await,
        CreateVirtualMFADevice => mfa_devices::create_virtual_mfa_device(ctx, p).await,
        EnableMFADevice => mfa_devices::enable_mfa_device(ctx, p).await,
        ResyncMFADevice => mfa_devices::resync_mfa_device(ctx, p).await,
        DeactivateMFADevice => mfa_devices::deactivate_mfa_device(ctx, p).await,
        DeleteVirtualMFADevice => mfa_devices::delete_virtual_mfa_device(ctx, p).await,
        ListMFADevices => mfa_devices::list_mfa_devices(ctx, p).await,
        ListVirtualMFADevices => mfa_devices::list_virtual_mfa_devices(ctx, p).await,
        GetMFADevice => mfa_devices::get_mfa_device(ctx, p).await,
        TagMFADevice => mfa_tags::tag_mfa_device(ctx, p).await,
        UntagMFADevice => mfa_tags::untag_mfa_device(ctx, p).await,
        ListMFADeviceTags => mfa_tags::list_mfa_device_tags(ctx, p).await,
        GetAccountSummary => account::get_account_summary(ctx, p).await,
        GetAccountAuthorizationDetails => authorization_details::get_account_authorization_details(ctx, p).await,
        CreateLoginProfile => login_profiles::create_login_profile(ctx, p).await,
        GetLoginProfile => login_profiles::get_login_profile(ctx, p).await,
        UpdateLoginProfile => login_profiles::update_login_profile(ctx, p).await,
        DeleteLoginProfile => login_profiles::delete_login_profile(ctx, p).await,
        ChangePassword => login_profiles::change_password(ctx, p).await,
        GetAccountPasswordPolicy => password_policy::get_account_password_policy(ctx, p).await,
        UpdateAccountPasswordPolicy => password_policy::update_account_password_policy(ctx, p).await,
        DeleteAccountPasswordPolicy => password_policy::delete_account_password_policy(ctx, p).await,
        CreateGroup => groups::create_group(ctx, p).await,
        GetGroup => groups::get_group(ctx, p).await,
        ListGroups => groups::list_groups(ctx, p).await,
        UpdateGroup => groups::update_group(ctx, p).await,
        DeleteGroup => groups::delete_group(ctx, p).await,
        AddUserToGroup => groups::add_user_to_group(ctx, p).await,
        RemoveUserFromGroup => groups::remove_user_from_group(ctx, p).await,
        ListGroupsForUser => groups::list_groups_for_user(ctx, p).await,
        PutUserPolicy => inline_policies::put_user_policy(ctx, p).await,
        GetUserPolicy => inline_policies::get_user_policy(ctx, p).await,
        ListUserPolicies => inline_policies::list_user_policies(ctx, p).await,
        DeleteUserPolicy => inline_policies::delete_user_policy(ctx, p).await,
        PutGroupPolicy => inline_policies::put_group_policy(ctx, p).await,
        GetGroupPolicy => inline_policies::get_group_policy(ctx, p).await,
        ListGroupPolicies => inline_policies::list_group_policies(ctx, p).await,
        DeleteGroupPolicy => inline_policies::delete_group_policy(ctx, p).await,
        CreatePolicy => managed_policies::create_policy(ctx, p).await,
        GetPolicy => managed_policies::get_policy(ctx, p).await,
        ListPolicies => managed_policies::list_policies(ctx, p).await,
        DeletePolicy => managed_policies::delete_policy(ctx, p).await,
        CreatePolicyVersion => managed_policies::create_policy_version(ctx, p).await,
        GetPolicyVersion => managed_policies::get_policy_version(ctx, p).await,
        ListPolicyVersions => managed_policies::list_policy_versions(ctx, p).await,
        DeletePolicyVersion => managed_policies::delete_policy_version(ctx, p).await,
        SetDefaultPolicyVersion => managed_policies::set_default_policy_version(ctx, p).await,
        TagPolicy => managed_policies::tag_policy(ctx, p).await,
        UntagPolicy => managed_policies::untag_policy(ctx, p).await,
        ListPolicyTags => managed_policies::list_policy_tags(ctx, p).await,
        AttachUserPolicy => attachments::attach_user_policy(ctx, p).await,
        DetachUserPolicy => attachments::detach_user_policy(ctx, p).await,
        ListAttachedUserPolicies => attachments::list_attached_user_policies(ctx, p).await,
        AttachGroupPolicy => attachments::attach_group_policy(ctx, p).await,
        DetachGroupPolicy => attachments::detach_group_policy(ctx, p).await,
        ListAttachedGroupPolicies => attachments::list_attached_group_policies(ctx, p).await,
        ListEntitiesForPolicy => attachments::list_entities_for_policy(ctx, p).await,
        PutUserPermissionsBoundary => attachments::put_user_permissions_boundary(ctx, p).await,
        DeleteUserPermissionsBoundary => attachments::delete_user_permissions_boundary(ctx, p).await,
        CreateRole => roles::create_role(ctx, p).await,
        GetRole => roles::get_role(ctx, p).await,
        ListRoles => roles::list_roles(ctx, p).await,
        UpdateRole => roles::update_role(ctx, p).await,
        UpdateRoleDescription => roles::update_role_description(ctx, p).await,
        UpdateAssumeRolePolicy => roles::update_assume_role_policy(ctx, p).await,
        DeleteRole => roles::delete_role(ctx, p).await,
        TagRole => roles::tag_role(ctx, p).await,
        UntagRole => roles::untag_role(ctx, p).await,
        ListRoleTags => roles::list_role_tags(ctx, p).await,
        PutRolePolicy => inline_policies::put_role_policy(ctx, p).await,
        GetRolePolicy => inline_policies::get_role_policy(ctx, p).await,
        ListRolePolicies => inline_policies::list_role_policies(ctx, p).await,
        DeleteRolePolicy => inline_policies::delete_role_policy(ctx, p).await,
        AttachRolePolicy => attachments::attach_role_policy(ctx, p).await,
        DetachRolePolicy => attachments::detach_role_policy(ctx, p).await,
        ListAttachedRolePolicies => attachments::list_attached_role_policies(ctx, p).await,
        PutRolePermissionsBoundary => attachments::put_role_permissions_boundary(ctx, p).await,
        DeleteRolePermissionsBoundary => attachments::delete_role_permissions_boundary(ctx, p).await,
        SimulatePrincipalPolicy => simulator::simulate_principal_policy(ctx, p).await,
        SimulateCustomPolicy => simulator::simulate_custom_policy(ctx, p).await,
        GetContextKeysForPrincipalPolicy => simulator::get_context_keys_for_principal_policy(ctx, p).await,
        GetContextKeysForCustomPolicy => simulator::get_context_keys_for_custom_policy(ctx, p).await,
        GetCallerIdentity => sts::get_caller_identity(ctx, p).await,
        AssumeRole => sts::assume_role(ctx, p).await,
        GetSessionToken => sts::get_session_token(ctx, p).await,
    }
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
        Ok(Some(xml::element(&format!("{}Result", self.action.name()), result)))
    }

    /// The `UserName` parameter, or the calling user's own name when it is absent.
    pub fn target_user_name(&self, p: &Params) -> Result<String, ApiError> {
        self.caller.target_user_name(p.get("UserName"))
    }
}
