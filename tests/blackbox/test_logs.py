"""Every log line a request writes carries the request id the client received, and its action."""

import re
import time

import botocore.exceptions

import iamd_support as S


def _lines_for(server, request_id, since, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in server.log_text(since).splitlines() if f"id={request_id}" in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_request_log_line_carries_id_action_and_outcome(iamd_server, iam):
    since = iamd_server.log_size()
    name = S.unique("nobody")
    try:
        iam.get_user(UserName=name)
        raise AssertionError("GetUser of an unknown user succeeded")
    except botocore.exceptions.ClientError as e:
        request_id = e.response["ResponseMetadata"]["RequestId"]
        assert e.response["Error"]["Code"] == "NoSuchEntity"
    lines = _lines_for(iamd_server, request_id, since)
    assert lines, f"no log line names request {request_id}"
    request_line = [line for line in lines if re.search(r"\brequest\b.*status=404", line)]
    assert request_line, lines
    assert 'action="GetUser"' in request_line[0] and "error=\"NoSuchEntity\"" in request_line[0]


def test_authentication_failures_are_traceable_too(iamd_server, endpoint):
    import requests

    since = iamd_server.log_size()
    r = requests.get(endpoint, params={"Action": "ListUsers", "Version": "2010-05-08"}, timeout=10)
    assert r.status_code == 403
    request_id = r.headers["x-amzn-RequestId"]
    lines = _lines_for(iamd_server, request_id, since)
    assert any("authentication failed" in line and 'action="ListUsers"' in line for line in lines), lines


def test_audit_lines_of_a_request_carry_its_id(iamd_server, make_user, make_device, enable, client_factory):
    """Lines written deep inside a request (here the sign-in audit event of a refused MFA code)
    can be tied to the request the client saw."""
    user = make_user("logged", with_key=True)
    device = make_device(name=user.name)
    pair = enable(user, device)
    near = {device.totp.code_at_step(pair.step + d) for d in range(-3, 4)}
    wrong = next(code for code in (f"{n:06d}" for n in range(1_000_000)) if code not in near)
    sts = client_factory("sts", user.creds)
    since = iamd_server.log_size()
    try:
        sts.get_session_token(SerialNumber=device.serial, TokenCode=wrong)
        raise AssertionError("a wrong code opened a session")
    except botocore.exceptions.ClientError as e:
        request_id = e.response["ResponseMetadata"]["RequestId"]
    lines = _lines_for(iamd_server, request_id, since)
    assert any("iamd::audit" in line and "sign-in event" in line for line in lines), lines
