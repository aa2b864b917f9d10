//! The HTTP surface, on top of every other layer: `GET /health`, `GET /metrics`, IAM/STS query
//! requests on `/` (POST form or GET query) and the console's routes. Every request gets an id
//! and a tracing span carrying it, so each log line of a request can be found by that id (the
//! query API also records the action in the span and answers with the id in
//! `x-amzn-RequestId`). Each API and console request ends with one access log line and one
//! observation in the metrics, both written by [`with_request_span`] from what the handler
//! reported in [`Served`].

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, Method, StatusCode, header};
use iamd_domain::{ApiError, ErrorCode};
use iamd_model::Action;
use tracing::Instrument;

use crate::auth::{self, audit::source_address};
use crate::caller::Caller;
use crate::metrics::{self, Endpoint};
use crate::ops::audit::{self, Origin, RequestScope};
use crate::ops::{self, Ctx};
use crate::state::App;
use crate::wire::params::Params;
use crate::wire::{Service, error, xml};

/// Query requests are small; anything near this is a mistake or an attack.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// The id of the request being served, put in the request's extensions by [`with_request_span`].
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// What a handler served, for the access log line and the metrics: put in the response's
/// extensions (by `query_api`, and for the console by [`console_served`]). Requests without it
/// (`/health`, `/metrics`, unknown paths) are neither logged nor counted.
#[derive(Clone)]
struct Served {
    endpoint: Endpoint,
    /// The action as the client named it: the log keeps it, the metrics only a known one.
    action: String,
    error: Option<&'static str>,
    caller: Option<String>,
}

/// Every route, `/metrics` included.
pub fn router(app: Arc<App>) -> Router {
    routes(app, true)
}

/// Every route but `/metrics`, for when it has a listener of its own (`--metrics-listen`): the
/// public port then answers it 404.
pub fn router_without_metrics(app: Arc<App>) -> Router {
    routes(app, false)
}

/// `/metrics` alone, for its own listener.
pub fn metrics_router(app: Arc<App>) -> Router {
    Router::new().route("/metrics", get(metrics_text)).with_state(app)
}

fn routes(app: Arc<App>, with_metrics: bool) -> Router {
    let routes = Router::new()
        .route("/health", get(health))
        .route("/", get(query_api).post(query_api))
        .merge(crate::console::routes().route_layer(middleware::from_fn(console_served)));
    let routes = if with_metrics { routes.route("/metrics", get(metrics_text)) } else { routes };
    routes
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(app.clone(), with_request_span))
        .with_state(app)
}

/// Gives the request its id and runs it inside a span named after it; then, for an API or
/// console request, writes its access log line and counts it.
async fn with_request_span(State(app): State<Arc<App>>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = new_request_id();
    let span = tracing::info_span!("request", id = %request_id, action = tracing::field::Empty);
    request.extensions_mut().insert(RequestId(request_id.clone()));
    let response = next.run(request).instrument(span).await;
    if let Some(served) = response.extensions().get::<Served>() {
        let took = started.elapsed();
        let status = response.status().as_u16();
        app.metrics.request(&served.endpoint, status, served.error, took);
        // Outside the span, with every field named, so that the line alone (one JSON object
        // with --log-format json) says everything about the request.
        tracing::info!(
            id = %request_id,
            service = served.endpoint.service,
            action = served.action.as_str(),
            caller = served.caller.as_deref().map(tracing::field::display),
            status,
            error = served.error,
            duration_ms = took.as_micros() as f64 / 1000.0,
            "request"
        );
    }
    response
}

/// A request id: a random (version 4) UUID, as AWS's are. Ids must be unique, not secret, so the
/// bytes come from a per-thread block of OS randomness refilled 4 KiB at a time: one system call
/// per 256 requests instead of one each (it was 1.7% of a GetUser's CPU).
fn new_request_id() -> String {
    const BLOCK: usize = 4096;
    thread_local! {
        static RANDOM: std::cell::RefCell<(Box<[u8; BLOCK]>, usize)> =
            std::cell::RefCell::new((Box::new([0; BLOCK]), BLOCK));
    }
    let bytes: [u8; 16] = RANDOM.with_borrow_mut(|(block, used)| {
        if *used == BLOCK {
            getrandom::fill(&mut block[..]).expect("the OS random source is available");
            *used = 0;
        }
        let bytes = block[*used..*used + 16].try_into().expect("16 bytes");
        *used += 16;
        bytes
    });
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

/// Marks a console response as served by the console, named by its route template; the
/// operations it runs are audited as the console's.
async fn console_served(request: Request, next: Next) -> Response {
    let endpoint = Endpoint::console(request.method(), request.extensions().get::<MatchedPath>().map(|m| m.as_str()));
    let scope = audit_scope(request.extensions(), Origin::Console);
    let mut response = audit::scoped(scope, next.run(request)).await;
    let action = endpoint.action.to_string();
    response.extensions_mut().insert(Served { endpoint, action, error: None, caller: None });
    response
}

/// The metrics in the Prometheus text format. Unauthenticated, like `/health`: operators keep
/// it from the public (a firewall, or `--metrics-listen` on a private address).
async fn metrics_text(State(app): State<Arc<App>>) -> Response {
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], app.metrics.render()).into_response()
}

/// 200 once the server accepts requests and its database answers; 503 while it does not (so a
/// load balancer stops sending traffic to a node that cannot serve it).
/// Healthy when the database answers a read and takes a durable write, each within 2 s, and
/// (embedded store) the data directory has room: a node whose disk is full (or whose writer
/// stopped) is unhealthy even though it can still read.
async fn health(State(app): State<Arc<App>>) -> (StatusCode, &'static str) {
    let within = |probe| tokio::time::timeout(std::time::Duration::from_secs(2), probe);
    if !matches!(within(app.store.ping()).await, Ok(Ok(()))) {
        return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable");
    }
    if !matches!(within(app.store.probe_write(app.now_unix())).await, Ok(Ok(()))) {
        return (StatusCode::SERVICE_UNAVAILABLE, "database cannot take writes");
    }
    // A small write can still fit in pages SQLite already has while a real one cannot.
    if let Some((dir, min_free)) = &app.limits.min_free_disk {
        let free = rustix::fs::statvfs(dir).map(|s| s.f_bavail.saturating_mul(s.f_frsize));
        if free.is_ok_and(|free| free < *min_free) {
            return (StatusCode::SERVICE_UNAVAILABLE, "data directory almost full");
        }
    }
    (StatusCode::OK, "ok")
}

async fn query_api(State(app): State<Arc<App>>, request: Request) -> Response {
    let mut served =
        Served { endpoint: Endpoint::api(Service::Iam, ""), action: String::new(), error: None, caller: None };
    let scope = audit_scope(request.extensions(), Origin::Api);
    let mut response = audit::scoped(scope, answer(&app, request, &mut served)).await;
    response.extensions_mut().insert(served);
    response
}

/// The request's id and origin, for the audit trail of the operations it runs.
fn audit_scope(extensions: &http::Extensions, origin: Origin) -> RequestScope {
    let id = extensions.get::<RequestId>().map(|id| id.0.clone()).unwrap_or_default();
    RequestScope { id, origin }
}

/// Serves one query API request, noting in `served` what the access log and metrics need.
async fn answer(app: &Arc<App>, request: Request, served: &mut Served) -> Response {
    let now = app.clock.now();
    let (parts, body) = request.into_parts();
    let request_id = parts.extensions.get::<RequestId>().map_or_else(new_request_id, |id| id.0.clone());
    // A client trickling its body is cut off like one trickling its headers (`listener`).
    let body =
        match tokio::time::timeout(app.limits.request_read_timeout, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
            Ok(Ok(body)) => body,
            Ok(Err(_)) => {
                let e = ApiError::validation(format!("Request body is larger than {MAX_BODY_BYTES} bytes"));
                served.error = Some(e.code.as_str());
                return error::response(Service::Iam, &e, &request_id);
            }
            Err(_) => return (StatusCode::REQUEST_TIMEOUT, "request body not received in time\n").into_response(),
        };
    let (method, uri, headers) = (&parts.method, &parts.uri, &parts.headers);
    let source = source_address(&parts.extensions);
    let request = iamd_sigv4::RequestParts {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers,
        body: &body,
    };
    let mut params = Params::default();
    params.extend_from_form(request.query.as_bytes());
    if method == Method::POST && is_form(headers) {
        params.extend_from_form(&body);
    }
    let params = params.without_signature_params();
    let action = params.get("Action").unwrap_or_default().to_owned();
    tracing::Span::current().record("action", action.as_str());
    served.action.clone_from(&action);

    let (service, caller) = match auth::authenticate(app, &request, now).await {
        Ok(found) => found,
        Err((service, e)) => {
            // Unsigned requests name no service; their API version does.
            let service = service.unwrap_or(match params.get("Version") {
                Some(version) if version == Service::Sts.api_version() => Service::Sts,
                _ => Service::Iam,
            });
            tracing::info!(code = e.code.as_str(), "authentication failed");
            served.endpoint = Endpoint::api(service, &action);
            served.error = Some(e.code.as_str());
            return error::response(service, &e, &request_id);
        }
    };
    served.endpoint = Endpoint::api(service, &action);
    // Only the request log line reads it: no ARN is formatted when that line is off.
    if tracing::enabled!(tracing::Level::INFO) {
        served.caller = Some(caller.arn());
    }

    let outcome = run(app, service, &caller, &action, &params, now, &source).await;
    match &outcome {
        Ok(result) => {
            let body = xml::success(service, &action, result.as_deref(), &request_id);
            error::with_request_id((StatusCode::OK, body).into_response(), &request_id)
        }
        Err(e) => {
            served.error = Some(e.code.as_str());
            error::response(service, e, &request_id)
        }
    }
}

/// Checks the action against the service model, validates its input, then dispatches it.
async fn run(
    app: &App,
    service: Service,
    caller: &Caller,
    action: &str,
    params: &Params,
    now: time::OffsetDateTime,
    source: &str,
) -> Result<Option<String>, ApiError> {
    if action.is_empty() {
        return Err(ApiError::new(ErrorCode::MissingAction, "Missing Action"));
    }
    let version = params.get("Version").unwrap_or_default();
    let action = Action::from_name(service, action).ok_or_else(|| error::invalid_action(action, version))?;
    let ctx = Ctx { app, caller, action, now, source };
    ops::perform(&ctx, params).await
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("application/x-www-form-urlencoded"))
}

#[cfg(test)]
mod tests {
    use super::new_request_id;

    #[test]
    fn request_ids_are_distinct_version_4_uuids() {
        // More than one block of randomness.
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_request_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            let parsed = uuid::Uuid::parse_str(id).expect("a UUID");
            assert_eq!(parsed.get_version_num(), 4, "{id}");
            assert_eq!(parsed.hyphenated().to_string(), *id);
        }
    }
}
