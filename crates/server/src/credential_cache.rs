//! Credentials kept in memory for a moment, so a busy client's requests do not each pay a
//! database read, an AES-GCM open and a SigV4 key derivation.
//!
//! Entries live [`TTL`]: a key deactivated or deleted on another node stops working here within
//! that time (IAM changes are eventually consistent on AWS too); changes made through this node
//! evict the entry at once. Only found, active credentials are cached, so a new key works
//! immediately. Per-request checks (session token, expiry, signature) still run every time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::caller::Caller;

pub const TTL: Duration = Duration::from_secs(2);
/// Past this many entries the cache starts over rather than growing without bound.
const MAX_ENTRIES: usize = 100_000;

/// What an access key id resolves to.
pub struct Resolved {
    pub secret: String,
    pub caller: Caller,
    /// For session credentials: the SHA-256 of the session token, and when it expires.
    pub session_token_hash: Option<Vec<u8>>,
    pub expires_at: Option<i64>,
    /// The last derived signing key and the scope (`date/region/service`) it is for.
    signing_key: Mutex<Option<(String, [u8; 32])>>,
    /// When this key's use was last recorded (Unix seconds; `i64::MIN`: never), so that a node
    /// writes a long-term key's last use at most once per span however busy the key is.
    use_recorded_at: AtomicI64,
}

impl Resolved {
    pub fn new(secret: String, caller: Caller, session_token_hash: Option<Vec<u8>>, expires_at: Option<i64>) -> Self {
        Self {
            secret,
            caller,
            session_token_hash,
            expires_at,
            signing_key: Mutex::new(None),
            use_recorded_at: AtomicI64::new(i64::MIN),
        }
    }

    /// The key's last use as the store knows it.
    pub fn with_use_recorded_at(self, at: Option<i64>) -> Self {
        self.use_recorded_at.store(at.unwrap_or(i64::MIN), Ordering::Relaxed);
        self
    }

    /// Whether a use at `now` is the first in `span` seconds, i.e. one to record; claims it, so
    /// that of concurrent requests exactly one is told yes.
    pub fn claim_use_record(&self, now: i64, span: i64) -> bool {
        let seen = self.use_recorded_at.load(Ordering::Relaxed);
        now.saturating_sub(seen) >= span
            && self.use_recorded_at.compare_exchange(seen, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }

    /// The SigV4 signing key for a scope, derived once per scope (clients keep one scope a day).
    pub fn signing_key(&self, date: &str, region: &str, service: &str) -> [u8; 32] {
        let scope = format!("{date}/{region}/{service}");
        let mut slot = self.signing_key.lock().expect("signing key lock");
        match &*slot {
            Some((cached, key)) if *cached == scope => *key,
            _ => {
                let key = iamd_sigv4::signing_key(&self.secret, date, region, service);
                *slot = Some((scope, key));
                key
            }
        }
    }
}

/// The cache's eviction count when a lookup began (see [`CredentialCache::generation`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

#[derive(Default)]
pub struct CredentialCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, (Instant, Arc<Resolved>)>,
    /// Bumped by every `forget` and `clear`, under the same lock as the entries.
    generation: u64,
}

impl CredentialCache {
    pub fn get(&self, access_key_id: &str) -> Option<Arc<Resolved>> {
        let inner = self.inner.lock().expect("credential cache lock");
        inner.entries.get(access_key_id).filter(|(at, _)| at.elapsed() < TTL).map(|(_, resolved)| resolved.clone())
    }

    /// Take this *before* reading the store for a key, and hand it to [`insert`](Self::insert).
    ///
    /// A lookup reads the store, then inserts. If a change evicted the key in between (read
    /// before the change, evicted after it), inserting would bring back what the change just
    /// ended, for up to [`TTL`]. `insert` therefore refuses when any eviction happened since the
    /// lookup began. The counter is global rather than per key: a per-key one would have to
    /// remember keys that are no longer cached (`forget` removes them, `clear` removes all), and
    /// evictions are rare (an administrator's change), so the cost is only that lookups in flight
    /// at that moment are not cached and the next request reads the store again.
    pub fn generation(&self) -> Generation {
        Generation(self.inner.lock().expect("credential cache lock").generation)
    }

    /// Caches what a lookup that began at `seen` found, unless a key was evicted meanwhile.
    pub fn insert(&self, access_key_id: &str, resolved: Arc<Resolved>, seen: Generation) {
        let mut inner = self.inner.lock().expect("credential cache lock");
        if inner.generation != seen.0 {
            return;
        }
        if inner.entries.len() >= MAX_ENTRIES {
            inner.entries.clear();
        }
        inner.entries.insert(access_key_id.to_owned(), (Instant::now(), resolved));
    }

    /// Evicts one key after it changed here.
    pub fn forget(&self, access_key_id: &str) {
        let mut inner = self.inner.lock().expect("credential cache lock");
        inner.generation += 1;
        inner.entries.remove(access_key_id);
    }

    /// Evicts everything (after a change that may affect many entries, such as a user rename).
    pub fn clear(&self) {
        let mut inner = self.inner.lock().expect("credential cache lock");
        inner.generation += 1;
        inner.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caller::Principal;

    fn resolved(secret: &str) -> Arc<Resolved> {
        let caller = Caller {
            account_id: "111122223333".to_owned(),
            access_key_id: "AKIAEXAMPLE".to_owned(),
            principal: Principal::Root,
            session: None,
            permissions: Default::default(),
        };
        Arc::new(Resolved::new(secret.to_owned(), caller, None, None))
    }

    #[test]
    fn a_lookup_begun_before_forget_does_not_bring_the_entry_back() {
        let cache = CredentialCache::default();
        // A request misses and starts reading the store (the key is still active there)…
        assert!(cache.get("AKIAEXAMPLE").is_none());
        let seen = cache.generation();
        // …meanwhile DeleteAccessKey commits and evicts the key…
        cache.forget("AKIAEXAMPLE");
        // …then the first request inserts what it read before the change.
        cache.insert("AKIAEXAMPLE", resolved("stale"), seen);
        assert!(cache.get("AKIAEXAMPLE").is_none(), "the deleted key is served from the cache");
    }

    #[test]
    fn a_lookup_begun_before_clear_does_not_bring_the_entry_back() {
        let cache = CredentialCache::default();
        let seen = cache.generation();
        cache.clear();
        cache.insert("AKIAEXAMPLE", resolved("stale"), seen);
        assert!(cache.get("AKIAEXAMPLE").is_none());
    }

    #[test]
    fn a_lookup_without_eviction_is_cached() {
        let cache = CredentialCache::default();
        cache.forget("AKIAOTHER");
        let seen = cache.generation();
        cache.insert("AKIAEXAMPLE", resolved("fresh"), seen);
        assert_eq!(cache.get("AKIAEXAMPLE").map(|r| r.secret.clone()).as_deref(), Some("fresh"));
        // A later lookup (taking the generation after the eviction) is cached again.
        cache.forget("AKIAEXAMPLE");
        assert!(cache.get("AKIAEXAMPLE").is_none());
        let seen = cache.generation();
        cache.insert("AKIAEXAMPLE", resolved("again"), seen);
        assert_eq!(cache.get("AKIAEXAMPLE").map(|r| r.secret.clone()).as_deref(), Some("again"));
    }
}
