//! [`Sessions`] on PostgreSQL: STS sessions and console sessions.

use async_trait::async_trait;
use sqlx::Row;

use super::rows::{USER_COLUMNS, user_from_row};
use super::{PgStore, db};
use crate::common::{session_policies_from, session_policies_text, session_tags_from, session_tags_text};
use crate::*;

#[async_trait]
impl Sessions for PgStore {
    async fn create_sts_session(&self, s: &StsSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO sts_sessions (access_key_id, account_id, user_id, secret_sealed, token_hash, created_at, \
             expires_at, mfa_authenticated_at, mfa_serial, role_id, role_name, role_session_name, \
             session_policies, source_identity, session_tags) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
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
        .bind(s.role.as_ref().map(|r| &r.role_id))
        .bind(s.role.as_ref().map(|r| &r.role_name))
        .bind(s.role.as_ref().map(|r| &r.session_name))
        .bind(s.role.as_ref().map(|r| session_policies_text(&r.session_policies)))
        .bind(s.role.as_ref().and_then(|r| r.source_identity.as_ref()))
        .bind(s.role.as_ref().map(|r| session_tags_text(&r.tags)))
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn find_sts_session(&self, access_key_id: &str) -> Result<Option<StsSession>> {
        let sql = format!(
            "SELECT s.access_key_id, s.account_id AS session_account, s.secret_sealed, s.token_hash, \
             s.created_at AS session_created, s.expires_at, s.mfa_authenticated_at, s.mfa_serial, \
             s.role_id, s.role_name, s.role_session_name, s.session_policies, s.source_identity, s.session_tags, \
             s.user_id AS session_user, {USER_COLUMNS} \
             FROM sts_sessions s LEFT JOIN users u ON u.user_id = s.user_id WHERE s.access_key_id = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(access_key_id)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let decode = || -> std::result::Result<StsSession, sqlx::Error> {
            let session_user: Option<String> = row.try_get("session_user")?;
            let role = match row.try_get::<Option<String>, _>("role_id")? {
                None => None,
                Some(role_id) => Some(RoleSession {
                    role_id,
                    role_name: row.try_get("role_name")?,
                    session_name: row.try_get("role_session_name")?,
                    session_policies: session_policies_from(
                        row.try_get::<Option<String>, _>("session_policies")?.as_deref(),
                    ),
                    source_identity: row.try_get("source_identity")?,
                    tags: session_tags_from(row.try_get::<Option<String>, _>("session_tags")?.as_deref()),
                }),
            };
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
                role,
            })
        };
        decode().map(Some).map_err(db)
    }

    async fn purge_expired_sts_sessions(&self, now: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sts_sessions WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *self.conn().await?)
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
        .execute(&mut *self.conn().await?)
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
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id_hash)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db)?;
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
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn delete_console_sessions_of_user(&self, user_id: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM console_sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn purge_expired_console_sessions(&self, now: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM console_sessions WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db)?;
        Ok(done.rows_affected())
    }
}
