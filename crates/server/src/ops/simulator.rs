//! The policy simulator: SimulatePrincipalPolicy, SimulateCustomPolicy,
//! GetContextKeysForPrincipalPolicy, GetContextKeysForCustomPolicy.
//!
//! The same evaluation as every request (`iamd_policy::evaluate`: identity policies within the
//! boundary, explicit deny first), run over policies the caller names: a user's (its own and its
//! groups'), a group's or a role's, plus `PolicyInputList`, or only the given documents. The
//! context holds what the caller supplies in `ContextEntries`, the simulated principal's keys
//! (`aws:username`, `aws:userid`, `aws:PrincipalArn`, …, from the source or `CallerArn`) and the
//! time; every other key is absent, so a policy needing it reports it in `MissingContextValues`.
//! One result per action and resource, each resource also in `ResourceSpecificResults` (AWS's
//! historical shape, which boto3 and the CLI show). Resource-based policies are not simulated.

use iamd_domain::entities::{AWS_MANAGED_ACCOUNT, Tag as EntityTag};
use iamd_domain::{ApiError, ErrorCode, ids};
use iamd_policy::{ContextValue, Evaluation, MatchedStatement, Policy, PolicyKind, PolicySource, RequestContext};
use iamd_store::{Holder, StoreError};
use serde::Serialize;

use super::groups::no_such_group;
use super::roles::no_such_role;
use super::{Ctx, Reply, pagination};
use crate::failure::store_failure;
use crate::wire::params::Params;
use crate::wire::shapes::{Members, Truncation};

fn invalid_input(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidInput, message)
}

/// A policy as the simulator names it in `MatchedStatements`, and what a `PolicyExclusionList`
/// entry can select it by.
struct Labelled {
    policy: Policy,
    id: String,
    /// `user`, `group`, `role` (inline policies), `aws-managed`, `user-managed` or `none`.
    kind: &'static str,
    /// Managed policies: the ARN.
    arn: Option<String>,
    /// Inline policies: the name of the user, group or role holding it.
    holder: Option<String>,
}

/// One `PolicyExclusionList` entry: exactly one of a policy type, a managed policy ARN (with
/// wildcards in its name) or an inline policy by name, holder kind and holder name (wildcards).
enum Exclusion {
    Type(String),
    Arn(String),
    Inline { policy: String, kind: String, holder: String },
}

impl Exclusion {
    fn all(p: &Params) -> Vec<Exclusion> {
        let mut out = Vec::new();
        for n in 1.. {
            let at = |field: &str| p.get(&format!("PolicyExclusionList.member.{n}.{field}")).map(str::to_owned);
            let inline = |field: &str| at(&format!("InlinePolicyIdentifier.{field}"));
            let entry = match (at("PolicyType"), at("PolicyArn"), inline("PolicyName")) {
                (Some(kind), _, _) => Exclusion::Type(kind),
                (None, Some(arn), _) => Exclusion::Arn(arn),
                (None, None, Some(policy)) => Exclusion::Inline {
                    policy,
                    kind: inline("AttachmentType").unwrap_or_default(),
                    holder: inline("AttachmentName").unwrap_or_default(),
                },
                (None, None, None) => break,
            };
            out.push(entry);
        }
        out
    }

    fn excludes(&self, l: &Labelled) -> bool {
        let inline = matches!(l.kind, "user" | "group" | "role");
        match self {
            Exclusion::Type(kind) => (kind == "inline" && inline) || *kind == l.kind,
            Exclusion::Arn(pattern) => l.arn.as_deref().is_some_and(|arn| iamd_policy::wildcard_match(pattern, arn)),
            Exclusion::Inline { policy, kind, holder } => {
                inline
                    && l.kind == kind
                    && l.id.eq_ignore_ascii_case(policy)
                    && l.holder.as_deref().is_some_and(|h| iamd_policy::wildcard_match(holder, h))
            }
        }
    }
}

/// The policies of a simulation: identity policies and the boundary, if any.
#[derive(Default)]
struct Policies {
    identity: Vec<Labelled>,
    boundary: Option<Labelled>,
}

impl Policies {
    /// Adds stored identity policies of the `inline_kind` (`user`, `group`, `role`) `holder`:
    /// inline ones `(name, document)`, managed ones `(arn, document)`.
    fn add(
        &mut self,
        inline_kind: &'static str,
        holder: &str,
        inline: Vec<(String, String)>,
        managed: Vec<(String, String)>,
    ) {
        let inline = inline.into_iter().filter_map(|(name, doc)| stored_inline(&doc, name, inline_kind, holder));
        self.identity.extend(inline);
        self.identity
            .extend(managed.into_iter().filter_map(|(arn, doc)| stored_managed(&doc, arn, PolicyKind::Identity)));
    }

    fn all(&self) -> Vec<&Policy> {
        self.identity.iter().chain(&self.boundary).map(|l| &l.policy).collect()
    }
}

/// `PolicyInputList` / `PermissionsBoundaryPolicyInputList` documents, parsed; a refused one is
/// `InvalidInput` with the parser's text.
fn given_policies(p: &Params, param: &str, kind: PolicyKind) -> Result<Vec<Labelled>, ApiError> {
    p.list(param)
        .into_iter()
        .enumerate()
        .map(|(i, document)| {
            let policy = Policy::parse(document, kind).map_err(|e| invalid_input(e.message))?;
            Ok(Labelled { policy, id: format!("{param}.{}", i + 1), kind: "none", arn: None, holder: None })
        })
        .collect()
}

/// A stored inline policy of `holder`, labelled; one that no longer parses is left out (it was
/// valid when written).
fn stored_inline(document: &str, name: String, kind: &'static str, holder: &str) -> Option<Labelled> {
    let policy = Policy::parse(document, PolicyKind::Identity).ok()?;
    Some(Labelled { policy, id: name, kind, arn: None, holder: Some(holder.to_owned()) })
}

/// A stored managed policy, labelled by its name, AWS or customer managed.
fn stored_managed(document: &str, arn: String, as_kind: PolicyKind) -> Option<Labelled> {
    let policy = Policy::parse(document, as_kind).ok()?;
    let id = arn.rsplit('/').next().unwrap_or(&arn).to_owned();
    let aws = arn.split(':').nth(4) == Some(AWS_MANAGED_ACCOUNT);
    let kind = if aws { "aws-managed" } else { "user-managed" };
    Some(Labelled { policy, id, kind, arn: Some(arn), holder: None })
}

/// Whom a `PolicySourceArn` (or `CallerArn`) names in the caller's account.
enum Source {
    User(String),
    Group(String),
    Role(String),
}

fn source_of(ctx: &Ctx<'_>, arn: &str) -> Result<Source, ApiError> {
    let invalid = || invalid_input(format!("Invalid ARN {arn}: must name a user, group or role of this account."));
    let rest = arn.strip_prefix("arn:aws:iam::").ok_or_else(invalid)?;
    let (account, resource) = rest.split_once(':').ok_or_else(invalid)?;
    if account != ctx.account() {
        return Err(invalid());
    }
    let (kind, path_and_name) = resource.split_once('/').ok_or_else(invalid)?;
    let name = path_and_name.rsplit('/').next().filter(|n| !n.is_empty()).ok_or_else(invalid)?.to_owned();
    match kind {
        "user" => Ok(Source::User(name)),
        "group" => Ok(Source::Group(name)),
        "role" => Ok(Source::Role(name)),
        _ => Err(invalid()),
    }
}

/// The stored policies of a user (with its groups'), a group or a role, and its boundary.
async fn principal_policies(ctx: &Ctx<'_>, source: &Source) -> Result<Policies, ApiError> {
    let store = &ctx.app.store;
    let account = ctx.account();
    let mut found = Policies::default();
    match source {
        Source::User(name) => {
            let user = store.get_user(account, name).await.map_err(store_failure)?;
            let user = user.ok_or_else(|| ApiError::no_such_user(name))?;
            let effective = store.effective_policies(account, &user.user_id).await.map_err(|e| match e {
                StoreError::NotFound(_) => ApiError::no_such_user(name),
                other => store_failure(other),
            })?;
            let inline = effective.user_inline.into_iter().map(|p| (p.name, p.document)).collect();
            found.add("user", &user.name, inline, effective.user_managed);
            for (group, group_inline, group_managed) in effective.groups {
                let inline = group_inline.into_iter().map(|p| (p.name, p.document)).collect();
                found.add("group", &group, inline, group_managed);
            }
            found.boundary =
                effective.boundary.and_then(|(arn, doc)| stored_managed(&doc, arn, PolicyKind::SessionOrBoundary));
        }
        Source::Group(name) => {
            let group = store.get_group(account, name).await.map_err(store_failure)?;
            let group = group.ok_or_else(|| no_such_group(name))?;
            let read = async {
                let mut inline = Vec::new();
                for policy in store.list_inline_policies(account, Holder::Group, &group.name).await? {
                    let p = store.get_inline_policy(account, Holder::Group, &group.name, &policy).await?;
                    inline.push((p.name, p.document));
                }
                let mut managed = Vec::new();
                for attached in store.list_attached_policies(account, Holder::Group, &group.name).await? {
                    let Some(policy) = store.get_policy(account, &attached.arn).await? else { continue };
                    let version = store.get_policy_version(&attached.arn, &policy.default_version_id).await?;
                    managed.push((attached.arn, version.document));
                }
                Ok::<_, StoreError>((inline, managed))
            };
            let (inline, managed) = read.await.map_err(|e| match e {
                StoreError::NotFound(_) => no_such_group(name),
                other => store_failure(other),
            })?;
            found.add("group", &group.name, inline, managed);
        }
        Source::Role(name) => {
            let role = store.get_role(account, name).await.map_err(store_failure)?;
            let role = role.ok_or_else(|| no_such_role(name))?;
            let policies = store.role_policies(account, &role.role_id).await.map_err(|e| match e {
                StoreError::NotFound(_) => no_such_role(name),
                other => store_failure(other),
            })?;
            let inline = policies.inline.into_iter().map(|p| (p.name, p.document)).collect();
            found.add("role", &role.name, inline, policies.managed);
            found.boundary =
                policies.boundary.and_then(|(arn, doc)| stored_managed(&doc, arn, PolicyKind::SessionOrBoundary));
        }
    }
    Ok(found)
}

/// The principal keys of the simulated caller (`CallerArn`, else the source when it is a user
/// or role): `aws:username` (users), `aws:userid`, `aws:PrincipalArn`, `aws:PrincipalAccount`,
/// `aws:PrincipalType`, `aws:PrincipalTag/*`. A group names no caller.
async fn principal_context(
    ctx: &Ctx<'_>,
    caller: Option<&Source>,
    context: &mut RequestContext,
) -> Result<(), ApiError> {
    let store = &ctx.app.store;
    let account = ctx.account();
    let (principal_type, arn, user_id, username, tags): (_, _, _, _, Vec<EntityTag>) = match caller {
        None | Some(Source::Group(_)) => return Ok(()),
        Some(Source::User(name)) => {
            let user = store.get_user(account, name).await.map_err(store_failure)?;
            let user = user.ok_or_else(|| ApiError::no_such_user(name))?;
            let arn = ids::user_arn(account, &user.path, &user.name);
            (iamd_policy::PrincipalType::User, arn, user.user_id, Some(user.name), user.tags)
        }
        Some(Source::Role(name)) => {
            let role = store.get_role(account, name).await.map_err(store_failure)?;
            let role = role.ok_or_else(|| no_such_role(name))?;
            let arn = ids::role_arn(account, &role.path, &role.name);
            (iamd_policy::PrincipalType::AssumedRole, arn, role.role_id, None, role.tags)
        }
    };
    let principal = iamd_policy::Caller {
        principal_type,
        account: account.to_owned(),
        arn: arn.clone(),
        principal_arn: arn,
        user_id,
        username,
        tags: tags.into_iter().map(|t| (t.key, t.value)).collect(),
    };
    principal.fill_context(context);
    Ok(())
}

/// `ContextEntries.member.N.{ContextKeyName, ContextKeyValues.member.M, ContextKeyType}`, typed.
fn context_entries(p: &Params, context: &mut RequestContext) -> Result<(), ApiError> {
    for n in 1.. {
        let prefix = format!("ContextEntries.member.{n}");
        let Some(name) = p.get(&format!("{prefix}.ContextKeyName")) else { break };
        let values: Vec<String> =
            p.list(&format!("{prefix}.ContextKeyValues")).into_iter().map(str::to_owned).collect();
        let kind = p.get(&format!("{prefix}.ContextKeyType")).unwrap_or("string");
        let value = ContextValue::from_typed(kind, &values)
            .map_err(|bad| invalid_input(format!("Invalid value {bad} for context key {name} of type {kind}.")))?;
        context.insert(name, value);
    }
    Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Position {
    line: u32,
    column: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Statement {
    source_policy_id: String,
    source_policy_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_position: Option<Position>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_position: Option<Position>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BoundaryDetail {
    allowed_by_permissions_boundary: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ResourceSpecificResult {
    eval_resource_name: String,
    eval_resource_decision: &'static str,
    matched_statements: Members<Statement>,
    missing_context_values: Members<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions_boundary_decision_detail: Option<BoundaryDetail>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EvaluationResult {
    eval_action_name: String,
    eval_resource_name: String,
    eval_decision: &'static str,
    matched_statements: Members<Statement>,
    missing_context_values: Members<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions_boundary_decision_detail: Option<BoundaryDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_specific_results: Option<Members<ResourceSpecificResult>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SimulateResult {
    evaluation_results: Members<EvaluationResult>,
    is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

fn matched(policies: &Policies, evaluation: &Evaluation) -> Vec<Statement> {
    evaluation
        .matched
        .iter()
        .filter_map(|&MatchedStatement { source, policy, statement, .. }| {
            let labelled = match source {
                PolicySource::Identity => policies.identity.get(policy)?,
                PolicySource::PermissionsBoundary => policies.boundary.as_ref()?,
                PolicySource::Session | PolicySource::Trust => return None,
            };
            let span = labelled.policy.statements().get(statement)?.span();
            Some(Statement {
                source_policy_id: labelled.id.clone(),
                source_policy_type: labelled.kind,
                start_position: span.map(|s| Position { line: s.start.line, column: s.start.column }),
                end_position: span.map(|s| Position { line: s.end.line, column: s.end.column }),
            })
        })
        .collect()
}

/// Runs every action against every resource and answers one page of results.
async fn simulate(ctx: &Ctx<'_>, p: &Params, mut policies: Policies, caller: Option<Source>) -> Reply {
    if p.get("ResourcePolicy").is_some() {
        return Err(invalid_input("iamd does not simulate resource-based policies (ResourcePolicy)."));
    }
    let page = pagination::page(p, "simulation")?;
    let actions = p.list("ActionNames");
    if let Some(wild) = actions.iter().find(|a| a.contains(['*', '?'])) {
        return Err(invalid_input(format!("Action names must not contain wildcards: {wild}")));
    }
    if let Some(bad) = actions.iter().find(|a| a.split_once(':').is_none_or(|(s, n)| s.is_empty() || n.is_empty())) {
        return Err(invalid_input(format!("Invalid action name {bad}: must be service:Action.")));
    }
    if let Some(boundary) =
        given_policies(p, "PermissionsBoundaryPolicyInputList", PolicyKind::SessionOrBoundary)?.into_iter().next()
    {
        policies.boundary = Some(boundary);
    }
    let mut base = RequestContext::new();
    principal_context(ctx, caller.as_ref(), &mut base).await?;
    base.insert("aws:CurrentTime", ctx.now);
    base.insert("aws:EpochTime", ctx.now.unix_timestamp());
    context_entries(p, &mut base)?;

    let resources = p.list("ResourceArns");
    let specific = !resources.is_empty();
    let resources = if specific { resources } else { vec!["*"] };
    let identity: Vec<&Policy> = policies.identity.iter().map(|l| &l.policy).collect();
    let boundary = policies.boundary.as_ref().map(|l| &l.policy);
    let all = policies.all();
    let mut results = Vec::new();
    for action in &actions {
        for resource in &resources {
            let request = iamd_policy::Request::new(action, resource, base.clone());
            let evaluation = iamd_policy::evaluate(&request, &identity, boundary, &[]);
            let missing = iamd_policy::missing_context_keys(&request, &all);
            let boundary_detail =
                evaluation.boundary_allowed.map(|allowed| BoundaryDetail { allowed_by_permissions_boundary: allowed });
            let resource_specific = specific.then(|| {
                vec![ResourceSpecificResult {
                    eval_resource_name: resource.to_string(),
                    eval_resource_decision: evaluation.decision.as_str(),
                    matched_statements: matched(&policies, &evaluation).into(),
                    missing_context_values: missing.clone().into(),
                    permissions_boundary_decision_detail: evaluation
                        .boundary_allowed
                        .map(|allowed| BoundaryDetail { allowed_by_permissions_boundary: allowed }),
                }]
                .into()
            });
            results.push(EvaluationResult {
                eval_action_name: action.to_string(),
                eval_resource_name: resource.to_string(),
                eval_decision: evaluation.decision.as_str(),
                matched_statements: matched(&policies, &evaluation).into(),
                missing_context_values: missing.into(),
                permissions_boundary_decision_detail: boundary_detail,
                resource_specific_results: resource_specific,
            });
        }
    }
    let numbered: Vec<(usize, EvaluationResult)> = results.into_iter().enumerate().collect();
    let (page_of, Truncation { is_truncated, marker }) =
        pagination::in_memory(numbered, &page, "simulation", |(i, _)| format!("{i:010}"));
    let evaluation_results: Vec<_> = page_of.into_iter().map(|(_, r)| r).collect();
    ctx.reply(&SimulateResult { evaluation_results: evaluation_results.into(), is_truncated, marker })
}

pub async fn simulate_principal_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let source = source_of(ctx, p.required("PolicySourceArn")?)?;
    let mut policies = principal_policies(ctx, &source).await?;
    let exclusions = Exclusion::all(p);
    policies.identity.retain(|l| !exclusions.iter().any(|x| x.excludes(l)));
    if exclusions.iter().any(|x| matches!(x, Exclusion::Type(kind) if kind == "permission-boundary")) {
        policies.boundary = None;
    }
    policies.identity.extend(given_policies(p, "PolicyInputList", PolicyKind::Identity)?);
    let caller = match p.get("CallerArn") {
        Some(arn) => Some(source_of(ctx, arn)?),
        None => Some(source),
    };
    simulate(ctx, p, policies, caller).await
}

pub async fn simulate_custom_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let policies = Policies { identity: given_policies(p, "PolicyInputList", PolicyKind::Identity)?, boundary: None };
    let caller = p.get("CallerArn").map(|arn| source_of(ctx, arn)).transpose()?;
    simulate(ctx, p, policies, caller).await
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ContextKeysResult {
    context_key_names: Members<String>,
}

fn context_keys_reply(ctx: &Ctx<'_>, policies: &Policies) -> Reply {
    let names = iamd_policy::context_keys_of(&policies.all());
    ctx.reply(&ContextKeysResult { context_key_names: names.into() })
}

pub async fn get_context_keys_for_principal_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let source = source_of(ctx, p.required("PolicySourceArn")?)?;
    let mut policies = principal_policies(ctx, &source).await?;
    policies.identity.extend(given_policies(p, "PolicyInputList", PolicyKind::Identity)?);
    context_keys_reply(ctx, &policies)
}

pub async fn get_context_keys_for_custom_policy(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let policies = Policies { identity: given_policies(p, "PolicyInputList", PolicyKind::Identity)?, boundary: None };
    context_keys_reply(ctx, &policies)
}
