#!/usr/bin/env python3
"""Generate iamd's Rust tables from the botocore IAM and STS models.

One operation list (below) drives two generated files, both committed:

* crates/model/src/generated.rs — per served operation its input shapes
  (validation tables) and the `Action` enum; per service its modeled errors.
* crates/domain/src/error_codes.rs — `ErrorCode`: every error iamd can answer
  (what the models list for the served operations plus COMMON_ERRORS) with
  its HTTP status and fault. It lives in the domain crate, which must not
  depend on the model crate, so it is generated there rather than looked up.

Regenerate by hand after changing the lists below or updating the models:

    python3 tools/gen_model.py            # rewrite both files
    python3 tools/gen_model.py --check    # exit 1 if either committed file is stale

The models are read from ``../shared/spec/models`` relative to the workspace
root (the directory above ``tools/``) unless ``--models DIR`` is given.

Only the standard library is used, so any python3 can run it.
"""

import argparse
import json
import os
import re
import sys

# --------------------------------------------------------------------------
# Scope: the operations iamd serves. Extend these lists to serve more.
# --------------------------------------------------------------------------
IAM_OPERATIONS = """
    CreateUser GetUser ListUsers UpdateUser DeleteUser
    CreateAccessKey ListAccessKeys UpdateAccessKey DeleteAccessKey GetAccessKeyLastUsed
    GenerateCredentialReport GetCredentialReport
    CreateVirtualMFADevice EnableMFADevice ResyncMFADevice DeactivateMFADevice
    DeleteVirtualMFADevice ListMFADevices ListVirtualMFADevices GetMFADevice
    TagMFADevice UntagMFADevice ListMFADeviceTags
    GetAccountSummary
    CreateLoginProfile GetLoginProfile UpdateLoginProfile DeleteLoginProfile ChangePassword
    GetAccountPasswordPolicy UpdateAccountPasswordPolicy DeleteAccountPasswordPolicy
    TagUser UntagUser ListUserTags
    CreateGroup GetGroup ListGroups UpdateGroup DeleteGroup
    AddUserToGroup RemoveUserFromGroup ListGroupsForUser
    PutUserPolicy GetUserPolicy ListUserPolicies DeleteUserPolicy
    PutGroupPolicy GetGroupPolicy ListGroupPolicies DeleteGroupPolicy
    CreatePolicy GetPolicy ListPolicies DeletePolicy
    CreatePolicyVersion GetPolicyVersion ListPolicyVersions DeletePolicyVersion SetDefaultPolicyVersion
    TagPolicy UntagPolicy ListPolicyTags
    AttachUserPolicy DetachUserPolicy ListAttachedUserPolicies
    AttachGroupPolicy DetachGroupPolicy ListAttachedGroupPolicies
    ListEntitiesForPolicy PutUserPermissionsBoundary DeleteUserPermissionsBoundary
    CreateRole GetRole ListRoles UpdateRole UpdateRoleDescription UpdateAssumeRolePolicy DeleteRole
    TagRole UntagRole ListRoleTags
    PutRolePolicy GetRolePolicy ListRolePolicies DeleteRolePolicy
    AttachRolePolicy DetachRolePolicy ListAttachedRolePolicies
    PutRolePermissionsBoundary DeleteRolePermissionsBoundary
    GetAccountAuthorizationDetails
    SimulatePrincipalPolicy SimulateCustomPolicy GetContextKeysForPrincipalPolicy GetContextKeysForCustomPolicy
""".split()

STS_OPERATIONS = """
    GetCallerIdentity GetSessionToken AssumeRole
""".split()

# (Rust enum variant / identifier prefix, model file, operations)
SERVICES = [
    ("Iam", "iam-service-2.json", IAM_OPERATIONS),
    ("Sts", "sts-service-2.json", STS_OPERATIONS),
]

# The common errors iamd answers that no model lists (authentication, the
# query protocol itself, throttling): code -> (HTTP status, sender fault),
# from AWS's "Common Errors" list. The models don't carry them because every
# AWS API can return them, so this small table is their only source.
# If a model does model one of these codes, the model wins (it is what
# clients' SDKs were generated from); domain's error tests pin the statuses
# the server has always sent, so such a change cannot slip onto the wire
# unnoticed.
COMMON_ERRORS = {
    "AccessDenied": (403, True),
    "ExpiredToken": (403, True),
    "IncompleteSignature": (400, True),
    "InvalidAction": (400, True),
    "InvalidClientTokenId": (403, True),
    "MissingAction": (400, True),
    "MissingAuthenticationToken": (403, True),
    "RequestExpired": (400, True),
    "ServiceUnavailable": (503, False),
    "SignatureDoesNotMatch": (403, True),
    "Throttling": (400, True),
    "ValidationError": (400, True),
}

# Whether an operation changes anything (and so lands in the audit trail when it succeeds),
# decided by the verb its name starts with. The models carry no read-only flag, but AWS names
# every operation verb-first and each verb means one thing across IAM and STS. Reads: Get, List,
# Simulate and Decode answer from what exists; Assume (like GetSessionToken) issues temporary
# credentials without changing the account. Everything else writes — Generate too: it stores a
# report or a job. Every operation of both models (served or not) must have a verb in one of the
# two sets: a model update bringing a new verb stops the generator until someone decides it.
CHANGE_VERBS = {
    "Accept", "Acquire", "Add", "Associate", "Attach", "Change", "Create", "Deactivate", "Delete",
    "Detach", "Disable", "Enable", "Generate", "Put", "Reject", "Remove", "Reset", "Resync", "Send",
    "Set", "Tag", "Untag", "Update", "Upload",
}
READ_VERBS = {"Assume", "Decode", "Get", "List", "Simulate"}


def is_mutating(op_name):
    verb = re.match(r"[A-Z][a-z]+", op_name)
    verb = verb.group(0) if verb else op_name
    if verb in CHANGE_VERBS:
        return True
    if verb in READ_VERBS:
        return False
    raise GenError(f"operation {op_name}: verb {verb!r} is in neither CHANGE_VERBS nor READ_VERBS; decide")


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUT = os.path.join(ROOT, "crates", "model", "src", "generated.rs")
ERROR_CODES_OUTPUT = os.path.join(ROOT, "crates", "domain", "src", "error_codes.rs")
DEFAULT_MODELS = os.path.normpath(os.path.join(ROOT, "..", "shared", "spec", "models"))


class GenError(Exception):
    pass


# --------------------------------------------------------------------------
# Java regex -> Rust `regex` crate translation.
#
# The models carry Java (java.util.regex) patterns, which AWS applies with
# Matcher.matches(), i.e. to the whole value. The differences that matter:
#   * `\uXXXX` escapes: Rust spells them `\x{XXXX}`.
#   * `\w`, `\d`, `\s` are ASCII-only in Java but Unicode-aware in Rust, so
#     they are replaced by explicit ASCII classes (Unicode `\w` would accept
#     e.g. `é` in a user name, which AWS rejects).
#   * `.` excludes all Java line terminators, not only `\n`.
#   * Rust gives `--`, `&&` and `~~` meaning inside classes; they are refused
#     rather than silently changing meaning.
# Anything not understood raises GenError so a new pattern cannot slip
# through mistranslated. Every emitted pattern is also compiled by a Rust
# test (`all_patterns_compile`).
# --------------------------------------------------------------------------

ASCII_WORD = "0-9A-Za-z_"
ASCII_DIGIT = "0-9"
ASCII_SPACE = r"\t\n\x{0B}\x{0C}\r "  # Java \s: [ \t\n\x0B\f\r]
JAVA_DOT = r"[^\n\r\x{85}\x{2028}\x{2029}]"
# Characters that may appear unescaped in a Rust class or outside one.
SAFE_LITERAL = re.compile(r"[A-Za-z0-9_ !\"#%',/:;<=>@`]")


def rust_char(cp, in_class):
    """Render one code point as a Rust regex literal."""
    ch = chr(cp)
    # Inside a class `-` must stay escaped (a literal `-` next to a range
    # could read as Rust's `--` difference operator); outside it is plain.
    if SAFE_LITERAL.fullmatch(ch) or (ch in "+.*?(){}|$" if in_class else ch == "-"):
        return ch
    return "\\x{%04X}" % cp


class JavaPattern:
    def __init__(self, src):
        self.src = src
        self.i = 0

    def error(self, msg):
        return GenError(f"pattern {self.src!r} at {self.i}: {msg}")

    def peek(self, n=0):
        j = self.i + n
        return self.src[j] if j < len(self.src) else None

    def read_u_escape(self):
        """After `\\u`: four hex digits (Java reads exactly four)."""
        digits = self.src[self.i:self.i + 4]
        if not re.fullmatch(r"[0-9A-Fa-f]{4}", digits):
            raise self.error("bad \\u escape")
        self.i += 4
        cp = int(digits, 16)
        if 0xD800 <= cp <= 0xDBFF and self.src[self.i:self.i + 2] == "\\u":
            low = self.src[self.i + 2:self.i + 6]
            if re.fullmatch(r"[Dd][C-Fc-f][0-9A-Fa-f]{2}", low):
                self.i += 6
                cp = 0x10000 + ((cp - 0xD800) << 10) + (int(low, 16) - 0xDC00)
        if 0xD800 <= cp <= 0xDFFF:
            raise self.error("lone surrogate cannot be expressed in Rust regex")
        return cp

    def read_escape(self):
        """After a backslash. Returns ('char', cp) or ('class', kind, text)."""
        c = self.peek()
        if c is None:
            raise self.error("trailing backslash")
        self.i += 1
        if c == "u":
            return ("char", self.read_u_escape())
        if c == "x":
            if self.peek() == "{":
                end = self.src.index("}", self.i)
                cp = int(self.src[self.i + 1:end], 16)
                self.i = end + 1
            else:
                cp = int(self.src[self.i:self.i + 2], 16)
                self.i += 2
            return ("char", cp)
        simple = {"t": 0x09, "n": 0x0A, "r": 0x0D, "f": 0x0C, "a": 0x07, "e": 0x1B}
        if c in simple:
            return ("char", simple[c])
        if c in "wdsWDS":
            return ("class", c, None)
        if c in "pP":
            if self.peek() == "{":
                end = self.src.index("}", self.i)
                name = self.src[self.i + 1:end]
                self.i = end + 1
            else:
                name = self.peek()
                self.i += 1
            # Only Unicode general categories mean the same in both engines
            # (Java's \p{Alpha} etc. are POSIX/ASCII classes).
            if not re.fullmatch(r"[A-Z][a-z]?", name or ""):
                raise self.error(f"unsupported property \\{c}{{{name}}}")
            return ("class", c, name)
        if not c.isalnum():
            return ("char", ord(c))
        raise self.error(f"unsupported escape \\{c}")

    @staticmethod
    def class_body(kind, name):
        """Content for use inside [...] for a class escape."""
        if kind == "w":
            return ASCII_WORD
        if kind == "d":
            return ASCII_DIGIT
        if kind == "s":
            return ASCII_SPACE
        if kind in "WDS":
            return "[^" + JavaPattern.class_body(kind.lower(), None) + "]"
        if kind == "p":
            return "\\p{%s}" % name
        return "\\P{%s}" % name

    def parse_class(self):
        """After `[`. Returns the Rust class text."""
        out = ["["]
        if self.peek() == "^":
            out.append("^")
            self.i += 1
        first = True
        while True:
            c = self.peek()
            if c is None:
                raise self.error("unterminated class")
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            if self.src.startswith("&&", self.i):
                raise self.error("class intersection is not supported")
            if c == "[":
                self.i += 1
                out.append(self.parse_class())
                continue
            if c == "\\":
                self.i += 1
                item = self.read_escape()
            else:
                self.i += 1
                item = ("char", ord(c))
            if item[0] == "class":
                out.append(self.class_body(item[1], item[2]))
                continue
            lo = item[1]
            # A `-` between two characters is a range; elsewhere a literal.
            if self.peek() == "-" and self.peek(1) not in (None, "]"):
                self.i += 1
                c2 = self.peek()
                if c2 == "\\":
                    self.i += 1
                    hi_item = self.read_escape()
                    if hi_item[0] != "char":
                        raise self.error("range ending in a class escape")
                    hi = hi_item[1]
                elif c2 == "[":
                    raise self.error("range ending in a class")
                else:
                    self.i += 1
                    hi = ord(c2)
                if hi < lo:
                    raise self.error("reversed range")
                out.append(rust_char(lo, True) + "-" + rust_char(hi, True))
            elif lo == ord("-"):
                out.append("\\-")
            else:
                out.append(rust_char(lo, True))
        out.append("]")
        return "".join(out)

    def translate(self):
        out = []
        while self.i < len(self.src):
            c = self.src[self.i]
            if c == "\\":
                self.i += 1
                item = self.read_escape()
                if item[0] == "char":
                    out.append(rust_char(item[1], False))
                elif item[1] in "pP":
                    out.append(self.class_body(item[1], item[2]))
                elif item[1] in "wds":
                    out.append("[" + self.class_body(item[1], None) + "]")
                else:
                    out.append(self.class_body(item[1], None))
            elif c == "[":
                self.i += 1
                out.append(self.parse_class())
            elif c == ".":
                self.i += 1
                out.append(JAVA_DOT)
            elif c == "(":
                self.i += 1
                if self.peek() == "?":
                    if self.peek(1) != ":":
                        raise self.error("only (?:...) groups are supported")
                    self.i += 2
                    out.append("(?:")
                else:
                    out.append("(")
            elif c in ")|^$":
                self.i += 1
                out.append(c)
            elif c in "*+?":
                self.i += 1
                out.append(c)
                if self.peek() == "+":
                    raise self.error("possessive quantifiers are not supported")
            elif c == "{":
                m = re.compile(r"\{\d+(,\d*)?\}").match(self.src, self.i)
                if not m:
                    raise self.error("bad repetition")
                self.i = m.end()
                out.append(m.group(0))
            else:
                self.i += 1
                out.append(rust_char(ord(c), False))
        # Java's Matcher.matches() anchors at both ends.
        return r"\A(?:" + "".join(out) + r")\z"


def java_to_rust_regex(src):
    return JavaPattern(src).translate()


# --------------------------------------------------------------------------
# Model walking
# --------------------------------------------------------------------------

def upper_snake(name):
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def rust_str(s):
    """A Rust string literal; raw when it has backslashes or quotes."""
    if "\\" in s or '"' in s:
        hashes = "#"
        while '"' + hashes in s:
            hashes += "#"
        return f'r{hashes}"{s}"{hashes}'
    return '"' + s + '"'


def opt(v):
    return "None" if v is None else f"Some({int(v)})"


class Generator:
    def __init__(self, models_dir):
        self.models_dir = models_dir
        self.patterns = {}  # model pattern -> static name
        self.pattern_items = []
        self.shape_items = {}  # static name -> text
        self.out = []
        # (operation name, service variant, Operation static, signing name),
        # in SERVICES order and sorted by name within a service.
        self.actions = []
        self.modeled = {}  # service variant -> {code: (status, sender fault)}
        self.listed = {}  # error code -> the served operations that list it

    def pattern_static(self, model_pattern):
        if model_pattern not in self.patterns:
            name = f"PATTERN_{len(self.patterns)}"
            self.patterns[model_pattern] = name
            rust = java_to_rust_regex(model_pattern)
            self.pattern_items.append(
                f"static {name}: Pattern = Pattern::new(\n"
                f"    {rust_str(model_pattern)},\n"
                f"    {rust_str(rust)},\n"
                f");"
            )
        return self.patterns[model_pattern]

    def shape_static(self, prefix, shapes, shape_name):
        """Emit (once) the static for a shape and return its name."""
        static = f"{prefix.upper()}_{upper_snake(shape_name)}"
        if static in self.shape_items:
            return static
        self.shape_items[static] = None  # reserve: guards against cycles
        s = shapes[shape_name]
        t = s["type"]
        where = f"{prefix} shape {shape_name}"
        if s.get("flattened"):
            raise GenError(f"{where}: flattened lists/maps are not supported")
        if t == "string":
            pattern = s.get("pattern")
            enum = s.get("enum", [])
            kind = (
                "ShapeKind::String {\n"
                f"        min: {opt(s.get('min'))},\n"
                f"        max: {opt(s.get('max'))},\n"
                f"        pattern: {'Some(&' + self.pattern_static(pattern) + ')' if pattern else 'None'},\n"
                f"        enum_values: &[{', '.join(rust_str(e) for e in enum)}],\n"
                "    }"
            )
        elif t in ("integer", "long"):
            variant = "Integer" if t == "integer" else "Long"
            kind = f"ShapeKind::{variant} {{ min: {opt(s.get('min'))}, max: {opt(s.get('max'))} }}"
        elif t == "boolean":
            kind = "ShapeKind::Boolean"
        elif t == "timestamp":
            kind = "ShapeKind::Timestamp"
        elif t == "list":
            member = s["member"]
            if "locationName" in member:
                # awsQuery ignores the member locationName of non-flattened
                # lists; the wire always says `.member.N`.
                pass
            elem = self.shape_static(prefix, shapes, member["shape"])
            kind = (
                f"ShapeKind::List {{ member: &{elem}, min: {opt(s.get('min'))}, "
                f"max: {opt(s.get('max'))} }}"
            )
        elif t == "map":
            key = self.shape_static(prefix, shapes, s["key"]["shape"])
            value = self.shape_static(prefix, shapes, s["value"]["shape"])
            kind = (
                f"ShapeKind::Map {{ key: &{key}, value: &{value}, "
                f"min: {opt(s.get('min'))}, max: {opt(s.get('max'))} }}"
            )
        elif t == "structure":
            kind = f"ShapeKind::Structure {{ members: {self.members(prefix, shapes, shape_name)} }}"
        else:
            raise GenError(f"{where}: input type {t!r} is not supported; extend the generator")
        self.shape_items[static] = (
            f"static {static}: Shape = Shape {{\n"
            f"    name: {rust_str(shape_name)},\n"
            f"    sensitive: {'true' if s.get('sensitive') else 'false'},\n"
            f"    kind: {kind},\n"
            "};"
        )
        return static

    def members(self, prefix, shapes, struct_name):
        s = shapes[struct_name]
        required = set(s.get("required", []))
        parts = []
        for mname, m in s.get("members", {}).items():
            if "locationName" in m or "location" in m:
                raise GenError(
                    f"{prefix} {struct_name}.{mname}: locationName/location not supported"
                )
            static = self.shape_static(prefix, shapes, m["shape"])
            parts.append(
                f"Member {{ name: {rust_str(mname)}, required: "
                f"{'true' if mname in required else 'false'}, shape: &{static} }}"
            )
        if not parts:
            return "&[]"
        return "&[\n        " + ",\n        ".join(parts) + ",\n    ]"

    def service(self, variant, filename, operations):
        path = os.path.join(self.models_dir, filename)
        with open(path, encoding="utf-8") as f:
            model = json.load(f)
        meta = model["metadata"]
        if meta.get("protocol") != "query":
            raise GenError(f"{filename}: protocol {meta.get('protocol')!r} is not query")
        shapes = model["shapes"]
        prefix = variant.upper()
        out = self.out

        out.append(f"// ---- {variant}: {meta['uid']} ----")
        out.append(f"pub(crate) const {prefix}_API_VERSION: &str = {rust_str(meta['apiVersion'])};")
        out.append(
            f"pub(crate) const {prefix}_XML_NAMESPACE: &str = {rust_str(meta['xmlNamespace'])};"
        )
        # SigV4 credential scopes name the service by its signing name; botocore
        # falls back to the endpoint prefix when the model gives none (IAM and
        # STS give none). IAM policy actions use the same prefix (`iam:`, `sts:`).
        signing_name = meta.get("signingName", meta["endpointPrefix"])
        if not re.fullmatch(r"[a-z][a-z0-9-]*", signing_name):
            raise GenError(f"{filename}: odd signing name {signing_name!r}")
        out.append(f"pub(crate) const {prefix}_SIGNING_NAME: &str = {rust_str(signing_name)};")
        out.append("")

        for op_name in model["operations"]:
            is_mutating(op_name)
        op_statics = []
        for op_name in sorted(operations):
            if op_name not in model["operations"]:
                raise GenError(f"{filename}: no operation {op_name}")
            op = model["operations"][op_name]
            if "input" in op:
                members = self.members(prefix, shapes, op["input"]["shape"])
            else:
                members = "&[]"
            codes = []
            for e in op.get("errors", []):
                codes.append(error_code(e["shape"], shapes[e["shape"]]))
            static = f"{prefix}_OP_{upper_snake(op_name)}"
            op_statics.append(static)
            # Operation names become `Action` variants, so they must be Rust
            # identifiers and unique across services.
            if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", op_name):
                raise GenError(f"{filename}: operation {op_name!r} is not an identifier")
            if any(a[0] == op_name for a in self.actions):
                raise GenError(f"operation {op_name} is served by two services")
            self.actions.append((op_name, variant, static, signing_name))
            for code in codes:
                self.listed.setdefault(code, []).append(f"{variant}:{op_name}")
            out.append(
                f"static {static}: Operation = Operation {{\n"
                f"    name: {rust_str(op_name)},\n"
                f"    service: Service::{variant},\n"
                f"    mutating: {'true' if is_mutating(op_name) else 'false'},\n"
                f"    input: {members},\n"
                f"    errors: &[{', '.join(rust_str(c) for c in codes)}],\n"
                "};"
            )
        out.append("")
        out.append("/// Sorted by name, for binary search.")
        out.append(f"pub(crate) static {prefix}_OPERATIONS: &[&Operation] = &[")
        for static in op_statics:
            out.append(f"    &{static},")
        out.append("];")
        out.append("")

        errors = {}
        for shape_name, s in shapes.items():
            if not s.get("exception"):
                continue
            code = error_code(shape_name, s)
            err = s.get("error", {})
            # Shapes without an `error` object say nothing about status or
            # fault; they are client errors in practice (400, Sender).
            status = int(err.get("httpStatusCode", 400))
            sender = bool(err.get("senderFault", "error" not in s))
            info = (code, status, sender)
            if code in errors and errors[code] != info:
                raise GenError(f"{filename}: error code {code} modeled twice differently")
            errors[code] = info
        self.modeled[variant] = {code: (status, sender) for code, status, sender in errors.values()}
        out.append("/// Every modeled error shape, sorted by code, for binary search.")
        out.append(f"pub(crate) static {prefix}_ERRORS: &[ErrorInfo] = &[")
        for code in sorted(errors):
            _, status, sender = errors[code]
            out.append(
                f"    ErrorInfo {{ code: {rust_str(code)}, http_status: {status}, "
                f"sender_fault: {'true' if sender else 'false'} }},"
            )
        out.append("];")
        out.append("")

    def render_actions(self):
        """The `Action` enum: one variant per served operation."""
        out = self.out
        out.append("// ---- Actions ----")
        out.append("/// Every operation iamd serves, named exactly as its `Action=` parameter.")
        out.append("#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]")
        out.append("pub enum Action {")
        for name, _, _, signing_name in self.actions:
            out.append(f"    /// `{signing_name}:{name}`")
            out.append(f"    {name},")
        out.append("}")
        out.append("")
        out.append("impl Action {")
        out.append("    /// Every action: IAM's sorted by name, then STS's.")
        out.append("    pub const ALL: &'static [Action] = &[")
        for name, _, _, _ in self.actions:
            out.append(f"        Action::{name},")
        out.append("    ];")
        out.append("")
        out.append("    /// The validation table entry (input shapes, modeled errors).")
        out.append("    pub fn operation(self) -> &'static Operation {")
        out.append("        match self {")
        for name, _, static, _ in self.actions:
            out.append(f"            Action::{name} => &{static},")
        out.append("        }")
        out.append("    }")
        out.append("")
        out.append("    /// The IAM policy action, e.g. `iam:CreateUser`.")
        out.append("    pub fn iam_action(self) -> &'static str {")
        out.append("        match self {")
        for name, _, _, signing_name in self.actions:
            out.append(f"            Action::{name} => {rust_str(signing_name + ':' + name)},")
        out.append("        }")
        out.append("    }")
        out.append("}")
        out.append("")
        for variant, _, _ in SERVICES:
            out.append(f"/// {variant}'s actions, sorted by name (the order of `{variant.upper()}_OPERATIONS`).")
            out.append(f"pub(crate) static {variant.upper()}_ACTIONS: &[Action] = &[")
            for name, v, _, _ in self.actions:
                if v == variant:
                    out.append(f"    Action::{name},")
            out.append("];")
            out.append("")

    def error_codes(self):
        """code -> (status, sender fault, source) for every code iamd can answer, sorted."""
        codes = {}
        for code in sorted(set(self.listed) | set(COMMON_ERRORS)):
            # A code's status must not depend on which API answers it: the
            # domain's ErrorCode has one status per code.
            infos = {
                info
                for errors in self.modeled.values()
                for c, info in errors.items()
                if c == code
            }
            if len(infos) > 1:
                raise GenError(f"error code {code} is modeled with different status/fault: {sorted(infos)}")
            if infos:
                codes[code] = infos.pop() + ("modeled",)
            elif code in COMMON_ERRORS:
                codes[code] = COMMON_ERRORS[code] + ("common error",)
            else:
                # An operation lists an error shape not marked `exception`:
                # there is no status to give it, so refuse to guess.
                raise GenError(f"error code {code} (listed by {self.listed[code]}) has no status")
            if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", code):
                raise GenError(f"error code {code!r} is not an identifier")
        return codes

    def render_error_codes(self):
        codes = self.error_codes()
        out = [
            "// @generated by tools/gen_model.py from the botocore models",
            "// " + ", ".join(f for _, f, _ in SERVICES) + " and the script's COMMON_ERRORS.",
            "// Do not edit by hand; regenerate with `python3 tools/gen_model.py`.",
            "",
            "/// The AWS error codes iamd answers with (the model's `error.code`, not the shape",
            "/// name): every error the models list for the served operations, plus AWS's common",
            "/// errors. Each carries the HTTP status and fault the models (or AWS's common-error",
            "/// list) give it.",
            "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]",
            "pub enum ErrorCode {",
        ]
        for code, (status, sender, where) in codes.items():
            out.append(f"    /// {status} {'Sender' if sender else 'Receiver'} ({where})")
            out.append(f"    {code},")
        out.append("}")
        out.append("")
        out.append("impl ErrorCode {")
        out.append("    /// Every code, sorted, for tables that must cover them all.")
        out.append("    pub const ALL: &'static [ErrorCode] = &[")
        for code in codes:
            out.append(f"        ErrorCode::{code},")
        out.append("    ];")
        out.append("")
        out.append("    /// The code as sent in `<Code>`.")
        out.append("    pub fn as_str(self) -> &'static str {")
        out.append("        match self {")
        for code in codes:
            out.append(f"            ErrorCode::{code} => {rust_str(code)},")
        out.append("        }")
        out.append("    }")
        out.append("")
        out.append("    /// The HTTP status of the response.")
        out.append("    pub fn http_status(self) -> u16 {")
        out.append("        match self {")
        for code, (status, _, _) in codes.items():
            out.append(f"            ErrorCode::{code} => {status},")
        out.append("        }")
        out.append("    }")
        out.append("")
        out.append("    /// `<Type>Sender</Type>` when true, `Receiver` (the service's fault) when false.")
        out.append("    pub fn sender_fault(self) -> bool {")
        out.append("        match self {")
        for code, (_, sender, _) in codes.items():
            out.append(f"            ErrorCode::{code} => {'true' if sender else 'false'},")
        out.append("        }")
        out.append("    }")
        out.append("}")
        return "\n".join(out) + "\n"

    def render(self):
        """{output path: text} for both generated files."""
        for variant, filename, operations in SERVICES:
            self.service(variant, filename, operations)
        self.render_actions()
        header = [
            "// @generated by tools/gen_model.py from the botocore models",
            "// " + ", ".join(f for _, f, _ in SERVICES) + ". Do not edit by hand.",
            "//",
            "// Regenerate from the workspace root after changing the operation lists",
            "// in the script or updating the models:",
            "//     python3 tools/gen_model.py [--models DIR]",
            "// `python3 tools/gen_model.py --check` (run by the crate's tests) fails",
            "// when this file is stale.",
            "",
            "use crate::{ErrorInfo, Member, Operation, Pattern, Service, Shape, ShapeKind};",
            "",
            "// ---- Patterns: model (Java) source and its Rust translation ----",
        ]
        body = header + self.pattern_items + [""] + ["// ---- Shapes ----"]
        for name in sorted(self.shape_items):
            body.append(self.shape_items[name])
        body.append("")
        body += self.out
        while body and body[-1] == "":
            body.pop()
        return {
            OUTPUT: "\n".join(body) + "\n",
            ERROR_CODES_OUTPUT: self.render_error_codes(),
        }


def error_code(shape_name, shape):
    return shape.get("error", {}).get("code", shape_name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=DEFAULT_MODELS, help="botocore models directory")
    ap.add_argument("--check", action="store_true", help="fail if a generated file is stale")
    args = ap.parse_args()
    try:
        files = Generator(args.models).render()
    except GenError as e:
        print(f"gen_model: {e}", file=sys.stderr)
        return 2
    if args.check:
        stale = []
        for path, text in files.items():
            try:
                with open(path, encoding="utf-8") as f:
                    current = f.read()
            except FileNotFoundError:
                current = None
            if current != text:
                stale.append(path)
        for path in stale:
            print(f"gen_model: {path} is stale; run python3 tools/gen_model.py", file=sys.stderr)
        if stale:
            return 1
        print("gen_model: generated files are up to date")
        return 0
    for path, text in files.items():
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"gen_model: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
