"""MFA error paths: spec §7 rows for Create/Enable/Resync/Deactivate/Delete/Get,
TOTP pair rules (README §1) and Coral-style validation errors."""

import time

import pytest

import iamd_support as S
from iamd_support import expect_error

# ---------------------------------------------------------------------------
# EnableMFADevice
# ---------------------------------------------------------------------------


def test_enable_unknown_user(iam, make_device):
    dev = make_device()
    name = S.unique("nobody")
    pair = dev.totp.current_pair()
    with expect_error("NoSuchEntity", 404, S.msg_no_user(name)):
        iam.enable_mfa_device(UserName=name, SerialNumber=dev.serial,
                              AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)
    assert S.find_virtual(iam, dev.serial) == {"SerialNumber": dev.serial}


def test_enable_unknown_serial(iam, make_user):
    user = make_user("noserial")
    serial = S.mfa_arn(S.unique("missing"))
    with pytest.raises(S.ClientError) as ei:
        iam.enable_mfa_device(UserName=user.name, SerialNumber=serial,
                              AuthenticationCode1="123456", AuthenticationCode2="654321")
    # AWS leaves this open (spec §9.6): NoSuchEntity or InvalidAuthenticationCode.
    code = S.error_code(ei.value)
    if code == "NoSuchEntity":
        S.check_error(ei.value, "NoSuchEntity", 404, S.msg_no_device(serial))
    else:
        S.check_error(ei.value, "InvalidAuthenticationCode", 403, S.MSG_BAD_CODE)


def _bad_pairs(totp):
    now = time.time()
    s = S.step_of(now)
    c = totp.code_at_step
    bad = totp.invalid_code()
    return {
        "identical": (c(s), c(s)),
        "reversed": (c(s), c(s - 1)),
        "non_consecutive": (c(s - 2), c(s)),
        "gap_of_two": (c(s - 1), c(s + 1)),
        "wrong_first": (bad, c(s)),
        "wrong_second": (c(s - 1), bad),
        "both_wrong": (bad, bad[::-1] if bad[::-1] != bad else "000001"),
        "older_than_24h": (c(S.step_of(now - 24 * 3600 - 600) - 1), c(S.step_of(now - 24 * 3600 - 600))),
        "too_far_future": (c(S.step_of(now + 480) - 1), c(S.step_of(now + 480))),
    }


@pytest.mark.parametrize("case", ["identical", "reversed", "non_consecutive", "gap_of_two", "wrong_first",
                                  "wrong_second", "both_wrong", "older_than_24h", "too_far_future"])
def test_enable_bad_codes(iam, make_user, make_device, enable, case):
    user = make_user("bad")
    dev = make_device()
    code1, code2 = _bad_pairs(dev.totp)[case]
    with expect_error("InvalidAuthenticationCode", 403, S.MSG_BAD_CODE):
        iam.enable_mfa_device(UserName=user.name, SerialNumber=dev.serial,
                              AuthenticationCode1=code1, AuthenticationCode2=code2)
    # nothing was assigned
    assert iam.list_mfa_devices(UserName=user.name)["MFADevices"] == []
    assert S.find_virtual(iam, dev.serial) == {"SerialNumber": dev.serial}
    # and a good pair still works afterwards
    enable(user, dev)
    assert len(iam.list_mfa_devices(UserName=user.name)["MFADevices"]) == 1


@pytest.mark.parametrize("offset", [-23 * 3600 - 50 * 60, -3600, -600, -30, 0, 240])
def test_enable_accepts_pairs_in_window(iam, make_user, make_device, enable, offset):
    """A consecutive pair anywhere from 24 h in the past to 5 min in the future."""
    user = make_user("win")
    dev = make_device()
    t = time.time() + offset
    enable(user, dev, dev.totp.pair_at(t))
    listed = iam.list_mfa_devices(UserName=user.name)["MFADevices"]
    assert [d["SerialNumber"] for d in listed] == [dev.serial]
    # EnableDate is the time of the call, not the time of the codes
    S.assert_recent(listed[0]["EnableDate"])


def test_enable_device_in_use_same_user(iam, make_user, make_device, enable):
    user = make_user("inuse1")
    dev = make_device()
    enable(user, dev)
    pair = dev.totp.pair_at_step(S.step_of(time.time()) + 2)
    with expect_error("EntityAlreadyExists", 409, S.MSG_IN_USE):
        iam.enable_mfa_device(UserName=user.name, SerialNumber=dev.serial,
                              AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)


def test_enable_device_in_use_other_user(iam, make_user, make_device, enable):
    alice, bob = make_user("inuse-a"), make_user("inuse-b")
    dev = make_device()
    enable(alice, dev)
    pair = dev.totp.pair_at_step(S.step_of(time.time()) + 2)
    with expect_error("EntityAlreadyExists", 409, S.MSG_IN_USE):
        iam.enable_mfa_device(UserName=bob.name, SerialNumber=dev.serial,
                              AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)
    assert iam.list_mfa_devices(UserName=bob.name)["MFADevices"] == []
    assert S.find_virtual(iam, dev.serial, "Assigned")["User"]["UserName"] == alice.name


def test_ninth_device_limit(iam, make_user, make_device, enable):
    user = make_user("nine")
    for _ in range(8):
        enable(user, make_device())
    ninth = make_device()
    pair = ninth.totp.current_pair()
    with expect_error("LimitExceeded", 409, S.MSG_MFA_QUOTA):
        iam.enable_mfa_device(UserName=user.name, SerialNumber=ninth.serial,
                              AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)
    assert len(iam.list_mfa_devices(UserName=user.name)["MFADevices"]) == 8
    assert S.find_virtual(iam, ninth.serial) == {"SerialNumber": ninth.serial}
    # freeing a slot makes room again
    first = iam.list_mfa_devices(UserName=user.name)["MFADevices"][0]["SerialNumber"]
    iam.deactivate_mfa_device(UserName=user.name, SerialNumber=first)
    enable(user, ninth, ninth.totp.pair_at_step(S.step_of(time.time()) + 2))
    assert len(iam.list_mfa_devices(UserName=user.name)["MFADevices"]) == 8


# ---------------------------------------------------------------------------
# CreateVirtualMFADevice
# ---------------------------------------------------------------------------


def test_create_duplicate_device(iam):
    name = S.unique("dup")
    iam.create_virtual_mfa_device(VirtualMFADeviceName=name)
    with expect_error("EntityAlreadyExists", 409, S.MSG_DEVICE_EXISTS):
        iam.create_virtual_mfa_device(VirtualMFADeviceName=name)


def test_create_duplicate_device_with_path(iam):
    name = S.unique("dupp")
    iam.create_virtual_mfa_device(VirtualMFADeviceName=name, Path="/p/")
    with expect_error("EntityAlreadyExists", 409, S.MSG_DEVICE_EXISTS):
        iam.create_virtual_mfa_device(VirtualMFADeviceName=name, Path="/p/")


@pytest.mark.parametrize("path", ["nope", "/no-trailing", "no-leading/"])
def test_create_device_bad_path(iam, path):
    with expect_error("ValidationError", 400, S.MSG_PATH_INVALID):
        iam.create_virtual_mfa_device(VirtualMFADeviceName=S.unique("bp"), Path=path)


@pytest.mark.parametrize("path", ["/p&1/", "/p<2>/", "/p%3/", "/p!4/"])
def test_create_device_refuses_a_path_no_serial_can_name(iam, path):
    """The model allows these paths, but the serial built from them would fail the
    SerialNumber pattern of every later operation: an undeletable device that fills the quota."""
    name = S.unique("up")
    with expect_error("ValidationError", 400,
                      startswith=f"1 validation error detected: Value '{path}' at 'path' failed to satisfy constraint"):
        iam.create_virtual_mfa_device(VirtualMFADeviceName=name, Path=path)
    pages = iam.get_paginator("list_virtual_mfa_devices").paginate()
    serials = [d["SerialNumber"] for page in pages for d in page["VirtualMFADevices"]]
    assert not any(s.endswith(f"/{name}") for s in serials)


def test_create_device_path_too_long(iam):
    path = "/" + "a" * 511 + "/"  # 513 chars
    with expect_error("ValidationError", 400, S.MSG_PATH_TOO_LONG):
        iam.create_virtual_mfa_device(VirtualMFADeviceName=S.unique("lp"), Path=path)


def test_create_device_bad_name(iam):
    with expect_error(
        "ValidationError", 400,
        "1 validation error detected: Value 'a b' at 'virtualMFADeviceName' failed to satisfy "
        r"constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+",
    ):
        iam.create_virtual_mfa_device(VirtualMFADeviceName="a b")


# ---------------------------------------------------------------------------
# DeactivateMFADevice
# ---------------------------------------------------------------------------


def test_deactivate_unknown_user(iam, make_device):
    dev = make_device()
    name = S.unique("nobody")
    with expect_error("NoSuchEntity", 404, S.msg_no_user(name)):
        iam.deactivate_mfa_device(UserName=name, SerialNumber=dev.serial)


def test_deactivate_serial_of_other_user(iam, make_user, make_device, enable):
    alice, bob = make_user("da"), make_user("db")
    dev = make_device()
    enable(alice, dev)
    with expect_error("NoSuchEntity", 404, S.msg_no_device(dev.serial)):
        iam.deactivate_mfa_device(UserName=bob.name, SerialNumber=dev.serial)
    assert len(iam.list_mfa_devices(UserName=alice.name)["MFADevices"]) == 1


def test_deactivate_unassigned_and_unknown_serial(iam, make_user, make_device):
    user = make_user("dun")
    dev = make_device()
    with expect_error("NoSuchEntity", 404, S.msg_no_device(dev.serial)):
        iam.deactivate_mfa_device(UserName=user.name, SerialNumber=dev.serial)
    missing = S.mfa_arn(S.unique("missing"))
    with expect_error("NoSuchEntity", 404, S.msg_no_device(missing)):
        iam.deactivate_mfa_device(UserName=user.name, SerialNumber=missing)


def test_deactivate_twice(iam, make_user, make_device, enable):
    user = make_user("dtw")
    dev = make_device()
    enable(user, dev)
    iam.deactivate_mfa_device(UserName=user.name, SerialNumber=dev.serial)
    with expect_error("NoSuchEntity", 404, S.msg_no_device(dev.serial)):
        iam.deactivate_mfa_device(UserName=user.name, SerialNumber=dev.serial)


# ---------------------------------------------------------------------------
# DeleteVirtualMFADevice
# ---------------------------------------------------------------------------


def test_delete_unknown_device(iam):
    serial = S.mfa_arn(S.unique("missing"))
    with expect_error("NoSuchEntity", 404, S.msg_no_device(serial)):
        iam.delete_virtual_mfa_device(SerialNumber=serial)


def test_delete_assigned_device(iam, make_user, make_device, enable):
    user = make_user("delas")
    dev = make_device()
    enable(user, dev)
    with expect_error("DeleteConflict", 409, S.MSG_DELETE_ASSIGNED):
        iam.delete_virtual_mfa_device(SerialNumber=dev.serial)
    assert S.find_virtual(iam, dev.serial, "Assigned") is not None


# ---------------------------------------------------------------------------
# ResyncMFADevice
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["identical", "reversed", "non_consecutive", "wrong_first", "older_than_24h"])
def test_resync_bad_codes(iam, make_user, make_device, enable, case):
    user = make_user("rsb")
    dev = make_device()
    enable(user, dev)
    code1, code2 = _bad_pairs(dev.totp)[case]
    with expect_error("InvalidAuthenticationCode", 403, S.MSG_BAD_CODE):
        iam.resync_mfa_device(UserName=user.name, SerialNumber=dev.serial,
                              AuthenticationCode1=code1, AuthenticationCode2=code2)
    # still assigned
    assert len(iam.list_mfa_devices(UserName=user.name)["MFADevices"]) == 1


def test_resync_unknown_user(iam, make_device):
    dev = make_device()
    name = S.unique("nobody")
    pair = dev.totp.current_pair()
    with expect_error("NoSuchEntity", 404, S.msg_no_user(name)):
        iam.resync_mfa_device(UserName=name, SerialNumber=dev.serial,
                              AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)


def test_resync_unassigned_device(iam, make_user, make_device):
    user = make_user("rsu")
    dev = make_device()
    pair = dev.totp.current_pair()
    with expect_error("NoSuchEntity", 404):
        iam.resync_mfa_device(UserName=user.name, SerialNumber=dev.serial,
                              AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)


def test_resync_device_of_other_user(iam, make_user, make_device, enable):
    alice, bob = make_user("rsa"), make_user("rsb2")
    dev = make_device()
    enable(alice, dev)
    pair = dev.totp.pair_at_step(S.step_of(time.time()) + 2)
    with expect_error("NoSuchEntity", 404):
        iam.resync_mfa_device(UserName=bob.name, SerialNumber=dev.serial,
                              AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)


# ---------------------------------------------------------------------------
# GetMFADevice
# ---------------------------------------------------------------------------


def test_get_mfa_device_unknown(iam, make_user):
    user = make_user("gmu")
    serial = S.mfa_arn(S.unique("missing"))
    with expect_error("NoSuchEntity", 404, S.msg_no_device(serial)):
        iam.get_mfa_device(SerialNumber=serial, UserName=user.name)


def test_get_mfa_device_unassigned(iam, make_user, make_device):
    user = make_user("gmn")
    dev = make_device()
    with expect_error("NoSuchEntity", 404, S.msg_no_device(dev.serial)):
        iam.get_mfa_device(SerialNumber=dev.serial, UserName=user.name)


def test_get_mfa_device_wrong_user(iam, make_user, make_device, enable):
    alice, bob = make_user("gma"), make_user("gmb")
    dev = make_device()
    enable(alice, dev)
    with expect_error("NoSuchEntity", 404):
        iam.get_mfa_device(SerialNumber=dev.serial, UserName=bob.name)


# ---------------------------------------------------------------------------
# Validation (server-side: botocore checks only min lengths)
# ---------------------------------------------------------------------------


def _pattern_msg(value, member, pattern):
    return (f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {pattern}")


def test_code_with_letter(iam, make_user, make_device):
    user, dev = make_user("val"), make_device()
    with expect_error("ValidationError", 400, _pattern_msg("12345a", "authenticationCode1", r"[\d]+")):
        iam.enable_mfa_device(UserName=user.name, SerialNumber=dev.serial,
                              AuthenticationCode1="12345a", AuthenticationCode2="123456")
    with expect_error("ValidationError", 400, _pattern_msg("abcdef", "authenticationCode2", r"[\d]+")):
        iam.enable_mfa_device(UserName=user.name, SerialNumber=dev.serial,
                              AuthenticationCode1="123456", AuthenticationCode2="abcdef")


def test_resync_code_with_letter(iam, make_user, make_device, enable):
    user, dev = make_user("valr"), make_device()
    enable(user, dev)
    with expect_error("ValidationError", 400, _pattern_msg("12345a", "authenticationCode1", r"[\d]+")):
        iam.resync_mfa_device(UserName=user.name, SerialNumber=dev.serial,
                              AuthenticationCode1="12345a", AuthenticationCode2="123456")


def test_code_too_long(iam, make_user, make_device):
    user, dev = make_user("val7"), make_device()
    with expect_error("ValidationError", 400, startswith="1 validation error detected: Value ",
                      contains="at 'authenticationCode1' failed to satisfy constraint: "
                               "Member must have length less than or equal to 6"):
        iam.enable_mfa_device(UserName=user.name, SerialNumber=dev.serial,
                              AuthenticationCode1="1234567", AuthenticationCode2="123456")


def test_serial_bad_pattern(iam, make_user):
    user = make_user("vals")
    serial = f"arn:aws:iam::{S.ACCOUNT_ID}:mfa/a b"
    with expect_error("ValidationError", 400, _pattern_msg(serial, "serialNumber", r"[\w+=/:,.@-]+")):
        iam.enable_mfa_device(UserName=user.name, SerialNumber=serial,
                              AuthenticationCode1="123456", AuthenticationCode2="123457")


def test_serial_too_long(iam):
    serial = S.mfa_arn("x" * 240)  # > 256 chars
    assert len(serial) > 256
    with expect_error("ValidationError", 400, startswith="1 validation error detected: Value ",
                      contains="at 'serialNumber' failed to satisfy constraint: "
                               "Member must have length less than or equal to 256"):
        iam.delete_virtual_mfa_device(SerialNumber=serial)


def test_existing_user_name_too_long(iam, make_device):
    dev = make_device()
    name = "u" * 129
    with expect_error("ValidationError", 400, startswith="1 validation error detected: Value ",
                      contains="at 'userName' failed to satisfy constraint: "
                               "Member must have length less than or equal to 128"):
        iam.enable_mfa_device(UserName=name, SerialNumber=dev.serial,
                              AuthenticationCode1="123456", AuthenticationCode2="123457")


def test_enable_user_name_bad_pattern(iam, make_device):
    dev = make_device()
    with expect_error("ValidationError", 400, _pattern_msg("x y", "userName", S.USER_NAME_PATTERN)):
        iam.enable_mfa_device(UserName="x y", SerialNumber=dev.serial,
                              AuthenticationCode1="123456", AuthenticationCode2="123457")
