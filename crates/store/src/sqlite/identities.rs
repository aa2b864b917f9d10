//! [`Identities`] on SQLite: users and their tags.

use async_trait::async_trait;
use rusqlite::params;

use super::engine::snapshot;
use super::policies::put_boundary;
use super::rows::{USER_WIDTH, user_at, user_columns};
use super::tags::USER_TAGS;
use super::{SqliteStore, count, decode_all, unique_as, user_id_of};
use crate::common::name_key;
use crate::*;

#[async_trait]
impl Identities for SqliteStore {
    async fn create_user(&self, user: &User, max_in_account: u32) -> Result<()> {
        let user = user.clone();
        self.engine
            .write(move |c| {
                // The writer runs one write at a time, so the count holds until this commits.
                if count(c, "SELECT COUNT(*) FROM users WHERE account_id = ?", &user.account_id)?
                    >= i64::from(max_in_account)
                {
                    return Err(StoreError::LimitExceeded);
                }
                c.prepare_cached(
                    "INSERT INTO users (user_id, account_id, name, name_key, path, created_at) \
                     VALUES (?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    user.user_id,
                    user.account_id,
                    user.name,
                    name_key(&user.name),
                    user.path,
                    user.created_at
                ])
                .map_err(unique_as(Entity::User))?;
                USER_TAGS.upsert(c, &user.user_id, &user.tags)?;
                if let Some(arn) = &user.permissions_boundary {
                    put_boundary(c, Holder::User, &user.account_id, &user.name, arn)?;
                }
                Ok(())
            })
            .await
    }

    async fn get_user(&self, account_id: &str, name: &str) -> Result<Option<User>> {
        // One statement, a row per tag.
        const SQL: &str = concat!(
            "SELECT ",
            user_columns!(),
            ", t.tag_key, t.value, \
             (SELECT b.arn FROM user_permissions_boundaries b WHERE b.user_id = u.user_id) \
             FROM users u LEFT JOIN user_tags t ON t.user_id = u.user_id \
             WHERE u.account_id = ? AND u.name_key = ? ORDER BY t.key_norm"
        );
        self.engine.read(|c| {
            let mut statement = c.prepare_cached(SQL)?;
            let mut rows = statement.query(params![account_id, name_key(name)])?;
            let Some(first) = rows.next()? else { return Ok(None) };
            let mut user = user_at(first, 0)?;
            user.permissions_boundary = first.get(USER_WIDTH + 2)?;
            let mut row = Some(first);
            while let Some(r) = row {
                if let Some(key) = r.get::<_, Option<String>>(USER_WIDTH)? {
                    user.tags.push(Tag { key, value: r.get(USER_WIDTH + 1)? });
                }
                row = rows.next()?;
            }
            Ok(Some(user))
        })
    }

    async fn list_users(&self, account_id: &str, path_prefix: &str, page: &Page) -> Result<Vec<User>> {
        const SQL: &str = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.account_id = ?1 AND substr(u.path, 1, length(?2)) = ?2 \
             AND u.name_key > ?3 ORDER BY u.name_key LIMIT ?4"
        );
        let after = page.after.as_deref().unwrap_or("");
        let limit = page.limit as i64 + 1;
        self.engine.read(|c| decode_all(c, SQL, params![account_id, path_prefix, after, limit], |r| user_at(r, 0)))
    }

    async fn update_user(
        &self,
        account_id: &str,
        name: &str,
        new_name: Option<&str>,
        new_path: Option<&str>,
    ) -> Result<()> {
        let (account_id, name) = (account_id.to_owned(), name.to_owned());
        let (new_name, new_path) = (new_name.map(str::to_owned), new_path.map(str::to_owned));
        self.engine
            .write(move |c| {
                let user_id = user_id_of(c, &account_id, &name)?;
                c.prepare_cached(
                    "UPDATE users SET name = COALESCE(?, name), name_key = COALESCE(?, name_key), \
                     path = COALESCE(?, path) WHERE user_id = ?",
                )?
                .execute(params![new_name, new_name.as_deref().map(name_key), new_path, user_id])
                .map_err(unique_as(Entity::User))?;
                Ok(())
            })
            .await
    }

    async fn delete_user(&self, account_id: &str, name: &str) -> Result<()> {
        let (account_id, name) = (account_id.to_owned(), name.to_owned());
        self.engine
            .write(move |c| {
                let user_id = user_id_of(c, &account_id, &name)?;
                if count(c, "SELECT COUNT(*) FROM login_profiles WHERE user_id = ?", &user_id)? > 0 {
                    return Err(StoreError::DeleteConflict(Dependent::LoginProfile));
                }
                if count(c, "SELECT COUNT(*) FROM access_keys WHERE user_id = ?", &user_id)? > 0 {
                    return Err(StoreError::DeleteConflict(Dependent::AccessKeys));
                }
                if count(c, "SELECT COUNT(*) FROM mfa_devices WHERE user_id = ?", &user_id)? > 0 {
                    return Err(StoreError::DeleteConflict(Dependent::MfaDevices));
                }
                super::policies::user_policy_dependents(c, &user_id)?;
                c.prepare_cached("DELETE FROM user_tags WHERE user_id = ?")?.execute([&user_id])?;
                c.prepare_cached("DELETE FROM users WHERE user_id = ?")?.execute([&user_id])?;
                Ok(())
            })
            .await
    }

    async fn tag_user(&self, account_id: &str, user_name: &str, tags: &[Tag], max: usize) -> Result<()> {
        let (account_id, user_name, tags) = (account_id.to_owned(), user_name.to_owned(), tags.to_vec());
        self.engine
            .write(move |c| {
                let user_id = user_id_of(c, &account_id, &user_name)?;
                USER_TAGS.add(c, &user_id, &tags, max)
            })
            .await
    }

    async fn untag_user(&self, account_id: &str, user_name: &str, keys: &[String]) -> Result<()> {
        let (account_id, user_name, keys) = (account_id.to_owned(), user_name.to_owned(), keys.to_vec());
        self.engine
            .write(move |c| {
                let user_id = user_id_of(c, &account_id, &user_name)?;
                USER_TAGS.remove(c, &user_id, &keys)
            })
            .await
    }

    async fn user_tags(&self, account_id: &str, user_name: &str) -> Result<Vec<Tag>> {
        self.engine.read(|c| snapshot(c, |c| USER_TAGS.list(c, &user_id_of(c, account_id, user_name)?)))
    }
}
