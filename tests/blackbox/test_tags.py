"""MFA device tags: TagMFADevice / UntagMFADevice / ListMFADeviceTags."""

import pytest

import iamd_support as S
from iamd_support import expect_error


def _tags(iam, serial):
    return S.list_all(iam, "list_mfa_device_tags", SerialNumber=serial)


def test_new_device_has_empty_tag_list(iam, make_device):
    dev = make_device()
    resp = iam.list_mfa_device_tags(SerialNumber=dev.serial)
    assert resp["Tags"] == []
    assert resp.get("IsTruncated") in (False, None)


def test_tag_and_list_sorted_by_key(iam, make_device):
    dev = make_device()
    iam.tag_mfa_device(SerialNumber=dev.serial, Tags=[
        {"Key": "zeta", "Value": "z"}, {"Key": "alpha", "Value": "a"}, {"Key": "mid", "Value": ""}])
    iam.tag_mfa_device(SerialNumber=dev.serial, Tags=[{"Key": "beta", "Value": "b"}])
    assert iam.list_mfa_device_tags(SerialNumber=dev.serial)["Tags"] == [
        {"Key": "alpha", "Value": "a"},
        {"Key": "beta", "Value": "b"},
        {"Key": "mid", "Value": ""},
        {"Key": "zeta", "Value": "z"},
    ]


def test_tag_overwrites_existing_key(iam, make_device):
    dev = make_device()
    iam.tag_mfa_device(SerialNumber=dev.serial, Tags=[{"Key": "env", "Value": "dev"}, {"Key": "x", "Value": "1"}])
    iam.tag_mfa_device(SerialNumber=dev.serial, Tags=[{"Key": "env", "Value": "prod"}])
    assert _tags(iam, dev.serial) == [{"Key": "env", "Value": "prod"}, {"Key": "x", "Value": "1"}]


def test_tag_keys_are_case_insensitive(iam, make_device):
    dev = make_device()
    iam.tag_mfa_device(SerialNumber=dev.serial, Tags=[{"Key": "Team", "Value": "a"}])
    iam.tag_mfa_device(SerialNumber=dev.serial, Tags=[{"Key": "TEAM", "Value": "b"}])
    tags = _tags(iam, dev.serial)
    assert len(tags) == 1, tags
    assert tags[0]["Key"].lower() == "team" and tags[0]["Value"] == "b"
    iam.untag_mfa_device(SerialNumber=dev.serial, TagKeys=["team"])
    assert _tags(iam, dev.serial) == []


def test_tag_case_is_preserved(iam, make_device):
    dev = make_device()
    iam.tag_mfa_device(SerialNumber=dev.serial, Tags=[{"Key": "CostCenter", "Value": "MixedCase"}])
    assert _tags(iam, dev.serial) == [{"Key": "CostCenter", "Value": "MixedCase"}]


def test_untag(iam, make_device):
    dev = make_device()
    iam.tag_mfa_device(SerialNumber=dev.serial, Tags=[
        {"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}, {"Key": "c", "Value": "3"}])
    iam.untag_mfa_device(SerialNumber=dev.serial, TagKeys=["a", "c"])
    assert _tags(iam, dev.serial) == [{"Key": "b", "Value": "2"}]
    # untagging an absent key is not an error
    iam.untag_mfa_device(SerialNumber=dev.serial, TagKeys=["does-not-exist"])
    assert _tags(iam, dev.serial) == [{"Key": "b", "Value": "2"}]


def test_unicode_and_special_characters(iam, make_device):
    dev = make_device()
    tags = [{"Key": "café", "Value": "naïve ü"}, {"Key": "a:b/c=d+e-f@g_h.i", "Value": "x y/z:=+-@_."}]
    iam.tag_mfa_device(SerialNumber=dev.serial, Tags=tags)
    assert sorted(_tags(iam, dev.serial), key=lambda t: t["Key"]) == sorted(tags, key=lambda t: t["Key"])


def test_tags_on_assigned_device_and_after_deactivate(iam, make_user, make_device, enable):
    user = make_user("tga")
    dev = make_device(tags=[{"Key": "k0", "Value": "v0"}])
    enable(user, dev)
    iam.tag_mfa_device(SerialNumber=dev.serial, Tags=[{"Key": "k1", "Value": "v1"}])
    iam.deactivate_mfa_device(UserName=user.name, SerialNumber=dev.serial)
    assert _tags(iam, dev.serial) == [{"Key": "k0", "Value": "v0"}, {"Key": "k1", "Value": "v1"}]


def test_tags_go_away_with_device(iam):
    name = S.unique("tgone")
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=name,
                                           Tags=[{"Key": "k", "Value": "v"}])["VirtualMFADevice"]["SerialNumber"]
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    with expect_error("NoSuchEntity", 404):
        iam.list_mfa_device_tags(SerialNumber=serial)
    iam.create_virtual_mfa_device(VirtualMFADeviceName=name)
    assert _tags(iam, serial) == []


def test_fifty_tags_ok_fifty_first_refused(iam, make_device):
    dev = make_device()
    fifty = [{"Key": f"k{i:02d}", "Value": str(i)} for i in range(50)]
    iam.tag_mfa_device(SerialNumber=dev.serial, Tags=fifty[:30])
    iam.tag_mfa_device(SerialNumber=dev.serial, Tags=fifty[30:])
    assert _tags(iam, dev.serial) == fifty
    with expect_error("LimitExceeded", 409, S.MSG_TAG_QUOTA):
        iam.tag_mfa_device(SerialNumber=dev.serial, Tags=[{"Key": "one-more", "Value": "x"}])
    # overwriting an existing key does not add a tag
    iam.tag_mfa_device(SerialNumber=dev.serial, Tags=[{"Key": "K07", "Value": "new"}])
    tags = _tags(iam, dev.serial)
    assert len(tags) == 50
    assert [t["Value"] for t in tags if t["Key"].lower() == "k07"] == ["new"]


def test_limit_counts_existing_plus_new(iam, make_device):
    dev = make_device()
    iam.tag_mfa_device(SerialNumber=dev.serial, Tags=[{"Key": f"e{i}", "Value": ""} for i in range(45)])
    with expect_error("LimitExceeded", 409, S.MSG_TAG_QUOTA):
        iam.tag_mfa_device(SerialNumber=dev.serial, Tags=[{"Key": f"n{i}", "Value": ""} for i in range(6)])
    # the failed request changed nothing
    assert len(_tags(iam, dev.serial)) == 45


def test_duplicate_keys_in_one_request(iam, make_device):
    dev = make_device()
    with expect_error("InvalidInput", 400, S.MSG_DUP_TAGS):
        iam.tag_mfa_device(SerialNumber=dev.serial, Tags=[{"Key": "Env", "Value": "a"}, {"Key": "env", "Value": "b"}])
    with expect_error("InvalidInput", 400, S.MSG_DUP_TAGS):
        iam.tag_mfa_device(SerialNumber=dev.serial, Tags=[{"Key": "same", "Value": "a"}, {"Key": "same", "Value": "a"}])
    assert _tags(iam, dev.serial) == []


def test_create_device_with_duplicate_tag_keys_fails_whole(iam):
    name = S.unique("tdup")
    with expect_error("InvalidInput", 400, S.MSG_DUP_TAGS):
        iam.create_virtual_mfa_device(VirtualMFADeviceName=name,
                                      Tags=[{"Key": "A", "Value": "1"}, {"Key": "a", "Value": "2"}])
    assert S.find_virtual(iam, S.mfa_arn(name)) is None


def test_tag_value_too_long(iam_nv, make_device):
    dev = make_device()
    with expect_error("ValidationError", 400,
                      contains=["'tags.1.member.value'", "Member must have length less than or equal to 256"]):
        iam_nv.tag_mfa_device(SerialNumber=dev.serial, Tags=[{"Key": "k", "Value": "v" * 257}])


def test_tag_key_too_long(iam_nv, make_device):
    dev = make_device()
    with expect_error("ValidationError", 400,
                      contains=["'tags.1.member.key'", "Member must have length less than or equal to 128"]):
        iam_nv.tag_mfa_device(SerialNumber=dev.serial, Tags=[{"Key": "k" * 129, "Value": "v"}])


def test_tag_key_bad_characters(iam_nv, make_device):
    dev = make_device()
    with expect_error("ValidationError", 400, contains=["'tags.2.member.key'", "regular expression pattern"]):
        iam_nv.tag_mfa_device(SerialNumber=dev.serial, Tags=[{"Key": "ok", "Value": "v"}, {"Key": "bad#key", "Value": "v"}])


def test_untag_key_too_long(iam_nv, make_device):
    dev = make_device()
    with expect_error("ValidationError", 400, contains="Member must have length less than or equal to 128"):
        iam_nv.untag_mfa_device(SerialNumber=dev.serial, TagKeys=["k" * 129])


@pytest.mark.parametrize("op", ["tag", "untag", "list"])
def test_tag_ops_unknown_device(iam, op):
    serial = S.mfa_arn(S.unique("missing"))
    with expect_error("NoSuchEntity", 404):
        if op == "tag":
            iam.tag_mfa_device(SerialNumber=serial, Tags=[{"Key": "k", "Value": "v"}])
        elif op == "untag":
            iam.untag_mfa_device(SerialNumber=serial, TagKeys=["k"])
        else:
            iam.list_mfa_device_tags(SerialNumber=serial)


def test_list_tags_pagination(iam, make_device):
    dev = make_device()
    keys = [f"key{i}" for i in (5, 1, 4, 2, 3)]
    iam.tag_mfa_device(SerialNumber=dev.serial, Tags=[{"Key": k, "Value": k.upper()} for k in keys])
    first = iam.list_mfa_device_tags(SerialNumber=dev.serial, MaxItems=2)
    assert first["IsTruncated"] is True and first["Marker"]
    assert [t["Key"] for t in first["Tags"]] == ["key1", "key2"]
    pages = S.pages_of(iam, "list_mfa_device_tags", page_size=2, SerialNumber=dev.serial)
    assert [len(p["Tags"]) for p in pages] == [2, 2, 1]
    assert [t["Key"] for p in pages for t in p["Tags"]] == sorted(keys)
