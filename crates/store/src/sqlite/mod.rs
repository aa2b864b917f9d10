//! The embedded backend: one SQLite file in WAL mode, and nothing is acknowledged before it is
//! on disk. [`engine`] says how statements run (reads on the caller's thread, writes grouped
//! into durable commits on one writer thread); this file opens the store and holds the helpers
//! the families share, and each family's statements live in a file of its own:
//! [`accounts`], [`identities`], [`credentials`], [`mfa`], [`sessions`], [`audit`], [`policies`].

mod accounts;
mod audit;
pub mod backup;
mod credentials;
mod engine;
mod identities;
mod mfa;
mod migrate;
mod policies;
mod roles;
mod rows;
mod sessions;
mod tags;

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::common::name_key;
use crate::*;
use engine::Engine;
use rows::{user_at, user_columns};

pub struct SqliteStore {
    engine: Engine,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        let path = path.to_owned();
        let engine = tokio::task::spawn_blocking(move || {
            make_private(&path)?;
            let engine = Engine::open(&path)?;
            // WAL mode and the migrations have created the companions by now.
            make_private(&path)?;
            Ok::<_, StoreError>(engine)
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))??;
        Ok(Self { engine })
    }
}

/// Gives the database file and its `-wal` and `-shm` companions mode 0600, whatever the umask:
/// they hold sealed secrets, password hashes and the sign-in audit trail. The database file is
/// created here, before SQLite opens it, because SQLite gives the companions it creates later
/// (the WAL is deleted and re-created as the database is closed and opened) the database file's
/// own mode. Existing files are tightened too (earlier versions left them 0644).
fn make_private(path: &Path) -> Result<()> {
    use std::fs::{OpenOptions, Permissions, set_permissions};
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    let io = |what: &Path, e: std::io::Error| StoreError::Unavailable(format!("{}: {e}", what.display()));
    OpenOptions::new().write(true).create(true).truncate(false).mode(0o600).open(path).map_err(|e| io(path, e))?;
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let file = Path::new(&file);
        match set_permissions(file, Permissions::from_mode(0o600)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            other => other.map_err(|e| io(file, e))?,
        }
    }
    Ok(())
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::*;
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(f.code, DatabaseBusy | DatabaseLocked | CannotOpen | DiskFull | SystemIoFailure) =>
            {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Backend(e.to_string()),
        }
    }
}

/// Maps a unique-constraint violation to `AlreadyExists(entity)`.
fn unique_as(entity: Entity) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| {
        let unique = matches!(&e, rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY);
        if unique { StoreError::AlreadyExists(entity) } else { e.into() }
    }
}

/// The user's id, or `NotFound(User)`.
fn user_id_of(conn: &Connection, account_id: &str, name: &str) -> Result<String> {
    conn.prepare_cached("SELECT user_id FROM users WHERE account_id = ? AND name_key = ?")?
        .query_row(params![account_id, name_key(name)], |row| row.get(0))
        .optional()?
        .ok_or(StoreError::NotFound(Entity::User))
}

/// The user, or `NotFound(User)`.
fn user_by_name(conn: &Connection, account_id: &str, name: &str) -> Result<User> {
    conn.prepare_cached(concat!("SELECT ", user_columns!(), " FROM users u WHERE u.account_id = ? AND u.name_key = ?"))?
        .query_row(params![account_id, name_key(name)], |row| user_at(row, 0))
        .optional()?
        .ok_or(StoreError::NotFound(Entity::User))
}

fn count(conn: &Connection, sql: &'static str, arg: &str) -> Result<i64> {
    Ok(conn.prepare_cached(sql)?.query_row([arg], |row| row.get(0))?)
}

fn decode_all<T>(
    conn: &Connection,
    sql: &'static str,
    params: impl rusqlite::Params,
    decode: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut statement = conn.prepare_cached(sql)?;
    let rows = statement.query_map(params, decode)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    use super::*;

    fn user(i: usize) -> User {
        User {
            permissions_boundary: None,
            account_id: "123456789012".into(),
            user_id: format!("AIDA{i:017}"),
            name: format!("user{i}"),
            path: "/".into(),
            created_at: 0,
            password_last_used: None,
            tags: vec![],
        }
    }

    /// Concurrent writers share commits (and so fsyncs), and a failing write in a group leaves
    /// nothing behind while the others in its group commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_commits_and_fail_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("t.db")).await.unwrap());
        store.ensure_account("123456789012", None, 0).await.unwrap();
        let writes: Vec<_> = (0..64)
            .map(|i| {
                let store = store.clone();
                // Every fourth write reuses a name and must fail alone.
                let u = if i % 4 == 3 { User { user_id: format!("AIDADUP{i:014}"), ..user(i - 1) } } else { user(i) };
                tokio::spawn(async move { store.create_user(&u, 5000).await })
            })
            .collect();
        let mut failed = 0;
        for write in writes {
            match write.await.unwrap() {
                Ok(()) => {}
                Err(StoreError::AlreadyExists(Entity::User)) => failed += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(failed, 16);
        assert_eq!(store.account_counts("123456789012").await.unwrap().users, 48);
        let stats = store.engine.stats();
        let (writes, commits) = (stats.writes.load(Ordering::Relaxed), stats.commits.load(Ordering::Relaxed));
        assert_eq!(writes, 65);
        assert!(commits < writes, "{commits} commits for {writes} writes: no grouping");
    }
}
