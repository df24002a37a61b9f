//! Noise control end to end: the real `bootstrap` through the Lambda
//! Runtime API, its state in a DynamoDB table on moto (made as the SAM
//! template makes it), alerts to moto's SNS, a local Slack webhook
//! receiver and a local Slack Web API stand-in. What the receivers got is
//! counted message by message.
//!
//! Windows here are seconds long so that the tests can wait them out; the
//! records of a burst share one `eventTime`, so that they all fall in the
//! window by event time too.

#![cfg(feature = "aws")]

mod harness;
#[path = "harness/slack_api.rs"]
mod slack_api;
#[path = "harness/state_table.rs"]
mod state_table;

use std::time::{Duration, Instant};

use harness::{put, setup, temp_dir, Function, Moto, Slack};
use serde_json::{json, Value};
use slack_api::SlackApi;

fn s3_event(bucket: &str, keys: &[&str]) -> Value {
    json!({"Records": keys.iter().map(|k| json!({
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": k, "size": 1234}}
    })).collect::<Vec<_>>()})
}

fn sqs_event(bucket: &str, keys: &[&str]) -> Value {
    json!({"Records": keys.iter().enumerate().map(|(i, k)| json!({
        "messageId": format!("m{i}"), "eventSource": "aws:sqs",
        "body": s3_event(bucket, &[k]).to_string()
    })).collect::<Vec<_>>()})
}

/// A CloudTrail record: `name` by `who` at `time`, event id `id`.
fn record(name: &str, who: &str, time: &str, id: &str) -> Value {
    json!({
        "eventVersion": "1.08", "eventID": id, "eventName": name, "eventTime": time,
        "eventSource": "iam.amazonaws.com", "awsRegion": "us-east-1",
        "recipientAccountId": "123456789012", "sourceIPAddress": "203.0.113.7",
        "errorCode": if name == "ListUsers" { json!("AccessDenied") } else { Value::Null },
        "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::123456789012:user/{who}")}
    })
}

fn file(records: &[Value]) -> Vec<u8> {
    json!({"Records": records}).to_string().into_bytes()
}

/// A bundled config: `destinations` then `rules`, in a fresh task root.
fn bundle(name: &str, text: &str) -> std::path::PathBuf {
    let root = temp_dir(name);
    std::fs::write(root.join("tattletail.toml"), text).unwrap();
    root
}

fn sns_dest(arn: &str) -> String {
    format!("[[destination]]\nid = \"sns\"\ntype = \"sns\"\nsns_arn = \"{arn}\"\n\n")
}

fn slack_dest(url: &str, extra: &str) -> String {
    format!("[[destination]]\nid = \"slack\"\ntype = \"slack_webhook\"\nwebhook_url = \"{url}\"\n{extra}\n")
}

/// The SNS messages published to `arn`, parsed.
fn sns(moto: &Moto, arn: &str) -> Vec<Value> {
    moto.sns_messages(arn)
        .iter()
        .map(|(m, _)| serde_json::from_str(m).unwrap())
        .collect()
}

fn alerts(msgs: &[Value]) -> Vec<&Value> {
    msgs.iter()
        .filter(|m| m.get("follow_up").is_none())
        .collect()
}

fn follow_ups(msgs: &[Value]) -> Vec<&Value> {
    msgs.iter()
        .filter(|m| m.get("follow_up").is_some())
        .collect()
}

async fn start(moto: &Moto, name: &str, topics: &[&str]) -> (String, Vec<String>) {
    let bucket = format!("noise-{name}");
    let arns = setup(moto, &bucket, topics, &[]).await;
    state_table::table(moto, &format!("state-{name}")).await;
    (bucket, arns)
}

fn env_with(table: &str, extra: &[(&'static str, String)]) -> Vec<(String, String)> {
    let mut env = vec![("TATTLETAIL_STATE_TABLE".to_string(), table.to_string())];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    env
}

fn function(moto: &Moto, env: &[(String, String)], root: &std::path::Path) -> Function {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Function::start(moto, &env, root)
}

fn summary(f: &Function) -> Value {
    f.logs_named("invocation_complete")
        .pop()
        .expect("an invocation_complete line")
}

#[tokio::test(flavor = "multi_thread")]
async fn each_alert_reaches_each_destination_once_across_duplicates_and_retries() {
    let moto = Moto::get();
    let (bucket, arns) = start(moto, "once", &["noise-once"]).await;
    // Slack fails the first two sends (one attempt each): the invocation
    // fails (TATTLETAIL_FAIL_ON_UNDELIVERED) and is retried.
    let slack = Slack::start(&[500, 500]);
    let config = format!(
        "{}{}[[rule]]\nname = \"Create User\"\njq_match = 'select(.eventName == \"CreateUser\")'\ndestinations = [\"sns\", \"slack\"]\n",
        sns_dest(&arns[0]),
        slack_dest(&slack.url, "")
    );
    let root = bundle("noise-once", &config);
    let records: Vec<Value> = (0..5)
        .map(|i| {
            record(
                "CreateUser",
                "admin",
                "2026-11-30T10:00:00Z",
                &format!("once-{i}"),
            )
        })
        .collect();
    put(moto, &bucket, "AWSLogs/once.json", file(&records), false).await;
    let env = env_with(
        "state-once",
        &[
            ("TATTLETAIL_SEND_ATTEMPTS", "1".into()),
            ("TATTLETAIL_FAIL_ON_UNDELIVERED", "true".into()),
        ],
    );
    let mut f = function(moto, &env, &root);
    let event = s3_event(&bucket, &["AWSLogs/once.json"]);
    let err = f.invoke(event.clone()).unwrap_err();
    assert_eq!(err["errorType"], "Tattletail.TemporaryFailure", "{err}");
    assert_eq!(sns(moto, &arns[0]).len(), 5);
    assert_eq!(slack.posts().len(), 3);

    // The retry sends only the two Slack messages that failed.
    f.clear_logs();
    f.invoke(event.clone()).unwrap();
    assert_eq!(sns(moto, &arns[0]).len(), 5, "SNS got nothing twice");
    assert_eq!(slack.posts().len(), 5);
    let s = summary(&f);
    assert_eq!(
        (
            s["alerts_delivered"].as_u64(),
            s["sends_skipped_already_done"].as_u64()
        ),
        (Some(2), Some(8)),
        "{s}"
    );

    // The same notification again, and twice in one SQS batch: nothing new.
    f.invoke(event).unwrap();
    let answer = f
        .invoke(sqs_event(
            &bucket,
            &["AWSLogs/once.json", "AWSLogs/once.json"],
        ))
        .unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]));
    assert_eq!(sns(moto, &arns[0]).len(), 5);
    assert_eq!(slack.posts().len(), 5);
    let ids: std::collections::BTreeSet<String> = slack
        .posts()
        .iter()
        .map(|p| p["attachments"][0]["footer"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 5, "five different alerts on Slack");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_a_thousand_is_one_alert_and_one_threaded_follow_up_per_key() {
    let moto = Moto::get();
    let (bucket, arns) = start(moto, "burst", &["noise-burst"]).await;
    let api = SlackApi::start(&["xoxb-burst-token"], 0, 0);
    let config = format!(
        "{}[[destination]]\nid = \"soc\"\ntype = \"slack_app\"\ntoken = \"env:SLACK_BOT_TOKEN\"\nchannel = \"#soc\"\n\n\
         [[rule]]\nname = \"Console login\"\njq_match = 'select(.eventName == \"ConsoleLogin\")'\n\
         destinations = [\"sns\", \"soc\"]\ndedup = {{ key = '.userIdentity.arn', window = \"3s\" }}\n",
        sns_dest(&arns[0])
    );
    let root = bundle("noise-burst", &config);
    let records: Vec<Value> = (0..1000)
        .map(|i| {
            let who = if i % 2 == 0 { "alice" } else { "mallory" };
            record(
                "ConsoleLogin",
                who,
                "2026-11-30T10:00:00Z",
                &format!("burst-{i:04}"),
            )
        })
        .collect();
    put(moto, &bucket, "AWSLogs/burst.json", file(&records), false).await;
    let env = env_with(
        "state-burst",
        &[
            ("TATTLETAIL_SLACK_API_URL", api.url.clone()),
            ("SLACK_BOT_TOKEN", "xoxb-burst-token".into()),
        ],
    );
    let mut f = function(moto, &env, &root);
    f.invoke(s3_event(&bucket, &["AWSLogs/burst.json"]))
        .unwrap();
    assert_eq!(alerts(&sns(moto, &arns[0])).len(), 2, "one alert per actor");
    assert_eq!(api.posts().len(), 2);
    let s = summary(&f);
    assert_eq!(s["alerts_deduplicated"], 998, "{s}");
    assert!(
        follow_ups(&sns(moto, &arns[0])).is_empty(),
        "not before the window ends"
    );
    // S3 delivers the notification twice: nothing is sent again, and the
    // file's held alerts are counted once.
    f.invoke(s3_event(&bucket, &["AWSLogs/burst.json"]))
        .unwrap();
    assert_eq!(alerts(&sns(moto, &arns[0])).len(), 2);
    assert_eq!(api.posts().len(), 2);

    // The window ends; the scheduled sweep sends one follow-up per key.
    std::thread::sleep(Duration::from_millis(3_200));
    f.invoke(json!({"tattletail": "sweep"})).unwrap();
    let msgs = sns(moto, &arns[0]);
    let ups = follow_ups(&msgs);
    assert_eq!(ups.len(), 2, "{msgs:?}");
    for up in &ups {
        assert_eq!(up["follow_up"]["count"], 499, "{up}");
        assert_eq!(up["follow_up"]["reason"], "dedup");
    }
    // On Slack each follow-up is a reply in its alert's thread.
    let posts = api.posts();
    assert_eq!(posts.len(), 4);
    let (firsts, replies): (Vec<_>, Vec<_>) = posts
        .iter()
        .partition(|p| p.body.get("thread_ts").is_none());
    assert_eq!(firsts.len(), 2);
    let mut threads: Vec<&str> = replies
        .iter()
        .map(|p| p.body["thread_ts"].as_str().unwrap())
        .collect();
    let mut ts: Vec<&str> = firsts.iter().map(|p| p.ts.as_str()).collect();
    threads.sort_unstable();
    ts.sort_unstable();
    assert_eq!(threads, ts, "replies thread under the two alerts");
    // Sweeping again sends nothing more.
    f.invoke(json!({"tattletail": "sweep"})).unwrap();
    assert_eq!(api.posts().len(), 4);
    assert_eq!(follow_ups(&sns(moto, &arns[0])).len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_threshold_fires_on_the_tenth_event_of_a_group_not_the_ninth() {
    let moto = Moto::get();
    let (bucket, arns) = start(moto, "threshold", &["noise-threshold"]).await;
    let config = format!(
        "{}[[rule]]\nname = \"Access denied burst\"\njq_match = 'select(.errorCode == \"AccessDenied\")'\n\
         destinations = [\"sns\"]\nthreshold = {{ count = 10, window = \"5m\", group_by = '.userIdentity.arn' }}\n",
        sns_dest(&arns[0])
    );
    let root = bundle("noise-threshold", &config);
    let nine = |who: &str| -> Vec<Value> {
        (0..9)
            .map(|i| {
                record(
                    "ListUsers",
                    who,
                    &format!("2026-11-30T10:0{i}:00Z").replace("10:0", "10:0"),
                    &format!("{who}-{i}"),
                )
            })
            .map(|mut r| {
                // Nine within four and a half minutes.
                let i: i64 = r["eventID"]
                    .as_str()
                    .unwrap()
                    .rsplit('-')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                r["eventTime"] = json!(format!("2026-11-30T10:0{}:{:02}Z", i / 2, (i % 2) * 30));
                r
            })
            .collect()
    };
    let mut first = nine("mallory");
    first.extend(nine("bob"));
    put(moto, &bucket, "AWSLogs/t1.json", file(&first), false).await;
    let mut f = function(moto, &env_with("state-threshold", &[]), &root);
    f.invoke(s3_event(&bucket, &["AWSLogs/t1.json"])).unwrap();
    assert!(sns(moto, &arns[0]).is_empty(), "nine is not ten");
    assert_eq!(summary(&f)["matches_below_threshold"], 18);
    // The same file again (a retry) does not make nine eighteen.
    f.invoke(s3_event(&bucket, &["AWSLogs/t1.json"])).unwrap();
    assert!(
        sns(moto, &arns[0]).is_empty(),
        "a match seen twice counts once"
    );
    // The tenth of mallory's, in another file (another invocation).
    let tenth = record("ListUsers", "mallory", "2026-11-30T10:04:40Z", "mallory-9");
    put(moto, &bucket, "AWSLogs/t2.json", file(&[tenth]), false).await;
    f.invoke(s3_event(&bucket, &["AWSLogs/t2.json"])).unwrap();
    let msgs = sns(moto, &arns[0]);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(msgs[0]["record"]["eventID"], "mallory-9");
    // Outside the window (eleven minutes later) bob's tenth does not count.
    let late = record("ListUsers", "bob", "2026-11-30T10:15:00Z", "bob-9");
    put(moto, &bucket, "AWSLogs/t3.json", file(&[late]), false).await;
    f.invoke(s3_event(&bucket, &["AWSLogs/t3.json"])).unwrap();
    assert_eq!(sns(moto, &arns[0]).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cooldown_holds_a_rule_on_a_destination_then_says_how_many() {
    let moto = Moto::get();
    let (bucket, arns) = start(moto, "cooldown", &["noise-cooldown"]).await;
    let config = format!(
        "{}[[rule]]\nname = \"Root activity\"\njq_match = 'select(.eventName == \"CreateUser\")'\n\
         destinations = [\"sns\"]\ncooldown = \"3s\"\n",
        sns_dest(&arns[0])
    );
    let root = bundle("noise-cooldown", &config);
    let one = record("CreateUser", "root", "2026-11-30T10:00:00Z", "cool-0");
    let three: Vec<Value> = (1..4)
        .map(|i| {
            record(
                "CreateUser",
                "root",
                "2026-11-30T11:00:00Z",
                &format!("cool-{i}"),
            )
        })
        .collect();
    put(moto, &bucket, "AWSLogs/c1.json", file(&[one]), false).await;
    put(moto, &bucket, "AWSLogs/c2.json", file(&three), false).await;
    let mut f = function(moto, &env_with("state-cooldown", &[]), &root);
    f.invoke(s3_event(&bucket, &["AWSLogs/c1.json"])).unwrap();
    f.invoke(s3_event(&bucket, &["AWSLogs/c2.json"])).unwrap();
    assert_eq!(sns(moto, &arns[0]).len(), 1, "the rule is cooling down");
    assert_eq!(f.logs_named("alert_cooled_down").len(), 3);
    std::thread::sleep(Duration::from_millis(3_200));
    f.invoke(json!({"tattletail": "sweep"})).unwrap();
    let msgs = sns(moto, &arns[0]);
    let ups = follow_ups(&msgs);
    assert_eq!(ups.len(), 1, "{msgs:?}");
    assert_eq!(ups[0]["follow_up"]["reason"], "cooldown");
    assert_eq!(ups[0]["follow_up"]["count"], 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limit_overflow_is_summarised_never_dropped() {
    let moto = Moto::get();
    let (bucket, _) = start(moto, "rate", &[]).await;
    let slack = Slack::start(&[]);
    let config = format!(
        "{}[[rule]]\nname = \"Create User\"\njq_match = 'select(.eventName == \"CreateUser\")'\ndestinations = [\"slack\"]\n",
        slack_dest(&slack.url, "rate_limit = \"2/m\"")
    );
    let root = bundle("noise-rate", &config);
    let records: Vec<Value> = (0..6)
        .map(|i| {
            record(
                "CreateUser",
                "admin",
                "2026-11-30T10:00:00Z",
                &format!("rate-{i}"),
            )
        })
        .collect();
    put(moto, &bucket, "AWSLogs/rate.json", file(&records), false).await;
    let mut f = function(moto, &env_with("state-rate", &[]), &root);
    f.invoke(s3_event(&bucket, &["AWSLogs/rate.json"])).unwrap();
    let posts = slack.posts();
    assert_eq!(posts.len(), 3, "two alerts and one summary: {posts:?}");
    let throttled = f.logs_named("alert_throttled");
    assert_eq!(throttled.len(), 4);
    assert!(
        throttled.iter().all(|l| l["payload"]["record"]["eventID"]
            .as_str()
            .is_some_and(|id| id.starts_with("rate-"))),
        "each held alert is in the log: {throttled:?}"
    );
    let summary_post = posts
        .iter()
        .find(|p| p.to_string().contains("rate limit"))
        .expect("a summary");
    assert!(summary_post.to_string().contains('4'), "{summary_post}");
    assert_eq!(summary(&f)["alerts_throttled"], 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_send_claimed_by_an_invocation_that_died_goes_out_after_the_lease() {
    let moto = Moto::get();
    let (bucket, arns) = start(moto, "lease", &["noise-lease"]).await;
    let rule = "[[rule]]\nname = \"Create User\"\njq_match = 'select(.eventName == \"CreateUser\")'\ndestinations = [\"slack\"]\n";
    // The first invocation's Slack never answers: it dies mid-send.
    let hanging = Slack::hanging();
    let root1 = bundle(
        "noise-lease-1",
        &format!("{}{rule}", slack_dest(&hanging.url, "")),
    );
    put(
        moto,
        &bucket,
        "AWSLogs/lease.json",
        file(&[record("CreateUser", "a", "2026-11-30T10:00:00Z", "lease-0")]),
        false,
    )
    .await;
    let env = env_with(
        "state-lease",
        &[
            ("TATTLETAIL_CLAIM_LEASE_SECS", "10".into()),
            ("TATTLETAIL_SEND_TIMEOUT_SECS", "60".into()),
        ],
    );
    let mut f1 = function(moto, &env, &root1);
    let claimed_at = Instant::now();
    let event = s3_event(&bucket, &["AWSLogs/lease.json"]);
    assert!(
        f1.try_invoke(event.clone(), Duration::from_secs(2))
            .is_err(),
        "the send hangs"
    );
    let waited = Instant::now();
    while hanging.attempts() == 0 {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "the send never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(f1); // killed mid-send: its claim stays

    // The retry (with a Slack that answers) finds the claim live: it does
    // not send, and fails for a retry later.
    let slack = Slack::start(&[]);
    let root2 = bundle(
        "noise-lease-2",
        &format!("{}{rule}", slack_dest(&slack.url, "")),
    );
    let mut f2 = function(moto, &env, &root2);
    let err = f2.invoke(event.clone()).unwrap_err();
    assert!(
        claimed_at.elapsed() < Duration::from_secs(10),
        "the test was too slow to see the lease"
    );
    assert_eq!(err["errorType"], "Tattletail.TemporaryFailure", "{err}");
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .contains("another invocation"),
        "{err}"
    );
    assert_eq!(f2.logs_named("send_in_flight_elsewhere").len(), 1);
    assert!(slack.posts().is_empty());
    // After the lease the alert goes out, once.
    std::thread::sleep(
        Duration::from_secs(10).saturating_sub(claimed_at.elapsed()) + Duration::from_millis(500),
    );
    f2.invoke(event.clone()).unwrap();
    assert_eq!(slack.posts().len(), 1);
    f2.invoke(event).unwrap();
    assert_eq!(slack.posts().len(), 1);
    let _ = arns;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sigma_correlation_split_over_two_files_fires_once() {
    let moto = Moto::get();
    let (bucket, arns) = start(moto, "corr", &["noise-corr"]).await;
    let root = bundle(
        "noise-corr",
        &format!(
            "{}[[sigma]]\npath = \"sigma\"\ndestinations = [\"sns\"]\n",
            sns_dest(&arns[0])
        ),
    );
    std::fs::create_dir_all(root.join("sigma")).unwrap();
    std::fs::write(
        root.join("sigma/bf.yml"),
        "title: Failed console login\nname: failed_login\nlogsource: {product: aws, service: cloudtrail}\n\
         detection:\n    sel: {eventName: ConsoleLogin}\n    condition: sel\n---\n\
         title: Console login brute force\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n\
         \x20   group-by: [sourceIPAddress]\n    timespan: 10m\n    condition: {gte: 5}\n",
    )
    .unwrap();
    let logins = |range: std::ops::Range<i64>| -> Vec<Value> {
        range
            .map(|i| {
                record(
                    "ConsoleLogin",
                    "x",
                    &format!("2026-11-30T10:0{i}:00Z"),
                    &format!("bf-{i}"),
                )
            })
            .collect()
    };
    put(
        moto,
        &bucket,
        "AWSLogs/bf1.json",
        file(&logins(0..3)),
        false,
    )
    .await;
    put(
        moto,
        &bucket,
        "AWSLogs/bf2.json",
        file(&logins(3..6)),
        false,
    )
    .await;
    let mut f = function(moto, &env_with("state-corr", &[]), &root);
    f.invoke(s3_event(&bucket, &["AWSLogs/bf1.json"])).unwrap();
    assert!(
        sns(moto, &arns[0]).is_empty(),
        "the base rule only feeds the correlation"
    );
    f.invoke(s3_event(&bucket, &["AWSLogs/bf2.json"])).unwrap();
    let msgs = sns(moto, &arns[0]);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(msgs[0]["name"], "Console login brute force");
    assert_eq!(msgs[0]["record"]["correlation"]["count"], 5);
    // A retried file counts nothing twice.
    f.invoke(s3_event(&bucket, &["AWSLogs/bf2.json"])).unwrap();
    assert_eq!(sns(moto, &arns[0]).len(), 1);
}

/// What noise control adds to an invocation, on moto (not DynamoDB): 200
/// alerts to SNS without a table, with the table (claims), and with the
/// table and a dedup rule. Prints `duration_ms` of each; run with
/// `--ignored --nocapture` (BENCHMARKS.md).
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn noise_cost_on_moto() {
    let moto = Moto::get();
    let (bucket, arns) = start(moto, "cost", &["noise-cost"]).await;
    let records: Vec<Value> = (0..200)
        .map(|i| {
            record(
                "CreateUser",
                &format!("u{}", i % 4),
                "2026-11-30T10:00:00Z",
                &format!("cost-{i}"),
            )
        })
        .collect();
    let rule = |extra: &str| {
        format!(
            "{}[[rule]]\nname = \"Create User\"\njq_match = 'select(.eventName == \"CreateUser\")'\ndestinations = [\"sns\"]\n{extra}\n",
            sns_dest(&arns[0])
        )
    };
    for (label, table, extra) in [
        ("no table", false, ""),
        ("table, claims", true, ""),
        ("table, claims, dedup", true, "dedup = { window = \"1h\" }"),
    ] {
        let root = bundle(&format!("noise-cost-{}", label.len()), &rule(extra));
        let mut times = Vec::new();
        for run in 0..3 {
            let key = format!("AWSLogs/cost-{}-{run}.json", label.len());
            // Fresh event ids each run, so that claims are made, not skipped.
            let fresh: Vec<Value> = records
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    r["eventID"] = json!(format!(
                        "{}-{}-{run}",
                        r["eventID"].as_str().unwrap(),
                        label.len()
                    ));
                    r
                })
                .collect();
            put(moto, &bucket, &key, file(&fresh), false).await;
            let env = if table {
                env_with("state-cost", &[])
            } else {
                Vec::new()
            };
            let mut f = function(moto, &env, &root);
            f.invoke(s3_event(&bucket, &[&key])).unwrap();
            times.push(summary(&f)["duration_ms"].as_f64().unwrap());
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{label}: median {:.0} ms of {:?} (200 alerts, 1 SNS destination)",
            times[1], times
        );
    }
}
