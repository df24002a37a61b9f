//! Tattletail's compiler: reads `tattletail.toml`, checks every rule, and
//! turns the rules into a [`plan::Plan`]: each rule's jq program parsed by
//! our own front end ([`syntax`]), lowered to the IR ([`ir`]) that the
//! runtime evaluates natively, and analysed ([`analysis`]) for a sound
//! necessary condition on the record's `eventName`/`eventSource` (its
//! prefilter, from which the runtime builds one shared dispatch index) and
//! for literals the raw record must contain.
//!
//! Architecture invariant: the compiler does no IO. It takes source text and
//! returns a plan or diagnostics; reading files is the binaries' job.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod analysis;
pub mod config;
pub mod date;
pub mod diag;
pub mod escape;
pub mod explain;
pub mod ir;
pub mod pack;
pub mod plan;
pub mod regex;
pub mod routing;
pub mod sigma;
pub mod stack;
pub mod syntax;
mod toml_str;

pub use plan::{compile, compile_with, Compiled};
