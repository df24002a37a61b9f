//! AWS and HTTP clients, built once per process (one Lambda cold start, one
//! CLI run), and the delivery settings read from the environment.
//!
//! AWS only when needed: [`Clients::new`] is told by a [`Needs`] which AWS
//! services the run uses. When none (local files, Slack webhooks only), no
//! AWS configuration is loaded at all: no region, credential or instance
//! metadata (IMDS) lookup. When some, the region comes from the
//! environment (`AWS_REGION`, `AWS_DEFAULT_REGION`) or the AWS profile
//! files, never from IMDS, and its absence is one clear error
//! ([`SetupError::NoRegion`]); credentials come from the SDK's default
//! chain, resolved at the first call.
//!
//! Every AWS call has an attempt timeout and an overall timeout, and is
//! retried by the SDK's standard retry strategy (exponential backoff with
//! jitter on throttling, 5xx and timeouts). `AWS_ENDPOINT_URL` (or
//! `AWS_ENDPOINT_URL_S3`) points the clients at another endpoint (a local
//! moto server in the tests); S3 then uses path-style addressing, which
//! local servers need.

use std::error::Error;
use std::time::Duration;

use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::ProfileFileRegionProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use tattletail_compiler::config::{Destination, DestinationKind, SecretRef};
use tattletail_compiler::plan::Plan;

/// What one of the [`SetupError::NoRegion`] fixes says.
const REGION_HELP: &str = "export AWS_REGION=us-east-1 (or set region in your AWS profile)";

/// Why the clients or the settings could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// `TATTLETAIL_*` variables with unusable values; each problem names
    /// the variable and what it accepts.
    #[error("invalid settings in the environment: {}; fix or unset these variables", .problems.join("; "))]
    Settings {
        /// One line per bad variable.
        problems: Vec<String>,
    },
    /// AWS is needed and no region is set in the environment or the
    /// profile files (the instance metadata service is never asked).
    #[error("no AWS region is set; s3:// inputs and SNS/SES destinations need one: {REGION_HELP}")]
    NoRegion,
    /// The HTTP client (Slack webhooks) could not be built.
    #[error("cannot build the HTTP client for Slack webhooks: {}", error_chain(.0))]
    HttpClient(reqwest::Error),
    /// A client that [`Clients::new`] was not asked for (its [`Needs`]
    /// left it out) was asked for.
    #[error(
        "the {service} client was not set up: the caller built the clients without Needs.{field}; \
         this is a bug in the caller, which must ask for every AWS service it uses"
    )]
    NotBuilt {
        /// The service, as AWS names it (`S3`, `SNS`, `SES`, `DynamoDB`).
        service: &'static str,
        /// The [`Needs`] field that was false.
        field: &'static str,
    },
}

/// `e` and its sources, each once, joined by `: `
/// (`dispatch failure: io error: Connection refused (os error 111)`): the
/// whole story of an error in one readable line, never a `Debug` dump.
pub fn error_chain(e: &(dyn Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(source) = next {
        let text = source.to_string();
        // Some errors repeat their source's text in their own.
        if !text.is_empty() && !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        next = source.source();
    }
    out
}

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
    /// `TATTLETAIL_STATE_TABLE`: the DynamoDB table of noise control and
    /// exactly-once sends; `None`: no table (upstream's behaviour; noise
    /// settings of rules then keep their state in the process).
    pub state_table: Option<String>,
    /// `TATTLETAIL_CLAIM_LEASE_SECS`: how long a claimed send stays with
    /// its sender before another may take it over (the sender died).
    pub claim_lease: Duration,
    /// `AWS_LAMBDA_FUNCTION_NAME`: set in the Lambda only (the dimension of
    /// its metrics; the CLI emits none).
    pub function_name: Option<String>,
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
            state_table: None,
            claim_lease: Duration::from_secs(120),
            function_name: None,
        }
    }
}

impl Settings {
    /// Read `TATTLETAIL_*` variables through `get`; every bad value is
    /// reported ([`SetupError::Settings`]), with what is accepted.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Settings, SetupError> {
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
        if let Some(n) = number("TATTLETAIL_CLAIM_LEASE_SECS", 10, 3600) {
            s.claim_lease = Duration::from_secs(n);
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
        s.state_table = crate::state::Store::table_from_env(&get);
        s.function_name = get("AWS_LAMBDA_FUNCTION_NAME").filter(|f| !f.is_empty());
        if let Some(ns) = get("TATTLETAIL_METRICS_NAMESPACE").filter(|s| !s.is_empty()) {
            s.metrics_namespace = ns;
        }
        if problems.is_empty() {
            Ok(s)
        } else {
            Err(SetupError::Settings { problems })
        }
    }
}

/// Which AWS services a run uses; [`Clients::new`] sets up only those.
/// Slack webhooks need none (the HTTP client is always built).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// S3: `s3://` inputs, objects named by Lambda events, a config in S3.
    pub s3: bool,
    /// SNS destinations.
    pub sns: bool,
    /// SES destinations.
    pub ses: bool,
    /// DynamoDB: the noise-control state table (`state`).
    pub dynamodb: bool,
    /// SSM: destinations' `ssm:` secret references.
    pub ssm: bool,
    /// Secrets Manager: destinations' `secretsmanager:` secret references.
    pub secrets: bool,
}

impl Needs {
    /// Every service (the Lambda: its config, and so its destinations, may
    /// change between invocations).
    pub fn all() -> Needs {
        Needs {
            s3: true,
            sns: true,
            ses: true,
            dynamodb: true,
            ssm: true,
            secrets: true,
        }
    }

    /// What sending to `destinations` needs (`s3` is false: add it for
    /// S3 inputs, `Needs { s3: true, ..Needs::for_destinations(..) }`).
    pub fn for_destinations(destinations: &[Destination]) -> Needs {
        let mut needs = Needs::default();
        for d in destinations {
            match d.kind {
                DestinationKind::Sns { .. } => needs.sns = true,
                DestinationKind::Ses { .. } => needs.ses = true,
                _ => {}
            }
            for secret in d.kind.secrets() {
                match secret {
                    SecretRef::Ssm(_) => needs.ssm = true,
                    SecretRef::SecretsManager(_) => needs.secrets = true,
                    SecretRef::Literal(_) | SecretRef::Env(_) => {}
                }
            }
        }
        needs
    }

    /// What delivering the alerts of `plan` needs: the destinations some
    /// alert can reach ([`Plan::sends_to`]: named by a rule whose severity
    /// it admits, or by a route).
    pub fn for_plan(plan: &Plan) -> Needs {
        let used: Vec<Destination> = plan
            .destinations
            .iter()
            .filter(|d| plan.sends_to(d))
            .cloned()
            .collect();
        Needs::for_destinations(&used)
    }

    /// Is any AWS service needed?
    pub fn any(&self) -> bool {
        self.s3 || self.sns || self.ses || self.dynamodb || self.ssm || self.secrets
    }
}

/// The region from `get` (`AWS_REGION`, then `AWS_DEFAULT_REGION`; empty
/// values count as unset), else from `profile` (the AWS profile files);
/// never from the instance metadata service.
async fn resolve_region(
    get: impl Fn(&str) -> Option<String>,
    profile: ProfileFileRegionProvider,
) -> Result<Region, SetupError> {
    let from_env = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|k| get(k).filter(|v| !v.trim().is_empty()))
        .map(|v| Region::new(v.trim().to_string()));
    RegionProviderChain::first_try(from_env)
        .or_else(profile)
        .region()
        .await
        .ok_or(SetupError::NoRegion)
}

/// The clients. The AWS ones exist only when [`Clients::new`] was asked
/// for them; asking for one that was not built is an error
/// ([`SetupError::NotBuilt`]), never a call to an unconfigured client.
#[derive(Clone, Debug)]
pub struct Clients {
    s3: Option<aws_sdk_s3::Client>,
    sns: Option<aws_sdk_sns::Client>,
    ses: Option<aws_sdk_sesv2::Client>,
    dynamodb: Option<aws_sdk_dynamodb::Client>,
    ssm: Option<aws_sdk_ssm::Client>,
    secrets: Option<aws_sdk_secretsmanager::Client>,
    http: reqwest::Client,
}

impl Clients {
    /// Build the HTTP client and the AWS clients in `needs`. The AWS
    /// configuration (region, credentials chain, endpoint) is loaded only
    /// when `needs` has any; then the region must be set in the
    /// environment or the profile files ([`SetupError::NoRegion`]).
    pub async fn new(settings: &Settings, needs: Needs) -> Result<Clients, SetupError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("tattletail/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(SetupError::HttpClient)?;
        let mut clients = Clients {
            s3: None,
            sns: None,
            ses: None,
            dynamodb: None,
            ssm: None,
            secrets: None,
            http,
        };
        if !needs.any() {
            return Ok(clients);
        }
        let region =
            resolve_region(|k| std::env::var(k).ok(), ProfileFileRegionProvider::new()).await?;
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(settings.timeout)
            .operation_timeout(settings.timeout * (settings.attempts + 1))
            .build();
        let shared = aws_config::defaults(BehaviorVersion::latest())
            .region(region)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(settings.attempts)
                    .with_initial_backoff(Duration::from_millis(200))
                    .with_max_backoff(Duration::from_secs(5)),
            )
            .timeout_config(timeouts)
            .load()
            .await;
        if needs.s3 {
            // S3 object reads can take long: no overall timeout for them,
            // only per-attempt connection and first-byte limits.
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
            clients.s3 = Some(aws_sdk_s3::Client::from_conf(s3_conf));
        }
        if needs.sns {
            clients.sns = Some(aws_sdk_sns::Client::new(&shared));
        }
        if needs.ses {
            clients.ses = Some(aws_sdk_sesv2::Client::new(&shared));
        }
        if needs.dynamodb {
            clients.dynamodb = Some(aws_sdk_dynamodb::Client::new(&shared));
        }
        if needs.ssm {
            clients.ssm = Some(aws_sdk_ssm::Client::new(&shared));
        }
        if needs.secrets {
            clients.secrets = Some(aws_sdk_secretsmanager::Client::new(&shared));
        }
        Ok(clients)
    }

    /// The services these clients were built for.
    pub fn needs(&self) -> Needs {
        Needs {
            s3: self.s3.is_some(),
            sns: self.sns.is_some(),
            ses: self.ses.is_some(),
            dynamodb: self.dynamodb.is_some(),
            ssm: self.ssm.is_some(),
            secrets: self.secrets.is_some(),
        }
    }

    /// S3 (trail objects, config object, listings).
    pub fn s3(&self) -> Result<&aws_sdk_s3::Client, SetupError> {
        self.s3.as_ref().ok_or(SetupError::NotBuilt {
            service: "S3",
            field: "s3",
        })
    }

    /// SNS.
    pub fn sns(&self) -> Result<&aws_sdk_sns::Client, SetupError> {
        self.sns.as_ref().ok_or(SetupError::NotBuilt {
            service: "SNS",
            field: "sns",
        })
    }

    /// SES v2.
    pub fn ses(&self) -> Result<&aws_sdk_sesv2::Client, SetupError> {
        self.ses.as_ref().ok_or(SetupError::NotBuilt {
            service: "SES",
            field: "ses",
        })
    }

    /// DynamoDB (the state table).
    pub fn dynamodb(&self) -> Result<&aws_sdk_dynamodb::Client, SetupError> {
        self.dynamodb.as_ref().ok_or(SetupError::NotBuilt {
            service: "DynamoDB",
            field: "dynamodb",
        })
    }

    /// SSM (`ssm:` secret references).
    pub fn ssm(&self) -> Result<&aws_sdk_ssm::Client, SetupError> {
        self.ssm.as_ref().ok_or(SetupError::NotBuilt {
            service: "SSM",
            field: "ssm",
        })
    }

    /// Secrets Manager (`secretsmanager:` secret references).
    pub fn secrets(&self) -> Result<&aws_sdk_secretsmanager::Client, SetupError> {
        self.secrets.as_ref().ok_or(SetupError::NotBuilt {
            service: "Secrets Manager",
            field: "secrets",
        })
    }

    /// HTTP, for Slack and webhooks (always built).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn settings_from_env_report_every_problem() {
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
        let SetupError::Settings { problems } = &err else {
            panic!("{err}");
        };
        assert_eq!(problems.len(), 3, "{err}");
        let err = err.to_string();
        assert!(
            err.contains("TATTLETAIL_SEND_ATTEMPTS")
                && err.contains("maybe")
                && err.contains(
                    "TATTLETAIL_DEADLINE_MARGIN_MS=\"50\" is not a whole number from 100 to 600000"
                ),
            "{err}"
        );
    }

    fn destination(id: &str, kind: DestinationKind) -> Destination {
        Destination {
            id: id.into(),
            kind,
            min_severity: None,
            rate_limit: None,
        }
    }

    fn slack() -> DestinationKind {
        DestinationKind::SlackWebhook {
            url: "https://hooks.slack.com/services/T/B/x".into(),
        }
    }

    fn sns() -> DestinationKind {
        DestinationKind::Sns {
            topic_arn: "arn:aws:sns:us-east-1:123456789012:alerts".into(),
        }
    }

    fn ses() -> DestinationKind {
        DestinationKind::Ses {
            to: vec!["soc@example.com".into()],
            from: "tattletail@example.com".into(),
        }
    }

    #[test]
    fn needs_follow_the_destination_kinds() {
        assert_eq!(Needs::for_destinations(&[]), Needs::default());
        assert!(!Needs::default().any());
        let only_slack = Needs::for_destinations(&[destination("s", slack())]);
        assert_eq!(only_slack, Needs::default(), "Slack needs no AWS");
        assert!(!only_slack.any());
        let sns_and_slack =
            Needs::for_destinations(&[destination("s", slack()), destination("t", sns())]);
        assert_eq!(
            sns_and_slack,
            Needs {
                s3: false,
                sns: true,
                ses: false,
                ..Needs::default()
            }
        );
        let all = Needs::for_destinations(&[destination("e", ses()), destination("t", sns())]);
        assert_eq!(
            all,
            Needs {
                s3: false,
                sns: true,
                ses: true,
                ..Needs::default()
            }
        );
        assert_eq!(
            Needs {
                s3: true,
                ..Needs::for_destinations(&[destination("e", ses())])
            },
            Needs {
                s3: true,
                sns: false,
                ses: true,
                ..Needs::default()
            }
        );
        assert!(Needs::all().s3 && Needs::all().sns && Needs::all().ses && Needs::all().dynamodb);
    }

    #[test]
    fn needs_follow_the_secret_references() {
        let app = |token: &str| DestinationKind::SlackApp {
            token: SecretRef::parse(token),
            channel: "#c".into(),
        };
        let none = Needs::for_destinations(&[
            destination("a", app("env:TOKEN")),
            destination("b", app("xoxb-literal")),
        ]);
        assert!(!none.any(), "env: and literals need no AWS");
        let ssm = Needs::for_destinations(&[destination("a", app("ssm:/t"))]);
        assert!(ssm.ssm && !ssm.secrets && ssm.any());
        let hook = DestinationKind::Webhook {
            url: "https://x".into(),
            headers: vec![],
            body: Some(
                tattletail_compiler::config::template::Template::parse(
                    "{\"k\": \"{{secretsmanager:pd}}\"}",
                )
                .unwrap(),
            ),
            hmac: None,
        };
        let sm = Needs::for_destinations(&[destination("h", hook)]);
        assert!(sm.secrets && !sm.ssm);
        assert!(Needs::all().ssm && Needs::all().secrets);
    }

    #[test]
    fn needs_of_a_plan_count_only_destinations_a_rule_sends_to() {
        let source = "\
[[destination]]
id = \"slack\"
type = \"slack_webhook\"
webhook_url = \"https://hooks.slack.com/services/T/B/x\"

[[destination]]
id = \"unused-sns\"
type = \"sns\"
sns_arn = \"arn:aws:sns:us-east-1:123456789012:alerts\"

[[destination]]
id = \"mail\"
type = \"ses\"
from_email = \"tattletail@example.com\"
to_emails = [\"soc@example.com\"]

[[rule]]
name = \"r\"
jq_match = 'select(.eventName == \"CreateUser\")'
destinations = [\"slack\"]
";
        let compiled = tattletail_compiler::compile(source).unwrap();
        assert_eq!(compiled.plan.destinations.len(), 3);
        assert_eq!(Needs::for_plan(&compiled.plan), Needs::default());
        assert_eq!(
            Needs::for_destinations(&compiled.plan.destinations),
            Needs {
                s3: false,
                sns: true,
                ses: true,
                ..Needs::default()
            }
        );
        let mail = source.replace("[\"slack\"]", "[\"slack\", \"mail\"]");
        let compiled = tattletail_compiler::compile(&mail).unwrap();
        assert_eq!(
            Needs::for_plan(&compiled.plan),
            Needs {
                s3: false,
                sns: false,
                ses: true,
                ..Needs::default()
            }
        );
        // A route counts; a destination a rule's severity never reaches
        // does not.
        let routed = format!(
            "{source}\n[[route]]\naccounts = [\"123456789012\"]\ndestinations = [\"unused-sns\"]\n"
        );
        let compiled = tattletail_compiler::compile(&routed).unwrap();
        assert!(Needs::for_plan(&compiled.plan).sns);
        let paged = source
            .replace("[\"slack\"]", "[\"slack\", \"mail\"]")
            .replace("to_emails", "min_severity = \"high\"\nto_emails");
        let compiled = tattletail_compiler::compile(&paged).unwrap();
        assert_eq!(Needs::for_plan(&compiled.plan), Needs::default());
    }

    /// A profile provider reading only `config` (the text of a config
    /// file), whatever the machine's `~/.aws` and `AWS_PROFILE` say.
    #[allow(deprecated)] // the aliases spare a dependency on aws-runtime
    fn profile(config: &str) -> ProfileFileRegionProvider {
        use aws_config::profile::profile_file::{ProfileFileKind, ProfileFiles};
        let files = ProfileFiles::builder()
            .with_contents(ProfileFileKind::Config, config)
            .build();
        ProfileFileRegionProvider::builder()
            .profile_files(files)
            .profile_name("default")
            .build()
    }

    #[tokio::test]
    async fn the_region_comes_from_the_environment_or_the_profile_only() {
        let region = |pairs, config: &str| resolve_region(env(pairs), profile(config));
        let r = region(&[("AWS_REGION", "eu-west-3")], "").await;
        assert_eq!(r.unwrap().as_ref(), "eu-west-3");
        let r = region(
            &[("AWS_REGION", ""), ("AWS_DEFAULT_REGION", "ap-south-1")],
            "",
        )
        .await;
        assert_eq!(r.unwrap().as_ref(), "ap-south-1");

        let with_region = "[default]\nregion = sa-east-1\n";
        let r = region(&[], with_region).await;
        assert_eq!(r.unwrap().as_ref(), "sa-east-1");
        // The environment wins over the profile.
        let r = region(&[("AWS_DEFAULT_REGION", "us-west-2")], with_region).await;
        assert_eq!(r.unwrap().as_ref(), "us-west-2");

        // Nowhere: one line saying what needs it and how to set it (and
        // no metadata service lookup, which takes seconds off EC2).
        for config in ["", "[default]\noutput = json\n"] {
            let started = std::time::Instant::now();
            let err = region(&[("AWS_PROFILE", "default")], config)
                .await
                .unwrap_err();
            assert!(started.elapsed() < Duration::from_secs(1));
            assert!(matches!(err, SetupError::NoRegion), "{err}");
            assert_eq!(
                err.to_string(),
                "no AWS region is set; s3:// inputs and SNS/SES destinations need one: \
                 export AWS_REGION=us-east-1 (or set region in your AWS profile)"
            );
        }
    }

    #[tokio::test]
    async fn clients_not_asked_for_are_not_built() {
        // No AWS needed: nothing is loaded, so no region is needed either.
        let clients = Clients::new(&Settings::default(), Needs::default())
            .await
            .unwrap();
        assert_eq!(clients.needs(), Needs::default());
        let err = clients.sns().unwrap_err();
        assert_eq!(
            err.to_string(),
            "the SNS client was not set up: the caller built the clients without Needs.sns; \
             this is a bug in the caller, which must ask for every AWS service it uses"
        );
        assert!(clients.s3().is_err() && clients.ses().is_err() && clients.dynamodb().is_err());
    }

    #[test]
    fn error_chains_are_one_readable_line() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("dispatch failure")
            }
        }
        impl Error for Outer {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ));
        assert_eq!(error_chain(&e), "dispatch failure: connection refused");
    }
}
