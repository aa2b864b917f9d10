//! [`Sessions`] on SQLite: STS sessions and console sessions.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use super::rows::{user_at, user_columns};
use crate::common::{session_policies_from, session_policies_text, session_tags_from, session_tags_text};
use crate::*;

#[async_trait]
impl Sessions for SqliteStore {
    async fn create_sts_session(&self, s: &StsSession) -> Result<()> {
        let s = s.clone();
        self.engine
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO sts_sessions (access_key_id, account_id, user_id, secret_sealed, token_hash, \
                     created_at, expires_at, mfa_authenticated_at, mfa_serial, role_id, role_name, \
                     role_session_name, session_policies, source_identity, session_tags) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    s.mfa_serial,
                    s.role.as_ref().map(|r| &r.role_id),
                    s.role.as_ref().map(|r| &r.role_name),
                    s.role.as_ref().map(|r| &r.session_name),
                    s.role.as_ref().map(|r| session_policies_text(&r.session_policies)),
                    s.role.as_ref().and_then(|r| r.source_identity.as_ref()),
                    s.role.as_ref().map(|r| session_tags_text(&r.tags)),
                ])?;
                Ok(())
            })
            .await
    }

    async fn find_sts_session(&self, access_key_id: &str) -> Result<Option<StsSession>> {
        const SQL: &str = concat!(
            "SELECT s.access_key_id, s.account_id, s.secret_sealed, s.token_hash, s.created_at, s.expires_at, \
             s.mfa_authenticated_at, s.mfa_serial, s.role_id, s.role_name, s.role_session_name, \
             s.session_policies, s.source_identity, s.session_tags, s.user_id, ",
            user_columns!(),
            " FROM sts_sessions s LEFT JOIN users u ON u.user_id = s.user_id WHERE s.access_key_id = ?"
        );
        self.engine.read(|c| {
            Ok(c.prepare_cached(SQL)?
                .query_row([access_key_id], |r| {
                    let user_id: Option<String> = r.get(14)?;
                    let role = match r.get::<_, Option<String>>(8)? {
                        None => None,
                        Some(role_id) => Some(RoleSession {
                            role_id,
                            role_name: r.get(9)?,
                            session_name: r.get(10)?,
                            session_policies: session_policies_from(r.get::<_, Option<String>>(11)?.as_deref()),
                            source_identity: r.get(12)?,
                            tags: session_tags_from(r.get::<_, Option<String>>(13)?.as_deref()),
                        }),
                    };
                    Ok(StsSession {
                        access_key_id: r.get(0)?,
                        account_id: r.get(1)?,
                        secret_sealed: r.get(2)?,
                        token_hash: r.get(3)?,
                        created_at: r.get(4)?,
                        expires_at: r.get(5)?,
                        mfa_authenticated_at: r.get(6)?,
                        mfa_serial: r.get(7)?,
                        user: user_id.map(|_| user_at(r, 15)).transpose()?,
                        role,
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

    async fn delete_console_sessions_of_user(&self, user_id: &str) -> Result<u64> {
        let user_id = user_id.to_owned();
        self.engine
            .write(move |c| {
                Ok(c.prepare_cached("DELETE FROM console_sessions WHERE user_id = ?")?.execute([&user_id])? as u64)
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
}
