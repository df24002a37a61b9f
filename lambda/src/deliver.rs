//! Delivering alerts and follow-ups ([`Message`]) to the config's
//! destinations (SNS, SES, Slack webhooks, Slack apps, webhooks), the same
//! way from the Lambda and from `tattletail scan --send`.
//!
//! One send per (alert, destination), in rule order then destination-list
//! order (upstream's fan-out). Sends run concurrently up to a bound; a
//! caller takes a permit before spawning, so a burst of alerts slows the
//! scan down instead of piling up in memory. Every send has a timeout and
//! is retried on throttling, 5xx and network errors with exponential
//! backoff and jitter (the SDK's standard strategy for SNS/SES,
//! [`Send::post_retrying`] for HTTP destinations, which honours
//! `Retry-After`). One destination failing
//! never holds up the others. An alert that still cannot be delivered is
//! logged in full as one `undelivered_alert` line (the payload is in it, so
//! it can be recovered from CloudWatch Logs) and counted.
//!
//! The sends of one input are tracked by a [`Sends`], which reaps each send
//! as it finishes: memory is bounded by the sends in flight, never by the
//! number of alerts of an object. [`Sends::finish`] waits for the rest, up
//! to a time limit (the Lambda's deadline); a send still running then is
//! abandoned and logged as `undelivered_alert` like any failed one.
//!
//! A successful send returns a [`Receipt`] (a Slack app message's `ts`,
//! for threading follow-ups), which noise control keeps under the message's
//! id and destination (`NoiseControl::thread_of`).
//!
//! Exactly once: with noise control ([`Deliverer::with_noise`]) every send
//! first claims (message id, destination) in the state store and marks it
//! done after (`noise`); a send already done is skipped
//! (`send_skipped_already_done`), one claimed by another live sender is
//! not made and counted as [`Sends::busy`], so the caller fails its unit
//! for a retry after the claim's lease. A failed send releases its claim.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sesv2::types::{
    Body, Content, Destination as SesDestination, EmailContent, Message as SesMessage,
};
use aws_sdk_sns::types::MessageAttributeValue;
use tattletail_compiler::config::{Destination, DestinationKind};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{Id, JoinError, JoinSet};
use tracing::{error, info, warn};

use crate::aws::{error_chain, Clients, Settings, SetupError};
use crate::noise::{Claim, NoiseControl};
use crate::payload::{self, Message};
use crate::s3::describe_error;
use crate::secrets::SecretError;

/// Counts of sends.
#[derive(Debug, Default)]
pub struct Counters {
    /// Sends that succeeded.
    pub delivered: AtomicU64,
    /// Sends that failed after every attempt.
    pub undelivered: AtomicU64,
}

/// Sends alerts.
pub struct Deliverer {
    clients: Clients,
    settings: Settings,
    permits: Arc<Semaphore>,
    noise: Option<Arc<NoiseControl>>,
    /// Totals since this deliverer was made.
    pub counters: Arc<Counters>,
}

/// What a successful send returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Receipt {
    /// The Slack app message's `ts` (a follow-up's `thread_ts`); `None`
    /// for the other types.
    pub thread: Option<String>,
    /// Not sent: it had been sent already (its claim was done).
    pub skipped: bool,
}

/// Why one send failed (after every attempt); logged in the
/// `undelivered_alert` line.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The destination's AWS client was not set up: the caller's
    /// [`Needs`](crate::aws::Needs) left its service out.
    #[error("{0}")]
    NoClient(#[from] SetupError),
    /// The message could not be built.
    #[error("cannot build the message: {0}")]
    Message(String),
    /// SNS, SES, Slack or the webhook refused the message or could not be
    /// reached; says which, and why.
    #[error("{0}")]
    Failed(String),
    /// A secret of the destination could not be resolved (names the
    /// reference, never a value).
    #[error("{0}")]
    Secret(#[from] SecretError),
    /// Another sender (a concurrent invocation) holds this send's claim
    /// until its lease ends; not sent now, the caller retries later.
    #[error("another invocation is sending it (its claim's lease ends in {} ms); retry after that", .wait_ms)]
    Busy {
        /// How long until the lease ends.
        wait_ms: i64,
    },
}

/// Result of one send.
pub type SendResult = Result<Receipt, SendError>;

impl Deliverer {
    /// A deliverer using `clients`.
    pub fn new(clients: Clients, settings: Settings) -> Deliverer {
        Deliverer {
            permits: Arc::new(Semaphore::new(settings.concurrency)),
            clients,
            settings,
            noise: None,
            counters: Arc::default(),
        }
    }

    /// With noise control: claims for exactly-once sends, and the state
    /// the delivery loop's gate keeps (`pipeline`).
    pub fn with_noise(mut self, noise: Arc<NoiseControl>) -> Deliverer {
        self.noise = Some(noise);
        self
    }

    /// The noise control, if any.
    pub fn noise(&self) -> Option<&Arc<NoiseControl>> {
        self.noise.as_ref()
    }

    /// Send `message` (an alert or a follow-up) to each destination in
    /// `targets` (decided by
    /// [`Plan::targets`](tattletail_compiler::plan::Plan::targets)), spawning the sends
    /// into `sends`. Waits for a free slot before each spawn, and reaps the
    /// sends that have finished meanwhile.
    pub async fn dispatch(
        &self,
        message: impl Into<Message>,
        targets: &[&Destination],
        sends: &mut Sends,
    ) {
        let message = message.into();
        for &dest in targets {
            self.dispatch_to(message.clone(), dest, None, sends).await;
        }
    }

    /// Send `message` to `dest`; `thread`: the Slack app message to reply
    /// to (`thread_ts`; ignored by the other types).
    pub async fn dispatch_to(
        &self,
        message: Message,
        dest: &Destination,
        thread: Option<String>,
        sends: &mut Sends,
    ) {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        sends.reap_ready();
        sends.counters = Some(self.counters.clone());
        let job = Send {
            clients: self.clients.clone(),
            settings: self.settings.clone(),
            dest: dest.clone(),
            message: message.clone(),
            thread,
            counters: self.counters.clone(),
            noise: self.noise.clone(),
        };
        let handle = sends.tasks.spawn(job.run(permit));
        sends.pending.insert(
            handle.id(),
            Pending {
                dest: dest.clone(),
                message,
            },
        );
    }
}

/// What a send in flight is about, to log it if it never finishes.
struct Pending {
    dest: Destination,
    message: Message,
}

/// The sends of one input: spawned by [`Deliverer::dispatch`], reaped as
/// they finish (so a finished send costs nothing), counted.
#[derive(Default)]
pub struct Sends {
    tasks: JoinSet<SendResult>,
    pending: HashMap<Id, Pending>,
    counters: Option<Arc<Counters>>,
    /// Sends that succeeded.
    pub delivered: u64,
    /// Sends that failed after every attempt, or were abandoned.
    pub undelivered: u64,
    /// Sends not made: another sender holds their claim (retry later).
    pub busy: u64,
    /// Sends not made: already sent (by an earlier invocation or run).
    pub skipped: u64,
    /// Sends cut off at the time limit (also counted as undelivered).
    pub abandoned: u64,
}

/// Why a send still in flight was given up.
pub const ABANDONED: &str = "the send was still in flight when the invocation deadline came near \
(TATTLETAIL_DEADLINE_MARGIN_MS); it was abandoned";

impl Sends {
    /// No sends yet.
    pub fn new() -> Sends {
        Sends::default()
    }

    /// Sends spawned and not reaped yet.
    pub fn in_flight(&self) -> usize {
        self.tasks.len()
    }

    /// Reap every send that has finished, without waiting.
    pub fn reap_ready(&mut self) {
        while let Some(done) = self.tasks.try_join_next_with_id() {
            self.fold(done);
        }
    }

    /// Wait for the next send to finish and reap it; `false` when none is
    /// in flight.
    pub async fn reap_next(&mut self) -> bool {
        match self.tasks.join_next_with_id().await {
            Some(done) => {
                self.fold(done);
                true
            }
            None => false,
        }
    }

    /// Wait for every send, until `until` at most: sends still running
    /// then are abandoned, each logged as `undelivered_alert`. Returns
    /// (delivered, undelivered) over all the sends of this input.
    pub async fn finish(&mut self, until: Option<tokio::time::Instant>) -> (u64, u64) {
        match until {
            None => while self.reap_next().await {},
            Some(at) => {
                let _ =
                    tokio::time::timeout_at(at, async { while self.reap_next().await {} }).await;
                self.tasks.abort_all();
                while self.reap_next().await {}
            }
        }
        (self.delivered, self.undelivered)
    }

    fn fold(&mut self, done: Result<(Id, SendResult), JoinError>) {
        match done {
            Ok((id, result)) => {
                self.pending.remove(&id);
                match result {
                    Ok(r) if r.skipped => self.skipped += 1,
                    Ok(_) => self.delivered += 1,
                    Err(SendError::Busy { .. }) => self.busy += 1,
                    // Logged by the send itself.
                    Err(_) => self.undelivered += 1,
                }
            }
            Err(e) => {
                self.undelivered += 1;
                if let Some(c) = &self.counters {
                    c.undelivered.fetch_add(1, Ordering::Relaxed);
                }
                if e.is_cancelled() {
                    self.abandoned += 1;
                }
                let why = if e.is_cancelled() {
                    ABANDONED.to_string()
                } else {
                    format!("the send task failed: {e}")
                };
                match self.pending.remove(&e.id()) {
                    Some(p) => log_undelivered(&p.dest, &p.message, &why),
                    None => error!(message = "send_task_failed", error = why.as_str()),
                }
            }
        }
    }
}

/// Tells noise control a claim is no longer this process's when a send
/// ends (completed, released, or cut off).
struct ForgetOnDrop<'a>(&'a NoiseControl, &'a Claim);

impl Drop for ForgetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.forget(self.1);
    }
}

/// One send: a message to a destination, with its retries.
pub(crate) struct Send {
    pub(crate) clients: Clients,
    pub(crate) settings: Settings,
    pub(crate) dest: Destination,
    pub(crate) message: Message,
    /// A Slack app message to reply to.
    pub(crate) thread: Option<String>,
    counters: Arc<Counters>,
    noise: Option<Arc<NoiseControl>>,
}

/// What one HTTP attempt came to.
pub(crate) enum Verdict<T> {
    /// Delivered.
    Done(T),
    /// Worth another attempt (after the wait given, else backoff).
    Retry(String, Option<Duration>),
    /// Refused for good.
    Fail(String),
}

/// One HTTP answer, read whole.
pub(crate) struct Reply {
    /// HTTP status.
    pub(crate) status: u16,
    /// `Retry-After` in seconds, capped at 30 s.
    pub(crate) retry_after: Option<Duration>,
    /// The body.
    pub(crate) body: String,
}

impl Reply {
    /// The body's first 200 characters, for messages.
    pub(crate) fn excerpt(&self) -> String {
        self.body.chars().take(200).collect()
    }

    /// The usual reading: 2xx delivered; 429 and 5xx retried; anything
    /// else refused.
    pub(crate) fn verdict(&self) -> Verdict<()> {
        let why = format!("HTTP {} {}", self.status, self.excerpt());
        match self.status {
            200..=299 => Verdict::Done(()),
            429 | 500.. => Verdict::Retry(why, self.retry_after),
            _ => Verdict::Fail(why),
        }
    }
}

impl Send {
    async fn run(self, _permit: OwnedSemaphorePermit) -> SendResult {
        let m = &self.message;
        let claim = match &self.noise {
            None => Claim::Off,
            Some(n) => match n.claim(m.alert_id(), &self.dest.id).await {
                Ok(c) => c,
                Err(e) => {
                    n.state_error("claim a send", &e);
                    Claim::Off
                }
            },
        };
        match claim {
            Claim::Done => {
                info!(
                    message = "send_skipped_already_done",
                    rule = m.rule(),
                    alert_id = m.alert_id(),
                    kind = m.kind(),
                    destination = self.dest.id.as_str()
                );
                return Ok(Receipt {
                    thread: None,
                    skipped: true,
                });
            }
            Claim::Busy { until_ms } => {
                let wait_ms = self.noise.as_ref().map_or(0, |n| until_ms - n.now_ms());
                warn!(
                    message = "send_in_flight_elsewhere",
                    rule = m.rule(),
                    alert_id = m.alert_id(),
                    kind = m.kind(),
                    destination = self.dest.id.as_str(),
                    lease_left_ms = wait_ms,
                    help = "another invocation claimed this send and has not finished it; this unit fails so that it is retried after the claim's lease (TATTLETAIL_CLAIM_LEASE_SECS)"
                );
                return Err(SendError::Busy { wait_ms });
            }
            Claim::Off | Claim::Claimed { .. } => {}
        }
        // Cut off at the deadline (this future dropped): the claim stays
        // until its lease ends, and is no longer this process's.
        let _forget = self.noise.as_ref().map(|n| ForgetOnDrop(n, &claim));
        let result = self.send().await;
        if let (
            Some(n),
            Ok(Receipt {
                thread: Some(ts), ..
            }),
        ) = (&self.noise, &result)
        {
            n.remember_thread(m.alert_id(), &self.dest.id, ts).await;
        }
        if let Some(n) = &self.noise {
            let stored = match &result {
                Ok(r) => n.complete(&claim, r.thread.as_deref()).await,
                Err(_) => n.release(&claim).await,
            };
            if let Err(e) = stored {
                n.state_error("record a send", &e);
            }
        }
        result
    }

    /// The send itself, logged.
    async fn send(&self) -> SendResult {
        let m = &self.message;
        let result = match &self.dest.kind {
            DestinationKind::Sns { topic_arn } => self.sns(topic_arn).await,
            DestinationKind::Ses { to, from } => self.ses(from, to).await,
            DestinationKind::SlackWebhook { url } => self.slack(url).await,
            DestinationKind::SlackApp { token, channel } => {
                crate::slack_app::post(self, token, channel).await
            }
            DestinationKind::Webhook {
                url,
                headers,
                body,
                hmac,
            } => crate::webhook::post(self, url, headers, body.as_ref(), hmac.as_ref()).await,
        };
        match &result {
            Ok(receipt) => {
                self.counters.delivered.fetch_add(1, Ordering::Relaxed);
                let (path, latency) = match m {
                    Message::Alert(a) => (input_path(&a.origin), latency_ms(a)),
                    Message::FollowUp(_) => ("", None),
                };
                info!(
                    message = "publish_alert",
                    rule = m.rule(),
                    alert_id = m.alert_id(),
                    kind = m.kind(),
                    destination = self.dest.id.as_str(),
                    r#type = self.dest.kind.type_name(),
                    target = target(&self.dest).as_str(),
                    thread = receipt.thread.as_deref().unwrap_or(""),
                    path = path,
                    latency_ms_json = latency
                        .map_or("null".to_string(), |l| l.to_string())
                        .as_str()
                );
                if let (Some(l), Some(function)) = (latency, &self.settings.function_name) {
                    // In the Lambda only (the CLI's stdout is its alerts).
                    crate::logging::emit_metrics(
                        &self.settings.metrics_namespace,
                        &[("FunctionName", function.as_str()), ("Path", path)],
                        &[crate::logging::Metric {
                            name: "AlertLatencyMs",
                            value: l as f64,
                            unit: "Milliseconds",
                        }],
                    );
                }
            }
            Err(e) => {
                self.counters.undelivered.fetch_add(1, Ordering::Relaxed);
                log_undelivered(&self.dest, m, &e.to_string());
            }
        }
        result
    }

    async fn sns(&self, topic_arn: &str) -> SendResult {
        let attr = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(self.message.alert_id())
            .build()
            .map_err(|e| SendError::Message(error_chain(&e)))?;
        self.clients
            .sns()?
            .publish()
            .topic_arn(topic_arn)
            .message(sns_payload(&self.message))
            .message_attributes("tattletail_alert_id", attr)
            .send()
            .await
            .map(|_| Receipt::default())
            .map_err(|e| SendError::Failed(format!("SNS Publish failed: {}", describe_error(&e))))
    }

    async fn ses(&self, from: &str, to: &[String]) -> SendResult {
        let (subject, body) = email_payload(&self.message);
        let content = |text: String| {
            Content::builder()
                .data(text)
                .charset("UTF-8")
                .build()
                .map_err(|e| SendError::Message(error_chain(&e)))
        };
        let message = SesMessage::builder()
            .subject(content(subject)?)
            .body(Body::builder().text(content(body)?).build())
            .build();
        self.clients
            .ses()?
            .send_email()
            .from_email_address(from)
            .destination(
                SesDestination::builder()
                    .set_to_addresses(Some(to.to_vec()))
                    .build(),
            )
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map(|_| Receipt::default())
            .map_err(|e| SendError::Failed(format!("SES SendEmail failed: {}", describe_error(&e))))
    }

    async fn slack(&self, url: &str) -> SendResult {
        let body = match &self.message {
            Message::Alert(a) => payload::slack(a),
            Message::FollowUp(f) => payload::slack_followup(f),
        };
        let masked = payload::mask_url(url);
        self.post_retrying(
            &masked,
            || self.clients.http().post(url).json(&body),
            Reply::verdict,
        )
        .await
        .map(|()| Receipt::default())
        .map_err(|(attempts, why)| {
            SendError::Failed(format!(
                "Slack webhook {masked} failed after {attempts} attempt(s): {why}"
            ))
        })
    }

    /// POST with retries: each attempt's answer is read whole and judged;
    /// 429s wait for `Retry-After` (capped at 30 s), other retries back
    /// off; network errors and timeouts are retried. `Err((attempts,
    /// why))` when every attempt failed or one was refused. `masked`: the
    /// target, safe to log.
    pub(crate) async fn post_retrying<T>(
        &self,
        masked: &str,
        request: impl Fn() -> reqwest::RequestBuilder,
        judge: impl Fn(&Reply) -> Verdict<T>,
    ) -> Result<T, (u32, String)> {
        let mut attempt = 1;
        loop {
            let response = request().send().await;
            let (retryable, wait, why) = match response {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let retry_after = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(|s| Duration::from_secs(s.min(30)));
                    let body = r.text().await.unwrap_or_default();
                    let reply = Reply {
                        status,
                        retry_after,
                        body,
                    };
                    match judge(&reply) {
                        Verdict::Done(t) => return Ok(t),
                        Verdict::Retry(why, wait) => (true, wait, why),
                        Verdict::Fail(why) => (false, None, why),
                    }
                }
                // reqwest's error text includes the URL: mask it.
                Err(e) if e.is_timeout() => (
                    true,
                    None,
                    format!("timed out after {} s", self.settings.timeout.as_secs()),
                ),
                Err(e) => (true, None, error_chain(&e.without_url())),
            };
            if !retryable || attempt >= self.settings.attempts {
                return Err((attempt, why));
            }
            let delay = wait.unwrap_or_else(|| backoff(attempt));
            warn!(
                message = "send_retry",
                rule = self.message.rule(),
                alert_id = self.message.alert_id(),
                destination = self.dest.id.as_str(),
                target = masked,
                attempt = attempt as u64,
                error = why.as_str(),
                delay_ms = delay.as_millis() as u64
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

/// Which input path an alert came through, from its origin: `s3`,
/// `eventbridge`, `cloudwatch-logs` or `file` (the CLI's local inputs).
pub fn input_path(origin: &str) -> &'static str {
    if origin.starts_with("s3://") {
        "s3"
    } else if origin.starts_with("eventbridge:") {
        "eventbridge"
    } else if origin.starts_with("cloudwatch-logs:") {
        "cloudwatch-logs"
    } else {
        "file"
    }
}

/// Milliseconds from the alert's `eventTime` to now (the send), if it has
/// a readable one.
fn latency_ms(a: &payload::AlertData) -> Option<i64> {
    let t = a.event_seconds()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis() as i64;
    Some(now - t * 1000)
}

/// Exponential backoff with jitter: 200 ms, 400 ms, 800 ms, ... capped at
/// 5 s, each scaled by a random factor in [0.5, 1].
pub fn backoff(attempt: u32) -> Duration {
    let base = 200u64.saturating_mul(1 << attempt.saturating_sub(1).min(10));
    let capped = base.min(5_000);
    let jitter = 0.5 + fastrand::f64() * 0.5;
    Duration::from_millis((capped as f64 * jitter) as u64)
}

/// Where a destination sends, safe to log.
pub fn target(d: &Destination) -> String {
    match &d.kind {
        DestinationKind::Sns { topic_arn } => topic_arn.clone(),
        DestinationKind::Ses { to, .. } => to.join(","),
        DestinationKind::SlackWebhook { url } => payload::mask_url(url),
        DestinationKind::SlackApp { channel, .. } => format!("slack:{channel}"),
        DestinationKind::Webhook { url, .. } => crate::webhook::mask(url),
    }
}

/// The SNS message of an alert or a follow-up.
fn sns_payload(m: &Message) -> String {
    match m {
        Message::Alert(a) => payload::sns_message(a),
        Message::FollowUp(f) => payload::sns_followup(f),
    }
}

/// The email of an alert or a follow-up.
fn email_payload(m: &Message) -> (String, String) {
    match m {
        Message::Alert(a) => payload::email(a),
        Message::FollowUp(f) => payload::email_followup(f),
    }
}

/// The payload that failed, as JSON text, for the log line (secrets
/// masked).
fn payload_for_log(d: &Destination, m: &Message) -> String {
    match &d.kind {
        DestinationKind::Sns { .. } => sns_payload(m),
        DestinationKind::Ses { from, to } => {
            let (subject, body) = email_payload(m);
            serde_json::json!({"from": from, "to": to, "subject": subject, "body": body})
                .to_string()
        }
        DestinationKind::SlackWebhook { .. } => match m {
            Message::Alert(a) => payload::slack(a).to_string(),
            Message::FollowUp(f) => payload::slack_followup(f).to_string(),
        },
        DestinationKind::SlackApp { channel, .. } => {
            crate::slack_app::body(m, channel, None).to_string()
        }
        DestinationKind::Webhook { body, .. } => {
            crate::webhook::body(m, body.as_ref(), &|_| "********".to_string())
        }
    }
}

/// The `undelivered_alert` line: the alert or follow-up in full, where it
/// should have gone and why it did not.
fn log_undelivered(dest: &Destination, m: &Message, why: &str) {
    error!(
        message = "undelivered_alert",
        rule = m.rule(),
        alert_id = m.alert_id(),
        kind = m.kind(),
        event_id = m.event_id().unwrap_or(""),
        origin = m.origin(),
        destination = dest.id.as_str(),
        r#type = dest.kind.type_name(),
        target = target(dest).as_str(),
        error = why,
        payload_json = payload_for_log(dest, m).as_str()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..20 {
            let d = backoff(attempt).as_millis() as u64;
            let base = (200u64 << (attempt - 1).min(10)).min(5_000);
            assert!(d >= base / 2 && d <= base, "attempt {attempt}: {d}");
        }
    }
}
