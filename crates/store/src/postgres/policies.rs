//! [`Policies`] on PostgreSQL: groups and memberships, managed policies (versions, tags, AWS
//! managed ones), inline policies, attachments, permissions boundaries, and what applies to a
//! user.
//!
//! Locks, always taken in this order so transactions cannot wait on each other in a circle:
//! the user row (`FOR UPDATE`: memberships, inline policies, attachments and the boundary of that
//! user, and `delete_user`'s checks), then the group row (`FOR UPDATE` for what hangs off the
//! group, `FOR SHARE` to add a member), then the policy row (`FOR UPDATE` for versions, tags and
//! `delete_policy`'s checks, `FOR SHARE` to attach it or use it as a boundary, so it cannot be
//! deleted meanwhile). Account-wide quotas lock the account row (`account_quota`).

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{Connection, PgConnection, Row};

use super::roles::role_id_of;
use super::rows::{USER_COLUMNS, user_from_row};
use super::tags::POLICY_TAGS;
use super::{PgStore, account_quota, count, db, lock_user, path_page, to_u32, unique_as, user_id_of};
use crate::common::{changed, name_key};
use crate::*;

const GROUP_COLUMNS: &str = "g.group_id, g.account_id, g.name, g.path, g.created_at";

/// The policy columns (`policies p`), with attachment and boundary counts within the account
/// bound as `$1`.
const POLICY_COLUMNS: &str = "p.arn, p.account_id, p.policy_id, p.name, p.path, p.description, \
     p.default_version, p.created_at, p.updated_at, \
     (SELECT COUNT(*) FROM user_policy_attachments a WHERE a.arn = p.arn AND a.account_id = $1) \
     + (SELECT COUNT(*) FROM group_policy_attachments a WHERE a.arn = p.arn AND a.account_id = $1) \
     + (SELECT COUNT(*) FROM role_policy_attachments a WHERE a.arn = p.arn AND a.account_id = $1) \
     AS attachment_count, \
     (SELECT COUNT(*) FROM user_permissions_boundaries b WHERE b.arn = p.arn AND b.account_id = $1) \
     + (SELECT COUNT(*) FROM role_permissions_boundaries b WHERE b.arn = p.arn AND b.account_id = $1) \
     AS boundary_count";

fn group_from_row(row: &PgRow) -> std::result::Result<Group, sqlx::Error> {
    Ok(Group {
        group_id: row.try_get("group_id")?,
        account_id: row.try_get("account_id")?,
        name: row.try_get("name")?,
        path: row.try_get("path")?,
        created_at: row.try_get("created_at")?,
    })
}

fn policy_from_row(row: &PgRow) -> std::result::Result<ManagedPolicy, sqlx::Error> {
    Ok(ManagedPolicy {
        arn: row.try_get("arn")?,
        account_id: row.try_get("account_id")?,
        policy_id: row.try_get("policy_id")?,
        name: row.try_get("name")?,
        path: row.try_get("path")?,
        description: row.try_get("description")?,
        default_version_id: version_id(row.try_get("default_version")?),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        attachment_count: to_u32(row.try_get("attachment_count")?)?,
        boundary_usage_count: to_u32(row.try_get("boundary_count")?)?,
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

/// How a lookup locks the row it finds.
#[derive(Clone, Copy)]
pub(super) enum Lock {
    None,
    Share,
    Update,
}

impl Lock {
    pub(super) fn suffix(self) -> &'static str {
        match self {
            Lock::None => "",
            Lock::Share => " FOR SHARE",
            Lock::Update => " FOR UPDATE",
        }
    }
}

/// The group's id, or `NotFound(Group)`.
async fn group_id_of(conn: &mut PgConnection, account_id: &str, name: &str, lock: Lock) -> Result<String> {
    let sql = format!("SELECT group_id FROM iam_groups WHERE account_id = $1 AND name_key = $2{}", lock.suffix());
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(account_id)
        .bind(name_key(name))
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound(Entity::Group))
}

/// `(default_version, last_version)` of the policy, or `NotFound(Policy)`.
async fn policy_versions_of(conn: &mut PgConnection, arn: &str, lock: Lock) -> Result<(i64, i64)> {
    let sql = format!("SELECT default_version, last_version FROM policies WHERE arn = $1{}", lock.suffix());
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(arn)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound(Entity::Policy))?;
    Ok((row.try_get(0).map_err(db)?, row.try_get(1).map_err(db)?))
}

/// `NotFound(Policy)` unless the policy exists and the account may use it (its own or AWS's).
pub(super) async fn policy_visible(conn: &mut PgConnection, account_id: &str, arn: &str, lock: Lock) -> Result<()> {
    let sql = format!("SELECT 1::BIGINT FROM policies WHERE arn = $1 AND account_id IN ($2, 'aws'){}", lock.suffix());
    let found: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(arn)
        .bind(account_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    found.map(|_| ()).ok_or(StoreError::NotFound(Entity::Policy))
}

async fn policy_by_arn(conn: &mut PgConnection, account_id: &str, arn: &str) -> Result<Option<ManagedPolicy>> {
    let sql = format!("SELECT {POLICY_COLUMNS} FROM policies p WHERE p.arn = $2 AND p.account_id IN ($1, 'aws')");
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(account_id)
        .bind(arn)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?
    else {
        return Ok(None);
    };
    let mut policy = policy_from_row(&row).map_err(db)?;
    policy.tags = POLICY_TAGS.list(conn, arn).await?;
    Ok(Some(policy))
}

/// The holder's id with its row locked until the transaction ends (or, with `lock` false, not
/// locked); `NotFound(User|Group|Role)`.
async fn holder_id(
    conn: &mut PgConnection,
    holder: Holder,
    account_id: &str,
    name: &str,
    lock: bool,
) -> Result<String> {
    let lock = if lock { Lock::Update } else { Lock::None };
    match (holder, lock) {
        (Holder::User, Lock::Update) => lock_user(conn, account_id, name).await,
        (Holder::User, _) => user_id_of(conn, account_id, name).await,
        (Holder::Group, lock) => group_id_of(conn, account_id, name, lock).await,
        (Holder::Role, lock) => role_id_of(conn, account_id, name, lock).await,
    }
}

pub(super) async fn inline_of(conn: &mut PgConnection, owner: Holder, owner_id: &str) -> Result<Vec<InlinePolicy>> {
    let sql = owner.pick(
        "SELECT name, document FROM user_policies WHERE user_id = $1 ORDER BY name_key",
        "SELECT name, document FROM group_policies WHERE group_id = $1 ORDER BY name_key",
        "SELECT name, document FROM role_policies WHERE role_id = $1 ORDER BY name_key",
    );
    let rows = sqlx::query(sql).bind(owner_id).fetch_all(&mut *conn).await.map_err(db)?;
    Ok(rows.iter().map(|r| InlinePolicy { name: r.get("name"), document: r.get("document") }).collect())
}

/// `(arn, default version's document)` of the managed policies attached to the owner.
pub(super) async fn managed_of(
    conn: &mut PgConnection,
    owner: Holder,
    owner_id: &str,
) -> Result<Vec<(String, String)>> {
    let sql = owner.pick(
        "SELECT p.arn, v.document FROM user_policy_attachments a JOIN policies p ON p.arn = a.arn \
         JOIN policy_versions v ON v.arn = p.arn AND v.version = p.default_version \
         WHERE a.user_id = $1 ORDER BY p.name_key, p.arn",
        "SELECT p.arn, v.document FROM group_policy_attachments a JOIN policies p ON p.arn = a.arn \
         JOIN policy_versions v ON v.arn = p.arn AND v.version = p.default_version \
         WHERE a.group_id = $1 ORDER BY p.name_key, p.arn",
        "SELECT p.arn, v.document FROM role_policy_attachments a JOIN policies p ON p.arn = a.arn \
         JOIN policy_versions v ON v.arn = p.arn AND v.version = p.default_version \
         WHERE a.role_id = $1 ORDER BY p.name_key, p.arn",
    );
    let rows = sqlx::query(sql).bind(owner_id).fetch_all(&mut *conn).await.map_err(db)?;
    Ok(rows.iter().map(|r| (r.get("arn"), r.get("document"))).collect())
}

/// What keeps a user from being deleted besides credentials and devices, in AWS's cleanup
/// order: inline policies, attached policies, group memberships. For `delete_user`, under its
/// lock on the user row.
pub(super) async fn user_policy_dependents(conn: &mut PgConnection, user_id: &str) -> Result<()> {
    if count(conn, "SELECT COUNT(*) FROM user_policies WHERE user_id = $1", user_id).await? > 0 {
        return Err(StoreError::DeleteConflict(Dependent::Policies));
    }
    if count(conn, "SELECT COUNT(*) FROM user_policy_attachments WHERE user_id = $1", user_id).await? > 0 {
        return Err(StoreError::DeleteConflict(Dependent::Attachments));
    }
    if count(conn, "SELECT COUNT(*) FROM group_members WHERE user_id = $1", user_id).await? > 0 {
        return Err(StoreError::DeleteConflict(Dependent::Groups));
    }
    Ok(())
}

impl PgStore {
    async fn put_inline(
        &self,
        owner: Holder,
        account_id: &str,
        owner_name: &str,
        name: &str,
        document: &str,
        max_total_chars: usize,
    ) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        // The owner's row lock serialises its inline policies, so the sum below is exact.
        let owner_id = holder_id(&mut tx, owner, account_id, owner_name, true).await?;
        let upsert = owner.pick(
            "INSERT INTO user_policies (user_id, name, name_key, document, size) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (user_id, name_key) DO UPDATE SET name = excluded.name, document = excluded.document, \
             size = excluded.size",
            "INSERT INTO group_policies (group_id, name, name_key, document, size) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (group_id, name_key) DO UPDATE SET name = excluded.name, document = excluded.document, \
             size = excluded.size",
            "INSERT INTO role_policies (role_id, name, name_key, document, size) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (role_id, name_key) DO UPDATE SET name = excluded.name, document = excluded.document, \
             size = excluded.size",
        );
        sqlx::query(upsert)
            .bind(&owner_id)
            .bind(name)
            .bind(name_key(name))
            .bind(document)
            .bind(policy_size(document) as i64)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let total = owner.pick(
            "SELECT COALESCE(SUM(size), 0)::BIGINT FROM user_policies WHERE user_id = $1",
            "SELECT COALESCE(SUM(size), 0)::BIGINT FROM group_policies WHERE group_id = $1",
            "SELECT COALESCE(SUM(size), 0)::BIGINT FROM role_policies WHERE role_id = $1",
        );
        if count(&mut tx, total, &owner_id).await? > max_total_chars as i64 {
            // Dropping the transaction rolls the new document back.
            return Err(StoreError::LimitExceeded);
        }
        tx.commit().await.map_err(db)
    }

    async fn get_inline(
        &self,
        owner: Holder,
        account_id: &str,
        owner_name: &str,
        policy_name: &str,
    ) -> Result<InlinePolicy> {
        let mut conn = self.conn().await?;
        let owner_id = holder_id(&mut conn, owner, account_id, owner_name, false).await?;
        let sql = owner.pick(
            "SELECT name, document FROM user_policies WHERE user_id = $1 AND name_key = $2",
            "SELECT name, document FROM group_policies WHERE group_id = $1 AND name_key = $2",
            "SELECT name, document FROM role_policies WHERE role_id = $1 AND name_key = $2",
        );
        let row = sqlx::query(sql)
            .bind(&owner_id)
            .bind(name_key(policy_name))
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound(Entity::InlinePolicy))?;
        Ok(InlinePolicy { name: row.get("name"), document: row.get("document") })
    }

    async fn list_inline(&self, owner: Holder, account_id: &str, owner_name: &str) -> Result<Vec<String>> {
        let mut conn = self.conn().await?;
        let owner_id = holder_id(&mut conn, owner, account_id, owner_name, false).await?;
        let sql = owner.pick(
            "SELECT name FROM user_policies WHERE user_id = $1 ORDER BY name_key",
            "SELECT name FROM group_policies WHERE group_id = $1 ORDER BY name_key",
            "SELECT name FROM role_policies WHERE role_id = $1 ORDER BY name_key",
        );
        sqlx::query_scalar(sql).bind(&owner_id).fetch_all(&mut *conn).await.map_err(db)
    }

    async fn delete_inline(&self, owner: Holder, account_id: &str, owner_name: &str, policy_name: &str) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let owner_id = holder_id(&mut tx, owner, account_id, owner_name, true).await?;
        let sql = owner.pick(
            "DELETE FROM user_policies WHERE user_id = $1 AND name_key = $2",
            "DELETE FROM group_policies WHERE group_id = $1 AND name_key = $2",
            "DELETE FROM role_policies WHERE role_id = $1 AND name_key = $2",
        );
        let done = sqlx::query(sql).bind(&owner_id).bind(name_key(policy_name)).execute(&mut *tx).await.map_err(db)?;
        changed(done.rows_affected(), StoreError::NotFound(Entity::InlinePolicy))?;
        tx.commit().await.map_err(db)
    }

    async fn attach(&self, owner: Holder, account_id: &str, owner_name: &str, arn: &str, max: u32) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        // Owner row first (serialises its attachments, so the count is exact), then the policy
        // row shared (it cannot be deleted before this commits).
        let owner_id = holder_id(&mut tx, owner, account_id, owner_name, true).await?;
        policy_visible(&mut tx, account_id, arn, Lock::Share).await?;
        let attached = owner.pick(
            "SELECT 1::BIGINT FROM user_policy_attachments WHERE user_id = $1 AND arn = $2",
            "SELECT 1::BIGINT FROM group_policy_attachments WHERE group_id = $1 AND arn = $2",
            "SELECT 1::BIGINT FROM role_policy_attachments WHERE role_id = $1 AND arn = $2",
        );
        let found: Option<i64> =
            sqlx::query_scalar(attached).bind(&owner_id).bind(arn).fetch_optional(&mut *tx).await.map_err(db)?;
        if found.is_some() {
            return tx.commit().await.map_err(db);
        }
        let attachments = owner.pick(
            "SELECT COUNT(*) FROM user_policy_attachments WHERE user_id = $1",
            "SELECT COUNT(*) FROM group_policy_attachments WHERE group_id = $1",
            "SELECT COUNT(*) FROM role_policy_attachments WHERE role_id = $1",
        );
        if count(&mut tx, attachments, &owner_id).await? >= i64::from(max) {
            return Err(StoreError::LimitExceeded);
        }
        let insert = owner.pick(
            "INSERT INTO user_policy_attachments (user_id, arn, account_id) VALUES ($1, $2, $3)",
            "INSERT INTO group_policy_attachments (group_id, arn, account_id) VALUES ($1, $2, $3)",
            "INSERT INTO role_policy_attachments (role_id, arn, account_id) VALUES ($1, $2, $3)",
        );
        sqlx::query(insert).bind(&owner_id).bind(arn).bind(account_id).execute(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn detach(&self, owner: Holder, account_id: &str, owner_name: &str, arn: &str) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let owner_id = holder_id(&mut tx, owner, account_id, owner_name, true).await?;
        let sql = owner.pick(
            "DELETE FROM user_policy_attachments WHERE user_id = $1 AND arn = $2",
            "DELETE FROM group_policy_attachments WHERE group_id = $1 AND arn = $2",
            "DELETE FROM role_policy_attachments WHERE role_id = $1 AND arn = $2",
        );
        let done = sqlx::query(sql).bind(&owner_id).bind(arn).execute(&mut *tx).await.map_err(db)?;
        changed(done.rows_affected(), StoreError::NotFound(Entity::Policy))?;
        tx.commit().await.map_err(db)
    }

    async fn list_attached(&self, owner: Holder, account_id: &str, owner_name: &str) -> Result<Vec<AttachedPolicy>> {
        let mut conn = self.conn().await?;
        let owner_id = holder_id(&mut conn, owner, account_id, owner_name, false).await?;
        let sql = owner.pick(
            "SELECT p.name, p.arn FROM user_policy_attachments a JOIN policies p ON p.arn = a.arn \
             WHERE a.user_id = $1 ORDER BY p.name_key, p.arn",
            "SELECT p.name, p.arn FROM group_policy_attachments a JOIN policies p ON p.arn = a.arn \
             WHERE a.group_id = $1 ORDER BY p.name_key, p.arn",
            "SELECT p.name, p.arn FROM role_policy_attachments a JOIN policies p ON p.arn = a.arn \
             WHERE a.role_id = $1 ORDER BY p.name_key, p.arn",
        );
        let rows = sqlx::query(sql).bind(&owner_id).fetch_all(&mut *conn).await.map_err(db)?;
        Ok(rows.iter().map(|r| AttachedPolicy { name: r.get("name"), arn: r.get("arn") }).collect())
    }
}

#[async_trait]
impl Policies for PgStore {
    async fn create_group(&self, group: &Group, max_in_account: u32) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let groups = "SELECT COUNT(*) FROM iam_groups WHERE account_id = $1";
        account_quota(&mut tx, &group.account_id, groups, max_in_account).await?;
        sqlx::query(
            "INSERT INTO iam_groups (group_id, account_id, name, name_key, path, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&group.group_id)
        .bind(&group.account_id)
        .bind(&group.name)
        .bind(name_key(&group.name))
        .bind(&group.path)
        .bind(group.created_at)
        .execute(&mut *tx)
        .await
        .map_err(unique_as(Entity::Group))?;
        tx.commit().await.map_err(db)
    }

    async fn get_group(&self, account_id: &str, name: &str) -> Result<Option<Group>> {
        let sql = format!("SELECT {GROUP_COLUMNS} FROM iam_groups g WHERE g.account_id = $1 AND g.name_key = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(name_key(name))
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db)?;
        row.as_ref().map(group_from_row).transpose().map_err(db)
    }

    async fn list_groups(&self, account_id: &str, path_prefix: &str, page: &Page) -> Result<Vec<Group>> {
        path_page(
            &mut *self.conn().await?,
            (GROUP_COLUMNS, "iam_groups", "g"),
            account_id,
            path_prefix,
            page,
            group_from_row,
        )
        .await
    }

    async fn update_group(
        &self,
        account_id: &str,
        name: &str,
        new_name: Option<&str>,
        new_path: Option<&str>,
    ) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let group_id = group_id_of(&mut tx, account_id, name, Lock::Update).await?;
        sqlx::query(
            "UPDATE iam_groups SET name = COALESCE($1, name), name_key = COALESCE($2, name_key), \
             path = COALESCE($3, path) WHERE group_id = $4",
        )
        .bind(new_name)
        .bind(new_name.map(name_key))
        .bind(new_path)
        .bind(&group_id)
        .execute(&mut *tx)
        .await
        .map_err(unique_as(Entity::Group))?;
        tx.commit().await.map_err(db)
    }

    async fn delete_group(&self, account_id: &str, name: &str) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let group_id = group_id_of(&mut tx, account_id, name, Lock::Update).await?;
        if count(&mut tx, "SELECT COUNT(*) FROM group_members WHERE group_id = $1", &group_id).await? > 0 {
            return Err(StoreError::DeleteConflict(Dependent::Members));
        }
        if count(&mut tx, "SELECT COUNT(*) FROM group_policies WHERE group_id = $1", &group_id).await? > 0 {
            return Err(StoreError::DeleteConflict(Dependent::Policies));
        }
        if count(&mut tx, "SELECT COUNT(*) FROM group_policy_attachments WHERE group_id = $1", &group_id).await? > 0 {
            return Err(StoreError::DeleteConflict(Dependent::Attachments));
        }
        sqlx::query("DELETE FROM iam_groups WHERE group_id = $1")
            .bind(&group_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn add_user_to_group(
        &self,
        account_id: &str,
        group_name: &str,
        user_name: &str,
        max_groups_per_user: u32,
    ) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        // Lock order: user, then group. NotFound(Group) is reported before NotFound(User).
        let user_id = lock_user(&mut tx, account_id, user_name).await;
        let group_id = group_id_of(&mut tx, account_id, group_name, Lock::Share).await?;
        let user_id = user_id?;
        let member: Option<i64> =
            sqlx::query_scalar("SELECT 1::BIGINT FROM group_members WHERE group_id = $1 AND user_id = $2")
                .bind(&group_id)
                .bind(&user_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        if member.is_some() {
            return tx.commit().await.map_err(db);
        }
        if count(&mut tx, "SELECT COUNT(*) FROM group_members WHERE user_id = $1", &user_id).await?
            >= i64::from(max_groups_per_user)
        {
            return Err(StoreError::LimitExceeded);
        }
        sqlx::query("INSERT INTO group_members (group_id, user_id) VALUES ($1, $2)")
            .bind(&group_id)
            .bind(&user_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn remove_user_from_group(&self, account_id: &str, group_name: &str, user_name: &str) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let user_id = lock_user(&mut tx, account_id, user_name).await;
        let group_id = group_id_of(&mut tx, account_id, group_name, Lock::None).await?;
        let user_id = user_id?;
        let done = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
            .bind(&group_id)
            .bind(&user_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        changed(done.rows_affected(), StoreError::NotFound(Entity::User))?;
        tx.commit().await.map_err(db)
    }

    async fn list_group_members(&self, account_id: &str, group_name: &str) -> Result<Vec<User>> {
        let mut conn = self.conn().await?;
        let group_id = group_id_of(&mut conn, account_id, group_name, Lock::None).await?;
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM group_members m JOIN users u ON u.user_id = m.user_id \
             WHERE m.group_id = $1 ORDER BY u.name_key"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&group_id).fetch_all(&mut *conn).await.map_err(db)?;
        rows.iter().map(user_from_row).collect::<std::result::Result<_, _>>().map_err(db)
    }

    async fn list_groups_for_user(&self, account_id: &str, user_name: &str) -> Result<Vec<Group>> {
        let mut conn = self.conn().await?;
        let user_id = user_id_of(&mut conn, account_id, user_name).await?;
        let sql = format!(
            "SELECT {GROUP_COLUMNS} FROM group_members m JOIN iam_groups g ON g.group_id = m.group_id \
             WHERE m.user_id = $1 ORDER BY g.name_key"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&user_id).fetch_all(&mut *conn).await.map_err(db)?;
        rows.iter().map(group_from_row).collect::<std::result::Result<_, _>>().map_err(db)
    }

    async fn create_policy(&self, policy: &NewManagedPolicy, max_in_account: u32) -> Result<ManagedPolicy> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let policies = "SELECT COUNT(*) FROM policies WHERE account_id = $1";
        account_quota(&mut tx, &policy.account_id, policies, max_in_account).await?;
        let arn = iamd_domain::ids::policy_arn(&policy.account_id, &policy.path, &policy.name);
        sqlx::query(
            "INSERT INTO policies (arn, account_id, policy_id, name, name_key, path, description, \
             default_version, last_version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, 1, $8, $8)",
        )
        .bind(&arn)
        .bind(&policy.account_id)
        .bind(&policy.policy_id)
        .bind(&policy.name)
        .bind(name_key(&policy.name))
        .bind(&policy.path)
        .bind(&policy.description)
        .bind(policy.created_at)
        .execute(&mut *tx)
        .await
        .map_err(unique_as(Entity::Policy))?;
        sqlx::query("INSERT INTO policy_versions (arn, version, document, created_at) VALUES ($1, 1, $2, $3)")
            .bind(&arn)
            .bind(&policy.document)
            .bind(policy.created_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        POLICY_TAGS.upsert(&mut tx, &arn, &policy.tags).await?;
        let created = policy_by_arn(&mut tx, &policy.account_id, &arn).await?;
        tx.commit().await.map_err(db)?;
        created.ok_or_else(|| StoreError::Backend("a created policy vanished".into()))
    }

    async fn get_policy(&self, account_id: &str, arn: &str) -> Result<Option<ManagedPolicy>> {
        let mut conn = self.conn().await?;
        policy_by_arn(&mut conn, account_id, arn).await
    }

    async fn list_policies(
        &self,
        account_id: &str,
        scope: PolicyScope,
        only_attached: bool,
        path_prefix: &str,
        page: &Page,
    ) -> Result<Vec<ManagedPolicy>> {
        let sql = format!(
            "SELECT {POLICY_COLUMNS} FROM policies p \
             WHERE ((p.account_id = $1 AND $2) OR (p.account_id = 'aws' AND $3)) \
             AND left(p.path, length($4)) = $4 AND (p.name_key || ' ' || p.account_id) COLLATE \"C\" > $5 \
             AND (NOT $6 \
                  OR EXISTS (SELECT 1 FROM user_policy_attachments a WHERE a.arn = p.arn AND a.account_id = $1) \
                  OR EXISTS (SELECT 1 FROM group_policy_attachments a WHERE a.arn = p.arn AND a.account_id = $1) \
                  OR EXISTS (SELECT 1 FROM role_policy_attachments a WHERE a.arn = p.arn AND a.account_id = $1)) \
             ORDER BY p.name_key, p.account_id LIMIT $7"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(matches!(scope, PolicyScope::All | PolicyScope::Local))
            .bind(matches!(scope, PolicyScope::All | PolicyScope::Aws))
            .bind(path_prefix)
            .bind(page.after.as_deref().unwrap_or(""))
            .bind(only_attached)
            .bind(page.limit as i64 + 1)
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db)?;
        rows.iter().map(policy_from_row).collect::<std::result::Result<_, _>>().map_err(db)
    }

    async fn delete_policy(&self, arn: &str) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        // Attachers hold the row shared until they commit; once this lock is ours, the counts
        // below see every attachment there is, and no new one can start.
        policy_versions_of(&mut tx, arn, Lock::Update).await?;
        let uses = count(&mut tx, "SELECT COUNT(*) FROM user_policy_attachments WHERE arn = $1", arn).await?
            + count(&mut tx, "SELECT COUNT(*) FROM role_policy_attachments WHERE arn = $1", arn).await?
            + count(&mut tx, "SELECT COUNT(*) FROM role_permissions_boundaries WHERE arn = $1", arn).await?
            + count(&mut tx, "SELECT COUNT(*) FROM group_policy_attachments WHERE arn = $1", arn).await?
            + count(&mut tx, "SELECT COUNT(*) FROM user_permissions_boundaries WHERE arn = $1", arn).await?;
        if uses > 0 {
            return Err(StoreError::DeleteConflict(Dependent::Attachments));
        }
        if count(&mut tx, "SELECT COUNT(*) FROM policy_versions WHERE arn = $1", arn).await? > 1 {
            return Err(StoreError::DeleteConflict(Dependent::Versions));
        }
        // Versions and tags cascade.
        sqlx::query("DELETE FROM policies WHERE arn = $1").bind(arn).execute(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn create_policy_version(
        &self,
        arn: &str,
        document: &str,
        set_as_default: bool,
        now: i64,
        max_versions: usize,
    ) -> Result<PolicyVersion> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let (_, last) = policy_versions_of(&mut tx, arn, Lock::Update).await?;
        if count(&mut tx, "SELECT COUNT(*) FROM policy_versions WHERE arn = $1", arn).await? >= max_versions as i64 {
            return Err(StoreError::LimitExceeded);
        }
        let next = last + 1;
        sqlx::query("INSERT INTO policy_versions (arn, version, document, created_at) VALUES ($1, $2, $3, $4)")
            .bind(arn)
            .bind(next)
            .bind(document)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "UPDATE policies SET last_version = $1, updated_at = $2, \
             default_version = CASE WHEN $3 THEN $1 ELSE default_version END WHERE arn = $4",
        )
        .bind(next)
        .bind(now)
        .bind(set_as_default)
        .bind(arn)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(PolicyVersion {
            version_id: version_id(next),
            document: document.to_owned(),
            is_default: set_as_default,
            created_at: now,
        })
    }

    async fn get_policy_version(&self, arn: &str, version_id: &str) -> Result<PolicyVersion> {
        let mut conn = self.conn().await?;
        let (default, _) = policy_versions_of(&mut conn, arn, Lock::None).await?;
        let n = version_number(version_id)?;
        let row = sqlx::query("SELECT document, created_at FROM policy_versions WHERE arn = $1 AND version = $2")
            .bind(arn)
            .bind(n)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound(Entity::PolicyVersion))?;
        Ok(PolicyVersion {
            version_id: self::version_id(n),
            document: row.try_get("document").map_err(db)?,
            is_default: n == default,
            created_at: row.try_get("created_at").map_err(db)?,
        })
    }

    async fn list_policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersion>> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let (default, _) = policy_versions_of(&mut tx, arn, Lock::None).await?;
        let rows = sqlx::query(
            "SELECT version, document, created_at FROM policy_versions WHERE arn = $1 ORDER BY version DESC",
        )
        .bind(arn)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        let decode = |r: &PgRow| -> std::result::Result<PolicyVersion, sqlx::Error> {
            let n: i64 = r.try_get("version")?;
            Ok(PolicyVersion {
                version_id: version_id(n),
                document: r.try_get("document")?,
                is_default: n == default,
                created_at: r.try_get("created_at")?,
            })
        };
        rows.iter().map(decode).collect::<std::result::Result<_, _>>().map_err(db)
    }

    async fn delete_policy_version(&self, arn: &str, version_id: &str) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let (default, _) = policy_versions_of(&mut tx, arn, Lock::Update).await?;
        let n = version_number(version_id)?;
        if n == default {
            return Err(StoreError::DeleteConflict(Dependent::DefaultVersion));
        }
        let done = sqlx::query("DELETE FROM policy_versions WHERE arn = $1 AND version = $2")
            .bind(arn)
            .bind(n)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        changed(done.rows_affected(), StoreError::NotFound(Entity::PolicyVersion))?;
        tx.commit().await.map_err(db)
    }

    async fn set_default_policy_version(&self, arn: &str, version_id: &str) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        policy_versions_of(&mut tx, arn, Lock::Update).await?;
        let n = version_number(version_id)?;
        let done = sqlx::query(
            "UPDATE policies SET default_version = $1 WHERE arn = $2 \
             AND EXISTS (SELECT 1 FROM policy_versions WHERE arn = $2 AND version = $1)",
        )
        .bind(n)
        .bind(arn)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        changed(done.rows_affected(), StoreError::NotFound(Entity::PolicyVersion))?;
        tx.commit().await.map_err(db)
    }

    async fn tag_policy(&self, arn: &str, tags: &[Tag], max: usize) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        // The policy row lock serialises tag changes on one policy, so the count is exact.
        policy_versions_of(&mut tx, arn, Lock::Update).await?;
        POLICY_TAGS.add(&mut tx, arn, tags, max).await?;
        tx.commit().await.map_err(db)
    }

    async fn untag_policy(&self, arn: &str, keys: &[String]) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        policy_versions_of(&mut tx, arn, Lock::Update).await?;
        POLICY_TAGS.remove(&mut tx, arn, keys).await?;
        tx.commit().await.map_err(db)
    }

    async fn policy_tags(&self, arn: &str) -> Result<Vec<Tag>> {
        let mut conn = self.conn().await?;
        policy_versions_of(&mut conn, arn, Lock::None).await?;
        POLICY_TAGS.list(&mut conn, arn).await
    }

    async fn ensure_aws_managed_policy(
        &self,
        name: &str,
        path: &str,
        description: Option<&str>,
        document: &str,
        now: i64,
    ) -> Result<ManagedPolicy> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let arn = iamd_domain::ids::policy_arn(AWS_MANAGED_ACCOUNT, path, name);
        // Of several nodes starting at once, one inserts; the others wait for it here and then
        // find the policy there.
        let inserted = sqlx::query(
            "INSERT INTO policies (arn, account_id, policy_id, name, name_key, path, description, \
             default_version, last_version, created_at, updated_at) \
             VALUES ($1, 'aws', $2, $3, $4, $5, $6, 1, 1, $7, $7) ON CONFLICT DO NOTHING",
        )
        .bind(&arn)
        .bind(ManagedPolicy::aws_policy_id(&arn))
        .bind(name)
        .bind(name_key(name))
        .bind(path)
        .bind(description)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if inserted == 1 {
            sqlx::query("INSERT INTO policy_versions (arn, version, document, created_at) VALUES ($1, 1, $2, $3)")
                .bind(&arn)
                .bind(document)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        } else {
            let (default, _) = match policy_versions_of(&mut tx, &arn, Lock::Update).await {
                Ok(versions) => versions,
                Err(StoreError::NotFound(_)) => {
                    return Err(StoreError::Backend(format!(
                        "an AWS managed policy named {name} exists under another path"
                    )));
                }
                Err(e) => return Err(e),
            };
            let updated = sqlx::query(
                "UPDATE policy_versions SET document = $1 WHERE arn = $2 AND version = $3 AND document <> $1",
            )
            .bind(document)
            .bind(&arn)
            .bind(default)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
            sqlx::query(
                "UPDATE policies SET description = $1, updated_at = CASE WHEN $2 THEN $3 ELSE updated_at END \
                 WHERE arn = $4",
            )
            .bind(description)
            .bind(updated > 0)
            .bind(now)
            .bind(&arn)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        let policy = policy_by_arn(&mut tx, AWS_MANAGED_ACCOUNT, &arn).await?;
        tx.commit().await.map_err(db)?;
        policy.ok_or_else(|| StoreError::Backend("an AWS managed policy vanished".into()))
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
        self.put_inline(holder, account_id, holder_name, policy_name, document, max_total_chars).await
    }

    async fn get_inline_policy(
        &self,
        account_id: &str,
        holder: Holder,
        holder_name: &str,
        policy_name: &str,
    ) -> Result<InlinePolicy> {
        self.get_inline(holder, account_id, holder_name, policy_name).await
    }

    async fn list_inline_policies(&self, account_id: &str, holder: Holder, holder_name: &str) -> Result<Vec<String>> {
        self.list_inline(holder, account_id, holder_name).await
    }

    async fn delete_inline_policy(
        &self,
        account_id: &str,
        holder: Holder,
        holder_name: &str,
        policy_name: &str,
    ) -> Result<()> {
        self.delete_inline(holder, account_id, holder_name, policy_name).await
    }

    async fn attach_policy(
        &self,
        account_id: &str,
        holder: Holder,
        holder_name: &str,
        arn: &str,
        max_attached: u32,
    ) -> Result<()> {
        self.attach(holder, account_id, holder_name, arn, max_attached).await
    }

    async fn detach_policy(&self, account_id: &str, holder: Holder, holder_name: &str, arn: &str) -> Result<()> {
        self.detach(holder, account_id, holder_name, arn).await
    }

    async fn list_attached_policies(
        &self,
        account_id: &str,
        holder: Holder,
        holder_name: &str,
    ) -> Result<Vec<AttachedPolicy>> {
        self.list_attached(holder, account_id, holder_name).await
    }

    async fn list_entities_for_policy(&self, account_id: &str, arn: &str) -> Result<PolicyEntities> {
        // Driven by the attachment and boundary rows (indexed by policy), not by the entities.
        const USERS: &str = "SELECT u.name, u.user_id AS id, u.path, BOOL_OR(x.attached) AS attached, \
             BOOL_OR(x.boundary) AS boundary FROM \
             (SELECT user_id AS id, TRUE AS attached, FALSE AS boundary FROM user_policy_attachments \
              WHERE arn = $1 AND account_id = $2 \
              UNION ALL SELECT user_id, FALSE, TRUE FROM user_permissions_boundaries WHERE arn = $1 AND account_id = $2) x \
             JOIN users u ON u.user_id = x.id GROUP BY u.user_id ORDER BY MIN(u.name_key)";
        const GROUPS: &str = "SELECT g.name, g.group_id AS id, g.path, TRUE AS attached, FALSE AS boundary \
             FROM group_policy_attachments a JOIN iam_groups g ON g.group_id = a.group_id \
             WHERE a.arn = $1 AND a.account_id = $2 ORDER BY g.name_key";
        const ROLES: &str = "SELECT r.name, r.role_id AS id, r.path, BOOL_OR(x.attached) AS attached, \
             BOOL_OR(x.boundary) AS boundary FROM \
             (SELECT role_id AS id, TRUE AS attached, FALSE AS boundary FROM role_policy_attachments \
              WHERE arn = $1 AND account_id = $2 \
              UNION ALL SELECT role_id, FALSE, TRUE FROM role_permissions_boundaries WHERE arn = $1 AND account_id = $2) x \
             JOIN roles r ON r.role_id = x.id GROUP BY r.role_id ORDER BY MIN(r.name_key)";
        let mut conn = self.conn().await?;
        policy_visible(&mut conn, account_id, arn, Lock::None).await?;
        let mut uses = async |sql: &'static str| -> Result<Vec<PolicyUse>> {
            let rows = sqlx::query(sql).bind(arn).bind(account_id).fetch_all(&mut *conn).await.map_err(db)?;
            rows.iter()
                .map(|r| {
                    Ok(PolicyUse {
                        name: r.try_get("name")?,
                        id: r.try_get("id")?,
                        path: r.try_get("path")?,
                        attached: r.try_get("attached")?,
                        boundary: r.try_get("boundary")?,
                    })
                })
                .collect::<std::result::Result<_, sqlx::Error>>()
                .map_err(db)
        };
        let users = uses(USERS).await?;
        let groups = uses(GROUPS).await?;
        let roles = uses(ROLES).await?;
        Ok(PolicyEntities { users, groups, roles })
    }

    async fn put_permissions_boundary(
        &self,
        account_id: &str,
        holder: Holder,
        holder_name: &str,
        arn: &str,
    ) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let holder_id = boundary_holder_id(&mut tx, holder, account_id, holder_name).await?;
        policy_visible(&mut tx, account_id, arn, Lock::Share).await?;
        let sql = holder.pick(
            "INSERT INTO user_permissions_boundaries (user_id, arn, account_id) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET arn = excluded.arn",
            "",
            "INSERT INTO role_permissions_boundaries (role_id, arn, account_id) VALUES ($1, $2, $3) \
             ON CONFLICT (role_id) DO UPDATE SET arn = excluded.arn",
        );
        sqlx::query(sql).bind(&holder_id).bind(arn).bind(account_id).execute(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn delete_permissions_boundary(&self, account_id: &str, holder: Holder, holder_name: &str) -> Result<()> {
        let mut pooled = self.conn().await?;
        let mut tx = pooled.begin().await.map_err(db)?;
        let holder_id = boundary_holder_id(&mut tx, holder, account_id, holder_name).await?;
        let sql = holder.pick(
            "DELETE FROM user_permissions_boundaries WHERE user_id = $1",
            "",
            "DELETE FROM role_permissions_boundaries WHERE role_id = $1",
        );
        sqlx::query(sql).bind(&holder_id).execute(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn permissions_boundary(
        &self,
        account_id: &str,
        holder: Holder,
        holder_name: &str,
    ) -> Result<Option<String>> {
        let mut conn = self.conn().await?;
        if holder == Holder::Group {
            return Err(StoreError::NotFound(Entity::Group));
        }
        let holder_id = holder_id(&mut conn, holder, account_id, holder_name, false).await?;
        let sql = holder.pick(
            "SELECT arn FROM user_permissions_boundaries WHERE user_id = $1",
            "",
            "SELECT arn FROM role_permissions_boundaries WHERE role_id = $1",
        );
        sqlx::query_scalar(sql).bind(&holder_id).fetch_optional(&mut *conn).await.map_err(db)
    }

    async fn effective_policies(&self, account_id: &str, user_id: &str) -> Result<EffectivePolicies> {
        // One statement, so one snapshot and one round trip: this runs on every credential-cache
        // miss of a user, i.e. at every sign-in. Each part's rows come in the order the separate
        // queries would give them (by name key, then ARN; groups by name key).
        const PART: &str = "JOIN policies p ON p.arn = a.arn \
             JOIN policy_versions v ON v.arn = p.arn AND v.version = p.default_version";
        let sql = format!(
            "SELECT part, grp, a, b FROM ( \
             SELECT 0 AS part, '' AS gkey, '' AS grp, '' AS k1, '' AS k2, '' AS a, '' AS b \
               FROM users WHERE user_id = $1 AND account_id = $2 \
             UNION ALL SELECT 1, '', '', name_key, '', name, document FROM user_policies WHERE user_id = $1 \
             UNION ALL SELECT 2, '', '', p.name_key, p.arn, p.arn, v.document \
               FROM user_policy_attachments a {PART} WHERE a.user_id = $1 \
             UNION ALL SELECT 3, g.name_key, g.group_id, '', '', g.name, '' \
               FROM group_members m JOIN iam_groups g ON g.group_id = m.group_id WHERE m.user_id = $1 \
             UNION ALL SELECT 4, g.name_key, g.group_id, gp.name_key, '', gp.name, gp.document \
               FROM group_members m JOIN iam_groups g ON g.group_id = m.group_id \
               JOIN group_policies gp ON gp.group_id = g.group_id WHERE m.user_id = $1 \
             UNION ALL SELECT 5, g.name_key, g.group_id, p.name_key, p.arn, p.arn, v.document \
               FROM group_members m JOIN iam_groups g ON g.group_id = m.group_id \
               JOIN group_policy_attachments a ON a.group_id = g.group_id {PART} WHERE m.user_id = $1 \
             UNION ALL SELECT 6, '', '', '', '', p.arn, v.document \
               FROM user_permissions_boundaries a {PART} WHERE a.user_id = $1 \
             UNION ALL SELECT 7, '', '', key_norm, '', tag_key, value FROM user_tags WHERE user_id = $1 \
             ) parts ORDER BY part, gkey, grp, k1, k2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .bind(account_id)
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db)?;
        let mut found = false;
        let mut effective = EffectivePolicies::default();
        let mut group_ids: Vec<String> = Vec::new();
        for row in &rows {
            let (a, b): (String, String) = (row.get("a"), row.get("b"));
            let group = |group_ids: &[String]| {
                let id: String = row.get("grp");
                group_ids
                    .iter()
                    .position(|g| *g == id)
                    .ok_or(StoreError::Backend("a group's policy without its group".into()))
            };
            match row.get::<i32, _>("part") {
                0 => found = true,
                1 => effective.user_inline.push(InlinePolicy { name: a, document: b }),
                2 => effective.user_managed.push((a, b)),
                3 => {
                    group_ids.push(row.get("grp"));
                    effective.groups.push((a, Vec::new(), Vec::new()));
                }
                4 => effective.groups[group(&group_ids)?].1.push(InlinePolicy { name: a, document: b }),
                5 => effective.groups[group(&group_ids)?].2.push((a, b)),
                6 => effective.boundary = Some((a, b)),
                _ => effective.tags.push(Tag { key: a, value: b }),
            }
        }
        if !found {
            return Err(StoreError::NotFound(Entity::User));
        }
        Ok(effective)
    }
}

/// The id of a user or role that may carry a boundary, its row locked; a group has none
/// (`NotFound(Group)`).
async fn boundary_holder_id(conn: &mut PgConnection, holder: Holder, account_id: &str, name: &str) -> Result<String> {
    if holder == Holder::Group {
        return Err(StoreError::NotFound(Entity::Group));
    }
    holder_id(conn, holder, account_id, name, true).await
}

/// `(arn, default version's document)` of the holder's boundary (users and roles, by id).
pub(super) async fn boundary_of(
    conn: &mut PgConnection,
    holder: Holder,
    holder_id: &str,
) -> Result<Option<ManagedDocument>> {
    let sql = holder.pick(
        "SELECT p.arn, v.document FROM user_permissions_boundaries b JOIN policies p ON p.arn = b.arn \
         JOIN policy_versions v ON v.arn = p.arn AND v.version = p.default_version WHERE b.user_id = $1",
        "",
        "SELECT p.arn, v.document FROM role_permissions_boundaries b JOIN policies p ON p.arn = b.arn \
         JOIN policy_versions v ON v.arn = p.arn AND v.version = p.default_version WHERE b.role_id = $1",
    );
    let row = sqlx::query(sql).bind(holder_id).fetch_optional(&mut *conn).await.map_err(db)?;
    Ok(row.map(|r| (r.get("arn"), r.get("document"))))
}
