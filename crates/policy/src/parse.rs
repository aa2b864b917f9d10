//! JSON → [`Policy`]: the grammar of spec §1 and the rejections of §2.2.
//!
//! Which message a broken document earns follows the spec's table: structural breakage and
//! anything unlisted is `Syntax errors in policy.`; a bad `Version` or an element of the wrong
//! JSON type is `The policy failed legacy parsing`; the kind-specific checks (principal,
//! resources, actions) have their own texts. Checks run statement by statement, in the order
//! the elements are listed in §1.1, so a document with several faults reports the first.

use serde_json::{Map, Value as Json};

use crate::arn::ResourcePattern;
use crate::condition::Condition;
use crate::error::PolicyError;
use crate::policy::{
    ActionMatcher, Effect, Policy, PolicyKind, Position, PrincipalId, ResourceMatcher, Span, Statement, Version,
};

const TOP_ELEMENTS: &[&str] = &["Version", "Id", "Statement"];
const STATEMENT_ELEMENTS: &[&str] =
    &["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"];

impl Policy {
    /// Parses, validates and compiles a policy document of the given kind.
    pub fn parse(json: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        let doc: Json = serde_json::from_str(json).map_err(|_| PolicyError::syntax())?;
        let Json::Object(top) = doc else { return Err(PolicyError::syntax()) };
        if top.keys().any(|k| !TOP_ELEMENTS.contains(&k.as_str())) {
            return Err(PolicyError::syntax());
        }
        let version = match top.get("Version") {
            None => Version::Absent,
            Some(Json::String(v)) if v == "2012-10-17" => Version::V2012_10_17,
            Some(Json::String(v)) if v == "2008-10-17" => Version::V2008_10_17,
            Some(_) => return Err(PolicyError::legacy_parsing()),
        };
        if top.get("Id").is_some_and(|id| !id.is_string()) {
            return Err(PolicyError::legacy_parsing());
        }
        let raw: Vec<&Map<String, Json>> = match top.get("Statement") {
            Some(Json::Object(s)) => vec![s],
            Some(Json::Array(items)) if !items.is_empty() => {
                items.iter().map(|s| s.as_object().ok_or_else(PolicyError::syntax)).collect::<Result<_, _>>()?
            }
            _ => return Err(PolicyError::syntax()),
        };
        let spans = statement_spans(json);
        let statements = raw
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let mut st = statement(s, kind, version.has_variables())?;
                st.span = spans.get(i).copied().filter(|_| spans.len() == raw_len(&top));
                Ok(st)
            })
            .collect::<Result<Vec<_>, PolicyError>>()?;
        Ok(Policy { version, kind, statements })
    }

    /// [`parse`](Self::parse) for `CreatePolicy`/`CreatePolicyVersion`: a managed policy must
    /// also say `"Version": "2012-10-17"` (spec §1.3).
    pub fn parse_managed(json: &str) -> Result<Policy, PolicyError> {
        let p = Policy::parse(json, PolicyKind::Identity)?;
        if p.version != Version::V2012_10_17 {
            return Err(PolicyError::version_too_old());
        }
        Ok(p)
    }
}

fn raw_len(top: &Map<String, Json>) -> usize {
    match top.get("Statement") {
        Some(Json::Array(a)) => a.len(),
        _ => 1,
    }
}

/// A string or an array of strings; wrong JSON types are a legacy-parsing failure.
fn strings(v: &Json) -> Result<Vec<String>, PolicyError> {
    match v {
        Json::String(s) => Ok(vec![s.clone()]),
        Json::Array(items) => {
            items.iter().map(|i| i.as_str().map(str::to_string).ok_or_else(PolicyError::legacy_parsing)).collect()
        }
        _ => Err(PolicyError::legacy_parsing()),
    }
}

/// Condition values: strings, numbers and booleans (taken as their text), or arrays of them.
fn condition_values(v: &Json) -> Result<Vec<String>, PolicyError> {
    fn scalar(v: &Json) -> Result<String, PolicyError> {
        match v {
            Json::String(s) => Ok(s.clone()),
            Json::Bool(b) => Ok(b.to_string()),
            Json::Number(n) => Ok(n.to_string()),
            _ => Err(PolicyError::syntax()),
        }
    }
    match v {
        Json::Array(items) => items.iter().map(scalar).collect(),
        v => Ok(vec![scalar(v)?]),
    }
}

/// Exactly one of `a`/`b`; both is a syntax error.
fn one_of<'a>(s: &'a Map<String, Json>, a: &str, b: &str) -> Result<Option<(&'a Json, bool)>, PolicyError> {
    match (s.get(a), s.get(b)) {
        (Some(_), Some(_)) => Err(PolicyError::syntax()),
        (Some(v), None) => Ok(Some((v, false))),
        (None, Some(v)) => Ok(Some((v, true))),
        (None, None) => Ok(None),
    }
}

fn statement(s: &Map<String, Json>, kind: PolicyKind, variables: bool) -> Result<Statement, PolicyError> {
    if s.keys().any(|k| !STATEMENT_ELEMENTS.contains(&k.as_str())) {
        return Err(PolicyError::syntax());
    }
    let sid = match s.get("Sid") {
        None => None,
        Some(Json::String(sid)) => Some(sid.clone()),
        Some(_) => return Err(PolicyError::legacy_parsing()),
    };
    let effect = match s.get("Effect") {
        Some(Json::String(e)) if e == "Allow" => Effect::Allow,
        Some(Json::String(e)) if e == "Deny" => Effect::Deny,
        _ => return Err(PolicyError::syntax()),
    };

    let principals = match kind {
        PolicyKind::Identity | PolicyKind::SessionOrBoundary => {
            if s.contains_key("Principal") || s.contains_key("NotPrincipal") {
                return Err(PolicyError::principal_not_allowed());
            }
            Vec::new()
        }
        PolicyKind::Trust => {
            if s.contains_key("NotPrincipal") {
                return Err(PolicyError::prohibited_field("NotPrincipal"));
            }
            for field in ["Resource", "NotResource"] {
                if s.contains_key(field) {
                    return Err(PolicyError::prohibited_field(field));
                }
            }
            let ps = match s.get("Principal") {
                Some(p) => principals(p)?,
                None => Vec::new(),
            };
            if ps.is_empty() {
                return Err(PolicyError::no_principals());
            }
            ps
        }
    };

    let (action_json, not_action) = one_of(s, "Action", "NotAction")?.ok_or_else(PolicyError::missing_actions)?;
    let raw_actions = strings(action_json)?;
    if raw_actions.is_empty() {
        return Err(PolicyError::missing_actions());
    }
    for a in &raw_actions {
        if a != "*" {
            match a.matches(':').count() {
                0 => return Err(PolicyError::syntax()),
                1 => {}
                _ => return Err(PolicyError::too_many_colons()),
            }
        }
    }
    let actions = ActionMatcher::new(not_action, raw_actions);

    let resources = match kind {
        PolicyKind::Trust => None,
        _ => {
            let (json, not) = one_of(s, "Resource", "NotResource")?.ok_or_else(PolicyError::missing_resources)?;
            let raw = strings(json)?;
            if raw.is_empty() {
                return Err(PolicyError::missing_resources());
            }
            if let Some(bad) = raw.iter().find(|r| *r != "*" && !r.starts_with("arn:")) {
                return Err(PolicyError::resource_not_arn(bad));
            }
            Some(ResourceMatcher {
                not,
                patterns: raw.iter().map(|r| ResourcePattern::new(r, variables)).collect(),
                raw,
            })
        }
    };

    let mut conditions = Vec::new();
    match s.get("Condition") {
        None => {}
        Some(Json::Object(block)) => {
            for (op, keys) in block {
                let Json::Object(keys) = keys else { return Err(PolicyError::syntax()) };
                for (key, values) in keys {
                    conditions.push(Condition::compile(op, key, &condition_values(values)?, variables)?);
                }
            }
        }
        Some(_) => return Err(PolicyError::syntax()),
    }

    Ok(Statement { sid, effect, principals, actions, resources, conditions, span: None })
}

/// `"*"` or `{"AWS"|"Service"|"Federated"|"CanonicalUser": string-or-array}`.
fn principals(p: &Json) -> Result<Vec<PrincipalId>, PolicyError> {
    match p {
        Json::String(s) if s == "*" => Ok(vec![PrincipalId::Any]),
        Json::String(s) => Err(PolicyError::invalid_principal("AWS", s)),
        Json::Object(m) => {
            let mut out = Vec::new();
            for (kind, values) in m {
                for v in strings(values)? {
                    out.push(match kind.as_str() {
                        "AWS" => aws_principal(&v)?,
                        "Service" => PrincipalId::Service(v),
                        "Federated" => PrincipalId::Federated(v),
                        "CanonicalUser" => PrincipalId::CanonicalUser(v),
                        _ => return Err(PolicyError::invalid_principal(kind, &v)),
                    });
                }
            }
            Ok(out)
        }
        _ => Err(PolicyError::legacy_parsing()),
    }
}

/// An `"AWS"` principal. Wildcards are allowed only as the whole value (spec §1.6).
fn aws_principal(v: &str) -> Result<PrincipalId, PolicyError> {
    let invalid = || PolicyError::invalid_principal("AWS", v);
    if v == "*" {
        return Ok(PrincipalId::Any);
    }
    if v.contains(['*', '?']) {
        return Err(invalid());
    }
    if v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(PrincipalId::Account(v.to_string()));
    }
    if let Some(f) = crate::arn::split6(v) {
        if f[0] != "arn" || f[4].is_empty() || f[5].is_empty() || !matches!(f[2], "iam" | "sts") {
            return Err(invalid());
        }
        if f[2] == "iam" && f[5] == "root" {
            return Ok(PrincipalId::Account(f[4].to_string()));
        }
        return Ok(PrincipalId::Arn(v.to_string()));
    }
    // Unique IDs: four-letter prefix (AIDA, AROA, …) then upper-case letters and digits.
    if v.len() >= 16 && v.starts_with('A') && v.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        return Ok(PrincipalId::UniqueId(v.to_string()));
    }
    Err(invalid())
}

/// Positions of the statement objects' braces, found by a scan of the raw text (serde_json
/// keeps none). Only the top-level `Statement` member is followed.
fn statement_spans(text: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    let (mut line, mut col) = (1u32, 0u32);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut string_start = 0usize;
    let mut last_key_at_depth1: Option<String> = None;
    // Depth at which statement objects open: 1 for `"Statement": {…}`, 2 for `[ {…} ]`.
    let mut statement_depth: Option<usize> = None;
    let mut open: Option<Position> = None;
    let mut expect_value = false;
    for (i, c) in text.char_indices() {
        if c == '\n' {
            line += 1;
            col = 0;
            continue;
        }
        col += 1;
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
                if depth == 1 && !expect_value {
                    last_key_at_depth1 = Some(text[string_start..i].to_string());
                }
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                string_start = i + 1;
            }
            ':' if depth == 1 => {
                expect_value = true;
                statement_depth = None;
                if last_key_at_depth1.as_deref() == Some("Statement") {
                    spans.clear();
                    statement_depth = Some(usize::MAX); // decided by the next bracket
                }
            }
            ',' if depth == 1 => expect_value = false,
            '{' | '[' => {
                if statement_depth == Some(usize::MAX) && depth == 1 {
                    statement_depth = Some(if c == '{' { 1 } else { 2 });
                }
                if c == '{' && statement_depth == Some(depth) {
                    open = Some(Position { line, column: col });
                }
                depth += 1;
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                if c == '}'
                    && statement_depth == Some(depth)
                    && let Some(start) = open.take()
                {
                    spans.push(Span { start, end: Position { line, column: col } });
                }
                if depth == 1 {
                    expect_value = false;
                }
            }
            _ => {}
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_follow_the_statement_member() {
        let text = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Effect\": \"Allow\", \"Action\": \"*\", \"Resource\": \"*\"},\n    {\n      \"Effect\": \"Deny\", \"Action\": \"iam:*\", \"Resource\": \"*\"\n    }\n  ]\n}";
        let p = Policy::parse(text, PolicyKind::Identity).unwrap();
        let s: Vec<_> = p.statements().iter().map(|s| s.span().unwrap()).collect();
        assert_eq!(s[0].start, Position { line: 4, column: 5 });
        assert_eq!(s[0].end, Position { line: 4, column: 55 });
        assert_eq!(s[1].start, Position { line: 5, column: 5 });
        assert_eq!(s[1].end, Position { line: 7, column: 5 });
        let single = r#"{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}"#;
        let p = Policy::parse(single, PolicyKind::Identity).unwrap();
        let sp = p.statements()[0].span().unwrap();
        assert_eq!((sp.start.column, sp.end.column), (15, 65));
    }
}
