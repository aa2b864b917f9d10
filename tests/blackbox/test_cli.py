"""AWS CLI v1 against iamd (AWS_ENDPOINT_URL, isolated config)."""

import os
import stat

import pytest

import iamd_support as S


def test_cli_caller_identity_root(aws_cli):
    out = aws_cli.run("sts", "get-caller-identity")
    assert out.json["Arn"] == S.ROOT_ARN
    assert out.json["UserId"] == S.ACCOUNT_ID
    assert out.json["Account"] == S.ACCOUNT_ID


def test_cli_caller_identity_eu_west_1(aws_cli):
    out = aws_cli.run("sts", "get-caller-identity", region="eu-west-1")
    assert out.json["Arn"] == S.ROOT_ARN


def test_cli_mfa_lifecycle(aws_cli, iam, tmp_path):
    user = S.unique("cli")
    out = aws_cli.run("iam", "create-user", "--user-name", user)
    assert out.json["User"]["UserName"] == user
    assert out.json["User"]["Arn"] == S.user_arn(user)

    # create, bootstrap via base32 seed written to a 0600 file
    seed_file = tmp_path / "seed.txt"
    out = aws_cli.run("iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", user,
                      "--outfile", str(seed_file), "--bootstrap-method", "Base32StringSeed")
    dev = out.json["VirtualMFADevice"]
    serial = dev["SerialNumber"]
    assert serial == S.mfa_arn(user)
    assert "Base32StringSeed" not in dev and "QRCodePNG" not in dev
    assert stat.S_IMODE(os.stat(seed_file).st_mode) == 0o600
    totp = S.check_seed(seed_file.read_bytes())

    # tags
    aws_cli.run("iam", "tag-mfa-device", "--serial-number", serial,
                "--tags", "Key=team,Value=blue", "Key=env,Value=prod")
    out = aws_cli.run("iam", "list-mfa-device-tags", "--serial-number", serial)
    assert out.json["Tags"] == [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "blue"}]
    aws_cli.run("iam", "untag-mfa-device", "--serial-number", serial, "--tag-keys", "team")
    out = aws_cli.run("iam", "list-mfa-device-tags", "--serial-number", serial)
    assert out.json["Tags"] == [{"Key": "env", "Value": "prod"}]

    # unassigned listing
    out = aws_cli.run("iam", "list-virtual-mfa-devices", "--assignment-status", "Unassigned")
    assert {"SerialNumber": serial} in out.json["VirtualMFADevices"]

    # enable
    pair = totp.current_pair()
    out = aws_cli.run("iam", "enable-mfa-device", "--user-name", user, "--serial-number", serial,
                      "--authentication-code1", pair.code1, "--authentication-code2", pair.code2)
    assert out.stdout.strip() == ""

    out = aws_cli.run("iam", "list-mfa-devices", "--user-name", user)
    assert [(d["UserName"], d["SerialNumber"]) for d in out.json["MFADevices"]] == [(user, serial)]
    assert out.json["MFADevices"][0]["EnableDate"]

    out = aws_cli.run("iam", "list-virtual-mfa-devices", "--assignment-status", "Assigned")
    mine = [d for d in out.json["VirtualMFADevices"] if d["SerialNumber"] == serial]
    assert len(mine) == 1 and mine[0]["User"]["UserName"] == user and mine[0]["EnableDate"]

    # resync
    p2 = totp.pair_at_step(pair.step + 2)
    aws_cli.run("iam", "resync-mfa-device", "--user-name", user, "--serial-number", serial,
                "--authentication-code1", p2.code1, "--authentication-code2", p2.code2)

    # deactivate + delete
    aws_cli.run("iam", "deactivate-mfa-device", "--user-name", user, "--serial-number", serial)
    out = aws_cli.run("iam", "list-mfa-devices", "--user-name", user)
    assert out.json["MFADevices"] == []
    aws_cli.run("iam", "delete-virtual-mfa-device", "--serial-number", serial)
    assert S.find_virtual(iam, serial) is None


def test_cli_qr_png_bootstrap(aws_cli, tmp_path):
    name = S.unique("cliqr")
    png_file = tmp_path / "qr.png"
    out = aws_cli.run("iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", name,
                      "--path", "/cli/", "--outfile", str(png_file), "--bootstrap-method", "QRCodePNG")
    assert out.json["VirtualMFADevice"]["SerialNumber"] == S.mfa_arn(name, "/cli/")
    assert "QRCodePNG" not in out.json["VirtualMFADevice"]
    data = png_file.read_bytes()
    assert data[:8] == S.PNG_MAGIC
    S.parse_png(data)
    text = S.zbar_decode(data)
    if text is not None:
        assert text.startswith(f"otpauth://totp/Amazon%20Web%20Services:{name}@{S.ACCOUNT_ID}?secret="), text


def test_cli_enable_wrong_codes(aws_cli, make_user, make_device):
    user = make_user("clibad")
    dev = make_device()
    bad = dev.totp.invalid_code()
    out = aws_cli.run("iam", "enable-mfa-device", "--user-name", user.name, "--serial-number", dev.serial,
                      "--authentication-code1", bad, "--authentication-code2", bad, check=False)
    S.cli_error(out, "InvalidAuthenticationCode", S.MSG_BAD_CODE)


def test_cli_account_summary(aws_cli):
    out = aws_cli.run("iam", "get-account-summary")
    m = out.json["SummaryMap"]
    assert m["AccessKeysPerUserQuota"] == 2
    assert m["AccountMFAEnabled"] == 0
    assert "MFADevices" in m and "MFADevicesInUse" in m and "Users" in m


def test_cli_access_keys(aws_cli, make_user):
    user = make_user("clik")
    out = aws_cli.run("iam", "create-access-key", "--user-name", user.name)
    key = out.json["AccessKey"]
    assert key["AccessKeyId"].startswith("AKIA") and len(key["SecretAccessKey"]) == 40
    creds = S.Creds(key["AccessKeyId"], key["SecretAccessKey"])

    out = aws_cli.run("sts", "get-caller-identity", creds=creds)
    assert out.json["Arn"] == user.arn
    assert out.json["UserId"] == user.user_id

    out = aws_cli.run("iam", "list-access-keys", "--user-name", user.name)
    assert [(k["AccessKeyId"], k["Status"]) for k in out.json["AccessKeyMetadata"]] == [(key["AccessKeyId"], "Active")]

    aws_cli.run("iam", "update-access-key", "--user-name", user.name,
                "--access-key-id", key["AccessKeyId"], "--status", "Inactive")
    out = aws_cli.run("sts", "get-caller-identity", creds=creds, check=False)
    S.cli_error(out, "InvalidClientTokenId")

    aws_cli.run("iam", "delete-access-key", "--user-name", user.name, "--access-key-id", key["AccessKeyId"])
    out = aws_cli.run("iam", "list-access-keys", "--user-name", user.name)
    assert out.json["AccessKeyMetadata"] == []


def test_cli_user_self_service(aws_cli, make_user):
    bob = make_user("clibob", with_key=True, self_service=True)
    out = aws_cli.run("iam", "get-user", creds=bob.creds)
    assert out.json["User"]["UserName"] == bob.name
    out = aws_cli.run("iam", "list-users", creds=bob.creds, check=False)
    S.cli_error(out, "AccessDenied", S.denied_prefix(bob.arn, "ListUsers"))
