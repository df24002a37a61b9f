//! One input through the engine and out to the destinations: the runtime's
//! blocking one-pass scan runs on a blocking thread, its alerts cross a
//! small bounded channel to the async side, which delivers them. Shared by
//! the Lambda handler and `tattletail scan` (S3 inputs and `--send`).

use std::io::{self, Read};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tattletail_compiler::plan::Compiled;
use tattletail_runtime::scan::{Alert, AlertSink, InputOutcome};
use tattletail_runtime::{Matcher, Scanner, Stats};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::info;

use crate::deliver::{self, Deliverer};
use crate::payload::AlertData;

/// Alerts buffered between the scan and the delivery.
const CHANNEL_ALERTS: usize = 64;

/// A printer shared by concurrent scans (the CLI's stdout).
pub type Printer = Arc<Mutex<Box<dyn AlertSink + Send>>>;

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
    /// Wall time, scan and delivery.
    pub duration: Duration,
}

/// What to do with alerts besides counting them.
#[derive(Clone, Default)]
pub struct Outputs {
    /// Deliver to the rules' destinations.
    pub deliver: Option<Arc<Deliverer>>,
    /// Print (CLI).
    pub printer: Option<Printer>,
    /// Log one `rule_matched` line per alert (Lambda).
    pub log_matches: bool,
    /// Run every rule on every record (no dispatch index; for checking).
    pub no_index: bool,
    /// Threads evaluating records (0 or 1: the scanning thread alone).
    pub workers: usize,
}

struct Forward {
    tx: Option<mpsc::Sender<(usize, Arc<AlertData>)>>,
    printer: Option<Printer>,
}

impl AlertSink for Forward {
    fn alert(&mut self, a: &Alert<'_>) -> io::Result<()> {
        if let Some(p) = &self.printer {
            let mut p = p
                .lock()
                .map_err(|_| io::Error::other("printer lock poisoned"))?;
            p.alert(a)?;
        }
        if let Some(tx) = &self.tx {
            let data = AlertData::new(
                a.rule.config.name.clone().unwrap_or_default(),
                a.rule.config.description.clone().unwrap_or_default(),
                a.record.to_json(),
                a.annotation.map(|v| v.value()),
                format!("{}#{}", a.source, a.position.index),
            );
            // A closed channel means the async side gave up; the scan
            // still finishes and counts.
            let _ = tx.blocking_send((a.rule.config.index, Arc::new(data)));
        }
        Ok(())
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
    let started = Instant::now();
    let max_record = crate::limits::max_record_size()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let forward = outputs.deliver.is_some() || outputs.log_matches;
    let (tx, mut rx) = mpsc::channel(CHANNEL_ALERTS);
    let mut sink = Forward {
        tx: forward.then_some(tx),
        printer: outputs.printer.clone(),
    };
    let plan_for_scan = compiled.clone();
    let no_index = outputs.no_index;
    let workers = outputs.workers;
    let scan = tokio::task::spawn_blocking(move || {
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
    let mut tasks = JoinSet::new();
    while let Some((rule, alert)) = rx.recv().await {
        let config = &plan.rules[rule].config;
        if outputs.log_matches {
            info!(
                message = "rule_matched",
                rule = config.display_name().as_str(),
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
        if let Some(d) = &outputs.deliver {
            let targets = deliver::rule_targets(&plan.destinations, &config.destinations);
            d.dispatch(alert, &targets, &mut tasks).await;
        }
    }
    let (stats, outcome) = scan.await.map_err(io::Error::other)?;
    let (delivered, undelivered) = deliver::drain(&mut tasks).await;
    Ok(ScanReport {
        stats,
        outcome: outcome?,
        delivered,
        undelivered,
        duration: started.elapsed(),
    })
}
