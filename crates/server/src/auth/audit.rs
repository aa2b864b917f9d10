//! The sign-in audit trail: every password and MFA check, in the database and in the log.
//! Events name the user, the source address, whether MFA was used, the outcome and why —
//! never a password, code or key.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use iamd_domain::entities::AuthEvent;

use crate::state::App;

/// The client's address, for the audit trail ("unknown" when served without connection info,
/// as in in-process tests).
pub fn source_address(extensions: &http::Extensions) -> String {
    extensions.get::<ConnectInfo<SocketAddr>>().map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string())
}

pub struct Attempt<'a> {
    pub account_id: &'a str,
    pub user_name: &'a str,
    pub source: &'a str,
    pub kind: &'static str,
    pub mfa_used: bool,
}

impl Attempt<'_> {
    /// Records the outcome. A failure to write the trail is logged, not fatal: the check
    /// itself already happened.
    pub async fn record(&self, app: &App, now: i64, success: bool, reason: &str) {
        let outcome = if success { "success" } else { "failure" };
        tracing::info!(
            target: "iamd::audit",
            account_id = self.account_id,
            user = self.user_name,
            source = self.source,
            kind = self.kind,
            mfa_used = self.mfa_used,
            outcome,
            reason,
            "sign-in event"
        );
        let event = AuthEvent {
            at: now,
            account_id: self.account_id.to_owned(),
            user_name: self.user_name.to_owned(),
            source: self.source.to_owned(),
            kind: self.kind.to_owned(),
            mfa_used: self.mfa_used,
            outcome: outcome.to_owned(),
            reason: reason.to_owned(),
        };
        if let Err(e) = app.store.record_auth_event(&event).await {
            tracing::error!(error = %e, "could not record a sign-in event");
        }
    }
}
