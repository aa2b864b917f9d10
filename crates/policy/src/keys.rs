//! The condition keys a policy refers to: `GetContextKeysFor*Policy` and the simulator's
//! `MissingContextValues` (spec §7.1, §7.2) — keys in `Condition` blocks and in policy variables.

use crate::eval::Request;
use crate::policy::{Policy, Statement};

fn statement_keys(s: &Statement, out: &mut Vec<String>) {
    let mut push = |k: &str| {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(k)) {
            out.push(k.to_string());
        }
    };
    if let Some(r) = &s.resources {
        for p in &r.patterns {
            if let Some(t) = p.template() {
                t.variable_keys().for_each(&mut push);
            }
        }
    }
    for c in &s.conditions {
        push(c.key());
        c.variable_keys().into_iter().for_each(&mut push);
    }
}

/// Keys referenced by `policy`, each once (case-insensitively), in order of appearance and as
/// first written.
pub fn context_keys(policy: &Policy) -> Vec<String> {
    context_keys_of(std::slice::from_ref(&policy))
}

/// [`context_keys`] over several policies, deduplicated across them.
pub fn context_keys_of(policies: &[&Policy]) -> Vec<String> {
    let mut out = Vec::new();
    for p in policies {
        for s in &p.statements {
            statement_keys(s, &mut out);
        }
    }
    out
}

/// Keys that statements applicable to the request's action refer to but the request context
/// lacks — the simulator's `MissingContextValues`.
pub fn missing_context_keys(request: &Request, policies: &[&Policy]) -> Vec<String> {
    let mut out = Vec::new();
    for p in policies {
        for s in p.statements.iter().filter(|s| request.matches_action(s)) {
            statement_keys(s, &mut out);
        }
    }
    out.retain(|k| request.context().get(k).is_none());
    out
}
