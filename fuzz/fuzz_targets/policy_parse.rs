#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| iamd_fuzz::policy::check_document(data));
