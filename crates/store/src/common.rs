//! Logic both backends share and that owes nothing to either database.

use crate::{Result, StoreError};

/// Lower-cased form used for case-insensitive uniqueness and ordering.
pub(crate) fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// Fails with `not_found` when a statement changed nothing.
pub(crate) fn changed(rows: u64, not_found: StoreError) -> Result<()> {
    if rows == 0 { Err(not_found) } else { Ok(()) }
}
