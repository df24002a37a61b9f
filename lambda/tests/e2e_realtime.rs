//! Real-time inputs end to end: the real `bootstrap` through the Lambda
//! Runtime API, given EventBridge CloudTrail events (directly, in an SQS
//! batch with a bad message, via SNS) and CloudWatch Logs subscription
//! payloads (with a control message and lines that are not CloudTrail
//! records), alerting to moto's SNS. The same event through S3 and through
//! EventBridge gives the same alert id, and with the state table goes out
//! once. Payloads are the fixtures in `testdata/events/`.

#![cfg(feature = "aws")]

mod harness;
#[path = "harness/state_table.rs"]
mod state_table;

use std::io::Write;

use base64::Engine;
use harness::{put, setup, temp_dir, Function, Moto};
use serde_json::{json, Value};

fn fixture(name: &str) -> Value {
    let path = harness::root().join("testdata/events").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// As CloudWatch Logs delivers it: base64 of gzip of the JSON.
fn awslogs(decoded: &Value) -> Value {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(decoded.to_string().as_bytes()).unwrap();
    let data = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    json!({"awslogs": {"data": data}})
}

fn s3_event(bucket: &str, key: &str) -> Value {
    json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1234}}
    }]})
}

fn config(arn: &str) -> String {
    format!(
        "[[destination]]\nid = \"sns\"\ntype = \"sns\"\nsns_arn = \"{arn}\"\n\n\
         [[rule]]\nname = \"Create User\"\njq_match = 'select(.eventName == \"CreateUser\")'\ndestinations = [\"sns\"]\n\n\
         [[rule]]\nname = \"Root login\"\njq_match = 'select(.eventName == \"ConsoleLogin\" and .userIdentity.type == \"Root\")'\ndestinations = [\"sns\"]\n"
    )
}

fn function(moto: &Moto, name: &str, arn: &str, env: &[(&str, &str)]) -> Function {
    let root = temp_dir(name);
    std::fs::write(root.join("tattletail.toml"), config(arn)).unwrap();
    Function::start(moto, env, &root)
}

fn messages(moto: &Moto, arn: &str) -> Vec<Value> {
    moto.sns_messages(arn)
        .iter()
        .map(|(m, _)| serde_json::from_str(m).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn eventbridge_events_alert_directly_in_sqs_and_via_sns_with_their_latency() {
    let moto = Moto::get();
    let arns = setup(moto, "rt-eb", &["rt-eb-alerts"], &[]).await;
    let mut f = function(moto, "rt-eb", &arns[0], &[]);
    let api_call = fixture("eventbridge-api-call.json");
    let sign_in = fixture("eventbridge-console-sign-in.json");

    // Directly.
    let answer = f.invoke(api_call.clone()).unwrap();
    assert_eq!(answer["alerts"], 1, "{answer}");
    let msgs = messages(moto, &arns[0]);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["name"], "Create User");
    assert_eq!(
        msgs[0]["record"], api_call["detail"],
        "the record as EventBridge gave it"
    );
    let published = &f.logs_named("publish_alert")[0];
    assert_eq!(published["path"], "eventbridge");
    assert!(published["latency_ms"].as_i64().unwrap() > 0, "{published}");
    assert!(
        f.log_text().contains("\"AlertLatencyMs\""),
        "an EMF line with the latency"
    );
    let done = &f.logs_named("object_complete")[0];
    assert_eq!(
        done["object"],
        "eventbridge:36eb8523-97d0-4518-b33d-ee3579ff19f0"
    );

    // An SQS batch: a good message, one that is not JSON (its message
    // alone fails), and SNS carrying EventBridge.
    let sqs = json!({"Records": [
        {"messageId": "ok-1", "eventSource": "aws:sqs", "body": sign_in.to_string()},
        {"messageId": "bad-2", "eventSource": "aws:sqs", "body": "{\"detail-type\": "},
        {"messageId": "ok-3", "eventSource": "aws:sqs",
         "body": json!({"Type": "Notification", "Message": sign_in.to_string()}).to_string()}
    ]});
    let answer = f.invoke(sqs).unwrap();
    assert_eq!(
        answer["batchItemFailures"],
        json!([{"itemIdentifier": "bad-2"}])
    );
    let logins: Vec<Value> = messages(moto, &arns[0])
        .into_iter()
        .filter(|m| m["name"] == "Root login")
        .collect();
    assert_eq!(logins.len(), 2, "no state table: each delivery alerts");
    assert_eq!(
        logins[0]["alert_id"], logins[1]["alert_id"],
        "the same alert id"
    );

    // Via SNS.
    let sns = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Type": "Notification", "Message": api_call.to_string()}}]});
    f.invoke(sns).unwrap();
    let creates: Vec<Value> = messages(moto, &arns[0])
        .into_iter()
        .filter(|m| m["name"] == "Create User")
        .collect();
    assert_eq!(creates.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_event_by_s3_and_by_eventbridge_is_one_alert_id_and_with_the_table_one_send() {
    let moto = Moto::get();
    let arns = setup(moto, "rt-both", &["rt-both-plain", "rt-both-table"], &[]).await;
    state_table::table(moto, "state-rt-both").await;
    let event = fixture("eventbridge-api-call.json");
    let file = json!({"Records": [event["detail"]]})
        .to_string()
        .into_bytes();
    put(
        moto,
        "rt-both",
        "AWSLogs/123456789012/CloudTrail/us-east-1/f.json",
        file,
        false,
    )
    .await;
    let s3 = s3_event(
        "rt-both",
        "AWSLogs/123456789012/CloudTrail/us-east-1/f.json",
    );

    // Without a table: both paths alert, with one alert id.
    let mut plain = function(moto, "rt-both-plain", &arns[0], &[]);
    plain.invoke(event.clone()).unwrap();
    plain.invoke(s3.clone()).unwrap();
    let msgs = messages(moto, &arns[0]);
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["alert_id"], msgs[1]["alert_id"]);
    let paths: Vec<Value> = plain
        .logs_named("publish_alert")
        .iter()
        .map(|l| l["path"].clone())
        .collect();
    assert_eq!(paths, [json!("eventbridge"), json!("s3")]);

    // With the state table: the alert goes out once, whichever path is first.
    let mut f = function(
        moto,
        "rt-both-table",
        &arns[1],
        &[("TATTLETAIL_STATE_TABLE", "state-rt-both")],
    );
    f.invoke(event).unwrap();
    f.invoke(s3).unwrap();
    assert_eq!(messages(moto, &arns[1]).len(), 1);
    assert_eq!(f.logs_named("send_skipped_already_done").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn cloudwatch_logs_payloads_alert_skip_control_messages_and_count_what_is_not_cloudtrail() {
    let moto = Moto::get();
    let arns = setup(moto, "rt-cwl", &["rt-cwl-alerts"], &[]).await;
    let mut f = function(moto, "rt-cwl", &arns[0], &[]);
    let answer = f.invoke(awslogs(&fixture("cloudwatch-logs.json"))).unwrap();
    assert_eq!(answer["alerts"], 1, "{answer}");
    let msgs = messages(moto, &arns[0]);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["record"]["eventID"], "eb-create-user-0001");
    let summary = f.logs_named("invocation_complete").pop().unwrap();
    assert_eq!(
        (summary["records"].as_u64(), summary["bad_records"].as_u64()),
        (Some(2), Some(2)),
        "{summary}"
    );
    let bad = &f.logs_named("bad_records")[0];
    assert_eq!(bad["count"], 2);
    assert_eq!(
        bad["object"],
        "cloudwatch-logs:aws-cloudtrail-logs-123456789012-org/123456789012_CloudTrail_us-east-1"
    );
    assert_eq!(f.logs_named("publish_alert")[0]["path"], "cloudwatch-logs");

    // The health check CloudWatch Logs sends when a subscription is made.
    f.clear_logs();
    f.invoke(awslogs(&fixture("cloudwatch-logs-control.json")))
        .unwrap();
    let ignored = &f.logs_named("event_ignored")[0];
    assert!(
        ignored["reason"]
            .as_str()
            .unwrap()
            .contains("control message"),
        "{ignored}"
    );
    assert_eq!(messages(moto, &arns[0]).len(), 1);

    // A payload that is not base64 of gzip fails, saying so.
    let err = f
        .invoke(json!({"awslogs": {"data": "bm90IGd6aXA="}}))
        .unwrap_err();
    assert!(
        err["errorMessage"].as_str().unwrap().contains("not gzip"),
        "{err}"
    );
}
