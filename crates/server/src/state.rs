//! What every request handler shares: the store, the master key, the clock, the quotas, the
//! MFA throttle policy and the credential cache. Built once at start-up (`config::prepare`, or a
//! test harness) and passed down as `Arc<App>`.

use std::sync::Arc;

use iamd_domain::Clock;
use iamd_domain::sealing::MasterKey;
use iamd_domain::throttle::ThrottlePolicy;
use iamd_store::Store;

use crate::credential_cache::CredentialCache;

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
        }
    }
}

pub struct App {
    pub store: Arc<dyn Store>,
    pub master_key: MasterKey,
    pub clock: Arc<dyn Clock>,
    pub limits: Limits,
    pub throttle: ThrottlePolicy,
    /// Recently used credentials (see `credential_cache`).
    pub credentials: CredentialCache,
}

impl App {
    pub fn now_unix(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }
}
