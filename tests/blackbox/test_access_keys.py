"""Access keys: CreateAccessKey / ListAccessKeys / UpdateAccessKey / DeleteAccessKey,
and that the keys really authenticate as their user."""

import re

import iamd_support as S
from iamd_support import expect_error


def test_create_access_key_shape(iam, make_user):
    user = make_user("ak")
    k = iam.create_access_key(UserName=user.name)["AccessKey"]
    assert k["UserName"] == user.name
    assert k["AccessKeyId"].startswith("AKIA")
    assert re.fullmatch(r"[A-Z0-9]{16,128}", k["AccessKeyId"])
    assert len(k["SecretAccessKey"]) == 40
    assert k["Status"] == "Active"
    S.assert_recent(k["CreateDate"])


def test_list_access_keys_never_returns_secret(iam, make_user):
    user = make_user("akl")
    k1 = iam.create_access_key(UserName=user.name)["AccessKey"]
    k2 = iam.create_access_key(UserName=user.name)["AccessKey"]
    assert k1["AccessKeyId"] != k2["AccessKeyId"]
    assert k1["SecretAccessKey"] != k2["SecretAccessKey"]
    meta = iam.list_access_keys(UserName=user.name)["AccessKeyMetadata"]
    assert sorted(m["AccessKeyId"] for m in meta) == sorted([k1["AccessKeyId"], k2["AccessKeyId"]])
    for m in meta:
        assert set(m) == {"UserName", "AccessKeyId", "Status", "CreateDate"}
        assert m["UserName"] == user.name and m["Status"] == "Active"


def test_list_access_keys_empty(iam, make_user):
    user = make_user("akempty")
    resp = iam.list_access_keys(UserName=user.name)
    assert resp["AccessKeyMetadata"] == []
    assert resp.get("IsTruncated") in (False, None)


def test_third_access_key_limit(iam, make_user):
    user = make_user("ak3")
    iam.create_access_key(UserName=user.name)
    iam.create_access_key(UserName=user.name)
    with expect_error("LimitExceeded", 409, S.MSG_KEY_QUOTA):
        iam.create_access_key(UserName=user.name)
    assert len(iam.list_access_keys(UserName=user.name)["AccessKeyMetadata"]) == 2


def test_inactive_keys_still_count_toward_quota(iam, make_user):
    user = make_user("akq")
    k = iam.create_access_key(UserName=user.name)["AccessKey"]
    iam.create_access_key(UserName=user.name)
    iam.update_access_key(UserName=user.name, AccessKeyId=k["AccessKeyId"], Status="Inactive")
    with expect_error("LimitExceeded", 409, S.MSG_KEY_QUOTA):
        iam.create_access_key(UserName=user.name)
    iam.delete_access_key(UserName=user.name, AccessKeyId=k["AccessKeyId"])
    iam.create_access_key(UserName=user.name)


def test_create_access_key_unknown_user(iam):
    name = S.unique("nokey")
    with expect_error("NoSuchEntity", 404, S.msg_no_user(name)):
        iam.create_access_key(UserName=name)


def test_list_access_keys_unknown_user(iam):
    name = S.unique("nokeys")
    with expect_error("NoSuchEntity", 404, S.msg_no_user(name)):
        iam.list_access_keys(UserName=name)


def test_new_key_authenticates_as_user(make_user, client_factory):
    user = make_user("akauth", with_key=True)
    ident = client_factory("sts", user.creds).get_caller_identity()
    assert ident["Arn"] == user.arn
    assert ident["UserId"] == user.user_id
    assert ident["Account"] == S.ACCOUNT_ID


def test_update_access_key_inactive_then_active(iam, make_user, client_factory):
    user = make_user("akupd", with_key=True)
    kid = user.creds.access_key_id
    sts_user = client_factory("sts", user.creds)
    sts_user.get_caller_identity()

    iam.update_access_key(UserName=user.name, AccessKeyId=kid, Status="Inactive")
    meta = iam.list_access_keys(UserName=user.name)["AccessKeyMetadata"]
    assert [(m["AccessKeyId"], m["Status"]) for m in meta] == [(kid, "Inactive")]
    with expect_error("InvalidClientTokenId", 403, S.MSG_BAD_TOKEN_STS):
        sts_user.get_caller_identity()
    with expect_error("InvalidClientTokenId", 403, S.MSG_BAD_TOKEN_IAM):
        client_factory("iam", user.creds).get_user()

    iam.update_access_key(UserName=user.name, AccessKeyId=kid, Status="Active")
    assert sts_user.get_caller_identity()["Arn"] == user.arn


def test_update_access_key_bad_status(iam_nv, make_user):
    user = make_user("akbad", with_key=True)
    with expect_error("ValidationError", 400, contains=["'status'", "enum value set"]):
        iam_nv.update_access_key(UserName=user.name, AccessKeyId=user.creds.access_key_id, Status="Bogus")


def test_delete_access_key(iam, make_user, client_factory):
    user = make_user("akdel", with_key=True)
    kid = user.creds.access_key_id
    iam.delete_access_key(UserName=user.name, AccessKeyId=kid)
    assert iam.list_access_keys(UserName=user.name)["AccessKeyMetadata"] == []
    with expect_error("InvalidClientTokenId", 403):
        client_factory("sts", user.creds).get_caller_identity()
    with expect_error("NoSuchEntity", 404):
        iam.delete_access_key(UserName=user.name, AccessKeyId=kid)


def test_delete_other_users_key_is_no_such_entity(iam, make_user):
    alice = make_user("aka", with_key=True)
    bob = make_user("akb")
    with expect_error("NoSuchEntity", 404):
        iam.delete_access_key(UserName=bob.name, AccessKeyId=alice.creds.access_key_id)
    with expect_error("NoSuchEntity", 404):
        iam.update_access_key(UserName=bob.name, AccessKeyId=alice.creds.access_key_id, Status="Inactive")
    assert len(iam.list_access_keys(UserName=alice.name)["AccessKeyMetadata"]) == 1


def test_wrong_secret_for_user_key(make_user, client_factory):
    user = make_user("akwrong", with_key=True)
    bad = S.Creds(user.creds.access_key_id, "x" * 40)
    with expect_error("SignatureDoesNotMatch", 403):
        client_factory("sts", bad).get_caller_identity()
