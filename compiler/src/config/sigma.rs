//! `[[sigma]]` tables and Sigma rules given outside the config: reading
//! them (through the caller's [`SigmaInput`], since the compiler does no
//! IO) and turning each Sigma rule into a [`RuleConfig`] whose `jq_match`
//! is the rule lowered to jq, and each correlation into a
//! [`CorrelationConfig`] over the rules it names. A rule file's tests file
//! and `[[sigma.test]]` tables become the rules' tests
//! ([`super::sigma_tests`]).

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use super::sigma_tests::{self, SigmaTest};
use super::{
    check_keys, lookup, string, string_list, unknown_destination, Diagnostic, Mode, RuleConfig,
    RuleMeta, Severity, Table,
};
use crate::diag::SourceFile;
use crate::sigma::{self, condition, Correlation, CorrelationKind, Document, SigmaFile};
use crate::toml_str::OffsetMap;

/// Where Sigma files come from: the caller reads them.
pub struct SigmaInput<'a> {
    /// The files at a `[[sigma]]` table's `path` (a file or a directory,
    /// relative to the config), or why they cannot be read.
    pub resolve: &'a mut dyn FnMut(&str) -> Result<Vec<SigmaFile>, String>,
    /// Files given outside the config (`--sigma`), with no destinations.
    pub extra: Vec<SigmaFile>,
}

impl SigmaInput<'_> {
    /// For callers that cannot read files: a `[[sigma]]` table is an error.
    pub fn none(f: &mut dyn FnMut(&str) -> Result<Vec<SigmaFile>, String>) -> SigmaInput<'_> {
        SigmaInput {
            resolve: f,
            extra: Vec::new(),
        }
    }
}

/// The reply of [`SigmaInput::none`].
pub fn cannot_read(_: &str) -> Result<Vec<SigmaFile>, String> {
    Err("this program cannot read Sigma files; use the tattletail command or the Lambda".into())
}

/// Where a rule came from, when it is a Sigma rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigmaOrigin {
    /// The file (diagnostics and `explain` point into it).
    pub file: Arc<SourceFile>,
    /// The rule's `id`.
    pub id: Option<String>,
    /// Its `level`, as written.
    pub level: Option<String>,
    /// Its `name` (how correlations refer to it).
    pub name: Option<String>,
}

/// One Sigma correlation rule, with the rules it correlates resolved.
#[derive(Clone, Debug)]
pub struct CorrelationConfig {
    /// The rule as read.
    pub correlation: Correlation,
    /// Its file (`None`: made from a rule's deprecated `| count()`).
    pub file: Arc<SourceFile>,
    /// Positions of the rules it correlates, in its order.
    pub rules: Vec<usize>,
    /// Destination ids.
    pub destinations: Vec<String>,
    /// Severity (from `level`), tags, mode.
    pub meta: RuleMeta,
}

impl CorrelationConfig {
    /// Its name in alerts.
    pub fn display_name(&self) -> String {
        self.correlation.title.clone()
    }
}

/// A `[[sigma]]` table, read.
pub(super) struct SigmaTable {
    path: (String, Range<usize>),
    destinations: Vec<String>,
    destinations_span: Range<usize>,
    severity_map: BTreeMap<String, Severity>,
    enabled: bool,
    mode: Mode,
    tests: Vec<SigmaTest>,
}

const SIGMA_KEYS: &[&str] = &[
    "path",
    "destinations",
    "severity_map",
    "enabled",
    "mode",
    "test",
];

/// Read a `[[sigma]]` table (`source`: the config's text).
pub(super) fn table(
    source: &str,
    table: &Table<'_>,
    span: Range<usize>,
    diags: &mut Vec<Diagnostic>,
) -> Option<SigmaTable> {
    check_keys(table, SIGMA_KEYS, "[[sigma]]", diags);
    let path = string(table, "path", diags);
    let (destinations, destinations_span) =
        string_list(table, "destinations", diags).unwrap_or_default();
    let mut severity_map = BTreeMap::new();
    if let Some((_, v)) = lookup(table, "severity_map") {
        match v.get_ref().as_table() {
            Some(t) => {
                for (k, val) in t.iter() {
                    match val.get_ref().as_str().and_then(Severity::parse) {
                        Some(s) => {
                            severity_map.insert(k.get_ref().to_ascii_lowercase(), s);
                        }
                        None => diags.push(
                            Diagnostic::error(
                                format!("`severity_map.{}` must be a severity", k.get_ref()),
                                val.span(),
                            )
                            .with_help("severity is one of info, low, medium, high, critical"),
                        ),
                    }
                }
            }
            None => diags.push(
                Diagnostic::error(
                    "`severity_map` must be a table: Sigma level = severity",
                    v.span(),
                )
                .with_help(
                    "e.g. severity_map = { informational = \"low\", critical = \"critical\" }",
                ),
            ),
        }
    }
    let meta = super::rule_meta(table, diags);
    let tests = sigma_tests::table_tests(source, table, diags);
    let Some(path) = path else {
        diags.push(
            Diagnostic::error(
                "a [[sigma]] table needs a `path`: a Sigma rule file or a directory of them",
                span,
            )
            .with_help("paths are relative to the config file, e.g. path = \"sigma/aws\""),
        );
        return None;
    };
    Some(SigmaTable {
        path,
        destinations,
        destinations_span,
        severity_map,
        enabled: meta.enabled,
        mode: meta.mode,
        tests,
    })
}

/// Everything the Sigma inputs gave.
pub(super) struct Loaded {
    pub rules: Vec<RuleConfig>,
    pub correlations: Vec<(Correlation, Arc<SourceFile>, Vec<String>, RuleMeta)>,
}

/// Read every Sigma input and make rules of them; `first_index` is the
/// position of the first one among all rules.
pub(super) fn load(
    tables: Vec<SigmaTable>,
    input: &mut SigmaInput<'_>,
    first_index: usize,
    dest_spans: &[(String, Range<usize>)],
    diags: &mut Vec<Diagnostic>,
) -> Loaded {
    let mut out = Loaded {
        rules: Vec::new(),
        correlations: Vec::new(),
    };
    let mut batches: Vec<(Vec<SigmaFile>, Option<&SigmaTable>)> = Vec::new();
    for t in &tables {
        for id in &t.destinations {
            if !dest_spans.iter().any(|(d, _)| d == id) {
                diags.push(unknown_destination(
                    id,
                    t.destinations_span.clone(),
                    dest_spans,
                ));
            }
        }
        match (input.resolve)(&t.path.0) {
            Ok(files) if files.is_empty() => diags.push(
                Diagnostic::warning(format!("no Sigma rule files (.yml, .yaml) at `{}`", t.path.0), t.path.1.clone())
                    .with_help("the path is relative to the config file"),
            ),
            Ok(files) => batches.push((files, Some(t))),
            Err(e) => diags.push(
                Diagnostic::error(format!("cannot read Sigma rules at `{}`: {e}", t.path.0), t.path.1.clone())
                    .with_help("`path` is a Sigma rule file or a directory of them, relative to the config file"),
            ),
        }
    }
    batches.push((std::mem::take(&mut input.extra), None));
    for (files, table) in batches {
        let first = out.rules.len();
        for f in files {
            let file = Arc::new(SourceFile {
                name: f.name,
                text: f.text,
            });
            let tests = f.tests.map(|t| {
                Arc::new(SourceFile {
                    name: t.name,
                    text: t.text,
                })
            });
            load_file(&file, tests.as_ref(), table, first_index, &mut out, diags);
        }
        if let Some(t) = table {
            sigma_tests::attach(&t.tests, &mut out.rules[first..], &t.path.0, diags);
        }
    }
    out
}

/// The rules and correlations of one Sigma file; the events of its tests
/// file (`tests`) become tests of its first detection rule.
fn load_file(
    file: &Arc<SourceFile>,
    tests: Option<&Arc<SourceFile>>,
    table: Option<&SigmaTable>,
    first_index: usize,
    out: &mut Loaded,
    diags: &mut Vec<Diagnostic>,
) {
    let read = sigma::read(&file.text);
    for issue in read.issues {
        let mut d =
            Diagnostic::warning(format!("Sigma rule skipped: {}", issue.message), issue.span)
                .in_file(file);
        if d.help.is_none() && issue.help.is_none() {
            d.help = Some("the rule is not loaded; every other rule is".into());
        }
        if issue.help.is_some() {
            d.help = issue.help;
        }
        diags.push(d);
    }
    for (title, why, span) in read.skipped {
        diags.push(
            Diagnostic::warning(format!("Sigma rule `{title}` skipped: {why}"), span)
                .in_file(file)
                .with_help("Tattletail reads CloudTrail: only rules with logsource product: aws, service: cloudtrail are taken"),
        );
    }
    let destinations = table.map(|t| t.destinations.clone()).unwrap_or_default();
    let meta_for = |level: Option<&str>, tags: &[String]| RuleMeta {
        severity: level.and_then(|l| {
            table
                .and_then(|t| t.severity_map.get(&l.trim().to_ascii_lowercase()).copied())
                .or_else(|| sigma::default_severity(l))
        }),
        tags: tags.to_vec(),
        runbook: None,
        enabled: table.is_none_or(|t| t.enabled),
        mode: table.map_or(Mode::Live, |t| t.mode),
        references: Vec::new(),
        correlation_only: false,
    };
    let first_rule = out.rules.len();
    for doc in read.documents {
        match doc {
            Document::Rule(r) => {
                let jq = sigma::jq::emit(&r).jq;
                let mut meta = meta_for(r.level.as_deref(), &r.tags);
                meta.references = r.references.clone();
                let index = first_index + out.rules.len();
                let span = r.span.clone();
                let mut name = r.title.clone();
                if let Some((agg, timeframe)) = &r.aggregation {
                    // The deprecated `| count() by x > N` is an event_count
                    // (or value_count) correlation over this rule.
                    name = format!("{} (events)", r.title);
                    meta.correlation_only = true;
                    out.correlations.push((
                        aggregation_correlation(&r, agg, *timeframe, &name),
                        file.clone(),
                        destinations.clone(),
                        meta_for(r.level.as_deref(), &r.tags),
                    ));
                }
                out.rules.push(RuleConfig {
                    index,
                    name: Some(name),
                    jq_offsets: OffsetMap::constant(span.clone()),
                    jq_match: jq,
                    jq_span: span.clone(),
                    description: r.description.clone(),
                    destinations: destinations.clone(),
                    meta,
                    tests: Vec::new(),
                    span,
                    sigma: Some(SigmaOrigin {
                        file: file.clone(),
                        id: r.id.clone(),
                        level: r.level.clone(),
                        name: r.name.clone(),
                    }),
                    noise: Default::default(),
                });
            }
            Document::Correlation(c) => {
                let mut meta = meta_for(c.level.as_deref(), &c.tags);
                meta.references = c.references.clone();
                out.correlations
                    .push((c, file.clone(), destinations.clone(), meta));
            }
        }
    }
    if let Some(tests) = tests {
        attach_file_tests(tests, out.rules.get_mut(first_rule), diags);
    }
}

/// The tests of a tests file, for the first detection rule of its Sigma
/// file (`None`: the file has none that loaded, so they cannot run).
fn attach_file_tests(
    tests: &Arc<SourceFile>,
    rule: Option<&mut RuleConfig>,
    diags: &mut Vec<Diagnostic>,
) {
    let parsed = sigma_tests::json_tests(tests, diags);
    let Some(rule) = rule else {
        if !parsed.is_empty() {
            diags.push(
                Diagnostic::warning(
                    "these tests are not run: their Sigma file has no detection rule that loaded",
                    0..tests.text.len().min(1),
                )
                .in_file(tests)
                .with_help(
                    "a tests file tests the first detection rule of the .yml file of the same name",
                ),
            );
        }
        return;
    };
    let label = format!("Sigma rule `{}`", rule.display_name());
    for t in parsed {
        super::rule_tests::push_test(&mut rule.tests, t, &label, diags);
    }
}

fn aggregation_correlation(
    r: &sigma::Rule,
    agg: &condition::Aggregation,
    timeframe: u64,
    base: &str,
) -> Correlation {
    Correlation {
        title: r.title.clone(),
        id: r.id.clone(),
        name: None,
        level: r.level.clone(),
        description: r.description.clone(),
        tags: r.tags.clone(),
        references: r.references.clone(),
        kind: if agg.field.is_some() {
            CorrelationKind::ValueCount
        } else {
            CorrelationKind::EventCount
        },
        rules: vec![(base.to_string(), r.span.clone())],
        group_by: agg.group_by.iter().cloned().collect(),
        timespan: timeframe,
        condition: sigma::correlation::CountCondition {
            tests: vec![(agg.op, agg.value)],
            field: agg.field.clone(),
        },
        generate: false,
        span: r.span.clone(),
    }
}

/// Resolve each correlation's rule references (by a Sigma rule's `name`,
/// `id` or title, or a jq rule's `name`); unresolved ones are reported and
/// the correlation skipped. Referenced rules that do not `generate` only
/// feed the correlation.
pub(super) fn resolve(
    loaded: Vec<(Correlation, Arc<SourceFile>, Vec<String>, RuleMeta)>,
    rules: &mut [RuleConfig],
    diags: &mut Vec<Diagnostic>,
) -> Vec<CorrelationConfig> {
    let mut out = Vec::new();
    for (c, file, destinations, meta) in loaded {
        let mut positions = Vec::new();
        let mut ok = true;
        for (reference, span) in &c.rules {
            let found = rules.iter().position(|r| {
                r.name.as_deref() == Some(reference.as_str())
                    || r.sigma.as_ref().is_some_and(|s| {
                        s.id.as_deref() == Some(reference.as_str())
                            || s.name.as_deref() == Some(reference.as_str())
                    })
            });
            match found {
                Some(p) => positions.push(p),
                None => {
                    ok = false;
                    diags.push(
                        Diagnostic::warning(
                            format!("Sigma correlation `{}` skipped: it names rule `{reference}`, which is not loaded", c.title),
                            span.clone(),
                        )
                        .in_file(&file)
                        .with_help("correlations name rules by their Sigma `name`, `id` or title (or a jq rule's `name`); load that rule too"),
                    );
                }
            }
        }
        if !ok {
            continue;
        }
        if !c.generate {
            for &p in &positions {
                rules[p].meta.correlation_only = true;
            }
        }
        out.push(CorrelationConfig {
            correlation: c,
            file,
            rules: positions,
            destinations,
            meta,
        });
    }
    out
}
