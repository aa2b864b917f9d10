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
//! Losing the database (restart, network) surfaces as [`StoreError::Unavailable`]; the pool tests
//! connections before handing them out, so it recovers by itself once PostgreSQL is back.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Row};

mod rows;

use crate::*;
use rows::{DEVICE_COLUMNS, USER_COLUMNS, device_from_row, user_from_row};

/// The store on a PostgreSQL database; cheap to share (`PgPool` is a handle).
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

/// Most connections one node holds open.
const MAX_CONNECTIONS: u32 = 16;
/// How long a request waits for a connection before the store reports itself unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Maps a driver error: lost connections and a database that is shutting down or starting up are
/// `Unavailable` (worth retrying, answered with 503); unique violations are left to the callers,
/// which know which entity collided.
fn db(e: sqlx::Error) -> StoreError {
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

/// Lower-cased form used for case-insensitive uniqueness and ordering.
fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// PostgreSQL has no unsigned integers; counts and quotas travel as BIGINT.
fn to_u32(v: i64) -> std::result::Result<u32, sqlx::Error> {
    u32::try_from(v).map_err(|e| sqlx::Error::Decode(Box::new(e)))
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
            // instead of being handed out again.
            .test_before_acquire(true)
            .idle_timeout(Duration::from_secs(300))
            .max_lifetime(Duration::from_secs(1800))
            .connect_with(options)
            .await
            .map_err(db)?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(inner) => db(inner),
            other => StoreError::Backend(other.to_string()),
        })?;
        Ok(Self { pool })
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

// Row decoding --------------------------------------------------------------------------------

fn key_from_row(row: &PgRow, account_id: &str) -> std::result::Result<AccessKey, sqlx::Error> {
    Ok(AccessKey {
        access_key_id: row.try_get("access_key_id")?,
        account_id: account_id.to_owned(),
        user: Some(user_from_row(row)?),
        secret_sealed: row.try_get("secret_sealed")?,
        status: KeyStatus::parse(row.try_get("status")?).unwrap_or(KeyStatus::Inactive),
        created_at: row.try_get("key_created")?,
    })
}

// Helpers running inside a transaction (or on a plain connection) --------------------------------

async fn user_tags(conn: &mut PgConnection, user_id: &str) -> Result<Vec<Tag>> {
    let rows = sqlx::query("SELECT tag_key, value FROM user_tags WHERE user_id = $1 ORDER BY key_norm")
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
    Ok(rows.iter().map(|r| Tag { key: r.get("tag_key"), value: r.get("value") }).collect())
}

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

async fn throttle_state(conn: &mut PgConnection, user_id: &str, lock: bool) -> Result<ThrottleState> {
    let sql = if lock {
        "SELECT failures, locked_until, locks FROM mfa_throttle WHERE user_id = $1 FOR UPDATE"
    } else {
        "SELECT failures, locked_until, locks FROM mfa_throttle WHERE user_id = $1"
    };
    let row = sqlx::query(sql).bind(user_id).fetch_optional(&mut *conn).await.map_err(db)?;
    Ok(match row {
        Some(r) => ThrottleState {
            failures: to_u32(r.try_get("failures").map_err(db)?).map_err(db)?,
            locked_until: r.try_get("locked_until").map_err(db)?,
            locks: to_u32(r.try_get("locks").map_err(db)?).map_err(db)?,
        },
        None => ThrottleState::default(),
    })
}

/// `NotFound(MfaDevice)` unless the device exists in the account; with `lock`, its row stays locked.
async fn device_must_exist(conn: &mut PgConnection, account_id: &str, serial: &str, lock: bool) -> Result<()> {
    let sql = if lock {
        "SELECT 1::BIGINT FROM mfa_devices WHERE account_id = $1 AND serial = $2 FOR UPDATE"
    } else {
        "SELECT 1::BIGINT FROM mfa_devices WHERE account_id = $1 AND serial = $2"
    };
    let found: Option<i64> =
        sqlx::query_scalar(sql).bind(account_id).bind(serial).fetch_optional(&mut *conn).await.map_err(db)?;
    found.map(|_| ()).ok_or(StoreError::NotFound(Entity::MfaDevice))
}

async fn insert_device_tags(conn: &mut PgConnection, serial: &str, tags: &[Tag]) -> Result<()> {
    for tag in tags {
        sqlx::query(
            "INSERT INTO mfa_device_tags (serial, tag_key, key_norm, value) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (serial, key_norm) DO UPDATE SET tag_key = excluded.tag_key, value = excluded.value",
        )
        .bind(serial)
        .bind(&tag.key)
        .bind(name_key(&tag.key))
        .bind(&tag.value)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    Ok(())
}

#[async_trait]
impl Store for PgStore {
    async fn ensure_account(&self, account_id: &str, root_key: Option<NewAccessKey>, now: i64) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("INSERT INTO accounts (account_id, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(account_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if let Some(key) = root_key {
            sqlx::query(
                "INSERT INTO access_keys (access_key_id, account_id, user_id, secret_sealed, status, created_at) \
                 VALUES ($1, $2, NULL, $3, 'Active', $4) \
                 ON CONFLICT (access_key_id) DO UPDATE SET secret_sealed = excluded.secret_sealed \
                 WHERE access_keys.user_id IS NULL AND access_keys.account_id = excluded.account_id",
            )
            .bind(&key.access_key_id)
            .bind(account_id)
            .bind(&key.secret_sealed)
            .bind(key.created_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn account_exists(&self, account_id: &str) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1::BIGINT FROM accounts WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(found.is_some())
    }

    async fn accounts(&self) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT account_id FROM accounts ORDER BY account_id")
            .fetch_all(&self.pool)
            .await
            .map_err(db)
    }

    async fn find_access_key(&self, access_key_id: &str) -> Result<Option<AccessKey>> {
        let sql = "SELECT k.access_key_id, k.account_id AS key_account, k.secret_sealed, k.status, \
                   k.created_at AS key_created, \
                   u.user_id, u.account_id, u.name, u.path, u.created_at, u.password_last_used \
                   FROM access_keys k LEFT JOIN users u ON u.user_id = k.user_id WHERE k.access_key_id = $1";
        let Some(row) = sqlx::query(sql).bind(access_key_id).fetch_optional(&self.pool).await.map_err(db)? else {
            return Ok(None);
        };
        let decode = || -> std::result::Result<AccessKey, sqlx::Error> {
            let user_id: Option<String> = row.try_get("user_id")?;
            let user = match user_id {
                Some(_) => Some(user_from_row(&row)?),
                None => None,
            };
            Ok(AccessKey {
                access_key_id: row.try_get("access_key_id")?,
                account_id: row.try_get("key_account")?,
                user,
                secret_sealed: row.try_get("secret_sealed")?,
                status: KeyStatus::parse(row.try_get("status")?).unwrap_or(KeyStatus::Inactive),
                created_at: row.try_get("key_created")?,
            })
        };
        decode().map(Some).map_err(db)
    }

    async fn create_user(&self, user: &User, max_in_account: u32) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        account_quota(&mut tx, &user.account_id, "SELECT COUNT(*) FROM users WHERE account_id = $1", max_in_account)
            .await?;
        sqlx::query(
            "INSERT INTO users (user_id, account_id, name, name_key, path, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&user.user_id)
        .bind(&user.account_id)
        .bind(&user.name)
        .bind(name_key(&user.name))
        .bind(&user.path)
        .bind(user.created_at)
        .execute(&mut *tx)
        .await
        .map_err(unique_as(Entity::User))?;
        for tag in &user.tags {
            sqlx::query("INSERT INTO user_tags (user_id, tag_key, key_norm, value) VALUES ($1, $2, $3, $4)")
                .bind(&user.user_id)
                .bind(&tag.key)
                .bind(name_key(&tag.key))
                .bind(&tag.value)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn get_user(&self, account_id: &str, name: &str) -> Result<Option<User>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let mut user = match user_by_name(&mut conn, account_id, name, false).await {
            Ok(user) => user,
            Err(StoreError::NotFound(Entity::User)) => return Ok(None),
            Err(e) => return Err(e),
        };
        user.tags = user_tags(&mut conn, &user.user_id).await?;
        Ok(Some(user))
    }

    async fn list_users(&self, account_id: &str, path_prefix: &str, page: &Page) -> Result<Vec<User>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.account_id = $1 AND left(u.path, length($2)) = $2 \
             AND u.name_key > $3 ORDER BY u.name_key LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(path_prefix)
            .bind(page.after.as_deref().unwrap_or(""))
            .bind(page.limit as i64 + 1)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(user_from_row).collect::<std::result::Result<_, _>>().map_err(db)
    }

    async fn update_user(
        &self,
        account_id: &str,
        name: &str,
        new_name: Option<&str>,
        new_path: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let user_id = lock_user(&mut tx, account_id, name).await?;
        sqlx::query(
            "UPDATE users SET name = COALESCE($1, name), name_key = COALESCE($2, name_key), \
             path = COALESCE($3, path) WHERE user_id = $4",
        )
        .bind(new_name)
        .bind(new_name.map(name_key))
        .bind(new_path)
        .bind(&user_id)
        .execute(&mut *tx)
        .await
        .map_err(unique_as(Entity::User))?;
        tx.commit().await.map_err(db)
    }

    async fn delete_user(&self, account_id: &str, name: &str) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let user_id = lock_user(&mut tx, account_id, name).await?;
        if count(&mut tx, "SELECT COUNT(*) FROM login_profiles WHERE user_id = $1", &user_id).await? > 0 {
            return Err(StoreError::DeleteConflict(Dependent::LoginProfile));
        }
        if count(&mut tx, "SELECT COUNT(*) FROM access_keys WHERE user_id = $1", &user_id).await? > 0 {
            return Err(StoreError::DeleteConflict(Dependent::AccessKeys));
        }
        if count(&mut tx, "SELECT COUNT(*) FROM mfa_devices WHERE user_id = $1", &user_id).await? > 0 {
            return Err(StoreError::DeleteConflict(Dependent::MfaDevices));
        }
        sqlx::query("DELETE FROM user_tags WHERE user_id = $1").bind(&user_id).execute(&mut *tx).await.map_err(db)?;
        sqlx::query("DELETE FROM users WHERE user_id = $1").bind(&user_id).execute(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn create_access_key(
        &self,
        account_id: &str,
        user_name: &str,
        key: &NewAccessKey,
        max_per_user: u32,
    ) -> Result<AccessKey> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // The user row lock makes the count below authoritative until commit.
        let user = user_by_name(&mut tx, account_id, user_name, true).await?;
        if count(&mut tx, "SELECT COUNT(*) FROM access_keys WHERE user_id = $1", &user.user_id).await?
            >= i64::from(max_per_user)
        {
            return Err(StoreError::LimitExceeded);
        }
        sqlx::query(
            "INSERT INTO access_keys (access_key_id, account_id, user_id, secret_sealed, status, created_at) \
             VALUES ($1, $2, $3, $4, 'Active', $5)",
        )
        .bind(&key.access_key_id)
        .bind(account_id)
        .bind(&user.user_id)
        .bind(&key.secret_sealed)
        .bind(key.created_at)
        .execute(&mut *tx)
        .await
        .map_err(unique_as(Entity::AccessKey))?;
        tx.commit().await.map_err(db)?;
        Ok(AccessKey {
            access_key_id: key.access_key_id.clone(),
            account_id: account_id.to_owned(),
            user: Some(user),
            secret_sealed: key.secret_sealed.clone(),
            status: KeyStatus::Active,
            created_at: key.created_at,
        })
    }

    async fn list_access_keys(&self, account_id: &str, user_name: &str) -> Result<Vec<AccessKey>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let user_id = user_id_of(&mut conn, account_id, user_name).await?;
        let sql = format!(
            "SELECT k.access_key_id, k.secret_sealed, k.status, k.created_at AS key_created, {USER_COLUMNS} \
             FROM access_keys k JOIN users u ON u.user_id = k.user_id WHERE k.user_id = $1 ORDER BY k.access_key_id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&user_id).fetch_all(&mut *conn).await.map_err(db)?;
        rows.iter().map(|row| key_from_row(row, account_id)).collect::<std::result::Result<_, _>>().map_err(db)
    }

    async fn update_access_key(
        &self,
        account_id: &str,
        user_name: &str,
        access_key_id: &str,
        status: KeyStatus,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let user_id = user_id_of(&mut tx, account_id, user_name).await?;
        let done = sqlx::query("UPDATE access_keys SET status = $1 WHERE access_key_id = $2 AND user_id = $3")
            .bind(status.as_str())
            .bind(access_key_id)
            .bind(&user_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(Entity::AccessKey));
        }
        tx.commit().await.map_err(db)
    }

    async fn delete_access_key(&self, account_id: &str, user_name: &str, access_key_id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let user_id = user_id_of(&mut tx, account_id, user_name).await?;
        let done = sqlx::query("DELETE FROM access_keys WHERE access_key_id = $1 AND user_id = $2")
            .bind(access_key_id)
            .bind(&user_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(Entity::AccessKey));
        }
        tx.commit().await.map_err(db)
    }

    async fn create_mfa_device(&self, device: &NewMfaDevice, max_in_account: u32) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let devices = "SELECT COUNT(*) FROM mfa_devices WHERE account_id = $1";
        account_quota(&mut tx, &device.account_id, devices, max_in_account).await?;
        sqlx::query(
            "INSERT INTO mfa_devices (serial, account_id, path, name, seed_sealed, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&device.serial)
        .bind(&device.account_id)
        .bind(&device.path)
        .bind(&device.name)
        .bind(&device.seed_sealed)
        .bind(device.created_at)
        .execute(&mut *tx)
        .await
        .map_err(unique_as(Entity::MfaDevice))?;
        insert_device_tags(&mut tx, &device.serial, &device.tags).await?;
        tx.commit().await.map_err(db)
    }

    async fn get_mfa_device(&self, account_id: &str, serial: &str) -> Result<Option<MfaDevice>> {
        let sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM mfa_devices d LEFT JOIN users u ON u.user_id = d.user_id \
             WHERE d.account_id = $1 AND d.serial = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(serial)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(device_from_row).transpose().map_err(db)
    }

    async fn assign_mfa_device(
        &self,
        account_id: &str,
        serial: &str,
        user_name: &str,
        sync: DeviceSync,
        enable_date: i64,
        max_per_user: u32,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let user_id = lock_user(&mut tx, account_id, user_name).await?;
        if count(&mut tx, "SELECT COUNT(*) FROM mfa_devices WHERE user_id = $1", &user_id).await?
            >= i64::from(max_per_user)
        {
            return Err(StoreError::LimitExceeded);
        }
        // Conditional on the newest row version: of concurrent assignments, exactly one matches.
        let done = sqlx::query(
            "UPDATE mfa_devices SET user_id = $1, enable_date = $2, offset_steps = $3, last_step = $4 \
             WHERE account_id = $5 AND serial = $6 AND user_id IS NULL",
        )
        .bind(&user_id)
        .bind(enable_date)
        .bind(sync.offset_steps)
        .bind(sync.last_accepted_step)
        .bind(account_id)
        .bind(serial)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(match device_must_exist(&mut tx, account_id, serial, false).await {
                Ok(()) => StoreError::DeviceInUse,
                Err(e) => e,
            });
        }
        tx.commit().await.map_err(db)
    }

    async fn advance_mfa_sync(&self, serial: &str, user_id: &str, seen_last_step: i64, sync: DeviceSync) -> Result<()> {
        let done = sqlx::query(
            "UPDATE mfa_devices SET offset_steps = $1, last_step = $2 \
             WHERE serial = $3 AND user_id = $4 AND last_step = $5",
        )
        .bind(sync.offset_steps)
        .bind(sync.last_accepted_step)
        .bind(serial)
        .bind(user_id)
        .bind(seen_last_step)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        Ok(())
    }

    async fn unassign_mfa_device(&self, account_id: &str, user_name: &str, serial: &str) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let user_id = lock_user(&mut tx, account_id, user_name).await?;
        let done = sqlx::query(
            "UPDATE mfa_devices SET user_id = NULL, enable_date = NULL, offset_steps = NULL, last_step = NULL \
             WHERE account_id = $1 AND serial = $2 AND user_id = $3",
        )
        .bind(account_id)
        .bind(serial)
        .bind(&user_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(Entity::MfaDevice));
        }
        tx.commit().await.map_err(db)
    }

    async fn delete_mfa_device(&self, account_id: &str, serial: &str) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let assigned: Option<Option<String>> =
            sqlx::query_scalar("SELECT user_id FROM mfa_devices WHERE account_id = $1 AND serial = $2 FOR UPDATE")
                .bind(account_id)
                .bind(serial)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        match assigned {
            None => return Err(StoreError::NotFound(Entity::MfaDevice)),
            Some(Some(_)) => return Err(StoreError::DeviceAssigned),
            Some(None) => {}
        }
        sqlx::query("DELETE FROM mfa_devices WHERE serial = $1").bind(serial).execute(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn list_user_mfa_devices(&self, account_id: &str, user_name: &str) -> Result<Vec<MfaDevice>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let user_id = user_id_of(&mut conn, account_id, user_name).await?;
        let sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM mfa_devices d JOIN users u ON u.user_id = d.user_id \
             WHERE d.user_id = $1 ORDER BY d.serial"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&user_id).fetch_all(&mut *conn).await.map_err(db)?;
        rows.iter().map(device_from_row).collect::<std::result::Result<_, _>>().map_err(db)
    }

    async fn list_mfa_devices(
        &self,
        account_id: &str,
        filter: AssignmentFilter,
        page: &Page,
    ) -> Result<Vec<MfaDevice>> {
        let condition = match filter {
            AssignmentFilter::Assigned => "AND d.user_id IS NOT NULL",
            AssignmentFilter::Unassigned => "AND d.user_id IS NULL",
            AssignmentFilter::Any => "",
        };
        let sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM mfa_devices d LEFT JOIN users u ON u.user_id = d.user_id \
             WHERE d.account_id = $1 AND d.serial > $2 {condition} ORDER BY d.serial LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(page.after.as_deref().unwrap_or(""))
            .bind(page.limit as i64 + 1)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(device_from_row).collect::<std::result::Result<_, _>>().map_err(db)
    }

    async fn tag_mfa_device(&self, account_id: &str, serial: &str, tags: &[Tag], max: usize) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // The device row lock serialises tag changes on one device, so the count is exact.
        device_must_exist(&mut tx, account_id, serial, true).await?;
        insert_device_tags(&mut tx, serial, tags).await?;
        if count(&mut tx, "SELECT COUNT(*) FROM mfa_device_tags WHERE serial = $1", serial).await? > max as i64 {
            // Dropping the transaction rolls the new tags back.
            return Err(StoreError::LimitExceeded);
        }
        tx.commit().await.map_err(db)
    }

    async fn untag_mfa_device(&self, account_id: &str, serial: &str, keys: &[String]) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        device_must_exist(&mut tx, account_id, serial, true).await?;
        let norms: Vec<String> = keys.iter().map(|k| name_key(k)).collect();
        sqlx::query("DELETE FROM mfa_device_tags WHERE serial = $1 AND key_norm = ANY($2)")
            .bind(serial)
            .bind(&norms)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn mfa_device_tags(&self, account_id: &str, serial: &str) -> Result<Vec<Tag>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        device_must_exist(&mut conn, account_id, serial, false).await?;
        let rows = sqlx::query("SELECT tag_key, value FROM mfa_device_tags WHERE serial = $1 ORDER BY key_norm")
            .bind(serial)
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?;
        Ok(rows.iter().map(|r| Tag { key: r.get("tag_key"), value: r.get("value") }).collect())
    }

    async fn account_counts(&self, account_id: &str) -> Result<AccountCounts> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM users WHERE account_id = $1) AS users, \
                    (SELECT COUNT(*) FROM mfa_devices WHERE account_id = $1) AS devices, \
                    (SELECT COUNT(*) FROM mfa_devices WHERE account_id = $1 AND user_id IS NOT NULL) AS in_use, \
                    (SELECT COUNT(*) FROM access_keys WHERE account_id = $1 AND user_id IS NULL) AS root_keys",
        )
        .bind(account_id)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        let get = |name: &str| -> Result<u64> { Ok(row.try_get::<i64, _>(name).map_err(db)? as u64) };
        Ok(AccountCounts {
            users: get("users")?,
            mfa_devices: get("devices")?,
            mfa_devices_in_use: get("in_use")?,
            root_access_keys: get("root_keys")?,
        })
    }

    async fn create_login_profile(
        &self,
        account_id: &str,
        user_name: &str,
        password_hash: &str,
        reset_required: bool,
        now: i64,
    ) -> Result<LoginProfile> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let user = user_by_name(&mut tx, account_id, user_name, true).await?;
        sqlx::query(
            "INSERT INTO login_profiles (user_id, password_hash, reset_required, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&user.user_id)
        .bind(password_hash)
        .bind(reset_required)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(unique_as(Entity::LoginProfile))?;
        tx.commit().await.map_err(db)?;
        Ok(LoginProfile { user, password_hash: password_hash.to_owned(), reset_required, created_at: now })
    }

    async fn get_login_profile(&self, account_id: &str, user_name: &str) -> Result<LoginProfile> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let user = user_by_name(&mut conn, account_id, user_name, false).await?;
        let row =
            sqlx::query("SELECT password_hash, reset_required, created_at FROM login_profiles WHERE user_id = $1")
                .bind(&user.user_id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db)?
                .ok_or(StoreError::NotFound(Entity::LoginProfile))?;
        Ok(LoginProfile {
            user,
            password_hash: row.try_get("password_hash").map_err(db)?,
            reset_required: row.try_get("reset_required").map_err(db)?,
            created_at: row.try_get("created_at").map_err(db)?,
        })
    }

    async fn update_login_profile(
        &self,
        account_id: &str,
        user_name: &str,
        password_hash: Option<&str>,
        reset_required: Option<bool>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let user_id = user_id_of(&mut tx, account_id, user_name).await?;
        let done = sqlx::query(
            "UPDATE login_profiles SET password_hash = COALESCE($1, password_hash), \
             reset_required = COALESCE($2, reset_required) WHERE user_id = $3",
        )
        .bind(password_hash)
        .bind(reset_required)
        .bind(&user_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(Entity::LoginProfile));
        }
        tx.commit().await.map_err(db)
    }

    async fn delete_login_profile(&self, account_id: &str, user_name: &str) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let user_id = lock_user(&mut tx, account_id, user_name).await?;
        let done = sqlx::query("DELETE FROM login_profiles WHERE user_id = $1")
            .bind(&user_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(Entity::LoginProfile));
        }
        // Signing out everywhere: a removed password ends the console sessions it opened.
        sqlx::query("DELETE FROM console_sessions WHERE user_id = $1")
            .bind(&user_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn record_password_use(&self, user_id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE users SET password_last_used = $1 WHERE user_id = $2")
            .bind(now)
            .bind(user_id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn get_password_policy(&self, account_id: &str) -> Result<Option<PasswordPolicy>> {
        let row = sqlx::query("SELECT * FROM password_policies WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let decode = || -> std::result::Result<PasswordPolicy, sqlx::Error> {
            let opt = |name: &str| -> std::result::Result<Option<u32>, sqlx::Error> {
                row.try_get::<Option<i64>, _>(name)?.map(to_u32).transpose()
            };
            Ok(PasswordPolicy {
                minimum_length: to_u32(row.try_get("minimum_length")?)?,
                require_symbols: row.try_get("require_symbols")?,
                require_numbers: row.try_get("require_numbers")?,
                require_uppercase: row.try_get("require_uppercase")?,
                require_lowercase: row.try_get("require_lowercase")?,
                allow_users_to_change_password: row.try_get("allow_users_to_change")?,
                max_password_age: opt("max_password_age")?,
                password_reuse_prevention: opt("reuse_prevention")?,
                hard_expiry: row.try_get("hard_expiry")?,
            })
        };
        decode().map(Some).map_err(db)
    }

    async fn put_password_policy(&self, account_id: &str, p: &PasswordPolicy) -> Result<()> {
        sqlx::query(
            "INSERT INTO password_policies (account_id, minimum_length, require_symbols, require_numbers, \
             require_uppercase, require_lowercase, allow_users_to_change, max_password_age, reuse_prevention, \
             hard_expiry) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (account_id) DO UPDATE SET minimum_length = excluded.minimum_length, \
             require_symbols = excluded.require_symbols, require_numbers = excluded.require_numbers, \
             require_uppercase = excluded.require_uppercase, require_lowercase = excluded.require_lowercase, \
             allow_users_to_change = excluded.allow_users_to_change, max_password_age = excluded.max_password_age, \
             reuse_prevention = excluded.reuse_prevention, hard_expiry = excluded.hard_expiry",
        )
        .bind(account_id)
        .bind(i64::from(p.minimum_length))
        .bind(p.require_symbols)
        .bind(p.require_numbers)
        .bind(p.require_uppercase)
        .bind(p.require_lowercase)
        .bind(p.allow_users_to_change_password)
        .bind(p.max_password_age.map(i64::from))
        .bind(p.password_reuse_prevention.map(i64::from))
        .bind(p.hard_expiry)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn delete_password_policy(&self, account_id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM password_policies WHERE account_id = $1")
            .bind(account_id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(Entity::PasswordPolicy));
        }
        Ok(())
    }

    async fn mfa_throttle(&self, user_id: &str) -> Result<ThrottleState> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        throttle_state(&mut conn, user_id, false).await
    }

    async fn record_mfa_failure(&self, user_id: &str, policy: &ThrottlePolicy, now: i64) -> Result<ThrottleState> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Make sure the row exists, then lock it: concurrent failures on any node queue up here
        // and each one sees the count the previous one wrote.
        sqlx::query(
            "INSERT INTO mfa_throttle (user_id, failures, locked_until, locks) VALUES ($1, 0, 0, 0) \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let state = throttle_state(&mut tx, user_id, true).await?.after_failure(policy, now);
        sqlx::query("UPDATE mfa_throttle SET failures = $1, locked_until = $2, locks = $3 WHERE user_id = $4")
            .bind(i64::from(state.failures))
            .bind(state.locked_until)
            .bind(i64::from(state.locks))
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(state)
    }

    async fn clear_mfa_failures(&self, user_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM mfa_throttle WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn create_sts_session(&self, s: &StsSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO sts_sessions (access_key_id, account_id, user_id, secret_sealed, token_hash, created_at, \
             expires_at, mfa_authenticated_at, mfa_serial) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&s.access_key_id)
        .bind(&s.account_id)
        .bind(s.user.as_ref().map(|u| &u.user_id))
        .bind(&s.secret_sealed)
        .bind(&s.token_hash)
        .bind(s.created_at)
        .bind(s.expires_at)
        .bind(s.mfa_authenticated_at)
        .bind(&s.mfa_serial)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn find_sts_session(&self, access_key_id: &str) -> Result<Option<StsSession>> {
        let sql = format!(
            "SELECT s.access_key_id, s.account_id AS session_account, s.secret_sealed, s.token_hash, \
             s.created_at AS session_created, s.expires_at, s.mfa_authenticated_at, s.mfa_serial, \
             s.user_id AS session_user, {USER_COLUMNS} \
             FROM sts_sessions s LEFT JOIN users u ON u.user_id = s.user_id WHERE s.access_key_id = $1"
        );
        let row =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(access_key_id).fetch_optional(&self.pool).await.map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let decode = || -> std::result::Result<StsSession, sqlx::Error> {
            let session_user: Option<String> = row.try_get("session_user")?;
            Ok(StsSession {
                access_key_id: row.try_get("access_key_id")?,
                account_id: row.try_get("session_account")?,
                user: match session_user {
                    Some(_) => Some(user_from_row(&row)?),
                    None => None,
                },
                secret_sealed: row.try_get("secret_sealed")?,
                token_hash: row.try_get("token_hash")?,
                created_at: row.try_get("session_created")?,
                expires_at: row.try_get("expires_at")?,
                mfa_authenticated_at: row.try_get("mfa_authenticated_at")?,
                mfa_serial: row.try_get("mfa_serial")?,
            })
        };
        decode().map(Some).map_err(db)
    }

    async fn purge_expired_sts_sessions(&self, now: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sts_sessions WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn create_console_session(&self, s: &ConsoleSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, account_id, user_id, state, csrf_token, created_at, expires_at, \
             mfa_authenticated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&s.id_hash)
        .bind(&s.account_id)
        .bind(&s.user.user_id)
        .bind(s.state.as_str())
        .bind(&s.csrf_token)
        .bind(s.created_at)
        .bind(s.expires_at)
        .bind(s.mfa_authenticated_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn find_console_session(&self, id_hash: &[u8]) -> Result<Option<ConsoleSession>> {
        let sql = format!(
            "SELECT c.id_hash, c.account_id AS session_account, c.state, c.csrf_token, \
             c.created_at AS session_created, c.expires_at, c.mfa_authenticated_at, {USER_COLUMNS} \
             FROM console_sessions c JOIN users u ON u.user_id = c.user_id WHERE c.id_hash = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id_hash).fetch_optional(&self.pool).await.map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let decode = || -> std::result::Result<ConsoleSession, sqlx::Error> {
            Ok(ConsoleSession {
                id_hash: row.try_get("id_hash")?,
                account_id: row.try_get("session_account")?,
                user: user_from_row(&row)?,
                state: ConsoleState::parse(row.try_get("state")?),
                csrf_token: row.try_get("csrf_token")?,
                created_at: row.try_get("session_created")?,
                expires_at: row.try_get("expires_at")?,
                mfa_authenticated_at: row.try_get("mfa_authenticated_at")?,
            })
        };
        decode().map(Some).map_err(db)
    }

    async fn delete_console_session(&self, id_hash: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn purge_expired_console_sessions(&self, now: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM console_sessions WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn record_auth_event(&self, e: &AuthEvent) -> Result<()> {
        sqlx::query(
            "INSERT INTO auth_events (at, account_id, user_name, source, kind, mfa_used, outcome, reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(e.at)
        .bind(&e.account_id)
        .bind(&e.user_name)
        .bind(&e.source)
        .bind(&e.kind)
        .bind(e.mfa_used)
        .bind(&e.outcome)
        .bind(&e.reason)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn auth_events(&self, account_id: &str, limit: u32) -> Result<Vec<AuthEvent>> {
        let rows = sqlx::query("SELECT * FROM auth_events WHERE account_id = $1 ORDER BY id DESC LIMIT $2")
            .bind(account_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(AuthEvent {
                    at: r.try_get("at")?,
                    account_id: r.try_get("account_id")?,
                    user_name: r.try_get("user_name")?,
                    source: r.try_get("source")?,
                    kind: r.try_get("kind")?,
                    mfa_used: r.try_get("mfa_used")?,
                    outcome: r.try_get("outcome")?,
                    reason: r.try_get("reason")?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(db)
    }

    async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT value FROM meta WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)
    }

    async fn put_meta_if_absent(&self, name: &str, value: &[u8]) -> Result<Vec<u8>> {
        // ON CONFLICT DO NOTHING waits for a concurrent inserter to commit; the SELECT (a new
        // snapshot under READ COMMITTED) then sees whichever value won.
        sqlx::query("INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(name)
            .bind(value)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        sqlx::query_scalar("SELECT value FROM meta WHERE name = $1").bind(name).fetch_one(&self.pool).await.map_err(db)
    }
}

#[cfg(test)]
mod tests {
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
}
