"""Several iamd nodes on one PostgreSQL database (spec README §3, §4).

Needs a PostgreSQL server: run under `scripts/with-postgres`, which exports
IAMD_TEST_DATABASE_URL (a superuser URL; this module creates and drops its own
database through it) and IAMD_PG_CTL (used to restart PostgreSQL).  Skips
cleanly without them.

    scripts/with-postgres .venv/bin/pytest tests/blackbox/test_multinode.py -q
"""

from __future__ import annotations

import glob
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from botocore.exceptions import BotoCoreError

import iamd_support as S
from iamd_support import expect_error

ADMIN_URL = os.environ.get("IAMD_TEST_DATABASE_URL", "").strip()

pytestmark = pytest.mark.skipif(
    not ADMIN_URL, reason="IAMD_TEST_DATABASE_URL not set (run under scripts/with-postgres)"
)

N = 40


# ---------------------------------------------------------------------------
# Database and nodes
# ---------------------------------------------------------------------------


def _psql() -> str:
    exe = shutil.which("psql")
    if exe:
        return exe
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))
    if not found:
        pytest.skip("psql not found")
    return found[-1]


def _admin_sql(sql: str) -> None:
    out = subprocess.run(
        [_psql(), ADMIN_URL, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, f"psql {sql!r} failed: {out.stderr}"


def _with_database(url: str, name: str) -> str:
    """`url` with its database name replaced (query string kept)."""
    m = re.match(r"^(\w+://[^/?]*)(/[^?]*)?(\?.*)?$", url)
    assert m, url
    return f"{m.group(1)}/{name}{m.group(3) or ''}"


@pytest.fixture(scope="module")
def database_url():
    name = f"iamd_bb_{uuid.uuid4().hex[:16]}"
    _admin_sql(f'CREATE DATABASE "{name}"')
    yield _with_database(ADMIN_URL, name)
    _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def master_key() -> str:
    return secrets.token_hex(32)


class Node(S.IamdServer):
    """An iamd node on an explicitly given database (this module's own, shared by its nodes),
    whatever database iamd_support would pick for the data dir."""

    def __init__(self, base, name: str, database_url: str, master_key: str):
        super().__init__(base / name, base / f"{name}.log", name=name, extra_env={"IAMD_MASTER_KEY": master_key})
        self.database_url = database_url

    def command(self) -> list[str]:
        return [S.iamd_binary(), "serve", "--listen", f"127.0.0.1:{self.port}",
                "--data-dir", str(self.data_dir), "--database-url", self.database_url]

    def start(self, timeout: float = 60.0) -> "Node":
        last_error = None
        for _attempt in range(3):
            self.port = S.free_port()
            self._log = open(self.log_path, "ab")
            self._log.write(f"\n===== starting {self.name} on port {self.port} =====\n".encode())
            self._log.flush()
            self.proc = subprocess.Popen(self.command(), env=self.env(), stdin=subprocess.DEVNULL,
                                         stdout=self._log, stderr=subprocess.STDOUT)
            if self not in S.ALL_SERVERS:
                S.ALL_SERVERS.append(self)
            try:
                self.wait_healthy(timeout)
                return self
            except RuntimeError as e:  # exited early (port taken?) -> retry
                last_error = e
                self._close_log()
        raise RuntimeError(f"{self.name} did not start: {last_error}\n--- log ---\n{self.log_text()[-8000:]}")


class Cluster:
    def __init__(self, nodes):
        self.nodes = nodes
        self.a, self.b = nodes

    def client(self, i: int, service: str = "iam", creds: S.Creds = S.ROOT):
        return S.make_client(service, self.nodes[i % len(self.nodes)].endpoint, creds)


@pytest.fixture(scope="module")
def cluster(database_url, master_key, tmp_path_factory):
    """Two nodes, started at the same moment on a fresh database."""
    base = tmp_path_factory.mktemp("iamd-multinode")
    nodes = [Node(base, f"node-{n}", database_url, master_key) for n in ("a", "b")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        for f in [pool.submit(n.start) for n in nodes]:
            f.result()
    yield Cluster(nodes)
    for n in nodes:
        n.stop()
        if n in S.ALL_SERVERS:
            S.ALL_SERVERS.remove(n)


@pytest.fixture(scope="module")
def iam_a(cluster):
    return cluster.client(0)


@pytest.fixture(scope="module")
def iam_b(cluster):
    return cluster.client(1)


# ---------------------------------------------------------------------------
# Shared state
# ---------------------------------------------------------------------------


def test_both_nodes_serve_the_same_account(cluster, iam_a, iam_b):
    for i in range(2):
        ident = cluster.client(i, "sts").get_caller_identity()
        assert ident["Account"] == S.ACCOUNT_ID and ident["Arn"] == S.ROOT_ARN
    assert S.summary(iam_a) == S.summary(iam_b)


def test_policy_change_on_a_is_enforced_on_b_within_the_cache_bound(cluster, iam_a):
    """Policies are cached with credentials for 2 s per node (docs/behaviour.md §8): a grant or a
    revocation made through node A applies on node B within that bound."""
    name = S.unique("mnpol")
    iam_a.create_user(UserName=name)
    key = iam_a.create_access_key(UserName=name)["AccessKey"]
    user_b = cluster.client(1, "iam", S.Creds(key["AccessKeyId"], key["SecretAccessKey"]))
    with expect_error("AccessDenied", 403):
        user_b.get_user()  # B now caches the user's credentials with no policy

    def allowed_on_b() -> bool:
        try:
            user_b.get_user()
            return True
        except Exception as e:  # noqa: BLE001 - AccessDenied until B's cache entry expires
            assert S.error_code(e) == "AccessDenied", e
            return False

    def settles(expect: bool) -> float:
        started = time.monotonic()
        while allowed_on_b() != expect:
            assert time.monotonic() - started < 3.0, f"node B still {'denies' if expect else 'allows'} after 3 s"
            time.sleep(0.1)
        return time.monotonic() - started

    S.grant_self_service(iam_a, name)
    settles(True)
    iam_a.delete_user_policy(UserName=name, PolicyName="self-service")
    settles(False)


def test_user_and_device_created_on_a_are_visible_on_b(cluster, iam_a, iam_b):
    name = S.unique("mn")
    created = iam_a.create_user(UserName=name, Path="/multi/")["User"]
    got = iam_b.get_user(UserName=name.upper())["User"]
    assert (got["UserName"], got["UserId"], got["Arn"], got["Path"]) == (
        name, created["UserId"], created["Arn"], "/multi/")
    # names are unique across nodes, without regard to case
    with expect_error("EntityAlreadyExists", 409, S.msg_user_exists(name.upper())):
        iam_b.create_user(UserName=name.upper())

    key = iam_a.create_access_key(UserName=name)["AccessKey"]
    assert [k["AccessKeyId"] for k in iam_b.list_access_keys(UserName=name)["AccessKeyMetadata"]] == [key["AccessKeyId"]]
    # the secret sealed by node A opens on node B: the user's key signs requests to B
    user_b = cluster.client(1, "sts", S.Creds(key["AccessKeyId"], key["SecretAccessKey"]))
    assert user_b.get_caller_identity()["Arn"] == created["Arn"]

    dev = iam_a.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]
    totp = S.Totp(dev["Base32StringSeed"])
    assert S.find_virtual(iam_b, dev["SerialNumber"], "Unassigned") is not None
    # enabled through B with the seed A generated (sealed by A, opened by B)
    pair = totp.current_pair()
    iam_b.enable_mfa_device(UserName=name, SerialNumber=dev["SerialNumber"],
                            AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)
    assert [d["SerialNumber"] for d in iam_a.list_mfa_devices(UserName=name)["MFADevices"]] == [dev["SerialNumber"]]
    assert S.find_virtual(iam_a, dev["SerialNumber"], "Assigned")["User"]["UserName"] == name

    # deletion on one node is seen by the other
    with expect_error("DeleteConflict", 409, S.MSG_DELETE_ASSIGNED):
        iam_b.delete_virtual_mfa_device(SerialNumber=dev["SerialNumber"])
    iam_b.deactivate_mfa_device(UserName=name, SerialNumber=dev["SerialNumber"])
    iam_a.delete_virtual_mfa_device(SerialNumber=dev["SerialNumber"])
    iam_b.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    iam_a.delete_user(UserName=name)
    with expect_error("NoSuchEntity", 404, S.msg_no_user(name)):
        iam_b.get_user(UserName=name)


def test_enable_one_device_from_both_nodes(cluster, iam_a, iam_b):
    users = [S.unique(f"mnr{i}") for i in range(N)]
    for i, u in enumerate(users):
        (iam_a if i % 2 else iam_b).create_user(UserName=u)
    dev = iam_a.create_virtual_mfa_device(VirtualMFADeviceName=S.unique("mnrace"))["VirtualMFADevice"]
    totp = S.Totp(dev["Base32StringSeed"])
    clients = [cluster.client(i) for i in range(N)]  # alternating nodes; built before the threads
    pair = totp.current_pair()

    def call(client, user):
        return lambda: client.enable_mfa_device(UserName=user, SerialNumber=dev["SerialNumber"],
                                                AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)

    results = S.race([call(c, u) for c, u in zip(clients, users)])
    counts = S.summarize(results)
    assert counts == Counter({"ok": 1, "EntityAlreadyExists/409": N - 1}), counts
    for kind, v in results:
        if kind == "err":
            S.check_error(v, "EntityAlreadyExists", 409, S.MSG_IN_USE)
    winner = [u for u, (kind, _) in zip(users, results) if kind == "ok"][0]
    for iam in (iam_a, iam_b):
        assert S.find_virtual(iam, dev["SerialNumber"], "Assigned")["User"]["UserName"] == winner
    owners = [u for i, u in enumerate(users) if cluster.client(i).list_mfa_devices(UserName=u)["MFADevices"]]
    assert owners == [winner]


def test_access_key_quota_across_nodes(cluster, iam_a):
    name = S.unique("mnkeys")
    iam_a.create_user(UserName=name)
    clients = [cluster.client(i) for i in range(20)]
    results = S.race([lambda c=c: c.create_access_key(UserName=name) for c in clients])
    counts = S.summarize(results)
    assert counts == Counter({"ok": 2, "LimitExceeded/409": 18}), counts
    assert len(iam_a.list_access_keys(UserName=name)["AccessKeyMetadata"]) == 2


# ---------------------------------------------------------------------------
# One-time codes and throttling across nodes (STS milestone)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _require_get_session_token(cluster):
    try:
        cluster.client(0, "sts").get_session_token(DurationSeconds=900)
    except S.ClientError as e:
        if S.error_code(e) == "InvalidAction":
            pytest.skip("iamd does not implement sts:GetSessionToken yet (InvalidAction)")
        raise


@pytest.fixture
def mfa_user(cluster, iam_a, _require_get_session_token):
    """(name, serial, totp, creds, next_code): a user with a key and a device enabled via node A;
    next_code is the first code STS can accept (one step after the enable pair)."""
    name = S.unique("mnsts")
    iam_a.create_user(UserName=name)
    key = iam_a.create_access_key(UserName=name)["AccessKey"]
    creds = S.Creds(key["AccessKeyId"], key["SecretAccessKey"])
    dev = iam_a.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]
    totp = S.Totp(dev["Base32StringSeed"])
    pair = totp.current_pair(margin=10)
    iam_a.enable_mfa_device(UserName=name, SerialNumber=dev["SerialNumber"],
                            AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)
    return name, dev["SerialNumber"], totp, creds, totp.code_at_step(pair.step + 1)


@pytest.mark.sts_session
def test_code_accepted_on_a_is_refused_on_b(cluster, mfa_user):
    _name, serial, _totp, creds, code = mfa_user
    cluster.client(0, "sts", creds).get_session_token(SerialNumber=serial, TokenCode=code, DurationSeconds=900)
    with expect_error("AccessDenied", 403, S.MSG_STS_BAD_CODE):
        cluster.client(1, "sts", creds).get_session_token(SerialNumber=serial, TokenCode=code, DurationSeconds=900)


@pytest.mark.sts_session
def test_one_code_forty_requests_over_both_nodes(cluster, mfa_user):
    _name, serial, _totp, creds, code = mfa_user
    clients = [cluster.client(i, "sts", creds) for i in range(N)]
    results = S.race([lambda c=c: c.get_session_token(SerialNumber=serial, TokenCode=code, DurationSeconds=900)
                     for c in clients])
    counts = S.summarize(results)
    assert counts == Counter({"ok": 1, "AccessDenied/403": N - 1}), counts
    for kind, v in results:
        if kind == "err":
            S.check_error(v, "AccessDenied", 403, S.MSG_STS_BAD_CODE)


@pytest.mark.sts_session
def test_lockout_on_a_holds_on_b(cluster, mfa_user):
    _name, serial, totp, creds, code = mfa_user
    sts_a = cluster.client(0, "sts", creds)
    sts_b = cluster.client(1, "sts", creds)
    bad = totp.invalid_code()
    for _ in range(10):
        with expect_error("AccessDenied", 403, S.MSG_STS_BAD_CODE):
            sts_a.get_session_token(SerialNumber=serial, TokenCode=bad)
    # locked everywhere: even the correct, unused code is refused by the other node
    with expect_error("AccessDenied", 403, S.MSG_STS_BAD_CODE):
        sts_b.get_session_token(SerialNumber=serial, TokenCode=code)
    with expect_error("AccessDenied", 403, S.MSG_STS_BAD_CODE):
        sts_a.get_session_token(SerialNumber=serial, TokenCode=code)


@pytest.mark.sts_session
def test_failures_on_both_nodes_add_up(cluster, mfa_user):
    """Five wrong codes on each node make ten: the user is locked."""
    _name, serial, totp, creds, code = mfa_user
    clients = [cluster.client(i, "sts", creds) for i in range(10)]
    bad = totp.invalid_code()
    results = S.race([lambda c=c: c.get_session_token(SerialNumber=serial, TokenCode=bad) for c in clients])
    assert S.summarize(results) == Counter({"AccessDenied/403": 10})
    with expect_error("AccessDenied", 403, S.MSG_STS_BAD_CODE):
        cluster.client(1, "sts", creds).get_session_token(SerialNumber=serial, TokenCode=code)


# ---------------------------------------------------------------------------
# PostgreSQL restarts
# ---------------------------------------------------------------------------


def _pg_ctl(*args: str) -> None:
    exe = os.environ.get("IAMD_PG_CTL")
    out = subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"pg_ctl {args} failed: {out.stderr}"


REQUEST_DEADLINE = 20.0  # seconds: no request may take longer, outage or not


@pytest.mark.slow
def test_postgres_restart_under_light_load(cluster, iam_a, iam_b):
    if not os.environ.get("IAMD_PG_CTL"):
        pytest.skip("IAMD_PG_CTL not set: cannot restart PostgreSQL")
    path = f"/{S.unique('load')}/"
    stop = threading.Event()
    lock = threading.Lock()
    acknowledged: list[str] = []
    outcomes: Counter = Counter()
    problems: list[str] = []
    slowest = [0.0]

    def worker(w: int):
        # One client per worker, built here (boto3 clients are thread-safe once built; building
        # them from several threads at once is not, hence the lock).
        with lock:
            client = S.make_client("iam", cluster.nodes[w % 2].endpoint)
        n = 0
        while not stop.is_set():
            name = f"load-{w}-{n}-{uuid.uuid4().hex[:6]}"
            n += 1
            started = time.monotonic()
            try:
                if n % 3 == 0:
                    client.list_users(PathPrefix=path, MaxItems=5)
                    kind = "read-ok"
                else:
                    client.create_user(UserName=name, Path=path)
                    kind = "write-ok"
                    with lock:
                        acknowledged.append(name)
            except S.ClientError as e:
                status = e.response["ResponseMetadata"]["HTTPStatusCode"]
                code = S.error_code(e)
                kind = f"{code}/{status}"
                if (code, status) != ("ServiceUnavailable", 503):
                    with lock:
                        problems.append(f"{name}: {kind}: {e}")
            except (BotoCoreError, requests.RequestException) as e:  # timeouts, resets
                kind = "transport-error"
                with lock:
                    problems.append(f"{name}: {type(e).__name__}: {e}")
            elapsed = time.monotonic() - started
            with lock:
                outcomes[kind] += 1
                slowest[0] = max(slowest[0], elapsed)
                if elapsed > REQUEST_DEADLINE:
                    problems.append(f"{name}: took {elapsed:.1f}s")
            time.sleep(0.05)

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    _pg_ctl("restart", "-m", "fast", "-w")
    time.sleep(1.0)
    # an outage of a few seconds: requests in the gap must fail cleanly (503) or succeed
    _pg_ctl("stop", "-m", "fast", "-w")
    time.sleep(3.0)
    _pg_ctl("start", "-w")
    time.sleep(1.0)
    _pg_ctl("restart", "-m", "immediate", "-w")  # a crash: committed writes must survive recovery
    time.sleep(2.0)
    stop.set()
    for t in threads:
        t.join(timeout=REQUEST_DEADLINE + 30)
        assert not t.is_alive(), "a load thread hung"

    print(f"\nrestart under load: {dict(outcomes)}, slowest request {slowest[0]:.2f}s, "
          f"{len(acknowledged)} users acknowledged")
    assert not problems, "\n".join(problems[:20])
    assert outcomes["write-ok"] > 10, outcomes

    # Afterwards every request succeeds, on both nodes, straight away.
    for i in range(20):
        iam = iam_a if i % 2 else iam_b
        iam.get_user(UserName=acknowledged[i % len(acknowledged)])
        S.summary(iam)
    # No acknowledged write was lost.
    for iam in (iam_a, iam_b):
        listed = {u["UserName"] for u in S.list_all(iam, "list_users", PathPrefix=path)}
        missing = set(acknowledged) - listed
        assert not missing, f"acknowledged but lost: {sorted(missing)[:10]}"


# ---------------------------------------------------------------------------
# Master key
# ---------------------------------------------------------------------------


def test_node_with_another_master_key_refuses_to_start(cluster, database_url, master_key, tmp_path):
    other = secrets.token_hex(32)
    assert other != master_key
    node = Node(tmp_path, "wrong-key", database_url, other)
    node.port = S.free_port()
    proc = subprocess.Popen(node.command(), env=node.env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        output, _ = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        pytest.fail(f"a node with the wrong master key kept running:\n{output.decode(errors='replace')[-4000:]}")
    text = S._ANSI_RE.sub("", output.decode(errors="replace"))
    assert proc.returncode != 0, text
    assert "master key" in text.lower(), text
    # and the cluster is unharmed
    for i in range(2):
        assert cluster.client(i, "sts").get_caller_identity()["Account"] == S.ACCOUNT_ID
