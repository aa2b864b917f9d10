"""Managed policies: CreatePolicy / GetPolicy / ListPolicies / DeletePolicy, their versions and
tags, attaching them to users and groups, ListEntitiesForPolicy, permissions boundaries, and the
AWS managed policies iamd ships (readable and attachable, never changeable).

Through the boto3 client, the boto3 resource API, the AWS CLI and raw HTTP (to see documents
exactly as sent on the wire).
"""

import json
from urllib.parse import unquote

import pytest

import iamd_support as S
from iamd_support import expect_error

ADMIN_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"
OTHER_ACCOUNT = "210987654321"
MSG_VERSION_LIMIT = (
    "A managed policy can have up to 5 versions. Before you create a new version, you must delete an "
    "existing version."
)
MSG_DEFAULT_VERSION = "Cannot delete the default version of a policy."
MSG_ATTACHED = "Cannot delete a policy attached to entities."
MSG_HAS_VERSIONS = (
    "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. "
    "The default version is deleted with the policy."
)


def doc(action: str = "s3:GetObject", resource: str = "*") -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]}
    )


def policy_arn(name: str, path: str = "/", account: str = S.ACCOUNT_ID) -> str:
    return f"arn:aws:iam::{account}:policy{path}{name}"


def msg_not_found(arn: str) -> str:
    return f"Policy {arn} was not found."


def msg_not_attachable(arn: str) -> str:
    return f"Policy {arn} does not exist or is not attachable."


def _kv(*pairs):
    return [{"Key": k, "Value": v} for k, v in pairs]


def _all(iam, op, key, **kw):
    out = []
    for page in iam.get_paginator(op).paginate(**kw):
        out.extend(page[key])
    return out


def _pages(iam, op, key, size, **kw):
    pages = list(iam.get_paginator(op).paginate(PaginationConfig={"PageSize": size}, **kw))
    for p in pages[:-1]:
        assert p["IsTruncated"] is True and p.get("Marker")
        assert len(p[key]) <= size
    assert pages[-1].get("IsTruncated") in (False, None)
    return [item for p in pages for item in p[key]]


@pytest.fixture(scope="module")
def make_policy(iam):
    """make_policy(prefix='p', path=None, document=None, **kw) -> the Policy dict"""

    def make(prefix: str = "p", path: str | None = None, document: str | None = None, **kw):
        if path:
            kw["Path"] = path
        return iam.create_policy(PolicyName=S.unique(prefix), PolicyDocument=document or doc(), **kw)["Policy"]

    return make


@pytest.fixture(scope="module")
def groups_supported(iam):
    """Skips group tests while CreateGroup is not implemented (InvalidAction)."""
    name = S.unique("gprobe")
    try:
        iam.create_group(GroupName=name)
    except Exception as e:  # noqa: BLE001
        if S.error_code(e) == "InvalidAction":
            pytest.skip("CreateGroup is not implemented yet")
        raise
    iam.delete_group(GroupName=name)


@pytest.fixture
def bob(make_user, client_factory):
    user = make_user("pbob", with_key=True)
    user.iam = client_factory("iam", user.creds)
    return user


# ---------------------------------------------------------------------------
# CreatePolicy / GetPolicy
# ---------------------------------------------------------------------------


def test_create_policy_shape(iam):
    name = S.unique("pshape")
    before = S.utcnow()
    p = iam.create_policy(PolicyName=name, PolicyDocument=doc(), Path="/team/a/", Description="for tests")["Policy"]
    assert p["PolicyName"] == name
    assert p["Arn"] == policy_arn(name, "/team/a/")
    assert p["Path"] == "/team/a/"
    assert p["PolicyId"].startswith("ANPA") and len(p["PolicyId"]) == 21 and p["PolicyId"].isalnum()
    assert p["DefaultVersionId"] == "v1"
    assert p["AttachmentCount"] == 0 and p["PermissionsBoundaryUsageCount"] == 0
    assert p["IsAttachable"] is True
    assert p["Description"] == "for tests"
    S.assert_recent(p["CreateDate"])
    assert p["UpdateDate"] == p["CreateDate"]
    assert p["CreateDate"] >= before.replace(microsecond=0)
    got = iam.get_policy(PolicyArn=p["Arn"])["Policy"]
    assert got == p
    assert "Tags" not in got


def test_create_policy_defaults_and_ids_unique(iam, make_policy):
    a, b = make_policy(), make_policy()
    assert a["Path"] == "/" and b["Path"] == "/"
    assert a["PolicyId"] != b["PolicyId"]
    assert "Description" not in a


def test_create_policy_with_tags(iam):
    name = S.unique("ptags")
    tags = _kv(("team", "blue"), ("Cost", ""))
    p = iam.create_policy(PolicyName=name, PolicyDocument=doc(), Tags=tags)["Policy"]
    assert sorted(p["Tags"], key=lambda t: t["Key"].lower()) == sorted(tags, key=lambda t: t["Key"].lower())
    got = iam.get_policy(PolicyArn=p["Arn"])["Policy"]
    assert sorted(got["Tags"], key=lambda t: t["Key"]) == sorted(tags, key=lambda t: t["Key"])
    assert sorted(iam.list_policy_tags(PolicyArn=p["Arn"])["Tags"], key=lambda t: t["Key"]) == sorted(
        tags, key=lambda t: t["Key"]
    )


def test_create_policy_duplicate_name(iam, make_policy):
    p = make_policy("pdup")
    msg = f"A policy called {p['PolicyName'].upper()} already exists. Duplicate names are not allowed."
    with expect_error("EntityAlreadyExists", 409, msg):
        iam.create_policy(PolicyName=p["PolicyName"].upper(), PolicyDocument=doc(), Path="/other/")


@pytest.mark.parametrize(
    "document,message",
    [
        ("not json", "Syntax errors in policy."),
        ('{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}',
         "Policy document must be version 2012-10-17 or greater."),
        ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*"}]}',
         "Policy statement must contain resources."),
        ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}',
         "Policy document should not specify a principal."),
    ],
)
def test_create_policy_malformed_document(iam, document, message):
    name = S.unique("pbad")
    with expect_error("MalformedPolicyDocument", 400, message):
        iam.create_policy(PolicyName=name, PolicyDocument=document)
    with expect_error("NoSuchEntity", 404, msg_not_found(policy_arn(name))):
        iam.get_policy(PolicyArn=policy_arn(name))


def test_create_policy_too_large(iam, make_policy):
    big = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{'b' * 6200}"}]})
    with expect_error("LimitExceeded", 409, "Cannot exceed quota for PolicySize: 6144"):
        iam.create_policy(PolicyName=S.unique("pbig"), PolicyDocument=big)
    # whitespace does not count
    padded = doc().replace(" ", " " * 800)
    assert len(padded) > 6144
    make_policy("ppad", document=padded)
    p = make_policy("pver")
    with expect_error("LimitExceeded", 409, "Cannot exceed quota for PolicySize: 6144"):
        iam.create_policy_version(PolicyArn=p["Arn"], PolicyDocument=big)


def test_get_policy_unknown_other_account_and_bad_arn(iam):
    arn = policy_arn(S.unique("pnone"))
    with expect_error("NoSuchEntity", 404, msg_not_found(arn)):
        iam.get_policy(PolicyArn=arn)
    other = policy_arn("x", account=OTHER_ACCOUNT)
    with expect_error("NoSuchEntity", 404, msg_not_found(other)):
        iam.get_policy(PolicyArn=other)
    with expect_error("InvalidInput", 400, "ARN not-an-arn-at-all-really is not valid."):
        iam.get_policy(PolicyArn="not-an-arn-at-all-really")


def test_policy_names_and_paths_validated(iam_nv):
    with expect_error("ValidationError", 400):
        iam_nv.create_policy(PolicyName="bad name!", PolicyDocument=doc())
    with expect_error("ValidationError", 400):
        iam_nv.create_policy(PolicyName=S.unique("p"), PolicyDocument=doc(), Path="no-slashes")


# ---------------------------------------------------------------------------
# Versions
# ---------------------------------------------------------------------------


def test_versions_lifecycle(iam, make_policy):
    p = make_policy("pvers", document=doc("s3:Get*"))
    arn = p["Arn"]
    v2 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc("s3:Put*"))["PolicyVersion"]
    assert v2["VersionId"] == "v2" and v2["IsDefaultVersion"] is False and "Document" not in v2
    S.assert_recent(v2["CreateDate"])
    v3 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc("s3:List*"), SetAsDefault=True)["PolicyVersion"]
    assert v3["VersionId"] == "v3" and v3["IsDefaultVersion"] is True
    got = iam.get_policy(PolicyArn=arn)["Policy"]
    assert got["DefaultVersionId"] == "v3"
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in versions] == [("v3", True), ("v2", False), ("v1", False)]
    assert all("Document" not in v for v in versions)
    # documents come back parsed, as stored
    for vid, action in (("v1", "s3:Get*"), ("v2", "s3:Put*"), ("v3", "s3:List*")):
        v = iam.get_policy_version(PolicyArn=arn, VersionId=vid)["PolicyVersion"]
        assert v["Document"] == json.loads(doc(action))
        assert v["VersionId"] == vid and v["IsDefaultVersion"] is (vid == "v3")
    # default rules
    with expect_error("DeleteConflict", 409, MSG_DEFAULT_VERSION):
        iam.delete_policy_version(PolicyArn=arn, VersionId="v3")
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v1"
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")  # already default: fine
    iam.delete_policy_version(PolicyArn=arn, VersionId="v3")
    iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    # ids are never reused
    v4 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc())["PolicyVersion"]
    assert v4["VersionId"] == "v4"
    missing = f"Policy {arn} version v2 does not exist or is not attachable."
    with expect_error("NoSuchEntity", 404, missing):
        iam.get_policy_version(PolicyArn=arn, VersionId="v2")
    with expect_error("NoSuchEntity", 404, missing):
        iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    with expect_error("NoSuchEntity", 404, missing):
        iam.set_default_policy_version(PolicyArn=arn, VersionId="v2")


def test_update_date_follows_new_versions(iam, make_policy):
    p = make_policy("pupd")
    iam.create_policy_version(PolicyArn=p["Arn"], PolicyDocument=doc("s3:*"))
    got = iam.get_policy(PolicyArn=p["Arn"])["Policy"]
    assert got["UpdateDate"] >= got["CreateDate"]
    assert got["CreateDate"] == p["CreateDate"]


def test_five_versions_at_most(iam, make_policy):
    p = make_policy("plim")
    for i in range(4):
        iam.create_policy_version(PolicyArn=p["Arn"], PolicyDocument=doc(f"s3:Get{i}"))
    with expect_error("LimitExceeded", 409, MSG_VERSION_LIMIT):
        iam.create_policy_version(PolicyArn=p["Arn"], PolicyDocument=doc(), SetAsDefault=True)
    versions = iam.list_policy_versions(PolicyArn=p["Arn"])["Versions"]
    assert [v["VersionId"] for v in versions] == ["v5", "v4", "v3", "v2", "v1"]
    assert iam.get_policy(PolicyArn=p["Arn"])["Policy"]["DefaultVersionId"] == "v1"
    iam.delete_policy_version(PolicyArn=p["Arn"], VersionId="v2")
    assert iam.create_policy_version(PolicyArn=p["Arn"], PolicyDocument=doc())["PolicyVersion"]["VersionId"] == "v6"


def test_list_policy_versions_pages(iam, make_policy):
    p = make_policy("ppage")
    for _ in range(4):
        iam.create_policy_version(PolicyArn=p["Arn"], PolicyDocument=doc())
    ids = [v["VersionId"] for v in _pages(iam, "list_policy_versions", "Versions", 2, PolicyArn=p["Arn"])]
    assert ids == ["v5", "v4", "v3", "v2", "v1"]
    with expect_error("ValidationError", 400, "Invalid Marker."):
        iam.list_policy_versions(PolicyArn=p["Arn"], Marker="garbage!")


def test_version_operations_on_unknown_policy(iam):
    arn = policy_arn(S.unique("pgone"))
    with expect_error("NoSuchEntity", 404, msg_not_found(arn)):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc())
    with expect_error("NoSuchEntity", 404, msg_not_found(arn)):
        iam.list_policy_versions(PolicyArn=arn)
    with expect_error("NoSuchEntity", 404, msg_not_found(arn)):
        iam.get_policy_version(PolicyArn=arn, VersionId="v1")
    with expect_error("NoSuchEntity", 404, msg_not_found(arn)):
        iam.delete_policy_version(PolicyArn=arn, VersionId="v1")
    with expect_error("NoSuchEntity", 404, msg_not_found(arn)):
        iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
    with expect_error("NoSuchEntity", 404, msg_not_found(arn)):
        iam.delete_policy(PolicyArn=arn)


def test_create_policy_version_malformed(iam, make_policy):
    p = make_policy("pvbad")
    with expect_error("MalformedPolicyDocument", 400, "Syntax errors in policy."):
        iam.create_policy_version(PolicyArn=p["Arn"], PolicyDocument="{")
    assert len(iam.list_policy_versions(PolicyArn=p["Arn"])["Versions"]) == 1


def test_documents_come_back_exactly_as_stored(iam, endpoint):
    # whitespace, key order, unicode and characters that need URL and XML escaping
    document = ('{\n  "Version": "2012-10-17",\n\t"Statement": [ {"Sid": "A1", "Effect": "Allow",\n'
                '   "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::b/caf\u00e9 & <x> +%20?"} ] }')
    name = S.unique("pexact")
    arn = iam.create_policy(PolicyName=name, PolicyDocument=document)["Policy"]["Arn"]
    v = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    assert v["Document"] == json.loads(document)
    r = S.signed_request(endpoint, {"Action": "GetPolicyVersion", "Version": S.IAM_VERSION,
                                    "PolicyArn": arn, "VersionId": "v1"})
    assert r.status_code == 200, r.text
    raw = S.xml_root(r).findtext(S.q(S.IAM_NS, "GetPolicyVersionResult/PolicyVersion/Document"))
    assert "%" in raw and "{" not in raw  # URL-encoded, as AWS sends it
    assert unquote(raw) == document


# ---------------------------------------------------------------------------
# DeletePolicy
# ---------------------------------------------------------------------------


def test_delete_policy_conflicts(iam, make_policy, make_user):
    p = make_policy("pdel")
    arn = p["Arn"]
    user = make_user("pdelu")
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc("s3:*"))
    iam.attach_user_policy(UserName=user.name, PolicyArn=arn)
    with expect_error("DeleteConflict", 409, MSG_ATTACHED):
        iam.delete_policy(PolicyArn=arn)
    iam.detach_user_policy(UserName=user.name, PolicyArn=arn)
    with expect_error("DeleteConflict", 409, MSG_HAS_VERSIONS):
        iam.delete_policy(PolicyArn=arn)
    iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    # a permissions boundary is a use too
    iam.put_user_permissions_boundary(UserName=user.name, PermissionsBoundary=arn)
    with expect_error("DeleteConflict", 409, MSG_ATTACHED):
        iam.delete_policy(PolicyArn=arn)
    iam.delete_user_permissions_boundary(UserName=user.name)
    iam.delete_policy(PolicyArn=arn)
    with expect_error("NoSuchEntity", 404, msg_not_found(arn)):
        iam.get_policy(PolicyArn=arn)
    with expect_error("NoSuchEntity", 404, msg_not_found(arn)):
        iam.list_policy_tags(PolicyArn=arn)
    # the name is free again
    again = iam.create_policy(PolicyName=p["PolicyName"], PolicyDocument=doc())["Policy"]
    assert again["Arn"] == arn and again["PolicyId"] != p["PolicyId"]
    assert again["DefaultVersionId"] == "v1"


# ---------------------------------------------------------------------------
# ListPolicies
# ---------------------------------------------------------------------------


def test_list_policies_scope_prefix_and_pages(iam, make_policy):
    prefix = f"/{S.unique('lp')}/"
    made = [make_policy(f"lp{i}", path=prefix) for i in range(5)]
    sub = make_policy("lpsub", path=prefix + "sub/")
    listed = _pages(iam, "list_policies", "Policies", 2, Scope="Local", PathPrefix=prefix)
    names = [p["PolicyName"] for p in listed]
    expected = sorted([p["PolicyName"] for p in made + [sub]], key=str.lower)
    assert names == expected
    first = next(p for p in listed if p["PolicyName"] == made[0]["PolicyName"])
    assert {k: v for k, v in made[0].items()} == {**first}
    assert "Tags" not in first and "Description" not in first
    only_sub = _all(iam, "list_policies", "Policies", PathPrefix=prefix + "sub/")
    assert [p["PolicyName"] for p in only_sub] == [sub["PolicyName"]]
    assert _all(iam, "list_policies", "Policies", Scope="AWS", PathPrefix=prefix) == []


def test_list_policies_aws_scope(iam):
    aws = _all(iam, "list_policies", "Policies", Scope="AWS")
    arns = {p["Arn"] for p in aws}
    for name in ("AdministratorAccess", "IAMFullAccess", "IAMReadOnlyAccess", "IAMUserChangePassword",
                 "ReadOnlyAccess"):
        assert f"arn:aws:iam::aws:policy/{name}" in arns
    assert all(p["Arn"].startswith("arn:aws:iam::aws:policy/") for p in aws)
    local = _all(iam, "list_policies", "Policies", Scope="Local")
    assert not any(p["Arn"].startswith("arn:aws:iam::aws:") for p in local)
    everything = {p["Arn"] for p in _all(iam, "list_policies", "Policies")}
    assert arns <= everything


def test_list_policies_only_attached_and_usage(iam, make_policy, make_user):
    prefix = f"/{S.unique('oa')}/"
    attached, boundary, idle = (make_policy(n, path=prefix) for n in ("oaatt", "oabnd", "oaidle"))
    user = make_user("oau")
    iam.attach_user_policy(UserName=user.name, PolicyArn=attached["Arn"])
    iam.put_user_permissions_boundary(UserName=user.name, PermissionsBoundary=boundary["Arn"])

    def names(**kw):
        return {p["PolicyName"] for p in _all(iam, "list_policies", "Policies", PathPrefix=prefix, **kw)}

    assert names() == {attached["PolicyName"], boundary["PolicyName"], idle["PolicyName"]}
    assert names(OnlyAttached=True) == {attached["PolicyName"]}
    assert names(OnlyAttached=True, PolicyUsageFilter="PermissionsPolicy") == {attached["PolicyName"]}
    assert names(OnlyAttached=True, PolicyUsageFilter="PermissionsBoundary") == {boundary["PolicyName"]}
    counts = {p["PolicyName"]: (p["AttachmentCount"], p["PermissionsBoundaryUsageCount"])
              for p in _all(iam, "list_policies", "Policies", PathPrefix=prefix)}
    assert counts == {attached["PolicyName"]: (1, 0), boundary["PolicyName"]: (0, 1), idle["PolicyName"]: (0, 0)}
    # the AWS policy attached here shows up with OnlyAttached
    iam.attach_user_policy(UserName=user.name, PolicyArn=ADMIN_ARN)
    attached_aws = _all(iam, "list_policies", "Policies", Scope="AWS", OnlyAttached=True)
    assert ADMIN_ARN in {p["Arn"] for p in attached_aws}
    iam.detach_user_policy(UserName=user.name, PolicyArn=ADMIN_ARN)


def test_list_policies_bad_marker(iam):
    with expect_error("ValidationError", 400, "Invalid Marker."):
        iam.list_policies(Marker="nope!")


# ---------------------------------------------------------------------------
# AWS managed policies
# ---------------------------------------------------------------------------


def test_aws_managed_policy_readable(iam):
    p = iam.get_policy(PolicyArn=ADMIN_ARN)["Policy"]
    assert p["PolicyName"] == "AdministratorAccess" and p["Path"] == "/"
    assert p["PolicyId"].startswith("ANPA") and len(p["PolicyId"]) == 21
    assert p["IsAttachable"] is True
    assert p["Description"] == "Provides full access to AWS services and resources."
    versions = iam.list_policy_versions(PolicyArn=ADMIN_ARN)["Versions"]
    default = [v for v in versions if v["IsDefaultVersion"]]
    assert len(default) == 1 and default[0]["VersionId"] == p["DefaultVersionId"]
    v = iam.get_policy_version(PolicyArn=ADMIN_ARN, VersionId=p["DefaultVersionId"])["PolicyVersion"]
    assert v["Document"] == {"Version": "2012-10-17",
                             "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    assert iam.list_policy_tags(PolicyArn=ADMIN_ARN)["Tags"] == []
    change = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/IAMUserChangePassword")["Policy"]
    v = iam.get_policy_version(PolicyArn=change["Arn"], VersionId=change["DefaultVersionId"])["PolicyVersion"]
    assert v["Document"]["Statement"][0]["Resource"] == [
        "arn:aws:iam::*:user/${aws:username}", "arn:aws:iam::*:user/*/${aws:username}"]


def test_aws_managed_policy_unmodifiable(iam, make_user):
    def denied(action):
        return expect_error("AccessDenied", 403,
                            f"User: arn:aws:iam::{S.ACCOUNT_ID}:root is not authorized to perform: iam:{action} "
                            f"on resource: {ADMIN_ARN}")

    with denied("CreatePolicyVersion"):
        iam.create_policy_version(PolicyArn=ADMIN_ARN, PolicyDocument=doc())
    with denied("DeletePolicy"):
        iam.delete_policy(PolicyArn=ADMIN_ARN)
    with denied("DeletePolicyVersion"):
        iam.delete_policy_version(PolicyArn=ADMIN_ARN, VersionId="v1")
    with denied("SetDefaultPolicyVersion"):
        iam.set_default_policy_version(PolicyArn=ADMIN_ARN, VersionId="v1")
    with denied("TagPolicy"):
        iam.tag_policy(PolicyArn=ADMIN_ARN, Tags=_kv(("k", "v")))
    with denied("UntagPolicy"):
        iam.untag_policy(PolicyArn=ADMIN_ARN, TagKeys=["k"])
    assert iam.get_policy(PolicyArn=ADMIN_ARN)["Policy"]["PolicyName"] == "AdministratorAccess"


def test_unknown_aws_managed_policy(iam, make_user):
    arn = "arn:aws:iam::aws:policy/NoSuchPolicyAtAll"
    with expect_error("NoSuchEntity", 404, msg_not_found(arn)):
        iam.get_policy(PolicyArn=arn)
    user = make_user("pawsu")
    with expect_error("NoSuchEntity", 404, msg_not_attachable(arn)):
        iam.attach_user_policy(UserName=user.name, PolicyArn=arn)


def test_other_accounts_policy_cannot_be_changed_or_attached(iam, make_user):
    arn = policy_arn("Theirs", account=OTHER_ACCOUNT)
    with expect_error("NoSuchEntity", 404, msg_not_found(arn)):
        iam.delete_policy(PolicyArn=arn)
    with expect_error("NoSuchEntity", 404, msg_not_found(arn)):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc())
    user = make_user("poth")
    with expect_error("NoSuchEntity", 404, msg_not_attachable(arn)):
        iam.attach_user_policy(UserName=user.name, PolicyArn=arn)


# ---------------------------------------------------------------------------
# Tags
# ---------------------------------------------------------------------------


def test_policy_tags(iam, make_policy):
    p = make_policy("ptag")
    arn = p["Arn"]
    assert iam.tag_policy(PolicyArn=arn, Tags=_kv(("zeta", "z"), ("Alpha", "a"))).keys() == {"ResponseMetadata"}
    iam.tag_policy(PolicyArn=arn, Tags=_kv(("ALPHA", "b"), ("mid", "")))
    tags = iam.list_policy_tags(PolicyArn=arn)["Tags"]
    assert [t["Key"].lower() for t in tags] == ["alpha", "mid", "zeta"]
    assert tags[0]["Value"] == "b"
    assert iam.get_policy(PolicyArn=arn)["Policy"]["Tags"] == tags
    iam.untag_policy(PolicyArn=arn, TagKeys=["alpha", "absent"])
    assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == _kv(("mid", ""), ("zeta", "z"))
    paged = _pages(iam, "list_policy_tags", "Tags", 1, PolicyArn=arn)
    assert paged == _kv(("mid", ""), ("zeta", "z"))


def test_policy_tag_errors(iam, make_policy):
    p = make_policy("ptagerr")
    with expect_error("InvalidInput", 400,
                      "Duplicate tag keys found. Please note that Tag keys are case insensitive."):
        iam.tag_policy(PolicyArn=p["Arn"], Tags=_kv(("k", "1"), ("K", "2")))
    iam.tag_policy(PolicyArn=p["Arn"], Tags=_kv(*[(f"k{i}", "v") for i in range(50)]))
    with expect_error("LimitExceeded", 409, "Cannot exceed quota for TagsPerPolicy: 50"):
        iam.tag_policy(PolicyArn=p["Arn"], Tags=_kv(("one-more", "v")))
    assert len(_all(iam, "list_policy_tags", "Tags", PolicyArn=p["Arn"])) == 50
    arn = policy_arn(S.unique("ptagnone"))
    with expect_error("NoSuchEntity", 404, msg_not_found(arn)):
        iam.tag_policy(PolicyArn=arn, Tags=_kv(("k", "v")))
    with expect_error("NoSuchEntity", 404, msg_not_found(arn)):
        iam.untag_policy(PolicyArn=arn, TagKeys=["k"])
    with expect_error("InvalidInput", 400,
                      "Duplicate tag keys found. Please note that Tag keys are case insensitive."):
        iam.create_policy(PolicyName=S.unique("p"), PolicyDocument=doc(), Tags=_kv(("a", "1"), ("A", "2")))


# ---------------------------------------------------------------------------
# Attachments to users
# ---------------------------------------------------------------------------


def test_attach_detach_user_policy(iam, make_policy, make_user):
    user = make_user("patt")
    p = make_policy("patt", path="/x/")
    arn = p["Arn"]
    assert iam.attach_user_policy(UserName=user.name, PolicyArn=arn).keys() == {"ResponseMetadata"}
    iam.attach_user_policy(UserName=user.name, PolicyArn=arn)  # idempotent
    iam.attach_user_policy(UserName=user.name, PolicyArn=ADMIN_ARN)
    attached = iam.list_attached_user_policies(UserName=user.name)["AttachedPolicies"]
    assert attached == sorted([{"PolicyName": p["PolicyName"], "PolicyArn": arn},
                               {"PolicyName": "AdministratorAccess", "PolicyArn": ADMIN_ARN}],
                              key=lambda a: a["PolicyName"].lower())
    assert iam.list_attached_user_policies(UserName=user.name, PathPrefix="/x/")["AttachedPolicies"] == [
        {"PolicyName": p["PolicyName"], "PolicyArn": arn}]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    ents = iam.list_entities_for_policy(PolicyArn=arn)
    assert ents["PolicyUsers"] == [{"UserName": user.name, "UserId": user.user_id}]
    assert ents["PolicyGroups"] == [] and ents["PolicyRoles"] == []
    iam.detach_user_policy(UserName=user.name, PolicyArn=arn)
    with expect_error("NoSuchEntity", 404, msg_not_found(arn)):
        iam.detach_user_policy(UserName=user.name, PolicyArn=arn)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 0
    assert iam.list_entities_for_policy(PolicyArn=arn)["PolicyUsers"] == []
    iam.detach_user_policy(UserName=user.name, PolicyArn=ADMIN_ARN)
    assert iam.list_attached_user_policies(UserName=user.name)["AttachedPolicies"] == []


def test_attach_errors(iam, make_policy, make_user):
    user = make_user("paterr")
    missing = policy_arn(S.unique("pmiss"))
    with expect_error("NoSuchEntity", 404, msg_not_attachable(missing)):
        iam.attach_user_policy(UserName=user.name, PolicyArn=missing)
    p = make_policy("paterr")
    ghost = S.unique("ghost")
    with expect_error("NoSuchEntity", 404, S.msg_no_user(ghost)):
        iam.attach_user_policy(UserName=ghost, PolicyArn=p["Arn"])
    with expect_error("NoSuchEntity", 404, S.msg_no_user(ghost)):
        iam.detach_user_policy(UserName=ghost, PolicyArn=p["Arn"])
    with expect_error("NoSuchEntity", 404, S.msg_no_user(ghost)):
        iam.list_attached_user_policies(UserName=ghost)
    with expect_error("InvalidInput", 400, "ARN not-an-arn-at-all-really is not valid."):
        iam.attach_user_policy(UserName=user.name, PolicyArn="not-an-arn-at-all-really")


def test_policies_per_user_quota(iam, make_policy, make_user):
    user = make_user("pquota")
    policies = [make_policy(f"pq{i}") for i in range(11)]
    for p in policies[:10]:
        iam.attach_user_policy(UserName=user.name, PolicyArn=p["Arn"])
    with expect_error("LimitExceeded", 409, "Cannot exceed quota for PoliciesPerUser: 10"):
        iam.attach_user_policy(UserName=user.name, PolicyArn=policies[10]["Arn"])
    # re-attaching one already attached is fine at the quota
    iam.attach_user_policy(UserName=user.name, PolicyArn=policies[0]["Arn"])
    listed = _pages(iam, "list_attached_user_policies", "AttachedPolicies", 3, UserName=user.name)
    assert sorted(a["PolicyArn"] for a in listed) == sorted(p["Arn"] for p in policies[:10])
    for p in policies[:10]:
        iam.detach_user_policy(UserName=user.name, PolicyArn=p["Arn"])


# ---------------------------------------------------------------------------
# Attachments to groups
# ---------------------------------------------------------------------------


def test_attach_detach_group_policy(iam, groups_supported, make_policy, make_user):
    group = S.unique("pgrp")
    gid = iam.create_group(GroupName=group)["Group"]["GroupId"]
    p = make_policy("pgrp")
    arn = p["Arn"]
    iam.attach_group_policy(GroupName=group, PolicyArn=arn)
    iam.attach_group_policy(GroupName=group, PolicyArn=arn)
    assert iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"] == [
        {"PolicyName": p["PolicyName"], "PolicyArn": arn}]
    user = make_user("pgrpu")
    iam.attach_user_policy(UserName=user.name, PolicyArn=arn)
    ents = iam.list_entities_for_policy(PolicyArn=arn)
    assert ents["PolicyGroups"] == [{"GroupName": group, "GroupId": gid}]
    assert ents["PolicyUsers"] == [{"UserName": user.name, "UserId": user.user_id}]
    only = iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="Group")
    assert only["PolicyGroups"] and only["PolicyUsers"] == []
    paged = list(iam.get_paginator("list_entities_for_policy").paginate(
        PolicyArn=arn, PaginationConfig={"PageSize": 1}))
    assert len(paged) == 2 and paged[0]["IsTruncated"] is True
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 2
    with expect_error("DeleteConflict", 409, MSG_ATTACHED):
        iam.delete_policy(PolicyArn=arn)
    iam.detach_group_policy(GroupName=group, PolicyArn=arn)
    with expect_error("NoSuchEntity", 404, msg_not_found(arn)):
        iam.detach_group_policy(GroupName=group, PolicyArn=arn)
    iam.detach_user_policy(UserName=user.name, PolicyArn=arn)
    assert iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"] == []
    iam.delete_group(GroupName=group)


def test_group_attach_errors_and_quota(iam, groups_supported, make_policy):
    ghost = S.unique("gghost")
    p = make_policy("pgq")
    msg = f"The group with name {ghost} cannot be found."
    with expect_error("NoSuchEntity", 404, msg):
        iam.attach_group_policy(GroupName=ghost, PolicyArn=p["Arn"])
    with expect_error("NoSuchEntity", 404, msg):
        iam.list_attached_group_policies(GroupName=ghost)
    group = S.unique("pgq")
    iam.create_group(GroupName=group)
    missing = policy_arn(S.unique("pmiss"))
    with expect_error("NoSuchEntity", 404, msg_not_attachable(missing)):
        iam.attach_group_policy(GroupName=group, PolicyArn=missing)
    policies = [p] + [make_policy(f"pgq{i}") for i in range(10)]
    for q in policies[:10]:
        iam.attach_group_policy(GroupName=group, PolicyArn=q["Arn"])
    with expect_error("LimitExceeded", 409, "Cannot exceed quota for PoliciesPerGroup: 10"):
        iam.attach_group_policy(GroupName=group, PolicyArn=policies[10]["Arn"])
    for q in policies[:10]:
        iam.detach_group_policy(GroupName=group, PolicyArn=q["Arn"])
    iam.delete_group(GroupName=group)


# ---------------------------------------------------------------------------
# Permissions boundaries
# ---------------------------------------------------------------------------


def test_permissions_boundary(iam, make_policy, make_user):
    user = make_user("pbnd")
    p = make_policy("pbnd")
    iam.put_user_permissions_boundary(UserName=user.name, PermissionsBoundary=p["Arn"])
    assert iam.get_policy(PolicyArn=p["Arn"])["Policy"]["PermissionsBoundaryUsageCount"] == 1
    # replacing is not an error
    iam.put_user_permissions_boundary(UserName=user.name, PermissionsBoundary=ADMIN_ARN)
    assert iam.get_policy(PolicyArn=p["Arn"])["Policy"]["PermissionsBoundaryUsageCount"] == 0
    iam.delete_user_permissions_boundary(UserName=user.name)
    iam.delete_user_permissions_boundary(UserName=user.name)  # none: nothing to do
    missing = policy_arn(S.unique("pmiss"))
    with expect_error("NoSuchEntity", 404, f"Scope ARN: {missing} does not exist or is not attachable."):
        iam.put_user_permissions_boundary(UserName=user.name, PermissionsBoundary=missing)
    ghost = S.unique("ghost")
    with expect_error("NoSuchEntity", 404, S.msg_no_user(ghost)):
        iam.put_user_permissions_boundary(UserName=ghost, PermissionsBoundary=p["Arn"])
    with expect_error("NoSuchEntity", 404, S.msg_no_user(ghost)):
        iam.delete_user_permissions_boundary(UserName=ghost)


def test_create_user_with_a_boundary_and_get_user_shows_it(iam, make_policy):
    p = make_policy("pbc")
    name = S.unique("pbc")
    created = iam.create_user(UserName=name, PermissionsBoundary=p["Arn"])["User"]
    expected = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": p["Arn"]}
    assert created["PermissionsBoundary"] == expected
    assert iam.get_user(UserName=name)["User"]["PermissionsBoundary"] == expected
    assert "PermissionsBoundary" not in iam.list_users()["Users"][0]
    iam.delete_user_permissions_boundary(UserName=name)
    assert "PermissionsBoundary" not in iam.get_user(UserName=name)["User"]
    missing = policy_arn(S.unique("pmiss"))
    ghost = S.unique("pbc")
    with expect_error("NoSuchEntity", 404, f"Scope ARN: {missing} does not exist or is not attachable."):
        iam.create_user(UserName=ghost, PermissionsBoundary=missing)
    with expect_error("NoSuchEntity", 404, S.msg_no_user(ghost)):
        iam.get_user(UserName=ghost)
    iam.delete_user(UserName=name)


# ---------------------------------------------------------------------------
# Authorization
# ---------------------------------------------------------------------------


def test_user_without_permissions_is_denied(bob, make_policy):
    p = make_policy("pdeny")

    def denied(action):
        return expect_error("AccessDenied", 403, startswith=S.denied_prefix(bob.arn, action))

    with denied("CreatePolicy"):
        bob.iam.create_policy(PolicyName=S.unique("p"), PolicyDocument=doc())
    with denied("GetPolicy"):
        bob.iam.get_policy(PolicyArn=p["Arn"])
    with denied("ListPolicies"):
        bob.iam.list_policies()
    with denied("CreatePolicyVersion"):
        bob.iam.create_policy_version(PolicyArn=p["Arn"], PolicyDocument=doc())
    with denied("DeletePolicy"):
        bob.iam.delete_policy(PolicyArn=p["Arn"])
    with denied("AttachUserPolicy"):
        bob.iam.attach_user_policy(UserName=bob.name, PolicyArn=ADMIN_ARN)
    with denied("PutUserPermissionsBoundary"):
        bob.iam.put_user_permissions_boundary(UserName=bob.name, PermissionsBoundary=p["Arn"])
    with denied("ListAttachedUserPolicies"):
        bob.iam.list_attached_user_policies(UserName=bob.name)
    with denied("TagPolicy"):
        bob.iam.tag_policy(PolicyArn=p["Arn"], Tags=_kv(("k", "v")))


# ---------------------------------------------------------------------------
# boto3 resource API
# ---------------------------------------------------------------------------


def test_resource_api(iam, iam_resource, make_user):
    user = make_user("pres")
    name = S.unique("pres")
    policy = iam_resource.create_policy(PolicyName=name, PolicyDocument=doc("s3:Get*"), Description="d")
    assert policy.arn == policy_arn(name)
    assert policy.policy_name == name and policy.default_version_id == "v1"
    assert policy.attachment_count == 0 and policy.is_attachable is True and policy.description == "d"
    assert policy.default_version.document == json.loads(doc("s3:Get*"))
    policy.attach_user(UserName=user.name)
    assert [u.name for u in policy.attached_users.all()] == [user.name]
    policy.reload()
    assert policy.attachment_count == 1
    v2 = policy.create_version(PolicyDocument=doc("s3:Put*"), SetAsDefault=True)
    assert v2.version_id == "v2"
    policy.reload()
    assert policy.default_version_id == "v2"
    assert policy.default_version.document == json.loads(doc("s3:Put*"))
    assert sorted(v.version_id for v in policy.versions.all()) == ["v1", "v2"]
    v1 = iam_resource.PolicyVersion(policy.arn, "v1")
    assert v1.document == json.loads(doc("s3:Get*")) and v1.is_default_version is False
    v1.set_as_default()
    assert iam_resource.PolicyVersion(policy.arn, "v1").is_default_version is True
    iam_resource.PolicyVersion(policy.arn, "v2").delete()
    u = iam_resource.User(user.name)
    assert [p.arn for p in u.attached_policies.all()] == [policy.arn]
    u.attach_policy(PolicyArn=ADMIN_ARN)
    assert {p.arn for p in u.attached_policies.all()} == {policy.arn, ADMIN_ARN}
    u.detach_policy(PolicyArn=ADMIN_ARN)
    policy.detach_user(UserName=user.name)
    assert list(policy.attached_users.all()) == []
    policy.delete()
    with expect_error("NoSuchEntity", 404, msg_not_found(policy_arn(name))):
        iam_resource.Policy(policy_arn(name)).load()


def test_resource_api_groups(iam, iam_resource, groups_supported, make_policy):
    p = make_policy("presg")
    group = iam_resource.create_group(GroupName=S.unique("presg"))
    group.attach_policy(PolicyArn=p["Arn"])
    pol = iam_resource.Policy(p["Arn"])
    assert [g.name for g in pol.attached_groups.all()] == [group.name]
    assert [a.arn for a in group.attached_policies.all()] == [p["Arn"]]
    pol.detach_group(GroupName=group.name)
    assert list(group.attached_policies.all()) == []
    group.delete()


# ---------------------------------------------------------------------------
# AWS CLI
# ---------------------------------------------------------------------------


def test_cli(aws_cli, iam, make_user, tmp_path):
    user = make_user("pcli")
    name = S.unique("pcli")
    path = f"/{S.unique('cli')}/"
    docfile = tmp_path / "policy.json"
    docfile.write_text(doc("s3:Get*"))
    out = aws_cli.run("iam", "create-policy", "--policy-name", name, "--path", path,
                      "--policy-document", f"file://{docfile}", "--description", "from the cli",
                      "--tags", "Key=team,Value=blue")
    policy = out.json["Policy"]
    arn = policy["Arn"]
    assert arn == policy_arn(name, path) and policy["DefaultVersionId"] == "v1"
    got = aws_cli.run("iam", "get-policy", "--policy-arn", arn).json["Policy"]
    assert got["Description"] == "from the cli" and got["Tags"] == _kv(("team", "blue"))
    listed = aws_cli.run("iam", "list-policies", "--scope", "Local", "--path-prefix", path).json["Policies"]
    assert [p["PolicyName"] for p in listed] == [name]
    docfile.write_text(doc("s3:Put*"))
    v2 = aws_cli.run("iam", "create-policy-version", "--policy-arn", arn,
                     "--policy-document", f"file://{docfile}", "--set-as-default").json["PolicyVersion"]
    assert v2["VersionId"] == "v2" and v2["IsDefaultVersion"] is True
    v = aws_cli.run("iam", "get-policy-version", "--policy-arn", arn, "--version-id", "v2").json["PolicyVersion"]
    assert v["Document"] == json.loads(doc("s3:Put*"))
    versions = aws_cli.run("iam", "list-policy-versions", "--policy-arn", arn).json["Versions"]
    assert [x["VersionId"] for x in versions] == ["v2", "v1"]
    aws_cli.run("iam", "set-default-policy-version", "--policy-arn", arn, "--version-id", "v1")
    aws_cli.run("iam", "delete-policy-version", "--policy-arn", arn, "--version-id", "v2")
    aws_cli.run("iam", "tag-policy", "--policy-arn", arn, "--tags", "Key=env,Value=dev")
    tags = aws_cli.run("iam", "list-policy-tags", "--policy-arn", arn).json["Tags"]
    assert tags == _kv(("env", "dev"), ("team", "blue"))
    aws_cli.run("iam", "untag-policy", "--policy-arn", arn, "--tag-keys", "env", "team")
    aws_cli.run("iam", "attach-user-policy", "--user-name", user.name, "--policy-arn", arn)
    attached = aws_cli.run("iam", "list-attached-user-policies", "--user-name", user.name).json
    assert attached["AttachedPolicies"] == [{"PolicyName": name, "PolicyArn": arn}]
    ents = aws_cli.run("iam", "list-entities-for-policy", "--policy-arn", arn).json
    assert ents["PolicyUsers"] == [{"UserName": user.name, "UserId": user.user_id}]
    out = aws_cli.run("iam", "delete-policy", "--policy-arn", arn, check=False)
    S.cli_error(out, "DeleteConflict", MSG_ATTACHED)
    aws_cli.run("iam", "put-user-permissions-boundary", "--user-name", user.name, "--permissions-boundary", arn)
    aws_cli.run("iam", "delete-user-permissions-boundary", "--user-name", user.name)
    aws_cli.run("iam", "detach-user-policy", "--user-name", user.name, "--policy-arn", arn)
    aws_cli.run("iam", "delete-policy", "--policy-arn", arn)
    out = aws_cli.run("iam", "get-policy", "--policy-arn", arn, check=False)
    S.cli_error(out, "NoSuchEntity", msg_not_found(arn))
    out = aws_cli.run("iam", "create-policy-version", "--policy-arn", ADMIN_ARN,
                      "--policy-document", f"file://{docfile}", check=False)
    S.cli_error(out, "AccessDenied")


def test_list_entities_for_policy_filters_by_path_and_usage(iam, make_policy, make_user):
    p = make_policy("lef")
    ops = make_user("lefo", path="/ops/")
    dev = make_user("lefd")
    iam.attach_user_policy(UserName=ops.name, PolicyArn=p["Arn"])
    iam.put_user_permissions_boundary(UserName=dev.name, PermissionsBoundary=p["Arn"])
    role = S.unique("lefr")
    iam.create_role(RoleName=role, Path="/ops/", PermissionsBoundary=p["Arn"], AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": S.ACCOUNT_ID},
                                                 "Action": "sts:AssumeRole"}]}))

    def names(**kw):
        r = iam.list_entities_for_policy(PolicyArn=p["Arn"], **kw)
        return sorted([u["UserName"] for u in r["PolicyUsers"]] + [x["RoleName"] for x in r["PolicyRoles"]])

    assert names() == sorted([ops.name, dev.name, role])
    assert names(PolicyUsageFilter="PermissionsPolicy") == [ops.name]
    assert names(PolicyUsageFilter="PermissionsBoundary") == sorted([dev.name, role])
    assert names(PathPrefix="/ops/") == sorted([ops.name, role])
    assert names(EntityFilter="Role", PolicyUsageFilter="PermissionsBoundary") == [role]
    iam.delete_role(RoleName=role)
