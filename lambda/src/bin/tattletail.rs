//! `tattletail`: scan CloudTrail log files (local, stdin or `s3://`) with a
//! tattletail.toml (or the built-in rule pack), print the alerts and, with
//! `--send`, deliver them to the config's destinations exactly as the
//! Lambda does. S3 inputs and `--send` need the `aws` feature (default).
//!
//! Exit status: 0 clean, 1 some input or record could not be read or an
//! alert could not be delivered, 2 invalid config or usage.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use tattletail_compiler::diag::render_all;
use tattletail_compiler::pack::{DEFAULT_PACK, DEFAULT_PACK_NAME};
use tattletail_lambda::inputs::{self, Input};
use tattletail_lambda::limits;
use tattletail_runtime::output::{JsonLines, TextLines};
use tattletail_runtime::reader::parse_size;
use tattletail_runtime::scan::{AlertSink, InputOutcome, Source};
use tattletail_runtime::{summary, Matcher, Scanner};

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
            eprintln!("tattletail: {e:#}");
            ExitCode::from(2)
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
            eprint!("{}", render_all(&diags, &name, &source));
            eprintln!("tattletail: {name} is invalid; nothing was scanned");
            return Ok(ExitCode::from(2));
        }
    };
    if !compiled.warnings.is_empty() {
        eprint!("{}", render_all(&compiled.warnings, &name, &source));
    }
    let inputs = inputs::expand(&paths).map_err(anyhow::Error::msg)?;
    let remote = inputs.iter().any(|i| matches!(i, Input::S3(_)));
    if send && compiled.plan.destinations.is_empty() {
        eprintln!("tattletail: warning: {name} has no destinations; --send sends nothing");
    }
    if remote || send {
        return run_aws(compiled, inputs, format, no_index, send, jobs.unwrap_or(8));
    }
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let plan = &compiled.plan;
    let stdout = io::stdout();
    let out = BufWriter::new(stdout.lock());
    let mut sink: Box<dyn AlertSink> = match format {
        Format::Text => Box::new(TextLines(out)),
        Format::Jsonl => Box::new(JsonLines(out)),
    };
    let scanner = if no_index {
        Scanner::with_matcher(Matcher::naive(plan))
    } else {
        Scanner::new(plan)
    };
    let mut scanner = scanner.with_workers(jobs).with_max_record_size(max_record);
    // Files are opened as the scan reaches them.
    let sources = inputs.iter().map(|input| -> Source {
        match input {
            Input::Stdin => ("<stdin>".to_string(), Ok(Box::new(io::stdin()))),
            Input::File(path) => (
                path.display().to_string(),
                std::fs::File::open(path).map(|f| Box::new(f) as Box<dyn io::Read + Send>),
            ),
            Input::S3(_) => unreachable!("S3 inputs take the AWS path"),
        }
    });
    scanner
        .scan_all(
            sources,
            sink.as_mut(),
            &mut |label, outcome| match outcome {
                InputOutcome::Scanned => {}
                InputOutcome::Skipped(why) => eprintln!("tattletail: skipped {label}: {why}"),
                InputOutcome::Failed(why) => eprintln!("tattletail: unreadable {label}: {why}"),
            },
        )
        .context("cannot write alerts")?;
    drop(sink);
    io::stdout().flush().ok();
    eprint!("{}", summary::render(&scanner.stats, plan));
    Ok(if scanner.stats.had_read_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// S3 inputs and `--send`: the Lambda's reading and delivery code.
#[cfg(feature = "aws")]
fn run_aws(
    compiled: tattletail_compiler::plan::Compiled,
    inputs: Vec<Input>,
    format: Format,
    no_index: bool,
    send: bool,
    jobs: usize,
) -> anyhow::Result<ExitCode> {
    use std::sync::{Arc, Mutex};
    use tattletail_lambda::remote;

    tattletail_lambda::logging::init_cli();
    let compiled = Arc::new(compiled);
    let out = BufWriter::new(io::stdout());
    let sink: Box<dyn AlertSink + Send> = match format {
        Format::Text => Box::new(TextLines(out)),
        Format::Jsonl => Box::new(JsonLines(out)),
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
    let totals = runtime
        .block_on(remote::run(compiled.clone(), inputs, printer.clone(), opts))
        .map_err(anyhow::Error::msg)?;
    if let Ok(mut p) = printer.lock() {
        drop(std::mem::replace(&mut *p, Box::new(TextLines(io::sink()))));
    }
    io::stdout().flush().ok();
    eprint!("{}", summary::render(&totals.stats, &compiled.plan));
    if send {
        eprintln!(
            "sent: {} delivered, {} undelivered",
            totals.delivered, totals.undelivered
        );
    }
    Ok(
        if totals.stats.had_read_errors() || totals.undelivered > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        },
    )
}

#[cfg(not(feature = "aws"))]
fn run_aws(
    _: tattletail_compiler::plan::Compiled,
    _: Vec<Input>,
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
