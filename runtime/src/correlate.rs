//! Sigma correlation rules, evaluated over the matches of the rules they
//! reference. The engine is fed, in scan order, each match of such a rule
//! (its record's `eventTime` in seconds, its group-by values and, for
//! `value_count`, the counted field, read as Sigma reads fields: a
//! top-level key literally equal to the dotted path first, else the path
//! through objects; a missing field is the group value `null`). Windows
//! slide by `eventTime`: a window is `[t − timespan, t]` for the time `t`
//! of a match in the group. `event_count` counts the matches in it,
//! `value_count` the distinct values of the field (a match without the
//! field adds none), `temporal` the referenced rules that matched in it and
//! `temporal_ordered` how many of them matched in the listed order (equal
//! times count as in order).
//!
//! **Firing policy.** When the condition first holds for a group there is
//! one correlation alert; then none for that group while the window still
//! overlaps the one that fired (a window ending at `t` with
//! `|t − last_fire| < timespan`), instead of one alert per further match as
//! rsigma gives. Matches may arrive out of `eventTime` order (several files):
//! each group keeps its matches sorted by time, and a late match is
//! evaluated in every window it falls in (its own and those ending up to
//! `timespan` after it). A match later than the group's newest one prunes
//! what no later window needs (older than its window), so state is the
//! current window plus any late matches since.
//!
//! Memory is bounded: at most [`Caps::groups`] groups per correlation
//! (stale groups, whose newest match is older than the correlation's
//! newest minus the timespan, are swept first) and [`Caps::events`]
//! matches per group (the oldest go first). Whatever a cap drops that
//! still mattered is counted in [`CorrelationStats`], as are matches
//! without a parseable `eventTime`, which correlations skip.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::Arc;

use serde_json::Value;
use tattletail_compiler::plan::Plan;
use tattletail_compiler::sigma::CorrelationKind;

use crate::matcher::AlertFields;
use crate::scan::{Alert, AlertSink};

/// Event ids kept in a correlation alert.
pub const EVENT_IDS: usize = 20;

/// Limits on the engine's state, per correlation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// Groups kept.
    pub groups: usize,
    /// Matches kept per group.
    pub events: usize,
}

impl Default for Caps {
    fn default() -> Caps {
        Caps {
            groups: 100_000,
            events: 10_000,
        }
    }
}

/// What the engine did beyond its alerts, for the summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CorrelationStats {
    /// Alerts per correlation (plan order).
    pub alerts: Vec<u64>,
    /// Matches skipped because their record has no parseable `eventTime`.
    pub no_time: u64,
    /// Matches dropped from a full group while still inside its window.
    pub dropped_events: u64,
    /// Matches not correlated because the group table was full.
    pub dropped_groups: u64,
    /// Matches that came earlier in `eventTime` than their group's newest
    /// (handled; shown for information).
    pub late: u64,
    /// Per rule (plan order): matches of rules that only feed correlations
    /// (`correlation_only`), which are not alerts ([`Correlating`]).
    pub withheld: Vec<u64>,
}

impl CorrelationStats {
    /// Correlation alerts in all.
    pub fn total_alerts(&self) -> u64 {
        self.alerts.iter().sum()
    }

    /// Did a cap drop state that mattered?
    pub fn capped(&self) -> bool {
        self.dropped_events > 0 || self.dropped_groups > 0
    }
}

/// The record a match was on, as alerts show it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EventInfo {
    /// Its alert fields (actor, IP, account, region, eventID, …).
    pub fields: AlertFields,
    /// The input it came from.
    pub source: Arc<str>,
    /// Its index there.
    pub index: u64,
}

/// One correlation that fired for one group.
#[derive(Clone, Debug, PartialEq)]
pub struct CorrelationAlert {
    /// Position in [`Plan::correlations`].
    pub correlation: usize,
    /// The group: each group-by field and its value (`null` when missing).
    pub group: Vec<(String, Value)>,
    /// The counted value: matches, distinct values, or rules matched.
    pub count: u64,
    /// `eventTime` of the window's first match, in seconds.
    pub window_start: i64,
    /// `eventTime` of its last match, in seconds.
    pub window_end: i64,
    /// The referenced rules (positions in [`Plan::rules`]) that matched in
    /// the window, in the correlation's order.
    pub rules: Vec<usize>,
    /// Matches in the window.
    pub events: u64,
    /// `eventID`s of the first [`EVENT_IDS`] of them.
    pub event_ids: Vec<String>,
    /// The window's last match.
    pub last: Arc<EventInfo>,
}

impl CorrelationAlert {
    /// The `correlation` object of JSON Lines and payloads: kind, group
    /// (field → value), count, timespan, window (RFC 3339), the rules that
    /// matched (names), the number of matches and their first eventIDs.
    pub fn to_json(&self, plan: &Plan) -> Value {
        let config = &plan.correlations[self.correlation];
        let group: serde_json::Map<String, Value> = self.group.iter().cloned().collect();
        let mut v = serde_json::json!({
            "kind": config.correlation.kind.as_str(),
            "group": group,
            "count": self.count,
            "condition": config.correlation.condition.describe(),
            "timespan": config.correlation.timespan,
            "window": {
                "start": tattletail_compiler::date::format_utc(self.window_start),
                "end": tattletail_compiler::date::format_utc(self.window_end),
            },
            "rules": self.rules.iter().map(|&r| plan.rules[r].config.display_name()).collect::<Vec<_>>(),
            "events": self.events,
            "eventIDs": self.event_ids,
        });
        if let Some(f) = &config.correlation.condition.field {
            v["field"] = Value::String(f.clone());
        }
        v
    }

    /// In words: `event_count: 12 events by userIdentity.arn=… in 10m`.
    pub fn detail(&self, plan: &Plan) -> String {
        let corr = &plan.correlations[self.correlation].correlation;
        let n = self.count;
        let s = if n == 1 { "" } else { "s" };
        let what = match corr.kind {
            CorrelationKind::EventCount => format!("{n} event{s}"),
            CorrelationKind::ValueCount => format!(
                "{n} distinct {}",
                corr.condition.field.as_deref().unwrap_or("values")
            ),
            CorrelationKind::Temporal => format!("{n} of {} rules", corr.rules.len()),
            CorrelationKind::TemporalOrdered => {
                format!("{n} of {} rules in order", corr.rules.len())
            }
        };
        let mut out = format!("{}: {what}", corr.kind.as_str());
        if !self.group.is_empty() {
            let by: Vec<String> = self
                .group
                .iter()
                .map(|(f, v)| match v {
                    Value::String(s) => format!("{f}={s}"),
                    other => format!("{f}={other}"),
                })
                .collect();
            out.push_str(" by ");
            out.push_str(&by.join(" "));
        }
        out.push_str(" in ");
        out.push_str(&duration(corr.timespan));
        out
    }
}

/// `10m`, `1h`, `90s`, `2d`: the largest unit that divides it.
pub fn duration(secs: u64) -> String {
    match secs {
        0 => "0s".into(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// A sink in front of another that feeds the engine with every alert, in
/// scan order: the alerts of rules that only feed correlations
/// (`correlation_only`) stop here (counted in
/// [`CorrelationStats::withheld`]), the others go on, each followed by
/// the correlation alerts it completed.
pub struct Correlating<'p, S> {
    /// The engine.
    pub engine: Correlator<'p>,
    /// Where alerts go on.
    pub inner: S,
}

impl<'p, S: AlertSink> Correlating<'p, S> {
    /// `inner`, behind `plan`'s correlations.
    pub fn new(plan: &'p Plan, inner: S) -> Self {
        Correlating {
            engine: Correlator::new(plan),
            inner,
        }
    }
}

impl<S: AlertSink> AlertSink for Correlating<'_, S> {
    fn alert(&mut self, a: &Alert<'_>) -> io::Result<()> {
        let fired = self.engine.alert(a);
        if a.rule.config.meta.correlation_only {
            if let Some(n) = self.engine.stats.withheld.get_mut(a.rule_index) {
                *n += 1;
            }
        } else {
            self.inner.alert(a)?;
        }
        for c in &fired {
            self.inner.correlation(self.engine.plan, c)?;
        }
        Ok(())
    }

    fn correlation(&mut self, plan: &Plan, alert: &CorrelationAlert) -> io::Result<()> {
        self.inner.correlation(plan, alert)
    }
}

/// One match in a group's window.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Ev {
    t: i64,
    /// Which of the correlation's rules (position in its list).
    slot: usize,
    /// `value_count`: the field's value as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    info: Arc<EventInfo>,
}

/// One group of one correlation: its matches in the current window (plus
/// late ones) and when it last fired. Serialisable: the Lambda keeps each
/// group in the state table between invocations ([`step`]).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Group {
    values: Vec<Value>,
    /// Sorted by time; equal times in arrival order.
    events: VecDeque<Ev>,
    newest: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_fire: Option<i64>,
}

/// One match as correlation `c` sees it: its group (key text and values)
/// and the event to add; `None` when the record has no parseable
/// `eventTime` (counted by the caller as [`CorrelationStats::no_time`]).
pub struct Match {
    /// The group's key (the group-by values as JSON text).
    pub key: String,
    /// The group-by values.
    pub values: Vec<Value>,
    /// The event.
    pub ev: Ev,
}

/// Prepare the match of the rule in `slot` of correlation `c` on `record`.
pub fn prepare(
    plan: &Plan,
    c: usize,
    slot: usize,
    record: &Value,
    info: Arc<EventInfo>,
) -> Option<Match> {
    let t = info.fields.event_time.as_deref().and_then(event_seconds)?;
    let corr = &plan.correlations[c].correlation;
    let values: Vec<Value> = corr
        .group_by
        .iter()
        .map(|f| sigma_field(record, f).cloned().unwrap_or(Value::Null))
        .collect();
    let value = corr
        .condition
        .field
        .as_deref()
        .and_then(|f| sigma_field(record, f))
        .filter(|v| !v.is_null())
        .map(Value::to_string);
    Some(Match {
        key: Value::Array(values.clone()).to_string(),
        values,
        ev: Ev {
            t,
            slot,
            value,
            info,
        },
    })
}

impl Group {
    /// A new group of these group-by values.
    pub fn new(values: Vec<Value>) -> Group {
        Group {
            values,
            ..Group::default()
        }
    }

    /// Does the group already hold this event (same rule, same eventID)?
    pub fn contains(&self, ev: &Ev) -> bool {
        let Some(id) = ev.info.fields.event_id.as_deref() else {
            return false;
        };
        self.events
            .iter()
            .any(|e| e.slot == ev.slot && e.info.fields.event_id.as_deref() == Some(id))
    }

    /// Matches held.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Holds no match.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Forget the oldest match (to keep a stored group small).
    pub fn drop_oldest(&mut self) {
        self.events.pop_front();
    }
}

/// Add one match to `group` of correlation `c`, keeping at most
/// `max_events` matches: the correlation alerts it completes, in time
/// order. The one step of the engine, for [`Correlator`] (groups in
/// memory) and the Lambda (groups in the state table).
pub fn step(
    plan: &Plan,
    c: usize,
    group: &mut Group,
    ev: Ev,
    max_events: usize,
    stats: &mut CorrelationStats,
) -> Vec<CorrelationAlert> {
    let config = &plan.correlations[c];
    let ts = config.correlation.timespan as i64;
    let t = ev.t;
    if group.events.is_empty() && group.newest == 0 {
        group.newest = t;
    }
    if t >= group.newest {
        // In order: nothing older than this window is needed by any
        // later one.
        while group.events.front().is_some_and(|e| e.t < t - ts) {
            group.events.pop_front();
        }
        group.newest = t;
    } else {
        stats.late += 1;
    }
    let at = group.events.partition_point(|e| e.t <= t);
    group.events.insert(at, ev);
    if group.events.len() > max_events {
        if let Some(old) = group.events.pop_front() {
            if old.t >= t - ts {
                stats.dropped_events += 1;
            }
        }
    }
    // The windows this match is in: those ending at its time and at the
    // times of later matches up to a timespan after it.
    let mut anchors: Vec<i64> = group
        .events
        .iter()
        .map(|e| e.t)
        .filter(|&e| e >= t && e <= t + ts)
        .collect();
    anchors.dedup();
    let mut out = Vec::new();
    for end in anchors {
        if let Some(alert) = evaluate(c, config, group, end) {
            if let Some(n) = stats.alerts.get_mut(c) {
                *n += 1;
            }
            out.push(alert);
        }
    }
    out
}

#[derive(Default)]
struct State {
    groups: HashMap<String, Group>,
    newest: i64,
    swept_at: Option<i64>,
}

/// The engine for one scan: every correlation of a plan.
pub struct Correlator<'p> {
    plan: &'p Plan,
    /// Per rule position: the (correlation, slot) pairs it feeds.
    feeds: Vec<Vec<(usize, usize)>>,
    /// Per rule position: a correlation it feeds reads fields of the
    /// record (`group-by`, a value_count field), so the record is needed
    /// as JSON.
    reads_record: Vec<bool>,
    states: Vec<State>,
    caps: Caps,
    stats: CorrelationStats,
    last_source: Option<Arc<str>>,
}

impl<'p> Correlator<'p> {
    /// The plan.
    pub fn plan(&self) -> &'p Plan {
        self.plan
    }

    /// The engine for `plan`'s correlations, with the default caps.
    pub fn new(plan: &'p Plan) -> Correlator<'p> {
        let mut feeds = vec![Vec::new(); plan.rules.len()];
        for (c, corr) in plan.correlations.iter().enumerate() {
            for (slot, &r) in corr.rules.iter().enumerate() {
                feeds[r].push((c, slot));
            }
        }
        let reads_record = feeds
            .iter()
            .map(|f| {
                f.iter().any(|&(c, _)| {
                    let k = &plan.correlations[c].correlation;
                    !k.group_by.is_empty() || k.condition.field.is_some()
                })
            })
            .collect();
        Correlator {
            plan,
            feeds,
            reads_record,
            states: plan.correlations.iter().map(|_| State::default()).collect(),
            caps: Caps::default(),
            stats: CorrelationStats {
                alerts: vec![0; plan.correlations.len()],
                withheld: vec![0; plan.rules.len()],
                ..CorrelationStats::default()
            },
            last_source: None,
        }
    }

    /// Other limits.
    pub fn with_caps(mut self, caps: Caps) -> Correlator<'p> {
        self.caps = caps;
        self
    }

    /// Does the plan have correlations at all?
    pub fn is_active(&self) -> bool {
        !self.plan.correlations.is_empty()
    }

    /// Does a match of `rule` feed a correlation?
    pub fn feeds(&self, rule: usize) -> bool {
        self.feeds.get(rule).is_some_and(|f| !f.is_empty())
    }

    /// The counts so far.
    pub fn stats(&self) -> &CorrelationStats {
        &self.stats
    }

    /// Feed one alert of the scan (in scan order); the correlation alerts
    /// it completes, in time order.
    pub fn alert(&mut self, a: &Alert<'_>) -> Vec<CorrelationAlert> {
        if !self.feeds(a.rule_index) {
            return Vec::new();
        }
        // Converting the record is the dear part: only when a field is read.
        let record = if self.reads_record[a.rule_index] {
            a.record.to_json()
        } else {
            Value::Null
        };
        self.feed(a.rule_index, &record, a.fields, a.source, a.position.index)
    }

    /// Feed one match of rule `rule` on `record` (its alert `fields`, from
    /// input `source` at `index`).
    pub fn feed(
        &mut self,
        rule: usize,
        record: &Value,
        fields: &AlertFields,
        source: &str,
        index: u64,
    ) -> Vec<CorrelationAlert> {
        let feeds = match self.feeds.get(rule) {
            Some(f) if !f.is_empty() => f.clone(),
            _ => return Vec::new(),
        };
        let Some(t) = fields.event_time.as_deref().and_then(event_seconds) else {
            self.stats.no_time += 1;
            return Vec::new();
        };
        let source = match &self.last_source {
            Some(s) if &**s == source => s.clone(),
            _ => {
                let s: Arc<str> = Arc::from(source);
                self.last_source = Some(s.clone());
                s
            }
        };
        let info = Arc::new(EventInfo {
            fields: fields.clone(),
            source,
            index,
        });
        let mut out = Vec::new();
        for (c, slot) in feeds {
            let Some(m) = prepare(self.plan, c, slot, record, info.clone()) else {
                continue;
            };
            let state = &mut self.states[c];
            let ts = self.plan.correlations[c].correlation.timespan as i64;
            if state.groups.len() >= self.caps.groups && !state.groups.contains_key(&m.key) {
                if state.swept_at != Some(state.newest) {
                    let horizon = state.newest - ts;
                    state.groups.retain(|_, g| g.newest >= horizon);
                    state.swept_at = Some(state.newest);
                }
                if state.groups.len() >= self.caps.groups {
                    self.stats.dropped_groups += 1;
                    continue;
                }
            }
            state.newest = state.newest.max(t);
            let group = state.groups.entry(m.key).or_insert_with(|| Group {
                values: m.values,
                newest: t,
                ..Group::default()
            });
            out.extend(step(
                self.plan,
                c,
                group,
                m.ev,
                self.caps.events,
                &mut self.stats,
            ));
        }
        out.sort_by_key(|a| a.window_end);
        out
    }
}

/// The window of `group` ending at `end`: an alert when the condition
/// holds and the firing policy allows one.
fn evaluate(
    c: usize,
    config: &tattletail_compiler::config::CorrelationConfig,
    group: &mut Group,
    end: i64,
) -> Option<CorrelationAlert> {
    let corr = &config.correlation;
    let ts = corr.timespan as i64;
    if group.last_fire.is_some_and(|f| (end - f).abs() < ts.max(1)) {
        return None;
    }
    let lo = group.events.partition_point(|e| e.t < end - ts);
    let hi = group.events.partition_point(|e| e.t <= end);
    let window: Vec<&Ev> = group.events.range(lo..hi).collect();
    let last = window.last()?;
    let mut slots: Vec<usize> = window.iter().map(|e| e.slot).collect();
    slots.sort_unstable();
    slots.dedup();
    let count = match corr.kind {
        CorrelationKind::EventCount => window.len() as u64,
        CorrelationKind::ValueCount => {
            let mut values: Vec<&str> = window.iter().filter_map(|e| e.value.as_deref()).collect();
            values.sort_unstable();
            values.dedup();
            values.len() as u64
        }
        CorrelationKind::Temporal => slots.len() as u64,
        CorrelationKind::TemporalOrdered => in_order(&window, config.rules.len()),
    };
    if !corr.condition.holds(count) {
        return None;
    }
    group.last_fire = Some(end);
    Some(CorrelationAlert {
        correlation: c,
        group: corr
            .group_by
            .iter()
            .cloned()
            .zip(group.values.iter().cloned())
            .collect(),
        count,
        window_start: window[0].t,
        window_end: end,
        rules: slots.iter().map(|&s| config.rules[s]).collect(),
        events: window.len() as u64,
        event_ids: window
            .iter()
            .filter_map(|e| e.info.fields.event_id.clone())
            .take(EVENT_IDS)
            .collect(),
        last: last.info.clone(),
    })
}

/// How many of the `n` rules matched in the listed order in `window`
/// (sorted by time): the first rule's earliest match, then the second's
/// first match at that time or later, and so on.
fn in_order(window: &[&Ev], n: usize) -> u64 {
    let mut from = i64::MIN;
    for slot in 0..n {
        match window.iter().find(|e| e.slot == slot && e.t >= from) {
            Some(e) => from = e.t,
            None => return slot as u64,
        }
    }
    n as u64
}

/// The value at a Sigma field path: a top-level key literally equal to
/// `path` first, else the path through objects.
pub fn sigma_field<'v>(record: &'v Value, path: &str) -> Option<&'v Value> {
    if let Some(v) = record.as_object()?.get(path) {
        return Some(v);
    }
    let mut cur = record;
    for part in path.split('.') {
        cur = cur.as_object()?.get(part)?;
    }
    Some(cur)
}

/// Seconds since the epoch of a CloudTrail `eventTime`
/// (`2026-01-31T12:00:00Z`, fractions and offsets allowed); `None` when it
/// is not a date-time.
pub fn event_seconds(text: &str) -> Option<i64> {
    if !text.contains(['T', 't', ' ']) {
        return None;
    }
    tattletail_compiler::date::parse_expiry(text).ok()
}

#[cfg(test)]
mod tests;
