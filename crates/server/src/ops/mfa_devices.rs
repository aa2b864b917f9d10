//! Virtual MFA devices: create, enable (associate), resync, deactivate, delete, list, get.
//!
//! The TOTP rules are `iamd_domain::totp`'s; this module sequences them with the store so each
//! state change is one conditional write (spec README §1, aws-iam-mfa.md §3).

use data_encoding::BASE64;
use iamd_domain::entities::{AssignmentFilter, MfaDevice, NewMfaDevice};
use iamd_domain::totp;
use iamd_domain::totp::DeviceSync;
use iamd_domain::{ApiError, ErrorCode, ids, mfa};
use iamd_store::{Entity, StoreError};
use serde::Serialize;

use super::users::load_user;
use super::{Ctx, Reply, pagination, tags};
use crate::auth::mfa::device_key;
use crate::failure::{off_runtime, store_failure};
use crate::wire::params::Params;
use crate::wire::shapes::{self, Members, Tag, Truncation, timestamp};
use crate::wire::xml;

fn in_use() -> ApiError {
    ApiError::new(ErrorCode::EntityAlreadyExists, "MFA Device is already in use.")
}

pub async fn load_device(ctx: &Ctx<'_>, serial: &str) -> Result<MfaDevice, ApiError> {
    ctx.app
        .store
        .get_mfa_device(ctx.account(), serial)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| ApiError::no_such_mfa_device(serial))
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CreatedDevice {
    serial_number: String,
    base32_string_seed: String,
    #[serde(rename = "QRCodePNG")]
    qr_code_png: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Members<Tag>>,
}

#[derive(Serialize)]
struct CreateVirtualMfaDeviceResult {
    #[serde(rename = "VirtualMFADevice")]
    device: CreatedDevice,
}

pub async fn create_virtual_mfa_device(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let name = p.required("VirtualMFADeviceName")?;
    let path = p.get("Path").unwrap_or("/");
    // Authorization checked its length (it is the resource).
    let serial = ids::mfa_arn(ctx.account(), path, name);
    let tags = p.tags("Tags");
    tags::reject_duplicate_keys(&tags)?;

    let seed = mfa::generate_seed();
    let device = NewMfaDevice {
        seed_sealed: ctx.app.master_key.seal(&seed, &serial),
        serial: serial.clone(),
        account_id: ctx.account().to_owned(),
        path: path.to_owned(),
        name: name.to_owned(),
        created_at: ctx.now_unix(),
        tags: tags.clone(),
    };
    let limit = ctx.app.limits.mfa_devices_per_account;
    match ctx.app.store.create_mfa_device(&device, limit).await {
        Ok(()) => {}
        Err(StoreError::AlreadyExists(_)) => {
            return Err(ApiError::new(ErrorCode::EntityAlreadyExists, "MFA device already exists."));
        }
        Err(StoreError::LimitExceeded) => return Err(ApiError::quota("VirtualMFADevicesPerAccount", limit)),
        Err(e) => return Err(store_failure(e)),
    }
    // The wire carries blobs base64-encoded; the seed blob is the Base32 *text* of the seed.
    let base32 = mfa::base32_seed(&seed);
    let uri = mfa::otpauth_uri(name, ctx.account(), &seed);
    let png = off_runtime(move || mfa::qr_png(&uri)).await?;
    ctx.reply(&CreateVirtualMfaDeviceResult {
        device: CreatedDevice {
            serial_number: serial,
            base32_string_seed: BASE64.encode(base32.as_bytes()),
            qr_code_png: BASE64.encode(&png),
            tags: (!tags.is_empty()).then(|| tags.into_iter().map(Tag::from).collect::<Vec<_>>().into()),
        },
    })
}

pub async fn enable_mfa_device(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let user_name = p.required("UserName")?;
    let serial = p.required("SerialNumber")?;
    load_user(ctx, user_name).await?;
    let device = load_device(ctx, serial).await?;
    if device.assignment.is_some() {
        return Err(in_use());
    }
    let key = device_key(ctx.app, &device)?;
    let sync = find_pair(key, p, ctx.now_unix(), None).await?;
    let limit = ctx.app.limits.mfa_devices_per_user;
    // The store re-checks "unassigned" and the quota inside its transaction: of concurrent
    // enables of one device, exactly one gets past this line.
    match ctx.app.store.assign_mfa_device(ctx.account(), serial, user_name, sync, ctx.now_unix(), limit).await {
        Ok(()) => Ok(None),
        Err(StoreError::DeviceInUse) => Err(in_use()),
        Err(StoreError::LimitExceeded) => Err(ApiError::quota("MFADevicesPerUser", limit)),
        Err(StoreError::NotFound(Entity::User)) => Err(ApiError::no_such_user(user_name)),
        Err(StoreError::NotFound(_)) => Err(ApiError::no_such_mfa_device(serial)),
        Err(e) => Err(store_failure(e)),
    }
}

/// The device, if it is assigned to `user_name`; `NoSuchEntity` otherwise.
async fn users_device(ctx: &Ctx<'_>, user_name: &str, serial: &str) -> Result<MfaDevice, ApiError> {
    let user = load_user(ctx, user_name).await?;
    let device = ctx.app.store.get_mfa_device(ctx.account(), serial).await.map_err(store_failure)?;
    device
        .filter(|d| d.assignment.as_ref().is_some_and(|a| a.user.user_id == user.user_id))
        .ok_or_else(|| ApiError::no_such_mfa_device(serial))
}

pub async fn resync_mfa_device(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let user_name = p.required("UserName")?;
    let serial = p.required("SerialNumber")?;
    let device = users_device(ctx, user_name, serial).await?;
    let assignment = device.assignment.as_ref().expect("users_device returns assigned devices");
    let key = device_key(ctx.app, &device)?;
    let seen = assignment.sync.last_accepted_step;
    let sync = find_pair(key, p, ctx.now_unix(), Some(seen)).await?;
    match ctx.app.store.advance_mfa_sync(serial, &assignment.user.user_id, seen, sync).await {
        Ok(()) => Ok(None),
        // Another request used codes from this device meanwhile; these may be among them.
        Err(StoreError::Conflict) => Err(ApiError::invalid_authentication_code()),
        Err(e) => Err(store_failure(e)),
    }
}

pub async fn deactivate_mfa_device(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let user_name = ctx.target_user_name(p)?;
    let serial = p.required("SerialNumber")?;
    // Looked up before the change: a rename in between makes the change fail, not miss sessions.
    let user = load_user(ctx, &user_name).await?;
    match ctx.app.store.unassign_mfa_device(ctx.account(), &user_name, serial).await {
        // iamd's rule (docs/behaviour.md §4): removing a device (a lost one, say) ends every
        // console session of its user, so nobody signed in with it stays signed in.
        Ok(()) => {
            ctx.app.store.delete_console_sessions_of_user(&user.user_id).await.map_err(store_failure)?;
            Ok(None)
        }
        Err(StoreError::NotFound(Entity::User)) => Err(ApiError::no_such_user(&user_name)),
        Err(StoreError::NotFound(_)) => Err(ApiError::no_such_mfa_device(serial)),
        Err(e) => Err(store_failure(e)),
    }
}

pub async fn delete_virtual_mfa_device(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let serial = p.required("SerialNumber")?;
    match ctx.app.store.delete_mfa_device(ctx.account(), serial).await {
        Ok(()) => Ok(None),
        Err(StoreError::NotFound(_)) => Err(ApiError::no_such_mfa_device(serial)),
        Err(StoreError::DeviceAssigned) => {
            Err(ApiError::new(ErrorCode::DeleteConflict, "Cannot delete entity, must deactivate MFA device first."))
        }
        Err(e) => Err(store_failure(e)),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MfaDeviceShape {
    user_name: String,
    serial_number: String,
    enable_date: String,
}

fn mfa_device_shape(device: MfaDevice) -> Option<MfaDeviceShape> {
    let assignment = device.assignment?;
    Some(MfaDeviceShape {
        user_name: assignment.user.name,
        serial_number: device.serial,
        enable_date: timestamp(assignment.enable_date),
    })
}

/// Enable and Resync: the two codes as a consecutive pair (see `totp::find_consecutive_pair`),
/// searched off the runtime since a miss evaluates the whole 24 h window.
async fn find_pair(
    key: totp::TotpKey,
    p: &Params,
    now: i64,
    last_accepted_step: Option<i64>,
) -> Result<DeviceSync, ApiError> {
    let code1 = p.required("AuthenticationCode1")?.to_owned();
    let code2 = p.required("AuthenticationCode2")?.to_owned();
    off_runtime(move || totp::find_consecutive_pair(&key, &code1, &code2, now, last_accepted_step))
        .await?
        .ok_or_else(ApiError::invalid_authentication_code)
}

#[derive(Serialize)]
struct ListMfaDevicesResult {
    #[serde(rename = "MFADevices")]
    devices: Members<MfaDeviceShape>,
    #[serde(rename = "IsTruncated")]
    is_truncated: bool,
    #[serde(rename = "Marker", skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

pub async fn list_mfa_devices(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let page = pagination::page(p, "mfa-devices")?;
    let devices = if ctx.caller.is_root() && p.get("UserName").is_none() {
        // Root's own devices: root MFA cannot be enabled through the API, so there are none.
        Vec::new()
    } else {
        let user_name = ctx.target_user_name(p)?;
        ctx.app.store.list_user_mfa_devices(ctx.account(), &user_name).await.map_err(|e| match e {
            StoreError::NotFound(_) => ApiError::no_such_user(&user_name),
            other => store_failure(other),
        })?
    };
    let (devices, Truncation { is_truncated, marker }) =
        pagination::in_memory(devices, &page, "mfa-devices", |d| d.serial.clone());
    Ok(Some(list_mfa_devices_result(devices, is_truncated, marker)))
}

/// The `ListMFADevicesResult` element for one page of devices (unassigned ones are left out).
/// Public for `benches/xml.rs`.
pub fn list_mfa_devices_result(devices: Vec<MfaDevice>, is_truncated: bool, marker: Option<String>) -> String {
    let devices = devices.into_iter().filter_map(mfa_device_shape).collect::<Vec<_>>().into();
    xml::element("ListMFADevicesResult", &ListMfaDevicesResult { devices, is_truncated, marker })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct VirtualMfaDeviceShape {
    serial_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<shapes::User>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enable_date: Option<String>,
}

#[derive(Serialize)]
struct ListVirtualMfaDevicesResult {
    #[serde(rename = "VirtualMFADevices")]
    devices: Members<VirtualMfaDeviceShape>,
    #[serde(rename = "IsTruncated")]
    is_truncated: bool,
    #[serde(rename = "Marker", skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

pub async fn list_virtual_mfa_devices(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let filter = match p.get("AssignmentStatus") {
        Some("Assigned") => AssignmentFilter::Assigned,
        Some("Unassigned") => AssignmentFilter::Unassigned,
        _ => AssignmentFilter::Any,
    };
    let page = pagination::page(p, "virtual-mfa-devices")?;
    let devices = ctx.app.store.list_mfa_devices(ctx.account(), filter, &page).await.map_err(store_failure)?;
    let (devices, Truncation { is_truncated, marker }) =
        pagination::finish(devices, &page, "virtual-mfa-devices", |d| d.serial.clone());
    let devices = devices
        .into_iter()
        .map(|d| {
            // Unassigned entries carry only their serial; seeds and tags never appear here.
            let (user, enable_date) = match d.assignment {
                Some(a) => (Some(shapes::User::new(a.user, false)), Some(timestamp(a.enable_date))),
                None => (None, None),
            };
            VirtualMfaDeviceShape { serial_number: d.serial, user, enable_date }
        })
        .collect::<Vec<_>>();
    ctx.reply(&ListVirtualMfaDevicesResult { devices: devices.into(), is_truncated, marker })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetMfaDeviceResult {
    user_name: String,
    serial_number: String,
    enable_date: String,
}

/// AWS documents GetMFADevice for FIDO keys; iamd has virtual devices only and answers for
/// those, with the same fields (no certifications).
pub async fn get_mfa_device(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let user_name = ctx.target_user_name(p)?;
    let serial = p.required("SerialNumber")?;
    let device = users_device(ctx, &user_name, serial).await?;
    let shape = mfa_device_shape(device).ok_or_else(|| ApiError::no_such_mfa_device(serial))?;
    ctx.reply(&GetMfaDeviceResult {
        user_name: shape.user_name,
        serial_number: shape.serial_number,
        enable_date: shape.enable_date,
    })
}
