//! The due index and the sweep: how a window's follow-up gets sent exactly
//! once even when an invocation dies on the way.
//!
//! Due entries live in partition `due`, sorted by when they are due:
//!
//! - an **open** entry points at a window with alerts held (written before
//!   the window is marked `indexed`), due `window` after it opened by the
//!   processing clock;
//! - a **closed** entry is a snapshot of a window that a later alert
//!   closed (written before that alert replaces it), due at once.
//!
//! [`sweep`] reads one page of due entries and makes their follow-ups; an
//! open window is first marked `closing` (it holds nothing more: the next
//! alert of its key opens a new window). The caller sends them, waits for
//! the sends, then [`acknowledge`]s each: the window is marked `reported`
//! and the entry deleted. An invocation that dies between the two leaves
//! the entry: the next sweep makes the same follow-up (same id) again,
//! and the send's claim keeps it from going out twice. Stale entries (the
//! window was replaced, or already reported) are deleted as they are met.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::{json, Value};
use tattletail_compiler::config::Destination;
use tattletail_compiler::plan::Plan;
use tracing::{info, warn};

use super::gate::held_of;
use super::window::State;
use super::{digest, NoiseControl, CAS_ATTEMPTS};
use crate::followup::{FollowUp, Reason};
use crate::payload::Extra;
use crate::state::Key;

/// Due entries handled per sweep (the rest wait for the next one).
pub const SWEEP_PAGE: usize = 200;

/// The partition of the due index.
const DUE: &str = "due";

/// A follow-up and where it goes.
#[derive(Clone, Debug)]
pub struct FollowUpJob {
    /// The message.
    pub follow_up: Arc<FollowUp>,
    /// Its destinations.
    pub destinations: Vec<Destination>,
}

/// A follow-up the sweep made, and what to mark once it is sent.
#[derive(Clone, Debug)]
pub struct Due {
    /// What to send.
    pub job: FollowUpJob,
    entry: Key,
    entry_version: u64,
    /// An open window (its key and start) to mark reported.
    window: Option<(Key, i64)>,
}

/// A window's state as stored; `None` (logged) when it is not ours.
pub(super) fn parse_state(key: &Key, value: &Value) -> Option<State> {
    match serde_json::from_value::<State>(value.clone()) {
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

/// Put the open window `s` at `key` in the due index. `false` when it
/// could not be written (the window stays unindexed, to be tried again).
pub(super) async fn index_open(noise: &NoiseControl, key: &Key, s: &State) -> bool {
    let now = noise.now_ms();
    let entry = Key::new(
        DUE,
        format!("{:015}#open#{}#{}", s.close_at.max(0), key.pk, s.start),
    );
    let state = json!({"pk": key.pk, "sk": key.sk, "start": s.start});
    let expires = noise.expires(s.close_at - now);
    match noise
        .store
        .put(&entry, &state, None, expires, now / 1000)
        .await
    {
        // Already there (a retry): as good.
        Ok(_) => true,
        Err(e) => {
            noise.state_error("index a window", &e);
            false
        }
    }
}

/// Put a snapshot of the closed window `s` at `key` in the due index, due
/// at once; `tag` tells apart follow-ups of one window (`""` for the
/// window's own; held alerts that came late get their own). `false` when
/// it could not be written.
pub(super) async fn index_closed(noise: &NoiseControl, key: &Key, s: &State, tag: &str) -> bool {
    let now = noise.now_ms();
    let entry = Key::new(
        DUE,
        format!("{:015}#closed#{}#{}#{tag}", 0, key.pk, s.start),
    );
    let state = json!({"closed": s, "tag": tag});
    match noise
        .store
        .put(&entry, &state, None, noise.expires(0), now / 1000)
        .await
    {
        Ok(_) => true,
        Err(e) => {
            noise.state_error("index a closed window", &e);
            false
        }
    }
}

/// The follow-up of window `s` (none when it held nothing or its
/// destinations are gone). `tag` as in [`index_closed`].
fn follow_up(noise: &NoiseControl, plan: &Plan, s: &State, tag: &str) -> Option<FollowUpJob> {
    let held = s.held();
    if held == 0 {
        return None;
    }
    let rule = plan.rules.iter().find(|r| r.identity == s.rule);
    let window = || format!("{}s", (s.end - s.start) / 1000);
    let reason = rule.and_then(|r| {
        let n = &r.config.noise;
        match s.kind.as_str() {
            "threshold" => n.threshold.as_ref().map(|t| Reason::Threshold {
                count: t.count,
                window: t.window.text.clone(),
            }),
            "cooldown" => n.cooldown.as_ref().map(|p| Reason::Cooldown {
                period: p.text.clone(),
            }),
            _ => n.dedup.as_ref().map(|d| Reason::Dedup {
                window: d.window.text.clone(),
            }),
        }
    });
    let (name, description, extra) = match rule {
        Some(r) => (
            r.config.display_name(),
            r.config.description.clone().unwrap_or_default(),
            Extra::new(&r.config.meta, None),
        ),
        None => (s.rule.clone(), String::new(), Extra::default()),
    };
    let destinations: Vec<Destination> = plan
        .destinations
        .iter()
        .filter(|d| s.destinations.contains(&d.id))
        .cloned()
        .collect();
    if destinations.is_empty() {
        warn!(
            message = "follow_up_without_destination",
            rule = name.as_str(),
            count = held,
            destinations_json = serde_json::to_string(&s.destinations).unwrap_or_default().as_str(),
            help = "the destinations of the alert this window followed are no longer in the config; the count is in this line"
        );
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
            tag,
        ]),
        reason: reason.unwrap_or(Reason::Dedup { window: window() }),
        rule: name,
        description,
        key: s.key.clone(),
        count: held,
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

/// One page of due follow-ups: windows whose time has come (every due
/// window when `all`: the end of a CLI run without a table) and snapshots
/// of windows closed by later alerts. Send them, then [`acknowledge`]
/// each; until then they stay due.
pub async fn sweep(noise: &NoiseControl, plan: &Plan, all: bool) -> Vec<Due> {
    let mut out = Vec::new();
    let now = noise.now_ms();
    let upto = if all {
        "~".to_string()
    } else {
        format!("{:015}~", now.max(0))
    };
    let entries = match noise.store.query(DUE, &upto, SWEEP_PAGE, now / 1000).await {
        Ok(d) => d,
        Err(e) => {
            noise.state_error("query due windows", &e);
            return out;
        }
    };
    for (entry, item) in entries {
        if let Some(closed) = item.state.get("closed") {
            let tag = item.state.get("tag").and_then(Value::as_str).unwrap_or("");
            match parse_state(&entry, closed).and_then(|s| follow_up(noise, plan, &s, tag)) {
                Some(job) => out.push(Due {
                    job,
                    entry,
                    entry_version: item.version,
                    window: None,
                }),
                None => forget(noise, &entry, item.version).await,
            }
            continue;
        }
        let pk = item.state.get("pk").and_then(Value::as_str).unwrap_or("");
        let sk = item
            .state
            .get("sk")
            .and_then(Value::as_str)
            .unwrap_or("window");
        let start = item.state.get("start").and_then(Value::as_i64);
        let key = Key::new(pk, sk);
        match close(noise, &key, start).await {
            Closing::Ready(s) => match follow_up(noise, plan, &s, "") {
                Some(job) => out.push(Due {
                    job,
                    entry,
                    entry_version: item.version,
                    window: Some((key, s.start)),
                }),
                None => forget(noise, &entry, item.version).await,
            },
            Closing::Stale => forget(noise, &entry, item.version).await,
            // Left due for the next sweep.
            Closing::Failed => {}
        }
    }
    out
}

enum Closing {
    Ready(Box<State>),
    Stale,
    Failed,
}

/// Mark the open window at `key` (started at `start`) closing, so it holds
/// nothing more.
async fn close(noise: &NoiseControl, key: &Key, start: Option<i64>) -> Closing {
    for _ in 0..CAS_ATTEMPTS {
        let now = noise.now_ms();
        let item = match noise.store.get(key, now / 1000).await {
            Ok(i) => i,
            Err(e) => {
                noise.state_error("read a due window", &e);
                return Closing::Failed;
            }
        };
        let Some(item) = item else {
            return Closing::Stale;
        };
        let Some(mut s) = parse_state(key, &item.state) else {
            return Closing::Stale;
        };
        if Some(s.start) != start || !s.pending() {
            return Closing::Stale;
        }
        if s.closing {
            return Closing::Ready(Box::new(s));
        }
        s.closing = true;
        let state = serde_json::to_value(&s).unwrap_or(Value::Null);
        match noise
            .store
            .put(key, &state, Some(item.version), item.expires_at, now / 1000)
            .await
        {
            Ok(true) => return Closing::Ready(Box::new(s)),
            Ok(false) => continue,
            Err(e) => {
                noise.state_error("close a window", &e);
                return Closing::Failed;
            }
        }
    }
    Closing::Failed
}

async fn forget(noise: &NoiseControl, entry: &Key, version: u64) {
    if let Err(e) = noise.store.delete(entry, version).await {
        noise.state_error("delete a due entry", &e);
    }
}

/// `due`'s follow-up was sent: mark its window reported and delete its
/// entry. (Not called for follow-ups whose sends were cut off: they stay
/// due.)
pub async fn acknowledge(noise: &NoiseControl, due: &Due) {
    if let Some((key, start)) = &due.window {
        for _ in 0..CAS_ATTEMPTS {
            let now = noise.now_ms();
            let item = match noise.store.get(key, now / 1000).await {
                Ok(Some(i)) => i,
                Ok(None) => break,
                Err(e) => {
                    noise.state_error("read a reported window", &e);
                    return;
                }
            };
            let Some(mut s) = parse_state(key, &item.state) else {
                break;
            };
            if s.start != *start || s.reported {
                break;
            }
            s.reported = true;
            let state = serde_json::to_value(&s).unwrap_or(Value::Null);
            match noise
                .store
                .put(key, &state, Some(item.version), item.expires_at, now / 1000)
                .await
            {
                Ok(true) => break,
                Ok(false) => continue,
                Err(e) => {
                    noise.state_error("mark a window reported", &e);
                    return;
                }
            }
        }
    }
    forget(noise, &due.entry, due.entry_version).await;
    info!(
        message = "follow_up_done",
        alert_id = due.job.follow_up.alert_id.as_str(),
        count = due.job.follow_up.count
    );
}
