//! `tattletail`: scan CloudTrail log files with a tattletail.toml (or the
//! built-in rule pack) and print the alerts.
//!
//! Exit status: 0 clean, 1 some input or record could not be read,
//! 2 invalid config or usage.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use tattletail_compiler::diag::render_all;
use tattletail_compiler::pack::{DEFAULT_PACK, DEFAULT_PACK_NAME};
use tattletail_runtime::output::{JsonLines, TextLines};
use tattletail_runtime::scan::{AlertSink, InputOutcome};
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
        /// Files, directories (scanned recursively for *.json and *.gz), or - for stdin.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The rules (default: the built-in rule pack).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Alert output format on stdout.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Evaluate every rule with jq on every record (no dispatch index);
        /// slow, for checking the index.
        #[arg(long)]
        no_index: bool,
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
    } = cli.command;
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
    let plan = &compiled.plan;
    let mut inputs = Vec::new();
    for p in &paths {
        collect_inputs(p, &mut inputs)?;
    }
    let stdout = io::stdout();
    let out = BufWriter::new(stdout.lock());
    let mut sink: Box<dyn AlertSink> = match format {
        Format::Text => Box::new(TextLines(out)),
        Format::Jsonl => Box::new(JsonLines(out)),
    };
    let mut scanner = if no_index {
        Scanner::with_matcher(Matcher::naive(plan))
    } else {
        Scanner::new(plan)
    };
    for input in &inputs {
        let (label, outcome) = if input.as_os_str() == "-" {
            (
                "<stdin>".to_string(),
                scanner.scan("<stdin>", io::stdin(), sink.as_mut()),
            )
        } else {
            let label = input.display().to_string();
            let outcome = match std::fs::File::open(input) {
                Ok(f) => scanner.scan(&label, f, sink.as_mut()),
                Err(e) => {
                    let why = format!("cannot open: {e}");
                    scanner.stats.failed.push((label.clone(), why.clone()));
                    Ok(InputOutcome::Failed(why))
                }
            };
            (label, outcome)
        };
        match outcome.context("cannot write alerts")? {
            InputOutcome::Scanned => {}
            InputOutcome::Skipped(why) => eprintln!("tattletail: skipped {label}: {why}"),
            InputOutcome::Failed(why) => eprintln!("tattletail: unreadable {label}: {why}"),
        }
    }
    drop(sink);
    io::stdout().flush().ok();
    eprint!("{}", summary::render(&scanner.stats, plan));
    Ok(if scanner.stats.had_read_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Expand a path: files as given, directories recursively (sorted; hidden
/// entries skipped; only *.json and *.gz files).
fn collect_inputs(p: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if p.as_os_str() == "-" || !p.is_dir() {
        // A missing file is reported when it is opened (exit status 1).
        out.push(p.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
        .with_context(|| format!("cannot list {}", p.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|e| {
            !e.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            collect_inputs(&e, out)?;
        } else {
            let n = e
                .file_name()
                .map(|n| n.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            if n.ends_with(".json") || n.ends_with(".gz") {
                out.push(e);
            }
        }
    }
    Ok(())
}
