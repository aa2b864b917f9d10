//! What recording a request costs: the label normalisation `query_api` does, the counter and the
//! latency histogram, and a credential-cache lookup count — everything the metrics add to a
//! GetUser. Two threads record at once, as two runtime workers do.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use iamd_server::metrics::{Endpoint, Metrics};
use iamd_server::wire::Service;

fn record(c: &mut Criterion) {
    let metrics = Metrics::new(|_| {});
    let get_user = |m: &Metrics| {
        let endpoint = Endpoint::api(Service::Iam, black_box("GetUser"));
        m.credential_cache(true);
        m.request(&endpoint, 200, None, black_box(Duration::from_micros(40)));
    };
    c.bench_function("metrics/one GetUser recorded", |b| b.iter(|| get_user(&metrics)));
    c.bench_function("metrics/one GetUser recorded, another thread recording too", |b| {
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    get_user(&metrics);
                }
            });
            b.iter(|| get_user(&metrics));
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    });
}

criterion_group!(benches, record);
criterion_main!(benches);
