//! `MalformedPolicyDocument`: the one error a policy document can earn, with AWS's wording.
//!
//! The messages are the API strings recorded from AWS (spec §2.2). Where AWS's text is unknown
//! the spec says to answer `Syntax errors in policy.`; the few extrapolations are marked.

/// A policy document AWS would refuse. `message` is the exact text for the error response;
/// the code is always `MalformedPolicyDocument` (HTTP 400), or `InvalidInput` when the
/// simulator APIs reject a document (spec §2.1) — the caller picks the code, the text is shared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PolicyError {
    pub message: String,
}

impl PolicyError {
    /// The AWS error code for documents passed to the Create/Put/Update/AssumeRole operations.
    pub const CODE: &'static str = "MalformedPolicyDocument";

    fn new(message: impl Into<String>) -> Self {
        PolicyError { message: message.into() }
    }

    /// Not JSON, `null`, a missing/`null` `Statement`, unknown elements or operators, and every
    /// case AWS's text is not recorded for.
    pub fn syntax() -> Self {
        Self::new("Syntax errors in policy.")
    }

    /// A bad `Version` value or an element of the wrong JSON type.
    pub fn legacy_parsing() -> Self {
        Self::new("The policy failed legacy parsing")
    }

    /// Managed policies (`CreatePolicy`, `CreatePolicyVersion`) need `2012-10-17`.
    pub fn version_too_old() -> Self {
        Self::new("Policy document must be version 2012-10-17 or greater.")
    }

    pub fn principal_not_allowed() -> Self {
        Self::new("Policy document should not specify a principal.")
    }

    pub fn missing_resources() -> Self {
        Self::new("Policy statement must contain resources.")
    }

    pub fn missing_actions() -> Self {
        Self::new("Policy statement must contain actions.")
    }

    /// `field` is `Resource`, or — by extrapolation of the same wording — `NotResource` /
    /// `NotPrincipal`.
    pub fn prohibited_field(field: &str) -> Self {
        Self::new(format!("Has prohibited field {field}"))
    }

    pub fn no_principals() -> Self {
        Self::new(
            "Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException: \
             The passed in policy has a statement with no principals!",
        )
    }

    /// A principal AWS would not accept (malformed, partial wildcard) or — raised by the server
    /// after its lookup — one naming a user/role that does not exist.
    pub fn invalid_principal(kind: &str, value: &str) -> Self {
        Self::new(format!("Invalid principal in policy: \"{kind}\":\"{value}\""))
    }

    pub fn too_many_colons() -> Self {
        Self::new("Actions/Condition can contain only one colon.")
    }

    pub fn resource_not_arn(value: &str) -> Self {
        Self::new(format!("Resource {value} must be in ARN format or \"*\"."))
    }
}
