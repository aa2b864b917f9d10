"""AWS's documented MFA policies, verbatim, enforced end to end: a user's long-term key alone may
enrol its own device but not remove it or touch other credentials; an MFA session may."""

from pathlib import Path

import iamd_support as S
from iamd_support import expect_error

FIXTURES = Path(__file__).resolve().parents[2] / "crates" / "policy" / "tests" / "fixtures"
# "AWS: Allows MFA-authenticated IAM users to manage their own credentials on the Security
# credentials page" (DenyAllExceptListedIfNoMFA).
MANAGE_OWN_CREDENTIALS = (FIXTURES / "mfa_self_manage_credentials.json").read_text()
# "IAM: Allows IAM users to self-manage an MFA device" (BlockMostAccessUnlessSignedInWithMFA).
SELF_MANAGE_DEVICE = (FIXTURES / "mfa_self_manage_device.json").read_text()


def _denied(user, action):
    return expect_error("AccessDenied", 403, startswith=S.denied_prefix(user.arn, action))


def _user_with(iam, make_user, client_factory, document):
    user = make_user("mfapol", with_key=True)
    iam.put_user_policy(UserName=user.name, PolicyName="mfa", PolicyDocument=document)
    user.iam = client_factory("iam", user.creds)
    user.sts = client_factory("sts", user.creds)
    return user


def _enrol(user):
    """The user enrols its own device with its long-term key alone."""
    device = user.iam.create_virtual_mfa_device(VirtualMFADeviceName=user.name)["VirtualMFADevice"]
    totp = S.Totp(device["Base32StringSeed"])
    pair = totp.current_pair(margin=8)
    user.iam.enable_mfa_device(UserName=user.name, SerialNumber=device["SerialNumber"],
                               AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)
    return device["SerialNumber"], totp, pair


def _mfa_session(user, client_factory, serial, totp, pair):
    creds = user.sts.get_session_token(SerialNumber=serial, TokenCode=totp.code_at_step(pair.step + 1))["Credentials"]
    return client_factory("iam", S.Creds(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]))


def test_manage_own_credentials_policy_protects_the_device_from_a_stolen_key(iam, make_user, client_factory):
    alice = _user_with(iam, make_user, client_factory, MANAGE_OWN_CREDENTIALS)
    bob = make_user("other")
    serial, totp, pair = _enrol(alice)
    assert [d["SerialNumber"] for d in alice.iam.list_mfa_devices()["MFADevices"]] == [serial]
    assert alice.iam.get_user()["User"]["UserName"] == alice.name
    alice.iam.list_virtual_mfa_devices(MaxItems=1)

    # A long-term key alone (what a thief holds): nothing that weakens the account.
    with _denied(alice, "DeactivateMFADevice") as e:
        alice.iam.deactivate_mfa_device(UserName=alice.name, SerialNumber=serial)
    assert "with an explicit deny in an identity-based policy" in str(e.value)
    with _denied(alice, "DeleteVirtualMFADevice"):
        alice.iam.delete_virtual_mfa_device(SerialNumber=serial)
    with _denied(alice, "CreateAccessKey"):
        alice.iam.create_access_key()
    with _denied(alice, "CreateAccessKey"):
        alice.iam.create_access_key(UserName=bob.name)
    with _denied(alice, "ListUsers"):
        alice.iam.list_users()
    with _denied(alice, "CreateLoginProfile"):
        alice.iam.create_login_profile(UserName=alice.name, Password="Sup3r-Secret-Pass")
    assert [d["SerialNumber"] for d in iam.list_mfa_devices(UserName=alice.name)["MFADevices"]] == [serial]

    # A session opened with a code from the device: the user manages its own credentials.
    session = _mfa_session(alice, client_factory, serial, totp, pair)
    key = session.create_access_key()["AccessKey"]
    session.delete_access_key(AccessKeyId=key["AccessKeyId"])
    with expect_error("AccessDenied", 403, startswith=S.denied_prefix(alice.arn, "ListUsers")) as e:
        session.list_users()
    assert "because no identity-based policy allows the iam:ListUsers action" in str(e.value)
    session.deactivate_mfa_device(UserName=alice.name, SerialNumber=serial)
    assert iam.list_mfa_devices(UserName=alice.name)["MFADevices"] == []


def test_a_session_without_mfa_cannot_call_iam(iam, make_user, client_factory):
    alice = _user_with(iam, make_user, client_factory, MANAGE_OWN_CREDENTIALS)
    creds = alice.sts.get_session_token()["Credentials"]
    plain = client_factory("iam", S.Creds(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]))
    with expect_error("InvalidClientTokenId", 403):
        plain.get_user()


def test_block_most_access_unless_signed_in_with_mfa(iam, make_user, client_factory):
    alice = _user_with(iam, make_user, client_factory, SELF_MANAGE_DEVICE)
    serial, totp, pair = _enrol(alice)
    alice.iam.list_users(MaxItems=1)  # in the NotAction list and allowed
    with _denied(alice, "GetUser"):
        alice.iam.get_user()
    with _denied(alice, "DeactivateMFADevice") as e:
        alice.iam.deactivate_mfa_device(UserName=alice.name, SerialNumber=serial)
    assert "explicit deny" in str(e.value)
    session = _mfa_session(alice, client_factory, serial, totp, pair)
    with _denied(alice, "GetUser") as e:
        session.get_user()
    assert "because no identity-based policy allows" in str(e.value)
    session.deactivate_mfa_device(UserName=alice.name, SerialNumber=serial)


def test_policy_changes_apply_to_the_next_request(iam, make_user, client_factory):
    """Policies are cached with the credentials; a change through this node applies at once."""
    user = make_user("cache", with_key=True)
    client = client_factory("iam", user.creds)
    with _denied(user, "GetUser"):
        client.get_user()
    S.grant_self_service(iam, user.name)
    assert client.get_user()["User"]["UserName"] == user.name
    deny = ('{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:GetUser",'
            '"Resource":"*"}]}')
    arn = iam.create_policy(PolicyName=S.unique("deny"), PolicyDocument=deny)["Policy"]["Arn"]
    iam.attach_user_policy(UserName=user.name, PolicyArn=arn)
    with _denied(user, "GetUser") as e:
        client.get_user()
    assert "explicit deny" in str(e.value)
    iam.detach_user_policy(UserName=user.name, PolicyArn=arn)
    iam.delete_policy(PolicyArn=arn)
    group = S.unique("readers")
    iam.create_group(GroupName=group)
    iam.delete_user_policy(UserName=user.name, PolicyName="self-service")
    with _denied(user, "ListUsers"):
        client.list_users()
    iam.attach_group_policy(GroupName=group, PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    iam.add_user_to_group(GroupName=group, UserName=user.name)
    client.list_users(MaxItems=1)
    iam.remove_user_from_group(GroupName=group, UserName=user.name)
    iam.detach_group_policy(GroupName=group, PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    iam.delete_group(GroupName=group)
