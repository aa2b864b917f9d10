//! The decision procedure of spec §3.2, for one request against a principal's policy sets.
//!
//! Every applicable policy is scanned (there is no "first match"): any matching `Deny` is an
//! explicit deny; otherwise the request needs a matching `Allow` in the identity policies, in
//! the permissions boundary if there is one, and in the session policies if there are any —
//! the boundary and the session policies only ever narrow (§3.3). Root bypasses evaluation and
//! is the caller's business (§3.6), as are the actions that need no permission.
//!
//! The result names the layer that decided, so the server can write AWS's AccessDenied reason
//! (§3.8) and the simulator its `EvalDecision`/`MatchedStatements` (§7.2).

use crate::arn::RequestResource;
use crate::context::{Caller, RequestContext};
use crate::policy::{Effect, Policy, PrincipalMatch, Statement};

/// The action, resource and context being authorized.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    action: String,
    action_lower: String,
    resource: RequestResource,
    context: RequestContext,
}

impl Request {
    /// `action` is `service:Name` in any case; `resource` is the target ARN, or `*` for actions
    /// that take no resource (ListUsers…), which only `Resource: "*"` matches (§3.4).
    pub fn new(action: &str, resource: &str, context: RequestContext) -> Request {
        Request {
            action: action.to_string(),
            action_lower: action.to_ascii_lowercase(),
            resource: RequestResource::new(resource.to_string()),
            context,
        }
    }

    pub fn action(&self) -> &str {
        &self.action
    }

    pub fn resource(&self) -> &str {
        &self.resource.text
    }

    pub fn context(&self) -> &RequestContext {
        &self.context
    }

    pub fn context_mut(&mut self) -> &mut RequestContext {
        &mut self.context
    }

    /// Whether `statement` applies: action, resource (if the statement has one) and all
    /// conditions — cheapest test first.
    pub fn matches(&self, statement: &Statement) -> bool {
        self.matches_action(statement)
            && statement.matches_resource(&self.resource, &self.context)
            && statement.conditions_hold(&self.context)
    }

    pub(crate) fn matches_action(&self, statement: &Statement) -> bool {
        let service = self.action_lower.split_once(':').map_or(self.action_lower.as_str(), |(s, _)| s);
        statement.matches_action(&self.action_lower, service)
    }
}

/// The simulator's `EvalDecision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
}

impl Decision {
    /// `allowed` / `explicitDeny` / `implicitDeny`, as the simulator spells them.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allowed",
            Decision::ExplicitDeny => "explicitDeny",
            Decision::ImplicitDeny => "implicitDeny",
        }
    }
}

/// Which set of policies a statement came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySource {
    Identity,
    PermissionsBoundary,
    Session,
    /// A role's trust policy (the resource-based policy of `sts:AssumeRole`).
    Trust,
}

/// A statement that determined the decision: `policy` indexes the slice it was passed in
/// (the identity slice, the session slice; `0` for the boundary and the trust policy),
/// `statement` the policy's statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchedStatement {
    pub source: PolicySource,
    pub policy: usize,
    pub statement: usize,
    pub effect: Effect,
}

/// Why a request was refused; one AccessDenied wording each (§3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// A `Deny` matched in policies from this source (the first source in the order identity,
    /// boundary, session, trust).
    ExplicitDeny(PolicySource),
    NoIdentityAllow,
    NoBoundaryAllow,
    NoSessionAllow,
    /// `sts:AssumeRole`: the trust policy does not allow the caller.
    NoTrustAllow,
}

/// The outcome of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub decision: Decision,
    /// `None` exactly when allowed.
    pub reason: Option<DenyReason>,
    /// For an explicit deny, the matching `Deny` statements; when allowed, the matching `Allow`
    /// statements of every layer; empty for an implicit deny (§7.2).
    pub matched: Vec<MatchedStatement>,
    /// `Some` when a permissions boundary was evaluated: whether it allowed the request
    /// (`PermissionsBoundaryDecisionDetail.AllowedByPermissionsBoundary`).
    pub boundary_allowed: Option<bool>,
}

impl Evaluation {
    pub fn is_allowed(&self) -> bool {
        self.decision == Decision::Allow
    }

    /// The end of AWS's AccessDenied message for `action`, e.g. `because no identity-based
    /// policy allows the iam:GetUser action`. `None` when allowed, and for trust-policy refusals
    /// (AWS's AssumeRole denial carries no reason, §3.8).
    pub fn reason_text(&self, action: &str) -> Option<String> {
        Some(match self.reason? {
            DenyReason::ExplicitDeny(PolicySource::Identity) => {
                "with an explicit deny in an identity-based policy".to_string()
            }
            DenyReason::ExplicitDeny(PolicySource::PermissionsBoundary) => {
                "with an explicit deny in a permissions boundary".to_string()
            }
            DenyReason::ExplicitDeny(PolicySource::Session) => "with an explicit deny in a session policy".to_string(),
            DenyReason::ExplicitDeny(PolicySource::Trust) | DenyReason::NoTrustAllow => return None,
            DenyReason::NoIdentityAllow => format!("because no identity-based policy allows the {action} action"),
            DenyReason::NoBoundaryAllow => format!("because no permissions boundary allows the {action} action"),
            DenyReason::NoSessionAllow => format!("because no session policy allows the {action} action"),
        })
    }
}

/// Matching statements of one layer, split by effect.
#[derive(Default)]
struct Layer {
    allows: Vec<MatchedStatement>,
    denies: Vec<MatchedStatement>,
}

impl Layer {
    fn scan(&mut self, request: &Request, source: PolicySource, index: usize, policy: &Policy) {
        for (i, s) in policy.statements.iter().enumerate() {
            if request.matches(s) {
                let m = MatchedStatement { source, policy: index, statement: i, effect: s.effect };
                match s.effect {
                    Effect::Allow => self.allows.push(m),
                    Effect::Deny => self.denies.push(m),
                }
            }
        }
    }
}

/// Authorizes `request` for a principal with these identity policies (user + its groups', or
/// the role's), optional permissions boundary, and session policies (empty: not a session, or a
/// session created without any — no restriction).
pub fn evaluate(
    request: &Request,
    identity_policies: &[&Policy],
    boundary: Option<&Policy>,
    session_policies: &[&Policy],
) -> Evaluation {
    let mut identity = Layer::default();
    for (i, p) in identity_policies.iter().enumerate() {
        identity.scan(request, PolicySource::Identity, i, p);
    }
    let mut bound = Layer::default();
    if let Some(b) = boundary {
        bound.scan(request, PolicySource::PermissionsBoundary, 0, b);
    }
    let mut session = Layer::default();
    for (i, p) in session_policies.iter().enumerate() {
        session.scan(request, PolicySource::Session, i, p);
    }
    let boundary_allowed = boundary.map(|_| bound.denies.is_empty() && !bound.allows.is_empty());
    decide(identity, bound, session, boundary.is_some(), !session_policies.is_empty(), boundary_allowed)
}

fn decide(
    identity: Layer,
    bound: Layer,
    session: Layer,
    has_boundary: bool,
    has_session: bool,
    boundary_allowed: Option<bool>,
) -> Evaluation {
    let deny_source = [
        (&identity, PolicySource::Identity),
        (&bound, PolicySource::PermissionsBoundary),
        (&session, PolicySource::Session),
    ]
    .into_iter()
    .find(|(l, _)| !l.denies.is_empty())
    .map(|(_, s)| s);
    if let Some(source) = deny_source {
        let matched = [identity.denies, bound.denies, session.denies].concat();
        return Evaluation {
            decision: Decision::ExplicitDeny,
            reason: Some(DenyReason::ExplicitDeny(source)),
            matched,
            boundary_allowed,
        };
    }
    let implicit = |reason| Evaluation {
        decision: Decision::ImplicitDeny,
        reason: Some(reason),
        matched: Vec::new(),
        boundary_allowed,
    };
    if identity.allows.is_empty() {
        return implicit(DenyReason::NoIdentityAllow);
    }
    if has_boundary && bound.allows.is_empty() {
        return implicit(DenyReason::NoBoundaryAllow);
    }
    if has_session && session.allows.is_empty() {
        return implicit(DenyReason::NoSessionAllow);
    }
    Evaluation {
        decision: Decision::Allow,
        reason: None,
        matched: [identity.allows, bound.allows, session.allows].concat(),
        boundary_allowed,
    }
}

/// A trust policy's verdict on a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustEvaluation {
    pub decision: Decision,
    /// Indexes of the statements that decided (denies for a deny, allows for an allow).
    pub matched: Vec<usize>,
    /// When allowed: whether some allowing statement named the caller directly, or only its
    /// account (then the caller's identity policies must also allow, §6.3).
    pub principal: Option<PrincipalMatch>,
}

/// Evaluates a role trust policy (a resource-based policy) for `caller` doing `request`
/// (normally `sts:AssumeRole`, plus `sts:TagSession`… when the server checks those). A
/// statement applies when its `Principal` names the caller, its action matches and its
/// conditions — which see the caller's context — hold.
pub fn evaluate_trust(trust: &Policy, caller: &Caller, request: &Request) -> TrustEvaluation {
    let (mut allows, mut denies) = (Vec::new(), Vec::new());
    let mut principal = None;
    for (i, s) in trust.statements.iter().enumerate() {
        let Some(pm) = s.principal_match(caller) else { continue };
        if !request.matches(s) {
            continue;
        }
        match s.effect {
            Effect::Deny => denies.push(i),
            Effect::Allow => {
                allows.push(i);
                if principal != Some(PrincipalMatch::Direct) {
                    principal = Some(pm);
                }
            }
        }
    }
    if !denies.is_empty() {
        TrustEvaluation { decision: Decision::ExplicitDeny, matched: denies, principal: None }
    } else if allows.is_empty() {
        TrustEvaluation { decision: Decision::ImplicitDeny, matched: allows, principal: None }
    } else {
        TrustEvaluation { decision: Decision::Allow, matched: allows, principal }
    }
}

/// `sts:AssumeRole` in one account (§6.3): no explicit deny anywhere (caller's policies or the
/// trust policy), the trust policy allows the caller, and — when it names only the caller's
/// account — the caller's own policies allow the action too. The caller's boundary and session
/// policies therefore limit account-delegated trust but not trust naming the caller directly,
/// as the spec's iamd rule says (open point 11.2).
pub fn evaluate_assume_role(
    request: &Request,
    caller: &Caller,
    trust: &Policy,
    identity_policies: &[&Policy],
    boundary: Option<&Policy>,
    session_policies: &[&Policy],
) -> Evaluation {
    let own = evaluate(request, identity_policies, boundary, session_policies);
    let t = evaluate_trust(trust, caller, request);
    let trust_matched = |effect| {
        t.matched.iter().map(move |&i| MatchedStatement {
            source: PolicySource::Trust,
            policy: 0,
            statement: i,
            effect,
        })
    };
    if own.decision == Decision::ExplicitDeny {
        let mut own = own;
        if t.decision == Decision::ExplicitDeny {
            own.matched.extend(trust_matched(Effect::Deny));
        }
        return own;
    }
    match (t.decision, t.principal) {
        (Decision::ExplicitDeny, _) => Evaluation {
            decision: Decision::ExplicitDeny,
            reason: Some(DenyReason::ExplicitDeny(PolicySource::Trust)),
            matched: trust_matched(Effect::Deny).collect(),
            boundary_allowed: own.boundary_allowed,
        },
        (Decision::Allow, Some(PrincipalMatch::Direct)) => {
            let mut matched: Vec<_> = trust_matched(Effect::Allow).collect();
            matched.extend(own.matched);
            Evaluation { decision: Decision::Allow, reason: None, matched, boundary_allowed: own.boundary_allowed }
        }
        (Decision::Allow, _) if own.is_allowed() => {
            let mut matched: Vec<_> = trust_matched(Effect::Allow).collect();
            matched.extend(own.matched);
            Evaluation { decision: Decision::Allow, reason: None, matched, boundary_allowed: own.boundary_allowed }
        }
        (Decision::Allow, _) => own,
        _ => Evaluation {
            decision: Decision::ImplicitDeny,
            reason: Some(DenyReason::NoTrustAllow),
            matched: Vec::new(),
            boundary_allowed: own.boundary_allowed,
        },
    }
}
