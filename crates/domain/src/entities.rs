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
    /// The permissions boundary's ARN: written by `create_user`, read by `get_user` (other
    /// reads leave it out; see `Policies::permissions_boundary`).
    pub permissions_boundary: Option<String>,
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
    /// The first use in the latest 15-minute span it was used in (GetAccessKeyLastUsed).
    pub last_used: Option<KeyUse>,
}

/// When, for which service and in which region an access key signed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUse {
    pub at: i64,
    pub service: String,
    pub region: String,
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
    /// When the password was last set (at creation, by UpdateLoginProfile or ChangePassword).
    pub password_changed_at: i64,
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
    /// Set for sessions AssumeRole opened (then `user` is `None`).
    pub role: Option<RoleSession>,
}

/// What a role session carries besides its credentials: the role as it was when the session
/// began (a session outlives its role), the session's name, and its session policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSession {
    pub role_id: String,
    pub role_name: String,
    pub session_name: String,
    /// The session policies' documents: AssumeRole's `Policy` first, then each of its
    /// `PolicyArns` as it read when the session began. Empty: no session policy.
    pub session_policies: Vec<String>,
    pub source_identity: Option<String>,
    /// Session tags (AssumeRole's `Tags`, and the transitive tags of the session that assumed
    /// the role): the session's `aws:PrincipalTag/*`, over the role's tags of the same key.
    pub tags: Vec<SessionTag>,
}

/// A session tag; a transitive one passes on to the sessions this session opens (role chaining).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTag {
    pub key: String,
    pub value: String,
    pub transitive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleState {
    /// The password was right; a code from an MFA device is still needed.
    AwaitingMfa,
    /// The password was right, the account requires an MFA device and the user has none: it must
    /// assign one before anything else.
    AwaitingEnrolment,
    SignedIn,
}

impl ConsoleState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsoleState::AwaitingMfa => "awaiting_mfa",
            ConsoleState::AwaitingEnrolment => "awaiting_enrolment",
            ConsoleState::SignedIn => "signed_in",
        }
    }

    /// Anything unknown reads as awaiting the code, which grants nothing.
    pub fn parse(s: &str) -> Self {
        match s {
            "signed_in" => ConsoleState::SignedIn,
            "awaiting_enrolment" => ConsoleState::AwaitingEnrolment,
            _ => ConsoleState::AwaitingMfa,
        }
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

/// One IAM or STS call in the audit trail: a change that succeeded, or any call refused with
/// `AccessDenied`. Names what was asked of what, never a secret, password, seed, code or policy
/// document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEvent {
    pub at: i64,
    pub account_id: String,
    /// The `x-amzn-RequestId` the client got (the `request` log line's id).
    pub request_id: String,
    pub caller_arn: String,
    /// The calling IAM user's name (also for its sessions and the console); none for root and
    /// role sessions.
    pub caller_user: Option<String>,
    /// The policy action, e.g. `iam:EnableMFADevice`.
    pub action: String,
    /// The identifying parameters of the request, e.g. `UserName=alice SerialNumber=arn:…`.
    pub target: String,
    /// The user the call is about: its `UserName`, or the caller itself for the operations on
    /// one's own user that take no name.
    pub target_user: Option<String>,
    /// The client's address.
    pub source: String,
    /// `api` or `console`.
    pub origin: String,
    /// `success` or `denied`.
    pub outcome: String,
}

/// Counts for GetAccountSummary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountCounts {
    pub users: u64,
    pub mfa_devices: u64,
    pub mfa_devices_in_use: u64,
    pub root_access_keys: u64,
    pub groups: u64,
    /// Customer managed policies.
    pub policies: u64,
    /// Managed-policy attachments to the account's users, groups and roles (`PolicyVersionsInUse`).
    pub policy_versions_in_use: u64,
    pub roles: u64,
}

/// An IAM role. Names are unique per account without regard to case; the trust policy is kept
/// as the text given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub account_id: String,
    pub role_id: String,
    pub name: String,
    pub path: String,
    pub trust_policy: String,
    pub description: Option<String>,
    /// Seconds, 3600–43200.
    pub max_session_duration: i64,
    pub created_at: i64,
    /// When a session of the role was last opened.
    pub last_used_at: Option<i64>,
    /// The boundary's ARN (filled by `get_role`; list results leave it out, as AWS does).
    pub permissions_boundary: Option<String>,
    pub tags: Vec<Tag>,
}

/// An IAM group. Names are unique per account without regard to case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub account_id: String,
    pub group_id: String,
    pub name: String,
    pub path: String,
    pub created_at: i64,
}

/// The `account_id` of AWS managed policies (their ARNs read `arn:aws:iam::aws:policy/…`).
pub const AWS_MANAGED_ACCOUNT: &str = "aws";

/// A managed policy: customer managed (`account_id` is the account's) or AWS managed
/// (`account_id` is [`AWS_MANAGED_ACCOUNT`]). `attachment_count` and `boundary_usage_count` are
/// counted within the account that asks (an AWS managed policy is shared by every account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedPolicy {
    pub arn: String,
    pub account_id: String,
    pub policy_id: String,
    pub name: String,
    pub path: String,
    pub description: Option<String>,
    /// `v1`, `v2`, …
    pub default_version_id: String,
    pub attachment_count: u32,
    pub boundary_usage_count: u32,
    pub created_at: i64,
    /// When the newest version was created (the creation time while there is one version).
    pub updated_at: i64,
    pub tags: Vec<Tag>,
}

impl ManagedPolicy {
    /// The key `list_policies` pages by: the lower-cased name, a space, the owning account.
    /// A page's `Page::after` is the `page_key` of the last policy of the page before.
    pub fn page_key(&self) -> String {
        format!("{} {}", self.name.to_lowercase(), self.account_id)
    }

    /// The policy id of an AWS managed policy: `ANPA` and 17 base-32 characters derived from the
    /// ARN, so every node (and every start) gives a policy the same id.
    pub fn aws_policy_id(arn: &str) -> String {
        const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        // Two FNV-1a hashes with different offsets: 128 bits, of which 85 are used.
        let fnv = |offset: u64| arn.bytes().fold(offset, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
        let bits = (u128::from(fnv(0xcbf2_9ce4_8422_2325)) << 64) | u128::from(fnv(0x6c62_272e_07bb_0142));
        let tail: String = (0..17).map(|i| char::from(ALPHABET[((bits >> (i * 5)) & 31) as usize])).collect();
        format!("ANPA{tail}")
    }
}

/// What `create_policy` takes: the policy and its first version's document (which becomes `v1`,
/// the default). The store derives the ARN with `ids::policy_arn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewManagedPolicy {
    pub account_id: String,
    pub policy_id: String,
    pub name: String,
    pub path: String,
    pub description: Option<String>,
    pub document: String,
    pub created_at: i64,
    pub tags: Vec<Tag>,
}

/// One version of a managed policy. The document is kept as the text it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    /// `v1`, `v2`, …; never reused within a policy.
    pub version_id: String,
    pub document: String,
    pub is_default: bool,
    pub created_at: i64,
}

/// Which managed policies `list_policies` returns (ListPolicies `Scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyScope {
    All,
    /// AWS managed policies only.
    Aws,
    /// The account's customer managed policies only.
    Local,
}

/// An inline policy embedded in a user or group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlinePolicy {
    pub name: String,
    pub document: String,
}

/// A managed policy attached to a user or group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedPolicy {
    pub name: String,
    pub arn: String,
}

/// What uses a managed policy (ListEntitiesForPolicy): the users, groups and roles it is attached
/// to or is the permissions boundary of, each ordered by name without regard to case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyEntities {
    pub users: Vec<PolicyUse>,
    pub groups: Vec<PolicyUse>,
    pub roles: Vec<PolicyUse>,
}

/// One entity using a managed policy, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyUse {
    pub name: String,
    pub id: String,
    pub path: String,
    /// Attached as a permissions policy.
    pub attached: bool,
    /// Its permissions boundary (users and roles).
    pub boundary: bool,
}

/// Everything that applies to a user, as the authorizer needs it: managed policies as
/// `(arn, document of the default version)`; groups as `(group name, inline, managed)`.
/// Inline policies are ordered by name, managed ones by name then ARN, groups by name (all
/// without regard to case).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EffectivePolicies {
    /// The user's tags (its `aws:PrincipalTag/*`), ordered by key.
    pub tags: Vec<Tag>,
    pub user_inline: Vec<InlinePolicy>,
    pub user_managed: Vec<ManagedDocument>,
    pub groups: Vec<GroupPolicies>,
    pub boundary: Option<ManagedDocument>,
}

/// Everything that applies to a role's sessions (besides their session policies): inline
/// policies by name, managed ones by name then ARN, the boundary, and the role's tags (its
/// sessions' `aws:PrincipalTag/*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolePolicies {
    pub tags: Vec<Tag>,
    pub inline: Vec<InlinePolicy>,
    pub managed: Vec<ManagedDocument>,
    pub boundary: Option<ManagedDocument>,
}

/// A managed policy as it applies: `(arn, document of the default version)`.
pub type ManagedDocument = (String, String);

/// A group's policies as they apply to its members: `(group name, inline, managed)`.
pub type GroupPolicies = (String, Vec<InlinePolicy>, Vec<ManagedDocument>);

/// A policy document's size as AWS counts it for quotas: characters, whitespace excluded.
pub fn policy_size(document: &str) -> usize {
    document.chars().filter(|c| !c.is_whitespace()).count()
}
