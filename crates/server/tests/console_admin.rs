//! The console's required MFA enrolment (`/signin/enrol…`) and administration pages
//! (`/console/admin…`), driven in-process through the router with a fresh store and a clock the
//! tests move, on SQLite and on PostgreSQL (see `common`).

mod common;

use std::ops::Deref;

use common::browser::{Browser, Resp, element_text};
use common::{Backend, Setup, TestApp, backend_tests};
use data_encoding::BASE32_NOPAD;
use http::{StatusCode, header};
use iamd_domain::entities::{AuthEvent, ConsoleState, NewMfaDevice, User};
use iamd_domain::throttle::ThrottleState;
use iamd_domain::totp::{self, DeviceSync, TotpKey};
use iamd_domain::{ids, mfa, password};
use iamd_server::state::Limits;
use iamd_store::AuthEventQuery;
use sha2::{Digest, Sha256};

const ACCOUNT: &str = "111122223333";
const T0: i64 = 1_750_000_005;
const PASSWORD: &str = "Correct-Horse-9";

backend_tests!(
    required_enrolment_reaches_no_other_page_and_ends_in_an_mfa_session,
    the_requirement_grants_only_the_users_own_device,
    enrolment_codes_are_throttled_and_an_administrator_unlocks,
    the_forced_password_change_comes_before_enrolment,
    a_user_with_a_device_or_without_the_requirement_is_not_asked_to_enrol,
    administration_pages_are_the_users_own_operations,
    an_administrator_deactivates_a_lost_device_and_the_user_must_enrol_again,
    the_setting_is_changed_as_the_policies_allow,
    the_credential_report_downloads_as_csv,
    admin_pages_escape_what_users_chose,
    admin_forms_without_the_right_csrf_token_change_nothing,
);

/// Reads every user and device and the account's settings.
const READ_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
  "Action":["iam:List*","iam:Get*","iam:GenerateCredentialReport"],"Resource":"*"}]}"#;

/// Everything in IAM.
const FULL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"}]}"#;

struct Harness(TestApp);

impl Deref for Harness {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.0
    }
}

impl Harness {
    async fn with_limits(backend: Backend, limits: Limits) -> Self {
        let setup = Setup { account: ACCOUNT, start: T0, created_at: T0, root_key: None, limits };
        Harness(TestApp::start(backend, setup).await)
    }

    /// An account that requires MFA enrolment (its own setting).
    async fn requiring(backend: Backend) -> Self {
        let h = Self::with_limits(backend, Limits::default()).await;
        h.store().set_mfa_enrolment_required(ACCOUNT, true).await.unwrap();
        h
    }

    async fn new(backend: Backend) -> Self {
        Self::with_limits(backend, Limits::default()).await
    }

    async fn user_on(&self, name: &str, path: &str, reset_required: bool) -> User {
        let user = User {
            account_id: ACCOUNT.to_owned(),
            user_id: ids::new_user_id(),
            name: name.to_owned(),
            path: path.to_owned(),
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

    async fn user(&self, name: &str) -> User {
        self.user_on(name, "/", false).await
    }

    async fn put_policy(&self, user_name: &str, document: &str) {
        self.store()
            .put_inline_policy(ACCOUNT, iamd_store::Holder::User, user_name, "console", document, 10_240)
            .await
            .unwrap();
    }

    /// A virtual device assigned to `user_name`, in sync.
    async fn device(&self, user_name: &str, device_name: &str) -> (String, TotpKey) {
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
        (serial, TotpKey::new(&seed))
    }

    async fn events(&self) -> Vec<AuthEvent> {
        let mut events = self.store().auth_events(&AuthEventQuery::newest(ACCOUNT, 1000)).await.unwrap();
        events.reverse();
        events
    }

    async fn session_state(&self, browser: &Browser) -> Option<(ConsoleState, Option<i64>)> {
        let cookie = browser.session_cookie()?;
        let hash = Sha256::digest(cookie.as_bytes()).to_vec();
        let session = self.store().find_console_session(&hash).await.unwrap()?;
        Some((session.state, session.mfa_authenticated_at))
    }

    async fn enabled_serials(&self, user_name: &str) -> Vec<String> {
        let devices = self.store().list_user_mfa_devices(ACCOUNT, user_name).await.unwrap();
        devices.into_iter().map(|d| d.serial).collect()
    }

    fn browser(&self) -> Browser {
        Browser::new(self.app.clone())
    }

    /// A browser signed in as `user`, without MFA, at the console.
    async fn signed_in(&self, user: &str) -> Browser {
        let mut browser = self.browser();
        assert_eq!(browser.sign_in(ACCOUNT, user, PASSWORD).await.location(), "/console");
        browser
    }
}

/// The secret key the enrolment page shows, as the app would take it.
fn key_on_page(page: &Resp) -> TotpKey {
    let secret = element_text(&page.body, "secret").expect("the secret key on the page");
    TotpKey::new(&BASE32_NOPAD.decode(secret.trim().as_bytes()).unwrap())
}

/// Names the device on the required-enrolment page and submits it; returns the page with the
/// QR code and secret.
async fn start_enrolment(browser: &mut Browser, name: &str) -> Resp {
    let page = browser.get("/signin/enrol").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csrf = page.field("csrf");
    browser.post("/signin/enrol", &[("csrf", &csrf), ("name", name)]).await
}

async fn submit_codes(browser: &mut Browser, page: &Resp, code1: &str, code2: &str) -> Resp {
    let (csrf, serial) = (page.field("csrf"), page.field("serial"));
    let form = [("csrf", csrf.as_str()), ("serial", serial.as_str()), ("code1", code1), ("code2", code2)];
    browser.post("/signin/enrol/enable", &form).await
}

/// Two consecutive codes of `key`, the second the current one.
fn pair(h: &Harness, key: &TotpKey) -> (String, String) {
    (key.code_at(h.now() - 30), key.code_at(h.now()))
}

// --- Required enrolment ------------------------------------------------------------------------

async fn required_enrolment_reaches_no_other_page_and_ends_in_an_mfa_session(backend: Backend) {
    let h = Harness::requiring(backend).await;
    h.user("ann").await;
    let mut browser = h.browser();
    let r = browser.sign_in(ACCOUNT, "ann", PASSWORD).await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/signin/enrol"));
    assert!(r.set_cookie("iamd_session").unwrap().contains("Max-Age=900"), "15 minutes to enrol");
    assert_eq!(h.session_state(&browser).await, Some((ConsoleState::AwaitingEnrolment, None)));

    // Every other page sends the browser back; nothing is done.
    let csrf = browser.get("/signin/enrol").await.field("csrf");
    for path in
        ["/console", "/console/security", "/console/admin/users", "/console/admin/settings", "/signin/mfa", "/signin"]
    {
        let r = browser.get(path).await;
        assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/signin/enrol"), "GET {path}");
    }
    for path in ["/console/security/keys", "/console/security/mfa", "/console/admin/settings", "/console/password"] {
        let r = browser.post(path, &[("csrf", &csrf), ("name", "ann"), ("mfa_enrolment", "off")]).await;
        assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/signin/enrol"), "POST {path}");
    }
    assert!(h.store().list_access_keys(ACCOUNT, "ann").await.unwrap().is_empty());
    assert!(h.store().mfa_enrolment_required(ACCOUNT).await.unwrap());

    // The device: QR code inline, the secret on request, codes fields for a phone keyboard.
    let page = start_enrolment(&mut browser, "ann").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("src=\"data:image/png;base64,iVBOR"), "the QR code inline");
    assert!(page.body.contains("action=\"/signin/enrol/enable\""));
    assert!(page.body.contains("autocomplete=\"one-time-code\"") && page.body.contains("inputmode=\"numeric\""));
    let serial = ids::mfa_arn(ACCOUNT, "/", "ann");
    assert_eq!(page.field("serial"), serial);
    let key = key_on_page(&page);

    h.advance(30);
    let (code1, code2) = pair(&h, &key);
    let done = submit_codes(&mut browser, &page, &code1, &code2).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(element_text(&done.body, "enrolled").is_some(), "{}", done.body);
    assert!(element_text(&done.body, "mfa-warning").is_none(), "fresh codes are in sync");
    assert_eq!(h.enabled_serials("ann").await, vec![serial.clone()]);
    // A new session id, signed in with MFA from now.
    assert_eq!(h.session_state(&browser).await, Some((ConsoleState::SignedIn, Some(h.now()))));
    let console = browser.get("/console").await;
    assert_eq!(console.status, StatusCode::OK);
    assert!(element_text(&console.body, "mfa").unwrap().starts_with("yes"), "{}", console.body);
    assert_eq!(h.store().get_user(ACCOUNT, "ann").await.unwrap().unwrap().password_last_used, Some(h.now()));

    // The codes were used: the next sign-in needs a later one.
    let events = h.events().await;
    let last = events.last().unwrap();
    assert_eq!((last.kind.as_str(), last.outcome.as_str()), ("console-mfa-enrolment", "success"));
    let mut again = h.browser();
    assert_eq!(again.sign_in(ACCOUNT, "ann", PASSWORD).await.location(), "/signin/mfa");
    assert_eq!(again.submit_code(None, &code2).await.status, StatusCode::UNAUTHORIZED, "a code works once");
    h.advance(30);
    assert_eq!(again.submit_code(None, &key.code_at(h.now())).await.location(), "/console");
}

async fn the_requirement_grants_only_the_users_own_device(backend: Backend) {
    let h = Harness::requiring(backend).await;
    h.user("bea").await;
    h.user("cal").await;
    let mut browser = h.browser();
    browser.sign_in(ACCOUNT, "bea", PASSWORD).await;

    // Another name is the user's own policies' business: none here.
    let refused = start_enrolment(&mut browser, "cal").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let error = element_text(&refused.body, "mfa-error").unwrap();
    assert!(error.starts_with("Your permissions do not allow this."), "{error}");
    assert!(error.contains("iam:CreateVirtualMFADevice"), "{error}");
    assert!(h.store().get_mfa_device(ACCOUNT, &ids::mfa_arn(ACCOUNT, "/", "cal")).await.unwrap().is_none());

    // An unfinished enrolment blocks the name until deleted, which the grant allows.
    let page = start_enrolment(&mut browser, "bea").await;
    let serial = page.field("serial");
    let again = start_enrolment(&mut browser, "bea").await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("id=\"leftover-form\""), "{}", again.body);
    let csrf = again.field("csrf");
    let deleted = browser.post("/signin/enrol/cancel", &[("csrf", &csrf), ("serial", &serial)]).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert!(element_text(&deleted.body, "enrol-notice").unwrap().contains("was deleted"));

    // Deleting someone else's (enabled) device is not part of the grant.
    let (cal_serial, _) = h.device("cal", "cal").await;
    let other = browser.post("/signin/enrol/cancel", &[("csrf", &csrf), ("serial", &cal_serial)]).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN, "{}", other.body);
    assert_eq!(h.enabled_serials("cal").await, vec![cal_serial]);

    // An explicit deny still wins over the requirement.
    h.put_policy(
        "bea",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:EnableMFADevice","Resource":"*"}]}"#,
    )
    .await;
    let page = start_enrolment(&mut browser, "bea").await;
    let key = key_on_page(&page);
    let (code1, code2) = pair(&h, &key);
    let denied = submit_codes(&mut browser, &page, &code1, &code2).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert!(element_text(&denied.body, "enrol-error").unwrap().contains("explicit deny"), "{}", denied.body);
    assert!(h.enabled_serials("bea").await.is_empty());
}

async fn enrolment_codes_are_throttled_and_an_administrator_unlocks(backend: Backend) {
    let h = Harness::requiring(backend).await;
    let dan = h.user("dan").await;
    let mut browser = h.browser();
    browser.sign_in(ACCOUNT, "dan", PASSWORD).await;
    let page = start_enrolment(&mut browser, "dan").await;
    let key = key_on_page(&page);
    for _ in 0..10 {
        let wrong = submit_codes(&mut browser, &page, "000000", "000001").await;
        assert_eq!(wrong.status, StatusCode::FORBIDDEN);
        assert_eq!(element_text(&wrong.body, "enrol-error"), Some("Authentication code for device is not valid."));
        assert!(!wrong.body.contains("id=\"secret\""), "the seed is not shown again");
    }
    assert!(h.store().mfa_throttle(&dan.user_id).await.unwrap().is_locked(h.now()));
    // Locked: the right codes are refused as wrong ones, unevaluated.
    let (code1, code2) = pair(&h, &key);
    let locked = submit_codes(&mut browser, &page, &code1, &code2).await;
    assert_eq!(element_text(&locked.body, "enrol-error"), Some("Authentication code for device is not valid."));
    assert!(h.enabled_serials("dan").await.is_empty());
    let reasons: Vec<String> = h.events().await.into_iter().map(|e| e.reason).collect();
    assert_eq!(reasons.iter().filter(|r| *r == "wrong codes at required enrolment").count(), 10);
    assert_eq!(reasons.last().unwrap(), "locked after repeated failures");

    // An administrator unlocks: authorized as iam:ResyncMFADevice on the user, audited. (The
    // setting is read at sign-in: off again, eve needs no device; dan's enrolment goes on.)
    h.store().set_mfa_enrolment_required(ACCOUNT, false).await.unwrap();
    h.user("eve").await;
    h.put_policy("eve", READ_ONLY).await;
    let mut admin = h.signed_in("eve").await;
    let user_page = admin.get("/console/admin/users/dan").await;
    assert_eq!(user_page.status, StatusCode::OK);
    let state = element_text(&user_page.body, "lockout-refused").unwrap();
    assert!(state.contains("iam:ResyncMFADevice"), "{state}");
    let csrf = user_page.field("csrf");
    let refused = admin.post("/console/admin/users/dan/mfa/unlock", &[("csrf", &csrf)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        element_text(&refused.body, "lockout-error")
            .unwrap()
            .contains("not authorized to perform: iam:ResyncMFADevice")
    );
    assert!(h.store().mfa_throttle(&dan.user_id).await.unwrap().is_locked(h.now()));

    h.put_policy("eve", FULL).await;
    let shown = admin.get("/console/admin/users/dan").await;
    assert!(element_text(&shown.body, "lockout-state").unwrap().contains("Locked"), "{}", shown.body);
    let unlocked = admin.post("/console/admin/users/dan/mfa/unlock", &[("csrf", &csrf)]).await;
    assert_eq!(unlocked.status, StatusCode::OK, "{}", unlocked.body);
    assert!(element_text(&unlocked.body, "lockout-notice").unwrap().contains("the lock is cleared"));
    assert_eq!(h.store().mfa_throttle(&dan.user_id).await.unwrap(), ThrottleState::default());
    let event = h.events().await.pop().unwrap();
    assert_eq!(
        (event.kind.as_str(), event.user_name.as_str(), event.outcome.as_str()),
        ("console-mfa-unlock", "dan", "success")
    );
    assert!(event.reason.starts_with(&format!("MFA lockout cleared by arn:aws:iam::{ACCOUNT}:user/eve (locked until")));

    // Now the right codes enable the device.
    let done = submit_codes(&mut browser, &page, &code1, &code2).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(h.enabled_serials("dan").await.len(), 1);
}

async fn the_forced_password_change_comes_before_enrolment(backend: Backend) {
    // The server's flag, with the account's own setting off.
    let limits = Limits { mfa_enrolment_required: true, ..Limits::default() };
    let h = Harness::with_limits(backend, limits).await;
    assert!(!h.store().mfa_enrolment_required(ACCOUNT).await.unwrap());
    h.user_on("fay", "/", true).await;
    let mut browser = h.browser();
    assert_eq!(browser.sign_in(ACCOUNT, "fay", PASSWORD).await.location(), "/signin/enrol");
    assert_eq!(browser.get("/signin/enrol").await.location(), "/console/password");
    let form = browser.get("/console/password").await;
    assert_eq!(form.status, StatusCode::OK);
    let csrf = form.field("csrf");
    let new = "Another-Horse-7";
    let changed = browser
        .post(
            "/console/password",
            &[("csrf", &csrf), ("old_password", PASSWORD), ("new_password", new), ("confirm_password", new)],
        )
        .await;
    assert_eq!((changed.status, changed.location()), (StatusCode::SEE_OTHER, "/signin/enrol"));
    assert_eq!(h.session_state(&browser).await, Some((ConsoleState::AwaitingEnrolment, None)));
    assert_eq!(browser.get("/console").await.location(), "/signin/enrol");
    let page = start_enrolment(&mut browser, "fay").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
}

async fn a_user_with_a_device_or_without_the_requirement_is_not_asked_to_enrol(backend: Backend) {
    let h = Harness::requiring(backend).await;
    h.user("gus").await;
    h.device("gus", "gus").await;
    let mut browser = h.browser();
    assert_eq!(browser.sign_in(ACCOUNT, "gus", PASSWORD).await.location(), "/signin/mfa");
    assert_eq!(browser.get("/signin/enrol").await.location(), "/signin/mfa");

    h.store().set_mfa_enrolment_required(ACCOUNT, false).await.unwrap();
    h.user("hal").await;
    let mut browser = h.browser();
    assert_eq!(browser.sign_in(ACCOUNT, "hal", PASSWORD).await.location(), "/console");
    assert_eq!(browser.get("/signin/enrol").await.location(), "/console");
    assert_eq!(h.browser().get("/signin/enrol").await.location(), "/signin");
}

// --- Administration ----------------------------------------------------------------------------

async fn administration_pages_are_the_users_own_operations(backend: Backend) {
    let h = Harness::new(backend).await;
    h.user("ivy").await;
    h.user("jon").await;
    h.device("jon", "jon").await;
    let mut nobody = h.signed_in("ivy").await;
    let refused = nobody.get("/console/admin/users").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let text = element_text(&refused.body, "users-refused").unwrap();
    assert!(text.contains("Your permissions do not allow this.") && text.contains("iam:ListUsers"), "{text}");
    let user = nobody.get("/console/admin/users/jon").await;
    assert_eq!(user.status, StatusCode::FORBIDDEN);
    assert!(element_text(&user.body, "summary-refused").unwrap().contains("iam:GetUser"));
    assert!(element_text(&user.body, "devices-refused").unwrap().contains("iam:ListMFADevices"));
    assert!(!user.body.contains("arn:aws:iam::111122223333:mfa/jon"), "nothing about jon's devices");

    h.user("kim").await;
    h.put_policy("kim", READ_ONLY).await;
    let mut admin = h.signed_in("kim").await;
    let list = admin.get("/console/admin/users").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let row = |name: &str| {
        let start = list.body.find(&format!("<tr data-user=\"{name}\">")).unwrap();
        list.body[start..start + list.body[start..].find("</tr>").unwrap()].to_owned()
    };
    assert!(row("ivy").contains("<span class=\"missing\">None</span>"), "{}", row("ivy"));
    assert!(row("jon").contains("1 device"), "{}", row("jon"));
    assert!(row("jon").contains("href=\"/console/admin/users/jon\""));
    let jon = admin.get("/console/admin/users/jon").await;
    assert_eq!(jon.status, StatusCode::OK);
    assert!(jon.body.contains("data-serial=\"arn:aws:iam::111122223333:mfa/jon\""), "{}", jon.body);
    assert!(element_text(&jon.body, "login-profile").unwrap().starts_with("Console password since"));
    let missing = admin.get("/console/admin/users/nobody").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(element_text(&missing.body, "summary-refused"), Some("The user with name nobody cannot be found."));

    // Reading is not deactivating: refused in words, nothing changes.
    let csrf = jon.field("csrf");
    let serial = ids::mfa_arn(ACCOUNT, "/", "jon");
    let denied = admin.post("/console/admin/users/jon/mfa/deactivate", &[("csrf", &csrf), ("serial", &serial)]).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert!(element_text(&denied.body, "devices-error").unwrap().contains("iam:DeactivateMFADevice"));
    assert_eq!(h.enabled_serials("jon").await, vec![serial]);
}

async fn an_administrator_deactivates_a_lost_device_and_the_user_must_enrol_again(backend: Backend) {
    let h = Harness::requiring(backend).await;
    h.user("lea").await;
    let (serial, key) = h.device("lea", "lea").await;
    let mut lea = h.browser();
    lea.sign_in(ACCOUNT, "lea", PASSWORD).await;
    h.advance(30);
    assert_eq!(lea.submit_code(None, &key.code_at(h.now())).await.location(), "/console");

    h.user("max").await;
    h.device("max", "max").await;
    h.put_policy("max", FULL).await;
    let mut admin = h.browser();
    admin.sign_in(ACCOUNT, "max", PASSWORD).await;
    let own = h.store().list_user_mfa_devices(ACCOUNT, "max").await.unwrap();
    let max_key = TotpKey::new(&h.app.master_key.open(&own[0].seed_sealed, &own[0].serial).unwrap());
    assert_eq!(admin.submit_code(None, &max_key.code_at(h.now())).await.location(), "/console");
    let page = admin.get("/console/admin/users/lea").await;
    let done = admin
        .post("/console/admin/users/lea/mfa/deactivate", &[("csrf", &page.field("csrf")), ("serial", &serial)])
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(element_text(&done.body, "devices-notice").unwrap().contains("was deactivated"));
    assert!(done.body.contains("id=\"no-devices\""));
    assert!(h.enabled_serials("lea").await.is_empty());
    // Lea's console session ended; her next sign-in must enrol a new device.
    assert_eq!(lea.get("/console").await.location(), "/signin");
    let mut lea = h.browser();
    assert_eq!(lea.sign_in(ACCOUNT, "lea", PASSWORD).await.location(), "/signin/enrol");
    // The old device is left unassigned under her name: she deletes it and starts again.
    let again = start_enrolment(&mut lea, "lea").await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.field("serial"), serial);
    // The administrator is still signed in.
    assert_eq!(admin.get("/console/admin/users").await.status, StatusCode::OK);
}

async fn the_setting_is_changed_as_the_policies_allow(backend: Backend) {
    let h = Harness::new(backend).await;
    h.user("ned").await;
    let mut nobody = h.signed_in("ned").await;
    let page = nobody.get("/console/admin/settings").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(element_text(&page.body, "settings-refused").unwrap().contains("iam:GetAccountPasswordPolicy"));

    h.put_policy("ned", READ_ONLY).await;
    let page = nobody.get("/console/admin/settings").await;
    assert!(page.body.contains("id=\"enrolment-off\" name=\"mfa_enrolment\" value=\"off\" checked"), "{}", page.body);
    let csrf = page.field("csrf");
    let refused = nobody.post("/console/admin/settings", &[("csrf", &csrf), ("mfa_enrolment", "on")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(element_text(&refused.body, "settings-error").unwrap().contains("iam:UpdateAccountPasswordPolicy"));
    assert!(!h.store().mfa_enrolment_required(ACCOUNT).await.unwrap());

    h.put_policy("ned", FULL).await;
    let on = nobody.post("/console/admin/settings", &[("csrf", &csrf), ("mfa_enrolment", "on")]).await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.body);
    assert!(element_text(&on.body, "settings-notice").unwrap().contains("now required"));
    assert!(on.body.contains("value=\"on\" checked"));
    assert!(h.store().mfa_enrolment_required(ACCOUNT).await.unwrap());
    let event = h.events().await.pop().unwrap();
    assert_eq!(event.kind, "console-account-setting");
    assert_eq!(event.reason, format!("MFA enrolment required set on by arn:aws:iam::{ACCOUNT}:user/ned"));
    let bad = nobody.post("/console/admin/settings", &[("csrf", &csrf), ("mfa_enrolment", "maybe")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(h.store().mfa_enrolment_required(ACCOUNT).await.unwrap());
    // The signed-in session is not interrupted; the next sign-in of a user without a device is.
    assert_eq!(nobody.get("/console").await.status, StatusCode::OK);
    assert_eq!(h.browser().sign_in(ACCOUNT, "ned", PASSWORD).await.location(), "/signin/enrol");
}

async fn the_credential_report_downloads_as_csv(backend: Backend) {
    let h = Harness::new(backend).await;
    h.user("ola").await;
    let mut nobody = h.signed_in("ola").await;
    let refused = nobody.get("/console/admin/report").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.headers.get(header::CONTENT_DISPOSITION).is_none());
    assert!(element_text(&refused.body, "error").unwrap().contains("iam:GenerateCredentialReport"));

    h.put_policy("ola", READ_ONLY).await;
    let report = nobody.get("/console/admin/report").await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    assert_eq!(report.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert_eq!(report.headers[header::CONTENT_DISPOSITION], "attachment; filename=\"credential-report.csv\"");
    assert_eq!(report.headers[header::CACHE_CONTROL], "no-store");
    assert!(report.body.starts_with("user,arn,user_creation_time,password_enabled,"), "{}", report.body);
    assert!(report.body.contains(&format!("\nola,arn:aws:iam::{ACCOUNT}:user/ola,")), "{}", report.body);
}

async fn admin_pages_escape_what_users_chose(backend: Backend) {
    let h = Harness::new(backend).await;
    let path = "/\"'><img/src=x/onerror=alert(1)>/<script>alert(2)</script>/";
    h.user_on("pam", path, false).await;
    h.store()
        .tag_user(
            ACCOUNT,
            "pam",
            &[iamd_domain::entities::Tag { key: "<b>k".to_owned(), value: "<i>v".to_owned() }],
            50,
        )
        .await
        .unwrap();
    h.user("quin").await;
    h.put_policy("quin", READ_ONLY).await;
    let mut admin = h.signed_in("quin").await;
    for page in [admin.get("/console/admin/users").await, admin.get("/console/admin/users/pam").await] {
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.body.contains("<script>alert") && !page.body.contains("<img/src"), "{}", page.body);
        assert!(!page.body.contains("<b>k") && !page.body.contains("<i>v"));
        // Shown, as text: askama writes the markup characters as numeric references.
        assert!(page.body.contains("&#60;script&#62;alert(2)&#60;/script&#62;"), "{}", page.body);
    }
}

async fn admin_forms_without_the_right_csrf_token_change_nothing(backend: Backend) {
    let h = Harness::new(backend).await;
    let rex = h.user("rex").await;
    let (serial, _) = h.device("rex", "rex").await;
    for _ in 0..10 {
        h.store().record_mfa_failure(&rex.user_id, &h.app.throttle, h.now()).await.unwrap();
    }
    h.user("sue").await;
    h.put_policy("sue", FULL).await;
    let mut admin = h.signed_in("sue").await;
    for (path, form) in [
        ("/console/admin/users/rex/mfa/deactivate", vec![("csrf", "wrong"), ("serial", serial.as_str())]),
        ("/console/admin/users/rex/mfa/unlock", vec![("csrf", "")]),
        ("/console/admin/settings", vec![("mfa_enrolment", "on")]),
    ] {
        assert_eq!(admin.post(path, &form).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(h.enabled_serials("rex").await, vec![serial]);
    assert!(h.store().mfa_throttle(&rex.user_id).await.unwrap().is_locked(h.now()));
    assert!(!h.store().mfa_enrolment_required(ACCOUNT).await.unwrap());
}
