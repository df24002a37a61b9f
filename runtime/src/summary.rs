//! The end-of-scan summary printed to stderr: files, records, alerts per
//! rule, rule errors with examples, unreadable records and files, time and
//! throughput.

use std::fmt::Write as _;

use tattletail_compiler::plan::Plan;

use crate::scan::Stats;

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
            let _ = writeln!(out, "  {n:>8}  {}", plan.rules[i].config.display_name());
        }
    }
    let errors: u64 = stats.rule_errors.iter().sum();
    if errors > 0 {
        let _ = writeln!(out, "rule errors: {errors} (an error before the first output is not an alert)");
        for (i, n) in stats.rule_errors.iter().enumerate() {
            if *n > 0 {
                let _ = writeln!(out, "  {n:>8}  {}", plan.rules[i].config.display_name());
                for ex in &stats.rule_error_examples[i] {
                    let _ = writeln!(out, "            e.g. {ex}");
                }
            }
        }
    }
    if stats.bad_records > 0 {
        let _ = writeln!(out, "unreadable records: {} (skipped)", stats.bad_records);
        for b in &stats.bad_examples {
            let _ = writeln!(
                out,
                "  {} record {} at byte {}: {}",
                b.source, b.position.index, b.position.offset, b.message
            );
        }
    }
    if !stats.skipped.is_empty() {
        let _ = writeln!(out, "skipped inputs: {} (not CloudTrail logs; see the lines above)", stats.skipped.len());
    }
    if !stats.failed.is_empty() {
        let _ = writeln!(out, "unreadable inputs: {} (see the lines above)", stats.failed.len());
    }
    out
}
