"""Server-side input validation (AWS Coral format).  botocore only checks
required members and minimums, so a client without validation sends the rest."""

import pytest

import iamd_support as S
from iamd_support import expect_error


def _pattern(value, member, pattern):
    return (f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {pattern}")


def _too_long(member, n):
    # AWS omits the value for (some) length violations; accept both forms.
    return dict(startswith="1 validation error detected: Value ",
                contains=f"at '{member}' failed to satisfy constraint: "
                         f"Member must have length less than or equal to {n}")


def test_user_name_pattern(iam_nv):
    with expect_error("ValidationError", 400, _pattern("x y", "userName", S.USER_NAME_PATTERN)):
        iam_nv.create_user(UserName="x y")


@pytest.mark.parametrize("bad", ["a/b", "a*b", "ä", "tab\tname", "semi;colon"])
def test_user_name_bad_characters(iam_nv, bad):
    with expect_error("ValidationError", 400, _pattern(bad, "userName", S.USER_NAME_PATTERN)):
        iam_nv.create_user(UserName=bad)


def test_user_name_allowed_characters(iam):
    name = "a_b+c=d,e.f@g-" + S.unique("h")
    assert iam.create_user(UserName=name)["User"]["UserName"] == name


def test_user_name_64_ok_65_refused(iam_nv):
    ok = ("n" + S.unique("x")).ljust(64, "z")
    assert len(ok) == 64
    iam_nv.create_user(UserName=ok)
    with expect_error("ValidationError", 400, **_too_long("userName", 64)):
        iam_nv.create_user(UserName=ok + "z")


def test_existing_user_name_max_is_128(iam_nv):
    with expect_error("ValidationError", 400, **_too_long("userName", 128)):
        iam_nv.get_user(UserName="u" * 129)
    # 65..128 characters pass validation and simply do not exist
    with expect_error("NoSuchEntity", 404, S.msg_no_user("u" * 100)):
        iam_nv.get_user(UserName="u" * 100)


def test_user_path_too_long(iam_nv):
    with expect_error("ValidationError", 400, S.MSG_PATH_TOO_LONG):
        iam_nv.create_user(UserName=S.unique("lp"), Path="/" + "p" * 511 + "/")


@pytest.mark.parametrize("path", ["bad", "/no-end", "no-start/"])
def test_user_path_invalid(iam_nv, path):
    with expect_error("ValidationError", 400, S.MSG_PATH_INVALID):
        iam_nv.create_user(UserName=S.unique("bp"), Path=path)


def test_two_validation_errors(iam_nv):
    with pytest.raises(S.ClientError) as ei:
        iam_nv.create_user(UserName="x y", Path="/" + "a" * 600 + "/")
    S.check_error(ei.value, "ValidationError", 400,
                  startswith="2 validation errors detected: ",
                  contains=["at 'path' failed to satisfy constraint: Member must have length less than or equal to 512",
                            "Value 'x y' at 'userName' failed to satisfy constraint: "
                            r"Member must satisfy regular expression pattern: [\w+=,.@-]+",
                            "; "])


def test_path_prefix_pattern(iam_nv):
    with expect_error("ValidationError", 400,
                      _pattern("nope", "pathPrefix", r"\u002F[\u0021-\u007F]*")):
        iam_nv.list_users(PathPrefix="nope")


def test_new_user_name_pattern(iam_nv, make_user):
    user = make_user("nun")
    with expect_error("ValidationError", 400, _pattern("a b", "newUserName", S.USER_NAME_PATTERN)):
        iam_nv.update_user(UserName=user.name, NewUserName="a b")


def test_access_key_id_pattern(iam_nv, make_user):
    user = make_user("akp")
    with expect_error("ValidationError", 400, _pattern("AKIA-BAD-KEY-00000", "accessKeyId", r"[\w]+")):
        iam_nv.delete_access_key(UserName=user.name, AccessKeyId="AKIA-BAD-KEY-00000")


def test_marker_too_long(iam_nv):
    with expect_error("ValidationError", 400, **_too_long("marker", 320)):
        iam_nv.list_users(Marker="m" * 321)


def test_too_many_tags_at_create(iam_nv):
    tags = [{"Key": f"k{i}", "Value": ""} for i in range(51)]
    for call in (lambda: iam_nv.create_user(UserName=S.unique("t51"), Tags=tags),
                 lambda: iam_nv.create_virtual_mfa_device(VirtualMFADeviceName=S.unique("t51"), Tags=tags)):
        with pytest.raises(S.ClientError) as ei:
            call()
        # either the list-length constraint or the quota: both refuse the whole request
        code = S.error_code(ei.value)
        if code == "ValidationError":
            S.check_error(ei.value, "ValidationError", 400, **_too_long("tags", 50))
        else:
            S.check_error(ei.value, "LimitExceeded", 409)


def test_user_tag_duplicate_keys(iam_nv):
    name = S.unique("dupt")
    with expect_error("InvalidInput", 400, S.MSG_DUP_TAGS):
        iam_nv.create_user(UserName=name, Tags=[{"Key": "a", "Value": ""}, {"Key": "A", "Value": ""}])
    with expect_error("NoSuchEntity", 404):
        iam_nv.get_user(UserName=name)


def test_validation_runs_before_authorization_lookups(iam_nv):
    """An invalid name is a ValidationError even if no such user exists."""
    with expect_error("ValidationError", 400, _pattern("no such", "userName", S.USER_NAME_PATTERN)):
        iam_nv.delete_user(UserName="no such")
