#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| iamd_fuzz::form::check(data));
