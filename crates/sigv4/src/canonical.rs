//! Building the SigV4 canonical request and string to sign.
//!
//! The server sees the request as it came off the wire, so everything here
//! starts from raw (already percent-encoded) path and query strings and must
//! arrive at exactly the bytes the client hashed.

use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, percent_encode};
use sha2::{Digest, Sha256};

pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
pub(crate) const TERMINATOR: &str = "aws4_request";
pub(crate) const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Everything except RFC 3986 "unreserved" characters gets percent-encoded.
const QUERY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
/// Path segments keep their `/` separators.
const PATH_ENCODE: &AsciiSet = &QUERY_ENCODE.remove(b'/');

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The canonical URI for every service except S3: the raw path is
/// normalised (RFC 3986 dot-segment removal, empty segments dropped) and then
/// percent-encoded *again*, so an `%3D` received on the wire is signed as
/// `%253D`. Clients (botocore, the Rust/Go/Java SDKs) do the same to the path
/// they send, which is why the server must not decode it first.
pub(crate) fn canonical_uri(raw_path: &str) -> String {
    let normalized = normalize_path(raw_path);
    percent_encode(normalized.as_bytes(), PATH_ENCODE).to_string()
}

fn normalize_path(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let mut last_was_dir = false;
    for segment in path.split('/') {
        match segment {
            // Empty segments come from `//` (and the leading `/`); AWS
            // normalisation collapses them.
            "" | "." => last_was_dir = true,
            ".." => {
                kept.pop();
                last_was_dir = true;
            }
            other => {
                kept.push(other);
                last_was_dir = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for segment in &kept {
        out.push('/');
        out.push_str(segment);
    }
    // A path ending in `/`, `/.` or `/..` names a directory: keep the slash.
    if out.is_empty() || last_was_dir {
        out.push('/');
    }
    out
}

/// One decoded query parameter. Bytes rather than `String` so that invalid
/// UTF-8 in a percent-escape round-trips exactly instead of being replaced.
#[derive(Debug, Clone)]
pub(crate) struct QueryParam {
    pub(crate) key: Vec<u8>,
    pub(crate) value: Vec<u8>,
}

/// Decodes a raw query string the way `application/x-www-form-urlencoded`
/// does (`+` is a space), which is also how the AWS SDK signers read it.
pub(crate) fn parse_query(raw: &str) -> Vec<QueryParam> {
    raw.split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            QueryParam { key: form_decode(key), value: form_decode(value) }
        })
        .collect()
}

fn form_decode(s: &str) -> Vec<u8> {
    let spaced = s.replace('+', " ");
    percent_decode(spaced.as_bytes()).collect()
}

/// Sorted by encoded key, then encoded value, as the spec requires.
pub(crate) fn canonical_query<'a>(params: impl Iterator<Item = &'a QueryParam>) -> String {
    let mut encoded: Vec<(String, String)> = params
        .map(|p| (percent_encode(&p.key, QUERY_ENCODE).to_string(), percent_encode(&p.value, QUERY_ENCODE).to_string()))
        .collect();
    encoded.sort();
    let mut out = String::new();
    for (i, (k, v)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// All values of one header, each trimmed with inner runs of spaces
/// collapsed, joined by `,` in the order received. Only the space character
/// counts as whitespace here, matching the AWS SDK signers.
pub(crate) fn canonical_header_value(headers: &HeaderMap, name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, value) in headers.get_all(name).iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Emit a collapsed space only between two non-space bytes of this
        // value, which also trims both ends.
        let mut started = false;
        let mut pending_space = false;
        for &b in value.as_bytes() {
            if b == b' ' {
                pending_space = true;
                continue;
            }
            if pending_space && started {
                out.push(b' ');
            }
            pending_space = false;
            started = true;
            out.push(b);
        }
    }
    out
}

/// Everything the canonical request is built from, already decided.
pub(crate) struct CanonicalInput<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    /// The canonical query string, already sorted and encoded.
    pub(crate) query: &'a str,
    pub(crate) headers: &'a HeaderMap,
    /// Lowercase, sorted, deduplicated.
    pub(crate) signed_headers: &'a [String],
    pub(crate) payload_hash: &'a str,
}

pub(crate) fn canonical_request(input: &CanonicalInput<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(input.method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(input.path).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(input.query.as_bytes());
    out.push(b'\n');
    for name in input.signed_headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        out.extend_from_slice(&canonical_header_value(input.headers, name));
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(input.signed_headers.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(input.payload_hash.as_bytes());
    out
}

pub(crate) fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", sha256_hex(canonical_request))
}

pub(crate) fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, TERMINATOR.as_bytes())
}

/// Lowercase hex HMAC of the string to sign: the signature as sent on the wire.
pub(crate) fn signature_hex(key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac_sha256(key, string_to_sign.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_normalisation() {
        for (raw, want) in [
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("/./", "/"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("/./example", "/example"),
            ("//example//", "/example/"),
            ("/a/b/.", "/a/b/"),
            ("/../a", "/a"),
            ("a/b", "/a/b"),
        ] {
            assert_eq!(normalize_path(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn path_is_double_encoded() {
        assert_eq!(canonical_uri("/a%3Db/@c d"), "/a%253Db/%40c%20d");
        assert_eq!(canonical_uri("/ሴ"), "/%E1%88%B4");
    }

    #[test]
    fn query_sorting_and_encoding() {
        let params = parse_query("b=2&a=z&a=y&c&d=x+y%2Bz&&e=%7e");
        assert_eq!(canonical_query(params.iter()), "a=y&a=z&b=2&c=&d=x%20y%2Bz&e=~");
    }

    #[test]
    fn header_values_trimmed_and_joined() {
        let mut h = HeaderMap::new();
        h.append("x-a", "  one   two  ".parse().unwrap());
        h.append("x-a", "three".parse().unwrap());
        h.append("x-a", "   ".parse().unwrap());
        h.append("x-a", "four, five".parse().unwrap());
        assert_eq!(canonical_header_value(&h, "x-a"), b"one two,three,,four, five");
        assert_eq!(canonical_header_value(&h, "x-missing"), b"");
    }
}
