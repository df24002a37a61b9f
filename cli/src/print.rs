//! Alert output on stdout: one line per alert, as text (colour on a
//! terminal) or JSON Lines. Nothing taken from an event, a file name or
//! the config reaches the output raw: text fields go through [`escape`],
//! JSON Lines through [`escape_json`] (the same value, no raw control
//! characters), so one alert is always exactly one line. Colour codes are
//! only ever put around escaped text.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::Arc;

use serde_json::{json, Value};
use tattletail_compiler::config::{Mode, Severity};
use tattletail_compiler::escape::{escape, escape_json};
use tattletail_compiler::plan::{Compiled, Plan};
use tattletail_runtime::matcher::AlertFields;
use tattletail_runtime::scan::{Alert, AlertSink, RecordRef};
use tattletail_runtime::CorrelationAlert;

use crate::args::Format;

/// The longest annotation shown in a text line, in characters.
const ANNOTATION_CHARS: usize = 200;

/// Events nested deeper than this are replaced by a marker in JSON Lines,
/// so that every line stays readable by common JSON parsers (serde_json
/// stops at 128 levels, jq 1.6 at 256). CloudTrail's own events are
/// rarely deeper than 20.
pub const EVENT_DEPTH: usize = 100;

/// How deeply `v` nests (a scalar is 0), without recursion.
fn depth(v: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, d + 1))),
            Value::Object(map) => stack.extend(map.values().map(|i| (i, d + 1))),
            _ => {}
        }
    }
    deepest
}

/// The record's JSON text without the whitespace between tokens (so that
/// a pretty-printed log still gives one line per alert), or `None` when
/// it nests deeper than [`EVENT_DEPTH`] or is not UTF-8. The text was
/// parsed without error, so strings are well formed.
fn compact(raw: &[u8]) -> Option<String> {
    // Bytes, not chars: no byte of a multi-byte UTF-8 sequence is ASCII,
    // so quotes, backslashes and brackets are found exactly.
    let mut out = Vec::with_capacity(raw.len());
    let (mut in_string, mut escaped, mut depth) = (false, false, 0usize);
    for &b in raw {
        if in_string {
            out.push(b);
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => continue,
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > EVENT_DEPTH {
                    return None;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        out.push(b);
    }
    String::from_utf8(out).ok()
}

/// The whole event as JSON text for JSON Lines, or a note when it nests
/// too deeply. The record's own text when the scanner kept it (a parallel
/// scan) and it needed no repair: exactly the file's values, at no parse;
/// otherwise the parsed record.
fn event_text(a: &Alert<'_>) -> String {
    if let RecordRef::Text(raw) = a.record {
        if !a.position.check_values {
            if let Some(t) = compact(raw) {
                return t;
            }
        }
    }
    let event = a.record.to_json();
    if depth(&event) > EVENT_DEPTH {
        Value::String(format!(
            "[event nested more than {EVENT_DEPTH} levels deep, not printed; it is record {} of {}]",
            a.position.index, a.source
        ))
        .to_string()
    } else {
        event.to_string()
    }
}

/// The JSON object printed for an alert in `--format jsonl`, without the
/// event ([`json_line`] adds it): what happened, who did it, from where,
/// in which account and region, the rule's output, where the record is,
/// and where the alert goes: with the plan, its routed destinations
/// ([`Plan::targets`], what `--send` and the Lambda send to); without
/// it, the rule's own list.
pub fn alert_json(a: &Alert<'_>, plan: Option<&Plan>) -> Value {
    let f = a.fields;
    let account_name = plan.and_then(|p| p.account_name(f.account.as_deref()));
    let destinations: Vec<&str> = match plan {
        Some(p) => p
            .targets(a.rule_index, f.account.as_deref(), f.region.as_deref())
            .into_iter()
            .map(|d| d.id.as_str())
            .collect(),
        None => a
            .rule
            .config
            .destinations
            .iter()
            .map(String::as_str)
            .collect(),
    };
    let config = &a.rule.config;
    let mut v = alert_object(
        &config.display_name(),
        &config.meta,
        ("runbook", json!(config.meta.runbook)),
        f,
        account_name,
    );
    let m = v.as_object_mut().expect("an object");
    m.insert(
        "annotation".into(),
        a.annotation.map_or(Value::Null, |a| a.value()),
    );
    m.insert("destinations".into(), json!(destinations));
    m.insert("file".into(), json!(a.source));
    m.insert("index".into(), json!(a.position.index));
    sigma_meta(
        &mut v,
        &config.meta.references,
        config.sigma.as_ref().and_then(|s| s.id.as_deref()),
        config.description.as_deref(),
    );
    v
}

/// The fields every alert object starts with: the rule's name and
/// metadata, `extra` (the rule's runbook, or a correlation's details),
/// then what happened, who did it, from where, in which account and
/// region (of the record, or a correlation window's last record).
fn alert_object(
    name: &str,
    meta: &tattletail_compiler::config::RuleMeta,
    extra: (&str, Value),
    f: &AlertFields,
    account_name: Option<&str>,
) -> Value {
    let mut v = json!({
        "rule": name,
        "severity": meta.severity.map(|s| s.as_str()),
        "mode": meta.mode.as_str(),
        "tags": meta.tags,
    });
    let m = v.as_object_mut().expect("an object");
    m.insert(extra.0.into(), extra.1);
    for (k, x) in [
        ("eventTime", json!(f.event_time)),
        ("eventSource", json!(f.event_source)),
        ("eventName", json!(f.event_name)),
        ("eventID", json!(f.event_id)),
        ("actor", json!(f.actor())),
        ("sourceIPAddress", json!(f.source_ip)),
        ("account", json!(f.account)),
        ("account_name", json!(account_name)),
        ("region", json!(f.region)),
    ] {
        m.insert(k.into(), x);
    }
    v
}

/// Add `references` (when there are some), `sigma_id` and `description`
/// (when set) to an alert's JSON object.
fn sigma_meta(v: &mut Value, references: &[String], id: Option<&str>, description: Option<&str>) {
    let Value::Object(m) = v else { return };
    if !references.is_empty() {
        m.insert("references".into(), json!(references));
    }
    if let Some(id) = id {
        m.insert("sigma_id".into(), json!(id));
    }
    if let Some(d) = description {
        m.insert("description".into(), json!(d));
    }
}

/// The JSON object printed for a correlation alert: `rule` is the
/// correlation's title, `correlation` what fired ([`CorrelationAlert::to_json`]),
/// and the fields of the window's last record as for a rule's alert (no
/// `event`).
pub fn correlation_json(c: &CorrelationAlert, plan: &Plan) -> Value {
    let config = &plan.correlations[c.correlation];
    let f = &c.last.fields;
    let destinations: Vec<&str> = plan
        .correlation_targets(c.correlation, f.account.as_deref(), f.region.as_deref())
        .into_iter()
        .map(|d| d.id.as_str())
        .collect();
    let mut v = alert_object(
        &config.display_name(),
        &config.meta,
        ("correlation", c.to_json(plan)),
        f,
        plan.account_name(f.account.as_deref()),
    );
    let m = v.as_object_mut().expect("an object");
    m.insert("destinations".into(), json!(destinations));
    m.insert("file".into(), json!(&*c.last.source));
    m.insert("index".into(), json!(c.last.index));
    sigma_meta(
        &mut v,
        &config.meta.references,
        config.correlation.id.as_deref(),
        config.correlation.description.as_deref(),
    );
    v
}

/// The readable line for a correlation alert (with its newline):
/// `TIME  TITLE [SEVERITY]  [correlation KIND: DETAIL]  ACTOR  from IP  in ACCOUNT (NAME) REGION  (FILE#INDEX eventID=ID)`,
/// the fields being those of the window's last record.
pub fn correlation_text(c: &CorrelationAlert, color: bool, plan: &Plan) -> String {
    let config = &plan.correlations[c.correlation];
    let f = &c.last.fields;
    let style = Style { on: color };
    let shown = |v: Option<&str>| escape(v.unwrap_or("-")).into_owned();
    let mut line = String::with_capacity(256);
    style.paint("2", &shown(f.event_time.as_deref()), &mut line);
    line.push_str("  ");
    style.paint("1;31", &escape(&config.display_name()), &mut line);
    badges(&config.meta, &style, &mut line);
    line.push_str("  ");
    style.paint(
        "35",
        &format!("[correlation {}]", escape(&c.detail(plan))),
        &mut line,
    );
    line.push_str("  ");
    style.paint("36", &shown(f.actor().as_deref()), &mut line);
    line.push_str("  from ");
    style.paint("33", &shown(f.source_ip.as_deref()), &mut line);
    let _ = write!(line, "  in {}", shown(f.account.as_deref()));
    if let Some(name) = plan.account_name(f.account.as_deref()) {
        let _ = write!(line, " ({})", escape(name));
    }
    let _ = write!(line, " {}", shown(f.region.as_deref()));
    line.push_str("  ");
    let place = format!(
        "({}#{} eventID={})",
        escape(&c.last.source),
        c.last.index,
        shown(f.event_id.as_deref())
    );
    style.paint("2", &place, &mut line);
    line.push('\n');
    line
}

/// ` [SEVERITY] [dry run]` after an alert's name.
fn badges(meta: &tattletail_compiler::config::RuleMeta, style: &Style, line: &mut String) {
    if let Some(sev) = meta.severity {
        line.push(' ');
        let code = match sev {
            Severity::Critical | Severity::High => "1;31",
            Severity::Medium => "33",
            Severity::Low | Severity::Info => "2",
        };
        style.paint(code, &format!("[{}]", sev.as_str()), line);
    }
    if meta.mode == Mode::DryRun {
        line.push(' ');
        style.paint("2", "[dry run]", line);
    }
}

/// The JSON Lines line for an alert (with its newline): [`alert_json`]
/// with the whole event under `event`, last.
pub fn json_line(a: &Alert<'_>, plan: Option<&Plan>) -> String {
    let mut line = alert_json(a, plan).to_string();
    line.pop(); // the closing brace
    line.push_str(",\"event\":");
    line.push_str(&event_text(a));
    line.push('}');
    let mut line = escape_json(&line).into_owned();
    line.push('\n');
    line
}

/// ANSI styles of the text line's parts.
struct Style {
    on: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str, out: &mut String) {
        if self.on {
            let _ = write!(out, "\x1b[{code}m{text}\x1b[0m");
        } else {
            out.push_str(text);
        }
    }
}

/// The readable line for an alert (with its newline):
/// `TIME  RULE [SEVERITY] [dry run]  ACTOR  SOURCE NAME  from IP  in ACCOUNT (NAME) REGION  match: …  (FILE#INDEX eventID=ID)`.
pub fn text_line(a: &Alert<'_>, color: bool, plan: Option<&Plan>) -> String {
    let f = a.fields;
    let style = Style { on: color };
    let shown = |v: Option<&str>| escape(v.unwrap_or("-")).into_owned();
    let mut line = String::with_capacity(256);
    style.paint("2", &shown(f.event_time.as_deref()), &mut line);
    line.push_str("  ");
    style.paint("1;31", &escape(&a.rule.config.display_name()), &mut line);
    badges(&a.rule.config.meta, &style, &mut line);
    line.push_str("  ");
    style.paint("36", &shown(f.actor().as_deref()), &mut line);
    line.push_str("  ");
    line.push_str(&shown(f.event_source.as_deref()));
    line.push(' ');
    style.paint("1", &shown(f.event_name.as_deref()), &mut line);
    line.push_str("  from ");
    style.paint("33", &shown(f.source_ip.as_deref()), &mut line);
    let _ = write!(line, "  in {}", shown(f.account.as_deref()));
    if let Some(name) = plan.and_then(|p| p.account_name(f.account.as_deref())) {
        let _ = write!(line, " ({})", escape(name));
    }
    let _ = write!(line, " {}", shown(f.region.as_deref()));
    if let Some(v) = a.annotation {
        let text = &v.0;
        let short: String = text.chars().take(ANNOTATION_CHARS).collect();
        let ellipsis = if short.len() < text.len() { "…" } else { "" };
        let _ = write!(line, "  match: {}{ellipsis}", escape(&short));
    }
    line.push_str("  ");
    let place = format!(
        "({}#{} eventID={})",
        escape(a.source),
        a.position.index,
        shown(f.event_id.as_deref())
    );
    style.paint("2", &place, &mut line);
    line.push('\n');
    line
}

/// Prints alerts in one format.
pub struct Printer<W: Write> {
    out: W,
    format: Format,
    color: bool,
    compiled: Option<Arc<Compiled>>,
}

impl<W: Write> Printer<W> {
    /// Print to `out`; `color` only matters for text.
    pub fn new(out: W, format: Format, color: bool) -> Self {
        Printer {
            out,
            format,
            color,
            compiled: None,
        }
    }

    /// Show the plan's account names beside account ids, and its routed
    /// destinations in JSON Lines.
    pub fn with_plan(mut self, compiled: Arc<Compiled>) -> Self {
        self.compiled = Some(compiled);
        self
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> AlertSink for Printer<W> {
    fn alert(&mut self, a: &Alert<'_>) -> io::Result<()> {
        // Built whole and written at once: one write per alert.
        let plan = self.compiled.as_deref().map(|c| &c.plan);
        let line = match self.format {
            Format::Text => text_line(a, self.color, plan),
            Format::Jsonl => json_line(a, plan),
        };
        self.out.write_all(line.as_bytes())
    }

    fn correlation(&mut self, plan: &Plan, c: &CorrelationAlert) -> io::Result<()> {
        let line = match self.format {
            Format::Text => correlation_text(c, self.color, plan),
            Format::Jsonl => {
                let mut l = escape_json(&correlation_json(c, plan).to_string()).into_owned();
                l.push('\n');
                l
            }
        };
        self.out.write_all(line.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tattletail_compiler::escape::is_unsafe;
    use tattletail_runtime::Scanner;

    const CONFIG: &str = r#"
[[rule]]
name = "evil\u001b[2J\nname"
jq_match = '"ua: \(.userAgent)"'
"#;

    /// A log whose only record has control characters in every field.
    const LOG: &str = r#"{"Records":[{"eventTime":"2026\u001b[1A","eventSource":"s3\u2028x","eventName":"Stop\nLogging\u0085","eventID":"id\u202eevil\u2066","userAgent":"ua\r\u001b]0;title\u0007"}]}"#;

    fn scan(sink: &mut dyn AlertSink, file: &str) {
        let compiled = tattletail_compiler::compile(CONFIG).unwrap();
        let mut scanner = Scanner::new(&compiled.plan);
        scanner.scan(file, LOG.as_bytes(), sink).unwrap();
        assert_eq!(scanner.stats.total_alerts(), 1);
    }

    #[test]
    fn text_lines_escape_every_field_and_stay_one_line() {
        let mut sink = Printer::new(Vec::new(), Format::Text, false);
        scan(&mut sink, "dir/a\u{1b}[31m.json");
        let out = String::from_utf8(sink.into_inner()).unwrap();
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(!out.trim_end_matches('\n').chars().any(is_unsafe), "{out}");
        for shown in [
            "2026\\x1b[1A",
            "evil\\x1b[2J\\nname",
            "s3\\u{2028}x",
            "Stop\\nLogging\\u{85}",
            "(dir/a\\x1b[31m.json#0 eventID=id\\u{202e}evil\\u{2066})",
        ] {
            assert!(out.contains(shown), "{shown} not in {out}");
        }
        // The annotation is JSON text: JSON escaped \r and ESC already.
        assert!(
            out.contains(r#"match: "ua: ua\r\u001b]0;title\u0007""#),
            "{out}"
        );
    }

    #[test]
    fn json_lines_carry_the_exact_values_without_raw_controls() {
        let mut sink = Printer::new(Vec::new(), Format::Jsonl, false);
        scan(&mut sink, "dir/a\u{1b}.json");
        let out = String::from_utf8(sink.into_inner()).unwrap();
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(!out.trim_end_matches('\n').chars().any(is_unsafe), "{out}");
        let v: Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(v["rule"], "evil\u{1b}[2J\nname");
        assert_eq!(v["eventSource"], "s3\u{2028}x");
        assert_eq!(v["eventName"], "Stop\nLogging\u{85}");
        assert_eq!(v["eventID"], "id\u{202e}evil\u{2066}");
        assert_eq!(v["file"], "dir/a\u{1b}.json");
    }

    #[test]
    fn colour_codes_only_wrap_escaped_text() {
        let mut sink = Printer::new(Vec::new(), Format::Text, true);
        scan(&mut sink, "dir/a\u{1b}[31m.json");
        let out = String::from_utf8(sink.into_inner()).unwrap();
        assert_eq!(out.lines().count(), 1, "{out}");
        // Take the colour codes out: what is left has no raw control.
        let plain = out
            .trim_end_matches('\n')
            .replace("\x1b[0m", "")
            .replace("\x1b[1;31m", "")
            .replace("\x1b[2m", "")
            .replace("\x1b[36m", "")
            .replace("\x1b[33m", "")
            .replace("\x1b[1m", "");
        assert!(!plain.chars().any(is_unsafe), "{plain}");
        assert!(
            out.contains("\x1b[1;31mevil\\x1b[2J\\nname\x1b[0m"),
            "{out}"
        );
    }

    #[test]
    fn the_actor_falls_back_to_type_and_service_or_principal() {
        let config = "[[rule]]\nname = \"r\"\njq_match = '.eventName'\n";
        let compiled = tattletail_compiler::compile(config).unwrap();
        let log = r#"{"Records":[
            {"eventName":"A","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/x","principalId":"AIDA"},"sourceIPAddress":"1.2.3.4","recipientAccountId":"111","awsRegion":"eu-west-1"},
            {"eventName":"B","userIdentity":{"type":"AWSService","invokedBy":"events.amazonaws.com"}},
            {"eventName":"C","userIdentity":{"type":"AWSAccount","principalId":"AIDAEXAMPLE"}},
            {"eventName":"D"}
        ]}"#;
        let mut sink = Printer::new(Vec::new(), Format::Jsonl, false);
        let mut scanner = Scanner::new(&compiled.plan);
        scanner.scan("f.json", log.as_bytes(), &mut sink).unwrap();
        let out = String::from_utf8(sink.into_inner()).unwrap();
        let v: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let actors: Vec<&Value> = v.iter().map(|a| &a["actor"]).collect();
        assert_eq!(
            actors,
            [
                &json!("arn:aws:iam::1:user/x"),
                &json!("AWSService events.amazonaws.com"),
                &json!("AWSAccount AIDAEXAMPLE"),
                &Value::Null
            ]
        );
        assert_eq!(v[0]["sourceIPAddress"], "1.2.3.4");
        assert_eq!(v[0]["account"], "111");
        assert_eq!(v[0]["region"], "eu-west-1");
        assert_eq!(v[0]["index"], 0);
        assert_eq!(v[3]["index"], 3);
        assert_eq!(
            v[1]["event"]["userIdentity"]["invokedBy"],
            "events.amazonaws.com"
        );
    }

    #[test]
    fn an_event_too_deep_for_parsers_is_replaced_by_a_note() {
        let config = "[[rule]]\nname = \"r\"\njq_match = '.eventName'\n";
        let compiled = tattletail_compiler::compile(config).unwrap();
        let deep = format!("{}1{}", "[".repeat(150), "]".repeat(150));
        let log = format!(r#"{{"Records":[{{"eventName":"A","x":{deep}}}]}}"#);
        let mut sink = Printer::new(Vec::new(), Format::Jsonl, false);
        let mut scanner = Scanner::new(&compiled.plan);
        scanner
            .scan("f.json", std::io::Cursor::new(log.into_bytes()), &mut sink)
            .unwrap();
        let out = String::from_utf8(sink.into_inner()).unwrap();
        let v: Value = serde_json::from_str(out.trim_end()).unwrap();
        assert!(
            v["event"].as_str().unwrap().contains("record 0 of f.json"),
            "{v}"
        );
    }

    #[test]
    fn compact_drops_whitespace_between_tokens_only() {
        let raw = r#"{
          "eventName" : "Create User",
          "x": [ 1, 2 , {"q": "a \" b\\", "n": null} ],
          "s": "café  \n"
        }"#;
        let c = compact(raw.as_bytes()).unwrap();
        assert_eq!(
            c,
            r#"{"eventName":"Create User","x":[1,2,{"q":"a \" b\\","n":null}],"s":"café  \n"}"#
        );
        let v: Value = serde_json::from_str(&c).unwrap();
        assert_eq!(v["x"][2]["q"], "a \" b\\");
        let deep = format!(
            "{}1{}",
            "[".repeat(EVENT_DEPTH + 1),
            "]".repeat(EVENT_DEPTH + 1)
        );
        assert_eq!(compact(deep.as_bytes()), None);
        assert_eq!(compact(b"\"\xff\""), None, "not UTF-8");
    }
}
