//! `tattletail`: scan CloudTrail log files (local, stdin or `s3://`) with a
//! tattletail.toml (or the built-in rule pack), print the alerts and, with
//! `--send`, deliver them to the config's destinations exactly as the
//! Lambda does. S3 inputs and `--send` need the `aws` feature (default).
//!
//! Exit status: 0 clean (also when the reader of stdout went away, as
//! with `| head`), 1 some input or record could not be read, no input was
//! a CloudTrail log, or an alert could not be delivered, 2 invalid config
//! or usage, or nothing to scan, 3 alerts could not be written to stdout.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use tattletail_compiler::diag::render_all;
use tattletail_compiler::escape::escape;
use tattletail_compiler::pack::{DEFAULT_PACK, DEFAULT_PACK_NAME};
use tattletail_lambda::console::{note, Guarded, OutState, Shared};
use tattletail_lambda::inputs::{self, Expanded, Input, Report};
use tattletail_lambda::limits;
use tattletail_runtime::output::{JsonLines, TextLines};
use tattletail_runtime::reader::parse_size;
use tattletail_runtime::scan::{AlertSink, InputOutcome, Source};
use tattletail_runtime::{summary, Matcher, Scanner, Stats};

/// Some input or record could not be read, or no input was a CloudTrail log.
const PARTIAL: u8 = 1;
/// Invalid config or usage, or nothing to scan: nothing was scanned.
const USAGE: u8 = 2;
/// Alerts could not be written to stdout: the scan stopped.
const OUTPUT_FAILED: u8 = 3;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(version, about = "CloudTrail alerting with jq rules")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// One readable line per alert.
    Text,
    /// One JSON object per alert.
    Jsonl,
}

#[derive(Subcommand)]
enum Command {
    /// Scan CloudTrail log files (.json or .json.gz; gzip is detected by content).
    Scan {
        /// Files, directories (scanned recursively for *.json and *.gz), - for
        /// stdin, or s3://bucket/prefix/ (every object under the prefix).
        #[arg(required = true)]
        paths: Vec<String>,
        /// The rules (default: the built-in rule pack).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Alert output format on stdout.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Evaluate every rule on every record (no dispatch index, no
        /// literal checks); slow, for checking the index.
        #[arg(long)]
        no_index: bool,
        /// Deliver alerts to the config's destinations (SNS, SES, Slack)
        /// as the Lambda does; without it alerts are only printed.
        #[arg(long)]
        send: bool,
        /// Threads evaluating records (default: the number of cores); with
        /// s3:// inputs, objects read at once (default 8).
        #[arg(long)]
        jobs: Option<usize>,
        /// Skip (and report) records larger than this, e.g. 64MiB (the
        /// default; also TATTLETAIL_MAX_RECORD_BYTES). The rest of the
        /// file is read.
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        max_record_size: Option<usize>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            note(escape(&format!("{e:#}")));
            ExitCode::from(USAGE)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let Command::Scan {
        paths,
        config,
        format,
        no_index,
        send,
        jobs,
        max_record_size,
    } = cli.command;
    if let Some(n) = max_record_size {
        limits::set_max_record_size(n);
    }
    let max_record = limits::max_record_size().map_err(anyhow::Error::msg)?;
    let (name, source) = match &config {
        Some(p) => (
            p.display().to_string(),
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read config {}", p.display()))?,
        ),
        None => (DEFAULT_PACK_NAME.to_string(), DEFAULT_PACK.to_string()),
    };
    let compiled = match tattletail_compiler::compile(&source) {
        Ok(c) => c,
        Err(diags) => {
            to_stderr(&render_all(&diags, &name, &source));
            note(format_args!(
                "{} is invalid; nothing was scanned",
                escape(&name)
            ));
            return Ok(ExitCode::from(USAGE));
        }
    };
    if !compiled.warnings.is_empty() {
        to_stderr(&render_all(&compiled.warnings, &name, &source));
    }
    let expanded = inputs::expand(&paths);
    for r in &expanded.reports {
        note(r);
    }
    if expanded.inputs.is_empty() {
        return Ok(nothing_to_scan(&expanded, &paths));
    }
    for p in &expanded.problems {
        note(p);
    }
    let remote = expanded.inputs.iter().any(|i| matches!(i, Input::S3(_)));
    if send && compiled.plan.destinations.is_empty() {
        note(format_args!(
            "warning: {} has no destinations; --send sends nothing",
            escape(&name)
        ));
    }
    if remote || send {
        return run_aws(
            compiled,
            expanded,
            format,
            no_index,
            send,
            jobs.unwrap_or(8),
        );
    }
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let plan = &compiled.plan;
    let state = OutState::new(false);
    // Shared with the report below, which flushes after each input: its
    // alerts are out before the next input is opened (a FIFO named on the
    // command line may wait for its writer).
    let mut out = Shared(Arc::new(Mutex::new(BufWriter::new(Guarded::new(
        io::stdout(),
        state.clone(),
    )))));
    let mut sink: Box<dyn AlertSink + '_> = match format {
        Format::Text => Box::new(TextLines(out.clone())),
        Format::Jsonl => Box::new(JsonLines(out.clone())),
    };
    let scanner = if no_index {
        Scanner::with_matcher(Matcher::naive(plan))
    } else {
        Scanner::new(plan)
    };
    let mut scanner = scanner.with_workers(jobs).with_max_record_size(max_record);
    // Files are opened as the scan reaches them; none once stdout is closed.
    let sources = expanded
        .inputs
        .iter()
        .take_while(|_| !state.closed())
        .map(|input| -> Source {
            let read = match input {
                Input::Stdin => Ok(Box::new(io::stdin()) as Box<dyn io::Read + Send>),
                Input::File(_) | Input::Found(..) => {
                    inputs::open(input).map(|f| Box::new(f) as Box<dyn io::Read + Send>)
                }
                Input::S3(_) => unreachable!("S3 inputs take the AWS path"),
            };
            (input.label(), read)
        });
    let mut flusher = out.clone();
    let scanned = scanner.scan_all(sources, sink.as_mut(), &mut |label, outcome| {
        report(label, outcome);
        // An error shows again at the next write or the final flush.
        let _ = flusher.flush();
    });
    drop(sink);
    let written = scanned.and_then(|()| out.flush());
    let mut stats = std::mem::take(&mut scanner.stats);
    count_walk(&mut stats, &expanded);
    Ok(finish(written, &state, &stats, plan, &[]))
}

/// An input's outcome on stderr.
fn report(label: &str, outcome: &InputOutcome) {
    match outcome {
        InputOutcome::Scanned => {}
        InputOutcome::Skipped(why) => {
            note(format_args!("skipped {}: {}", escape(label), escape(why)))
        }
        InputOutcome::Failed(why) => note(format_args!(
            "unreadable {}: {}",
            escape(label),
            escape(why)
        )),
    }
}

/// Count what the walk left out: special files as skipped inputs, problems
/// as unreadable ones (exit status 1).
fn count_walk(stats: &mut Stats, expanded: &Expanded) {
    for r in &expanded.reports {
        if let Report::NotRegular { path, kind } = r {
            stats.skipped.push((
                path.display().to_string(),
                format!("{kind}, not a regular file"),
            ));
        }
    }
    for p in &expanded.problems {
        stats
            .failed
            .push((p.path().display().to_string(), p.reason()));
    }
}

/// No input at all: nothing was scanned.
fn nothing_to_scan(expanded: &Expanded, paths: &[String]) -> ExitCode {
    let named: Vec<String> = paths.iter().map(|p| escape(p).into_owned()).collect();
    let unreadable = expanded
        .problems
        .iter()
        .any(|p| !matches!(p, inputs::Problem::NoLogs { .. }));
    for p in &expanded.problems {
        note(p);
    }
    if unreadable {
        note(format_args!(
            "nothing could be scanned in {} (see the lines above)",
            named.join(" ")
        ));
        ExitCode::from(PARTIAL)
    } else {
        note(
            "no CloudTrail log file to scan, nothing was scanned: directories are searched \
             recursively for *.json and *.gz files (name a file on the command line to scan it \
             whatever its name)",
        );
        ExitCode::from(USAGE)
    }
}

/// The end of a scan: the summary and the exit status. `written` is how
/// writing the alerts went: when the reader of stdout went away (`| head`)
/// the scan ends quietly with status 0, as `grep` does.
fn finish(
    written: io::Result<()>,
    state: &OutState,
    stats: &Stats,
    plan: &tattletail_compiler::plan::Plan,
    extra: &[String],
) -> ExitCode {
    if let Err(e) = written {
        if state.is_closed_error(&e) {
            return ExitCode::SUCCESS;
        }
        // The counts would include alerts that were not written: no summary.
        return output_failed(&e);
    }
    to_stderr(&summary::render(stats, plan));
    for line in extra {
        to_stderr(&format!("{line}\n"));
    }
    if stats.files == 0 {
        let (skipped, failed) = (stats.skipped.len(), stats.failed.len());
        if skipped + failed == 0 {
            // An s3:// prefix with no object under it.
            note("no CloudTrail log was found: the inputs held no file");
        } else {
            note(format_args!(
                "none of the inputs is a CloudTrail log ({skipped} skipped, {failed} \
                 unreadable; see the lines above)"
            ));
        }
        return ExitCode::from(PARTIAL);
    }
    if stats.had_read_errors() {
        ExitCode::from(PARTIAL)
    } else {
        ExitCode::SUCCESS
    }
}

/// Writing alerts to stdout failed (not because its reader went away).
fn output_failed(e: &io::Error) -> ExitCode {
    note(format_args!(
        "cannot write alerts to stdout: {}; alerts were lost and the scan stopped there",
        escape(&e.to_string())
    ));
    ExitCode::from(OUTPUT_FAILED)
}

/// Text on stderr; never panics.
fn to_stderr(text: &str) {
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

/// S3 inputs and `--send`: the Lambda's reading and delivery code.
#[cfg(feature = "aws")]
fn run_aws(
    compiled: tattletail_compiler::plan::Compiled,
    expanded: Expanded,
    format: Format,
    no_index: bool,
    send: bool,
    jobs: usize,
) -> anyhow::Result<ExitCode> {
    use tattletail_lambda::remote::{self, RunError};

    tattletail_lambda::logging::init_cli();
    let compiled = Arc::new(compiled);
    // With --send, a closed stdout stops the printing, not the sending.
    let state = OutState::new(send);
    let out = Shared(Arc::new(Mutex::new(BufWriter::new(Guarded::new(
        io::stdout(),
        state.clone(),
    )))));
    let sink: Box<dyn AlertSink + Send> = match format {
        Format::Text => Box::new(TextLines(out.clone())),
        Format::Jsonl => Box::new(JsonLines(out.clone())),
    };
    let printer = Arc::new(Mutex::new(sink));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let opts = remote::Options {
        jobs,
        send,
        no_index,
    };
    let inputs = expanded.inputs.clone();
    let totals = runtime.block_on(remote::run(compiled.clone(), inputs, printer, opts));
    let (mut totals, written) = match totals {
        Ok(t) => {
            let mut out = out;
            let flushed = out.flush();
            (t, flushed)
        }
        Err(RunError::Output(e)) => {
            if state.is_closed_error(&e) {
                return Ok(ExitCode::SUCCESS);
            }
            return Ok(output_failed(&e));
        }
        Err(e @ RunError::Setup(_)) => anyhow::bail!("{e}"),
    };
    count_walk(&mut totals.stats, &expanded);
    let sent = send.then(|| {
        format!(
            "sent: {} delivered, {} undelivered",
            totals.delivered, totals.undelivered
        )
    });
    let code = finish(
        written,
        &state,
        &totals.stats,
        &compiled.plan,
        sent.as_slice(),
    );
    Ok(if code == ExitCode::SUCCESS && totals.undelivered > 0 {
        ExitCode::from(PARTIAL)
    } else {
        code
    })
}

#[cfg(not(feature = "aws"))]
fn run_aws(
    _: tattletail_compiler::plan::Compiled,
    _: Expanded,
    _: Format,
    _: bool,
    _: bool,
    _: usize,
) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "s3:// inputs and --send need AWS support, which this build left out; \
         build with the default features (cargo install --path lambda)"
    )
}
