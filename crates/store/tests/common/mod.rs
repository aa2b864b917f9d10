//! Shared by the store integration tests: backends to test against and record builders.

#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use iamd_store::{PgStore, SqliteStore, Store, User};
pub use iamd_testing::TestDatabase;

/// A fixed "now" so every run sees the same times.
pub const NOW: i64 = 1_700_000_000;

/// A fresh SQLite store in a temporary directory (deleted with the returned guard).
pub async fn sqlite_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("iamd.db")).await.expect("open sqlite store");
    (Arc::new(store), dir)
}

/// Runs `body` against a PgStore on a fresh database, which is dropped afterwards, also when the
/// body panics. Returns `false` (and runs nothing) without a server.
pub async fn with_pg_store<F, Fut>(body: F) -> bool
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(database) = TestDatabase::create_or_skip() else { return false };
    let store = PgStore::connect(database.url()).await.expect("connect PgStore");
    body(Arc::new(store)).await;
    true
}

static ID_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A process-unique id with `prefix` (user ids, access key ids, serial suffixes).
pub fn fresh_id(prefix: &str) -> String {
    format!("{prefix}{:016}", ID_COUNTER.fetch_add(1, Ordering::Relaxed))
}

pub fn user(account_id: &str, name: &str, path: &str) -> User {
    User {
        permissions_boundary: None,
        account_id: account_id.to_owned(),
        user_id: fresh_id("AIDA"),
        name: name.to_owned(),
        path: path.to_owned(),
        created_at: NOW,
        password_last_used: None,
        tags: Vec::new(),
    }
}
