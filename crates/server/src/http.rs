//! The HTTP surface: `GET /health`, and IAM/STS query requests on `/` (POST form or GET query).

use std::sync::Arc;
use std::time::Instant;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, Method, StatusCode, header};
use iamd_domain::sealing::MasterKey;
use iamd_domain::{ApiError, Clock, ErrorCode};
use iamd_store::{Store, ThrottlePolicy};

use crate::auth::{self, Caller};
use crate::ops::{self, Ctx};
use crate::wire::params::Params;
use crate::wire::{Service, error, xml};

/// Query requests are small; anything near this is a mistake or an attack.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// Quotas, as on AWS unless noted.
#[derive(Debug, Clone)]
pub struct Limits {
    pub access_keys_per_user: u32,
    pub mfa_devices_per_user: u32,
    /// Virtual MFA devices in an account (AWS ties this to the user quota).
    pub mfa_devices_per_account: u32,
    pub users_per_account: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            access_keys_per_user: 2,
            mfa_devices_per_user: iamd_domain::mfa::MAX_DEVICES_PER_USER,
            mfa_devices_per_account: 5000,
            users_per_account: 5000,
        }
    }
}

/// What every request handler shares.
pub struct App {
    pub store: Arc<dyn Store>,
    pub master_key: MasterKey,
    pub clock: Arc<dyn Clock>,
    pub limits: Limits,
    pub throttle: ThrottlePolicy,
    /// Recently used credentials (see `auth::cache`).
    pub credentials: crate::auth::cache::CredentialCache,
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/", get(query_api).post(query_api))
        .merge(crate::console::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(app)
}

/// 200 once the server accepts requests and its database answers; 503 while it does not (so a
/// load balancer stops sending traffic to a node that cannot serve it).
async fn health(State(app): State<Arc<App>>) -> (StatusCode, &'static str) {
    match tokio::time::timeout(std::time::Duration::from_secs(2), app.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ok"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

/// The client's address, for the audit trail ("unknown" when served without connection info,
/// as in in-process tests).
pub fn source_address(extensions: &http::Extensions) -> String {
    extensions.get::<ConnectInfo<SocketAddr>>().map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string())
}

async fn query_api(State(app): State<Arc<App>>, request: Request) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let now = app.clock.now();
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        let e = ApiError::validation(format!("Request body is larger than {MAX_BODY_BYTES} bytes"));
        return error::response(Service::Iam, &e, &request_id);
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

    let (service, caller) = match auth::authenticate(&app, &request, now).await {
        Ok(found) => found,
        Err((service, e)) => {
            // Unsigned requests name no service; their API version does.
            let service = service.unwrap_or(match params.get("Version") {
                Some("2011-06-15") => Service::Sts,
                _ => Service::Iam,
            });
            tracing::info!(%request_id, code = e.code.as_str(), "authentication failed");
            return error::response(service, &e, &request_id);
        }
    };
    let action = params.get("Action").unwrap_or_default().to_owned();

    let outcome = run(&app, service, &caller, &action, &params, now, &source).await;
    let response = match &outcome {
        Ok(result) => {
            let body = xml::success(service, &action, result.as_deref(), &request_id);
            error::with_request_id((StatusCode::OK, body).into_response(), &request_id)
        }
        Err(e) => error::response(service, e, &request_id),
    };
    tracing::info!(
        %request_id,
        action,
        caller = %caller.arn(),
        status = response.status().as_u16(),
        error = outcome.as_ref().err().map(|e| e.code.as_str()),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

/// Checks the action against the service model, validates its input, then runs it.
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
    let operation =
        iamd_model::operation(service.model(), action).ok_or_else(|| ops::invalid_action(action, version))?;
    ops::check_special_formats(params)?;
    iamd_model::validate(operation, params.pairs()).map_err(|e| ApiError::validation(e.message))?;
    let ctx = Ctx { app, caller, action: operation.name, now, source };
    ops::dispatch(&ctx, service, params).await
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("application/x-www-form-urlencoded"))
}
