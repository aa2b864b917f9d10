"""boto3 resource API (iam-resources-1.json, spec §6)."""

import pytest

import iamd_support as S
from iamd_support import expect_error


def test_user_resource_create_load_delete(iam_resource):
    name = S.unique("res")
    user = iam_resource.create_user(UserName=name)
    assert user.name == name
    user.load()
    assert user.arn == S.user_arn(name)
    assert user.user_id.startswith("AIDA")
    assert user.path == "/"
    again = iam_resource.User(name)
    assert again.user_id == user.user_id
    user.delete()
    with expect_error("NoSuchEntity", 404):
        iam_resource.User(name).load()


def test_current_user(make_user, endpoint):
    bob = make_user("cur", with_key=True, self_service=True)
    res = S.make_resource(endpoint, bob.creds)
    me = res.CurrentUser()
    assert me.user_name == bob.name
    assert me.arn == bob.arn
    assert me.user_id == bob.user_id
    assert me.user.name == bob.name


def test_virtual_mfa_device_enable_resync_disassociate_delete(iam, iam_resource):
    user = iam_resource.create_user(UserName=S.unique("resm"))
    vdev = iam_resource.create_virtual_mfa_device(VirtualMFADeviceName=S.unique("resd"))
    assert vdev.serial_number.startswith(f"arn:aws:iam::{S.ACCOUNT_ID}:mfa/")
    totp = S.check_seed(vdev.base32_string_seed)
    assert vdev.qr_code_png[:8] == S.PNG_MAGIC

    pair = totp.current_pair()
    mfa = user.enable_mfa(SerialNumber=vdev.serial_number,
                          AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)
    assert mfa.user_name == user.name and mfa.serial_number == vdev.serial_number

    devices = list(user.mfa_devices.all())
    assert [d.serial_number for d in devices] == [vdev.serial_number]
    S.assert_recent(devices[0].enable_date)
    assert devices[0].user_name == user.name
    assert devices[0].User().name == user.name

    p2 = totp.pair_at_step(pair.step + 2)
    iam_resource.MfaDevice(user.name, vdev.serial_number).resync(
        AuthenticationCode1=p2.code1, AuthenticationCode2=p2.code2)

    iam_resource.MfaDevice(user.name, vdev.serial_number).disassociate()
    assert list(user.mfa_devices.all()) == []

    iam_resource.VirtualMfaDevice(vdev.serial_number).delete()
    assert S.find_virtual(iam, vdev.serial_number) is None


def test_mfa_device_associate(iam_resource, make_user, make_device):
    user = make_user("assoc")
    dev = make_device()
    pair = dev.totp.current_pair()
    iam_resource.MfaDevice(user.name, dev.serial).associate(
        AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)
    assert [d.serial_number for d in iam_resource.User(user.name).mfa_devices.all()] == [dev.serial]


def test_mfa_device_associate_bad_codes(iam_resource, make_user, make_device):
    user = make_user("assocbad")
    dev = make_device()
    bad = dev.totp.invalid_code()
    with expect_error("InvalidAuthenticationCode", 403, S.MSG_BAD_CODE):
        iam_resource.MfaDevice(user.name, dev.serial).associate(
            AuthenticationCode1=bad, AuthenticationCode2=bad)


def test_virtual_mfa_devices_collection_filter(iam_resource, make_user, make_device, enable):
    user = make_user("coll")
    a = make_device()
    enable(user, a)
    u = make_device()

    assigned = {d.serial_number: d for d in iam_resource.virtual_mfa_devices.filter(AssignmentStatus="Assigned")}
    unassigned = {d.serial_number: d for d in iam_resource.virtual_mfa_devices.filter(AssignmentStatus="Unassigned")}
    everything = {d.serial_number for d in iam_resource.virtual_mfa_devices.all()}

    assert a.serial in assigned and a.serial not in unassigned
    assert u.serial in unassigned and u.serial not in assigned
    assert {a.serial, u.serial} <= everything
    got = assigned[a.serial]
    assert got.user_attribute["UserName"] == user.name
    assert got.user_attribute["Arn"] == user.arn
    assert got.user.name == user.name
    S.assert_recent(got.enable_date)
    assert unassigned[u.serial].user_attribute is None
    assert unassigned[u.serial].base32_string_seed is None


def test_access_key_resources(iam_resource, make_user, endpoint):
    user = iam_resource.User(make_user("resak").name)
    pair = user.create_access_key_pair()
    assert pair.id.startswith("AKIA") and len(pair.secret) == 40
    assert pair.status == "Active"
    keys = list(user.access_keys.all())
    assert [k.id for k in keys] == [pair.id]
    assert keys[0].status == "Active"

    sts_user = S.make_client("sts", endpoint, S.Creds(pair.id, pair.secret))
    assert sts_user.get_caller_identity()["Arn"] == S.user_arn(user.name)

    key = iam_resource.AccessKey(user.name, pair.id)
    key.deactivate()
    assert [k.status for k in user.access_keys.all()] == ["Inactive"]
    with expect_error("InvalidClientTokenId", 403):
        sts_user.get_caller_identity()
    key.activate()
    assert [k.status for k in user.access_keys.all()] == ["Active"]
    key.delete()
    assert list(user.access_keys.all()) == []


def test_current_user_mfa_devices(make_user, make_device, enable, endpoint):
    bob = make_user("curm", with_key=True, self_service=True)
    dev = make_device(name=bob.name)
    enable(bob, dev)
    res = S.make_resource(endpoint, bob.creds)
    devices = list(res.CurrentUser().mfa_devices.all())
    assert [(d.user_name, d.serial_number) for d in devices] == [(bob.name, dev.serial)]


def test_account_summary_resource(iam_resource):
    m = iam_resource.AccountSummary().summary_map
    assert m["AccessKeysPerUserQuota"] == 2
    assert m["AccountMFAEnabled"] == 0
    assert m["AccountAccessKeysPresent"] == 1
    assert m["Users"] >= 0 and m["MFADevices"] >= 0 and m["MFADevicesInUse"] >= 0
