//! Attaching managed policies to users and groups, the entities of a policy, and permissions
//! boundaries: AttachUserPolicy, DetachUserPolicy, ListAttachedUserPolicies, AttachGroupPolicy,
//! DetachGroupPolicy, ListAttachedGroupPolicies, ListEntitiesForPolicy,
//! PutUserPermissionsBoundary, DeleteUserPermissionsBoundary.
//!
//! A policy can be attached when it is the account's own or AWS managed; anything else is
//! `NoSuchEntity` `Policy {arn} does not exist or is not attachable.`

use iamd_domain::entities::AttachedPolicy;
use iamd_domain::{ApiError, ErrorCode};
use iamd_store::{Entity, StoreError};
use serde::Serialize;

use super::managed_policies::{self, no_such_policy};
use super::{Ctx, Reply, pagination};
use crate::failure::store_failure;
use crate::wire::params::Params;
use crate::wire::shapes::{Members, Truncation};

fn not_attachable(arn: &str) -> ApiError {
    ApiError::new(ErrorCode::NoSuchEntity, format!("Policy {arn} does not exist or is not attachable."))
}

fn no_such_group(name: &str) -> ApiError {
    ApiError::new(ErrorCode::NoSuchEntity, format!("The group with name {name} cannot be found."))
}

/// Whom a request attaches to, detaches from or lists.
#[derive(Clone, Copy)]
enum Target {
    User,
    Group,
}

impl Target {
    fn param(self) -> &'static str {
        match self {
            Target::User => "UserName",
            Target::Group => "GroupName",
        }
    }

    fn quota(self) -> &'static str {
        match self {
            Target::User => "PoliciesPerUser",
            Target::Group => "PoliciesPerGroup",
        }
    }

    /// Maps a store error: the user or group, the policy (`policy_missing`), the quota.
    fn error<'a>(
        self,
        name: &'a str,
        arn: &'a str,
        policy_missing: fn(&str) -> ApiError,
        limit: u32,
    ) -> impl Fn(StoreError) -> ApiError + 'a {
        move |e| match e {
            StoreError::NotFound(Entity::User) => ApiError::no_such_user(name),
            StoreError::NotFound(Entity::Group) => no_such_group(name),
            StoreError::NotFound(_) => policy_missing(arn),
            StoreError::LimitExceeded => ApiError::quota(self.quota(), limit),
            other => store_failure(other),
        }
    }
}

async fn attach(ctx: &Ctx<'_>, p: &Params, target: Target) -> Reply {
    let name = p.required(target.param())?;
    let arn = p.required("PolicyArn")?;
    managed_policies::owner_of(ctx, arn, not_attachable)?;
    let (store, account) = (&ctx.app.store, ctx.account());
    let (result, limit) = match target {
        Target::User => {
            let limit = ctx.app.limits.policies_per_user;
            (store.attach_user_policy(account, name, arn, limit).await, limit)
        }
        Target::Group => {
            let limit = ctx.app.limits.policies_per_group;
            (store.attach_group_policy(account, name, arn, limit).await, limit)
        }
    };
    result.map_err(target.error(name, arn, not_attachable, limit))?;
    // Cached callers may carry what applies to them.
    ctx.app.credentials.clear();
    Ok(None)
}

async fn detach(ctx: &Ctx<'_>, p: &Params, target: Target) -> Reply {
    let name = p.required(target.param())?;
    let arn = p.required("PolicyArn")?;
    managed_policies::owner_of(ctx, arn, no_such_policy)?;
    let store = &ctx.app.store;
    let result = match target {
        Target::User => store.detach_user_policy(ctx.account(), name, arn).await,
        Target::Group => store.detach_group_policy(ctx.account(), name, arn).await,
    };
    result.map_err(target.error(name, arn, no_such_policy, 0))?;
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

async fn list_attached(ctx: &Ctx<'_>, p: &Params, target: Target) -> Reply {
    let name = p.required(target.param())?;
    let page = pagination::page(p, "attached-policies")?;
    let store = &ctx.app.store;
    let attached = match target {
        Target::User => store.list_attached_user_policies(ctx.account(), name).await,
        Target::Group => store.list_attached_group_policies(ctx.account(), name).await,
    };
    let attached = attached.map_err(target.error(name, "", no_such_policy, 0))?;
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
    attach(ctx, p, Target::User).await
}

pub async fn detach_user_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    detach(ctx, p, Target::User).await
}

pub async fn list_attached_user_policies(ctx: &Ctx<'_>, p: &Params) -> Reply {
    list_attached(ctx, p, Target::User).await
}

pub async fn attach_group_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    attach(ctx, p, Target::Group).await
}

pub async fn detach_group_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    detach(ctx, p, Target::Group).await
}

pub async fn list_attached_group_policies(ctx: &Ctx<'_>, p: &Params) -> Reply {
    list_attached(ctx, p, Target::Group).await
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
struct ListEntitiesForPolicyResult {
    policy_groups: Members<PolicyGroup>,
    policy_users: Members<PolicyUser>,
    policy_roles: Members<()>,
    is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

/// One entity of a policy, for paging groups and users as one list (groups first).
enum PolicyEntity {
    Group(String, String),
    User(String, String),
}

impl PolicyEntity {
    fn sort_key(&self) -> String {
        match self {
            PolicyEntity::Group(name, _) => format!("1{}", name.to_lowercase()),
            PolicyEntity::User(name, _) => format!("2{}", name.to_lowercase()),
        }
    }
}

/// ListEntitiesForPolicy: the account's users and groups the policy is attached to (iamd has no
/// roles). `EntityFilter` picks one kind (`Role` and the policy kinds find nothing);
/// `PolicyUsageFilter=PermissionsBoundary` finds nothing, as boundaries are not listed here.
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
    let boundaries_only = p.get("PolicyUsageFilter") == Some("PermissionsBoundary");
    let mut all = Vec::new();
    if !boundaries_only && filter.is_none_or(|f| f == "Group") {
        all.extend(entities.groups.into_iter().map(|(name, id)| PolicyEntity::Group(name, id)));
    }
    if !boundaries_only && filter.is_none_or(|f| f == "User") {
        all.extend(entities.users.into_iter().map(|(name, id)| PolicyEntity::User(name, id)));
    }
    let (all, Truncation { is_truncated, marker }) =
        pagination::in_memory(all, &page, "policy-entities", PolicyEntity::sort_key);
    let (mut groups, mut users) = (Vec::new(), Vec::new());
    for entity in all {
        match entity {
            PolicyEntity::Group(group_name, group_id) => groups.push(PolicyGroup { group_name, group_id }),
            PolicyEntity::User(user_name, user_id) => users.push(PolicyUser { user_name, user_id }),
        }
    }
    ctx.reply(&ListEntitiesForPolicyResult {
        policy_groups: groups.into(),
        policy_users: users.into(),
        policy_roles: Vec::new().into(),
        is_truncated,
        marker,
    })
}

pub async fn put_user_permissions_boundary(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let name = p.required("UserName")?;
    let arn = p.required("PermissionsBoundary")?;
    let scope_missing = |arn: &str| {
        ApiError::new(ErrorCode::NoSuchEntity, format!("Scope ARN: {arn} does not exist or is not attachable."))
    };
    managed_policies::owner_of(ctx, arn, scope_missing)?;
    match ctx.app.store.put_user_permissions_boundary(ctx.account(), name, arn).await {
        Ok(()) => {}
        Err(StoreError::NotFound(Entity::User)) => return Err(ApiError::no_such_user(name)),
        Err(StoreError::NotFound(_)) => return Err(scope_missing(arn)),
        Err(e) => return Err(store_failure(e)),
    }
    ctx.app.credentials.clear();
    Ok(None)
}

pub async fn delete_user_permissions_boundary(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let name = p.required("UserName")?;
    match ctx.app.store.delete_user_permissions_boundary(ctx.account(), name).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Err(ApiError::no_such_user(name)),
        Err(e) => return Err(store_failure(e)),
    }
    ctx.app.credentials.clear();
    Ok(None)
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
