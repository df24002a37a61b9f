//! The built-in rule pack: the CIS AWS Foundations benchmark's CloudTrail
//! alarms plus cloudtrail-to-slack's default rules, as a
//! `tattletail.toml` (`compiler/rules/default.toml`) that users can copy.
//! Every rule is followed by its tests (`[[rule.test]]`: at least one
//! event it alerts on and one it stays quiet on), which `tattletail test`
//! runs and the runtime's tests check (`runtime/tests/pack.rs`).

/// The pack's TOML source.
pub const DEFAULT_PACK: &str = include_str!("../rules/default.toml");

/// The name used for the pack in diagnostics and `--explain`.
pub const DEFAULT_PACK_NAME: &str = "<built-in rule pack>";
