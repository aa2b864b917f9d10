"""Issue #13.1 and #13.2 against the real binary: password hashing is bounded (excess sign-ins
get a quick 503 and memory stays bounded), wrong passwords lock further attempts, and
concurrent wrong MFA codes never get more than the limit evaluated."""

from __future__ import annotations

import re
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from botocore.exceptions import ClientError

import iamd_support as S

PASSWORD = "Correct-Horse-9"
INCORRECT = "Your authentication information is incorrect. Please try again."
CSRF_RE = re.compile(r'name="csrf" value="([^"]*)"')


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def csrf_pair(endpoint: str) -> tuple[str, str]:
    """A double-submit CSRF pair (free from GET /signin): the cookie value and the form field."""
    page = requests.get(endpoint + "/signin", timeout=30)
    assert page.status_code == 200
    return page.cookies["iamd_csrf"], CSRF_RE.search(page.text).group(1)


def sign_in(endpoint: str, pair: tuple[str, str], user: str, password: str) -> requests.Response:
    cookie, field = pair
    form = {"csrf": field, "account_id": S.ACCOUNT_ID, "user_name": user, "password": password}
    return requests.post(endpoint + "/signin", data=form, cookies={"iamd_csrf": cookie},
                         allow_redirects=False, timeout=120)


def error_of(resp: requests.Response) -> str | None:
    m = re.search(r'<p role="alert" id="error">([^<]*)</p>', resp.text)
    return m.group(1) if m else None


def test_concurrent_sign_ins_beyond_the_permits_get_a_quick_503_and_memory_stays_bounded(server_factory):
    srv = server_factory("hashing", extra_env={
        "IAMD_PASSWORD_HASHES_AT_ONCE": "2",
        "IAMD_PASSWORD_HASH_WAIT_MS": "100",
        # Only the gate is under test here.
        "IAMD_PASSWORD_FAILURES_PER_SOURCE": "100000",
    })
    pair = csrf_pair(srv.endpoint)
    sign_in(srv.endpoint, pair, "nobody", "warm-up")  # the first Argon2 allocates once
    before = rss_kib(srv.proc.pid)
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(srv.proc.pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    n = 160
    barrier = threading.Barrier(n)

    def one(i):
        barrier.wait(timeout=30)
        started = time.monotonic()
        r = sign_in(srv.endpoint, pair, f"nobody{i}", f"guess-{i}")
        return r, time.monotonic() - started

    try:
        with ThreadPoolExecutor(max_workers=n) as pool:
            results = list(pool.map(one, range(n)))
    finally:
        done.set()
        sampler.join()
    after = rss_kib(srv.proc.pid)
    statuses = [r.status_code for r, _ in results]
    busy = [(r, t) for r, t in results if r.status_code == 503]
    print(f"RSS before {before} KiB, peak {peak[0]} KiB, after {after} KiB; "
          f"{statuses.count(503)} x 503, {statuses.count(401)} x 401")
    assert set(statuses) <= {401, 503}, statuses
    assert len(busy) >= n // 2, f"most of {n} at once find no free slot: {statuses}"
    assert statuses.count(401) >= 2
    for r, took in busy:
        assert r.headers["Retry-After"] == "1"
        assert "Nothing was checked" in r.text
        assert took < 5, f"a refusal is quick: {took:.2f}s"
    # Two Argon2 at 19 MiB each at a time, not 160: well under 200 MB of growth (it was 1.8 GB).
    assert peak[0] - before < 200 * 1024, f"RSS grew from {before} to {peak[0]} KiB"
    # Still serving.
    assert sign_in(srv.endpoint, pair, "nobody", "again").status_code == 401


def test_repeated_wrong_passwords_lock_even_the_right_one(server_factory):
    srv = server_factory("pwlock", extra_env={"IAMD_PASSWORD_FAILURES_PER_USER": "5"})
    iam = S.make_client("iam", srv.endpoint, S.ROOT)
    for name in ("victim", "bystander"):
        iam.create_user(UserName=name)
        iam.create_login_profile(UserName=name, Password=PASSWORD, PasswordResetRequired=False)
    pair = csrf_pair(srv.endpoint)
    wrong_times = []
    for i in range(5):
        started = time.monotonic()
        r = sign_in(srv.endpoint, pair, "victim", f"Wrong-Guess-{i}")
        wrong_times.append(time.monotonic() - started)
        assert r.status_code == 401 and error_of(r) == INCORRECT
    locked_times = []
    for password in ("Wrong-Guess-9", PASSWORD, PASSWORD):
        started = time.monotonic()
        r = sign_in(srv.endpoint, pair, "victim", password)
        locked_times.append(time.monotonic() - started)
        assert r.status_code == 401, "even the right password is refused during the window"
        assert error_of(r) == INCORRECT
        assert "iamd_session" not in r.cookies
    # Refused unevaluated, but not noticeably faster than a wrong password.
    assert statistics.median(locked_times) >= 0.3 * statistics.median(wrong_times), (wrong_times, locked_times)
    # Another user signing in from the same address is not affected.
    r = sign_in(srv.endpoint, pair, "bystander", PASSWORD)
    assert r.status_code == 303 and r.headers["Location"] == "/console"
    assert "password attempts throttled after repeated failures" in srv.log_text()


def test_concurrent_wrong_mfa_codes_never_get_more_than_the_limit_evaluated(
        iamd_server, user_with_device, client_factory):
    user, dev, _ = user_with_device("guess")
    sts = client_factory("sts", creds=user.creds)
    wrong = dev.totp.invalid_code()
    offset = iamd_server.log_size()
    n = 60
    results = S.race([lambda: sts.get_session_token(SerialNumber=dev.serial, TokenCode=wrong)] * n)
    assert S.summarize(results) == {"AccessDenied/403": n}
    for _, e in results:
        assert e.response["Error"]["Message"] == "MultiFactorAuthentication failed with invalid MFA one time pass code."
    deadline = time.time() + 5
    while True:
        lines = [line for line in iamd_server.log_text(offset).splitlines()
                 if "iamd::audit" in line and user.name in line]
        if len(lines) >= n or time.time() > deadline:
            break
        time.sleep(0.1)
    evaluated = sum("wrong code" in line for line in lines)
    locked = sum("locked after repeated failures" in line for line in lines)
    print(f"{n} concurrent wrong codes: {evaluated} evaluated, {locked} refused as locked")
    assert (evaluated, locked) == (10, n - 10), lines
    # The right code is refused too while locked.
    with pytest.raises(ClientError) as e:
        sts.get_session_token(SerialNumber=dev.serial, TokenCode=dev.totp.at(time.time()))
    assert S.error_code(e.value) == "AccessDenied"
