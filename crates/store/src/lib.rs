//! Persistence for iamd.
//!
//! [`Store`] is the contract every backend keeps: each method is one atomic state transition
//! (one transaction), and every rule that must hold under concurrency — unique names, quotas,
//! "a device is enabled once", "a step is accepted once" — is enforced *inside* that transition
//! by the database, never by a process-local lock. That is what lets several iamd nodes share a
//! database later.
//!
//! The contract is split into families, one trait each: [`Accounts`], [`Identities`],
//! [`Credentials`], [`MfaDevices`], [`Sessions`] and [`Audit`]; [`Store`] is all of them, so an
//! `Arc<dyn Store>` reaches every method once [`prelude`] is in scope. Each backend implements a
//! family in a file of its own (`sqlite/identities.rs`, `postgres/identities.rs`, …).
//!
//! The store knows records (`iamd_domain::entities`), not XML or HTTP; secrets arrive already
//! sealed.

mod common;
mod postgres;
mod sqlite;

use async_trait::async_trait;
// The records the store keeps live in `iamd_domain::entities`; re-exported so
// `use iamd_store::{User, …}` keeps working.
pub use iamd_domain::entities::*;
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

/// What callers import: every family trait (so their methods can be called on an
/// `Arc<dyn Store>`) and [`Store`] itself. `use iamd_store::prelude::*;`
pub mod prelude {
    pub use crate::{Accounts, Audit, Credentials, Identities, MfaDevices, Sessions, Store};
}

/// The whole contract: every family. Implemented for every type that implements all of them, so
/// a backend implements the families and `Arc<dyn Store>` works as before.
pub trait Store: Accounts + Identities + Credentials + MfaDevices + Sessions + Audit + Send + Sync + 'static {}

impl<T> Store for T where T: Accounts + Identities + Credentials + MfaDevices + Sessions + Audit + Send + Sync + 'static {}

/// Accounts and deployment-wide facts: which accounts exist, what they hold (GetAccountSummary),
/// whether the database answers, and the `meta` key/value records written once per deployment.
#[async_trait]
pub trait Accounts: Send + Sync + 'static {
    /// Creates the account if it does not exist, and the root access key if that key id is not
    /// known yet (or sets its secret if it is already that account's root key). Idempotent, so
    /// every start-up may call it.
    async fn ensure_account(&self, account_id: &str, root_key: Option<NewAccessKey>, now: i64) -> Result<()>;
    async fn account_exists(&self, account_id: &str) -> Result<bool>;
    /// Every account this store serves, in id order.
    async fn accounts(&self) -> Result<Vec<String>>;

    async fn account_counts(&self, account_id: &str) -> Result<AccountCounts>;

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

/// IAM users and their tags. User names are unique per account without regard to case, and
/// every lookup by name is case-insensitive.
#[async_trait]
pub trait Identities: Send + Sync + 'static {
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

    // User tags (TagUser, UntagUser, ListUserTags).
    /// Adds or overwrites tags (keys compare case-insensitively: a tag overwrites the one whose
    /// key differs only in case); `NotFound(User)`, or `LimitExceeded` if the user would carry
    /// more than `max`, in which case nothing is written.
    async fn tag_user(&self, account_id: &str, user_name: &str, tags: &[Tag], max: usize) -> Result<()>;
    /// Removes the tags with these keys (case-insensitively); unknown keys are ignored.
    /// `NotFound(User)`.
    async fn untag_user(&self, account_id: &str, user_name: &str, keys: &[String]) -> Result<()>;
    /// Ordered by key (case-insensitively); `NotFound(User)`.
    async fn user_tags(&self, account_id: &str, user_name: &str) -> Result<Vec<Tag>>;
}

/// What users (and the root user) sign in with: long-term access keys, console passwords (login
/// profiles, their last use) and the account password policy.
#[async_trait]
pub trait Credentials: Send + Sync + 'static {
    /// Any access key (root or user), with its user, for authentication.
    async fn find_access_key(&self, access_key_id: &str) -> Result<Option<AccessKey>>;

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
}

/// Virtual MFA devices: creation, assignment to a user (enable/deactivate), the sync state that
/// makes each code count once, device tags, and the per-user MFA failure throttle.
#[async_trait]
pub trait MfaDevices: Send + Sync + 'static {
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

    // MFA throttling, per user. Read-modify-write happens inside the store so concurrent
    // failures on any node all count.
    async fn mfa_throttle(&self, user_id: &str) -> Result<ThrottleState>;
    async fn record_mfa_failure(&self, user_id: &str, policy: &ThrottlePolicy, now: i64) -> Result<ThrottleState>;
    async fn clear_mfa_failures(&self, user_id: &str) -> Result<()>;
}

/// Sessions: temporary credentials issued by STS and console (browser) sessions, and purging
/// the expired ones.
#[async_trait]
pub trait Sessions: Send + Sync + 'static {
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
}

/// The sign-in audit trail: every console sign-in and MFA check, success or failure.
#[async_trait]
pub trait Audit: Send + Sync + 'static {
    async fn record_auth_event(&self, event: &AuthEvent) -> Result<()>;
    /// The newest events of an account, newest first.
    async fn auth_events(&self, account_id: &str, limit: u32) -> Result<Vec<AuthEvent>>;
}
