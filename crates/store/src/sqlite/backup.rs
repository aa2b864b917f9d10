//! Copies of the embedded database taken while iamd serves it, and the checks a copy passes
//! before it is put back in place.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::engine::BUSY_TIMEOUT;
use super::migrate::SCHEMA_VERSION;
use crate::{Result, StoreError};

/// What a database file holds, as read from the file itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseFile {
    /// The number of migrations applied (`PRAGMA user_version`).
    pub schema_version: i64,
    /// The `meta` table: start-up checks such as the sealed master-key check.
    pub meta: Vec<(String, Vec<u8>)>,
    /// Every table with its number of rows, by table name.
    pub rows: Vec<(String, u64)>,
}

impl DatabaseFile {
    /// The rows of one table (0 for a table the file lacks).
    pub fn count(&self, table: &str) -> u64 {
        self.rows.iter().find(|(name, _)| name == table).map_or(0, |(_, n)| *n)
    }

    pub fn meta(&self, name: &str) -> Option<&[u8]> {
        self.meta.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }
}

/// Writes a consistent copy of the database at `db` to the new file `out` (mode 0600: it holds
/// sealed secrets and password hashes) and checks the copy.
///
/// `VACUUM INTO` reads one snapshot on a read-only connection of its own, so the server may go
/// on serving: in WAL mode neither waits for the other, and the copy is the database as of one
/// commit, compacted. An existing `out` is never overwritten.
pub fn copy_database(db: &Path, out: &Path) -> Result<DatabaseFile> {
    let io = |what: &Path, e: std::io::Error| StoreError::Backend(format!("{}: {e}", what.display()));
    if !db.is_file() {
        return Err(StoreError::Backend(format!("{}: no database here", db.display())));
    }
    let target = OpenOptions::new().write(true).create_new(true).mode(0o600).open(out).map_err(|e| io(out, e))?;
    let copied = (|| {
        let source = open_read_only(db)?;
        let out_name =
            out.to_str().ok_or_else(|| StoreError::Backend(format!("{}: the path is not UTF-8", out.display())))?;
        source.execute("VACUUM INTO ?1", [out_name])?;
        // VACUUM INTO does not sync what it wrote; a backup that a crash can tear is no backup.
        target.sync_all().map_err(|e| io(out, e))?;
        inspect_database(out)
    })();
    if copied.is_err() {
        let _ = std::fs::remove_file(out);
    }
    copied
}

/// Reads what a database file holds after checking that it is a sound iamd database that this
/// build can serve: SQLite's integrity check passes and its schema is not newer than this build's.
pub fn inspect_database(path: &Path) -> Result<DatabaseFile> {
    let conn = open_read_only(path)?;
    let not_iamd = |why: String| StoreError::Backend(format!("{} is not a sound iamd database: {why}", path.display()));
    let integrity: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect())
        .map_err(|e| not_iamd(e.to_string()))?;
    if integrity != ["ok"] {
        return Err(not_iamd(integrity.join("; ")));
    }
    let schema_version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if schema_version == 0 {
        return Err(not_iamd("it has no iamd schema".into()));
    }
    if schema_version > SCHEMA_VERSION {
        return Err(not_iamd(format!(
            "its schema version {schema_version} is newer than this build of iamd knows ({SCHEMA_VERSION})"
        )));
    }
    let meta = conn
        .prepare("SELECT name, value FROM meta ORDER BY name")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let tables = table_names(&conn)?;
    let mut rows = Vec::with_capacity(tables.len());
    for table in tables {
        let n: i64 = conn.query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |row| row.get(0))?;
        rows.push((table, n as u64));
    }
    Ok(DatabaseFile { schema_version, meta, rows })
}

/// iamd's tables in the file, by name (neither SQLite's own nor an old sqlx migration log).
pub(crate) fn table_names(conn: &Connection) -> Result<Vec<String>> {
    Ok(conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> '_sqlx_migrations' ORDER BY name",
        )?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

/// A connection that never writes to the database file.
pub(crate) fn open_read_only(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| StoreError::Backend(format!("opening {}: {e}", path.display())))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;
    use crate::prelude::*;

    const ACCOUNT: &str = "123456789012";

    async fn store_with_a_user(dir: &Path) -> SqliteStore {
        let store = SqliteStore::open(&dir.join("iamd.db")).await.unwrap();
        store.ensure_account(ACCOUNT, None, 1).await.unwrap();
        store.put_meta_if_absent("check", b"sealed").await.unwrap();
        store
    }

    #[tokio::test]
    async fn a_copy_taken_while_the_store_is_open_holds_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_a_user(dir.path()).await;
        let out = dir.path().join("backup.db");

        let copy = copy_database(&dir.path().join("iamd.db"), &out).unwrap();

        assert_eq!(copy.count("accounts"), 1);
        assert_eq!(copy.meta("check"), Some(&b"sealed"[..]));
        assert_eq!(copy.schema_version, SCHEMA_VERSION);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
        // The store goes on working, and the copy opens as a store of its own.
        store.ensure_account("210987654321", None, 2).await.unwrap();
        let reopened = SqliteStore::open(&out).await.unwrap();
        assert_eq!(reopened.accounts().await.unwrap(), vec![ACCOUNT.to_string()]);
    }

    #[tokio::test]
    async fn an_existing_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let _store = store_with_a_user(dir.path()).await;
        let out = dir.path().join("backup.db");
        std::fs::write(&out, b"keep me").unwrap();

        assert!(copy_database(&dir.path().join("iamd.db"), &out).is_err());
        assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    }

    #[tokio::test]
    async fn a_missing_database_leaves_no_file_behind() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("backup.db");
        assert!(copy_database(&dir.path().join("nothing.db"), &out).is_err());
        assert!(!out.exists());
    }

    #[test]
    fn files_that_are_not_sound_iamd_databases_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.db");
        std::fs::write(&garbage, vec![7u8; 8192]).unwrap();
        assert!(inspect_database(&garbage).is_err());

        let foreign = dir.path().join("foreign.db");
        Connection::open(&foreign).unwrap().execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);").unwrap();
        let message = inspect_database(&foreign).unwrap_err().to_string();
        assert!(message.contains("no iamd schema"), "{message}");

        let newer = dir.path().join("newer.db");
        let conn = Connection::open(&newer).unwrap();
        conn.execute_batch("CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);").unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        drop(conn);
        let message = inspect_database(&newer).unwrap_err().to_string();
        assert!(message.contains("newer than this build"), "{message}");
    }
}
