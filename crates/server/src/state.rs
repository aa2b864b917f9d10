//! What every request handler shares: the store, the master key, the clock, the quotas and
//! limits, the MFA throttle policy, the gate in front of password hashing, the credential
//! cache and the metrics. Built once at start-up (`config::prepare`, or a
//! test harness) and passed down as `Arc<App>`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use iamd_domain::Clock;
use iamd_domain::sealing::MasterKey;
use iamd_domain::throttle::{PasswordThrottlePolicy, ThrottlePolicy};
use iamd_store::Store;
use tokio::sync::Semaphore;

use crate::credential_cache::CredentialCache;
use crate::metrics::Metrics;

/// Quotas, as on AWS unless noted.
#[derive(Debug, Clone)]
pub struct Limits {
    pub access_keys_per_user: u32,
    pub mfa_devices_per_user: u32,
    /// Virtual MFA devices in an account (AWS ties this to the user quota).
    pub mfa_devices_per_account: u32,
    pub users_per_account: u32,
    pub groups_per_account: u32,
    pub groups_per_user: u32,
    /// Customer managed policies in an account.
    pub policies_per_account: u32,
    /// Managed policies attached to one user, one group, one role.
    pub policies_per_user: u32,
    pub policies_per_group: u32,
    pub policies_per_role: u32,
    pub roles_per_account: u32,
    pub versions_per_policy: usize,
    /// The sum of a user's (a group's, a role's) inline policy sizes, in characters without
    /// whitespace.
    pub user_inline_policy_chars: usize,
    pub group_inline_policy_chars: usize,
    pub role_inline_policy_chars: usize,
    /// A role's trust policy, in characters without whitespace (`ACLSizePerRole`).
    pub trust_policy_chars: usize,
    /// Argon2 computations (19 MiB each) running at once; 0: one per CPU core.
    pub password_hashes_at_once: usize,
    /// How long a password check or hash waits for a free slot before it is refused
    /// (console: 503, API: `Throttling`).
    pub password_hash_wait: Duration,
    /// Failed password attempts per user and per source address (iamd's rule, not AWS's).
    pub password_attempts: PasswordThrottlePolicy,
    /// How long a client may take to send a request body once its headers arrived.
    pub request_read_timeout: Duration,
    /// Every account requires MFA enrolment at console sign-in, whatever its own setting
    /// (`--require-mfa-enrolment`; iamd's rule, docs/behaviour.md §4).
    pub mfa_enrolment_required: bool,
    /// The embedded store's directory and the free space (bytes) under which `/health` reports
    /// the node unhealthy, before writes start failing.
    pub min_free_disk: Option<(std::path::PathBuf, u64)>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            access_keys_per_user: 2,
            mfa_devices_per_user: iamd_domain::mfa::MAX_DEVICES_PER_USER,
            mfa_devices_per_account: 5000,
            users_per_account: 5000,
            groups_per_account: 300,
            groups_per_user: 10,
            policies_per_account: 1500,
            policies_per_user: 10,
            policies_per_group: 10,
            policies_per_role: 10,
            roles_per_account: 1000,
            versions_per_policy: 5,
            user_inline_policy_chars: 2048,
            group_inline_policy_chars: 5120,
            role_inline_policy_chars: 10240,
            trust_policy_chars: 2048,
            password_hashes_at_once: 0,
            password_hash_wait: Duration::from_millis(250),
            password_attempts: PasswordThrottlePolicy::default(),
            request_read_timeout: Duration::from_secs(10),
            mfa_enrolment_required: false,
            min_free_disk: None,
        }
    }
}

/// The gate every Argon2 computation passes: at most `permits` at once, so unauthenticated
/// sign-ins cannot grow memory (19 MiB each) or threads without bound. Also remembers how long
/// a verification takes, so a refusal that skips it can take about as long.
pub struct PasswordHashing {
    pub permits: Arc<Semaphore>,
    pub size: usize,
    pub wait: Duration,
    typical_micros: AtomicU64,
}

impl PasswordHashing {
    pub fn new(limits: &Limits) -> Self {
        let size = match limits.password_hashes_at_once {
            0 => std::thread::available_parallelism().map_or(2, usize::from),
            n => n,
        };
        Self {
            permits: Arc::new(Semaphore::new(size)),
            size,
            wait: limits.password_hash_wait,
            typical_micros: AtomicU64::new(50_000),
        }
    }

    /// How long a verification takes lately (a moving average).
    pub fn typical(&self) -> Duration {
        Duration::from_micros(self.typical_micros.load(Ordering::Relaxed))
    }

    /// Folds one measured verification into [`PasswordHashing::typical`].
    pub fn observe(&self, took: Duration) {
        let took = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let old = self.typical_micros.load(Ordering::Relaxed);
        self.typical_micros.store(old - old / 8 + took / 8, Ordering::Relaxed);
    }
}

pub struct App {
    pub store: Arc<dyn Store>,
    pub master_key: MasterKey,
    pub clock: Arc<dyn Clock>,
    pub limits: Limits,
    pub throttle: ThrottlePolicy,
    /// The gate in front of Argon2 (sized from `limits`).
    pub password_hashing: PasswordHashing,
    /// Recently used credentials (see `credential_cache`).
    pub credentials: CredentialCache,
    /// What `GET /metrics` reports, the store's metrics included.
    pub metrics: Metrics,
}

impl App {
    pub fn new(
        store: Arc<dyn Store>,
        master_key: MasterKey,
        clock: Arc<dyn Clock>,
        limits: Limits,
        throttle: ThrottlePolicy,
    ) -> Self {
        let password_hashing = PasswordHashing::new(&limits);
        let metrics = Metrics::new(|registry| store.register_metrics(registry));
        Self { store, master_key, clock, limits, throttle, password_hashing, credentials: Default::default(), metrics }
    }

    pub fn now_unix(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }
}
