//! `evaluate_pack`: arbitrary bytes as one record, parsed and evaluated
//! with the built-in rule pack through `Matcher::parse_and_evaluate`, the
//! one way records go through a matcher.
//!
//! Invariants: no panic, and none caught inside the evaluator (that would
//! be a rule error saying "internal error"); the indexed matcher (dispatch
//! index, index-only shortcuts, required literals) gives exactly the
//! alerts of the naive one that runs every rule; and the same rules fire
//! on the record printed again (escapes decoded, whitespace and duplicate
//! keys gone), so how a record is spelled cannot hide it from a rule.

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
    evaluate_and_print(matcher, bytes).map(|(matches, _)| matches)
}

/// [`evaluate`], and the record printed again as JSON.
fn evaluate_and_print(
    matcher: &mut Matcher<'_>,
    bytes: &[u8],
) -> Result<(Vec<RuleMatch>, Vec<u8>), String> {
    let mut parser = RecordParser::default();
    let mut bytes = bytes.to_vec();
    let mut out = Outcome::default();
    let record = matcher.parse_and_evaluate(&mut parser, &mut bytes, true, &mut out)?;
    for e in &out.errors {
        assert!(
            !e.message.contains("internal error"),
            "rule {} panicked: {}",
            e.rule,
            e.message
        );
    }
    let printed = serde_json::to_vec(&record.to_json()).expect("a record prints");
    if !out.matches.is_empty() {
        for m in &out.matches {
            if let Some(a) = &m.annotation {
                let _ = a.value();
            }
        }
    }
    parser.recycle(record);
    Ok((out.matches, printed))
}

/// The `evaluate_pack` target.
pub fn evaluate_pack(data: &[u8]) {
    let plan = pack();
    // Fresh matchers: quarantine counts must not carry over between inputs.
    let indexed = evaluate_and_print(&mut Matcher::new(plan), data);
    let naive = evaluate(&mut Matcher::naive(plan), data);
    let Ok((indexed, printed)) = indexed else {
        assert!(
            naive.is_err(),
            "the index changes whether the record parses"
        );
        return;
    };
    assert_eq!(Ok(&indexed), naive.as_ref(), "the index changes the alerts");
    let again = evaluate(&mut Matcher::new(plan), &printed)
        .unwrap_or_else(|e| panic!("the record printed again does not parse: {e}"));
    let rules = |m: &[RuleMatch]| m.iter().map(|m| m.rule).collect::<Vec<_>>();
    assert_eq!(
        rules(&indexed),
        rules(&again),
        "other rules fire on the record printed again: {}",
        String::from_utf8_lossy(&printed)
    );
}
