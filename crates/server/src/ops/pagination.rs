//! `Marker`/`MaxItems`/`IsTruncated` paging. A marker is the sort key of the last item returned,
//! tagged with the list it belongs to and base64-encoded, so it always advances and a marker
//! from elsewhere (or garbage) is refused with AWS's `Invalid Marker.`.

use data_encoding::BASE64URL_NOPAD;
use iamd_domain::ApiError;
use iamd_domain::entities::Page;

use crate::wire::params::Params;
use crate::wire::shapes::Truncation;

const DEFAULT_MAX_ITEMS: usize = 100;

/// Reads `Marker` and `MaxItems` for the list called `kind`.
pub fn page(p: &Params, kind: &str) -> Result<Page, ApiError> {
    let limit = p.get("MaxItems").and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_MAX_ITEMS);
    let after = match p.get("Marker") {
        None => None,
        Some(marker) => Some(decode(marker, kind).ok_or_else(|| ApiError::validation("Invalid Marker."))?),
    };
    Ok(Page { after, limit })
}

fn decode(marker: &str, kind: &str) -> Option<String> {
    let bytes = BASE64URL_NOPAD.decode(marker.as_bytes()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    Some(text.strip_prefix(kind)?.strip_prefix(':')?.to_owned())
}

fn encode(kind: &str, key: &str) -> String {
    BASE64URL_NOPAD.encode(format!("{kind}:{key}").as_bytes())
}

/// Cuts a store result (up to `limit + 1` items) to the page and says how to continue.
pub fn finish<T>(mut items: Vec<T>, page: &Page, kind: &str, sort_key: impl Fn(&T) -> String) -> (Vec<T>, Truncation) {
    if items.len() > page.limit {
        items.truncate(page.limit);
        let marker = items.last().map(|last| encode(kind, &sort_key(last)));
        (items, Truncation { is_truncated: true, marker })
    } else {
        (items, Truncation { is_truncated: false, marker: None })
    }
}

/// Pages a short list already held in memory (access keys, a user's devices, tags).
pub fn in_memory<T>(items: Vec<T>, page: &Page, kind: &str, sort_key: impl Fn(&T) -> String) -> (Vec<T>, Truncation) {
    let rest: Vec<T> = match &page.after {
        None => items,
        Some(after) => items.into_iter().filter(|i| sort_key(i).as_str() > after.as_str()).collect(),
    };
    finish(rest, page, kind, sort_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_and_refuse_garbage() {
        let mut p = Params::default();
        p.extend_from_form(format!("MaxItems=1&Marker={}", encode("users", "bob")).as_bytes());
        assert_eq!(page(&p, "users").unwrap(), Page { after: Some("bob".into()), limit: 1 });
        assert_eq!(page(&p, "devices").unwrap_err().message, "Invalid Marker.");
        let mut junk = Params::default();
        junk.extend_from_form(b"Marker=not-a-marker!");
        assert_eq!(page(&junk, "users").unwrap_err().message, "Invalid Marker.");
    }

    #[test]
    fn pages_advance() {
        let page1 = Page { after: None, limit: 2 };
        let (items, t) = in_memory(vec!["a", "b", "c"], &page1, "k", |s| s.to_string());
        assert_eq!(items, ["a", "b"]);
        assert!(t.is_truncated);
        let page2 = Page { after: decode(&t.marker.unwrap(), "k"), limit: 2 };
        let (items, t) = in_memory(vec!["a", "b", "c"], &page2, "k", |s| s.to_string());
        assert_eq!(items, ["c"]);
        assert!(!t.is_truncated && t.marker.is_none());
    }
}
