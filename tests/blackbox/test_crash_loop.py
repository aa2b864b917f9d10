"""Crash loop (issue 13): SIGKILL iamd a few times under concurrent writes; after every restart
every acknowledged write is present and no TOTP code was accepted twice. On PostgreSQL (the second
pass of scripts/test, under scripts/with-postgres) two of the iterations crash PostgreSQL too.
The long run is `scripts/crash-loop --iterations 100` (crash_loop.py has the details)."""

import os

import pytest

import crash_loop

pytestmark = pytest.mark.slow

ITERATIONS = 5


def test_crash_loop(tmp_path):
    lines = []
    cfg = crash_loop.Config(iterations=ITERATIONS, pg_restart_every=2, seed=13, out=lines.append)
    try:
        stats = crash_loop.run(cfg, tmp_path)
    finally:
        print("\n".join(lines))
    assert stats.iterations == ITERATIONS
    assert stats.duplicates == 0
    # the loop checked something: writes were acknowledged under load, codes were accepted
    assert stats.users_acknowledged > 0
    assert stats.users_verified + stats.deletes_in_flight == stats.users_acknowledged
    assert stats.deletes_verified == stats.deletes_acknowledged > 0
    assert stats.enables_verified == stats.enables_acknowledged > 0
    assert stats.codes_accepted > 0 and stats.replays_refused >= stats.codes_accepted
    if os.environ.get("IAMD_TEST_DATABASE_URL") and os.environ.get("IAMD_PG_CTL"):
        assert stats.pg_restarts == 2
