"""Keeping and moving an iamd: `iamd backup` while serving, `iamd restore`, `iamd migrate` from
the embedded store into PostgreSQL, and `iamd audit`. Whatever the move, every user, key and
device keeps working — codes still verify and a code used before the move is refused after it.

The backup test always runs on the embedded store; the migration test needs the PostgreSQL run
(scripts/with-postgres sets IAMD_TEST_DATABASE_URL)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pytest

import iamd_support as S
from iamd_support import expect_error

pytestmark = pytest.mark.slow


def iamd(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "IAMD_"))}
    clean.update(env or {})
    return subprocess.run([S.iamd_binary(), *args], capture_output=True, text=True, env=clean, timeout=120)


@dataclass
class Enrolled:
    """A user with an access key and an enabled device, and the last code STS accepted."""

    name: str
    creds: S.Creds
    serial: str
    totp: S.Totp
    used_step: int


def enrol(endpoint: str) -> Enrolled:
    iam = S.make_client("iam", endpoint)
    name = S.unique("keep")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    creds = S.Creds(key["AccessKeyId"], key["SecretAccessKey"])
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]
    totp = S.Totp(device["Base32StringSeed"])
    # Enabled with codes two steps old, so that the previous step's code is the next one STS
    # can accept, and the current step's code stays unused for after the move.
    step = S.step_of(S.wait_for_step_margin(20))
    pair = totp.pair_at_step(step - 2)
    iam.enable_mfa_device(UserName=name, SerialNumber=device["SerialNumber"],
                          AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)
    S.make_client("sts", endpoint, creds).get_session_token(
        SerialNumber=device["SerialNumber"], TokenCode=totp.code_at_step(step - 1))
    return Enrolled(name, creds, device["SerialNumber"], totp, step - 1)


# What `enrol` changes about its user, newest first, as the audit trail lists it.
CALLS_OF_ENROL = ["iam:EnableMFADevice", "iam:CreateAccessKey", "iam:CreateUser"]


def check_still_works(endpoint: str, who: Enrolled) -> None:
    sts = S.make_client("sts", endpoint, who.creds)
    assert sts.get_caller_identity()["Arn"] == S.user_arn(who.name)
    devices = S.make_client("iam", endpoint).list_mfa_devices(UserName=who.name)["MFADevices"]
    assert [d["SerialNumber"] for d in devices] == [who.serial]
    with expect_error("AccessDenied", 403, S.MSG_STS_BAD_CODE):
        sts.get_session_token(SerialNumber=who.serial, TokenCode=who.totp.code_at_step(who.used_step))
    fresh = sts.get_session_token(SerialNumber=who.serial, TokenCode=who.totp.code_at_step(who.used_step + 1))
    session = fresh["Credentials"]
    assert S.make_client("sts", endpoint, S.Creds(session["AccessKeyId"], session["SecretAccessKey"],
                                                   session["SessionToken"])).get_caller_identity()


def embedded(tmp_path: Path, name: str) -> S.IamdServer:
    return S.IamdServer(tmp_path / name, tmp_path / f"{name}.log", name=name, storage=[])


def test_backup_while_serving_then_restore(tmp_path):
    source = embedded(tmp_path, "source").start()
    try:
        who = enrol(source.endpoint)
        # Writes go on during the backup; the copy is one consistent snapshot all the same.
        stop = threading.Event()
        iam = S.make_client("iam", source.endpoint)

        def keep_writing():
            while not stop.is_set():
                iam.create_user(UserName=S.unique("busy"))

        writer = threading.Thread(target=keep_writing)
        writer.start()
        try:
            backup = tmp_path / "iamd-backup.db"
            out = iamd("backup", "--data-dir", str(source.data_dir), "--out", str(backup))
        finally:
            stop.set()
            writer.join()
        assert out.returncode == 0, out.stderr
        assert "Backed up" in out.stdout and "master key" in out.stdout
        assert backup.stat().st_mode & 0o777 == 0o600
        again = iamd("backup", "--data-dir", str(source.data_dir), "--out", str(backup))
        assert again.returncode != 0 and "exists" in again.stderr
    finally:
        source.stop()

    target_dir = tmp_path / "restored"
    no_key = iamd("restore", "--from", str(backup), "--data-dir", str(target_dir))
    assert no_key.returncode != 0 and "master key" in no_key.stderr
    wrong = iamd("restore", "--from", str(backup), "--data-dir", str(target_dir),
                 env={"IAMD_MASTER_KEY": "00" * 32})
    assert wrong.returncode != 0 and "does not open" in wrong.stderr
    assert not (target_dir / "iamd.db").exists()

    shutil.copy(source.data_dir / "master.key", target_dir / "master.key")
    restored = iamd("restore", "--from", str(backup), "--data-dir", str(target_dir))
    assert restored.returncode == 0, restored.stderr
    assert "Restored" in restored.stdout
    twice = iamd("restore", "--from", str(backup), "--data-dir", str(target_dir))
    assert twice.returncode != 0 and "already holds a database" in twice.stderr

    server = S.IamdServer(target_dir, tmp_path / "restored.log", name="restored", storage=[]).start()
    try:
        check_still_works(server.endpoint, who)
    finally:
        server.stop()

    trail = iamd("audit", "--data-dir", str(target_dir), "--user", who.name.upper(), "--since", "1h",
                 "--format", "json")
    assert trail.returncode == 0, trail.stderr
    events = [json.loads(line) for line in trail.stdout.splitlines()]
    checks = [e for e in events if e["event"] == "sign-in"]
    assert [(e["kind"], e["outcome"]) for e in checks] == [("sts-session", "success"),
                                                            ("sts-session", "failure"),
                                                            ("sts-session", "success")]
    assert {e["user_name"] for e in checks} == {who.name}
    # The calls that made the user came back with the backup, after them the refused reused code.
    calls = [(e["action"], e["outcome"]) for e in events if e["event"] == "call"]
    assert calls == [("sts:GetSessionToken", "denied")] + [(a, "success") for a in CALLS_OF_ENROL]


def test_backup_refuses_what_is_not_there(tmp_path):
    out = iamd("backup", "--data-dir", str(tmp_path / "nothing"), "--out", str(tmp_path / "b.db"))
    assert out.returncode != 0 and "no database here" in out.stderr
    assert not (tmp_path / "b.db").exists()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 1000)
    out = iamd("restore", "--from", str(junk), "--data-dir", str(tmp_path / "target"))
    assert out.returncode != 0 and "not a sound iamd database" in out.stderr


@pytest.fixture
def empty_postgres_database():
    admin = os.environ.get("IAMD_TEST_DATABASE_URL")
    if not admin:
        pytest.skip("needs PostgreSQL (scripts/with-postgres sets IAMD_TEST_DATABASE_URL)")
    name = "iamd_migrate_" + S.unique("db").lower().replace("-", "_")
    subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{name}"'], capture_output=True, check=True)
    yield urllib.parse.urlunsplit(urllib.parse.urlsplit(admin)._replace(path="/" + name))
    subprocess.run(["psql", admin, "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], capture_output=True)


def test_migrate_to_postgres_keeps_devices_working(tmp_path, empty_postgres_database):
    url = empty_postgres_database
    source = embedded(tmp_path, "embedded").start()
    try:
        who = enrol(source.endpoint)
    finally:
        source.stop()

    moved = iamd("migrate", "--from", str(source.data_dir), "--to", url)
    assert moved.returncode == 0, moved.stderr
    assert "Moved" in moved.stdout and "mfa_devices" in moved.stdout
    refused = iamd("migrate", "--from", str(source.data_dir), "--to", url)
    assert refused.returncode != 0 and "not empty" in refused.stderr

    key = (source.data_dir / "master.key").read_text().strip()
    server = S.IamdServer(tmp_path / "pg-node", tmp_path / "pg-node.log", name="pg-node",
                          storage=["--database-url", url], extra_env={"IAMD_MASTER_KEY": key}).start()
    try:
        check_still_works(server.endpoint, who)
    finally:
        server.stop()
    trail = iamd("audit", "--database-url", url, "--user", who.name, "--format", "json")
    assert trail.returncode == 0, trail.stderr
    events = [json.loads(line) for line in trail.stdout.splitlines()]
    assert [e["kind"] for e in events if e["event"] == "sign-in"] == ["sts-session"] * 3
    calls = [(e["action"], e["outcome"]) for e in events if e["event"] == "call"]
    assert calls == [("sts:GetSessionToken", "denied")] + [(a, "success") for a in CALLS_OF_ENROL]
