"""Out-of-sync devices (README §1): a pair from 10 minutes ago still associates
the device; ResyncMFADevice with a fresh pair fixes it; garbage is refused.
(The STS half of this story lives in test_sts_session.py.)"""

import time

import iamd_support as S
from iamd_support import expect_error


def test_pair_from_ten_minutes_ago_associates(iam, make_user, make_device, enable):
    user = make_user("oos")
    dev = make_device()
    enable(user, dev, dev.totp.pair_at(time.time() - 600))
    listed = iam.list_mfa_devices(UserName=user.name)["MFADevices"]
    assert [d["SerialNumber"] for d in listed] == [dev.serial]
    S.assert_recent(listed[0]["EnableDate"], slack=90)
    assert S.find_virtual(iam, dev.serial, "Assigned")["User"]["UserName"] == user.name


def test_resync_with_fresh_pair(iam, make_user, make_device, enable):
    user = make_user("rs")
    dev = make_device()
    enable(user, dev, dev.totp.pair_at(time.time() - 600))
    enable_date = iam.list_mfa_devices(UserName=user.name)["MFADevices"][0]["EnableDate"]
    pair = dev.totp.current_pair()
    iam.resync_mfa_device(UserName=user.name, SerialNumber=dev.serial,
                          AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)
    listed = iam.list_mfa_devices(UserName=user.name)["MFADevices"]
    assert [d["SerialNumber"] for d in listed] == [dev.serial]
    # resync does not re-enable: EnableDate is unchanged
    assert listed[0]["EnableDate"] == enable_date


def test_resync_with_garbage(iam, make_user, make_device, enable):
    user = make_user("rsg")
    dev = make_device()
    enable(user, dev, dev.totp.pair_at(time.time() - 600))
    bad = dev.totp.invalid_code()
    with expect_error("InvalidAuthenticationCode", 403, S.MSG_BAD_CODE):
        iam.resync_mfa_device(UserName=user.name, SerialNumber=dev.serial,
                              AuthenticationCode1=bad, AuthenticationCode2=bad)
    # a correct resync still works afterwards
    pair = dev.totp.current_pair()
    iam.resync_mfa_device(UserName=user.name, SerialNumber=dev.serial,
                          AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)


def test_resync_with_old_pair_inside_window(iam, make_user, make_device, enable):
    """Resync searches the same window as Enable (24 h back)."""
    user = make_user("rsold")
    dev = make_device()
    enable(user, dev, dev.totp.pair_at(time.time() - 3 * 3600))
    pair = dev.totp.pair_at(time.time() - 1800)
    iam.resync_mfa_device(UserName=user.name, SerialNumber=dev.serial,
                          AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)


def test_resync_twice_in_a_row(iam, make_user, make_device, enable):
    """Two resyncs with successive fresh pairs both succeed."""
    user = make_user("rs2")
    dev = make_device()
    enable(user, dev, dev.totp.pair_at(time.time() - 600))
    s = S.step_of(time.time())
    for pair in (dev.totp.pair_at_step(s), dev.totp.pair_at_step(s + 2)):
        iam.resync_mfa_device(UserName=user.name, SerialNumber=dev.serial,
                              AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)
