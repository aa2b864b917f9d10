//! Turning SQLite result rows into records. Columns are read by position: each `*_columns!`
//! list sits next to the function that decodes it, and queries splice the list in with
//! `concat!`, so every statement is a static string the connection prepares once.

use rusqlite::Row;

use crate::{Assignment, DeviceSync, MfaDevice, User};

/// The user columns (`users u`), decoded by [`user_at`].
macro_rules! user_columns {
    () => {
        "u.user_id, u.account_id, u.name, u.path, u.created_at, u.password_last_used"
    };
}
pub(super) use user_columns;

/// The user columns are 6.
pub(super) const USER_WIDTH: usize = 6;

/// A device row and its user (`mfa_devices d LEFT JOIN users u`), decoded by [`device_at`].
macro_rules! device_columns {
    () => {
        concat!(
            "d.serial, d.account_id, d.path, d.name, d.seed_sealed, d.created_at, d.enable_date, \
             d.offset_steps, d.last_step, ",
            crate::sqlite::rows::user_columns!()
        )
    };
}
pub(super) use device_columns;

/// The user whose columns start at `at`.
pub(super) fn user_at(row: &Row<'_>, at: usize) -> rusqlite::Result<User> {
    Ok(User {
        user_id: row.get(at)?,
        account_id: row.get(at + 1)?,
        name: row.get(at + 2)?,
        path: row.get(at + 3)?,
        created_at: row.get(at + 4)?,
        password_last_used: row.get(at + 5)?,
        tags: Vec::new(),
        permissions_boundary: None,
    })
}

/// The device whose columns start at `at`; assigned when the joined user is there.
pub(super) fn device_at(row: &Row<'_>, at: usize) -> rusqlite::Result<MfaDevice> {
    let user_id: Option<String> = row.get(at + 9)?;
    let assignment = match user_id {
        Some(_) => Some(Assignment {
            user: user_at(row, at + 9)?,
            enable_date: row.get(at + 6)?,
            sync: DeviceSync { offset_steps: row.get(at + 7)?, last_accepted_step: row.get(at + 8)? },
        }),
        None => None,
    };
    Ok(MfaDevice {
        serial: row.get(at)?,
        account_id: row.get(at + 1)?,
        path: row.get(at + 2)?,
        name: row.get(at + 3)?,
        seed_sealed: row.get(at + 4)?,
        created_at: row.get(at + 5)?,
        assignment,
    })
}
