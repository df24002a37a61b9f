#![forbid(unsafe_code)]
//! The reference engine of Tattletail's differential tests: rules run by
//! jaq (pinned in the workspace manifest) with a prelude of the jq builtins
//! jaq lacks, regexes on the `regex` crate, and `env` removed. The product
//! never runs it: rules are evaluated natively (`tattletail_runtime::eval`);
//! the tests require both engines to agree (and the `jq` CLI).
//!
//! Match semantics (upstream's `Rule.Match`): only the **first** output of
//! the program counts. No output, an error before the first output, `null`
//! or `false` means no alert; any other value is an alert, annotated with
//! that value.

mod natives;

pub use natives::build_regex;

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use jaq_core::load::{self, Arena, File, Loader};
use jaq_core::{data, Compiler, Ctx, Vars};
use jaq_json::Val;

/// The data kind our filters run on.
pub type Data = data::JustLut<Val>;

/// The jq source of our prelude.
pub const PRELUDE: &str = include_str!("prelude.jq");

/// Global variables: `$ENV` (always `{}`) and the index of the rule to run
/// in a program compiled from several rules.
const GLOBALS: &[&str] = &["$ENV", "$__tt_rule"];

/// A jq syntax or compile error, located in the jq source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JqError {
    /// What is wrong.
    pub message: String,
    /// Byte range in the jq source.
    pub span: Range<usize>,
}

/// A compiled jq program, ready to run on records.
///
/// Programs compiled together ([`JqProgram::compile_all`]) share one jaq
/// filter: each rule is a `def`, and the main term picks the rule given by
/// `$__tt_rule` through a balanced tree of `if`s. jaq compiles its whole
/// standard library once per filter, so this makes loading a config of
/// many rules about as fast as loading one (cold start). The `if` tree
/// costs about 1.4 µs per evaluation, so on its first evaluation a rule is
/// compiled alone (once, ~0.5 ms) and runs from then on without the tree.
#[derive(Clone)]
pub struct JqProgram {
    filter: Arc<jaq_core::Filter<Data>>,
    index: usize,
    /// The program's own source, when it shares a filter.
    code: Option<Arc<str>>,
    /// The program compiled alone, once it has been needed.
    alone: Arc<OnceLock<Option<JqProgram>>>,
}

impl std::fmt::Debug for JqProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JqProgram")
    }
}

/// What the first output of a program was.
#[derive(Clone, Debug, PartialEq)]
pub enum FirstOutput {
    /// The program produced no output.
    Empty,
    /// The first output.
    Value(Val),
    /// The program failed before its first output.
    Error(String),
}

impl FirstOutput {
    /// Upstream's decision: is this an alert? (`null`, `false`, no output
    /// and errors are not.)
    pub fn is_alert(&self) -> bool {
        matches!(self, FirstOutput::Value(v) if !matches!(v, Val::Null | Val::Bool(false)))
    }
}

fn defs() -> impl Iterator<Item = load::parse::Def<&'static str>> {
    let prelude = load::parse(PRELUDE, |p| p.defs()).expect("the prelude parses");
    jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs())
        .chain(prelude)
}

fn funs() -> impl Iterator<Item = jaq_core::native::Fun<Data>> {
    let base = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs());
    base.filter(|(name, _, _)| !natives::REMOVED.contains(name))
        .map(|(name, args, f)| {
            let renamed = natives::RENAMED.iter().find(|(from, _)| *from == name);
            (renamed.map_or(name, |(_, to)| *to), args, f)
        })
        .chain(natives::funs())
}

/// The jq source of a program that runs rule `$__tt_rule` of `codes`.
fn combined_source(codes: &[&str]) -> String {
    fn tree(lo: usize, hi: usize, out: &mut String) {
        if hi - lo == 1 {
            out.push_str(&format!("__tt_rule_{lo}"));
            return;
        }
        let mid = (lo + hi) / 2;
        out.push_str(&format!("if $__tt_rule < {mid} then "));
        tree(lo, mid, out);
        out.push_str(" else ");
        tree(mid, hi, out);
        out.push_str(" end");
    }
    let mut src = String::new();
    for (i, code) in codes.iter().enumerate() {
        // Newlines keep a trailing `#` comment from swallowing the `;`.
        src.push_str(&format!("def __tt_rule_{i}:\n{code}\n;\n"));
    }
    if codes.is_empty() {
        src.push_str("empty");
    } else {
        tree(0, codes.len(), &mut src);
    }
    src
}

impl JqProgram {
    /// Compile several programs at once, sharing jaq's compiled standard
    /// library. On any error, every program is compiled alone so that each
    /// error is located in its own program: `Err` lists (program index, error).
    pub fn compile_all(codes: &[&str]) -> Result<Vec<JqProgram>, Vec<(usize, JqError)>> {
        let combined = combined_source(codes);
        if let Ok(p) = Self::compile(&combined) {
            return Ok(codes
                .iter()
                .enumerate()
                .map(|(index, code)| JqProgram {
                    filter: p.filter.clone(),
                    index,
                    code: Some(Arc::from(*code)),
                    alone: Arc::default(),
                })
                .collect());
        }
        let mut errors = Vec::new();
        let mut programs = Vec::new();
        for (i, code) in codes.iter().enumerate() {
            match Self::compile(code) {
                Ok(p) => programs.push(p),
                Err(es) => errors.extend(es.into_iter().map(|e| (i, e))),
            }
        }
        if errors.is_empty() {
            // Each compiles alone but not together: should not happen; use
            // the separately compiled programs.
            return Ok(programs);
        }
        Err(errors)
    }

    /// Parse and compile `code`. Errors are located in `code`.
    pub fn compile(code: &str) -> Result<JqProgram, Vec<JqError>> {
        let arena = Arena::default();
        let loader = Loader::new(defs());
        let modules = loader
            .load(&arena, File { code, path: () })
            .map_err(|errs| {
                let mut out = Vec::new();
                for (_file, err) in errs {
                    match err {
                        load::Error::Io(items) => {
                            out.extend(items.into_iter().map(|(s, msg)| JqError {
                                message: format!("modules cannot be imported in rules: {msg}"),
                                span: span_of(code, s),
                            }))
                        }
                        load::Error::Lex(items) => {
                            out.extend(items.into_iter().map(|(expect, s)| JqError {
                                message: format!("jq syntax: expected {}", expect.as_str()),
                                span: span_of(code, s),
                            }))
                        }
                        load::Error::Parse(items) => {
                            out.extend(items.into_iter().map(|(expect, s)| {
                                let found = if s.is_empty() {
                                    "end of program".to_string()
                                } else {
                                    format!("`{s}`")
                                };
                                JqError {
                                    message: format!(
                                        "jq syntax: expected {}, found {found}",
                                        expect.as_str()
                                    ),
                                    span: span_of(code, s),
                                }
                            }))
                        }
                    }
                }
                out
            })?;
        let filter = Compiler::default()
            .with_funs(funs())
            .with_global_vars(GLOBALS.iter().copied())
            .compile(modules)
            .map_err(|errs| {
                errs.into_iter()
                    .flat_map(|(_file, items)| items)
                    .map(|(name, undefined)| JqError {
                        message: format!("undefined {} `{name}`", undefined.as_str()),
                        span: span_of(code, name),
                    })
                    .collect::<Vec<_>>()
            })?;
        Ok(JqProgram {
            filter: Arc::new(filter),
            index: 0,
            code: None,
            alone: Arc::default(),
        })
    }

    /// The program to run: compiled alone if it can be, else the shared one.
    fn runnable(&self) -> &JqProgram {
        match &self.code {
            None => self,
            Some(code) => self
                .alone
                .get_or_init(|| Self::compile(code).ok())
                .as_ref()
                .unwrap_or(self),
        }
    }

    fn vars(&self) -> Vars<Val> {
        Vars::new([
            Val::obj(jaq_json::Map::default()),
            Val::from(self.index as isize),
        ])
    }

    /// Run on one input and collect every output (for tests and tools; the
    /// alerting path uses [`JqProgram::first_output`]).
    pub fn all_outputs(&self, input: Val) -> Vec<Result<Val, String>> {
        let this = self.runnable();
        let ctx = Ctx::<Data>::new(&this.filter.lut, this.vars());
        let outputs = this.filter.id.run((ctx, input)).map(jaq_core::unwrap_valr);
        outputs.map(|r| r.map_err(|e| e.to_string())).collect()
    }

    /// Run on one input and keep only the first output.
    pub fn first_output(&self, input: Val) -> FirstOutput {
        let this = self.runnable();
        let ctx = Ctx::<Data>::new(&this.filter.lut, this.vars());
        let mut outputs = this.filter.id.run((ctx, input)).map(jaq_core::unwrap_valr);
        match outputs.next() {
            None => FirstOutput::Empty,
            Some(Ok(v)) => FirstOutput::Value(v),
            Some(Err(e)) => FirstOutput::Error(e.to_string()),
        }
    }
}

/// Byte range of `part` in `whole`; `part` may be a slice of the prelude or
/// of jaq's definitions, in which case the error is put at the start.
fn span_of(whole: &str, part: &str) -> Range<usize> {
    let (w, p) = (whole.as_ptr() as usize, part.as_ptr() as usize);
    if p >= w && p + part.len() <= w + whole.len() {
        load::span(whole, part)
    } else {
        0..0
    }
}

/// Parse one JSON value (a test record) into a jaq value.
pub fn parse_json(bytes: &[u8]) -> Result<Val, String> {
    jaq_json::read::parse_single(bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
