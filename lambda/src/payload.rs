//! Alert payloads in upstream cloudtrail-tattletail's exact formats (SNS
//! JSON message, SES text email, Slack webhook attachment), plus the alert
//! id, size limits and escaping.
//!
//! Upstream compatibility (`tattletail-compat.md` §1.6, §9.15–17): the SNS
//! message is `{"name","description","record","match"}` with `match` always
//! present (the record itself for `select` rules, `true` for boolean rules);
//! SES and Slack show a Match only when the rule produced something other
//! than the record. Additions that parsers ignore: `alert_id` (and
//! `truncated` when shortened) in the SNS message, an `alert id:` line at
//! the end of the email, a footer on the Slack attachment; and, only when
//! the config sets them, `severity`, `tags`, `runbook`, `account_name` and
//! (a Sigma rule's) `references` keys (SNS), lines (email) and fields
//! (Slack, whose attachment colour then follows the severity).
//!
//! Safety: JSON text is written with Go's HTML escaping (`<`, `>`, `&` as
//! `\u003c`, `\u003e`, `\u0026`), as upstream's `json.Marshal` did, so event
//! text cannot carry markup into an email (which is text-only anyway).
//! Slack text from the event is entity-escaped (`&amp;`, `&lt;`, `&gt;`) so a
//! user agent or parameter cannot ping `<!channel>`, mention `<@U123>` or
//! make a `<https://evil|link>`, and attachments have markdown turned off.
//! Nothing is rejected for size: an oversized record is shortened with a
//! visible marker.
//!
//! Submodules: [`message`] (what a send carries, an alert or a follow-up,
//! and webhook body templates rendered for it), [`followup`] (follow-up
//! payloads for SNS, SES and Slack webhooks), [`slack_app`] (Block Kit
//! messages of the `slack_app` destination).

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tattletail_compiler::config::{RuleMeta, Severity};

pub mod followup;
pub mod message;
pub mod slack_app;
pub use followup::{email_followup, slack_followup, sns_followup};
pub use message::{render, Message};
pub use slack_app::{slack_app_followup, slack_app_message};

/// SNS's message limit (256 KiB), minus room for the message attribute.
pub const SNS_LIMIT: usize = 256 * 1024 - 1024;
/// Cap on the email body. SES accepts up to 40 MB; an alert email with
/// more than a megabyte of JSON helps nobody.
pub const SES_BODY_LIMIT: usize = 1024 * 1024;
/// Slack attachment text is cut at about 8,000 bytes by Slack.
pub const SLACK_TEXT_LIMIT: usize = 7_500;
/// Slack field values are kept short.
pub const SLACK_FIELD_LIMIT: usize = 2_000;

/// The SES subject, fixed upstream.
pub const EMAIL_SUBJECT: &str = "Cloudtrail Tattletail event";

/// One alert, owned, ready to format for any destination.
#[derive(Clone, Debug)]
pub struct AlertData {
    /// Rule `name` (empty when the rule has none, as upstream sends it).
    pub name: String,
    /// Rule `description`.
    pub description: String,
    /// The CloudTrail record.
    pub record: Value,
    /// The rule's output when it is not the record itself.
    pub annotation: Option<Value>,
    /// Deterministic id: the same rule on the same event gives the same id.
    pub alert_id: String,
    /// Where the record came from (`s3://bucket/key#index`).
    pub origin: String,
    /// The rule's `severity`, `tags` and `runbook`, and the account's
    /// name from `[accounts]`: extra keys and lines, only when set.
    pub extra: Extra,
}

/// What Tattletail adds to upstream's payloads, each only when set, so a
/// config without them gives upstream's exact payloads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extra {
    /// `severity`.
    pub severity: Option<Severity>,
    /// `tags`.
    pub tags: Vec<String>,
    /// `runbook`.
    pub runbook: Option<String>,
    /// The account's name (`[accounts]`), for the record's `recipientAccountId`.
    pub account_name: Option<String>,
    /// `references` (a Sigma rule's).
    pub references: Vec<String>,
}

impl Extra {
    /// From a rule's metadata and the config's account names.
    pub fn new(meta: &RuleMeta, account_name: Option<&str>) -> Extra {
        Extra {
            severity: meta.severity,
            tags: meta.tags.clone(),
            runbook: meta.runbook.clone(),
            account_name: account_name.map(str::to_string),
            references: meta.references.clone(),
        }
    }
}

impl AlertData {
    /// Build one, computing the alert id.
    pub fn new(
        name: String,
        description: String,
        record: Value,
        annotation: Option<Value>,
        origin: String,
    ) -> AlertData {
        let alert_id = alert_id(&name, &record);
        AlertData {
            name,
            description,
            record,
            annotation,
            alert_id,
            origin,
            extra: Extra::default(),
        }
    }

    /// With the alert id made from the rule's identity
    /// ([`identities`](tattletail_compiler::plan::identities): its name,
    /// `name#2` for a second rule of that name, `sigma:<id>` for a Sigma
    /// rule) instead of its display name.
    pub fn identified_by(mut self, identity: &str) -> AlertData {
        self.alert_id = alert_id(identity, &self.record);
        self
    }

    /// With the rule's metadata and the account's name.
    pub fn with_extra(mut self, extra: Extra) -> AlertData {
        self.extra = extra;
        self
    }

    /// `recipientAccountId` of the record, if any.
    pub fn account_id(&self) -> Option<&str> {
        self.record
            .get("recipientAccountId")
            .and_then(Value::as_str)
    }

    /// `awsRegion` of the record, if any.
    pub fn region(&self) -> Option<&str> {
        self.record.get("awsRegion").and_then(Value::as_str)
    }

    /// The `match` value of the SNS message: the annotation, or the record.
    fn match_value(&self) -> &Value {
        self.annotation.as_ref().unwrap_or(&self.record)
    }

    /// `eventID` of the record, if any.
    pub fn event_id(&self) -> Option<&str> {
        self.record.get("eventID").and_then(Value::as_str)
    }

    /// `eventTime` of the record, as written, if any.
    pub fn event_time(&self) -> Option<&str> {
        self.record.get("eventTime").and_then(Value::as_str)
    }

    /// `eventTime` in seconds since the epoch, when it reads as a date.
    pub fn event_seconds(&self) -> Option<i64> {
        self.event_time()
            .and_then(tattletail_runtime::correlate::event_seconds)
    }

    /// The input the record came from: `origin` without its `#index`.
    pub fn source(&self) -> &str {
        self.origin
            .rsplit_once('#')
            .map_or(&self.origin, |(s, _)| s)
    }

    /// The record's index in its input (0 when `origin` has none).
    pub fn index(&self) -> u64 {
        self.origin
            .rsplit_once('#')
            .and_then(|(_, i)| i.parse().ok())
            .unwrap_or(0)
    }
}

/// SHA-256 over the rule name and the record's `eventID` (or, lacking one,
/// the whole record), as 32 hex digits. Receivers de-duplicate on it when
/// a retry delivers an alert twice.
pub fn alert_id(rule_name: &str, record: &Value) -> String {
    let mut h = Sha256::new();
    h.update(rule_name.as_bytes());
    h.update([0u8]);
    match record.get("eventID").and_then(Value::as_str) {
        Some(id) => h.update(id.as_bytes()),
        None => h.update(record.to_string().as_bytes()),
    }
    let digest = h.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Go's `json.Marshal` HTML escaping, applied to JSON text (these
/// characters only occur inside strings, so the JSON stays equivalent).
pub fn go_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

fn compact(v: &Value) -> String {
    go_escape(&v.to_string())
}

fn pretty(v: &Value) -> String {
    go_escape(&serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()))
}

fn marker(bytes: usize) -> String {
    format!("[truncated by tattletail: {bytes} bytes]")
}

/// Shorten `v` in place until its compact (escaped) JSON fits `target`
/// bytes. Large values are cut first, largest first, each cut leaving a
/// visible marker; then, if many small values remain, arrays lose their
/// tail items and objects their largest remaining keys, again with a
/// marker. Small fields (eventName, eventSource, eventID, ...) survive.
pub fn shrink(v: &mut Value, target: usize) {
    let size = compact(v).len();
    if size <= target {
        return;
    }
    match v {
        Value::String(s) => {
            let mut cut = target.saturating_sub(FLOOR).min(s.len());
            loop {
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                let candidate = format!("{}…{}", &s[..cut], marker(s.len() - cut));
                // Escaping can make the kept prefix longer: cut more.
                if compact(&Value::String(candidate.clone())).len() <= target || cut == 0 {
                    *s = candidate;
                    return;
                }
                cut = cut.saturating_sub((cut / 8).max(1));
            }
        }
        Value::Array(items) => {
            let mut sizes: Vec<usize> = items.iter().map(|c| compact(c).len()).collect();
            let overhead = size - sizes.iter().sum::<usize>();
            cut_largest(items.iter_mut(), &mut sizes, overhead, target);
            let mut total = overhead + sizes.iter().sum::<usize>();
            if total > target {
                // Drop items from the end, leaving a marker item.
                let mut dropped = 0;
                while total + FLOOR > target && !items.is_empty() {
                    items.pop();
                    total -= sizes.pop().unwrap_or(0) + 1;
                    dropped += 1;
                }
                items.push(Value::String(format!(
                    "[truncated by tattletail: {dropped} more items]"
                )));
            }
        }
        Value::Object(map) => {
            let mut sizes: Vec<usize> = map.values().map(|c| compact(c).len()).collect();
            let overhead = size - sizes.iter().sum::<usize>();
            cut_largest(map.values_mut(), &mut sizes, overhead, target);
            let mut total = overhead + sizes.iter().sum::<usize>();
            if total > target {
                // Remove the largest remaining fields, leaving a marker key.
                let mut by_size: Vec<(String, usize)> =
                    map.keys().cloned().zip(sizes.iter().copied()).collect();
                by_size.sort_by_key(|e| std::cmp::Reverse(e.1));
                let mut removed = Vec::new();
                for (key, n) in by_size {
                    if total + FLOOR + removed.len() * 8 <= target {
                        break;
                    }
                    map.remove(&key);
                    total = total.saturating_sub(n + key.len() + 4);
                    removed.push(key);
                }
                map.insert(
                    "tattletail_truncated".into(),
                    Value::String(format!("{} field(s) removed", removed.len())),
                );
            }
        }
        _ => *v = Value::String(marker(size)),
    }
}

/// Room a marker needs.
const FLOOR: usize = 64;

/// Cut the largest children first while cutting one actually saves space;
/// `sizes` is kept in step with the children.
fn cut_largest<'a>(
    children: impl Iterator<Item = &'a mut Value>,
    sizes: &mut [usize],
    overhead: usize,
    target: usize,
) {
    let mut children: Vec<&mut Value> = children.collect();
    loop {
        let total = overhead + sizes.iter().sum::<usize>();
        if total <= target {
            return;
        }
        let excess = total - target;
        let Some((i, &n)) = sizes.iter().enumerate().max_by_key(|(_, n)| **n) else {
            return;
        };
        if n <= 2 * FLOOR {
            return; // only small values left: dropping is the caller's job
        }
        let child = &mut children[i];
        if n > excess + FLOOR {
            shrink(child, n - excess);
        } else if child.is_object() || child.is_array() {
            // Keep its small fields if it has any.
            shrink(child, 2 * FLOOR);
        } else {
            **child = Value::String(marker(n));
        }
        let new = compact(child).len();
        if new >= n {
            **child = Value::String(marker(n));
        }
        sizes[i] = compact(child).len();
    }
}

/// The SNS message: upstream's four keys, in upstream's order, then
/// `alert_id`. At most [`SNS_LIMIT`] bytes.
pub fn sns_message(a: &AlertData) -> String {
    let mut extra = String::new();
    if let Some(s) = a.extra.severity {
        extra.push_str(&format!(",\"severity\":{}", compact(&json!(s.as_str()))));
    }
    if !a.extra.tags.is_empty() {
        extra.push_str(&format!(",\"tags\":{}", compact(&json!(a.extra.tags))));
    }
    if let Some(r) = &a.extra.runbook {
        extra.push_str(&format!(",\"runbook\":{}", compact(&json!(r))));
    }
    if let Some(n) = &a.extra.account_name {
        extra.push_str(&format!(",\"account_name\":{}", compact(&json!(n))));
    }
    if !a.extra.references.is_empty() {
        extra.push_str(&format!(
            ",\"references\":{}",
            compact(&json!(a.extra.references))
        ));
    }
    let render = |record: &Value, matched: &Value, truncated: bool| {
        format!(
            "{{\"name\":{},\"description\":{},\"record\":{},\"match\":{},\"alert_id\":{}{extra}{}}}",
            compact(&json!(a.name)),
            compact(&json!(a.description)),
            compact(record),
            compact(matched),
            compact(&json!(a.alert_id)),
            if truncated { ",\"truncated\":true" } else { "" }
        )
    };
    let full = render(&a.record, a.match_value(), false);
    if full.len() <= SNS_LIMIT {
        return full;
    }
    let overhead = render(&Value::Null, &Value::Null, true).len();
    let mut avail = SNS_LIMIT.saturating_sub(overhead);
    loop {
        let mut record = a.record.clone();
        let matched = match &a.annotation {
            None => {
                shrink(&mut record, avail / 2);
                record.clone()
            }
            Some(m) => {
                let mut m = m.clone();
                shrink(&mut m, avail / 4);
                shrink(&mut record, avail - compact(&m).len());
                m
            }
        };
        let msg = render(&record, &matched, true);
        if msg.len() <= SNS_LIMIT || avail < 1024 {
            return msg;
        }
        avail -= (msg.len() - SNS_LIMIT).max(256);
    }
}

/// Cut `text` to at most `limit` bytes (at a char boundary), ending with a
/// marker line that says how much was left out.
pub fn cut_text(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let note = format!("\n… {}", marker(text.len()));
    let mut cut = limit.saturating_sub(note.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{note}", &text[..cut])
}

/// The SES email: (subject, text body). Upstream's body, then the alert id.
pub fn email(a: &AlertData) -> (String, String) {
    let head = format!("Alert: {}\n\n{}\n\n\nevent:\n", a.name, a.description);
    let mut tail = String::new();
    if let Some(s) = a.extra.severity {
        tail.push_str(&format!("severity: {}\n", s.as_str()));
    }
    if !a.extra.tags.is_empty() {
        tail.push_str(&format!("tags: {}\n", a.extra.tags.join(", ")));
    }
    if let Some(r) = &a.extra.runbook {
        tail.push_str(&format!("runbook: {r}\n"));
    }
    for r in &a.extra.references {
        tail.push_str(&format!("reference: {r}\n"));
    }
    if let Some(n) = &a.extra.account_name {
        tail.push_str(&format!(
            "account: {} ({n})\n",
            a.account_id().unwrap_or("-")
        ));
    }
    tail.push_str(&format!("alert id: {}\n", a.alert_id));
    let matched = a
        .annotation
        .as_ref()
        .map(|m| format!("match: {}\n", cut_text(&pretty(m), SES_BODY_LIMIT / 4)))
        .unwrap_or_default();
    let room = SES_BODY_LIMIT.saturating_sub(head.len() + tail.len() + matched.len() + 1);
    let body = format!(
        "{head}{}\n{matched}{tail}",
        cut_text(&pretty(&a.record), room)
    );
    (EMAIL_SUBJECT.to_string(), body)
}

/// Escape text for Slack: `&`, `<` and `>` become entities, so nothing from
/// an event can form a mention, a channel ping or a link.
pub fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The Slack webhook payload (upstream's attachment, plus a footer with the
/// alert id and markdown disabled).
pub fn slack(a: &AlertData) -> Value {
    let text = cut_text(
        &slack_escape(&serde_json::to_string_pretty(&a.record).unwrap_or_default()),
        SLACK_TEXT_LIMIT,
    );
    let mut fields = vec![
        json!({"title": "Alert Name", "value": a.name, "short": true}),
        json!({"title": "Description", "value": a.description, "short": true}),
    ];
    if let Some(m) = &a.annotation {
        let value = cut_text(
            &slack_escape(&serde_json::to_string_pretty(m).unwrap_or_default()),
            SLACK_FIELD_LIMIT,
        );
        fields.push(json!({"title": "Match", "value": value, "short": false}));
    }
    let e = &a.extra;
    if let Some(s) = e.severity {
        fields.push(json!({"title": "Severity", "value": s.as_str(), "short": true}));
    }
    if let Some(n) = &e.account_name {
        let value = format!("{} ({})", a.account_id().unwrap_or("-"), n);
        fields.push(json!({"title": "Account", "value": slack_escape(&value), "short": true}));
    }
    if !e.tags.is_empty() {
        let value = cut_text(&slack_escape(&e.tags.join(", ")), SLACK_FIELD_LIMIT);
        fields.push(json!({"title": "Tags", "value": value, "short": true}));
    }
    if let Some(r) = &e.runbook {
        let value = cut_text(&slack_escape(r), SLACK_FIELD_LIMIT);
        fields.push(json!({"title": "Runbook", "value": value, "short": false}));
    }
    if !e.references.is_empty() {
        let value = cut_text(&slack_escape(&e.references.join("\n")), SLACK_FIELD_LIMIT);
        fields.push(json!({"title": "References", "value": value, "short": false}));
    }
    // Upstream's red for every alert; by severity when the rule has one.
    let color = match e.severity {
        None | Some(Severity::High) | Some(Severity::Critical) => "danger",
        Some(Severity::Medium) => "warning",
        Some(Severity::Low) => "#439FE0",
        Some(Severity::Info) => "good",
    };
    json!({
        "username": "Cloudtrail Tattletail",
        "icon_emoji": "red_circle",
        "attachments": [{
            "color": color,
            "title": "Cloudtrail Tattletail Event",
            "text": text,
            "fields": fields,
            "footer": format!("alert id {}", a.alert_id),
            "mrkdwn_in": [],
        }]
    })
}

/// A webhook URL safe to log: scheme, host and first path segment kept,
/// the rest (the secret) masked.
pub fn mask_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let mut parts = rest.splitn(3, '/');
    let host = parts.next().unwrap_or("");
    let first = parts.next();
    let secret = parts.next();
    let prefix = if scheme.is_empty() {
        String::new()
    } else {
        format!("{scheme}://")
    };
    match (first, secret) {
        (Some(first), Some(s)) if !s.is_empty() => format!("{prefix}{host}/{first}/********"),
        (Some(first), _) if !first.is_empty() => format!("{prefix}{host}/********"),
        _ => format!("{prefix}{host}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(annotation: Option<Value>) -> AlertData {
        AlertData::new(
            "Create User".into(),
            "a user was created".into(),
            json!({"eventID": "e-1", "eventName": "CreateUser",
                   "userAgent": "<!channel> <https://evil|x> & co"}),
            annotation,
            "s3://b/k#0".into(),
        )
    }

    #[test]
    fn sns_message_has_upstreams_keys_and_match_rules() {
        let a = alert(None);
        let v: Value = serde_json::from_str(&sns_message(&a)).unwrap();
        assert_eq!(v["name"], "Create User");
        assert_eq!(v["description"], "a user was created");
        assert_eq!(v["record"], a.record);
        assert_eq!(
            v["match"], a.record,
            "select rules send the record as match"
        );
        assert_eq!(v["alert_id"], a.alert_id);
        let b = alert(Some(json!(true)));
        let v: Value = serde_json::from_str(&sns_message(&b)).unwrap();
        assert_eq!(v["match"], true);
        // Go's HTML escaping.
        assert!(sns_message(&a).contains("\\u003c!channel\\u003e"));
        assert!(!sns_message(&a).contains('<'));
    }

    #[test]
    fn alert_ids_are_deterministic() {
        assert_eq!(alert(None).alert_id, alert(Some(json!(1))).alert_id);
        assert_eq!(alert(None).alert_id.len(), 32);
        assert_ne!(
            alert_id("a", &json!({"eventID": "1"})),
            alert_id("b", &json!({"eventID": "1"}))
        );
        assert_ne!(
            alert_id("a", &json!({"x": 1})),
            alert_id("a", &json!({"x": 2}))
        );
    }

    #[test]
    fn email_body_is_upstreams_text() {
        let (subject, body) = email(&alert(Some(json!("username: user1"))));
        assert_eq!(subject, "Cloudtrail Tattletail event");
        let record = go_escape(&serde_json::to_string_pretty(&alert(None).record).unwrap());
        assert_eq!(
            body,
            format!(
                "Alert: Create User\n\na user was created\n\n\nevent:\n{record}\nmatch: \"username: user1\"\nalert id: {}\n",
                alert(None).alert_id
            )
        );
        let (_, body) = email(&alert(None));
        assert!(!body.contains("match:"));
        assert!(!body.contains('<'), "no markup from the event: {body}");
    }

    #[test]
    fn slack_payload_is_upstreams_attachment_escaped() {
        let p = slack(&alert(Some(json!({"user": "<@U123>"}))));
        let att = &p["attachments"][0];
        assert_eq!(p["username"], "Cloudtrail Tattletail");
        assert_eq!(p["icon_emoji"], "red_circle");
        assert_eq!(att["color"], "danger");
        assert_eq!(att["title"], "Cloudtrail Tattletail Event");
        assert_eq!(
            att["fields"][0],
            json!({"title": "Alert Name", "value": "Create User", "short": true})
        );
        assert_eq!(att["fields"][1]["title"], "Description");
        assert_eq!(att["fields"][2]["title"], "Match");
        let text = att["text"].as_str().unwrap();
        assert!(
            text.contains("&lt;!channel&gt; &lt;https://evil|x&gt; &amp; co"),
            "{text}"
        );
        assert!(!p.to_string().contains("<@U123>"));
        assert_eq!(
            slack(&alert(None))["attachments"][0]["fields"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn oversized_records_are_shortened_with_a_marker() {
        let big = "x".repeat(1_200_000);
        let a = AlertData::new(
            "r".into(),
            "d".into(),
            json!({"eventID": "e", "eventName": "PutBucketPolicy",
                   "requestParameters": {"policy": big, "bucket": "b"},
                   "items": (0..20_000).map(|i| json!({"i": i})).collect::<Vec<_>>()}),
            None,
            "o".into(),
        );
        let msg = sns_message(&a);
        assert!(msg.len() <= SNS_LIMIT, "{}", msg.len());
        let v: Value = serde_json::from_str(&msg).unwrap();
        assert_eq!(v["truncated"], true);
        assert_eq!(v["record"]["eventName"], "PutBucketPolicy");
        assert_eq!(v["record"]["requestParameters"]["bucket"], "b");
        assert!(msg.contains("[truncated by tattletail"));

        let text = slack(&a)["attachments"][0]["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(text.len() <= SLACK_TEXT_LIMIT && text.contains("[truncated by tattletail"));
        let (_, body) = email(&a);
        assert!(body.len() <= SES_BODY_LIMIT && body.contains("[truncated by tattletail"));
        assert!(body.ends_with(&format!("alert id: {}\n", a.alert_id)));
    }

    #[test]
    fn shrink_handles_multibyte_and_escapes() {
        let mut v = json!({"s": "é<".repeat(10_000)});
        shrink(&mut v, 1_000);
        assert!(compact(&v).len() <= 1_000, "{}", compact(&v).len());
        let mut v = json!([1, 2, 3]);
        shrink(&mut v, 100);
        assert_eq!(v, json!([1, 2, 3]));
    }

    #[test]
    fn webhook_urls_are_masked() {
        assert_eq!(
            mask_url("https://hooks.slack.com/services/T000/B000/XXXXSECRET"),
            "https://hooks.slack.com/services/********"
        );
        assert_eq!(
            mask_url("http://127.0.0.1:99/hook"),
            "http://127.0.0.1:99/********"
        );
        assert_eq!(mask_url("http://host"), "http://host");
    }

    #[test]
    fn metadata_adds_keys_lines_and_fields_only_when_set() {
        let plain = alert(Some(json!("username: user1")));
        let sns: Value = serde_json::from_str(&sns_message(&plain)).unwrap();
        let keys: Vec<&String> = sns.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["name", "description", "record", "match", "alert_id"]);
        assert!(!email(&plain).1.contains("severity:"));
        assert_eq!(slack(&plain)["attachments"][0]["color"], "danger");

        let meta = RuleMeta {
            severity: Some(Severity::Medium),
            tags: vec!["attack.t1136".into()],
            runbook: Some("https://wiki/<runbook>".into()),
            references: vec!["https://attack.mitre.org/techniques/T1136/".into()],
            ..RuleMeta::default()
        };
        let a = alert(Some(json!("username: user1"))).with_extra(Extra::new(&meta, Some("prod")));
        let sns: Value = serde_json::from_str(&sns_message(&a)).unwrap();
        assert_eq!(sns["severity"], "medium");
        assert_eq!(sns["tags"], json!(["attack.t1136"]));
        assert_eq!(sns["runbook"], "https://wiki/<runbook>");
        assert_eq!(sns["account_name"], "prod");
        assert_eq!(
            sns["references"],
            json!(["https://attack.mitre.org/techniques/T1136/"])
        );
        assert!(!sns_message(&plain).contains("references"));
        assert_eq!(sns["name"], plain_name(&plain), "upstream's keys unchanged");
        let body = email(&a).1;
        assert!(body.contains("severity: medium\n"), "{body}");
        assert!(body.contains("runbook: https://wiki/<runbook>\n"), "{body}");
        assert!(
            body.contains("reference: https://attack.mitre.org/techniques/T1136/\n"),
            "{body}"
        );
        assert!(
            body.trim_end()
                .ends_with(&format!("alert id: {}", a.alert_id)),
            "{body}"
        );
        let att = &slack(&a)["attachments"][0];
        assert_eq!(att["color"], "warning");
        let fields = att["fields"].as_array().unwrap();
        let field = |t: &str| {
            fields
                .iter()
                .find(|f| f["title"] == t)
                .map(|f| f["value"].clone())
        };
        assert_eq!(field("Severity"), Some(json!("medium")));
        assert_eq!(
            field("References"),
            Some(json!("https://attack.mitre.org/techniques/T1136/"))
        );
        assert_eq!(
            field("Runbook"),
            Some(json!("https://wiki/&lt;runbook&gt;"))
        );
        assert!(field("Account")
            .unwrap()
            .as_str()
            .unwrap()
            .ends_with("(prod)"));
    }

    fn plain_name(a: &AlertData) -> Value {
        json!(a.name)
    }
}
