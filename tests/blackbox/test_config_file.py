"""`iamd serve --config FILE` (or IAMD_CONFIG): serve's settings from a TOML file under the long
flag names; a flag beats its environment variable, which beats the file."""

import json
import os
import subprocess
import time
from pathlib import Path

import requests

import iamd_support as S


def _clean_env(**variables) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "IAMD_"))}
    env.update(variables)
    return env


def _toml(settings: dict) -> str:
    # A JSON string of printable ASCII is a TOML basic string.
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items())


def _healthy(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _serve(tmp_path: Path, settings_for_ports, args_for_ports=lambda ports: [], env_for_ports=lambda ports: {},
           answering=0):
    """Starts `iamd serve` from a config file; each callable gets three free ports. Returns the
    process, the ports and the log once the server answers /health on ports[answering] (retried
    on new ports if one was taken meanwhile)."""
    config = tmp_path / "iamd.toml"
    log = tmp_path / "iamd.log"
    for _attempt in range(3):
        ports = [S.free_port() for _ in range(3)]
        config.write_text(_toml(settings_for_ports(ports)))
        config.chmod(0o600)
        with open(log, "wb") as out:
            proc = subprocess.Popen([S.iamd_binary(), "serve", *args_for_ports(ports)], stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, env=_clean_env(**env_for_ports(ports)))
        deadline = time.time() + 30
        while proc.poll() is None and time.time() < deadline and not _healthy(ports[answering]):
            time.sleep(0.05)
        if proc.poll() is None and _healthy(ports[answering]):
            return proc, ports, log
        proc.kill()
        proc.wait(10)
        if "Address already in use" not in log.read_text():
            break
    raise AssertionError(f"iamd did not start from {config}:\n{log.read_text()[-4000:]}")


def _stop(proc):
    proc.terminate()
    proc.wait(15)


def _file_settings(tmp_path: Path, port: int) -> dict:
    return {
        "listen": f"127.0.0.1:{port}",
        "data-dir": str(tmp_path / "data"),
        "account-id": S.ACCOUNT_ID,
        "root-access-key-id": S.ROOT_ACCESS_KEY_ID,
        "root-secret-access-key": S.ROOT_SECRET_ACCESS_KEY,
        "log-format": "json",
    }


def test_serve_takes_its_settings_from_the_file_alone(tmp_path):
    config = tmp_path / "iamd.toml"
    proc, ports, log = _serve(tmp_path, lambda ports: _file_settings(tmp_path, ports[0]),
                              args_for_ports=lambda ports: ["--config", str(config)])
    try:
        endpoint = f"http://127.0.0.1:{ports[0]}"
        assert S.make_client("sts", endpoint).get_caller_identity()["Arn"] == S.ROOT_ARN
        assert (tmp_path / "data" / "iamd.db").exists()
    finally:
        _stop(proc)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert any(line.get("config") == str(config) for line in lines), lines
    assert S.ROOT_SECRET_ACCESS_KEY not in log.read_text()


def test_the_environment_overrides_the_file_and_a_flag_the_environment(tmp_path):
    config = tmp_path / "iamd.toml"
    # IAMD_CONFIG names the file; IAMD_LISTEN beats the file's listen (ports[0]).
    proc, ports, _log = _serve(tmp_path, lambda ports: _file_settings(tmp_path, ports[0]),
                               env_for_ports=lambda ports: {"IAMD_CONFIG": str(config),
                                                            "IAMD_LISTEN": f"127.0.0.1:{ports[1]}"},
                               answering=1)
    try:
        assert not _healthy(ports[0])
        assert S.make_client("sts", f"http://127.0.0.1:{ports[1]}").get_caller_identity()["Arn"] == S.ROOT_ARN
    finally:
        _stop(proc)
    proc, ports, _log = _serve(tmp_path, lambda ports: _file_settings(tmp_path, ports[0]),
                               args_for_ports=lambda ports: ["--config", str(config),
                                                             "--listen", f"127.0.0.1:{ports[2]}"],
                               env_for_ports=lambda ports: {"IAMD_LISTEN": f"127.0.0.1:{ports[1]}"},
                               answering=2)
    try:
        assert not _healthy(ports[0]) and not _healthy(ports[1])
    finally:
        _stop(proc)


def test_a_bad_config_file_stops_start_up_naming_the_file_and_key(tmp_path):
    config = tmp_path / "iamd.toml"
    config.write_text(_toml({"data-dir": str(tmp_path / "data"), "lisen": "127.0.0.1:1",
                             "root-secret-access-key": S.ROOT_SECRET_ACCESS_KEY}))
    out = subprocess.run([S.iamd_binary(), "serve", "--config", str(config)], capture_output=True, text=True,
                         env=_clean_env(), timeout=30)
    assert out.returncode == 2, out
    assert f"config file {config}: unknown key `lisen` (did you mean `listen`?)" in out.stderr, out.stderr
    assert "panicked" not in out.stderr and S.ROOT_SECRET_ACCESS_KEY not in out.stdout + out.stderr
    assert not (tmp_path / "data").exists()
