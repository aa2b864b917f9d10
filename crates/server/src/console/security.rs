//! "My security credentials": a signed-in user manages its own MFA devices, password and access
//! keys.
//!
//! | route | operation(s) |
//! | --- | --- |
//! | `GET /console/security` | ListMFADevices, ListAccessKeys, GetAccountPasswordPolicy |
//! | `POST /console/security/mfa` | CreateVirtualMFADevice (then the enrolment page: QR code, secret, two codes) |
//! | `POST /console/security/mfa/enable` | EnableMFADevice |
//! | `POST /console/security/mfa/cancel` | DeleteVirtualMFADevice (an enrolment abandoned) |
//! | `POST /console/security/mfa/resync` | ResyncMFADevice |
//! | `POST /console/security/mfa/remove` | DeactivateMFADevice, then DeleteVirtualMFADevice |
//! | `POST /console/security/password` | ChangePassword |
//! | `POST /console/security/keys` | CreateAccessKey (the secret shown once) |
//! | `POST /console/security/keys/status` | UpdateAccessKey |
//! | `POST /console/security/keys/delete` | DeleteAccessKey |
//!
//! The console decides nothing here. Every action is the user's own IAM operation, run through
//! `ops::perform` — the model's validation, the one `authz` decision and the handler, exactly as
//! the same call through the query API — by the caller `auth::console_caller` builds from the
//! session (its user's policies now; `aws:MultiFactorAuthPresent` true only when the sign-in
//! passed the code step). So AWS's MFA policies decide for the console as for the API, and a
//! refusal is the operation's own AWS error, shown in words next to the form that caused it.

use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use iamd_domain::{ApiError, ErrorCode, ids};
use iamd_model::Action;
use serde::Deserialize;

use super::results;
use super::{Failure, Handled, SignedIn, cookies, form_or_empty, pages, perform_as, reissue_session, tokens_match};
use crate::auth::audit::source_address;
use crate::auth::console_caller;
use crate::caller::Caller;
use crate::failure::store_failure;
use crate::state::App;
use crate::wire::shapes::timestamp;
use iamd_domain::entities::ConsoleSession;
use pages::Reply;

/// Codes this many steps (30 s each) or more behind the server when a device was enabled earn
/// the out-of-sync warning (docs/behaviour.md §1.3, §4).
const OLD_CODES_STEPS: i64 = 2;

/// The signed-in user acting through the console: its session and the caller its operations run
/// as.
pub(super) struct Acting {
    pub(super) app: Arc<App>,
    pub(super) session: ConsoleSession,
    pub(super) caller: Caller,
    pub(super) source: String,
    /// Set when this request gave the browser a new session (after a change that ends the
    /// user's sessions): the cookie to send.
    cookie: Option<HeaderValue>,
}

/// What an operation refused, in words, with the status the page answers with.
pub(super) struct Refusal {
    pub status: StatusCode,
    pub text: String,
}

/// Splits an operation's failure into the client's mistake or refusal (shown on the page) and
/// the server's own failure (an internal error or no free hashing slot: the console's 500 / 503).
pub(super) fn refusal(e: ApiError) -> Result<Refusal, Failure> {
    if e.code == ErrorCode::Throttling || !e.code.sender_fault() {
        return Err(e.into());
    }
    let status = StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    Ok(Refusal { status, text: in_words(&e) })
}

/// An AWS error as the page says it: its message, introduced by what it means where the bare
/// message would not say (a refusal by policy — AWS's `User: … is not authorized to perform: …`
/// —, a quota).
fn in_words(e: &ApiError) -> String {
    let message = e.message.trim();
    match e.code {
        ErrorCode::AccessDenied if message.starts_with("User: ") => {
            format!("Your permissions do not allow this. {message}")
        }
        ErrorCode::LimitExceeded => format!("A limit was reached. {message}"),
        _ if message.is_empty() => format!("The request was refused ({}).", e.code.as_str()),
        _ => message.to_owned(),
    }
}

impl Acting {
    /// The signed-in user of `signed` as a caller, once the form's CSRF token is checked
    /// (`None`: the token is wrong, nothing may happen).
    pub(super) async fn start(
        app: Arc<App>,
        signed: SignedIn,
        parts: &Parts,
        csrf: Option<&str>,
    ) -> Result<Option<Self>, Failure> {
        if let Some(submitted) = csrf
            && !tokens_match(submitted, &signed.session.csrf_token)
        {
            return Ok(None);
        }
        let caller = console_caller(&app, &signed.session).await?;
        let source = source_address(&parts.extensions);
        Ok(Some(Acting { app, session: signed.session, caller, source, cookie: None }))
    }

    /// Runs `action` with `params` as the signed-in user: validated, authorized and handled as
    /// the same call through the API.
    pub(super) async fn call(&self, action: Action, params: &[(&str, &str)]) -> Result<Option<String>, ApiError> {
        perform_as(&self.app, &self.caller, &self.source, action, params).await
    }

    /// After an operation that ends every console session of the user (ChangePassword,
    /// DeactivateMFADevice): this browser, which just did it, continues under a new session with
    /// the same MFA time and end.
    pub(super) async fn keep_browser_signed_in(&mut self, parts: &Parts) -> Result<(), Failure> {
        let now = self.app.now_unix();
        let (cookie, session) =
            reissue_session(&self.app, &self.session, now, cookies::is_https(&parts.headers)).await?;
        self.session = session;
        self.cookie = Some(cookie);
        Ok(())
    }

    /// The security page showing why `e` was refused next to `form` (for `target`), or the
    /// failure page when `e` is a server fault.
    async fn refused(&self, e: ApiError, form: &'static str, target: &str) -> Handled {
        let refused = refusal(e)?;
        self.page(refused.status, Feedback::error(form, target, refused.text)).await
    }

    /// The security page with `feedback` placed next to its form.
    async fn page(&self, status: StatusCode, mut feedback: Feedback) -> Handled {
        let devices = match self.call(Action::ListMFADevices, &[]).await {
            Ok(xml) => Listing::Shown(results::mfa_devices(xml)?),
            Err(e) => Listing::Refused(refusal(e)?.text),
        };
        let keys = match self.call(Action::ListAccessKeys, &[]).await {
            Ok(xml) => Listing::Shown(results::access_keys(xml)?),
            Err(e) => Listing::Refused(refusal(e)?.text),
        };
        let password_rules = match self.call(Action::GetAccountPasswordPolicy, &[]).await {
            Ok(xml) => Listing::Shown(results::password_policy(xml)?.rules()),
            Err(e) if e.code == ErrorCode::NoSuchEntity => Listing::Shown(results::default_password_rules()),
            Err(e) => Listing::Refused(refusal(e)?.text),
        };
        feedback.place(&devices, &keys);
        let user = &self.session.user;
        let page = pages::Security {
            csrf: &self.session.csrf_token,
            account_id: &self.session.account_id,
            user_name: &user.name,
            arn: &ids::user_arn(&self.session.account_id, &user.path, &user.name),
            mfa_at: self.session.mfa_authenticated_at.map(timestamp),
            expires_at: timestamp(self.session.expires_at),
            devices,
            keys,
            password_rules,
            feedback,
        };
        Ok(self.reply(Reply::page(status, &page)))
    }

    pub(super) fn reply(&self, reply: Reply) -> Reply {
        match &self.cookie {
            Some(cookie) => reply.cookie(cookie.clone()),
            None => reply,
        }
    }
}

/// A list the page shows, or the refusal of the operation that reads it.
pub enum Listing<T> {
    Shown(Vec<T>),
    Refused(String),
}

/// What the last action did, shown next to the form it came from.
#[derive(Default)]
pub struct Feedback {
    /// Which form: `mfa`, `device` (with `serial`), `password`, `keys`, `key` (with `serial`
    /// holding the key id).
    pub form: &'static str,
    pub serial: String,
    /// A refusal, in words.
    pub error: Option<String>,
    /// What was done.
    pub notice: Option<String>,
    /// The out-of-sync warning after an enable with old codes.
    pub warning: Option<String>,
    /// The key just created: shown once.
    pub new_key: Option<results::NewAccessKey>,
    /// The serial of an existing device whose name a new one asked for: perhaps an unfinished
    /// enrolment, which the page offers to delete.
    pub leftover: Option<String>,
}

impl Feedback {
    pub(super) fn error(form: &'static str, serial: &str, text: String) -> Self {
        Feedback { form, serial: serial.to_owned(), error: Some(text), ..Default::default() }
    }

    pub(super) fn notice(form: &'static str, serial: &str, text: String) -> Self {
        Feedback { form, serial: serial.to_owned(), notice: Some(text), ..Default::default() }
    }

    /// Feedback about a device or key the page does not list (gone meanwhile, a stale page, a
    /// forged serial) moves to its section, so it is still shown.
    fn place(&mut self, devices: &Listing<results::Device>, keys: &Listing<results::AccessKey>) {
        let listed = match (self.form, devices, keys) {
            ("device", Listing::Shown(list), _) => list.iter().any(|d| d.serial_number == self.serial),
            ("key", _, Listing::Shown(list)) => list.iter().any(|k| k.access_key_id == self.serial),
            ("device" | "key", _, _) => false,
            _ => return,
        };
        if !listed {
            self.form = if self.form == "device" { "mfa" } else { "keys" };
            self.serial.clear();
        }
    }

    /// The error for `form` (and the device or key `serial`, for per-row forms).
    pub fn error_for(&self, form: &str, serial: &str) -> Option<&str> {
        (self.form == form && self.serial == serial).then_some(self.error.as_deref()).flatten()
    }

    pub fn notice_for(&self, form: &str, serial: &str) -> Option<&str> {
        (self.form == form && self.serial == serial).then_some(self.notice.as_deref()).flatten()
    }
}

/// Starts a POST: the signed-in user, the CSRF token checked, a forced password change first.
macro_rules! acting {
    ($app:expr, $signed:expr, $parts:expr, $csrf:expr) => {{
        if $signed.profile.reset_required {
            return Ok(Reply::see_other("/console/password"));
        }
        match Acting::start($app, $signed, &$parts, Some($csrf)).await? {
            Some(acting) => acting,
            None => return Ok(Reply::forbidden()),
        }
    }};
}

// --- The page --------------------------------------------------------------------------------

pub(super) async fn security(State(app): State<Arc<App>>, signed: SignedIn, parts: Parts) -> Handled {
    if signed.profile.reset_required {
        return Ok(Reply::see_other("/console/password"));
    }
    let acting = Acting::start(app, signed, &parts, None).await?.expect("no token to check");
    acting.page(StatusCode::OK, Feedback::default()).await
}

// --- MFA devices -----------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NameForm {
    pub(super) csrf: String,
    pub(super) name: String,
}

/// Creates the virtual device and shows what the authenticator app needs: the QR code, and the
/// secret as text for a device without a camera. This is the only time either is shown.
pub(super) async fn mfa_create(
    State(app): State<Arc<App>>,
    signed: SignedIn,
    parts: Parts,
    form: Result<Form<NameForm>, FormRejection>,
) -> Handled {
    let form = form_or_empty(form);
    let acting = acting!(app, signed, parts, &form.csrf);
    let name = form.name.trim();
    let device = match acting.call(Action::CreateVirtualMFADevice, &[("VirtualMFADeviceName", name)]).await {
        Ok(xml) => results::new_device(xml)?,
        Err(e) => {
            let exists = e.code == ErrorCode::EntityAlreadyExists;
            let refused = refusal(e)?;
            let mut feedback = Feedback::error("mfa", "", refused.text);
            if exists {
                // Most likely an enrolment left unfinished: offer to delete it (DeleteVirtualMFADevice,
                // decided by the user's policies; a device in use cannot be deleted).
                feedback.leftover = Some(ids::mfa_arn(&acting.session.account_id, "/", name));
            }
            return acting.page(refused.status, feedback).await;
        }
    };
    let qr = format!("data:image/png;base64,{}", device.qr_png_base64);
    let page = pages::Enrol {
        forced: false,
        csrf: &acting.session.csrf_token,
        serial: &device.serial_number,
        name,
        qr: Some(&qr),
        secret: Some(&device.base32_seed),
        error: None,
    };
    Ok(acting.reply(Reply::page(StatusCode::OK, &page)))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CodesForm {
    pub(super) csrf: String,
    pub(super) serial: String,
    pub(super) name: String,
    pub(super) code1: String,
    pub(super) code2: String,
}

/// Spaces people type inside a code are not part of it.
pub(super) fn digits(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace()).collect()
}

pub(super) async fn mfa_enable(
    State(app): State<Arc<App>>,
    signed: SignedIn,
    parts: Parts,
    form: Result<Form<CodesForm>, FormRejection>,
) -> Handled {
    let form = form_or_empty(form);
    let acting = acting!(app, signed, parts, &form.csrf);
    let user = acting.session.user.name.clone();
    let (code1, code2) = (digits(&form.code1), digits(&form.code2));
    let params = [
        ("UserName", user.as_str()),
        ("SerialNumber", form.serial.as_str()),
        ("AuthenticationCode1", code1.as_str()),
        ("AuthenticationCode2", code2.as_str()),
    ];
    if let Err(e) = acting.call(Action::EnableMFADevice, &params).await {
        let refused = refusal(e)?;
        // The seed is not shown again: the app already holds it, or the user starts over.
        let page = pages::Enrol {
            forced: false,
            csrf: &acting.session.csrf_token,
            serial: &form.serial,
            name: &form.name,
            qr: None,
            secret: None,
            error: Some(&refused.text),
        };
        return Ok(acting.reply(Reply::page(refused.status, &page)));
    }
    let mut feedback =
        Feedback::notice("mfa", "", format!("The MFA device {} is assigned to you and enabled.", form.serial));
    feedback.warning = out_of_sync_warning(&acting.app, &acting.session.account_id, &form.serial).await?;
    acting.page(StatusCode::OK, feedback).await
}

/// docs/behaviour.md §1.3: codes typed long after the app showed them still enable a device,
/// but the recorded offset is then wrong and the app's current code is refused at sign-in.
/// Read from the device's recorded sync (the user's own device, just enabled by this request).
pub(super) async fn out_of_sync_warning(app: &App, account_id: &str, serial: &str) -> Result<Option<String>, Failure> {
    let device = app.store.get_mfa_device(account_id, serial).await.map_err(store_failure)?;
    let offset = device.and_then(|d| d.assignment).map_or(0, |a| a.sync.offset_steps);
    Ok(out_of_sync_text(offset))
}

/// The warning for a device enabled `offset_steps` steps (30 s) off the server's clock, if the
/// codes were old.
fn out_of_sync_text(offset_steps: i64) -> Option<String> {
    if offset_steps > -OLD_CODES_STEPS {
        return None;
    }
    let seconds = -offset_steps * 30;
    let age = if seconds >= 120 { format!("about {} minutes", seconds / 60) } else { format!("{seconds} seconds") };
    Some(format!(
        "The codes you entered were {age} old. If your app showed them that long ago, the device is now \
         out of sync: iamd expects its codes {age} late, so the code your app shows now will be refused \
         at sign-in. Resync the device below with two fresh consecutive codes."
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SerialForm {
    pub(super) csrf: String,
    pub(super) serial: String,
}

/// Abandons an enrolment: deletes the virtual device created for it (not yet assigned).
pub(super) async fn mfa_cancel(
    State(app): State<Arc<App>>,
    signed: SignedIn,
    parts: Parts,
    form: Result<Form<SerialForm>, FormRejection>,
) -> Handled {
    let form = form_or_empty(form);
    let acting = acting!(app, signed, parts, &form.csrf);
    let feedback = match acting.call(Action::DeleteVirtualMFADevice, &[("SerialNumber", form.serial.as_str())]).await {
        Ok(_) => Feedback::notice("mfa", "", format!("The MFA device {} was deleted.", form.serial)),
        Err(e) => {
            let refused = refusal(e)?;
            let text = format!("The unfinished device {} could not be deleted. {}", form.serial, refused.text);
            return acting.page(refused.status, Feedback::error("mfa", "", text)).await;
        }
    };
    acting.page(StatusCode::OK, feedback).await
}

pub(super) async fn mfa_resync(
    State(app): State<Arc<App>>,
    signed: SignedIn,
    parts: Parts,
    form: Result<Form<CodesForm>, FormRejection>,
) -> Handled {
    let form = form_or_empty(form);
    let acting = acting!(app, signed, parts, &form.csrf);
    let user = acting.session.user.name.clone();
    let (code1, code2) = (digits(&form.code1), digits(&form.code2));
    let params = [
        ("UserName", user.as_str()),
        ("SerialNumber", form.serial.as_str()),
        ("AuthenticationCode1", code1.as_str()),
        ("AuthenticationCode2", code2.as_str()),
    ];
    match acting.call(Action::ResyncMFADevice, &params).await {
        Ok(_) => {
            let text = "The device is in sync again.".to_owned();
            acting.page(StatusCode::OK, Feedback::notice("device", &form.serial, text)).await
        }
        Err(e) => acting.refused(e, "device", &form.serial).await,
    }
}

/// Removes a device: deactivates it (which ends every console session of the user, docs §4; this
/// browser continues under a new one), then deletes it.
pub(super) async fn mfa_remove(
    State(app): State<Arc<App>>,
    signed: SignedIn,
    parts: Parts,
    form: Result<Form<SerialForm>, FormRejection>,
) -> Handled {
    let form = form_or_empty(form);
    let mut acting = acting!(app, signed, parts, &form.csrf);
    let user = acting.session.user.name.clone();
    let serial = form.serial.as_str();
    if let Err(e) =
        acting.call(Action::DeactivateMFADevice, &[("UserName", user.as_str()), ("SerialNumber", serial)]).await
    {
        return acting.refused(e, "device", serial).await;
    }
    acting.keep_browser_signed_in(&parts).await?;
    let feedback = match acting.call(Action::DeleteVirtualMFADevice, &[("SerialNumber", serial)]).await {
        Ok(_) => Feedback::notice("mfa", "", format!("The MFA device {serial} was deactivated and deleted.")),
        Err(e) => {
            let refused = refusal(e)?;
            Feedback::error(
                "mfa",
                "",
                format!("The MFA device {serial} was deactivated, but it could not be deleted. {}", refused.text),
            )
        }
    };
    acting.page(StatusCode::OK, feedback).await
}

// --- Password --------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PasswordForm {
    csrf: String,
    old_password: String,
    new_password: String,
    confirm_password: String,
}

/// ChangePassword: the old password checked (and throttled), the new one against the account's
/// policy, every other console session of the user ended — the API's rules, run by the API's
/// operation. The confirmation is the page's own check, before anything is sent.
pub(super) async fn password(
    State(app): State<Arc<App>>,
    signed: SignedIn,
    parts: Parts,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Handled {
    let form = form_or_empty(form);
    let mut acting = acting!(app, signed, parts, &form.csrf);
    if form.new_password != form.confirm_password {
        let text = "The new password and its confirmation do not match.".to_owned();
        return acting.page(StatusCode::BAD_REQUEST, Feedback::error("password", "", text)).await;
    }
    let params = [("OldPassword", form.old_password.as_str()), ("NewPassword", form.new_password.as_str())];
    match acting.call(Action::ChangePassword, &params).await {
        Ok(_) => {
            acting.keep_browser_signed_in(&parts).await?;
            let text = "Your password was changed. Your other console sessions have ended.".to_owned();
            acting.page(StatusCode::OK, Feedback::notice("password", "", text)).await
        }
        Err(e) => acting.refused(e, "password", "").await,
    }
}

// --- Access keys -----------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CsrfForm {
    pub(super) csrf: String,
}

pub(super) async fn key_create(
    State(app): State<Arc<App>>,
    signed: SignedIn,
    parts: Parts,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Handled {
    let form = form_or_empty(form);
    let acting = acting!(app, signed, parts, &form.csrf);
    match acting.call(Action::CreateAccessKey, &[]).await {
        Ok(xml) => {
            let key = results::new_access_key(xml)?;
            let feedback = Feedback { form: "keys", new_key: Some(key), ..Default::default() };
            acting.page(StatusCode::OK, feedback).await
        }
        Err(e) => acting.refused(e, "keys", "").await,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct KeyForm {
    csrf: String,
    access_key_id: String,
    status: String,
}

pub(super) async fn key_status(
    State(app): State<Arc<App>>,
    signed: SignedIn,
    parts: Parts,
    form: Result<Form<KeyForm>, FormRejection>,
) -> Handled {
    let form = form_or_empty(form);
    let acting = acting!(app, signed, parts, &form.csrf);
    let id = form.access_key_id.as_str();
    let params = [("AccessKeyId", id), ("Status", form.status.as_str())];
    match acting.call(Action::UpdateAccessKey, &params).await {
        Ok(_) => {
            let text = format!("The access key is now {}.", form.status.to_ascii_lowercase());
            acting.page(StatusCode::OK, Feedback::notice("key", id, text)).await
        }
        Err(e) => acting.refused(e, "key", id).await,
    }
}

pub(super) async fn key_delete(
    State(app): State<Arc<App>>,
    signed: SignedIn,
    parts: Parts,
    form: Result<Form<KeyForm>, FormRejection>,
) -> Handled {
    let form = form_or_empty(form);
    let acting = acting!(app, signed, parts, &form.csrf);
    let id = form.access_key_id.as_str();
    match acting.call(Action::DeleteAccessKey, &[("AccessKeyId", id)]).await {
        Ok(_) => {
            acting.page(StatusCode::OK, Feedback::notice("keys", "", format!("The access key {id} was deleted."))).await
        }
        Err(e) => acting.refused(e, "key", id).await,
    }
}

// --- Static assets ---------------------------------------------------------------------------

/// The console's style sheet and its one script (the copy button), served from the binary so
/// the pages' CSP can allow `'self'` and still forbid inline code.
pub(super) async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (content_type, body) = match file.as_str() {
        "console.css" => ("text/css; charset=utf-8", include_str!("../../templates/console/console.css")),
        "console.js" => ("text/javascript; charset=utf-8", include_str!("../../templates/console/console.js")),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_codes_earn_no_warning_old_ones_do() {
        assert_eq!(out_of_sync_text(0), None);
        assert_eq!(out_of_sync_text(-1), None);
        assert_eq!(out_of_sync_text(3), None, "a device clock ahead is followed, not a stale code");
        let text = out_of_sync_text(-20).unwrap();
        assert!(text.starts_with("The codes you entered were about 10 minutes old."), "{text}");
        assert!(text.contains("out of sync"));
        assert!(out_of_sync_text(-2).unwrap().contains("60 seconds old"));
    }

    #[test]
    fn refusals_in_words_and_failures_as_failures() {
        let denied = ApiError::new(ErrorCode::AccessDenied, "User: x is not authorized");
        let shown = refusal(denied).ok().unwrap();
        assert_eq!(shown.status, StatusCode::FORBIDDEN);
        assert_eq!(shown.text, "Your permissions do not allow this. User: x is not authorized");
        let wrong = ApiError::new(ErrorCode::AccessDenied, "The old password is incorrect.");
        assert_eq!(refusal(wrong).ok().unwrap().text, "The old password is incorrect.");
        let bad = ApiError::new(ErrorCode::InvalidAuthenticationCode, "Authentication code for device is not valid.");
        assert_eq!(refusal(bad).ok().unwrap().text, "Authentication code for device is not valid.");
        assert!(refusal(ApiError::service_failure()).is_err());
    }

    #[test]
    fn feedback_about_an_unlisted_row_moves_to_its_section() {
        let device = |serial: &str| results::Device { serial_number: serial.to_owned(), enable_date: String::new() };
        let devices = Listing::Shown(vec![device("arn:a")]);
        let keys = Listing::Refused("no".to_owned());
        let mut listed = Feedback::error("device", "arn:a", "x".to_owned());
        listed.place(&devices, &keys);
        assert_eq!(listed.error_for("device", "arn:a"), Some("x"));
        let mut gone = Feedback::error("device", "arn:b", "x".to_owned());
        gone.place(&devices, &keys);
        assert_eq!(gone.error_for("mfa", ""), Some("x"));
        let mut key = Feedback::error("key", "AKIA", "y".to_owned());
        key.place(&devices, &keys);
        assert_eq!(key.error_for("keys", ""), Some("y"));
    }

    #[test]
    fn feedback_lands_next_to_its_form() {
        let feedback = Feedback::error("device", "arn:a", "no".to_owned());
        assert_eq!(feedback.error_for("device", "arn:a"), Some("no"));
        assert_eq!(feedback.error_for("device", "arn:b"), None);
        assert_eq!(feedback.error_for("mfa", ""), None);
        assert_eq!(feedback.notice_for("device", "arn:a"), None);
    }
}
