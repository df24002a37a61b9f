//! Text that came from outside (event fields, file names, rule names,
//! config lines, error messages quoting any of them) made safe to print on
//! a terminal or into a line-oriented log: every character that could
//! move the cursor, start a new line, change colours or reorder what is
//! shown is written as a visible escape (`\x1b`, `\n`, `\u{2028}`), so a
//! crafted `eventName` can neither forge an alert line nor hide one.
//!
//! [`is_unsafe`] is the one definition of such a character; [`escape`]
//! renders text for humans (alert lines, the summary, diagnostics, stderr
//! notes) and [`escape_json`] makes serialized JSON (JSON Lines output)
//! free of them with JSON's own `\uXXXX` escapes, so the value is
//! unchanged. It lives in the compiler, the lowest crate, because config
//! diagnostics need it too.

use std::borrow::Cow;
use std::fmt;

/// A character that must not reach a terminal raw: C0 controls (tab and
/// newline included), DEL, C1 controls (U+0080–U+009F, NEL among them),
/// the line and paragraph separators U+2028/U+2029, and the bidirectional
/// controls (U+061C, U+200E/U+200F, U+202A–U+202E, U+2066–U+2069).
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200e}' | '\u{200f}'
        | '\u{2028}' | '\u{2029}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}')
}

/// `s` with every [unsafe](is_unsafe) character written as a visible
/// escape: `\n`, `\r`, `\t`, `\xHH` for the other ASCII controls (`\x1b`
/// for ESC, `\x7f` for DEL), `\u{H…}` for the rest (`\u{85}`,
/// `\u{2028}`, `\u{202e}`). Borrowed when there is nothing to escape.
/// Backslashes are left as they are: the text stays readable, and
/// `--format jsonl` is the exact form.
pub fn escape(s: &str) -> Cow<'_, str> {
    if printable_ascii(s) || !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

fn push_escaped(out: &mut String, c: char) {
    use std::fmt::Write as _;
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if is_unsafe(c) && (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if is_unsafe(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// The common case, checked first (a byte loop the compiler vectorises):
/// nothing but printable ASCII.
fn printable_ascii(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// Displays its text [escaped](escape): `format!("{}", Escaped(name))`.
#[derive(Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(self.0))
    }
}

/// Serialized JSON with every [unsafe](is_unsafe) character inside its
/// strings written as a JSON `\uXXXX` escape: the same JSON value, and
/// nothing a terminal or a line splitter (Python's `splitlines` splits on
/// U+2028, U+0085, …) would act on. Raw newlines, carriage returns and
/// tabs are kept: a JSON encoder escapes them inside strings, so in its
/// output they can only be whitespace between tokens (pretty-printed JSON
/// stays pretty).
pub fn escape_json(json: &str) -> Cow<'_, str> {
    use std::fmt::Write as _;
    let unsafe_in_json = |c: char| is_unsafe(c) && !matches!(c, '\n' | '\r' | '\t');
    if printable_ascii(json) || !json.chars().any(unsafe_in_json) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 12);
    for c in json.chars() {
        if unsafe_in_json(c) {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        for s in [
            "",
            "StopLogging",
            "s3.amazonaws.com",
            "naïve ünïcode ✓ 日本",
            "a\\nb",
        ] {
            assert!(matches!(escape(s), Cow::Borrowed(b) if b == s), "{s}");
            assert!(matches!(escape_json(s), Cow::Borrowed(_)));
        }
    }

    #[test]
    fn controls_become_visible_escapes() {
        assert_eq!(escape("a\nb"), "a\\nb");
        assert_eq!(escape("a\r\tb"), "a\\r\\tb");
        assert_eq!(escape("\u{1b}[31mred\u{1b}[0m"), "\\x1b[31mred\\x1b[0m");
        assert_eq!(
            escape("\u{0}\u{7}\u{8}\u{b}\u{c}"),
            "\\x00\\x07\\x08\\x0b\\x0c"
        );
        assert_eq!(escape("del\u{7f}"), "del\\x7f");
        assert_eq!(escape("nel\u{85}csi\u{9b}"), "nel\\u{85}csi\\u{9b}");
        assert_eq!(escape("a\u{2028}b\u{2029}c"), "a\\u{2028}b\\u{2029}c");
    }

    #[test]
    fn bidi_controls_are_escaped() {
        for c in ('\u{202a}'..='\u{202e}')
            .chain('\u{2066}'..='\u{2069}')
            .chain(['\u{200e}', '\u{200f}', '\u{61c}'])
        {
            let s = format!("x{c}y");
            assert_eq!(escape(&s), format!("x\\u{{{:x}}}y", c as u32));
        }
        assert_eq!(
            escape("evil\u{202e}gnp.exe"),
            "evil\\u{202e}gnp.exe",
            "a right-to-left override cannot reverse what follows"
        );
    }

    #[test]
    fn every_unsafe_character_is_gone_and_nothing_else_changes() {
        for c in (0u32..0x3000).filter_map(char::from_u32) {
            let s = c.to_string();
            let e = escape(&s);
            if is_unsafe(c) {
                assert!(e.starts_with('\\') && e.len() > 1, "{:x}: {e}", c as u32);
                assert!(
                    e.chars().all(|x| x.is_ascii_graphic()),
                    "{:x}: {e}",
                    c as u32
                );
            } else {
                assert_eq!(e, s, "{:x}", c as u32);
            }
        }
        // Zero-width joiners and the like do not move anything: kept.
        assert_eq!(escape("a\u{200d}b\u{feff}"), "a\u{200d}b\u{feff}");
    }

    #[test]
    fn display_wrapper_escapes() {
        assert_eq!(format!("[{}]", Escaped("a\u{1b}b")), "[a\\x1bb]");
    }

    #[test]
    fn json_escapes_keep_the_value() {
        let v = serde_json::json!({"eventName": "a\u{2028}b\u{85}c\u{7f}\u{202e}d\u{1b}"});
        let text = serde_json::to_string(&v).unwrap();
        assert!(text.contains('\u{2028}'), "serde_json leaves U+2028 raw");
        let safe = escape_json(&text);
        assert!(!safe.chars().any(is_unsafe), "{safe}");
        assert_eq!(
            safe,
            r#"{"eventName":"a\u2028b\u0085c\u007f\u202ed\u001b"}"#
        );
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, v);
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        let safe = escape_json(&pretty);
        assert!(
            safe.contains("{\n  \"eventName\""),
            "structure kept: {safe}"
        );
        assert!(!safe.chars().any(|c| is_unsafe(c) && c != '\n'), "{safe}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&safe).unwrap(), v);
    }
}
