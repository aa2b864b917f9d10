"""A few seconds of the load generator (real SigV4, keep-alive connections, every scenario of the
mix) against the real server: it must see zero errors. Throughput is not asserted; benchmarks are
run by hand (BENCHMARKS.md)."""

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
