"""GET /metrics (Prometheus text format) and --log-format json, through the real binary: the
counters move by exactly what boto3 and a browser-like client did, labels never carry names or
ARNs, a separate --metrics-listen takes /metrics off the public port, and JSON logs give one
object per request with its id, service, action, caller, status, error code and duration."""

from __future__ import annotations

import html
import json
import re
import time
from collections import Counter

import botocore.exceptions
import pytest
import requests

import iamd_support as S

PASSWORD = "Metrics-Horse-9!xy"
CSRF_RE = re.compile(r'name="csrf" value="([^"]*)"')
SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> Counter:
    """The samples of a Prometheus text exposition, keyed (name, frozenset of labels). Fails on
    any line that is not a HELP/TYPE comment or a well-formed sample, or on a sample whose
    family has no TYPE line."""
    samples: Counter = Counter()
    typed: dict[str, str] = {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("#"):
            kind, name, rest = re.match(r"^# (HELP|TYPE) (\S+) (.*)$", line).groups()
            if kind == "TYPE":
                assert rest in ("counter", "gauge", "histogram", "summary", "untyped"), line
                typed[name] = rest
            continue
        m = SAMPLE_RE.match(line)
        assert m, f"not a sample: {line!r}"
        name, _, labels, value = m.groups()
        pairs = LABEL_RE.findall(labels or "")
        assert ",".join(f'{k}="{v}"' for k, v in pairs) == (labels or ""), f"bad labels: {line!r}"
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or family in typed, f"no TYPE for {name}"
        samples[(name, frozenset(pairs))] += float(value)
    return samples


def scrape(url: str) -> Counter:
    r = requests.get(url, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
    return parse(r.text)


def key(name: str, **labels) -> tuple:
    return (name, frozenset(labels.items()))


def total(samples: Counter, name: str, **labels) -> float:
    """The sum of `name` over every series whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def moved(before: Counter, after: Counter) -> dict:
    return {k: after[k] - before[k] for k in after if after[k] != before[k]}


def sign_in(endpoint: str, user: str, password: str) -> requests.Response:
    http = requests.Session()
    page = http.get(endpoint + "/signin", timeout=30)
    csrf = html.unescape(CSRF_RE.search(page.text).group(1))
    form = {"csrf": csrf, "account_id": S.ACCOUNT_ID, "user_name": user, "password": password}
    return http.post(endpoint + "/signin", data=form, allow_redirects=False, timeout=60)


def expect_refused(call, code: str):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    assert S.error_code(e.value) == code
    return e.value


def test_counters_move_by_what_clients_did(server_factory):
    # Four failures lock (the default is 10), so one run shows a lockout.
    srv = server_factory("metrics", extra_env={"IAMD_MFA_MAX_FAILURES": "4"})
    url = srv.endpoint + "/metrics"
    iam = S.make_client("iam", srv.endpoint)
    alice = iam.create_user(UserName=S.unique("alice"))["User"]
    key_ = iam.create_access_key(UserName=alice["UserName"])["AccessKey"]
    seed = iam.create_virtual_mfa_device(VirtualMFADeviceName=alice["UserName"])["VirtualMFADevice"]
    totp = S.Totp(seed["Base32StringSeed"])
    pair = totp.current_pair()
    iam.enable_mfa_device(UserName=alice["UserName"], SerialNumber=seed["SerialNumber"],
                          AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)
    bob = iam.create_user(UserName=S.unique("bob"))["User"]["UserName"]
    iam.create_login_profile(UserName=bob, Password=PASSWORD, PasswordResetRequired=False)
    sts = S.make_client("sts", srv.endpoint, S.Creds(key_["AccessKeyId"], key_["SecretAccessKey"]))
    serial = seed["SerialNumber"]
    near = {totp.code_at_step(pair.step + d) for d in range(-25, 26)}
    wrong = next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in near)

    before = scrape(url)
    iam.get_user(UserName=alice["UserName"])
    expect_refused(lambda: iam.get_user(UserName=S.unique("nobody")), "NoSuchEntity")
    expect_refused(lambda: sts.get_session_token(SerialNumber=serial, TokenCode=wrong), "AccessDenied")
    # Enable accepted the pair ending at pair.step; one step of drift is allowed, so the next
    # step's code is valid now.
    right = totp.code_at_step(pair.step + 1)
    sts.get_session_token(SerialNumber=serial, TokenCode=right)
    expect_refused(lambda: sts.get_session_token(SerialNumber=serial, TokenCode=right), "AccessDenied")
    # A device clock 5 minutes fast.
    drifted = totp.code_at_step(pair.step + 11)
    expect_refused(lambda: sts.get_session_token(SerialNumber=serial, TokenCode=drifted), "AccessDenied")
    for _ in range(2):  # the 4th failure since the success starts the lock
        expect_refused(lambda: sts.get_session_token(SerialNumber=serial, TokenCode=wrong), "AccessDenied")
    locked_out = totp.code_at_step(pair.step + 2)
    expect_refused(lambda: sts.get_session_token(SerialNumber=serial, TokenCode=locked_out), "AccessDenied")
    assert sign_in(srv.endpoint, bob, "Wrong-Horse-1!").status_code == 401
    assert sign_in(srv.endpoint, bob, PASSWORD).status_code == 303
    after = scrape(url)

    delta = moved(before, after)
    requests_ = {k: v for k, v in delta.items() if k[0] == "iamd_requests_total"}
    assert requests_ == {
        key("iamd_requests_total", service="iam", action="GetUser", status="200", code=""): 1,
        key("iamd_requests_total", service="iam", action="GetUser", status="404", code="NoSuchEntity"): 1,
        key("iamd_requests_total", service="sts", action="GetSessionToken", status="200", code=""): 1,
        key("iamd_requests_total", service="sts", action="GetSessionToken", status="403", code="AccessDenied"): 6,
        key("iamd_requests_total", service="console", action="GET /signin", status="200", code=""): 2,
        key("iamd_requests_total", service="console", action="POST /signin", status="401", code=""): 1,
        key("iamd_requests_total", service="console", action="POST /signin", status="303", code=""): 1,
    }, requests_
    mfa = {dict(k[1])["outcome"]: v for k, v in delta.items() if k[0] == "iamd_mfa_checks_total"}
    assert mfa == {"wrong_code": 3, "accepted": 1, "reused_code": 1, "out_of_sync": 1, "locked": 1}, mfa
    assert delta.get(key("iamd_mfa_lockouts_started_total")) == 1
    sign_ins = {dict(k[1])["outcome"]: v for k, v in delta.items() if k[0] == "iamd_console_sign_ins_total"}
    assert sign_ins == {"wrong_password": 1, "signed_in": 1}, sign_ins

    durations = key("iamd_request_duration_seconds_count", service="iam", action="GetUser")
    assert delta[durations] == 2
    assert delta[key("iamd_request_duration_seconds_count", service="sts", action="GetSessionToken")] == 7
    # Every signed request looked its key up once, in the cache or not.
    signed = total(after, "iamd_requests_total", service="iam") + total(after, "iamd_requests_total", service="sts") \
        - total(before, "iamd_requests_total", service="iam") - total(before, "iamd_requests_total", service="sts")
    lookups = total(after, "iamd_credential_cache_lookups_total") - total(before, "iamd_credential_cache_lookups_total")
    assert (signed, lookups) == (9, 9)
    assert total(after, "iamd_credential_cache_lookups_total", outcome="hit") > 0

    build = [k for k in after if k[0] == "iamd_build_info"]
    assert len(build) == 1 and dict(build[0][1])["version"] and after[build[0]] == 1
    if S.database_args(srv.data_dir):
        in_use = key("iamd_postgres_pool_connections", state="in_use")
        assert in_use in after and after[key("iamd_postgres_pool_connections", state="max")] >= 1
        assert after[key("iamd_postgres_pool_waiting")] >= 0
    else:
        # Sessions and sync advances were written: each commit observed its group and its time.
        commits = delta[key("iamd_sqlite_commit_seconds_count")]
        assert commits >= 1
        assert delta[key("iamd_sqlite_group_commit_writes_count")] == commits
        assert delta[key("iamd_sqlite_group_commit_writes_sum")] >= commits

    text = requests.get(url, timeout=10).text
    for unbounded in (alice["UserName"], bob, alice["Arn"], key_["AccessKeyId"], serial, "nobody-"):
        assert unbounded not in text, f"{unbounded} in a label"


def test_unknown_actions_share_one_label(server_factory):
    srv = server_factory("metrics-unknown")
    before = scrape(srv.endpoint + "/metrics")
    for name in ("NoSuchThing", S.unique("Made-up"), "GetSessionToken"):  # the last is STS's, not IAM's
        r = S.signed_request(srv.endpoint, {"Action": name, "Version": S.IAM_VERSION})
        assert r.status_code == 400, r.text
    after = scrape(srv.endpoint + "/metrics")
    assert moved(before, after).get(
        key("iamd_requests_total", service="iam", action="unknown", status="400", code="InvalidAction")) == 3
    assert "Made-up" not in requests.get(srv.endpoint + "/metrics", timeout=10).text


def test_separate_metrics_listener(server_factory):
    port = S.free_port()
    srv = server_factory("metrics-own-port", extra_env={"IAMD_METRICS_LISTEN": f"127.0.0.1:{port}"})
    assert requests.get(srv.endpoint + "/metrics", timeout=10).status_code == 404
    S.make_client("iam", srv.endpoint).list_users()
    samples = scrape(f"http://127.0.0.1:{port}/metrics")
    assert samples[key("iamd_requests_total", service="iam", action="ListUsers", status="200", code="")] == 1
    # The metrics port serves nothing else.
    assert requests.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 404


def test_json_logs_one_object_per_request_and_no_secret(server_factory):
    srv = server_factory("json-logs", extra_env={"IAMD_LOG_FORMAT": "json"})
    iam = S.make_client("iam", srv.endpoint)
    user = iam.create_user(UserName=S.unique("json"))["User"]
    access_key = iam.create_access_key(UserName=user["UserName"])["AccessKey"]
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=user["UserName"])["VirtualMFADevice"]
    totp = S.Totp(device["Base32StringSeed"])
    pair = totp.current_pair()
    iam.enable_mfa_device(UserName=user["UserName"], SerialNumber=device["SerialNumber"],
                          AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)
    iam.create_login_profile(UserName=user["UserName"], Password=PASSWORD, PasswordResetRequired=False)
    sts = S.make_client("sts", srv.endpoint, S.Creds(access_key["AccessKeyId"], access_key["SecretAccessKey"]))
    session = sts.get_session_token(SerialNumber=device["SerialNumber"],
                                    TokenCode=totp.code_at_step(pair.step + 1))["Credentials"]
    err = expect_refused(lambda: iam.get_user(UserName=S.unique("nobody")), "NoSuchEntity")
    failed_id = err.response["ResponseMetadata"]["RequestId"]
    ok = sts.get_caller_identity()
    ok_id = ok["ResponseMetadata"]["RequestId"]
    assert sign_in(srv.endpoint, user["UserName"], PASSWORD).status_code == 303

    deadline = time.monotonic() + 5
    while True:
        lines = [line for line in srv.log_text().splitlines() if line and not line.startswith("=====")]
        objects = [json.loads(line) for line in lines]  # every line is one JSON object
        by_id = {o.get("id"): o for o in objects if o.get("message") == "request"}
        # Lines reach the log in batches (a few ms): wait for the last request's too.
        signed_in = any(o["service"] == "console" and o["action"] == "POST /signin" for o in by_id.values())
        if (failed_id in by_id and ok_id in by_id and signed_in) or time.monotonic() > deadline:
            break
        time.sleep(0.05)

    failed = by_id[failed_id]
    assert {k: failed[k] for k in ("service", "action", "caller", "status", "error")} == {
        "service": "iam", "action": "GetUser", "caller": S.ROOT_ARN, "status": 404, "error": "NoSuchEntity",
    }, failed
    assert isinstance(failed["duration_ms"], (int, float)) and failed["duration_ms"] >= 0
    succeeded = by_id[ok_id]
    assert (succeeded["service"], succeeded["action"], succeeded["caller"], succeeded["status"]) == \
        ("sts", "GetCallerIdentity", user["Arn"], 200)
    assert "error" not in succeeded
    assert sum(1 for o in objects if o.get("message") == "request" and o.get("id") == ok_id) == 1
    console = [o for o in by_id.values() if o["service"] == "console"]
    assert {(o["action"], o["status"]) for o in console} >= {("GET /signin", 200), ("POST /signin", 303)}
    # Lines written inside a request carry its id through the span.
    audit = [o for o in objects if o.get("message") == "sign-in event"]
    assert audit and all(o["span"]["id"] for o in audit)

    log = srv.log_text()
    for secret in (access_key["SecretAccessKey"], session["SecretAccessKey"], session["SessionToken"],
                   device["Base32StringSeed"].decode(), S.ROOT_SECRET_ACCESS_KEY, PASSWORD):
        assert secret not in log, "a secret was written to the log"
