//! The window state machine of `dedup` and `threshold`, as pure functions
//! of the stored state, the alert's event time and the processing time, so
//! that every boundary is unit-tested with an injected clock.
//!
//! **Event time decides membership; processing time decides when a summary
//! is due.** A window opens when an alert is sent: for `dedup` the first
//! alert of a key, for `threshold` the match that brings `count` matches of
//! the group within `window` of event time (sliding: any `count` matches
//! whose eventTimes span less than `window`). It covers event times before
//! `start + window` (an earlier, late-arriving event of the key counts in
//! it too); a match at or after that opens the next window. The follow-up
//! for the alerts held back is due `window` after the window opened, by
//! the processing clock (the sweep sends it), or at once when the next
//! window of the key opens, whichever comes first. A dedup window is a
//! threshold of 1.
//!
//! **Retries count once.** Held alerts are counted per input (the S3
//! object they came from): a pass that touches a window for an input
//! first sets that input's count to zero ([`State::restart`]), so a
//! retried or duplicated file replaces its count instead of adding to it.
//! A threshold keeps each match's alert id, so a match seen twice counts
//! once.

use serde::{Deserialize, Serialize};

/// What a window is configured as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    /// Matches needed within `window_ms` to alert (1 for dedup).
    pub count: u64,
    /// Window length, milliseconds.
    pub window_ms: i64,
}

/// One held-back alert, as a follow-up names it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The alert id.
    pub alert_id: String,
    /// `eventID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// `eventTime` as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<String>,
    /// `eventTime`, milliseconds (for first/last ordering).
    pub t: i64,
    /// The input it came from (held counts are kept per input).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

/// One match of a threshold not reached yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// Its `eventTime`, ms.
    pub t: i64,
    /// Its alert id (a match seen twice counts once).
    pub id: String,
}

/// The stored state of one (rule, key) window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// `dedup`, `threshold` or `cooldown` (what a follow-up says).
    #[serde(default)]
    pub kind: String,
    /// The rule's identity (`PlannedRule::identity`).
    #[serde(default)]
    pub rule: String,
    /// The dedup key or threshold group (JSON text); the destination id
    /// for a cooldown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Open: an alert was sent and later matches before `end` are held.
    pub open: bool,
    /// Event time (ms) the open window started at.
    pub start: i64,
    /// Event time (ms) it ends at (exclusive).
    pub end: i64,
    /// Processing time (ms) its follow-up is due at.
    pub close_at: i64,
    /// The alert that was sent (the thread of a Slack reply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<String>,
    /// Destination ids the sent alert went to (the follow-up goes there).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<String>,
    /// Alerts held back in the open window, per input.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub held_by: std::collections::BTreeMap<String, u64>,
    /// The first and last of them (by event time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<Seen>,
    /// See `first`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<Seen>,
    /// Its follow-up has been sent (by the sweep): the window no longer
    /// holds anything.
    #[serde(default)]
    pub reported: bool,
    /// The window is in the sweep's due index.
    #[serde(default)]
    pub indexed: bool,
    /// The sweep is sending its follow-up: it holds nothing more.
    #[serde(default)]
    pub closing: bool,
    /// Threshold: recent matches, not yet enough (sorted by time).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub times: Vec<Mark>,
}

/// What to do with one match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send it: it opened a window.
    Send,
    /// Held back, counted into the open window's follow-up.
    Held,
    /// A threshold not reached yet: neither sent nor counted.
    Below,
}

/// A window that closed with alerts held back: its follow-up is due.
#[derive(Clone, Debug, PartialEq)]
pub struct Closed {
    /// The window's state when it closed.
    pub state: State,
}

/// The most matches a threshold keeps (its `count` is at most this).
pub const MAX_TIMES: usize = 1_000;
/// Inputs counted apart in one window; more are counted together.
pub const MAX_SOURCES: usize = 256;
/// Where the counts of inputs beyond [`MAX_SOURCES`] go.
const OTHER_SOURCES: &str = "(other inputs)";

impl State {
    /// Is `t` (event time, ms) held by this window?
    pub fn holds(&self, t: i64) -> bool {
        self.open && !self.reported && !self.closing && t < self.end
    }

    /// Alerts held back in all.
    pub fn held(&self) -> u64 {
        self.held_by.values().sum()
    }

    /// Forget what `source` held before (a pass reads it again).
    pub fn restart(&mut self, source: &str) {
        self.held_by.remove(source);
    }

    /// Count `n` alerts of `seen`'s input into the open window, and `seen`
    /// as first or last of them (`n` = 0: only that).
    pub fn hold(&mut self, seen: &Seen, n: u64) {
        if n > 0 {
            let source =
                if self.held_by.len() >= MAX_SOURCES && !self.held_by.contains_key(&seen.source) {
                    OTHER_SOURCES
                } else {
                    seen.source.as_str()
                };
            *self.held_by.entry(source.to_string()).or_default() += n;
        }
        widen(&mut self.first, &mut self.last, seen);
    }

    /// The window has alerts held back and no follow-up yet.
    pub fn pending(&self) -> bool {
        self.open && !self.reported && self.held() > 0
    }
}

/// Make `seen` the first or the last (by event time) of held alerts when
/// it comes before `first` or not before `last`.
pub fn widen(first: &mut Option<Seen>, last: &mut Option<Seen>, seen: &Seen) {
    if first.as_ref().is_none_or(|f| seen.t < f.t) {
        *first = Some(seen.clone());
    }
    if last.as_ref().is_none_or(|l| seen.t >= l.t) {
        *last = Some(seen.clone());
    }
}

/// Decide on one match at event time `t` (ms), at processing time `now`
/// (ms): the new state, the decision, and the window this match closed
/// (its follow-up is due now), if any.
pub fn admit(
    state: Option<State>,
    spec: Spec,
    t: i64,
    now: i64,
    seen: &Seen,
) -> (State, Decision, Option<Closed>) {
    let mut s = state.unwrap_or_default();
    if s.holds(t) {
        if s.sent.as_deref() == Some(seen.alert_id.as_str()) {
            // The alert that opened the window, again (a retried file): it
            // is sent again, and the send's claim makes sure it goes out
            // once.
            return (s, Decision::Send, None);
        }
        s.hold(seen, 1);
        return (s, Decision::Held, None);
    }
    // Also when the sweep is closing it: the sweep may die before sending,
    // and both make the same follow-up (same id: sent once).
    let closed = s.pending().then(|| Closed { state: s.clone() });
    let mut times = if s.open {
        Vec::new()
    } else {
        std::mem::take(&mut s.times)
    };
    if !times.iter().any(|m| m.id == seen.alert_id) {
        let at = times.partition_point(|m| m.t <= t);
        times.insert(
            at,
            Mark {
                t,
                id: seen.alert_id.clone(),
            },
        );
    }
    let newest = times.last().map_or(t, |m| m.t);
    times.retain(|m| m.t > newest - spec.window_ms);
    if times.len() > MAX_TIMES {
        times.drain(..times.len() - MAX_TIMES);
    }
    if reached(&times, spec) {
        let next = State {
            kind: s.kind.clone(),
            rule: s.rule.clone(),
            key: s.key.clone(),
            open: true,
            start: t,
            end: t.saturating_add(spec.window_ms),
            close_at: now.saturating_add(spec.window_ms),
            sent: Some(seen.alert_id.clone()),
            ..State::default()
        };
        return (next, Decision::Send, closed);
    }
    let next = State {
        kind: s.kind,
        rule: s.rule,
        key: s.key,
        times,
        ..State::default()
    };
    (next, Decision::Below, closed)
}

/// Are `count` of `times` (sorted) within less than the window of each
/// other?
fn reached(times: &[Mark], spec: Spec) -> bool {
    let n = spec.count.max(1) as usize;
    if times.len() < n {
        return false;
    }
    times
        .windows(n)
        .any(|w| w[n - 1].t - w[0].t < spec.window_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn seen(i: i64) -> Seen {
        Seen {
            alert_id: format!("a{i}"),
            event_id: Some(format!("e{i}")),
            event_time: None,
            t: i,
            source: "s3://b/k".into(),
        }
    }

    /// Feed event times through `admit` at processing time `now`: the
    /// decisions, and how many windows closed along the way.
    fn feed(spec: Spec, times: &[i64], now: i64) -> (Option<State>, Vec<Decision>, Vec<Closed>) {
        let mut state = None;
        let mut out = Vec::new();
        let mut closed = Vec::new();
        for &t in times {
            let (s, d, c) = admit(state.take(), spec, t, now, &seen(t));
            state = Some(s);
            out.push(d);
            closed.extend(c);
        }
        (state, out, closed)
    }

    #[test]
    fn dedup_sends_the_first_and_holds_the_rest_of_the_window() {
        let spec = Spec {
            count: 1,
            window_ms: 15 * MIN,
        };
        let times: Vec<i64> = (0..1000).map(|i| i * 100).collect();
        let (state, d, closed) = feed(spec, &times, 5);
        assert_eq!(d[0], Decision::Send);
        assert!(d[1..].iter().all(|d| *d == Decision::Held));
        assert!(closed.is_empty());
        let s = state.unwrap();
        assert_eq!(
            (s.held(), s.start, s.end, s.close_at),
            (999, 0, 15 * MIN, 5 + 15 * MIN)
        );
        assert_eq!(s.first.unwrap().t, 100);
        assert_eq!(s.last.unwrap().t, 99_900);
        assert_eq!(s.sent.as_deref(), Some("a0"));
    }

    #[test]
    fn the_window_ends_by_event_time_and_the_next_alert_closes_it() {
        let spec = Spec {
            count: 1,
            window_ms: 15 * MIN,
        };
        // The boundary: 15m - 1 ms is inside, 15m exactly opens the next window.
        let (_, d, closed) = feed(spec, &[0, 15 * MIN - 1, 15 * MIN, 15 * MIN + 1], 0);
        assert_eq!(
            d,
            [
                Decision::Send,
                Decision::Held,
                Decision::Send,
                Decision::Held
            ]
        );
        assert_eq!(
            closed.len(),
            1,
            "the first window's follow-up is due at the next alert"
        );
        assert_eq!(closed[0].state.held(), 1);
        // A window that held nothing closes without a follow-up.
        let (_, _, closed) = feed(spec, &[0, 20 * MIN], 0);
        assert!(closed.is_empty());
        // Late events (earlier than the window's start) count in it.
        let (s, d, _) = feed(spec, &[10 * MIN, 2 * MIN], 0);
        assert_eq!(d, [Decision::Send, Decision::Held]);
        assert_eq!(s.unwrap().first.unwrap().t, 2 * MIN);
    }

    #[test]
    fn a_threshold_alerts_on_the_tenth_match_in_the_window_not_the_ninth() {
        let spec = Spec {
            count: 10,
            window_ms: 5 * MIN,
        };
        let nine: Vec<i64> = (0..9).map(|i| i * 20_000).collect();
        let (s, d, _) = feed(spec, &nine, 0);
        assert!(d.iter().all(|d| *d == Decision::Below));
        assert_eq!(s.as_ref().unwrap().times.len(), 9);
        let (s2, d, _) = admit(s, spec, 9 * 20_000, 7, &seen(9));
        assert_eq!(d, Decision::Send);
        assert!(
            s2.open
                && s2.start == 180_000
                && s2.end == 180_000 + 5 * MIN
                && s2.close_at == 7 + 5 * MIN
        );
        // Then the rest of the window is held like dedup.
        let (s3, d, _) = admit(Some(s2), spec, 200_000, 8, &seen(10));
        assert_eq!((d, s3.held()), (Decision::Held, 1));
    }

    #[test]
    fn threshold_matches_spread_wider_than_the_window_never_reach_it() {
        let spec = Spec {
            count: 3,
            window_ms: 5 * MIN,
        };
        // Every 2.5 minutes: any three span exactly 5 minutes, not less.
        let times: Vec<i64> = (0..20).map(|i| i * 150_000).collect();
        let (s, d, _) = feed(spec, &times, 0);
        assert!(d.iter().all(|d| *d == Decision::Below), "{d:?}");
        assert!(s.unwrap().times.len() <= 3, "old matches are dropped");
        // Out of order: the third match arrives late but falls inside.
        let (_, d, _) = feed(spec, &[0, 4 * MIN, 2 * MIN], 0);
        assert_eq!(d, [Decision::Below, Decision::Below, Decision::Send]);
    }

    #[test]
    fn a_reported_window_holds_nothing_more() {
        let spec = Spec {
            count: 1,
            window_ms: 15 * MIN,
        };
        let (s, _, _) = feed(spec, &[0, 1000], 0);
        let mut s = s.unwrap();
        s.reported = true;
        let (s, d, closed) = admit(Some(s), spec, 2000, 0, &seen(2000));
        assert_eq!(
            d,
            Decision::Send,
            "a new window: nothing is folded into a summary already sent"
        );
        assert!(closed.is_none());
        assert_eq!(s.held(), 0);
    }

    #[test]
    fn the_alert_that_opened_a_window_is_sent_again_on_a_retry() {
        let spec = Spec {
            count: 1,
            window_ms: MIN,
        };
        let (s, _, _) = feed(spec, &[0, 10], 0);
        let (s, d, _) = admit(s, spec, 0, 0, &seen(0));
        assert_eq!((d, s.held()), (Decision::Send, 1));
    }

    #[test]
    fn a_retried_input_replaces_its_count_and_a_match_seen_twice_counts_once() {
        let spec = Spec {
            count: 1,
            window_ms: MIN,
        };
        let (s, _, _) = feed(spec, &[0, 10, 20], 0);
        let mut s = s.unwrap();
        assert_eq!(s.held(), 2);
        // The same file again: its count starts over, then counts the same.
        s.restart("s3://b/k");
        let mut state = Some(s);
        for t in [0, 10, 20] {
            let (next, _, _) = admit(state.take(), spec, t, 0, &seen(t));
            state = Some(next);
        }
        assert_eq!(state.unwrap().held(), 2);
        let spec = Spec {
            count: 3,
            window_ms: MIN,
        };
        let (s, d, _) = feed(spec, &[0, 0, 0], 0);
        assert!(
            d.iter().all(|d| *d == Decision::Below),
            "one match three times is one"
        );
        assert_eq!(s.unwrap().times.len(), 1);
    }

    #[test]
    fn state_round_trips_through_json() {
        let spec = Spec {
            count: 1,
            window_ms: MIN,
        };
        let (s, _, _) = feed(spec, &[0, 10, 20], 0);
        let s = s.unwrap();
        let text = serde_json::to_value(&s).unwrap();
        assert_eq!(serde_json::from_value::<State>(text).unwrap(), s);
    }
}
