//! Persistence for iamd.
//!
//! [`Store`] is the contract every backend keeps: each method is one atomic state transition
//! (one transaction), and every rule that must hold under concurrency — unique names, quotas,
//! "a device is enabled once", "a step is accepted once" — is enforced *inside* that transition
//! by the database, never by a process-local lock. That is what lets several iamd nodes share a
//! database later.
//!
//! The store knows records, not XML or HTTP; secrets arrive already sealed.

mod postgres;
mod sqlite;

use async_trait::async_trait;
pub use iamd_domain::password::PasswordPolicy;
pub use iamd_domain::throttle::{ThrottlePolicy, ThrottleState};
pub use iamd_domain::totp::DeviceSync;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use std::sync::Arc;

/// Opens the backend a database URL names: `postgres://…` / `postgresql://…` for a shared
/// PostgreSQL database ([`PgStore`]), `sqlite://PATH` for an embedded database file
/// ([`SqliteStore`]). Pending migrations are applied either way.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(StoreError::Backend("sqlite:// URL without a file path".into()));
        }
        Ok(Arc::new(SqliteStore::open(std::path::Path::new(path)).await?))
    } else {
        let scheme = url.split("://").next().filter(|s| *s != url).unwrap_or("(none)");
        Err(StoreError::Backend(format!(
            "unsupported database URL scheme {scheme:?}: expected postgres://, postgresql:// or sqlite://PATH"
        )))
    }
}

/// What a failed store call means, in terms the operations layer turns into AWS errors.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("{0:?} not found")]
    NotFound(Entity),
    #[error("{0:?} already exists")]
    AlreadyExists(Entity),
    /// The device is assigned to a user already.
    #[error("device in use")]
    DeviceInUse,
    /// The device is still assigned, so it cannot be deleted.
    #[error("device still assigned")]
    DeviceAssigned,
    #[error("quota exceeded")]
    LimitExceeded,
    #[error("user still has {0:?}")]
    DeleteConflict(Dependent),
    /// A conditional update found the row changed since it was read (another request won).
    #[error("concurrent modification")]
    Conflict,
    /// The database cannot be reached (down, restarting, pool exhausted): worth retrying.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database failure: {0}")]
    Backend(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Account,
    User,
    AccessKey,
    MfaDevice,
    LoginProfile,
    PasswordPolicy,
}

/// What keeps a user from being deleted, in the order AWS asks for cleanup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependent {
    LoginProfile,
    AccessKeys,
    MfaDevices,
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub account_id: String,
    pub user_id: String,
    pub name: String,
    pub path: String,
    pub created_at: i64,
    pub password_last_used: Option<i64>,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Inactive,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Inactive => "Inactive",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Active" => Some(KeyStatus::Active),
            "Inactive" => Some(KeyStatus::Inactive),
            _ => None,
        }
    }
}

/// A long-term access key. `user` is `None` for the account's root credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub access_key_id: String,
    pub account_id: String,
    pub user: Option<User>,
    pub secret_sealed: Vec<u8>,
    pub status: KeyStatus,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccessKey {
    pub access_key_id: String,
    pub secret_sealed: Vec<u8>,
    pub created_at: i64,
}

/// A virtual MFA device; `assignment` is set while it is enabled for a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaDevice {
    pub serial: String,
    pub account_id: String,
    pub path: String,
    pub name: String,
    pub seed_sealed: Vec<u8>,
    pub created_at: i64,
    pub assignment: Option<Assignment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub user: User,
    pub enable_date: i64,
    pub sync: DeviceSync,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMfaDevice {
    pub serial: String,
    pub account_id: String,
    pub path: String,
    pub name: String,
    pub seed_sealed: Vec<u8>,
    pub created_at: i64,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignmentFilter {
    Assigned,
    Unassigned,
    Any,
}

/// A page request: items strictly after `after` (a sort key from an earlier page), at most
/// `limit` of them. Backends return up to `limit + 1` so callers can tell if more remain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub after: Option<String>,
    pub limit: usize,
}

/// A user's console password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginProfile {
    pub user: User,
    pub password_hash: String,
    pub reset_required: bool,
    pub created_at: i64,
}

/// Temporary credentials issued by STS. `user` is `None` for sessions of the root user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsSession {
    pub access_key_id: String,
    pub account_id: String,
    pub user: Option<User>,
    pub secret_sealed: Vec<u8>,
    /// SHA-256 of the session token; the token itself is never stored.
    pub token_hash: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
    /// When the MFA code that opened the session was checked, if one was.
    pub mfa_authenticated_at: Option<i64>,
    pub mfa_serial: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleState {
    /// The password was right; a code from an MFA device is still needed.
    AwaitingMfa,
    SignedIn,
}

impl ConsoleState {
    fn as_str(self) -> &'static str {
        match self {
            ConsoleState::AwaitingMfa => "awaiting_mfa",
            ConsoleState::SignedIn => "signed_in",
        }
    }

    fn parse(s: &str) -> Self {
        if s == "signed_in" { ConsoleState::SignedIn } else { ConsoleState::AwaitingMfa }
    }
}

/// A console (browser) session, keyed by a hash of its cookie value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub id_hash: Vec<u8>,
    pub account_id: String,
    pub user: User,
    pub state: ConsoleState,
    pub csrf_token: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub mfa_authenticated_at: Option<i64>,
}

/// One sign-in or MFA check, for the audit trail. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthEvent {
    pub at: i64,
    pub account_id: String,
    pub user_name: String,
    /// The client's address.
    pub source: String,
    /// What was attempted: `console-password`, `console-mfa`, `sts-session`, ….
    pub kind: String,
    pub mfa_used: bool,
    /// `success` or `failure`.
    pub outcome: String,
    pub reason: String,
}

/// Counts for GetAccountSummary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountCounts {
    pub users: u64,
    pub mfa_devices: u64,
    pub mfa_devices_in_use: u64,
    pub root_access_keys: u64,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    // Accounts and credentials.

    /// Creates the account if it does not exist, and the root access key if that key id is not
    /// known yet (or sets its secret if it is already that account's root key). Idempotent, so
    /// every start-up may call it.
    async fn ensure_account(&self, account_id: &str, root_key: Option<NewAccessKey>, now: i64) -> Result<()>;
    async fn account_exists(&self, account_id: &str) -> Result<bool>;
    /// Every account this store serves, in id order.
    async fn accounts(&self) -> Result<Vec<String>>;
    /// Any access key (root or user), with its user, for authentication.
    async fn find_access_key(&self, access_key_id: &str) -> Result<Option<AccessKey>>;

    // Users.
    /// Refuses with `AlreadyExists(User)` for a taken name (case-insensitively), `LimitExceeded`
    /// when the account has `max_in_account` users already.
    async fn create_user(&self, user: &User, max_in_account: u32) -> Result<()>;
    async fn get_user(&self, account_id: &str, name: &str) -> Result<Option<User>>;
    /// Ordered by lower-cased name; `Page::after` is a lower-cased name.
    async fn list_users(&self, account_id: &str, path_prefix: &str, page: &Page) -> Result<Vec<User>>;
    async fn update_user(
        &self,
        account_id: &str,
        name: &str,
        new_name: Option<&str>,
        new_path: Option<&str>,
    ) -> Result<()>;
    /// Refuses with `DeleteConflict` while a login profile, access keys or MFA devices remain.
    async fn delete_user(&self, account_id: &str, name: &str) -> Result<()>;

    // Access keys of IAM users.
    /// Refuses with `LimitExceeded` when the user already has `max_per_user` keys.
    async fn create_access_key(
        &self,
        account_id: &str,
        user_name: &str,
        key: &NewAccessKey,
        max_per_user: u32,
    ) -> Result<AccessKey>;
    async fn list_access_keys(&self, account_id: &str, user_name: &str) -> Result<Vec<AccessKey>>;
    async fn update_access_key(
        &self,
        account_id: &str,
        user_name: &str,
        access_key_id: &str,
        status: KeyStatus,
    ) -> Result<()>;
    async fn delete_access_key(&self, account_id: &str, user_name: &str, access_key_id: &str) -> Result<()>;

    // Virtual MFA devices.
    /// Refuses with `AlreadyExists` for a taken serial, `LimitExceeded` past `max_in_account`.
    async fn create_mfa_device(&self, device: &NewMfaDevice, max_in_account: u32) -> Result<()>;
    async fn get_mfa_device(&self, account_id: &str, serial: &str) -> Result<Option<MfaDevice>>;
    /// Assigns an unassigned device: `DeviceInUse` if it is assigned (to anyone) by the time the
    /// transaction runs, `LimitExceeded` if the user has `max_per_user` devices already.
    async fn assign_mfa_device(
        &self,
        account_id: &str,
        serial: &str,
        user_name: &str,
        sync: DeviceSync,
        enable_date: i64,
        max_per_user: u32,
    ) -> Result<()>;
    /// Moves an assigned device's sync state forward, only if it is still assigned to `user_id`
    /// and its last accepted step is still `seen_last_step`; otherwise `Conflict`. This is what
    /// makes a code (or a resync pair) count once across concurrent requests.
    async fn advance_mfa_sync(&self, serial: &str, user_id: &str, seen_last_step: i64, sync: DeviceSync) -> Result<()>;
    async fn unassign_mfa_device(&self, account_id: &str, user_name: &str, serial: &str) -> Result<()>;
    /// Refuses with `DeviceAssigned` while the device is enabled.
    async fn delete_mfa_device(&self, account_id: &str, serial: &str) -> Result<()>;
    /// The devices assigned to a user, ordered by serial.
    async fn list_user_mfa_devices(&self, account_id: &str, user_name: &str) -> Result<Vec<MfaDevice>>;
    /// Ordered by serial; `Page::after` is a serial.
    async fn list_mfa_devices(&self, account_id: &str, filter: AssignmentFilter, page: &Page)
    -> Result<Vec<MfaDevice>>;
    /// Adds or overwrites tags; `LimitExceeded` if the device would carry more than `max`.
    async fn tag_mfa_device(&self, account_id: &str, serial: &str, tags: &[Tag], max: usize) -> Result<()>;
    async fn untag_mfa_device(&self, account_id: &str, serial: &str, keys: &[String]) -> Result<()>;
    /// Ordered by key (case-insensitively).
    async fn mfa_device_tags(&self, account_id: &str, serial: &str) -> Result<Vec<Tag>>;

    async fn account_counts(&self, account_id: &str) -> Result<AccountCounts>;

    // Login profiles (console passwords).
    /// `NotFound(User)`, or `AlreadyExists(LoginProfile)`.
    async fn create_login_profile(
        &self,
        account_id: &str,
        user_name: &str,
        password_hash: &str,
        reset_required: bool,
        now: i64,
    ) -> Result<LoginProfile>;
    /// `NotFound(User)` or `NotFound(LoginProfile)`.
    async fn get_login_profile(&self, account_id: &str, user_name: &str) -> Result<LoginProfile>;
    async fn update_login_profile(
        &self,
        account_id: &str,
        user_name: &str,
        password_hash: Option<&str>,
        reset_required: Option<bool>,
    ) -> Result<()>;
    async fn delete_login_profile(&self, account_id: &str, user_name: &str) -> Result<()>;
    /// Sets `PasswordLastUsed`.
    async fn record_password_use(&self, user_id: &str, now: i64) -> Result<()>;

    // The account password policy.
    async fn get_password_policy(&self, account_id: &str) -> Result<Option<PasswordPolicy>>;
    async fn put_password_policy(&self, account_id: &str, policy: &PasswordPolicy) -> Result<()>;
    /// `NotFound(PasswordPolicy)` when there is none.
    async fn delete_password_policy(&self, account_id: &str) -> Result<()>;

    // MFA throttling, per user. Read-modify-write happens inside the store so concurrent
    // failures on any node all count.
    async fn mfa_throttle(&self, user_id: &str) -> Result<ThrottleState>;
    async fn record_mfa_failure(&self, user_id: &str, policy: &ThrottlePolicy, now: i64) -> Result<ThrottleState>;
    async fn clear_mfa_failures(&self, user_id: &str) -> Result<()>;

    // STS sessions.
    async fn create_sts_session(&self, session: &StsSession) -> Result<()>;
    async fn find_sts_session(&self, access_key_id: &str) -> Result<Option<StsSession>>;
    /// Drops sessions that expired before `now`; returns how many.
    async fn purge_expired_sts_sessions(&self, now: i64) -> Result<u64>;

    // Console sessions.
    async fn create_console_session(&self, session: &ConsoleSession) -> Result<()>;
    async fn find_console_session(&self, id_hash: &[u8]) -> Result<Option<ConsoleSession>>;
    async fn delete_console_session(&self, id_hash: &[u8]) -> Result<()>;
    /// Drops console sessions that expired before `now`; returns how many.
    async fn purge_expired_console_sessions(&self, now: i64) -> Result<u64>;

    // Sign-in audit trail.
    async fn record_auth_event(&self, event: &AuthEvent) -> Result<()>;
    /// The newest events of an account, newest first.
    async fn auth_events(&self, account_id: &str, limit: u32) -> Result<Vec<AuthEvent>>;

    /// Whether the database answers (for `/health`).
    async fn ping(&self) -> Result<()> {
        self.account_exists("").await.map(|_| ())
    }

    // Deployment facts.
    async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>>;
    /// Stores `value` under `name` unless something is there already; returns what is stored
    /// afterwards (so of several nodes starting at once, all agree on the first writer's value).
    async fn put_meta_if_absent(&self, name: &str, value: &[u8]) -> Result<Vec<u8>>;
}
