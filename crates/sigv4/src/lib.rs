//! AWS Signature Version 4 for the server side of the IAM and STS query APIs.
//!
//! Verification is split in two so that the secret is looked up only once we
//! know whose it is:
//!
//! 1. [`parse`] reads what the request claims (access key id, credential
//!    scope, timestamp, signed headers, session token) without any secret,
//!    rejecting malformed authentication data.
//! 2. The caller looks up the secret for `access_key_id` (answering
//!    [`SigError::InvalidClientTokenId`] if there is none), derives or fetches
//!    a cached [`signing_key`], and calls [`verify`], which checks the clock
//!    skew / pre-signed expiry and compares signatures in constant time.
//!
//! Both header-signed requests (`Authorization: AWS4-HMAC-SHA256 ...`) and
//! pre-signed query strings (`X-Amz-Algorithm=AWS4-HMAC-SHA256&...`) are
//! accepted. Canonicalisation follows the rules for every service except S3
//! (normalised, double-encoded path), which is what the AWS SDKs use for IAM
//! and STS.
//!
//! [`sign_headers`] is a small client-side signer for load generators and
//! tests.

mod canonical;
mod error;
mod parse;
mod sign;

pub use error::SigError;
pub use sign::{SignCredentials, SignRequest, sign_headers};

use canonical::{CanonicalInput, UNSIGNED_PAYLOAD, parse_query, sha256_hex};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

/// How far a header-signed request's `X-Amz-Date` may be from the server's
/// clock, either way (inclusive).
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(15);

/// The longest `X-Amz-Expires` a pre-signed request may ask for (7 days), as
/// on AWS.
pub const MAX_PRESIGNED_EXPIRES_SECS: u32 = 604_800;

/// The parts of an HTTP request the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// As received, e.g. `"POST"`.
    pub method: &'a str,
    /// The raw path as received on the wire (still percent-encoded), without
    /// the query string.
    pub path: &'a str,
    /// The raw query string without the leading `?`; `""` if none.
    pub query: &'a str,
    /// Must include `host` (for HTTP/2, copy `:authority` into it).
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
}

/// Where the signature was carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    Header,
    Query {
        /// `X-Amz-Expires`, which is optional outside S3; without it the
        /// normal clock-skew window applies.
        expires: Option<u32>,
    },
}

/// What the request claims, parsed without any secret: used to look up the
/// secret and then passed to [`verify`].
///
/// Deliberately not `PartialEq`: the presented signature must only ever be
/// compared in constant time, by [`verify`].
#[derive(Clone)]
pub struct Presented {
    pub access_key_id: String,
    /// `yyyymmdd` from the credential scope (equal to the date of
    /// `timestamp`, which [`parse`] checks).
    pub date: String,
    pub region: String,
    pub service: String,
    /// `X-Amz-Date`.
    pub timestamp: OffsetDateTime,
    /// Lowercase, sorted, without duplicates; always contains `host`.
    pub signed_headers: Vec<String>,
    /// `X-Amz-Security-Token` (header, or query parameter when pre-signed).
    pub security_token: Option<String>,
    /// Hex as presented; compared only as bytes, in constant time.
    signature: String,
    /// `X-Amz-Date` exactly as sent; it is part of the string to sign.
    amz_date: String,
    location: Location,
}

impl std::fmt::Debug for Presented {
    // Hand-written so that logs never contain the session token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presented")
            .field("access_key_id", &self.access_key_id)
            .field("date", &self.date)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("timestamp", &self.timestamp)
            .field("signed_headers", &self.signed_headers)
            .field("security_token", &self.security_token.as_ref().map(|_| "<redacted>"))
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl Presented {
    /// True if the signature came in the query string (`X-Amz-Signature`).
    pub fn is_presigned(&self) -> bool {
        matches!(self.location, Location::Query { .. })
    }

    /// `X-Amz-Expires` of a pre-signed request, if it had one.
    pub fn expires(&self) -> Option<Duration> {
        match self.location {
            Location::Query { expires: Some(secs) } => Some(Duration::seconds(i64::from(secs))),
            _ => None,
        }
    }

    /// `date/region/service/aws4_request`.
    pub fn credential_scope(&self) -> String {
        format!("{}/{}/{}/{}", self.date, self.region, self.service, canonical::TERMINATOR)
    }

    /// Rejects a credential scoped to another service, with AWS's wording.
    pub fn require_service(&self, service: &str) -> Result<(), SigError> {
        if self.service == service {
            Ok(())
        } else {
            Err(SigError::incomplete(format_args!("Credential should be scoped to correct service: '{service}'. ")))
        }
    }

    /// Rejects a credential scoped to a region the server does not serve.
    pub fn require_region(&self, allowed: impl Fn(&str) -> bool) -> Result<(), SigError> {
        if allowed(&self.region) {
            Ok(())
        } else {
            Err(SigError::incomplete(format_args!(
                "Credential should be scoped to a valid region, not '{}'. ",
                self.region
            )))
        }
    }
}

/// Reads the authentication data a request presents, without any secret.
pub fn parse(req: &RequestParts<'_>) -> Result<Presented, SigError> {
    parse::parse(req)
}

/// Derives the SigV4 signing key. It depends only on its arguments, so
/// callers may cache it per `(secret, date, region, service)`.
pub fn signing_key(secret_access_key: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    canonical::signing_key(secret_access_key, date, region, service)
}

/// Verifies `req` against what [`parse`] returned for it, using the key
/// derived from the secret of `presented.access_key_id` and
/// `presented`'s scope.
///
/// Checks, in order: the request time (header-signed: within
/// [`MAX_CLOCK_SKEW`] of `now`; pre-signed: not past `X-Amz-Expires`, not in
/// the future), the `x-amz-content-sha256` header if any, then the
/// signature, compared in constant time.
pub fn verify(
    req: &RequestParts<'_>,
    presented: &Presented,
    signing_key: &[u8; 32],
    now: OffsetDateTime,
) -> Result<(), SigError> {
    check_time(presented, now)?;
    let payload_hash = payload_hash(req)?;
    let scope = presented.credential_scope();

    let mut matched = subtle::Choice::from(0);
    for query in canonical_query_candidates(req, presented) {
        let creq = canonical::canonical_request(&CanonicalInput {
            method: req.method,
            path: req.path,
            query: &query,
            headers: req.headers,
            signed_headers: &presented.signed_headers,
            payload_hash: &payload_hash,
        });
        let sts = canonical::string_to_sign(&presented.amz_date, &scope, &creq);
        let expected = canonical::signature_hex(signing_key, &sts);
        // `ct_eq` on slices of different lengths is false without looking at
        // the contents; the length of a signature is no secret.
        matched |= expected.as_bytes().ct_eq(presented.signature.as_bytes());
    }
    if bool::from(matched) { Ok(()) } else { Err(SigError::mismatch()) }
}

/// The canonical request the signature of `req` should cover, for error
/// messages and debugging. For a pre-signed request whose session token may
/// or may not have been signed, this is the variant that includes it.
///
/// Bytes, exactly as hashed: a header value may hold bytes that are not
/// UTF-8 (HTTP's obs-text), and a lossy string would hash to another string
/// to sign than the one [`verify`] checks. Show it with
/// `String::from_utf8_lossy`.
pub fn canonical_request(req: &RequestParts<'_>, presented: &Presented) -> Result<Vec<u8>, SigError> {
    let payload_hash = payload_hash(req)?;
    let query = canonical_query_candidates(req, presented).into_iter().next().unwrap_or_default();
    let creq = canonical::canonical_request(&CanonicalInput {
        method: req.method,
        path: req.path,
        query: &query,
        headers: req.headers,
        signed_headers: &presented.signed_headers,
        payload_hash: &payload_hash,
    });
    Ok(creq)
}

/// The string to sign for a canonical request from [`canonical_request`].
pub fn string_to_sign(presented: &Presented, canonical_request: &[u8]) -> String {
    canonical::string_to_sign(&presented.amz_date, &presented.credential_scope(), canonical_request)
}

/// The canonical query strings the client may have signed.
///
/// A pre-signed request never signs `X-Amz-Signature` itself. Its
/// `X-Amz-Security-Token` is normally signed, but some clients (and the AWS
/// test suite's `post-sts-header-after`) append it after signing, which AWS
/// accepts; so for a pre-signed request carrying a token both variants are
/// tried. Leaving the token unsigned gains an attacker nothing: a token only
/// works together with the access key id and secret it was issued with.
fn canonical_query_candidates(req: &RequestParts<'_>, presented: &Presented) -> Vec<String> {
    let params = parse_query(req.query);
    if !presented.is_presigned() {
        return vec![canonical::canonical_query(params.iter())];
    }
    let signed = |p: &&canonical::QueryParam| p.key != b"X-Amz-Signature";
    let mut out = vec![canonical::canonical_query(params.iter().filter(signed))];
    if params.iter().any(|p| p.key == b"X-Amz-Security-Token") {
        out.push(canonical::canonical_query(params.iter().filter(signed).filter(|p| p.key != b"X-Amz-Security-Token")));
    }
    out
}

/// The payload hash for the canonical request.
///
/// IAM and STS clients do not send `x-amz-content-sha256`, so the body is
/// hashed here. If the header is sent it must agree with the body: the
/// signature must always cover the parameters, which for a POST are in the
/// body. `UNSIGNED-PAYLOAD` (header or pre-signed) is therefore accepted
/// only when there is no body to leave unsigned; a pre-signed request
/// without the header is taken to have signed the body's hash, which is what
/// aws-sigv4 does when given the body.
fn payload_hash(req: &RequestParts<'_>) -> Result<String, SigError> {
    let actual = sha256_hex(req.body);
    let Some(claimed) = req.headers.get("x-amz-content-sha256") else {
        return Ok(actual);
    };
    let claimed = claimed.to_str().unwrap_or_default();
    if claimed == UNSIGNED_PAYLOAD {
        if req.body.is_empty() {
            return Ok(UNSIGNED_PAYLOAD.to_owned());
        }
        return Err(SigError::SignatureDoesNotMatch(
            "UNSIGNED-PAYLOAD is not accepted for a request with a body.".to_owned(),
        ));
    }
    if claimed.eq_ignore_ascii_case(&actual) {
        // The client hashed the value it sent, whatever its case.
        Ok(claimed.to_owned())
    } else {
        Err(SigError::SignatureDoesNotMatch(
            "The provided 'x-amz-content-sha256' header does not match what was computed.".to_owned(),
        ))
    }
}

/// Header-signed requests and pre-signed ones without `X-Amz-Expires` must be
/// within [`MAX_CLOCK_SKEW`] of `now` (AWS IAM/STS answer
/// `SignatureDoesNotMatch` "Signature expired: ..." for this, and SDKs react
/// to it by correcting their clock). A pre-signed request with
/// `X-Amz-Expires` is valid from `X-Amz-Date - MAX_CLOCK_SKEW` to
/// `X-Amz-Date + expires`; past that it is `RequestExpired`, the code IAM
/// documents for expired pre-signed requests (no grace period is added).
fn check_time(presented: &Presented, now: OffsetDateTime) -> Result<(), SigError> {
    // X-Amz-Date has one-second resolution; compare at the same resolution so
    // that "exactly 15 minutes" is exact.
    let now = now.to_offset(time::UtcOffset::UTC).replace_nanosecond(0).expect("0 is a valid nanosecond");
    let ts = presented.timestamp;

    if ts > now + MAX_CLOCK_SKEW {
        return Err(SigError::SignatureDoesNotMatch(format!(
            "Signature not yet current: {} is still later than {} ({} + 15 min.)",
            parse::format_amz_date(ts),
            parse::format_amz_date(now + MAX_CLOCK_SKEW),
            parse::format_amz_date(now),
        )));
    }
    match presented.expires() {
        Some(expires) => {
            if now > ts + expires {
                return Err(SigError::RequestExpired(format!(
                    "Request has expired: X-Amz-Date {} plus X-Amz-Expires {} seconds is earlier than {}.",
                    presented.amz_date,
                    expires.whole_seconds(),
                    parse::format_amz_date(now),
                )));
            }
        }
        None => {
            if ts < now - MAX_CLOCK_SKEW {
                return Err(SigError::SignatureDoesNotMatch(format!(
                    "Signature expired: {} is now earlier than {} ({} - 15 min.)",
                    parse::format_amz_date(ts),
                    parse::format_amz_date(now - MAX_CLOCK_SKEW),
                    parse::format_amz_date(now),
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    /// Found by the `sigv4_authorization` fuzz target: with a header value that is not UTF-8,
    /// the canonical request used to come back as a lossy string, whose string to sign was not
    /// the one `verify` checks.
    #[test]
    fn canonical_request_is_what_verify_hashes_even_for_non_utf8_header_values() {
        let headers = |signature: &str| {
            let mut h = HeaderMap::new();
            h.insert("host", HeaderValue::from_bytes(b"example.amazonaws.co\xe9").unwrap());
            h.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
            let authorization = format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature={signature}"
            );
            h.insert("authorization", HeaderValue::from_str(&authorization).unwrap());
            h
        };
        let unsigned = headers("00");
        let req = RequestParts { method: "GET", path: "/", query: "", headers: &unsigned, body: b"" };
        let presented = parse(&req).unwrap();
        let key = signing_key("secret", &presented.date, &presented.region, &presented.service);
        let creq = canonical_request(&req, &presented).unwrap();
        assert!(creq.windows(2).any(|w| w == b"o\xe9"), "the header's own byte is hashed");

        let signed = headers(&canonical::signature_hex(&key, &string_to_sign(&presented, &creq)));
        let req = RequestParts { headers: &signed, ..req };
        let presented = parse(&req).unwrap();
        assert_eq!(verify(&req, &presented, &key, presented.timestamp), Ok(()));
    }
}
