//! [`Credentials`] on SQLite: access keys, login profiles and the account password policy.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::engine::snapshot;
use super::rows::{user_at, user_columns};
use super::{SqliteStore, count, decode_all, unique_as, user_by_name, user_id_of};
use crate::common::{changed, key_use};
use crate::*;

fn attempt_window(conn: &Connection, key: &str) -> Result<AttemptWindow> {
    let window = conn
        .prepare_cached("SELECT failures, window_start FROM password_throttle WHERE key = ?")?
        .query_row([key], |r| Ok(AttemptWindow { failures: r.get(0)?, window_start: r.get(1)? }))
        .optional()?;
    Ok(window.unwrap_or_default())
}

fn put_attempt_window(conn: &Connection, key: &str, window: &AttemptWindow) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO password_throttle (key, failures, window_start) VALUES (?, ?, ?) \
         ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start",
    )?
    .execute(params![key, window.failures, window.window_start])?;
    Ok(())
}

#[async_trait]
impl Credentials for SqliteStore {
    async fn find_access_key(&self, access_key_id: &str) -> Result<Option<AccessKey>> {
        const SQL: &str = concat!(
            "SELECT k.access_key_id, k.account_id, k.secret_sealed, k.status, k.created_at, \
             k.last_used_at, k.last_used_service, k.last_used_region, k.user_id, ",
            user_columns!(),
            " FROM access_keys k LEFT JOIN users u ON u.user_id = k.user_id WHERE k.access_key_id = ?"
        );
        self.engine.read(|c| {
            Ok(c.prepare_cached(SQL)?
                .query_row([access_key_id], |row| {
                    let user_id: Option<String> = row.get(8)?;
                    Ok(AccessKey {
                        access_key_id: row.get(0)?,
                        account_id: row.get(1)?,
                        secret_sealed: row.get(2)?,
                        status: KeyStatus::parse(&row.get::<_, String>(3)?).unwrap_or(KeyStatus::Inactive),
                        created_at: row.get(4)?,
                        last_used: key_use(row.get(5)?, row.get(6)?, row.get(7)?),
                        user: user_id.map(|_| user_at(row, 9)).transpose()?,
                    })
                })
                .optional()?)
        })
    }

    async fn root_access_keys(&self, account_id: &str) -> Result<Vec<AccessKey>> {
        const SQL: &str = "SELECT access_key_id, secret_sealed, status, created_at, last_used_at, last_used_service, \
             last_used_region FROM access_keys WHERE account_id = ? AND user_id IS NULL ORDER BY created_at, access_key_id";
        self.engine.read(|c| {
            decode_all(c, SQL, [account_id], |row| {
                Ok(AccessKey {
                    access_key_id: row.get(0)?,
                    account_id: account_id.to_owned(),
                    user: None,
                    secret_sealed: row.get(1)?,
                    status: KeyStatus::parse(&row.get::<_, String>(2)?).unwrap_or(KeyStatus::Inactive),
                    created_at: row.get(3)?,
                    last_used: key_use(row.get(4)?, row.get(5)?, row.get(6)?),
                })
            })
        })
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
                    last_used: None,
                })
            })
            .await
    }

    async fn list_access_keys(&self, account_id: &str, user_name: &str) -> Result<Vec<AccessKey>> {
        const SQL: &str = concat!(
            "SELECT k.access_key_id, k.secret_sealed, k.status, k.created_at, \
             k.last_used_at, k.last_used_service, k.last_used_region, ",
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
                        last_used: key_use(row.get(4)?, row.get(5)?, row.get(6)?),
                        user: Some(user_at(row, 7)?),
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
                changed(rows as u64, StoreError::NotFound(Entity::AccessKey))
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
                changed(rows as u64, StoreError::NotFound(Entity::AccessKey))
            })
            .await
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
                    "INSERT INTO login_profiles (user_id, password_hash, reset_required, created_at, password_changed_at) \
                     VALUES (?, ?, ?, ?, ?)",
                )?
                .execute(params![user.user_id, hash, reset_required, now, now])
                .map_err(unique_as(Entity::LoginProfile))?;
                Ok(LoginProfile { user, password_hash: hash, reset_required, created_at: now, password_changed_at: now })
            })
            .await
    }

    async fn get_login_profile(&self, account_id: &str, user_name: &str) -> Result<LoginProfile> {
        self.engine.read(|c| {
            snapshot(c, |c| {
                let user = user_by_name(c, account_id, user_name)?;
                let (password_hash, reset_required, created_at, changed_at) = c
                    .prepare_cached(
                        "SELECT password_hash, reset_required, created_at, password_changed_at \
                         FROM login_profiles WHERE user_id = ?",
                    )?
                    .query_row([&user.user_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, Option<i64>>(3)?)))
                    .optional()?
                    .ok_or(StoreError::NotFound(Entity::LoginProfile))?;
                let password_changed_at = changed_at.unwrap_or(created_at);
                Ok(LoginProfile { user, password_hash, reset_required, created_at, password_changed_at })
            })
        })
    }

    async fn update_login_profile(
        &self,
        account_id: &str,
        user_name: &str,
        password_hash: Option<&str>,
        reset_required: Option<bool>,
        now: i64,
    ) -> Result<()> {
        let (account_id, user_name) = (account_id.to_owned(), user_name.to_owned());
        let hash = password_hash.map(str::to_owned);
        self.engine
            .write(move |c| {
                let user_id = user_id_of(c, &account_id, &user_name)?;
                let rows = c
                    .prepare_cached(
                        "UPDATE login_profiles SET password_hash = COALESCE(?1, password_hash), \
                         reset_required = COALESCE(?2, reset_required), \
                         password_changed_at = CASE WHEN ?1 IS NULL THEN password_changed_at ELSE ?3 END \
                         WHERE user_id = ?4",
                    )?
                    .execute(params![hash, reset_required, now, user_id])?;
                changed(rows as u64, StoreError::NotFound(Entity::LoginProfile))
            })
            .await
    }

    async fn delete_login_profile(&self, account_id: &str, user_name: &str) -> Result<()> {
        let (account_id, user_name) = (account_id.to_owned(), user_name.to_owned());
        self.engine
            .write(move |c| {
                let user_id = user_id_of(c, &account_id, &user_name)?;
                let rows = c.prepare_cached("DELETE FROM login_profiles WHERE user_id = ?")?.execute([&user_id])?;
                changed(rows as u64, StoreError::NotFound(Entity::LoginProfile))?;
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

    async fn record_access_key_use(&self, access_key_id: &str, last_use: &KeyUse) -> Result<()> {
        let (access_key_id, last_use) = (access_key_id.to_owned(), last_use.clone());
        self.engine
            .write(move |c| {
                c.prepare_cached(
                    "UPDATE access_keys SET last_used_at = ?, last_used_service = ?, last_used_region = ? \
                     WHERE access_key_id = ?",
                )?
                .execute(params![last_use.at, last_use.service, last_use.region, access_key_id])?;
                Ok(())
            })
            .await
    }

    async fn put_credential_report(&self, account_id: &str, generated_at: i64, content: &[u8]) -> Result<()> {
        let (account_id, content) = (account_id.to_owned(), content.to_vec());
        self.engine
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO credential_reports (account_id, generated_at, content) VALUES (?, ?, ?) \
                     ON CONFLICT (account_id) DO UPDATE SET generated_at = excluded.generated_at, \
                     content = excluded.content",
                )?
                .execute(params![account_id, generated_at, content])?;
                Ok(())
            })
            .await
    }

    async fn credential_report(&self, account_id: &str) -> Result<Option<(i64, Vec<u8>)>> {
        self.engine.read(|c| {
            Ok(c.prepare_cached("SELECT generated_at, content FROM credential_reports WHERE account_id = ?")?
                .query_row([account_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?)
        })
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
                changed(rows as u64, StoreError::NotFound(Entity::PasswordPolicy))
            })
            .await
    }

    async fn reserve_password_attempt(
        &self,
        counters: &[(String, u32)],
        window_seconds: i64,
        now: i64,
    ) -> Result<bool> {
        let counters = counters.to_vec();
        // One write on the writer thread: every read and update below is one transaction.
        self.engine
            .write(move |c| {
                let mut charged = Vec::with_capacity(counters.len());
                for (key, max) in &counters {
                    match attempt_window(c, key)?.reserve(*max, window_seconds, now) {
                        Some(window) => charged.push((key, window)),
                        None => return Ok(false),
                    }
                }
                for (key, window) in charged {
                    put_attempt_window(c, key, &window)?;
                }
                Ok(true)
            })
            .await
    }

    async fn settle_password_attempt(&self, release: &[String], clear: &[String]) -> Result<()> {
        let (release, clear) = (release.to_vec(), clear.to_vec());
        self.engine
            .write(move |c| {
                for key in &release {
                    c.prepare_cached("UPDATE password_throttle SET failures = MAX(failures - 1, 0) WHERE key = ?")?
                        .execute([key])?;
                }
                for key in &clear {
                    c.prepare_cached("DELETE FROM password_throttle WHERE key = ?")?.execute([key])?;
                }
                Ok(())
            })
            .await
    }

    async fn password_attempts(&self, key: &str) -> Result<AttemptWindow> {
        self.engine.read(|c| attempt_window(c, key))
    }

    async fn purge_password_attempts(&self, before: i64) -> Result<u64> {
        self.engine
            .write(move |c| {
                Ok(c.prepare_cached("DELETE FROM password_throttle WHERE window_start < ?")?.execute([before])? as u64)
            })
            .await
    }
}
