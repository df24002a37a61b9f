//! End to end: the `bootstrap` binary driven through the Lambda Runtime
//! API, reading from and publishing to a local moto server, posting to a
//! local Slack receiver. What SNS, SES and Slack received is read back and
//! checked field by field. (`tattletail scan s3://… --send` against the
//! same peers is in `cli/tests/send.rs`.)

#![cfg(feature = "aws")]

mod harness;

use std::process::Command;
use std::time::{Duration, Instant};

use harness::{
    config, gzip, parse_messages, put, setup, temp_dir, upstream_file, Function, Moto, Slack,
};
use serde_json::{json, Value};

fn upstream_records() -> Vec<Value> {
    let v: Value = serde_json::from_slice(&upstream_file()).unwrap();
    v["Records"].as_array().unwrap().clone()
}

/// S3 notification key encoding: space as `+`, the rest percent-encoded.
fn encode_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b' ' => "+".to_string(),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn s3_record(bucket: &str, key: &str) -> Value {
    json!({
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": encode_key(key), "size": 1234}}
    })
}

fn s3_event(bucket: &str, keys: &[&str]) -> Value {
    json!({"Records": keys.iter().map(|k| s3_record(bucket, k)).collect::<Vec<_>>()})
}

fn sns_envelope(message: &Value) -> Value {
    json!({"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:123456789012:s3-events",
           "Message": message.to_string()})
}

fn eventbridge(bucket: &str, key: &str) -> Value {
    json!({"version": "0", "id": "e", "detail-type": "Object Created", "source": "aws.s3",
           "detail": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1234}}})
}

fn batch(schema: &str, bucket: &str, key: &str) -> Value {
    let task = if schema == "1.0" {
        json!({"taskId": "task-1", "s3Key": encode_key(key), "s3VersionId": null,
               "s3BucketArn": format!("arn:aws:s3:::{bucket}")})
    } else {
        json!({"taskId": "task-1", "s3Key": encode_key(key), "s3VersionId": null, "s3Bucket": bucket})
    };
    json!({"invocationSchemaVersion": schema, "invocationId": "inv-1",
           "job": {"id": "job-1", "userArguments": {}}, "tasks": [task]})
}

#[tokio::test(flavor = "multi_thread")]
async fn every_input_shape_alerts_to_sns_ses_and_slack() {
    let moto = Moto::get();
    let bucket = "shapes-trail";
    let to = "soc-shapes@example.com";
    let arns = setup(
        moto,
        bucket,
        &["shapes-alerts"],
        &["tattletail@example.com"],
    )
    .await;
    let topic = &arns[0];
    let slack = Slack::start(&[]);
    put(
        moto,
        bucket,
        "config/tattletail.toml",
        config(topic, to, &slack.url, "first").into_bytes(),
        false,
    )
    .await;
    let key = "AWSLogs/123456789012/CloudTrail/us-east-1/2021/07/10/file name+1=x.json.gz";
    put(moto, bucket, key, gzip(&upstream_file()), false).await;

    let root = temp_dir("shapes");
    let mut f = Function::start(
        moto,
        &[
            ("S3_CONFIG_BUCKET", bucket),
            ("S3_CONFIG_PATH", "config/tattletail.toml"),
        ],
        &root,
    );

    // Direct S3, SNS-wrapped, EventBridge, Batch Operations 1.0 and 2.0.
    let direct = s3_event(bucket, &[key]);
    assert!(f.invoke(direct.clone()).is_ok(), "{}", f.log_text());
    let sns =
        json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": direct.to_string()}}]});
    assert!(f.invoke(sns).is_ok());
    assert!(f.invoke(eventbridge(bucket, key)).is_ok());
    for schema in ["1.0", "2.0"] {
        let answer = f.invoke(batch(schema, bucket, key)).unwrap();
        assert_eq!(answer["invocationSchemaVersion"], schema);
        assert_eq!(answer["invocationId"], "inv-1");
        assert_eq!(answer["treatMissingKeysAs"], "PermanentFailure");
        assert_eq!(answer["results"][0]["taskId"], "task-1");
        assert_eq!(answer["results"][0]["resultCode"], "Succeeded", "{answer}");
    }
    // SQS carrying S3, SNS carrying S3, EventBridge, and a bad message.
    let sqs = json!({"Records": [
        {"eventSource": "aws:sqs", "messageId": "q1", "body": direct.to_string()},
        {"eventSource": "aws:sqs", "messageId": "q2", "body": sns_envelope(&direct).to_string()},
        {"eventSource": "aws:sqs", "messageId": "q3", "body": eventbridge(bucket, key).to_string()},
        {"eventSource": "aws:sqs", "messageId": "q4", "body": "this is not an S3 event"},
    ]});
    let answer = f.invoke(sqs).unwrap();
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "q4"}]})
    );

    // Content-Encoding: gzip objects.
    let encoded = "AWSLogs/123456789012/CloudTrail/us-east-1/2021/07/10/encoded.json.gz";
    put(moto, bucket, encoded, gzip(&upstream_file()), true).await;
    assert!(f.invoke(s3_event(bucket, &[encoded])).is_ok());
    let scans = 1 + 1 + 1 + 2 + 3 + 1;

    let msgs = moto.sns_messages(topic);
    let create = parse_messages(&msgs, "Create User");
    assert_eq!(create.len(), scans, "one Create User alert per scan");
    let record = &upstream_records()[1];
    let (m, attrs) = &create[0];
    assert_eq!(m["name"], "Create User");
    assert_eq!(m["description"], "first");
    assert_eq!(&m["record"], record);
    assert_eq!(m["match"], "username: user1");
    let id = m["alert_id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert_eq!(attrs["tattletail_alert_id"]["Value"], id);
    assert!(
        create.iter().all(|(m, _)| m["alert_id"] == id),
        "ids are deterministic"
    );

    // Rules cannot read the process environment.
    let env = parse_messages(&msgs, "Env probe");
    assert_eq!(env.len(), scans);
    assert_eq!(env[0].0["match"], "[{},{}]");
    assert!(msgs
        .iter()
        .all(|(m, _)| !m.contains("tattletail-test-secret")));

    // SES: upstream's subject and text body.
    let mails = moto.emails_to(to);
    assert_eq!(mails.len(), scans);
    assert_eq!(mails[0]["subject"], "Cloudtrail Tattletail event");
    assert_eq!(mails[0]["source"], "tattletail@example.com");
    let body = mails[0]["body"].as_str().unwrap();
    assert!(
        body.starts_with("Alert: Create User\n\nfirst\n\n\nevent:\n{\n  \""),
        "{body}"
    );
    assert!(body.contains("\nmatch: \"username: user1\"\n"), "{body}");
    assert!(body.ends_with(&format!("alert id: {id}\n")), "{body}");

    // Slack: upstream's attachment.
    let posts = slack.posts();
    assert_eq!(posts.len(), scans);
    let p = &posts[0];
    assert_eq!(p["username"], "Cloudtrail Tattletail");
    assert_eq!(p["icon_emoji"], "red_circle");
    let att = &p["attachments"][0];
    assert_eq!(att["color"], "danger");
    assert_eq!(att["title"], "Cloudtrail Tattletail Event");
    assert_eq!(
        serde_json::from_str::<Value>(att["text"].as_str().unwrap()).unwrap(),
        *record
    );
    assert_eq!(
        att["fields"][0],
        json!({"title": "Alert Name", "value": "Create User", "short": true})
    );
    assert_eq!(
        att["fields"][1],
        json!({"title": "Description", "value": "first", "short": true})
    );
    assert_eq!(
        att["fields"][2],
        json!({"title": "Match", "value": "\"username: user1\"", "short": false})
    );

    // Logs: the config was fetched once and revalidated after; one summary
    // per object and per invocation; EMF metrics; the webhook is masked.
    assert_eq!(f.logs_named("config_loaded").len(), 1, "{}", f.log_text());
    assert_eq!(f.logs_named("config_unchanged").len(), 6);
    let objects = f.logs_named("object_complete");
    assert_eq!(objects.len(), scans);
    assert_eq!(objects[0]["records"], 3);
    assert_eq!(objects[0]["alerts"], 2);
    assert_eq!(
        objects[0]["alerts_by_rule"],
        json!({"Create User": 1, "Env probe": 1})
    );
    assert_eq!(objects[0]["object"], format!("s3://{bucket}/{key}"));
    assert_eq!(objects[0]["alerts_delivered"], 4);
    let invocations = f.logs_named("invocation_complete");
    assert_eq!(invocations.len(), 7);
    assert_eq!(
        invocations[5]["alerts"], 6,
        "the SQS batch scanned three objects"
    );
    assert!(invocations.iter().all(|l| l["request_id"].is_string()));
    let emf: Vec<Value> = f
        .logs()
        .into_iter()
        .filter(|l| l.get("_aws").is_some())
        .collect();
    // The invocation's totals: no Rule dimension, and not a sent alert's
    // latency (dimension Path, one per send).
    let totals: Vec<&Value> = emf
        .iter()
        .filter(|d| d.get("Rule").is_none() && d.get("Path").is_none())
        .collect();
    let latencies = emf.iter().filter(|d| d.get("Path").is_some()).count();
    assert_eq!(
        latencies,
        f.logs_named("publish_alert").len(),
        "one AlertLatencyMs per sent alert"
    );
    assert_eq!(totals.len(), 7);
    assert_eq!(
        totals[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "Tattletail"
    );
    assert_eq!(totals[0]["FunctionName"], "tattletail-test");
    assert_eq!(totals[0]["Records"], 3.0);
    assert_eq!(totals[0]["Alerts"], 2.0);
    assert!(emf
        .iter()
        .any(|d| d["Rule"] == "Create User" && d["Alerts"] == 1.0));
    assert!(
        !f.log_text().contains("SeCrEtWeBhOoKtOkEn"),
        "webhook secret leaked into logs"
    );

    // Skipped with one line each: a digest, a 0-byte object, other JSON.
    let digest = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2021/07/10/d.json.gz";
    put(
        moto,
        bucket,
        digest,
        gzip(b"{\"awsAccountId\":\"1\",\"logFiles\":[]}"),
        false,
    )
    .await;
    put(moto, bucket, "AWSLogs/empty", Vec::new(), false).await;
    put(
        moto,
        bucket,
        "AWSLogs/other.json",
        b"{\"hello\":\"world\"}".to_vec(),
        false,
    )
    .await;
    f.clear_logs();
    let mut event = s3_event(bucket, &[digest, "AWSLogs/empty", "AWSLogs/other.json"]);
    event["Records"][1]["s3"]["object"]["size"] = json!(0);
    assert!(f.invoke(event).is_ok(), "{}", f.log_text());
    let skipped = f.logs_named("object_skipped");
    assert_eq!(skipped.len(), 3, "{}", f.log_text());
    assert!(skipped[2]["reason"]
        .as_str()
        .unwrap()
        .contains("not a CloudTrail log"));

    // An edited config applies on the next invocation.
    put(
        moto,
        bucket,
        "config/tattletail.toml",
        config(topic, to, &slack.url, "second").into_bytes(),
        false,
    )
    .await;
    assert!(f.invoke(s3_event(bucket, &[key])).is_ok());
    assert_eq!(f.logs_named("config_loaded").len(), 1);
    let create = parse_messages(&moto.sns_messages(topic), "Create User");
    assert_eq!(create.last().unwrap().0["description"], "second");
}

fn bundled(root: &std::path::Path, text: &str) {
    std::fs::write(root.join("tattletail.toml"), text).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_are_reported_and_alerts_never_lost_silently() {
    let moto = Moto::get();
    let bucket = "failures-trail";
    let arns = setup(
        moto,
        bucket,
        &["failures-alerts"],
        &["tattletail@example.com"],
    )
    .await;
    let topic = &arns[0];
    // Slack answers 429 then 500 before accepting: retries must get through.
    let slack = Slack::start(&[429, 500]);
    let root = temp_dir("failures");
    bundled(
        &root,
        &config(topic, "soc-failures@example.com", &slack.url, "d"),
    );
    let mut f = Function::start(moto, &[], &root);

    // Missing object: the invocation fails naming it; Batch says Permanent.
    let err = f
        .invoke(s3_event(bucket, &["AWSLogs/missing.json.gz"]))
        .unwrap_err();
    let msg = err["errorMessage"].as_str().unwrap();
    assert!(
        msg.contains("NoSuchKey") && msg.contains("AWSLogs/missing.json.gz"),
        "{msg}"
    );
    assert_eq!(err["errorType"], "Tattletail.PermanentFailure", "{err}");
    let answer = f
        .invoke(batch("1.0", bucket, "AWSLogs/missing.json.gz"))
        .unwrap();
    assert_eq!(answer["results"][0]["resultCode"], "PermanentFailure");

    // Corrupt gzip: the error names the object and the byte offset.
    let mut bad = gzip(&upstream_file());
    let mid = bad.len() / 2;
    for b in &mut bad[mid..mid + 40] {
        *b ^= 0x5a;
    }
    put(moto, bucket, "AWSLogs/corrupt.json.gz", bad, false).await;
    let err = f
        .invoke(s3_event(bucket, &["AWSLogs/corrupt.json.gz"]))
        .unwrap_err();
    let msg = err["errorMessage"].as_str().unwrap();
    assert!(
        msg.contains("s3://failures-trail/AWSLogs/corrupt.json.gz") && msg.contains("byte"),
        "{msg}"
    );

    // A record that is not JSON is counted and skipped; the others alert.
    let records = upstream_records();
    let mut second = records[1].clone();
    second["eventID"] = json!("another-event");
    let text = format!(
        "{{\"Records\":[{},{{\"eventName\": tru}},{}]}}",
        records[1], second
    );
    put(
        moto,
        bucket,
        "AWSLogs/bad-record.json",
        text.into_bytes(),
        false,
    )
    .await;
    f.clear_logs();
    assert!(
        f.invoke(s3_event(bucket, &["AWSLogs/bad-record.json"]))
            .is_ok(),
        "{}",
        f.log_text()
    );
    let done = &f.logs_named("object_complete")[0];
    assert_eq!(done["records"], 3);
    assert_eq!(done["bad_records"], 1);
    assert_eq!(done["bad_record_examples"][0]["record"], 1);
    assert_eq!(done["alerts_by_rule"]["Create User"], 2);
    // Slack needed three attempts for the first alert.
    assert_eq!(f.logs_named("send_retry").len(), 2, "{}", f.log_text());
    assert_eq!(slack.posts().len(), 2);
    assert_eq!(slack.attempts(), 4);

    // An oversized record is shortened, never rejected.
    let mut huge = records[1].clone();
    huge["eventID"] = json!("huge-event");
    huge["requestParameters"]["policyDocument"] = json!("A".repeat(600_000));
    put(
        moto,
        bucket,
        "AWSLogs/huge.json",
        json!({"Records": [huge]}).to_string().into_bytes(),
        false,
    )
    .await;
    assert!(f.invoke(s3_event(bucket, &["AWSLogs/huge.json"])).is_ok());
    let msgs = moto.sns_messages(topic);
    let (text, _) = msgs
        .iter()
        .find(|(m, _)| m.contains("huge-event") && m.contains("\"name\":\"Create User\""))
        .expect("the huge record was published");
    assert!(text.len() <= 256 * 1024, "{}", text.len());
    let m: Value = serde_json::from_str(text).unwrap();
    assert_eq!(m["truncated"], true);
    assert_eq!(m["record"]["eventName"], "CreateUser");
    assert!(m["record"]["requestParameters"]["policyDocument"]
        .as_str()
        .unwrap()
        .contains("[truncated by tattletail"));
    let post = slack.posts().pop().unwrap();
    let text = post["attachments"][0]["text"].as_str().unwrap();
    assert!(text.len() <= 8_000 && text.contains("[truncated by tattletail"));
    drop(f);

    // Unreachable destinations: logged in full, counted, the invocation
    // succeeds (upstream's default); opt-in, it fails instead.
    let dead = format!(
        "http://127.0.0.1:{}/services/T0/B0/DeadHookSecret",
        harness::free_port()
    );
    let missing_topic = "arn:aws:sns:us-east-1:123456789012:no-such-topic";
    let dead_root = temp_dir("unreachable");
    bundled(
        &dead_root,
        &config(missing_topic, "soc-dead@example.com", &dead, "d").replace(
            "destinations = [\"sns\", \"mail\", \"slack\"]",
            "destinations = [\"sns\", \"slack\"]",
        ),
    );
    put(
        moto,
        bucket,
        "AWSLogs/upstream.json",
        upstream_file(),
        false,
    )
    .await;
    let mut f = Function::start(moto, &[("TATTLETAIL_SEND_ATTEMPTS", "2")], &dead_root);
    assert!(f
        .invoke(s3_event(bucket, &["AWSLogs/upstream.json"]))
        .is_ok());
    let lost = f.logs_named("undelivered_alert");
    assert_eq!(lost.len(), 3, "{}", f.log_text()); // Create User x2 + Env probe
    let slack_lost = lost.iter().find(|l| l["type"] == "slack_webhook").unwrap();
    assert_eq!(
        slack_lost["payload"]["attachments"][0]["fields"][0]["value"],
        "Create User"
    );
    assert_eq!(slack_lost["event_id"], upstream_records()[1]["eventID"]);
    let sns_lost = lost
        .iter()
        .find(|l| l["type"] == "sns" && l["rule"] == "Create User")
        .unwrap();
    assert_eq!(sns_lost["payload"]["record"], upstream_records()[1]);
    assert!(!f.log_text().contains("DeadHookSecret"));
    let emf = f
        .logs()
        .into_iter()
        .find(|l| l.get("AlertsUndelivered").is_some())
        .unwrap();
    assert_eq!(emf["AlertsUndelivered"], 3.0);
    drop(f);
    let mut f = Function::start(
        moto,
        &[
            ("TATTLETAIL_SEND_ATTEMPTS", "1"),
            ("TATTLETAIL_FAIL_ON_UNDELIVERED", "true"),
        ],
        &dead_root,
    );
    let direct = s3_event(bucket, &["AWSLogs/upstream.json"]);
    assert!(f.invoke(direct.clone()).is_err());
    let sqs = json!({"Records": [{"eventSource": "aws:sqs", "messageId": "q1", "body": direct.to_string()}]});
    assert_eq!(
        f.invoke(sqs).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "q1"}]})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_destination_times_out_and_the_others_still_get_the_alert() {
    let moto = Moto::get();
    let bucket = "timeout-trail";
    let to = "soc-timeout@example.com";
    let arns = setup(
        moto,
        bucket,
        &["timeout-alerts"],
        &["tattletail@example.com"],
    )
    .await;
    // Slack never answers the first request.
    let slack = Slack::start(&[0]);
    put(
        moto,
        bucket,
        "AWSLogs/upstream.json",
        upstream_file(),
        false,
    )
    .await;
    let root = temp_dir("timeout");
    bundled(&root, &config(&arns[0], to, &slack.url, "d"));
    let mut f = Function::start(
        moto,
        &[
            ("TATTLETAIL_SEND_ATTEMPTS", "1"),
            ("TATTLETAIL_SEND_TIMEOUT_SECS", "1"),
        ],
        &root,
    );
    assert!(f
        .invoke(s3_event(bucket, &["AWSLogs/upstream.json"]))
        .is_ok());
    let lost = f.logs_named("undelivered_alert");
    assert_eq!(lost.len(), 1, "{}", f.log_text());
    assert_eq!(lost[0]["type"], "slack_webhook");
    assert!(
        lost[0]["error"]
            .as_str()
            .unwrap()
            .contains("timed out after 1 s"),
        "{}",
        lost[0]
    );
    // SNS and SES were not held up by it.
    assert_eq!(
        parse_messages(&moto.sns_messages(&arns[0]), "Create User").len(),
        1
    );
    assert_eq!(moto.emails_to(to).len(), 1);
    assert!(slack.posts().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_reaches_payloads_dry_run_is_counted_never_sent_disabled_never_runs() {
    let moto = Moto::get();
    let bucket = "meta-trail";
    let arns = setup(moto, bucket, &["meta-alerts"], &["tattletail@example.com"]).await;
    let slack = Slack::start(&[]);
    put(
        moto,
        bucket,
        "AWSLogs/upstream.json",
        upstream_file(),
        false,
    )
    .await;
    let root = temp_dir("meta");
    bundled(
        &root,
        &format!(
            r#"
[accounts]
"123456789" = "sandbox"

[[destination]]
id = "sns"
type = "sns"
sns_arn = "{topic}"

[[destination]]
id = "slack"
type = "slack_webhook"
webhook_url = "{slack}"

[[rule]]
name = "Create User"
jq_match = 'select(.eventName == "CreateUser")'
severity = "high"
tags = ["attack.t1136.003"]
runbook = "https://wiki.example/runbooks/new-user"
destinations = ["sns", "slack"]

[[rule]]
name = "Create User (rolling out)"
jq_match = 'select(.eventName == "CreateUser") | .requestParameters.userName'
mode = "dry_run"
destinations = ["sns", "slack"]

[[rule]]
name = "Retired"
jq_match = 'select(.eventName == "CreateUser")'
enabled = false
destinations = ["sns", "slack"]
"#,
            topic = arns[0],
            slack = slack.url
        ),
    );
    let mut f = Function::start(moto, &[], &root);
    assert!(f
        .invoke(s3_event(bucket, &["AWSLogs/upstream.json"]))
        .is_ok());
    // Only the live rule was sent, with its metadata and the account name.
    let msgs = moto.sns_messages(&arns[0]);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let m: Value = serde_json::from_str(&msgs[0].0).unwrap();
    assert_eq!(m["name"], "Create User");
    assert_eq!(m["severity"], "high");
    assert_eq!(m["tags"], json!(["attack.t1136.003"]));
    assert_eq!(m["runbook"], "https://wiki.example/runbooks/new-user");
    assert_eq!(m["account_name"], "sandbox");
    let posts = slack.posts();
    assert_eq!(posts.len(), 1);
    let att = &posts[0]["attachments"][0];
    assert_eq!(att["color"], "danger");
    assert!(att["fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["title"] == "Account" && f["value"] == "123456789 (sandbox)"));
    // The dry-run alert is logged and counted, never sent.
    let dry = f.logs_named("dry_run_alert");
    assert_eq!(dry.len(), 1, "{}", f.log_text());
    assert_eq!(dry[0]["rule"], "Create User (rolling out)");
    let emf: Vec<Value> = f
        .logs()
        .into_iter()
        .filter(|l| l.get("_aws").is_some())
        .collect();
    let total = emf
        .iter()
        .find(|d| d.get("Rule").is_none() && d.get("Path").is_none())
        .unwrap();
    assert_eq!(total["Alerts"], 1.0);
    assert_eq!(total["DryRunAlerts"], 1.0);
    assert!(emf
        .iter()
        .any(|d| d["Rule"] == "Create User (rolling out)" && d["DryRunAlerts"] == 1.0));
    assert!(
        !emf.iter().any(|d| d["Rule"] == "Retired"),
        "disabled: never evaluated"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn exceptions_suppress_with_counters_and_an_expired_one_no_longer_does() {
    let moto = Moto::get();
    let bucket = "exception-trail";
    let arns = setup(
        moto,
        bucket,
        &["exception-alerts"],
        &["tattletail@example.com"],
    )
    .await;
    put(
        moto,
        bucket,
        "AWSLogs/upstream.json",
        upstream_file(),
        false,
    )
    .await;
    let root = temp_dir("exceptions");
    bundled(
        &root,
        &format!(
            r#"
[[destination]]
id = "sns"
type = "sns"
sns_arn = "{topic}"

[[rule]]
name = "Create User"
jq_match = 'select(.eventName == "CreateUser")'
destinations = ["sns"]

[[rule]]
name = "Create User again"
jq_match = 'select(.eventName == "CreateUser") | .requestParameters.userName'
destinations = ["sns"]

[[exception]]
name = "admin creates users"
reason = "the admin role provisions users"
rules = ["Create User"]
jq_match = '.userIdentity.arn | contains("assumed-role/admin_read_write")'
expires = 2099-12-31

[[exception]]
name = "old exception"
reason = "expired long ago"
rules = ["Create User again"]
jq_match = 'true'
expires = "2020-01-01T00:00:00Z"
"#,
            topic = arns[0],
        ),
    );
    let mut f = Function::start(moto, &[], &root);
    assert!(f
        .invoke(s3_event(bucket, &["AWSLogs/upstream.json"]))
        .is_ok());
    // The active exception suppressed its rule's alert; the expired one
    // suppressed nothing.
    let names: Vec<Value> = moto
        .sns_messages(&arns[0])
        .iter()
        .map(|(m, _)| serde_json::from_str::<Value>(m).unwrap()["name"].clone())
        .collect();
    assert_eq!(names, [json!("Create User again")], "{}", f.log_text());
    let expired = f.logs_named("exception_expired");
    assert_eq!(expired.len(), 1, "{}", f.log_text());
    assert_eq!(expired[0]["exception"], "old exception");
    let done = &f.logs_named("invocation_complete")[0];
    assert_eq!(
        done["suppressed_by_exception"],
        json!({"admin creates users": 1})
    );
    let emf: Vec<Value> = f
        .logs()
        .into_iter()
        .filter(|l| l.get("_aws").is_some())
        .collect();
    let total = emf
        .iter()
        .find(|d| {
            d.get("Rule").is_none() && d.get("Exception").is_none() && d.get("Path").is_none()
        })
        .unwrap();
    assert_eq!(total["SuppressedAlerts"], 1.0);
    assert_eq!(total["Alerts"], 1.0);
    assert!(emf
        .iter()
        .any(|d| d["Exception"] == "admin creates users" && d["SuppressedAlerts"] == 1.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_add_destinations_min_severity_filters_and_each_destination_gets_an_alert_once() {
    let moto = Moto::get();
    let bucket = "routing-trail";
    let arns = setup(moto, bucket, &["routing-pager"], &[]).await;
    let everything = Slack::start(&[]);
    let sandbox = Slack::start(&[]);
    let elsewhere = Slack::start(&[]);
    put(
        moto,
        bucket,
        "AWSLogs/upstream.json",
        upstream_file(),
        false,
    )
    .await;
    let root = temp_dir("routing");
    bundled(
        &root,
        &format!(
            r#"
[accounts]
"123456789" = "sandbox"

[[destination]]
id = "pager"
type = "sns"
sns_arn = "{topic}"
min_severity = "high"

[[destination]]
id = "everything"
type = "slack_webhook"
webhook_url = "{everything}"

[[destination]]
id = "sandbox channel"
type = "slack_webhook"
webhook_url = "{sandbox}"

[[destination]]
id = "other channel"
type = "slack_webhook"
webhook_url = "{elsewhere}"

[[rule]]
name = "Create User"
jq_match = 'select(.eventName == "CreateUser")'
severity = "high"
destinations = ["pager", "everything"]

[[rule]]
name = "Policies listed"
jq_match = 'select(.eventName == "ListAttachedRolePolicies")'
severity = "low"
destinations = ["pager", "everything"]

[[rule]]
name = "Dry"
jq_match = 'select(.eventName == "CreateUser")'
severity = "critical"
mode = "dry_run"

# Upstream's file is account 123456789, named "sandbox" above.
[[route]]
name = "sandbox account"
accounts = ["sandbox"]
regions = ["us-east-1"]
destinations = ["sandbox channel", "everything"]

[[route]]
name = "high and up"
severities = ["high", "critical"]
destinations = ["pager"]

[[route]]
name = "another account"
accounts = ["210987654321"]
destinations = ["other channel"]

[[route]]
name = "another region"
accounts = ["sandbox"]
regions = ["eu-west-1"]
destinations = ["other channel"]
"#,
            topic = arns[0],
            everything = everything.url,
            sandbox = sandbox.url,
            elsewhere = elsewhere.url
        ),
    );
    let mut f = Function::start(moto, &[], &root);
    assert!(f
        .invoke(s3_event(bucket, &["AWSLogs/upstream.json"]))
        .is_ok());
    // min_severity = "high": only the high rule's alert, once, though the
    // rule and a route both name the destination (and the low rule names
    // it too).
    let msgs = moto.sns_messages(&arns[0]);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let m: Value = serde_json::from_str(&msgs[0].0).unwrap();
    assert_eq!(m["name"], "Create User");
    // Named by every rule and by the sandbox route: each alert once.
    let alert_names = |slack: &Slack| -> Vec<String> {
        let mut names: Vec<String> = slack
            .posts()
            .iter()
            .map(|p| {
                p["attachments"][0]["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|f| f["title"] == "Alert Name")
                    .unwrap()["value"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        names.sort();
        names
    };
    let want = ["Create User", "Policies listed", "Policies listed"];
    assert_eq!(alert_names(&everything), want);
    // Only through the route: the rules do not name it.
    assert_eq!(alert_names(&sandbox), want);
    // Every condition must hold: no route matched.
    assert!(elsewhere.posts().is_empty());
    let published = f.logs_named("publish_alert");
    let mut pairs: Vec<(&str, &str)> = published
        .iter()
        .map(|l| {
            (
                l["rule"].as_str().unwrap(),
                l["destination"].as_str().unwrap(),
            )
        })
        .collect();
    pairs.sort();
    // Upstream's first and third records are the same event: two alerts.
    assert_eq!(
        pairs,
        [
            ("Create User", "everything"),
            ("Create User", "pager"),
            ("Create User", "sandbox channel"),
            ("Policies listed", "everything"),
            ("Policies listed", "everything"),
            ("Policies listed", "sandbox channel"),
            ("Policies listed", "sandbox channel"),
        ],
        "one send per alert and destination"
    );
    // The dry-run rule matches the routes too, and is still never sent.
    assert_eq!(f.logs_named("dry_run_alert").len(), 1);
    assert!(published.iter().all(|l| l["rule"] != "Dry"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_config_in_s3_fails_with_every_diagnostic_until_fixed() {
    let moto = Moto::get();
    let bucket = "badconfig-trail";
    let arns = setup(moto, bucket, &["badconfig-alerts"], &[]).await;
    let bad = "[[destination]]\nid = \"x\"\ntype = \"pager\"\n\n[[rule]]\nname = \"r\"\njq_match = '.eventName =='\ndestinations = [\"nope\"]\n";
    put(
        moto,
        bucket,
        "tattletail.toml",
        bad.as_bytes().to_vec(),
        false,
    )
    .await;
    put(
        moto,
        bucket,
        "AWSLogs/upstream.json",
        upstream_file(),
        false,
    )
    .await;
    let root = temp_dir("badconfig");
    let mut f = Function::start(
        moto,
        &[
            ("S3_CONFIG_BUCKET", bucket),
            ("S3_CONFIG_PATH", "tattletail.toml"),
        ],
        &root,
    );
    let event = s3_event(bucket, &["AWSLogs/upstream.json"]);
    let err = f.invoke(event.clone()).unwrap_err();
    let msg = err["errorMessage"].as_str().unwrap();
    assert!(
        msg.contains("s3://badconfig-trail/tattletail.toml:3:"),
        "{msg}"
    );
    assert!(
        msg.contains("pager") && msg.contains("nope") && msg.contains("jq"),
        "{msg}"
    );
    assert_eq!(err["errorType"], "Tattletail.ConfigInvalid", "{err}");
    assert_eq!(f.logs_named("config_invalid").len(), 1);
    let good = format!(
        "[[destination]]\nid = \"sns\"\ntype = \"sns\"\nsns_arn = \"{}\"\n\n[[rule]]\nname = \"r\"\njq_match = 'select(.eventName == \"CreateUser\")'\ndestinations = [\"sns\"]\n",
        arns[0]
    );
    put(moto, bucket, "tattletail.toml", good.into_bytes(), false).await;
    assert!(f.invoke(event).is_ok(), "{}", f.log_text());
    let msgs = moto.sns_messages(&arns[0]);
    assert_eq!(msgs.len(), 1);
    let m: Value = serde_json::from_str(&msgs[0].0).unwrap();
    assert_eq!(
        m["match"], m["record"],
        "select rules send the record as match"
    );
}

/// Sigma rules stored next to an S3 config (`[[sigma]] path` = keys under
/// the config key's prefix) are listed, read and compiled with it: a
/// Sigma rule alerts through SNS with upstream's payload plus the rule's
/// references; a correlation is loaded but not evaluated (said in the
/// log), so its base rule alerts on its own.
#[tokio::test(flavor = "multi_thread")]
async fn sigma_rules_next_to_an_s3_config_alert() {
    let moto = Moto::get();
    let bucket = "sigma-trail";
    let arns = setup(moto, bucket, &["sigma-alerts"], &[]).await;
    let config = format!(
        "[[destination]]\nid = \"sns\"\ntype = \"sns\"\nsns_arn = \"{}\"\n\n[[sigma]]\npath = \"sigma\"\ndestinations = [\"sns\"]\n",
        arns[0]
    );
    put(
        moto,
        bucket,
        "conf/tattletail.toml",
        config.into_bytes(),
        false,
    )
    .await;
    let rule = "title: IAM user created\nid: 0e6a8a52-1c3b-4a5e-9c1f-3b1f0d2e4a10\nname: iam_user_created\nreferences:\n    - https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateUser.html\nlogsource:\n    product: aws\n    service: cloudtrail\ndetection:\n    selection:\n        eventSource: iam.amazonaws.com\n        eventName: createuser\n    condition: selection\nlevel: medium\n";
    put(
        moto,
        bucket,
        "conf/sigma/iam_user_created.yml",
        rule.as_bytes().to_vec(),
        false,
    )
    .await;
    let correlation = "title: Many IAM users\nid: 4b7d0c8e-2f1a-4d3b-8e5c-6a9f1b2c3d40\ncorrelation:\n    type: event_count\n    rules:\n        - iam_user_created\n    group-by:\n        - userIdentity.arn\n    timespan: 1h\n    condition:\n        gte: 5\nlevel: high\n";
    put(
        moto,
        bucket,
        "conf/sigma/many_users.yml",
        correlation.as_bytes().to_vec(),
        false,
    )
    .await;
    put(
        moto,
        bucket,
        "conf/sigma/README.md",
        b"not a rule".to_vec(),
        false,
    )
    .await;
    put(
        moto,
        bucket,
        "AWSLogs/upstream.json",
        upstream_file(),
        false,
    )
    .await;
    let root = temp_dir("sigma");
    let mut f = Function::start(
        moto,
        &[
            ("S3_CONFIG_BUCKET", bucket),
            ("S3_CONFIG_PATH", "conf/tattletail.toml"),
        ],
        &root,
    );
    f.invoke(s3_event(bucket, &["AWSLogs/upstream.json"]))
        .unwrap_or_else(|e| panic!("{e}\n{}", f.log_text()));
    assert_eq!(
        f.logs_named("correlations_not_evaluated").len(),
        1,
        "{}",
        f.log_text()
    );
    let msgs = moto.sns_messages(&arns[0]);
    assert_eq!(msgs.len(), 1, "{}", f.log_text());
    let m: Value = serde_json::from_str(&msgs[0].0).unwrap();
    assert_eq!(m["name"], "IAM user created", "{m}");
    assert_eq!(m["record"]["eventName"], "CreateUser", "{m}");
    assert_eq!(
        m["match"], m["record"],
        "a Sigma rule's output is the event"
    );
    assert_eq!(
        m["references"][0],
        "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateUser.html",
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_config_over_the_size_limit_is_refused_unread() {
    let moto = Moto::get();
    let bucket = "bigconfig-trail";
    setup(moto, bucket, &[], &[]).await;
    let mut big = b"# padding\n".repeat(1_677_722);
    big.truncate(16 * 1024 * 1024 + 1);
    put(moto, bucket, "tattletail.toml", big, false).await;
    let root = temp_dir("bigconfig");
    let mut f = Function::start(
        moto,
        &[
            ("S3_CONFIG_BUCKET", bucket),
            ("S3_CONFIG_PATH", "tattletail.toml"),
        ],
        &root,
    );
    let err = f
        .invoke(s3_event(bucket, &["AWSLogs/upstream.json"]))
        .unwrap_err();
    let msg = err["errorMessage"].as_str().unwrap();
    assert!(
        msg.starts_with(
            "the config s3://bigconfig-trail/tattletail.toml is too large: 16777217 bytes, \
             more than the limit of 16777216 bytes (16 MiB)"
        ),
        "{msg}"
    );
    assert_eq!(f.logs_named("config_invalid").len(), 1);
}

/// One object of `n` CreateUser records (upstream's, each with its own
/// eventID, so each has its own alert id).
fn many_alerts_file(n: usize) -> Vec<u8> {
    let base = &upstream_records()[1];
    let mut out = String::from("{\"Records\":[");
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        let mut r = base.clone();
        r["eventID"] = json!(format!("bulk-{i:06}"));
        out.push_str(&r.to_string());
    }
    out.push_str("]}");
    out.into_bytes()
}

/// One destination (`type` and its address key) and one rule sending
/// every CreateUser event to it.
fn create_user_to(kind: &str, address: &str) -> String {
    let key = if kind == "sns" {
        "sns_arn"
    } else {
        "webhook_url"
    };
    format!(
        r#"
[[destination]]
id = "d"
type = "{kind}"
{key} = "{address}"

[[rule]]
name = "Create User"
jq_match = 'select(.eventName == "CreateUser")'
destinations = ["d"]
"#
    )
}

/// Memory is bounded by the sends in flight, not by the alerts of an
/// object: finished sends are reaped as they complete. Peak RSS is read
/// from the kernel (`VmHWM`). A finished but unreaped send costs most in a
/// release build (about 10 KB: tokio keeps futures under 16 KB inline in
/// the task, and boxes them from 2 KB in debug builds), so run this with
/// `TATTLETAIL_TEST_BOOTSTRAP=target/release/bootstrap` too: keeping every
/// send until the end peaked at 460 MB there, reaping them at 66 MB.
#[tokio::test(flavor = "multi_thread")]
async fn forty_thousand_alerts_from_one_object_are_sent_in_bounded_memory() {
    const ALERTS: usize = 40_000;
    let moto = Moto::get();
    let bucket = "memory-trail";
    let arns = setup(moto, bucket, &["memory-alerts"], &[]).await;
    let key = "AWSLogs/123456789012/CloudTrail/us-east-1/2021/07/10/bulk.json.gz";
    put(moto, bucket, key, gzip(&many_alerts_file(ALERTS)), false).await;
    let root = temp_dir("memory");
    bundled(&root, &create_user_to("sns", &arns[0]));
    let mut f = Function::start(moto, &[], &root);
    let started = Instant::now();
    let answer = f
        .try_invoke(s3_event(bucket, &[key]), Duration::from_secs(900))
        .unwrap_or_else(|why| panic!("{why}"));
    let took = started.elapsed();
    let peak_kib = f.peak_rss_kib();
    assert!(answer.is_ok(), "{answer:?}");
    let done = f.logs_named("object_complete");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["alerts"], ALERTS as u64);
    assert_eq!(done[0]["alerts_delivered"], ALERTS as u64);
    assert_eq!(done[0]["alerts_undelivered"], 0);
    let published = moto.sns_messages(&arns[0]);
    let ids: std::collections::HashSet<&str> = published
        .iter()
        .map(|(_, attrs)| attrs["tattletail_alert_id"]["Value"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), ALERTS, "every alert reached SNS once");
    eprintln!(
        "{ALERTS} alerts delivered to SNS in {:.1} s; bootstrap peak RSS {:.1} MB",
        took.as_secs_f64(),
        peak_kib as f64 / 1024.0
    );
    assert!(
        peak_kib < 100 * 1024,
        "bootstrap peak RSS {peak_kib} KiB for {ALERTS} alerts (limit 100 MB)"
    );
}

/// A Slack webhook that never answers holds every send: with four sends in
/// flight the scan cannot go on, so the deadline always finds it at the
/// same record (4), whatever the machine's speed. The margin leaves
/// seconds on both sides of every step.
#[tokio::test(flavor = "multi_thread")]
async fn near_the_deadline_it_stops_reports_where_and_fails_for_a_retry() {
    let moto = Moto::get();
    let bucket = "deadline-trail";
    setup(moto, bucket, &[], &[]).await;
    let slack = Slack::hanging();
    let big = "AWSLogs/123456789012/CloudTrail/us-east-1/2021/07/10/big.json.gz";
    put(moto, bucket, big, gzip(&many_alerts_file(5_000)), false).await;
    let small = "AWSLogs/123456789012/CloudTrail/us-east-1/2021/07/10/small.json";
    put(moto, bucket, small, upstream_file(), false).await;
    let root = temp_dir("deadline");
    bundled(&root, &create_user_to("slack_webhook", &slack.url));
    let mut f = Function::start(
        moto,
        &[
            ("TATTLETAIL_SEND_CONCURRENCY", "4"),
            ("TATTLETAIL_SEND_TIMEOUT_SECS", "120"),
            ("TATTLETAIL_DEADLINE_MARGIN_MS", "6000"),
        ],
        &root,
    );
    // Scanning stops 4 s in, the sends are abandoned 8.5 s in, and the
    // answer must come before the deadline at 10 s.
    let deadline = Duration::from_secs(10);
    let asked = Instant::now();
    let err = f
        .invoke_within(s3_event(bucket, &[big]), deadline)
        .unwrap_err();
    let answered = asked.elapsed();
    assert!(
        answered < deadline,
        "answered after {answered:?}, past the deadline"
    );
    let msg = err["errorMessage"].as_str().unwrap();
    assert!(
        msg.contains(&format!(
            "s3://{bucket}/{big}: stopped at the invocation deadline from record 4; retry"
        )),
        "{msg}"
    );
    assert_eq!(err["errorType"], "Tattletail.DeadlineReached", "{err}");
    // The four sends in flight were abandoned, each logged in full.
    let lost = f.logs_named("undelivered_alert");
    assert_eq!(lost.len(), 4, "{}", f.log_text());
    let mut origins: Vec<String> = lost
        .iter()
        .map(|l| l["origin"].as_str().unwrap().to_string())
        .collect();
    origins.sort();
    assert_eq!(
        origins,
        (0..4)
            .map(|i| format!("s3://{bucket}/{big}#{i}"))
            .collect::<Vec<_>>()
    );
    for l in &lost {
        assert!(
            l["error"].as_str().unwrap().contains("invocation deadline"),
            "{l}"
        );
        assert_eq!(
            l["payload"]["attachments"][0]["fields"][0]["value"],
            "Create User"
        );
    }
    assert_eq!(slack.attempts(), 4, "no send was started after the stop");
    // Where it stopped.
    let incomplete = f.logs_named("object_incomplete");
    assert_eq!(incomplete.len(), 1, "{}", f.log_text());
    let line = &incomplete[0];
    assert_eq!(line["bucket"], bucket);
    assert_eq!(line["key"], big);
    assert_eq!(line["next_record"], 4);
    assert_eq!(line["alerts_delivered"], 0);
    assert_eq!(line["alerts_undelivered"], 4);
    assert!(f.logs_named("object_complete").is_empty());
    // The summary and the metrics were written.
    let summary = f.logs_named("invocation_complete");
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0]["objects_incomplete"], 1);
    assert_eq!(summary[0]["deadline_reached"], true);
    assert_eq!(summary[0]["alerts_undelivered"], 4);
    let emf = f
        .logs()
        .into_iter()
        .find(|l| l.get("ObjectsIncomplete").is_some())
        .expect("EMF metrics");
    assert_eq!(emf["ObjectsIncomplete"], 1.0);
    assert_eq!(emf["AlertsUndelivered"], 4.0);

    // SQS: the stopped message and the one not started are both reported
    // as batch item failures, so SQS delivers them again.
    f.clear_logs();
    let sqs = json!({"Records": [
        {"eventSource": "aws:sqs", "messageId": "q-big", "body": s3_event(bucket, &[big]).to_string()},
        {"eventSource": "aws:sqs", "messageId": "q-small", "body": s3_event(bucket, &[small]).to_string()},
    ]});
    let asked = Instant::now();
    let answer = f.invoke_within(sqs, deadline).unwrap();
    assert!(asked.elapsed() < deadline);
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "q-big"}, {"itemIdentifier": "q-small"}]})
    );
    let incomplete = f.logs_named("object_incomplete");
    assert_eq!(incomplete.len(), 2, "{}", f.log_text());
    assert_eq!(incomplete[0]["next_record"], 4);
    assert_eq!(incomplete[1]["key"], small);
    assert_eq!(incomplete[1]["next_record"], 0);
    assert_eq!(incomplete[1]["reason"], "not started");
    assert_eq!(f.logs_named("undelivered_alert").len(), 4);
    assert_eq!(
        f.logs_named("invocation_complete")[0]["objects_incomplete"],
        2
    );

    // S3 Batch Operations: the task is a temporary failure, retried by the job.
    let answer = f
        .invoke_within(batch("2.0", bucket, big), deadline)
        .unwrap();
    let result = &answer["results"][0];
    assert_eq!(result["resultCode"], "TemporaryFailure", "{answer}");
    assert!(
        result["resultString"]
            .as_str()
            .unwrap()
            .contains("stopped at the invocation deadline from record 4"),
        "{answer}"
    );
}

fn cfn_lint(template: &std::path::Path) -> std::process::Output {
    let python = std::env::var("TATTLETAIL_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    Command::new(&python)
        .args([
            "-c",
            "import sys; from cfnlint.runner import main; sys.exit(main())",
        ])
        .arg(template)
        .output()
        .unwrap_or_else(|e| panic!("cannot run cfn-lint ({e}); bash scripts/test installs it"))
}

#[test]
fn sam_template_passes_cfn_lint() {
    let template = harness::root().join("lambda/template.yaml");
    let out = cfn_lint(&template);
    assert!(
        out.status.success(),
        "cfn-lint found problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The check has teeth: a broken copy fails.
    let broken = temp_dir("cfn").join("template.yaml");
    let text = std::fs::read_to_string(&template).unwrap();
    std::fs::write(&broken, text.replace("provided.al2023", "provided.al2099")).unwrap();
    let out = cfn_lint(&broken);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("provided.al2099"));
    // The on-failure destination is there, and linted after the SAM
    // transform: an out-of-range retry count fails.
    assert!(
        text.contains("OnFailure:") && text.contains("Destination: !GetAtt FailedEventsQueue.Arn")
    );
    let retries = "MaximumRetryAttempts: !Ref MaximumRetryAttempts";
    assert!(text.contains(retries));
    std::fs::write(&broken, text.replace(retries, "MaximumRetryAttempts: 7")).unwrap();
    let out = cfn_lint(&broken);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("7 is greater than the maximum of 2"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
