//! The IAM domain: the rules iamd enforces, free of HTTP and storage.
//!
//! - [`totp`]: RFC 6238 codes and the three checks built on them (enable/resync pair search,
//!   one-time sign-in verification with drift tracking).
//! - [`mfa`]: virtual MFA devices — seeds, the `otpauth://` URI and its QR PNG.
//! - [`ids`]: AWS-shaped identifiers and ARNs.
//! - [`sealing`]: encryption of secrets at rest under the master key.
//! - [`error`]: the AWS error vocabulary every layer speaks.
//!
//! Time is always an argument (`now`), never read here, so tests can walk through time.

pub mod entities;
pub mod error;
#[rustfmt::skip]
mod error_codes;
pub mod ids;
pub mod mfa;
pub mod password;
pub mod sealing;
pub mod throttle;
pub mod totp;

pub use error::{ApiError, ErrorCode};

/// Where "now" comes from. Production reads the system clock; tests pin or move it.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> time::OffsetDateTime;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc()
    }
}
