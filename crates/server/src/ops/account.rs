//! GetAccountSummary.

use iamd_policy::limits::MANAGED_POLICY_SIZE;
use serde::Serialize;

use super::{Ctx, Reply};
use crate::failure::store_failure;
use crate::wire::params::Params;

#[derive(Serialize)]
struct Entry {
    key: &'static str,
    value: u64,
}

#[derive(Serialize)]
struct SummaryMap {
    entry: Vec<Entry>,
}

#[derive(Serialize)]
struct GetAccountSummaryResult {
    #[serde(rename = "SummaryMap")]
    summary_map: SummaryMap,
}

pub async fn get_account_summary(ctx: &Ctx<'_>, _: &Params) -> Reply {
    let counts = ctx.app.store.account_counts(ctx.account()).await.map_err(store_failure)?;
    let limits = &ctx.app.limits;
    let u64_of = |n: usize| n as u64;
    // In key order, as AWS lists them.
    let entry = vec![
        Entry { key: "AccessKeysPerUserQuota", value: limits.access_keys_per_user.into() },
        Entry { key: "AccountAccessKeysPresent", value: u64::from(counts.root_access_keys > 0) },
        // Root MFA cannot be enabled through the API, and root has no console password here.
        Entry { key: "AccountMFAEnabled", value: 0 },
        Entry { key: "AccountPasswordPresent", value: 0 },
        Entry { key: "AssumeRolePolicySizeQuota", value: u64_of(limits.trust_policy_chars) },
        Entry { key: "AttachedPoliciesPerGroupQuota", value: limits.policies_per_group.into() },
        Entry { key: "AttachedPoliciesPerRoleQuota", value: limits.policies_per_role.into() },
        Entry { key: "AttachedPoliciesPerUserQuota", value: limits.policies_per_user.into() },
        Entry { key: "GroupPolicySizeQuota", value: u64_of(limits.group_inline_policy_chars) },
        Entry { key: "Groups", value: counts.groups },
        Entry { key: "GroupsPerUserQuota", value: limits.groups_per_user.into() },
        Entry { key: "GroupsQuota", value: limits.groups_per_account.into() },
        Entry { key: "MFADevices", value: counts.mfa_devices },
        Entry { key: "MFADevicesInUse", value: counts.mfa_devices_in_use },
        Entry { key: "Policies", value: counts.policies },
        Entry { key: "PoliciesQuota", value: limits.policies_per_account.into() },
        Entry { key: "PolicySizeQuota", value: u64_of(MANAGED_POLICY_SIZE) },
        Entry { key: "PolicyVersionsInUse", value: counts.policy_versions_in_use },
        Entry { key: "RolePolicySizeQuota", value: u64_of(limits.role_inline_policy_chars) },
        Entry { key: "Roles", value: counts.roles },
        Entry { key: "RolesQuota", value: limits.roles_per_account.into() },
        Entry { key: "UserPolicySizeQuota", value: u64_of(limits.user_inline_policy_chars) },
        Entry { key: "Users", value: counts.users },
        Entry { key: "UsersQuota", value: limits.users_per_account.into() },
        Entry { key: "VersionsPerPolicyQuota", value: u64_of(limits.versions_per_policy) },
    ];
    ctx.reply(&GetAccountSummaryResult { summary_map: SummaryMap { entry } })
}
