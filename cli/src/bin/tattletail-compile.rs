//! `tattletail-compile`: check a tattletail.toml and explain how each rule
//! will be evaluated. The same code as `tattletail check` and `tattletail
//! explain`, under the name the product's users know.
//!
//! Exit status: 0 valid, 2 invalid config or usage.

use std::process::ExitCode;

use clap::Parser;
use tattletail_cli::args::ExplainFormat;
use tattletail_cli::config::{self, to_stderr, to_stdout, LoadError};
use tattletail_cli::version;
use tattletail_compiler::escape::escape;

/// Check a tattletail.toml and show each rule's prefilter and evaluation plan.
#[derive(Parser)]
// `name`: clap's default is the package's (`tattletail-cli`), which
// `--version` printed. No bare `about`: that is the package description;
// the doc comment above is this command's.
#[command(
    name = "tattletail-compile",
    version = version::SHORT,
    long_version = version::LONG
)]
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
    #[arg(long, value_enum, requires = "explain")]
    format: Option<ExplainFormat>,
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    to_stderr(&format!("tattletail-compile: {msg}\n"));
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let loaded = match config::load(args.config.as_deref(), &[]) {
        Ok(l) => l,
        Err(e) => {
            if let LoadError::Invalid { rendered, .. } = &e {
                to_stderr(rendered);
                to_stderr(&format!("{e}\n"));
                return ExitCode::from(2);
            }
            return fail(e);
        }
    };
    to_stderr(&loaded.warnings);
    if args.explain {
        let text = loaded.explain(args.format.unwrap_or(ExplainFormat::Text));
        if let Err(e) = to_stdout(&text) {
            return fail(format_args!(
                "cannot write to stdout: {}",
                escape(&e.to_string())
            ));
        }
    } else {
        to_stderr(&format!("{}\n", loaded.check_line()));
    }
    ExitCode::SUCCESS
}
