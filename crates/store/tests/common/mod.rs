//! Shared by the store integration tests: backends to test against and record builders.

#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use iamd_store::{PgStore, SqliteStore, Store, User};
use sqlx::Connection;

/// A fixed "now" so every run sees the same times.
pub const NOW: i64 = 1_700_000_000;

/// The PostgreSQL server to test against, if any (see `scripts/with-postgres`).
pub fn admin_url() -> Option<String> {
    std::env::var("IAMD_TEST_DATABASE_URL").ok().filter(|s| !s.trim().is_empty())
}

/// A fresh SQLite store in a temporary directory (deleted with the returned guard).
pub async fn sqlite_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("iamd.db")).await.expect("open sqlite store");
    (Arc::new(store), dir)
}

/// `url` with its database name replaced by `name` (query string kept).
pub fn with_database(url: &str, name: &str) -> String {
    let scheme_end = url.find("://").map(|i| i + 3).unwrap_or(0);
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let authority_end = base[scheme_end..].find('/').map(|i| scheme_end + i).unwrap_or(base.len());
    format!("{}/{}{}", &base[..authority_end], name, query)
}

static DB_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A uniquely named, empty database on the test server; dropped by [`TestDatabase::drop_now`].
pub struct TestDatabase {
    admin: String,
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    pub async fn create(admin: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("iamd_test_{}_{}_{}", std::process::id(), DB_COUNTER.fetch_add(1, Ordering::Relaxed), nanos);
        let mut conn = sqlx::PgConnection::connect(admin).await.expect("connect to IAMD_TEST_DATABASE_URL");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        conn.close().await.ok();
        let url = with_database(admin, &name);
        Self { admin: admin.to_owned(), name, url }
    }

    pub async fn drop_now(self) {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin).await {
            let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
            if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await {
                eprintln!("could not drop test database {}: {e}", self.name);
            }
            conn.close().await.ok();
        }
    }
}

/// Runs `body` against a PgStore on a fresh database, then drops the database, even when the
/// body panics (the panic is passed on). Returns `false` (and runs nothing) without a server.
pub async fn with_pg_store<F, Fut>(body: F) -> bool
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(admin) = admin_url() else {
        eprintln!("IAMD_TEST_DATABASE_URL not set: skipping the PostgreSQL run");
        return false;
    };
    let db = TestDatabase::create(&admin).await;
    let store = PgStore::connect(&db.url).await.expect("connect PgStore");
    let pool = store.pool().clone();
    let outcome = tokio::spawn(body(Arc::new(store))).await;
    pool.close().await;
    db.drop_now().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
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
