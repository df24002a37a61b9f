//! Delivering alerts to the config's destinations (SNS, SES, Slack), the
//! same way from the Lambda and from `tattletail scan --send`.
//!
//! One send per (alert, destination), in rule order then destination-list
//! order (upstream's fan-out). Sends run concurrently up to a bound; a
//! caller takes a permit before spawning, so a burst of alerts slows the
//! scan down instead of piling up in memory. Every send has a timeout and
//! is retried on throttling, 5xx and network errors with exponential
//! backoff and jitter (the SDK's standard strategy for SNS/SES, the loop
//! below for Slack, which honours `Retry-After`). One destination failing
//! never holds up the others. An alert that still cannot be delivered is
//! logged in full as one `undelivered_alert` line (the payload is in it, so
//! it can be recovered from CloudWatch Logs) and counted.
//!
//! The sends of one input are tracked by a [`Sends`], which reaps each send
//! as it finishes: memory is bounded by the sends in flight, never by the
//! number of alerts of an object. [`Sends::finish`] waits for the rest, up
//! to a time limit (the Lambda's deadline); a send still running then is
//! abandoned and logged as `undelivered_alert` like any failed one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sesv2::types::{Body, Content, Destination as SesDestination, EmailContent, Message};
use aws_sdk_sns::types::MessageAttributeValue;
use tattletail_compiler::config::{Destination, DestinationKind};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{Id, JoinError, JoinSet};
use tracing::{error, info, warn};

use crate::aws::{error_chain, Clients, Settings, SetupError};
use crate::payload::{self, AlertData};
use crate::s3::describe_error;

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
    /// Totals since this deliverer was made.
    pub counters: Arc<Counters>,
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
    /// SNS, SES or the Slack webhook refused the alert or could not be
    /// reached; says which, and why.
    #[error("{0}")]
    Failed(String),
}

/// Result of one send.
pub type SendResult = Result<(), SendError>;

impl Deliverer {
    /// A deliverer using `clients`.
    pub fn new(clients: Clients, settings: Settings) -> Deliverer {
        Deliverer {
            permits: Arc::new(Semaphore::new(settings.concurrency)),
            clients,
            settings,
            counters: Arc::default(),
        }
    }

    /// Send `alert` to each destination in `targets` (decided by
    /// [`Plan::targets`](tattletail_compiler::plan::Plan::targets)), spawning the sends
    /// into `sends`. Waits for a free slot before each spawn, and reaps the
    /// sends that have finished meanwhile.
    pub async fn dispatch(
        &self,
        alert: Arc<AlertData>,
        targets: &[&Destination],
        sends: &mut Sends,
    ) {
        for &dest in targets {
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
                alert: alert.clone(),
                counters: self.counters.clone(),
            };
            let handle = sends.tasks.spawn(job.run(permit));
            sends.pending.insert(
                handle.id(),
                Pending {
                    dest: dest.clone(),
                    alert: alert.clone(),
                },
            );
        }
    }
}

/// What a send in flight is about, to log it if it never finishes.
struct Pending {
    dest: Destination,
    alert: Arc<AlertData>,
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
                    Ok(()) => self.delivered += 1,
                    // Logged by the send itself.
                    Err(_) => self.undelivered += 1,
                }
            }
            Err(e) => {
                self.undelivered += 1;
                if let Some(c) = &self.counters {
                    c.undelivered.fetch_add(1, Ordering::Relaxed);
                }
                let why = if e.is_cancelled() {
                    ABANDONED.to_string()
                } else {
                    format!("the send task failed: {e}")
                };
                match self.pending.remove(&e.id()) {
                    Some(p) => log_undelivered(&p.dest, &p.alert, &why),
                    None => error!(message = "send_task_failed", error = why.as_str()),
                }
            }
        }
    }
}

struct Send {
    clients: Clients,
    settings: Settings,
    dest: Destination,
    alert: Arc<AlertData>,
    counters: Arc<Counters>,
}

impl Send {
    async fn run(self, _permit: OwnedSemaphorePermit) -> SendResult {
        let a = &self.alert;
        let result = match &self.dest.kind {
            DestinationKind::Sns { topic_arn } => self.sns(topic_arn).await,
            DestinationKind::Ses { to, from } => self.ses(from, to).await,
            DestinationKind::SlackWebhook { url } => self.slack(url).await,
        };
        match &result {
            Ok(()) => {
                self.counters.delivered.fetch_add(1, Ordering::Relaxed);
                info!(
                    message = "publish_alert",
                    rule = a.name.as_str(),
                    alert_id = a.alert_id.as_str(),
                    destination = self.dest.id.as_str(),
                    r#type = self.dest.kind.type_name(),
                    target = target(&self.dest).as_str()
                );
            }
            Err(e) => {
                self.counters.undelivered.fetch_add(1, Ordering::Relaxed);
                log_undelivered(&self.dest, a, &e.to_string());
            }
        }
        result
    }

    async fn sns(&self, topic_arn: &str) -> SendResult {
        let attr = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(&self.alert.alert_id)
            .build()
            .map_err(|e| SendError::Message(error_chain(&e)))?;
        self.clients
            .sns()?
            .publish()
            .topic_arn(topic_arn)
            .message(payload::sns_message(&self.alert))
            .message_attributes("tattletail_alert_id", attr)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| SendError::Failed(format!("SNS Publish failed: {}", describe_error(&e))))
    }

    async fn ses(&self, from: &str, to: &[String]) -> SendResult {
        let (subject, body) = payload::email(&self.alert);
        let content = |text: String| {
            Content::builder()
                .data(text)
                .charset("UTF-8")
                .build()
                .map_err(|e| SendError::Message(error_chain(&e)))
        };
        let message = Message::builder()
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
            .map(|_| ())
            .map_err(|e| SendError::Failed(format!("SES SendEmail failed: {}", describe_error(&e))))
    }

    async fn slack(&self, url: &str) -> SendResult {
        let body = payload::slack(&self.alert);
        let masked = payload::mask_url(url);
        let mut attempt = 1;
        loop {
            let response = self.clients.http().post(url).json(&body).send().await;
            let (retryable, wait, why) = match response {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => {
                    let status = r.status().as_u16();
                    let retry_after = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(|s| Duration::from_secs(s.min(30)));
                    let text: String = r
                        .text()
                        .await
                        .unwrap_or_default()
                        .chars()
                        .take(200)
                        .collect();
                    (
                        status == 429 || status >= 500,
                        retry_after,
                        format!("HTTP {status} {text}"),
                    )
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
                return Err(SendError::Failed(format!(
                    "Slack webhook {masked} failed after {attempt} attempt(s): {why}"
                )));
            }
            let delay = wait.unwrap_or_else(|| backoff(attempt));
            warn!(
                message = "send_retry",
                rule = self.alert.name.as_str(),
                alert_id = self.alert.alert_id.as_str(),
                destination = self.dest.id.as_str(),
                target = masked.as_str(),
                attempt = attempt as u64,
                error = why.as_str(),
                delay_ms = delay.as_millis() as u64
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
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
    }
}

/// The payload that failed, as JSON text, for the log line.
fn payload_for_log(d: &Destination, a: &AlertData) -> String {
    match &d.kind {
        DestinationKind::Sns { .. } => payload::sns_message(a),
        DestinationKind::Ses { from, to } => {
            let (subject, body) = payload::email(a);
            serde_json::json!({"from": from, "to": to, "subject": subject, "body": body})
                .to_string()
        }
        DestinationKind::SlackWebhook { .. } => payload::slack(a).to_string(),
    }
}

/// The `undelivered_alert` line: the alert in full, where it should have
/// gone and why it did not.
fn log_undelivered(dest: &Destination, a: &AlertData, why: &str) {
    error!(
        message = "undelivered_alert",
        rule = a.name.as_str(),
        alert_id = a.alert_id.as_str(),
        event_id = a.event_id().unwrap_or(""),
        origin = a.origin.as_str(),
        destination = dest.id.as_str(),
        r#type = dest.kind.type_name(),
        target = target(dest).as_str(),
        error = why,
        payload_json = payload_for_log(dest, a).as_str()
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
