//! Sigma semantics as data: `testdata/sigma/semantics/cases.yml` holds
//! Sigma rules, each with `cases` (an event and whether the rule must
//! match). Every rule is compiled alone and every case evaluated with the
//! dispatch index and without it.

mod common;

use tattletail_compiler::sigma::SigmaFile;
use tattletail_runtime::matcher::Matcher;

#[test]
fn every_case_matches_as_written() {
    let path = common::root().join("testdata/sigma/semantics/cases.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut checked = 0;
    for (i, doc) in text.split("\n---\n").enumerate() {
        let yaml = serde_yaml_cases(doc);
        let compiled = common::compile_sigma(
            "",
            vec![SigmaFile {
                name: format!("cases.yml#{i}"),
                text: doc.to_string(),
                ..Default::default()
            }],
        );
        assert!(
            compiled.warnings.is_empty(),
            "document {i}: {:#?}",
            compiled.warnings
        );
        let plan = &compiled.plan;
        assert_eq!(plan.rules.len(), 1, "document {i}");
        let title = plan.rules[0].config.display_name();
        let records: Vec<Vec<u8>> = yaml.iter().map(|(e, _)| e.clone().into_bytes()).collect();
        let with = common::evaluate(&mut Matcher::new(plan), &records, 1);
        let without = common::evaluate(&mut Matcher::naive(plan), &records, 1);
        for (k, (event, want)) in yaml.iter().enumerate() {
            assert_eq!(
                with[k][0].is_some(),
                *want,
                "`{title}` case {k} {event}: expected match = {want}\n{}",
                plan.rules[0].config.jq_match
            );
            assert_eq!(
                with[k][0].is_some(),
                without[k][0].is_some(),
                "`{title}` case {k}: index vs naive"
            );
            checked += 1;
        }
    }
    assert!(checked >= 60, "{checked}");
}

/// The `cases` of one document: (event as JSON text, must match).
fn serde_yaml_cases(doc: &str) -> Vec<(String, bool)> {
    let docs = tattletail_compiler::sigma::yaml::parse(doc).unwrap();
    let cases = docs[0].get("cases").expect("each document has cases");
    let tattletail_compiler::sigma::yaml::Kind::Seq(items) = &cases.kind else {
        panic!("cases is a list")
    };
    items
        .iter()
        .map(|c| {
            let want = c.get("match").and_then(|m| m.text()) == Some("true");
            (to_json(c.get("event").expect("event")), want)
        })
        .collect()
}

fn to_json(y: &tattletail_compiler::sigma::yaml::Yaml) -> String {
    use tattletail_compiler::sigma::yaml::{Kind, Scalar};
    match &y.kind {
        Kind::Map(entries) => {
            let parts: Vec<String> = entries
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}:{}",
                        serde_json::to_string(k.text().unwrap()).unwrap(),
                        to_json(v)
                    )
                })
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Kind::Seq(items) => format!(
            "[{}]",
            items.iter().map(to_json).collect::<Vec<_>>().join(",")
        ),
        Kind::Scalar(..) => match y.scalar().unwrap() {
            Scalar::Null => "null".into(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => format!("{f:?}"),
            Scalar::Str(s) => serde_json::to_string(s).unwrap(),
        },
    }
}
