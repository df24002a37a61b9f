//! One record: parsed with simd-json, its top-level `eventName` and
//! `eventSource` read with exact JSON semantics (any key order, escapes
//! decoded, nested keys of the same name ignored), and converted to a jaq
//! value only when some rule needs jq.

use jaq_json::Val;
use simd_json::prelude::*;
use simd_json::BorrowedValue;

/// Parses records, reusing simd-json's buffers between them.
#[derive(Default)]
pub struct RecordParser {
    buffers: simd_json::Buffers,
}

/// A parsed record.
pub struct Record<'a> {
    value: BorrowedValue<'a>,
}

impl RecordParser {
    /// Parse one record's bytes (simd-json parses in place).
    pub fn parse<'a>(&mut self, bytes: &'a mut [u8]) -> Result<Record<'a>, String> {
        simd_json::to_borrowed_value_with_buffers(bytes, &mut self.buffers)
            .map(|value| Record { value })
            .map_err(|e| {
                let near = e
                    .character()
                    .map(|c| format!(" near {:?}", c))
                    .unwrap_or_default();
                format!(
                    "invalid JSON at byte {} of the record{near}: {:?}",
                    e.index(),
                    e.error()
                )
            })
    }
}

impl<'a> Record<'a> {
    /// Is the record a JSON object (as every CloudTrail event is)?
    pub fn is_object(&self) -> bool {
        self.value.is_object()
    }

    /// A top-level string field; `None` when missing or not a string.
    /// With duplicate keys the last one wins, as in jq (simd-json keeps
    /// every duplicate of a small object, and `get` would find the first).
    pub fn str_field(&self, key: &str) -> Option<&str> {
        let obj = self.value.as_object()?;
        obj.iter()
            .filter(|(k, _)| k.as_ref() == key)
            .last()?
            .1
            .as_str()
    }

    /// Top-level `eventName` if it is a string.
    pub fn event_name(&self) -> Option<&str> {
        self.str_field("eventName")
    }

    /// Top-level `eventSource` if it is a string.
    pub fn event_source(&self) -> Option<&str> {
        self.str_field("eventSource")
    }

    /// The record as a jaq value.
    pub fn to_val(&self) -> Val {
        to_val(&self.value)
    }

    /// The parsed value.
    pub fn value(&self) -> &BorrowedValue<'a> {
        &self.value
    }
}

fn to_val(v: &BorrowedValue<'_>) -> Val {
    use simd_json::StaticNode as S;
    match v {
        BorrowedValue::Static(S::Null) => Val::Null,
        BorrowedValue::Static(S::Bool(b)) => Val::Bool(*b),
        BorrowedValue::Static(S::I64(i)) => match isize::try_from(*i) {
            Ok(i) => Val::from(i),
            Err(_) => Val::from(*i as f64),
        },
        BorrowedValue::Static(S::U64(u)) => match isize::try_from(*u) {
            Ok(i) => Val::from(i),
            Err(_) => Val::from(*u as f64),
        },
        BorrowedValue::Static(S::F64(f)) => Val::from(*f),
        BorrowedValue::String(s) => Val::from(s.to_string()),
        BorrowedValue::Array(a) => a.iter().map(to_val).collect(),
        BorrowedValue::Object(o) => {
            let mut m = jaq_json::Map::default();
            m.reserve(o.len());
            for (k, v) in o.iter() {
                m.insert(Val::from(k.to_string()), to_val(v));
            }
            Val::obj(m)
        }
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
    fn converts_to_jaq_values() {
        let mut bytes =
            br#"{"a":[1,-2,3.5,true,null,"x"],"b":{"c":18446744073709551615}}"#.to_vec();
        let mut p = RecordParser::default();
        let v = p.parse(&mut bytes).unwrap().to_val();
        let s = v.to_string();
        assert!(
            s.starts_with(r#"{"a":[1,-2,3.5,true,null,"x"],"b":{"c":1.8446744073709552e19}}"#)
                || s.contains("18446744073709552000"),
            "{s}"
        );
    }

    #[test]
    fn malformed_records_are_errors() {
        let mut bytes = br#"{"a":1 "b":2}"#.to_vec();
        assert!(RecordParser::default().parse(&mut bytes).is_err());
    }
}
