//! jq conformance: the native evaluator against the cases in
//! `testdata/jq/` (jq's test format; see `testdata/jq/README.md`):
//!
//! - `agree.test`: jq 1.6 and gojq 0.12.11 print the same bytes; so must we.
//! - `gojq.test`: they disagree; the expected output is gojq's.
//! - `regressions.test`: bugs the differential and property tests found;
//!   the expected output is gojq's, exactly.
//! - `upstream/jq-1.8.2.test`: jq's own suite, minus the cases gojq does not
//!   pass (`upstream/skip.txt`); compared as JSON values.
//!
//! Where Tattletail differs on purpose, the case is listed with the reason
//! in `testdata/jq/deviations.txt` (`FILE:LINE<TAB>reason`); a listed case
//! that starts passing is an error too, so the list stays true.

mod common;

use std::collections::BTreeMap;

use tattletail_compiler::plan::compile_program;
use tattletail_runtime::eval::{self, json, Limits, Prepared, Value};

struct Case {
    line: usize,
    program: String,
    input: String,
    expected: Vec<String>,
    must_fail: bool,
}

fn parse_cases(text: &str) -> Vec<Case> {
    let lines: Vec<&str> = text.lines().collect();
    let mut cases = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.trim().is_empty() || l.trim_start().starts_with('#') {
            i += 1;
            continue;
        }
        if l.starts_with("%%FAIL") {
            // Program, then the message up to the next blank line.
            let line = i + 2;
            let program = lines.get(i + 1).copied().unwrap_or_default().to_string();
            i += 2;
            while i < lines.len() && !lines[i].trim().is_empty() {
                i += 1;
            }
            cases.push(Case {
                line,
                program,
                input: String::new(),
                expected: Vec::new(),
                must_fail: true,
            });
            continue;
        }
        let line = i + 1;
        let program = l.to_string();
        let input = lines.get(i + 1).copied().unwrap_or_default().to_string();
        i += 2;
        let mut expected = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() {
            if !lines[i].trim_start().starts_with('#') {
                expected.push(lines[i].to_string());
            }
            i += 1;
        }
        cases.push(Case {
            line,
            program,
            input,
            expected,
            must_fail: false,
        });
    }
    cases
}

/// Run a case: Ok(outputs as compact JSON, stopping at an error) or the
/// compile error.
fn run(case: &Case) -> Result<(Vec<String>, Option<String>), String> {
    let prog = compile_program(&case.program).map_err(|e| {
        e.iter()
            .map(|x| x.message.clone())
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    let prep = Prepared::new(&prog);
    let text = case.input.trim_start_matches('\u{feff}');
    let mut bytes = text.as_bytes().to_vec();
    // simd-json refuses numbers out of the double range (`1e1000`), which
    // jq reads as the largest double; our own parser takes them.
    let tape = simd_json::to_tape(&mut bytes).ok();
    let input = match &tape {
        Some(t) => Value::from_tape(&t.0),
        None => json::parse(text, 10_000).map_err(|e| format!("input does not parse: {e:?}"))?,
    };
    let mut outs = Vec::new();
    let mut error = None;
    for r in eval::all_outputs(&prog, &prep, input, Limits::DEFAULT) {
        match r {
            Ok(v) => {
                let mut s = String::new();
                json::write_value(&mut s, &v, 10_000, usize::MAX).unwrap();
                outs.push(s);
            }
            Err(e) => error = Some(e),
        }
    }
    Ok((outs, error))
}

fn same_json(a: &str, b: &str) -> bool {
    fn norm(v: serde_json::Value) -> serde_json::Value {
        use serde_json::Value as J;
        match v {
            J::Number(n) => serde_json::json!(n.as_f64()),
            J::Array(a) => J::Array(a.into_iter().map(norm).collect()),
            J::Object(o) => J::Object(o.into_iter().map(|(k, v)| (k, norm(v))).collect()),
            v => v,
        }
    }
    match (serde_json::from_str(a), serde_json::from_str(b)) {
        (Ok(x), Ok(y)) => norm(x) == norm(y),
        _ => a == b,
    }
}

fn deviations() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(common::root().join("testdata/jq/deviations.txt"))
        .unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, why) = l.split_once('\t').unwrap_or((l, ""));
            (k.trim().to_string(), why.trim().to_string())
        })
        .collect()
}

/// Check one file; returns (passed, problems).
fn check_file(
    rel: &str,
    exact_text: bool,
    skip: &[usize],
    deviations: &BTreeMap<String, String>,
) -> (usize, Vec<String>) {
    let text = std::fs::read_to_string(common::root().join(rel)).unwrap();
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let mut passed = 0;
    let mut problems = Vec::new();
    for case in parse_cases(&text) {
        if skip.contains(&case.line) {
            continue;
        }
        let key = format!("{name}:{}", case.line);
        let result = std::panic::catch_unwind(|| run(&case));
        let ok = match &result {
            Err(_) => false,
            Ok(Err(_)) => case.must_fail,
            Ok(Ok((outs, _))) if case.must_fail => {
                let _ = outs;
                false
            }
            Ok(Ok((outs, _))) => {
                outs.len() == case.expected.len()
                    && outs.iter().zip(&case.expected).all(|(o, e)| {
                        if exact_text {
                            o == e
                        } else {
                            same_json(o, e)
                        }
                    })
            }
        };
        let listed = deviations.contains_key(&key);
        match (ok, listed) {
            (true, false) => passed += 1,
            (false, true) => {}
            (true, true) => {
                problems.push(format!("{key}: passes now; remove it from deviations.txt"))
            }
            (false, false) => {
                let got = match &result {
                    Err(_) => "PANIC".to_string(),
                    Ok(Err(e)) => format!("compile error: {e}"),
                    Ok(Ok((outs, err))) => {
                        let mut s = outs.join(" | ");
                        if let Some(e) = err {
                            s.push_str(&format!(" | error: {e}"));
                        }
                        s
                    }
                };
                problems.push(format!(
                    "{key}: {}\n    input:    {}\n    expected: {}\n    got:      {got}",
                    case.program,
                    case.input,
                    if case.must_fail {
                        "a compile error".to_string()
                    } else {
                        case.expected.join(" | ")
                    }
                ));
            }
        }
    }
    (passed, problems)
}

#[test]
fn conformance() {
    let deviations = deviations();
    let skip: Vec<usize> =
        std::fs::read_to_string(common::root().join("testdata/jq/upstream/skip.txt"))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split('\t').next()?.trim().parse().ok())
            .collect();
    let mut all = Vec::new();
    let mut total = 0;
    for (rel, exact, skip) in [
        ("testdata/jq/agree.test", true, &[][..]),
        ("testdata/jq/gojq.test", true, &[][..]),
        ("testdata/jq/regressions.test", true, &[][..]),
        ("testdata/jq/upstream/jq-1.8.2.test", false, &skip[..]),
    ] {
        let (passed, problems) = check_file(rel, exact, skip, &deviations);
        eprintln!("{rel}: {passed} passed, {} problems", problems.len());
        total += passed;
        all.extend(problems);
    }
    assert!(total > 1500, "too few cases ran: {total}");
    assert!(
        all.is_empty(),
        "{} problems:\n{}",
        all.len(),
        all.join("\n")
    );
}
