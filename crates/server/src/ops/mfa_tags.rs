//! Tags on virtual MFA devices: TagMFADevice, UntagMFADevice, ListMFADeviceTags.

use iamd_domain::{ApiError, mfa};
use iamd_store::StoreError;
use serde::Serialize;

use super::{Ctx, Reply, pagination, reject_duplicate_tag_keys};
use crate::failure::store_failure;
use crate::wire::params::Params;
use crate::wire::shapes::{Members, Tag, Truncation};

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
    reject_duplicate_tag_keys(&tags)?;
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

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListMfaDeviceTagsResult {
    tags: Members<Tag>,
    is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

pub async fn list_mfa_device_tags(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let serial = p.required("SerialNumber")?;
    let page = pagination::page(p, "mfa-device-tags")?;
    let tags = ctx.app.store.mfa_device_tags(ctx.account(), serial).await.map_err(device_error(serial))?;
    let (tags, Truncation { is_truncated, marker }) =
        pagination::in_memory(tags, &page, "mfa-device-tags", |t| t.key.to_lowercase());
    ctx.reply(&ListMfaDeviceTagsResult {
        tags: tags.into_iter().map(Tag::from).collect::<Vec<_>>().into(),
        is_truncated,
        marker,
    })
}
