//! Sigma correlation rules (specification v2.1): `event_count`,
//! `value_count`, `temporal` and `temporal_ordered` over other rules,
//! grouped by fields, within a timespan. Read here; evaluated by the
//! runtime's correlation engine from the alerts of the rules they
//! reference (the CLI, within one scan run; not yet the Lambda, which
//! needs state across invocations).

use std::ops::Range;

use super::condition::CmpOp;
use super::rule::Issue;
use super::yaml::Yaml;

/// The kind of correlation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorrelationKind {
    /// Number of matching events per group.
    EventCount,
    /// Number of distinct values of a field per group.
    ValueCount,
    /// Every referenced rule matched in the group within the timespan.
    Temporal,
    /// Same, in the order the rules are listed.
    TemporalOrdered,
}

impl CorrelationKind {
    /// As written in the rule.
    pub fn as_str(self) -> &'static str {
        match self {
            CorrelationKind::EventCount => "event_count",
            CorrelationKind::ValueCount => "value_count",
            CorrelationKind::Temporal => "temporal",
            CorrelationKind::TemporalOrdered => "temporal_ordered",
        }
    }
}

/// A count condition: one or two comparisons (a range), all must hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountCondition {
    /// The comparisons.
    pub tests: Vec<(CmpOp, u64)>,
    /// `value_count`: the field whose distinct values are counted.
    pub field: Option<String>,
}

impl CountCondition {
    /// Does `n` satisfy the condition?
    pub fn holds(&self, n: u64) -> bool {
        self.tests.iter().all(|(op, v)| match op {
            CmpOp::Gt => n > *v,
            CmpOp::Gte => n >= *v,
            CmpOp::Lt => n < *v,
            CmpOp::Lte => n <= *v,
            CmpOp::Eq => n == *v,
        })
    }

    /// For messages: `>= 10`.
    pub fn describe(&self) -> String {
        self.tests
            .iter()
            .map(|(op, v)| {
                let o = match op {
                    CmpOp::Gt => ">",
                    CmpOp::Gte => ">=",
                    CmpOp::Lt => "<",
                    CmpOp::Lte => "<=",
                    CmpOp::Eq => "==",
                };
                format!("{o} {v}")
            })
            .collect::<Vec<_>>()
            .join(" and ")
    }
}

/// A correlation rule.
#[derive(Clone, Debug)]
pub struct Correlation {
    /// `title`.
    pub title: String,
    /// `id`.
    pub id: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `level`.
    pub level: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `tags`.
    pub tags: Vec<String>,
    /// `references`.
    pub references: Vec<String>,
    /// The kind.
    pub kind: CorrelationKind,
    /// The referenced rules (by `name`, `id` or `title`), with where each is.
    pub rules: Vec<(String, Range<usize>)>,
    /// `group-by` fields (dotted paths).
    pub group_by: Vec<String>,
    /// `timespan`, in seconds.
    pub timespan: u64,
    /// The condition (`temporal*`: how many of the rules, default all).
    pub condition: CountCondition,
    /// `generate`: the referenced rules also alert on their own.
    pub generate: bool,
    /// Where the document's `title` is.
    pub span: Range<usize>,
}

/// Read a correlation document (one with a `correlation` key).
pub fn read(doc: &Yaml) -> Result<Correlation, Vec<Issue>> {
    let mut issues = Vec::new();
    let span = doc
        .key_span("title")
        .unwrap_or(doc.span.start..doc.span.start + 1);
    let list = |y: Option<&Yaml>| y.map(Yaml::strings).unwrap_or_default();
    let title = doc.get_text("title").unwrap_or_default();
    if title.is_empty() {
        issues.push(Issue::new(
            "a Sigma correlation rule needs a `title`",
            span.clone(),
        ));
    }
    let c = doc
        .get("correlation")
        .expect("called on correlation documents");
    let kind = match c.get("type").and_then(Yaml::text) {
        Some("event_count") => CorrelationKind::EventCount,
        Some("value_count") => CorrelationKind::ValueCount,
        Some("temporal") => CorrelationKind::Temporal,
        Some("temporal_ordered") => CorrelationKind::TemporalOrdered,
        other => {
            let at = c.get("type").map_or(c.span.clone(), |t| t.span.clone());
            issues.push(
                Issue::new(
                    match other {
                        Some(t) => format!("unknown correlation type `{t}`"),
                        None => "a correlation needs a `type`".to_string(),
                    },
                    at,
                )
                .help("the types are event_count, value_count, temporal and temporal_ordered"),
            );
            CorrelationKind::EventCount
        }
    };
    let rules = list(c.get("rules"));
    if rules.is_empty() {
        issues.push(Issue::new(
            "a correlation needs `rules`: the names or ids of the rules it correlates",
            c.span.clone(),
        ));
    }
    let group_by: Vec<String> = list(c.get("group-by"))
        .into_iter()
        .map(|(g, _)| g)
        .collect();
    let timespan = match c.get("timespan").or_else(|| c.get("timeframe")) {
        Some(t) => match t.text().and_then(super::duration_secs) {
            Some(secs) => secs,
            None => {
                issues.push(Issue::new(
                    "`timespan` must be a duration like `10m`, `1h`, `30s` or `1d`",
                    t.span.clone(),
                ));
                0
            }
        },
        None => {
            issues.push(Issue::new(
                "a correlation needs a `timespan`",
                c.span.clone(),
            ));
            0
        }
    };
    let condition = match c.get("condition") {
        Some(cond) => count_condition(cond, &mut issues),
        None if matches!(
            kind,
            CorrelationKind::Temporal | CorrelationKind::TemporalOrdered
        ) =>
        {
            CountCondition {
                tests: vec![(CmpOp::Gte, rules.len() as u64)],
                field: None,
            }
        }
        None => {
            issues.push(Issue::new(
                "an event_count or value_count correlation needs a `condition` (`gte: 10`)",
                c.span.clone(),
            ));
            CountCondition {
                tests: Vec::new(),
                field: None,
            }
        }
    };
    if kind == CorrelationKind::ValueCount && condition.field.is_none() {
        issues.push(Issue::new(
            "a value_count condition needs the `field` whose distinct values are counted",
            c.span.clone(),
        ));
    }
    if c.get("aliases").is_some() {
        issues.push(Issue::new(
            "correlation `aliases` (renaming fields per rule) are not supported",
            c.key_span("aliases").unwrap_or(c.span.clone()),
        ));
    }
    let generate = matches!(
        c.get("generate")
            .or_else(|| doc.get("generate"))
            .and_then(Yaml::text),
        Some("true" | "True" | "yes")
    );
    if !issues.is_empty() {
        return Err(issues);
    }
    Ok(Correlation {
        title,
        id: doc.get_text("id"),
        name: doc.get_text("name"),
        level: doc.get_text("level"),
        description: doc.get_text("description"),
        tags: doc.get_strings("tags"),
        references: doc.get_strings("references"),
        kind,
        rules,
        group_by,
        timespan,
        condition,
        generate,
        span,
    })
}

fn count_condition(cond: &Yaml, issues: &mut Vec<Issue>) -> CountCondition {
    let mut out = CountCondition {
        tests: Vec::new(),
        field: None,
    };
    let Some(entries) = cond.map() else {
        issues.push(Issue::new(
            "a correlation `condition` is a map like `gte: 10`",
            cond.span.clone(),
        ));
        return out;
    };
    for (k, v) in entries {
        let key = k.text().unwrap_or("");
        let op = match key {
            "gt" => CmpOp::Gt,
            "gte" => CmpOp::Gte,
            "lt" => CmpOp::Lt,
            "lte" => CmpOp::Lte,
            "eq" => CmpOp::Eq,
            "field" => {
                out.field = v.text().map(String::from);
                continue;
            }
            other => {
                issues.push(Issue::new(format!("unknown condition `{other}`; use gt, gte, lt, lte, eq (and `field` for value_count)"), k.span.clone()));
                continue;
            }
        };
        match v.text().and_then(|t| t.parse::<u64>().ok()) {
            Some(n) => out.tests.push((op, n)),
            None => issues.push(Issue::new("a count must be a whole number", v.span.clone())),
        }
    }
    if out.tests.is_empty() && issues.is_empty() {
        issues.push(Issue::new(
            "the condition has no comparison (`gte: 10`)",
            cond.span.clone(),
        ));
    }
    out
}
