"""STS AssumeRole with and without MFA, through boto3, botocore's own assume-role credential
provider with an MFA prompter, and the AWS CLI's `role_arn` + `source_profile` + `mfa_serial`
profile: the trust policy decides, an MFA requirement cannot be bypassed, a code works once,
sessions are principals of their own (GetCallerIdentity, AccessDenied texts, session
policies), chaining is capped at an hour, and a deleted role's sessions can do nothing."""

import datetime as dt
import json

import botocore.credentials
import botocore.session
import pytest

import iamd_support as S
from iamd_support import expect_error
from test_roles import READ_USERS, trust_for

ROLE_CHAINING_LIMIT = "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
OVER_MAX = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
BOTH_NEEDED = "MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code."


def session_creds(resp) -> S.Creds:
    c = resp["Credentials"]
    return S.Creds(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


def denied(caller_arn: str, role_arn: str) -> str:
    return f"User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"


@pytest.fixture
def make_role(iam):
    """make_role(trust, policy=READ_USERS, **create_kw) -> role dict; deleted afterwards."""
    made = []

    def make(trust: str, policy: str | None = READ_USERS, **kw):
        name = S.unique("ar")
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust, **kw)["Role"]
        if policy:
            iam.put_role_policy(RoleName=name, PolicyName="Read", PolicyDocument=policy)
        made.append(name)
        return role

    yield make
    for name in made:
        try:
            for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
                iam.delete_role_policy(RoleName=name, PolicyName=policy)
            iam.delete_role(RoleName=name)
        except S.ClientError as e:
            assert S.error_code(e) == "NoSuchEntity", e  # the test deleted it


@pytest.fixture
def mfa_user(make_user, make_device, enable, client_factory):
    """A user with a key and an enabled device; `next_code` is the first code STS can accept."""
    user = make_user("arm", with_key=True)
    dev = make_device(name=user.name)
    pair = enable(user, dev, dev.totp.current_pair(margin=8))
    user.sts = client_factory("sts", user.creds)
    user.device = dev
    user.next_code = dev.totp.code_at_step(pair.step + 1)
    return user


def test_assume_role_and_act_as_the_role(make_user, make_role, client_factory):
    user = make_user("ar", with_key=True)
    role = make_role(trust_for(user.arn))
    # The trust policy names the user: no identity policy is needed (same account).
    resp = client_factory("sts", user.creds).assume_role(RoleArn=role["Arn"], RoleSessionName="alice@example.com")
    creds = session_creds(resp)
    assert creds.access_key_id.startswith("ASIA")
    session_arn = f"arn:aws:sts::{S.ACCOUNT_ID}:assumed-role/{role['RoleName']}/alice@example.com"
    assert resp["AssumedRoleUser"] == {"Arn": session_arn, "AssumedRoleId": f"{role['RoleId']}:alice@example.com"}
    expected = S.utcnow() + dt.timedelta(seconds=3600)
    assert abs((resp["Credentials"]["Expiration"] - expected).total_seconds()) < 120
    assert "PackedPolicySize" not in resp

    identity = client_factory("sts", creds).get_caller_identity()
    assert (identity["Arn"], identity["UserId"], identity["Account"]) == (
        session_arn, f"{role['RoleId']}:alice@example.com", S.ACCOUNT_ID)
    as_role = client_factory("iam", creds)
    assert user.name in [u["UserName"] for u in as_role.list_users()["Users"]]
    expect_error("AccessDenied", 403,
                 f"User: {session_arn} is not authorized to perform: iam:CreateUser on resource: "
                 f"user x because no identity-based policy allows the iam:CreateUser action",
                 fn=as_role.create_user, UserName="x")
    # GetUser without a name has no user to answer for.
    expect_error("ValidationError", 400, "Must specify userName when calling with non-User credentials",
                 fn=as_role.get_user)
    # A role session cannot open a GetSessionToken session.
    expect_error("AccessDenied", 403, S.MSG_STS_WITH_SESSION, fn=client_factory("sts", creds).get_session_token)


def test_who_may_assume(make_user, make_role, client_factory, sts):
    alice, eve = make_user("ara", with_key=True), make_user("are", with_key=True)
    role = make_role(trust_for(alice.arn))
    expect_error("AccessDenied", 403, denied(eve.arn, role["Arn"]),
                 fn=client_factory("sts", eve.creds).assume_role, RoleArn=role["Arn"], RoleSessionName="s1")
    # An unknown role answers the same: AWS does not reveal which roles exist.
    ghost = f"arn:aws:iam::{S.ACCOUNT_ID}:role/ghost"
    expect_error("AccessDenied", 403, denied(alice.arn, ghost),
                 fn=client_factory("sts", alice.creds).assume_role, RoleArn=ghost, RoleSessionName="s1")
    expect_error("AccessDenied", 403, "Roles may not be assumed by root accounts.",
                 fn=sts.assume_role, RoleArn=role["Arn"], RoleSessionName="s1")


def test_account_trust_needs_an_identity_policy(iam, make_user, make_role, client_factory):
    user = make_user("arp", with_key=True)
    role = make_role(trust_for(f"arn:aws:iam::{S.ACCOUNT_ID}:root"))
    theirs = client_factory("sts", user.creds)
    expect_error("AccessDenied", 403, denied(user.arn, role["Arn"]),
                 fn=theirs.assume_role, RoleArn=role["Arn"], RoleSessionName="s1")
    iam.put_user_policy(UserName=user.name, PolicyName="Assume", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role["Arn"]}]}))
    assert theirs.assume_role(RoleArn=role["Arn"], RoleSessionName="s1")["AssumedRoleUser"]


def test_mfa_required_by_the_trust_policy(mfa_user, make_role, client_factory):
    user = mfa_user
    role = make_role(trust_for(user.arn, mfa=True))
    # A long-term key alone does not satisfy the condition.
    expect_error("AccessDenied", 403, denied(user.arn, role["Arn"]),
                 fn=user.sts.assume_role, RoleArn=role["Arn"], RoleSessionName="s1")
    expect_error("AccessDenied", 403, BOTH_NEEDED, fn=user.sts.assume_role, RoleArn=role["Arn"],
                 RoleSessionName="s1", SerialNumber=user.device.serial)
    expect_error("AccessDenied", 403, S.MSG_STS_BAD_CODE, fn=user.sts.assume_role, RoleArn=role["Arn"],
                 RoleSessionName="s1", SerialNumber=user.device.serial,
                 TokenCode=user.device.totp.invalid_code())
    resp = user.sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1", SerialNumber=user.device.serial,
                                TokenCode=user.next_code)
    # The session carries MFA: a policy gated on it allows.
    assert client_factory("iam", session_creds(resp)).list_users()["Users"]
    # The same code again is refused.
    expect_error("AccessDenied", 403, S.MSG_STS_BAD_CODE, fn=user.sts.assume_role, RoleArn=role["Arn"],
                 RoleSessionName="s1", SerialNumber=user.device.serial, TokenCode=user.next_code)


def test_mfa_cannot_come_from_another_users_device(mfa_user, make_user, make_role, client_factory):
    other = make_user("aro", with_key=True)
    role = make_role(trust_for(other.arn, mfa=True))
    expect_error("AccessDenied", 403, S.MSG_STS_BAD_SERIAL, fn=client_factory("sts", other.creds).assume_role,
                 RoleArn=role["Arn"], RoleSessionName="s1", SerialNumber=mfa_user.device.serial,
                 TokenCode=mfa_user.next_code)


def test_an_mfa_session_satisfies_the_trust_policy(mfa_user, make_role, client_factory):
    user = mfa_user
    role = make_role(trust_for(user.arn, mfa=True))
    mfa_session = session_creds(user.sts.get_session_token(SerialNumber=user.device.serial, TokenCode=user.next_code))
    via_session = client_factory("sts", mfa_session)
    # GetSessionToken credentials count as chaining: an hour at most.
    expect_error("ValidationError", 400, ROLE_CHAINING_LIMIT, fn=via_session.assume_role,
                 RoleArn=role["Arn"], RoleSessionName="s1", DurationSeconds=3601)
    resp = via_session.assume_role(RoleArn=role["Arn"], RoleSessionName="s1", DurationSeconds=3600)
    assert resp["AssumedRoleUser"]["Arn"].endswith(f"/{role['RoleName']}/s1")
    # Without MFA, a GetSessionToken session does not satisfy it either.
    plain = session_creds(user.sts.get_session_token())
    expect_error("AccessDenied", 403, denied(user.arn, role["Arn"]),
                 fn=client_factory("sts", plain).assume_role, RoleArn=role["Arn"], RoleSessionName="s1")


def test_durations_and_chaining(make_user, make_role, client_factory, iam_nv):
    user = make_user("ard", with_key=True)
    role = make_role(trust_for(user.arn), MaxSessionDuration=7200)
    theirs = client_factory("sts", user.creds)
    expect_error("ValidationError", 400, OVER_MAX, fn=theirs.assume_role, RoleArn=role["Arn"],
                 RoleSessionName="s1", DurationSeconds=7201)
    long = theirs.assume_role(RoleArn=role["Arn"], RoleSessionName="s1", DurationSeconds=7200)
    expected = S.utcnow() + dt.timedelta(seconds=7200)
    assert abs((long["Credentials"]["Expiration"] - expected).total_seconds()) < 120
    unchecked = S.make_client("sts", client_factory("sts").meta.endpoint_url, user.creds, validate=False)
    expect_error("ValidationError", 400, fn=unchecked.assume_role, RoleArn=role["Arn"], RoleSessionName="s1",
                 DurationSeconds=600)
    expect_error("ValidationError", 400, fn=unchecked.assume_role, RoleArn=role["Arn"], RoleSessionName="bad name!")

    # Role chaining: a role session assuming a role (its own trust allows the role itself).
    second = make_role(trust_for(role["Arn"]))
    chained_sts = client_factory("sts", session_creds(long))
    expect_error("ValidationError", 400, ROLE_CHAINING_LIMIT, fn=chained_sts.assume_role,
                 RoleArn=second["Arn"], RoleSessionName="c1", DurationSeconds=7200)
    chained = chained_sts.assume_role(RoleArn=second["Arn"], RoleSessionName="c1")
    identity = client_factory("sts", session_creds(chained)).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{S.ACCOUNT_ID}:assumed-role/{second['RoleName']}/c1"


def test_session_policies_narrow_the_session(iam, make_user, make_role, client_factory):
    user = make_user("ars", with_key=True)
    role = make_role(trust_for(user.arn), policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}))
    only_get = json.dumps({"Version": "2012-10-17",
                           "Statement": [{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]})
    resp = client_factory("sts", user.creds).assume_role(RoleArn=role["Arn"], RoleSessionName="narrow",
                                                         Policy=only_get)
    assert 0 < resp["PackedPolicySize"] <= 100
    narrowed = client_factory("iam", session_creds(resp))
    assert narrowed.get_user(UserName=user.name)["User"]["UserName"] == user.name
    expect_error("AccessDenied", 403, fn=narrowed.list_users)
    err = S.ClientError
    with pytest.raises(err) as e:
        narrowed.list_users()
    assert e.value.response["Error"]["Message"].endswith("because no session policy allows the iam:ListUsers action")
    # A managed policy as a session policy.
    managed = iam.create_policy(PolicyName=S.unique("sp"), PolicyDocument=only_get)["Policy"]
    resp = client_factory("sts", user.creds).assume_role(RoleArn=role["Arn"], RoleSessionName="m1",
                                                         PolicyArns=[{"arn": managed["Arn"]}])
    expect_error("AccessDenied", 403, fn=client_factory("iam", session_creds(resp)).list_users)
    expect_error("MalformedPolicyDocument", 400, fn=client_factory("sts", user.creds).assume_role,
                 RoleArn=role["Arn"], RoleSessionName="m1", Policy="{not json")


def test_deleted_role_sessions_live_but_may_do_nothing(iam, make_user, make_role, client_factory):
    user = make_user("arx", with_key=True)
    role = make_role(trust_for(user.arn))
    creds = session_creds(client_factory("sts", user.creds).assume_role(RoleArn=role["Arn"], RoleSessionName="s1"))
    as_role = client_factory("iam", creds)
    assert as_role.list_users()["Users"]
    iam.delete_role_policy(RoleName=role["RoleName"], PolicyName="Read")
    iam.delete_role(RoleName=role["RoleName"])
    # AWS keeps the session valid until it expires; no policy of the deleted role applies.
    assert client_factory("sts", creds).get_caller_identity()["Arn"].endswith(f"/{role['RoleName']}/s1")
    expect_error("AccessDenied", 403, fn=as_role.list_users)


def test_role_last_used(iam, make_user, make_role, client_factory):
    user = make_user("arl", with_key=True)
    role = make_role(trust_for(user.arn))
    assert iam.get_role(RoleName=role["RoleName"])["Role"]["RoleLastUsed"] == {}
    client_factory("sts", user.creds).assume_role(RoleArn=role["Arn"], RoleSessionName="s1")
    S.assert_recent(iam.get_role(RoleName=role["RoleName"])["Role"]["RoleLastUsed"]["LastUsedDate"])


def write_profiles(workdir, user, role_arn, mfa_serial, endpoint):
    (workdir / "credentials").write_text(
        f"[base]\naws_access_key_id = {user.creds.access_key_id}\n"
        f"aws_secret_access_key = {user.creds.secret_access_key}\n")
    (workdir / "config").write_text(
        "[profile base]\nregion = us-east-1\n\n"
        f"[profile admin]\nrole_arn = {role_arn}\nsource_profile = base\nmfa_serial = {mfa_serial}\n"
        f"region = us-east-1\nendpoint_url = {endpoint}\n")


def test_cli_mfa_serial_profile(mfa_user, make_role, aws_cli, endpoint):
    """The AWS CLI prompts for the code, calls AssumeRole with it, caches the session and runs
    every later command as the role without asking again."""
    user = mfa_user
    role = make_role(trust_for(user.arn, mfa=True))
    write_profiles(aws_cli.workdir, user, role["Arn"], user.device.serial, endpoint)

    out = aws_cli.run("--profile", "admin", "iam", "list-users", creds=None, stdin=user.next_code + "\n")
    assert f"Enter MFA code for {user.device.serial}:" in out.stderr
    assert user.name in [u["UserName"] for u in out.json["Users"]]
    # Cached: no prompt, no code.
    again = aws_cli.run("--profile", "admin", "sts", "get-caller-identity", creds=None, stdin="")
    assert again.json["Arn"].startswith(f"arn:aws:sts::{S.ACCOUNT_ID}:assumed-role/{role['RoleName']}/")
    assert "Enter MFA code" not in again.stderr

    # A wrong code is refused with AWS's message (a fresh cache directory forces a new prompt).
    for cached in (aws_cli.workdir / ".aws" / "cli" / "cache").glob("*.json"):
        cached.unlink()
    bad = aws_cli.run("--profile", "admin", "iam", "list-users", creds=None, check=False,
                      stdin=user.device.totp.invalid_code() + "\n")
    S.cli_error(bad, "AccessDenied", S.MSG_STS_BAD_CODE)


def test_cli_without_mfa_serial_is_refused(mfa_user, make_role, aws_cli, endpoint):
    user = mfa_user
    role = make_role(trust_for(user.arn, mfa=True))
    write_profiles(aws_cli.workdir, user, role["Arn"], user.device.serial, endpoint)
    config = aws_cli.workdir / "config"
    config.write_text("\n".join(line for line in config.read_text().splitlines() if not line.startswith("mfa_serial")))
    out = aws_cli.run("--profile", "admin", "iam", "list-users", creds=None, check=False)
    S.cli_error(out, "AccessDenied", denied(user.arn, role["Arn"]))


def test_botocore_assume_role_provider_with_mfa_prompter(mfa_user, make_role, tmp_path, endpoint):
    """boto3/botocore's own `assume-role` credential provider, with an MFA prompter instead of
    the terminal."""
    user = mfa_user
    role = make_role(trust_for(user.arn, mfa=True))
    write_profiles(tmp_path, user, role["Arn"], user.device.serial, endpoint)
    session = botocore.session.Session(profile="admin")
    session.set_config_variable("config_file", str(tmp_path / "config"))
    session.set_config_variable("credentials_file", str(tmp_path / "credentials"))
    prompts = []

    def prompter(prompt):
        prompts.append(prompt)
        return user.next_code

    provider = botocore.credentials.AssumeRoleProvider(
        load_config=lambda: session.full_config,
        client_creator=session.create_client,
        cache={},
        profile_name="admin",
        prompter=prompter,
    )
    creds = provider.load()
    iam = session.create_client("iam", endpoint_url=endpoint, region_name="us-east-1",
                                aws_access_key_id=creds.access_key, aws_secret_access_key=creds.secret_key,
                                aws_session_token=creds.token)
    assert user.name in [u["UserName"] for u in iam.list_users()["Users"]]
    assert prompts == [f"Enter MFA code for {user.device.serial}: "]


def tagging_trust(principal: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]})


TEAM_RED_ONLY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*",
     "Condition": {"StringEquals": {"aws:PrincipalTag/team": "red"}}},
    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]})


def test_session_tags_need_tag_session_and_become_principal_tags(make_user, make_role, client_factory):
    user = make_user("art", with_key=True)
    theirs = client_factory("sts", user.creds)
    plain = make_role(trust_for(user.arn))
    expect_error("AccessDenied", 403,
                 f"User: {user.arn} is not authorized to perform: sts:TagSession on resource: {plain['Arn']}",
                 fn=theirs.assume_role, RoleArn=plain["Arn"], RoleSessionName="t1",
                 Tags=[{"Key": "team", "Value": "red"}])

    # The role's own tag says blue; a session tag of the same key wins.
    role = make_role(tagging_trust(user.arn), policy=TEAM_RED_ONLY, Tags=[{"Key": "Team", "Value": "blue"}])
    untagged = session_creds(theirs.assume_role(RoleArn=role["Arn"], RoleSessionName="t0"))
    expect_error("AccessDenied", 403, fn=client_factory("iam", untagged).list_users)
    resp = theirs.assume_role(RoleArn=role["Arn"], RoleSessionName="t1", Tags=[{"Key": "team", "Value": "red"}],
                              TransitiveTagKeys=["team"])
    assert 0 < resp["PackedPolicySize"] <= 100
    red = session_creds(resp)
    assert client_factory("iam", red).list_users()["Users"]
    expect_error("ValidationError", 400, fn=theirs.assume_role, RoleArn=role["Arn"], RoleSessionName="t2",
                 Tags=[{"Key": "team", "Value": "red"}], TransitiveTagKeys=["other"])

    # Chaining keeps a transitive tag, which the chained session may not change.
    second = make_role(tagging_trust(role["Arn"]), policy=TEAM_RED_ONLY)
    chained_sts = client_factory("sts", red)
    expect_error("ValidationError", 400, fn=chained_sts.assume_role, RoleArn=second["Arn"], RoleSessionName="c2",
                 Tags=[{"Key": "TEAM", "Value": "blue"}])
    chained = session_creds(chained_sts.assume_role(RoleArn=second["Arn"], RoleSessionName="c1"))
    assert client_factory("iam", chained).list_users()["Users"]


def test_source_identity_is_kept_through_chaining(make_user, make_role, client_factory):
    user = make_user("arsi", with_key=True)
    role = make_role(trust_for(user.arn), policy=TEAM_RED_ONLY)
    resp = client_factory("sts", user.creds).assume_role(RoleArn=role["Arn"], RoleSessionName="s1",
                                                         SourceIdentity="alice")
    assert resp["SourceIdentity"] == "alice"
    second = make_role(trust_for(role["Arn"]))
    chained_sts = client_factory("sts", session_creds(resp))
    expect_error("ValidationError", 400, fn=chained_sts.assume_role, RoleArn=second["Arn"], RoleSessionName="c1",
                 SourceIdentity="mallory")
    assert chained_sts.assume_role(RoleArn=second["Arn"], RoleSessionName="c1")["SourceIdentity"] == "alice"
    expect_error("ValidationError", 400, fn=client_factory("sts", user.creds).assume_role, RoleArn=role["Arn"],
                 RoleSessionName="s2", SourceIdentity="aws:me")


def test_cli_assume_role_command(make_user, make_role, aws_cli):
    user = make_user("arcli", with_key=True)
    role = make_role(trust_for(user.arn))
    out = aws_cli.run("sts", "assume-role", "--role-arn", role["Arn"], "--role-session-name", "cli",
                      "--duration-seconds", "900", creds=user.creds).json
    assert out["AssumedRoleUser"]["Arn"].endswith(f"/{role['RoleName']}/cli")
    c = out["Credentials"]
    as_role = S.Creds(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    me = aws_cli.run("sts", "get-caller-identity", creds=as_role).json
    assert me["UserId"] == f"{role['RoleId']}:cli"


def test_mfa_requirement_holds_through_role_chaining(mfa_user, make_role, client_factory):
    """A role session opened without a code cannot reach a role that requires MFA; one opened
    with a code can (the MFA state is carried into the session)."""
    user = mfa_user
    first = make_role(trust_for(user.arn))
    guarded = make_role(trust_for(first["Arn"], mfa=True))
    plain = session_creds(user.sts.assume_role(RoleArn=first["Arn"], RoleSessionName="plain"))
    expect_error("AccessDenied", 403,
                 denied(f"arn:aws:sts::{S.ACCOUNT_ID}:assumed-role/{first['RoleName']}/plain", guarded["Arn"]),
                 fn=client_factory("sts", plain).assume_role, RoleArn=guarded["Arn"], RoleSessionName="c1")
    with_mfa = session_creds(user.sts.assume_role(RoleArn=first["Arn"], RoleSessionName="mfa",
                                                  SerialNumber=user.device.serial, TokenCode=user.next_code))
    chained = client_factory("sts", with_mfa).assume_role(RoleArn=guarded["Arn"], RoleSessionName="c2")
    assert chained["AssumedRoleUser"]["Arn"].endswith(f"/{guarded['RoleName']}/c2")
