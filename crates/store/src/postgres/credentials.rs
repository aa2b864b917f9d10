//! [`Credentials`] on PostgreSQL: access keys, login profiles and the account password policy.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{Connection, Row};

use super::rows::{USER_COLUMNS, user_from_row};
use super::{PgStore, count, db, lock_user, to_u32, unique_as, user_by_name, user_id_of};
use crate::common::{changed, key_use};
use crate::*;

/// An access key from a row holding its columns (`key_created` for its creation time); its user
/// from the same row when it has one (`user_id` set).
fn key_from_row(row: &PgRow, account_id: &str) -> std::result::Result<AccessKey, sqlx::Error> {
    let user_id: Option<String> = row.try_get("user_id")?;
    Ok(AccessKey {
        access_key_id: row.try_get("access_key_id")?,
        account_id: account_id.to_owned(),
        user: user_id.map(|_| user_from_row(row)).transpose()?,
        secret_sealed: row.try_get("secret_sealed")?,
        status: KeyStatus::parse(row.try_get("status")?).unwrap_or(KeyStatus::Inactive),
        created_at: row.try_get("key_created")?,
        last_used: key_use(
            row.try_get("last_used_at")?,
            row.try_get("last_used_service")?,
            row.try_get("last_used_region")?,
        ),
    })
}

async fn attempt_window(conn: &mut sqlx::PgConnection, key: &str, lock: bool) -> Result<AttemptWindow> {
    let sql = if lock {
        "SELECT failures, window_start FROM password_throttle WHERE key = $1 FOR UPDATE"
    } else {
        "SELECT failures, window_start FROM password_throttle WHERE key = $1"
    };
    let row = sqlx::query(sql).bind(key).fetch_optional(&mut *conn).await.map_err(db)?;
    Ok(match row {
        Some(r) => AttemptWindow {
            failures: to_u32(r.try_get("failures").map_err(db)?).map_err(db)?,
            window_start: r.try_get("window_start").map_err(db)?,
        },
        None => AttemptWindow::default(),
    })
}

#[async_trait]
impl Credentials for PgStore {
    async fn find_access_key(&self, access_key_id: &str) -> Result<Option<AccessKey>> {
        let sql = "SELECT k.access_key_id, k.account_id AS key_account, k.secret_sealed, k.status, \
                   k.created_at AS key_created, k.last_used_at, k.last_used_service, k.last_used_region, \
                   u.user_id, u.account_id, u.name, u.path, u.created_at, u.password_last_used \
                   FROM access_keys k LEFT JOIN users u ON u.user_id = k.user_id WHERE k.access_key_id = $1";
        let Some(row) =
            sqlx::query(sql).bind(access_key_id).fetch_optional(&mut *self.conn().await?).await.map_err(db)?
        else {
            return Ok(None);
        };
        let account_id: String = row.try_get("key_account").map_err(db)?;
        key_from_row(&row, &account_id).map(Some).map_err(db)
    }

    async fn root_access_keys(&self, account_id: &str) -> Result<Vec<AccessKey>> {
        let rows = sqlx::query(
            "SELECT access_key_id, secret_sealed, status, created_at AS key_created, last_used_at, \
             last_used_service, last_used_region, user_id FROM access_keys \
             WHERE account_id = $1 AND user_id IS NULL ORDER BY created_at, access_key_id",
        )
        .bind(account_id)
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db)?;
        rows.iter().map(|row| key_from_row(row, account_id)).collect::<std::result::Result<_, _>>().map_err(db)
    }

    async fn create_access_key(
        &self,
        account_id: &str,
        user_name: &str,
        key: &NewAccessKey,
        max_per_user: u32,
    ) -> Result<AccessKey> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
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
            last_used: None,
        })
    }

    async fn list_access_keys(&self, account_id: &str, user_name: &str) -> Result<Vec<AccessKey>> {
        let mut conn = self.conn().await?;
        let user_id = user_id_of(&mut conn, account_id, user_name).await?;
        let sql = format!(
            "SELECT k.access_key_id, k.secret_sealed, k.status, k.created_at AS key_created, \
             k.last_used_at, k.last_used_service, k.last_used_region, {USER_COLUMNS} \
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
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let user_id = user_id_of(&mut tx, account_id, user_name).await?;
        let done = sqlx::query("UPDATE access_keys SET status = $1 WHERE access_key_id = $2 AND user_id = $3")
            .bind(status.as_str())
            .bind(access_key_id)
            .bind(&user_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        changed(done.rows_affected(), StoreError::NotFound(Entity::AccessKey))?;
        tx.commit().await.map_err(db)
    }

    async fn delete_access_key(&self, account_id: &str, user_name: &str, access_key_id: &str) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let user_id = user_id_of(&mut tx, account_id, user_name).await?;
        let done = sqlx::query("DELETE FROM access_keys WHERE access_key_id = $1 AND user_id = $2")
            .bind(access_key_id)
            .bind(&user_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        changed(done.rows_affected(), StoreError::NotFound(Entity::AccessKey))?;
        tx.commit().await.map_err(db)
    }

    async fn create_login_profile(
        &self,
        account_id: &str,
        user_name: &str,
        password_hash: &str,
        reset_required: bool,
        now: i64,
    ) -> Result<LoginProfile> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let user = user_by_name(&mut tx, account_id, user_name, true).await?;
        sqlx::query(
            "INSERT INTO login_profiles (user_id, password_hash, reset_required, created_at, password_changed_at) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(&user.user_id)
        .bind(password_hash)
        .bind(reset_required)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(unique_as(Entity::LoginProfile))?;
        tx.commit().await.map_err(db)?;
        Ok(LoginProfile {
            user,
            password_hash: password_hash.to_owned(),
            reset_required,
            created_at: now,
            password_changed_at: now,
        })
    }

    async fn get_login_profile(&self, account_id: &str, user_name: &str) -> Result<LoginProfile> {
        let mut conn = self.conn().await?;
        let user = user_by_name(&mut conn, account_id, user_name, false).await?;
        let row = sqlx::query(
            "SELECT password_hash, reset_required, created_at, COALESCE(password_changed_at, created_at) AS changed \
                 FROM login_profiles WHERE user_id = $1",
        )
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
            password_changed_at: row.try_get("changed").map_err(db)?,
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
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let user_id = user_id_of(&mut tx, account_id, user_name).await?;
        let done = sqlx::query(
            "UPDATE login_profiles SET password_hash = COALESCE($1, password_hash), \
             reset_required = COALESCE($2, reset_required), \
             password_changed_at = CASE WHEN $1::text IS NULL THEN password_changed_at ELSE $3 END \
             WHERE user_id = $4",
        )
        .bind(password_hash)
        .bind(reset_required)
        .bind(now)
        .bind(&user_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        changed(done.rows_affected(), StoreError::NotFound(Entity::LoginProfile))?;
        tx.commit().await.map_err(db)
    }

    async fn delete_login_profile(&self, account_id: &str, user_name: &str) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let user_id = lock_user(&mut tx, account_id, user_name).await?;
        let done = sqlx::query("DELETE FROM login_profiles WHERE user_id = $1")
            .bind(&user_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        changed(done.rows_affected(), StoreError::NotFound(Entity::LoginProfile))?;
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
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn record_access_key_use(&self, access_key_id: &str, last_use: &KeyUse) -> Result<()> {
        sqlx::query(
            "UPDATE access_keys SET last_used_at = $1, last_used_service = $2, last_used_region = $3 \
             WHERE access_key_id = $4",
        )
        .bind(last_use.at)
        .bind(&last_use.service)
        .bind(&last_use.region)
        .bind(access_key_id)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn put_credential_report(&self, account_id: &str, generated_at: i64, content: &[u8]) -> Result<()> {
        sqlx::query(
            "INSERT INTO credential_reports (account_id, generated_at, content) VALUES ($1, $2, $3) \
             ON CONFLICT (account_id) DO UPDATE SET generated_at = excluded.generated_at, content = excluded.content",
        )
        .bind(account_id)
        .bind(generated_at)
        .bind(content)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn credential_report(&self, account_id: &str) -> Result<Option<(i64, Vec<u8>)>> {
        sqlx::query_as("SELECT generated_at, content FROM credential_reports WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db)
    }

    async fn get_password_policy(&self, account_id: &str) -> Result<Option<PasswordPolicy>> {
        let row = sqlx::query("SELECT * FROM password_policies WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(&mut *self.conn().await?)
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
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn delete_password_policy(&self, account_id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM password_policies WHERE account_id = $1")
            .bind(account_id)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db)?;
        changed(done.rows_affected(), StoreError::NotFound(Entity::PasswordPolicy))
    }

    async fn reserve_password_attempt(
        &self,
        counters: &[(String, u32)],
        window_seconds: i64,
        now: i64,
    ) -> Result<bool> {
        // Rows are locked in key order, so two reservations sharing counters cannot deadlock.
        let mut sorted: Vec<&(String, u32)> = counters.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let mut charged = Vec::with_capacity(sorted.len());
        for (key, max) in sorted {
            sqlx::query(
                "INSERT INTO password_throttle (key, failures, window_start) VALUES ($1, 0, 0) \
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            match attempt_window(&mut tx, key, true).await?.reserve(*max, window_seconds, now) {
                Some(window) => charged.push((key, window)),
                None => {
                    tx.rollback().await.map_err(db)?;
                    return Ok(false);
                }
            }
        }
        for (key, window) in charged {
            sqlx::query("UPDATE password_throttle SET failures = $1, window_start = $2 WHERE key = $3")
                .bind(i64::from(window.failures))
                .bind(window.window_start)
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn settle_password_attempt(&self, release: &[String], clear: &[String]) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        for key in release {
            sqlx::query("UPDATE password_throttle SET failures = GREATEST(failures - 1, 0) WHERE key = $1")
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        for key in clear {
            sqlx::query("DELETE FROM password_throttle WHERE key = $1")
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    async fn password_attempts(&self, key: &str) -> Result<AttemptWindow> {
        let mut conn = self.conn().await?;
        attempt_window(&mut conn, key, false).await
    }

    async fn purge_password_attempts(&self, before: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM password_throttle WHERE window_start < $1")
            .bind(before)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db)?;
        Ok(done.rows_affected())
    }
}
