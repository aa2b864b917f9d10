//! One contract, every backend: the `Store` conformance suite.
//!
//! `conformance` exercises every trait method (results and errors); `concurrency` checks the rules
//! that must hold when requests race. Both run against SQLite always and against PostgreSQL when
//! `IAMD_TEST_DATABASE_URL` names a server (`scripts/with-postgres cargo test -p iamd-store`), each
//! PostgreSQL run in a database of its own.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::*;
use iamd_domain::entities::*;
use iamd_store::prelude::*;
use iamd_store::{
    Dependent, DeviceSync, Entity, PasswordPolicy, PgStore, Result, SqliteStore, StoreError, ThrottlePolicy,
    ThrottleState, open,
};
use tokio::task::JoinSet;

// Suite ---------------------------------------------------------------------------------------

async fn conformance(store: Arc<dyn Store>) {
    accounts_and_root_keys(&*store).await;
    users(&*store).await;
    user_tags(&*store).await;
    access_keys(&*store).await;
    mfa_devices(&*store).await;
    device_tags(&*store).await;
    delete_user_order(&*store).await;
    login_profiles(&*store).await;
    password_policy(&*store).await;
    throttle(&*store).await;
    sts_sessions(&*store).await;
    console_sessions(&*store).await;
    auth_events(&*store).await;
    meta(&*store).await;
}

const ACCOUNT: &str = "111122223333";
const OTHER_ACCOUNT: &str = "444455556666";

fn root_key(id: &str, secret: &[u8]) -> NewAccessKey {
    NewAccessKey { access_key_id: id.to_owned(), secret_sealed: secret.to_vec(), created_at: NOW }
}

fn new_key() -> NewAccessKey {
    NewAccessKey { access_key_id: fresh_id("AKIA"), secret_sealed: b"sealed-secret".to_vec(), created_at: NOW + 5 }
}

fn device(account_id: &str, name: &str) -> NewMfaDevice {
    NewMfaDevice {
        serial: format!("arn:aws:iam::{account_id}:mfa/{name}"),
        account_id: account_id.to_owned(),
        path: "/".to_owned(),
        name: name.to_owned(),
        seed_sealed: format!("seed-of-{name}").into_bytes(),
        created_at: NOW,
        tags: Vec::new(),
    }
}

fn tag(key: &str, value: &str) -> Tag {
    Tag { key: key.to_owned(), value: value.to_owned() }
}

fn page(after: Option<&str>, limit: usize) -> Page {
    Page { after: after.map(str::to_owned), limit }
}

fn sync(offset: i64, last: i64) -> DeviceSync {
    DeviceSync { offset_steps: offset, last_accepted_step: last }
}

/// A fresh account with its root key, for sections that need a clean slate.
async fn fresh_account(store: &dyn Store) -> String {
    let n: u64 = fresh_id("").parse().unwrap();
    let account = format!("{:012}", 900_000_000_000 + n);
    store.ensure_account(&account, None, NOW).await.unwrap();
    account
}

async fn accounts_and_root_keys(store: &dyn Store) {
    assert!(!store.account_exists(ACCOUNT).await.unwrap());
    assert_eq!(store.find_access_key("AKIAROOT0000000001").await.unwrap(), None);

    store.ensure_account(ACCOUNT, Some(root_key("AKIAROOT0000000001", b"secret-1")), NOW).await.unwrap();
    // Idempotent; a known root key gets the new secret.
    store.ensure_account(ACCOUNT, Some(root_key("AKIAROOT0000000001", b"secret-2")), NOW + 10).await.unwrap();
    store.ensure_account(OTHER_ACCOUNT, None, NOW).await.unwrap();
    assert!(store.account_exists(ACCOUNT).await.unwrap());
    assert!(store.account_exists(OTHER_ACCOUNT).await.unwrap());
    assert!(!store.account_exists("999999999999").await.unwrap());
    assert_eq!(store.accounts().await.unwrap(), vec![ACCOUNT.to_owned(), OTHER_ACCOUNT.to_owned()]);

    let key = store.find_access_key("AKIAROOT0000000001").await.unwrap().expect("root key");
    assert_eq!(key.account_id, ACCOUNT);
    assert_eq!(key.user, None);
    assert_eq!(key.secret_sealed, b"secret-2");
    assert_eq!(key.status, KeyStatus::Active);
    assert_eq!(key.created_at, NOW, "the first creation time stays");

    // Another account cannot take over (or overwrite) a root key id that is already known.
    store.ensure_account(OTHER_ACCOUNT, Some(root_key("AKIAROOT0000000001", b"stolen")), NOW).await.unwrap();
    let key = store.find_access_key("AKIAROOT0000000001").await.unwrap().unwrap();
    assert_eq!((key.account_id.as_str(), key.secret_sealed.as_slice()), (ACCOUNT, &b"secret-2"[..]));

    let counts = store.account_counts(ACCOUNT).await.unwrap();
    assert_eq!(counts, AccountCounts { users: 0, mfa_devices: 0, mfa_devices_in_use: 0, root_access_keys: 1 });
}

async fn users(store: &dyn Store) {
    let account = fresh_account(store).await;
    let mut alice = user(&account, "Alice", "/team/");
    alice.tags = vec![tag("b-key", "2"), tag("A-key", "1")];
    store.create_user(&alice, 5000).await.unwrap();

    // Names are unique without regard to case, per account.
    let mut dup = user(&account, "ALICE", "/");
    assert_eq!(store.create_user(&dup, 5000).await, Err(StoreError::AlreadyExists(Entity::User)));
    dup.account_id = OTHER_ACCOUNT.to_owned();
    store.create_user(&dup, 5000).await.expect("same name in another account");

    let got = store.get_user(&account, "aLiCe").await.unwrap().expect("found case-insensitively");
    assert_eq!(got.name, "Alice", "the name keeps its case");
    assert_eq!(got.user_id, alice.user_id);
    assert_eq!(got.path, "/team/");
    assert_eq!(got.created_at, NOW);
    assert_eq!(got.password_last_used, None);
    assert_eq!(got.tags, vec![tag("A-key", "1"), tag("b-key", "2")], "tags ordered by key, case-insensitively");
    assert_eq!(store.get_user(&account, "nobody").await.unwrap(), None);
    assert_eq!(store.get_user("999999999999", "Alice").await.unwrap(), None);

    for (name, path) in [("bob", "/"), ("Carol", "/team/sub/"), ("dave", "/other/"), ("Erin", "/team/")] {
        store.create_user(&user(&account, name, path), 5000).await.unwrap();
    }
    // The account holds 5 users now: a quota of 5 refuses a sixth, and the refusal writes nothing.
    let mut sixth = user(&account, "frank-over-quota", "/");
    sixth.tags = vec![tag("k", "v")];
    assert_eq!(store.create_user(&sixth, 5).await, Err(StoreError::LimitExceeded));
    assert_eq!(store.get_user(&account, "frank-over-quota").await.unwrap(), None);
    assert_eq!(store.account_counts(&account).await.unwrap().users, 5);

    // Paging: ordered by lower-cased name, `limit + 1` rows so callers can tell more remain.
    let names = |users: Vec<User>| users.into_iter().map(|u| u.name).collect::<Vec<_>>();
    let first = store.list_users(&account, "/", &page(None, 2)).await.unwrap();
    assert_eq!(names(first), ["Alice", "bob", "Carol"]);
    let second = store.list_users(&account, "/", &page(Some("bob"), 2)).await.unwrap();
    assert_eq!(names(second), ["Carol", "dave", "Erin"]);
    let last = store.list_users(&account, "/", &page(Some("dave"), 2)).await.unwrap();
    assert_eq!(names(last), ["Erin"]);
    let all = store.list_users(&account, "/", &page(None, 100)).await.unwrap();
    assert_eq!(names(all), ["Alice", "bob", "Carol", "dave", "Erin"]);
    assert!(store.list_users(&account, "/", &page(Some("erin"), 10)).await.unwrap().is_empty());
    // Path prefix filter.
    let team = store.list_users(&account, "/team/", &page(None, 100)).await.unwrap();
    assert_eq!(names(team), ["Alice", "Carol", "Erin"]);
    let sub = store.list_users(&account, "/team/sub/", &page(None, 100)).await.unwrap();
    assert_eq!(names(sub), ["Carol"]);
    assert!(store.list_users(&account, "/nope/", &page(None, 100)).await.unwrap().is_empty());
    let listed = store.list_users(&account, "/team/", &page(None, 1)).await.unwrap();
    assert_eq!(listed[0].user_id, alice.user_id);

    // Renames: to a name taken in any case fails; the own name in another case is fine.
    assert_eq!(
        store.update_user(&account, "bob", Some("CAROL"), None).await,
        Err(StoreError::AlreadyExists(Entity::User))
    );
    assert_eq!(store.update_user(&account, "nobody", Some("x"), None).await, Err(StoreError::NotFound(Entity::User)));
    store.update_user(&account, "bob", Some("Bob"), None).await.unwrap();
    store.update_user(&account, "BOB", Some("Robert"), Some("/renamed/")).await.unwrap();
    assert_eq!(store.get_user(&account, "bob").await.unwrap(), None);
    let robert = store.get_user(&account, "robert").await.unwrap().unwrap();
    assert_eq!((robert.name.as_str(), robert.path.as_str()), ("Robert", "/renamed/"));
    store.update_user(&account, "Robert", None, Some("/")).await.unwrap();
    let robert = store.get_user(&account, "Robert").await.unwrap().unwrap();
    assert_eq!((robert.name.as_str(), robert.path.as_str()), ("Robert", "/"));

    assert_eq!(store.delete_user(&account, "nobody").await, Err(StoreError::NotFound(Entity::User)));
    store.delete_user(&account, "ROBERT").await.unwrap();
    assert_eq!(store.get_user(&account, "Robert").await.unwrap(), None);
    // The name is free again.
    store.create_user(&user(&account, "robert", "/"), 5000).await.unwrap();

    // Tags go with the user.
    store.delete_user(&account, "alice").await.unwrap();
    store.create_user(&user(&account, "Alice", "/"), 5000).await.unwrap();
    assert!(store.get_user(&account, "Alice").await.unwrap().unwrap().tags.is_empty());

    let counts = store.account_counts(&account).await.unwrap();
    assert_eq!(counts.users, 5);

    // Password use.
    let erin = store.get_user(&account, "erin").await.unwrap().unwrap();
    store.record_password_use(&erin.user_id, NOW + 77).await.unwrap();
    assert_eq!(store.get_user(&account, "erin").await.unwrap().unwrap().password_last_used, Some(NOW + 77));
}

async fn user_tags(store: &dyn Store) {
    let account = fresh_account(store).await;
    let mut u = user(&account, "Tagged", "/");
    u.tags = vec![tag("Env", "prod"), tag("team", "blue")];
    store.create_user(&u, 5000).await.unwrap();
    // The user name matches case-insensitively, as for get_user.
    assert_eq!(store.user_tags(&account, "tagged").await.unwrap(), [tag("Env", "prod"), tag("team", "blue")]);

    // Overwrite, case-insensitively: the new spelling and value win, one tag per key.
    store.tag_user(&account, "TAGGED", &[tag("ENV", "dev"), tag("a", "1")], 50).await.unwrap();
    assert_eq!(
        store.user_tags(&account, "Tagged").await.unwrap(),
        [tag("a", "1"), tag("ENV", "dev"), tag("team", "blue")]
    );

    // Ordered by lower-cased key, not by bytes ("Zed" after "team").
    store
        .tag_user(&account, "Tagged", &[tag("Zed", "z"), tag("b-second", "y"), tag("B-first", "x")], 50)
        .await
        .unwrap();
    let expected = [
        tag("a", "1"),
        tag("B-first", "x"),
        tag("b-second", "y"),
        tag("ENV", "dev"),
        tag("team", "blue"),
        tag("Zed", "z"),
    ];
    assert_eq!(store.user_tags(&account, "Tagged").await.unwrap(), expected);
    // The same tags, in the same order, come with the user.
    assert_eq!(store.get_user(&account, "tagged").await.unwrap().unwrap().tags, expected);

    // The limit counts the tags the user would carry; a refused call writes nothing.
    let many: Vec<Tag> = (0..45).map(|i| tag(&format!("k{i:02}"), "v")).collect();
    assert_eq!(store.tag_user(&account, "Tagged", &many, 50).await, Err(StoreError::LimitExceeded));
    assert_eq!(store.user_tags(&account, "Tagged").await.unwrap(), expected, "rolled back");
    // Overwriting keys does not count twice: 44 new + 6 existing (one overwritten) = 50.
    let mut fits: Vec<Tag> = (0..44).map(|i| tag(&format!("k{i:02}"), "v")).collect();
    fits.push(tag("TEAM", "red"));
    store.tag_user(&account, "Tagged", &fits, 50).await.unwrap();
    let tags = store.user_tags(&account, "Tagged").await.unwrap();
    assert_eq!(tags.len(), 50);
    assert!(tags.contains(&tag("TEAM", "red")));
    assert!(!tags.contains(&tag("team", "blue")));
    assert_eq!(store.tag_user(&account, "Tagged", &[tag("one-more", "x")], 50).await, Err(StoreError::LimitExceeded));
    assert_eq!(store.user_tags(&account, "Tagged").await.unwrap().len(), 50);
    // Overwriting at the limit is fine.
    store.tag_user(&account, "Tagged", &[tag("A", "2")], 50).await.unwrap();
    assert_eq!(store.user_tags(&account, "Tagged").await.unwrap()[0], tag("A", "2"));

    // A refused call on a user without tags leaves none.
    store.create_user(&user(&account, "Bare", "/"), 5000).await.unwrap();
    let three = [tag("x", "1"), tag("y", "2"), tag("z", "3")];
    assert_eq!(store.tag_user(&account, "bare", &three, 2).await, Err(StoreError::LimitExceeded));
    assert!(store.user_tags(&account, "bare").await.unwrap().is_empty());
    assert!(store.get_user(&account, "bare").await.unwrap().unwrap().tags.is_empty());
    store.tag_user(&account, "bare", &three[..2], 2).await.unwrap();
    assert_eq!(store.user_tags(&account, "bare").await.unwrap(), three[..2]);

    // Untag: case-insensitive, unknown keys ignored.
    store.untag_user(&account, "tagged", &["a".to_owned(), "Team".to_owned(), "absent".to_owned()]).await.unwrap();
    let tags = store.user_tags(&account, "Tagged").await.unwrap();
    assert_eq!(tags.len(), 48);
    assert_eq!(tags[0], tag("B-first", "x"));
    assert!(!tags.iter().any(|t| t.key.eq_ignore_ascii_case("team") || t.key.eq_ignore_ascii_case("a")));
    store.untag_user(&account, "Tagged", &[]).await.unwrap();
    store.untag_user(&account, "Tagged", &["never-there".to_owned()]).await.unwrap();
    assert_eq!(store.user_tags(&account, "Tagged").await.unwrap().len(), 48);
    assert_eq!(store.get_user(&account, "Tagged").await.unwrap().unwrap().tags, tags);
    // The other user's tags are untouched.
    assert_eq!(store.user_tags(&account, "bare").await.unwrap(), three[..2]);

    // Unknown users (also: the right name in another account).
    for (acct, name) in [(account.as_str(), "nobody"), (OTHER_ACCOUNT, "Tagged")] {
        assert_eq!(store.user_tags(acct, name).await, Err(StoreError::NotFound(Entity::User)));
        assert_eq!(store.tag_user(acct, name, &[tag("a", "b")], 50).await, Err(StoreError::NotFound(Entity::User)));
        assert_eq!(store.untag_user(acct, name, &["a".to_owned()]).await, Err(StoreError::NotFound(Entity::User)));
    }

    // Tags go with the user.
    store.delete_user(&account, "bare").await.unwrap();
    assert_eq!(store.user_tags(&account, "bare").await, Err(StoreError::NotFound(Entity::User)));
    store.create_user(&user(&account, "bare", "/"), 5000).await.unwrap();
    assert!(store.user_tags(&account, "bare").await.unwrap().is_empty());
}

async fn access_keys(store: &dyn Store) {
    let account = fresh_account(store).await;
    let frank = user(&account, "Frank", "/ops/");
    store.create_user(&frank, 5000).await.unwrap();
    store.create_user(&user(&account, "grace", "/"), 5000).await.unwrap();

    assert_eq!(
        store.create_access_key(&account, "nobody", &new_key(), 2).await,
        Err(StoreError::NotFound(Entity::User))
    );
    let k1 = new_key();
    let created = store.create_access_key(&account, "FRANK", &k1, 2).await.unwrap();
    assert_eq!(created.access_key_id, k1.access_key_id);
    assert_eq!(created.account_id, account);
    assert_eq!(created.status, KeyStatus::Active);
    assert_eq!(created.secret_sealed, k1.secret_sealed);
    assert_eq!(created.created_at, k1.created_at);
    assert_eq!(created.user.as_ref().map(|u| u.user_id.as_str()), Some(frank.user_id.as_str()));
    assert_eq!(created.user.as_ref().map(|u| u.name.as_str()), Some("Frank"));
    let k2 = new_key();
    store.create_access_key(&account, "frank", &k2, 2).await.unwrap();
    assert_eq!(store.create_access_key(&account, "frank", &new_key(), 2).await, Err(StoreError::LimitExceeded));
    // The limit is the caller's: a higher one admits a third key.
    let k3 = new_key();
    store.create_access_key(&account, "frank", &k3, 3).await.unwrap();

    let listed = store.list_access_keys(&account, "Frank").await.unwrap();
    let ids: Vec<_> = listed.iter().map(|k| k.access_key_id.clone()).collect();
    let mut sorted = vec![k1.access_key_id.clone(), k2.access_key_id.clone(), k3.access_key_id.clone()];
    sorted.sort();
    assert_eq!(ids, sorted, "ordered by key id");
    assert!(listed.iter().all(|k| k.user.as_ref().unwrap().name == "Frank" && k.account_id == account));
    assert!(store.list_access_keys(&account, "grace").await.unwrap().is_empty());
    assert_eq!(store.list_access_keys(&account, "nobody").await, Err(StoreError::NotFound(Entity::User)));

    let found = store.find_access_key(&k1.access_key_id).await.unwrap().unwrap();
    assert_eq!(found.user.as_ref().unwrap().path, "/ops/");
    assert_eq!(found.account_id, account);

    store.update_access_key(&account, "frank", &k1.access_key_id, KeyStatus::Inactive).await.unwrap();
    assert_eq!(store.find_access_key(&k1.access_key_id).await.unwrap().unwrap().status, KeyStatus::Inactive);
    store.update_access_key(&account, "frank", &k1.access_key_id, KeyStatus::Active).await.unwrap();
    assert_eq!(store.find_access_key(&k1.access_key_id).await.unwrap().unwrap().status, KeyStatus::Active);
    // Someone else's key, an unknown key, an unknown user.
    assert_eq!(
        store.update_access_key(&account, "grace", &k1.access_key_id, KeyStatus::Inactive).await,
        Err(StoreError::NotFound(Entity::AccessKey))
    );
    assert_eq!(
        store.update_access_key(&account, "frank", "AKIANOPE", KeyStatus::Inactive).await,
        Err(StoreError::NotFound(Entity::AccessKey))
    );
    assert_eq!(
        store.update_access_key(&account, "nobody", &k1.access_key_id, KeyStatus::Inactive).await,
        Err(StoreError::NotFound(Entity::User))
    );

    assert_eq!(
        store.delete_access_key(&account, "grace", &k1.access_key_id).await,
        Err(StoreError::NotFound(Entity::AccessKey))
    );
    assert_eq!(
        store.delete_access_key(&account, "nobody", &k1.access_key_id).await,
        Err(StoreError::NotFound(Entity::User))
    );
    store.delete_access_key(&account, "frank", &k1.access_key_id).await.unwrap();
    assert_eq!(
        store.delete_access_key(&account, "frank", &k1.access_key_id).await,
        Err(StoreError::NotFound(Entity::AccessKey))
    );
    assert_eq!(store.find_access_key(&k1.access_key_id).await.unwrap(), None);
    assert_eq!(store.list_access_keys(&account, "frank").await.unwrap().len(), 2);
    // User keys are not root keys.
    assert_eq!(store.account_counts(&account).await.unwrap().root_access_keys, 0);
}

async fn mfa_devices(store: &dyn Store) {
    let account = fresh_account(store).await;
    let heidi = user(&account, "Heidi", "/");
    let ivan = user(&account, "ivan", "/");
    store.create_user(&heidi, 5000).await.unwrap();
    store.create_user(&ivan, 5000).await.unwrap();

    let mut d1 = device(&account, "d1");
    d1.path = "/tokens/".to_owned();
    store.create_mfa_device(&d1, 100).await.unwrap();
    assert_eq!(store.create_mfa_device(&d1, 100).await, Err(StoreError::AlreadyExists(Entity::MfaDevice)));
    let d2 = device(&account, "d2");
    let d3 = device(&account, "d3");
    store.create_mfa_device(&d2, 100).await.unwrap();
    store.create_mfa_device(&d3, 3).await.unwrap();
    assert_eq!(store.create_mfa_device(&device(&account, "d4"), 3).await, Err(StoreError::LimitExceeded));
    assert_eq!(store.get_mfa_device(&account, &device(&account, "d4").serial).await.unwrap(), None);

    let got = store.get_mfa_device(&account, &d1.serial).await.unwrap().expect("device");
    assert_eq!(got.serial, d1.serial);
    assert_eq!(got.account_id, account);
    assert_eq!((got.path.as_str(), got.name.as_str()), ("/tokens/", "d1"));
    assert_eq!(got.seed_sealed, d1.seed_sealed);
    assert_eq!(got.created_at, NOW);
    assert_eq!(got.assignment, None);
    assert_eq!(store.get_mfa_device(OTHER_ACCOUNT, &d1.serial).await.unwrap(), None, "scoped to its account");

    // Assign.
    assert_eq!(
        store.assign_mfa_device(&account, &d1.serial, "nobody", sync(0, 10), NOW, 8).await,
        Err(StoreError::NotFound(Entity::User))
    );
    assert_eq!(
        store.assign_mfa_device(&account, "arn:aws:iam::x:mfa/none", "heidi", sync(0, 10), NOW, 8).await,
        Err(StoreError::NotFound(Entity::MfaDevice))
    );
    assert_eq!(
        store.assign_mfa_device(OTHER_ACCOUNT, &d1.serial, "heidi", sync(0, 10), NOW, 8).await,
        Err(StoreError::NotFound(Entity::User))
    );
    store.assign_mfa_device(&account, &d1.serial, "HEIDI", sync(-1, 1000), NOW + 1, 8).await.unwrap();
    assert_eq!(
        store.assign_mfa_device(&account, &d1.serial, "heidi", sync(0, 10), NOW, 8).await,
        Err(StoreError::DeviceInUse)
    );
    assert_eq!(
        store.assign_mfa_device(&account, &d1.serial, "ivan", sync(0, 10), NOW, 8).await,
        Err(StoreError::DeviceInUse)
    );
    // Per-user limit (the caller's number).
    assert_eq!(
        store.assign_mfa_device(&account, &d2.serial, "heidi", sync(0, 10), NOW, 1).await,
        Err(StoreError::LimitExceeded)
    );
    store.assign_mfa_device(&account, &d2.serial, "heidi", sync(2, 2000), NOW + 2, 2).await.unwrap();

    let got = store.get_mfa_device(&account, &d1.serial).await.unwrap().unwrap();
    let a = got.assignment.expect("assigned");
    assert_eq!(a.user.user_id, heidi.user_id);
    assert_eq!(a.user.name, "Heidi");
    assert_eq!(a.enable_date, NOW + 1);
    assert_eq!(a.sync, sync(-1, 1000));

    // Sync moves forward only from the state the caller saw, for the user it is assigned to.
    assert_eq!(store.advance_mfa_sync(&d1.serial, &heidi.user_id, 999, sync(0, 1001)).await, Err(StoreError::Conflict));
    assert_eq!(store.advance_mfa_sync(&d1.serial, &ivan.user_id, 1000, sync(0, 1001)).await, Err(StoreError::Conflict));
    assert_eq!(
        store.advance_mfa_sync(&d3.serial, &heidi.user_id, 1000, sync(0, 1001)).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(store.advance_mfa_sync("nope", &heidi.user_id, 1000, sync(0, 1001)).await, Err(StoreError::Conflict));
    store.advance_mfa_sync(&d1.serial, &heidi.user_id, 1000, sync(1, 1001)).await.unwrap();
    assert_eq!(
        store.advance_mfa_sync(&d1.serial, &heidi.user_id, 1000, sync(1, 1002)).await,
        Err(StoreError::Conflict)
    );
    let got = store.get_mfa_device(&account, &d1.serial).await.unwrap().unwrap();
    assert_eq!(got.assignment.unwrap().sync, sync(1, 1001));

    // Listing a user's devices: by serial, with the assignment.
    let heidis = store.list_user_mfa_devices(&account, "heidi").await.unwrap();
    assert_eq!(heidis.iter().map(|d| d.serial.as_str()).collect::<Vec<_>>(), [d1.serial.as_str(), &d2.serial]);
    assert!(heidis.iter().all(|d| d.assignment.as_ref().unwrap().user.user_id == heidi.user_id));
    assert!(store.list_user_mfa_devices(&account, "ivan").await.unwrap().is_empty());
    assert_eq!(store.list_user_mfa_devices(&account, "nobody").await, Err(StoreError::NotFound(Entity::User)));

    // Listing the account's devices: by serial, filtered, paged with limit + 1.
    let serials = |v: Vec<MfaDevice>| v.into_iter().map(|d| d.serial).collect::<Vec<String>>();
    let (s1, s2, s3) = (d1.serial.clone(), d2.serial.clone(), d3.serial.clone());
    let any = store.list_mfa_devices(&account, AssignmentFilter::Any, &page(None, 10)).await.unwrap();
    assert_eq!(serials(any), [s1.clone(), s2.clone(), s3.clone()]);
    let assigned = store.list_mfa_devices(&account, AssignmentFilter::Assigned, &page(None, 10)).await.unwrap();
    assert_eq!(serials(assigned), [s1.clone(), s2.clone()]);
    let unassigned = store.list_mfa_devices(&account, AssignmentFilter::Unassigned, &page(None, 10)).await.unwrap();
    assert_eq!(unassigned.len(), 1);
    assert_eq!(unassigned[0].assignment, None);
    assert_eq!(unassigned[0].serial, d3.serial);
    let first = store.list_mfa_devices(&account, AssignmentFilter::Any, &page(None, 1)).await.unwrap();
    assert_eq!(serials(first), [s1.clone(), s2.clone()]);
    let next = store.list_mfa_devices(&account, AssignmentFilter::Any, &page(Some(&d2.serial), 1)).await.unwrap();
    assert_eq!(serials(next), [s3]);
    assert!(store.list_mfa_devices(OTHER_ACCOUNT, AssignmentFilter::Any, &page(None, 10)).await.unwrap().is_empty());

    let counts = store.account_counts(&account).await.unwrap();
    assert_eq!(counts, AccountCounts { users: 2, mfa_devices: 3, mfa_devices_in_use: 2, root_access_keys: 0 });

    // Deleting: not while assigned.
    assert_eq!(store.delete_mfa_device(&account, &d1.serial).await, Err(StoreError::DeviceAssigned));
    assert_eq!(store.delete_mfa_device(&account, "nope").await, Err(StoreError::NotFound(Entity::MfaDevice)));
    assert_eq!(store.delete_mfa_device(OTHER_ACCOUNT, &d3.serial).await, Err(StoreError::NotFound(Entity::MfaDevice)));

    // Unassigning: only by the user it is assigned to.
    assert_eq!(
        store.unassign_mfa_device(&account, "ivan", &d1.serial).await,
        Err(StoreError::NotFound(Entity::MfaDevice))
    );
    assert_eq!(
        store.unassign_mfa_device(&account, "nobody", &d1.serial).await,
        Err(StoreError::NotFound(Entity::User))
    );
    assert_eq!(
        store.unassign_mfa_device(&account, "heidi", &d3.serial).await,
        Err(StoreError::NotFound(Entity::MfaDevice))
    );
    store.unassign_mfa_device(&account, "Heidi", &d1.serial).await.unwrap();
    assert_eq!(
        store.unassign_mfa_device(&account, "heidi", &d1.serial).await,
        Err(StoreError::NotFound(Entity::MfaDevice))
    );
    assert_eq!(store.get_mfa_device(&account, &d1.serial).await.unwrap().unwrap().assignment, None);
    // Sync state is gone with the assignment; a stale advance fails.
    assert_eq!(
        store.advance_mfa_sync(&d1.serial, &heidi.user_id, 1001, sync(0, 1002)).await,
        Err(StoreError::Conflict)
    );
    // It can be assigned again, to someone else.
    store.assign_mfa_device(&account, &d1.serial, "ivan", sync(0, 5), NOW + 3, 8).await.unwrap();
    store.unassign_mfa_device(&account, "ivan", &d1.serial).await.unwrap();

    store.delete_mfa_device(&account, &d1.serial).await.unwrap();
    assert_eq!(store.get_mfa_device(&account, &d1.serial).await.unwrap(), None);
    assert_eq!(store.delete_mfa_device(&account, &d1.serial).await, Err(StoreError::NotFound(Entity::MfaDevice)));
    // The serial is free again, and room was made under the account limit.
    store.create_mfa_device(&d1, 3).await.unwrap();
    let counts = store.account_counts(&account).await.unwrap();
    assert_eq!((counts.mfa_devices, counts.mfa_devices_in_use), (3, 1));
}

async fn device_tags(store: &dyn Store) {
    let account = fresh_account(store).await;
    let mut d = device(&account, "tagged");
    d.tags = vec![tag("Env", "prod"), tag("team", "blue")];
    store.create_mfa_device(&d, 100).await.unwrap();
    assert_eq!(store.mfa_device_tags(&account, &d.serial).await.unwrap(), [tag("Env", "prod"), tag("team", "blue")]);

    // Overwrite, case-insensitively: the new spelling and value win.
    store.tag_mfa_device(&account, &d.serial, &[tag("ENV", "dev"), tag("a", "1")], 50).await.unwrap();
    assert_eq!(
        store.mfa_device_tags(&account, &d.serial).await.unwrap(),
        [tag("a", "1"), tag("ENV", "dev"), tag("team", "blue")]
    );

    // The limit counts the tags the device would carry; a failed call leaves the old tags.
    let many: Vec<Tag> = (0..48).map(|i| tag(&format!("k{i:02}"), "v")).collect();
    assert_eq!(store.tag_mfa_device(&account, &d.serial, &many, 50).await, Err(StoreError::LimitExceeded));
    assert_eq!(
        store.mfa_device_tags(&account, &d.serial).await.unwrap(),
        [tag("a", "1"), tag("ENV", "dev"), tag("team", "blue")],
        "rolled back"
    );
    // Overwriting keys does not count twice: 47 new + 3 existing (one overwritten) = 50.
    let mut fits: Vec<Tag> = (0..47).map(|i| tag(&format!("k{i:02}"), "v")).collect();
    fits.push(tag("Team", "red"));
    store.tag_mfa_device(&account, &d.serial, &fits, 50).await.unwrap();
    let tags = store.mfa_device_tags(&account, &d.serial).await.unwrap();
    assert_eq!(tags.len(), 50);
    assert!(tags.contains(&tag("Team", "red")));
    assert_eq!(
        store.tag_mfa_device(&account, &d.serial, &[tag("one-more", "x")], 50).await,
        Err(StoreError::LimitExceeded)
    );
    assert_eq!(store.mfa_device_tags(&account, &d.serial).await.unwrap().len(), 50);
    // Overwriting at the limit is fine.
    store.tag_mfa_device(&account, &d.serial, &[tag("A", "2")], 50).await.unwrap();

    // Untag: case-insensitive, unknown keys ignored.
    store
        .untag_mfa_device(&account, &d.serial, &["a".to_owned(), "TEAM".to_owned(), "absent".to_owned()])
        .await
        .unwrap();
    let tags = store.mfa_device_tags(&account, &d.serial).await.unwrap();
    assert_eq!(tags.len(), 48);
    assert_eq!(tags[0], tag("ENV", "dev"));
    assert_eq!(tags[1].key, "k00");
    store.untag_mfa_device(&account, &d.serial, &[]).await.unwrap();
    assert_eq!(store.mfa_device_tags(&account, &d.serial).await.unwrap().len(), 48);

    let missing = "arn:aws:iam::x:mfa/missing";
    assert_eq!(store.mfa_device_tags(&account, missing).await, Err(StoreError::NotFound(Entity::MfaDevice)));
    assert_eq!(
        store.tag_mfa_device(&account, missing, &[tag("a", "b")], 50).await,
        Err(StoreError::NotFound(Entity::MfaDevice))
    );
    assert_eq!(
        store.untag_mfa_device(&account, missing, &["a".to_owned()]).await,
        Err(StoreError::NotFound(Entity::MfaDevice))
    );
    assert_eq!(store.mfa_device_tags(OTHER_ACCOUNT, &d.serial).await, Err(StoreError::NotFound(Entity::MfaDevice)));

    // Tags go with the device.
    store.delete_mfa_device(&account, &d.serial).await.unwrap();
    d.tags.clear();
    store.create_mfa_device(&d, 100).await.unwrap();
    assert!(store.mfa_device_tags(&account, &d.serial).await.unwrap().is_empty());
}

async fn delete_user_order(store: &dyn Store) {
    let account = fresh_account(store).await;
    let judy = user(&account, "Judy", "/");
    store.create_user(&judy, 5000).await.unwrap();
    let key = new_key();
    store.create_access_key(&account, "judy", &key, 2).await.unwrap();
    let d = device(&account, "judy");
    store.create_mfa_device(&d, 100).await.unwrap();
    store.assign_mfa_device(&account, &d.serial, "judy", sync(0, 1), NOW, 8).await.unwrap();
    store.create_login_profile(&account, "judy", "$argon2id$hash", false, NOW).await.unwrap();
    store.record_mfa_failure(&judy.user_id, &ThrottlePolicy::default(), NOW).await.unwrap();

    // AWS's cleanup order: login profile, then access keys, then MFA devices.
    assert_eq!(store.delete_user(&account, "judy").await, Err(StoreError::DeleteConflict(Dependent::LoginProfile)));
    store.delete_login_profile(&account, "judy").await.unwrap();
    assert_eq!(store.delete_user(&account, "judy").await, Err(StoreError::DeleteConflict(Dependent::AccessKeys)));
    store.delete_access_key(&account, "judy", &key.access_key_id).await.unwrap();
    assert_eq!(store.delete_user(&account, "judy").await, Err(StoreError::DeleteConflict(Dependent::MfaDevices)));
    store.unassign_mfa_device(&account, "judy", &d.serial).await.unwrap();
    store.delete_user(&account, "JUDY").await.unwrap();
    assert_eq!(store.get_user(&account, "judy").await.unwrap(), None);
    assert_eq!(store.mfa_throttle(&judy.user_id).await.unwrap(), ThrottleState::default());
    // The device outlives its user.
    assert!(store.get_mfa_device(&account, &d.serial).await.unwrap().is_some());
}

async fn login_profiles(store: &dyn Store) {
    let account = fresh_account(store).await;
    let mallory = user(&account, "Mallory", "/");
    store.create_user(&mallory, 5000).await.unwrap();
    store.create_user(&user(&account, "niaj", "/"), 5000).await.unwrap();

    assert_eq!(
        store.create_login_profile(&account, "nobody", "h", true, NOW).await,
        Err(StoreError::NotFound(Entity::User))
    );
    assert_eq!(store.get_login_profile(&account, "nobody").await, Err(StoreError::NotFound(Entity::User)));
    assert_eq!(store.get_login_profile(&account, "mallory").await, Err(StoreError::NotFound(Entity::LoginProfile)));

    let created = store.create_login_profile(&account, "MALLORY", "hash-1", true, NOW + 3).await.unwrap();
    assert_eq!(created.user.user_id, mallory.user_id);
    assert_eq!(created.user.name, "Mallory");
    assert_eq!((created.password_hash.as_str(), created.reset_required, created.created_at), ("hash-1", true, NOW + 3));
    assert_eq!(
        store.create_login_profile(&account, "mallory", "hash-2", false, NOW).await,
        Err(StoreError::AlreadyExists(Entity::LoginProfile))
    );
    assert_eq!(store.get_login_profile(&account, "mallory").await.unwrap(), created);

    // Partial updates.
    store.update_login_profile(&account, "mallory", Some("hash-3"), None).await.unwrap();
    let got = store.get_login_profile(&account, "mallory").await.unwrap();
    assert_eq!((got.password_hash.as_str(), got.reset_required, got.created_at), ("hash-3", true, NOW + 3));
    store.update_login_profile(&account, "mallory", None, Some(false)).await.unwrap();
    let got = store.get_login_profile(&account, "mallory").await.unwrap();
    assert_eq!((got.password_hash.as_str(), got.reset_required), ("hash-3", false));
    store.update_login_profile(&account, "mallory", None, None).await.unwrap();
    assert_eq!(
        store.update_login_profile(&account, "niaj", Some("h"), None).await,
        Err(StoreError::NotFound(Entity::LoginProfile))
    );
    assert_eq!(
        store.update_login_profile(&account, "nobody", Some("h"), None).await,
        Err(StoreError::NotFound(Entity::User))
    );

    // Deleting the profile ends the user's console sessions.
    let session = console_session(&account, &mallory, b"cookie-hash-mallory");
    store.create_console_session(&session).await.unwrap();
    assert!(store.find_console_session(b"cookie-hash-mallory").await.unwrap().is_some());
    assert_eq!(store.delete_login_profile(&account, "niaj").await, Err(StoreError::NotFound(Entity::LoginProfile)));
    assert_eq!(store.delete_login_profile(&account, "nobody").await, Err(StoreError::NotFound(Entity::User)));
    store.delete_login_profile(&account, "Mallory").await.unwrap();
    assert_eq!(store.get_login_profile(&account, "mallory").await, Err(StoreError::NotFound(Entity::LoginProfile)));
    assert_eq!(store.find_console_session(b"cookie-hash-mallory").await.unwrap(), None);
    assert_eq!(store.delete_login_profile(&account, "mallory").await, Err(StoreError::NotFound(Entity::LoginProfile)));
}

async fn password_policy(store: &dyn Store) {
    let account = fresh_account(store).await;
    assert_eq!(store.get_password_policy(&account).await.unwrap(), None);
    assert_eq!(store.delete_password_policy(&account).await, Err(StoreError::NotFound(Entity::PasswordPolicy)));

    let policy = PasswordPolicy {
        minimum_length: 14,
        require_symbols: true,
        require_numbers: false,
        require_uppercase: true,
        require_lowercase: false,
        allow_users_to_change_password: true,
        max_password_age: Some(90),
        password_reuse_prevention: Some(24),
        hard_expiry: Some(true),
    };
    store.put_password_policy(&account, &policy).await.unwrap();
    assert_eq!(store.get_password_policy(&account).await.unwrap(), Some(policy.clone()));
    assert_eq!(store.get_password_policy(OTHER_ACCOUNT).await.unwrap(), None);

    // Put replaces the whole policy.
    let defaults = PasswordPolicy::default();
    store.put_password_policy(&account, &defaults).await.unwrap();
    assert_eq!(store.get_password_policy(&account).await.unwrap(), Some(defaults));
    let other = PasswordPolicy { hard_expiry: Some(false), max_password_age: Some(1), ..policy };
    store.put_password_policy(&account, &other).await.unwrap();
    assert_eq!(store.get_password_policy(&account).await.unwrap(), Some(other));

    store.delete_password_policy(&account).await.unwrap();
    assert_eq!(store.get_password_policy(&account).await.unwrap(), None);
    assert_eq!(store.delete_password_policy(&account).await, Err(StoreError::NotFound(Entity::PasswordPolicy)));
}

async fn throttle(store: &dyn Store) {
    let account = fresh_account(store).await;
    let olivia = user(&account, "olivia", "/");
    store.create_user(&olivia, 5000).await.unwrap();
    let policy = ThrottlePolicy::default();
    assert_eq!(store.mfa_throttle(&olivia.user_id).await.unwrap(), ThrottleState::default());
    assert_eq!(store.mfa_throttle("AIDA-unknown").await.unwrap(), ThrottleState::default());

    for i in 1..10 {
        let state = store.record_mfa_failure(&olivia.user_id, &policy, NOW).await.unwrap();
        assert_eq!(state, ThrottleState { failures: i, locked_until: 0, locks: 0 });
    }
    let locked = store.record_mfa_failure(&olivia.user_id, &policy, NOW).await.unwrap();
    assert_eq!(locked, ThrottleState { failures: 0, locked_until: NOW + 300, locks: 1 });
    assert_eq!(store.mfa_throttle(&olivia.user_id).await.unwrap(), locked);
    assert!(locked.is_locked(NOW + 299) && !locked.is_locked(NOW + 300));

    // Each further lock doubles, up to the maximum.
    let mut t = NOW + 300;
    for expected in [600, 1200, 2400, 3600, 3600] {
        let mut state = ThrottleState::default();
        for _ in 0..10 {
            state = store.record_mfa_failure(&olivia.user_id, &policy, t).await.unwrap();
        }
        assert_eq!(state.locked_until, t + expected);
        t += expected;
    }
    assert_eq!(store.mfa_throttle(&olivia.user_id).await.unwrap().locks, 6);

    // A success clears everything.
    store.clear_mfa_failures(&olivia.user_id).await.unwrap();
    assert_eq!(store.mfa_throttle(&olivia.user_id).await.unwrap(), ThrottleState::default());
    store.clear_mfa_failures(&olivia.user_id).await.unwrap();
    let custom = ThrottlePolicy { max_failures: 2, base_lock_seconds: 10, max_lock_seconds: 15 };
    store.record_mfa_failure(&olivia.user_id, &custom, NOW).await.unwrap();
    assert_eq!(
        store.record_mfa_failure(&olivia.user_id, &custom, NOW).await.unwrap(),
        ThrottleState { failures: 0, locked_until: NOW + 10, locks: 1 }
    );
}

async fn sts_sessions(store: &dyn Store) {
    let account = fresh_account(store).await;
    let peggy = user(&account, "Peggy", "/dev/");
    store.create_user(&peggy, 5000).await.unwrap();

    let with_user = StsSession {
        access_key_id: fresh_id("ASIA"),
        account_id: account.clone(),
        user: Some(peggy.clone()),
        secret_sealed: b"sealed".to_vec(),
        token_hash: vec![7; 32],
        created_at: NOW,
        expires_at: NOW + 3600,
        mfa_authenticated_at: Some(NOW - 1),
        mfa_serial: Some("arn:aws:iam::x:mfa/peggy".to_owned()),
    };
    let root = StsSession {
        access_key_id: fresh_id("ASIA"),
        user: None,
        mfa_authenticated_at: None,
        mfa_serial: None,
        expires_at: NOW + 100,
        ..with_user.clone()
    };
    store.create_sts_session(&with_user).await.unwrap();
    store.create_sts_session(&root).await.unwrap();
    assert_eq!(store.find_sts_session(&with_user.access_key_id).await.unwrap(), Some(with_user.clone()));
    assert_eq!(store.find_sts_session(&root.access_key_id).await.unwrap(), Some(root.clone()));
    assert_eq!(store.find_sts_session("ASIANOPE").await.unwrap(), None);

    // Purge drops what expired strictly before `now`.
    assert_eq!(store.purge_expired_sts_sessions(NOW + 100).await.unwrap(), 0);
    assert_eq!(store.purge_expired_sts_sessions(NOW + 101).await.unwrap(), 1);
    assert_eq!(store.find_sts_session(&root.access_key_id).await.unwrap(), None);
    assert!(store.find_sts_session(&with_user.access_key_id).await.unwrap().is_some());
    assert_eq!(store.purge_expired_sts_sessions(NOW + 3601).await.unwrap(), 1);
    assert_eq!(store.find_sts_session(&with_user.access_key_id).await.unwrap(), None);
}

fn console_session(account: &str, user: &User, id: &[u8]) -> ConsoleSession {
    ConsoleSession {
        id_hash: id.to_vec(),
        account_id: account.to_owned(),
        user: user.clone(),
        state: ConsoleState::AwaitingMfa,
        csrf_token: "csrf".to_owned(),
        created_at: NOW,
        expires_at: NOW + 900,
        mfa_authenticated_at: None,
    }
}

async fn console_sessions(store: &dyn Store) {
    let account = fresh_account(store).await;
    let rupert = user(&account, "Rupert", "/");
    store.create_user(&rupert, 5000).await.unwrap();

    let waiting = console_session(&account, &rupert, b"hash-1");
    let signed_in = ConsoleSession {
        id_hash: b"hash-2".to_vec(),
        state: ConsoleState::SignedIn,
        mfa_authenticated_at: Some(NOW + 5),
        ..waiting.clone()
    };
    store.create_console_session(&waiting).await.unwrap();
    store.create_console_session(&signed_in).await.unwrap();
    assert_eq!(store.find_console_session(b"hash-1").await.unwrap(), Some(waiting));
    assert_eq!(store.find_console_session(b"hash-2").await.unwrap(), Some(signed_in));
    assert_eq!(store.find_console_session(b"hash-3").await.unwrap(), None);
    store.delete_console_session(b"hash-1").await.unwrap();
    store.delete_console_session(b"hash-1").await.unwrap();
    assert_eq!(store.find_console_session(b"hash-1").await.unwrap(), None);
    assert!(store.find_console_session(b"hash-2").await.unwrap().is_some());

    // Purge drops what expired strictly before `now` and nothing else.
    let short = ConsoleSession {
        id_hash: b"hash-short".to_vec(),
        expires_at: NOW + 10,
        ..console_session(&account, &rupert, b"")
    };
    store.create_console_session(&short).await.unwrap();
    assert!(store.purge_expired_console_sessions(NOW + 11).await.unwrap() >= 1);
    assert_eq!(store.find_console_session(b"hash-short").await.unwrap(), None);
    assert!(store.find_console_session(b"hash-2").await.unwrap().is_some());
}

async fn auth_events(store: &dyn Store) {
    let account = fresh_account(store).await;
    let event = |i: i64, outcome: &str| AuthEvent {
        at: NOW + i,
        account_id: account.clone(),
        user_name: format!("user{i}"),
        source: "127.0.0.1".to_owned(),
        kind: "console-password".to_owned(),
        mfa_used: i % 2 == 0,
        outcome: outcome.to_owned(),
        reason: if outcome == "failure" { "bad password".to_owned() } else { String::new() },
    };
    assert!(store.auth_events(&account, 10).await.unwrap().is_empty());
    for i in 0..5 {
        store.record_auth_event(&event(i, if i == 3 { "failure" } else { "success" })).await.unwrap();
    }
    let newest = store.auth_events(&account, 3).await.unwrap();
    assert_eq!(newest, vec![event(4, "success"), event(3, "failure"), event(2, "success")]);
    assert_eq!(store.auth_events(&account, 100).await.unwrap().len(), 5);
    assert!(store.auth_events("000000000000", 100).await.unwrap().is_empty());
}

async fn meta(store: &dyn Store) {
    assert_eq!(store.get_meta("master-key-check").await.unwrap(), None);
    assert_eq!(store.put_meta_if_absent("master-key-check", b"first").await.unwrap(), b"first");
    assert_eq!(store.put_meta_if_absent("master-key-check", b"second").await.unwrap(), b"first");
    assert_eq!(store.get_meta("master-key-check").await.unwrap(), Some(b"first".to_vec()));
    assert_eq!(store.put_meta_if_absent("other", b"").await.unwrap(), b"");
}

// Concurrency ---------------------------------------------------------------------------------

async fn concurrency(store: Arc<dyn Store>) {
    one_device_many_users(&store).await;
    one_step_many_requests(&store).await;
    key_quota_under_contention(&store).await;
    failures_all_count(&store).await;
    device_quota_under_contention(&store).await;
    user_quota_under_contention(&store).await;
    user_tag_quota_under_contention(&store).await;
    one_tag_key_many_spellings(&store).await;
    one_name_many_creators(&store).await;
    meta_first_writer_wins(&store).await;
}

/// Runs `n` copies of `f(i)` at once and returns their results in order.
async fn race<T, F, Fut>(n: usize, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let mut set = JoinSet::new();
    for i in 0..n {
        let fut = f(i);
        let barrier = barrier.clone();
        set.spawn(async move {
            barrier.wait().await;
            (i, fut.await)
        });
    }
    let mut results: Vec<(usize, T)> = set.join_all().await;
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

fn tally<T>(results: &[Result<T>]) -> (usize, Vec<&StoreError>) {
    let ok = results.iter().filter(|r| r.is_ok()).count();
    (ok, results.iter().filter_map(|r| r.as_ref().err()).collect())
}

async fn one_device_many_users(store: &Arc<dyn Store>) {
    let account = fresh_account(&**store).await;
    let d = device(&account, "contested");
    store.create_mfa_device(&d, 1000).await.unwrap();
    for i in 0..40 {
        store.create_user(&user(&account, &format!("racer{i}"), "/"), 5000).await.unwrap();
    }
    let results = race(40, |i| {
        let store = store.clone();
        let (account, serial) = (account.clone(), d.serial.clone());
        async move { store.assign_mfa_device(&account, &serial, &format!("racer{i}"), sync(0, 100), NOW, 8).await }
    })
    .await;
    let (ok, errors) = tally(&results);
    assert_eq!(ok, 1, "exactly one assignment wins: {errors:?}");
    assert!(errors.iter().all(|e| **e == StoreError::DeviceInUse), "{errors:?}");
    let winner = results.iter().position(|r| r.is_ok()).unwrap();
    let got = store.get_mfa_device(&account, &d.serial).await.unwrap().unwrap();
    assert_eq!(got.assignment.unwrap().user.name, format!("racer{winner}"));
    assert_eq!(store.account_counts(&account).await.unwrap().mfa_devices_in_use, 1);
}

async fn one_step_many_requests(store: &Arc<dyn Store>) {
    let account = fresh_account(&**store).await;
    let u = user(&account, "stepper", "/");
    store.create_user(&u, 5000).await.unwrap();
    let d = device(&account, "stepper");
    store.create_mfa_device(&d, 1000).await.unwrap();
    store.assign_mfa_device(&account, &d.serial, "stepper", sync(0, 500), NOW, 8).await.unwrap();
    let results = race(40, |i| {
        let store = store.clone();
        let (serial, user_id) = (d.serial.clone(), u.user_id.clone());
        // Every request saw step 500 and wants to move on (to different states).
        async move { store.advance_mfa_sync(&serial, &user_id, 500, sync(i as i64 % 3 - 1, 501)).await }
    })
    .await;
    let (ok, errors) = tally(&results);
    assert_eq!(ok, 1, "a step is accepted once: {errors:?}");
    assert!(errors.iter().all(|e| **e == StoreError::Conflict), "{errors:?}");
    let winner = results.iter().position(|r| r.is_ok()).unwrap();
    let got = store.get_mfa_device(&account, &d.serial).await.unwrap().unwrap();
    assert_eq!(got.assignment.unwrap().sync, sync(winner as i64 % 3 - 1, 501));
}

async fn key_quota_under_contention(store: &Arc<dyn Store>) {
    let account = fresh_account(&**store).await;
    store.create_user(&user(&account, "keyholder", "/"), 5000).await.unwrap();
    let results = race(20, |_| {
        let store = store.clone();
        let account = account.clone();
        async move { store.create_access_key(&account, "keyholder", &new_key(), 2).await }
    })
    .await;
    let (ok, errors) = tally(&results);
    assert_eq!(ok, 2, "exactly the quota: {errors:?}");
    assert!(errors.iter().all(|e| **e == StoreError::LimitExceeded), "{errors:?}");
    assert_eq!(store.list_access_keys(&account, "keyholder").await.unwrap().len(), 2);
}

async fn failures_all_count(store: &Arc<dyn Store>) {
    let account = fresh_account(&**store).await;
    let u = user(&account, "guesser", "/");
    store.create_user(&u, 5000).await.unwrap();
    let policy = ThrottlePolicy::default();
    // Nine at once: every one counts, none locks.
    let results = race(9, |_| {
        let store = store.clone();
        let user_id = u.user_id.clone();
        async move { store.record_mfa_failure(&user_id, &policy, NOW).await }
    })
    .await;
    let mut seen: Vec<u32> = results.into_iter().map(|r| r.unwrap().failures).collect();
    seen.sort();
    assert_eq!(seen, (1..10).collect::<Vec<_>>(), "each failure saw the one before it");
    assert!(!store.mfa_throttle(&u.user_id).await.unwrap().is_locked(NOW));

    // Ten more at once on a fresh user: exactly the tenth locks.
    let v = user(&account, "guesser2", "/");
    store.create_user(&v, 5000).await.unwrap();
    let results = race(10, |_| {
        let store = store.clone();
        let user_id = v.user_id.clone();
        async move { store.record_mfa_failure(&user_id, &policy, NOW).await }
    })
    .await;
    let states: Vec<ThrottleState> = results.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(states.iter().filter(|s| s.is_locked(NOW)).count(), 1, "{states:?}");
    let final_state = store.mfa_throttle(&v.user_id).await.unwrap();
    assert_eq!(final_state, ThrottleState { failures: 0, locked_until: NOW + 300, locks: 1 });
}

async fn device_quota_under_contention(store: &Arc<dyn Store>) {
    let account = fresh_account(&**store).await;
    let results = race(20, |i| {
        let store = store.clone();
        let d = device(&account, &format!("quota{i}"));
        async move { store.create_mfa_device(&d, 5).await }
    })
    .await;
    let (ok, errors) = tally(&results);
    assert_eq!(ok, 5, "{errors:?}");
    assert!(errors.iter().all(|e| **e == StoreError::LimitExceeded), "{errors:?}");
    assert_eq!(store.account_counts(&account).await.unwrap().mfa_devices, 5);

    // Per-user device quota: the 5 devices raced onto one user with a limit of 3.
    store.create_user(&user(&account, "collector", "/"), 5000).await.unwrap();
    let serials: Vec<String> =
        (0..20).filter(|i| results[*i].is_ok()).map(|i| device(&account, &format!("quota{i}")).serial).collect();
    let results = race(serials.len(), |i| {
        let store = store.clone();
        let (account, serial) = (account.clone(), serials[i].clone());
        async move { store.assign_mfa_device(&account, &serial, "collector", sync(0, 1), NOW, 3).await }
    })
    .await;
    let (ok, errors) = tally(&results);
    assert_eq!(ok, 3, "{errors:?}");
    assert!(errors.iter().all(|e| **e == StoreError::LimitExceeded), "{errors:?}");
}

async fn user_quota_under_contention(store: &Arc<dyn Store>) {
    let account = fresh_account(&**store).await;
    let results = race(20, |i| {
        let store = store.clone();
        let u = user(&account, &format!("crowd{i}"), "/");
        async move { store.create_user(&u, 5).await }
    })
    .await;
    let (ok, errors) = tally(&results);
    assert_eq!(ok, 5, "exactly the quota: {errors:?}");
    assert!(errors.iter().all(|e| **e == StoreError::LimitExceeded), "{errors:?}");
    assert_eq!(store.account_counts(&account).await.unwrap().users, 5);
}

/// Twenty requests each adding one distinct tag to one user with a limit of 5: exactly five win,
/// and the user never carries more than five tags.
async fn user_tag_quota_under_contention(store: &Arc<dyn Store>) {
    let account = fresh_account(&**store).await;
    store.create_user(&user(&account, "popular", "/"), 5000).await.unwrap();
    let results = race(20, |i| {
        let (store, account) = (store.clone(), account.clone());
        async move { store.tag_user(&account, "popular", &[tag(&format!("key{i:02}"), "v")], 5).await }
    })
    .await;
    let (ok, errors) = tally(&results);
    assert_eq!(ok, 5, "exactly the limit: {errors:?}");
    assert!(errors.iter().all(|e| **e == StoreError::LimitExceeded), "{errors:?}");
    let stored: HashSet<String> =
        store.user_tags(&account, "popular").await.unwrap().into_iter().map(|t| t.key).collect();
    let winners: HashSet<String> = (0..20).filter(|i| results[*i].is_ok()).map(|i| format!("key{i:02}")).collect();
    assert_eq!(stored, winners, "the tags stored are those of the calls that succeeded");
}

/// Concurrent tag_user calls spelling one key differently leave one tag for that key.
async fn one_tag_key_many_spellings(store: &Arc<dyn Store>) {
    let account = fresh_account(&**store).await;
    store.create_user(&user(&account, "spelled", "/"), 5000).await.unwrap();
    let results = race(12, |i| {
        let (store, account) = (store.clone(), account.clone());
        let key = ["Owner", "owner", "OWNER"][i % 3];
        async move { store.tag_user(&account, "spelled", &[tag(key, &format!("v{i}"))], 1).await }
    })
    .await;
    let (ok, errors) = tally(&results);
    assert_eq!(ok, 12, "overwriting never exceeds the limit: {errors:?}");
    let tags = store.user_tags(&account, "spelled").await.unwrap();
    assert_eq!(tags.len(), 1, "{tags:?}");
    assert!(tags[0].key.eq_ignore_ascii_case("owner"), "{tags:?}");
}

async fn one_name_many_creators(store: &Arc<dyn Store>) {
    let account = fresh_account(&**store).await;
    let results = race(20, |i| {
        let store = store.clone();
        // The same name in different cases.
        let u = user(&account, ["SameName", "samename", "SAMENAME"][i % 3], "/");
        async move { store.create_user(&u, 5000).await }
    })
    .await;
    let (ok, errors) = tally(&results);
    assert_eq!(ok, 1, "{errors:?}");
    assert!(errors.iter().all(|e| **e == StoreError::AlreadyExists(Entity::User)), "{errors:?}");
    assert_eq!(store.account_counts(&account).await.unwrap().users, 1);
}

async fn meta_first_writer_wins(store: &Arc<dyn Store>) {
    let results = race(10, |i| {
        let store = store.clone();
        async move { store.put_meta_if_absent("race", format!("value-{i}").as_bytes()).await }
    })
    .await;
    let values: HashSet<Vec<u8>> = results.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(values.len(), 1, "every node agrees on the first writer's value");
    assert_eq!(store.get_meta("race").await.unwrap(), values.into_iter().next());
}

// Backends ------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_conformance() {
    let (store, _dir) = sqlite_store().await;
    conformance(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrency() {
    let (store, _dir) = sqlite_store().await;
    concurrency(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iamd.db");
    {
        let store = SqliteStore::open(&path).await.unwrap();
        store.ensure_account(ACCOUNT, None, NOW).await.unwrap();
        store.create_user(&user(ACCOUNT, "durable", "/"), 5000).await.unwrap();
    }
    let store = open(&format!("sqlite://{}", path.display())).await.unwrap();
    assert!(store.get_user(ACCOUNT, "durable").await.unwrap().is_some());
}

#[tokio::test]
async fn open_rejects_unknown_urls() {
    for url in ["mysql://localhost/db", "sqlite://", "/just/a/path", ""] {
        match open(url).await {
            Err(StoreError::Backend(_)) => {}
            Err(other) => panic!("{url}: unexpected error {other:?}"),
            Ok(_) => panic!("{url}: opened"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_conformance() {
    with_pg_store(conformance).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrency() {
    with_pg_store(concurrency).await;
}

/// Several nodes starting at once on a fresh database: the migrator's advisory lock lets exactly
/// one apply the migrations and the others find them applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_first_start() {
    let Some(admin) = admin_url() else {
        eprintln!("IAMD_TEST_DATABASE_URL not set: skipping");
        return;
    };
    let db = TestDatabase::create(&admin).await;
    let url = db.url.clone();
    let outcome = tokio::spawn(async move {
        let results = race(4, |_| {
            let url = url.clone();
            async move { PgStore::connect(&url).await }
        })
        .await;
        let stores: Vec<PgStore> = results.into_iter().map(|r| r.expect("every node starts")).collect();
        // All four work on the same schema and see each other's writes.
        stores[0].ensure_account(ACCOUNT, None, NOW).await.unwrap();
        for (i, store) in stores.iter().enumerate() {
            store.create_user(&user(ACCOUNT, &format!("node{i}"), "/"), 5000).await.unwrap();
        }
        for store in &stores {
            assert_eq!(store.account_counts(ACCOUNT).await.unwrap().users, 4);
        }
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(stores[0].pool())
            .await
            .unwrap();
        let on_disk = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "sql"))
            .count();
        assert_eq!(applied as usize, on_disk, "each migration applied exactly once");
        // A later start finds nothing to do.
        let again = PgStore::connect(&url).await.unwrap();
        assert!(again.account_exists(ACCOUNT).await.unwrap());
        again.close().await;
        for store in stores {
            store.close().await;
        }
    })
    .await;
    db.drop_now().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Two stores (two nodes) on one database: the races above, split across both pools.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_nodes() {
    let Some(admin) = admin_url() else {
        eprintln!("IAMD_TEST_DATABASE_URL not set: skipping");
        return;
    };
    let db = TestDatabase::create(&admin).await;
    let url = db.url.clone();
    let outcome = tokio::spawn(async move {
        let a: Arc<dyn Store> = Arc::new(PgStore::connect(&url).await.unwrap());
        let b: Arc<dyn Store> = Arc::new(PgStore::connect(&url).await.unwrap());
        let nodes = [a.clone(), b.clone()];
        a.ensure_account(ACCOUNT, None, NOW).await.unwrap();
        let d = device(ACCOUNT, "shared");
        a.create_mfa_device(&d, 100).await.unwrap();
        for i in 0..40 {
            nodes[i % 2].create_user(&user(ACCOUNT, &format!("n{i}"), "/"), 5000).await.unwrap();
        }
        assert_eq!(b.account_counts(ACCOUNT).await.unwrap().users, 40);
        let results = race(40, |i| {
            let store = nodes[i % 2].clone();
            let serial = d.serial.clone();
            async move { store.assign_mfa_device(ACCOUNT, &serial, &format!("n{i}"), sync(0, 7), NOW, 8).await }
        })
        .await;
        assert_eq!(tally(&results).0, 1);
        let assigned = b.get_mfa_device(ACCOUNT, &d.serial).await.unwrap().unwrap().assignment.unwrap();
        let results = race(40, |i| {
            let store = nodes[i % 2].clone();
            let (serial, user_id) = (d.serial.clone(), assigned.user.user_id.clone());
            async move { store.advance_mfa_sync(&serial, &user_id, 7, sync(0, 8)).await }
        })
        .await;
        assert_eq!(tally(&results).0, 1);
        let results = race(20, |i| {
            let store = nodes[i % 2].clone();
            async move { store.create_access_key(ACCOUNT, "n0", &new_key(), 2).await }
        })
        .await;
        assert_eq!(tally(&results).0, 2);
        let user_id = a.get_user(ACCOUNT, "n1").await.unwrap().unwrap().user_id;
        let results = race(10, |i| {
            let store = nodes[i % 2].clone();
            let user_id = user_id.clone();
            async move { store.record_mfa_failure(&user_id, &ThrottlePolicy::default(), NOW).await }
        })
        .await;
        assert!(results.iter().all(|r| r.is_ok()));
        assert!(a.mfa_throttle(&user_id).await.unwrap().is_locked(NOW));
        assert!(b.mfa_throttle(&user_id).await.unwrap().is_locked(NOW));
    })
    .await;
    db.drop_now().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
