//! The ways a request fails that are not the client's doing, in one place: unexpected internal
//! failures, store failures without a more specific meaning, and CPU-heavy work that must leave
//! the async runtime. Every layer above may use these; they use nothing of the server's.

use iamd_domain::{ApiError, ErrorCode};
use iamd_store::StoreError;

/// An unexpected failure: logged here with its detail (inside the request's span, so the log
/// line carries the request id), answered as `ServiceFailure`.
pub fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "internal failure");
    ApiError::service_failure()
}

/// A store failure that the caller did not map to something more specific.
pub fn store_failure(e: StoreError) -> ApiError {
    match e {
        StoreError::Unavailable(detail) => {
            tracing::warn!(%detail, "database unavailable");
            ApiError::new(ErrorCode::ServiceUnavailable, "Service is temporarily unavailable. Try again later.")
        }
        StoreError::Conflict => ApiError::new(
            ErrorCode::ConcurrentModification,
            "The request was rejected because it conflicted with a concurrent change. Try again.",
        ),
        other => internal(other),
    }
}

/// Runs CPU-heavy work (Argon2, the QR code, a 24 h pair search: up to tens of milliseconds) on
/// the blocking pool, so the requests sharing this runtime worker are not held up behind it.
pub async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(internal)
}
