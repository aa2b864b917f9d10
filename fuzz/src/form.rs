//! `form_params`: a query string and a form body decoded as `http::query_api` decodes them, then
//! what `ops::perform` does before any operation runs (path check, validation against the
//! botocore model), and the `ErrorResponse` a refusal becomes.
//!
//! Input: the query string, a `\n`, then the body (bytes).

use iamd_model::Service;
use iamd_server::wire::error::invalid_action;
use iamd_server::wire::params::Params;
use iamd_server::wire::xml;

use crate::xml::{is_xml_char, texts_of};

pub fn check(data: &[u8]) {
    let (query, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    // The server reads the query from a parsed URI, which is text.
    let Ok(query) = std::str::from_utf8(query) else { return };
    let mut params = Params::default();
    params.extend_from_form(query.as_bytes());
    params.extend_from_form(body);
    let params = params.without_signature_params();
    assert!(params.pairs().iter().all(|(k, _)| !k.starts_with("X-Amz-")), "signature parameters are not input");
    // `get` answers the first value of a name.
    for (i, (k, v)) in params.pairs().iter().enumerate() {
        if !params.pairs()[..i].iter().any(|(earlier, _)| earlier == k) {
            assert_eq!(params.get(k), Some(v.as_str()));
        }
    }

    let action = params.get("Action").unwrap_or_default();
    let version = params.get("Version").unwrap_or_default();
    for service in [Service::Iam, Service::Sts] {
        let Some(op) = iamd_model::operation(service, action) else {
            answer(service, "InvalidAction", &invalid_action(action, version).message);
            continue;
        };
        if let Err(e) = params.check_paths() {
            answer(service, e.code.as_str(), &e.message);
        }
        match iamd_model::validate(op, params.pairs()) {
            Ok(()) => {
                // Whatever passed validation, the handlers read lists and tags from it.
                for member in op.input {
                    let _ = params.list(member.name);
                    let _ = params.tags(member.name);
                }
            }
            Err(e) => {
                assert!(e.message.contains("validation error"), "{}", e.message);
                answer(service, "ValidationError", &e.message);
            }
        }
    }
}

/// The error document the client gets is well-formed and carries the message: every character
/// XML allows unchanged, the others as U+FFFD.
fn answer(service: Service, code: &str, message: &str) {
    let document = xml::error(service, "Sender", code, message, "00000000-0000-0000-0000-000000000000");
    let expected: String =
        message.chars().map(|c| if is_xml_char(c) { c } else { char::REPLACEMENT_CHARACTER }).collect();
    assert_eq!(texts_of(&document, "Message"), vec![expected], "{document:?}");
    assert_eq!(texts_of(&document, "Code"), vec![code.to_owned()]);
}
