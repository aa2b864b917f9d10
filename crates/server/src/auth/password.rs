//! The first factor of a console sign-in: the user's password, checked against its Argon2id
//! hash off the async runtime.

use iamd_domain::entities::LoginProfile;
use iamd_domain::{ApiError, ErrorCode, password};
use iamd_store::StoreError;

use crate::failure::{off_runtime, store_failure};
use crate::state::App;

/// Runs Argon2 on the blocking pool: it takes tens of milliseconds by design.
pub async fn verify_blocking(candidate: &str, stored: &str) -> Result<bool, ApiError> {
    let (candidate, stored) = (candidate.to_owned(), stored.to_owned());
    off_runtime(move || password::verify(&candidate, &stored)).await
}

pub async fn hash_blocking(new_password: &str) -> Result<String, ApiError> {
    let new_password = new_password.to_owned();
    off_runtime(move || password::hash(&new_password)).await
}

/// The user's login profile if `candidate` is its password. An unknown user or a user without
/// a password costs the same hash verification as a wrong password, so timing tells nothing.
pub async fn check(
    app: &App,
    account_id: &str,
    user_name: &str,
    candidate: &str,
) -> Result<Option<LoginProfile>, ApiError> {
    let profile = match app.store.get_login_profile(account_id, user_name).await {
        Ok(profile) => Some(profile),
        Err(StoreError::NotFound(_)) => None,
        Err(e) => return Err(store_failure(e)),
    };
    let stored = profile.as_ref().map_or(password::decoy_hash(), |p| p.password_hash.as_str());
    let matches = verify_blocking(candidate, stored).await?;
    Ok(profile.filter(|_| matches))
}

/// Hashes `new_password` for `user_name` if it satisfies the account's password policy (or
/// AWS's default rules when the account has none); `PasswordPolicyViolation` otherwise. The
/// API's password operations and the console's password change both go through here.
pub async fn hash_conforming(
    app: &App,
    account_id: &str,
    user_name: &str,
    new_password: &str,
) -> Result<String, ApiError> {
    let policy = app.store.get_password_policy(account_id).await.map_err(store_failure)?;
    if !password::conforms(policy.as_ref(), new_password, user_name) {
        return Err(ApiError::new(
            ErrorCode::PasswordPolicyViolation,
            "Password does not conform to the account password policy.",
        ));
    }
    hash_blocking(new_password).await
}
