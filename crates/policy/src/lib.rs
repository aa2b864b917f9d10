//! The IAM policy language: documents parsed, validated and compiled once, then evaluated
//! against requests. Pure — no I/O, no clock (the request time is a context value).
//!
//! - [`parse`]: JSON → [`Policy`], rejecting what AWS rejects with its `MalformedPolicyDocument`
//!   texts ([`PolicyError`]).
//! - [`policy`]: the compiled form — statements, principals, spans for the simulator.
//! - [`condition`]: the condition operators, set qualifiers and `…IfExists` forms.
//! - [`context`]: the request context (typed condition-key values) and the [`Caller`].
//! - [`eval`]: the decision procedure — identity ∩ boundary ∩ session, explicit deny first;
//!   trust policies and `sts:AssumeRole`.
//! - [`keys`]: the context keys a policy uses (`GetContextKeysFor*Policy`, missing values).
//! - [`limits`]: size counting and the character set.
//! - internal: `glob` (wildcards), `arn` (field-wise ARN patterns), `template` (policy variables).
//!
//! Reference: `/work/shared/spec/aws-iam-policies.md` §1–§4 and §8. Decisions on its open
//! points: unresolvable variables follow the per-value rule (11.3 — the entry or value matches
//! nothing; negated operators count it as "not equal"); any `Sid` is accepted and uniqueness
//! is not enforced, unknown elements are rejected, JSON numbers and booleans are accepted as
//! condition values (11.7); AssumeRole trust that names the caller directly grants without an
//! identity allow, trust naming the account needs one (11.2). MFA in role sessions (11.1) is a
//! matter of which context the server builds; nothing here special-cases MFA keys.
//!
//! ## Why not `iam-rs`
//!
//! The issue asked to evaluate the `iam-rs` crate (0.8.0, MIT) first. It parses and evaluates
//! AWS-style policies, but did not pass against AWS's documented behaviour, nor is it built to be
//! fast:
//! - `ArnEquals` is plain string equality, while AWS documents `ArnEquals` = `ArnLike`, matched
//!   field by field with wildcards;
//! - a policy variable without a value becomes the empty string (so `user/${aws:username}` can
//!   match `user/`) instead of making the entry match nothing, and variables are substituted in
//!   legacy-version documents too, where AWS treats them as literal text;
//! - nothing is compiled: each evaluation lower-cases the action patterns, re-interpolates and
//!   re-parses every resource ARN and builds boxed predicate closures per condition;
//! - it has no notion of permissions boundaries or session policies, nor of which layer
//!   denied, which AWS's AccessDenied wording and the simulator need;
//! - its validation messages are its own, not AWS's `MalformedPolicyDocument` texts, and it pulls
//!   in `chrono` and `ipnet` where the workspace uses `time`.
//!
//! Fixing those would mean rewriting most of it, so this crate is written from the spec.

mod arn;
pub mod condition;
pub mod context;
pub mod error;
pub mod eval;
mod glob;
pub mod keys;
pub mod limits;
pub mod parse;
pub mod policy;
mod template;

pub use condition::{Condition, SetQualifier};
pub use context::{Caller, ContextValue, PrincipalType, RequestContext, Value};
pub use error::PolicyError;
pub use eval::{
    Decision, DenyReason, Evaluation, MatchedStatement, PolicySource, Request, TrustEvaluation, evaluate,
    evaluate_assume_role, evaluate_trust,
};
pub use keys::{context_keys, context_keys_of, missing_context_keys};
pub use limits::{is_valid_policy_charset, policy_size};
pub use policy::{Effect, Policy, PolicyKind, Position, PrincipalId, PrincipalMatch, Span, Statement, Version};

/// Whether `text` matches `pattern`, in which `*` matches any run of characters and `?` one
/// character, case-sensitively (IAM's wildcards, as the simulator's `PolicyExclusionList` uses
/// them).
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    glob::Glob::new(pattern).matches(text)
}
