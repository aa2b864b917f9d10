//! The authorization entry of every operation: the resource ARN its input names and the context
//! it contributes. The match is exhaustive over `Action`, so an operation added to the model's
//! list does not compile until it says how it is authorized.

use iamd_domain::entities::AccessKey;
use iamd_domain::{ApiError, ids};
use iamd_model::Action;

use super::{Context, Request};
use crate::caller::Caller;
use crate::failure::store_failure;
use crate::state::App;
use crate::wire::params::Params;

/// The context key through which ChangePassword carries the account's password-policy setting
/// (iamd's own key: AWS applies the setting without a condition key).
pub const USERS_MAY_CHANGE_PASSWORD: &str = "iamd:AllowUsersToChangePassword";

/// What `caller` must be allowed for `action` with input `p`; `None` for the actions that need
/// no permission (GetCallerIdentity, GetSessionToken). Fails when the input cannot name a
/// resource (e.g. root credentials without `UserName`).
pub async fn request_for(app: &App, caller: &Caller, action: Action, p: &Params) -> Result<Option<Request>, ApiError> {
    use Action::*;
    let account = caller.account_id.as_str();
    let named_user = || Ok::<_, ApiError>(caller.user_resource(p.required("UserName")?));
    let target_user = || caller.target_user_name(p.get("UserName")).map(|name| caller.user_resource(&name));
    let serial = || p.required("SerialNumber").map(str::to_owned);
    let anything = || Ok::<_, ApiError>("*".to_owned());
    let group = || Ok::<_, ApiError>(ids::group_arn(account, "/", p.required("GroupName")?));
    let policy = || p.required("PolicyArn").map(str::to_owned);
    let role = || Ok::<_, ApiError>(ids::role_arn(account, "/", p.required("RoleName")?));
    let mut context = Context::default();
    // Account-wide listings are authorized on `*`; AWS's message names them by a path prefix.
    let mut shown_as = None;
    let mut listing = |kind: &str| {
        shown_as = Some(format!("arn:aws:iam::{account}:{kind}/"));
        Ok::<_, ApiError>("*".to_owned())
    };
    let resource = match action {
        GetCallerIdentity | GetSessionToken => return Ok(None),
        // Decided with the role's trust policy, which only the handler loads (`authz::authorize_assume_role`).
        AssumeRole => return Ok(None),

        CreateUser => {
            request_tags(&mut context, p);
            Ok(ids::user_arn(account, p.get("Path").unwrap_or("/"), p.required("UserName")?))
        }
        // Root asking about itself needs no user name.
        GetUser | ListMFADevices if p.get("UserName").is_none() && caller.is_root() => Ok(caller.arn()),
        GetUser | ListMFADevices => target_user(),
        ListUsers => listing("user"),
        UpdateUser | DeleteUser | ListUserTags => named_user(),
        TagUser => {
            request_tags(&mut context, p);
            named_user()
        }
        UntagUser => {
            tag_keys(&mut context, p.list("TagKeys"));
            named_user()
        }

        CreateAccessKey | ListAccessKeys | UpdateAccessKey | DeleteAccessKey => target_user(),
        // The key's owner: a key of this account's user, its root, or (unknown, another account's)
        // any user, so that only a caller allowed to ask about every user learns it does not exist.
        GetAccessKeyLastUsed => {
            let key = app.store.find_access_key(p.required("AccessKeyId")?).await.map_err(store_failure)?;
            Ok(match key.filter(|k| k.account_id == account) {
                Some(AccessKey { user: Some(user), .. }) => ids::user_arn(account, &user.path, &user.name),
                Some(AccessKey { user: None, .. }) => format!("arn:aws:iam::{account}:root"),
                None => format!("arn:aws:iam::{account}:user/*"),
            })
        }
        GenerateCredentialReport | GetCredentialReport => anything(),

        CreateVirtualMFADevice => {
            request_tags(&mut context, p);
            new_device_serial(account, p)
        }
        EnableMFADevice | ResyncMFADevice => named_user(),
        DeactivateMFADevice | GetMFADevice => target_user(),
        DeleteVirtualMFADevice | ListMFADeviceTags => serial(),
        TagMFADevice => {
            request_tags(&mut context, p);
            serial()
        }
        UntagMFADevice => {
            tag_keys(&mut context, p.list("TagKeys"));
            serial()
        }
        ListVirtualMFADevices => anything(),

        CreateLoginProfile | GetLoginProfile | DeleteLoginProfile => target_user(),
        UpdateLoginProfile => named_user(),
        ChangePassword => {
            // The account's password policy decides whether users may change their own password.
            if caller.user().is_some() {
                let policy = app.store.get_password_policy(account).await.map_err(store_failure)?;
                let allowed = policy.is_none_or(|policy| policy.allow_users_to_change_password);
                context.insert(USERS_MAY_CHANGE_PASSWORD, vec![allowed.to_string()]);
            }
            Ok(caller.arn())
        }
        GetAccountPasswordPolicy | UpdateAccountPasswordPolicy | DeleteAccountPasswordPolicy => anything(),
        GetAccountSummary | GetAccountAuthorizationDetails => anything(),
        SimulateCustomPolicy | GetContextKeysForCustomPolicy => anything(),
        SimulatePrincipalPolicy | GetContextKeysForPrincipalPolicy => p.required("PolicySourceArn").map(str::to_owned),

        CreateGroup => Ok(ids::group_arn(account, p.get("Path").unwrap_or("/"), p.required("GroupName")?)),
        GetGroup | UpdateGroup | DeleteGroup | AddUserToGroup | RemoveUserFromGroup => group(),
        PutGroupPolicy | GetGroupPolicy | ListGroupPolicies | DeleteGroupPolicy | ListAttachedGroupPolicies => group(),
        ListGroups => listing("group"),
        ListGroupsForUser => named_user(),
        PutUserPolicy | GetUserPolicy | ListUserPolicies | DeleteUserPolicy | ListAttachedUserPolicies => named_user(),
        AttachUserPolicy | DetachUserPolicy => {
            policy_arn_context(&mut context, "iam:PolicyARN", p)?;
            named_user()
        }
        AttachGroupPolicy | DetachGroupPolicy => {
            policy_arn_context(&mut context, "iam:PolicyARN", p)?;
            group()
        }
        PutUserPermissionsBoundary => {
            context.insert("iam:PermissionsBoundary", vec![p.required("PermissionsBoundary")?.to_owned()]);
            named_user()
        }
        DeleteUserPermissionsBoundary => named_user(),

        CreatePolicy => {
            request_tags(&mut context, p);
            Ok(ids::policy_arn(account, p.get("Path").unwrap_or("/"), p.required("PolicyName")?))
        }
        ListPolicies => listing("policy"),
        TagPolicy => {
            request_tags(&mut context, p);
            policy()
        }
        UntagPolicy => {
            tag_keys(&mut context, p.list("TagKeys"));
            policy()
        }
        GetPolicy | DeletePolicy | ListPolicyTags | ListEntitiesForPolicy => policy(),
        CreatePolicyVersion | GetPolicyVersion | ListPolicyVersions | DeletePolicyVersion => policy(),
        SetDefaultPolicyVersion => policy(),

        CreateRole => {
            request_tags(&mut context, p);
            if let Some(boundary) = p.get("PermissionsBoundary") {
                context.insert("iam:PermissionsBoundary", vec![boundary.to_owned()]);
            }
            Ok(ids::role_arn(account, p.get("Path").unwrap_or("/"), p.required("RoleName")?))
        }
        ListRoles => listing("role"),
        GetRole | UpdateRole | UpdateRoleDescription | UpdateAssumeRolePolicy | DeleteRole | ListRoleTags => role(),
        PutRolePolicy | GetRolePolicy | ListRolePolicies | DeleteRolePolicy | ListAttachedRolePolicies => role(),
        DeleteRolePermissionsBoundary => role(),
        TagRole => {
            request_tags(&mut context, p);
            role()
        }
        UntagRole => {
            tag_keys(&mut context, p.list("TagKeys"));
            role()
        }
        AttachRolePolicy | DetachRolePolicy => {
            policy_arn_context(&mut context, "iam:PolicyARN", p)?;
            role()
        }
        PutRolePermissionsBoundary => {
            context.insert("iam:PermissionsBoundary", vec![p.required("PermissionsBoundary")?.to_owned()]);
            role()
        }
    }?;
    let shown_as = shown_as.or_else(|| named_in_message(action, &resource));
    Ok(Some(Request { action, resource, shown_as, context }))
}

/// How AWS's `AccessDenied` names an IAM entity: `user NAME`, `group NAME`, `role NAME`,
/// `policy NAME` rather than the ARN (observed for GetUser, CreateAccessKey, GetRole,
/// CreatePolicy, …), except CreateRole, which shows the full ARN. MFA devices, the account
/// and root keep the ARN.
fn named_in_message(action: Action, resource: &str) -> Option<String> {
    let (_, entity) = resource.strip_prefix("arn:aws:iam::")?.split_once(':')?;
    let (kind, path_and_name) = entity.split_once('/')?;
    let name = path_and_name.rsplit('/').next()?;
    match kind {
        "role" if action == Action::CreateRole => None,
        "user" | "group" | "role" | "policy" => Some(format!("{kind} {name}")),
        _ => None,
    }
}

/// The serial (ARN) a new virtual device will have. Every later operation names the device by
/// it, through the model's `SerialNumber` constraints (at most 256 characters of
/// `[\w+=/:,.@-]`), so a path the model allows but a serial does not (`/p&1/`, `/p<2>/`, …)
/// would make a device nobody could enable, tag or delete, yet counted against the quota: such
/// paths are refused here.
fn new_device_serial(account: &str, p: &Params) -> Result<String, ApiError> {
    let path = p.get("Path").unwrap_or("/");
    let serial = ids::mfa_arn(account, path, p.required("VirtualMFADeviceName")?);
    if serial.len() > 256 {
        return Err(ApiError::validation(
            "1 validation error detected: Value at 'virtualMFADeviceName' failed to satisfy constraint: \
             Member must make a serial number of at most 256 characters together with the path",
        ));
    }
    let serial_char = |c: char| c.is_ascii_alphanumeric() || "_+=/:,.@-".contains(c);
    if !path.chars().all(serial_char) {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{path}' at 'path' failed to satisfy constraint: \
             Member must make a serial number matching [\\w+=/:,.@-]+ together with the device name"
        )));
    }
    Ok(serial)
}

/// The managed policy a request names, as the condition key `key`.
fn policy_arn_context(context: &mut Context, key: &str, p: &Params) -> Result<(), ApiError> {
    context.insert(key, vec![p.required("PolicyArn")?.to_owned()]);
    Ok(())
}

/// `aws:RequestTag/KEY` for every tag in the request's `Tags`, and `aws:TagKeys`.
fn request_tags(context: &mut Context, p: &Params) {
    let tags = p.tags("Tags");
    if tags.is_empty() {
        return;
    }
    for tag in &tags {
        context.insert(format!("aws:RequestTag/{}", tag.key), vec![tag.value.clone()]);
    }
    tag_keys(context, tags.iter().map(|t| t.key.as_str()).collect());
}

fn tag_keys(context: &mut Context, keys: Vec<&str>) {
    if !keys.is_empty() {
        context.insert("aws:TagKeys", keys.into_iter().map(str::to_owned).collect());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use iamd_policy::{Policy, PolicyKind};

    use super::*;
    use crate::authz::{Circumstances, Decision, decide};
    use crate::caller::{Permissions, Principal, SessionInfo};

    const NOW: i64 = 1_800_000_000;

    fn user(name: &str, policies: &[&str]) -> Caller {
        let user = iamd_domain::entities::User {
            account_id: "123456789012".into(),
            user_id: "AIDAEXAMPLE".into(),
            name: name.into(),
            path: "/".into(),
            created_at: 0,
            password_last_used: None,
            tags: vec![],
            permissions_boundary: None,
        };
        let identity = policies.iter().map(|p| Policy::parse(p, PolicyKind::Identity).unwrap()).collect();
        Caller {
            account_id: "123456789012".into(),
            access_key_id: "AKIA".into(),
            principal: Principal::User(user),
            session: None,
            permissions: Arc::new(Permissions { identity, ..Permissions::default() }),
        }
    }

    #[test]
    fn denials_name_entities_as_aws_does() {
        let named = |action, resource: &str| named_in_message(action, resource);
        assert_eq!(named(Action::GetUser, "arn:aws:iam::123456789012:user/team/bob").as_deref(), Some("user bob"));
        assert_eq!(named(Action::GetRole, "arn:aws:iam::123456789012:role/Admin").as_deref(), Some("role Admin"));
        assert_eq!(named(Action::CreateRole, "arn:aws:iam::123456789012:role/ops/Admin"), None);
        assert_eq!(named(Action::GetGroup, "arn:aws:iam::123456789012:group/devs").as_deref(), Some("group devs"));
        assert_eq!(
            named(Action::GetPolicy, "arn:aws:iam::aws:policy/job/ViewOnly").as_deref(),
            Some("policy ViewOnly")
        );
        assert_eq!(named(Action::DeleteVirtualMFADevice, "arn:aws:iam::123456789012:mfa/bob"), None);
        assert_eq!(named(Action::ListVirtualMFADevices, "*"), None);
    }

    fn request(action: Action, resource: &str) -> Request {
        Request { action, resource: resource.into(), shown_as: None, context: Context::default() }
    }

    fn at() -> Circumstances<'static> {
        Circumstances { now: time::OffsetDateTime::from_unix_timestamp(NOW).unwrap(), source: "unknown" }
    }

    const OWN_KEYS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Action":["iam:CreateAccessKey","iam:ListAccessKeys"],"Resource":"arn:aws:iam::*:user/${aws:username}"}]}"#;
    const MFA_OR_NOTHING: &str = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"iam:*","Resource":"*"},
        {"Effect":"Deny","NotAction":"iam:EnableMFADevice","Resource":"*",
         "Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}]}"#;

    #[test]
    fn users_have_no_permissions_until_a_policy_grants_them() {
        let own = "arn:aws:iam::123456789012:user/bob";
        let nobody = user("bob", &[]);
        let denied = decide(&nobody, &request(Action::GetUser, own), at());
        assert_eq!(denied, Decision::Deny("because no identity-based policy allows the iam:GetUser action".into()));
        let bob = user("bob", &[OWN_KEYS]);
        assert_eq!(decide(&bob, &request(Action::CreateAccessKey, own), at()), Decision::Allow);
        // `user/${aws:username}` names users on the root path only, as on AWS.
        let mut pathed = user("bob", &[OWN_KEYS]);
        if let Principal::User(u) = &mut pathed.principal {
            u.path = "/team/".into();
        }
        let own_pathed = "arn:aws:iam::123456789012:user/team/bob";
        assert!(matches!(decide(&pathed, &request(Action::CreateAccessKey, own_pathed), at()), Decision::Deny(_)));
        let alices = "arn:aws:iam::123456789012:user/alice";
        assert!(matches!(decide(&bob, &request(Action::CreateAccessKey, alices), at()), Decision::Deny(_)));
        assert!(matches!(decide(&bob, &request(Action::DeleteUser, own), at()), Decision::Deny(_)));
    }

    #[test]
    fn multi_factor_auth_present_is_absent_for_keys_and_set_for_sessions() {
        let own = "arn:aws:iam::123456789012:user/bob";
        let mut bob = user("bob", &[MFA_OR_NOTHING]);
        // Long-term key: the key is absent, so BoolIfExists matches and the deny applies.
        let explicit = "with an explicit deny in an identity-based policy".to_owned();
        assert_eq!(decide(&bob, &request(Action::DeactivateMFADevice, own), at()), Decision::Deny(explicit.clone()));
        assert_eq!(decide(&bob, &request(Action::EnableMFADevice, own), at()), Decision::Allow);
        bob.session = Some(SessionInfo { issued_at: NOW - 100, expires_at: NOW + 3600, mfa_authenticated_at: None });
        assert_eq!(decide(&bob, &request(Action::DeactivateMFADevice, own), at()), Decision::Deny(explicit));
        bob.session =
            Some(SessionInfo { issued_at: NOW - 100, expires_at: NOW + 3600, mfa_authenticated_at: Some(NOW - 60) });
        assert_eq!(decide(&bob, &request(Action::DeactivateMFADevice, own), at()), Decision::Allow);
    }

    #[test]
    fn change_password_follows_the_account_setting() {
        let bob = user("bob", &[]);
        let mut r = request(Action::ChangePassword, "arn:aws:iam::123456789012:user/bob");
        r.context.insert(USERS_MAY_CHANGE_PASSWORD, vec!["true".into()]);
        assert_eq!(decide(&bob, &r, at()), Decision::Allow);
        let mut r = request(Action::ChangePassword, "arn:aws:iam::123456789012:user/bob");
        r.context.insert(USERS_MAY_CHANGE_PASSWORD, vec!["false".into()]);
        assert!(matches!(decide(&bob, &r, at()), Decision::Deny(_)));
    }

    fn role_session(identity: &[&str], session: &[&str]) -> Caller {
        let parse = |list: &[&str], kind| list.iter().map(|p| Policy::parse(p, kind).unwrap()).collect();
        Caller {
            account_id: "123456789012".into(),
            access_key_id: "ASIA".into(),
            principal: Principal::AssumedRole(crate::caller::AssumedRole {
                role_id: "AROAEXAMPLE".into(),
                role_name: "Admin".into(),
                session_name: "alice".into(),
                source_identity: None,
                session_tags: vec![],
                tags: vec![],
            }),
            session: Some(SessionInfo { issued_at: NOW - 100, expires_at: NOW + 3600, mfa_authenticated_at: None }),
            permissions: Arc::new(Permissions {
                identity: parse(identity, PolicyKind::Identity),
                session: parse(session, PolicyKind::SessionOrBoundary),
                ..Permissions::default()
            }),
        }
    }

    const EVERYTHING: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    const ONLY_GET_USER: &str =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}"#;

    #[test]
    fn session_policies_narrow_a_role_session() {
        let admin = role_session(&[EVERYTHING], &[]);
        assert_eq!(decide(&admin, &request(Action::ListUsers, "*"), at()), Decision::Allow);
        assert_eq!(admin.arn(), "arn:aws:sts::123456789012:assumed-role/Admin/alice");
        assert_eq!(admin.user_id(), "AROAEXAMPLE:alice");
        let narrowed = role_session(&[EVERYTHING], &[ONLY_GET_USER]);
        assert_eq!(decide(&narrowed, &request(Action::GetUser, "*"), at()), Decision::Allow);
        assert_eq!(
            decide(&narrowed, &request(Action::ListUsers, "*"), at()),
            Decision::Deny("because no session policy allows the iam:ListUsers action".into())
        );
        // A session policy never grants what the role's policies do not.
        let nothing = role_session(&[], &[EVERYTHING]);
        assert!(matches!(decide(&nothing, &request(Action::ListUsers, "*"), at()), Decision::Deny(_)));
    }

    const ROLE: &str = "arn:aws:iam::123456789012:role/Admin";

    fn trust(principal: &str, mfa: bool) -> Policy {
        let condition = if mfa { r#","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}"# } else { "" };
        let doc = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":"sts:AssumeRole"{condition}}}]}}"#
        );
        Policy::parse(&doc, PolicyKind::Trust).unwrap()
    }

    fn assume(caller: &Caller, trust: &Policy, mfa_at: Option<i64>) -> Result<(), ApiError> {
        let request = request(Action::AssumeRole, ROLE);
        crate::authz::authorize_assume_role(caller, trust, &request, "sts:AssumeRole", mfa_at, at())
    }

    #[test]
    fn assume_role_follows_the_trust_policy_and_its_mfa_condition() {
        let bob = user("bob", &[]);
        // Trust naming the user directly needs no identity policy.
        assert!(assume(&bob, &trust("arn:aws:iam::123456789012:user/bob", false), None).is_ok());
        // Trust naming the account needs one.
        let account = trust("arn:aws:iam::123456789012:root", false);
        let refused = assume(&bob, &account, None).unwrap_err();
        assert_eq!(
            refused.message,
            "User: arn:aws:iam::123456789012:user/bob is not authorized to perform: sts:AssumeRole on resource: \
             arn:aws:iam::123456789012:role/Admin"
        );
        assert!(assume(&user("bob", &[EVERYTHING]), &account, None).is_ok());
        // MFA: a long-term key alone does not satisfy the condition; a code checked in the same
        // request does; so does an MFA session.
        let with_mfa = trust("arn:aws:iam::123456789012:user/bob", true);
        assert!(assume(&bob, &with_mfa, None).is_err());
        assert!(assume(&bob, &with_mfa, Some(NOW)).is_ok());
        let mut no_mfa_session = user("bob", &[]);
        no_mfa_session.session =
            Some(SessionInfo { issued_at: NOW - 100, expires_at: NOW + 60, mfa_authenticated_at: None });
        assert!(assume(&no_mfa_session, &with_mfa, None).is_err());
        let mut mfa_session = no_mfa_session.clone();
        mfa_session.session =
            Some(SessionInfo { issued_at: NOW - 100, expires_at: NOW + 60, mfa_authenticated_at: Some(NOW - 5) });
        assert!(assume(&mfa_session, &with_mfa, None).is_ok());
        // Another user named nowhere is refused.
        assert!(assume(&user("eve", &[EVERYTHING]), &with_mfa, Some(NOW)).is_err());
        let root = Caller { principal: Principal::Root, ..bob.clone() };
        assert_eq!(assume(&root, &account, None).unwrap_err().message, "Roles may not be assumed by root accounts.");
    }

    #[test]
    fn root_may_do_anything() {
        let root = Caller {
            account_id: "123456789012".into(),
            access_key_id: "AKIA".into(),
            principal: Principal::Root,
            session: None,
            permissions: Default::default(),
        };
        for &action in Action::ALL {
            assert_eq!(decide(&root, &request(action, "*"), at()), Decision::Allow, "{action:?}");
        }
    }
}
