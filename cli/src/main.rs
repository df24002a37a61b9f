//! `tattletail`: scan CloudTrail log files with a tattletail.toml (or the
//! built-in rule pack), check, test and explain rule files. See the library
//! ([`tattletail_cli`]) for how a run is put together, and
//! [`tattletail_cli::status`] for the exit statuses.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use tattletail_cli::args::{Cli, Command, ConfigArg};
use tattletail_cli::config::{self, to_stderr, to_stdout, LoadError, Loaded};
use tattletail_cli::console::note;
use tattletail_cli::driver;
use tattletail_cli::run::{ScanRun, Terminal};
use tattletail_cli::status::Status;
use tattletail_cli::{testing, version};
use tattletail_compiler::escape::escape;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    run(cli).into()
}

/// Load the rule file, printing its diagnostics; `nothing` (`scanned`,
/// `tested`) says what an invalid file stopped.
fn load(args: &ConfigArg, nothing: Option<&str>) -> Result<Loaded, Status> {
    match config::load(args.config.as_deref(), &args.sigma) {
        Ok(l) => {
            to_stderr(&l.warnings);
            Ok(l)
        }
        Err(e) => {
            if let LoadError::Invalid { rendered, name, .. } = &e {
                to_stderr(rendered);
                if let Some(what) = nothing {
                    note(format_args!(
                        "{} is invalid; nothing was {what}",
                        escape(name)
                    ));
                    return Err(Status::Fatal);
                }
            }
            note(&e);
            Err(Status::Fatal)
        }
    }
}

fn stdout_or_fail(text: &str) -> Status {
    match to_stdout(text) {
        Ok(()) => Status::Clean,
        Err(e) => {
            note(format_args!(
                "cannot write to stdout: {}",
                escape(&e.to_string())
            ));
            Status::Fatal
        }
    }
}

fn run(cli: Cli) -> Status {
    match cli.command {
        Command::Scan(args) => {
            let loaded = match load(&args.config, Some("scanned")) {
                Ok(l) => l,
                Err(s) => return s,
            };
            match ScanRun::resolve(&args, loaded, Terminal::detect()) {
                Ok(run) => driver::run(run),
                Err(e) => {
                    note(escape(&e));
                    Status::Fatal
                }
            }
        }
        Command::Check(c) => match load(&c, None) {
            Ok(l) => {
                to_stderr(&format!("{}\n", l.check_line()));
                Status::Clean
            }
            Err(s) => s,
        },
        Command::Explain(e) => match load(&e.config, None) {
            Ok(l) => stdout_or_fail(&l.explain(e.format)),
            Err(s) => s,
        },
        Command::Test(t) => match load(&t.config, Some("tested")) {
            Ok(l) => testing::run(&t, &l),
            Err(s) => s,
        },
        Command::Version => stdout_or_fail(&format!("tattletail {}\n", version::LONG)),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "tattletail", &mut out);
            stdout_or_fail(&String::from_utf8_lossy(&out))
        }
        Command::Man => {
            let mut out = Vec::new();
            match clap_mangen::Man::new(Cli::command()).render(&mut out) {
                Ok(()) => stdout_or_fail(&String::from_utf8_lossy(&out)),
                Err(e) => {
                    note(format_args!("cannot render the man page: {e}"));
                    Status::Fatal
                }
            }
        }
    }
}
