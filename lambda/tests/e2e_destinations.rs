//! End to end for the `slack_app` and `webhook` destinations: the
//! `bootstrap` binary driven through the Lambda Runtime API, reading the
//! trail from a local moto server (which also holds the tokens, in SSM and
//! Secrets Manager), posting to a local stand-in of Slack's Web API that
//! enforces its token, shape and limits, and to webhook receivers that
//! verify the HMAC signature. Every assertion reads what those peers got.

#![cfg(feature = "aws")]

mod harness;
#[path = "harness/slack_api.rs"]
mod slack_api;

use harness::{put, setup, temp_dir, upstream_file, Function, Moto};
use serde_json::{json, Value};
use slack_api::{SlackApi, Webhook};

fn s3_event(bucket: &str, key: &str) -> Value {
    json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": key, "size": 1234}}
    }]})
}

fn bundled(root: &std::path::Path, text: &str) {
    std::fs::write(root.join("tattletail.toml"), text).unwrap();
}

/// The upstream file's CreateUser record.
fn create_user_record() -> Value {
    let v: Value = serde_json::from_slice(&upstream_file()).unwrap();
    v["Records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["eventName"] == "CreateUser")
        .unwrap()
        .clone()
}

async fn put_parameter(moto: &Moto, name: &str, value: &str) {
    let ssm = aws_sdk_ssm::Client::new(&moto.sdk().await);
    ssm.put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();
}

async fn put_secret(moto: &Moto, name: &str, value: &str) {
    let sm = aws_sdk_secretsmanager::Client::new(&moto.sdk().await);
    sm.create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_app_tokens_from_ssm_and_secrets_manager_retries_and_no_thread_for_alerts() {
    let moto = Moto::get();
    let bucket = "slack-app-trail";
    setup(moto, bucket, &[], &[]).await;
    put(
        moto,
        bucket,
        "AWSLogs/upstream.json",
        upstream_file(),
        false,
    )
    .await;
    put_parameter(moto, "/tattletail/slack-token", "xoxb-from-ssm").await;
    put_secret(moto, "tattletail/slack-token", "xoxb-from-secrets-manager").await;
    // One HTTP 429 (Retry-After: 1), then one HTTP 200 ratelimited: both
    // retried, nothing lost.
    let api = SlackApi::start(&["xoxb-from-ssm", "xoxb-from-secrets-manager"], 1, 1);
    let root = temp_dir("slack-app");
    bundled(
        &root,
        r##"
[accounts]
"123456789" = "sandbox"

[[destination]]
id = "app-ssm"
type = "slack_app"
token = "ssm:/tattletail/slack-token"
channel = "#security"

[[destination]]
id = "app-sm"
type = "slack_app"
token = "secretsmanager:tattletail/slack-token"
channel = "C0123456789"

[[rule]]
name = "Create User"
jq_match = 'select(.eventName == "CreateUser") | "username: \(.requestParameters.userName)"'
description = "A new IAM user has been created"
severity = "high"
destinations = ["app-ssm", "app-sm"]
"##,
    );
    let mut f = Function::start(moto, &[("TATTLETAIL_SLACK_API_URL", &api.url)], &root);
    let answer = f.invoke(s3_event(bucket, "AWSLogs/upstream.json"));
    assert!(answer.is_ok(), "{answer:?}\n{}", f.log_text());

    let posts = api.posts();
    assert_eq!(posts.len(), 2, "{posts:?}\n{}", f.log_text());
    assert_eq!(
        api.attempts(),
        4,
        "two rate-limited answers, then two posts"
    );
    assert_eq!(f.logs_named("send_retry").len(), 2, "{}", f.log_text());
    let mut by_channel: Vec<(&str, &str)> = posts
        .iter()
        .map(|p| (p.body["channel"].as_str().unwrap(), p.token.as_str()))
        .collect();
    by_channel.sort();
    assert_eq!(
        by_channel,
        [
            ("#security", "xoxb-from-ssm"),
            ("C0123456789", "xoxb-from-secrets-manager")
        ]
    );
    let record = create_user_record();
    for p in &posts {
        let b = &p.body;
        assert!(
            b.get("thread_ts").is_none(),
            "an alert starts its thread: {b}"
        );
        assert_eq!(b["unfurl_links"], false);
        assert_eq!(b["unfurl_media"], false);
        let blocks = b["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["text"]["text"], "Create User");
        let text = b.to_string();
        assert!(text.contains("*Severity*\\nhigh"), "{text}");
        assert!(text.contains("123456789 (sandbox)"), "{text}");
        assert!(text.contains("*Match*"), "{text}");
        assert!(text.contains(record["eventID"].as_str().unwrap()));
        assert!(b["text"]
            .as_str()
            .unwrap()
            .starts_with("Create User: CreateUser by "));
    }
    // publish_alert carries the message's ts (the thread a follow-up
    // would reply in); no token anywhere in the logs.
    let published = f.logs_named("publish_alert");
    assert_eq!(published.len(), 2);
    let mut threads: Vec<String> = published
        .iter()
        .map(|l| l["thread"].as_str().unwrap().to_string())
        .collect();
    threads.sort();
    let mut ts: Vec<String> = posts.iter().map(|p| p.ts.clone()).collect();
    ts.sort();
    assert_eq!(threads, ts);
    assert!(published
        .iter()
        .all(|l| l["type"] == "slack_app" && l["kind"] == "alert"));
    let logs = f.log_text();
    assert!(!logs.contains("xoxb-from"), "a token reached the logs");
    assert!(f.logs_named("undelivered_alert").is_empty(), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_token_is_an_undelivered_alert_with_slacks_error_and_a_hint() {
    let moto = Moto::get();
    let bucket = "slack-app-wrong-trail";
    setup(moto, bucket, &[], &[]).await;
    put(
        moto,
        bucket,
        "AWSLogs/upstream.json",
        upstream_file(),
        false,
    )
    .await;
    let api = SlackApi::start(&["xoxb-the-right-one"], 0, 0);
    let root = temp_dir("slack-app-wrong");
    bundled(
        &root,
        r##"
[[destination]]
id = "app"
type = "slack_app"
token = "env:SLACK_BOT_TOKEN"
channel = "#security"

[[destination]]
id = "unset"
type = "slack_app"
token = "env:TATTLETAIL_TEST_UNSET_TOKEN"
channel = "#security"

[[rule]]
name = "Create User"
jq_match = 'select(.eventName == "CreateUser")'
destinations = ["app", "unset"]
"##,
    );
    let mut f = Function::start(
        moto,
        &[
            ("TATTLETAIL_SLACK_API_URL", &api.url),
            ("SLACK_BOT_TOKEN", "xoxb-a-wrong-one"),
        ],
        &root,
    );
    let answer = f.invoke(s3_event(bucket, "AWSLogs/upstream.json"));
    assert!(answer.is_ok(), "{answer:?}");
    assert!(api.posts().is_empty());
    assert_eq!(api.attempts(), 1, "invalid_auth is not retried");
    let undelivered = f.logs_named("undelivered_alert");
    assert_eq!(undelivered.len(), 2, "{}", f.log_text());
    let by_dest = |d: &str| {
        undelivered
            .iter()
            .find(|l| l["destination"] == d)
            .unwrap_or_else(|| panic!("no undelivered_alert for {d}"))
    };
    let wrong = by_dest("app");
    let error = wrong["error"].as_str().unwrap();
    assert!(
        error.starts_with("Slack chat.postMessage to #security failed after 1 attempt(s): invalid_auth (the token is not valid"),
        "{error}"
    );
    assert_eq!(wrong["kind"], "alert");
    assert_eq!(wrong["type"], "slack_app");
    // The payload is there in full, to recover the alert; the token is not.
    let payload = &wrong["payload"];
    assert_eq!(payload["channel"], "#security");
    assert_eq!(payload["blocks"][0]["text"]["text"], "Create User");
    let unset = by_dest("unset")["error"].as_str().unwrap().to_string();
    assert!(
        unset.starts_with("the secret env:TATTLETAIL_TEST_UNSET_TOKEN is not set"),
        "{unset}"
    );
    assert!(!f.log_text().contains("xoxb-a-wrong-one"));
    let complete = f.logs_named("invocation_complete");
    assert_eq!(complete.len(), 1, "{}", f.log_text());
}

/// The README's PagerDuty Events v2 body.
const PAGERDUTY_BODY: &str = r#"{
  "routing_key": "{{env:PD_ROUTING_KEY}}",
  "event_action": "trigger",
  "dedup_key": "{{thread_id}}",
  "payload": {
    "summary": "{{text}}",
    "source": "{{account}}/{{region}}",
    "severity": "{{severity | pagerduty}}",
    "timestamp": {{event_time | json}},
    "component": "{{event_source}}",
    "group": "{{account_name}}",
    "class": "{{event_name}}",
    "custom_details": {{record | json}}
  },
  "links": [{"href": "{{runbook}}", "text": "runbook"}]
}"#;

/// The README's Microsoft Teams (Workflows) Adaptive Card body.
const TEAMS_BODY: &str = r#"{
  "type": "message",
  "attachments": [{
    "contentType": "application/vnd.microsoft.card.adaptive",
    "content": {
      "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
      "type": "AdaptiveCard",
      "version": "1.4",
      "body": [
        {"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": true, "text": "{{name}}"},
        {"type": "TextBlock", "wrap": true, "text": "{{text}}"},
        {"type": "FactSet", "facts": [
          {"title": "Severity", "value": "{{severity}}"},
          {"title": "Actor", "value": "{{actor}}"},
          {"title": "Event", "value": "{{event_source}} {{event_name}}"},
          {"title": "Account", "value": "{{account}} {{account_name}}"},
          {"title": "Region", "value": "{{region}}"},
          {"title": "Source IP", "value": "{{source_ip}}"},
          {"title": "Alert id", "value": "{{alert_id}}"}
        ]}
      ]
    }
  }]
}"#;

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_pagerduty_signed_and_teams_from_the_readme_templates() {
    let moto = Moto::get();
    let bucket = "webhook-trail";
    setup(moto, bucket, &[], &[]).await;
    put(
        moto,
        bucket,
        "AWSLogs/upstream.json",
        upstream_file(),
        false,
    )
    .await;
    put_parameter(moto, "/tattletail/teams-api-key", "teams-key-123").await;
    let pd = Webhook::start(Some(("X-Tattletail-Signature", "whsec-test-secret")));
    let teams = Webhook::start(None);
    let plain = Webhook::start(Some(("X-Sig", "another-secret")));
    let root = temp_dir("webhook");
    let readme = std::fs::read_to_string(harness::root().join("README.md")).unwrap();
    for (what, body) in [("PagerDuty", PAGERDUTY_BODY), ("Teams", TEAMS_BODY)] {
        assert!(
            readme.contains(body),
            "the README's {what} example and this test's must be the same text"
        );
    }
    bundled(
        &root,
        &format!(
            r##"
[accounts]
"123456789" = "sandbox"

[[destination]]
id = "pagerduty"
type = "webhook"
url = "{pd}"
hmac_secret = "env:WEBHOOK_SECRET"
body = '''{PAGERDUTY_BODY}'''

[[destination]]
id = "teams"
type = "webhook"
url = "{teams}"
headers = {{ "X-Api-Key" = "ssm:/tattletail/teams-api-key" }}
body = '''{TEAMS_BODY}'''

[[destination]]
id = "plain"
type = "webhook"
url = "{plain}"
hmac_secret = "env:PLAIN_SECRET"
hmac_header = "X-Sig"

[[rule]]
name = "Create User"
jq_match = 'select(.eventName == "CreateUser")'
description = "A new IAM user has been created"
severity = "high"
runbook = "https://wiki.example/runbooks/new-user"
destinations = ["pagerduty", "teams", "plain"]
"##,
            pd = pd.url,
            teams = teams.url,
            plain = plain.url,
        ),
    );
    let mut f = Function::start(
        moto,
        &[
            ("WEBHOOK_SECRET", "whsec-test-secret"),
            ("PLAIN_SECRET", "another-secret"),
            ("PD_ROUTING_KEY", "R0UT1NGKEY"),
        ],
        &root,
    );
    let answer = f.invoke(s3_event(bucket, "AWSLogs/upstream.json"));
    assert!(answer.is_ok(), "{answer:?}");
    assert!(
        f.logs_named("undelivered_alert").is_empty(),
        "{}",
        f.log_text()
    );
    let record = create_user_record();

    // PagerDuty: signed (the receiver verified it), the Events v2 shape.
    assert!(pd.rejected().is_empty(), "{:?}", pd.rejected());
    let got = pd.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    let v: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(v["routing_key"], "R0UT1NGKEY");
    assert_eq!(v["event_action"], "trigger");
    let published = f.logs_named("publish_alert");
    let alert_id = published[0]["alert_id"].as_str().unwrap();
    assert_eq!(v["dedup_key"], alert_id, "thread_id of an alert is its id");
    assert_eq!(v["payload"]["severity"], "error", "high maps to error");
    assert_eq!(v["payload"]["custom_details"], record);
    assert_eq!(v["payload"]["timestamp"], record["eventTime"]);
    assert_eq!(v["payload"]["group"], "sandbox");
    assert_eq!(
        v["links"][0]["href"],
        "https://wiki.example/runbooks/new-user"
    );
    assert!(v["payload"]["summary"]
        .as_str()
        .unwrap()
        .starts_with("Create User: CreateUser by "));

    // Teams: the Adaptive Card, with the header from SSM.
    let got = teams.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("x-api-key"), Some("teams-key-123"));
    let card: Value = serde_json::from_str(&got[0].body).unwrap();
    let content = &card["attachments"][0]["content"];
    assert_eq!(content["type"], "AdaptiveCard");
    assert_eq!(content["body"][0]["text"], "Create User");
    assert_eq!(content["body"][2]["facts"][0]["value"], "high");

    // No body: the SNS message JSON, signed with the custom header.
    assert!(plain.rejected().is_empty(), "{:?}", plain.rejected());
    let got = plain.received();
    assert_eq!(got.len(), 1);
    let sns: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(sns["name"], "Create User");
    assert_eq!(sns["record"], record);
    assert!(got[0].header("x-sig").unwrap().starts_with("t="));

    // Logs: URLs masked, secrets absent.
    let logs = f.log_text();
    for secret in [
        "SeCrEtQuErY",
        "R0UT1NGKEY",
        "whsec-test-secret",
        "teams-key-123",
    ] {
        assert!(!logs.contains(secret), "{secret} reached the logs");
    }
    assert!(published
        .iter()
        .all(|l| l["target"].as_str().unwrap().ends_with("?********")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_refusing_the_signature_is_undelivered_with_the_masked_payload() {
    let moto = Moto::get();
    let bucket = "webhook-refused-trail";
    setup(moto, bucket, &[], &[]).await;
    put(
        moto,
        bucket,
        "AWSLogs/upstream.json",
        upstream_file(),
        false,
    )
    .await;
    let hook = Webhook::start(Some(("X-Tattletail-Signature", "the-receivers-secret")));
    let root = temp_dir("webhook-refused");
    bundled(
        &root,
        &format!(
            r##"
[[destination]]
id = "hook"
type = "webhook"
url = "{url}"
hmac_secret = "env:WEBHOOK_SECRET"
body = '{{"key": "{{{{env:ROUTING}}}}", "id": "{{{{alert_id}}}}"}}'

[[rule]]
name = "Create User"
jq_match = 'select(.eventName == "CreateUser")'
destinations = ["hook"]
"##,
            url = hook.url
        ),
    );
    let mut f = Function::start(
        moto,
        &[
            ("WEBHOOK_SECRET", "a-different-secret"),
            ("ROUTING", "RKEY"),
        ],
        &root,
    );
    assert!(f.invoke(s3_event(bucket, "AWSLogs/upstream.json")).is_ok());
    assert_eq!(
        hook.rejected(),
        ["signature mismatch"],
        "401 is not retried"
    );
    let undelivered = f.logs_named("undelivered_alert");
    assert_eq!(undelivered.len(), 1, "{}", f.log_text());
    let error = undelivered[0]["error"].as_str().unwrap();
    assert!(
        error.contains("failed after 1 attempt(s): HTTP 401 signature mismatch")
            && error.contains("/v2/********?********"),
        "{error}"
    );
    let payload = &undelivered[0]["payload"];
    assert_eq!(payload["key"], "********", "secrets masked in the log");
    assert_eq!(payload["id"], undelivered[0]["alert_id"]);
    assert!(!f.log_text().contains("RKEY"));
}
