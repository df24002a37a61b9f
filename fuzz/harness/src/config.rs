//! `compile_config`: arbitrary bytes as a `tattletail.toml` through
//! `tattletail_compiler::compile`, and what compiled run on two records.
//!
//! Invariants: no panic; an `Err` carries at least one error; every
//! diagnostic's span lies inside the file and renders; a plan that
//! compiled evaluates without an evaluator panic, and its index and
//! required literals never lose an alert that the naive matcher (every
//! rule on every record) finds; the same for its `[[rule.test]]` events,
//! run as `tattletail test` runs them.

use tattletail_compiler::config::TestInput;
use tattletail_compiler::diag::{render_all, Diagnostic};
use tattletail_runtime::eval::Limits;
use tattletail_runtime::rule_test::{self, Events};
use tattletail_runtime::{Matcher, Scanner};

use crate::pack::evaluate;

/// Records the compiled rules run on: a CloudTrail event and a record that
/// is not an object.
const RECORDS: &[&[u8]] = &[
    br#"{"eventVersion":"1.08","userIdentity":{"type":"Root","arn":"arn:aws:iam::111111111111:root","accountId":"111111111111"},"eventTime":"2026-07-28T11:40:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7","requestParameters":null,"responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"No"},"eventID":"e-1","tags":["a",1,2.5,true,null,{"k":"v\u00e9"}]}"#,
    br#"[1,"x",{"eventName":"StopLogging"}]"#,
];

fn check_spans(source: &str, diags: &[Diagnostic]) {
    for d in diags {
        assert!(
            d.span.start <= d.span.end && d.span.end <= source.len(),
            "diagnostic {:?} has span {:?} outside the {}-byte file",
            d.message,
            d.span,
            source.len()
        );
    }
    let _ = render_all(diags, "tattletail.toml", source);
}

/// The `compile_config` target.
pub fn compile_config(data: &[u8]) {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let compiled = match tattletail_compiler::compile(source) {
        Ok(c) => c,
        Err(diags) => {
            assert!(
                diags.iter().any(Diagnostic::is_error),
                "compile failed without an error"
            );
            check_spans(source, &diags);
            return;
        }
    };
    check_spans(source, &compiled.warnings);
    let plan = &compiled.plan;
    // Small budgets keep slow rules (the hostile seeds build 16 MB
    // strings) from slowing the fuzzer down; budget errors are allowed,
    // lost alerts are not.
    let limits = Limits {
        steps: 20_000,
        memory: 4 << 20,
        string: 1 << 20,
        items: 64 << 10,
        ..Limits::DEFAULT
    };
    for record in RECORDS {
        let indexed = evaluate(&mut Matcher::new(plan).with_limits(limits), record);
        let naive = evaluate(&mut Matcher::naive(plan).with_limits(limits), record);
        if let (Ok(indexed), Ok(naive)) = (indexed, naive) {
            for m in &naive {
                assert!(
                    indexed.contains(m),
                    "the index loses the alert of rule {} ({:?})",
                    m.rule,
                    m.annotation
                );
            }
        }
    }
    for (r, rule) in plan.rules.iter().enumerate() {
        for test in &rule.config.tests {
            let TestInput::Event(json) = &test.input else {
                continue;
            };
            let run = |m: Matcher<'_>| {
                let ran = rule_test::run(
                    Scanner::with_matcher(m.with_limits(limits)),
                    r,
                    Events::Event(json.clone()),
                );
                let _ = (ran.passed(test), ran.got(), ran.notes());
                ran.alerts
            };
            let indexed = run(Matcher::new(plan));
            for a in run(Matcher::naive(plan)) {
                assert!(
                    indexed.contains(&a),
                    "the index loses the alert of rule {r} on test {:?}",
                    test.name
                );
            }
        }
    }
}
