//! The data directory's files (the embedded database, the master key) and the check that a
//! master key is the one a database's secrets were sealed with; shared by `serve` and the
//! operator's commands.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;
use iamd_domain::sealing::MasterKey;

pub(crate) const DATABASE_FILE: &str = "iamd.db";
pub(crate) const MASTER_KEY_FILE: &str = "master.key";

/// Creates the data directory if needed and gives it mode 0700 whatever the umask (it holds
/// the master key and the database); an existing directory is tightened too.
pub(crate) fn private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    if fs::metadata(dir)?.permissions().mode() & 0o777 != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private (mode 0700)", dir.display()))?;
    }
    Ok(())
}

/// Writes `contents` to a new file readable by its owner only.
pub(crate) fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// The master key given as 64 hex characters, else the one in the data directory's `master.key`;
/// `None` when there is neither.
pub(crate) fn existing_master_key(given: Option<&str>, data_dir: Option<&Path>) -> anyhow::Result<Option<MasterKey>> {
    if let Some(hex) = given {
        return MasterKey::from_hex(hex).context("IAMD_MASTER_KEY").map(Some);
    }
    let Some(path) = data_dir.map(|dir| dir.join(MASTER_KEY_FILE)).filter(|path| path.exists()) else {
        return Ok(None);
    };
    let mode = fs::metadata(&path)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), "master key file is readable by others; chmod 600 it");
    }
    let hex = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    MasterKey::from_hex(&hex).with_context(|| format!("{}", path.display())).map(Some)
}

/// The name of the value that tells whether the master key is the one the data was sealed with.
pub(crate) const KEY_CHECK: &str = "master_key_check";
pub(crate) const KEY_CHECK_PLAINTEXT: &[u8] = b"iamd master key check";

/// Whether `key` is the master key that sealed a database's key check.
pub(crate) fn opens_key_check(key: &MasterKey, sealed: &[u8]) -> bool {
    key.open(sealed, KEY_CHECK).is_ok_and(|plain| plain == KEY_CHECK_PLAINTEXT)
}
