//! Block Kit messages for the `slack_app` destination (`chat.postMessage`),
//! within Slack's limits: at most 50 blocks, a header of at most 150
//! characters, section text of at most 3,000 and at most 10 fields of at
//! most 2,000 each. The record goes in code blocks split over sections,
//! up to a budget ([`RECORD_BUDGET`]); what does not fit is cut with a
//! visible marker. Event text is escaped with [`slack_escape`], so nothing
//! from an event can mention, ping or link.

use serde_json::{json, Value};

use super::followup::followup_fields;
use super::message::{actor, alert_text};
use super::{marker, slack_escape, AlertData};
use crate::followup::FollowUp;

/// Slack's limit on blocks per message.
pub const MAX_BLOCKS: usize = 50;
/// Slack's limit on a header's text.
pub const HEADER_LIMIT: usize = 150;
/// Slack's limit on a section's text.
pub const SECTION_LIMIT: usize = 3_000;
/// Slack's limit on a section field's text.
pub const FIELD_LIMIT: usize = 2_000;
/// Bytes of record (and match) text shown across sections: a message
/// longer than this is hard to read and nears Slack's message size limit.
pub const RECORD_BUDGET: usize = 36_000;

/// Cut `text` to at most `limit` characters (Slack counts characters),
/// ending with `…` when cut.
fn cut_chars(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut s: String = text.chars().take(limit.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// Split escaped text into pieces of at most `max` bytes, at line ends
/// where possible, never inside a char or an `&…;` entity.
fn chunks(text: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut cut = max;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if let Some(nl) = rest[..cut].rfind('\n').filter(|&nl| nl > max / 2) {
            cut = nl + 1;
        } else if let Some(amp) = rest[cut.saturating_sub(6)..cut].rfind('&') {
            let at = cut.saturating_sub(6) + amp;
            if !rest[at..cut].contains(';') && at > 0 {
                cut = at;
            }
        }
        out.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

fn section(text: String) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

/// `title` then `value` (JSON, escaped) as code-block sections, within
/// `budget` bytes and `max_blocks` blocks; a cut ends with a marker.
fn code_sections(title: &str, value: &Value, budget: usize, max_blocks: usize) -> Vec<Value> {
    let pretty = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    let escaped = slack_escape(&pretty);
    // "*Title*\n```" + chunk + "```" must fit a section.
    let room = SECTION_LIMIT - title.len() - 16;
    let mut out = Vec::new();
    let mut used = 0;
    let pieces = chunks(&escaped, room);
    let total = pieces.len();
    for (i, piece) in pieces.into_iter().enumerate() {
        let last_allowed = out.len() + 1 >= max_blocks || used + piece.len() > budget;
        if last_allowed && i + 1 < total {
            let left = escaped.len() - used;
            out.push(section(format!(
                "_{}_ ({title}; the full text is in the SNS, email and webhook payloads and in the `undelivered_alert` log line if this fails)",
                marker(left)
            )));
            break;
        }
        let head = if i == 0 {
            format!("*{title}*\n")
        } else {
            String::new()
        };
        out.push(section(format!("{head}```{piece}```")));
        used += piece.len();
    }
    out
}

/// The Slack app message of an alert: `{"text", "blocks"}` (the sender
/// adds `channel` and `thread_ts`).
pub fn slack_app_message(a: &AlertData) -> Value {
    let r = &a.record;
    let get = |k: &str| r.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let title = if a.name.is_empty() {
        "Cloudtrail Tattletail alert"
    } else {
        &a.name
    };
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": cut_chars(title, HEADER_LIMIT), "emoji": false}
    })];
    let mut fields = Vec::new();
    let mut field = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            let text = format!("*{name}*\n{}", slack_escape(&v));
            fields.push(json!({"type": "mrkdwn", "text": cut_chars(&text, 500)}));
        }
    };
    field("Severity", a.extra.severity.map(|s| s.as_str().to_string()));
    field(
        "Account",
        a.account_id().map(|id| match &a.extra.account_name {
            Some(n) => format!("{id} ({n})"),
            None => id.to_string(),
        }),
    );
    field("Region", a.region().map(str::to_string));
    field("Actor", actor(r));
    field(
        "Event",
        match (get("eventSource"), get("eventName")) {
            (Some(s), Some(n)) => Some(format!("{s} {n}")),
            (None, Some(n)) => Some(n.to_string()),
            (Some(s), None) => Some(s.to_string()),
            (None, None) => None,
        },
    );
    field("Source IP", get("sourceIPAddress").map(str::to_string));
    field("Event time", get("eventTime").map(str::to_string));
    if !fields.is_empty() {
        fields.truncate(10);
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    if !a.description.is_empty() {
        blocks.push(section(cut_chars(
            &slack_escape(&a.description),
            SECTION_LIMIT,
        )));
    }
    let mut meta = Vec::new();
    if !a.extra.tags.is_empty() {
        meta.push(format!(
            "*Tags:* {}",
            slack_escape(&a.extra.tags.join(", "))
        ));
    }
    if let Some(rb) = &a.extra.runbook {
        meta.push(format!("*Runbook:* {}", slack_escape(rb)));
    }
    if !a.extra.references.is_empty() {
        meta.push(format!(
            "*References:* {}",
            slack_escape(&a.extra.references.join(" "))
        ));
    }
    if !meta.is_empty() {
        blocks.push(section(cut_chars(&meta.join("\n"), SECTION_LIMIT)));
    }
    // Room left: one block for the context at the end.
    let mut budget = RECORD_BUDGET;
    if let Some(m) = &a.annotation {
        let room = MAX_BLOCKS - blocks.len() - 2;
        let s = code_sections("Match", m, budget / 4, room.min(4));
        budget -= s
            .iter()
            .map(|b| b["text"]["text"].as_str().map_or(0, str::len))
            .sum::<usize>()
            .min(budget / 4);
        blocks.extend(s);
    }
    let room = MAX_BLOCKS - blocks.len() - 1;
    blocks.extend(code_sections("Record", r, budget, room));
    let mut context = format!("alert id `{}`", a.alert_id);
    if !a.origin.is_empty() {
        context.push_str(&format!(" · {}", slack_escape(&a.origin)));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": cut_chars(&context, SECTION_LIMIT)}]
    }));
    json!({
        "text": cut_chars(&slack_escape(&alert_text(a)), SECTION_LIMIT),
        "blocks": blocks,
    })
}

/// The Slack app message of a follow-up (posted in the first alert's
/// thread when its `ts` is known).
pub fn slack_app_followup(f: &FollowUp) -> Value {
    let headline = slack_escape(&f.headline());
    let fields: Vec<Value> = followup_fields(f)
        .into_iter()
        .take(10)
        .map(|(name, value)| {
            json!({"type": "mrkdwn", "text": cut_chars(&format!("*{name}*\n{value}"), FIELD_LIMIT)})
        })
        .collect();
    let mut context = format!("follow-up id `{}`", f.alert_id);
    if let Some(id) = &f.first_alert_id {
        context.push_str(&format!(" · first alert id `{id}`"));
    }
    json!({
        "text": cut_chars(&headline, SECTION_LIMIT),
        "blocks": [
            section(cut_chars(&headline, SECTION_LIMIT)),
            {"type": "section", "fields": fields},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::message::tests::{alert, followup};

    /// Every limit Slack enforces on what we send.
    fn check_limits(msg: &Value) {
        let text = msg.to_string();
        let _: Value = serde_json::from_str(&text).unwrap();
        let blocks = msg["blocks"].as_array().unwrap();
        assert!(blocks.len() <= MAX_BLOCKS, "{} blocks", blocks.len());
        for b in blocks {
            match b["type"].as_str().unwrap() {
                "header" => {
                    assert!(b["text"]["text"].as_str().unwrap().chars().count() <= HEADER_LIMIT)
                }
                "section" => {
                    if let Some(t) = b["text"]["text"].as_str() {
                        assert!(t.chars().count() <= SECTION_LIMIT, "{}", t.len());
                    }
                    if let Some(f) = b["fields"].as_array() {
                        assert!(f.len() <= 10);
                        for x in f {
                            assert!(x["text"].as_str().unwrap().chars().count() <= FIELD_LIMIT);
                        }
                    }
                }
                "context" => {}
                other => panic!("unexpected block {other}"),
            }
        }
        assert!(!msg["text"].as_str().unwrap().is_empty());
    }

    #[test]
    fn an_alert_as_blocks() {
        let mut a = alert();
        a.record["userAgent"] = json!("<!channel> <https://evil|x> & co");
        a.annotation = Some(json!({"user": "<@U123>"}));
        let m = slack_app_message(&a);
        check_limits(&m);
        let blocks = m["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"]["text"], "Root login");
        let fields = blocks[1]["fields"].as_array().unwrap();
        let texts: Vec<&str> = fields.iter().map(|f| f["text"].as_str().unwrap()).collect();
        assert_eq!(
            texts,
            [
                "*Severity*\nhigh",
                "*Account*\n123456789012 (prod)",
                "*Region*\nus-east-1",
                "*Actor*\narn:aws:iam::123456789012:root",
                "*Event*\nsignin.amazonaws.com ConsoleLogin",
                "*Source IP*\n198.51.100.7",
                "*Event time*\n2024-01-01T00:00:00Z"
            ]
        );
        let all = m.to_string();
        assert!(!all.contains("<!channel>") && !all.contains("<@U123>") && !all.contains("<https"));
        assert!(all.contains("&lt;!channel&gt;"));
        assert!(all.contains("*Match*\\n```"), "{all}");
        assert!(all.contains("*Record*\\n```"));
        let last = blocks.last().unwrap();
        assert_eq!(last["type"], "context");
        assert!(last["elements"][0]["text"]
            .as_str()
            .unwrap()
            .contains(&a.alert_id));
        assert_eq!(
            m["text"],
            "Root login: ConsoleLogin by arn:aws:iam::123456789012:root in 123456789012 (prod)/us-east-1"
        );
        // Without an annotation, no Match section.
        let plain = slack_app_message(&alert()).to_string();
        assert!(!plain.contains("*Match*"));
    }

    #[test]
    fn a_huge_record_stays_within_slacks_limits() {
        let mut a = alert();
        a.name = "n".repeat(400);
        a.description = "d".repeat(10_000);
        a.record["requestParameters"] = json!({
            "policy": "<&>".repeat(350_000),
            "items": (0..5_000).map(|i| json!({"i": i})).collect::<Vec<_>>()
        });
        a.annotation = Some(a.record.clone());
        assert!(a.record.to_string().len() > 1_000_000);
        let m = slack_app_message(&a);
        check_limits(&m);
        let all = m.to_string();
        assert!(all.contains("[truncated by tattletail"), "visible marker");
        assert!(all.len() < 120_000, "{}", all.len());
        assert_eq!(
            m["blocks"].as_array().unwrap().last().unwrap()["type"],
            "context"
        );
    }

    #[test]
    fn chunks_respect_lines_chars_and_entities() {
        let text = "ab&amp;cd\n".repeat(1_000) + &"é".repeat(3_000);
        let parts = chunks(&text, 997);
        assert_eq!(parts.concat(), text);
        for p in &parts {
            assert!(p.len() <= 997);
        }
        let t = "x".repeat(990) + "&amp;yyyy";
        let parts = chunks(&t, 993);
        assert_eq!(parts[0].len(), 990, "not inside the entity");
    }

    #[test]
    fn a_followup_as_blocks() {
        let m = slack_app_followup(&followup());
        check_limits(&m);
        assert!(m["text"].as_str().unwrap().starts_with("12 more alert(s)"));
        let all = m.to_string();
        assert!(all.contains("*Held back*\\n12"));
        assert!(all.contains("first alert id `a-0`"));
    }
}
