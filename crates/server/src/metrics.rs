//! What iamd counts for Prometheus, and the text `GET /metrics` answers (the Prometheus text
//! format 0.0.4). The server records through [`Metrics`] (held by `App`): the HTTP layer one
//! observation per request, `auth` the MFA checks, lockouts and credential-cache lookups, the
//! console its sign-ins; the store registers its own (SQLite group commit, PostgreSQL pool).
//!
//! Every label takes values from a fixed set — services, the model's operation names, HTTP
//! statuses, AWS error codes, the console's route templates, outcome names — never anything a
//! client or an administrator chose (no user names, no ARNs), so the number of series stays
//! bounded however the server is used.

use std::borrow::Cow;
use std::time::Duration;

use iamd_model::{Action, Service};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The action label of a request whose action is not one of the model's operations (or, for
/// the console, that matched no route).
pub const UNKNOWN: &str = "unknown";

/// Request latency buckets, in seconds: a cached GetUser takes well under a millisecond, a
/// write waits for an fsync (milliseconds), a password check for Argon2 (tens of ms), and a
/// failed Enable/Resync for the whole 24 h pair search.
const LATENCY_BUCKETS: [f64; 13] = [0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// How a request is labelled: which API (`iam`, `sts`, `console`) and which of its actions.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Endpoint {
    pub service: &'static str,
    pub action: Cow<'static, str>,
}

impl Endpoint {
    /// A query API request: `action` as the client sent it, kept only if the service's model
    /// has that operation.
    pub fn api(service: Service, action: &str) -> Self {
        let action = Action::from_name(service, action).map_or(UNKNOWN, Action::name);
        Self { service: service.signing_name(), action: Cow::Borrowed(action) }
    }

    /// A console request, named by its method and the route template it matched (`POST
    /// /signin`, `GET /console/assets/{file}`): the router's table bounds the values.
    pub fn console(method: &http::Method, route: Option<&str>) -> Self {
        let action = match route {
            Some(route) => Cow::Owned(format!("{method} {route}")),
            None => Cow::Borrowed(UNKNOWN),
        };
        Self { service: "console", action }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    service: &'static str,
    action: Cow<'static, str>,
    status: u16,
    /// The AWS error code; empty for a success (and for console pages, which answer in words).
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

/// How one MFA code check (console sign-in, GetSessionToken, AssumeRole) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaOutcome {
    Accepted,
    WrongCode,
    /// The code was right but had been used already (or a later one had).
    ReusedCode,
    /// Refused unevaluated: too many recent failures.
    Locked,
    /// One of the device's codes, but outside the drift window: its clock is off.
    OutOfSync,
    /// The serial is not a device of the caller's.
    NotAssigned,
}

impl MfaOutcome {
    fn label(self) -> &'static str {
        match self {
            MfaOutcome::Accepted => "accepted",
            MfaOutcome::WrongCode => "wrong_code",
            MfaOutcome::ReusedCode => "reused_code",
            MfaOutcome::Locked => "locked",
            MfaOutcome::OutOfSync => "out_of_sync",
            MfaOutcome::NotAssigned => "not_assigned",
        }
    }
}

/// How one console sign-in step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInOutcome {
    /// A session was opened: the password of a user without MFA, or the code after it.
    SignedIn,
    /// The password was right; the code step follows.
    PasswordAccepted,
    WrongPassword,
    /// Too many failed passwords for the user or from the address: refused unevaluated.
    PasswordThrottled,
    /// The code step refused the code (why: `iamd_mfa_checks_total`).
    MfaRefused,
}

impl SignInOutcome {
    fn label(self) -> &'static str {
        match self {
            SignInOutcome::SignedIn => "signed_in",
            SignInOutcome::PasswordAccepted => "password_accepted",
            SignInOutcome::WrongPassword => "wrong_password",
            SignInOutcome::PasswordThrottled => "password_throttled",
            SignInOutcome::MfaRefused => "mfa_refused",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<Endpoint, Histogram, fn() -> Histogram>,
    mfa_checks: Family<Outcome, Counter>,
    mfa_lockouts: Counter,
    sign_ins: Family<Outcome, Counter>,
    credential_cache: Family<Outcome, Counter>,
}

impl Metrics {
    /// The server's metrics, plus whatever `more` registers (the store's) under the same
    /// `iamd_` prefix.
    pub fn new(more: impl FnOnce(&mut Registry)) -> Self {
        let metrics = Self {
            registry: Registry::with_prefix("iamd"),
            requests: Family::default(),
            durations: Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS)),
            mfa_checks: Family::default(),
            mfa_lockouts: Counter::default(),
            sign_ins: Family::default(),
            credential_cache: Family::default(),
        };
        let mut registry = metrics.registry;
        registry.register(
            "build",
            "The running iamd's version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        registry.register(
            "requests",
            "Requests answered, by service, action, HTTP status and AWS error code",
            metrics.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from a request's arrival to its answer, by service and action",
            metrics.durations.clone(),
        );
        registry.register(
            "mfa_checks",
            "MFA code checks (console sign-in, GetSessionToken, AssumeRole) by outcome",
            metrics.mfa_checks.clone(),
        );
        registry.register(
            "mfa_lockouts_started",
            "MFA lockouts imposed after consecutive failures",
            metrics.mfa_lockouts.clone(),
        );
        registry.register("console_sign_ins", "Console sign-in steps by outcome", metrics.sign_ins.clone());
        registry.register(
            "credential_cache_lookups",
            "Access key lookups by result (hit: served from memory; miss: read from the store)",
            metrics.credential_cache.clone(),
        );
        more(&mut registry);
        Self { registry, ..metrics }
    }

    pub fn request(&self, endpoint: &Endpoint, status: u16, code: Option<&'static str>, took: Duration) {
        let labels = RequestLabels {
            service: endpoint.service,
            action: endpoint.action.clone(),
            status,
            code: code.unwrap_or(""),
        };
        self.requests.get_or_create(&labels).inc();
        self.durations.get_or_create(endpoint).observe(took.as_secs_f64());
    }

    pub fn mfa_check(&self, outcome: MfaOutcome) {
        self.mfa_checks.get_or_create(&Outcome { outcome: outcome.label() }).inc();
    }

    pub fn mfa_lockout_started(&self) {
        self.mfa_lockouts.inc();
    }

    pub fn sign_in(&self, outcome: SignInOutcome) {
        self.sign_ins.get_or_create(&Outcome { outcome: outcome.label() }).inc();
    }

    pub fn credential_cache(&self, hit: bool) {
        self.credential_cache.get_or_create(&Outcome { outcome: if hit { "hit" } else { "miss" } }).inc();
    }

    /// Everything registered, in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_outside_the_model_are_unknown() {
        assert_eq!(Endpoint::api(Service::Iam, "GetUser").action, "GetUser");
        assert_eq!(Endpoint::api(Service::Sts, "GetSessionToken").action, "GetSessionToken");
        // An operation of the other service, a wrong case, garbage, nothing: one label for all.
        for raw in ["GetSessionToken", "getuser", "GetUser\n", "arn:aws:iam::123456789012:user/alice", ""] {
            assert_eq!(Endpoint::api(Service::Iam, raw).action, UNKNOWN, "{raw:?}");
        }
        assert_eq!(Endpoint::api(Service::Sts, "GetUser").action, UNKNOWN);
        assert_eq!(Endpoint::api(Service::Sts, "GetUser").service, "sts");
    }

    #[test]
    fn console_requests_are_named_by_route_template() {
        let route = Endpoint::console(&http::Method::GET, Some("/console/assets/{file}"));
        assert_eq!((route.service, route.action.as_ref()), ("console", "GET /console/assets/{file}"));
        assert_eq!(Endpoint::console(&http::Method::POST, None).action, UNKNOWN);
    }

    #[test]
    fn renders_prometheus_text_with_every_family() {
        let metrics = Metrics::new(|_| {});
        let get_user = Endpoint::api(Service::Iam, "GetUser");
        metrics.request(&get_user, 200, None, Duration::from_micros(300));
        metrics.request(&get_user, 404, Some("NoSuchEntity"), Duration::from_millis(3));
        metrics.mfa_check(MfaOutcome::OutOfSync);
        metrics.mfa_lockout_started();
        metrics.sign_in(SignInOutcome::SignedIn);
        metrics.credential_cache(true);
        let text = metrics.render();
        for line in [
            "# TYPE iamd_requests_total counter",
            r#"iamd_requests_total{service="iam",action="GetUser",status="200",code=""} 1"#,
            r#"iamd_requests_total{service="iam",action="GetUser",status="404",code="NoSuchEntity"} 1"#,
            r#"iamd_request_duration_seconds_bucket{service="iam",action="GetUser",le="0.0005"} 1"#,
            r#"iamd_request_duration_seconds_bucket{service="iam",action="GetUser",le="0.005"} 2"#,
            r#"iamd_request_duration_seconds_count{service="iam",action="GetUser"} 2"#,
            r#"iamd_mfa_checks_total{outcome="out_of_sync"} 1"#,
            "iamd_mfa_lockouts_started_total 1",
            r#"iamd_console_sign_ins_total{outcome="signed_in"} 1"#,
            r#"iamd_credential_cache_lookups_total{outcome="hit"} 1"#,
            concat!(r#"iamd_build_info{version=""#, env!("CARGO_PKG_VERSION"), r#""} 1"#),
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
        }
    }
}
