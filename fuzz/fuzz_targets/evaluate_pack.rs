#![no_main]
//! `evaluate_pack`: see `tattletail_fuzz_harness::evaluate_pack`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tattletail_fuzz_harness::evaluate_pack(data));
