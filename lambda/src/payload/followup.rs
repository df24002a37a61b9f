//! Follow-up payloads for the SNS, SES and Slack webhook destinations: the
//! same shapes as an alert's (a receiver parsing `name` and `description`
//! keeps working), with a `follow_up` object, lines or fields saying how
//! many alerts were held back, why, and the first and last of them.

use serde_json::{json, Value};

use super::message::followup_json;
use super::{compact, cut_text, go_escape, slack_escape, EMAIL_SUBJECT, SLACK_FIELD_LIMIT};
use crate::followup::{FollowUp, Held};

/// The SNS message of a follow-up: `name` (the rule), `description` (the
/// headline), `follow_up` (reason, count, key, by_rule, first/last held
/// alert, first_alert_id), `alert_id`, and the rule's metadata when set;
/// Go's HTML escaping as for alerts.
pub fn sns_followup(f: &FollowUp) -> String {
    let mut v = json!({
        "name": f.rule,
        "description": f.headline(),
        "follow_up": followup_json(f),
        "alert_id": f.alert_id,
    });
    let e = &f.extra;
    if let Some(s) = e.severity {
        v["severity"] = json!(s.as_str());
    }
    if !e.tags.is_empty() {
        v["tags"] = json!(e.tags);
    }
    if let Some(r) = &e.runbook {
        v["runbook"] = json!(r);
    }
    compact(&v)
}

fn held_line(what: &str, h: &Option<Held>) -> String {
    match h {
        None => String::new(),
        Some(h) => format!(
            "{what}: alert id {}, event id {}, at {}\n",
            h.alert_id,
            h.event_id.as_deref().unwrap_or("-"),
            h.event_time.as_deref().unwrap_or("-")
        ),
    }
}

/// The SES email of a follow-up: (subject, text body).
pub fn email_followup(f: &FollowUp) -> (String, String) {
    let mut body = format!("Follow-up: {}\n\n{}\n\n", f.rule, f.headline());
    body.push_str(&format!("reason: {}\n", f.reason.kind()));
    body.push_str(&format!("held back: {}\n", f.count));
    if let Some(k) = &f.key {
        body.push_str(&format!("key: {}\n", go_escape(k)));
    }
    for (rule, n) in &f.by_rule {
        body.push_str(&format!("rule: {rule}: {n}\n"));
    }
    body.push_str(&held_line("first held", &f.first));
    body.push_str(&held_line("last held", &f.last));
    if let Some(s) = f.extra.severity {
        body.push_str(&format!("severity: {}\n", s.as_str()));
    }
    if let Some(r) = &f.extra.runbook {
        body.push_str(&format!("runbook: {r}\n"));
    }
    if let Some(id) = &f.first_alert_id {
        body.push_str(&format!("first alert id: {id}\n"));
    }
    body.push_str(&format!("alert id: {}\n", f.alert_id));
    (format!("{EMAIL_SUBJECT} (follow-up)"), body)
}

/// Slack fields of a follow-up, values escaped (shared with the Slack
/// app's follow-up).
pub(crate) fn followup_fields(f: &FollowUp) -> Vec<(&'static str, String)> {
    let mut fields = Vec::new();
    if !f.rule.is_empty() {
        fields.push(("Rule", slack_escape(&f.rule)));
    }
    fields.push(("Held back", f.count.to_string()));
    fields.push(("Reason", f.reason.kind().to_string()));
    if let Some(k) = &f.key {
        fields.push(("Key", cut_text(&slack_escape(k), SLACK_FIELD_LIMIT / 4)));
    }
    if f.rule.is_empty() && !f.by_rule.is_empty() {
        let list: Vec<String> = f
            .by_rule
            .iter()
            .map(|(r, n)| format!("{}: {n}", slack_escape(r)))
            .collect();
        fields.push(("By rule", cut_text(&list.join("\n"), SLACK_FIELD_LIMIT)));
    }
    let held = |h: &Held| {
        slack_escape(&format!(
            "{} ({})",
            h.event_time.as_deref().unwrap_or("-"),
            h.event_id.as_deref().unwrap_or("-")
        ))
    };
    if let Some(h) = &f.first {
        fields.push(("First held", held(h)));
    }
    if let Some(h) = &f.last {
        fields.push(("Last held", held(h)));
    }
    fields
}

/// The Slack webhook payload of a follow-up: an attachment like an
/// alert's, markdown off, event text escaped.
pub fn slack_followup(f: &FollowUp) -> Value {
    let fields: Vec<Value> = followup_fields(f)
        .into_iter()
        .map(|(title, value)| json!({"title": title, "value": value, "short": value.len() < 40}))
        .collect();
    let mut footer = format!("follow-up id {}", f.alert_id);
    if let Some(id) = &f.first_alert_id {
        footer.push_str(&format!(" · first alert id {id}"));
    }
    json!({
        "username": "Cloudtrail Tattletail",
        "icon_emoji": "red_circle",
        "attachments": [{
            "color": "#9E9E9E",
            "title": "Cloudtrail Tattletail Follow-up",
            "text": slack_escape(&f.headline()),
            "fields": fields,
            "footer": footer,
            "mrkdwn_in": [],
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::message::tests::followup;

    #[test]
    fn sns_followup_says_what_was_held_back() {
        let mut f = followup();
        f.rule = "<b>Root</b> & co".into();
        let msg = sns_followup(&f);
        assert!(!msg.contains('<') && !msg.contains('&'), "{msg}");
        let v: Value = serde_json::from_str(&msg).unwrap();
        assert_eq!(v["name"], "<b>Root</b> & co");
        assert_eq!(v["alert_id"], "f-1");
        assert!(v["description"]
            .as_str()
            .unwrap()
            .starts_with("12 more alert(s)"));
        let fu = &v["follow_up"];
        assert_eq!(fu["reason"], "dedup");
        assert_eq!(fu["count"], 12);
        assert_eq!(fu["key"], json!(["123456789012"]));
        assert_eq!(fu["by_rule"], json!([{"rule": "Root login", "count": 12}]));
        assert_eq!(fu["first"]["alert_id"], "a-1");
        assert_eq!(fu["last"]["event_time"], "2024-01-01T00:09:00Z");
        assert_eq!(fu["first_alert_id"], "a-0");
        assert!(v.get("severity").is_none());
    }

    #[test]
    fn email_and_slack_followups() {
        let f = followup();
        let (subject, body) = email_followup(&f);
        assert_eq!(subject, "Cloudtrail Tattletail event (follow-up)");
        assert!(
            body.starts_with("Follow-up: Root login\n\n12 more alert(s)"),
            "{body}"
        );
        assert!(body.contains("held back: 12\n") && body.contains("reason: dedup\n"));
        assert!(body.contains("first held: alert id a-1, event id e-2, at 2024-01-01T00:01:00Z\n"));
        assert!(body.ends_with("alert id: f-1\n"));

        let mut f = followup();
        f.rule = String::new();
        f.by_rule = vec![("<!channel>".into(), 3), ("b".into(), 4)];
        let p = slack_followup(&f);
        let att = &p["attachments"][0];
        assert_eq!(att["title"], "Cloudtrail Tattletail Follow-up");
        assert!(!p.to_string().contains("<!channel>"));
        let fields = att["fields"].as_array().unwrap();
        let by_rule = fields.iter().find(|x| x["title"] == "By rule").unwrap();
        assert_eq!(by_rule["value"], "&lt;!channel&gt;: 3\nb: 4");
        assert_eq!(att["footer"], "follow-up id f-1 · first alert id a-0");
    }
}
