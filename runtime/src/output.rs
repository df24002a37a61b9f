//! Alert output of the CLI: one line per alert, as text or JSON Lines.
//! Nothing taken from an event, a file name or the config reaches the
//! output raw: text fields go through [`escape`], JSON Lines through
//! [`escape_json`] (the same value, no raw control characters), so one
//! alert is always exactly one line.

use std::io::{self, Write};

use serde_json::{json, Value};
use tattletail_compiler::escape::{escape, escape_json};

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
        let line = serde_json::to_string(&alert_json(a)).map_err(io::Error::other)?;
        self.0.write_all(escape_json(&line).as_bytes())?;
        self.0.write_all(b"\n")
    }
}

/// Writes one readable line per alert.
pub struct TextLines<W: Write>(pub W);

impl<W: Write> AlertSink for TextLines<W> {
    fn alert(&mut self, a: &Alert<'_>) -> io::Result<()> {
        use std::fmt::Write as _;
        let dash = "-";
        let shown = |key: &str| escape(field(a, key).unwrap_or(dash));
        // The line is built whole and written at once: one write per alert.
        let mut line = String::with_capacity(256);
        let _ = write!(
            line,
            "{}  {}  {} {}  eventID={}",
            shown("eventTime"),
            escape(&a.rule.config.display_name()),
            shown("eventSource"),
            shown("eventName"),
            shown("eventID"),
        );
        if let Some(v) = a.annotation {
            let text = &v.0;
            let short: String = text.chars().take(200).collect();
            let ellipsis = if short.len() < text.len() { "…" } else { "" };
            let _ = write!(line, "  match: {}{ellipsis}", escape(&short));
        }
        let _ = writeln!(line, "  ({}#{})", escape(a.source), a.position.index);
        self.0.write_all(line.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scanner;
    use tattletail_compiler::escape::is_unsafe;

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
        let mut sink = TextLines(Vec::new());
        scan(&mut sink, "dir/a\u{1b}[31m.json");
        let out = String::from_utf8(sink.0).unwrap();
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(!out.trim_end_matches('\n').chars().any(is_unsafe), "{out}");
        for shown in [
            "2026\\x1b[1A",
            "evil\\x1b[2J\\nname",
            "s3\\u{2028}x",
            "Stop\\nLogging\\u{85}",
            "eventID=id\\u{202e}evil\\u{2066}",
            "(dir/a\\x1b[31m.json#0)",
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
        let mut sink = JsonLines(Vec::new());
        scan(&mut sink, "dir/a\u{1b}.json");
        let out = String::from_utf8(sink.0).unwrap();
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(!out.trim_end_matches('\n').chars().any(is_unsafe), "{out}");
        let v: Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(v["rule"], "evil\u{1b}[2J\nname");
        assert_eq!(v["eventSource"], "s3\u{2028}x");
        assert_eq!(v["eventName"], "Stop\nLogging\u{85}");
        assert_eq!(v["eventID"], "id\u{202e}evil\u{2066}");
        assert_eq!(v["file"], "dir/a\u{1b}.json");
    }
}
