"""A few seconds of the load generator (real SigV4, keep-alive connections, every scenario of the
mix) against the real server: it must see zero errors. Throughput is not asserted; benchmarks are
run by hand (BENCHMARKS.md)."""

import json
import os
import subprocess
from pathlib import Path

import pytest

import iamd_support as S


def bench_binary() -> Path:
    return Path(S.iamd_binary()).with_name("iamd-bench")


@pytest.mark.slow
def test_load_generator_mix_runs_without_errors(server_factory):
    binary = bench_binary()
    if not binary.exists():
        pytest.skip(f"{binary} not built")
    server = server_factory("bench-smoke")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=S.ROOT_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=S.ROOT_SECRET_ACCESS_KEY)
    run = subprocess.run(
        [str(binary), "--endpoint", server.endpoint, "--scenario", "mix", "--connections", "4", "--duration", "2s"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"


def _bench(binary, *args, timeout=120):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=S.ROOT_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=S.ROOT_SECRET_ACCESS_KEY)
    return subprocess.run([str(binary), *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_seeded_logins_and_cpu_accounting(server_factory, tmp_path):
    """`seed --credentials-from` users sign in with fresh codes (session-mfa) and are refused
    with wrong ones (session-mfa-wrong-code, where the refusal is the success); `--server-pid`
    reports the server's CPU; `--caller-policies` reads as a user holding policies."""
    binary = bench_binary()
    if not binary.exists():
        pytest.skip(f"{binary} not built")
    if os.environ.get("IAMD_TEST_DATABASE_URL"):
        pytest.skip("the seeder writes the embedded store only")
    data = tmp_path / "seeded"
    server_factory("seed-init", data_dir=data).stop()
    seeded = _bench(binary, "seed", "--data-dir", str(data), "--users", "300", "--credentials-from", "smoke")
    assert seeded.returncode == 0, seeded.stderr
    server = server_factory("seeded", data_dir=data)
    pid = str(server.proc.pid)
    for scenario in ("session-mfa", "session-mfa-wrong-code"):
        run = _bench(binary, "--endpoint", server.endpoint, "--scenario", scenario, "--seeded-users", "300",
                     "--credentials-from", "smoke", "--connections", "4", "--duration", "1s", "--json",
                     "--server-pid", pid)
        assert run.returncode == 0, f"{scenario}: {run.stdout}\n{run.stderr}"
        report = json.loads(run.stdout)
        assert report["ops"] > 0 and report["error_total"] == 0, report
        assert report["server_cpu_seconds"] > 0 and report["server_cpu_us_per_request"] > 0, report
    # Secrets derived from another text do not match the seeded keys.
    wrong = _bench(binary, "--endpoint", server.endpoint, "--scenario", "session-mfa", "--seeded-users", "10",
                   "--credentials-from", "other", "--connections", "1", "--duration", "500ms", "--json")
    assert wrong.returncode == 1 and "SignatureDoesNotMatch" in wrong.stdout, wrong.stdout
    policies = _bench(binary, "--endpoint", server.endpoint, "--scenario", "get-user", "--caller-policies", "3",
                      "--connections", "2", "--duration", "500ms")
    assert policies.returncode == 0, f"{policies.stdout}\n{policies.stderr}"
