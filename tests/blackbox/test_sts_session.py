"""STS GetSessionToken (spec §4.1, README §1) -- next milestone.

The whole module skips while iamd answers InvalidAction for GetSessionToken.
"""

import datetime as dt
import time

import pytest

import iamd_support as S
from iamd_support import expect_error

pytestmark = pytest.mark.sts_session


@pytest.fixture(scope="module", autouse=True)
def _require_get_session_token(sts):
    try:
        sts.get_session_token(DurationSeconds=900)
    except S.ClientError as e:
        if S.error_code(e) == "InvalidAction":
            pytest.skip("iamd does not implement sts:GetSessionToken yet (InvalidAction)")


def _session(resp) -> S.Creds:
    c = resp["Credentials"]
    return S.Creds(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


def _check_credentials(resp, duration):
    c = resp["Credentials"]
    assert c["AccessKeyId"].startswith("ASIA"), c["AccessKeyId"]
    assert 16 <= len(c["AccessKeyId"]) <= 128
    assert c["SecretAccessKey"] and c["SessionToken"]
    expected = S.utcnow() + dt.timedelta(seconds=duration)
    assert abs((c["Expiration"] - expected).total_seconds()) < 120, (c["Expiration"], expected)


@pytest.fixture
def mfa_user(make_user, make_device, enable, client_factory):
    """(user, device, next_code): user with key + enabled device; next_code is the
    code one step after the enable pair (the first one STS can accept)."""
    user = make_user("sts", with_key=True, self_service=True)
    dev = make_device(name=user.name)
    pair = enable(user, dev, dev.totp.current_pair(margin=8))
    user.sts = client_factory("sts", user.creds)
    user.next_step = pair.step + 1
    return user, dev, dev.totp.code_at_step(user.next_step)


@pytest.fixture
def plain_user(make_user, client_factory):
    user = make_user("stsn", with_key=True)
    user.sts = client_factory("sts", user.creds)
    return user


def test_without_mfa(plain_user, client_factory):
    resp = plain_user.sts.get_session_token()
    _check_credentials(resp, 43200)
    ident = client_factory("sts", _session(resp)).get_caller_identity()
    assert ident["Arn"] == plain_user.arn
    assert ident["UserId"] == plain_user.user_id
    assert ident["Account"] == S.ACCOUNT_ID


@pytest.mark.parametrize("duration", [900, 3600, 129600])
def test_durations(plain_user, duration):
    _check_credentials(plain_user.sts.get_session_token(DurationSeconds=duration), duration)


def test_root_duration_capped_at_one_hour(sts):
    resp = sts.get_session_token(DurationSeconds=7200)
    exp = resp["Credentials"]["Expiration"]
    assert (exp - S.utcnow()).total_seconds() <= 3600 + 60


def test_duration_too_short(client_factory, plain_user):
    sts_nv = client_factory("sts", plain_user.creds, validate=False)
    with expect_error(
        "ValidationError", 400,
        "1 validation error detected: Value '600' at 'durationSeconds' failed to satisfy constraint: "
        "Member must have value greater than or equal to 900",
    ):
        sts_nv.get_session_token(DurationSeconds=600)


def test_duration_too_long(client_factory, plain_user):
    sts_nv = client_factory("sts", plain_user.creds, validate=False)
    with expect_error(
        "ValidationError", 400,
        "1 validation error detected: Value '129601' at 'durationSeconds' failed to satisfy constraint: "
        "Member must have value less than or equal to 129600",
    ):
        sts_nv.get_session_token(DurationSeconds=129601)


def test_with_mfa(mfa_user, client_factory):
    user, dev, code = mfa_user
    resp = user.sts.get_session_token(SerialNumber=dev.serial, TokenCode=code, DurationSeconds=900)
    _check_credentials(resp, 900)
    creds = _session(resp)
    ident = client_factory("sts", creds).get_caller_identity()
    assert ident["Arn"] == user.arn and ident["UserId"] == user.user_id
    # an MFA session may call IAM, with the user's own permissions
    iam_session = client_factory("iam", creds)
    assert iam_session.get_user()["User"]["UserName"] == user.name
    assert [d["SerialNumber"] for d in iam_session.list_mfa_devices()["MFADevices"]] == [dev.serial]
    with expect_error("AccessDenied", 403, startswith=S.denied_prefix(user.arn, "ListUsers")):
        iam_session.list_users()


def test_wrong_code(mfa_user):
    user, dev, _code = mfa_user
    with expect_error("AccessDenied", 403, S.MSG_STS_BAD_CODE):
        user.sts.get_session_token(SerialNumber=dev.serial, TokenCode=dev.totp.invalid_code())


def test_stale_code(mfa_user):
    """A code from 10 minutes ago is not the current code."""
    user, dev, _code = mfa_user
    with expect_error("AccessDenied", 403, S.MSG_STS_BAD_CODE):
        user.sts.get_session_token(SerialNumber=dev.serial, TokenCode=dev.totp.at(time.time() - 600))


def test_same_code_twice(mfa_user):
    user, dev, code = mfa_user
    user.sts.get_session_token(SerialNumber=dev.serial, TokenCode=code)
    with expect_error("AccessDenied", 403, S.MSG_STS_BAD_CODE):
        user.sts.get_session_token(SerialNumber=dev.serial, TokenCode=code)


def test_code_used_by_enable_is_not_accepted(make_user, make_device, enable, client_factory):
    """The enable pair's second code has been accepted already."""
    user = make_user("stse", with_key=True)
    dev = make_device(name=user.name)
    pair = enable(user, dev)
    with expect_error("AccessDenied", 403, S.MSG_STS_BAD_CODE):
        client_factory("sts", user.creds).get_session_token(SerialNumber=dev.serial, TokenCode=pair.code2)


def test_serial_of_another_user(mfa_user, make_user, make_device, enable):
    user, _dev, _code = mfa_user
    alice = make_user("stsa")
    adev = make_device(name=alice.name)
    pair = enable(alice, adev, adev.totp.current_pair(margin=8))
    with expect_error("AccessDenied", 403, S.MSG_STS_BAD_SERIAL):
        user.sts.get_session_token(SerialNumber=adev.serial, TokenCode=adev.totp.code_at_step(pair.step + 1))


@pytest.mark.parametrize("kind", ["unknown", "user_arn", "unassigned"])
def test_bad_serials(mfa_user, make_device, kind):
    user, _dev, code = mfa_user
    serial = {
        "unknown": lambda: S.mfa_arn(S.unique("missing")),
        "user_arn": lambda: user.arn,
        "unassigned": lambda: make_device().serial,
    }[kind]()
    with expect_error("AccessDenied", 403, S.MSG_STS_BAD_SERIAL):
        user.sts.get_session_token(SerialNumber=serial, TokenCode=code)


def test_only_serial_or_only_code(mfa_user):
    user, dev, code = mfa_user
    with expect_error("AccessDenied", 403, contains="must provide both MFA serial number and one time pass code"):
        user.sts.get_session_token(SerialNumber=dev.serial)
    with expect_error("AccessDenied", 403, contains="must provide both MFA serial number and one time pass code"):
        user.sts.get_session_token(TokenCode=code)


def test_session_credentials_cannot_get_session_token(plain_user, client_factory):
    creds = _session(plain_user.sts.get_session_token())
    with expect_error("AccessDenied", 403, S.MSG_STS_WITH_SESSION):
        client_factory("sts", creds).get_session_token()


def test_non_mfa_session_cannot_call_iam(plain_user, client_factory):
    creds = _session(plain_user.sts.get_session_token())
    iam_session = client_factory("iam", creds)
    # AWS's IAM text, without a final period (spec §4.1, §7).
    with expect_error("InvalidClientTokenId", 403, S.MSG_BAD_TOKEN_IAM):
        iam_session.get_user()
    with expect_error("InvalidClientTokenId", 403, S.MSG_BAD_TOKEN_IAM):
        iam_session.list_mfa_devices()
    # STS GetCallerIdentity is still fine
    assert client_factory("sts", creds).get_caller_identity()["Arn"] == plain_user.arn


def test_tampered_session_token(plain_user, client_factory):
    creds = _session(plain_user.sts.get_session_token())
    tok = creds.session_token
    i = len(tok) // 2
    tok = tok[:i] + ("A" if tok[i] != "A" else "B") + tok[i + 1:]
    bad = S.Creds(creds.access_key_id, creds.secret_access_key, tok)
    with pytest.raises(S.ClientError) as ei:
        client_factory("sts", bad).get_caller_identity()
    assert S.error_code(ei.value) in ("InvalidClientTokenId", "SignatureDoesNotMatch")
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_lockout_after_ten_failures(mfa_user):
    user, dev, code = mfa_user
    bad = dev.totp.invalid_code()
    for _ in range(10):
        with expect_error("AccessDenied", 403, S.MSG_STS_BAD_CODE):
            user.sts.get_session_token(SerialNumber=dev.serial, TokenCode=bad)
    # locked: even the correct, unused code is refused with the same error
    with expect_error("AccessDenied", 403, S.MSG_STS_BAD_CODE):
        user.sts.get_session_token(SerialNumber=dev.serial, TokenCode=code)


def test_nine_failures_then_success_resets(mfa_user):
    user, dev, code = mfa_user
    bad = dev.totp.invalid_code()
    for _ in range(9):
        with expect_error("AccessDenied", 403, S.MSG_STS_BAD_CODE):
            user.sts.get_session_token(SerialNumber=dev.serial, TokenCode=bad)
    user.sts.get_session_token(SerialNumber=dev.serial, TokenCode=code)


def test_out_of_sync_story(iam, make_user, make_device, enable, client_factory):
    user = make_user("stso", with_key=True)
    dev = make_device(name=user.name)
    user_sts = client_factory("sts", user.creds)

    # 1. codes typed 10 minutes late still associate the device...
    enable(user, dev, dev.totp.pair_at(time.time() - 600))
    # 2. ...but its offset is now wrong: the current code is refused
    now = S.wait_for_step_margin(10)
    with expect_error("AccessDenied", 403, S.MSG_STS_BAD_CODE):
        user_sts.get_session_token(SerialNumber=dev.serial, TokenCode=dev.totp.at(now))
    # 3. resync with a fresh pair
    pair = dev.totp.pair_at(now)
    iam.resync_mfa_device(UserName=user.name, SerialNumber=dev.serial,
                          AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)
    # 4. now STS accepts the next code
    resp = user_sts.get_session_token(SerialNumber=dev.serial, TokenCode=dev.totp.code_at_step(pair.step + 1))
    _check_credentials(resp, 43200)


def test_twenty_simultaneous_requests_one_code(mfa_user, client_factory):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    user, dev, code = mfa_user
    clients = [client_factory("sts", user.creds) for _ in range(20)]
    barrier = threading.Barrier(len(clients))

    def call(c):
        barrier.wait(timeout=30)
        try:
            return c.get_session_token(SerialNumber=dev.serial, TokenCode=code)
        except S.ClientError as e:
            return e

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        results = list(pool.map(call, clients))
    ok = [r for r in results if not isinstance(r, Exception)]
    errs = [r for r in results if isinstance(r, Exception)]
    assert len(ok) == 1, [S.error_code(e) for e in errs]
    for e in errs:
        S.check_error(e, "AccessDenied", 403, S.MSG_STS_BAD_CODE)


@pytest.mark.slow
def test_next_step_code_accepted_after_use(mfa_user):
    """A used code is refused, but the following step's code works once its time comes."""
    user, dev, code = mfa_user
    user.sts.get_session_token(SerialNumber=dev.serial, TokenCode=code)
    # wait until the clock reaches the step of `code`, so step+1 is inside the window
    step = user.next_step
    wait = (step * S.STEP) - time.time() + 0.5
    if wait > 0:
        time.sleep(wait)
    user.sts.get_session_token(SerialNumber=dev.serial, TokenCode=dev.totp.code_at_step(step + 1))


@pytest.mark.slow
def test_used_code_refused_after_restart(server_factory, tmp_path):
    data = tmp_path / "sts-restart"
    srv = server_factory("sts-1", data_dir=data)
    iam = S.make_client("iam", srv.endpoint)
    name = S.unique("stsr")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    creds = S.Creds(key["AccessKeyId"], key["SecretAccessKey"])
    dev = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]
    totp = S.Totp(dev["Base32StringSeed"])
    pair = totp.current_pair(margin=10)
    iam.enable_mfa_device(UserName=name, SerialNumber=dev["SerialNumber"],
                          AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)
    code = totp.code_at_step(pair.step + 1)
    S.make_client("sts", srv.endpoint, creds).get_session_token(SerialNumber=dev["SerialNumber"], TokenCode=code)

    srv.kill9()
    srv2 = server_factory("sts-2", data_dir=data)
    with expect_error("AccessDenied", 403, S.MSG_STS_BAD_CODE):
        S.make_client("sts", srv2.endpoint, creds).get_session_token(SerialNumber=dev["SerialNumber"], TokenCode=code)
