//! Inline policies of users and groups: PutUserPolicy, GetUserPolicy, ListUserPolicies,
//! DeleteUserPolicy, PutGroupPolicy, GetGroupPolicy, ListGroupPolicies, DeleteGroupPolicy.
//!
//! Documents are validated as identity policies and kept as given; the sum of an entity's
//! documents (characters without white space) is capped per user and per group. Policy names
//! compare without regard to case within their user or group.

use iamd_domain::entities::InlinePolicy;
use iamd_domain::{ApiError, ErrorCode};
use iamd_policy::PolicyKind;
use iamd_store::{Entity, StoreError};
use serde::Serialize;

use super::groups::no_such_group;
use super::{Ctx, Reply, pagination, policy_documents};
use crate::failure::store_failure;
use crate::wire::params::Params;
use crate::wire::shapes::{Members, Truncation};

/// Whose inline policies an operation is about.
#[derive(Clone, Copy)]
enum Owner<'a> {
    User(&'a str),
    Group(&'a str),
}

impl Owner<'_> {
    /// `user` / `group`, as AWS's messages say it.
    fn kind(self) -> &'static str {
        match self {
            Owner::User(_) => "user",
            Owner::Group(_) => "group",
        }
    }

    fn from_params(p: &Params, group: bool) -> Result<Owner<'_>, ApiError> {
        Ok(if group { Owner::Group(p.required("GroupName")?) } else { Owner::User(p.required("UserName")?) })
    }

    fn size_limit(self, ctx: &Ctx<'_>) -> usize {
        match self {
            Owner::User(_) => ctx.app.limits.user_inline_policy_chars,
            Owner::Group(_) => ctx.app.limits.group_inline_policy_chars,
        }
    }

    /// AWS's code and message for a store error about this owner's policy `policy`.
    fn error(self, ctx: &Ctx<'_>, policy: &str) -> impl Fn(StoreError) -> ApiError {
        let limit = self.size_limit(ctx);
        let policy = policy.to_owned();
        move |e| match (e, self) {
            (StoreError::NotFound(Entity::User), Owner::User(n)) => ApiError::no_such_user(n),
            (StoreError::NotFound(Entity::Group), Owner::Group(n)) => no_such_group(n),
            (StoreError::NotFound(Entity::InlinePolicy), _) => ApiError::new(
                ErrorCode::NoSuchEntity,
                format!("The {} policy with name {policy} cannot be found.", self.kind()),
            ),
            (StoreError::LimitExceeded, Owner::User(n) | Owner::Group(n)) => ApiError::new(
                ErrorCode::LimitExceeded,
                format!("Maximum policy size of {limit} bytes exceeded for {} {n}", self.kind()),
            ),
            (other, _) => store_failure(other),
        }
    }
}

async fn put(ctx: &Ctx<'_>, p: &Params, group: bool) -> Reply {
    let owner = Owner::from_params(p, group)?;
    let policy = p.required("PolicyName")?;
    let document = p.required("PolicyDocument")?;
    policy_documents::validate(document, PolicyKind::Identity)?;
    let (account, limit) = (ctx.account(), owner.size_limit(ctx));
    let stored = match owner {
        Owner::User(user) => ctx.app.store.put_user_policy(account, user, policy, document, limit).await,
        Owner::Group(group) => ctx.app.store.put_group_policy(account, group, policy, document, limit).await,
    };
    stored.map_err(owner.error(ctx, policy))?;
    // Cached callers may carry the policies that apply to them.
    ctx.app.credentials.clear();
    Ok(None)
}

/// `Get{User,Group}PolicyResult`: the owner's name, then the policy's.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetPolicyResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_name: Option<String>,
    policy_name: String,
    policy_document: String,
}

async fn get(ctx: &Ctx<'_>, p: &Params, group: bool) -> Reply {
    let owner = Owner::from_params(p, group)?;
    let policy = p.required("PolicyName")?;
    let account = ctx.account();
    let found = match owner {
        Owner::User(user) => ctx.app.store.get_user_policy(account, user, policy).await,
        Owner::Group(group) => ctx.app.store.get_group_policy(account, group, policy).await,
    };
    let InlinePolicy { name, document } = found.map_err(owner.error(ctx, policy))?;
    let (user_name, group_name) = match owner {
        Owner::User(n) => (Some(n.to_owned()), None),
        Owner::Group(n) => (None, Some(n.to_owned())),
    };
    ctx.reply(&GetPolicyResult {
        user_name,
        group_name,
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

async fn list(ctx: &Ctx<'_>, p: &Params, group: bool) -> Reply {
    let owner = Owner::from_params(p, group)?;
    let kind = format!("{}-policies", owner.kind());
    let page = pagination::page(p, &kind)?;
    let account = ctx.account();
    let names = match owner {
        Owner::User(user) => ctx.app.store.list_user_policies(account, user).await,
        Owner::Group(group) => ctx.app.store.list_group_policies(account, group).await,
    };
    let names = names.map_err(owner.error(ctx, ""))?;
    let (names, Truncation { is_truncated, marker }) = pagination::in_memory(names, &page, &kind, |n| n.to_lowercase());
    ctx.reply(&ListPoliciesResult { policy_names: names.into(), is_truncated, marker })
}

async fn delete(ctx: &Ctx<'_>, p: &Params, group: bool) -> Reply {
    let owner = Owner::from_params(p, group)?;
    let policy = p.required("PolicyName")?;
    let account = ctx.account();
    let deleted = match owner {
        Owner::User(user) => ctx.app.store.delete_user_policy(account, user, policy).await,
        Owner::Group(group) => ctx.app.store.delete_group_policy(account, group, policy).await,
    };
    deleted.map_err(owner.error(ctx, policy))?;
    ctx.app.credentials.clear();
    Ok(None)
}

pub async fn put_user_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    put(ctx, p, false).await
}

pub async fn get_user_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    get(ctx, p, false).await
}

pub async fn list_user_policies(ctx: &Ctx<'_>, p: &Params) -> Reply {
    list(ctx, p, false).await
}

pub async fn delete_user_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    delete(ctx, p, false).await
}

pub async fn put_group_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    put(ctx, p, true).await
}

pub async fn get_group_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    get(ctx, p, true).await
}

pub async fn list_group_policies(ctx: &Ctx<'_>, p: &Params) -> Reply {
    list(ctx, p, true).await
}

pub async fn delete_group_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    delete(ctx, p, true).await
}
