//! The bodies of Tattletail's fuzz targets, one `pub fn(&[u8])` per
//! target. The cargo-fuzz binaries in `fuzz/fuzz_targets/` call them, and
//! so does `tests/regressions.rs`, which replays `fuzz/regressions/` in a
//! plain `cargo test`, so every input that once found a bug stays a test
//! without nightly.
//!
//! A body returns normally for any input the code under test handled
//! correctly and panics (an `assert!`) when an invariant breaks: a panic
//! in the code under test, a reader that loops or reports records out of
//! order, the index losing an alert the naive matcher finds, a diagnostic
//! that points outside its file.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod event;
mod pack;
mod reader;

pub use config::compile_config;
pub use event::lambda_event;
pub use pack::evaluate_pack;
pub use reader::{reader_gzip, reader_plain};

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target by name, as the fuzz binaries and `fuzz/regressions/`
/// name them.
pub const TARGETS: &[(&str, Target)] = &[
    ("reader_plain", reader_plain),
    ("reader_gzip", reader_gzip),
    ("evaluate_pack", evaluate_pack),
    ("compile_config", compile_config),
    ("lambda_event", lambda_event),
];
