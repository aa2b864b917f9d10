//! A compiled policy: statements ready to be matched, built once by [`Policy::parse`].
//!
//! Compilation does the per-policy work so evaluation does only comparisons: action patterns
//! are lower-cased (actions are case-insensitive, spec §1.4), ARN patterns are split into their
//! six fields, wildcards become [`Glob`]s, condition values are parsed into their operator's
//! type, and policy variables are pre-split into templates.
//!
//! [`Policy::parse`]: crate::Policy::parse

use crate::arn::{RequestResource, ResourcePattern};
use crate::condition::Condition;
use crate::context::{Caller, PrincipalType, RequestContext};
use crate::glob::Glob;

/// Which rules a document is validated against (spec §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Inline or managed policies of users, groups and roles: no `Principal`, `Resource` required.
    Identity,
    /// A role's `AssumeRolePolicyDocument`: `Principal` required, `Resource` forbidden.
    Trust,
    /// Permissions boundaries and STS session policies: validated like identity policies.
    SessionOrBoundary,
}

/// The `Version` element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V2012_10_17,
    V2008_10_17,
    /// No `Version`: legacy rules, like 2008-10-17.
    Absent,
}

impl Version {
    /// Policy variables are recognised only under 2012-10-17 (spec §1.3).
    pub fn has_variables(self) -> bool {
        self == Version::V2012_10_17
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// 1-based line and column of a character in the submitted text (the simulator's
/// `StartPosition`/`EndPosition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

/// Where a statement's `{` and `}` are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: Position,
    pub end: Position,
}

/// One entry of a trust policy's `Principal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalId {
    /// `"*"` or `{"AWS": "*"}`: any authenticated principal.
    Any,
    /// `{"AWS": "123456789012"}` or `arn:aws:iam::123456789012:root`: any principal of the account.
    Account(String),
    /// A user, role, assumed-role session or federated-user ARN.
    Arn(String),
    /// The unique ID AWS shows once the named user/role was deleted (`AIDA…`, `AROA…`).
    UniqueId(String),
    Service(String),
    Federated(String),
    CanonicalUser(String),
}

/// How a trust-policy principal matched the caller. The distinction matters for AssumeRole:
/// naming the caller directly grants on its own, naming the account delegates to the caller's
/// identity policies (spec §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalMatch {
    Direct,
    Account,
}

impl PrincipalId {
    fn matches(&self, caller: &Caller) -> Option<PrincipalMatch> {
        let hit = match self {
            PrincipalId::Any => return Some(PrincipalMatch::Direct),
            PrincipalId::Account(a) => return (*a == caller.account).then_some(PrincipalMatch::Account),
            // A user ARN names the user (long-term keys or its GetSessionToken sessions); a
            // role ARN names every session of the role; a session ARN that one session.
            PrincipalId::Arn(arn) => {
                *arn == caller.arn
                    || (caller.principal_type == PrincipalType::AssumedRole && *arn == caller.principal_arn)
            }
            PrincipalId::UniqueId(id) => caller.principal_type != PrincipalType::Root && id == caller.unique_id(),
            // iamd has no service, web-identity/SAML or S3 canonical callers.
            PrincipalId::Service(_) | PrincipalId::Federated(_) | PrincipalId::CanonicalUser(_) => false,
        };
        hit.then_some(PrincipalMatch::Direct)
    }
}

/// `Action` or `NotAction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ActionMatcher {
    pub(crate) not: bool,
    /// As written, for display.
    pub(crate) raw: Vec<String>,
    /// Lower-cased, compiled.
    pub(crate) globs: Vec<Glob>,
    /// The lower-cased services the patterns name (`iam` of `iam:Get*`), when none has a
    /// wildcard before its `:`: a request for another service matches no pattern, which one
    /// comparison each tells (most statements of a policy are about other services).
    pub(crate) services: Option<Vec<Box<str>>>,
}

impl ActionMatcher {
    pub(crate) fn new(not: bool, raw: Vec<String>) -> ActionMatcher {
        let lower: Vec<String> = raw.iter().map(|a| a.to_ascii_lowercase()).collect();
        let services = lower
            .iter()
            .map(|a| a.split_once(':').map(|(service, _)| service).filter(|s| !s.contains(['*', '?'])))
            .map(|service| service.map(Box::from))
            .collect::<Option<Vec<Box<str>>>>();
        ActionMatcher { not, globs: lower.iter().map(|a| Glob::new(a)).collect(), raw, services }
    }

    /// Whether the statement's `Action` matches (or its `NotAction` does not). `action_lower` is
    /// lower-cased; `service_lower` its part before the `:`.
    pub(crate) fn matches(&self, action_lower: &str, service_lower: &str) -> bool {
        let any = match &self.services {
            Some(services) if !services.iter().any(|s| **s == *service_lower) => false,
            _ => self.globs.iter().any(|g| g.matches(action_lower)),
        };
        any != self.not
    }
}

/// `Resource` or `NotResource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourceMatcher {
    pub(crate) not: bool,
    pub(crate) raw: Vec<String>,
    pub(crate) patterns: Vec<ResourcePattern>,
}

/// One statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    /// Trust policies only.
    pub(crate) principals: Vec<PrincipalId>,
    pub(crate) actions: ActionMatcher,
    /// `None` in trust policies.
    pub(crate) resources: Option<ResourceMatcher>,
    pub(crate) conditions: Vec<Condition>,
    pub(crate) span: Option<Span>,
}

impl Statement {
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// Position in the submitted text.
    pub fn span(&self) -> Option<Span> {
        self.span
    }

    /// `Action`/`NotAction` values as written, and whether it is `NotAction`.
    pub fn actions(&self) -> (&[String], bool) {
        (&self.actions.raw, self.actions.not)
    }

    /// `Resource`/`NotResource` values as written, and whether it is `NotResource`.
    pub fn resources(&self) -> Option<(&[String], bool)> {
        self.resources.as_ref().map(|r| (r.raw.as_slice(), r.not))
    }

    pub fn principals(&self) -> &[PrincipalId] {
        &self.principals
    }

    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// `action_lower` must already be lower-cased; `service_lower` is its part before `:`.
    pub(crate) fn matches_action(&self, action_lower: &str, service_lower: &str) -> bool {
        self.actions.matches(action_lower, service_lower)
    }

    pub(crate) fn matches_resource(&self, resource: &RequestResource, ctx: &RequestContext) -> bool {
        match &self.resources {
            None => true,
            Some(r) => r.patterns.iter().any(|p| p.matches(resource, ctx)) != r.not,
        }
    }

    pub(crate) fn conditions_hold(&self, ctx: &RequestContext) -> bool {
        self.conditions.iter().all(|c| c.eval(ctx))
    }

    /// How the statement's `Principal` names the caller, if it does.
    pub fn principal_match(&self, caller: &Caller) -> Option<PrincipalMatch> {
        let mut best = None;
        for p in &self.principals {
            match p.matches(caller) {
                Some(PrincipalMatch::Direct) => return Some(PrincipalMatch::Direct),
                Some(PrincipalMatch::Account) => best = Some(PrincipalMatch::Account),
                None => {}
            }
        }
        best
    }
}

/// A parsed, validated and compiled policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub(crate) version: Version,
    pub(crate) kind: PolicyKind,
    pub(crate) statements: Vec<Statement>,
}

impl Policy {
    pub fn version(&self) -> Version {
        self.version
    }

    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }
}
