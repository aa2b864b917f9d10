//! CreateVirtualMFADevice's CPU cost beyond storage: a seed, its `otpauth://` URI and the QR code
//! PNG of that URI.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use iamd_domain::mfa::{generate_seed, otpauth_uri, qr_png};

fn mfa(c: &mut Criterion) {
    let uri = otpauth_uri("bench-device-000001", "123456789012", &generate_seed());
    c.bench_function("mfa/qr_png (otpauth URI, EC level M)", |b| b.iter(|| qr_png(black_box(&uri))));
    c.bench_function("mfa/generate_seed + otpauth_uri", |b| {
        b.iter(|| otpauth_uri(black_box("bench-device-000001"), "123456789012", &generate_seed()))
    });
}

criterion_group!(benches, mfa);
criterion_main!(benches);
