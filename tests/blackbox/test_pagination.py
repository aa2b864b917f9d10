"""Marker/MaxItems pagination through boto3 paginators (markers must advance),
AssignmentStatus filtering and bad markers."""

import pytest

import iamd_support as S
from iamd_support import expect_error


def test_list_users_max_items_1(iam):
    path = f"/{S.unique('pg')}/"
    names = sorted(S.unique("pgu") for _ in range(5))
    for n in names:
        iam.create_user(UserName=n, Path=path)
    first = iam.list_users(PathPrefix=path, MaxItems=1)
    assert len(first["Users"]) == 1 and first["IsTruncated"] is True and first["Marker"]
    pages = S.pages_of(iam, "list_users", page_size=1, PathPrefix=path)
    assert len(pages) == 5
    got = [u["UserName"] for p in pages for u in p["Users"]]
    assert sorted(got) == names and len(set(got)) == 5


def test_list_users_page_size_2_whole_account(iam):
    """Every user appears exactly once when paging the whole account."""
    mine = {S.unique("pga") for _ in range(3)}
    for n in mine:
        iam.create_user(UserName=n)
    pages = S.pages_of(iam, "list_users", page_size=2)
    got = [u["UserName"] for p in pages for u in p["Users"]]
    assert len(got) == len(set(got)), "a user appeared twice"
    assert mine <= set(got)
    assert len(got) == S.summary(iam)["Users"]


def test_list_mfa_devices_max_items_1(iam, make_user, make_device, enable):
    user = make_user("pgm")
    serials = []
    for _ in range(3):
        d = make_device()
        enable(user, d)
        serials.append(d.serial)
    pages = S.pages_of(iam, "list_mfa_devices", page_size=1, UserName=user.name)
    assert len(pages) == 3
    got = [d["SerialNumber"] for p in pages for d in p["MFADevices"]]
    assert sorted(got) == sorted(serials)


def test_list_access_keys_max_items_1(iam, make_user):
    user = make_user("pgk")
    ids = [iam.create_access_key(UserName=user.name)["AccessKey"]["AccessKeyId"] for _ in range(2)]
    pages = S.pages_of(iam, "list_access_keys", page_size=1, UserName=user.name)
    assert len(pages) == 2
    assert sorted(k["AccessKeyId"] for p in pages for k in p["AccessKeyMetadata"]) == sorted(ids)


def test_list_mfa_device_tags_max_items_1(iam, make_device):
    dev = make_device()
    keys = ["d", "b", "a", "c"]
    iam.tag_mfa_device(SerialNumber=dev.serial, Tags=[{"Key": k, "Value": k} for k in keys])
    pages = S.pages_of(iam, "list_mfa_device_tags", page_size=1, SerialNumber=dev.serial)
    assert len(pages) == 4
    assert [t["Key"] for p in pages for t in p["Tags"]] == ["a", "b", "c", "d"]


def test_list_virtual_mfa_devices_max_items_1(iam, make_user, make_device, enable):
    user = make_user("pgv")
    assigned = make_device()
    enable(user, assigned)
    unassigned = [make_device() for _ in range(2)]

    def serials(status=None):
        kw = {"AssignmentStatus": status} if status else {}
        pages = S.pages_of(iam, "list_virtual_mfa_devices", page_size=1, **kw)
        got = [d["SerialNumber"] for p in pages for d in p["VirtualMFADevices"]]
        assert len(got) == len(set(got)), "a device appeared twice"
        return got, pages

    any_serials, _ = serials()
    assert assigned.serial in any_serials
    assert all(d.serial in any_serials for d in unassigned)
    assert len(any_serials) == S.summary(iam)["MFADevices"]

    assigned_serials, pages = serials("Assigned")
    assert assigned.serial in assigned_serials
    assert not any(d.serial in assigned_serials for d in unassigned)
    for p in pages:
        for d in p["VirtualMFADevices"]:
            assert "User" in d and "EnableDate" in d

    unassigned_serials, pages = serials("Unassigned")
    assert assigned.serial not in unassigned_serials
    assert all(d.serial in unassigned_serials for d in unassigned)
    for p in pages:
        for d in p["VirtualMFADevices"]:
            assert set(d) == {"SerialNumber"}, d

    assert sorted(any_serials) == sorted(assigned_serials + unassigned_serials)


def test_default_assignment_status_is_any(iam, make_user, make_device, enable):
    user = make_user("pgd")
    a = make_device()
    enable(user, a)
    u = make_device()
    default = {d["SerialNumber"] for d in S.all_virtual_devices(iam)}
    assert a.serial in default and u.serial in default


def test_max_items_respected(iam, make_user):
    path = f"/{S.unique('mx')}/"
    for _ in range(4):
        iam.create_user(UserName=S.unique("mx"), Path=path)
    r = iam.list_users(PathPrefix=path, MaxItems=3)
    assert len(r["Users"]) == 3 and r["IsTruncated"] is True
    r2 = iam.list_users(PathPrefix=path, MaxItems=3, Marker=r["Marker"])
    assert len(r2["Users"]) == 1 and r2.get("IsTruncated") in (False, None)
    assert "Marker" not in r2 or not r2["Marker"]
    r3 = iam.list_users(PathPrefix=path, MaxItems=4)
    assert len(r3["Users"]) == 4 and r3.get("IsTruncated") in (False, None)


@pytest.mark.parametrize("op,kw", [
    ("list_users", {}),
    ("list_virtual_mfa_devices", {}),
    ("list_mfa_devices", {"UserName": "USER"}),
    ("list_access_keys", {"UserName": "USER"}),
    ("list_mfa_device_tags", {"SerialNumber": "SERIAL"}),
])
def test_garbage_marker(iam, make_user, make_device, op, kw):
    user = make_user("gm")
    dev = make_device()
    kw = {k: (user.name if v == "USER" else dev.serial if v == "SERIAL" else v) for k, v in kw.items()}
    with expect_error("ValidationError", 400, S.MSG_INVALID_MARKER):
        getattr(iam, op)(Marker="this-is-not-a-marker", **kw)


def test_max_items_too_large(iam_nv):
    with expect_error(
        "ValidationError", 400,
        "1 validation error detected: Value '1001' at 'maxItems' failed to satisfy constraint: "
        "Member must have value less than or equal to 1000",
    ):
        iam_nv.list_users(MaxItems=1001)


def test_max_items_zero(iam_nv):
    with expect_error(
        "ValidationError", 400,
        "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1",
    ):
        iam_nv.list_virtual_mfa_devices(MaxItems=0)


def test_bad_assignment_status(iam_nv):
    with expect_error("ValidationError", 400,
                      startswith="1 validation error detected: Value 'Bogus' at 'assignmentStatus' "
                                 "failed to satisfy constraint: Member must satisfy enum value set: [",
                      contains=["Assigned", "Unassigned", "Any"]):
        iam_nv.list_virtual_mfa_devices(AssignmentStatus="Bogus")
