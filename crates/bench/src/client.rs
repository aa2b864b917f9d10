//! One keep-alive HTTP/1 connection that sends SigV4-signed IAM/STS query requests.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use iamd_sigv4::{SignCredentials, SignRequest, sign_headers};
use time::OffsetDateTime;
use tokio::net::TcpStream;

const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
pub const IAM_VERSION: &str = "2010-05-08";
pub const STS_VERSION: &str = "2011-06-15";

/// Access key pair used to sign requests.
#[derive(Clone)]
pub struct Creds {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Creds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Creds").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

/// Where requests go. Only loopback addresses are ever accepted.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// The `Host` header value, e.g. `127.0.0.1:8080`.
    pub host: String,
    pub region: String,
}

impl Target {
    /// Parses `http://HOST:PORT` and refuses anything that is not a loopback address.
    pub fn parse(endpoint: &str, region: &str) -> anyhow::Result<Self> {
        let uri: http::Uri = endpoint.parse().with_context(|| format!("endpoint {endpoint:?} is not a URL"))?;
        if uri.scheme_str() != Some("http") {
            bail!("endpoint must be http://127.0.0.1:PORT (plain HTTP on loopback), got {endpoint}");
        }
        let authority = uri.authority().context("endpoint has no host")?;
        let host = authority.host().trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            host.parse().with_context(|| format!("endpoint host {host:?} must be a loopback IP address"))?
        };
        if !ip.is_loopback() {
            bail!("refusing to load {ip}: iamd-bench only targets loopback addresses (127.0.0.0/8, ::1)");
        }
        let port = authority.port_u16().unwrap_or(80);
        Ok(Self { addr: SocketAddr::new(ip, port), host: authority.as_str().to_owned(), region: region.to_owned() })
    }
}

/// An answer: status and body.
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
}

impl Reply {
    pub fn ok(&self) -> bool {
        self.status == 200
    }

    /// Text of the first `<name>…</name>` element.
    pub fn tag(&self, name: &str) -> Option<&str> {
        let text = std::str::from_utf8(&self.body).ok()?;
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find("</")? + start;
        Some(&text[start..end])
    }

    /// `"STATUS Code"` for an error answer, the key errors are counted under: the query API's
    /// `<Code>`, or privacyIDEA's JSON `result.error.message`.
    pub fn error_key(&self) -> String {
        if let Some(code) = self.tag("Code") {
            return format!("{} {code}", self.status);
        }
        let json: Option<serde_json::Value> = serde_json::from_slice(&self.body).ok();
        match json.as_ref().and_then(|j| j.pointer("/result/error/message")).and_then(|m| m.as_str()) {
            Some(message) => format!("{} {message}", self.status),
            None => format!("{} (no code)", self.status),
        }
    }
}

/// A form body: `Action=…&Version=…&k=v…`.
pub fn form(action: &str, version: &str, params: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.append_pair("Action", action).append_pair("Version", version);
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

/// How a request is authenticated.
#[derive(Clone, Copy)]
pub enum Signing<'a> {
    /// An IAM or STS query request to `/`, signed with SigV4 for `service`.
    SigV4 { creds: &'a Creds, service: &'a str },
    /// A plain form post to `path`.
    Unsigned { path: &'a str },
}

pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    pub async fn connect(target: &Target) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(target.addr).await.with_context(|| format!("connecting to {}", target.addr))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the server closes the connection or the sender is dropped.
            let _ = connection.await;
        });
        Ok(Self { sender })
    }

    /// Waits until the connection can take a request; false if the server has closed it.
    pub async fn ready(&mut self) -> bool {
        self.sender.ready().await.is_ok()
    }

    /// Sends one request: a query to `/` signed (freshly, at the current time) with SigV4, or an
    /// unsigned form post.
    pub async fn send(&mut self, target: &Target, signing: Signing<'_>, body: String) -> anyhow::Result<Reply> {
        match signing {
            Signing::SigV4 { creds, service } => self.call(target, creds, service, body).await,
            Signing::Unsigned { path } => self.post_form(target, path, body).await,
        }
    }

    /// Signs (freshly, at the current time) and sends one query request.
    pub async fn call(&mut self, target: &Target, creds: &Creds, service: &str, body: String) -> anyhow::Result<Reply> {
        self.sender.ready().await.context("connection closed")?;
        let body = Bytes::from(body);
        let signed = sign_headers(
            &SignRequest {
                method: "POST",
                host: &target.host,
                path: "/",
                query: "",
                content_type: Some(CONTENT_TYPE),
                body: &body,
            },
            &SignCredentials {
                access_key_id: &creds.access_key_id,
                secret_access_key: &creds.secret_access_key,
                session_token: None,
            },
            &target.region,
            service,
            OffsetDateTime::now_utc(),
        );
        let mut request = http::Request::builder()
            .method("POST")
            .uri("/")
            .header("host", &target.host)
            .header("content-type", CONTENT_TYPE);
        for (name, value) in &signed {
            request = request.header(name.as_str(), value.as_str());
        }
        self.exchange(request.body(Full::new(body))?).await
    }

    /// Sends one unsigned form post to `path` (a server that takes no SigV4, e.g. privacyIDEA).
    pub async fn post_form(&mut self, target: &Target, path: &str, body: String) -> anyhow::Result<Reply> {
        self.sender.ready().await.context("connection closed")?;
        let request = http::Request::builder()
            .method("POST")
            .uri(path)
            .header("host", &target.host)
            .header("content-type", CONTENT_TYPE)
            .body(Full::new(Bytes::from(body)))?;
        self.exchange(request).await
    }

    async fn exchange(&mut self, request: http::Request<Full<Bytes>>) -> anyhow::Result<Reply> {
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Reply { status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback() {
        assert!(Target::parse("http://127.0.0.1:8080", "us-east-1").is_ok());
        assert!(Target::parse("http://127.1.2.3:8080", "us-east-1").is_ok());
        assert!(Target::parse("http://localhost:8080", "us-east-1").is_ok());
        assert!(Target::parse("http://[::1]:8080", "us-east-1").is_ok());
        assert!(Target::parse("http://10.0.0.1:8080", "us-east-1").is_err());
        assert!(Target::parse("http://example.com:8080", "us-east-1").is_err());
        assert!(Target::parse("https://127.0.0.1:8080", "us-east-1").is_err());
    }

    #[test]
    fn reply_tags() {
        let reply = Reply {
            status: 404,
            body: Bytes::from_static(b"<ErrorResponse><Error><Code>NoSuchEntity</Code></Error></ErrorResponse>"),
        };
        assert_eq!(reply.tag("Code"), Some("NoSuchEntity"));
        assert_eq!(reply.error_key(), "404 NoSuchEntity");
        let reply = Reply {
            status: 500,
            body: Bytes::from_static(
                br#"{"result":{"status":false,"error":{"code":-311,"message":"database is locked"}}}"#,
            ),
        };
        assert_eq!(reply.error_key(), "500 database is locked");
        let reply = Reply { status: 502, body: Bytes::from_static(b"Bad Gateway") };
        assert_eq!(reply.error_key(), "502 (no code)");
        assert_eq!(
            form("GetUser", IAM_VERSION, &[("UserName", "a b")]),
            "Action=GetUser&Version=2010-05-08&UserName=a+b"
        );
    }
}
