"""A full disk under the embedded store (issue #13): writes fail with a clear 503
`ServiceUnavailable`, reads go on, `/health` says the node cannot take writes, nothing
acknowledged is lost, and iamd recovers by itself once space returns. Needs a small tmpfs
(mounting one needs root); skipped, saying so, where it cannot be mounted."""

import os
import subprocess
import urllib.error
import urllib.request

import pytest

import iamd_support as S


pytestmark = pytest.mark.skipif(
    bool(os.environ.get("IAMD_TEST_DATABASE_URL")),
    reason="the embedded store's disk: with PostgreSQL, the database is not in the data directory",
)


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def health(srv) -> int:
    try:
        with urllib.request.urlopen(f"{srv.endpoint}/health", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_disk_full_then_space_returns(small_disk, server_factory):
    srv = server_factory("diskfull", data_dir=small_disk / "data", extra_env={"IAMD_MIN_FREE_DISK_MB": "1"})
    iam = S.make_client("iam", srv.endpoint)
    assert health(srv) == 200
    # Leave a little room, then fill it with users carrying large tags.
    filler = small_disk / "filler"
    stat = os.statvfs(small_disk)
    free = stat.f_bavail * stat.f_frsize
    with open(filler, "wb") as f:
        f.write(b"\0" * max(free - 400 * 1024, 0))
    tags = [{"Key": f"k{i}", "Value": "v" * 256} for i in range(50)]
    acknowledged, refused = [], None
    for i in range(400):
        name = f"full-{i}"
        try:
            iam.create_user(UserName=name, Tags=tags)
            acknowledged.append(name)
        except S.ClientError as e:
            refused = e
            break
    assert refused is not None, "the disk never filled"
    assert S.error_code(refused) == "ServiceUnavailable", refused.response
    assert refused.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert health(srv) == 503
    # Reads go on, and everything acknowledged is there.
    for name in acknowledged:
        assert iam.get_user(UserName=name)["User"]["UserName"] == name
    # Space returns: iamd takes writes again without a restart.
    filler.unlink()
    iam.create_user(UserName="after-space-returns")
    assert health(srv) == 200
    assert iam.get_user(UserName="after-space-returns")["User"]["UserName"] == "after-space-returns"
