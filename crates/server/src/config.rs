//! Start-up: the command line, the data directory (database, master key, generated root
//! credentials) and the account's root credentials (spec README §2–§3).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::bail;
use clap::{Args, Parser, Subcommand};
use iamd_domain::entities::NewAccessKey;
use iamd_domain::sealing::MasterKey;
use iamd_domain::throttle::{PasswordThrottlePolicy, ThrottlePolicy};
use iamd_domain::{Clock, SystemClock, ids};
use iamd_store::SqliteStore;
use iamd_store::prelude::*;

use crate::data_dir::{
    DATABASE_FILE, KEY_CHECK, KEY_CHECK_PLAINTEXT, MASTER_KEY_FILE, existing_master_key, opens_key_check, private_dir,
    write_private,
};
use crate::state::{App, Limits};

#[derive(Parser)]
#[command(name = "iamd", version, about = "A self-hosted AWS IAM/STS endpoint with real MFA")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve IAM and STS on one HTTP endpoint.
    Serve(ServeArgs),
    /// Write a consistent copy of the embedded database, even while iamd serves it.
    Backup(crate::admin::BackupArgs),
    /// Put a backup in place as a data directory's database (iamd stopped).
    Restore(crate::admin::RestoreArgs),
    /// Move the embedded database into an empty PostgreSQL database (iamd stopped).
    Migrate(crate::admin::MigrateArgs),
    /// Read the sign-in audit trail: console sign-ins, MFA checks and STS sessions.
    Audit(crate::admin::AuditArgs),
    /// Exit 0 if the iamd at IAMD_LISTEN answers its health check (for containers).
    Health(crate::admin::HealthArgs),
}

#[derive(Args, Clone)]
#[command(group = clap::ArgGroup::new("storage").required(true).multiple(true).args(["data_dir", "database_url"]))]
pub struct ServeArgs {
    /// A TOML file of the settings below, each under its flag's long name (`listen =
    /// "0.0.0.0:8080"`, `require-mfa-enrolment = true`); a flag or environment variable overrides
    /// the file's value. It may hold secrets: keep it mode 0600.
    #[arg(long, env = "IAMD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "IAMD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Serve `GET /metrics` on this address instead of the main one (which then answers it 404).
    /// The metrics need no credentials: keep them on a private address or behind a firewall.
    #[arg(long, env = "IAMD_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// How log lines are written to standard error: `text` for people, `json` (one object per
    /// line) for log collectors.
    #[arg(long, env = "IAMD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Directory for the embedded database, the master key and generated credentials.
    #[arg(long, env = "IAMD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// A shared database instead of the embedded one: `postgres://…` (several nodes may use one
    /// database; give them all the same IAMD_MASTER_KEY) or `sqlite://PATH`.
    #[arg(long, env = "IAMD_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The 12-digit account to serve (generated on first start when absent).
    #[arg(long, env = "IAMD_ACCOUNT_ID")]
    pub account_id: Option<String>,
    /// The account's root access key id.
    #[arg(long, env = "IAMD_ROOT_ACCESS_KEY_ID")]
    pub root_access_key_id: Option<String>,
    /// The account's root secret access key.
    #[arg(long, env = "IAMD_ROOT_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub root_secret_access_key: Option<String>,
    /// Master key sealing secrets at rest, 64 hex characters (default: `master.key` in the data
    /// directory, created on first start).
    #[arg(long, env = "IAMD_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// Consecutive wrong MFA codes that lock a user's MFA checks.
    #[arg(long, env = "IAMD_MFA_MAX_FAILURES", default_value_t = 10)]
    pub mfa_max_failures: u32,
    /// Length of the first lock, in seconds; each further lock doubles.
    #[arg(long, env = "IAMD_MFA_LOCK_SECONDS", default_value_t = 300)]
    pub mfa_lock_seconds: i64,
    /// The longest lock, in seconds.
    #[arg(long, env = "IAMD_MFA_MAX_LOCK_SECONDS", default_value_t = 3600)]
    pub mfa_max_lock_seconds: i64,
    /// With the embedded store: free space (MiB) in the data directory under which `/health`
    /// reports the node unhealthy.
    #[arg(long, env = "IAMD_MIN_FREE_DISK_MB", default_value_t = 64)]
    pub min_free_disk_mb: u64,
    /// Open connections at most; a connection over it is closed at once.
    #[arg(long, env = "IAMD_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers (and its body) before it is
    /// disconnected (against clients that trickle bytes to hold connections open).
    #[arg(long, env = "IAMD_REQUEST_READ_SECONDS", default_value_t = 10)]
    pub request_read_seconds: u64,
    /// Password hashes (Argon2, 19 MiB each) computed at once; 0: one per CPU core.
    #[arg(long, env = "IAMD_PASSWORD_HASHES_AT_ONCE", default_value_t = 0)]
    pub password_hashes_at_once: usize,
    /// Milliseconds a password check waits for a free hashing slot before it is refused.
    #[arg(long, env = "IAMD_PASSWORD_HASH_WAIT_MS", default_value_t = 250)]
    pub password_hash_wait_ms: u64,
    /// Failed password attempts for one user within the window that make further attempts
    /// fail unevaluated until the window ends.
    #[arg(long, env = "IAMD_PASSWORD_FAILURES_PER_USER", default_value_t = 10)]
    pub password_failures_per_user: u32,
    /// The same, from one source address (IPv6: its /64).
    #[arg(long, env = "IAMD_PASSWORD_FAILURES_PER_SOURCE", default_value_t = 100)]
    pub password_failures_per_source: u32,
    /// The password-failure window, in seconds from the first failure.
    #[arg(long, env = "IAMD_PASSWORD_WINDOW_SECONDS", default_value_t = 900)]
    pub password_window_seconds: i64,
    /// Require every console user without an enabled MFA device to assign one at sign-in,
    /// whatever the account's own setting (which the console's administration page sets).
    #[arg(long, env = "IAMD_REQUIRE_MFA_ENROLMENT")]
    pub require_mfa_enrolment: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

fn load_master_key(args: &ServeArgs) -> anyhow::Result<MasterKey> {
    if let Some(key) = existing_master_key(args.master_key.as_deref(), args.data_dir.as_deref())? {
        return Ok(key);
    }
    let Some(data_dir) = &args.data_dir else {
        bail!("a shared database needs the master key from IAMD_MASTER_KEY (or --master-key), the same on every node");
    };
    let (key, hex) = MasterKey::generate();
    write_private(&data_dir.join(MASTER_KEY_FILE), &hex)?;
    tracing::info!(path = %data_dir.join(MASTER_KEY_FILE).display(), "generated a new master key");
    Ok(key)
}

const GENERATED_CREDENTIALS_FILE: &str = "root-credentials";

/// The configured root access key id and secret, or `None` to keep or generate the root key.
/// Checked here rather than by clap's `requires`, which a config file's value cannot satisfy
/// (clap counts only flags and environment variables as given).
pub(crate) fn configured_root_key(args: &ServeArgs) -> anyhow::Result<Option<(&str, &str)>> {
    match (args.root_access_key_id.as_deref(), args.root_secret_access_key.as_deref()) {
        (Some(id), Some(secret)) => Ok(Some((id, secret))),
        (None, None) => Ok(None),
        _ => bail!(
            "the root access key id and secret access key go together: give both (flags, environment \
             or config file) or neither, to have them generated"
        ),
    }
}

/// Creates or confirms the account and its root credentials.
async fn ensure_root(
    store: &dyn Store,
    key: &MasterKey,
    args: &ServeArgs,
    root_key: Option<(&str, &str)>,
    now: i64,
) -> anyhow::Result<String> {
    let known = store.accounts().await?;
    let account_id = match (&args.account_id, known.first()) {
        (Some(given), _) => given.clone(),
        (None, Some(existing)) => existing.clone(),
        (None, None) => ids::new_account_id(),
    };
    if !ids::is_account_id(&account_id) {
        bail!("account id must be 12 digits, got {account_id:?}");
    }
    match root_key {
        Some((id, secret)) => {
            let valid_id = (16..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric());
            if !valid_id || secret.is_empty() {
                bail!("root access key id must be 16-128 letters and digits and the secret non-empty");
            }
            let root = NewAccessKey {
                access_key_id: id.to_owned(),
                secret_sealed: key.seal(secret.as_bytes(), id),
                created_at: now,
            };
            store.ensure_account(&account_id, Some(root), now).await?;
            if store.find_access_key(id).await?.is_none_or(|k| k.account_id != account_id || k.user.is_some()) {
                bail!("access key {id} already belongs to another identity");
            }
        }
        None => {
            store.ensure_account(&account_id, None, now).await?;
            if store.account_counts(&account_id).await?.root_access_keys == 0 {
                let id = ids::new_access_key_id();
                let secret = ids::new_secret_access_key();
                let root = NewAccessKey {
                    access_key_id: id.clone(),
                    secret_sealed: key.seal(secret.as_bytes(), &id),
                    created_at: now,
                };
                store.ensure_account(&account_id, Some(root), now).await?;
                let text =
                    format!("IAMD_ACCOUNT_ID={account_id}\nAWS_ACCESS_KEY_ID={id}\nAWS_SECRET_ACCESS_KEY={secret}\n");
                // Shown once, on the terminal of whoever started iamd; never logged. When standard
                // output is not a terminal it is usually a log (systemd's journal, a container's
                // log), so the secret stays in the private file only.
                match &args.data_dir {
                    Some(dir) => {
                        let path = dir.join(GENERATED_CREDENTIALS_FILE);
                        write_private(&path, &text)?;
                        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                            println!("Generated root credentials (also saved to {}):\n{text}", path.display());
                        } else {
                            println!("Generated root credentials: saved to {} (mode 0600)", path.display());
                        }
                    }
                    None => println!("Generated root credentials (shown only now):\n{text}"),
                }
            }
        }
    }
    Ok(account_id)
}

/// Refuses to start with a master key other than the one the database's secrets were sealed
/// with: better a clear error now than undecryptable secrets later.
async fn check_master_key(store: &dyn Store, key: &MasterKey) -> anyhow::Result<()> {
    let sealed = key.seal(KEY_CHECK_PLAINTEXT, KEY_CHECK);
    let stored = store.put_meta_if_absent(KEY_CHECK, &sealed).await?;
    if !opens_key_check(key, &stored) {
        bail!(
            "the master key does not match the one this database was created with \
             (check IAMD_MASTER_KEY or the data directory's master.key)"
        );
    }
    Ok(())
}

/// Opens the data directory and builds the application state.
pub async fn prepare(args: &ServeArgs) -> anyhow::Result<Arc<App>> {
    let root_key = configured_root_key(args)?;
    if let Some(path) = &args.config {
        tracing::info!(config = %path.display(), "settings read from the config file");
    }
    if let Some(dir) = &args.data_dir {
        private_dir(dir)?;
    }
    let master_key = load_master_key(args)?;
    let store: Arc<dyn Store> = match (&args.database_url, &args.data_dir) {
        (Some(url), _) => iamd_store::open(url).await?,
        (None, Some(dir)) => Arc::new(SqliteStore::open(&dir.join(DATABASE_FILE)).await?),
        (None, None) => unreachable!("clap requires --data-dir or --database-url"),
    };
    check_master_key(store.as_ref(), &master_key).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let account_id = ensure_root(store.as_ref(), &master_key, args, root_key, clock.now().unix_timestamp()).await?;
    crate::aws_policies::seed(store.as_ref(), clock.now().unix_timestamp()).await?;
    tracing::info!(
        account_id,
        backend = if args.database_url.is_some() { "database-url" } else { "data-dir" },
        "storage ready"
    );
    let throttle = ThrottlePolicy {
        max_failures: args.mfa_max_failures,
        base_lock_seconds: args.mfa_lock_seconds,
        max_lock_seconds: args.mfa_max_lock_seconds,
    };
    let limits = Limits {
        password_hashes_at_once: args.password_hashes_at_once,
        password_hash_wait: std::time::Duration::from_millis(args.password_hash_wait_ms),
        password_attempts: PasswordThrottlePolicy {
            per_user: args.password_failures_per_user,
            per_source: args.password_failures_per_source,
            window_seconds: args.password_window_seconds,
        },
        request_read_timeout: std::time::Duration::from_secs(args.request_read_seconds),
        mfa_enrolment_required: args.require_mfa_enrolment,
        min_free_disk: match (&args.database_url, &args.data_dir) {
            (None, Some(dir)) => Some((dir.clone(), args.min_free_disk_mb * 1024 * 1024)),
            _ => None,
        },
        ..Limits::default()
    };
    Ok(Arc::new(App::new(store, master_key, clock, limits, throttle)))
}

impl ServeArgs {
    /// What the accept loop holds connections to.
    pub fn connection_limits(&self) -> crate::listener::ConnectionLimits {
        crate::listener::ConnectionLimits {
            max_connections: self.max_connections,
            header_read_timeout: std::time::Duration::from_secs(self.request_read_seconds),
        }
    }
}
