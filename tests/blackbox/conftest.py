"""Fixtures for the iamd black-box suite.

Run:  .venv/bin/pytest tests/blackbox -q
Env:  IAMD_BIN  path to the iamd binary (default <repo>/target/debug/iamd)
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from pathlib import Path

import pytest

import iamd_support as S

# ---------------------------------------------------------------------------
# Host isolation: nothing from the host's AWS configuration may leak in.
# ---------------------------------------------------------------------------

_ISOLATION_DIR = Path(tempfile.mkdtemp(prefix="iamd-bb-awsenv-"))
for _k in list(os.environ):
    if _k.startswith("AWS_"):
        del os.environ[_k]
os.environ["AWS_CONFIG_FILE"] = str(_ISOLATION_DIR / "config")
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(_ISOLATION_DIR / "credentials")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "sts_session: STS GetSessionToken milestone (skips while iamd answers InvalidAction)",
    )
    config.addinivalue_line("markers", "slow: restarts servers or waits for TOTP steps")


# ---------------------------------------------------------------------------
# Server log dump on failure
# ---------------------------------------------------------------------------

_LOG_OFFSETS = pytest.StashKey[dict]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item.stash[_LOG_OFFSETS] = {id(s): s.log_size() for s in S.ALL_SERVERS}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    offsets = item.stash.get(_LOG_OFFSETS, {})
    for srv in S.ALL_SERVERS:
        text = srv.log_text(offsets.get(id(srv), 0))
        if not text.strip():
            continue
        if len(text) > 12000:
            text = "...(truncated)...\n" + text[-12000:]
        rep.sections.append((f"iamd log: {srv.name} ({srv.log_path})", text))


# ---------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def iamd_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("iamd-main")
    srv = S.IamdServer(base / "data", base / "iamd.log", name="main")
    srv.start()
    yield srv
    srv.stop()
    if srv in S.ALL_SERVERS:
        S.ALL_SERVERS.remove(srv)


@pytest.fixture
def server_factory(tmp_path):
    """start(name, data_dir=None) -> a started extra IamdServer (stopped at teardown).
    Reuse a data_dir to restart on the same storage."""
    started: list[S.IamdServer] = []

    def start(name: str = "extra", data_dir: Path | None = None, extra_env: dict | None = None) -> S.IamdServer:
        data_dir = Path(data_dir) if data_dir else tmp_path / f"{name}-data"
        srv = S.IamdServer(data_dir, tmp_path / f"{name}.log", name=name, extra_env=extra_env)
        started.append(srv)
        return srv.start()

    yield start
    for srv in started:
        srv.kill9()
        if srv in S.ALL_SERVERS:
            S.ALL_SERVERS.remove(srv)


@pytest.fixture(scope="session")
def endpoint(iamd_server) -> str:
    return iamd_server.endpoint


# ---------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def client_factory(endpoint):
    """client(service, creds=ROOT, region='us-east-1', validate=True)"""

    def client(service: str, creds: S.Creds = S.ROOT, region: str = "us-east-1", validate: bool = True):
        return S.make_client(service, endpoint, creds, region=region, validate=validate)

    return client


@pytest.fixture(scope="session")
def iam(client_factory):
    return client_factory("iam")


@pytest.fixture(scope="session")
def iam_nv(client_factory):
    """Root IAM client without client-side parameter validation."""
    return client_factory("iam", validate=False)


@pytest.fixture(scope="session")
def sts(client_factory):
    return client_factory("sts")


@pytest.fixture(scope="session")
def iam_resource(endpoint):
    return S.make_resource(endpoint)


@pytest.fixture
def aws_cli(endpoint, tmp_path):
    return S.AwsCli(endpoint, tmp_path / "awscli")


# ---------------------------------------------------------------------------
# Entity factories
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class UserInfo:
    name: str
    arn: str
    user_id: str
    path: str = "/"
    creds: S.Creds | None = None


@dataclasses.dataclass
class DeviceInfo:
    serial: str
    name: str
    totp: S.Totp
    path: str = "/"


@pytest.fixture(scope="session")
def make_user(iam):
    """make_user(prefix='u', path=None, with_key=False, self_service=False) -> UserInfo
    self_service: attach S.SELF_SERVICE_POLICY (users have no permissions without a policy)."""

    def make(prefix: str = "u", path: str | None = None, with_key: bool = False, name: str | None = None,
             self_service: bool = False) -> UserInfo:
        name = name or S.unique(prefix)
        kw = {"Path": path} if path else {}
        u = iam.create_user(UserName=name, **kw)["User"]
        info = UserInfo(name=u["UserName"], arn=u["Arn"], user_id=u["UserId"], path=u["Path"])
        if with_key:
            k = iam.create_access_key(UserName=name)["AccessKey"]
            info.creds = S.Creds(k["AccessKeyId"], k["SecretAccessKey"])
        if self_service:
            S.grant_self_service(iam, name)
        return info

    return make


@pytest.fixture(scope="session")
def make_device(iam):
    """make_device(name=None, path=None, tags=None, client=None) -> DeviceInfo"""

    def make(name: str | None = None, path: str | None = None, tags: list | None = None, client=None) -> DeviceInfo:
        name = name or S.unique("d")
        kw = {}
        if path:
            kw["Path"] = path
        if tags:
            kw["Tags"] = tags
        d = (client or iam).create_virtual_mfa_device(VirtualMFADeviceName=name, **kw)["VirtualMFADevice"]
        return DeviceInfo(serial=d["SerialNumber"], name=name, totp=S.Totp(d["Base32StringSeed"]), path=path or "/")

    return make


@pytest.fixture(scope="session")
def enable(iam):
    """enable(user, device, pair=None, client=None) -> Pair used (current pair by default)"""

    def do(user: UserInfo, device: DeviceInfo, pair: S.Pair | None = None, client=None) -> S.Pair:
        pair = pair or device.totp.current_pair()
        (client or iam).enable_mfa_device(
            UserName=user.name,
            SerialNumber=device.serial,
            AuthenticationCode1=pair.code1,
            AuthenticationCode2=pair.code2,
        )
        return pair

    return do


@pytest.fixture
def user_with_device(make_user, make_device, enable):
    """A fresh user with an access key and an enabled virtual MFA device named after it."""

    def make(prefix: str = "m"):
        user = make_user(prefix, with_key=True)
        dev = make_device(name=user.name)
        pair = enable(user, dev)
        return user, dev, pair

    return make
