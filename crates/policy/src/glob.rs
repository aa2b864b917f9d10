//! `*`/`?` wildcard patterns, compiled once.
//!
//! IAM wildcards are simple: `*` is any run of characters (possibly empty, spanning `/` and `:`),
//! `?` exactly one character; there are no classes or escapes in the pattern text itself (a
//! literal `*` is written `${*}` and arrives here as a literal token). Most real patterns are an
//! exact string, `*`, or `prefix*` (`iam:Get*`), so those get their own cheap shapes and only
//! the rest run the general matcher. Regexes would be slower to build and no faster to run.

/// One piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Lit(String),
    /// `*`
    Star,
    /// `?`
    One,
}

/// A compiled wildcard pattern. Case-sensitive: callers fold case on both sides when they need
/// to (actions, `StringLike` never does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Glob {
    /// `*`
    Any,
    Exact(Box<str>),
    /// `abc*`
    Prefix(Box<str>),
    General(Box<[Tok]>),
}

impl Glob {
    /// Compiles pattern text in which every `*` and `?` is a wildcard.
    pub(crate) fn new(pattern: &str) -> Glob {
        let mut toks = Vec::new();
        push_pattern(&mut toks, pattern);
        Glob::from_tokens(toks)
    }

    /// Compiles a token sequence (literal tokens may contain `*`/`?` taken literally).
    pub(crate) fn from_tokens(toks: Vec<Tok>) -> Glob {
        // Normalise: merge literals, collapse runs of `*`.
        let mut out: Vec<Tok> = Vec::with_capacity(toks.len());
        for t in toks {
            match (out.last_mut(), t) {
                (Some(Tok::Lit(prev)), Tok::Lit(s)) => prev.push_str(&s),
                (_, Tok::Lit(s)) if s.is_empty() => {}
                (Some(Tok::Star), Tok::Star) => {}
                (_, t) => out.push(t),
            }
        }
        match out.as_slice() {
            [] => Glob::Exact("".into()),
            [Tok::Star] => Glob::Any,
            [Tok::Lit(s)] => Glob::Exact(s.as_str().into()),
            [Tok::Lit(s), Tok::Star] => Glob::Prefix(s.as_str().into()),
            _ => Glob::General(out.into_boxed_slice()),
        }
    }

    pub(crate) fn matches(&self, s: &str) -> bool {
        match self {
            Glob::Any => true,
            Glob::Exact(p) => **p == *s,
            Glob::Prefix(p) => s.starts_with(&**p),
            Glob::General(toks) => general_match(toks, s),
        }
    }
}

/// Appends `pattern` with its `*`/`?` as wildcards.
pub(crate) fn push_pattern(toks: &mut Vec<Tok>, pattern: &str) {
    let mut lit = String::new();
    for c in pattern.chars() {
        match c {
            '*' | '?' => {
                if !lit.is_empty() {
                    toks.push(Tok::Lit(std::mem::take(&mut lit)));
                }
                toks.push(if c == '*' { Tok::Star } else { Tok::One });
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        toks.push(Tok::Lit(lit));
    }
}

fn char_len_at(s: &str, i: usize) -> usize {
    s[i..].chars().next().map_or(1, char::len_utf8)
}

/// The classic single-backtrack-point matcher: on a mismatch, retry from the most recent `*`
/// with it eating one more character. Every non-star token matches a fixed number of
/// characters, so earlier stars never need revisiting; worst case O(pattern × text).
fn general_match(toks: &[Tok], s: &str) -> bool {
    let (mut ti, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(t) = toks.get(ti) {
            match t {
                Tok::Star => {
                    star = Some((ti + 1, si));
                    ti += 1;
                    continue;
                }
                Tok::One if si < s.len() => {
                    si += char_len_at(s, si);
                    ti += 1;
                    continue;
                }
                Tok::Lit(l) if s[si..].starts_with(l.as_str()) => {
                    si += l.len();
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        } else if si == s.len() {
            return true;
        }
        match star {
            Some((t, st)) if st < s.len() => {
                let next = st + char_len_at(s, st);
                star = Some((t, next));
                ti = t;
                si = next;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_matches() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "anything/at:all", true),
            ("iam:get*", "iam:getuser", true),
            ("iam:get*", "iam:listusers", false),
            ("iam:*accesskey*", "iam:createaccesskey", true),
            ("iam:*accesskey*", "iam:listaccesskeys", true),
            ("iam:*report", "iam:getcredentialreport", true),
            ("iam:*report", "iam:getcredentialreports", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a?c", "aéc", true),
            ("a*b*c", "a-b-b-c", true),
            ("a*b*c", "a-b-b-", false),
            ("user/*", "user/a/b", true),
            ("exact", "exact", true),
            ("exact", "Exact", false),
            ("**", "x", true),
            ("*a", "bbba", true),
            ("*a", "bbb", false),
        ];
        for (p, s, want) in cases {
            assert_eq!(Glob::new(p).matches(s), *want, "{p} vs {s}");
        }
    }

    #[test]
    fn literal_tokens_keep_wildcard_characters() {
        let g = Glob::from_tokens(vec![Tok::Lit("a*".into()), Tok::Star]);
        assert!(g.matches("a*bc"));
        assert!(!g.matches("abc"));
    }
}
