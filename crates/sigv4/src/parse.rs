//! Reading the authentication data a request presents (no secrets involved).

use crate::canonical::{ALGORITHM, TERMINATOR, parse_query};
use crate::{Location, MAX_PRESIGNED_EXPIRES_SECS, Presented, RequestParts, SigError};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

const AMZ_DATE_FORMAT: &[FormatItem<'static>] = format_description!("[year][month][day]T[hour][minute][second]Z");

pub(crate) fn format_amz_date(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC).format(AMZ_DATE_FORMAT).expect("a UTC date formats")
}

/// `yyyymmddThhmmssZ`, exactly 16 ASCII characters, in UTC.
fn parse_amz_date(value: &str) -> Result<OffsetDateTime, SigError> {
    let bad = || {
        SigError::incomplete(format_args!(
            "Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601"
        ))
    };
    // The length check stops `[year]` from accepting a sign or extra digits.
    if value.len() != 16 || !value.is_ascii() {
        return Err(bad());
    }
    PrimitiveDateTime::parse(value, AMZ_DATE_FORMAT).map(PrimitiveDateTime::assume_utc).map_err(|_| bad())
}

/// The three things both signature locations carry, still unparsed.
struct RawAuth<'a> {
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
    amz_date: &'a str,
}

pub(crate) fn parse(req: &RequestParts<'_>) -> Result<Presented, SigError> {
    let mut auth_headers = req.headers.get_all(http::header::AUTHORIZATION).iter();
    let auth_header = auth_headers.next();
    if auth_headers.next().is_some() {
        return Err(SigError::incomplete("Only one Authorization header is allowed."));
    }
    let params = parse_query(req.query);
    let has_query_auth = params.iter().any(|p| p.key == b"X-Amz-Algorithm");

    match (auth_header, has_query_auth) {
        (None, false) => Err(SigError::MissingAuthenticationToken),
        (Some(_), true) => Err(SigError::incomplete(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified",
        )),
        (Some(value), false) => {
            let value = value
                .to_str()
                .map_err(|_| SigError::incomplete("Authorization header contains invalid characters."))?;
            parse_header_auth(req, value)
        }
        (None, true) => parse_query_auth(req, &params),
    }
}

fn header_str<'a>(req: &'a RequestParts<'_>, name: &str) -> Result<Option<&'a str>, SigError> {
    req.headers
        .get(name)
        .map(|v| {
            v.to_str().map_err(|_| SigError::incomplete(format_args!("Header '{name}' contains invalid characters.")))
        })
        .transpose()
}

fn parse_header_auth(req: &RequestParts<'_>, authorization: &str) -> Result<Presented, SigError> {
    let amz_date = header_str(req, "x-amz-date")?;
    let security_token = header_str(req, "x-amz-security-token")?.map(str::to_owned);

    let (scheme, rest) = authorization.trim().split_once(' ').unwrap_or((authorization.trim(), ""));
    if scheme != ALGORITHM && scheme.starts_with("AWS4-") {
        return Err(SigError::incomplete(format_args!("Unsupported AWS 'algorithm': '{scheme}'.")));
    }

    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    // A foreign scheme (Basic, Bearer, SigV2's "AWS key:sig") has none of the
    // SigV4 components, and AWS reports exactly that.
    if scheme == ALGORITHM {
        for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                return Err(SigError::incomplete(format_args!(
                    "'{part}' not a valid key=value pair (missing equal-sign) in Authorization header: '{authorization}'."
                )));
            };
            let slot = match key.trim() {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed_headers,
                "Signature" => &mut signature,
                // AWS ignores components it does not know.
                _ => continue,
            };
            if slot.replace(value.trim()).is_some() {
                return Err(SigError::incomplete(format_args!(
                    "Authorization header has a duplicate '{}' parameter. Authorization={authorization}",
                    key.trim()
                )));
            }
        }
    }

    let mut missing = String::new();
    for (name, value) in [("Credential", credential), ("Signature", signature), ("SignedHeaders", signed_headers)] {
        if value.is_none() {
            missing.push_str(&format!("Authorization header requires '{name}' parameter. "));
        }
    }
    if amz_date.is_none() {
        missing.push_str("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ");
    }
    match (credential, signed_headers, signature, amz_date) {
        (Some(credential), Some(signed_headers), Some(signature), Some(amz_date)) => {
            build(RawAuth { credential, signed_headers, signature, amz_date }, Location::Header, security_token)
        }
        _ => Err(SigError::incomplete(format_args!("{missing}Authorization={authorization}"))),
    }
}

fn parse_query_auth(req: &RequestParts<'_>, params: &[crate::canonical::QueryParam]) -> Result<Presented, SigError> {
    // Each authentication parameter once, as UTF-8.
    let get = |name: &str| -> Result<Option<&str>, SigError> {
        let mut found = params.iter().filter(|p| p.key == name.as_bytes());
        let Some(first) = found.next() else {
            return Ok(None);
        };
        if found.next().is_some() {
            return Err(SigError::incomplete(format_args!(
                "AWS query-string parameter '{name}' must not be repeated. Re-examine the query-string parameters."
            )));
        }
        std::str::from_utf8(&first.value)
            .map(Some)
            .map_err(|_| SigError::incomplete(format_args!("AWS query-string parameter '{name}' is not valid UTF-8.")))
    };

    let algorithm = get("X-Amz-Algorithm")?;
    let credential = get("X-Amz-Credential")?;
    let signature = get("X-Amz-Signature")?;
    let signed_headers = get("X-Amz-SignedHeaders")?;
    let amz_date = get("X-Amz-Date")?;
    let expires = get("X-Amz-Expires")?;
    let token = get("X-Amz-Security-Token")?;

    let mut missing = String::new();
    for (name, value) in [
        ("X-Amz-Algorithm", algorithm),
        ("X-Amz-Credential", credential),
        ("X-Amz-Signature", signature),
        ("X-Amz-SignedHeaders", signed_headers),
        ("X-Amz-Date", amz_date),
    ] {
        if value.is_none() {
            missing.push_str(&format!("AWS query-string parameters must include '{name}'. "));
        }
    }
    let (Some(algorithm), Some(credential), Some(signature), Some(signed_headers), Some(amz_date)) =
        (algorithm, credential, signature, signed_headers, amz_date)
    else {
        return Err(SigError::incomplete(format_args!("{missing}Re-examine the query-string parameters.")));
    };
    if algorithm != ALGORITHM {
        return Err(SigError::incomplete(format_args!(
            "Unsupported AWS 'algorithm': '{algorithm}'. X-Amz-Algorithm only supports '{ALGORITHM}'."
        )));
    }
    let expires = expires
        .map(|e| {
            let secs: u32 = e.parse().map_err(|_| SigError::incomplete("X-Amz-Expires should be a number"))?;
            if secs > MAX_PRESIGNED_EXPIRES_SECS {
                return Err(SigError::incomplete(format_args!(
                    "X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGNED_EXPIRES_SECS}"
                )));
            }
            Ok(secs)
        })
        .transpose()?;
    // A token sent as a header on a pre-signed URL is honoured as well.
    let token = match token {
        Some(t) => Some(t.to_owned()),
        None => header_str(req, "x-amz-security-token")?.map(str::to_owned),
    };
    build(RawAuth { credential, signed_headers, signature, amz_date }, Location::Query { expires }, token)
}

/// Checks shared by both locations: credential scope, date, signed headers.
fn build(raw: RawAuth<'_>, location: Location, security_token: Option<String>) -> Result<Presented, SigError> {
    let parts: Vec<&str> = raw.credential.split('/').collect();
    let &[access_key_id, date, region, service, terminator] = parts.as_slice() else {
        return Err(SigError::incomplete(format_args!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{}'",
            raw.credential
        )));
    };
    if terminator != TERMINATOR {
        return Err(SigError::incomplete(format_args!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'. "
        )));
    }
    if region.is_empty() {
        return Err(SigError::incomplete("Credential should be scoped to a valid region. "));
    }
    if service.is_empty() {
        return Err(SigError::incomplete("Credential should be scoped to a valid service. "));
    }

    let timestamp = parse_amz_date(raw.amz_date)?;
    // Both come from the client, so a mismatch is its signing error rather
    // than a malformed request; AWS reports it as SignatureDoesNotMatch.
    if date != &raw.amz_date[..8] {
        return Err(SigError::SignatureDoesNotMatch(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{date}' != '{}', from '{}'.",
            &raw.amz_date[..8],
            raw.amz_date
        )));
    }

    let mut signed_headers: Vec<String> =
        raw.signed_headers.split(';').map(|h| h.trim().to_ascii_lowercase()).collect();
    if let Some(bad) =
        signed_headers.iter().find(|h| h.is_empty() || http::HeaderName::from_bytes(h.as_bytes()).is_err())
    {
        return Err(SigError::incomplete(format_args!(
            "SignedHeaders contains an invalid header name: '{bad}'. SignedHeaders={}",
            raw.signed_headers
        )));
    }
    // The spec requires the list sorted; every SDK sends it so. Sorting (not
    // trusting the client's order) keeps the canonical request canonical: a
    // client that signed an unsorted list simply gets a mismatch.
    signed_headers.sort();
    signed_headers.dedup();
    // Without `host` a signature could be replayed against another endpoint.
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(SigError::incomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."));
    }

    Ok(Presented {
        access_key_id: access_key_id.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        timestamp,
        signed_headers,
        security_token,
        signature: raw.signature.to_owned(),
        amz_date: raw.amz_date.to_owned(),
        location,
    })
}
