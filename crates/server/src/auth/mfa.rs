//! The second factor: checking one code from a user's MFA device at sign-in or for an STS
//! session (docs/behaviour.md). The code must come from a device assigned to that user, fall in the
//! device's drift window, be later than any code accepted before (a code works once, across
//! restarts and nodes: the store's conditional update decides), and the user must not be locked
//! out by too many failures.

use iamd_domain::ApiError;
use iamd_domain::entities::{MfaDevice, User};
use iamd_domain::totp::{self, CodeRefusal, TotpKey};
use iamd_store::StoreError;

use crate::failure::{internal, store_failure};
use crate::metrics::MfaOutcome;
use crate::state::App;

/// Why a code was refused. Callers show clients one neutral message for all of them (except
/// where AWS itself distinguishes an unknown serial); the reason goes to the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The serial is not a device assigned to this user.
    NotAssigned,
    /// Too many recent failures: refused without looking at the code.
    Locked,
    WrongCode,
    /// The code was accepted before (or a later one was), by an earlier request or one racing
    /// this one.
    AlreadyUsed,
    /// The device's code for a step outside the drift window: its clock is off (a resync fixes it).
    OutOfSync,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::NotAssigned => "serial not assigned to user",
            Refusal::Locked => "locked after repeated failures",
            Refusal::WrongCode => "wrong code",
            Refusal::AlreadyUsed => "code already used",
            Refusal::OutOfSync => "code from a device out of sync",
        }
    }

    /// How `iamd_mfa_checks_total` counts it.
    pub fn outcome(self) -> MfaOutcome {
        match self {
            Refusal::NotAssigned => MfaOutcome::NotAssigned,
            Refusal::Locked => MfaOutcome::Locked,
            Refusal::WrongCode => MfaOutcome::WrongCode,
            Refusal::AlreadyUsed => MfaOutcome::ReusedCode,
            Refusal::OutOfSync => MfaOutcome::OutOfSync,
        }
    }
}

/// The TOTP generator of a device, from its sealed seed.
pub fn device_key(app: &App, device: &MfaDevice) -> Result<TotpKey, ApiError> {
    let seed = app.master_key.open(&device.seed_sealed, &device.serial).map_err(internal)?;
    Ok(TotpKey::new(&seed))
}

/// Checks `code` from device `serial` for `user` at `now`. `Err` is an internal failure;
/// `Ok(Err(_))` a refused code. Counted in the metrics by outcome.
///
/// The attempt budget is spent before the code is looked at: the store reserves one attempt
/// (charged as a failure) only if the user is not locked, in one transaction, and a success
/// clears the charge. So concurrent guesses, on one node or many, get at most the limit
/// evaluated; the rest are refused as `Locked` without the code being looked at.
pub async fn check_code(
    app: &App,
    user: &User,
    serial: &str,
    code: &str,
    now: i64,
) -> Result<Result<(), Refusal>, ApiError> {
    let checked = evaluate(app, user, serial, code, now).await?;
    app.metrics.mfa_check(checked.map_or_else(Refusal::outcome, |()| MfaOutcome::Accepted));
    Ok(checked)
}

async fn evaluate(app: &App, user: &User, serial: &str, code: &str, now: i64) -> Result<Result<(), Refusal>, ApiError> {
    let device = app.store.get_mfa_device(&user.account_id, serial).await.map_err(store_failure)?;
    let Some((device, assignment)) =
        device.and_then(|d| d.assignment.clone().filter(|a| a.user.user_id == user.user_id).map(|a| (d, a)))
    else {
        // Not one of the user's devices: not counted, but a locked user still hears "locked".
        let throttle = app.store.mfa_throttle(&user.user_id).await.map_err(store_failure)?;
        return Ok(Err(if throttle.is_locked(now) { Refusal::Locked } else { Refusal::NotAssigned }));
    };
    let Some(reserved) =
        app.store.reserve_mfa_attempt(&user.user_id, &app.throttle, now).await.map_err(store_failure)?
    else {
        return Ok(Err(Refusal::Locked));
    };
    let key = device_key(app, &device)?;
    let checked = match totp::verify_code(&key, code, now, assignment.sync) {
        None => Err(match totp::why_refused(&key, code, now, assignment.sync) {
            CodeRefusal::Reused => Refusal::AlreadyUsed,
            CodeRefusal::OutOfSync => Refusal::OutOfSync,
            CodeRefusal::Wrong => Refusal::WrongCode,
        }),
        Some(sync) => {
            match app.store.accept_mfa_code(serial, &user.user_id, assignment.sync.last_accepted_step, sync).await {
                Ok(()) => Ok(()),
                Err(StoreError::Conflict) => Err(Refusal::AlreadyUsed),
                Err(e) => return Err(store_failure(e)),
            }
        }
    };
    // The reservation that reaches the limit imposes the lock; a success lifts it at once.
    if checked.is_err() && reserved.is_locked(now) {
        app.metrics.mfa_lockout_started();
    }
    Ok(checked)
}
