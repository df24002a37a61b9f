//! A rule's noise-control settings: `dedup`, `threshold` and `cooldown`
//! (issue 13). They decide which of a rule's alerts are sent one by one
//! and which are counted into a follow-up; the Lambda and `tattletail
//! scan --send` apply them (state in DynamoDB or in memory). Keys and
//! group expressions are jq programs, compiled with the rule (plan.rs).
//!
//! ```toml
//! dedup = { key = '.userIdentity.arn', window = "15m" }
//! threshold = { count = 10, window = "5m", group_by = '.userIdentity.arn' }
//! cooldown = "1h"
//! ```

use std::ops::Range;

use toml::de::DeValue;

use super::{check_keys, lookup, string, Table};
use crate::diag::Diagnostic;
use crate::toml_str::OffsetMap;

/// A length of time as written (`15m`) and in seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Period {
    /// Seconds, at least 1.
    pub secs: u64,
    /// As written, for messages.
    pub text: String,
}

/// A jq expression over the record (a dedup key, a threshold group).
#[derive(Clone, Debug)]
pub struct KeyExpr {
    /// The jq program.
    pub jq: String,
    /// Where it is in the file.
    pub span: Range<usize>,
    /// Maps offsets in `jq` to offsets in the file.
    pub offsets: OffsetMap,
}

/// `dedup`: the first alert of a key in a window is sent, later ones are
/// counted into one follow-up.
#[derive(Clone, Debug)]
pub struct Dedup {
    /// `key`; `None`: the rule, the actor and the eventName.
    pub key: Option<KeyExpr>,
    /// `window`.
    pub window: Period,
}

/// `threshold`: the rule alerts only when `count` of its matches of one
/// group fall within `window`; then it counts the rest of the window like
/// a dedup window.
#[derive(Clone, Debug)]
pub struct Threshold {
    /// `count`, at least 1.
    pub count: u64,
    /// `window`.
    pub window: Period,
    /// `group_by`; `None`: the whole rule is one group.
    pub group_by: Option<KeyExpr>,
}

/// A rule's noise control; all `None` (the default) sends every alert.
#[derive(Clone, Debug, Default)]
pub struct Noise {
    /// `dedup`.
    pub dedup: Option<Dedup>,
    /// `threshold`.
    pub threshold: Option<Threshold>,
    /// `cooldown`: after a send to a destination, the rule's further
    /// alerts to that destination are held for this long (and counted).
    pub cooldown: Option<Period>,
}

impl Noise {
    /// Is any setting given?
    pub fn any(&self) -> bool {
        self.dedup.is_some() || self.threshold.is_some() || self.cooldown.is_some()
    }

    /// The jq expressions to compile with the rule: (what, expression).
    pub fn expressions(&self) -> impl Iterator<Item = (&'static str, &KeyExpr)> {
        let key = self.dedup.as_ref().and_then(|d| d.key.as_ref());
        let group = self.threshold.as_ref().and_then(|t| t.group_by.as_ref());
        key.map(|k| ("dedup key", k))
            .into_iter()
            .chain(group.map(|g| ("threshold group_by", g)))
    }
}

/// The longest window or cooldown: 7 days (state items live that long).
pub const MAX_PERIOD_SECS: u64 = 7 * 86_400;

const DEDUP_KEYS: &[&str] = &["key", "window"];
const THRESHOLD_KEYS: &[&str] = &["count", "window", "group_by"];

/// Read the noise settings of a `[[rule]]` table; problems go to `diags`.
pub fn read(source: &str, table: &Table<'_>, label: &str, diags: &mut Vec<Diagnostic>) -> Noise {
    let mut noise = Noise::default();
    if let Some((_, v)) = lookup(table, "dedup") {
        if let Some(t) = sub_table(
            v,
            "dedup",
            "dedup = { key = '.userIdentity.arn', window = \"15m\" }",
            diags,
        ) {
            check_keys(t, DEDUP_KEYS, "`dedup` table", diags);
            let window = period(t, "window", v.span(), label, "dedup", diags);
            let key = key_expr(source, t, "key", diags);
            if let Some(window) = window {
                noise.dedup = Some(Dedup { key, window });
            }
        }
    }
    if let Some((_, v)) = lookup(table, "threshold") {
        if let Some(t) = sub_table(
            v,
            "threshold",
            "threshold = { count = 10, window = \"5m\", group_by = '.userIdentity.arn' }",
            diags,
        ) {
            check_keys(t, THRESHOLD_KEYS, "`threshold` table", diags);
            let window = period(t, "window", v.span(), label, "threshold", diags);
            let group_by = key_expr(source, t, "group_by", diags);
            let count = match lookup(t, "count") {
                None => {
                    diags.push(
                        Diagnostic::error(format!("{label}: `threshold` needs `count`"), v.span())
                            .with_help("add count = 10: how many matches of a group within the window make an alert"),
                    );
                    None
                }
                Some((_, c)) => match c.get_ref() {
                    DeValue::Integer(i) => match i.as_str().parse::<u64>() {
                        Ok(n) if (1..=1_000).contains(&n) => Some(n),
                        _ => {
                            diags.push(
                                Diagnostic::error(
                                    format!("`count` must be from 1 to 1000, found {}", i.as_str()),
                                    c.span(),
                                )
                                .with_help("count = 10 alerts when 10 matches of a group fall within the window"),
                            );
                            None
                        }
                    },
                    other => {
                        diags.push(
                            Diagnostic::error(
                                format!(
                                    "`count` must be a whole number, found {}",
                                    other.type_str()
                                ),
                                c.span(),
                            )
                            .with_help("count = 10"),
                        );
                        None
                    }
                },
            };
            if let (Some(window), Some(count)) = (window, count) {
                noise.threshold = Some(Threshold {
                    count,
                    window,
                    group_by,
                });
            }
        }
    }
    if let Some((_, v)) = lookup(table, "cooldown") {
        match v.get_ref() {
            DeValue::String(s) => noise.cooldown = parse_period(s, v.span(), "cooldown", diags),
            other => diags.push(
                Diagnostic::error(
                    format!("`cooldown` must be a string, found {}", other.type_str()),
                    v.span(),
                )
                .with_help("cooldown = \"1h\": after an alert is sent to a destination, the rule's next alerts to it wait this long"),
            ),
        }
    }
    if noise.dedup.is_some() && noise.threshold.is_some() {
        let span = lookup(table, "threshold").map_or(0..0, |(k, _)| k.span());
        diags.push(
            Diagnostic::error(format!("{label} has both `dedup` and `threshold`"), span).with_help(
                "a threshold already counts the rest of its window like a dedup window: keep one of them",
            ),
        );
        noise.dedup = None;
    }
    noise
}

fn sub_table<'a, 'b>(
    v: &'b toml::Spanned<DeValue<'a>>,
    key: &str,
    example: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<&'b Table<'a>> {
    match v.get_ref() {
        DeValue::Table(t) => Some(t),
        other => {
            diags.push(
                Diagnostic::error(
                    format!("`{key}` must be a table, found {}", other.type_str()),
                    v.span(),
                )
                .with_help(format!("write it as {example}")),
            );
            None
        }
    }
}

fn period(
    t: &Table<'_>,
    key: &str,
    table_span: Range<usize>,
    label: &str,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Period> {
    match string(t, key, diags) {
        Some((text, span)) => parse_period(&text, span, key, diags),
        None => {
            if lookup(t, key).is_none() {
                diags.push(
                    Diagnostic::error(format!("{label}: `{what}` needs `{key}`"), table_span)
                        .with_help(format!("add {key} = \"15m\" (s, m, h or d)")),
                );
            }
            None
        }
    }
}

fn parse_period(
    text: &str,
    span: Range<usize>,
    key: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Period> {
    match crate::sigma::duration_secs(text) {
        Some(secs) if secs <= MAX_PERIOD_SECS => Some(Period {
            secs,
            text: text.trim().to_string(),
        }),
        Some(_) => {
            diags.push(
                Diagnostic::error(format!("`{key}` = \"{text}\" is longer than 7 days"), span)
                    .with_help("noise-control state is kept for 7 days: use at most \"7d\""),
            );
            None
        }
        None => {
            diags.push(
                Diagnostic::error(
                    format!("`{key}` = \"{text}\" is not a length of time"),
                    span,
                )
                .with_help("write a number and a unit: \"30s\", \"15m\", \"1h\", \"1d\""),
            );
            None
        }
    }
}

fn key_expr(
    source: &str,
    t: &Table<'_>,
    key: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<KeyExpr> {
    let (jq, span) = string(t, key, diags)?;
    if jq.trim().is_empty() {
        diags.push(
            Diagnostic::error(format!("`{key}` is empty"), span)
                .with_help("write a jq expression over the record, e.g. '.userIdentity.arn', or leave the key out"),
        );
        return None;
    }
    let offsets = OffsetMap::new(&source[span.clone()], span.start, &jq);
    Some(KeyExpr { jq, span, offsets })
}
