//! Inputs shared by the benchmarks: generated CloudTrail files (fixed seed).

use std::io::Write;

use tattletail_corpus::{write_file, Generator, Layout};

/// A generated CloudTrail log of `records` records, as JSON and as gzip.
pub fn generated(records: u64) -> (Vec<u8>, Vec<u8>) {
    let mut json = Vec::new();
    write_file(
        &mut Generator::new(42),
        records,
        Layout::default(),
        &mut json,
    )
    .expect("in-memory write");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(&json).expect("in-memory write");
    (json, gz.finish().expect("in-memory write"))
}
