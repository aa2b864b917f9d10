//! The AWS query protocol: decoding form/query parameters, encoding XML responses and
//! `ErrorResponse` documents. Nothing here knows what an operation does.

pub mod error;
pub mod params;
pub mod shapes;
pub mod xml;

/// Which API a request is for. IAM and STS share one endpoint; the SigV4 scope names the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Iam,
    Sts,
}

impl Service {
    pub fn from_signing_name(name: &str) -> Option<Self> {
        match name {
            "iam" => Some(Service::Iam),
            "sts" => Some(Service::Sts),
            _ => None,
        }
    }

    pub fn namespace(self) -> &'static str {
        match self {
            Service::Iam => "https://iam.amazonaws.com/doc/2010-05-08/",
            Service::Sts => "https://sts.amazonaws.com/doc/2011-06-15/",
        }
    }

    pub fn model(self) -> iamd_model::Service {
        match self {
            Service::Iam => iamd_model::Service::Iam,
            Service::Sts => iamd_model::Service::Sts,
        }
    }

    pub fn signing_name(self) -> &'static str {
        match self {
            Service::Iam => "iam",
            Service::Sts => "sts",
        }
    }
}
