//! privacyIDEA, a widely used OTP server, as the login path's peer: the `privacyidea-validate`
//! scenario sends its `POST /validate/check` with a token's serial and a fresh TOTP code, for the
//! tokens bench/privacyidea/setup.sh enrols (serial `PISEED{index:07}`, the seed of iamd-bench's
//! seeded user number index, SHA-1, 6 digits, 30 s). Each token is used at most once per 30 s
//! step, through session-mfa's device pool, so every accepted code is a fresh one, as with iamd's
//! seeded devices. A child module of `load`, whose connections, pool and run loop it shares.

use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;
use iamd_domain::totp::{TotpKey, step_at};

use super::{LoadArgs, Outcome, Plan, SessionDevice, Worker, now_unix, return_device, send, take_device, wrong_code};
use crate::client::{Creds, Reply, Signing};

const VALIDATE_PATH: &str = "/validate/check";

/// A token's serial, as bench/privacyidea/enrol.py names them.
fn serial(index: u64) -> String {
    format!("PISEED{index:07}")
}

/// The signing credentials of a scenario that signs nothing.
pub(super) fn no_credentials() -> Creds {
    Creds { access_key_id: String::new(), secret_access_key: String::new() }
}

/// Fills the pool with the enrolled tokens: nothing to ask the server.
pub(super) fn prepare(plan: &Arc<Plan>, args: &LoadArgs) -> anyhow::Result<()> {
    let (Some(tokens), Some(from)) = (args.seeded_users, &args.credentials_from) else {
        bail!(
            "privacyidea-validate needs --seeded-users N and --credentials-from TEXT (the tokens \
             bench/privacyidea/setup.sh enrolled with IAMD_BENCH_CREDENTIALS_FROM=TEXT)"
        );
    };
    // Fresh tokens have accepted no code yet: any step's code is new to them.
    let last_step = step_at(now_unix()) - 1;
    let mut pool = plan.sessions.lock().expect("pool lock");
    for index in args.seeded_start..args.seeded_start + tokens {
        let user = crate::seed::seeded_user(&args.seeded_prefix, index, from);
        pool.push_back(SessionDevice {
            creds: no_credentials(),
            serial: serial(index),
            key: TotpKey::new(&user.seed),
            last_step,
        });
    }
    Ok(())
}

/// One `/validate/check`: a code of the current step (or, with `--wrong-code`, none of the
/// token's codes near now), unsigned; the answer must be HTTP 200 with `result.value` true
/// (false for a wrong code).
pub(super) async fn op_validate(worker: &mut Worker, plan: &Plan) -> Outcome {
    let mut out = Outcome::default();
    let now = now_unix();
    let Some(device) = take_device(plan, now, &mut out).await else { return out };
    let code = if plan.wrong_code { wrong_code(&device.key, now) } else { device.key.code_at(now) };
    let body = form_body(&device.serial, &code);
    let started = Instant::now();
    let reply = send(worker, plan, Signing::Unsigned { path: VALIDATE_PATH }, body, &mut out).await;
    out.latency = Some(started.elapsed());
    if let Some(reply) = reply {
        out.error = judge(&reply, !plan.wrong_code);
    }
    return_device(plan, device, now);
    out
}

fn form_body(serial: &str, code: &str) -> String {
    form_urlencoded::Serializer::new(String::new()).append_pair("serial", serial).append_pair("pass", code).finish()
}

/// None when a 200 answer's `result.value` is `expected`; otherwise the key the error is counted
/// under, with privacyIDEA's `detail.message` (e.g. "wrong otp value").
fn judge(reply: &Reply, expected: bool) -> Option<String> {
    let json: serde_json::Value = match serde_json::from_slice(&reply.body) {
        Ok(json) => json,
        Err(_) => return Some(format!("{} answer is not JSON", reply.status)),
    };
    let value = json.pointer("/result/value").and_then(serde_json::Value::as_bool);
    if value == Some(expected) {
        return None;
    }
    let message = json.pointer("/detail/message").and_then(serde_json::Value::as_str).unwrap_or("no detail.message");
    Some(match value {
        Some(value) => format!("{} result.value {value} ({message})", reply.status),
        None => format!("{} no result.value ({message})", reply.status),
    })
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::time::Duration;

    use bytes::Bytes;
    use clap::Parser;
    use http_body_util::{BodyExt, Full};
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    use super::*;
    use crate::load::{Report, Scenario};

    const FROM: &str = "privacyidea-test";
    const SERVICE_TIME: Duration = Duration::from_millis(100);

    /// A stand-in for privacyIDEA under gunicorn with one sync worker: one request at a time,
    /// each taking SERVICE_TIME, each connection closed after its answer, codes checked against
    /// the seeded users' seeds (this step or the one before).
    async fn fake_privacyidea() -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let worker = Arc::new(tokio::sync::Mutex::new(()));
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let worker = Arc::clone(&worker);
                let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let worker = Arc::clone(&worker);
                    async move {
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        let _busy = worker.lock().await;
                        tokio::time::sleep(SERVICE_TIME).await;
                        let form: std::collections::HashMap<String, String> =
                            form_urlencoded::parse(&body).into_owned().collect();
                        let index: u64 = form["serial"].strip_prefix("PISEED").unwrap().parse().unwrap();
                        let key = TotpKey::new(&crate::seed::seeded_user("seed-user-", index, FROM).seed);
                        let now = now_unix();
                        let value = [now, now - 30].iter().any(|&t| key.code_at(t) == form["pass"]);
                        let json =
                            format!(r#"{{"detail":{{"message":"m"}},"result":{{"status":true,"value":{value}}}}}"#);
                        Ok::<_, Infallible>(
                            http::Response::builder()
                                .header("connection", "close")
                                .body(Full::new(Bytes::from(json)))
                                .unwrap(),
                        )
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        addr
    }

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        load: LoadArgs,
    }

    async fn run(addr: std::net::SocketAddr, extra: &[&str]) -> Report {
        let endpoint = format!("http://{addr}");
        let mut argv = vec!["iamd-bench", "--endpoint", &endpoint, "--scenario", "privacyidea-validate"];
        argv.extend(["--seeded-users", "200", "--credentials-from", FROM, "--connections", "16"]);
        argv.extend(["--warmup", "500ms", "--duration", "1500ms"]);
        argv.extend(extra);
        super::super::run(Cli::try_parse_from(argv).unwrap().load).await.unwrap()
    }

    /// Codes computed from the seeds are accepted, wrong codes refused, and the rate is what the
    /// server can do (10/s) although 16 connections wait about 1.6 s each: counting operations
    /// that started in the window over the window plus its tail gave under 5/s.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn logins_against_a_slow_server() {
        let addr = fake_privacyidea().await;
        let right = run(addr, &[]).await;
        assert_eq!((right.scenario, right.error_total), (Scenario::PrivacyideaValidate, 0), "{:?}", right.errors);
        assert!((7.0..=10.5).contains(&right.ops_per_second), "{} logins/s", right.ops_per_second);
        assert!(right.p50_ms > 1000.0, "p50 {} ms: the 16 connections queue", right.p50_ms);
        let wrong = run(addr, &["--wrong-code"]).await;
        assert!(wrong.wrong_code);
        assert_eq!(wrong.error_total, 0, "{:?}", wrong.errors);
        assert!(wrong.ops_per_second >= 7.0, "{} rejections/s", wrong.ops_per_second);
    }

    fn reply(body: &'static str) -> Reply {
        Reply { status: 200, body: Bytes::from_static(body.as_bytes()) }
    }

    #[test]
    fn accepted_and_rejected_answers() {
        let accept = reply(
            r#"{"detail":{"message":"matching 1 tokens","serial":"PISEED0000005"},"id":2,"jsonrpc":"2.0",
               "result":{"authentication":"ACCEPT","status":true,"value":true},"signature":"rsa_sha256_pss:1a"}"#,
        );
        let reject = reply(
            r#"{"detail":{"message":"wrong otp value"},"result":{"authentication":"REJECT","status":true,"value":false}}"#,
        );
        assert_eq!(judge(&accept, true), None);
        assert_eq!(judge(&reject, false), None);
        assert_eq!(judge(&reject, true).as_deref(), Some("200 result.value false (wrong otp value)"));
        assert_eq!(judge(&accept, false).as_deref(), Some("200 result.value true (matching 1 tokens)"));
        assert_eq!(
            judge(&reply(r#"{"result":{"status":false}}"#), true).as_deref(),
            Some("200 no result.value (no detail.message)")
        );
        assert_eq!(judge(&reply("<html>"), true).as_deref(), Some("200 answer is not JSON"));
    }

    #[test]
    fn requests_name_the_token_by_serial() {
        assert_eq!(serial(42), "PISEED0000042");
        assert_eq!(form_body(&serial(7), "012345"), "serial=PISEED0000007&pass=012345");
    }

    /// The seeds bench/privacyidea/enrol.py derives (its `seed`, in Python) for text "test123":
    /// the two sides must agree byte for byte, or every login is refused.
    #[test]
    fn seeds_match_the_enrolment_script() {
        let seed = crate::seed::seeded_user("seed-user-", 5, "test123").seed;
        assert_eq!(seed.iter().map(|b| format!("{b:02x}")).collect::<String>(), ENROL_PY_SEED_5);
    }

    // From bench/privacyidea: .venv/bin/python -c "import enrol; print(enrol.seed('seed-user-', 5, 'test123').hex())"
    const ENROL_PY_SEED_5: &str = "eb817bd83177001eb11134251d8c200d1879ef8466c8d9dd17a8ea4c595c9c46";
}
