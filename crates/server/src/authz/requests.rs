//! The authorization entry of every operation: the resource ARN its input names and the context
//! it contributes. The match is exhaustive over `Action`, so an operation added to the model's
//! list does not compile until it says how it is authorized.

use iamd_domain::{ApiError, ids};
use iamd_model::Action;

use super::self_service::USERS_MAY_CHANGE_PASSWORD;
use super::{Context, Request};
use crate::caller::Caller;
use crate::failure::store_failure;
use crate::state::App;
use crate::wire::params::Params;

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
    let mut context = Context::default();
    let resource = match action {
        GetCallerIdentity | GetSessionToken => return Ok(None),

        CreateUser => {
            request_tags(&mut context, p);
            Ok(ids::user_arn(account, p.get("Path").unwrap_or("/"), p.required("UserName")?))
        }
        // Root asking about itself needs no user name.
        GetUser | ListMFADevices if p.get("UserName").is_none() && caller.user().is_none() => Ok(caller.arn()),
        GetUser | ListMFADevices => target_user(),
        ListUsers => Ok(format!("arn:aws:iam::{account}:user/")),
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
        GetAccountSummary => anything(),

        CreateGroup => Ok(ids::group_arn(account, p.get("Path").unwrap_or("/"), p.required("GroupName")?)),
        GetGroup | UpdateGroup | DeleteGroup | AddUserToGroup | RemoveUserFromGroup => group(),
        PutGroupPolicy | GetGroupPolicy | ListGroupPolicies | DeleteGroupPolicy | ListAttachedGroupPolicies => group(),
        ListGroups => Ok(format!("arn:aws:iam::{account}:group/")),
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
        ListPolicies => Ok(format!("arn:aws:iam::{account}:policy/")),
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
    }?;
    Ok(Some(Request { action, resource, context }))
}

/// The serial (ARN) a new virtual device will have; AWS caps it at 256 characters.
fn new_device_serial(account: &str, p: &Params) -> Result<String, ApiError> {
    let serial = ids::mfa_arn(account, p.get("Path").unwrap_or("/"), p.required("VirtualMFADeviceName")?);
    if serial.len() > 256 {
        return Err(ApiError::validation(
            "1 validation error detected: Value at 'virtualMFADeviceName' failed to satisfy constraint: \
             Member must make a serial number of at most 256 characters together with the path",
        ));
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
    use super::*;
    use crate::authz::{Decision, decide};
    use crate::caller::Principal;

    fn user(name: &str) -> Caller {
        let user = iamd_domain::entities::User {
            account_id: "123456789012".into(),
            user_id: "AIDAEXAMPLE".into(),
            name: name.into(),
            path: "/team/".into(),
            created_at: 0,
            password_last_used: None,
            tags: vec![],
        };
        Caller {
            account_id: "123456789012".into(),
            access_key_id: "AKIA".into(),
            principal: Principal::User(user),
            session: None,
        }
    }

    fn request(action: Action, resource: &str) -> Request {
        Request { action, resource: resource.into(), context: Context::default() }
    }

    #[test]
    fn users_manage_their_own_credentials_and_devices_only() {
        let bob = user("bob");
        let own = "arn:aws:iam::123456789012:user/team/bob";
        assert_eq!(decide(&bob, &request(Action::CreateAccessKey, own)), Decision::Allow);
        assert_eq!(
            decide(&bob, &request(Action::CreateAccessKey, "arn:aws:iam::123456789012:user/alice")),
            Decision::ImplicitDeny
        );
        assert_eq!(decide(&bob, &request(Action::DeleteUser, own)), Decision::ImplicitDeny);
        assert_eq!(decide(&bob, &request(Action::TagUser, own)), Decision::ImplicitDeny);
        assert_eq!(decide(&bob, &request(Action::CreateLoginProfile, own)), Decision::ImplicitDeny);
        assert_eq!(decide(&bob, &request(Action::UpdateLoginProfile, own)), Decision::ImplicitDeny);
        let device = "arn:aws:iam::123456789012:mfa/any/path/bob";
        assert_eq!(decide(&bob, &request(Action::CreateVirtualMFADevice, device)), Decision::Allow);
        assert_eq!(
            decide(&bob, &request(Action::TagMFADevice, "arn:aws:iam::123456789012:mfa/alice")),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(&bob, &request(Action::DeleteVirtualMFADevice, "arn:aws:iam::999999999999:mfa/bob")),
            Decision::ImplicitDeny
        );
        assert_eq!(decide(&bob, &request(Action::ListVirtualMFADevices, "*")), Decision::Allow);
        assert_eq!(decide(&bob, &request(Action::GetAccountSummary, "*")), Decision::ImplicitDeny);
    }

    #[test]
    fn change_password_follows_the_account_setting() {
        let bob = user("bob");
        let mut r = request(Action::ChangePassword, "arn:aws:iam::123456789012:user/team/bob");
        assert_eq!(decide(&bob, &r), Decision::Allow);
        r.context.insert(USERS_MAY_CHANGE_PASSWORD, vec!["false".into()]);
        assert_eq!(decide(&bob, &r), Decision::ImplicitDeny);
    }

    #[test]
    fn root_may_do_anything() {
        let root = Caller {
            account_id: "123456789012".into(),
            access_key_id: "AKIA".into(),
            principal: Principal::Root,
            session: None,
        };
        for &action in Action::ALL {
            assert_eq!(decide(&root, &request(action, "*")), Decision::Allow, "{action:?}");
        }
    }
}
