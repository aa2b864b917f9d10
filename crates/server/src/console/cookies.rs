//! The two cookies of the console: `iamd_session` (a console session) and `iamd_csrf` (the
//! double-submit token of the sign-in form, before any session exists).
//!
//! Written by hand rather than with `axum-extra`'s cookie jar: iamd reads two cookies whose values
//! it generated itself (URL-safe Base64, nothing to escape) and always sets the same attributes, so
//! forty lines beat a dependency tree (`cookie`, its parser and percent-decoding) whose generality
//! only widens what an attacker-supplied `Cookie` header can exercise.

use http::{HeaderMap, HeaderValue, header};

pub const SESSION: &str = "iamd_session";
pub const CSRF: &str = "iamd_csrf";

/// The value of cookie `name` in the request, if present (the first one, if sent twice).
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value: `HttpOnly; SameSite=Strict; Path=/` always, `Secure` when the request
/// came over HTTPS, `Max-Age` when given (0 deletes the cookie).
pub fn set(name: &str, value: &str, max_age: Option<i64>, secure: bool) -> HeaderValue {
    let mut text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(seconds) = max_age {
        text.push_str(&format!("; Max-Age={seconds}"));
    }
    if secure {
        text.push_str("; Secure");
    }
    // Names are constants and values are URL-safe Base64 (or empty): always a valid header value.
    HeaderValue::from_str(&text).expect("cookie text is visible ASCII")
}

/// A `Set-Cookie` value that deletes cookie `name`.
pub fn clear(name: &str, secure: bool) -> HeaderValue {
    set(name, "", Some(0), secure)
}

/// Whether the browser reached iamd over HTTPS, as a TLS-terminating proxy in front reports it.
/// Trusting the header is harmless: it can only add `Secure`.
pub fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_cookie_among_several() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; iamd_session=abc ; b=2"));
        headers.append(header::COOKIE, HeaderValue::from_static("iamd_csrf=xyz"));
        assert_eq!(get(&headers, SESSION), Some("abc"));
        assert_eq!(get(&headers, CSRF), Some("xyz"));
        assert_eq!(get(&headers, "iamd"), None);
    }

    #[test]
    fn attributes() {
        let v = set(SESSION, "abc", Some(300), false);
        assert_eq!(v, "iamd_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=300");
        assert!(set(CSRF, "x", None, true).to_str().unwrap().ends_with("SameSite=Strict; Secure"));
        assert!(clear(SESSION, false).to_str().unwrap().starts_with("iamd_session=; "));
    }

    #[test]
    fn https_from_the_proxy_header() {
        let mut headers = HeaderMap::new();
        assert!(!is_https(&headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("HTTPS, http"));
        assert!(is_https(&headers));
    }
}
