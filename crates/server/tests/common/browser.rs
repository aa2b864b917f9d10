//! A cookie-keeping client of the console's router, for the in-process console tests.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use http::{Request, StatusCode, header};
use iamd_server::App;
use tower::ServiceExt;

pub struct Resp {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn location(&self) -> &str {
        self.headers.get(header::LOCATION).map_or("", |v| v.to_str().unwrap())
    }

    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|v| v.starts_with(&format!("{name}=")))
    }

    /// The hidden form field `name`.
    pub fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start =
            self.body.find(&marker).unwrap_or_else(|| panic!("no field {name} in {}", self.body)) + marker.len();
        self.body[start..].split('"').next().unwrap().to_owned()
    }

    /// The error paragraph of a refused form.
    pub fn error(&self) -> Option<&str> {
        let start = self.body.find("<p role=\"alert\" id=\"error\">")?;
        Some(&self.body[start..start + self.body[start..].find("</p>")?])
    }
}

/// A cookie-keeping client of the router, like a browser that does not follow redirects.
pub struct Browser {
    app: Arc<App>,
    pub cookies: HashMap<String, String>,
    /// Sent with every request.
    pub headers: Vec<(&'static str, &'static str)>,
}

impl Browser {
    pub fn new(app: Arc<App>) -> Self {
        Browser { app, cookies: HashMap::new(), headers: Vec::new() }
    }

    pub async fn send(&mut self, method: &str, path: &str, form: Option<&[(&str, &str)]>) -> Resp {
        let mut request = Request::builder().method(method).uri(path);
        if !self.cookies.is_empty() {
            let cookie: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            request = request.header(header::COOKIE, cookie.join("; "));
        }
        for (name, value) in &self.headers {
            request = request.header(*name, *value);
        }
        let body = match form {
            Some(pairs) => {
                request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
            }
            None => String::new(),
        };
        let response = iamd_server::router(self.app.clone()).oneshot(request.body(Body::from(body)).unwrap()).await;
        let response = response.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        for value in headers.get_all(header::SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (name, rest) = text.split_once('=').unwrap();
            let value = rest.split(';').next().unwrap();
            if value.is_empty() || text.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Resp { status, headers, body: String::from_utf8(bytes.to_vec()).unwrap() }
    }

    pub async fn get(&mut self, path: &str) -> Resp {
        self.send("GET", path, None).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.send("POST", path, Some(form)).await
    }

    /// Loads the sign-in form and submits it.
    pub async fn sign_in(&mut self, account: &str, user: &str, password: &str) -> Resp {
        let page = self.get("/signin").await;
        assert_eq!(page.status, StatusCode::OK);
        let csrf = page.field("csrf");
        self.post("/signin", &[("csrf", &csrf), ("account_id", account), ("user_name", user), ("password", password)])
            .await
    }

    /// Loads the MFA form and submits `code` (with `serial` if given).
    pub async fn submit_code(&mut self, serial: Option<&str>, code: &str) -> Resp {
        let page = self.get("/signin/mfa").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let csrf = page.field("csrf");
        let mut form = vec![("csrf", csrf.as_str()), ("code", code)];
        if let Some(serial) = serial {
            form.push(("serial", serial));
        }
        self.post("/signin/mfa", &form).await
    }

    pub fn session_cookie(&self) -> Option<String> {
        self.cookies.get("iamd_session").cloned()
    }
}

/// The text of the element with `id` (up to its closing tag).
pub fn element_text<'a>(body: &'a str, id: &str) -> Option<&'a str> {
    let start = body.find(&format!("id=\"{id}\""))?;
    let text = &body[start..];
    let text = &text[text.find('>')? + 1..];
    Some(&text[..text.find("</")?])
}
