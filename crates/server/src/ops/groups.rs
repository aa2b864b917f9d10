//! IAM groups and their members: CreateGroup, GetGroup, ListGroups, UpdateGroup, DeleteGroup,
//! AddUserToGroup, RemoveUserFromGroup, ListGroupsForUser. Group names are unique per account
//! without regard to case; a user is in at most `groups_per_user` groups.

use iamd_domain::entities::Group;
use iamd_domain::{ApiError, ErrorCode, ids};
use iamd_store::{Dependent, Entity, StoreError};
use serde::Serialize;

use super::{Ctx, Reply, pagination};
use crate::failure::store_failure;
use crate::wire::params::Params;
use crate::wire::shapes::{self, Members, Truncation};

/// `NoSuchEntity` for a group, with AWS's message.
pub fn no_such_group(name: &str) -> ApiError {
    ApiError::new(ErrorCode::NoSuchEntity, format!("The group with name {name} cannot be found."))
}

fn already_exists(name: &str) -> ApiError {
    ApiError::new(ErrorCode::EntityAlreadyExists, format!("Group with name {name} already exists."))
}

/// The model's `Group` shape.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupShape {
    pub path: String,
    pub group_name: String,
    pub group_id: String,
    pub arn: String,
    pub create_date: String,
}

impl From<Group> for GroupShape {
    fn from(g: Group) -> Self {
        GroupShape {
            arn: ids::group_arn(&g.account_id, &g.path, &g.name),
            path: g.path,
            group_name: g.name,
            group_id: g.group_id,
            create_date: shapes::timestamp(g.created_at),
        }
    }
}

fn groups(list: Vec<Group>) -> Members<GroupShape> {
    list.into_iter().map(GroupShape::from).collect::<Vec<_>>().into()
}

/// Store errors of the group operations: a missing group or user, and the membership quota.
fn group_error<'a>(ctx: &'a Ctx<'_>, group: &'a str, user: &'a str) -> impl Fn(StoreError) -> ApiError + 'a {
    move |e| match e {
        StoreError::NotFound(Entity::Group) => no_such_group(group),
        StoreError::NotFound(Entity::User) => ApiError::no_such_user(user),
        StoreError::LimitExceeded => ApiError::quota("GroupsPerUser", ctx.app.limits.groups_per_user),
        other => store_failure(other),
    }
}

#[derive(Serialize)]
struct CreateGroupResult {
    #[serde(rename = "Group")]
    group: GroupShape,
}

pub async fn create_group(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let name = p.required("GroupName")?;
    let group = Group {
        account_id: ctx.account().to_owned(),
        group_id: ids::new_group_id(),
        name: name.to_owned(),
        path: p.get("Path").unwrap_or("/").to_owned(),
        created_at: ctx.now_unix(),
    };
    let limit = ctx.app.limits.groups_per_account;
    match ctx.app.store.create_group(&group, limit).await {
        Ok(()) => ctx.reply(&CreateGroupResult { group: group.into() }),
        Err(StoreError::AlreadyExists(_)) => Err(already_exists(name)),
        Err(StoreError::LimitExceeded) => Err(ApiError::quota("GroupsPerAccount", limit)),
        Err(e) => Err(store_failure(e)),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetGroupResult {
    group: GroupShape,
    users: Members<shapes::User>,
    is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

pub async fn get_group(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let name = p.required("GroupName")?;
    let page = pagination::page(p, "group-users")?;
    let group = ctx.app.store.get_group(ctx.account(), name).await.map_err(store_failure)?;
    let group = group.ok_or_else(|| no_such_group(name))?;
    let members = ctx.app.store.list_group_members(ctx.account(), &group.name).await.map_err(|e| match e {
        // Deleted between the two reads.
        StoreError::NotFound(_) => no_such_group(name),
        other => store_failure(other),
    })?;
    let (members, Truncation { is_truncated, marker }) =
        pagination::in_memory(members, &page, "group-users", |u| u.name.to_lowercase());
    ctx.reply(&GetGroupResult {
        group: group.into(),
        users: members.into_iter().map(|u| shapes::User::new(u, false)).collect::<Vec<_>>().into(),
        is_truncated,
        marker,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListGroupsResult {
    groups: Members<GroupShape>,
    is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

pub async fn list_groups(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let page = pagination::page(p, "groups")?;
    let prefix = p.get("PathPrefix").unwrap_or("/");
    let list = ctx.app.store.list_groups(ctx.account(), prefix, &page).await.map_err(store_failure)?;
    let (list, Truncation { is_truncated, marker }) =
        pagination::finish(list, &page, "groups", |g| g.name.to_lowercase());
    ctx.reply(&ListGroupsResult { groups: groups(list), is_truncated, marker })
}

pub async fn update_group(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let name = p.required("GroupName")?;
    let new_name = p.get("NewGroupName");
    match ctx.app.store.update_group(ctx.account(), name, new_name, p.get("NewPath")).await {
        Ok(()) => {
            // Cached callers may carry their groups' policies, named by group.
            ctx.app.credentials.clear();
            Ok(None)
        }
        Err(StoreError::NotFound(_)) => Err(no_such_group(name)),
        Err(StoreError::AlreadyExists(_)) => Err(already_exists(new_name.unwrap_or(name))),
        Err(e) => Err(store_failure(e)),
    }
}

pub async fn delete_group(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let name = p.required("GroupName")?;
    let conflict = |message: &str| ApiError::new(ErrorCode::DeleteConflict, message);
    match ctx.app.store.delete_group(ctx.account(), name).await {
        Ok(()) => Ok(None),
        Err(StoreError::NotFound(_)) => Err(no_such_group(name)),
        Err(StoreError::DeleteConflict(Dependent::Members)) => {
            Err(conflict("Cannot delete entity, must remove users from group first."))
        }
        Err(StoreError::DeleteConflict(Dependent::Policies)) => {
            Err(conflict("Cannot delete entity, must delete policies first."))
        }
        Err(StoreError::DeleteConflict(Dependent::Attachments)) => {
            Err(conflict("Cannot delete entity, must detach all policies first."))
        }
        Err(e) => Err(store_failure(e)),
    }
}

pub async fn add_user_to_group(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let group = p.required("GroupName")?;
    let user = p.required("UserName")?;
    let limit = ctx.app.limits.groups_per_user;
    ctx.app.store.add_user_to_group(ctx.account(), group, user, limit).await.map_err(group_error(ctx, group, user))?;
    // The user's cached identity may carry its groups' policies.
    ctx.app.credentials.clear();
    Ok(None)
}

pub async fn remove_user_from_group(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let group = p.required("GroupName")?;
    let user = p.required("UserName")?;
    ctx.app.store.remove_user_from_group(ctx.account(), group, user).await.map_err(group_error(ctx, group, user))?;
    ctx.app.credentials.clear();
    Ok(None)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListGroupsForUserResult {
    groups: Members<GroupShape>,
    is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

pub async fn list_groups_for_user(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let user = p.required("UserName")?;
    let page = pagination::page(p, "user-groups")?;
    let list = ctx.app.store.list_groups_for_user(ctx.account(), user).await.map_err(|e| match e {
        StoreError::NotFound(_) => ApiError::no_such_user(user),
        other => store_failure(other),
    })?;
    let (list, Truncation { is_truncated, marker }) =
        pagination::in_memory(list, &page, "user-groups", |g| g.name.to_lowercase());
    ctx.reply(&ListGroupsForUserResult { groups: groups(list), is_truncated, marker })
}
