//! Administration: the account's users, one user's devices, keys and password, the credential
//! report, and the account's "MFA enrolment required" setting.
//!
//! | route | operation(s) |
//! | --- | --- |
//! | `GET /console/admin/users` | ListUsers; per user ListMFADevices, GetLoginProfile, ListAccessKeys |
//! | `GET /console/admin/users/{name}` | GetUser, ListMFADevices, ListAccessKeys, GetAccessKeyLastUsed, GetLoginProfile; the MFA lockout |
//! | `POST /console/admin/users/{name}/mfa/deactivate` | DeactivateMFADevice (a lost device) |
//! | `POST /console/admin/users/{name}/mfa/unlock` | iamd's own: clears the user's MFA lockout, authorized as `iam:ResyncMFADevice` on the user |
//! | `GET /console/admin/report` | GenerateCredentialReport, GetCredentialReport: the CSV as a download |
//! | `GET`/`POST /console/admin/settings` | iamd's own: the enrolment setting, authorized as `iam:GetAccountPasswordPolicy` / `iam:UpdateAccountPasswordPolicy` |
//!
//! As on "My security credentials", the console decides nothing: each page is the signed-in
//! user's own IAM operations run through `ops::perform`, so what an administrator may see and do
//! is what its policies allow, and a refusal is shown in words where the answer would be. The two
//! actions AWS has no operation for are authorized by `authz` as the IAM action named above,
//! with that action's resource, and recorded in the audit trail.

use std::sync::Arc;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use http::StatusCode;
use http::request::Parts;
use iamd_domain::throttle::ThrottleState;
use iamd_domain::{ApiError, ErrorCode};
use iamd_model::Action;
use iamd_store::StoreError;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::results;
use super::security::{Acting, CsrfForm, Feedback, Listing, SerialForm, refusal};
use super::{Failure, Handled, SignedIn, form_or_empty, pages};
use crate::auth::audit::Attempt;
use crate::authz::{self, Circumstances};
use crate::failure::store_failure;
use crate::state::App;
use crate::wire::params::Params;
use crate::wire::shapes::timestamp;
use pages::Reply;

/// Audit kinds of the administrator's own actions.
const KIND_UNLOCK: &str = "console-mfa-unlock";
const KIND_SETTING: &str = "console-account-setting";

/// Users per page of the list (each costs three more operations).
const USERS_PER_PAGE: &str = "100";

/// Something a page shows, or why the operation that reads it was refused.
pub enum Fact<T> {
    Shown(T),
    Refused(String),
}

/// A line of the users list.
pub struct UserRow {
    pub name: String,
    /// The user's page, its name percent-encoded.
    pub href: String,
    pub path: String,
    /// Enabled MFA devices, in words.
    pub devices: Fact<String>,
    /// The user has no MFA device (the list marks it).
    pub without_mfa: bool,
    /// Since when, or `None`.
    pub password: Fact<String>,
    /// Each key: id, status, age.
    pub keys: Fact<Vec<String>>,
}

/// An access key on a user's page.
pub struct KeyRow {
    pub id: String,
    pub status: String,
    pub created: String,
    pub age: String,
    pub last_used: Fact<String>,
}

/// An on/off setting as the page shows it.
pub struct Setting {
    pub on: bool,
}

/// A user's MFA lockout, as the page says it.
pub struct Lockout {
    pub locked_until: Option<String>,
    pub failures: u32,
    pub locks: u32,
}

/// Starts an administration request: the signed-in user as a caller, a forced password change
/// first, the form's CSRF token checked when there is one.
macro_rules! admin {
    ($app:expr, $signed:expr, $parts:expr, $csrf:expr) => {{
        if $signed.profile.reset_required {
            return Ok(Reply::see_other("/console/password"));
        }
        match Acting::start($app, $signed, &$parts, $csrf).await? {
            Some(acting) => acting,
            None => return Ok(Reply::forbidden()),
        }
    }};
}

/// `date` (RFC 3339) as an age at `now`: `today`, `1 day`, `N days`.
fn age(now: i64, date: &str) -> String {
    let Ok(then) = OffsetDateTime::parse(date, &Rfc3339) else { return String::new() };
    match (now - then.unix_timestamp()).max(0) / 86_400 {
        0 => "today".to_owned(),
        1 => "1 day".to_owned(),
        days => format!("{days} days"),
    }
}

/// What a path segment needs encoded: everything but letters, digits and the other characters
/// of IAM names (`+=,.@_-`), which a path segment may hold as they are.
const SEGMENT: &AsciiSet =
    &NON_ALPHANUMERIC.remove(b'+').remove(b'=').remove(b',').remove(b'.').remove(b'@').remove(b'_').remove(b'-');

/// The path of a user's page.
fn user_href(name: &str) -> String {
    format!("/console/admin/users/{}", utf8_percent_encode(name, SEGMENT))
}

/// Whether `acting` may do what `action` with `params` asks, decided as for that operation
/// (the same resource and context, the same policies) without running it.
async fn authorize_as(acting: &Acting, action: Action, params: &[(&str, &str)]) -> Result<(), ApiError> {
    let params = Params::from_pairs(params.iter().copied());
    let Some(request) = authz::request_for(&acting.app, &acting.caller, action, &params).await? else {
        return Ok(());
    };
    let at = Circumstances { now: acting.app.clock.now(), source: &acting.source };
    authz::authorize(&acting.caller, &request, at)
}

/// The refusal of `e` in words, or the failure page when it is the server's fault.
fn refused<T>(e: ApiError) -> Result<Fact<T>, Failure> {
    Ok(Fact::Refused(refusal(e)?.text))
}

pub(super) async fn index(signed: SignedIn) -> Handled {
    if signed.profile.reset_required {
        return Ok(Reply::see_other("/console/password"));
    }
    Ok(Reply::see_other("/console/admin/users"))
}

// --- The users list --------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct UsersQuery {
    marker: String,
}

pub(super) async fn users(
    State(app): State<Arc<App>>,
    signed: SignedIn,
    parts: Parts,
    query: Result<Query<UsersQuery>, QueryRejection>,
) -> Handled {
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let acting = admin!(app, signed, parts, None);
    let mut params = vec![("MaxItems", USERS_PER_PAGE)];
    if !query.marker.is_empty() {
        params.push(("Marker", query.marker.as_str()));
    }
    let (users, status, next) = match acting.call(Action::ListUsers, &params).await {
        Ok(xml) => {
            let (users, marker) = results::users(xml)?;
            let mut rows = Vec::with_capacity(users.len());
            for user in users {
                rows.push(user_row(&acting, user).await?);
            }
            (Listing::Shown(rows), StatusCode::OK, marker)
        }
        Err(e) => {
            let refused = refusal(e)?;
            (Listing::Refused(refused.text), refused.status, None)
        }
    };
    let next = next.map(|m| format!("/console/admin/users?marker={}", utf8_percent_encode(&m, NON_ALPHANUMERIC)));
    let page = pages::AdminUsers { csrf: &acting.session.csrf_token, users, next: next.as_deref() };
    Ok(acting.reply(Reply::page(status, &page)))
}

async fn user_row(acting: &Acting, user: results::UserInfo) -> Result<UserRow, Failure> {
    let now = acting.app.now_unix();
    let name = user.user_name.as_str();
    let count = match acting.call(Action::ListMFADevices, &[("UserName", name)]).await {
        Ok(xml) => Fact::Shown(results::mfa_devices(xml)?.len()),
        Err(e) => refused(e)?,
    };
    let without_mfa = matches!(count, Fact::Shown(0));
    let devices = match count {
        Fact::Shown(0) => Fact::Shown("None".to_owned()),
        Fact::Shown(1) => Fact::Shown("1 device".to_owned()),
        Fact::Shown(n) => Fact::Shown(format!("{n} devices")),
        Fact::Refused(text) => Fact::Refused(text),
    };
    let password = match acting.call(Action::GetLoginProfile, &[("UserName", name)]).await {
        Ok(xml) => {
            let profile = results::login_profile(xml)?;
            Fact::Shown(format!("since {} ({})", profile.create_date, age(now, &profile.create_date)))
        }
        Err(e) if e.code == ErrorCode::NoSuchEntity => Fact::Shown("None".to_owned()),
        Err(e) => refused(e)?,
    };
    let keys = match acting.call(Action::ListAccessKeys, &[("UserName", name)]).await {
        Ok(xml) => Fact::Shown(
            results::access_keys(xml)?
                .into_iter()
                .map(|k| format!("{} ({}, {})", k.access_key_id, k.status, age(now, &k.create_date)))
                .collect(),
        ),
        Err(e) => refused(e)?,
    };
    Ok(UserRow {
        href: user_href(name),
        name: user.user_name.clone(),
        path: user.path,
        devices,
        without_mfa,
        password,
        keys,
    })
}

// --- One user --------------------------------------------------------------------------------

pub(super) async fn user(
    State(app): State<Arc<App>>,
    signed: SignedIn,
    parts: Parts,
    Path(name): Path<String>,
) -> Handled {
    let acting = admin!(app, signed, parts, None);
    user_page(&acting, &name, StatusCode::OK, Feedback::default()).await
}

async fn user_page(acting: &Acting, name: &str, mut status: StatusCode, feedback: Feedback) -> Handled {
    let now = acting.app.now_unix();
    let summary = match acting.call(Action::GetUser, &[("UserName", name)]).await {
        Ok(xml) => {
            let user = results::user(xml)?;
            Fact::Shown(pages::UserSummary {
                arn: user.arn.clone(),
                path: user.path.clone(),
                user_id: user.user_id.clone(),
                created: user.create_date.clone(),
                password_last_used: user.password_last_used.clone(),
                tags: user.tags(),
            })
        }
        Err(e) => {
            let refused = refusal(e)?;
            if status == StatusCode::OK {
                status = refused.status;
            }
            Fact::Refused(refused.text)
        }
    };
    let devices = match acting.call(Action::ListMFADevices, &[("UserName", name)]).await {
        Ok(xml) => Listing::Shown(results::mfa_devices(xml)?),
        Err(e) => Listing::Refused(refusal(e)?.text),
    };
    let lockout = match authorize_as(acting, Action::ResyncMFADevice, &[("UserName", name)]).await {
        Ok(()) => match acting.app.store.get_user(&acting.session.account_id, name).await.map_err(store_failure)? {
            Some(user) => {
                let state = acting.app.store.mfa_throttle(&user.user_id).await.map_err(store_failure)?;
                Fact::Shown(Lockout {
                    locked_until: state.is_locked(now).then(|| timestamp(state.locked_until)),
                    failures: state.failures,
                    locks: state.locks,
                })
            }
            None => Fact::Refused(ApiError::no_such_user(name).message),
        },
        Err(e) => refused(e)?,
    };
    let keys = match acting.call(Action::ListAccessKeys, &[("UserName", name)]).await {
        Ok(xml) => {
            let mut rows = Vec::new();
            for key in results::access_keys(xml)? {
                let last_used = match acting
                    .call(Action::GetAccessKeyLastUsed, &[("AccessKeyId", key.access_key_id.as_str())])
                    .await
                {
                    Ok(xml) => {
                        let used = results::key_last_used(xml)?;
                        Fact::Shown(match used.last_used_date {
                            Some(date) => {
                                let when = match age(now, &date).as_str() {
                                    "today" => "today".to_owned(),
                                    days => format!("{days} ago"),
                                };
                                format!("{date} ({when}), {} in {}", used.service_name, used.region)
                            }
                            None => "never".to_owned(),
                        })
                    }
                    Err(e) => refused(e)?,
                };
                rows.push(KeyRow {
                    age: age(now, &key.create_date),
                    id: key.access_key_id,
                    status: key.status,
                    created: key.create_date,
                    last_used,
                });
            }
            Listing::Shown(rows)
        }
        Err(e) => Listing::Refused(refusal(e)?.text),
    };
    let login_profile = match acting.call(Action::GetLoginProfile, &[("UserName", name)]).await {
        Ok(xml) => {
            let profile = results::login_profile(xml)?;
            let reset = if profile.password_reset_required { " It must be changed at the next sign-in." } else { "" };
            Fact::Shown(format!("Console password since {}.{reset}", profile.create_date))
        }
        Err(e) if e.code == ErrorCode::NoSuchEntity && matches!(summary, Fact::Shown(_)) => {
            Fact::Shown("No console password.".to_owned())
        }
        Err(e) => refused(e)?,
    };
    let page = pages::AdminUser {
        csrf: &acting.session.csrf_token,
        name,
        base: &user_href(name),
        summary,
        devices,
        lockout,
        keys,
        login_profile,
        feedback,
    };
    Ok(acting.reply(Reply::page(status, &page)))
}

/// Deactivates one of the user's devices (a lost phone): DeactivateMFADevice, which ends the
/// user's console sessions. The device stays, unassigned, for the user to enrol again or to
/// delete; with the account's enrolment setting on, the user's next sign-in asks for a new one.
pub(super) async fn deactivate(
    State(app): State<Arc<App>>,
    signed: SignedIn,
    parts: Parts,
    Path(name): Path<String>,
    form: Result<Form<SerialForm>, FormRejection>,
) -> Handled {
    let form = form_or_empty(form);
    let mut acting = admin!(app, signed, parts, Some(&form.csrf));
    let serial = form.serial.as_str();
    match acting.call(Action::DeactivateMFADevice, &[("UserName", name.as_str()), ("SerialNumber", serial)]).await {
        Ok(_) => {
            if acting.caller.is_user_named(&name) {
                // Its own device: this browser stays signed in (docs/behaviour.md §4).
                acting.keep_browser_signed_in(&parts).await?;
            }
            let text = format!("The MFA device {serial} was deactivated. {name}'s console sessions have ended.");
            user_page(&acting, &name, StatusCode::OK, Feedback::notice("devices", "", text)).await
        }
        Err(e) => {
            let refused = refusal(e)?;
            user_page(&acting, &name, refused.status, Feedback::error("devices", "", refused.text)).await
        }
    }
}

/// Clears the user's MFA lockout (iamd's own action: AWS has none), authorized as
/// `iam:ResyncMFADevice` on the user and recorded in the audit trail.
pub(super) async fn unlock(
    State(app): State<Arc<App>>,
    signed: SignedIn,
    parts: Parts,
    Path(name): Path<String>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Handled {
    let form = form_or_empty(form);
    let acting = admin!(app, signed, parts, Some(&form.csrf));
    if let Err(e) = authorize_as(&acting, Action::ResyncMFADevice, &[("UserName", name.as_str())]).await {
        let refused = refusal(e)?;
        return user_page(&acting, &name, refused.status, Feedback::error("lockout", "", refused.text)).await;
    }
    let now = acting.app.now_unix();
    let before = match acting.app.store.unlock_mfa(&acting.session.account_id, &name).await {
        Ok(before) => before,
        Err(StoreError::NotFound(_)) => {
            let text = ApiError::no_such_user(&name).message;
            return user_page(&acting, &name, StatusCode::NOT_FOUND, Feedback::error("lockout", "", text)).await;
        }
        Err(e) => return Err(store_failure(e).into()),
    };
    let attempt = Attempt {
        account_id: &acting.session.account_id,
        user_name: &name,
        source: &acting.source,
        kind: KIND_UNLOCK,
        mfa_used: acting.session.mfa_authenticated_at.is_some(),
    };
    attempt.record(&acting.app, now, true, &unlock_reason(&acting.caller.arn(), &before, now)).await;
    let text = if before.is_locked(now) {
        format!("{name} was locked out of MFA sign-in until {}; the lock is cleared.", timestamp(before.locked_until))
    } else {
        format!("{name} was not locked out; the failure count is cleared.")
    };
    user_page(&acting, &name, StatusCode::OK, Feedback::notice("lockout", "", text)).await
}

/// The audit reason of an unlock: who cleared what.
fn unlock_reason(by: &str, before: &ThrottleState, now: i64) -> String {
    let state = if before.is_locked(now) {
        format!("locked until {}", timestamp(before.locked_until))
    } else {
        format!("not locked, {} failures", before.failures)
    };
    format!("MFA lockout cleared by {by} ({state})")
}

// --- The credential report -------------------------------------------------------------------

/// The IAM credential report as a CSV download: GenerateCredentialReport (which keeps a report
/// for 4 hours, as AWS does), then GetCredentialReport.
pub(super) async fn report(State(app): State<Arc<App>>, signed: SignedIn, parts: Parts) -> Handled {
    let acting = admin!(app, signed, parts, None);
    let csv = match acting.call(Action::GenerateCredentialReport, &[]).await {
        Ok(_) => match acting.call(Action::GetCredentialReport, &[]).await {
            Ok(xml) => results::credential_report(xml)?,
            Err(e) => return report_refused(&acting, e),
        },
        Err(e) => return report_refused(&acting, e),
    };
    Ok(acting.reply(Reply::attachment("text/csv; charset=utf-8", "credential-report.csv", csv)))
}

fn report_refused(acting: &Acting, e: ApiError) -> Handled {
    let refused = refusal(e)?;
    let page = pages::AdminRefused { title: "Credential report", message: &refused.text };
    Ok(acting.reply(Reply::page(refused.status, &page)))
}

// --- Settings --------------------------------------------------------------------------------

pub(super) async fn settings(State(app): State<Arc<App>>, signed: SignedIn, parts: Parts) -> Handled {
    let acting = admin!(app, signed, parts, None);
    settings_page(&acting, StatusCode::OK, None, None).await
}

async fn settings_page(acting: &Acting, status: StatusCode, error: Option<&str>, notice: Option<&str>) -> Handled {
    let enrolment = match authorize_as(acting, Action::GetAccountPasswordPolicy, &[]).await {
        Ok(()) => Fact::Shown(Setting {
            on: acting.app.store.mfa_enrolment_required(&acting.session.account_id).await.map_err(store_failure)?,
        }),
        Err(e) => refused(e)?,
    };
    let page = pages::AdminSettings {
        csrf: &acting.session.csrf_token,
        enrolment,
        required_by_server: acting.app.limits.mfa_enrolment_required,
        error,
        notice,
    };
    Ok(acting.reply(Reply::page(status, &page)))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SettingsForm {
    csrf: String,
    /// `on` or `off`.
    mfa_enrolment: String,
}

/// Sets "MFA enrolment required" (iamd's own setting, authorized as
/// `iam:UpdateAccountPasswordPolicy`: both decide how the account's users sign in), recorded in
/// the audit trail.
pub(super) async fn settings_submit(
    State(app): State<Arc<App>>,
    signed: SignedIn,
    parts: Parts,
    form: Result<Form<SettingsForm>, FormRejection>,
) -> Handled {
    let form = form_or_empty(form);
    let acting = admin!(app, signed, parts, Some(&form.csrf));
    let required = match form.mfa_enrolment.as_str() {
        "on" => true,
        "off" => false,
        _ => {
            let text = "Choose whether MFA enrolment is required.";
            return settings_page(&acting, StatusCode::BAD_REQUEST, Some(text), None).await;
        }
    };
    if let Err(e) = authorize_as(&acting, Action::UpdateAccountPasswordPolicy, &[]).await {
        let refused = refusal(e)?;
        return settings_page(&acting, refused.status, Some(&refused.text), None).await;
    }
    let account = &acting.session.account_id;
    acting.app.store.set_mfa_enrolment_required(account, required).await.map_err(store_failure)?;
    let state = if required { "on" } else { "off" };
    let attempt = Attempt {
        account_id: account,
        user_name: &acting.session.user.name,
        source: &acting.source,
        kind: KIND_SETTING,
        mfa_used: acting.session.mfa_authenticated_at.is_some(),
    };
    let reason = format!("MFA enrolment required set {state} by {}", acting.caller.arn());
    attempt.record(&acting.app, acting.app.now_unix(), true, &reason).await;
    let text = if required {
        "MFA enrolment is now required: users without an MFA device must assign one at their next sign-in."
    } else {
        "MFA enrolment is no longer required by this account."
    };
    settings_page(&acting, StatusCode::OK, None, Some(text)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_in_days() {
        let now = 1_750_000_000;
        assert_eq!(age(now, &timestamp(now - 5)), "today");
        assert_eq!(age(now, &timestamp(now - 86_400)), "1 day");
        assert_eq!(age(now, &timestamp(now - 10 * 86_400 - 7)), "10 days");
        assert_eq!(age(now, "not a date"), "");
    }

    #[test]
    fn user_pages_have_encoded_paths() {
        assert_eq!(user_href("a+b=c,d.e@f_g-h"), "/console/admin/users/a+b=c,d.e@f_g-h");
        assert_eq!(user_href("a/b c"), "/console/admin/users/a%2Fb%20c");
    }

    #[test]
    fn the_unlock_says_who_and_what() {
        let locked = ThrottleState { failures: 0, locked_until: 1_750_000_300, locks: 1 };
        let reason = unlock_reason("arn:aws:iam::1:user/admin", &locked, 1_750_000_000);
        assert_eq!(reason, "MFA lockout cleared by arn:aws:iam::1:user/admin (locked until 2025-06-15T15:11:40Z)");
        let counting = ThrottleState { failures: 3, locked_until: 0, locks: 0 };
        assert!(unlock_reason("x", &counting, 1).ends_with("(not locked, 3 failures)"));
    }
}
