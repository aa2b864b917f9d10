//! Starting the real `iamd` binary for a test, SDK clients for it, TOTP codes and error checks.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use std::{env, fs};

use aws_sdk_iam::config::retry::RetryConfig;
use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region, SharedHttpClient};
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::operation::RequestId;
use hmac::{Hmac, KeyInit, Mac};
use iamd_testing::TestDatabase;
use sha1::Sha1;

/// The binary under test: `IAMD_BIN`, else the workspace's `target/debug/iamd`, which
/// `cargo build --workspace --bins` (and `cargo test --workspace`) builds.
fn iamd_binary() -> PathBuf {
    match env::var_os("IAMD_BIN") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/iamd"),
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh name usable as a user or device name, or a directory name.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").subsec_nanos();
    format!("{prefix}-{}-{n}-{nanos:x}", std::process::id())
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// `GET /health` answers 200.
fn healthy(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// An `iamd serve` child process in a fresh data directory, with the root credentials it
/// generates on first start: on the embedded store, or on a fresh PostgreSQL database when
/// `IAMD_TEST_DATABASE_URL` is set. Killed and its directory (and database) removed on drop.
pub struct Iamd {
    child: Child,
    base: PathBuf,
    pub endpoint: String,
    pub account_id: String,
    pub root: Credentials,
    http: SharedHttpClient,
    // Declared last: dropped after the server is killed.
    _database: Option<TestDatabase>,
}

impl Iamd {
    pub fn start() -> Iamd {
        let binary = iamd_binary();
        assert!(
            binary.is_file(),
            "iamd binary not found at {}: run `cargo build --workspace --bins` first, or set IAMD_BIN",
            binary.display()
        );
        let base = env::temp_dir().join(unique("iamd-sdk-rust"));
        let data_dir = base.join("data");
        fs::create_dir_all(&base).expect("create the test directory");
        let log_path = base.join("iamd.log");
        // Without IAMD_TEST_DATABASE_URL, the embedded store.
        let database = TestDatabase::create();
        let storage: Vec<&str> = database.as_ref().map_or_else(Vec::new, |db| vec!["--database-url", db.url()]);
        let mut last_failure = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let log = fs::OpenOptions::new().create(true).append(true).open(&log_path).expect("open the log");
            let mut child = Command::new(&binary)
                .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
                .arg(&data_dir)
                .args(&storage)
                // Nothing from the host's AWS or iamd configuration.
                .env_clear()
                .envs(env::vars().filter(|(k, _)| !k.starts_with("AWS_") && !k.starts_with("IAMD_")))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
            let deadline = Instant::now() + Duration::from_secs(60);
            let started = loop {
                if let Some(status) = child.try_wait().expect("child status") {
                    last_failure = format!("exited with {status}");
                    break false;
                }
                if healthy(port) {
                    break true;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_failure = "not healthy after 60 s".to_owned();
                    break false;
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            if !started {
                continue;
            }
            let text = fs::read_to_string(data_dir.join("root-credentials")).expect("the root-credentials file");
            let value = |key: &str| {
                text.lines()
                    .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
                    .unwrap_or_else(|| panic!("{key} missing from root-credentials"))
                    .trim()
                    .to_owned()
            };
            let account_id = value("IAMD_ACCOUNT_ID");
            assert!(account_id.len() == 12 && account_id.bytes().all(|b| b.is_ascii_digit()), "{account_id}");
            let root = Credentials::new(value("AWS_ACCESS_KEY_ID"), value("AWS_SECRET_ACCESS_KEY"), None, None, "root");
            return Iamd {
                child,
                base,
                endpoint: format!("http://127.0.0.1:{port}"),
                account_id,
                root,
                // Plain HTTP: iamd listens on loopback without TLS.
                http: aws_smithy_http_client::Builder::new().build_http(),
                _database: database,
            };
        }
        let log = fs::read_to_string(&log_path).unwrap_or_default();
        panic!("iamd ({}) did not start: {last_failure}\n--- log ---\n{log}", binary.display());
    }

    /// An IAM client signing with `credentials` (the SDK's own SigV4), sending each request once:
    /// a retry would spend a one-time code twice.
    pub fn iam(&self, credentials: &Credentials) -> aws_sdk_iam::Client {
        let config = aws_sdk_iam::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(credentials.clone())
            .http_client(self.http.clone())
            .retry_config(RetryConfig::disabled())
            .build();
        aws_sdk_iam::Client::from_conf(config)
    }

    /// An STS client, as [`Iamd::iam`].
    pub fn sts(&self, credentials: &Credentials) -> aws_sdk_sts::Client {
        let config = aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(credentials.clone())
            .http_client(self.http.clone())
            .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_sts::Client::from_conf(config)
    }

    pub fn user_arn(&self, name: &str) -> String {
        format!("arn:aws:iam::{}:user/{name}", self.account_id)
    }

    pub fn mfa_arn(&self, name: &str) -> String {
        format!("arn:aws:iam::{}:mfa/{name}", self.account_id)
    }
}

impl Drop for Iamd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = fs::read_to_string(self.base.join("iamd.log")).unwrap_or_default();
            let tail = &log[log.len().saturating_sub(12_000)..];
            eprintln!("--- iamd log ({}) ---\n{tail}", self.base.display());
        }
        let _ = fs::remove_dir_all(&self.base);
    }
}

// ---------------------------------------------------------------------------------------------
// TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30 s steps from the Unix epoch), written here rather than
// taken from iamd-domain so that a mistake there cannot hide itself.
// ---------------------------------------------------------------------------------------------

pub const STEP_SECONDS: u64 = 30;

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs_f64()
}

pub fn step_now() -> u64 {
    unix_now() as u64 / STEP_SECONDS
}

/// The current step, first sleeping into the next one if fewer than `margin` seconds remain, so
/// that the next step's code is still acceptable a few requests later.
pub async fn current_step(margin: f64) -> u64 {
    let remaining = STEP_SECONDS as f64 - unix_now() % STEP_SECONDS as f64;
    if remaining < margin {
        tokio::time::sleep(Duration::from_secs_f64(remaining + 0.25)).await;
    }
    step_now()
}

/// A virtual device's seed (the Base32 text CreateVirtualMFADevice returns).
pub struct Totp {
    key: Vec<u8>,
}

impl Totp {
    pub fn new(base32_seed: &[u8]) -> Totp {
        let key = data_encoding::BASE32_NOPAD.decode(base32_seed).expect("the seed is Base32");
        Totp { key }
    }

    pub fn at(&self, step: u64) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(&step.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let offset = usize::from(digest[digest.len() - 1] & 0x0f);
        let binary = u32::from_be_bytes(digest[offset..offset + 4].try_into().expect("4 bytes")) & 0x7fff_ffff;
        format!("{:06}", binary % 1_000_000)
    }

    /// The consecutive pair whose second code is for `step`, as EnableMFADevice wants it.
    pub fn pair(&self, step: u64) -> (String, String) {
        (self.at(step - 1), self.at(step))
    }

    /// A code that is this seed's at no step from 26 hours before to 20 minutes after now.
    pub fn invalid_code(&self) -> String {
        let now = step_now();
        let used: std::collections::HashSet<String> =
            (now - 26 * 3600 / STEP_SECONDS..=now + 1200 / STEP_SECONDS).map(|s| self.at(s)).collect();
        (0..)
            .map(|i: u32| format!("{:06}", (123_456 + i * 7_919) % 1_000_000))
            .find(|code| !used.contains(code))
            .expect("some code is unused")
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// A failed call, as the SDK parsed it.
pub struct Failure<E> {
    pub status: u16,
    pub code: Option<String>,
    pub message: Option<String>,
    pub request_id: Option<String>,
    pub error: E,
}

/// The service error of a call expected to fail (panics on success or on a transport failure).
pub fn failure<T: std::fmt::Debug, E>(result: Result<T, SdkError<E>>) -> Failure<E>
where
    E: ProvideErrorMetadata + RequestId + std::error::Error + 'static,
{
    match result {
        Ok(output) => panic!("the call succeeded: {output:?}"),
        Err(SdkError::ServiceError(context)) => {
            let status = context.raw().status().as_u16();
            let error = context.into_err();
            Failure {
                status,
                code: error.code().map(str::to_owned),
                message: error.message().map(str::to_owned),
                request_id: error.request_id().map(str::to_owned),
                error,
            }
        }
        Err(other) => panic!("not a service error: {}", aws_sdk_iam::error::DisplayErrorContext(&other)),
    }
}

impl<E> Failure<E> {
    /// Code, HTTP status and exact message, and a request id as iamd sends them.
    pub fn check(&self, code: &str, status: u16, message: &str) {
        assert_eq!((self.code.as_deref(), self.status, self.message.as_deref()), (Some(code), status, Some(message)));
        let id = self.request_id.as_deref().unwrap_or_default();
        assert!(id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'), "request id {id:?}");
    }
}
