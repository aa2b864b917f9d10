//! [`MfaDevices`] on SQLite: virtual MFA devices, their tags and sync state, the MFA throttle.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::engine::snapshot;
use super::rows::{device_at, device_columns};
use super::tags::DEVICE_TAGS;
use super::{SqliteStore, count, decode_all, unique_as, user_id_of};
use crate::common::{changed, name_key};
use crate::*;

fn device_must_exist(conn: &Connection, account_id: &str, serial: &str) -> Result<()> {
    conn.prepare_cached("SELECT 1 FROM mfa_devices WHERE account_id = ? AND serial = ?")?
        .query_row([account_id, serial], |_| Ok(()))
        .optional()?
        .ok_or(StoreError::NotFound(Entity::MfaDevice))
}

fn throttle_state(conn: &Connection, user_id: &str) -> Result<ThrottleState> {
    let state = conn
        .prepare_cached("SELECT failures, locked_until, locks FROM mfa_throttle WHERE user_id = ?")?
        .query_row([user_id], |r| Ok(ThrottleState { failures: r.get(0)?, locked_until: r.get(1)?, locks: r.get(2)? }))
        .optional()?;
    Ok(state.unwrap_or_default())
}

fn put_throttle_state(conn: &Connection, user_id: &str, state: &ThrottleState) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO mfa_throttle (user_id, failures, locked_until, locks) VALUES (?, ?, ?, ?) \
         ON CONFLICT (user_id) DO UPDATE SET failures = excluded.failures, \
         locked_until = excluded.locked_until, locks = excluded.locks",
    )?
    .execute(params![user_id, state.failures, state.locked_until, state.locks])?;
    Ok(())
}

/// Moves a device's sync state on from `seen_last_step`, only while it is still assigned to
/// `user_id` at that step (`Conflict` otherwise).
fn advance_sync(c: &Connection, serial: &str, user_id: &str, seen_last_step: i64, sync: DeviceSync) -> Result<()> {
    let rows = c
        .prepare_cached(
            "UPDATE mfa_devices SET offset_steps = ?, last_step = ? WHERE serial = ? AND user_id = ? AND last_step = ?",
        )?
        .execute(params![sync.offset_steps, sync.last_accepted_step, serial, user_id, seen_last_step])?;
    changed(rows as u64, StoreError::Conflict)
}

/// Forgets a user's failures and locks.
fn clear_throttle(c: &Connection, user_id: &str) -> Result<()> {
    c.prepare_cached("DELETE FROM mfa_throttle WHERE user_id = ?")?.execute([user_id])?;
    Ok(())
}

#[async_trait]
impl MfaDevices for SqliteStore {
    async fn create_mfa_device(&self, device: &NewMfaDevice, max_in_account: u32) -> Result<()> {
        let device = device.clone();
        self.engine
            .write(move |c| {
                if count(c, "SELECT COUNT(*) FROM mfa_devices WHERE account_id = ?", &device.account_id)?
                    >= i64::from(max_in_account)
                {
                    return Err(StoreError::LimitExceeded);
                }
                c.prepare_cached(
                    "INSERT INTO mfa_devices (serial, account_id, path, name, seed_sealed, created_at) \
                     VALUES (?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    device.serial,
                    device.account_id,
                    device.path,
                    device.name,
                    device.seed_sealed,
                    device.created_at
                ])
                .map_err(unique_as(Entity::MfaDevice))?;
                DEVICE_TAGS.upsert(c, &device.serial, &device.tags)
            })
            .await
    }

    async fn get_mfa_device(&self, account_id: &str, serial: &str) -> Result<Option<MfaDevice>> {
        const SQL: &str = concat!(
            "SELECT ",
            device_columns!(),
            " FROM mfa_devices d LEFT JOIN users u ON u.user_id = d.user_id WHERE d.account_id = ? AND d.serial = ?"
        );
        self.engine
            .read(|c| Ok(c.prepare_cached(SQL)?.query_row([account_id, serial], |r| device_at(r, 0)).optional()?))
    }

    async fn assign_mfa_device(
        &self,
        account_id: &str,
        serial: &str,
        user_name: &str,
        sync: DeviceSync,
        enable_date: i64,
        max_per_user: u32,
    ) -> Result<()> {
        let (account_id, serial, user_name) = (account_id.to_owned(), serial.to_owned(), user_name.to_owned());
        self.engine
            .write(move |c| {
                let user_id = user_id_of(c, &account_id, &user_name)?;
                if count(c, "SELECT COUNT(*) FROM mfa_devices WHERE user_id = ?", &user_id)? >= i64::from(max_per_user)
                {
                    return Err(StoreError::LimitExceeded);
                }
                let rows = c
                    .prepare_cached(
                        "UPDATE mfa_devices SET user_id = ?, enable_date = ?, offset_steps = ?, last_step = ? \
                         WHERE account_id = ? AND serial = ? AND user_id IS NULL",
                    )?
                    .execute(params![
                        user_id,
                        enable_date,
                        sync.offset_steps,
                        sync.last_accepted_step,
                        account_id,
                        serial
                    ])?;
                if rows == 0 {
                    return Err(match device_must_exist(c, &account_id, &serial) {
                        Ok(()) => StoreError::DeviceInUse,
                        Err(e) => e,
                    });
                }
                Ok(())
            })
            .await
    }

    async fn advance_mfa_sync(&self, serial: &str, user_id: &str, seen_last_step: i64, sync: DeviceSync) -> Result<()> {
        let (serial, user_id) = (serial.to_owned(), user_id.to_owned());
        self.engine.write(move |c| advance_sync(c, &serial, &user_id, seen_last_step, sync)).await
    }

    async fn accept_mfa_code(&self, serial: &str, user_id: &str, seen_last_step: i64, sync: DeviceSync) -> Result<()> {
        let (serial, user_id) = (serial.to_owned(), user_id.to_owned());
        self.engine
            .write(move |c| {
                advance_sync(c, &serial, &user_id, seen_last_step, sync)?;
                clear_throttle(c, &user_id)
            })
            .await
    }

    async fn unassign_mfa_device(&self, account_id: &str, user_name: &str, serial: &str) -> Result<()> {
        let (account_id, user_name, serial) = (account_id.to_owned(), user_name.to_owned(), serial.to_owned());
        self.engine
            .write(move |c| {
                let user_id = user_id_of(c, &account_id, &user_name)?;
                let rows = c
                    .prepare_cached(
                        "UPDATE mfa_devices SET user_id = NULL, enable_date = NULL, offset_steps = NULL, \
                         last_step = NULL WHERE account_id = ? AND serial = ? AND user_id = ?",
                    )?
                    .execute(params![account_id, serial, user_id])?;
                changed(rows as u64, StoreError::NotFound(Entity::MfaDevice))
            })
            .await
    }

    async fn delete_mfa_device(&self, account_id: &str, serial: &str) -> Result<()> {
        let (account_id, serial) = (account_id.to_owned(), serial.to_owned());
        self.engine
            .write(move |c| {
                let assigned: Option<Option<String>> = c
                    .prepare_cached("SELECT user_id FROM mfa_devices WHERE account_id = ? AND serial = ?")?
                    .query_row([&account_id, &serial], |r| r.get(0))
                    .optional()?;
                match assigned {
                    None => return Err(StoreError::NotFound(Entity::MfaDevice)),
                    Some(Some(_)) => return Err(StoreError::DeviceAssigned),
                    Some(None) => {}
                }
                c.prepare_cached("DELETE FROM mfa_devices WHERE serial = ?")?.execute([&serial])?;
                Ok(())
            })
            .await
    }

    async fn list_user_mfa_devices(&self, account_id: &str, user_name: &str) -> Result<Vec<MfaDevice>> {
        // One statement: no row means no such user; a row without a serial, a user without
        // devices.
        const SQL: &str = concat!(
            "SELECT ",
            device_columns!(),
            " FROM users u LEFT JOIN mfa_devices d ON d.user_id = u.user_id \
             WHERE u.account_id = ? AND u.name_key = ? ORDER BY d.serial"
        );
        self.engine.read(|c| {
            let rows = decode_all(c, SQL, params![account_id, name_key(user_name)], |row| {
                match row.get::<_, Option<String>>(0)? {
                    Some(_) => device_at(row, 0).map(Some),
                    None => Ok(None),
                }
            })?;
            if rows.is_empty() {
                return Err(StoreError::NotFound(Entity::User));
            }
            Ok(rows.into_iter().flatten().collect())
        })
    }

    async fn list_mfa_devices(
        &self,
        account_id: &str,
        filter: AssignmentFilter,
        page: &Page,
    ) -> Result<Vec<MfaDevice>> {
        // One static statement per filter, so each is prepared once.
        macro_rules! page_of_devices {
            ($filter:literal) => {
                concat!(
                    "SELECT ",
                    device_columns!(),
                    " FROM mfa_devices d LEFT JOIN users u ON u.user_id = d.user_id \
                     WHERE d.account_id = ? AND d.serial > ? ",
                    $filter,
                    " ORDER BY d.serial LIMIT ?"
                )
            };
        }
        let sql = match filter {
            AssignmentFilter::Assigned => page_of_devices!("AND d.user_id IS NOT NULL"),
            AssignmentFilter::Unassigned => page_of_devices!("AND d.user_id IS NULL"),
            AssignmentFilter::Any => page_of_devices!(""),
        };
        let after = page.after.as_deref().unwrap_or("");
        let limit = page.limit as i64 + 1;
        self.engine.read(|c| decode_all(c, sql, params![account_id, after, limit], |r| device_at(r, 0)))
    }

    async fn tag_mfa_device(&self, account_id: &str, serial: &str, tags: &[Tag], max: usize) -> Result<()> {
        let (account_id, serial, tags) = (account_id.to_owned(), serial.to_owned(), tags.to_vec());
        self.engine
            .write(move |c| {
                device_must_exist(c, &account_id, &serial)?;
                DEVICE_TAGS.add(c, &serial, &tags, max)
            })
            .await
    }

    async fn untag_mfa_device(&self, account_id: &str, serial: &str, keys: &[String]) -> Result<()> {
        let (account_id, serial, keys) = (account_id.to_owned(), serial.to_owned(), keys.to_vec());
        self.engine
            .write(move |c| {
                device_must_exist(c, &account_id, &serial)?;
                DEVICE_TAGS.remove(c, &serial, &keys)
            })
            .await
    }

    async fn mfa_device_tags(&self, account_id: &str, serial: &str) -> Result<Vec<Tag>> {
        self.engine.read(|c| {
            snapshot(c, |c| {
                device_must_exist(c, account_id, serial)?;
                DEVICE_TAGS.list(c, serial)
            })
        })
    }

    async fn mfa_throttle(&self, user_id: &str) -> Result<ThrottleState> {
        self.engine.read(|c| throttle_state(c, user_id))
    }

    async fn reserve_mfa_attempt(
        &self,
        user_id: &str,
        policy: &ThrottlePolicy,
        now: i64,
    ) -> Result<Option<ThrottleState>> {
        let (user_id, policy) = (user_id.to_owned(), *policy);
        // One write on the writer thread: the read and the conditional update are one
        // transaction no other write interleaves with.
        self.engine
            .write(move |c| match throttle_state(c, &user_id)?.reserve(&policy, now) {
                None => Ok(None),
                Some(state) => {
                    put_throttle_state(c, &user_id, &state)?;
                    Ok(Some(state))
                }
            })
            .await
    }

    async fn record_mfa_failure(&self, user_id: &str, policy: &ThrottlePolicy, now: i64) -> Result<ThrottleState> {
        let (user_id, policy) = (user_id.to_owned(), *policy);
        self.engine
            .write(move |c| {
                let state = throttle_state(c, &user_id)?.after_failure(&policy, now);
                put_throttle_state(c, &user_id, &state)?;
                Ok(state)
            })
            .await
    }

    async fn clear_mfa_failures(&self, user_id: &str) -> Result<()> {
        let user_id = user_id.to_owned();
        self.engine.write(move |c| clear_throttle(c, &user_id)).await
    }

    async fn unlock_mfa(&self, account_id: &str, user_name: &str) -> Result<ThrottleState> {
        let (account_id, user_name) = (account_id.to_owned(), user_name.to_owned());
        self.engine
            .write(move |c| {
                let user_id = user_id_of(c, &account_id, &user_name)?;
                let before = throttle_state(c, &user_id)?;
                clear_throttle(c, &user_id)?;
                Ok(before)
            })
            .await
    }
}
