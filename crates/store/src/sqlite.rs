//! The embedded backend: SQLite in WAL mode, and nothing is acknowledged before it is on disk.
//!
//! Durability uses group commit: the writer connection runs with `synchronous = NORMAL` (a
//! commit writes its WAL frames but does not fsync), and every write method then waits in
//! [`WalSync::synced`] until an fsync of the WAL that started after its commit has finished. One
//! fsync thus covers every commit made while the previous one ran, instead of each commit paying
//! its own: under concurrency, durable writes no longer serialize on one fsync each. SQLite itself
//! keeps the database consistent in this mode (it syncs the WAL before checkpointing), and the
//! WAL file is never truncated or replaced while the store is open.
//!
//! Writes go through a pool of exactly one connection: SQLite admits one writer at a time anyway,
//! and a single writer connection turns what would be `SQLITE_BUSY` races between concurrent
//! transactions into an orderly queue. Every check-then-write below therefore runs inside one
//! transaction that no other write can interleave with. Reads use their own pool and never wait
//! for writers (WAL).

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqliteConnection, SqlitePool};

use crate::rows::{DEVICE_COLUMNS, USER_COLUMNS, device_from_row, user_from_row};
use crate::*;

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    wal: WalSync,
}

/// Group commit over the WAL file (see the module comment).
struct WalSync {
    file: Arc<std::fs::File>,
    /// Commits finished so far (numbered from 1).
    committed: AtomicU64,
    /// All commits up to this number are on disk.
    synced: AtomicU64,
    /// How many fsyncs ran (for tests and diagnostics).
    fsyncs: AtomicU64,
    /// Held by the one request currently running an fsync; the others queue behind it and most
    /// find their commit already covered when they get it.
    syncing: tokio::sync::Mutex<()>,
}

impl WalSync {
    /// Returns once the caller's just-finished commit is durable.
    async fn synced(&self) -> Result<()> {
        let mine = self.committed.fetch_add(1, Ordering::AcqRel) + 1;
        if self.synced.load(Ordering::Acquire) >= mine {
            return Ok(());
        }
        let _turn = self.syncing.lock().await;
        if self.synced.load(Ordering::Acquire) >= mine {
            return Ok(());
        }
        // Every commit numbered up to `covered` finished writing before this fsync starts.
        let covered = self.committed.load(Ordering::Acquire);
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || file.sync_data())
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?
            .map_err(|e| StoreError::Backend(format!("fsync of the WAL failed: {e}")))?;
        self.synced.fetch_max(covered, Ordering::AcqRel);
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(e.to_string())
            }
            other => StoreError::Backend(other.to_string()),
        }
    }
}

/// Lower-cased form used for case-insensitive uniqueness and ordering.
fn name_key(name: &str) -> String {
    name.to_lowercase()
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await.map_err(|e| StoreError::Backend(e.to_string()))?;
        // A write now guarantees the WAL file exists before we open it for fsyncs.
        sqlx::query("INSERT INTO meta (name, value) VALUES ('opened', x'01') ON CONFLICT DO NOTHING")
            .execute(&writer)
            .await?;
        let mut wal_path = path.as_os_str().to_owned();
        wal_path.push("-wal");
        let file = std::fs::File::open(&wal_path)
            .map_err(|e| StoreError::Backend(format!("opening {}: {e}", Path::new(&wal_path).display())))?;
        let wal = WalSync {
            file: Arc::new(file),
            committed: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            fsyncs: AtomicU64::new(0),
            syncing: tokio::sync::Mutex::new(()),
        };
        let reader = SqlitePoolOptions::new().max_connections(4).connect_with(options.read_only(true)).await?;
        Ok(Self { writer, reader, wal })
    }

    async fn synced(&self) -> Result<()> {
        self.wal.synced().await
    }
}

// Row decoding --------------------------------------------------------------------------------

/// The user's id, or `NotFound(User)`.
async fn user_id_of(conn: &mut SqliteConnection, account_id: &str, name: &str) -> Result<String> {
    sqlx::query_scalar("SELECT user_id FROM users WHERE account_id = ? AND name_key = ?")
        .bind(account_id)
        .bind(name_key(name))
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound(Entity::User))
}

async fn count(conn: &mut SqliteConnection, sql: &'static str, arg: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(sql).bind(arg).fetch_one(&mut *conn).await?)
}

#[async_trait]
impl Store for SqliteStore {
    async fn ensure_account(&self, account_id: &str, root_key: Option<NewAccessKey>, now: i64) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query("INSERT INTO accounts (account_id, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING")
            .bind(account_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if let Some(key) = root_key {
            sqlx::query(
                "INSERT INTO access_keys (access_key_id, account_id, user_id, secret_sealed, status, created_at) \
                 VALUES (?, ?, NULL, ?, 'Active', ?) \
                 ON CONFLICT (access_key_id) DO UPDATE SET secret_sealed = excluded.secret_sealed \
                 WHERE access_keys.user_id IS NULL AND access_keys.account_id = excluded.account_id",
            )
            .bind(&key.access_key_id)
            .bind(account_id)
            .bind(&key.secret_sealed)
            .bind(key.created_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.synced().await?;
        Ok(())
    }

    async fn account_exists(&self, account_id: &str) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM accounts WHERE account_id = ?")
            .bind(account_id)
            .fetch_optional(&self.reader)
            .await?;
        Ok(found.is_some())
    }

    async fn accounts(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT account_id FROM accounts ORDER BY account_id").fetch_all(&self.reader).await?)
    }

    async fn find_access_key(&self, access_key_id: &str) -> Result<Option<AccessKey>> {
        let mut conn = self.reader.acquire().await?;
        let sql = "SELECT k.access_key_id, k.account_id AS key_account, k.secret_sealed, k.status, k.created_at AS key_created, \
                   u.user_id, u.account_id, u.name, u.path, u.created_at, u.password_last_used \
                   FROM access_keys k LEFT JOIN users u ON u.user_id = k.user_id WHERE k.access_key_id = ?";
        let Some(row) = sqlx::query(sql).bind(access_key_id).fetch_optional(&mut *conn).await? else {
            return Ok(None);
        };
        let user_id: Option<String> = row.try_get("user_id")?;
        let user = match user_id {
            Some(_) => Some(user_from_row(&row)?),
            None => None,
        };
        Ok(Some(AccessKey {
            access_key_id: row.try_get("access_key_id")?,
            account_id: row.try_get("key_account")?,
            user,
            secret_sealed: row.try_get("secret_sealed")?,
            status: KeyStatus::parse(row.try_get("status")?).unwrap_or(KeyStatus::Inactive),
            created_at: row.try_get("key_created")?,
        }))
    }

    async fn create_user(&self, user: &User) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (user_id, account_id, name, name_key, path, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&user.user_id)
        .bind(&user.account_id)
        .bind(&user.name)
        .bind(name_key(&user.name))
        .bind(&user.path)
        .bind(user.created_at)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyExists(Entity::User)),
            other => other?,
        };
        for tag in &user.tags {
            sqlx::query("INSERT INTO user_tags (user_id, tag_key, key_norm, value) VALUES (?, ?, ?, ?)")
                .bind(&user.user_id)
                .bind(&tag.key)
                .bind(name_key(&tag.key))
                .bind(&tag.value)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.synced().await?;
        Ok(())
    }

    async fn get_user(&self, account_id: &str, name: &str) -> Result<Option<User>> {
        // One statement (a row per tag) rather than two: every statement is a round trip to
        // the connection's worker thread, the largest cost on the read path.
        let sql = format!(
            "SELECT {USER_COLUMNS}, t.tag_key, t.value AS tag_value FROM users u \
             LEFT JOIN user_tags t ON t.user_id = u.user_id \
             WHERE u.account_id = ? AND u.name_key = ? ORDER BY t.key_norm"
        );
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(account_id).bind(name_key(name)).fetch_all(&self.reader).await?;
        let Some(first) = rows.first() else { return Ok(None) };
        let mut user = user_from_row(first)?;
        for row in &rows {
            if let Some(key) = row.try_get::<Option<String>, _>("tag_key")? {
                user.tags.push(Tag { key, value: row.try_get("tag_value")? });
            }
        }
        Ok(Some(user))
    }

    async fn list_users(&self, account_id: &str, path_prefix: &str, page: &Page) -> Result<Vec<User>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.account_id = ? AND substr(u.path, 1, length(?)) = ? \
             AND u.name_key > ? ORDER BY u.name_key LIMIT ?"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(path_prefix)
            .bind(path_prefix)
            .bind(page.after.as_deref().unwrap_or(""))
            .bind(page.limit as i64 + 1)
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.iter().map(user_from_row).collect::<std::result::Result<_, _>>()?)
    }

    async fn update_user(
        &self,
        account_id: &str,
        name: &str,
        new_name: Option<&str>,
        new_path: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        let user_id = user_id_of(&mut tx, account_id, name).await?;
        let updated = sqlx::query(
            "UPDATE users SET name = COALESCE(?, name), name_key = COALESCE(?, name_key), path = COALESCE(?, path) \
             WHERE user_id = ?",
        )
        .bind(new_name)
        .bind(new_name.map(name_key))
        .bind(new_path)
        .bind(&user_id)
        .execute(&mut *tx)
        .await;
        match updated {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyExists(Entity::User)),
            other => other?,
        };
        tx.commit().await?;
        self.synced().await?;
        Ok(())
    }

    async fn delete_user(&self, account_id: &str, name: &str) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        let user_id = user_id_of(&mut tx, account_id, name).await?;
        if count(&mut tx, "SELECT COUNT(*) FROM login_profiles WHERE user_id = ?", &user_id).await? > 0 {
            return Err(StoreError::DeleteConflict(Dependent::LoginProfile));
        }
        if count(&mut tx, "SELECT COUNT(*) FROM access_keys WHERE user_id = ?", &user_id).await? > 0 {
            return Err(StoreError::DeleteConflict(Dependent::AccessKeys));
        }
        if count(&mut tx, "SELECT COUNT(*) FROM mfa_devices WHERE user_id = ?", &user_id).await? > 0 {
            return Err(StoreError::DeleteConflict(Dependent::MfaDevices));
        }
        sqlx::query("DELETE FROM user_tags WHERE user_id = ?").bind(&user_id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM users WHERE user_id = ?").bind(&user_id).execute(&mut *tx).await?;
        tx.commit().await?;
        self.synced().await?;
        Ok(())
    }

    async fn create_access_key(
        &self,
        account_id: &str,
        user_name: &str,
        key: &NewAccessKey,
        max_per_user: u32,
    ) -> Result<AccessKey> {
        let mut tx = self.writer.begin().await?;
        let user_id = user_id_of(&mut tx, account_id, user_name).await?;
        if count(&mut tx, "SELECT COUNT(*) FROM access_keys WHERE user_id = ?", &user_id).await?
            >= i64::from(max_per_user)
        {
            return Err(StoreError::LimitExceeded);
        }
        sqlx::query(
            "INSERT INTO access_keys (access_key_id, account_id, user_id, secret_sealed, status, created_at) \
             VALUES (?, ?, ?, ?, 'Active', ?)",
        )
        .bind(&key.access_key_id)
        .bind(account_id)
        .bind(&user_id)
        .bind(&key.secret_sealed)
        .bind(key.created_at)
        .execute(&mut *tx)
        .await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.user_id = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&user_id).fetch_one(&mut *tx).await?;
        let user = user_from_row(&row)?;
        tx.commit().await?;
        self.synced().await?;
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
        let mut conn = self.reader.acquire().await?;
        let user_id = user_id_of(&mut conn, account_id, user_name).await?;
        let sql = format!(
            "SELECT k.access_key_id, k.secret_sealed, k.status, k.created_at AS key_created, {USER_COLUMNS} \
             FROM access_keys k JOIN users u ON u.user_id = k.user_id WHERE k.user_id = ? ORDER BY k.access_key_id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&user_id).fetch_all(&mut *conn).await?;
        rows.iter()
            .map(|row| {
                Ok(AccessKey {
                    access_key_id: row.try_get("access_key_id")?,
                    account_id: account_id.to_owned(),
                    user: Some(user_from_row(row)?),
                    secret_sealed: row.try_get("secret_sealed")?,
                    status: KeyStatus::parse(row.try_get("status")?).unwrap_or(KeyStatus::Inactive),
                    created_at: row.try_get("key_created")?,
                })
            })
            .collect()
    }

    async fn update_access_key(
        &self,
        account_id: &str,
        user_name: &str,
        access_key_id: &str,
        status: KeyStatus,
    ) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        let user_id = user_id_of(&mut tx, account_id, user_name).await?;
        let done = sqlx::query("UPDATE access_keys SET status = ? WHERE access_key_id = ? AND user_id = ?")
            .bind(status.as_str())
            .bind(access_key_id)
            .bind(&user_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(Entity::AccessKey));
        }
        tx.commit().await?;
        self.synced().await?;
        Ok(())
    }

    async fn delete_access_key(&self, account_id: &str, user_name: &str, access_key_id: &str) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        let user_id = user_id_of(&mut tx, account_id, user_name).await?;
        let done = sqlx::query("DELETE FROM access_keys WHERE access_key_id = ? AND user_id = ?")
            .bind(access_key_id)
            .bind(&user_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(Entity::AccessKey));
        }
        tx.commit().await?;
        self.synced().await?;
        Ok(())
    }

    async fn create_mfa_device(&self, device: &NewMfaDevice, max_in_account: u32) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        if count(&mut tx, "SELECT COUNT(*) FROM mfa_devices WHERE account_id = ?", &device.account_id).await?
            >= i64::from(max_in_account)
        {
            return Err(StoreError::LimitExceeded);
        }
        let inserted = sqlx::query(
            "INSERT INTO mfa_devices (serial, account_id, path, name, seed_sealed, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&device.serial)
        .bind(&device.account_id)
        .bind(&device.path)
        .bind(&device.name)
        .bind(&device.seed_sealed)
        .bind(device.created_at)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyExists(Entity::MfaDevice)),
            other => other?,
        };
        insert_device_tags(&mut tx, &device.serial, &device.tags).await?;
        tx.commit().await?;
        self.synced().await?;
        Ok(())
    }

    async fn get_mfa_device(&self, account_id: &str, serial: &str) -> Result<Option<MfaDevice>> {
        let sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM mfa_devices d LEFT JOIN users u ON u.user_id = d.user_id \
             WHERE d.account_id = ? AND d.serial = ?"
        );
        let row =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(account_id).bind(serial).fetch_optional(&self.reader).await?;
        Ok(row.as_ref().map(device_from_row).transpose()?)
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
        let mut tx = self.writer.begin().await?;
        let user_id = user_id_of(&mut tx, account_id, user_name).await?;
        if count(&mut tx, "SELECT COUNT(*) FROM mfa_devices WHERE user_id = ?", &user_id).await?
            >= i64::from(max_per_user)
        {
            return Err(StoreError::LimitExceeded);
        }
        let done = sqlx::query(
            "UPDATE mfa_devices SET user_id = ?, enable_date = ?, offset_steps = ?, last_step = ? \
             WHERE account_id = ? AND serial = ? AND user_id IS NULL",
        )
        .bind(&user_id)
        .bind(enable_date)
        .bind(sync.offset_steps)
        .bind(sync.last_accepted_step)
        .bind(account_id)
        .bind(serial)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT 1 FROM mfa_devices WHERE account_id = ? AND serial = ?")
                    .bind(account_id)
                    .bind(serial)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Err(match exists {
                Some(_) => StoreError::DeviceInUse,
                None => StoreError::NotFound(Entity::MfaDevice),
            });
        }
        tx.commit().await?;
        self.synced().await?;
        Ok(())
    }

    async fn advance_mfa_sync(&self, serial: &str, user_id: &str, seen_last_step: i64, sync: DeviceSync) -> Result<()> {
        let done = sqlx::query(
            "UPDATE mfa_devices SET offset_steps = ?, last_step = ? WHERE serial = ? AND user_id = ? AND last_step = ?",
        )
        .bind(sync.offset_steps)
        .bind(sync.last_accepted_step)
        .bind(serial)
        .bind(user_id)
        .bind(seen_last_step)
        .execute(&self.writer)
        .await?;
        self.synced().await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        Ok(())
    }

    async fn unassign_mfa_device(&self, account_id: &str, user_name: &str, serial: &str) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        let user_id = user_id_of(&mut tx, account_id, user_name).await?;
        let done = sqlx::query(
            "UPDATE mfa_devices SET user_id = NULL, enable_date = NULL, offset_steps = NULL, last_step = NULL \
             WHERE account_id = ? AND serial = ? AND user_id = ?",
        )
        .bind(account_id)
        .bind(serial)
        .bind(&user_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(Entity::MfaDevice));
        }
        tx.commit().await?;
        self.synced().await?;
        Ok(())
    }

    async fn delete_mfa_device(&self, account_id: &str, serial: &str) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        let assigned: Option<Option<String>> =
            sqlx::query_scalar("SELECT user_id FROM mfa_devices WHERE account_id = ? AND serial = ?")
                .bind(account_id)
                .bind(serial)
                .fetch_optional(&mut *tx)
                .await?;
        match assigned {
            None => return Err(StoreError::NotFound(Entity::MfaDevice)),
            Some(Some(_)) => return Err(StoreError::DeviceAssigned),
            Some(None) => {}
        }
        sqlx::query("DELETE FROM mfa_devices WHERE serial = ?").bind(serial).execute(&mut *tx).await?;
        tx.commit().await?;
        self.synced().await?;
        Ok(())
    }

    async fn list_user_mfa_devices(&self, account_id: &str, user_name: &str) -> Result<Vec<MfaDevice>> {
        // One statement: no row means no such user; a row without a serial, a user without
        // devices.
        let sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM users u LEFT JOIN mfa_devices d ON d.user_id = u.user_id \
             WHERE u.account_id = ? AND u.name_key = ? ORDER BY d.serial"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(name_key(user_name))
            .fetch_all(&self.reader)
            .await?;
        if rows.is_empty() {
            return Err(StoreError::NotFound(Entity::User));
        }
        let mut devices = Vec::new();
        for row in &rows {
            if row.try_get::<Option<String>, _>("serial")?.is_some() {
                devices.push(device_from_row(row)?);
            }
        }
        Ok(devices)
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
             WHERE d.account_id = ? AND d.serial > ? {condition} ORDER BY d.serial LIMIT ?"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(page.after.as_deref().unwrap_or(""))
            .bind(page.limit as i64 + 1)
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.iter().map(device_from_row).collect::<std::result::Result<_, _>>()?)
    }

    async fn tag_mfa_device(&self, account_id: &str, serial: &str, tags: &[Tag], max: usize) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        device_must_exist(&mut tx, account_id, serial).await?;
        insert_device_tags(&mut tx, serial, tags).await?;
        if count(&mut tx, "SELECT COUNT(*) FROM mfa_device_tags WHERE serial = ?", serial).await? > max as i64 {
            // Dropping the transaction rolls the new tags back.
            return Err(StoreError::LimitExceeded);
        }
        tx.commit().await?;
        self.synced().await?;
        Ok(())
    }

    async fn untag_mfa_device(&self, account_id: &str, serial: &str, keys: &[String]) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        device_must_exist(&mut tx, account_id, serial).await?;
        for key in keys {
            sqlx::query("DELETE FROM mfa_device_tags WHERE serial = ? AND key_norm = ?")
                .bind(serial)
                .bind(name_key(key))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.synced().await?;
        Ok(())
    }

    async fn mfa_device_tags(&self, account_id: &str, serial: &str) -> Result<Vec<Tag>> {
        let mut conn = self.reader.acquire().await?;
        device_must_exist(&mut conn, account_id, serial).await?;
        let rows = sqlx::query("SELECT tag_key, value FROM mfa_device_tags WHERE serial = ? ORDER BY key_norm")
            .bind(serial)
            .fetch_all(&mut *conn)
            .await?;
        Ok(rows.iter().map(|r| Tag { key: r.get("tag_key"), value: r.get("value") }).collect())
    }

    async fn account_counts(&self, account_id: &str) -> Result<AccountCounts> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM users WHERE account_id = ?1) AS users, \
                    (SELECT COUNT(*) FROM mfa_devices WHERE account_id = ?1) AS devices, \
                    (SELECT COUNT(*) FROM mfa_devices WHERE account_id = ?1 AND user_id IS NOT NULL) AS in_use, \
                    (SELECT COUNT(*) FROM access_keys WHERE account_id = ?1 AND user_id IS NULL) AS root_keys",
        )
        .bind(account_id)
        .fetch_one(&self.reader)
        .await?;
        let get = |name: &str| -> std::result::Result<u64, sqlx::Error> { Ok(row.try_get::<i64, _>(name)? as u64) };
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
        let mut tx = self.writer.begin().await?;
        let user = user_by_name(&mut tx, account_id, user_name).await?;
        let inserted = sqlx::query(
            "INSERT INTO login_profiles (user_id, password_hash, reset_required, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(&user.user_id)
        .bind(password_hash)
        .bind(reset_required)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyExists(Entity::LoginProfile)),
            other => other?,
        };
        tx.commit().await?;
        self.synced().await?;
        Ok(LoginProfile { user, password_hash: password_hash.to_owned(), reset_required, created_at: now })
    }

    async fn get_login_profile(&self, account_id: &str, user_name: &str) -> Result<LoginProfile> {
        let mut conn = self.reader.acquire().await?;
        let user = user_by_name(&mut conn, account_id, user_name).await?;
        let row = sqlx::query("SELECT password_hash, reset_required, created_at FROM login_profiles WHERE user_id = ?")
            .bind(&user.user_id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(StoreError::NotFound(Entity::LoginProfile))?;
        Ok(LoginProfile {
            user,
            password_hash: row.try_get("password_hash")?,
            reset_required: row.try_get("reset_required")?,
            created_at: row.try_get("created_at")?,
        })
    }

    async fn update_login_profile(
        &self,
        account_id: &str,
        user_name: &str,
        password_hash: Option<&str>,
        reset_required: Option<bool>,
    ) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        let user_id = user_id_of(&mut tx, account_id, user_name).await?;
        let done = sqlx::query(
            "UPDATE login_profiles SET password_hash = COALESCE(?, password_hash), \
             reset_required = COALESCE(?, reset_required) WHERE user_id = ?",
        )
        .bind(password_hash)
        .bind(reset_required)
        .bind(&user_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(Entity::LoginProfile));
        }
        tx.commit().await?;
        self.synced().await?;
        Ok(())
    }

    async fn delete_login_profile(&self, account_id: &str, user_name: &str) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        let user_id = user_id_of(&mut tx, account_id, user_name).await?;
        let done = sqlx::query("DELETE FROM login_profiles WHERE user_id = ?").bind(&user_id).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(Entity::LoginProfile));
        }
        // Signing out everywhere: a removed password ends the console sessions it opened.
        sqlx::query("DELETE FROM console_sessions WHERE user_id = ?").bind(&user_id).execute(&mut *tx).await?;
        tx.commit().await?;
        self.synced().await?;
        Ok(())
    }

    async fn record_password_use(&self, user_id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE users SET password_last_used = ? WHERE user_id = ?")
            .bind(now)
            .bind(user_id)
            .execute(&self.writer)
            .await?;
        self.synced().await?;
        Ok(())
    }

    async fn get_password_policy(&self, account_id: &str) -> Result<Option<PasswordPolicy>> {
        let row = sqlx::query("SELECT * FROM password_policies WHERE account_id = ?")
            .bind(account_id)
            .fetch_optional(&self.reader)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(PasswordPolicy {
            minimum_length: row.try_get("minimum_length")?,
            require_symbols: row.try_get("require_symbols")?,
            require_numbers: row.try_get("require_numbers")?,
            require_uppercase: row.try_get("require_uppercase")?,
            require_lowercase: row.try_get("require_lowercase")?,
            allow_users_to_change_password: row.try_get("allow_users_to_change")?,
            max_password_age: row.try_get("max_password_age")?,
            password_reuse_prevention: row.try_get("reuse_prevention")?,
            hard_expiry: row.try_get("hard_expiry")?,
        }))
    }

    async fn put_password_policy(&self, account_id: &str, p: &PasswordPolicy) -> Result<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO password_policies (account_id, minimum_length, require_symbols, require_numbers, \
             require_uppercase, require_lowercase, allow_users_to_change, max_password_age, reuse_prevention, hard_expiry) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(account_id)
        .bind(p.minimum_length)
        .bind(p.require_symbols)
        .bind(p.require_numbers)
        .bind(p.require_uppercase)
        .bind(p.require_lowercase)
        .bind(p.allow_users_to_change_password)
        .bind(p.max_password_age)
        .bind(p.password_reuse_prevention)
        .bind(p.hard_expiry)
        .execute(&self.writer)
        .await?;
        self.synced().await?;
        Ok(())
    }

    async fn delete_password_policy(&self, account_id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM password_policies WHERE account_id = ?")
            .bind(account_id)
            .execute(&self.writer)
            .await?;
        self.synced().await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(Entity::PasswordPolicy));
        }
        Ok(())
    }

    async fn mfa_throttle(&self, user_id: &str) -> Result<ThrottleState> {
        throttle_state(&mut *self.reader.acquire().await?, user_id).await
    }

    async fn record_mfa_failure(&self, user_id: &str, policy: &ThrottlePolicy, now: i64) -> Result<ThrottleState> {
        let mut tx = self.writer.begin().await?;
        let state = throttle_state(&mut tx, user_id).await?.after_failure(policy, now);
        sqlx::query(
            "INSERT INTO mfa_throttle (user_id, failures, locked_until, locks) VALUES (?, ?, ?, ?) \
             ON CONFLICT (user_id) DO UPDATE SET failures = excluded.failures, \
             locked_until = excluded.locked_until, locks = excluded.locks",
        )
        .bind(user_id)
        .bind(state.failures)
        .bind(state.locked_until)
        .bind(state.locks)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.synced().await?;
        Ok(state)
    }

    async fn clear_mfa_failures(&self, user_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM mfa_throttle WHERE user_id = ?").bind(user_id).execute(&self.writer).await?;
        self.synced().await?;
        Ok(())
    }

    async fn create_sts_session(&self, s: &StsSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO sts_sessions (access_key_id, account_id, user_id, secret_sealed, token_hash, created_at, \
             expires_at, mfa_authenticated_at, mfa_serial) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        .execute(&self.writer)
        .await?;
        self.synced().await?;
        Ok(())
    }

    async fn find_sts_session(&self, access_key_id: &str) -> Result<Option<StsSession>> {
        let sql = format!(
            "SELECT s.access_key_id, s.account_id AS session_account, s.secret_sealed, s.token_hash, \
             s.created_at AS session_created, s.expires_at, s.mfa_authenticated_at, s.mfa_serial, \
             s.user_id AS session_user, {USER_COLUMNS} \
             FROM sts_sessions s LEFT JOIN users u ON u.user_id = s.user_id WHERE s.access_key_id = ?"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(access_key_id).fetch_optional(&self.reader).await?;
        let Some(row) = row else { return Ok(None) };
        let session_user: Option<String> = row.try_get("session_user")?;
        Ok(Some(StsSession {
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
        }))
    }

    async fn purge_expired_sts_sessions(&self, now: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sts_sessions WHERE expires_at < ?").bind(now).execute(&self.writer).await?;
        self.synced().await?;
        Ok(done.rows_affected())
    }

    async fn create_console_session(&self, s: &ConsoleSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, account_id, user_id, state, csrf_token, created_at, expires_at, \
             mfa_authenticated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&s.id_hash)
        .bind(&s.account_id)
        .bind(&s.user.user_id)
        .bind(s.state.as_str())
        .bind(&s.csrf_token)
        .bind(s.created_at)
        .bind(s.expires_at)
        .bind(s.mfa_authenticated_at)
        .execute(&self.writer)
        .await?;
        self.synced().await?;
        Ok(())
    }

    async fn find_console_session(&self, id_hash: &[u8]) -> Result<Option<ConsoleSession>> {
        let sql = format!(
            "SELECT c.id_hash, c.account_id AS session_account, c.state, c.csrf_token, c.created_at AS session_created, \
             c.expires_at, c.mfa_authenticated_at, {USER_COLUMNS} \
             FROM console_sessions c JOIN users u ON u.user_id = c.user_id WHERE c.id_hash = ?"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id_hash).fetch_optional(&self.reader).await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(ConsoleSession {
            id_hash: row.try_get("id_hash")?,
            account_id: row.try_get("session_account")?,
            user: user_from_row(&row)?,
            state: ConsoleState::parse(row.try_get("state")?),
            csrf_token: row.try_get("csrf_token")?,
            created_at: row.try_get("session_created")?,
            expires_at: row.try_get("expires_at")?,
            mfa_authenticated_at: row.try_get("mfa_authenticated_at")?,
        }))
    }

    async fn delete_console_session(&self, id_hash: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = ?").bind(id_hash).execute(&self.writer).await?;
        self.synced().await?;
        Ok(())
    }

    async fn purge_expired_console_sessions(&self, now: i64) -> Result<u64> {
        let done =
            sqlx::query("DELETE FROM console_sessions WHERE expires_at < ?").bind(now).execute(&self.writer).await?;
        self.synced().await?;
        Ok(done.rows_affected())
    }

    async fn record_auth_event(&self, e: &AuthEvent) -> Result<()> {
        sqlx::query(
            "INSERT INTO auth_events (at, account_id, user_name, source, kind, mfa_used, outcome, reason) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(e.at)
        .bind(&e.account_id)
        .bind(&e.user_name)
        .bind(&e.source)
        .bind(&e.kind)
        .bind(e.mfa_used)
        .bind(&e.outcome)
        .bind(&e.reason)
        .execute(&self.writer)
        .await?;
        self.synced().await?;
        Ok(())
    }

    async fn auth_events(&self, account_id: &str, limit: u32) -> Result<Vec<AuthEvent>> {
        let rows = sqlx::query("SELECT * FROM auth_events WHERE account_id = ? ORDER BY id DESC LIMIT ?")
            .bind(account_id)
            .bind(limit)
            .fetch_all(&self.reader)
            .await?;
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
            .collect()
    }

    async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE name = ?").bind(name).fetch_optional(&self.reader).await?)
    }

    async fn put_meta_if_absent(&self, name: &str, value: &[u8]) -> Result<Vec<u8>> {
        let mut tx = self.writer.begin().await?;
        sqlx::query("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING")
            .bind(name)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        let stored = sqlx::query_scalar("SELECT value FROM meta WHERE name = ?").bind(name).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        self.synced().await?;
        Ok(stored)
    }
}

/// The user, or `NotFound(User)`.
async fn user_by_name(conn: &mut SqliteConnection, account_id: &str, name: &str) -> Result<User> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.account_id = ? AND u.name_key = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(account_id)
        .bind(name_key(name))
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound(Entity::User))?;
    Ok(user_from_row(&row)?)
}

async fn throttle_state(conn: &mut SqliteConnection, user_id: &str) -> Result<ThrottleState> {
    let row = sqlx::query("SELECT failures, locked_until, locks FROM mfa_throttle WHERE user_id = ?")
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        Some(r) => ThrottleState {
            failures: r.try_get("failures")?,
            locked_until: r.try_get("locked_until")?,
            locks: r.try_get("locks")?,
        },
        None => ThrottleState::default(),
    })
}

async fn device_must_exist(conn: &mut SqliteConnection, account_id: &str, serial: &str) -> Result<()> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM mfa_devices WHERE account_id = ? AND serial = ?")
        .bind(account_id)
        .bind(serial)
        .fetch_optional(&mut *conn)
        .await?;
    found.map(|_| ()).ok_or(StoreError::NotFound(Entity::MfaDevice))
}

async fn insert_device_tags(conn: &mut SqliteConnection, serial: &str, tags: &[Tag]) -> Result<()> {
    for tag in tags {
        sqlx::query(
            "INSERT INTO mfa_device_tags (serial, tag_key, key_norm, value) VALUES (?, ?, ?, ?) \
             ON CONFLICT (serial, key_norm) DO UPDATE SET tag_key = excluded.tag_key, value = excluded.value",
        )
        .bind(serial)
        .bind(&tag.key)
        .bind(name_key(&tag.key))
        .bind(&tag.value)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every acknowledged write is covered by an fsync that started after its commit, and
    /// concurrent writers share fsyncs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_are_durable_and_share_fsyncs() {
        let dir = std::env::temp_dir().join(format!("iamd-wal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Arc::new(SqliteStore::open(&dir.join("t.db")).await.unwrap());
        store.ensure_account("123456789012", None, 0).await.unwrap();
        let writes: Vec<_> = (0..64)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let user = User {
                        account_id: "123456789012".into(),
                        user_id: format!("AIDA{i:017}"),
                        name: format!("user{i}"),
                        path: "/".into(),
                        created_at: 0,
                        password_last_used: None,
                        tags: vec![],
                    };
                    store.create_user(&user).await
                })
            })
            .collect();
        for write in writes {
            write.await.unwrap().unwrap();
        }
        let wal = &store.wal;
        let committed = wal.committed.load(Ordering::Acquire);
        assert_eq!(wal.synced.load(Ordering::Acquire), committed, "every commit is covered by an fsync");
        let fsyncs = wal.fsyncs.load(Ordering::Relaxed);
        assert!(fsyncs >= 1 && fsyncs <= committed, "{fsyncs} fsyncs for {committed} commits");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
