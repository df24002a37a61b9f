//! The command line, as clap reads it. Nothing here decides anything:
//! [`crate::run::ScanRun::resolve`] turns [`ScanArgs`] into the complete
//! description of a scan. Help texts are the user documentation of each
//! flag (the README's "Using it" lists the same).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tattletail_runtime::reader::parse_size;

use crate::version;

/// CloudTrail alerting with jq rules.
#[derive(Parser, Debug)]
#[command(
    name = "tattletail",
    version = version::SHORT,
    long_version = version::LONG,
    about = "CloudTrail alerting with jq rules: scan log files, check, test and explain rule files",
    after_help = "Run `tattletail scan corpus/samples` to scan with the built-in rule pack.\n\
                  Exit status: 0 clean, 1 something could not be read or delivered (or a test failed), \
                  2 invalid config or usage, 3 alerts fired (with --fail-on-alert)."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Scan CloudTrail log files (.json or .json.gz; gzip is detected by content).
    Scan(ScanArgs),
    /// Check a rule file: every problem, with line and column; nothing is scanned.
    Check(ConfigArg),
    /// Show how each rule is evaluated: its prefilter, why, and the dispatch index.
    Explain(ExplainArgs),
    /// Run the tests inside a rule file ([[rule.test]] tables) with the scan engine, as `cargo test` does.
    Test(TestArgs),
    /// Print the version, git commit, jq engine and features.
    Version,
    /// Print a shell completion script (e.g. `tattletail completions bash > /etc/bash_completion.d/tattletail`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff; e.g. `tattletail man > tattletail.1`).
    Man,
}

/// `--config` and `--sigma`.
#[derive(Args, Debug, Clone, Default)]
pub struct ConfigArg {
    /// The rule file, a tattletail.toml (default: the built-in rule pack).
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Sigma rules: a .yml/.yaml file or a directory of them (searched recursively); repeatable. Added to --config's rules; without --config they are the only rules (instead of the built-in pack).
    #[arg(long, value_name = "PATH")]
    pub sigma: Vec<PathBuf>,
}

/// `tattletail explain`.
#[derive(Args, Debug)]
pub struct ExplainArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub config: ConfigArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ExplainFormat,
}

/// `tattletail test`.
#[derive(Args, Debug)]
pub struct TestArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub config: ConfigArg,
    /// Run only the tests whose rule name or test name contains TEXT (case-sensitive).
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// Also write the results as JUnit XML to FILE (a testsuite per rule), for CI test reports.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// `explain`'s output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExplainFormat {
    /// For reading.
    Text,
    /// One JSON document (the same facts, for scripts).
    Json,
    /// Each Sigma rule as a [[rule]] table with the exact jq it compiles to (paste into a tattletail.toml).
    Jq,
}

/// Alert output on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One readable line per alert: time, rule, actor, event, source IP, account and region, match.
    Text,
    /// One JSON object per alert, with the whole event under `event`.
    Jsonl,
}

/// The end-of-run summary on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SummaryFormat {
    /// Readable lines.
    Text,
    /// One JSON object on one line.
    Json,
    /// No summary.
    None,
}

/// When to use colour or show a progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum When {
    /// On a terminal: stdout for --color (and only without NO_COLOR), stderr for --progress.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// `tattletail scan`.
#[derive(Args, Debug)]
pub struct ScanArgs {
    /// Files, directories (searched recursively for *.json and *.gz), or - for stdin.
    #[cfg_attr(
        feature = "aws",
        doc = "Also s3://bucket/prefix/ (every object under the prefix)."
    )]
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub config: ConfigArg,
    /// Alert output format on stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Colour the alert lines (text format).
    #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
    pub color: When,
    /// Show a progress bar on stderr (files, bytes, records/s, ETA).
    #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
    pub progress: When,
    /// Print only alerts and errors: no skipped-input notes, no progress, no summary (unless --summary is given).
    #[arg(long, short)]
    pub quiet: bool,
    /// The end-of-run summary on stderr [default: text, none with --quiet].
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub summary: Option<SummaryFormat>,
    /// Exit with status 3 when any alert fired (and nothing else went wrong), to gate a CI pipeline on rules.
    #[arg(long)]
    pub fail_on_alert: bool,
    /// Evaluate every rule on every record (no dispatch index, no literal checks); slow, for checking the index.
    #[arg(long)]
    pub no_index: bool,
    /// Deliver alerts to the config's destinations (SNS, SES, Slack) as the Lambda does; without it alerts are only printed.
    #[cfg(feature = "aws")]
    #[arg(long)]
    pub send: bool,
    /// With --send: keep noise-control state (dedup, thresholds, cooldowns, exactly-once sends) in this DynamoDB table, shared with the Lambda; without it the state lives in this run.
    #[cfg(feature = "aws")]
    #[arg(long, value_name = "TABLE", requires = "send")]
    pub state_table: Option<String>,
    /// Threads evaluating records [default: the number of cores].
    #[arg(long, short = 'j', value_name = "N", value_parser = at_least_one)]
    pub jobs: Option<usize>,
    /// Skip (and report) records larger than this, e.g. 64MiB (the default; also TATTLETAIL_MAX_RECORD_BYTES). The rest of the file is read.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_record_size: Option<usize>,
}

/// A count of at least one.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

impl ScanArgs {
    /// `--state-table` (always none without the `aws` feature).
    pub fn state_table(&self) -> Option<String> {
        #[cfg(feature = "aws")]
        {
            self.state_table.clone()
        }
        #[cfg(not(feature = "aws"))]
        {
            None
        }
    }

    /// `--send` (always false without the `aws` feature).
    pub fn send(&self) -> bool {
        #[cfg(feature = "aws")]
        {
            self.send
        }
        #[cfg(not(feature = "aws"))]
        {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
