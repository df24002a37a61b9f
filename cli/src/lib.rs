//! The `tattletail` command (and `tattletail-compile`), as ripgrep's
//! `crates/core`: the flags ([`args`]) are resolved once into a complete
//! description of the run ([`run::ScanRun`]), then one driver
//! ([`driver`]) runs it: inputs (files, directories, stdin, `s3://`) →
//! the runtime's scanner → sinks (the [`print`]er, delivery through the
//! Lambda's own code when `--send`, the [`summary`]), with a [`progress`]
//! bar on a terminal. `check`, `explain` and `test` share config loading
//! ([`config`]) with `scan` and with `tattletail-compile`; `test`
//! ([`testing`]) runs the config's `[[rule.test]]` tables through the
//! same scanner.
//!
//! The engine crates stay free of the AWS SDK; `s3://` and `--send` come
//! with the `aws` feature (default), through `tattletail-lambda`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod args;
pub mod config;
pub mod console;
pub mod driver;
pub mod inputs;
pub mod print;
pub mod progress;
#[cfg(feature = "aws")]
mod remote;
pub mod run;
pub mod status;
pub mod summary;
pub mod testing;
pub mod version;
