//! Authorization: may this caller perform this action on this resource?
//!
//! One decision per request, taken by `ops::dispatch` before any handler runs, from data:
//! - [`requests`] says, for every operation (an exhaustive match, so a new operation cannot be
//!   forgotten), which IAM action it is, which resource ARN its input names, and the request
//!   context it contributes (condition keys such as `aws:RequestTag/…`);
//! - [`decide`] answers Allow / ExplicitDeny / ImplicitDeny for a caller and such a request;
//! - [`authorize`] turns a deny into AWS's `AccessDenied` text.
//!
//! Until IAM policies exist, [`decide`] applies iamd's built-in rule: root may do anything in its
//! account, and an IAM user may do what AWS's documented self-service policy lets a user do to
//! itself ([`self_service`]). The policy engine replaces the body of [`decide`], nothing else.

mod requests;
mod self_service;

pub use requests::request_for;

use iamd_domain::{ApiError, ErrorCode};
use iamd_model::Action;

use crate::caller::{Caller, Principal};

/// What a request asks to do, as authorization sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub action: Action,
    /// The resource ARN the input names (`*` for account-wide actions).
    pub resource: String,
    /// Condition keys the operation contributes, with their values.
    pub context: Context,
}

/// Request-specific condition keys and their values (`aws:TagKeys` → every key, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    entries: Vec<(String, Vec<String>)>,
}

impl Context {
    pub fn insert(&mut self, key: impl Into<String>, values: Vec<String>) {
        self.entries.push((key.into(), values));
    }

    /// The values of `key` (condition keys compare without regard to case, as on AWS).
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.entries.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_slice())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A statement denies it.
    ExplicitDeny,
    /// Nothing allows it.
    ImplicitDeny,
}

/// The decision for `caller` asking for `request`.
pub fn decide(caller: &Caller, request: &Request) -> Decision {
    match &caller.principal {
        Principal::Root => Decision::Allow,
        Principal::User(user) if self_service::allows(caller, user, request) => Decision::Allow,
        Principal::User(_) => Decision::ImplicitDeny,
    }
}

/// `Ok` if the caller may do what `request` asks; AWS's `AccessDenied` otherwise.
pub fn authorize(caller: &Caller, request: &Request) -> Result<(), ApiError> {
    match decide(caller, request) {
        Decision::Allow => Ok(()),
        Decision::ExplicitDeny | Decision::ImplicitDeny => Err(ApiError::new(
            ErrorCode::AccessDenied,
            format!(
                "User: {} is not authorized to perform: {} on resource: {}",
                caller.arn(),
                request.action.iam_action(),
                request.resource
            ),
        )),
    }
}
