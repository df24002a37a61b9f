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
//! Follow-ups (`crate::followup::FollowUp`) come from windows that close:
//! at the next alert of the key after the window, or when the processing
//! clock passes the window's `close_at`. Both go through the due index and
//! [`sweep`] (run at the end of every invocation, by the scheduled sweep
//! event, and at the end of a CLI run), which makes them, and
//! [`acknowledge`] once they are sent (see `sweep.rs`). The rate limit's
//! overflow summaries come from [`Gate::flush`].
//!
//! Failure policy: the state store failing never loses an alert. A
//! decision that cannot be read or written is Send (and logged), a claim
//! that cannot be made sends anyway (a possible duplicate beats a lost
//! alert), a claim held by another live sender fails the unit so that it
//! is retried after the lease, a send cut off at the deadline leaves its
//! claim to the lease, and a follow-up stays due until it is sent.

pub mod correlate;
mod gate;
pub mod rate;
mod sweep;
pub mod window;

pub use gate::Gate;
pub use sweep::{acknowledge, sweep, Due, FollowUpJob};

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tattletail_compiler::config::Destination;
use tracing::warn;

use crate::state::{Key, Store, StoreError};

/// How long state outlives the longest window: follow-ups thread to the
/// alert they follow, whose claim must still be there.
const KEEP_SECS: i64 = 8 * 86_400;
/// Attempts at one compare-and-swap before giving up (and sending).
const CAS_ATTEMPTS: usize = 8;

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
    /// Alerts held back by a dedup or threshold window.
    pub deduplicated: AtomicU64,
    /// Sends held back by a rule's cooldown on a destination.
    pub cooled_down: AtomicU64,
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
            cooled_down: get(&self.cooled_down),
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
    /// See [`Counters::cooled_down`].
    pub cooled_down: u64,
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
            cooled_down: self.cooled_down - earlier.cooled_down,
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

    /// The send of `claim` ended without `complete` or `release` (cut off
    /// at the deadline): the claim is no longer this process's, so a retry
    /// here waits for its lease like any other sender instead of taking it
    /// for a duplicate of a send in flight.
    pub fn forget(&self, claim: &Claim) {
        if let Claim::Claimed { key, .. } = claim {
            self.not_ours(key);
        }
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

    /// Has `alert_id` been sent to `destination` (its claim is done)?
    /// Always false without claims.
    pub async fn is_done(&self, alert_id: &str, destination: &str) -> bool {
        if !self.claims {
            return false;
        }
        let key = Self::claim_key(alert_id, destination);
        match self.store.get(&key, self.now_ms() / 1000).await {
            Ok(Some(item)) => item.state.get("status").and_then(Value::as_str) == Some("done"),
            Ok(None) => false,
            Err(e) => {
                self.state_error("read a send", &e);
                false
            }
        }
    }

    /// Keep the Slack `ts` of a message sent without claims (no table),
    /// so that its follow-ups can still reply in its thread.
    pub async fn remember_thread(&self, alert_id: &str, destination: &str, thread: &str) {
        if self.claims {
            return; // `complete` keeps it
        }
        let key = Self::claim_key(alert_id, destination);
        let now = self.now_ms();
        let state = json!({"status": "sent", "thread": thread});
        // An older one for the same alert stays (first message wins).
        if let Err(e) = self
            .store
            .put(&key, &state, None, self.expires(0), now / 1000)
            .await
        {
            self.state_error("remember a thread", &e);
        }
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
            help = "noise control fails safe: an alert it cannot decide on is sent (a duplicate is possible, a loss is not); a follow-up it cannot close stays due for the next sweep"
        );
    }
}

#[cfg(test)]
mod tests;
