//! IAM users: CreateUser, GetUser, ListUsers, UpdateUser, DeleteUser.

use iamd_domain::entities::User;
use iamd_domain::{ApiError, ErrorCode, ids};
use iamd_store::{Dependent, Entity, StoreError};
use serde::Serialize;

use super::attachments::scope_missing;
use super::{Ctx, Reply, managed_policies, pagination, tags};
use crate::failure::store_failure;
use crate::wire::params::Params;
use crate::wire::shapes::{self, Truncation};

fn already_exists(name: &str) -> ApiError {
    ApiError::new(ErrorCode::EntityAlreadyExists, format!("User with name {name} already exists."))
}

/// Loads a user or answers `NoSuchEntity` with AWS's message.
pub async fn load_user(ctx: &Ctx<'_>, name: &str) -> Result<User, ApiError> {
    ctx.app
        .store
        .get_user(ctx.account(), name)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| ApiError::no_such_user(name))
}

#[derive(Serialize)]
struct UserResult {
    #[serde(rename = "User")]
    user: shapes::User,
}

pub async fn create_user(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let name = p.required("UserName")?;
    let path = p.get("Path").unwrap_or("/");
    let boundary = p.get("PermissionsBoundary");
    if let Some(arn) = boundary {
        managed_policies::owner_of(ctx, arn, scope_missing)?;
    }
    let tags = p.tags("Tags");
    tags::reject_duplicate_keys(&tags)?;
    let user = User {
        account_id: ctx.account().to_owned(),
        user_id: ids::new_user_id(),
        name: name.to_owned(),
        path: path.to_owned(),
        created_at: ctx.now_unix(),
        password_last_used: None,
        tags,
        permissions_boundary: boundary.map(str::to_owned),
    };
    let limit = ctx.app.limits.users_per_account;
    match ctx.app.store.create_user(&user, limit).await {
        Ok(()) => {}
        Err(StoreError::AlreadyExists(_)) => return Err(already_exists(name)),
        Err(StoreError::LimitExceeded) => return Err(ApiError::quota("UsersPerAccount", limit)),
        Err(StoreError::NotFound(Entity::Policy)) => return Err(scope_missing(boundary.unwrap_or_default())),
        Err(e) => return Err(store_failure(e)),
    }
    ctx.reply(&UserResult { user: shapes::User::new(user, true) })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RootUser {
    user_id: String,
    arn: String,
    create_date: String,
}

#[derive(Serialize)]
struct RootUserResult {
    #[serde(rename = "User")]
    user: RootUser,
}

pub async fn get_user(ctx: &Ctx<'_>, p: &Params) -> Reply {
    if ctx.caller.is_root() && p.get("UserName").is_none() {
        // Root asking about itself: AWS answers with the account as the user.
        return ctx.reply(&RootUserResult {
            user: RootUser {
                user_id: ctx.account().to_owned(),
                arn: ids::root_arn(ctx.account()),
                create_date: shapes::timestamp(account_created(ctx).await?),
            },
        });
    }
    let user = load_user(ctx, &ctx.target_user_name(p)?).await?;
    ctx.reply(&UserResult { user: shapes::User::new(user, true) })
}

async fn account_created(ctx: &Ctx<'_>) -> Result<i64, ApiError> {
    let key = ctx.app.store.find_access_key(&ctx.caller.access_key_id).await.map_err(store_failure)?;
    Ok(key.map(|k| k.created_at).unwrap_or_default())
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListUsersResult {
    users: shapes::Members<shapes::User>,
    is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

pub async fn list_users(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let page = pagination::page(p, "users")?;
    let prefix = p.get("PathPrefix").unwrap_or("/");
    let users = ctx.app.store.list_users(ctx.account(), prefix, &page).await.map_err(store_failure)?;
    let (users, Truncation { is_truncated, marker }) =
        pagination::finish(users, &page, "users", |u| u.name.to_lowercase());
    ctx.reply(&ListUsersResult {
        users: users.into_iter().map(|u| shapes::User::new(u, false)).collect::<Vec<_>>().into(),
        is_truncated,
        marker,
    })
}

pub async fn update_user(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let name = p.required("UserName")?;
    let new_name = p.get("NewUserName");
    match ctx.app.store.update_user(ctx.account(), name, new_name, p.get("NewPath")).await {
        Ok(()) => {
            // Cached callers carry the user's name and path.
            ctx.app.credentials.clear();
            Ok(None)
        }
        Err(StoreError::NotFound(_)) => Err(ApiError::no_such_user(name)),
        Err(StoreError::AlreadyExists(_)) => Err(already_exists(new_name.unwrap_or(name))),
        Err(e) => Err(store_failure(e)),
    }
}

pub async fn delete_user(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let name = p.required("UserName")?;
    let conflict = |what: &str| {
        ApiError::new(ErrorCode::DeleteConflict, format!("Cannot delete entity, must delete {what} first."))
    };
    match ctx.app.store.delete_user(ctx.account(), name).await {
        Ok(()) => {
            // The user's STS sessions went with it.
            ctx.app.credentials.clear();
            Ok(None)
        }
        Err(StoreError::NotFound(Entity::User)) => Err(ApiError::no_such_user(name)),
        Err(StoreError::DeleteConflict(Dependent::LoginProfile)) => Err(conflict("login profile")),
        Err(StoreError::DeleteConflict(Dependent::AccessKeys)) => Err(conflict("access keys")),
        Err(StoreError::DeleteConflict(Dependent::MfaDevices)) => Err(conflict("MFA device")),
        Err(StoreError::DeleteConflict(Dependent::Policies)) => Err(conflict("policies")),
        Err(StoreError::DeleteConflict(Dependent::Attachments)) => {
            Err(ApiError::new(ErrorCode::DeleteConflict, "Cannot delete entity, must detach all policies first."))
        }
        // AWS's wording for a user still in groups (the same text as DeleteGroup's).
        Err(StoreError::DeleteConflict(Dependent::Groups)) => {
            Err(ApiError::new(ErrorCode::DeleteConflict, "Cannot delete entity, must remove users from group first."))
        }
        Err(e) => Err(store_failure(e)),
    }
}
