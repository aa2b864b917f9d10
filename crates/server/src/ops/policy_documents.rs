//! Policy documents on the wire, for every operation that takes or returns one (inline policies
//! of users and groups, managed-policy versions): validation with AWS's `MalformedPolicyDocument`
//! texts, and the URL-encoded form AWS returns documents in.

use iamd_domain::{ApiError, ErrorCode};
use iamd_policy::{Policy, PolicyKind};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Checks `document` as a policy of `kind` (identity policies: `PolicyKind::Identity`), answering
/// `MalformedPolicyDocument` (400) with the policy crate's AWS text when it is refused.
pub fn validate(document: &str, kind: PolicyKind) -> Result<Policy, ApiError> {
    Policy::parse(document, kind).map_err(|e| ApiError::new(ErrorCode::MalformedPolicyDocument, e.message))
}

/// Checks a managed-policy document (`CreatePolicy`, `CreatePolicyVersion`): an identity policy
/// whose `Version` is `2012-10-17`.
pub fn validate_managed(document: &str) -> Result<Policy, ApiError> {
    Policy::parse_managed(document).map_err(|e| ApiError::new(ErrorCode::MalformedPolicyDocument, e.message))
}

/// A document as AWS returns it in `PolicyDocument` members: percent-encoded per RFC 3986 (every
/// byte of the UTF-8 text but `A–Z a–z 0–9 - . _ ~` as `%XX`, a space as `%20`, never `+`).
/// botocore `unquote`s it and parses the JSON; the CLI and SDKs that do not, show it encoded,
/// exactly as AWS's do.
pub fn encode(document: &str) -> String {
    utf8_percent_encode(document, RFC3986_RESERVED).to_string()
}

/// Everything but RFC 3986's unreserved characters.
const RFC3986_RESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_rfc_3986() {
        assert_eq!(
            encode("{\"Version\": \"2012-10-17\", \"A\": \"s3:Get*\" + é~}"),
            "%7B%22Version%22%3A%20%222012-10-17%22%2C%20%22A%22%3A%20%22s3%3AGet%2A%22%20%2B%20%C3%A9~%7D"
        );
        assert_eq!(encode("a\nb\tc"), "a%0Ab%09c");
    }

    #[test]
    fn refuses_with_aws_code_and_text() {
        let e = validate("not json", PolicyKind::Identity).unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedPolicyDocument);
        assert_eq!(e.message, "Syntax errors in policy.");
        let with_principal = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}"#;
        assert_eq!(
            validate(with_principal, PolicyKind::Identity).unwrap_err().message,
            "Policy document should not specify a principal."
        );
        let ok = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        assert!(validate(ok, PolicyKind::Identity).is_ok());
        assert!(validate_managed(r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#).is_err());
    }
}
