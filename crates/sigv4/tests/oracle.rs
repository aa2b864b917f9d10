//! Property tests with the `aws-sigv4` crate (the AWS SDK for Rust's signer)
//! as the oracle: whatever it signs must verify, and any single change to
//! the signed request must not.

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
use aws_sigv4::sign::v4;
use http::{HeaderMap, HeaderValue};
use iamd_sigv4::{RequestParts, SigError, SignCredentials, SignRequest, parse, sign_headers, signing_key, verify};
use proptest::prelude::*;
use std::time::{Duration as StdDuration, SystemTime};
use time::{Duration, OffsetDateTime};

const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

#[derive(Debug, Clone)]
struct Case {
    access_key: String,
    secret: String,
    token: Option<String>,
    region: String,
    service: &'static str,
    host: String,
    path: String,
    /// POST with the parameters in the body, or GET with them in the query.
    post: bool,
    params: Vec<(String, String)>,
    time: OffsetDateTime,
}

impl Case {
    fn encoded_params(&self) -> String {
        form_urlencoded::Serializer::new(String::new()).extend_pairs(&self.params).finish()
    }
    fn method(&self) -> &'static str {
        if self.post { "POST" } else { "GET" }
    }
    fn body(&self) -> Vec<u8> {
        if self.post { self.encoded_params().into_bytes() } else { Vec::new() }
    }
    fn query(&self) -> String {
        if self.post { String::new() } else { self.encoded_params() }
    }
}

fn case() -> impl Strategy<Value = Case> {
    (
        (
            "(AKIA|ASIA)[A-Z2-7]{16}",
            "[A-Za-z0-9/+]{40}",
            proptest::option::of("[A-Za-z0-9/+=]{16,300}"),
            prop_oneof![Just("us-east-1".to_owned()), Just("eu-central-1".to_owned()), "[a-z]{2}-[a-z]{3,9}-[1-9]",],
            prop_oneof![Just("iam"), Just("sts")],
        ),
        (
            prop_oneof![
                Just("iam.amazonaws.com".to_owned()),
                Just("localhost:8080".to_owned()),
                "[a-z]{1,10}\\.example:[1-9][0-9]{0,4}",
            ],
            prop_oneof![
                3 => Just("/".to_owned()),
                // Sub-delimiters, percent-escapes and dot segments exercise
                // normalisation and double encoding.
                2 => "(/([A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-F]{2}){1,8}){1,3}/?",
                1 => "(/(\\.|\\.\\.|[a-z]{1,3}|)){1,5}",
            ],
            any::<bool>(),
            proptest::collection::vec(("[A-Za-z][A-Za-z0-9.]{0,15}", any::<String>()), 0..6),
            // 2001-09-09 .. 2033-05-18
            1_000_000_000i64..2_000_000_000,
        ),
    )
        .prop_map(|((access_key, secret, token, region, service), (host, path, post, params, secs))| Case {
            access_key,
            secret,
            token,
            region,
            service,
            host,
            path,
            post,
            params,
            time: OffsetDateTime::from_unix_timestamp(secs).unwrap(),
        })
}

/// A request as the server would receive it.
#[derive(Debug, Clone)]
struct Wire {
    method: String,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Wire {
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

/// Signs `c` with aws-sigv4, in the headers or, with `presign`, in the query.
fn aws_sign(c: &Case, presign: Option<u64>) -> Wire {
    let body = c.body();
    let query = c.query();
    let uri = if query.is_empty() {
        format!("http://{}{}", c.host, c.path)
    } else {
        format!("http://{}{}?{}", c.host, c.path, query)
    };
    let mut builder = http::Request::builder().method(c.method()).uri(&uri).header("host", &c.host);
    if c.post {
        builder = builder.header("content-type", FORM);
    }
    let mut request = builder.body(body.clone()).unwrap();

    let identity = Credentials::new(&c.access_key, &c.secret, c.token.clone(), None, "proptest").into();
    let mut settings = SigningSettings::default();
    if let Some(secs) = presign {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(StdDuration::from_secs(secs));
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&c.region)
        .name(c.service)
        .time(SystemTime::from(c.time))
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        request.method().as_str(),
        uri.clone(),
        request.headers().iter().map(|(k, v)| (k.as_str(), v.to_str().unwrap())),
        SignableBody::Bytes(&body),
    )
    .unwrap();
    let (instructions, _signature) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(&mut request);

    Wire {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
        query: request.uri().query().unwrap_or_default().to_owned(),
        headers: request.headers().clone(),
        body,
    }
}

fn check(wire: &Wire, secret: &str, now: OffsetDateTime) -> Result<(), SigError> {
    let parts = wire.parts();
    let presented = parse(&parts)?;
    let key = signing_key(secret, &presented.date, &presented.region, &presented.service);
    verify(&parts, &presented, &key, now)
}

fn assert_mismatch(result: Result<(), SigError>, what: &str) -> Result<(), TestCaseError> {
    match result {
        Err(SigError::SignatureDoesNotMatch(_)) => Ok(()),
        other => Err(TestCaseError::fail(format!("{what}: expected SignatureDoesNotMatch, got {other:?}"))),
    }
}

fn set_header(wire: &Wire, name: &'static str, value: &str) -> Wire {
    let mut w = wire.clone();
    w.headers.insert(name, HeaderValue::from_str(value).unwrap());
    w
}

/// Flips one hex digit of the signature wherever it is.
fn flip_signature(wire: &Wire) -> Wire {
    let mut w = wire.clone();
    let flip = |s: &str, marker: &str| {
        let at = s.find(marker).unwrap() + marker.len();
        let mut b = s.as_bytes().to_vec();
        b[at] = if b[at] == b'a' { b'b' } else { b'a' };
        String::from_utf8(b).unwrap()
    };
    if let Some(auth) = w.headers.get("authorization") {
        let flipped = flip(auth.to_str().unwrap(), "Signature=");
        w.headers.insert("authorization", HeaderValue::from_str(&flipped).unwrap());
    } else {
        w.query = flip(&w.query, "X-Amz-Signature=");
    }
    w
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn header_signed_requests_verify_and_mutations_fail(
        c in case(),
        skew in -900i64..=900,
        byte in any::<u8>(),
        pos in any::<usize>(),
    ) {
        let wire = aws_sign(&c, None);
        let now = c.time + Duration::seconds(skew);
        prop_assert_eq!(check(&wire, &c.secret, now), Ok(()));

        let presented = parse(&wire.parts()).unwrap();
        prop_assert_eq!(&presented.access_key_id, &c.access_key);
        prop_assert_eq!(&presented.region, &c.region);
        prop_assert_eq!(&presented.service, c.service);
        prop_assert_eq!(presented.timestamp, c.time);
        prop_assert_eq!(&presented.security_token, &c.token);
        prop_assert!(!presented.is_presigned());

        // Body: change one byte, or add one to an empty body.
        let mut w = wire.clone();
        if w.body.is_empty() {
            w.body.push(byte);
        } else {
            let i = pos % w.body.len();
            w.body[i] = if w.body[i] == byte { byte.wrapping_add(1) } else { byte };
        }
        assert_mismatch(check(&w, &c.secret, now), "body")?;

        // Signed header values.
        assert_mismatch(check(&set_header(&wire, "host", "evil.example"), &c.secret, now), "host")?;
        if c.post {
            assert_mismatch(
                check(&set_header(&wire, "content-type", "text/plain"), &c.secret, now),
                "content-type",
            )?;
        }
        if let Some(token) = &c.token {
            let changed = format!("{token}x");
            assert_mismatch(
                check(&set_header(&wire, "x-amz-security-token", &changed), &c.secret, now),
                "token",
            )?;
        }

        // Method, path, query.
        let mut w = wire.clone();
        w.method = "PUT".into();
        assert_mismatch(check(&w, &c.secret, now), "method")?;
        let mut w = wire.clone();
        w.path = format!("{}x", wire.path);
        assert_mismatch(check(&w, &c.secret, now), "path")?;
        let mut w = wire.clone();
        w.query = if w.query.is_empty() { "a=b".into() } else { format!("{}&a=b", w.query) };
        assert_mismatch(check(&w, &c.secret, now), "query")?;

        // Date: one second later (maybe the next day, which breaks the scope:
        // also SignatureDoesNotMatch).
        let later = c.time + Duration::seconds(1);
        let later = later.format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        )).unwrap();
        assert_mismatch(check(&set_header(&wire, "x-amz-date", &later), &c.secret, now), "date")?;

        // Signature and secret.
        assert_mismatch(check(&flip_signature(&wire), &c.secret, now), "signature")?;
        let other_secret = format!("{}A", &c.secret[1..]);
        assert_mismatch(check(&wire, &other_secret, now), "secret")?;
    }

    #[test]
    fn header_signed_requests_outside_skew_fail(c in case(), extra in 1i64..100_000) {
        let wire = aws_sign(&c, None);
        for now in [c.time + Duration::seconds(900 + extra), c.time - Duration::seconds(900 + extra)] {
            let result = check(&wire, &c.secret, now);
            match result {
                Err(SigError::SignatureDoesNotMatch(ref m))
                    if m.starts_with("Signature expired") || m.starts_with("Signature not yet current") => {}
                other => prop_assert!(false, "skew {now}: {other:?}"),
            }
        }
    }

    #[test]
    fn presigned_requests_verify_and_mutations_fail(
        c in case(),
        expires in 1u64..=604_800,
        into in 0.0f64..=1.0,
    ) {
        let wire = aws_sign(&c, Some(expires));
        prop_assert!(wire.headers.get("authorization").is_none());
        let now = c.time + Duration::seconds((expires as f64 * into) as i64);
        prop_assert_eq!(check(&wire, &c.secret, now), Ok(()));

        let presented = parse(&wire.parts()).unwrap();
        prop_assert!(presented.is_presigned());
        prop_assert_eq!(presented.expires(), Some(Duration::seconds(expires as i64)));
        prop_assert_eq!(&presented.security_token, &c.token);

        // Past expiry.
        let late = c.time + Duration::seconds(expires as i64 + 1);
        prop_assert!(
            matches!(check(&wire, &c.secret, late), Err(SigError::RequestExpired(_))),
            "late: {:?}", check(&wire, &c.secret, late)
        );
        // Extra query parameter, changed body, signature, secret.
        let mut w = wire.clone();
        w.query.push_str("&Extra=1");
        assert_mismatch(check(&w, &c.secret, now), "query")?;
        let mut w = wire.clone();
        w.body.push(b'&');
        assert_mismatch(check(&w, &c.secret, now), "body")?;
        assert_mismatch(check(&set_header(&wire, "host", "evil.example"), &c.secret, now), "host")?;
        assert_mismatch(check(&flip_signature(&wire), &c.secret, now), "signature")?;
        let other_secret = format!("{}A", &c.secret[1..]);
        assert_mismatch(check(&wire, &other_secret, now), "secret")?;
    }

    /// `sign_headers` agrees with aws-sigv4 byte for byte, and verifies.
    #[test]
    fn sign_headers_matches_aws_sigv4(c in case(), skew in -900i64..=900) {
        let body = c.body();
        let query = c.query();
        let ours = sign_headers(
            &SignRequest {
                method: c.method(),
                host: &c.host,
                path: &c.path,
                query: &query,
                content_type: c.post.then_some(FORM),
                body: &body,
            },
            &SignCredentials {
                access_key_id: &c.access_key,
                secret_access_key: &c.secret,
                session_token: c.token.as_deref(),
            },
            &c.region,
            c.service,
            c.time,
        );
        let theirs = aws_sign(&c, None);
        let get = |name: &str| ours.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        prop_assert_eq!(
            get("authorization"),
            theirs.headers.get("authorization").map(|v| v.to_str().unwrap())
        );
        prop_assert_eq!(
            get("x-amz-date"),
            theirs.headers.get("x-amz-date").map(|v| v.to_str().unwrap())
        );
        prop_assert_eq!(get("x-amz-security-token"), c.token.as_deref());
        prop_assert_eq!(ours.len(), 2 + usize::from(c.token.is_some()));

        // And our own verifier accepts it on a request built from scratch.
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_str(&c.host).unwrap());
        if c.post {
            headers.insert("content-type", HeaderValue::from_static(FORM));
        }
        for (name, value) in &ours {
            headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let wire = Wire {
            method: c.method().into(),
            path: c.path.clone(),
            query,
            headers,
            body,
        };
        prop_assert_eq!(check(&wire, &c.secret, c.time + Duration::seconds(skew)), Ok(()));
    }
}
