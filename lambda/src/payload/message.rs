//! What one send carries: an alert or a follow-up ([`Message`]), the
//! values a webhook body template can insert ([`field`]) and the template
//! rendering itself ([`render`]).

use std::sync::Arc;

use serde_json::{json, Value};
use tattletail_compiler::config::template::{Field, Filter, Part, Template};
use tattletail_compiler::config::{SecretRef, Severity};

use super::{shrink, AlertData, Extra};
use crate::followup::{FollowUp, Held};

/// Cap on a record or match inserted by a template (a webhook receiver
/// such as PagerDuty takes at most 512 KB per event).
pub const TEMPLATE_VALUE_LIMIT: usize = 128 * 1024;

/// One message for one send: an alert, or a follow-up standing for
/// alerts that were not sent one by one.
#[derive(Clone, Debug)]
pub enum Message {
    /// An alert.
    Alert(Arc<AlertData>),
    /// A follow-up.
    FollowUp(Arc<FollowUp>),
}

impl Message {
    /// The alert's or follow-up's id.
    pub fn alert_id(&self) -> &str {
        match self {
            Message::Alert(a) => &a.alert_id,
            Message::FollowUp(f) => &f.alert_id,
        }
    }

    /// The rule's display name (empty for a rate-limit summary).
    pub fn rule(&self) -> &str {
        match self {
            Message::Alert(a) => &a.name,
            Message::FollowUp(f) => &f.rule,
        }
    }

    /// `alert` or `follow_up`, for logs and templates.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Alert(_) => "alert",
            Message::FollowUp(_) => "follow_up",
        }
    }

    /// The record's `eventID` (an alert's; the last held alert's for a
    /// follow-up).
    pub fn event_id(&self) -> Option<&str> {
        match self {
            Message::Alert(a) => a.event_id(),
            Message::FollowUp(f) => f.last.as_ref().and_then(|h| h.event_id.as_deref()),
        }
    }

    /// Where the record came from (empty for a follow-up).
    pub fn origin(&self) -> &str {
        match self {
            Message::Alert(a) => &a.origin,
            Message::FollowUp(_) => "",
        }
    }

    /// The id a receiver groups on: the first alert's id for a follow-up,
    /// else the alert's own.
    pub fn thread_id(&self) -> &str {
        match self {
            Message::Alert(a) => &a.alert_id,
            Message::FollowUp(f) => f.first_alert_id.as_deref().unwrap_or(&f.alert_id),
        }
    }

    /// The rule's severity, tags, runbook and the account's name.
    pub fn extra(&self) -> &Extra {
        match self {
            Message::Alert(a) => &a.extra,
            Message::FollowUp(f) => &f.extra,
        }
    }

    /// The rule's severity.
    pub fn severity(&self) -> Option<Severity> {
        self.extra().severity
    }

    /// The alert, if it is one.
    pub fn as_alert(&self) -> Option<&AlertData> {
        match self {
            Message::Alert(a) => Some(a),
            Message::FollowUp(_) => None,
        }
    }
}

impl From<Arc<AlertData>> for Message {
    fn from(a: Arc<AlertData>) -> Message {
        Message::Alert(a)
    }
}

impl From<Arc<FollowUp>> for Message {
    fn from(f: Arc<FollowUp>) -> Message {
        Message::FollowUp(f)
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut v = v;
    for p in path {
        v = v.get(p)?;
    }
    v.as_str().filter(|s| !s.is_empty())
}

/// Who did it: `userIdentity.arn`, else the identity's type with
/// `invokedBy` or `principalId` (as the CLI's alert lines say).
pub fn actor(record: &Value) -> Option<String> {
    if let Some(arn) = str_at(record, &["userIdentity", "arn"]) {
        return Some(arn.to_string());
    }
    let who = str_at(record, &["userIdentity", "invokedBy"])
        .or_else(|| str_at(record, &["userIdentity", "principalId"]));
    match (str_at(record, &["userIdentity", "type"]), who) {
        (Some(t), Some(w)) => Some(format!("{t} {w}")),
        (Some(t), None) => Some(t.to_string()),
        (None, Some(w)) => Some(w.to_string()),
        (None, None) => None,
    }
}

/// One line for people: `name: eventName by actor in account/region`.
pub fn alert_text(a: &AlertData) -> String {
    let r = &a.record;
    let name = if a.name.is_empty() {
        "Cloudtrail Tattletail alert"
    } else {
        &a.name
    };
    let account = match (a.account_id(), &a.extra.account_name) {
        (Some(id), Some(n)) => format!("{id} ({n})"),
        (Some(id), None) => id.to_string(),
        (None, _) => "-".into(),
    };
    format!(
        "{name}: {} by {} in {account}/{}",
        str_at(r, &["eventName"]).unwrap_or("-"),
        actor(r).as_deref().unwrap_or("-"),
        a.region().unwrap_or("-")
    )
}

fn held_json(h: &Option<Held>) -> Value {
    match h {
        None => Value::Null,
        Some(h) => json!({
            "alert_id": h.alert_id,
            "event_id": h.event_id,
            "event_time": h.event_time,
        }),
    }
}

/// A follow-up's details as one JSON object (the `follow_up` key of its
/// SNS message, and `record`/`match` in templates).
pub fn followup_json(f: &FollowUp) -> Value {
    let key = f
        .key
        .as_ref()
        .map(|k| serde_json::from_str::<Value>(k).unwrap_or_else(|_| Value::String(k.clone())));
    let by_rule: Vec<Value> = f
        .by_rule
        .iter()
        .map(|(rule, count)| json!({"rule": rule, "count": count}))
        .collect();
    json!({
        "reason": f.reason.kind(),
        "explanation": f.reason.explain(),
        "count": f.count,
        "key": key,
        "by_rule": by_rule,
        "first": held_json(&f.first),
        "last": held_json(&f.last),
        "first_alert_id": f.first_alert_id,
    })
}

/// The value a template field stands for; `None` when the message has
/// none.
pub fn field(m: &Message, field: Field) -> Option<Value> {
    let text = |s: &str| Some(Value::String(s.to_string())).filter(|_| !s.is_empty());
    let extra = m.extra();
    match field {
        Field::Name => text(m.rule()),
        Field::AlertId => text(m.alert_id()),
        Field::ThreadId => text(m.thread_id()),
        Field::Severity => extra.severity.map(|s| json!(s.as_str())),
        Field::Tags => Some(json!(extra.tags)),
        Field::Runbook => extra.runbook.as_deref().and_then(text),
        Field::AccountName => extra.account_name.as_deref().and_then(text),
        Field::Kind => Some(json!(m.kind())),
        _ => match m {
            Message::Alert(a) => {
                let r = &a.record;
                let at = |k: &str| str_at(r, &[k]).and_then(text);
                match field {
                    Field::Description => text(&a.description),
                    Field::EventId => at("eventID"),
                    Field::EventName => at("eventName"),
                    Field::EventSource => at("eventSource"),
                    Field::EventTime => at("eventTime"),
                    Field::Account => at("recipientAccountId"),
                    Field::Region => at("awsRegion"),
                    Field::SourceIp => at("sourceIPAddress"),
                    Field::Actor => actor(r).map(Value::String),
                    Field::Origin => text(&a.origin),
                    Field::Record => Some(capped(r)),
                    Field::Match => Some(capped(a.annotation.as_ref().unwrap_or(r))),
                    Field::Text => Some(Value::String(alert_text(a))),
                    Field::Count => Some(json!(1)),
                    _ => None,
                }
            }
            Message::FollowUp(f) => {
                let last = f.last.as_ref();
                match field {
                    Field::Description | Field::Text => Some(Value::String(f.headline())),
                    Field::EventId => last.and_then(|h| h.event_id.as_deref()).and_then(text),
                    Field::EventTime => last.and_then(|h| h.event_time.as_deref()).and_then(text),
                    Field::Record | Field::Match => Some(followup_json(f)),
                    Field::Count => Some(json!(f.count)),
                    _ => None,
                }
            }
        },
    }
}

fn capped(v: &Value) -> Value {
    let mut v = v.clone();
    shrink(&mut v, TEMPLATE_VALUE_LIMIT);
    v
}

/// PagerDuty Events v2's severity for a rule's: critical → critical,
/// high → error, medium → warning, anything else (low, info, none) → info.
pub fn pagerduty_severity(severity: Option<&str>) -> &'static str {
    match severity {
        Some("critical") => "critical",
        Some("high") => "error",
        Some("medium") => "warning",
        _ => "info",
    }
}

/// `s` escaped as the inside of a JSON string (no quotes).
fn json_string_contents(s: &str) -> String {
    let quoted = Value::String(s.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

/// Render `t` for `m`: `{{field}}` as JSON string contents (tags joined
/// with `, `, objects as their JSON text), `{{field | json}}` as a JSON
/// value; a missing value is empty, or `null` with `| json`. A secret
/// placeholder inserts `secret(reference)` (the value when sending, a mask
/// for logs).
pub fn render(t: &Template, m: &Message, secret: &dyn Fn(&SecretRef) -> String) -> String {
    let mut out = String::with_capacity(t.source.len() + 256);
    for part in &t.parts {
        match part {
            Part::Text(s) => out.push_str(s),
            Part::Secret(r) => out.push_str(&json_string_contents(&secret(r))),
            Part::Field { field: f, filter } => {
                let v = field(m, *f);
                match filter {
                    Filter::Json => {
                        out.push_str(&v.unwrap_or(Value::Null).to_string());
                        continue;
                    }
                    Filter::PagerDuty => {
                        out.push_str(pagerduty_severity(v.as_ref().and_then(Value::as_str)));
                        continue;
                    }
                    Filter::Text => {}
                }
                let text = match v {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => s,
                    Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", "),
                    Some(other) => other.to_string(),
                };
                out.push_str(&json_string_contents(&text));
            }
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::followup::Reason;
    use tattletail_compiler::config::RuleMeta;

    pub(crate) fn alert() -> AlertData {
        let meta = RuleMeta {
            severity: Some(Severity::High),
            tags: vec!["cis".into(), "iam".into()],
            ..RuleMeta::default()
        };
        AlertData::new(
            "Root login".into(),
            "the root user \"signed in\"".into(),
            json!({"eventID": "e-1", "eventName": "ConsoleLogin",
                   "eventSource": "signin.amazonaws.com",
                   "eventTime": "2024-01-01T00:00:00Z",
                   "recipientAccountId": "123456789012", "awsRegion": "us-east-1",
                   "sourceIPAddress": "198.51.100.7",
                   "userIdentity": {"type": "Root", "arn": "arn:aws:iam::123456789012:root"}}),
            None,
            "s3://b/k#3".into(),
        )
        .with_extra(Extra::new(&meta, Some("prod")))
    }

    pub(crate) fn followup() -> FollowUp {
        FollowUp {
            alert_id: "f-1".into(),
            reason: Reason::Dedup {
                window: "15m".into(),
            },
            rule: "Root login".into(),
            description: "d".into(),
            key: Some("[\"123456789012\"]".into()),
            count: 12,
            by_rule: vec![("Root login".into(), 12)],
            first_alert_id: Some("a-0".into()),
            first: Some(Held {
                alert_id: "a-1".into(),
                event_id: Some("e-2".into()),
                event_time: Some("2024-01-01T00:01:00Z".into()),
            }),
            last: Some(Held {
                alert_id: "a-12".into(),
                event_id: Some("e-13".into()),
                event_time: Some("2024-01-01T00:09:00Z".into()),
            }),
            extra: Extra::default(),
        }
    }

    fn t(text: &str) -> Template {
        Template::parse(text).unwrap()
    }

    fn render(t: &Template, m: &Message) -> String {
        super::render(t, m, &|r| format!("<{r}>"))
    }

    #[test]
    fn secrets_are_inserted_escaped() {
        let m = Message::Alert(Arc::new(alert()));
        let out = super::render(&t("{\"k\": \"{{env:PD_KEY}}\"}"), &m, &|_| "a\"b".into());
        assert_eq!(out, "{\"k\": \"a\\\"b\"}");
    }

    #[test]
    fn fields_of_an_alert() {
        let m = Message::Alert(Arc::new(alert()));
        let r = render(
            &t("{{name}}|{{description}}|{{tags}}|{{tags | json}}|{{severity}}|{{actor}}|{{account}} {{account_name}}|{{count}}|{{kind}}|{{runbook}}|{{runbook|json}}|{{event_time}}|{{source_ip}}|{{origin}}"),
            &m,
        );
        assert_eq!(
            r,
            "Root login|the root user \\\"signed in\\\"|cis, iam|[\"cis\",\"iam\"]|high|arn:aws:iam::123456789012:root|123456789012 prod|1|alert||null|2024-01-01T00:00:00Z|198.51.100.7|s3://b/k#3"
        );
        assert_eq!(
            render(&t("{{text}}"), &m),
            "Root login: ConsoleLogin by arn:aws:iam::123456789012:root in 123456789012 (prod)/us-east-1"
        );
        assert_eq!(render(&t("{{thread_id}}"), &m), m.alert_id());
        assert_eq!(render(&t("{{severity | pagerduty}}"), &m), "error");
        let f = Message::FollowUp(Arc::new(followup()));
        assert_eq!(render(&t("{{severity | pagerduty}}"), &f), "info");
        // The record as a JSON value, and as text inside a JSON string.
        let v: Value = serde_json::from_str(&render(
            &t("{\"r\": {{record | json}}, \"s\": \"{{match}}\"}"),
            &m,
        ))
        .unwrap();
        assert_eq!(v["r"]["eventID"], "e-1");
        let inner: Value = serde_json::from_str(v["s"].as_str().unwrap()).unwrap();
        assert_eq!(inner, v["r"]);
    }

    #[test]
    fn fields_of_a_followup_and_the_actor_fallbacks() {
        let m = Message::FollowUp(Arc::new(followup()));
        assert_eq!(
            render(
                &t("{{alert_id}} {{thread_id}} {{count}} {{kind}} {{event_id}} {{region|json}}"),
                &m
            ),
            "f-1 a-0 12 follow_up e-13 null"
        );
        assert!(render(&t("{{text}}"), &m).starts_with("12 more alert(s) of \\\"Root login\\\""));
        let v: Value = serde_json::from_str(&render(&t("{{record | json}}"), &m)).unwrap();
        assert_eq!(v["reason"], "dedup");
        assert_eq!(v["key"], json!(["123456789012"]));
        assert_eq!(v["first"]["event_id"], "e-2");
        assert_eq!(
            actor(
                &json!({"userIdentity": {"type": "AWSService", "invokedBy": "s3.amazonaws.com"}})
            ),
            Some("AWSService s3.amazonaws.com".into())
        );
        assert_eq!(
            actor(&json!({"userIdentity": {"principalId": "AIDA"}})),
            Some("AIDA".into())
        );
        assert_eq!(actor(&json!({})), None);
    }

    #[test]
    fn a_large_record_is_capped_in_templates() {
        let mut a = alert();
        a.record["requestParameters"] = json!({"policy": "x".repeat(2_000_000)});
        let out = render(&t("{{record | json}}"), &Message::Alert(Arc::new(a)));
        assert!(out.len() <= TEMPLATE_VALUE_LIMIT + 1024, "{}", out.len());
        assert!(out.contains("[truncated by tattletail"));
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["eventName"], "ConsoleLogin");
    }
}
