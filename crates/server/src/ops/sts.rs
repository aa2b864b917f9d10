//! STS: GetCallerIdentity, GetSessionToken (temporary credentials, with or without MFA) and
//! AssumeRole (a role session, with the MFA code the role's trust policy may require).

use iamd_domain::entities::{RoleSession, SessionTag, StsSession, Tag, policy_size};
use iamd_domain::{ApiError, ErrorCode, ids};
use iamd_policy::{Policy, PolicyKind};
use serde::Serialize;

use super::{Ctx, Reply, managed_policies, policy_documents, tags};
use crate::auth::audit::Attempt;
use crate::auth::{mfa, token_hash};
use crate::authz;
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
    ctx.reply(&GetCallerIdentityResult {
        user_id: ctx.caller.user_id(),
        account: ctx.account().to_owned(),
        arn: ctx.caller.arn(),
    })
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

    let mfa_serial = match mfa_params(p)? {
        None => None,
        Some((serial, code)) => {
            check_mfa(ctx, serial, code).await?;
            Some(serial.to_owned())
        }
    };

    let now = ctx.now_unix();
    let credentials = NewCredentials::generate(ctx);
    let (secret, token) = (credentials.secret, credentials.token);
    let session = StsSession {
        secret_sealed: credentials.secret_sealed,
        access_key_id: credentials.access_key_id,
        account_id: ctx.account().to_owned(),
        user: user.cloned(),
        token_hash: credentials.token_hash,
        created_at: now,
        expires_at: now + duration,
        mfa_authenticated_at: mfa_serial.as_ref().map(|_| now),
        mfa_serial,
        role: None,
    };
    ctx.app.store.create_sts_session(&session).await.map_err(store_failure)?;
    ctx.reply(&GetSessionTokenResult { credentials: Credentials::of(&session, secret, token) })
}

/// The serial and code of a request: both, or neither.
fn mfa_params(p: &Params) -> Result<Option<(&str, &str)>, ApiError> {
    match (p.get("SerialNumber"), p.get("TokenCode")) {
        (None, None) => Ok(None),
        (Some(serial), Some(code)) => Ok(Some((serial, code))),
        _ => Err(access_denied(
            "MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code.",
        )),
    }
}

/// A new session's credentials: the key id, the sealed secret, the token's hash, and what the
/// client gets once (secret and token).
struct NewCredentials {
    access_key_id: String,
    secret_sealed: Vec<u8>,
    token_hash: Vec<u8>,
    secret: String,
    token: String,
}

impl NewCredentials {
    fn generate(ctx: &Ctx<'_>) -> Self {
        let access_key_id = ids::new_session_key_id();
        let secret = ids::new_secret_access_key();
        let token = ids::new_session_token();
        NewCredentials {
            secret_sealed: ctx.app.master_key.seal(secret.as_bytes(), &access_key_id),
            token_hash: token_hash(&token),
            access_key_id,
            secret,
            token,
        }
    }
}

impl Credentials {
    fn of(session: &StsSession, secret: String, token: String) -> Self {
        Credentials {
            access_key_id: session.access_key_id.clone(),
            secret_access_key: secret,
            session_token: token,
            expiration: timestamp(session.expires_at),
        }
    }
}

/// Role sessions last an hour unless asked otherwise; chained ones (opened with session
/// credentials) at most an hour.
const ROLE_DEFAULT_DURATION: i64 = 3_600;
const CHAINED_MAX_DURATION: i64 = 3_600;
/// The packed size of session policies and tags that makes 100% (see [`packed_percent`]).
const PACKED_POLICY_CHARS: usize = 2_048;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AssumedRoleUser {
    assumed_role_id: String,
    arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleResult {
    credentials: Credentials,
    assumed_role_user: AssumedRoleUser,
    #[serde(skip_serializing_if = "Option::is_none")]
    packed_policy_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_identity: Option<String>,
}

/// STS AssumeRole: a session of the role `RoleArn` for the caller, if the role's trust policy
/// (and, when it trusts only the account, the caller's own policies) allow it. An MFA code is
/// checked like GetSessionToken's before the trust policy sees `aws:MultiFactorAuthPresent`.
pub async fn assume_role(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let role_arn = p.required("RoleArn")?;
    let session_name = p.required("RoleSessionName")?;
    if ctx.caller.is_root() {
        return Err(access_denied("Roles may not be assumed by root accounts."));
    }
    let source_identity = source_identity(ctx, p)?;
    let requested_tags = p.tags("Tags");
    let tags = session_tags(ctx, p, &requested_tags)?;
    let mfa_checked_at = match mfa_params(p)? {
        None => None,
        Some((serial, code)) => {
            check_mfa(ctx, serial, code).await?;
            Some((serial, ctx.now_unix()))
        }
    };

    let denied = || {
        access_denied(&format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            ctx.caller.arn()
        ))
    };
    // An unknown role is refused like a forbidden one: AWS does not reveal which roles exist.
    let role = match role_name_of(ctx, role_arn) {
        Some(name) => ctx.app.store.get_role(ctx.account(), name).await.map_err(store_failure)?,
        None => None,
    };
    let role = role.filter(|r| ids::role_arn(&r.account_id, &r.path, &r.name) == role_arn).ok_or_else(denied)?;
    let trust = Policy::parse(&role.trust_policy, PolicyKind::Trust).map_err(|_| denied())?;
    let mut request = authz::Request {
        action: ctx.action,
        resource: role_arn.to_owned(),
        shown_as: None,
        context: authz::Context::default(),
    };
    request.context.insert("sts:RoleSessionName", vec![session_name.to_owned()]);
    if let Some(external_id) = p.get("ExternalId") {
        request.context.insert("sts:ExternalId", vec![external_id.to_owned()]);
    }
    if let Some(source_identity) = &source_identity {
        request.context.insert("sts:SourceIdentity", vec![source_identity.clone()]);
    }
    for tag in &requested_tags {
        request.context.insert(format!("aws:RequestTag/{}", tag.key), vec![tag.value.clone()]);
    }
    if !requested_tags.is_empty() {
        request.context.insert("aws:TagKeys", requested_tags.iter().map(|t| t.key.clone()).collect());
    }
    let at = authz::Circumstances { now: ctx.now, source: ctx.source };
    let mfa_at = mfa_checked_at.map(|(_, t)| t);
    authz::authorize_assume_role(ctx.caller, &trust, &request, "sts:AssumeRole", mfa_at, at)?;
    // A session with tags (passed, or transitive from the calling session) needs
    // `sts:TagSession` as well, from the same policies.
    if !tags.is_empty() {
        authz::authorize_assume_role(ctx.caller, &trust, &request, "sts:TagSession", mfa_at, at)?;
    }

    let chained = ctx.caller.session.is_some();
    let duration = match p.get("DurationSeconds") {
        // The model has checked the range (900–43200).
        Some(d) => d.parse::<i64>().map_err(|_| ApiError::validation("DurationSeconds must be a number"))?,
        None => ROLE_DEFAULT_DURATION,
    };
    if chained && duration > CHAINED_MAX_DURATION {
        return Err(ApiError::validation(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        ));
    }
    if duration > role.max_session_duration {
        return Err(ApiError::validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }
    let (session_policies, policy_chars) = session_policies(ctx, p).await?;
    let tag_chars: usize = tags.iter().map(|t| t.key.chars().count() + t.value.chars().count()).sum();
    let packed = if session_policies.is_empty() && tags.is_empty() {
        None
    } else {
        Some(packed_percent(policy_chars + tag_chars)?)
    };

    // MFA carries into the session (iamd's choice where AWS's documentation and CloudTrail
    // disagree, see docs/behaviour.md): this request's code, or the calling session's.
    let (mfa_serial, mfa_authenticated_at) = match (mfa_checked_at, ctx.caller.session) {
        (Some((serial, at)), _) => (Some(serial.to_owned()), Some(at)),
        (None, Some(session)) => (None, session.mfa_authenticated_at),
        (None, None) => (None, None),
    };
    let now = ctx.now_unix();
    let credentials = NewCredentials::generate(ctx);
    let session = StsSession {
        access_key_id: credentials.access_key_id.clone(),
        account_id: ctx.account().to_owned(),
        user: None,
        secret_sealed: credentials.secret_sealed,
        token_hash: credentials.token_hash,
        created_at: now,
        expires_at: now + duration,
        mfa_authenticated_at,
        mfa_serial,
        role: Some(RoleSession {
            role_id: role.role_id.clone(),
            role_name: role.name.clone(),
            session_name: session_name.to_owned(),
            session_policies,
            source_identity: source_identity.clone(),
            tags,
        }),
    };
    ctx.app.store.create_sts_session(&session).await.map_err(store_failure)?;
    ctx.app.store.record_role_used(&role.role_id, now).await.map_err(store_failure)?;
    ctx.reply(&AssumeRoleResult {
        credentials: Credentials::of(&session, credentials.secret, credentials.token),
        assumed_role_user: AssumedRoleUser {
            assumed_role_id: format!("{}:{session_name}", role.role_id),
            arn: ids::assumed_role_arn(ctx.account(), &role.name, session_name),
        },
        packed_policy_size: packed,
        source_identity,
    })
}

/// The role name of a role ARN in the caller's account (`arn:aws:iam::ACCOUNT:role/PATH/NAME`).
fn role_name_of<'a>(ctx: &Ctx<'_>, arn: &'a str) -> Option<&'a str> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    let path_and_name = resource.strip_prefix("role/")?;
    (account == ctx.account()).then(|| path_and_name.rsplit('/').next()).flatten()
}

/// `PolicyArns.member.N.arn` in index order.
fn policy_arns(p: &Params) -> Vec<&str> {
    let mut arns: Vec<(u32, &str)> = p
        .pairs()
        .iter()
        .filter_map(|(k, v)| {
            let index = k.strip_prefix("PolicyArns.member.")?.strip_suffix(".arn")?;
            Some((index.parse().ok()?, v.as_str()))
        })
        .collect();
    arns.sort_by_key(|(i, _)| *i);
    arns.into_iter().map(|(_, arn)| arn).collect()
}

/// The calling role session's source identity, which a chained session keeps (and may not
/// change), or the request's `SourceIdentity`.
fn source_identity(ctx: &Ctx<'_>, p: &Params) -> Result<Option<String>, ApiError> {
    let requested = p.get("SourceIdentity");
    if requested.is_some_and(|s| s.to_ascii_lowercase().starts_with("aws:")) {
        return Err(ApiError::validation("SourceIdentity cannot start with the reserved prefix 'aws:'"));
    }
    let inherited = match &ctx.caller.principal {
        Principal::AssumedRole(role) => role.source_identity.as_deref(),
        _ => None,
    };
    match (inherited, requested) {
        (Some(kept), Some(asked)) if kept != asked => Err(ApiError::validation(format!(
            "The source identity of this session is {kept}; a chained session cannot change it"
        ))),
        (Some(kept), _) => Ok(Some(kept.to_owned())),
        (None, asked) => Ok(asked.map(str::to_owned)),
    }
}

/// The new session's tags: the request's `Tags` (transitive when `TransitiveTagKeys` names
/// them) and the transitive tags of the calling role session, which a chained session keeps
/// and may not override.
fn session_tags(ctx: &Ctx<'_>, p: &Params, requested: &[Tag]) -> Result<Vec<SessionTag>, ApiError> {
    tags::reject_duplicate_keys(requested)?;
    let transitive_keys = p.list("TransitiveTagKeys");
    if let Some(stray) = transitive_keys.iter().find(|k| !requested.iter().any(|t| t.key.eq_ignore_ascii_case(k))) {
        return Err(ApiError::validation(format!("The transitive tag key {stray} is not one of the session's Tags")));
    }
    let mut tags: Vec<SessionTag> = match &ctx.caller.principal {
        Principal::AssumedRole(role) => role.session_tags.iter().filter(|t| t.transitive).cloned().collect(),
        _ => Vec::new(),
    };
    if let Some(clash) = requested.iter().find(|r| tags.iter().any(|t| t.key.eq_ignore_ascii_case(&r.key))) {
        return Err(ApiError::validation(format!(
            "The session tag {} is a transitive tag of the calling session and cannot be changed",
            clash.key
        )));
    }
    tags.extend(requested.iter().map(|t| SessionTag {
        key: t.key.clone(),
        value: t.value.clone(),
        transitive: transitive_keys.iter().any(|k| k.eq_ignore_ascii_case(&t.key)),
    }));
    Ok(tags)
}

/// The packed size of session policies and tags, in percent (iamd's measure, AWS publishes
/// none): `chars` out of 2048, rounded up; `PackedPolicyTooLarge` over 100.
fn packed_percent(chars: usize) -> Result<usize, ApiError> {
    let percent = (chars * 100).div_ceil(PACKED_POLICY_CHARS);
    if percent > 100 {
        return Err(ApiError::new(
            ErrorCode::PackedPolicyTooLarge,
            format!("Packed policy consumes {percent}% of allotted space"),
        ));
    }
    Ok(percent)
}

/// The session policies of an AssumeRole request (`Policy`, then each of `PolicyArns` as it
/// reads now) and what they count toward the packed size: characters without whitespace of
/// `Policy`, plus 30 per ARN.
async fn session_policies(ctx: &Ctx<'_>, p: &Params) -> Result<(Vec<String>, usize), ApiError> {
    let mut documents = Vec::new();
    let mut packed_chars = 0;
    if let Some(policy) = p.get("Policy") {
        policy_documents::validate(policy, PolicyKind::SessionOrBoundary)?;
        packed_chars += policy_size(policy);
        documents.push(policy.to_owned());
    }
    for arn in policy_arns(p) {
        // AssumeRole's model has no NoSuchEntity; a missing policy is a malformed session policy
        // (iamd's choice, AWS publishes no text for it).
        let not_found = |arn: &str| {
            ApiError::new(
                ErrorCode::MalformedPolicyDocument,
                format!("Policy {arn} does not exist or is not attachable."),
            )
        };
        managed_policies::owner_of(ctx, arn, not_found)?;
        let policy = ctx.app.store.get_policy(ctx.account(), arn).await.map_err(store_failure)?;
        let policy = policy.ok_or_else(|| not_found(arn))?;
        let version = ctx.app.store.get_policy_version(arn, &policy.default_version_id).await.map_err(store_failure)?;
        documents.push(version.document);
        packed_chars += 30;
    }
    Ok((documents, packed_chars))
}

/// The caller's code from `serial`, checked once, throttled and audited.
async fn check_mfa(ctx: &Ctx<'_>, serial: &str, code: &str) -> Result<(), ApiError> {
    let caller_arn = ctx.caller.arn();
    let user_name = ctx.caller.user().map_or(caller_arn.as_str(), |u| u.name.as_str());
    let attempt =
        Attempt { account_id: ctx.account(), user_name, source: ctx.source, kind: "sts-session", mfa_used: true };
    let Some(user) = ctx.caller.user() else {
        // Root MFA cannot be enabled through the API, so no serial is ever associated with root;
        // role sessions have no devices.
        ctx.app.metrics.mfa_check(mfa::Refusal::NotAssigned.outcome());
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
