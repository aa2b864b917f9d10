"""The policy simulator through boto3 (client, paginators) and the AWS CLI:
SimulateCustomPolicy, SimulatePrincipalPolicy, GetContextKeysForCustomPolicy and
GetContextKeysForPrincipalPolicy — AWS's MFA pattern, principal keys and variables, groups,
boundaries, missing context values and where each matched statement is."""

import json

import iamd_support as S
from iamd_support import expect_error

MFA_OR_NOTHING = """{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "All", "Effect": "Allow", "Action": "iam:*", "Resource": "*"},
    {
      "Sid": "NoMfaNoAccess",
      "Effect": "Deny",
      "NotAction": "iam:ListMFADevices",
      "Resource": "*",
      "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}
    }
  ]
}"""

OWN_KEYS = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "iam:CreateAccessKey", "Resource": "arn:aws:iam::*:user/${aws:username}"}]})
GET_USER = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]})
MFA_TRUE = {"ContextKeyName": "aws:MultiFactorAuthPresent", "ContextKeyValues": ["true"], "ContextKeyType": "boolean"}


def one(results, action):
    [r] = [r for r in results["EvaluationResults"] if r["EvalActionName"] == action]
    return r


def test_custom_policy_and_the_mfa_pattern(iam):
    without = iam.simulate_custom_policy(PolicyInputList=[MFA_OR_NOTHING],
                                         ActionNames=["iam:DeleteUser", "iam:ListMFADevices"])
    denied = one(without, "iam:DeleteUser")
    assert (denied["EvalResourceName"], denied["EvalDecision"]) == ("*", "explicitDeny")
    # Only the deny statement is reported, where it is in the text (1-based line and column).
    assert denied["MatchedStatements"] == [{
        "SourcePolicyId": "PolicyInputList.1", "SourcePolicyType": "none",
        "StartPosition": {"Line": 5, "Column": 5}, "EndPosition": {"Line": 11, "Column": 5}}]
    assert denied["MissingContextValues"] == ["aws:MultiFactorAuthPresent"]
    assert one(without, "iam:ListMFADevices")["EvalDecision"] == "allowed"

    with_mfa = iam.simulate_custom_policy(PolicyInputList=[MFA_OR_NOTHING], ActionNames=["iam:DeleteUser"],
                                          ContextEntries=[MFA_TRUE])
    allowed = one(with_mfa, "iam:DeleteUser")
    assert allowed["EvalDecision"] == "allowed"
    assert allowed["MissingContextValues"] == []
    assert [m["StartPosition"]["Line"] for m in allowed["MatchedStatements"]] == [4]

    nothing = iam.simulate_custom_policy(PolicyInputList=[GET_USER], ActionNames=["iam:CreateUser"])
    assert one(nothing, "iam:CreateUser")["EvalDecision"] == "implicitDeny"
    assert one(nothing, "iam:CreateUser")["MatchedStatements"] == []


def test_custom_policy_resources_boundary_and_paging(iam):
    resp = iam.simulate_custom_policy(
        PolicyInputList=[json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "arn:aws:iam::*:user/a*"}]})],
        PermissionsBoundaryPolicyInputList=[GET_USER],
        ActionNames=["iam:GetUser"],
        ResourceArns=[f"arn:aws:iam::{S.ACCOUNT_ID}:user/alice", f"arn:aws:iam::{S.ACCOUNT_ID}:user/bob"],
    )
    by_resource = {r["EvalResourceName"]: r for r in resp["EvaluationResults"]}
    alice = by_resource[f"arn:aws:iam::{S.ACCOUNT_ID}:user/alice"]
    assert alice["EvalDecision"] == "allowed"
    assert alice["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": True}
    assert alice["ResourceSpecificResults"][0]["EvalResourceDecision"] == "allowed"
    assert by_resource[f"arn:aws:iam::{S.ACCOUNT_ID}:user/bob"]["EvalDecision"] == "implicitDeny"
    # The boundary limits: allowed by the identity policy, not by the boundary.
    limited = iam.simulate_custom_policy(PolicyInputList=[MFA_OR_NOTHING], PermissionsBoundaryPolicyInputList=[GET_USER],
                                         ActionNames=["iam:CreateUser"], ContextEntries=[MFA_TRUE])
    assert one(limited, "iam:CreateUser")["EvalDecision"] == "implicitDeny"
    assert one(limited, "iam:CreateUser")["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}

    actions = ["iam:GetUser", "iam:ListUsers", "iam:CreateUser"]
    pages = list(iam.get_paginator("simulate_custom_policy").paginate(
        PolicyInputList=[GET_USER], ActionNames=actions, PaginationConfig={"PageSize": 1}))
    assert [r["EvalActionName"] for p in pages for r in p["EvaluationResults"]] == actions


def test_principal_policy_with_groups_variables_and_exclusions(iam, make_user):
    user = make_user("sim")
    group = S.unique("simg")
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=user.name)
    iam.put_group_policy(GroupName=group, PolicyName="OwnKeys", PolicyDocument=OWN_KEYS)
    iam.put_user_policy(UserName=user.name, PolicyName="Get", PolicyDocument=GET_USER)
    own = f"arn:aws:iam::{S.ACCOUNT_ID}:user/{user.name}"
    other = f"arn:aws:iam::{S.ACCOUNT_ID}:user/someone-else"
    resp = iam.simulate_principal_policy(PolicySourceArn=user.arn, ActionNames=["iam:CreateAccessKey", "iam:GetUser"],
                                         ResourceArns=[own, other])
    decisions = {(r["EvalActionName"], r["EvalResourceName"]): r for r in resp["EvaluationResults"]}
    # `${aws:username}` is the simulated user: its own key only.
    assert decisions[("iam:CreateAccessKey", own)]["EvalDecision"] == "allowed"
    assert decisions[("iam:CreateAccessKey", own)]["MatchedStatements"][0]["SourcePolicyId"] == "OwnKeys"
    assert decisions[("iam:CreateAccessKey", own)]["MatchedStatements"][0]["SourcePolicyType"] == "group"
    assert decisions[("iam:CreateAccessKey", other)]["EvalDecision"] == "implicitDeny"
    assert decisions[("iam:GetUser", other)]["MatchedStatements"][0]["SourcePolicyType"] == "user"

    by_name = {"InlinePolicyIdentifier": {"PolicyName": "get", "AttachmentType": "user", "AttachmentName": user.name}}
    for exclusion in (by_name, {"PolicyType": "inline"}):
        excluded = iam.simulate_principal_policy(PolicySourceArn=user.arn, ActionNames=["iam:GetUser"],
                                                 PolicyExclusionList=[exclusion])
        assert one(excluded, "iam:GetUser")["EvalDecision"] == "implicitDeny", exclusion
    kept = iam.simulate_principal_policy(PolicySourceArn=user.arn, ActionNames=["iam:GetUser"],
                                         PolicyExclusionList=[{"PolicyType": "aws-managed"}])
    assert one(kept, "iam:GetUser")["EvalDecision"] == "allowed"
    extra = iam.simulate_principal_policy(PolicySourceArn=user.arn, ActionNames=["iam:DeleteUser"],
                                          PolicyInputList=[MFA_OR_NOTHING], ContextEntries=[MFA_TRUE])
    assert one(extra, "iam:DeleteUser")["EvalDecision"] == "allowed"

    on_group = iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{S.ACCOUNT_ID}:group/{group}",
                                             ActionNames=["iam:CreateAccessKey"], CallerArn=user.arn,
                                             ResourceArns=[own])
    assert one(on_group, "iam:CreateAccessKey")["EvalDecision"] == "allowed"

    keys = iam.get_context_keys_for_principal_policy(PolicySourceArn=user.arn, PolicyInputList=[MFA_OR_NOTHING])
    assert set(keys["ContextKeyNames"]) == {"aws:username", "aws:MultiFactorAuthPresent"}


def test_role_source_with_boundary(iam):
    role = S.unique("simr")
    boundary = iam.create_policy(PolicyName=S.unique("simb"), PolicyDocument=GET_USER)["Policy"]
    iam.create_role(RoleName=role, PermissionsBoundary=boundary["Arn"], AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": S.ACCOUNT_ID},
                                                "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName=role, PolicyName="All", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}))
    resp = iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{S.ACCOUNT_ID}:role/{role}",
                                         ActionNames=["iam:GetUser", "iam:DeleteUser"])
    assert one(resp, "iam:GetUser")["EvalDecision"] == "allowed"
    assert one(resp, "iam:DeleteUser")["EvalDecision"] == "implicitDeny"
    assert one(resp, "iam:DeleteUser")["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}
    iam.delete_role_policy(RoleName=role, PolicyName="All")
    iam.delete_role(RoleName=role)
    iam.delete_policy(PolicyArn=boundary["Arn"])


def test_errors(iam, make_user, client_factory):
    expect_error("NoSuchEntity", 404, S.msg_no_user("nobody"), fn=iam.simulate_principal_policy,
                 PolicySourceArn=f"arn:aws:iam::{S.ACCOUNT_ID}:user/nobody", ActionNames=["iam:GetUser"])
    expect_error("InvalidInput", 400, "Syntax errors in policy.", fn=iam.simulate_custom_policy,
                 PolicyInputList=["{nope"], ActionNames=["iam:GetUser"])
    expect_error("InvalidInput", 400, fn=iam.simulate_custom_policy, PolicyInputList=[GET_USER],
                 ActionNames=["iam:*"])
    expect_error("InvalidInput", 400, fn=iam.simulate_custom_policy, PolicyInputList=[GET_USER],
                 ActionNames=["iam:GetUser"], ContextEntries=[{"ContextKeyName": "aws:EpochTime",
                                                               "ContextKeyValues": ["soon"],
                                                               "ContextKeyType": "numeric"}])
    user = make_user("simd", with_key=True)
    expect_error("AccessDenied", 403, fn=client_factory("iam", user.creds).simulate_custom_policy,
                 PolicyInputList=[GET_USER], ActionNames=["iam:GetUser"])
    assert iam.get_context_keys_for_custom_policy(PolicyInputList=[MFA_OR_NOTHING, OWN_KEYS])["ContextKeyNames"] == [
        "aws:MultiFactorAuthPresent", "aws:username"]


def test_cli(aws_cli, tmp_path):
    policy = tmp_path / "p.json"
    policy.write_text(json.dumps([MFA_OR_NOTHING]))
    out = aws_cli.run("iam", "simulate-custom-policy", "--policy-input-list", f"file://{policy}",
                      "--action-names", "iam:CreateUser", "--context-entries",
                      "ContextKeyName=aws:MultiFactorAuthPresent,ContextKeyValues=true,ContextKeyType=boolean").json
    assert out["EvaluationResults"][0]["EvalDecision"] == "allowed"
    keys = aws_cli.run("iam", "get-context-keys-for-custom-policy", "--policy-input-list", f"file://{policy}").json
    assert keys["ContextKeyNames"] == ["aws:MultiFactorAuthPresent"]


def test_cli_principal_simulation(aws_cli, make_user, iam):
    user = make_user("simcli")
    iam.put_user_policy(UserName=user.name, PolicyName="Get", PolicyDocument=GET_USER)
    out = aws_cli.run("iam", "simulate-principal-policy", "--policy-source-arn", user.arn,
                      "--action-names", "iam:GetUser", "iam:DeleteUser").json
    assert [r["EvalDecision"] for r in out["EvaluationResults"]] == ["allowed", "implicitDeny"]
    keys = aws_cli.run("iam", "get-context-keys-for-principal-policy", "--policy-source-arn", user.arn,
                       "--policy-input-list", OWN_KEYS).json
    assert keys["ContextKeyNames"] == ["aws:username"]
