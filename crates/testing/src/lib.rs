//! What iamd's Rust test suites share: a fresh PostgreSQL database per test, on the server that
//! `IAMD_TEST_DATABASE_URL` names (`scripts/with-postgres` starts one and sets it), dropped when
//! the test is done with it, also when the test panics.
//!
//! The store's conformance suite, the server's in-process tests and the AWS SDK suite use it; each
//! keeps its own backend-specific helpers (this crate depends on no iamd crate, so that the store
//! can use it without a cycle).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::Connection;

/// The environment variable naming the PostgreSQL server to test against: a superuser URL (tests
/// create and drop their own databases through it) whose database part is replaced per test.
pub const DATABASE_URL_VARIABLE: &str = "IAMD_TEST_DATABASE_URL";

/// The PostgreSQL server to test against, if any.
pub fn admin_url() -> Option<String> {
    std::env::var(DATABASE_URL_VARIABLE).ok().filter(|url| !url.trim().is_empty())
}

/// Whether a PostgreSQL server is configured; when not, says on stderr that the PostgreSQL run of
/// the calling test is skipped (the test then passes without having run).
pub fn postgres_configured_or_skip() -> bool {
    let configured = admin_url().is_some();
    if !configured {
        eprintln!("{DATABASE_URL_VARIABLE} not set: skipping the PostgreSQL run");
    }
    configured
}

/// `url` with its database name replaced by `name` (user, host, port and query string kept).
pub fn with_database(url: &str, name: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let (base, query) = url.split_at(url.find('?').unwrap_or(url.len()));
    let authority_end = base[authority_start..].find('/').map_or(base.len(), |i| authority_start + i);
    format!("{}/{name}{query}", &base[..authority_end])
}

static DATABASE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A uniquely named, empty database on the test server, dropped (`WITH (FORCE)`, so connections
/// still open do not keep it) when this value is.
///
/// Creating and dropping block the calling thread: each runs on a thread of its own with a small
/// runtime, so that both work from synchronous code, from any async runtime (current-thread ones
/// included) and from `Drop`, which cannot await.
pub struct TestDatabase {
    admin: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// A fresh database on the configured server; `None` without one. Panics when the server
    /// refuses (a configured server that does not work is a failure, not a skip).
    pub fn create() -> Option<TestDatabase> {
        let admin = admin_url()?;
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").subsec_nanos();
        let counter = DATABASE_COUNTER.fetch_add(1, Ordering::Relaxed);
        // The process id keeps test binaries running side by side apart; the nanoseconds keep a
        // rerun apart from a database an interrupted run left behind.
        let name = format!("iamd_test_{}_{counter}_{nanos}", std::process::id());
        if let Err(e) = execute_as_admin(&admin, format!("CREATE DATABASE \"{name}\"")) {
            panic!("could not create test database {name} through {DATABASE_URL_VARIABLE}: {e}");
        }
        let url = with_database(&admin, &name);
        Some(TestDatabase { admin, name, url })
    }

    /// [`TestDatabase::create`], saying on stderr that the PostgreSQL run is skipped when no
    /// server is configured.
    pub fn create_or_skip() -> Option<TestDatabase> {
        if postgres_configured_or_skip() { TestDatabase::create() } else { None }
    }

    /// The database's URL: the admin URL with this database's name.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    /// Never panics (this may run while a failed test unwinds): a failure is reported on stderr.
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(e) = execute_as_admin(&self.admin, sql) {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

/// Runs one statement on a connection of its own to `admin`, on a thread of its own with a
/// current-thread runtime, and waits for it.
fn execute_as_admin(admin: &str, sql: String) -> Result<(), String> {
    let admin = admin.to_owned();
    let worker = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        runtime.block_on(execute(&admin, sql)).map_err(|e| e.to_string())
    });
    worker.join().unwrap_or_else(|_| Err("the thread running the statement panicked".to_owned()))
}

async fn execute(url: &str, sql: String) -> Result<(), sqlx::Error> {
    let mut connection = sqlx::PgConnection::connect(url).await?;
    let executed = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut connection).await;
    connection.close().await.ok();
    executed.map(drop)
}
