//! Running a rule's `[[rule.test]]` tables exactly as a scan would: the
//! test's events go through a [`Scanner`] (the plan's dispatch index,
//! literal checks, native evaluation, exceptions) as a CloudTrail log,
//! and the alerts of the rule under test are compared with what the test
//! expects.
//!
//! One event (`event`, `event_json`, or a `file` holding one JSON object)
//! is scanned as a one-record log; a `file` that is a CloudTrail log (gzip
//! or not) is scanned as it is. Reading files is the caller's job
//! (`tattletail test`): this module takes their bytes.
//!
//! A test passes when the events could be read, the rule did not fail on
//! any of them (a rule error is a failure: a scan would count and report
//! it), the number of alerts is what `expect` (at least one, or none) or
//! `alerts` (exactly N) says, and every alert's output equals
//! `annotation` when one is given. Outputs are compared as JSON values,
//! as jq compares them: numbers by value (`1` equals `1.0`), objects
//! whatever their key order. An output that is the event itself (a bare
//! `select(…)`) has no annotation and never equals one.

use std::fmt::Write as _;
use std::io::{self, Cursor};

use serde_json::Value;
use tattletail_compiler::config::{Expect, RuleTest};

use crate::scan::{Alert, AlertSink, InputOutcome, Scanner};

/// A test's events, ready to scan.
#[derive(Clone, Debug)]
pub enum Events {
    /// One event's JSON text (`event`, `event_json`).
    Event(String),
    /// A file's bytes (`file`): a CloudTrail log (gzip or not), or one
    /// event as a JSON object.
    File(Vec<u8>),
}

/// One alert of the rule under test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fired {
    /// The record's position in the log (0 for one event).
    pub record: u64,
    /// The rule's output as JSON text, or `None` when it was the event
    /// itself.
    pub annotation: Option<String>,
}

/// What the rule under test did on a test's events.
#[derive(Clone, Debug, Default)]
pub struct Ran {
    /// Its alerts, in record order.
    pub alerts: Vec<Fired>,
    /// Its errors (`record N: message`, the first few) and how many.
    pub errors: (u64, Vec<String>),
    /// Why the events (or some of them) could not be read.
    pub unreadable: Vec<String>,
    /// Records evaluated.
    pub records: u64,
    /// Names of the exceptions that apply to the rule and suppressed
    /// alerts on these events.
    pub suppressed_by: Vec<String>,
    /// The events were one event (not a log file).
    pub one_event: bool,
}

/// Collects the alerts of one rule.
struct RuleSink {
    rule: usize,
    alerts: Vec<Fired>,
}

impl AlertSink for RuleSink {
    fn alert(&mut self, a: &Alert<'_>) -> io::Result<()> {
        if a.rule_index == self.rule {
            self.alerts.push(Fired {
                record: a.position.index,
                annotation: a.annotation.map(|v| v.0.clone()),
            });
        }
        Ok(())
    }
}

/// The name inputs get in the scanner (stripped from its messages).
const LABEL: &str = "test";

/// `{"Records":[EVENT]}`.
fn one_record_log(event: &[u8]) -> Vec<u8> {
    let mut log = Vec::with_capacity(event.len() + 16);
    log.extend_from_slice(b"{\"Records\":[");
    log.extend_from_slice(event);
    log.extend_from_slice(b"]}");
    log
}

/// Scan `events` with `scanner` (a fresh scanner of the plan, as a scan
/// makes one) and collect what rule `rule` (its position in the plan) did.
pub fn run(mut scanner: Scanner<'_>, rule: usize, events: Events) -> Ran {
    let mut ran = Ran::default();
    let (log, one_event) = match events {
        Events::Event(text) => (one_record_log(text.as_bytes()), true),
        Events::File(bytes) => {
            let mut sink = RuleSink {
                rule,
                alerts: Vec::new(),
            };
            match scanner.scan(LABEL, Cursor::new(bytes.clone()), &mut sink) {
                Ok(InputOutcome::Skipped(why)) => {
                    // Not a log: one event, if it is a JSON object.
                    match serde_json::from_slice::<Value>(&bytes) {
                        Ok(Value::Object(map)) if !map.contains_key("Records") => {
                            scanner.take_stats();
                            (one_record_log(&bytes), true)
                        }
                        _ => {
                            let why = why.strip_prefix("not a CloudTrail log: ").unwrap_or(&why);
                            ran.unreadable.push(format!(
                                "the file is neither a CloudTrail log nor one event (a JSON object): {why}"
                            ));
                            return ran;
                        }
                    }
                }
                outcome => {
                    ran.alerts = sink.alerts;
                    finish(&mut ran, &mut scanner, rule, outcome);
                    return ran;
                }
            }
        }
    };
    ran.one_event = one_event;
    let mut sink = RuleSink {
        rule,
        alerts: Vec::new(),
    };
    let outcome = scanner.scan(LABEL, Cursor::new(log), &mut sink);
    ran.alerts = sink.alerts;
    finish(&mut ran, &mut scanner, rule, outcome);
    ran
}

/// Take what the scan counted.
fn finish(
    ran: &mut Ran,
    scanner: &mut Scanner<'_>,
    rule: usize,
    outcome: io::Result<InputOutcome>,
) {
    let plan = scanner.plan();
    let stats = scanner.take_stats();
    let strip = |s: &str| {
        s.strip_prefix(&format!("{LABEL} "))
            .unwrap_or(s)
            .to_string()
    };
    match outcome {
        Ok(InputOutcome::Scanned) => {}
        Ok(InputOutcome::Skipped(why)) => ran.unreadable.push(why),
        Ok(InputOutcome::Failed(why)) => ran.unreadable.push(why.message().to_string()),
        Err(e) => ran.unreadable.push(e.to_string()),
    }
    for b in &stats.bad_examples {
        ran.unreadable.push(format!(
            "record {} (byte {}) could not be read: {}",
            b.position.index, b.position.offset, b.message
        ));
    }
    let shown = stats.bad_examples.len() as u64;
    if stats.bad_records > shown {
        ran.unreadable.push(format!(
            "and {} more unreadable records",
            stats.bad_records - shown
        ));
    }
    ran.records = stats.records;
    ran.errors = (
        stats.rule_errors.get(rule).copied().unwrap_or(0),
        stats
            .rule_error_examples
            .get(rule)
            .map(|ex| ex.iter().map(|e| strip(e)).collect())
            .unwrap_or_default(),
    );
    ran.suppressed_by = plan
        .exceptions
        .iter()
        .enumerate()
        .filter(|(e, x)| x.applies_to(rule) && stats.suppressed.get(*e).is_some_and(|n| *n > 0))
        .map(|(_, x)| x.config.name.clone())
        .collect();
}

/// `an alert`, `3 alerts`.
fn alerts(n: u64) -> String {
    match n {
        0 => "no alert".to_string(),
        1 => "an alert".to_string(),
        n => format!("{n} alerts"),
    }
}

impl Ran {
    /// Whether the test passes.
    pub fn passed(&self, test: &RuleTest) -> bool {
        let n = self.alerts.len() as u64;
        let count_ok = match (test.alerts, test.expect) {
            (Some(want), _) => n == want,
            (None, Expect::Alert) => n > 0,
            (None, Expect::NoAlert) => n == 0,
        };
        let output_ok = match &test.annotation {
            None => true,
            Some(want) => self.alerts.iter().all(|a| {
                a.annotation
                    .as_deref()
                    .is_some_and(|got| same_json(want, got))
            }),
        };
        self.unreadable.is_empty() && self.errors.0 == 0 && count_ok && output_ok
    }

    /// What the test expected, in words: `an alert with annotation "bob"`.
    pub fn expected(test: &RuleTest) -> String {
        let mut s = match (test.alerts, test.expect) {
            (Some(n), _) => alerts(n),
            (None, Expect::Alert) => "an alert".to_string(),
            (None, Expect::NoAlert) => "no alert".to_string(),
        };
        if let Some(a) = &test.annotation {
            let each = if test.alerts.is_some_and(|n| n > 1) {
                ", each"
            } else {
                ""
            };
            let _ = write!(s, "{each} with annotation {a}");
        }
        s
    }

    /// What happened, in words: the first line (`an alert with annotation
    /// "alice"`), then one line per alert of a log file (the first few).
    pub fn got(&self) -> Vec<String> {
        let output = |a: &Fired| match &a.annotation {
            Some(t) => format!("with annotation {t}"),
            None => "with the event itself as output (no annotation)".to_string(),
        };
        let n = self.alerts.len() as u64;
        let mut lines = Vec::new();
        match (&self.alerts[..], self.one_event) {
            ([], _) if self.records == 0 && !self.unreadable.is_empty() => {
                lines.push("nothing: the events could not be read".to_string())
            }
            ([], _) => lines.push("no alert".to_string()),
            ([a], true) => lines.push(format!("an alert {}", output(a))),
            (all, _) => {
                lines.push(format!("{} in {} records", alerts(n), self.records));
                for a in all.iter().take(SHOWN) {
                    lines.push(format!("  record {}: {}", a.record, output(a)));
                }
                if all.len() > SHOWN {
                    lines.push(format!("  and {} more", all.len() - SHOWN));
                }
            }
        }
        lines
    }

    /// Everything else worth saying about the run: why events could not
    /// be read, the rule's errors, exceptions that suppressed its alerts.
    pub fn notes(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for u in &self.unreadable {
            lines.push(format!("the events could not be read: {u}"));
        }
        let (count, examples) = &self.errors;
        for e in examples {
            lines.push(format!("the rule failed on {e}"));
        }
        let shown = examples.len() as u64;
        if *count > shown {
            lines.push(format!("the rule failed on {} more records", count - shown));
        }
        for x in &self.suppressed_by {
            lines.push(format!(
                "exception `{x}`, which applies to this rule, suppressed alerts on these events"
            ));
        }
        lines
    }
}

/// Alerts listed one by one at most.
const SHOWN: usize = 5;

/// Two JSON texts hold the same value, as jq compares: numbers by value,
/// objects whatever their key order. Text that does not parse is
/// compared as text.
pub fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(x), Ok(y)) => json_eq(&x, &y),
        _ => a == b,
    }
}

fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tattletail_compiler::config::TestInput;
    use tattletail_compiler::plan::Plan;

    const CONFIG: &str = r#"
[[rule]]
name = "Create User"
jq_match = 'select(.eventName == "CreateUser") | {user: .requestParameters.userName, n: 1}'

[[rule.test]]
name = "fires"
event = { eventName = "CreateUser", requestParameters = { userName = "bob" } }
expect = "alert"
annotation = { n = 1.0, user = "bob" }

[[rule.test]]
name = "wrong annotation"
event = { eventName = "CreateUser", requestParameters = { userName = "alice" } }
expect = "alert"
annotation_json = '{"user": "bob", "n": 1}'

[[rule.test]]
name = "quiet"
event_json = '{"eventName": "DeleteUser"}'
expect = "no_alert"

[[rule.test]]
name = "log"
file = "log.json"
alerts = 2

[[rule]]
name = "Whole event"
jq_match = 'select(.eventName == "CreateUser")'

[[rule.test]]
name = "no annotation"
event = { eventName = "CreateUser" }
expect = "alert"
annotation = "x"

[[rule]]
name = "Fails"
jq_match = 'select(.eventName == "Fail") | .requestParameters.userName | ascii_downcase'

[[rule.test]]
name = "fails on a number"
event = { eventName = "Fail", requestParameters = { userName = 5 } }
expect = "no_alert"

[[exception]]
name = "bots"
reason = "the bot creates users"
rules = ["Create User"]
jq_match = '.userIdentity.arn == "bot"'
"#;

    fn plan() -> Plan {
        tattletail_compiler::compile(CONFIG).unwrap().plan
    }

    fn test<'a>(plan: &'a Plan, rule: usize, name: &str) -> &'a RuleTest {
        plan.rules[rule]
            .config
            .tests
            .iter()
            .find(|t| t.name == name)
            .unwrap()
    }

    fn event(t: &RuleTest) -> Events {
        match &t.input {
            TestInput::Event(e) => Events::Event(e.clone()),
            TestInput::File { .. } => panic!("a file"),
        }
    }

    #[test]
    fn events_run_through_the_scanner() {
        let plan = plan();
        for naive in [false, true] {
            let scanner = || {
                if naive {
                    Scanner::with_matcher(crate::Matcher::naive(&plan))
                } else {
                    Scanner::new(&plan)
                }
            };
            let t = test(&plan, 0, "fires");
            let ran = run(scanner(), 0, event(t));
            assert!(ran.passed(t), "{ran:?}");
            assert_eq!(
                ran.got(),
                ["an alert with annotation {\"user\":\"bob\",\"n\":1}"]
            );

            let t = test(&plan, 0, "wrong annotation");
            let ran = run(scanner(), 0, event(t));
            assert!(!ran.passed(t));
            assert_eq!(
                Ran::expected(t),
                "an alert with annotation {\"user\":\"bob\",\"n\":1}"
            );

            let t = test(&plan, 0, "quiet");
            assert!(run(scanner(), 0, event(t)).passed(t));

            let t = test(&plan, 1, "no annotation");
            let ran = run(scanner(), 1, event(t));
            assert!(!ran.passed(t));
            assert_eq!(
                ran.got(),
                ["an alert with the event itself as output (no annotation)"]
            );

            let t = test(&plan, 2, "fails on a number");
            let ran = run(scanner(), 2, event(t));
            assert!(!ran.passed(t), "a rule error fails the test");
            assert!(
                ran.notes()[0].starts_with("the rule failed on record 0: "),
                "{ran:?}"
            );
        }
    }

    #[test]
    fn files_are_logs_or_one_event() {
        let plan = plan();
        let t = test(&plan, 0, "log");
        let log = br#"{"Records": [
            {"eventName": "CreateUser", "requestParameters": {"userName": "a"}},
            {"eventName": "DeleteUser"},
            {"eventName": "CreateUser", "userIdentity": {"arn": "bot"}},
            {"eventName": "CreateUser", "requestParameters": {"userName": "b"}}
        ]}"#;
        let ran = run(Scanner::new(&plan), 0, Events::File(log.to_vec()));
        assert!(ran.passed(t), "{ran:?}");
        assert_eq!(ran.records, 4);
        assert_eq!(
            ran.alerts.iter().map(|a| a.record).collect::<Vec<_>>(),
            [0, 3]
        );
        assert_eq!(ran.suppressed_by, ["bots"]);
        assert_eq!(ran.got()[0], "2 alerts in 4 records");

        let one = br#"{"eventName": "CreateUser"}"#;
        let ran = run(Scanner::new(&plan), 0, Events::File(one.to_vec()));
        assert!(ran.one_event && ran.unreadable.is_empty(), "{ran:?}");
        assert_eq!(ran.alerts.len(), 1);

        for bad in [&b"[1, 2]"[..], b"", b"{\"Records\": 3}", b"{nope"] {
            let ran = run(Scanner::new(&plan), 0, Events::File(bad.to_vec()));
            assert!(!ran.unreadable.is_empty() && !ran.passed(t), "{ran:?}");
        }
    }

    #[test]
    fn json_values_compare_as_jq_does() {
        assert!(same_json("1", "1.0"));
        assert!(same_json(r#"{"a":1,"b":[2]}"#, r#"{"b":[2.0],"a":1}"#));
        assert!(!same_json(r#""1""#, "1"));
        assert!(!same_json(r#"{"a":1}"#, r#"{"a":1,"b":null}"#));
        assert!(same_json("9007199254740993", "9007199254740993"));
    }
}
