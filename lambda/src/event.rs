//! Lambda input shapes: which S3 objects an invocation asks us to scan, and
//! how its answer must look.
//!
//! One invocation is a list of [`Unit`]s: the thing the response reports on.
//! An SQS message is a unit (it goes into `batchItemFailures`), an S3 Batch
//! Operations task is a unit (it gets a `resultCode`), and for direct S3,
//! SNS and EventBridge invocations each notification record is a unit and
//! the invocation fails as a whole when any unit failed. Pure functions over
//! `serde_json::Value`, so every shape is unit-tested without AWS.
//!
//! Besides S3 objects, a unit can carry CloudTrail records themselves
//! ([`Work::Records`]): an EventBridge event whose `detail` is one record
//! (the five "… via CloudTrail" detail types; directly, in SQS or via SNS),
//! or a CloudWatch Logs subscription payload (base64 of gzip of JSON, each
//! log event's `message` one record; control messages are skipped, a
//! message that is not a CloudTrail record is counted as bad). The records
//! are then evaluated exactly as records read from a log file.

use percent_encoding::percent_decode_str;
use serde_json::{json, Value};

/// An S3 object to scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    /// Bucket name.
    pub bucket: String,
    /// Object key, decoded.
    pub key: String,
    /// Version id, when the event names one (Batch Operations).
    pub version_id: Option<String>,
    /// Size in bytes, when the event says.
    pub size: Option<u64>,
}

impl ObjectRef {
    /// `s3://bucket/key`, the name used in logs and alerts.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// What one unit of the invocation asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Work {
    /// Scan these objects.
    Objects(Vec<ObjectRef>),
    /// Nothing to do, and why (an S3 test event, an `ObjectRemoved` event).
    Ignore(String),
    /// The unit could not be understood; it fails.
    Invalid(String),
    /// Send the follow-ups of noise-control windows that have closed (the
    /// template's scheduled event: `{"tattletail": "sweep"}`, or any
    /// EventBridge "Scheduled Event").
    Sweep,
    /// Evaluate these CloudTrail records (real-time inputs).
    Records(Records),
}

/// CloudTrail records delivered in the event itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Records {
    /// Where they came from, as alerts and logs name it
    /// (`eventbridge:<event id>`, `cloudwatch-logs:<group>/<stream>`).
    pub label: String,
    /// Each record's JSON text.
    pub records: Vec<String>,
    /// Messages that were not CloudTrail records: (position, why).
    pub bad: Vec<(u64, String)>,
}

/// The EventBridge detail types whose `detail` is one CloudTrail record
/// (the sign-in type in both spellings: events say "Sign In", EventBridge's
/// documentation "Signin").
pub const CLOUDTRAIL_DETAIL_TYPES: [&str; 6] = [
    "AWS API Call via CloudTrail",
    "AWS Console Sign In via CloudTrail",
    "AWS Console Signin via CloudTrail",
    "AWS Console Action via CloudTrail",
    "AWS Service Event via CloudTrail",
    "AWS Insight via CloudTrail",
];

/// Largest CloudWatch Logs payload once decompressed (Lambda's own payload
/// limit is 6 MB of base64; anything that inflates past this is refused).
pub const MAX_LOGS_BYTES: u64 = 64 * 1024 * 1024;

/// One reportable part of an invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    /// SQS `messageId` or Batch Operations `taskId`; `None` otherwise.
    pub id: Option<String>,
    /// What to do.
    pub work: Work,
}

/// The invocation's input shape, which decides the response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shape {
    /// S3 event notification(s), possibly wrapped in SNS; or EventBridge.
    Notification,
    /// An SQS batch: answer with `batchItemFailures`.
    Sqs,
    /// S3 Batch Operations: answer with per-task result codes.
    BatchOperations {
        /// `invocationSchemaVersion` ("1.0" or "2.0"), echoed back.
        schema: String,
        /// `invocationId`, echoed back.
        invocation_id: String,
    },
}

/// A decoded invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// The shape.
    pub shape: Shape,
    /// Its units, in order.
    pub units: Vec<Unit>,
}

/// Decode an S3 key as S3 event notifications and Batch Operations send
/// it: `+` is a space, `%xx` a byte.
pub fn decode_key(key: &str) -> String {
    let plus = key.replace('+', " ");
    percent_decode_str(&plus).decode_utf8_lossy().into_owned()
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// The top-level keys of an unrecognised event, for the error message.
fn describe(v: &Value) -> String {
    match v.as_object() {
        Some(o) => {
            let keys: Vec<&str> = o.keys().map(String::as_str).take(8).collect();
            format!("an object with keys [{}]", keys.join(", "))
        }
        None => format!("a JSON {}", kind(v)),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

const EXPECTED: &str = "expected an S3 event notification, an SNS or SQS message carrying one, \
an EventBridge \"Object Created\" event, an EventBridge CloudTrail event, a CloudWatch Logs \
subscription payload, or an S3 Batch Operations job";

/// Decode an invocation payload.
pub fn parse(event: &Value) -> Result<Invocation, String> {
    if let Some(what) = event.get("tattletail") {
        return match what.as_str() {
            Some("sweep") => Ok(Invocation {
                shape: Shape::Notification,
                units: vec![Unit {
                    id: None,
                    work: Work::Sweep,
                }],
            }),
            _ => Err(format!(
                "unrecognised Tattletail event: \"tattletail\" is {what}, the only one is \"sweep\" (send the follow-ups of closed noise-control windows)"
            )),
        };
    }
    if let Some(schema) = event.get("invocationSchemaVersion").and_then(Value::as_str) {
        return batch_operations(event, schema);
    }
    if let Some(logs) = event.get("awslogs") {
        return Ok(Invocation {
            shape: Shape::Notification,
            units: vec![Unit {
                id: None,
                work: cloudwatch_logs(logs),
            }],
        });
    }
    if event.get("detail-type").is_some() {
        return Ok(Invocation {
            shape: Shape::Notification,
            units: vec![Unit {
                id: None,
                work: eventbridge(event),
            }],
        });
    }
    let records = event
        .get("Records")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("unrecognised event: {EXPECTED}; got {}", describe(event)))?;
    let is_sqs = records
        .iter()
        .any(|r| str_at(r, &["eventSource"]) == Some("aws:sqs"));
    if is_sqs {
        let units = records
            .iter()
            .map(|r| Unit {
                id: Some(str_at(r, &["messageId"]).unwrap_or("").to_string()),
                work: match str_at(r, &["body"]) {
                    Some(body) => message(body, 0),
                    None => Work::Invalid("SQS record without a string \"body\"".into()),
                },
            })
            .collect();
        return Ok(Invocation {
            shape: Shape::Sqs,
            units,
        });
    }
    let units = records
        .iter()
        .map(|r| Unit {
            id: None,
            work: record(r, 0),
        })
        .collect();
    Ok(Invocation {
        shape: Shape::Notification,
        units,
    })
}

/// Nesting limit for messages inside messages (SQS carrying SNS carrying S3
/// is depth 2).
const MAX_DEPTH: usize = 4;

/// A message body (SQS body or SNS `Message`): S3 notification, SNS
/// envelope, EventBridge event or S3 test event.
fn message(body: &str, depth: usize) -> Work {
    if depth > MAX_DEPTH {
        return Work::Invalid("messages nested too deeply".into());
    }
    let v: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => return Work::Invalid(format!("message body is not JSON: {e}")),
    };
    if str_at(&v, &["Event"]) == Some("s3:TestEvent") {
        return Work::Ignore("S3 test event".into());
    }
    if str_at(&v, &["Type"]) == Some("Notification") {
        return match str_at(&v, &["Message"]) {
            Some(m) => message(m, depth + 1),
            None => Work::Invalid("SNS notification without a \"Message\"".into()),
        };
    }
    if v.get("detail-type").is_some() {
        return eventbridge(&v);
    }
    match v.get("Records").and_then(Value::as_array) {
        Some(records) => merge(records.iter().map(|r| record(r, depth + 1))),
        None => Work::Invalid(format!(
            "unrecognised message: {EXPECTED}; got {}",
            describe(&v)
        )),
    }
}

/// Is `v` a CloudTrail record? `Err` says why not.
fn is_cloudtrail_record(v: &Value) -> Result<(), String> {
    let Some(o) = v.as_object() else {
        return Err(format!(
            "not a CloudTrail record: a JSON {}, not an object",
            kind(v)
        ));
    };
    let has = |k: &str| o.get(k).is_some_and(Value::is_string);
    if has("eventName") && has("eventSource") || has("eventID") && has("eventVersion") {
        Ok(())
    } else {
        let keys: Vec<&str> = o.keys().map(String::as_str).take(8).collect();
        Err(format!(
            "not a CloudTrail record: no eventName and eventSource (keys: {})",
            keys.join(", ")
        ))
    }
}

/// A CloudWatch Logs subscription payload: `{"data": base64(gzip(JSON))}`.
fn cloudwatch_logs(logs: &Value) -> Work {
    use base64::Engine;
    use std::io::Read;
    let Some(data) = logs.get("data").and_then(Value::as_str) else {
        return Work::Invalid("CloudWatch Logs payload without awslogs.data".into());
    };
    let gz = match base64::engine::general_purpose::STANDARD.decode(data.trim()) {
        Ok(b) => b,
        Err(e) => return Work::Invalid(format!("CloudWatch Logs awslogs.data is not base64: {e}")),
    };
    let mut text = Vec::new();
    let read = flate2::read::GzDecoder::new(&gz[..])
        .take(MAX_LOGS_BYTES + 1)
        .read_to_end(&mut text);
    if let Err(e) = read {
        return Work::Invalid(format!("CloudWatch Logs awslogs.data is not gzip: {e}"));
    }
    if text.len() as u64 > MAX_LOGS_BYTES {
        return Work::Invalid(format!(
            "CloudWatch Logs payload inflates past {MAX_LOGS_BYTES} bytes; refused"
        ));
    }
    let v: Value = match serde_json::from_slice(&text) {
        Ok(v) => v,
        Err(e) => return Work::Invalid(format!("CloudWatch Logs payload is not JSON: {e}")),
    };
    if str_at(&v, &["messageType"]) == Some("CONTROL_MESSAGE") {
        return Work::Ignore("CloudWatch Logs control message".into());
    }
    let group = str_at(&v, &["logGroup"]).unwrap_or("");
    let stream = str_at(&v, &["logStream"]).unwrap_or("");
    let Some(events) = v.get("logEvents").and_then(Value::as_array) else {
        return Work::Invalid("CloudWatch Logs payload without logEvents".into());
    };
    let mut out = Records {
        label: format!("cloudwatch-logs:{group}/{stream}"),
        records: Vec::with_capacity(events.len()),
        bad: Vec::new(),
    };
    for (i, e) in events.iter().enumerate() {
        let Some(message) = e.get("message").and_then(Value::as_str) else {
            out.bad
                .push((i as u64, "log event without a message".into()));
            continue;
        };
        match serde_json::from_str::<Value>(message) {
            Ok(record) => match is_cloudtrail_record(&record) {
                Ok(()) => out.records.push(message.to_string()),
                Err(why) => out.bad.push((i as u64, why)),
            },
            Err(e) => out
                .bad
                .push((i as u64, format!("not a CloudTrail record: not JSON ({e})"))),
        }
    }
    Work::Records(out)
}

/// Several works into one: all objects, or the first problem.
fn merge(works: impl Iterator<Item = Work>) -> Work {
    let mut objects = Vec::new();
    let mut ignored = Vec::new();
    for w in works {
        match w {
            Work::Objects(o) => objects.extend(o),
            Work::Ignore(why) => ignored.push(why),
            Work::Invalid(why) => return Work::Invalid(why),
            Work::Sweep => ignored.push("a sweep event inside a message".into()),
            // Records arrive one event per message, never in S3 Records.
            Work::Records(r) => return Work::Records(r),
        }
    }
    if objects.is_empty() && !ignored.is_empty() {
        Work::Ignore(ignored.join("; "))
    } else {
        Work::Objects(objects)
    }
}

/// One record of `Records`: an S3 notification or an SNS delivery.
fn record(r: &Value, depth: usize) -> Work {
    if let Some(m) = str_at(r, &["Sns", "Message"]) {
        return message(m, depth + 1);
    }
    let Some(bucket) = str_at(r, &["s3", "bucket", "name"]) else {
        return Work::Invalid(format!(
            "record is not an S3 notification (no s3.bucket.name): {}",
            describe(r)
        ));
    };
    let Some(key) = str_at(r, &["s3", "object", "key"]) else {
        return Work::Invalid("S3 notification without s3.object.key".into());
    };
    let event_name = str_at(r, &["eventName"]).unwrap_or("");
    if !event_name.is_empty() && !event_name.starts_with("ObjectCreated") {
        return Work::Ignore(format!("{event_name} event for s3://{bucket}/{key}"));
    }
    Work::Objects(vec![ObjectRef {
        bucket: bucket.to_string(),
        key: decode_key(key),
        version_id: None,
        size: r.pointer("/s3/object/size").and_then(Value::as_u64),
    }])
}

/// An EventBridge event. Its keys are not URL-encoded.
fn eventbridge(v: &Value) -> Work {
    let detail_type = str_at(v, &["detail-type"]).unwrap_or("");
    if detail_type == "Scheduled Event" {
        return Work::Sweep;
    }
    if CLOUDTRAIL_DETAIL_TYPES.contains(&detail_type) {
        let id = str_at(v, &["id"]).unwrap_or("");
        let label = format!("eventbridge:{id}");
        return match v.get("detail") {
            Some(detail) if is_cloudtrail_record(detail).is_ok() => Work::Records(Records {
                label,
                records: vec![detail.to_string()],
                bad: Vec::new(),
            }),
            Some(detail) => Work::Records(Records {
                label,
                records: Vec::new(),
                bad: vec![(0, is_cloudtrail_record(detail).unwrap_err())],
            }),
            None => Work::Invalid(format!(
                "EventBridge \"{detail_type}\" event without a detail"
            )),
        };
    }
    if detail_type != "Object Created" {
        return Work::Ignore(format!("EventBridge \"{detail_type}\" event"));
    }
    match (
        str_at(v, &["detail", "bucket", "name"]),
        str_at(v, &["detail", "object", "key"]),
    ) {
        (Some(bucket), Some(key)) => Work::Objects(vec![ObjectRef {
            bucket: bucket.to_string(),
            key: key.to_string(),
            version_id: str_at(v, &["detail", "object", "version-id"]).map(String::from),
            size: v.pointer("/detail/object/size").and_then(Value::as_u64),
        }]),
        _ => Work::Invalid(
            "EventBridge \"Object Created\" event without detail.bucket.name and detail.object.key"
                .into(),
        ),
    }
}

fn batch_operations(event: &Value, schema: &str) -> Result<Invocation, String> {
    if schema != "1.0" && schema != "2.0" {
        return Err(format!(
            "S3 Batch Operations invocationSchemaVersion {schema:?} is not supported (1.0 and 2.0 are)"
        ));
    }
    let invocation_id = str_at(event, &["invocationId"])
        .ok_or("S3 Batch Operations event without invocationId")?
        .to_string();
    let tasks = event
        .get("tasks")
        .and_then(Value::as_array)
        .ok_or("S3 Batch Operations event without a tasks array")?;
    let units = tasks
        .iter()
        .map(|t| {
            let bucket = str_at(t, &["s3Bucket"]).map(String::from).or_else(|| {
                // Schema 1.0: arn:aws:s3:::bucket (older events put a
                // region and account in the ARN; the bucket is last).
                str_at(t, &["s3BucketArn"]).map(|a| a.rsplit(':').next().unwrap_or(a).to_string())
            });
            let work = match (bucket, str_at(t, &["s3Key"])) {
                (Some(bucket), Some(key)) => Work::Objects(vec![ObjectRef {
                    bucket,
                    key: decode_key(key),
                    version_id: str_at(t, &["s3VersionId"])
                        .filter(|v| !v.is_empty())
                        .map(String::from),
                    size: None,
                }]),
                _ => Work::Invalid("task without s3Key and s3BucketArn/s3Bucket".into()),
            };
            Unit {
                id: Some(str_at(t, &["taskId"]).unwrap_or("").to_string()),
                work,
            }
        })
        .collect();
    Ok(Invocation {
        shape: Shape::BatchOperations {
            schema: schema.to_string(),
            invocation_id,
        },
        units,
    })
}

/// How one unit ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnitResult {
    /// Done (or nothing to do).
    Succeeded(String),
    /// Failed, and trying again may help (throttling, timeouts, 5xx,
    /// undelivered alerts when configured to fail).
    TemporaryFailure(String),
    /// Failed for good (missing object, corrupt file, invalid message).
    PermanentFailure(String),
}

impl UnitResult {
    /// Did it fail?
    pub fn failed(&self) -> bool {
        !matches!(self, UnitResult::Succeeded(_))
    }

    fn code(&self) -> &'static str {
        match self {
            UnitResult::Succeeded(_) => "Succeeded",
            UnitResult::TemporaryFailure(_) => "TemporaryFailure",
            UnitResult::PermanentFailure(_) => "PermanentFailure",
        }
    }

    fn text(&self) -> &str {
        match self {
            UnitResult::Succeeded(s)
            | UnitResult::TemporaryFailure(s)
            | UnitResult::PermanentFailure(s) => s,
        }
    }
}

/// A notification invocation (direct S3, SNS or EventBridge) in which
/// units failed: it fails as a whole, so that Lambda's retry and DLQ take
/// over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationsFailed {
    /// Units of the invocation.
    pub total: usize,
    /// The failed ones ([`UnitResult::TemporaryFailure`] or
    /// [`UnitResult::PermanentFailure`]), in order.
    pub failures: Vec<UnitResult>,
}

impl NotificationsFailed {
    /// May trying again help (some failure is temporary)?
    pub fn retryable(&self) -> bool {
        self.failures
            .iter()
            .any(|f| matches!(f, UnitResult::TemporaryFailure(_)))
    }
}

impl std::fmt::Display for NotificationsFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} notification(s) failed: ",
            self.failures.len(),
            self.total
        )?;
        for (i, failure) in self.failures.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(failure.text())?;
        }
        Ok(())
    }
}

impl std::error::Error for NotificationsFailed {}

/// The invocation's answer: `Ok(body)`, or the failed units of a
/// notification invocation, which fail it.
pub fn respond(
    inv: &Invocation,
    results: &[UnitResult],
    summary: Value,
) -> Result<Value, NotificationsFailed> {
    match &inv.shape {
        Shape::Sqs => {
            let failures: Vec<Value> = inv
                .units
                .iter()
                .zip(results)
                .filter(|(_, r)| r.failed())
                .map(|(u, _)| json!({ "itemIdentifier": u.id.as_deref().unwrap_or("") }))
                .collect();
            Ok(json!({ "batchItemFailures": failures }))
        }
        Shape::BatchOperations {
            schema,
            invocation_id,
        } => {
            let results: Vec<Value> = inv
                .units
                .iter()
                .zip(results)
                .map(|(u, r)| {
                    json!({
                        "taskId": u.id.as_deref().unwrap_or(""),
                        "resultCode": r.code(),
                        "resultString": r.text(),
                    })
                })
                .collect();
            Ok(json!({
                "invocationSchemaVersion": schema,
                "treatMissingKeysAs": "PermanentFailure",
                "invocationId": invocation_id,
                "results": results,
            }))
        }
        Shape::Notification => {
            let failures: Vec<UnitResult> =
                results.iter().filter(|r| r.failed()).cloned().collect();
            if failures.is_empty() {
                Ok(summary)
            } else {
                Err(NotificationsFailed {
                    total: results.len(),
                    failures,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3_record(key: &str) -> Value {
        json!({
            "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "trail"}, "object": {"key": key, "size": 10}}
        })
    }

    fn obj(key: &str) -> ObjectRef {
        ObjectRef {
            bucket: "trail".into(),
            key: key.into(),
            version_id: None,
            size: Some(10),
        }
    }

    #[test]
    fn direct_s3_keys_are_url_decoded() {
        let inv = parse(&json!({"Records": [s3_record("AWSLogs/a+b%3Dc.json.gz")]})).unwrap();
        assert_eq!(inv.shape, Shape::Notification);
        assert_eq!(
            inv.units[0].work,
            Work::Objects(vec![obj("AWSLogs/a b=c.json.gz")])
        );
    }

    #[test]
    fn sns_and_sqs_wrappers_unwrap() {
        let s3 = json!({"Records": [s3_record("k%20.gz")]}).to_string();
        let sns = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": s3}}]});
        let inv = parse(&sns).unwrap();
        assert_eq!(inv.units[0].work, Work::Objects(vec![obj("k .gz")]));

        let envelope = json!({"Type": "Notification", "TopicArn": "arn:t", "Message": s3});
        let eb = json!({"detail-type": "Object Created", "source": "aws.s3",
            "detail": {"bucket": {"name": "trail"}, "object": {"key": "a+b.gz", "size": 10}}});
        let sqs = json!({"Records": [
            {"eventSource": "aws:sqs", "messageId": "m1", "body": s3},
            {"eventSource": "aws:sqs", "messageId": "m2", "body": envelope.to_string()},
            {"eventSource": "aws:sqs", "messageId": "m3", "body": eb.to_string()},
            {"eventSource": "aws:sqs", "messageId": "m4", "body": "not json"},
            {"eventSource": "aws:sqs", "messageId": "m5",
             "body": "{\"Service\":\"Amazon S3\",\"Event\":\"s3:TestEvent\"}"},
        ]});
        let inv = parse(&sqs).unwrap();
        assert_eq!(inv.shape, Shape::Sqs);
        assert_eq!(inv.units[0].work, Work::Objects(vec![obj("k .gz")]));
        assert_eq!(inv.units[1].work, Work::Objects(vec![obj("k .gz")]));
        // EventBridge keys are not URL-encoded.
        assert_eq!(inv.units[2].work, Work::Objects(vec![obj("a+b.gz")]));
        assert!(matches!(inv.units[3].work, Work::Invalid(_)));
        assert!(matches!(inv.units[4].work, Work::Ignore(_)));
        let answer = respond(
            &inv,
            &[
                UnitResult::Succeeded(String::new()),
                UnitResult::Succeeded(String::new()),
                UnitResult::TemporaryFailure("x".into()),
                UnitResult::PermanentFailure("y".into()),
                UnitResult::Succeeded(String::new()),
            ],
            Value::Null,
        )
        .unwrap();
        assert_eq!(
            answer,
            json!({"batchItemFailures": [{"itemIdentifier": "m3"}, {"itemIdentifier": "m4"}]})
        );
    }

    #[test]
    fn removed_objects_and_other_detail_types_are_ignored() {
        let mut r = s3_record("k");
        r["eventName"] = json!("ObjectRemoved:Delete");
        let inv = parse(&json!({"Records": [r]})).unwrap();
        assert!(matches!(inv.units[0].work, Work::Ignore(_)));
        let inv = parse(&json!({"detail-type": "Object Deleted", "detail": {}})).unwrap();
        assert!(matches!(inv.units[0].work, Work::Ignore(_)));
    }

    #[test]
    fn batch_operations_both_schemas() {
        let v1 = json!({"invocationSchemaVersion": "1.0", "invocationId": "inv",
            "job": {"id": "j"},
            "tasks": [{"taskId": "t1", "s3Key": "AWSLogs/x%2By.gz", "s3VersionId": null,
                       "s3BucketArn": "arn:aws:s3:::trail"}]});
        let inv = parse(&v1).unwrap();
        assert_eq!(
            inv.units[0].work,
            Work::Objects(vec![ObjectRef {
                bucket: "trail".into(),
                key: "AWSLogs/x+y.gz".into(),
                version_id: None,
                size: None
            }])
        );
        let answer = respond(
            &inv,
            &[UnitResult::PermanentFailure("gone".into())],
            Value::Null,
        );
        assert_eq!(
            answer.unwrap(),
            json!({"invocationSchemaVersion": "1.0", "treatMissingKeysAs": "PermanentFailure",
                "invocationId": "inv",
                "results": [{"taskId": "t1", "resultCode": "PermanentFailure", "resultString": "gone"}]})
        );
        let v2 = json!({"invocationSchemaVersion": "2.0", "invocationId": "inv",
            "job": {"id": "j", "userArguments": {}},
            "tasks": [{"taskId": "t1", "s3Key": "k", "s3VersionId": "v3", "s3Bucket": "trail"}]});
        let inv = parse(&v2).unwrap();
        assert_eq!(
            inv.units[0].work,
            Work::Objects(vec![ObjectRef {
                bucket: "trail".into(),
                key: "k".into(),
                version_id: Some("v3".into()),
                size: None
            }])
        );
        assert!(parse(&json!({"invocationSchemaVersion": "3.0"})).is_err());
    }

    #[test]
    fn notification_failures_fail_the_invocation() {
        let inv = parse(&json!({"Records": [s3_record("a"), s3_record("b")]})).unwrap();
        let ok = UnitResult::Succeeded(String::new());
        assert!(respond(&inv, &[ok.clone(), ok.clone()], json!({"ok": 1})).is_ok());
        let gone = UnitResult::PermanentFailure("s3://trail/b: gone".into());
        let err = respond(&inv, &[ok.clone(), gone.clone()], Value::Null).unwrap_err();
        assert_eq!(err.failures.len(), 1);
        assert_eq!(err.failures[0], gone);
        assert!(!err.retryable());
        assert_eq!(
            err.to_string(),
            "1 of 2 notification(s) failed: s3://trail/b: gone"
        );
        let slow = UnitResult::TemporaryFailure("s3://trail/a: SlowDown (HTTP 503)".into());
        let err = respond(&inv, &[slow, gone], Value::Null).unwrap_err();
        assert!(err.retryable(), "one of them may succeed on a retry");
        assert_eq!(
            err.to_string(),
            "2 of 2 notification(s) failed: s3://trail/a: SlowDown (HTTP 503); s3://trail/b: gone"
        );
    }

    #[test]
    fn unknown_events_say_what_was_expected() {
        let err = parse(&json!({"foo": 1})).unwrap_err();
        assert!(
            err.contains("keys [foo]") && err.contains("EventBridge"),
            "{err}"
        );
    }
}

#[cfg(test)]
mod sweep_tests {
    use super::*;

    #[test]
    fn the_scheduled_sweep_is_recognised_in_both_shapes() {
        let inv = parse(&json!({"tattletail": "sweep"})).unwrap();
        assert_eq!(
            inv.units,
            [Unit {
                id: None,
                work: Work::Sweep
            }]
        );
        let scheduled = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event",
                               "source": "aws.events", "detail": {}});
        assert_eq!(parse(&scheduled).unwrap().units[0].work, Work::Sweep);
        let err = parse(&json!({"tattletail": "scan"})).unwrap_err();
        assert!(err.contains("the only one is \"sweep\""), "{err}");
    }
}

#[cfg(test)]
mod realtime_tests {
    use super::*;
    use std::io::Write;

    fn fixture(name: &str) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata/events")
            .join(name);
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    /// As CloudWatch Logs sends it: base64 of gzip of the JSON.
    fn awslogs(decoded: &Value) -> Value {
        use base64::Engine;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(decoded.to_string().as_bytes()).unwrap();
        let data = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
        json!({"awslogs": {"data": data}})
    }

    fn records(work: &Work) -> &Records {
        match work {
            Work::Records(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_eventbridge_cloudtrail_event_is_its_detail_record() {
        let event = fixture("eventbridge-api-call.json");
        let inv = parse(&event).unwrap();
        assert_eq!(inv.shape, Shape::Notification);
        let r = records(&inv.units[0].work);
        assert_eq!(r.label, "eventbridge:36eb8523-97d0-4518-b33d-ee3579ff19f0");
        let record: Value = serde_json::from_str(&r.records[0]).unwrap();
        assert_eq!(record, event["detail"], "the record exactly as the detail");
        assert!(r.bad.is_empty());
        for t in CLOUDTRAIL_DETAIL_TYPES {
            let mut e = fixture("eventbridge-console-sign-in.json");
            e["detail-type"] = json!(t);
            assert_eq!(
                records(&parse(&e).unwrap().units[0].work).records.len(),
                1,
                "{t}"
            );
        }
        // Other detail types are not records.
        let mut e = fixture("eventbridge-api-call.json");
        e["detail-type"] = json!("EC2 Instance State-change Notification");
        assert!(matches!(parse(&e).unwrap().units[0].work, Work::Ignore(_)));
        // A CloudTrail detail type whose detail is not a record: counted bad.
        let mut e = fixture("eventbridge-api-call.json");
        e["detail"] = json!({"hello": 1});
        let r = records(&parse(&e).unwrap().units[0].work).clone();
        assert!(r.records.is_empty() && r.bad.len() == 1, "{r:?}");
        assert!(r.bad[0].1.starts_with("not a CloudTrail record"), "{r:?}");
    }

    #[test]
    fn eventbridge_events_arrive_in_sqs_and_via_sns() {
        let event = fixture("eventbridge-api-call.json");
        let sqs = json!({"Records": [
            {"messageId": "m1", "eventSource": "aws:sqs", "body": event.to_string()},
            {"messageId": "m2", "eventSource": "aws:sqs", "body": "{not json"},
            {"messageId": "m3", "eventSource": "aws:sqs",
             "body": json!({"Type": "Notification", "Message": event.to_string()}).to_string()}
        ]});
        let inv = parse(&sqs).unwrap();
        assert_eq!(inv.shape, Shape::Sqs);
        assert_eq!(records(&inv.units[0].work).records.len(), 1);
        assert!(matches!(inv.units[1].work, Work::Invalid(_)));
        assert_eq!(
            records(&inv.units[2].work).records.len(),
            1,
            "SQS carrying SNS carrying EventBridge"
        );
        let sns = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Type": "Notification", "Message": event.to_string()}}]});
        assert_eq!(
            records(&parse(&sns).unwrap().units[0].work).records.len(),
            1
        );
    }

    #[test]
    fn cloudwatch_logs_payloads_give_their_records_and_count_the_rest() {
        let inv = parse(&awslogs(&fixture("cloudwatch-logs.json"))).unwrap();
        let r = records(&inv.units[0].work);
        assert_eq!(r.label, "cloudwatch-logs:aws-cloudtrail-logs-123456789012-org/123456789012_CloudTrail_us-east-1");
        assert_eq!(r.records.len(), 2);
        assert_eq!(r.bad.len(), 2);
        assert_eq!(r.bad[0].0, 2);
        assert!(r.bad[0].1.contains("not JSON"), "{:?}", r.bad);
        assert!(
            r.bad[1].1.contains("no eventName and eventSource"),
            "{:?}",
            r.bad
        );
        let control = parse(&awslogs(&fixture("cloudwatch-logs-control.json"))).unwrap();
        assert!(matches!(&control.units[0].work, Work::Ignore(why) if why.contains("control")));
        for (bad, says) in [
            (json!({"awslogs": {"data": "%%%"}}), "not base64"),
            (json!({"awslogs": {"data": "aGVsbG8="}}), "not gzip"),
            (json!({"awslogs": {}}), "without awslogs.data"),
        ] {
            let inv = parse(&bad).unwrap();
            assert!(
                matches!(&inv.units[0].work, Work::Invalid(why) if why.contains(says)),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_cloudwatch_logs_bomb_is_refused() {
        use base64::Engine;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![b' '; 1 << 20];
        for _ in 0..(MAX_LOGS_BYTES / (1 << 20) + 1) {
            gz.write_all(&zeros).unwrap();
        }
        let data = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
        let inv = parse(&json!({"awslogs": {"data": data}})).unwrap();
        assert!(matches!(&inv.units[0].work, Work::Invalid(why) if why.contains("inflates past")));
    }
}
