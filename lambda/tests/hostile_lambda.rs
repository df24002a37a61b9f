//! The hostile-rules suite through the Lambda: every case of
//! `testdata/hostile/` is put into a local moto S3 (its config as the
//! function's S3 config, its log file as an object) and scanned by the
//! real `bootstrap` binary through a local Lambda Runtime API, one
//! invocation per case. The canary rules deliver to a local Slack
//! receiver. See `testdata/hostile/README.md` and `tests/hostile.rs` (the
//! same cases through the CLI).

#![cfg(feature = "aws")]

mod harness;
#[path = "../../cli/tests/hostile_cases/mod.rs"]
mod hostile_cases;

use std::time::{Duration, Instant};

use harness::{put, setup, temp_dir, Function, Moto, Slack};
use hostile_cases::{Case, Outcome, Row, CANARY_AFTER, CANARY_BEFORE, CANARY_IDS, HOSTILE};
use serde_json::{json, Value};

/// An invocation without an answer after this fails the case ("hung");
/// the function is then restarted for the next case.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);

const BUCKET: &str = "hostile-trail";
const CONFIG_KEY: &str = "config/tattletail.toml";

fn s3_event(key: &str) -> Value {
    json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": BUCKET, "arn": format!("arn:aws:s3:::{BUCKET}")},
               "object": {"key": key, "size": 1234}}
    }]})
}

fn start(moto: &Moto) -> Function {
    Function::start(
        moto,
        &[("S3_CONFIG_BUCKET", BUCKET), ("S3_CONFIG_PATH", CONFIG_KEY)],
        &temp_dir("hostile-lambda"),
    )
}

/// The config of a case, with the canaries delivering to Slack.
fn config(case: &Case, slack: &Slack) -> String {
    let tables = format!(
        "[[destination]]\nid = \"slack\"\ntype = \"slack_webhook\"\nwebhook_url = \"{}\"\n",
        slack.url
    );
    hostile_cases::config(case, Some((&tables, "[\"slack\"]")))
}

/// The first log line named `message`, or null.
fn first_log(logs: &[Value], message: &str) -> Value {
    logs.iter()
        .find(|l| l["message"] == message)
        .cloned()
        .unwrap_or(Value::Null)
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

async fn run_case(moto: &Moto, slack: &Slack, f: &mut Function, case: &Case) -> (Row, bool) {
    let key = format!("AWSLogs/hostile/{}.json", case.name);
    put(
        moto,
        BUCKET,
        CONFIG_KEY,
        config(case, slack).into_bytes(),
        false,
    )
    .await;
    put(moto, BUCKET, &key, hostile_cases::log_file(case), false).await;
    f.clear_logs();
    let posts_before = slack.posts().len();
    let started = Instant::now();
    let result = f.try_invoke(s3_event(&key), INVOKE_TIMEOUT);
    let mut row = Row {
        case: case.name.clone(),
        expected: case.expected(),
        observed: String::new(),
        secs: started.elapsed().as_secs_f64(),
        peak_mb: None,
        problems: Vec::new(),
    };
    let answer = match result {
        Ok(answer) => answer,
        Err(why) => {
            row.observed = if why.starts_with("no answer") {
                "hung"
            } else {
                "crashed"
            }
            .into();
            row.problems.push(format!(
                "the invocation failed: {why}\n{}",
                hostile_cases::tail(&f.log_text(), 8)
            ));
            return (row, true);
        }
    };
    let logs = f.logs();
    let text = f.log_text();
    if case.expect == [Outcome::Rejected] {
        match answer {
            Err(doc) => {
                row.observed = "rejected".into();
                let msg = doc["errorMessage"].as_str().unwrap_or_default();
                let message = case.message.as_deref().unwrap_or_default();
                for (what, needle) in [
                    ("the message", message.to_string()),
                    ("the rule name", format!("rule `{HOSTILE}`")),
                    (
                        "the config's position",
                        format!("s3://{BUCKET}/{CONFIG_KEY}:"),
                    ),
                ] {
                    if !msg.contains(&needle) {
                        row.problems.push(format!(
                            "the error lacks {what} {needle:?}:\n{}",
                            hostile_cases::tail(msg, 12)
                        ));
                    }
                }
            }
            Ok(answer) => {
                row.observed = "scanned".into();
                row.problems
                    .push(format!("the invocation succeeded: {answer}"));
            }
        }
        return (row, false);
    }
    if let Err(doc) = &answer {
        row.observed = "failed".into();
        row.problems.push(format!(
            "the invocation failed: {}\n{}",
            doc["errorMessage"],
            hostile_cases::tail(&text, 8)
        ));
        return (row, false);
    }
    // Both canaries delivered on both canary records: four Slack posts.
    let posts: Vec<Value> = slack.posts().into_iter().skip(posts_before).collect();
    let delivered: Vec<(String, String)> = posts
        .iter()
        .map(|p| {
            let att = &p["attachments"][0];
            let rule = att["fields"][0]["value"].as_str().unwrap_or("").to_string();
            let record: Value =
                serde_json::from_str(att["text"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
            (rule, record["eventID"].as_str().unwrap_or("").to_string())
        })
        .collect();
    for rule in [CANARY_BEFORE, CANARY_AFTER] {
        for id in CANARY_IDS {
            let n = delivered
                .iter()
                .filter(|(r, i)| r == rule && i == id)
                .count();
            if n != 1 {
                row.problems.push(format!(
                    "{rule} was delivered {n} times for {id}, expected once"
                ));
            }
        }
    }
    if posts.len() != 4 {
        row.problems
            .push(format!("{} Slack posts, expected 4", posts.len()));
    }
    let done = first_log(&logs, "invocation_complete");
    let object = first_log(&logs, "object_complete");
    if done.is_null() || object.is_null() {
        row.observed = "incomplete".into();
        row.problems.push(format!(
            "no invocation_complete and object_complete lines\n{}",
            hostile_cases::tail(&text, 8)
        ));
        return (row, false);
    }
    let errors = count(&done["rule_errors"][HOSTILE]);
    let example = object["rule_error_examples"][HOSTILE][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let quarantined = logs
        .iter()
        .any(|l| l["message"] == "rule_quarantined" && l["rule"] == HOSTILE);
    let hostile_alerts = logs
        .iter()
        .filter(|l| {
            l["message"] == "rule_matched"
                && l["rule"] == HOSTILE
                && !CANARY_IDS.iter().any(|id| l["event_id"] == *id)
        })
        .count() as u64;
    let hostile_anywhere = count(&object["alerts_by_rule"][HOSTILE]);
    let bad_records = count(&object["bad_records"]);
    let budget = example.contains("budget exceeded");
    let observed = if quarantined {
        Outcome::Quarantined
    } else if errors > 0 && budget {
        Outcome::Budget
    } else if errors > 0 {
        Outcome::Error
    } else if bad_records > 0 {
        Outcome::Unreadable
    } else if hostile_alerts > 0 {
        Outcome::Alert
    } else {
        Outcome::NoAlert
    };
    row.observed = observed.name().into();
    if !case.expect.contains(&observed) {
        row.problems.push(format!(
            "expected {}, observed {} (invocation_complete.rule_errors.{HOSTILE} = {errors}; first error: {example})",
            case.expected(),
            observed.name()
        ));
    }
    match observed {
        Outcome::Error | Outcome::Budget => {
            if let Some(m) = case.error_message() {
                if !example.contains(m) {
                    row.problems.push(format!(
                        "the error example does not contain {m:?}: {example}"
                    ));
                }
            }
        }
        Outcome::Quarantined if errors < 10 => row.problems.push(format!(
            "quarantined, yet invocation_complete counts {errors} rule errors"
        )),
        Outcome::NoAlert if hostile_anywhere > 0 => row.problems.push(format!(
            "no_alert, yet the rule alerted {hostile_anywhere} times"
        )),
        _ => {}
    }
    if let Some(n) = case.alerts {
        if hostile_alerts != n {
            row.problems.push(format!(
                "the rule alerted {hostile_alerts} times on the hostile records, expected {n}"
            ));
        }
    }
    if !row.problems.is_empty() {
        row.problems.push(format!(
            "the function's log:\n{}",
            hostile_cases::tail(&text, 12)
        ));
    }
    if text.contains("tattletail-test-secret")
        || posts
            .iter()
            .any(|p| p.to_string().contains("tattletail-test-secret"))
    {
        row.problems
            .push("the function's AWS secret key leaked into its output".into());
    }
    (row, false)
}

#[tokio::test(flavor = "multi_thread")]
async fn no_rule_and_no_record_can_stop_crash_or_hang_the_lambda() {
    let (cases, title) = hostile_cases::selected("hostile-rules suite (Lambda)");
    let moto = Moto::get();
    setup(moto, BUCKET, &[], &[]).await;
    let slack = Slack::start(&[]);
    let mut f = start(moto);
    let mut rows = Vec::new();
    for case in &cases {
        let (mut row, restart) = run_case(moto, &slack, &mut f, case).await;
        if row.secs > hostile_cases::CASE_LIMIT.as_secs_f64() {
            row.problems.push(format!(
                "took {:.1} s, more than {} s",
                row.secs,
                hostile_cases::CASE_LIMIT.as_secs()
            ));
        }
        if restart {
            // The function crashed or is stuck in this case: a fresh one
            // for the next.
            drop(f);
            f = start(moto);
        }
        rows.push(row);
    }
    let report = hostile_cases::table(&title, &rows);
    println!("{report}");
    let failed = rows.iter().filter(|r| !r.problems.is_empty()).count();
    assert_eq!(failed, 0, "{report}");
}
