//! Authentication: who signed this request (SigV4, with long-term keys or STS session
//! credentials), and the checks that sign people in: [`password`], [`mfa`], and the [`audit`]
//! trail they leave.

pub mod audit;
pub mod mfa;
pub mod password;

use iamd_domain::{ApiError, ErrorCode, ids};
use iamd_sigv4::{Presented, RequestParts, SigError};
use iamd_store::{KeyStatus, StsSession, User};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::app::App;
use crate::ops::{internal, store_failure};
use crate::wire::Service;

/// The authenticated principal of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account_id: String,
    pub access_key_id: String,
    pub principal: Principal,
    /// Set when the request was signed with STS session credentials.
    pub session: Option<SessionInfo>,
}

/// What the later policy engine needs to know about a session (`aws:MultiFactorAuthPresent`,
/// `aws:MultiFactorAuthAge`).
#[derive(Debug, Clone, Copy)]
pub struct SessionInfo {
    pub expires_at: i64,
    pub mfa_authenticated_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub enum Principal {
    /// The account's root credentials: allowed everything in the account.
    Root,
    /// An IAM user signing with its own access key.
    User(User),
}

impl Caller {
    pub fn arn(&self) -> String {
        match &self.principal {
            Principal::Root => ids::root_arn(&self.account_id),
            Principal::User(u) => ids::user_arn(&self.account_id, &u.path, &u.name),
        }
    }

    pub fn user(&self) -> Option<&User> {
        match &self.principal {
            Principal::Root => None,
            Principal::User(u) => Some(u),
        }
    }
}

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

/// The secret to verify with and the caller it identifies.
struct Credentials {
    sealed_secret: Vec<u8>,
    caller: Caller,
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

    let credentials = if presented.access_key_id.starts_with("ASIA") {
        session_credentials(app, &presented, now.unix_timestamp()).await
    } else {
        long_term_credentials(app, &presented).await
    }
    .map_err(fail)?;
    let secret =
        app.master_key.open(&credentials.sealed_secret, &presented.access_key_id).map_err(|e| fail(internal(e)))?;
    let secret = String::from_utf8(secret).map_err(|e| fail(internal(e)))?;
    let signing_key = iamd_sigv4::signing_key(&secret, &presented.date, &presented.region, &presented.service);
    iamd_sigv4::verify(request, &presented, &signing_key, now).map_err(|e| fail(from_sig_error(e)))?;

    // Sessions opened without MFA may not call IAM; AWS answers as for an unknown token.
    let caller = credentials.caller;
    if service == Service::Iam && caller.session.is_some_and(|s| s.mfa_authenticated_at.is_none()) {
        return Err(fail(invalid_token()));
    }
    Ok((service, caller))
}

async fn long_term_credentials(app: &App, presented: &Presented) -> Result<Credentials, ApiError> {
    let key = app
        .store
        .find_access_key(&presented.access_key_id)
        .await
        .map_err(store_failure)?
        .filter(|k| k.status == KeyStatus::Active)
        .ok_or_else(invalid_token)?;
    if presented.security_token.is_some() {
        // Long-term keys carry no session token; a token that names none of ours is invalid.
        return Err(invalid_token());
    }
    let principal = match key.user {
        Some(user) => Principal::User(user),
        None => Principal::Root,
    };
    Ok(Credentials {
        sealed_secret: key.secret_sealed,
        caller: Caller { account_id: key.account_id, access_key_id: key.access_key_id, principal, session: None },
    })
}

async fn session_credentials(app: &App, presented: &Presented, now: i64) -> Result<Credentials, ApiError> {
    let session: StsSession =
        app.store.find_sts_session(&presented.access_key_id).await.map_err(store_failure)?.ok_or_else(invalid_token)?;
    let token_matches = presented
        .security_token
        .as_deref()
        .is_some_and(|token| bool::from(token_hash(token).ct_eq(&session.token_hash)));
    if !token_matches {
        return Err(invalid_token());
    }
    if now >= session.expires_at {
        return Err(ApiError::new(ErrorCode::ExpiredToken, "The security token included in the request is expired"));
    }
    let principal = match session.user {
        Some(user) => Principal::User(user),
        None => Principal::Root,
    };
    Ok(Credentials {
        sealed_secret: session.secret_sealed,
        caller: Caller {
            account_id: session.account_id,
            access_key_id: session.access_key_id,
            principal,
            session: Some(SessionInfo {
                expires_at: session.expires_at,
                mfa_authenticated_at: session.mfa_authenticated_at,
            }),
        },
    })
}
