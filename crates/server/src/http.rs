//! The HTTP surface, on top of every other layer: `GET /health`, IAM/STS query requests on `/`
//! (POST form or GET query) and the console's routes. Every request gets an id and a tracing
//! span carrying it, so each log line of a request can be found by that id (the query API also
//! records the action in the span and answers with the id in `x-amzn-RequestId`).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, Method, StatusCode, header};
use iamd_domain::{ApiError, ErrorCode};
use iamd_model::Action;
use tracing::Instrument;

use crate::auth::{self, audit::source_address};
use crate::caller::Caller;
use crate::ops::{self, Ctx};
use crate::state::App;
use crate::wire::params::Params;
use crate::wire::{Service, error, xml};

/// Query requests are small; anything near this is a mistake or an attack.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// The id of the request being served, put in the request's extensions by [`with_request_span`].
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/", get(query_api).post(query_api))
        .merge(crate::console::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(with_request_span))
        .with_state(app)
}

/// Gives the request its id and runs it inside a span named after it.
async fn with_request_span(mut request: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let span = tracing::info_span!("request", id = %request_id, action = tracing::field::Empty);
    request.extensions_mut().insert(RequestId(request_id));
    next.run(request).instrument(span).await
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
    let started = Instant::now();
    let now = app.clock.now();
    let (parts, body) = request.into_parts();
    let request_id =
        parts.extensions.get::<RequestId>().map_or_else(|| uuid::Uuid::new_v4().to_string(), |id| id.0.clone());
    // A client trickling its body is cut off like one trickling its headers (`listener`).
    let body =
        match tokio::time::timeout(app.limits.request_read_timeout, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
            Ok(Ok(body)) => body,
            Ok(Err(_)) => {
                let e = ApiError::validation(format!("Request body is larger than {MAX_BODY_BYTES} bytes"));
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

    let (service, caller) = match auth::authenticate(&app, &request, now).await {
        Ok(found) => found,
        Err((service, e)) => {
            // Unsigned requests name no service; their API version does.
            let service = service.unwrap_or(match params.get("Version") {
                Some(version) if version == Service::Sts.api_version() => Service::Sts,
                _ => Service::Iam,
            });
            tracing::info!(code = e.code.as_str(), "authentication failed");
            return error::response(service, &e, &request_id);
        }
    };

    let outcome = run(&app, service, &caller, &action, &params, now, &source).await;
    let response = match &outcome {
        Ok(result) => {
            let body = xml::success(service, &action, result.as_deref(), &request_id);
            error::with_request_id((StatusCode::OK, body).into_response(), &request_id)
        }
        Err(e) => error::response(service, e, &request_id),
    };
    tracing::info!(
        caller = %caller.arn(),
        status = response.status().as_u16(),
        error = outcome.as_ref().err().map(|e| e.code.as_str()),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    response
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
