//! Access keys of IAM users: CreateAccessKey, ListAccessKeys, UpdateAccessKey, DeleteAccessKey,
//! GetAccessKeyLastUsed.

use iamd_domain::entities::{KeyStatus, NewAccessKey};
use iamd_domain::{ApiError, ErrorCode, ids};
use iamd_store::{Entity, StoreError};
use serde::Serialize;

use super::{Ctx, Reply, pagination};
use crate::failure::store_failure;
use crate::wire::params::Params;
use crate::wire::shapes::{Members, Truncation, timestamp};

fn no_such_key(id: &str) -> ApiError {
    ApiError::new(ErrorCode::NoSuchEntity, format!("The Access Key with id {id} cannot be found."))
}

/// Maps a store failure on a (user, key) pair to AWS's answers.
fn key_error(user: &str, key: &str) -> impl Fn(StoreError) -> ApiError {
    move |e| match e {
        StoreError::NotFound(Entity::User) => ApiError::no_such_user(user),
        StoreError::NotFound(_) => no_such_key(key),
        other => store_failure(other),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AccessKey {
    user_name: String,
    access_key_id: String,
    status: &'static str,
    secret_access_key: String,
    create_date: String,
}

#[derive(Serialize)]
struct CreateAccessKeyResult {
    #[serde(rename = "AccessKey")]
    access_key: AccessKey,
}

pub async fn create_access_key(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let user = ctx.target_user_name(p)?;
    let access_key_id = ids::new_access_key_id();
    let secret = ids::new_secret_access_key();
    let key = NewAccessKey {
        secret_sealed: ctx.app.master_key.seal(secret.as_bytes(), &access_key_id),
        access_key_id,
        created_at: ctx.now_unix(),
    };
    let limit = ctx.app.limits.access_keys_per_user;
    let created = match ctx.app.store.create_access_key(ctx.account(), &user, &key, limit).await {
        Ok(created) => created,
        Err(StoreError::LimitExceeded) => return Err(ApiError::quota("AccessKeysPerUser", limit)),
        Err(e) => return Err(key_error(&user, "")(e)),
    };
    ctx.reply(&CreateAccessKeyResult {
        access_key: AccessKey {
            user_name: created.user.map(|u| u.name).unwrap_or(user),
            access_key_id: created.access_key_id,
            status: created.status.as_str(),
            secret_access_key: secret,
            create_date: timestamp(created.created_at),
        },
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AccessKeyMetadata {
    user_name: String,
    access_key_id: String,
    status: &'static str,
    create_date: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListAccessKeysResult {
    access_key_metadata: Members<AccessKeyMetadata>,
    is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

pub async fn list_access_keys(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let user = ctx.target_user_name(p)?;
    let page = pagination::page(p, "access-keys")?;
    let keys = ctx.app.store.list_access_keys(ctx.account(), &user).await.map_err(key_error(&user, ""))?;
    let (keys, Truncation { is_truncated, marker }) =
        pagination::in_memory(keys, &page, "access-keys", |k| k.access_key_id.clone());
    let metadata = keys
        .into_iter()
        .map(|k| AccessKeyMetadata {
            user_name: k.user.map(|u| u.name).unwrap_or_else(|| user.clone()),
            access_key_id: k.access_key_id,
            status: k.status.as_str(),
            create_date: timestamp(k.created_at),
        })
        .collect::<Vec<_>>();
    ctx.reply(&ListAccessKeysResult { access_key_metadata: metadata.into(), is_truncated, marker })
}

pub async fn update_access_key(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let user = ctx.target_user_name(p)?;
    let key_id = p.required("AccessKeyId")?;
    let status = p.required("Status")?;
    let status = KeyStatus::parse(status).ok_or_else(|| {
        ApiError::new(ErrorCode::InvalidInput, format!("Status {status} is not valid for an access key."))
    })?;
    ctx.app.store.update_access_key(ctx.account(), &user, key_id, status).await.map_err(key_error(&user, key_id))?;
    ctx.app.credentials.forget(key_id);
    Ok(None)
}

pub async fn delete_access_key(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let user = ctx.target_user_name(p)?;
    let key_id = p.required("AccessKeyId")?;
    ctx.app.store.delete_access_key(ctx.account(), &user, key_id).await.map_err(key_error(&user, key_id))?;
    ctx.app.credentials.forget(key_id);
    Ok(None)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AccessKeyLastUsed {
    #[serde(skip_serializing_if = "Option::is_none")]
    last_used_date: Option<String>,
    service_name: String,
    region: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetAccessKeyLastUsedResult {
    /// Absent for the root user's keys, which belong to no IAM user.
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<String>,
    access_key_last_used: AccessKeyLastUsed,
}

/// When the key last signed a request (the first use in its latest 15-minute span, as AWS
/// records it), for which service and where; `N/A` for a key never used.
pub async fn get_access_key_last_used(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let id = p.required("AccessKeyId")?;
    let key = ctx
        .app
        .store
        .find_access_key(id)
        .await
        .map_err(store_failure)?
        .filter(|k| k.account_id == ctx.account())
        .ok_or_else(|| no_such_key(id))?;
    let not_used = || "N/A".to_owned();
    ctx.reply(&GetAccessKeyLastUsedResult {
        user_name: key.user.map(|u| u.name),
        access_key_last_used: AccessKeyLastUsed {
            last_used_date: key.last_used.as_ref().map(|u| timestamp(u.at)),
            service_name: key.last_used.as_ref().map_or_else(not_used, |u| u.service.clone()),
            region: key.last_used.as_ref().map_or_else(not_used, |u| u.region.clone()),
        },
    })
}
