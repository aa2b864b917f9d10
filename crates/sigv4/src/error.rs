//! Authentication failures, each mapped to the error code AWS returns for it.

use std::fmt;

/// The standard AWS text for a signature that does not verify.
pub(crate) const MISMATCH_MESSAGE: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// Why a request failed SigV4 authentication.
///
/// `Display` is the message for the `<Message>` element of the AWS error
/// response, and [`SigError::code`] the `<Code>`. Messages may echo parts of
/// the request (as AWS does), so the response writer must XML-escape them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// Neither an `Authorization` header nor an `X-Amz-Algorithm` query
    /// parameter: the request is anonymous.
    #[error("Request is missing Authentication Token")]
    MissingAuthenticationToken,

    /// The authentication data is present but malformed or incomplete
    /// (missing parameters, bad credential scope, bad date, unsupported
    /// algorithm, `host` not signed, ...).
    #[error("{0}")]
    IncompleteSignature(String),

    /// The access key id (or session token) is not known. This crate never
    /// produces it itself, since it does not look keys up; it exists so that
    /// callers can report a failed key lookup through the same type.
    #[error("The security token included in the request is invalid.")]
    InvalidClientTokenId,

    /// The signature is wrong, or the header-signed request's timestamp is
    /// outside the allowed clock skew (AWS IAM and STS report skew with this
    /// code and a "Signature expired: ..." message; SDKs key their clock-skew
    /// correction on it).
    #[error("{0}")]
    SignatureDoesNotMatch(String),

    /// A pre-signed request used after `X-Amz-Date + X-Amz-Expires`.
    ///
    /// AWS is not consistent here (IAM's documented common errors say
    /// `RequestExpired`, S3 says `AccessDenied`); we follow the IAM
    /// documentation.
    #[error("{0}")]
    RequestExpired(String),
}

impl SigError {
    /// The AWS error code, e.g. `"SignatureDoesNotMatch"`.
    pub fn code(&self) -> &'static str {
        match self {
            SigError::MissingAuthenticationToken => "MissingAuthenticationToken",
            SigError::IncompleteSignature(_) => "IncompleteSignature",
            SigError::InvalidClientTokenId => "InvalidClientTokenId",
            SigError::SignatureDoesNotMatch(_) => "SignatureDoesNotMatch",
            SigError::RequestExpired(_) => "RequestExpired",
        }
    }

    /// The HTTP status AWS IAM/STS use for this error.
    pub fn http_status(&self) -> u16 {
        match self {
            SigError::IncompleteSignature(_) | SigError::RequestExpired(_) => 400,
            SigError::MissingAuthenticationToken
            | SigError::InvalidClientTokenId
            | SigError::SignatureDoesNotMatch(_) => 403,
        }
    }

    /// The plain "signature does not match" error.
    pub fn mismatch() -> Self {
        SigError::SignatureDoesNotMatch(MISMATCH_MESSAGE.to_owned())
    }

    pub(crate) fn incomplete(msg: impl fmt::Display) -> Self {
        SigError::IncompleteSignature(msg.to_string())
    }
}
