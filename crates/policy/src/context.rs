//! The request context: condition keys and their typed values, and the caller they describe.
//!
//! This module only holds values; the server decides what goes in (spec §4.2: presence is
//! meaningful — `aws:MultiFactorAuthPresent` absent is not `false`). Key names are
//! case-insensitive (`aws:SourceIp` = `AWS:sourceip`, tag keys included), so they are folded to
//! lower case once on insert and looked up by their folded form.

use std::borrow::Cow;
use std::net::IpAddr;

use data_encoding::BASE64;
use time::OffsetDateTime;
use time::format_description::well_known::{Iso8601, Rfc3339};

/// One typed value (the simulator's `ContextKeyType` without the `List` suffix).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Number(f64),
    Bool(bool),
    Date(OffsetDateTime),
    Ip(IpAddr),
    Binary(Vec<u8>),
}

/// A key's value: single-valued keys (`aws:username`) or multivalued ones (`aws:TagKeys`).
#[derive(Debug, Clone, PartialEq)]
pub enum ContextValue {
    Single(Value),
    List(Vec<Value>),
}

impl ContextValue {
    /// The request values as a slice (one for single-valued keys).
    pub fn values(&self) -> &[Value] {
        match self {
            ContextValue::Single(v) => std::slice::from_ref(v),
            ContextValue::List(vs) => vs,
        }
    }

    /// Builds a value from the simulator's wire form: `ContextKeyType` (`string`, `stringList`,
    /// `numeric`, `numericList`, `boolean`, `booleanList`, `ip`, `ipList`, `binary`,
    /// `binaryList`, `date`, `dateList`) and string values. `Err` carries the offending value.
    pub fn from_typed(context_key_type: &str, values: &[String]) -> Result<ContextValue, String> {
        let (base, list) = match context_key_type.strip_suffix("List") {
            Some(b) => (b, true),
            None => (context_key_type, false),
        };
        let one = |s: &String| -> Result<Value, String> {
            let v = match base {
                "string" => Some(Value::String(s.clone())),
                "numeric" => parse_number(s).map(Value::Number),
                "boolean" => parse_bool(s).map(Value::Bool),
                "date" => parse_date(s).map(Value::Date),
                "ip" => s.parse().ok().map(Value::Ip),
                "binary" => BASE64.decode(s.as_bytes()).ok().map(Value::Binary),
                _ => return Err(context_key_type.to_string()),
            };
            v.ok_or_else(|| s.clone())
        };
        let vals = values.iter().map(one).collect::<Result<Vec<_>, _>>()?;
        match (list, <[Value; 1]>::try_from(vals)) {
            (false, Ok([v])) => Ok(ContextValue::Single(v)),
            (false, Err(vals)) => Err(format!("{} values for a single-valued key", vals.len())),
            (true, Ok([v])) => Ok(ContextValue::List(vec![v])),
            (true, Err(vals)) => Ok(ContextValue::List(vals)),
        }
    }
}

impl From<Value> for ContextValue {
    fn from(v: Value) -> Self {
        ContextValue::Single(v)
    }
}
impl From<&str> for ContextValue {
    fn from(s: &str) -> Self {
        ContextValue::Single(Value::String(s.to_string()))
    }
}
impl From<String> for ContextValue {
    fn from(s: String) -> Self {
        ContextValue::Single(Value::String(s))
    }
}
impl From<bool> for ContextValue {
    fn from(b: bool) -> Self {
        ContextValue::Single(Value::Bool(b))
    }
}
impl From<f64> for ContextValue {
    fn from(n: f64) -> Self {
        ContextValue::Single(Value::Number(n))
    }
}
impl From<i64> for ContextValue {
    fn from(n: i64) -> Self {
        ContextValue::Single(Value::Number(n as f64))
    }
}
impl From<OffsetDateTime> for ContextValue {
    fn from(t: OffsetDateTime) -> Self {
        ContextValue::Single(Value::Date(t))
    }
}
impl From<IpAddr> for ContextValue {
    fn from(ip: IpAddr) -> Self {
        ContextValue::Single(Value::Ip(ip))
    }
}
impl From<Vec<String>> for ContextValue {
    fn from(v: Vec<String>) -> Self {
        ContextValue::List(v.into_iter().map(Value::String).collect())
    }
}

impl Value {
    /// The text a string operator (or a policy variable) sees.
    pub fn as_text(&self) -> Cow<'_, str> {
        match self {
            Value::String(s) => Cow::Borrowed(s),
            Value::Number(n) => Cow::Owned(format_number(*n)),
            Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Value::Date(t) => Cow::Owned(t.format(&Rfc3339).unwrap_or_default()),
            Value::Ip(ip) => Cow::Owned(ip.to_string()),
            Value::Binary(b) => Cow::Owned(BASE64.encode(b)),
        }
    }

    pub(crate) fn as_number(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            Value::String(s) => parse_number(s),
            // `aws:EpochTime` is usable with numeric and date operators alike.
            Value::Date(t) => Some(t.unix_timestamp() as f64),
            _ => None,
        }
    }

    pub(crate) fn as_date(&self) -> Option<OffsetDateTime> {
        match self {
            Value::Date(t) => Some(*t),
            Value::Number(n) => epoch(*n),
            Value::String(s) => parse_date(s),
            _ => None,
        }
    }

    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::String(s) => parse_bool(s),
            _ => None,
        }
    }

    pub(crate) fn as_ip(&self) -> Option<IpAddr> {
        match self {
            Value::Ip(ip) => Some(*ip),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    pub(crate) fn as_binary(&self) -> Option<Cow<'_, [u8]>> {
        match self {
            Value::Binary(b) => Some(Cow::Borrowed(b)),
            Value::String(s) => BASE64.decode(s.as_bytes()).ok().map(Cow::Owned),
            _ => None,
        }
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { format!("{n}") }
}

/// Integer or decimal; no `inf`/`NaN` spellings (Rust's parser would take them).
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E')) {
        return None;
    }
    s.parse().ok()
}

/// `true`/`false` in any case (spec §4.1, Bool).
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn epoch(n: f64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(n.trunc() as i64).ok()
}

/// W3C ISO 8601 (`2020-01-01`, `2020-01-01T00:00:01Z`, fractions, offsets; a time without an
/// offset is taken as UTC) or epoch seconds (spec §4.1, Date operators).
pub(crate) fn parse_date(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'-' || b == b'.') && !s.contains("-0") && !s.is_empty() {
        // Epoch seconds (dates always contain "-0"/"-1"… so test the digits-only shape first).
        if let Some(n) = parse_number(s) {
            return epoch(n);
        }
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Iso8601::DEFAULT) {
        return Some(t);
    }
    if s.len() == 10 {
        let d = time::Date::parse(s, &Iso8601::DEFAULT).ok()?;
        return Some(d.midnight().assume_utc());
    }
    let with_z = format!("{s}Z");
    OffsetDateTime::parse(&with_z, &Rfc3339).or_else(|_| OffsetDateTime::parse(&with_z, &Iso8601::DEFAULT)).ok()
}

/// Condition keys of one request. Cloning is cheap enough for the simulator's per-action loop;
/// the server builds one per request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestContext {
    /// Sorted by folded key, so lookup is a binary search with no hashing.
    entries: Vec<(Box<str>, ContextValue)>,
}

impl RequestContext {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` (any case), replacing an earlier value.
    pub fn insert(&mut self, key: &str, value: impl Into<ContextValue>) {
        let folded = key.to_lowercase();
        let value = value.into();
        match self.entries.binary_search_by(|(k, _)| (**k).cmp(folded.as_str())) {
            Ok(i) => self.entries[i].1 = value,
            Err(i) => self.entries.insert(i, (folded.into_boxed_str(), value)),
        }
    }

    /// Builder form of [`insert`](Self::insert).
    pub fn with(mut self, key: &str, value: impl Into<ContextValue>) -> Self {
        self.insert(key, value);
        self
    }

    pub fn remove(&mut self, key: &str) -> Option<ContextValue> {
        let folded = key.to_lowercase();
        let i = self.entries.binary_search_by(|(k, _)| (**k).cmp(folded.as_str())).ok()?;
        Some(self.entries.remove(i).1)
    }

    /// Case-insensitive lookup.
    pub fn get(&self, key: &str) -> Option<&ContextValue> {
        if key.bytes().any(|b| b.is_ascii_uppercase()) || !key.is_ascii() {
            self.get_folded(&key.to_lowercase())
        } else {
            self.get_folded(key)
        }
    }

    /// Lookup by an already folded key (the compiled policy stores keys folded).
    pub(crate) fn get_folded(&self, folded: &str) -> Option<&ContextValue> {
        self.entries.binary_search_by(|(k, _)| (**k).cmp(folded)).ok().map(|i| &self.entries[i].1)
    }

    /// The keys present, folded to lower case.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| &**k)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// `aws:PrincipalType` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalType {
    /// The account root user (`Account`).
    Root,
    User,
    AssumedRole,
    FederatedUser,
}

impl PrincipalType {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::Root => "Account",
            PrincipalType::User => "User",
            PrincipalType::AssumedRole => "AssumedRole",
            PrincipalType::FederatedUser => "FederatedUser",
        }
    }
}

/// Who is calling: what trust-policy `Principal` matching needs, and the source of the
/// principal condition keys (and so of `${aws:username}`-style variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub principal_type: PrincipalType,
    /// Account ID.
    pub account: String,
    /// The caller's own ARN as GetCallerIdentity shows it: user ARN with path, root ARN, or the
    /// `arn:aws:sts::…:assumed-role/{role}/{session}` session ARN.
    pub arn: String,
    /// `aws:PrincipalArn`: the user or root ARN, and for role sessions the **role** ARN.
    pub principal_arn: String,
    /// `aws:userid`: `AIDA…` for users, `{role-id}:{session}` for sessions, the account ID for root.
    pub user_id: String,
    /// `aws:username`: IAM users only.
    pub username: Option<String>,
    /// `aws:PrincipalTag/*` (session tags already merged over role tags by the caller).
    pub tags: Vec<(String, String)>,
}

impl Caller {
    /// The unique ID (`AIDA…`/`AROA…`) a trust policy may name once the named entity is
    /// deleted (spec §1.6): the user ID, or the role ID part of a session's user ID.
    pub fn unique_id(&self) -> &str {
        match self.principal_type {
            PrincipalType::AssumedRole => self.user_id.split(':').next().unwrap_or(""),
            _ => &self.user_id,
        }
    }

    /// Sets the principal keys of spec §4.2: `aws:username` (users only), `aws:userid`,
    /// `aws:PrincipalType`, `aws:PrincipalArn`, `aws:PrincipalAccount`, `aws:PrincipalTag/*`.
    pub fn fill_context(&self, ctx: &mut RequestContext) {
        if let Some(name) = &self.username {
            ctx.insert("aws:username", name.as_str());
        }
        ctx.insert("aws:userid", self.user_id.as_str());
        ctx.insert("aws:PrincipalType", self.principal_type.as_str());
        ctx.insert("aws:PrincipalArn", self.principal_arn.as_str());
        ctx.insert("aws:PrincipalAccount", self.account.as_str());
        for (k, v) in &self.tags {
            ctx.insert(&format!("aws:PrincipalTag/{k}"), v.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive() {
        let ctx = RequestContext::new().with("aws:SourceIp", "10.0.0.1").with("AWS:SOURCEIP", "10.0.0.2");
        assert_eq!(ctx.len(), 1);
        assert_eq!(ctx.get("aws:sourceip"), Some(&ContextValue::from("10.0.0.2")));
    }

    #[test]
    fn dates() {
        let t = |s| parse_date(s).map(|t| t.unix_timestamp());
        assert_eq!(t("2020-01-01"), Some(1_577_836_800));
        assert_eq!(t("2020-01-01T00:00:01Z"), Some(1_577_836_801));
        assert_eq!(t("2020-01-01T00:00:01.500Z"), Some(1_577_836_801));
        assert_eq!(t("2020-01-01T01:00:01+01:00"), Some(1_577_836_801));
        assert_eq!(t("2020-01-01T00:00:01"), Some(1_577_836_801));
        assert_eq!(t("1577836801"), Some(1_577_836_801));
        assert_eq!(t("yesterday"), None);
    }

    #[test]
    fn typed_entries() {
        let v = ContextValue::from_typed("booleanList", &["true".into(), "FALSE".into()]).unwrap();
        assert_eq!(v, ContextValue::List(vec![Value::Bool(true), Value::Bool(false)]));
        assert!(ContextValue::from_typed("numeric", &["x".into()]).is_err());
        assert!(ContextValue::from_typed("string", &["a".into(), "b".into()]).is_err());
    }
}
