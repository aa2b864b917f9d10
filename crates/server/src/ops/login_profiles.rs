//! Console passwords: CreateLoginProfile, GetLoginProfile, UpdateLoginProfile,
//! DeleteLoginProfile and ChangePassword.

use iamd_domain::{ApiError, ErrorCode};
use iamd_store::{Entity, StoreError};
use serde::Serialize;

use super::users::load_user;
use super::{Ctx, Reply};
use crate::auth::password;
use crate::failure::store_failure;
use crate::wire::params::Params;
use crate::wire::shapes::timestamp;

fn no_profile(user: &str) -> ApiError {
    ApiError::new(ErrorCode::NoSuchEntity, format!("Login Profile for User {user} cannot be found."))
}

fn profile_error(user: &str) -> impl Fn(StoreError) -> ApiError + '_ {
    move |e| match e {
        StoreError::NotFound(Entity::User) => ApiError::no_such_user(user),
        StoreError::NotFound(_) => no_profile(user),
        StoreError::AlreadyExists(_) => {
            ApiError::new(ErrorCode::EntityAlreadyExists, format!("Login Profile for user {user} already exists."))
        }
        other => store_failure(other),
    }
}

/// Hashes `new_password` if it satisfies the account's policy (or AWS's default rules).
async fn hash_conforming(ctx: &Ctx<'_>, user: &str, new_password: &str) -> Result<String, ApiError> {
    password::hash_conforming(ctx.app, ctx.account(), user, new_password).await
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct LoginProfile {
    user_name: String,
    create_date: String,
    password_reset_required: bool,
}

#[derive(Serialize)]
struct LoginProfileResult {
    #[serde(rename = "LoginProfile")]
    login_profile: LoginProfile,
}

pub async fn create_login_profile(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let user = ctx.target_user_name(p)?;
    let new_password = p.required("Password")?;
    let reset_required = p.get("PasswordResetRequired") == Some("true");
    let hash = hash_conforming(ctx, &user, new_password).await?;
    let profile = ctx
        .app
        .store
        .create_login_profile(ctx.account(), &user, &hash, reset_required, ctx.now_unix())
        .await
        .map_err(profile_error(&user))?;
    ctx.reply(&LoginProfileResult {
        login_profile: LoginProfile {
            user_name: profile.user.name,
            create_date: timestamp(profile.created_at),
            password_reset_required: profile.reset_required,
        },
    })
}

pub async fn get_login_profile(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let user = ctx.target_user_name(p)?;
    let profile = ctx.app.store.get_login_profile(ctx.account(), &user).await.map_err(profile_error(&user))?;
    ctx.reply(&LoginProfileResult {
        login_profile: LoginProfile {
            user_name: profile.user.name,
            create_date: timestamp(profile.created_at),
            password_reset_required: profile.reset_required,
        },
    })
}

pub async fn update_login_profile(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let user = p.required("UserName")?;
    let hash = match p.get("Password") {
        Some(new_password) => Some(hash_conforming(ctx, user, new_password).await?),
        None => None,
    };
    // Whose sessions a new password ends: looked up before the change, so a rename in between
    // makes the change itself fail rather than miss the sessions.
    let user_id = match hash {
        Some(_) => Some(load_user(ctx, user).await?.user_id),
        None => None,
    };
    let reset_required = p.get("PasswordResetRequired").map(|v| v == "true");
    ctx.app
        .store
        .update_login_profile(ctx.account(), user, hash.as_deref(), reset_required, ctx.now_unix())
        .await
        .map_err(profile_error(user))?;
    if let Some(user_id) = user_id {
        end_console_sessions(ctx, &user_id).await?;
    }
    Ok(None)
}

/// iamd's rule (docs/behaviour.md §4): a password changed by anyone, through the API, ends
/// every console session of the user, so an administrator's reset locks out whoever knew the
/// old one. Runs after the change is durable: a sign-in stored later had to know the new one.
async fn end_console_sessions(ctx: &Ctx<'_>, user_id: &str) -> Result<(), ApiError> {
    ctx.app.store.delete_console_sessions_of_user(user_id).await.map_err(store_failure)?;
    Ok(())
}

pub async fn delete_login_profile(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let user = ctx.target_user_name(p)?;
    ctx.app.store.delete_login_profile(ctx.account(), &user).await.map_err(profile_error(&user))?;
    Ok(None)
}

/// The caller's own password. AWS publishes no code for a wrong old password; iamd answers
/// `AccessDenied`, as for any failed credential check.
pub async fn change_password(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let Some(user) = ctx.caller.user() else {
        return Err(ApiError::new(ErrorCode::InvalidUserType, "Only IAM users can change their own password."));
    };
    let profile =
        ctx.app.store.get_login_profile(ctx.account(), &user.name).await.map_err(profile_error(&user.name))?;
    // A throttled attempt like a console sign-in: a stolen access key must not become a
    // password-guessing oracle. A refusal while throttled answers as a wrong password.
    let old = p.required("OldPassword")?;
    let checked =
        password::attempt(ctx.app, Some(&user.user_id), Some(&profile.password_hash), old, ctx.source, ctx.now_unix())
            .await?;
    if checked.is_err() {
        return Err(ApiError::new(ErrorCode::AccessDenied, "The old password is incorrect."));
    }
    let hash = hash_conforming(ctx, &user.name, p.required("NewPassword")?).await?;
    ctx.app
        .store
        .update_login_profile(ctx.account(), &user.name, Some(&hash), Some(false), ctx.now_unix())
        .await
        .map_err(profile_error(&user.name))?;
    end_console_sessions(ctx, &user.user_id).await?;
    Ok(None)
}
