#![no_main]
//! `reader_gzip`: see `tattletail_fuzz_harness::reader_gzip`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tattletail_fuzz_harness::reader_gzip(data));
