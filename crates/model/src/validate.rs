//! Validation of decoded awsQuery parameters against an operation's input
//! shape, with AWS's Coral-style messages:
//!
//! ```text
//! 1 validation error detected: Value 'x!' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+
//! 2 validation errors detected: Value null at 'userName' failed to satisfy constraint: Member must not be null; Value at 'path' failed ...
//! ```
//!
//! Rules (AWS-recorded unless noted):
//! * The path is the lower-camel member name; elements of structure lists are
//!   `tags.{N}.member.{field}` with N the wire index (from 1).
//! * The value is quoted with single quotes, `null` when a required member is
//!   missing, and left out for sensitive members and for max-length
//!   violations.
//! * Errors are listed in model member order (list elements by index), each
//!   violated constraint of a member as its own error.
//! * Elements of *scalar* lists (e.g. `TagKeys.member.N`) are reported once,
//!   on the list: `Value '[a, b]' at 'tagKeys' failed to satisfy constraint:
//!   Member must satisfy constraint: [...]` — Coral's wording for list member
//!   constraints as seen in other awsQuery services; the bracketed list holds
//!   each violated constraint once (iamd's reading).
//! * Wrong types (non-numeric integers, booleans other than `true`/`false`,
//!   malformed timestamps) and map constraints: AWS's wording is not
//!   recorded; iamd uses the same layout with `Member must be a number`,
//!   `Member must be a boolean`, `Member must be a timestamp`, and Coral's
//!   `Map keys/values must satisfy constraint: [...]` for maps.
//!
//! Parameters that are not members of the input (`Action`, `Version`,
//! pre-signing parameters, unknown names) are ignored, as are list entries
//! whose index is not a positive number. When a name repeats, the first value
//! counts.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use crate::{Member, Operation, Shape, ShapeKind, lower_camel};

/// A failed validation. The code is always `ValidationError`, HTTP 400,
/// fault `Sender`; `message` is the full Coral-style text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub message: String,
}

impl ValidationError {
    pub const CODE: &'static str = "ValidationError";
    pub const HTTP_STATUS: u16 = 400;
    pub const SENDER_FAULT: bool = true;
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ValidationError {}

/// Check the decoded query parameters (`Name`, `Tags.member.1.Key`,
/// `TagKeys.member.2`, ...) against the operation's input model.
pub fn validate(op: &Operation, params: &[(String, String)]) -> Result<(), ValidationError> {
    let tree = Node::build(params);
    let mut errors = Vec::new();
    check_members(op.input, Some(&tree), None, &mut errors);
    if errors.is_empty() {
        return Ok(());
    }
    let plural = if errors.len() == 1 { "" } else { "s" };
    Err(ValidationError {
        message: format!("{} validation error{plural} detected: {}", errors.len(), errors.join("; ")),
    })
}

/// The parameters as a tree split on `.`: `Tags.member.1.Key=k` becomes
/// Tags → member → 1 → Key with value `k`.
#[derive(Default)]
struct Node<'a> {
    value: Option<&'a str>,
    children: BTreeMap<&'a str, Node<'a>>,
}

impl<'a> Node<'a> {
    fn build(params: &'a [(String, String)]) -> Self {
        let mut root = Node::default();
        for (name, value) in params {
            let mut node = &mut root;
            for segment in name.split('.') {
                node = node.children.entry(segment).or_default();
            }
            // First value wins for repeated names.
            node.value.get_or_insert(value.as_str());
        }
        root
    }

    fn child(&self, name: &str) -> Option<&Node<'a>> {
        self.children.get(name)
    }

    /// `Name.{collection}.N...` children with a positive index, by index.
    fn indexed(&self, collection: &str) -> BTreeMap<u32, &Node<'a>> {
        self.child(collection)
            .map(|c| {
                c.children
                    .iter()
                    .filter_map(|(index, node)| match index.parse::<u32>() {
                        Ok(n) if n >= 1 && index.bytes().all(|b| b.is_ascii_digit()) => Some((n, node)),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Whether the node carries a value of this shape at all (absent otherwise).
fn is_present(shape: &Shape, node: &Node) -> bool {
    match shape.kind {
        // `Tags=` (empty value) is how awsQuery sends an empty list.
        ShapeKind::List { .. } => node.value.is_some() || !node.indexed("member").is_empty(),
        ShapeKind::Map { .. } => node.value.is_some() || !node.indexed("entry").is_empty(),
        ShapeKind::Structure { .. } => true,
        _ => node.value.is_some(),
    }
}

fn join_path(prefix: Option<&str>, name: &str) -> String {
    match prefix {
        Some(p) => format!("{p}.{}", lower_camel(name)),
        None => lower_camel(name),
    }
}

fn check_members(members: &[Member], node: Option<&Node>, prefix: Option<&str>, errors: &mut Vec<String>) {
    for member in members {
        let path = join_path(prefix, member.name);
        match node.and_then(|n| n.child(member.name)) {
            Some(child) if is_present(member.shape, child) => check_value(member.shape, child, &path, errors),
            _ if member.required => errors.push(null_error(&path)),
            _ => {}
        }
    }
}

fn null_error(path: &str) -> String {
    format!("Value null at '{path}' failed to satisfy constraint: Member must not be null")
}

/// One violated constraint of one value.
struct Violation {
    constraint: String,
    /// AWS leaves the value out of max-length errors.
    omit_value: bool,
}

impl Violation {
    fn new(constraint: String) -> Self {
        Violation { constraint, omit_value: false }
    }
}

fn message(value: Option<&str>, path: &str, constraint: &str) -> String {
    match value {
        Some(v) => format!("Value '{v}' at '{path}' failed to satisfy constraint: {constraint}"),
        None => format!("Value at '{path}' failed to satisfy constraint: {constraint}"),
    }
}

fn push_violations(shape: &Shape, shown: &str, path: &str, violations: Vec<Violation>, errors: &mut Vec<String>) {
    for v in violations {
        let value = (!shape.sensitive && !v.omit_value).then_some(shown);
        errors.push(message(value, path, &v.constraint));
    }
}

fn check_value(shape: &Shape, node: &Node, path: &str, errors: &mut Vec<String>) {
    match &shape.kind {
        ShapeKind::Structure { members } => check_members(members, Some(node), Some(path), errors),
        ShapeKind::List { member, min, max } => check_list(shape, member, *min, *max, node, path, errors),
        ShapeKind::Map { key, value, min, max } => check_map(shape, key, value, *min, *max, node, path, errors),
        _ => {
            let raw = node.value.unwrap_or_default();
            let (shown, violations) = scalar_violations(shape, raw);
            push_violations(shape, &shown, path, violations, errors);
        }
    }
}

fn length_violations(len: usize, min: Option<u64>, max: Option<u64>) -> Vec<Violation> {
    let len = len as u64;
    let mut out = Vec::new();
    if let Some(min) = min.filter(|&m| len < m) {
        out.push(Violation::new(format!("Member must have length greater than or equal to {min}")));
    }
    if let Some(max) = max.filter(|&m| len > m) {
        out.push(Violation {
            constraint: format!("Member must have length less than or equal to {max}"),
            omit_value: true,
        });
    }
    out
}

/// Violations of a scalar value, and the value as shown in messages (an
/// integer as parsed, e.g. `'600'`; a string as sent).
fn scalar_violations(shape: &Shape, raw: &str) -> (String, Vec<Violation>) {
    match &shape.kind {
        ShapeKind::String { min, max, pattern, enum_values } => {
            // Lengths count characters (Unicode scalar values), not bytes.
            let mut out = length_violations(raw.chars().count(), *min, *max);
            if let Some(p) = pattern.filter(|p| !p.is_match(raw)) {
                out.push(Violation::new(format!("Member must satisfy regular expression pattern: {}", p.model)));
            }
            if !enum_values.is_empty() && !enum_values.contains(&raw) {
                out.push(Violation::new(format!("Member must satisfy enum value set: [{}]", enum_values.join(", "))));
            }
            (raw.to_owned(), out)
        }
        ShapeKind::Integer { min, max } => number_violations(raw.parse::<i32>().ok().map(i64::from), raw, *min, *max),
        ShapeKind::Long { min, max } => number_violations(raw.parse::<i64>().ok(), raw, *min, *max),
        ShapeKind::Boolean => {
            // AWS's wording for a malformed boolean is not recorded.
            let out = if raw == "true" || raw == "false" {
                Vec::new()
            } else {
                vec![Violation::new("Member must be a boolean".to_owned())]
            };
            (raw.to_owned(), out)
        }
        ShapeKind::Timestamp => {
            // AWS's wording for a malformed timestamp is not recorded.
            let out = if TIMESTAMP.is_match(raw) {
                Vec::new()
            } else {
                vec![Violation::new("Member must be a timestamp".to_owned())]
            };
            (raw.to_owned(), out)
        }
        // Aggregates are handled by check_value; never reached for them.
        ShapeKind::List { .. } | ShapeKind::Map { .. } | ShapeKind::Structure { .. } => (raw.to_owned(), Vec::new()),
    }
}

/// ISO 8601 (as botocore sends) or epoch seconds.
static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\A(?:[0-9]+(?:\.[0-9]+)?|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:?[0-9]{2}))\z",
    )
    .expect("timestamp regex compiles")
});

fn number_violations(parsed: Option<i64>, raw: &str, min: Option<i64>, max: Option<i64>) -> (String, Vec<Violation>) {
    let Some(n) = parsed else {
        // AWS's wording for a non-numeric (or out-of-range for its type)
        // number is not recorded; this is iamd's.
        return (raw.to_owned(), vec![Violation::new("Member must be a number".to_owned())]);
    };
    let mut out = Vec::new();
    if let Some(min) = min.filter(|&m| n < m) {
        out.push(Violation::new(format!("Member must have value greater than or equal to {min}")));
    }
    if let Some(max) = max.filter(|&m| n > m) {
        out.push(Violation::new(format!("Member must have value less than or equal to {max}")));
    }
    (n.to_string(), out)
}

fn is_scalar(shape: &Shape) -> bool {
    !matches!(shape.kind, ShapeKind::List { .. } | ShapeKind::Map { .. } | ShapeKind::Structure { .. })
}

/// Check every scalar of a collection and fold the violated constraints into
/// one Coral `[c1, c2]` list (each constraint once, in first-seen order).
/// Returns whether any element had its max length exceeded.
fn fold_scalars<'v>(
    shape: &Shape,
    values: impl Iterator<Item = Option<&'v str>>,
    constraints: &mut Vec<String>,
) -> bool {
    let mut too_long = false;
    for value in values {
        let violations = match value {
            Some(raw) => scalar_violations(shape, raw).1,
            None => vec![Violation::new("Member must not be null".to_owned())],
        };
        for v in violations {
            too_long |= v.omit_value;
            if !constraints.contains(&v.constraint) {
                constraints.push(v.constraint);
            }
        }
    }
    too_long
}

fn check_list(
    list: &Shape,
    element: &Shape,
    min: Option<u64>,
    max: Option<u64>,
    node: &Node,
    path: &str,
    errors: &mut Vec<String>,
) {
    let mut elements = node.indexed("member");
    if is_scalar(element) {
        // An element given only as sub-parameters has no value: not an element.
        elements.retain(|_, e| e.value.is_some());
    }
    // How the whole list is shown: Java's `[a, b]` for scalar lists; nothing
    // for lists of structures (their Java rendering is unknowable).
    let shown = (is_scalar(element) && !element.sensitive && !list.sensitive).then(|| {
        let items: Vec<&str> = elements.values().filter_map(|e| e.value).collect();
        format!("[{}]", items.join(", "))
    });

    for v in length_violations(elements.len(), min, max) {
        let value = shown.as_deref().filter(|_| !v.omit_value);
        errors.push(message(value, path, &v.constraint));
    }

    if is_scalar(element) {
        let mut constraints = Vec::new();
        let too_long = fold_scalars(element, elements.values().map(|e| e.value), &mut constraints);
        if !constraints.is_empty() {
            let value = shown.as_deref().filter(|_| !too_long);
            let constraint = format!("Member must satisfy constraint: [{}]", constraints.join(", "));
            errors.push(message(value, path, &constraint));
        }
        return;
    }
    for (index, e) in elements {
        let element_path = format!("{path}.{index}.member");
        check_value(element, e, &element_path, errors);
    }
}

#[allow(clippy::too_many_arguments)] // one per constraint of the map shape
fn check_map(
    map: &Shape,
    key: &Shape,
    value: &Shape,
    min: Option<u64>,
    max: Option<u64>,
    node: &Node,
    path: &str,
    errors: &mut Vec<String>,
) {
    let entries = node.indexed("entry");
    let pairs: Vec<(Option<&str>, Option<&Node>)> =
        entries.values().map(|e| (e.child("key").and_then(|k| k.value), e.child("value"))).collect();
    // Java's `{k=v, ...}` rendering, for scalar keys and values only.
    let shown = (is_scalar(value) && !map.sensitive && !key.sensitive && !value.sensitive).then(|| {
        let items: Vec<String> = pairs
            .iter()
            .map(|(k, v)| {
                let v = v.and_then(|v| v.value).unwrap_or("null");
                format!("{}={v}", k.unwrap_or("null"))
            })
            .collect();
        format!("{{{}}}", items.join(", "))
    });

    for v in length_violations(entries.len(), min, max) {
        let value = shown.as_deref().filter(|_| !v.omit_value);
        errors.push(message(value, path, &v.constraint));
    }

    let mut key_constraints = Vec::new();
    let keys_too_long = fold_scalars(key, pairs.iter().map(|(k, _)| *k), &mut key_constraints);
    if !key_constraints.is_empty() {
        let constraint = format!("Map keys must satisfy constraint: [{}]", key_constraints.join(", "));
        errors.push(message(shown.as_deref().filter(|_| !keys_too_long), path, &constraint));
    }

    if is_scalar(value) {
        let mut constraints = Vec::new();
        let values = pairs.iter().map(|(_, v)| v.and_then(|v| v.value));
        let too_long = fold_scalars(value, values, &mut constraints);
        if !constraints.is_empty() {
            let constraint = format!("Map values must satisfy constraint: [{}]", constraints.join(", "));
            errors.push(message(shown.as_deref().filter(|_| !too_long), path, &constraint));
        }
        return;
    }
    // Structured map values are checked field by field under `path.{key}`.
    for (k, v) in pairs {
        let entry_path = format!("{path}.{}", k.unwrap_or("null"));
        match v {
            Some(v) if is_present(value, v) => check_value(value, v, &entry_path, errors),
            _ => errors.push(null_error(&entry_path)),
        }
    }
}
