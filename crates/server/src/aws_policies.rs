//! The AWS managed policies iamd ships (`arn:aws:iam::aws:policy/…`), created or brought up to
//! date at every start. Every account can read, list and attach them; nobody can change them.
//! Only the IAM and STS parts matter to iamd, so `ReadOnlyAccess` carries just its IAM
//! statement.

use iamd_store::{Store, StoreError};

/// `(name, path, description, document of the default version)`.
pub const AWS_MANAGED_POLICIES: &[(&str, &str, &str, &str)] = &[
    (
        "AdministratorAccess",
        "/",
        "Provides full access to AWS services and resources.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
    ),
    (
        "IAMFullAccess",
        "/",
        "Provides full access to IAM via the AWS Management Console.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:*","organizations:DescribeAccount","organizations:DescribeOrganization","organizations:DescribeOrganizationalUnit","organizations:DescribePolicy","organizations:ListChildren","organizations:ListParents","organizations:ListPoliciesForTarget","organizations:ListRoots","organizations:ListPolicies","organizations:ListTargetsForPolicy"],"Resource":"*"}]}"#,
    ),
    (
        "IAMReadOnlyAccess",
        "/",
        "Provides read only access to IAM via the AWS Management Console.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GenerateCredentialReport","iam:GenerateServiceLastAccessedDetails","iam:Get*","iam:List*","iam:SimulateCustomPolicy","iam:SimulatePrincipalPolicy"],"Resource":"*"}]}"#,
    ),
    (
        "IAMUserChangePassword",
        "/",
        "Provides the ability for an IAM user to change their own password.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:ChangePassword"],"Resource":["arn:aws:iam::*:user/${aws:username}","arn:aws:iam::*:user/*/${aws:username}"]},{"Effect":"Allow","Action":["iam:GetAccountPasswordPolicy"],"Resource":"*"}]}"#,
    ),
    (
        "ReadOnlyAccess",
        "/",
        "Provides read-only access to AWS services and resources.",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:Generate*","iam:Get*","iam:List*","iam:Simulate*"],"Resource":"*"}]}"#,
    ),
];

/// Creates the shipped policies, or updates their description and default document. Safe when
/// several nodes start at once (each policy's id derives from its ARN).
pub async fn seed(store: &dyn Store, now: i64) -> Result<(), StoreError> {
    for (name, path, description, document) in AWS_MANAGED_POLICIES {
        store.ensure_aws_managed_policy(name, path, Some(description), document, now).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_documents_are_valid_managed_policies() {
        for (name, _, _, document) in AWS_MANAGED_POLICIES {
            assert!(iamd_policy::Policy::parse_managed(document).is_ok(), "{name}");
        }
    }
}
