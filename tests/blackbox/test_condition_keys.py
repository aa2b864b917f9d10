"""Global condition keys that come from the caller: `aws:PrincipalTag/…` from a user's tags and
`aws:TokenIssueTime` of session credentials (AWS's "revoke older sessions" pattern)."""

import datetime as dt
import json

import iamd_support as S
from iamd_support import expect_error

TEAM_RED_READS = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*",
     "Condition": {"StringEquals": {"aws:PrincipalTag/team": "red"}}}]})


def test_principal_tags_of_a_user(iam, make_user, client_factory):
    user = make_user("ptag", with_key=True)
    iam.put_user_policy(UserName=user.name, PolicyName="Red", PolicyDocument=TEAM_RED_READS)
    theirs = client_factory("iam", user.creds)
    expect_error("AccessDenied", 403, fn=theirs.list_users)
    iam.tag_user(UserName=user.name, Tags=[{"Key": "Team", "Value": "red"}])
    assert theirs.list_users()["Users"]
    iam.tag_user(UserName=user.name, Tags=[{"Key": "team", "Value": "blue"}])
    expect_error("AccessDenied", 403, fn=theirs.list_users)


def test_revoking_sessions_issued_before_a_time(iam, make_user, make_device, enable, client_factory):
    user = make_user("tit", with_key=True)
    iam.put_user_policy(UserName=user.name, PolicyName="Read", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}]}))
    dev = make_device(name=user.name)
    pair = enable(user, dev, dev.totp.current_pair(margin=8))
    resp = client_factory("sts", user.creds).get_session_token(SerialNumber=dev.serial,
                                                                TokenCode=dev.totp.code_at_step(pair.step + 1))
    c = resp["Credentials"]
    session = client_factory("iam", S.Creds(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]))
    assert session.list_users()["Users"]
    cutoff = (S.utcnow() + dt.timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    iam.put_user_policy(UserName=user.name, PolicyName="AWSRevokeOlderSessions", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*",
                       "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff}}}]}))
    expect_error("AccessDenied", 403, fn=session.list_users)
    # Long-term keys carry no token issue time: the deny does not apply to them.
    assert client_factory("iam", user.creds).list_users()["Users"]
