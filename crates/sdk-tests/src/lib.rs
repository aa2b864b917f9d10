//! iamd driven by the official AWS SDK for Rust: see `tests/sdk.rs`. This library is empty.
