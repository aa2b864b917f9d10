//! Moving an embedded database into an empty PostgreSQL database (`iamd migrate`).
//!
//! Both backends keep the same tables with the same columns (every migration exists once per
//! backend), so the copy needs no knowledge of what the tables mean: PostgreSQL's catalog says
//! which tables exist, what type each column has and which tables reference which, and every row
//! is copied as it is. Sealed secrets stay sealed (the same master key opens them), devices keep
//! their sync state and last accepted step (a code used before the move is refused after it), and
//! the audit trail keeps its ids. The whole copy is one PostgreSQL transaction read from one
//! SQLite snapshot: a failure leaves the target as empty as it was.

use std::path::Path;

use rusqlite::types::Value;
use sqlx::{AssertSqlSafe, PgConnection, Row};

use crate::postgres::db;
use crate::sqlite::backup::{open_read_only, table_names};
use crate::{PgStore, Result, SqliteStore, StoreError};

/// Rows read from SQLite and written to PostgreSQL at a time.
const BATCH: i64 = 2_000;

/// Copies every row of the embedded database at `sqlite` into the PostgreSQL database at `url`,
/// which must hold no rows (its schema is created or brought up to date first). Returns each
/// table with the number of rows copied, after checking that the target now holds exactly as
/// many as the source.
///
/// Stop iamd first: the copy is one consistent snapshot, and what a running server writes after
/// it is not copied.
pub async fn copy_sqlite_to_postgres(sqlite: &Path, url: &str) -> Result<Vec<(String, u64)>> {
    if !sqlite.is_file() {
        return Err(StoreError::Backend(format!("{}: no database here", sqlite.display())));
    }
    // Opening as a store brings a file written by an older iamd up to the current schema.
    drop(SqliteStore::open(sqlite).await?);
    let target = PgStore::connect(url).await?;
    let mut tx = target.pool().begin().await.map_err(db)?;
    let tables = target_tables(&mut tx).await?;
    for table in &tables {
        let rows: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM \"{}\"", table.name)))
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        if rows > 0 {
            return Err(StoreError::Backend(format!(
                "the target database is not empty (table {} has {rows} rows); migrate into a new database",
                table.name
            )));
        }
    }

    let source = open_read_only(sqlite)?;
    source.execute_batch("BEGIN")?;
    let source_tables = table_names(&source)?;
    let mut missing: Vec<&str> =
        tables.iter().map(|t| t.name.as_str()).filter(|t| !source_tables.iter().any(|s| s == t)).collect();
    missing.extend(source_tables.iter().map(String::as_str).filter(|s| !tables.iter().any(|t| t.name == *s)));
    if !missing.is_empty() {
        return Err(StoreError::Backend(format!(
            "the two schemas differ (tables only on one side: {}); use the same iamd version for both",
            missing.join(", ")
        )));
    }

    let mut copied = Vec::with_capacity(tables.len());
    for table in &tables {
        let rows = copy_table(&source, &mut tx, table).await?;
        let landed: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM \"{}\"", table.name)))
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        if landed as u64 != rows {
            return Err(StoreError::Backend(format!(
                "table {}: read {rows} rows but the target holds {landed}; nothing was committed",
                table.name
            )));
        }
        copied.push((table.name.clone(), rows));
    }
    tx.commit().await.map_err(db)?;
    // Planner statistics for the rows just landed: without them PostgreSQL plans from empty
    // tables until autovacuum gets round to them, and that analysis then runs under load.
    sqlx::query("ANALYZE").execute(target.pool()).await.map_err(db)?;
    target.close().await;
    copied.sort();
    Ok(copied)
}

/// How a column's values travel.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    Integer,
    Bytes,
    Boolean,
}

impl Kind {
    fn of(data_type: &str) -> Option<(Kind, &'static str)> {
        Some(match data_type {
            "text" => (Kind::Text, "text[]"),
            "bigint" | "integer" | "smallint" => (Kind::Integer, "bigint[]"),
            "bytea" => (Kind::Bytes, "bytea[]"),
            "boolean" => (Kind::Boolean, "boolean[]"),
            _ => return None,
        })
    }
}

struct Column {
    name: String,
    kind: Kind,
    array_type: &'static str,
    identity: bool,
}

struct Table {
    name: String,
    columns: Vec<Column>,
}

/// The target's tables, each after every table it references, so rows can be inserted with
/// every foreign key checked as it goes.
async fn target_tables(conn: &mut PgConnection) -> Result<Vec<Table>> {
    let columns = sqlx::query(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text, c.is_identity::text \
         FROM information_schema.columns c JOIN information_schema.tables t \
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
           AND c.table_name <> '_sqlx_migrations' \
         ORDER BY c.table_name, c.ordinal_position",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let mut tables: Vec<Table> = Vec::new();
    for row in columns {
        let (table, name, data_type, identity): (String, String, String, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let (kind, array_type) = Kind::of(&data_type).ok_or_else(|| {
            StoreError::Backend(format!("{table}.{name}: column type {data_type} is not one iamd copies"))
        })?;
        let column = Column { name, kind, array_type, identity: identity == "YES" };
        match tables.last_mut() {
            Some(last) if last.name == table => last.columns.push(column),
            _ => tables.push(Table { name: table, columns: vec![column] }),
        }
    }
    let references: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c \
         JOIN pg_namespace n ON n.oid = c.connamespace \
         WHERE c.contype = 'f' AND n.nspname = current_schema()",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let mut ordered: Vec<Table> = Vec::with_capacity(tables.len());
    while !tables.is_empty() {
        let ready = tables.iter().position(|t| {
            references
                .iter()
                .filter(|(from, to)| *from == t.name && *to != t.name)
                .all(|(_, to)| ordered.iter().any(|o| o.name == *to))
        });
        let Some(ready) = ready else {
            return Err(StoreError::Backend("the target's foreign keys form a cycle".into()));
        };
        ordered.push(tables.remove(ready));
    }
    Ok(ordered)
}

/// One column's values of a batch, typed for PostgreSQL.
enum Values {
    Text(Vec<Option<String>>),
    Integer(Vec<Option<i64>>),
    Bytes(Vec<Option<Vec<u8>>>),
    Boolean(Vec<Option<bool>>),
}

/// Copies one table in batches ordered by rowid; returns the number of rows copied.
async fn copy_table(source: &rusqlite::Connection, target: &mut PgConnection, table: &Table) -> Result<u64> {
    let names = table.columns.iter().map(|c| format!("\"{}\"", c.name)).collect::<Vec<_>>().join(", ");
    let select = format!("SELECT rowid, {names} FROM \"{}\" WHERE rowid > ?1 ORDER BY rowid LIMIT ?2", table.name);
    let unnest = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("${}::{}", i + 1, c.array_type))
        .collect::<Vec<_>>()
        .join(", ");
    let identity = table.columns.iter().find(|c| c.identity);
    let overriding = if identity.is_some() { " OVERRIDING SYSTEM VALUE" } else { "" };
    let insert = format!("INSERT INTO \"{}\" ({names}){overriding} SELECT * FROM UNNEST({unnest})", table.name);

    let mut after = i64::MIN;
    let mut copied = 0u64;
    loop {
        let (rowids, batch) = read_batch(source, &select, table, after)?;
        let Some(&last) = rowids.last() else { break };
        after = last;
        copied += rowids.len() as u64;
        let mut query = sqlx::query(AssertSqlSafe(insert.clone()));
        for values in batch {
            query = match values {
                Values::Text(v) => query.bind(v),
                Values::Integer(v) => query.bind(v),
                Values::Bytes(v) => query.bind(v),
                Values::Boolean(v) => query.bind(v),
            };
        }
        query.execute(&mut *target).await.map_err(db)?;
    }
    if let Some(column) = identity {
        // New rows must get ids after every copied one, including ids SQLite handed out to rows
        // that are gone since (its AUTOINCREMENT never reuses them either).
        let used: i64 = source
            .query_row("SELECT seq FROM sqlite_sequence WHERE name = ?1", [&table.name], |row| row.get(0))
            .unwrap_or(0);
        sqlx::query(AssertSqlSafe(format!(
            "SELECT setval(pg_get_serial_sequence('\"{t}\"', '{c}'), GREATEST($1, (SELECT COALESCE(max(\"{c}\"), 0) FROM \"{t}\"), 1))",
            t = table.name,
            c = column.name
        )))
        .bind(used)
        .execute(&mut *target)
        .await
        .map_err(db)?;
    }
    Ok(copied)
}

fn read_batch(
    source: &rusqlite::Connection,
    select: &str,
    table: &Table,
    after: i64,
) -> Result<(Vec<i64>, Vec<Values>)> {
    let mut batch: Vec<Values> = table
        .columns
        .iter()
        .map(|c| match c.kind {
            Kind::Text => Values::Text(Vec::new()),
            Kind::Integer => Values::Integer(Vec::new()),
            Kind::Bytes => Values::Bytes(Vec::new()),
            Kind::Boolean => Values::Boolean(Vec::new()),
        })
        .collect();
    let mut rowids = Vec::new();
    let mut statement = source.prepare_cached(select)?;
    let mut rows = statement.query(rusqlite::params![after, BATCH])?;
    while let Some(row) = rows.next()? {
        let rowid: i64 = row.get(0)?;
        for (i, (column, values)) in table.columns.iter().zip(batch.iter_mut()).enumerate() {
            let value: Value = row.get(i + 1)?;
            let unexpected = |value: &Value| {
                StoreError::Backend(format!(
                    "{}.{} (rowid {rowid}): a {:?} value where PostgreSQL wants {:?}",
                    table.name,
                    column.name,
                    value.data_type(),
                    column.kind
                ))
            };
            match (values, value) {
                (Values::Text(v), Value::Null) => v.push(None),
                (Values::Integer(v), Value::Null) => v.push(None),
                (Values::Bytes(v), Value::Null) => v.push(None),
                (Values::Boolean(v), Value::Null) => v.push(None),
                (Values::Text(v), Value::Text(s)) => v.push(Some(s)),
                (Values::Integer(v), Value::Integer(n)) => v.push(Some(n)),
                (Values::Boolean(v), Value::Integer(n)) => v.push(Some(n != 0)),
                (Values::Bytes(v), Value::Blob(b)) => v.push(Some(b)),
                (Values::Bytes(v), Value::Text(s)) => v.push(Some(s.into_bytes())),
                (_, other) => return Err(unexpected(&other)),
            }
        }
        rowids.push(rowid);
    }
    Ok((rowids, batch))
}
