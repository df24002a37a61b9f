//! Tattletail's runtime: reads CloudTrail log files in one pass with
//! bounded memory ([`reader`]), parses each record ([`record`]), finds the
//! rules that must look at it through one shared dispatch index
//! ([`index`]), evaluates them with upstream's match semantics
//! ([`matcher`], within budgets and a shared [`quarantine`]) and pushes
//! alerts into a sink ([`scan`]). [`rule_test`] runs the config's
//! `[[rule.test]]` tables through the same scanner. [`correlate`]
//! evaluates Sigma correlation rules over the alert stream. Printing alerts and the
//! summary belong to the CLI (`tattletail-cli`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod correlate;
pub mod eval;
pub mod index;
pub mod keys;
pub mod matcher;
mod pool;
pub mod quarantine;
pub mod reader;
pub mod record;
pub mod repair;
pub mod rule_test;
pub mod scan;
pub mod sigma_files;

pub use correlate::{Correlating, CorrelationAlert, Correlator};
pub use matcher::Matcher;
pub use scan::{Alert, AlertSink, Scanner, Stats};
