//! Bulk loading of users with enabled virtual MFA devices straight into iamd's SQLite database.
//!
//! This couples to iamd's storage schema (`crates/store/migrations/sqlite`) and to how iamd seals
//! seeds (`iamd_domain::sealing`, the device serial as associated data): the loader refuses a
//! database whose latest migration is not the one it was written for. Run it on a *stopped* iamd
//! whose data directory has been initialised by one start (schema, account and master key exist);
//! it takes SQLite's exclusive lock, so it fails rather than write under a running server.
//!
//! With `--credentials-from TEXT` every user also gets an access key, and keys' secrets and
//! devices' seeds are derived from TEXT ([`seeded_user`]) instead of drawn at random, so that the
//! load generator (`--seeded-users`) can sign as these users and compute their codes: the login
//! scenarios then have as many devices as the store holds, not the 5000 the API's quota allows.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use iamd_domain::sealing::MasterKey;
use iamd_domain::{ids, mfa, totp};
use rusqlite::{Connection, OpenFlags, params};
use sha2::{Digest, Sha256};

/// The columns of the tables this loader writes (as of `0007_credential_report.sql`). Any other
/// shape of these tables is refused.
const USER_COLUMNS: &[&str] =
    &["user_id", "account_id", "name", "name_key", "path", "created_at", "password_last_used"];
const DEVICE_COLUMNS: &[&str] = &[
    "serial",
    "account_id",
    "path",
    "name",
    "seed_sealed",
    "created_at",
    "user_id",
    "enable_date",
    "offset_steps",
    "last_step",
];
const ACCESS_KEY_COLUMNS: &[&str] = &[
    "access_key_id",
    "account_id",
    "user_id",
    "secret_sealed",
    "status",
    "created_at",
    "last_used_at",
    "last_used_service",
    "last_used_region",
];

/// A seeded user's name and, with `--credentials-from`, what signing as it and computing its
/// device's codes needs. Shared by the seeder and the load generator.
pub struct SeededUser {
    pub name: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub seed: Vec<u8>,
}

/// User number `index`'s name, access key and device seed, derived from `credentials_from`
/// (SHA-256 of the text, a label and the name: nothing secret, this is for benchmarks).
pub fn seeded_user(prefix: &str, index: u64, credentials_from: &str) -> SeededUser {
    let name = format!("{prefix}{index:07}");
    let derive = |label: &str| {
        Sha256::new()
            .chain_update(credentials_from.as_bytes())
            .chain_update([0])
            .chain_update(label.as_bytes())
            .chain_update([0])
            .chain_update(name.as_bytes())
            .finalize()
    };
    let secret = derive("secret");
    SeededUser {
        // AKIA + Z + 15 digits: 20 characters like AWS's ids, unique per index.
        access_key_id: format!("AKIAZ{index:015}"),
        secret_access_key: secret[..20].iter().map(|b| format!("{b:02x}")).collect(),
        // 32 bytes (iamd draws 40; TOTP takes any length).
        seed: derive("seed").to_vec(),
        name,
    }
}

#[derive(Args, Debug)]
pub struct SeedArgs {
    /// iamd's data directory (start iamd on it once first, then stop it).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Users to add.
    #[arg(long)]
    pub users: u64,
    /// Enabled virtual MFA devices per user (AWS allows up to 8).
    #[arg(long, default_value_t = 1)]
    pub devices_per_user: u32,
    /// Users are named PREFIX + a zero-padded number.
    #[arg(long, default_value = "seed-user-")]
    pub prefix: String,
    /// First number used in names (to add more users to an already seeded store).
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    /// Users per transaction.
    #[arg(long, default_value_t = 25_000)]
    pub batch: u64,
    /// The account to add users to (default: the only account in the database).
    #[arg(long)]
    pub account_id: Option<String>,
    /// Also give each user an access key, and derive keys' secrets and devices' seeds from this
    /// text, for the load generator's `--seeded-users` (benchmarks only: anyone knowing the text
    /// can sign as these users).
    #[arg(long)]
    pub credentials_from: Option<String>,
}

struct UserRow {
    user_id: String,
    name: String,
}

struct KeyRow {
    access_key_id: String,
    secret_sealed: Vec<u8>,
    user: usize,
}

struct DeviceRow {
    serial: String,
    name: String,
    seed_sealed: Vec<u8>,
    user: usize,
}

pub fn run(args: SeedArgs) -> anyhow::Result<()> {
    let db_path = args.data_dir.join("iamd.db");
    let key_path = args.data_dir.join("master.key");
    if !db_path.exists() || !key_path.exists() {
        bail!(
            "{} or {} is missing: start iamd once on this data directory (then stop it) before seeding",
            db_path.display(),
            key_path.display()
        );
    }
    if args.devices_per_user > mfa::MAX_DEVICES_PER_USER {
        bail!("--devices-per-user is at most {}", mfa::MAX_DEVICES_PER_USER);
    }
    let master_key = MasterKey::from_hex(&std::fs::read_to_string(&key_path)?).context("reading master.key")?;

    let mut conn = Connection::open_with_flags(&db_path, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .with_context(|| format!("opening {}", db_path.display()))?;
    conn.busy_timeout(Duration::from_secs(1))?;
    // Exclusive: fail rather than write under a running server. Not synced: a failed seeding
    // is simply run again on a fresh data directory.
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -262_144)?;

    for (table, expected) in
        [("users", USER_COLUMNS), ("mfa_devices", DEVICE_COLUMNS), ("access_keys", ACCESS_KEY_COLUMNS)]
    {
        let columns = conn
            .prepare("SELECT name FROM pragma_table_info(?) ORDER BY cid")?
            .query_map([table], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .with_context(|| format!("reading the columns of {table}"))?;
        if columns != expected {
            bail!(
                "table {table} has columns {columns:?}, this loader writes {expected:?}: iamd's schema changed \
                 (crates/store/migrations/sqlite), update crates/bench/src/seed.rs"
            );
        }
    }
    let accounts = conn
        .prepare("SELECT account_id FROM accounts")?
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let account_id = match (&args.account_id, accounts.as_slice()) {
        (Some(given), _) if accounts.contains(given) => given.clone(),
        (Some(given), _) => bail!("account {given} is not in the database"),
        (None, [only]) => only.clone(),
        (None, _) => bail!("the database holds {} accounts; choose one with --account-id", accounts.len()),
    };

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    // Devices look as if enabled one step ago, with no drift.
    let last_step = totp::step_at(now) - 1;
    let started = Instant::now();
    let end = args.start + args.users;
    let mut next = args.start;
    while next < end {
        let batch_end = (next + args.batch.max(1)).min(end);
        let mut users = Vec::with_capacity((batch_end - next) as usize);
        let mut devices = Vec::with_capacity(users.capacity() * args.devices_per_user as usize);
        let mut keys = Vec::new();
        for i in next..batch_end {
            let derived = args.credentials_from.as_deref().map(|from| seeded_user(&args.prefix, i, from));
            let name = derived.as_ref().map_or_else(|| format!("{}{i:07}", args.prefix), |user| user.name.clone());
            for j in 0..args.devices_per_user {
                let device_name = if j == 0 { name.clone() } else { format!("{name}-{j}") };
                let serial = ids::mfa_arn(&account_id, "/", &device_name);
                let seed = match &derived {
                    Some(user) if j == 0 => user.seed.clone(),
                    _ => mfa::generate_seed().to_vec(),
                };
                let seed_sealed = master_key.seal(&seed, &serial);
                devices.push(DeviceRow { serial, name: device_name, seed_sealed, user: users.len() });
            }
            if let Some(user) = derived {
                let secret_sealed = master_key.seal(user.secret_access_key.as_bytes(), &user.access_key_id);
                keys.push(KeyRow { access_key_id: user.access_key_id, secret_sealed, user: users.len() });
            }
            users.push(UserRow { user_id: ids::new_user_id(), name });
        }

        let tx = conn.transaction()?;
        {
            let mut insert_user = tx.prepare(
                "INSERT INTO users (user_id, account_id, name, name_key, path, created_at) VALUES (?, ?, ?, ?, '/', ?)",
            )?;
            for user in &users {
                insert_user
                    .execute(params![user.user_id, account_id, user.name, user.name.to_lowercase(), now])
                    .context("inserting users (names already taken? see --start)")?;
            }
            let mut insert_device = tx.prepare(
                "INSERT INTO mfa_devices (serial, account_id, path, name, seed_sealed, created_at, user_id, \
                 enable_date, offset_steps, last_step) VALUES (?, ?, '/', ?, ?, ?, ?, ?, 0, ?)",
            )?;
            for device in &devices {
                insert_device
                    .execute(params![
                        device.serial,
                        account_id,
                        device.name,
                        device.seed_sealed,
                        now,
                        users[device.user].user_id,
                        now,
                        last_step
                    ])
                    .context("inserting MFA devices")?;
            }
            let mut insert_key = tx.prepare(
                "INSERT INTO access_keys (access_key_id, account_id, user_id, secret_sealed, status, created_at) \
                 VALUES (?, ?, ?, ?, 'Active', ?)",
            )?;
            for key in &keys {
                insert_key
                    .execute(params![key.access_key_id, account_id, users[key.user].user_id, key.secret_sealed, now])
                    .context("inserting access keys")?;
            }
        }
        tx.commit()?;
        let done = batch_end - args.start;
        let elapsed = started.elapsed().as_secs_f64();
        eprintln!("seed: {done}/{} users ({:.0} users/s)", args.users, done as f64 / elapsed.max(1e-9));
        next = batch_end;
    }
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    conn.close().map_err(|(_, e)| e)?;
    let size = std::fs::metadata(&db_path)?.len();
    println!(
        "seeded {} users with {} devices each into account {account_id} in {:.1} s; {} is {:.1} MB",
        args.users,
        args.devices_per_user,
        started.elapsed().as_secs_f64(),
        db_path.display(),
        size as f64 / 1e6
    );
    Ok(())
}
