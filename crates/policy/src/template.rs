//! Policy variables: `${aws:username}`, `${aws:PrincipalTag/team, 'default'}`, `${*}`…
//!
//! Spec §1.8. A value is split once into parts; at evaluation the variables are looked up in
//! the request context. Substituted text is literal — a `*` in a user name must not become a
//! wildcard — while the policy's own `*`/`?` stay wildcards, so the parts keep the distinction
//! until they become glob tokens. Variables exist only under `"Version": "2012-10-17"`; in
//! older documents the whole text is plain.

use std::borrow::Cow;

use crate::context::{ContextValue, RequestContext};
use crate::glob::{Glob, Tok, push_pattern};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Policy text: `*`/`?` are wildcards where the operator has them.
    Text(String),
    /// From `${*}`, `${?}`, `${$}`: always literal.
    Escaped(char),
    Var {
        /// As written, for GetContextKeysFor*Policy.
        key: String,
        folded: String,
        default: Option<String>,
    },
}

/// A string that may contain policy variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Splits `text`; with `variables == false` (legacy versions, or positions where AWS does
    /// not substitute) the text is kept whole.
    pub(crate) fn parse(text: &str, variables: bool) -> Template {
        if !variables || !text.contains("${") {
            return Template { parts: vec![Part::Text(text.to_string())] };
        }
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            lit.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            match parse_var(after) {
                Some((part, used)) => {
                    if !lit.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut lit)));
                    }
                    parts.push(part);
                    rest = &after[used..];
                }
                None => {
                    // Not a well-formed variable: AWS leaves such text as it is.
                    lit.push_str("${");
                    rest = after;
                }
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() || parts.is_empty() {
            parts.push(Part::Text(lit));
        }
        Template { parts }
    }

    pub(crate) fn has_variables(&self) -> bool {
        self.parts.iter().any(|p| !matches!(p, Part::Text(_)))
    }

    /// The context keys named by variables, as written.
    pub(crate) fn variable_keys(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var { key, .. } => Some(key.as_str()),
            _ => None,
        })
    }

    /// The text with variables substituted; `None` when a variable has no value and no default
    /// (AWS's "effectively null": the value then matches nothing).
    pub(crate) fn resolve<'a>(&'a self, ctx: &RequestContext) -> Option<Cow<'a, str>> {
        if let [Part::Text(t)] = self.parts.as_slice() {
            return Some(Cow::Borrowed(t));
        }
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Escaped(c) => out.push(*c),
                Part::Var { folded, default, .. } => out.push_str(&lookup(ctx, folded, default.as_deref())?),
            }
        }
        Some(Cow::Owned(out))
    }

    /// The text as a wildcard pattern, variables substituted literally.
    pub(crate) fn to_glob(&self, ctx: &RequestContext) -> Option<Glob> {
        self.to_tokens(ctx).map(Glob::from_tokens)
    }

    pub(crate) fn to_tokens(&self, ctx: &RequestContext) -> Option<Vec<Tok>> {
        let mut toks = Vec::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => push_pattern(&mut toks, t),
                Part::Escaped(c) => toks.push(Tok::Lit(c.to_string())),
                Part::Var { folded, default, .. } => {
                    toks.push(Tok::Lit(lookup(ctx, folded, default.as_deref())?.into_owned()))
                }
            }
        }
        Some(toks)
    }
}

/// A variable's value: single-valued keys only (multivalued keys cannot be variables, §1.8).
fn lookup<'c>(ctx: &'c RequestContext, folded: &str, default: Option<&'c str>) -> Option<Cow<'c, str>> {
    match ctx.get_folded(folded) {
        Some(ContextValue::Single(v)) => Some(v.as_text()),
        _ => default.map(Cow::Borrowed),
    }
}

/// Parses what follows `${` up to and including `}`; returns the part and the bytes used.
fn parse_var(s: &str) -> Option<(Part, usize)> {
    let close = s.find('}')?;
    let inner = &s[..close];
    let special = match inner {
        "*" => Some('*'),
        "?" => Some('?'),
        "$" => Some('$'),
        _ => None,
    };
    if let Some(c) = special {
        return Some((Part::Escaped(c), close + 1));
    }
    let (key, default, used) = match inner.find(',') {
        None => (inner.trim(), None, close + 1),
        Some(comma) => {
            // `${key, 'default'}`: the default is single-quoted and may itself contain `}`.
            let after = s[comma + 1..].trim_start();
            let after_q = after.strip_prefix('\'')?;
            let q = after_q.find('\'')?;
            let default = &after_q[..q];
            let tail = &after_q[q + 1..];
            let tail_trim = tail.trim_start();
            if !tail_trim.starts_with('}') {
                return None;
            }
            let used = s.len() - tail_trim.len() + 1;
            (inner[..comma].trim(), Some(default.to_string()), used)
        }
    };
    if key.is_empty() || key.contains(|c: char| c.is_whitespace() || c == '$' || c == '{') {
        return None;
    }
    Some((Part::Var { key: key.to_string(), folded: key.to_lowercase(), default }, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution() {
        let ctx = RequestContext::new().with("aws:username", "al*ce").with("aws:PrincipalTag/team", "eng");
        let t = Template::parse("user/${aws:username}", true);
        assert_eq!(t.resolve(&ctx).as_deref(), Some("user/al*ce"));
        let g = t.to_glob(&ctx).unwrap();
        assert!(g.matches("user/al*ce"));
        assert!(!g.matches("user/alxxce"), "substituted wildcards are literal");
        let t = Template::parse("${AWS:PRINCIPALTAG/TEAM}-${aws:PrincipalTag/missing, 'company-wide'}", true);
        assert_eq!(t.resolve(&ctx).as_deref(), Some("eng-company-wide"));
        assert_eq!(Template::parse("${aws:nope}", true).resolve(&ctx), None);
        assert_eq!(Template::parse("${aws:username}", false).resolve(&ctx).as_deref(), Some("${aws:username}"));
    }

    #[test]
    fn escapes_are_literal() {
        let ctx = RequestContext::new();
        let g = Template::parse("a${*}b*", true).to_glob(&ctx).unwrap();
        assert!(g.matches("a*bzzz"));
        assert!(!g.matches("axbzzz"));
        assert_eq!(Template::parse("${?}${$}", true).resolve(&ctx).as_deref(), Some("?$"));
        assert_eq!(Template::parse("${unterminated", true).resolve(&ctx).as_deref(), Some("${unterminated"));
    }
}
