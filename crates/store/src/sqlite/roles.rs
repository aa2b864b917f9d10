//! [`Roles`] on SQLite: roles, their trust policies and tags, and what applies to their
//! sessions. Inline policies, attachments and boundaries of roles live in `policies.rs` with
//! those of users and groups.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::engine::snapshot;
use super::policies::{boundary_of, inline_of, managed_of, policy_visible};
use super::tags::ROLE_TAGS;
use super::{SqliteStore, count, unique_as};
use crate::common::name_key;
use crate::*;

const ROLE_COLUMNS: &str = "r.account_id, r.role_id, r.name, r.path, r.trust_policy, r.description, \
                            r.max_session_duration, r.created_at, r.last_used_at";

/// Decodes [`ROLE_COLUMNS`]; tags and boundary are left empty.
fn role_at(row: &Row<'_>) -> rusqlite::Result<Role> {
    Ok(Role {
        account_id: row.get(0)?,
        role_id: row.get(1)?,
        name: row.get(2)?,
        path: row.get(3)?,
        trust_policy: row.get(4)?,
        description: row.get(5)?,
        max_session_duration: row.get(6)?,
        created_at: row.get(7)?,
        last_used_at: row.get(8)?,
        permissions_boundary: None,
        tags: Vec::new(),
    })
}

/// The role's id, or `NotFound(Role)`.
pub(super) fn role_id_of(conn: &Connection, account_id: &str, name: &str) -> Result<String> {
    conn.prepare_cached("SELECT role_id FROM roles WHERE account_id = ? AND name_key = ?")?
        .query_row(params![account_id, name_key(name)], |row| row.get(0))
        .optional()?
        .ok_or(StoreError::NotFound(Entity::Role))
}

#[async_trait]
impl Roles for SqliteStore {
    async fn create_role(&self, role: &Role, max_in_account: u32) -> Result<()> {
        let role = role.clone();
        self.engine
            .write(move |c| {
                // The writer runs one write at a time, so the count holds until this commits.
                if count(c, "SELECT COUNT(*) FROM roles WHERE account_id = ?", &role.account_id)?
                    >= i64::from(max_in_account)
                {
                    return Err(StoreError::LimitExceeded);
                }
                c.prepare_cached(
                    "INSERT INTO roles (role_id, account_id, name, name_key, path, trust_policy, description, \
                     max_session_duration, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    role.role_id,
                    role.account_id,
                    role.name,
                    name_key(&role.name),
                    role.path,
                    role.trust_policy,
                    role.description,
                    role.max_session_duration,
                    role.created_at
                ])
                .map_err(unique_as(Entity::Role))?;
                ROLE_TAGS.upsert(c, &role.role_id, &role.tags)?;
                if let Some(arn) = &role.permissions_boundary {
                    policy_visible(c, &role.account_id, arn)?;
                    c.prepare_cached(
                        "INSERT INTO role_permissions_boundaries (role_id, arn, account_id) VALUES (?, ?, ?)",
                    )?
                    .execute(params![role.role_id, arn, role.account_id])?;
                }
                Ok(())
            })
            .await
    }

    async fn get_role(&self, account_id: &str, name: &str) -> Result<Option<Role>> {
        let sql = format!("SELECT {ROLE_COLUMNS} FROM roles r WHERE r.account_id = ? AND r.name_key = ?");
        self.engine.read(|c| {
            snapshot(c, |c| {
                let Some(mut role) =
                    c.prepare_cached(&sql)?.query_row(params![account_id, name_key(name)], role_at).optional()?
                else {
                    return Ok(None);
                };
                role.tags = ROLE_TAGS.list(c, &role.role_id)?;
                role.permissions_boundary = boundary_of(c, Holder::Role, &role.role_id)?.map(|(arn, _)| arn);
                Ok(Some(role))
            })
        })
    }

    async fn list_roles(&self, account_id: &str, path_prefix: &str, page: &Page) -> Result<Vec<Role>> {
        let sql = format!(
            "SELECT {ROLE_COLUMNS} FROM roles r WHERE r.account_id = ?1 AND substr(r.path, 1, length(?2)) = ?2 \
             AND r.name_key > ?3 ORDER BY r.name_key LIMIT ?4"
        );
        let after = page.after.as_deref().unwrap_or("");
        let limit = page.limit as i64 + 1;
        self.engine.read(|c| {
            let mut statement = c.prepare_cached(&sql)?;
            let rows = statement.query_map(params![account_id, path_prefix, after, limit], role_at)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    async fn update_role(
        &self,
        account_id: &str,
        name: &str,
        description: Option<Option<&str>>,
        max_session_duration: Option<i64>,
    ) -> Result<()> {
        let (account_id, name) = (account_id.to_owned(), name.to_owned());
        let description = description.map(|d| d.map(str::to_owned));
        self.engine
            .write(move |c| {
                let role_id = role_id_of(c, &account_id, &name)?;
                if let Some(description) = &description {
                    c.prepare_cached("UPDATE roles SET description = ? WHERE role_id = ?")?
                        .execute(params![description, role_id])?;
                }
                if let Some(seconds) = max_session_duration {
                    c.prepare_cached("UPDATE roles SET max_session_duration = ? WHERE role_id = ?")?
                        .execute(params![seconds, role_id])?;
                }
                Ok(())
            })
            .await
    }

    async fn update_trust_policy(&self, account_id: &str, name: &str, document: &str) -> Result<()> {
        let (account_id, name, document) = (account_id.to_owned(), name.to_owned(), document.to_owned());
        self.engine
            .write(move |c| {
                let role_id = role_id_of(c, &account_id, &name)?;
                c.prepare_cached("UPDATE roles SET trust_policy = ? WHERE role_id = ?")?
                    .execute(params![document, role_id])?;
                Ok(())
            })
            .await
    }

    async fn delete_role(&self, account_id: &str, name: &str) -> Result<()> {
        let (account_id, name) = (account_id.to_owned(), name.to_owned());
        self.engine
            .write(move |c| {
                let role_id = role_id_of(c, &account_id, &name)?;
                if count(c, "SELECT COUNT(*) FROM role_policies WHERE role_id = ?", &role_id)? > 0 {
                    return Err(StoreError::DeleteConflict(Dependent::Policies));
                }
                if count(c, "SELECT COUNT(*) FROM role_policy_attachments WHERE role_id = ?", &role_id)? > 0 {
                    return Err(StoreError::DeleteConflict(Dependent::Attachments));
                }
                // Tags and the boundary cascade.
                c.prepare_cached("DELETE FROM roles WHERE role_id = ?")?.execute([&role_id])?;
                Ok(())
            })
            .await
    }

    async fn tag_role(&self, account_id: &str, name: &str, tags: &[Tag], max: usize) -> Result<()> {
        let (account_id, name, tags) = (account_id.to_owned(), name.to_owned(), tags.to_vec());
        self.engine
            .write(move |c| {
                let role_id = role_id_of(c, &account_id, &name)?;
                ROLE_TAGS.add(c, &role_id, &tags, max)
            })
            .await
    }

    async fn untag_role(&self, account_id: &str, name: &str, keys: &[String]) -> Result<()> {
        let (account_id, name, keys) = (account_id.to_owned(), name.to_owned(), keys.to_vec());
        self.engine
            .write(move |c| {
                let role_id = role_id_of(c, &account_id, &name)?;
                ROLE_TAGS.remove(c, &role_id, &keys)
            })
            .await
    }

    async fn role_tags(&self, account_id: &str, name: &str) -> Result<Vec<Tag>> {
        self.engine.read(|c| snapshot(c, |c| ROLE_TAGS.list(c, &role_id_of(c, account_id, name)?)))
    }

    async fn record_role_used(&self, role_id: &str, now: i64) -> Result<()> {
        let role_id = role_id.to_owned();
        self.engine
            .write(move |c| {
                c.prepare_cached("UPDATE roles SET last_used_at = ? WHERE role_id = ?")?
                    .execute(params![now, role_id])?;
                Ok(())
            })
            .await
    }

    async fn role_policies(&self, account_id: &str, role_id: &str) -> Result<RolePolicies> {
        self.engine.read(|c| {
            snapshot(c, |c| {
                c.prepare_cached("SELECT 1 FROM roles WHERE role_id = ? AND account_id = ?")?
                    .query_row([role_id, account_id], |_| Ok(()))
                    .optional()?
                    .ok_or(StoreError::NotFound(Entity::Role))?;
                Ok(RolePolicies {
                    tags: ROLE_TAGS.list(c, role_id)?,
                    inline: inline_of(c, Holder::Role, role_id)?,
                    managed: managed_of(c, Holder::Role, role_id)?,
                    boundary: boundary_of(c, Holder::Role, role_id)?,
                })
            })
        })
    }
}
