//! One record: parsed with simd-json into a tape, which the evaluator
//! reads directly ([`Record::value`]); top-level fields are read with exact
//! JSON semantics (any key order, escapes decoded, nested keys of the same
//! name ignored, the last duplicate wins).

use simd_json::prelude::*;
use simd_json::tape::{Tape, Value};

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
}

/// A value inside a record.
pub type RecordValue<'t, 'a> = Value<'t, 'a>;

impl RecordParser {
    /// Parse one record's bytes (simd-json parses in place).
    pub fn parse<'a>(&mut self, bytes: &'a mut [u8]) -> Result<Record<'a>, String> {
        let mut tape = self
            .spare
            .take()
            .unwrap_or_else(|| Tape(Vec::new()))
            .reset();
        simd_json::fill_tape(bytes, &mut self.buffers, &mut tape)
            .map(|()| Record { tape })
            .map_err(|e| {
                let near = e
                    .character()
                    .map(|c| format!(" near {c:?}"))
                    .unwrap_or_default();
                format!(
                    "invalid JSON at byte {} of the record{near}: {:?}",
                    e.index(),
                    e.error()
                )
            })
    }
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
