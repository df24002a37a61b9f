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
            quiet: args.quiet,
            summary,
            fail_on_alert: args.fail_on_alert,
            no_index: args.no_index,
            send: args.send(),
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
