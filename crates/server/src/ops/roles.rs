//! IAM roles: CreateRole, GetRole, ListRoles, UpdateRole, UpdateRoleDescription,
//! UpdateAssumeRolePolicy, DeleteRole, TagRole, UntagRole, ListRoleTags. Role names are unique
//! per account without regard to case. A role's trust policy (`AssumeRolePolicyDocument`) says
//! who may assume it (STS AssumeRole, see `sts`); its inline and attached policies (see
//! `inline_policies`, `attachments`) what its sessions may do.

use iamd_domain::entities::{Role, policy_size};
use iamd_domain::{ApiError, ErrorCode, ids};
use iamd_policy::PolicyKind;
use iamd_store::{Dependent, Entity, StoreError};
use serde::Serialize;

use super::attachments::scope_missing;
use super::{Ctx, Reply, managed_policies, pagination, policy_documents, tags};
use crate::failure::store_failure;
use crate::wire::params::Params;
use crate::wire::shapes::{self, Boundary, Members, Tag, Truncation};

/// AWS's quota of tags per role.
const MAX_TAGS_PER_ROLE: usize = 50;
/// A role's session length when CreateRole does not say (seconds).
const DEFAULT_MAX_SESSION_DURATION: i64 = 3600;

/// `NoSuchEntity` for a role, with AWS's message.
pub fn no_such_role(name: &str) -> ApiError {
    ApiError::new(ErrorCode::NoSuchEntity, format!("The role with name {name} cannot be found."))
}

fn not_found_as_no_such_role(name: &str) -> impl Fn(StoreError) -> ApiError + '_ {
    move |e| match e {
        StoreError::NotFound(Entity::Role) => no_such_role(name),
        StoreError::LimitExceeded => ApiError::quota("TagsPerRole", MAX_TAGS_PER_ROLE as u32),
        other => store_failure(other),
    }
}

/// Checks a trust policy: AWS's grammar for trust policies, then the `ACLSizePerRole` quota.
fn validate_trust_policy(ctx: &Ctx<'_>, document: &str) -> Result<(), ApiError> {
    policy_documents::validate(document, PolicyKind::Trust)?;
    let limit = ctx.app.limits.trust_policy_chars;
    if policy_size(document) > limit {
        return Err(ApiError::quota("ACLSizePerRole", limit as u32));
    }
    Ok(())
}

/// The model's `RoleLastUsed` shape (empty when no session of the role was opened).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleLastUsed {
    #[serde(skip_serializing_if = "Option::is_none")]
    last_used_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<&'static str>,
}

impl RoleLastUsed {
    pub fn of(role: &Role) -> Self {
        RoleLastUsed {
            last_used_date: role.last_used_at.map(shapes::timestamp),
            region: role.last_used_at.map(|_| "us-east-1"),
        }
    }
}

/// The model's `Role` shape. ListRoles leaves out the boundary, tags and last use, as AWS does.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RoleShape {
    path: String,
    role_name: String,
    role_id: String,
    arn: String,
    create_date: String,
    assume_role_policy_document: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    max_session_duration: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions_boundary: Option<Boundary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Members<Tag>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_last_used: Option<RoleLastUsed>,
}

impl RoleShape {
    /// The role in full (`listed` false: GetRole, CreateRole, UpdateRoleDescription) or as
    /// ListRoles shows it.
    fn new(role: Role, listed: bool) -> Self {
        let full = !listed;
        RoleShape {
            arn: ids::role_arn(&role.account_id, &role.path, &role.name),
            role_last_used: full.then(|| RoleLastUsed::of(&role)),
            create_date: shapes::timestamp(role.created_at),
            assume_role_policy_document: policy_documents::encode(&role.trust_policy),
            permissions_boundary: role.permissions_boundary.filter(|_| full).map(Boundary::policy),
            tags: (full && !role.tags.is_empty())
                .then(|| role.tags.into_iter().map(Tag::from).collect::<Vec<_>>().into()),
            path: role.path,
            role_name: role.name,
            role_id: role.role_id,
            description: role.description,
            max_session_duration: role.max_session_duration,
        }
    }
}

#[derive(Serialize)]
struct RoleResult {
    #[serde(rename = "Role")]
    role: RoleShape,
}

async fn load_role(ctx: &Ctx<'_>, name: &str) -> Result<Role, ApiError> {
    ctx.app.store.get_role(ctx.account(), name).await.map_err(store_failure)?.ok_or_else(|| no_such_role(name))
}

pub async fn create_role(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let name = p.required("RoleName")?;
    let trust_policy = p.required("AssumeRolePolicyDocument")?;
    validate_trust_policy(ctx, trust_policy)?;
    let boundary = p.get("PermissionsBoundary");
    if let Some(arn) = boundary {
        managed_policies::owner_of(ctx, arn, scope_missing)?;
    }
    let tags = p.tags("Tags");
    tags::reject_duplicate_keys(&tags)?;
    let max_session_duration = match p.get("MaxSessionDuration") {
        // The model has checked the range (3600–43200).
        Some(seconds) => seconds.parse().map_err(|_| ApiError::validation("MaxSessionDuration must be a number"))?,
        None => DEFAULT_MAX_SESSION_DURATION,
    };
    let role = Role {
        account_id: ctx.account().to_owned(),
        role_id: ids::new_role_id(),
        name: name.to_owned(),
        path: p.get("Path").unwrap_or("/").to_owned(),
        trust_policy: trust_policy.to_owned(),
        description: p.get("Description").map(str::to_owned),
        max_session_duration,
        created_at: ctx.now_unix(),
        last_used_at: None,
        permissions_boundary: boundary.map(str::to_owned),
        tags,
    };
    let limit = ctx.app.limits.roles_per_account;
    match ctx.app.store.create_role(&role, limit).await {
        Ok(()) => {}
        Err(StoreError::AlreadyExists(_)) => {
            return Err(ApiError::new(
                ErrorCode::EntityAlreadyExists,
                format!("Role with name {name} already exists."),
            ));
        }
        Err(StoreError::LimitExceeded) => return Err(ApiError::quota("RolesPerAccount", limit)),
        Err(StoreError::NotFound(Entity::Policy)) => return Err(scope_missing(boundary.unwrap_or_default())),
        Err(e) => return Err(store_failure(e)),
    }
    let mut shape = RoleShape::new(role, false);
    // CreateRole answers without RoleLastUsed.
    shape.role_last_used = None;
    ctx.reply(&RoleResult { role: shape })
}

pub async fn get_role(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let role = load_role(ctx, p.required("RoleName")?).await?;
    ctx.reply(&RoleResult { role: RoleShape::new(role, false) })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListRolesResult {
    roles: Members<RoleShape>,
    is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

pub async fn list_roles(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let page = pagination::page(p, "roles")?;
    let prefix = p.get("PathPrefix").unwrap_or("/");
    let list = ctx.app.store.list_roles(ctx.account(), prefix, &page).await.map_err(store_failure)?;
    let (list, Truncation { is_truncated, marker }) =
        pagination::finish(list, &page, "roles", |r| r.name.to_lowercase());
    let roles = list.into_iter().map(|r| RoleShape::new(r, true)).collect::<Vec<_>>();
    ctx.reply(&ListRolesResult { roles: roles.into(), is_truncated, marker })
}

pub async fn update_role(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let name = p.required("RoleName")?;
    let duration = match p.get("MaxSessionDuration") {
        Some(seconds) => {
            Some(seconds.parse().map_err(|_| ApiError::validation("MaxSessionDuration must be a number"))?)
        }
        None => None,
    };
    let description = p.get("Description").map(Some);
    ctx.app
        .store
        .update_role(ctx.account(), name, description, duration)
        .await
        .map_err(not_found_as_no_such_role(name))?;
    // The one IAM operation whose output is an empty structure: its result element is present.
    ctx.reply(&UpdateRoleResult {})
}

#[derive(Serialize)]
struct UpdateRoleResult {}

pub async fn update_role_description(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let name = p.required("RoleName")?;
    let description = p.required("Description")?;
    let store = &ctx.app.store;
    store
        .update_role(ctx.account(), name, Some(Some(description)), None)
        .await
        .map_err(not_found_as_no_such_role(name))?;
    let role = load_role(ctx, name).await?;
    ctx.reply(&RoleResult { role: RoleShape::new(role, false) })
}

pub async fn update_assume_role_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let name = p.required("RoleName")?;
    let document = p.required("PolicyDocument")?;
    validate_trust_policy(ctx, document)?;
    ctx.app.store.update_trust_policy(ctx.account(), name, document).await.map_err(not_found_as_no_such_role(name))?;
    Ok(None)
}

pub async fn delete_role(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let name = p.required("RoleName")?;
    let conflict = |message: &str| ApiError::new(ErrorCode::DeleteConflict, message);
    match ctx.app.store.delete_role(ctx.account(), name).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Err(no_such_role(name)),
        Err(StoreError::DeleteConflict(Dependent::Policies)) => {
            return Err(conflict("Cannot delete entity, must delete policies first."));
        }
        Err(StoreError::DeleteConflict(Dependent::Attachments)) => {
            return Err(conflict("Cannot delete entity, must detach all policies first."));
        }
        Err(e) => return Err(store_failure(e)),
    }
    // Sessions of the role stay valid until they expire; cached ones must lose its policies.
    ctx.app.credentials.clear();
    Ok(None)
}

pub async fn tag_role(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let name = p.required("RoleName")?;
    let tags = p.tags("Tags");
    tags::reject_duplicate_keys(&tags)?;
    ctx.app
        .store
        .tag_role(ctx.account(), name, &tags, MAX_TAGS_PER_ROLE)
        .await
        .map_err(not_found_as_no_such_role(name))?;
    // Cached role sessions carry the role's tags (for `aws:PrincipalTag`).
    ctx.app.credentials.clear();
    Ok(None)
}

pub async fn untag_role(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let name = p.required("RoleName")?;
    let keys: Vec<String> = p.list("TagKeys").into_iter().map(str::to_owned).collect();
    ctx.app.store.untag_role(ctx.account(), name, &keys).await.map_err(not_found_as_no_such_role(name))?;
    ctx.app.credentials.clear();
    Ok(None)
}

pub async fn list_role_tags(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let name = p.required("RoleName")?;
    let tags = ctx.app.store.role_tags(ctx.account(), name).await.map_err(not_found_as_no_such_role(name))?;
    tags::list_reply(ctx, p, "role-tags", tags)
}
