//! Who is making a request, once authentication has decided it: the principal, the account, the
//! credentials used and, for temporary credentials, what the session carries. Every layer above
//! authentication reads this; nothing here talks to the store.

use iamd_domain::entities::{SessionTag, User};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use iamd_domain::{ApiError, ids};
use iamd_policy::Policy;

/// The authenticated principal of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account_id: String,
    pub access_key_id: String,
    pub principal: Principal,
    /// Set when the request was signed with STS session credentials.
    pub session: Option<SessionInfo>,
    /// The IAM policies that apply to the caller, compiled once when its credentials were
    /// resolved (and cached with them). Empty for root, which policies do not restrict.
    pub permissions: Arc<Permissions>,
}

/// Every policy that applies to an IAM user (its inline and attached policies and those of each
/// of its groups) or a role session (the role's policies), its permissions boundary, and a role
/// session's session policies (none: not restricted by any).
#[derive(Debug, Default)]
pub struct Permissions {
    pub identity: Vec<Policy>,
    pub boundary: Option<Policy>,
    pub session: Vec<Policy>,
    /// Decisions already taken with exactly these policies (see `authz::decide`): they live and
    /// die with them, so a policy change (which replaces the cached credentials) forgets them.
    pub decisions: DecisionMemo,
}

/// A remembered decision: `None` allows, `Some` denies with AWS's reason.
type Remembered = Option<Box<str>>;

/// Authorization decisions by a key `authz` builds from everything a decision depends on
/// besides the policies themselves; `None` is an allow, `Some` a deny with AWS's reason.
/// Bounded: when full it starts over.
#[derive(Debug, Default)]
pub struct DecisionMemo {
    /// Which inputs that change from request to request the policies read (computed once).
    pub inputs_read: OnceLock<u8>,
    taken: Mutex<HashMap<Box<[u8]>, Remembered>>,
}

impl DecisionMemo {
    const CAPACITY: usize = 256;

    pub fn get(&self, key: &[u8]) -> Option<Remembered> {
        self.lock().get(key).cloned()
    }

    pub fn put(&self, key: Box<[u8]>, decision: Remembered) {
        let mut taken = self.lock();
        if taken.len() >= Self::CAPACITY {
            taken.clear();
        }
        taken.insert(key, decision);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<[u8]>, Remembered>> {
        // The map holds only finished entries: one a panicking thread was inserting is harmless.
        self.taken.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What a session carries into authorization (`aws:MultiFactorAuthPresent`,
/// `aws:MultiFactorAuthAge`, `aws:TokenIssueTime`).
#[derive(Debug, Clone, Copy)]
pub struct SessionInfo {
    pub issued_at: i64,
    pub expires_at: i64,
    pub mfa_authenticated_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub enum Principal {
    /// The account's root credentials: allowed everything in the account.
    Root,
    /// An IAM user signing with its own access key (or a session issued to it).
    User(User),
    /// A session of a role (STS AssumeRole).
    AssumedRole(AssumedRole),
}

/// A role session as a principal: the role as the session began, the session's name, its
/// session tags, and its principal tags (`aws:PrincipalTag/*`: the role's tags, overridden by
/// session tags of the same key).
#[derive(Debug, Clone)]
pub struct AssumedRole {
    pub role_id: String,
    pub role_name: String,
    pub session_name: String,
    pub source_identity: Option<String>,
    pub session_tags: Vec<SessionTag>,
    pub tags: Vec<(String, String)>,
}

impl Caller {
    pub fn arn(&self) -> String {
        match &self.principal {
            Principal::Root => ids::root_arn(&self.account_id),
            Principal::User(u) => ids::user_arn(&self.account_id, &u.path, &u.name),
            Principal::AssumedRole(r) => ids::assumed_role_arn(&self.account_id, &r.role_name, &r.session_name),
        }
    }

    /// The caller's unique id as GetCallerIdentity and `aws:userid` give it: the account for
    /// root, the user id, or `ROLE_ID:SESSION_NAME` for a role session.
    pub fn user_id(&self) -> String {
        match &self.principal {
            Principal::Root => self.account_id.clone(),
            Principal::User(u) => u.user_id.clone(),
            Principal::AssumedRole(r) => format!("{}:{}", r.role_id, r.session_name),
        }
    }

    pub fn user(&self) -> Option<&User> {
        match &self.principal {
            Principal::User(u) => Some(u),
            Principal::Root | Principal::AssumedRole(_) => None,
        }
    }

    pub fn is_root(&self) -> bool {
        matches!(self.principal, Principal::Root)
    }

    /// Whether `name` is the calling IAM user (user names compare without regard to case).
    pub fn is_user_named(&self, name: &str) -> bool {
        self.user().is_some_and(|u| u.name.eq_ignore_ascii_case(name))
    }

    /// The user an operation with an optional `UserName` is about: the one named, or the calling
    /// user itself. Root credentials must name a user (iamd has no AssumeRoot).
    pub fn target_user_name(&self, given: Option<&str>) -> Result<String, ApiError> {
        match (given, self.user()) {
            (Some(name), _) => Ok(name.to_owned()),
            (None, Some(user)) => Ok(user.name.clone()),
            (None, None) => Err(ApiError::validation("Must specify userName when calling with non-User credentials")),
        }
    }

    /// The ARN of the user called `name`, as authorization names it: the caller's own ARN (with
    /// its path) when `name` is the caller, otherwise the name on the root path (the path of
    /// another user is not looked up before authorization).
    pub fn user_resource(&self, name: &str) -> String {
        match self.user() {
            Some(u) if u.name.eq_ignore_ascii_case(name) => ids::user_arn(&self.account_id, &u.path, &u.name),
            _ => ids::user_arn(&self.account_id, "/", name),
        }
    }
}
