//! Where log lines go: stderr, written in batches.
//!
//! Every API and console request writes one `request` line. Written one `write(2)` per line,
//! those writes cost a quarter of GetUser's throughput at 64 connections on a 2-core machine
//! (BENCHMARKS.md, "The access log"). Lines are therefore appended to a buffer in memory and a
//! thread of their own writes what has gathered, at most [`BATCH_WINDOW`] after the first line
//! of a batch: under load one write carries hundreds of lines, and a quiet server's line still
//! shows up within milliseconds. Warnings and errors are written out at once, with everything
//! before them (so the order is kept), and so is everything at a clean exit ([`FlushOnDrop`]).
//! What a SIGKILL can lose is the last [`BATCH_WINDOW`] of info lines.
//!
//! Written here rather than taken from `tracing-appender`: its non-blocking writer sends every
//! line through a channel to a worker that wakes for it, which on a busy core costs about what
//! the write it saves; what pays is a batching window, which it does not have.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// How long the writer thread lets lines gather after the first one of a batch.
pub const BATCH_WINDOW: Duration = Duration::from_millis(5);
/// Past this many buffered bytes (stderr not keeping up), the line's own writer writes the
/// batch out itself: memory stays bounded and the pressure reaches the requests.
const MAX_BUFFERED: usize = 1 << 20;

/// Sets up the process's logging: `IAMD_LOG` filters (default `info`), `format` shapes the
/// lines. With `batched`, lines go through a [`BatchedStderr`], kept until the returned guard
/// is dropped; otherwise straight to stderr (the short-lived subcommands).
pub fn init(format: LogFormat, batched: bool) -> Option<FlushOnDrop> {
    if !batched {
        install(format, std::io::stderr);
        return None;
    }
    let writer = BatchedStderr::start();
    install(format, writer.clone());
    Some(FlushOnDrop(writer))
}

/// Installs the process's subscriber writing through `writer`.
fn install<W: for<'w> MakeWriter<'w> + Send + Sync + 'static>(format: LogFormat, writer: W) {
    let filter = EnvFilter::try_from_env("IAMD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
        // Event fields at the top level; the request span (its id) under "span".
        LogFormat::Json => logs.json().flatten_event(true).with_current_span(true).with_span_list(false).init(),
    }
}

/// Writes out whatever is still buffered when dropped (at the end of `main`).
pub struct FlushOnDrop(BatchedStderr);

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        self.0.shared.flush_now(self.0.shared.lock());
    }
}

/// A [`MakeWriter`] whose lines reach stderr in batches; see the module documentation.
#[derive(Clone)]
pub struct BatchedStderr {
    shared: Arc<Shared>,
}

/// Where batches go: stderr, or a recorder in tests.
type Sink = Box<dyn Fn(&[u8]) + Send + Sync>;

struct Shared {
    buffer: Mutex<Vec<u8>>,
    /// Signalled when a line lands in an empty buffer.
    filled: Condvar,
    sink: Sink,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // A writer that panicked mid-append leaves at worst a partial line: keep logging.
        self.buffer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes the buffer out while holding its lock, so no later line can overtake it.
    fn flush_now(&self, mut buffer: MutexGuard<'_, Vec<u8>>) {
        if !buffer.is_empty() {
            (self.sink)(&buffer);
            buffer.clear();
        }
    }
}

impl BatchedStderr {
    /// Starts the writer thread, writing to stderr.
    pub fn start() -> Self {
        Self::start_with(Box::new(|bytes| {
            // Nowhere to report a failing stderr; the lines are dropped, as unbuffered ones would be.
            let _ = std::io::stderr().lock().write_all(bytes);
        }))
    }

    fn start_with(sink: Sink) -> Self {
        let shared = Arc::new(Shared { buffer: Mutex::new(Vec::new()), filled: Condvar::new(), sink });
        let thread_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("iamd-log".into())
            .spawn(move || write_batches(&thread_shared))
            .expect("starting the log writer thread");
        Self { shared }
    }
}

/// The writer thread: waits for a first line, lets more gather for [`BATCH_WINDOW`], writes them
/// all with one call, again. The batch is swapped out under the lock and written outside it, so
/// request threads never wait for stderr (unless the buffer is full).
fn write_batches(shared: &Shared) {
    let mut batch = Vec::new();
    loop {
        {
            let mut buffer = shared.lock();
            while buffer.is_empty() {
                buffer = shared.filled.wait(buffer).unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        }
        std::thread::sleep(BATCH_WINDOW);
        let mut buffer = shared.lock();
        std::mem::swap(&mut *buffer, &mut batch);
        // Holding the lock while writing keeps the order with a warning's immediate write.
        if !batch.is_empty() {
            (shared.sink)(&batch);
        }
        drop(buffer);
        batch.clear();
    }
}

/// One event's writer: appends what the formatter writes; for a warning or an error, writes
/// everything out when the event is done.
pub struct LineWriter<'a> {
    shared: &'a Shared,
    urgent: bool,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut buffer = self.shared.lock();
        let was_empty = buffer.is_empty();
        buffer.extend_from_slice(bytes);
        if buffer.len() >= MAX_BUFFERED {
            self.shared.flush_now(buffer);
        } else if was_empty && !self.urgent {
            drop(buffer);
            self.shared.filled.notify_one();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter<'_> {
    fn drop(&mut self) {
        if self.urgent {
            self.shared.flush_now(self.shared.lock());
        }
    }
}

impl<'a> MakeWriter<'a> for BatchedStderr {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter { shared: &self.shared, urgent: false }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        LineWriter { shared: &self.shared, urgent: *meta.level() <= Level::WARN }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// A writer whose sink records each write call.
    fn recording() -> (BatchedStderr, Arc<Mutex<Vec<Vec<u8>>>>) {
        let writes = Arc::new(Mutex::new(Vec::new()));
        let sink_writes = Arc::clone(&writes);
        let writer = BatchedStderr::start_with(Box::new(move |bytes| sink_writes.lock().unwrap().push(bytes.to_vec())));
        (writer, writes)
    }

    fn write_line(writer: &BatchedStderr, urgent: bool, line: &str) {
        let mut w = LineWriter { shared: &writer.shared, urgent };
        w.write_all(line.as_bytes()).unwrap();
    }

    fn wait_for(writes: &Mutex<Vec<Vec<u8>>>, total: usize) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let seen = writes.lock().unwrap().clone();
            if seen.iter().map(Vec::len).sum::<usize>() >= total || Instant::now() > deadline {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn lines_written_together_leave_in_one_write_in_order() {
        let (writer, writes) = recording();
        let lines: Vec<String> = (0..200).map(|i| format!("line {i}\n")).collect();
        for line in &lines {
            write_line(&writer, false, line);
        }
        let seen = wait_for(&writes, lines.concat().len());
        assert_eq!(seen.concat(), lines.concat().into_bytes());
        // Unbatched, that would be 200 writes; a loaded machine may split the batch a few times.
        assert!(seen.len() < 20, "{} writes for 200 lines written within the window", seen.len());
    }

    #[test]
    fn a_lone_line_is_written_within_the_window() {
        let (writer, writes) = recording();
        let started = Instant::now();
        write_line(&writer, false, "alone\n");
        let seen = wait_for(&writes, 6);
        assert_eq!(seen, vec![b"alone\n".to_vec()]);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_warning_is_written_at_once_after_the_lines_before_it() {
        let (writer, writes) = recording();
        write_line(&writer, false, "info\n");
        write_line(&writer, true, "warn\n");
        // No waiting: the warning's writer wrote when it was dropped.
        let seen = writes.lock().unwrap().concat();
        assert_eq!(seen, b"info\nwarn\n".to_vec());
    }

    #[test]
    fn dropping_the_guard_writes_what_is_left() {
        let (writer, writes) = recording();
        write_line(&writer, false, "last words\n");
        drop(FlushOnDrop(writer));
        assert_eq!(writes.lock().unwrap().concat(), b"last words\n".to_vec());
    }

    #[test]
    fn a_full_buffer_is_written_by_the_line_that_fills_it() {
        let (writer, writes) = recording();
        let big = "x".repeat(MAX_BUFFERED);
        write_line(&writer, false, &big);
        assert_eq!(writes.lock().unwrap().concat().len(), MAX_BUFFERED);
    }
}
