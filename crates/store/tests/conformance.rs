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
    AttemptWindow, AuthEventQuery, Dependent, DeviceSync, Entity, Holder, PasswordPolicy, PgStore, Result, SqliteStore,
    StoreError, ThrottlePolicy, ThrottleState, open,
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
    admin_unlock(&*store).await;
    mfa_enrolment_setting(&*store).await;
    password_throttle(&*store).await;
    sts_sessions(&*store).await;
    console_sessions(&*store).await;
    console_sessions_of_user(&*store).await;
    auth_events(&*store).await;
    change_events(&*store).await;
    credential_reports(&*store).await;
    meta(&*store).await;
    policies_suite(&*store).await;
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
    assert_eq!(
        counts,
        AccountCounts { users: 0, mfa_devices: 0, mfa_devices_in_use: 0, root_access_keys: 1, ..Default::default() }
    );

    // Rotation: a new root key replaces the old one; a refused one replaces nothing.
    store.ensure_account(ACCOUNT, Some(root_key("AKIAROOT0000000002", b"secret-3")), NOW + 20).await.unwrap();
    assert_eq!(store.find_access_key("AKIAROOT0000000001").await.unwrap(), None);
    assert!(store.find_access_key("AKIAROOT0000000002").await.unwrap().is_some());
    store.ensure_account(OTHER_ACCOUNT, Some(root_key("AKIAROOT0000000002", b"stolen")), NOW).await.unwrap();
    assert_eq!(store.find_access_key("AKIAROOT0000000002").await.unwrap().unwrap().account_id, ACCOUNT);
    assert_eq!(store.account_counts(ACCOUNT).await.unwrap().root_access_keys, 1);
    let roots = store.root_access_keys(ACCOUNT).await.unwrap();
    assert_eq!(
        roots.iter().map(|k| (k.access_key_id.as_str(), k.user.is_none())).collect::<Vec<_>>(),
        [("AKIAROOT0000000002", true)]
    );
    assert_eq!(store.account_created_at(ACCOUNT).await.unwrap(), Some(NOW));
    // Root keys of other accounts are left alone.
    store.ensure_account(OTHER_ACCOUNT, Some(root_key("AKIAOTHERROOT00001", b"o")), NOW).await.unwrap();
    assert!(store.find_access_key("AKIAROOT0000000002").await.unwrap().is_some());
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
    assert_eq!(found.last_used, None);

    // Last use (GetAccessKeyLastUsed, the credential report): set as a whole, read everywhere.
    let used = KeyUse { at: NOW + 7, service: "sts".into(), region: "eu-west-1".into() };
    store.record_access_key_use(&k1.access_key_id, &used).await.unwrap();
    assert_eq!(store.find_access_key(&k1.access_key_id).await.unwrap().unwrap().last_used, Some(used.clone()));
    let listed = store.list_access_keys(&account, "frank").await.unwrap();
    assert_eq!(listed.iter().find(|k| k.access_key_id == k1.access_key_id).unwrap().last_used, Some(used));
    store
        .record_access_key_use("AKIAGONE", &KeyUse { at: NOW, service: "iam".into(), region: "x".into() })
        .await
        .unwrap();
    assert!(store.root_access_keys(&account).await.unwrap().is_empty());

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
    assert_eq!(
        counts,
        AccountCounts { users: 2, mfa_devices: 3, mfa_devices_in_use: 2, root_access_keys: 0, ..Default::default() }
    );

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
    assert_eq!(created.password_changed_at, NOW + 3);
    store.update_login_profile(&account, "mallory", Some("hash-3"), None, NOW + 5).await.unwrap();
    let got = store.get_login_profile(&account, "mallory").await.unwrap();
    assert_eq!((got.password_hash.as_str(), got.reset_required, got.created_at), ("hash-3", true, NOW + 3));
    assert_eq!(got.password_changed_at, NOW + 5, "a new password is dated");
    store.update_login_profile(&account, "mallory", None, Some(false), NOW + 9).await.unwrap();
    let got = store.get_login_profile(&account, "mallory").await.unwrap();
    assert_eq!((got.password_hash.as_str(), got.reset_required), ("hash-3", false));
    assert_eq!(got.password_changed_at, NOW + 5, "only the reset flag changed");
    store.update_login_profile(&account, "mallory", None, None, NOW + 5).await.unwrap();
    assert_eq!(
        store.update_login_profile(&account, "niaj", Some("h"), None, NOW + 5).await,
        Err(StoreError::NotFound(Entity::LoginProfile))
    );
    assert_eq!(
        store.update_login_profile(&account, "nobody", Some("h"), None, NOW + 5).await,
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

    // Reservations: each charges a failure up front; the one reaching the limit locks; while
    // locked nothing is granted and nothing changes; a success clears the charge.
    for i in 1..10 {
        let state = store.reserve_mfa_attempt(&olivia.user_id, &policy, NOW).await.unwrap();
        assert_eq!(state, Some(ThrottleState { failures: i, locked_until: 0, locks: 0 }));
    }
    let locked = store.reserve_mfa_attempt(&olivia.user_id, &policy, NOW).await.unwrap();
    assert_eq!(locked, Some(ThrottleState { failures: 0, locked_until: NOW + 300, locks: 1 }));
    assert_eq!(store.reserve_mfa_attempt(&olivia.user_id, &policy, NOW + 299).await.unwrap(), None);
    assert_eq!(store.mfa_throttle(&olivia.user_id).await.unwrap(), locked.unwrap());
    let after = store.reserve_mfa_attempt(&olivia.user_id, &policy, NOW + 300).await.unwrap();
    assert_eq!(after, Some(ThrottleState { failures: 1, locked_until: NOW + 300, locks: 1 }));
    store.clear_mfa_failures(&olivia.user_id).await.unwrap();
    assert_eq!(store.mfa_throttle(&olivia.user_id).await.unwrap(), ThrottleState::default());

    // An accepted code clears the charges only when its step is the one the device still has.
    let d = device(&account, "olivia");
    store.create_mfa_device(&d, 1000).await.unwrap();
    store.assign_mfa_device(&account, &d.serial, "olivia", sync(0, 500), NOW, 8).await.unwrap();
    let charged = store.reserve_mfa_attempt(&olivia.user_id, &policy, NOW).await.unwrap().unwrap();
    assert_eq!(store.accept_mfa_code(&d.serial, &olivia.user_id, 499, sync(0, 501)).await, Err(StoreError::Conflict));
    assert_eq!(store.mfa_throttle(&olivia.user_id).await.unwrap(), charged, "a refused step clears nothing");
    store.accept_mfa_code(&d.serial, &olivia.user_id, 500, sync(1, 501)).await.unwrap();
    assert_eq!(store.mfa_throttle(&olivia.user_id).await.unwrap(), ThrottleState::default());
    assert_eq!(
        store.get_mfa_device(&account, &d.serial).await.unwrap().unwrap().assignment.unwrap().sync,
        sync(1, 501)
    );
    assert_eq!(store.accept_mfa_code(&d.serial, &olivia.user_id, 500, sync(1, 502)).await, Err(StoreError::Conflict));

    let custom = ThrottlePolicy { max_failures: 2, base_lock_seconds: 10, max_lock_seconds: 15 };
    store.record_mfa_failure(&olivia.user_id, &custom, NOW).await.unwrap();
    assert_eq!(
        store.record_mfa_failure(&olivia.user_id, &custom, NOW).await.unwrap(),
        ThrottleState { failures: 0, locked_until: NOW + 10, locks: 1 }
    );
}

/// An administrator's unlock clears a user's MFA lock and its doubling in one step, by name
/// (case-insensitively), says what it cleared, and touches no other user.
async fn admin_unlock(store: &dyn Store) {
    let account = fresh_account(store).await;
    let (pat, quinn) = (user(&account, "Pat", "/"), user(&account, "Quinn", "/"));
    store.create_user(&pat, 5000).await.unwrap();
    store.create_user(&quinn, 5000).await.unwrap();
    let policy = ThrottlePolicy::default();
    let mut locked = ThrottleState::default();
    for _ in 0..10 {
        locked = store.record_mfa_failure(&pat.user_id, &policy, NOW).await.unwrap();
        store.record_mfa_failure(&quinn.user_id, &policy, NOW).await.unwrap();
    }
    assert!(locked.is_locked(NOW));
    assert_eq!(store.reserve_mfa_attempt(&pat.user_id, &policy, NOW + 1).await.unwrap(), None);

    assert_eq!(store.unlock_mfa(&account, "pAT").await.unwrap(), locked);
    assert_eq!(store.mfa_throttle(&pat.user_id).await.unwrap(), ThrottleState::default());
    let granted = store.reserve_mfa_attempt(&pat.user_id, &policy, NOW + 1).await.unwrap();
    assert_eq!(granted, Some(ThrottleState { failures: 1, locked_until: 0, locks: 0 }), "the doubling is gone too");
    assert!(store.mfa_throttle(&quinn.user_id).await.unwrap().is_locked(NOW + 1), "others stay locked");

    // Nothing to clear: the default state; an unknown user (or another account's): NotFound.
    store.clear_mfa_failures(&pat.user_id).await.unwrap();
    assert_eq!(store.unlock_mfa(&account, "Pat").await.unwrap(), ThrottleState::default());
    assert_eq!(store.unlock_mfa(&account, "nobody").await, Err(StoreError::NotFound(Entity::User)));
    assert_eq!(store.unlock_mfa(OTHER_ACCOUNT, "Pat").await, Err(StoreError::NotFound(Entity::User)));
}

/// "MFA enrolment required" is off for a new account, set per account, and refused for an
/// unknown one.
async fn mfa_enrolment_setting(store: &dyn Store) {
    let (first, second) = (fresh_account(store).await, fresh_account(store).await);
    assert!(!store.mfa_enrolment_required(&first).await.unwrap());
    store.set_mfa_enrolment_required(&first, true).await.unwrap();
    assert!(store.mfa_enrolment_required(&first).await.unwrap());
    assert!(!store.mfa_enrolment_required(&second).await.unwrap(), "per account");
    store.set_mfa_enrolment_required(&first, true).await.unwrap();
    store.set_mfa_enrolment_required(&first, false).await.unwrap();
    assert!(!store.mfa_enrolment_required(&first).await.unwrap());
    let unknown = "000000000001";
    assert_eq!(store.mfa_enrolment_required(unknown).await, Err(StoreError::NotFound(Entity::Account)));
    assert_eq!(store.set_mfa_enrolment_required(unknown, true).await, Err(StoreError::NotFound(Entity::Account)));
}

async fn password_throttle(store: &dyn Store) {
    let (user, source) = (format!("user:{}", fresh_id("AIDA")), format!("source:{}", fresh_id("")));
    let both = [(user.clone(), 2), (source.clone(), 3)];
    assert_eq!(store.password_attempts(&user).await.unwrap(), AttemptWindow::default());
    assert!(store.reserve_password_attempt(&both, 900, NOW).await.unwrap());
    assert!(store.reserve_password_attempt(&both, 900, NOW + 5).await.unwrap());
    assert_eq!(store.password_attempts(&user).await.unwrap(), AttemptWindow { failures: 2, window_start: NOW });
    // The user's counter is full: all or nothing, the source's is not charged either.
    assert!(!store.reserve_password_attempt(&both, 900, NOW + 899).await.unwrap());
    assert_eq!(store.password_attempts(&source).await.unwrap().failures, 2);
    // Settling: one back to the source, the user's cleared.
    store.settle_password_attempt(std::slice::from_ref(&source), std::slice::from_ref(&user)).await.unwrap();
    assert_eq!(store.password_attempts(&user).await.unwrap(), AttemptWindow::default());
    assert_eq!(store.password_attempts(&source).await.unwrap(), AttemptWindow { failures: 1, window_start: NOW });
    // A new window once the old one ends.
    assert!(store.reserve_password_attempt(&both, 900, NOW + 900).await.unwrap());
    assert_eq!(store.password_attempts(&source).await.unwrap(), AttemptWindow { failures: 1, window_start: NOW + 900 });
    // Counters of ended windows are purged; current ones stay.
    let old = format!("source:{}", fresh_id(""));
    assert!(store.reserve_password_attempt(&[(old.clone(), 5)], 900, NOW - 1000).await.unwrap());
    assert!(store.purge_password_attempts(NOW).await.unwrap() >= 1);
    assert_eq!(store.password_attempts(&old).await.unwrap(), AttemptWindow::default());
    assert_eq!(store.password_attempts(&source).await.unwrap(), AttemptWindow { failures: 1, window_start: NOW + 900 });
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
        role: None,
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
    let enrolling =
        ConsoleSession { id_hash: b"hash-4".to_vec(), state: ConsoleState::AwaitingEnrolment, ..waiting.clone() };
    store.create_console_session(&enrolling).await.unwrap();
    assert_eq!(store.find_console_session(b"hash-1").await.unwrap(), Some(waiting));
    assert_eq!(store.find_console_session(b"hash-2").await.unwrap(), Some(signed_in));
    assert_eq!(store.find_console_session(b"hash-4").await.unwrap(), Some(enrolling));
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

/// `delete_console_sessions_of_user` ends every session of that user (signed in or awaiting
/// MFA), counts them, and leaves other users' sessions alone.
async fn console_sessions_of_user(store: &dyn Store) {
    let account = fresh_account(store).await;
    let (sybil, tom) = (user(&account, "Sybil", "/"), user(&account, "Tom", "/"));
    store.create_user(&sybil, 5000).await.unwrap();
    store.create_user(&tom, 5000).await.unwrap();
    let id = |who: &str| fresh_id(who).into_bytes();
    let (s1, s2, t1) = (id("sybil-"), id("sybil-"), id("tom-"));
    let signed_in = ConsoleSession {
        state: ConsoleState::SignedIn,
        mfa_authenticated_at: Some(NOW),
        ..console_session(&account, &sybil, &s1)
    };
    store.create_console_session(&signed_in).await.unwrap();
    store.create_console_session(&console_session(&account, &sybil, &s2)).await.unwrap();
    store.create_console_session(&console_session(&account, &tom, &t1)).await.unwrap();

    assert_eq!(store.delete_console_sessions_of_user(&sybil.user_id).await.unwrap(), 2);
    assert_eq!(store.find_console_session(&s1).await.unwrap(), None);
    assert_eq!(store.find_console_session(&s2).await.unwrap(), None);
    assert!(store.find_console_session(&t1).await.unwrap().is_some());
    // Nothing left to end; an unknown user is not an error either.
    assert_eq!(store.delete_console_sessions_of_user(&sybil.user_id).await.unwrap(), 0);
    assert_eq!(store.delete_console_sessions_of_user("AIDANOSUCHUSER").await.unwrap(), 0);
    assert_eq!(store.delete_console_sessions_of_user(&tom.user_id).await.unwrap(), 1);
    assert_eq!(store.find_console_session(&t1).await.unwrap(), None);
}

async fn credential_reports(store: &dyn Store) {
    let account = fresh_account(store).await;
    assert_eq!(store.credential_report(&account).await.unwrap(), None);
    store.put_credential_report(&account, NOW, b"user,arn\n").await.unwrap();
    assert_eq!(store.credential_report(&account).await.unwrap(), Some((NOW, b"user,arn\n".to_vec())));
    store.put_credential_report(&account, NOW + 60, b"newer").await.unwrap();
    assert_eq!(store.credential_report(&account).await.unwrap(), Some((NOW + 60, b"newer".to_vec())));
    assert_eq!(store.credential_report("000000000000").await.unwrap(), None);
    assert!(store.account_created_at(&account).await.unwrap().is_some());
    assert_eq!(store.account_created_at("000000000000").await.unwrap(), None);
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
    assert!(store.auth_events(&AuthEventQuery::newest(&account, 10)).await.unwrap().is_empty());
    for i in 0..5 {
        store.record_auth_event(&event(i, if i == 3 { "failure" } else { "success" })).await.unwrap();
    }
    let newest = store.auth_events(&AuthEventQuery::newest(&account, 3)).await.unwrap();
    assert_eq!(newest, vec![event(4, "success"), event(3, "failure"), event(2, "success")]);
    assert_eq!(store.auth_events(&AuthEventQuery::newest(&account, 100)).await.unwrap().len(), 5);
    assert!(store.auth_events(&AuthEventQuery::newest("000000000000", 100)).await.unwrap().is_empty());
    // `iamd audit --since … --user …`: a time bound and one user, whatever the case.
    let query = |since: i64, user: Option<&str>| AuthEventQuery {
        account_id: account.clone(),
        since,
        user_name: user.map(str::to_owned),
        limit: 100,
    };
    assert_eq!(store.auth_events(&query(NOW + 3, None)).await.unwrap(), vec![event(4, "success"), event(3, "failure")]);
    assert_eq!(store.auth_events(&query(NOW, Some("USER3"))).await.unwrap(), vec![event(3, "failure")]);
    assert!(store.auth_events(&query(NOW + 4, Some("user3"))).await.unwrap().is_empty());
}

async fn change_events(store: &dyn Store) {
    let account = fresh_account(store).await;
    // Root enables bob's device; alice changes her own password (no target name in the request,
    // herself as the target); alice is refused attaching a policy to carol; a role session
    // creates a user.
    let event =
        |i: i64, caller_user: Option<&str>, action: &str, target_user: Option<&str>, outcome: &str| ChangeEvent {
            at: NOW + i,
            account_id: account.clone(),
            request_id: format!("req-{i}"),
            caller_arn: match caller_user {
                Some(name) => format!("arn:aws:iam::{account}:user/{name}"),
                None => format!("arn:aws:iam::{account}:root"),
            },
            caller_user: caller_user.map(str::to_owned),
            action: action.to_owned(),
            target: target_user.map_or_else(String::new, |name| format!("UserName={name}")),
            target_user: target_user.map(str::to_owned),
            source: "127.0.0.1".to_owned(),
            origin: if i == 1 { "console" } else { "api" }.to_owned(),
            outcome: outcome.to_owned(),
        };
    let events = [
        event(0, None, "iam:EnableMFADevice", Some("Bob"), "success"),
        event(1, Some("alice"), "iam:ChangePassword", Some("alice"), "success"),
        event(2, Some("alice"), "iam:AttachUserPolicy", Some("carol"), "denied"),
        event(3, None, "iam:CreateUser", Some("dave"), "success"),
        event(4, None, "iam:CreatePolicy", None, "success"),
    ];
    assert!(store.change_events(&AuthEventQuery::newest(&account, 10)).await.unwrap().is_empty());
    for e in &events {
        store.record_change_event(e).await.unwrap();
    }
    let newest_first: Vec<ChangeEvent> = events.iter().rev().cloned().collect();
    assert_eq!(store.change_events(&AuthEventQuery::newest(&account, 100)).await.unwrap(), newest_first);
    assert_eq!(store.change_events(&AuthEventQuery::newest(&account, 2)).await.unwrap(), newest_first[..2]);
    assert!(store.change_events(&AuthEventQuery::newest("000000000000", 100)).await.unwrap().is_empty());
    // The sign-in trail is another table: neither sees the other's events.
    assert!(store.auth_events(&AuthEventQuery::newest(&account, 100)).await.unwrap().is_empty());
    let query = |since: i64, user: Option<&str>| AuthEventQuery {
        account_id: account.clone(),
        since,
        user_name: user.map(str::to_owned),
        limit: 100,
    };
    // A user's events: as the caller or as the target, whatever the case.
    assert_eq!(
        store.change_events(&query(NOW, Some("ALICE"))).await.unwrap(),
        vec![events[2].clone(), events[1].clone()]
    );
    assert_eq!(store.change_events(&query(NOW, Some("carol"))).await.unwrap(), vec![events[2].clone()]);
    assert_eq!(store.change_events(&query(NOW, Some("bob"))).await.unwrap(), vec![events[0].clone()]);
    assert!(store.change_events(&query(NOW, Some("root"))).await.unwrap().is_empty());
    assert_eq!(store.change_events(&query(NOW + 3, None)).await.unwrap(), newest_first[..2]);
    assert!(store.change_events(&query(NOW + 2, Some("bob"))).await.unwrap().is_empty());
}

async fn meta(store: &dyn Store) {
    assert_eq!(store.get_meta("master-key-check").await.unwrap(), None);
    assert_eq!(store.put_meta_if_absent("master-key-check", b"first").await.unwrap(), b"first");
    assert_eq!(store.put_meta_if_absent("master-key-check", b"second").await.unwrap(), b"first");
    assert_eq!(store.get_meta("master-key-check").await.unwrap(), Some(b"first".to_vec()));
    assert_eq!(store.put_meta_if_absent("other", b"").await.unwrap(), b"");
    // The health probe's write: repeatable, and readable as the time it was given.
    store.probe_write(NOW).await.unwrap();
    store.probe_write(NOW + 1).await.unwrap();
    assert_eq!(store.get_meta("last-health-check").await.unwrap(), Some((NOW + 1).to_be_bytes().to_vec()));
}

// Concurrency ---------------------------------------------------------------------------------

async fn concurrency(store: Arc<dyn Store>) {
    one_device_many_users(&store).await;
    one_step_many_requests(&store).await;
    key_quota_under_contention(&store).await;
    failures_all_count(&store).await;
    reservations_never_exceed_the_limit(&store).await;
    password_reservations_never_exceed_the_limit(&store).await;
    device_quota_under_contention(&store).await;
    user_quota_under_contention(&store).await;
    user_tag_quota_under_contention(&store).await;
    one_tag_key_many_spellings(&store).await;
    one_name_many_creators(&store).await;
    meta_first_writer_wins(&store).await;
    policies_concurrency(&store).await;
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
    exactly_one_step_won(&**store, &account, &d.serial, &results, 501).await;

    // The same through a sign-in's acceptance, with reservations racing it.
    let policy = ThrottlePolicy::default();
    let results = race(40, |i| {
        let store = store.clone();
        let (serial, user_id) = (d.serial.clone(), u.user_id.clone());
        async move {
            store.reserve_mfa_attempt(&user_id, &policy, NOW).await?;
            store.accept_mfa_code(&serial, &user_id, 501, sync(i as i64 % 3 - 1, 502)).await
        }
    })
    .await;
    exactly_one_step_won(&**store, &account, &d.serial, &results, 502).await;
}

/// Of racing requests that each wanted `step` (request `i` with offset `i % 3 - 1`), exactly one
/// won, the others were told `Conflict`, and the device holds the winner's state.
async fn exactly_one_step_won(store: &dyn Store, account: &str, serial: &str, results: &[Result<()>], step: i64) {
    let (ok, errors) = tally(results);
    assert_eq!(ok, 1, "a step is accepted once: {errors:?}");
    assert!(errors.iter().all(|e| **e == StoreError::Conflict), "{errors:?}");
    let winner = results.iter().position(|r| r.is_ok()).unwrap();
    let got = store.get_mfa_device(account, serial).await.unwrap().unwrap();
    assert_eq!(got.assignment.unwrap().sync, sync(winner as i64 % 3 - 1, step));
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

/// Issue #13.2: the budget is reserved before a code is evaluated, so of 60 concurrent guesses
/// exactly the limit are granted and the rest find the user locked.
async fn reservations_never_exceed_the_limit(store: &Arc<dyn Store>) {
    let account = fresh_account(&**store).await;
    let u = user(&account, "reserver", "/");
    store.create_user(&u, 5000).await.unwrap();
    let policy = ThrottlePolicy::default();
    let results = race(60, |_| {
        let store = store.clone();
        let user_id = u.user_id.clone();
        async move { store.reserve_mfa_attempt(&user_id, &policy, NOW).await }
    })
    .await;
    let granted = results.iter().filter(|r| matches!(r, Ok(Some(_)))).count();
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!(granted, 10, "exactly the limit is granted: {results:?}");
    let state = store.mfa_throttle(&u.user_id).await.unwrap();
    assert_eq!(state, ThrottleState { failures: 0, locked_until: NOW + 300, locks: 1 });
}

/// Issue #13.1: password attempts are reserved before evaluation too; 60 at once on one user
/// and one address grant exactly the smaller limit.
async fn password_reservations_never_exceed_the_limit(store: &Arc<dyn Store>) {
    let (user, source) = (format!("user:{}", fresh_id("AIDA")), format!("source:{}", fresh_id("")));
    let results = race(60, |i| {
        let store = store.clone();
        // Both orders, so a backend locking rows in request order would deadlock.
        let counters = if i % 2 == 0 {
            [(user.clone(), 10), (source.clone(), 100)]
        } else {
            [(source.clone(), 100), (user.clone(), 10)]
        };
        async move { store.reserve_password_attempt(&counters, 900, NOW).await }
    })
    .await;
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!(results.iter().filter(|r| matches!(r, Ok(true))).count(), 10);
    assert_eq!(store.password_attempts(&source).await.unwrap().failures, 10);
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
    let Some(database) = TestDatabase::create_or_skip() else { return };
    let url = database.url().to_owned();
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
}

/// Two stores (two nodes) on one database: the races above, split across both pools.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_nodes() {
    let Some(database) = TestDatabase::create_or_skip() else { return };
    let url = database.url().to_owned();
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
    // Reservations across nodes: 60 at once, half on each, exactly the limit granted.
    let user_id = a.get_user(ACCOUNT, "n2").await.unwrap().unwrap().user_id;
    let results = race(60, |i| {
        let store = nodes[i % 2].clone();
        let user_id = user_id.clone();
        async move { store.reserve_mfa_attempt(&user_id, &ThrottlePolicy::default(), NOW).await }
    })
    .await;
    assert_eq!(results.iter().filter(|r| matches!(r, Ok(Some(_)))).count(), 10, "{results:?}");
    assert!(results.iter().all(|r| r.is_ok()));
}

// Groups, managed and inline policies, attachments, boundaries ---------------------------------

fn group(account_id: &str, name: &str, path: &str) -> Group {
    Group {
        account_id: account_id.to_owned(),
        group_id: fresh_id("AGPA"),
        name: name.to_owned(),
        path: path.to_owned(),
        created_at: NOW,
    }
}

fn new_policy(account_id: &str, name: &str, path: &str, document: &str) -> NewManagedPolicy {
    NewManagedPolicy {
        account_id: account_id.to_owned(),
        policy_id: fresh_id("ANPA"),
        name: name.to_owned(),
        path: path.to_owned(),
        description: None,
        document: document.to_owned(),
        created_at: NOW,
        tags: Vec::new(),
    }
}

fn doc(marker: &str) -> String {
    format!(
        r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "{marker}", "Resource": "*"}}]}}"#
    )
}

fn arn(account_id: &str, name: &str) -> String {
    iamd_domain::ids::policy_arn(account_id, "/", name)
}

async fn policies_suite(store: &dyn Store) {
    groups(store).await;
    group_membership(store).await;
    managed_policies(store).await;
    policy_versions(store).await;
    policy_tags(store).await;
    aws_managed_policies(store).await;
    inline_policies(store).await;
    attachments(store).await;
    boundaries(store).await;
    delete_conflicts(store).await;
    effective_policies(store).await;
    roles(store).await;
    role_policies_and_sessions(store).await;
    user_created_with_boundary(store).await;
}

async fn user_created_with_boundary(store: &dyn Store) {
    let account = fresh_account(store).await;
    let boundary = store.create_policy(&new_policy(&account, "UserBoundary", "/", "doc"), 1500).await.unwrap();
    let mut bad = user(&account, "Bad", "/");
    bad.permissions_boundary = Some(format!("arn:aws:iam::{OTHER_ACCOUNT}:policy/Nope"));
    assert_eq!(store.create_user(&bad, 5000).await, Err(StoreError::NotFound(Entity::Policy)));
    assert_eq!(store.get_user(&account, "Bad").await.unwrap(), None, "nothing written");
    let mut good = user(&account, "Good", "/");
    good.permissions_boundary = Some(boundary.arn.clone());
    good.tags = vec![tag("k", "v")];
    store.create_user(&good, 5000).await.unwrap();
    assert_eq!(store.get_user(&account, "good").await.unwrap(), Some(good.clone()));
    assert_eq!(store.permissions_boundary(&account, Holder::User, "good").await.unwrap(), Some(boundary.arn.clone()));
    assert_eq!(store.get_policy(&account, &boundary.arn).await.unwrap().unwrap().boundary_usage_count, 1);
    // Attached and boundary at once: listed once, with both uses.
    store.attach_policy(&account, Holder::User, "good", &boundary.arn, 10).await.unwrap();
    let uses = store.list_entities_for_policy(&account, &boundary.arn).await.unwrap();
    assert_eq!(
        uses.users,
        vec![PolicyUse {
            name: "Good".into(),
            id: good.user_id.clone(),
            path: "/".into(),
            attached: true,
            boundary: true
        }]
    );
}

fn role(account_id: &str, name: &str, path: &str) -> Role {
    Role {
        account_id: account_id.to_owned(),
        role_id: fresh_id("AROA"),
        name: name.to_owned(),
        path: path.to_owned(),
        trust_policy: format!("trust of {name}"),
        description: None,
        max_session_duration: 3600,
        created_at: NOW,
        last_used_at: None,
        permissions_boundary: None,
        tags: Vec::new(),
    }
}

async fn roles(store: &dyn Store) {
    let account = fresh_account(store).await;
    let mut admin = role(&account, "Admin", "/ops/");
    admin.tags = vec![tag("team", "sec"), tag("Env", "prod")];
    admin.description = Some("admins".into());
    store.create_role(&admin, 1000).await.unwrap();
    assert_eq!(
        store.create_role(&role(&account, "ADMIN", "/"), 1000).await,
        Err(StoreError::AlreadyExists(Entity::Role))
    );
    store.create_role(&role(OTHER_ACCOUNT, "admin", "/"), 1000).await.expect("same name in another account");
    let mut expected = admin.clone();
    expected.tags = vec![tag("Env", "prod"), tag("team", "sec")];
    assert_eq!(store.get_role(&account, "aDmIn").await.unwrap(), Some(expected.clone()));
    assert_eq!(store.get_role(&account, "nobody").await.unwrap(), None);

    for (name, path) in [("beta", "/"), ("Gamma", "/ops/sub/")] {
        store.create_role(&role(&account, name, path), 1000).await.unwrap();
    }
    assert_eq!(store.create_role(&role(&account, "over", "/"), 3).await, Err(StoreError::LimitExceeded));
    let names = |roles: Vec<Role>| roles.into_iter().map(|r| r.name).collect::<Vec<_>>();
    assert_eq!(names(store.list_roles(&account, "/", &page(None, 10)).await.unwrap()), ["Admin", "beta", "Gamma"]);
    assert_eq!(names(store.list_roles(&account, "/ops/", &page(None, 10)).await.unwrap()), ["Admin", "Gamma"]);
    assert_eq!(names(store.list_roles(&account, "/", &page(Some("admin"), 1)).await.unwrap()), ["beta", "Gamma"]);
    let listed = store.list_roles(&account, "/ops/sub/", &page(None, 10)).await.unwrap();
    assert!(listed[0].tags.is_empty() && listed[0].permissions_boundary.is_none());

    // Updates: description set or cleared, duration, trust policy.
    store.update_role(&account, "admin", Some(None), Some(7200)).await.unwrap();
    store.update_trust_policy(&account, "ADMIN", "new trust").await.unwrap();
    let updated = store.get_role(&account, "Admin").await.unwrap().unwrap();
    assert_eq!(
        (updated.description, updated.max_session_duration, updated.trust_policy.as_str()),
        (None, 7200, "new trust")
    );
    store.update_role(&account, "admin", Some(Some("back")), None).await.unwrap();
    assert_eq!(store.get_role(&account, "Admin").await.unwrap().unwrap().description.as_deref(), Some("back"));
    assert_eq!(store.update_role(&account, "nobody", None, Some(3600)).await, Err(StoreError::NotFound(Entity::Role)));
    assert_eq!(store.update_trust_policy(&account, "nobody", "x").await, Err(StoreError::NotFound(Entity::Role)));

    // Tags.
    store.tag_role(&account, "admin", &[tag("TEAM", "red"), tag("new", "1")], 50).await.unwrap();
    assert_eq!(
        store.role_tags(&account, "admin").await.unwrap(),
        vec![tag("Env", "prod"), tag("new", "1"), tag("TEAM", "red")]
    );
    assert_eq!(store.tag_role(&account, "admin", &[tag("x", "1")], 3).await, Err(StoreError::LimitExceeded));
    store.untag_role(&account, "admin", &["env".into(), "absent".into()]).await.unwrap();
    assert_eq!(store.role_tags(&account, "admin").await.unwrap(), vec![tag("new", "1"), tag("TEAM", "red")]);
    assert_eq!(store.role_tags(&account, "nobody").await, Err(StoreError::NotFound(Entity::Role)));

    store.record_role_used(&admin.role_id, NOW + 50).await.unwrap();
    assert_eq!(store.get_role(&account, "admin").await.unwrap().unwrap().last_used_at, Some(NOW + 50));
    store.record_role_used("AROAGONE", NOW).await.expect("a deleted role is fine");

    store.delete_role(&account, "admin").await.unwrap();
    assert_eq!(store.get_role(&account, "admin").await.unwrap(), None);
    assert_eq!(store.delete_role(&account, "admin").await, Err(StoreError::NotFound(Entity::Role)));
    assert_eq!(store.account_counts(&account).await.unwrap().roles, 2);
}

async fn role_policies_and_sessions(store: &dyn Store) {
    let account = fresh_account(store).await;
    let managed = store.create_policy(&new_policy(&account, "RoleManaged", "/", "managed-doc"), 1500).await.unwrap();
    let boundary = store.create_policy(&new_policy(&account, "RoleBoundary", "/", "boundary-doc"), 1500).await.unwrap();
    let mut ops = role(&account, "Ops", "/");
    ops.permissions_boundary = Some("arn:aws:iam::000000000000:policy/Nope".into());
    assert_eq!(store.create_role(&ops, 1000).await, Err(StoreError::NotFound(Entity::Policy)));
    assert_eq!(store.get_role(&account, "Ops").await.unwrap(), None, "nothing written");
    ops.permissions_boundary = Some(boundary.arn.clone());
    store.create_role(&ops, 1000).await.unwrap();
    assert_eq!(
        store.get_role(&account, "ops").await.unwrap().unwrap().permissions_boundary,
        Some(boundary.arn.clone())
    );

    let r = Holder::Role;
    store.put_inline_policy(&account, r, "ops", "Inline", "inline-doc", 10240).await.unwrap();
    assert_eq!(store.list_inline_policies(&account, r, "OPS").await.unwrap(), ["Inline"]);
    assert_eq!(store.get_inline_policy(&account, r, "ops", "inline").await.unwrap().document, "inline-doc");
    assert_eq!(
        store.put_inline_policy(&account, r, "ops", "Big", &"x".repeat(20), 15).await,
        Err(StoreError::LimitExceeded)
    );
    assert_eq!(
        store.put_inline_policy(&account, r, "nobody", "p", "d", 10240).await,
        Err(StoreError::NotFound(Entity::Role))
    );
    store.attach_policy(&account, r, "ops", &managed.arn, 10).await.unwrap();
    assert_eq!(store.list_attached_policies(&account, r, "ops").await.unwrap().len(), 1);
    let entities = store.list_entities_for_policy(&account, &managed.arn).await.unwrap();
    assert_eq!(
        entities.roles,
        vec![PolicyUse {
            name: "Ops".into(),
            id: ops.role_id.clone(),
            path: "/".into(),
            attached: true,
            boundary: false
        }]
    );
    // The boundary of a role and of a user is a use too.
    let boundary_uses = store.list_entities_for_policy(&account, &boundary.arn).await.unwrap();
    assert_eq!(
        boundary_uses.roles,
        vec![PolicyUse {
            name: "Ops".into(),
            id: ops.role_id.clone(),
            path: "/".into(),
            attached: false,
            boundary: true
        }]
    );
    let counted = store.get_policy(&account, &managed.arn).await.unwrap().unwrap();
    assert_eq!(counted.attachment_count, 1);
    assert_eq!(store.get_policy(&account, &boundary.arn).await.unwrap().unwrap().boundary_usage_count, 1);
    assert_eq!(store.delete_policy(&managed.arn).await, Err(StoreError::DeleteConflict(Dependent::Attachments)));
    assert_eq!(store.delete_policy(&boundary.arn).await, Err(StoreError::DeleteConflict(Dependent::Attachments)));
    assert_eq!(store.account_counts(&account).await.unwrap().policy_versions_in_use, 1);

    assert_eq!(
        store.role_policies(&account, &ops.role_id).await.unwrap(),
        RolePolicies {
            tags: Vec::new(),
            inline: vec![InlinePolicy { name: "Inline".into(), document: "inline-doc".into() }],
            managed: vec![(managed.arn.clone(), "managed-doc".into())],
            boundary: Some((boundary.arn.clone(), "boundary-doc".into())),
        }
    );
    assert_eq!(store.role_policies(OTHER_ACCOUNT, &ops.role_id).await, Err(StoreError::NotFound(Entity::Role)));

    // Groups carry no boundary.
    assert_eq!(
        store.permissions_boundary(&account, Holder::Group, "ops").await,
        Err(StoreError::NotFound(Entity::Group))
    );
    store.delete_permissions_boundary(&account, r, "ops").await.unwrap();
    assert_eq!(store.permissions_boundary(&account, r, "ops").await.unwrap(), None);
    store.put_permissions_boundary(&account, r, "ops", &boundary.arn).await.unwrap();
    assert_eq!(store.permissions_boundary(&account, r, "ops").await.unwrap(), Some(boundary.arn.clone()));

    // A role with policies cannot be deleted; in AWS's cleanup order.
    assert_eq!(store.delete_role(&account, "ops").await, Err(StoreError::DeleteConflict(Dependent::Policies)));
    store.delete_inline_policy(&account, r, "ops", "INLINE").await.unwrap();
    assert_eq!(store.delete_role(&account, "ops").await, Err(StoreError::DeleteConflict(Dependent::Attachments)));
    store.detach_policy(&account, r, "ops", &managed.arn).await.unwrap();

    // A role session keeps the role's name and session policies; it outlives the role.
    let session = StsSession {
        access_key_id: fresh_id("ASIA"),
        account_id: account.clone(),
        user: None,
        secret_sealed: b"sealed".to_vec(),
        token_hash: vec![9; 32],
        created_at: NOW,
        expires_at: NOW + 900,
        mfa_authenticated_at: Some(NOW),
        mfa_serial: Some("arn:aws:iam::x:mfa/alice".into()),
        role: Some(RoleSession {
            role_id: ops.role_id.clone(),
            role_name: "Ops".into(),
            session_name: "alice@example.com".into(),
            session_policies: vec!["{\"a\": 1}".into(), "second".into()],
            source_identity: Some("alice".into()),
            tags: vec![
                SessionTag { key: "Project".into(), value: "x\"y".into(), transitive: true },
                SessionTag { key: "team".into(), value: "".into(), transitive: false },
            ],
        }),
    };
    store.create_sts_session(&session).await.unwrap();
    store.delete_role(&account, "ops").await.unwrap();
    assert_eq!(store.find_sts_session(&session.access_key_id).await.unwrap(), Some(session.clone()));
    assert_eq!(store.role_policies(&account, &ops.role_id).await, Err(StoreError::NotFound(Entity::Role)));
    store.delete_policy(&boundary.arn).await.expect("the boundary went with the role");
}

async fn groups(store: &dyn Store) {
    let account = fresh_account(store).await;
    let admins = group(&account, "Admins", "/ops/");
    store.create_group(&admins, 300).await.unwrap();
    assert_eq!(
        store.create_group(&group(&account, "ADMINS", "/"), 300).await,
        Err(StoreError::AlreadyExists(Entity::Group))
    );
    store.create_group(&group(OTHER_ACCOUNT, "admins", "/"), 300).await.expect("same name in another account");
    assert_eq!(store.get_group(&account, "aDmInS").await.unwrap(), Some(admins.clone()));
    assert_eq!(store.get_group(&account, "nobody").await.unwrap(), None);

    for (name, path) in [("beta", "/"), ("Gamma", "/ops/sub/"), ("delta", "/")] {
        store.create_group(&group(&account, name, path), 300).await.unwrap();
    }
    assert_eq!(store.create_group(&group(&account, "over", "/"), 4).await, Err(StoreError::LimitExceeded));
    assert_eq!(store.get_group(&account, "over").await.unwrap(), None);
    assert_eq!(store.account_counts(&account).await.unwrap().groups, 4);

    let names = |groups: Vec<Group>| groups.into_iter().map(|g| g.name).collect::<Vec<_>>();
    assert_eq!(names(store.list_groups(&account, "/", &page(None, 2)).await.unwrap()), ["Admins", "beta", "delta"]);
    assert_eq!(names(store.list_groups(&account, "/", &page(Some("delta"), 2)).await.unwrap()), ["Gamma"]);
    assert_eq!(names(store.list_groups(&account, "/ops/", &page(None, 10)).await.unwrap()), ["Admins", "Gamma"]);

    assert_eq!(
        store.update_group(&account, "beta", Some("DELTA"), None).await,
        Err(StoreError::AlreadyExists(Entity::Group))
    );
    assert_eq!(store.update_group(&account, "nobody", Some("x"), None).await, Err(StoreError::NotFound(Entity::Group)));
    store.update_group(&account, "beta", Some("Beta2"), Some("/new/")).await.unwrap();
    let renamed = store.get_group(&account, "beta2").await.unwrap().unwrap();
    assert_eq!((renamed.name.as_str(), renamed.path.as_str()), ("Beta2", "/new/"));
    assert_eq!(store.get_group(&account, "beta").await.unwrap(), None);

    assert_eq!(store.delete_group(&account, "nobody").await, Err(StoreError::NotFound(Entity::Group)));
    store.delete_group(&account, "BETA2").await.unwrap();
    assert_eq!(store.get_group(&account, "Beta2").await.unwrap(), None);
    store.create_group(&group(&account, "beta2", "/"), 300).await.expect("the name is free again");
}

async fn group_membership(store: &dyn Store) {
    let account = fresh_account(store).await;
    for name in ["Zed", "amy", "Bob"] {
        store.create_user(&user(&account, name, "/"), 5000).await.unwrap();
    }
    for name in ["devs", "Admins", "ops"] {
        store.create_group(&group(&account, name, "/"), 300).await.unwrap();
    }
    for name in ["Zed", "amy", "Bob"] {
        store.add_user_to_group(&account, "DEVS", name, 10).await.unwrap();
    }
    store.add_user_to_group(&account, "devs", "amy", 1).await.expect("idempotent, whatever the quota");
    assert_eq!(store.add_user_to_group(&account, "nogroup", "amy", 10).await, Err(StoreError::NotFound(Entity::Group)));
    assert_eq!(store.add_user_to_group(&account, "devs", "nobody", 10).await, Err(StoreError::NotFound(Entity::User)));
    store.add_user_to_group(&account, "admins", "amy", 2).await.unwrap();
    assert_eq!(store.add_user_to_group(&account, "ops", "amy", 2).await, Err(StoreError::LimitExceeded));

    let members: Vec<String> =
        store.list_group_members(&account, "devs").await.unwrap().into_iter().map(|u| u.name).collect();
    assert_eq!(members, ["amy", "Bob", "Zed"]);
    assert_eq!(store.list_group_members(&account, "nogroup").await, Err(StoreError::NotFound(Entity::Group)));
    let amy_groups: Vec<String> =
        store.list_groups_for_user(&account, "AMY").await.unwrap().into_iter().map(|g| g.name).collect();
    assert_eq!(amy_groups, ["Admins", "devs"]);
    assert_eq!(store.list_groups_for_user(&account, "nobody").await, Err(StoreError::NotFound(Entity::User)));
    assert!(store.list_groups_for_user(&account, "zed").await.unwrap().len() == 1);

    store.remove_user_from_group(&account, "devs", "amy").await.unwrap();
    assert_eq!(store.remove_user_from_group(&account, "devs", "amy").await, Err(StoreError::NotFound(Entity::User)));
    assert_eq!(store.remove_user_from_group(&account, "ops", "amy").await, Err(StoreError::NotFound(Entity::User)));
    assert_eq!(
        store.remove_user_from_group(&account, "nogroup", "amy").await,
        Err(StoreError::NotFound(Entity::Group))
    );
    assert_eq!(store.remove_user_from_group(&account, "devs", "nobody").await, Err(StoreError::NotFound(Entity::User)));
    assert_eq!(store.list_group_members(&account, "devs").await.unwrap().len(), 2);
    store.add_user_to_group(&account, "ops", "amy", 2).await.expect("room again");
}

async fn managed_policies(store: &dyn Store) {
    let account = fresh_account(store).await;
    let mut input = new_policy(&account, "ReadThings", "/team/", &doc("s3:Get*"));
    input.description = Some("reads".into());
    input.tags = vec![tag("b", "2"), tag("A", "1")];
    let created = store.create_policy(&input, 1500).await.unwrap();
    assert_eq!(created.arn, format!("arn:aws:iam::{account}:policy/team/ReadThings"));
    assert_eq!(created.policy_id, input.policy_id);
    assert_eq!(created.default_version_id, "v1");
    assert_eq!((created.attachment_count, created.boundary_usage_count), (0, 0));
    assert_eq!((created.created_at, created.updated_at), (NOW, NOW));
    assert_eq!(created.description.as_deref(), Some("reads"));
    assert_eq!(created.tags, vec![tag("A", "1"), tag("b", "2")]);
    assert_eq!(store.get_policy(&account, &created.arn).await.unwrap(), Some(created.clone()));
    assert_eq!(store.get_policy(OTHER_ACCOUNT, &created.arn).await.unwrap(), None, "not visible to other accounts");
    assert_eq!(store.get_policy(&account, &arn(&account, "nope")).await.unwrap(), None);

    // Names are unique per account without regard to case or path.
    let dup = new_policy(&account, "readthings", "/other/", &doc("x"));
    assert_eq!(store.create_policy(&dup, 1500).await, Err(StoreError::AlreadyExists(Entity::Policy)));
    store.create_policy(&new_policy(OTHER_ACCOUNT, "ReadThings", "/", &doc("x")), 1500).await.unwrap();

    for name in ["alpha", "Zulu", "mid"] {
        store.create_policy(&new_policy(&account, name, "/", &doc(name)), 1500).await.unwrap();
    }
    let over = new_policy(&account, "over", "/", &doc("x"));
    assert_eq!(store.create_policy(&over, 4).await, Err(StoreError::LimitExceeded));
    assert_eq!(store.get_policy(&account, &arn(&account, "over")).await.unwrap(), None);
    assert_eq!(store.account_counts(&account).await.unwrap().policies, 4);

    // Listing: by lower-cased name then account, page keys from ManagedPolicy::page_key.
    store.ensure_aws_managed_policy("ReadOnlyAccess", "/", None, &doc("*:Get*"), NOW).await.unwrap();
    store.ensure_aws_managed_policy("MidAws", "/job-function/", None, &doc("a"), NOW).await.unwrap();
    let names = |ps: &[ManagedPolicy]| ps.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    let local = store.list_policies(&account, PolicyScope::Local, false, "/", &page(None, 100)).await.unwrap();
    assert_eq!(names(&local), ["alpha", "mid", "ReadThings", "Zulu"]);
    let aws = store.list_policies(&account, PolicyScope::Aws, false, "/", &page(None, 100)).await.unwrap();
    assert!(aws.iter().all(|p| p.account_id == AWS_MANAGED_ACCOUNT));
    assert!(names(&aws).contains(&"ReadOnlyAccess".to_owned()));
    let all = store.list_policies(&account, PolicyScope::All, false, "/", &page(None, 100)).await.unwrap();
    assert_eq!(all.len(), local.len() + aws.len());
    let keys: Vec<String> = all.iter().map(ManagedPolicy::page_key).collect();
    let sorted = {
        let mut k = keys.clone();
        k.sort();
        k
    };
    assert_eq!(keys, sorted, "ordered by page key");
    // Paging through everything two at a time yields the same list.
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut got =
            store.list_policies(&account, PolicyScope::All, false, "/", &page(after.as_deref(), 2)).await.unwrap();
        let more = got.len() > 2;
        got.truncate(2);
        after = got.last().map(ManagedPolicy::page_key);
        paged.extend(got);
        if !more {
            break;
        }
    }
    assert_eq!(paged, all);
    let team = store.list_policies(&account, PolicyScope::All, false, "/team/", &page(None, 100)).await.unwrap();
    assert_eq!(names(&team), ["ReadThings"]);
    assert!(store.list_policies(&account, PolicyScope::Local, true, "/", &page(None, 100)).await.unwrap().is_empty());
    assert!(all.iter().all(|p| p.tags.is_empty()), "listing leaves tags out");

    assert_eq!(store.delete_policy(&arn(&account, "nope")).await, Err(StoreError::NotFound(Entity::Policy)));
    store.delete_policy(&arn(&account, "alpha")).await.unwrap();
    assert_eq!(store.get_policy(&account, &arn(&account, "alpha")).await.unwrap(), None);
    assert_eq!(store.policy_tags(&created.arn).await.unwrap().len(), 2);
    store.delete_policy(&created.arn).await.unwrap();
    assert_eq!(store.policy_tags(&created.arn).await, Err(StoreError::NotFound(Entity::Policy)));
    store.create_policy(&input, 1500).await.expect("name free again; tags gone with the policy");
}

async fn policy_versions(store: &dyn Store) {
    let account = fresh_account(store).await;
    let p = store.create_policy(&new_policy(&account, "Versioned", "/", &doc("v1")), 1500).await.unwrap();
    let v2 = store.create_policy_version(&p.arn, &doc("v2"), false, NOW + 2, 5).await.unwrap();
    assert_eq!(
        v2,
        PolicyVersion { version_id: "v2".into(), document: doc("v2"), is_default: false, created_at: NOW + 2 }
    );
    let v3 = store.create_policy_version(&p.arn, &doc("v3"), true, NOW + 3, 5).await.unwrap();
    assert!(v3.is_default);
    let got = store.get_policy(&account, &p.arn).await.unwrap().unwrap();
    assert_eq!((got.default_version_id.as_str(), got.updated_at, got.created_at), ("v3", NOW + 3, NOW));
    let ids = |vs: Vec<PolicyVersion>| vs.into_iter().map(|v| (v.version_id, v.is_default)).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list_policy_versions(&p.arn).await.unwrap()),
        [("v3".to_owned(), true), ("v2".to_owned(), false), ("v1".to_owned(), false)]
    );
    let v1 = store.get_policy_version(&p.arn, "v1").await.unwrap();
    assert_eq!((v1.document, v1.is_default, v1.created_at), (doc("v1"), false, NOW));
    for bad in ["v9", "x1", "v", "1", "v-1"] {
        assert_eq!(store.get_policy_version(&p.arn, bad).await, Err(StoreError::NotFound(Entity::PolicyVersion)));
    }
    let missing = arn(&account, "missing");
    assert_eq!(store.get_policy_version(&missing, "v1").await, Err(StoreError::NotFound(Entity::Policy)));
    assert_eq!(store.list_policy_versions(&missing).await, Err(StoreError::NotFound(Entity::Policy)));
    assert_eq!(
        store.create_policy_version(&missing, "{}", true, NOW, 5).await,
        Err(StoreError::NotFound(Entity::Policy))
    );

    // Five at most; a refused version writes nothing.
    store.create_policy_version(&p.arn, &doc("v4"), false, NOW + 4, 5).await.unwrap();
    store.create_policy_version(&p.arn, &doc("v5"), false, NOW + 5, 5).await.unwrap();
    assert_eq!(store.create_policy_version(&p.arn, &doc("v6"), true, NOW + 6, 5).await, Err(StoreError::LimitExceeded));
    assert_eq!(store.list_policy_versions(&p.arn).await.unwrap().len(), 5);
    assert_eq!(store.get_policy(&account, &p.arn).await.unwrap().unwrap().default_version_id, "v3");

    // The default cannot be deleted; ids are never reused.
    assert_eq!(
        store.delete_policy_version(&p.arn, "v3").await,
        Err(StoreError::DeleteConflict(Dependent::DefaultVersion))
    );
    store.delete_policy_version(&p.arn, "v5").await.unwrap();
    assert_eq!(store.delete_policy_version(&p.arn, "v5").await, Err(StoreError::NotFound(Entity::PolicyVersion)));
    assert_eq!(store.delete_policy_version(&missing, "v1").await, Err(StoreError::NotFound(Entity::Policy)));
    let v6 = store.create_policy_version(&p.arn, &doc("v6"), false, NOW + 6, 5).await.unwrap();
    assert_eq!(v6.version_id, "v6");

    store.set_default_policy_version(&p.arn, "v1").await.unwrap();
    store.set_default_policy_version(&p.arn, "v1").await.expect("the current default again");
    assert_eq!(store.set_default_policy_version(&p.arn, "v5").await, Err(StoreError::NotFound(Entity::PolicyVersion)));
    assert_eq!(store.set_default_policy_version(&missing, "v1").await, Err(StoreError::NotFound(Entity::Policy)));
    assert!(store.get_policy_version(&p.arn, "v1").await.unwrap().is_default);
    assert!(!store.get_policy_version(&p.arn, "v3").await.unwrap().is_default);

    // Deleting the policy waits for its other versions to go.
    assert_eq!(store.delete_policy(&p.arn).await, Err(StoreError::DeleteConflict(Dependent::Versions)));
    for v in ["v2", "v3", "v4", "v6"] {
        store.delete_policy_version(&p.arn, v).await.unwrap();
    }
    store.delete_policy(&p.arn).await.unwrap();
}

async fn policy_tags(store: &dyn Store) {
    let account = fresh_account(store).await;
    let p = store.create_policy(&new_policy(&account, "Tagged", "/", "{}"), 1500).await.unwrap();
    store.tag_policy(&p.arn, &[tag("Env", "prod"), tag("team", "a")], 3).await.unwrap();
    store.tag_policy(&p.arn, &[tag("ENV", "dev")], 3).await.unwrap();
    assert_eq!(store.policy_tags(&p.arn).await.unwrap(), vec![tag("ENV", "dev"), tag("team", "a")]);
    assert_eq!(store.tag_policy(&p.arn, &[tag("x", "1"), tag("y", "2")], 3).await, Err(StoreError::LimitExceeded));
    assert_eq!(store.policy_tags(&p.arn).await.unwrap().len(), 2, "a refused tagging writes nothing");
    store.untag_policy(&p.arn, &["env".into(), "unknown".into()]).await.unwrap();
    assert_eq!(store.policy_tags(&p.arn).await.unwrap(), vec![tag("team", "a")]);
    assert_eq!(store.get_policy(&account, &p.arn).await.unwrap().unwrap().tags, vec![tag("team", "a")]);
    let missing = arn(&account, "missing");
    assert_eq!(store.tag_policy(&missing, &[tag("a", "b")], 3).await, Err(StoreError::NotFound(Entity::Policy)));
    assert_eq!(store.untag_policy(&missing, &["a".into()]).await, Err(StoreError::NotFound(Entity::Policy)));
    assert_eq!(store.policy_tags(&missing).await, Err(StoreError::NotFound(Entity::Policy)));
}

async fn aws_managed_policies(store: &dyn Store) {
    let first = store
        .ensure_aws_managed_policy(
            "IAMUserChangePassword",
            "/",
            Some("change own password"),
            &doc("iam:ChangePassword"),
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(first.arn, "arn:aws:iam::aws:policy/IAMUserChangePassword");
    assert_eq!(first.account_id, AWS_MANAGED_ACCOUNT);
    assert_eq!(first.default_version_id, "v1");
    assert!(first.policy_id.starts_with("ANPA") && first.policy_id.len() == 21, "{}", first.policy_id);
    assert_eq!(first.policy_id, ManagedPolicy::aws_policy_id(&first.arn), "derived from the ARN");
    // Idempotent: same id, creation time kept.
    let again = store
        .ensure_aws_managed_policy(
            "IAMUserChangePassword",
            "/",
            Some("change own password"),
            &doc("iam:ChangePassword"),
            NOW + 50,
        )
        .await
        .unwrap();
    assert_eq!(again, first);
    // Newer text replaces the default version's document.
    let newer = store
        .ensure_aws_managed_policy("IAMUserChangePassword", "/", Some("newer"), &doc("iam:ChangePassword*"), NOW + 60)
        .await
        .unwrap();
    assert_eq!((newer.created_at, newer.updated_at, newer.description.as_deref()), (NOW, NOW + 60, Some("newer")));
    assert_eq!(store.get_policy_version(&first.arn, "v1").await.unwrap().document, doc("iam:ChangePassword*"));
    assert_eq!(store.list_policy_versions(&first.arn).await.unwrap().len(), 1);
    // Visible to every account; not counted as the account's policies.
    let account = fresh_account(store).await;
    assert_eq!(store.get_policy(&account, &first.arn).await.unwrap().unwrap().policy_id, first.policy_id);
    assert_eq!(store.account_counts(&account).await.unwrap().policies, 0);
}

async fn inline_policies(store: &dyn Store) {
    let account = fresh_account(store).await;
    let account = account.as_str();
    store.create_user(&user(account, "inliner", "/"), 5000).await.unwrap();
    store.create_group(&group(account, "inliners", "/"), 300).await.unwrap();
    for (owner, put_max) in [("user", 60usize), ("group", 60)] {
        let put = |name: &'static str, document: String, max: usize| async move {
            if owner == "user" {
                store.put_inline_policy(account, Holder::User, "inliner", name, &document, max).await
            } else {
                store.put_inline_policy(account, Holder::Group, "inliners", name, &document, max).await
            }
        };
        let get = |name: &'static str| async move {
            if owner == "user" {
                store.get_inline_policy(account, Holder::User, "INLINER", name).await
            } else {
                store.get_inline_policy(account, Holder::Group, "INLINERS", name).await
            }
        };
        let list = || async {
            if owner == "user" {
                store.list_inline_policies(account, Holder::User, "inliner").await
            } else {
                store.list_inline_policies(account, Holder::Group, "inliners").await
            }
        };
        let delete = |name: &'static str| async move {
            if owner == "user" {
                store.delete_inline_policy(account, Holder::User, "inliner", name).await
            } else {
                store.delete_inline_policy(account, Holder::Group, "inliners", name).await
            }
        };
        // 20 characters without whitespace each.
        let twenty = |c: char| format!("{{ \"a\" : \"{}\" }}", c.to_string().repeat(12));
        assert_eq!(policy_size(&twenty('x')), 20);
        put("Zeta", twenty('z'), put_max).await.unwrap();
        put("alpha", twenty('a'), put_max).await.unwrap();
        assert_eq!(list().await.unwrap(), ["alpha", "Zeta"], "{owner}");
        assert_eq!(get("ZETA").await.unwrap(), InlinePolicy { name: "Zeta".into(), document: twenty('z') });
        assert_eq!(get("nope").await, Err(StoreError::NotFound(Entity::InlinePolicy)));
        // Replacing counts the new size, not both; the new spelling stays.
        put("ALPHA", twenty('b'), put_max).await.unwrap();
        assert_eq!(get("alpha").await.unwrap(), InlinePolicy { name: "ALPHA".into(), document: twenty('b') });
        put("third", twenty('c'), put_max).await.expect("exactly at the limit");
        // Over the limit: refused and nothing written (neither a new policy nor a replacement).
        assert_eq!(put("fourth", twenty('d'), put_max).await, Err(StoreError::LimitExceeded));
        assert_eq!(put("third", format!("{}{}", twenty('e'), "x"), put_max).await, Err(StoreError::LimitExceeded));
        assert_eq!(list().await.unwrap(), ["ALPHA", "third", "Zeta"]);
        assert_eq!(get("third").await.unwrap().document, twenty('c'));
        delete("Zeta").await.unwrap();
        assert_eq!(delete("zeta").await, Err(StoreError::NotFound(Entity::InlinePolicy)));
        put("fourth", twenty('d'), put_max).await.expect("room again");
        for name in ["ALPHA", "third", "fourth"] {
            delete(name).await.unwrap();
        }
        assert!(list().await.unwrap().is_empty());
    }
    let not_user = Err(StoreError::NotFound(Entity::User));
    assert_eq!(store.put_inline_policy(account, Holder::User, "nobody", "p", "{}", 2048).await, not_user);
    assert_eq!(
        store.get_inline_policy(account, Holder::User, "nobody", "p").await,
        Err(StoreError::NotFound(Entity::User))
    );
    assert_eq!(
        store.list_inline_policies(account, Holder::User, "nobody").await,
        Err(StoreError::NotFound(Entity::User))
    );
    assert_eq!(store.delete_inline_policy(account, Holder::User, "nobody", "p").await, not_user);
    let not_group = Err(StoreError::NotFound(Entity::Group));
    assert_eq!(store.put_inline_policy(account, Holder::Group, "nogroup", "p", "{}", 2048).await, not_group);
    assert_eq!(
        store.get_inline_policy(account, Holder::Group, "nogroup", "p").await,
        Err(StoreError::NotFound(Entity::Group))
    );
    assert_eq!(
        store.list_inline_policies(account, Holder::Group, "nogroup").await,
        Err(StoreError::NotFound(Entity::Group))
    );
    assert_eq!(store.delete_inline_policy(account, Holder::Group, "nogroup", "p").await, not_group);
}

async fn attachments(store: &dyn Store) {
    let account = fresh_account(store).await;
    store.create_user(&user(&account, "attached", "/"), 5000).await.unwrap();
    store.create_user(&user(&account, "Other", "/"), 5000).await.unwrap();
    store.create_group(&group(&account, "team", "/"), 300).await.unwrap();
    let a = store.create_policy(&new_policy(&account, "Apol", "/", &doc("a")), 1500).await.unwrap();
    let b = store.create_policy(&new_policy(&account, "bpol", "/x/", &doc("b")), 1500).await.unwrap();
    let c = store.create_policy(&new_policy(&account, "Cpol", "/", &doc("c")), 1500).await.unwrap();
    let aws = store.ensure_aws_managed_policy("AttachableAws", "/", None, &doc("aws"), NOW).await.unwrap();
    let foreign = store.create_policy(&new_policy(OTHER_ACCOUNT, "Foreign", "/", "{}"), 1500).await.unwrap();

    store.attach_policy(&account, Holder::User, "attached", &b.arn, 3).await.unwrap();
    store.attach_policy(&account, Holder::User, "ATTACHED", &a.arn, 3).await.unwrap();
    store.attach_policy(&account, Holder::User, "attached", &a.arn, 2).await.expect("idempotent, whatever the quota");
    store.attach_policy(&account, Holder::User, "attached", &aws.arn, 3).await.unwrap();
    assert_eq!(
        store.attach_policy(&account, Holder::User, "attached", &c.arn, 3).await,
        Err(StoreError::LimitExceeded)
    );
    assert_eq!(
        store.attach_policy(&account, Holder::User, "nobody", &a.arn, 3).await,
        Err(StoreError::NotFound(Entity::User))
    );
    assert_eq!(
        store.attach_policy(&account, Holder::User, "other", &arn(&account, "nope"), 3).await,
        Err(StoreError::NotFound(Entity::Policy))
    );
    assert_eq!(
        store.attach_policy(&account, Holder::User, "other", &foreign.arn, 3).await,
        Err(StoreError::NotFound(Entity::Policy)),
        "another account's policy is not attachable"
    );
    let listed = store.list_attached_policies(&account, Holder::User, "attached").await.unwrap();
    let expected = |ps: &[&ManagedPolicy]| {
        ps.iter().map(|p| AttachedPolicy { name: p.name.clone(), arn: p.arn.clone() }).collect::<Vec<_>>()
    };
    assert_eq!(listed, expected(&[&a, &aws, &b]));
    assert_eq!(
        store.list_attached_policies(&account, Holder::User, "nobody").await,
        Err(StoreError::NotFound(Entity::User))
    );

    store.attach_policy(&account, Holder::Group, "team", &a.arn, 10).await.unwrap();
    store.attach_policy(&account, Holder::Group, "TEAM", &aws.arn, 10).await.unwrap();
    assert_eq!(store.attach_policy(&account, Holder::Group, "team", &c.arn, 2).await, Err(StoreError::LimitExceeded));
    assert_eq!(
        store.attach_policy(&account, Holder::Group, "nogroup", &c.arn, 2).await,
        Err(StoreError::NotFound(Entity::Group))
    );
    assert_eq!(store.list_attached_policies(&account, Holder::Group, "team").await.unwrap(), expected(&[&a, &aws]));
    assert_eq!(
        store.list_attached_policies(&account, Holder::Group, "nogroup").await,
        Err(StoreError::NotFound(Entity::Group))
    );

    // Counts are per account, also for AWS managed policies.
    store.attach_policy(&account, Holder::User, "other", &a.arn, 10).await.unwrap();
    let got = store.get_policy(&account, &a.arn).await.unwrap().unwrap();
    assert_eq!(got.attachment_count, 3);
    let elsewhere = fresh_account(store).await;
    store.create_user(&user(&elsewhere, "far", "/"), 5000).await.unwrap();
    store.attach_policy(&elsewhere, Holder::User, "far", &aws.arn, 10).await.unwrap();
    assert_eq!(store.get_policy(&account, &aws.arn).await.unwrap().unwrap().attachment_count, 2);
    assert_eq!(store.get_policy(&elsewhere, &aws.arn).await.unwrap().unwrap().attachment_count, 1);
    assert_eq!(store.account_counts(&account).await.unwrap().policy_versions_in_use, 6);

    let entities = store.list_entities_for_policy(&account, &a.arn).await.unwrap();
    let user_id = |name: &'static str| {
        let account = account.clone();
        async move { store.get_user(&account, name).await.unwrap().unwrap().user_id }
    };
    let team_id = store.get_group(&account, "team").await.unwrap().unwrap().group_id;
    let attached =
        |name: &str, id: String| PolicyUse { name: name.into(), id, path: "/".into(), attached: true, boundary: false };
    assert_eq!(
        entities,
        PolicyEntities {
            users: vec![attached("attached", user_id("attached").await), attached("Other", user_id("other").await)],
            groups: vec![attached("team", team_id)],
            roles: vec![],
        }
    );
    let aws_entities = store.list_entities_for_policy(&elsewhere, &aws.arn).await.unwrap();
    assert_eq!(aws_entities.users.len(), 1);
    assert!(aws_entities.groups.is_empty());
    assert_eq!(store.list_entities_for_policy(OTHER_ACCOUNT, &a.arn).await, Err(StoreError::NotFound(Entity::Policy)));

    // only_attached lists what is attached within the account.
    let attached: Vec<String> = store
        .list_policies(&account, PolicyScope::All, true, "/", &page(None, 100))
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(attached, ["Apol", "AttachableAws", "bpol"]);

    assert_eq!(store.delete_policy(&a.arn).await, Err(StoreError::DeleteConflict(Dependent::Attachments)));
    assert_eq!(
        store.detach_policy(&account, Holder::User, "attached", &c.arn).await,
        Err(StoreError::NotFound(Entity::Policy))
    );
    assert_eq!(
        store.detach_policy(&account, Holder::User, "nobody", &a.arn).await,
        Err(StoreError::NotFound(Entity::User))
    );
    store.detach_policy(&account, Holder::User, "attached", &a.arn).await.unwrap();
    store.detach_policy(&account, Holder::User, "other", &a.arn).await.unwrap();
    assert_eq!(store.delete_policy(&a.arn).await, Err(StoreError::DeleteConflict(Dependent::Attachments)));
    assert_eq!(
        store.detach_policy(&account, Holder::Group, "team", &c.arn).await,
        Err(StoreError::NotFound(Entity::Policy))
    );
    store.detach_policy(&account, Holder::Group, "team", &a.arn).await.unwrap();
    assert_eq!(store.get_policy(&account, &a.arn).await.unwrap().unwrap().attachment_count, 0);
    store.delete_policy(&a.arn).await.unwrap();
    assert_eq!(store.list_attached_policies(&account, Holder::User, "attached").await.unwrap(), expected(&[&aws, &b]));
}

async fn boundaries(store: &dyn Store) {
    let account = fresh_account(store).await;
    store.create_user(&user(&account, "bounded", "/"), 5000).await.unwrap();
    let p = store.create_policy(&new_policy(&account, "Fence", "/", &doc("fence")), 1500).await.unwrap();
    let q = store.create_policy(&new_policy(&account, "Fence2", "/", &doc("fence2")), 1500).await.unwrap();
    assert_eq!(store.permissions_boundary(&account, Holder::User, "bounded").await.unwrap(), None);
    assert_eq!(
        store.put_permissions_boundary(&account, Holder::User, "bounded", &arn(&account, "nope")).await,
        Err(StoreError::NotFound(Entity::Policy))
    );
    assert_eq!(
        store.put_permissions_boundary(&account, Holder::User, "nobody", &p.arn).await,
        Err(StoreError::NotFound(Entity::User))
    );
    store.put_permissions_boundary(&account, Holder::User, "BOUNDED", &p.arn).await.unwrap();
    assert_eq!(store.permissions_boundary(&account, Holder::User, "bounded").await.unwrap(), Some(p.arn.clone()));
    assert_eq!(store.get_policy(&account, &p.arn).await.unwrap().unwrap().boundary_usage_count, 1);
    assert_eq!(store.delete_policy(&p.arn).await, Err(StoreError::DeleteConflict(Dependent::Attachments)));
    // Replacing moves the usage.
    store.put_permissions_boundary(&account, Holder::User, "bounded", &q.arn).await.unwrap();
    assert_eq!(store.get_policy(&account, &p.arn).await.unwrap().unwrap().boundary_usage_count, 0);
    assert_eq!(store.get_policy(&account, &q.arn).await.unwrap().unwrap().boundary_usage_count, 1);
    store.delete_policy(&p.arn).await.unwrap();
    store.delete_permissions_boundary(&account, Holder::User, "bounded").await.unwrap();
    store.delete_permissions_boundary(&account, Holder::User, "bounded").await.expect("nothing to delete is fine");
    assert_eq!(store.permissions_boundary(&account, Holder::User, "bounded").await.unwrap(), None);
    assert_eq!(
        store.delete_permissions_boundary(&account, Holder::User, "nobody").await,
        Err(StoreError::NotFound(Entity::User))
    );
    assert_eq!(
        store.permissions_boundary(&account, Holder::User, "nobody").await,
        Err(StoreError::NotFound(Entity::User))
    );
    // A boundary does not keep the user; it goes with them.
    store.put_permissions_boundary(&account, Holder::User, "bounded", &q.arn).await.unwrap();
    store.delete_user(&account, "bounded").await.unwrap();
    assert_eq!(store.get_policy(&account, &q.arn).await.unwrap().unwrap().boundary_usage_count, 0);
    store.delete_policy(&q.arn).await.unwrap();
}

async fn delete_conflicts(store: &dyn Store) {
    let account = fresh_account(store).await;
    store.create_user(&user(&account, "kept", "/"), 5000).await.unwrap();
    store.create_group(&group(&account, "club", "/"), 300).await.unwrap();
    let p = store.create_policy(&new_policy(&account, "P", "/", "{}"), 1500).await.unwrap();
    store.put_inline_policy(&account, Holder::User, "kept", "inline", "{}", 2048).await.unwrap();
    store.attach_policy(&account, Holder::User, "kept", &p.arn, 10).await.unwrap();
    store.add_user_to_group(&account, "club", "kept", 10).await.unwrap();
    store.put_inline_policy(&account, Holder::Group, "club", "inline", "{}", 5120).await.unwrap();
    store.attach_policy(&account, Holder::Group, "club", &p.arn, 10).await.unwrap();

    // Users: inline policies, then attached policies, then groups (after the credential checks).
    assert_eq!(store.delete_user(&account, "kept").await, Err(StoreError::DeleteConflict(Dependent::Policies)));
    store.delete_inline_policy(&account, Holder::User, "kept", "inline").await.unwrap();
    assert_eq!(store.delete_user(&account, "kept").await, Err(StoreError::DeleteConflict(Dependent::Attachments)));
    store.detach_policy(&account, Holder::User, "kept", &p.arn).await.unwrap();
    assert_eq!(store.delete_user(&account, "kept").await, Err(StoreError::DeleteConflict(Dependent::Groups)));

    // Groups: members, then inline policies, then attached policies.
    assert_eq!(store.delete_group(&account, "club").await, Err(StoreError::DeleteConflict(Dependent::Members)));
    store.remove_user_from_group(&account, "club", "kept").await.unwrap();
    store.delete_user(&account, "kept").await.unwrap();
    assert_eq!(store.delete_group(&account, "club").await, Err(StoreError::DeleteConflict(Dependent::Policies)));
    store.delete_inline_policy(&account, Holder::Group, "club", "inline").await.unwrap();
    assert_eq!(store.delete_group(&account, "club").await, Err(StoreError::DeleteConflict(Dependent::Attachments)));
    store.detach_policy(&account, Holder::Group, "club", &p.arn).await.unwrap();
    store.delete_group(&account, "club").await.unwrap();
    store.delete_policy(&p.arn).await.unwrap();
    let counts = store.account_counts(&account).await.unwrap();
    assert_eq!((counts.users, counts.groups, counts.policies, counts.policy_versions_in_use), (0, 0, 0, 0));
}

async fn effective_policies(store: &dyn Store) {
    let account = fresh_account(store).await;
    let mut subject = user(&account, "subject", "/");
    subject.tags = vec![tag("Team", "red"), tag("env", "prod")];
    store.create_user(&subject, 5000).await.unwrap();
    assert_eq!(
        store.effective_policies(&account, &subject.user_id).await.unwrap(),
        EffectivePolicies { tags: vec![tag("env", "prod"), tag("Team", "red")], ..Default::default() }
    );
    assert_eq!(store.effective_policies(&account, "AIDANOSUCH").await, Err(StoreError::NotFound(Entity::User)));
    assert_eq!(
        store.effective_policies(OTHER_ACCOUNT, &subject.user_id).await,
        Err(StoreError::NotFound(Entity::User))
    );

    let m = store.create_policy(&new_policy(&account, "Managed", "/", &doc("m1")), 1500).await.unwrap();
    store.create_policy_version(&m.arn, &doc("m2"), true, NOW, 5).await.unwrap();
    store.create_policy_version(&m.arn, &doc("m3"), false, NOW, 5).await.unwrap();
    let aws = store.ensure_aws_managed_policy("EffAws", "/", None, &doc("aws"), NOW).await.unwrap();
    let fence = store.create_policy(&new_policy(&account, "Fence", "/", &doc("fence")), 1500).await.unwrap();
    store.put_inline_policy(&account, Holder::User, "subject", "b-inline", &doc("ub"), 2048).await.unwrap();
    store.put_inline_policy(&account, Holder::User, "subject", "A-inline", &doc("ua"), 2048).await.unwrap();
    store.attach_policy(&account, Holder::User, "subject", &m.arn, 10).await.unwrap();
    store.attach_policy(&account, Holder::User, "subject", &aws.arn, 10).await.unwrap();
    for g in ["zgroup", "Agroup", "unrelated"] {
        store.create_group(&group(&account, g, "/"), 300).await.unwrap();
        store.put_inline_policy(&account, Holder::Group, g, "gp", &doc(g), 5120).await.unwrap();
    }
    store.add_user_to_group(&account, "zgroup", "subject", 10).await.unwrap();
    store.add_user_to_group(&account, "agroup", "subject", 10).await.unwrap();
    store.attach_policy(&account, Holder::Group, "zgroup", &aws.arn, 10).await.unwrap();
    store.put_permissions_boundary(&account, Holder::User, "subject", &fence.arn).await.unwrap();

    let inline = |name: &str, d: &str| InlinePolicy { name: name.into(), document: doc(d) };
    let got = store.effective_policies(&account, &subject.user_id).await.unwrap();
    assert_eq!(
        got,
        EffectivePolicies {
            tags: vec![tag("env", "prod"), tag("Team", "red")],
            user_inline: vec![inline("A-inline", "ua"), inline("b-inline", "ub")],
            user_managed: vec![(aws.arn.clone(), doc("aws")), (m.arn.clone(), doc("m2"))],
            groups: vec![
                ("Agroup".into(), vec![inline("gp", "Agroup")], vec![]),
                ("zgroup".into(), vec![inline("gp", "zgroup")], vec![(aws.arn.clone(), doc("aws"))]),
            ],
            boundary: Some((fence.arn.clone(), doc("fence"))),
        }
    );
}

// Races on policies ----------------------------------------------------------------------------

async fn policies_concurrency(store: &Arc<dyn Store>) {
    attach_quota_under_contention(store).await;
    version_quota_under_contention(store).await;
    group_quota_under_contention(store).await;
    inline_size_under_contention(store).await;
    delete_policy_against_attach(store).await;
}

/// Twenty attachments of distinct policies to one user with a limit of 10: exactly ten win.
async fn attach_quota_under_contention(store: &Arc<dyn Store>) {
    let account = fresh_account(&**store).await;
    store.create_user(&user(&account, "magnet", "/"), 5000).await.unwrap();
    let mut arns = Vec::new();
    for i in 0..20 {
        arns.push(store.create_policy(&new_policy(&account, &format!("p{i:02}"), "/", "{}"), 1500).await.unwrap().arn);
    }
    let results = race(20, |i| {
        let (store, account, arn) = (store.clone(), account.clone(), arns[i].clone());
        async move { store.attach_policy(&account, Holder::User, "magnet", &arn, 10).await }
    })
    .await;
    let (ok, errors) = tally(&results);
    assert_eq!(ok, 10, "exactly the quota: {errors:?}");
    assert!(errors.iter().all(|e| **e == StoreError::LimitExceeded), "{errors:?}");
    let attached: HashSet<String> = store
        .list_attached_policies(&account, Holder::User, "magnet")
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.arn)
        .collect();
    let winners: HashSet<String> = (0..20).filter(|i| results[*i].is_ok()).map(|i| arns[i].clone()).collect();
    assert_eq!(attached, winners);
}

/// Ten versions created at once on a policy with one version and a limit of 5: four win, the
/// policy never holds more than five, and no version id is handed out twice.
async fn version_quota_under_contention(store: &Arc<dyn Store>) {
    let account = fresh_account(&**store).await;
    let p = store.create_policy(&new_policy(&account, "Busy", "/", "{}"), 1500).await.unwrap();
    let results = race(10, |i| {
        let (store, arn) = (store.clone(), p.arn.clone());
        async move { store.create_policy_version(&arn, &format!("{{\"n\":{i}}}"), i % 2 == 0, NOW, 5).await }
    })
    .await;
    let (ok, errors) = tally(&results);
    assert_eq!(ok, 4, "{errors:?}");
    assert!(errors.iter().all(|e| **e == StoreError::LimitExceeded), "{errors:?}");
    let versions = store.list_policy_versions(&p.arn).await.unwrap();
    assert_eq!(versions.len(), 5);
    let ids: HashSet<String> = versions.iter().map(|v| v.version_id.clone()).collect();
    assert_eq!(ids, ["v1", "v2", "v3", "v4", "v5"].into_iter().map(String::from).collect());
    assert_eq!(versions.iter().filter(|v| v.is_default).count(), 1);
}

/// One user added to twelve groups at once with a limit of 4: exactly four win.
async fn group_quota_under_contention(store: &Arc<dyn Store>) {
    let account = fresh_account(&**store).await;
    store.create_user(&user(&account, "joiner", "/"), 5000).await.unwrap();
    for i in 0..12 {
        store.create_group(&group(&account, &format!("g{i}"), "/"), 300).await.unwrap();
    }
    let results = race(12, |i| {
        let (store, account) = (store.clone(), account.clone());
        async move { store.add_user_to_group(&account, &format!("g{i}"), "joiner", 4).await }
    })
    .await;
    let (ok, errors) = tally(&results);
    assert_eq!(ok, 4, "{errors:?}");
    assert!(errors.iter().all(|e| **e == StoreError::LimitExceeded), "{errors:?}");
    assert_eq!(store.list_groups_for_user(&account, "joiner").await.unwrap().len(), 4);

    // And groups per account.
    let other = fresh_account(&**store).await;
    let results = race(10, |i| {
        let store = store.clone();
        let g = group(&other, &format!("crowd{i}"), "/");
        async move { store.create_group(&g, 3).await }
    })
    .await;
    assert_eq!(tally(&results).0, 3);
    assert_eq!(store.account_counts(&other).await.unwrap().groups, 3);
}

/// Ten 20-character inline policies put at once with a 100-character limit: exactly five win.
async fn inline_size_under_contention(store: &Arc<dyn Store>) {
    let account = fresh_account(&**store).await;
    store.create_user(&user(&account, "verbose", "/"), 5000).await.unwrap();
    let results = race(10, |i| {
        let (store, account) = (store.clone(), account.clone());
        async move {
            let document = format!("{{\"k\": \"{}\"}}", "x".repeat(12));
            store.put_inline_policy(&account, Holder::User, "verbose", &format!("p{i}"), &document, 100).await
        }
    })
    .await;
    let (ok, errors) = tally(&results);
    assert_eq!(ok, 5, "{errors:?}");
    assert!(errors.iter().all(|e| **e == StoreError::LimitExceeded), "{errors:?}");
    assert_eq!(store.list_inline_policies(&account, Holder::User, "verbose").await.unwrap().len(), 5);
}

/// Deleting a policy while others attach it: either the delete wins (and every attach then
/// finds no policy) or it is refused; never a deleted policy with attachments.
async fn delete_policy_against_attach(store: &Arc<dyn Store>) {
    let account = fresh_account(&**store).await;
    for i in 0..8 {
        store.create_user(&user(&account, &format!("a{i}"), "/"), 5000).await.unwrap();
    }
    let p = store.create_policy(&new_policy(&account, "Contested", "/", "{}"), 1500).await.unwrap();
    let results = race(9, |i| {
        let (store, account, arn) = (store.clone(), account.clone(), p.arn.clone());
        async move {
            if i == 8 {
                store.delete_policy(&arn).await
            } else {
                store.attach_policy(&account, Holder::User, &format!("a{i}"), &arn, 10).await
            }
        }
    })
    .await;
    let attached = results[..8].iter().filter(|r| r.is_ok()).count();
    match &results[8] {
        Ok(()) => {
            assert!(store.get_policy(&account, &p.arn).await.unwrap().is_none());
            assert_eq!(attached, 0, "{results:?}");
        }
        Err(e) => {
            assert_eq!(*e, StoreError::DeleteConflict(Dependent::Attachments));
            assert_eq!(store.get_policy(&account, &p.arn).await.unwrap().unwrap().attachment_count as usize, attached);
        }
    }
}

/// `iamd migrate`: everything the conformance suite leaves in an embedded database arrives in
/// PostgreSQL row for row (sealed bytes, sync state, booleans, NULLs, audit ids); a second run
/// into the now non-empty target is refused and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_moves_to_postgres() {
    let Some(target) = TestDatabase::create_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iamd.db");
    let source: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    conformance(source.clone()).await;
    drop(source);

    let copied = iamd_store::copy_sqlite_to_postgres(&path, target.url()).await.unwrap();
    let empty: Vec<&str> = copied.iter().filter(|(_, n)| *n == 0).map(|(t, _)| t.as_str()).collect();
    for busy in
        ["users", "access_keys", "mfa_devices", "policies", "roles", "auth_events", "change_events", "sts_sessions"]
    {
        assert!(!empty.contains(&busy), "the suite leaves rows in {busy}; copied: {copied:?}");
    }

    let pg = PgStore::connect(target.url()).await.unwrap();
    let sqlite = rusqlite::Connection::open(&path).unwrap();
    for (table, rows) in &copied {
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(pg.pool())
        .await
        .unwrap();
        let (pg_exprs, sqlite_exprs): (Vec<String>, Vec<String>) = columns
            .iter()
            .map(|(c, ty)| match ty.as_str() {
                "bytea" => {
                    (format!("coalesce(upper(encode(\"{c}\", 'hex')), '-')"), format!("coalesce(hex(\"{c}\"), '-')"))
                }
                "boolean" => (format!("coalesce((\"{c}\")::int::text, '-')"), format!("coalesce(\"{c}\", '-')")),
                _ => (format!("coalesce((\"{c}\")::text, '-')"), format!("coalesce(\"{c}\", '-')")),
            })
            .unzip();
        let mut in_pg: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT concat_ws('|', {}) FROM \"{table}\"",
            pg_exprs.join(", ")
        )))
        .fetch_all(pg.pool())
        .await
        .unwrap();
        let mut in_sqlite: Vec<String> = sqlite
            .prepare(&format!("SELECT {} FROM \"{table}\"", sqlite_exprs.join(" || '|' || ")))
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        in_pg.sort();
        in_sqlite.sort();
        assert_eq!(in_pg.len() as u64, *rows, "{table}");
        assert_eq!(in_pg, in_sqlite, "{table}: rows differ after the move");
    }
    // New audit events get ids after the copied ones.
    let copied_max: i64 = sqlx::query_scalar("SELECT max(id) FROM auth_events").fetch_one(pg.pool()).await.unwrap();
    pg.record_auth_event(&AuthEvent {
        at: NOW,
        account_id: ACCOUNT.into(),
        user_name: "after-move".into(),
        source: "test".into(),
        kind: "console-password".into(),
        mfa_used: false,
        outcome: "success".into(),
        reason: String::new(),
    })
    .await
    .unwrap();
    let new_id: i64 = sqlx::query_scalar("SELECT id FROM auth_events WHERE user_name = 'after-move'")
        .fetch_one(pg.pool())
        .await
        .unwrap();
    assert!(new_id > copied_max, "new id {new_id} after the copied {copied_max}");

    match iamd_store::copy_sqlite_to_postgres(&path, target.url()).await {
        Err(StoreError::Backend(message)) => assert!(message.contains("not empty"), "{message}"),
        other => panic!("a second move into a used database: {other:?}"),
    }
    pg.close().await;
}

/// Migration 0006 on PostgreSQL: the unassigned devices whose serial no request can name are
/// removed with their tags; every addressable device stays (the SQLite twin is tested in
/// `sqlite::migrate`).
#[tokio::test]
async fn postgres_removes_devices_no_request_can_name() {
    let Some(database) = TestDatabase::create_or_skip() else { return };
    let store = PgStore::connect(database.url()).await.unwrap();
    store.ensure_account(ACCOUNT, None, NOW).await.unwrap();
    let bad =
        ["p&1/d", "p<2>/d", "p%3/d", "p!4/d", "caf\u{e9}/d", "p]/d"].map(|p| format!("arn:aws:iam::{ACCOUNT}:mfa/{p}"));
    let kept = [format!("arn:aws:iam::{ACCOUNT}:mfa/a_b+c=d,e.f@g-h/d")];
    for serial in bad.iter().chain(&kept) {
        sqlx::query(
            "INSERT INTO mfa_devices (serial, account_id, path, name, seed_sealed, created_at) \
             VALUES ($1, $2, '/', 'd', '\\x00', 0)",
        )
        .bind(serial)
        .bind(ACCOUNT)
        .execute(store.pool())
        .await
        .unwrap();
        sqlx::query("INSERT INTO mfa_device_tags VALUES ($1, 'k', 'k', 'v')")
            .bind(serial)
            .execute(store.pool())
            .await
            .unwrap();
    }
    sqlx::raw_sql(include_str!("../migrations/postgres/0006_unaddressable_devices.sql"))
        .execute(store.pool())
        .await
        .unwrap();
    let left: Vec<String> = sqlx::query_scalar("SELECT serial FROM mfa_devices").fetch_all(store.pool()).await.unwrap();
    assert_eq!(left, kept);
    let tags: i64 = sqlx::query_scalar("SELECT count(*) FROM mfa_device_tags").fetch_one(store.pool()).await.unwrap();
    assert_eq!(tags, 1);
    store.close().await;
}

/// `/metrics` shows the pool at its bound: a call that finds every connection taken is counted as
/// waiting until it gets one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_pool_waiting_is_counted() {
    let Some(database) = TestDatabase::create_or_skip() else { return };
    let url = database.url().to_owned();
    let store = Arc::new(PgStore::connect(&url).await.unwrap());
    store.ensure_account(ACCOUNT, None, NOW).await.unwrap();
    let mut registry = prometheus_client::registry::Registry::default();
    store.register_metrics(&mut registry);
    let sample = |name: &str, registry: &prometheus_client::registry::Registry| {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} in {text}"));
        line.rsplit(' ').next().unwrap().parse::<i64>().unwrap()
    };
    assert_eq!(sample("postgres_pool_waiting ", &registry), 0);

    // Take every connection the pool may open, then make a call.
    let bound = sample("postgres_pool_connections{state=\"max\"}", &registry);
    let mut held = Vec::new();
    for _ in 0..bound {
        held.push(store.pool().acquire().await.unwrap());
    }
    let call = tokio::spawn({
        let store = store.clone();
        async move { store.get_user(ACCOUNT, "nobody").await }
    });
    let waited = tokio::time::timeout(std::time::Duration::from_secs(3), async {
        while sample("postgres_pool_waiting ", &registry) != 1 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "the call is counted as waiting");
    assert!(!call.is_finished());
    drop(held);
    assert_eq!(call.await.unwrap(), Ok(None));
    assert_eq!(sample("postgres_pool_waiting ", &registry), 0);
    store.close().await;
}
