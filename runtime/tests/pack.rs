//! Every rule of the built-in pack passes the tests written next to it in
//! `compiler/rules/default.toml` (its `[[rule.test]]` tables), through the
//! code `tattletail test` runs ([`rule_test::run`]), with the dispatch
//! index and without it; and every rule has at least one test on which it
//! alerts and one on which it stays quiet.

mod common;

use tattletail_compiler::config::{Expect, TestInput};
use tattletail_runtime::matcher::Matcher;
use tattletail_runtime::rule_test::{self, Events, Ran};
use tattletail_runtime::Scanner;

#[test]
fn every_pack_rule_passes_its_tests() {
    let compiled = common::compile(tattletail_compiler::pack::DEFAULT_PACK);
    assert!(
        compiled.warnings.is_empty(),
        "the pack has warnings: {:#?}",
        compiled.warnings
    );
    let plan = &compiled.plan;
    assert!(plan.rules.len() >= 20);
    let mut tests = 0;
    for (r, rule) in plan.rules.iter().enumerate() {
        let name = rule.config.display_name();
        for want in [Expect::Alert, Expect::NoAlert] {
            assert!(
                rule.config.tests.iter().any(|t| t.expect == want),
                "rule `{name}` needs a test with expect = \"{}\"",
                want.as_str()
            );
        }
        for test in &rule.config.tests {
            // The pack is built into the binary: its tests cannot name files.
            let TestInput::Event(json) = &test.input else {
                panic!("rule `{name}` test `{}` reads a file", test.name);
            };
            for naive in [false, true] {
                let scanner = if naive {
                    Scanner::with_matcher(Matcher::naive(plan))
                } else {
                    Scanner::new(plan)
                };
                let ran = rule_test::run(scanner, r, Events::Event(json.clone()));
                assert!(
                    ran.passed(test),
                    "rule `{name}` test `{}` (index {}): expected {}, got {:?} {:?}",
                    test.name,
                    if naive { "off" } else { "on" },
                    Ran::expected(test),
                    ran.got(),
                    ran.notes()
                );
            }
            tests += 1;
        }
    }
    assert!(tests >= 2 * plan.rules.len());
}
