//! [`Accounts`] on PostgreSQL: accounts and their root keys, the account summary, deployment facts.

use async_trait::async_trait;
use sqlx::{Connection, Row};

use super::{PgStore, db};
use crate::*;

#[async_trait]
impl Accounts for PgStore {
    async fn ensure_account(&self, account_id: &str, root_key: Option<NewAccessKey>, now: i64) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        sqlx::query("INSERT INTO accounts (account_id, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(account_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if let Some(key) = root_key {
            let written = sqlx::query(
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
            // The given key replaces every other root key of the account (rotation).
            if written.rows_affected() == 1 {
                sqlx::query(
                    "DELETE FROM access_keys WHERE account_id = $1 AND user_id IS NULL AND access_key_id <> $2",
                )
                .bind(account_id)
                .bind(&key.access_key_id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            }
        }
        tx.commit().await.map_err(db)
    }

    async fn account_exists(&self, account_id: &str) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1::BIGINT FROM accounts WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db)?;
        Ok(found.is_some())
    }

    async fn account_created_at(&self, account_id: &str) -> Result<Option<i64>> {
        sqlx::query_scalar("SELECT created_at FROM accounts WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db)
    }

    async fn accounts(&self) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT account_id FROM accounts ORDER BY account_id")
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db)
    }

    async fn mfa_enrolment_required(&self, account_id: &str) -> Result<bool> {
        sqlx::query_scalar("SELECT require_mfa_enrolment FROM accounts WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound(Entity::Account))
    }

    async fn set_mfa_enrolment_required(&self, account_id: &str, required: bool) -> Result<()> {
        let updated = sqlx::query("UPDATE accounts SET require_mfa_enrolment = $1 WHERE account_id = $2")
            .bind(required)
            .bind(account_id)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db)?;
        if updated.rows_affected() == 0 { Err(StoreError::NotFound(Entity::Account)) } else { Ok(()) }
    }

    async fn account_counts(&self, account_id: &str) -> Result<AccountCounts> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM users WHERE account_id = $1) AS users, \
                    (SELECT COUNT(*) FROM mfa_devices WHERE account_id = $1) AS devices, \
                    (SELECT COUNT(*) FROM mfa_devices WHERE account_id = $1 AND user_id IS NOT NULL) AS in_use, \
                    (SELECT COUNT(*) FROM access_keys WHERE account_id = $1 AND user_id IS NULL) AS root_keys, \
                    (SELECT COUNT(*) FROM iam_groups WHERE account_id = $1) AS groups, \
                    (SELECT COUNT(*) FROM policies WHERE account_id = $1) AS policies, \
                    (SELECT COUNT(*) FROM user_policy_attachments WHERE account_id = $1) \
                    + (SELECT COUNT(*) FROM group_policy_attachments WHERE account_id = $1) \
                    + (SELECT COUNT(*) FROM role_policy_attachments WHERE account_id = $1) AS versions_in_use, \
                    (SELECT COUNT(*) FROM roles WHERE account_id = $1) AS roles",
        )
        .bind(account_id)
        .fetch_one(&mut *self.conn().await?)
        .await
        .map_err(db)?;
        let get = |name: &str| -> Result<u64> { Ok(row.try_get::<i64, _>(name).map_err(db)? as u64) };
        Ok(AccountCounts {
            users: get("users")?,
            mfa_devices: get("devices")?,
            mfa_devices_in_use: get("in_use")?,
            root_access_keys: get("root_keys")?,
            groups: get("groups")?,
            policies: get("policies")?,
            policy_versions_in_use: get("versions_in_use")?,
            roles: get("roles")?,
        })
    }

    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        registry
            .register_collector(Box::new(super::PoolGauges { pool: self.pool.clone(), waiting: self.waiting.clone() }));
    }

    async fn probe_write(&self, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO meta (name, value) VALUES ('last-health-check', $1) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(now.to_be_bytes().to_vec())
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT value FROM meta WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db)
    }

    async fn put_meta_if_absent(&self, name: &str, value: &[u8]) -> Result<Vec<u8>> {
        // ON CONFLICT DO NOTHING waits for a concurrent inserter to commit; the SELECT (a new
        // snapshot under READ COMMITTED) then sees whichever value won.
        sqlx::query("INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(name)
            .bind(value)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db)?;
        sqlx::query_scalar("SELECT value FROM meta WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *self.conn().await?)
            .await
            .map_err(db)
    }
}
