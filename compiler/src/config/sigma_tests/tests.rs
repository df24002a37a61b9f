//! Tests files next to Sigma rules and `[[sigma.test]]` tables.

use super::*;
use crate::config::{parse_with, Config, SigmaInput};
use crate::diag::line_col;
use crate::sigma::{SigmaFile, SigmaTests};

const RULE: &str = "title: Delete Trail\nid: 1111\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  selection:\n    eventName: DeleteTrail\n  condition: selection\n";

const TESTS: &str = r#"{
  "should_match": [
    {"eventName": "DeleteTrail"}
  ],
  "should_not_match": [
    {"eventName": "CreateTrail"},
    {"eventName": "StopLogging"}
  ]
}"#;

fn sigma_file(rule: &str, tests: Option<&str>) -> SigmaFile {
    SigmaFile {
        name: "r/delete.yml".into(),
        text: rule.into(),
        tests: tests.map(|t| SigmaTests {
            name: "r/delete_tests.json".into(),
            text: t.into(),
        }),
    }
}

/// Load `config` with `files` at every `[[sigma]]` path and none given
/// outside it; or, with an empty config, `files` as `--sigma` files.
fn load(config: &str, files: Vec<SigmaFile>) -> (Config, Vec<Diagnostic>) {
    let from_table = files.clone();
    let mut resolve = move |_: &str| Ok(from_table.clone());
    let extra = if config.is_empty() { files } else { Vec::new() };
    parse_with(
        config,
        &mut SigmaInput {
            resolve: &mut resolve,
            extra,
        },
    )
}

/// (error, message, line:col, file) of each diagnostic.
fn described(diags: &[Diagnostic], config: &str) -> Vec<(bool, String, String)> {
    diags
        .iter()
        .map(|d| {
            (
                d.is_error(),
                d.message.clone(),
                d.location("tattletail.toml", config),
            )
        })
        .collect()
}

#[test]
fn the_events_of_a_tests_file_are_tests_of_the_rule() {
    let (cfg, diags) = load("", vec![sigma_file(RULE, Some(TESTS))]);
    assert!(diags.is_empty(), "{diags:#?}");
    let tests = &cfg.rules[0].tests;
    let got: Vec<(&str, Expect)> = tests.iter().map(|t| (t.name.as_str(), t.expect)).collect();
    assert_eq!(
        got,
        [
            ("should_match[0]", Expect::Alert),
            ("should_not_match[0]", Expect::NoAlert),
            ("should_not_match[1]", Expect::NoAlert),
        ]
    );
    let t = &tests[2];
    assert_eq!(
        t.input,
        TestInput::Event(r#"{"eventName": "StopLogging"}"#.into())
    );
    let file = t.file.as_ref().expect("the test points into its file");
    assert_eq!(file.name, "r/delete_tests.json");
    assert_eq!(line_col(&file.text, t.span.start), (7, 5));
}

#[test]
fn only_the_first_detection_rule_of_a_file_gets_the_tests() {
    let two = format!(
        "{RULE}---\n{}",
        RULE.replace("Delete Trail", "Second")
            .replace("1111", "2222")
    );
    let (cfg, diags) = load("", vec![sigma_file(&two, Some(TESTS))]);
    assert!(diags.is_empty(), "{diags:#?}");
    let counts: Vec<usize> = cfg.rules.iter().map(|r| r.tests.len()).collect();
    assert_eq!(counts, [3, 0]);
}

#[test]
fn problems_in_a_tests_file_point_into_it() {
    for (text, message, at) in [
        (
            "{\n  \"should_match\": [\n    {\"eventName\": \"x\",}\n  ]\n}",
            "the tests file is not valid JSON: key must be a string",
            "r/delete_tests.json:3:23",
        ),
        (
            "[1]",
            "the tests file must be a JSON object: invalid type: sequence, expected a map",
            "r/delete_tests.json:1:1",
        ),
        (
            "{\"should_match\": {\"eventName\": \"x\"}}",
            "`should_match` must be an array of events",
            "r/delete_tests.json:1:18",
        ),
        (
            "{\"should_not_match\": [{}, 5]}",
            "`should_not_match[1]` must be a JSON object (one CloudTrail event)",
            "r/delete_tests.json:1:27",
        ),
        (
            "{\"should_match\": [{\"Records\": []}]}",
            "`should_match[0]` is a log file (it has `Records`), not one event",
            "r/delete_tests.json:1:19",
        ),
    ] {
        let (cfg, diags) = load("", vec![sigma_file(RULE, Some(text))]);
        let want = (true, message.to_string(), at.to_string());
        assert!(
            described(&diags, "").contains(&want),
            "{text}: {:#?}",
            described(&diags, "")
        );
        assert!(cfg
            .rules
            .iter()
            .all(|r| r.tests.is_empty() || text.contains("[{}, 5]")));
    }
}

#[test]
fn unknown_keys_and_empty_files_warn() {
    let (_, diags) = load("", vec![sigma_file(RULE, Some("{\"should_alert\": []}"))]);
    let got = described(&diags, "");
    assert!(
        got.contains(&(
            false,
            "unknown key `should_alert` in a tests file is ignored".into(),
            "r/delete_tests.json:1:18".into()
        )),
        "{got:#?}"
    );
    assert!(
        got.contains(&(
            false,
            "the tests file has no events".into(),
            "r/delete_tests.json:1:1".into()
        )),
        "{got:#?}"
    );
}

#[test]
fn tests_of_a_file_without_a_loaded_rule_warn() {
    let broken = RULE.replace("condition: selection", "condition: missing");
    let (cfg, diags) = load("", vec![sigma_file(&broken, Some(TESTS))]);
    assert!(cfg.rules.is_empty());
    let got = described(&diags, "");
    assert!(
        got.iter().any(|(e, m, at)| !e
            && m.starts_with("these tests are not run")
            && at == "r/delete_tests.json:1:1"),
        "{got:#?}"
    );
}

#[test]
fn sigma_test_tables_attach_to_the_rule_they_name() {
    let config = "[[sigma]]\npath = \"r\"\n\n[[sigma.test]]\nrule = \"Delete Trail\"\nname = \"by title\"\nevent = { eventName = \"DeleteTrail\" }\nexpect = \"alert\"\n\n[[sigma.test]]\nrule = \"1111\"\nname = \"by id\"\nevent_json = '{\"eventName\": \"CreateTrail\"}'\nexpect = \"no_alert\"\n";
    let (cfg, diags) = load(config, vec![sigma_file(RULE, Some(TESTS))]);
    assert!(diags.is_empty(), "{diags:#?}");
    let names: Vec<&str> = cfg.rules[0].tests.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "should_match[0]",
            "should_not_match[0]",
            "should_not_match[1]",
            "by title",
            "by id"
        ]
    );
    let by_id = &cfg.rules[0].tests[4];
    assert!(by_id.file.is_none(), "a [[sigma.test]] is in the config");
    assert_eq!(&config[by_id.span.clone()], "[[sigma.test]]");
    assert_eq!(line_col(config, by_id.span.start), (10, 1));
}

#[test]
fn sigma_test_problems_are_located_in_the_config() {
    let config = "[[sigma]]\npath = \"r\"\n\n[[sigma.test]]\nrule = \"Nope\"\nname = \"unknown rule\"\nevent = {}\nexpect = \"alert\"\n\n[[sigma.test]]\nname = \"no rule\"\nevent = {}\nexpect = \"alert\"\ncolour = 1\n\n[[sigma.test]]\nrule = \"Delete Trail\"\nname = \"no expect\"\nevent = {}\n";
    let (_, diags) = load(config, vec![sigma_file(RULE, None)]);
    let got = described(&diags, config);
    for want in [
        (
            true,
            "test `unknown rule` names Sigma rule `Nope`, which `r` does not load",
            "tattletail.toml:5:8",
        ),
        (
            true,
            "[[sigma.test]] #2 has no `rule`",
            "tattletail.toml:10:1",
        ),
        (
            false,
            "unknown key `colour` in a [[sigma.test]] is ignored",
            "tattletail.toml:14:1",
        ),
        (
            true,
            "test `no expect` of Sigma rule `Delete Trail` has no `expect`",
            "tattletail.toml:16:1",
        ),
    ] {
        let want = (want.0, want.1.to_string(), want.2.to_string());
        assert!(got.contains(&want), "missing {want:?} in {got:#?}");
    }
    let help = &diags
        .iter()
        .find(|d| d.message.contains("Nope"))
        .unwrap()
        .help;
    assert!(
        help.as_deref().unwrap().ends_with("loaded: Delete Trail"),
        "{help:?}"
    );
}
