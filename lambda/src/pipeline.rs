//! One input through the engine and out to the destinations: the runtime's
//! blocking one-pass scan runs on a blocking thread, its alerts cross a
//! small bounded channel to the async side, which delivers them. The
//! delivery side ([`deliver_loop`]) is one piece of code for the Lambda
//! ([`scan_until`], one S3 object at a time, with its deadline) and for
//! the `tattletail` CLI's driver ([`Delivery`], a sink beside its printer).
//!
//! Finished sends are reaped while the scan goes on, so memory is bounded by
//! the sends in flight. The Lambda passes an [`Until`]: when its stop is
//! set, reading and sending stop, the report says from which record on the
//! object was not handled ([`Stopped`]), and sends still in flight at its
//! `stop_sends` are abandoned and logged as undelivered.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tattletail_compiler::plan::{Compiled, Plan};
use tattletail_runtime::scan::{Alert, AlertSink, Failure, InputOutcome};
use tattletail_runtime::{CorrelationAlert, Matcher, Scanner, Stats};
use tokio::sync::mpsc;
use tracing::info;

use crate::deadline::{self, Stop};
use crate::deliver::{Deliverer, Sends};
use crate::noise::window::Decision;
use crate::noise::{self, CounterValues, FollowUpJob, Gate};
use crate::payload::{AlertData, Extra, Message};
use tattletail_compiler::config::DestinationKind;
use tattletail_compiler::config::Mode;
use tattletail_runtime::correlate::CorrelationStats;

/// Alerts buffered between the scan and the delivery.
const CHANNEL_ALERTS: usize = 64;

/// What scanning one input gave.
#[derive(Debug)]
pub struct ScanReport {
    /// Counts (this input only).
    pub stats: Stats,
    /// Scanned, skipped or failed.
    pub outcome: InputOutcome,
    /// Sends that succeeded.
    pub delivered: u64,
    /// Sends that failed after every attempt.
    pub undelivered: u64,
    /// Sends not made because another invocation holds their claim: the
    /// input must be retried after the claim's lease.
    pub busy: u64,
    /// Sends not made because they had been made already.
    pub skipped: u64,
    /// Correlation alerts (evaluated on the state store).
    pub correlations: CorrelationStats,
    /// Wall time, scan and delivery.
    pub duration: Duration,
    /// Set when the scan was stopped before the end of the input.
    pub stopped: Option<Stopped>,
}

/// What to do with alerts besides counting them.
#[derive(Clone, Default)]
pub struct Outputs {
    /// Deliver to the rules' destinations.
    pub deliver: Option<Arc<Deliverer>>,
    /// Log one `rule_matched` line per alert (Lambda).
    pub log_matches: bool,
    /// Run every rule on every record (no dispatch index; for checking).
    pub no_index: bool,
    /// Threads evaluating records (0 or 1: the scanning thread alone).
    pub workers: usize,
    /// Evaluate the plan's correlations on the deliverer's state store
    /// (the Lambda with a state table; the CLI evaluates them in memory
    /// ahead of delivery instead).
    pub correlate: bool,
}

/// Stopping a scan before its end (the Lambda's deadline).
#[derive(Clone)]
pub struct Until {
    /// Once set: no more records are read and no more sends started.
    pub stop: Stop,
    /// Sends still in flight then are abandoned (logged as undelivered).
    pub stop_sends: tokio::time::Instant,
}

/// Where a stopped scan stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stopped {
    /// Records before this index were evaluated and all their alerts
    /// dispatched (delivered or logged as undelivered); from this record
    /// on, alerts were not (or not all) sent. `None` when the scan did not
    /// come to a stop in time and the position is unknown.
    pub next_record: Option<u64>,
}

/// The first record whose alerts were not all handed to delivery.
#[derive(Clone)]
struct Cut(Arc<AtomicU64>);

impl Cut {
    fn new() -> Cut {
        Cut(Arc::new(AtomicU64::new(u64::MAX)))
    }
    fn at(&self, record: u64) {
        self.0.fetch_min(record, Ordering::Relaxed);
    }
    fn get(&self) -> Option<u64> {
        Some(self.0.load(Ordering::Relaxed)).filter(|&n| n != u64::MAX)
    }
}

/// What an alert is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// A rule (position in the plan's rules).
    Rule(usize),
    /// A correlation (position in the plan's correlations; the CLI only).
    Correlation(usize),
}

/// An alert on its way to delivery: what it is of, the alert, record index.
type Forwarded = (Origin, Arc<AlertData>, u64);

struct Forward {
    tx: Option<mpsc::Sender<Forwarded>>,
    stop: Option<(Stop, Cut)>,
    /// The plan's account names.
    compiled: Arc<Compiled>,
}

/// What goes to delivery for an alert.
fn forwarded(a: &Alert<'_>, compiled: &Compiled) -> Forwarded {
    let account = compiled.plan.account_name(a.fields.account.as_deref());
    let data = AlertData::new(
        a.rule.config.name.clone().unwrap_or_default(),
        a.rule.config.description.clone().unwrap_or_default(),
        a.record.to_json(),
        a.annotation.map(|v| v.value()),
        format!("{}#{}", a.source, a.position.index),
    )
    .identified_by(&a.rule.identity)
    .with_extra(Extra::new(&a.rule.config.meta, account));
    (Origin::Rule(a.rule_index), Arc::new(data), a.position.index)
}

/// What goes to delivery for a correlation alert: the correlation's title
/// and description, and as the record the `correlation` object with the
/// fields of the window's last record (its account and region route it;
/// its eventID makes the alert id).
fn forwarded_correlation(c: &CorrelationAlert, compiled: &Compiled) -> Forwarded {
    let plan = &compiled.plan;
    let config = &plan.correlations[c.correlation];
    let f = &c.last.fields;
    let record = serde_json::json!({
        "correlation": c.to_json(plan),
        "eventTime": f.event_time,
        "eventSource": f.event_source,
        "eventName": f.event_name,
        "eventID": f.event_id,
        "actor": f.actor(),
        "sourceIPAddress": f.source_ip,
        "recipientAccountId": f.account,
        "awsRegion": f.region,
    });
    let account = plan.account_name(f.account.as_deref());
    let description = config
        .correlation
        .description
        .clone()
        .unwrap_or_else(|| c.detail(plan));
    let data = AlertData::new(
        config.display_name(),
        description,
        record,
        None,
        format!("{}#{}", c.last.source, c.last.index),
    )
    .with_extra(Extra::new(&config.meta, account));
    (
        Origin::Correlation(c.correlation),
        Arc::new(data),
        c.last.index,
    )
}

impl AlertSink for Forward {
    fn alert(&mut self, a: &Alert<'_>) -> io::Result<()> {
        if let Some((stop, cut)) = &self.stop {
            if stop.is_set() {
                // Stops the scan: this record's alerts are not sent.
                cut.at(a.position.index);
                return Err(deadline::stopped_error());
            }
        }
        if let Some(tx) = &self.tx {
            // A closed channel means the async side gave up; the scan
            // still finishes and counts.
            let _ = tx.blocking_send(forwarded(a, &self.compiled));
        }
        Ok(())
    }

    fn correlation(&mut self, _plan: &Plan, c: &CorrelationAlert) -> io::Result<()> {
        if let Some(tx) = &self.tx {
            let _ = tx.blocking_send(forwarded_correlation(c, &self.compiled));
        }
        Ok(())
    }
}

/// A reader that fails once the stop is set.
struct StopRead<R> {
    inner: R,
    stop: Stop,
}

impl<R: Read> Read for StopRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stop.is_set() {
            return Err(deadline::stopped_error());
        }
        self.inner.read(buf)
    }
}

/// Scan `read` (named `label`) with `compiled`, delivering and printing
/// its alerts. Must be called inside a Tokio runtime.
pub async fn scan(
    compiled: Arc<Compiled>,
    label: String,
    read: impl Read + Send + 'static,
    outputs: Outputs,
) -> io::Result<ScanReport> {
    scan_until(compiled, label, read, outputs, None).await
}

/// [`scan`], stopping early when `until` says so: once its stop is set no
/// more records are read and no more sends started (alerts of records
/// evaluated after that are not sent, and the report says from which
/// record on), and sends still in flight at its `stop_sends` are abandoned
/// and logged as `undelivered_alert`. Finished sends are reaped as they
/// finish, so memory is bounded by the sends in flight.
pub async fn scan_until(
    compiled: Arc<Compiled>,
    label: String,
    read: impl Read + Send + 'static,
    outputs: Outputs,
    until: Option<Until>,
) -> io::Result<ScanReport> {
    let started = Instant::now();
    let max_record = tattletail_runtime::reader::max_record_size_from_env()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let forward = outputs.deliver.is_some() || outputs.log_matches;
    let (tx, mut rx) = mpsc::channel::<Forwarded>(CHANNEL_ALERTS);
    let cut = Cut::new();
    let mut sink = Forward {
        tx: forward.then_some(tx),
        stop: until.as_ref().map(|u| (u.stop.clone(), cut.clone())),
        compiled: compiled.clone(),
    };
    let read: Box<dyn Read + Send> = match &until {
        Some(u) => Box::new(StopRead {
            inner: read,
            stop: u.stop.clone(),
        }),
        None => Box::new(read),
    };
    let plan_for_scan = compiled.clone();
    let no_index = outputs.no_index;
    let workers = outputs.workers;
    let mut scan = tokio::task::spawn_blocking(move || {
        let plan = &plan_for_scan.plan;
        let scanner = if no_index {
            Scanner::with_matcher(Matcher::naive(plan))
        } else {
            Scanner::new(plan)
        };
        let mut scanner = scanner
            .with_workers(workers)
            .with_max_record_size(max_record);
        let outcome = scanner.scan(&label, read, &mut sink);
        drop(sink); // closes the channel
        (scanner.take_stats(), outcome)
    });
    let plan = &compiled.plan;
    let stop = until.as_ref().map(|u| u.stop.clone());
    let stop_sends = until.as_ref().map(|u| u.stop_sends);
    let LoopEnd {
        mut sends,
        stopping,
        mut abandoned,
        correlations,
    } = deliver_loop(&compiled, &outputs, &mut rx, until.as_ref(), &cut).await;
    let (stats, outcome) = if abandoned {
        let stats = Stats::new(plan.rules.len());
        (
            stats,
            Ok(InputOutcome::Failed(Failure::from_io(
                deadline::stopped_error(),
            ))),
        )
    } else {
        let joined = match stop_sends {
            Some(at) if stopping => tokio::time::timeout_at(at, &mut scan).await.ok(),
            _ => Some((&mut scan).await),
        };
        match joined {
            Some(j) => j.map_err(io::Error::other)?,
            None => {
                abandoned = true;
                let stats = Stats::new(plan.rules.len());
                (
                    stats,
                    Ok(InputOutcome::Failed(Failure::from_io(
                        deadline::stopped_error(),
                    ))),
                )
            }
        }
    };
    let (delivered, undelivered) = sends.finish(stop_sends).await;
    let (busy, skipped) = (sends.busy, sends.skipped);
    // Stopped: the stop is set and the input was not handled to its end
    // (alerts cut, or the scan ended early because of it).
    let stop_set = stop.as_ref().is_some_and(Stop::is_set);
    let finished = matches!(
        outcome,
        Ok(InputOutcome::Scanned | InputOutcome::Skipped(_))
    );
    let stopped = (stop_set && (abandoned || cut.get().is_some() || !finished)).then(|| Stopped {
        next_record: match (cut.get(), abandoned) {
            (Some(c), _) => Some(c.min(stats.records)),
            (None, false) => Some(stats.records),
            (None, true) => None,
        },
    });
    let outcome = match outcome {
        Ok(o) => o,
        Err(_) if stopped.is_some() => {
            InputOutcome::Failed(Failure::from_io(deadline::stopped_error()))
        }
        Err(e) => return Err(e),
    };
    Ok(ScanReport {
        stats,
        outcome,
        delivered,
        undelivered,
        busy,
        skipped,
        correlations,
        duration: started.elapsed(),
        stopped,
    })
}

/// How the delivery loop ended.
struct LoopEnd {
    /// Sends started and not yet reaped.
    sends: Sends,
    /// The stop was set.
    stopping: bool,
    /// The scan did not come to a stop in time and was left behind.
    abandoned: bool,
    /// Correlations evaluated on the state store.
    correlations: CorrelationStats,
}

/// The async side of a scan: every alert that comes through `rx` is
/// logged (`log_matches`) and handed to delivery (`deliver`) until the
/// scan closes the channel, reaping finished sends as it goes. With
/// `until`, stops as [`scan_until`] says, noting in `cut` the first
/// record whose alerts were not handed to delivery.
async fn deliver_loop(
    compiled: &Compiled,
    outputs: &Outputs,
    rx: &mut mpsc::Receiver<Forwarded>,
    until: Option<&Until>,
    cut: &Cut,
) -> LoopEnd {
    let plan = &compiled.plan;
    let stop = until.map(|u| u.stop.clone());
    let stop_sends = until.map(|u| u.stop_sends);
    // Never resolves when there is no stop.
    let stopped = || async {
        match &stop {
            Some(s) => s.wait().await,
            None => std::future::pending().await,
        }
    };
    let give_up = || async {
        match stop_sends {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    let mut sends = Sends::new();
    let mut stopping = false;
    let mut abandoned = false;
    let mut gate = outputs
        .deliver
        .as_ref()
        .and_then(|d| d.noise())
        .map(|n| n.gate());
    let feeds = if outputs.correlate && gate.is_some() {
        noise::correlate::feeds(plan)
    } else {
        vec![Vec::new(); plan.rules.len()]
    };
    let mut correlations = CorrelationStats {
        alerts: vec![0; plan.correlations.len()],
        withheld: vec![0; plan.rules.len()],
        ..CorrelationStats::default()
    };
    loop {
        tokio::select! {
            biased;
            () = stopped(), if !stopping => stopping = true,
            // The scan has not come to a stop in time (a long evaluation):
            // leave it behind.
            () = give_up(), if stopping => {
                abandoned = true;
                break;
            }
            true = sends.reap_next(), if sends.in_flight() > 0 => {}
            next = rx.recv() => {
                let Some((origin, alert, record)) = next else { break };
                if stopping {
                    cut.at(record);
                    continue;
                }
                let mut items = vec![(origin, alert)];
                // Correlations on the state store: the rule's match feeds
                // them; what they complete is delivered after it.
                if let (Origin::Rule(r), Some(g)) = (origin, gate.as_mut()) {
                    if !feeds[r].is_empty() {
                        let (fired, failed) = g.correlate(plan, &feeds[r], &items[0].1, &mut correlations).await;
                        if plan.rules[r].config.meta.correlation_only && !failed {
                            correlations.withheld[r] += 1;
                            items.clear();
                        }
                        for c in &fired {
                            let (o, a, _) = forwarded_correlation(c, compiled);
                            items.push((o, a));
                        }
                    }
                }
                for (origin, alert) in items {
                    let interrupted = tokio::select! {
                        biased;
                        () = stopped() => true,
                        () = handle(plan, outputs, gate.as_mut(), origin, alert, &mut sends) => false,
                    };
                    if interrupted {
                        stopping = true;
                        cut.at(record);
                        break;
                    }
                }
            }
        }
    }
    if let (Some(g), Some(d)) = (gate.as_mut(), &outputs.deliver) {
        if !abandoned {
            let jobs = g.flush(plan).await;
            deliver_follow_ups(d, jobs, &mut sends).await;
        }
    }
    LoopEnd {
        sends,
        stopping,
        abandoned,
        correlations,
    }
}

/// One alert through logging, dry-run, noise control and delivery.
async fn handle(
    plan: &Plan,
    outputs: &Outputs,
    gate: Option<&mut Gate>,
    origin: Origin,
    alert: Arc<AlertData>,
    sends: &mut Sends,
) {
    let (name, mode) = match origin {
        Origin::Rule(r) => {
            let c = &plan.rules[r].config;
            (c.display_name(), c.meta.mode)
        }
        Origin::Correlation(i) => {
            let c = &plan.correlations[i];
            (c.display_name(), c.meta.mode)
        }
    };
    if outputs.log_matches {
        info!(
            message = "rule_matched",
            rule = name.as_str(),
            alert_id = alert.alert_id.as_str(),
            event_id = alert.event_id().unwrap_or(""),
            event_name = alert
                .record
                .get("eventName")
                .and_then(|v| v.as_str())
                .unwrap_or(""),
            origin = alert.origin.as_str()
        );
    }
    if mode == Mode::DryRun {
        // Evaluated, counted and logged like any alert; never sent.
        info!(
            message = "dry_run_alert",
            rule = name.as_str(),
            alert_id = alert.alert_id.as_str(),
            event_id = alert.event_id().unwrap_or(""),
            origin = alert.origin.as_str()
        );
        return;
    }
    let Some(d) = &outputs.deliver else { return };
    let targets = match origin {
        Origin::Rule(r) => plan.targets(r, alert.account_id(), alert.region()),
        Origin::Correlation(i) => plan.correlation_targets(i, alert.account_id(), alert.region()),
    };
    let Some(g) = gate else {
        d.dispatch(alert, &targets, sends).await;
        return;
    };
    let rule = match origin {
        Origin::Rule(r) => Some(r),
        Origin::Correlation(_) => None,
    };
    if let Some(r) = rule {
        match g.admit(plan, r, &alert, &targets).await {
            Decision::Send => {}
            Decision::Held => {
                info!(
                    message = "alert_deduplicated",
                    rule = name.as_str(),
                    alert_id = alert.alert_id.as_str(),
                    event_id = alert.event_id().unwrap_or("")
                );
                return;
            }
            Decision::Below => return,
        }
    }
    let noise = d.noise().cloned();
    for dest in targets {
        // A send already made (a retried file) neither starts a cooldown
        // nor takes a token; its claim skips it below anyway.
        let cools = rule.is_some_and(|r| plan.rules[r].config.noise.cooldown.is_some());
        let done = match &noise {
            Some(n) if n.claims() && (cools || dest.rate_limit.is_some()) => {
                n.is_done(&alert.alert_id, &dest.id).await
            }
            _ => false,
        };
        if done {
            d.dispatch_to(Message::Alert(alert.clone()), dest, None, sends)
                .await;
            continue;
        }
        if let Some(r) = rule {
            if !g.cooldown(plan, r, &alert, dest).await {
                info!(
                    message = "alert_cooled_down",
                    rule = name.as_str(),
                    alert_id = alert.alert_id.as_str(),
                    destination = dest.id.as_str()
                );
                continue;
            }
        }
        if !g.rate(plan, rule, &alert, dest) {
            continue;
        }
        d.dispatch_to(Message::Alert(alert.clone()), dest, None, sends)
            .await;
    }
}

/// What sending the due follow-ups did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Follow-ups sent (and acknowledged).
    pub follow_ups: u64,
    /// Sends that succeeded.
    pub delivered: u64,
    /// Sends that failed after every attempt (logged in full).
    pub undelivered: u64,
    /// Sends not made: already made.
    pub skipped: u64,
    /// Sends not made: another sender holds them; they stay due.
    pub busy: u64,
}

/// Send the follow-ups that are due (see `noise::sweep`): one page of them
/// (every page when `all`), each acknowledged once its sends are done; a
/// page whose sends were cut off at `until`, or held by another sender,
/// stays due for the next sweep.
pub async fn send_due(
    d: &Deliverer,
    plan: &Plan,
    all: bool,
    until: Option<tokio::time::Instant>,
) -> SweepReport {
    let mut report = SweepReport::default();
    let Some(noise) = d.noise() else {
        return report;
    };
    // The bound only guards against a store answering the same page forever.
    for _ in 0..1_000 {
        let due = noise::sweep(noise, plan, all).await;
        if due.is_empty() {
            break;
        }
        let mut sends = Sends::new();
        let jobs = due.iter().map(|d| d.job.clone()).collect();
        deliver_follow_ups(d, jobs, &mut sends).await;
        let (delivered, undelivered) = sends.finish(until).await;
        report.delivered += delivered;
        report.undelivered += undelivered;
        report.skipped += sends.skipped;
        report.busy += sends.busy;
        if sends.abandoned > 0 || sends.busy > 0 {
            break;
        }
        for x in &due {
            noise::acknowledge(noise, x).await;
        }
        report.follow_ups += due.len() as u64;
        if !all {
            break;
        }
    }
    report
}

/// Send follow-ups, each into its alert's Slack thread where known.
pub async fn deliver_follow_ups(d: &Deliverer, jobs: Vec<FollowUpJob>, sends: &mut Sends) {
    let Some(noise) = d.noise() else { return };
    for job in jobs {
        info!(
            message = "follow_up",
            rule = job.follow_up.rule.as_str(),
            alert_id = job.follow_up.alert_id.as_str(),
            reason = job.follow_up.reason.kind(),
            count = job.follow_up.count,
            first_alert_id = job.follow_up.first_alert_id.as_deref().unwrap_or("")
        );
        for dest in &job.destinations {
            let thread = match (&job.follow_up.first_alert_id, &dest.kind) {
                (Some(first), DestinationKind::SlackApp { .. }) => {
                    noise.thread_of(first, &dest.id).await
                }
                _ => None,
            };
            d.dispatch_to(
                Message::FollowUp(job.follow_up.clone()),
                dest,
                thread,
                sends,
            )
            .await;
        }
    }
}

/// Delivery beside another sink (the CLI's printer): [`Delivery::sink`]
/// takes alerts on the scanning thread (which must not be a Tokio worker)
/// and [`deliver_loop`] delivers them on `runtime`, exactly as the
/// Lambda's [`scan_until`] does, without a deadline.
pub struct Delivery {
    tx: mpsc::Sender<Forwarded>,
    compiled: Arc<Compiled>,
    task: tokio::task::JoinHandle<Delivered>,
    runtime: tokio::runtime::Handle,
}

/// What a [`Delivery`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Sends that succeeded (alerts and follow-ups).
    pub delivered: u64,
    /// Sends that failed after every attempt.
    pub undelivered: u64,
    /// Sends not made: already made (an earlier run, with a state table).
    pub skipped: u64,
    /// Sends not made: another sender holds their claim.
    pub busy: u64,
    /// Noise control's counts over the run.
    pub noise: CounterValues,
}

impl Delivery {
    /// Start delivering `compiled`'s alerts with `deliverer`. At the end
    /// ([`Delivery::finish`]) the noise-control windows are swept: all of
    /// them with the in-memory store (the run is the whole of their life),
    /// the due ones with a state table (the others stay for a later run or
    /// the Lambda's sweep).
    pub fn start(
        runtime: tokio::runtime::Handle,
        compiled: Arc<Compiled>,
        deliverer: Arc<Deliverer>,
    ) -> Delivery {
        let (tx, mut rx) = mpsc::channel::<Forwarded>(CHANNEL_ALERTS);
        let for_sink = compiled.clone();
        let task = runtime.spawn(async move {
            let before = deliverer.noise().map(|n| n.counters.snapshot());
            let outputs = Outputs {
                deliver: Some(deliverer.clone()),
                ..Outputs::default()
            };
            let end = deliver_loop(&compiled, &outputs, &mut rx, None, &Cut::new()).await;
            let mut sends = end.sends;
            let (mut delivered, mut undelivered) = sends.finish(None).await;
            let (mut skipped, mut busy) = (sends.skipped, sends.busy);
            // After the alerts' sends (their Slack threads are known):
            // every window's follow-up without a table (the run is their
            // whole life), the due ones with a table.
            if let Some(n) = deliverer.noise() {
                let all = !n.is_shared();
                let swept = send_due(&deliverer, &compiled.plan, all, None).await;
                delivered += swept.delivered;
                undelivered += swept.undelivered;
                skipped += swept.skipped;
                busy += swept.busy;
            }
            let noise = match (deliverer.noise(), before) {
                (Some(n), Some(b)) => n.counters.snapshot().since(&b),
                _ => CounterValues::default(),
            };
            Delivered {
                delivered,
                undelivered,
                skipped,
                busy,
                noise,
            }
        });
        Delivery {
            tx,
            compiled: for_sink,
            task,
            runtime,
        }
    }

    /// The sink that hands alerts to delivery.
    pub fn sink(&self) -> impl AlertSink + Send + 'static {
        Forward {
            tx: Some(self.tx.clone()),
            stop: None,
            compiled: self.compiled.clone(),
        }
    }

    /// Wait for every send to finish (and the final sweep).
    pub fn finish(self) -> Delivered {
        let Delivery {
            tx, task, runtime, ..
        } = self;
        drop(tx);
        runtime.block_on(task).unwrap_or_default()
    }
}
