"""The audit trail of calls, read back with `iamd audit`: every change made with boto3 or in the
console is recorded (time, request id, caller, action, target, source, origin) beside the sign-in
checks, a refused call too, and nothing secret is ever written. Runs on the suite's backend (the
PostgreSQL pass reads the server's own database)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess

import pytest
import requests

import iamd_support as S

PASSWORD = "Audit-Horse-9!xy"
CSRF_RE = re.compile(r'name="csrf" value="([^"]*)"')


def audit(server: S.IamdServer, *args: str) -> list[str]:
    """`iamd audit` on the server's store (its data directory, or its PostgreSQL database)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "IAMD_"))}
    storage = S.database_args(server.data_dir) if server.storage is None else server.storage
    storage = storage or ["--data-dir", str(server.data_dir)]
    out = subprocess.run([S.iamd_binary(), "audit", *storage, *args],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def calls(server: S.IamdServer, user: str) -> list[dict]:
    events = [json.loads(line) for line in audit(server, "--user", user, "--format", "json")]
    return [e for e in events if e["event"] == "call"]


def request_id(response: dict) -> str:
    return response["ResponseMetadata"]["RequestId"]


def console_sign_in(endpoint: str, user: str) -> requests.Session:
    http = requests.Session()
    page = http.get(endpoint + "/signin", timeout=60)
    csrf = CSRF_RE.search(page.text).group(1)
    form = {"csrf": csrf, "account_id": S.ACCOUNT_ID, "user_name": user, "password": PASSWORD}
    signed_in = http.post(endpoint + "/signin", data=form, allow_redirects=False, timeout=60)
    assert signed_in.status_code == 303, signed_in.text
    return http


def test_changes_and_refusals_through_the_api_and_the_console(iamd_server, iam, make_device, client_factory):
    endpoint = iamd_server.endpoint
    name = S.unique("audited")
    created = iam.create_user(UserName=name)
    device = make_device(name=name)
    pair = device.totp.current_pair()
    enabled = iam.enable_mfa_device(UserName=name, SerialNumber=device.serial,
                                    AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)
    iam.create_login_profile(UserName=name, Password=PASSWORD, PasswordResetRequired=False)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    iam.list_mfa_devices(UserName=name)  # a read: not recorded

    # Someone holding the user's key, before it is given any permission: refused, and recorded.
    thief = client_factory("iam", S.Creds(key["AccessKeyId"], key["SecretAccessKey"]))
    with S.expect_error("AccessDenied", 403):
        thief.create_user(UserName=S.unique("backdoor"))
    with S.expect_error("AccessDenied", 403):
        thief.list_users()

    # The user in the console: signed in without a code (the code is checked by the sign-in
    # trail), creates an access key for itself.
    iam.deactivate_mfa_device(UserName=name, SerialNumber=device.serial)
    S.grant_self_service(iam, name)
    browser = console_sign_in(endpoint, name)
    page = browser.get(endpoint + "/console/security", timeout=60)
    assert page.status_code == 200, page.text
    made = browser.post(endpoint + "/console/security/keys", data={"csrf": CSRF_RE.search(page.text).group(1)},
                        allow_redirects=False, timeout=60)
    assert made.status_code == 200, made.text
    assert len(iam.list_access_keys(UserName=name)["AccessKeyMetadata"]) == 2

    events = calls(iamd_server, name)
    actions = [(e["action"], e["outcome"], e["origin"]) for e in events]
    # Newest first; the console's own reads (the page's lists) are not recorded.
    assert actions == [
        ("iam:CreateAccessKey", "success", "console"),
        ("iam:PutUserPolicy", "success", "api"),
        ("iam:DeactivateMFADevice", "success", "api"),
        ("iam:ListUsers", "denied", "api"),
        ("iam:CreateUser", "denied", "api"),
        ("iam:CreateAccessKey", "success", "api"),
        ("iam:CreateLoginProfile", "success", "api"),
        ("iam:EnableMFADevice", "success", "api"),
        ("iam:CreateUser", "success", "api"),
    ], actions
    by_action = {(e["action"], e["outcome"], e["origin"]): e for e in events}
    user_arn = S.user_arn(name)
    root_arn = f"arn:aws:iam::{S.ACCOUNT_ID}:root"

    create = by_action[("iam:CreateUser", "success", "api")]
    assert create["request_id"] == request_id(created)
    assert (create["caller"], create["caller_user"], create["target"], create["target_user"]) == \
        (root_arn, None, f"UserName={name}", name)
    assert create["source"] == "127.0.0.1"
    S.assert_recent(dt.datetime.fromisoformat(create["at"].replace("Z", "+00:00")))

    enable = by_action[("iam:EnableMFADevice", "success", "api")]
    assert enable["request_id"] == request_id(enabled)
    assert enable["target"] == f"UserName={name} SerialNumber={device.serial}"

    denied = by_action[("iam:CreateUser", "denied", "api")]
    assert (denied["caller"], denied["caller_user"]) == (user_arn, name)
    assert denied["target"].startswith("UserName=backdoor")
    listing = by_action[("iam:ListUsers", "denied", "api")]
    assert (listing["caller"], listing["target"], listing["target_user"]) == (user_arn, "", None)

    console = by_action[("iam:CreateAccessKey", "success", "console")]
    assert (console["caller"], console["caller_user"], console["target_user"]) == (user_arn, name, name)
    assert console["request_id"] and console["request_id"] != request_id(created)

    # Never a secret: not the codes, the password, the secret key or the policy document.
    everything = "\n".join(audit(iamd_server, "--user", name, "--format", "json"))
    for secret in (pair.code1, pair.code2, PASSWORD, key["SecretAccessKey"], "ManageOwnCredentialsAndMFA"):
        assert secret not in everything

    # The console sign-in is in the same listing, which is in time order (newest first).
    merged = [json.loads(line) for line in audit(iamd_server, "--user", name, "--format", "json")]
    assert [(e["kind"], e["outcome"]) for e in merged if e["event"] == "sign-in"] == [("console-password", "success")]
    assert len(merged) == len(events) + 1
    assert [e["at"] for e in merged] == sorted((e["at"] for e in merged), reverse=True)

    # Text, a limit, and a name in another case.
    text = audit(iamd_server, "--user", name.upper(), "--limit", "2")
    assert len(text) == 2
    assert "iam:CreateAccessKey" in text[0] and "console" in text[0] and user_arn in text[0]


def test_a_caller_finds_what_it_did_to_others(iamd_server, iam, make_user):
    admin = make_user("auditor", with_key=True)
    iam.attach_user_policy(UserName=admin.name, PolicyArn="arn:aws:iam::aws:policy/IAMFullAccess")
    as_admin = S.make_client("iam", iamd_server.endpoint, admin.creds)
    victim = S.unique("target")
    as_admin.create_user(UserName=victim)
    as_admin.put_user_policy(UserName=victim, PolicyName="inline",
                             PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
                                            '"Action":"iam:GetUser","Resource":"*"}]}')
    mine = calls(iamd_server, admin.name)
    assert [(e["action"], e["target"]) for e in mine[:2]] == [
        ("iam:PutUserPolicy", f"UserName={victim} PolicyName=inline"),
        ("iam:CreateUser", f"UserName={victim}"),
    ]
    theirs = calls(iamd_server, victim)
    assert [e["caller"] for e in theirs] == [admin.arn, admin.arn]
    assert all(e["caller_user"] == admin.name and e["target_user"] == victim for e in theirs)
