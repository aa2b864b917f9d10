"""Crash loop: SIGKILL iamd again and again under concurrent writes, and check after every restart
that nothing acknowledged was lost and that no one-time code was accepted twice.

Used two ways:

* by hand, `scripts/crash-loop --iterations 100` (under `scripts/with-postgres` for the PostgreSQL
  backend, where some iterations also crash PostgreSQL with `pg_ctl restart -m immediate`);
* by the black-box suite, `test_crash_loop.py`, with a few iterations on each backend.

One iteration:

1. setup (server up, every call must succeed): a few users with access keys, whose MFA devices
   the load will create and enable; a plan of GetSessionToken "jobs" (device, step, code);
2. load, for a random 0.3-1.5 s: writer threads CreateUser under /crash/ in a loop, every other
   request a DeleteUser of a user acknowledged in an earlier iteration; one thread
   CreateVirtualMFADevice + EnableMFADevice for the setup users; each job sends the same fresh
   code from several threads at once (a barrier) at a random moment of the window;
3. SIGKILL iamd while requests are in flight (with PostgreSQL, some iterations first crash and
   restart PostgreSQL under the load: `pg_ctl restart -m immediate`); start it again on the same
   data directory (the same database);
4. verify: /health; every acknowledged user is listed unless a delete of it was sent, no user
   whose delete was acknowledged is, and no user appears that was never sent;
   every acknowledged enable shows its device assigned to its user; per job, at most one of the
   concurrent requests was accepted, and exactly one when all of them were answered; a code
   accepted before the kill is refused after the restart (and again one crash later), a code
   whose requests died with the server is tried again (accepted at most once).

"Acknowledged" means a complete 200 response. A request that died with the server (connection
reset, refused) or got a 5xx may or may not have been applied: it is never counted as
acknowledged, but the user it names may exist.

The TOTP rule (docs/behaviour.md §1.4): GetSessionToken accepts one code within ±1 step of the
device's expected step, only if later than the last accepted step. Each job uses step
`current + 1`, which iamd accepts whether its clock is in `current` or `current + 1` (offsets 0
or +1, see `_enable_pair`), so a device serves one job per 30-s step; the pool of devices grows
with every iteration's enables, and a job takes a device whose last step is behind.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import iamd_support as S  # noqa: E402

USER_PATH = "/crash/"
MAX_FAILURES = 10  # iamd's default --mfa-max-failures: the lockout we must never reach


class CrashLoopFailure(AssertionError):
    """An invariant did not hold (lost acknowledged write, code accepted twice, ...)."""


# ---------------------------------------------------------------------------
# Configuration and results
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class Config:
    iterations: int = 100
    min_load: float = 0.3          # seconds of load before the SIGKILL
    max_load: float = 1.5
    writers: int = 3               # CreateUser threads
    enables: int = 3               # CreateVirtualMFADevice + EnableMFADevice per iteration
    jobs: int = 4                  # GetSessionToken codes per iteration
    racers: int = 3                # threads sending each code at the same moment
    initial_devices: int = 8       # the STS pool before the first iteration
    pg_restart_every: int = 5      # PostgreSQL: crash it too every N-th iteration (0: never)
    seed: int | None = None
    out: object = print            # a callable taking one line


@dataclasses.dataclass
class Outcome:
    status: int | None             # HTTP status; None: no complete answer (transport error)
    code: str | None = None        # AWS error code
    message: str | None = None
    root: ET.Element | None = None  # the parsed 200 body
    error: str | None = None       # transport error class

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.root is not None

    @property
    def unknown(self) -> bool:
        """The request may or may not have been applied."""
        return self.status is None or self.status >= 500

    @property
    def bad_code(self) -> bool:
        return (self.status, self.code, self.message) == (403, "AccessDenied", S.MSG_STS_BAD_CODE)

    def label(self) -> str:
        if self.status is None:
            return f"transport:{self.error}"
        return "200" if self.status == 200 else f"{self.code}/{self.status}"


@dataclasses.dataclass
class Device:
    serial: str
    user: str
    creds: S.Creds
    totp: S.Totp
    max_step: int                  # the newest step ever sent (or enabled): never reuse
    failures: int = 0              # failed code checks we may have caused since the last success
    in_sync: bool = True           # offset surely 0 or +1: the STS pool takes only these
    accepted_steps: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Job:
    device: Device
    step: int
    code: str
    delay: float
    outcomes: list = dataclasses.field(default_factory=list)  # Outcome, or None if never sent


@dataclasses.dataclass
class Stats:
    backend: str = "sqlite"
    iterations: int = 0
    users_sent: int = 0
    users_acknowledged: int = 0
    users_verified: int = 0        # acknowledged users found after the last restart
    users_unacknowledged_present: int = 0
    deletes_acknowledged: int = 0
    deletes_verified: int = 0      # acknowledged deletes still absent after the last restart
    deletes_in_flight: int = 0     # deletes that died with the server: the user may be there or not
    enables_acknowledged: int = 0
    enables_verified: int = 0
    code_requests: int = 0
    codes_accepted: int = 0        # distinct (device, step) accepted, before or after a kill
    codes_accepted_after_restart: int = 0
    codes_in_flight_committed: int = 0   # died with the server, then refused: it had been applied
    replays_refused: int = 0       # accepted codes sent again after a restart, refused
    duplicates: int = 0            # must stay 0
    pg_restarts: int = 0
    devices_retired: int = 0
    restart_seconds: list = dataclasses.field(default_factory=list)
    pg_restart_seconds: list = dataclasses.field(default_factory=list)
    outcomes: Counter = dataclasses.field(default_factory=Counter)

    def summary_lines(self) -> list[str]:
        def dist(xs):
            if not xs:
                return "-"
            xs = sorted(xs)
            p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
            return (f"min {xs[0]:.2f}s, median {statistics.median(xs):.2f}s, p95 {p95:.2f}s, "
                    f"max {xs[-1]:.2f}s")

        return [
            f"crash loop summary ({self.backend}): {self.iterations} iterations, "
            f"{self.iterations} SIGKILLs, {self.pg_restarts} PostgreSQL crash restarts",
            f"  users: {self.users_sent} sent, {self.users_acknowledged} acknowledged, "
            f"{self.users_verified} verified present after the last restart "
            f"or deleted in turn ({self.users_unacknowledged_present} unacknowledged ones present too); "
            f"{self.deletes_acknowledged} DeleteUser acknowledged, {self.deletes_verified} verified absent "
            f"({self.deletes_in_flight} died with the server)",
            f"  MFA enables: {self.enables_acknowledged} acknowledged, {self.enables_verified} verified assigned",
            f"  codes: {self.code_requests} GetSessionToken requests, {self.codes_accepted} codes accepted "
            f"with a 200 ({self.codes_accepted_after_restart} of them on a retry after a restart), "
            f"{self.codes_in_flight_committed} more used by a request that died with the server (its retry "
            f"refused), {self.replays_refused} replays of accepted codes refused, "
            f"duplicates {self.duplicates} (0 expected)",
            f"  restart (SIGKILL to healthy): {dist(self.restart_seconds)}",
        ] + ([f"  PostgreSQL restart -m immediate: {dist(self.pg_restart_seconds)}"]
             if self.pg_restart_seconds else []) + [
            f"  devices retired (near the lockout): {self.devices_retired}",
            f"  outcomes: {dict(sorted(self.outcomes.items()))}",
        ]


# ---------------------------------------------------------------------------
# Raw signed calls (no boto3 client per endpoint and per user: the port changes every restart)
# ---------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(root: ET.Element, name: str) -> str | None:
    for el in root.iter():
        if _local(el.tag) == name:
            return el.text
    return None


def call(endpoint: str, params: dict, creds: S.Creds = S.ROOT, service: str = "iam",
         expect: str | None = None) -> Outcome:
    """One signed request; `expect`: an element a complete 200 answer must contain."""
    version = S.IAM_VERSION if service == "iam" else S.STS_VERSION
    try:
        r = S.signed_request(endpoint, {**params, "Version": version}, creds=creds, service=service)
    except requests.RequestException as e:
        return Outcome(None, error=type(e).__name__)
    try:
        root = ET.fromstring(r.content)
    except ET.ParseError:
        return Outcome(None if r.status_code == 200 else r.status_code, error="unparsable body")
    if r.status_code == 200:
        if expect is not None and _find(root, expect) is None:
            return Outcome(None, error=f"200 without {expect}")
        return Outcome(200, root=root)
    return Outcome(r.status_code, code=_find(root, "Code"), message=_find(root, "Message"))


def must(outcome: Outcome, what: str) -> ET.Element:
    if not outcome.ok:
        raise CrashLoopFailure(f"{what} failed with the server up: {outcome.label()} {outcome.message or ''}")
    return outcome.root


# ---------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------


def _enable_pair(totp: S.Totp) -> S.Pair:
    """The pair ending at the step of now + 2 s: iamd, reading its clock up to 2 s later, records
    offset 0 or +1 (never -1), so the code of `current + 1` stays inside its ±1 window."""
    return totp.pair_at(time.time() + 2)


def _pg_ctl(*args: str) -> None:
    exe = os.environ.get("IAMD_PG_CTL")
    out = subprocess.run([exe, *args], capture_output=True, text=True, timeout=180)
    if out.returncode != 0:
        raise RuntimeError(f"pg_ctl {' '.join(args)} failed: {out.stdout}{out.stderr}")


class CrashLoop:
    def __init__(self, cfg: Config, workdir: Path):
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.workdir = Path(workdir)
        self.server = S.IamdServer(self.workdir / "data", self.workdir / "iamd.log", name="crash-loop")
        self.postgres = bool(os.environ.get("IAMD_TEST_DATABASE_URL"))
        self.pg_ctl = os.environ.get("IAMD_PG_CTL") if self.postgres else None
        self.stats = Stats(backend="postgresql" if self.postgres else "sqlite")
        self.lock = threading.Lock()
        self.users_sent: set[str] = set()
        self.users_acked: set[str] = set()
        self.deletes_sent: set[str] = set()
        self.deletes_acked: set[str] = set()
        self.enables_acked: dict[str, str] = {}     # serial -> user
        self.accepted: dict[tuple[str, int], str] = {}  # (serial, step) -> where
        self.pool: list[Device] = []
        self.replay_later: list[tuple[Device, int, str]] = []

    # -- output and invariants ------------------------------------------------

    def say(self, line: str) -> None:
        self.cfg.out(line)

    def fail(self, message: str) -> None:
        raise CrashLoopFailure(f"{message}\n(data dir {self.server.data_dir}, log {self.server.log_path})")

    def record_accept(self, dev: Device, step: int, where: str) -> None:
        key = (dev.serial, step)
        if key in self.accepted:
            self.stats.duplicates += 1
            self.fail(f"DUPLICATE: code of step {step} for {dev.serial} accepted {where}, "
                      f"already accepted {self.accepted[key]}")
        if dev.accepted_steps and step <= dev.accepted_steps[-1]:
            self.stats.duplicates += 1
            self.fail(f"DUPLICATE: step {step} for {dev.serial} accepted {where} after step "
                      f"{dev.accepted_steps[-1]}")
        self.accepted[key] = where
        dev.accepted_steps.append(step)
        dev.failures = 0
        self.stats.codes_accepted += 1

    def count(self, kind: str, outcome: Outcome) -> None:
        with self.lock:
            self.stats.outcomes[f"{kind} {outcome.label()}"] += 1

    # -- setup ------------------------------------------------------------------

    def create_user_with_key(self, name: str) -> S.Creds:
        ep = self.server.endpoint
        self.users_sent.add(name)
        must(call(ep, {"Action": "CreateUser", "UserName": name}, expect="UserName"), f"CreateUser {name}")
        self.users_acked.add(name)
        root = must(call(ep, {"Action": "CreateAccessKey", "UserName": name}, expect="SecretAccessKey"),
                    f"CreateAccessKey {name}")
        return S.Creds(_find(root, "AccessKeyId"), _find(root, "SecretAccessKey"))

    def create_device(self, name: str) -> tuple[Outcome, str | None, S.Totp | None]:
        out = call(self.server.endpoint, {"Action": "CreateVirtualMFADevice", "VirtualMFADeviceName": name},
                   expect="Base32StringSeed")
        if not out.ok:
            return out, None, None
        seed = base64.b64decode(_find(out.root, "Base32StringSeed"))
        return out, _find(out.root, "SerialNumber"), S.Totp(seed)

    def enable(self, user: str, serial: str, totp: S.Totp) -> tuple[Outcome, int, bool]:
        """(outcome, step of the pair, whether iamd's offset is surely 0 or +1). iamd read its clock
        before answering: if the answer came within the pair's step, offset = pair step - its step
        is not negative. A slower answer (an outage) leaves the device out of the STS pool."""
        pair = _enable_pair(totp)
        out = call(self.server.endpoint, {"Action": "EnableMFADevice", "UserName": user, "SerialNumber": serial,
                                          "AuthenticationCode1": pair.code1, "AuthenticationCode2": pair.code2})
        return out, pair.step, S.step_of(time.time()) <= pair.step

    def initial_pool(self) -> None:
        for i in range(self.cfg.initial_devices):
            name = f"cl-pool-{i}"
            creds = self.create_user_with_key(name)
            out, serial, totp = self.create_device(name)
            must(out, f"CreateVirtualMFADevice {name}")
            out, step, in_sync = self.enable(name, serial, totp)
            must(out, f"EnableMFADevice {name}")
            self.enables_acked[serial] = name
            self.stats.enables_acknowledged += 1
            if in_sync:
                self.pool.append(Device(serial, name, creds, totp, max_step=step))

    def plan_jobs(self, delays_up_to: float) -> list[Job]:
        cur = S.step_of(time.time())
        step = cur + 1
        budget = MAX_FAILURES - 1 - (self.cfg.racers + 2)  # leave room for this job and two replays
        free = [d for d in self.pool if d.max_step < step and d.failures <= budget]
        jobs = []
        for dev in self.rng.sample(free, min(self.cfg.jobs, len(free))):
            dev.max_step = step
            jobs.append(Job(dev, step, dev.totp.code_at_step(step), self.rng.uniform(0, delays_up_to)))
        return jobs

    # -- load -------------------------------------------------------------------

    def writer(self, it: int, w: int, killed: threading.Event, doomed: list, acked: list, deleted: list,
               problems: list) -> None:
        """CreateUser in a loop; every other request, while `doomed` has names, DeleteUser of a user
        acknowledged in an earlier iteration (keeps the account under its 5000-user quota, and an
        acknowledged delete must survive the crash too)."""
        ep = self.server.endpoint
        n = 0
        while not killed.is_set():
            if n % 2 == 1 and doomed:
                n += 1
                name = doomed.pop()
                with self.lock:
                    self.deletes_sent.add(name)
                out = call(ep, {"Action": "DeleteUser", "UserName": name}, expect="RequestId")
                self.count("DeleteUser", out)
                if out.ok:
                    with self.lock:
                        deleted.append(name)
                elif out.status is not None and out.status < 500:
                    problems.append(f"DeleteUser {name}: {out.label()} {out.message}")
                elif out.status is not None:
                    time.sleep(0.05)
                continue
            name = f"cl-{it}-{w}-{n}"
            n += 1
            with self.lock:
                self.users_sent.add(name)
            out = call(ep, {"Action": "CreateUser", "UserName": name, "Path": USER_PATH}, expect="UserName")
            self.count("CreateUser", out)
            if out.ok:
                if _find(out.root, "UserName") != name:
                    problems.append(f"CreateUser {name} answered {_find(out.root, 'UserName')}")
                with self.lock:
                    acked.append(name)
            elif out.status is not None and out.status < 500:
                problems.append(f"CreateUser {name}: {out.label()} {out.message}")
            elif out.status is not None:
                time.sleep(0.05)  # a 5xx while PostgreSQL is down: do not spin

    def enabler(self, users: list, delays: list, killed: threading.Event, acked: list, problems: list) -> None:
        start = time.monotonic()
        for (name, creds), delay in zip(users, delays):
            if killed.wait(max(0.0, start + delay - time.monotonic())):
                return
            out, serial, totp = self.create_device(name)
            self.count("CreateVirtualMFADevice", out)
            if not out.ok:
                if out.status is not None and out.status < 500:
                    problems.append(f"CreateVirtualMFADevice {name}: {out.label()} {out.message}")
                continue
            out, step, in_sync = self.enable(name, serial, totp)
            self.count("EnableMFADevice", out)
            if out.ok:
                with self.lock:
                    acked.append(Device(serial, name, creds, totp, max_step=step, in_sync=in_sync))
            elif out.status is not None and out.status < 500:
                problems.append(f"EnableMFADevice {name}: {out.label()} {out.message}")

    def racer(self, job: Job, slot: int, barrier: threading.Barrier, killed: threading.Event) -> None:
        if killed.wait(job.delay):
            return
        try:
            barrier.wait(timeout=2)
        except threading.BrokenBarrierError:
            pass
        if killed.is_set():
            return
        out = call(self.server.endpoint,
                   {"Action": "GetSessionToken", "SerialNumber": job.device.serial, "TokenCode": job.code,
                    "DurationSeconds": "900"},
                   creds=job.device.creds, service="sts", expect="AccessKeyId")
        self.count("GetSessionToken", out)
        job.outcomes[slot] = out

    # -- one iteration ---------------------------------------------------------------

    def iteration(self, it: int) -> str:
        cfg = self.cfg
        pg_restart = bool(self.pg_ctl) and cfg.pg_restart_every > 0 and it % cfg.pg_restart_every == cfg.pg_restart_every - 1

        # setup, server up
        enable_users = [(f"cl-mfa-{it}-{k}", None) for k in range(cfg.enables)]
        enable_users = [(name, self.create_user_with_key(name)) for name, _ in enable_users]
        load = self.rng.uniform(cfg.min_load, cfg.max_load)
        jobs = self.plan_jobs(load)

        # load, then SIGKILL
        killed = threading.Event()
        acked_users: list[str] = []
        acked_deletes: list[str] = []
        acked_devices: list[Device] = []
        problems: list[str] = []
        live = sorted(n for n in self.users_acked - self.deletes_sent if not n.startswith(("cl-pool-", "cl-mfa-")))
        doomed = self.rng.sample(live, min(len(live), 80 * cfg.writers))
        threads = [threading.Thread(target=self.writer, daemon=True,
                                    args=(it, w, killed, doomed[w::cfg.writers], acked_users, acked_deletes,
                                          problems))
                   for w in range(cfg.writers)]
        threads.append(threading.Thread(target=self.enabler, daemon=True,
                                        args=(enable_users,
                                              sorted(self.rng.uniform(0, load) for _ in enable_users),
                                              killed, acked_devices, problems)))
        for job in jobs:
            job.outcomes = [None] * cfg.racers
            barrier = threading.Barrier(cfg.racers)
            threads += [threading.Thread(target=self.racer, args=(job, r, barrier, killed), daemon=True)
                        for r in range(cfg.racers)]
        for t in threads:
            t.start()
        time.sleep(load)
        pg_seconds = None
        if pg_restart:  # PostgreSQL crashes under the load and recovers; then iamd is killed
            t0 = time.monotonic()
            _pg_ctl("restart", "-m", "immediate", "-w", "-t", "120")
            pg_seconds = time.monotonic() - t0
            time.sleep(self.rng.uniform(0.2, 0.8))  # iamd reconnects and acknowledges again under the load
            self.stats.pg_restarts += 1
            self.stats.pg_restart_seconds.append(pg_seconds)
        t_kill = time.monotonic()
        self.server.kill9()
        killed.set()
        for t in threads:
            t.join(timeout=90)
            if t.is_alive():
                self.fail("a load thread hung after the SIGKILL")
        if problems:
            self.fail("unexpected answers under load:\n  " + "\n  ".join(problems[:20]))

        # restart on the same data directory (the same database)
        self.server.start()
        restart = time.monotonic() - t_kill
        self.stats.restart_seconds.append(restart)

        # bookkeeping of what was acknowledged
        self.users_acked.update(acked_users)
        self.deletes_acked.update(acked_deletes)
        for dev in acked_devices:
            self.enables_acked[dev.serial] = dev.user
        self.stats.enables_acknowledged += len(acked_devices)

        self.verify_state(it)
        self.pool.extend(d for d in acked_devices if d.in_sync)
        codes = self.verify_codes(it, jobs)

        self.stats.iterations += 1
        self.stats.users_sent = len(self.users_sent)
        self.stats.users_acknowledged = len(self.users_acked)
        self.stats.deletes_acknowledged = len(self.deletes_acked)
        return (f"iter {it + 1:3d}/{cfg.iterations} load {load:.2f}s"
                + (f" +pg-crash {pg_seconds:.1f}s" if pg_seconds is not None else "")
                + f" restart {restart:.2f}s | users +{len(acked_users)} -{len(acked_deletes)} acked (verified "
                f"{self.stats.users_verified}/{len(self.users_acked)} creates, {len(self.deletes_acked)} deletes) | enables +{len(acked_devices)}/{cfg.enables} (total {len(self.enables_acked)} "
                f"verified) | {codes} | dup {self.stats.duplicates}")

    # -- verification ------------------------------------------------------------------

    def verify_state(self, it: int) -> None:
        r = requests.get(self.server.endpoint + "/health", timeout=10)
        if r.status_code != 200:
            self.fail(f"iteration {it}: /health answered {r.status_code}: {r.text[:500]}")
        iam = S.make_client("iam", self.server.endpoint)
        present = {u["UserName"] for u in S.list_all(iam, "list_users")}
        should_exist = self.users_acked - self.deletes_sent
        lost = should_exist - present
        if lost:
            self.fail(f"iteration {it}: LOST {len(lost)} acknowledged users, e.g. {sorted(lost)[:10]}")
        back = self.deletes_acked & present
        if back:
            self.fail(f"iteration {it}: {len(back)} users whose DeleteUser was acknowledged exist again, "
                      f"e.g. {sorted(back)[:10]}")
        phantom = present - self.users_sent
        if phantom:
            self.fail(f"iteration {it}: users never sent exist: {sorted(phantom)[:10]}")
        # an acknowledged create whose delete was then acknowledged counts as verified twice: present, then gone
        self.stats.users_verified = len(self.users_acked - (self.deletes_sent - self.deletes_acked))
        self.stats.deletes_verified = len(self.deletes_acked)
        self.stats.deletes_in_flight = len(self.deletes_sent - self.deletes_acked)
        self.stats.users_unacknowledged_present = len(present - self.users_acked)
        for name in self.rng.sample(sorted(should_exist), min(3, len(should_exist))):
            if iam.get_user(UserName=name)["User"]["UserName"] != name:
                self.fail(f"iteration {it}: GetUser {name} answered another user")

        assigned = {d["SerialNumber"]: d["User"]["UserName"]
                    for d in S.list_all(iam, "list_virtual_mfa_devices", AssignmentStatus="Assigned")}
        wrong = {s: (u, assigned.get(s)) for s, u in self.enables_acked.items() if assigned.get(s) != u}
        if wrong:
            self.fail(f"iteration {it}: LOST acknowledged enables (serial: (user, now assigned to)): "
                      f"{dict(list(wrong.items())[:10])}")
        for serial, user in assigned.items():
            if not serial.endswith("/" + user):
                self.fail(f"iteration {it}: device {serial} assigned to {user}, never asked")
        self.stats.enables_verified = len(self.enables_acked)

    def sts(self, dev: Device, code: str) -> Outcome:
        out = call(self.server.endpoint,
                   {"Action": "GetSessionToken", "SerialNumber": dev.serial, "TokenCode": code,
                    "DurationSeconds": "900"},
                   creds=dev.creds, service="sts", expect="AccessKeyId")
        self.count("GetSessionToken(after restart)", out)
        self.stats.code_requests += 1
        return out

    def replay(self, it: int, dev: Device, step: int, code: str, why: str) -> None:
        out = self.sts(dev, code)
        if out.ok:
            self.record_accept(dev, step, f"again on a replay after restart {it} ({why})")
        if not out.bad_code:
            self.fail(f"iteration {it}: replay of {dev.serial} step {step} ({why}): expected the bad-code "
                      f"AccessDenied, got {out.label()} {out.message}")
        dev.failures += 1
        self.stats.replays_refused += 1

    def verify_codes(self, it: int, jobs: list[Job]) -> str:
        accepted_before = accepted_after = committed = 0
        # codes accepted one crash earlier, replayed once more while still inside the window
        earlier, self.replay_later = self.replay_later, []
        for dev, step, code in earlier:
            if S.step_of(time.time()) <= step:
                self.replay(it, dev, step, code, "accepted before the previous crash")

        for job in jobs:
            dev = job.device
            sent = [o for o in job.outcomes if o is not None]
            self.stats.code_requests += len(sent)
            oks = [o for o in sent if o.ok]
            unknown = [o for o in sent if o.unknown]
            for o in sent:
                if not o.ok and not o.unknown and not o.bad_code:
                    self.fail(f"iteration {it}: GetSessionToken {dev.serial}: unexpected {o.label()} {o.message}")
            if len(oks) > 1:
                self.stats.duplicates += len(oks) - 1
                self.fail(f"DUPLICATE: {len(oks)} of {len(sent)} concurrent requests accepted the code of "
                          f"step {job.step} for {dev.serial} (iteration {it})")
            dev.failures += len(sent) - len(oks)
            if oks:
                self.record_accept(dev, job.step, f"before crash {it}")
                accepted_before += 1
                self.replay(it, dev, job.step, job.code, "accepted before the crash")
                self.replay_later.append((dev, job.step, job.code))
                dev.failures = self.cfg.racers  # the losers may have come after the success, plus the replay
                continue
            if sent and not unknown and len(sent) == self.cfg.racers:
                self.fail(f"iteration {it}: all {len(sent)} requests with the fresh code of step {job.step} for "
                          f"{dev.serial} were answered and all refused: {[o.label() for o in sent]}")
            if S.step_of(time.time()) > job.step:
                continue  # the retry could be refused for its age alone: proves nothing
            out = self.sts(dev, job.code)
            if out.ok:
                self.record_accept(dev, job.step, f"on the retry after crash {it}")
                accepted_after += 1
                self.stats.codes_accepted_after_restart += 1
                dev.failures = 0
                self.replay(it, dev, job.step, job.code, "accepted on the retry after the crash")
                self.replay_later.append((dev, job.step, job.code))
            elif out.bad_code:
                dev.failures += 1
                if not unknown:
                    self.fail(f"iteration {it}: the fresh code of step {job.step} for {dev.serial} was refused "
                              f"after the restart, and no request that could have used it died with the server: "
                              f"{[o.label() for o in sent]}")
                committed += 1  # a request that died with the server had used it
                self.stats.codes_in_flight_committed += 1
            else:
                self.fail(f"iteration {it}: retry of {dev.serial} step {job.step}: {out.label()} {out.message}")
        retired = sum(1 for d in self.pool if d.failures > MAX_FAILURES - 1 - (self.cfg.racers + 2))
        self.stats.devices_retired = retired
        return (f"codes: {len(jobs)} jobs, {accepted_before} accepted before the kill, {accepted_after} on retry, "
                f"{committed} used in flight")

    # -- whole run ----------------------------------------------------------------

    def run(self) -> Stats:
        try:
            self.server.start()
            self.initial_pool()
            self.say(f"crash loop on {self.stats.backend}: {self.cfg.iterations} iterations, data dir "
                     f"{self.server.data_dir}, log {self.server.log_path}"
                     + (f", PostgreSQL crashed too in every {self.cfg.pg_restart_every}. iteration"
                        if self.pg_ctl and self.cfg.pg_restart_every else ""))
            for it in range(self.cfg.iterations):
                self.say(self.iteration(it))
        finally:
            self.server.kill9()
            if self.server in S.ALL_SERVERS:
                S.ALL_SERVERS.remove(self.server)
        for line in self.stats.summary_lines():
            self.say(line)
        return self.stats


def run(cfg: Config, workdir: Path) -> Stats:
    return CrashLoop(cfg, workdir).run()


# ---------------------------------------------------------------------------
# Command line (scripts/crash-loop)
# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="crash-loop",
        description="SIGKILL iamd under concurrent writes again and again; after every restart check that every "
                    "acknowledged write is present and no TOTP code was accepted twice. Uses IAMD_BIN (default "
                    "target/debug/iamd); under scripts/with-postgres it runs on PostgreSQL and crashes PostgreSQL "
                    "too in some iterations.")
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--pg-restart-every", type=int, default=5, metavar="N",
                   help="on PostgreSQL, crash-restart PostgreSQL (pg_ctl restart -m immediate) every N-th "
                        "iteration; 0: never (default 5)")
    p.add_argument("--writers", type=int, default=Config.writers, help="CreateUser threads")
    p.add_argument("--jobs", type=int, default=Config.jobs, help="GetSessionToken codes per iteration")
    p.add_argument("--racers", type=int, default=Config.racers, help="threads sending each code at once")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--keep", action="store_true", help="keep the data directory and log")
    args = p.parse_args(argv)
    # As the suite's conftest does: nothing from the host's AWS configuration may leak in.
    for k in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[k]
    os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    workdir = Path(tempfile.mkdtemp(prefix="iamd-crash-loop-"))
    cfg = Config(iterations=args.iterations, pg_restart_every=args.pg_restart_every, writers=args.writers,
                 jobs=args.jobs, racers=args.racers, seed=args.seed,
                 out=lambda line: print(line, flush=True))
    try:
        run(cfg, workdir)
    except CrashLoopFailure as e:
        print(f"FAILED: {e}", file=sys.stderr, flush=True)
        print(f"kept {workdir}", file=sys.stderr)
        return 1
    if args.keep:
        print(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
