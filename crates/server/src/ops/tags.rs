//! What every tagged entity's operations share: the duplicate-key rule and the paged
//! `List*Tags` answer.

use iamd_domain::entities;
use iamd_domain::{ApiError, ErrorCode};
use serde::Serialize;

use super::{Ctx, Reply, pagination};
use crate::wire::params::Params;
use crate::wire::shapes::{Members, Tag, Truncation};

/// Case-insensitively unique tag keys, or AWS's `InvalidInput`.
pub fn reject_duplicate_keys(tags: &[entities::Tag]) -> Result<(), ApiError> {
    let mut seen = std::collections::HashSet::new();
    if tags.iter().all(|t| seen.insert(t.key.to_lowercase())) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidInput,
            "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
        ))
    }
}

/// `List{Entity}TagsResult`: the same members for every entity.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListTagsResult {
    tags: Members<Tag>,
    is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

/// One page (`Marker`/`MaxItems` from `p`) of an entity's tags, ordered by key without regard to
/// case; `kind` tags the marker so one list's marker is refused by another.
pub fn list_reply(ctx: &Ctx<'_>, p: &Params, kind: &str, tags: Vec<entities::Tag>) -> Reply {
    let page = pagination::page(p, kind)?;
    let (tags, Truncation { is_truncated, marker }) =
        pagination::in_memory(tags, &page, kind, |t| t.key.to_lowercase());
    ctx.reply(&ListTagsResult {
        tags: tags.into_iter().map(Tag::from).collect::<Vec<_>>().into(),
        is_truncated,
        marker,
    })
}
