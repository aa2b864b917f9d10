//! The SigV4 targets' input: an HTTP/1.1 request as text, so that the seeds are real signed
//! requests a person can read (the AWS test-suite vectors are in this form already):
//!
//! ```text
//! POST /path?query HTTP/1.1
//! Host:127.0.0.1:8080
//! Authorization:AWS4-HMAC-SHA256 Credential=…
//!
//! body bytes
//! ```
//!
//! Lines end in `\n` (a `\r` before it is dropped); the first empty line ends the headers.
//! Header lines that are not a valid name and value are skipped, as a server would never see
//! them.

use http::{HeaderMap, HeaderName, HeaderValue};

pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: HeaderMap,
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    pub fn parse(data: &'a [u8]) -> Option<Request<'a>> {
        let mut lines = Vec::new();
        let mut rest = data;
        let body = loop {
            let Some(end) = rest.iter().position(|&b| b == b'\n') else {
                lines.push(rest);
                break &[][..];
            };
            let line = &rest[..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            rest = &rest[end + 1..];
            if line.is_empty() && !lines.is_empty() {
                break rest;
            }
            lines.push(line);
        };
        let (request_line, header_lines) = lines.split_first()?;
        let request_line = std::str::from_utf8(request_line).ok()?;
        let (method, target) = request_line.split_once(' ').unwrap_or((request_line, "/"));
        let target = target.strip_suffix(" HTTP/1.1").unwrap_or(target);
        let (path, query) = target.split_once('?').unwrap_or((target, ""));

        let mut headers = HeaderMap::new();
        for line in header_lines {
            let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
            let value = line[colon + 1..].trim_ascii_start();
            if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(&line[..colon]), HeaderValue::from_bytes(value)) {
                headers.append(name, value);
            }
        }
        Some(Request { method, path, query, headers, body })
    }

    pub fn parts(&self) -> iamd_sigv4::RequestParts<'_> {
        iamd_sigv4::RequestParts {
            method: self.method,
            path: self.path,
            query: self.query,
            headers: &self.headers,
            body: self.body,
        }
    }
}
