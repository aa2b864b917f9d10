#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| iamd_fuzz::sigv4::check_header_signed(data));
