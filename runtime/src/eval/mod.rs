//! Native evaluation of rules: the compiler's IR run directly on a record's
//! simd-json tape, with jq's semantics (gojq's where jq 1.6 and gojq
//! differ), first-output semantics, and a budget on every evaluation.
//! No jq interpreter runs at scan time.
//!
//! - [`value`]: values (tape-backed or built), jq's order and equality.
//! - `interp`: the evaluator (continuation-passing for generators, direct
//!   for single-output nodes), frames for recursive functions.
//! - `paths`: path expressions, `getpath`/`setpath`/`delpaths`, assignment.
//! - `funcs`, `builtins`, `regex`, `format`, `time`: the builtins.
//! - [`json`]: printing and parsing JSON text, with nesting limits.
//! - [`budget`]: the limits and what exceeding one means.

pub mod budget;
mod builtins;
mod format;
mod funcs;
mod interp;
pub mod json;
mod paths;
mod regex;
pub mod root;
mod time;
pub mod value;

pub use budget::{Exceeded, Limits};
pub use root::RootIndex;
pub use value::Value;

use tattletail_compiler::ir::{Node, Program};

use interp::{Interp, Stop};

/// A program's constants as values and its literal regexes, made once per
/// thread: values are reference-counted, not shared across threads, and a
/// regex used from several threads goes through a shared cache pool (each
/// clone has its own, so each worker runs at full speed).
#[derive(Debug)]
pub struct Prepared {
    consts: Vec<Option<Value<'static>>>,
    regexes: Vec<tattletail_compiler::ir::RegexLit>,
}

impl Prepared {
    /// Prepare `prog`'s constants.
    pub fn new(prog: &Program) -> Prepared {
        let consts = prog
            .nodes
            .iter()
            .map(|n| match n {
                Node::Const(c) => Some(value::from_const(c)),
                _ => None,
            })
            .collect();
        Prepared {
            consts,
            regexes: prog.regexes.clone(),
        }
    }
}

/// How an evaluation ended.
#[derive(Debug)]
pub enum First<'t> {
    /// No output.
    Empty,
    /// The first output.
    Value(Value<'t>),
    /// An error before the first output, with jq's message.
    Error(String),
    /// A budget ran out before the first output.
    Budget(Exceeded),
}

impl First<'_> {
    /// Upstream's decision: an output other than `null` and `false`.
    pub fn is_alert(&self) -> bool {
        matches!(self, First::Value(v) if v.truthy())
    }
}

/// The message of a jq error value (a string as is, anything else as JSON
/// followed by "(not a string)", as jq says it).
pub fn error_message(v: &Value<'_>) -> String {
    match v.as_str() {
        Some(s) => s.to_string(),
        None => {
            let mut s = String::new();
            let _ = json::write_value(&mut s, v, 16, 4096);
            format!("{s} (not a string)")
        }
    }
}

fn stop_to_first<'t>(mut s: Stop<'t>) -> First<'t> {
    loop {
        return match s {
            Stop::Error(v) => First::Error(error_message(&v)),
            Stop::Budget(b) => First::Budget(b),
            Stop::Break(_) => First::Error("break without a matching label".into()),
            Stop::Downstream(e) => {
                s = *e;
                continue;
            }
        };
    }
}

/// The first output of `prog` on `input`, within `limits`. `root`, when
/// given, indexes the record's top-level fields (built once per record).
pub fn first_output<'p, 't>(
    prog: &'p Program,
    prep: &'p Prepared,
    input: Value<'t>,
    limits: Limits,
    root: Option<&'p RootIndex<'t>>,
) -> First<'t> {
    let mut ev = Interp::new(prog, prep, limits);
    if let Some(r) = root {
        ev = ev.with_root(r);
    }
    match ev.first(prog.root, input) {
        Ok(Some(v)) => First::Value(v),
        Ok(None) => First::Empty,
        Err(s) => stop_to_first(s),
    }
}

/// Every output of `prog` on `input` (for tests and tools), stopping at
/// the first error.
pub fn all_outputs<'t>(
    prog: &Program,
    prep: &Prepared,
    input: Value<'t>,
    limits: Limits,
) -> Vec<Result<Value<'t>, String>> {
    let mut ev = Interp::new(prog, prep, limits);
    let mut out = Vec::new();
    let r = ev.run(prog.root, input, &mut |_, v| {
        out.push(Ok(v));
        Ok(())
    });
    if let Err(s) = r {
        out.push(Err(match stop_to_first(s) {
            First::Error(m) => m,
            First::Budget(b) => b.to_string(),
            _ => unreachable!(),
        }));
    }
    out
}

#[cfg(test)]
mod tests;
