//! RFC 6238 TOTP (HMAC-SHA1, 6 digits, 30 s steps, T0 = 0) and iamd's rules for accepting codes
//! (spec README §1).
//!
//! Written over `hmac` + `sha1` rather than a TOTP crate because the enable/resync pair search
//! evaluates ~2 900 steps per request: keying HMAC once and cloning the keyed state per step keeps
//! that search well under a millisecond, while TOTP crates re-key for every code.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

pub const STEP_SECONDS: i64 = 30;
/// How far back Enable/Resync look for a consecutive pair: 24 hours.
pub const PAIR_WINDOW_PAST_STEPS: i64 = 24 * 60 * 60 / STEP_SECONDS;
/// How far ahead Enable/Resync look for a consecutive pair: 5 minutes.
pub const PAIR_WINDOW_FUTURE_STEPS: i64 = 5 * 60 / STEP_SECONDS;
/// Sign-in accepts the expected step and one step either side of it.
pub const LOGIN_DRIFT_STEPS: i64 = 1;

/// The 30-second step containing a Unix time.
pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// Parses a six-digit code; anything else can never match.
pub fn parse_code(code: &str) -> Option<u32> {
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) { code.parse().ok() } else { None }
}

/// A TOTP generator keyed with one device's seed.
#[derive(Clone)]
pub struct TotpKey {
    keyed: Hmac<Sha1>,
}

impl TotpKey {
    pub fn new(seed: &[u8]) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        let keyed = Hmac::<Sha1>::new_from_slice(seed).expect("HMAC takes any key length");
        Self { keyed }
    }

    /// The six-digit code for a step (RFC 4226 dynamic truncation).
    pub fn code_at_step(&self, step: i64) -> u32 {
        let mut mac = self.keyed.clone();
        mac.update(&(step as u64).to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let offset = (digest[19] & 0x0f) as usize;
        let binary =
            u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
        binary % 1_000_000
    }

    /// The code as an authenticator app shows it at a Unix time.
    pub fn code_at(&self, unix_seconds: i64) -> String {
        format!("{:06}", self.code_at_step(step_at(unix_seconds)))
    }

    fn matches(&self, step: i64, code: u32) -> bool {
        self.code_at_step(step).ct_eq(&code).into()
    }
}

/// Where a device's clock stands relative to the server's, learned from codes it produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceSync {
    /// Device clock minus server clock, in steps.
    pub offset_steps: i64,
    /// The latest step whose code was accepted; no code at or before it is accepted again.
    pub last_accepted_step: i64,
}

/// Enable and Resync: find code 1 at step `s` and code 2 at `s + 1`, anywhere from 24 h in the past
/// to 5 min in the future, later than any step already accepted. The latest such pair wins.
///
/// A pair found long before `now` still succeeds — that is how AWS leaves a device "out of sync" —
/// and its offset records how far behind the codes were.
pub fn find_consecutive_pair(
    key: &TotpKey,
    code1: &str,
    code2: &str,
    now_unix: i64,
    last_accepted_step: Option<i64>,
) -> Option<DeviceSync> {
    let (code1, code2) = (parse_code(code1)?, parse_code(code2)?);
    let now = step_at(now_unix);
    let mut first = now - PAIR_WINDOW_PAST_STEPS;
    if let Some(last) = last_accepted_step {
        first = first.max(last + 1);
    }
    let last = now + PAIR_WINDOW_FUTURE_STEPS - 1;
    // Newest first, so the first pair found is the latest. A failed search evaluates every
    // candidate whatever the codes, so its time says nothing about near misses; a successful one
    // stops early, which only tells the caller how old their own codes were. Each step's code
    // is computed once and compared with both codes.
    let mut next_matched_code2 = false;
    for step in (first..=last + 1).rev() {
        let code = key.code_at_step(step);
        if step <= last && next_matched_code2 && bool::from(code.ct_eq(&code1)) {
            return Some(DeviceSync { offset_steps: step + 1 - now, last_accepted_step: step + 1 });
        }
        next_matched_code2 = code.ct_eq(&code2).into();
    }
    None
}

/// Sign-in and STS: one code, at the device's expected step or one either side, never at or
/// before the last accepted step. On success returns the new sync state (drift followed).
pub fn verify_code(key: &TotpKey, code: &str, now_unix: i64, sync: DeviceSync) -> Option<DeviceSync> {
    let code = parse_code(code)?;
    let expected = step_at(now_unix) + sync.offset_steps;
    let mut found = None;
    for step in expected - LOGIN_DRIFT_STEPS..=expected + LOGIN_DRIFT_STEPS {
        if step > sync.last_accepted_step && key.matches(step, code) && found.is_none() {
            found = Some(step);
        }
    }
    found.map(|step| DeviceSync { offset_steps: sync.offset_steps + (step - expected), last_accepted_step: step })
}

/// How far either side of the expected step [`why_refused`] looks for a code the device did
/// produce: 10 minutes, past the drift any phone clock should have, and few enough steps
/// (40 HMACs) to compute on every refusal.
pub const OUT_OF_SYNC_STEPS: i64 = 20;

/// Why [`verify_code`] refused a code, for operators (metrics, the audit trail); clients are
/// told the same for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRefusal {
    /// The code of a step inside the window, already accepted or older than one that was.
    Reused,
    /// The device's code for a step outside the window but within [`OUT_OF_SYNC_STEPS`]: its
    /// clock drifted (a resync fixes it).
    OutOfSync,
    Wrong,
}

/// Classifies a code [`verify_code`] refused. Every step of the range is evaluated whatever
/// matches, so the time taken does not depend on the code.
pub fn why_refused(key: &TotpKey, code: &str, now_unix: i64, sync: DeviceSync) -> CodeRefusal {
    let Some(code) = parse_code(code) else { return CodeRefusal::Wrong };
    let expected = step_at(now_unix) + sync.offset_steps;
    let (mut reused, mut drifted) = (false, false);
    for step in expected - OUT_OF_SYNC_STEPS..=expected + OUT_OF_SYNC_STEPS {
        let matched = key.matches(step, code);
        if (step - expected).abs() <= LOGIN_DRIFT_STEPS {
            reused |= matched && step <= sync.last_accepted_step;
        } else {
            drifted |= matched && step > sync.last_accepted_step;
        }
    }
    match (reused, drifted) {
        (true, _) => CodeRefusal::Reused,
        (false, true) => CodeRefusal::OutOfSync,
        (false, false) => CodeRefusal::Wrong,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 Appendix B gives 8 digits; the 6-digit code is the same value mod 10^6.
        let key = TotpKey::new(RFC_SEED);
        for (t, eight) in [
            (59, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(key.code_at_step(step_at(t)), eight % 1_000_000, "t={t}");
        }
        assert_eq!(key.code_at(59), "287082");
    }

    #[test]
    fn step_boundaries() {
        assert_eq!(step_at(0), 0);
        assert_eq!(step_at(29), 0);
        assert_eq!(step_at(30), 1);
        assert_eq!(step_at(-1), -1);
    }

    #[test]
    fn parse_code_rejects_non_six_digits() {
        assert_eq!(parse_code("012345"), Some(12345));
        for bad in ["12345", "1234567", "12a456", " 12345", "-12345", "１２３４５６"] {
            assert_eq!(parse_code(bad), None, "{bad}");
        }
    }

    fn pair_at(key: &TotpKey, unix: i64) -> (String, String) {
        (key.code_at(unix - STEP_SECONDS), key.code_at(unix))
    }

    const NOW: i64 = 1_800_000_015;

    #[test]
    fn current_pair_is_in_sync() {
        let key = TotpKey::new(&[7u8; 40]);
        let (c1, c2) = pair_at(&key, NOW);
        let sync = find_consecutive_pair(&key, &c1, &c2, NOW, None).unwrap();
        assert_eq!(sync, DeviceSync { offset_steps: 0, last_accepted_step: step_at(NOW) });
    }

    #[test]
    fn late_pair_associates_out_of_sync() {
        let key = TotpKey::new(&[7u8; 40]);
        let (c1, c2) = pair_at(&key, NOW - 600);
        let sync = find_consecutive_pair(&key, &c1, &c2, NOW, None).unwrap();
        assert_eq!(sync.offset_steps, -20);
        // The device is out of sync: the code it shows now is refused...
        assert_eq!(verify_code(&key, &key.code_at(NOW + 30), NOW + 30, sync), None);
        // ...until a resync with two fresh codes sets the offset right.
        let later = NOW + 60;
        let (r1, r2) = pair_at(&key, later);
        let resynced = find_consecutive_pair(&key, &r1, &r2, later, Some(sync.last_accepted_step)).unwrap();
        assert_eq!(resynced.offset_steps, 0);
        let next = later + 30;
        assert!(verify_code(&key, &key.code_at(next), next, resynced).is_some());
    }

    #[test]
    fn refusals_are_told_apart() {
        let key = TotpKey::new(&[8u8; 40]);
        let sync = DeviceSync { offset_steps: 0, last_accepted_step: step_at(NOW) };
        let why = |unix: i64| why_refused(&key, &key.code_at(unix), NOW, sync);
        assert_eq!(why(NOW), CodeRefusal::Reused, "the code just accepted");
        assert_eq!(why(NOW - 30), CodeRefusal::Reused, "older than the one accepted");
        assert_eq!(why(NOW + 600), CodeRefusal::OutOfSync, "10 minutes fast, the edge");
        assert_eq!(why(NOW - 120), CodeRefusal::Wrong, "before the accepted step: never valid again");
        let earlier = DeviceSync { offset_steps: 0, last_accepted_step: step_at(NOW) - 30 };
        let slow = key.code_at(NOW - 120);
        assert_eq!(why_refused(&key, &slow, NOW, earlier), CodeRefusal::OutOfSync, "a device clock 2 minutes slow");
        let near: Vec<String> = (-25..=25).map(|s| key.code_at(NOW + s * 30)).collect();
        let wrong = (0..).map(|n: u32| format!("{:06}", n * 7919 % 1_000_000)).find(|c| !near.contains(c)).unwrap();
        assert_eq!(why_refused(&key, &wrong, NOW, sync), CodeRefusal::Wrong);
        assert_eq!(why_refused(&key, "12345", NOW, sync), CodeRefusal::Wrong, "not six digits");
        // Outside the range the device's own codes are just wrong (unless a code repeats).
        let far = key.code_at(NOW + 660);
        if !near.contains(&far) {
            assert_eq!(why_refused(&key, &far, NOW, sync), CodeRefusal::Wrong);
        }
    }

    #[test]
    fn pair_window_edges() {
        let key = TotpKey::new(&[9u8; 40]);
        let day = 24 * 60 * 60;
        // Oldest accepted: code 1 at exactly now - 24 h.
        let (c1, c2) = (key.code_at(NOW - day), key.code_at(NOW - day + 30));
        assert!(find_consecutive_pair(&key, &c1, &c2, NOW, None).is_some());
        let (c1, c2) = (key.code_at(NOW - day - 30), key.code_at(NOW - day));
        assert!(find_consecutive_pair(&key, &c1, &c2, NOW, None).is_none());
        // Newest accepted: code 2 at now + 5 min.
        let (c1, c2) = (key.code_at(NOW + 270), key.code_at(NOW + 300));
        assert!(find_consecutive_pair(&key, &c1, &c2, NOW, None).is_some());
        let (c1, c2) = (key.code_at(NOW + 300), key.code_at(NOW + 330));
        assert!(find_consecutive_pair(&key, &c1, &c2, NOW, None).is_none());
    }

    #[test]
    fn identical_reversed_and_gapped_codes_fail() {
        let key = TotpKey::new(&[3u8; 40]);
        let (c1, c2) = pair_at(&key, NOW);
        assert!(find_consecutive_pair(&key, &c2, &c1, NOW, None).is_none(), "reversed");
        assert!(find_consecutive_pair(&key, &c2, &c2, NOW, None).is_none(), "identical");
        let gapped = key.code_at(NOW - 60);
        assert!(find_consecutive_pair(&key, &gapped, &c2, NOW, None).is_none(), "gap");
        let other = TotpKey::new(&[4u8; 40]);
        let (o1, o2) = pair_at(&other, NOW);
        assert!(find_consecutive_pair(&key, &o1, &o2, NOW, None).is_none(), "other device");
    }

    #[test]
    fn resync_never_reuses_accepted_steps() {
        let key = TotpKey::new(&[5u8; 40]);
        let (c1, c2) = pair_at(&key, NOW);
        let sync = find_consecutive_pair(&key, &c1, &c2, NOW, None).unwrap();
        assert!(find_consecutive_pair(&key, &c1, &c2, NOW, Some(sync.last_accepted_step)).is_none());
    }

    #[test]
    fn sign_in_code_is_accepted_once_and_follows_drift() {
        let key = TotpKey::new(&[1u8; 40]);
        let sync = DeviceSync { offset_steps: 0, last_accepted_step: step_at(NOW) - 10 };
        let code = key.code_at(NOW);
        let after = verify_code(&key, &code, NOW, sync).unwrap();
        assert_eq!(after.last_accepted_step, step_at(NOW));
        assert_eq!(verify_code(&key, &code, NOW, after), None, "replay refused");

        // The device runs one step fast: accepted, and the offset follows.
        let later = NOW + 300;
        let ahead = key.code_at(later + 30);
        let drifted = verify_code(&key, &ahead, later, after).unwrap();
        assert_eq!(drifted.offset_steps, 1);
        // Two steps off is outside the window.
        let far = key.code_at(later + 300 + 90);
        assert_eq!(verify_code(&key, &far, later + 300, DeviceSync { offset_steps: 0, ..drifted }), None);
    }

    #[test]
    fn garbage_codes_never_match() {
        let key = TotpKey::new(&[1u8; 40]);
        let sync = DeviceSync { offset_steps: 0, last_accepted_step: 0 };
        for bad in ["", "abcdef", "1234567", "12345"] {
            assert_eq!(verify_code(&key, bad, NOW, sync), None);
            assert!(find_consecutive_pair(&key, bad, bad, NOW, None).is_none());
        }
    }
}
