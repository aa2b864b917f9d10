//! Authentication: who signed this request (SigV4), and with which credentials.

use iamd_domain::{ApiError, ErrorCode, ids};
use iamd_sigv4::{RequestParts, SigError};
use iamd_store::{KeyStatus, User};
use time::OffsetDateTime;

use crate::app::App;
use crate::wire::Service;

/// The authenticated principal of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account_id: String,
    pub access_key_id: String,
    pub principal: Principal,
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

/// Verifies the request's signature and resolves its credentials. On failure also says which
/// service's namespace the error document should use (IAM when the request does not say).
pub async fn authenticate(
    app: &App,
    request: &RequestParts<'_>,
    now: OffsetDateTime,
) -> Result<(Service, Caller), (Service, ApiError)> {
    let presented = iamd_sigv4::parse(request).map_err(|e| (Service::Iam, from_sig_error(e)))?;
    let Some(service) = Service::from_signing_name(&presented.service) else {
        let e = presented.require_service("iam").expect_err("service is neither iam nor sts");
        return Err((Service::Iam, from_sig_error(e)));
    };
    let fail = |e: ApiError| (service, e);

    let key = app
        .store
        .find_access_key(&presented.access_key_id)
        .await
        .map_err(|e| fail(crate::ops::internal(e)))?
        .filter(|k| k.status == KeyStatus::Active)
        .ok_or_else(|| fail(invalid_token()))?;
    if presented.security_token.is_some() {
        // Long-term keys carry no session token; a token that names none of ours is invalid.
        return Err(fail(invalid_token()));
    }
    let secret =
        app.master_key.open(&key.secret_sealed, &key.access_key_id).map_err(|e| fail(crate::ops::internal(e)))?;
    let secret = String::from_utf8(secret).map_err(|e| fail(crate::ops::internal(e)))?;
    let signing_key = iamd_sigv4::signing_key(&secret, &presented.date, &presented.region, &presented.service);
    iamd_sigv4::verify(request, &presented, &signing_key, now).map_err(|e| fail(from_sig_error(e)))?;

    let principal = match key.user {
        Some(user) => Principal::User(user),
        None => Principal::Root,
    };
    Ok((service, Caller { account_id: key.account_id, access_key_id: key.access_key_id, principal }))
}
