//! Loading a rule file, once, for every subcommand and for
//! `tattletail-compile`: read it (or take the built-in pack), compile it,
//! render every diagnostic with line and column. Also what `check` and
//! `explain` print.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tattletail_compiler::config::SigmaInput;
use tattletail_compiler::diag::render_all;
use tattletail_compiler::escape::{escape, escape_json};
use tattletail_compiler::explain;
use tattletail_compiler::pack::{DEFAULT_PACK, DEFAULT_PACK_NAME};
use tattletail_compiler::plan::{compile_with, Compiled};
use tattletail_compiler::sigma::SigmaFile;

use crate::args::ExplainFormat;

/// A compiled rule file.
pub struct Loaded {
    /// Its name in messages (the path, or the built-in pack's name).
    pub name: String,
    /// Its text (diagnostics and explain point into it).
    pub source: String,
    /// The plan.
    pub compiled: Compiled,
    /// Its warnings, rendered (empty when none).
    pub warnings: String,
}

/// Why a rule file could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read.
    Read {
        /// The path.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// It has errors: every diagnostic, rendered.
    Invalid {
        /// The file's name.
        name: String,
        /// The diagnostics (errors and warnings), rendered.
        rendered: String,
        /// How many errors.
        errors: usize,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Read { path, error } => write!(
                f,
                "cannot read config {}: {}",
                escape(&path.display().to_string()),
                escape(&error.to_string())
            ),
            LoadError::Invalid { name, errors, .. } => write!(
                f,
                "{}: {errors} error{} found; nothing was compiled",
                escape(name),
                if *errors == 1 { "" } else { "s" }
            ),
        }
    }
}

impl std::error::Error for LoadError {}

/// Load `path` (or the built-in rule pack) with the Sigma rules its
/// `[[sigma]]` tables name and those at `sigma`. With `sigma` and no
/// `path`, the Sigma rules are the only rules.
pub fn load(path: Option<&Path>, sigma: &[PathBuf]) -> Result<Loaded, LoadError> {
    let (name, source) = match path {
        Some(p) => (
            p.display().to_string(),
            std::fs::read_to_string(p).map_err(|error| LoadError::Read {
                path: p.to_path_buf(),
                error,
            })?,
        ),
        None if !sigma.is_empty() => (sigma_name(sigma), String::new()),
        None => (DEFAULT_PACK_NAME.to_string(), DEFAULT_PACK.to_string()),
    };
    let mut extra = Vec::new();
    for p in sigma {
        extra.extend(sigma_files(p).map_err(|error| LoadError::Read {
            path: p.clone(),
            error,
        })?);
    }
    let base = path
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut resolve =
        |rel: &str| sigma_files(&lexically_normal(&base.join(rel))).map_err(|e| e.to_string());
    let mut input = SigmaInput {
        resolve: &mut resolve,
        extra,
    };
    match compile_with(&source, &mut input) {
        Ok(compiled) => {
            let mut diags = compiled.warnings.clone();
            let now = tattletail_compiler::date::now();
            diags.extend(
                compiled
                    .plan
                    .exceptions
                    .iter()
                    .filter(|e| e.expired(now))
                    .map(|e| e.expired_warning()),
            );
            let warnings = if diags.is_empty() {
                String::new()
            } else {
                render_all(&diags, &name, &source)
            };
            Ok(Loaded {
                name,
                source,
                compiled,
                warnings,
            })
        }
        Err(diags) => Err(LoadError::Invalid {
            rendered: render_all(&diags, &name, &source),
            errors: diags.iter().filter(|d| d.is_error()).count(),
            name,
        }),
    }
}

impl Loaded {
    /// What `check` says about a valid file.
    pub fn check_line(&self) -> String {
        let p = &self.compiled.plan;
        let s = |n: usize| if n == 1 { "" } else { "s" };
        let routes = match p.routes.len() {
            0 => String::new(),
            n => format!(" and {n} route{}", s(n)),
        };
        let sigma = p.rules.iter().filter(|r| r.config.sigma.is_some()).count();
        let from_sigma = match (sigma, p.correlations.len()) {
            (0, 0) => String::new(),
            (n, 0) => format!(" ({n} from Sigma)"),
            (n, c) => format!(" ({n} from Sigma, and {c} correlation{})", s(c)),
        };
        format!(
            "{}: ok, {} rule{}{from_sigma}{} {} destination{}{routes}",
            escape(&self.name),
            p.rules.len(),
            s(p.rules.len()),
            if routes.is_empty() { " and" } else { "," },
            p.destinations.len(),
            s(p.destinations.len()),
        )
    }

    /// `explain`'s output.
    pub fn explain(&self, format: ExplainFormat) -> String {
        match format {
            ExplainFormat::Text => explain::text(&self.compiled.plan, &self.name, &self.source),
            ExplainFormat::Json => {
                escape_json(&explain::json(&self.compiled.plan, &self.source)).into_owned()
            }
            ExplainFormat::Jq => tattletail_compiler::sigma::view::toml(&self.compiled.plan),
        }
    }
}

/// The name of a run whose only rules are the Sigma rules at `paths`:
/// the paths (`running 2 tests from sigma/aws`, `sigma/aws: ok, …`).
fn sigma_name(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}

/// `a/b/../c` → `a/c` (without touching the file system, so messages
/// show the path as the user would write it).
fn lexically_normal(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// The Sigma rule files at `path`: the file itself, or every `.yml` and
/// `.yaml` file under the directory (recursively, sorted by path), each
/// with its tests file (`<stem>_tests.json` next to it) when there is one.
pub fn sigma_files(path: &Path) -> io::Result<Vec<SigmaFile>> {
    tattletail_runtime::sigma_files::read(path)
}

/// Write `text` to stdout; a reader that went away (`| head`) is not an
/// error.
pub fn to_stdout(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e),
        _ => Ok(()),
    }
}

/// Text on stderr; never panics.
pub fn to_stderr(text: &str) {
    let _ = io::stderr().lock().write_all(text.as_bytes());
}
