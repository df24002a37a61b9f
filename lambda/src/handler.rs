//! The Lambda handler: decode the event, get the (cached) plan, scan each
//! object once with streaming reads, deliver alerts, log one summary line
//! per object and per invocation, emit CloudWatch metrics, and answer in
//! the shape the trigger expects.
//!
//! Failure policy. A unit (SQS message, Batch task, notification) fails
//! when one of its objects cannot be fetched or read to the end, or, with
//! `TATTLETAIL_FAIL_ON_UNDELIVERED=true`, when an alert could not be
//! delivered. Failed SQS messages are returned in `batchItemFailures`;
//! Batch tasks get `TemporaryFailure` (retry may help) or
//! `PermanentFailure`; a direct S3/SNS/EventBridge invocation returns an
//! error so Lambda's retry and DLQ take over. Skipped objects (digests,
//! 0-byte objects, non-CloudTrail JSON) succeed with one log line each.
//!
//! Deadline. The invocation's deadline, less a margin (see `deadline`),
//! stops the scan: no more records are read and no more sends started,
//! sends in flight get part of the margin to finish, and the object gets
//! an `object_incomplete` line saying from which record on it was not
//! handled (objects not started get one too, at record 0). The summary
//! line and the metrics are written as always, and the units not finished
//! fail with a temporary failure so that they are retried.
//!
//! Errors. An invocation that fails as a whole returns a [`HandlerError`]:
//! its variant says why (the event, the config, the deadline, or failed
//! notifications, temporary or permanent) and so whether a retry may help;
//! its `Display` is the message Lambda records.

use std::collections::BTreeMap;

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use serde_json::{json, Value};
use tattletail_compiler::config::Mode;
use tattletail_compiler::plan::{Compiled, Plan};
use tattletail_runtime::repair::Repairs;
use tattletail_runtime::scan::InputOutcome;
use tattletail_runtime::Stats;
use tokio::sync::Mutex;
use tracing::{error, info, warn};

use crate::aws::{Clients, Needs, Settings, SetupError};
use crate::config_source::{ConfigCache, ConfigError, ConfigLocation};
use crate::deadline::{Cutoff, Stop};
use crate::deliver::Deliverer;
use crate::event::{self, NotificationsFailed, ObjectRef, UnitResult, Work};
use crate::logging::{self, Metric};
use crate::noise::{Clock, CounterValues, NoiseControl};
use crate::pipeline::{self, Outputs, Until};
use crate::s3::{self, FetchError};
use crate::state::Store;

/// Why an invocation failed as a whole. SQS and Batch Operations
/// invocations report failed units in their answer instead; they fail
/// as a whole only for an invalid event or config.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The payload is not an event Tattletail handles (see
    /// [`event::parse`]); a retry will not help.
    #[error("{0}")]
    InvalidEvent(String),
    /// There is no usable config: unreadable (a retry may help), too large
    /// or invalid (fix the config). Nothing was scanned.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The invocation deadline came before every notification was handled
    /// (`object_incomplete` lines say from which record on); a retry
    /// handles the rest.
    #[error("{0}")]
    Incomplete(NotificationsFailed),
    /// Notifications failed and a retry may help (throttling, 5xx, network,
    /// undelivered alerts with `TATTLETAIL_FAIL_ON_UNDELIVERED`).
    #[error("{0}")]
    Retryable(NotificationsFailed),
    /// Notifications failed for good (missing object, access denied,
    /// corrupt object, invalid notification).
    #[error("{0}")]
    Permanent(NotificationsFailed),
}

impl HandlerError {
    /// The failed notifications of a notification invocation, classified:
    /// `incomplete` when objects were stopped by the deadline.
    fn units(failed: NotificationsFailed, incomplete: bool) -> HandlerError {
        if incomplete {
            HandlerError::Incomplete(failed)
        } else if failed.retryable() {
            HandlerError::Retryable(failed)
        } else {
            HandlerError::Permanent(failed)
        }
    }

    /// May invoking again with the same event help?
    pub fn is_retryable(&self) -> bool {
        match self {
            HandlerError::InvalidEvent(_) | HandlerError::Permanent(_) => false,
            HandlerError::Config(e) => matches!(e, ConfigError::Unreadable { .. }),
            HandlerError::Incomplete(_) | HandlerError::Retryable(_) => true,
        }
    }

    /// The Lambda error type (`errorType` of the invocation's error, the
    /// DLQ's `ErrorCode`): `Tattletail.` and the kind of failure.
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::InvalidEvent(_) => "Tattletail.InvalidEvent",
            HandlerError::Config(ConfigError::Unreadable { .. }) => "Tattletail.ConfigUnreadable",
            HandlerError::Config(_) => "Tattletail.ConfigInvalid",
            HandlerError::Incomplete(_) => "Tattletail.DeadlineReached",
            HandlerError::Retryable(_) => "Tattletail.TemporaryFailure",
            HandlerError::Permanent(_) => "Tattletail.PermanentFailure",
        }
    }
}

/// Everything kept across warm invocations.
pub struct App {
    /// For the trail objects and the config object.
    s3: aws_sdk_s3::Client,
    settings: Settings,
    deliverer: Arc<Deliverer>,
    noise: Arc<NoiseControl>,
    config: Mutex<ConfigCache>,
}

/// Totals over objects.
#[derive(Default)]
struct Totals {
    scanned: u64,
    skipped: u64,
    failed: u64,
    incomplete: u64,
    records: u64,
    bad_records: u64,
    bytes: u64,
    delivered: u64,
    undelivered: u64,
    /// Sends not made: another invocation holds their claim.
    busy: u64,
    /// Sends not made: already sent.
    sends_skipped: u64,
    /// Correlation alerts (on the state table).
    correlation_alerts: u64,
    /// Alerts of live rules (sent).
    alerts: BTreeMap<String, u64>,
    /// Alerts of `mode = "dry_run"` rules (counted and logged, never sent).
    dry_run_alerts: BTreeMap<String, u64>,
    /// Alerts suppressed, by exception name.
    suppressed: BTreeMap<String, u64>,
    rule_errors: BTreeMap<String, u64>,
    budget_errors: BTreeMap<String, u64>,
    quarantined: u64,
}

impl Totals {
    fn add(&mut self, stats: &Stats, plan: &Plan) {
        self.records += stats.records;
        self.bad_records += stats.bad_records;
        self.bytes += stats.bytes_read;
        // Live and dry-run rules' alerts are counted apart.
        for (rule, &n) in plan.rules.iter().zip(&stats.alerts) {
            if n > 0 {
                let counts = match rule.config.meta.mode {
                    Mode::Live => &mut self.alerts,
                    Mode::DryRun => &mut self.dry_run_alerts,
                };
                *counts.entry(rule.config.display_name()).or_default() += n;
            }
        }
        for (i, &n) in stats.suppressed.iter().enumerate() {
            if n > 0 {
                let name = plan.exceptions[i].config.name.clone();
                *self.suppressed.entry(name).or_default() += n;
            }
        }
        for (name, n) in by_rule(&stats.rule_errors, plan) {
            *self.rule_errors.entry(name).or_default() += n;
        }
        for (name, n) in by_rule(&stats.budget_errors, plan) {
            *self.budget_errors.entry(name).or_default() += n;
        }
        self.quarantined += stats.quarantined.len() as u64;
    }

    fn alert_count(&self) -> u64 {
        self.alerts.values().sum()
    }
}

/// Per-rule counts of one scan, by rule name, non-zero only.
fn by_rule(counts: &[u64], plan: &Plan) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for (rule, &n) in plan.rules.iter().zip(counts) {
        if n > 0 {
            *m.entry(rule.config.display_name()).or_default() += n;
        }
    }
    m
}

fn json_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

enum ObjectResult {
    Done {
        undelivered: u64,
        busy: u64,
    },
    Skipped,
    Failed(FetchError),
    /// Stopped by the deadline; the message says where.
    Incomplete(String),
}

/// What `object_incomplete` says after the position.
const INCOMPLETE_HELP: &str = "the invocation deadline came near (TATTLETAIL_DEADLINE_MARGIN_MS): \
the rest of the object was not scanned; the object fails so that it is retried, and the retry sends \
again the alerts of the records before next_record (same alert_id)";

impl App {
    /// Build the clients and settings from the environment (cold start).
    /// Every AWS client is built: the config, and so the destinations, may
    /// change between invocations.
    pub async fn from_env() -> Result<App, SetupError> {
        let settings = Settings::from_env(|k| std::env::var(k).ok())?;
        // Refuse an unusable record size limit at start, not per object.
        tattletail_runtime::reader::max_record_size_from_env()
            .map_err(|e| SetupError::Settings { problems: vec![e] })?;
        let clients = Clients::new(&settings, Needs::all()).await?;
        let location = ConfigLocation::from_env(|k| std::env::var(k).ok());
        info!(
            message = "cold_start",
            version = env!("CARGO_PKG_VERSION"),
            config = location.name().as_str(),
            fail_on_undelivered = settings.fail_on_undelivered,
            state_table = settings.state_table.as_deref().unwrap_or(""),
            send_attempts = settings.attempts as u64,
            send_concurrency = settings.concurrency as u64,
            deadline_margin_ms = settings.deadline_margin.as_millis() as u64
        );
        let stateful = settings.state_table.is_some();
        let store = match &settings.state_table {
            Some(table) => Store::from_table(&clients, table)?,
            None => Store::memory(),
        };
        let noise = Arc::new(NoiseControl::new(
            store,
            Clock::system(),
            stateful,
            settings.claim_lease.as_millis() as i64,
        ));
        Ok(App {
            s3: clients.s3()?.clone(),
            deliverer: Arc::new(
                Deliverer::new(clients, settings.clone()).with_noise(noise.clone()),
            ),
            noise,
            settings,
            config: Mutex::new(ConfigCache::new(location, stateful)),
        })
    }

    /// Handle one invocation, finishing before `deadline` (the Lambda
    /// invocation deadline; `None`: no deadline).
    pub async fn handle(
        &self,
        payload: Value,
        request_id: &str,
        deadline: Option<SystemTime>,
    ) -> Result<Value, HandlerError> {
        logging::set_request_id(request_id);
        let started = Instant::now();
        let stop = Stop::new();
        let cutoff =
            deadline.map(|d| Cutoff::new(d, self.settings.deadline_margin, SystemTime::now()));
        if let Some(c) = cutoff.filter(|c| c.shrunk) {
            warn!(
                message = "deadline_margin_shrunk",
                margin_ms = c.margin.as_millis() as u64,
                setting_ms = self.settings.deadline_margin.as_millis() as u64,
                help = "the invocation had less than twice TATTLETAIL_DEADLINE_MARGIN_MS left: raise the function timeout or lower the margin"
            );
        }
        let timer = cutoff.map(|c| stop.trigger_at(c.stop_scan));
        let answer = self.handle_until(payload, started, &stop, cutoff).await;
        if let Some(t) = timer {
            t.abort();
        }
        logging::set_request_id("");
        answer
    }

    async fn handle_until(
        &self,
        payload: Value,
        started: Instant,
        stop: &Stop,
        cutoff: Option<Cutoff>,
    ) -> Result<Value, HandlerError> {
        let invocation = event::parse(&payload).map_err(|e| {
            error!(message = "invalid_event", error = e.as_str());
            HandlerError::InvalidEvent(e)
        })?;
        let compiled = {
            let mut cache = self.config.lock().await;
            cache.get(&self.s3).await
        };
        let compiled = compiled.inspect_err(|e| {
            error!(message = "config_invalid", error = e.to_string().as_str());
        })?;
        let now = tattletail_compiler::date::now();
        for e in compiled.plan.exceptions.iter().filter(|e| e.expired(now)) {
            warn!(
                message = "exception_expired",
                exception = e.config.name.as_str(),
                expires = e.config.expires.as_ref().map_or("", |x| x.1.as_str()),
                help = "it no longer suppresses anything: remove it, or set a later `expires`"
            );
        }
        let mut totals = Totals::default();
        let noise_before = self.noise.counters.snapshot();
        let mut results = Vec::with_capacity(invocation.units.len());
        for unit in &invocation.units {
            let result = match &unit.work {
                Work::Ignore(why) => {
                    info!(message = "event_ignored", reason = why.as_str());
                    UnitResult::Succeeded(format!("ignored: {why}"))
                }
                // Every invocation ends with a sweep (below); this one
                // only does that.
                Work::Sweep => UnitResult::Succeeded("swept".into()),
                Work::Records(r) => {
                    let until = cutoff.map(|c| Until {
                        stop: stop.clone(),
                        stop_sends: c.stop_sends,
                    });
                    self.records(&compiled, r, until, &mut totals).await
                }
                Work::Invalid(why) => {
                    error!(
                        message = "event_invalid",
                        unit = unit.id.as_deref().unwrap_or(""),
                        error = why.as_str()
                    );
                    UnitResult::PermanentFailure(why.clone())
                }
                Work::Objects(objects) => {
                    let mut result = UnitResult::Succeeded(String::new());
                    let mut notes = Vec::new();
                    for obj in objects {
                        let until = cutoff.map(|c| Until {
                            stop: stop.clone(),
                            stop_sends: c.stop_sends,
                        });
                        match self.object(&compiled, obj, until, &mut totals).await {
                            ObjectResult::Done { undelivered, busy } => {
                                if let Some(failed) =
                                    self.sends_failed(undelivered, busy, &obj.url())
                                {
                                    result = failed;
                                }
                                notes.push(format!("scanned {}", obj.url()));
                            }
                            ObjectResult::Skipped => notes.push(format!("skipped {}", obj.url())),
                            ObjectResult::Failed(FetchError::Temporary(m)) => {
                                if !matches!(result, UnitResult::PermanentFailure(_)) {
                                    result = UnitResult::TemporaryFailure(m);
                                }
                            }
                            ObjectResult::Failed(FetchError::Permanent(m)) => {
                                result = UnitResult::PermanentFailure(m);
                            }
                            ObjectResult::Incomplete(m) => {
                                if !matches!(result, UnitResult::PermanentFailure(_)) {
                                    result = UnitResult::TemporaryFailure(m);
                                }
                            }
                        }
                    }
                    match result {
                        UnitResult::Succeeded(_) => UnitResult::Succeeded(notes.join("; ")),
                        other => other,
                    }
                }
            };
            results.push(result);
        }
        // Follow-ups of noise-control windows whose time has come, unless
        // the deadline is already here (the next invocation sweeps).
        if !stop.is_set() {
            let swept = pipeline::send_due(
                &self.deliverer,
                &compiled.plan,
                false,
                cutoff.map(|c| c.stop_sends),
            )
            .await;
            totals.delivered += swept.delivered;
            totals.undelivered += swept.undelivered;
            totals.busy += swept.busy;
            totals.sends_skipped += swept.skipped;
        }
        let noise_counts = self.noise.counters.snapshot().since(&noise_before);
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        let failed_units = results.iter().filter(|r| r.failed()).count() as u64;
        let summary = json!({
            "objects_scanned": totals.scanned,
            "objects_skipped": totals.skipped,
            "objects_failed": totals.failed,
            "objects_incomplete": totals.incomplete,
            "records": totals.records,
            "alerts": totals.alert_count(),
            "dry_run_alerts": totals.dry_run_alerts.values().sum::<u64>(),
            "suppressed_alerts": totals.suppressed.values().sum::<u64>(),
            "alerts_delivered": totals.delivered,
            "alerts_undelivered": totals.undelivered,
            "alerts_deduplicated": noise_counts.deduplicated,
            "alerts_throttled": noise_counts.throttled,
            "sends_skipped_already_done": totals.sends_skipped,
        });
        info!(
            message = "invocation_complete",
            units = invocation.units.len() as u64,
            failed_units = failed_units,
            objects_scanned = totals.scanned,
            objects_skipped = totals.skipped,
            objects_failed = totals.failed,
            objects_incomplete = totals.incomplete,
            deadline_reached = stop.is_set(),
            records = totals.records,
            record_count = totals.records,
            alerts = totals.alert_count(),
            match_count = totals.alert_count(),
            alerts_by_rule_json = json_text(&totals.alerts).as_str(),
            dry_run_alerts_by_rule_json = json_text(&totals.dry_run_alerts).as_str(),
            suppressed_by_exception_json = json_text(&totals.suppressed).as_str(),
            rule_errors_json = json_text(&totals.rule_errors).as_str(),
            rule_budget_errors_json = json_text(&totals.budget_errors).as_str(),
            rules_quarantined = totals.quarantined,
            bad_records = totals.bad_records,
            bytes = totals.bytes,
            alerts_delivered = totals.delivered,
            alerts_undelivered = totals.undelivered,
            alerts_deduplicated = noise_counts.deduplicated,
            sends_cooled_down = noise_counts.cooled_down,
            matches_below_threshold = noise_counts.below_threshold,
            alerts_throttled = noise_counts.throttled,
            follow_ups = noise_counts.follow_ups,
            sends_skipped_already_done = totals.sends_skipped,
            sends_in_flight_elsewhere = totals.busy,
            state_errors = noise_counts.state_errors,
            correlation_alerts = totals.correlation_alerts,
            duration_ms = duration_ms
        );
        self.metrics(&totals, &noise_counts, duration_ms);
        event::respond(&invocation, &results, summary)
            .map_err(|failed| HandlerError::units(failed, totals.incomplete > 0))
    }

    async fn object(
        &self,
        compiled: &Arc<Compiled>,
        obj: &ObjectRef,
        until: Option<Until>,
        totals: &mut Totals,
    ) -> ObjectResult {
        let url = obj.url();
        // Stopped before this object was opened: nothing of it was read.
        let not_started = |totals: &mut Totals| {
            totals.incomplete += 1;
            warn!(
                message = "object_incomplete",
                object = url.as_str(),
                bucket = obj.bucket.as_str(),
                key = obj.key.as_str(),
                next_record = 0u64,
                records = 0u64,
                alerts_delivered = 0u64,
                alerts_undelivered = 0u64,
                reason = "not started",
                help = INCOMPLETE_HELP
            );
            ObjectResult::Incomplete(format!(
                "{url}: not started before the invocation deadline; retry"
            ))
        };
        let stop = until.as_ref().map(|u| u.stop.clone());
        if stop.as_ref().is_some_and(Stop::is_set) {
            return not_started(totals);
        }
        let skip = |totals: &mut Totals, reason: &str| {
            totals.skipped += 1;
            info!(
                message = "object_skipped",
                object = url.as_str(),
                reason = reason
            );
            ObjectResult::Skipped
        };
        if let Some(why) = s3::skip_before_fetch(obj) {
            return skip(totals, why);
        }
        let opened = match &stop {
            None => Some(s3::open(&self.s3, obj).await),
            Some(stop) => tokio::select! {
                biased;
                () = stop.wait() => None,
                o = s3::open_until(&self.s3, obj, Some(stop.clone())) => Some(o),
            },
        };
        let Some(opened) = opened else {
            return not_started(totals);
        };
        let object = match opened {
            Ok(o) => o,
            Err(e) => {
                totals.failed += 1;
                error!(
                    message = "object_failed",
                    object = url.as_str(),
                    error = e.to_string().as_str()
                );
                return ObjectResult::Failed(e);
            }
        };
        if object.size == Some(0) {
            return skip(totals, s3::EMPTY_OBJECT);
        }
        self.scan_input(
            compiled,
            url,
            (&obj.bucket, &obj.key),
            object.body,
            until,
            totals,
        )
        .await
    }

    /// The unit's failure when an input's sends did not all go out: some
    /// are held by another invocation (retry after their lease), or failed
    /// with `TATTLETAIL_FAIL_ON_UNDELIVERED`; `None` when they are fine.
    fn sends_failed(&self, undelivered: u64, busy: u64, input: &str) -> Option<UnitResult> {
        if busy > 0 {
            Some(UnitResult::TemporaryFailure(format!(
                "{busy} alert send(s) from {input} are being made by another invocation; retry after their claims' lease"
            )))
        } else if undelivered > 0 && self.settings.fail_on_undelivered {
            Some(UnitResult::TemporaryFailure(format!(
                "{undelivered} alert send(s) from {input} failed"
            )))
        } else {
            None
        }
    }

    /// Evaluate the CloudTrail records an event carried (EventBridge,
    /// CloudWatch Logs), exactly as records of a log file.
    async fn records(
        &self,
        compiled: &Arc<Compiled>,
        r: &event::Records,
        until: Option<Until>,
        totals: &mut Totals,
    ) -> UnitResult {
        if !r.bad.is_empty() {
            totals.bad_records += r.bad.len() as u64;
            let examples: Vec<Value> = r
                .bad
                .iter()
                .take(3)
                .map(|(i, why)| json!({"record": i, "error": why}))
                .collect();
            warn!(
                message = "bad_records",
                object = r.label.as_str(),
                count = r.bad.len() as u64,
                examples_json = json_text(&examples).as_str()
            );
        }
        if r.records.is_empty() {
            return UnitResult::Succeeded(format!("{}: no CloudTrail records", r.label));
        }
        let mut body =
            Vec::with_capacity(r.records.iter().map(|t| t.len() + 1).sum::<usize>() + 16);
        body.extend_from_slice(b"{\"Records\":[");
        for (i, text) in r.records.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(text.as_bytes());
        }
        body.extend_from_slice(b"]}");
        let reader = std::io::Cursor::new(body);
        let result = self
            .scan_input(compiled, r.label.clone(), ("", ""), reader, until, totals)
            .await;
        match result {
            ObjectResult::Done { undelivered, busy } => self
                .sends_failed(undelivered, busy, &r.label)
                .unwrap_or_else(|| UnitResult::Succeeded(format!("scanned {}", r.label))),
            ObjectResult::Skipped => UnitResult::Succeeded(format!("scanned {}", r.label)),
            ObjectResult::Incomplete(m) | ObjectResult::Failed(FetchError::Temporary(m)) => {
                UnitResult::TemporaryFailure(m)
            }
            ObjectResult::Failed(FetchError::Permanent(m)) => UnitResult::PermanentFailure(m),
        }
    }

    /// Scan one input (an S3 object's body, or records an event carried)
    /// named `url` (`place`: its bucket and key, empty for records), deliver
    /// its alerts, log its lines and add it to `totals`.
    async fn scan_input(
        &self,
        compiled: &Arc<Compiled>,
        url: String,
        place: (&str, &str),
        body: impl std::io::Read + Send + 'static,
        until: Option<Until>,
        totals: &mut Totals,
    ) -> ObjectResult {
        let skip = |totals: &mut Totals, reason: &str| {
            totals.skipped += 1;
            info!(
                message = "object_skipped",
                object = url.as_str(),
                reason = reason
            );
            ObjectResult::Skipped
        };
        let outputs = Outputs {
            deliver: Some(self.deliverer.clone()),
            log_matches: true,
            no_index: false,
            // Objects are scanned one at a time: every core evaluates.
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            correlate: self.settings.state_table.is_some(),
        };
        let report =
            match pipeline::scan_until(compiled.clone(), url.clone(), body, outputs, until).await {
                Ok(r) => r,
                Err(e) => {
                    totals.failed += 1;
                    let msg = format!("{url}: {e}");
                    error!(
                        message = "object_failed",
                        object = url.as_str(),
                        error = msg.as_str()
                    );
                    return ObjectResult::Failed(FetchError::Temporary(msg));
                }
            };
        totals.add(&report.stats, &compiled.plan);
        totals.delivered += report.delivered;
        totals.undelivered += report.undelivered;
        totals.busy += report.busy;
        totals.sends_skipped += report.skipped;
        totals.correlation_alerts += report.correlations.total_alerts();
        for (i, &n) in report.correlations.alerts.iter().enumerate() {
            if n > 0 {
                let name = compiled.plan.correlations[i].display_name();
                *totals.alerts.entry(name).or_default() += n;
            }
        }
        let stats = &report.stats;
        let bad: Vec<Value> = stats
            .bad_examples
            .iter()
            .map(|b| json!({"record": b.position.index, "offset": b.position.offset, "error": b.message}))
            .collect();
        let errors: BTreeMap<String, &Vec<String>> = compiled
            .plan
            .rules
            .iter()
            .zip(&stats.rule_error_examples)
            .filter(|(_, ex)| !ex.is_empty())
            .map(|(r, ex)| (r.config.display_name(), ex))
            .collect();
        let log = |message: &str, outcome: &str, error: &str| {
            info!(
                message = message,
                object = url.as_str(),
                outcome = outcome,
                error = error,
                records = stats.records,
                alerts = stats.total_alerts(),
                alerts_by_rule_json = json_text(&by_rule(&stats.alerts, &compiled.plan)).as_str(),
                rule_errors_json = json_text(&by_rule(&stats.rule_errors, &compiled.plan)).as_str(),
                rule_budget_errors_json =
                    json_text(&by_rule(&stats.budget_errors, &compiled.plan)).as_str(),
                rule_error_examples_json = json_text(&errors).as_str(),
                bad_records = stats.bad_records,
                bad_record_examples_json = json_text(&bad).as_str(),
                skipped_bytes = stats.skipped_bytes,
                repaired_records = stats.repaired.iter().map(|(_, n, _)| n).sum::<u64>(),
                repairs = stats
                    .repaired
                    .iter()
                    .fold(Repairs::default(), |a, (_, _, r)| a.union(*r))
                    .to_string()
                    .as_str(),
                bytes = stats.bytes_read,
                bytes_json = stats.bytes_json,
                alerts_delivered = report.delivered,
                alerts_undelivered = report.undelivered,
                duration_ms = report.duration.as_secs_f64() * 1000.0
            );
        };
        for (r, at) in &stats.quarantined {
            let rule = compiled.plan.rules[*r].config.display_name();
            warn!(
                message = "rule_quarantined",
                object = url.as_str(),
                rule = rule.as_str(),
                budget_errors = stats.budget_errors.get(*r).copied().unwrap_or(0),
                at = at.as_str(),
                help = "the rule exceeded its evaluation budget on most records; it was not evaluated on the rest of this object"
            );
        }
        if let Some(stopped) = report.stopped {
            totals.incomplete += 1;
            let at = match stopped.next_record {
                Some(n) => format!("from record {n}"),
                None => "at an unknown record (the scan did not stop in time)".to_string(),
            };
            warn!(
                message = "object_incomplete",
                object = url.as_str(),
                bucket = place.0,
                key = place.1,
                next_record_json = json_text(&stopped.next_record).as_str(),
                records = stats.records,
                alerts = stats.total_alerts(),
                alerts_by_rule_json = json_text(&by_rule(&stats.alerts, &compiled.plan)).as_str(),
                bad_records = stats.bad_records,
                bytes = stats.bytes_read,
                alerts_delivered = report.delivered,
                alerts_undelivered = report.undelivered,
                duration_ms = report.duration.as_secs_f64() * 1000.0,
                reason = "stopped",
                help = INCOMPLETE_HELP
            );
            return ObjectResult::Incomplete(format!(
                "{url}: stopped at the invocation deadline {at}; retry"
            ));
        }
        match &report.outcome {
            InputOutcome::Scanned => {
                totals.scanned += 1;
                if stats.bad_records > 0 {
                    warn!(
                        message = "bad_records",
                        object = url.as_str(),
                        count = stats.bad_records,
                        examples_json = json_text(&bad).as_str()
                    );
                }
                log("object_complete", "scanned", "");
                ObjectResult::Done {
                    undelivered: report.undelivered,
                    busy: report.busy,
                }
            }
            InputOutcome::Skipped(why) => skip(totals, why),
            InputOutcome::Failed(why) => {
                totals.failed += 1;
                let msg = format!("{url}: {why}");
                log("object_failed", "failed", &msg);
                // The download failing midway is worth a retry; the object
                // itself failing to read (corrupt gzip, broken JSON) is not.
                // The read error that ended it says which, by its type.
                match why.io_error().and_then(FetchError::in_io) {
                    Some(FetchError::Temporary(_)) => {
                        ObjectResult::Failed(FetchError::Temporary(msg))
                    }
                    _ => ObjectResult::Failed(FetchError::Permanent(msg)),
                }
            }
        }
    }

    fn metrics(&self, t: &Totals, n: &CounterValues, duration_ms: f64) {
        let ns = &self.settings.metrics_namespace;
        let f = self.settings.function_name.as_deref().unwrap_or("");
        let count = |name, v: u64| Metric {
            name,
            value: v as f64,
            unit: "Count",
        };
        logging::emit_metrics(
            ns,
            &[("FunctionName", f)],
            &[
                count("Records", t.records),
                count("Alerts", t.alert_count()),
                count("DryRunAlerts", t.dry_run_alerts.values().sum()),
                count("SuppressedAlerts", t.suppressed.values().sum()),
                count("RuleErrors", t.rule_errors.values().sum()),
                count("RuleBudgetErrors", t.budget_errors.values().sum()),
                count("RulesQuarantined", t.quarantined),
                count("BadRecords", t.bad_records),
                count("ObjectsScanned", t.scanned),
                count("ObjectsSkipped", t.skipped),
                count("ObjectsFailed", t.failed),
                count("ObjectsIncomplete", t.incomplete),
                count("AlertsDelivered", t.delivered),
                count("AlertsUndelivered", t.undelivered),
                count("AlertsDeduplicated", n.deduplicated),
                count("SendsCooledDown", n.cooled_down),
                count("MatchesBelowThreshold", n.below_threshold),
                count("AlertsThrottled", n.throttled),
                count("FollowUps", n.follow_ups),
                count("SendsSkippedAlreadyDone", t.sends_skipped),
                count("SendsInFlightElsewhere", t.busy),
                count("StateErrors", n.state_errors),
                count("CorrelationAlerts", t.correlation_alerts),
                Metric {
                    name: "BytesRead",
                    value: t.bytes as f64,
                    unit: "Bytes",
                },
                Metric {
                    name: "DurationMs",
                    value: duration_ms,
                    unit: "Milliseconds",
                },
            ],
        );
        let rules: std::collections::BTreeSet<&String> = t
            .alerts
            .keys()
            .chain(t.dry_run_alerts.keys())
            .chain(t.rule_errors.keys())
            .collect();
        for rule in rules {
            logging::emit_metrics(
                ns,
                &[("FunctionName", f), ("Rule", rule)],
                &[
                    count("Alerts", t.alerts.get(rule).copied().unwrap_or(0)),
                    count(
                        "DryRunAlerts",
                        t.dry_run_alerts.get(rule).copied().unwrap_or(0),
                    ),
                    count("RuleErrors", t.rule_errors.get(rule).copied().unwrap_or(0)),
                    count(
                        "RuleBudgetErrors",
                        t.budget_errors.get(rule).copied().unwrap_or(0),
                    ),
                ],
            );
        }
        for (exception, n) in &t.suppressed {
            logging::emit_metrics(
                ns,
                &[("FunctionName", f), ("Exception", exception)],
                &[count("SuppressedAlerts", *n)],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{self, Read};

    fn failed(failures: Vec<UnitResult>) -> NotificationsFailed {
        NotificationsFailed { total: 3, failures }
    }

    #[test]
    fn failed_notifications_say_whether_a_retry_may_help() {
        let gone = UnitResult::PermanentFailure("GetObject s3://b/k failed: NoSuchKey".into());
        let slow = UnitResult::TemporaryFailure("GetObject s3://b/j failed: timed out".into());
        let e = HandlerError::units(failed(vec![gone.clone()]), false);
        assert!(matches!(e, HandlerError::Permanent(_)) && !e.is_retryable());
        assert_eq!(e.error_type(), "Tattletail.PermanentFailure");
        assert_eq!(
            e.to_string(),
            "1 of 3 notification(s) failed: GetObject s3://b/k failed: NoSuchKey"
        );
        let e = HandlerError::units(failed(vec![gone.clone(), slow.clone()]), false);
        assert!(matches!(e, HandlerError::Retryable(_)) && e.is_retryable());
        assert_eq!(e.error_type(), "Tattletail.TemporaryFailure");
        let e = HandlerError::units(failed(vec![slow]), true);
        assert!(matches!(e, HandlerError::Incomplete(_)) && e.is_retryable());
        assert_eq!(e.error_type(), "Tattletail.DeadlineReached");

        let e = HandlerError::InvalidEvent("unrecognised event".into());
        assert_eq!(
            (e.error_type(), e.is_retryable(), e.to_string().as_str()),
            ("Tattletail.InvalidEvent", false, "unrecognised event")
        );
        let e = HandlerError::from(ConfigError::Unreadable {
            name: "s3://b/tattletail.toml".into(),
            message: "timed out".into(),
        });
        assert!(e.is_retryable());
        assert_eq!(e.error_type(), "Tattletail.ConfigUnreadable");
        assert_eq!(
            e.to_string(),
            "cannot read the config s3://b/tattletail.toml: timed out",
            "the config's message, as is"
        );
        let e = HandlerError::from(ConfigError::Invalid {
            name: "tattletail.toml".into(),
            count: 1,
            rendered: String::new(),
        });
        assert!(!e.is_retryable());
        assert_eq!(e.error_type(), "Tattletail.ConfigInvalid");
    }

    /// `head`, then a read error carrying `fails`, or plain text
    /// (the object itself is bad) when `None`.
    struct Broken {
        head: &'static [u8],
        fails: Option<FetchError>,
    }

    impl Read for Broken {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if !self.head.is_empty() {
                let n = buf.len().min(self.head.len());
                buf[..n].copy_from_slice(&self.head[..n]);
                self.head = &self.head[n..];
                return Ok(n);
            }
            match &self.fails {
                Some(f) => Err(io::Error::other(f.clone())),
                None => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "not what it seems",
                )),
            }
        }
    }

    /// Scan a `Broken` object: the outcome's text, and what the handler
    /// would decide from the error's type.
    async fn scan_broken(fails: Option<FetchError>) -> (String, Option<FetchError>) {
        let compiled = tattletail_compiler::compile(
            "[[rule]]\nname = \"r\"\njq_match = 'select(.eventName == \"CreateUser\")'\n",
        )
        .unwrap();
        let body = Broken {
            head: b"{\"Records\": [{\"eventName\": \"CreateUser\"}, {\"eventN",
            fails,
        };
        let report = pipeline::scan(
            Arc::new(compiled),
            "s3://b/k".into(),
            body,
            Outputs::default(),
        )
        .await
        .unwrap();
        let InputOutcome::Failed(why) = report.outcome else {
            panic!("{:?}", report.outcome);
        };
        let failure = why.io_error().and_then(FetchError::in_io).cloned();
        (why.to_string(), failure)
    }

    #[tokio::test]
    async fn a_download_failing_midway_is_temporary_a_bad_object_is_not() {
        let lost = "reading s3://b/k failed after 52 bytes of the object: connection reset";
        let (why, failure) = scan_broken(Some(FetchError::Temporary(lost.into()))).await;
        assert!(why.contains(lost), "{why}");
        assert_eq!(failure, Some(FetchError::Temporary(lost.into())));
        let (why, failure) = scan_broken(None).await;
        assert!(why.contains("not what it seems"), "{why}");
        assert_eq!(failure, None, "a bad object is a permanent failure");
    }
}
