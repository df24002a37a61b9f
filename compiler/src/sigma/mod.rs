//! Sigma rules, the second front end: SigmaHQ's AWS CloudTrail rules load
//! unchanged next to jq rules and run through the same compiled plan.
//!
//! A Sigma file (one or more YAML documents) is read into [`rule::Rule`]s
//! and [`correlation::Correlation`]s; each detection rule is lowered to a
//! jq program ([`jq`]) that then takes exactly the path of a `jq_match`
//! (parser, IR, prefilter analysis, native evaluation). Only rules whose
//! `logsource` is product `aws` / service `cloudtrail` are taken; others,
//! and rules using what we do not support, are reported with the file,
//! line and column and skipped whole.
//!
//! No IO here: callers hand in the files' text ([`SigmaFile`]), with the
//! text of a rule file's TrailAlerts-style tests file (`<rule>_tests.json`
//! next to `<rule>.yml`) when there is one ([`SigmaTests`]); the config
//! loader turns its events into tests of the file's first detection rule.

pub mod condition;
pub mod correlation;
pub mod jq;
pub mod rule;
pub mod values;
pub mod view;
pub mod yaml;

use std::ops::Range;

pub use correlation::{Correlation, CorrelationKind};
pub use rule::{Issue, Rule};

/// A Sigma file's text and the name to show for it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SigmaFile {
    /// Its path, as shown in messages.
    pub name: String,
    /// Its contents.
    pub text: String,
    /// Its tests file (`<stem>_tests.json` next to it), when there is one.
    pub tests: Option<SigmaTests>,
}

/// A TrailAlerts-style tests file: `{"should_match": [events…],
/// "should_not_match": [events…]}`, the tests of the first detection rule
/// of the Sigma file it sits next to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SigmaTests {
    /// Its path, as shown in messages.
    pub name: String,
    /// Its contents.
    pub text: String,
}

impl SigmaTests {
    /// The tests file's name for a Sigma rule file's name: the same stem,
    /// with `_tests.json` (`a/x.yml` → `a/x_tests.json`); `None` for a
    /// name without a `.yml` or `.yaml` extension.
    pub fn name_for(rule_file: &str) -> Option<String> {
        let stem = rule_file
            .strip_suffix(".yml")
            .or_else(|| rule_file.strip_suffix(".yaml"))?;
        Some(format!("{stem}_tests.json"))
    }
}

/// One document of a Sigma file, read.
#[derive(Clone, Debug)]
pub enum Document {
    /// A detection rule.
    Rule(Rule),
    /// A correlation rule.
    Correlation(Correlation),
}

/// What reading one file gave: its documents (in order) and its problems,
/// each of which skipped the document it is in.
#[derive(Clone, Debug, Default)]
pub struct Read {
    /// The documents that loaded.
    pub documents: Vec<Document>,
    /// Problems: a rule with one is skipped, never half-evaluated.
    pub issues: Vec<Issue>,
    /// Documents skipped because they are not for CloudTrail: title (or
    /// `-`), why, and where.
    pub skipped: Vec<(String, String, Range<usize>)>,
}

/// Read every document of a Sigma file.
pub fn read(text: &str) -> Read {
    let mut out = Read::default();
    let docs = match yaml::parse(text) {
        Ok(d) => d,
        Err(e) => {
            out.issues.push(Issue::new(e.message, e.span));
            return out;
        }
    };
    // Correlation documents inherit nothing; a document with only
    // `action: global` style keys is not supported (Sigma 1 collections).
    for doc in &docs {
        if doc.map().is_none() {
            out.issues.push(Issue::new(
                format!("a Sigma document must be a map, not {}", doc.kind_name()),
                doc.span.clone(),
            ));
            continue;
        }
        if let Some(action) = doc.get("action") {
            out.issues.push(
                Issue::new(
                    "Sigma 1 rule collections (`action: global`/`repeat`) are not supported",
                    action.span.clone(),
                )
                .help("write each rule as its own document"),
            );
            continue;
        }
        if doc.get("correlation").is_some() {
            match correlation::read(doc) {
                Ok(c) => out.documents.push(Document::Correlation(c)),
                Err(issues) => out.issues.extend(issues),
            }
            continue;
        }
        if let Err(why) = rule::is_cloudtrail(doc) {
            let title = doc
                .get("title")
                .and_then(yaml::Yaml::text)
                .unwrap_or("-")
                .to_string();
            let at = doc
                .key_span("logsource")
                .unwrap_or(doc.span.start..doc.span.start + 1);
            out.skipped.push((title, why, at));
            continue;
        }
        match rule::read(doc, text) {
            Ok(r) => out.documents.push(Document::Rule(r)),
            Err(issues) => out.issues.extend(issues),
        }
    }
    out
}

/// A Sigma duration (`30s`, `10m`, `1h`, `2d`, `1w`, `1M`, `1y`) in seconds.
pub fn duration_secs(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().ok()?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        "M" => 2_592_000,
        "y" => 31_536_000,
        _ => return None,
    };
    n.checked_mul(mult).filter(|s| *s > 0)
}

/// The severity a Sigma `level` maps to by default (`informational` →
/// info, `low`, `medium`, `high`, `critical`).
pub fn default_severity(level: &str) -> Option<crate::config::Severity> {
    use crate::config::Severity;
    match level.trim().to_ascii_lowercase().as_str() {
        "informational" | "info" => Some(Severity::Info),
        "low" => Some(Severity::Low),
        "medium" => Some(Severity::Medium),
        "high" => Some(Severity::High),
        "critical" => Some(Severity::Critical),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
