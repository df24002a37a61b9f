//! Tests of Sigma rules, written two ways, made into the [`RuleTest`]s of
//! `[[rule.test]]` so that `tattletail test` runs them like any other.
//!
//! - **A tests file next to the rule** (TrailAlerts' convention):
//!   `<rule>_tests.json` beside `<rule>.yml` holds `{"should_match":
//!   [events…], "should_not_match": [events…]}`. Each event is one test of
//!   the file's first detection rule: `should_match[i]` expects an alert,
//!   `should_not_match[i]` none. The tests point into the JSON file (each
//!   at its event), and so does every problem in it.
//! - **`[[sigma.test]]` tables** under a `[[sigma]]` table: a
//!   `[[rule.test]]` (read by the same code) plus `rule`, the title or id
//!   of the Sigma rule it tests, one of those the `[[sigma]]` table loads.
//!   A `rule` naming no such rule is an error at the value.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use serde_json::value::RawValue;

use super::rule_tests::{self, byte_offset, Expect, RuleTest, TestInput, TEST_KEYS};
use super::{array_of_tables, check_keys, lookup, string, Diagnostic, RuleConfig, Table};
use crate::diag::SourceFile;

/// The two lists of a tests file, and what each expects.
const LISTS: [(&str, Expect); 2] = [
    ("should_match", Expect::Alert),
    ("should_not_match", Expect::NoAlert),
];

/// The tests in a TrailAlerts-style tests file; every problem is a
/// diagnostic in that file (an error: the tests would silently not run).
pub(super) fn json_tests(file: &Arc<SourceFile>, diags: &mut Vec<Diagnostic>) -> Vec<RuleTest> {
    let text = file.text.as_str();
    let errors_before = diags.iter().filter(|d| d.is_error()).count();
    let error = |message: String, at: Range<usize>| Diagnostic::error(message, at).in_file(file);
    let top = match serde_json::from_str::<BTreeMap<String, &RawValue>>(text) {
        Ok(top) => top,
        Err(e) => {
            diags.push(error(not_json(&e), at_error(text, &e)).with_help(
                "a tests file is {\"should_match\": [events…], \"should_not_match\": [events…]}",
            ));
            return Vec::new();
        }
    };
    for (key, value) in &top {
        if !LISTS.iter().any(|(k, _)| k == key) {
            diags.push(
                Diagnostic::warning(
                    format!("unknown key `{key}` in a tests file is ignored"),
                    span_of(text, value),
                )
                .in_file(file)
                .with_help("a tests file has should_match and should_not_match"),
            );
        }
    }
    let mut tests = Vec::new();
    for (key, expect) in LISTS {
        let Some(list) = top.get(key) else { continue };
        let Ok(events) = serde_json::from_str::<Vec<&RawValue>>(list.get()) else {
            diags.push(error(
                format!("`{key}` must be an array of events"),
                span_of(text, list),
            ));
            continue;
        };
        for (i, event) in events.into_iter().enumerate() {
            let at = span_of(text, event);
            match event_problem(event) {
                Some(why) => diags.push(error(format!("`{key}[{i}]` {why}"), at)),
                None => tests.push(RuleTest {
                    name: format!("{key}[{i}]"),
                    input: TestInput::Event(event.get().to_string()),
                    expect,
                    alerts: None,
                    annotation: None,
                    span: at,
                    file: Some(file.clone()),
                }),
            }
        }
    }
    if tests.is_empty() && diags.iter().filter(|d| d.is_error()).count() == errors_before {
        diags.push(
            Diagnostic::warning("the tests file has no events", 0..text.len().min(1))
                .in_file(file)
                .with_help(
                    "add events to should_match (each must alert) and should_not_match (none may)",
                ),
        );
    }
    tests
}

/// Why an event of a tests file is not one CloudTrail event, if it is not.
fn event_problem(event: &RawValue) -> Option<&'static str> {
    match serde_json::from_str::<serde_json::Value>(event.get()) {
        Ok(serde_json::Value::Object(map)) if map.get("Records").is_some_and(|r| r.is_array()) => {
            Some("is a log file (it has `Records`), not one event")
        }
        Ok(serde_json::Value::Object(_)) => None,
        _ => Some("must be a JSON object (one CloudTrail event)"),
    }
}

/// Where a value borrowed from `text` is in it.
fn span_of(text: &str, value: &RawValue) -> Range<usize> {
    let start = (value.get().as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
    let start = start.min(text.len());
    start..(start + value.get().len()).min(text.len())
}

/// serde_json's message without its `at line L column C` (the diagnostic
/// says where).
fn not_json(e: &serde_json::Error) -> String {
    let mut message = e.to_string();
    if let Some(cut) = message.rfind(" at line ") {
        message.truncate(cut);
    }
    if e.classify() == serde_json::error::Category::Data {
        format!("the tests file must be a JSON object: {message}")
    } else {
        format!("the tests file is not valid JSON: {message}")
    }
}

fn at_error(text: &str, e: &serde_json::Error) -> Range<usize> {
    let at = byte_offset(text, e.line(), e.column());
    at..(at + 1).min(text.len()).max(at)
}

/// A `[[sigma.test]]`: the test, and the rule it names (title or id) with
/// where that is written.
#[derive(Clone, Debug)]
pub(super) struct SigmaTest {
    rule: (String, Range<usize>),
    test: RuleTest,
}

/// The `[[sigma.test]]` tables of a `[[sigma]]` table; every problem is a
/// diagnostic. Valid tests only are returned.
pub(super) fn table_tests(
    source: &str,
    table: &Table<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<SigmaTest> {
    let Some((_, value)) = lookup(table, "test") else {
        return Vec::new();
    };
    let Some(items) = array_of_tables(value, "sigma.test", diags) else {
        return Vec::new();
    };
    let keys: Vec<&str> = std::iter::once("rule")
        .chain(TEST_KEYS.iter().copied())
        .collect();
    let mut out = Vec::new();
    for (i, (t, span)) in items.into_iter().enumerate() {
        check_keys(t, &keys, "[[sigma.test]]", diags);
        let rule = string(t, "rule", diags);
        if rule.is_none() && lookup(t, "rule").is_none() {
            diags.push(
                Diagnostic::error(
                    format!("[[sigma.test]] #{} has no `rule`", i + 1),
                    span.clone(),
                )
                .with_help("add rule = \"…\": the title or id of the Sigma rule it tests"),
            );
        }
        let label = match &rule {
            Some((r, _)) => format!("Sigma rule `{r}`"),
            None => "a Sigma rule".to_string(),
        };
        let test = rule_tests::rule_test(source, t, span, &label, i, diags);
        if let (Some(rule), Some(test)) = (rule, test) {
            out.push(SigmaTest { rule, test });
        }
    }
    out
}

/// Attach `tests` to the rules (those a `[[sigma]]` table loaded) they
/// name by title or id; a name no rule has is an error at the `rule`
/// value.
pub(super) fn attach(
    tests: &[SigmaTest],
    rules: &mut [RuleConfig],
    path: &str,
    diags: &mut Vec<Diagnostic>,
) {
    for t in tests {
        let (name, at) = &t.rule;
        let found = rules.iter_mut().find(|r| {
            r.name.as_deref() == Some(name.as_str())
                || r.sigma
                    .as_ref()
                    .is_some_and(|s| s.id.as_deref() == Some(name.as_str()))
        });
        match found {
            Some(rule) => {
                let label = format!("Sigma rule `{}`", rule.display_name());
                rule_tests::push_test(&mut rule.tests, t.test.clone(), &label, diags);
            }
            None => diags.push(
                Diagnostic::error(
                    format!(
                        "test `{}` names Sigma rule `{name}`, which `{path}` does not load",
                        t.test.name
                    ),
                    at.clone(),
                )
                .with_help(known_rules(rules)),
            ),
        }
    }
}

/// The help for an unknown rule: the titles a test can name.
fn known_rules(rules: &[RuleConfig]) -> String {
    if rules.is_empty() {
        return "the [[sigma]] table's path loads no Sigma rule".into();
    }
    let mut titles: Vec<String> = rules.iter().map(RuleConfig::display_name).collect();
    let more = titles.len() > 12;
    titles.truncate(12);
    format!(
        "a [[sigma.test]] names a rule of its [[sigma]] table by title or id; loaded: {}{}",
        titles.join(", "),
        if more { ", …" } else { "" }
    )
}

#[cfg(test)]
mod tests;
