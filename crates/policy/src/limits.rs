//! Document size and character-set rules (spec §1.1, §2.3). Enforcing them, and choosing the
//! `LimitExceeded` wording, is the caller's business; these only measure.

/// All inline policies of a user, summed.
pub const USER_INLINE_POLICY_SIZE: usize = 2048;
/// All inline policies of a group, summed.
pub const GROUP_INLINE_POLICY_SIZE: usize = 5120;
/// All inline policies of a role, summed.
pub const ROLE_INLINE_POLICY_SIZE: usize = 10240;
/// One managed-policy version (`PolicySize`).
pub const MANAGED_POLICY_SIZE: usize = 6144;
/// A role trust policy (`ACLSizePerRole`).
pub const TRUST_POLICY_SIZE: usize = 2048;
/// An STS inline session policy.
pub const SESSION_POLICY_SIZE: usize = 2048;

/// A document's size as AWS counts it against the quotas: characters, white space not counted
/// ("IAM doesn't count white space when calculating the size of a policy"). Every white-space
/// character counts as white space, inside JSON strings too — the quota text makes no
/// exception.
pub fn policy_size(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

/// The model's `policyDocumentType` pattern `[\u0009\u000A\u000D\u0020-\u00FF]+`: text outside
/// it is a `ValidationError` before any JSON parsing.
pub fn is_valid_policy_charset(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FF}'))
}
