//! GetAccountAuthorizationDetails: every user, group and role of the account with the policies
//! that apply to it, and the managed policies with all their versions — the account's whole
//! authorization picture in one (paged) answer. `Filter` picks entity kinds; AWS managed
//! policies are listed when something in the account uses them.
//!
//! Read entity by entity through the same store calls as the single-entity operations, then
//! paged in memory: a page costs a read of the whole account (fine for an audit operation on
//! thousands of entities; a very large account would want a streaming read).

use iamd_domain::entities::{AWS_MANAGED_ACCOUNT, AttachedPolicy, Page, PolicyScope};
use iamd_domain::{ApiError, ids};
use iamd_store::{Holder, StoreError};
use serde::Serialize;

use super::managed_policies::Policy;
use super::roles::RoleLastUsed;
use super::{Ctx, Reply, pagination, policy_documents};
use crate::failure::store_failure;
use crate::wire::params::Params;
use crate::wire::shapes::{self, Boundary, Members, Tag, Truncation};

/// Enough to read every entity of an account in one page.
const EVERYTHING: usize = 1_000_000;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PolicyDetail {
    policy_name: String,
    policy_document: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Attached {
    policy_name: String,
    policy_arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UserDetail {
    path: String,
    user_name: String,
    user_id: String,
    arn: String,
    create_date: String,
    user_policy_list: Members<PolicyDetail>,
    group_list: Members<String>,
    attached_managed_policies: Members<Attached>,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions_boundary: Option<Boundary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Members<Tag>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GroupDetail {
    path: String,
    group_name: String,
    group_id: String,
    arn: String,
    create_date: String,
    group_policy_list: Members<PolicyDetail>,
    attached_managed_policies: Members<Attached>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RoleDetail {
    path: String,
    role_name: String,
    role_id: String,
    arn: String,
    create_date: String,
    assume_role_policy_document: String,
    /// iamd has no instance profiles.
    instance_profile_list: Members<()>,
    role_policy_list: Members<PolicyDetail>,
    attached_managed_policies: Members<Attached>,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions_boundary: Option<Boundary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Members<Tag>>,
    role_last_used: RoleLastUsed,
}

/// One entry of the answer, in the order AWS pages them: users, groups, roles, policies.
enum Detail {
    User(String, Box<UserDetail>),
    Group(String, Box<GroupDetail>),
    Role(String, Box<RoleDetail>),
    Policy(String, Box<Policy>),
}

impl Detail {
    fn sort_key(&self) -> String {
        match self {
            Detail::User(key, _) => format!("1{key}"),
            Detail::Group(key, _) => format!("2{key}"),
            Detail::Role(key, _) => format!("3{key}"),
            Detail::Policy(key, _) => format!("4{key}"),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetAccountAuthorizationDetailsResult {
    user_detail_list: Members<UserDetail>,
    group_detail_list: Members<GroupDetail>,
    role_detail_list: Members<RoleDetail>,
    policies: Members<Policy>,
    is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

fn all() -> Page {
    Page { after: None, limit: EVERYTHING }
}

/// Entities deleted between the listing and the read of their details are left out.
fn gone(e: &StoreError) -> bool {
    matches!(e, StoreError::NotFound(_))
}

/// `(inline policies with their documents, attached policies)` of a holder, or `None` when it
/// was deleted meanwhile.
async fn policies_of(
    ctx: &Ctx<'_>,
    holder: Holder,
    name: &str,
) -> Result<Option<(Members<PolicyDetail>, Members<Attached>)>, ApiError> {
    let store = &ctx.app.store;
    let read = async {
        let mut inline = Vec::new();
        for policy_name in store.list_inline_policies(ctx.account(), holder, name).await? {
            let policy = store.get_inline_policy(ctx.account(), holder, name, &policy_name).await?;
            inline.push(PolicyDetail {
                policy_name: policy.name,
                policy_document: policy_documents::encode(&policy.document),
            });
        }
        let attached = store.list_attached_policies(ctx.account(), holder, name).await?;
        let attached: Vec<_> = attached
            .into_iter()
            .map(|AttachedPolicy { name, arn }| Attached { policy_name: name, policy_arn: arn })
            .collect();
        Ok::<_, StoreError>((inline.into(), attached.into()))
    };
    match read.await {
        Ok(found) => Ok(Some(found)),
        Err(e) if gone(&e) => Ok(None),
        Err(e) => Err(store_failure(e)),
    }
}

fn tags(list: Vec<iamd_domain::entities::Tag>) -> Option<Members<Tag>> {
    (!list.is_empty()).then(|| list.into_iter().map(Tag::from).collect::<Vec<_>>().into())
}

async fn users(ctx: &Ctx<'_>, out: &mut Vec<Detail>) -> Result<(), ApiError> {
    let store = &ctx.app.store;
    for user in store.list_users(ctx.account(), "/", &all()).await.map_err(store_failure)? {
        let Some((user_policy_list, attached_managed_policies)) = policies_of(ctx, Holder::User, &user.name).await?
        else {
            continue;
        };
        let extra = async {
            let groups = store.list_groups_for_user(ctx.account(), &user.name).await?;
            let boundary = store.permissions_boundary(ctx.account(), Holder::User, &user.name).await?;
            let tags = store.user_tags(ctx.account(), &user.name).await?;
            Ok::<_, StoreError>((groups, boundary, tags))
        };
        let (groups, boundary, user_tags) = match extra.await {
            Ok(found) => found,
            Err(e) if gone(&e) => continue,
            Err(e) => return Err(store_failure(e)),
        };
        let key = user.name.to_lowercase();
        out.push(Detail::User(
            key,
            Box::new(UserDetail {
                arn: ids::user_arn(&user.account_id, &user.path, &user.name),
                path: user.path,
                user_name: user.name,
                user_id: user.user_id,
                create_date: shapes::timestamp(user.created_at),
                user_policy_list,
                group_list: groups.into_iter().map(|g| g.name).collect::<Vec<_>>().into(),
                attached_managed_policies,
                permissions_boundary: boundary.map(Boundary::policy),
                tags: tags(user_tags),
            }),
        ));
    }
    Ok(())
}

async fn groups(ctx: &Ctx<'_>, out: &mut Vec<Detail>) -> Result<(), ApiError> {
    for group in ctx.app.store.list_groups(ctx.account(), "/", &all()).await.map_err(store_failure)? {
        let Some((group_policy_list, attached_managed_policies)) = policies_of(ctx, Holder::Group, &group.name).await?
        else {
            continue;
        };
        out.push(Detail::Group(
            group.name.to_lowercase(),
            Box::new(GroupDetail {
                arn: ids::group_arn(&group.account_id, &group.path, &group.name),
                path: group.path,
                group_name: group.name,
                group_id: group.group_id,
                create_date: shapes::timestamp(group.created_at),
                group_policy_list,
                attached_managed_policies,
            }),
        ));
    }
    Ok(())
}

async fn roles(ctx: &Ctx<'_>, out: &mut Vec<Detail>) -> Result<(), ApiError> {
    let store = &ctx.app.store;
    for listed in store.list_roles(ctx.account(), "/", &all()).await.map_err(store_failure)? {
        // The listing leaves out tags and boundary.
        let Some(role) = store.get_role(ctx.account(), &listed.name).await.map_err(store_failure)? else {
            continue;
        };
        let Some((role_policy_list, attached_managed_policies)) = policies_of(ctx, Holder::Role, &role.name).await?
        else {
            continue;
        };
        out.push(Detail::Role(
            role.name.to_lowercase(),
            Box::new(RoleDetail {
                arn: ids::role_arn(&role.account_id, &role.path, &role.name),
                role_last_used: RoleLastUsed::of(&role),
                create_date: shapes::timestamp(role.created_at),
                assume_role_policy_document: policy_documents::encode(&role.trust_policy),
                instance_profile_list: Vec::new().into(),
                role_policy_list,
                attached_managed_policies,
                permissions_boundary: role.permissions_boundary.map(Boundary::policy),
                tags: tags(role.tags),
                path: role.path,
                role_name: role.name,
                role_id: role.role_id,
            }),
        ));
    }
    Ok(())
}

/// The account's managed policies (`local`) and the AWS managed ones it uses (`aws`).
async fn policies(ctx: &Ctx<'_>, local: bool, aws: bool, out: &mut Vec<Detail>) -> Result<(), ApiError> {
    let store = &ctx.app.store;
    let listed =
        store.list_policies(ctx.account(), PolicyScope::All, false, "/", &all()).await.map_err(store_failure)?;
    for policy in listed {
        let is_aws = policy.account_id == AWS_MANAGED_ACCOUNT;
        let used = policy.attachment_count > 0 || policy.boundary_usage_count > 0;
        let listed = if is_aws { aws && used } else { local };
        if !listed {
            continue;
        }
        let versions = match store.list_policy_versions(&policy.arn).await {
            Ok(versions) => versions,
            Err(e) if gone(&e) => continue,
            Err(e) => return Err(store_failure(e)),
        };
        out.push(Detail::Policy(policy.page_key(), Box::new(Policy::detail(policy, versions))));
    }
    Ok(())
}

pub async fn get_account_authorization_details(ctx: &Ctx<'_>, p: &Params) -> Reply {
    let page = pagination::page(p, "authorization-details")?;
    let filter = p.list("Filter");
    let wanted = |kind: &str| filter.is_empty() || filter.contains(&kind);
    let mut details = Vec::new();
    if wanted("User") {
        users(ctx, &mut details).await?;
    }
    if wanted("Group") {
        groups(ctx, &mut details).await?;
    }
    if wanted("Role") {
        roles(ctx, &mut details).await?;
    }
    let (local, aws) = (wanted("LocalManagedPolicy"), wanted("AWSManagedPolicy"));
    if local || aws {
        policies(ctx, local, aws, &mut details).await?;
    }
    let (details, Truncation { is_truncated, marker }) =
        pagination::in_memory(details, &page, "authorization-details", Detail::sort_key);
    let (mut users, mut groups, mut roles, mut policies) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for detail in details {
        match detail {
            Detail::User(_, d) => users.push(*d),
            Detail::Group(_, d) => groups.push(*d),
            Detail::Role(_, d) => roles.push(*d),
            Detail::Policy(_, d) => policies.push(*d),
        }
    }
    ctx.reply(&GetAccountAuthorizationDetailsResult {
        user_detail_list: users.into(),
        group_detail_list: groups.into(),
        role_detail_list: roles.into(),
        policies: policies.into(),
        is_truncated,
        marker,
    })
}
