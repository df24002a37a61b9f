//! One record: parsed with simd-json into a tape, which the evaluator
//! reads directly ([`Record::value`]); top-level fields are read with exact
//! JSON semantics (any key order, escapes decoded, nested keys of the same
//! name ignored, the last duplicate wins).

use simd_json::prelude::*;
use simd_json::tape::{Tape, Value};

use crate::repair::{self, Repairs};

/// Parses records, reusing simd-json's buffers and the tape's allocation
/// between them (give records back with [`RecordParser::recycle`]).
#[derive(Default)]
pub struct RecordParser {
    buffers: simd_json::Buffers,
    spare: Option<Tape<'static>>,
}

/// A parsed record: simd-json's tape (a flat array of nodes, no value tree),
/// which validates the whole record at about twice the speed of building
/// values.
pub struct Record<'a> {
    tape: Tape<'a>,
    repairs: Repairs,
}

/// A value inside a record.
pub type RecordValue<'t, 'a> = Value<'t, 'a>;

impl RecordParser {
    /// Parse one record's bytes (simd-json parses in place). Invalid UTF-8
    /// is read as U+FFFD ([`crate::repair`]).
    pub fn parse<'a>(&mut self, bytes: &'a mut Vec<u8>) -> Result<Record<'a>, String> {
        self.parse_checked(bytes, false)
    }

    /// Parse one record's bytes after [`repair::prepare`]: with
    /// `check_values` (the splitter saw surrogate escapes or exponents),
    /// lone surrogates and numbers beyond the double range are rewritten
    /// too, as jq reads them.
    pub fn parse_checked<'a>(
        &mut self,
        bytes: &'a mut Vec<u8>,
        check_values: bool,
    ) -> Result<Record<'a>, String> {
        let repairs = repair::prepare(bytes, check_values);
        self.parse_prepared(bytes, repairs)
    }

    /// Parse bytes that [`repair::prepare`] has seen (`repairs` is what it
    /// rewrote).
    pub fn parse_prepared<'a>(
        &mut self,
        bytes: &'a mut [u8],
        repairs: Repairs,
    ) -> Result<Record<'a>, String> {
        let mut tape = self
            .spare
            .take()
            .unwrap_or_else(|| Tape(Vec::new()))
            .reset();
        match simd_json::fill_tape(bytes, &mut self.buffers, &mut tape) {
            Ok(()) => Ok(Record { tape, repairs }),
            Err(e) => {
                self.spare = Some(tape.reset());
                Err(describe(&e))
            }
        }
    }
}

/// A parser error in words: where in the record, near what, and why.
fn describe(e: &simd_json::Error) -> String {
    use simd_json::ErrorType as E;
    let why = match e.error() {
        E::InvalidUtf8 => "invalid UTF-8".to_string(),
        E::InvalidNumber => "invalid number".to_string(),
        E::InvalidEscape => "invalid escape in a string".to_string(),
        E::InvalidUnicodeEscape | E::InvalidUnicodeCodepoint => {
            "invalid \\u escape in a string".to_string()
        }
        E::UnterminatedString => "unterminated string".to_string(),
        E::DepthLimitExceeded => "nested deeper than 1024 levels".to_string(),
        E::ExpectedTrue | E::ExpectedFalse | E::ExpectedNull => {
            "invalid literal (expected true, false or null)".to_string()
        }
        E::Eof => "unexpected end of the record".to_string(),
        E::TrailingData => "unexpected bytes after the end of the record".to_string(),
        E::ExpectedObjectColon => "expected `:` after an object key".to_string(),
        E::KeyMustBeAString => "expected a string key in an object".to_string(),
        E::ExpectedArrayComma | E::ExpectedMapComma => "expected `,` between values".to_string(),
        E::UnexpectedCharacter | E::InvalidExponent | E::ExpectedString => {
            "unexpected character".to_string()
        }
        _ => "malformed JSON".to_string(),
    };
    let near = e
        .character()
        .filter(|c| !c.is_control())
        .map(|c| format!(" near `{}`", c.escape_default()))
        .unwrap_or_default();
    format!("{why} at byte {} of the record{near}", e.index())
}

/// The value of `key` in an object; with duplicate keys the last one wins,
/// as in jq.
pub fn get<'t, 'a>(obj: Value<'t, 'a>, key: &str) -> Option<Value<'t, 'a>> {
    obj.as_object()?
        .iter()
        .filter(|(k, _)| *k == key)
        .last()
        .map(|(_, v)| v)
}

impl RecordParser {
    /// Take a record's tape back for the next parse.
    pub fn recycle(&mut self, record: Record<'_>) {
        self.spare = Some(record.tape.reset());
    }
}

impl<'a> Record<'a> {
    /// What had to be rewritten for the record to be read as jq reads it.
    pub fn repairs(&self) -> Repairs {
        self.repairs
    }

    /// The whole record.
    pub fn root(&self) -> Value<'_, 'a> {
        self.tape.as_value()
    }

    /// Is the record a JSON object (as every CloudTrail event is)?
    pub fn is_object(&self) -> bool {
        self.root().is_object()
    }

    /// A top-level string field; `None` when missing or not a string.
    pub fn str_field(&self, key: &str) -> Option<&str> {
        get(self.root(), key)?.into_string()
    }

    /// Top-level `eventName` if it is a string.
    pub fn event_name(&self) -> Option<&str> {
        self.str_field("eventName")
    }

    /// Top-level `eventSource` if it is a string.
    pub fn event_source(&self) -> Option<&str> {
        self.str_field("eventSource")
    }

    /// The record as an evaluator value (on the tape, nothing copied).
    pub fn value(&self) -> crate::eval::Value<'_> {
        crate::eval::Value::from_tape(&self.tape.0)
    }

    /// The record as a serde_json value (for alert payloads).
    pub fn to_json(&self) -> serde_json::Value {
        to_json(self.root())
    }
}

/// Convert a tape value to a serde_json value. Object keys keep the last
/// duplicate, as jq does; numbers that do not fit 64 bits are floats.
pub fn to_json(v: Value<'_, '_>) -> serde_json::Value {
    use serde_json::Value as J;
    if let Some(s) = v.as_str() {
        return J::String(s.to_string());
    }
    if let Some(a) = v.as_array() {
        return J::Array(a.iter().map(to_json).collect());
    }
    if let Some(o) = v.as_object() {
        let mut m = serde_json::Map::new();
        for (k, v) in o.iter() {
            m.insert(k.to_string(), to_json(v));
        }
        return J::Object(m);
    }
    if let Some(b) = v.as_bool() {
        J::Bool(b)
    } else if let Some(i) = v.as_i64() {
        J::from(i)
    } else if let Some(u) = v.as_u64() {
        J::from(u)
    } else if let Some(f) = v.as_f64() {
        serde_json::Number::from_f64(f).map_or(J::Null, J::Number)
    } else {
        J::Null
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(json: &str) -> (Option<String>, Option<String>) {
        let mut bytes = json.as_bytes().to_vec();
        let mut p = RecordParser::default();
        let r = p.parse(&mut bytes).unwrap();
        (
            r.event_name().map(String::from),
            r.event_source().map(String::from),
        )
    }

    #[test]
    fn top_level_keys_are_read_exactly() {
        assert_eq!(
            names(
                r#"{"userIdentity":{"eventName":"Nested"},"eventSource":"s3.amazonaws.com","eventName":"Get\u004fbject"}"#
            ),
            (Some("GetObject".into()), Some("s3.amazonaws.com".into()))
        );
        assert_eq!(names(r#"{"eventName":"a\/b"}"#).0.as_deref(), Some("a/b"));
        assert_eq!(names(r#"{"eventName":5}"#).0, None);
        assert_eq!(names("[1]"), (None, None));
        // Duplicate keys: the last one wins, as in jq.
        assert_eq!(
            names(r#"{"eventName":"A","eventName":"B"}"#).0.as_deref(),
            Some("B")
        );
    }

    #[test]
    fn converts_to_serde_json() {
        let mut bytes = br#"{"b":[1,-2,3.5,true,null,"x\u003c"],"a":{"k":1,"k":2}}"#.to_vec();
        let mut p = RecordParser::default();
        let v = p.parse(&mut bytes).unwrap().to_json();
        assert_eq!(
            v,
            serde_json::json!({"a":{"k":2},"b":[1,-2,3.5,true,null,"x<"]})
        );
    }

    #[test]
    fn malformed_records_are_errors() {
        let mut bytes = br#"{"a":1 "b":2}"#.to_vec();
        assert!(RecordParser::default().parse(&mut bytes).is_err());
    }
}
