"""What an IAM user may do with its own access keys (brief: self-service only)."""

import pytest

import iamd_support as S
from iamd_support import expect_error


@pytest.fixture
def bob(make_user, client_factory):
    user = make_user("bob", with_key=True, self_service=True)
    user.iam = client_factory("iam", user.creds)
    user.iam_nv = client_factory("iam", user.creds, validate=False)
    user.sts = client_factory("sts", user.creds)
    return user


@pytest.fixture
def alice(make_user):
    return make_user("alice")


def _denied(user, action):
    return expect_error("AccessDenied", 403, startswith=S.denied_prefix(user.arn, action))


# --- allowed ----------------------------------------------------------------


def test_get_user_self(bob):
    assert bob.iam.get_user()["User"]["UserName"] == bob.name
    got = bob.iam.get_user(UserName=bob.name)["User"]
    assert got["Arn"] == bob.arn and got["UserId"] == bob.user_id


def test_caller_identity(bob):
    ident = bob.sts.get_caller_identity()
    assert ident == {**ident, "Arn": bob.arn, "UserId": bob.user_id, "Account": S.ACCOUNT_ID}
    assert ident["UserId"].startswith("AIDA")


def test_caller_identity_with_path(make_user, client_factory):
    user = make_user("pathy", path="/team/a/", with_key=True)
    ident = client_factory("sts", user.creds).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:iam::{S.ACCOUNT_ID}:user/team/a/{user.name}"


def test_own_access_keys(iam, bob):
    keys = bob.iam.list_access_keys()["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [bob.creds.access_key_id]
    assert bob.iam.list_access_keys(UserName=bob.name)["AccessKeyMetadata"] == keys
    new = bob.iam.create_access_key()["AccessKey"]
    assert new["UserName"] == bob.name
    assert len(iam.list_access_keys(UserName=bob.name)["AccessKeyMetadata"]) == 2


def test_own_mfa_lifecycle(iam, bob):
    d = bob.iam.create_virtual_mfa_device(VirtualMFADeviceName=bob.name)["VirtualMFADevice"]
    assert d["SerialNumber"] == S.mfa_arn(bob.name)
    totp = S.Totp(d["Base32StringSeed"])
    pair = totp.current_pair()
    bob.iam.enable_mfa_device(UserName=bob.name, SerialNumber=d["SerialNumber"],
                              AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)
    mine = bob.iam.list_mfa_devices()["MFADevices"]
    assert [(m["UserName"], m["SerialNumber"]) for m in mine] == [(bob.name, d["SerialNumber"])]
    assert bob.iam.list_mfa_devices(UserName=bob.name)["MFADevices"] == mine
    # list virtual devices is allowed
    bob.iam.list_virtual_mfa_devices(MaxItems=1)
    # tags on own device
    bob.iam.tag_mfa_device(SerialNumber=d["SerialNumber"], Tags=[{"Key": "k", "Value": "v"}])
    assert bob.iam.list_mfa_device_tags(SerialNumber=d["SerialNumber"])["Tags"] == [{"Key": "k", "Value": "v"}]
    bob.iam.untag_mfa_device(SerialNumber=d["SerialNumber"], TagKeys=["k"])
    # resync own device
    p2 = totp.pair_at_step(pair.step + 2)
    bob.iam.resync_mfa_device(UserName=bob.name, SerialNumber=d["SerialNumber"],
                              AuthenticationCode1=p2.code1, AuthenticationCode2=p2.code2)
    bob.iam.deactivate_mfa_device(UserName=bob.name, SerialNumber=d["SerialNumber"])
    bob.iam.delete_virtual_mfa_device(SerialNumber=d["SerialNumber"])
    assert S.find_virtual(iam, d["SerialNumber"]) is None


# --- denied -----------------------------------------------------------------


def test_list_users_denied(bob):
    with _denied(bob, "ListUsers"):
        bob.iam.list_users()


def test_create_user_denied(bob):
    with _denied(bob, "CreateUser"):
        bob.iam.create_user(UserName=S.unique("nope"))


def test_get_other_user_denied(bob, alice):
    with _denied(bob, "GetUser"):
        bob.iam.get_user(UserName=alice.name)


def test_delete_self_denied(iam, bob):
    with _denied(bob, "DeleteUser"):
        bob.iam.delete_user(UserName=bob.name)
    iam.get_user(UserName=bob.name)


def test_update_user_denied(bob):
    with _denied(bob, "UpdateUser"):
        bob.iam.update_user(UserName=bob.name, NewPath="/x/")


def test_other_users_keys_denied(bob, alice):
    with _denied(bob, "ListAccessKeys"):
        bob.iam.list_access_keys(UserName=alice.name)
    with _denied(bob, "CreateAccessKey"):
        bob.iam.create_access_key(UserName=alice.name)


def test_account_summary_denied(bob):
    with _denied(bob, "GetAccountSummary"):
        bob.iam.get_account_summary()


def test_create_device_with_other_name_denied(iam, bob):
    name = S.unique("notbob")
    with _denied(bob, "CreateVirtualMFADevice"):
        bob.iam.create_virtual_mfa_device(VirtualMFADeviceName=name)
    assert S.find_virtual(iam, S.mfa_arn(name)) is None


def test_other_users_mfa_denied(bob, alice, make_device, enable):
    dev = make_device(name=alice.name)
    pair = enable(alice, dev)
    with _denied(bob, "ListMFADevices"):
        bob.iam.list_mfa_devices(UserName=alice.name)
    with _denied(bob, "DeactivateMFADevice"):
        bob.iam.deactivate_mfa_device(UserName=alice.name, SerialNumber=dev.serial)
    p2 = dev.totp.pair_at_step(pair.step + 2)
    with _denied(bob, "ResyncMFADevice"):
        bob.iam.resync_mfa_device(UserName=alice.name, SerialNumber=dev.serial,
                                  AuthenticationCode1=p2.code1, AuthenticationCode2=p2.code2)
    with _denied(bob, "TagMFADevice"):
        bob.iam.tag_mfa_device(SerialNumber=dev.serial, Tags=[{"Key": "k", "Value": "v"}])
    with _denied(bob, "UntagMFADevice"):
        bob.iam.untag_mfa_device(SerialNumber=dev.serial, TagKeys=["k"])
    with _denied(bob, "ListMFADeviceTags"):
        bob.iam.list_mfa_device_tags(SerialNumber=dev.serial)


def test_enable_device_for_other_user_denied(iam, bob, alice, make_device):
    dev = make_device(name=alice.name)
    pair = dev.totp.current_pair()
    with _denied(bob, "EnableMFADevice"):
        bob.iam.enable_mfa_device(UserName=alice.name, SerialNumber=dev.serial,
                                  AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)
    assert iam.list_mfa_devices(UserName=alice.name)["MFADevices"] == []


def test_delete_other_device_denied(iam, bob, make_device):
    dev = make_device()
    with _denied(bob, "DeleteVirtualMFADevice"):
        bob.iam.delete_virtual_mfa_device(SerialNumber=dev.serial)
    assert S.find_virtual(iam, dev.serial) is not None



def test_own_login_profile_denied(iam, bob):
    """As in AWS's self-service policy: a user's own access key cannot give it console access or
    reset its password without the old one (ChangePassword is the way)."""
    with _denied(bob, "CreateLoginProfile"):
        bob.iam.create_login_profile(UserName=bob.name, Password="Sup3r-Secret-Pass")
    iam.create_login_profile(UserName=bob.name, Password="Sup3r-Secret-Pass")
    with _denied(bob, "UpdateLoginProfile"):
        bob.iam.update_login_profile(UserName=bob.name, Password="An0ther-Secret-Pass")
    with _denied(bob, "GetLoginProfile"):
        bob.iam.get_login_profile(UserName=bob.name)
    with _denied(bob, "DeleteLoginProfile"):
        bob.iam.delete_login_profile(UserName=bob.name)
    bob.iam.change_password(OldPassword="Sup3r-Secret-Pass", NewPassword="An0ther-Secret-Pass")
    iam.delete_login_profile(UserName=bob.name)
