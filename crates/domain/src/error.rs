//! AWS error codes and messages. The HTTP status and the Sender/Receiver fault are the wire
//! layer's business; the domain only says *what* went wrong, in AWS's words.

use std::fmt;

/// The AWS error codes iamd answers with (the model's `error.code`, not the shape name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    AccessDenied,
    ConcurrentModification,
    DeleteConflict,
    EntityAlreadyExists,
    EntityTemporarilyUnmodifiable,
    ExpiredToken,
    IncompleteSignature,
    InvalidAction,
    InvalidAuthenticationCode,
    InvalidClientTokenId,
    InvalidInput,
    InvalidUserType,
    LimitExceeded,
    MissingAction,
    MissingAuthenticationToken,
    NoSuchEntity,
    PasswordPolicyViolation,
    RequestExpired,
    ServiceFailure,
    ServiceUnavailable,
    SignatureDoesNotMatch,
    ValidationError,
}

impl ErrorCode {
    /// Every code, for tables that must cover them all.
    pub const ALL: [ErrorCode; 22] = {
        use ErrorCode::*;
        [
            AccessDenied,
            ConcurrentModification,
            DeleteConflict,
            EntityAlreadyExists,
            EntityTemporarilyUnmodifiable,
            ExpiredToken,
            IncompleteSignature,
            InvalidAction,
            InvalidAuthenticationCode,
            InvalidClientTokenId,
            InvalidInput,
            InvalidUserType,
            LimitExceeded,
            MissingAction,
            MissingAuthenticationToken,
            NoSuchEntity,
            PasswordPolicyViolation,
            RequestExpired,
            ServiceFailure,
            ServiceUnavailable,
            SignatureDoesNotMatch,
            ValidationError,
        ]
    };

    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            AccessDenied => "AccessDenied",
            ConcurrentModification => "ConcurrentModification",
            DeleteConflict => "DeleteConflict",
            EntityAlreadyExists => "EntityAlreadyExists",
            EntityTemporarilyUnmodifiable => "EntityTemporarilyUnmodifiable",
            ExpiredToken => "ExpiredToken",
            IncompleteSignature => "IncompleteSignature",
            InvalidAction => "InvalidAction",
            InvalidAuthenticationCode => "InvalidAuthenticationCode",
            InvalidClientTokenId => "InvalidClientTokenId",
            InvalidInput => "InvalidInput",
            InvalidUserType => "InvalidUserType",
            LimitExceeded => "LimitExceeded",
            MissingAction => "MissingAction",
            MissingAuthenticationToken => "MissingAuthenticationToken",
            NoSuchEntity => "NoSuchEntity",
            PasswordPolicyViolation => "PasswordPolicyViolation",
            RequestExpired => "RequestExpired",
            ServiceFailure => "ServiceFailure",
            ServiceUnavailable => "ServiceUnavailable",
            SignatureDoesNotMatch => "SignatureDoesNotMatch",
            ValidationError => "ValidationError",
        }
    }
}

/// An error as the client will see it: a code and AWS's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    pub fn no_such_user(name: &str) -> Self {
        Self::new(ErrorCode::NoSuchEntity, format!("The user with name {name} cannot be found."))
    }

    pub fn no_such_mfa_device(serial: &str) -> Self {
        Self::new(ErrorCode::NoSuchEntity, format!("MFA Device with serial number {serial} does not exist."))
    }

    pub fn invalid_authentication_code() -> Self {
        Self::new(ErrorCode::InvalidAuthenticationCode, "Authentication code for device is not valid.")
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationError, message)
    }

    pub fn quota(name: &str, limit: u32) -> Self {
        Self::new(ErrorCode::LimitExceeded, format!("Cannot exceed quota for {name}: {limit}"))
    }

    /// The one error every internal failure becomes: details go to the log, never to the client.
    pub fn service_failure() -> Self {
        Self::new(
            ErrorCode::ServiceFailure,
            "The request processing has failed because of an unknown error, exception or failure.",
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}
