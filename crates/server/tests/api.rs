//! The query API in-process, with an injected clock: flows that need time to pass (late codes,
//! drift, lockouts, session expiry) are walked through without waiting. Every test runs on SQLite
//! and on PostgreSQL (`sqlite::…`, `postgres::…`; see `common`).

mod common;

use std::ops::Deref;

use axum::body::Body;
use common::{Backend, Setup, TestApp, backend_tests};
use data_encoding::{BASE32_NOPAD, BASE64};
use http::Request;
use iamd_domain::Clock;
use iamd_domain::totp::TotpKey;
use iamd_store::AuthEventQuery;
use tower::ServiceExt;

const ACCOUNT: &str = "123456789012";
const ROOT_KEY: &str = "AKIAROOTKEYFORTESTS1";
const ROOT_SECRET: &str = "root/secret/for/tests/0123456789abcdefgh";

backend_tests!(
    late_codes_leave_the_device_out_of_sync_until_resync,
    drift_of_one_step_is_followed,
    ten_failures_lock_mfa_checks_then_the_lock_expires,
    sessions_expire_and_non_mfa_sessions_cannot_call_iam,
    response_envelopes_match_aws,
    every_result_shape_renders_like_aws,
    user_tags_round_trip,
    password_operations_beyond_the_hashing_slots_are_throttled,
    credential_reports_last_four_hours,
    a_key_records_its_first_use_in_each_quarter_hour,
    changes_and_refusals_enter_the_audit_trail,
);

/// The shared [`TestApp`] (app, clock, `now`, `advance`) plus this file's signed-request helpers.
struct Harness(TestApp);

impl Deref for Harness {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.0
    }
}

#[derive(Clone)]
struct Creds {
    key: String,
    secret: String,
    token: Option<String>,
}

fn root() -> Creds {
    Creds { key: ROOT_KEY.into(), secret: ROOT_SECRET.into(), token: None }
}

/// The text of the first `<tag>…</tag>` in `xml`.
fn field(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml.find(&open).unwrap_or_else(|| panic!("no <{tag}> in {xml}")) + open.len();
    let end = xml[start..].find(&format!("</{tag}>")).unwrap() + start;
    xml[start..end].to_owned()
}

impl Harness {
    async fn new(backend: Backend) -> Self {
        let setup = Setup {
            account: ACCOUNT,
            start: 1_800_000_000,
            created_at: 0,
            root_key: Some((ROOT_KEY, ROOT_SECRET)),
            limits: Default::default(),
        };
        Harness(TestApp::start(backend, setup).await)
    }

    /// Sends a signed query request at the injected time; returns status and body.
    async fn call(&self, service: &str, creds: &Creds, params: &[(&str, &str)]) -> (u16, String) {
        let version = if service == "sts" { "2011-06-15" } else { "2010-05-08" };
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("Version", version);
            for (k, v) in params {
                form.append_pair(k, v);
            }
            form.finish()
        };
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
            &iamd_sigv4::SignCredentials {
                access_key_id: &creds.key,
                secret_access_key: &creds.secret,
                session_token: creds.token.as_deref(),
            },
            "eu-west-1",
            service,
            self.clock.now(),
        );
        let mut request = Request::post("/").header("host", "iamd.test").header("content-type", content_type);
        for (name, value) in signed {
            request = request.header(name, value);
        }
        let response =
            iamd_server::router(self.app.clone()).oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn ok(&self, service: &str, creds: &Creds, params: &[(&str, &str)]) -> String {
        let (status, body) = self.call(service, creds, params).await;
        assert_eq!(status, 200, "{params:?}: {body}");
        body
    }

    /// A user with an access key and a device (not yet enabled); returns its creds, serial, key.
    async fn user_with_device(&self, name: &str) -> (Creds, String, TotpKey) {
        self.ok("iam", &root(), &[("Action", "CreateUser"), ("UserName", name)]).await;
        let created = self.ok("iam", &root(), &[("Action", "CreateAccessKey"), ("UserName", name)]).await;
        let creds =
            Creds { key: field(&created, "AccessKeyId"), secret: field(&created, "SecretAccessKey"), token: None };
        let device =
            self.ok("iam", &root(), &[("Action", "CreateVirtualMFADevice"), ("VirtualMFADeviceName", name)]).await;
        let base32 = BASE64.decode(field(&device, "Base32StringSeed").as_bytes()).unwrap();
        let seed = BASE32_NOPAD.decode(&base32).unwrap();
        (creds, field(&device, "SerialNumber"), TotpKey::new(&seed))
    }

    async fn enable_at(&self, user: &str, serial: &str, key: &TotpKey, at: i64) -> (u16, String) {
        let (c1, c2) = (key.code_at(at - 30), key.code_at(at));
        let params = [
            ("Action", "EnableMFADevice"),
            ("UserName", user),
            ("SerialNumber", serial),
            ("AuthenticationCode1", &c1),
            ("AuthenticationCode2", &c2),
        ];
        self.call("iam", &root(), &params).await
    }

    async fn session_with_code(&self, creds: &Creds, serial: &str, code: &str) -> (u16, String) {
        let params = [("Action", "GetSessionToken"), ("SerialNumber", serial), ("TokenCode", code)];
        self.call("sts", creds, &params).await
    }
}

async fn late_codes_leave_the_device_out_of_sync_until_resync(backend: Backend) {
    let h = Harness::new(backend).await;
    let (alice, serial, key) = h.user_with_device("alice").await;
    let (status, body) = h.enable_at("alice", &serial, &key, h.now() - 600).await;
    assert_eq!(status, 200, "codes from 10 minutes ago still associate: {body}");

    h.advance(30);
    let (status, body) = h.session_with_code(&alice, &serial, &key.code_at(h.now())).await;
    assert_eq!(status, 403);
    assert!(body.contains("MultiFactorAuthentication failed with invalid MFA one time pass code."), "{body}");

    let (c1, c2) = (key.code_at(h.now() - 30), key.code_at(h.now()));
    let params = [
        ("Action", "ResyncMFADevice"),
        ("UserName", "alice"),
        ("SerialNumber", &serial),
        ("AuthenticationCode1", &c1),
        ("AuthenticationCode2", &c2),
    ];
    h.ok("iam", &root(), &params).await;

    h.advance(30);
    let code = key.code_at(h.now());
    let (status, body) = h.session_with_code(&alice, &serial, &code).await;
    assert_eq!(status, 200, "{body}");
    assert!(field(&body, "AccessKeyId").starts_with("ASIA"));
    let (status, _) = h.session_with_code(&alice, &serial, &code).await;
    assert_eq!(status, 403, "a code is accepted once");
}

async fn drift_of_one_step_is_followed(backend: Backend) {
    let h = Harness::new(backend).await;
    let (alice, serial, key) = h.user_with_device("alice").await;
    assert_eq!(h.enable_at("alice", &serial, &key, h.now()).await.0, 200);
    // The device's clock runs 30 s fast: its code is one step ahead, accepted, and learned.
    h.advance(60);
    assert_eq!(h.session_with_code(&alice, &serial, &key.code_at(h.now() + 30)).await.0, 200);
    // Next time, the device is 2 steps ahead of the server: still within ±1 of the learned offset.
    h.advance(60);
    assert_eq!(h.session_with_code(&alice, &serial, &key.code_at(h.now() + 60)).await.0, 200);
}

async fn ten_failures_lock_mfa_checks_then_the_lock_expires(backend: Backend) {
    let h = Harness::new(backend).await;
    let (alice, serial, key) = h.user_with_device("alice").await;
    assert_eq!(h.enable_at("alice", &serial, &key, h.now()).await.0, 200);
    h.advance(30);
    let right = key.code_at(h.now());
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 500_000) % 1_000_000);
    for _ in 0..10 {
        assert_eq!(h.session_with_code(&alice, &serial, &wrong).await.0, 403);
    }
    let (status, locked_body) = h.session_with_code(&alice, &serial, &right).await;
    assert_eq!(status, 403, "the right code is refused during the lock");
    assert!(locked_body.contains("invalid MFA one time pass code"), "same answer as a wrong code");
    h.advance(300);
    assert_eq!(h.session_with_code(&alice, &serial, &key.code_at(h.now())).await.0, 200, "lock over");
    let events = h.app.store.auth_events(&AuthEventQuery::newest(ACCOUNT, 100)).await.unwrap();
    assert_eq!(events.len(), 12);
    assert_eq!(events[0].outcome, "success");
    assert_eq!(events[1].reason, "locked after repeated failures");
}

// Many requests at once: a multi-threaded runtime, so they really overlap.
mod concurrent_wrong_codes {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        concurrent_wrong_codes_never_get_more_than_the_limit_evaluated(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        if Backend::Postgres.available() {
            concurrent_wrong_codes_never_get_more_than_the_limit_evaluated(Backend::Postgres).await;
        }
    }
}

/// Issue #13.2: the lock used to be check-then-act, so concurrent wrong codes all passed the
/// check before any failure was recorded (60 guesses: 20–60 evaluated against a limit of 10).
/// The attempt is now reserved in the store before the code is evaluated.
async fn concurrent_wrong_codes_never_get_more_than_the_limit_evaluated(backend: Backend) {
    let h = std::sync::Arc::new(Harness::new(backend).await);
    let (alice, serial, key) = h.user_with_device("alice").await;
    assert_eq!(h.enable_at("alice", &serial, &key, h.now()).await.0, 200);
    h.advance(30);
    let right = key.code_at(h.now());
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 500_000) % 1_000_000);
    let mut guesses = tokio::task::JoinSet::new();
    for _ in 0..60 {
        let (h, alice, serial, wrong) = (h.clone(), alice.clone(), serial.clone(), wrong.clone());
        guesses.spawn(async move { h.session_with_code(&alice, &serial, &wrong).await });
    }
    while let Some(answer) = guesses.join_next().await {
        let (status, body) = answer.unwrap();
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("invalid MFA one time pass code"), "{body}");
    }
    let events = h.app.store.auth_events(&AuthEventQuery::newest(ACCOUNT, 1000)).await.unwrap();
    let count = |reason: &str| events.iter().filter(|e| e.reason == reason).count();
    assert_eq!(events.len(), 60);
    assert_eq!(count("wrong code"), 10, "evaluated: exactly the limit");
    assert_eq!(count("locked after repeated failures"), 50);
    // Locked: the right code is refused too, until the lock ends.
    assert_eq!(h.session_with_code(&alice, &serial, &right).await.0, 403);
    h.advance(300);
    assert_eq!(h.session_with_code(&alice, &serial, &key.code_at(h.now())).await.0, 200, "lock over");
}

async fn sessions_expire_and_non_mfa_sessions_cannot_call_iam(backend: Backend) {
    let h = Harness::new(backend).await;
    let (alice, _, _) = h.user_with_device("alice").await;
    let body = h.ok("sts", &alice, &[("Action", "GetSessionToken"), ("DurationSeconds", "900")]).await;
    let session = Creds {
        key: field(&body, "AccessKeyId"),
        secret: field(&body, "SecretAccessKey"),
        token: Some(field(&body, "SessionToken")),
    };
    let identity = h.ok("sts", &session, &[("Action", "GetCallerIdentity")]).await;
    assert_eq!(field(&identity, "Arn"), "arn:aws:iam::123456789012:user/alice");

    let (status, body) = h.call("iam", &session, &[("Action", "GetUser")]).await;
    assert_eq!((status, field(&body, "Code")), (403, "InvalidClientTokenId".to_owned()));
    // AWS's IAM wording: no final period (STS's has one).
    assert_eq!(field(&body, "Message"), "The security token included in the request is invalid");

    let (status, body) = h.call("sts", &session, &[("Action", "GetSessionToken")]).await;
    assert_eq!(status, 403);
    assert_eq!(field(&body, "Message"), "Cannot call GetSessionToken with session credentials");

    h.advance(900);
    let (status, body) = h.call("sts", &session, &[("Action", "GetCallerIdentity")]).await;
    assert_eq!((status, field(&body, "Code")), (403, "ExpiredToken".to_owned()));

    let tampered = Creds { token: Some("x".repeat(128)), ..session };
    let (status, body) = h.call("sts", &tampered, &[("Action", "GetCallerIdentity")]).await;
    assert_eq!((status, field(&body, "Code")), (403, "InvalidClientTokenId".to_owned()));
    assert_eq!(field(&body, "Message"), "The security token included in the request is invalid.");
}

async fn response_envelopes_match_aws(backend: Backend) {
    let h = Harness::new(backend).await;
    let (status, body) = h.call("iam", &root(), &[("Action", "GetAccountSummary")]).await;
    assert_eq!(status, 200);
    let request_id = field(&body, "RequestId");
    assert_eq!(
        body,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<GetAccountSummaryResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\
             <GetAccountSummaryResult><SummaryMap>\
             <entry><key>AccessKeysPerUserQuota</key><value>2</value></entry>\
             <entry><key>AccountAccessKeysPresent</key><value>1</value></entry>\
             <entry><key>AccountMFAEnabled</key><value>0</value></entry>\
             <entry><key>AccountPasswordPresent</key><value>0</value></entry>\
             <entry><key>AssumeRolePolicySizeQuota</key><value>2048</value></entry>\
             <entry><key>AttachedPoliciesPerGroupQuota</key><value>10</value></entry>\
             <entry><key>AttachedPoliciesPerRoleQuota</key><value>10</value></entry>\
             <entry><key>AttachedPoliciesPerUserQuota</key><value>10</value></entry>\
             <entry><key>GroupPolicySizeQuota</key><value>5120</value></entry>\
             <entry><key>Groups</key><value>0</value></entry>\
             <entry><key>GroupsPerUserQuota</key><value>10</value></entry>\
             <entry><key>GroupsQuota</key><value>300</value></entry>\
             <entry><key>MFADevices</key><value>0</value></entry>\
             <entry><key>MFADevicesInUse</key><value>0</value></entry>\
             <entry><key>Policies</key><value>0</value></entry>\
             <entry><key>PoliciesQuota</key><value>1500</value></entry>\
             <entry><key>PolicySizeQuota</key><value>6144</value></entry>\
             <entry><key>PolicyVersionsInUse</key><value>0</value></entry>\
             <entry><key>RolePolicySizeQuota</key><value>10240</value></entry>\
             <entry><key>Roles</key><value>0</value></entry>\
             <entry><key>RolesQuota</key><value>1000</value></entry>\
             <entry><key>UserPolicySizeQuota</key><value>2048</value></entry>\
             <entry><key>Users</key><value>0</value></entry>\
             <entry><key>UsersQuota</key><value>5000</value></entry>\
             <entry><key>VersionsPerPolicyQuota</key><value>5</value></entry>\
             </SummaryMap></GetAccountSummaryResult>\
             <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></GetAccountSummaryResponse>"
        )
    );

    h.user_with_device("bob").await;
    let body = h.ok("iam", &root(), &[("Action", "ListVirtualMFADevices")]).await;
    assert!(
        body.contains(
            "<ListVirtualMFADevicesResult><VirtualMFADevices><member>\
             <SerialNumber>arn:aws:iam::123456789012:mfa/bob</SerialNumber></member></VirtualMFADevices>\
             <IsTruncated>false</IsTruncated></ListVirtualMFADevicesResult>"
        ),
        "{body}"
    );

    let (status, body) = h.call("iam", &root(), &[("Action", "GetUser"), ("UserName", "nobody")]).await;
    assert_eq!(status, 404);
    let request_id = field(&body, "RequestId");
    assert_eq!(
        body,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\
             <Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>The user with name nobody cannot be found.</Message></Error>\
             <RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    );
}

/// Replaces the text of elements whose values are generated (ids, secrets, times) with `…`, so
/// whole documents can be compared.
fn normalized(xml: &str) -> String {
    const GENERATED: [&str; 11] = [
        "RequestId",
        "UserId",
        "CreateDate",
        "EnableDate",
        "AccessKeyId",
        "SecretAccessKey",
        "SessionToken",
        "Expiration",
        "Base32StringSeed",
        "QRCodePNG",
        "Marker",
    ];
    let mut out = xml.to_owned();
    for tag in GENERATED {
        let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
        let mut from = 0;
        while let Some(start) = out[from..].find(&open).map(|i| i + from + open.len()) {
            let end = out[start..].find(&close).unwrap() + start;
            out.replace_range(start..end, "…");
            from = start + "…".len();
        }
    }
    out.split_once('\n').map(|(_, body)| body.to_owned()).unwrap_or(out)
}

/// Every response shape, element by element, as boto3 and the AWS CLI parse it.
async fn every_result_shape_renders_like_aws(backend: Backend) {
    let h = Harness::new(backend).await;
    let ns = "xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"";
    let meta = "<ResponseMetadata><RequestId>…</RequestId></ResponseMetadata>";
    let check = |op: &str, result: &str, body: String| {
        let expected = if result.is_empty() {
            format!("<{op}Response {ns}>{meta}</{op}Response>")
        } else {
            format!("<{op}Response {ns}><{op}Result>{result}</{op}Result>{meta}</{op}Response>")
        };
        assert_eq!(normalized(&body), expected, "{op}");
    };
    let user_xml = |name: &str| {
        format!(
            "<Path>/</Path><UserName>{name}</UserName><UserId>…</UserId>\
             <Arn>arn:aws:iam::123456789012:user/{name}</Arn><CreateDate>…</CreateDate>"
        )
    };

    let body = h
        .ok(
            "iam",
            &root(),
            &[
                ("Action", "CreateUser"),
                ("UserName", "carol"),
                ("Tags.member.1.Key", "team"),
                ("Tags.member.1.Value", "a b"),
            ],
        )
        .await;
    check(
        "CreateUser",
        &format!("<User>{}<Tags><member><Key>team</Key><Value>a b</Value></member></Tags></User>", user_xml("carol")),
        body,
    );
    let body = h.ok("iam", &root(), &[("Action", "ListUsers")]).await;
    check(
        "ListUsers",
        &format!("<Users><member>{}</member></Users><IsTruncated>false</IsTruncated>", user_xml("carol")),
        body,
    );
    let body = h.ok("iam", &root(), &[("Action", "UpdateUser"), ("UserName", "carol"), ("NewPath", "/x/")]).await;
    check("UpdateUser", "", body);

    let body = h.ok("iam", &root(), &[("Action", "CreateAccessKey"), ("UserName", "carol")]).await;
    check(
        "CreateAccessKey",
        "<AccessKey><UserName>carol</UserName><AccessKeyId>…</AccessKeyId><Status>Active</Status>\
         <SecretAccessKey>…</SecretAccessKey><CreateDate>…</CreateDate></AccessKey>",
        body,
    );
    let body = h.ok("iam", &root(), &[("Action", "ListAccessKeys"), ("UserName", "carol")]).await;
    check(
        "ListAccessKeys",
        "<AccessKeyMetadata><member><UserName>carol</UserName><AccessKeyId>…</AccessKeyId><Status>Active</Status>\
         <CreateDate>…</CreateDate></member></AccessKeyMetadata><IsTruncated>false</IsTruncated>",
        body,
    );

    let body = h.ok("iam", &root(), &[("Action", "CreateVirtualMFADevice"), ("VirtualMFADeviceName", "carol")]).await;
    let seed = BASE32_NOPAD.decode(&BASE64.decode(field(&body, "Base32StringSeed").as_bytes()).unwrap()).unwrap();
    check(
        "CreateVirtualMFADevice",
        "<VirtualMFADevice><SerialNumber>arn:aws:iam::123456789012:mfa/carol</SerialNumber>\
         <Base32StringSeed>…</Base32StringSeed><QRCodePNG>…</QRCodePNG></VirtualMFADevice>",
        body,
    );
    let serial = "arn:aws:iam::123456789012:mfa/carol";
    let (status, body) = h.enable_at("carol", serial, &TotpKey::new(&seed), h.now()).await;
    assert_eq!(status, 200);
    check("EnableMFADevice", "", body);
    let device = format!("<UserName>carol</UserName><SerialNumber>{serial}</SerialNumber><EnableDate>…</EnableDate>");
    let body = h.ok("iam", &root(), &[("Action", "ListMFADevices"), ("UserName", "carol")]).await;
    check(
        "ListMFADevices",
        &format!("<MFADevices><member>{device}</member></MFADevices><IsTruncated>false</IsTruncated>"),
        body,
    );
    let body =
        h.ok("iam", &root(), &[("Action", "GetMFADevice"), ("UserName", "carol"), ("SerialNumber", serial)]).await;
    check("GetMFADevice", &device, body);
    let body = h.ok("iam", &root(), &[("Action", "ListVirtualMFADevices"), ("AssignmentStatus", "Assigned")]).await;
    let assigned_user = "<Path>/x/</Path><UserName>carol</UserName><UserId>…</UserId>\
                         <Arn>arn:aws:iam::123456789012:user/x/carol</Arn><CreateDate>…</CreateDate>";
    check(
        "ListVirtualMFADevices",
        &format!(
            "<VirtualMFADevices><member><SerialNumber>{serial}</SerialNumber><User>{assigned_user}</User>\
             <EnableDate>…</EnableDate></member></VirtualMFADevices><IsTruncated>false</IsTruncated>"
        ),
        body,
    );
    let tag = [
        ("Action", "TagMFADevice"),
        ("SerialNumber", serial),
        ("Tags.member.1.Key", "k"),
        ("Tags.member.1.Value", "v"),
    ];
    check("TagMFADevice", "", h.ok("iam", &root(), &tag).await);
    let body = h.ok("iam", &root(), &[("Action", "ListMFADeviceTags"), ("SerialNumber", serial)]).await;
    check(
        "ListMFADeviceTags",
        "<Tags><member><Key>k</Key><Value>v</Value></member></Tags><IsTruncated>false</IsTruncated>",
        body,
    );

    let body = h
        .ok("iam", &root(), &[("Action", "CreateLoginProfile"), ("UserName", "carol"), ("Password", "Correct-Horse-9")])
        .await;
    let profile = "<LoginProfile><UserName>carol</UserName><CreateDate>…</CreateDate>\
                   <PasswordResetRequired>false</PasswordResetRequired></LoginProfile>";
    check("CreateLoginProfile", profile, body);
    check(
        "GetLoginProfile",
        profile,
        h.ok("iam", &root(), &[("Action", "GetLoginProfile"), ("UserName", "carol")]).await,
    );
    let policy =
        [("Action", "UpdateAccountPasswordPolicy"), ("MinimumPasswordLength", "12"), ("RequireNumbers", "true")];
    check("UpdateAccountPasswordPolicy", "", h.ok("iam", &root(), &policy).await);
    check(
        "GetAccountPasswordPolicy",
        "<PasswordPolicy><MinimumPasswordLength>12</MinimumPasswordLength><RequireSymbols>false</RequireSymbols>\
         <RequireNumbers>true</RequireNumbers><RequireUppercaseCharacters>false</RequireUppercaseCharacters>\
         <RequireLowercaseCharacters>false</RequireLowercaseCharacters>\
         <AllowUsersToChangePassword>false</AllowUsersToChangePassword><ExpirePasswords>false</ExpirePasswords>\
         </PasswordPolicy>",
        h.ok("iam", &root(), &[("Action", "GetAccountPasswordPolicy")]).await,
    );

    let sts = "xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"";
    let body = h.ok("sts", &root(), &[("Action", "GetSessionToken")]).await;
    assert_eq!(
        normalized(&body),
        format!(
            "<GetSessionTokenResponse {sts}><GetSessionTokenResult><Credentials><AccessKeyId>…</AccessKeyId>\
             <SecretAccessKey>…</SecretAccessKey><SessionToken>…</SessionToken><Expiration>…</Expiration>\
             </Credentials></GetSessionTokenResult>{meta}</GetSessionTokenResponse>"
        )
    );
    let body = h.ok("sts", &root(), &[("Action", "GetCallerIdentity")]).await;
    assert_eq!(
        normalized(&body),
        format!(
            "<GetCallerIdentityResponse {sts}><GetCallerIdentityResult><UserId>…</UserId><Account>123456789012</Account>\
             <Arn>arn:aws:iam::123456789012:root</Arn></GetCallerIdentityResult>{meta}</GetCallerIdentityResponse>"
        )
    );
}

/// TagUser, UntagUser and ListUserTags: sorted by key, keys compare without regard to case, at
/// most 50 tags on a user (a refused request writes nothing), and an IAM user without a policy
/// may not tag itself.
async fn user_tags_round_trip(backend: Backend) {
    let h = Harness::new(backend).await;
    let ns = "xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"";
    let meta = "<ResponseMetadata><RequestId>…</RequestId></ResponseMetadata>";
    let (alice, _, _) = h.user_with_device("alice").await;
    let list = async || h.ok("iam", &root(), &[("Action", "ListUserTags"), ("UserName", "alice")]).await;
    let members = |tags: &[(&str, &str)]| {
        tags.iter().map(|(k, v)| format!("<member><Key>{k}</Key><Value>{v}</Value></member>")).collect::<String>()
    };

    let body = h
        .ok(
            "iam",
            &root(),
            &[
                ("Action", "TagUser"),
                ("UserName", "alice"),
                ("Tags.member.1.Key", "team"),
                ("Tags.member.1.Value", "blue"),
                ("Tags.member.2.Key", "Cost-Center"),
                ("Tags.member.2.Value", "42"),
            ],
        )
        .await;
    assert_eq!(normalized(&body), format!("<TagUserResponse {ns}>{meta}</TagUserResponse>"));
    assert_eq!(
        normalized(&list().await),
        format!(
            "<ListUserTagsResponse {ns}><ListUserTagsResult><Tags>{}</Tags><IsTruncated>false</IsTruncated>\
             </ListUserTagsResult>{meta}</ListUserTagsResponse>",
            members(&[("Cost-Center", "42"), ("team", "blue")])
        ),
        "sorted by key"
    );

    // The same key in another case overwrites: still two tags, the new value.
    let overwrite =
        [("Action", "TagUser"), ("UserName", "alice"), ("Tags.member.1.Key", "TEAM"), ("Tags.member.1.Value", "red")];
    h.ok("iam", &root(), &overwrite).await;
    let body = list().await;
    assert_eq!(body.matches("<member>").count(), 2, "{body}");
    assert!(body.contains(&members(&[("Cost-Center", "42")])), "{body}");
    let second = &body[body.rfind("<member>").unwrap()..];
    assert_eq!(field(second, "Key").to_lowercase(), "team", "{body}");
    assert_eq!(field(second, "Value"), "red", "{body}");
    assert!(!body.contains("blue"), "{body}");

    let body = h
        .ok("iam", &root(), &[("Action", "UntagUser"), ("UserName", "alice"), ("TagKeys.member.1", "cost-center")])
        .await;
    assert_eq!(normalized(&body), format!("<UntagUserResponse {ns}>{meta}</UntagUserResponse>"));
    let body = list().await;
    assert_eq!(body.matches("<member>").count(), 1, "{body}");
    assert!(!body.contains("Cost-Center"), "{body}");
    assert_eq!(field(&body, "Value"), "red");

    let (status, body) = h.call("iam", &root(), &[("Action", "ListUserTags"), ("UserName", "nobody")]).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(field(&body, "Code"), "NoSuchEntity");
    assert_eq!(field(&body, "Message"), "The user with name nobody cannot be found.");

    // 1 + 49 = 50 tags fit; one more does not, and the refused request writes nothing.
    let mut fill = vec![("Action".to_owned(), "TagUser".to_owned()), ("UserName".to_owned(), "alice".to_owned())];
    for i in 1..=49 {
        fill.push((format!("Tags.member.{i}.Key"), format!("k{i:02}")));
        fill.push((format!("Tags.member.{i}.Value"), i.to_string()));
    }
    let fill: Vec<(&str, &str)> = fill.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    h.ok("iam", &root(), &fill).await;
    assert_eq!(list().await.matches("<member>").count(), 50);
    let one_more = [
        ("Action", "TagUser"),
        ("UserName", "alice"),
        ("Tags.member.1.Key", "k00"),
        ("Tags.member.1.Value", "0"),
        ("Tags.member.2.Key", "K01"),
        ("Tags.member.2.Value", "changed"),
    ];
    let (status, body) = h.call("iam", &root(), &one_more).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(field(&body, "Code"), "LimitExceeded");
    assert_eq!(field(&body, "Message"), "Cannot exceed quota for TagsPerUser: 50");
    let body = list().await;
    assert_eq!(body.matches("<member>").count(), 50, "{body}");
    assert!(!body.contains("k00") && !body.contains("changed"), "nothing written: {body}");

    // An IAM user may not tag itself (it has no policy granting iam:TagUser).
    let own =
        [("Action", "TagUser"), ("UserName", "alice"), ("Tags.member.1.Key", "self"), ("Tags.member.1.Value", "x")];
    let (status, body) = h.call("iam", &alice, &own).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(field(&body, "Code"), "AccessDenied");
    assert!(
        field(&body, "Message")
            .starts_with("User: arn:aws:iam::123456789012:user/alice is not authorized to perform: iam:TagUser"),
        "{body}"
    );
    assert!(!list().await.contains("self"), "nothing written");
}

/// Issue #13.1: every Argon2 path holds a hashing slot; with none free, the API answers AWS's
/// `Throttling` (400, `Rate exceeded`) quickly and changes nothing.
async fn password_operations_beyond_the_hashing_slots_are_throttled(backend: Backend) {
    let h = Harness::new(backend).await;
    h.ok("iam", &root(), &[("Action", "CreateUser"), ("UserName", "tess")]).await;
    let all = u32::try_from(h.app.password_hashing.size).unwrap();
    let held = h.app.password_hashing.permits.clone().acquire_many_owned(all).await.unwrap();
    let create = [("Action", "CreateLoginProfile"), ("UserName", "tess"), ("Password", "Correct-Horse-9")];
    let (status, body) = h.call("iam", &root(), &create).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(field(&body, "Code"), "Throttling");
    assert_eq!(field(&body, "Message"), "Rate exceeded");
    let (status, _) = h.call("iam", &root(), &[("Action", "GetLoginProfile"), ("UserName", "tess")]).await;
    assert_eq!(status, 404, "nothing was created");
    drop(held);
    h.ok("iam", &root(), &create).await;
}

async fn credential_reports_last_four_hours(backend: Backend) {
    let h = Harness::new(backend).await;
    let (_, serial, key) = h.user_with_device("alice").await;
    assert_eq!(h.enable_at("alice", &serial, &key, h.now()).await.0, 200);
    let get = [("Action", "GetCredentialReport")];
    let generate = [("Action", "GenerateCredentialReport")];

    let (status, body) = h.call("iam", &root(), &get).await;
    assert_eq!((status, field(&body, "Code")), (410, "ReportNotPresent".to_owned()), "{body}");
    assert_eq!(field(&h.ok("iam", &root(), &generate).await, "State"), "STARTED");
    assert_eq!(field(&h.ok("iam", &root(), &generate).await, "State"), "COMPLETE", "kept for 4 hours");
    let body = h.ok("iam", &root(), &get).await;
    let csv = String::from_utf8(BASE64.decode(field(&body, "Content").as_bytes()).unwrap()).unwrap();
    assert_eq!(field(&body, "ReportFormat"), "text/csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("user,arn,user_creation_time,password_enabled,"), "{csv}");
    assert!(lines[1].starts_with(&format!("<root_account>,arn:aws:iam::{ACCOUNT}:root,")), "{csv}");
    let alice: Vec<&str> = lines[2].split(',').collect();
    assert_eq!((alice[0], alice[3], alice[7], alice[8]), ("alice", "false", "true", "true"), "{csv}");

    h.advance(4 * 3600);
    let (status, body) = h.call("iam", &root(), &get).await;
    assert_eq!((status, field(&body, "Code")), (410, "ReportExpired".to_owned()), "{body}");
    assert_eq!(field(&h.ok("iam", &root(), &generate).await, "State"), "STARTED", "an expired report is rebuilt");
    assert_eq!(h.call("iam", &root(), &get).await.0, 200);
}

async fn a_key_records_its_first_use_in_each_quarter_hour(backend: Backend) {
    let h = Harness::new(backend).await;
    let (alice, _, _) = h.user_with_device("alice").await;
    let last_used = async || {
        let body = h.ok("iam", &root(), &[("Action", "GetAccessKeyLastUsed"), ("AccessKeyId", &alice.key)]).await;
        (body.contains("<LastUsedDate>").then(|| field(&body, "LastUsedDate")), field(&body, "ServiceName"))
    };
    // The use is written beside the request; wait for it a little.
    let settled = async |expect: &(Option<String>, String)| {
        for _ in 0..100 {
            if last_used().await == *expect {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(last_used().await, *expect);
    };
    assert_eq!(last_used().await, (None, "N/A".to_owned()));

    let first = h.now();
    h.ok("sts", &alice, &[("Action", "GetCallerIdentity")]).await;
    let recorded = (Some(iamd_server::wire::shapes::timestamp(first)), "sts".to_owned());
    settled(&recorded).await;
    // Within 15 minutes a use changes nothing, whatever the service (even a refused call).
    h.advance(14 * 60);
    h.call("iam", &alice, &[("Action", "ListUsers")]).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(last_used().await, recorded);
    h.advance(60);
    h.call("iam", &alice, &[("Action", "ListUsers")]).await;
    settled(&(Some(iamd_server::wire::shapes::timestamp(first + 15 * 60)), "iam".to_owned())).await;
}

/// Every change that succeeds and every refusal lands in the audit trail with the request id the
/// client got; reads and failures of other kinds do not; no code is ever written.
async fn changes_and_refusals_enter_the_audit_trail(backend: Backend) {
    let h = Harness::new(backend).await;
    let (creds, serial, key) = h.user_with_device("audited").await;
    h.ok("iam", &root(), &[("Action", "ListUsers")]).await;
    let (status, _) = h.call("iam", &root(), &[("Action", "GetUser"), ("UserName", "nobody")]).await;
    assert_eq!(status, 404);
    let (status, enabled) = h.enable_at("audited", &serial, &key, h.now()).await;
    assert_eq!(status, 200, "{enabled}");
    let (status, refused) = h.call("iam", &creds, &[("Action", "DeleteUser"), ("UserName", "audited")]).await;
    assert_eq!(status, 403, "{refused}");

    let events = h.store().change_events(&AuthEventQuery::newest(ACCOUNT, 100)).await.unwrap();
    let summary: Vec<(&str, &str, &str)> =
        events.iter().map(|e| (e.action.as_str(), e.outcome.as_str(), e.target.as_str())).collect();
    let enable_target = format!("UserName=audited SerialNumber={serial}");
    assert_eq!(
        summary,
        [
            ("iam:DeleteUser", "denied", "UserName=audited"),
            ("iam:EnableMFADevice", "success", enable_target.as_str()),
            ("iam:CreateVirtualMFADevice", "success", "VirtualMFADeviceName=audited"),
            ("iam:CreateAccessKey", "success", "UserName=audited"),
            ("iam:CreateUser", "success", "UserName=audited"),
        ]
    );
    let [denied, enable, ..] = &events[..] else { unreachable!() };
    assert_eq!(enable.request_id, field(&enabled, "RequestId"));
    assert_eq!(denied.request_id, field(&refused, "RequestId"));
    assert_eq!(enable.caller_arn, format!("arn:aws:iam::{ACCOUNT}:root"));
    assert_eq!((enable.caller_user.as_deref(), enable.target_user.as_deref()), (None, Some("audited")));
    assert_eq!(denied.caller_arn, format!("arn:aws:iam::{ACCOUNT}:user/audited"));
    assert_eq!(denied.caller_user.as_deref(), Some("audited"));
    assert!(events.iter().all(|e| e.at == h.now() && e.origin == "api" && e.account_id == ACCOUNT));
    let code = key.code_at(h.now());
    assert!(events.iter().all(|e| !e.target.contains(&code)), "{events:?}");
}
