//! Response shapes shared by several operations, named and ordered as in the IAM model.

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use iamd_domain::ids;

/// An ISO-8601 UTC timestamp as AWS writes it (`2026-11-28T02:22:40Z`).
pub fn timestamp(unix_seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_seconds).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

/// A list element as the query protocol writes it: `<Name><member>…</member>…</Name>`.
#[derive(Serialize)]
pub struct Members<T> {
    pub member: Vec<T>,
}

impl<T> From<Vec<T>> for Members<T> {
    fn from(member: Vec<T>) -> Self {
        Members { member }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

impl From<iamd_domain::entities::Tag> for Tag {
    fn from(t: iamd_domain::entities::Tag) -> Self {
        Tag { key: t.key, value: t.value }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct User {
    pub path: String,
    pub user_name: String,
    pub user_id: String,
    pub arn: String,
    pub create_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_last_used: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<Boundary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Members<Tag>>,
}

/// The model's `AttachedPermissionsBoundary` shape.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Boundary {
    permissions_boundary_type: &'static str,
    permissions_boundary_arn: String,
}

impl Boundary {
    /// A managed policy used as a boundary (the only kind there is).
    pub fn policy(arn: String) -> Self {
        Boundary { permissions_boundary_type: "Policy", permissions_boundary_arn: arn }
    }
}

impl User {
    /// The user as GetUser shows it; `with_tags` adds its tags when it has any (and its
    /// boundary, which only `get_user` reads).
    pub fn new(user: iamd_domain::entities::User, with_tags: bool) -> Self {
        let tags = (with_tags && !user.tags.is_empty())
            .then(|| Members::from(user.tags.into_iter().map(Tag::from).collect::<Vec<_>>()));
        User {
            arn: ids::user_arn(&user.account_id, &user.path, &user.name),
            path: user.path,
            user_name: user.name,
            user_id: user.user_id,
            create_date: timestamp(user.created_at),
            password_last_used: user.password_last_used.map(timestamp),
            permissions_boundary: user.permissions_boundary.filter(|_| with_tags).map(Boundary::policy),
            tags,
        }
    }
}

/// Pagination fields every list result ends with.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Truncation {
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::xml::element;

    #[test]
    fn user_and_lists_render_like_aws() {
        let user = iamd_domain::entities::User {
            account_id: "123456789012".into(),
            user_id: "AIDAEXAMPLEEXAMPLE01".into(),
            name: "alice".into(),
            path: "/".into(),
            created_at: 1_714_564_800,
            password_last_used: None,
            tags: vec![iamd_domain::entities::Tag { key: "k".into(), value: "v".into() }],
            permissions_boundary: None,
        };
        assert_eq!(
            element("User", &User::new(user, true)),
            "<User><Path>/</Path><UserName>alice</UserName><UserId>AIDAEXAMPLEEXAMPLE01</UserId>\
             <Arn>arn:aws:iam::123456789012:user/alice</Arn><CreateDate>2024-05-01T12:00:00Z</CreateDate>\
             <Tags><member><Key>k</Key><Value>v</Value></member></Tags></User>"
        );
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
    }
}
