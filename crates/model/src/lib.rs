//! The IAM and STS service models iamd serves, and request validation against them.
//!
//! The tables live in `generated.rs`, written by `tools/gen_model.py` from the
//! botocore models (`python3 tools/gen_model.py` from the workspace root).
//! This file holds the types those tables use and the lookups the server calls:
//!
//! * [`Action`] — the operations iamd serves, one variant each; [`Action::from_name`]
//!   answers "is this `Action=` one we serve?" (otherwise `InvalidAction`).
//! * [`validate`] — do the query parameters satisfy the model's constraints?
//!   Failures carry AWS's Coral-style `ValidationError` message.
//! * [`error_info`] — the HTTP status and fault of a modeled error code.

use std::sync::OnceLock;

use regex::Regex;

#[rustfmt::skip]
mod generated;
mod validate;

pub use generated::Action;
pub use validate::{ValidationError, validate};

/// The two query APIs iamd speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Iam,
    Sts,
}

impl Service {
    /// The service named by a SigV4 credential scope (`iam`, `sts`).
    pub fn from_signing_name(name: &str) -> Option<Service> {
        [Service::Iam, Service::Sts].into_iter().find(|s| s.signing_name() == name)
    }

    /// The name in SigV4 credential scopes, also the IAM policy action prefix.
    pub fn signing_name(self) -> &'static str {
        match self {
            Service::Iam => generated::IAM_SIGNING_NAME,
            Service::Sts => generated::STS_SIGNING_NAME,
        }
    }

    /// The model's API version, sent as `Version=` by clients.
    pub fn api_version(self) -> &'static str {
        match self {
            Service::Iam => generated::IAM_API_VERSION,
            Service::Sts => generated::STS_API_VERSION,
        }
    }

    /// The XML namespace of every response (including `ErrorResponse`).
    pub fn xml_namespace(self) -> &'static str {
        match self {
            Service::Iam => generated::IAM_XML_NAMESPACE,
            Service::Sts => generated::STS_XML_NAMESPACE,
        }
    }

    fn actions(self) -> &'static [Action] {
        match self {
            Service::Iam => generated::IAM_ACTIONS,
            Service::Sts => generated::STS_ACTIONS,
        }
    }

    fn operations(self) -> &'static [&'static Operation] {
        match self {
            Service::Iam => generated::IAM_OPERATIONS,
            Service::Sts => generated::STS_OPERATIONS,
        }
    }

    fn errors(self) -> &'static [ErrorInfo] {
        match self {
            Service::Iam => generated::IAM_ERRORS,
            Service::Sts => generated::STS_ERRORS,
        }
    }
}

/// One served operation and its input shape.
#[derive(Debug)]
pub struct Operation {
    /// The `Action` name, e.g. `CreateUser`.
    pub name: &'static str,
    pub service: Service,
    /// Whether the operation changes anything: true unless its name starts with a reading verb
    /// (Get, List, Simulate, Decode, Assume). `tools/gen_model.py` decides it for every
    /// operation of the models and stops at a verb it does not know.
    pub mutating: bool,
    /// Members of the input structure, in model order (empty when the
    /// operation has no input). Validation errors are reported in this order.
    pub input: &'static [Member],
    /// Codes of the errors the model lists for this operation (informative;
    /// the server may answer others, e.g. common errors).
    pub errors: &'static [&'static str],
}

impl Operation {
    /// The input member with this (wire) name.
    pub fn member(&self, name: &str) -> Option<&'static Member> {
        self.input.iter().find(|m| m.name == name)
    }
}

/// A member of a structure.
#[derive(Debug)]
pub struct Member {
    /// The model member name, which is also the awsQuery parameter name.
    pub name: &'static str,
    pub required: bool,
    pub shape: &'static Shape,
}

/// A model shape with its constraints.
#[derive(Debug)]
pub struct Shape {
    /// The model's shape name, e.g. `userNameType`.
    pub name: &'static str,
    /// Sensitive values are never echoed in validation messages.
    pub sensitive: bool,
    pub kind: ShapeKind,
}

/// The shape's type and constraints. Lengths count characters (Unicode
/// scalar values) for strings and elements for lists and maps.
#[derive(Debug)]
pub enum ShapeKind {
    String {
        min: Option<u64>,
        max: Option<u64>,
        pattern: Option<&'static Pattern>,
        /// Allowed values in model order; empty means any value.
        enum_values: &'static [&'static str],
    },
    /// A 32-bit integer.
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    /// A 64-bit integer.
    Long {
        min: Option<i64>,
        max: Option<i64>,
    },
    Boolean,
    Timestamp,
    /// On the wire: `Name.member.N` (N from 1), or `Name=` for an empty list.
    List {
        member: &'static Shape,
        min: Option<u64>,
        max: Option<u64>,
    },
    /// On the wire: `Name.entry.N.key` / `Name.entry.N.value`.
    Map {
        key: &'static Shape,
        value: &'static Shape,
        min: Option<u64>,
        max: Option<u64>,
    },
    Structure {
        members: &'static [Member],
    },
}

/// A model pattern: the Java source (quoted in error messages, as AWS does)
/// and its translation to the `regex` crate, compiled once on first use.
#[derive(Debug)]
pub struct Pattern {
    /// The pattern as written in the model (Java syntax).
    pub model: &'static str,
    /// The anchored Rust translation made by the generator.
    pub rust: &'static str,
    compiled: OnceLock<Regex>,
}

impl Pattern {
    pub(crate) const fn new(model: &'static str, rust: &'static str) -> Self {
        Pattern { model, rust, compiled: OnceLock::new() }
    }

    /// The compiled regex. The generator's output is covered by a test that
    /// compiles every pattern, so failure here is a generator bug.
    pub fn regex(&self) -> &Regex {
        self.compiled.get_or_init(|| {
            Regex::new(self.rust).unwrap_or_else(|e| panic!("generated pattern {:?} does not compile: {e}", self.rust))
        })
    }

    /// Whether the whole value matches.
    pub fn is_match(&self, value: &str) -> bool {
        self.regex().is_match(value)
    }
}

/// A modeled error: the wire code, its HTTP status and whether it is the
/// sender's fault (`<Type>Sender</Type>`) or the service's (`Receiver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorInfo {
    pub code: &'static str,
    pub http_status: u16,
    pub sender_fault: bool,
}

impl Action {
    /// The action named by `Action=` in `service`'s API, or `None` (the server
    /// answers `InvalidAction`). Names are case-sensitive, as on AWS.
    pub fn from_name(service: Service, name: &str) -> Option<Action> {
        let actions = service.actions();
        actions.binary_search_by(|a| a.name().cmp(name)).ok().map(|i| actions[i])
    }

    /// The operation name, e.g. `CreateUser`.
    pub fn name(self) -> &'static str {
        self.operation().name
    }

    /// The API that serves it.
    pub fn service(self) -> Service {
        self.operation().service
    }

    /// Whether it changes anything (see [`Operation::mutating`]).
    pub fn is_mutating(self) -> bool {
        self.operation().mutating
    }
}

/// The operation named by `Action`, or `None` (the server answers
/// `InvalidAction`). Names are case-sensitive, as on AWS.
pub fn operation(service: Service, action: &str) -> Option<&'static Operation> {
    Action::from_name(service, action).map(Action::operation)
}

/// Every operation served for `service`, sorted by name.
pub fn operations(service: Service) -> &'static [&'static Operation] {
    service.operations()
}

/// The model's status and fault for an error *code* (e.g. `NoSuchEntity`,
/// not the shape name `NoSuchEntityException`). `None` for unmodeled codes
/// such as `AccessDenied` or `ValidationError`, which the server knows itself.
pub fn error_info(service: Service, code: &str) -> Option<&'static ErrorInfo> {
    let errors = service.errors();
    errors.binary_search_by(|e| e.code.cmp(code)).ok().map(|i| &errors[i])
}

/// Every modeled error of `service`, sorted by code.
pub fn error_infos(service: Service) -> &'static [ErrorInfo] {
    service.errors()
}

/// The member name as AWS writes it in validation messages: only the first
/// character is lowered (`UserName` → `userName`, `QRCodePNG` → `qRCodePNG`).
pub fn lower_camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_camel_lowers_only_the_first_character() {
        assert_eq!(lower_camel("UserName"), "userName");
        assert_eq!(lower_camel("MaxItems"), "maxItems");
        assert_eq!(lower_camel("SerialNumber"), "serialNumber");
        assert_eq!(lower_camel("QRCodePNG"), "qRCodePNG");
        assert_eq!(lower_camel(""), "");
    }

    #[test]
    fn operation_lookup() {
        let op = operation(Service::Iam, "CreateUser").expect("CreateUser");
        assert_eq!(op.name, "CreateUser");
        assert_eq!(op.service, Service::Iam);
        assert!(op.member("UserName").expect("UserName").required);
        assert!(operation(Service::Sts, "GetSessionToken").is_some());
        assert!(operation(Service::Sts, "GetCallerIdentity").is_some());
        assert!(operation(Service::Iam, "GetCallerIdentity").is_none());
        assert!(operation(Service::Sts, "CreateUser").is_none());
        assert!(operation(Service::Iam, "NoSuchAction").is_none());
        assert!(operation(Service::Iam, "createuser").is_none());
        assert!(operation(Service::Iam, "").is_none());
    }

    #[test]
    fn every_listed_operation_is_found() {
        for service in [Service::Iam, Service::Sts] {
            for op in operations(service) {
                let found = operation(service, op.name).expect(op.name);
                assert!(std::ptr::eq(found, *op));
            }
        }
        assert!(operations(Service::Iam).len() > operations(Service::Sts).len());
    }

    #[test]
    fn actions_and_operation_tables_agree() {
        let mut total = 0;
        for service in [Service::Iam, Service::Sts] {
            let ops = operations(service);
            let actions = service.actions();
            assert_eq!(actions.len(), ops.len(), "{service:?}");
            for (action, op) in actions.iter().zip(ops) {
                assert!(std::ptr::eq(action.operation(), *op), "{action:?} / {}", op.name);
                assert_eq!(action.name(), op.name);
                assert_eq!(action.service(), service);
                assert_eq!(Action::from_name(service, op.name), Some(*action));
                assert_eq!(format!("{action:?}"), op.name, "the variant is named as the operation");
            }
            total += ops.len();
        }
        assert_eq!(Action::ALL.len(), total);
        let mut seen = std::collections::HashSet::new();
        for &action in Action::ALL {
            assert!(seen.insert(action), "{action:?} twice in ALL");
            let service = action.service();
            assert!(service.actions().contains(&action), "{action:?}");
            let prefix = match service {
                Service::Iam => "iam:",
                Service::Sts => "sts:",
            };
            assert!(action.iam_action().starts_with(prefix), "{}", action.iam_action());
            assert_eq!(action.iam_action(), format!("{}:{}", service.signing_name(), action.name()));
        }
        assert_eq!(Action::CreateUser.iam_action(), "iam:CreateUser");
        assert_eq!(Action::CreateVirtualMFADevice.name(), "CreateVirtualMFADevice");
        assert_eq!(Action::GetSessionToken.iam_action(), "sts:GetSessionToken");
        assert_eq!(Action::GetCallerIdentity.service(), Service::Sts);
    }

    #[test]
    fn action_lookup_is_exact_and_per_service() {
        assert_eq!(Action::from_name(Service::Iam, "CreateUser"), Some(Action::CreateUser));
        assert_eq!(Action::from_name(Service::Sts, "GetSessionToken"), Some(Action::GetSessionToken));
        assert_eq!(Action::from_name(Service::Sts, "CreateUser"), None);
        assert_eq!(Action::from_name(Service::Iam, "GetCallerIdentity"), None);
        assert_eq!(Action::from_name(Service::Iam, "createuser"), None);
        assert_eq!(Action::from_name(Service::Iam, "CreateUser "), None);
        assert_eq!(Action::from_name(Service::Iam, ""), None);
    }

    #[test]
    fn signing_names() {
        assert_eq!(Service::from_signing_name("iam"), Some(Service::Iam));
        assert_eq!(Service::from_signing_name("sts"), Some(Service::Sts));
        assert_eq!(Service::from_signing_name("IAM"), None);
        assert_eq!(Service::from_signing_name("s3"), None);
        assert_eq!(Service::from_signing_name(""), None);
        assert_eq!(Service::Iam.signing_name(), "iam");
        assert_eq!(Service::Sts.signing_name(), "sts");
    }

    #[test]
    fn service_metadata() {
        assert_eq!(Service::Iam.api_version(), "2010-05-08");
        assert_eq!(Service::Sts.api_version(), "2011-06-15");
        assert_eq!(Service::Iam.xml_namespace(), "https://iam.amazonaws.com/doc/2010-05-08/");
        assert_eq!(Service::Sts.xml_namespace(), "https://sts.amazonaws.com/doc/2011-06-15/");
    }

    fn info(service: Service, code: &str) -> (u16, bool) {
        let e = error_info(service, code).unwrap_or_else(|| panic!("{code} not modeled"));
        assert_eq!(e.code, code);
        (e.http_status, e.sender_fault)
    }

    #[test]
    fn error_info_uses_model_codes_status_and_fault() {
        assert_eq!(info(Service::Iam, "NoSuchEntity"), (404, true));
        assert_eq!(info(Service::Iam, "InvalidAuthenticationCode"), (403, true));
        assert_eq!(info(Service::Iam, "EntityAlreadyExists"), (409, true));
        assert_eq!(info(Service::Iam, "ServiceFailure"), (500, false));
        assert_eq!(info(Service::Iam, "DeleteConflict"), (409, true));
        assert_eq!(info(Service::Iam, "LimitExceeded"), (409, true));
        assert_eq!(info(Service::Iam, "PasswordPolicyViolation"), (400, true));
        assert_eq!(info(Service::Iam, "ReportExpired"), (410, true));
        assert_eq!(info(Service::Sts, "RegionDisabledException"), (403, true));
        assert_eq!(info(Service::Sts, "ExpiredTokenException"), (400, true));
        assert_eq!(info(Service::Sts, "MalformedPolicyDocument"), (400, true));
        // The code, not the shape name, is the key.
        assert!(error_info(Service::Iam, "NoSuchEntityException").is_none());
        // Error shapes without an `error` object fall back to the shape name.
        assert_eq!(info(Service::Iam, "OrganizationNotFoundException"), (400, true));
        // Unmodeled common errors are the server's business.
        assert!(error_info(Service::Iam, "AccessDenied").is_none());
        assert!(error_info(Service::Sts, "NoSuchEntity").is_none());
    }

    #[test]
    fn operation_error_lists_are_modeled_codes() {
        for service in [Service::Iam, Service::Sts] {
            for op in operations(service) {
                for code in op.errors {
                    assert!(error_info(service, code).is_some(), "{}: {code}", op.name);
                }
            }
        }
        let enable = operation(Service::Iam, "EnableMFADevice").expect("op");
        assert!(enable.errors.contains(&"InvalidAuthenticationCode"));
    }

    /// Visit every shape reachable from the served operations.
    fn walk(shape: &'static Shape, f: &mut dyn FnMut(&'static Shape)) {
        f(shape);
        match &shape.kind {
            ShapeKind::List { member, .. } => walk(member, f),
            ShapeKind::Map { key, value, .. } => {
                walk(key, f);
                walk(value, f);
            }
            ShapeKind::Structure { members } => {
                for m in *members {
                    walk(m.shape, f);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn all_patterns_compile() {
        let mut count = 0;
        for service in [Service::Iam, Service::Sts] {
            for op in operations(service) {
                for m in op.input {
                    walk(m.shape, &mut |shape| {
                        if let ShapeKind::String { pattern: Some(p), .. } = &shape.kind {
                            assert!(Regex::new(p.rust).is_ok(), "{} / {}", p.model, p.rust);
                            count += 1;
                        }
                    });
                }
            }
        }
        assert!(count > 10);
    }

    #[test]
    fn patterns_are_anchored_and_ascii_word() {
        let user = operation(Service::Iam, "CreateUser").and_then(|op| op.member("UserName")).expect("UserName");
        let ShapeKind::String { pattern: Some(p), .. } = &user.shape.kind else {
            panic!("UserName has a pattern");
        };
        assert_eq!(p.model, r"[\w+=,.@-]+");
        assert!(p.is_match("alice_1+=,.@-"));
        assert!(!p.is_match("alice!"), "anchored at the end");
        assert!(!p.is_match("!alice"), "anchored at the start");
        assert!(!p.is_match("jos\u{e9}"), "Java \\w is ASCII-only");
        assert!(!p.is_match("\u{661}"), "Arabic-Indic digit is not \\w in Java");
        assert!(!p.is_match(""));
    }
}
