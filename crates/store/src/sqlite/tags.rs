//! Tags of users, MFA devices, managed policies and roles: one table each with the same columns
//! (`{owner}, tag_key, key_norm, value`), so one set of statements per table and one set of
//! functions for all of them. Keys compare without regard to case (`key_norm`); a tag replaces
//! the one whose key differs only in case and takes its spelling.

use rusqlite::{Connection, params};

use super::{count, decode_all};
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
                ", tag_key, key_norm, value) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (",
                $owner,
                ", key_norm) DO UPDATE SET tag_key = excluded.tag_key, value = excluded.value"
            ),
            list: concat!("SELECT tag_key, value FROM ", $table, " WHERE ", $owner, " = ? ORDER BY key_norm"),
            count: concat!("SELECT COUNT(*) FROM ", $table, " WHERE ", $owner, " = ?"),
            delete: concat!("DELETE FROM ", $table, " WHERE ", $owner, " = ? AND key_norm = ?"),
        }
    };
}

pub(super) const USER_TAGS: TagTable = tag_table!("user_tags", "user_id");
pub(super) const DEVICE_TAGS: TagTable = tag_table!("mfa_device_tags", "serial");
pub(super) const POLICY_TAGS: TagTable = tag_table!("policy_tags", "arn");
pub(super) const ROLE_TAGS: TagTable = tag_table!("role_tags", "role_id");

impl TagTable {
    /// The owner's tags, ordered by key without regard to case.
    pub fn list(&self, conn: &Connection, owner: &str) -> Result<Vec<Tag>> {
        decode_all(conn, self.list, [owner], |r| Ok(Tag { key: r.get(0)?, value: r.get(1)? }))
    }

    /// Adds or overwrites the owner's tags.
    pub fn upsert(&self, conn: &Connection, owner: &str, tags: &[Tag]) -> Result<()> {
        let mut insert = conn.prepare_cached(self.upsert)?;
        for tag in tags {
            insert.execute(params![owner, tag.key, name_key(&tag.key), tag.value])?;
        }
        Ok(())
    }

    /// `upsert`, then `LimitExceeded` (the caller's transaction rolls the tags back) when the
    /// owner would carry more than `max`. The writer runs one write at a time, so the count
    /// holds until the write commits.
    pub fn add(&self, conn: &Connection, owner: &str, tags: &[Tag], max: usize) -> Result<()> {
        self.upsert(conn, owner, tags)?;
        if count(conn, self.count, owner)? > max as i64 {
            return Err(StoreError::LimitExceeded);
        }
        Ok(())
    }

    /// Removes the tags with these keys (absent ones are fine).
    pub fn remove(&self, conn: &Connection, owner: &str, keys: &[String]) -> Result<()> {
        let mut delete = conn.prepare_cached(self.delete)?;
        for key in keys {
            delete.execute(params![owner, name_key(key)])?;
        }
        Ok(())
    }
}
