//! STS: GetCallerIdentity.

use serde::Serialize;

use super::{Ctx, Reply};
use crate::auth::Principal;
use crate::wire::params::Params;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetCallerIdentityResult {
    user_id: String,
    account: String,
    arn: String,
}

/// Needs no permission and cannot be denied.
pub async fn get_caller_identity(ctx: &Ctx<'_>, _: &Params) -> Reply {
    let user_id = match &ctx.caller.principal {
        Principal::Root => ctx.account().to_owned(),
        Principal::User(user) => user.user_id.clone(),
    };
    ctx.reply(&GetCallerIdentityResult { user_id, account: ctx.account().to_owned(), arn: ctx.caller.arn() })
}
