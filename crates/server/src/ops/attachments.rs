//! Attaching managed policies to users, groups and roles, the entities of a policy, and
//! permissions boundaries: Attach/Detach/ListAttached{User,Group,Role}Policy (ies),
//! ListEntitiesForPolicy, Put/Delete{User,Role}PermissionsBoundary.
//!
//! A policy can be attached when it is the account's own or AWS managed; anything else is
//! `NoSuchEntity` `Policy {arn} does not exist or is not attachable.`

use iamd_domain::entities::{AttachedPolicy, PolicyUse};
use iamd_domain::{ApiError, ErrorCode};
use iamd_store::{Entity, Holder, StoreError};
use serde::Serialize;

use super::holders::Named;
use super::managed_policies::{self, no_such_policy};
use super::{Ctx, Reply, pagination};
use crate::failure::store_failure;
use crate::wire::params::Params;
use crate::wire::shapes::{Members, Truncation};

fn not_attachable(arn: &str) -> ApiError {
    ApiError::new(ErrorCode::NoSuchEntity, format!("Policy {arn} does not exist or is not attachable."))
}

fn quota(ctx: &Ctx<'_>, holder: Holder) -> (&'static str, u32) {
    let limits = &ctx.app.limits;
    match holder {
        Holder::User => ("PoliciesPerUser", limits.policies_per_user),
        Holder::Group => ("PoliciesPerGroup", limits.policies_per_group),
        Holder::Role => ("PoliciesPerRole", limits.policies_per_role),
    }
}

/// Maps a store error: the holder, the policy (`policy_missing`), the quota.
fn error<'a>(
    ctx: &Ctx<'_>,
    owner: Named<'a>,
    arn: &'a str,
    policy_missing: fn(&str) -> ApiError,
) -> impl Fn(StoreError) -> ApiError + 'a {
    let (quota_name, limit) = quota(ctx, owner.holder);
    move |e| match e {
        StoreError::NotFound(Entity::User | Entity::Group | Entity::Role) => owner.not_found(),
        StoreError::NotFound(_) => policy_missing(arn),
        StoreError::LimitExceeded => ApiError::quota(quota_name, limit),
        other => store_failure(other),
    }
}

async fn attach(ctx: &Ctx<'_>, p: &Params, holder: Holder) -> Reply {
    let owner = Named::from_params(p, holder)?;
    let arn = p.required("PolicyArn")?;
    managed_policies::owner_of(ctx, arn, not_attachable)?;
    let limit = quota(ctx, holder).1;
    let attached = ctx.app.store.attach_policy(ctx.account(), holder, owner.name, arn, limit).await;
    attached.map_err(error(ctx, owner, arn, not_attachable))?;
    // Cached callers may carry what applies to them.
    ctx.app.credentials.clear();
    Ok(None)
}

async fn detach(ctx: &Ctx<'_>, p: &Params, holder: Holder) -> Reply {
    let owner = Named::from_params(p, holder)?;
    let arn = p.required("PolicyArn")?;
    managed_policies::owner_of(ctx, arn, no_such_policy)?;
    let detached = ctx.app.store.detach_policy(ctx.account(), holder, owner.name, arn).await;
    detached.map_err(error(ctx, owner, arn, no_such_policy))?;
    ctx.app.credentials.clear();
    Ok(None)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Attached {
    policy_name: String,
    policy_arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListAttachedResult {
    attached_policies: Members<Attached>,
    is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

/// The path of a policy ARN (`arn:aws:iam::ACCOUNT:policy/PATH/NAME` → `/PATH/`).
fn path_of(arn: &str) -> &str {
    let Some((_, rest)) = arn.split_once(":policy/") else { return "/" };
    match rest.rfind('/') {
        Some(end) => &arn[arn.len() - rest.len() - 1..arn.len() - rest.len() + end + 1],
        None => "/",
    }
}

async fn list_attached(ctx: &Ctx<'_>, p: &Params, holder: Holder) -> Reply {
    let owner = Named::from_params(p, holder)?;
    let page = pagination::page(p, "attached-policies")?;
    let attached = ctx.app.store.list_attached_policies(ctx.account(), holder, owner.name).await;
    let attached = attached.map_err(error(ctx, owner, "", no_such_policy))?;
    let prefix = p.get("PathPrefix").unwrap_or("/");
    let attached: Vec<AttachedPolicy> = attached.into_iter().filter(|a| path_of(&a.arn).starts_with(prefix)).collect();
    let (attached, Truncation { is_truncated, marker }) =
        pagination::in_memory(attached, &page, "attached-policies", |a| format!("{} {}", a.name.to_lowercase(), a.arn));
    ctx.reply(&ListAttachedResult {
        attached_policies: attached
            .into_iter()
            .map(|a| Attached { policy_name: a.name, policy_arn: a.arn })
            .collect::<Vec<_>>()
            .into(),
        is_truncated,
        marker,
    })
}

pub async fn attach_user_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    attach(ctx, p, Holder::User).await
}

pub async fn detach_user_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    detach(ctx, p, Holder::User).await
}

pub async fn list_attached_user_policies(ctx: &Ctx<'_>, p: &Params) -> Reply {
    list_attached(ctx, p, Holder::User).await
}

pub async fn attach_group_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    attach(ctx, p, Holder::Group).await
}

pub async fn detach_group_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    detach(ctx, p, Holder::Group).await
}

pub async fn list_attached_group_policies(ctx: &Ctx<'_>, p: &Params) -> Reply {
    list_attached(ctx, p, Holder::Group).await
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PolicyGroup {
    group_name: String,
    group_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PolicyUser {
    user_name: String,
    user_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PolicyRole {
    role_name: String,
    role_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListEntitiesForPolicyResult {
    policy_groups: Members<PolicyGroup>,
    policy_users: Members<PolicyUser>,
    policy_roles: Members<PolicyRole>,
    is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

/// One entity of a policy, for paging groups, users and roles as one list (in that order).
enum PolicyEntity {
    Group(PolicyUse),
    User(PolicyUse),
    Role(PolicyUse),
}

impl PolicyEntity {
    fn sort_key(&self) -> String {
        match self {
            PolicyEntity::Group(u) => format!("1{}", u.name.to_lowercase()),
            PolicyEntity::User(u) => format!("2{}", u.name.to_lowercase()),
            PolicyEntity::Role(u) => format!("3{}", u.name.to_lowercase()),
        }
    }
}

/// ListEntitiesForPolicy: the account's users, groups and roles that use the policy — attached,
/// or as their permissions boundary — whose path starts with `PathPrefix`. `EntityFilter` picks
/// one kind (the policy kinds find nothing); `PolicyUsageFilter` one use (`PermissionsPolicy`:
/// attached, `PermissionsBoundary`: boundary; both without it).
pub async fn list_entities_for_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let arn = p.required("PolicyArn")?;
    managed_policies::owner_of(ctx, arn, no_such_policy)?;
    let page = pagination::page(p, "policy-entities")?;
    let entities = match ctx.app.store.list_entities_for_policy(ctx.account(), arn).await {
        Ok(entities) => entities,
        Err(StoreError::NotFound(_)) => return Err(no_such_policy(arn)),
        Err(e) => return Err(store_failure(e)),
    };
    let filter = p.get("EntityFilter");
    let prefix = p.get("PathPrefix").unwrap_or("/");
    let usage = p.get("PolicyUsageFilter");
    let wanted = |u: &PolicyUse| {
        let used = match usage {
            Some("PermissionsPolicy") => u.attached,
            Some("PermissionsBoundary") => u.boundary,
            _ => true,
        };
        used && u.path.starts_with(prefix)
    };
    let mut all = Vec::new();
    if filter.is_none_or(|f| f == "Group") {
        all.extend(entities.groups.into_iter().filter(wanted).map(PolicyEntity::Group));
    }
    if filter.is_none_or(|f| f == "User") {
        all.extend(entities.users.into_iter().filter(wanted).map(PolicyEntity::User));
    }
    if filter.is_none_or(|f| f == "Role") {
        all.extend(entities.roles.into_iter().filter(wanted).map(PolicyEntity::Role));
    }
    let (all, Truncation { is_truncated, marker }) =
        pagination::in_memory(all, &page, "policy-entities", PolicyEntity::sort_key);
    let (mut groups, mut users, mut roles) = (Vec::new(), Vec::new(), Vec::new());
    for entity in all {
        match entity {
            PolicyEntity::Group(u) => groups.push(PolicyGroup { group_name: u.name, group_id: u.id }),
            PolicyEntity::User(u) => users.push(PolicyUser { user_name: u.name, user_id: u.id }),
            PolicyEntity::Role(u) => roles.push(PolicyRole { role_name: u.name, role_id: u.id }),
        }
    }
    ctx.reply(&ListEntitiesForPolicyResult {
        policy_groups: groups.into(),
        policy_users: users.into(),
        policy_roles: roles.into(),
        is_truncated,
        marker,
    })
}

/// `NoSuchEntity` for a boundary that is not an attachable policy, with AWS's message.
pub fn scope_missing(arn: &str) -> ApiError {
    ApiError::new(ErrorCode::NoSuchEntity, format!("Scope ARN: {arn} does not exist or is not attachable."))
}

async fn put_boundary(ctx: &Ctx<'_>, p: &Params, holder: Holder) -> Reply {
    let owner = Named::from_params(p, holder)?;
    let arn = p.required("PermissionsBoundary")?;
    managed_policies::owner_of(ctx, arn, scope_missing)?;
    let put = ctx.app.store.put_permissions_boundary(ctx.account(), holder, owner.name, arn).await;
    put.map_err(error(ctx, owner, arn, scope_missing))?;
    ctx.app.credentials.clear();
    Ok(None)
}

async fn delete_boundary(ctx: &Ctx<'_>, p: &Params, holder: Holder) -> Reply {
    let owner = Named::from_params(p, holder)?;
    let deleted = ctx.app.store.delete_permissions_boundary(ctx.account(), holder, owner.name).await;
    deleted.map_err(error(ctx, owner, "", scope_missing))?;
    ctx.app.credentials.clear();
    Ok(None)
}

pub async fn put_user_permissions_boundary(ctx: &Ctx<'_>, p: &Params) -> Reply {
    put_boundary(ctx, p, Holder::User).await
}

pub async fn delete_user_permissions_boundary(ctx: &Ctx<'_>, p: &Params) -> Reply {
    delete_boundary(ctx, p, Holder::User).await
}

pub async fn attach_role_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    attach(ctx, p, Holder::Role).await
}

pub async fn detach_role_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    detach(ctx, p, Holder::Role).await
}

pub async fn list_attached_role_policies(ctx: &Ctx<'_>, p: &Params) -> Reply {
    list_attached(ctx, p, Holder::Role).await
}

pub async fn put_role_permissions_boundary(ctx: &Ctx<'_>, p: &Params) -> Reply {
    put_boundary(ctx, p, Holder::Role).await
}

pub async fn delete_role_permissions_boundary(ctx: &Ctx<'_>, p: &Params) -> Reply {
    delete_boundary(ctx, p, Holder::Role).await
}

#[cfg(test)]
mod tests {
    use super::path_of;

    #[test]
    fn paths_of_policy_arns() {
        assert_eq!(path_of("arn:aws:iam::123456789012:policy/p"), "/");
        assert_eq!(path_of("arn:aws:iam::123456789012:policy/a/b/p"), "/a/b/");
        assert_eq!(path_of("arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"), "/job-function/");
    }
}
