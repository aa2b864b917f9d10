//! iamd: a self-hosted identity server speaking the AWS IAM and STS query APIs.
//!
//! The modules form layers; each uses only the ones below it (every `use crate::…` points down
//! this table):
//!
//! | layer | modules | what it owns |
//! | --- | --- | --- |
//! | HTTP | [`http`], [`listener`], [`config_file`], [`config`], [`logging`] | routes, request ids and spans, body limit and deadline; accepting connections (cap, header deadline, graceful shutdown); `serve`'s config file; start-up; log lines to stderr in batches |
//! | operator commands | [`admin`] | `backup`, `restore`, `migrate`, `audit`: the store's files and rows, beside `serve` |
//! | data directory | [`data_dir`] | the embedded database's and master key's files, the master-key check |
//! | console | [`console`] | the HTML console: sign-in, and "My security credentials", whose every action is the user's own operation through [`ops::perform`] |
//! | operations | [`ops`] | the AWS query API: validation, one authorization decision, one handler per operation |
//! | authorization | [`authz`] | operation → IAM action, resource and context; one decision before dispatch |
//! | authentication | [`auth`] | SigV4 callers, password and MFA code checks, the sign-in audit trail |
//! | shared leaves | [`state`], [`caller`], [`credential_cache`], [`metrics`], [`failure`], [`wire`] | application state, who is calling, cached credentials, what `/metrics` counts, internal/store failures, the query protocol's encoding |
//!
//! Below the server: `iamd_domain` (rules without I/O: TOTP, passwords, throttling, entities),
//! `iamd_store` (one transaction per state change), `iamd_model` (the botocore models as tables),
//! `iamd_sigv4` (signature verification).

pub mod admin;
pub mod auth;
pub mod authz;
pub mod aws_policies;
pub mod caller;
pub mod config;
pub mod config_file;
pub mod console;
pub mod credential_cache;
pub mod data_dir;
pub mod failure;
pub mod http;
pub mod listener;
pub mod logging;
pub mod metrics;
pub mod ops;
pub mod state;
pub mod wire;

pub use http::router;
pub use state::App;
