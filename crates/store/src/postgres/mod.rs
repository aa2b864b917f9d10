//! The shared backend: PostgreSQL, for several iamd nodes serving one database.
//!
//! Nothing here relies on a process-local lock. Every rule that must hold across nodes is enforced
//! by PostgreSQL inside the transaction that makes the change:
//!
//! * uniqueness by constraints (case-insensitive user names via `name_key`, serials, access key ids);
//! * "a device is enabled once" and "a step is accepted once" by conditional updates
//!   (`WHERE user_id IS NULL`, `WHERE last_step = $seen`), which PostgreSQL re-checks against the
//!   newest row version after waiting for a concurrent writer;
//! * quotas by counting under a row lock (`SELECT … FOR UPDATE`) on the owning user or account, so
//!   two transactions cannot both pass the same count check;
//! * the MFA throttle by a read-modify-write of its row under `FOR UPDATE`.
//!
//! Transactions run at READ COMMITTED; a commit is acknowledged only once it is durable.
//! Losing the database (restart, network) surfaces as [`StoreError::Unavailable`]; the pool pings
//! a connection idle for a while before handing it out, so it recovers by itself once PostgreSQL is
//! back.

//!
//! This file connects and holds the helpers the families share; each family's statements live in
//! a file of its own: [`accounts`], [`identities`], [`credentials`], [`mfa`], [`sessions`],
//! [`audit`], [`policies`].

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool, Postgres, SqlSafeStr};

mod accounts;
mod audit;
mod credentials;
mod identities;
mod mfa;
mod policies;
mod roles;
mod rows;
mod sessions;
mod tags;

use crate::common::name_key;
use crate::*;
use rows::{USER_COLUMNS, user_from_row};

/// The store on a PostgreSQL database; cheap to share (`PgPool` is a handle).
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Calls waiting for a connection of `pool` now (sqlx does not count them).
    waiting: Arc<AtomicI64>,
}

/// Counts one call among the waiting until it is dropped, also when the call is abandoned.
struct Waiting<'a>(&'a AtomicI64);

impl<'a> Waiting<'a> {
    fn enter(count: &'a AtomicI64) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Most connections one node holds open.
const MAX_CONNECTIONS: u32 = 16;
/// How long a request waits for a connection before the store reports itself unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// A pooled connection idle this long is pinged before it is handed out (a PostgreSQL restart
/// takes longer).
const PING_WHEN_IDLE_FOR: Duration = Duration::from_millis(100);

/// The schema's migrations, in the files' order. Listed by hand rather than with `sqlx::migrate!`,
/// whose proc-macro compiles a second copy of sqlx and tokio for the build host (about a tenth of
/// the README's first build); a test checks the list against the directory, checksums included,
/// so databases migrated by either agree.
const MIGRATIONS: [(i64, &str, &str); 9] = [
    (1, "initial", include_str!("../../migrations/postgres/0001_initial.sql")),
    (2, "login", include_str!("../../migrations/postgres/0002_login.sql")),
    (3, "policies", include_str!("../../migrations/postgres/0003_policies.sql")),
    (4, "roles", include_str!("../../migrations/postgres/0004_roles.sql")),
    (5, "throttle", include_str!("../../migrations/postgres/0005_throttle.sql")),
    (6, "unaddressable devices", include_str!("../../migrations/postgres/0006_unaddressable_devices.sql")),
    (7, "credential report", include_str!("../../migrations/postgres/0007_credential_report.sql")),
    (8, "mfa enrolment", include_str!("../../migrations/postgres/0008_mfa_enrolment.sql")),
    (9, "change events", include_str!("../../migrations/postgres/0009_change_events.sql")),
];

fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                let no_tx = sql.starts_with("-- no-transaction");
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    AssertSqlSafe(sql).into_sql_str(),
                    no_tx,
                )
            })
            .collect(),
    )
}

/// Maps a driver error: lost connections and a database that is shutting down or starting up are
/// `Unavailable` (worth retrying, answered with 503); unique violations are left to the callers,
/// which know which entity collided.
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => StoreError::Unavailable(e.to_string()),
        sqlx::Error::Database(d) if d.code().is_some_and(|c| is_unavailable_code(&c)) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Backend(e.to_string()),
    }
}

/// SQLSTATE codes meaning "the server cannot serve this now": connection exceptions (class 08),
/// admin/crash shutdown and "cannot connect now" (57P01–57P03), too many connections (53300).
fn is_unavailable_code(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// `AlreadyExists(entity)` for a unique violation, else the usual mapping.
fn unique_as(entity: Entity) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| if is_unique_violation(&e) { StoreError::AlreadyExists(entity) } else { db(e) }
}

/// PostgreSQL has no unsigned integers; counts and quotas travel as BIGINT.
fn to_u32(v: i64) -> std::result::Result<u32, sqlx::Error> {
    u32::try_from(v).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// The pool's connections in use and idle, read when `/metrics` is scraped (sqlx keeps the
/// counts; nothing is recorded per query), `max` the pool's bound, and the calls waiting for one.
#[derive(Debug)]
pub(crate) struct PoolGauges {
    pub pool: PgPool,
    pub waiting: Arc<AtomicI64>,
}

impl prometheus_client::collector::Collector for PoolGauges {
    fn encode(&self, mut encoder: prometheus_client::encoding::DescriptorEncoder) -> std::fmt::Result {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::gauge::ConstGauge;

        let open = i64::from(self.pool.size());
        let idle = i64::try_from(self.pool.num_idle()).unwrap_or(i64::MAX);
        let gauge = ConstGauge::new(0i64);
        let mut family = encoder.encode_descriptor(
            "postgres_pool_connections",
            "PostgreSQL connections of this node's pool, by state (max: the pool's bound)",
            None,
            gauge.metric_type(),
        )?;
        for (state, value) in [("in_use", open - idle), ("idle", idle), ("max", i64::from(MAX_CONNECTIONS))] {
            ConstGauge::new(value).encode(family.encode_family(&[("state", state)])?)?;
        }
        let waiting = ConstGauge::new(self.waiting.load(Ordering::Relaxed));
        waiting.encode(encoder.encode_descriptor(
            "postgres_pool_waiting",
            "Calls of this node waiting for a PostgreSQL connection of the pool (also briefly while an idle one is pinged)",
            None,
            waiting.metric_type(),
        )?)?;
        Ok(())
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://…`) and applies pending migrations. Several nodes may do
    /// this at once: the migrator holds a PostgreSQL advisory lock while it works.
    pub async fn connect(url: &str) -> Result<Self> {
        let options: PgConnectOptions = url.parse().map_err(db)?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A connection that died with its server (restart, failover) is detected and replaced
            // instead of being handed out again. Only one idle for a while is pinged: a ping is a
            // round trip, as costly as the short statements most calls make, and under load every
            // connection is handed out again within microseconds. A server that dies within that
            // while fails the next call with `Unavailable`, as it would between a ping and a query.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for < PING_WHEN_IDLE_FOR {
                        return Ok(true);
                    }
                    conn.ping().await.map(|()| true)
                })
            })
            .idle_timeout(Duration::from_secs(300))
            .max_lifetime(Duration::from_secs(1800))
            .connect_with(options)
            .await
            .map_err(db)?;
        migrator().run(&pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(inner) => db(inner),
            other => StoreError::Backend(other.to_string()),
        })?;
        Ok(Self { pool, waiting: Arc::default() })
    }

    /// A connection of the pool, for one call. Every call goes through here so that the calls
    /// waiting for a free connection can be counted (a pool at its bound shows in `/metrics`).
    async fn conn(&self) -> Result<PoolConnection<Postgres>> {
        let _waiting = Waiting::enter(&self.waiting);
        self.pool.acquire().await.map_err(db)
    }

    /// The underlying pool (for tests and tooling).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes every connection; later calls fail with `Unavailable`.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

// Helpers running inside a transaction (or on a plain connection) --------------------------------

/// The user's id, or `NotFound(User)`.
async fn user_id_of(conn: &mut PgConnection, account_id: &str, name: &str) -> Result<String> {
    sqlx::query_scalar("SELECT user_id FROM users WHERE account_id = $1 AND name_key = $2")
        .bind(account_id)
        .bind(name_key(name))
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound(Entity::User))
}

/// The user's id with the user row locked until the transaction ends, or `NotFound(User)`.
/// Everything that counts or changes what hangs off a user takes this lock first, so quota checks
/// and the dependency checks of `delete_user` cannot interleave across nodes. Lock order is
/// always user row, then device row.
async fn lock_user(conn: &mut PgConnection, account_id: &str, name: &str) -> Result<String> {
    sqlx::query_scalar("SELECT user_id FROM users WHERE account_id = $1 AND name_key = $2 FOR UPDATE")
        .bind(account_id)
        .bind(name_key(name))
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound(Entity::User))
}

/// The user, or `NotFound(User)`; with `lock`, the row stays locked until the transaction ends.
async fn user_by_name(conn: &mut PgConnection, account_id: &str, name: &str, lock: bool) -> Result<User> {
    let suffix = if lock { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.account_id = $1 AND u.name_key = $2{suffix}");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(account_id)
        .bind(name_key(name))
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound(Entity::User))?;
    user_from_row(&row).map_err(db)
}

/// One page of an account's users, groups or roles whose path starts with `path_prefix`,
/// ordered by name key: `columns` of `table alias` (`users u`), decoded by `decode`.
async fn path_page<T>(
    conn: &mut PgConnection,
    (columns, table, alias): (&str, &str, &str),
    account_id: &str,
    path_prefix: &str,
    page: &Page,
    decode: impl Fn(&sqlx::postgres::PgRow) -> std::result::Result<T, sqlx::Error>,
) -> Result<Vec<T>> {
    let sql = format!(
        "SELECT {columns} FROM {table} {alias} WHERE {alias}.account_id = $1 \
         AND left({alias}.path, length($2)) = $2 AND {alias}.name_key > $3 ORDER BY {alias}.name_key LIMIT $4"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(account_id)
        .bind(path_prefix)
        .bind(page.after.as_deref().unwrap_or(""))
        .bind(page.limit as i64 + 1)
        .fetch_all(conn)
        .await
        .map_err(db)?;
    rows.iter().map(decode).collect::<std::result::Result<_, _>>().map_err(db)
}

async fn count(conn: &mut PgConnection, sql: &'static str, arg: &str) -> Result<i64> {
    sqlx::query_scalar(sql).bind(arg).fetch_one(&mut *conn).await.map_err(db)
}

/// `LimitExceeded` unless `count_sql` (counting the account's rows of some kind) is under `max`.
/// Locks the account row first: creations in one account queue up behind each other, so the
/// count stays true until the caller's transaction commits.
async fn account_quota(conn: &mut PgConnection, account_id: &str, count_sql: &'static str, max: u32) -> Result<()> {
    sqlx::query("SELECT account_id FROM accounts WHERE account_id = $1 FOR UPDATE")
        .bind(account_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    if count(conn, count_sql, account_id).await? >= i64::from(max) {
        return Err(StoreError::LimitExceeded);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn unavailable_codes() {
        for code in ["08000", "08006", "08001", "57P01", "57P02", "57P03", "53300"] {
            assert!(is_unavailable_code(code), "{code}");
        }
        for code in ["23505", "40001", "57014", "42P01"] {
            assert!(!is_unavailable_code(code), "{code}");
        }
        assert!(matches!(db(sqlx::Error::PoolTimedOut), StoreError::Unavailable(_)));
        assert!(matches!(db(sqlx::Error::PoolClosed), StoreError::Unavailable(_)));
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(matches!(db(sqlx::Error::Io(io)), StoreError::Unavailable(_)));
        assert!(matches!(db(sqlx::Error::RowNotFound), StoreError::Backend(_)));
    }

    /// The hand-written list is the directory, as `sqlx::migrate!` would read it: same versions,
    /// descriptions, checksums and transaction modes, and no file left out.
    #[tokio::test]
    async fn the_migration_list_is_the_directory() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
        let from_files = Migrator::new(dir).await.unwrap();
        let listed = migrator();
        let describe = |m: &Migration| (m.version, m.description.to_string(), m.checksum.to_vec(), m.no_tx);
        assert_eq!(
            listed.iter().map(describe).collect::<Vec<_>>(),
            from_files.iter().map(describe).collect::<Vec<_>>()
        );
    }
}
