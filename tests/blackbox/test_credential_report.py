"""Who has MFA, who has an old key: GetAccessKeyLastUsed and the IAM credential report
(GenerateCredentialReport / GetCredentialReport), through boto3 and the AWS CLI."""

from __future__ import annotations

import base64
import csv
import io
import json
import time

import pytest

import iamd_support as S
from iamd_support import expect_error

COLUMNS = ("user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
           "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
           "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
           "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
           "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,"
           "cert_2_active,cert_2_last_rotated").split(",")


def last_used(iam, key_id: str, want_service: str | None = None) -> dict:
    """GetAccessKeyLastUsed, waiting a moment for a use that is written beside its request."""
    deadline = time.time() + 5
    while True:
        answer = iam.get_access_key_last_used(AccessKeyId=key_id)
        if want_service is None or answer["AccessKeyLastUsed"]["ServiceName"] == want_service \
                or time.time() > deadline:
            return answer
        time.sleep(0.05)


def test_a_key_tells_when_and_where_it_was_last_used(iam, make_user, client_factory):
    user = make_user("lu", with_key=True)
    fresh = iam.get_access_key_last_used(AccessKeyId=user.creds.access_key_id)
    assert fresh["UserName"] == user.name
    assert fresh["AccessKeyLastUsed"] == {"ServiceName": "N/A", "Region": "N/A"}

    before = S.utcnow()
    client_factory("sts", user.creds, region="eu-central-1").get_caller_identity()
    used = last_used(iam, user.creds.access_key_id, "sts")["AccessKeyLastUsed"]
    assert used["ServiceName"] == "sts" and used["Region"] == "eu-central-1"
    assert before.replace(microsecond=0) <= used["LastUsedDate"] <= S.utcnow()

    # AWS records the first use in any 15 minutes: a call to IAM now (refused, even) changes nothing.
    with expect_error("AccessDenied", 403):
        client_factory("iam", user.creds).list_users()
    time.sleep(0.3)
    assert last_used(iam, user.creds.access_key_id)["AccessKeyLastUsed"] == used


def test_who_may_ask_and_about_which_key(iam, make_user, client_factory):
    alice = make_user("lua", with_key=True)
    bob = make_user("lub", with_key=True)
    iam.put_user_policy(UserName=alice.name, PolicyName="own-keys", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:GetAccessKeyLastUsed",
                       "Resource": "arn:aws:iam::*:user/${aws:username}"}]}))
    mine = client_factory("iam", alice.creds)
    # A policy on her own user lets her read her keys' last use, not another's.
    mine.get_access_key_last_used(AccessKeyId=alice.creds.access_key_id)
    with expect_error("AccessDenied", 403, startswith=S.denied_prefix(alice.arn, "GetAccessKeyLastUsed")):
        mine.get_access_key_last_used(AccessKeyId=bob.creds.access_key_id)
    # An unknown key: refused like another user's for her, NoSuchEntity for root.
    with expect_error("AccessDenied", 403):
        mine.get_access_key_last_used(AccessKeyId="AKIAUNKNOWNKEY000001")
    with expect_error("NoSuchEntity", 404, "The Access Key with id AKIAUNKNOWNKEY000001 cannot be found."):
        iam.get_access_key_last_used(AccessKeyId="AKIAUNKNOWNKEY000001")
    # The root user's key belongs to no IAM user.
    root = last_used(iam, S.ROOT.access_key_id, "iam")
    assert "UserName" not in root and root["AccessKeyLastUsed"]["ServiceName"] == "iam"


def parse(report: bytes) -> list[dict]:
    rows = list(csv.reader(io.StringIO(report.decode())))
    assert rows[0] == COLUMNS
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]


@pytest.mark.slow
def test_the_credential_report_shows_who_has_mfa(server_factory):
    srv = server_factory("report")
    iam = S.make_client("iam", srv.endpoint)
    with expect_error("ReportNotPresent", 410):
        iam.get_credential_report()

    plain = "plain-" + S.unique("u")
    comma = "comma," + S.unique("u")
    iam.create_user(UserName=plain)
    iam.create_login_profile(UserName=plain, Password="Correct-Horse-9")
    key = iam.create_access_key(UserName=plain)["AccessKey"]
    iam.update_access_key(UserName=plain, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    iam.create_user(UserName=comma, Path="/team/")
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=comma)["VirtualMFADevice"]
    pair = S.Totp(device["Base32StringSeed"]).current_pair()
    iam.enable_mfa_device(UserName=comma, SerialNumber=device["SerialNumber"],
                          AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)
    iam.update_account_password_policy(MinimumPasswordLength=8, MaxPasswordAge=90)

    started = iam.generate_credential_report()
    assert started["State"] == "STARTED" and started["Description"]
    assert iam.generate_credential_report()["State"] == "COMPLETE"
    got = iam.get_credential_report()
    assert got["ReportFormat"] == "text/csv"
    assert abs((got["GeneratedTime"] - S.utcnow()).total_seconds()) < 60
    rows = {r["user"]: r for r in parse(got["Content"])}

    root = rows["<root_account>"]
    assert root["arn"] == f"arn:aws:iam::{S.ACCOUNT_ID}:root"
    assert (root["password_enabled"], root["access_key_1_active"]) == ("not_supported", "true")
    p = rows[plain]
    assert p["arn"] == S.user_arn(plain)
    assert (p["password_enabled"], p["mfa_active"], p["access_key_1_active"]) == ("true", "false", "false")
    assert p["password_last_used"] == "N/A" and p["password_last_changed"].endswith("+00:00")
    assert p["password_next_rotation"] > p["password_last_changed"], "90 days later"
    assert p["access_key_1_last_used_date"] == "N/A" and p["access_key_2_active"] == "false"
    c = rows[comma]
    assert c["arn"] == S.user_arn(comma, "/team/")
    assert (c["password_enabled"], c["mfa_active"], c["access_key_1_active"]) == ("false", "true", "false")
    assert c["password_last_changed"] == "N/A"
    assert {r["cert_1_active"] for r in rows.values()} == {"false"}


@pytest.mark.slow
def test_the_credential_report_through_the_cli(server_factory, tmp_path):
    srv = server_factory("report-cli")
    cli = S.AwsCli(srv.endpoint, tmp_path / "cli")
    name = S.unique("cli")
    cli.run("iam", "create-user", "--user-name", name)
    assert json.loads(cli.run("iam", "generate-credential-report").stdout)["State"] == "STARTED"
    report = json.loads(cli.run("iam", "get-credential-report").stdout)
    assert report["ReportFormat"] == "text/csv"
    assert name in {r["user"] for r in parse(base64.b64decode(report["Content"]))}
    key = json.loads(cli.run("iam", "create-access-key", "--user-name", name).stdout)["AccessKey"]
    answer = json.loads(cli.run("iam", "get-access-key-last-used", "--access-key-id", key["AccessKeyId"]).stdout)
    assert answer == {"UserName": name, "AccessKeyLastUsed": {"ServiceName": "N/A", "Region": "N/A"}}
