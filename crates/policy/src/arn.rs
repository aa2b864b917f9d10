//! ARN patterns: the six colon-separated fields matched one by one.
//!
//! `arn:partition:service:region:account:resource` — the resource field keeps any further
//! colons. A `*` in one field never spans into the next (`ArnLike` semantics, spec §4.1); a
//! value with fewer than six fields never matches an ARN operator. The `Resource` element uses
//! the same field-wise matching; a `Resource` pattern with fewer than six fields (`arn:aws:*`)
//! is matched as a whole string instead, `*` spanning colons — see [`ResourcePattern`].

use crate::context::RequestContext;
use crate::glob::{Glob, Tok};
use crate::template::Template;

/// Splits at the first five colons; `None` for fewer than six fields.
pub(crate) fn split6(s: &str) -> Option<[&str; 6]> {
    let mut out = [""; 6];
    let mut rest = s;
    for slot in out.iter_mut().take(5) {
        let i = rest.find(':')?;
        *slot = &rest[..i];
        rest = &rest[i + 1..];
    }
    out[5] = rest;
    Some(out)
}

/// An ARN pattern compiled field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArnGlob {
    fields: Box<[Glob; 6]>,
}

impl ArnGlob {
    /// From tokens (a resolved template); literal colons separate fields.
    pub(crate) fn from_tokens(toks: Vec<Tok>) -> Option<ArnGlob> {
        let mut fields: Vec<Vec<Tok>> = vec![Vec::new()];
        for t in toks {
            match t {
                Tok::Lit(s) if fields.len() < 6 && s.contains(':') => {
                    let mut pieces = s.split(':');
                    if let Some(first) = pieces.next() {
                        fields.last_mut()?.push(Tok::Lit(first.to_string()));
                    }
                    for piece in pieces {
                        if fields.len() < 6 {
                            fields.push(vec![Tok::Lit(piece.to_string())]);
                        } else {
                            // Sixth field keeps its colons.
                            let last = fields.last_mut()?;
                            last.push(Tok::Lit(format!(":{piece}")));
                        }
                    }
                }
                t => fields.last_mut()?.push(t),
            }
        }
        let fields: [Vec<Tok>; 6] = fields.try_into().ok()?;
        Some(ArnGlob { fields: Box::new(fields.map(Glob::from_tokens)) })
    }

    pub(crate) fn new(pattern: &str) -> Option<ArnGlob> {
        let f = split6(pattern)?;
        Some(ArnGlob { fields: Box::new(f.map(Glob::new)) })
    }

    pub(crate) fn matches(&self, arn: &[&str; 6]) -> bool {
        // Resource field first: it is the one that usually differs.
        self.fields[5].matches(arn[5]) && self.fields[..5].iter().zip(arn).all(|(g, s)| g.matches(s))
    }
}

/// The request's resource, split once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestResource {
    pub(crate) text: String,
    /// Byte ranges of the six fields, if it is an ARN.
    fields: Option<[(u32, u32); 6]>,
}

impl RequestResource {
    pub(crate) fn new(text: String) -> Self {
        let fields = split6(&text).map(|f| {
            f.map(|s| {
                let start = s.as_ptr() as usize - text.as_ptr() as usize;
                (start as u32, (start + s.len()) as u32)
            })
        });
        RequestResource { text, fields }
    }

    pub(crate) fn fields(&self) -> Option<[&str; 6]> {
        self.fields.map(|f| f.map(|(a, b)| &self.text[a as usize..b as usize]))
    }
}

/// One `Resource`/`NotResource` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ResourcePattern {
    Any,
    /// Six fields; variables are substituted only in the resource field (spec §1.5).
    Arn {
        head: Box<[Glob; 5]>,
        tail: Tail,
    },
    /// Fewer than six fields: one whole-string pattern.
    Whole(Tail),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tail {
    Static(Glob),
    Dynamic(Template),
}

impl Tail {
    fn new(text: &str, variables: bool) -> Tail {
        let t = Template::parse(text, variables);
        if t.has_variables() { Tail::Dynamic(t) } else { Tail::Static(Glob::new(text)) }
    }

    fn matches(&self, s: &str, ctx: &RequestContext) -> bool {
        match self {
            Tail::Static(g) => g.matches(s),
            // A variable without a value makes this entry match nothing (spec §1.8).
            Tail::Dynamic(t) => t.to_glob(ctx).is_some_and(|g| g.matches(s)),
        }
    }
}

impl ResourcePattern {
    pub(crate) fn new(text: &str, variables: bool) -> ResourcePattern {
        if text == "*" {
            return ResourcePattern::Any;
        }
        match split6(text) {
            Some(f) => ResourcePattern::Arn {
                head: Box::new([Glob::new(f[0]), Glob::new(f[1]), Glob::new(f[2]), Glob::new(f[3]), Glob::new(f[4])]),
                tail: Tail::new(f[5], variables),
            },
            None => ResourcePattern::Whole(Tail::new(text, variables)),
        }
    }

    pub(crate) fn matches(&self, req: &RequestResource, ctx: &RequestContext) -> bool {
        match self {
            ResourcePattern::Any => true,
            ResourcePattern::Arn { head, tail } => match req.fields() {
                Some(f) => tail.matches(f[5], ctx) && head.iter().zip(&f).all(|(g, s)| g.matches(s)),
                None => false,
            },
            ResourcePattern::Whole(tail) => tail.matches(&req.text, ctx),
        }
    }

    /// The template of the resource field, for listing its variables.
    pub(crate) fn template(&self) -> Option<&Template> {
        match self {
            ResourcePattern::Arn { tail: Tail::Dynamic(t), .. } | ResourcePattern::Whole(Tail::Dynamic(t)) => Some(t),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_wise() {
        let g = ArnGlob::new("arn:aws:iam::*:user/*").unwrap();
        assert!(g.matches(&split6("arn:aws:iam::123456789012:user/eng/alice").unwrap()));
        assert!(!g.matches(&split6("arn:aws:iam::123456789012:role/alice").unwrap()));
        // `*` does not span fields.
        let g = ArnGlob::new("arn:aws:*:user/x:*:*").unwrap();
        assert!(!g.matches(&split6("arn:aws:iam::1:user/x").unwrap()));
        assert!(ArnGlob::new("arn:aws:iam").is_none());
        let g = ArnGlob::new("arn:aws:s3:::bucket/a:b*").unwrap();
        assert!(g.matches(&split6("arn:aws:s3:::bucket/a:bc").unwrap()));
    }

    #[test]
    fn from_tokens_splits_literal_colons() {
        let toks = vec![Tok::Lit("arn:aws:iam::".into()), Tok::Star, Tok::Lit(":user/a:b".into())];
        let g = ArnGlob::from_tokens(toks).unwrap();
        assert!(g.matches(&split6("arn:aws:iam::1:user/a:b").unwrap()));
    }

    #[test]
    fn resource_patterns() {
        let ctx = RequestContext::new().with("aws:username", "alice");
        let req = RequestResource::new("arn:aws:iam::123456789012:user/alice".into());
        assert!(ResourcePattern::new("arn:aws:iam::*:user/${aws:username}", true).matches(&req, &ctx));
        assert!(!ResourcePattern::new("arn:aws:iam::*:user/${aws:username}", false).matches(&req, &ctx));
        assert!(!ResourcePattern::new("arn:aws:iam::*:user/${aws:userid}", true).matches(&req, &ctx));
        assert!(ResourcePattern::new("arn:aws:iam::*", true).matches(&req, &ctx));
        let star = RequestResource::new("*".into());
        assert!(ResourcePattern::new("*", true).matches(&star, &ctx));
        assert!(!ResourcePattern::new("arn:aws:iam::*:user/*", true).matches(&star, &ctx));
    }
}
