//! Schema migrations of the embedded database, tracked in `PRAGMA user_version`.

use rusqlite::{Connection, TransactionBehavior};

use crate::{Result, StoreError};

/// Every migration, in order; the schema version is the number of migrations applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_initial.sql"),
    include_str!("../../migrations/sqlite/0002_login.sql"),
    include_str!("../../migrations/sqlite/0003_policies.sql"),
    include_str!("../../migrations/sqlite/0004_roles.sql"),
    include_str!("../../migrations/sqlite/0005_throttle.sql"),
    include_str!("../../migrations/sqlite/0006_unaddressable_devices.sql"),
    include_str!("../../migrations/sqlite/0007_credential_report.sql"),
    include_str!("../../migrations/sqlite/0008_mfa_enrolment.sql"),
    include_str!("../../migrations/sqlite/0009_change_events.sql"),
];

/// The schema version of a database with every migration applied.
pub(super) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the schema up to date in one transaction (all pending migrations or none).
pub(super) fn apply(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version == 0 {
        version = sqlx_history(&tx)?;
    }
    let known = SCHEMA_VERSION;
    if version > known {
        return Err(StoreError::Backend(format!(
            "the database has schema version {version}, newer than this build of iamd knows ({known}); \
             run a newer iamd"
        )));
    }
    for sql in &MIGRATIONS[version as usize..] {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", known)?;
    tx.commit()?;
    Ok(())
}

/// Databases written by earlier builds of iamd (which used sqlx for SQLite too) recorded
/// migrations in sqlx's `_sqlx_migrations` table; their version is the newest one recorded there.
fn sqlx_history(conn: &Connection) -> Result<i64> {
    let has_table: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
        [],
        |row| row.get(0),
    )?;
    if !has_table {
        return Ok(0);
    }
    Ok(conn.query_row("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success", [], |row| row.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap()
    }

    #[test]
    fn fresh_database_gets_every_migration_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        assert_eq!(version(&conn), MIGRATIONS.len() as i64);
        apply(&mut conn).expect("applying again is a no-op");
    }

    #[test]
    fn database_from_a_sqlx_build_continues_where_it_stopped() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, success BOOLEAN NOT NULL); \
             INSERT INTO _sqlx_migrations VALUES (1, TRUE);",
        )
        .unwrap();
        apply(&mut conn).expect("only the later migrations run");
        assert_eq!(version(&conn), MIGRATIONS.len() as i64);
        conn.query_row("SELECT COUNT(*) FROM login_profiles", [], |_| Ok(())).unwrap();
    }

    #[test]
    fn devices_no_request_can_name_are_removed() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&MIGRATIONS[..5].concat()).unwrap();
        conn.pragma_update(None, "user_version", 5).unwrap();
        conn.execute_batch(
            "INSERT INTO accounts VALUES ('123456789012', 0);
             INSERT INTO users (user_id, account_id, name, name_key, path, created_at)
                 VALUES ('AIDAUSER', '123456789012', 'u', 'u', '/', 0);",
        )
        .unwrap();
        let device = |serial: &str, user: Option<&str>| {
            conn.execute(
                "INSERT INTO mfa_devices (serial, account_id, path, name, seed_sealed, created_at, user_id) \
                 VALUES (?1, '123456789012', '/', 'd', x'00', 0, ?2)",
                rusqlite::params![serial, user],
            )
            .unwrap();
        };
        for bad in [
            "arn:aws:iam::123456789012:mfa/p&1/d",
            "arn:aws:iam::123456789012:mfa/p<2>/d",
            "arn:aws:iam::123456789012:mfa/p%3/d",
            "arn:aws:iam::123456789012:mfa/p!4/d",
            "arn:aws:iam::123456789012:mfa/caf\u{e9}/d",
            "arn:aws:iam::123456789012:mfa/p]/d",
        ] {
            device(bad, None);
        }
        let kept = ["arn:aws:iam::123456789012:mfa/a_b+c=d,e.f@g-h/d", "arn:aws:iam::123456789012:mfa/plain"];
        device(kept[0], None);
        device(kept[1], Some("AIDAUSER"));
        conn.execute("INSERT INTO mfa_device_tags VALUES (?1, 'k', 'k', 'v')", [kept[0]]).unwrap();

        apply(&mut conn).unwrap();

        let left: Vec<String> = conn
            .prepare("SELECT serial FROM mfa_devices ORDER BY serial")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(left, kept);
        let tags: i64 = conn.query_row("SELECT count(*) FROM mfa_device_tags", [], |row| row.get(0)).unwrap();
        assert_eq!(tags, 1);
    }

    #[test]
    fn newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        let refused = apply(&mut conn).unwrap_err();
        assert!(refused.to_string().contains("newer than this build"), "{refused}");
    }
}
