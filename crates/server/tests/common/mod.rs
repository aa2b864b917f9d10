//! Shared by the server's in-process tests (`api.rs`, `console.rs`): the backend to run against,
//! the injected clock, an [`App`] over a fresh store, and [`backend_tests!`], which runs each
//! test once per backend.
//!
//! SQLite always runs (a database file in a temporary directory). PostgreSQL runs when
//! `IAMD_TEST_DATABASE_URL` names a server (`scripts/with-postgres cargo test -p iamd-server`):
//! each [`TestApp`] gets a database of its own, created from that URL and dropped when the
//! `TestApp` is (also when the test panics). Without the variable the PostgreSQL variants pass
//! after saying on stderr that they were skipped, as in the store's suite.

#![allow(dead_code)]

pub mod browser;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use iamd_domain::Clock;
use iamd_domain::entities::NewAccessKey;
use iamd_domain::sealing::MasterKey;
use iamd_domain::throttle::ThrottlePolicy;
use iamd_server::App;
use iamd_server::state::Limits;
use iamd_store::prelude::*;
use iamd_store::{PgStore, SqliteStore};
use iamd_testing::{TestDatabase, postgres_configured_or_skip};
use time::OffsetDateTime;

/// The store an in-process test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Whether this backend can run here; when it cannot (PostgreSQL without
    /// `IAMD_TEST_DATABASE_URL`), says so on stderr.
    pub fn available(self) -> bool {
        match self {
            Backend::Sqlite => true,
            Backend::Postgres => postgres_configured_or_skip(),
        }
    }
}

/// Generates, for every `name` listed (each an `async fn name(backend: Backend)` in scope), the
/// tests `sqlite::name` and `postgres::name`; the PostgreSQL one returns early (and passes) when
/// no server is configured.
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if $crate::common::Backend::Postgres.available() {
                        super::$name($crate::common::Backend::Postgres).await;
                    }
                }
            )+
        }
    };
}
pub(crate) use backend_tests;

/// The clock the tests inject and move: whole seconds, starting where the test says.
pub struct TestClock(AtomicI64);

impl TestClock {
    pub fn starting_at(unix: i64) -> Self {
        Self(AtomicI64::new(unix))
    }

    /// Now, in Unix seconds ([`Clock::now`] gives the same instant as a date).
    pub fn now_unix(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.now_unix()).expect("valid time")
    }
}

/// What the account under test looks like.
#[derive(Debug, Clone)]
pub struct Setup {
    pub account: &'static str,
    /// Where the clock starts (Unix seconds).
    pub start: i64,
    /// When the account (and its root key) were created.
    pub created_at: i64,
    /// The account's root access key: (access key id, secret access key).
    pub root_key: Option<(&'static str, &'static str)>,
    /// Quotas and limits (`Limits::default()` unless a test needs others).
    pub limits: Limits,
}

/// An [`App`] over a fresh store on one backend, with a [`TestClock`]. Dropping it deletes the
/// store (the temporary directory, or the PostgreSQL database). A test file wraps it in its own
/// `struct Harness(TestApp)` with `Deref<Target = TestApp>` and adds its own helpers.
pub struct TestApp {
    pub app: Arc<App>,
    pub clock: Arc<TestClock>,
    pub backend: Backend,
    // Declared last, so dropped after the app (and its connection pool).
    _storage: Storage,
}

enum Storage {
    Sqlite(tempfile::TempDir),
    Postgres(TestDatabase),
}

impl TestApp {
    /// Panics for PostgreSQL without a server: tests reach this through [`backend_tests!`],
    /// which skips those runs.
    pub async fn start(backend: Backend, setup: Setup) -> Self {
        let (store, storage): (Arc<dyn Store>, Storage) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let store = SqliteStore::open(&dir.path().join("iamd.db")).await.expect("open sqlite store");
                (Arc::new(store), Storage::Sqlite(dir))
            }
            Backend::Postgres => {
                let database =
                    TestDatabase::create().expect("IAMD_TEST_DATABASE_URL (PostgreSQL runs go through backend_tests!)");
                // The guard exists before the store, so a failed connect still drops the database.
                let store = PgStore::connect(database.url()).await.expect("connect PgStore");
                (Arc::new(store), Storage::Postgres(database))
            }
        };
        let master_key = MasterKey::generate().0;
        let root_key = setup.root_key.map(|(id, secret)| NewAccessKey {
            access_key_id: id.to_owned(),
            secret_sealed: master_key.seal(secret.as_bytes(), id),
            created_at: setup.created_at,
        });
        store.ensure_account(setup.account, root_key, setup.created_at).await.expect("ensure account");
        let clock = Arc::new(TestClock::starting_at(setup.start));
        let app = Arc::new(App::new(store, master_key, clock.clone(), setup.limits.clone(), ThrottlePolicy::default()));
        TestApp { app, clock, backend, _storage: storage }
    }

    pub fn store(&self) -> &dyn Store {
        &*self.app.store
    }

    pub fn now(&self) -> i64 {
        self.clock.now_unix()
    }

    pub fn advance(&self, seconds: i64) {
        self.clock.advance(seconds);
    }
}
