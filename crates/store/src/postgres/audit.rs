//! [`Audit`] on PostgreSQL: the audit trail (sign-in checks and calls).

use async_trait::async_trait;
use sqlx::Row;

use super::{PgStore, db};
use crate::*;

#[async_trait]
impl Audit for PgStore {
    async fn record_auth_event(&self, e: &AuthEvent) -> Result<()> {
        sqlx::query(
            "INSERT INTO auth_events (at, account_id, user_name, source, kind, mfa_used, outcome, reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(e.at)
        .bind(&e.account_id)
        .bind(&e.user_name)
        .bind(&e.source)
        .bind(&e.kind)
        .bind(e.mfa_used)
        .bind(&e.outcome)
        .bind(&e.reason)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn auth_events(&self, query: &AuthEventQuery) -> Result<Vec<AuthEvent>> {
        let rows = self
            .events(
                "SELECT * FROM auth_events WHERE account_id = $1 AND at >= $2 \
                 AND ($3::text IS NULL OR lower(user_name) = lower($3)) ORDER BY id DESC LIMIT $4",
                query,
            )
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
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(db)
    }

    async fn record_change_event(&self, e: &ChangeEvent) -> Result<()> {
        sqlx::query(
            "INSERT INTO change_events (at, account_id, request_id, caller_arn, caller_user, action, target, \
             target_user, source, origin, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(e.at)
        .bind(&e.account_id)
        .bind(&e.request_id)
        .bind(&e.caller_arn)
        .bind(e.caller_user.as_deref())
        .bind(&e.action)
        .bind(&e.target)
        .bind(e.target_user.as_deref())
        .bind(&e.source)
        .bind(&e.origin)
        .bind(&e.outcome)
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn change_events(&self, query: &AuthEventQuery) -> Result<Vec<ChangeEvent>> {
        let rows = self
            .events(
                "SELECT * FROM change_events WHERE account_id = $1 AND at >= $2 \
                 AND ($3::text IS NULL OR lower(caller_user) = lower($3) OR lower(target_user) = lower($3)) \
                 ORDER BY id DESC LIMIT $4",
                query,
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ChangeEvent {
                    at: r.try_get("at")?,
                    account_id: r.try_get("account_id")?,
                    request_id: r.try_get("request_id")?,
                    caller_arn: r.try_get("caller_arn")?,
                    caller_user: r.try_get("caller_user")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    target_user: r.try_get("target_user")?,
                    source: r.try_get("source")?,
                    origin: r.try_get("origin")?,
                    outcome: r.try_get("outcome")?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(db)
    }
}

impl PgStore {
    /// Runs one of the trail's queries; both take the same parameters: account, since, user,
    /// limit.
    async fn events(&self, sql: &'static str, query: &AuthEventQuery) -> Result<Vec<sqlx::postgres::PgRow>> {
        sqlx::query(sql)
            .bind(&query.account_id)
            .bind(query.since)
            .bind(query.user_name.as_deref())
            .bind(i64::from(query.limit))
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db)
    }
}
