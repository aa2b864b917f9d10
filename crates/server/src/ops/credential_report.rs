//! The IAM credential report: GenerateCredentialReport and GetCredentialReport. One CSV line per
//! user (and one for the root user) with the state of its password, MFA and access keys, so an
//! administrator sees at a glance who has no MFA or an old key.
//!
//! As on AWS, a report is kept for 4 hours: GenerateCredentialReport answers `COMPLETE` while the
//! kept report is younger, and otherwise builds a new one. iamd builds it at once (AWS does it in
//! the background), but keeps AWS's answer of `STARTED` for the call that starts it, so clients
//! written for AWS's poll loop work unchanged.

use data_encoding::BASE64;
use iamd_domain::entities::{AccessKey, AssignmentFilter, KeyStatus, Page, User};
use iamd_domain::{ApiError, ErrorCode, ids};
use iamd_store::{Entity, StoreError};
use serde::Serialize;
use time::OffsetDateTime;
use time::macros::format_description;

use super::{Ctx, Reply};
use crate::failure::store_failure;
use crate::wire::params::Params;
use crate::wire::shapes::timestamp;

/// How long a report is served before GetCredentialReport calls it expired.
pub const REPORT_LIFETIME_SECONDS: i64 = 4 * 3600;
/// Users (and devices) read from the store at a time while a report is built.
const BATCH: usize = 1000;

const COLUMNS: &[&str] = &[
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "password_next_rotation",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_1_last_used_region",
    "access_key_1_last_used_service",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "access_key_2_last_used_region",
    "access_key_2_last_used_service",
    "cert_1_active",
    "cert_1_last_rotated",
    "cert_2_active",
    "cert_2_last_rotated",
];

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GenerateCredentialReportResult {
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'static str>,
}

pub async fn generate_credential_report(ctx: &Ctx<'_>, _p: &Params) -> Reply {
    let now = ctx.now_unix();
    let kept = ctx.app.store.credential_report(ctx.account()).await.map_err(store_failure)?;
    if kept.is_some_and(|(generated_at, _)| now - generated_at < REPORT_LIFETIME_SECONDS) {
        return ctx.reply(&GenerateCredentialReportResult { state: "COMPLETE", description: None });
    }
    let csv = build(ctx, now).await?;
    ctx.app.store.put_credential_report(ctx.account(), now, csv.as_bytes()).await.map_err(store_failure)?;
    ctx.reply(&GenerateCredentialReportResult {
        state: "STARTED",
        description: Some("No report exists. Starting a new report generation task"),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetCredentialReportResult {
    content: String,
    report_format: &'static str,
    generated_time: String,
}

pub async fn get_credential_report(ctx: &Ctx<'_>, _p: &Params) -> Reply {
    let Some((generated_at, content)) = ctx.app.store.credential_report(ctx.account()).await.map_err(store_failure)?
    else {
        return Err(ApiError::new(
            ErrorCode::ReportNotPresent,
            "No credential report exists for this account. Call GenerateCredentialReport first.",
        ));
    };
    if ctx.now_unix() - generated_at >= REPORT_LIFETIME_SECONDS {
        return Err(ApiError::new(
            ErrorCode::ReportExpired,
            "The credential report is more than 4 hours old. Call GenerateCredentialReport for a new one.",
        ));
    }
    ctx.reply(&GetCredentialReportResult {
        content: BASE64.encode(&content),
        report_format: "text/csv",
        generated_time: timestamp(generated_at),
    })
}

/// The report as of `now`: the root user's line, then every user's by name.
async fn build(ctx: &Ctx<'_>, now: i64) -> Result<String, ApiError> {
    let store = &ctx.app.store;
    let account = ctx.account();
    let policy = store.get_password_policy(account).await.map_err(store_failure)?;
    let max_age_seconds = policy.and_then(|p| p.max_password_age).map(|days| i64::from(days) * 86_400);

    let mut with_mfa = std::collections::HashSet::new();
    let mut page = Page { after: None, limit: BATCH };
    loop {
        let mut devices =
            store.list_mfa_devices(account, AssignmentFilter::Assigned, &page).await.map_err(store_failure)?;
        let more = devices.len() > BATCH;
        devices.truncate(BATCH);
        for device in &devices {
            if let Some(assignment) = &device.assignment {
                with_mfa.insert(assignment.user.user_id.clone());
            }
        }
        match devices.pop() {
            Some(last) if more => page.after = Some(last.serial),
            _ => break,
        }
    }

    let mut csv = COLUMNS.join(",");
    csv.push('\n');
    let root_created = store.account_created_at(account).await.map_err(store_failure)?.unwrap_or(now);
    let root_keys = store.root_access_keys(account).await.map_err(store_failure)?;
    let mut root = vec![
        "<root_account>".to_owned(),
        format!("arn:aws:iam::{account}:root"),
        report_time(root_created),
        "not_supported".to_owned(),
        NA.to_owned(),
        "not_supported".to_owned(),
        "not_supported".to_owned(),
        // iamd assigns no MFA device to the root user.
        "false".to_owned(),
    ];
    root.extend(key_columns(&root_keys));
    push_line(&mut csv, &root);

    let mut page = Page { after: None, limit: BATCH };
    loop {
        let mut users = store.list_users(account, "/", &page).await.map_err(store_failure)?;
        let more = users.len() > BATCH;
        users.truncate(BATCH);
        for user in &users {
            let line = user_line(ctx, user, with_mfa.contains(&user.user_id), max_age_seconds).await?;
            push_line(&mut csv, &line);
        }
        match users.last() {
            Some(last) if more => page.after = Some(last.name.to_lowercase()),
            _ => break,
        }
    }
    Ok(csv)
}

async fn user_line(
    ctx: &Ctx<'_>,
    user: &User,
    mfa_active: bool,
    max_age: Option<i64>,
) -> Result<Vec<String>, ApiError> {
    let store = &ctx.app.store;
    let profile = match store.get_login_profile(ctx.account(), &user.name).await {
        Ok(profile) => Some(profile),
        // A user deleted while the report is built still gets its line, as it was.
        Err(StoreError::NotFound(Entity::LoginProfile | Entity::User)) => None,
        Err(e) => return Err(store_failure(e)),
    };
    let mut keys = match store.list_access_keys(ctx.account(), &user.name).await {
        Ok(keys) => keys,
        Err(StoreError::NotFound(Entity::User)) => Vec::new(),
        Err(e) => return Err(store_failure(e)),
    };
    keys.sort_by(|a, b| (a.created_at, &a.access_key_id).cmp(&(b.created_at, &b.access_key_id)));
    let mut line = vec![
        user.name.clone(),
        ids::user_arn(&user.account_id, &user.path, &user.name),
        report_time(user.created_at),
        profile.is_some().to_string(),
        match (&profile, user.password_last_used) {
            (Some(_), Some(at)) => report_time(at),
            _ => NA.to_owned(),
        },
        profile.as_ref().map_or_else(|| NA.to_owned(), |p| report_time(p.password_changed_at)),
        match (&profile, max_age) {
            (Some(p), Some(age)) => report_time(p.password_changed_at + age),
            _ => NA.to_owned(),
        },
        mfa_active.to_string(),
    ];
    line.extend(key_columns(&keys));
    Ok(line)
}

const NA: &str = "N/A";

/// The two key column groups and the (never issued) signing-certificate columns.
fn key_columns(keys: &[AccessKey]) -> Vec<String> {
    let mut out = Vec::with_capacity(14);
    for slot in 0..2 {
        match keys.get(slot) {
            Some(key) => {
                out.push((key.status == KeyStatus::Active).to_string());
                out.push(report_time(key.created_at));
                match &key.last_used {
                    Some(used) => out.extend([report_time(used.at), used.region.clone(), used.service.clone()]),
                    None => out.extend([NA.to_owned(), NA.to_owned(), NA.to_owned()]),
                }
            }
            None => out.extend(["false".to_owned(), NA.to_owned(), NA.to_owned(), NA.to_owned(), NA.to_owned()]),
        }
    }
    out.extend(["false".to_owned(), NA.to_owned(), "false".to_owned(), NA.to_owned()]);
    out
}

/// The report's time format: ISO 8601 with an explicit UTC offset (`2026-12-02T08:00:00+00:00`).
fn report_time(unix_seconds: i64) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+00:00");
    OffsetDateTime::from_unix_timestamp(unix_seconds).ok().and_then(|t| t.format(&format).ok()).unwrap_or_default()
}

/// One CSV line (RFC 4180): a field holding a comma or a quote is quoted — IAM names may
/// contain commas. Written here rather than with a CSV crate: this is the only CSV iamd writes,
/// and its fields are names, ARNs, dates and keywords.
fn push_line(csv: &mut String, fields: &[String]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            csv.push(',');
        }
        if field.contains([',', '"', '\n', '\r']) {
            csv.push('"');
            csv.push_str(&field.replace('"', "\"\""));
            csv.push('"');
        } else {
            csv.push_str(field);
        }
    }
    csv.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_commas_or_quotes_are_quoted() {
        let mut csv = String::new();
        push_line(&mut csv, &["a,b".to_owned(), "plain".to_owned(), "say \"hi\"".to_owned()]);
        assert_eq!(csv, "\"a,b\",plain,\"say \"\"hi\"\"\"\n");
    }

    #[test]
    fn times_carry_an_explicit_utc_offset() {
        assert_eq!(report_time(1_796_112_000), "2026-12-01T08:00:00+00:00");
    }

    #[test]
    fn every_line_has_every_column() {
        assert_eq!(8 + key_columns(&[]).len(), COLUMNS.len());
    }
}
