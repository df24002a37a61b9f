//! `tattletail scan --send` and `s3://` inputs against real peers: a local
//! moto server (S3, SNS, SES) and a local Slack webhook receiver, through
//! the same delivery code as the Lambda; and proof that AWS is touched only
//! when something needs it (a stand-in EC2 metadata service that counts
//! connections).

#![cfg(feature = "aws")]

#[path = "../../lambda/tests/harness/mod.rs"]
mod harness;
#[path = "../../lambda/tests/harness/state_table.rs"]
mod state_table;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use harness::{config, gzip, parse_messages, put, setup, temp_dir, upstream_file, Moto, Slack};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tattletail");

#[tokio::test(flavor = "multi_thread")]
async fn cli_scans_an_s3_prefix_and_sends_like_the_lambda() {
    let moto = Moto::get();
    let bucket = "cli-trail";
    let to = "soc-cli@example.com";
    let arns = setup(moto, bucket, &["cli-alerts"], &["tattletail@example.com"]).await;
    let slack = Slack::start(&[]);
    for i in 0..5 {
        let key = format!("AWSLogs/123456789012/CloudTrail/us-east-1/2021/07/1{i}/f{i}.json.gz");
        put(moto, bucket, &key, gzip(&upstream_file()), false).await;
    }
    put(
        moto,
        bucket,
        "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/d.json.gz",
        gzip(b"{}"),
        false,
    )
    .await;
    put(moto, bucket, "elsewhere/f.json", upstream_file(), false).await;
    let dir = temp_dir("cli");
    let cfg = dir.join("tattletail.toml");
    std::fs::write(&cfg, config(&arns[0], to, &slack.url, "from the CLI")).unwrap();
    let run = |send: bool| {
        let mut cmd = Command::new(BIN);
        cmd.args(["scan", "--format", "jsonl", "--config"])
            .arg(&cfg)
            .arg(format!("s3://{bucket}/AWSLogs/"))
            .env_remove("AWS_PROFILE");
        if send {
            cmd.arg("--send");
        }
        for (k, v) in moto.env() {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    // Without --send: printed only.
    let out = run(false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 10, "5 objects x 2 rules");
    assert!(lines.iter().all(|l| l["file"]
        .as_str()
        .unwrap()
        .starts_with("s3://cli-trail/AWSLogs/")));
    assert!(
        stderr.contains("skipped s3://cli-trail/AWSLogs/123456789012/CloudTrail-Digest/"),
        "{stderr}"
    );
    assert!(moto.sns_messages(&arns[0]).is_empty());
    assert!(slack.posts().is_empty());
    // With --send: delivered exactly as the Lambda does.
    let out = run(true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("sent: 20 delivered, 0 undelivered"),
        "{stderr}"
    );
    let create = parse_messages(&moto.sns_messages(&arns[0]), "Create User");
    assert_eq!(create.len(), 5);
    assert_eq!(create[0].0["match"], "username: user1");
    assert_eq!(create[0].0["description"], "from the CLI");
    assert_eq!(moto.emails_to(to).len(), 5);
    assert_eq!(slack.posts().len(), 5);
    assert!(!stderr.contains("SeCrEtWeBhOoKtOkEn"));
}

/// A stand-in EC2 instance metadata service: counts connections, answers
/// none of them.
struct Imds {
    url: String,
    connections: Arc<AtomicUsize>,
}

impl Imds {
    fn start() -> Imds {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let c = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                c.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Imds { url, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// `tattletail ARGS` on a machine with no AWS configuration at all: no
/// region, no credentials, no profile, and the metadata service at `imds`.
fn without_aws(args: &[&str], imds: &Imds, dir: &Path) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir);
    for var in [
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_EC2_METADATA_DISABLED",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    ] {
        cmd.env_remove(var);
    }
    // HOME is an empty directory: no ~/.aws profile either.
    cmd.env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.url)
        .env("HOME", dir);
    cmd.output().unwrap()
}

const SLACK_ONLY: &str = r#"
[[destination]]
id = "slack"
type = "slack_webhook"
webhook_url = "SLACK"

[[rule]]
name = "Create User"
jq_match = 'select(.eventName == "CreateUser") | "username: \(.requestParameters.userName)"'
destinations = ["slack"]
"#;

#[test]
fn a_slack_only_send_touches_no_aws_and_a_local_scan_no_network() {
    let imds = Imds::start();
    let slack = Slack::start(&[]);
    let dir = temp_dir("slack-only");
    std::fs::write(dir.join("log.json"), upstream_file()).unwrap();
    std::fs::write(
        dir.join("tattletail.toml"),
        SLACK_ONLY.replace("SLACK", &slack.url),
    )
    .unwrap();
    // A local scan: printed, nothing sent, no connection anywhere.
    let out = without_aws(
        &["scan", "--config", "tattletail.toml", "log.json"],
        &imds,
        &dir,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    assert!(slack.posts().is_empty() && slack.attempts() == 0);
    assert_eq!(imds.connections(), 0, "{stderr}");
    // --send to Slack alone: the post goes out, AWS is never asked for a
    // region or credentials (no metadata connection, no warning).
    let out = without_aws(
        &["scan", "--send", "--config", "tattletail.toml", "log.json"],
        &imds,
        &dir,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("sent: 1 delivered, 0 undelivered"),
        "{stderr}"
    );
    assert_eq!(slack.posts().len(), 1);
    assert_eq!(imds.connections(), 0, "{stderr}");
    assert!(
        !stderr.contains("WARN") && !stderr.contains("metadata"),
        "{stderr}"
    );
}

#[test]
fn an_s3_input_without_a_region_says_how_to_set_one() {
    let imds = Imds::start();
    let dir = temp_dir("no-region");
    let out = without_aws(&["scan", "s3://some-bucket/AWSLogs/"], &imds, &dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("AWS_REGION"), "{stderr}");
    assert_eq!(imds.connections(), 0, "{stderr}");
}

/// `--state-table`: a backfill shares the Lambda's exactly-once claims, so
/// a second run (or a run over what the Lambda already sent) sends nothing
/// twice; without a table, noise control lives in the run and its windows
/// are all summarised at the end.
#[tokio::test(flavor = "multi_thread")]
async fn a_state_table_makes_a_second_backfill_send_nothing_and_dedup_summarises_at_the_end() {
    let moto = Moto::get();
    let bucket = "cli-noise";
    let arns = setup(moto, bucket, &["cli-noise-alerts"], &[]).await;
    state_table::table(moto, "cli-noise-state").await;
    let base: Value = serde_json::from_slice(&upstream_file()).unwrap();
    for i in 0..3 {
        let mut r = base["Records"][1].clone();
        r["eventID"] = serde_json::json!(format!("cli-noise-{i}"));
        let body = serde_json::json!({"Records": [r]}).to_string();
        put(
            moto,
            bucket,
            &format!("AWSLogs/n{i}.json"),
            body.into_bytes(),
            false,
        )
        .await;
    }
    let dir = temp_dir("cli-noise");
    let sns = format!(
        "[[destination]]\nid = \"sns\"\ntype = \"sns\"\nsns_arn = \"{}\"\n\n",
        arns[0]
    );
    let plain = dir.join("plain.toml");
    std::fs::write(
        &plain,
        format!("{sns}[[rule]]\nname = \"Create User\"\njq_match = 'select(.eventName == \"CreateUser\")'\ndestinations = [\"sns\"]\n"),
    )
    .unwrap();
    let run = |cfg: &Path, table: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.args(["scan", "--quiet", "--summary", "text", "--send", "--config"])
            .arg(cfg)
            .arg(format!("s3://{bucket}/AWSLogs/"))
            .env_remove("AWS_PROFILE");
        if let Some(t) = table {
            cmd.args(["--state-table", t]);
        }
        for (k, v) in moto.env() {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = run(&plain, Some("cli-noise-state"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("sent: 3 delivered, 0 undelivered\n"),
        "{stderr}"
    );
    let out = run(&plain, Some("cli-noise-state"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sent: 0 delivered, 0 undelivered, 3 already sent"),
        "{stderr}"
    );
    assert_eq!(moto.sns_messages(&arns[0]).len(), 3);

    // Dedup without a table: one alert, then the run's end brings the
    // follow-up with the two held back.
    let dedup = dir.join("dedup.toml");
    std::fs::write(
        &dedup,
        format!("{sns}[[rule]]\nname = \"Create User once\"\njq_match = 'select(.eventName == \"CreateUser\")'\ndestinations = [\"sns\"]\ndedup = {{ window = \"1h\" }}\n"),
    )
    .unwrap();
    let out = run(&dedup, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sent: 2 delivered, 0 undelivered, 2 held back by dedup, threshold or cooldown, 1 follow-up(s)"),
        "{stderr}"
    );
    let msgs: Vec<Value> = moto
        .sns_messages(&arns[0])
        .iter()
        .map(|(m, _)| serde_json::from_str(m).unwrap())
        .filter(|m: &Value| m["name"] == "Create User once")
        .collect();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[1]["follow_up"]["count"], 2, "{}", msgs[1]);
}
