"""User tags: TagUser / UntagUser / ListUserTags (and Tags in CreateUser / GetUser).

Through the boto3 client, the boto3 resource API and the AWS CLI.  Mirrors
test_tags.py (MFA device tags): ListUserTags is sorted by key; keys compare
case-insensitively, and -- as test_tags.py does for devices -- overwriting a key
with a different case is checked on the folded key and the new value only: the
casing kept for the key is not pinned.
"""

import pytest

import iamd_support as S
from iamd_support import expect_error

MSG_USER_TAG_QUOTA = "Cannot exceed quota for TagsPerUser: 50"
TAG_KEY_PATTERN = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+"
TAG_VALUE_PATTERN = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*"


def _tags(iam, user_name):
    """All tags of a user, through the botocore paginator."""
    out = []
    for page in iam.get_paginator("list_user_tags").paginate(UserName=user_name):
        out.extend(page["Tags"])
    return out


def _kv(*pairs):
    return [{"Key": k, "Value": v} for k, v in pairs]


@pytest.fixture
def bob(make_user, client_factory):
    """An IAM user calling with its own access key."""
    user = make_user("tbob", with_key=True, self_service=True)
    user.iam = client_factory("iam", user.creds)
    return user


def _denied(user, action):
    return expect_error("AccessDenied", 403, startswith=S.denied_prefix(user.arn, action))


# ---------------------------------------------------------------------------
# boto3 client: tag / list / untag
# ---------------------------------------------------------------------------


def test_new_user_has_empty_tag_list(iam, make_user):
    user = make_user("tnew")
    resp = iam.list_user_tags(UserName=user.name)
    assert resp["Tags"] == []
    assert resp.get("IsTruncated") in (False, None)
    assert not resp.get("Marker")
    assert iam.get_user(UserName=user.name)["User"].get("Tags", []) == []


def test_tag_and_list_sorted_by_key(iam, make_user):
    user = make_user("tsort")
    resp = iam.tag_user(UserName=user.name, Tags=_kv(("zeta", "z"), ("alpha", "a"), ("mid", "")))
    assert set(resp) == {"ResponseMetadata"}
    iam.tag_user(UserName=user.name, Tags=_kv(("beta", "b")))
    resp = iam.list_user_tags(UserName=user.name)
    assert resp["Tags"] == _kv(("alpha", "a"), ("beta", "b"), ("mid", ""), ("zeta", "z"))
    assert resp.get("IsTruncated") in (False, None)


def test_tag_overwrites_existing_key(iam, make_user):
    user = make_user("tover")
    iam.tag_user(UserName=user.name, Tags=_kv(("env", "dev"), ("x", "1")))
    iam.tag_user(UserName=user.name, Tags=_kv(("env", "prod")))
    assert _tags(iam, user.name) == _kv(("env", "prod"), ("x", "1"))


def test_tag_keys_are_case_insensitive(iam, make_user):
    user = make_user("tcase")
    iam.tag_user(UserName=user.name, Tags=_kv(("Team", "a")))
    iam.tag_user(UserName=user.name, Tags=_kv(("TEAM", "b")))
    tags = _tags(iam, user.name)
    assert len(tags) == 1, tags
    assert tags[0]["Key"].lower() == "team" and tags[0]["Value"] == "b"
    # GetUser agrees with ListUserTags
    assert iam.get_user(UserName=user.name)["User"]["Tags"] == tags
    # untag with yet another casing removes it
    iam.untag_user(UserName=user.name, TagKeys=["team"])
    assert _tags(iam, user.name) == []


def test_tag_case_is_preserved(iam, make_user):
    user = make_user("tpres")
    iam.tag_user(UserName=user.name, Tags=_kv(("CostCenter", "MixedCase")))
    assert _tags(iam, user.name) == _kv(("CostCenter", "MixedCase"))


def test_untag_unknown_keys_ignored(iam, make_user):
    user = make_user("tuntag")
    iam.tag_user(UserName=user.name, Tags=_kv(("a", "1"), ("b", "2"), ("c", "3")))
    resp = iam.untag_user(UserName=user.name, TagKeys=["a", "c"])
    assert set(resp) == {"ResponseMetadata"}
    assert _tags(iam, user.name) == _kv(("b", "2"))
    # absent keys are not an error, alone or mixed with present ones
    iam.untag_user(UserName=user.name, TagKeys=["does-not-exist"])
    assert _tags(iam, user.name) == _kv(("b", "2"))
    iam.untag_user(UserName=user.name, TagKeys=["nope", "B"])
    assert _tags(iam, user.name) == []
    # untagging a user without tags is fine too
    iam.untag_user(UserName=user.name, TagKeys=["b"])
    assert _tags(iam, user.name) == []


def test_unicode_and_special_characters(iam, make_user):
    user = make_user("tuni")
    tags = _kv(("café", "naïve ü"), ("a:b/c=d+e-f@g_h.i", "x y/z:=+-@_."), ("key with spaces", ""))
    iam.tag_user(UserName=user.name, Tags=tags)
    assert sorted(_tags(iam, user.name), key=lambda t: t["Key"]) == sorted(tags, key=lambda t: t["Key"])


def test_max_length_key_and_value_accepted(iam, make_user):
    user = make_user("tmaxlen")
    tags = _kv(("k" * 128, "v" * 256))
    iam.tag_user(UserName=user.name, Tags=tags)
    assert _tags(iam, user.name) == tags


def test_create_user_tags_in_list_user_tags_and_get_user(iam, make_user):
    name = S.unique("tcreate")
    tags = _kv(("team", "blue"), ("Cost", ""), ("app", "x"))
    created = iam.create_user(UserName=name, Tags=tags)["User"]
    assert sorted(created.get("Tags", []), key=lambda t: t["Key"].lower()) == \
        sorted(tags, key=lambda t: t["Key"].lower())
    listed = iam.list_user_tags(UserName=name)["Tags"]
    assert sorted(listed, key=lambda t: t["Key"].lower()) == sorted(tags, key=lambda t: t["Key"].lower())
    got = iam.get_user(UserName=name)["User"]
    assert sorted(got["Tags"], key=lambda t: t["Key"]) == sorted(listed, key=lambda t: t["Key"])
    # TagUser then shows in GetUser too; UntagUser removes it from both
    iam.tag_user(UserName=name, Tags=_kv(("team", "red"), ("new", "1")))
    got = iam.get_user(UserName=name)["User"]
    assert {t["Key"]: t["Value"] for t in got["Tags"]} == {"team": "red", "Cost": "", "app": "x", "new": "1"}
    iam.untag_user(UserName=name, TagKeys=["team", "cost", "app", "new"])
    assert iam.list_user_tags(UserName=name)["Tags"] == []
    assert iam.get_user(UserName=name)["User"].get("Tags", []) == []


def test_tags_do_not_appear_in_list_users(iam, make_user):
    user = make_user("tlu")
    iam.tag_user(UserName=user.name, Tags=_kv(("k", "v")))
    listed = [u for u in S.list_all(iam, "list_users") if u["UserName"] == user.name]
    assert len(listed) == 1 and "Tags" not in listed[0]


def test_tags_on_user_with_path(iam, make_user):
    user = make_user("tpath", path="/team/a/")
    iam.tag_user(UserName=user.name, Tags=_kv(("k", "v")))
    assert _tags(iam, user.name) == _kv(("k", "v"))


def test_tags_follow_rename(iam, make_user):
    user = make_user("tren")
    iam.tag_user(UserName=user.name, Tags=_kv(("k", "v")))
    new_name = S.unique("tren2")
    iam.update_user(UserName=user.name, NewUserName=new_name)
    assert _tags(iam, new_name) == _kv(("k", "v"))
    with expect_error("NoSuchEntity", 404, S.msg_no_user(user.name)):
        iam.list_user_tags(UserName=user.name)


def test_tags_go_away_with_user(iam):
    name = S.unique("tgone")
    iam.create_user(UserName=name, Tags=_kv(("k", "v")))
    iam.tag_user(UserName=name, Tags=_kv(("k2", "v2")))
    iam.delete_user(UserName=name)
    with expect_error("NoSuchEntity", 404, S.msg_no_user(name)):
        iam.list_user_tags(UserName=name)
    iam.create_user(UserName=name)
    assert _tags(iam, name) == []
    assert iam.get_user(UserName=name)["User"].get("Tags", []) == []


def test_tags_are_per_user(iam, make_user):
    a, b = make_user("tpa"), make_user("tpb")
    iam.tag_user(UserName=a.name, Tags=_kv(("k", "a")))
    iam.tag_user(UserName=b.name, Tags=_kv(("k", "b")))
    iam.untag_user(UserName=a.name, TagKeys=["k"])
    assert _tags(iam, a.name) == []
    assert _tags(iam, b.name) == _kv(("k", "b"))


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["tag", "untag", "list"])
def test_tag_ops_unknown_user(iam, op):
    name = S.unique("missing")
    with expect_error("NoSuchEntity", 404, S.msg_no_user(name)):
        if op == "tag":
            iam.tag_user(UserName=name, Tags=_kv(("k", "v")))
        elif op == "untag":
            iam.untag_user(UserName=name, TagKeys=["k"])
        else:
            iam.list_user_tags(UserName=name)
    # TagUser did not create anything
    with expect_error("NoSuchEntity", 404, S.msg_no_user(name)):
        iam.get_user(UserName=name)


def test_fifty_tags_ok_fifty_first_refused(iam, make_user):
    user = make_user("t50")
    fifty = [{"Key": f"k{i:02d}", "Value": str(i)} for i in range(50)]
    iam.tag_user(UserName=user.name, Tags=fifty[:30])
    iam.tag_user(UserName=user.name, Tags=fifty[30:])
    assert _tags(iam, user.name) == fifty
    with expect_error("LimitExceeded", 409, MSG_USER_TAG_QUOTA):
        iam.tag_user(UserName=user.name, Tags=_kv(("one-more", "x")))
    assert _tags(iam, user.name) == fifty
    # overwriting an existing key (any case) does not add a tag
    iam.tag_user(UserName=user.name, Tags=_kv(("K07", "new")))
    tags = _tags(iam, user.name)
    assert len(tags) == 50
    assert [t["Value"] for t in tags if t["Key"].lower() == "k07"] == ["new"]


def test_limit_counts_existing_plus_new_and_writes_nothing(iam, make_user):
    user = make_user("tlim")
    existing = [{"Key": f"e{i:02d}", "Value": "old"} for i in range(45)]
    iam.tag_user(UserName=user.name, Tags=existing)
    # 1 overwrite + 5 new = 50 in total: fine on its own, so use 1 overwrite + 6 new = 51
    request = _kv(("e00", "changed")) + [{"Key": f"n{i}", "Value": ""} for i in range(6)]
    with expect_error("LimitExceeded", 409, MSG_USER_TAG_QUOTA):
        iam.tag_user(UserName=user.name, Tags=request)
    # the failed request changed nothing: no new key, and the overwrite was not applied either
    assert _tags(iam, user.name) == existing


def test_limit_includes_tags_from_create_user(iam):
    name = S.unique("tlimc")
    fifty = [{"Key": f"c{i:02d}", "Value": ""} for i in range(50)]
    iam.create_user(UserName=name, Tags=fifty)
    assert _tags(iam, name) == fifty
    with expect_error("LimitExceeded", 409, MSG_USER_TAG_QUOTA):
        iam.tag_user(UserName=name, Tags=_kv(("extra", "")))
    assert _tags(iam, name) == fifty
    # after untagging one there is room again
    iam.untag_user(UserName=name, TagKeys=["c00"])
    iam.tag_user(UserName=name, Tags=_kv(("extra", "")))
    assert len(_tags(iam, name)) == 50


def test_more_than_fifty_in_one_request_is_validation_error(iam_nv, make_user):
    user = make_user("t51")
    with expect_error("ValidationError", 400,
                      startswith="1 validation error detected: Value ",
                      contains="at 'tags' failed to satisfy constraint: "
                               "Member must have length less than or equal to 50"):
        iam_nv.tag_user(UserName=user.name, Tags=[{"Key": f"k{i}", "Value": ""} for i in range(51)])
    assert _tags(iam_nv, user.name) == []


def test_duplicate_keys_in_one_request(iam, make_user):
    user = make_user("tdup")
    iam.tag_user(UserName=user.name, Tags=_kv(("keep", "1")))
    with expect_error("InvalidInput", 400, S.MSG_DUP_TAGS):
        iam.tag_user(UserName=user.name, Tags=_kv(("Env", "a"), ("other", "x"), ("env", "b")))
    with expect_error("InvalidInput", 400, S.MSG_DUP_TAGS):
        iam.tag_user(UserName=user.name, Tags=_kv(("same", "a"), ("same", "a")))
    # nothing from the refused requests was written
    assert _tags(iam, user.name) == _kv(("keep", "1"))


def test_tag_key_bad_characters(iam_nv, make_user):
    user = make_user("tbadk")
    with expect_error("ValidationError", 400,
                      contains=["'tags.2.member.key'", "regular expression pattern", TAG_KEY_PATTERN]):
        iam_nv.tag_user(UserName=user.name, Tags=_kv(("ok", "v"), ("bad#key", "v")))
    assert _tags(iam_nv, user.name) == []


@pytest.mark.parametrize("bad", ["semi;colon", "star*", "tab\tkey", "quote'"])
def test_tag_key_bad_characters_variants(iam_nv, make_user, bad):
    user = make_user("tbadkv")
    with expect_error("ValidationError", 400, contains=["'tags.1.member.key'", "regular expression pattern"]):
        iam_nv.tag_user(UserName=user.name, Tags=_kv((bad, "v")))


def test_tag_value_bad_characters(iam_nv, make_user):
    user = make_user("tbadv")
    with expect_error("ValidationError", 400,
                      contains=["'tags.1.member.value'", "regular expression pattern", TAG_VALUE_PATTERN]):
        iam_nv.tag_user(UserName=user.name, Tags=_kv(("k", "a#b")))
    assert _tags(iam_nv, user.name) == []


def test_tag_key_too_long(iam_nv, make_user):
    user = make_user("tlongk")
    with expect_error("ValidationError", 400,
                      contains=["'tags.1.member.key'", "Member must have length less than or equal to 128"]):
        iam_nv.tag_user(UserName=user.name, Tags=_kv(("k" * 129, "v")))
    assert _tags(iam_nv, user.name) == []


def test_tag_key_empty(iam_nv, make_user):
    user = make_user("temptyk")
    with expect_error("ValidationError", 400,
                      contains=["'tags.1.member.key'", "Member must have length greater than or equal to 1"]):
        iam_nv.tag_user(UserName=user.name, Tags=_kv(("", "v")))


def test_tag_value_too_long(iam_nv, make_user):
    user = make_user("tlongv")
    with expect_error("ValidationError", 400,
                      contains=["'tags.1.member.value'", "Member must have length less than or equal to 256"]):
        iam_nv.tag_user(UserName=user.name, Tags=_kv(("k", "v" * 257)))
    assert _tags(iam_nv, user.name) == []


def test_untag_key_too_long(iam_nv, make_user):
    user = make_user("tuklong")
    with expect_error("ValidationError", 400, contains="Member must have length less than or equal to 128"):
        iam_nv.untag_user(UserName=user.name, TagKeys=["k" * 129])


def test_untag_key_bad_characters(iam_nv, make_user):
    user = make_user("tukbad")
    with expect_error("ValidationError", 400, contains=["regular expression pattern", TAG_KEY_PATTERN]):
        iam_nv.untag_user(UserName=user.name, TagKeys=["bad#key"])


def test_untag_more_than_fifty_keys(iam_nv, make_user):
    user = make_user("tuk51")
    with expect_error("ValidationError", 400, contains="Member must have length less than or equal to 50"):
        iam_nv.untag_user(UserName=user.name, TagKeys=[f"k{i}" for i in range(51)])


@pytest.mark.parametrize("op", ["tag", "untag", "list"])
def test_user_name_pattern(iam_nv, op):
    msg = ("1 validation error detected: Value 'x y' at 'userName' failed to satisfy constraint: "
           f"Member must satisfy regular expression pattern: {S.USER_NAME_PATTERN}")
    with expect_error("ValidationError", 400, msg):
        if op == "tag":
            iam_nv.tag_user(UserName="x y", Tags=_kv(("k", "v")))
        elif op == "untag":
            iam_nv.untag_user(UserName="x y", TagKeys=["k"])
        else:
            iam_nv.list_user_tags(UserName="x y")


# ---------------------------------------------------------------------------
# Pagination
# ---------------------------------------------------------------------------


def test_list_tags_pagination_max_items_and_marker(iam, make_user):
    user = make_user("tpage")
    keys = [f"key{i}" for i in (5, 1, 4, 2, 3)]
    iam.tag_user(UserName=user.name, Tags=[{"Key": k, "Value": k.upper()} for k in keys])

    first = iam.list_user_tags(UserName=user.name, MaxItems=2)
    assert first["IsTruncated"] is True and first["Marker"]
    assert first["Tags"] == _kv(("key1", "KEY1"), ("key2", "KEY2"))

    second = iam.list_user_tags(UserName=user.name, MaxItems=2, Marker=first["Marker"])
    assert second["IsTruncated"] is True and second["Marker"]
    assert second["Marker"] != first["Marker"]
    assert [t["Key"] for t in second["Tags"]] == ["key3", "key4"]

    third = iam.list_user_tags(UserName=user.name, MaxItems=2, Marker=second["Marker"])
    assert third.get("IsTruncated") in (False, None)
    assert not third.get("Marker")
    assert third["Tags"] == _kv(("key5", "KEY5"))

    exact = iam.list_user_tags(UserName=user.name, MaxItems=5)
    assert exact.get("IsTruncated") in (False, None) and len(exact["Tags"]) == 5


def test_list_tags_paginator_page_size_1(iam, make_user):
    user = make_user("tpg1")
    keys = ["d", "b", "a", "c"]
    iam.tag_user(UserName=user.name, Tags=[{"Key": k, "Value": k} for k in keys])
    pages = list(iam.get_paginator("list_user_tags").paginate(
        UserName=user.name, PaginationConfig={"PageSize": 1}))
    assert [len(p["Tags"]) for p in pages] == [1, 1, 1, 1]
    for p in pages[:-1]:
        assert p["IsTruncated"] is True and p["Marker"]
    markers = [p["Marker"] for p in pages[:-1]]
    assert len(set(markers)) == len(markers)
    assert [t["Key"] for p in pages for t in p["Tags"]] == ["a", "b", "c", "d"]


def test_list_tags_garbage_marker(iam, make_user):
    user = make_user("tgm")
    iam.tag_user(UserName=user.name, Tags=_kv(("k", "v")))
    with expect_error("ValidationError", 400, S.MSG_INVALID_MARKER):
        iam.list_user_tags(UserName=user.name, Marker="this-is-not-a-marker")


def test_list_tags_max_items_out_of_range(iam_nv, make_user):
    user = make_user("tmi")
    with expect_error("ValidationError", 400,
                      "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: "
                      "Member must have value greater than or equal to 1"):
        iam_nv.list_user_tags(UserName=user.name, MaxItems=0)
    with expect_error("ValidationError", 400,
                      "1 validation error detected: Value '1001' at 'maxItems' failed to satisfy constraint: "
                      "Member must have value less than or equal to 1000"):
        iam_nv.list_user_tags(UserName=user.name, MaxItems=1001)


# ---------------------------------------------------------------------------
# Authorization: an IAM user may not use the user-tag operations (not even on itself)
# ---------------------------------------------------------------------------


def test_user_cannot_tag_itself(iam, bob):
    iam.tag_user(UserName=bob.name, Tags=_kv(("set-by", "root")))
    with _denied(bob, "TagUser"):
        bob.iam.tag_user(UserName=bob.name, Tags=_kv(("k", "v")))
    with _denied(bob, "UntagUser"):
        bob.iam.untag_user(UserName=bob.name, TagKeys=["set-by"])
    with _denied(bob, "ListUserTags"):
        bob.iam.list_user_tags(UserName=bob.name)
    assert _tags(iam, bob.name) == _kv(("set-by", "root"))


def test_user_cannot_tag_other_user(iam, bob, make_user):
    alice = make_user("talice")
    iam.tag_user(UserName=alice.name, Tags=_kv(("owner", "alice")))
    with _denied(bob, "TagUser"):
        bob.iam.tag_user(UserName=alice.name, Tags=_kv(("owner", "bob")))
    with _denied(bob, "UntagUser"):
        bob.iam.untag_user(UserName=alice.name, TagKeys=["owner"])
    with _denied(bob, "ListUserTags"):
        bob.iam.list_user_tags(UserName=alice.name)
    assert _tags(iam, alice.name) == _kv(("owner", "alice"))


def test_user_denied_before_existence_is_revealed(bob):
    """Authorization is decided before the lookup: an unknown target is AccessDenied, not NoSuchEntity."""
    ghost = S.unique("ghost")
    with _denied(bob, "TagUser"):
        bob.iam.tag_user(UserName=ghost, Tags=_kv(("k", "v")))
    with _denied(bob, "UntagUser"):
        bob.iam.untag_user(UserName=ghost, TagKeys=["k"])
    with _denied(bob, "ListUserTags"):
        bob.iam.list_user_tags(UserName=ghost)


def test_user_sees_own_tags_through_get_user(iam, bob):
    """GetUser on itself is allowed (test_permissions.py) and carries the tags."""
    iam.tag_user(UserName=bob.name, Tags=_kv(("team", "blue")))
    assert bob.iam.get_user()["User"]["Tags"] == _kv(("team", "blue"))


# ---------------------------------------------------------------------------
# boto3 resource API
#
# boto3's IAM resource model (boto3/data/iam/2010-05-08/resources-1.json) has no
# tag action on User (its actions: AddGroup, AttachPolicy, Create,
# CreateAccessKeyPair, CreateLoginProfile, CreatePolicy, Delete, DetachPolicy,
# EnableMfa, RemoveGroup, Update), nor any other resource.  Tags are exposed
# read-only as the User.tags attribute (loaded through GetUser) and by
# service.create_user(Tags=...); TagUser / UntagUser / ListUserTags go through
# resource.meta.client.
# ---------------------------------------------------------------------------


def test_resource_user_has_no_tag_action(iam_resource):
    user = iam_resource.User("whoever")
    assert not any("tag" in a.lower() for a in dir(user) if not a.startswith("_") and a != "tags")


def test_resource_create_user_with_tags(iam_resource):
    name = S.unique("rtag")
    tags = _kv(("team", "blue"), ("app", "x"))
    user = iam_resource.create_user(UserName=name, Tags=tags)
    again = iam_resource.User(name)
    assert sorted(again.tags, key=lambda t: t["Key"]) == sorted(tags, key=lambda t: t["Key"])
    assert iam_resource.meta.client.list_user_tags(UserName=name)["Tags"] == _kv(("app", "x"), ("team", "blue"))
    user.delete()


def test_resource_tag_untag_via_meta_client(iam_resource, make_user):
    user = iam_resource.User(make_user("rmeta").name)
    client = iam_resource.meta.client
    user.load()
    assert user.tags in (None, [])

    client.tag_user(UserName=user.name, Tags=_kv(("Env", "dev"), ("b", "2")))
    user.reload()
    assert sorted(user.tags, key=lambda t: t["Key"]) == _kv(("Env", "dev"), ("b", "2"))

    client.tag_user(UserName=user.name, Tags=_kv(("ENV", "prod")))
    user.reload()
    assert len(user.tags) == 2
    assert {t["Key"].lower(): t["Value"] for t in user.tags} == {"env": "prod", "b": "2"}

    client.untag_user(UserName=user.name, TagKeys=["env", "zzz"])
    user.reload()
    assert user.tags == _kv(("b", "2"))
    assert client.list_user_tags(UserName=user.name)["Tags"] == _kv(("b", "2"))


def test_resource_errors_via_meta_client(iam_resource, make_user):
    client = iam_resource.meta.client
    ghost = S.unique("rghost")
    with expect_error("NoSuchEntity", 404, S.msg_no_user(ghost)):
        client.tag_user(UserName=ghost, Tags=_kv(("k", "v")))
    with expect_error("NoSuchEntity", 404, S.msg_no_user(ghost)):
        iam_resource.User(ghost).load()
    user = make_user("rerr")
    with expect_error("InvalidInput", 400, S.MSG_DUP_TAGS):
        client.tag_user(UserName=user.name, Tags=_kv(("a", "1"), ("A", "2")))


def test_resource_current_user_tags(iam, make_user, endpoint):
    bob = make_user("rcur", with_key=True, self_service=True)
    iam.tag_user(UserName=bob.name, Tags=_kv(("k", "v")))
    res = S.make_resource(endpoint, bob.creds)
    assert res.CurrentUser().user.tags == _kv(("k", "v"))
    with _denied(bob, "TagUser"):
        res.meta.client.tag_user(UserName=bob.name, Tags=_kv(("k", "w")))


# ---------------------------------------------------------------------------
# AWS CLI
# ---------------------------------------------------------------------------


def test_cli_tag_list_untag(aws_cli, iam, make_user):
    user = make_user("ctag")
    out = aws_cli.run("iam", "tag-user", "--user-name", user.name,
                      "--tags", "Key=team,Value=blue", "Key=env,Value=prod", "Key=mixed,Value=")
    assert out.stdout.strip() == ""
    out = aws_cli.run("iam", "list-user-tags", "--user-name", user.name)
    assert out.json["Tags"] == _kv(("env", "prod"), ("mixed", ""), ("team", "blue"))
    assert out.json["Tags"] == iam.list_user_tags(UserName=user.name)["Tags"]
    assert out.json.get("IsTruncated") in (False, None)

    # overwrite with a different case
    aws_cli.run("iam", "tag-user", "--user-name", user.name, "--tags", "Key=TEAM,Value=red")
    tags = aws_cli.run("iam", "list-user-tags", "--user-name", user.name).json["Tags"]
    assert len(tags) == 3
    assert {t["Key"].lower(): t["Value"] for t in tags} == {"env": "prod", "mixed": "", "team": "red"}

    out = aws_cli.run("iam", "untag-user", "--user-name", user.name, "--tag-keys", "team", "mixed", "absent")
    assert out.stdout.strip() == ""
    out = aws_cli.run("iam", "list-user-tags", "--user-name", user.name)
    assert out.json["Tags"] == _kv(("env", "prod"))


def test_cli_json_tags_and_get_user(aws_cli, iam):
    name = S.unique("cjson")
    aws_cli.run("iam", "create-user", "--user-name", name, "--tags", '[{"Key":"a","Value":"1"}]')
    aws_cli.run("iam", "tag-user", "--user-name", name, "--tags", '[{"Key":"b","Value":"two words"}]')
    out = aws_cli.run("iam", "get-user", "--user-name", name)
    assert sorted(out.json["User"]["Tags"], key=lambda t: t["Key"]) == _kv(("a", "1"), ("b", "two words"))
    out = aws_cli.run("iam", "list-user-tags", "--user-name", name)
    assert out.json["Tags"] == _kv(("a", "1"), ("b", "two words"))


def test_cli_pagination(aws_cli, iam, make_user):
    user = make_user("cpage")
    keys = [f"k{i}" for i in range(5)]
    iam.tag_user(UserName=user.name, Tags=[{"Key": k, "Value": ""} for k in keys])
    # --page-size: the CLI sends MaxItems=2 and follows Marker itself
    out = aws_cli.run("iam", "list-user-tags", "--user-name", user.name, "--page-size", "2")
    assert [t["Key"] for t in out.json["Tags"]] == keys
    # --max-items / --starting-token
    out = aws_cli.run("iam", "list-user-tags", "--user-name", user.name, "--max-items", "3")
    assert [t["Key"] for t in out.json["Tags"]] == keys[:3]
    token = out.json["NextToken"]
    out = aws_cli.run("iam", "list-user-tags", "--user-name", user.name, "--starting-token", token)
    assert [t["Key"] for t in out.json["Tags"]] == keys[3:]
    assert "NextToken" not in out.json


def test_cli_errors(aws_cli, iam, make_user):
    ghost = S.unique("cghost")
    for args in (["tag-user", "--user-name", ghost, "--tags", "Key=k,Value=v"],
                 ["untag-user", "--user-name", ghost, "--tag-keys", "k"],
                 ["list-user-tags", "--user-name", ghost]):
        out = aws_cli.run("iam", *args, check=False)
        S.cli_error(out, "NoSuchEntity", S.msg_no_user(ghost))

    user = make_user("cerr")
    out = aws_cli.run("iam", "tag-user", "--user-name", user.name,
                      "--tags", "Key=dup,Value=1", "Key=DUP,Value=2", check=False)
    S.cli_error(out, "InvalidInput", S.MSG_DUP_TAGS)

    iam.tag_user(UserName=user.name, Tags=[{"Key": f"k{i:02d}", "Value": ""} for i in range(50)])
    out = aws_cli.run("iam", "tag-user", "--user-name", user.name, "--tags", "Key=more,Value=x", check=False)
    S.cli_error(out, "LimitExceeded", MSG_USER_TAG_QUOTA)
    assert len(_tags(iam, user.name)) == 50


def test_cli_access_denied(aws_cli, iam, bob):
    iam.tag_user(UserName=bob.name, Tags=_kv(("k", "v")))
    for action, args in (("TagUser", ["tag-user", "--user-name", bob.name, "--tags", "Key=k,Value=w"]),
                         ("UntagUser", ["untag-user", "--user-name", bob.name, "--tag-keys", "k"]),
                         ("ListUserTags", ["list-user-tags", "--user-name", bob.name])):
        out = aws_cli.run("iam", *args, creds=bob.creds, check=False)
        S.cli_error(out, "AccessDenied", S.denied_prefix(bob.arn, action))
    assert _tags(iam, bob.name) == _kv(("k", "v"))


# ---------------------------------------------------------------------------
# Wire format
# ---------------------------------------------------------------------------


def test_raw_query_encoding_and_response_shape(endpoint, iam, make_user):
    user = make_user("traw")
    r = S.signed_request(endpoint, {
        "Action": "TagUser", "Version": S.IAM_VERSION, "UserName": user.name,
        "Tags.member.1.Key": "b", "Tags.member.1.Value": "two words",
        "Tags.member.2.Key": "a", "Tags.member.2.Value": "é",
    })
    assert r.status_code == 200, r.text
    assert S.xml_root(r).tag == f"{{{S.IAM_NS}}}TagUserResponse"

    r = S.signed_request(endpoint, {"Action": "ListUserTags", "Version": S.IAM_VERSION, "UserName": user.name})
    assert r.status_code == 200, r.text
    root = S.xml_root(r)
    assert root.tag == f"{{{S.IAM_NS}}}ListUserTagsResponse"
    result = root.find(S.q(S.IAM_NS, "ListUserTagsResult"))
    assert result is not None
    members = result.findall(S.q(S.IAM_NS, "Tags/member"))
    assert [(m.findtext(S.q(S.IAM_NS, "Key")), m.findtext(S.q(S.IAM_NS, "Value"))) for m in members] == [
        ("a", "é"), ("b", "two words")]
    assert result.findtext(S.q(S.IAM_NS, "IsTruncated")) == "false"
    assert root.findtext(S.q(S.IAM_NS, "ResponseMetadata/RequestId"))

    r = S.signed_request(endpoint, {"Action": "UntagUser", "Version": S.IAM_VERSION, "UserName": user.name,
                                    "TagKeys.member.1": "a", "TagKeys.member.2": "B"})
    assert r.status_code == 200, r.text
    assert S.xml_root(r).tag == f"{{{S.IAM_NS}}}UntagUserResponse"
    assert iam.list_user_tags(UserName=user.name)["Tags"] == []


def test_raw_unknown_user_error_document(endpoint):
    ghost = S.unique("rawghost")
    r = S.signed_request(endpoint, {"Action": "ListUserTags", "Version": S.IAM_VERSION, "UserName": ghost})
    assert r.status_code == 404
    err = S.xml_error(r)
    assert err["Code"] == "NoSuchEntity"
    assert err["Type"] == "Sender"
    assert err["Message"] == S.msg_no_user(ghost)
