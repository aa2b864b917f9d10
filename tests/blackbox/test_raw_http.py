"""Wire format (spec §1): headers, namespaces, result wrappers, error bodies,
GET query-string requests."""

import re
import uuid

import pytest
import requests

import iamd_support as S

ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def _check_request_id(r, root, ns):
    header = r.headers.get("x-amzn-RequestId")
    assert header, f"no x-amzn-RequestId header: {dict(r.headers)}"
    body_id = root.findtext(S.q(ns, "ResponseMetadata/RequestId"))
    if body_id is None:  # ErrorResponse
        body_id = root.findtext(S.q(ns, "RequestId"))
    assert body_id == header
    return header


def test_success_headers_and_body(endpoint, make_user):
    user = make_user("raw")
    r = S.signed_request(endpoint, {"Action": "GetUser", "Version": S.IAM_VERSION, "UserName": user.name})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/xml")
    root = S.xml_root(r)
    assert root.tag == f"{{{S.IAM_NS}}}GetUserResponse"
    u = root.find(S.q(S.IAM_NS, "GetUserResult/User"))
    assert u.findtext(S.q(S.IAM_NS, "UserName")) == user.name
    assert u.findtext(S.q(S.IAM_NS, "Arn")) == user.arn
    assert ISO_RE.match(u.findtext(S.q(S.IAM_NS, "CreateDate")))
    _check_request_id(r, root, S.IAM_NS)


def test_request_ids_are_unique(endpoint):
    ids = set()
    for _ in range(5):
        r = S.signed_request(endpoint, {"Action": "ListUsers", "Version": S.IAM_VERSION, "MaxItems": "1"})
        ids.add(r.headers["x-amzn-RequestId"])
    assert len(ids) == 5


def test_error_body(endpoint):
    name = S.unique("nope")
    r = S.signed_request(endpoint, {"Action": "GetUser", "Version": S.IAM_VERSION, "UserName": name})
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("text/xml")
    err = S.xml_error(r, S.IAM_NS)
    assert err == {"Type": "Sender", "Code": "NoSuchEntity",
                   "Message": S.msg_no_user(name), "RequestId": r.headers["x-amzn-RequestId"]}


def test_error_409_body(endpoint, iam):
    name = S.unique("dupraw")
    iam.create_user(UserName=name)
    r = S.signed_request(endpoint, {"Action": "CreateUser", "Version": S.IAM_VERSION, "UserName": name})
    assert r.status_code == 409
    err = S.xml_error(r, S.IAM_NS)
    assert err["Type"] == "Sender" and err["Code"] == "EntityAlreadyExists"
    assert err["RequestId"] == r.headers["x-amzn-RequestId"]


def test_sts_error_namespace(endpoint):
    r = S.signed_request(endpoint, {"Action": "NoSuchStsAction", "Version": S.STS_VERSION}, service="sts")
    assert r.status_code == 400
    err = S.xml_error(r, S.STS_NS)
    assert err["Code"] == "InvalidAction" and err["Type"] == "Sender"


def test_unknown_action(endpoint, iam_nv):
    r = S.signed_request(endpoint, {"Action": "ListUnicorns", "Version": S.IAM_VERSION})
    assert r.status_code == 400
    err = S.xml_error(r)
    assert err["Code"] == "InvalidAction" and err["Type"] == "Sender"


def test_missing_action(endpoint):
    r = S.signed_request(endpoint, {"Version": S.IAM_VERSION})
    assert r.status_code == 400
    assert S.xml_error(r)["Code"] == "MissingAction"


def test_missing_required_parameter(endpoint):
    r = S.signed_request(endpoint, {"Action": "CreateUser", "Version": S.IAM_VERSION})
    assert r.status_code == 400
    err = S.xml_error(r)
    assert err["Code"] in ("MissingParameter", "ValidationError"), err
    assert "userName" in err["Message"] or "UserName" in err["Message"], err


def test_empty_result_operation(endpoint, iam):
    name = S.unique("delraw")
    iam.create_user(UserName=name)
    r = S.signed_request(endpoint, {"Action": "DeleteUser", "Version": S.IAM_VERSION, "UserName": name})
    assert r.status_code == 200, r.text
    root = S.xml_root(r)
    assert root.tag == f"{{{S.IAM_NS}}}DeleteUserResponse"
    assert [c.tag for c in root] == [f"{{{S.IAM_NS}}}ResponseMetadata"]
    _check_request_id(r, root, S.IAM_NS)


def test_list_wire_format(endpoint, make_user, make_device, enable):
    user = make_user("rawl")
    dev = make_device()
    enable(user, dev)
    r = S.signed_request(endpoint, {"Action": "ListMFADevices", "Version": S.IAM_VERSION, "UserName": user.name})
    assert r.status_code == 200, r.text
    root = S.xml_root(r)
    res = root.find(S.q(S.IAM_NS, "ListMFADevicesResult"))
    members = res.findall(S.q(S.IAM_NS, "MFADevices/member"))
    assert len(members) == 1
    assert members[0].findtext(S.q(S.IAM_NS, "SerialNumber")) == dev.serial
    assert ISO_RE.match(members[0].findtext(S.q(S.IAM_NS, "EnableDate")))
    assert res.findtext(S.q(S.IAM_NS, "IsTruncated")) == "false"


def test_summary_map_wire_format(endpoint):
    r = S.signed_request(endpoint, {"Action": "GetAccountSummary", "Version": S.IAM_VERSION})
    assert r.status_code == 200, r.text
    root = S.xml_root(r)
    entries = root.findall(S.q(S.IAM_NS, "GetAccountSummaryResult/SummaryMap/entry"))
    m = {e.findtext(S.q(S.IAM_NS, "key")): e.findtext(S.q(S.IAM_NS, "value")) for e in entries}
    assert m["AccessKeysPerUserQuota"] == "2"
    assert all(re.fullmatch(r"\d+", v) for v in m.values()), m


def test_get_query_string_request(endpoint):
    name = S.unique("getq")
    r = S.signed_request(endpoint, {"Action": "CreateUser", "Version": S.IAM_VERSION, "UserName": name},
                         method="GET")
    assert r.status_code == 200, r.text
    assert S.xml_root(r).tag == f"{{{S.IAM_NS}}}CreateUserResponse"
    r = S.signed_request(endpoint, {"Action": "GetUser", "Version": S.IAM_VERSION, "UserName": name},
                         method="GET")
    assert r.status_code == 200
    assert S.xml_root(r).find(S.q(S.IAM_NS, "GetUserResult/User/UserName")).text == name


def test_get_query_string_enable_mfa(endpoint, iam, make_user, make_device):
    """The API Reference's GET-style EnableMFADevice."""
    user = make_user("getmfa")
    dev = make_device()
    pair = dev.totp.current_pair()
    r = S.signed_request(endpoint, {"Action": "EnableMFADevice", "UserName": user.name,
                                    "SerialNumber": dev.serial, "AuthenticationCode1": pair.code1,
                                    "AuthenticationCode2": pair.code2, "Version": S.IAM_VERSION}, method="GET")
    assert r.status_code == 200, r.text
    assert S.xml_root(r).tag == f"{{{S.IAM_NS}}}EnableMFADeviceResponse"
    assert len(iam.list_mfa_devices(UserName=user.name)["MFADevices"]) == 1


def test_form_list_encoding(endpoint, iam, make_device):
    """Tags.member.N.Key / TagKeys.member.N as sent by SDKs."""
    dev = make_device()
    r = S.signed_request(endpoint, {
        "Action": "TagMFADevice", "Version": S.IAM_VERSION, "SerialNumber": dev.serial,
        "Tags.member.1.Key": "b", "Tags.member.1.Value": "two words",
        "Tags.member.2.Key": "a", "Tags.member.2.Value": "é",
    })
    assert r.status_code == 200, r.text
    assert iam.list_mfa_device_tags(SerialNumber=dev.serial)["Tags"] == [
        {"Key": "a", "Value": "é"}, {"Key": "b", "Value": "two words"}]
    r = S.signed_request(endpoint, {"Action": "UntagMFADevice", "Version": S.IAM_VERSION,
                                    "SerialNumber": dev.serial, "TagKeys.member.1": "a"})
    assert r.status_code == 200, r.text
    assert iam.list_mfa_device_tags(SerialNumber=dev.serial)["Tags"] == [{"Key": "b", "Value": "two words"}]


def test_health_endpoint(endpoint):
    r = requests.get(endpoint + "/health", timeout=10)
    assert r.status_code == 200


# --- Characters XML 1.0 forbids (issue #13.5) --------------------------------------------------
# Error messages echo input. Whatever a client sends, every body must be well-formed XML; iamd
# replaces each forbidden character with U+FFFD.

XML_FORBIDDEN = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x0e", "\x1f", "\ufffe", "\uffff"]


def _forbidden_inputs(user, c):
    """(service, params) for several operations, each carrying `c` in an echoed parameter."""
    iam = {"Version": S.IAM_VERSION}
    return [
        ("iam", {**iam, "Action": "GetUser", "UserName": f"a{c}b"}),
        ("iam", {**iam, "Action": "CreateUser", "UserName": f"new{c}user"}),
        ("iam", {**iam, "Action": "CreateUser", "UserName": S.unique("p"), "Path": f"/x{c}/"}),
        ("iam", {**iam, "Action": "TagUser", "UserName": user.name,
                 "Tags.member.1.Key": f"k{c}", "Tags.member.1.Value": "v"}),
        ("iam", {**iam, "Action": "UntagUser", "UserName": user.name, "TagKeys.member.1": f"k{c}"}),
        ("iam", {**iam, "Action": "DeleteVirtualMFADevice",
                 "SerialNumber": f"arn:aws:iam::{S.ACCOUNT_ID}:mfa/d{c}"}),
        ("iam", {**iam, "Action": "DeactivateMFADevice", "UserName": user.name,
                 "SerialNumber": f"arn:aws:iam::{S.ACCOUNT_ID}:mfa/d{c}"}),
        ("iam", {**iam, "Action": f"Get{c}User", "UserName": user.name}),
        ("sts", {"Version": S.STS_VERSION, "Action": "GetSessionToken", "SerialNumber": f"s{c}",
                 "TokenCode": "123456"}),
    ]


@pytest.mark.parametrize("c", XML_FORBIDDEN, ids=[f"U+{ord(c):04X}" for c in XML_FORBIDDEN])
def test_forbidden_xml_characters_never_reach_the_body(endpoint, make_user, c):
    user = make_user("ctl")
    for service, params in _forbidden_inputs(user, c):
        r = S.signed_request(endpoint, params, service=service)
        try:
            root = S.xml_root(r)  # expat: any forbidden character, raw or as a reference, fails
        except Exception as e:  # noqa: BLE001 - report which request broke the document
            pytest.fail(f"{params['Action']!r} -> {r.status_code}: ill-formed XML ({e}): {r.content!r}")
        assert c.encode() not in r.content
        assert 400 <= r.status_code < 500, (params, r.status_code, r.text)
        if params["Action"] == "GetUser":  # the message quotes the name, marked where c was
            ns = root.tag[1:].split("}")[0]
            assert "a\ufffdb" in root.findtext(S.q(ns, "Error/Message")), r.text


@pytest.mark.parametrize("c", ["\x01", "\x1f", "\uffff"], ids=["U+0001", "U+001F", "U+FFFF"])
def test_boto3_gets_a_client_error_for_forbidden_characters(iam, sts, make_user, c):
    from botocore.exceptions import ClientError

    user = make_user("ctlb")
    calls = [
        lambda: iam.get_user(UserName=f"a{c}b"),
        lambda: iam.create_user(UserName=f"new{c}user"),
        lambda: iam.tag_user(UserName=user.name, Tags=[{"Key": f"k{c}", "Value": "v"}]),
        lambda: iam.delete_virtual_mfa_device(SerialNumber=f"arn:aws:iam::{S.ACCOUNT_ID}:mfa/d{c}"),
        lambda: sts.get_session_token(SerialNumber=f"arn:aws:iam::{S.ACCOUNT_ID}:mfa/s{c}", TokenCode="123456"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as info:
            call()
        error = info.value.response["Error"]
        assert error["Code"] in ("ValidationError", "NoSuchEntity", "InvalidParameterValue"), error
        assert c not in error.get("Message", "")
