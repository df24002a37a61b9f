use super::*;
use serde_json::json;
use tattletail_compiler::config::SigmaInput;
use tattletail_compiler::sigma::SigmaFile;
use tattletail_compiler::{compile_with, Compiled};

fn compile(files: &[(&str, &str)]) -> Compiled {
    let mut none = tattletail_compiler::config::cannot_read;
    let mut input = SigmaInput {
        resolve: &mut none,
        extra: files
            .iter()
            .map(|(name, text)| SigmaFile {
                name: name.to_string(),
                text: text.to_string(),
                ..Default::default()
            })
            .collect(),
    };
    match compile_with("", &mut input) {
        Ok(c) => c,
        Err(d) => panic!("{d:?}"),
    }
}

const BASE: &str = "title: Base A
name: rule_a
logsource: {product: aws, service: cloudtrail}
detection:
    sel: {eventName: A}
    condition: sel
---
title: Base B
name: rule_b
logsource: {product: aws, service: cloudtrail}
detection:
    sel: {eventName: B}
    condition: sel
";

fn with(correlation: &str) -> Compiled {
    compile(&[("base.yml", BASE), ("corr.yml", correlation)])
}

fn rule(c: &Compiled, name: &str) -> usize {
    c.plan
        .rules
        .iter()
        .position(|r| r.config.sigma.as_ref().unwrap().name.as_deref() == Some(name))
        .unwrap()
}

const BASE_TIME: i64 = 1_772_000_000;

/// Feed one match: `rule` on a record at minute `min` (seconds `sec`)
/// with `fields` merged into it.
struct Feeder<'p> {
    engine: Correlator<'p>,
    n: u64,
    fired: Vec<CorrelationAlert>,
}

impl<'p> Feeder<'p> {
    fn new(c: &'p Compiled) -> Self {
        Feeder {
            engine: Correlator::new(&c.plan),
            n: 0,
            fired: Vec::new(),
        }
    }
    fn at(&mut self, rule: usize, secs: i64, extra: Value) -> usize {
        let time = tattletail_compiler::date::format_utc(BASE_TIME + secs);
        let mut record = json!({"eventTime": time, "eventID": format!("e{}", self.n)});
        if let Value::Object(m) = extra {
            record.as_object_mut().unwrap().extend(m);
        }
        let fields = AlertFields {
            event_id: Some(format!("e{}", self.n)),
            event_time: Some(time),
            ..AlertFields::default()
        };
        let out = self.engine.feed(rule, &record, &fields, "f.json", self.n);
        self.n += 1;
        let k = out.len();
        self.fired.extend(out);
        k
    }
}

const COUNT: &str = "title: Count
correlation:
    type: event_count
    rules: rule_a
    group-by: [user]
    timespan: 10m
    condition: {gte: 3}
";

#[test]
fn event_count_fires_once_then_waits_for_the_window_to_move() {
    let c = with(COUNT);
    let a = rule(&c, "rule_a");
    let mut f = Feeder::new(&c);
    let u = json!({"user": "alice"});
    assert_eq!(f.at(a, 0, u.clone()), 0);
    assert_eq!(f.at(a, 60, u.clone()), 0);
    assert_eq!(f.at(a, 120, u.clone()), 1, "third in the window");
    assert_eq!(f.at(a, 180, u.clone()), 0, "still overlapping: quiet");
    assert_eq!(f.at(a, 500, u.clone()), 0, "less than 10m after the fire");
    // 720: window [120, 720] holds 120, 180, 500, 720 and it is 10m after.
    assert_eq!(f.at(a, 720, u.clone()), 1);
    let first = &f.fired[0];
    assert_eq!(first.count, 3);
    assert_eq!(first.group, vec![("user".to_string(), json!("alice"))]);
    assert_eq!(first.event_ids, ["e0", "e1", "e2"]);
    assert_eq!(first.window_end - first.window_start, 120);
    assert_eq!(f.fired[1].count, 4);
    assert_eq!(f.engine.stats().alerts, [2]);
}

#[test]
fn groups_are_separate_and_a_missing_field_is_the_null_group() {
    let c = with(COUNT);
    let a = rule(&c, "rule_a");
    let mut f = Feeder::new(&c);
    for (i, who) in [json!({"user": "a"}), json!({"user": "b"}), json!({})]
        .iter()
        .cycle()
        .take(9)
        .enumerate()
    {
        f.at(a, i as i64, who.clone());
    }
    let groups: Vec<&Value> = f.fired.iter().map(|a| &a.group[0].1).collect();
    assert_eq!(groups, [&json!("a"), &json!("b"), &Value::Null]);
    // A literal dotted key wins over the path.
    let c = with(&COUNT.replace("[user]", "[userIdentity.arn]"));
    let a = rule(&c, "rule_a");
    let mut f = Feeder::new(&c);
    for i in 0..3 {
        f.at(
            a,
            i,
            json!({"userIdentity.arn": "lit", "userIdentity": {"arn": format!("p{i}")}}),
        );
    }
    assert_eq!(f.fired.len(), 1);
    assert_eq!(f.fired[0].group[0].1, json!("lit"));
}

#[test]
fn records_out_of_time_order_are_counted_in_every_window_they_fall_in() {
    let c = with(COUNT);
    let a = rule(&c, "rule_a");
    let mut f = Feeder::new(&c);
    let u = json!({"user": "carol"});
    assert_eq!(f.at(a, 3000, u.clone()), 0);
    assert_eq!(f.at(a, 2760, u.clone()), 0);
    // Completes the window ending at 3000 (2760, 2880, 3000).
    assert_eq!(f.at(a, 2880, u.clone()), 1);
    assert_eq!(f.fired[0].window_end - BASE_TIME, 3000);
    assert_eq!(f.fired[0].window_start - BASE_TIME, 2760);
    assert_eq!(f.fired[0].last.index, 0, "the window's last record");
    assert_eq!(f.engine.stats().late, 2);
    // A much older late record is still correlated with its peers.
    let old = json!({"user": "carol"});
    f.at(a, 0, old.clone());
    f.at(a, 10, old.clone());
    assert_eq!(f.at(a, 20, old), 1, "windows far from the fired one fire");
}

#[test]
fn value_count_counts_distinct_values_and_ignores_a_missing_field() {
    let c = with(
        "title: Regions
correlation:
    type: value_count
    rules: rule_a
    group-by: user
    timespan: 1h
    condition: {gte: 3, field: region}
",
    );
    let a = rule(&c, "rule_a");
    let mut f = Feeder::new(&c);
    for (i, r) in ["x", "x", "y", "y", "x"].iter().enumerate() {
        assert_eq!(f.at(a, i as i64, json!({"user": "u", "region": r})), 0);
    }
    assert_eq!(f.at(a, 10, json!({"user": "u"})), 0, "no field: no value");
    assert_eq!(f.at(a, 11, json!({"user": "u", "region": null})), 0);
    assert_eq!(f.at(a, 12, json!({"user": "u", "region": "z"})), 1);
    assert_eq!(f.fired[0].count, 3);
    assert_eq!(f.fired[0].events, 8);
}

const TEMPORAL: &str = "title: Both
correlation:
    type: temporal
    rules: [rule_a, rule_b]
    group-by: [user]
    timespan: 5m
";

#[test]
fn temporal_needs_every_rule_in_the_window_in_any_order() {
    let c = with(TEMPORAL);
    let (a, b) = (rule(&c, "rule_a"), rule(&c, "rule_b"));
    let mut f = Feeder::new(&c);
    let u = json!({"user": "u"});
    assert_eq!(f.at(b, 0, u.clone()), 0);
    assert_eq!(f.at(b, 10, u.clone()), 0, "the same rule twice is one");
    assert_eq!(f.at(a, 20, u.clone()), 1);
    assert_eq!(f.fired[0].rules, [a, b]);
    // Too far apart.
    let v = json!({"user": "v"});
    f.at(a, 0, v.clone());
    assert_eq!(f.at(b, 301, v), 0);
}

#[test]
fn temporal_ordered_needs_the_listed_order() {
    let c = with(&TEMPORAL.replace("type: temporal", "type: temporal_ordered"));
    let (a, b) = (rule(&c, "rule_a"), rule(&c, "rule_b"));
    let mut f = Feeder::new(&c);
    let u = json!({"user": "u"});
    f.at(b, 0, u.clone());
    assert_eq!(f.at(a, 10, u.clone()), 0, "b before a");
    assert_eq!(f.at(b, 20, u.clone()), 1, "a then b");
    // Equal times count as in order, whatever the arrival order.
    let v = json!({"user": "v"});
    f.at(b, 100, v.clone());
    assert_eq!(f.at(a, 100, v), 1);
    // A late a before an earlier b completes nothing.
    let w = json!({"user": "w"});
    f.at(b, 200, w.clone());
    assert_eq!(f.at(a, 250, w.clone()), 0);
    assert_eq!(f.at(a, 150, w), 1, "late a at 150 precedes b at 200");
}

#[test]
fn caps_drop_state_and_say_so() {
    let c = with(COUNT);
    let a = rule(&c, "rule_a");
    let mut f = Feeder::new(&c);
    f.engine = Correlator::new(&c.plan).with_caps(Caps {
        groups: 2,
        events: 2,
    });
    f.at(a, 0, json!({"user": "1"}));
    f.at(a, 1, json!({"user": "2"}));
    f.at(a, 2, json!({"user": "3"}));
    assert_eq!(
        f.engine.stats().dropped_groups,
        1,
        "no stale group to sweep"
    );
    // Once the window has moved on, stale groups make room.
    f.at(a, 10_000, json!({"user": "1"}));
    f.at(a, 10_001, json!({"user": "4"}));
    assert_eq!(f.engine.stats().dropped_groups, 1);
    // Three in the window, but only two kept: no alert, and it is counted.
    for i in 0..3 {
        f.at(a, 10_010 + i, json!({"user": "4"}));
    }
    assert!(f.engine.stats().dropped_events > 0);
    assert!(f.engine.stats().capped());
    assert!(f.fired.is_empty());
}

#[test]
fn a_record_without_an_event_time_is_counted_and_skipped() {
    let c = with(COUNT);
    let a = rule(&c, "rule_a");
    let mut e = Correlator::new(&c.plan);
    for t in [None, Some("yesterday"), Some("2026-03-01")] {
        let fields = AlertFields {
            event_time: t.map(String::from),
            ..AlertFields::default()
        };
        assert!(e.feed(a, &json!({}), &fields, "f", 0).is_empty());
    }
    assert_eq!(e.stats().no_time, 3);
    assert_eq!(
        event_seconds("2026-03-01T10:00:00.250Z"),
        Some(1_772_359_200)
    );
}

#[test]
fn the_test_set_fires_each_kind_where_it_should() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/sigma/correlation");
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p.display().to_string(), text)
        })
        .collect();
    files.sort();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let c = compile(&refs);
    assert_eq!(c.plan.correlations.len(), 4);
    let log = std::fs::read(format!("{dir}/events.json")).unwrap();
    for workers in [1, 3] {
        let mut sink = Collect {
            engine: Correlator::new(&c.plan),
            fired: Vec::new(),
        };
        let mut scanner = crate::Scanner::new(&c.plan).with_workers(workers);
        scanner
            .scan("events.json", std::io::Cursor::new(log.clone()), &mut sink)
            .unwrap();
        let fired: Vec<(String, String, u64)> = sink
            .fired
            .iter()
            .map(|a| {
                (
                    c.plan.correlations[a.correlation].correlation.title.clone(),
                    a.group[0].1.to_string(),
                    a.count,
                )
            })
            .collect();
        let alice = "\"arn:aws:iam::111111111111:user/alice\"";
        assert_eq!(
            fired,
            [
                ("AWS Console Brute Force".into(), alice.into(), 3),
                (
                    "AWS Console Brute Force".into(),
                    "\"arn:aws:iam::111111111111:user/carol\"".into(),
                    3
                ),
                (
                    "AWS Instance Discovery Across Regions".into(),
                    "\"arn:aws:iam::111111111111:user/dave\"".into(),
                    3
                ),
                (
                    "AWS New IAM User With Access Key".into(),
                    "\"arn:aws:iam::111111111111:user/frank\"".into(),
                    2
                ),
                (
                    "AWS CloudTrail Stopped Then Deleted".into(),
                    "\"111111111111\"".into(),
                    2
                ),
            ],
            "workers: {workers}"
        );
        assert_eq!(sink.engine.stats().no_time, 1);
    }
}

struct Collect<'p> {
    engine: Correlator<'p>,
    fired: Vec<CorrelationAlert>,
}

impl crate::AlertSink for Collect<'_> {
    fn alert(&mut self, a: &Alert<'_>) -> std::io::Result<()> {
        let out = self.engine.alert(a);
        self.fired.extend(out);
        Ok(())
    }
}
