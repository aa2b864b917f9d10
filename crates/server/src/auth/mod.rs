//! Authentication: who signed this request (SigV4, with long-term keys or STS session
//! credentials, resolved through the credential cache) and the checks that sign people in:
//! [`password`], [`mfa`], and the [`audit`] trail they leave. Produces a [`Caller`]; decides
//! nothing about what the caller may do (that is `authz`).

pub mod audit;
pub mod mfa;
pub mod password;

use std::sync::Arc;

use iamd_domain::entities::{KeyStatus, StsSession};
use iamd_domain::{ApiError, ErrorCode};
use iamd_sigv4::{RequestParts, SigError};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use iamd_policy::{Policy, PolicyKind};

use crate::caller::{Caller, Permissions, Principal, SessionInfo};
use crate::credential_cache::Resolved;
use crate::failure::{internal, store_failure};
use crate::state::App;
use crate::wire::Service;

fn from_sig_error(e: SigError) -> ApiError {
    let code = match e {
        SigError::MissingAuthenticationToken => ErrorCode::MissingAuthenticationToken,
        SigError::IncompleteSignature(_) => ErrorCode::IncompleteSignature,
        SigError::InvalidClientTokenId => ErrorCode::InvalidClientTokenId,
        SigError::SignatureDoesNotMatch(_) => ErrorCode::SignatureDoesNotMatch,
        SigError::RequestExpired(_) => ErrorCode::RequestExpired,
    };
    ApiError::new(code, e.to_string())
}

fn invalid_token() -> ApiError {
    from_sig_error(SigError::InvalidClientTokenId)
}

/// SHA-256 of a session token: what the store keeps instead of the token.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Verifies the request's signature and resolves its credentials. On failure also says which
/// service the credential scope named, if the request got that far.
pub async fn authenticate(
    app: &App,
    request: &RequestParts<'_>,
    now: OffsetDateTime,
) -> Result<(Service, Caller), (Option<Service>, ApiError)> {
    let presented = iamd_sigv4::parse(request).map_err(|e| (None, from_sig_error(e)))?;
    let Some(service) = Service::from_signing_name(&presented.service) else {
        let e = presented.require_service("iam").expect_err("service is neither iam nor sts");
        return Err((None, from_sig_error(e)));
    };
    let fail = |e: ApiError| (Some(service), e);

    let now_unix = now.unix_timestamp();
    let resolved = resolve(app, &presented.access_key_id).await.map_err(fail)?;
    match (&resolved.session_token_hash, &presented.security_token) {
        // Long-term keys carry no session token; a token that names none of ours is invalid.
        (None, None) => {}
        (Some(expected), Some(token)) if bool::from(token_hash(token).ct_eq(expected)) => {}
        _ => return Err(fail(invalid_token())),
    }
    if resolved.expires_at.is_some_and(|expires| now_unix >= expires) {
        return Err(fail(ApiError::new(
            ErrorCode::ExpiredToken,
            "The security token included in the request is expired",
        )));
    }
    let signing_key = resolved.signing_key(&presented.date, &presented.region, &presented.service);
    iamd_sigv4::verify(request, &presented, &signing_key, now).map_err(|e| fail(from_sig_error(e)))?;

    // Sessions opened without MFA may not call IAM; AWS answers as for an unknown token.
    let caller = resolved.caller.clone();
    if service == Service::Iam && caller.session.is_some_and(|s| s.mfa_authenticated_at.is_none()) {
        return Err(fail(invalid_token()));
    }
    Ok((service, caller))
}

/// The credentials an access key id names, from the cache or the store.
async fn resolve(app: &App, access_key_id: &str) -> Result<Arc<Resolved>, ApiError> {
    if let Some(resolved) = app.credentials.get(access_key_id) {
        return Ok(resolved);
    }
    // Before the store read: a change evicting this key while we read keeps us from caching it.
    let generation = app.credentials.generation();
    let (sealed_secret, caller, token_hash, expires_at) = if access_key_id.starts_with("ASIA") {
        let session: StsSession =
            app.store.find_sts_session(access_key_id).await.map_err(store_failure)?.ok_or_else(invalid_token)?;
        let caller = Caller {
            account_id: session.account_id,
            access_key_id: session.access_key_id,
            principal: session.user.map_or(Principal::Root, Principal::User),
            session: Some(SessionInfo {
                expires_at: session.expires_at,
                mfa_authenticated_at: session.mfa_authenticated_at,
            }),
            permissions: Default::default(),
        };
        (session.secret_sealed, caller, Some(session.token_hash), Some(session.expires_at))
    } else {
        let key = app
            .store
            .find_access_key(access_key_id)
            .await
            .map_err(store_failure)?
            .filter(|k| k.status == KeyStatus::Active)
            .ok_or_else(invalid_token)?;
        let caller = Caller {
            account_id: key.account_id,
            access_key_id: key.access_key_id,
            principal: key.user.map_or(Principal::Root, Principal::User),
            session: None,
            permissions: Default::default(),
        };
        (key.secret_sealed, caller, None, None)
    };
    let mut caller = caller;
    if let Principal::User(user) = &caller.principal {
        caller.permissions = Arc::new(permissions_of(app, &user.account_id, &user.user_id).await?);
    }
    let secret = app.master_key.open(&sealed_secret, access_key_id).map_err(internal)?;
    let secret = String::from_utf8(secret).map_err(internal)?;
    let resolved = Arc::new(Resolved::new(secret, caller, token_hash, expires_at));
    app.credentials.insert(access_key_id, resolved.clone(), generation);
    Ok(resolved)
}

/// The policies that apply to a user, read in one snapshot and compiled. A stored document that
/// no longer parses (they are validated when written) is left out and logged: it can then allow
/// nothing, which is the safe side.
async fn permissions_of(app: &App, account_id: &str, user_id: &str) -> Result<Permissions, ApiError> {
    let found = app.store.effective_policies(account_id, user_id).await.map_err(store_failure)?;
    let compile = |name: &str, document: &str| match Policy::parse(document, PolicyKind::Identity) {
        Ok(policy) => Some(policy),
        Err(e) => {
            tracing::error!(policy = name, error = %e.message, "a stored policy does not parse; ignored");
            None
        }
    };
    let mut identity = Vec::new();
    identity.extend(found.user_inline.iter().filter_map(|p| compile(&p.name, &p.document)));
    identity.extend(found.user_managed.iter().filter_map(|(arn, document)| compile(arn, document)));
    for (_, inline, managed) in &found.groups {
        identity.extend(inline.iter().filter_map(|p| compile(&p.name, &p.document)));
        identity.extend(managed.iter().filter_map(|(arn, document)| compile(arn, document)));
    }
    let boundary = found.boundary.as_ref().and_then(|(arn, document)| compile(arn, document));
    Ok(Permissions { identity, boundary })
}
