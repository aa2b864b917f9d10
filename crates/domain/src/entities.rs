//! The records iamd keeps: users, their credentials, MFA devices, sessions and the audit trail.
//!
//! Plain data, free of storage and HTTP: the store persists them (`iamd-store`), the operations
//! layer turns them into AWS responses. Times are Unix seconds; secrets arrive and leave sealed
//! (see [`crate::sealing`]) or hashed, never in the clear.

use crate::totp::DeviceSync;

/// A key/value tag on a user or an MFA device. Keys compare case-insensitively.
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
    pub fn as_str(self) -> &'static str {
        match self {
            ConsoleState::AwaitingMfa => "awaiting_mfa",
            ConsoleState::SignedIn => "signed_in",
        }
    }

    pub fn parse(s: &str) -> Self {
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
