//! Credentials kept in memory for a moment, so a busy client's requests do not each pay a
//! database read, an AES-GCM open and a SigV4 key derivation.
//!
//! Entries live [`TTL`]: a key deactivated or deleted on another node stops working here within
//! that time (IAM changes are eventually consistent on AWS too); changes made through this node
//! evict the entry at once. Only found, active credentials are cached, so a new key works
//! immediately. Per-request checks (session token, expiry, signature) still run every time.

use std::collections::HashMap;
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
}

impl Resolved {
    pub fn new(secret: String, caller: Caller, session_token_hash: Option<Vec<u8>>, expires_at: Option<i64>) -> Self {
        Self { secret, caller, session_token_hash, expires_at, signing_key: Mutex::new(None) }
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

#[derive(Default)]
pub struct CredentialCache {
    entries: Mutex<HashMap<String, (Instant, Arc<Resolved>)>>,
}

impl CredentialCache {
    pub fn get(&self, access_key_id: &str) -> Option<Arc<Resolved>> {
        let entries = self.entries.lock().expect("credential cache lock");
        entries.get(access_key_id).filter(|(at, _)| at.elapsed() < TTL).map(|(_, resolved)| resolved.clone())
    }

    pub fn insert(&self, access_key_id: &str, resolved: Arc<Resolved>) {
        let mut entries = self.entries.lock().expect("credential cache lock");
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(access_key_id.to_owned(), (Instant::now(), resolved));
    }

    /// Evicts one key after it changed here.
    pub fn forget(&self, access_key_id: &str) {
        self.entries.lock().expect("credential cache lock").remove(access_key_id);
    }

    /// Evicts everything (after a change that may affect many entries, such as a user rename).
    pub fn clear(&self) {
        self.entries.lock().expect("credential cache lock").clear();
    }
}
