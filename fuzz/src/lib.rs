//! What the fuzz targets (`fuzz_targets/`) check, kept here so that the targets stay one line
//! each and share the input formats. Every function takes the fuzzer's bytes and panics only when
//! the code under test broke a rule stated here.

pub mod form;
pub mod policy;
pub mod request;
pub mod sigv4;
pub mod xml;
