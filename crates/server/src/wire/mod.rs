//! The AWS query protocol: decoding form/query parameters, encoding XML responses and
//! `ErrorResponse` documents. Nothing here knows what an operation does.

pub mod error;
pub mod params;
pub mod shapes;
pub mod xml;

/// Which API a request is for. IAM and STS share one endpoint; the SigV4 scope names the service.
pub use iamd_model::Service;
