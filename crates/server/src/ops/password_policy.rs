//! The account password policy: GetAccountPasswordPolicy, UpdateAccountPasswordPolicy,
//! DeleteAccountPasswordPolicy.

use iamd_domain::password::PasswordPolicy;
use iamd_domain::{ApiError, ErrorCode};
use iamd_store::StoreError;
use serde::Serialize;

use super::{Ctx, Reply};
use crate::failure::store_failure;
use crate::wire::params::Params;

fn no_policy(account: &str) -> ApiError {
    ApiError::new(ErrorCode::NoSuchEntity, format!("The Password Policy with domain name {account} cannot be found."))
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PasswordPolicyShape {
    minimum_password_length: u32,
    require_symbols: bool,
    require_numbers: bool,
    require_uppercase_characters: bool,
    require_lowercase_characters: bool,
    allow_users_to_change_password: bool,
    expire_passwords: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_password_age: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password_reuse_prevention: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hard_expiry: Option<bool>,
}

#[derive(Serialize)]
struct GetAccountPasswordPolicyResult {
    #[serde(rename = "PasswordPolicy")]
    password_policy: PasswordPolicyShape,
}

/// Users whose policies allow `iam:GetAccountPasswordPolicy` (AWS's self-service policies do)
/// read it to choose a conforming password.
pub async fn get_account_password_policy(ctx: &Ctx<'_>, _: &Params) -> Reply {
    let policy = ctx
        .app
        .store
        .get_password_policy(ctx.account())
        .await
        .map_err(store_failure)?
        .ok_or_else(|| no_policy(ctx.account()))?;
    ctx.reply(&GetAccountPasswordPolicyResult {
        password_policy: PasswordPolicyShape {
            minimum_password_length: policy.minimum_length,
            require_symbols: policy.require_symbols,
            require_numbers: policy.require_numbers,
            require_uppercase_characters: policy.require_uppercase,
            require_lowercase_characters: policy.require_lowercase,
            allow_users_to_change_password: policy.allow_users_to_change_password,
            expire_passwords: policy.max_password_age.is_some(),
            max_password_age: policy.max_password_age,
            password_reuse_prevention: policy.password_reuse_prevention,
            hard_expiry: policy.hard_expiry,
        },
    })
}

/// Replaces the policy; members left out take their defaults, as on AWS.
pub async fn update_account_password_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let flag = |name: &str| p.get(name) == Some("true");
    let number = |name: &str| p.get(name).and_then(|v| v.parse::<u32>().ok());
    let defaults = PasswordPolicy::default();
    let policy = PasswordPolicy {
        minimum_length: number("MinimumPasswordLength").unwrap_or(defaults.minimum_length),
        require_symbols: flag("RequireSymbols"),
        require_numbers: flag("RequireNumbers"),
        require_uppercase: flag("RequireUppercaseCharacters"),
        require_lowercase: flag("RequireLowercaseCharacters"),
        allow_users_to_change_password: flag("AllowUsersToChangePassword"),
        max_password_age: number("MaxPasswordAge"),
        password_reuse_prevention: number("PasswordReusePrevention"),
        hard_expiry: p.get("HardExpiry").map(|v| v == "true"),
    };
    ctx.app.store.put_password_policy(ctx.account(), &policy).await.map_err(store_failure)?;
    Ok(None)
}

pub async fn delete_account_password_policy(ctx: &Ctx<'_>, _: &Params) -> Reply {
    match ctx.app.store.delete_password_policy(ctx.account()).await {
        Ok(()) => Ok(None),
        Err(StoreError::NotFound(_)) => Err(no_policy(ctx.account())),
        Err(e) => Err(store_failure(e)),
    }
}
