//! TrailAlerts' labelled events against SigmaHQ's rules as written.
//!
//! TrailAlerts (testdata/sigma/trailalerts) keeps `X_tests.json` next to
//! its own copies of Sigma rules; 41 of its 52 files are named after a
//! SigmaHQ rule in testdata/sigma/sigmahq/rules. Each such pair is loaded
//! as `tattletail test --sigma` loads a rule and its tests file (the
//! events become `should_match[i]` / `should_not_match[i]` tests of the
//! rule) and every test runs through a scanner of the plan. Every
//! `should_match` event must alert and every `should_not_match` event must
//! not, except the cases in [`EXCEPTIONS`]: there TrailAlerts labelled the
//! event by its own adaptation of the rule, and SigmaHQ's rule as written
//! decides. The test fails on a mismatch not listed there, and on a listed
//! case that no longer mismatches (the table must stay true).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use tattletail_compiler::config::{cannot_read, Expect, SigmaInput, TestInput};
use tattletail_compiler::plan::compile_with;
use tattletail_compiler::sigma::{SigmaFile, SigmaTests};
use tattletail_runtime::rule_test::{self, Events};
use tattletail_runtime::Scanner;

/// (tests file stem, test name, why SigmaHQ's rule decides otherwise than
/// TrailAlerts' label).
const EXCEPTIONS: &[(&str, &str, &str)] = &[
    (
        "aws_console_getsignintoken",
        "should_not_match[0]",
        "SigmaHQ's filter is `userAgent|contains: 'Jersey/${project.version}'`, the console's \
         user agent with its placeholder unexpanded; the event's userAgent `Jersey/2.25.1` \
         does not contain that text, so the filter does not apply and the rule alerts \
         (TrailAlerts' copy filters on `contains: 'Jersey'`)",
    ),
    (
        "aws_delete_saml_provider",
        "should_match[0]",
        "SigmaHQ's selection also requires `status: 'success'`; CloudTrail records have no \
         `status` field (this event has none), and a missing field never equals a value, \
         so the rule as written never fires on CloudTrail (TrailAlerts' copy drops the \
         `status` line)",
    ),
    (
        "aws_enum_buckets",
        "should_match[0]",
        "SigmaHQ's rule is `selection and not filter` with `filter: userIdentity.type: \
         'AssumedRole'`; the event's userIdentity.type is `AssumedRole`, so it is filtered \
         out (TrailAlerts' copy has no filter)",
    ),
    (
        "aws_iam_backdoor_users_keys",
        "should_not_match[0]",
        "SigmaHQ's filter `userIdentity.arn|contains: responseElements.accessKey.userName` \
         has no `fieldref`: it looks for the literal text `responseElements.accessKey.userName` \
         in the ARN, which `arn:aws:iam::123456789012:user/bob` does not contain, so the \
         filter never applies and the rule alerts on every CreateAccessKey (TrailAlerts' \
         label reads it as the field: bob creating a key for bob)",
    ),
    (
        "aws_update_login_profile",
        "should_not_match[0]",
        "SigmaHQ's filter `userIdentity.arn|fieldref: requestParameters.userName` compares \
         the whole ARN `arn:aws:iam::123456789012:user/user1` with the user name `user1`; \
         they are never equal, so the filter never applies and the rule alerts \
         (TrailAlerts special-cases this comparison: user1 updating its own profile)",
    ),
];

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/sigma")
}

/// (stem, the SigmaHQ rule file, the TrailAlerts tests file) for every
/// tests file whose rule SigmaHQ has.
fn pairs() -> Vec<(String, PathBuf, PathBuf)> {
    let tests_dir = testdata().join("trailalerts/tests");
    let mut out: Vec<_> = std::fs::read_dir(&tests_dir)
        .expect("testdata/sigma/trailalerts/tests")
        .map(|e| e.expect("a directory entry").path())
        .filter_map(|tests| {
            let name = tests.file_name()?.to_str()?;
            let stem = name.strip_suffix("_tests.json")?.to_string();
            let rule = testdata().join(format!("sigmahq/rules/{stem}.yml"));
            rule.is_file().then_some((stem, rule, tests))
        })
        .collect();
    out.sort();
    out
}

/// What one event did against the rule, when that differs from its label.
struct Mismatch {
    stem: String,
    test: String,
    expected: Expect,
    got: String,
}

/// Run every test of one rule and its tests file; count the events and
/// collect the mismatches.
fn run_pair(stem: &str, rule: &Path, tests: &Path, events: &mut usize) -> Vec<Mismatch> {
    let read = |p: &Path| std::fs::read_to_string(p).expect("a fixture");
    let file = SigmaFile {
        name: rule.display().to_string(),
        text: read(rule),
        tests: Some(SigmaTests {
            name: tests.display().to_string(),
            text: read(tests),
        }),
    };
    let mut resolve = cannot_read;
    let mut input = SigmaInput {
        resolve: &mut resolve,
        extra: vec![file],
    };
    let compiled = compile_with("", &mut input)
        .unwrap_or_else(|d| panic!("{stem}: the rule and its tests load: {d:#?}"));
    assert!(
        compiled.warnings.is_empty(),
        "{stem}: {:#?}",
        compiled.warnings
    );
    let plan = &compiled.plan;
    assert_eq!(plan.rules.len(), 1, "{stem}: one detection rule");
    let mut out = Vec::new();
    for test in &plan.rules[0].config.tests {
        *events += 1;
        let TestInput::Event(json) = &test.input else {
            panic!("{stem}: a tests file gives events");
        };
        let ran = rule_test::run(Scanner::new(plan), 0, Events::Event(json.clone()));
        assert!(
            ran.unreadable.is_empty() && ran.errors.0 == 0,
            "{stem} {}: {:?}",
            test.name,
            ran.notes()
        );
        if !ran.passed(test) {
            out.push(Mismatch {
                stem: stem.to_string(),
                test: test.name.clone(),
                expected: test.expect,
                got: ran.got().join(" "),
            });
        }
    }
    out
}

#[test]
fn trailalerts_events_against_sigmahq_rules() {
    let pairs = pairs();
    assert!(pairs.len() >= 40, "{} pairs", pairs.len());
    let mut events = 0;
    let mut mismatches = Vec::new();
    for (stem, rule, tests) in &pairs {
        mismatches.extend(run_pair(stem, rule, tests, &mut events));
    }
    let listed: BTreeSet<(&str, &str)> = EXCEPTIONS.iter().map(|(s, t, _)| (*s, *t)).collect();
    let found: BTreeSet<(&str, &str)> = mismatches
        .iter()
        .map(|m| (m.stem.as_str(), m.test.as_str()))
        .collect();
    let unlisted: Vec<String> = mismatches
        .iter()
        .filter(|m| !listed.contains(&(m.stem.as_str(), m.test.as_str())))
        .map(|m| {
            format!(
                "{} {}: labelled {}, SigmaHQ's rule gives {}",
                m.stem,
                m.test,
                m.expected.as_str(),
                m.got
            )
        })
        .collect();
    let stale: Vec<String> = listed
        .difference(&found)
        .map(|(s, t)| format!("{s} {t}"))
        .collect();
    println!(
        "TrailAlerts fixtures: {} files, {events} events, {} pass, {} listed exceptions",
        pairs.len(),
        events - mismatches.len(),
        EXCEPTIONS.len()
    );
    for (stem, test, reason) in EXCEPTIONS {
        println!("  {stem} {test}: {reason}");
    }
    assert!(
        unlisted.is_empty(),
        "mismatches not in EXCEPTIONS:\n{}",
        unlisted.join("\n")
    );
    assert!(
        stale.is_empty(),
        "EXCEPTIONS that now match their label (remove them):\n{}",
        stale.join("\n")
    );
}
