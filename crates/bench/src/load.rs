//! The load generator: prepares what a scenario needs through the API, then drives N keep-alive
//! connections, each sending freshly signed requests in a loop until the duration is up.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use data_encoding::{BASE32_NOPAD, BASE64};
use hdrhistogram::Histogram;
use iamd_domain::totp::{TotpKey, step_at};
use serde::Serialize;
use tokio::sync::Barrier;

use crate::client::{Conn, Creds, IAM_VERSION, Reply, STS_VERSION, Target, form};

/// Longest measured run accepted, so that every run ends by itself.
const MAX_DURATION: Duration = Duration::from_secs(600);
const MAX_WARMUP: Duration = Duration::from_secs(60);
/// A request taking longer than this counts as an error (`timeout`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Preparation (creating users and devices through the API) must finish within this.
const PREPARE_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// GetUser for one user that has an enabled MFA device.
    GetUser,
    /// ListMFADevices for that user.
    ListMfaDevices,
    /// Per iteration: CreateUser, then (timed as one "pair") CreateVirtualMFADevice + EnableMFADevice
    /// with a real consecutive code pair, then clean-up (deactivate, delete device, delete user).
    CreateEnable,
    /// GetSessionToken with SerialNumber/TokenCode, signed by users' own keys; each device used at
    /// most once per 30 s step.
    SessionMfa,
    /// The same with a wrong code: a refusal (403 AccessDenied) is the expected answer and counts
    /// as the op; an accepted code is an error.
    SessionMfaWrongCode,
    /// ListVirtualMFADevices, following Marker to the end and starting again (one page per op).
    ListVirtualMfaDevices,
    /// 45% GetUser, 30% ListMFADevices, 10% GetCallerIdentity, 10% ListVirtualMFADevices, 5% create-enable.
    Mix,
}

#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    /// The server, http://127.0.0.1:PORT (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub endpoint: String,
    /// Keep-alive connections, each sending one request at a time.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Measured time (e.g. 10s, 500ms, 2m; at most 10m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Load sent before measuring starts (not counted).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub warmup: Duration,
    #[arg(long, value_enum, default_value_t = Scenario::Mix)]
    pub scenario: Scenario,
    /// Access key id to sign with (root or an administrator).
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    pub access_key: Option<String>,
    /// Secret access key to sign with.
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret: Option<String>,
    /// Region to sign for.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Read an existing user (e.g. one loaded by `seed`) instead of creating one.
    #[arg(long)]
    pub user: Option<String>,
    /// MaxItems for list-virtual-mfa-devices pages.
    #[arg(long, default_value_t = 100)]
    pub max_items: usize,
    /// Users (each with a key and an enabled device) prepared for session-mfa.
    #[arg(long, default_value_t = 300)]
    pub session_users: usize,
    /// session-mfa: instead of preparing users through the API (at most 5000, iamd's quota), use
    /// this many loaded by `iamd-bench seed --credentials-from` (with the same text).
    #[arg(long, requires = "credentials_from")]
    pub seeded_users: Option<u64>,
    /// The first seeded user's number (`seed --start`).
    #[arg(long, default_value_t = 0)]
    pub seeded_start: u64,
    /// The seeded users' name prefix (`seed --prefix`).
    #[arg(long, default_value = "seed-user-")]
    pub seeded_prefix: String,
    /// get-user, list-mfa-devices: sign the reads as a user holding this many managed policies
    /// of 10 statements each (at most 10, AWS's quota), created by the preparation, instead of
    /// as root (whom no policy is evaluated for): what authorization by policy costs.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=10))]
    pub caller_policies: u8,
    /// The text `seed --credentials-from` derived the seeded users' keys and seeds from.
    #[arg(long, env = "IAMD_BENCH_CREDENTIALS_FROM", hide_env_values = true)]
    pub credentials_from: Option<String>,
    /// create-enable: leave the created users and devices behind (iamd's quotas are 5000 each).
    #[arg(long)]
    pub no_cleanup: bool,
    /// Client worker threads (the client shares the machine with the server).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Name of the server under test, shown in the report.
    #[arg(long)]
    pub label: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// A server process: its CPU time and its descendants' (user + system, all threads, from
    /// /proc) over the measured window is reported per request. Repeat it for a server made of
    /// several processes (iamd and its PostgreSQL).
    #[arg(long)]
    pub server_pid: Vec<u32>,
}

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("bad duration {text:?} (try 10s, 500ms, 2m)"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" | "" => number,
        "m" => number * 60.0,
        _ => return Err(format!("bad duration unit in {text:?} (ms, s or m)")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

/// What a run measured.
#[derive(Debug, Serialize)]
pub struct Report {
    pub label: Option<String>,
    pub endpoint: String,
    pub scenario: Scenario,
    pub connections: usize,
    pub seconds: f64,
    pub prepare_seconds: f64,
    /// Timed operations (one request, or one create+enable pair).
    pub ops: u64,
    pub ops_per_second: f64,
    /// All HTTP requests sent while measuring, including untimed ones (clean-up).
    pub requests: u64,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    pub error_total: u64,
    pub errors: BTreeMap<String, u64>,
    /// session-mfa: times a connection waited for the next 30 s step because every device was used.
    pub device_waits: u64,
    /// Connections the server closed between requests (reopened before the next request).
    pub reconnects: u64,
    /// With `--server-pid`: the server's CPU time over the measured window, in seconds, and per
    /// request sent in it (µs).
    pub server_cpu_seconds: Option<f64>,
    pub server_cpu_us_per_request: Option<f64>,
}

/// CPU time (user + system) a process has used so far, all its threads included, in seconds.
/// Linux only (`/proc/PID/stat`, fields 14 and 15, in clock ticks).
fn process_cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count from its end.
    let rest = stat.rsplit_once(')').map(|(_, rest)| rest).context("unexpected /proc/PID/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).context("unexpected /proc/PID/stat");
    let (user, system) = (ticks(11)?, ticks(12)?);
    Ok((user + system) as f64 / rustix::param::clock_ticks_per_second() as f64)
}

/// The processes `roots` and all their descendants (`/proc/PID/task/TID/children`).
fn process_tree(roots: &[u32]) -> Vec<u32> {
    let mut found = roots.to_vec();
    let mut next = 0;
    while next < found.len() {
        let pid = found[next];
        next += 1;
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { continue };
        for task in tasks.flatten() {
            let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            found.extend(children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
        }
    }
    found
}

/// CPU seconds used so far by each of `pids`; a process gone in between counts nothing.
fn cpu_of(pids: &[u32]) -> Vec<f64> {
    pids.iter().map(|&pid| process_cpu_seconds(pid).unwrap_or(0.0)).collect()
}

/// A device prepared for session-mfa, and the step its code was last used at.
struct SessionDevice {
    creds: Creds,
    serial: String,
    key: TotpKey,
    last_step: i64,
}

struct Plan {
    target: Target,
    root: Creds,
    /// Who signs the reads: root, or the user prepared for `--caller-policies`.
    reader: std::sync::OnceLock<Creds>,
    scenario: Scenario,
    run_id: String,
    user: String,
    cleanup: bool,
    max_items: usize,
    sessions: Mutex<VecDeque<SessionDevice>>,
    /// When the measured run ends (set once the connections start).
    deadline: std::sync::OnceLock<Instant>,
}

#[derive(Default)]
struct Outcome {
    requests: u64,
    /// Set when the op is timed (not for waits).
    latency: Option<Duration>,
    error: Option<String>,
    device_wait: bool,
    reconnects: u64,
}

/// Per-connection tallies, merged at the end.
struct Stats {
    hist: Histogram<u64>,
    ops: u64,
    requests: u64,
    errors: BTreeMap<String, u64>,
    device_waits: u64,
    reconnects: u64,
}

impl Stats {
    fn new() -> Self {
        Self {
            hist: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds"),
            ops: 0,
            requests: 0,
            errors: BTreeMap::new(),
            device_waits: 0,
            reconnects: 0,
        }
    }

    fn merge(&mut self, other: Stats) {
        self.hist.add(&other.hist).expect("same bounds");
        self.ops += other.ops;
        self.requests += other.requests;
        self.device_waits += other.device_waits;
        self.reconnects += other.reconnects;
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
    }
}

/// Per-connection state that persists between operations.
struct Worker {
    id: usize,
    counter: u64,
    conn: Option<Conn>,
    marker: Option<String>,
}

async fn call(
    worker: &mut Worker,
    plan: &Plan,
    creds: &Creds,
    service: &str,
    body: String,
    out: &mut Outcome,
) -> Option<Reply> {
    out.requests += 1;
    // A server that closes idle or HTTP/1.0 connections (moto does) costs a reconnect, as with
    // any client's connection pool; that is counted, not an error.
    if let Some(conn) = worker.conn.as_mut()
        && !conn.ready().await
    {
        worker.conn = None;
        out.reconnects += 1;
    }
    if worker.conn.is_none() {
        match Conn::connect(&plan.target).await {
            Ok(c) => worker.conn = Some(c),
            Err(e) => {
                out.error = Some(format!("transport: {e}"));
                tokio::time::sleep(Duration::from_millis(20)).await;
                return None;
            }
        }
    }
    let conn = worker.conn.as_mut().expect("connected above");
    match tokio::time::timeout(REQUEST_TIMEOUT, conn.call(&plan.target, creds, service, body)).await {
        Ok(Ok(reply)) if reply.ok() => Some(reply),
        Ok(Ok(reply)) => {
            out.error = Some(reply.error_key());
            None
        }
        Ok(Err(e)) => {
            worker.conn = None;
            out.error = Some(format!("transport: {}", e.root_cause()));
            None
        }
        Err(_) => {
            worker.conn = None;
            out.error = Some("timeout".to_owned());
            None
        }
    }
}

/// The seed bytes from a `Base32StringSeed`: base64 of the Base32 text (iamd, AWS); plain
/// Base32 text is accepted too.
fn decode_seed(text: &str) -> Option<Vec<u8>> {
    let base32 = BASE64.decode(text.as_bytes()).ok().and_then(|b| String::from_utf8(b).ok());
    base32
        .and_then(|t| BASE32_NOPAD.decode(t.trim_end_matches('=').as_bytes()).ok())
        .or_else(|| BASE32_NOPAD.decode(text.trim_end_matches('=').as_bytes()).ok())
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// CreateVirtualMFADevice named `name`, then EnableMFADevice for `user` with the consecutive
/// pair ending `back_steps` steps before now. Returns the serial and the TOTP key.
async fn create_and_enable(
    worker: &mut Worker,
    plan: &Plan,
    user: &str,
    name: &str,
    back_steps: i64,
    out: &mut Outcome,
) -> Option<(String, TotpKey)> {
    let body = form("CreateVirtualMFADevice", IAM_VERSION, &[("VirtualMFADeviceName", name)]);
    let reply = call(worker, plan, &plan.root, "iam", body, out).await?;
    let Some(serial) = reply.tag("SerialNumber").map(str::to_owned) else {
        out.error = Some("CreateVirtualMFADevice answered without SerialNumber".to_owned());
        return None;
    };
    let seed_text = reply.tag("Base32StringSeed").unwrap_or_default();
    // Servers that check no codes (moto) may hand out seeds in other shapes; any bytes do there.
    let seed = decode_seed(seed_text).unwrap_or_else(|| seed_text.as_bytes().to_vec());
    let key = TotpKey::new(&seed);
    let now = now_unix() - 30 * back_steps;
    let (code1, code2) = (key.code_at(now - 30), key.code_at(now));
    let body = form(
        "EnableMFADevice",
        IAM_VERSION,
        &[
            ("UserName", user),
            ("SerialNumber", &serial),
            ("AuthenticationCode1", &code1),
            ("AuthenticationCode2", &code2),
        ],
    );
    call(worker, plan, &plan.root, "iam", body, out).await?;
    Some((serial, key))
}

async fn create_user(worker: &mut Worker, plan: &Plan, name: &str, out: &mut Outcome) -> Option<()> {
    call(worker, plan, &plan.root, "iam", form("CreateUser", IAM_VERSION, &[("UserName", name)]), out).await.map(|_| ())
}

async fn op_create_enable(worker: &mut Worker, plan: &Plan) -> Outcome {
    let mut out = Outcome::default();
    worker.counter += 1;
    let name = format!("bench-{}-{}-{}", plan.run_id, worker.id, worker.counter);
    if create_user(worker, plan, &name, &mut out).await.is_none() {
        return out;
    }
    let started = Instant::now();
    let created = create_and_enable(worker, plan, &name, &name, 0, &mut out).await;
    out.latency = Some(started.elapsed());
    if !plan.cleanup {
        return out;
    }
    let mut cleanup = Outcome::default();
    if let Some((serial, _)) = &created {
        let body = form("DeactivateMFADevice", IAM_VERSION, &[("UserName", &name), ("SerialNumber", serial)]);
        call(worker, plan, &plan.root, "iam", body, &mut cleanup).await;
        let body = form("DeleteVirtualMFADevice", IAM_VERSION, &[("SerialNumber", serial)]);
        call(worker, plan, &plan.root, "iam", body, &mut cleanup).await;
    }
    call(worker, plan, &plan.root, "iam", form("DeleteUser", IAM_VERSION, &[("UserName", &name)]), &mut cleanup).await;
    out.requests += cleanup.requests;
    out.reconnects += cleanup.reconnects;
    if out.error.is_none() {
        out.error = cleanup.error.map(|e| format!("{e} (clean-up)"));
    }
    out
}

async fn op_single(worker: &mut Worker, plan: &Plan, service: &str, body: String) -> Outcome {
    let mut out = Outcome::default();
    let started = Instant::now();
    call(worker, plan, plan.reader.get().unwrap_or(&plan.root), service, body, &mut out).await;
    out.latency = Some(started.elapsed());
    out
}

async fn op_list_virtual(worker: &mut Worker, plan: &Plan, max_items: usize) -> Outcome {
    let mut out = Outcome::default();
    let max = max_items.to_string();
    let mut params = vec![("MaxItems", max.as_str())];
    let marker = worker.marker.take();
    if let Some(m) = &marker {
        params.push(("Marker", m));
    }
    let body = form("ListVirtualMFADevices", IAM_VERSION, &params);
    let started = Instant::now();
    let reply = call(worker, plan, &plan.root, "iam", body, &mut out).await;
    out.latency = Some(started.elapsed());
    if let Some(reply) = reply
        && reply.tag("IsTruncated") == Some("true")
    {
        worker.marker = reply.tag("Marker").map(str::to_owned);
    }
    out
}

async fn op_session(worker: &mut Worker, plan: &Plan) -> Outcome {
    let mut out = Outcome::default();
    let now = now_unix();
    let step = step_at(now);
    let device = {
        let mut pool = plan.sessions.lock().expect("pool lock");
        match pool.pop_front() {
            Some(d) if d.last_step < step => Some(d),
            Some(d) => {
                pool.push_front(d);
                None
            }
            None => None,
        }
    };
    let Some(mut device) = device else {
        // Every device has been used in this step: wait for the next one.
        out.device_wait = true;
        let next = (step + 1) * 30;
        let wake = Instant::now() + Duration::from_millis(((next - now).max(0) as u64) * 1000 + 20);
        let wake = plan.deadline.get().map_or(wake, |d| wake.min(*d));
        tokio::time::sleep_until(wake.into()).await;
        return out;
    };
    let code = if plan.scenario == Scenario::SessionMfaWrongCode {
        wrong_code(&device.key, now)
    } else {
        device.key.code_at(now)
    };
    let body = form(
        "GetSessionToken",
        STS_VERSION,
        &[("SerialNumber", &device.serial), ("TokenCode", &code), ("DurationSeconds", "900")],
    );
    let creds = device.creds.clone();
    let started = Instant::now();
    let answer = call(worker, plan, &creds, "sts", body, &mut out).await;
    out.latency = Some(started.elapsed());
    if plan.scenario == Scenario::SessionMfaWrongCode {
        out.error = match (answer, out.error.take()) {
            (Some(_), _) => Some("200 a wrong code was accepted".to_owned()),
            (None, Some(e)) if e == "403 AccessDenied" => None,
            (None, e) => e,
        };
    }
    device.last_step = step;
    plan.sessions.lock().expect("pool lock").push_back(device);
    out
}

/// A six-digit code that is none of the device's codes within a step of now.
fn wrong_code(key: &TotpKey, now: i64) -> String {
    let near = [key.code_at(now - 30), key.code_at(now), key.code_at(now + 30)];
    (1..).map(|n: u32| format!("{:06}", (n * 7919) % 1_000_000)).find(|c| !near.contains(c)).expect("a code")
}

async fn run_op(worker: &mut Worker, plan: &Plan) -> Outcome {
    let user = plan.user.as_str();
    let get_user = || form("GetUser", IAM_VERSION, &[("UserName", user)]);
    let list_mfa = || form("ListMFADevices", IAM_VERSION, &[("UserName", user)]);
    match plan.scenario {
        Scenario::GetUser => op_single(worker, plan, "iam", get_user()).await,
        Scenario::ListMfaDevices => op_single(worker, plan, "iam", list_mfa()).await,
        Scenario::CreateEnable => op_create_enable(worker, plan).await,
        Scenario::SessionMfa | Scenario::SessionMfaWrongCode => op_session(worker, plan).await,
        Scenario::ListVirtualMfaDevices => op_list_virtual(worker, plan, plan.max_items).await,
        Scenario::Mix => {
            let slot = (worker.counter as usize + worker.id) % 20;
            worker.counter += 1;
            match slot {
                0..9 => op_single(worker, plan, "iam", get_user()).await,
                9..15 => op_single(worker, plan, "iam", list_mfa()).await,
                15..17 => op_single(worker, plan, "sts", form("GetCallerIdentity", STS_VERSION, &[])).await,
                17..19 => op_list_virtual(worker, plan, 10).await,
                _ => op_create_enable(worker, plan).await,
            }
        }
    }
}

/// Creates the read target (a user with an enabled device), or the session-mfa device pool.
async fn prepare(plan: &Arc<Plan>, args: &LoadArgs) -> anyhow::Result<()> {
    let mut worker = Worker { id: 0, counter: 0, conn: None, marker: None };
    let needs_user = matches!(plan.scenario, Scenario::GetUser | Scenario::ListMfaDevices | Scenario::Mix);
    if needs_user && args.user.is_none() {
        let name = &plan.user;
        let mut out = Outcome::default();
        create_user(&mut worker, plan, name, &mut out).await;
        if out.error.is_none() {
            create_and_enable(&mut worker, plan, name, name, 0, &mut out).await;
        }
        if let Some(e) = out.error {
            bail!("preparing user {name} failed: {e}");
        }
    }
    if args.caller_policies > 0 && matches!(plan.scenario, Scenario::GetUser | Scenario::ListMfaDevices) {
        let reader = prepare_policy_holder(plan, args.caller_policies).await?;
        let _ = plan.reader.set(reader);
    }
    if matches!(plan.scenario, Scenario::SessionMfa | Scenario::SessionMfaWrongCode) {
        match (args.seeded_users, &args.credentials_from) {
            (Some(users), Some(from)) => seeded_sessions(plan, args, users, from).await?,
            _ => prepare_sessions(plan, args).await?,
        }
    }
    Ok(())
}

/// A user with `count` managed policies of 10 statements each, and its access key. Nine
/// statements of each policy do not apply to the reads (other services, other resources, unmet
/// conditions: what a real user's policies mostly hold) and one allows them, so every policy is
/// evaluated in full.
async fn prepare_policy_holder(plan: &Arc<Plan>, count: u8) -> anyhow::Result<Creds> {
    let mut worker = Worker { id: 0, counter: 0, conn: None, marker: None };
    let mut out = Outcome::default();
    let name = format!("bench-{}-reader", plan.run_id);
    let failed = |out: Outcome, what: &str| anyhow::anyhow!("{what} failed: {}", out.error.unwrap_or_default());
    if create_user(&mut worker, plan, &name, &mut out).await.is_none() {
        return Err(failed(out, "CreateUser (policy holder)"));
    }
    for p in 0..count {
        let statements: Vec<String> = (0..10)
            .map(|s| match s {
                0 => r#"{"Effect":"Allow","Action":["iam:GetUser","iam:ListMFADevices"],"Resource":"arn:aws:iam::*:user/*"}"#.to_owned(),
                1 | 5 => format!(r#"{{"Effect":"Allow","Action":["ec2:Describe*","s3:Get*","dynamodb:Query{s}"],"Resource":"*"}}"#),
                2 | 6 => format!(
                    r#"{{"Effect":"Allow","Action":["iam:ChangePassword","iam:*AccessKey{s}*"],"Resource":"arn:aws:iam::*:user/${{aws:username}}"}}"#
                ),
                3 | 7 => format!(
                    r#"{{"Effect":"Allow","Action":"iam:List*","Resource":"arn:aws:iam::*:role/team{s}/*","Condition":{{"StringEquals":{{"aws:PrincipalTag/team":"t{s}"}}}}}}"#
                ),
                4 | 8 => format!(
                    r#"{{"Effect":"Deny","NotAction":["iam:Get*","iam:List*","sts:GetSessionToken"],"Resource":"arn:aws:s3:::bucket{s}/*","Condition":{{"BoolIfExists":{{"aws:MultiFactorAuthPresent":"false"}}}}}}"#
                ),
                _ => format!(
                    r#"{{"Effect":"Allow","Action":"iam:Get*","Resource":["arn:aws:iam::*:user/eng/*","arn:aws:iam::*:group/g{s}"],"Condition":{{"IpAddress":{{"aws:SourceIp":["10.0.0.0/8","192.168.{s}.0/24"]}}}}}}"#
                ),
            })
            .collect();
        let document = format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, statements.join(","));
        let body = form(
            "CreatePolicy",
            IAM_VERSION,
            &[("PolicyName", &format!("bench-{}-p{p}", plan.run_id)), ("PolicyDocument", &document)],
        );
        let Some(reply) = call(&mut worker, plan, &plan.root, "iam", body, &mut out).await else {
            return Err(failed(out, "CreatePolicy"));
        };
        let arn = reply.tag("Arn").context("CreatePolicy answered without Arn")?.to_owned();
        let body = form("AttachUserPolicy", IAM_VERSION, &[("UserName", &name), ("PolicyArn", &arn)]);
        if call(&mut worker, plan, &plan.root, "iam", body, &mut out).await.is_none() {
            return Err(failed(out, "AttachUserPolicy"));
        }
    }
    let body = form("CreateAccessKey", IAM_VERSION, &[("UserName", &name)]);
    let Some(reply) = call(&mut worker, plan, &plan.root, "iam", body, &mut out).await else {
        return Err(failed(out, "CreateAccessKey"));
    };
    Ok(Creds {
        access_key_id: reply.tag("AccessKeyId").context("no AccessKeyId")?.to_owned(),
        secret_access_key: reply.tag("SecretAccessKey").context("no SecretAccessKey")?.to_owned(),
    })
}

/// The session pool from users loaded by `iamd-bench seed --credentials-from`: nothing to create,
/// only the account id to learn (device serials name it).
async fn seeded_sessions(plan: &Arc<Plan>, args: &LoadArgs, users: u64, from: &str) -> anyhow::Result<()> {
    let mut worker = Worker { id: 0, counter: 0, conn: None, marker: None };
    let mut out = Outcome::default();
    let reply = call(&mut worker, plan, &plan.root, "sts", form("GetCallerIdentity", STS_VERSION, &[]), &mut out).await;
    let account = match reply.as_ref().and_then(|r| r.tag("Account")) {
        Some(account) => account.to_owned(),
        None => bail!("GetCallerIdentity failed: {}", out.error.unwrap_or_default()),
    };
    // Seeded devices' last accepted step is the one before seeding: any later code is fresh.
    let last_step = step_at(now_unix()) - 1;
    let mut pool = plan.sessions.lock().expect("pool lock");
    for index in args.seeded_start..args.seeded_start + users {
        let user = crate::seed::seeded_user(&args.seeded_prefix, index, from);
        pool.push_back(SessionDevice {
            creds: Creds { access_key_id: user.access_key_id, secret_access_key: user.secret_access_key },
            serial: iamd_domain::ids::mfa_arn(&account, "/", &user.name),
            key: TotpKey::new(&user.seed),
            last_step,
        });
    }
    Ok(())
}

async fn prepare_sessions(plan: &Arc<Plan>, args: &LoadArgs) -> anyhow::Result<()> {
    // Probe first: before the login milestone iamd answers GetSessionToken with InvalidAction.
    let mut worker = Worker { id: 0, counter: 0, conn: None, marker: None };
    let mut out = Outcome::default();
    let probe = form("GetSessionToken", STS_VERSION, &[("DurationSeconds", "900")]);
    call(&mut worker, plan, &plan.root, "sts", probe, &mut out).await;
    if let Some(e) = &out.error
        && e.contains("InvalidAction")
    {
        bail!(
            "the server does not implement GetSessionToken yet ({e}); the session-mfa scenario needs the login \
             milestone"
        );
    }
    let users = args.session_users.max(1);
    let tasks = 8.min(users);
    let mut set = tokio::task::JoinSet::new();
    for t in 0..tasks {
        let plan = Arc::clone(plan);
        set.spawn(async move {
            let mut worker = Worker { id: t, counter: 0, conn: None, marker: None };
            let mut errors = Vec::new();
            for i in (t..users).step_by(tasks) {
                let name = format!("bench-{}-s{i}", plan.run_id);
                let mut out = Outcome::default();
                let prepared = prepare_session_user(&mut worker, &plan, &name, &mut out).await;
                match (prepared, out.error) {
                    (Some(device), None) => plan.sessions.lock().expect("pool lock").push_back(device),
                    (_, e) => errors.push(format!("{name}: {}", e.unwrap_or_else(|| "unexpected answer".into()))),
                }
            }
            errors
        });
    }
    let mut errors = Vec::new();
    while let Some(done) = set.join_next().await {
        errors.extend(done.context("a preparation task panicked")?);
    }
    if let Some(first) = errors.first() {
        bail!("preparing session-mfa users failed ({} errors), first: {first}", errors.len());
    }
    Ok(())
}

async fn prepare_session_user(
    worker: &mut Worker,
    plan: &Plan,
    name: &str,
    out: &mut Outcome,
) -> Option<SessionDevice> {
    create_user(worker, plan, name, out).await?;
    let reply =
        call(worker, plan, &plan.root, "iam", form("CreateAccessKey", IAM_VERSION, &[("UserName", name)]), out).await?;
    let creds = Creds {
        access_key_id: reply.tag("AccessKeyId")?.to_owned(),
        secret_access_key: reply.tag("SecretAccessKey")?.to_owned(),
    };
    // Pair ending one step ago: the device's offset is then -1 and its last accepted step the
    // previous one, so the code of the current step is accepted at once (and moves the offset to 0).
    let (serial, key) = create_and_enable(worker, plan, name, name, 1, out).await?;
    Some(SessionDevice { creds, serial, key, last_step: step_at(now_unix()) - 1 })
}

fn run_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("{:x}", (nanos as u64) ^ u64::from(std::process::id()).rotate_left(40))
}

/// Prepares, runs and reports one scenario.
pub async fn run(args: LoadArgs) -> anyhow::Result<Report> {
    if args.duration > MAX_DURATION || args.duration.is_zero() {
        bail!("--duration must be between 1ms and {} s", MAX_DURATION.as_secs());
    }
    if args.warmup > MAX_WARMUP {
        bail!("--warmup must be at most {} s", MAX_WARMUP.as_secs());
    }
    if args.connections == 0 || args.connections > 4096 {
        bail!("--connections must be 1..=4096");
    }
    let target = Target::parse(&args.endpoint, &args.region)?;
    let root = Creds {
        access_key_id: args.access_key.clone().context("--access-key or AWS_ACCESS_KEY_ID is required")?,
        secret_access_key: args.secret.clone().context("--secret or AWS_SECRET_ACCESS_KEY is required")?,
    };
    let run_id = run_id();
    let plan = Arc::new(Plan {
        target,
        root,
        reader: std::sync::OnceLock::new(),
        scenario: args.scenario,
        user: args.user.clone().unwrap_or_else(|| format!("bench-{run_id}")),
        run_id,
        cleanup: !args.no_cleanup,
        max_items: args.max_items,
        sessions: Mutex::new(VecDeque::new()),
        deadline: std::sync::OnceLock::new(),
    });
    let prepare_started = Instant::now();
    tokio::time::timeout(PREPARE_TIMEOUT, prepare(&plan, &args))
        .await
        .map_err(|_| anyhow::anyhow!("preparation took longer than {} s", PREPARE_TIMEOUT.as_secs()))??;
    let prepare_seconds = prepare_started.elapsed().as_secs_f64();

    let barrier = Arc::new(Barrier::new(args.connections + 1));
    let mut handles = Vec::with_capacity(args.connections);
    for id in 0..args.connections {
        let plan = Arc::clone(&plan);
        let barrier = Arc::clone(&barrier);
        let (warmup, duration) = (args.warmup, args.duration);
        handles.push(tokio::spawn(async move {
            let mut worker = Worker { id, counter: 0, conn: Conn::connect(&plan.target).await.ok(), marker: None };
            barrier.wait().await;
            let measure_from = Instant::now() + warmup;
            let deadline = measure_from + duration;
            let mut stats = Stats::new();
            loop {
                let started = Instant::now();
                if started >= deadline {
                    break;
                }
                let outcome = run_op(&mut worker, &plan).await;
                if started < measure_from {
                    continue;
                }
                stats.requests += outcome.requests;
                stats.reconnects += outcome.reconnects;
                if outcome.device_wait {
                    stats.device_waits += 1;
                }
                if let Some(latency) = outcome.latency {
                    stats.ops += 1;
                    stats.hist.saturating_record(latency.as_micros().max(1) as u64);
                }
                if let Some(e) = outcome.error {
                    *stats.errors.entry(e).or_default() += 1;
                }
            }
            stats
        }));
    }
    let started = Instant::now() + args.warmup;
    let _ = plan.deadline.set(started + args.duration);
    // The server's CPU clock is read when measuring starts, from a task of its own so that the
    // read happens on time whatever the connections are doing.
    // Processes started before then (a database's connections opened during warm-up) count.
    let roots = args.server_pid.clone();
    let cpu_at_start = (!roots.is_empty()).then(|| {
        tokio::spawn(async move {
            tokio::time::sleep_until(started.into()).await;
            let pids = process_tree(&roots);
            let cpu = cpu_of(&pids);
            (pids, cpu)
        })
    });
    barrier.wait().await;
    let mut total = Stats::new();
    for handle in handles {
        total.merge(handle.await.context("a connection task panicked")?);
    }
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    let server_cpu_seconds = match cpu_at_start {
        Some(at_start) => {
            let (pids, before) = at_start.await.context("the CPU clock task panicked")?;
            let after = cpu_of(&pids);
            Some(after.iter().zip(&before).map(|(a, b)| (a - b).max(0.0)).sum())
        }
        None => None,
    };
    let ms = |v: u64| v as f64 / 1000.0;
    let h = &total.hist;
    Ok(Report {
        label: args.label.clone(),
        endpoint: args.endpoint.clone(),
        scenario: args.scenario,
        connections: args.connections,
        seconds,
        prepare_seconds,
        ops: total.ops,
        ops_per_second: total.ops as f64 / seconds,
        requests: total.requests,
        requests_per_second: total.requests as f64 / seconds,
        p50_ms: ms(h.value_at_quantile(0.5)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
        mean_ms: h.mean() / 1000.0,
        error_total: total.errors.values().sum(),
        errors: total.errors,
        device_waits: total.device_waits,
        reconnects: total.reconnects,
        server_cpu_seconds,
        server_cpu_us_per_request: server_cpu_seconds.map(|cpu| cpu * 1e6 / total.requests.max(1) as f64),
    })
}

pub fn print_text(r: &Report) {
    let label = r.label.as_deref().map(|l| format!(" ({l})")).unwrap_or_default();
    let unit = if r.scenario == Scenario::CreateEnable { "pairs" } else { "ops" };
    println!(
        "{:?} against {}{label}: {} connections, {:.1} s measured (preparation {:.1} s)",
        r.scenario, r.endpoint, r.connections, r.seconds, r.prepare_seconds
    );
    println!(
        "  {unit}: {} ({:.1}/s)   requests: {} ({:.1}/s)",
        r.ops, r.ops_per_second, r.requests, r.requests_per_second
    );
    println!(
        "  latency per op: p50 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  max {:.3} ms  mean {:.3} ms",
        r.p50_ms, r.p99_ms, r.p999_ms, r.max_ms, r.mean_ms
    );
    if let (Some(cpu), Some(per_request)) = (r.server_cpu_seconds, r.server_cpu_us_per_request) {
        println!("  server CPU: {cpu:.2} s, {per_request:.1} µs per request");
    }
    if r.reconnects > 0 {
        println!("  connections closed by the server and reopened: {}", r.reconnects);
    }
    if r.device_waits > 0 {
        println!("  waits for the next TOTP step (all devices used): {}", r.device_waits);
    }
    if r.errors.is_empty() {
        println!("  errors: none");
    } else {
        println!("  errors: {}", r.error_total);
        for (k, v) in &r.errors {
            println!("    {v:>8}  {k}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("1h").is_err());
    }

    #[test]
    fn seeds() {
        let seed = [7u8; 40];
        let b32 = BASE32_NOPAD.encode(&seed);
        assert_eq!(decode_seed(&BASE64.encode(b32.as_bytes())).unwrap(), seed);
        assert_eq!(decode_seed(&b32).unwrap(), seed);
    }
}
