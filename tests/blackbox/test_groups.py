"""IAM groups and memberships: CreateGroup / GetGroup / ListGroups / UpdateGroup / DeleteGroup /
AddUserToGroup / RemoveUserFromGroup / ListGroupsForUser.

Through the boto3 client, the boto3 resource API and the AWS CLI.  Group names
are unique per account without regard to case, like user names.
"""

import re

import pytest

import iamd_support as S
from iamd_support import expect_error

MSG_GROUPS_PER_USER = "Cannot exceed quota for GroupsPerUser: 10"
MSG_REMOVE_USERS = "Cannot delete entity, must remove users from group first."
MSG_DELETE_POLICIES = "Cannot delete entity, must delete policies first."
DOC = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}'


def msg_no_group(name):
    return f"The group with name {name} cannot be found."


def msg_group_exists(name):
    return f"Group with name {name} already exists."


def group_arn(name, path="/"):
    return f"arn:aws:iam::{S.ACCOUNT_ID}:group{path}{name}"


def _all(client, op, key, **kw):
    out = []
    for page in client.get_paginator(op).paginate(**kw):
        out.extend(page[key])
    return out


def _pages(client, op, key, page_size, **kw):
    """Pages at `page_size`; every page but the last is truncated with a fresh Marker."""
    pages = list(client.get_paginator(op).paginate(PaginationConfig={"PageSize": page_size}, **kw))
    markers = [p.get("Marker") for p in pages[:-1]]
    assert all(p["IsTruncated"] is True and p.get("Marker") for p in pages[:-1]), pages
    assert len(set(markers)) == len(markers)
    assert pages[-1].get("IsTruncated") in (False, None)
    assert all(len(p[key]) <= page_size for p in pages)
    return pages


@pytest.fixture
def make_group(iam):
    def make(prefix="g", path=None, name=None):
        name = name or S.unique(prefix)
        kw = {"Path": path} if path else {}
        return iam.create_group(GroupName=name, **kw)["Group"]

    return make


@pytest.fixture
def bob(make_user, client_factory):
    """An IAM user without any policy, calling with its own access key."""
    user = make_user("gbob", with_key=True)
    user.iam = client_factory("iam", user.creds)
    return user


# ---------------------------------------------------------------------------
# boto3 client
# ---------------------------------------------------------------------------


def test_create_group_fields(iam):
    name = S.unique("grp")
    g = iam.create_group(GroupName=name)["Group"]
    assert g["GroupName"] == name
    assert g["Path"] == "/"
    assert g["Arn"] == group_arn(name)
    assert re.fullmatch(r"AGPA[A-Z2-7]{17}", g["GroupId"]), g["GroupId"]
    S.assert_recent(g["CreateDate"])
    got = iam.get_group(GroupName=name)
    assert got["Group"] == g
    assert got["Users"] == []
    assert got["IsTruncated"] is False and "Marker" not in got


def test_create_group_with_path(iam):
    name = S.unique("gp")
    path = f"/dept/{S.unique('team')}/"
    g = iam.create_group(GroupName=name, Path=path)["Group"]
    assert g["Path"] == path and g["Arn"] == group_arn(name, path)
    assert iam.get_group(GroupName=name)["Group"]["Arn"] == g["Arn"]


def test_group_ids_unique(iam, make_group):
    assert len({make_group("gid")["GroupId"] for _ in range(4)}) == 4


def test_duplicate_group_any_case(iam, make_group):
    g = make_group("Dup")
    with expect_error("EntityAlreadyExists", 409, msg_group_exists(g["GroupName"])):
        iam.create_group(GroupName=g["GroupName"])
    with expect_error("EntityAlreadyExists", 409, msg_group_exists(g["GroupName"].upper())):
        iam.create_group(GroupName=g["GroupName"].upper(), Path="/other/")


def test_lookup_is_case_insensitive(iam, make_group):
    g = make_group("Case")
    got = iam.get_group(GroupName=g["GroupName"].upper())["Group"]
    assert got["GroupName"] == g["GroupName"]


def test_unknown_group_errors(iam, make_user):
    name = S.unique("nog")
    user = make_user("gnu")
    for call in (
        lambda: iam.get_group(GroupName=name),
        lambda: iam.update_group(GroupName=name, NewPath="/x/"),
        lambda: iam.delete_group(GroupName=name),
        lambda: iam.add_user_to_group(GroupName=name, UserName=user.name),
        lambda: iam.remove_user_from_group(GroupName=name, UserName=user.name),
    ):
        with expect_error("NoSuchEntity", 404, msg_no_group(name)):
            call()


def test_invalid_names_and_paths(iam_nv):
    with expect_error("ValidationError", 400, startswith="1 validation error detected"):
        iam_nv.create_group(GroupName="bad name!")
    with expect_error("ValidationError", 400, startswith="1 validation error detected"):
        iam_nv.create_group(GroupName="x" * 129)
    with expect_error("ValidationError", 400):
        iam_nv.create_group(GroupName=S.unique("gpath"), Path="no-slashes")


def test_list_groups_sorted_and_path_prefix(iam, make_group):
    base = f"/lg/{S.unique('p')}/"
    made = [make_group(p, path=base)["GroupName"] for p in ("zeta", "Alpha", "mid")]
    other = make_group("outside", path=f"/lg/{S.unique('q')}/")
    listed = _all(iam, "list_groups", "Groups", PathPrefix=base)
    assert [g["GroupName"] for g in listed] == sorted(made, key=str.lower)
    assert all(g["Path"] == base and g["Arn"] == group_arn(g["GroupName"], base) for g in listed)
    everything = [g["GroupName"] for g in _all(iam, "list_groups", "Groups")]
    assert set(made) | {other["GroupName"]} <= set(everything)
    assert everything == sorted(everything, key=str.lower)
    resp = iam.list_groups(PathPrefix=f"/lg/{S.unique('none')}/")
    assert resp["Groups"] == [] and resp["IsTruncated"] is False


def test_list_groups_pagination(iam, make_group):
    base = f"/pg/{S.unique('p')}/"
    names = sorted((make_group("pg", path=base)["GroupName"] for _ in range(5)), key=str.lower)
    pages = _pages(iam, "list_groups", "Groups", 2, PathPrefix=base)
    assert [len(p["Groups"]) for p in pages] == [2, 2, 1]
    assert [g["GroupName"] for p in pages for g in p["Groups"]] == names
    # raw Marker/MaxItems
    first = iam.list_groups(PathPrefix=base, MaxItems=3)
    assert first["IsTruncated"] is True and len(first["Groups"]) == 3
    rest = iam.list_groups(PathPrefix=base, Marker=first["Marker"])
    assert [g["GroupName"] for g in first["Groups"] + rest["Groups"]] == names
    with expect_error("ValidationError", 400, "Invalid Marker."):
        iam.list_groups(Marker="garbage!")


def test_update_group_rename_and_path(iam, make_group, make_user):
    g = make_group("old")
    user = make_user("gupd")
    iam.add_user_to_group(GroupName=g["GroupName"], UserName=user.name)
    new = S.unique("new")
    assert set(iam.update_group(GroupName=g["GroupName"], NewGroupName=new)) == {"ResponseMetadata"}
    with expect_error("NoSuchEntity", 404, msg_no_group(g["GroupName"])):
        iam.get_group(GroupName=g["GroupName"])
    got = iam.get_group(GroupName=new)
    assert got["Group"]["GroupId"] == g["GroupId"] and got["Group"]["Arn"] == group_arn(new)
    assert [u["UserName"] for u in got["Users"]] == [user.name]
    iam.update_group(GroupName=new, NewPath="/moved/")
    got = iam.get_group(GroupName=new)["Group"]
    assert got["Path"] == "/moved/" and got["Arn"] == group_arn(new, "/moved/")
    assert [x["GroupName"] for x in iam.list_groups_for_user(UserName=user.name)["Groups"]] == [new]


def test_update_group_onto_taken_name(iam, make_group):
    a, b = make_group("ua"), make_group("ub")
    with expect_error("EntityAlreadyExists", 409, msg_group_exists(b["GroupName"])):
        iam.update_group(GroupName=a["GroupName"], NewGroupName=b["GroupName"])
    # changing only the case of its own name is fine
    iam.update_group(GroupName=a["GroupName"], NewGroupName=a["GroupName"].upper())
    assert iam.get_group(GroupName=a["GroupName"])["Group"]["GroupName"] == a["GroupName"].upper()


def test_membership_lifecycle(iam, make_group, make_user):
    g = make_group("mem")
    users = sorted((make_user("gm").name for _ in range(3)), key=str.lower)
    for u in users:
        assert set(iam.add_user_to_group(GroupName=g["GroupName"], UserName=u)) == {"ResponseMetadata"}
    # adding again is not an error
    iam.add_user_to_group(GroupName=g["GroupName"], UserName=users[0].upper())
    got = iam.get_group(GroupName=g["GroupName"])
    assert [u["UserName"] for u in got["Users"]] == users
    assert all(u["Arn"] == S.user_arn(u["UserName"]) and u["UserId"].startswith("AIDA") for u in got["Users"])
    assert set(got["Users"][0]) >= {"Path", "UserName", "UserId", "Arn", "CreateDate"}
    assert set(iam.remove_user_from_group(GroupName=g["GroupName"], UserName=users[1])) == {"ResponseMetadata"}
    assert [u["UserName"] for u in iam.get_group(GroupName=g["GroupName"])["Users"]] == [users[0], users[2]]
    assert iam.list_groups_for_user(UserName=users[1])["Groups"] == []


def test_add_and_remove_unknown_user(iam, make_group, make_user):
    g = make_group("unk")
    ghost = S.unique("ghost")
    with expect_error("NoSuchEntity", 404, S.msg_no_user(ghost)):
        iam.add_user_to_group(GroupName=g["GroupName"], UserName=ghost)
    with expect_error("NoSuchEntity", 404, S.msg_no_user(ghost)):
        iam.remove_user_from_group(GroupName=g["GroupName"], UserName=ghost)
    # a user who exists but is not a member
    outsider = make_user("gout")
    with expect_error("NoSuchEntity", 404, S.msg_no_user(outsider.name)):
        iam.remove_user_from_group(GroupName=g["GroupName"], UserName=outsider.name)


def test_get_group_users_pagination(iam, make_group, make_user):
    g = make_group("gpu")
    names = sorted((make_user("gpu").name for _ in range(5)), key=str.lower)
    for n in names:
        iam.add_user_to_group(GroupName=g["GroupName"], UserName=n)
    pages = _pages(iam, "get_group", "Users", 2, GroupName=g["GroupName"])
    assert [len(p["Users"]) for p in pages] == [2, 2, 1]
    assert all(p["Group"]["GroupName"] == g["GroupName"] for p in pages)
    assert [u["UserName"] for p in pages for u in p["Users"]] == names
    with expect_error("ValidationError", 400, "Invalid Marker."):
        iam.get_group(GroupName=g["GroupName"], Marker="bm90LWEtbWFya2Vy")


def test_list_groups_for_user_sorted_and_paginated(iam, make_group, make_user):
    user = make_user("glu")
    names = sorted((make_group("glu")["GroupName"] for _ in range(4)), key=str.lower)
    for n in reversed(names):
        iam.add_user_to_group(GroupName=n, UserName=user.name)
    listed = iam.list_groups_for_user(UserName=user.name)
    assert [g["GroupName"] for g in listed["Groups"]] == names and listed["IsTruncated"] is False
    assert all(g["Arn"] == group_arn(g["GroupName"]) and g["GroupId"].startswith("AGPA") for g in listed["Groups"])
    pages = _pages(iam, "list_groups_for_user", "Groups", 3, UserName=user.name)
    assert [g["GroupName"] for p in pages for g in p["Groups"]] == names
    ghost = S.unique("ghost")
    with expect_error("NoSuchEntity", 404, S.msg_no_user(ghost)):
        iam.list_groups_for_user(UserName=ghost)


def test_groups_per_user_quota(iam, make_group, make_user):
    user = make_user("gq")
    groups = [make_group("gq")["GroupName"] for _ in range(11)]
    for n in groups[:10]:
        iam.add_user_to_group(GroupName=n, UserName=user.name)
    # re-adding to a group the user is in is fine at the quota
    iam.add_user_to_group(GroupName=groups[0], UserName=user.name)
    with expect_error("LimitExceeded", 409, MSG_GROUPS_PER_USER):
        iam.add_user_to_group(GroupName=groups[10], UserName=user.name)
    iam.remove_user_from_group(GroupName=groups[0], UserName=user.name)
    iam.add_user_to_group(GroupName=groups[10], UserName=user.name)
    for n in groups:
        if n != groups[0]:
            iam.remove_user_from_group(GroupName=n, UserName=user.name)
        iam.delete_group(GroupName=n)


def test_delete_group_conflicts(iam, make_group, make_user):
    g = make_group("del")
    user = make_user("gdel")
    iam.add_user_to_group(GroupName=g["GroupName"], UserName=user.name)
    iam.put_group_policy(GroupName=g["GroupName"], PolicyName="inline", PolicyDocument=DOC)
    with expect_error("DeleteConflict", 409, MSG_REMOVE_USERS):
        iam.delete_group(GroupName=g["GroupName"])
    iam.remove_user_from_group(GroupName=g["GroupName"], UserName=user.name)
    with expect_error("DeleteConflict", 409, MSG_DELETE_POLICIES):
        iam.delete_group(GroupName=g["GroupName"])
    iam.delete_group_policy(GroupName=g["GroupName"], PolicyName="inline")
    assert set(iam.delete_group(GroupName=g["GroupName"])) == {"ResponseMetadata"}
    with expect_error("NoSuchEntity", 404, msg_no_group(g["GroupName"])):
        iam.get_group(GroupName=g["GroupName"])
    # the name is free again
    iam.create_group(GroupName=g["GroupName"])
    iam.delete_group(GroupName=g["GroupName"].upper())


def test_delete_user_refused_while_in_group(iam, make_group, make_user):
    g = make_group("du")
    user = make_user("gdu")
    iam.add_user_to_group(GroupName=g["GroupName"], UserName=user.name)
    with expect_error("DeleteConflict", 409, MSG_REMOVE_USERS):
        iam.delete_user(UserName=user.name)
    iam.remove_user_from_group(GroupName=g["GroupName"], UserName=user.name)
    iam.delete_user(UserName=user.name)
    assert iam.get_group(GroupName=g["GroupName"])["Users"] == []


@pytest.mark.slow
def test_groups_per_account_quota(server_factory):
    srv = server_factory("gquota")
    iam = S.make_client("iam", srv.endpoint, S.ROOT)
    for i in range(300):
        iam.create_group(GroupName=f"q{i:03d}")
    with expect_error("LimitExceeded", 409, "Cannot exceed quota for GroupsPerAccount: 300"):
        iam.create_group(GroupName="one-too-many")
    iam.delete_group(GroupName="q000")
    iam.create_group(GroupName="one-too-many")


# ---------------------------------------------------------------------------
# Authorization
# ---------------------------------------------------------------------------


def test_user_without_permissions_is_denied(iam, bob, make_group, make_user):
    g = make_group("deny")
    other = make_user("gother")
    calls = {
        "CreateGroup": lambda: bob.iam.create_group(GroupName=S.unique("bobg")),
        "GetGroup": lambda: bob.iam.get_group(GroupName=g["GroupName"]),
        "ListGroups": lambda: bob.iam.list_groups(),
        "UpdateGroup": lambda: bob.iam.update_group(GroupName=g["GroupName"], NewPath="/x/"),
        "DeleteGroup": lambda: bob.iam.delete_group(GroupName=g["GroupName"]),
        "AddUserToGroup": lambda: bob.iam.add_user_to_group(GroupName=g["GroupName"], UserName=bob.name),
        "RemoveUserFromGroup": lambda: bob.iam.remove_user_from_group(GroupName=g["GroupName"], UserName=bob.name),
        "ListGroupsForUser": lambda: bob.iam.list_groups_for_user(UserName=other.name),
    }
    for action, call in calls.items():
        with expect_error("AccessDenied", 403, startswith=S.denied_prefix(bob.arn, action)):
            call()
    # nothing changed
    assert iam.list_groups_for_user(UserName=bob.name)["Groups"] == []
    assert iam.get_group(GroupName=g["GroupName"])["Group"]["Path"] == "/"


# ---------------------------------------------------------------------------
# boto3 resource API
# ---------------------------------------------------------------------------


def test_resource_group_lifecycle(iam_resource, make_user):
    name = S.unique("rg")
    group = iam_resource.Group(name)
    created = group.create(Path="/res/")
    assert created.name == name
    assert created.arn == group_arn(name, "/res/") and created.path == "/res/"
    assert created.group_id.startswith("AGPA")
    loaded = iam_resource.Group(name)
    loaded.load()
    assert loaded.group_id == created.group_id and loaded.create_date is not None
    users = sorted((make_user("rgu").name for _ in range(3)), key=str.lower)
    for u in users:
        group.add_user(UserName=u)
    assert [u.name for u in group.users.all()] == users
    assert [u.name for u in group.users.page_size(1)] == users
    user = iam_resource.User(users[0])
    assert [g.name for g in user.groups.all()] == [name]
    group.remove_user(UserName=users[1])
    iam_resource.User(users[2]).remove_group(GroupName=name)
    assert [u.name for u in group.users.all()] == [users[0]]
    other = S.unique("rgo")
    iam_resource.create_group(GroupName=other)
    user.add_group(GroupName=other)
    assert sorted(g.name for g in user.groups.all()) == sorted([name, other])
    assert {g.name for g in iam_resource.groups.filter(PathPrefix="/res/")} >= {name}
    renamed = group.update(NewGroupName=name + "-r")
    assert renamed.name == name + "-r"
    renamed.load()
    assert renamed.group_id == created.group_id
    for g in (renamed, iam_resource.Group(other)):
        for u in list(g.users.all()):
            g.remove_user(UserName=u.name)
        g.delete()
    with pytest.raises(Exception) as exc:
        iam_resource.Group(other).load()
    S.check_error(exc.value, "NoSuchEntity", 404, msg_no_group(other))


# ---------------------------------------------------------------------------
# AWS CLI
# ---------------------------------------------------------------------------


def test_cli_group_commands(aws_cli, make_user):
    name = S.unique("cg")
    user = make_user("cgu")
    out = aws_cli.run("iam", "create-group", "--group-name", name, "--path", "/cli/")
    g = out.json["Group"]
    assert g["GroupName"] == name and g["Arn"] == group_arn(name, "/cli/") and g["GroupId"].startswith("AGPA")
    aws_cli.run("iam", "add-user-to-group", "--group-name", name, "--user-name", user.name)
    got = aws_cli.run("iam", "get-group", "--group-name", name).json
    assert got["Group"]["GroupName"] == name and [u["UserName"] for u in got["Users"]] == [user.name]
    listed = aws_cli.run("iam", "list-groups", "--path-prefix", "/cli/").json["Groups"]
    assert name in [x["GroupName"] for x in listed]
    mine = aws_cli.run("iam", "list-groups-for-user", "--user-name", user.name).json["Groups"]
    assert [x["GroupName"] for x in mine] == [name]
    out = aws_cli.run("iam", "delete-group", "--group-name", name, check=False)
    S.cli_error(out, "DeleteConflict", MSG_REMOVE_USERS)
    aws_cli.run("iam", "remove-user-from-group", "--group-name", name, "--user-name", user.name)
    aws_cli.run("iam", "update-group", "--group-name", name, "--new-group-name", name + "-x", "--new-path", "/cli2/")
    got = aws_cli.run("iam", "get-group", "--group-name", name + "-x").json
    assert got["Group"]["Path"] == "/cli2/" and got["Users"] == []
    aws_cli.run("iam", "delete-group", "--group-name", name + "-x")
    out = aws_cli.run("iam", "get-group", "--group-name", name + "-x", check=False)
    S.cli_error(out, "NoSuchEntity", msg_no_group(name + "-x"))
    out = aws_cli.run("iam", "create-group", "--group-name", user.name, check=False)
    assert out.returncode == 0
    out = aws_cli.run("iam", "create-group", "--group-name", user.name, check=False)
    S.cli_error(out, "EntityAlreadyExists", msg_group_exists(user.name))
    aws_cli.run("iam", "delete-group", "--group-name", user.name)


def test_cli_pagination(aws_cli, iam, make_group):
    base = f"/clip/{S.unique('p')}/"
    names = sorted((make_group("clip", path=base)["GroupName"] for _ in range(3)), key=str.lower)
    out = aws_cli.run("iam", "list-groups", "--path-prefix", base, "--page-size", "1")
    assert [g["GroupName"] for g in out.json["Groups"]] == names
    out = aws_cli.run("iam", "list-groups", "--path-prefix", base, "--max-items", "2")
    assert [g["GroupName"] for g in out.json["Groups"]] == names[:2] and out.json.get("NextToken")
