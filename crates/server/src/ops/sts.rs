//! STS: GetCallerIdentity and GetSessionToken (temporary credentials, with or without MFA).

use iamd_domain::entities::StsSession;
use iamd_domain::{ApiError, ErrorCode, ids};
use serde::Serialize;

use super::{Ctx, Reply};
use crate::auth::audit::Attempt;
use crate::auth::{mfa, token_hash};
use crate::caller::Principal;
use crate::failure::store_failure;
use crate::wire::params::Params;
use crate::wire::shapes::timestamp;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetCallerIdentityResult {
    user_id: String,
    account: String,
    arn: String,
}

/// Needs no permission and cannot be denied. Session credentials answer with the user they
/// were issued to, as on AWS.
pub async fn get_caller_identity(ctx: &Ctx<'_>, _: &Params) -> Reply {
    let user_id = match &ctx.caller.principal {
        Principal::Root => ctx.account().to_owned(),
        Principal::User(user) => user.user_id.clone(),
    };
    ctx.reply(&GetCallerIdentityResult { user_id, account: ctx.account().to_owned(), arn: ctx.caller.arn() })
}

/// Session lengths (seconds) for IAM users; root sessions are capped at one hour.
const USER_DEFAULT_DURATION: i64 = 43_200;
const ROOT_MAX_DURATION: i64 = 3_600;

fn access_denied(message: &str) -> ApiError {
    ApiError::new(ErrorCode::AccessDenied, message)
}

const INVALID_CODE: &str = "MultiFactorAuthentication failed with invalid MFA one time pass code.";
const NOT_ASSOCIATED: &str = "MultiFactorAuthentication failed, unable to validate MFA code.  \
                              Please verify your MFA serial number is valid and associated with this user.";

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Credentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    expiration: String,
}

#[derive(Serialize)]
struct GetSessionTokenResult {
    #[serde(rename = "Credentials")]
    credentials: Credentials,
}

pub async fn get_session_token(ctx: &Ctx<'_>, p: &Params) -> Reply {
    if ctx.caller.session.is_some() {
        return Err(access_denied("Cannot call GetSessionToken with session credentials"));
    }
    let user = ctx.caller.user();
    let requested = p.get("DurationSeconds").and_then(|d| d.parse::<i64>().ok());
    let duration = match user {
        Some(_) => requested.unwrap_or(USER_DEFAULT_DURATION),
        // AWS silently caps root sessions rather than refusing longer ones.
        None => requested.unwrap_or(ROOT_MAX_DURATION).min(ROOT_MAX_DURATION),
    };

    let mfa_serial = match (p.get("SerialNumber"), p.get("TokenCode")) {
        (None, None) => None,
        (Some(serial), Some(code)) => {
            check_mfa(ctx, serial, code).await?;
            Some(serial.to_owned())
        }
        _ => {
            return Err(access_denied(
                "MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code.",
            ));
        }
    };

    let now = ctx.now_unix();
    let access_key_id = ids::new_session_key_id();
    let secret = ids::new_secret_access_key();
    let token = ids::new_session_token();
    let session = StsSession {
        secret_sealed: ctx.app.master_key.seal(secret.as_bytes(), &access_key_id),
        access_key_id: access_key_id.clone(),
        account_id: ctx.account().to_owned(),
        user: user.cloned(),
        token_hash: token_hash(&token),
        created_at: now,
        expires_at: now + duration,
        mfa_authenticated_at: mfa_serial.as_ref().map(|_| now),
        mfa_serial,
    };
    ctx.app.store.create_sts_session(&session).await.map_err(store_failure)?;
    ctx.reply(&GetSessionTokenResult {
        credentials: Credentials {
            access_key_id,
            secret_access_key: secret,
            session_token: token,
            expiration: timestamp(session.expires_at),
        },
    })
}

/// The caller's code from `serial`, checked once, throttled and audited.
async fn check_mfa(ctx: &Ctx<'_>, serial: &str, code: &str) -> Result<(), ApiError> {
    let user_name = ctx.caller.user().map_or("root", |u| u.name.as_str());
    let attempt =
        Attempt { account_id: ctx.account(), user_name, source: ctx.source, kind: "sts-session", mfa_used: true };
    let Some(user) = ctx.caller.user() else {
        // Root MFA cannot be enabled through the API, so no serial is ever associated with root.
        attempt.record(ctx.app, ctx.now_unix(), false, mfa::Refusal::NotAssigned.reason()).await;
        return Err(access_denied(NOT_ASSOCIATED));
    };
    match mfa::check_code(ctx.app, user, serial, code, ctx.now_unix()).await? {
        Ok(()) => {
            attempt.record(ctx.app, ctx.now_unix(), true, "code accepted").await;
            Ok(())
        }
        Err(refusal) => {
            attempt.record(ctx.app, ctx.now_unix(), false, refusal.reason()).await;
            Err(access_denied(match refusal {
                mfa::Refusal::NotAssigned => NOT_ASSOCIATED,
                _ => INVALID_CODE,
            }))
        }
    }
}
