//! [`MfaDevices`] on PostgreSQL: virtual MFA devices, their tags and sync state, the MFA throttle.

use async_trait::async_trait;
use sqlx::{Connection, PgConnection, Row};

use super::rows::{DEVICE_COLUMNS, device_from_row};
use super::tags::DEVICE_TAGS;
use super::{PgStore, account_quota, count, db, lock_user, to_u32, unique_as, user_id_of};
use crate::common::{changed, name_key};
use crate::*;

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

/// The user's throttle row, created if missing and locked until the transaction ends: concurrent
/// transitions on any node queue up here and each one sees what the previous one wrote.
async fn locked_throttle_state(conn: &mut PgConnection, user_id: &str) -> Result<ThrottleState> {
    sqlx::query(
        "INSERT INTO mfa_throttle (user_id, failures, locked_until, locks) VALUES ($1, 0, 0, 0) \
         ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(user_id)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    throttle_state(conn, user_id, true).await
}

async fn put_throttle_state(conn: &mut PgConnection, user_id: &str, state: &ThrottleState) -> Result<()> {
    sqlx::query("UPDATE mfa_throttle SET failures = $1, locked_until = $2, locks = $3 WHERE user_id = $4")
        .bind(i64::from(state.failures))
        .bind(state.locked_until)
        .bind(i64::from(state.locks))
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(())
}

/// The CTE `advanced`: a device's sync state moved on, only while the device is still assigned to
/// `$4` at step `$5`; binds `$1`..`$5` as [`PgStore::advance_step`] does.
macro_rules! advanced_step {
    () => {
        "WITH advanced AS (UPDATE mfa_devices SET offset_steps = $1, last_step = $2 \
         WHERE serial = $3 AND user_id = $4 AND last_step = $5 RETURNING 1)"
    };
}

impl PgStore {
    /// Runs `sql`, a statement built on [`advanced_step!`] that counts the rows it advanced:
    /// `Conflict` unless the step moved.
    async fn advance_step(
        &self,
        sql: &'static str,
        serial: &str,
        user_id: &str,
        seen_last_step: i64,
        sync: DeviceSync,
    ) -> Result<()> {
        let advanced: i64 = sqlx::query_scalar(sql)
            .bind(sync.offset_steps)
            .bind(sync.last_accepted_step)
            .bind(serial)
            .bind(user_id)
            .bind(seen_last_step)
            .fetch_one(&mut *self.conn().await?)
            .await
            .map_err(db)?;
        changed(advanced as u64, StoreError::Conflict)
    }
}

#[async_trait]
impl MfaDevices for PgStore {
    async fn create_mfa_device(&self, device: &NewMfaDevice, max_in_account: u32) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
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
        DEVICE_TAGS.upsert(&mut tx, &device.serial, &device.tags).await?;
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
            .fetch_optional(&mut *self.conn().await?)
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
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
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
        self.advance_step(
            concat!(advanced_step!(), " SELECT count(*) FROM advanced"),
            serial,
            user_id,
            seen_last_step,
            sync,
        )
        .await
    }

    async fn accept_mfa_code(&self, serial: &str, user_id: &str, seen_last_step: i64, sync: DeviceSync) -> Result<()> {
        // One statement: the failures are cleared only if the step moved.
        let sql = concat!(
            advanced_step!(),
            ", cleared AS (DELETE FROM mfa_throttle WHERE user_id = $4 AND EXISTS (SELECT 1 FROM advanced)) \
             SELECT count(*) FROM advanced"
        );
        self.advance_step(sql, serial, user_id, seen_last_step, sync).await
    }

    async fn unassign_mfa_device(&self, account_id: &str, user_name: &str, serial: &str) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
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
        changed(done.rows_affected(), StoreError::NotFound(Entity::MfaDevice))?;
        tx.commit().await.map_err(db)
    }

    async fn delete_mfa_device(&self, account_id: &str, serial: &str) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
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
        // One statement: the user's row comes once with no device (`d.serial` NULL) when it has
        // none, and not at all when there is no such user.
        let sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM users u LEFT JOIN mfa_devices d ON d.user_id = u.user_id \
             WHERE u.account_id = $1 AND u.name_key = $2 ORDER BY d.serial"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(name_key(user_name))
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db)?;
        if rows.is_empty() {
            return Err(StoreError::NotFound(Entity::User));
        }
        rows.iter()
            .filter(|row| !matches!(row.try_get::<Option<String>, _>("serial"), Ok(None)))
            .map(device_from_row)
            .collect::<std::result::Result<_, _>>()
            .map_err(db)
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
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db)?;
        rows.iter().map(device_from_row).collect::<std::result::Result<_, _>>().map_err(db)
    }

    async fn tag_mfa_device(&self, account_id: &str, serial: &str, tags: &[Tag], max: usize) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        // The device row lock serialises tag changes on one device, so the count is exact.
        device_must_exist(&mut tx, account_id, serial, true).await?;
        DEVICE_TAGS.add(&mut tx, serial, tags, max).await?;
        tx.commit().await.map_err(db)
    }

    async fn untag_mfa_device(&self, account_id: &str, serial: &str, keys: &[String]) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        device_must_exist(&mut tx, account_id, serial, true).await?;
        DEVICE_TAGS.remove(&mut tx, serial, keys).await?;
        tx.commit().await.map_err(db)
    }

    async fn mfa_device_tags(&self, account_id: &str, serial: &str) -> Result<Vec<Tag>> {
        let mut conn = self.conn().await?;
        device_must_exist(&mut conn, account_id, serial, false).await?;
        DEVICE_TAGS.list(&mut conn, serial).await
    }

    async fn mfa_throttle(&self, user_id: &str) -> Result<ThrottleState> {
        let mut conn = self.conn().await?;
        throttle_state(&mut conn, user_id, false).await
    }

    async fn reserve_mfa_attempt(
        &self,
        user_id: &str,
        policy: &ThrottlePolicy,
        now: i64,
    ) -> Result<Option<ThrottleState>> {
        // A user without outstanding failures has no row: then the reservation is one statement,
        // which creates the row only if no other reservation did first. Otherwise, or when one did,
        // the row is read and updated under its lock.
        if let Some(first) = ThrottleState::default().reserve(policy, now) {
            let created = sqlx::query(
                "INSERT INTO mfa_throttle (user_id, failures, locked_until, locks) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (user_id) DO NOTHING",
            )
            .bind(user_id)
            .bind(i64::from(first.failures))
            .bind(first.locked_until)
            .bind(i64::from(first.locks))
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db)?;
            if created.rows_affected() == 1 {
                return Ok(Some(first));
            }
        }
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let Some(state) = locked_throttle_state(&mut tx, user_id).await?.reserve(policy, now) else {
            tx.rollback().await.map_err(db)?;
            return Ok(None);
        };
        put_throttle_state(&mut tx, user_id, &state).await?;
        tx.commit().await.map_err(db)?;
        Ok(Some(state))
    }

    async fn record_mfa_failure(&self, user_id: &str, policy: &ThrottlePolicy, now: i64) -> Result<ThrottleState> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let state = locked_throttle_state(&mut tx, user_id).await?.after_failure(policy, now);
        put_throttle_state(&mut tx, user_id, &state).await?;
        tx.commit().await.map_err(db)?;
        Ok(state)
    }

    async fn clear_mfa_failures(&self, user_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM mfa_throttle WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn unlock_mfa(&self, account_id: &str, user_name: &str) -> Result<ThrottleState> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let user_id = user_id_of(&mut tx, account_id, user_name).await?;
        // Under the row lock code checks take, so a check racing the unlock is either counted
        // before it (and cleared) or after it (and kept).
        let before = locked_throttle_state(&mut tx, &user_id).await?;
        sqlx::query("DELETE FROM mfa_throttle WHERE user_id = $1")
            .bind(&user_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(before)
    }
}
