//! How the embedded store runs SQL: reads on the calling thread from a pool of read-only
//! connections, writes on one writer thread that commits them in groups.
//!
//! **Writes.** SQLite admits one writer at a time, so all writes go to one thread owning the one
//! read-write connection. It takes every write queued so far, runs each inside its own savepoint
//! of a single transaction, and commits that transaction once, with `synchronous = FULL` (the
//! WAL is fsynced before `COMMIT` returns). Only then does it answer the callers: a write is
//! acknowledged only once durable, and writes that arrive while an fsync is running share the
//! next one instead of queueing for one each (group commit). A write that fails rolls back to
//! its savepoint, so it leaves nothing behind and does not disturb the others in its group.
//! Every check-then-write runs inside one job that no other write can interleave with.
//!
//! **Reads.** WAL readers never wait for the writer. A read is a few index lookups in pages
//! that are nearly always in SQLite's or the OS's cache: a few microseconds, less than the cost
//! of handing it to another thread and back (measured in BENCHMARKS.md). So reads run right
//! where they are asked for, on a connection taken from a small pool.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use rusqlite::{Connection, OpenFlags};

use super::migrate;
use crate::{Result, StoreError};

/// Writes taken into one transaction at most; bounds the work lost to one failed commit.
const MAX_GROUP: usize = 256;
/// Writes waiting for the writer at most; more wait to be queued (back-pressure on their
/// requests) instead of piling up in memory while the disk is slow or full.
const MAX_QUEUED: usize = 4096;
/// Idle read connections kept open.
const MAX_IDLE_READERS: usize = 16;
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 64;
/// How long a statement waits for a lock before failing (only checkpoints and start-up
/// recovery take locks a reader can meet).
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) struct Engine {
    path: PathBuf,
    idle_readers: Mutex<Vec<Connection>>,
    writes: tokio::sync::mpsc::Sender<Box<dyn Write>>,
    stats: Arc<WriteStats>,
}

/// What the writer thread observes: counters for tests, histograms for `/metrics`.
pub(super) struct WriteStats {
    pub writes: AtomicU64,
    pub commits: AtomicU64,
    /// Writes per group commit: how much the grouping saves.
    group_size: Histogram,
    /// How long `COMMIT` takes: the WAL's fsync, which every write in the group waits for.
    commit_seconds: Histogram,
}

impl Default for WriteStats {
    fn default() -> Self {
        Self {
            writes: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            // 1, 2, 4 … 256 (MAX_GROUP).
            group_size: Histogram::new(exponential_buckets(1.0, 2.0, 9)),
            // 100 µs (a disk cache that lies) … 1.6 s (a struggling disk).
            commit_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 15)),
        }
    }
}

impl Engine {
    /// Opens (creating if needed) the database file, applies pending migrations and starts the
    /// writer thread. The thread ends when the engine is dropped.
    pub fn open(path: &Path) -> Result<Self> {
        let mut conn = Connection::open(path).map_err(|e| opening(path, e))?;
        configure(&conn)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!("{} cannot use WAL mode (got {mode})", path.display())));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate::apply(&mut conn)?;

        let stats = Arc::new(WriteStats::default());
        let (writes, queue) = tokio::sync::mpsc::channel(MAX_QUEUED);
        let thread_stats = Arc::clone(&stats);
        std::thread::Builder::new()
            .name("iamd-sqlite-writer".into())
            .spawn(move || run_writer(&conn, queue, &thread_stats))
            .map_err(|e| StoreError::Backend(format!("starting the SQLite writer thread: {e}")))?;
        Ok(Self { path: path.to_owned(), idle_readers: Mutex::new(Vec::new()), writes, stats })
    }

    /// Runs `read` on a read-only connection (see the module comment for why on this thread).
    /// Several statements that must agree with each other belong in one [`snapshot`].
    pub fn read<T>(&self, read: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let idle = self.idle_readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open_reader()?,
        };
        let result = read(&conn);
        if !conn.is_autocommit() {
            // A snapshot that failed to end; a fresh connection is cheaper than doubt.
            return result;
        }
        let mut idle = self.idle_readers.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        result
    }

    /// Queues `write` for the writer thread and waits until it is durable (or has failed and
    /// left nothing behind).
    pub async fn write<T, F>(&self, write: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job { work: Some(write), outcome: None, reply };
        self.writes.send(Box::new(job)).await.map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }

    #[cfg(test)]
    pub fn stats(&self) -> &WriteStats {
        &self.stats
    }

    /// The writer's histograms, as `sqlite_group_commit_writes` and `sqlite_commit_seconds`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "sqlite_group_commit_writes",
            "Writes committed together by one SQLite transaction (group commit)",
            self.stats.group_size.clone(),
        );
        registry.register(
            "sqlite_commit_seconds",
            "Time of one SQLite COMMIT, including the fsync of the write-ahead log",
            self.stats.commit_seconds.clone(),
        );
    }

    fn open_reader(&self) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(|e| opening(&self.path, e))?;
        configure(&conn)?;
        Ok(conn)
    }
}

/// Runs `read` inside one read transaction, so all its statements see the same state.
pub(super) fn snapshot<T>(conn: &Connection, read: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    conn.prepare_cached("BEGIN")?.execute([])?;
    let result = read(conn);
    conn.prepare_cached("COMMIT")?.execute([])?;
    result
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

fn opening(path: &Path, e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("opening {}: {e}", path.display()))
}

fn writer_gone() -> StoreError {
    StoreError::Unavailable("the SQLite writer thread has stopped".into())
}

/// A queued write, seen by the writer thread without its result type.
trait Write: Send {
    /// Runs the work inside the open transaction; `true` if its changes are to be kept.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller: `committed` is how the transaction holding the work ended.
    fn answer(self: Box<Self>, committed: Result<()>);
}

struct Job<F, T> {
    work: Option<F>,
    outcome: Option<Result<T>>,
    reply: tokio::sync::oneshot::Sender<Result<T>>,
}

impl<F, T> Write for Job<F, T>
where
    F: FnOnce(&Connection) -> Result<T> + Send,
    T: Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else { return false };
        let outcome = catch_unwind(AssertUnwindSafe(|| work(conn)))
            .unwrap_or_else(|_| Err(StoreError::Backend("a write panicked; rolled back".into())));
        let keep = outcome.is_ok();
        self.outcome = Some(outcome);
        keep
    }

    fn answer(self: Box<Self>, committed: Result<()>) {
        let answer = match (committed, self.outcome) {
            (Ok(()), Some(outcome)) => outcome,
            (Ok(()), None) => Err(StoreError::Backend("write was not run".into())),
            (Err(e), _) => Err(e),
        };
        // The caller may have gone away (request cancelled); the write stands either way.
        let _ = self.reply.send(answer);
    }
}

fn run_writer(conn: &Connection, mut queue: tokio::sync::mpsc::Receiver<Box<dyn Write>>, stats: &WriteStats) {
    while let Some(first) = queue.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        stats.writes.fetch_add(group.len() as u64, Ordering::Relaxed);
        stats.group_size.observe(group.len() as f64);
        commit_group(conn, group, stats);
    }
}

/// Runs a group of writes in one transaction and answers each once it is committed.
fn commit_group(conn: &Connection, group: Vec<Box<dyn Write>>, stats: &WriteStats) {
    if group.is_empty() {
        return;
    }
    let mut pending = group.into_iter();
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        let e = StoreError::from(e);
        pending.for_each(|write| write.answer(Err(e.clone())));
        return;
    }
    let mut done: Vec<Box<dyn Write>> = Vec::new();
    while let Some(mut write) = pending.next() {
        let kept = match exec(conn, "SAVEPOINT write") {
            Ok(()) => write.run(conn),
            Err(_) => false,
        };
        let abandoned = if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (I/O error, disk full, …).
            Some(StoreError::Unavailable("the transaction was rolled back by SQLite".into()))
        } else {
            let settled = if kept {
                exec(conn, "RELEASE write")
            } else {
                exec(conn, "ROLLBACK TO write").and_then(|()| exec(conn, "RELEASE write"))
            };
            settled.err().map(|e| {
                tracing::error!(error = %e, "settling a savepoint failed; abandoning the transaction");
                let _ = exec(conn, "ROLLBACK");
                StoreError::from(e)
            })
        };
        if let Some(e) = abandoned {
            // Nothing of this group is kept: tell those that ran, then start over with the rest.
            done.into_iter().for_each(|w| w.answer(Err(e.clone())));
            write.answer(Err(e));
            return commit_group(conn, pending.collect(), stats);
        }
        done.push(write);
    }
    let started = Instant::now();
    let committed = exec(conn, "COMMIT").map_err(StoreError::from);
    stats.commit_seconds.observe(started.elapsed().as_secs_f64());
    if committed.is_err() {
        let _ = exec(conn, "ROLLBACK");
    }
    stats.commits.fetch_add(1, Ordering::Relaxed);
    done.into_iter().for_each(|write| write.answer(committed.clone()));
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}
