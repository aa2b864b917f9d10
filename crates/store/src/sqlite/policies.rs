//! [`Policies`] on SQLite: groups and memberships, managed policies (versions, tags, AWS managed
//! ones), inline policies, attachments, permissions boundaries, and what applies to a user.
//!
//! Every write runs on the one writer thread, so each count checked below (quotas, dependents,
//! inline sizes) holds until the write commits.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::engine::snapshot;
use super::roles::role_id_of;
use super::rows::{user_at, user_columns};
use super::tags::{POLICY_TAGS, USER_TAGS};
use super::{SqliteStore, count, decode_all, unique_as, user_id_of};
use crate::common::{changed, name_key};
use crate::*;

/// Decodes `g.group_id, g.account_id, g.name, g.path, g.created_at` (`iam_groups g`).
fn group_at(row: &Row<'_>) -> rusqlite::Result<Group> {
    Ok(Group {
        group_id: row.get(0)?,
        account_id: row.get(1)?,
        name: row.get(2)?,
        path: row.get(3)?,
        created_at: row.get(4)?,
    })
}

/// The policy columns (`policies p`), with attachment and boundary counts within the account
/// bound as `?1`; decoded by [`policy_at`].
macro_rules! policy_columns {
    () => {
        "p.arn, p.account_id, p.policy_id, p.name, p.path, p.description, p.default_version, p.created_at, \
         p.updated_at, \
         (SELECT COUNT(*) FROM user_policy_attachments a WHERE a.arn = p.arn AND a.account_id = ?1) \
         + (SELECT COUNT(*) FROM group_policy_attachments a WHERE a.arn = p.arn AND a.account_id = ?1) \
         + (SELECT COUNT(*) FROM role_policy_attachments a WHERE a.arn = p.arn AND a.account_id = ?1), \
         (SELECT COUNT(*) FROM user_permissions_boundaries b WHERE b.arn = p.arn AND b.account_id = ?1) \
         + (SELECT COUNT(*) FROM role_permissions_boundaries b WHERE b.arn = p.arn AND b.account_id = ?1)"
    };
}

fn policy_at(row: &Row<'_>) -> rusqlite::Result<ManagedPolicy> {
    let default_version: i64 = row.get(6)?;
    let counted = |i| row.get::<_, i64>(i).map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    Ok(ManagedPolicy {
        arn: row.get(0)?,
        account_id: row.get(1)?,
        policy_id: row.get(2)?,
        name: row.get(3)?,
        path: row.get(4)?,
        description: row.get(5)?,
        default_version_id: version_id(default_version),
        created_at: row.get(7)?,
        updated_at: row.get(8)?,
        attachment_count: counted(9)?,
        boundary_usage_count: counted(10)?,
        tags: Vec::new(),
    })
}

fn version_id(n: i64) -> String {
    format!("v{n}")
}

/// The number of a version id (`v3` → 3); ids of another shape name no version.
fn version_number(version_id: &str) -> Result<i64> {
    version_id
        .strip_prefix('v')
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse().ok())
        .ok_or(StoreError::NotFound(Entity::PolicyVersion))
}

/// The group's id, or `NotFound(Group)`.
fn group_id_of(conn: &Connection, account_id: &str, name: &str) -> Result<String> {
    conn.prepare_cached("SELECT group_id FROM iam_groups WHERE account_id = ? AND name_key = ?")?
        .query_row(params![account_id, name_key(name)], |row| row.get(0))
        .optional()?
        .ok_or(StoreError::NotFound(Entity::Group))
}

/// `(default_version, last_version)` of the policy, or `NotFound(Policy)`.
fn policy_versions_of(conn: &Connection, arn: &str) -> Result<(i64, i64)> {
    conn.prepare_cached("SELECT default_version, last_version FROM policies WHERE arn = ?")?
        .query_row([arn], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?
        .ok_or(StoreError::NotFound(Entity::Policy))
}

/// `NotFound(Policy)` unless the policy exists and the account may use it (its own or AWS's).
pub(super) fn policy_visible(conn: &Connection, account_id: &str, arn: &str) -> Result<()> {
    conn.prepare_cached("SELECT 1 FROM policies WHERE arn = ? AND account_id IN (?, 'aws')")?
        .query_row(params![arn, account_id], |_| Ok(()))
        .optional()?
        .ok_or(StoreError::NotFound(Entity::Policy))
}

fn policy_by_arn(conn: &Connection, account_id: &str, arn: &str) -> Result<Option<ManagedPolicy>> {
    const SQL: &str =
        concat!("SELECT ", policy_columns!(), " FROM policies p WHERE p.arn = ?2 AND p.account_id IN (?1, 'aws')");
    let Some(mut policy) = conn.prepare_cached(SQL)?.query_row(params![account_id, arn], policy_at).optional()? else {
        return Ok(None);
    };
    policy.tags = POLICY_TAGS.list(conn, arn)?;
    Ok(Some(policy))
}

/// The holder's id, or `NotFound(User|Group|Role)`.
fn holder_id(conn: &Connection, holder: Holder, account_id: &str, name: &str) -> Result<String> {
    match holder {
        Holder::User => user_id_of(conn, account_id, name),
        Holder::Group => group_id_of(conn, account_id, name),
        Holder::Role => role_id_of(conn, account_id, name),
    }
}

fn put_inline(
    conn: &Connection,
    owner: Holder,
    owner_id: &str,
    name: &str,
    document: &str,
    max_total_chars: usize,
) -> Result<()> {
    let upsert = owner.pick(
        "INSERT INTO user_policies (user_id, name, name_key, document, size) VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (user_id, name_key) DO UPDATE SET name = excluded.name, document = excluded.document, \
         size = excluded.size",
        "INSERT INTO group_policies (group_id, name, name_key, document, size) VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (group_id, name_key) DO UPDATE SET name = excluded.name, document = excluded.document, \
         size = excluded.size",
        "INSERT INTO role_policies (role_id, name, name_key, document, size) VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (role_id, name_key) DO UPDATE SET name = excluded.name, document = excluded.document, \
         size = excluded.size",
    );
    conn.prepare_cached(upsert)?.execute(params![
        owner_id,
        name,
        name_key(name),
        document,
        policy_size(document) as i64
    ])?;
    let total = owner.pick(
        "SELECT COALESCE(SUM(size), 0) FROM user_policies WHERE user_id = ?",
        "SELECT COALESCE(SUM(size), 0) FROM group_policies WHERE group_id = ?",
        "SELECT COALESCE(SUM(size), 0) FROM role_policies WHERE role_id = ?",
    );
    if count(conn, total, owner_id)? > max_total_chars as i64 {
        // Failing rolls the new document back.
        return Err(StoreError::LimitExceeded);
    }
    Ok(())
}

pub(super) fn inline_of(conn: &Connection, owner: Holder, owner_id: &str) -> Result<Vec<InlinePolicy>> {
    let sql = owner.pick(
        "SELECT name, document FROM user_policies WHERE user_id = ? ORDER BY name_key",
        "SELECT name, document FROM group_policies WHERE group_id = ? ORDER BY name_key",
        "SELECT name, document FROM role_policies WHERE role_id = ? ORDER BY name_key",
    );
    decode_all(conn, sql, [owner_id], |r| Ok(InlinePolicy { name: r.get(0)?, document: r.get(1)? }))
}

/// `(arn, default version's document)` of the managed policies attached to the owner.
pub(super) fn managed_of(conn: &Connection, owner: Holder, owner_id: &str) -> Result<Vec<(String, String)>> {
    let sql = owner.pick(
        "SELECT p.arn, v.document FROM user_policy_attachments a JOIN policies p ON p.arn = a.arn \
         JOIN policy_versions v ON v.arn = p.arn AND v.version = p.default_version \
         WHERE a.user_id = ? ORDER BY p.name_key, p.arn",
        "SELECT p.arn, v.document FROM group_policy_attachments a JOIN policies p ON p.arn = a.arn \
         JOIN policy_versions v ON v.arn = p.arn AND v.version = p.default_version \
         WHERE a.group_id = ? ORDER BY p.name_key, p.arn",
        "SELECT p.arn, v.document FROM role_policy_attachments a JOIN policies p ON p.arn = a.arn \
         JOIN policy_versions v ON v.arn = p.arn AND v.version = p.default_version \
         WHERE a.role_id = ? ORDER BY p.name_key, p.arn",
    );
    decode_all(conn, sql, [owner_id], |r| Ok((r.get(0)?, r.get(1)?)))
}

fn attach(conn: &Connection, owner: Holder, account_id: &str, owner_name: &str, arn: &str, max: u32) -> Result<()> {
    let owner_id = holder_id(conn, owner, account_id, owner_name)?;
    policy_visible(conn, account_id, arn)?;
    let attached = owner.pick(
        "SELECT 1 FROM user_policy_attachments WHERE user_id = ? AND arn = ?",
        "SELECT 1 FROM group_policy_attachments WHERE group_id = ? AND arn = ?",
        "SELECT 1 FROM role_policy_attachments WHERE role_id = ? AND arn = ?",
    );
    if conn.prepare_cached(attached)?.query_row([&owner_id, arn], |_| Ok(())).optional()?.is_some() {
        return Ok(());
    }
    let attachments = owner.pick(
        "SELECT COUNT(*) FROM user_policy_attachments WHERE user_id = ?",
        "SELECT COUNT(*) FROM group_policy_attachments WHERE group_id = ?",
        "SELECT COUNT(*) FROM role_policy_attachments WHERE role_id = ?",
    );
    if count(conn, attachments, &owner_id)? >= i64::from(max) {
        return Err(StoreError::LimitExceeded);
    }
    let insert = owner.pick(
        "INSERT INTO user_policy_attachments (user_id, arn, account_id) VALUES (?, ?, ?)",
        "INSERT INTO group_policy_attachments (group_id, arn, account_id) VALUES (?, ?, ?)",
        "INSERT INTO role_policy_attachments (role_id, arn, account_id) VALUES (?, ?, ?)",
    );
    conn.prepare_cached(insert)?.execute(params![owner_id, arn, account_id])?;
    Ok(())
}

/// What keeps a user from being deleted besides credentials and devices, in AWS's cleanup
/// order: inline policies, attached policies, group memberships. For `delete_user`.
pub(super) fn user_policy_dependents(conn: &Connection, user_id: &str) -> Result<()> {
    if count(conn, "SELECT COUNT(*) FROM user_policies WHERE user_id = ?", user_id)? > 0 {
        return Err(StoreError::DeleteConflict(Dependent::Policies));
    }
    if count(conn, "SELECT COUNT(*) FROM user_policy_attachments WHERE user_id = ?", user_id)? > 0 {
        return Err(StoreError::DeleteConflict(Dependent::Attachments));
    }
    if count(conn, "SELECT COUNT(*) FROM group_members WHERE user_id = ?", user_id)? > 0 {
        return Err(StoreError::DeleteConflict(Dependent::Groups));
    }
    Ok(())
}

#[async_trait]
impl Policies for SqliteStore {
    async fn create_group(&self, group: &Group, max_in_account: u32) -> Result<()> {
        let group = group.clone();
        self.engine
            .write(move |c| {
                if count(c, "SELECT COUNT(*) FROM iam_groups WHERE account_id = ?", &group.account_id)?
                    >= i64::from(max_in_account)
                {
                    return Err(StoreError::LimitExceeded);
                }
                c.prepare_cached(
                    "INSERT INTO iam_groups (group_id, account_id, name, name_key, path, created_at) \
                     VALUES (?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    group.group_id,
                    group.account_id,
                    group.name,
                    name_key(&group.name),
                    group.path,
                    group.created_at
                ])
                .map_err(unique_as(Entity::Group))?;
                Ok(())
            })
            .await
    }

    async fn get_group(&self, account_id: &str, name: &str) -> Result<Option<Group>> {
        const SQL: &str = "SELECT g.group_id, g.account_id, g.name, g.path, g.created_at FROM iam_groups g \
             WHERE g.account_id = ? AND g.name_key = ?";
        self.engine
            .read(|c| Ok(c.prepare_cached(SQL)?.query_row(params![account_id, name_key(name)], group_at).optional()?))
    }

    async fn list_groups(&self, account_id: &str, path_prefix: &str, page: &Page) -> Result<Vec<Group>> {
        const SQL: &str = "SELECT g.group_id, g.account_id, g.name, g.path, g.created_at FROM iam_groups g \
             WHERE g.account_id = ?1 AND substr(g.path, 1, length(?2)) = ?2 AND g.name_key > ?3 \
             ORDER BY g.name_key LIMIT ?4";
        let after = page.after.as_deref().unwrap_or("");
        let limit = page.limit as i64 + 1;
        self.engine.read(|c| decode_all(c, SQL, params![account_id, path_prefix, after, limit], group_at))
    }

    async fn update_group(
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
                let group_id = group_id_of(c, &account_id, &name)?;
                c.prepare_cached(
                    "UPDATE iam_groups SET name = COALESCE(?, name), name_key = COALESCE(?, name_key), \
                     path = COALESCE(?, path) WHERE group_id = ?",
                )?
                .execute(params![new_name, new_name.as_deref().map(name_key), new_path, group_id])
                .map_err(unique_as(Entity::Group))?;
                Ok(())
            })
            .await
    }

    async fn delete_group(&self, account_id: &str, name: &str) -> Result<()> {
        let (account_id, name) = (account_id.to_owned(), name.to_owned());
        self.engine
            .write(move |c| {
                let group_id = group_id_of(c, &account_id, &name)?;
                if count(c, "SELECT COUNT(*) FROM group_members WHERE group_id = ?", &group_id)? > 0 {
                    return Err(StoreError::DeleteConflict(Dependent::Members));
                }
                if count(c, "SELECT COUNT(*) FROM group_policies WHERE group_id = ?", &group_id)? > 0 {
                    return Err(StoreError::DeleteConflict(Dependent::Policies));
                }
                if count(c, "SELECT COUNT(*) FROM group_policy_attachments WHERE group_id = ?", &group_id)? > 0 {
                    return Err(StoreError::DeleteConflict(Dependent::Attachments));
                }
                c.prepare_cached("DELETE FROM iam_groups WHERE group_id = ?")?.execute([&group_id])?;
                Ok(())
            })
            .await
    }

    async fn add_user_to_group(
        &self,
        account_id: &str,
        group_name: &str,
        user_name: &str,
        max_groups_per_user: u32,
    ) -> Result<()> {
        let (account_id, group_name, user_name) = (account_id.to_owned(), group_name.to_owned(), user_name.to_owned());
        self.engine
            .write(move |c| {
                let group_id = group_id_of(c, &account_id, &group_name)?;
                let user_id = user_id_of(c, &account_id, &user_name)?;
                let member = c
                    .prepare_cached("SELECT 1 FROM group_members WHERE group_id = ? AND user_id = ?")?
                    .query_row([&group_id, &user_id], |_| Ok(()))
                    .optional()?;
                if member.is_some() {
                    return Ok(());
                }
                if count(c, "SELECT COUNT(*) FROM group_members WHERE user_id = ?", &user_id)?
                    >= i64::from(max_groups_per_user)
                {
                    return Err(StoreError::LimitExceeded);
                }
                c.prepare_cached("INSERT INTO group_members (group_id, user_id) VALUES (?, ?)")?
                    .execute([&group_id, &user_id])?;
                Ok(())
            })
            .await
    }

    async fn remove_user_from_group(&self, account_id: &str, group_name: &str, user_name: &str) -> Result<()> {
        let (account_id, group_name, user_name) = (account_id.to_owned(), group_name.to_owned(), user_name.to_owned());
        self.engine
            .write(move |c| {
                let group_id = group_id_of(c, &account_id, &group_name)?;
                let user_id = user_id_of(c, &account_id, &user_name)?;
                let rows = c
                    .prepare_cached("DELETE FROM group_members WHERE group_id = ? AND user_id = ?")?
                    .execute([&group_id, &user_id])?;
                changed(rows as u64, StoreError::NotFound(Entity::User))
            })
            .await
    }

    async fn list_group_members(&self, account_id: &str, group_name: &str) -> Result<Vec<User>> {
        const SQL: &str = concat!(
            "SELECT ",
            user_columns!(),
            " FROM group_members m JOIN users u ON u.user_id = m.user_id WHERE m.group_id = ? ORDER BY u.name_key"
        );
        self.engine.read(|c| {
            snapshot(c, |c| {
                let group_id = group_id_of(c, account_id, group_name)?;
                decode_all(c, SQL, [&group_id], |r| user_at(r, 0))
            })
        })
    }

    async fn list_groups_for_user(&self, account_id: &str, user_name: &str) -> Result<Vec<Group>> {
        const SQL: &str = "SELECT g.group_id, g.account_id, g.name, g.path, g.created_at FROM group_members m \
             JOIN iam_groups g ON g.group_id = m.group_id WHERE m.user_id = ? ORDER BY g.name_key";
        self.engine.read(|c| {
            snapshot(c, |c| {
                let user_id = user_id_of(c, account_id, user_name)?;
                decode_all(c, SQL, [&user_id], group_at)
            })
        })
    }

    async fn create_policy(&self, policy: &NewManagedPolicy, max_in_account: u32) -> Result<ManagedPolicy> {
        let policy = policy.clone();
        self.engine
            .write(move |c| {
                if count(c, "SELECT COUNT(*) FROM policies WHERE account_id = ?", &policy.account_id)?
                    >= i64::from(max_in_account)
                {
                    return Err(StoreError::LimitExceeded);
                }
                let arn = iamd_domain::ids::policy_arn(&policy.account_id, &policy.path, &policy.name);
                c.prepare_cached(
                    "INSERT INTO policies (arn, account_id, policy_id, name, name_key, path, description, \
                     default_version, last_version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 1, 1, ?, ?)",
                )?
                .execute(params![
                    arn,
                    policy.account_id,
                    policy.policy_id,
                    policy.name,
                    name_key(&policy.name),
                    policy.path,
                    policy.description,
                    policy.created_at,
                    policy.created_at
                ])
                .map_err(unique_as(Entity::Policy))?;
                c.prepare_cached(
                    "INSERT INTO policy_versions (arn, version, document, created_at) VALUES (?, 1, ?, ?)",
                )?
                .execute(params![arn, policy.document, policy.created_at])?;
                POLICY_TAGS.upsert(c, &arn, &policy.tags)?;
                let mut tags = policy.tags.clone();
                tags.sort_by_key(|t| name_key(&t.key));
                Ok(ManagedPolicy {
                    arn,
                    account_id: policy.account_id,
                    policy_id: policy.policy_id,
                    name: policy.name,
                    path: policy.path,
                    description: policy.description,
                    default_version_id: version_id(1),
                    attachment_count: 0,
                    boundary_usage_count: 0,
                    created_at: policy.created_at,
                    updated_at: policy.created_at,
                    tags,
                })
            })
            .await
    }

    async fn get_policy(&self, account_id: &str, arn: &str) -> Result<Option<ManagedPolicy>> {
        self.engine.read(|c| snapshot(c, |c| policy_by_arn(c, account_id, arn)))
    }

    async fn list_policies(
        &self,
        account_id: &str,
        scope: PolicyScope,
        only_attached: bool,
        path_prefix: &str,
        page: &Page,
    ) -> Result<Vec<ManagedPolicy>> {
        const SQL: &str = concat!(
            "SELECT ",
            policy_columns!(),
            " FROM policies p WHERE ((p.account_id = ?1 AND ?2) OR (p.account_id = 'aws' AND ?3)) \
             AND substr(p.path, 1, length(?4)) = ?4 AND (p.name_key || ' ' || p.account_id) > ?5 \
             AND (NOT ?6 \
                  OR EXISTS (SELECT 1 FROM user_policy_attachments a WHERE a.arn = p.arn AND a.account_id = ?1) \
                  OR EXISTS (SELECT 1 FROM group_policy_attachments a WHERE a.arn = p.arn AND a.account_id = ?1) \
                  OR EXISTS (SELECT 1 FROM role_policy_attachments a WHERE a.arn = p.arn AND a.account_id = ?1)) \
             ORDER BY p.name_key, p.account_id LIMIT ?7"
        );
        let local = matches!(scope, PolicyScope::All | PolicyScope::Local);
        let aws = matches!(scope, PolicyScope::All | PolicyScope::Aws);
        let after = page.after.as_deref().unwrap_or("");
        let limit = page.limit as i64 + 1;
        self.engine.read(|c| {
            decode_all(c, SQL, params![account_id, local, aws, path_prefix, after, only_attached, limit], policy_at)
        })
    }

    async fn delete_policy(&self, arn: &str) -> Result<()> {
        let arn = arn.to_owned();
        self.engine
            .write(move |c| {
                policy_versions_of(c, &arn)?;
                let uses = count(c, "SELECT COUNT(*) FROM user_policy_attachments WHERE arn = ?", &arn)?
                    + count(c, "SELECT COUNT(*) FROM group_policy_attachments WHERE arn = ?", &arn)?
                    + count(c, "SELECT COUNT(*) FROM role_policy_attachments WHERE arn = ?", &arn)?
                    + count(c, "SELECT COUNT(*) FROM user_permissions_boundaries WHERE arn = ?", &arn)?
                    + count(c, "SELECT COUNT(*) FROM role_permissions_boundaries WHERE arn = ?", &arn)?;
                if uses > 0 {
                    return Err(StoreError::DeleteConflict(Dependent::Attachments));
                }
                if count(c, "SELECT COUNT(*) FROM policy_versions WHERE arn = ?", &arn)? > 1 {
                    return Err(StoreError::DeleteConflict(Dependent::Versions));
                }
                // Versions and tags cascade.
                c.prepare_cached("DELETE FROM policies WHERE arn = ?")?.execute([&arn])?;
                Ok(())
            })
            .await
    }

    async fn create_policy_version(
        &self,
        arn: &str,
        document: &str,
        set_as_default: bool,
        now: i64,
        max_versions: usize,
    ) -> Result<PolicyVersion> {
        let (arn, document) = (arn.to_owned(), document.to_owned());
        self.engine
            .write(move |c| {
                let (_, last) = policy_versions_of(c, &arn)?;
                if count(c, "SELECT COUNT(*) FROM policy_versions WHERE arn = ?", &arn)? >= max_versions as i64 {
                    return Err(StoreError::LimitExceeded);
                }
                let next = last + 1;
                c.prepare_cached(
                    "INSERT INTO policy_versions (arn, version, document, created_at) VALUES (?, ?, ?, ?)",
                )?
                .execute(params![arn, next, document, now])?;
                c.prepare_cached(
                    "UPDATE policies SET last_version = ?1, updated_at = ?2, \
                     default_version = CASE WHEN ?3 THEN ?1 ELSE default_version END WHERE arn = ?4",
                )?
                .execute(params![next, now, set_as_default, arn])?;
                Ok(PolicyVersion {
                    version_id: version_id(next),
                    document,
                    is_default: set_as_default,
                    created_at: now,
                })
            })
            .await
    }

    async fn get_policy_version(&self, arn: &str, version_id: &str) -> Result<PolicyVersion> {
        self.engine.read(|c| {
            snapshot(c, |c| {
                let (default, _) = policy_versions_of(c, arn)?;
                let n = version_number(version_id)?;
                c.prepare_cached("SELECT document, created_at FROM policy_versions WHERE arn = ? AND version = ?")?
                    .query_row(params![arn, n], |r| {
                        Ok(PolicyVersion {
                            version_id: self::version_id(n),
                            document: r.get(0)?,
                            is_default: n == default,
                            created_at: r.get(1)?,
                        })
                    })
                    .optional()?
                    .ok_or(StoreError::NotFound(Entity::PolicyVersion))
            })
        })
    }

    async fn list_policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersion>> {
        self.engine.read(|c| {
            snapshot(c, |c| {
                let (default, _) = policy_versions_of(c, arn)?;
                decode_all(
                    c,
                    "SELECT version, document, created_at FROM policy_versions WHERE arn = ? ORDER BY version DESC",
                    [arn],
                    |r| {
                        let n: i64 = r.get(0)?;
                        Ok(PolicyVersion {
                            version_id: version_id(n),
                            document: r.get(1)?,
                            is_default: n == default,
                            created_at: r.get(2)?,
                        })
                    },
                )
            })
        })
    }

    async fn delete_policy_version(&self, arn: &str, version_id: &str) -> Result<()> {
        let (arn, version_id) = (arn.to_owned(), version_id.to_owned());
        self.engine
            .write(move |c| {
                let (default, _) = policy_versions_of(c, &arn)?;
                let n = version_number(&version_id)?;
                if n == default {
                    return Err(StoreError::DeleteConflict(Dependent::DefaultVersion));
                }
                let rows = c
                    .prepare_cached("DELETE FROM policy_versions WHERE arn = ? AND version = ?")?
                    .execute(params![arn, n])?;
                changed(rows as u64, StoreError::NotFound(Entity::PolicyVersion))
            })
            .await
    }

    async fn set_default_policy_version(&self, arn: &str, version_id: &str) -> Result<()> {
        let (arn, version_id) = (arn.to_owned(), version_id.to_owned());
        self.engine
            .write(move |c| {
                policy_versions_of(c, &arn)?;
                let n = version_number(&version_id)?;
                // Conditional on the version existing, in the same statement.
                let rows = c
                    .prepare_cached(
                        "UPDATE policies SET default_version = ?1 WHERE arn = ?2 \
                         AND EXISTS (SELECT 1 FROM policy_versions WHERE arn = ?2 AND version = ?1)",
                    )?
                    .execute(params![n, arn])?;
                changed(rows as u64, StoreError::NotFound(Entity::PolicyVersion))
            })
            .await
    }

    async fn tag_policy(&self, arn: &str, tags: &[Tag], max: usize) -> Result<()> {
        let (arn, tags) = (arn.to_owned(), tags.to_vec());
        self.engine
            .write(move |c| {
                policy_versions_of(c, &arn)?;
                POLICY_TAGS.add(c, &arn, &tags, max)
            })
            .await
    }

    async fn untag_policy(&self, arn: &str, keys: &[String]) -> Result<()> {
        let (arn, keys) = (arn.to_owned(), keys.to_vec());
        self.engine
            .write(move |c| {
                policy_versions_of(c, &arn)?;
                POLICY_TAGS.remove(c, &arn, &keys)
            })
            .await
    }

    async fn policy_tags(&self, arn: &str) -> Result<Vec<Tag>> {
        self.engine.read(|c| {
            snapshot(c, |c| {
                policy_versions_of(c, arn)?;
                POLICY_TAGS.list(c, arn)
            })
        })
    }

    async fn ensure_aws_managed_policy(
        &self,
        name: &str,
        path: &str,
        description: Option<&str>,
        document: &str,
        now: i64,
    ) -> Result<ManagedPolicy> {
        let (name, path, document) = (name.to_owned(), path.to_owned(), document.to_owned());
        let description = description.map(str::to_owned);
        self.engine
            .write(move |c| {
                let arn = iamd_domain::ids::policy_arn(AWS_MANAGED_ACCOUNT, &path, &name);
                let inserted = c
                    .prepare_cached(
                        "INSERT INTO policies (arn, account_id, policy_id, name, name_key, path, description, \
                         default_version, last_version, created_at, updated_at) \
                         VALUES (?, 'aws', ?, ?, ?, ?, ?, 1, 1, ?, ?) ON CONFLICT DO NOTHING",
                    )?
                    .execute(params![
                        arn,
                        ManagedPolicy::aws_policy_id(&arn),
                        name,
                        name_key(&name),
                        path,
                        description,
                        now,
                        now
                    ])?;
                if inserted == 1 {
                    c.prepare_cached(
                        "INSERT INTO policy_versions (arn, version, document, created_at) VALUES (?, 1, ?, ?)",
                    )?
                    .execute(params![arn, document, now])?;
                } else {
                    let updated = c
                        .prepare_cached(
                            "UPDATE policy_versions SET document = ?1 WHERE arn = ?2 AND document <> ?1 \
                             AND version = (SELECT default_version FROM policies WHERE arn = ?2)",
                        )?
                        .execute(params![document, arn])?;
                    c.prepare_cached(
                        "UPDATE policies SET description = ?1, \
                         updated_at = CASE WHEN ?2 THEN ?3 ELSE updated_at END WHERE arn = ?4",
                    )?
                    .execute(params![description, updated > 0, now, arn])?;
                }
                policy_by_arn(c, AWS_MANAGED_ACCOUNT, &arn)?.ok_or_else(|| {
                    StoreError::Backend(format!("an AWS managed policy named {name} exists under another path"))
                })
            })
            .await
    }

    async fn put_inline_policy(
        &self,
        account_id: &str,
        holder: Holder,
        holder_name: &str,
        policy_name: &str,
        document: &str,
        max_total_chars: usize,
    ) -> Result<()> {
        let (account_id, holder_name) = (account_id.to_owned(), holder_name.to_owned());
        let (policy_name, document) = (policy_name.to_owned(), document.to_owned());
        self.engine
            .write(move |c| {
                let holder_id = holder_id(c, holder, &account_id, &holder_name)?;
                put_inline(c, holder, &holder_id, &policy_name, &document, max_total_chars)
            })
            .await
    }

    async fn get_inline_policy(
        &self,
        account_id: &str,
        holder: Holder,
        holder_name: &str,
        policy_name: &str,
    ) -> Result<InlinePolicy> {
        self.engine.read(|c| snapshot(c, |c| get_inline(c, holder, account_id, holder_name, policy_name)))
    }

    async fn list_inline_policies(&self, account_id: &str, holder: Holder, holder_name: &str) -> Result<Vec<String>> {
        self.engine.read(|c| snapshot(c, |c| list_inline(c, holder, account_id, holder_name)))
    }

    async fn delete_inline_policy(
        &self,
        account_id: &str,
        holder: Holder,
        holder_name: &str,
        policy_name: &str,
    ) -> Result<()> {
        let (account_id, holder_name, policy_name) =
            (account_id.to_owned(), holder_name.to_owned(), policy_name.to_owned());
        self.engine.write(move |c| delete_inline(c, holder, &account_id, &holder_name, &policy_name)).await
    }

    async fn attach_policy(
        &self,
        account_id: &str,
        holder: Holder,
        holder_name: &str,
        arn: &str,
        max_attached: u32,
    ) -> Result<()> {
        let (account_id, holder_name, arn) = (account_id.to_owned(), holder_name.to_owned(), arn.to_owned());
        self.engine.write(move |c| attach(c, holder, &account_id, &holder_name, &arn, max_attached)).await
    }

    async fn detach_policy(&self, account_id: &str, holder: Holder, holder_name: &str, arn: &str) -> Result<()> {
        let (account_id, holder_name, arn) = (account_id.to_owned(), holder_name.to_owned(), arn.to_owned());
        self.engine.write(move |c| detach(c, holder, &account_id, &holder_name, &arn)).await
    }

    async fn list_attached_policies(
        &self,
        account_id: &str,
        holder: Holder,
        holder_name: &str,
    ) -> Result<Vec<AttachedPolicy>> {
        self.engine.read(|c| snapshot(c, |c| list_attached(c, holder, account_id, holder_name)))
    }

    async fn list_entities_for_policy(&self, account_id: &str, arn: &str) -> Result<PolicyEntities> {
        // Driven by the attachment and boundary rows (indexed by policy), not by the entities.
        const USERS: &str = "SELECT u.name, u.user_id, u.path, MAX(x.attached), MAX(x.boundary) FROM \
             (SELECT user_id AS id, 1 AS attached, 0 AS boundary FROM user_policy_attachments \
              WHERE arn = ?1 AND account_id = ?2 \
              UNION ALL SELECT user_id, 0, 1 FROM user_permissions_boundaries WHERE arn = ?1 AND account_id = ?2) x \
             JOIN users u ON u.user_id = x.id GROUP BY u.user_id ORDER BY u.name_key";
        const GROUPS: &str = "SELECT g.name, g.group_id, g.path, 1, 0 FROM group_policy_attachments a \
             JOIN iam_groups g ON g.group_id = a.group_id WHERE a.arn = ?1 AND a.account_id = ?2 ORDER BY g.name_key";
        const ROLES: &str = "SELECT r.name, r.role_id, r.path, MAX(x.attached), MAX(x.boundary) FROM \
             (SELECT role_id AS id, 1 AS attached, 0 AS boundary FROM role_policy_attachments \
              WHERE arn = ?1 AND account_id = ?2 \
              UNION ALL SELECT role_id, 0, 1 FROM role_permissions_boundaries WHERE arn = ?1 AND account_id = ?2) x \
             JOIN roles r ON r.role_id = x.id GROUP BY r.role_id ORDER BY r.name_key";
        self.engine.read(|c| {
            snapshot(c, |c| {
                policy_visible(c, account_id, arn)?;
                let uses = |sql| {
                    decode_all(c, sql, [arn, account_id], |r| {
                        Ok(PolicyUse {
                            name: r.get(0)?,
                            id: r.get(1)?,
                            path: r.get(2)?,
                            attached: r.get::<_, i64>(3)? != 0,
                            boundary: r.get::<_, i64>(4)? != 0,
                        })
                    })
                };
                Ok(PolicyEntities { users: uses(USERS)?, groups: uses(GROUPS)?, roles: uses(ROLES)? })
            })
        })
    }

    async fn put_permissions_boundary(
        &self,
        account_id: &str,
        holder: Holder,
        holder_name: &str,
        arn: &str,
    ) -> Result<()> {
        let (account_id, holder_name, arn) = (account_id.to_owned(), holder_name.to_owned(), arn.to_owned());
        self.engine.write(move |c| put_boundary(c, holder, &account_id, &holder_name, &arn)).await
    }

    async fn delete_permissions_boundary(&self, account_id: &str, holder: Holder, holder_name: &str) -> Result<()> {
        let (account_id, holder_name) = (account_id.to_owned(), holder_name.to_owned());
        self.engine
            .write(move |c| {
                let holder_id = boundary_holder_id(c, holder, &account_id, &holder_name)?;
                let sql = holder.pick(
                    "DELETE FROM user_permissions_boundaries WHERE user_id = ?",
                    "",
                    "DELETE FROM role_permissions_boundaries WHERE role_id = ?",
                );
                c.prepare_cached(sql)?.execute([&holder_id])?;
                Ok(())
            })
            .await
    }

    async fn permissions_boundary(
        &self,
        account_id: &str,
        holder: Holder,
        holder_name: &str,
    ) -> Result<Option<String>> {
        self.engine.read(|c| {
            snapshot(c, |c| {
                let holder_id = boundary_holder_id(c, holder, account_id, holder_name)?;
                let sql = holder.pick(
                    "SELECT arn FROM user_permissions_boundaries WHERE user_id = ?",
                    "",
                    "SELECT arn FROM role_permissions_boundaries WHERE role_id = ?",
                );
                Ok(c.prepare_cached(sql)?.query_row([&holder_id], |r| r.get(0)).optional()?)
            })
        })
    }

    async fn effective_policies(&self, account_id: &str, user_id: &str) -> Result<EffectivePolicies> {
        self.engine.read(|c| {
            snapshot(c, |c| {
                c.prepare_cached("SELECT 1 FROM users WHERE user_id = ? AND account_id = ?")?
                    .query_row([user_id, account_id], |_| Ok(()))
                    .optional()?
                    .ok_or(StoreError::NotFound(Entity::User))?;
                let groups: Vec<(String, String)> = decode_all(
                    c,
                    "SELECT g.group_id, g.name FROM group_members m JOIN iam_groups g ON g.group_id = m.group_id \
                     WHERE m.user_id = ? ORDER BY g.name_key",
                    [user_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                let groups = groups
                    .into_iter()
                    .map(|(id, name)| Ok((name, inline_of(c, Holder::Group, &id)?, managed_of(c, Holder::Group, &id)?)))
                    .collect::<Result<_>>()?;
                let boundary = boundary_of(c, Holder::User, user_id)?;
                Ok(EffectivePolicies {
                    tags: USER_TAGS.list(c, user_id)?,
                    user_inline: inline_of(c, Holder::User, user_id)?,
                    user_managed: managed_of(c, Holder::User, user_id)?,
                    groups,
                    boundary,
                })
            })
        })
    }
}

fn get_inline(
    conn: &Connection,
    owner: Holder,
    account_id: &str,
    owner_name: &str,
    policy_name: &str,
) -> Result<InlinePolicy> {
    let owner_id = holder_id(conn, owner, account_id, owner_name)?;
    let sql = owner.pick(
        "SELECT name, document FROM user_policies WHERE user_id = ? AND name_key = ?",
        "SELECT name, document FROM group_policies WHERE group_id = ? AND name_key = ?",
        "SELECT name, document FROM role_policies WHERE role_id = ? AND name_key = ?",
    );
    conn.prepare_cached(sql)?
        .query_row(params![owner_id, name_key(policy_name)], |r| {
            Ok(InlinePolicy { name: r.get(0)?, document: r.get(1)? })
        })
        .optional()?
        .ok_or(StoreError::NotFound(Entity::InlinePolicy))
}

fn list_inline(conn: &Connection, owner: Holder, account_id: &str, owner_name: &str) -> Result<Vec<String>> {
    let owner_id = holder_id(conn, owner, account_id, owner_name)?;
    let sql = owner.pick(
        "SELECT name FROM user_policies WHERE user_id = ? ORDER BY name_key",
        "SELECT name FROM group_policies WHERE group_id = ? ORDER BY name_key",
        "SELECT name FROM role_policies WHERE role_id = ? ORDER BY name_key",
    );
    decode_all(conn, sql, [&owner_id], |r| r.get(0))
}

fn delete_inline(
    conn: &Connection,
    owner: Holder,
    account_id: &str,
    owner_name: &str,
    policy_name: &str,
) -> Result<()> {
    let owner_id = holder_id(conn, owner, account_id, owner_name)?;
    let sql = owner.pick(
        "DELETE FROM user_policies WHERE user_id = ? AND name_key = ?",
        "DELETE FROM group_policies WHERE group_id = ? AND name_key = ?",
        "DELETE FROM role_policies WHERE role_id = ? AND name_key = ?",
    );
    let rows = conn.prepare_cached(sql)?.execute(params![owner_id, name_key(policy_name)])?;
    changed(rows as u64, StoreError::NotFound(Entity::InlinePolicy))
}

fn detach(conn: &Connection, owner: Holder, account_id: &str, owner_name: &str, arn: &str) -> Result<()> {
    let owner_id = holder_id(conn, owner, account_id, owner_name)?;
    let sql = owner.pick(
        "DELETE FROM user_policy_attachments WHERE user_id = ? AND arn = ?",
        "DELETE FROM group_policy_attachments WHERE group_id = ? AND arn = ?",
        "DELETE FROM role_policy_attachments WHERE role_id = ? AND arn = ?",
    );
    let rows = conn.prepare_cached(sql)?.execute([&owner_id, arn])?;
    changed(rows as u64, StoreError::NotFound(Entity::Policy))
}

fn list_attached(conn: &Connection, owner: Holder, account_id: &str, owner_name: &str) -> Result<Vec<AttachedPolicy>> {
    let owner_id = holder_id(conn, owner, account_id, owner_name)?;
    let sql = owner.pick(
        "SELECT p.name, p.arn FROM user_policy_attachments a JOIN policies p ON p.arn = a.arn \
         WHERE a.user_id = ? ORDER BY p.name_key, p.arn",
        "SELECT p.name, p.arn FROM group_policy_attachments a JOIN policies p ON p.arn = a.arn \
         WHERE a.group_id = ? ORDER BY p.name_key, p.arn",
        "SELECT p.name, p.arn FROM role_policy_attachments a JOIN policies p ON p.arn = a.arn \
         WHERE a.role_id = ? ORDER BY p.name_key, p.arn",
    );
    decode_all(conn, sql, [&owner_id], |r| Ok(AttachedPolicy { name: r.get(0)?, arn: r.get(1)? }))
}

/// The id of a user or role that may carry a boundary; a group has none (`NotFound(Group)`).
fn boundary_holder_id(conn: &Connection, holder: Holder, account_id: &str, name: &str) -> Result<String> {
    if holder == Holder::Group {
        return Err(StoreError::NotFound(Entity::Group));
    }
    holder_id(conn, holder, account_id, name)
}

pub(super) fn put_boundary(
    conn: &Connection,
    holder: Holder,
    account_id: &str,
    holder_name: &str,
    arn: &str,
) -> Result<()> {
    let holder_id = boundary_holder_id(conn, holder, account_id, holder_name)?;
    policy_visible(conn, account_id, arn)?;
    let sql = holder.pick(
        "INSERT INTO user_permissions_boundaries (user_id, arn, account_id) VALUES (?, ?, ?) \
         ON CONFLICT (user_id) DO UPDATE SET arn = excluded.arn",
        "",
        "INSERT INTO role_permissions_boundaries (role_id, arn, account_id) VALUES (?, ?, ?) \
         ON CONFLICT (role_id) DO UPDATE SET arn = excluded.arn",
    );
    conn.prepare_cached(sql)?.execute(params![holder_id, arn, account_id])?;
    Ok(())
}

/// `(arn, default version's document)` of the holder's boundary (users and roles, by id).
pub(super) fn boundary_of(conn: &Connection, holder: Holder, holder_id: &str) -> Result<Option<ManagedDocument>> {
    let sql = holder.pick(
        "SELECT p.arn, v.document FROM user_permissions_boundaries b JOIN policies p ON p.arn = b.arn \
         JOIN policy_versions v ON v.arn = p.arn AND v.version = p.default_version WHERE b.user_id = ?",
        "",
        "SELECT p.arn, v.document FROM role_permissions_boundaries b JOIN policies p ON p.arn = b.arn \
         JOIN policy_versions v ON v.arn = p.arn AND v.version = p.default_version WHERE b.role_id = ?",
    );
    Ok(conn.prepare_cached(sql)?.query_row([holder_id], |r| Ok((r.get(0)?, r.get(1)?))).optional()?)
}
