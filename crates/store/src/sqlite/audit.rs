//! [`Audit`] on SQLite: the audit trail (sign-in checks and calls).

use async_trait::async_trait;
use rusqlite::params;

use super::{SqliteStore, decode_all};
use crate::*;

#[async_trait]
impl Audit for SqliteStore {
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

    async fn auth_events(&self, query: &AuthEventQuery) -> Result<Vec<AuthEvent>> {
        const SQL: &str = "SELECT at, account_id, user_name, source, kind, mfa_used, outcome, reason \
             FROM auth_events WHERE account_id = ?1 AND at >= ?2 \
             AND (?3 IS NULL OR lower(user_name) = lower(?3)) ORDER BY id DESC LIMIT ?4";
        let AuthEventQuery { account_id, since, user_name, limit } = query;
        self.engine.read(|c| {
            decode_all(c, SQL, params![account_id, since, user_name, limit], |r| {
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

    async fn record_change_event(&self, e: &ChangeEvent) -> Result<()> {
        let e = e.clone();
        self.engine
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO change_events (at, account_id, request_id, caller_arn, caller_user, action, \
                     target, target_user, source, origin, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    e.at,
                    e.account_id,
                    e.request_id,
                    e.caller_arn,
                    e.caller_user,
                    e.action,
                    e.target,
                    e.target_user,
                    e.source,
                    e.origin,
                    e.outcome
                ])?;
                Ok(())
            })
            .await
    }

    async fn change_events(&self, query: &AuthEventQuery) -> Result<Vec<ChangeEvent>> {
        const SQL: &str = "SELECT at, account_id, request_id, caller_arn, caller_user, action, target, target_user, \
             source, origin, outcome FROM change_events WHERE account_id = ?1 AND at >= ?2 \
             AND (?3 IS NULL OR lower(caller_user) = lower(?3) OR lower(target_user) = lower(?3)) \
             ORDER BY id DESC LIMIT ?4";
        let AuthEventQuery { account_id, since, user_name, limit } = query;
        self.engine.read(|c| {
            decode_all(c, SQL, params![account_id, since, user_name, limit], |r| {
                Ok(ChangeEvent {
                    at: r.get(0)?,
                    account_id: r.get(1)?,
                    request_id: r.get(2)?,
                    caller_arn: r.get(3)?,
                    caller_user: r.get(4)?,
                    action: r.get(5)?,
                    target: r.get(6)?,
                    target_user: r.get(7)?,
                    source: r.get(8)?,
                    origin: r.get(9)?,
                    outcome: r.get(10)?,
                })
            })
        })
    }
}
