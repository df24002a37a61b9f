//! Follow-ups: the messages that stand for alerts not sent one by one
//! (noise control), so that nothing is dropped silently. A dedup window
//! or a cooldown that held alerts back ends with one follow-up saying how
//! many more occurred, with the first and last of them; a rate limit's
//! overflow is one summary per destination listing the rules.
//!
//! A follow-up has its own deterministic id ([`FollowUp::alert_id`]), so it
//! goes out exactly once per destination like an alert. Formatting for each
//! destination type is in `payload` (`*_followup` functions); a Slack app
//! destination posts it as a threaded reply to the first alert's message
//! (`thread_ts`) when that message's `ts` is known.

use crate::payload::Extra;

/// Why alerts were held back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A rule's `dedup` window: alerts with the same key after the first.
    Dedup {
        /// The window, as configured (`15m`).
        window: String,
    },
    /// A rule's `threshold` was reached; later alerts of the group in the
    /// same window are counted like a dedup window's.
    Threshold {
        /// Alerts needed within `window`.
        count: u64,
        /// The window, as configured (`5m`).
        window: String,
    },
    /// A rule's `cooldown` on one destination.
    Cooldown {
        /// The cooldown, as configured (`1h`).
        period: String,
    },
    /// A destination's `rate_limit` overflowed.
    RateLimit {
        /// The limit, as configured (`1/s`).
        limit: String,
    },
}

impl Reason {
    /// A short name for logs and payloads: `dedup`, `threshold`,
    /// `cooldown`, `rate_limit`.
    pub fn kind(&self) -> &'static str {
        match self {
            Reason::Dedup { .. } => "dedup",
            Reason::Threshold { .. } => "threshold",
            Reason::Cooldown { .. } => "cooldown",
            Reason::RateLimit { .. } => "rate_limit",
        }
    }

    /// One sentence for people: why these alerts were not sent one by one.
    pub fn explain(&self) -> String {
        match self {
            Reason::Dedup { window } => {
                format!("alerts with the same dedup key within {window} of the first are counted, not sent")
            }
            Reason::Threshold { count, window } => format!(
                "the threshold ({count} within {window}) was reached; later alerts of the group in the window are counted, not sent"
            ),
            Reason::Cooldown { period } => {
                format!("the rule's cooldown of {period} on this destination held these alerts back")
            }
            Reason::RateLimit { limit } => {
                format!("the destination's rate limit ({limit}) was exceeded")
            }
        }
    }
}

/// One alert that was held back: enough to find it (the full alert is in
/// the `alert_held` log line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The alert's id.
    pub alert_id: String,
    /// The record's `eventID`.
    pub event_id: Option<String>,
    /// The record's `eventTime`.
    pub event_time: Option<String>,
}

/// A message standing for alerts that were not sent one by one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowUp {
    /// Deterministic id of this follow-up (exactly-once per destination).
    pub alert_id: String,
    /// Why.
    pub reason: Reason,
    /// The rule (display name); empty for a rate-limit summary, which
    /// lists its rules in `by_rule`.
    pub rule: String,
    /// The rule's description.
    pub description: String,
    /// The dedup key or threshold group (JSON text), when there is one.
    pub key: Option<String>,
    /// How many alerts were held back.
    pub count: u64,
    /// Held-back alerts by rule (display name), for summaries across rules.
    pub by_rule: Vec<(String, u64)>,
    /// The alert that was sent (the thread a Slack app reply goes to).
    pub first_alert_id: Option<String>,
    /// The first alert held back.
    pub first: Option<Held>,
    /// The last alert held back.
    pub last: Option<Held>,
    /// The rule's severity, tags, runbook (as on its alerts).
    pub extra: Extra,
}

impl FollowUp {
    /// One line for people: `12 more alerts of "Root login" (dedup: ...)`.
    pub fn headline(&self) -> String {
        let what = if self.rule.is_empty() {
            format!("{} alert(s) were not sent one by one", self.count)
        } else {
            format!("{} more alert(s) of \"{}\"", self.count, self.rule)
        };
        format!("{what}: {}", self.reason.explain())
    }
}
