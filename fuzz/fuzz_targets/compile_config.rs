#![no_main]
//! `compile_config`: see `tattletail_fuzz_harness::compile_config`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tattletail_fuzz_harness::compile_config(data));
