//! Tags on virtual MFA devices: TagMFADevice, UntagMFADevice, ListMFADeviceTags.

use iamd_domain::{ApiError, mfa};
use iamd_store::StoreError;

use super::{Ctx, Reply, tags};
use crate::failure::store_failure;
use crate::wire::params::Params;

fn device_error(serial: &str) -> impl Fn(StoreError) -> ApiError + '_ {
    move |e| match e {
        StoreError::NotFound(_) => ApiError::no_such_mfa_device(serial),
        StoreError::LimitExceeded => ApiError::quota("TagsPerMFADevice", mfa::MAX_TAGS_PER_DEVICE as u32),
        other => store_failure(other),
    }
}

pub async fn tag_mfa_device(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let serial = p.required("SerialNumber")?;
    let tags = p.tags("Tags");
    tags::reject_duplicate_keys(&tags)?;
    ctx.app
        .store
        .tag_mfa_device(ctx.account(), serial, &tags, mfa::MAX_TAGS_PER_DEVICE)
        .await
        .map_err(device_error(serial))?;
    Ok(None)
}

pub async fn untag_mfa_device(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let serial = p.required("SerialNumber")?;
    let keys: Vec<String> = p.list("TagKeys").into_iter().map(str::to_owned).collect();
    ctx.app.store.untag_mfa_device(ctx.account(), serial, &keys).await.map_err(device_error(serial))?;
    Ok(None)
}

pub async fn list_mfa_device_tags(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let serial = p.required("SerialNumber")?;
    let tags = ctx.app.store.mfa_device_tags(ctx.account(), serial).await.map_err(device_error(serial))?;
    tags::list_reply(ctx, p, "mfa-device-tags", tags)
}
