//! `tattletail-compile`: check a tattletail.toml and explain how each rule
//! will be evaluated.
//!
//! Exit status: 0 valid, 2 invalid config or usage.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use tattletail_compiler::diag::render_all;
use tattletail_compiler::escape::{escape, escape_json};
use tattletail_compiler::pack::{DEFAULT_PACK, DEFAULT_PACK_NAME};
use tattletail_compiler::{compile, explain};

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// Check a tattletail.toml and show each rule's prefilter and evaluation plan.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The config file (default: the built-in rule pack).
    #[arg(long, short)]
    config: Option<std::path::PathBuf>,
    /// Show each rule's prefilter and how it will be evaluated.
    #[arg(long)]
    explain: bool,
    /// Validate only (the default when --explain is not given).
    #[arg(long, conflicts_with = "explain")]
    check: bool,
    /// Output format of --explain.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tattletail-compile: {}", escape(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let (name, source) = match &args.config {
        Some(p) => (
            p.display().to_string(),
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read config {}", p.display()))?,
        ),
        None => (DEFAULT_PACK_NAME.to_string(), DEFAULT_PACK.to_string()),
    };
    let compiled = match compile(&source) {
        Ok(c) => c,
        Err(diags) => {
            eprint!("{}", render_all(&diags, &name, &source));
            let n = diags.iter().filter(|d| d.is_error()).count();
            eprintln!(
                "{}: {n} error{} found; nothing was compiled",
                escape(&name),
                if n == 1 { "" } else { "s" }
            );
            return Ok(ExitCode::from(2));
        }
    };
    if !compiled.warnings.is_empty() {
        eprint!("{}", render_all(&compiled.warnings, &name, &source));
    }
    if args.explain {
        let text = match args.format {
            Format::Text => explain::text(&compiled.plan, &name, &source),
            Format::Json => escape_json(&explain::json(&compiled.plan, &source)).into_owned(),
        };
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => {}
            // The reader went away (`| head`): not an error.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => anyhow::bail!("cannot write to stdout: {e}"),
        }
    } else {
        let p = &compiled.plan;
        eprintln!(
            "{}: ok, {} rule{} and {} destination{}",
            escape(&name),
            p.rules.len(),
            if p.rules.len() == 1 { "" } else { "s" },
            p.destinations.len(),
            if p.destinations.len() == 1 { "" } else { "s" },
        );
    }
    Ok(ExitCode::SUCCESS)
}
