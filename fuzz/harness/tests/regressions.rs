//! Replays `fuzz/regressions/<target>/*` through the fuzz targets' bodies:
//! every input that once found a bug (and a small seed set) runs in the
//! normal `cargo test`, no nightly needed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

#[test]
fn regression_corpora_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../regressions");
    let mut failures = Vec::new();
    for (name, body) in tattletail_fuzz_harness::TARGETS {
        let dir = root.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{} has no inputs", dir.display());
        for file in files {
            let data = std::fs::read(&file).unwrap();
            if catch_unwind(AssertUnwindSafe(|| body(&data))).is_err() {
                failures.push(format!("{name}: {}", file.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "fuzz regressions fail:\n{}",
        failures.join("\n")
    );
}
