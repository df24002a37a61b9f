//! Analysis of a rule's IR, in two parts:
//!
//! - the **prefilter** ([`walk`] over the algebra in [`cond`]): a sound
//!   necessary condition on the record's top-level `eventName` and
//!   `eventSource`, each as it is and ASCII-lowercased (for
//!   case-insensitive tests), from which the runtime builds its dispatch
//!   index;
//! - the **required literals** ([`literal`]): strings one of which must
//!   occur in the raw record for the rule to fire.
//!
//! Two passes, as in `regex-syntax`: extraction is sound; planning
//! heuristics (caps on set sizes) run once at the end in
//! [`Prefilter::from_cond`]. Every fallback to "every event" records a
//! reason ([`walk::Note`]) that `tattletail-compile --explain` shows.

pub mod cond;
pub mod literal;
pub mod regex_lit;
pub mod walk;

pub use cond::{Cond, Dim, Field, FieldCond, KeyConds, KeySet};
pub use literal::Literal;
pub use walk::Note;

use crate::ir::{Node, Program};

/// Most names or prefixes per field a prefilter may hold before we give up
/// on it (keeps the index small; only ever makes a prefilter less precise).
pub const MAX_KEYS: usize = 4096;

/// A rule's prefilter. **Contract:** if the rule fires on a record (its
/// first output is neither `null` nor `false`), the prefilter admits the
/// record. The converse need not hold.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::large_enum_variant)] // one per rule, built once: size does not matter
pub enum Prefilter {
    /// No usable condition: the rule runs on every record.
    Any,
    /// The rule can never fire.
    Never,
    /// Every condition must hold; at least one of them is not "any".
    Keys(KeyConds),
}

impl Prefilter {
    /// The prefilter for a condition, after planning limits.
    pub fn from_cond(c: &Cond) -> Prefilter {
        if c.is_never() {
            return Prefilter::Never;
        }
        let capped = |f: &FieldCond| {
            let s = match f {
                FieldCond::In(s) | FieldCond::NotIn(s) => s,
            };
            if s.names.len() > MAX_KEYS || s.prefixes.len() > MAX_KEYS {
                FieldCond::any()
            } else {
                f.clone()
            }
        };
        let mut keys = KeyConds::any();
        for (d, f) in c.keys.iter() {
            *keys.get_mut(d) = capped(f);
        }
        if keys.is_any() {
            Prefilter::Any
        } else {
            Prefilter::Keys(keys)
        }
    }

    /// Does the prefilter admit a record with these top-level values
    /// (`None`: missing or not a string)? The folded dimensions are
    /// looked up lowercased.
    pub fn admits(&self, name: Option<&str>, source: Option<&str>) -> bool {
        match self {
            Prefilter::Any => true,
            Prefilter::Never => false,
            Prefilter::Keys(keys) => keys.admits(name, source),
        }
    }
}

/// How a rule can be evaluated without running it, when its prefilter
/// decides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexOnly {
    /// `select(P)`: the output is the record itself (no annotation).
    Record,
    /// `P`: the output is `true`.
    True,
}

/// What the analysis learned about one rule.
#[derive(Clone, Debug)]
pub struct Analysis {
    /// The prefilter.
    pub prefilter: Prefilter,
    /// The prefilter admits exactly the records the rule fires on.
    pub exact: bool,
    /// Set when the index alone decides the rule.
    pub index_only: Option<IndexOnly>,
    /// Literals one of which the raw record must contain for the rule to
    /// fire (checked only on records without a backslash).
    pub literals: Option<Vec<Literal>>,
    /// Why parts of the rule were not understood (spans in the jq source).
    pub notes: Vec<Note>,
}

/// Analyse a rule's program.
pub fn analyze(prog: &Program) -> Analysis {
    let mut walker = walk::Walker::new(prog);
    let abs = walker.node(prog.root, &walk::Abs::root());
    let prefilter = Prefilter::from_cond(&abs.truthy);
    let exact = abs.truthy.exact && prefilter_is_cond(&prefilter, &abs.truthy);
    let index_only = match prog.node(prog.root) {
        // `select(P)`.
        Node::If(c, a, b)
            if matches!(prog.node(*a), Node::Identity) && matches!(prog.node(*b), Node::Empty) =>
        {
            let p = walk::Walker::new(prog).node(*c, &walk::Abs::root());
            (p.at_most_one && p.truthy.exact && exact).then_some(IndexOnly::Record)
        }
        _ => (abs.kind == walk::Kind::Bool && abs.at_most_one && exact).then_some(IndexOnly::True),
    };
    Analysis {
        prefilter,
        exact,
        index_only,
        literals: literal::required(prog),
        notes: walker.notes,
    }
}

/// Planning limits may widen a prefilter; then it is no longer exact.
fn prefilter_is_cond(p: &Prefilter, c: &Cond) -> bool {
    match p {
        Prefilter::Any => c.is_all(),
        Prefilter::Never => c.is_never(),
        Prefilter::Keys(keys) => *keys == c.keys,
    }
}

#[cfg(test)]
mod tests;
