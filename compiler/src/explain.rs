//! `--explain`: each rule's prefilter, why it is what it is, and how the
//! rule will be evaluated, plus a summary of the shared dispatch index.
//! Modelled on `regex-cli debug literal`. The text and JSON forms are
//! golden-tested (`compiler/tests/explain/`).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use crate::analysis::{Dim, Field, FieldCond, IndexOnly, KeyConds, KeySet, Prefilter};
use crate::diag::line_col;
use crate::escape::escape;
use crate::plan::{Eval, Plan, PlannedRule};

/// Which bucket of the dispatch index a rule lands in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bucket {
    /// Exact eventName values.
    EventName,
    /// eventName prefixes.
    EventNamePrefix,
    /// eventName values or prefixes in any case (ASCII).
    EventNameAnyCase,
    /// Exact eventSource values (any eventName).
    EventSource,
    /// eventSource prefixes (any eventName).
    EventSourcePrefix,
    /// eventSource values or prefixes in any case (any eventName).
    EventSourceAnyCase,
    /// Every event except some values.
    Except,
    /// Every event.
    Always,
    /// Never evaluated.
    Never,
    /// `enabled = false`: in no bucket of the index.
    Disabled,
}

impl Bucket {
    /// The bucket of a rule: [`Bucket::Disabled`] for a disabled one, else
    /// its prefilter's.
    pub fn of_rule(r: &PlannedRule) -> Bucket {
        if r.eval == Eval::Disabled {
            Bucket::Disabled
        } else {
            Bucket::of(r.prefilter())
        }
    }

    /// The bucket of a prefilter: the most selective field decides
    /// (eventName before eventSource, exact case before any case).
    pub fn of(p: &Prefilter) -> Bucket {
        match p {
            Prefilter::Any => Bucket::Always,
            Prefilter::Never => Bucket::Never,
            Prefilter::Keys(k) => Bucket::of_keys(k),
        }
    }

    fn of_keys(k: &KeyConds) -> Bucket {
        let in_set = |c: &FieldCond| match c {
            FieldCond::In(s) => Some(s.prefixes.is_empty()),
            FieldCond::NotIn(_) => None,
        };
        let name = Field::EventName;
        let source = Field::EventSource;
        if let Some(no_prefix) = in_set(k.get(Dim::plain(name))) {
            return if no_prefix {
                Bucket::EventName
            } else {
                Bucket::EventNamePrefix
            };
        }
        if in_set(k.get(Dim::folded(name))).is_some() {
            return Bucket::EventNameAnyCase;
        }
        if let Some(no_prefix) = in_set(k.get(Dim::plain(source))) {
            return if no_prefix {
                Bucket::EventSource
            } else {
                Bucket::EventSourcePrefix
            };
        }
        if in_set(k.get(Dim::folded(source))).is_some() {
            return Bucket::EventSourceAnyCase;
        }
        Bucket::Except
    }

    fn label(self) -> &'static str {
        match self {
            Bucket::EventName => "by eventName",
            Bucket::EventNamePrefix => "by eventName prefix",
            Bucket::EventNameAnyCase => "by eventName in any case",
            Bucket::EventSource => "by eventSource",
            Bucket::EventSourcePrefix => "by eventSource prefix",
            Bucket::EventSourceAnyCase => "by eventSource in any case",
            Bucket::Except => "every event except listed values",
            Bucket::Always => "every event",
            Bucket::Never => "never fires",
            Bucket::Disabled => "disabled",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Bucket::EventName => "event_name",
            Bucket::EventNamePrefix => "event_name_prefix",
            Bucket::EventNameAnyCase => "event_name_any_case",
            Bucket::EventSource => "event_source",
            Bucket::EventSourcePrefix => "event_source_prefix",
            Bucket::EventSourceAnyCase => "event_source_any_case",
            Bucket::Except => "except",
            Bucket::Always => "always",
            Bucket::Never => "never",
            Bucket::Disabled => "disabled",
        }
    }

    /// Shown only when some rule is in it (configs without
    /// case-insensitive conditions explain as before).
    fn only_when_used(self) -> bool {
        matches!(self, Bucket::EventNameAnyCase | Bucket::EventSourceAnyCase)
    }
}

const BUCKETS: [Bucket; 10] = [
    Bucket::EventName,
    Bucket::EventNamePrefix,
    Bucket::EventNameAnyCase,
    Bucket::EventSource,
    Bucket::EventSourcePrefix,
    Bucket::EventSourceAnyCase,
    Bucket::Except,
    Bucket::Always,
    Bucket::Never,
    Bucket::Disabled,
];

fn quote_all(s: &BTreeSet<String>) -> String {
    s.iter()
        .map(|x| format!("{x:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn set_text(s: &KeySet) -> String {
    let mut parts = Vec::new();
    if !s.names.is_empty() {
        parts.push(format!("one of {}", quote_all(&s.names)));
    }
    if !s.prefixes.is_empty() {
        parts.push(format!("starts with {}", quote_all(&s.prefixes)));
    }
    if s.other {
        parts.push("missing or not a string".to_string());
    }
    if parts.is_empty() {
        "nothing".to_string()
    } else {
        parts.join("; or ")
    }
}

fn field_text(f: &FieldCond) -> String {
    match f {
        _ if f.is_any() => "any".to_string(),
        FieldCond::In(s) => set_text(s),
        FieldCond::NotIn(s) => format!("anything but: {}", set_text(s)),
    }
}

fn eval_text(r: &PlannedRule) -> &'static str {
    match r.eval {
        Eval::Never => "never evaluated",
        Eval::Disabled => "disabled (enabled = false): compiled and checked, never evaluated",
        Eval::IndexOnly(IndexOnly::Record) => {
            "index only (the rule does not run): alerts with the record"
        }
        Eval::IndexOnly(IndexOnly::True) => {
            "index only (the rule does not run): alerts with `true`"
        }
        Eval::Native => match r.prefilter() {
            Prefilter::Any => "native, on every event",
            _ => "native, on admitted events",
        },
    }
}

fn literals_text(r: &PlannedRule) -> Option<String> {
    let lits = r.analysis.literals.as_ref()?;
    let items: Vec<String> = lits
        .iter()
        .map(|l| {
            if l.ascii_ci {
                format!("{:?} (any case)", l.text())
            } else {
                format!("{:?}", l.text())
            }
        })
        .collect();
    Some(format!("one of {}", items.join(", ")))
}

/// Line and column (1-based) in the config of a note's span.
fn note_position(
    r: &PlannedRule,
    source: &str,
    span: &Option<std::ops::Range<usize>>,
) -> Option<(usize, usize)> {
    if r.config.sigma.is_some() {
        return None; // generated jq: `--format jq` shows it
    }
    span.as_ref()
        .map(|s| line_col(source, r.config.jq_offsets.map(s.start)))
}

/// The file a rule is written in and its line there.
fn rule_place<'a>(r: &'a PlannedRule, file: &'a str, source: &str) -> (&'a str, usize) {
    match &r.config.sigma {
        Some(o) => (&o.file.name, line_col(&o.file.text, r.config.span.start).0),
        None => (file, line_col(source, r.config.span.start).0),
    }
}

/// The lines saying where a Sigma rule comes from.
fn sigma_text(out: &mut String, r: &PlannedRule) {
    let Some(o) = &r.config.sigma else { return };
    let mut parts = vec!["Sigma rule".to_string()];
    if let Some(id) = &o.id {
        parts.push(format!("id {id}"));
    }
    if let Some(l) = &o.level {
        parts.push(format!("level {l}"));
    }
    let _ = writeln!(out, "  sigma:       {}", escape(&parts.join(", ")));
    for reference in &r.config.meta.references {
        let _ = writeln!(out, "  reference:   {}", escape(reference));
    }
}

/// The text of the plan's correlation rules.
fn correlations_text(out: &mut String, plan: &Plan) {
    for (i, c) in plan.correlations.iter().enumerate() {
        let k = &c.correlation;
        let line = line_col(&c.file.text, k.span.start).0;
        let _ = writeln!(
            out,
            "correlation {}: {} ({}:{line})",
            i + 1,
            escape(&k.title),
            escape(&c.file.name)
        );
        meta_text(out, &c.meta);
        let rules: Vec<String> = c
            .rules
            .iter()
            .map(|&p| format!("`{}`", plan.rules[p].config.display_name()))
            .collect();
        let by = if k.group_by.is_empty() {
            String::new()
        } else {
            format!(" by {}", k.group_by.join(", "))
        };
        let what = match (&k.condition.field, k.kind) {
            (Some(f), crate::sigma::CorrelationKind::ValueCount) => {
                format!("distinct {f} {}", k.condition.describe())
            }
            _ => format!("count {}", k.condition.describe()),
        };
        let _ = writeln!(
            out,
            "  kind:        {} over {}{by} within {}s, when {what}",
            k.kind.as_str(),
            escape(&rules.join(", ")),
            k.timespan
        );
        let _ = writeln!(
            out,
            "  evaluation:  by `tattletail scan`, within one run, windows by eventTime (the Lambda does not evaluate correlations yet){}",
            if k.generate { "" } else { "; its rules alert only through it" }
        );
        out.push('\n');
    }
}

/// The `eventName` and `eventSource` lines of a prefilter, and those of
/// their any-case (ASCII-lowercased) values when they are constrained.
fn keys_text(out: &mut String, keys: &KeyConds) {
    let _ = writeln!(
        out,
        "  eventName:   {}",
        escape(&field_text(&keys.event_name))
    );
    let _ = writeln!(
        out,
        "  eventSource: {}",
        escape(&field_text(&keys.event_source))
    );
    for (label, c) in [
        ("eventName (any case)", &keys.event_name_folded),
        ("eventSource (any case)", &keys.event_source_folded),
    ] {
        if !c.is_any() {
            let _ = writeln!(out, "  {label}: {}", escape(&field_text(c)));
        }
    }
}

/// The metadata lines of a rule, only those that say something.
fn meta_text(out: &mut String, m: &crate::config::RuleMeta) {
    let mut parts = Vec::new();
    if let Some(s) = m.severity {
        parts.push(format!("severity {}", s.as_str()));
    }
    if m.mode == crate::config::Mode::DryRun {
        parts.push("dry run (alerts are not sent)".to_string());
    }
    if !m.enabled {
        parts.push("disabled".to_string());
    }
    if !parts.is_empty() {
        let _ = writeln!(out, "  rule:        {}", parts.join(", "));
    }
    if !m.tags.is_empty() {
        let tags: Vec<String> = m.tags.iter().map(|t| escape(t).into_owned()).collect();
        let _ = writeln!(out, "  tags:        {}", tags.join(", "));
    }
    if let Some(r) = &m.runbook {
        let _ = writeln!(out, "  runbook:     {}", escape(r));
    }
    if m.correlation_only {
        let _ = writeln!(
            out,
            "  alerts:      none of its own: its matches feed correlation rules (Sigma `generate: false`)"
        );
    }
}

/// The noise-control line of a rule, when it has any setting.
fn noise_text(out: &mut String, n: &crate::config::Noise) {
    let mut parts = Vec::new();
    if let Some(d) = &n.dedup {
        let key = d
            .key
            .as_ref()
            .map_or("the actor and eventName".to_string(), |k| {
                format!("`{}`", k.jq)
            });
        parts.push(format!("dedup by {key} within {}", d.window.text));
    }
    if let Some(t) = &n.threshold {
        let group = t
            .group_by
            .as_ref()
            .map_or(String::new(), |g| format!(" per `{}`", g.jq));
        parts.push(format!(
            "threshold {} within {}{group}",
            t.count, t.window.text
        ));
    }
    if let Some(c) = &n.cooldown {
        parts.push(format!("cooldown {} per destination", c.text));
    }
    if !parts.is_empty() {
        let _ = writeln!(out, "  noise:       {}", escape(&parts.join("; ")));
    }
}

/// The text form.
pub fn text(plan: &Plan, file: &str, source: &str) -> String {
    let mut out = String::new();
    for r in &plan.rules {
        let (rule_file, line) = rule_place(r, file, source);
        let _ = writeln!(
            out,
            "rule {}: {} ({}:{line})",
            r.config.index + 1,
            escape(&r.config.display_name()),
            escape(rule_file)
        );
        meta_text(&mut out, &r.config.meta);
        noise_text(&mut out, &r.config.noise);
        sigma_text(&mut out, r);
        match r.prefilter() {
            Prefilter::Any => {
                let _ = writeln!(out, "  prefilter:   every event");
            }
            Prefilter::Never => {
                let _ = writeln!(out, "  prefilter:   never fires (no event can give it a first output other than null or false)");
            }
            Prefilter::Keys(keys) => {
                keys_text(&mut out, keys);
                let _ = writeln!(
                    out,
                    "  exact:       {}",
                    if r.analysis.exact {
                        "yes"
                    } else {
                        "no (the rule decides)"
                    }
                );
            }
        }
        if matches!(r.prefilter(), Prefilter::Any) {
            let mut seen = BTreeSet::new();
            for n in &r.analysis.notes {
                if !seen.insert(n.message.clone()) {
                    continue;
                }
                match note_position(r, source, &n.span) {
                    Some((l, c)) => {
                        let _ = writeln!(
                            out,
                            "  because:     {} ({}:{l}:{c})",
                            escape(&n.message),
                            escape(file)
                        );
                    }
                    None => {
                        let _ = writeln!(out, "  because:     {}", escape(&n.message));
                    }
                }
            }
            if r.analysis.notes.is_empty() {
                let _ = writeln!(out, "  because:     no condition on eventName or eventSource narrows the events it fires on");
            }
        }
        if let (Eval::Native, Some(l)) = (r.eval, literals_text(r)) {
            let _ = writeln!(out, "  needs:       {} in the raw event", escape(&l));
        }
        let _ = writeln!(out, "  evaluation:  {}", eval_text(r));
        out.push('\n');
    }
    for e in &plan.exceptions {
        let c = &e.config;
        let (line, _) = line_col(source, c.span.start);
        let _ = writeln!(
            out,
            "exception {}: {} ({}:{line})",
            c.index + 1,
            escape(&c.name),
            escape(file)
        );
        let _ = writeln!(out, "  reason:      {}", escape(&c.reason));
        let rules = if c.rules.is_empty() {
            "every rule".to_string()
        } else {
            let names: Vec<String> = c
                .rules
                .iter()
                .map(|(n, _)| escape(n).into_owned())
                .collect();
            names.join(", ")
        };
        let _ = writeln!(out, "  suppresses:  alerts of {rules}");
        if let Some((at, _)) = &c.expires {
            let _ = writeln!(out, "  expires:     {}", crate::date::format_utc(*at));
        }
        match &e.analysis.prefilter {
            Prefilter::Any => {
                let _ = writeln!(out, "  evaluated:   on every alert's event");
            }
            Prefilter::Never => {
                let _ = writeln!(out, "  evaluated:   never (it can never hold)");
            }
            Prefilter::Keys(keys) => keys_text(&mut out, keys),
        }
        out.push('\n');
    }
    correlations_text(&mut out, plan);
    let _ = writeln!(out, "index: {} rules", plan.rules.len());
    for b in BUCKETS {
        let n = plan
            .rules
            .iter()
            .filter(|r| Bucket::of_rule(r) == b)
            .count();
        if n > 0 {
            let _ = writeln!(out, "  {:<34} {n}", b.label());
        }
    }
    let index_only = plan
        .rules
        .iter()
        .filter(|r| matches!(r.eval, Eval::IndexOnly(_)))
        .count();
    let _ = writeln!(out, "  {:<34} {index_only}", "decided by the index alone");
    let native = count(plan, |e| matches!(e, Eval::Native));
    let _ = writeln!(out, "  {:<34} {native}", "evaluated natively");
    out
}

/// How many rules are evaluated a given way.
fn count(plan: &Plan, f: impl Fn(&Eval) -> bool) -> usize {
    plan.rules.iter().filter(|r| f(&r.eval)).count()
}

/// JSON of a key set.
#[derive(Serialize)]
struct SetJson<'a> {
    names: &'a BTreeSet<String>,
    prefixes: &'a BTreeSet<String>,
    non_string: bool,
}

/// JSON of a field condition (`null` when it admits everything).
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum FieldJson<'a> {
    In(SetJson<'a>),
    NotIn(SetJson<'a>),
}

fn set_json(s: &KeySet) -> SetJson<'_> {
    SetJson {
        names: &s.names,
        prefixes: &s.prefixes,
        non_string: s.other,
    }
}

fn field_json(f: &FieldCond) -> Option<FieldJson<'_>> {
    let set = set_json;
    match f {
        _ if f.is_any() => None,
        FieldCond::In(s) => Some(FieldJson::In(set(s))),
        FieldCond::NotIn(s) => Some(FieldJson::NotIn(set(s))),
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum PrefilterJson<'a> {
    Never {
        never: bool,
    },
    Keys {
        #[serde(rename = "eventName")]
        event_name: Option<FieldJson<'a>>,
        #[serde(rename = "eventSource")]
        event_source: Option<FieldJson<'a>>,
        /// Only when constrained, like the any-case buckets.
        #[serde(rename = "eventNameAnyCase", skip_serializing_if = "Option::is_none")]
        event_name_folded: Option<FieldJson<'a>>,
        #[serde(rename = "eventSourceAnyCase", skip_serializing_if = "Option::is_none")]
        event_source_folded: Option<FieldJson<'a>>,
    },
}

#[derive(Serialize)]
struct ReasonJson<'a> {
    message: &'a str,
    line: Option<usize>,
    column: Option<usize>,
}

#[derive(Serialize)]
struct RuleJson<'a> {
    index: usize,
    name: Option<&'a str>,
    /// The file the rule is in, when not the config (a Sigma rule).
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    sigma_id: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    references: &'a [String],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    correlation_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    noise: Option<serde_json::Value>,
    severity: Option<&'static str>,
    tags: &'a [String],
    runbook: Option<&'a str>,
    enabled: bool,
    mode: &'static str,
    prefilter: Option<PrefilterJson<'a>>,
    exact: bool,
    bucket: &'static str,
    evaluation: &'static str,
    literals: Option<Vec<LiteralJson>>,
    reasons: Vec<ReasonJson<'a>>,
}

/// The `noise` object of a rule in `--format json` (none without settings).
fn noise_json(n: &crate::config::Noise) -> Option<serde_json::Value> {
    if !n.any() {
        return None;
    }
    let mut v = serde_json::Map::new();
    if let Some(d) = &n.dedup {
        v.insert(
            "dedup".into(),
            serde_json::json!({"key": d.key.as_ref().map(|k| &k.jq), "window": d.window.text, "window_secs": d.window.secs}),
        );
    }
    if let Some(t) = &n.threshold {
        v.insert(
            "threshold".into(),
            serde_json::json!({"count": t.count, "window": t.window.text, "window_secs": t.window.secs,
                               "group_by": t.group_by.as_ref().map(|g| &g.jq)}),
        );
    }
    if let Some(c) = &n.cooldown {
        v.insert(
            "cooldown".into(),
            serde_json::json!({"period": c.text, "secs": c.secs}),
        );
    }
    Some(serde_json::Value::Object(v))
}

#[derive(Serialize)]
struct LiteralJson {
    text: String,
    any_case: bool,
}

#[derive(Serialize)]
struct IndexJson {
    rules: usize,
    buckets: std::collections::BTreeMap<&'static str, usize>,
    index_only: usize,
    native: usize,
}

#[derive(Serialize)]
struct ExplainJson<'a> {
    rules: Vec<RuleJson<'a>>,
    exceptions: Vec<ExceptionJson<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    correlations: Vec<CorrelationJson<'a>>,
    index: IndexJson,
}

#[derive(Serialize)]
struct CorrelationJson<'a> {
    title: &'a str,
    file: &'a str,
    line: usize,
    id: Option<&'a str>,
    kind: &'static str,
    rules: Vec<String>,
    group_by: &'a [String],
    timespan_seconds: u64,
    condition: String,
    field: Option<&'a str>,
    generate: bool,
    severity: Option<&'static str>,
}

#[derive(Serialize)]
struct ExceptionJson<'a> {
    index: usize,
    name: &'a str,
    reason: &'a str,
    line: usize,
    /// `null`: every rule.
    rules: Option<Vec<&'a str>>,
    expires: Option<String>,
    prefilter: Option<PrefilterJson<'a>>,
}

/// A prefilter in JSON: `null` for every event.
fn prefilter_json(p: &Prefilter) -> Option<PrefilterJson<'_>> {
    match p {
        Prefilter::Any => None,
        Prefilter::Never => Some(PrefilterJson::Never { never: true }),
        Prefilter::Keys(k) => Some(PrefilterJson::Keys {
            event_name: field_json(&k.event_name),
            event_source: field_json(&k.event_source),
            event_name_folded: field_json(&k.event_name_folded),
            event_source_folded: field_json(&k.event_source_folded),
        }),
    }
}

/// The JSON form, pretty-printed with a fixed key order:
/// `{"rules":[{"name":…, "prefilter": null | {…}, …}], "index": {…}}`;
/// `prefilter` is `null` exactly when the rule runs on every event.
pub fn json(plan: &Plan, source: &str) -> String {
    let rules = plan
        .rules
        .iter()
        .map(|r| {
            let prefilter = prefilter_json(r.prefilter());
            let reasons = if matches!(r.prefilter(), Prefilter::Any) {
                r.analysis
                    .notes
                    .iter()
                    .map(|n| {
                        let pos = note_position(r, source, &n.span);
                        ReasonJson {
                            message: &n.message,
                            line: pos.map(|p| p.0),
                            column: pos.map(|p| p.1),
                        }
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let evaluation = r.eval.name();
            RuleJson {
                index: r.config.index,
                name: r.config.name.as_deref(),
                file: r.config.sigma.as_ref().map(|o| o.file.name.as_str()),
                line: rule_place(r, "", source).1,
                sigma_id: r.config.sigma.as_ref().and_then(|o| o.id.as_deref()),
                references: &r.config.meta.references,
                correlation_only: r.config.meta.correlation_only,
                noise: noise_json(&r.config.noise),
                severity: r.config.meta.severity.map(|s| s.as_str()),
                tags: &r.config.meta.tags,
                runbook: r.config.meta.runbook.as_deref(),
                enabled: r.config.meta.enabled,
                mode: r.config.meta.mode.as_str(),
                prefilter,
                exact: r.analysis.exact,
                bucket: Bucket::of_rule(r).key(),
                evaluation,
                literals: r.analysis.literals.as_ref().map(|ls| {
                    ls.iter()
                        .map(|l| LiteralJson {
                            text: l.text(),
                            any_case: l.ascii_ci,
                        })
                        .collect()
                }),
                reasons,
            }
        })
        .collect();
    let buckets = BUCKETS
        .iter()
        .map(|b| {
            (
                *b,
                plan.rules
                    .iter()
                    .filter(|r| Bucket::of_rule(r) == *b)
                    .count(),
            )
        })
        .filter(|(b, n)| *n > 0 || !b.only_when_used())
        .map(|(b, n)| (b.key(), n))
        .collect();
    let index = IndexJson {
        rules: plan.rules.len(),
        buckets,
        index_only: count(plan, |e| matches!(e, Eval::IndexOnly(_))),
        native: count(plan, |e| matches!(e, Eval::Native)),
    };
    let exceptions = plan
        .exceptions
        .iter()
        .map(|e| {
            let c = &e.config;
            ExceptionJson {
                index: c.index,
                name: &c.name,
                reason: &c.reason,
                line: line_col(source, c.span.start).0,
                rules: (!c.rules.is_empty())
                    .then(|| c.rules.iter().map(|(n, _)| n.as_str()).collect()),
                expires: c
                    .expires
                    .as_ref()
                    .map(|(at, _)| crate::date::format_utc(*at)),
                prefilter: prefilter_json(&e.analysis.prefilter),
            }
        })
        .collect();
    let correlations = plan
        .correlations
        .iter()
        .map(|c| {
            let k = &c.correlation;
            CorrelationJson {
                title: &k.title,
                file: &c.file.name,
                line: line_col(&c.file.text, k.span.start).0,
                id: k.id.as_deref(),
                kind: k.kind.as_str(),
                rules: c
                    .rules
                    .iter()
                    .map(|&p| plan.rules[p].config.display_name())
                    .collect(),
                group_by: &k.group_by,
                timespan_seconds: k.timespan,
                condition: k.condition.describe(),
                field: k.condition.field.as_deref(),
                generate: k.generate,
                severity: c.meta.severity.map(|s| s.as_str()),
            }
        })
        .collect();
    let doc = ExplainJson {
        rules,
        exceptions,
        correlations,
        index,
    };
    serde_json::to_string_pretty(&doc).expect("explain JSON serialises") + "\n"
}

#[cfg(test)]
mod tests {
    use crate::escape::is_unsafe;

    #[test]
    fn names_and_literals_are_escaped_in_the_text_form() {
        let src = "[[rule]]\nname = \"x\\u001b[2J\\n\\u202e\"\njq_match = 'select(.eventName == \"A\\u001bB\") | .userAgent | contains(\"k\\u2028\")'\n";
        let compiled = crate::compile(src).unwrap();
        let text = super::text(&compiled.plan, "t\u{1b}.toml", src);
        assert!(!text.chars().any(|c| c != '\n' && is_unsafe(c)), "{text}");
        assert!(
            text.starts_with("rule 1: x\\x1b[2J\\n\\u{202e} (t\\x1b.toml:1)"),
            "{text}"
        );
    }
}
