//! The gate, the claims and the sweep on the memory store with a manual
//! clock: the same code the Lambda runs on DynamoDB.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use serde_json::json;
use tattletail_compiler::plan::Compiled;

use super::window::Decision;
use super::*;
use crate::payload::AlertData;
use tattletail_compiler::config::Destination;

/// Sweep and acknowledge (as if every follow-up was sent): the jobs.
async fn swept(
    noise: &NoiseControl,
    plan: &tattletail_compiler::plan::Plan,
    all: bool,
) -> Vec<FollowUpJob> {
    let due = sweep(noise, plan, all).await;
    for d in &due {
        acknowledge(noise, d).await;
    }
    due.into_iter().map(|d| d.job).collect()
}

const MIN: i64 = 60_000;
const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn compiled(rules: &str) -> Compiled {
    let source = format!(
        "[[destination]]\nid = \"slack\"\ntype = \"slack_webhook\"\nwebhook_url = \"https://hooks.slack.com/services/T/B/x\"\n\n\
         [[destination]]\nid = \"sns\"\ntype = \"sns\"\nsns_arn = \"arn:aws:sns:us-east-1:123456789012:a\"\n\n{rules}"
    );
    tattletail_compiler::compile(&source).unwrap()
}

fn noise(clock: &Arc<AtomicI64>, claims: bool) -> Arc<NoiseControl> {
    Arc::new(NoiseControl::new(
        Store::memory(),
        Clock::manual(clock.clone()),
        claims,
        60_000,
    ))
}

/// A record by `who` of `name` at `T0 + at_ms`, with event id `id`.
fn alert(rule: &str, who: &str, name: &str, at_ms: i64, id: &str) -> AlertData {
    let secs = (T0 + at_ms) / 1000;
    let time = tattletail_compiler::date::format_utc(secs);
    AlertData::new(
        rule.into(),
        String::new(),
        json!({"eventID": id, "eventName": name, "eventTime": time,
               "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::1:user/{who}")}}),
        None,
        "test#0".into(),
    )
}

async fn admit(gate: &mut Gate, c: &Compiled, a: &AlertData) -> Decision {
    let targets: Vec<&Destination> = c.plan.destinations.iter().collect();
    gate.admit(&c.plan, 0, a, &targets).await
}

#[tokio::test]
async fn a_burst_of_a_thousand_is_one_alert_and_one_follow_up_per_key() {
    let c = compiled("[[rule]]\nname = \"r\"\njq_match = 'select(.eventName == \"A\")'\ndedup = { window = \"15m\" }\n");
    let clock = Arc::new(AtomicI64::new(T0));
    let noise = noise(&clock, true);
    let mut gate = noise.gate();
    let mut sent = 0;
    for i in 0..1000 {
        let who = if i % 2 == 0 { "alice" } else { "bob" };
        let a = alert("r", who, "A", i * 100, &format!("e{i}"));
        if admit(&mut gate, &c, &a).await == Decision::Send {
            sent += 1;
        }
    }
    assert_eq!(sent, 2, "one per actor");
    assert!(
        gate.flush(&c.plan).await.is_empty(),
        "nothing due before the window closes"
    );
    assert!(swept(&noise, &c.plan, false).await.is_empty());
    clock.fetch_add(15 * MIN, Ordering::Relaxed);
    let mut jobs = swept(&noise, &c.plan, false).await;
    assert_eq!(jobs.len(), 2, "one follow-up per key");
    jobs.sort_by_key(|j| j.follow_up.first.as_ref().unwrap().event_id.clone());
    let f = &jobs[0].follow_up;
    assert_eq!((f.count, f.rule.as_str()), (499, "r"));
    assert_eq!(f.first.as_ref().unwrap().event_id.as_deref(), Some("e2"));
    assert_eq!(f.last.as_ref().unwrap().event_id.as_deref(), Some("e998"));
    assert!(f.first_alert_id.is_some());
    assert_eq!(jobs[0].destinations.len(), 2);
    assert!(
        swept(&noise, &c.plan, false).await.is_empty(),
        "a window is reported once"
    );
    let counts = noise.counters.snapshot();
    assert_eq!((counts.deduplicated, counts.follow_ups), (998, 2));
}

#[tokio::test]
async fn two_gates_share_a_window_through_the_store() {
    let c = compiled("[[rule]]\nname = \"r\"\njq_match = 'select(.eventName == \"A\")'\ndedup = { key = '.eventName', window = \"1h\" }\n");
    let clock = Arc::new(AtomicI64::new(T0));
    let noise = noise(&clock, true);
    let (mut g1, mut g2) = (noise.gate(), noise.gate());
    assert_eq!(
        admit(&mut g1, &c, &alert("r", "a", "A", 0, "e0")).await,
        Decision::Send
    );
    assert_eq!(
        admit(&mut g2, &c, &alert("r", "b", "A", 1, "e1")).await,
        Decision::Held
    );
    for i in 2..10 {
        let g = if i % 2 == 0 { &mut g1 } else { &mut g2 };
        assert_eq!(
            admit(g, &c, &alert("r", "a", "A", i, &format!("e{i}"))).await,
            Decision::Held
        );
    }
    assert!(g1.flush(&c.plan).await.is_empty());
    assert!(g2.flush(&c.plan).await.is_empty());
    clock.fetch_add(61 * MIN, Ordering::Relaxed);
    let jobs = swept(&noise, &c.plan, false).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0].follow_up.count, 9,
        "counts held in memory by both gates are all written"
    );
}

#[tokio::test]
async fn the_next_alert_after_a_window_brings_its_follow_up() {
    let c = compiled("[[rule]]\nname = \"r\"\njq_match = 'select(.eventName == \"A\")'\ndedup = { window = \"15m\" }\n");
    let clock = Arc::new(AtomicI64::new(T0));
    let noise = noise(&clock, true);
    let mut gate = noise.gate();
    for i in 0..5 {
        admit(
            &mut gate,
            &c,
            &alert("r", "a", "A", i * MIN, &format!("e{i}")),
        )
        .await;
    }
    assert!(swept(&noise, &c.plan, false).await.is_empty());
    assert_eq!(
        admit(&mut gate, &c, &alert("r", "a", "A", 16 * MIN, "late")).await,
        Decision::Send
    );
    let due = swept(&noise, &c.plan, false).await;
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].follow_up.count, 4);
    // Its due-index entry is stale now: the sweep sends nothing more.
    clock.fetch_add(20 * MIN, Ordering::Relaxed);
    gate.flush(&c.plan).await;
    assert!(swept(&noise, &c.plan, false).await.is_empty());
}

#[tokio::test]
async fn a_threshold_alerts_on_the_tenth_event_of_a_group_not_the_ninth() {
    let c = compiled(
        "[[rule]]\nname = \"denied\"\njq_match = 'select(.eventName == \"A\")'\nthreshold = { count = 10, window = \"5m\", group_by = '.userIdentity.arn' }\n",
    );
    let clock = Arc::new(AtomicI64::new(T0));
    let noise = noise(&clock, true);
    let mut gate = noise.gate();
    for i in 0..9 {
        let d = admit(
            &mut gate,
            &c,
            &alert("denied", "mallory", "A", i * 10_000, &format!("m{i}")),
        )
        .await;
        assert_eq!(d, Decision::Below);
        // Another principal's matches are another group.
        let d = admit(
            &mut gate,
            &c,
            &alert("denied", "bob", "A", i * 10_000, &format!("b{i}")),
        )
        .await;
        assert_eq!(d, Decision::Below);
    }
    // Across passes (another invocation) the count goes on.
    gate.flush(&c.plan).await;
    let mut gate = noise.gate();
    assert_eq!(
        admit(
            &mut gate,
            &c,
            &alert("denied", "mallory", "A", 90_000, "m9")
        )
        .await,
        Decision::Send
    );
    assert_eq!(
        admit(
            &mut gate,
            &c,
            &alert("denied", "mallory", "A", 95_000, "m10")
        )
        .await,
        Decision::Held
    );
    assert_eq!(noise.counters.snapshot().below_threshold, 18);
}

#[tokio::test]
async fn cooldown_holds_a_rule_on_one_destination_for_its_period() {
    let c = compiled(
        "[[rule]]\nname = \"r\"\njq_match = 'select(.eventName == \"A\")'\ncooldown = \"1h\"\n",
    );
    let clock = Arc::new(AtomicI64::new(T0));
    let noise = noise(&clock, true);
    let mut gate = noise.gate();
    let slack = &c.plan.destinations[0];
    let sns = &c.plan.destinations[1];
    assert!(
        gate.cooldown(&c.plan, 0, &alert("r", "a", "A", 0, "e0"), slack)
            .await
    );
    assert!(
        !gate
            .cooldown(&c.plan, 0, &alert("r", "b", "B", 0, "e1"), slack)
            .await
    );
    assert!(
        gate.cooldown(&c.plan, 0, &alert("r", "b", "B", 0, "e1"), sns)
            .await,
        "per destination"
    );
    clock.fetch_add(59 * MIN, Ordering::Relaxed);
    assert!(
        !gate
            .cooldown(&c.plan, 0, &alert("r", "c", "C", 0, "e2"), slack)
            .await
    );
    clock.fetch_add(MIN, Ordering::Relaxed);
    assert!(
        gate.cooldown(&c.plan, 0, &alert("r", "d", "D", 0, "e3"), slack)
            .await,
        "the cooldown is over"
    );
    let due = swept(&noise, &c.plan, false).await;
    assert_eq!(
        due.len(),
        1,
        "the held alerts' follow-up comes with the next send"
    );
    assert_eq!(
        (due[0].follow_up.count, due[0].destinations[0].id.as_str()),
        (2, "slack")
    );
    assert_eq!(due[0].follow_up.reason.kind(), "cooldown");
}

#[tokio::test]
async fn a_send_is_claimed_once_and_a_dead_senders_claim_is_taken_over_after_its_lease() {
    let clock = Arc::new(AtomicI64::new(T0));
    let store = Arc::new(Store::memory());
    // Two processes (Lambda execution environments) on one table.
    let noise = NoiseControl::on(store.clone(), Clock::manual(clock.clone()), true, 60_000);
    let other = NoiseControl::on(store, Clock::manual(clock.clone()), true, 60_000);
    let first = noise.claim("alert-1", "slack").await.unwrap();
    assert!(matches!(first, Claim::Claimed { .. }));
    // A second sender (a duplicated notification) while the first sends.
    let busy = other.claim("alert-1", "slack").await.unwrap();
    assert_eq!(
        busy,
        Claim::Busy {
            until_ms: T0 + 60_000
        }
    );
    // Another destination is its own claim.
    assert!(matches!(
        other.claim("alert-1", "sns").await.unwrap(),
        Claim::Claimed { .. }
    ));
    noise
        .complete(&first, Some("1700000000.000100"))
        .await
        .unwrap();
    assert_eq!(other.claim("alert-1", "slack").await.unwrap(), Claim::Done);
    assert_eq!(
        other.thread_of("alert-1", "slack").await.as_deref(),
        Some("1700000000.000100")
    );
    // The first sender dies after claiming: after the lease the retry sends.
    let dead = noise.claim("alert-2", "slack").await.unwrap();
    assert!(matches!(dead, Claim::Claimed { .. }));
    clock.fetch_add(30_000, Ordering::Relaxed);
    assert!(matches!(
        other.claim("alert-2", "slack").await.unwrap(),
        Claim::Busy { .. }
    ));
    clock.fetch_add(30_001, Ordering::Relaxed);
    let retry = other.claim("alert-2", "slack").await.unwrap();
    assert!(
        matches!(retry, Claim::Claimed { version: 2, .. }),
        "{retry:?}"
    );
    // A failed send releases its claim: the next attempt may send at once.
    other.release(&retry).await.unwrap();
    assert!(matches!(
        noise.claim("alert-2", "slack").await.unwrap(),
        Claim::Claimed { version: 1, .. }
    ));
    let c = other.counters.snapshot();
    assert_eq!((c.skipped_done, c.skipped_busy), (1, 2));
    // Without claims (a Lambda without a state table) every send goes.
    let off = NoiseControl::new(Store::memory(), Clock::manual(clock.clone()), false, 60_000);
    assert_eq!(off.claim("alert-1", "slack").await.unwrap(), Claim::Off);
}

#[tokio::test]
async fn a_key_that_fails_makes_the_alert_its_own_key() {
    let c = compiled(
        "[[rule]]\nname = \"r\"\njq_match = 'select(.eventName == \"A\")'\ndedup = { key = '.eventName | error', window = \"15m\" }\n",
    );
    let clock = Arc::new(AtomicI64::new(T0));
    let noise = noise(&clock, true);
    let mut gate = noise.gate();
    for i in 0..3 {
        assert_eq!(
            admit(&mut gate, &c, &alert("r", "a", "A", i, &format!("e{i}"))).await,
            Decision::Send
        );
    }
}

fn compile_sigma(files: &[(&str, &str)]) -> Compiled {
    use tattletail_compiler::config::SigmaInput;
    use tattletail_compiler::sigma::SigmaFile;
    let mut none = tattletail_compiler::config::cannot_read;
    let mut input = SigmaInput {
        resolve: &mut none,
        extra: files
            .iter()
            .map(|(name, text)| SigmaFile {
                name: name.to_string(),
                text: text.to_string(),
                ..Default::default()
            })
            .collect(),
    };
    tattletail_compiler::compile_with("", &mut input).unwrap()
}

const FAILED_LOGINS: &str = "title: Failed console login
name: failed_login
logsource: {product: aws, service: cloudtrail}
detection:
    sel: {eventName: ConsoleLogin}
    condition: sel
---
title: Console login brute force
correlation:
    type: event_count
    rules: [failed_login]
    group-by: [sourceIPAddress]
    timespan: 10m
    condition: {gte: 5}
";

#[tokio::test]
async fn a_correlation_split_over_invocations_fires_once_and_a_retry_adds_nothing() {
    let c = compile_sigma(&[("bf.yml", FAILED_LOGINS)]);
    let feeds = correlate::feeds(&c.plan);
    let clock = Arc::new(AtomicI64::new(T0));
    let noise = noise(&clock, true);
    let mut stats = tattletail_runtime::correlate::CorrelationStats {
        alerts: vec![0; 1],
        ..Default::default()
    };
    let login = |i: i64, ip: &str| {
        let mut a = alert(
            "Failed console login",
            "x",
            "ConsoleLogin",
            i * 30_000,
            &format!("e{i}-{ip}"),
        );
        a.record["sourceIPAddress"] = json!(ip);
        a.origin = format!("s3://b/k{i}#0");
        a
    };
    // Three matches in one invocation, then two in the next: the fifth fires.
    let mut fired = Vec::new();
    for i in 0..3 {
        let mut gate = noise.gate();
        fired.extend(
            gate.correlate(&c.plan, &feeds[0], &login(i, "10.0.0.1"), &mut stats)
                .await
                .0,
        );
    }
    assert!(fired.is_empty());
    // The same file again (a retry): nothing is counted twice.
    let mut gate = noise.gate();
    for i in 0..3 {
        fired.extend(
            gate.correlate(&c.plan, &feeds[0], &login(i, "10.0.0.1"), &mut stats)
                .await
                .0,
        );
    }
    assert!(fired.is_empty());
    // Another IP is another group.
    for i in 0..4 {
        fired.extend(
            gate.correlate(&c.plan, &feeds[0], &login(i, "10.9.9.9"), &mut stats)
                .await
                .0,
        );
    }
    assert!(fired.is_empty());
    let mut gate = noise.gate();
    for i in 3..5 {
        fired.extend(
            gate.correlate(&c.plan, &feeds[0], &login(i, "10.0.0.1"), &mut stats)
                .await
                .0,
        );
    }
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].count, 5);
    assert_eq!(fired[0].group[0].1, json!("10.0.0.1"));
    // More in the same window: no second alert.
    fired.extend(
        gate.correlate(&c.plan, &feeds[0], &login(6, "10.0.0.1"), &mut stats)
            .await
            .0,
    );
    assert_eq!(fired.len(), 1);
    assert_eq!(stats.alerts, [1]);
}

/// What noise control costs in state-table requests (BENCHMARKS.md
/// quotes these): counted on the memory store, which the same code calls
/// exactly as it calls DynamoDB.
#[tokio::test]
async fn the_cost_in_table_requests() {
    let clock = Arc::new(AtomicI64::new(T0));
    // Exactly-once alone: a read and a write to claim, a write when done.
    let noise_only_claims = noise(&clock, true);
    for i in 0..100 {
        let claim = noise_only_claims
            .claim(&format!("a{i}"), "slack")
            .await
            .unwrap();
        noise_only_claims.complete(&claim, None).await.unwrap();
    }
    assert_eq!(
        noise_only_claims.requests().unwrap().counts(),
        (100, 200, 0, 0),
        "3 per send"
    );

    // A dedup burst: 1,000 alerts of 2 keys in one pass, then the sweep.
    let c = compiled("[[rule]]\nname = \"r\"\njq_match = 'select(.eventName == \"A\")'\ndedup = { window = \"15m\" }\n");
    let n = noise(&clock, true);
    let mut gate = n.gate();
    for i in 0..1000 {
        let who = if i % 2 == 0 { "alice" } else { "bob" };
        admit(&mut gate, &c, &alert("r", who, "A", i, &format!("e{i}"))).await;
    }
    gate.flush(&c.plan).await;
    let (gets, puts, deletes, queries) = n.requests().unwrap().counts();
    // Per key: read + open; at the flush: read + count + the due index.
    assert_eq!((gets, puts, deletes, queries), (4, 6, 0, 0));
    clock.fetch_add(15 * MIN, Ordering::Relaxed);
    swept(&n, &c.plan, false).await;
    let after = n.requests().unwrap().counts();
    // The sweep: one query; per window a read and a write to mark it
    // closing, then (acknowledged once sent) a read, a write to mark it
    // reported and the due entry's delete.
    assert_eq!(after, (8, 10, 2, 1));

    // A threshold's matches below it: one read per group and pass, one
    // write per match.
    let c = compiled(
        "[[rule]]\nname = \"t\"\njq_match = 'select(.eventName == \"A\")'\nthreshold = { count = 1000, window = \"1h\" }\n",
    );
    let n = noise(&clock, true);
    let mut gate = n.gate();
    for i in 0..100 {
        admit(&mut gate, &c, &alert("t", "x", "A", i, &format!("t{i}"))).await;
    }
    assert_eq!(n.requests().unwrap().counts(), (1, 100, 0, 0));
}

#[tokio::test]
async fn the_same_alert_twice_in_one_process_is_a_duplicate_not_a_busy_claim() {
    let clock = Arc::new(AtomicI64::new(T0));
    let n = noise(&clock, true);
    let first = n.claim("dup", "slack").await.unwrap();
    assert!(matches!(first, Claim::Claimed { .. }));
    assert_eq!(
        n.claim("dup", "slack").await.unwrap(),
        Claim::Done,
        "ours, in flight"
    );
    n.release(&first).await.unwrap();
    // Released (the send failed): the next attempt claims again.
    assert!(matches!(
        n.claim("dup", "slack").await.unwrap(),
        Claim::Claimed { .. }
    ));
}

#[tokio::test]
async fn a_follow_up_not_acknowledged_is_made_again_with_the_same_id() {
    let c = compiled("[[rule]]\nname = \"r\"\njq_match = 'select(.eventName == \"A\")'\ndedup = { window = \"15m\" }\n");
    let clock = Arc::new(AtomicI64::new(T0));
    let n = noise(&clock, true);
    let mut gate = n.gate();
    for i in 0..3 {
        admit(&mut gate, &c, &alert("r", "a", "A", i, &format!("e{i}"))).await;
    }
    gate.flush(&c.plan).await;
    clock.fetch_add(15 * MIN, Ordering::Relaxed);
    // The invocation dies after the sweep made the follow-up, before it
    // was sent and acknowledged.
    let first = sweep(&n, &c.plan, false).await;
    assert_eq!(first.len(), 1);
    // The window is closing: a new alert of the key opens a new window.
    let mut gate = n.gate();
    let mut late = alert("r", "a", "A", 1000, "e9");
    late.origin = "another-file#0".into();
    assert_eq!(admit(&mut gate, &c, &late).await, Decision::Send);
    let again = sweep(&n, &c.plan, false).await;
    assert_eq!(again.len(), 1, "still due");
    assert_eq!(
        again[0].job.follow_up.alert_id,
        first[0].job.follow_up.alert_id
    );
    assert_eq!(again[0].job.follow_up.count, 2);
    acknowledge(&n, &again[0]).await;
    assert!(sweep(&n, &c.plan, false).await.is_empty());
}

#[tokio::test]
async fn a_cut_off_send_leaves_its_claim_to_the_lease_not_to_a_duplicate_skip() {
    let clock = Arc::new(AtomicI64::new(T0));
    let n = noise(&clock, true);
    let claim = n.claim("cut", "slack").await.unwrap();
    n.forget(&claim); // the send's future was dropped at the deadline
    assert!(
        matches!(n.claim("cut", "slack").await.unwrap(), Claim::Busy { .. }),
        "not skipped as done"
    );
    clock.fetch_add(60_001, Ordering::Relaxed);
    assert!(matches!(
        n.claim("cut", "slack").await.unwrap(),
        Claim::Claimed { .. }
    ));
}

#[tokio::test]
async fn alerts_routed_to_other_destinations_are_other_windows() {
    let c = compiled("[[rule]]\nname = \"r\"\njq_match = 'select(.eventName == \"A\")'\ndedup = { key = '.eventName', window = \"15m\" }\n");
    let clock = Arc::new(AtomicI64::new(T0));
    let n = noise(&clock, true);
    let mut gate = n.gate();
    let slack: Vec<&Destination> = vec![&c.plan.destinations[0]];
    let sns: Vec<&Destination> = vec![&c.plan.destinations[1]];
    let a = alert("r", "a", "A", 0, "e0");
    let b = alert("r", "b", "A", 1, "e1");
    assert_eq!(gate.admit(&c.plan, 0, &a, &slack).await, Decision::Send);
    assert_eq!(
        gate.admit(&c.plan, 0, &b, &sns).await,
        Decision::Send,
        "another team's channel"
    );
    assert_eq!(
        gate.admit(&c.plan, 0, &b, &[]).await,
        Decision::Send,
        "going nowhere: not windowed"
    );
}
