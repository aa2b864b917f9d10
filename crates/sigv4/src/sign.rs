//! A minimal client-side signer, for load generators and tests.

use crate::canonical::{self, ALGORITHM, CanonicalInput};
use crate::parse::format_amz_date;
use http::{HeaderMap, HeaderName, HeaderValue};
use time::OffsetDateTime;

/// The request to sign. The caller must send `host`, `content_type` (if
/// given), path, query and body exactly as passed here.
#[derive(Debug, Clone, Copy)]
pub struct SignRequest<'a> {
    pub method: &'a str,
    /// Value of the `Host` header, e.g. `"localhost:8080"`.
    pub host: &'a str,
    /// Raw (already percent-encoded) path, e.g. `"/"`.
    pub path: &'a str,
    /// Raw query string without `?`; `""` if none.
    pub query: &'a str,
    /// Signed if given, e.g. `"application/x-www-form-urlencoded; charset=utf-8"`.
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// Who signs.
#[derive(Clone, Copy)]
pub struct SignCredentials<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    /// For temporary credentials; sent and signed as `x-amz-security-token`.
    pub session_token: Option<&'a str>,
}

impl std::fmt::Debug for SignCredentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignCredentials").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

/// Signs `req` the way the AWS SDKs sign IAM/STS calls (signed headers
/// `content-type` if given, `host`, `x-amz-date`, `x-amz-security-token` if
/// a session token is given; payload hash of the body) and returns the
/// headers to add: `authorization`, `x-amz-date` and, with a session token,
/// `x-amz-security-token`.
///
/// # Panics
/// If `host`, `content_type` or the session token is not a valid HTTP
/// header value (they could not be sent either).
pub fn sign_headers(
    req: &SignRequest<'_>,
    creds: &SignCredentials<'_>,
    region: &str,
    service: &str,
    time: OffsetDateTime,
) -> Vec<(String, String)> {
    let amz_date = format_amz_date(time);
    let date = &amz_date[..8];

    let mut to_sign: Vec<(&'static str, &str)> = vec![("host", req.host), ("x-amz-date", &amz_date)];
    if let Some(ct) = req.content_type {
        to_sign.push(("content-type", ct));
    }
    if let Some(token) = creds.session_token {
        to_sign.push(("x-amz-security-token", token));
    }
    let mut headers = HeaderMap::new();
    for (name, value) in &to_sign {
        let value = HeaderValue::from_str(value).unwrap_or_else(|_| panic!("{name} is not a valid header value"));
        headers.insert(HeaderName::from_static(name), value);
    }
    let mut signed_headers: Vec<String> = to_sign.iter().map(|(n, _)| (*n).to_owned()).collect();
    signed_headers.sort();

    let query = canonical::canonical_query(canonical::parse_query(req.query).iter());
    let payload_hash = canonical::sha256_hex(req.body);
    let creq = canonical::canonical_request(&CanonicalInput {
        method: req.method,
        path: req.path,
        query: &query,
        headers: &headers,
        signed_headers: &signed_headers,
        payload_hash: &payload_hash,
    });
    let scope = format!("{date}/{region}/{service}/{}", canonical::TERMINATOR);
    let sts = canonical::string_to_sign(&amz_date, &scope, &creq);
    let key = canonical::signing_key(creds.secret_access_key, date, region, service);
    let signature = canonical::signature_hex(&key, &sts);

    let mut out = vec![
        (
            "authorization".to_owned(),
            format!(
                "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
                creds.access_key_id,
                signed_headers.join(";"),
            ),
        ),
        ("x-amz-date".to_owned(), amz_date.clone()),
    ];
    if let Some(token) = creds.session_token {
        out.push(("x-amz-security-token".to_owned(), token.to_owned()));
    }
    out
}
