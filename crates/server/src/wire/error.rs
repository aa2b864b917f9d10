//! Turning an [`ApiError`] into the HTTP response AWS would send.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use iamd_domain::{ApiError, ErrorCode};

use super::{Service, xml};

/// The HTTP status and the fault (`Sender`/`Receiver`) of an error code, as the service models
/// (and AWS's common-error list for the unmodeled codes) give them.
pub fn status_and_fault(code: ErrorCode) -> (StatusCode, &'static str) {
    let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, if code.sender_fault() { "Sender" } else { "Receiver" })
}

/// AWS's answer for an action the service (or this version of iamd) does not have.
pub fn invalid_action(action: &str, version: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidAction, format!("Could not find operation {action} for version {version}"))
}

pub fn response(service: Service, error: &ApiError, request_id: &str) -> Response {
    let (status, fault) = status_and_fault(error.code);
    let body = xml::error(service, fault, error.code.as_str(), &error.message, request_id);
    with_request_id((status, body).into_response(), request_id)
}

/// Every response carries `Content-Type: text/xml` and `x-amzn-RequestId` equal to the body's.
pub fn with_request_id(mut response: Response, request_id: &str) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", value);
    }
    response
}
