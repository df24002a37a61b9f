#![no_main]
//! `reader_plain`: see `tattletail_fuzz_harness::reader_plain`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tattletail_fuzz_harness::reader_plain(data));
