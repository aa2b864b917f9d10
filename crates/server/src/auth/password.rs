//! The first factor of a console sign-in: the user's password, checked against its Argon2id
//! hash off the async runtime.
//!
//! Two defences against guessing and against exhaustion (issue #13.1, docs/behaviour.md §4):
//!
//! - **A gate in front of Argon2.** Every hash and verification (sign-in, the forced change,
//!   Create/UpdateLoginProfile, ChangePassword) holds one of `App::password_hashing`'s permits
//!   (one per core by default) while it runs. A request that finds none free within a short wait
//!   is refused with `Throttling` (400, `Rate exceeded`; the console shows a 503 page with
//!   `Retry-After`): excess load costs a few bytes, not 19 MiB and a thread each.
//! - **Password attempts are throttled** per user and per source address, with the budget
//!   reserved in the store before the password is evaluated (as for MFA codes): a full counter
//!   refuses the attempt unevaluated, with the answer of a wrong password after about as long.

use std::time::Instant;

use iamd_domain::entities::LoginProfile;
use iamd_domain::{ApiError, ErrorCode, password};
use iamd_store::StoreError;

use crate::failure::{off_runtime, store_failure};
use crate::state::App;

/// Why a password attempt was refused (the audit trail's reason; clients see one answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Wrong password, or no such account, user or login profile.
    Wrong,
    /// Too many recent failures for this user or from this address: not evaluated.
    Locked,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Wrong => "wrong password, or no such account, user or login profile",
            Refusal::Locked => "password attempts throttled after repeated failures",
        }
    }
}

/// AWS's answer when a caller is throttled.
pub fn busy() -> ApiError {
    ApiError::new(ErrorCode::Throttling, "Rate exceeded")
}

/// Runs `work` (one Argon2 computation) on the blocking pool holding a hashing permit, waiting
/// at most `password_hashing.wait` for one (else [`busy`]). The permit moves into the blocking
/// task, so it stays held until Argon2 is done even if the client goes away meanwhile.
async fn gated<T: Send + 'static>(app: &App, work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    let gate = &app.password_hashing;
    let permit = match tokio::time::timeout(gate.wait, gate.permits.clone().acquire_owned()).await {
        Ok(Ok(permit)) => permit,
        _ => {
            tracing::warn!(permits = gate.size, "password hashing busy: request refused");
            return Err(busy());
        }
    };
    off_runtime(move || {
        let result = work();
        drop(permit);
        result
    })
    .await
}

/// Verifies `candidate` against a stored Argon2 hash (tens of milliseconds by design).
pub async fn verify_blocking(app: &App, candidate: &str, stored: &str) -> Result<bool, ApiError> {
    let (candidate, stored) = (candidate.to_owned(), stored.to_owned());
    let started = Instant::now();
    let matches = gated(app, move || password::verify(&candidate, &stored)).await?;
    app.password_hashing.observe(started.elapsed());
    Ok(matches)
}

pub async fn hash_blocking(app: &App, new_password: &str) -> Result<String, ApiError> {
    let new_password = new_password.to_owned();
    gated(app, move || password::hash(&new_password)).await
}

/// The counter key of a source address: the address itself for IPv4, its /64 for IPv6 (one
/// host usually holds a whole /64).
fn source_key(source: &str) -> String {
    match source.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("source:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(std::net::IpAddr::V6(v6)) => format!("source:{}", v6.to_ipv4_mapped().expect("mapped")),
        _ => format!("source:{source}"),
    }
}

/// One throttled password attempt: `candidate` against `stored` (the decoy hash when there is
/// no such user or profile, so timing tells nothing), charged to `user_id`'s counter (when the
/// user exists) and to `source`'s. `Err` is an internal failure or [`busy`] (then nothing
/// stays charged); `Ok(Err(_))` a refusal.
pub async fn attempt(
    app: &App,
    user_id: Option<&str>,
    stored: Option<&str>,
    candidate: &str,
    source: &str,
    now: i64,
) -> Result<Result<(), Refusal>, ApiError> {
    let policy = app.limits.password_attempts;
    let user_key = user_id.map(|id| format!("user:{id}"));
    let source_key = source_key(source);
    let mut counters = vec![(source_key.clone(), policy.per_source)];
    if let Some(key) = &user_key {
        counters.push((key.clone(), policy.per_user));
    }
    let granted =
        app.store.reserve_password_attempt(&counters, policy.window_seconds, now).await.map_err(store_failure)?;
    if !granted {
        // As long as a verification would have taken, so timing does not tell a lock.
        tokio::time::sleep(app.password_hashing.typical()).await;
        return Ok(Err(Refusal::Locked));
    }
    let all: Vec<String> = counters.into_iter().map(|(key, _)| key).collect();
    let matches = match verify_blocking(app, candidate, stored.unwrap_or(password::decoy_hash())).await {
        Ok(matches) => matches && stored.is_some(),
        Err(e) => {
            // Never evaluated: give the charge back.
            app.store.settle_password_attempt(&all, &[]).await.map_err(store_failure)?;
            return Err(e);
        }
    };
    if !matches {
        return Ok(Err(Refusal::Wrong));
    }
    // A success clears the user's failures and gives the address its charge back.
    let clear: Vec<String> = user_key.into_iter().collect();
    app.store.settle_password_attempt(&[source_key], &clear).await.map_err(store_failure)?;
    Ok(Ok(()))
}

/// The user's login profile if `candidate` is its password (a throttled attempt, above). An
/// unknown user or a user without a password costs the same hash verification as a wrong
/// password, so timing tells nothing.
pub async fn check(
    app: &App,
    account_id: &str,
    user_name: &str,
    candidate: &str,
    source: &str,
    now: i64,
) -> Result<Result<LoginProfile, Refusal>, ApiError> {
    let profile = match app.store.get_login_profile(account_id, user_name).await {
        Ok(profile) => Some(profile),
        Err(StoreError::NotFound(_)) => None,
        Err(e) => return Err(store_failure(e)),
    };
    let user_id = profile.as_ref().map(|p| p.user.user_id.as_str());
    let stored = profile.as_ref().map(|p| p.password_hash.as_str());
    match attempt(app, user_id, stored, candidate, source, now).await? {
        Ok(()) => Ok(profile.ok_or(Refusal::Wrong)),
        Err(refusal) => Ok(Err(refusal)),
    }
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
    hash_blocking(app, new_password).await
}
