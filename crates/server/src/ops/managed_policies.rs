//! Customer managed policies, their versions and tags (and the AWS managed ones, read-only):
//! CreatePolicy, GetPolicy, ListPolicies, DeletePolicy, CreatePolicyVersion, GetPolicyVersion,
//! ListPolicyVersions, DeletePolicyVersion, SetDefaultPolicyVersion, TagPolicy, UntagPolicy,
//! ListPolicyTags.
//!
//! Policies are addressed by ARN. An account sees its own policies and the AWS managed ones
//! (`arn:aws:iam::aws:policy/…`); a policy ARN of another account is `NoSuchEntity`, as if it
//! did not exist. AWS managed policies can be read, listed and attached, never changed: every
//! change is `AccessDenied` (AWS's answer for a resource of another account).

use iamd_domain::entities::{self, AWS_MANAGED_ACCOUNT, ManagedPolicy, NewManagedPolicy, PolicyScope};
use iamd_domain::{ApiError, ErrorCode, ids};
use iamd_policy::limits::MANAGED_POLICY_SIZE;
use iamd_policy::policy_size;
use iamd_store::{Dependent, Entity, StoreError};
use serde::Serialize;

use super::{Ctx, Reply, pagination, policy_documents, tags};
use crate::failure::store_failure;
use crate::wire::params::Params;
use crate::wire::shapes::{self, Members, Truncation};

/// AWS's quota of tags per managed policy.
pub const MAX_TAGS_PER_POLICY: usize = 50;

/// `NoSuchEntity` for a policy the account cannot see.
pub fn no_such_policy(arn: &str) -> ApiError {
    ApiError::new(ErrorCode::NoSuchEntity, format!("Policy {arn} was not found."))
}

/// Whose policy an ARN names, as far as the calling account is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The caller's own (customer managed).
    Account,
    /// AWS managed: readable and attachable, not changeable.
    Aws,
}

/// Reads the owning account out of a policy ARN: `InvalidInput` for text that is no ARN,
/// `NoSuchEntity` (`not_found`) for an ARN that cannot name a policy this account sees.
pub fn owner_of(ctx: &Ctx<'_>, arn: &str, not_found: fn(&str) -> ApiError) -> Result<Owner, ApiError> {
    let fields: Vec<&str> = arn.splitn(6, ':').collect();
    if fields.len() != 6 || fields[0] != "arn" || fields[1].is_empty() || fields[2].is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidInput, format!("ARN {arn} is not valid.")));
    }
    if fields[1] != "aws" || fields[2] != "iam" || !fields[3].is_empty() || !fields[5].starts_with("policy/") {
        return Err(not_found(arn));
    }
    match fields[4] {
        AWS_MANAGED_ACCOUNT => Ok(Owner::Aws),
        account if account == ctx.account() => Ok(Owner::Account),
        _ => Err(not_found(arn)),
    }
}

/// The `PolicyArn` of a request that changes the policy: the account's own, else `AccessDenied`
/// for an AWS managed one, `NoSuchEntity` for anything else.
fn own_policy<'p>(ctx: &Ctx<'_>, p: &'p Params) -> Result<&'p str, ApiError> {
    let arn = p.required("PolicyArn")?;
    match owner_of(ctx, arn, no_such_policy)? {
        Owner::Account => Ok(arn),
        Owner::Aws => Err(ApiError::new(
            ErrorCode::AccessDenied,
            format!(
                "User: {} is not authorized to perform: {} on resource: {arn}",
                ctx.caller.arn(),
                ctx.action.iam_action()
            ),
        )),
    }
}

/// The `PolicyArn` of a request that only reads the policy (own or AWS managed).
fn visible_policy<'p>(ctx: &Ctx<'_>, p: &'p Params) -> Result<&'p str, ApiError> {
    let arn = p.required("PolicyArn")?;
    owner_of(ctx, arn, no_such_policy)?;
    Ok(arn)
}

/// A document for a new version: at most 6,144 characters without whitespace, and a valid
/// `2012-10-17` identity policy.
fn check_document(document: &str) -> Result<(), ApiError> {
    if policy_size(document) > MANAGED_POLICY_SIZE {
        return Err(ApiError::quota("PolicySize", MANAGED_POLICY_SIZE as u32));
    }
    policy_documents::validate_managed(document)?;
    Ok(())
}

/// The `Policy` shape. `Description` and `Tags` are shown by CreatePolicy and GetPolicy only
/// (ListPolicies leaves them out, as AWS does).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Policy {
    policy_name: String,
    policy_id: String,
    arn: String,
    path: String,
    default_version_id: String,
    attachment_count: u32,
    permissions_boundary_usage_count: u32,
    is_attachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    create_date: String,
    update_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Members<shapes::Tag>>,
    /// GetAccountAuthorizationDetails only (its `ManagedPolicyDetail`).
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_version_list: Option<Members<PolicyVersion>>,
}

impl Policy {
    /// The policy as GetAccountAuthorizationDetails shows it: with its description and every
    /// version's document, without tags.
    pub fn detail(policy: ManagedPolicy, versions: Vec<entities::PolicyVersion>) -> Self {
        let mut detail = Policy::new(policy, true);
        detail.tags = None;
        let versions = versions.into_iter().map(|v| PolicyVersion::new(v, true)).collect::<Vec<_>>();
        detail.policy_version_list = Some(versions.into());
        detail
    }

    fn new(policy: ManagedPolicy, full: bool) -> Self {
        let tags = (full && !policy.tags.is_empty())
            .then(|| Members::from(policy.tags.into_iter().map(shapes::Tag::from).collect::<Vec<_>>()));
        Policy {
            policy_name: policy.name,
            policy_id: policy.policy_id,
            arn: policy.arn,
            path: policy.path,
            default_version_id: policy.default_version_id,
            attachment_count: policy.attachment_count,
            permissions_boundary_usage_count: policy.boundary_usage_count,
            is_attachable: true,
            description: policy.description.filter(|_| full),
            create_date: shapes::timestamp(policy.created_at),
            update_date: shapes::timestamp(policy.updated_at),
            tags,
            policy_version_list: None,
        }
    }
}

/// The `PolicyVersion` shape; `Document` (URL-encoded, as AWS sends it) only where the operation
/// returns it (GetPolicyVersion).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyVersion {
    #[serde(skip_serializing_if = "Option::is_none")]
    document: Option<String>,
    version_id: String,
    is_default_version: bool,
    create_date: String,
}

impl PolicyVersion {
    fn new(version: entities::PolicyVersion, with_document: bool) -> Self {
        PolicyVersion {
            document: with_document.then(|| policy_documents::encode(&version.document)),
            version_id: version.version_id,
            is_default_version: version.is_default,
            create_date: shapes::timestamp(version.created_at),
        }
    }
}

#[derive(Serialize)]
struct PolicyResult {
    #[serde(rename = "Policy")]
    policy: Policy,
}

#[derive(Serialize)]
struct PolicyVersionResult {
    #[serde(rename = "PolicyVersion")]
    version: PolicyVersion,
}

pub async fn create_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let name = p.required("PolicyName")?;
    let document = p.required("PolicyDocument")?;
    check_document(document)?;
    let tags = p.tags("Tags");
    tags::reject_duplicate_keys(&tags)?;
    let policy = NewManagedPolicy {
        account_id: ctx.account().to_owned(),
        policy_id: ids::new_policy_id(),
        name: name.to_owned(),
        path: p.get("Path").unwrap_or("/").to_owned(),
        description: p.get("Description").map(str::to_owned),
        document: document.to_owned(),
        created_at: ctx.now_unix(),
        tags,
    };
    let limit = ctx.app.limits.policies_per_account;
    let created = match ctx.app.store.create_policy(&policy, limit).await {
        Ok(created) => created,
        Err(StoreError::AlreadyExists(_)) => {
            return Err(ApiError::new(
                ErrorCode::EntityAlreadyExists,
                format!("A policy called {name} already exists. Duplicate names are not allowed."),
            ));
        }
        Err(StoreError::LimitExceeded) => return Err(ApiError::quota("PoliciesPerAccount", limit)),
        Err(e) => return Err(store_failure(e)),
    };
    ctx.reply(&PolicyResult { policy: Policy::new(created, true) })
}

pub async fn get_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let arn = visible_policy(ctx, p)?;
    let policy = ctx.app.store.get_policy(ctx.account(), arn).await.map_err(store_failure)?;
    let policy = policy.ok_or_else(|| no_such_policy(arn))?;
    ctx.reply(&PolicyResult { policy: Policy::new(policy, true) })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListPoliciesResult {
    policies: Members<Policy>,
    is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

/// ListPolicies. `OnlyAttached` keeps the policies attached to a user or group of the account;
/// with `PolicyUsageFilter=PermissionsBoundary` it keeps those used as a user's permissions
/// boundary instead (`PermissionsPolicy` is the default meaning). Without `OnlyAttached` the
/// usage filter narrows nothing: any managed policy can serve as either.
pub async fn list_policies(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let page = pagination::page(p, "policies")?;
    let scope = match p.get("Scope") {
        Some("AWS") => PolicyScope::Aws,
        Some("Local") => PolicyScope::Local,
        _ => PolicyScope::All,
    };
    let only_attached = p.get("OnlyAttached").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let boundaries = only_attached && p.get("PolicyUsageFilter") == Some("PermissionsBoundary");
    let prefix = p.get("PathPrefix").unwrap_or("/");
    let policies = ctx
        .app
        .store
        .list_policies(ctx.account(), scope, only_attached && !boundaries, prefix, &page)
        .await
        .map_err(store_failure)?;
    // The marker follows the store's page, so a page thinned by the boundary filter still
    // continues where it should (AWS also may return fewer than MaxItems with IsTruncated).
    let (policies, Truncation { is_truncated, marker }) =
        pagination::finish(policies, &page, "policies", ManagedPolicy::page_key);
    let policies: Vec<Policy> = policies
        .into_iter()
        .filter(|policy| !boundaries || policy.boundary_usage_count > 0)
        .map(|policy| Policy::new(policy, false))
        .collect();
    ctx.reply(&ListPoliciesResult { policies: policies.into(), is_truncated, marker })
}

pub async fn delete_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let arn = own_policy(ctx, p)?;
    match ctx.app.store.delete_policy(arn).await {
        Ok(()) => Ok(None),
        Err(StoreError::NotFound(_)) => Err(no_such_policy(arn)),
        Err(StoreError::DeleteConflict(Dependent::Versions)) => Err(ApiError::new(
            ErrorCode::DeleteConflict,
            "This policy has more than one version. Before you delete a policy, you must delete the policy's \
             versions. The default version is deleted with the policy.",
        )),
        Err(StoreError::DeleteConflict(_)) => {
            Err(ApiError::new(ErrorCode::DeleteConflict, "Cannot delete a policy attached to entities."))
        }
        Err(e) => Err(store_failure(e)),
    }
}

fn no_such_version(arn: &str, version_id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("Policy {arn} version {version_id} does not exist or is not attachable."),
    )
}

/// Maps a version operation's store error: the policy, the version, or the store.
fn version_error<'a>(arn: &'a str, version_id: &'a str) -> impl Fn(StoreError) -> ApiError + 'a {
    move |e| match e {
        StoreError::NotFound(Entity::PolicyVersion) => no_such_version(arn, version_id),
        StoreError::NotFound(_) => no_such_policy(arn),
        StoreError::DeleteConflict(_) => {
            ApiError::new(ErrorCode::DeleteConflict, "Cannot delete the default version of a policy.")
        }
        other => store_failure(other),
    }
}

pub async fn create_policy_version(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let arn = own_policy(ctx, p)?;
    let document = p.required("PolicyDocument")?;
    check_document(document)?;
    let set_as_default = p.get("SetAsDefault").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let max = ctx.app.limits.versions_per_policy;
    let version = match ctx.app.store.create_policy_version(arn, document, set_as_default, ctx.now_unix(), max).await {
        Ok(version) => version,
        Err(StoreError::NotFound(_)) => return Err(no_such_policy(arn)),
        Err(StoreError::LimitExceeded) => {
            return Err(ApiError::new(
                ErrorCode::LimitExceeded,
                format!(
                    "A managed policy can have up to {max} versions. Before you create a new version, you must \
                     delete an existing version."
                ),
            ));
        }
        Err(e) => return Err(store_failure(e)),
    };
    // AWS's CreatePolicyVersion answer leaves the document out.
    ctx.reply(&PolicyVersionResult { version: PolicyVersion::new(version, false) })
}

pub async fn get_policy_version(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let arn = visible_policy(ctx, p)?;
    let version_id = p.required("VersionId")?;
    let version = ctx.app.store.get_policy_version(arn, version_id).await.map_err(version_error(arn, version_id))?;
    ctx.reply(&PolicyVersionResult { version: PolicyVersion::new(version, true) })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListPolicyVersionsResult {
    versions: Members<PolicyVersion>,
    is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

/// A sort key that grows as versions get older (the list is newest first).
fn version_sort_key(version: &entities::PolicyVersion) -> String {
    let n: u64 = version.version_id.trim_start_matches('v').parse().unwrap_or(0);
    format!("{:020}", u64::MAX - n)
}

pub async fn list_policy_versions(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let arn = visible_policy(ctx, p)?;
    let page = pagination::page(p, "policy-versions")?;
    let versions = ctx.app.store.list_policy_versions(arn).await.map_err(version_error(arn, ""))?;
    let (versions, Truncation { is_truncated, marker }) =
        pagination::in_memory(versions, &page, "policy-versions", version_sort_key);
    ctx.reply(&ListPolicyVersionsResult {
        versions: versions.into_iter().map(|v| PolicyVersion::new(v, false)).collect::<Vec<_>>().into(),
        is_truncated,
        marker,
    })
}

pub async fn delete_policy_version(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let arn = own_policy(ctx, p)?;
    let version_id = p.required("VersionId")?;
    ctx.app.store.delete_policy_version(arn, version_id).await.map_err(version_error(arn, version_id))?;
    Ok(None)
}

pub async fn set_default_policy_version(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let arn = own_policy(ctx, p)?;
    let version_id = p.required("VersionId")?;
    ctx.app.store.set_default_policy_version(arn, version_id).await.map_err(version_error(arn, version_id))?;
    Ok(None)
}

fn tag_error(arn: &str) -> impl Fn(StoreError) -> ApiError + '_ {
    move |e| match e {
        StoreError::NotFound(_) => no_such_policy(arn),
        StoreError::LimitExceeded => ApiError::quota("TagsPerPolicy", MAX_TAGS_PER_POLICY as u32),
        other => store_failure(other),
    }
}

pub async fn tag_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let arn = own_policy(ctx, p)?;
    let tags = p.tags("Tags");
    tags::reject_duplicate_keys(&tags)?;
    ctx.app.store.tag_policy(arn, &tags, MAX_TAGS_PER_POLICY).await.map_err(tag_error(arn))?;
    Ok(None)
}

pub async fn untag_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let arn = own_policy(ctx, p)?;
    let keys: Vec<String> = p.list("TagKeys").into_iter().map(str::to_owned).collect();
    ctx.app.store.untag_policy(arn, &keys).await.map_err(tag_error(arn))?;
    Ok(None)
}

pub async fn list_policy_tags(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let arn = visible_policy(ctx, p)?;
    let tags = ctx.app.store.policy_tags(arn).await.map_err(tag_error(arn))?;
    tags::list_reply(ctx, p, "policy-tags", tags)
}
