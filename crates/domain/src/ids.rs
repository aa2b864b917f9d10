//! AWS-shaped identifiers: user ids (`AIDA…`), access key ids (`AKIA…`/`ASIA…`), secrets, ARNs.

use data_encoding::{BASE64, BASE64URL_NOPAD};

/// AWS ids use upper-case letters and digits after a four-letter prefix.
const ID_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn random_id(prefix: &str, random_chars: usize) -> String {
    let mut bytes = vec![0u8; random_chars];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    let mut id = String::with_capacity(prefix.len() + random_chars);
    id.push_str(prefix);
    id.extend(bytes.iter().map(|b| ID_ALPHABET[(b % 32) as usize] as char));
    id
}

/// A user id, `AIDA` + 17 characters (21 in all, like AWS's).
pub fn new_user_id() -> String {
    random_id("AIDA", 17)
}

/// A customer managed policy's id, `ANPA` + 17 characters (21 in all, like AWS's).
pub fn new_policy_id() -> String {
    random_id("ANPA", 17)
}

/// A group id, `AGPA` + 17 characters (21 in all, like AWS's).
pub fn new_group_id() -> String {
    random_id("AGPA", 17)
}

/// A role id, `AROA` + 17 characters (21 in all, like AWS's).
pub fn new_role_id() -> String {
    random_id("AROA", 17)
}

/// A long-term access key id, `AKIA` + 16 characters.
pub fn new_access_key_id() -> String {
    random_id("AKIA", 16)
}

/// A temporary (STS) access key id, `ASIA` + 16 characters.
pub fn new_session_key_id() -> String {
    random_id("ASIA", 16)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    bytes
}

/// An STS session token: 96 random bytes in base64 (AWS's tokens are long opaque base64 text).
pub fn new_session_token() -> String {
    BASE64.encode(&random_bytes::<96>())
}

/// Random bytes in a [`new_url_token`].
const URL_TOKEN_BYTES: usize = 32;

/// An unguessable token safe in cookies, URLs and form fields (console session ids, CSRF
/// tokens): 32 random bytes, base64url without padding.
pub fn new_url_token() -> String {
    BASE64URL_NOPAD.encode(&random_bytes::<URL_TOKEN_BYTES>())
}

/// Whether `value` has the shape of a [`new_url_token`].
pub fn is_url_token(value: &str) -> bool {
    value.len() == BASE64URL_NOPAD.encode_len(URL_TOKEN_BYTES) && BASE64URL_NOPAD.decode(value.as_bytes()).is_ok()
}

/// A 40-character secret access key (30 random bytes in base64, as AWS's look).
pub fn new_secret_access_key() -> String {
    BASE64.encode(&random_bytes::<30>())
}

pub fn user_arn(account_id: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account_id}:user{path}{name}")
}

pub fn group_arn(account_id: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account_id}:group{path}{name}")
}

/// A customer managed policy's ARN (AWS managed ones live in account `aws`).
pub fn policy_arn(account_id: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account_id}:policy{path}{name}")
}

pub fn role_arn(account_id: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account_id}:role{path}{name}")
}

/// A role session's ARN: the role's name without its path, then the session name.
pub fn assumed_role_arn(account_id: &str, role_name: &str, session_name: &str) -> String {
    format!("arn:aws:sts::{account_id}:assumed-role/{role_name}/{session_name}")
}

pub fn root_arn(account_id: &str) -> String {
    format!("arn:aws:iam::{account_id}:root")
}

/// A virtual MFA device's serial number is its ARN.
pub fn mfa_arn(account_id: &str, path: &str, device_name: &str) -> String {
    format!("arn:aws:iam::{account_id}:mfa{path}{device_name}")
}

/// A 12-digit account id.
pub fn new_account_id() -> String {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    bytes.iter().map(|b| char::from(b'0' + b % 10)).collect()
}

pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_shapes() {
        let user = new_user_id();
        assert!(user.starts_with("AIDA") && user.len() == 21);
        assert!(new_access_key_id().starts_with("AKIA") && new_access_key_id().len() == 20);
        assert!(new_session_key_id().starts_with("ASIA"));
        assert_eq!(new_secret_access_key().len(), 40);
        assert!(is_account_id(&new_account_id()));
        assert_ne!(new_user_id(), user);
        assert!(is_url_token(&new_url_token()) && !is_url_token("short"));
        assert_eq!(new_session_token().len(), 128);
    }

    #[test]
    fn arns() {
        assert_eq!(user_arn("123456789012", "/", "bob"), "arn:aws:iam::123456789012:user/bob");
        assert_eq!(
            mfa_arn("123456789012", "/test//double/", "alice"),
            "arn:aws:iam::123456789012:mfa/test//double/alice"
        );
        assert_eq!(root_arn("123456789012"), "arn:aws:iam::123456789012:root");
    }
}
