//! The jq view of Sigma rules (`tattletail explain --format jq`): each
//! Sigma rule of a plan as a `[[rule]]` table whose `jq_match` is exactly
//! the jq the rule was compiled from, with its metadata, ready to paste
//! into a tattletail.toml (to move to jq rules, or to audit what runs).
//! The differential tests run this text through gojq and jq 1.6 and
//! require the same alerts as the compiled Sigma rules.

use std::fmt::Write as _;

use crate::plan::Plan;

/// A TOML basic string (JSON's escapes are TOML's, `\/` aside, which
/// JSON serialisers do not write).
fn toml_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

/// Every Sigma rule of `plan` as TOML `[[rule]]` tables.
pub fn toml(plan: &Plan) -> String {
    let mut out = String::from(
        "# Sigma rules as tattletail jq rules (`tattletail explain --format jq`).\n\
         # Each jq_match is the exact program the Sigma rule compiles to.\n",
    );
    for r in &plan.rules {
        let c = &r.config;
        let Some(origin) = &c.sigma else { continue };
        let line = crate::diag::line_col(&origin.file.text, c.span.start).0;
        let _ = writeln!(out, "\n# {}:{line}", origin.file.name.replace('\n', " "));
        let _ = writeln!(out, "[[rule]]");
        let _ = writeln!(out, "name = {}", toml_str(&c.display_name()));
        if let Some(d) = &c.description {
            let _ = writeln!(out, "description = {}", toml_str(d.trim()));
        }
        if let Some(s) = c.meta.severity {
            let _ = writeln!(out, "severity = {}", toml_str(s.as_str()));
        }
        if !c.meta.tags.is_empty() {
            let tags: Vec<String> = c.meta.tags.iter().map(|t| toml_str(t)).collect();
            let _ = writeln!(out, "tags = [{}]", tags.join(", "));
        }
        if let Some(first) = c.meta.references.first() {
            let _ = writeln!(out, "runbook = {}", toml_str(first));
        }
        if !c.destinations.is_empty() {
            let d: Vec<String> = c.destinations.iter().map(|t| toml_str(t)).collect();
            let _ = writeln!(out, "destinations = [{}]", d.join(", "));
        }
        if c.jq_match.contains("'''") {
            let _ = writeln!(out, "jq_match = {}", toml_str(&c.jq_match));
        } else {
            let _ = writeln!(out, "jq_match = '''\n{}'''", c.jq_match);
        }
    }
    out
}
