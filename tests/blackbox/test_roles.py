"""IAM roles through boto3 (client and resource API) and the AWS CLI: CreateRole, GetRole,
ListRoles, UpdateRole, UpdateRoleDescription, UpdateAssumeRolePolicy, DeleteRole, role tags,
role inline and managed policies, role permissions boundaries, and what lists and counts
roles (ListEntitiesForPolicy, GetAccountSummary)."""

import json

import pytest

import iamd_support as S
from iamd_support import expect_error


def trust_for(principal: str, mfa: bool = False) -> str:
    statement = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
    if mfa:
        statement["Condition"] = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


ACCOUNT_TRUST = trust_for(f"arn:aws:iam::{S.ACCOUNT_ID}:root")
READ_USERS = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["iam:ListUsers", "iam:GetUser"], "Resource": "*"}],
})


def msg_no_role(name: str) -> str:
    return f"The role with name {name} cannot be found."


def test_create_get_update_delete(iam):
    name = S.unique("role")
    created = iam.create_role(
        RoleName=name,
        Path="/ops/",
        AssumeRolePolicyDocument=ACCOUNT_TRUST,
        Description="operators",
        MaxSessionDuration=7200,
        Tags=[{"Key": "team", "Value": "sec"}],
    )["Role"]
    assert created["RoleName"] == name
    assert created["Arn"] == f"arn:aws:iam::{S.ACCOUNT_ID}:role/ops/{name}"
    assert created["RoleId"].startswith("AROA") and len(created["RoleId"]) == 21
    assert created["Path"] == "/ops/"
    assert created["MaxSessionDuration"] == 7200
    assert created["Description"] == "operators"
    assert created["Tags"] == [{"Key": "team", "Value": "sec"}]
    assert created["AssumeRolePolicyDocument"] == json.loads(ACCOUNT_TRUST)
    S.assert_recent(created["CreateDate"])

    got = iam.get_role(RoleName=name.upper())["Role"]
    assert got["RoleId"] == created["RoleId"]
    assert got["RoleLastUsed"] == {}
    assert "PermissionsBoundary" not in got

    iam.update_role(RoleName=name, Description="changed", MaxSessionDuration=3600)
    described = iam.update_role_description(RoleName=name, Description="again")["Role"]
    assert (described["Description"], described["MaxSessionDuration"]) == ("again", 3600)
    new_trust = trust_for(f"arn:aws:iam::{S.ACCOUNT_ID}:user/someone")
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=new_trust)
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == json.loads(new_trust)

    iam.delete_role(RoleName=name)
    expect_error("NoSuchEntity", 404, msg_no_role(name), fn=iam.get_role, RoleName=name)
    expect_error("NoSuchEntity", 404, msg_no_role(name), fn=iam.delete_role, RoleName=name)


def test_errors_are_aws_errors(iam, iam_nv):
    name = S.unique("role")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=ACCOUNT_TRUST)
    expect_error("EntityAlreadyExists", 409, f"Role with name {name.lower()} already exists.",
                 fn=iam.create_role, RoleName=name.lower(), AssumeRolePolicyDocument=ACCOUNT_TRUST)
    # A trust policy needs a principal; an identity policy is not one.
    expect_error("MalformedPolicyDocument", 400, fn=iam.create_role, RoleName=S.unique("role"),
                 AssumeRolePolicyDocument=READ_USERS)
    expect_error("MalformedPolicyDocument", 400, "Syntax errors in policy.",
                 fn=iam.update_assume_role_policy, RoleName=name, PolicyDocument="{not json")
    big = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": f"S{i}", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{S.ACCOUNT_ID}:user/u{i:040d}"},
         "Action": "sts:AssumeRole"} for i in range(30)]})
    expect_error("LimitExceeded", 409, "Cannot exceed quota for ACLSizePerRole: 2048",
                 fn=iam.update_assume_role_policy, RoleName=name, PolicyDocument=big)
    expect_error("ValidationError", 400, fn=iam_nv.create_role, RoleName=S.unique("role"),
                 AssumeRolePolicyDocument=ACCOUNT_TRUST, MaxSessionDuration=60)
    expect_error("NoSuchEntity", 404, msg_no_role("nobody"), fn=iam.update_role, RoleName="nobody",
                 Description="x")
    expect_error("NoSuchEntity", 404, f"Scope ARN: arn:aws:iam::{S.ACCOUNT_ID}:policy/Nope does not exist or is "
                 "not attachable.", fn=iam.create_role, RoleName=S.unique("role"),
                 AssumeRolePolicyDocument=ACCOUNT_TRUST,
                 PermissionsBoundary=f"arn:aws:iam::{S.ACCOUNT_ID}:policy/Nope")
    iam.delete_role(RoleName=name)


def test_list_roles_by_path_and_page(iam):
    prefix = "/" + S.unique("lr") + "/"
    names = sorted(S.unique("r") for _ in range(3))
    for n in names:
        iam.create_role(RoleName=n, Path=prefix, AssumeRolePolicyDocument=ACCOUNT_TRUST,
                        Tags=[{"Key": "k", "Value": "v"}])
    page = iam.list_roles(PathPrefix=prefix, MaxItems=2)
    assert [r["RoleName"] for r in page["Roles"]] == names[:2]
    assert page["IsTruncated"]
    rest = iam.list_roles(PathPrefix=prefix, Marker=page["Marker"])
    assert [r["RoleName"] for r in rest["Roles"]] == names[2:]
    # ListRoles leaves out tags, boundary and last use, as AWS does.
    assert all("Tags" not in r and "RoleLastUsed" not in r for r in page["Roles"])
    paginated = [r["RoleName"] for p in iam.get_paginator("list_roles").paginate(PathPrefix=prefix,
                                                                                 PaginationConfig={"PageSize": 1})
                 for r in p["Roles"]]
    assert paginated == names
    for n in names:
        iam.delete_role(RoleName=n)


def test_role_tags(iam):
    name = S.unique("role")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=ACCOUNT_TRUST)
    iam.tag_role(RoleName=name, Tags=[{"Key": "b", "Value": "2"}, {"Key": "A", "Value": "1"}])
    iam.tag_role(RoleName=name, Tags=[{"Key": "B", "Value": "3"}])
    assert iam.list_role_tags(RoleName=name)["Tags"] == [{"Key": "A", "Value": "1"}, {"Key": "B", "Value": "3"}]
    iam.untag_role(RoleName=name, TagKeys=["a"])
    assert iam.list_role_tags(RoleName=name)["Tags"] == [{"Key": "B", "Value": "3"}]
    expect_error("InvalidInput", 400, S.MSG_DUP_TAGS, fn=iam.tag_role, RoleName=name,
                 Tags=[{"Key": "x", "Value": "1"}, {"Key": "X", "Value": "2"}])
    expect_error("NoSuchEntity", 404, msg_no_role("nobody"), fn=iam.list_role_tags, RoleName="nobody")
    iam.delete_role(RoleName=name)


def test_role_policies_boundaries_and_delete_conflicts(iam):
    name = S.unique("role")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=ACCOUNT_TRUST)
    iam.put_role_policy(RoleName=name, PolicyName="Read", PolicyDocument=READ_USERS)
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["Read"]
    got = iam.get_role_policy(RoleName=name, PolicyName="read")
    assert (got["RoleName"], got["PolicyName"], got["PolicyDocument"]) == (name, "Read", json.loads(READ_USERS))
    expect_error("NoSuchEntity", 404, "The role policy with name Nope cannot be found.",
                 fn=iam.get_role_policy, RoleName=name, PolicyName="Nope")

    managed = iam.create_policy(PolicyName=S.unique("rp"), PolicyDocument=READ_USERS)["Policy"]
    iam.attach_role_policy(RoleName=name, PolicyArn=managed["Arn"])
    attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    assert attached == [{"PolicyName": managed["PolicyName"], "PolicyArn": managed["Arn"]}]
    entities = iam.list_entities_for_policy(PolicyArn=managed["Arn"])
    assert [r["RoleName"] for r in entities["PolicyRoles"]] == [name]
    assert iam.list_entities_for_policy(PolicyArn=managed["Arn"], EntityFilter="User")["PolicyRoles"] == []
    assert iam.get_policy(PolicyArn=managed["Arn"])["Policy"]["AttachmentCount"] == 1
    expect_error("DeleteConflict", 409, "Cannot delete a policy attached to entities.",
                 fn=iam.delete_policy, PolicyArn=managed["Arn"])

    iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=managed["Arn"])
    assert iam.get_role(RoleName=name)["Role"]["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": managed["Arn"]}
    iam.delete_role_permissions_boundary(RoleName=name)
    assert "PermissionsBoundary" not in iam.get_role(RoleName=name)["Role"]

    expect_error("DeleteConflict", 409, "Cannot delete entity, must delete policies first.",
                 fn=iam.delete_role, RoleName=name)
    iam.delete_role_policy(RoleName=name, PolicyName="Read")
    expect_error("DeleteConflict", 409, "Cannot delete entity, must detach all policies first.",
                 fn=iam.delete_role, RoleName=name)
    iam.detach_role_policy(RoleName=name, PolicyArn=managed["Arn"])
    iam.delete_role(RoleName=name)
    iam.delete_policy(PolicyArn=managed["Arn"])


def test_account_summary_counts_roles(iam):
    before = iam.get_account_summary()["SummaryMap"]
    name = S.unique("role")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=ACCOUNT_TRUST)
    after = iam.get_account_summary()["SummaryMap"]
    assert after["Roles"] == before["Roles"] + 1
    assert (after["RolesQuota"], after["AttachedPoliciesPerRoleQuota"]) == (1000, 10)
    iam.delete_role(RoleName=name)


def test_users_need_a_policy_to_manage_roles(iam, make_user, client_factory):
    user = make_user("rolecaller", with_key=True)
    theirs = client_factory("iam", user.creds)
    expect_error("AccessDenied", 403,
                 f"User: {user.arn} is not authorized to perform: iam:CreateRole on resource: "
                 f"arn:aws:iam::{S.ACCOUNT_ID}:role/x because no identity-based policy allows the iam:CreateRole action",
                 fn=theirs.create_role, RoleName="x", AssumeRolePolicyDocument=ACCOUNT_TRUST)


def test_resource_api(iam_resource, iam):
    name = S.unique("role")
    role = iam_resource.create_role(RoleName=name, AssumeRolePolicyDocument=ACCOUNT_TRUST)
    role.load()
    assert role.arn.endswith(f":role/{name}") and role.role_id.startswith("AROA")
    assert role.assume_role_policy_document == json.loads(ACCOUNT_TRUST)
    role.Policy("Read").put(PolicyDocument=READ_USERS)
    assert [p.name for p in role.policies.all()] == ["Read"]
    managed = iam_resource.create_policy(PolicyName=S.unique("rp"), PolicyDocument=READ_USERS)
    role.attach_policy(PolicyArn=managed.arn)
    assert [p.arn for p in role.attached_policies.all()] == [managed.arn]
    assert [r.name for r in managed.attached_roles.all()] == [name]
    role.detach_policy(PolicyArn=managed.arn)
    role.Policy("Read").delete()
    role.delete()
    managed.delete()
    with pytest.raises(S.ClientError):
        iam.get_role(RoleName=name)


def test_cli(aws_cli, tmp_path):
    name = S.unique("role")
    trust_file = tmp_path / "trust.json"
    trust_file.write_text(ACCOUNT_TRUST)
    created = aws_cli.run("iam", "create-role", "--role-name", name, "--path", "/cli/",
                          "--assume-role-policy-document", f"file://{trust_file}").json["Role"]
    assert created["Arn"] == f"arn:aws:iam::{S.ACCOUNT_ID}:role/cli/{name}"
    assert aws_cli.run("iam", "get-role", "--role-name", name).json["Role"]["RoleId"] == created["RoleId"]
    listed = aws_cli.run("iam", "list-roles", "--path-prefix", "/cli/").json["Roles"]
    assert name in [r["RoleName"] for r in listed]
    aws_cli.run("iam", "put-role-policy", "--role-name", name, "--policy-name", "Read",
                "--policy-document", READ_USERS)
    assert aws_cli.run("iam", "list-role-policies", "--role-name", name).json["PolicyNames"] == ["Read"]
    out = aws_cli.run("iam", "delete-role", "--role-name", name, check=False)
    S.cli_error(out, "DeleteConflict", "Cannot delete entity, must delete policies first.")
    aws_cli.run("iam", "delete-role-policy", "--role-name", name, "--policy-name", "Read")
    aws_cli.run("iam", "delete-role", "--role-name", name)
    S.cli_error(aws_cli.run("iam", "get-role", "--role-name", name, check=False), "NoSuchEntity", msg_no_role(name))


def test_cli_every_role_operation(aws_cli, tmp_path, iam):
    """Each role operation once through the AWS CLI (the tests above cover the semantics)."""
    name = S.unique("rolecli")
    policy = iam.create_policy(PolicyName=S.unique("rpcli"), PolicyDocument=READ_USERS)["Policy"]
    run = aws_cli.run
    run("iam", "create-role", "--role-name", name, "--assume-role-policy-document", ACCOUNT_TRUST,
        "--max-session-duration", "7200", "--tags", "Key=a,Value=1")
    run("iam", "update-role", "--role-name", name, "--description", "d1", "--max-session-duration", "3600")
    assert run("iam", "update-role-description", "--role-name", name,
               "--description", "d2").json["Role"]["Description"] == "d2"
    run("iam", "update-assume-role-policy", "--role-name", name, "--policy-document", trust_for(S.ROOT_ARN))
    run("iam", "tag-role", "--role-name", name, "--tags", "Key=b,Value=2")
    run("iam", "untag-role", "--role-name", name, "--tag-keys", "a")
    assert run("iam", "list-role-tags", "--role-name", name).json["Tags"] == [{"Key": "b", "Value": "2"}]
    run("iam", "put-role-policy", "--role-name", name, "--policy-name", "Read", "--policy-document", READ_USERS)
    got = run("iam", "get-role-policy", "--role-name", name, "--policy-name", "Read").json
    assert got["PolicyDocument"] == json.loads(READ_USERS)
    run("iam", "attach-role-policy", "--role-name", name, "--policy-arn", policy["Arn"])
    attached = run("iam", "list-attached-role-policies", "--role-name", name).json["AttachedPolicies"]
    assert [a["PolicyArn"] for a in attached] == [policy["Arn"]]
    run("iam", "put-role-permissions-boundary", "--role-name", name, "--permissions-boundary", policy["Arn"])
    role = run("iam", "get-role", "--role-name", name).json["Role"]
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == policy["Arn"]
    run("iam", "delete-role-permissions-boundary", "--role-name", name)
    run("iam", "detach-role-policy", "--role-name", name, "--policy-arn", policy["Arn"])
    run("iam", "delete-role-policy", "--role-name", name, "--policy-name", "Read")
    run("iam", "delete-role", "--role-name", name)
    run("iam", "delete-policy", "--policy-arn", policy["Arn"])
