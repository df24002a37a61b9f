//! Sigma correlation rules in the Lambda: the runtime's engine
//! (`tattletail_runtime::correlate::step`, the same code `tattletail scan`
//! runs in memory) applied to one group at a time, each group kept in the
//! state table between invocations and updated with a compare-and-swap.
//! So a brute-force burst split over several CloudTrail files (and so
//! several invocations) still fires once.
//!
//! A group keeps at most [`MAX_EVENTS`] matches (a state item is at most
//! 400 KB in DynamoDB); what that cap drops while still inside the window
//! is counted and logged. A match already in its group (same rule, same
//! eventID: a retried file) is not added again, so a retry neither counts
//! twice nor fires twice.

use std::sync::Arc;

use serde_json::Value;
use tattletail_compiler::plan::Plan;
use tattletail_runtime::correlate::{self, CorrelationAlert, CorrelationStats, EventInfo, Group};
use tattletail_runtime::matcher::AlertFields;
use tracing::warn;

use super::{digest, Gate, CAS_ATTEMPTS};
use crate::payload::AlertData;
use crate::state::Key;

/// Matches kept per group in the state table.
pub const MAX_EVENTS: usize = 500;
/// Largest group state written (DynamoDB's item limit is 400 KB).
const MAX_STATE_BYTES: usize = 300 * 1024;

/// What a correlation's groups are keyed by: its Sigma `id`, else its
/// title and its position (two correlations of one title are two).
pub fn identity(plan: &Plan, c: usize) -> String {
    let corr = &plan.correlations[c].correlation;
    match &corr.id {
        Some(id) => format!("sigma:{id}"),
        None => format!("{}#{c}", corr.title),
    }
}

/// Which correlations (and slots) each rule feeds.
pub fn feeds(plan: &Plan) -> Vec<Vec<(usize, usize)>> {
    let mut feeds = vec![Vec::new(); plan.rules.len()];
    for (c, corr) in plan.correlations.iter().enumerate() {
        for (slot, &r) in corr.rules.iter().enumerate() {
            feeds[r].push((c, slot));
        }
    }
    feeds
}

impl Gate {
    /// Feed the alert of rule `r` (fed to the correlations in `feeds`) to
    /// their groups in the store: the correlation alerts it completes, and
    /// whether a group could not be updated (then the caller alerts on the
    /// match itself, even for a rule that only feeds correlations).
    pub async fn correlate(
        &mut self,
        plan: &Plan,
        feeds: &[(usize, usize)],
        alert: &AlertData,
        stats: &mut CorrelationStats,
    ) -> (Vec<CorrelationAlert>, bool) {
        let info = Arc::new(EventInfo {
            fields: AlertFields::from_json(&alert.record),
            source: Arc::from(alert.source()),
            index: alert.index(),
        });
        let mut out = Vec::new();
        let mut failed = false;
        for &(c, slot) in feeds {
            let Some(m) = correlate::prepare(plan, c, slot, &alert.record, info.clone()) else {
                stats.no_time += 1;
                continue;
            };
            let name = plan.correlations[c].display_name();
            let key = Key::new(
                format!(
                    "correlation#{}#{}",
                    digest(&[&identity(plan, c)]),
                    digest(&[&m.key])
                ),
                "group",
            );
            let timespan_ms = plan.correlations[c].correlation.timespan as i64 * 1000;
            let noise = self.noise.clone();
            let mut done = false;
            for _ in 0..CAS_ATTEMPTS {
                let now = noise.now_ms();
                let item = match noise.store.get(&key, now / 1000).await {
                    Ok(i) => i,
                    Err(e) => {
                        noise.state_error("read a correlation group", &e);
                        break;
                    }
                };
                let expected = item.as_ref().map(|i| i.version);
                let mut group = item
                    .and_then(|i| serde_json::from_value::<Group>(i.state).ok())
                    .unwrap_or_else(|| Group::new(m.values.clone()));
                if group.contains(&m.ev) {
                    done = true;
                    break;
                }
                let mut step_stats = CorrelationStats {
                    alerts: vec![0; plan.correlations.len()],
                    ..CorrelationStats::default()
                };
                let fired = correlate::step(
                    plan,
                    c,
                    &mut group,
                    m.ev.clone(),
                    MAX_EVENTS,
                    &mut step_stats,
                );
                let mut state = serde_json::to_value(&group).unwrap_or(Value::Null);
                while state.to_string().len() > MAX_STATE_BYTES && group.len() > 1 {
                    group.drop_oldest();
                    step_stats.dropped_events += 1;
                    state = serde_json::to_value(&group).unwrap_or(Value::Null);
                }
                match noise
                    .store
                    .put(
                        &key,
                        &state,
                        expected,
                        noise.expires(timespan_ms),
                        now / 1000,
                    )
                    .await
                {
                    Ok(true) => {
                        stats.late += step_stats.late;
                        stats.dropped_events += step_stats.dropped_events;
                        for (a, n) in stats.alerts.iter_mut().zip(&step_stats.alerts) {
                            *a += n;
                        }
                        out.extend(fired);
                        done = true;
                        break;
                    }
                    Ok(false) => continue,
                    Err(e) => {
                        noise.state_error("write a correlation group", &e);
                        break;
                    }
                }
            }
            if !done {
                failed = true;
                warn!(
                    message = "correlation_not_updated",
                    correlation = name.as_str(),
                    alert_id = alert.alert_id.as_str(),
                    help = "the group could not be read or written: this match was not correlated; it is sent as its rule's own alert instead"
                );
            }
        }
        out.sort_by_key(|a| a.window_end);
        (out, failed)
    }
}
