"""Inline policies of users and groups: Put/Get/List/DeleteUserPolicy and
Put/Get/List/DeleteGroupPolicy.

Through the boto3 client, the boto3 resource API, the AWS CLI and raw HTTP (to see
the URL-encoded document AWS returns).  Documents are validated as identity
policies; the sum of an entity's documents, white space not counted, is capped at
2048 characters per user and 5120 per group.
"""

import json
import urllib.parse

import pytest

import iamd_support as S
from iamd_support import expect_error

DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}
MSG_DELETE_POLICIES = "Cannot delete entity, must delete policies first."


def doc_text(**extra):
    return json.dumps({**DOC, **extra})


def msg_no_policy(kind, name):
    return f"The {kind} policy with name {name} cannot be found."


def msg_size(kind, name):
    limit = 2048 if kind == "user" else 5120
    return f"Maximum policy size of {limit} bytes exceeded for {kind} {name}"


SIZED_BASE = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Sid": "", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}]},
    separators=(",", ":"),
)


def sized_doc(chars):
    """An identity policy of exactly `chars` characters once white space is removed."""
    base = SIZED_BASE
    pad = chars - len(base)
    assert pad >= 0
    return base.replace('"Sid":""', '"Sid":"' + "S" * pad + '"')


@pytest.fixture
def group(iam):
    return iam.create_group(GroupName=S.unique("ipg"))["Group"]["GroupName"]


@pytest.fixture
def bob(make_user, client_factory):
    user = make_user("ipbob", with_key=True)
    user.iam = client_factory("iam", user.creds)
    return user


class Owner:
    """The user or group flavour of the same operations."""

    def __init__(self, iam, kind, name):
        self.iam, self.kind, self.name = iam, kind, name
        self.key = "UserName" if kind == "user" else "GroupName"
        self.cap = "User" if kind == "user" else "Group"

    def call(self, op, **kw):
        method = getattr(self.iam, op.format(self.kind))
        return method(**{self.key: self.name}, **kw)

    def put(self, name, doc):
        return self.call("put_{}_policy", PolicyName=name, PolicyDocument=doc)

    def get(self, name):
        return self.call("get_{}_policy", PolicyName=name)

    def names(self, **kw):
        return self.call("list_{}_policies", **kw)

    def delete(self, name):
        return self.call("delete_{}_policy", PolicyName=name)


@pytest.fixture(params=["user", "group"])
def owner(request, iam, make_user):
    if request.param == "user":
        name = make_user("ipu").name
    else:
        name = iam.create_group(GroupName=S.unique("ipg"))["Group"]["GroupName"]
    return Owner(iam, request.param, name)


# ---------------------------------------------------------------------------
# boto3 client, users and groups alike
# ---------------------------------------------------------------------------


def test_put_get_list_delete(owner):
    resp = owner.put("ReadBuckets", doc_text())
    assert set(resp) == {"ResponseMetadata"}
    got = owner.get("ReadBuckets")
    assert got[owner.key] == owner.name and got["PolicyName"] == "ReadBuckets"
    assert got["PolicyDocument"] == DOC  # botocore URL-decodes and parses it
    listed = owner.names()
    assert listed["PolicyNames"] == ["ReadBuckets"] and listed["IsTruncated"] is False
    assert set(owner.delete("ReadBuckets")) == {"ResponseMetadata"}
    assert owner.names()["PolicyNames"] == []
    with expect_error("NoSuchEntity", 404, msg_no_policy(owner.kind, "ReadBuckets")):
        owner.get("ReadBuckets")
    with expect_error("NoSuchEntity", 404, msg_no_policy(owner.kind, "ReadBuckets")):
        owner.delete("ReadBuckets")


def test_document_returned_exactly_as_put(owner, endpoint):
    text = (
        '{\n  "Version": "2012-10-17",\n\t"Statement": [ {"Sid": "Caf\u00e9 + 100% ~ok", "Effect": "Allow",'
        ' "Action": ["s3:Get*", "s3:List*"], "Resource": "arn:aws:s3:::b/a b&c=d?e#f"} ]\n}'
    )
    owner.put("Exact", text)
    assert owner.get("Exact")["PolicyDocument"] == json.loads(text)
    resp = S.signed_request(endpoint, {"Action": f"Get{owner.cap}Policy", "Version": "2010-05-08",
                                       owner.key: owner.name, "PolicyName": "Exact"})
    assert resp.status_code == 200, resp.text
    root = S.xml_root(resp)
    result = root.find(S.q(S.IAM_NS, f"Get{owner.cap}PolicyResult"))
    encoded = result.findtext(S.q(S.IAM_NS, "PolicyDocument"))
    assert "+" not in encoded and " " not in encoded and "%20" in encoded
    assert urllib.parse.unquote(encoded) == text
    assert [c.tag.split("}")[1] for c in result] == [owner.key, "PolicyName", "PolicyDocument"]


def test_put_replaces_and_names_are_case_insensitive(owner):
    owner.put("Policy", doc_text())
    other = {**DOC, "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
    owner.put("POLICY", json.dumps(other))
    assert owner.names()["PolicyNames"] == ["POLICY"]
    assert owner.get("policy")["PolicyDocument"] == other
    owner.delete("Policy")
    assert owner.names()["PolicyNames"] == []


def test_list_sorted_and_paginated(owner):
    names = ["zeta", "Alpha", "mid", "beta", "Omega"]
    for n in names:
        owner.put(n, doc_text())
    assert owner.names()["PolicyNames"] == sorted(names, key=str.lower)
    op = f"list_{owner.kind}_policies"
    pages = list(owner.iam.get_paginator(op).paginate(PaginationConfig={"PageSize": 2}, **{owner.key: owner.name}))
    assert [len(p["PolicyNames"]) for p in pages] == [2, 2, 1]
    assert all(p["IsTruncated"] and p["Marker"] for p in pages[:-1]) and not pages[-1]["IsTruncated"]
    assert [n for p in pages for n in p["PolicyNames"]] == sorted(names, key=str.lower)
    first = owner.names(MaxItems=4)
    assert first["IsTruncated"] and len(first["PolicyNames"]) == 4
    assert owner.names(Marker=first["Marker"])["PolicyNames"] == [sorted(names, key=str.lower)[-1]]
    with expect_error("ValidationError", 400, "Invalid Marker."):
        owner.names(Marker="junk!")


@pytest.mark.parametrize(
    "doc, message",
    [
        ("not json", "Syntax errors in policy."),
        ("null", "Syntax errors in policy."),
        ('{"Version": "2012-10-17", "Statement": null}', "Syntax errors in policy."),
        (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*",
                                                              "Resource": "*"}]}),
         "Policy document should not specify a principal."),
        (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]}),
         "Policy statement must contain resources."),
        (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]}),
         "Policy statement must contain actions."),
        (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*",
                                                              "Resource": "bucket"}]}),
         'Resource bucket must be in ARN format or "*".'),
        (json.dumps({"Version": "2099-01-01", "Statement": []}), "The policy failed legacy parsing"),
    ],
)
def test_malformed_documents(owner, doc, message):
    with expect_error("MalformedPolicyDocument", 400, message):
        owner.put("Bad", doc)
    assert owner.names()["PolicyNames"] == []


def test_document_outside_charset_is_validation_error(iam_nv, make_user):
    user = make_user("ipcs")
    doc = json.dumps({**DOC, "Id": "\u4e2d"}, ensure_ascii=False)
    with expect_error("ValidationError", 400, startswith="1 validation error detected"):
        iam_nv.put_user_policy(UserName=user.name, PolicyName="p", PolicyDocument=doc)


def test_unknown_owner(iam):
    ghost = S.unique("ghost")
    with expect_error("NoSuchEntity", 404, S.msg_no_user(ghost)):
        iam.put_user_policy(UserName=ghost, PolicyName="p", PolicyDocument=doc_text())
    for call in (iam.get_user_policy, iam.delete_user_policy):
        with expect_error("NoSuchEntity", 404, S.msg_no_user(ghost)):
            call(UserName=ghost, PolicyName="p")
    with expect_error("NoSuchEntity", 404, S.msg_no_user(ghost)):
        iam.list_user_policies(UserName=ghost)
    no_group = f"The group with name {ghost} cannot be found."
    with expect_error("NoSuchEntity", 404, no_group):
        iam.put_group_policy(GroupName=ghost, PolicyName="p", PolicyDocument=doc_text())
    for call in (iam.get_group_policy, iam.delete_group_policy):
        with expect_error("NoSuchEntity", 404, no_group):
            call(GroupName=ghost, PolicyName="p")
    with expect_error("NoSuchEntity", 404, no_group):
        iam.list_group_policies(GroupName=ghost)


def test_size_quota(owner):
    limit = 2048 if owner.kind == "user" else 5120
    # white space does not count
    owner.put("Full", sized_doc(limit).replace(",", ",\n    "))
    with expect_error("LimitExceeded", 409, msg_size(owner.kind, owner.name)):
        owner.put("More", sized_doc(len(SIZED_BASE)))
    owner.delete("Full")
    # the total of all documents counts; replacing one counts its new size only
    owner.put("A", sized_doc(limit - 200))
    owner.put("B", sized_doc(200))
    owner.put("B", sized_doc(150))
    with expect_error("LimitExceeded", 409, msg_size(owner.kind, owner.name)):
        owner.put("A", sized_doc(limit - 149))
    with expect_error("LimitExceeded", 409, msg_size(owner.kind, owner.name)):
        owner.put("C", sized_doc(len(SIZED_BASE) + 60))
    assert owner.names()["PolicyNames"] == ["A", "B"]
    assert owner.get("A")["PolicyDocument"] == json.loads(sized_doc(limit - 200))


def test_delete_user_refused_with_inline_policies(iam, make_user):
    user = make_user("ipdel")
    iam.put_user_policy(UserName=user.name, PolicyName="p", PolicyDocument=doc_text())
    with expect_error("DeleteConflict", 409, MSG_DELETE_POLICIES):
        iam.delete_user(UserName=user.name)
    iam.delete_user_policy(UserName=user.name, PolicyName="p")
    iam.delete_user(UserName=user.name)


def test_delete_group_refused_with_inline_policies(iam, group):
    iam.put_group_policy(GroupName=group, PolicyName="p", PolicyDocument=doc_text())
    with expect_error("DeleteConflict", 409, MSG_DELETE_POLICIES):
        iam.delete_group(GroupName=group)
    iam.delete_group_policy(GroupName=group, PolicyName="p")
    iam.delete_group(GroupName=group)


def test_user_without_permissions_is_denied(iam, bob, group):
    iam.put_user_policy(UserName=bob.name, PolicyName="own", PolicyDocument=doc_text())
    iam.put_group_policy(GroupName=group, PolicyName="gp", PolicyDocument=doc_text())
    calls = {
        "PutUserPolicy": lambda: bob.iam.put_user_policy(UserName=bob.name, PolicyName="x",
                                                         PolicyDocument=doc_text()),
        "GetUserPolicy": lambda: bob.iam.get_user_policy(UserName=bob.name, PolicyName="own"),
        "ListUserPolicies": lambda: bob.iam.list_user_policies(UserName=bob.name),
        "DeleteUserPolicy": lambda: bob.iam.delete_user_policy(UserName=bob.name, PolicyName="own"),
        "PutGroupPolicy": lambda: bob.iam.put_group_policy(GroupName=group, PolicyName="x",
                                                           PolicyDocument=doc_text()),
        "GetGroupPolicy": lambda: bob.iam.get_group_policy(GroupName=group, PolicyName="gp"),
        "ListGroupPolicies": lambda: bob.iam.list_group_policies(GroupName=group),
        "DeleteGroupPolicy": lambda: bob.iam.delete_group_policy(GroupName=group, PolicyName="gp"),
    }
    for action, call in calls.items():
        with expect_error("AccessDenied", 403, startswith=S.denied_prefix(bob.arn, action)):
            call()
    assert iam.list_user_policies(UserName=bob.name)["PolicyNames"] == ["own"]
    assert iam.list_group_policies(GroupName=group)["PolicyNames"] == ["gp"]


# ---------------------------------------------------------------------------
# boto3 resource API
# ---------------------------------------------------------------------------


def test_resource_user_policies(iam_resource, make_user):
    user = iam_resource.User(make_user("rup").name)
    policy = user.create_policy(PolicyName="first", PolicyDocument=doc_text())
    assert policy.user_name == user.name and policy.name == "first"
    assert policy.policy_document == DOC
    iam_resource.UserPolicy(user.name, "second").put(PolicyDocument=doc_text(Id="two"))
    assert [p.name for p in user.policies.all()] == ["first", "second"]
    second = user.Policy("second")
    second.load()
    assert second.policy_document == {**DOC, "Id": "two"}
    second.delete()
    assert [p.name for p in user.policies.all()] == ["first"]
    with pytest.raises(Exception) as exc:
        iam_resource.UserPolicy(user.name, "second").load()
    S.check_error(exc.value, "NoSuchEntity", 404, msg_no_policy("user", "second"))


def test_resource_group_policies(iam_resource, group):
    g = iam_resource.Group(group)
    policy = g.create_policy(PolicyName="gfirst", PolicyDocument=doc_text())
    assert policy.group_name == group and policy.name == "gfirst"
    assert policy.policy_document == DOC
    iam_resource.GroupPolicy(group, "gsecond").put(PolicyDocument=doc_text(Id="two"))
    assert [p.name for p in g.policies.all()] == ["gfirst", "gsecond"]
    second = g.Policy("gsecond")
    assert second.policy_document == {**DOC, "Id": "two"}
    second.delete()
    policy.delete()
    assert list(g.policies.all()) == []
    g.delete()


# ---------------------------------------------------------------------------
# AWS CLI
# ---------------------------------------------------------------------------


def test_cli_user_policies(aws_cli, make_user, tmp_path):
    user = make_user("cup")
    doc_file = tmp_path / "policy.json"
    doc_file.write_text(json.dumps(DOC, indent=2))
    aws_cli.run("iam", "put-user-policy", "--user-name", user.name, "--policy-name", "cli",
                "--policy-document", f"file://{doc_file}")
    got = aws_cli.run("iam", "get-user-policy", "--user-name", user.name, "--policy-name", "cli").json
    assert got == {"UserName": user.name, "PolicyName": "cli", "PolicyDocument": DOC}
    assert aws_cli.run("iam", "list-user-policies", "--user-name", user.name).json["PolicyNames"] == ["cli"]
    out = aws_cli.run("iam", "put-user-policy", "--user-name", user.name, "--policy-name", "bad",
                      "--policy-document", "not json", check=False)
    S.cli_error(out, "MalformedPolicyDocument", "Syntax errors in policy.")
    out = aws_cli.run("iam", "delete-user", "--user-name", user.name, check=False)
    S.cli_error(out, "DeleteConflict", MSG_DELETE_POLICIES)
    aws_cli.run("iam", "delete-user-policy", "--user-name", user.name, "--policy-name", "cli")
    out = aws_cli.run("iam", "get-user-policy", "--user-name", user.name, "--policy-name", "cli", check=False)
    S.cli_error(out, "NoSuchEntity", msg_no_policy("user", "cli"))


def test_cli_group_policies(aws_cli, group):
    aws_cli.run("iam", "put-group-policy", "--group-name", group, "--policy-name", "gcli",
                "--policy-document", json.dumps(DOC))
    got = aws_cli.run("iam", "get-group-policy", "--group-name", group, "--policy-name", "gcli").json
    assert got == {"GroupName": group, "PolicyName": "gcli", "PolicyDocument": DOC}
    assert aws_cli.run("iam", "list-group-policies", "--group-name", group).json["PolicyNames"] == ["gcli"]
    out = aws_cli.run("iam", "put-group-policy", "--group-name", group, "--policy-name", "big",
                      "--policy-document", sized_doc(5121), check=False)
    S.cli_error(out, "LimitExceeded", msg_size("group", group))
    aws_cli.run("iam", "delete-group-policy", "--group-name", group, "--policy-name", "gcli")
    out = aws_cli.run("iam", "delete-group-policy", "--group-name", group, "--policy-name", "gcli", check=False)
    S.cli_error(out, "NoSuchEntity", msg_no_policy("group", "gcli"))
    aws_cli.run("iam", "delete-group", "--group-name", group)
