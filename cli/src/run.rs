//! The complete description of a scan, resolved once from the flags and
//! the environment: which rules, which inputs, what to print, whether to
//! deliver, how many threads, what limits. The [`driver`](crate::driver)
//! runs it and decides nothing the description does not say.

use std::io::IsTerminal;
use std::sync::Arc;

use tattletail_compiler::plan::Compiled;
use tattletail_runtime::reader::max_record_size_from_env;

use crate::args::{Format, ScanArgs, SummaryFormat, When};
use crate::config::Loaded;
use crate::inputs::{self, Expanded};

/// Everything a scan needs to know.
pub struct ScanRun {
    /// The rules.
    pub compiled: Arc<Compiled>,
    /// The rule file's name in messages.
    pub config_name: String,
    /// The command-line paths, as given (for messages).
    pub paths: Vec<String>,
    /// The inputs, expanded.
    pub inputs: Expanded,
    /// Alert format on stdout.
    pub format: Format,
    /// Colour the text lines.
    pub color: bool,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Draw it even when stderr is not a terminal (`--progress always`).
    pub progress_forced: bool,
    /// Leave out notes that are not errors (skipped inputs).
    pub quiet: bool,
    /// The summary's format.
    pub summary: SummaryFormat,
    /// Exit with status 3 when an alert fired.
    pub fail_on_alert: bool,
    /// Evaluate every rule on every record.
    pub no_index: bool,
    /// Deliver to the destinations.
    pub send: bool,
    /// `--state-table`: noise-control state in this DynamoDB table.
    pub state_table: Option<String>,
    /// Threads evaluating records.
    pub jobs: usize,
    /// Largest record read.
    pub max_record: usize,
}

impl ScanRun {
    /// Resolve `args` with the loaded rules. `stdout_tty`/`stderr_tty` and
    /// `no_color` are the terminal facts (passed in, so tests can pin
    /// them).
    pub fn resolve(args: &ScanArgs, loaded: Loaded, terminal: Terminal) -> Result<ScanRun, String> {
        let max_record = match args.max_record_size {
            Some(n) => n,
            None => max_record_size_from_env()?,
        };
        let color = args.format == Format::Text
            && match args.color {
                When::Always => true,
                When::Never => false,
                When::Auto => terminal.stdout_tty && !terminal.no_color,
            };
        let progress = match args.progress {
            When::Always => true,
            When::Never => false,
            When::Auto => terminal.stderr_tty && !args.quiet,
        };
        let summary = args.summary.unwrap_or(if args.quiet {
            SummaryFormat::None
        } else {
            SummaryFormat::Text
        });
        let jobs = args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        Ok(ScanRun {
            compiled: Arc::new(loaded.compiled),
            config_name: loaded.name,
            paths: args.paths.clone(),
            inputs: inputs::expand(&args.paths),
            format: args.format,
            color,
            progress,
            progress_forced: args.progress == When::Always,
            quiet: args.quiet,
            summary,
            fail_on_alert: args.fail_on_alert,
            no_index: args.no_index,
            send: args.send(),
            state_table: args.state_table(),
            jobs,
            max_record,
        })
    }
}

/// What the terminal is.
#[derive(Clone, Copy, Debug, Default)]
pub struct Terminal {
    /// Standard output is a terminal.
    pub stdout_tty: bool,
    /// Standard error is a terminal.
    pub stderr_tty: bool,
    /// `NO_COLOR` is set to something (https://no-color.org).
    pub no_color: bool,
}

impl Terminal {
    /// This process's terminal.
    pub fn detect() -> Terminal {
        Terminal {
            stdout_tty: std::io::stdout().is_terminal(),
            stderr_tty: std::io::stderr().is_terminal(),
            no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;

    fn resolve(args: &[&str], terminal: Terminal) -> ScanRun {
        let cli = Cli::try_parse_from(args).unwrap();
        let Command::Scan(scan) = cli.command else {
            panic!("not a scan")
        };
        let loaded = crate::config::load(None, &[]).unwrap();
        ScanRun::resolve(&scan, loaded, terminal).unwrap()
    }

    const TTY: Terminal = Terminal {
        stdout_tty: true,
        stderr_tty: true,
        no_color: false,
    };
    const PIPED: Terminal = Terminal {
        stdout_tty: false,
        stderr_tty: false,
        no_color: false,
    };

    #[test]
    fn colour_and_progress_only_on_a_terminal() {
        let r = resolve(&["tattletail", "scan", "x"], TTY);
        assert!(r.color && r.progress);
        let r = resolve(&["tattletail", "scan", "x"], PIPED);
        assert!(!r.color && !r.progress);
        let r = resolve(
            &["tattletail", "scan", "x"],
            Terminal {
                no_color: true,
                ..TTY
            },
        );
        assert!(!r.color && r.progress, "NO_COLOR is about colour only");
        let r = resolve(&["tattletail", "scan", "--color", "always", "x"], PIPED);
        assert!(r.color);
        let r = resolve(
            &[
                "tattletail",
                "scan",
                "--color",
                "always",
                "--format",
                "jsonl",
                "x",
            ],
            TTY,
        );
        assert!(!r.color, "JSON Lines are never coloured");
    }

    #[test]
    fn quiet_means_no_progress_and_no_summary_unless_asked() {
        let r = resolve(&["tattletail", "scan", "-q", "x"], TTY);
        assert!(r.quiet && !r.progress);
        assert_eq!(r.summary, SummaryFormat::None);
        let r = resolve(&["tattletail", "scan", "-q", "--summary", "json", "x"], TTY);
        assert_eq!(r.summary, SummaryFormat::Json);
        let r = resolve(&["tattletail", "scan", "x"], PIPED);
        assert_eq!(r.summary, SummaryFormat::Text);
    }

    #[test]
    fn flags_reach_the_description() {
        let r = resolve(
            &[
                "tattletail",
                "scan",
                "--fail-on-alert",
                "--no-index",
                "-j",
                "3",
                "--max-record-size",
                "1KiB",
                "a",
                "b",
            ],
            PIPED,
        );
        assert!(r.fail_on_alert && r.no_index && !r.send);
        assert_eq!((r.jobs, r.max_record), (3, 1024));
        assert_eq!(r.paths, ["a", "b"]);
    }
}
