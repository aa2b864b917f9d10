//! The console reads what an operation answered the way an SDK does: from its `{Op}Result`
//! element (`ops::perform` returns the same XML the query API sends). Only the members the pages
//! show are read.

use data_encoding::BASE64;
use iamd_domain::ApiError;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::failure::internal;

/// A list member as the query protocol writes it: `<Name><member>…</member>…</Name>`.
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct Members<T> {
    #[serde(default = "Vec::new")]
    member: Vec<T>,
}

/// Parses an operation's result element. The XML was written by `ops` a moment ago, so a parse
/// failure is iamd's own bug: an internal error.
fn parse<T: DeserializeOwned>(xml: Option<String>) -> Result<T, ApiError> {
    let xml = xml.ok_or_else(|| internal("the operation answered without a result"))?;
    quick_xml::de::from_str(&xml).map_err(|_| internal("an operation's result did not parse"))
}

/// An enabled MFA device of the signed-in user (ListMFADevices).
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Device {
    pub serial_number: String,
    pub enable_date: String,
}

#[derive(Deserialize)]
struct ListMfaDevices {
    #[serde(rename = "MFADevices")]
    devices: Members<Device>,
}

pub fn mfa_devices(xml: Option<String>) -> Result<Vec<Device>, ApiError> {
    Ok(parse::<ListMfaDevices>(xml)?.devices.member)
}

/// A new virtual device (CreateVirtualMFADevice): its serial, its seed as Base32 text and its QR
/// code as a PNG, both decoded from the wire's Base64.
#[derive(Debug, PartialEq, Eq)]
pub struct NewDevice {
    pub serial_number: String,
    pub base32_seed: String,
    /// Base64 of the PNG, ready for a `data:image/png;base64,` URL.
    pub qr_png_base64: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreatedDevice {
    serial_number: String,
    base32_string_seed: String,
    #[serde(rename = "QRCodePNG")]
    qr_code_png: String,
}

#[derive(Deserialize)]
struct CreateVirtualMfaDevice {
    #[serde(rename = "VirtualMFADevice")]
    device: CreatedDevice,
}

pub fn new_device(xml: Option<String>) -> Result<NewDevice, ApiError> {
    let device = parse::<CreateVirtualMfaDevice>(xml)?.device;
    let seed = BASE64.decode(device.base32_string_seed.as_bytes()).map_err(internal)?;
    Ok(NewDevice {
        serial_number: device.serial_number,
        base32_seed: String::from_utf8(seed).map_err(internal)?,
        qr_png_base64: device.qr_code_png,
    })
}

/// One of the signed-in user's access keys (ListAccessKeys).
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct AccessKey {
    pub access_key_id: String,
    pub status: String,
    pub create_date: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListAccessKeys {
    access_key_metadata: Members<AccessKey>,
}

pub fn access_keys(xml: Option<String>) -> Result<Vec<AccessKey>, ApiError> {
    Ok(parse::<ListAccessKeys>(xml)?.access_key_metadata.member)
}

/// A key just created (CreateAccessKey): the only time its secret is seen.
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct NewAccessKey {
    pub access_key_id: String,
    pub secret_access_key: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateAccessKey {
    access_key: NewAccessKey,
}

pub fn new_access_key(xml: Option<String>) -> Result<NewAccessKey, ApiError> {
    Ok(parse::<CreateAccessKey>(xml)?.access_key)
}

/// A user as ListUsers and GetUser describe it (tags only from GetUser).
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct UserInfo {
    pub path: String,
    pub user_name: String,
    pub user_id: String,
    pub arn: String,
    pub create_date: String,
    pub password_last_used: Option<String>,
    #[serde(default = "no_tags")]
    pub tags: Members<Tag>,
}

fn no_tags() -> Members<Tag> {
    Members { member: Vec::new() }
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// One page of ListUsers: the users and the marker of the next page, if any.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListUsers {
    users: Members<UserInfo>,
    marker: Option<String>,
}

pub fn users(xml: Option<String>) -> Result<(Vec<UserInfo>, Option<String>), ApiError> {
    let page = parse::<ListUsers>(xml)?;
    Ok((page.users.member, page.marker))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetUser {
    user: UserInfo,
}

pub fn user(xml: Option<String>) -> Result<UserInfo, ApiError> {
    Ok(parse::<GetUser>(xml)?.user)
}

impl UserInfo {
    pub fn tags(self) -> Vec<Tag> {
        self.tags.member
    }
}

/// A user's console password (GetLoginProfile).
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct LoginProfile {
    pub create_date: String,
    pub password_reset_required: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetLoginProfile {
    login_profile: LoginProfile,
}

pub fn login_profile(xml: Option<String>) -> Result<LoginProfile, ApiError> {
    Ok(parse::<GetLoginProfile>(xml)?.login_profile)
}

/// When and where an access key was last used (GetAccessKeyLastUsed).
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct KeyLastUsed {
    pub last_used_date: Option<String>,
    pub service_name: String,
    pub region: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetAccessKeyLastUsed {
    access_key_last_used: KeyLastUsed,
}

pub fn key_last_used(xml: Option<String>) -> Result<KeyLastUsed, ApiError> {
    Ok(parse::<GetAccessKeyLastUsed>(xml)?.access_key_last_used)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetCredentialReport {
    content: String,
}

/// The credential report's CSV (GetCredentialReport's `Content`, decoded from Base64).
pub fn credential_report(xml: Option<String>) -> Result<String, ApiError> {
    let content = parse::<GetCredentialReport>(xml)?.content;
    let csv = BASE64.decode(content.trim().as_bytes()).map_err(internal)?;
    String::from_utf8(csv).map_err(internal)
}

/// The account password policy (GetAccountPasswordPolicy), as far as the page explains it.
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct PasswordPolicy {
    pub minimum_password_length: u32,
    pub require_symbols: bool,
    pub require_numbers: bool,
    pub require_uppercase_characters: bool,
    pub require_lowercase_characters: bool,
    pub max_password_age: Option<u32>,
    pub password_reuse_prevention: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetAccountPasswordPolicy {
    password_policy: PasswordPolicy,
}

pub fn password_policy(xml: Option<String>) -> Result<PasswordPolicy, ApiError> {
    Ok(parse::<GetAccountPasswordPolicy>(xml)?.password_policy)
}

impl PasswordPolicy {
    /// The rules a new password must meet, in words.
    pub fn rules(&self) -> Vec<String> {
        let mut rules = vec![format!("At least {} characters", self.minimum_password_length)];
        let kinds = [
            (self.require_uppercase_characters, "At least one upper-case letter (A–Z)"),
            (self.require_lowercase_characters, "At least one lower-case letter (a–z)"),
            (self.require_numbers, "At least one digit (0–9)"),
            (self.require_symbols, "At least one symbol: ! @ # $ % ^ & * ( ) _ + - = [ ] { } | '"),
        ];
        rules.extend(kinds.iter().filter(|(required, _)| *required).map(|(_, text)| (*text).to_owned()));
        if let Some(days) = self.max_password_age {
            rules.push(format!("Passwords expire after {days} days"));
        }
        if let Some(count) = self.password_reuse_prevention {
            rules.push(format!("Not one of your last {count} passwords"));
        }
        rules
    }
}

/// The rules when the account has no password policy (`iamd_domain::password::conforms`).
pub fn default_password_rules() -> Vec<String> {
    vec![
        "At least 8 characters".to_owned(),
        "At least three of: upper-case letters, lower-case letters, digits, symbols".to_owned(),
        "Not the same as your user name".to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::shapes::Members as WireMembers;
    use serde::Serialize;

    #[test]
    fn reads_a_list_with_members_and_an_empty_one() {
        let xml = "<ListMFADevicesResult><MFADevices><member><UserName>bob</UserName>\
                   <SerialNumber>arn:aws:iam::1:mfa/a</SerialNumber><EnableDate>2025-01-01T00:00:00Z</EnableDate>\
                   </member></MFADevices><IsTruncated>false</IsTruncated></ListMFADevicesResult>";
        let devices = mfa_devices(Some(xml.to_owned())).unwrap();
        assert_eq!(
            devices,
            vec![Device {
                serial_number: "arn:aws:iam::1:mfa/a".to_owned(),
                enable_date: "2025-01-01T00:00:00Z".to_owned()
            }]
        );
        // What `ops` writes for an empty list.
        #[derive(Serialize)]
        struct Empty {
            #[serde(rename = "MFADevices")]
            devices: WireMembers<Device2>,
            #[serde(rename = "IsTruncated")]
            is_truncated: bool,
        }
        #[derive(Serialize)]
        struct Device2 {}
        let xml = crate::wire::xml::element(
            "ListMFADevicesResult",
            &Empty { devices: Vec::<Device2>::new().into(), is_truncated: false },
        );
        assert_eq!(mfa_devices(Some(xml)).unwrap(), Vec::new());
    }

    #[test]
    fn decodes_the_seed_and_keeps_the_png_base64() {
        let xml = format!(
            "<CreateVirtualMFADeviceResult><VirtualMFADevice><SerialNumber>arn:aws:iam::1:mfa/a</SerialNumber>\
             <Base32StringSeed>{}</Base32StringSeed><QRCodePNG>iVBORw==</QRCodePNG></VirtualMFADevice>\
             </CreateVirtualMFADeviceResult>",
            BASE64.encode(b"JBSWY3DPEHPK3PXP")
        );
        let device = new_device(Some(xml)).unwrap();
        assert_eq!(device.base32_seed, "JBSWY3DPEHPK3PXP");
        assert_eq!(device.qr_png_base64, "iVBORw==");
    }

    #[test]
    fn reads_users_their_tags_and_the_next_marker() {
        let xml = "<ListUsersResult><Users><member><Path>/a/</Path><UserName>bob</UserName><UserId>AIDA1</UserId>\
                   <Arn>arn:aws:iam::1:user/a/bob</Arn><CreateDate>2025-01-01T00:00:00Z</CreateDate></member></Users>\
                   <IsTruncated>true</IsTruncated><Marker>bob</Marker></ListUsersResult>";
        let (users, marker) = users(Some(xml.to_owned())).unwrap();
        assert_eq!((users[0].user_name.as_str(), users[0].path.as_str()), ("bob", "/a/"));
        assert_eq!(users[0].password_last_used, None);
        assert_eq!(marker.as_deref(), Some("bob"));
        let xml = "<GetUserResult><User><Path>/</Path><UserName>bob</UserName><UserId>AIDA1</UserId>\
                   <Arn>arn:aws:iam::1:user/bob</Arn><CreateDate>2025-01-01T00:00:00Z</CreateDate>\
                   <PasswordLastUsed>2025-01-02T00:00:00Z</PasswordLastUsed>\
                   <Tags><member><Key>team</Key><Value>&lt;b&gt;</Value></member></Tags></User></GetUserResult>";
        let user = user(Some(xml.to_owned())).unwrap();
        assert_eq!(user.password_last_used.as_deref(), Some("2025-01-02T00:00:00Z"));
        assert_eq!(user.tags(), vec![Tag { key: "team".to_owned(), value: "<b>".to_owned() }]);
    }

    #[test]
    fn decodes_the_credential_report() {
        let xml = format!(
            "<GetCredentialReportResult><Content>{}</Content><ReportFormat>text/csv</ReportFormat>\
             <GeneratedTime>2025-01-01T00:00:00Z</GeneratedTime></GetCredentialReportResult>",
            BASE64.encode(b"user,arn\nbob,x\n")
        );
        assert_eq!(credential_report(Some(xml)).unwrap(), "user,arn\nbob,x\n");
    }

    #[test]
    fn no_result_or_bad_xml_is_internal() {
        assert!(access_keys(None).is_err());
        assert!(access_keys(Some("<nope".to_owned())).is_err());
    }

    #[test]
    fn password_rules_in_words() {
        let xml = "<GetAccountPasswordPolicyResult><PasswordPolicy><MinimumPasswordLength>12</MinimumPasswordLength>\
                   <RequireSymbols>false</RequireSymbols><RequireNumbers>true</RequireNumbers>\
                   <RequireUppercaseCharacters>false</RequireUppercaseCharacters>\
                   <RequireLowercaseCharacters>false</RequireLowercaseCharacters>\
                   <AllowUsersToChangePassword>true</AllowUsersToChangePassword><ExpirePasswords>false</ExpirePasswords>\
                   </PasswordPolicy></GetAccountPasswordPolicyResult>";
        let policy = password_policy(Some(xml.to_owned())).unwrap();
        assert_eq!(policy.rules(), vec!["At least 12 characters", "At least one digit (0–9)"]);
    }
}
