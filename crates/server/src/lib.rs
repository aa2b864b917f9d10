//! iamd: a self-hosted identity server speaking the AWS IAM and STS query APIs.
//!
//! A request travels down the layers in this order:
//! [`app`] (HTTP: routes, body limit, request ids) → [`auth`] (SigV4: who is calling) →
//! [`wire`] (parameters in, validation against the model, XML out) → [`ops`] (one module per
//! resource family, a table from `Action` to handler) → `iamd_domain` (TOTP and MFA rules) →
//! `iamd_store` (one transaction per state change).

pub mod app;
pub mod auth;
pub mod config;
pub mod console;
pub mod ops;
pub mod wire;

pub use app::{App, router};
