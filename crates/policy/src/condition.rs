//! Condition operators (spec §4.1), compiled once per policy.
//!
//! The rules, in the order [`Condition::eval`] applies them:
//! - `Null` tests presence only: `"true"` ⇔ the key is absent.
//! - Plain operators: key absent (or an empty list) → `false`, except negated operators and
//!   `…IfExists` forms → `true`. Present → the base operator, where several policy values are
//!   OR-ed for positive operators and a negated operator is the negation of that OR (the request
//!   value must differ from **all** policy values). A multivalued key under a plain operator
//!   matches if any of its values does.
//! - `ForAllValues:` → `true` when the key is absent or empty; otherwise every request value
//!   must satisfy the (possibly negated) base operator against the policy values.
//! - `ForAnyValue:` → `false` when absent (`true` with `IfExists`) or empty; otherwise at least
//!   one request value must satisfy it.
//!
//! Policy values that cannot be read as the operator's type (a `NumericEquals` value `"abc"`)
//! never match, as AWS does (spec §4.1 notes); they are not a validation error.

use std::borrow::Cow;
use std::net::IpAddr;

use data_encoding::BASE64;
use time::OffsetDateTime;

use crate::arn::{ArnGlob, split6};
use crate::context::{ContextValue, RequestContext, Value, parse_bool, parse_date, parse_number};
use crate::error::PolicyError;
use crate::glob::Glob;
use crate::template::Template;

/// `ForAllValues:` / `ForAnyValue:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    ForAllValues,
    ForAnyValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn test<T: PartialOrd>(self, request: T, policy: T) -> bool {
        match self {
            Cmp::Eq => request == policy,
            Cmp::Lt => request < policy,
            Cmp::Le => request <= policy,
            Cmp::Gt => request > policy,
            Cmp::Ge => request >= policy,
        }
    }
}

/// A policy string that may hold variables; static ones are prepared at compile time.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Str<T> {
    Static(T),
    Dynamic(Template),
}

#[derive(Debug, Clone, PartialEq)]
enum Values {
    Exact(Vec<Str<String>>),
    /// Static values stored lower-cased.
    IgnoreCase(Vec<Str<String>>),
    Like(Vec<Str<Glob>>),
    Numeric(Cmp, Vec<Option<f64>>),
    Date(Cmp, Vec<Option<OffsetDateTime>>),
    Bool(Vec<Str<Option<bool>>>),
    Binary(Vec<Option<Vec<u8>>>),
    Ip(Vec<Option<(IpAddr, u8)>>),
    Arn(Vec<Str<Option<ArnGlob>>>),
    Null(Vec<Option<bool>>),
}

/// One `"Operator": {"key": values}` pair of a statement's `Condition` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    operator: String,
    key: String,
    folded_key: String,
    set: Option<SetQualifier>,
    if_exists: bool,
    negated: bool,
    values: Values,
}

impl Condition {
    /// The operator as written (`ForAnyValue:StringLikeIfExists`).
    pub fn operator(&self) -> &str {
        &self.operator
    }

    /// The condition key as written.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Context keys named by policy variables in the values.
    pub(crate) fn variable_keys(&self) -> Vec<&str> {
        fn from<T>(v: &[Str<T>]) -> Vec<&str> {
            v.iter()
                .filter_map(|s| match s {
                    Str::Dynamic(t) => Some(t.variable_keys()),
                    Str::Static(_) => None,
                })
                .flatten()
                .collect()
        }
        match &self.values {
            Values::Exact(v) | Values::IgnoreCase(v) => from(v),
            Values::Like(v) => from(v),
            Values::Bool(v) => from(v),
            Values::Arn(v) => from(v),
            _ => Vec::new(),
        }
    }

    /// Compiles one operator/key pair. `values` are the JSON scalars already in string form.
    pub(crate) fn compile(
        operator: &str,
        key: &str,
        values: &[String],
        variables: bool,
    ) -> Result<Condition, PolicyError> {
        let (set, rest) = if let Some(r) = operator.strip_prefix("ForAllValues:") {
            (Some(SetQualifier::ForAllValues), r)
        } else if let Some(r) = operator.strip_prefix("ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), r)
        } else {
            (None, operator)
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (rest, false),
        };
        // Only the part before a tag-key slash counts: `aws:RequestTag/aws:cloudformation:x` is fine.
        let key_head = key.split('/').next().unwrap_or(key);
        if key_head.matches(':').count() > 1 {
            return Err(PolicyError::too_many_colons());
        }
        if key.is_empty() {
            return Err(PolicyError::syntax());
        }
        let strs = |fold: bool| -> Vec<Str<String>> {
            values
                .iter()
                .map(|v| {
                    let t = Template::parse(v, variables);
                    if t.has_variables() {
                        Str::Dynamic(t)
                    } else if fold {
                        Str::Static(v.to_lowercase())
                    } else {
                        Str::Static(v.clone())
                    }
                })
                .collect()
        };
        let num = |c| Values::Numeric(c, values.iter().map(|v| parse_number(v)).collect());
        let date = |c| Values::Date(c, values.iter().map(|v| parse_date(v)).collect());
        let (negated, compiled) = match base {
            "StringEquals" => (false, Values::Exact(strs(false))),
            "StringNotEquals" => (true, Values::Exact(strs(false))),
            "StringEqualsIgnoreCase" => (false, Values::IgnoreCase(strs(true))),
            "StringNotEqualsIgnoreCase" => (true, Values::IgnoreCase(strs(true))),
            "StringLike" | "StringNotLike" => (
                base == "StringNotLike",
                Values::Like(
                    values
                        .iter()
                        .map(|v| {
                            let t = Template::parse(v, variables);
                            if t.has_variables() { Str::Dynamic(t) } else { Str::Static(Glob::new(v)) }
                        })
                        .collect(),
                ),
            ),
            "NumericEquals" => (false, num(Cmp::Eq)),
            "NumericNotEquals" => (true, num(Cmp::Eq)),
            "NumericLessThan" => (false, num(Cmp::Lt)),
            "NumericLessThanEquals" => (false, num(Cmp::Le)),
            "NumericGreaterThan" => (false, num(Cmp::Gt)),
            "NumericGreaterThanEquals" => (false, num(Cmp::Ge)),
            "DateEquals" => (false, date(Cmp::Eq)),
            "DateNotEquals" => (true, date(Cmp::Eq)),
            "DateLessThan" => (false, date(Cmp::Lt)),
            "DateLessThanEquals" => (false, date(Cmp::Le)),
            "DateGreaterThan" => (false, date(Cmp::Gt)),
            "DateGreaterThanEquals" => (false, date(Cmp::Ge)),
            "Bool" => (
                false,
                Values::Bool(
                    values
                        .iter()
                        .map(|v| {
                            let t = Template::parse(v, variables);
                            if t.has_variables() { Str::Dynamic(t) } else { Str::Static(parse_bool(v)) }
                        })
                        .collect(),
                ),
            ),
            "BinaryEquals" => {
                (false, Values::Binary(values.iter().map(|v| BASE64.decode(v.as_bytes()).ok()).collect()))
            }
            "IpAddress" | "NotIpAddress" => {
                (base == "NotIpAddress", Values::Ip(values.iter().map(|v| parse_cidr(v)).collect()))
            }
            // The two spellings behave identically (spec §4.1).
            "ArnEquals" | "ArnLike" | "ArnNotEquals" | "ArnNotLike" => (
                base.starts_with("ArnNot"),
                Values::Arn(
                    values
                        .iter()
                        .map(|v| {
                            let t = Template::parse(v, variables);
                            if t.has_variables() { Str::Dynamic(t) } else { Str::Static(ArnGlob::new(v)) }
                        })
                        .collect(),
                ),
            ),
            "Null" if !if_exists => (false, Values::Null(values.iter().map(|v| parse_bool(v)).collect())),
            _ => return Err(PolicyError::syntax()),
        };
        Ok(Condition {
            operator: operator.to_string(),
            key: key.to_string(),
            folded_key: key.to_lowercase(),
            set,
            if_exists,
            negated,
            values: compiled,
        })
    }

    /// Whether this condition holds for the request.
    pub(crate) fn eval(&self, ctx: &RequestContext) -> bool {
        let found = ctx.get_folded(&self.folded_key);
        if let Values::Null(vals) = &self.values {
            let absent = found.is_none();
            return vals.contains(&Some(absent));
        }
        let request: &[Value] = found.map(ContextValue::values).unwrap_or(&[]);
        match self.set {
            None if request.is_empty() => self.if_exists || self.negated,
            None => request.iter().any(|v| self.positive(v, ctx)) != self.negated,
            Some(SetQualifier::ForAllValues) => request.iter().all(|v| self.positive(v, ctx) != self.negated),
            Some(SetQualifier::ForAnyValue) if found.is_none() => self.if_exists,
            Some(SetQualifier::ForAnyValue) => request.iter().any(|v| self.positive(v, ctx) != self.negated),
        }
    }

    /// Whether one request value matches any policy value under the positive base operator.
    fn positive(&self, v: &Value, ctx: &RequestContext) -> bool {
        match &self.values {
            Values::Exact(ps) => {
                let text = v.as_text();
                ps.iter().any(|p| match p {
                    Str::Static(s) => *s == *text,
                    Str::Dynamic(t) => t.resolve(ctx).is_some_and(|s| s == text),
                })
            }
            Values::IgnoreCase(ps) => {
                let text = v.as_text();
                let folded: Cow<'_, str> = if text.is_ascii() {
                    Cow::Owned(text.to_ascii_lowercase())
                } else {
                    Cow::Owned(text.to_lowercase())
                };
                ps.iter().any(|p| match p {
                    Str::Static(s) => *s == *folded,
                    Str::Dynamic(t) => t.resolve(ctx).is_some_and(|s| s.to_lowercase() == *folded),
                })
            }
            Values::Like(ps) => {
                let text = v.as_text();
                ps.iter().any(|p| match p {
                    Str::Static(g) => g.matches(&text),
                    Str::Dynamic(t) => t.to_glob(ctx).is_some_and(|g| g.matches(&text)),
                })
            }
            Values::Numeric(cmp, ps) => {
                v.as_number().is_some_and(|n| ps.iter().any(|p| p.is_some_and(|p| cmp.test(n, p))))
            }
            Values::Date(cmp, ps) => v.as_date().is_some_and(|d| ps.iter().any(|p| p.is_some_and(|p| cmp.test(d, p)))),
            Values::Bool(ps) => v.as_bool().is_some_and(|b| {
                ps.iter().any(|p| match p {
                    Str::Static(p) => *p == Some(b),
                    Str::Dynamic(t) => t.resolve(ctx).and_then(|s| parse_bool(&s)) == Some(b),
                })
            }),
            Values::Binary(ps) => v.as_binary().is_some_and(|b| ps.iter().any(|p| p.as_deref() == Some(&*b))),
            Values::Ip(ps) => v.as_ip().is_some_and(|ip| ps.iter().any(|p| p.is_some_and(|c| cidr_contains(c, ip)))),
            Values::Arn(ps) => {
                let text = v.as_text();
                let Some(fields) = split6(&text) else { return false };
                ps.iter().any(|p| match p {
                    Str::Static(g) => g.as_ref().is_some_and(|g| g.matches(&fields)),
                    Str::Dynamic(t) => {
                        t.to_tokens(ctx).and_then(ArnGlob::from_tokens).is_some_and(|g| g.matches(&fields))
                    }
                })
            }
            Values::Null(_) => false,
        }
    }
}

/// `10.0.0.0/8`, `2001:db8::/32`, or a bare address (`/32` or `/128`).
fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let s = s.trim();
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a.parse::<IpAddr>().ok()?, Some(l.parse::<u8>().ok()?)),
        None => (s.parse::<IpAddr>().ok()?, None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((addr, len))
}

fn cidr_contains((net, len): (IpAddr, u8), ip: IpAddr) -> bool {
    // An IPv4 client seen through a dual-stack socket arrives as ::ffff:a.b.c.d.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let c = parse_cidr("203.0.113.0/24").unwrap();
        assert!(cidr_contains(c, "203.0.113.7".parse().unwrap()));
        assert!(cidr_contains(c, "::ffff:203.0.113.7".parse().unwrap()));
        assert!(!cidr_contains(c, "203.0.114.7".parse().unwrap()));
        assert!(cidr_contains(parse_cidr("0.0.0.0/0").unwrap(), "1.2.3.4".parse().unwrap()));
        let c = parse_cidr("2001:db8::/32").unwrap();
        assert!(cidr_contains(c, "2001:db8::1".parse().unwrap()));
        assert!(!cidr_contains(c, "10.0.0.1".parse().unwrap()));
        assert_eq!(parse_cidr("10.0.0.1"), Some(("10.0.0.1".parse().unwrap(), 32)));
        assert_eq!(parse_cidr("10.0.0.1/33"), None);
    }

    #[test]
    fn operator_names() {
        let ok = |op: &str| Condition::compile(op, "aws:x", &["1".into()], true).is_ok();
        assert!(ok("ForAnyValue:StringLikeIfExists"));
        assert!(ok("ArnNotLike"));
        assert!(!ok("stringequals"));
        assert!(!ok("NullIfExists"));
        assert!(!ok("ForSomeValues:StringLike"));
        assert_eq!(
            Condition::compile("StringEquals", "aws:a:b", &[], true).unwrap_err(),
            PolicyError::too_many_colons()
        );
    }
}
