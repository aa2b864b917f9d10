//! Console passwords: Argon2id hashing and the account password policy.
//!
//! Hashing is deliberately slow (OWASP baseline parameters); callers run it off the async
//! runtime.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};

/// An account's password policy, with AWS's field meanings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub minimum_length: u32,
    pub require_symbols: bool,
    pub require_numbers: bool,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    pub allow_users_to_change_password: bool,
    /// Days; `None` means passwords never expire.
    pub max_password_age: Option<u32>,
    pub password_reuse_prevention: Option<u32>,
    pub hard_expiry: Option<bool>,
}

impl Default for PasswordPolicy {
    /// What UpdateAccountPasswordPolicy sets for a field the request leaves out.
    fn default() -> Self {
        Self {
            minimum_length: 6,
            require_symbols: false,
            require_numbers: false,
            require_uppercase: false,
            require_lowercase: false,
            allow_users_to_change_password: false,
            max_password_age: None,
            password_reuse_prevention: None,
            hard_expiry: None,
        }
    }
}

/// AWS's symbol set for password policies.
const SYMBOLS: &str = "!@#$%^&*()_+-=[]{}|'";

/// Checks a new password against the account's custom policy, or against AWS's default rules
/// when the account has none (at least 8 characters, at least three of upper case, lower case,
/// digits and symbols, and not the user's name).
pub fn conforms(policy: Option<&PasswordPolicy>, password: &str, user_name: &str) -> bool {
    let has_upper = password.chars().any(|c| c.is_ascii_uppercase());
    let has_lower = password.chars().any(|c| c.is_ascii_lowercase());
    let has_digit = password.chars().any(|c| c.is_ascii_digit());
    let has_symbol = password.chars().any(|c| SYMBOLS.contains(c));
    let length = password.chars().count();
    match policy {
        Some(p) => {
            length >= p.minimum_length as usize
                && (!p.require_uppercase || has_upper)
                && (!p.require_lowercase || has_lower)
                && (!p.require_numbers || has_digit)
                && (!p.require_symbols || has_symbol)
        }
        None => {
            let kinds = [has_upper, has_lower, has_digit, has_symbol].iter().filter(|k| **k).count();
            length >= 8 && kinds >= 3 && !password.eq_ignore_ascii_case(user_name)
        }
    }
}

/// An Argon2id PHC string with a random salt.
pub fn hash(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .expect("Argon2 with default parameters hashes any password")
        .to_string()
}

/// Whether `password` matches the stored PHC string (constant time inside argon2).
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, for verifying against when the user does not exist, so that an
/// unknown user takes as long to refuse as a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("decoy password that matches nothing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let stored = hash("Correct-Horse-9");
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("Correct-Horse-9", &stored));
        assert!(!verify("correct-horse-9", &stored));
        assert!(!verify("x", "not a phc string"));
        assert_ne!(hash("same"), hash("same"), "salted");
    }

    #[test]
    fn default_rules() {
        assert!(conforms(None, "Abcdefg1", "bob"));
        assert!(!conforms(None, "Abcdef1", "bob"), "too short");
        assert!(!conforms(None, "abcdefgh1", "bob"), "two kinds only");
        assert!(conforms(None, "abcdefg1!", "bob"));
        assert!(!conforms(None, "Bob12345!", "bob12345!"), "same as the user name");
    }

    #[test]
    fn custom_policy() {
        let policy = PasswordPolicy {
            minimum_length: 10,
            require_symbols: true,
            require_numbers: true,
            ..PasswordPolicy::default()
        };
        assert!(conforms(Some(&policy), "aaaaaaaa1!", "bob"));
        assert!(!conforms(Some(&policy), "aaaaaaaaa1", "bob"), "no symbol");
        assert!(!conforms(Some(&policy), "aaaaaaa1!", "bob"), "too short");
        assert!(conforms(Some(&PasswordPolicy::default()), "simple", "bob"));
    }
}
