"""Installing and running iamd as a service: `iamd --version`, `iamd health` (the container's
health check), generated root credentials kept out of logs, and the systemd unit and Dockerfile
kept consistent with the binary."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import tomllib
from pathlib import Path

import pytest
import requests

import iamd_support as S

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "IAMD_"))}
    clean.update(env or {})
    return subprocess.run([S.iamd_binary(), *args], capture_output=True, text=True, env=clean, timeout=60)


def test_version_is_the_workspace_version():
    version = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["package"]["version"]
    out = run("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"iamd {version}"


def test_health_asks_the_running_server(iamd_server):
    port = iamd_server.port
    ok = run("health", "--listen", f"127.0.0.1:{port}")
    assert ok.returncode == 0 and "healthy" in ok.stdout
    # A container listens on 0.0.0.0; the check asks loopback, and reads IAMD_LISTEN as serve does.
    assert run("health", env={"IAMD_LISTEN": f"0.0.0.0:{port}"}).returncode == 0
    closed = run("health", "--listen", f"127.0.0.1:{S.free_port()}")
    assert closed.returncode != 0 and "connecting to" in closed.stderr


def test_health_fails_on_an_unhealthy_answer(tmp_path):
    # Something that answers HTTP on the port, but not iamd's 200.
    port = S.free_port()
    server = subprocess.Popen(["python3", "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                requests.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        out = run("health", "--listen", f"127.0.0.1:{port}")
        assert out.returncode != 0 and "not healthy" in out.stderr and "404" in out.stderr
    finally:
        server.kill()
        server.wait()


def test_generated_root_credentials_stay_out_of_logs(tmp_path):
    """Under systemd or in a container standard output is a log: the generated secret goes only
    to the data directory's private file."""
    data = tmp_path / "data"
    log = tmp_path / "out.log"
    port = S.free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "IAMD_"))}
    with open(log, "wb") as out:
        proc = subprocess.Popen([S.iamd_binary(), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data)],
                                stdout=out, stderr=subprocess.STDOUT, env=clean)
    try:
        deadline = time.time() + 30
        while run("health", "--listen", f"127.0.0.1:{port}").returncode != 0:
            assert time.time() < deadline and proc.poll() is None, log.read_text()
            time.sleep(0.1)
        saved = dict(line.split("=", 1) for line in (data / "root-credentials").read_text().split())
        assert (data / "root-credentials").stat().st_mode & 0o777 == 0o600
        text = log.read_text()
        assert saved["AWS_SECRET_ACCESS_KEY"] not in text
        assert "saved to" in text and str(data / "root-credentials") in text
        creds = S.Creds(saved["AWS_ACCESS_KEY_ID"], saved["AWS_SECRET_ACCESS_KEY"])
        ident = S.make_client("sts", f"http://127.0.0.1:{port}", creds).get_caller_identity()
        assert ident["Arn"] == f"arn:aws:iam::{saved['IAMD_ACCOUNT_ID']}:root"
    finally:
        proc.terminate()
        proc.wait(15)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_unit_verifies(tmp_path):
    unit = (REPO / "packaging" / "iamd.service").read_text()
    assert "ExecStart=/usr/local/bin/iamd serve" in unit
    (tmp_path / "iamd.service").write_text(unit.replace("/usr/local/bin/iamd", S.iamd_binary()))
    out = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "iamd.service")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout + out.stderr == "", out.stdout + out.stderr


def test_dockerfile_matches_the_workspace():
    """No Docker daemon in CI: this keeps the image recipe in step with the code it builds."""
    docker = (REPO / "Dockerfile").read_text()
    rust_version = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["package"]["rust-version"]
    image = re.search(r"^FROM rust:(\d+\.\d+)-(\w+) AS build$", docker, re.M)
    runtime = re.search(r"^FROM debian:(\w+)-slim$", docker, re.M)
    assert image and runtime and image.group(2) == runtime.group(1), "build and runtime share one Debian release"
    assert tuple(map(int, image.group(1).split("."))) >= tuple(map(int, rust_version.split(".")))
    assert "cargo build --profile dist --locked -p iamd-server --bin iamd" in docker
    data_dir = re.search(r"IAMD_DATA_DIR=(\S+)", docker).group(1)
    assert f'VOLUME ["{data_dir}"]' in docker
    assert re.search(r"^USER (?!root)\w+", docker, re.M)
    assert 'CMD ["iamd", "health"]' in docker
    # Every flag the image relies on exists in this binary.
    serve_help = run("serve", "--help").stdout
    for variable in re.findall(r"\b(IAMD_[A-Z_]+)=", docker):
        assert variable in serve_help, variable
