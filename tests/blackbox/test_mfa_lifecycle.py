"""Virtual MFA lifecycle: create -> enable -> list -> get -> deactivate -> delete,
plus seed and QR code checks."""

import base64
import time
import urllib.parse

import pytest

import iamd_support as S
from iamd_support import expect_error


def test_create_returns_serial_seed_and_png_only(iam):
    name = S.unique("dev")
    d = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]
    assert d["SerialNumber"] == S.mfa_arn(name)
    assert "User" not in d and "EnableDate" not in d
    S.check_seed(d["Base32StringSeed"])
    assert d["QRCodePNG"][:8] == S.PNG_MAGIC


def test_seed_is_64_base32_chars_accepted_by_pyotp(iam):
    seeds = set()
    for _ in range(3):
        d = iam.create_virtual_mfa_device(VirtualMFADeviceName=S.unique("seed"))["VirtualMFADevice"]
        seed = d["Base32StringSeed"]
        assert len(seed) == 64
        totp = S.check_seed(seed)
        # pyotp must be able to produce codes and verify its own current code
        assert totp._totp.verify(totp._totp.now())
        seeds.add(seed)
    assert len(seeds) == 3, "seeds must be random"


def test_qr_png_is_a_valid_png(iam):
    d = iam.create_virtual_mfa_device(VirtualMFADeviceName=S.unique("qr"))["VirtualMFADevice"]
    png = d["QRCodePNG"]
    info = S.parse_png(png)
    assert info["chunks"][0] == "IHDR" and info["chunks"][-1] == "IEND"
    # a QR code image is square and big enough to scan
    assert info["width"] == info["height"]
    assert info["width"] >= 21


def test_qr_code_payload(iam):
    name = S.unique("qrp")
    d = iam.create_virtual_mfa_device(VirtualMFADeviceName=name, Path="/qr-path/")["VirtualMFADevice"]
    text = S.zbar_decode(d["QRCodePNG"])
    if text is None:
        pytest.skip("zbarimg not installed (apt-get install zbar-tools); PNG structure is checked elsewhere")
    seed = d["Base32StringSeed"].decode()
    parsed = urllib.parse.urlparse(text)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp", text
    label = urllib.parse.unquote(parsed.path.lstrip("/"))
    # the label uses the device name only, never the path
    assert label == f"Amazon Web Services:{name}@{S.ACCOUNT_ID}", text
    qs = urllib.parse.parse_qs(parsed.query)
    assert qs["secret"] == [seed], text
    assert qs.get("issuer") == ["Amazon Web Services"], text
    assert text == (
        f"otpauth://totp/Amazon%20Web%20Services:{name}@{S.ACCOUNT_ID}"
        f"?secret={seed}&issuer=Amazon%20Web%20Services"
    )


def test_create_with_path(iam):
    name = S.unique("pd")
    d = iam.create_virtual_mfa_device(VirtualMFADeviceName=name, Path="/test-path/")["VirtualMFADevice"]
    assert d["SerialNumber"] == f"arn:aws:iam::{S.ACCOUNT_ID}:mfa/test-path/{name}"
    assert S.find_virtual(iam, d["SerialNumber"]) == {"SerialNumber": d["SerialNumber"]}


def test_create_with_double_slash_path(iam):
    name = S.unique("dd")
    d = iam.create_virtual_mfa_device(VirtualMFADeviceName=name, Path="/test//double/")["VirtualMFADevice"]
    assert d["SerialNumber"] == f"arn:aws:iam::{S.ACCOUNT_ID}:mfa/test//double/{name}"


def test_create_with_tags(iam):
    name = S.unique("tg")
    tags = [{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "1"}]
    d = iam.create_virtual_mfa_device(VirtualMFADeviceName=name, Tags=tags)["VirtualMFADevice"]
    got = iam.list_mfa_device_tags(SerialNumber=d["SerialNumber"])["Tags"]
    assert got == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    # tags are never part of the list entries
    assert "Tags" not in S.find_virtual(iam, d["SerialNumber"])


def test_unassigned_listing_contains_only_serial(iam, make_device):
    dev = make_device()
    entry = S.find_virtual(iam, dev.serial)
    assert entry == {"SerialNumber": dev.serial}
    assert S.find_virtual(iam, dev.serial, "Unassigned") == {"SerialNumber": dev.serial}
    assert S.find_virtual(iam, dev.serial, "Any") == {"SerialNumber": dev.serial}
    assert S.find_virtual(iam, dev.serial, "Assigned") is None


def test_full_lifecycle(iam, make_user, make_device, enable):
    user = make_user("life")
    dev = make_device()
    before = S.summary(iam)

    enable(user, dev)

    # ListMFADevices
    listed = iam.list_mfa_devices(UserName=user.name)["MFADevices"]
    assert len(listed) == 1
    assert listed[0]["UserName"] == user.name
    assert listed[0]["SerialNumber"] == dev.serial
    enable_date = listed[0]["EnableDate"]
    S.assert_recent(enable_date)

    # ListVirtualMFADevices, assigned entry
    entry = S.find_virtual(iam, dev.serial, "Assigned")
    assert entry is not None
    assert set(entry) == {"SerialNumber", "User", "EnableDate"}, entry
    assert entry["EnableDate"] == enable_date
    u = entry["User"]
    assert u["UserName"] == user.name and u["Arn"] == user.arn and u["UserId"] == user.user_id
    assert u["Path"] == "/" and "CreateDate" in u
    assert S.find_virtual(iam, dev.serial, "Unassigned") is None

    # GetMFADevice
    got = iam.get_mfa_device(SerialNumber=dev.serial, UserName=user.name)
    assert got["UserName"] == user.name
    assert got["SerialNumber"] == dev.serial
    assert got["EnableDate"] == enable_date

    after_enable = S.summary(iam)
    assert after_enable["MFADevicesInUse"] == before["MFADevicesInUse"] + 1
    assert after_enable["MFADevices"] == before["MFADevices"]

    # Deactivate: device stays, unassigned
    iam.deactivate_mfa_device(UserName=user.name, SerialNumber=dev.serial)
    assert iam.list_mfa_devices(UserName=user.name)["MFADevices"] == []
    assert S.find_virtual(iam, dev.serial) == {"SerialNumber": dev.serial}
    with expect_error("NoSuchEntity", 404, S.msg_no_device(dev.serial)):
        iam.get_mfa_device(SerialNumber=dev.serial, UserName=user.name)
    assert S.summary(iam)["MFADevicesInUse"] == before["MFADevicesInUse"]

    # Delete
    iam.delete_virtual_mfa_device(SerialNumber=dev.serial)
    assert S.find_virtual(iam, dev.serial) is None
    assert S.summary(iam)["MFADevices"] == before["MFADevices"] - 1
    with expect_error("NoSuchEntity", 404, S.msg_no_device(dev.serial)):
        iam.delete_virtual_mfa_device(SerialNumber=dev.serial)


def test_device_can_be_re_enabled_after_deactivate(iam, make_user, make_device, enable):
    alice, bob = make_user("re1"), make_user("re2")
    dev = make_device()
    enable(alice, dev)
    iam.deactivate_mfa_device(UserName=alice.name, SerialNumber=dev.serial)
    # a pair later than anything used before (still inside the +5 min window)
    enable(bob, dev, dev.totp.pair_at_step(S.step_of(time.time()) + 2))
    listed = iam.list_mfa_devices(UserName=bob.name)["MFADevices"]
    assert [d["SerialNumber"] for d in listed] == [dev.serial]
    assert S.find_virtual(iam, dev.serial, "Assigned")["User"]["UserName"] == bob.name


def test_recreate_after_delete_gets_new_seed(iam):
    name = S.unique("again")
    first = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]
    iam.delete_virtual_mfa_device(SerialNumber=first["SerialNumber"])
    second = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]
    assert second["SerialNumber"] == first["SerialNumber"]
    assert second["Base32StringSeed"] != first["Base32StringSeed"]


def test_device_with_any_name_can_be_enabled_by_root(iam, make_user, make_device, enable):
    user = make_user("anyname")
    dev = make_device(name=S.unique("not-the-user"), path="/team/")
    enable(user, dev)
    assert [d["SerialNumber"] for d in iam.list_mfa_devices(UserName=user.name)["MFADevices"]] == [dev.serial]


def test_user_with_several_devices(iam, make_user, make_device, enable):
    user = make_user("multi")
    devs = [make_device() for _ in range(3)]
    for d in devs:
        enable(user, d)
    listed = iam.list_mfa_devices(UserName=user.name)["MFADevices"]
    assert sorted(x["SerialNumber"] for x in listed) == sorted(d.serial for d in devs)
    assert {x["UserName"] for x in listed} == {user.name}


def test_list_mfa_devices_root_without_user_name(iam):
    """Without UserName the caller's own devices are listed; root has none."""
    assert iam.list_mfa_devices()["MFADevices"] == []


def test_list_mfa_devices_unknown_user(iam):
    name = S.unique("nomfa")
    with expect_error("NoSuchEntity", 404, S.msg_no_user(name)):
        iam.list_mfa_devices(UserName=name)


def test_seed_never_returned_after_create(iam, make_user, make_device, enable):
    user = make_user("noseed")
    dev = make_device()
    for status in (None, "Unassigned", "Any"):
        entry = S.find_virtual(iam, dev.serial, status)
        assert "Base32StringSeed" not in entry and "QRCodePNG" not in entry
    enable(user, dev)
    entry = S.find_virtual(iam, dev.serial, "Assigned")
    assert "Base32StringSeed" not in entry and "QRCodePNG" not in entry
    got = iam.get_mfa_device(SerialNumber=dev.serial, UserName=user.name)
    assert "Base32StringSeed" not in got and "QRCodePNG" not in got


def test_account_summary_keys(iam):
    m = S.summary(iam)
    for key in ("Users", "MFADevices", "MFADevicesInUse", "AccountMFAEnabled",
                "AccessKeysPerUserQuota", "AccountAccessKeysPresent"):
        assert key in m, key
        assert isinstance(m[key], int), (key, m[key])
    assert m["AccountMFAEnabled"] == 0
    assert m["AccessKeysPerUserQuota"] == 2
    assert m["AccountAccessKeysPresent"] == 1


def test_account_summary_counts(iam, make_device):
    before = S.summary(iam)
    iam.create_user(UserName=S.unique("cnt"))
    make_device()
    after = S.summary(iam)
    assert after["Users"] == before["Users"] + 1
    assert after["MFADevices"] == before["MFADevices"] + 1
    assert after["MFADevicesInUse"] == before["MFADevicesInUse"]


def test_account_summary_groups_and_policies(iam):
    before = S.summary(iam)
    group = S.unique("g")
    iam.create_group(GroupName=group)
    doc = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}'
    arn = iam.create_policy(PolicyName=S.unique("p"), PolicyDocument=doc)["Policy"]["Arn"]
    iam.attach_group_policy(GroupName=group, PolicyArn=arn)
    after = S.summary(iam)
    assert after["Groups"] == before["Groups"] + 1
    assert after["Policies"] == before["Policies"] + 1
    assert after["PolicyVersionsInUse"] == before["PolicyVersionsInUse"] + 1
    assert (after["GroupsQuota"], after["PoliciesQuota"], after["VersionsPerPolicyQuota"]) == (300, 1500, 5)
    iam.detach_group_policy(GroupName=group, PolicyArn=arn)
    iam.delete_policy(PolicyArn=arn)
    iam.delete_group(GroupName=group)


def test_blob_wire_encoding_is_base64(endpoint):
    """On the wire Base32StringSeed is base64(base32 text) and QRCodePNG is base64(PNG)."""
    name = S.unique("wire")
    r = S.signed_request(endpoint, {"Action": "CreateVirtualMFADevice", "Version": S.IAM_VERSION,
                                    "VirtualMFADeviceName": name})
    assert r.status_code == 200, r.text
    root = S.xml_root(r)
    dev = root.find(S.q(S.IAM_NS, "CreateVirtualMFADeviceResult/VirtualMFADevice"))
    seed_b64 = dev.findtext(S.q(S.IAM_NS, "Base32StringSeed")).strip()
    png_b64 = dev.findtext(S.q(S.IAM_NS, "QRCodePNG")).strip()
    assert S.BASE32_SEED_RE.match(base64.b64decode(seed_b64))
    assert png_b64.startswith("iVBORw0KGgo")
    assert base64.b64decode(png_b64)[:8] == S.PNG_MAGIC
