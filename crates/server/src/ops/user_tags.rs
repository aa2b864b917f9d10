//! Tags on IAM users: TagUser, UntagUser, ListUserTags. Keys compare without regard to case;
//! a user carries at most 50 tags.

use iamd_domain::ApiError;
use iamd_store::StoreError;

use super::{Ctx, Reply, tags};
use crate::failure::store_failure;
use crate::wire::params::Params;

/// AWS's quota of tags per IAM user.
pub const MAX_TAGS_PER_USER: usize = 50;

fn user_error(name: &str) -> impl Fn(StoreError) -> ApiError + '_ {
    move |e| match e {
        StoreError::NotFound(_) => ApiError::no_such_user(name),
        StoreError::LimitExceeded => ApiError::quota("TagsPerUser", MAX_TAGS_PER_USER as u32),
        other => store_failure(other),
    }
}

pub async fn tag_user(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let name = p.required("UserName")?;
    let tags = p.tags("Tags");
    tags::reject_duplicate_keys(&tags)?;
    ctx.app.store.tag_user(ctx.account(), name, &tags, MAX_TAGS_PER_USER).await.map_err(user_error(name))?;
    // Cached callers carry the user's tags (for `aws:PrincipalTag`).
    ctx.app.credentials.clear();
    Ok(None)
}

pub async fn untag_user(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let name = p.required("UserName")?;
    let keys: Vec<String> = p.list("TagKeys").into_iter().map(str::to_owned).collect();
    ctx.app.store.untag_user(ctx.account(), name, &keys).await.map_err(user_error(name))?;
    ctx.app.credentials.clear();
    Ok(None)
}

pub async fn list_user_tags(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let name = p.required("UserName")?;
    let tags = ctx.app.store.user_tags(ctx.account(), name).await.map_err(user_error(name))?;
    tags::list_reply(ctx, p, "user-tags", tags)
}
