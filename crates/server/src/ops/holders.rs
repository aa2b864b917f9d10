//! Users, groups and roles as holders of inline policies, attached policies and (users and
//! roles) a permissions boundary: which parameter names each, and AWS's texts about them.

use iamd_domain::ApiError;
use iamd_store::Holder;

use super::groups::no_such_group;
use super::roles::no_such_role;
use crate::wire::params::Params;

/// A holder named in a request.
#[derive(Clone, Copy)]
pub struct Named<'a> {
    pub holder: Holder,
    pub name: &'a str,
}

impl<'a> Named<'a> {
    /// The holder `UserName`, `GroupName` or `RoleName` names.
    pub fn from_params(p: &'a Params, holder: Holder) -> Result<Self, ApiError> {
        let param = match holder {
            Holder::User => "UserName",
            Holder::Group => "GroupName",
            Holder::Role => "RoleName",
        };
        Ok(Named { holder, name: p.required(param)? })
    }

    /// `user`, `group` or `role`, as AWS's messages say it.
    pub fn kind(self) -> &'static str {
        match self.holder {
            Holder::User => "user",
            Holder::Group => "group",
            Holder::Role => "role",
        }
    }

    /// `NoSuchEntity` for this holder, with AWS's message.
    pub fn not_found(self) -> ApiError {
        match self.holder {
            Holder::User => ApiError::no_such_user(self.name),
            Holder::Group => no_such_group(self.name),
            Holder::Role => no_such_role(self.name),
        }
    }
}
