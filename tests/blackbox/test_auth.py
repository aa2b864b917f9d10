"""Authentication: missing/unknown/wrong credentials, clock skew, regions,
pre-signed query authentication."""

import datetime as dt

import pytest
import requests

import iamd_support as S
from iamd_support import expect_error

LIST_USERS = {"Action": "ListUsers", "Version": S.IAM_VERSION, "MaxItems": "1"}
CALLER = {"Action": "GetCallerIdentity", "Version": S.STS_VERSION}


def test_no_auth_is_missing_authentication_token(endpoint):
    r = S.signed_request(endpoint, LIST_USERS, creds=None)
    assert r.status_code == 403, r.text
    err = S.xml_error(r)
    assert err["Code"] == "MissingAuthenticationToken"
    assert err["Type"] == "Sender"


def test_no_auth_sts(endpoint):
    r = S.signed_request(endpoint, CALLER, creds=None, service="sts")
    assert r.status_code == 403, r.text
    err = S.xml_error(r, S.STS_NS)
    assert err["Code"] == "MissingAuthenticationToken"


def test_no_auth_get(endpoint):
    r = requests.get(endpoint + "/", params=LIST_USERS, timeout=30)
    assert r.status_code == 403
    assert S.xml_error(r)["Code"] == "MissingAuthenticationToken"


def test_unknown_access_key(client_factory):
    bad = S.Creds("AKIAUNKNOWNKEY000001", "x" * 40)
    with expect_error("InvalidClientTokenId", 403, S.MSG_BAD_TOKEN_IAM):
        client_factory("iam", bad).list_users()
    with expect_error("InvalidClientTokenId", 403, S.MSG_BAD_TOKEN_STS):
        client_factory("sts", bad).get_caller_identity()


def test_wrong_secret_for_root_key(client_factory):
    bad = S.Creds(S.ROOT_ACCESS_KEY_ID, S.ROOT_SECRET_ACCESS_KEY[:-1] + "X")
    with expect_error("SignatureDoesNotMatch", 403):
        client_factory("iam", bad).list_users()
    with expect_error("SignatureDoesNotMatch", 403):
        client_factory("sts", bad).get_caller_identity()


def test_unknown_session_token(client_factory):
    bad = S.Creds("ASIAUNKNOWNSESSION01", "x" * 40, "bm90LWEtcmVhbC10b2tlbg==")
    with expect_error("InvalidClientTokenId", 403, S.MSG_BAD_TOKEN_STS):
        client_factory("sts", bad).get_caller_identity()
    with expect_error("InvalidClientTokenId", 403, S.MSG_BAD_TOKEN_IAM):
        client_factory("iam", bad).list_users()


def test_tampered_body_fails_signature(endpoint):
    """Sign one body, send another."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method="POST", url=endpoint + "/",
                     data="Action=ListUsers&Version=2010-05-08",
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(S.ROOT_ACCESS_KEY_ID, S.ROOT_SECRET_ACCESS_KEY), "iam", "us-east-1").add_auth(req)
    p = req.prepare()
    r = requests.post(p.url, headers=dict(p.headers),
                      data="Action=CreateUser&Version=2010-05-08&UserName=" + S.unique("evil"), timeout=30)
    assert r.status_code == 403, r.text
    assert S.xml_error(r)["Code"] == "SignatureDoesNotMatch"


def test_signed_now_works(endpoint):
    r = S.signed_request(endpoint, LIST_USERS)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("minutes", [-10, 10])
def test_small_skew_is_accepted(endpoint, minutes):
    when = S.utcnow() + dt.timedelta(minutes=minutes)
    r = S.signed_request(endpoint, LIST_USERS, when=when)
    assert r.status_code == 200, r.text


def test_request_too_old(endpoint):
    """AWS (IAM/STS): SignatureDoesNotMatch 403 'Signature expired: X is now earlier than Y (Z - 15 min.)'."""
    when = S.utcnow() - dt.timedelta(minutes=20)
    r = S.signed_request(endpoint, LIST_USERS, when=when)
    assert r.status_code == 403, r.text
    err = S.xml_error(r)
    assert err["Code"] == "SignatureDoesNotMatch"
    assert err["Message"].startswith("Signature expired:"), err["Message"]


def test_request_from_the_future(endpoint):
    """AWS: SignatureDoesNotMatch 403 'Signature not yet current: X is still later than Y (Z + 15 min.)'."""
    when = S.utcnow() + dt.timedelta(minutes=20)
    r = S.signed_request(endpoint, CALLER, service="sts", when=when)
    assert r.status_code == 403, r.text
    err = S.xml_error(r, S.STS_NS)
    assert err["Code"] == "SignatureDoesNotMatch"
    assert err["Message"].startswith("Signature not yet current:"), err["Message"]


def test_request_far_in_the_past(endpoint):
    when = S.utcnow() - dt.timedelta(days=3)
    r = S.signed_request(endpoint, LIST_USERS, when=when)
    assert r.status_code == 403, r.text
    assert S.xml_error(r)["Code"] == "SignatureDoesNotMatch"


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-2"])
def test_any_signing_region(client_factory, region):
    assert client_factory("sts", region=region).get_caller_identity()["Arn"] == S.ROOT_ARN
    client_factory("iam", region=region).list_users(MaxItems=1)


def test_presigned_get_query_auth(endpoint):
    r = S.signed_request(endpoint, LIST_USERS, method="GET", presign=True)
    assert r.status_code == 200, r.text
    assert S.xml_root(r).tag == f"{{{S.IAM_NS}}}ListUsersResponse"


def test_presigned_sts(endpoint):
    r = S.signed_request(endpoint, CALLER, method="GET", presign=True, service="sts", region="eu-west-1")
    assert r.status_code == 200, r.text
    root = S.xml_root(r)
    assert root.findtext(S.q(S.STS_NS, "GetCallerIdentityResult/Arn")) == S.ROOT_ARN


def test_presigned_with_wrong_secret(endpoint):
    bad = S.Creds(S.ROOT_ACCESS_KEY_ID, "y" * 40)
    r = S.signed_request(endpoint, LIST_USERS, creds=bad, method="GET", presign=True)
    assert r.status_code == 403
    assert S.xml_error(r)["Code"] == "SignatureDoesNotMatch"


def test_signed_get_with_header_auth(endpoint):
    r = S.signed_request(endpoint, LIST_USERS, method="GET")
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("auth,with_date", [
    ("AWS4-HMAC-SHA256 garbage", True),
    (f"AWS4-HMAC-SHA256 Credential={S.ROOT_ACCESS_KEY_ID}/20240101/us-east-1/iam/aws4_request, "
     "SignedHeaders=host;x-amz-date, Signature=00", False),
])
def test_malformed_authorization_is_incomplete_signature(endpoint, auth, with_date):
    headers = {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    if with_date:
        headers["X-Amz-Date"] = S.utcnow().strftime("%Y%m%dT%H%M%SZ")
    r = requests.post(endpoint + "/", data="Action=ListUsers&Version=2010-05-08", headers=headers, timeout=30)
    assert r.status_code == 400, r.text
    err = S.xml_error(r)
    assert err["Code"] == "IncompleteSignature" and err["Type"] == "Sender"
