//! The AWS SigV4 test suite (see `tests/vectors/README.md`), run through the
//! verifier: every applicable vector must verify, its canonical request and
//! string to sign must match the suite's, and a tampered signature must not.

use http::{HeaderMap, HeaderName, HeaderValue};
use iamd_sigv4::{RequestParts, SigError, canonical_request, parse, signing_key, string_to_sign, verify};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Vectors that do not apply to a non-S3 verifier.
const SKIP: &[(&str, &str)] = &[
    // `normalize: false` vectors sign the path as-is, which only S3 does;
    // IAM/STS (like every other service) normalise the path, so these
    // canonical requests are not what our clients produce.
    ("get-relative-relative-unnormalized", "S3-style unnormalised path"),
    ("get-relative-unnormalized", "S3-style unnormalised path"),
    ("get-slash-dot-slash-unnormalized", "S3-style unnormalised path"),
    ("get-slash-pointless-dot-unnormalized", "S3-style unnormalised path"),
    ("get-slash-unnormalized", "S3-style unnormalised path"),
    ("get-slashes-unnormalized", "S3-style unnormalised path"),
    // Expects `%20` received on the wire to be signed as `%20`, i.e. single
    // path encoding as S3 does; non-S3 services (and aws-sigv4 by default)
    // double-encode it to `%2520`. aws-sigv4 skips it for the same reason.
    ("get-space-normalized", "single-encoded path (S3 only)"),
];

/// Directories without a context.json carry their parameters here
/// (these two come from the older suite format, see the suite README).
fn legacy_context(name: &str) -> Option<Context> {
    match name {
        // Signed by aws-sigv4's test with `Credentials::for_tests()`.
        "double-encode-path" => {
            Some(Context { secret: "notrealrnrELgWzOk3IfjzDKtFBhDby".into(), timestamp: "2015-08-30T12:36:00Z".into() })
        }
        // Signed with the suite's usual AKIDEXAMPLE secret.
        "double-url-encode" => Some(Context {
            secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            timestamp: "2021-05-11T15:40:45Z".into(),
        }),
        _ => None,
    }
}

struct Context {
    secret: String,
    timestamp: String,
}

/// context.json is flat enough to read without a JSON library.
fn json_string(json: &str, key: &str) -> String {
    let at = json.find(&format!("\"{key}\"")).unwrap_or_else(|| panic!("no {key}"));
    let rest = &json[at + key.len() + 2..];
    let start = rest.find('"').unwrap() + 1;
    let end = start + rest[start..].find('"').unwrap();
    rest[start..end].to_owned()
}

fn load_context(dir: &Path) -> Option<Context> {
    let json = std::fs::read_to_string(dir.join("context.json")).ok()?;
    Some(Context { secret: json_string(&json, "secret_access_key"), timestamp: json_string(&json, "timestamp") })
}

struct RawRequest {
    method: String,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl RawRequest {
    fn parts(&self) -> RequestParts<'_> {
        RequestParts {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
        }
    }
}

/// Parses a request file the way an HTTP/1.1 server would present it:
/// header names case-insensitive, values stripped of surrounding whitespace,
/// obsolete line folding replaced by a space. The target keeps its raw bytes
/// (some vectors put raw UTF-8 or spaces in it).
fn parse_request(text: &str) -> RawRequest {
    let (head, body) = match text.split_once("\n\n") {
        Some((h, b)) => (h, b),
        None => (text.trim_end_matches('\n'), ""),
    };
    let mut lines = head.lines();
    let request_line = lines.next().unwrap();
    let (method, rest) = request_line.split_once(' ').unwrap();
    // The legacy vectors omit the protocol version.
    let target = match rest.rsplit_once(' ') {
        Some((t, version)) if version.starts_with("HTTP/") => t,
        _ => rest,
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));

    let mut fields: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            let last = fields.last_mut().expect("continuation of a header");
            last.1.push(' ');
            last.1.push_str(line.trim());
        } else {
            let (name, value) = line.split_once(':').unwrap();
            fields.push((name.to_owned(), value.trim().to_owned()));
        }
    }
    let mut headers = HeaderMap::new();
    for (name, value) in fields {
        headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(&value).unwrap());
    }
    RawRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body: body.as_bytes().to_vec(),
    }
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn vector_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(vectors_dir())
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            e.file_type().unwrap().is_dir().then(|| e.file_name().into_string().unwrap())
        })
        .collect();
    names.sort();
    names
}

/// Verifies one signed request file; returns its canonical request.
fn check_signed(dir: &Path, file: &str, ctx: &Context) -> Result<String, String> {
    let text = std::fs::read_to_string(dir.join(file)).map_err(|e| e.to_string())?;
    let req = parse_request(&text);
    let parts = req.parts();
    let presented = parse(&parts).map_err(|e| format!("parse: {} {e}", e.code()))?;
    let key = signing_key(&ctx.secret, &presented.date, &presented.region, &presented.service);
    let now = OffsetDateTime::parse(&ctx.timestamp, &Rfc3339).unwrap();
    verify(&parts, &presented, &key, now).map_err(|e| format!("verify: {} {e}", e.code()))?;

    // Tampering with the last signature character must be caught.
    let tampered = tamper_signature(&text);
    let treq = parse_request(&tampered);
    let tparts = treq.parts();
    let tpresented = parse(&tparts).unwrap();
    match verify(&tparts, &tpresented, &key, now) {
        Err(SigError::SignatureDoesNotMatch(_)) => {}
        other => return Err(format!("tampered signature gave {other:?}")),
    }

    let creq = canonical_request(&parts, &presented).unwrap();
    let expected_sts_file =
        if file.starts_with("header") { "header-string-to-sign.txt" } else { "query-string-to-sign.txt" };
    if let Ok(expected) = std::fs::read_to_string(dir.join(expected_sts_file)) {
        let sts = string_to_sign(&presented, &creq);
        if dir.ends_with("post-sts-header-after") && file.starts_with("query") {
            // The token was appended after signing; `canonical_request`
            // shows the variant with it, `verify` also tries without.
        } else if dir.ends_with("double-encode-path") {
            // The published canonical request/string to sign use another
            // date than the signed request (legacy vector); the signature
            // check above is what counts.
        } else if sts != expected.trim_end_matches('\n') {
            return Err(format!("string to sign:\n{sts}\nexpected:\n{expected}"));
        }
    }
    Ok(String::from_utf8(creq).expect("the vectors are UTF-8"))
}

fn tamper_signature(text: &str) -> String {
    let marker = if text.contains("Signature=") && !text.contains("X-Amz-Signature=") {
        "Signature="
    } else {
        "X-Amz-Signature="
    };
    let at = text.find(marker).unwrap() + marker.len() + 63;
    let mut bytes = text.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    String::from_utf8(bytes).unwrap()
}

#[test]
fn aws_signing_test_suite() {
    let mut verified = Vec::new();
    let mut failures = Vec::new();
    for name in vector_names() {
        if SKIP.iter().any(|(s, _)| *s == name) {
            continue;
        }
        let dir = vectors_dir().join(&name);
        let Some(ctx) = load_context(&dir).or_else(|| legacy_context(&name)) else {
            continue;
        };
        for (signed, canonical) in [
            ("header-signed-request.txt", "header-canonical-request.txt"),
            ("query-signed-request.txt", "query-canonical-request.txt"),
        ] {
            if !dir.join(signed).exists() {
                continue;
            }
            match check_signed(&dir, signed, &ctx) {
                Ok(creq) => {
                    let expected = std::fs::read_to_string(dir.join(canonical)).unwrap();
                    let exempt = (name == "post-sts-header-after" && signed.starts_with("query"))
                        || name == "double-encode-path";
                    if !exempt && creq != expected.trim_end_matches('\n') {
                        failures.push(format!("{name}/{signed}: canonical request\n{creq}\nexpected\n{expected}"));
                    } else {
                        verified.push(format!("{name}/{signed}"));
                    }
                }
                Err(e) => failures.push(format!("{name}/{signed}: {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "failing vectors:\n{}", failures.join("\n\n"));
    // 40 directories, 7 skipped; the two legacy ones have only a header
    // variant. Counting guards against vectors silently not being run.
    assert_eq!(verified.len(), 31 * 2 + 2, "verified: {verified:#?}");
}

#[test]
fn skip_list_names_exist() {
    let names = vector_names();
    for (skip, _) in SKIP {
        assert!(names.iter().any(|n| n == skip), "{skip} not in the suite");
    }
}
