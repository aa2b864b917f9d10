"""Durability (README §4): everything acknowledged survives kill -9; secrets
are not stored in plain text; SIGTERM is a clean shutdown."""

import base64
import os
import threading
import time
from pathlib import Path

import pytest

import iamd_support as S

pytestmark = pytest.mark.slow


def _all_files_bytes(root: Path) -> list[tuple[Path, bytes]]:
    out = []
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            try:
                out.append((p, p.read_bytes()))
            except OSError:
                pass
    return out


def test_kill9_and_restart_keeps_everything(server_factory, tmp_path):
    data = tmp_path / "durable"
    srv = server_factory("durable-1", data_dir=data)
    iam = S.make_client("iam", srv.endpoint)

    # --- build state ------------------------------------------------------
    alice = iam.create_user(UserName=S.unique("alice"), Path="/keep/",
                            Tags=[{"Key": "team", "Value": "red"}])["User"]
    bob = iam.create_user(UserName=S.unique("bob"))["User"]
    doomed = iam.create_user(UserName=S.unique("doomed"))["User"]
    iam.delete_user(UserName=doomed["UserName"])

    key = iam.create_access_key(UserName=alice["UserName"])["AccessKey"]
    inactive = iam.create_access_key(UserName=bob["UserName"])["AccessKey"]
    iam.update_access_key(UserName=bob["UserName"], AccessKeyId=inactive["AccessKeyId"], Status="Inactive")

    assigned = iam.create_virtual_mfa_device(VirtualMFADeviceName=S.unique("as"), Path="/keep/",
                                             Tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "1"}])
    assigned = assigned["VirtualMFADevice"]
    totp = S.Totp(assigned["Base32StringSeed"])
    pair = totp.current_pair()
    iam.enable_mfa_device(UserName=alice["UserName"], SerialNumber=assigned["SerialNumber"],
                          AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)
    iam.tag_mfa_device(SerialNumber=assigned["SerialNumber"], Tags=[{"Key": "c", "Value": "3"}])
    iam.untag_mfa_device(SerialNumber=assigned["SerialNumber"], TagKeys=["b"])

    spare = iam.create_virtual_mfa_device(VirtualMFADeviceName=S.unique("spare"))["VirtualMFADevice"]
    gone = iam.create_virtual_mfa_device(VirtualMFADeviceName=S.unique("gone"))["VirtualMFADevice"]
    iam.delete_virtual_mfa_device(SerialNumber=gone["SerialNumber"])

    before_devices = iam.list_mfa_devices(UserName=alice["UserName"])["MFADevices"]
    before_summary = S.summary(iam)
    before_users = {u["UserName"]: u for u in S.list_all(iam, "list_users")}

    # --- crash --------------------------------------------------------------
    srv.kill9()
    srv2 = server_factory("durable-2", data_dir=data)
    iam = S.make_client("iam", srv2.endpoint)

    # --- verify -------------------------------------------------------------
    after_users = {u["UserName"]: u for u in S.list_all(iam, "list_users")}
    assert after_users == before_users
    assert doomed["UserName"] not in after_users
    got = iam.get_user(UserName=alice["UserName"])["User"]
    assert got["Arn"] == alice["Arn"] and got["UserId"] == alice["UserId"]
    assert got["CreateDate"] == alice["CreateDate"]
    assert got.get("Tags") == [{"Key": "team", "Value": "red"}]

    assert iam.list_mfa_devices(UserName=alice["UserName"])["MFADevices"] == before_devices
    assert before_devices[0]["SerialNumber"] == assigned["SerialNumber"]

    entry = S.find_virtual(iam, assigned["SerialNumber"], "Assigned")
    assert entry["User"]["UserName"] == alice["UserName"]
    assert entry["EnableDate"] == before_devices[0]["EnableDate"]
    assert S.find_virtual(iam, spare["SerialNumber"], "Unassigned") == {"SerialNumber": spare["SerialNumber"]}
    assert S.find_virtual(iam, gone["SerialNumber"]) is None

    for d in S.all_virtual_devices(iam):
        assert "Base32StringSeed" not in d and "QRCodePNG" not in d

    assert iam.list_mfa_device_tags(SerialNumber=assigned["SerialNumber"])["Tags"] == [
        {"Key": "a", "Value": "1"}, {"Key": "c", "Value": "3"}]

    keys = iam.list_access_keys(UserName=bob["UserName"])["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(inactive["AccessKeyId"], "Inactive")]

    # the access key secret survived (encrypted) and still verifies signatures
    ident = S.make_client("sts", srv2.endpoint, S.Creds(key["AccessKeyId"], key["SecretAccessKey"])).get_caller_identity()
    assert ident["Arn"] == alice["Arn"]
    with pytest.raises(S.ClientError):
        S.make_client("sts", srv2.endpoint,
                      S.Creds(inactive["AccessKeyId"], inactive["SecretAccessKey"])).get_caller_identity()

    # the seed survived (encrypted) and still verifies codes
    p2 = totp.pair_at_step(pair.step + 2)
    iam.resync_mfa_device(UserName=alice["UserName"], SerialNumber=assigned["SerialNumber"],
                          AuthenticationCode1=p2.code1, AuthenticationCode2=p2.code2)

    after_summary = S.summary(iam)
    for k in ("Users", "MFADevices", "MFADevicesInUse"):
        assert after_summary[k] == before_summary[k], k


def test_secrets_not_stored_in_plain_text(server_factory, tmp_path):
    data = tmp_path / "secrets"
    srv = server_factory("secrets", data_dir=data)
    iam = S.make_client("iam", srv.endpoint)
    user = iam.create_user(UserName=S.unique("sec"))["User"]["UserName"]
    key = iam.create_access_key(UserName=user)["AccessKey"]
    seeds = [iam.create_virtual_mfa_device(VirtualMFADeviceName=S.unique("sec"))["VirtualMFADevice"]["Base32StringSeed"]
             for _ in range(3)]
    srv.kill9()
    needles = []
    for seed in seeds:
        needles += [seed, seed.lower(), base64.b32decode(seed), base64.b64encode(base64.b32decode(seed))]
    needles.append(key["SecretAccessKey"].encode())
    needles.append(S.ROOT_SECRET_ACCESS_KEY.encode())
    for path, blob in _all_files_bytes(data):
        for needle in needles:
            assert needle not in blob, f"secret found in plain text in {path}"
    # the log must not contain them either
    log = srv.log_text().encode()
    for needle in needles:
        assert needle not in log, "secret written to the server log"


def test_sigterm_is_graceful_and_data_persists(server_factory, tmp_path):
    data = tmp_path / "graceful"
    srv = server_factory("graceful-1", data_dir=data)
    iam = S.make_client("iam", srv.endpoint)
    name = S.unique("term")
    iam.create_user(UserName=name)
    t0 = time.time()
    rc = srv.stop(timeout=15)
    assert rc == 0, f"iamd exited with {rc} on SIGTERM"
    assert time.time() - t0 < 15
    srv2 = server_factory("graceful-2", data_dir=data)
    assert S.make_client("iam", srv2.endpoint).get_user(UserName=name)["User"]["UserName"] == name


def test_sigterm_under_write_load_finishes_what_it_accepted(server_factory, tmp_path):
    """SIGTERM while eight clients write: iamd stops taking connections, answers what it had
    started, commits the pending group, and exits 0 within its bound. Every write it
    acknowledged is there after a restart; no request got a 5xx for the shutdown."""
    data = tmp_path / "term-load"
    srv = server_factory("term-load-1", data_dir=data)
    acknowledged: list[str] = []
    server_errors: list[str] = []
    lock = threading.Lock()

    def write(worker: int):
        iam = S.make_client("iam", srv.endpoint)
        for i in range(100_000):
            name = f"load-{worker}-{i}-{S.unique('t')}"
            try:
                iam.create_user(UserName=name)
            except S.ClientError as e:
                if e.response["ResponseMetadata"]["HTTPStatusCode"] >= 500:
                    with lock:
                        server_errors.append(f"{name}: {e}")
                return
            except Exception:  # refused or closed connection: the server is going away
                return
            with lock:
                acknowledged.append(name)

    workers = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for w in workers:
        w.start()
    time.sleep(1.5)
    in_flight_before = len(acknowledged)
    t0 = time.time()
    rc = srv.stop(timeout=20)
    stopped_in = time.time() - t0
    for w in workers:
        w.join(30)
    assert rc == 0, f"iamd exited with {rc} on SIGTERM under load"
    assert stopped_in < 10, f"took {stopped_in:.1f} s to stop"
    assert not server_errors, server_errors[:3]
    assert in_flight_before > 20, "the load was not running"

    srv2 = server_factory("term-load-2", data_dir=data)
    present = {u["UserName"] for u in S.list_all(S.make_client("iam", srv2.endpoint), "list_users")}
    missing = [name for name in acknowledged if name not in present]
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged users lost: {missing[:3]}"


def test_restart_keeps_root_credentials_and_account(server_factory, tmp_path):
    data = tmp_path / "root"
    srv = server_factory("root-1", data_dir=data)
    srv.kill9()
    srv2 = server_factory("root-2", data_dir=data)
    ident = S.make_client("sts", srv2.endpoint).get_caller_identity()
    assert ident["Arn"] == S.ROOT_ARN and ident["Account"] == S.ACCOUNT_ID
