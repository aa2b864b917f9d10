//! `iamd-sigv4` on arbitrary requests: parsing and verification answer `Ok` or an AWS error,
//! never panic; and what the crate computes agrees with itself.

use hmac::{Hmac, KeyInit, Mac};
use http::header::{AUTHORIZATION, HOST};
use http::{HeaderMap, HeaderValue};
use iamd_sigv4::{Presented, RequestParts, SigError, SignCredentials, SignRequest};
use sha2::Sha256;
use time::{Duration, OffsetDateTime};

use crate::request::Request;

/// The secret of the AWS test suite's `AKIDEXAMPLE`, which boto3-signed seeds use too, so the
/// seeds verify and the fuzzer starts from the success path.
pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";

/// A server clock for checks that do not take the request's own time.
fn server_now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_767_323_045).expect("a valid time")
}

/// `X-Amz-Date` as a time the server clock could show. The server's clock is never near year
/// 9999, where `timestamp + X-Amz-Expires` would leave `time`'s range.
fn plausible_now(t: OffsetDateTime) -> Option<OffsetDateTime> {
    (1..9999).contains(&t.year()).then_some(t)
}

/// `sigv4_authorization`: everything of [`check_request`], then the crate's own signer on this
/// request's method, path, query, body, host and content type: what it signs verifies, exactly
/// within the clock-skew window.
pub fn check_header_signed(data: &[u8]) {
    let Some(req) = Request::parse(data) else { return };
    check_request(&req);
    sign_and_verify(&req);
}

/// `sigv4_presigned`: everything of [`check_request`], then this request pre-signed (its own
/// `X-Amz-*` parameters and `Authorization` replaced): it verifies until `X-Amz-Date +
/// X-Amz-Expires` inclusive and is `RequestExpired` one second later.
pub fn check_presigned(data: &[u8]) {
    let Some(req) = Request::parse(data) else { return };
    check_request(&req);
    presign_and_verify(&req);
}

/// Parse and verify as the server does; a request the parser accepts, given the signature the
/// crate itself computes for it ([`iamd_sigv4::canonical_request`], which error messages show),
/// verifies.
pub fn check_request(req: &Request<'_>) {
    let parts = req.parts();
    let presented = match iamd_sigv4::parse(&parts) {
        Ok(p) => p,
        Err(e) => return check_error(&e),
    };
    assert!(presented.signed_headers.iter().any(|h| h == "host"), "host is always signed");
    assert!(presented.signed_headers.windows(2).all(|w| w[0] < w[1]), "signed headers sorted and unique");
    let key = iamd_sigv4::signing_key(SECRET, &presented.date, &presented.region, &presented.service);
    if let Err(e) = iamd_sigv4::verify(&parts, &presented, &key, server_now()) {
        check_error(&e);
    }
    let Some(now) = plausible_now(presented.timestamp) else { return };
    if let Err(e) = iamd_sigv4::verify(&parts, &presented, &key, now) {
        check_error(&e);
    }

    // The Authorization header is never signed (it holds the signature); a client that lists it
    // cannot be re-signed in place.
    if presented.signed_headers.iter().any(|h| h == "authorization") {
        return;
    }
    let Ok(creq) = iamd_sigv4::canonical_request(&parts, &presented) else { return };
    let signature = signature_hex(&key, &iamd_sigv4::string_to_sign(&presented, &creq));
    let Some((headers, query)) = with_signature(req, &presented, &signature) else { return };
    let resigned = RequestParts { headers: &headers, query: &query, ..parts };
    let again = iamd_sigv4::parse(&resigned).expect("replacing only the signature keeps the request readable");
    if let Err(e) = iamd_sigv4::verify(&resigned, &again, &key, now) {
        panic!(
            "the signature over the crate's own canonical request does not verify: {e:?}\n{}",
            String::from_utf8_lossy(&creq)
        );
    }
}

/// Every error is one of AWS's authentication errors with a message.
fn check_error(e: &SigError) {
    assert!(matches!(e.http_status(), 400 | 403), "{e:?}");
    assert!(!e.code().is_empty());
    assert!(!e.to_string().is_empty(), "{e:?} has no message");
}

fn signature_hex(key: &[u8; 32], string_to_sign: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The request with its signature replaced, wherever it was carried.
fn with_signature(req: &Request<'_>, presented: &Presented, signature: &str) -> Option<(HeaderMap, String)> {
    let mut headers = req.headers.clone();
    let mut query = req.query.to_owned();
    if presented.is_presigned() {
        query = req
            .query
            .split('&')
            .map(|piece| {
                let key = piece.split_once('=').map_or(piece, |(k, _)| k);
                if form_decode(key) == b"X-Amz-Signature" {
                    format!("X-Amz-Signature={signature}")
                } else {
                    piece.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("&");
    } else {
        let authorization = headers.get(AUTHORIZATION)?.to_str().ok()?.trim().to_owned();
        let (scheme, rest) = authorization.split_once(' ')?;
        let rest = rest
            .split(',')
            .map(|part| match part.split_once('=') {
                Some((k, _)) if k.trim() == "Signature" => format!("Signature={signature}"),
                _ => part.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(",");
        headers.insert(AUTHORIZATION, HeaderValue::from_str(&format!("{scheme} {rest}")).ok()?);
    }
    Some((headers, query))
}

/// `application/x-www-form-urlencoded` decoding, as the SigV4 crate reads query strings.
fn form_decode(s: &str) -> Vec<u8> {
    percent_encoding::percent_decode(s.replace('+', " ").as_bytes()).collect()
}

fn query_has_presign_params(query: &str) -> bool {
    query.split('&').any(|piece| form_decode(piece.split_once('=').map_or(piece, |(k, _)| k)).starts_with(b"X-Amz-"))
}

/// A region or service name a client could put in a credential scope.
fn scope_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn sign_and_verify(req: &Request<'_>) {
    // With a pre-signing parameter in the query, the request has two signatures: refused.
    if query_has_presign_params(req.query) {
        return;
    }
    let host = req.headers.get(HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost");
    let content_type = req.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let token = req.headers.get("x-amz-security-token").and_then(|v| v.to_str().ok());
    let presented = iamd_sigv4::parse(&req.parts()).ok();
    let (region, service) = match &presented {
        Some(p) if scope_name(&p.region) && scope_name(&p.service) => (p.region.as_str(), p.service.as_str()),
        _ => ("us-east-1", "iam"),
    };
    let time = presented.as_ref().and_then(|p| plausible_now(p.timestamp)).unwrap_or_else(server_now);

    let signed = iamd_sigv4::sign_headers(
        &SignRequest { method: req.method, host, path: req.path, query: req.query, content_type, body: req.body },
        &SignCredentials { access_key_id: ACCESS_KEY_ID, secret_access_key: SECRET, session_token: token },
        region,
        service,
        time,
    );
    let mut headers = HeaderMap::new();
    headers.insert(HOST, HeaderValue::from_str(host).expect("was a header value"));
    if let Some(ct) = content_type {
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_str(ct).expect("was a header value"));
    }
    for (name, value) in &signed {
        headers.insert(
            http::HeaderName::from_bytes(name.as_bytes()).expect("the signer names valid headers"),
            HeaderValue::from_str(value).expect("the signer writes valid header values"),
        );
    }
    let parts = RequestParts { headers: &headers, ..req.parts() };
    let presented = iamd_sigv4::parse(&parts).unwrap_or_else(|e| panic!("the crate's signer wrote {signed:?}: {e:?}"));
    assert_eq!(presented.security_token.as_deref(), token);
    let key = iamd_sigv4::signing_key(SECRET, &presented.date, region, service);
    let skew = iamd_sigv4::MAX_CLOCK_SKEW;
    for now in [time, time - skew, time + skew] {
        if let Err(e) = iamd_sigv4::verify(&parts, &presented, &key, now) {
            panic!("signed by the crate's signer, refused at {now}: {e:?}");
        }
    }
    for now in [time - skew - Duration::SECOND, time + skew + Duration::SECOND] {
        let outcome = iamd_sigv4::verify(&parts, &presented, &key, now);
        assert!(matches!(outcome, Err(SigError::SignatureDoesNotMatch(_))), "outside the skew at {now}: {outcome:?}");
    }
    let other = iamd_sigv4::signing_key("another secret", &presented.date, region, service);
    assert_eq!(iamd_sigv4::verify(&parts, &presented, &other, time), Err(SigError::mismatch()));
}

fn presign_and_verify(req: &Request<'_>) {
    let time = server_now();
    let expires = 900;
    let amz_date = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        time.year(),
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute(),
        time.second()
    );
    let kept: Vec<&str> = req
        .query
        .split('&')
        .filter(|piece| !form_decode(piece.split_once('=').map_or(piece, |(k, _)| k)).starts_with(b"X-Amz-"))
        .collect();
    let mut query = kept.join("&");
    if !query.is_empty() {
        query.push('&');
    }
    query.push_str(&format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={ACCESS_KEY_ID}%2F{}%2Fus-east-1%2Fsts%2Faws4_request\
         &X-Amz-Date={amz_date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host",
        &amz_date[..8]
    ));
    let mut headers = req.headers.clone();
    headers.remove(AUTHORIZATION);
    // A token header that is not text is refused whatever the signature (checked above).
    if headers.get_all("x-amz-security-token").iter().any(|t| t.to_str().is_err()) {
        headers.remove("x-amz-security-token");
    }
    if !headers.contains_key(HOST) {
        headers.insert(HOST, HeaderValue::from_static("localhost"));
    }
    let unsigned = RequestParts { headers: &headers, query: &query, ..req.parts() };
    let placeholder = format!("{query}&X-Amz-Signature=0");
    let draft = RequestParts { query: &placeholder, ..unsigned };
    let presented = iamd_sigv4::parse(&draft).unwrap_or_else(|e| panic!("a well-formed pre-signed query: {e:?}"));
    // A header claiming another payload hash is refused whatever the signature.
    let Ok(creq) = iamd_sigv4::canonical_request(&draft, &presented) else { return };
    let key = iamd_sigv4::signing_key(SECRET, &presented.date, "us-east-1", "sts");
    let signature = signature_hex(&key, &iamd_sigv4::string_to_sign(&presented, &creq));
    let signed_query = format!("{query}&X-Amz-Signature={signature}");
    let signed = RequestParts { query: &signed_query, ..unsigned };
    let presented = iamd_sigv4::parse(&signed).expect("the signature is hex");
    assert!(presented.is_presigned());
    let last = time + Duration::seconds(expires);
    for now in [time - iamd_sigv4::MAX_CLOCK_SKEW, time, last] {
        if let Err(e) = iamd_sigv4::verify(&signed, &presented, &key, now) {
            panic!("pre-signed, refused at {now}: {e:?}\n{}", String::from_utf8_lossy(&creq));
        }
    }
    let late = iamd_sigv4::verify(&signed, &presented, &key, last + Duration::SECOND);
    assert!(matches!(late, Err(SigError::RequestExpired(_))), "{late:?}");
    let early = iamd_sigv4::verify(&signed, &presented, &key, time - iamd_sigv4::MAX_CLOCK_SKEW - Duration::SECOND);
    assert!(matches!(early, Err(SigError::SignatureDoesNotMatch(_))), "{early:?}");
}
