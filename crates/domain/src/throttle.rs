//! Throttling of MFA guesses (spec README §1): after `max_failures` consecutive wrong codes for a
//! user, every MFA check for that user fails unevaluated for `base_lock`; each further lock
//! doubles, up to `max_lock`. A success clears the failures and the lock history.
//!
//! The budget is spent *before* a code is evaluated ([`ThrottleState::reserve`]): each attempt
//! is charged as a failure up front, in one store transaction, and a success clears the charge
//! afterwards. So however many guesses arrive at once, on however many nodes, at most
//! `max_failures` of them are ever evaluated before the lock.

/// The numbers; iamd's defaults are 10 failures, 5 minutes, 1 hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub max_failures: u32,
    pub base_lock_seconds: i64,
    pub max_lock_seconds: i64,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self { max_failures: 10, base_lock_seconds: 300, max_lock_seconds: 3600 }
    }
}

/// A user's standing. The zero value is a user with no failures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThrottleState {
    /// Failures since the last success or the last lock.
    pub failures: u32,
    /// Unix time until which checks fail unevaluated (0: not locked).
    pub locked_until: i64,
    /// Locks imposed since the last success; sets the next lock's length.
    pub locks: u32,
}

impl ThrottleState {
    pub fn is_locked(&self, now: i64) -> bool {
        now < self.locked_until
    }

    /// Reserves one attempt at `now`: `None` while locked (the attempt must be refused without
    /// being evaluated, and nothing changes); otherwise the state with this attempt already
    /// charged as a failure. The reservation that reaches `max_failures` is still granted and
    /// imposes the lock, so at most `max_failures` attempts are granted per lock.
    pub fn reserve(self, policy: &ThrottlePolicy, now: i64) -> Option<Self> {
        (!self.is_locked(now)).then(|| self.after_failure(policy, now))
    }

    /// The state after one more wrong code at `now`.
    pub fn after_failure(self, policy: &ThrottlePolicy, now: i64) -> Self {
        let failures = self.failures + 1;
        if failures < policy.max_failures {
            return Self { failures, ..self };
        }
        let doubling = 1i64.checked_shl(self.locks.min(32)).unwrap_or(i64::MAX);
        let lock = policy.base_lock_seconds.saturating_mul(doubling).min(policy.max_lock_seconds);
        Self { failures: 0, locked_until: now + lock, locks: self.locks + 1 }
    }
}

/// Throttling of console passwords (and ChangePassword's old password): after `per_user` failed
/// attempts for one user, or `per_source` from one source address, within `window_seconds` of
/// the first, further attempts are refused without the password being evaluated until that
/// window ends. Like MFA codes, an attempt is charged before it is evaluated and a success
/// gives the charge back, so concurrent guesses cannot exceed the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordThrottlePolicy {
    pub per_user: u32,
    pub per_source: u32,
    pub window_seconds: i64,
}

impl Default for PasswordThrottlePolicy {
    fn default() -> Self {
        Self { per_user: 10, per_source: 100, window_seconds: 900 }
    }
}

/// One counter of password attempts (a user's, or a source address's). The zero value is a
/// counter with nothing charged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttemptWindow {
    /// Attempts charged (failed, or still being evaluated) since `window_start`.
    pub failures: u32,
    /// Unix time of the first charged attempt of the current window.
    pub window_start: i64,
}

impl AttemptWindow {
    /// The counter as it stands at `now`: an ended window counts nothing.
    fn current(self, window_seconds: i64, now: i64) -> Self {
        if self.failures == 0 || now >= self.window_start.saturating_add(window_seconds) {
            Self::default()
        } else {
            self
        }
    }

    /// Whether an attempt at `now` must be refused unevaluated.
    pub fn is_full(self, max: u32, window_seconds: i64, now: i64) -> bool {
        self.current(window_seconds, now).failures >= max
    }

    /// Charges one attempt at `now`; `None` when the counter is full (nothing changes).
    pub fn reserve(self, max: u32, window_seconds: i64, now: i64) -> Option<Self> {
        let current = self.current(window_seconds, now);
        if current.failures >= max {
            return None;
        }
        let window_start = if current.failures == 0 { now } else { current.window_start };
        Some(Self { failures: current.failures + 1, window_start })
    }

    /// Gives one charged attempt back (it succeeded, or was never evaluated).
    pub fn release(self) -> Self {
        Self { failures: self.failures.saturating_sub(1), ..self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_attempts_fill_a_window_then_refuse_until_it_ends() {
        let (max, window, t) = (3, 900, 5_000_000);
        let mut w = AttemptWindow::default();
        for i in 0..3 {
            w = w.reserve(max, window, t + i).unwrap();
        }
        assert_eq!(w, AttemptWindow { failures: 3, window_start: t });
        assert!(w.is_full(max, window, t + 899));
        assert_eq!(w.reserve(max, window, t + 899), None);
        assert_eq!(w.release().reserve(max, window, t + 10), Some(w));
        assert!(!w.is_full(max, window, t + 900));
        assert_eq!(w.reserve(max, window, t + 900), Some(AttemptWindow { failures: 1, window_start: t + 900 }));
    }

    #[test]
    fn reservations_grant_exactly_the_limit_then_refuse_until_the_lock_ends() {
        let policy = ThrottlePolicy::default();
        let now = 1_000_000;
        let mut state = ThrottleState::default();
        let mut granted = 0;
        for _ in 0..60 {
            if let Some(next) = state.reserve(&policy, now) {
                state = next;
                granted += 1;
            }
        }
        assert_eq!(granted, 10);
        assert_eq!(state, ThrottleState { failures: 0, locked_until: now + 300, locks: 1 });
        assert_eq!(state.reserve(&policy, now + 299), None);
        assert_eq!(state.reserve(&policy, now + 300).map(|s| s.failures), Some(1));
    }

    #[test]
    fn ten_failures_lock_for_five_minutes_then_doubling_to_an_hour() {
        let policy = ThrottlePolicy::default();
        let mut state = ThrottleState::default();
        let now = 1_000_000;
        for i in 1..10 {
            state = state.after_failure(&policy, now);
            assert_eq!(state.failures, i);
            assert!(!state.is_locked(now));
        }
        state = state.after_failure(&policy, now);
        assert!(state.is_locked(now) && state.is_locked(now + 299) && !state.is_locked(now + 300));
        let mut expected = [600, 1200, 2400, 3600, 3600].into_iter();
        let mut t = now + 300;
        for _ in 0..5 {
            for _ in 0..10 {
                state = state.after_failure(&policy, t);
            }
            let lock = expected.next().unwrap();
            assert_eq!(state.locked_until, t + lock);
            t += lock;
        }
    }
}
