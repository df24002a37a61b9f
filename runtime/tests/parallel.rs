//! A scan with a pool of workers gives exactly what a scan on one thread
//! gives: the same alerts in the same order (input, record, rule), the
//! same counts, the same per-input outcomes, for many small inputs and
//! for one large one, including unreadable records and broken inputs.

mod common;

use std::io::{self, Read};

use tattletail_corpus::{write_file, Generator, Layout};
use tattletail_runtime::scan::{CollectSink, InputOutcome, Source};
use tattletail_runtime::Scanner;

fn sources(files: &[(String, Vec<u8>)]) -> Vec<Source> {
    files
        .iter()
        .map(|(n, b)| {
            (
                n.clone(),
                Ok(Box::new(io::Cursor::new(b.clone())) as Box<dyn Read + Send>),
            )
        })
        .collect()
}

/// Alerts (rule, input, record, annotation), counts, per-input outcomes.
type Scanned = (
    Vec<(usize, String, u64, Option<String>)>,
    String,
    Vec<String>,
);

fn scan(
    plan: &tattletail_compiler::plan::Plan,
    files: &[(String, Vec<u8>)],
    workers: usize,
) -> Scanned {
    let mut scanner = Scanner::new(plan).with_workers(workers);
    let mut sink = CollectSink::default();
    let mut outcomes = Vec::new();
    scanner
        .scan_all(sources(files), &mut sink, &mut |name, o| {
            outcomes.push(format!(
                "{name}: {}",
                match o {
                    InputOutcome::Scanned => "scanned".to_string(),
                    InputOutcome::Skipped(w) => format!("skipped {w}"),
                    InputOutcome::Failed(w) => format!("failed {w}"),
                }
            ))
        })
        .unwrap();
    let s = &scanner.stats;
    let counts = format!(
        "files {} records {} bad {} alerts {:?} errors {:?} budget {:?} json {} read {} skipped {:?} failed {:?} examples {:?} bad_examples {:?}",
        s.files,
        s.records,
        s.bad_records,
        s.alerts,
        s.rule_errors,
        s.budget_errors,
        s.bytes_json,
        s.bytes_read,
        s.skipped,
        s.failed,
        s.rule_error_examples,
        s.bad_examples.iter().map(|b| (&b.source, b.position.index, &b.message)).collect::<Vec<_>>()
    );
    (sink.0, counts, outcomes)
}

#[test]
fn workers_change_nothing_but_speed() {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for (seed, n) in [(11u64, 40u64), (12, 3), (13, 2500), (14, 0)] {
        let mut bytes = Vec::new();
        write_file(
            &mut Generator::new(seed),
            n,
            Layout {
                pretty: seed % 2 == 0,
                adversarial: true,
            },
            &mut bytes,
        )
        .unwrap();
        files.push((format!("gen-{seed}.json"), bytes));
    }
    // A record that is not JSON, a broken file and a file that is not CloudTrail.
    files.insert(
        1,
        (
            "bad-record.json".into(),
            br#"{"Records":[{"eventName":"A"},{"eventName": x},{"eventName":"ConsoleLogin"}]}"#
                .to_vec(),
        ),
    );
    files.insert(2, ("truncated.json".into(), br#"{"Records":[{"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com"},{"eventN"#.to_vec()));
    files.push((
        "digest.json".into(),
        br#"{"awsAccountId":"1","digestStartTime":"x"}"#.to_vec(),
    ));
    for f in std::fs::read_dir(common::root().join("corpus/samples")).unwrap() {
        let p = f.unwrap().path();
        if p.is_file() {
            files.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    for (name, src) in common::configs() {
        let compiled = common::compile(&src);
        let one = scan(&compiled.plan, &files, 1);
        assert!(
            !one.0.is_empty(),
            "{name}: no alerts; the test would prove nothing"
        );
        for workers in [2, 3] {
            let many = scan(&compiled.plan, &files, workers);
            assert_eq!(one.0, many.0, "{name}: alerts with {workers} workers");
            assert_eq!(one.1, many.1, "{name}: counts with {workers} workers");
            assert_eq!(
                one.2, many.2,
                "{name}: input outcomes with {workers} workers"
            );
        }
    }
}

/// Keeps the whole record of every alert, as the Lambda's payloads do.
#[derive(Default)]
struct RecordSink(Vec<serde_json::Value>);

impl tattletail_runtime::scan::AlertSink for RecordSink {
    fn alert(&mut self, a: &tattletail_runtime::scan::Alert<'_>) -> io::Result<()> {
        self.0.push(a.record.to_json());
        Ok(())
    }
}

#[test]
fn alerts_carry_repaired_records_with_any_number_of_workers() {
    let compiled =
        common::compile("[[rule]]\nname = 'all'\njq_match = 'select(.eventName == \"X\")'\n");
    // One record with invalid UTF-8 as well, one with valid UTF-8 only.
    let mut log = br#"{"Records":[{"eventName":"X","n":1e400,"s":"\ud800"},{"eventName":"X","n":-1e400,"u":""#.to_vec();
    log.extend_from_slice(b"\xff\"}]}");
    let want = [
        serde_json::json!({"eventName": "X", "n": f64::MAX, "s": "\u{fffd}"}),
        serde_json::json!({"eventName": "X", "n": -f64::MAX, "u": "\u{fffd}"}),
    ];
    for workers in [1, 2] {
        let mut scanner = Scanner::new(&compiled.plan).with_workers(workers);
        let mut sink = RecordSink::default();
        let inputs: Vec<Source> = vec![(
            "odd.json".into(),
            Ok(Box::new(io::Cursor::new(log.clone())) as Box<dyn Read + Send>),
        )];
        scanner.scan_all(inputs, &mut sink, &mut |_, _| {}).unwrap();
        assert_eq!(sink.0, want, "{workers} workers");
    }
}
