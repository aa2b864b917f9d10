//! The operator's commands beside `serve`: `backup` and `restore` of the embedded database,
//! `migrate` from it to PostgreSQL, `audit` to read the audit trail, and `health` for
//! container health checks. Each prints
//! what it did for a person to read and fails with a message saying what to do instead.

use std::fs;
use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use iamd_store::prelude::*;
use iamd_store::{AuthEvent, AuthEventQuery, ChangeEvent, DatabaseFile, SqliteStore};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::data_dir::{DATABASE_FILE, KEY_CHECK, MASTER_KEY_FILE, existing_master_key, opens_key_check, private_dir};
use crate::wire::shapes::timestamp;

#[derive(Args)]
pub struct BackupArgs {
    /// The data directory of the iamd to back up (it may be serving).
    #[arg(long, env = "IAMD_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The backup file to write (must not exist).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// A file written by `iamd backup`.
    #[arg(long)]
    pub from: PathBuf,
    /// The data directory to restore into; it must hold no database.
    #[arg(long, env = "IAMD_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The master key the backup's secrets were sealed with (default: `master.key` in the data
    /// directory).
    #[arg(long, env = "IAMD_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
}

#[derive(Args)]
pub struct MigrateArgs {
    /// The data directory of the embedded store to move (stop iamd first).
    #[arg(long)]
    pub from: PathBuf,
    /// The PostgreSQL database to move it into (`postgres://…`); it must hold no rows.
    #[arg(long, env = "IAMD_MIGRATE_TO", hide_env_values = true)]
    pub to: String,
    /// The master key the data is sealed with (default: `master.key` in the data directory).
    #[arg(long, env = "IAMD_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
}

#[derive(Args)]
#[command(group = clap::ArgGroup::new("storage").required(true).args(["data_dir", "database_url"]))]
pub struct AuditArgs {
    /// The data directory of an embedded store.
    #[arg(long, env = "IAMD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// A shared database (`postgres://…`).
    #[arg(long, env = "IAMD_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Events at or after this time: RFC 3339 (`2026-12-01T08:00:00Z`) or an age (`90m`, `24h`,
    /// `7d`).
    #[arg(long, value_parser = parse_since)]
    pub since: Option<i64>,
    /// Only this user's events, without regard to case: sign-ins under that name (as typed),
    /// and calls the user made or that named the user.
    #[arg(long)]
    pub user: Option<String>,
    /// The account (default: the one the store serves).
    #[arg(long)]
    pub account_id: Option<String>,
    /// Events at most, newest first (sign-in checks and calls together).
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    #[arg(long, value_enum, default_value_t = AuditFormat::Text)]
    pub format: AuditFormat,
}

#[derive(Args)]
pub struct HealthArgs {
    /// The address iamd serves on (an unspecified address such as 0.0.0.0 is asked on loopback).
    #[arg(long, env = "IAMD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum AuditFormat {
    /// One aligned line per event.
    Text,
    /// One JSON object per line.
    Json,
}

/// `iamd backup`: a consistent copy of a (possibly serving) embedded database.
pub fn backup(args: &BackupArgs) -> anyhow::Result<()> {
    let copy = iamd_store::copy_database(&args.data_dir.join(DATABASE_FILE), &args.out)?;
    println!("Backed up {} to {}: {}.", args.data_dir.display(), args.out.display(), contents(&copy));
    println!(
        "The backup holds secrets sealed with the master key ({}), which it does not contain: \
         keep a copy of the key apart from the backups, or the backups cannot be restored.",
        args.data_dir.join(MASTER_KEY_FILE).display()
    );
    Ok(())
}

/// `iamd restore`: puts a backup in place as the data directory's database, after checking it
/// is sound and that the master key opens its secrets.
pub fn restore(args: &RestoreArgs) -> anyhow::Result<()> {
    private_dir(&args.data_dir)?;
    let database = args.data_dir.join(DATABASE_FILE);
    for companion in ["", "-wal", "-shm"] {
        let mut path = database.clone().into_os_string();
        path.push(companion);
        if Path::new(&path).exists() {
            bail!(
                "{} already holds a database ({}); stop iamd and move iamd.db, iamd.db-wal and iamd.db-shm away first",
                args.data_dir.display(),
                Path::new(&path).display()
            );
        }
    }
    let backup = iamd_store::inspect_database(&args.from)?;
    let Some(key) = existing_master_key(args.master_key.as_deref(), Some(&args.data_dir))? else {
        bail!(
            "restoring needs the master key the backup was sealed with: put it in {} (mode 0600) \
             or give it in IAMD_MASTER_KEY",
            args.data_dir.join(MASTER_KEY_FILE).display()
        );
    };
    match backup.meta(KEY_CHECK) {
        Some(sealed) if opens_key_check(&key, sealed) => {}
        Some(_) => bail!("the master key does not open this backup's secrets; find the key it was made with"),
        None => bail!("{} holds no master-key check: it was not written by a running iamd", args.from.display()),
    }
    // Copied under a temporary name and renamed, so a crash never leaves half a database that
    // iamd would start on.
    let partial = args.data_dir.join(format!("{DATABASE_FILE}.restoring"));
    let _ = fs::remove_file(&partial);
    let mut target = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let mut source = fs::File::open(&args.from).with_context(|| format!("reading {}", args.from.display()))?;
    std::io::copy(&mut source, &mut target).with_context(|| format!("writing {}", partial.display()))?;
    target.flush()?;
    target.sync_all()?;
    fs::rename(&partial, &database)?;
    fs::File::open(&args.data_dir)?.sync_all()?;
    println!("Restored {} into {}: {}.", args.from.display(), args.data_dir.display(), contents(&backup));
    Ok(())
}

/// `iamd migrate`: moves an embedded store into an empty PostgreSQL database.
pub async fn migrate(args: &MigrateArgs) -> anyhow::Result<()> {
    let database = args.from.join(DATABASE_FILE);
    let source = iamd_store::inspect_database(&database)?;
    let Some(key) = existing_master_key(args.master_key.as_deref(), Some(&args.from))? else {
        bail!("no master key: {} is missing; give it in IAMD_MASTER_KEY", args.from.join(MASTER_KEY_FILE).display());
    };
    if !source.meta(KEY_CHECK).is_some_and(|sealed| opens_key_check(&key, sealed)) {
        bail!("the master key does not open {}'s secrets; the moved data would be unusable", database.display());
    }
    let copied =
        iamd_store::copy_sqlite_to_postgres(&database, &args.to).await.context("nothing was written to PostgreSQL")?;
    let total: u64 = copied.iter().map(|(_, n)| n).sum();
    println!("Moved {total} rows from {} into PostgreSQL:", database.display());
    for (table, rows) in copied.iter().filter(|(_, n)| *n > 0) {
        println!("  {table:<32} {rows:>10}");
    }
    println!(
        "Serve it with `iamd serve --database-url <the same URL>` and IAMD_MASTER_KEY set to the \
         contents of {} (every node the same). Devices, keys and passwords keep working; nobody \
         re-enrols.",
        args.from.join(MASTER_KEY_FILE).display()
    );
    Ok(())
}

/// `iamd audit`: the audit trail, newest first — sign-in and MFA checks (console sign-ins, STS
/// sessions with a code) and calls (changes, refusals) merged by time.
pub async fn audit(args: &AuditArgs) -> anyhow::Result<()> {
    let store: std::sync::Arc<dyn Store> = match (&args.database_url, &args.data_dir) {
        (Some(url), _) => iamd_store::open(url).await?,
        (None, Some(dir)) => {
            let database = dir.join(DATABASE_FILE);
            if !database.is_file() {
                bail!("{}: no database here", database.display());
            }
            std::sync::Arc::new(SqliteStore::open(&database).await?)
        }
        (None, None) => unreachable!("clap requires --data-dir or --database-url"),
    };
    let account_id = match &args.account_id {
        Some(account) => account.clone(),
        None => store.accounts().await?.into_iter().next().context("the store serves no account yet")?,
    };
    let query = AuthEventQuery {
        account_id,
        since: args.since.unwrap_or(i64::MIN),
        user_name: args.user.clone(),
        limit: args.limit,
    };
    let checks = store.auth_events(&query).await?;
    let calls = store.change_events(&query).await?;
    let mut out = std::io::stdout().lock();
    for event in newest_first(checks, calls, args.limit as usize) {
        let line = match args.format {
            AuditFormat::Json => event.json().to_string(),
            AuditFormat::Text => event.text(),
        };
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// One line of `iamd audit`.
enum AuditEvent {
    Check(AuthEvent),
    Call(ChangeEvent),
}

/// Both lists (each newest first) merged newest first, `limit` at most. Within one second a call
/// comes before a check: a refused GetSessionToken's call is recorded after its code check.
fn newest_first(checks: Vec<AuthEvent>, calls: Vec<ChangeEvent>, limit: usize) -> Vec<AuditEvent> {
    let mut events: Vec<AuditEvent> =
        calls.into_iter().map(AuditEvent::Call).chain(checks.into_iter().map(AuditEvent::Check)).collect();
    // Stable: each list keeps its own (newest first) order within a second.
    events.sort_by_key(|e| std::cmp::Reverse(e.at()));
    events.truncate(limit);
    events
}

impl AuditEvent {
    fn at(&self) -> i64 {
        match self {
            AuditEvent::Check(e) => e.at,
            AuditEvent::Call(e) => e.at,
        }
    }

    fn json(&self) -> serde_json::Value {
        let at = timestamp(self.at());
        match self {
            AuditEvent::Check(e) => serde_json::json!({
                "event": "sign-in",
                "at": at,
                "account_id": e.account_id,
                "user_name": e.user_name,
                "source": e.source,
                "kind": e.kind,
                "mfa_used": e.mfa_used,
                "outcome": e.outcome,
                "reason": e.reason,
            }),
            AuditEvent::Call(e) => serde_json::json!({
                "event": "call",
                "at": at,
                "account_id": e.account_id,
                "request_id": e.request_id,
                "caller": e.caller_arn,
                "caller_user": e.caller_user,
                "action": e.action,
                "target": e.target,
                "target_user": e.target_user,
                "source": e.source,
                "origin": e.origin,
                "outcome": e.outcome,
            }),
        }
    }

    /// Aligned columns: time, outcome, what, whom, then the details.
    fn text(&self) -> String {
        let at = timestamp(self.at());
        match self {
            AuditEvent::Check(e) => format!(
                "{at}  {:<7}  {:<24}  {:<24}  {}  from {}{}",
                e.outcome,
                e.kind,
                e.user_name,
                if e.mfa_used { "mfa   " } else { "no-mfa" },
                e.source,
                if e.reason.is_empty() { String::new() } else { format!("  ({})", e.reason) }
            ),
            AuditEvent::Call(e) => format!(
                "{at}  {:<7}  {:<24}  {:<24}  {:<7} from {}  by {}  {}  request {}",
                e.outcome,
                e.action,
                e.target_user.as_deref().unwrap_or("-"),
                e.origin,
                e.source,
                e.caller_arn,
                if e.target.is_empty() { "-" } else { &e.target },
                e.request_id
            ),
        }
    }
}

/// `iamd health`: asks a running iamd's `/health` (so a container image needs no HTTP client);
/// fails unless it answers 200.
pub fn health(args: &HealthArgs) -> anyhow::Result<()> {
    use std::io::Read;
    let mut address = args.listen;
    if address.ip().is_unspecified() {
        address.set_ip(if address.is_ipv4() { Ipv4Addr::LOCALHOST.into() } else { Ipv6Addr::LOCALHOST.into() });
    }
    let timeout = Duration::from_secs(5);
    let mut stream =
        TcpStream::connect_timeout(&address, timeout).with_context(|| format!("connecting to {address}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET /health HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")?;
    let mut answer = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut answer).with_context(|| format!("reading {address}'s answer"))?;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.lines().next().unwrap_or_default();
    if status.split(' ').nth(1) != Some("200") {
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default().trim();
        bail!("{address} is not healthy: {status} {body}");
    }
    println!("{address}: healthy");
    Ok(())
}

/// `--since`: an RFC 3339 time, or an age before now in seconds, minutes, hours or days.
fn parse_since(text: &str) -> Result<i64, String> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at.unix_timestamp());
    }
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?} is neither an RFC 3339 time nor an age such as 90m, 24h or 7d")),
    };
    let age: i64 = number.parse().map_err(|_| format!("{text:?}: the age needs a number, as in 24h"))?;
    Ok(OffsetDateTime::now_utc().unix_timestamp() - age.saturating_mul(seconds))
}

/// "3 users, 2 MFA devices (1 enabled) …" for a person checking a backup.
fn contents(file: &DatabaseFile) -> String {
    format!(
        "schema version {}, {} users, {} access keys, {} MFA devices, {} roles, {} policies, {} audit events",
        file.schema_version,
        file.count("users"),
        file.count("access_keys"),
        file.count("mfa_devices"),
        file.count("roles"),
        file.count("policies"),
        file.count("auth_events") + file.count("change_events")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_and_calls_merge_newest_first_within_the_limit() {
        let check = |at: i64| AuthEvent {
            at,
            account_id: "123456789012".into(),
            user_name: "alice".into(),
            source: "127.0.0.1".into(),
            kind: "console-password".into(),
            mfa_used: false,
            outcome: "success".into(),
            reason: String::new(),
        };
        let call = |at: i64, request_id: &str| ChangeEvent {
            at,
            account_id: "123456789012".into(),
            request_id: request_id.into(),
            caller_arn: "arn:aws:iam::123456789012:root".into(),
            caller_user: None,
            action: "iam:CreateUser".into(),
            target: "UserName=alice".into(),
            target_user: Some("alice".into()),
            source: "127.0.0.1".into(),
            origin: "api".into(),
            outcome: "success".into(),
        };
        let merged = newest_first(vec![check(20), check(10)], vec![call(30, "c"), call(20, "b"), call(5, "a")], 4);
        let order: Vec<String> = merged
            .iter()
            .map(|e| match e {
                AuditEvent::Check(c) => format!("check@{}", c.at),
                AuditEvent::Call(c) => format!("{}@{}", c.request_id, c.at),
            })
            .collect();
        assert_eq!(order, ["c@30", "b@20", "check@20", "check@10"]);
        let json = merged[0].json();
        assert_eq!((json["event"].as_str(), json["request_id"].as_str()), (Some("call"), Some("c")));
        assert_eq!(merged[2].json()["event"], "sign-in");
        assert!(merged[0].text().contains("iam:CreateUser") && merged[0].text().contains("request c"));
    }

    #[test]
    fn since_takes_times_and_ages() {
        assert_eq!(parse_since("2026-12-01T08:00:00Z"), Ok(1_796_112_000));
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let day_ago = parse_since("1d").unwrap();
        assert!((now - 86_400 - 1..=now - 86_400 + 1).contains(&day_ago));
        assert!(parse_since("90m").unwrap() > day_ago);
        for wrong in ["", "h", "24", "24w", "yesterday", "-5h"] {
            assert!(parse_since(wrong).is_err(), "{wrong:?}");
        }
    }
}
