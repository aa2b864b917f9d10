//! `iamd_domain::ErrorCode` (generated into the domain crate) agrees with the model tables
//! here: same status and fault wherever a model lists the code, and every error a served
//! operation can raise is a code iamd can answer.

use iamd_domain::ErrorCode;
use iamd_model::{Action, Service, error_info};

const SERVICES: [Service; 2] = [Service::Iam, Service::Sts];

#[test]
fn statuses_agree_with_the_models() {
    let mut modeled = 0;
    for &code in ErrorCode::ALL {
        for service in SERVICES {
            if let Some(info) = error_info(service, code.as_str()) {
                modeled += 1;
                assert_eq!(code.http_status(), info.http_status, "{code:?} in {service:?}");
                assert_eq!(code.sender_fault(), info.sender_fault, "{code:?} in {service:?}");
            }
        }
    }
    assert!(modeled >= 10, "only {modeled} codes found in the models");
}

#[test]
fn every_error_a_served_operation_lists_is_an_error_code() {
    for &action in Action::ALL {
        for listed in action.operation().errors {
            assert!(
                ErrorCode::ALL.iter().any(|c| c.as_str() == *listed),
                "{}: {listed} is not an ErrorCode",
                action.name()
            );
        }
    }
}

#[test]
fn common_errors_are_the_unmodeled_ones() {
    use ErrorCode::*;
    for code in [AccessDenied, InvalidAction, SignatureDoesNotMatch, ValidationError, ServiceUnavailable] {
        assert!(SERVICES.iter().all(|&s| error_info(s, code.as_str()).is_none()), "{code:?}");
    }
    assert_eq!((NoSuchEntity.http_status(), NoSuchEntity.sender_fault()), (404, true));
    assert_eq!((ServiceFailure.http_status(), ServiceFailure.sender_fault()), (500, false));
    assert_eq!((ServiceUnavailable.http_status(), ServiceUnavailable.sender_fault()), (503, false));
}
