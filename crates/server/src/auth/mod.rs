//! Authentication: who signed this request (SigV4, with long-term keys or STS session
//! credentials, resolved through the credential cache) and the checks that sign people in:
//! [`password`], [`mfa`], and the [`audit`] trail they leave. Produces a [`Caller`]; decides
//! nothing about what the caller may do (that is `authz`).

pub mod audit;
pub mod mfa;
pub mod password;

use std::sync::Arc;

use iamd_domain::entities::{
    ConsoleSession, InlinePolicy, KeyStatus, KeyUse, ManagedDocument, SessionTag, StsSession, Tag,
};
use iamd_domain::{ApiError, ErrorCode};
use iamd_sigv4::{RequestParts, SigError};
use iamd_store::StoreError;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use iamd_policy::{Policy, PolicyKind};

use crate::caller::{AssumedRole, Caller, Permissions, Principal, SessionInfo};
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

/// An unknown or inactive access key, a token that does not match, or IAM called by a session
/// opened without MFA. AWS's two services word it differently: IAM without a final period (the
/// spec's STS section and error catalog), STS with one.
fn invalid_token(service: Service) -> ApiError {
    let message = match service {
        Service::Iam => "The security token included in the request is invalid",
        Service::Sts => "The security token included in the request is invalid.",
    };
    ApiError::new(ErrorCode::InvalidClientTokenId, message)
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
    let resolved = resolve(app, service, &presented.access_key_id).await.map_err(fail)?;
    match (&resolved.session_token_hash, &presented.security_token) {
        // Long-term keys carry no session token; a token that names none of ours is invalid.
        (None, None) => {}
        (Some(expected), Some(token)) if bool::from(token_hash(token).ct_eq(expected)) => {}
        _ => return Err(fail(invalid_token(service))),
    }
    if resolved.expires_at.is_some_and(|expires| now_unix >= expires) {
        return Err(fail(ApiError::new(
            ErrorCode::ExpiredToken,
            "The security token included in the request is expired",
        )));
    }
    let signing_key = resolved.signing_key(&presented.date, &presented.region, &presented.service);
    iamd_sigv4::verify(request, &presented, &signing_key, now).map_err(|e| fail(from_sig_error(e)))?;
    if resolved.session_token_hash.is_none() {
        record_key_use(app, &resolved, now_unix, &presented.service, &presented.region);
    }

    // GetSessionToken sessions opened without MFA may not call IAM; AWS answers as for an
    // unknown token. (Role sessions may, as their policies allow.)
    let caller = resolved.caller.clone();
    let role_session = matches!(caller.principal, Principal::AssumedRole(_));
    if service == Service::Iam && !role_session && caller.session.is_some_and(|s| s.mfa_authenticated_at.is_none()) {
        return Err(fail(invalid_token(service)));
    }
    Ok((service, caller))
}

/// AWS records an access key's use for GetAccessKeyLastUsed and the credential report once per
/// 15 minutes: the first use in a span. The write runs beside the request, which neither waits
/// for it nor fails with it.
const KEY_USE_SPAN_SECONDS: i64 = 15 * 60;

fn record_key_use(app: &App, resolved: &Resolved, now: i64, service: &str, region: &str) {
    if !resolved.claim_use_record(now, KEY_USE_SPAN_SECONDS) {
        return;
    }
    let store = app.store.clone();
    let key_id = resolved.caller.access_key_id.clone();
    let last_use = KeyUse { at: now, service: service.to_owned(), region: region.to_owned() };
    tokio::spawn(async move {
        if let Err(e) = store.record_access_key_use(&key_id, &last_use).await {
            tracing::warn!(error = %e, access_key_id = %key_id, "could not record an access key's use");
        }
    });
}

/// The credentials an access key id names, from the cache or the store.
async fn resolve(app: &App, service: Service, access_key_id: &str) -> Result<Arc<Resolved>, ApiError> {
    let cached = app.credentials.get(access_key_id);
    app.metrics.credential_cache(cached.is_some());
    if let Some(resolved) = cached {
        return Ok(resolved);
    }
    // Before the store read: a change evicting this key while we read keeps us from caching it.
    let generation = app.credentials.generation();
    let mut last_used_at = None;
    let (sealed_secret, caller, token_hash, expires_at, session_policies) = if access_key_id.starts_with("ASIA") {
        let session: StsSession = app
            .store
            .find_sts_session(access_key_id)
            .await
            .map_err(store_failure)?
            .ok_or_else(|| invalid_token(service))?;
        let session_policies = session.role.as_ref().map(|r| r.session_policies.clone());
        let principal = match (session.role, session.user) {
            (Some(role), _) => Principal::AssumedRole(AssumedRole {
                role_id: role.role_id,
                role_name: role.role_name,
                session_name: role.session_name,
                source_identity: role.source_identity,
                session_tags: role.tags,
                // Filled with the role's policies below.
                tags: Vec::new(),
            }),
            (None, Some(user)) => Principal::User(user),
            (None, None) => Principal::Root,
        };
        let caller = Caller {
            account_id: session.account_id,
            access_key_id: session.access_key_id,
            principal,
            session: Some(SessionInfo {
                issued_at: session.created_at,
                expires_at: session.expires_at,
                mfa_authenticated_at: session.mfa_authenticated_at,
            }),
            permissions: Default::default(),
        };
        let session_policies = session_policies.unwrap_or_default();
        (session.secret_sealed, caller, Some(session.token_hash), Some(session.expires_at), session_policies)
    } else {
        let key = app
            .store
            .find_access_key(access_key_id)
            .await
            .map_err(store_failure)?
            .filter(|k| k.status == KeyStatus::Active)
            .ok_or_else(|| invalid_token(service))?;
        last_used_at = key.last_used.as_ref().map(|u| u.at);
        let caller = Caller {
            account_id: key.account_id,
            access_key_id: key.access_key_id,
            principal: key.user.map_or(Principal::Root, Principal::User),
            session: None,
            permissions: Default::default(),
        };
        (key.secret_sealed, caller, None, None, Vec::new())
    };
    let mut caller = caller;
    match &mut caller.principal {
        Principal::Root => {}
        Principal::User(user) => {
            let (permissions, tags) = permissions_of(app, &user.account_id, &user.user_id).await?;
            user.tags = tags;
            caller.permissions = Arc::new(permissions);
        }
        Principal::AssumedRole(role) => {
            let (permissions, role_tags) =
                role_permissions(app, &caller.account_id, &role.role_id, &session_policies).await?;
            role.tags = principal_tags(role_tags, &role.session_tags);
            caller.permissions = Arc::new(permissions);
        }
    }
    let secret = app.master_key.open(&sealed_secret, access_key_id).map_err(internal)?;
    let secret = String::from_utf8(secret).map_err(internal)?;
    let resolved = Arc::new(Resolved::new(secret, caller, token_hash, expires_at).with_use_recorded_at(last_used_at));
    app.credentials.insert(access_key_id, resolved.clone(), generation);
    Ok(resolved)
}

/// The caller a signed-in console session acts as: its user, with the policies that apply to the
/// user now (read afresh for every console request) and its tags, and the session as temporary
/// credentials carry one: `aws:MultiFactorAuthPresent` is true only when the sign-in passed the
/// code step, `aws:MultiFactorAuthAge` counts from that code, `aws:TokenIssueTime` is when the
/// session was opened. A console session has no access key; its id is left empty.
pub async fn console_caller(app: &App, session: &ConsoleSession) -> Result<Caller, ApiError> {
    let mut user = session.user.clone();
    let (permissions, tags) = permissions_of(app, &session.account_id, &user.user_id).await?;
    user.tags = tags;
    Ok(Caller {
        account_id: session.account_id.clone(),
        access_key_id: String::new(),
        principal: Principal::User(user),
        session: Some(SessionInfo {
            issued_at: session.created_at,
            expires_at: session.expires_at,
            mfa_authenticated_at: session.mfa_authenticated_at,
        }),
        permissions: Arc::new(permissions),
    })
}

/// Compiles a stored policy. A stored document that no longer parses (they are validated when
/// written) is logged and answered with `None`; callers decide which side is safe.
fn compile(name: &str, document: &str, kind: PolicyKind) -> Option<Policy> {
    match Policy::parse(document, kind) {
        Ok(policy) => Some(policy),
        Err(e) => {
            tracing::error!(policy = name, error = %e.message, "a stored policy does not parse");
            None
        }
    }
}

/// A policy that denies everything: what stands in for a boundary or session policy that no
/// longer parses, since leaving a restriction out would widen what the caller may do.
fn deny_everything() -> Policy {
    const DENY_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;
    Policy::parse(DENY_ALL, PolicyKind::SessionOrBoundary).expect("a valid policy")
}

/// Compiles what grants (identity policies: one that does not parse grants nothing) and what
/// restricts (boundary: one that does not parse denies everything).
fn compile_permissions<'a>(
    identity: impl Iterator<Item = (&'a str, &'a str)>,
    boundary: Option<&ManagedDocument>,
) -> Permissions {
    let identity = identity.filter_map(|(name, document)| compile(name, document, PolicyKind::Identity)).collect();
    let boundary = boundary
        .map(|(arn, document)| compile(arn, document, PolicyKind::SessionOrBoundary).unwrap_or_else(deny_everything));
    Permissions { identity, boundary, ..Permissions::default() }
}

/// A role session's `aws:PrincipalTag/*`: the role's tags, a session tag replacing the role's
/// tag of the same key (keys compare without regard to case).
fn principal_tags(role_tags: Vec<(String, String)>, session_tags: &[SessionTag]) -> Vec<(String, String)> {
    let mut tags: Vec<(String, String)> = role_tags
        .into_iter()
        .filter(|(key, _)| !session_tags.iter().any(|t| t.key.eq_ignore_ascii_case(key)))
        .collect();
    tags.extend(session_tags.iter().map(|t| (t.key.clone(), t.value.clone())));
    tags
}

/// `(name or ARN, document)` of inline then managed policies.
fn named_documents<'a>(
    inline: &'a [InlinePolicy],
    managed: &'a [ManagedDocument],
) -> impl Iterator<Item = (&'a str, &'a str)> {
    let inline = inline.iter().map(|p| (p.name.as_str(), p.document.as_str()));
    inline.chain(managed.iter().map(|(arn, document)| (arn.as_str(), document.as_str())))
}

/// The policies that apply to a user, read in one snapshot and compiled, and its tags.
async fn permissions_of(app: &App, account_id: &str, user_id: &str) -> Result<(Permissions, Vec<Tag>), ApiError> {
    let found = app.store.effective_policies(account_id, user_id).await.map_err(store_failure)?;
    let mut identity: Vec<_> = named_documents(&found.user_inline, &found.user_managed).collect();
    for (_, group_inline, group_managed) in &found.groups {
        identity.extend(named_documents(group_inline, group_managed));
    }
    Ok((compile_permissions(identity.into_iter(), found.boundary.as_ref()), found.tags))
}

/// The policies that apply to a role session: the role's (none once the role is deleted: its
/// sessions then may do nothing) and the session's own, with the role's tags.
async fn role_permissions(
    app: &App,
    account_id: &str,
    role_id: &str,
    session_policies: &[String],
) -> Result<(Permissions, Vec<(String, String)>), ApiError> {
    let found = match app.store.role_policies(account_id, role_id).await {
        Ok(found) => found,
        Err(StoreError::NotFound(_)) => Default::default(),
        Err(e) => return Err(store_failure(e)),
    };
    let mut permissions = compile_permissions(named_documents(&found.inline, &found.managed), found.boundary.as_ref());
    permissions.session = session_policies
        .iter()
        .map(|document| {
            compile("session policy", document, PolicyKind::SessionOrBoundary).unwrap_or_else(deny_everything)
        })
        .collect();
    let tags = found.tags.into_iter().map(|t| (t.key, t.value)).collect();
    Ok((permissions, tags))
}
