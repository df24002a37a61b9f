//! The prefilter never loses an alert: every test config (and SigmaHQ's
//! AWS rules through the Sigma front end) over every record
//! set gives identical alerts with the dispatch index (and its index-only
//! shortcuts) and without it (every rule through jq on every record).
//! Plus the property "fires ⇒ admitted" on random rules and records.

mod common;

use proptest::prelude::*;
use tattletail_runtime::matcher::Matcher;
use tattletail_runtime::record::RecordParser;

/// Every record set, and the case-mangled records.
fn record_sets() -> Vec<(String, Vec<Vec<u8>>)> {
    let mut sets = common::record_sets();
    sets.push(("case-mangled".into(), common::case_mangled_records()));
    sets
}

#[test]
fn index_on_equals_index_off() {
    let sets = record_sets();
    let total: usize = sets.iter().map(|s| s.1.len()).sum();
    assert!(total > 3000, "record sets too small: {total}");
    for (name, compiled) in common::compiled_configs() {
        let plan = &compiled.plan;
        let n = plan.rules.len();
        let mut fired = 0;
        for (set, records) in &sets {
            let with = common::evaluate(&mut Matcher::new(plan), records, n);
            let without = common::evaluate(&mut Matcher::naive(plan), records, n);
            for (i, (a, b)) in with.iter().zip(&without).enumerate() {
                for r in 0..n {
                    assert_eq!(
                        a[r],
                        b[r],
                        "{name}: rule `{}` on {set} record {i} ({}): index {:?} vs naive {:?}",
                        plan.rules[r].config.display_name(),
                        String::from_utf8_lossy(&records[i])
                            .chars()
                            .take(300)
                            .collect::<String>(),
                        a[r],
                        b[r]
                    );
                }
                fired += a.iter().filter(|x| x.is_some()).count();
            }
        }
        assert!(
            fired > 0,
            "{name}: no rule fired at all; the test would prove nothing"
        );
    }
}

#[test]
fn every_fired_rule_is_admitted_by_its_prefilter() {
    let sets = record_sets();
    for (name, compiled) in common::compiled_configs() {
        let plan = &compiled.plan;
        let mut parser = RecordParser::default();
        for (set, records) in &sets {
            let fired = common::evaluate(&mut Matcher::naive(plan), records, plan.rules.len());
            for (i, row) in fired.iter().enumerate() {
                let mut bytes = records[i].clone();
                let rec = parser.parse(&mut bytes).unwrap();
                if !rec.is_object() {
                    continue; // non-objects run every rule by design
                }
                for (r, f) in row.iter().enumerate() {
                    if f.is_some() {
                        assert!(
                            plan.rules[r].prefilter().admits(rec.event_name(), rec.event_source()),
                            "{name}: rule `{}` fired on {set} record {i} but its prefilter {:?} rejects it",
                            plan.rules[r].config.display_name(),
                            plan.rules[r].prefilter()
                        );
                    }
                }
            }
        }
    }
}

/// A wrong prefilter loses alerts, and the differential test sees it: the
/// failure mode the contract exists for, made executable.
#[test]
fn a_wrong_prefilter_would_be_caught() {
    use tattletail_compiler::analysis::{FieldCond, KeyConds, KeySet, Prefilter};
    let src = "[[rule]]\nname = \"r\"\njq_match = 'select(.eventName == \"ConsoleLogin\")'\n";
    let mut compiled = common::compile(src);
    compiled.plan.rules[0].analysis.prefilter = Prefilter::Keys(KeyConds {
        event_name: FieldCond::In(KeySet::names(["StopLogging"])),
        ..KeyConds::any()
    });
    let rec = br#"{"eventName":"ConsoleLogin"}"#.to_vec();
    let with = common::evaluate(
        &mut Matcher::new(&compiled.plan),
        std::slice::from_ref(&rec),
        1,
    );
    let without = common::evaluate(&mut Matcher::naive(&compiled.plan), &[rec], 1);
    assert_ne!(with, without);
}

// ---- property: random rules over random records --------------------------

const NAMES: &[&str] = &["A", "AB", "B", "Get", "GetX", ""];
/// Lowercase names, for case-insensitive comparisons (and some that no
/// folded value equals).
const FOLDED: &[&str] = &["a", "ab", "b", "get", "getx", "", "A", "Get"];
/// Record values: the names in other cases too.
const RECORD_NAMES: &[&str] = &[
    "A", "AB", "B", "Get", "GetX", "", "a", "ab", "GET", "getx", "gEtX",
];
const SOURCES: &[&str] = &["s", "t", "s.x"];

fn lit(xs: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(xs).prop_map(|s| format!("{s:?}"))
}

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        lit(NAMES).prop_map(|n| format!(".eventName == {n}")),
        lit(NAMES).prop_map(|n| format!("{n} == .eventName")),
        lit(SOURCES).prop_map(|s| format!(".eventSource == {s}")),
        lit(NAMES).prop_map(|n| format!(".eventName != {n}")),
        lit(NAMES).prop_map(|n| format!("(.eventName | startswith({n}))")),
        prop::sample::select(NAMES).prop_map(|n| format!("(.eventName | test(\"^{n}\"))")),
        prop::sample::select(NAMES).prop_map(|n| format!("(.eventName | test(\"^({n}|B)$\"))")),
        (lit(NAMES), lit(NAMES)).prop_map(|(a, b)| format!("(.eventName | IN({a}, {b}))")),
        (lit(SOURCES), lit(SOURCES)).prop_map(|(a, b)| format!("IN(.eventSource; {a}, {b})")),
        Just(".errorCode == \"X\"".to_string()),
        Just(".eventName == null".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        Just("null".to_string()),
        Just("empty".to_string()),
        Just(".".to_string()),
        Just(".eventName".to_string()),
        lit(NAMES).prop_map(|n| format!("(tostring | contains({n}))")),
        lit(NAMES).prop_map(|n| format!("(.errorCode | tostring | contains({n}))")),
        Just("(.errorCode | tostring | contains(\"ul\"))".to_string()),
        lit(NAMES).prop_map(|n| format!("((.eventName // \"\") | contains({n}))")),
        lit(NAMES).prop_map(|n| format!("(.eventName | ascii_downcase | startswith({n}))")),
        folded_leaf(),
    ]
}

/// Case-insensitive shapes: the folded value compared, type tests, `any`
/// over one value, a `def` with a `$v` parameter.
fn folded_leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        lit(FOLDED).prop_map(|n| format!("((.eventName | ascii_downcase) == {n})")),
        lit(FOLDED).prop_map(|n| format!("({n} != (.eventName | ascii_downcase))")),
        lit(SOURCES).prop_map(|s| format!("((.eventSource | ascii_downcase) == {s})")),
        prop::sample::select(FOLDED)
            .prop_map(|n| format!("(.eventName | ascii_downcase | test(\"^{n}\"))")),
        prop::sample::select(FOLDED)
            .prop_map(|n| format!("(.eventName | ascii_downcase | test(\"^({n}|b)$\"))")),
        (lit(FOLDED), lit(FOLDED))
            .prop_map(|(a, b)| format!("(.eventName | ascii_downcase | IN({a}, {b}))")),
        (lit(FOLDED), lit(FOLDED))
            .prop_map(|(a, b)| format!("(.eventName | ascii_downcase | . == {a} or . == {b})")),
        Just("(.eventName | type == \"string\")".to_string()),
        Just("(.eventName | type != \"string\")".to_string()),
        Just("(.eventSource | type == \"array\")".to_string()),
        lit(FOLDED).prop_map(|n| format!(
            "(.eventName | if type == \"string\" then ascii_downcase == {n} \
             elif type == \"array\" then any(.[]; type == \"string\" and ascii_downcase == {n}) \
             else false end)"
        )),
        lit(FOLDED).prop_map(|n| format!("any(.eventName; ascii_downcase == {n})")),
        lit(NAMES).prop_map(|n| format!("any(.eventName; select(. == {n}))")),
        lit(NAMES).prop_map(|n| format!(
            "(def ci($v): (.eventName | ascii_downcase) == ($v | ascii_downcase); ci({n}))"
        )),
    ]
}

fn term() -> impl Strategy<Value = String> {
    leaf().prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            inner.clone().prop_map(|a| format!("({a} | not)")),
            inner.clone().prop_map(|a| format!("select({a})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(select({a}) | {b})")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(a, b, c)| format!("(if {a} then {b} else {c} end)")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(if {a} then {b} end)")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} // {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}, {b})")),
            inner.clone().prop_map(|a| format!("(try ({a}))")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(try ({a}) catch ({b}))")),
        ]
    })
}

fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => lit(RECORD_NAMES),
        1 => Just("null".to_string()),
        1 => Just("5".to_string()),
        1 => lit(RECORD_NAMES).prop_map(|n| format!("[{n}, 5]")),
    ]
}

fn record() -> impl Strategy<Value = String> {
    (
        prop::option::of(field()),
        prop::option::of(prop_oneof![
            lit(SOURCES),
            Just("\"S.x\"".to_string()),
            Just("null".to_string()),
            Just("[\"s\"]".to_string()),
        ]),
        any::<bool>(),
    )
        .prop_map(|(n, s, err)| {
            let mut parts = Vec::new();
            if let Some(n) = n {
                parts.push(format!("\"eventName\":{n}"));
            }
            if let Some(s) = s {
                parts.push(format!("\"eventSource\":{s}"));
            }
            if err {
                parts.push("\"errorCode\":\"X\"".to_string());
            }
            format!("{{{}}}", parts.join(","))
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn fires_implies_admitted(rule in term(), records in prop::collection::vec(record(), 1..24)) {
        let src = format!("[[rule]]\nname = \"p\"\njq_match = '''{rule}'''\n");
        let compiled = common::compile(&src);
        let plan = &compiled.plan;
        let raws: Vec<Vec<u8>> = records.iter().map(|r| r.as_bytes().to_vec()).collect();
        let with = common::evaluate(&mut Matcher::new(plan), &raws, 1);
        let without = common::evaluate(&mut Matcher::naive(plan), &raws, 1);
        let mut parser = RecordParser::default();
        for (i, raw) in raws.iter().enumerate() {
            prop_assert_eq!(&with[i], &without[i], "rule {} on {}", rule, records[i]);
            if without[i][0].is_some() {
                let mut b = raw.clone();
                let rec = parser.parse(&mut b).unwrap();
                prop_assert!(
                    plan.rules[0].prefilter().admits(rec.event_name(), rec.event_source()),
                    "rule {} fired on {} but prefilter {:?} rejects it", rule, records[i], plan.rules[0].prefilter()
                );
            }
        }
    }
}
