//! Secrets at rest: TOTP seeds and secret access keys are sealed with AES-256-GCM under the
//! master key, with the owning identifier (device serial, access key id) as associated data, so a
//! sealed value copied onto another row fails to open.
//!
//! Sealed layout: `version (1 byte) ‖ nonce (12 bytes) ‖ ciphertext+tag`. The version byte leaves
//! room for key rotation.

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use data_encoding::HEXLOWER_PERMISSIVE;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed value does not open with this master key (wrong key, or tampered data)")]
    WrongKeyOrTampered,
    #[error("master key must be 32 bytes, given as 64 hex characters")]
    BadKey,
}

/// The 256-bit key that seals every secret. Its Debug output hides the key.
#[derive(Clone)]
pub struct MasterKey {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(…)")
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self { cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(*bytes)) }
    }

    /// Parses 64 hex characters (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self, SealError> {
        let bytes = HEXLOWER_PERMISSIVE.decode(text.trim().as_bytes()).map_err(|_| SealError::BadKey)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| SealError::BadKey)?;
        Ok(Self::from_bytes(&bytes))
    }

    /// A new random key and its hex form (for writing to the key file).
    pub fn generate() -> (Self, String) {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        (Self::from_bytes(&bytes), HEXLOWER_PERMISSIVE.encode(&bytes))
    }

    pub fn seal(&self, plaintext: &[u8], associated: &str) -> Vec<u8> {
        let nonce = Nonce::generate();
        let ciphertext = self
            .cipher
            .encrypt(&nonce, Payload { msg: plaintext, aad: associated.as_bytes() })
            .expect("AES-GCM encryption of a short secret cannot fail");
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    pub fn open(&self, sealed: &[u8], associated: &str) -> Result<Vec<u8>, SealError> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != VERSION {
            return Err(SealError::Malformed);
        }
        let nonce = Nonce::try_from(&sealed[1..1 + NONCE_LEN]).map_err(|_| SealError::Malformed)?;
        self.cipher
            .decrypt(&nonce, Payload { msg: &sealed[1 + NONCE_LEN..], aad: associated.as_bytes() })
            .map_err(|_| SealError::WrongKeyOrTampered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let (key, hex) = MasterKey::generate();
        let sealed = key.seal(b"seed bytes", "arn:aws:iam::1:mfa/a");
        assert!(!sealed.windows(10).any(|w| w == b"seed bytes"), "plaintext not visible");
        assert_eq!(key.open(&sealed, "arn:aws:iam::1:mfa/a").unwrap(), b"seed bytes");
        assert_eq!(key.open(&sealed, "arn:aws:iam::1:mfa/b"), Err(SealError::WrongKeyOrTampered));
        let (other, _) = MasterKey::generate();
        assert_eq!(other.open(&sealed, "arn:aws:iam::1:mfa/a"), Err(SealError::WrongKeyOrTampered));
        let again = MasterKey::from_hex(&hex).unwrap();
        assert_eq!(again.open(&sealed, "arn:aws:iam::1:mfa/a").unwrap(), b"seed bytes");
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(key.open(&tampered, "arn:aws:iam::1:mfa/a"), Err(SealError::WrongKeyOrTampered));
        assert_eq!(key.open(&sealed[..5], "x"), Err(SealError::Malformed));
        assert!(MasterKey::from_hex("abcd").is_err());
        assert_ne!(key.seal(b"x", "a"), key.seal(b"x", "a"), "fresh nonce each time");
    }
}
