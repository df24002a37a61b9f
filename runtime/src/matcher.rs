//! Evaluating the plan on one record, with cloudtrail-tattletail's match
//! semantics: for each rule in config order, the first jq output decides;
//! `null`, `false`, no output or an error is no alert; the annotation is the
//! output, or none when the output is the record itself.
//!
//! With the index (the normal mode) only candidate rules are looked at,
//! rules the index alone decides skip jq, and the record is converted to a
//! jaq value only when some candidate needs jq. Without it (`naive`), every
//! rule runs through jq on every record: the oracle of the differential
//! soundness tests.

use jaq_json::Val;
use tattletail_compiler::analysis::IndexOnly;
use tattletail_compiler::jq::FirstOutput;
use tattletail_compiler::native::{self, NativeRule};
use tattletail_compiler::plan::{Eval, Plan};

use crate::index::DispatchIndex;
use crate::record::Record;

/// One rule that fired on a record.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleMatch {
    /// Position of the rule in the plan.
    pub rule: usize,
    /// The jq output, or `None` when it was the record itself.
    pub annotation: Option<Val>,
}

/// What evaluating one record produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Rules that fired, in config order.
    pub matches: Vec<RuleMatch>,
    /// Rules that failed before their first output, with the message.
    pub errors: Vec<(usize, String)>,
}

/// Evaluates a plan on records.
pub struct Matcher<'p> {
    plan: &'p Plan,
    index: Option<DispatchIndex>,
    /// Per rule, the literal (index into `finders`) its native predicate
    /// needs in the raw record.
    required: Vec<Option<usize>>,
    finders: Vec<memchr::memmem::Finder<'static>>,
    /// The current record's raw bytes (copied before parsing rewrites
    /// them), when literals may be checked; empty otherwise.
    raw: Vec<u8>,
    /// Per literal, for the current record: unknown, present or absent.
    present: Vec<Option<bool>>,
}

impl<'p> Matcher<'p> {
    /// A matcher that uses the dispatch index.
    pub fn new(plan: &'p Plan) -> Self {
        let index = DispatchIndex::new(plan.rules.iter().map(|r| r.prefilter()));
        let mut literals: Vec<String> = Vec::new();
        let required = plan
            .rules
            .iter()
            .map(|r| {
                let Eval::Native(NativeRule::Select(p) | NativeRule::Bool(p)) = &r.eval else {
                    return None;
                };
                let lit = native::required_literal(p)?;
                Some(literals.iter().position(|l| l == lit).unwrap_or_else(|| {
                    literals.push(lit.to_string());
                    literals.len() - 1
                }))
            })
            .collect();
        let finders: Vec<_> = literals
            .iter()
            .map(|l| memchr::memmem::Finder::new(l.as_bytes()).into_owned())
            .collect();
        let present = vec![None; finders.len()];
        Matcher {
            plan,
            index: Some(index),
            required,
            finders,
            raw: Vec::new(),
            present,
        }
    }

    /// A matcher that runs every rule through jq on every record.
    pub fn naive(plan: &'p Plan) -> Self {
        let required = vec![None; plan.rules.len()];
        Matcher {
            plan,
            index: None,
            required,
            finders: Vec::new(),
            raw: Vec::new(),
            present: Vec::new(),
        }
    }

    /// Keep a record's raw bytes before they are parsed (parsing rewrites
    /// them), for the required-literal checks of candidate rules. A record
    /// with a backslash or a non-ASCII byte may spell a literal differently;
    /// then no literal check is made.
    pub fn prescan(&mut self, raw: &[u8]) {
        if self.finders.is_empty() {
            return;
        }
        self.present.iter_mut().for_each(|p| *p = None);
        self.raw.clear();
        if raw.is_ascii() && memchr::memchr(b'\\', raw).is_none() {
            self.raw.extend_from_slice(raw);
        }
    }

    /// Can rule `r` fire, as far as its required literal tells?
    fn literal_allows(&mut self, r: usize) -> bool {
        let Some(l) = self.required[r] else {
            return true;
        };
        if self.raw.is_empty() {
            return true;
        }
        *self.present[l].get_or_insert_with(|| self.finders[l].find(&self.raw).is_some())
    }

    /// The plan.
    pub fn plan(&self) -> &'p Plan {
        self.plan
    }

    /// Evaluate every rule that needs to look at `record` (call
    /// [`Matcher::prescan`] on its raw bytes first).
    pub fn evaluate(&mut self, record: &Record<'_>, out: &mut Outcome) {
        out.matches.clear();
        out.errors.clear();
        // One pass over the top-level fields serves dispatch and every
        // native rule.
        let root = crate::native::Root::new(record.root());
        let (candidates, shortcuts) = match &mut self.index {
            Some(ix) if record.is_object() => (
                ix.candidates(root.str("eventName"), root.str("eventSource")),
                true,
            ),
            Some(ix) => (ix.every_rule(), false),
            None => ((0..self.plan.rules.len() as u32).collect(), false),
        };
        let mut val: Option<Val> = None;
        for &r in candidates.iter() {
            let r = r as usize;
            let rule = &self.plan.rules[r];
            if shortcuts {
                match &rule.eval {
                    Eval::Never => continue,
                    Eval::IndexOnly(IndexOnly::Record) => {
                        out.matches.push(RuleMatch {
                            rule: r,
                            annotation: None,
                        });
                        continue;
                    }
                    Eval::IndexOnly(IndexOnly::True) => {
                        out.matches.push(RuleMatch {
                            rule: r,
                            annotation: Some(Val::Bool(true)),
                        });
                        continue;
                    }
                    Eval::Native(_) if !self.literal_allows(r) => continue,
                    Eval::Native(native) => {
                        use crate::native::Verdict;
                        match crate::native::eval(native, &root) {
                            Verdict::Alert(false) => out.matches.push(RuleMatch {
                                rule: r,
                                annotation: None,
                            }),
                            Verdict::Alert(true) => out.matches.push(RuleMatch {
                                rule: r,
                                annotation: Some(Val::Bool(true)),
                            }),
                            Verdict::Error(e) => out.errors.push((r, e)),
                            Verdict::Quiet => {}
                        }
                        continue;
                    }
                    Eval::Jq => {}
                }
            }
            let input = val.get_or_insert_with(|| record.to_val());
            match rule.program.first_output(input.clone()) {
                FirstOutput::Value(v) if !matches!(v, Val::Null | Val::Bool(false)) => {
                    let annotation = if v == *input { None } else { Some(v) };
                    out.matches.push(RuleMatch {
                        rule: r,
                        annotation,
                    });
                }
                FirstOutput::Error(e) => out.errors.push((r, e)),
                _ => {}
            }
        }
    }
}
