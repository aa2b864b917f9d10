//! Turning PostgreSQL result rows into records.

use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::{Assignment, DeviceSync, MfaDevice, User};

/// The user columns every user query selects (`users u`).
pub(crate) const USER_COLUMNS: &str = "u.user_id, u.account_id, u.name, u.path, u.created_at, u.password_last_used";

/// A device row joined with its user (`mfa_devices d LEFT JOIN users u`).
pub(crate) const DEVICE_COLUMNS: &str = "d.serial, d.account_id AS device_account, d.path AS device_path, \
     d.name AS device_name, d.seed_sealed, d.created_at AS device_created, d.enable_date, d.offset_steps, \
     d.last_step, u.user_id, u.account_id, u.name, u.path, u.created_at, u.password_last_used";

pub(crate) fn user_from_row<'r, R>(row: &'r R) -> Result<User, sqlx::Error>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(User {
        user_id: row.try_get("user_id")?,
        account_id: row.try_get("account_id")?,
        name: row.try_get("name")?,
        path: row.try_get("path")?,
        created_at: row.try_get("created_at")?,
        password_last_used: row.try_get("password_last_used")?,
        tags: Vec::new(),
        permissions_boundary: None,
    })
}

pub(crate) fn device_from_row<'r, R>(row: &'r R) -> Result<MfaDevice, sqlx::Error>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    let user_id: Option<String> = row.try_get("user_id")?;
    let assignment = match user_id {
        Some(_) => Some(Assignment {
            user: user_from_row(row)?,
            enable_date: row.try_get("enable_date")?,
            sync: DeviceSync {
                offset_steps: row.try_get("offset_steps")?,
                last_accepted_step: row.try_get("last_step")?,
            },
        }),
        None => None,
    };
    Ok(MfaDevice {
        serial: row.try_get("serial")?,
        account_id: row.try_get("device_account")?,
        path: row.try_get("device_path")?,
        name: row.try_get("device_name")?,
        seed_sealed: row.try_get("seed_sealed")?,
        created_at: row.try_get("device_created")?,
        assignment,
    })
}
