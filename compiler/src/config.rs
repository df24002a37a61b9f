//! `tattletail.toml`: the cloudtrail-tattletail config format, read with
//! spans so every problem can point at its line and column.
//!
//! Compatibility with upstream (BurntSushi/toml v0.3.1 decoding into Go
//! structs) decides the rules here: unknown keys and tables are accepted
//! (we warn), key names match case-insensitively (we warn when the case
//! differs), `name`, `description` and `destinations` are optional, and a
//! destination carries keys of other types without complaint. Validation
//! collects **every** problem rather than stopping at the first one.
//!
//! Destinations become a [`DestinationKind`] enum, so a valid config cannot
//! hold an SNS destination without a topic ARN.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::diag::Diagnostic;
use crate::toml_str::OffsetMap;

mod noise;
mod rule_tests;
mod sigma;
mod sigma_tests;
pub use noise::{Dedup, KeyExpr, Noise, Period, Threshold};
pub mod template;
pub use rule_tests::{Expect, RuleTest, TestInput};
pub use sigma::{cannot_read, CorrelationConfig, SigmaInput, SigmaOrigin};

/// A parsed, validated config (the jq in it is checked later, by
/// [`crate::compile`]).
#[derive(Clone, Debug)]
pub struct Config {
    /// `[[rule]]` tables in file order.
    pub rules: Vec<RuleConfig>,
    /// `[[route]]` tables in file order.
    pub routes: Vec<RouteConfig>,
    /// `[[destination]]` tables in file order.
    pub destinations: Vec<Destination>,
    /// `[accounts]`: account id → name, for alerts.
    pub accounts: BTreeMap<String, String>,
    /// `[[exception]]` tables in file order.
    pub exceptions: Vec<ExceptionConfig>,
    /// Sigma correlation rules, over the rules they name.
    pub correlations: Vec<CorrelationConfig>,
}

/// One `[[exception]]`: alerts of `rules` (every rule when empty) on
/// events where `jq_match` gives a truthy first output are suppressed
/// (and counted), until `expires`.
#[derive(Clone, Debug)]
pub struct ExceptionConfig {
    /// Position among the exceptions, from 0.
    pub index: usize,
    /// `name`.
    pub name: String,
    /// `reason` (required: why these alerts are expected).
    pub reason: String,
    /// `rules`: the rule names it applies to, with where each is written;
    /// empty = every rule.
    pub rules: Vec<(String, Range<usize>)>,
    /// The jq condition.
    pub jq_match: String,
    /// Where the `jq_match` value is in the file.
    pub jq_span: Range<usize>,
    /// Maps byte offsets in `jq_match` to offsets in the file.
    pub jq_offsets: OffsetMap,
    /// `expires`, as seconds since the epoch (the instant it stops
    /// suppressing), and as written.
    pub expires: Option<(i64, String)>,
    /// Where the `[[exception]]` header is.
    pub span: Range<usize>,
}

/// How serious a rule's alerts are (`severity`), in increasing order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// `info`.
    Info,
    /// `low`.
    Low,
    /// `medium`.
    Medium,
    /// `high`.
    High,
    /// `critical`.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// As written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// From the config's spelling (any case).
    pub fn parse(text: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

/// Whether a rule's alerts are sent (`mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Alerts are sent (the default).
    #[default]
    Live,
    /// Alerts are evaluated, printed (marked), counted and logged, never
    /// sent: for rolling a rule out.
    DryRun,
}

impl Mode {
    /// As written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Live => "live",
            Mode::DryRun => "dry_run",
        }
    }
}

/// A rule's metadata: optional keys upstream does not have (it ignores
/// unknown keys, so a file using them still loads there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleMeta {
    /// `severity`.
    pub severity: Option<Severity>,
    /// `tags` (e.g. ATT&CK ids).
    pub tags: Vec<String>,
    /// `runbook`: a URL or text.
    pub runbook: Option<String>,
    /// `enabled` (default true): a disabled rule is compiled and checked,
    /// never evaluated.
    pub enabled: bool,
    /// `mode` (default live).
    pub mode: Mode,
    /// References (a Sigma rule's `references`), carried into alerts.
    pub references: Vec<String>,
    /// The rule's matches only feed correlation rules (a Sigma rule a
    /// correlation names without `generate: true`): they are not alerts.
    pub correlation_only: bool,
}

impl Default for RuleMeta {
    fn default() -> Self {
        RuleMeta {
            severity: None,
            tags: Vec::new(),
            runbook: None,
            enabled: true,
            mode: Mode::Live,
            references: Vec::new(),
            correlation_only: false,
        }
    }
}

/// One `[[rule]]`.
#[derive(Clone, Debug)]
pub struct RuleConfig {
    /// Position among the rules, from 0.
    pub index: usize,
    /// `name`, if given (names need not be unique).
    pub name: Option<String>,
    /// The jq program.
    pub jq_match: String,
    /// Where the `jq_match` value is in the file.
    pub jq_span: Range<usize>,
    /// Maps byte offsets in `jq_match` to offsets in the file.
    pub jq_offsets: OffsetMap,
    /// `description`, if given.
    pub description: Option<String>,
    /// Destination ids, in order.
    pub destinations: Vec<String>,
    /// Severity, tags, runbook, enabled, mode.
    pub meta: RuleMeta,
    /// Its `[[rule.test]]` tables, in file order.
    pub tests: Vec<RuleTest>,
    /// Where the `[[rule]]` header is (for a Sigma rule: its `title` in
    /// [`SigmaOrigin::file`]).
    pub span: Range<usize>,
    /// Set for a rule read from a Sigma file: its spans are in that file.
    pub sigma: Option<SigmaOrigin>,
    /// `dedup`, `threshold`, `cooldown`.
    pub noise: Noise,
}

impl RuleConfig {
    /// A diagnostic about this rule at `span` (of its own file).
    pub fn diag(&self, d: Diagnostic) -> Diagnostic {
        match &self.sigma {
            Some(s) => d.in_file(&s.file),
            None => d,
        }
    }

    /// The name shown to users: `name`, or `rule #N` (1-based) without one.
    pub fn display_name(&self) -> String {
        match &self.name {
            Some(n) if !n.is_empty() => n.clone(),
            _ => format!("rule #{}", self.index + 1),
        }
    }
}

/// One `[[destination]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    /// Unique id that rules refer to.
    pub id: String,
    /// Type and its required settings.
    pub kind: DestinationKind,
    /// `min_severity`: only alerts of this severity and above are sent
    /// here (see [`Destination::admits`]).
    pub min_severity: Option<Severity>,
    /// `rate_limit`: at most this many messages per period.
    pub rate_limit: Option<RateLimit>,
}

/// A destination's `rate_limit` (`"10/m"`): at most `count` messages per
/// `per_secs` seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Messages per period, at least 1.
    pub count: u32,
    /// The period: 1, 60 or 3600 seconds.
    pub per_secs: u64,
    /// As written, for messages.
    pub text: String,
}

impl RateLimit {
    /// Parse `N/s`, `N/m` or `N/h` (N ≥ 1); `None` otherwise.
    pub fn parse(text: &str) -> Option<RateLimit> {
        let (n, unit) = text.trim().split_once('/')?;
        let n = n.trim();
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let count: u32 = n.parse().ok().filter(|&c| c >= 1)?;
        let per_secs = match unit.trim() {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            _ => return None,
        };
        Some(RateLimit {
            count,
            per_secs,
            text: text.to_string(),
        })
    }
}

/// Where a secret comes from: written in the file, an environment
/// variable, an SSM parameter or a Secrets Manager secret. Resolved when
/// sending (the Lambda crate's `secrets`). Its `Debug` and `Display` never
/// show a literal value.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum SecretRef {
    /// The value itself (anything without a known prefix).
    Literal(String),
    /// `env:NAME`.
    Env(String),
    /// `ssm:/param/name` (a SecureString is decrypted).
    Ssm(String),
    /// `secretsmanager:name-or-arn` (its SecretString).
    SecretsManager(String),
}

impl SecretRef {
    /// Read a reference: `env:`, `ssm:`, `secretsmanager:` prefixes, else
    /// a literal.
    pub fn parse(text: &str) -> SecretRef {
        if let Some(n) = text.strip_prefix("env:") {
            SecretRef::Env(n.to_string())
        } else if let Some(n) = text.strip_prefix("ssm:") {
            SecretRef::Ssm(n.to_string())
        } else if let Some(n) = text.strip_prefix("secretsmanager:") {
            SecretRef::SecretsManager(n.to_string())
        } else {
            SecretRef::Literal(text.to_string())
        }
    }

    /// Is the value written in the file?
    pub fn is_literal(&self) -> bool {
        matches!(self, SecretRef::Literal(_))
    }

    /// What is wrong with a reference, if anything (an empty name, an
    /// environment variable name that cannot be one).
    pub(crate) fn problem(&self) -> Option<String> {
        match self {
            SecretRef::Literal(_) => None,
            SecretRef::Env(n) if n.is_empty() => Some("`env:` needs a variable name".into()),
            SecretRef::Env(n)
                if n.starts_with(|c: char| c.is_ascii_digit())
                    || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
            {
                Some(format!("`{n}` is not an environment variable name"))
            }
            SecretRef::Ssm(n) if n.trim().is_empty() => {
                Some("`ssm:` needs a parameter name".into())
            }
            SecretRef::SecretsManager(n) if n.trim().is_empty() => {
                Some("`secretsmanager:` needs a secret name or ARN".into())
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretRef::Literal(_) => f.write_str("<literal>"),
            SecretRef::Env(n) => write!(f, "env:{n}"),
            SecretRef::Ssm(n) => write!(f, "ssm:{n}"),
            SecretRef::SecretsManager(n) => write!(f, "secretsmanager:{n}"),
        }
    }
}

impl std::fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretRef({self})")
    }
}

/// A webhook's signature: `hmac_secret` and `hmac_header`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hmac {
    /// The key.
    pub secret: SecretRef,
    /// The header carrying `t=<unix seconds>,v1=<hex>`.
    pub header: String,
}

/// The default `hmac_header`.
pub const HMAC_HEADER: &str = "X-Tattletail-Signature";

impl Destination {
    /// Does this destination take alerts of a rule of `severity`? With a
    /// `min_severity`, only rules of that severity or above; a rule without
    /// severity counts as `info`, so it reaches only destinations without
    /// `min_severity` or with `min_severity = "info"`.
    pub fn admits(&self, severity: Option<Severity>) -> bool {
        self.min_severity
            .is_none_or(|min| severity.unwrap_or(Severity::Info) >= min)
    }
}

/// One `[[route]]`: alerts matching every condition given (each a list,
/// any of its values) also go to `destinations`. A condition not given
/// places no restriction; a route without conditions takes every alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteConfig {
    /// Position among the routes, from 0.
    pub index: usize,
    /// `name`, if given.
    pub name: Option<String>,
    /// `accounts`: recipientAccountId values (names from `[accounts]`
    /// replaced by their ids).
    pub accounts: Option<Vec<String>>,
    /// `regions`: awsRegion values.
    pub regions: Option<Vec<String>>,
    /// `severities`: rule severities (a rule without severity matches none).
    pub severities: Option<Vec<Severity>>,
    /// `rules`: rule names.
    pub rules: Option<Vec<String>>,
    /// `destinations`: destination ids, in order.
    pub destinations: Vec<String>,
    /// Where the `[[route]]` header is.
    pub span: Range<usize>,
}

impl RouteConfig {
    /// The name shown to users: `name`, or `route #N` (1-based) without one.
    pub fn display_name(&self) -> String {
        match &self.name {
            Some(n) if !n.is_empty() => n.clone(),
            _ => format!("route #{}", self.index + 1),
        }
    }
}

/// A destination type with the settings that type requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DestinationKind {
    /// `type = "sns"`: publish to a topic.
    Sns {
        /// `sns_arn`, starts with `arn:`.
        topic_arn: String,
    },
    /// `type = "ses"`: send an email.
    Ses {
        /// `to_emails`, not empty.
        to: Vec<String>,
        /// `from_email`.
        from: String,
    },
    /// `type = "slack_webhook"`: post to an incoming webhook.
    SlackWebhook {
        /// `webhook_url`.
        url: String,
    },
    /// `type = "slack_app"`: `chat.postMessage` with a bot token (Block
    /// Kit messages; follow-ups reply in the alert's thread).
    SlackApp {
        /// `token` (`xoxb-...`), best as a reference.
        token: SecretRef,
        /// `channel`: `#name` or a channel id.
        channel: String,
    },
    /// `type = "webhook"`: POST to any HTTP endpoint.
    Webhook {
        /// `url`, http(s).
        url: String,
        /// `headers`, in file order; values may be references.
        headers: Vec<(String, SecretRef)>,
        /// `body`; without it, the SNS message JSON.
        body: Option<template::Template>,
        /// `hmac_secret` / `hmac_header`.
        hmac: Option<Hmac>,
    },
}

impl DestinationKind {
    /// The `type` string of the config.
    pub fn type_name(&self) -> &'static str {
        match self {
            DestinationKind::Sns { .. } => "sns",
            DestinationKind::Ses { .. } => "ses",
            DestinationKind::SlackWebhook { .. } => "slack_webhook",
            DestinationKind::SlackApp { .. } => "slack_app",
            DestinationKind::Webhook { .. } => "webhook",
        }
    }

    /// The secret references it holds (to know which AWS services
    /// resolving them needs).
    pub fn secrets(&self) -> Vec<&SecretRef> {
        match self {
            DestinationKind::SlackApp { token, .. } => vec![token],
            DestinationKind::Webhook {
                headers,
                hmac,
                body,
                ..
            } => headers
                .iter()
                .map(|(_, v)| v)
                .chain(hmac.as_ref().map(|h| &h.secret))
                .chain(body.iter().flat_map(|b| b.secrets()))
                .collect(),
            _ => Vec::new(),
        }
    }
}

const RULE_KEYS: &[&str] = &[
    "name",
    "jq_match",
    "description",
    "destinations",
    "severity",
    "tags",
    "runbook",
    "enabled",
    "mode",
    "test",
    "dedup",
    "threshold",
    "cooldown",
];
const DEST_KEYS: &[&str] = &[
    "id",
    "type",
    "sns_arn",
    "webhook_url",
    "to_emails",
    "from_email",
    "min_severity",
    "token",
    "channel",
    "url",
    "headers",
    "body",
    "hmac_secret",
    "hmac_header",
    "rate_limit",
];
const DEST_TYPES: &[&str] = &["sns", "ses", "slack_webhook", "slack_app", "webhook"];

/// Parse and validate a config. Returns what could be read (rules and
/// destinations that are valid on their own) and every diagnostic,
/// warnings included. The config is usable only if no diagnostic is an
/// error; the partial config lets later stages (jq) report their problems
/// in the same run.
pub fn parse(source: &str) -> (Config, Vec<Diagnostic>) {
    let mut resolve = cannot_read;
    parse_with(source, &mut SigmaInput::none(&mut resolve))
}

/// Parse config text, reading the Sigma rules its `[[sigma]]` tables name
/// (and any others) through `sigma`.
pub fn parse_with(source: &str, sigma: &mut SigmaInput<'_>) -> (Config, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let (root, errors) = DeTable::parse_recoverable(source);
    for e in &errors {
        let span = e.span().unwrap_or(0..0);
        diags.push(
            Diagnostic::error(format!("TOML syntax: {}", e.message().trim_end()), span).with_help(
                "see https://toml.io for the syntax; jq is easiest in '''literal''' strings",
            ),
        );
    }
    if !errors.is_empty() {
        return (
            Config {
                rules: Vec::new(),
                routes: Vec::new(),
                destinations: Vec::new(),
                accounts: BTreeMap::new(),
                exceptions: Vec::new(),
                correlations: Vec::new(),
            },
            diags,
        );
    }
    let root = root.into_inner();
    let mut accounts = BTreeMap::new();
    let mut exceptions = Vec::new();

    let mut rules = Vec::new();
    let mut rule_count = 0;
    let mut destinations = Vec::new();
    let mut dest_spans: Vec<(String, Range<usize>)> = Vec::new();
    let mut raw_routes: Vec<RawRoute> = Vec::new();
    let mut sigma_tables = Vec::new();
    for (key, value) in root.iter() {
        let lower = key.get_ref().to_ascii_lowercase();
        match lower.as_str() {
            "rule" | "destination" => {
                note_case(&mut diags, key, &lower);
                let Some(items) = array_of_tables(value, &lower, &mut diags) else { continue };
                for (table, span) in items {
                    if lower == "rule" {
                        let index = rule_count;
                        rule_count += 1;
                        if let Some(r) = rule(source, table, span, index, &mut diags) {
                            rules.push(r);
                        }
                        continue;
                    }
                    let (dest, id) = destination(source, table, span, &mut diags);
                    let Some((id, id_span)) = id else { continue };
                    if let Some((_, first)) = dest_spans.iter().find(|(d, _)| *d == id) {
                        let (line, _) = crate::diag::line_col(source, first.start);
                        diags.push(
                            Diagnostic::error(format!("duplicate destination id `{id}`"), id_span).with_help(
                                format!("destination ids must be unique; `{id}` is first defined on line {line}"),
                            ),
                        );
                        continue;
                    }
                    dest_spans.push((id, id_span));
                    destinations.extend(dest);
                }
            }
            "accounts" => {
                note_case(&mut diags, key, &lower);
                accounts = account_names(value, &mut diags);
            }
            "exception" => {
                note_case(&mut diags, key, &lower);
                let Some(items) = array_of_tables(value, &lower, &mut diags) else { continue };
                for (table, span) in items {
                    let index = exceptions.len();
                    if let Some(e) = exception(source, table, span, index, &mut diags) {
                        exceptions.push(e);
                    }
                }
            }
            "sigma" => {
                note_case(&mut diags, key, &lower);
                let Some(items) = array_of_tables(value, &lower, &mut diags) else { continue };
                for (table, span) in items {
                    sigma_tables.extend(sigma::table(source, table, span, &mut diags));
                }
            }
            "route" => {
                note_case(&mut diags, key, &lower);
                let Some(items) = array_of_tables(value, &lower, &mut diags) else { continue };
                for (table, span) in items {
                    raw_routes.extend(route(table, span, raw_routes.len(), &mut diags));
                }
            }
            _ => diags.push(
                Diagnostic::warning(format!("unknown key `{}` is ignored", key.get_ref()), key.span())
                    .with_help("tattletail reads [[rule]], [[destination]], [[exception]], [[route]] and [[sigma]] tables and an [accounts] table; other keys are ignored, as upstream does"),
            ),
        }
    }

    // Two rules of one name: their alerts get different ids (plan::identities),
    // but every place that names a rule (exceptions, routes, metrics) means both.
    for (i, r) in rules.iter().enumerate() {
        let Some(name) = r.name.as_deref().filter(|n| !n.is_empty()) else {
            continue;
        };
        if let Some(first) = rules[..i].iter().find(|f| f.name.as_deref() == Some(name)) {
            let (line, _) = crate::diag::line_col(source, first.span.start);
            diags.push(
                Diagnostic::warning(format!("rule name `{name}` is also used by the rule on line {line}"), r.span.clone())
                    .with_help("give each rule its own name: alerts, metrics, exceptions and routes name rules, and the two are told apart only by their alert ids"),
            );
        }
    }

    // Sigma rules come after the jq rules, in input order.
    let loaded = sigma::load(sigma_tables, sigma, rule_count, &dest_spans, &mut diags);
    let sigma_count = loaded.rules.len();
    rules.extend(loaded.rules);
    let correlations = sigma::resolve(loaded.correlations, &mut rules, &mut diags);

    // Cross-references: every rule destination must exist.
    for r in root
        .iter()
        .filter(|(k, _)| k.get_ref().eq_ignore_ascii_case("rule"))
    {
        let Some(items) = r.1.get_ref().as_array() else {
            continue;
        };
        for item in items {
            let Some(table) = item.get_ref().as_table() else {
                continue;
            };
            let Some((_, dests)) = lookup(table, "destinations") else {
                continue;
            };
            for (id, span) in string_list_spans(dests) {
                if !dest_spans.iter().any(|(d, _)| *d == id) {
                    let known: Vec<&str> = dest_spans.iter().map(|(d, _)| d.as_str()).collect();
                    let help = if known.is_empty() {
                        format!(
                            "no destinations are defined; add a [[destination]] with id = \"{id}\""
                        )
                    } else {
                        format!(
                            "known ids: {}; or add a [[destination]] with id = \"{id}\"",
                            known.join(", ")
                        )
                    };
                    diags.push(
                        Diagnostic::error(format!("unknown destination id `{id}`"), span)
                            .with_help(help),
                    );
                }
            }
        }
    }

    let routes = resolve_routes(
        raw_routes,
        &rules,
        &destinations,
        &dest_spans,
        &accounts,
        &mut diags,
    );
    unreachable_rule_destinations(&root, &rules, &destinations, &mut diags);

    if rule_count == 0 && sigma_count == 0 && !diags.iter().any(Diagnostic::is_error) {
        diags.push(
            Diagnostic::warning(
                "the config has no [[rule]] tables: nothing will alert",
                0..0,
            )
            .with_help("add [[rule]] tables with name and jq_match"),
        );
    }
    // Exceptions name rules that exist.
    for e in &exceptions {
        for (name, span) in &e.rules {
            if !rules
                .iter()
                .any(|r| r.name.as_deref() == Some(name.as_str()))
            {
                let mut known: Vec<String> = rules.iter().filter_map(|r| r.name.clone()).collect();
                known.truncate(12);
                diags.push(
                    Diagnostic::error(
                        format!(
                            "exception `{}` names rule `{name}`, which does not exist",
                            e.name
                        ),
                        span.clone(),
                    )
                    .with_help(format!(
                        "rules are named by their `name`; known: {}",
                        known.join(", ")
                    )),
                );
            }
        }
    }
    (
        Config {
            rules,
            routes,
            destinations,
            accounts,
            exceptions,
            correlations,
        },
        diags,
    )
}

const EXCEPTION_KEYS: &[&str] = &["name", "reason", "rules", "jq_match", "expires"];

/// One `[[exception]]`; every problem is a diagnostic.
fn exception(
    source: &str,
    table: &Table<'_>,
    span: Range<usize>,
    index: usize,
    diags: &mut Vec<Diagnostic>,
) -> Option<ExceptionConfig> {
    check_keys(table, EXCEPTION_KEYS, "[[exception]]", diags);
    let label = format!("exception #{}", index + 1);
    let mut required = |key: &str, help: &str| {
        let got = string(table, key, diags);
        if got.is_none() && lookup(table, key).is_none() {
            diags.push(
                Diagnostic::error(format!("{label} has no `{key}`"), span.clone())
                    .with_help(help.to_string()),
            );
        }
        got
    };
    let name = required(
        "name",
        "add name = \"…\": suppressed alerts are counted under it",
    );
    let reason = required(
        "reason",
        "add reason = \"…\": why these alerts are expected (reviewers and the summary show it)",
    );
    let jq = required(
        "jq_match",
        "add jq_match = '<jq>': alerts are suppressed on events where its first output is not null or false",
    );
    let rules = match lookup(table, "rules") {
        Some((_, v)) => {
            let _ = string_list(table, "rules", diags);
            string_list_spans(v)
        }
        None => Vec::new(),
    };
    let expires = match lookup(table, "expires") {
        None => None,
        Some((_, v)) => {
            let text = match v.get_ref() {
                DeValue::String(s) => Some(s.to_string()),
                DeValue::Datetime(d) => Some(d.to_string()),
                other => {
                    diags.push(Diagnostic::error(
                        format!("`expires` must be a date, found {}", other.type_str()),
                        v.span(),
                    ));
                    None
                }
            };
            match text.map(|t| (crate::date::parse_expiry(&t), t)) {
                Some((Ok(at), t)) => Some((at, t)),
                Some((Err(why), _)) => {
                    diags.push(
                        Diagnostic::error(format!("`expires`: {why}"), v.span()).with_help(
                            "an RFC 3339 date (2026-12-31: to the end of that day, UTC) or date-time (2026-12-31T18:00:00Z)",
                        ),
                    );
                    None
                }
                None => None,
            }
        }
    };
    let (name, _) = name?;
    let (reason, _) = reason?;
    let (jq, jq_span) = jq?;
    if reason.trim().is_empty() {
        diags.push(
            Diagnostic::error(
                format!("exception `{name}` has an empty `reason`"),
                span.clone(),
            )
            .with_help("say why these alerts are expected"),
        );
    }
    let jq_offsets = OffsetMap::new(&source[jq_span.clone()], jq_span.start, &jq);
    Some(ExceptionConfig {
        index,
        name,
        reason,
        rules,
        jq_match: jq,
        jq_span,
        jq_offsets,
        expires,
        span,
    })
}

/// `[accounts]`: `"123456789012" = "prod"` pairs.
fn account_names(
    value: &Spanned<DeValue<'_>>,
    diags: &mut Vec<Diagnostic>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(table) = value.get_ref().as_table() else {
        diags.push(
            Diagnostic::error(
                format!(
                    "`accounts` must be a table, found {}",
                    value.get_ref().type_str()
                ),
                value.span(),
            )
            .with_help("write [accounts] and then lines like \"123456789012\" = \"prod\""),
        );
        return out;
    };
    for (k, v) in table.iter() {
        let id = k.get_ref();
        if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
            diags.push(
                Diagnostic::warning(format!("`{id}` is not a 12-digit AWS account id"), k.span())
                    .with_help("account ids are matched against recipientAccountId exactly, e.g. \"012345678901\" = \"prod\""),
            );
        }
        match v.get_ref() {
            DeValue::String(name) => {
                out.insert(id.to_string(), name.to_string());
            }
            other => diags.push(Diagnostic::error(
                format!(
                    "the name of account `{id}` must be a string, found {}",
                    other.type_str()
                ),
                v.span(),
            )),
        }
    }
    out
}

/// A rule's metadata keys; every problem is a diagnostic.
fn rule_meta(table: &Table<'_>, diags: &mut Vec<Diagnostic>) -> RuleMeta {
    let mut meta = RuleMeta::default();
    if let Some((text, span)) = string(table, "severity", diags) {
        match Severity::parse(&text) {
            Some(s) => meta.severity = Some(s),
            None => diags.push(
                Diagnostic::error(format!("unknown severity `{text}`"), span)
                    .with_help("severity is one of info, low, medium, high, critical"),
            ),
        }
    }
    if let Some((tags, _)) = string_list(table, "tags", diags) {
        meta.tags = tags;
    }
    meta.runbook = string(table, "runbook", diags).map(|(s, _)| s);
    if let Some((_, v)) = lookup(table, "enabled") {
        match v.get_ref() {
            DeValue::Boolean(b) => meta.enabled = *b,
            other => diags.push(
                Diagnostic::error(
                    format!(
                        "`enabled` must be true or false, found {}",
                        other.type_str()
                    ),
                    v.span(),
                )
                .with_help(
                    "enabled = false keeps the rule compiled and checked but never evaluates it",
                ),
            ),
        }
    }
    if let Some((text, span)) = string(table, "mode", diags) {
        match text.trim().to_ascii_lowercase().as_str() {
            "live" => meta.mode = Mode::Live,
            "dry_run" | "dry-run" | "dryrun" => meta.mode = Mode::DryRun,
            _ => diags.push(
                Diagnostic::error(format!("unknown mode `{text}`"), span).with_help(
                    "mode is \"live\" (the default: alerts are sent) or \"dry_run\" (evaluated, printed and counted, never sent)",
                ),
            ),
        }
    }
    meta
}

type Table<'a> = DeTable<'a>;

fn note_case(diags: &mut Vec<Diagnostic>, key: &Spanned<std::borrow::Cow<'_, str>>, want: &str) {
    if key.get_ref() != want {
        diags.push(
            Diagnostic::warning(
                format!(
                    "key `{}` matched `{want}` case-insensitively",
                    key.get_ref()
                ),
                key.span(),
            )
            .with_help(format!("write it as `{want}`")),
        );
    }
}

fn array_of_tables<'a, 'b>(
    value: &'b Spanned<DeValue<'a>>,
    name: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<(&'b Table<'a>, Range<usize>)>> {
    let not_tables = || {
        Diagnostic::error(format!("`{name}` must be an array of tables"), value.span())
            .with_help(format!("write each one as a [[{name}]] table"))
    };
    let DeValue::Array(items) = value.get_ref() else {
        diags.push(not_tables());
        return None;
    };
    let mut out = Vec::new();
    for item in items {
        match item.get_ref() {
            DeValue::Table(t) => out.push((t, item.span())),
            _ => diags.push(not_tables()),
        }
    }
    Some(out)
}

/// Find `key` case-insensitively; an exact match wins.
fn lookup<'a, 'b>(
    table: &'b Table<'a>,
    key: &str,
) -> Option<(
    &'b Spanned<std::borrow::Cow<'a, str>>,
    &'b Spanned<DeValue<'a>>,
)> {
    table.iter().find(|(k, _)| k.get_ref() == key).or_else(|| {
        table
            .iter()
            .find(|(k, _)| k.get_ref().eq_ignore_ascii_case(key))
    })
}

fn check_keys(table: &Table<'_>, known: &[&str], what: &str, diags: &mut Vec<Diagnostic>) {
    for (k, _) in table.iter() {
        let lower = k.get_ref().to_ascii_lowercase();
        if known.contains(&lower.as_str()) {
            note_case(diags, k, &lower);
        } else {
            diags.push(
                Diagnostic::warning(
                    format!("unknown key `{}` in a {what} is ignored", k.get_ref()),
                    k.span(),
                )
                .with_help(format!("known keys: {}", known.join(", "))),
            );
        }
    }
}

fn string<'a>(
    table: &Table<'a>,
    key: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<(String, Range<usize>)> {
    let (_, v) = lookup(table, key)?;
    match v.get_ref() {
        DeValue::String(s) => Some((s.to_string(), v.span())),
        other => {
            diags.push(Diagnostic::error(
                format!("`{key}` must be a string, found {}", other.type_str()),
                v.span(),
            ));
            None
        }
    }
}

/// A list of strings; a bare string is accepted as a one-element list (a
/// compatible extension: upstream rejects it).
fn string_list(
    table: &Table<'_>,
    key: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<(Vec<String>, Range<usize>)> {
    let (_, v) = lookup(table, key)?;
    match v.get_ref() {
        DeValue::String(s) => Some((vec![s.to_string()], v.span())),
        DeValue::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                match item.get_ref() {
                    DeValue::String(s) => out.push(s.to_string()),
                    other => diags.push(Diagnostic::error(
                        format!(
                            "`{key}` must be a list of strings; this item is {}",
                            with_article(other.type_str())
                        ),
                        item.span(),
                    )),
                }
            }
            Some((out, v.span()))
        }
        other => {
            diags.push(Diagnostic::error(
                format!(
                    "`{key}` must be a list of strings, found {}",
                    other.type_str()
                ),
                v.span(),
            ));
            None
        }
    }
}

/// `an integer`, `a string`.
fn with_article(kind: &str) -> String {
    let an = kind.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {kind}", if an { "an" } else { "a" })
}

fn string_list_spans(v: &Spanned<DeValue<'_>>) -> Vec<(String, Range<usize>)> {
    match v.get_ref() {
        DeValue::String(s) => vec![(s.to_string(), v.span())],
        DeValue::Array(items) => items
            .iter()
            .filter_map(|i| i.get_ref().as_str().map(|s| (s.to_string(), i.span())))
            .collect(),
        _ => Vec::new(),
    }
}

fn rule(
    source: &str,
    table: &Table<'_>,
    span: Range<usize>,
    index: usize,
    diags: &mut Vec<Diagnostic>,
) -> Option<RuleConfig> {
    check_keys(table, RULE_KEYS, "[[rule]]", diags);
    let name = string(table, "name", diags).map(|(s, _)| s);
    let description = string(table, "description", diags).map(|(s, _)| s);
    let destinations = string_list(table, "destinations", diags)
        .map(|(l, _)| l)
        .unwrap_or_default();
    let meta = rule_meta(table, diags);
    let label = match &name {
        Some(n) => format!("rule `{n}`"),
        None => format!("rule #{}", index + 1),
    };
    let tests = rule_tests::rule_tests(source, table, &label, diags);
    let noise = noise::read(source, table, &label, diags);
    let Some((jq, jq_span)) = string(table, "jq_match", diags) else {
        if lookup(table, "jq_match").is_none() {
            diags.push(
                Diagnostic::error(format!("{label} has no `jq_match`"), span)
                    .with_help("add jq_match = '<jq expression>', e.g. jq_match = 'select(.eventName == \"ConsoleLogin\")'"),
            );
        }
        return None;
    };
    if jq.trim().is_empty() {
        diags.push(
            Diagnostic::error(format!("{label} has an empty `jq_match`"), jq_span).with_help(
                "write a jq expression; a rule alerts when its first output is not null or false",
            ),
        );
        return None;
    }
    let jq_offsets = OffsetMap::new(&source[jq_span.clone()], jq_span.start, &jq);
    Some(RuleConfig {
        index,
        name,
        jq_match: jq,
        jq_span,
        jq_offsets,
        description,
        destinations,
        meta,
        tests,
        span,
        sigma: None,
        noise,
    })
}

/// A destination (when valid) and its id (whenever it has one, so that
/// duplicates are found even among invalid destinations).
fn destination(
    source: &str,
    table: &Table<'_>,
    span: Range<usize>,
    diags: &mut Vec<Diagnostic>,
) -> (Option<Destination>, Option<(String, Range<usize>)>) {
    check_keys(table, DEST_KEYS, "[[destination]]", diags);
    let id = string(table, "id", diags);
    let typ = string(table, "type", diags);
    let label = match &id {
        Some((id, _)) => format!("destination `{id}`"),
        None => "destination".to_string(),
    };
    if id.is_none() && lookup(table, "id").is_none() {
        diags.push(
            Diagnostic::error("destination has no `id`", span.clone())
                .with_help("add id = \"<name>\"; rules refer to destinations by id"),
        );
    }
    let Some((typ, typ_span)) = typ else {
        if lookup(table, "type").is_none() {
            diags.push(
                Diagnostic::error(format!("{label} has no `type`"), span).with_help(
                    "add type = \"sns\", \"ses\", \"slack_webhook\", \"slack_app\" or \"webhook\"",
                ),
            );
        }
        return (None, id);
    };
    let missing = |diags: &mut Vec<Diagnostic>, key: &str, help: &str| {
        diags.push(
            Diagnostic::error(
                format!("{label} of type `{typ}` needs `{key}`"),
                span.clone(),
            )
            .with_help(help.to_string()),
        );
    };
    let kind = match typ.as_str() {
        "sns" => match string(table, "sns_arn", diags) {
            Some((arn, _)) if arn.starts_with("arn:") => {
                Some(DestinationKind::Sns { topic_arn: arn })
            }
            Some((arn, arn_span)) => {
                diags.push(
                    Diagnostic::error(
                        format!("`sns_arn` must start with `arn:`, found `{arn}`"),
                        arn_span,
                    )
                    .with_help("use the topic ARN, e.g. arn:aws:sns:us-east-1:123456789012:alerts"),
                );
                None
            }
            None => {
                if lookup(table, "sns_arn").is_none() {
                    missing(
                        diags,
                        "sns_arn",
                        "add sns_arn = \"arn:aws:sns:<region>:<account>:<topic>\"",
                    );
                }
                None
            }
        },
        "ses" => {
            let to = string_list(table, "to_emails", diags);
            let from = string(table, "from_email", diags);
            let mut ok = true;
            match &to {
                Some((list, s)) if list.is_empty() => {
                    ok = false;
                    diags.push(
                        Diagnostic::error(format!("{label}: `to_emails` is empty"), s.clone())
                            .with_help("list at least one recipient, e.g. to_emails = [\"secops@example.com\"]"),
                    );
                }
                Some(_) => {}
                None => {
                    ok = false;
                    if lookup(table, "to_emails").is_none() {
                        missing(
                            diags,
                            "to_emails",
                            "add to_emails = [\"secops@example.com\"]",
                        );
                    }
                }
            }
            if from.is_none() {
                ok = false;
                if lookup(table, "from_email").is_none() {
                    missing(
                        diags,
                        "from_email",
                        "add from_email = \"tattletail@example.com\" (a verified SES identity)",
                    );
                }
            }
            match (ok, to, from) {
                (true, Some((to, _)), Some((from, _))) => Some(DestinationKind::Ses { to, from }),
                _ => None,
            }
        }
        "slack_webhook" => match string(table, "webhook_url", diags) {
            Some((url, url_span)) => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    diags.push(
                        Diagnostic::warning("`webhook_url` does not look like an http(s) URL", url_span)
                            .with_help("Slack incoming webhooks look like https://hooks.slack.com/services/..."),
                    );
                }
                Some(DestinationKind::SlackWebhook { url })
            }
            None => {
                if lookup(table, "webhook_url").is_none() {
                    missing(
                        diags,
                        "webhook_url",
                        "add webhook_url = \"https://hooks.slack.com/services/...\"",
                    );
                }
                None
            }
        },
        "slack_app" => slack_app(table, &label, &span, diags),
        "webhook" => webhook(source, table, &label, &span, diags),
        other => {
            diags.push(
                Diagnostic::error(format!("unknown destination type `{other}`"), typ_span)
                    .with_help(format!("use one of: {}", DEST_TYPES.join(", "))),
            );
            None
        }
    };
    let min_severity = destination_min_severity(table, diags);
    let rate_limit = destination_rate_limit(table, diags);
    let dest = match (&id, kind) {
        (Some((id, _)), Some(kind)) => Some(Destination {
            id: id.clone(),
            kind,
            min_severity,
            rate_limit,
        }),
        _ => None,
    };
    (dest, id)
}

/// What secret references look like, for help texts.
const SECRET_FORMS: &str = "env:NAME (an environment variable of the Lambda), ssm:/param/name (an SSM parameter, SecureString ok) or secretsmanager:name-or-arn (a Secrets Manager secret)";

/// A key holding a [`SecretRef`]; a literal value is a secret written in
/// the file (warned).
fn secret(
    table: &Table<'_>,
    key: &str,
    label: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<SecretRef> {
    let (text, span) = string(table, key, diags)?;
    secret_value(&text, span, &format!("{label}: `{key}`"), true, diags)
}

/// `text` as a [`SecretRef`]; with `warn_literal`, a literal is warned
/// about (and an empty one is an error).
fn secret_value(
    text: &str,
    span: Range<usize>,
    what: &str,
    warn_literal: bool,
    diags: &mut Vec<Diagnostic>,
) -> Option<SecretRef> {
    let r = SecretRef::parse(text);
    if let Some(problem) = r.problem() {
        diags.push(
            Diagnostic::error(format!("{what}: {problem}"), span)
                .with_help(format!("a secret reference is {SECRET_FORMS}")),
        );
        return None;
    }
    if r.is_literal() && warn_literal {
        if text.is_empty() {
            diags.push(
                Diagnostic::error(format!("{what} is empty"), span)
                    .with_help(format!("write the secret as {SECRET_FORMS}")),
            );
            return None;
        }
        diags.push(
            Diagnostic::warning(format!("{what} is a secret written in the config file"), span)
                .with_help(format!(
                    "keep secrets out of the file: write {SECRET_FORMS}, e.g. \"ssm:/tattletail/slack-token\""
                )),
        );
    }
    Some(r)
}

/// `type = "slack_app"`: `token` and `channel`.
fn slack_app(
    table: &Table<'_>,
    label: &str,
    span: &Range<usize>,
    diags: &mut Vec<Diagnostic>,
) -> Option<DestinationKind> {
    let token = secret(table, "token", label, diags);
    if token.is_none() && lookup(table, "token").is_none() {
        diags.push(
            Diagnostic::error(format!("{label} of type `slack_app` needs `token`"), span.clone())
                .with_help(format!(
                    "add the bot token (xoxb-..., scope chat:write) as a reference, e.g. token = \"ssm:/tattletail/slack-token\"; {SECRET_FORMS}"
                )),
        );
    }
    let channel = match string(table, "channel", diags) {
        Some((c, c_span)) if c.trim().is_empty() => {
            diags.push(
                Diagnostic::error(format!("{label}: `channel` is empty"), c_span)
                    .with_help("name the channel, e.g. channel = \"#security\" or a channel id such as \"C0123456789\""),
            );
            None
        }
        Some((c, _)) => Some(c),
        None => {
            if lookup(table, "channel").is_none() {
                diags.push(
                    Diagnostic::error(format!("{label} of type `slack_app` needs `channel`"), span.clone())
                        .with_help("add channel = \"#security\" (or a channel id such as \"C0123456789\"); invite the app to it"),
                );
            }
            None
        }
    };
    Some(DestinationKind::SlackApp {
        token: token?,
        channel: channel?,
    })
}

/// Is `name` an HTTP header name (an RFC 9110 token)?
fn header_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A webhook's `url`: required, http(s).
fn webhook_url(
    table: &Table<'_>,
    label: &str,
    span: &Range<usize>,
    diags: &mut Vec<Diagnostic>,
) -> Option<String> {
    let Some((u, u_span)) = string(table, "url", diags) else {
        if lookup(table, "url").is_none() {
            diags.push(
                Diagnostic::error(format!("{label} of type `webhook` needs `url`"), span.clone())
                    .with_help("add url = \"https://...\", e.g. url = \"https://events.pagerduty.com/v2/enqueue\""),
            );
        }
        return None;
    };
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"));
    if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
        diags.push(
            Diagnostic::error(format!("{label}: `url` must be an http(s) URL"), u_span)
                .with_help("e.g. url = \"https://events.pagerduty.com/v2/enqueue\""),
        );
        return None;
    }
    Some(u)
}

/// A webhook's `headers`: `None` when one is unusable.
fn webhook_headers(
    table: &Table<'_>,
    label: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<(String, SecretRef)>> {
    let mut headers = Vec::new();
    let Some((_, v)) = lookup(table, "headers") else {
        return Some(headers);
    };
    let DeValue::Table(t) = v.get_ref() else {
        diags.push(
            Diagnostic::error(
                format!(
                    "`headers` must be a table, found {}",
                    v.get_ref().type_str()
                ),
                v.span(),
            )
            .with_help(
                "write headers = { Authorization = \"env:API_TOKEN\", \"X-Team\" = \"secops\" }",
            ),
        );
        return None;
    };
    let mut ok = true;
    for (k, hv) in t.iter() {
        let name = k.get_ref().to_string();
        if !header_name_ok(&name) {
            ok = false;
            diags.push(
                Diagnostic::error(format!("`{name}` is not an HTTP header name"), k.span())
                    .with_help(
                        "header names are letters, digits and -, e.g. Authorization or X-Api-Key",
                    ),
            );
            continue;
        }
        let DeValue::String(text) = hv.get_ref() else {
            ok = false;
            diags.push(
                Diagnostic::error(
                    format!(
                        "header `{name}` must be a string, found {}",
                        hv.get_ref().type_str()
                    ),
                    hv.span(),
                )
                .with_help(format!(
                    "write the value as a string, e.g. {name} = \"env:API_TOKEN\""
                )),
            );
            continue;
        };
        let lower = name.to_ascii_lowercase();
        let sensitive = ["authorization", "token", "key", "secret", "password"]
            .iter()
            .any(|w| lower.contains(w));
        let what = format!("{label}: header `{name}`");
        match secret_value(text, hv.span(), &what, sensitive, diags) {
            Some(r) => headers.push((name, r)),
            None => ok = false,
        }
    }
    ok.then_some(headers)
}

/// A webhook's `body` template, its errors mapped into the file. The
/// outer `None`: no body; `Some(None)`: an unusable one.
fn webhook_body(
    source: &str,
    table: &Table<'_>,
    label: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Option<template::Template>> {
    let (_, v) = lookup(table, "body")?;
    let DeValue::String(text) = v.get_ref() else {
        diags.push(
            Diagnostic::error(
                format!("`body` must be a string, found {}", v.get_ref().type_str()),
                v.span(),
            )
            .with_help(
                "write the body as a template string, e.g. body = '{\"text\": \"{{text}}\"}'",
            ),
        );
        return Some(None);
    };
    match template::Template::parse(text) {
        Ok(t) => Some(Some(t)),
        Err(errors) => {
            let map = OffsetMap::new(&source[v.span()], v.span().start, text);
            for e in errors {
                diags.push(
                    Diagnostic::error(format!("{label}: {}", e.message), map.map_range(e.range))
                        .with_help(e.help),
                );
            }
            Some(None)
        }
    }
}

/// `type = "webhook"`: `url`, `headers`, `body`, `hmac_secret`, `hmac_header`.
fn webhook(
    source: &str,
    table: &Table<'_>,
    label: &str,
    span: &Range<usize>,
    diags: &mut Vec<Diagnostic>,
) -> Option<DestinationKind> {
    let url = webhook_url(table, label, span, diags);
    let headers = webhook_headers(table, label, diags);
    let body = webhook_body(source, table, label, diags);
    let header = string(table, "hmac_header", diags);
    let mut header_ok = true;
    if let Some((h, h_span)) = &header {
        if !header_name_ok(h) {
            header_ok = false;
            diags.push(
                Diagnostic::error(
                    format!("`hmac_header`: `{h}` is not an HTTP header name"),
                    h_span.clone(),
                )
                .with_help(format!(
                    "e.g. hmac_header = \"{HMAC_HEADER}\" (the default)"
                )),
            );
        }
    }
    let hmac = match lookup(table, "hmac_secret") {
        None => {
            if let Some((_, h_span)) = &header {
                diags.push(
                    Diagnostic::warning(
                        "`hmac_header` without `hmac_secret` is ignored",
                        h_span.clone(),
                    )
                    .with_help("add hmac_secret = \"env:WEBHOOK_SECRET\" to sign the requests"),
                );
            }
            None
        }
        Some(_) => Some(secret(table, "hmac_secret", label, diags).map(|secret| {
            Hmac {
                secret,
                header: header
                    .map(|(h, _)| h)
                    .unwrap_or_else(|| HMAC_HEADER.to_string()),
            }
        })?),
    };
    if !header_ok || matches!(body, Some(None)) {
        return None;
    }
    Some(DestinationKind::Webhook {
        url: url?,
        headers: headers?,
        body: body.flatten(),
        hmac,
    })
}

/// A destination's `rate_limit`.
fn destination_rate_limit(table: &Table<'_>, diags: &mut Vec<Diagnostic>) -> Option<RateLimit> {
    let (text, span) = string(table, "rate_limit", diags)?;
    let parsed = RateLimit::parse(&text);
    if parsed.is_none() {
        diags.push(
            Diagnostic::error(format!("`rate_limit` `{text}` is not N/s, N/m or N/h"), span).with_help(
                "write how many messages per second, minute or hour this destination takes, with N at least 1, e.g. rate_limit = \"20/m\"",
            ),
        );
    }
    parsed
}

// ---- Routing: `min_severity` and `[[route]]` ----

const ROUTE_KEYS: &[&str] = &[
    "name",
    "accounts",
    "regions",
    "severities",
    "rules",
    "destinations",
];

/// `route `name`` or `route #N`.
fn route_label(name: Option<&str>, index: usize) -> String {
    match name {
        Some(n) if !n.is_empty() => format!("route `{n}`"),
        _ => format!("route #{}", index + 1),
    }
}

/// A destination's `min_severity`.
fn destination_min_severity(table: &Table<'_>, diags: &mut Vec<Diagnostic>) -> Option<Severity> {
    let (text, span) = string(table, "min_severity", diags)?;
    let parsed = Severity::parse(&text);
    if parsed.is_none() {
        diags.push(
            Diagnostic::error(format!("unknown severity `{text}`"), span).with_help(
                "min_severity is one of info, low, medium, high, critical: only alerts of rules of that severity or above are sent to this destination",
            ),
        );
    }
    parsed
}

/// A `[[route]]` as written; names are resolved once the whole file is
/// read ([`resolve_routes`]), as `[accounts]` may come after it.
struct RawRoute {
    index: usize,
    name: Option<String>,
    accounts: Option<Vec<(String, Range<usize>)>>,
    regions: Option<Vec<String>>,
    severities: Option<(Vec<Severity>, Range<usize>)>,
    rules: Option<Vec<(String, Range<usize>)>>,
    destinations: Vec<(String, Range<usize>)>,
    span: Range<usize>,
}

/// One `[[route]]` table; `None` when it has no usable `destinations`.
fn route(
    table: &Table<'_>,
    span: Range<usize>,
    index: usize,
    diags: &mut Vec<Diagnostic>,
) -> Option<RawRoute> {
    check_keys(table, ROUTE_KEYS, "[[route]]", diags);
    let name = string(table, "name", diags).map(|(s, _)| s);
    let label = route_label(name.as_deref(), index);
    // A list condition: `None` when not given (or not a list of strings:
    // an error), its items with their spans otherwise.
    let condition = |key: &str, diags: &mut Vec<Diagnostic>| {
        let (_, v) = lookup(table, key)?;
        let (_, list_span) = string_list(table, key, diags)?;
        let items = string_list_spans(v);
        if items.is_empty() {
            diags.push(
                Diagnostic::warning(
                    format!("{label}: `{key}` is empty, so the route never matches"),
                    list_span,
                )
                .with_help(format!(
                    "list the values to match, or remove `{key}` to match any"
                )),
            );
        }
        Some(items)
    };
    let accounts = condition("accounts", diags);
    let regions = condition("regions", diags).map(|l| l.into_iter().map(|(s, _)| s).collect());
    let rules = condition("rules", diags);
    let severities = condition("severities", diags).map(|items| {
        let list_span = lookup(table, "severities").map_or(span.clone(), |(_, v)| v.span());
        let mut out = Vec::new();
        for (text, s) in items {
            match Severity::parse(&text) {
                Some(sev) => out.push(sev),
                None => diags.push(
                    Diagnostic::error(format!("unknown severity `{text}`"), s)
                        .with_help("severities are info, low, medium, high, critical"),
                ),
            }
        }
        (out, list_span)
    });
    let destinations = match lookup(table, "destinations") {
        None => {
            diags.push(
                Diagnostic::error(format!("{label} has no `destinations`"), span.clone())
                    .with_help("add destinations = [\"<destination id>\"]: where the alerts this route matches go"),
            );
            return None;
        }
        Some((_, v)) => {
            let (_, list_span) = string_list(table, "destinations", diags)?;
            let items = string_list_spans(v);
            if items.is_empty() {
                diags.push(
                    Diagnostic::warning(
                        format!("{label}: `destinations` is empty, so the route sends nothing"),
                        list_span,
                    )
                    .with_help("list destination ids, e.g. destinations = [\"Slack prod\"]"),
                );
            }
            items
        }
    };
    Some(RawRoute {
        index,
        name,
        accounts,
        regions,
        severities,
        rules,
        destinations,
        span,
    })
}

/// "known ids: a, b; or add a [[destination]] with id = …" for an unknown
/// destination id.
fn unknown_destination(
    id: &str,
    span: Range<usize>,
    known: &[(String, Range<usize>)],
) -> Diagnostic {
    let help = if known.is_empty() {
        format!("no destinations are defined; add a [[destination]] with id = \"{id}\"")
    } else {
        let known: Vec<&str> = known.iter().map(|(d, _)| d.as_str()).collect();
        format!(
            "known ids: {}; or add a [[destination]] with id = \"{id}\"",
            known.join(", ")
        )
    };
    Diagnostic::error(format!("unknown destination id `{id}`"), span).with_help(help)
}

/// The account ids an entry of a route's `accounts` stands for: an id
/// (a key of `[accounts]`, or digits), or a name from `[accounts]` (every
/// account of that name).
fn route_account(
    text: &str,
    span: Range<usize>,
    accounts: &BTreeMap<String, String>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<String> {
    if accounts.contains_key(text) {
        return vec![text.to_string()];
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        if text.len() != 12 {
            diags.push(
                Diagnostic::warning(format!("`{text}` is not a 12-digit AWS account id"), span)
                    .with_help("accounts are matched against recipientAccountId exactly, e.g. \"012345678901\", or by a name from [accounts]"),
            );
        }
        return vec![text.to_string()];
    }
    let ids: Vec<String> = accounts
        .iter()
        .filter(|(_, name)| name.as_str() == text)
        .map(|(id, _)| id.clone())
        .collect();
    if ids.is_empty() {
        let help = if accounts.is_empty() {
            "write a recipientAccountId (12 digits), or name the account in an [accounts] table (\"123456789012\" = \"prod\") and use the name".to_string()
        } else {
            let mut names: Vec<&str> = accounts.values().map(String::as_str).collect();
            names.sort_unstable();
            names.dedup();
            format!(
                "write a recipientAccountId (12 digits) or a name from [accounts]: {}",
                names.join(", ")
            )
        };
        diags.push(Diagnostic::error(format!("unknown account `{text}`"), span).with_help(help));
    }
    ids
}

/// Is `entries[i]` a repetition of an earlier entry? Warns when it is.
fn repeated(
    who: &str,
    entries: &[(String, Range<usize>)],
    i: usize,
    diags: &mut Vec<Diagnostic>,
) -> bool {
    let (id, span) = &entries[i];
    let again = entries[..i].iter().any(|(d, _)| d == id);
    if again {
        diags.push(
            Diagnostic::warning(
                format!("{who} lists destination `{id}` twice"),
                span.clone(),
            )
            .with_help("an alert is sent to each destination once; remove the repetition"),
        );
    }
    again
}

/// Warnings for a destination listed twice in one list (an alert goes
/// to a destination once) and for one that `min_severity` keeps every
/// alert of `severities` from.
fn listed_destinations(
    who: &str,
    entries: &[(String, Range<usize>)],
    severities: Option<&[Severity]>,
    destinations: &[Destination],
    diags: &mut Vec<Diagnostic>,
) {
    for (i, (id, span)) in entries.iter().enumerate() {
        if repeated(who, entries, i, diags) {
            continue;
        }
        let Some(dest) = destinations.iter().find(|d| &d.id == id) else {
            continue;
        };
        let Some(min) = dest.min_severity else {
            continue;
        };
        let reached = match severities {
            None => true,
            Some([]) => true, // never matches anyway: warned already
            Some(list) => list.iter().any(|s| dest.admits(Some(*s))),
        };
        if !reached {
            diags.push(
                Diagnostic::warning(
                    format!(
                        "{who} only matches severities below destination `{id}`'s min_severity `{}`: `{id}` never gets its alerts",
                        min.as_str()
                    ),
                    span.clone(),
                )
                .with_help(format!(
                    "min_severity = \"{}\" sends only alerts of rules of severity {} or above",
                    min.as_str(),
                    min.as_str()
                )),
            );
        }
    }
}

/// Routes with their rule names, destination ids and account names
/// checked (every unknown one is an error) and account names replaced
/// by ids.
fn resolve_routes(
    raw: Vec<RawRoute>,
    rules: &[RuleConfig],
    destinations: &[Destination],
    dest_spans: &[(String, Range<usize>)],
    accounts: &BTreeMap<String, String>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<RouteConfig> {
    let mut out = Vec::new();
    for r in raw {
        let label = route_label(r.name.as_deref(), r.index);
        for (id, span) in &r.destinations {
            if !dest_spans.iter().any(|(d, _)| d == id) {
                diags.push(unknown_destination(id, span.clone(), dest_spans));
            }
        }
        listed_destinations(
            &label,
            &r.destinations,
            r.severities.as_ref().map(|(s, _)| s.as_slice()),
            destinations,
            diags,
        );
        if let Some(names) = &r.rules {
            for (name, span) in names {
                if rules.iter().any(|rule| rule.name.as_deref() == Some(name)) {
                    continue;
                }
                let mut known: Vec<&str> = rules
                    .iter()
                    .filter_map(|rule| rule.name.as_deref())
                    .collect();
                let help = if known.is_empty() {
                    "no rule has a `name`; routes name rules by it".to_string()
                } else {
                    let more = known.len() > 12;
                    known.truncate(12);
                    format!(
                        "routes name rules by their `name`; known: {}{}",
                        known.join(", "),
                        if more { ", …" } else { "" }
                    )
                };
                diags.push(
                    Diagnostic::error(
                        format!("{label} names rule `{name}`, which does not exist"),
                        span.clone(),
                    )
                    .with_help(help),
                );
            }
        }
        let account_ids = r.accounts.map(|items| {
            let mut ids: Vec<String> = Vec::new();
            for (text, span) in items {
                for id in route_account(&text, span, accounts, diags) {
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
            }
            ids
        });
        out.push(RouteConfig {
            index: r.index,
            name: r.name,
            accounts: account_ids,
            regions: r.regions,
            severities: r.severities.map(|(s, _)| s),
            rules: r.rules.map(|l| l.into_iter().map(|(s, _)| s).collect()),
            destinations: r.destinations.into_iter().map(|(s, _)| s).collect(),
            span: r.span,
        });
    }
    out
}

/// Warnings on rules' `destinations`: an id listed twice, and a
/// destination whose `min_severity` is above the rule's severity (a rule
/// without severity counts as `info`), so it never gets the rule's alerts.
fn unreachable_rule_destinations(
    root: &Table<'_>,
    rules: &[RuleConfig],
    destinations: &[Destination],
    diags: &mut Vec<Diagnostic>,
) {
    let tables = root
        .iter()
        .filter(|(k, _)| k.get_ref().eq_ignore_ascii_case("rule"))
        .filter_map(|(_, v)| v.get_ref().as_array())
        .flatten()
        .filter_map(|item| item.get_ref().as_table());
    for (index, table) in tables.enumerate() {
        let Some(rule) = rules.iter().find(|r| r.index == index) else {
            continue;
        };
        let Some((_, list)) = lookup(table, "destinations") else {
            continue;
        };
        let entries = string_list_spans(list);
        let who = format!("rule `{}`", rule.display_name());
        for (i, (id, span)) in entries.iter().enumerate() {
            if repeated(&who, &entries, i, diags) {
                continue;
            }
            let Some(dest) = destinations.iter().find(|d| &d.id == id) else {
                continue;
            };
            let Some(min) = dest.min_severity else {
                continue;
            };
            if dest.admits(rule.meta.severity) {
                continue;
            }
            let message = match rule.meta.severity {
                None => format!(
                    "{who} has no severity, and destination `{id}` takes only `{}` and above: it never gets this rule's alerts",
                    min.as_str()
                ),
                Some(s) => format!(
                    "{who} is of severity `{}`, below destination `{id}`'s min_severity `{}`: it never gets this rule's alerts",
                    s.as_str(),
                    min.as_str()
                ),
            };
            diags.push(
                Diagnostic::warning(message, span.clone()).with_help(format!(
                    "give the rule severity = \"{}\" or above, or lower the destination's min_severity (a rule without severity counts as info)",
                    min.as_str()
                )),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(src: &str) -> Vec<String> {
        let (_, diags) = parse(src);
        diags
            .into_iter()
            .filter(|d| d.is_error())
            .map(|d| d.message)
            .collect()
    }

    #[test]
    fn upstream_readme_example_loads() {
        let src = r#"
[[rule]]
name = "Create User"
jq_match = '''
select(.eventName == "CreateUser") |
"username: \(.requestParameters.userName)"
'''
description = "A new IAM user has been created"
destinations = ["Default SNS", "Slack"]

[[destination]]
id = "Default SNS"
type = "sns"
sns_arn = "arn:aws:sns:us-east-1:1234567890:cloudtrail-tattletail"

[[destination]]
id = "Slack"
type = "slack_webhook"
webhook_url = "https://hooks.slack.com/services/AAAAAAAAA/BBBBBBBBB/CCCCCCCCCCCCCCCCCCCCCCCC"

[[destination]]
id = "Email"
type = "ses"
to_emails = ["a@example.com"]
from_email = "b@example.com"
"#;
        let (cfg, diags) = parse(src);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(cfg.rules.len(), 1);
        assert_eq!(cfg.rules[0].destinations, ["Default SNS", "Slack"]);
        assert!(cfg.rules[0].jq_match.starts_with("select("));
        assert_eq!(cfg.destinations.len(), 3);
        assert_eq!(cfg.destinations[2].kind.type_name(), "ses");
    }

    #[test]
    fn every_problem_is_reported() {
        let src = r#"
[[rule]]
name = "a"
jq_match = ""
destinations = ["nope"]

[[rule]]
name = "b"

[[destination]]
id = "x"
type = "sns"
sns_arn = "topic"

[[destination]]
id = "x"
type = "carrier_pigeon"

[[destination]]
id = "m"
type = "ses"
to_emails = []
"#;
        let errs = errors(src);
        for want in [
            "rule `a` has an empty `jq_match`",
            "unknown destination id `nope`",
            "rule `b` has no `jq_match`",
            "`sns_arn` must start with `arn:`, found `topic`",
            "unknown destination type `carrier_pigeon`",
            "destination `m`: `to_emails` is empty",
            "destination `m` of type `ses` needs `from_email`",
        ] {
            assert!(
                errs.iter().any(|e| e == want),
                "missing {want:?} in {errs:#?}"
            );
        }
    }

    #[test]
    fn duplicate_ids_and_missing_fields() {
        let src = "[[destination]]\nid = \"a\"\ntype = \"slack_webhook\"\nwebhook_url = \"https://x\"\n[[destination]]\nid = \"a\"\ntype = \"slack_webhook\"\nwebhook_url = \"https://y\"\n[[destination]]\ntype = \"sns\"\n[[destination]]\nid = \"q\"\n";
        let errs = errors(src);
        assert!(
            errs.contains(&"duplicate destination id `a`".to_string()),
            "{errs:?}"
        );
        assert!(
            errs.contains(&"destination has no `id`".to_string()),
            "{errs:?}"
        );
        assert!(
            errs.contains(&"destination of type `sns` needs `sns_arn`".to_string()),
            "{errs:?}"
        );
        assert!(
            errs.contains(&"destination `q` has no `type`".to_string()),
            "{errs:?}"
        );
    }

    #[test]
    fn unknown_keys_warn_and_case_is_folded() {
        let src = "[general]\ntimezone = \"UTC\"\n[[Rule]]\nNAME = \"x\"\nJq_Match = '.'\nresult_data_type = \"jsonObj\"\n";
        let (cfg, diags) = parse(src);
        assert_eq!(cfg.rules[0].name.as_deref(), Some("x"));
        assert_eq!(cfg.rules[0].jq_match, ".");
        assert!(diags.iter().all(|d| !d.is_error()));
        assert_eq!(diags.len(), 5, "{diags:#?}");
    }

    #[test]
    fn toml_syntax_error_has_a_position() {
        let (cfg, diags) = parse("[[rule]]\nname = \"x\njq_match = '.'\n");
        assert!(cfg.rules.is_empty());
        assert!(diags[0].message.starts_with("TOML syntax"), "{diags:?}");
        assert!(diags[0].span.start > 0);
    }

    #[test]
    fn bare_string_destinations_are_accepted() {
        let src = "[[rule]]\njq_match = '.'\ndestinations = \"s\"\n[[destination]]\nid = \"s\"\ntype = \"sns\"\nsns_arn = \"arn:aws:sns:us-east-1:1:t\"\n";
        let (cfg, diags) = parse(src);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(cfg.rules[0].destinations, ["s"]);
    }

    #[test]
    fn rule_metadata_and_account_names() {
        let (cfg, diags) = parse(
            r#"
[accounts]
"123456789012" = "prod"
"210987654321" = "dev"

[[rule]]
name = "a"
jq_match = '.'
severity = "HIGH"
tags = ["attack.t1098", "cis"]
runbook = "https://wiki/runbooks/a"
mode = "dry_run"

[[rule]]
name = "b"
jq_match = '.'
enabled = false
"#,
        );
        assert!(diags.is_empty(), "{diags:?}");
        let a = &cfg.rules[0].meta;
        assert_eq!(a.severity, Some(Severity::High));
        assert_eq!(a.tags, ["attack.t1098", "cis"]);
        assert_eq!(a.runbook.as_deref(), Some("https://wiki/runbooks/a"));
        assert_eq!((a.enabled, a.mode), (true, Mode::DryRun));
        let b = &cfg.rules[1].meta;
        assert_eq!((b.enabled, b.mode, b.severity), (false, Mode::Live, None));
        assert_eq!(cfg.accounts["123456789012"], "prod");
        assert_eq!(cfg.accounts.len(), 2);
    }

    #[test]
    fn bad_metadata_is_reported_with_what_is_accepted() {
        let src = r#"
[accounts]
"1234" = "short id"
"123456789012" = 5

[[rule]]
name = "a"
jq_match = '.'
severity = "urgent"
enabled = "no"
mode = "shadow"
tags = [1]
"#;
        let (_, diags) = parse(src);
        let msgs: Vec<(bool, &str)> = diags
            .iter()
            .map(|d| (d.is_error(), d.message.as_str()))
            .collect();
        for (error, want) in [
            (false, "`1234` is not a 12-digit AWS account id"),
            (
                true,
                "the name of account `123456789012` must be a string, found integer",
            ),
            (true, "unknown severity `urgent`"),
            (true, "`enabled` must be true or false, found string"),
            (true, "unknown mode `shadow`"),
            (
                true,
                "`tags` must be a list of strings; this item is an integer",
            ),
        ] {
            assert!(
                msgs.contains(&(error, want)),
                "missing {want:?} in {msgs:?}"
            );
        }
        let sev = diags.iter().find(|d| d.message.contains("urgent")).unwrap();
        assert_eq!(&src[sev.span.clone()], "\"urgent\"");
    }

    #[test]
    fn slack_app_and_webhook_destinations() {
        let src = r##"
[[rule]]
jq_match = '.'

[[destination]]
id = "app"
type = "slack_app"
token = "ssm:/tattletail/slack-token"
channel = "#security"
rate_limit = "20/m"

[[destination]]
id = "pd"
type = "webhook"
url = "https://events.pagerduty.com/v2/enqueue"
headers = { Authorization = "env:PD_TOKEN", "X-Team" = "secops" }
body = '''{"routing_key": "{{alert_id}}", "payload": {{record | json}}}'''
hmac_secret = "secretsmanager:tattletail/webhook"
rate_limit = "1/s"

[[destination]]
id = "plain"
type = "webhook"
url = "http://127.0.0.1:9/hook"
"##;
        let (cfg, diags) = parse(src);
        assert!(diags.is_empty(), "{diags:?}");
        let d = &cfg.destinations;
        assert_eq!(
            d[0].kind,
            DestinationKind::SlackApp {
                token: SecretRef::Ssm("/tattletail/slack-token".into()),
                channel: "#security".into()
            }
        );
        assert_eq!(
            d[0].rate_limit,
            Some(RateLimit {
                count: 20,
                per_secs: 60,
                text: "20/m".into()
            })
        );
        let DestinationKind::Webhook {
            url,
            headers,
            body,
            hmac,
        } = &d[1].kind
        else {
            panic!("{:?}", d[1].kind)
        };
        assert_eq!(url, "https://events.pagerduty.com/v2/enqueue");
        assert_eq!(
            headers,
            &[
                (
                    "Authorization".to_string(),
                    SecretRef::Env("PD_TOKEN".into())
                ),
                ("X-Team".to_string(), SecretRef::Literal("secops".into()))
            ]
        );
        assert_eq!(body.as_ref().unwrap().fields().count(), 2);
        assert_eq!(
            hmac,
            &Some(Hmac {
                secret: SecretRef::SecretsManager("tattletail/webhook".into()),
                header: HMAC_HEADER.into()
            })
        );
        assert_eq!(d[1].kind.secrets().len(), 3);
        assert_eq!(d[1].rate_limit.as_ref().map(|r| r.per_secs), Some(1));
        assert_eq!(
            d[2].kind,
            DestinationKind::Webhook {
                url: "http://127.0.0.1:9/hook".into(),
                headers: vec![],
                body: None,
                hmac: None
            }
        );
        assert_eq!(d[2].kind.type_name(), "webhook");
    }

    #[test]
    fn secret_refs_parse_and_never_show_literals() {
        assert_eq!(
            SecretRef::parse("env:TOKEN"),
            SecretRef::Env("TOKEN".into())
        );
        assert_eq!(SecretRef::parse("ssm:/a/b"), SecretRef::Ssm("/a/b".into()));
        assert_eq!(
            SecretRef::parse("secretsmanager:arn:aws:secretsmanager:us-east-1:1:secret:x"),
            SecretRef::SecretsManager("arn:aws:secretsmanager:us-east-1:1:secret:x".into())
        );
        let lit = SecretRef::parse("xoxb-very-secret");
        assert_eq!(lit, SecretRef::Literal("xoxb-very-secret".into()));
        assert_eq!(lit.to_string(), "<literal>");
        assert!(!format!("{lit:?}").contains("secret"));
        let kind = DestinationKind::SlackApp {
            token: lit,
            channel: "#c".into(),
        };
        assert!(!format!("{kind:?}").contains("xoxb"));
        assert_eq!(SecretRef::parse("env:X").to_string(), "env:X");
        assert_eq!(SecretRef::parse("ssm:/p").to_string(), "ssm:/p");
    }

    #[test]
    fn rate_limits_parse() {
        let r = |t: &str| RateLimit::parse(t).map(|r| (r.count, r.per_secs));
        assert_eq!(r("1/s"), Some((1, 1)));
        assert_eq!(r("30/m"), Some((30, 60)));
        assert_eq!(r("500/h"), Some((500, 3600)));
        for bad in [
            "0/s",
            "5",
            "5/d",
            "-1/s",
            "x/m",
            "/m",
            "99999999999/s",
            "1.5/s",
        ] {
            assert_eq!(r(bad), None, "{bad}");
        }
    }

    #[test]
    fn bad_new_destination_keys_are_located_with_help() {
        let src = r##"
[[destination]]
id = "app"
type = "slack_app"
token = "xoxb-123"

[[destination]]
id = "app2"
type = "slack_app"
token = "env:"
channel = "#x"
rate_limit = "10/day"

[[destination]]
id = "hook"
type = "webhook"
url = "ftp://x"
headers = { "Bad Header" = "x", Authorization = 5 }
hmac_header = "X-Sig"
body = """
{"a": "{{name}}",
 "b": "{{ evnt_name }}", "c": {{record | yaml}}}"""

[[destination]]
id = "hook2"
type = "webhook"
"##;
        let (_, diags) = parse(src);
        let find = |msg: &str| {
            diags
                .iter()
                .find(|d| d.message == msg)
                .unwrap_or_else(|| panic!("missing {msg:?} in {diags:#?}"))
        };
        let w = find("destination `app`: `token` is a secret written in the config file");
        assert!(!w.is_error() && w.help.as_deref().unwrap().contains("ssm:"));
        assert!(find("destination `app` of type `slack_app` needs `channel`").is_error());
        assert!(find("destination `app2`: `token`: `env:` needs a variable name").is_error());
        let r = find("`rate_limit` `10/day` is not N/s, N/m or N/h");
        assert_eq!(&src[r.span.clone()], "\"10/day\"");
        assert!(r.help.as_deref().unwrap().contains("20/m"));
        find("destination `hook`: `url` must be an http(s) URL");
        find("`Bad Header` is not an HTTP header name");
        find("header `Authorization` must be a string, found integer");
        find("destination `hook2` of type `webhook` needs `url`");
        let p = find("destination `hook`: unknown placeholder `evnt_name`");
        assert_eq!(&src[p.span.clone()], "evnt_name");
        let (line, col) = crate::diag::line_col(src, p.span.start);
        assert_eq!((line, col), (22, 11));
        assert!(p.help.as_deref().unwrap().contains("event_name"));
        let f = find("destination `hook`: unknown filter `yaml`");
        assert_eq!(&src[f.span.clone()], "yaml");
        assert!(find("`hmac_header` without `hmac_secret` is ignored")
            .help
            .is_some());
        assert!(diags.iter().all(|d| d.help.is_some()), "{diags:#?}");
    }
}
