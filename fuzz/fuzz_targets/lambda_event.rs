#![no_main]
//! `lambda_event`: see `tattletail_fuzz_harness::lambda_event`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tattletail_fuzz_harness::lambda_event(data));
