//! The console's HTML pages (askama templates under `templates/console/`, every interpolation
//! HTML-escaped) and the headers every console response carries.

use askama::Template;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use super::admin::{Fact, KeyRow, Lockout, Setting, UserRow};
use super::results::{AccessKey, Device, Tag};
use super::security::{Feedback, Listing};

#[derive(Template)]
#[template(path = "console/signin.html")]
pub struct SignIn<'a> {
    pub csrf: &'a str,
    pub account_id: &'a str,
    pub user_name: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "console/mfa.html")]
pub struct Mfa<'a> {
    pub csrf: &'a str,
    pub account_id: &'a str,
    pub user_name: &'a str,
    pub serials: &'a [String],
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "console/change_password.html")]
pub struct ChangePassword<'a> {
    pub csrf: &'a str,
    pub account_id: &'a str,
    pub user_name: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "console/console.html")]
pub struct Console<'a> {
    pub csrf: &'a str,
    pub account_id: &'a str,
    pub user_name: &'a str,
    pub arn: &'a str,
    /// RFC 3339, when MFA was used.
    pub mfa_at: Option<String>,
    pub expires_at: String,
}

/// "My security credentials": who is signed in, its MFA devices, password and access keys (each
/// list as its operation answered, or that operation's refusal), and the last action's feedback.
#[derive(Template)]
#[template(path = "console/security.html")]
pub struct Security<'a> {
    pub csrf: &'a str,
    pub account_id: &'a str,
    pub user_name: &'a str,
    pub arn: &'a str,
    pub mfa_at: Option<String>,
    pub expires_at: String,
    pub devices: Listing<Device>,
    pub keys: Listing<AccessKey>,
    pub password_rules: Listing<String>,
    pub feedback: Feedback,
}

/// Assigning a virtual MFA device: the QR code and secret (only right after the device was
/// created), then two consecutive codes. `forced`: the enrolment the account requires at sign-in
/// (its forms post to `/signin/enrol/…`), otherwise from "My security credentials".
#[derive(Template)]
#[template(path = "console/enrol.html")]
pub struct Enrol<'a> {
    pub forced: bool,
    pub csrf: &'a str,
    pub serial: &'a str,
    pub name: &'a str,
    /// A `data:image/png;base64,…` URL.
    pub qr: Option<&'a str>,
    pub secret: Option<&'a str>,
    pub error: Option<&'a str>,
}

/// The first page of the required enrolment: why, and the device's name.
#[derive(Template)]
#[template(path = "console/enrol_required.html")]
pub struct EnrolRequired<'a> {
    pub csrf: &'a str,
    pub account_id: &'a str,
    pub user_name: &'a str,
    pub error: Option<&'a str>,
    pub notice: Option<&'a str>,
    /// The serial of an existing device whose name was asked for, which the page offers to delete.
    pub leftover: Option<&'a str>,
}

/// The end of the required enrolment: the device is enabled and the browser signed in.
#[derive(Template)]
#[template(path = "console/enrolled.html")]
pub struct Enrolled<'a> {
    pub serial: &'a str,
    pub warning: Option<&'a str>,
}

/// Administration: the account's users with their MFA, password and access keys.
#[derive(Template)]
#[template(path = "console/admin_users.html")]
pub struct AdminUsers<'a> {
    pub csrf: &'a str,
    pub users: Listing<UserRow>,
    /// The `Marker` of the next page, when there is one.
    pub next: Option<&'a str>,
}

/// Administration: one user, its MFA devices (deactivate), lockout (unlock), keys and password.
#[derive(Template)]
#[template(path = "console/admin_user.html")]
pub struct AdminUser<'a> {
    pub csrf: &'a str,
    pub name: &'a str,
    /// The user page's path (the name percent-encoded), which its forms post below.
    pub base: &'a str,
    pub summary: Fact<UserSummary>,
    pub devices: Listing<Device>,
    pub lockout: Fact<Lockout>,
    pub keys: Listing<KeyRow>,
    pub login_profile: Fact<String>,
    /// The last action's outcome, next to its section (`devices`, `lockout`).
    pub feedback: Feedback,
}

/// What GetUser says about a user, as the page shows it.
pub struct UserSummary {
    pub arn: String,
    pub path: String,
    pub user_id: String,
    pub created: String,
    pub password_last_used: Option<String>,
    pub tags: Vec<Tag>,
}

/// Administration: the account's own settings.
#[derive(Template)]
#[template(path = "console/admin_settings.html")]
pub struct AdminSettings<'a> {
    pub csrf: &'a str,
    /// The account's setting, or why it may not be read.
    pub enrolment: Fact<Setting>,
    /// Required by the server's configuration (`--require-mfa-enrolment`) whatever the setting.
    pub required_by_server: bool,
    pub error: Option<&'a str>,
    pub notice: Option<&'a str>,
}

/// Administration: a refusal with nothing else to show (the credential report).
#[derive(Template)]
#[template(path = "console/admin_refused.html")]
pub struct AdminRefused<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

#[derive(Template)]
#[template(path = "console/message.html")]
pub struct Message<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

/// A console response under construction: status, body or redirect, cookies to set.
pub struct Reply {
    status: StatusCode,
    body: String,
    /// For a file to save rather than a page: its content type and file name.
    attachment: Option<(&'static str, &'static str)>,
    location: Option<&'static str>,
    /// `Retry-After`, in seconds.
    retry_after: Option<&'static str>,
    cookies: Vec<HeaderValue>,
}

impl Reply {
    /// A rendered page. A template that fails to render (it cannot with these inputs) becomes a
    /// plain 500.
    pub fn page(status: StatusCode, page: &impl Template) -> Self {
        match page.render() {
            Ok(body) => Self { status, body, location: None, retry_after: None, cookies: Vec::new(), attachment: None },
            Err(e) => {
                tracing::error!(error = %e, "console template failed");
                Self::failure()
            }
        }
    }

    /// `303 See Other`: after a POST the browser fetches `location` with GET.
    pub fn see_other(location: &'static str) -> Self {
        Self {
            status: StatusCode::SEE_OTHER,
            body: String::new(),
            attachment: None,
            location: Some(location),
            retry_after: None,
            cookies: Vec::new(),
        }
    }

    /// 403 for a form without the right CSRF token: nothing was done.
    pub fn forbidden() -> Self {
        Self::page(
            StatusCode::FORBIDDEN,
            &Message {
                title: "Request refused",
                message: "The form could not be verified (its security token is missing or wrong). \
                          Nothing was changed. Reload the page and try again.",
            },
        )
    }

    pub fn failure() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            attachment: None,
            body: "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error – iamd</title></head>\
                   <body><main><h1>Something went wrong</h1><p>Please try again later.</p></main></body></html>"
                .to_owned(),
            location: None,
            retry_after: None,
            cookies: Vec::new(),
        }
    }

    /// 503 when every password-hashing slot stayed busy: nothing was checked; try again soon.
    pub fn busy() -> Self {
        let mut reply = Self::page(
            StatusCode::SERVICE_UNAVAILABLE,
            &Message {
                title: "Busy",
                message: "Too many sign-ins are being checked right now. Nothing was checked. \
                          Please try again in a moment.",
            },
        );
        reply.retry_after = Some("1");
        reply
    }

    /// A file the browser saves as `file_name` (`Content-Disposition: attachment`).
    pub fn attachment(content_type: &'static str, file_name: &'static str, body: String) -> Self {
        Self {
            status: StatusCode::OK,
            body,
            attachment: Some((content_type, file_name)),
            location: None,
            retry_after: None,
            cookies: Vec::new(),
        }
    }

    pub fn cookie(mut self, value: HeaderValue) -> Self {
        self.cookies.push(value);
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        let headers = response.headers_mut();
        if let Some(location) = self.location {
            headers.insert(header::LOCATION, HeaderValue::from_static(location));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static(seconds));
        }
        if let Some((content_type, file_name)) = self.attachment {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            let disposition = format!("attachment; filename=\"{file_name}\"");
            headers.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).expect("file names are constants"),
            );
        } else if self.status != StatusCode::SEE_OTHER {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        }
        for cookie in self.cookies {
            headers.append(header::SET_COOKIE, cookie);
        }
        // Pages hold CSRF tokens, account details and, once, secrets: never cache them, never
        // frame them, send no referrer off-site. Styles and scripts only from iamd's own files
        // (no inline code), images only inline (the QR code's data URL).
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; img-src data:; style-src 'self'; script-src 'self'; form-action 'self'; \
                 frame-ancestors 'none'; base-uri 'none'",
            ),
        );
        response
    }
}
