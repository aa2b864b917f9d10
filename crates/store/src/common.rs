//! Logic both backends share and that owes nothing to either database.

use crate::{Result, StoreError};

/// Lower-cased form used for case-insensitive uniqueness and ordering.
pub(crate) fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// Fails with `not_found` when a statement changed nothing.
/// The last use of a key from its three nullable columns (all set together, or none).
pub(crate) fn key_use(at: Option<i64>, service: Option<String>, region: Option<String>) -> Option<crate::KeyUse> {
    Some(crate::KeyUse { at: at?, service: service.unwrap_or_default(), region: region.unwrap_or_default() })
}

pub(crate) fn changed(rows: u64, not_found: StoreError) -> Result<()> {
    if rows == 0 { Err(not_found) } else { Ok(()) }
}

impl crate::Holder {
    /// The statement for this kind of holder (each backend keeps one static statement per
    /// table, so prepared statements are cached).
    pub(crate) fn pick(self, user: &'static str, group: &'static str, role: &'static str) -> &'static str {
        match self {
            crate::Holder::User => user,
            crate::Holder::Group => group,
            crate::Holder::Role => role,
        }
    }
}

/// How a role session's tags are stored: a JSON array of `[key, value, transitive]`.
pub(crate) fn session_tags_text(tags: &[crate::SessionTag]) -> String {
    let rows: Vec<(&str, &str, bool)> = tags.iter().map(|t| (t.key.as_str(), t.value.as_str(), t.transitive)).collect();
    serde_json::to_string(&rows).expect("tags serialize")
}

/// The tags [`session_tags_text`] stored (none for a column left empty).
pub(crate) fn session_tags_from(text: Option<&str>) -> Vec<crate::SessionTag> {
    let rows: Vec<(String, String, bool)> = text.and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default();
    rows.into_iter().map(|(key, value, transitive)| crate::SessionTag { key, value, transitive }).collect()
}

/// How a role session's session policies are stored: a JSON array of the documents.
pub(crate) fn session_policies_text(documents: &[String]) -> String {
    serde_json::to_string(documents).expect("a list of strings serializes")
}

/// The documents [`session_policies_text`] stored (none for a column left empty).
pub(crate) fn session_policies_from(text: Option<&str>) -> Vec<String> {
    text.and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default()
}
