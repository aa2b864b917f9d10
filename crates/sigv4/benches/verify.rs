//! Server-side SigV4 cost of a typical boto3 IAM call: parse the Authorization header, derive the
//! signing key, rebuild the canonical request and compare signatures.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderName, HeaderValue};
use iamd_sigv4::{RequestParts, SignCredentials, SignRequest, parse, sign_headers, signing_key, verify};
use time::macros::datetime;

fn sigv4(c: &mut Criterion) {
    let now = datetime!(2026-03-01 12:00:00 UTC);
    let body = b"Action=ListMFADevices&Version=2010-05-08&UserName=alice";
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    let host = "127.0.0.1:8080";
    let creds = SignCredentials {
        access_key_id: "AKIAIOSFODNN7EXAMPLE",
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
        session_token: None,
    };
    let signed = sign_headers(
        &SignRequest { method: "POST", host, path: "/", query: "", content_type: Some(content_type), body },
        &creds,
        "us-east-1",
        "iam",
        now,
    );
    // The headers boto3 sends with an IAM query call.
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static(host));
    headers.insert("content-type", HeaderValue::from_static(content_type));
    headers.insert("content-length", HeaderValue::from_str(&body.len().to_string()).unwrap());
    headers.insert("user-agent", HeaderValue::from_static("Boto3/1.40.0 md/Botocore#1.40.0 ua/2.1 os/linux#6.1"));
    headers.insert("accept-encoding", HeaderValue::from_static("identity"));
    for (name, value) in &signed {
        headers.insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    }
    let req = RequestParts { method: "POST", path: "/", query: "", headers: &headers, body };

    c.bench_function("sigv4/parse + signing_key + verify (boto3-like POST)", |b| {
        b.iter(|| {
            let presented = parse(black_box(&req)).unwrap();
            let key = signing_key(creds.secret_access_key, &presented.date, &presented.region, &presented.service);
            verify(black_box(&req), &presented, &key, now).unwrap();
        })
    });
    let presented = parse(&req).unwrap();
    let key = signing_key(creds.secret_access_key, &presented.date, &presented.region, &presented.service);
    c.bench_function("sigv4/verify only (cached signing key)", |b| {
        b.iter(|| verify(black_box(&req), black_box(&presented), &key, now).unwrap())
    });
    c.bench_function("sigv4/signing_key", |b| {
        b.iter(|| signing_key(black_box(creds.secret_access_key), "20260301", "us-east-1", "iam"))
    });
}

criterion_group!(benches, sigv4);
criterion_main!(benches);
