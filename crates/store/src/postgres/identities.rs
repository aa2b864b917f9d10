//! [`Identities`] on PostgreSQL: users and their tags.

use async_trait::async_trait;
use sqlx::{Connection, Row};

use super::policies::{Lock, policy_visible};
use super::rows::{USER_COLUMNS, user_from_row};
use super::tags::USER_TAGS;
use super::{PgStore, account_quota, count, db, lock_user, path_page, unique_as, user_id_of};
use crate::common::name_key;
use crate::*;

#[async_trait]
impl Identities for PgStore {
    async fn create_user(&self, user: &User, max_in_account: u32) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        account_quota(&mut tx, &user.account_id, "SELECT COUNT(*) FROM users WHERE account_id = $1", max_in_account)
            .await?;
        sqlx::query(
            "INSERT INTO users (user_id, account_id, name, name_key, path, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&user.user_id)
        .bind(&user.account_id)
        .bind(&user.name)
        .bind(name_key(&user.name))
        .bind(&user.path)
        .bind(user.created_at)
        .execute(&mut *tx)
        .await
        .map_err(unique_as(Entity::User))?;
        USER_TAGS.upsert(&mut tx, &user.user_id, &user.tags).await?;
        if let Some(arn) = &user.permissions_boundary {
            policy_visible(&mut tx, &user.account_id, arn, Lock::Share).await?;
            sqlx::query("INSERT INTO user_permissions_boundaries (user_id, arn, account_id) VALUES ($1, $2, $3)")
                .bind(&user.user_id)
                .bind(arn)
                .bind(&user.account_id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn get_user(&self, account_id: &str, name: &str) -> Result<Option<User>> {
        // One statement (one round trip): GetUser is the commonest read. Both tag arrays follow
        // the key order, which is unique per user.
        let sql = format!(
            "SELECT {USER_COLUMNS}, \
             (SELECT b.arn FROM user_permissions_boundaries b WHERE b.user_id = u.user_id) AS boundary, \
             ARRAY(SELECT t.tag_key FROM user_tags t WHERE t.user_id = u.user_id ORDER BY t.key_norm) AS tag_keys, \
             ARRAY(SELECT t.value FROM user_tags t WHERE t.user_id = u.user_id ORDER BY t.key_norm) AS tag_values \
             FROM users u WHERE u.account_id = $1 AND u.name_key = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(name_key(name))
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let mut user = user_from_row(&row).map_err(db)?;
        let keys: Vec<String> = row.try_get("tag_keys").map_err(db)?;
        let values: Vec<String> = row.try_get("tag_values").map_err(db)?;
        user.tags = keys.into_iter().zip(values).map(|(key, value)| Tag { key, value }).collect();
        user.permissions_boundary = row.try_get("boundary").map_err(db)?;
        Ok(Some(user))
    }

    async fn list_users(&self, account_id: &str, path_prefix: &str, page: &Page) -> Result<Vec<User>> {
        path_page(&mut *self.conn().await?, (USER_COLUMNS, "users", "u"), account_id, path_prefix, page, |r| {
            user_from_row(r)
        })
        .await
    }

    async fn update_user(
        &self,
        account_id: &str,
        name: &str,
        new_name: Option<&str>,
        new_path: Option<&str>,
    ) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let user_id = lock_user(&mut tx, account_id, name).await?;
        sqlx::query(
            "UPDATE users SET name = COALESCE($1, name), name_key = COALESCE($2, name_key), \
             path = COALESCE($3, path) WHERE user_id = $4",
        )
        .bind(new_name)
        .bind(new_name.map(name_key))
        .bind(new_path)
        .bind(&user_id)
        .execute(&mut *tx)
        .await
        .map_err(unique_as(Entity::User))?;
        tx.commit().await.map_err(db)
    }

    async fn delete_user(&self, account_id: &str, name: &str) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let user_id = lock_user(&mut tx, account_id, name).await?;
        if count(&mut tx, "SELECT COUNT(*) FROM login_profiles WHERE user_id = $1", &user_id).await? > 0 {
            return Err(StoreError::DeleteConflict(Dependent::LoginProfile));
        }
        if count(&mut tx, "SELECT COUNT(*) FROM access_keys WHERE user_id = $1", &user_id).await? > 0 {
            return Err(StoreError::DeleteConflict(Dependent::AccessKeys));
        }
        if count(&mut tx, "SELECT COUNT(*) FROM mfa_devices WHERE user_id = $1", &user_id).await? > 0 {
            return Err(StoreError::DeleteConflict(Dependent::MfaDevices));
        }
        super::policies::user_policy_dependents(&mut tx, &user_id).await?;
        sqlx::query("DELETE FROM user_tags WHERE user_id = $1").bind(&user_id).execute(&mut *tx).await.map_err(db)?;
        sqlx::query("DELETE FROM users WHERE user_id = $1").bind(&user_id).execute(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn tag_user(&self, account_id: &str, user_name: &str, tags: &[Tag], max: usize) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        // The user row lock serialises tag changes on one user, so the count is exact.
        let user_id = lock_user(&mut tx, account_id, user_name).await?;
        USER_TAGS.add(&mut tx, &user_id, tags, max).await?;
        tx.commit().await.map_err(db)
    }

    async fn untag_user(&self, account_id: &str, user_name: &str, keys: &[String]) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let user_id = lock_user(&mut tx, account_id, user_name).await?;
        USER_TAGS.remove(&mut tx, &user_id, keys).await?;
        tx.commit().await.map_err(db)
    }

    async fn user_tags(&self, account_id: &str, user_name: &str) -> Result<Vec<Tag>> {
        let mut conn = self.conn().await?;
        let user_id = user_id_of(&mut conn, account_id, user_name).await?;
        USER_TAGS.list(&mut conn, &user_id).await
    }
}
