//! One pass of delivery through noise control: a rule's dedup or
//! threshold window ([`Gate::admit`]), its cooldown on each destination
//! ([`Gate::cooldown`]) and the destination's rate limit ([`Gate::rate`]).
//!
//! A window is read once per pass and written on every decision that can
//! send; an alert held by a window the pass already knows is counted in
//! memory and merged at [`Gate::flush`] (a burst costs a few requests, not
//! one per alert). The first time a pass touches a window for an input,
//! that input's earlier count is forgotten ([`State::restart`]), so a
//! retried file counts once. A window closed by a later alert is written
//! to the due index as a snapshot before the window is replaced, so its
//! follow-up survives a crash; [`super::sweep`] sends it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::{json, Value};
use tattletail_compiler::config::{Destination, RuleConfig};
use tattletail_compiler::plan::{Plan, PlannedRule};
use tattletail_runtime::matcher::AlertFields;
use tracing::warn;

use super::sweep::{self, FollowUpJob};
use super::window::{self, Decision, Seen, Spec, State};
use super::{digest, NoiseControl, CAS_ATTEMPTS};
use crate::followup::{FollowUp, Held, Reason};
use crate::payload::{AlertData, Extra};
use crate::state::Key;

/// Windows a pass keeps in memory before it writes them out.
const CACHE_LIMIT: usize = 10_000;

/// Held alerts of one window counted in memory since its last write.
#[derive(Clone, Default)]
struct Pending {
    held: BTreeMap<String, u64>,
    first: Option<Seen>,
    last: Option<Seen>,
}

impl Pending {
    fn add(&mut self, seen: &Seen) {
        *self.held.entry(seen.source.clone()).or_default() += 1;
        window::widen(&mut self.first, &mut self.last, seen);
    }

    fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Fold into `s` (the same window).
    fn fold_into(&self, s: &mut State) {
        for (source, n) in &self.held {
            let mut seen = self.first.clone().unwrap_or_default();
            seen.source = source.clone();
            s.hold(&seen, *n);
        }
        for x in self.first.iter().chain(self.last.iter()) {
            s.hold(x, 0);
        }
    }
}

/// A window this pass has read or written.
struct Cached {
    version: u64,
    state: State,
    pending: Pending,
}

/// Alerts a destination's rate limit held back in this pass.
#[derive(Default)]
struct Overflow {
    count: u64,
    by_rule: BTreeMap<String, u64>,
    first: Option<Held>,
    last: Option<Held>,
}

/// One pass of delivery through noise control (see the module docs).
pub struct Gate {
    pub(super) noise: Arc<NoiseControl>,
    cache: HashMap<Key, Cached>,
    /// (window, input) pairs whose earlier count this pass has forgotten.
    restarted: HashSet<(Key, String)>,
    overflow: BTreeMap<String, Overflow>,
}

impl NoiseControl {
    /// A new pass.
    pub fn gate(self: &Arc<Self>) -> Gate {
        Gate {
            noise: self.clone(),
            cache: HashMap::new(),
            restarted: HashSet::new(),
            overflow: BTreeMap::new(),
        }
    }
}

/// How a rule's alerts are windowed, if at all.
fn spec_of(rule: &RuleConfig) -> Option<(&'static str, Spec)> {
    let n = &rule.noise;
    if let Some(t) = &n.threshold {
        let window_ms = t.window.secs as i64 * 1000;
        return Some((
            "threshold",
            Spec {
                count: t.count,
                window_ms,
            },
        ));
    }
    n.dedup.as_ref().map(|d| {
        let window_ms = d.window.secs as i64 * 1000;
        (
            "dedup",
            Spec {
                count: 1,
                window_ms,
            },
        )
    })
}

/// Event time of `alert` in ms, or `now` without a readable one.
fn event_ms(alert: &AlertData, now: i64) -> i64 {
    alert
        .event_seconds()
        .map_or(now, |s| s.saturating_mul(1000))
}

fn seen_of(alert: &AlertData, t: i64) -> Seen {
    Seen {
        alert_id: alert.alert_id.clone(),
        event_id: alert.event_id().map(str::to_string),
        event_time: alert.event_time().map(str::to_string),
        t,
        source: alert.source().to_string(),
    }
}

/// How a follow-up names a held alert.
pub(super) fn held_of(s: &Seen) -> Held {
    Held {
        alert_id: s.alert_id.clone(),
        event_id: s.event_id.clone(),
        event_time: s.event_time.clone(),
    }
}

/// The key of `alert` for `rule`'s window: the rule's `dedup.key` or
/// `threshold.group_by` (jq), else for dedup the actor and eventName, for
/// a threshold the whole rule. A key that fails to evaluate makes the
/// alert its own key (so it is sent, never lost).
fn key_text(rule: &PlannedRule, kind: &str, alert: &AlertData) -> String {
    let program = if kind == "threshold" {
        rule.noise.group_by.as_ref()
    } else {
        rule.noise.dedup_key.as_ref()
    };
    match program {
        Some(p) => match tattletail_runtime::keys::evaluate(p, &alert.record) {
            Ok(Some(k)) => k,
            Ok(None) => "null".into(),
            Err(e) => {
                warn!(
                    message = "noise_key_failed",
                    rule = rule.config.display_name().as_str(),
                    alert_id = alert.alert_id.as_str(),
                    error = e.as_str(),
                    help = "the alert is its own key, so it is sent; fix the rule's dedup key or group_by"
                );
                json!({"alert": alert.alert_id}).to_string()
            }
        },
        None if kind == "threshold" => "null".into(),
        None => {
            let f = AlertFields::from_json(&alert.record);
            json!([f.actor(), f.event_name]).to_string()
        }
    }
}

impl Gate {
    /// Decide on an alert of rule `r` going to `targets`. Alerts routed to
    /// other destinations are other windows (one team's count never goes
    /// to another's channel); an alert going nowhere is not windowed.
    pub async fn admit(
        &mut self,
        plan: &Plan,
        r: usize,
        alert: &AlertData,
        targets: &[&Destination],
    ) -> Decision {
        let rule = &plan.rules[r];
        let Some((kind, spec)) = spec_of(&rule.config) else {
            return Decision::Send;
        };
        if targets.is_empty() {
            return Decision::Send;
        }
        let key_text = key_text(rule, kind, alert);
        let mut ids: Vec<String> = targets.iter().map(|d| d.id.clone()).collect();
        ids.sort();
        let key = Key::new(
            format!(
                "{kind}#{}#{}",
                rule.identity,
                digest(&[&key_text, &ids.join(",")])
            ),
            "window",
        );
        let now = self.noise.now_ms();
        let seen = seen_of(alert, event_ms(alert, now));
        let decision = self
            .decide(&key, spec, &seen, |s| {
                s.kind = kind.into();
                s.rule = rule.identity.clone();
                s.key = Some(key_text.clone());
                s.destinations = ids.clone();
            })
            .await;
        let c = &self.noise.counters;
        match decision {
            Decision::Send => {}
            Decision::Held => {
                c.deduplicated.fetch_add(1, Ordering::Relaxed);
            }
            Decision::Below => {
                c.below_threshold.fetch_add(1, Ordering::Relaxed);
            }
        }
        decision
    }

    /// Is the alert of rule `r` sent to `dest` now, or held by the rule's
    /// `cooldown` on that destination (by the processing clock)?
    pub async fn cooldown(
        &mut self,
        plan: &Plan,
        r: usize,
        alert: &AlertData,
        dest: &Destination,
    ) -> bool {
        let rule = &plan.rules[r];
        let Some(period) = &rule.config.noise.cooldown else {
            return true;
        };
        let spec = Spec {
            count: 1,
            window_ms: period.secs as i64 * 1000,
        };
        let key = Key::new(format!("cooldown#{}#{}", rule.identity, dest.id), "window");
        let seen = seen_of(alert, self.noise.now_ms());
        let decision = self
            .decide(&key, spec, &seen, |s| {
                s.kind = "cooldown".into();
                s.rule = rule.identity.clone();
                s.key = Some(dest.id.clone());
                s.destinations = vec![dest.id.clone()];
            })
            .await;
        if decision != Decision::Send {
            let c = &self.noise.counters;
            c.cooled_down.fetch_add(1, Ordering::Relaxed);
        }
        decision == Decision::Send
    }

    /// Run one match through the window at `key`: in memory when the pass
    /// knows the window, has already restarted this input's count and the
    /// match is held; else a compare-and-swap (what this pass held in
    /// memory is written with it). A store that fails sends the alert, and
    /// keeps what was held in memory for [`Gate::flush`].
    async fn decide(
        &mut self,
        key: &Key,
        spec: Spec,
        seen: &Seen,
        init: impl Fn(&mut State),
    ) -> Decision {
        let t = seen.t;
        let restarted = self.restarted.contains(&(key.clone(), seen.source.clone()));
        if let Some(c) = self.cache.get_mut(key) {
            let again = c.state.sent.as_deref() == Some(seen.alert_id.as_str());
            if restarted && c.state.holds(t) && !again {
                c.pending.add(seen);
                return Decision::Held;
            }
        }
        if self.cache.len() >= CACHE_LIMIT {
            self.write_out().await;
        }
        let noise = self.noise.clone();
        let mut carry = self
            .cache
            .remove(key)
            .map(|c| (c.version, c.state, c.pending));
        for attempt in 0..CAS_ATTEMPTS {
            let now = noise.now_ms();
            let (expected, current, pending) = match carry.take() {
                Some((version, state, pending)) if attempt == 0 && version > 0 => {
                    (Some(version), Some(state), pending)
                }
                other => {
                    let pending = other.map(|(_, _, p)| p).unwrap_or_default();
                    match noise.store.get(key, now / 1000).await {
                        Ok(item) => {
                            let version = item.as_ref().map(|i| i.version);
                            let state = item.and_then(|i| sweep::parse_state(key, &i.state));
                            (version, state, pending)
                        }
                        Err(e) => {
                            noise.state_error("read a window", &e);
                            let mut template = State::default();
                            init(&mut template);
                            self.keep(key, template, pending);
                            return Decision::Send;
                        }
                    }
                }
            };
            let mut template = current.clone().unwrap_or_default();
            init(&mut template);
            let mut current = current;
            if let Some(s) = current.as_mut() {
                // Only a window still counting forgets an input's count: one
                // the sweep is closing keeps it for its follow-up.
                if !restarted && s.open && !s.closing && !s.reported {
                    s.restart(&seen.source);
                }
                pending.fold_into(s);
            }
            let (mut next, decision, closed) = window::admit(current, spec, t, now, seen);
            init(&mut next);
            // The due index first: an entry for a window that then does not
            // change is skipped by the sweep; a window without its entry
            // would never be summarised.
            if let Some(c) = &closed {
                if !sweep::index_closed(&noise, key, &c.state, "").await {
                    self.keep(key, template, pending);
                    return Decision::Send;
                }
            }
            if next.pending() && !next.indexed {
                next.indexed = sweep::index_open(&noise, key, &next).await;
            }
            let state = serde_json::to_value(&next).unwrap_or(Value::Null);
            let expires = noise.expires(spec.window_ms.max(next.close_at - now));
            match noise
                .store
                .put(key, &state, expected, expires, now / 1000)
                .await
            {
                Ok(true) => {
                    self.restarted.insert((key.clone(), seen.source.clone()));
                    self.cache.insert(
                        key.clone(),
                        Cached {
                            version: expected.map_or(1, |v| v + 1),
                            state: next,
                            pending: Pending::default(),
                        },
                    );
                    return decision;
                }
                Ok(false) => {
                    // Someone else wrote first: read again, fold in again.
                    carry = Some((0, State::default(), pending));
                }
                Err(e) => {
                    noise.state_error("write a window", &e);
                    self.keep(key, template, pending);
                    return Decision::Send;
                }
            }
        }
        warn!(
            message = "state_contended",
            item = key.pk.as_str(),
            help = "the window changed under us too often: the alert is sent"
        );
        Decision::Send
    }

    /// Keep alerts held in memory whose window could not be written: they
    /// get a follow-up of their own at [`Gate::flush`].
    /// (`template`: the window as last known, with its rule and
    /// destinations; version 0 marks the entry as not read.)
    fn keep(&mut self, key: &Key, template: State, pending: Pending) {
        if pending.is_empty() {
            return;
        }
        let entry = self.cache.entry(key.clone()).or_insert(Cached {
            version: 0,
            state: template,
            pending: Pending::default(),
        });
        for (source, n) in pending.held {
            *entry.pending.held.entry(source).or_default() += n;
        }
        let kept = &mut entry.pending;
        for seen in pending.first.iter().chain(pending.last.iter()) {
            window::widen(&mut kept.first, &mut kept.last, seen);
        }
    }

    /// Write what is held in memory into its windows: into the same window
    /// when it is still open, else into a follow-up of its own (never
    /// dropped).
    async fn requeue(&mut self, key: &Key, template: State, pending: Pending) {
        let noise = self.noise.clone();
        for _ in 0..CAS_ATTEMPTS {
            let now = noise.now_ms();
            let item = match noise.store.get(key, now / 1000).await {
                Ok(i) => i,
                Err(e) => {
                    noise.state_error("read a window", &e);
                    break;
                }
            };
            let Some((version, expires, mut s)) = item.as_ref().and_then(|i| {
                sweep::parse_state(key, &i.state).map(|s| (i.version, i.expires_at, s))
            }) else {
                break;
            };
            if s.start != template.start || !s.open || s.reported || s.closing {
                break;
            }
            pending.fold_into(&mut s);
            if !s.indexed {
                s.indexed = sweep::index_open(&noise, key, &s).await;
            }
            let state = serde_json::to_value(&s).unwrap_or(Value::Null);
            match noise
                .store
                .put(key, &state, Some(version), expires, now / 1000)
                .await
            {
                Ok(true) => return,
                Ok(false) => continue,
                Err(e) => {
                    noise.state_error("write a window", &e);
                    break;
                }
            }
        }
        // The window closed (or cannot be written): a follow-up of their own.
        let mut s = template;
        s.held_by = BTreeMap::new();
        s.first = None;
        s.last = None;
        s.open = true;
        s.reported = false;
        pending.fold_into(&mut s);
        let tag = format!(
            "late#{}",
            pending.first.as_ref().map_or("", |f| f.alert_id.as_str())
        );
        sweep::index_closed(&noise, key, &s, &tag).await;
    }

    /// Write every window held in memory, and empty the cache.
    async fn write_out(&mut self) {
        let cached: Vec<(Key, Cached)> = self.cache.drain().collect();
        for (key, c) in cached {
            if !c.pending.is_empty() {
                self.requeue(&key, c.state, c.pending).await;
            }
        }
    }

    /// Is an alert of rule `r` (or of a correlation: `None`) within
    /// `dest`'s rate limit? When not, it is logged in full and counted
    /// into the destination's summary.
    pub fn rate(
        &mut self,
        plan: &Plan,
        r: Option<usize>,
        alert: &AlertData,
        dest: &Destination,
    ) -> bool {
        if self.noise.take_token(dest) {
            return true;
        }
        self.noise
            .counters
            .throttled
            .fetch_add(1, Ordering::Relaxed);
        let rule = r.map_or_else(
            || alert.name.clone(),
            |r| plan.rules[r].config.display_name(),
        );
        warn!(
            message = "alert_throttled",
            rule = rule.as_str(),
            alert_id = alert.alert_id.as_str(),
            event_id = alert.event_id().unwrap_or(""),
            destination = dest.id.as_str(),
            limit = dest.rate_limit.as_ref().map_or("", |l| l.text.as_str()),
            payload_json = crate::payload::sns_message(alert).as_str(),
            help = "over the destination's rate_limit: counted into one summary message; the alert is in this line"
        );
        let o = self.overflow.entry(dest.id.clone()).or_default();
        o.count += 1;
        *o.by_rule.entry(rule).or_default() += 1;
        let held = held_of(&seen_of(alert, event_ms(alert, self.noise.now_ms())));
        if o.first.is_none() {
            o.first = Some(held.clone());
        }
        o.last = Some(held);
        false
    }

    /// End of the pass: write what was held in memory; the rate limits'
    /// summaries to send now (windows' follow-ups go through the due
    /// index and [`super::sweep`]).
    pub async fn flush(&mut self, plan: &Plan) -> Vec<FollowUpJob> {
        self.write_out().await;
        let mut out = Vec::new();
        for (dest_id, o) in std::mem::take(&mut self.overflow) {
            let Some(dest) = plan.destinations.iter().find(|d| d.id == dest_id) else {
                continue;
            };
            let limit = dest
                .rate_limit
                .as_ref()
                .map_or(String::new(), |l| l.text.clone());
            let first_id = o
                .first
                .as_ref()
                .map_or("", |h| h.alert_id.as_str())
                .to_string();
            let f = FollowUp {
                alert_id: digest(&["rate_limit", &dest_id, &first_id, &o.count.to_string()]),
                reason: Reason::RateLimit { limit },
                rule: String::new(),
                description: String::new(),
                key: Some(dest_id.clone()),
                count: o.count,
                by_rule: o.by_rule.into_iter().collect(),
                first_alert_id: None,
                first: o.first,
                last: o.last,
                extra: Extra::default(),
            };
            self.noise
                .counters
                .follow_ups
                .fetch_add(1, Ordering::Relaxed);
            out.push(FollowUpJob {
                follow_up: Arc::new(f),
                destinations: vec![dest.clone()],
            });
        }
        out
    }
}
