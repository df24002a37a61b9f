//! Tattletail's compiler: reads `tattletail.toml`, checks every rule, and
//! turns the rules into a [`plan::Plan`]: each rule's compiled jq program plus
//! a sound necessary condition on the record's `eventName`/`eventSource`
//! (its prefilter), from which the runtime builds one shared dispatch index.
//!
//! Architecture invariant: the compiler does no IO. It takes source text and
//! returns a plan or diagnostics; reading files is the binaries' job.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod analysis;
pub mod config;
pub mod diag;
pub mod explain;
pub mod jq;
pub mod native;
pub mod pack;
pub mod plan;
mod toml_str;

pub use plan::{compile, Compiled};
