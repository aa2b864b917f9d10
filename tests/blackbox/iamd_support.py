"""Helpers shared by the iamd black-box suite.

Everything here talks to iamd only over HTTP (boto3, raw SigV4-signed
requests, or the AWS CLI), exactly as an external client would.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
import zlib
from collections import Counter, namedtuple
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable
from unittest import mock
from urllib.parse import urlencode

import boto3
import botocore.auth
import pyotp
import pytest
import requests
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

# ---------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------

ACCOUNT_ID = "123456789012"
ROOT_ACCESS_KEY_ID = "AKIAIAMDBLACKBOXROOT"  # 20 chars, [A-Z0-9]
ROOT_SECRET_ACCESS_KEY = "iamdBlackboxRootSecret0123456789abcdefGH"  # 40 chars
ROOT_ARN = f"arn:aws:iam::{ACCOUNT_ID}:root"

IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
IAM_VERSION = "2010-05-08"
STS_VERSION = "2011-06-15"

REPO_ROOT = Path(__file__).resolve().parents[2]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Exact messages (spec §7 and iamd's decisions in the brief / README).
MSG_BAD_CODE = "Authentication code for device is not valid."
MSG_IN_USE = "MFA Device is already in use."
MSG_DEVICE_EXISTS = "MFA device already exists."
MSG_PATH_INVALID = (
    "The specified value for path is invalid. It must begin and end with / and "
    "contain only alphanumeric characters and/or / characters."
)
MSG_PATH_TOO_LONG = (
    "1 validation error detected: Value at 'path' failed to satisfy constraint: "
    "Member must have length less than or equal to 512"
)
MSG_MFA_QUOTA = "Cannot exceed quota for MFADevicesPerUser: 8"
MSG_KEY_QUOTA = "Cannot exceed quota for AccessKeysPerUser: 2"
MSG_TAG_QUOTA = "Cannot exceed quota for TagsPerMFADevice: 50"
MSG_DUP_TAGS = "Duplicate tag keys found. Please note that Tag keys are case insensitive."
MSG_DELETE_ASSIGNED = "Cannot delete entity, must deactivate MFA device first."
MSG_USER_HAS_KEYS = "Cannot delete entity, must delete access keys first."
MSG_USER_HAS_MFA = "Cannot delete entity, must delete MFA device first."
MSG_INVALID_MARKER = "Invalid Marker."
MSG_STS_BAD_CODE = "MultiFactorAuthentication failed with invalid MFA one time pass code."
MSG_STS_BAD_SERIAL = (
    "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify "
    "your MFA serial number is valid and associated with this user."
)
MSG_STS_WITH_SESSION = "Cannot call GetSessionToken with session credentials"
# AWS's two services word it differently: IAM without a final period (spec §4.1 and §7: IAM called
# with a session opened without MFA; likewise for an unknown key), STS with one.
MSG_BAD_TOKEN_IAM = "The security token included in the request is invalid"
MSG_BAD_TOKEN_STS = "The security token included in the request is invalid."
USER_NAME_PATTERN = r"[\w+=,.@-]+"


def msg_no_user(name: str) -> str:
    return f"The user with name {name} cannot be found."


def msg_no_device(serial: str) -> str:
    return f"MFA Device with serial number {serial} does not exist."


def msg_user_exists(name: str) -> str:
    return f"User with name {name} already exists."


def denied_prefix(caller_arn: str, action: str) -> str:
    return f"User: {caller_arn} is not authorized to perform: iam:{action}"


def user_arn(name: str, path: str = "/") -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:user{path}{name}"


def mfa_arn(name: str, path: str = "/") -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:mfa{path}{name}"


def unique(prefix: str = "t") -> str:
    """A fresh name usable as user name, device name or path segment."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# ---------------------------------------------------------------------------
# Credentials and clients
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Creds:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


ROOT = Creds(ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY)


_SESSIONS: dict = {}


def _session_for(creds: Creds, region: str) -> boto3.session.Session:
    """One boto3 Session per (credentials, region): loading the service models
    is the slow part of creating a client.  Clients are created from the main
    thread only (Session is not thread-safe; clients are)."""
    key = (creds, region)
    if key not in _SESSIONS:
        _SESSIONS[key] = boto3.session.Session(
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
            region_name=region,
        )
    return _SESSIONS[key]


def make_client(
    service: str,
    endpoint: str,
    creds: Creds = ROOT,
    region: str = "us-east-1",
    validate: bool = True,
):
    """A boto3 client for `service` against iamd.

    Retries are disabled (every request is sent exactly once: important for
    one-time codes and concurrency tests).  `validate=False` turns off
    botocore's client-side parameter validation so out-of-range values reach
    the server.
    """
    session = _session_for(creds, region)
    cfg = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
        parameter_validation=validate,
        max_pool_connections=30,
    )
    return session.client(service, endpoint_url=endpoint, config=cfg)


def make_resource(endpoint: str, creds: Creds = ROOT, region: str = "us-east-1"):
    session = boto3.session.Session(
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
        region_name=region,
    )
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=60)
    return session.resource("iam", endpoint_url=endpoint, config=cfg)


# ---------------------------------------------------------------------------
# Error assertions
# ---------------------------------------------------------------------------


def check_error(
    err: ClientError,
    code: str,
    status: int,
    message: str | None = None,
    startswith: str | None = None,
    contains: str | Iterable[str] | None = None,
):
    """Assert a botocore ClientError has the given code, HTTP status and message."""
    assert isinstance(err, ClientError), f"expected ClientError, got {err!r}"
    got_code = err.response.get("Error", {}).get("Code")
    got_status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    got_msg = err.response.get("Error", {}).get("Message")
    assert (got_code, got_status) == (code, status), (
        f"expected {code}/{status}, got {got_code}/{got_status}: {got_msg!r}"
    )
    if message is not None:
        assert got_msg == message, f"message mismatch:\n  expected {message!r}\n  got      {got_msg!r}"
    if startswith is not None:
        assert got_msg is not None and got_msg.startswith(startswith), (
            f"message {got_msg!r} does not start with {startswith!r}"
        )
    if contains is not None:
        parts = [contains] if isinstance(contains, str) else list(contains)
        for part in parts:
            assert got_msg is not None and part in got_msg, f"{part!r} not in message {got_msg!r}"
    return err


@contextlib.contextmanager
def expect_error(code: str, status: int, message: str | None = None, **kw):
    """Context manager: the block must raise ClientError(code, status[, message])."""
    with pytest.raises(ClientError) as excinfo:
        yield excinfo
    check_error(excinfo.value, code, status, message, **kw)


def error_code(err: Exception) -> str | None:
    if isinstance(err, ClientError):
        return err.response.get("Error", {}).get("Code")
    return None


# ---------------------------------------------------------------------------
# TOTP
# ---------------------------------------------------------------------------

STEP = 30
Pair = namedtuple("Pair", "code1 code2 step")  # step = time step of code2


def step_of(t: float) -> int:
    return int(t) // STEP


def wait_for_step_margin(margin: float = 6.0) -> float:
    """Return `now`, first sleeping into the next 30-s step if fewer than
    `margin` seconds remain in the current one.  Keeps code pairs and
    "current code" computations stable while a few requests are in flight."""
    now = time.time()
    remaining = STEP - (now % STEP)
    if remaining < margin:
        time.sleep(remaining + 0.25)
        now = time.time()
    return now


class Totp:
    """RFC 6238 TOTP (SHA1, 6 digits, 30 s) for a device seed."""

    def __init__(self, seed: bytes | str):
        if isinstance(seed, (bytes, bytearray)):
            seed = bytes(seed).decode("ascii")
        self.seed = seed
        self._totp = pyotp.TOTP(seed, digits=6, interval=STEP)

    def at(self, t: float) -> str:
        """Code valid at instant t (unix seconds)."""
        return self._totp.at(int(t))

    def code_at_step(self, step: int) -> str:
        return self._totp.at(step * STEP)

    def pair_at_step(self, step: int) -> Pair:
        """Consecutive pair whose second code is at `step`."""
        return Pair(self.code_at_step(step - 1), self.code_at_step(step), step)

    def pair_at(self, t: float) -> Pair:
        """Codes at t-30 and t on the 30-s grid (the pair AWS accepted in its tests)."""
        return self.pair_at_step(step_of(t))

    def current_pair(self, margin: float = 0.0) -> Pair:
        """The pair (now-30, now).  With `margin`, first waits out the end of a
        step so that "the next code" (step+1) stays valid for a few seconds --
        only STS tests need that; Enable/Resync search a 24 h window."""
        return self.pair_at(wait_for_step_margin(margin))

    def invalid_code(self, around: float | None = None) -> str:
        """A 6-digit code that matches this seed at no step from 26 h before
        to 20 min after `around` (default now): guaranteed wrong."""
        t = time.time() if around is None else around
        lo, hi = step_of(t - 26 * 3600), step_of(t + 1200)
        used = {self.code_at_step(s) for s in range(lo, hi + 1)}
        for n in range(123456, 1000000, 7919):
            c = f"{n % 1000000:06d}"
            if c not in used:
                return c
        raise AssertionError("no invalid code found")  # pragma: no cover


# ---------------------------------------------------------------------------
# PNG / QR
# ---------------------------------------------------------------------------


def parse_png(data: bytes) -> dict:
    """Minimal PNG reader: checks signature, chunk CRCs, IHDR/IDAT/IEND layout
    and that the zlib image data inflates to exactly the size IHDR implies.
    Returns IHDR fields and the list of chunk types."""
    assert data[:8] == PNG_MAGIC, f"not a PNG: {data[:8]!r}"
    pos = 8
    chunks: list[str] = []
    idat = b""
    ihdr = None
    while pos < len(data):
        assert pos + 8 <= len(data), "truncated chunk header"
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        assert len(body) == length, f"truncated chunk {ctype!r}"
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(ctype + body) & 0xFFFFFFFF == crc, f"bad CRC in {ctype!r}"
        name = ctype.decode("ascii")
        chunks.append(name)
        if name == "IHDR":
            assert len(chunks) == 1, "IHDR must be first"
            w, h, depth, color, comp, filt, interlace = struct.unpack(">IIBBBBB", body)
            ihdr = dict(width=w, height=h, bit_depth=depth, color_type=color,
                        compression=comp, filter=filt, interlace=interlace)
        elif name == "IDAT":
            idat += body
        pos += 12 + length
        if name == "IEND":
            break
    assert ihdr is not None, "no IHDR"
    assert chunks[-1] == "IEND", "IEND must be last"
    assert pos == len(data), "trailing bytes after IEND"
    assert "IDAT" in chunks, "no IDAT"
    assert ihdr["width"] > 0 and ihdr["height"] > 0
    raw = zlib.decompress(idat)
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ihdr["color_type"]]
    if ihdr["interlace"] == 0:
        bpp_bits = channels * ihdr["bit_depth"]
        rowbytes = (ihdr["width"] * bpp_bits + 7) // 8
        assert len(raw) == ihdr["height"] * (1 + rowbytes), "IDAT size does not match IHDR"
        for row in range(ihdr["height"]):
            assert raw[row * (1 + rowbytes)] <= 4, "bad filter type"
    ihdr["chunks"] = chunks
    return ihdr


def zbar_decode(png: bytes) -> str | None:
    """Decode a QR code with zbarimg if it is installed; None otherwise."""
    exe = shutil.which("zbarimg")
    if not exe:
        return None
    with tempfile.NamedTemporaryFile(suffix=".png", delete=False) as f:
        f.write(png)
        path = f.name
    try:
        out = subprocess.run([exe, "--raw", "-q", path], capture_output=True, timeout=30)
        assert out.returncode == 0, f"zbarimg failed: {out.stderr!r}"
        return out.stdout.decode().strip()
    finally:
        os.unlink(path)


BASE32_SEED_RE = re.compile(rb"^[A-Z2-7]{64}$")


def check_seed(seed: bytes) -> Totp:
    assert isinstance(seed, bytes), type(seed)
    assert BASE32_SEED_RE.match(seed), f"seed is not 64 base32 chars: {seed!r}"
    assert len(base64.b32decode(seed)) == 40
    t = Totp(seed)
    assert re.fullmatch(r"\d{6}", t.at(time.time()))
    return t


# ---------------------------------------------------------------------------
# Pagination
# ---------------------------------------------------------------------------

RESULT_KEYS = {
    "list_users": "Users",
    "list_virtual_mfa_devices": "VirtualMFADevices",
    "list_mfa_devices": "MFADevices",
    "list_access_keys": "AccessKeyMetadata",
    "list_mfa_device_tags": "Tags",
}


def list_all(client, op: str, **kw) -> list:
    """All items of a paginated list operation (through the boto3 paginator)."""
    items = []
    for page in client.get_paginator(op).paginate(**kw):
        items.extend(page[RESULT_KEYS[op]])
    return items


def pages_of(client, op: str, page_size: int = 1, **kw) -> list[dict]:
    """Pages fetched with the botocore paginator at `page_size`; also checks
    that every non-final page is truncated and that markers never repeat."""
    pages = list(client.get_paginator(op).paginate(PaginationConfig={"PageSize": page_size}, **kw))
    markers = [p.get("Marker") for p in pages[:-1]]
    for p in pages[:-1]:
        assert p["IsTruncated"] is True
        assert p.get("Marker"), "truncated page without Marker"
    assert len(set(markers)) == len(markers), f"markers repeat: {markers}"
    assert pages[-1].get("IsTruncated") in (False, None)
    for p in pages:
        assert len(p[RESULT_KEYS[op]]) <= page_size
    return pages


def all_virtual_devices(iam, status: str | None = None) -> list:
    kw = {"AssignmentStatus": status} if status else {}
    return list_all(iam, "list_virtual_mfa_devices", **kw)


def find_virtual(iam, serial: str, status: str | None = None) -> dict | None:
    for d in all_virtual_devices(iam, status):
        if d["SerialNumber"] == serial:
            return d
    return None


def summary(iam) -> dict:
    return iam.get_account_summary()["SummaryMap"]


# ---------------------------------------------------------------------------
# Raw SigV4 HTTP
# ---------------------------------------------------------------------------


def signed_request(
    endpoint: str,
    params: dict,
    creds: Creds | None = ROOT,
    service: str = "iam",
    region: str = "us-east-1",
    method: str = "POST",
    when: dt.datetime | None = None,
    presign: bool = False,
    expires: int = 300,
    extra_headers: dict | None = None,
) -> requests.Response:
    """Send an awsQuery request, signed with botocore's SigV4 signer.

    `when` signs with a different clock (naive or aware UTC datetime) to test
    skew; `presign` uses query-string authentication (GET only); `creds=None`
    sends the request unsigned."""
    body = urlencode(params)
    if method == "POST":
        req = AWSRequest(
            method="POST",
            url=endpoint.rstrip("/") + "/",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
    else:
        req = AWSRequest(method="GET", url=endpoint.rstrip("/") + "/?" + body)
    for k, v in (extra_headers or {}).items():
        req.headers[k] = v
    if creds is not None:
        c = Credentials(creds.access_key_id, creds.secret_access_key, creds.session_token)
        if presign:
            signer = botocore.auth.SigV4QueryAuth(c, service, region, expires=expires)
        else:
            signer = botocore.auth.SigV4Auth(c, service, region)
        if when is not None:
            fixed = when.astimezone(dt.timezone.utc).replace(tzinfo=None) if when.tzinfo else when
            with mock.patch.object(botocore.auth, "get_current_datetime", lambda *a, **k: fixed):
                signer.add_auth(req)
        else:
            signer.add_auth(req)
    prepared = req.prepare()
    return requests.request(
        prepared.method, prepared.url, headers=dict(prepared.headers), data=prepared.body, timeout=60
    )


def xml_root(resp: requests.Response) -> ET.Element:
    return ET.fromstring(resp.content)


def q(ns: str, path: str) -> str:
    """'A/B' -> '{ns}A/{ns}B' for ElementTree lookups."""
    return "/".join(f"{{{ns}}}{p}" for p in path.split("/"))


def xml_error(resp: requests.Response, ns: str = IAM_NS) -> dict:
    root = xml_root(resp)
    assert root.tag == f"{{{ns}}}ErrorResponse", root.tag
    err = root.find(q(ns, "Error"))
    assert err is not None
    return {
        "Type": err.findtext(q(ns, "Type")),
        "Code": err.findtext(q(ns, "Code")),
        "Message": err.findtext(q(ns, "Message")),
        "RequestId": root.findtext(q(ns, "RequestId")),
    }


# ---------------------------------------------------------------------------
# Server process
# ---------------------------------------------------------------------------

ALL_SERVERS: list["IamdServer"] = []
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


def iamd_binary() -> str:
    return os.environ.get("IAMD_BIN") or str(REPO_ROOT / "target" / "debug" / "iamd")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_args(data_dir: Path) -> list[str]:
    """With IAMD_TEST_DATABASE_URL set (scripts/with-postgres), every data dir gets its own
    PostgreSQL database, so the whole suite runs against the PostgreSQL backend; restarting on
    the same data dir reuses the same database. Without it, the embedded store is used."""
    admin_url = os.environ.get("IAMD_TEST_DATABASE_URL")
    if not admin_url:
        return []
    name = "iamd_" + hashlib.sha1(str(Path(data_dir).resolve()).encode()).hexdigest()[:16]
    exists = subprocess.run(
        ["psql", admin_url, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    if exists != "1":
        subprocess.run(["psql", admin_url, "-qc", f'CREATE DATABASE "{name}"'], capture_output=True, check=True)
    url = urllib.parse.urlsplit(admin_url)._replace(path="/" + name)
    return ["--database-url", urllib.parse.urlunsplit(url)]


class IamdServer:
    """An `iamd serve` child process with its own data dir and log file."""

    def __init__(self, data_dir: Path, log_path: Path, name: str = "iamd", extra_env: dict | None = None,
                 storage: list[str] | None = None):
        """`storage`: the storage flags after `--data-dir` (default: `database_args`, which follows
        IAMD_TEST_DATABASE_URL); `[]` keeps the embedded store whatever the suite's backend."""
        self.storage = storage
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_path)
        self.name = name
        self.extra_env = dict(extra_env or {})
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self._log = None
        self.data_dir.mkdir(parents=True, exist_ok=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "IAMD_"))}
        env.update(
            IAMD_ACCOUNT_ID=ACCOUNT_ID,
            IAMD_ROOT_ACCESS_KEY_ID=ROOT_ACCESS_KEY_ID,
            IAMD_ROOT_SECRET_ACCESS_KEY=ROOT_SECRET_ACCESS_KEY,
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 60.0) -> "IamdServer":
        binary = iamd_binary()
        if not os.access(binary, os.X_OK):
            pytest.fail(f"iamd binary not found or not executable: {binary} (set IAMD_BIN)", pytrace=False)
        last_error = None
        for _attempt in range(3):
            self.port = free_port()
            self._log = open(self.log_path, "ab")
            self._log.write(f"\n===== starting {self.name} on port {self.port} =====\n".encode())
            self._log.flush()
            self.proc = subprocess.Popen(
                [binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir)]
                + (database_args(self.data_dir) if self.storage is None else self.storage),
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
            if not self in ALL_SERVERS:
                ALL_SERVERS.append(self)
            try:
                self.wait_healthy(timeout)
                return self
            except RuntimeError as e:  # exited early (port taken?) -> retry
                last_error = e
                self._close_log()
        raise RuntimeError(f"{self.name} did not start: {last_error}\n--- log ---\n{self.log_text()[-8000:]}")

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited with code {self.proc.returncode}")
            try:
                r = requests.get(self.endpoint + "/health", timeout=2)
                if r.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.kill9()
        raise TimeoutError(f"{self.name} not healthy after {timeout}s\n--- log ---\n{self.log_text()[-8000:]}")

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait; SIGKILL if it does not exit. Returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            self._close_log()
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            rc = None
        self._close_log()
        return rc

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._close_log()

    def _close_log(self):
        if self._log is not None:
            try:
                self._log.close()
            finally:
                self._log = None

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_text(self, start: int = 0) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(start)
                return _ANSI_RE.sub("", f.read().decode("utf-8", "replace"))
        except OSError:
            return ""


# ---------------------------------------------------------------------------
# AWS CLI
# ---------------------------------------------------------------------------


class AwsCli:
    """Runs the AWS CLI v1 (`python -m awscli`) against iamd with an isolated
    environment: only the variables set here, an empty config file."""

    def __init__(self, endpoint: str, workdir: Path):
        self.endpoint = endpoint
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "config").write_text("")
        (self.workdir / "credentials").write_text("")

    def run(self, *args: str, creds: Creds | None = ROOT, region: str = "us-east-1", check: bool = True,
            stdin: str | None = None):
        """`creds=None` leaves credentials to the config files (profiles); `stdin` is typed at
        prompts (the CLI runs without a terminal, so `getpass` reads it from stdin)."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir),
            "LANG": "C.UTF-8",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": region,
            "AWS_CONFIG_FILE": str(self.workdir / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.workdir / "credentials"),
            "AWS_PAGER": "",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_RETRY_MODE": "standard",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        if creds is not None:
            env["AWS_ACCESS_KEY_ID"] = creds.access_key_id
            env["AWS_SECRET_ACCESS_KEY"] = creds.secret_access_key
            if creds.session_token:
                env["AWS_SESSION_TOKEN"] = creds.session_token
        cmd = [sys.executable, "-m", "awscli", *args, "--output", "json"]
        # A new session has no controlling terminal: prompts read `stdin`.
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=self.workdir,
                             input=stdin if stdin is not None else "", start_new_session=True)
        out.json = None
        if out.returncode == 0 and out.stdout.strip():
            out.json = json.loads(out.stdout)
        if check:
            assert out.returncode == 0, (
                f"aws {' '.join(args)} failed (rc={out.returncode}):\n{out.stderr}"
            )
        return out


def cli_error(out, code: str, message: str | None = None):
    """Assert a failed CLI run reported `code` (and `message`) on stderr."""
    assert out.returncode != 0, f"expected failure, got rc=0: {out.stdout}"
    assert f"({code})" in out.stderr, out.stderr
    if message is not None:
        assert message in out.stderr, out.stderr


# ---------------------------------------------------------------------------
# Time
# ---------------------------------------------------------------------------


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def assert_recent(when: dt.datetime, slack: float = 120.0):
    assert when.tzinfo is not None, f"naive timestamp {when!r}"
    delta = abs((utcnow() - when).total_seconds())
    assert delta < slack, f"{when.isoformat()} is {delta:.0f}s away from now"


# ---------------------------------------------------------------------------
# Races
# ---------------------------------------------------------------------------

def race(calls) -> list:
    """Runs the callables at the same moment, one thread each.
    Returns a list of ('ok', result) / ('err', ClientError)."""
    barrier = threading.Barrier(len(calls))

    def run(fn):
        barrier.wait(timeout=30)
        try:
            return ("ok", fn())
        except ClientError as e:
            return ("err", e)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def summarize(results) -> Counter:
    """Counts outcomes of race(): 'ok' or 'Code/HTTPStatus'."""
    return Counter("ok" if kind == "ok" else f"{error_code(v)}/{v.response['ResponseMetadata']['HTTPStatusCode']}"
                   for kind, v in results)


# A user's permissions to manage its own credentials and MFA devices, as an inline policy: what
# iamd granted every user before IAM policies were enforced (AWS's self-service policy, plus
# deleting and tagging a device named after the user). Users have no permission without one.
SELF_SERVICE_POLICY = """{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "ViewAccountInfo", "Effect": "Allow",
     "Action": ["iam:GetAccountPasswordPolicy", "iam:ListVirtualMFADevices"], "Resource": "*"},
    {"Sid": "ManageOwnCredentialsAndMFA", "Effect": "Allow",
     "Action": ["iam:GetUser", "iam:ChangePassword", "iam:CreateAccessKey", "iam:ListAccessKeys",
                "iam:UpdateAccessKey", "iam:DeleteAccessKey", "iam:EnableMFADevice",
                "iam:ResyncMFADevice", "iam:DeactivateMFADevice", "iam:ListMFADevices",
                "iam:GetMFADevice"],
     "Resource": "arn:aws:iam::*:user/${aws:username}"},
    {"Sid": "ManageOwnVirtualMFADevice", "Effect": "Allow",
     "Action": ["iam:CreateVirtualMFADevice", "iam:DeleteVirtualMFADevice", "iam:TagMFADevice",
                "iam:UntagMFADevice", "iam:ListMFADeviceTags"],
     "Resource": "arn:aws:iam::*:mfa/${aws:username}"}
  ]
}"""


def grant_self_service(iam, user_name: str) -> None:
    iam.put_user_policy(UserName=user_name, PolicyName="self-service", PolicyDocument=SELF_SERVICE_POLICY)
