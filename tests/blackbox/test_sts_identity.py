"""STS GetCallerIdentity (spec §4.3)."""

import pytest

import iamd_support as S


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_root_identity(client_factory, region):
    ident = client_factory("sts", region=region).get_caller_identity()
    assert ident["Arn"] == S.ROOT_ARN
    assert ident["UserId"] == S.ACCOUNT_ID
    assert ident["Account"] == S.ACCOUNT_ID


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_user_identity(make_user, client_factory, region):
    user = make_user("sid", with_key=True)
    ident = client_factory("sts", user.creds, region=region).get_caller_identity()
    assert ident["Arn"] == user.arn
    assert ident["UserId"] == user.user_id
    assert ident["UserId"].startswith("AIDA")
    assert ident["Account"] == S.ACCOUNT_ID


def test_identity_follows_rename(iam, make_user, client_factory):
    user = make_user("sidr", with_key=True)
    sts = client_factory("sts", user.creds)
    new = S.unique("sidr2")
    iam.update_user(UserName=user.name, NewUserName=new, NewPath="/moved/")
    ident = sts.get_caller_identity()
    assert ident["Arn"] == S.user_arn(new, "/moved/")
    assert ident["UserId"] == user.user_id


def test_identity_raw_xml(endpoint):
    r = S.signed_request(endpoint, {"Action": "GetCallerIdentity", "Version": S.STS_VERSION},
                         service="sts", region="eu-west-1")
    assert r.status_code == 200, r.text
    root = S.xml_root(r)
    assert root.tag == f"{{{S.STS_NS}}}GetCallerIdentityResponse"
    res = root.find(S.q(S.STS_NS, "GetCallerIdentityResult"))
    assert res.findtext(S.q(S.STS_NS, "Arn")) == S.ROOT_ARN
    assert res.findtext(S.q(S.STS_NS, "UserId")) == S.ACCOUNT_ID
    assert res.findtext(S.q(S.STS_NS, "Account")) == S.ACCOUNT_ID
    assert root.findtext(S.q(S.STS_NS, "ResponseMetadata/RequestId")) == r.headers["x-amzn-RequestId"]
