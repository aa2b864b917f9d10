"""GetAccountAuthorizationDetails through boto3 (with its paginator) and the AWS CLI: users,
groups and roles with the policies that apply to them, and managed policies with every
version."""

import json

import iamd_support as S
from iamd_support import expect_error
from test_roles import ACCOUNT_TRUST, READ_USERS

IAM_READ_ONLY = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"


def test_the_whole_picture(iam, iam_nv, client_factory, make_user):
    user = make_user("gaad", with_key=True)
    group, role = S.unique("gaadg"), S.unique("gaadr")
    managed = iam.create_policy(PolicyName=S.unique("gaadp"), PolicyDocument=READ_USERS)["Policy"]
    iam.create_policy_version(PolicyArn=managed["Arn"], PolicyDocument=READ_USERS, SetAsDefault=True)
    iam.create_group(GroupName=group)
    iam.put_group_policy(GroupName=group, PolicyName="G", PolicyDocument=READ_USERS)
    iam.add_user_to_group(GroupName=group, UserName=user.name)
    iam.put_user_policy(UserName=user.name, PolicyName="U", PolicyDocument=READ_USERS)
    iam.attach_user_policy(UserName=user.name, PolicyArn=managed["Arn"])
    iam.put_user_permissions_boundary(UserName=user.name, PermissionsBoundary=managed["Arn"])
    iam.tag_user(UserName=user.name, Tags=[{"Key": "team", "Value": "a"}])
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=ACCOUNT_TRUST, Tags=[{"Key": "k", "Value": "v"}])
    iam.put_role_policy(RoleName=role, PolicyName="R", PolicyDocument=READ_USERS)
    iam.attach_role_policy(RoleName=role, PolicyArn=IAM_READ_ONLY)

    pages = list(iam.get_paginator("get_account_authorization_details").paginate(PaginationConfig={"PageSize": 2}))
    assert len(pages) > 1
    users = {u["UserName"]: u for p in pages for u in p["UserDetailList"]}
    groups = {g["GroupName"]: g for p in pages for g in p["GroupDetailList"]}
    roles = {r["RoleName"]: r for p in pages for r in p["RoleDetailList"]}
    policies = {x["Arn"]: x for p in pages for x in p["Policies"]}

    u = users[user.name]
    assert (u["UserId"], u["Arn"]) == (user.user_id, user.arn)
    assert u["UserPolicyList"] == [{"PolicyName": "U", "PolicyDocument": json.loads(READ_USERS)}]
    assert u["GroupList"] == [group]
    assert u["AttachedManagedPolicies"] == [{"PolicyName": managed["PolicyName"], "PolicyArn": managed["Arn"]}]
    assert u["PermissionsBoundary"]["PermissionsBoundaryArn"] == managed["Arn"]
    assert u["Tags"] == [{"Key": "team", "Value": "a"}]
    assert groups[group]["GroupPolicyList"] == [{"PolicyName": "G", "PolicyDocument": json.loads(READ_USERS)}]
    r = roles[role]
    assert r["AssumeRolePolicyDocument"] == json.loads(ACCOUNT_TRUST)
    assert r["RolePolicyList"][0]["PolicyName"] == "R"
    assert r["AttachedManagedPolicies"] == [{"PolicyName": "IAMReadOnlyAccess", "PolicyArn": IAM_READ_ONLY}]
    assert r["InstanceProfileList"] == [] and r["Tags"] == [{"Key": "k", "Value": "v"}]
    mine = policies[managed["Arn"]]
    assert (mine["DefaultVersionId"], mine["AttachmentCount"], mine["PermissionsBoundaryUsageCount"]) == ("v2", 1, 1)
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in mine["PolicyVersionList"]] == [("v2", True), ("v1", False)]
    assert mine["PolicyVersionList"][0]["Document"] == json.loads(READ_USERS)
    # AWS managed policies appear when something in the account uses them.
    assert IAM_READ_ONLY in policies
    assert "arn:aws:iam::aws:policy/AdministratorAccess" not in policies or \
        policies["arn:aws:iam::aws:policy/AdministratorAccess"]["AttachmentCount"] > 0

    only_roles = iam.get_account_authorization_details(Filter=["Role"])
    assert not only_roles["UserDetailList"] and not only_roles["Policies"]
    assert role in [x["RoleName"] for x in only_roles["RoleDetailList"]]
    only_local = iam.get_account_authorization_details(Filter=["LocalManagedPolicy"])["Policies"]
    assert managed["Arn"] in [x["Arn"] for x in only_local]
    assert all(":aws:policy/" not in x["Arn"] for x in only_local)

    expect_error("ValidationError", 400, fn=iam_nv.get_account_authorization_details, Filter=["Nope"])
    expect_error("AccessDenied", 403, fn=client_factory("iam", user.creds).get_account_authorization_details)

    iam.detach_role_policy(RoleName=role, PolicyArn=IAM_READ_ONLY)
    iam.delete_role_policy(RoleName=role, PolicyName="R")
    iam.delete_role(RoleName=role)


def test_cli(aws_cli):
    role = S.unique("gaadc")
    aws_cli.run("iam", "create-role", "--role-name", role, "--assume-role-policy-document", ACCOUNT_TRUST)
    out = aws_cli.run("iam", "get-account-authorization-details", "--filter", "Role").json
    assert role in [r["RoleName"] for r in out["RoleDetailList"]]
    aws_cli.run("iam", "delete-role", "--role-name", role)
