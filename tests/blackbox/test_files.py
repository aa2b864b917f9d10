"""Files (issue #13.8): the data directory is 0700 and every file in it 0600, whatever the
umask, including the SQLite WAL and shared-memory files created while iamd runs; text typed in
the sign-in user-name field is neither logged nor stored unless such a user exists."""

import os
import re
import stat

import requests

import iamd_support as S


def _modes(data_dir):
    modes = {".": stat.S_IMODE(os.stat(data_dir).st_mode)}
    for entry in os.scandir(data_dir):
        modes[entry.name] = stat.S_IMODE(entry.stat(follow_symlinks=False).st_mode)
    return modes


def _start_with_umask(server_factory, name, data_dir, umask):
    previous = os.umask(umask)  # inherited by the iamd child process
    try:
        return server_factory(name, data_dir=data_dir)
    finally:
        os.umask(previous)


def _writes(srv):
    iam = S.make_client("iam", srv.endpoint)
    user = iam.create_user(UserName=S.unique("files"))["User"]["UserName"]
    iam.create_access_key(UserName=user)
    iam.create_login_profile(UserName=user, Password="Files-Horse-42!")
    iam.tag_user(UserName=user, Tags=[{"Key": "k", "Value": "v"}])


def test_data_dir_is_0700_and_its_files_0600_whatever_the_umask(server_factory, tmp_path):
    data = tmp_path / "private"
    for round_, umask in enumerate([0o000, 0o022]):
        srv = _start_with_umask(server_factory, f"files-{round_}", data, umask)
        _writes(srv)
        modes = _modes(data)
        if not os.environ.get("IAMD_TEST_DATABASE_URL"):
            # The embedded store: the database and, in WAL mode, its companions while running.
            assert {"iamd.db", "iamd.db-wal", "iamd.db-shm"} <= modes.keys(), modes
        assert "master.key" in modes, modes
        assert modes.pop(".") == 0o700, f"data directory mode {oct(_modes(data)['.'])} (umask {oct(umask)})"
        loose = {name: oct(mode) for name, mode in modes.items() if mode != 0o600}
        assert not loose, f"files not 0600 with umask {oct(umask)}: {loose}"
        srv.stop()


def test_unknown_user_names_are_not_logged_or_kept(server_factory, tmp_path):
    srv = server_factory("files-signin", data_dir=tmp_path / "signin")
    pasted = "hunter2-Correct-Horse"
    session = requests.Session()
    page = session.get(srv.endpoint + "/signin", timeout=10)
    csrf = re.search(r'name="csrf" value="([^"]*)"', page.text).group(1)
    form = {"csrf": csrf, "account_id": S.ACCOUNT_ID, "user_name": pasted, "password": "x"}
    r = session.post(srv.endpoint + "/signin", data=form, timeout=10, allow_redirects=False)
    assert r.status_code == 401
    srv.stop()
    log = srv.log_text()
    assert "sign-in event" in log, log[-4000:]
    assert pasted not in log, "the typed user name reached the log"
    assert re.search(r"unknown:[0-9a-f]{8}", log), log[-4000:]
    if not os.environ.get("IAMD_TEST_DATABASE_URL"):
        for entry in os.scandir(tmp_path / "signin"):
            with open(entry.path, "rb") as f:
                assert pasted.encode() not in f.read(), f"the typed user name is stored in {entry.name}"
