"""IAM users: CreateUser / GetUser / ListUsers / UpdateUser / DeleteUser."""

import re

import pytest

import iamd_support as S
from iamd_support import expect_error


def test_create_user_fields(iam):
    name = S.unique("alice")
    u = iam.create_user(UserName=name)["User"]
    assert u["UserName"] == name
    assert u["Path"] == "/"
    assert u["Arn"] == S.user_arn(name)
    assert u["UserId"].startswith("AIDA")
    assert 16 <= len(u["UserId"]) <= 128 and re.fullmatch(r"\w+", u["UserId"])
    S.assert_recent(u["CreateDate"])
    assert "PasswordLastUsed" not in u


def test_get_user_roundtrip(iam):
    name = S.unique("get")
    created = iam.create_user(UserName=name)["User"]
    got = iam.get_user(UserName=name)["User"]
    for k in ("UserName", "Path", "Arn", "UserId", "CreateDate"):
        assert got[k] == created[k], k


def test_create_user_with_path(iam):
    name = S.unique("p")
    path = f"/division/{S.unique('team')}/"
    u = iam.create_user(UserName=name, Path=path)["User"]
    assert u["Path"] == path
    assert u["Arn"] == f"arn:aws:iam::{S.ACCOUNT_ID}:user{path}{name}"
    assert iam.get_user(UserName=name)["User"]["Arn"] == u["Arn"]


def test_create_user_with_tags_get_user_returns_them(iam):
    name = S.unique("tagged")
    tags = [{"Key": "team", "Value": "blue"}, {"Key": "cost", "Value": ""}]
    iam.create_user(UserName=name, Tags=tags)
    got = iam.get_user(UserName=name)["User"]
    assert sorted(got.get("Tags", []), key=lambda t: t["Key"]) == sorted(tags, key=lambda t: t["Key"])
    listed = [u for u in S.list_all(iam, "list_users") if u["UserName"] == name]
    assert len(listed) == 1
    assert "Tags" not in listed[0]


def test_unique_user_ids(iam):
    ids = {iam.create_user(UserName=S.unique("id"))["User"]["UserId"] for _ in range(5)}
    assert len(ids) == 5


def test_duplicate_user_exact(iam):
    name = S.unique("Bob")
    iam.create_user(UserName=name)
    with expect_error("EntityAlreadyExists", 409, S.msg_user_exists(name)):
        iam.create_user(UserName=name)


def test_duplicate_user_case_insensitive(iam):
    name = S.unique("Carol")
    iam.create_user(UserName=name)
    with expect_error("EntityAlreadyExists", 409) as ei:
        iam.create_user(UserName=name.upper())
    assert ei.value.response["Error"]["Message"] in (
        S.msg_user_exists(name.upper()),
        S.msg_user_exists(name),
    )
    with expect_error("EntityAlreadyExists", 409):
        iam.create_user(UserName=name.lower())


def test_get_unknown_user(iam):
    name = S.unique("ghost")
    with expect_error("NoSuchEntity", 404, S.msg_no_user(name)):
        iam.get_user(UserName=name)


def test_list_users_path_prefix(iam):
    prefix = f"/{S.unique('lp')}/"
    names = sorted(S.unique("lu") for _ in range(3))
    for n in names:
        iam.create_user(UserName=n, Path=prefix)
    iam.create_user(UserName=S.unique("outside"), Path="/elsewhere/")
    got = S.list_all(iam, "list_users", PathPrefix=prefix)
    assert sorted(u["UserName"] for u in got) == names
    for u in got:
        assert u["Path"] == prefix
        assert u["Arn"] == S.user_arn(u["UserName"], prefix)
        assert "Tags" not in u and "PermissionsBoundary" not in u


def test_list_users_contains_new_user(iam):
    name = S.unique("all")
    iam.create_user(UserName=name)
    names = [u["UserName"] for u in S.list_all(iam, "list_users")]
    assert names.count(name) == 1


def test_update_user_rename_and_path(iam):
    old = S.unique("old")
    new = S.unique("new")
    iam.create_user(UserName=old)
    uid = iam.get_user(UserName=old)["User"]["UserId"]
    iam.update_user(UserName=old, NewUserName=new, NewPath="/moved/")
    got = iam.get_user(UserName=new)["User"]
    assert got["UserName"] == new
    assert got["Path"] == "/moved/"
    assert got["Arn"] == S.user_arn(new, "/moved/")
    assert got["UserId"] == uid
    with expect_error("NoSuchEntity", 404, S.msg_no_user(old)):
        iam.get_user(UserName=old)


def test_update_user_to_existing_name(iam):
    a, b = S.unique("ua"), S.unique("ub")
    iam.create_user(UserName=a)
    iam.create_user(UserName=b)
    with expect_error("EntityAlreadyExists", 409):
        iam.update_user(UserName=a, NewUserName=b)
    with expect_error("EntityAlreadyExists", 409):
        iam.update_user(UserName=a, NewUserName=b.upper())
    assert iam.get_user(UserName=a)["User"]["UserName"] == a


def test_update_unknown_user(iam):
    name = S.unique("nouser")
    with expect_error("NoSuchEntity", 404, S.msg_no_user(name)):
        iam.update_user(UserName=name, NewPath="/x/")


def test_rename_user_keeps_mfa_device(iam, make_user, make_device, enable):
    user = make_user("ren")
    dev = make_device()
    enable(user, dev)
    new = S.unique("renamed")
    iam.update_user(UserName=user.name, NewUserName=new)
    devices = iam.list_mfa_devices(UserName=new)["MFADevices"]
    assert [(d["UserName"], d["SerialNumber"]) for d in devices] == [(new, dev.serial)]


def test_delete_user(iam):
    name = S.unique("del")
    iam.create_user(UserName=name)
    iam.delete_user(UserName=name)
    with expect_error("NoSuchEntity", 404, S.msg_no_user(name)):
        iam.get_user(UserName=name)
    assert name not in [u["UserName"] for u in S.list_all(iam, "list_users")]
    # the name is free again
    iam.create_user(UserName=name)


def test_delete_unknown_user(iam):
    name = S.unique("gone")
    with expect_error("NoSuchEntity", 404, S.msg_no_user(name)):
        iam.delete_user(UserName=name)


def test_delete_user_conflict_order(iam, make_user, make_device, enable):
    """Access keys block first, then MFA devices; tags never block."""
    user = make_user("conf")
    key = iam.create_access_key(UserName=user.name)["AccessKey"]
    dev = make_device()
    enable(user, dev)
    with expect_error("DeleteConflict", 409, S.MSG_USER_HAS_KEYS):
        iam.delete_user(UserName=user.name)
    iam.delete_access_key(UserName=user.name, AccessKeyId=key["AccessKeyId"])
    with expect_error("DeleteConflict", 409, S.MSG_USER_HAS_MFA):
        iam.delete_user(UserName=user.name)
    iam.deactivate_mfa_device(UserName=user.name, SerialNumber=dev.serial)
    iam.delete_user(UserName=user.name)
    with expect_error("NoSuchEntity", 404):
        iam.get_user(UserName=user.name)
    # the device survives, unassigned
    d = S.find_virtual(iam, dev.serial)
    assert d is not None and "User" not in d


def test_delete_user_with_tags_only(iam):
    name = S.unique("tagsonly")
    iam.create_user(UserName=name, Tags=[{"Key": "k", "Value": "v"}])
    iam.delete_user(UserName=name)
    with expect_error("NoSuchEntity", 404):
        iam.get_user(UserName=name)


def test_deleted_then_recreated_user_gets_new_id(iam):
    name = S.unique("again")
    first = iam.create_user(UserName=name)["User"]["UserId"]
    iam.delete_user(UserName=name)
    second = iam.create_user(UserName=name)["User"]["UserId"]
    assert first != second
