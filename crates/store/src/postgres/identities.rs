//! [`Identities`] on PostgreSQL: users and their tags.

use async_trait::async_trait;

use super::policies::{Lock, policy_visible};
use super::rows::{USER_COLUMNS, user_from_row};
use super::tags::USER_TAGS;
use super::{PgStore, account_quota, count, db, lock_user, path_page, unique_as, user_by_name, user_id_of};
use crate::common::name_key;
use crate::*;

#[async_trait]
impl Identities for PgStore {
    async fn create_user(&self, user: &User, max_in_account: u32) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
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
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let mut user = match user_by_name(&mut conn, account_id, name, false).await {
            Ok(user) => user,
            Err(StoreError::NotFound(Entity::User)) => return Ok(None),
            Err(e) => return Err(e),
        };
        user.tags = USER_TAGS.list(&mut conn, &user.user_id).await?;
        user.permissions_boundary =
            sqlx::query_scalar("SELECT arn FROM user_permissions_boundaries WHERE user_id = $1")
                .bind(&user.user_id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db)?;
        Ok(Some(user))
    }

    async fn list_users(&self, account_id: &str, path_prefix: &str, page: &Page) -> Result<Vec<User>> {
        path_page(&self.pool, (USER_COLUMNS, "users", "u"), account_id, path_prefix, page, |r| user_from_row(r)).await
    }

    async fn update_user(
        &self,
        account_id: &str,
        name: &str,
        new_name: Option<&str>,
        new_path: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
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
        let mut tx = self.pool.begin().await.map_err(db)?;
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
        let mut tx = self.pool.begin().await.map_err(db)?;
        // The user row lock serialises tag changes on one user, so the count is exact.
        let user_id = lock_user(&mut tx, account_id, user_name).await?;
        USER_TAGS.add(&mut tx, &user_id, tags, max).await?;
        tx.commit().await.map_err(db)
    }

    async fn untag_user(&self, account_id: &str, user_name: &str, keys: &[String]) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let user_id = lock_user(&mut tx, account_id, user_name).await?;
        USER_TAGS.remove(&mut tx, &user_id, keys).await?;
        tx.commit().await.map_err(db)
    }

    async fn user_tags(&self, account_id: &str, user_name: &str) -> Result<Vec<Tag>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let user_id = user_id_of(&mut conn, account_id, user_name).await?;
        USER_TAGS.list(&mut conn, &user_id).await
    }
}
