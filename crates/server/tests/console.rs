//! The HTML sign-in (`/signin`, `/signin/mfa`, `/console`, `/signout`), driven in-process through
//! the router with a fresh store and a clock the tests move. Every test runs on SQLite and on
//! PostgreSQL (`sqlite::…`, `postgres::…`; see `common`).

mod common;

use std::ops::Deref;

use axum::body::Body;
use common::browser::{Browser, Resp, element_text};
use common::{Backend, Setup, TestApp, backend_tests};
use http::{Request, StatusCode, header};
use iamd_domain::Clock;
use iamd_domain::entities::{AuthEvent, ConsoleState, NewMfaDevice, User};
use iamd_domain::password::PasswordPolicy;
use iamd_domain::totp::{self, DeviceSync, TotpKey};
use iamd_domain::{ids, mfa, password};
use iamd_server::state::Limits;
use iamd_store::AuthEventQuery;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

const ACCOUNT: &str = "111122223333";
const T0: i64 = 1_750_000_005;
const PASSWORD: &str = "Correct-Horse-9";
const INCORRECT: &str = "Your authentication information is incorrect. Please try again.";
const ROOT_KEY: &str = "AKIAROOTKEYFORCONSOL";
const ROOT_SECRET: &str = "console-tests-root-secret-000000000000000";

backend_tests!(
    password_only_sign_in_for_a_user_without_mfa,
    mfa_user_gets_a_session_only_with_a_code_and_the_id_rotates,
    a_code_works_once,
    every_failure_looks_the_same,
    user_text_is_escaped,
    forms_without_the_right_csrf_token_are_refused,
    sign_out_deletes_the_session,
    sessions_expire,
    ten_wrong_codes_lock_out_even_the_right_code,
    any_of_several_devices_will_do,
    reset_required_forces_a_password_change_under_the_policy,
    secure_cookies_behind_https,
    unknown_user_names_are_not_kept_verbatim,
    a_new_password_set_through_the_api_ends_console_sessions,
    deactivating_an_mfa_device_ends_console_sessions,
    the_forced_change_ends_other_sessions_and_keeps_this_one,
    repeated_wrong_passwords_lock_even_the_right_one_for_the_window,
    repeated_failures_from_one_address_lock_every_user,
    sign_ins_beyond_the_hashing_slots_get_a_quick_503,
    the_security_page_needs_a_signed_in_browser,
    security_forms_without_the_right_csrf_token_change_nothing,
    console_actions_are_decided_by_the_users_policies,
    mfa_at_sign_in_is_what_mfa_conditions_see,
    removing_a_device_ends_other_sessions_and_keeps_this_browser,
    an_unfinished_enrolment_can_be_deleted_and_started_again,
);

/// Allows managing the user's own access keys (the harness's users live on path `/team/`).
const OWN_KEYS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
  "Action":["iam:ListAccessKeys","iam:CreateAccessKey"],"Resource":"arn:aws:iam::*:user/team/${aws:username}"}]}"#;

/// Allows CreateAccessKey, ListAccessKeys and device management on the user itself only with MFA
/// in the session (AWS's `Bool aws:MultiFactorAuthPresent true` pattern).
const KEYS_WITH_MFA_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":["iam:ListAccessKeys","iam:ListMFADevices"],"Resource":"arn:aws:iam::*:user/team/${aws:username}"},
  {"Effect":"Allow","Action":["iam:CreateAccessKey","iam:DeactivateMFADevice","iam:DeleteVirtualMFADevice"],"Resource":"*",
   "Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}"#;

/// The shared [`TestApp`] (app, clock, `now`, `advance`, `store`) plus this file's helpers.
struct Harness(TestApp);

impl Deref for Harness {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.0
    }
}

struct Device {
    serial: String,
    key: TotpKey,
}

impl Harness {
    async fn new(backend: Backend) -> Self {
        Self::with_limits(backend, Limits::default()).await
    }

    async fn with_limits(backend: Backend, limits: Limits) -> Self {
        let setup =
            Setup { account: ACCOUNT, start: T0, created_at: T0, root_key: Some((ROOT_KEY, ROOT_SECRET)), limits };
        Harness(TestApp::start(backend, setup).await)
    }

    async fn user(&self, name: &str, reset_required: bool) -> User {
        let user = User {
            account_id: ACCOUNT.to_owned(),
            user_id: ids::new_user_id(),
            name: name.to_owned(),
            path: "/team/".to_owned(),
            created_at: self.now(),
            password_last_used: None,
            tags: Vec::new(),
            permissions_boundary: None,
        };
        self.store().create_user(&user, 5000).await.unwrap();
        let hash = password::hash(PASSWORD);
        self.store().create_login_profile(ACCOUNT, name, &hash, reset_required, self.now()).await.unwrap();
        user
    }

    /// A virtual device assigned to `user_name`, in sync, no code used yet at or after now.
    async fn device(&self, user_name: &str, device_name: &str) -> Device {
        let seed = mfa::generate_seed();
        let serial = ids::mfa_arn(ACCOUNT, "/", device_name);
        let device = NewMfaDevice {
            serial: serial.clone(),
            account_id: ACCOUNT.to_owned(),
            path: "/".to_owned(),
            name: device_name.to_owned(),
            seed_sealed: self.app.master_key.seal(&seed, &serial),
            created_at: self.now(),
            tags: Vec::new(),
        };
        self.store().create_mfa_device(&device, 100).await.unwrap();
        let sync = DeviceSync { offset_steps: 0, last_accepted_step: totp::step_at(self.now()) - 2 };
        self.store().assign_mfa_device(ACCOUNT, &serial, user_name, sync, self.now(), 8).await.unwrap();
        Device { serial, key: TotpKey::new(&seed) }
    }

    fn code(&self, device: &Device) -> String {
        device.key.code_at(self.now())
    }

    /// A code that matches `device` at no step near now.
    fn wrong_code(&self, device: &Device) -> String {
        let near: Vec<String> = (-3..=3).map(|s| device.key.code_at(self.now() + s * 30)).collect();
        (0..).map(|n: u32| format!("{:06}", (123_456 + n * 7919) % 1_000_000)).find(|c| !near.contains(c)).unwrap()
    }

    async fn events(&self) -> Vec<AuthEvent> {
        let mut events = self.store().auth_events(&AuthEventQuery::newest(ACCOUNT, 1000)).await.unwrap();
        events.reverse();
        events
    }

    async fn password_last_used(&self, name: &str) -> Option<i64> {
        self.store().get_user(ACCOUNT, name).await.unwrap().unwrap().password_last_used
    }

    async fn put_policy(&self, user_name: &str, document: &str) {
        self.store()
            .put_inline_policy(ACCOUNT, iamd_store::Holder::User, user_name, "console", document, 10_240)
            .await
            .unwrap();
    }

    async fn key_count(&self, user_name: &str) -> usize {
        self.store().list_access_keys(ACCOUNT, user_name).await.unwrap().len()
    }

    fn browser(&self) -> Browser {
        Browser::new(self.app.clone())
    }
}

fn hash(value: &str) -> Vec<u8> {
    Sha256::digest(value.as_bytes()).to_vec()
}

fn assert_cookie_flags(set_cookie: &str) {
    let attributes: Vec<&str> = set_cookie.split(';').map(str::trim).collect();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attributes.contains(&flag), "{flag} missing in {set_cookie}");
    }
}

async fn password_only_sign_in_for_a_user_without_mfa(backend: Backend) {
    let h = Harness::new(backend).await;
    h.user("alice", false).await;
    let mut browser = h.browser();

    let form = browser.get("/signin").await;
    assert_eq!(form.status, StatusCode::OK);
    assert_eq!(form.headers[header::CACHE_CONTROL], "no-store");
    assert!(form.body.contains("<main>") && form.body.contains("<label for=\"password\">"));
    let csrf_cookie = form.set_cookie("iamd_csrf").expect("double-submit cookie");
    assert_cookie_flags(&csrf_cookie);
    assert_eq!(browser.cookies["iamd_csrf"], form.field("csrf"));

    h.advance(7);
    let signed_in = browser.sign_in(ACCOUNT, "alice", PASSWORD).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_in.location(), "/console");
    assert_eq!(signed_in.headers[header::CACHE_CONTROL], "no-store");
    let cookie = signed_in.set_cookie("iamd_session").expect("session cookie");
    assert_cookie_flags(&cookie);
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert!(cookie.contains("Max-Age=43200"), "{cookie}");

    let session = h.store().find_console_session(&hash(&browser.session_cookie().unwrap())).await.unwrap().unwrap();
    assert_eq!(session.state, ConsoleState::SignedIn);
    assert_eq!(session.expires_at, h.now() + 12 * 3600);
    assert_eq!(session.mfa_authenticated_at, None);

    let console = browser.get("/console").await;
    assert_eq!(console.status, StatusCode::OK);
    assert_eq!(console.headers[header::CACHE_CONTROL], "no-store");
    assert!(console.body.contains("<dd id=\"user\">alice</dd>"), "{}", console.body);
    assert!(console.body.contains(&format!("<dd id=\"account\">{ACCOUNT}</dd>")));
    assert!(console.body.contains(&format!("arn:aws:iam::{ACCOUNT}:user/team/alice")));
    assert!(console.body.contains("<dd id=\"mfa\">no</dd>"), "{}", console.body);

    assert_eq!(h.password_last_used("alice").await, Some(h.now()));
    let events = h.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].kind.as_str(), events[0].outcome.as_str()), ("console-password", "success"));
    assert_eq!(events[0].user_name, "alice");
    assert!(!events[0].mfa_used);
}

async fn mfa_user_gets_a_session_only_with_a_code_and_the_id_rotates(backend: Backend) {
    let h = Harness::new(backend).await;
    h.user("bob", false).await;
    let device = h.device("bob", "bob-phone").await;
    let mut browser = h.browser();

    let step1 = browser.sign_in(ACCOUNT, "bob", PASSWORD).await;
    assert_eq!(step1.status, StatusCode::SEE_OTHER);
    assert_eq!(step1.location(), "/signin/mfa");
    let awaiting = browser.session_cookie().expect("awaiting-MFA cookie");
    assert_cookie_flags(&step1.set_cookie("iamd_session").unwrap());
    assert!(step1.set_cookie("iamd_session").unwrap().contains("Max-Age=300"));
    let session = h.store().find_console_session(&hash(&awaiting)).await.unwrap().unwrap();
    assert_eq!(session.state, ConsoleState::AwaitingMfa);
    assert_eq!(session.expires_at, h.now() + 300);
    assert_eq!(h.password_last_used("bob").await, None, "not signed in yet");

    // The password alone opens nothing.
    let console = browser.get("/console").await;
    assert_eq!(console.status, StatusCode::SEE_OTHER);
    assert_eq!(console.location(), "/signin/mfa");
    assert!(!console.body.contains("bob"));

    let form = browser.get("/signin/mfa").await;
    assert_eq!(form.status, StatusCode::OK);
    assert_eq!(form.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(form.field("serial"), device.serial, "one device: its serial travels in the form");
    assert!(!form.body.contains("<select"));

    h.advance(4);
    let code = h.code(&device);
    let step2 = browser.submit_code(None, &code).await;
    assert_eq!(step2.status, StatusCode::SEE_OTHER, "{}", step2.body);
    assert_eq!(step2.location(), "/console");
    assert_cookie_flags(&step2.set_cookie("iamd_session").unwrap());
    let signed_in = browser.session_cookie().unwrap();
    assert_ne!(signed_in, awaiting, "a new session id after MFA");
    assert_eq!(h.store().find_console_session(&hash(&awaiting)).await.unwrap(), None, "old id dead");
    let session = h.store().find_console_session(&hash(&signed_in)).await.unwrap().unwrap();
    assert_eq!(session.state, ConsoleState::SignedIn);
    assert_eq!(session.mfa_authenticated_at, Some(h.now()));
    assert_eq!(h.password_last_used("bob").await, Some(h.now()));

    let console = browser.get("/console").await;
    assert_eq!(console.status, StatusCode::OK);
    assert!(console.body.contains("<dd id=\"user\">bob</dd>"));
    assert!(console.body.contains("<dd id=\"mfa\">yes, at"), "{}", console.body);

    // The awaiting-MFA id no longer opens anything.
    let mut stale = h.browser();
    stale.cookies.insert("iamd_session".into(), awaiting);
    assert_eq!(stale.get("/console").await.location(), "/signin");

    let events: Vec<(String, String, bool)> =
        h.events().await.into_iter().map(|e| (e.kind, e.outcome, e.mfa_used)).collect();
    assert_eq!(
        events,
        [("console-password".into(), "success".into(), false), ("console-mfa".into(), "success".into(), true)]
    );
}

async fn a_code_works_once(backend: Backend) {
    let h = Harness::new(backend).await;
    h.user("carol", false).await;
    let device = h.device("carol", "carol-phone").await;
    let code = h.code(&device);

    let mut first = h.browser();
    first.sign_in(ACCOUNT, "carol", PASSWORD).await;
    assert_eq!(first.submit_code(None, &code).await.location(), "/console");

    h.advance(5);
    let mut second = h.browser();
    assert_eq!(second.sign_in(ACCOUNT, "carol", PASSWORD).await.location(), "/signin/mfa");
    let refused = second.submit_code(None, &code).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.body.contains(INCORRECT));
    assert_eq!(second.get("/console").await.location(), "/signin/mfa", "still no session");
    let last = h.events().await.pop().unwrap();
    assert_eq!((last.kind.as_str(), last.outcome.as_str()), ("console-mfa", "failure"));
    // Sequentially the step is simply not later than the last accepted one; a race loses in the store.
    assert!(["wrong code", "code already used"].contains(&last.reason.as_str()), "{last:?}");
}

async fn every_failure_looks_the_same(backend: Backend) {
    let h = Harness::new(backend).await;
    h.user("dave", false).await;
    let device = h.device("dave", "dave-phone").await;

    let mut refusals = Vec::new();
    for (account, user, password) in [
        (ACCOUNT, "dave", "Wrong-Horse-9"),
        (ACCOUNT, "nobody", PASSWORD),
        ("999988887777", "dave", PASSWORD),
        ("not an account", "dave", PASSWORD),
    ] {
        let mut browser = h.browser();
        let r = browser.sign_in(account, user, password).await;
        assert!(r.set_cookie("iamd_session").is_none());
        assert!(browser.session_cookie().is_none());
        refusals.push((r.status, r.error().map(str::to_owned), r.headers[header::CACHE_CONTROL].clone()));
    }
    let mut browser = h.browser();
    browser.sign_in(ACCOUNT, "dave", PASSWORD).await;
    let wrong = browser.submit_code(None, &h.wrong_code(&device)).await;
    refusals.push((wrong.status, wrong.error().map(str::to_owned), wrong.headers[header::CACHE_CONTROL].clone()));
    let unknown_serial = browser.submit_code(Some(&ids::mfa_arn(ACCOUNT, "/", "not-daves")), &h.code(&device)).await;
    refusals.push((
        unknown_serial.status,
        unknown_serial.error().map(str::to_owned),
        unknown_serial.headers[header::CACHE_CONTROL].clone(),
    ));

    let expected = (StatusCode::UNAUTHORIZED, Some(format!("<p role=\"alert\" id=\"error\">{INCORRECT}")), "no-store");
    for refusal in &refusals {
        assert_eq!(
            (refusal.0, refusal.1.clone(), refusal.2.to_str().unwrap()),
            (expected.0, expected.1.clone(), expected.2)
        );
    }

    let events = h.events().await;
    assert_eq!(events.len(), 5, "two passwords, one right password, two codes: {events:?}");
    assert!(events[..2].iter().all(|e| e.kind == "console-password" && e.outcome == "failure"));
    assert!(events[1].user_name.starts_with("unknown:"), "no user nobody: {events:?}");
    assert_eq!(events[3].reason, "wrong code");
    assert_eq!(events[4].reason, "serial not assigned to user");
    for other in ["999988887777", "not an account"] {
        let events = h.store().auth_events(&AuthEventQuery::newest(other, 10)).await.unwrap();
        assert_eq!(events.len(), 1, "{other}");
        assert_eq!((events[0].kind.as_str(), events[0].outcome.as_str()), ("console-password", "failure"));
    }
}

async fn user_text_is_escaped(backend: Backend) {
    let h = Harness::new(backend).await;
    let mut browser = h.browser();
    let r = browser.sign_in("<script>alert(1)</script>", "\"><b>x", "pw").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(!r.body.contains("<script>alert") && !r.body.contains("<b>x"), "{}", r.body);
    assert!(r.body.contains("value=\"&#60;script&#62;alert(1)&#60;/script&#62;\""), "{}", r.body);
    assert!(r.body.contains("value=\"&#34;&#62;&#60;b&#62;x\""), "{}", r.body);
}

async fn forms_without_the_right_csrf_token_are_refused(backend: Backend) {
    let h = Harness::new(backend).await;
    h.user("erin", false).await;
    let device = h.device("erin", "erin-phone").await;
    let mut browser = h.browser();
    let page = browser.get("/signin").await;
    let csrf = page.field("csrf");
    let creds = [("account_id", ACCOUNT), ("user_name", "erin"), ("password", PASSWORD)];

    // Sign-in form: no field, a wrong field, and the field without its cookie.
    let r = browser.post("/signin", &creds).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let mut wrong = creds.to_vec();
    wrong.push(("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    assert_eq!(browser.post("/signin", &wrong).await.status, StatusCode::FORBIDDEN);
    let mut right = creds.to_vec();
    right.push(("csrf", &csrf));
    let mut cookieless = h.browser();
    assert_eq!(cookieless.post("/signin", &right).await.status, StatusCode::FORBIDDEN);
    assert!(browser.session_cookie().is_none());
    assert!(h.events().await.is_empty(), "refused before any check");

    // MFA form: the session's token is required.
    assert_eq!(browser.post("/signin", &right).await.location(), "/signin/mfa");
    let code = h.code(&device);
    let r = browser.post("/signin/mfa", &[("code", &code)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = browser.post("/signin/mfa", &[("code", &code), ("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "the pre-session token is not the session's");
    assert_eq!(h.events().await.len(), 1, "no code was checked");
    assert_eq!(browser.submit_code(None, &code).await.location(), "/console", "the code was not spent");

    // Sign-out: nothing happens without the token.
    let session = browser.session_cookie().unwrap();
    let r = browser.post("/signout", &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = browser.send("POST", "/signout", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no form at all");
    let r = browser.post("/signout", &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(h.store().find_console_session(&hash(&session)).await.unwrap().is_some());
    assert_eq!(browser.get("/console").await.status, StatusCode::OK);
}

async fn sign_out_deletes_the_session(backend: Backend) {
    let h = Harness::new(backend).await;
    h.user("frank", false).await;
    let mut browser = h.browser();
    browser.sign_in(ACCOUNT, "frank", PASSWORD).await;
    let session = browser.session_cookie().unwrap();
    let console = browser.get("/console").await;
    let csrf = console.field("csrf");

    let r = browser.post("/signout", &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/signin");
    let cleared = r.set_cookie("iamd_session").unwrap();
    assert!(cleared.starts_with("iamd_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(h.store().find_console_session(&hash(&session)).await.unwrap(), None);

    let mut replay = h.browser();
    replay.cookies.insert("iamd_session".into(), session);
    assert_eq!(replay.get("/console").await.location(), "/signin");
}

async fn sessions_expire(backend: Backend) {
    let h = Harness::new(backend).await;
    h.user("gina", false).await;
    h.device("gina", "gina-phone").await;
    let mut browser = h.browser();
    browser.sign_in(ACCOUNT, "gina", PASSWORD).await;
    h.advance(301);
    assert_eq!(browser.get("/signin/mfa").await.location(), "/signin", "the MFA step lasts 5 minutes");

    let h = Harness::new(backend).await;
    h.user("gina", false).await;
    let mut browser = h.browser();
    browser.sign_in(ACCOUNT, "gina", PASSWORD).await;
    h.advance(12 * 3600 - 1);
    assert_eq!(browser.get("/console").await.status, StatusCode::OK);
    h.advance(1);
    assert_eq!(browser.get("/console").await.location(), "/signin", "a session lasts 12 hours");
}

async fn ten_wrong_codes_lock_out_even_the_right_code(backend: Backend) {
    let h = Harness::new(backend).await;
    h.user("hank", false).await;
    let device = h.device("hank", "hank-phone").await;
    let mut browser = h.browser();
    browser.sign_in(ACCOUNT, "hank", PASSWORD).await;
    for _ in 0..10 {
        h.advance(1);
        let r = browser.submit_code(None, &h.wrong_code(&device)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let right = h.code(&device);
    let locked = browser.submit_code(None, &right).await;
    assert_eq!(locked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(locked.error(), Some(format!("<p role=\"alert\" id=\"error\">{INCORRECT}").as_str()));
    assert_eq!(browser.get("/console").await.location(), "/signin/mfa");
    assert_eq!(h.events().await.last().unwrap().reason, "locked after repeated failures");

    // Still locked a step later, with a fresh code.
    h.advance(30);
    assert_eq!(browser.submit_code(None, &h.code(&device)).await.status, StatusCode::UNAUTHORIZED);

    // After the 5-minute lock, a fresh code signs in (the MFA step itself expired meanwhile).
    h.advance(300);
    assert_eq!(browser.get("/signin/mfa").await.location(), "/signin");
    assert_eq!(browser.sign_in(ACCOUNT, "hank", PASSWORD).await.location(), "/signin/mfa");
    let r = browser.submit_code(None, &h.code(&device)).await;
    assert_eq!(r.location(), "/console", "{}", r.body);
}

async fn any_of_several_devices_will_do(backend: Backend) {
    let h = Harness::new(backend).await;
    h.user("ivy", false).await;
    let first = h.device("ivy", "ivy-a").await;
    let second = h.device("ivy", "ivy-b").await;
    let mut browser = h.browser();
    browser.sign_in(ACCOUNT, "ivy", PASSWORD).await;
    let form = browser.get("/signin/mfa").await;
    assert!(form.body.contains("<select id=\"serial\" name=\"serial\">"), "{}", form.body);
    assert!(form.body.contains(&format!("<option value=\"{}\">", first.serial)));
    assert!(form.body.contains(&format!("<option value=\"{}\">", second.serial)));

    // A code of one device does not pass for the other.
    let r = browser.submit_code(Some(&first.serial), &h.code(&second)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = browser.submit_code(Some(&second.serial), &h.code(&second)).await;
    assert_eq!(r.location(), "/console");
}

async fn change_password(browser: &mut Browser, csrf: &str, old: &str, new: &str) -> Resp {
    let form = [("csrf", csrf), ("old_password", old), ("new_password", new), ("confirm_password", new)];
    browser.post("/console/password", &form).await
}

async fn reset_required_forces_a_password_change_under_the_policy(backend: Backend) {
    let h = Harness::new(backend).await;
    h.user("jack", true).await;
    h.device("jack", "jack-phone").await;
    let policy = PasswordPolicy { minimum_length: 16, require_numbers: true, ..PasswordPolicy::default() };
    h.store().put_password_policy(ACCOUNT, &policy).await.unwrap();
    let device = h.device("jack", "jack-phone-2").await;
    let mut browser = h.browser();
    browser.sign_in(ACCOUNT, "jack", PASSWORD).await;
    assert_eq!(browser.submit_code(Some(&device.serial), &h.code(&device)).await.location(), "/console");
    assert_eq!(h.password_last_used("jack").await, Some(h.now()));

    let console = browser.get("/console").await;
    assert_eq!(console.location(), "/console/password", "no console before the change");
    let form = browser.get("/console/password").await;
    assert_eq!(form.status, StatusCode::OK);
    let csrf = form.field("csrf");
    let r = browser
        .post("/console/password", &[("old_password", PASSWORD), ("new_password", "Long-enough-password-1")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no CSRF token");
    let r = change_password(&mut browser, &csrf, "Wrong-Horse-9", "Long-enough-password-1").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains(INCORRECT));
    let r = change_password(&mut browser, &csrf, PASSWORD, "Short-1").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("does not conform"), "{}", r.body);
    let r = change_password(&mut browser, &csrf, PASSWORD, "Long-enough-password-x").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "no number");
    let r = change_password(&mut browser, &csrf, PASSWORD, "Long-enough-password-1").await;
    assert_eq!(r.location(), "/console", "{}", r.body);

    let profile = h.store().get_login_profile(ACCOUNT, "jack").await.unwrap();
    assert!(!profile.reset_required);
    assert!(password::verify("Long-enough-password-1", &profile.password_hash));
    assert_eq!(browser.get("/console").await.status, StatusCode::OK);
    let password_checks = h.events().await.into_iter().filter(|e| e.kind == "console-password").count();
    assert_eq!(password_checks, 1 + 4, "sign-in plus every old-password check");
}

async fn secure_cookies_behind_https(backend: Backend) {
    let h = Harness::new(backend).await;
    h.user("kate", false).await;
    let mut browser = h.browser();
    browser.headers.push(("x-forwarded-proto", "https"));
    let form = browser.get("/signin").await;
    assert!(form.set_cookie("iamd_csrf").unwrap().contains("; Secure"));
    let r = browser.sign_in(ACCOUNT, "kate", PASSWORD).await;
    let cookie = r.set_cookie("iamd_session").unwrap();
    assert_cookie_flags(&cookie);
    assert!(cookie.contains("; Secure"), "{cookie}");
}

impl Harness {
    /// Sends a signed IAM query request (`Action` and its parameters) at the injected time with
    /// `(access key id, secret)`; returns status and body.
    async fn iam(&self, creds: (&str, &str), params: &[(&str, &str)]) -> (StatusCode, String) {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Version", "2010-05-08");
        form.extend_pairs(params);
        let body = form.finish();
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let signed = iamd_sigv4::sign_headers(
            &iamd_sigv4::SignRequest {
                method: "POST",
                host: "iamd.test",
                path: "/",
                query: "",
                content_type: Some(content_type),
                body: body.as_bytes(),
            },
            &iamd_sigv4::SignCredentials { access_key_id: creds.0, secret_access_key: creds.1, session_token: None },
            "us-east-1",
            "iam",
            self.clock.now(),
        );
        let mut request = Request::post("/").header("host", "iamd.test").header(header::CONTENT_TYPE, content_type);
        for (name, value) in signed {
            request = request.header(name, value);
        }
        let response =
            iamd_server::router(self.app.clone()).oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    /// The same call as the account's root user; asserts success.
    async fn admin(&self, params: &[(&str, &str)]) {
        let (status, body) = self.iam((ROOT_KEY, ROOT_SECRET), params).await;
        assert_eq!(status, StatusCode::OK, "{params:?}: {body}");
    }

    /// A browser signed in as `user` (no MFA device), with the console open.
    async fn signed_in(&self, user: &str) -> Browser {
        let mut browser = self.browser();
        assert_eq!(browser.sign_in(ACCOUNT, user, PASSWORD).await.location(), "/console");
        assert_eq!(browser.get("/console").await.status, StatusCode::OK);
        browser
    }
}

/// A password pasted into the user-name field must not be kept: the trail names only users that
/// exist, and an unknown name as a short hash.
async fn unknown_user_names_are_not_kept_verbatim(backend: Backend) {
    let h = Harness::new(backend).await;
    h.user("lena", false).await;
    let mut browser = h.browser();
    let r = browser.sign_in(ACCOUNT, "hunter2-password", "hunter2-password").await;
    assert_eq!((r.status, r.error().is_some()), (StatusCode::UNAUTHORIZED, true), "the same neutral answer");
    let r = browser.sign_in(ACCOUNT, "LENA", "Wrong-Horse-9").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    browser.sign_in(ACCOUNT, "hunter2-password", "other").await;

    let events = h.events().await;
    assert_eq!(events.len(), 3, "{events:?}");
    for event in &events {
        assert!(!format!("{event:?}").contains("hunter2"), "typed text kept: {event:?}");
    }
    let hashed = &events[0].user_name;
    assert!(hashed.starts_with("unknown:") && hashed.len() == "unknown:".len() + 8, "{hashed}");
    assert_eq!(events[1].user_name, "lena", "an existing user is named (by its own spelling)");
    assert_eq!(&events[2].user_name, hashed, "the same text, the same name");
}

/// UpdateLoginProfile with a password (an administrator's reset) and ChangePassword through the
/// API end every console session of the user; the reset flag alone does not.
async fn a_new_password_set_through_the_api_ends_console_sessions(backend: Backend) {
    let h = Harness::new(backend).await;
    h.user("mia", false).await;
    h.user("ned", false).await;
    let (mut first, mut second, mut ned) =
        (h.signed_in("mia").await, h.signed_in("mia").await, h.signed_in("ned").await);

    h.admin(&[("Action", "UpdateLoginProfile"), ("UserName", "mia"), ("PasswordResetRequired", "true")]).await;
    assert_eq!(first.get("/console").await.location(), "/console/password", "the flag alone ends nothing");

    h.admin(&[("Action", "UpdateLoginProfile"), ("UserName", "mia"), ("Password", "New-Horse-42")]).await;
    assert_eq!(first.get("/console").await.location(), "/signin");
    assert_eq!(second.get("/console").await.location(), "/signin");
    assert_eq!(ned.get("/console").await.status, StatusCode::OK, "other users keep theirs");
    assert!(first.sign_in(ACCOUNT, "mia", PASSWORD).await.error().is_some(), "the old password is gone");

    // ChangePassword, made by the user through the API with its own access key.
    h.store().update_login_profile(ACCOUNT, "mia", Some(&password::hash(PASSWORD)), Some(false), 0).await.unwrap();
    let mut browser = h.signed_in("mia").await;
    let (status, body) = h.iam((ROOT_KEY, ROOT_SECRET), &[("Action", "CreateAccessKey"), ("UserName", "mia")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let text = |tag: &str| {
        let start = body.find(&format!("<{tag}>")).unwrap() + tag.len() + 2;
        body[start..start + body[start..].find('<').unwrap()].to_owned()
    };
    let (key, secret) = (text("AccessKeyId"), text("SecretAccessKey"));
    let params = [("Action", "ChangePassword"), ("OldPassword", PASSWORD), ("NewPassword", "Newer-Horse-43")];
    let (status, body) = h.iam((&key, &secret), &params).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(browser.get("/console").await.location(), "/signin");
}

/// DeactivateMFADevice ends every console session of the device's user (an administrator
/// removing a lost device), including one waiting for its code.
async fn deactivating_an_mfa_device_ends_console_sessions(backend: Backend) {
    let h = Harness::new(backend).await;
    h.user("olga", false).await;
    let device = h.device("olga", "olga-phone").await;
    let mut signed_in = h.browser();
    signed_in.sign_in(ACCOUNT, "olga", PASSWORD).await;
    assert_eq!(signed_in.submit_code(None, &h.code(&device)).await.location(), "/console");
    assert_eq!(signed_in.get("/console").await.status, StatusCode::OK);
    let mut waiting = h.browser();
    assert_eq!(waiting.sign_in(ACCOUNT, "olga", PASSWORD).await.location(), "/signin/mfa");

    h.admin(&[("Action", "DeactivateMFADevice"), ("UserName", "olga"), ("SerialNumber", &device.serial)]).await;
    assert_eq!(signed_in.get("/console").await.location(), "/signin");
    assert_eq!(waiting.get("/signin/mfa").await.location(), "/signin");
}

/// The console's own forced change ends the user's other sessions and re-issues this one under
/// a new id, with its MFA time and expiry.
async fn the_forced_change_ends_other_sessions_and_keeps_this_one(backend: Backend) {
    let h = Harness::new(backend).await;
    h.user("pia", true).await;
    let mut this = h.browser();
    this.sign_in(ACCOUNT, "pia", PASSWORD).await;
    let mut other = h.browser();
    other.sign_in(ACCOUNT, "pia", PASSWORD).await;
    let before = h.store().find_console_session(&hash(&this.session_cookie().unwrap())).await.unwrap().unwrap();

    h.advance(60);
    let csrf = this.get("/console/password").await.field("csrf");
    let r = change_password(&mut this, &csrf, PASSWORD, "Fresh-Horse-77").await;
    assert_eq!(r.location(), "/console", "{}", r.body);
    let cookie = r.set_cookie("iamd_session").expect("a new session cookie");
    assert!(cookie.contains(&format!("Max-Age={}", before.expires_at - h.now())), "{cookie}");
    assert_eq!(h.store().find_console_session(&before.id_hash).await.unwrap(), None, "the old id is gone");
    let after = h.store().find_console_session(&hash(&this.session_cookie().unwrap())).await.unwrap().unwrap();
    assert_eq!(
        (after.state, after.expires_at, after.mfa_authenticated_at),
        (ConsoleState::SignedIn, before.expires_at, before.mfa_authenticated_at)
    );
    assert_ne!(after.csrf_token, before.csrf_token);
    assert_eq!(this.get("/console").await.status, StatusCode::OK);
    assert_eq!(other.get("/console").await.location(), "/signin");
}

/// Issue #13.1: wrong passwords were not throttled (40 wrong, then the right one succeeded).
async fn repeated_wrong_passwords_lock_even_the_right_one_for_the_window(backend: Backend) {
    let mut limits = Limits::default();
    limits.password_attempts.per_user = 3;
    let h = Harness::with_limits(backend, limits).await;
    let user = h.user("pat", false).await;
    h.user("quinn", false).await;
    let mut browser = h.browser();
    for _ in 0..3 {
        h.advance(1);
        let r = browser.sign_in(ACCOUNT, "pat", "Wrong-Guess-1").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // Locked: the right password is refused with the same page, unevaluated.
    let wrong = browser.sign_in(ACCOUNT, "pat", "Wrong-Guess-1").await;
    let locked = browser.sign_in(ACCOUNT, "pat", PASSWORD).await;
    assert_eq!(locked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(locked.error(), wrong.error());
    assert_eq!(locked.error(), Some(format!("<p role=\"alert\" id=\"error\">{INCORRECT}").as_str()));
    assert!(browser.session_cookie().is_none());
    let events = h.events().await;
    assert_eq!(events.last().unwrap().reason, "password attempts throttled after repeated failures");
    assert_eq!(events.iter().filter(|e| e.reason.starts_with("wrong password")).count(), 3);
    // Another user (from the same address) is not affected.
    assert_eq!(browser.sign_in(ACCOUNT, "quinn", PASSWORD).await.location(), "/console");
    // The window (15 minutes from the first failure) ends; then a success clears the count.
    h.advance(900);
    let mut browser = h.browser();
    assert_eq!(browser.sign_in(ACCOUNT, "pat", PASSWORD).await.location(), "/console");
    let counter = h.store().password_attempts(&format!("user:{}", user.user_id)).await.unwrap();
    assert_eq!(counter.failures, 0);
}

async fn repeated_failures_from_one_address_lock_every_user(backend: Backend) {
    let mut limits = Limits::default();
    limits.password_attempts.per_source = 4;
    let h = Harness::with_limits(backend, limits).await;
    h.user("rita", false).await;
    let mut browser = h.browser();
    // Successes give the address its charge back.
    for _ in 0..6 {
        assert_eq!(browser.sign_in(ACCOUNT, "rita", PASSWORD).await.location(), "/console");
        browser.cookies.remove("iamd_session");
    }
    for i in 0..4 {
        let r = browser.sign_in(ACCOUNT, &format!("nobody{i}"), "Guess-123").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(browser.sign_in(ACCOUNT, "rita", PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    h.advance(900);
    assert_eq!(browser.sign_in(ACCOUNT, "rita", PASSWORD).await.location(), "/console");
}

/// Issue #13.1: every sign-in ran a 19 MiB Argon2 on an unbounded blocking pool. With every
/// hashing slot taken, a sign-in waits briefly and is refused with a 503 and `Retry-After`,
/// charging nothing.
async fn sign_ins_beyond_the_hashing_slots_get_a_quick_503(backend: Backend) {
    let limits = Limits {
        password_hashes_at_once: 2,
        password_hash_wait: std::time::Duration::from_millis(20),
        ..Limits::default()
    };
    let h = Harness::with_limits(backend, limits).await;
    h.user("sam", false).await;
    let mut browser = h.browser();
    let held = h.app.password_hashing.permits.clone().acquire_many_owned(2).await.unwrap();
    let started = std::time::Instant::now();
    let busy = browser.sign_in(ACCOUNT, "sam", PASSWORD).await;
    assert_eq!(busy.status, StatusCode::SERVICE_UNAVAILABLE, "{}", busy.body);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert_eq!(busy.headers[header::RETRY_AFTER], "1");
    assert!(browser.session_cookie().is_none());
    let source = h.store().password_attempts("source:unknown").await.unwrap();
    assert_eq!(source.failures, 0, "a refused attempt charges nothing");
    drop(held);
    assert_eq!(browser.sign_in(ACCOUNT, "sam", PASSWORD).await.location(), "/console");
}

// --- My security credentials ------------------------------------------------------------------

async fn the_security_page_needs_a_signed_in_browser(backend: Backend) {
    let h = Harness::new(backend).await;
    let mut browser = h.browser();
    let page = browser.get("/console/security").await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/signin"));
    let posted = browser.post("/console/security/keys", &[("csrf", "x")]).await;
    assert_eq!((posted.status, posted.location()), (StatusCode::SEE_OTHER, "/signin"));

    // Awaiting the code is not signed in.
    h.user("mallory", false).await;
    let device = h.device("mallory", "mallory-phone").await;
    browser.sign_in(ACCOUNT, "mallory", PASSWORD).await;
    let page = browser.get("/console/security").await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/signin/mfa"));
    browser.submit_code(None, &h.code(&device)).await;
    let page = browser.get("/console/security").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(element_text(&page.body, "user"), Some("mallory"));
    let csp = page.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");

    // A forced password change comes first.
    h.user("rita", true).await;
    let mut rita = h.browser();
    rita.sign_in(ACCOUNT, "rita", PASSWORD).await;
    let page = rita.get("/console/security").await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/console/password"));
    let csrf = {
        let form = rita.get("/console/password").await;
        form.field("csrf")
    };
    let posted = rita.post("/console/security/keys", &[("csrf", &csrf)]).await;
    assert_eq!((posted.status, posted.location()), (StatusCode::SEE_OTHER, "/console/password"));
    assert_eq!(h.key_count("rita").await, 0);

    let css = browser.get("/console/assets/console.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/css"));
    assert_eq!(browser.get("/console/assets/nothing.js").await.status, StatusCode::NOT_FOUND);
}

async fn security_forms_without_the_right_csrf_token_change_nothing(backend: Backend) {
    let h = Harness::new(backend).await;
    h.user("alice", false).await;
    h.put_policy("alice", OWN_KEYS).await;
    let mut browser = h.browser();
    browser.sign_in(ACCOUNT, "alice", PASSWORD).await;
    let csrf = browser.get("/console/security").await.field("csrf");
    for token in ["", "wrong"] {
        let refused = browser.post("/console/security/keys", &[("csrf", token)]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
    }
    // Not a form at all.
    let refused = browser.send("POST", "/console/security/keys", None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(h.key_count("alice").await, 0);
    let created = browser.post("/console/security/keys", &[("csrf", &csrf)]).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert!(element_text(&created.body, "new-key-secret").is_some_and(|s| s.len() == 40), "{}", created.body);
    assert_eq!(h.key_count("alice").await, 1);
}

async fn console_actions_are_decided_by_the_users_policies(backend: Backend) {
    let h = Harness::new(backend).await;
    h.user("nobody", false).await;
    let mut browser = h.browser();
    browser.sign_in(ACCOUNT, "nobody", PASSWORD).await;
    let page = browser.get("/console/security").await;
    assert_eq!(page.status, StatusCode::OK);
    let refused = element_text(&page.body, "keys-refused").unwrap();
    assert!(
        refused.contains(&format!(
            "User: arn:aws:iam::{ACCOUNT}:user/team/nobody is not authorized to perform: iam:ListAccessKeys"
        )),
        "{refused}"
    );
    let csrf = page.field("csrf");
    let denied = browser.post("/console/security/keys", &[("csrf", &csrf)]).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let error = element_text(&denied.body, "keys-error").unwrap();
    assert!(error.starts_with("Your permissions do not allow this. User: "), "{error}");
    assert!(error.contains("because no identity-based policy allows the iam:CreateAccessKey action"), "{error}");
    assert_eq!(h.key_count("nobody").await, 0);

    // Model validation runs as for the API: a device name the model refuses, in words.
    let invalid = browser.post("/console/security/mfa", &[("csrf", &csrf), ("name", "no spaces allowed")]).await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    let error = element_text(&invalid.body, "mfa-error").unwrap();
    assert!(error.contains("virtualMFADeviceName"), "{error}");
}

async fn mfa_at_sign_in_is_what_mfa_conditions_see(backend: Backend) {
    let h = Harness::new(backend).await;
    h.user("carol", false).await;
    h.put_policy("carol", KEYS_WITH_MFA_ONLY).await;

    // Without a device the password alone signs in: aws:MultiFactorAuthPresent is false.
    let mut browser = h.browser();
    browser.sign_in(ACCOUNT, "carol", PASSWORD).await;
    let csrf = browser.get("/console/security").await.field("csrf");
    let denied = browser.post("/console/security/keys", &[("csrf", &csrf)]).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN, "{}", denied.body);
    assert_eq!(h.key_count("carol").await, 0);

    // With a device and its code, the same request is allowed.
    let device = h.device("carol", "carol-phone").await;
    let mut browser = h.browser();
    browser.sign_in(ACCOUNT, "carol", PASSWORD).await;
    browser.submit_code(None, &h.code(&device)).await;
    let page = browser.get("/console/security").await;
    let created = browser.post("/console/security/keys", &[("csrf", &page.field("csrf"))]).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert_eq!(h.key_count("carol").await, 1);
}

async fn removing_a_device_ends_other_sessions_and_keeps_this_browser(backend: Backend) {
    let h = Harness::new(backend).await;
    h.user("dave", false).await;
    h.put_policy("dave", KEYS_WITH_MFA_ONLY).await;
    let device = h.device("dave", "dave-phone").await;
    let mut other = h.browser();
    other.sign_in(ACCOUNT, "dave", PASSWORD).await;
    other.submit_code(None, &h.code(&device)).await;
    h.advance(30);
    let mut browser = h.browser();
    browser.sign_in(ACCOUNT, "dave", PASSWORD).await;
    browser.submit_code(None, &h.code(&device)).await;
    let before = browser.session_cookie().unwrap();
    let page = browser.get("/console/security").await;
    assert!(page.body.contains(&device.serial));

    let removed = browser
        .post("/console/security/mfa/remove", &[("csrf", &page.field("csrf")), ("serial", &device.serial)])
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    let notice = element_text(&removed.body, "mfa-notice").unwrap();
    assert_eq!(notice, format!("The MFA device {} was deactivated and deleted.", device.serial));
    assert!(h.store().get_mfa_device(ACCOUNT, &device.serial).await.unwrap().is_none());
    // This browser continues under a new session id, still with its MFA time; the other is out.
    let after = browser.session_cookie().unwrap();
    assert_ne!(before, after);
    let session = h.store().find_console_session(&hash(&after)).await.unwrap().unwrap();
    assert!(session.mfa_authenticated_at.is_some());
    let page = browser.get("/console/security").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(other.get("/console").await.location(), "/signin");

    // Removing it again (a stale page): the operation's answer, shown although no row lists it.
    let again = browser
        .post("/console/security/mfa/remove", &[("csrf", &page.field("csrf")), ("serial", &device.serial)])
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.body);
    let error = element_text(&again.body, "mfa-error").unwrap();
    assert!(error.contains("does not exist"), "{error}");
}

async fn an_unfinished_enrolment_can_be_deleted_and_started_again(backend: Backend) {
    let h = Harness::new(backend).await;
    h.user("erin", false).await;
    let own_devices = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
      "Action":["iam:CreateVirtualMFADevice","iam:DeleteVirtualMFADevice"],"Resource":"arn:aws:iam::*:mfa/${aws:username}"},
      {"Effect":"Allow","Action":["iam:ListMFADevices","iam:EnableMFADevice"],"Resource":"*"}]}"#;
    h.put_policy("erin", own_devices).await;
    let mut browser = h.browser();
    browser.sign_in(ACCOUNT, "erin", PASSWORD).await;
    let csrf = browser.get("/console/security").await.field("csrf");
    let enrol = browser.post("/console/security/mfa", &[("csrf", &csrf), ("name", "erin")]).await;
    assert_eq!(enrol.status, StatusCode::OK, "{}", enrol.body);
    assert!(enrol.body.contains("src=\"data:image/png;base64,iVBOR"), "the QR code inline");
    let serial = ids::mfa_arn(ACCOUNT, "/", "erin");
    assert_eq!(element_text(&enrol.body, "serial"), Some(serial.as_str()));

    // Left unfinished; asking again names the device and offers to delete it.
    let again = browser.post("/console/security/mfa", &[("csrf", &csrf), ("name", "erin")]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(element_text(&again.body, "mfa-error"), Some("MFA device already exists."));
    assert!(again.body.contains("id=\"leftover-form\""), "{}", again.body);
    let deleted = browser.post("/console/security/mfa/cancel", &[("csrf", &csrf), ("serial", &serial)]).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(
        element_text(&deleted.body, "mfa-notice"),
        Some(format!("The MFA device {serial} was deleted.").as_str())
    );
    assert!(h.store().get_mfa_device(ACCOUNT, &serial).await.unwrap().is_none());

    // Wrong codes on the enrolment page: the operation's message, and the seed is not shown again.
    let enrol = browser.post("/console/security/mfa", &[("csrf", &csrf), ("name", "erin")]).await;
    assert_eq!(enrol.status, StatusCode::OK);
    let form = [("csrf", csrf.as_str()), ("serial", serial.as_str()), ("code1", "000000"), ("code2", "000001")];
    let wrong = browser.post("/console/security/mfa/enable", &form).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    assert_eq!(element_text(&wrong.body, "enrol-error"), Some("Authentication code for device is not valid."));
    assert!(!wrong.body.contains("id=\"secret\"") && !wrong.body.contains("data:image/png"));
}
