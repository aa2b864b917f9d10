//! Tags of users, MFA devices, managed policies and roles: one table each with the same columns
//! (`{owner}, tag_key, key_norm, value`), so one set of statements per table and one set of
//! functions for all of them. Keys compare without regard to case (`key_norm`); a tag replaces
//! the one whose key differs only in case and takes its spelling. Callers hold the owner's row
//! lock for changes, so a count checked here holds until they commit.

use sqlx::{PgConnection, Row};

use super::{count, db};
use crate::common::name_key;
use crate::{Result, StoreError, Tag};

/// The statements of one tag table.
pub(super) struct TagTable {
    upsert: &'static str,
    list: &'static str,
    count: &'static str,
    delete: &'static str,
}

macro_rules! tag_table {
    ($table:literal, $owner:literal) => {
        TagTable {
            upsert: concat!(
                "INSERT INTO ",
                $table,
                " (",
                $owner,
                ", tag_key, key_norm, value) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (",
                $owner,
                ", key_norm) DO UPDATE SET tag_key = excluded.tag_key, value = excluded.value"
            ),
            list: concat!("SELECT tag_key, value FROM ", $table, " WHERE ", $owner, " = $1 ORDER BY key_norm"),
            count: concat!("SELECT COUNT(*) FROM ", $table, " WHERE ", $owner, " = $1"),
            delete: concat!("DELETE FROM ", $table, " WHERE ", $owner, " = $1 AND key_norm = ANY($2)"),
        }
    };
}

pub(super) const USER_TAGS: TagTable = tag_table!("user_tags", "user_id");
pub(super) const DEVICE_TAGS: TagTable = tag_table!("mfa_device_tags", "serial");
pub(super) const POLICY_TAGS: TagTable = tag_table!("policy_tags", "arn");
pub(super) const ROLE_TAGS: TagTable = tag_table!("role_tags", "role_id");

impl TagTable {
    /// The owner's tags, ordered by key without regard to case.
    pub async fn list(&self, conn: &mut PgConnection, owner: &str) -> Result<Vec<Tag>> {
        let rows = sqlx::query(self.list).bind(owner).fetch_all(&mut *conn).await.map_err(db)?;
        Ok(rows.iter().map(|r| Tag { key: r.get("tag_key"), value: r.get("value") }).collect())
    }

    /// Adds or overwrites the owner's tags.
    pub async fn upsert(&self, conn: &mut PgConnection, owner: &str, tags: &[Tag]) -> Result<()> {
        for tag in tags {
            sqlx::query(self.upsert)
                .bind(owner)
                .bind(&tag.key)
                .bind(name_key(&tag.key))
                .bind(&tag.value)
                .execute(&mut *conn)
                .await
                .map_err(db)?;
        }
        Ok(())
    }

    /// `upsert`, then `LimitExceeded` (dropping the caller's transaction rolls the tags back)
    /// when the owner would carry more than `max`.
    pub async fn add(&self, conn: &mut PgConnection, owner: &str, tags: &[Tag], max: usize) -> Result<()> {
        self.upsert(conn, owner, tags).await?;
        if count(conn, self.count, owner).await? > max as i64 {
            return Err(StoreError::LimitExceeded);
        }
        Ok(())
    }

    /// Removes the tags with these keys (absent ones are fine).
    pub async fn remove(&self, conn: &mut PgConnection, owner: &str, keys: &[String]) -> Result<()> {
        let norms: Vec<String> = keys.iter().map(|k| name_key(k)).collect();
        sqlx::query(self.delete).bind(owner).bind(&norms).execute(&mut *conn).await.map_err(db)?;
        Ok(())
    }
}
