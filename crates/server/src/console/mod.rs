//! The browser sign-in ("Login requires MFA"): HTML pages served by iamd itself.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /signin`, `POST /signin` | account id, user name, password |
//! | `GET /signin/mfa`, `POST /signin/mfa` | a code from one of the user's MFA devices |
//! | `/signin/enrol…` | the required MFA enrolment ([`enrolment`]) |
//! | `/console/admin…` | administration ([`admin`]) |
//! | `GET /console/password`, `POST /console/password` | the forced password change (`reset_required`) |
//! | `GET /console` | who is signed in, whether with MFA and when |
//! | `POST /signout` | ends the session |
//!
//! Sessions live in the store (any node can serve them), keyed by the SHA-256 of the random value
//! in the `iamd_session` cookie. A right password for a user with an enabled MFA device opens only
//! a short *awaiting-MFA* session; the right code replaces it with a new *signed-in* session under
//! a new id (no fixation). Every failure — unknown account or user, wrong password, wrong or
//! reused code, MFA lockout — answers the same 401 with the same neutral message; the audit trail
//! keeps the real reason.
//!
//! CSRF: before a session exists the sign-in form is protected by a double-submit token (cookie
//! `iamd_csrf` and a hidden field, compared in constant time); forms inside a session carry the
//! session's own token. A POST without the right token gets 403 and changes nothing. All cookies
//! are `HttpOnly; SameSite=Strict; Path=/`.

mod admin;
mod cookies;
mod enrolment;
mod pages;
mod results;
mod security;

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, FromRequestParts, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::request::Parts;
use http::{HeaderMap, StatusCode};
use iamd_domain::entities::{ConsoleSession, ConsoleState, LoginProfile, User};
use iamd_domain::{ApiError, ErrorCode, ids};
use iamd_store::StoreError;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::auth::audit::{Attempt, source_address};
use crate::auth::{mfa, password, token_hash};
use crate::caller::Caller;
use crate::failure::store_failure;
use crate::metrics::SignInOutcome;
use crate::ops::{self, Ctx};
use crate::state::App;
use crate::wire::params::Params;
use crate::wire::shapes::timestamp;
use iamd_model::Action;
use pages::Reply;

/// How long the awaiting-MFA step stays open after the right password.
pub const MFA_STEP_SECONDS: i64 = 5 * 60;
/// How long a signed-in console session lasts.
pub const SESSION_SECONDS: i64 = 12 * 60 * 60;
/// The one answer to every failed sign-in, whatever failed.
pub const INCORRECT: &str = "Your authentication information is incorrect. Please try again.";

/// Audit kinds.
const KIND_PASSWORD: &str = "console-password";
const KIND_MFA: &str = "console-mfa";

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/signin", get(signin_form).post(signin))
        .route("/signin/mfa", get(mfa_form).post(mfa_submit))
        .route("/console", get(console))
        .route("/console/password", get(password_form).post(password_submit))
        .route("/signout", post(signout))
        .route("/console/security", get(security::security))
        .route("/console/security/mfa", post(security::mfa_create))
        .route("/console/security/mfa/enable", post(security::mfa_enable))
        .route("/console/security/mfa/cancel", post(security::mfa_cancel))
        .route("/console/security/mfa/resync", post(security::mfa_resync))
        .route("/console/security/mfa/remove", post(security::mfa_remove))
        .route("/console/security/password", post(security::password))
        .route("/console/security/keys", post(security::key_create))
        .route("/console/security/keys/status", post(security::key_status))
        .route("/console/security/keys/delete", post(security::key_delete))
        .route("/console/assets/{file}", get(security::asset))
        .route("/signin/enrol", get(enrolment::start).post(enrolment::create))
        .route("/signin/enrol/enable", post(enrolment::enable))
        .route("/signin/enrol/cancel", post(enrolment::cancel))
        .route("/console/admin", get(admin::index))
        .route("/console/admin/users", get(admin::users))
        .route("/console/admin/users/{name}", get(admin::user))
        .route("/console/admin/users/{name}/mfa/deactivate", post(admin::deactivate))
        .route("/console/admin/users/{name}/mfa/unlock", post(admin::unlock))
        .route("/console/admin/report", get(admin::report))
        .route("/console/admin/settings", get(admin::settings).post(admin::settings_submit))
}

/// What a handler failed with: an internal error (store down, …), shown as a plain 500, or no
/// free password-hashing slot, shown as a 503 with `Retry-After`.
enum Failure {
    Internal,
    Busy,
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        // The cause is logged where the ApiError was made (`internal`, `store_failure`, `busy`).
        if e.code == ErrorCode::Throttling { Failure::Busy } else { Failure::Internal }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Failure::Internal => Reply::failure().into_response(),
            Failure::Busy => Reply::busy().into_response(),
        }
    }
}

type Handled = Result<Reply, Failure>;

/// A form body, or an empty form when the body is not one (wrong or missing content type,
/// undecodable): every handler then finds no CSRF token and refuses with 403, as for any forged
/// request, instead of axum's 415/422.
fn form_or_empty<T: Default>(form: Result<Form<T>, FormRejection>) -> T {
    form.map(|Form(form)| form).unwrap_or_default()
}

/// Constant-time comparison of a submitted token with the expected one; empty never matches.
fn tokens_match(submitted: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(submitted.as_bytes().ct_eq(expected.as_bytes()))
}

/// Runs `action` with `params` as `caller` (a console user): validated, authorized and handled
/// exactly as the same call through the query API; the answer is its `{Op}Result` XML.
async fn perform_as(
    app: &App,
    caller: &Caller,
    source: &str,
    action: Action,
    params: &[(&str, &str)],
) -> Result<Option<String>, ApiError> {
    let ctx = Ctx { app, caller, action, now: app.clock.now(), source };
    let result = ops::perform(&ctx, &Params::from_pairs(params.iter().copied())).await;
    let outcome = result.as_ref().err().map_or("allowed", |e| e.code.as_str());
    let user = caller.user().map_or("", |u| u.name.as_str());
    tracing::info!(action = action.name(), user, outcome, "console action");
    result
}

/// Where a browser whose session is in `state` belongs.
fn home_of(state: ConsoleState) -> &'static str {
    match state {
        ConsoleState::SignedIn => "/console",
        ConsoleState::AwaitingMfa => "/signin/mfa",
        ConsoleState::AwaitingEnrolment => "/signin/enrol",
    }
}

/// At most `max` characters of user-supplied text, for the audit trail.
fn clipped(text: &str, max: usize) -> &str {
    text.char_indices().nth(max).map_or(text, |(i, _)| &text[..i])
}

/// How the audit trail (database and log) names the user of a failed sign-in: the name typed
/// when a user of that name exists in that account, otherwise `unknown:` and the first 8 hex
/// digits of the text's SHA-256. People paste passwords into the user-name field; such text must
/// not be kept, yet repeated attempts with the same text still show as the same name. Runs after
/// the password check, for every failure alike, so timing still tells nothing.
async fn audit_user_name(app: &App, account_id: &str, typed: &str) -> String {
    match app.store.get_user(account_id, typed).await {
        Ok(Some(user)) => user.name,
        // A store failure here costs the trail a name, not the request.
        Ok(None) | Err(_) => {
            let digest = token_hash(typed);
            let prefix: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
            format!("unknown:{prefix}")
        }
    }
}

/// The live session named by the request's cookie. An expired one is deleted on sight.
async fn current_session(app: &App, headers: &HeaderMap, now: i64) -> Result<Option<ConsoleSession>, ApiError> {
    let Some(value) = cookies::get(headers, cookies::SESSION) else { return Ok(None) };
    let hash = token_hash(value);
    let Some(session) = app.store.find_console_session(&hash).await.map_err(store_failure)? else {
        return Ok(None);
    };
    if now >= session.expires_at {
        app.store.delete_console_session(&hash).await.map_err(store_failure)?;
        return Ok(None);
    }
    Ok(Some(session))
}

/// Stores a new session and returns the cookie that names it.
async fn open_session(
    app: &App,
    user: User,
    state: ConsoleState,
    now: i64,
    mfa_authenticated_at: Option<i64>,
    secure: bool,
) -> Result<http::HeaderValue, ApiError> {
    let id = ids::new_url_token();
    let lifetime = match state {
        ConsoleState::AwaitingMfa => MFA_STEP_SECONDS,
        ConsoleState::AwaitingEnrolment => enrolment::ENROLMENT_SECONDS,
        ConsoleState::SignedIn => SESSION_SECONDS,
    };
    let session = ConsoleSession {
        id_hash: token_hash(&id),
        account_id: user.account_id.clone(),
        user,
        state,
        csrf_token: ids::new_url_token(),
        created_at: now,
        expires_at: now + lifetime,
        mfa_authenticated_at,
    };
    app.store.create_console_session(&session).await.map_err(store_failure)?;
    Ok(cookies::set(cookies::SESSION, &id, Some(lifetime), secure))
}

/// A copy of `old` under a new id and CSRF token, expiring when `old` would have; returns the
/// cookie that names it and the new session.
async fn reissue_session(
    app: &App,
    old: &ConsoleSession,
    now: i64,
    secure: bool,
) -> Result<(http::HeaderValue, ConsoleSession), ApiError> {
    let id = ids::new_url_token();
    let session =
        ConsoleSession { id_hash: token_hash(&id), csrf_token: ids::new_url_token(), created_at: now, ..old.clone() };
    app.store.create_console_session(&session).await.map_err(store_failure)?;
    Ok((cookies::set(cookies::SESSION, &id, Some(old.expires_at - now), secure), session))
}

/// The end of a successful sign-in: a signed-in session, `PasswordLastUsed`, off to the console.
async fn finish_sign_in(app: &App, user: User, now: i64, mfa_at: Option<i64>, secure: bool) -> Handled {
    let cookie = open_signed_in(app, user, now, mfa_at, secure).await?;
    Ok(Reply::see_other("/console").cookie(cookie))
}

/// Opens the signed-in session of a successful sign-in and records it; returns its cookie.
async fn open_signed_in(
    app: &App,
    user: User,
    now: i64,
    mfa_at: Option<i64>,
    secure: bool,
) -> Result<http::HeaderValue, ApiError> {
    let user_id = user.user_id.clone();
    let cookie = open_session(app, user, ConsoleState::SignedIn, now, mfa_at, secure).await?;
    app.store.record_password_use(&user_id, now).await.map_err(store_failure)?;
    app.metrics.sign_in(SignInOutcome::SignedIn);
    Ok(cookie)
}

/// The user's login profile, or `None` if it is gone (then the session is worthless).
async fn login_profile(app: &App, user: &User) -> Result<Option<LoginProfile>, ApiError> {
    match app.store.get_login_profile(&user.account_id, &user.name).await {
        Ok(profile) if profile.user.user_id == user.user_id => Ok(Some(profile)),
        Ok(_) | Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(store_failure(e)),
    }
}

// --- Where a browser stands ------------------------------------------------------------------

/// A request from a browser whose session is waiting for the MFA code. Any other browser is sent
/// where it belongs: to the console when signed in, to the sign-in form otherwise.
struct AwaitingMfa(ConsoleSession);

impl FromRequestParts<Arc<App>> for AwaitingMfa {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Response> {
        match current_session(app, &parts.headers, app.now_unix())
            .await
            .map_err(|e| Failure::from(e).into_response())?
        {
            Some(session) if session.state == ConsoleState::AwaitingMfa => Ok(AwaitingMfa(session)),
            Some(session) => Err(Reply::see_other(home_of(session.state)).into_response()),
            None => Err(Reply::see_other("/signin").into_response()),
        }
    }
}

/// The request's live session if it is in one of the `accepted` states, with the user's login
/// profile. A browser in another state is sent where it belongs (so a user who must enrol an MFA
/// device reaches no other page), one without a session to sign in; a session whose login
/// profile is gone ends here.
async fn session_in(
    app: &App,
    parts: &Parts,
    accepted: &[ConsoleState],
) -> Result<(ConsoleSession, LoginProfile), Response> {
    let failure = |e: ApiError| Failure::from(e).into_response();
    let session = match current_session(app, &parts.headers, app.now_unix()).await.map_err(failure)? {
        Some(session) if accepted.contains(&session.state) => session,
        Some(session) => return Err(Reply::see_other(home_of(session.state)).into_response()),
        None => return Err(Reply::see_other("/signin").into_response()),
    };
    let Some(profile) = login_profile(app, &session.user).await.map_err(failure)? else {
        app.store.delete_console_session(&session.id_hash).await.map_err(|e| failure(store_failure(e)))?;
        return Err(Reply::see_other("/signin").into_response());
    };
    Ok((session, profile))
}

/// A request from a signed-in browser, with the user's login profile.
struct SignedIn {
    session: ConsoleSession,
    profile: LoginProfile,
}

impl FromRequestParts<Arc<App>> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Response> {
        let (session, profile) = session_in(app, parts, &[ConsoleState::SignedIn]).await?;
        Ok(SignedIn { session, profile })
    }
}

/// A request from a browser that may change its password when the login profile requires it:
/// signed in, or still to enrol an MFA device (the password comes first).
struct PasswordChanging {
    session: ConsoleSession,
    profile: LoginProfile,
}

impl FromRequestParts<Arc<App>> for PasswordChanging {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Response> {
        let accepted = [ConsoleState::SignedIn, ConsoleState::AwaitingEnrolment];
        let (session, profile) = session_in(app, parts, &accepted).await?;
        Ok(PasswordChanging { session, profile })
    }
}

// --- Step 1: the password --------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
struct SignInForm {
    csrf: String,
    account_id: String,
    user_name: String,
    password: String,
}

async fn signin_form(State(app): State<Arc<App>>, headers: HeaderMap) -> Handled {
    let now = app.now_unix();
    if let Some(session) = current_session(&app, &headers, now).await? {
        return Ok(Reply::see_other(home_of(session.state)));
    }
    // Keep a well-formed token the browser already holds, so two open tabs both work.
    let existing = cookies::get(&headers, cookies::CSRF).filter(|v| ids::is_url_token(v));
    let csrf = existing.map_or_else(ids::new_url_token, str::to_owned);
    let page = pages::SignIn { csrf: &csrf, account_id: "", user_name: "", error: None };
    let mut reply = Reply::page(StatusCode::OK, &page);
    if existing.is_none() {
        reply = reply.cookie(cookies::set(cookies::CSRF, &csrf, None, cookies::is_https(&headers)));
    }
    Ok(reply)
}

async fn signin(State(app): State<Arc<App>>, parts: Parts, form: Result<Form<SignInForm>, FormRejection>) -> Handled {
    let form = form_or_empty(form);
    let headers = &parts.headers;
    let expected = cookies::get(headers, cookies::CSRF).unwrap_or_default();
    if !tokens_match(&form.csrf, expected) {
        return Ok(Reply::forbidden());
    }
    let now = app.now_unix();
    let secure = cookies::is_https(headers);
    let source = source_address(&parts.extensions);
    let profile = password::check(&app, &form.account_id, &form.user_name, &form.password, &source, now).await?;
    let user_name = match &profile {
        Ok(profile) => profile.user.name.clone(),
        Err(_) => audit_user_name(&app, &form.account_id, &form.user_name).await,
    };
    let attempt = Attempt {
        account_id: clipped(&form.account_id, 64),
        user_name: &user_name,
        source: &source,
        kind: KIND_PASSWORD,
        mfa_used: false,
    };
    let profile = match profile {
        Ok(profile) => profile,
        Err(refusal) => {
            app.metrics.sign_in(match refusal {
                password::Refusal::Wrong => SignInOutcome::WrongPassword,
                password::Refusal::Locked => SignInOutcome::PasswordThrottled,
            });
            attempt.record(&app, now, false, refusal.reason()).await;
            let page = pages::SignIn {
                csrf: expected,
                account_id: &form.account_id,
                user_name: &form.user_name,
                error: Some(INCORRECT),
            };
            return Ok(Reply::page(StatusCode::UNAUTHORIZED, &page));
        }
    };
    attempt.record(&app, now, true, "password accepted").await;

    // A new sign-in ends whatever session this browser had.
    if let Some(old) = cookies::get(headers, cookies::SESSION) {
        app.store.delete_console_session(&token_hash(old)).await.map_err(store_failure)?;
    }
    let user = profile.user;
    let devices = app.store.list_user_mfa_devices(&user.account_id, &user.name).await.map_err(store_failure)?;
    if devices.is_empty() {
        if !enrolment::required(&app, &user.account_id).await? {
            return finish_sign_in(&app, user, now, None, secure).await;
        }
        // The account requires a device: assigning one is all this session may do.
        let cookie = open_session(&app, user, ConsoleState::AwaitingEnrolment, now, None, secure).await?;
        app.metrics.sign_in(SignInOutcome::PasswordAccepted);
        return Ok(Reply::see_other("/signin/enrol").cookie(cookie));
    }
    let cookie = open_session(&app, user, ConsoleState::AwaitingMfa, now, None, secure).await?;
    app.metrics.sign_in(SignInOutcome::PasswordAccepted);
    Ok(Reply::see_other("/signin/mfa").cookie(cookie))
}

// --- Step 2: the MFA code --------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
struct MfaForm {
    csrf: String,
    serial: String,
    code: String,
}

/// The serials of the devices assigned to the session's user.
async fn serials_of(app: &App, user: &User) -> Result<Vec<String>, ApiError> {
    let devices = app.store.list_user_mfa_devices(&user.account_id, &user.name).await.map_err(store_failure)?;
    Ok(devices.into_iter().map(|d| d.serial).collect())
}

async fn mfa_form(State(app): State<Arc<App>>, AwaitingMfa(session): AwaitingMfa) -> Handled {
    let serials = serials_of(&app, &session.user).await?;
    let page = pages::Mfa {
        csrf: &session.csrf_token,
        account_id: &session.account_id,
        user_name: &session.user.name,
        serials: &serials,
        error: None,
    };
    Ok(Reply::page(StatusCode::OK, &page))
}

async fn mfa_submit(
    State(app): State<Arc<App>>,
    AwaitingMfa(session): AwaitingMfa,
    parts: Parts,
    form: Result<Form<MfaForm>, FormRejection>,
) -> Handled {
    let form = form_or_empty(form);
    let headers = &parts.headers;
    let now = app.now_unix();
    if !tokens_match(&form.csrf, &session.csrf_token) {
        return Ok(Reply::forbidden());
    }
    let serials = serials_of(&app, &session.user).await?;
    // One device: the form may leave the serial out. Otherwise the user picked one; a serial that
    // is not theirs is refused by the check itself.
    let serial = match (form.serial.as_str(), serials.as_slice()) {
        ("", [only]) => only.as_str(),
        (chosen, _) => chosen,
    };
    let code: String = form.code.chars().filter(|c| !c.is_whitespace()).collect();
    let source = source_address(&parts.extensions);
    let attempt = Attempt {
        account_id: &session.account_id,
        user_name: &session.user.name,
        source: &source,
        kind: KIND_MFA,
        mfa_used: true,
    };
    match mfa::check_code(&app, &session.user, serial, &code, now).await? {
        Ok(()) => {
            attempt.record(&app, now, true, "code accepted").await;
            // The awaiting session is spent; the signed-in one gets a new id.
            app.store.delete_console_session(&session.id_hash).await.map_err(store_failure)?;
            finish_sign_in(&app, session.user, now, Some(now), cookies::is_https(headers)).await
        }
        Err(refusal) => {
            app.metrics.sign_in(SignInOutcome::MfaRefused);
            attempt.record(&app, now, false, refusal.reason()).await;
            let page = pages::Mfa {
                csrf: &session.csrf_token,
                account_id: &session.account_id,
                user_name: &session.user.name,
                serials: &serials,
                error: Some(INCORRECT),
            };
            Ok(Reply::page(StatusCode::UNAUTHORIZED, &page))
        }
    }
}

// --- The console -----------------------------------------------------------------------------

async fn console(SignedIn { session, profile }: SignedIn) -> Handled {
    if profile.reset_required {
        return Ok(Reply::see_other("/console/password"));
    }
    let user = &session.user;
    let arn = ids::user_arn(&session.account_id, &user.path, &user.name);
    let page = pages::Console {
        csrf: &session.csrf_token,
        account_id: &session.account_id,
        user_name: &user.name,
        arn: &arn,
        mfa_at: session.mfa_authenticated_at.map(timestamp),
        expires_at: timestamp(session.expires_at),
    };
    Ok(Reply::page(StatusCode::OK, &page))
}

// --- The forced password change --------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
struct PasswordForm {
    csrf: String,
    old_password: String,
    new_password: String,
    confirm_password: String,
}

async fn password_form(PasswordChanging { session, profile }: PasswordChanging) -> Handled {
    if !profile.reset_required {
        return Ok(Reply::see_other(home_of(session.state)));
    }
    let page = pages::ChangePassword {
        csrf: &session.csrf_token,
        account_id: &session.account_id,
        user_name: &session.user.name,
        error: None,
    };
    Ok(Reply::page(StatusCode::OK, &page))
}

async fn password_submit(
    State(app): State<Arc<App>>,
    PasswordChanging { session, profile }: PasswordChanging,
    parts: Parts,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Handled {
    let form = form_or_empty(form);
    let now = app.now_unix();
    if !tokens_match(&form.csrf, &session.csrf_token) {
        return Ok(Reply::forbidden());
    }
    if !profile.reset_required {
        return Ok(Reply::see_other(home_of(session.state)));
    }
    let user = &session.user;
    let refuse = |status: StatusCode, message: &str| -> Handled {
        let page = pages::ChangePassword {
            csrf: &session.csrf_token,
            account_id: &session.account_id,
            user_name: &user.name,
            error: Some(message),
        };
        Ok(Reply::page(status, &page))
    };
    let source = source_address(&parts.extensions);
    let attempt = Attempt {
        account_id: &session.account_id,
        user_name: &user.name,
        source: &source,
        kind: KIND_PASSWORD,
        mfa_used: session.mfa_authenticated_at.is_some(),
    };
    let checked =
        password::attempt(&app, Some(&user.user_id), Some(&profile.password_hash), &form.old_password, &source, now)
            .await?;
    let reason = match checked {
        Ok(()) => "old password accepted for a forced change",
        Err(password::Refusal::Wrong) => "wrong old password",
        Err(refusal) => refusal.reason(),
    };
    attempt.record(&app, now, checked.is_ok(), reason).await;
    if checked.is_err() {
        return refuse(StatusCode::UNAUTHORIZED, INCORRECT);
    }
    if form.new_password != form.confirm_password {
        return refuse(StatusCode::BAD_REQUEST, "The new password and its confirmation do not match.");
    }
    if form.new_password == form.old_password {
        return refuse(StatusCode::BAD_REQUEST, "The new password must be different from the old one.");
    }
    let hash = match password::hash_conforming(&app, &session.account_id, &user.name, &form.new_password).await {
        Ok(hash) => hash,
        Err(e) if e.code == ErrorCode::PasswordPolicyViolation => return refuse(StatusCode::BAD_REQUEST, &e.message),
        Err(e) => return Err(e.into()),
    };
    app.store
        .update_login_profile(&session.account_id, &user.name, Some(&hash), Some(false), now)
        .await
        .map_err(store_failure)?;
    // iamd's rule (docs/behaviour.md §4): a new password ends every console session of the
    // user, this one included; this browser, which just proved the old password, gets a fresh
    // session under a new id (same MFA time, same expiry, same state: a user who must still
    // enrol an MFA device goes on to do so), so it stays signed in.
    app.store.delete_console_sessions_of_user(&user.user_id).await.map_err(store_failure)?;
    let (cookie, _) = reissue_session(&app, &session, now, cookies::is_https(&parts.headers)).await?;
    Ok(Reply::see_other(home_of(session.state)).cookie(cookie))
}

// --- Sign-out --------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
struct SignOutForm {
    csrf: String,
}

async fn signout(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    form: Result<Form<SignOutForm>, FormRejection>,
) -> Handled {
    let form = form_or_empty(form);
    let now = app.now_unix();
    let secure = cookies::is_https(&headers);
    let Some(session) = current_session(&app, &headers, now).await? else {
        // Nothing to end (expired or already signed out).
        return Ok(Reply::see_other("/signin").cookie(cookies::clear(cookies::SESSION, secure)));
    };
    if !tokens_match(&form.csrf, &session.csrf_token) {
        return Ok(Reply::forbidden());
    }
    app.store.delete_console_session(&session.id_hash).await.map_err(store_failure)?;
    Ok(Reply::see_other("/signin").cookie(cookies::clear(cookies::SESSION, secure)))
}
