//! Turning an [`ApiError`] into the HTTP response AWS would send.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use iamd_domain::{ApiError, ErrorCode};

use super::{Service, xml};

/// The HTTP status and whether the fault is the sender's, as the service models (and AWS's
/// common-error list for the unmodeled codes) give them.
pub fn status_and_fault(code: ErrorCode) -> (StatusCode, &'static str) {
    use ErrorCode::*;
    let status = match code {
        AccessDenied
        | InvalidAuthenticationCode
        | InvalidClientTokenId
        | MissingAuthenticationToken
        | SignatureDoesNotMatch
        | ExpiredToken => StatusCode::FORBIDDEN,
        NoSuchEntity => StatusCode::NOT_FOUND,
        ConcurrentModification
        | DeleteConflict
        | EntityAlreadyExists
        | EntityTemporarilyUnmodifiable
        | LimitExceeded => StatusCode::CONFLICT,
        IncompleteSignature
        | InvalidAction
        | InvalidInput
        | InvalidUserType
        | MissingAction
        | PasswordPolicyViolation
        | RequestExpired
        | ValidationError => StatusCode::BAD_REQUEST,
        ServiceFailure => StatusCode::INTERNAL_SERVER_ERROR,
        ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
    };
    let fault = if status.is_server_error() { "Receiver" } else { "Sender" };
    (status, fault)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written table agrees with the botocore models wherever a code is modeled.
    #[test]
    fn statuses_agree_with_the_models() {
        for code in ErrorCode::ALL {
            let (status, fault) = status_and_fault(code);
            for service in [iamd_model::Service::Iam, iamd_model::Service::Sts] {
                if let Some(info) = iamd_model::error_info(service, code.as_str()) {
                    assert_eq!(status.as_u16(), info.http_status, "{code:?}");
                    assert_eq!(fault == "Sender", info.sender_fault, "{code:?}");
                }
            }
        }
    }
}
