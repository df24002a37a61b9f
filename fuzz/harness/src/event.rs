//! `lambda_event`: arbitrary JSON as a Lambda invocation payload through
//! `tattletail_lambda::event::parse`, and its answer through `respond`.
//!
//! Invariants: no panic; decoding gives units or an error message (never
//! an empty one); the answer names every failed SQS message
//! in `batchItemFailures`, has one result per Batch Operations task, and
//! fails a notification invocation when a unit failed.

use serde_json::{json, Value};
use tattletail_lambda::event::{self, Shape, UnitResult, Work};

/// The `lambda_event` target.
pub fn lambda_event(data: &[u8]) {
    let Ok(payload) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let inv = match event::parse(&payload) {
        Ok(inv) => inv,
        Err(message) => {
            assert!(!message.is_empty(), "an empty error message");
            return;
        }
    };
    let results: Vec<UnitResult> = inv
        .units
        .iter()
        .map(|u| match &u.work {
            Work::Objects(objects) => {
                for o in objects {
                    let _ = o.url();
                }
                UnitResult::Succeeded(format!("{} objects", objects.len()))
            }
            Work::Ignore(why) => UnitResult::Succeeded(why.clone()),
            Work::Sweep => UnitResult::Succeeded("sweep".into()),
            Work::Records(r) => {
                // Every record kept is a JSON object; every dropped one says why.
                for text in &r.records {
                    let v: serde_json::Value =
                        serde_json::from_str(text).expect("a kept record is JSON");
                    assert!(v.is_object(), "a kept record is an object");
                }
                assert!(r.bad.iter().all(|(_, why)| !why.is_empty()));
                UnitResult::Succeeded(format!("{} records", r.records.len()))
            }
            Work::Invalid(why) => {
                assert!(!why.is_empty(), "an invalid unit without a reason");
                UnitResult::PermanentFailure(why.clone())
            }
        })
        .collect();
    let failed = results.iter().filter(|r| r.failed()).count();
    let answer = event::respond(&inv, &results, json!({"ok": true}));
    match &inv.shape {
        Shape::Sqs => {
            let answer = answer.expect("an SQS batch always gets an answer");
            let failures = answer["batchItemFailures"].as_array().map_or(0, Vec::len);
            assert_eq!(failures, failed, "batchItemFailures lists other messages");
        }
        Shape::BatchOperations { .. } => {
            let answer = answer.expect("a Batch Operations job always gets an answer");
            let n = answer["results"].as_array().map_or(0, Vec::len);
            assert_eq!(n, inv.units.len(), "not one result per task");
        }
        Shape::Notification => {
            assert_eq!(
                answer.is_err(),
                failed > 0,
                "a failed notification succeeds"
            );
        }
    }
}
