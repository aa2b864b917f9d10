#![no_main]

libfuzzer_sys::fuzz_target!(|input: iamd_fuzz::policy::EvaluateInput| iamd_fuzz::policy::check_evaluation_input(
    &input
));
