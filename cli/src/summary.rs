//! The end-of-scan summary printed to stderr (`--summary text|json`):
//! files, records, alerts per rule, rule errors with examples, unreadable
//! records and inputs, deliveries, time and throughput. In text, rule
//! names, file names and messages (which can quote record content) are
//! shown [escaped](escape); the JSON form is one object on one line with
//! the exact values ([`escape_json`]: no raw control characters).

use std::fmt::Write as _;

use serde_json::{json, Value};
use tattletail_compiler::config::Mode;
use tattletail_compiler::escape::{escape, escape_json};
use tattletail_compiler::plan::{Plan, PlannedRule};
use tattletail_runtime::correlate::CorrelationStats;
use tattletail_runtime::Stats;

/// Deliveries of a `--send` run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    /// Sends that succeeded.
    pub delivered: u64,
    /// Sends that failed after every attempt.
    pub undelivered: u64,
    /// Sends not made: made already (`--state-table`: by an earlier run or
    /// the Lambda; else the same alert twice in this run).
    pub skipped: u64,
    /// Sends not made: another sender holds their claim.
    pub busy: u64,
    /// Alerts held back by a rule's dedup, threshold window or cooldown.
    pub deduplicated: u64,
    /// Matches of threshold rules that did not reach the threshold.
    pub below_threshold: u64,
    /// Alerts over a destination's rate limit (summarised).
    pub throttled: u64,
    /// Follow-up messages (counts of held-back alerts).
    pub follow_ups: u64,
}

impl Sent {
    /// The noise-control part of the summary line, empty when nothing of
    /// it happened.
    fn noise_text(&self) -> String {
        let parts = [
            (self.skipped, "already sent"),
            (self.busy, "being sent by another sender"),
            (
                self.deduplicated,
                "held back by dedup, threshold or cooldown",
            ),
            (self.below_threshold, "matches below a threshold"),
            (self.throttled, "over a rate limit"),
            (self.follow_ups, "follow-up(s)"),
        ];
        parts
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!(", {n} {what}"))
            .collect()
    }
}

/// The summary as one JSON object on one line (with its newline).
pub fn render_json(
    stats: &Stats,
    correlated: Option<&CorrelationStats>,
    plan: &Plan,
    sent: Option<Sent>,
) -> String {
    let by_rule = |counts: &[u64]| -> Vec<Value> {
        counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| {
                let c = &plan.rules[i].config;
                json!({"rule": c.display_name(), "count": n, "mode": c.meta.mode.as_str()})
            })
            .collect()
    };
    let mut alerts_by_rule = by_rule(&stats.alerts);
    if let Some(c) = correlated {
        alerts_by_rule.extend(c.alerts.iter().enumerate().filter(|(_, n)| **n > 0).map(|(i, n)| {
            let c = &plan.correlations[i];
            json!({"rule": c.display_name(), "count": n, "mode": c.meta.mode.as_str(), "correlation": c.correlation.kind.as_str()})
        }));
    }
    let rule_errors: Vec<Value> = (0..stats.rule_errors.len())
        .filter(|&i| stats.rule_errors[i] > 0)
        .map(|i| {
            json!({
                "rule": plan.rules[i].config.display_name(),
                "count": stats.rule_errors[i],
                "budget": stats.budget_errors.get(i).copied().unwrap_or(0),
                "examples": stats.rule_error_examples[i],
            })
        })
        .collect();
    let pairs = |v: &[(String, String)]| -> Vec<Value> {
        v.iter()
            .map(|(input, reason)| json!({"input": input, "reason": reason}))
            .collect()
    };
    let v = json!({
        "files": stats.files,
        "records": stats.records,
        "bytes_read": stats.bytes_read,
        "bytes_json": stats.bytes_json,
        "seconds": (stats.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        "alerts": stats.total_alerts() + correlated.map_or(0, CorrelationStats::total_alerts),
        "alerts_by_rule": alerts_by_rule,
        "rule_errors": rule_errors,
        "suppressed": stats.suppressed.iter().enumerate().filter(|(_, n)| **n > 0).map(|(i, n)| {
            let e = &plan.exceptions[i].config;
            json!({"exception": e.name, "reason": e.reason, "count": n})
        }).collect::<Vec<_>>(),
        "exception_errors": stats.exception_errors.iter().enumerate().filter(|(_, (n, _))| *n > 0).map(|(i, (n, ex))| {
            json!({"exception": plan.exceptions[i].config.name, "count": n, "example": ex})
        }).collect::<Vec<_>>(),
        "quarantined": stats.quarantined.iter().map(|(r, at)| json!({
            "rule": plan.rules[*r].config.display_name(),
            "after": at,
        })).collect::<Vec<_>>(),
        "bad_records": stats.bad_records,
        "skipped_bytes": stats.skipped_bytes,
        "bad_record_examples": stats.bad_examples.iter().map(|b| json!({
            "input": b.source,
            "index": b.position.index,
            "offset": b.position.offset,
            "message": b.message,
        })).collect::<Vec<_>>(),
        "repaired": stats.repaired.iter().map(|(input, n, what)| json!({
            "input": input,
            "records": n,
            "what": what.to_string(),
        })).collect::<Vec<_>>(),
        "skipped_inputs": pairs(&stats.skipped),
        "unreadable_inputs": pairs(&stats.failed),
        "delivered": sent.map(|s| s.delivered),
        "undelivered": sent.map(|s| s.undelivered),
        "noise_control": sent.map(|s| json!({
            "already_sent": s.skipped,
            "being_sent_elsewhere": s.busy,
            "held_back": s.deduplicated,
            "below_threshold": s.below_threshold,
            "throttled": s.throttled,
            "follow_ups": s.follow_ups,
        })),
    });
    let mut v = v;
    if let Some(c) = correlated.filter(|_| !plan.correlations.is_empty()) {
        v["correlations"] = json!({
            "matches_not_alerts": by_rule(&c.withheld),
            "no_event_time": c.no_time,
            "late": c.late,
            "dropped_events": c.dropped_events,
            "dropped_groups": c.dropped_groups,
        });
    }
    let mut line = escape_json(&v.to_string()).into_owned();
    line.push('\n');
    line
}

/// Rules with errors listed by name before the rest are only counted.
const SHOWN: usize = 8;

/// Inputs listed by name in a text summary whose notes were not shown.
const LISTED: usize = 8;

/// The summary as text. `noted`: each skipped input was already reported
/// on its own line (not with `--quiet`); otherwise the summary lists them.
/// Unreadable inputs are always reported on their own line.
pub fn render_text(
    stats: &Stats,
    correlated: Option<&CorrelationStats>,
    plan: &Plan,
    sent: Option<Sent>,
    noted: bool,
) -> String {
    let mut out = String::new();
    let secs = stats.elapsed.as_secs_f64().max(1e-9);
    let mb = stats.bytes_json as f64 / 1e6;
    let _ = writeln!(
        out,
        "scanned {} file{}, {} record{}, {:.1} MB of JSON ({:.1} MB read) in {:.2} s: {:.0} MB/s, {:.0} records/s",
        stats.files,
        if stats.files == 1 { "" } else { "s" },
        stats.records,
        if stats.records == 1 { "" } else { "s" },
        mb,
        stats.bytes_read as f64 / 1e6,
        secs,
        mb / secs,
        stats.records as f64 / secs,
    );
    let _ = writeln!(
        out,
        "alerts: {}",
        stats.total_alerts() + correlated.map_or(0, CorrelationStats::total_alerts)
    );
    let dry = |mode: Mode| {
        if mode == Mode::DryRun {
            "  (dry run: never sent)"
        } else {
            ""
        }
    };
    for (i, n) in stats.alerts.iter().enumerate() {
        if *n > 0 {
            let mode = plan.rules[i].config.meta.mode;
            let _ = writeln!(out, "  {n:>8}  {}{}", name(&plan.rules[i]), dry(mode));
        }
    }
    if let Some(c) = correlated {
        correlation_lines(&mut out, c, plan, &dry);
    }
    let suppressed = stats.total_suppressed();
    if suppressed > 0 {
        let _ = writeln!(out, "suppressed by exceptions: {suppressed}");
        for (i, n) in stats.suppressed.iter().enumerate() {
            if *n > 0 {
                let e = &plan.exceptions[i].config;
                let _ = writeln!(
                    out,
                    "  {n:>8}  {} (reason: {})",
                    escape(&e.name),
                    escape(&e.reason)
                );
            }
        }
    }
    for (i, (n, ex)) in stats.exception_errors.iter().enumerate() {
        if *n > 0 {
            let _ = writeln!(
                out,
                "exception `{}` failed on {n} record{} (an exception that fails does not suppress)\n            e.g. {}",
                escape(&plan.exceptions[i].config.name),
                if *n == 1 { "" } else { "s" },
                escape(ex)
            );
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
    let see = if noted { "; see the lines above" } else { "" };
    if !stats.skipped.is_empty() {
        let _ = writeln!(
            out,
            "skipped inputs: {} (not CloudTrail logs, or not regular files{see})",
            stats.skipped.len()
        );
        if !noted {
            list(&mut out, &stats.skipped);
        }
    }
    if !stats.failed.is_empty() {
        let _ = writeln!(
            out,
            "unreadable inputs: {}{}",
            stats.failed.len(),
            if noted { " (see the lines above)" } else { "" }
        );
        if !noted {
            list(&mut out, &stats.failed);
        }
    }
    if let Some(s) = sent {
        let _ = writeln!(
            out,
            "sent: {} delivered, {} undelivered{}",
            s.delivered,
            s.undelivered,
            s.noise_text()
        );
    }
    out
}

/// Correlation alerts by correlation, the matches that only fed them, and
/// what the engine skipped or dropped.
fn correlation_lines(
    out: &mut String,
    c: &CorrelationStats,
    plan: &Plan,
    dry: &dyn Fn(Mode) -> &'static str,
) {
    for (i, n) in c.alerts.iter().enumerate() {
        if *n > 0 {
            let corr = &plan.correlations[i];
            let _ = writeln!(
                out,
                "  {n:>8}  {} (correlation {}){}",
                escape(&corr.display_name()),
                corr.correlation.kind.as_str(),
                dry(corr.meta.mode)
            );
        }
    }
    let withheld: u64 = c.withheld.iter().sum();
    if withheld > 0 {
        let _ = writeln!(
            out,
            "matches that only feed correlations (not alerts): {withheld}"
        );
        for (i, n) in c.withheld.iter().enumerate() {
            if *n > 0 {
                let _ = writeln!(out, "  {n:>8}  {}", name(&plan.rules[i]));
            }
        }
    }
    if c.no_time > 0 {
        let _ = writeln!(
            out,
            "correlations skipped {} match{} without a readable eventTime",
            c.no_time,
            if c.no_time == 1 { "" } else { "es" }
        );
    }
    if c.capped() {
        let caps = tattletail_runtime::correlate::Caps::default();
        let _ = writeln!(
            out,
            "correlation state capped, alerts may be missing: {} match{} dropped from full groups \
             (at most {} per group), {} not correlated because the group table was full (at most {} groups)",
            c.dropped_events,
            if c.dropped_events == 1 { "" } else { "es" },
            caps.events,
            c.dropped_groups,
            caps.groups,
        );
    }
}

/// The first few (input, reason) pairs, one per line.
fn list(out: &mut String, inputs: &[(String, String)]) {
    for (input, why) in inputs.iter().take(LISTED) {
        let _ = writeln!(out, "  {}: {}", escape(input), escape(why));
    }
    if inputs.len() > LISTED {
        let _ = writeln!(out, "  … and {} more", inputs.len() - LISTED);
    }
}

/// A rule's name as shown.
fn name(rule: &PlannedRule) -> String {
    escape(&rule.config.display_name()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Format;
    use crate::print::Printer;
    use tattletail_compiler::escape::is_unsafe;
    use tattletail_runtime::Scanner;

    #[test]
    fn names_examples_and_bad_records_are_escaped() {
        let config = "[[rule]]\nname = \"fails\\u001b[2J\\u2028\"\njq_match = '.eventName + 1'\n";
        let compiled = tattletail_compiler::compile(config).unwrap();
        let mut scanner = Scanner::new(&compiled.plan);
        let log = r#"{"Records":[{"eventName":"x\u001b[1A\ny"}]}"#;
        let mut sink = Printer::new(Vec::new(), Format::Text, false);
        let _ = scanner
            .scan("logs/\u{1b}]0;t\u{7}.json", log.as_bytes(), &mut sink)
            .unwrap();
        scanner.stats.bad_records += 1;
        scanner
            .stats
            .bad_examples
            .push(tattletail_runtime::scan::BadRecord {
                source: "f\u{2029}.json".into(),
                position: tattletail_runtime::reader::RecordPos::default(),
                message: "bad \u{1b}[0m".into(),
            });
        let text = render_text(&scanner.stats, None, &compiled.plan, None, true);
        let json = render_json(&scanner.stats, None, &compiled.plan, None);
        assert_eq!(json.lines().count(), 1, "{json}");
        assert!(!json.trim_end().chars().any(is_unsafe), "{json}");
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["rule_errors"][0]["rule"], "fails\u{1b}[2J\u{2028}");
        assert_eq!(v["bad_record_examples"][0]["input"], "f\u{2029}.json");
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
