//! Which operations change something (and so enter the audit trail when they succeed): every
//! served operation is classified, by the verb its name starts with.

use iamd_model::Action;

const READING_VERBS: &[&str] = &["Get", "List", "Simulate", "Assume"];

#[test]
fn every_served_operation_is_classified_by_its_verb() {
    for action in Action::ALL {
        let reads = READING_VERBS.iter().any(|verb| action.name().starts_with(verb));
        assert_eq!(action.is_mutating(), !reads, "{}", action.name());
    }
}

#[test]
fn changes_and_reads_as_the_audit_trail_needs_them() {
    let changes = [
        Action::CreateUser,
        Action::EnableMFADevice,
        Action::ResyncMFADevice,
        Action::DeactivateMFADevice,
        Action::DeleteVirtualMFADevice,
        Action::PutUserPolicy,
        Action::AttachUserPolicy,
        Action::DetachRolePolicy,
        Action::SetDefaultPolicyVersion,
        Action::ChangePassword,
        Action::AddUserToGroup,
        Action::RemoveUserFromGroup,
        Action::TagMFADevice,
        Action::UntagUser,
        Action::GenerateCredentialReport,
        Action::UpdateAssumeRolePolicy,
    ];
    for action in changes {
        assert!(action.is_mutating(), "{}", action.name());
    }
    let reads = [
        Action::GetUser,
        Action::ListMFADevices,
        Action::GetCredentialReport,
        Action::SimulatePrincipalPolicy,
        Action::GetAccountAuthorizationDetails,
        Action::GetCallerIdentity,
        Action::GetSessionToken,
        Action::AssumeRole,
    ];
    for action in reads {
        assert!(!action.is_mutating(), "{}", action.name());
    }
    let served_changes = Action::ALL.iter().filter(|a| a.is_mutating()).count();
    assert!(served_changes > 40 && served_changes < Action::ALL.len() - 30, "{served_changes}");
}
