//! Keys computed by jq over an alert's record: a rule's `dedup.key` and
//! `threshold.group_by` (noise control). The program runs on the record
//! with the same evaluator and budget as rules; its first output, as
//! compact JSON text, is the key. Called once per alert of a rule that has
//! such a key (alerts are rare next to records), on the record as the
//! alert carries it.

use tattletail_compiler::ir::Program;

use crate::eval::{self, json, First, Limits, Prepared};
use crate::record::RecordParser;

/// Longest key text kept (a key is hashed into the state table's keys; a
/// longer one is an error, so that it is never silently shortened into
/// another key).
pub const MAX_KEY_BYTES: usize = 64 * 1024;

/// The first output of `program` on `record` as compact JSON text;
/// `Ok(None)` when there is no output; `Err` with jq's message when the
/// program fails or runs out of budget before its first output.
pub fn evaluate(program: &Program, record: &serde_json::Value) -> Result<Option<String>, String> {
    let mut bytes = serde_json::to_vec(record).map_err(|e| e.to_string())?;
    let mut parser = RecordParser::default();
    let parsed = parser.parse(&mut bytes)?;
    let prepared = Prepared::new(program);
    let first = eval::first_output(program, &prepared, parsed.value(), Limits::default(), None);
    match first {
        First::Empty => Ok(None),
        First::Value(v) => {
            let mut out = String::new();
            json::write_value(&mut out, &v, 64, MAX_KEY_BYTES).map_err(|_| {
                format!(
                    "the key is longer than {MAX_KEY_BYTES} bytes or nested deeper than 64 levels"
                )
            })?;
            Ok(Some(out))
        }
        First::Error(m) => Err(m),
        First::Budget(b) => Err(b.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(jq: &str, record: serde_json::Value) -> Result<Option<String>, String> {
        let program = tattletail_compiler::plan::compile_program(jq).unwrap();
        evaluate(&program, &record)
    }

    #[test]
    fn keys_are_the_first_output_as_json() {
        let r =
            json!({"userIdentity": {"arn": "arn:aws:iam::1:user/a"}, "sourceIPAddress": "1.2.3.4"});
        assert_eq!(
            run(".userIdentity.arn", r.clone()).unwrap().as_deref(),
            Some("\"arn:aws:iam::1:user/a\"")
        );
        assert_eq!(
            run("[.userIdentity.arn, .sourceIPAddress]", r.clone())
                .unwrap()
                .as_deref(),
            Some("[\"arn:aws:iam::1:user/a\",\"1.2.3.4\"]")
        );
        assert_eq!(run(".missing", r.clone()).unwrap().as_deref(), Some("null"));
        assert_eq!(run("empty", r.clone()).unwrap(), None);
        assert_eq!(run("1, 2", r.clone()).unwrap().as_deref(), Some("1"));
        assert!(run(".userIdentity.arn | error", r.clone()).is_err());
        let err = run("[range(0; 1e9)] | length", r).unwrap_err();
        assert!(!err.is_empty());
    }
}
