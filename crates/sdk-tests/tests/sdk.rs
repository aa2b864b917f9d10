//! iamd through the official AWS SDK for Rust (`aws-sdk-iam`, `aws-sdk-sts`): the SDK's own
//! SigV4 signing, query-protocol serialisation and XML parsing against the real binary. The MFA
//! lifecycle, GetSessionToken with a code and what its session may do, errors as the SDK types
//! them. Each test starts its own server (`support::Iamd`).

mod support;

use std::time::SystemTime;

use aws_sdk_iam::config::Credentials;
use aws_sdk_iam::operation::create_user::CreateUserError;
use aws_sdk_iam::operation::delete_virtual_mfa_device::DeleteVirtualMFADeviceError;
use aws_sdk_iam::operation::enable_mfa_device::EnableMFADeviceError;
use aws_sdk_iam::operation::get_user::GetUserError;
use aws_sdk_iam::types::AssignmentStatusType;
use support::{Iamd, Totp, current_step, failure, unique};

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

// What a user may do with its own identity and devices (AWS's self-service pattern).
const SELF_SERVICE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
  "Action":["iam:GetUser","iam:ListMFADevices"],"Resource":"arn:aws:iam::*:user/${aws:username}"}]}"#;

fn seconds_from_now(secs: i64, when: &aws_sdk_iam::primitives::DateTime) -> i64 {
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).expect("after 1970").as_secs() as i64;
    when.secs() - (now + secs)
}

/// A user with an access key, the self-service policy and an enabled device named after it.
struct MfaUser {
    name: String,
    serial: String,
    totp: Totp,
    /// The step of the enable pair's second code: STS accepts codes of later steps only.
    enabled_step: u64,
    keys: Credentials,
}

async fn user_with_device(iamd: &Iamd, prefix: &str) -> MfaUser {
    let iam = iamd.iam(&iamd.root);
    let name = unique(prefix);
    iam.create_user().user_name(&name).send().await.expect("CreateUser");
    iam.put_user_policy()
        .user_name(&name)
        .policy_name("self")
        .policy_document(SELF_SERVICE)
        .send()
        .await
        .expect("PutUserPolicy");
    let key = iam.create_access_key().user_name(&name).send().await.expect("CreateAccessKey");
    let key = key.access_key().expect("AccessKey");
    let keys = Credentials::new(key.access_key_id(), key.secret_access_key(), None, None, "user");
    let created =
        iam.create_virtual_mfa_device().virtual_mfa_device_name(&name).send().await.expect("CreateVirtualMFADevice");
    let device = created.virtual_mfa_device().expect("VirtualMFADevice");
    let totp = Totp::new(device.base32_string_seed().expect("seed").as_ref());
    let serial = device.serial_number().to_owned();
    let step = enable(&iam, &name, &serial, &totp).await;
    MfaUser { name, serial, totp, enabled_step: step, keys }
}

/// EnableMFADevice with the device's codes for the step before the current one and the current
/// one; returns the current step.
async fn enable(iam: &aws_sdk_iam::Client, user: &str, serial: &str, totp: &Totp) -> u64 {
    let step = current_step(8.0).await;
    let (code1, code2) = totp.pair(step);
    iam.enable_mfa_device()
        .user_name(user)
        .serial_number(serial)
        .authentication_code1(code1)
        .authentication_code2(code2)
        .send()
        .await
        .expect("EnableMFADevice");
    step
}

fn session_credentials(credentials: &aws_sdk_sts::types::Credentials) -> Credentials {
    Credentials::new(
        credentials.access_key_id(),
        credentials.secret_access_key(),
        Some(credentials.session_token().to_owned()),
        None,
        "session",
    )
}

#[tokio::test]
async fn mfa_device_lifecycle() {
    let iamd = Iamd::start();
    let iam = iamd.iam(&iamd.root);

    let name = unique("rs-life");
    let created = iam.create_user().user_name(&name).send().await.expect("CreateUser");
    let user = created.user().expect("User");
    assert_eq!(user.user_name(), name);
    assert_eq!(user.arn(), iamd.user_arn(&name));
    assert!(user.user_id().starts_with("AIDA") && user.user_id().len() == 21, "{}", user.user_id());
    assert!(seconds_from_now(0, user.create_date()).abs() < 120);

    let device_name = unique("rs-dev");
    let created = iam
        .create_virtual_mfa_device()
        .virtual_mfa_device_name(&device_name)
        .send()
        .await
        .expect("CreateVirtualMFADevice");
    let device = created.virtual_mfa_device().expect("VirtualMFADevice");
    assert_eq!(device.serial_number(), iamd.mfa_arn(&device_name));
    let seed = device.base32_string_seed().expect("Base32StringSeed").as_ref();
    assert_eq!(seed.len(), 64, "{}", String::from_utf8_lossy(seed));
    assert!(seed.iter().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(b)));
    let png = device.qr_code_png().expect("QRCodePNG").as_ref();
    assert!(png.starts_with(PNG_MAGIC) && png.len() > 100, "not a PNG");
    assert!(device.user().is_none() && device.enable_date().is_none());
    let serial = device.serial_number().to_owned();

    let totp = Totp::new(seed);
    enable(&iam, &name, &serial, &totp).await;

    let listed = iam.list_mfa_devices().user_name(&name).send().await.expect("ListMFADevices");
    assert!(!listed.is_truncated());
    let devices = listed.mfa_devices();
    assert_eq!(devices.len(), 1);
    assert_eq!((devices[0].user_name(), devices[0].serial_number()), (name.as_str(), serial.as_str()));
    assert!(seconds_from_now(0, devices[0].enable_date()).abs() < 120);

    let assigned = iam
        .list_virtual_mfa_devices()
        .assignment_status(AssignmentStatusType::Assigned)
        .send()
        .await
        .expect("ListVirtualMFADevices");
    let entry =
        assigned.virtual_mfa_devices().iter().find(|d| d.serial_number() == serial).expect("listed as assigned");
    let owner = entry.user().expect("User");
    assert_eq!((owner.user_name(), owner.arn()), (name.as_str(), user.arn()));
    assert!(entry.base32_string_seed().is_none() && entry.qr_code_png().is_none(), "the seed is shown only once");

    iam.deactivate_mfa_device().user_name(&name).serial_number(&serial).send().await.expect("DeactivateMFADevice");
    let listed = iam.list_mfa_devices().user_name(&name).send().await.expect("ListMFADevices");
    assert!(listed.mfa_devices().is_empty());
    let unassigned = iam
        .list_virtual_mfa_devices()
        .assignment_status(AssignmentStatusType::Unassigned)
        .send()
        .await
        .expect("ListVirtualMFADevices");
    assert!(unassigned.virtual_mfa_devices().iter().any(|d| d.serial_number() == serial));

    iam.delete_virtual_mfa_device().serial_number(&serial).send().await.expect("DeleteVirtualMFADevice");
    let all = iam.list_virtual_mfa_devices().send().await.expect("ListVirtualMFADevices");
    assert!(all.virtual_mfa_devices().iter().all(|d| d.serial_number() != serial));
    let gone = failure(iam.delete_virtual_mfa_device().serial_number(&serial).send().await);
    assert!(matches!(gone.error, DeleteVirtualMFADeviceError::NoSuchEntityException(_)), "{:?}", gone.error);
    gone.check("NoSuchEntity", 404, &format!("MFA Device with serial number {serial} does not exist."));
}

#[tokio::test]
async fn get_session_token_with_a_code() {
    let iamd = Iamd::start();
    let user = user_with_device(&iamd, "rs-sts").await;
    let sts = iamd.sts(&user.keys);
    // The first code STS accepts: the step after the enable pair's last.
    let code = user.totp.at(user.enabled_step + 1);
    let output = sts
        .get_session_token()
        .serial_number(&user.serial)
        .token_code(&code)
        .duration_seconds(900)
        .send()
        .await
        .expect("GetSessionToken");
    let credentials = output.credentials().expect("Credentials");
    assert!(credentials.access_key_id().starts_with("ASIA") && credentials.access_key_id().len() == 20);
    assert_eq!(credentials.secret_access_key().len(), 40);
    assert!(!credentials.session_token().is_empty());
    assert!(seconds_from_now(900, credentials.expiration()).abs() < 120);
    let session = session_credentials(credentials);

    let identity = iamd.sts(&session).get_caller_identity().send().await.expect("GetCallerIdentity");
    assert_eq!(identity.arn(), Some(iamd.user_arn(&user.name).as_str()));
    assert_eq!(identity.account(), Some(iamd.account_id.as_str()));
    assert!(identity.user_id().is_some_and(|id| id.starts_with("AIDA")));

    // An MFA session may call IAM, as the user's policies allow.
    let session_iam = iamd.iam(&session);
    let me = session_iam.get_user().send().await.expect("GetUser");
    assert_eq!(me.user().map(|u| u.user_name()), Some(user.name.as_str()));
    let mine = session_iam.list_mfa_devices().send().await.expect("ListMFADevices");
    let serials: Vec<&str> = mine.mfa_devices().iter().map(|d| d.serial_number()).collect();
    assert_eq!(serials, [user.serial.as_str()]);

    // A code is accepted once.
    let reused = failure(sts.get_session_token().serial_number(&user.serial).token_code(&code).send().await);
    reused.check("AccessDenied", 403, "MultiFactorAuthentication failed with invalid MFA one time pass code.");

    // Session credentials cannot open another session.
    let nested = failure(iamd.sts(&session).get_session_token().send().await);
    nested.check("AccessDenied", 403, "Cannot call GetSessionToken with session credentials");

    // A serial that is not the caller's.
    let next = user.totp.at(user.enabled_step + 2);
    let foreign = failure(sts.get_session_token().serial_number(iamd.mfa_arn("nobody")).token_code(next).send().await);
    foreign.check(
        "AccessDenied",
        403,
        "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial number is \
         valid and associated with this user.",
    );
}

#[tokio::test]
async fn a_session_without_mfa_may_not_call_iam() {
    let iamd = Iamd::start();
    let user = user_with_device(&iamd, "rs-nomfa").await;
    let output = iamd.sts(&user.keys).get_session_token().duration_seconds(900).send().await.expect("GetSessionToken");
    let session = session_credentials(output.credentials().expect("Credentials"));
    let identity = iamd.sts(&session).get_caller_identity().send().await.expect("GetCallerIdentity");
    assert_eq!(identity.arn(), Some(iamd.user_arn(&user.name).as_str()));

    let refused = failure(iamd.iam(&session).get_user().send().await);
    assert!(!refused.error.is_no_such_entity_exception());
    // AWS's IAM wording, without a final period.
    refused.check("InvalidClientTokenId", 403, "The security token included in the request is invalid");
}

#[tokio::test]
async fn errors_by_name() {
    let iamd = Iamd::start();
    let iam = iamd.iam(&iamd.root);

    let missing = unique("rs-missing");
    let unknown = failure(iam.get_user().user_name(&missing).send().await);
    assert!(matches!(unknown.error, GetUserError::NoSuchEntityException(_)), "{:?}", unknown.error);
    unknown.check("NoSuchEntity", 404, &format!("The user with name {missing} cannot be found."));

    let name = unique("rs-twice");
    iam.create_user().user_name(&name).send().await.expect("CreateUser");
    let twice = failure(iam.create_user().user_name(&name).send().await);
    assert!(matches!(twice.error, CreateUserError::EntityAlreadyExistsException(_)), "{:?}", twice.error);
    twice.check("EntityAlreadyExists", 409, &format!("User with name {name} already exists."));

    // A device already enabled for someone else.
    let owner = user_with_device(&iamd, "rs-owner").await;
    let (code1, code2) = owner.totp.pair(current_step(8.0).await + 2);
    let in_use = failure(
        iam.enable_mfa_device()
            .user_name(&name)
            .serial_number(&owner.serial)
            .authentication_code1(code1)
            .authentication_code2(code2)
            .send()
            .await,
    );
    assert!(matches!(in_use.error, EnableMFADeviceError::EntityAlreadyExistsException(_)), "{:?}", in_use.error);
    in_use.check("EntityAlreadyExists", 409, "MFA Device is already in use.");

    // Wrong codes: one invalid, the same code twice, a pair in the wrong order.
    let created =
        iam.create_virtual_mfa_device().virtual_mfa_device_name(&name).send().await.expect("CreateVirtualMFADevice");
    let device = created.virtual_mfa_device().expect("VirtualMFADevice");
    let totp = Totp::new(device.base32_string_seed().expect("seed").as_ref());
    let step = current_step(8.0).await;
    for (code1, code2) in
        [(totp.invalid_code(), totp.at(step)), (totp.at(step), totp.at(step)), (totp.at(step), totp.at(step - 1))]
    {
        let refused = failure(
            iam.enable_mfa_device()
                .user_name(&name)
                .serial_number(device.serial_number())
                .authentication_code1(&code1)
                .authentication_code2(&code2)
                .send()
                .await,
        );
        assert!(
            matches!(refused.error, EnableMFADeviceError::InvalidAuthenticationCodeException(_)),
            "{code1} {code2}: {:?}",
            refused.error
        );
        refused.check("InvalidAuthenticationCode", 403, "Authentication code for device is not valid.");
    }
    let listed = iam.list_mfa_devices().user_name(&name).send().await.expect("ListMFADevices");
    assert!(listed.mfa_devices().is_empty());

    // An unknown access key, worded by each service as AWS does.
    let nobody = Credentials::new("AKIAUNKNOWNKEY000001", "x".repeat(40), None, None, "unknown");
    let from_iam = failure(iamd.iam(&nobody).get_user().send().await);
    from_iam.check("InvalidClientTokenId", 403, "The security token included in the request is invalid");
    let from_sts = failure(iamd.sts(&nobody).get_caller_identity().send().await);
    from_sts.check("InvalidClientTokenId", 403, "The security token included in the request is invalid.");
}
