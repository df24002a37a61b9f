//! The end-of-scan summary printed to stderr: files, records, alerts per
//! rule, rule errors with examples, unreadable records and files, time and
//! throughput. Rule names, file names and messages (which can quote
//! record content) are shown [escaped](escape).

use std::fmt::Write as _;

use tattletail_compiler::escape::escape;
use tattletail_compiler::plan::{Plan, PlannedRule};

use crate::scan::Stats;

/// Rules with errors listed by name before the rest are only counted.
const SHOWN: usize = 8;

/// Render the summary.
pub fn render(stats: &Stats, plan: &Plan) -> String {
    let mut out = String::new();
    let secs = stats.elapsed.as_secs_f64().max(1e-9);
    let mb = stats.bytes_json as f64 / 1e6;
    let _ = writeln!(
        out,
        "scanned {} file{}, {} records, {:.1} MB of JSON ({:.1} MB read) in {:.2} s: {:.0} MB/s, {:.0} records/s",
        stats.files,
        if stats.files == 1 { "" } else { "s" },
        stats.records,
        mb,
        stats.bytes_read as f64 / 1e6,
        secs,
        mb / secs,
        stats.records as f64 / secs,
    );
    let _ = writeln!(out, "alerts: {}", stats.total_alerts());
    for (i, n) in stats.alerts.iter().enumerate() {
        if *n > 0 {
            let _ = writeln!(out, "  {n:>8}  {}", name(&plan.rules[i]));
        }
    }
    let errors: u64 = stats.rule_errors.iter().sum();
    if errors > 0 {
        let _ = writeln!(
            out,
            "rule errors: {errors} (an error before the first output is not an alert)"
        );
        let failing: Vec<usize> = (0..stats.rule_errors.len())
            .filter(|&i| stats.rule_errors[i] > 0)
            .collect();
        for &i in failing.iter().take(SHOWN) {
            let _ = writeln!(
                out,
                "  {:>8}  {}",
                stats.rule_errors[i],
                name(&plan.rules[i])
            );
            if let Some(ex) = stats.rule_error_examples[i].first() {
                let _ = writeln!(out, "            e.g. {}", escape(ex));
            }
        }
        if failing.len() > SHOWN {
            let _ = writeln!(
                out,
                "  … and {} more rules with errors",
                failing.len() - SHOWN
            );
        }
        let budget: u64 = stats.budget_errors.iter().sum();
        if budget > 0 {
            let _ = writeln!(
                out,
                "  of which {budget} exceeded the evaluation budget (see the README, \"Budgets\")"
            );
        }
    }
    for (r, at) in &stats.quarantined {
        let _ = writeln!(
            out,
            "quarantined: rule `{}` exceeded its budget on {} records (most it ran on); not evaluated after {at}",
            name(&plan.rules[*r]),
            stats.budget_errors.get(*r).copied().unwrap_or(0),
            at = escape(at),
        );
    }
    if stats.bad_records > 0 {
        let skipped = if stats.skipped_bytes > 0 {
            format!("; {} bytes skipped", stats.skipped_bytes)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "unreadable records: {} (each skipped alone, the rest of its file read{skipped})",
            stats.bad_records
        );
        for b in &stats.bad_examples {
            let _ = writeln!(
                out,
                "  {} record {} at byte {}: {}",
                escape(&b.source),
                b.position.index,
                b.position.offset,
                escape(&b.message)
            );
        }
    }
    for (source, n, what) in &stats.repaired {
        let _ = writeln!(
            out,
            "read as jq reads them: {source}, {n} record{} ({what})",
            if *n == 1 { "" } else { "s" }
        );
    }
    if !stats.skipped.is_empty() {
        let _ = writeln!(
            out,
            "skipped inputs: {} (not CloudTrail logs, or not regular files; see the lines above)",
            stats.skipped.len()
        );
    }
    if !stats.failed.is_empty() {
        let _ = writeln!(
            out,
            "unreadable inputs: {} (see the lines above)",
            stats.failed.len()
        );
    }
    out
}

/// A rule's name as shown.
fn name(rule: &PlannedRule) -> String {
    escape(&rule.config.display_name()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::TextLines;
    use crate::Scanner;
    use tattletail_compiler::escape::is_unsafe;

    #[test]
    fn names_examples_and_bad_records_are_escaped() {
        let config = "[[rule]]\nname = \"fails\\u001b[2J\\u2028\"\njq_match = '.eventName + 1'\n";
        let compiled = tattletail_compiler::compile(config).unwrap();
        let mut scanner = Scanner::new(&compiled.plan);
        let log = r#"{"Records":[{"eventName":"x\u001b[1A\ny"}]}"#;
        let mut sink = TextLines(Vec::new());
        let _ = scanner
            .scan("logs/\u{1b}]0;t\u{7}.json", log.as_bytes(), &mut sink)
            .unwrap();
        scanner.stats.bad_records += 1;
        scanner.stats.bad_examples.push(crate::scan::BadRecord {
            source: "f\u{2029}.json".into(),
            position: crate::reader::RecordPos::default(),
            message: "bad \u{1b}[0m".into(),
        });
        let text = render(&scanner.stats, &compiled.plan);
        assert!(!text.chars().any(|c| c != '\n' && is_unsafe(c)), "{text}");
        for shown in [
            "fails\\x1b[2J\\u{2028}",
            "logs/\\x1b]0;t\\x07.json record 0: ",
            r#"string ("x\u001b[1A\ny") and number (1) cannot be added"#,
            "f\\u{2029}.json record 0 at byte 0: bad \\x1b[0m",
        ] {
            assert!(text.contains(shown), "{shown} not in\n{text}");
        }
    }
}
