//! PgStore across PostgreSQL restarts and outages: calls fail fast and cleanly with `Unavailable`
//! while the server is away, the pool heals by itself once it is back, and nothing acknowledged
//! is lost. Needs `IAMD_TEST_DATABASE_URL` and `IAMD_PG_CTL` (both set by `scripts/with-postgres`);
//! skipped otherwise. Its own test binary, because it stops the server other tests use.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use iamd_store::*;

const ACCOUNT: &str = "123456789012";

fn pg_ctl(args: &[&str]) {
    let exe = std::env::var("IAMD_PG_CTL").expect("IAMD_PG_CTL");
    let out = std::process::Command::new(&exe).args(args).output().expect("run pg_ctl");
    assert!(out.status.success(), "pg_ctl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

async fn pg_ctl_async(args: &'static [&'static str]) {
    tokio::task::spawn_blocking(move || pg_ctl(args)).await.unwrap();
}

fn is_clean_failure(e: &StoreError) -> bool {
    matches!(e, StoreError::Unavailable(_))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restart_and_outage() {
    if std::env::var("IAMD_PG_CTL").is_err() {
        eprintln!("IAMD_PG_CTL not set: skipping");
        return;
    }
    let Some(database) = TestDatabase::create_or_skip() else { return };
    let url = database.url().to_owned();
    let outcome = tokio::spawn(async move { scenario(&url).await }).await;
    if let Err(e) = outcome {
        // Leave the server running for whatever comes next, even after a failure (and before
        // the database is dropped through it).
        let _ = std::process::Command::new(std::env::var("IAMD_PG_CTL").unwrap()).args(["start", "-w"]).output();
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn scenario(url: &str) {
    let store = Arc::new(PgStore::connect(url).await.unwrap());
    store.ensure_account(ACCOUNT, None, NOW).await.unwrap();
    store.create_user(&user(ACCOUNT, "before", "/"), 5000).await.unwrap();

    // Fill the pool with idle connections, which a restart kills.
    let mut warm = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let store = store.clone();
        warm.spawn(async move { store.get_user(ACCOUNT, "before").await });
    }
    assert!(warm.join_all().await.iter().all(|r| matches!(r, Ok(Some(_)))));
    let idle_before = store.pool().num_idle();
    assert!(idle_before >= 2, "pool holds idle connections ({idle_before})");

    // 1. A restart between requests: no dead connection is handed out afterwards.
    pg_ctl_async(&["restart", "-m", "fast", "-w"]).await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..16 {
        let store = store.clone();
        set.spawn(async move {
            if i % 2 == 0 {
                store.get_user(ACCOUNT, "before").await.map(|u| u.is_some())
            } else {
                store.create_user(&user(ACCOUNT, &format!("after-restart-{i}"), "/"), 5000).await.map(|_| true)
            }
        });
    }
    for r in set.join_all().await {
        assert_eq!(r, Ok(true), "every call right after a restart succeeds");
    }

    // 2. An outage: calls fail with Unavailable, and quickly (acquire timeout 5 s), never hang.
    pg_ctl_async(&["stop", "-m", "fast", "-w"]).await;
    for i in 0..2 {
        let started = Instant::now();
        let read = store.get_user(ACCOUNT, "before").await;
        let write = store.create_user(&user(ACCOUNT, &format!("during-outage-{i}"), "/"), 5000).await;
        let elapsed = started.elapsed();
        assert!(matches!(&read, Err(e) if is_clean_failure(e)), "read during outage: {read:?}");
        assert!(matches!(&write, Err(e) if is_clean_failure(e)), "write during outage: {write:?}");
        eprintln!("outage: a read and a write failed cleanly within {elapsed:?}");
        assert!(elapsed < Duration::from_secs(15), "two calls took {elapsed:?}");
    }
    pg_ctl_async(&["start", "-w"]).await;
    assert!(store.get_user(ACCOUNT, "before").await.unwrap().is_some(), "recovered by itself");
    assert_eq!(store.get_user(ACCOUNT, "during-outage-0").await.unwrap(), None, "failed writes did not happen");

    // 3. A restart under load: every call succeeds or fails cleanly, and every acknowledged write
    // survives.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..4 {
        let (store, stop) = (store.clone(), stop.clone());
        writers.spawn(async move {
            let mut acknowledged = Vec::new();
            let mut failures = 0usize;
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let name = format!("load-{w}-{n}");
                n += 1;
                let started = Instant::now();
                match store.create_user(&user(ACCOUNT, &name, "/"), 5000).await {
                    Ok(()) => acknowledged.push(name),
                    Err(e) => {
                        assert!(is_clean_failure(&e), "{name}: unexpected error {e:?}");
                        failures += 1;
                    }
                }
                assert!(started.elapsed() < Duration::from_secs(12), "a call hung for {:?}", started.elapsed());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (acknowledged, failures)
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    pg_ctl_async(&["restart", "-m", "fast", "-w"]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    pg_ctl_async(&["restart", "-m", "immediate", "-w"]).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    let mut failures = 0;
    for (names, failed) in writers.join_all().await {
        acknowledged.extend(names);
        failures += failed;
    }
    eprintln!("restart under load: {} writes acknowledged, {failures} failed cleanly", acknowledged.len());
    assert!(acknowledged.len() > 20, "the load kept going ({} acknowledged)", acknowledged.len());
    for name in &acknowledged {
        assert!(store.get_user(ACCOUNT, name).await.unwrap().is_some(), "acknowledged {name} was lost");
    }
    store.close().await;
}
