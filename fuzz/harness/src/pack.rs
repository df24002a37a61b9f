//! `evaluate_pack`: arbitrary bytes as one record, parsed and evaluated
//! with the built-in rule pack through `Matcher::parse_and_evaluate`, the
//! one way records go through a matcher.
//!
//! Invariants: no panic, and none caught inside the evaluator (that would
//! be a rule error saying "internal error"); the indexed matcher (dispatch
//! index, index-only shortcuts, required literals) gives exactly the
//! alerts of the naive one that runs every rule.

use std::sync::OnceLock;

use tattletail_compiler::pack::DEFAULT_PACK;
use tattletail_compiler::plan::Plan;
use tattletail_runtime::matcher::{Outcome, RuleMatch};
use tattletail_runtime::record::RecordParser;
use tattletail_runtime::Matcher;

fn pack() -> &'static Plan {
    static PLAN: OnceLock<Plan> = OnceLock::new();
    PLAN.get_or_init(|| {
        tattletail_compiler::compile(DEFAULT_PACK)
            .unwrap_or_else(|_| panic!("the built-in pack does not compile"))
            .plan
    })
}

/// Parse and evaluate `bytes` with `matcher`: the alerts, or the parse
/// error. Panics on an evaluator panic caught as a rule error.
pub(crate) fn evaluate(matcher: &mut Matcher<'_>, bytes: &[u8]) -> Result<Vec<RuleMatch>, String> {
    let mut parser = RecordParser::default();
    let mut bytes = bytes.to_vec();
    let mut out = Outcome::default();
    let record = matcher.parse_and_evaluate(&mut parser, &mut bytes, &mut out)?;
    for e in &out.errors {
        assert!(
            !e.message.contains("internal error"),
            "rule {} panicked: {}",
            e.rule,
            e.message
        );
    }
    if !out.matches.is_empty() {
        let _ = record.to_json();
        for m in &out.matches {
            if let Some(a) = &m.annotation {
                let _ = a.value();
            }
        }
    }
    parser.recycle(record);
    Ok(out.matches)
}

/// The `evaluate_pack` target.
pub fn evaluate_pack(data: &[u8]) {
    let plan = pack();
    // Fresh matchers: quarantine counts must not carry over between inputs.
    let indexed = evaluate(&mut Matcher::new(plan), data);
    let naive = evaluate(&mut Matcher::naive(plan), data);
    assert_eq!(indexed, naive, "the index changes the alerts");
}
