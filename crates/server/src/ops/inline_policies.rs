//! Inline policies of users, groups and roles: Put/Get/List/Delete{User,Group,Role}Policy.
//!
//! Documents are validated as identity policies and kept as given; the sum of an entity's
//! documents (characters without white space) is capped per user, group and role. Policy names
//! compare without regard to case within their holder.

use iamd_domain::entities::InlinePolicy;
use iamd_domain::{ApiError, ErrorCode};
use iamd_policy::PolicyKind;
use iamd_store::{Entity, Holder, StoreError};
use serde::Serialize;

use super::holders::Named;
use super::{Ctx, Reply, pagination, policy_documents};
use crate::failure::store_failure;
use crate::wire::params::Params;
use crate::wire::shapes::{Members, Truncation};

fn size_limit(ctx: &Ctx<'_>, owner: Named<'_>) -> usize {
    match owner.holder {
        Holder::User => ctx.app.limits.user_inline_policy_chars,
        Holder::Group => ctx.app.limits.group_inline_policy_chars,
        Holder::Role => ctx.app.limits.role_inline_policy_chars,
    }
}

/// AWS's code and message for a store error about `owner`'s policy `policy`.
fn error<'a>(ctx: &Ctx<'_>, owner: Named<'a>, policy: &'a str) -> impl Fn(StoreError) -> ApiError + 'a {
    let limit = size_limit(ctx, owner);
    move |e| match e {
        StoreError::NotFound(Entity::User | Entity::Group | Entity::Role) => owner.not_found(),
        StoreError::NotFound(Entity::InlinePolicy) => ApiError::new(
            ErrorCode::NoSuchEntity,
            format!("The {} policy with name {policy} cannot be found.", owner.kind()),
        ),
        StoreError::LimitExceeded => ApiError::new(
            ErrorCode::LimitExceeded,
            format!("Maximum policy size of {limit} bytes exceeded for {} {}", owner.kind(), owner.name),
        ),
        other => store_failure(other),
    }
}

async fn put(ctx: &Ctx<'_>, p: &Params, holder: Holder) -> Reply {
    let owner = Named::from_params(p, holder)?;
    let policy = p.required("PolicyName")?;
    let document = p.required("PolicyDocument")?;
    policy_documents::validate(document, PolicyKind::Identity)?;
    let limit = size_limit(ctx, owner);
    let stored = ctx.app.store.put_inline_policy(ctx.account(), holder, owner.name, policy, document, limit).await;
    stored.map_err(error(ctx, owner, policy))?;
    // Cached callers may carry the policies that apply to them.
    ctx.app.credentials.clear();
    Ok(None)
}

/// `Get{User,Group,Role}PolicyResult`: the owner's name, then the policy's.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetPolicyResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_name: Option<String>,
    policy_name: String,
    policy_document: String,
}

async fn get(ctx: &Ctx<'_>, p: &Params, holder: Holder) -> Reply {
    let owner = Named::from_params(p, holder)?;
    let policy = p.required("PolicyName")?;
    let found = ctx.app.store.get_inline_policy(ctx.account(), holder, owner.name, policy).await;
    let InlinePolicy { name, document } = found.map_err(error(ctx, owner, policy))?;
    let named = |h: Holder| (holder == h).then(|| owner.name.to_owned());
    ctx.reply(&GetPolicyResult {
        user_name: named(Holder::User),
        group_name: named(Holder::Group),
        role_name: named(Holder::Role),
        policy_name: name,
        policy_document: policy_documents::encode(&document),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListPoliciesResult {
    policy_names: Members<String>,
    is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

async fn list(ctx: &Ctx<'_>, p: &Params, holder: Holder) -> Reply {
    let owner = Named::from_params(p, holder)?;
    let kind = format!("{}-policies", owner.kind());
    let page = pagination::page(p, &kind)?;
    let names = ctx.app.store.list_inline_policies(ctx.account(), holder, owner.name).await;
    let names = names.map_err(error(ctx, owner, ""))?;
    let (names, Truncation { is_truncated, marker }) = pagination::in_memory(names, &page, &kind, |n| n.to_lowercase());
    ctx.reply(&ListPoliciesResult { policy_names: names.into(), is_truncated, marker })
}

async fn delete(ctx: &Ctx<'_>, p: &Params, holder: Holder) -> Reply {
    let owner = Named::from_params(p, holder)?;
    let policy = p.required("PolicyName")?;
    let deleted = ctx.app.store.delete_inline_policy(ctx.account(), holder, owner.name, policy).await;
    deleted.map_err(error(ctx, owner, policy))?;
    ctx.app.credentials.clear();
    Ok(None)
}

pub async fn put_user_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    put(ctx, p, Holder::User).await
}

pub async fn get_user_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    get(ctx, p, Holder::User).await
}

pub async fn list_user_policies(ctx: &Ctx<'_>, p: &Params) -> Reply {
    list(ctx, p, Holder::User).await
}

pub async fn delete_user_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    delete(ctx, p, Holder::User).await
}

pub async fn put_group_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    put(ctx, p, Holder::Group).await
}

pub async fn get_group_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    get(ctx, p, Holder::Group).await
}

pub async fn list_group_policies(ctx: &Ctx<'_>, p: &Params) -> Reply {
    list(ctx, p, Holder::Group).await
}

pub async fn delete_group_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    delete(ctx, p, Holder::Group).await
}

pub async fn put_role_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    put(ctx, p, Holder::Role).await
}

pub async fn get_role_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    get(ctx, p, Holder::Role).await
}

pub async fn list_role_policies(ctx: &Ctx<'_>, p: &Params) -> Reply {
    list(ctx, p, Holder::Role).await
}

pub async fn delete_role_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    delete(ctx, p, Holder::Role).await
}
