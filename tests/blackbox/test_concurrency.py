"""Races: exactly-one semantics under concurrent requests."""

from collections import Counter

import iamd_support as S

N = 20


def test_enable_one_device_for_20_users(iam, make_user, make_device, client_factory):
    users = [make_user(f"race{i}") for i in range(N)]
    dev = make_device()
    clients = [client_factory("iam") for _ in range(N)]  # built up front: boto3 sessions are not thread-safe
    pair = dev.totp.current_pair()

    def call(client, user):
        return lambda: client.enable_mfa_device(UserName=user.name, SerialNumber=dev.serial,
                                                AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)

    results = S.race([call(c, u) for c, u in zip(clients, users)])
    counts = S.summarize(results)
    assert counts == Counter({"ok": 1, "EntityAlreadyExists/409": N - 1}), counts
    for kind, v in results:
        if kind == "err":
            S.check_error(v, "EntityAlreadyExists", 409, S.MSG_IN_USE)

    winner = [u for u, (kind, _) in zip(users, results) if kind == "ok"][0]
    entry = S.find_virtual(iam, dev.serial, "Assigned")
    assert entry["User"]["UserName"] == winner.name
    owners = [u.name for u in users if iam.list_mfa_devices(UserName=u.name)["MFADevices"]]
    assert owners == [winner.name]


def test_create_same_user_20_times(iam, client_factory):
    name = S.unique("same")
    clients = [client_factory("iam") for _ in range(N)]
    results = S.race([lambda c=c: c.create_user(UserName=name) for c in clients])
    counts = S.summarize(results)
    assert counts == Counter({"ok": 1, "EntityAlreadyExists/409": N - 1}), counts
    for kind, v in results:
        if kind == "err":
            S.check_error(v, "EntityAlreadyExists", 409, S.msg_user_exists(name))
    assert [u["UserName"] for u in S.list_all(iam, "list_users") if u["UserName"] == name] == [name]


def test_create_same_user_mixed_case(iam, client_factory):
    base = S.unique("mixed")
    variants = [base.upper() if i % 2 else base for i in range(10)]
    clients = [client_factory("iam") for _ in variants]
    results = S.race([lambda c=c, n=n: c.create_user(UserName=n) for c, n in zip(clients, variants)])
    counts = S.summarize(results)
    assert counts == Counter({"ok": 1, "EntityAlreadyExists/409": 9}), counts


def test_create_same_device_20_times(iam, client_factory):
    name = S.unique("samedev")
    clients = [client_factory("iam") for _ in range(N)]
    results = S.race([lambda c=c: c.create_virtual_mfa_device(VirtualMFADeviceName=name) for c in clients])
    counts = S.summarize(results)
    assert counts == Counter({"ok": 1, "EntityAlreadyExists/409": N - 1}), counts
    assert S.find_virtual(iam, S.mfa_arn(name)) == {"SerialNumber": S.mfa_arn(name)}


def test_concurrent_access_keys_respect_quota(iam, make_user, client_factory):
    user = make_user("akrace")
    clients = [client_factory("iam") for _ in range(10)]
    results = S.race([lambda c=c: c.create_access_key(UserName=user.name) for c in clients])
    counts = S.summarize(results)
    assert counts == Counter({"ok": 2, "LimitExceeded/409": 8}), counts
    assert len(iam.list_access_keys(UserName=user.name)["AccessKeyMetadata"]) == 2


def test_concurrent_enables_respect_device_quota(iam, make_user, make_device, client_factory):
    user = make_user("mfarace")
    devs = [make_device() for _ in range(12)]
    clients = [client_factory("iam") for _ in devs]
    pairs = [d.totp.current_pair() for d in devs]

    results = S.race([
        lambda c=c, d=d, p=p: c.enable_mfa_device(UserName=user.name, SerialNumber=d.serial,
                                                  AuthenticationCode1=p.code1, AuthenticationCode2=p.code2)
        for c, d, p in zip(clients, devs, pairs)
    ])
    counts = S.summarize(results)
    assert counts == Counter({"ok": 8, "LimitExceeded/409": 4}), counts
    assert len(iam.list_mfa_devices(UserName=user.name)["MFADevices"]) == 8


def test_concurrent_tagging_respects_limit(iam, make_device, client_factory):
    dev = make_device()
    iam.tag_mfa_device(SerialNumber=dev.serial, Tags=[{"Key": f"base{i}", "Value": ""} for i in range(40)])
    clients = [client_factory("iam") for _ in range(6)]
    # each request adds 5 new keys: only two can fit under 50
    results = S.race([
        lambda c=c, i=i: c.tag_mfa_device(SerialNumber=dev.serial,
                                          Tags=[{"Key": f"r{i}-{j}", "Value": ""} for j in range(5)])
        for i, c in enumerate(clients)
    ])
    counts = S.summarize(results)
    assert counts == Counter({"ok": 2, "LimitExceeded/409": 4}), counts
    assert len(S.list_all(iam, "list_mfa_device_tags", SerialNumber=dev.serial)) == 50
