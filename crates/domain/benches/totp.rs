//! TOTP costs on the request path: one sign-in code check, and the Enable/Resync pair search over
//! the full 24 h + 5 min window in its worst case (no pair found, every step evaluated).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use iamd_domain::totp::{DeviceSync, TotpKey, find_consecutive_pair, step_at, verify_code};

const NOW: i64 = 1_800_000_000;
const SEED: [u8; 40] = [0x5a; 40];

fn totp(c: &mut Criterion) {
    let key = TotpKey::new(&SEED);
    let code = key.code_at(NOW);
    let sync = DeviceSync { offset_steps: 0, last_accepted_step: step_at(NOW) - 5 };
    c.bench_function("totp/verify_code (valid code, 3-step window)", |b| {
        b.iter(|| verify_code(black_box(&key), black_box(&code), black_box(NOW), black_box(sync)))
    });
    c.bench_function("totp/TotpKey::new + verify_code", |b| {
        b.iter(|| verify_code(&TotpKey::new(black_box(&SEED)), black_box(&code), black_box(NOW), black_box(sync)))
    });
    // A pair that is nowhere in the window: the search evaluates every step (it never exits early).
    let (mut code1, mut code2) = (0u32, 1u32);
    'search: for a in 0..1_000_000u32 {
        let c1 = format!("{a:06}");
        if find_consecutive_pair(&key, &c1, "999999", NOW, None).is_none() {
            (code1, code2) = (a, 999_999);
            break 'search;
        }
    }
    let (code1, code2) = (format!("{code1:06}"), format!("{code2:06}"));
    assert!(find_consecutive_pair(&key, &code1, &code2, NOW, None).is_none());
    c.bench_function("totp/find_consecutive_pair (24 h window, not found)", |b| {
        b.iter(|| find_consecutive_pair(black_box(&key), black_box(&code1), black_box(&code2), black_box(NOW), None))
    });
}

criterion_group!(benches, totp);
criterion_main!(benches);
