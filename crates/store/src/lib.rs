//! Persistence for iamd.
//!
//! [`Store`] is the contract every backend keeps: each method is one atomic state transition
//! (one transaction), and every rule that must hold under concurrency — unique names, quotas,
//! "a device is enabled once", "a step is accepted once" — is enforced *inside* that transition
//! by the database, never by a process-local lock. That is what lets several iamd nodes share a
//! database later.
//!
//! The contract is split into families, one trait each: [`Accounts`], [`Identities`],
//! [`Credentials`], [`MfaDevices`], [`Sessions`], [`Audit`] and [`Policies`]; [`Store`] is all of them, so an
//! `Arc<dyn Store>` reaches every method once [`prelude`] is in scope. Each backend implements a
//! family in a file of its own (`sqlite/identities.rs`, `postgres/identities.rs`, …).
//!
//! The store knows records (`iamd_domain::entities`), not XML or HTTP; secrets arrive already
//! sealed.

mod common;
mod postgres;
mod sqlite;
mod transfer;

use async_trait::async_trait;
// The records the store keeps live in `iamd_domain::entities`; re-exported so
// `use iamd_store::{User, …}` keeps working.
pub use iamd_domain::entities::*;
pub use iamd_domain::password::PasswordPolicy;
pub use iamd_domain::throttle::{AttemptWindow, PasswordThrottlePolicy, ThrottlePolicy, ThrottleState};
pub use iamd_domain::totp::DeviceSync;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use sqlite::backup::{DatabaseFile, copy_database, inspect_database};
pub use transfer::copy_sqlite_to_postgres;

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
    Group,
    /// A managed policy.
    Policy,
    PolicyVersion,
    /// An inline policy of a user, group or role.
    InlinePolicy,
    Role,
}

/// Whose inline policies, attachments or permissions boundary a call is about (named by the
/// `holder_name` beside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    User,
    Group,
    Role,
}

/// What keeps something from being deleted. For a user, in the order AWS asks for cleanup (and
/// `delete_user` checks): `LoginProfile`, `AccessKeys`, `MfaDevices`, `Policies` (inline),
/// `Attachments` (managed policies), `Groups` (memberships). For a group: `Members`, `Policies`
/// (inline), `Attachments`. For a managed policy: `Attachments` (attached to a user or group, or
/// used as a permissions boundary), then `Versions` (non-default versions remain). For a policy
/// version: `DefaultVersion`. For a role: `Policies` (inline), then `Attachments`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependent {
    LoginProfile,
    AccessKeys,
    MfaDevices,
    /// Inline policies.
    Policies,
    /// Attached managed policies (or, for a policy, the users and groups it is attached to).
    Attachments,
    /// Group memberships of a user.
    Groups,
    /// Users in a group.
    Members,
    /// Non-default versions of a managed policy.
    Versions,
    /// The version is its policy's default.
    DefaultVersion,
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// What callers import: every family trait (so their methods can be called on an
/// `Arc<dyn Store>`) and [`Store`] itself. `use iamd_store::prelude::*;`
pub mod prelude {
    pub use crate::{Accounts, Audit, Credentials, Identities, MfaDevices, Policies, Roles, Sessions, Store};
}

/// The whole contract: every family. Implemented for every type that implements all of them, so
/// a backend implements the families and `Arc<dyn Store>` works as before.
pub trait Store:
    Accounts + Identities + Credentials + MfaDevices + Sessions + Audit + Policies + Roles + Send + Sync + 'static
{
}

impl<T> Store for T where
    T: Accounts + Identities + Credentials + MfaDevices + Sessions + Audit + Policies + Roles + Send + Sync + 'static
{
}

/// Accounts and deployment-wide facts: which accounts exist, what they hold (GetAccountSummary),
/// whether the database answers, and the `meta` key/value records written once per deployment.
#[async_trait]
pub trait Accounts: Send + Sync + 'static {
    /// Creates the account if it does not exist, and the root access key if that key id is not
    /// known yet (or sets its secret if it is already that account's root key); a key so
    /// written replaces every other root key of the account (rotation). Idempotent, so
    /// every start-up may call it.
    async fn ensure_account(&self, account_id: &str, root_key: Option<NewAccessKey>, now: i64) -> Result<()>;
    async fn account_exists(&self, account_id: &str) -> Result<bool>;
    /// When the account was created (its first start), `None` for an unknown account.
    async fn account_created_at(&self, account_id: &str) -> Result<Option<i64>>;
    /// Every account this store serves, in id order.
    async fn accounts(&self) -> Result<Vec<String>>;

    async fn account_counts(&self, account_id: &str) -> Result<AccountCounts>;

    /// Whether the account requires every console user without an enabled MFA device to assign
    /// one at sign-in (iamd's own setting, off for a new account). `NotFound(Account)`.
    async fn mfa_enrolment_required(&self, account_id: &str) -> Result<bool>;
    /// Sets that setting. `NotFound(Account)`.
    async fn set_mfa_enrolment_required(&self, account_id: &str, required: bool) -> Result<()>;

    /// Whether the database answers (for `/health`).
    async fn ping(&self) -> Result<()> {
        self.account_exists("").await.map(|_| ())
    }
    /// A small durable write (the time of the last health check): fails when the database
    /// cannot take writes — a full disk, a stopped writer, a read-only replica.
    async fn probe_write(&self, now: i64) -> Result<()>;
    /// Registers the backend's own metrics for the server's `/metrics` (SQLite: group commits;
    /// PostgreSQL: the connection pool, sampled when scraped).
    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry);

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
    /// when the account has `max_in_account` users already, `NotFound(Policy)` for a
    /// permissions boundary not visible to the account; the user's tags and boundary are written
    /// with it.
    async fn create_user(&self, user: &User, max_in_account: u32) -> Result<()>;
    /// The user with its tags and boundary.
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
    /// Refuses with `DeleteConflict` while a login profile, access keys, MFA devices, inline
    /// policies, attached managed policies or group memberships remain, checked in that order
    /// (AWS's cleanup order; see [`Dependent`]). A permissions boundary goes with the user.
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

    /// The root user's access keys, oldest first.
    async fn root_access_keys(&self, account_id: &str) -> Result<Vec<AccessKey>>;

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
        now: i64,
    ) -> Result<()>;
    async fn delete_login_profile(&self, account_id: &str, user_name: &str) -> Result<()>;
    /// Sets `PasswordLastUsed`.
    async fn record_password_use(&self, user_id: &str, now: i64) -> Result<()>;
    /// Sets an access key's last use (a key that is gone meanwhile is no error).
    async fn record_access_key_use(&self, access_key_id: &str, last_use: &KeyUse) -> Result<()>;
    /// Keeps the account's latest credential report, replacing the previous one.
    async fn put_credential_report(&self, account_id: &str, generated_at: i64, content: &[u8]) -> Result<()>;
    /// The account's latest credential report: when it was generated, and its CSV.
    async fn credential_report(&self, account_id: &str) -> Result<Option<(i64, Vec<u8>)>>;

    // The account password policy.
    async fn get_password_policy(&self, account_id: &str) -> Result<Option<PasswordPolicy>>;
    async fn put_password_policy(&self, account_id: &str, policy: &PasswordPolicy) -> Result<()>;
    /// `NotFound(PasswordPolicy)` when there is none.
    async fn delete_password_policy(&self, account_id: &str) -> Result<()>;

    // Password throttling: counters of password attempts keyed by `user:{id}` or
    // `source:{address}` ([`AttemptWindow`]).
    /// Charges one attempt to every counter in `counters` (key, limit) before the password is
    /// evaluated, all or none, in one transaction: `false`, with nothing charged, when any of
    /// them is full at `now` (windows last `window_seconds`). Concurrent reservations on any
    /// node queue up, so no counter ever grants more than its limit per window.
    async fn reserve_password_attempt(&self, counters: &[(String, u32)], window_seconds: i64, now: i64)
    -> Result<bool>;
    /// Gives one charged attempt back to each counter in `release` and deletes the counters in
    /// `clear`, in one transaction.
    async fn settle_password_attempt(&self, release: &[String], clear: &[String]) -> Result<()>;
    /// One counter as stored (zero when there is none).
    async fn password_attempts(&self, key: &str) -> Result<AttemptWindow>;
    /// Deletes the counters whose window started before `before` (they count nothing any more;
    /// without this, a caller trying from ever new addresses would grow the table for ever).
    /// Returns how many.
    async fn purge_password_attempts(&self, before: i64) -> Result<u64>;
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
    /// An accepted code: [`MfaDevices::advance_mfa_sync`] and, only if that succeeded,
    /// [`MfaDevices::clear_mfa_failures`], in one transaction (a sign-in's writes are its cost on a
    /// database reached over the network).
    async fn accept_mfa_code(&self, serial: &str, user_id: &str, seen_last_step: i64, sync: DeviceSync) -> Result<()>;
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
    /// Reserves one code check for `user_id` before the code is evaluated, in one transaction
    /// ([`ThrottleState::reserve`]): `None` while the user is locked (nothing changes), otherwise
    /// the new state, with this attempt already charged as a failure. A success clears it with
    /// [`MfaDevices::clear_mfa_failures`]. Concurrent reservations on any node queue up, so at
    /// most `policy.max_failures` are granted before the lock.
    async fn reserve_mfa_attempt(
        &self,
        user_id: &str,
        policy: &ThrottlePolicy,
        now: i64,
    ) -> Result<Option<ThrottleState>>;
    /// Charges one failure unconditionally (also while locked).
    async fn record_mfa_failure(&self, user_id: &str, policy: &ThrottlePolicy, now: i64) -> Result<ThrottleState>;
    async fn clear_mfa_failures(&self, user_id: &str) -> Result<()>;
    /// An administrator's unlock of the user named `user_name` (case-insensitively): its failure
    /// count, lock and lock doubling are cleared in one transaction, which returns what they
    /// were (the default state when there was nothing to clear). `NotFound(User)`.
    async fn unlock_mfa(&self, account_id: &str, user_name: &str) -> Result<ThrottleState>;
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
    /// Ends every console session of a user, whatever its state (signed in or awaiting MFA);
    /// returns how many. Used when the user's password changes or an MFA device is deactivated.
    async fn delete_console_sessions_of_user(&self, user_id: &str) -> Result<u64>;
    /// Drops console sessions that expired before `now`; returns how many.
    async fn purge_expired_console_sessions(&self, now: i64) -> Result<u64>;
}

/// The audit trail: every console sign-in and MFA check, success or failure (`auth_events`),
/// and every change made through the API or the console and every refused call
/// (`change_events`).
#[async_trait]
pub trait Audit: Send + Sync + 'static {
    async fn record_auth_event(&self, event: &AuthEvent) -> Result<()>;
    /// The newest events the query selects, newest first.
    async fn auth_events(&self, query: &AuthEventQuery) -> Result<Vec<AuthEvent>>;
    async fn record_change_event(&self, event: &ChangeEvent) -> Result<()>;
    /// The newest change events the query selects (its user as the caller or as the target),
    /// newest first.
    async fn change_events(&self, query: &AuthEventQuery) -> Result<Vec<ChangeEvent>>;
}

/// Which audit events to read: an account's, at or after `since` (Unix seconds), of one user
/// name (compared without regard to case, as IAM names are) when given, `limit` at most. For
/// change events the user is the caller's or the target's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthEventQuery {
    pub account_id: String,
    pub since: i64,
    pub user_name: Option<String>,
    pub limit: u32,
}

impl AuthEventQuery {
    /// The account's newest `limit` events.
    pub fn newest(account_id: &str, limit: u32) -> Self {
        Self { account_id: account_id.to_owned(), since: i64::MIN, user_name: None, limit }
    }
}

/// Groups, managed policies (customer and AWS managed, their versions and tags), inline policies
/// of users and groups, attachments, and users' permissions boundaries.
///
/// Group and managed-policy names are unique per account without regard to case, and every
/// lookup by name is case-insensitive; so are inline policy names within their user or group (a
/// put with another spelling replaces the policy and keeps the new spelling). Documents are kept
/// as the text given; the store never parses them. Managed policies are addressed by ARN; a
/// policy is visible to an account (to attach, use as a boundary, read with `get_policy`) when
/// it is the account's own or AWS managed. Attachment and boundary counts are computed from the
/// attachments themselves, within the asking account.
#[async_trait]
pub trait Policies: Send + Sync + 'static {
    // Groups.
    /// `AlreadyExists(Group)` for a taken name (case-insensitively), `LimitExceeded` when the
    /// account has `max_in_account` groups already.
    async fn create_group(&self, group: &Group, max_in_account: u32) -> Result<()>;
    async fn get_group(&self, account_id: &str, name: &str) -> Result<Option<Group>>;
    /// Ordered by lower-cased name; `Page::after` is a lower-cased name; up to `limit + 1`.
    async fn list_groups(&self, account_id: &str, path_prefix: &str, page: &Page) -> Result<Vec<Group>>;
    /// `NotFound(Group)`, or `AlreadyExists(Group)` when renaming onto a taken name.
    async fn update_group(
        &self,
        account_id: &str,
        name: &str,
        new_name: Option<&str>,
        new_path: Option<&str>,
    ) -> Result<()>;
    /// `NotFound(Group)`; `DeleteConflict` while users (`Members`), inline policies (`Policies`)
    /// or attached policies (`Attachments`) remain, checked in that order (AWS's cleanup order).
    async fn delete_group(&self, account_id: &str, name: &str) -> Result<()>;
    /// Idempotent (a member already is fine, whatever the quota). `NotFound(Group)`,
    /// `NotFound(User)`, or `LimitExceeded` when the user is in `max_groups_per_user` groups.
    async fn add_user_to_group(
        &self,
        account_id: &str,
        group_name: &str,
        user_name: &str,
        max_groups_per_user: u32,
    ) -> Result<()>;
    /// `NotFound(Group)`, `NotFound(User)`; a user who is not in the group is `NotFound(User)`.
    async fn remove_user_from_group(&self, account_id: &str, group_name: &str, user_name: &str) -> Result<()>;
    /// The group's users ordered by lower-cased name (without tags); `NotFound(Group)`.
    async fn list_group_members(&self, account_id: &str, group_name: &str) -> Result<Vec<User>>;
    /// The user's groups ordered by lower-cased name; `NotFound(User)`.
    async fn list_groups_for_user(&self, account_id: &str, user_name: &str) -> Result<Vec<Group>>;

    // Managed policies.
    /// Creates the policy with `v1` as its default version. `AlreadyExists(Policy)` for a name
    /// taken in the account (case-insensitively, whatever the path), `LimitExceeded` when the
    /// account has `max_in_account` customer managed policies already.
    async fn create_policy(&self, policy: &NewManagedPolicy, max_in_account: u32) -> Result<ManagedPolicy>;
    /// The policy with its tags and counts within `account_id`, if it is visible to that account
    /// (its own or AWS managed).
    async fn get_policy(&self, account_id: &str, arn: &str) -> Result<Option<ManagedPolicy>>;
    /// Policies visible to the account in `scope`, attached within the account if `only_attached`,
    /// whose path starts with `path_prefix`. Ordered by [`ManagedPolicy::page_key`] (lower-cased
    /// name, then account); `Page::after` is a page key; up to `limit + 1`; tags are left empty.
    async fn list_policies(
        &self,
        account_id: &str,
        scope: PolicyScope,
        only_attached: bool,
        path_prefix: &str,
        page: &Page,
    ) -> Result<Vec<ManagedPolicy>>;
    /// `NotFound(Policy)`; `DeleteConflict(Attachments)` while attached to a user or group or used
    /// as a permissions boundary (in any account), then `DeleteConflict(Versions)` while versions
    /// other than the default remain. Takes the policy's tags along.
    async fn delete_policy(&self, arn: &str) -> Result<()>;
    /// Adds the next version (`vN`, numbers never reused) and makes it the default if
    /// `set_as_default`; the policy's `updated_at` becomes `now`. `NotFound(Policy)`, or
    /// `LimitExceeded` when the policy has `max_versions` versions already (nothing is written).
    async fn create_policy_version(
        &self,
        arn: &str,
        document: &str,
        set_as_default: bool,
        now: i64,
        max_versions: usize,
    ) -> Result<PolicyVersion>;
    /// `NotFound(Policy)` or `NotFound(PolicyVersion)`.
    async fn get_policy_version(&self, arn: &str, version_id: &str) -> Result<PolicyVersion>;
    /// Newest first (as AWS lists them); `NotFound(Policy)`.
    async fn list_policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersion>>;
    /// `NotFound(Policy)`, `NotFound(PolicyVersion)`, or `DeleteConflict(DefaultVersion)`.
    async fn delete_policy_version(&self, arn: &str, version_id: &str) -> Result<()>;
    /// `NotFound(Policy)` or `NotFound(PolicyVersion)`; setting the current default is a no-op.
    async fn set_default_policy_version(&self, arn: &str, version_id: &str) -> Result<()>;
    /// Adds or overwrites tags like `tag_user`; `NotFound(Policy)`, or `LimitExceeded` (nothing
    /// written) if the policy would carry more than `max`.
    async fn tag_policy(&self, arn: &str, tags: &[Tag], max: usize) -> Result<()>;
    /// Removes the tags with these keys (case-insensitively); `NotFound(Policy)`.
    async fn untag_policy(&self, arn: &str, keys: &[String]) -> Result<()>;
    /// Ordered by key (case-insensitively); `NotFound(Policy)`.
    async fn policy_tags(&self, arn: &str) -> Result<Vec<Tag>>;
    /// Creates the AWS managed policy `arn:aws:iam::aws:policy{path}{name}` with `document` as
    /// its default `v1` if it does not exist; if it does, brings its description and default
    /// version's document up to date (so a newer iamd can ship newer text). Its policy id is
    /// derived from the ARN, so every node and every start agrees. Returns the policy.
    async fn ensure_aws_managed_policy(
        &self,
        name: &str,
        path: &str,
        description: Option<&str>,
        document: &str,
        now: i64,
    ) -> Result<ManagedPolicy>;

    // Inline policies, attachments and boundaries of users, groups and roles.
    /// Adds the inline policy or replaces the one of the same name. `NotFound(User|Group|Role)`,
    /// or `LimitExceeded` (nothing written) when the holder's inline documents would exceed
    /// `max_total_chars` in total, counted with [`policy_size`].
    async fn put_inline_policy(
        &self,
        account_id: &str,
        holder: Holder,
        holder_name: &str,
        policy_name: &str,
        document: &str,
        max_total_chars: usize,
    ) -> Result<()>;
    /// `NotFound(User|Group|Role)` or `NotFound(InlinePolicy)`.
    async fn get_inline_policy(
        &self,
        account_id: &str,
        holder: Holder,
        holder_name: &str,
        policy_name: &str,
    ) -> Result<InlinePolicy>;
    /// The names, ordered without regard to case; `NotFound(User|Group|Role)`.
    async fn list_inline_policies(&self, account_id: &str, holder: Holder, holder_name: &str) -> Result<Vec<String>>;
    /// `NotFound(User|Group|Role)` or `NotFound(InlinePolicy)`.
    async fn delete_inline_policy(
        &self,
        account_id: &str,
        holder: Holder,
        holder_name: &str,
        policy_name: &str,
    ) -> Result<()>;
    /// Idempotent (attached already is fine, whatever the quota). `NotFound(User|Group|Role)`,
    /// `NotFound(Policy)` (also for a policy of another account), or `LimitExceeded` when the
    /// holder has `max_attached` policies attached already.
    async fn attach_policy(
        &self,
        account_id: &str,
        holder: Holder,
        holder_name: &str,
        arn: &str,
        max_attached: u32,
    ) -> Result<()>;
    /// `NotFound(User|Group|Role)`, or `NotFound(Policy)` when that policy is not attached.
    async fn detach_policy(&self, account_id: &str, holder: Holder, holder_name: &str, arn: &str) -> Result<()>;
    /// Ordered by policy name (case-insensitively), then ARN; `NotFound(User|Group|Role)`.
    async fn list_attached_policies(
        &self,
        account_id: &str,
        holder: Holder,
        holder_name: &str,
    ) -> Result<Vec<AttachedPolicy>>;
    /// The account's users, groups and roles the policy is attached to; `NotFound(Policy)`
    /// unless the policy is visible to the account.
    async fn list_entities_for_policy(&self, account_id: &str, arn: &str) -> Result<PolicyEntities>;
    /// Sets (or replaces) the boundary of a user or role (groups have none: `NotFound(Group)`).
    /// `NotFound(User|Role)`, or `NotFound(Policy)` unless the policy exists and is visible to
    /// the account.
    async fn put_permissions_boundary(
        &self,
        account_id: &str,
        holder: Holder,
        holder_name: &str,
        arn: &str,
    ) -> Result<()>;
    /// `NotFound(User|Role)`; a holder without a boundary is fine (nothing to do).
    async fn delete_permissions_boundary(&self, account_id: &str, holder: Holder, holder_name: &str) -> Result<()>;
    /// The boundary's ARN; `NotFound(User|Role)`.
    async fn permissions_boundary(&self, account_id: &str, holder: Holder, holder_name: &str)
    -> Result<Option<String>>;

    /// Every policy that applies to the user (by id), default versions only, read in one
    /// snapshot; `NotFound(User)`. The authorizer calls this on a cache miss.
    async fn effective_policies(&self, account_id: &str, user_id: &str) -> Result<EffectivePolicies>;
}

/// Roles: the role itself with its trust policy and tags. Its inline policies, attachments and
/// boundary are [`Policies`] with [`Holder::Role`]. Names are unique per account without regard
/// to case, and every lookup by name is case-insensitive.
#[async_trait]
pub trait Roles: Send + Sync + 'static {
    /// `AlreadyExists(Role)` for a taken name, `LimitExceeded` when the account has
    /// `max_in_account` roles already; the role's tags and boundary (`NotFound(Policy)` unless
    /// visible to the account) are written with it.
    async fn create_role(&self, role: &Role, max_in_account: u32) -> Result<()>;
    /// The role with its tags and boundary.
    async fn get_role(&self, account_id: &str, name: &str) -> Result<Option<Role>>;
    /// Ordered by lower-cased name; `Page::after` is a lower-cased name; up to `limit + 1`;
    /// without tags or boundary (as ListRoles shows them).
    async fn list_roles(&self, account_id: &str, path_prefix: &str, page: &Page) -> Result<Vec<Role>>;
    /// Sets what is given (`description: Some(None)` clears it). `NotFound(Role)`.
    async fn update_role(
        &self,
        account_id: &str,
        name: &str,
        description: Option<Option<&str>>,
        max_session_duration: Option<i64>,
    ) -> Result<()>;
    /// `NotFound(Role)`.
    async fn update_trust_policy(&self, account_id: &str, name: &str, document: &str) -> Result<()>;
    /// `NotFound(Role)`; `DeleteConflict` while inline policies (`Policies`) or attached
    /// policies (`Attachments`) remain. Takes tags and boundary along; sessions stay.
    async fn delete_role(&self, account_id: &str, name: &str) -> Result<()>;
    /// As `tag_user`: `NotFound(Role)`, or `LimitExceeded` (nothing written) beyond `max`.
    async fn tag_role(&self, account_id: &str, name: &str, tags: &[Tag], max: usize) -> Result<()>;
    async fn untag_role(&self, account_id: &str, name: &str, keys: &[String]) -> Result<()>;
    /// Ordered by key (case-insensitively); `NotFound(Role)`.
    async fn role_tags(&self, account_id: &str, name: &str) -> Result<Vec<Tag>>;
    /// Records that a session of the role (by id) began at `now`; a deleted role is fine.
    async fn record_role_used(&self, role_id: &str, now: i64) -> Result<()>;
    /// What applies to the role's sessions (by role id), read in one snapshot; `NotFound(Role)`
    /// once the role is deleted. The authorizer calls this on a cache miss.
    async fn role_policies(&self, account_id: &str, role_id: &str) -> Result<RolePolicies>;
}
