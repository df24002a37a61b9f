//! Exactly jq's answers: for every rule of the test configs whose
//! semantics jq and jaq share, the first output of the `jq` CLI decides the
//! same alerts and annotations as tattletail, on every corpus record.
//!
//! Needs `jq` on the PATH (`.ci/run` installs it). Without it the test
//! fails with a message saying how to install it (never skipped).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;
use tattletail_runtime::matcher::Matcher;

/// Rules that jq 1.6 cannot compile (`if` without `else` came in jq 1.7;
/// gojq and tattletail accept it).
const NOT_IN_JQ_1_6: &[&str] = &["if-no-else"];

/// Rules whose meaning differs between jq and tattletail on purpose.
const DIFFERENT_ON_PURPOSE: &[&str] = &[
    "env", // jq reads the process environment; tattletail gives {}
];

/// jq 1.6's Oniguruma lets `$` match before a final newline; RE2 (gojq,
/// the dialect of cloudtrail-tattletail) and tattletail do not. Documented
/// in the README; such (rule, record) pairs are not compared.
fn regex_dollar_before_newline(rule: &str, record: &[u8]) -> bool {
    rule.contains("test(") && rule.contains("$\"") && record.windows(3).any(|w| w == br#"\n""#)
}

fn jq_available() -> bool {
    Command::new("jq")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Numbers as f64 so that `1` and `1.0` compare equal across engines.
fn normalize(v: Value) -> Value {
    match v {
        Value::Number(n) => serde_json::json!(n.as_f64()),
        Value::Array(a) => Value::Array(a.into_iter().map(normalize).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, normalize(v))).collect()),
        v => v,
    }
}

/// Per record: "-" no alert, "=" the record, or the annotation.
fn jq_results(rule: &str, input: &[u8], n: usize) -> Option<Vec<Value>> {
    let program = format!(
        r#". as $r | [try ({rule}) catch "__tattletail_error__"] |
        if length == 0 then "-"
        else .[0] | if . == "__tattletail_error__" or . == null or . == false then "-"
                    elif . == $r then "="
                    else {{annotation: .}} end end"#
    );
    let mut child = Command::new("jq")
        .arg("-c")
        .arg(&program)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run jq");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    let written = writer.join().unwrap();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("syntax error") || err.contains("compile error"),
            "jq failed on {rule}: {err}"
        );
        return None;
    }
    written.unwrap();
    let lines: Vec<Value> = out
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        n,
        "jq gave {} results for {n} records ({rule})",
        lines.len()
    );
    Some(lines.into_iter().map(normalize).collect())
}

#[test]
fn first_output_alerts_match_the_jq_cli() {
    assert!(
        jq_available(),
        "this test compares with the jq CLI, which is not on PATH: install jq 1.6 (`apt-get install jq`; `bash scripts/test` does it)"
    );
    let mut records = Vec::new();
    for (_, set) in common::record_sets() {
        records.extend(set);
    }
    let mut input = Vec::new();
    for r in &records {
        input.extend_from_slice(r);
        input.push(b'\n');
    }
    let mut compared = 0;
    let mut alerts = 0;
    for (name, src) in common::configs() {
        let compiled = common::compile(&src);
        let plan = &compiled.plan;
        let ours = common::evaluate(&mut Matcher::new(plan), &records, plan.rules.len());
        for (r, rule) in plan.rules.iter().enumerate() {
            let rule_name = rule.config.display_name();
            if DIFFERENT_ON_PURPOSE.contains(&rule_name.as_str()) {
                continue;
            }
            let Some(theirs) = jq_results(&rule.config.jq_match, &input, records.len()) else {
                assert!(
                    NOT_IN_JQ_1_6.contains(&rule_name.as_str()),
                    "jq cannot compile rule `{rule_name}`"
                );
                continue;
            };
            for (i, t) in theirs.iter().enumerate() {
                if regex_dollar_before_newline(&rule.config.jq_match, &records[i]) {
                    continue;
                }
                let mine = match &ours[i][r] {
                    None => Value::from("-"),
                    Some(None) => Value::from("="),
                    Some(Some(json)) => normalize(
                        serde_json::json!({ "annotation": serde_json::from_str::<Value>(json).unwrap() }),
                    ),
                };
                if mine != "-" {
                    alerts += 1;
                }
                assert_eq!(
                    &mine, t,
                    "{name}: rule `{rule_name}` on record {i}: tattletail {mine} vs jq {t}\nrecord: {}",
                    String::from_utf8_lossy(&records[i]).chars().take(400).collect::<String>()
                );
                compared += 1;
            }
        }
    }
    assert!(
        compared > 100_000 && alerts > 1000,
        "compared {compared}, alerts {alerts}"
    );
}
