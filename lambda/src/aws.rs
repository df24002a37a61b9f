//! AWS and HTTP clients, built once per process (one Lambda cold start, one
//! CLI run), and the delivery settings read from the environment.
//!
//! Every AWS call has an attempt timeout and an overall timeout, and is
//! retried by the SDK's standard retry strategy (exponential backoff with
//! jitter on throttling, 5xx and timeouts). `AWS_ENDPOINT_URL` (or
//! `AWS_ENDPOINT_URL_S3`) points the clients at another endpoint (a local
//! moto server in the tests); S3 then uses path-style addressing, which
//! local servers need.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;

/// How alerts are delivered.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Attempts per send (first try included).
    pub attempts: u32,
    /// Timeout of one send attempt.
    pub timeout: Duration,
    /// Sends in flight at once.
    pub concurrency: usize,
    /// Fail the invocation (or SQS message / Batch task) when an alert
    /// could not be delivered, so Lambda's retry or DLQ takes over.
    pub fail_on_undelivered: bool,
    /// CloudWatch metrics namespace.
    pub metrics_namespace: String,
    /// Time kept before the invocation deadline (see `deadline`).
    pub deadline_margin: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            attempts: 4,
            timeout: Duration::from_secs(10),
            concurrency: 16,
            fail_on_undelivered: false,
            metrics_namespace: "Tattletail".into(),
            deadline_margin: Duration::from_secs(10),
        }
    }
}

impl Settings {
    /// Read `TATTLETAIL_*` variables through `get`; every bad value is
    /// reported, with what is accepted.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let mut s = Settings::default();
        let mut problems = Vec::new();
        let mut number = |name: &str, min: u64, max: u64| -> Option<u64> {
            let raw = get(name)?;
            match raw.trim().parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Some(n),
                _ => {
                    problems.push(format!(
                        "{name}={raw:?} is not a whole number from {min} to {max}"
                    ));
                    None
                }
            }
        };
        if let Some(n) = number("TATTLETAIL_SEND_ATTEMPTS", 1, 10) {
            s.attempts = n as u32;
        }
        if let Some(n) = number("TATTLETAIL_SEND_TIMEOUT_SECS", 1, 300) {
            s.timeout = Duration::from_secs(n);
        }
        if let Some(n) = number("TATTLETAIL_SEND_CONCURRENCY", 1, 256) {
            s.concurrency = n as usize;
        }
        if let Some(n) = number("TATTLETAIL_DEADLINE_MARGIN_MS", 100, 600_000) {
            s.deadline_margin = Duration::from_millis(n);
        }
        if let Some(raw) = get("TATTLETAIL_FAIL_ON_UNDELIVERED") {
            match raw.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" => s.fail_on_undelivered = true,
                "0" | "false" | "no" | "" => s.fail_on_undelivered = false,
                _ => problems.push(format!(
                    "TATTLETAIL_FAIL_ON_UNDELIVERED={raw:?} must be true or false"
                )),
            }
        }
        if let Some(ns) = get("TATTLETAIL_METRICS_NAMESPACE").filter(|s| !s.is_empty()) {
            s.metrics_namespace = ns;
        }
        if problems.is_empty() {
            Ok(s)
        } else {
            Err(problems.join("; "))
        }
    }
}

/// The clients.
#[derive(Clone, Debug)]
pub struct Clients {
    /// S3 (trail objects, config object, listings).
    pub s3: aws_sdk_s3::Client,
    /// SNS.
    pub sns: aws_sdk_sns::Client,
    /// SES v2.
    pub ses: aws_sdk_sesv2::Client,
    /// HTTP for Slack webhooks.
    pub http: reqwest::Client,
}

impl Clients {
    /// Load the AWS configuration (region, credentials, endpoint) from the
    /// environment and build every client.
    pub async fn new(settings: &Settings) -> Result<Clients, String> {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(settings.timeout)
            .operation_timeout(settings.timeout * (settings.attempts + 1))
            .build();
        let shared = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(settings.attempts)
                    .with_initial_backoff(Duration::from_millis(200))
                    .with_max_backoff(Duration::from_secs(5)),
            )
            .timeout_config(timeouts)
            .load()
            .await;
        // S3 object reads can take long: no overall timeout for them, only
        // per-attempt connection and first-byte limits.
        let s3_timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(60))
            .build();
        let custom_endpoint = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]
            .iter()
            .any(|v| std::env::var(v).is_ok_and(|s| !s.is_empty()));
        let s3_conf = aws_sdk_s3::config::Builder::from(&shared)
            .timeout_config(s3_timeouts)
            .force_path_style(custom_endpoint)
            .build();
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("tattletail/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Clients {
            s3: aws_sdk_s3::Client::from_conf(s3_conf),
            sns: aws_sdk_sns::Client::new(&shared),
            ses: aws_sdk_sesv2::Client::new(&shared),
            http,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_env_report_every_problem() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let s = Settings::from_env(env(&[
            ("TATTLETAIL_SEND_ATTEMPTS", "2"),
            ("TATTLETAIL_FAIL_ON_UNDELIVERED", "true"),
            ("TATTLETAIL_DEADLINE_MARGIN_MS", "2500"),
        ]))
        .unwrap();
        assert_eq!(s.attempts, 2);
        assert_eq!(s.deadline_margin, Duration::from_millis(2_500));
        assert!(s.fail_on_undelivered);
        let err = Settings::from_env(env(&[
            ("TATTLETAIL_SEND_ATTEMPTS", "0"),
            ("TATTLETAIL_FAIL_ON_UNDELIVERED", "maybe"),
            ("TATTLETAIL_DEADLINE_MARGIN_MS", "50"),
        ]))
        .unwrap_err();
        assert!(
            err.contains("TATTLETAIL_SEND_ATTEMPTS")
                && err.contains("maybe")
                && err.contains(
                    "TATTLETAIL_DEADLINE_MARGIN_MS=\"50\" is not a whole number from 100 to 600000"
                ),
            "{err}"
        );
    }
}
