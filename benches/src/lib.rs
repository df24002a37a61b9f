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

/// A config of `n` indexed rules over real (eventSource, eventName) pairs,
/// each with a native condition that never holds (as `scripts/compare.py`).
pub fn indexed_rules(n: usize) -> String {
    let pairs = tattletail_corpus::event_table();
    let mut out = String::new();
    for i in 0..n {
        let (_, src, name) = pairs[i % pairs.len()];
        out.push_str(&format!(
            "[[rule]]\nname = \"r{i}\"\njq_match = '''select(.eventSource == \"{src}\" and \
             .eventName == \"{name}\" and .userIdentity.userName == \"nobody-{i}\")'''\n"
        ));
    }
    out
}
