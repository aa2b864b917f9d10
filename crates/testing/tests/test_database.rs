//! `TestDatabase` against the configured PostgreSQL server (`scripts/with-postgres cargo test -p
//! iamd-testing`); the database-URL rewriting without one.

use iamd_testing::{TestDatabase, admin_url, with_database};
use sqlx::Connection;

#[test]
fn with_database_replaces_the_database_name_only() {
    let cases = [
        ("postgres://postgres@127.0.0.1:5432/postgres", "postgres://postgres@127.0.0.1:5432/t1"),
        ("postgres://u:p@h/postgres?sslmode=disable", "postgres://u:p@h/t1?sslmode=disable"),
        ("postgres://u@h:5432", "postgres://u@h:5432/t1"),
        ("postgres://u@h:5432/", "postgres://u@h:5432/t1"),
        ("postgres://u@h?application_name=x", "postgres://u@h/t1?application_name=x"),
    ];
    for (admin, expected) in cases {
        assert_eq!(with_database(admin, "t1"), expected, "{admin}");
    }
}

async fn database_exists(name: &str) -> bool {
    let admin = admin_url().expect("a configured server");
    let mut connection = sqlx::PgConnection::connect(&admin).await.expect("connect as admin");
    let found = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut connection)
        .await
        .expect("query pg_database");
    connection.close().await.ok();
    found
}

/// The database exists while its value lives and takes writes; dropping the value drops it, with
/// a connection still open, and leaves other test databases alone.
#[tokio::test]
async fn a_test_database_lives_as_long_as_its_value() {
    let Some(database) = TestDatabase::create_or_skip() else { return };
    let name = database.name().to_owned();
    assert!(database.url().ends_with(&format!("/{name}")), "{}", database.url());
    assert!(database_exists(&name).await, "{name} exists");
    let mut open = sqlx::PgConnection::connect(database.url()).await.expect("connect to the test database");
    sqlx::raw_sql("CREATE TABLE t (x int); INSERT INTO t VALUES (1)").execute(&mut open).await.expect("write");

    let other = TestDatabase::create().expect("a configured server");
    assert_ne!(other.name(), name, "names are unique");
    drop(database);
    assert!(!database_exists(&name).await, "{name} dropped although a connection was open");
    assert!(database_exists(other.name()).await, "the other database is untouched");
}

/// Dropped while a panicking test unwinds, on the current-thread runtime `#[tokio::test]` uses.
#[tokio::test]
async fn a_test_database_is_dropped_when_its_test_panics() {
    let Some(database) = TestDatabase::create_or_skip() else { return };
    let name = database.name().to_owned();
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _kept = database;
        panic!("a failing test");
    }));
    assert!(unwound.is_err());
    assert!(!database_exists(&name).await, "{name} dropped during the unwind");
}
