//! Required MFA enrolment: when the account requires it (its setting, or the server's
//! `--require-mfa-enrolment`), a user without an enabled MFA device who signs in with the right
//! password gets an *awaiting-enrolment* session, which reaches nothing but these pages (and the
//! forced password change, which comes first, and sign-out):
//!
//! | route | operation |
//! | --- | --- |
//! | `GET /signin/enrol` | the device's name |
//! | `POST /signin/enrol` | CreateVirtualMFADevice (then the QR code, the secret, two codes) |
//! | `POST /signin/enrol/enable` | EnableMFADevice; the browser is then signed in, as with a code |
//! | `POST /signin/enrol/cancel` | DeleteVirtualMFADevice (an enrolment abandoned) |
//!
//! Each is the user's own IAM operation run through `ops::perform`, as on "My security
//! credentials". What the user's policies do not allow, the requirement itself does, and only
//! this: creating and deleting the virtual device named for the user (`mfa/{user name}`) and
//! enabling a device for the user itself — an identity policy added to the caller for these
//! requests only, so explicit denies and a permissions boundary still apply (docs/behaviour.md
//! §4). Codes are throttled as at sign-in: every attempt reserves one from the user's MFA budget
//! first, a lock refuses unevaluated, a success clears the count; each attempt is audited.

use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, FromRequestParts, State};
use axum::response::Response;
use http::StatusCode;
use http::request::Parts;
use iamd_domain::entities::{ConsoleSession, ConsoleState, LoginProfile, User};
use iamd_domain::{ApiError, ErrorCode, ids};
use iamd_model::Action;
use iamd_policy::{Policy, PolicyKind};

use super::security::{CodesForm, NameForm, SerialForm, digits, out_of_sync_warning, refusal};
use super::{Handled, cookies, form_or_empty, open_signed_in, pages, perform_as, session_in, tokens_match};
use crate::auth::audit::{Attempt, source_address};
use crate::auth::console_caller;
use crate::caller::Caller;
use crate::failure::{internal, store_failure};
use crate::state::App;
use pages::Reply;

/// How long the awaiting-enrolment session stays open after the right password: time to install
/// an app, scan the code and wait for a second one.
pub const ENROLMENT_SECONDS: i64 = 15 * 60;

/// Audit kind of a code pair typed at the required enrolment.
const KIND_ENROLMENT: &str = "console-mfa-enrolment";

/// What a locked-out user hears, exactly what wrong codes get (the audit trail tells them apart).
const CODES_REFUSED: &str = "Authentication code for device is not valid.";

/// Whether the account requires its console users to enrol an MFA device: its own setting, or
/// the server's configuration for every account.
pub(super) async fn required(app: &App, account_id: &str) -> Result<bool, ApiError> {
    if app.limits.mfa_enrolment_required {
        return Ok(true);
    }
    app.store.mfa_enrolment_required(account_id).await.map_err(store_failure)
}

/// A request from a browser that must enrol an MFA device before anything else.
pub(super) struct Enrolling {
    session: ConsoleSession,
    profile: LoginProfile,
}

impl FromRequestParts<Arc<App>> for Enrolling {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Response> {
        let (session, profile) = session_in(app, parts, &[ConsoleState::AwaitingEnrolment]).await?;
        Ok(Enrolling { session, profile })
    }
}

/// What the requirement allows beyond the user's own policies: the virtual device named for the
/// user (create, and delete an unfinished one, which would otherwise block every later attempt;
/// deleting an enabled device is refused by the operation itself), and enabling a device for the
/// user itself.
fn enrolment_grant(account_id: &str, user: &User) -> Result<Policy, ApiError> {
    let document = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["iam:CreateVirtualMFADevice", "iam:DeleteVirtualMFADevice"],
                "Resource": ids::mfa_arn(account_id, "/", &user.name),
            },
            {
                "Effect": "Allow",
                "Action": "iam:EnableMFADevice",
                "Resource": ids::user_arn(account_id, &user.path, &user.name),
            },
        ],
    });
    Policy::parse(&document.to_string(), PolicyKind::Identity).map_err(|e| internal(e.message))
}

/// The enrolling user as a caller: its own policies plus [`enrolment_grant`].
async fn enrolling_caller(app: &App, session: &ConsoleSession) -> Result<Caller, ApiError> {
    let mut caller = console_caller(app, session).await?;
    let grant = enrolment_grant(&session.account_id, &session.user)?;
    Arc::get_mut(&mut caller.permissions)
        .ok_or_else(|| internal("a console caller's permissions are shared"))?
        .identity
        .push(grant);
    Ok(caller)
}

/// What every enrolment form answers before acting on it, if anything: a form without the
/// session's CSRF token is refused, and a password that must be changed comes first.
fn turned_away(csrf: &str, session: &ConsoleSession, profile: &LoginProfile) -> Option<Reply> {
    if !tokens_match(csrf, &session.csrf_token) {
        return Some(Reply::forbidden());
    }
    profile.reset_required.then(|| Reply::see_other("/console/password"))
}

/// The name page, with what the last action said.
fn name_page(session: &ConsoleSession, status: StatusCode, error: Option<&str>, notice: Option<&str>) -> Reply {
    name_page_offering(session, status, error, notice, None)
}

fn name_page_offering(
    session: &ConsoleSession,
    status: StatusCode,
    error: Option<&str>,
    notice: Option<&str>,
    leftover: Option<&str>,
) -> Reply {
    let page = pages::EnrolRequired {
        csrf: &session.csrf_token,
        account_id: &session.account_id,
        user_name: &session.user.name,
        error,
        notice,
        leftover,
    };
    Reply::page(status, &page)
}

pub(super) async fn start(Enrolling { session, profile }: Enrolling) -> Handled {
    if profile.reset_required {
        return Ok(Reply::see_other("/console/password"));
    }
    Ok(name_page(&session, StatusCode::OK, None, None))
}

pub(super) async fn create(
    State(app): State<Arc<App>>,
    Enrolling { session, profile }: Enrolling,
    parts: Parts,
    form: Result<Form<NameForm>, FormRejection>,
) -> Handled {
    let form = form_or_empty(form);
    if let Some(reply) = turned_away(&form.csrf, &session, &profile) {
        return Ok(reply);
    }
    let caller = enrolling_caller(&app, &session).await?;
    let source = source_address(&parts.extensions);
    let name = form.name.trim();
    let created =
        perform_as(&app, &caller, &source, Action::CreateVirtualMFADevice, &[("VirtualMFADeviceName", name)]).await;
    let device = match created {
        Ok(xml) => super::results::new_device(xml)?,
        Err(e) => {
            let exists = e.code == ErrorCode::EntityAlreadyExists;
            let refused = refusal(e)?;
            // Most likely an enrolment left unfinished: offer to delete it.
            let leftover = exists.then(|| ids::mfa_arn(&session.account_id, "/", name));
            return Ok(name_page_offering(&session, refused.status, Some(&refused.text), None, leftover.as_deref()));
        }
    };
    let qr = format!("data:image/png;base64,{}", device.qr_png_base64);
    let page = pages::Enrol {
        forced: true,
        csrf: &session.csrf_token,
        serial: &device.serial_number,
        name,
        qr: Some(&qr),
        secret: Some(&device.base32_seed),
        error: None,
    };
    Ok(Reply::page(StatusCode::OK, &page))
}

pub(super) async fn enable(
    State(app): State<Arc<App>>,
    Enrolling { session, profile }: Enrolling,
    parts: Parts,
    form: Result<Form<CodesForm>, FormRejection>,
) -> Handled {
    let form = form_or_empty(form);
    if let Some(reply) = turned_away(&form.csrf, &session, &profile) {
        return Ok(reply);
    }
    let now = app.now_unix();
    let user = &session.user;
    let source = source_address(&parts.extensions);
    let attempt = Attempt {
        account_id: &session.account_id,
        user_name: &user.name,
        source: &source,
        kind: KIND_ENROLMENT,
        mfa_used: true,
    };
    let refused_page = |status: StatusCode, text: &str| {
        // The seed is not shown again: the app already holds it, or the user starts over.
        let page = pages::Enrol {
            forced: true,
            csrf: &session.csrf_token,
            serial: &form.serial,
            name: &form.name,
            qr: None,
            secret: None,
            error: Some(text),
        };
        Reply::page(status, &page)
    };
    // As at sign-in: the attempt is charged before any code is looked at.
    let Some(reserved) =
        app.store.reserve_mfa_attempt(&user.user_id, &app.throttle, now).await.map_err(store_failure)?
    else {
        attempt.record(&app, now, false, crate::auth::mfa::Refusal::Locked.reason()).await;
        return Ok(refused_page(StatusCode::FORBIDDEN, CODES_REFUSED));
    };
    let caller = enrolling_caller(&app, &session).await?;
    let (code1, code2) = (digits(&form.code1), digits(&form.code2));
    let params = [
        ("UserName", user.name.as_str()),
        ("SerialNumber", form.serial.as_str()),
        ("AuthenticationCode1", code1.as_str()),
        ("AuthenticationCode2", code2.as_str()),
    ];
    if let Err(e) = perform_as(&app, &caller, &source, Action::EnableMFADevice, &params).await {
        let reason = if e.code == ErrorCode::InvalidAuthenticationCode {
            "wrong codes at required enrolment".to_owned()
        } else {
            format!("device not enabled at required enrolment: {}", e.code.as_str())
        };
        let refused = refusal(e)?;
        if reserved.is_locked(now) {
            app.metrics.mfa_lockout_started();
        }
        attempt.record(&app, now, false, &reason).await;
        return Ok(refused_page(refused.status, &refused.text));
    }
    app.store.clear_mfa_failures(&user.user_id).await.map_err(store_failure)?;
    attempt.record(&app, now, true, "device enabled at required enrolment").await;
    let warning = out_of_sync_warning(&app, &session.account_id, &form.serial).await?;
    // The enrolment session is spent; two consecutive codes were just proved, so the signed-in
    // session (under a new id) counts as an MFA sign-in from now.
    app.store.delete_console_session(&session.id_hash).await.map_err(store_failure)?;
    let cookie = open_signed_in(&app, session.user.clone(), now, Some(now), cookies::is_https(&parts.headers)).await?;
    let page = pages::Enrolled { serial: &form.serial, warning: warning.as_deref() };
    Ok(Reply::page(StatusCode::OK, &page).cookie(cookie))
}

pub(super) async fn cancel(
    State(app): State<Arc<App>>,
    Enrolling { session, profile }: Enrolling,
    parts: Parts,
    form: Result<Form<SerialForm>, FormRejection>,
) -> Handled {
    let form = form_or_empty(form);
    if let Some(reply) = turned_away(&form.csrf, &session, &profile) {
        return Ok(reply);
    }
    let caller = enrolling_caller(&app, &session).await?;
    let source = source_address(&parts.extensions);
    let params = [("SerialNumber", form.serial.as_str())];
    match perform_as(&app, &caller, &source, Action::DeleteVirtualMFADevice, &params).await {
        Ok(_) => {
            let text = format!("The MFA device {} was deleted. Assign a device to continue.", form.serial);
            Ok(name_page(&session, StatusCode::OK, None, Some(&text)))
        }
        Err(e) => {
            let refused = refusal(e)?;
            let text = format!("The unfinished device {} could not be deleted. {}", form.serial, refused.text);
            Ok(name_page(&session, refused.status, Some(&text), None))
        }
    }
}
