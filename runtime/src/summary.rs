//! The end-of-scan summary printed to stderr: files, records, alerts per
//! rule, rule errors with examples, unreadable records and files, time and
//! throughput.

use std::fmt::Write as _;

use tattletail_compiler::plan::Plan;

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
            let _ = writeln!(out, "  {n:>8}  {}", plan.rules[i].config.display_name());
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
                plan.rules[i].config.display_name()
            );
            if let Some(ex) = stats.rule_error_examples[i].first() {
                let _ = writeln!(out, "            e.g. {ex}");
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
            plan.rules[*r].config.display_name(),
            stats.budget_errors.get(*r).copied().unwrap_or(0),
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
                b.source, b.position.index, b.position.offset, b.message
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
            "skipped inputs: {} (not CloudTrail logs; see the lines above)",
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
