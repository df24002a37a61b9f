//! Real components for the end-to-end tests: a moto server (S3, SNS, SES),
//! a Slack webhook receiver, a Lambda Runtime API server, and the
//! `bootstrap` binary run against them. Nothing here fakes tattletail's
//! own behaviour; every assertion reads what the real peers received.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::BehaviorVersion;
use aws_sdk_s3::config::{Credentials, Region};
use serde_json::Value;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Gzip bytes.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// A plain HTTP/1.0 request to a loopback server; (status, body).
pub fn http(method: &str, url: &str, body: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} /{path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_string())
}

/// A moto server, shared by every test of one test binary. It exits when
/// the test process does (its stdin is a pipe from us; a watchdog thread
/// in the server exits when that pipe closes).
pub struct Moto {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    _child: Mutex<(Child, ChildStdin)>,
}

const MOTO_BOOT: &str = r#"
import os, sys, threading
def watch():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
from moto.server import main
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
"#;

impl Moto {
    /// The shared server, started on first use. Fails (never skips) when
    /// moto cannot be started: `bash scripts/test` installs it.
    pub fn get() -> &'static Moto {
        static MOTO: OnceLock<Moto> = OnceLock::new();
        MOTO.get_or_init(Moto::start)
    }

    fn start() -> Moto {
        let python = std::env::var("TATTLETAIL_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let port = free_port();
        let log = std::env::temp_dir().join(format!("tattletail-moto-{port}.log"));
        let mut child = Command::new(&python)
            .args(["-c", MOTO_BOOT, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {python} for moto: {e}; run `bash scripts/test`, which installs moto[server]"));
        let stdin = child.stdin.take().unwrap();
        let endpoint = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok()
                && http("GET", &format!("{endpoint}/moto-api/data.json"), "").0 == 200
            {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "moto exited ({status}) before serving; is moto[server] installed? (bash scripts/test installs it)\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "moto did not start in 90 s:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            endpoint,
            _child: Mutex::new((child, stdin)),
        }
    }

    /// moto's view of everything it holds.
    pub fn data(&self) -> Value {
        let (status, body) = http("GET", &format!("{}/moto-api/data.json", self.endpoint), "");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Messages published to a topic: (message, attributes).
    pub fn sns_messages(&self, topic_arn: &str) -> Vec<(String, Value)> {
        let data = self.data();
        data["sns"]["Topic"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["arn"] == topic_arn)
            .flat_map(|t| {
                t["sent_notifications"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .map(|n| (n[1].as_str().unwrap().to_string(), n[3].clone()))
            .collect()
    }

    /// Emails sent to `to`.
    pub fn emails_to(&self, to: &str) -> Vec<Value> {
        let data = self.data();
        data["ses"]["Message"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|m| {
                m["destinations"]["ToAddresses"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == to))
            })
            .collect()
    }

    /// An SDK config pointing at moto with static test credentials.
    pub async fn sdk(&self) -> aws_config::SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
            .load()
            .await
    }

    /// An S3 client (path-style, as local servers need).
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk().await)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// The environment a process needs to talk to this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            // Distinctive, so a test can prove rules never see it.
            (
                "AWS_SECRET_ACCESS_KEY",
                "tattletail-test-secret-do-not-leak",
            ),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

/// Create a bucket, topics and verified SES identities for one test.
pub async fn setup(moto: &Moto, bucket: &str, topics: &[&str], identities: &[&str]) -> Vec<String> {
    let conf = moto.sdk().await;
    moto.s3()
        .await
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let sns = aws_sdk_sns::Client::new(&conf);
    let mut arns = Vec::new();
    for t in topics {
        let out = sns.create_topic().name(*t).send().await.unwrap();
        arns.push(out.topic_arn().unwrap().to_string());
    }
    let ses = aws_sdk_sesv2::Client::new(&conf);
    for id in identities {
        ses.create_email_identity()
            .email_identity(*id)
            .send()
            .await
            .unwrap();
    }
    arns
}

/// Upload an object.
pub async fn put(moto: &Moto, bucket: &str, key: &str, body: Vec<u8>, gzip_encoding: bool) {
    let mut req = moto
        .s3()
        .await
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into());
    if gzip_encoding {
        req = req.content_encoding("gzip");
    }
    req.send().await.unwrap();
}

/// A Slack webhook receiver. It can answer the first requests with error
/// statuses (429 with `Retry-After: 1`, 500, ...) to exercise retries, or
/// never answer at all ([`Slack::hanging`]).
pub struct Slack {
    /// The webhook URL (with a secret-looking path).
    pub url: String,
    posts: Arc<Mutex<Vec<Value>>>,
    attempts: Arc<Mutex<u32>>,
}

impl Slack {
    /// Start one; `fail_first` statuses are answered before any 200
    /// (status 0: no answer for 20 s, then the connection is dropped).
    pub fn start(fail_first: &[u16]) -> Slack {
        Slack::start_with(fail_first, false)
    }

    /// One that never answers: every request stays open until the client
    /// gives up.
    pub fn hanging() -> Slack {
        Slack::start_with(&[], true)
    }

    fn start_with(fail_first: &[u16], hang: bool) -> Slack {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let posts = Arc::new(Mutex::new(Vec::new()));
        let attempts = Arc::new(Mutex::new(0));
        let mut failures: VecDeque<u16> = fail_first.iter().copied().collect();
        let (p, a) = (posts.clone(), attempts.clone());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for mut req in server.incoming_requests() {
                let mut body = String::new();
                let _ = req.as_reader().read_to_string(&mut body);
                *a.lock().unwrap() += 1;
                if hang {
                    held.push(req);
                    continue;
                }
                let response = match failures.pop_front() {
                    Some(0) => {
                        std::thread::sleep(Duration::from_secs(20));
                        continue;
                    }
                    Some(status) => {
                        let mut r = tiny_http::Response::from_string("rate_limited")
                            .with_status_code(status);
                        if status == 429 {
                            r.add_header(
                                tiny_http::Header::from_bytes("Retry-After", "1").unwrap(),
                            );
                        }
                        r
                    }
                    None => {
                        p.lock()
                            .unwrap()
                            .push(serde_json::from_str(&body).unwrap_or(Value::String(body)));
                        tiny_http::Response::from_string("ok")
                    }
                };
                let _ = req.respond(response);
            }
        });
        Slack {
            url: format!("http://127.0.0.1:{port}/services/T0TEST/B0TEST/SeCrEtWeBhOoKtOkEn"),
            posts,
            attempts,
        }
    }

    /// Accepted posts.
    pub fn posts(&self) -> Vec<Value> {
        self.posts.lock().unwrap().clone()
    }

    /// Requests received, failed ones included.
    pub fn attempts(&self) -> u32 {
        *self.attempts.lock().unwrap()
    }
}

type Outcome = Result<Value, Value>;

/// A Lambda Runtime API server and the `bootstrap` binary polling it.
pub struct Function {
    events: mpsc::Sender<(String, Value, u128)>,
    results: mpsc::Receiver<(String, Outcome)>,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
    counter: u32,
}

impl Function {
    /// Start `bootstrap` with `env` (plus moto's), in `task_root`.
    pub fn start(moto: &Moto, env: &[(&str, &str)], task_root: &Path) -> Function {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let (ev_tx, ev_rx) = mpsc::channel::<(String, Value, u128)>();
        let (res_tx, res_rx) = mpsc::channel::<(String, Outcome)>();
        std::thread::spawn(move || runtime_api(server, ev_rx, res_tx));
        // TATTLETAIL_TEST_BOOTSTRAP runs the suite against another build
        // (a release `bootstrap`, for memory figures).
        let binary = std::env::var_os("TATTLETAIL_TEST_BOOTSTRAP").map_or_else(
            // (Shared with the CLI's tests, which have no `bootstrap`.)
            || match option_env!("CARGO_BIN_EXE_bootstrap") {
                Some(p) => PathBuf::from(p),
                None => panic!("bootstrap is built with the tattletail-lambda tests only"),
            },
            PathBuf::from,
        );
        let mut cmd = Command::new(binary);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
            .env("AWS_LAMBDA_FUNCTION_NAME", "tattletail-test")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/tattletail-test")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("LAMBDA_TASK_ROOT", task_root)
            .current_dir(task_root)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in moto.env() {
            cmd.env(k, v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("cannot start bootstrap");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let l = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                l.lock().unwrap().push(line);
            }
        });
        Function {
            events: ev_tx,
            results: res_rx,
            child,
            logs,
            counter: 0,
        }
    }

    /// Invoke once and wait for the answer: `Ok(response)` or
    /// `Err(error document)`.
    pub fn invoke(&mut self, event: Value) -> Outcome {
        match self.try_invoke(event, Duration::from_secs(120)) {
            Ok(outcome) => outcome,
            Err(why) => panic!("{why}\n{}", self.log_text()),
        }
    }

    /// Invoke once and wait up to `timeout` for the answer. `Err` says why
    /// there was none: `bootstrap` failed to initialise, exited (a crash),
    /// or did not answer in time (it is then still running: drop this
    /// `Function` to kill it).
    pub fn try_invoke(&mut self, event: Value, timeout: Duration) -> Result<Outcome, String> {
        self.try_invoke_within(event, timeout, Duration::from_secs(300))
    }

    /// Invoke once with the invocation deadline (`Lambda-Runtime-Deadline-Ms`)
    /// `deadline` from now, and wait for the answer.
    pub fn invoke_within(&mut self, event: Value, deadline: Duration) -> Outcome {
        let wait = deadline + Duration::from_secs(60);
        match self.try_invoke_within(event, wait, deadline) {
            Ok(outcome) => outcome,
            Err(why) => panic!("{why}\n{}", self.log_text()),
        }
    }

    /// [`Function::try_invoke`] with the invocation deadline `deadline`
    /// from now.
    pub fn try_invoke_within(
        &mut self,
        event: Value,
        timeout: Duration,
        deadline: Duration,
    ) -> Result<Outcome, String> {
        self.counter += 1;
        let id = format!("req-{}-{}", std::process::id(), self.counter);
        let deadline_ms = (SystemTime::now() + deadline)
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        self.events
            .send((id.clone(), event, deadline_ms))
            .map_err(|_| "the Runtime API server has stopped".to_string())?;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(200));
            match self.results.recv_timeout(left) {
                Ok((rid, outcome)) if rid == id => return Ok(outcome),
                Ok((rid, outcome)) if rid == "init" => {
                    return Err(format!("bootstrap failed to initialise: {outcome:?}"))
                }
                Ok(_) => continue,
                Err(_) => {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        return Err(format!("bootstrap exited ({status})"));
                    }
                    if Instant::now() >= deadline {
                        return Err(format!("no answer in {} s", timeout.as_secs()));
                    }
                }
            }
        }
    }

    /// Every log line so far, parsed.
    pub fn logs(&self) -> Vec<Value> {
        // Let the reader thread catch up with what was printed.
        std::thread::sleep(Duration::from_millis(50));
        self.logs
            .lock()
            .unwrap()
            .iter()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    /// Log lines with this `message`.
    pub fn logs_named(&self, message: &str) -> Vec<Value> {
        self.logs()
            .into_iter()
            .filter(|l| l["message"] == message)
            .collect()
    }

    /// The process id of `bootstrap`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The peak resident set size of `bootstrap` so far, in KiB (`VmHWM`
    /// of `/proc/PID/status`).
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("bootstrap is running");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status")
    }

    /// The raw log text.
    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Drop the log lines seen so far.
    pub fn clear_logs(&self) {
        std::thread::sleep(Duration::from_millis(50));
        self.logs.lock().unwrap().clear();
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name, value).unwrap()
}

/// The Runtime API, as Lambda serves it to a custom runtime.
fn runtime_api(
    server: tiny_http::Server,
    events: mpsc::Receiver<(String, Value, u128)>,
    results: mpsc::Sender<(String, Outcome)>,
) {
    for mut req in server.incoming_requests() {
        let url = req.url().to_string();
        let mut body = String::new();
        let _ = req.as_reader().read_to_string(&mut body);
        let parsed = || serde_json::from_str(&body).unwrap_or(Value::String(body.clone()));
        if url.ends_with("/runtime/invocation/next") {
            let Ok((id, event, deadline)) = events.recv() else {
                return;
            };
            let response = tiny_http::Response::from_string(event.to_string())
                .with_header(header("Lambda-Runtime-Aws-Request-Id", &id))
                .with_header(header("Lambda-Runtime-Deadline-Ms", &deadline.to_string()))
                .with_header(header(
                    "Lambda-Runtime-Invoked-Function-Arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:tattletail-test",
                ))
                .with_header(header(
                    "Lambda-Runtime-Trace-Id",
                    "Root=1-00000000-000000000000000000000000",
                ))
                .with_header(header("Content-Type", "application/json"));
            let _ = req.respond(response);
        } else if let Some(rest) = url.strip_prefix("/2018-06-01/runtime/invocation/") {
            let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
            let outcome = if kind == "response" {
                Ok(parsed())
            } else {
                Err(parsed())
            };
            let _ = req.respond(tiny_http::Response::from_string("{}").with_status_code(202));
            let _ = results.send((id.to_string(), outcome));
        } else if url.ends_with("/runtime/init/error") {
            let _ = req.respond(tiny_http::Response::from_string("{}").with_status_code(202));
            let _ = results.send(("init".to_string(), Err(parsed())));
        } else {
            let _ =
                req.respond(tiny_http::Response::from_string("not found").with_status_code(404));
        }
    }
}

/// A fresh directory under the target dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tattletail-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// Shared by the Lambda's end-to-end tests and the CLI's `--send` tests.

/// Upstream's test file: three records, the second a CreateUser of user1.
pub fn upstream_file() -> Vec<u8> {
    std::fs::read(root().join("corpus/samples/cloudtrail-tattletail-1.json")).unwrap()
}

/// A config with an SNS, an SES and a Slack destination and two
/// CreateUser rules (one of them probing the environment).
pub fn config(topic: &str, to: &str, slack: &str, description: &str) -> String {
    format!(
        r#"
[[destination]]
id = "sns"
type = "sns"
sns_arn = "{topic}"

[[destination]]
id = "mail"
type = "ses"
to_emails = ["{to}"]
from_email = "tattletail@example.com"

[[destination]]
id = "slack"
type = "slack_webhook"
webhook_url = "{slack}"

[[rule]]
name = "Create User"
jq_match = 'select(.eventName == "CreateUser") | "username: \(.requestParameters.userName)"'
description = "{description}"
destinations = ["sns", "mail", "slack"]

[[rule]]
name = "Env probe"
jq_match = 'select(.eventName == "CreateUser") | [env, $ENV] | tostring'
destinations = ["sns"]
"#
    )
}

/// The SNS messages of `rule`, parsed, with their attributes.
pub fn parse_messages(msgs: &[(String, Value)], rule: &str) -> Vec<(Value, Value)> {
    msgs.iter()
        .map(|(m, a)| (serde_json::from_str::<Value>(m).unwrap(), a.clone()))
        .filter(|(m, _)| m["name"] == rule)
        .collect()
}
