//! The embedded backend: one SQLite file in WAL mode, and nothing is acknowledged before it is
//! on disk. [`engine`] says how statements run (reads on the caller's thread, writes grouped
//! into durable commits on one writer thread); this file says what they are.

mod engine;
mod migrate;
mod rows;

use std::path::Path;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::*;
use engine::{Engine, snapshot};
use rows::{USER_WIDTH, device_at, device_columns, user_at, user_columns};

pub struct SqliteStore {
    engine: Engine,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        let path = path.to_owned();
        let engine = tokio::task::spawn_blocking(move || Engine::open(&path))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))??;
        Ok(Self { engine })
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::*;
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(f.code, DatabaseBusy | DatabaseLocked | CannotOpen | DiskFull | SystemIoFailure) =>
            {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Backend(e.to_string()),
        }
    }
}

/// Lower-cased form used for case-insensitive uniqueness and ordering.
fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// Maps a unique-constraint violation to `AlreadyExists(entity)`.
fn unique_as(entity: Entity) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| {
        let unique = matches!(&e, rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY);
        if unique { StoreError::AlreadyExists(entity) } else { e.into() }
    }
}

/// The user's id, or `NotFound(User)`.
fn user_id_of(conn: &Connection, account_id: &str, name: &str) -> Result<String> {
    conn.prepare_cached("SELECT user_id FROM users WHERE account_id = ? AND name_key = ?")?
        .query_row(params![account_id, name_key(name)], |row| row.get(0))
        .optional()?
        .ok_or(StoreError::NotFound(Entity::User))
}

/// The user, or `NotFound(User)`.
fn user_by_name(conn: &Connection, account_id: &str, name: &str) -> Result<User> {
    conn.prepare_cached(concat!("SELECT ", user_columns!(), " FROM users u WHERE u.account_id = ? AND u.name_key = ?"))?
        .query_row(params![account_id, name_key(name)], |row| user_at(row, 0))
        .optional()?
        .ok_or(StoreError::NotFound(Entity::User))
}

fn count(conn: &Connection, sql: &'static str, arg: &str) -> Result<i64> {
    Ok(conn.prepare_cached(sql)?.query_row([arg], |row| row.get(0))?)
}

fn device_must_exist(conn: &Connection, account_id: &str, serial: &str) -> Result<()> {
    conn.prepare_cached("SELECT 1 FROM mfa_devices WHERE account_id = ? AND serial = ?")?
        .query_row([account_id, serial], |_| Ok(()))
        .optional()?
        .ok_or(StoreError::NotFound(Entity::MfaDevice))
}

fn insert_device_tags(conn: &Connection, serial: &str, tags: &[Tag]) -> Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO mfa_device_tags (serial, tag_key, key_norm, value) VALUES (?, ?, ?, ?) \
         ON CONFLICT (serial, key_norm) DO UPDATE SET tag_key = excluded.tag_key, value = excluded.value",
    )?;
    for tag in tags {
        insert.execute(params![serial, tag.key, name_key(&tag.key), tag.value])?;
    }
    Ok(())
}

fn throttle_state(conn: &Connection, user_id: &str) -> Result<ThrottleState> {
    let state = conn
        .prepare_cached("SELECT failures, locked_until, locks FROM mfa_throttle WHERE user_id = ?")?
        .query_row([user_id], |r| Ok(ThrottleState { failures: r.get(0)?, locked_until: r.get(1)?, locks: r.get(2)? }))
        .optional()?;
    Ok(state.unwrap_or_default())
}

fn decode_all<T>(
    conn: &Connection,
    sql: &'static str,
    params: impl rusqlite::Params,
    decode: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut statement = conn.prepare_cached(sql)?;
    let rows = statement.query_map(params, decode)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Fails with `not_found` when a statement changed nothing.
fn changed(rows: usize, not_found: StoreError) -> Result<()> {
    if rows == 0 { Err(not_found) } else { Ok(()) }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ensure_account(&self, account_id: &str, root_key: Option<NewAccessKey>, now: i64) -> Result<()> {
        let account_id = account_id.to_owned();
        self.engine
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO accounts (account_id, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                )?
                .execute(params![account_id, now])?;
                if let Some(key) = root_key {
                    c.prepare_cached(
                        "INSERT INTO access_keys (access_key_id, account_id, user_id, secret_sealed, status, created_at) \
                         VALUES (?, ?, NULL, ?, 'Active', ?) \
                         ON CONFLICT (access_key_id) DO UPDATE SET secret_sealed = excluded.secret_sealed \
                         WHERE access_keys.user_id IS NULL AND access_keys.account_id = excluded.account_id",
                    )?
                    .execute(params![key.access_key_id, account_id, key.secret_sealed, key.created_at])?;
                }
                Ok(())
            })
            .await
    }

    async fn account_exists(&self, account_id: &str) -> Result<bool> {
        self.engine.read(|c| {
            Ok(c.prepare_cached("SELECT 1 FROM accounts WHERE account_id = ?")?
                .query_row([account_id], |_| Ok(()))
                .optional()?
                .is_some())
        })
    }

    async fn accounts(&self) -> Result<Vec<String>> {
        self.engine.read(|c| decode_all(c, "SELECT account_id FROM accounts ORDER BY account_id", [], |r| r.get(0)))
    }

    async fn find_access_key(&self, access_key_id: &str) -> Result<Option<AccessKey>> {
        const SQL: &str = concat!(
            "SELECT k.access_key_id, k.account_id, k.secret_sealed, k.status, k.created_at, k.user_id, ",
            user_columns!(),
            " FROM access_keys k LEFT JOIN users u ON u.user_id = k.user_id WHERE k.access_key_id = ?"
        );
        self.engine.read(|c| {
            Ok(c.prepare_cached(SQL)?
                .query_row([access_key_id], |row| {
                    let user_id: Option<String> = row.get(5)?;
                    Ok(AccessKey {
                        access_key_id: row.get(0)?,
                        account_id: row.get(1)?,
                        secret_sealed: row.get(2)?,
                        status: KeyStatus::parse(&row.get::<_, String>(3)?).unwrap_or(KeyStatus::Inactive),
                        created_at: row.get(4)?,
                        user: user_id.map(|_| user_at(row, 6)).transpose()?,
                    })
                })
                .optional()?)
        })
    }

    async fn create_user(&self, user: &User, max_in_account: u32) -> Result<()> {
        let user = user.clone();
        self.engine
            .write(move |c| {
                // The writer runs one write at a time, so the count holds until this commits.
                if count(c, "SELECT COUNT(*) FROM users WHERE account_id = ?", &user.account_id)?
                    >= i64::from(max_in_account)
                {
                    return Err(StoreError::LimitExceeded);
                }
                c.prepare_cached(
                    "INSERT INTO users (user_id, account_id, name, name_key, path, created_at) \
                     VALUES (?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    user.user_id,
                    user.account_id,
                    user.name,
                    name_key(&user.name),
                    user.path,
                    user.created_at
                ])
                .map_err(unique_as(Entity::User))?;
                let mut insert_tag =
                    c.prepare_cached("INSERT INTO user_tags (user_id, tag_key, key_norm, value) VALUES (?, ?, ?, ?)")?;
                for tag in &user.tags {
                    insert_tag.execute(params![user.user_id, tag.key, name_key(&tag.key), tag.value])?;
                }
                Ok(())
            })
            .await
    }

    async fn get_user(&self, account_id: &str, name: &str) -> Result<Option<User>> {
        // One statement, a row per tag.
        const SQL: &str = concat!(
            "SELECT ",
            user_columns!(),
            ", t.tag_key, t.value FROM users u LEFT JOIN user_tags t ON t.user_id = u.user_id \
             WHERE u.account_id = ? AND u.name_key = ? ORDER BY t.key_norm"
        );
        self.engine.read(|c| {
            let mut statement = c.prepare_cached(SQL)?;
            let mut rows = statement.query(params![account_id, name_key(name)])?;
            let Some(first) = rows.next()? else { return Ok(None) };
            let mut user = user_at(first, 0)?;
            let mut row = Some(first);
            while let Some(r) = row {
                if let Some(key) = r.get::<_, Option<String>>(USER_WIDTH)? {
                    user.tags.push(Tag { key, value: r.get(USER_WIDTH + 1)? });
                }
                row = rows.next()?;
            }
            Ok(Some(user))
        })
    }

    async fn list_users(&self, account_id: &str, path_prefix: &str, page: &Page) -> Result<Vec<User>> {
        const SQL: &str = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.account_id = ?1 AND substr(u.path, 1, length(?2)) = ?2 \
             AND u.name_key > ?3 ORDER BY u.name_key LIMIT ?4"
        );
        let after = page.after.as_deref().unwrap_or("");
        let limit = page.limit as i64 + 1;
        self.engine.read(|c| decode_all(c, SQL, params![account_id, path_prefix, after, limit], |r| user_at(r, 0)))
    }

    async fn update_user(
        &self,
        account_id: &str,
        name: &str,
        new_name: Option<&str>,
        new_path: Option<&str>,
    ) -> Result<()> {
        let (account_id, name) = (account_id.to_owned(), name.to_owned());
        let (new_name, new_path) = (new_name.map(str::to_owned), new_path.map(str::to_owned));
        self.engine
            .write(move |c| {
                let user_id = user_id_of(c, &account_id, &name)?;
                c.prepare_cached(
                    "UPDATE users SET name = COALESCE(?, name), name_key = COALESCE(?, name_key), \
                     path = COALESCE(?, path) WHERE user_id = ?",
                )?
                .execute(params![new_name, new_name.as_deref().map(name_key), new_path, user_id])
                .map_err(unique_as(Entity::User))?;
                Ok(())
            })
            .await
    }

    async fn delete_user(&self, account_id: &str, name: &str) -> Result<()> {
        let (account_id, name) = (account_id.to_owned(), name.to_owned());
        self.engine
            .write(move |c| {
                let user_id = user_id_of(c, &account_id, &name)?;
                if count(c, "SELECT COUNT(*) FROM login_profiles WHERE user_id = ?", &user_id)? > 0 {
                    return Err(StoreError::DeleteConflict(Dependent::LoginProfile));
                }
                if count(c, "SELECT COUNT(*) FROM access_keys WHERE user_id = ?", &user_id)? > 0 {
                    return Err(StoreError::DeleteConflict(Dependent::AccessKeys));
                }
                if count(c, "SELECT COUNT(*) FROM mfa_devices WHERE user_id = ?", &user_id)? > 0 {
                    return Err(StoreError::DeleteConflict(Dependent::MfaDevices));
                }
                c.prepare_cached("DELETE FROM user_tags WHERE user_id = ?")?.execute([&user_id])?;
                c.prepare_cached("DELETE FROM users WHERE user_id = ?")?.execute([&user_id])?;
                Ok(())
            })
            .await
    }

    async fn create_access_key(
        &self,
        account_id: &str,
        user_name: &str,
        key: &NewAccessKey,
        max_per_user: u32,
    ) -> Result<AccessKey> {
        let (account_id, user_name, key) = (account_id.to_owned(), user_name.to_owned(), key.clone());
        self.engine
            .write(move |c| {
                let user = user_by_name(c, &account_id, &user_name)?;
                if count(c, "SELECT COUNT(*) FROM access_keys WHERE user_id = ?", &user.user_id)?
                    >= i64::from(max_per_user)
                {
                    return Err(StoreError::LimitExceeded);
                }
                c.prepare_cached(
                    "INSERT INTO access_keys (access_key_id, account_id, user_id, secret_sealed, status, created_at) \
                     VALUES (?, ?, ?, ?, 'Active', ?)",
                )?
                .execute(params![
                    key.access_key_id,
                    account_id,
                    user.user_id,
                    key.secret_sealed,
                    key.created_at
                ])?;
                Ok(AccessKey {
                    access_key_id: key.access_key_id,
                    account_id,
                    user: Some(user),
                    secret_sealed: key.secret_sealed,
                    status: KeyStatus::Active,
                    created_at: key.created_at,
                })
            })
            .await
    }

    async fn list_access_keys(&self, account_id: &str, user_name: &str) -> Result<Vec<AccessKey>> {
        const SQL: &str = concat!(
            "SELECT k.access_key_id, k.secret_sealed, k.status, k.created_at, ",
            user_columns!(),
            " FROM access_keys k JOIN users u ON u.user_id = k.user_id WHERE k.user_id = ? ORDER BY k.access_key_id"
        );
        self.engine.read(|c| {
            snapshot(c, |c| {
                let user_id = user_id_of(c, account_id, user_name)?;
                decode_all(c, SQL, [&user_id], |row| {
                    Ok(AccessKey {
                        access_key_id: row.get(0)?,
                        account_id: account_id.to_owned(),
                        secret_sealed: row.get(1)?,
                        status: KeyStatus::parse(&row.get::<_, String>(2)?).unwrap_or(KeyStatus::Inactive),
                        created_at: row.get(3)?,
                        user: Some(user_at(row, 4)?),
                    })
                })
            })
        })
    }

    async fn update_access_key(
        &self,
        account_id: &str,
        user_name: &str,
        access_key_id: &str,
        status: KeyStatus,
    ) -> Result<()> {
        let (account_id, user_name, key_id) = (account_id.to_owned(), user_name.to_owned(), access_key_id.to_owned());
        self.engine
            .write(move |c| {
                let user_id = user_id_of(c, &account_id, &user_name)?;
                let rows = c
                    .prepare_cached("UPDATE access_keys SET status = ? WHERE access_key_id = ? AND user_id = ?")?
                    .execute(params![status.as_str(), key_id, user_id])?;
                changed(rows, StoreError::NotFound(Entity::AccessKey))
            })
            .await
    }

    async fn delete_access_key(&self, account_id: &str, user_name: &str, access_key_id: &str) -> Result<()> {
        let (account_id, user_name, key_id) = (account_id.to_owned(), user_name.to_owned(), access_key_id.to_owned());
        self.engine
            .write(move |c| {
                let user_id = user_id_of(c, &account_id, &user_name)?;
                let rows = c
                    .prepare_cached("DELETE FROM access_keys WHERE access_key_id = ? AND user_id = ?")?
                    .execute(params![key_id, user_id])?;
                changed(rows, StoreError::NotFound(Entity::AccessKey))
            })
            .await
    }

    async fn create_mfa_device(&self, device: &NewMfaDevice, max_in_account: u32) -> Result<()> {
        let device = device.clone();
        self.engine
            .write(move |c| {
                if count(c, "SELECT COUNT(*) FROM mfa_devices WHERE account_id = ?", &device.account_id)?
                    >= i64::from(max_in_account)
                {
                    return Err(StoreError::LimitExceeded);
                }
                c.prepare_cached(
                    "INSERT INTO mfa_devices (serial, account_id, path, name, seed_sealed, created_at) \
                     VALUES (?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    device.serial,
                    device.account_id,
                    device.path,
                    device.name,
                    device.seed_sealed,
                    device.created_at
                ])
                .map_err(unique_as(Entity::MfaDevice))?;
                insert_device_tags(c, &device.serial, &device.tags)
            })
            .await
    }

    async fn get_mfa_device(&self, account_id: &str, serial: &str) -> Result<Option<MfaDevice>> {
        const SQL: &str = concat!(
            "SELECT ",
            device_columns!(),
            " FROM mfa_devices d LEFT JOIN users u ON u.user_id = d.user_id WHERE d.account_id = ? AND d.serial = ?"
        );
        self.engine
            .read(|c| Ok(c.prepare_cached(SQL)?.query_row([account_id, serial], |r| device_at(r, 0)).optional()?))
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
        let (account_id, serial, user_name) = (account_id.to_owned(), serial.to_owned(), user_name.to_owned());
        self.engine
            .write(move |c| {
                let user_id = user_id_of(c, &account_id, &user_name)?;
                if count(c, "SELECT COUNT(*) FROM mfa_devices WHERE user_id = ?", &user_id)? >= i64::from(max_per_user)
                {
                    return Err(StoreError::LimitExceeded);
                }
                let rows = c
                    .prepare_cached(
                        "UPDATE mfa_devices SET user_id = ?, enable_date = ?, offset_steps = ?, last_step = ? \
                         WHERE account_id = ? AND serial = ? AND user_id IS NULL",
                    )?
                    .execute(params![
                        user_id,
                        enable_date,
                        sync.offset_steps,
                        sync.last_accepted_step,
                        account_id,
                        serial
                    ])?;
                if rows == 0 {
                    return Err(match device_must_exist(c, &account_id, &serial) {
                        Ok(()) => StoreError::DeviceInUse,
                        Err(e) => e,
                    });
                }
                Ok(())
            })
            .await
    }

    async fn advance_mfa_sync(&self, serial: &str, user_id: &str, seen_last_step: i64, sync: DeviceSync) -> Result<()> {
        let (serial, user_id) = (serial.to_owned(), user_id.to_owned());
        self.engine
            .write(move |c| {
                let rows = c
                    .prepare_cached(
                        "UPDATE mfa_devices SET offset_steps = ?, last_step = ? \
                         WHERE serial = ? AND user_id = ? AND last_step = ?",
                    )?
                    .execute(params![sync.offset_steps, sync.last_accepted_step, serial, user_id, seen_last_step])?;
                changed(rows, StoreError::Conflict)
            })
            .await
    }

    async fn unassign_mfa_device(&self, account_id: &str, user_name: &str, serial: &str) -> Result<()> {
        let (account_id, user_name, serial) = (account_id.to_owned(), user_name.to_owned(), serial.to_owned());
        self.engine
            .write(move |c| {
                let user_id = user_id_of(c, &account_id, &user_name)?;
                let rows = c
                    .prepare_cached(
                        "UPDATE mfa_devices SET user_id = NULL, enable_date = NULL, offset_steps = NULL, \
                         last_step = NULL WHERE account_id = ? AND serial = ? AND user_id = ?",
                    )?
                    .execute(params![account_id, serial, user_id])?;
                changed(rows, StoreError::NotFound(Entity::MfaDevice))
            })
            .await
    }

    async fn delete_mfa_device(&self, account_id: &str, serial: &str) -> Result<()> {
        let (account_id, serial) = (account_id.to_owned(), serial.to_owned());
        self.engine
            .write(move |c| {
                let assigned: Option<Option<String>> = c
                    .prepare_cached("SELECT user_id FROM mfa_devices WHERE account_id = ? AND serial = ?")?
                    .query_row([&account_id, &serial], |r| r.get(0))
                    .optional()?;
                match assigned {
                    None => return Err(StoreError::NotFound(Entity::MfaDevice)),
                    Some(Some(_)) => return Err(StoreError::DeviceAssigned),
                    Some(None) => {}
                }
                c.prepare_cached("DELETE FROM mfa_devices WHERE serial = ?")?.execute([&serial])?;
                Ok(())
            })
            .await
    }

    async fn list_user_mfa_devices(&self, account_id: &str, user_name: &str) -> Result<Vec<MfaDevice>> {
        // One statement: no row means no such user; a row without a serial, a user without
        // devices.
        const SQL: &str = concat!(
            "SELECT ",
            device_columns!(),
            " FROM users u LEFT JOIN mfa_devices d ON d.user_id = u.user_id \
             WHERE u.account_id = ? AND u.name_key = ? ORDER BY d.serial"
        );
        self.engine.read(|c| {
            let rows = decode_all(c, SQL, params![account_id, name_key(user_name)], |row| {
                match row.get::<_, Option<String>>(0)? {
                    Some(_) => device_at(row, 0).map(Some),
                    None => Ok(None),
                }
            })?;
            if rows.is_empty() {
                return Err(StoreError::NotFound(Entity::User));
            }
            Ok(rows.into_iter().flatten().collect())
        })
    }

    async fn list_mfa_devices(
        &self,
        account_id: &str,
        filter: AssignmentFilter,
        page: &Page,
    ) -> Result<Vec<MfaDevice>> {
        // One static statement per filter, so each is prepared once.
        macro_rules! page_of_devices {
            ($filter:literal) => {
                concat!(
                    "SELECT ",
                    device_columns!(),
                    " FROM mfa_devices d LEFT JOIN users u ON u.user_id = d.user_id \
                     WHERE d.account_id = ? AND d.serial > ? ",
                    $filter,
                    " ORDER BY d.serial LIMIT ?"
                )
            };
        }
        let sql = match filter {
            AssignmentFilter::Assigned => page_of_devices!("AND d.user_id IS NOT NULL"),
            AssignmentFilter::Unassigned => page_of_devices!("AND d.user_id IS NULL"),
            AssignmentFilter::Any => page_of_devices!(""),
        };
        let after = page.after.as_deref().unwrap_or("");
        let limit = page.limit as i64 + 1;
        self.engine.read(|c| decode_all(c, sql, params![account_id, after, limit], |r| device_at(r, 0)))
    }

    async fn tag_mfa_device(&self, account_id: &str, serial: &str, tags: &[Tag], max: usize) -> Result<()> {
        let (account_id, serial, tags) = (account_id.to_owned(), serial.to_owned(), tags.to_vec());
        self.engine
            .write(move |c| {
                device_must_exist(c, &account_id, &serial)?;
                insert_device_tags(c, &serial, &tags)?;
                if count(c, "SELECT COUNT(*) FROM mfa_device_tags WHERE serial = ?", &serial)? > max as i64 {
                    // Failing rolls the new tags back.
                    return Err(StoreError::LimitExceeded);
                }
                Ok(())
            })
            .await
    }

    async fn untag_mfa_device(&self, account_id: &str, serial: &str, keys: &[String]) -> Result<()> {
        let (account_id, serial, keys) = (account_id.to_owned(), serial.to_owned(), keys.to_vec());
        self.engine
            .write(move |c| {
                device_must_exist(c, &account_id, &serial)?;
                let mut delete = c.prepare_cached("DELETE FROM mfa_device_tags WHERE serial = ? AND key_norm = ?")?;
                for key in &keys {
                    delete.execute(params![serial, name_key(key)])?;
                }
                Ok(())
            })
            .await
    }

    async fn mfa_device_tags(&self, account_id: &str, serial: &str) -> Result<Vec<Tag>> {
        self.engine.read(|c| {
            snapshot(c, |c| {
                device_must_exist(c, account_id, serial)?;
                decode_all(
                    c,
                    "SELECT tag_key, value FROM mfa_device_tags WHERE serial = ? ORDER BY key_norm",
                    [serial],
                    |r| Ok(Tag { key: r.get(0)?, value: r.get(1)? }),
                )
            })
        })
    }

    async fn account_counts(&self, account_id: &str) -> Result<AccountCounts> {
        const SQL: &str = "SELECT (SELECT COUNT(*) FROM users WHERE account_id = ?1), \
             (SELECT COUNT(*) FROM mfa_devices WHERE account_id = ?1), \
             (SELECT COUNT(*) FROM mfa_devices WHERE account_id = ?1 AND user_id IS NOT NULL), \
             (SELECT COUNT(*) FROM access_keys WHERE account_id = ?1 AND user_id IS NULL)";
        self.engine.read(|c| {
            Ok(c.prepare_cached(SQL)?.query_row([account_id], |r| {
                let count = |i| r.get::<_, i64>(i).map(|n| n as u64);
                Ok(AccountCounts {
                    users: count(0)?,
                    mfa_devices: count(1)?,
                    mfa_devices_in_use: count(2)?,
                    root_access_keys: count(3)?,
                })
            })?)
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
        let (account_id, user_name, hash) = (account_id.to_owned(), user_name.to_owned(), password_hash.to_owned());
        self.engine
            .write(move |c| {
                let user = user_by_name(c, &account_id, &user_name)?;
                c.prepare_cached(
                    "INSERT INTO login_profiles (user_id, password_hash, reset_required, created_at) VALUES (?, ?, ?, ?)",
                )?
                .execute(params![user.user_id, hash, reset_required, now])
                .map_err(unique_as(Entity::LoginProfile))?;
                Ok(LoginProfile { user, password_hash: hash, reset_required, created_at: now })
            })
            .await
    }

    async fn get_login_profile(&self, account_id: &str, user_name: &str) -> Result<LoginProfile> {
        self.engine.read(|c| {
            snapshot(c, |c| {
                let user = user_by_name(c, account_id, user_name)?;
                let (password_hash, reset_required, created_at) = c
                    .prepare_cached(
                        "SELECT password_hash, reset_required, created_at FROM login_profiles WHERE user_id = ?",
                    )?
                    .query_row([&user.user_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()?
                    .ok_or(StoreError::NotFound(Entity::LoginProfile))?;
                Ok(LoginProfile { user, password_hash, reset_required, created_at })
            })
        })
    }

    async fn update_login_profile(
        &self,
        account_id: &str,
        user_name: &str,
        password_hash: Option<&str>,
        reset_required: Option<bool>,
    ) -> Result<()> {
        let (account_id, user_name) = (account_id.to_owned(), user_name.to_owned());
        let hash = password_hash.map(str::to_owned);
        self.engine
            .write(move |c| {
                let user_id = user_id_of(c, &account_id, &user_name)?;
                let rows = c
                    .prepare_cached(
                        "UPDATE login_profiles SET password_hash = COALESCE(?, password_hash), \
                         reset_required = COALESCE(?, reset_required) WHERE user_id = ?",
                    )?
                    .execute(params![hash, reset_required, user_id])?;
                changed(rows, StoreError::NotFound(Entity::LoginProfile))
            })
            .await
    }

    async fn delete_login_profile(&self, account_id: &str, user_name: &str) -> Result<()> {
        let (account_id, user_name) = (account_id.to_owned(), user_name.to_owned());
        self.engine
            .write(move |c| {
                let user_id = user_id_of(c, &account_id, &user_name)?;
                let rows = c.prepare_cached("DELETE FROM login_profiles WHERE user_id = ?")?.execute([&user_id])?;
                changed(rows, StoreError::NotFound(Entity::LoginProfile))?;
                // Signing out everywhere: a removed password ends the console sessions it opened.
                c.prepare_cached("DELETE FROM console_sessions WHERE user_id = ?")?.execute([&user_id])?;
                Ok(())
            })
            .await
    }

    async fn record_password_use(&self, user_id: &str, now: i64) -> Result<()> {
        let user_id = user_id.to_owned();
        self.engine
            .write(move |c| {
                c.prepare_cached("UPDATE users SET password_last_used = ? WHERE user_id = ?")?
                    .execute(params![now, user_id])?;
                Ok(())
            })
            .await
    }

    async fn get_password_policy(&self, account_id: &str) -> Result<Option<PasswordPolicy>> {
        const SQL: &str = "SELECT minimum_length, require_symbols, require_numbers, require_uppercase, \
             require_lowercase, allow_users_to_change, max_password_age, reuse_prevention, hard_expiry \
             FROM password_policies WHERE account_id = ?";
        self.engine.read(|c| {
            Ok(c.prepare_cached(SQL)?
                .query_row([account_id], |r| {
                    Ok(PasswordPolicy {
                        minimum_length: r.get(0)?,
                        require_symbols: r.get(1)?,
                        require_numbers: r.get(2)?,
                        require_uppercase: r.get(3)?,
                        require_lowercase: r.get(4)?,
                        allow_users_to_change_password: r.get(5)?,
                        max_password_age: r.get(6)?,
                        password_reuse_prevention: r.get(7)?,
                        hard_expiry: r.get(8)?,
                    })
                })
                .optional()?)
        })
    }

    async fn put_password_policy(&self, account_id: &str, p: &PasswordPolicy) -> Result<()> {
        let (account_id, p) = (account_id.to_owned(), p.clone());
        self.engine
            .write(move |c| {
                c.prepare_cached(
                    "INSERT OR REPLACE INTO password_policies (account_id, minimum_length, require_symbols, \
                     require_numbers, require_uppercase, require_lowercase, allow_users_to_change, max_password_age, \
                     reuse_prevention, hard_expiry) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    account_id,
                    p.minimum_length,
                    p.require_symbols,
                    p.require_numbers,
                    p.require_uppercase,
                    p.require_lowercase,
                    p.allow_users_to_change_password,
                    p.max_password_age,
                    p.password_reuse_prevention,
                    p.hard_expiry
                ])?;
                Ok(())
            })
            .await
    }

    async fn delete_password_policy(&self, account_id: &str) -> Result<()> {
        let account_id = account_id.to_owned();
        self.engine
            .write(move |c| {
                let rows =
                    c.prepare_cached("DELETE FROM password_policies WHERE account_id = ?")?.execute([&account_id])?;
                changed(rows, StoreError::NotFound(Entity::PasswordPolicy))
            })
            .await
    }

    async fn mfa_throttle(&self, user_id: &str) -> Result<ThrottleState> {
        self.engine.read(|c| throttle_state(c, user_id))
    }

    async fn record_mfa_failure(&self, user_id: &str, policy: &ThrottlePolicy, now: i64) -> Result<ThrottleState> {
        let (user_id, policy) = (user_id.to_owned(), *policy);
        self.engine
            .write(move |c| {
                let state = throttle_state(c, &user_id)?.after_failure(&policy, now);
                c.prepare_cached(
                    "INSERT INTO mfa_throttle (user_id, failures, locked_until, locks) VALUES (?, ?, ?, ?) \
                     ON CONFLICT (user_id) DO UPDATE SET failures = excluded.failures, \
                     locked_until = excluded.locked_until, locks = excluded.locks",
                )?
                .execute(params![user_id, state.failures, state.locked_until, state.locks])?;
                Ok(state)
            })
            .await
    }

    async fn clear_mfa_failures(&self, user_id: &str) -> Result<()> {
        let user_id = user_id.to_owned();
        self.engine
            .write(move |c| {
                c.prepare_cached("DELETE FROM mfa_throttle WHERE user_id = ?")?.execute([&user_id])?;
                Ok(())
            })
            .await
    }

    async fn create_sts_session(&self, s: &StsSession) -> Result<()> {
        let s = s.clone();
        self.engine
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO sts_sessions (access_key_id, account_id, user_id, secret_sealed, token_hash, \
                     created_at, expires_at, mfa_authenticated_at, mfa_serial) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    s.access_key_id,
                    s.account_id,
                    s.user.as_ref().map(|u| &u.user_id),
                    s.secret_sealed,
                    s.token_hash,
                    s.created_at,
                    s.expires_at,
                    s.mfa_authenticated_at,
                    s.mfa_serial
                ])?;
                Ok(())
            })
            .await
    }

    async fn find_sts_session(&self, access_key_id: &str) -> Result<Option<StsSession>> {
        const SQL: &str = concat!(
            "SELECT s.access_key_id, s.account_id, s.secret_sealed, s.token_hash, s.created_at, s.expires_at, \
             s.mfa_authenticated_at, s.mfa_serial, s.user_id, ",
            user_columns!(),
            " FROM sts_sessions s LEFT JOIN users u ON u.user_id = s.user_id WHERE s.access_key_id = ?"
        );
        self.engine.read(|c| {
            Ok(c.prepare_cached(SQL)?
                .query_row([access_key_id], |r| {
                    let user_id: Option<String> = r.get(8)?;
                    Ok(StsSession {
                        access_key_id: r.get(0)?,
                        account_id: r.get(1)?,
                        secret_sealed: r.get(2)?,
                        token_hash: r.get(3)?,
                        created_at: r.get(4)?,
                        expires_at: r.get(5)?,
                        mfa_authenticated_at: r.get(6)?,
                        mfa_serial: r.get(7)?,
                        user: user_id.map(|_| user_at(r, 9)).transpose()?,
                    })
                })
                .optional()?)
        })
    }

    async fn purge_expired_sts_sessions(&self, now: i64) -> Result<u64> {
        self.engine
            .write(move |c| {
                Ok(c.prepare_cached("DELETE FROM sts_sessions WHERE expires_at < ?")?.execute([now])? as u64)
            })
            .await
    }

    async fn create_console_session(&self, s: &ConsoleSession) -> Result<()> {
        let s = s.clone();
        self.engine
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO console_sessions (id_hash, account_id, user_id, state, csrf_token, created_at, \
                     expires_at, mfa_authenticated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    s.id_hash,
                    s.account_id,
                    s.user.user_id,
                    s.state.as_str(),
                    s.csrf_token,
                    s.created_at,
                    s.expires_at,
                    s.mfa_authenticated_at
                ])?;
                Ok(())
            })
            .await
    }

    async fn find_console_session(&self, id_hash: &[u8]) -> Result<Option<ConsoleSession>> {
        const SQL: &str = concat!(
            "SELECT c.id_hash, c.account_id, c.state, c.csrf_token, c.created_at, c.expires_at, \
             c.mfa_authenticated_at, ",
            user_columns!(),
            " FROM console_sessions c JOIN users u ON u.user_id = c.user_id WHERE c.id_hash = ?"
        );
        self.engine.read(|c| {
            Ok(c.prepare_cached(SQL)?
                .query_row([id_hash], |r| {
                    Ok(ConsoleSession {
                        id_hash: r.get(0)?,
                        account_id: r.get(1)?,
                        state: ConsoleState::parse(&r.get::<_, String>(2)?),
                        csrf_token: r.get(3)?,
                        created_at: r.get(4)?,
                        expires_at: r.get(5)?,
                        mfa_authenticated_at: r.get(6)?,
                        user: user_at(r, 7)?,
                    })
                })
                .optional()?)
        })
    }

    async fn delete_console_session(&self, id_hash: &[u8]) -> Result<()> {
        let id_hash = id_hash.to_vec();
        self.engine
            .write(move |c| {
                c.prepare_cached("DELETE FROM console_sessions WHERE id_hash = ?")?.execute([&id_hash])?;
                Ok(())
            })
            .await
    }

    async fn purge_expired_console_sessions(&self, now: i64) -> Result<u64> {
        self.engine
            .write(move |c| {
                Ok(c.prepare_cached("DELETE FROM console_sessions WHERE expires_at < ?")?.execute([now])? as u64)
            })
            .await
    }

    async fn record_auth_event(&self, e: &AuthEvent) -> Result<()> {
        let e = e.clone();
        self.engine
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO auth_events (at, account_id, user_name, source, kind, mfa_used, outcome, reason) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    e.at,
                    e.account_id,
                    e.user_name,
                    e.source,
                    e.kind,
                    e.mfa_used,
                    e.outcome,
                    e.reason
                ])?;
                Ok(())
            })
            .await
    }

    async fn auth_events(&self, account_id: &str, limit: u32) -> Result<Vec<AuthEvent>> {
        const SQL: &str = "SELECT at, account_id, user_name, source, kind, mfa_used, outcome, reason \
             FROM auth_events WHERE account_id = ? ORDER BY id DESC LIMIT ?";
        self.engine.read(|c| {
            decode_all(c, SQL, params![account_id, limit], |r| {
                Ok(AuthEvent {
                    at: r.get(0)?,
                    account_id: r.get(1)?,
                    user_name: r.get(2)?,
                    source: r.get(3)?,
                    kind: r.get(4)?,
                    mfa_used: r.get(5)?,
                    outcome: r.get(6)?,
                    reason: r.get(7)?,
                })
            })
        })
    }

    async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.engine.read(|c| {
            Ok(c.prepare_cached("SELECT value FROM meta WHERE name = ?")?.query_row([name], |r| r.get(0)).optional()?)
        })
    }

    async fn put_meta_if_absent(&self, name: &str, value: &[u8]) -> Result<Vec<u8>> {
        let (name, value) = (name.to_owned(), value.to_vec());
        self.engine
            .write(move |c| {
                c.prepare_cached("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING")?
                    .execute(params![name, value])?;
                Ok(c.prepare_cached("SELECT value FROM meta WHERE name = ?")?.query_row([&name], |r| r.get(0))?)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    use super::*;

    fn user(i: usize) -> User {
        User {
            account_id: "123456789012".into(),
            user_id: format!("AIDA{i:017}"),
            name: format!("user{i}"),
            path: "/".into(),
            created_at: 0,
            password_last_used: None,
            tags: vec![],
        }
    }

    /// Concurrent writers share commits (and so fsyncs), and a failing write in a group leaves
    /// nothing behind while the others in its group commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_commits_and_fail_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("t.db")).await.unwrap());
        store.ensure_account("123456789012", None, 0).await.unwrap();
        let writes: Vec<_> = (0..64)
            .map(|i| {
                let store = store.clone();
                // Every fourth write reuses a name and must fail alone.
                let u = if i % 4 == 3 { User { user_id: format!("AIDADUP{i:014}"), ..user(i - 1) } } else { user(i) };
                tokio::spawn(async move { store.create_user(&u, 5000).await })
            })
            .collect();
        let mut failed = 0;
        for write in writes {
            match write.await.unwrap() {
                Ok(()) => {}
                Err(StoreError::AlreadyExists(Entity::User)) => failed += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(failed, 16);
        assert_eq!(store.account_counts("123456789012").await.unwrap().users, 48);
        let stats = store.engine.stats();
        let (writes, commits) = (stats.writes.load(Ordering::Relaxed), stats.commits.load(Ordering::Relaxed));
        assert_eq!(writes, 65);
        assert!(commits < writes, "{commits} commits for {writes} writes: no grouping");
    }
}
