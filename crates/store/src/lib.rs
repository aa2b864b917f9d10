//! Persistence for iamd.
//!
//! [`Store`] is the contract every backend keeps: each method is one atomic state transition
//! (one transaction), and every rule that must hold under concurrency — unique names, quotas,
//! "a device is enabled once", "a step is accepted once" — is enforced *inside* that transition
//! by the database, never by a process-local lock. That is what lets several iamd nodes share a
//! database later.
//!
//! The store knows records, not XML or HTTP; secrets arrive already sealed.

mod sqlite;

use async_trait::async_trait;
pub use iamd_domain::totp::DeviceSync;
pub use sqlite::SqliteStore;

/// What a failed store call means, in terms the operations layer turns into AWS errors.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
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
    #[error("database failure: {0}")]
    Backend(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Account,
    User,
    AccessKey,
    MfaDevice,
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
    async fn create_user(&self, user: &User) -> Result<()>;
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
    /// Refuses with `DeleteConflict` while access keys or MFA devices remain.
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
}
