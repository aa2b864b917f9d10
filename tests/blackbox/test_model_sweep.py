"""A sweep driven by the botocore models: for every operation iamd serves, inputs at the edge of
each constraint (the longest, the shortest and the extreme values allowed), which must never fail
the server, and inputs that break one constraint each (a missing required member, too short, too long, outside the pattern, not in the
enum, out of range, the wrong type, control and odd Unicode characters, too many list items),
sent past botocore's own validation. Each must come back as a well-formed AWS error with a 4xx
status — never a 5xx, never a success — and leave the account exactly as it was.

The operation list is tools/gen_model.py's (what the server is generated from); the shapes come
from the botocore that boto3 ships, which is what clients send."""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import botocore.exceptions
import botocore.session
import pytest

import iamd_support as S

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import gen_model  # noqa: E402

SERVICES = {"iam": gen_model.IAM_OPERATIONS, "sts": gen_model.STS_OPERATIONS}
# Characters XML 1.0 cannot carry, and others a careless echo or parser mishandles.
CONTROL = ["\x00", "\x01", "\x0b", "\x1f", "\ufffe", "\uffff"]
ODD = ["é", "\u202e", "\U0001f600", "<a&b>", "%00", " "]


@functools.cache
def unicode_category(prefix: str) -> str:
    """The characters of a Unicode general category (`L`, `Z`, `N`, …) as ranges for a Python
    character class: Python's `re` has no `\\p{…}`, which some of the models' patterns use."""
    ranges, start, last = [], None, None
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)).startswith(prefix):
            if start is None:
                start = code
            last = code
        elif start is not None:
            ranges.append(f"\\U{start:08x}-\\U{last:08x}")
            start = None
    if start is not None:
        ranges.append(f"\\U{start:08x}-\\U{last:08x}")
    return "".join(ranges)


def pattern_of(shape) -> re.Pattern | None:
    pattern = shape.metadata.get("pattern")
    if not pattern:
        return None
    # The models' patterns are Java regexes applied to the whole value, \w and \d ASCII-only.
    pattern = re.sub(r"\\p\{(\w+)\}", lambda m: unicode_category(m.group(1)), pattern)
    return re.compile(pattern, re.ASCII | re.DOTALL)


def fits(shape, value: str) -> bool:
    """Whether a string satisfies every constraint the model puts on it."""
    meta = shape.metadata
    if len(value) < meta.get("min", 0) or len(value) > meta.get("max", 1 << 30):
        return False
    if shape.enum and value not in shape.enum:
        return False
    pattern = pattern_of(shape)
    return pattern is None or pattern.fullmatch(value) is not None


def valid_value(shape):
    """A value the model accepts (not necessarily one the account holds): fills the members a
    broken input does not break, so that the one broken member is what the server answers."""
    kind = shape.type_name
    if kind == "string":
        if shape.enum:
            return shape.enum[0]
        low = max(shape.metadata.get("min", 1), 1)
        for candidate in ["a", "/", "v1", "1", "arn:aws:iam::123456789012:policy/sweep", "/sweep/"]:
            padded = candidate + "a" * max(0, low - len(candidate)) if candidate not in ("/",) else candidate
            if fits(shape, padded):
                return padded
        return "a" * low
    if kind in ("integer", "long"):
        return max(shape.metadata.get("min", 1), 1)
    if kind == "boolean":
        return True
    if kind == "list":
        return [valid_value(shape.member)]
    if kind == "structure":
        return {name: valid_value(member) for name, member in shape.members.items()
                if name in shape.required_members}
    if kind == "map":
        return {"k": valid_value(shape.value)}
    if kind == "timestamp":
        return "2026-01-01T00:00:00Z"
    return "a"


def broken_values(shape) -> list[tuple[str, object]]:
    """(what is broken, value) pairs, each outside the model's constraints for this shape."""
    kind = shape.type_name
    meta = shape.metadata
    out: list[tuple[str, object]] = []
    if kind == "string":
        if meta.get("min", 0) > 0:
            out.append(("too short", "a" * (meta["min"] - 1)))
        if "max" in meta:
            longest = valid_value(shape)
            filler = longest[-1:] or "a"
            too_long = (longest + filler * (meta["max"] + 1))[: meta["max"] + 1]
            if not fits(shape, too_long):
                out.append(("too long", too_long))
        if shape.enum:
            out.append(("not in the enum", "NotOneOfThem"))
        for what, candidates in (("pattern", [" ", "ä", "*", "a b", "\t"]), ("control character", CONTROL),
                                 ("odd Unicode", ODD)):
            for candidate in candidates:
                value = candidate if what == "pattern" else valid_value(shape) + candidate
                if not fits(shape, value):
                    out.append((f"{what} {candidate!r}", value))
                    if what == "pattern":
                        break
    elif kind in ("integer", "long"):
        if "min" in meta:
            out.append(("below the range", meta["min"] - 1))
        if "max" in meta:
            out.append(("above the range", meta["max"] + 1))
        out.append(("not a number", "twelve"))
    elif kind == "boolean":
        # botocore turns any value into true/false, so this one goes out as raw query text.
        out.append(("not a boolean", RawText("maybe")))
    elif kind == "list":
        if "max" in meta:
            out.append(("too many items", [valid_value(shape.member)] * (meta["max"] + 1)))
        for what, value in broken_values(shape.member):
            out.append((f"item: {what}", [value]))
    elif kind == "structure":
        for name, member in shape.members.items():
            base = valid_value(shape)
            if name in shape.required_members:
                missing = {k: v for k, v in base.items() if k != name}
                out.append((f"{name} missing", missing))
            for what, value in broken_values(member):
                out.append((f"{name}: {what}", {**base, name: value}))
    return out


class RawText(str):
    """A value to send exactly as written, past botocore's serializer."""


@dataclass
class Case:
    service: str
    operation: str
    what: str
    params: dict

    @property
    def raw(self) -> bool:
        return any(isinstance(v, RawText) for v in self.params.values())


def cases() -> list[Case]:
    session = botocore.session.get_session()
    out = []
    for service, operations in SERVICES.items():
        model = session.get_service_model(service)
        for operation in operations:
            shape = model.operation_model(operation).input_shape
            if shape is None:
                continue
            required = {name: valid_value(shape.members[name]) for name in shape.required_members}
            for name, member in shape.members.items():
                if name in shape.required_members:
                    out.append(Case(service, operation, f"{name} missing",
                                    {k: v for k, v in required.items() if k != name}))
                for what, value in broken_values(member):
                    out.append(Case(service, operation, f"{name}: {what}", {**required, name: value}))
    return out


CASES = cases()


def flatten(params: dict, prefix: str = "") -> dict:
    """The query protocol's form of nested input: `Tags.member.1.Key=…`."""
    out = {}
    for name, value in params.items():
        key = f"{prefix}{name}"
        if isinstance(value, list):
            for i, item in enumerate(value, 1):
                out.update(flatten({f"{key}.member.{i}": item}))
        elif isinstance(value, dict):
            out.update(flatten(value, key + "."))
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


def fingerprint(iam) -> tuple:
    """What a write would change: the account's counts and the names of what it holds."""
    def names(op: str, key: str, field: str, **kw) -> list[str]:
        return sorted(x[field] for page in iam.get_paginator(op).paginate(**kw) for x in page[key])

    try:
        password_policy = iam.get_account_password_policy()["PasswordPolicy"]
    except iam.exceptions.NoSuchEntityException:
        password_policy = None
    return (
        password_policy,
        S.summary(iam),
        names("list_users", "Users", "UserName"),
        names("list_groups", "Groups", "GroupName"),
        names("list_roles", "Roles", "RoleName"),
        names("list_policies", "Policies", "Arn", Scope="Local"),
        sorted(d["SerialNumber"] for d in S.all_virtual_devices(iam)),
    )


def test_the_sweep_covers_every_operation():
    covered = {(c.service, c.operation) for c in CASES}
    for service, operations in SERVICES.items():
        session = botocore.session.get_session()
        for operation in operations:
            shape = session.get_service_model(service).operation_model(operation).input_shape
            if shape is not None and shape.members:
                assert (service, operation) in covered, operation
    assert len(CASES) > 500, len(CASES)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_broken_input_is_a_clean_4xx(endpoint, iam, service):
    client = S.make_client(service, endpoint, validate=False)
    before = fingerprint(iam)
    failures: list[str] = []
    method_of = {api: python for python, api in client.meta.method_to_api_mapping.items()}
    for case in (c for c in CASES if c.service == service):
        if case.raw:
            version = client.meta.service_model.api_version
            answer = S.signed_request(endpoint, {"Action": case.operation, "Version": version,
                                                 **flatten(case.params)}, service=service)
            try:
                code = S.xml_root(answer).find(".//{*}Error/{*}Code")
            except Exception as e:  # not XML at all
                code, answer_text = None, f"ill-formed XML: {e}"
            else:
                answer_text = answer.text[:200]
            if not 400 <= answer.status_code < 500 or code is None or not code.text:
                failures.append(f"{case.operation} ({case.what}): {answer.status_code} {answer_text}")
            continue
        method = getattr(client, method_of[case.operation])
        try:
            method(**case.params)
        except botocore.exceptions.ClientError as e:
            status = e.response["ResponseMetadata"]["HTTPStatusCode"]
            code = e.response["Error"].get("Code")
            if not 400 <= status < 500 or not code or not e.response["Error"].get("Message"):
                failures.append(f"{case.operation} ({case.what}): {status} {code} {e}")
        except (botocore.exceptions.ResponseParserError, botocore.exceptions.HTTPClientError) as e:
            failures.append(f"{case.operation} ({case.what}): {type(e).__name__} {e}")
        else:
            failures.append(f"{case.operation} ({case.what}): accepted {case.params!r}")
    after = fingerprint(iam)
    assert not failures, f"{len(failures)} of the sweep's inputs misbehaved:\n" + "\n".join(failures[:40])
    assert after == before, "a refused input changed the account"


def edge_values(shape) -> list[tuple[str, object]]:
    """Values the model allows at the edges of its constraints."""
    meta = shape.metadata
    if shape.type_name == "string" and not shape.enum:
        base = valid_value(shape)
        out = []
        if "max" in meta:
            longest = (base + base[-1:] * meta["max"])[: meta["max"]]
            if fits(shape, longest):
                out.append(("longest", longest))
        if meta.get("min", 0) > 0:
            shortest = base[: meta["min"]]
            if fits(shape, shortest):
                out.append(("shortest", shortest))
        return out
    if shape.type_name in ("integer", "long"):
        return [(f"at {bound}", meta[bound]) for bound in ("min", "max") if bound in meta]
    if shape.type_name == "list" and "max" in meta:
        return [("most items", [valid_value(shape.member)] * meta["max"])]
    return []


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_edge_values_never_fail_the_server(server_factory, service):
    """Allowed values may be refused (an entity that does not exist, a quota) but never with a
    5xx or anything but a well-formed AWS answer. On a server of its own: these calls may write."""
    client = S.make_client(service, server_factory(f"edges-{service}").endpoint, validate=False)
    method_of = {api: python for python, api in client.meta.method_to_api_mapping.items()}
    model = botocore.session.get_session().get_service_model(service)
    failures, sent = [], 0
    for operation in SERVICES[service]:
        shape = model.operation_model(operation).input_shape
        if shape is None:
            continue
        required = {name: valid_value(shape.members[name]) for name in shape.required_members}
        for name, member in shape.members.items():
            for what, value in edge_values(member):
                sent += 1
                try:
                    getattr(client, method_of[operation])(**{**required, name: value})
                except botocore.exceptions.ClientError as e:
                    status = e.response["ResponseMetadata"]["HTTPStatusCode"]
                    if status >= 500 or not e.response["Error"].get("Code"):
                        failures.append(f"{operation} ({name} {what}): {status} {e}")
                except (botocore.exceptions.ResponseParserError, botocore.exceptions.HTTPClientError) as e:
                    failures.append(f"{operation} ({name} {what}): {type(e).__name__} {e}")
    assert sent >= 20, sent
    assert not failures, "\n".join(failures[:40])
