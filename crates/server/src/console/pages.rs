//! The console's HTML pages (askama templates under `templates/console/`, every interpolation
//! HTML-escaped) and the headers every console response carries.

use askama::Template;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use super::results::{AccessKey, Device};
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
/// created), then two consecutive codes.
#[derive(Template)]
#[template(path = "console/enrol.html")]
pub struct Enrol<'a> {
    pub csrf: &'a str,
    pub serial: &'a str,
    pub name: &'a str,
    /// A `data:image/png;base64,…` URL.
    pub qr: Option<&'a str>,
    pub secret: Option<&'a str>,
    pub error: Option<&'a str>,
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
            Ok(body) => Self { status, body, location: None, retry_after: None, cookies: Vec::new() },
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
        if self.status != StatusCode::SEE_OTHER {
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
