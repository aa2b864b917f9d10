//! [`Roles`] on PostgreSQL: roles, their trust policies and tags, and what applies to their
//! sessions. Inline policies, attachments and boundaries of roles live in `policies.rs` with
//! those of users and groups; a role's row lock (`FOR UPDATE`) serialises everything hanging off
//! the role, as a user's does for the user (taken after any user or group lock, before a
//! policy's).

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{Connection, PgConnection, Row};

use super::policies::{Lock, boundary_of, inline_of, managed_of, policy_visible};
use super::tags::ROLE_TAGS;
use super::{PgStore, account_quota, count, db, path_page, unique_as};
use crate::common::name_key;
use crate::*;

const ROLE_COLUMNS: &str = "r.account_id, r.role_id, r.name, r.path, r.trust_policy, r.description, \
                            r.max_session_duration, r.created_at, r.last_used_at";

/// Decodes [`ROLE_COLUMNS`]; tags and boundary are left empty.
fn role_from_row(row: &PgRow) -> std::result::Result<Role, sqlx::Error> {
    Ok(Role {
        account_id: row.try_get("account_id")?,
        role_id: row.try_get("role_id")?,
        name: row.try_get("name")?,
        path: row.try_get("path")?,
        trust_policy: row.try_get("trust_policy")?,
        description: row.try_get("description")?,
        max_session_duration: row.try_get("max_session_duration")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        permissions_boundary: None,
        tags: Vec::new(),
    })
}

/// The role's id, its row locked as `lock` says; `NotFound(Role)`.
pub(super) async fn role_id_of(conn: &mut PgConnection, account_id: &str, name: &str, lock: Lock) -> Result<String> {
    let sql = format!("SELECT role_id FROM roles WHERE account_id = $1 AND name_key = $2{}", lock.suffix());
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(account_id)
        .bind(name_key(name))
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound(Entity::Role))
}

#[async_trait]
impl Roles for PgStore {
    async fn create_role(&self, role: &Role, max_in_account: u32) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let roles = "SELECT COUNT(*) FROM roles WHERE account_id = $1";
        account_quota(&mut tx, &role.account_id, roles, max_in_account).await?;
        sqlx::query(
            "INSERT INTO roles (role_id, account_id, name, name_key, path, trust_policy, description, \
             max_session_duration, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&role.role_id)
        .bind(&role.account_id)
        .bind(&role.name)
        .bind(name_key(&role.name))
        .bind(&role.path)
        .bind(&role.trust_policy)
        .bind(&role.description)
        .bind(role.max_session_duration)
        .bind(role.created_at)
        .execute(&mut *tx)
        .await
        .map_err(unique_as(Entity::Role))?;
        ROLE_TAGS.upsert(&mut tx, &role.role_id, &role.tags).await?;
        if let Some(arn) = &role.permissions_boundary {
            policy_visible(&mut tx, &role.account_id, arn, Lock::Share).await?;
            sqlx::query("INSERT INTO role_permissions_boundaries (role_id, arn, account_id) VALUES ($1, $2, $3)")
                .bind(&role.role_id)
                .bind(arn)
                .bind(&role.account_id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn get_role(&self, account_id: &str, name: &str) -> Result<Option<Role>> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let sql = format!("SELECT {ROLE_COLUMNS} FROM roles r WHERE r.account_id = $1 AND r.name_key = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(name_key(name))
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let mut role = role_from_row(&row).map_err(db)?;
        role.tags = ROLE_TAGS.list(&mut tx, &role.role_id).await?;
        role.permissions_boundary = boundary_of(&mut tx, Holder::Role, &role.role_id).await?.map(|(arn, _)| arn);
        tx.commit().await.map_err(db)?;
        Ok(Some(role))
    }

    async fn list_roles(&self, account_id: &str, path_prefix: &str, page: &Page) -> Result<Vec<Role>> {
        path_page(&mut *self.conn().await?, (ROLE_COLUMNS, "roles", "r"), account_id, path_prefix, page, role_from_row)
            .await
    }

    async fn update_role(
        &self,
        account_id: &str,
        name: &str,
        description: Option<Option<&str>>,
        max_session_duration: Option<i64>,
    ) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let role_id = role_id_of(&mut tx, account_id, name, Lock::Update).await?;
        if let Some(description) = description {
            sqlx::query("UPDATE roles SET description = $1 WHERE role_id = $2")
                .bind(description)
                .bind(&role_id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        if let Some(seconds) = max_session_duration {
            sqlx::query("UPDATE roles SET max_session_duration = $1 WHERE role_id = $2")
                .bind(seconds)
                .bind(&role_id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn update_trust_policy(&self, account_id: &str, name: &str, document: &str) -> Result<()> {
        let done = sqlx::query("UPDATE roles SET trust_policy = $1 WHERE account_id = $2 AND name_key = $3")
            .bind(document)
            .bind(account_id)
            .bind(name_key(name))
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db)?;
        crate::common::changed(done.rows_affected(), StoreError::NotFound(Entity::Role))
    }

    async fn delete_role(&self, account_id: &str, name: &str) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        // The role's row lock: no policy can be put or attached until this commits.
        let role_id = role_id_of(&mut tx, account_id, name, Lock::Update).await?;
        if count(&mut tx, "SELECT COUNT(*) FROM role_policies WHERE role_id = $1", &role_id).await? > 0 {
            return Err(StoreError::DeleteConflict(Dependent::Policies));
        }
        if count(&mut tx, "SELECT COUNT(*) FROM role_policy_attachments WHERE role_id = $1", &role_id).await? > 0 {
            return Err(StoreError::DeleteConflict(Dependent::Attachments));
        }
        // Tags and the boundary cascade.
        sqlx::query("DELETE FROM roles WHERE role_id = $1").bind(&role_id).execute(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn tag_role(&self, account_id: &str, name: &str, tags: &[Tag], max: usize) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        // The role's row lock serialises tag changes on it, so the count is exact.
        let role_id = role_id_of(&mut tx, account_id, name, Lock::Update).await?;
        ROLE_TAGS.add(&mut tx, &role_id, tags, max).await?;
        tx.commit().await.map_err(db)
    }

    async fn untag_role(&self, account_id: &str, name: &str, keys: &[String]) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let role_id = role_id_of(&mut tx, account_id, name, Lock::Update).await?;
        ROLE_TAGS.remove(&mut tx, &role_id, keys).await?;
        tx.commit().await.map_err(db)
    }

    async fn role_tags(&self, account_id: &str, name: &str) -> Result<Vec<Tag>> {
        let mut conn = self.conn().await?;
        let role_id = role_id_of(&mut conn, account_id, name, Lock::None).await?;
        ROLE_TAGS.list(&mut conn, &role_id).await
    }

    async fn record_role_used(&self, role_id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE roles SET last_used_at = $1 WHERE role_id = $2")
            .bind(now)
            .bind(role_id)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn role_policies(&self, account_id: &str, role_id: &str) -> Result<RolePolicies> {
        // One snapshot for every statement below.
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let found: Option<i64> =
            sqlx::query_scalar("SELECT 1::BIGINT FROM roles WHERE role_id = $1 AND account_id = $2")
                .bind(role_id)
                .bind(account_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        found.ok_or(StoreError::NotFound(Entity::Role))?;
        let policies = RolePolicies {
            tags: ROLE_TAGS.list(&mut tx, role_id).await?,
            inline: inline_of(&mut tx, Holder::Role, role_id).await?,
            managed: managed_of(&mut tx, Holder::Role, role_id).await?,
            boundary: boundary_of(&mut tx, Holder::Role, role_id).await?,
        };
        tx.commit().await.map_err(db)?;
        Ok(policies)
    }
}
