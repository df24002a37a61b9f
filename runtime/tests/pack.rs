//! Every rule of the built-in pack fires on its must-fire fixtures and
//! stays quiet on its must-not-fire fixtures (`compiler/rules/fixtures.json`).

mod common;

use serde_json::Value;
use tattletail_runtime::matcher::Matcher;

#[test]
fn every_pack_rule_has_fixtures_that_pass() {
    let fixtures: serde_json::Map<String, Value> = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("compiler/rules/fixtures.json")).unwrap(),
    )
    .unwrap();
    let compiled = common::compile(tattletail_compiler::pack::DEFAULT_PACK);
    let plan = &compiled.plan;
    assert!(plan.rules.len() >= 20);
    for (r, rule) in plan.rules.iter().enumerate() {
        let name = rule.config.display_name();
        let f = fixtures
            .get(&name)
            .unwrap_or_else(|| panic!("rule `{name}` has no fixtures"));
        for (key, want) in [("fires", true), ("quiet", false)] {
            let events = f[key]
                .as_array()
                .unwrap_or_else(|| panic!("`{name}` has no `{key}` list"));
            assert!(
                !events.is_empty(),
                "rule `{name}` needs at least one `{key}` event"
            );
            let raws: Vec<Vec<u8>> = events
                .iter()
                .map(|e| serde_json::to_vec(e).unwrap())
                .collect();
            for matcher in [Matcher::new(plan), Matcher::naive(plan)] {
                let mut matcher = matcher;
                let got = common::evaluate(&mut matcher, &raws, plan.rules.len());
                for (i, row) in got.iter().enumerate() {
                    assert_eq!(
                        row[r].is_some(),
                        want,
                        "rule `{name}` {key}[{i}]: {}",
                        events[i]
                    );
                }
            }
        }
    }
    assert_eq!(
        fixtures.len(),
        plan.rules.len(),
        "fixtures for rules that are not in the pack"
    );
}
