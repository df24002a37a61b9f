//! Alert output of the CLI: one line per alert, as text or JSON Lines.

use std::io::{self, Write};

use serde_json::{json, Value};

use crate::scan::{Alert, AlertSink};

fn field<'a>(a: &'a Alert<'_>, key: &str) -> Option<&'a str> {
    a.fields.get(key)
}

/// The JSON object printed for an alert in `--format jsonl`.
pub fn alert_json(a: &Alert<'_>) -> Value {
    json!({
        "rule": a.rule.config.display_name(),
        "eventID": field(a, "eventID"),
        "eventName": field(a, "eventName"),
        "eventSource": field(a, "eventSource"),
        "eventTime": field(a, "eventTime"),
        "annotation": a.annotation.map_or(Value::Null, |a| a.value()),
        "destinations": a.rule.config.destinations,
        "file": a.source,
        "record": a.position.index,
    })
}

/// Writes one JSON object per alert.
pub struct JsonLines<W: Write>(pub W);

impl<W: Write> AlertSink for JsonLines<W> {
    fn alert(&mut self, a: &Alert<'_>) -> io::Result<()> {
        serde_json::to_writer(&mut self.0, &alert_json(a))?;
        self.0.write_all(b"\n")
    }
}

/// Writes one readable line per alert.
pub struct TextLines<W: Write>(pub W);

impl<W: Write> AlertSink for TextLines<W> {
    fn alert(&mut self, a: &Alert<'_>) -> io::Result<()> {
        let dash = "-";
        write!(
            self.0,
            "{}  {}  {} {}  eventID={}",
            field(a, "eventTime").unwrap_or(dash),
            a.rule.config.display_name(),
            field(a, "eventSource").unwrap_or(dash),
            field(a, "eventName").unwrap_or(dash),
            field(a, "eventID").unwrap_or(dash),
        )?;
        if let Some(v) = a.annotation {
            let text = &v.0;
            let short: String = text.chars().take(200).collect();
            let ellipsis = if short.len() < text.len() { "…" } else { "" };
            write!(self.0, "  match: {short}{ellipsis}")?;
        }
        writeln!(self.0, "  ({}#{})", a.source, a.position.index)
    }
}
