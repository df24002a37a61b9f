//! Noise control: which alerts go out one by one, which are counted into a
//! follow-up, and that each (alert, destination) goes out exactly once.
//!
//! [`NoiseControl`] lives as long as the process (a Lambda execution
//! environment, a CLI run): the state [`Store`], the clock, the
//! destinations' rate-limit buckets and the counters. A [`Gate`] is one
//! pass of delivery (one object in the Lambda, one CLI run); alerts go
//! through it in scan order:
//!
//! 1. [`Gate::admit`]: a rule's `dedup` or `threshold` window (see
//!    [`window`]) decides Send, Held (counted) or Below (threshold not
//!    reached). State is read once per key and pass and written on every
//!    decision that can send; held alerts on a window the gate already
//!    knows are counted in memory and written at [`Gate::flush`], so a
//!    burst costs a few requests, not one per alert.
//! 2. Per destination, [`Gate::cooldown`] (a rule's `cooldown`: a window
//!    keyed by destination, by processing time) and [`Gate::rate`] (the
//!    destination's `rate_limit`).
//! 3. The send itself claims (alert id, destination) with a conditional
//!    write ([`NoiseControl::claim`]) and marks it done after
//!    ([`NoiseControl::complete`]): a retried invocation, a duplicated
//!    notification or an SQS redelivery finds it done and sends nothing; a
//!    claim whose sender died is taken over once its lease expires.
//!
//! Follow-ups ([`FollowUp`]) come from windows that close: at the next
//! alert of the key after the window, or when the processing clock passes
//! the window's `close_at` ([`sweep`], run at the end of every invocation,
//! by the scheduled sweep event, and at the end of a CLI run), and from
//! the rate limit's overflow at [`Gate::flush`].
//!
//! Failure policy: the state store failing never loses an alert. A
//! decision that cannot be read or written is Send (and logged), a claim
//! that cannot be made sends anyway (a possible duplicate beats a lost
//! alert), and a claim held by another live sender fails the unit so that
//! it is retried after the lease.

pub mod correlate;
pub mod rate;
pub mod window;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tattletail_compiler::config::{Destination, RuleConfig};
use tattletail_compiler::plan::{Plan, PlannedRule};
use tattletail_runtime::matcher::AlertFields;
use tracing::{info, warn};

use crate::followup::{FollowUp, Held, Reason};
use crate::payload::{AlertData, Extra};
use crate::state::{Item, Key, Store, StoreError};
use window::{Closed, Decision, Seen, Spec, State};

/// How long state outlives the longest window: follow-ups thread to the
/// alert they follow, whose claim must still be there.
const KEEP_SECS: i64 = 8 * 86_400;
/// Attempts at one compare-and-swap before giving up (and sending).
const CAS_ATTEMPTS: usize = 8;
/// Due windows handled per sweep query.
const SWEEP_PAGE: usize = 200;

/// Milliseconds since the epoch; the system clock, or a manual one for
/// tests.
#[derive(Clone)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock that shows what `at` holds (tests move it).
    pub fn manual(at: Arc<AtomicI64>) -> Clock {
        Clock(Some(at))
    }

    /// Now, in milliseconds since the epoch.
    pub fn now_ms(&self) -> i64 {
        match &self.0 {
            Some(at) => at.load(Ordering::Relaxed),
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
        }
    }
}

/// Counts since the process started (the handler reports differences).
#[derive(Debug, Default)]
pub struct Counters {
    /// Alerts held back by a dedup or threshold window or a cooldown.
    pub deduplicated: AtomicU64,
    /// Matches of a threshold rule that did not reach it (not alerts).
    pub below_threshold: AtomicU64,
    /// Alerts over a destination's rate limit (summarised).
    pub throttled: AtomicU64,
    /// Sends skipped: the (alert, destination) was already sent.
    pub skipped_done: AtomicU64,
    /// Sends found claimed by another live sender (unit retried).
    pub skipped_busy: AtomicU64,
    /// Follow-ups made.
    pub follow_ups: AtomicU64,
    /// State store errors (each one failed safe: the alert was sent).
    pub state_errors: AtomicU64,
}

impl Counters {
    /// A copy of the counts.
    pub fn snapshot(&self) -> CounterValues {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CounterValues {
            deduplicated: get(&self.deduplicated),
            below_threshold: get(&self.below_threshold),
            throttled: get(&self.throttled),
            skipped_done: get(&self.skipped_done),
            skipped_busy: get(&self.skipped_busy),
            follow_ups: get(&self.follow_ups),
            state_errors: get(&self.state_errors),
        }
    }
}

/// The counts at one moment (see [`Counters`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterValues {
    /// See [`Counters::deduplicated`].
    pub deduplicated: u64,
    /// See [`Counters::below_threshold`].
    pub below_threshold: u64,
    /// See [`Counters::throttled`].
    pub throttled: u64,
    /// See [`Counters::skipped_done`].
    pub skipped_done: u64,
    /// See [`Counters::skipped_busy`].
    pub skipped_busy: u64,
    /// See [`Counters::follow_ups`].
    pub follow_ups: u64,
    /// See [`Counters::state_errors`].
    pub state_errors: u64,
}

impl CounterValues {
    /// What happened between `earlier` and these.
    pub fn since(&self, earlier: &CounterValues) -> CounterValues {
        CounterValues {
            deduplicated: self.deduplicated - earlier.deduplicated,
            below_threshold: self.below_threshold - earlier.below_threshold,
            throttled: self.throttled - earlier.throttled,
            skipped_done: self.skipped_done - earlier.skipped_done,
            skipped_busy: self.skipped_busy - earlier.skipped_busy,
            follow_ups: self.follow_ups - earlier.follow_ups,
            state_errors: self.state_errors - earlier.state_errors,
        }
    }
}

/// A send's claim on (alert id, destination).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Claims are off (no state table in the Lambda): just send.
    Off,
    /// Ours: send, then [`NoiseControl::complete`] (or
    /// [`NoiseControl::release`] when the send failed).
    Claimed {
        /// The claim item.
        key: Key,
        /// Its version as we wrote it.
        version: u64,
    },
    /// Already sent (by this or an earlier invocation): skip.
    Done,
    /// Claimed by another sender whose lease runs until then (epoch ms):
    /// do not send now; fail so that a retry comes after the lease.
    Busy {
        /// When the other sender's lease ends.
        until_ms: i64,
    },
}

/// Shared noise-control state of the process.
pub struct NoiseControl {
    store: Arc<Store>,
    clock: Clock,
    claims: bool,
    lease_ms: i64,
    buckets: Mutex<HashMap<String, rate::Bucket>>,
    /// Claims this process holds (sends in flight here): a second send of
    /// the same alert here (a duplicated record) is skipped, not failed.
    ours: Mutex<std::collections::HashSet<String>>,
    /// Counts since the process started.
    pub counters: Counters,
}

/// A 32-hex-digit digest of `parts`, separated by NULs.
pub fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update([0u8]);
        }
        h.update(p.as_bytes());
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl NoiseControl {
    /// Noise control on `store`. `claims`: make exactly-once claims for
    /// sends (off in a Lambda without a state table, where behaviour stays
    /// upstream's). `lease_ms`: how long a claim stays with a sender that
    /// may have died.
    pub fn new(store: Store, clock: Clock, claims: bool, lease_ms: i64) -> NoiseControl {
        NoiseControl::on(Arc::new(store), clock, claims, lease_ms)
    }

    /// [`NoiseControl::new`] on a store shared with others (tests: two
    /// "processes" on one store).
    pub fn on(store: Arc<Store>, clock: Clock, claims: bool, lease_ms: i64) -> NoiseControl {
        NoiseControl {
            store,
            clock,
            claims,
            lease_ms,
            buckets: Mutex::new(HashMap::new()),
            ours: Mutex::new(std::collections::HashSet::new()),
            counters: Counters::default(),
        }
    }

    /// The store's name (`memory` or the table).
    pub fn store_name(&self) -> String {
        self.store.name()
    }

    /// Requests made to an in-memory store so far (what they would cost
    /// on a table).
    pub fn requests(&self) -> Option<&crate::state::Requests> {
        self.store.requests()
    }

    /// Is the state shared beyond this process (a table)?
    pub fn is_shared(&self) -> bool {
        self.store.is_shared()
    }

    /// Are sends claimed?
    pub fn claims(&self) -> bool {
        self.claims
    }

    /// Now, epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn expires(&self, extra_ms: i64) -> i64 {
        (self.now_ms() + extra_ms) / 1000 + KEEP_SECS
    }

    fn claim_key(alert_id: &str, destination: &str) -> Key {
        Key::new(format!("send#{alert_id}#{destination}"), "send")
    }

    /// Claim the send of `alert_id` to `destination`.
    pub async fn claim(&self, alert_id: &str, destination: &str) -> Result<Claim, StoreError> {
        if !self.claims {
            return Ok(Claim::Off);
        }
        let key = Self::claim_key(alert_id, destination);
        for _ in 0..CAS_ATTEMPTS {
            let now = self.now_ms();
            let current = self.store.get(&key, now / 1000).await?;
            let expected = match &current {
                None => None,
                Some(item) => match item.state.get("status").and_then(Value::as_str) {
                    Some("done") => {
                        self.counters.skipped_done.fetch_add(1, Ordering::Relaxed);
                        return Ok(Claim::Done);
                    }
                    _ => {
                        let until = item
                            .state
                            .get("lease_until")
                            .and_then(Value::as_i64)
                            .unwrap_or(0);
                        if until > now && self.is_ours(&key) {
                            // Being sent by this process: a duplicate.
                            self.counters.skipped_done.fetch_add(1, Ordering::Relaxed);
                            return Ok(Claim::Done);
                        }
                        if until > now {
                            self.counters.skipped_busy.fetch_add(1, Ordering::Relaxed);
                            return Ok(Claim::Busy { until_ms: until });
                        }
                        // The sender's lease ran out: it died. Take over.
                        Some(item.version)
                    }
                },
            };
            let state = json!({"status": "claimed", "lease_until": now + self.lease_ms});
            if self
                .store
                .put(
                    &key,
                    &state,
                    expected,
                    self.expires(self.lease_ms),
                    now / 1000,
                )
                .await?
            {
                self.ours
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key.pk.clone());
                return Ok(Claim::Claimed {
                    key,
                    version: expected.map_or(1, |v| v + 1),
                });
            }
        }
        // Contended past reason: someone else holds it.
        self.counters.skipped_busy.fetch_add(1, Ordering::Relaxed);
        Ok(Claim::Busy {
            until_ms: self.now_ms() + self.lease_ms,
        })
    }

    fn is_ours(&self, key: &Key) -> bool {
        self.ours
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key.pk)
    }

    fn not_ours(&self, key: &Key) {
        self.ours
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key.pk);
    }

    /// The send of a claim went out: mark it done (with the Slack `ts` of
    /// the message, for threads).
    pub async fn complete(&self, claim: &Claim, thread: Option<&str>) -> Result<(), StoreError> {
        let Claim::Claimed { key, version } = claim else {
            return Ok(());
        };
        self.not_ours(key);
        let now = self.now_ms();
        let mut state = json!({"status": "done", "at": now});
        if let Some(t) = thread {
            state["thread"] = json!(t);
        }
        if !self
            .store
            .put(key, &state, Some(*version), self.expires(0), now / 1000)
            .await?
        {
            // Our lease ran out during the send and another sender took
            // over: it may send too. Say so; nothing else can be done.
            warn!(
                message = "send_claim_lost",
                claim = key.pk.as_str(),
                help = "the send took longer than the claim lease (TATTLETAIL_CLAIM_LEASE_SECS); another invocation may have sent it too"
            );
        }
        Ok(())
    }

    /// The send of a claim failed: let the next attempt have it at once.
    pub async fn release(&self, claim: &Claim) -> Result<(), StoreError> {
        if let Claim::Claimed { key, version } = claim {
            self.not_ours(key);
            self.store.delete(key, *version).await?;
        }
        Ok(())
    }

    /// The Slack `ts` of `alert_id`'s message on `destination`, if it was
    /// sent there and the store still knows.
    pub async fn thread_of(&self, alert_id: &str, destination: &str) -> Option<String> {
        let key = Self::claim_key(alert_id, destination);
        let item = self.store.get(&key, self.now_ms() / 1000).await.ok()??;
        item.state
            .get("thread")
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// Take a token from `destination`'s rate-limit bucket (always true
    /// without a `rate_limit`).
    pub fn take_token(&self, destination: &Destination) -> bool {
        let Some(limit) = destination.rate_limit.as_ref() else {
            return true;
        };
        let now = self.now_ms();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets
            .entry(destination.id.clone())
            .or_insert_with(|| rate::Bucket::new(limit.count, limit.per_secs, now))
            .take(now)
    }

    /// Count and log a state store error (the caller fails safe).
    pub fn state_error(&self, what: &str, e: &StoreError) {
        self.counters.state_errors.fetch_add(1, Ordering::Relaxed);
        warn!(
            message = "state_store_error",
            operation = what,
            error = e.to_string().as_str(),
            help = "noise control failed safe: the alert is sent (it may be a duplicate, it is never lost)"
        );
    }
}

/// A follow-up and where it goes.
#[derive(Clone, Debug)]
pub struct FollowUpJob {
    /// The message.
    pub follow_up: Arc<FollowUp>,
    /// Its destinations.
    pub destinations: Vec<Destination>,
}

/// A window this gate has read or written, and alerts it held since.
struct Cached {
    version: u64,
    state: State,
    /// Held in memory since the last write.
    held: u64,
    first: Option<Seen>,
    last: Option<Seen>,
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
    noise: Arc<NoiseControl>,
    cache: HashMap<Key, Cached>,
    overflow: BTreeMap<String, Overflow>,
    due: Vec<Closed>,
}

/// How a rule's alerts are windowed, if at all.
fn spec_of(rule: &RuleConfig) -> Option<(&'static str, Spec, String)> {
    let n = &rule.noise;
    if let Some(t) = &n.threshold {
        return Some((
            "threshold",
            Spec {
                count: t.count,
                window_ms: t.window.secs as i64 * 1000,
            },
            t.window.text.clone(),
        ));
    }
    n.dedup.as_ref().map(|d| {
        (
            "dedup",
            Spec {
                count: 1,
                window_ms: d.window.secs as i64 * 1000,
            },
            d.window.text.clone(),
        )
    })
}

/// Event time of `alert` in ms, or `now` without a readable one.
fn event_ms(alert: &AlertData, now: i64) -> i64 {
    alert
        .record
        .get("eventTime")
        .and_then(Value::as_str)
        .and_then(tattletail_runtime::correlate::event_seconds)
        .map_or(now, |s| s.saturating_mul(1000))
}

fn seen_of(alert: &AlertData, t: i64) -> Seen {
    Seen {
        alert_id: alert.alert_id.clone(),
        event_id: alert.event_id().map(str::to_string),
        event_time: alert
            .record
            .get("eventTime")
            .and_then(Value::as_str)
            .map(str::to_string),
        t,
    }
}

fn held_of(s: &Seen) -> Held {
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

impl NoiseControl {
    /// A new pass.
    pub fn gate(self: &Arc<Self>) -> Gate {
        Gate {
            noise: self.clone(),
            cache: HashMap::new(),
            overflow: BTreeMap::new(),
            due: Vec::new(),
        }
    }
}

impl Gate {
    /// Decide on an alert of rule `r` going to `targets`.
    pub async fn admit(
        &mut self,
        plan: &Plan,
        r: usize,
        alert: &AlertData,
        targets: &[&Destination],
    ) -> Decision {
        let rule = &plan.rules[r];
        let Some((kind, spec, _)) = spec_of(&rule.config) else {
            return Decision::Send;
        };
        let key_text = key_text(rule, kind, alert);
        let key = Key::new(
            format!("{kind}#{}#{}", rule.identity, digest(&[&key_text])),
            "window",
        );
        let now = self.noise.now_ms();
        let t = event_ms(alert, now);
        let seen = seen_of(alert, t);
        let ids: Vec<String> = targets.iter().map(|d| d.id.clone()).collect();
        let decision = self
            .decide(&key, spec, t, &seen, |s| {
                s.kind = kind.into();
                s.rule = rule.identity.clone();
                s.key = Some(key_text.clone());
                s.destinations = ids.clone();
            })
            .await;
        self.count(decision.clone());
        decision
    }

    /// Is the alert of rule `r` sent to `dest` now, or held by the rule's
    /// `cooldown` on that destination?
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
        let now = self.noise.now_ms();
        let spec = Spec {
            count: 1,
            window_ms: period.secs as i64 * 1000,
        };
        let key = Key::new(format!("cooldown#{}#{}", rule.identity, dest.id), "window");
        let seen = seen_of(alert, now);
        let decision = self
            .decide(&key, spec, now, &seen, |s| {
                s.kind = "cooldown".into();
                s.rule = rule.identity.clone();
                s.key = Some(dest.id.clone());
                s.destinations = vec![dest.id.clone()];
            })
            .await;
        self.count(decision.clone());
        decision == Decision::Send
    }

    fn count(&self, d: Decision) {
        let c = &self.noise.counters;
        match d {
            Decision::Send => {}
            Decision::Held => {
                c.deduplicated.fetch_add(1, Ordering::Relaxed);
            }
            Decision::Below => {
                c.below_threshold.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Run one match through the window at `key`: in memory when the gate
    /// knows the window and the match is held, else one compare-and-swap.
    async fn decide(
        &mut self,
        key: &Key,
        spec: Spec,
        t: i64,
        seen: &Seen,
        init: impl Fn(&mut State),
    ) -> Decision {
        if let Some(c) = self.cache.get_mut(key) {
            if c.state.holds(t) && c.state.sent.as_deref() != Some(seen.alert_id.as_str()) {
                c.held += 1;
                if c.first.as_ref().is_none_or(|f| seen.t < f.t) {
                    c.first = Some(seen.clone());
                }
                if c.last.as_ref().is_none_or(|l| seen.t >= l.t) {
                    c.last = Some(seen.clone());
                }
                return Decision::Held;
            }
        }
        let noise = self.noise.clone();
        for _ in 0..CAS_ATTEMPTS {
            let now = noise.now_ms();
            let (expected, current, pending) = match self.cache.remove(key) {
                Some(c) => {
                    let mut s = c.state;
                    if let Some(f) = &c.first {
                        s.hold(f, 0);
                    }
                    if let Some(l) = &c.last {
                        s.hold(l, 0);
                    }
                    s.held += c.held;
                    (Some(c.version), Some(s), Some((c.held, c.first, c.last)))
                }
                None => match noise.store.get(key, now / 1000).await {
                    Ok(item) => (
                        item.as_ref().map(|i| i.version),
                        item.and_then(|i| parse_state(key, &i)),
                        None,
                    ),
                    Err(e) => {
                        noise.state_error("read a window", &e);
                        return Decision::Send;
                    }
                },
            };
            let (mut next, decision, closed) = window::admit(current, spec, t, now, seen);
            init(&mut next);
            let due = next.pending() && !next.indexed;
            if due {
                next.indexed = true;
            }
            let state = serde_json::to_value(&next).unwrap_or(Value::Null);
            let expires = noise.expires(spec.window_ms.max(next.close_at - now));
            match noise
                .store
                .put(key, &state, expected, expires, now / 1000)
                .await
            {
                Ok(true) => {
                    if due {
                        self.index(key, &next).await;
                    }
                    self.due.extend(closed);
                    self.cache.insert(
                        key.clone(),
                        Cached {
                            version: expected.map_or(1, |v| v + 1),
                            state: next,
                            held: 0,
                            first: None,
                            last: None,
                        },
                    );
                    return decision;
                }
                Ok(false) => {
                    // Someone else wrote first. What we held in memory is
                    // folded into their state on the next round.
                    if let Some((held, first, last)) = pending.filter(|p| p.0 > 0) {
                        self.requeue(key, held, first, last).await;
                    }
                    continue;
                }
                Err(e) => {
                    noise.state_error("write a window", &e);
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

    /// Add alerts held in memory to the stored window after a lost race:
    /// into the same window when it is still open, else straight into a
    /// follow-up of their own (they are never dropped).
    async fn requeue(&mut self, key: &Key, held: u64, first: Option<Seen>, last: Option<Seen>) {
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
            let Some((version, mut s)) = item
                .as_ref()
                .and_then(|i| parse_state(key, i).map(|s| (i.version, s)))
            else {
                break;
            };
            let Some(t) = first.as_ref().map(|f| f.t) else {
                break;
            };
            if !s.holds(t) {
                break;
            }
            s.held += held;
            for x in first.iter().chain(last.iter()) {
                s.hold(x, 0);
            }
            let due = !s.indexed;
            s.indexed = true;
            let state = serde_json::to_value(&s).unwrap_or(Value::Null);
            match noise
                .store
                .put(
                    key,
                    &state,
                    Some(version),
                    item.map_or(0, |i| i.expires_at),
                    now / 1000,
                )
                .await
            {
                Ok(true) => {
                    if due {
                        self.index(key, &s).await;
                    }
                    return;
                }
                Ok(false) => continue,
                Err(e) => {
                    noise.state_error("write a window", &e);
                    break;
                }
            }
        }
        // The window closed (or cannot be written): their own follow-up.
        let mut s = self
            .cache
            .get(key)
            .map(|c| c.state.clone())
            .unwrap_or_default();
        s.held = held;
        s.first = first;
        s.last = last;
        s.open = true;
        s.reported = false;
        self.due.push(Closed { state: s });
    }

    /// Put a window in the sweep's due index.
    async fn index(&self, key: &Key, s: &State) {
        let noise = &self.noise;
        let now = noise.now_ms();
        let due = Key::new("due", format!("{:015}#{}", s.close_at.max(0), key.pk));
        let state = json!({"pk": key.pk, "sk": key.sk, "start": s.start});
        if let Err(e) = noise
            .store
            .put(
                &due,
                &state,
                None,
                noise.expires(s.close_at - now),
                now / 1000,
            )
            .await
        {
            noise.state_error("index a window", &e);
        }
    }

    /// Is an alert of rule `r` within `dest`'s rate limit? When not, it
    /// is logged in full and counted into the destination's summary.
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
        let t = event_ms(alert, self.noise.now_ms());
        let held = held_of(&seen_of(alert, t));
        if o.first.is_none() {
            o.first = Some(held.clone());
        }
        o.last = Some(held);
        false
    }

    /// Follow-ups of windows closed by alerts of this pass so far.
    pub fn take_due(&mut self, plan: &Plan) -> Vec<FollowUpJob> {
        let due = std::mem::take(&mut self.due);
        due.into_iter()
            .filter_map(|c| follow_up(&self.noise, plan, &c.state))
            .collect()
    }

    /// End of the pass: write what was held in memory, and the follow-ups
    /// now due (windows closed meanwhile, the rate limits' summaries).
    pub async fn flush(&mut self, plan: &Plan) -> Vec<FollowUpJob> {
        let pending: Vec<(Key, u64, Option<Seen>, Option<Seen>)> = self
            .cache
            .iter_mut()
            .filter(|(_, c)| c.held > 0)
            .map(|(k, c)| {
                (
                    k.clone(),
                    std::mem::take(&mut c.held),
                    c.first.take(),
                    c.last.take(),
                )
            })
            .collect();
        for (key, held, first, last) in pending {
            self.requeue(&key, held, first, last).await;
        }
        self.cache.clear();
        let mut out = self.take_due(plan);
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

fn parse_state(key: &Key, item: &Item) -> Option<State> {
    match serde_json::from_value::<State>(item.state.clone()) {
        Ok(s) => Some(s),
        Err(e) => {
            warn!(
                message = "state_item_unreadable",
                item = key.pk.as_str(),
                error = e.to_string().as_str(),
                help = "the item is replaced by a new window"
            );
            None
        }
    }
}

/// The follow-up of a closed window `s` (none when it held nothing).
fn follow_up(noise: &NoiseControl, plan: &Plan, s: &State) -> Option<FollowUpJob> {
    if s.held == 0 {
        return None;
    }
    let rule = plan.rules.iter().find(|r| r.identity == s.rule);
    let (name, description, extra, reason) = match rule {
        Some(r) => {
            let c = &r.config;
            let reason = match s.kind.as_str() {
                "threshold" => c.noise.threshold.as_ref().map(|t| Reason::Threshold {
                    count: t.count,
                    window: t.window.text.clone(),
                }),
                "cooldown" => c.noise.cooldown.as_ref().map(|p| Reason::Cooldown {
                    period: p.text.clone(),
                }),
                _ => c.noise.dedup.as_ref().map(|d| Reason::Dedup {
                    window: d.window.text.clone(),
                }),
            };
            let window = format!("{}s", (s.end - s.start) / 1000);
            (
                c.display_name(),
                c.description.clone().unwrap_or_default(),
                Extra::new(&c.meta, None),
                reason.unwrap_or(Reason::Dedup { window }),
            )
        }
        None => (
            s.rule.clone(),
            String::new(),
            Extra::default(),
            Reason::Dedup {
                window: format!("{}s", (s.end - s.start) / 1000),
            },
        ),
    };
    let destinations: Vec<Destination> = plan
        .destinations
        .iter()
        .filter(|d| s.destinations.contains(&d.id))
        .cloned()
        .collect();
    if destinations.is_empty() {
        info!(message = "follow_up_without_destination", rule = name.as_str(), count = s.held, help = "the alert this window followed went nowhere (or its destinations were removed from the config)");
        return None;
    }
    noise.counters.follow_ups.fetch_add(1, Ordering::Relaxed);
    let f = FollowUp {
        alert_id: digest(&[
            "follow_up",
            &s.kind,
            &s.rule,
            s.key.as_deref().unwrap_or(""),
            &s.start.to_string(),
        ]),
        reason,
        rule: name,
        description,
        key: s.key.clone(),
        count: s.held,
        by_rule: Vec::new(),
        first_alert_id: s.sent.clone(),
        first: s.first.as_ref().map(held_of),
        last: s.last.as_ref().map(held_of),
        extra,
    };
    Some(FollowUpJob {
        follow_up: Arc::new(f),
        destinations,
    })
}

/// Send-side sweep: the follow-ups of windows whose `close_at` has passed
/// (every due window when `all`: the end of a CLI run without a table).
/// Each window is marked reported with a compare-and-swap, so a window's
/// follow-up is made once even when sweeps run concurrently.
pub async fn sweep(noise: &NoiseControl, plan: &Plan, all: bool) -> Vec<FollowUpJob> {
    let mut out = Vec::new();
    let now = noise.now_ms();
    let upto = if all {
        "~".to_string()
    } else {
        format!("{:015}~", now.max(0))
    };
    // Each page's items are deleted as they are handled; the bound only
    // guards against a store that keeps answering with the same page.
    for _ in 0..1000 {
        let due = match noise
            .store
            .query("due", &upto, SWEEP_PAGE, now / 1000)
            .await
        {
            Ok(d) => d,
            Err(e) => {
                noise.state_error("query due windows", &e);
                return out;
            }
        };
        if due.is_empty() {
            return out;
        }
        for (due_key, due_item) in due {
            let pk = due_item
                .state
                .get("pk")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let sk = due_item
                .state
                .get("sk")
                .and_then(Value::as_str)
                .unwrap_or("window")
                .to_string();
            let start = due_item.state.get("start").and_then(Value::as_i64);
            let key = Key::new(pk, sk);
            for _ in 0..CAS_ATTEMPTS {
                let item = match noise.store.get(&key, now / 1000).await {
                    Ok(i) => i,
                    Err(e) => {
                        noise.state_error("read a window", &e);
                        break;
                    }
                };
                let Some(item) = item else { break };
                let Some(mut s) = parse_state(&key, &item) else {
                    break;
                };
                if Some(s.start) != start || !s.pending() {
                    break; // replaced (its follow-up went with the next alert) or done
                }
                s.reported = true;
                let state = serde_json::to_value(&s).unwrap_or(Value::Null);
                match noise
                    .store
                    .put(
                        &key,
                        &state,
                        Some(item.version),
                        item.expires_at,
                        now / 1000,
                    )
                    .await
                {
                    Ok(true) => {
                        out.extend(follow_up(noise, plan, &s));
                        break;
                    }
                    Ok(false) => continue,
                    Err(e) => {
                        noise.state_error("close a window", &e);
                        break;
                    }
                }
            }
            if let Err(e) = noise.store.delete(&due_key, due_item.version).await {
                noise.state_error("unindex a window", &e);
                return out;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
