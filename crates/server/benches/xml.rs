//! Rendering a ListMFADevices response: the result element for a user with the most devices AWS
//! allows (8), wrapped in the `ListMFADevicesResponse` document, as the handler does.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use iamd_domain::entities::{Assignment, MfaDevice, User};
use iamd_domain::mfa::MAX_DEVICES_PER_USER;
use iamd_domain::totp::DeviceSync;
use iamd_server::ops::list_mfa_devices_result;
use iamd_server::wire::{Service, xml};

fn devices(n: u32) -> Vec<MfaDevice> {
    let user = User {
        account_id: "123456789012".into(),
        user_id: "AIDAEXAMPLEUSER000001".into(),
        name: "alice".into(),
        path: "/".into(),
        created_at: 1_800_000_000,
        password_last_used: None,
        tags: vec![],
        permissions_boundary: None,
    };
    (0..n)
        .map(|i| MfaDevice {
            serial: format!("arn:aws:iam::123456789012:mfa/alice-{i}"),
            account_id: "123456789012".into(),
            path: "/".into(),
            name: format!("alice-{i}"),
            seed_sealed: vec![0; 68],
            created_at: 1_800_000_000,
            assignment: Some(Assignment {
                user: user.clone(),
                enable_date: 1_800_000_000,
                sync: DeviceSync { offset_steps: 0, last_accepted_step: 60_000_000 },
            }),
        })
        .collect()
}

fn xml_rendering(c: &mut Criterion) {
    for n in [1, MAX_DEVICES_PER_USER] {
        let page = devices(n);
        c.bench_function(&format!("xml/ListMFADevices response, {n} device(s)"), |b| {
            b.iter(|| {
                let result = list_mfa_devices_result(black_box(page.clone()), false, None);
                xml::success(Service::Iam, "ListMFADevices", Some(&result), "c0ffee00-0000-4000-8000-000000000000")
            })
        });
    }
}

criterion_group!(benches, xml_rendering);
criterion_main!(benches);
