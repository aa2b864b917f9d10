//! [`Accounts`] on SQLite: accounts and their root keys, the account summary, deployment facts.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, decode_all};
use crate::*;

#[async_trait]
impl Accounts for SqliteStore {
    async fn ensure_account(&self, account_id: &str, root_key: Option<NewAccessKey>, now: i64) -> Result<()> {
        let account_id = account_id.to_owned();
        self.engine
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO accounts (account_id, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                )?
                .execute(params![account_id, now])?;
                if let Some(key) = root_key {
                    let written = c
                        .prepare_cached(
                            "INSERT INTO access_keys (access_key_id, account_id, user_id, secret_sealed, status, created_at) \
                             VALUES (?, ?, NULL, ?, 'Active', ?) \
                             ON CONFLICT (access_key_id) DO UPDATE SET secret_sealed = excluded.secret_sealed \
                             WHERE access_keys.user_id IS NULL AND access_keys.account_id = excluded.account_id",
                        )?
                        .execute(params![key.access_key_id, account_id, key.secret_sealed, key.created_at])?;
                    // The given key replaces every other root key of the account (rotation).
                    if written == 1 {
                        c.prepare_cached(
                            "DELETE FROM access_keys WHERE account_id = ? AND user_id IS NULL AND access_key_id <> ?",
                        )?
                        .execute(params![account_id, key.access_key_id])?;
                    }
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

    async fn account_created_at(&self, account_id: &str) -> Result<Option<i64>> {
        self.engine.read(|c| {
            Ok(c.prepare_cached("SELECT created_at FROM accounts WHERE account_id = ?")?
                .query_row([account_id], |r| r.get(0))
                .optional()?)
        })
    }

    async fn accounts(&self) -> Result<Vec<String>> {
        self.engine.read(|c| decode_all(c, "SELECT account_id FROM accounts ORDER BY account_id", [], |r| r.get(0)))
    }

    async fn mfa_enrolment_required(&self, account_id: &str) -> Result<bool> {
        self.engine.read(|c| {
            c.prepare_cached("SELECT require_mfa_enrolment FROM accounts WHERE account_id = ?")?
                .query_row([account_id], |r| r.get::<_, bool>(0))
                .optional()?
                .ok_or(StoreError::NotFound(Entity::Account))
        })
    }

    async fn set_mfa_enrolment_required(&self, account_id: &str, required: bool) -> Result<()> {
        let account_id = account_id.to_owned();
        self.engine
            .write(move |c| {
                let updated = c
                    .prepare_cached("UPDATE accounts SET require_mfa_enrolment = ? WHERE account_id = ?")?
                    .execute(params![required, account_id])?;
                if updated == 0 { Err(StoreError::NotFound(Entity::Account)) } else { Ok(()) }
            })
            .await
    }

    async fn account_counts(&self, account_id: &str) -> Result<AccountCounts> {
        const SQL: &str = "SELECT (SELECT COUNT(*) FROM users WHERE account_id = ?1), \
             (SELECT COUNT(*) FROM mfa_devices WHERE account_id = ?1), \
             (SELECT COUNT(*) FROM mfa_devices WHERE account_id = ?1 AND user_id IS NOT NULL), \
             (SELECT COUNT(*) FROM access_keys WHERE account_id = ?1 AND user_id IS NULL), \
             (SELECT COUNT(*) FROM iam_groups WHERE account_id = ?1), \
             (SELECT COUNT(*) FROM policies WHERE account_id = ?1), \
             (SELECT COUNT(*) FROM user_policy_attachments WHERE account_id = ?1) \
             + (SELECT COUNT(*) FROM group_policy_attachments WHERE account_id = ?1) \
             + (SELECT COUNT(*) FROM role_policy_attachments WHERE account_id = ?1), \
             (SELECT COUNT(*) FROM roles WHERE account_id = ?1)";
        self.engine.read(|c| {
            Ok(c.prepare_cached(SQL)?.query_row([account_id], |r| {
                let count = |i| r.get::<_, i64>(i).map(|n| n as u64);
                Ok(AccountCounts {
                    users: count(0)?,
                    mfa_devices: count(1)?,
                    mfa_devices_in_use: count(2)?,
                    root_access_keys: count(3)?,
                    groups: count(4)?,
                    policies: count(5)?,
                    policy_versions_in_use: count(6)?,
                    roles: count(7)?,
                })
            })?)
        })
    }

    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.engine.register_metrics(registry);
    }

    async fn probe_write(&self, now: i64) -> Result<()> {
        self.engine
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO meta (name, value) VALUES ('last-health-check', ?) \
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                )?
                .execute([now.to_be_bytes().to_vec()])?;
                Ok(())
            })
            .await
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
