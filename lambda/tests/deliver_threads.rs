//! The `Deliverer` against the local Slack Web API stand-in: an alert's
//! message `ts` is kept by noise control (as its follow-ups find it), a
//! follow-up sent with that thread is a threaded reply, and the stand-in itself refuses what Slack would
//! (a wrong token, too many blocks). One test in its own binary: it sets
//! `TATTLETAIL_SLACK_API_URL` for the process.

#![cfg(feature = "aws")]

#[path = "harness/slack_api.rs"]
mod slack_api;

use std::sync::Arc;

use serde_json::{json, Value};
use slack_api::SlackApi;
use tattletail_compiler::config::{Destination, DestinationKind, SecretRef};
use tattletail_lambda::aws::{Clients, Needs, Settings};
use tattletail_lambda::deliver::{Deliverer, Sends};
use tattletail_lambda::followup::{FollowUp, Held, Reason};
use tattletail_lambda::noise::{Clock, NoiseControl};
use tattletail_lambda::payload::{AlertData, Extra, Message};
use tattletail_lambda::state::Store;

#[tokio::test(flavor = "multi_thread")]
async fn a_followup_replies_in_the_alerts_thread() {
    let api = SlackApi::start(&["xoxb-thread-test"], 0, 0);

    // The stand-in enforces Slack's token and limits.
    let http = reqwest::Client::new();
    let post = |token: &str, body: Value| {
        http.post(format!("{}/chat.postMessage", api.url))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let r: Value = post("xoxb-wrong", json!({"channel": "#c", "text": "x"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r, json!({"ok": false, "error": "invalid_auth"}));
    let too_many: Vec<Value> = (0..51)
        .map(|_| json!({"type": "section", "text": {"type": "mrkdwn", "text": "x"}}))
        .collect();
    let r: Value = post(
        "xoxb-thread-test",
        json!({"channel": "#c", "text": "x", "blocks": too_many}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(r["error"], "invalid_blocks");
    let long = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "x".repeat(3001)}}]);
    let r: Value = post(
        "xoxb-thread-test",
        json!({"channel": "#c", "text": "x", "blocks": long}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(r["error"], "invalid_blocks");
    assert!(api.posts().is_empty());

    std::env::set_var("TATTLETAIL_SLACK_API_URL", &api.url);
    std::env::set_var("TATTLETAIL_TEST_THREAD_TOKEN", "xoxb-thread-test");
    let clients = Clients::new(&Settings::default(), Needs::default())
        .await
        .unwrap();
    // No state table: no claims, but the Slack `ts` is kept in memory.
    let noise = Arc::new(NoiseControl::new(
        Store::memory(),
        Clock::system(),
        false,
        60_000,
    ));
    let deliverer = Deliverer::new(clients, Settings::default()).with_noise(noise.clone());
    let dest = Destination {
        id: "app".into(),
        kind: DestinationKind::SlackApp {
            token: SecretRef::Env("TATTLETAIL_TEST_THREAD_TOKEN".into()),
            channel: "#security".into(),
        },
        min_severity: None,
        rate_limit: None,
    };
    // A 1 MB record: still a valid message for Slack.
    let alert = AlertData::new(
        "Root login".into(),
        "d".into(),
        json!({"eventID": "e-1", "eventName": "ConsoleLogin",
               "requestParameters": {"blob": "<&>".repeat(350_000)}}),
        None,
        "s3://b/k#0".into(),
    );
    let alert_id = alert.alert_id.clone();
    let mut sends = Sends::new();
    deliverer
        .dispatch(Arc::new(alert), &[&dest], &mut sends)
        .await;
    assert_eq!(sends.finish(None).await, (1, 0));
    let ts = noise
        .thread_of(&alert_id, "app")
        .await
        .expect("the message's ts, kept under its alert id");
    let followup = FollowUp {
        alert_id: "f-1".into(),
        reason: Reason::Dedup {
            window: "15m".into(),
        },
        rule: "Root login".into(),
        description: "d".into(),
        key: None,
        count: 3,
        by_rule: vec![("Root login".into(), 3)],
        first_alert_id: Some(alert_id.clone()),
        first: Some(Held {
            alert_id: "a-2".into(),
            event_id: Some("e-2".into()),
            event_time: None,
        }),
        last: None,
        extra: Extra::default(),
    };
    let mut sends = Sends::new();
    deliverer
        .dispatch_to(
            Message::FollowUp(Arc::new(followup)),
            &dest,
            Some(ts.clone()),
            &mut sends,
        )
        .await;
    assert_eq!(sends.finish(None).await, (1, 0));
    let posts = api.posts();
    assert_eq!(posts.len(), 2);
    assert!(posts[0].body.get("thread_ts").is_none());
    assert!(posts[0]
        .body
        .to_string()
        .contains("[truncated by tattletail"));
    assert_eq!(posts[1].body["thread_ts"], ts.as_str());
    assert!(posts[1].body["text"]
        .as_str()
        .unwrap()
        .starts_with("3 more alert(s) of \"Root login\""));
    assert!(
        noise.thread_of("f-1", "app").await.is_some(),
        "the follow-up's receipt too"
    );
}
