//! iamd's rule until IAM policies exist: what an IAM user may do to itself, as AWS's documented
//! self-service policy ("allow users to manage their own credentials and MFA device") grants —
//! written as data, so the policy engine can replace it by the policy itself.

use iamd_domain::entities::User;
use iamd_model::Action;

use super::Request;
use crate::caller::Caller;

/// Which resource a self-service grant covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Own {
    /// The calling user (`arn:aws:iam::ACCOUNT:user/${aws:username}`).
    User,
    /// A virtual MFA device named after the calling user (`arn:aws:iam::ACCOUNT:mfa/${aws:username}`,
    /// on any path).
    MfaDevice,
    /// Anything (`*`): reads a user needs to manage its own credentials.
    Anything,
}

/// Actions a user may perform on its own resources. `ChangePassword` is granted only while the
/// account's password policy lets users change their own password (as on AWS). Login profiles are
/// not here, as in AWS's self-service policy: a user changes its password with ChangePassword
/// (which asks for the old one), and a stolen access key cannot give itself console access.
const GRANTS: &[(Action, Own)] = &[
    (Action::GetUser, Own::User),
    (Action::CreateAccessKey, Own::User),
    (Action::ListAccessKeys, Own::User),
    (Action::UpdateAccessKey, Own::User),
    (Action::DeleteAccessKey, Own::User),
    (Action::EnableMFADevice, Own::User),
    (Action::ResyncMFADevice, Own::User),
    (Action::DeactivateMFADevice, Own::User),
    (Action::ListMFADevices, Own::User),
    (Action::GetMFADevice, Own::User),
    (Action::ChangePassword, Own::User),
    (Action::CreateVirtualMFADevice, Own::MfaDevice),
    (Action::DeleteVirtualMFADevice, Own::MfaDevice),
    (Action::TagMFADevice, Own::MfaDevice),
    (Action::UntagMFADevice, Own::MfaDevice),
    (Action::ListMFADeviceTags, Own::MfaDevice),
    (Action::ListVirtualMFADevices, Own::Anything),
    (Action::GetAccountPasswordPolicy, Own::Anything),
];

/// The context key through which ChangePassword carries the account's password-policy setting.
pub const USERS_MAY_CHANGE_PASSWORD: &str = "iamd:AllowUsersToChangePassword";

pub(super) fn allows(caller: &Caller, user: &User, request: &Request) -> bool {
    let Some(&(_, own)) = GRANTS.iter().find(|(action, _)| *action == request.action) else {
        return false;
    };
    if request.action == Action::ChangePassword
        && request.context.get(USERS_MAY_CHANGE_PASSWORD).is_some_and(|v| v.iter().any(|v| v == "false"))
    {
        return false;
    }
    match own {
        Own::User => request.resource == caller.arn(),
        Own::MfaDevice => {
            let prefix = format!("arn:aws:iam::{}:mfa/", caller.account_id);
            request.resource.starts_with(&prefix) && request.resource.rsplit('/').next() == Some(user.name.as_str())
        }
        Own::Anything => true,
    }
}
