//! What `tattletail --version` and `tattletail version` say: the version,
//! the git commit it was built from, the jq engine and the cargo features.

#[cfg(feature = "aws")]
macro_rules! features {
    () => {
        "aws"
    };
}

#[cfg(not(feature = "aws"))]
macro_rules! features {
    () => {
        "local-only (no s3://, no --send)"
    };
}

/// The features this binary was built with.
pub const FEATURES: &str = features!();

/// One line: `0.1.0 (git 1a2b3c4d5, features: aws)` (clap adds the
/// program name).
pub const SHORT: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("TATTLETAIL_GIT_HASH"),
    ", features: ",
    features!(),
    ")"
);

/// The long form (`--version` and `tattletail version`).
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("TATTLETAIL_GIT_HASH"),
    ", features: ",
    features!(),
    ")\njq engine: tattletail's own compiler and native evaluator (jq 1.6 / gojq dialect; jaq is not linked)",
    "\nrules: cloudtrail-tattletail's tattletail.toml format",
);
