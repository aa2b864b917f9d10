//! GetAccountSummary.

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
    let entry = vec![
        Entry { key: "AccessKeysPerUserQuota", value: limits.access_keys_per_user.into() },
        Entry { key: "AccountAccessKeysPresent", value: u64::from(counts.root_access_keys > 0) },
        // Root MFA cannot be enabled through the API, and root has no console password here.
        Entry { key: "AccountMFAEnabled", value: 0 },
        Entry { key: "AccountPasswordPresent", value: 0 },
        Entry { key: "MFADevices", value: counts.mfa_devices },
        Entry { key: "MFADevicesInUse", value: counts.mfa_devices_in_use },
        Entry { key: "Users", value: counts.users },
        Entry { key: "UsersQuota", value: limits.users_per_account.into() },
    ];
    ctx.reply(&GetAccountSummaryResult { summary_map: SummaryMap { entry } })
}
