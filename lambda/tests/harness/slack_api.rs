//! Real peers for the `slack_app` and `webhook` destinations: a local
//! stand-in of Slack's Web API `chat.postMessage` that enforces what the
//! real one does (the bearer token, the payload's shape, Block Kit limits,
//! rate limiting with `Retry-After`), and a webhook receiver that verifies
//! the HMAC signature as the README tells receivers to. Both record what
//! they accepted. (Included by `e2e_destinations.rs` only: it needs the
//! `hmac` and `sha2` crates, which the CLI's tests, sharing `mod.rs`, lack.)
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// One accepted `chat.postMessage`.
#[derive(Clone, Debug)]
pub struct Post {
    /// The JSON body.
    pub body: Value,
    /// The `ts` answered.
    pub ts: String,
    /// The bearer token it came with.
    pub token: String,
}

/// Slack's `chat.postMessage`, locally.
pub struct SlackApi {
    /// The base URL (`TATTLETAIL_SLACK_API_URL`).
    pub url: String,
    posts: Arc<Mutex<Vec<Post>>>,
    attempts: Arc<Mutex<u32>>,
}

fn respond(req: tiny_http::Request, status: u16, body: Value, retry_after: bool) {
    let mut r = tiny_http::Response::from_string(body.to_string())
        .with_status_code(status)
        .with_header(tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap());
    if retry_after {
        r.add_header(tiny_http::Header::from_bytes("Retry-After", "1").unwrap());
    }
    let _ = req.respond(r);
}

/// What Slack says about a message's blocks: `None` when valid.
fn block_problem(body: &Value) -> Option<String> {
    let blocks = body.get("blocks")?;
    let Some(blocks) = blocks.as_array() else {
        return Some("blocks is not an array".into());
    };
    if blocks.len() > 50 {
        return Some(format!("{} blocks", blocks.len()));
    }
    let chars = |v: &Value| v.as_str().map(|t| t.chars().count());
    for b in blocks {
        match b["type"].as_str() {
            Some("header") => {
                if b["text"]["type"] != "plain_text"
                    || chars(&b["text"]["text"]).is_none_or(|n| n == 0 || n > 150)
                {
                    return Some("header".into());
                }
            }
            Some("section") => {
                let text = b.get("text");
                if let Some(t) = text {
                    if chars(&t["text"]).is_none_or(|n| n == 0 || n > 3000) {
                        return Some("section text".into());
                    }
                }
                let fields = b.get("fields");
                if let Some(f) = fields {
                    let Some(f) = f.as_array() else {
                        return Some("section fields".into());
                    };
                    if f.is_empty()
                        || f.len() > 10
                        || f.iter()
                            .any(|x| chars(&x["text"]).is_none_or(|n| n == 0 || n > 2000))
                    {
                        return Some("section fields".into());
                    }
                }
                if text.is_none() && fields.is_none() {
                    return Some("empty section".into());
                }
            }
            Some("context") => {
                if b["elements"]
                    .as_array()
                    .is_none_or(|e| e.is_empty() || e.len() > 10)
                {
                    return Some("context".into());
                }
            }
            other => return Some(format!("block type {other:?}")),
        }
    }
    None
}

impl SlackApi {
    /// Start one accepting any of `tokens`; the first `rate_limited` calls are
    /// answered HTTP 429 with `Retry-After: 1`, the next `ok_false_ratelimited`
    /// with HTTP 200 `{"ok":false,"error":"ratelimited"}`.
    pub fn start(tokens: &[&str], rate_limited: usize, ok_false_ratelimited: usize) -> SlackApi {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let posts = Arc::new(Mutex::new(Vec::new()));
        let attempts = Arc::new(Mutex::new(0u32));
        let (p, a) = (posts.clone(), attempts.clone());
        let want: Vec<String> = tokens.iter().map(|t| format!("Bearer {t}")).collect();
        let mut limited: VecDeque<bool> = std::iter::repeat_n(true, rate_limited)
            .chain(std::iter::repeat_n(false, ok_false_ratelimited))
            .collect();
        std::thread::spawn(move || {
            let mut n = 0u64;
            for mut req in server.incoming_requests() {
                *a.lock().unwrap() += 1;
                let mut text = String::new();
                let _ = req.as_reader().read_to_string(&mut text);
                if req.url() != "/api/chat.postMessage" || *req.method() != tiny_http::Method::Post
                {
                    respond(
                        req,
                        404,
                        json!({"ok": false, "error": "unknown_method"}),
                        false,
                    );
                    continue;
                }
                if let Some(http_429) = limited.pop_front() {
                    if http_429 {
                        respond(req, 429, json!({"ok": false, "error": "ratelimited"}), true);
                    } else {
                        respond(req, 200, json!({"ok": false, "error": "ratelimited"}), true);
                    }
                    continue;
                }
                let auth = req
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("Authorization"))
                    .map(|h| h.value.as_str().to_string());
                let Some(token) = auth
                    .as_deref()
                    .filter(|a| want.iter().any(|w| w == a))
                    .map(|a| a.trim_start_matches("Bearer ").to_string())
                else {
                    let error = if auth.is_none() {
                        "not_authed"
                    } else {
                        "invalid_auth"
                    };
                    respond(req, 200, json!({"ok": false, "error": error}), false);
                    continue;
                };
                let Ok(body) = serde_json::from_str::<Value>(&text) else {
                    respond(
                        req,
                        200,
                        json!({"ok": false, "error": "invalid_json"}),
                        false,
                    );
                    continue;
                };
                let channel = body["channel"].as_str().unwrap_or("");
                if channel.is_empty() {
                    respond(
                        req,
                        200,
                        json!({"ok": false, "error": "channel_not_found"}),
                        false,
                    );
                    continue;
                }
                if body["text"].as_str().is_none() && body.get("blocks").is_none() {
                    respond(req, 200, json!({"ok": false, "error": "no_text"}), false);
                    continue;
                }
                if let Some(problem) = block_problem(&body) {
                    respond(
                        req,
                        200,
                        json!({"ok": false, "error": "invalid_blocks", "problem": problem}),
                        false,
                    );
                    continue;
                }
                n += 1;
                let ts = format!("1700000000.{n:06}");
                p.lock().unwrap().push(Post {
                    body: body.clone(),
                    ts: ts.clone(),
                    token,
                });
                respond(
                    req,
                    200,
                    json!({"ok": true, "channel": channel, "ts": ts, "message": {"text": body["text"]}}),
                    false,
                );
            }
        });
        SlackApi {
            url: format!("http://127.0.0.1:{port}/api"),
            posts,
            attempts,
        }
    }

    /// Accepted posts, in order.
    pub fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }

    /// Calls received, refused ones included.
    pub fn attempts(&self) -> u32 {
        *self.attempts.lock().unwrap()
    }
}

/// One request a webhook receiver accepted.
#[derive(Clone, Debug)]
pub struct Received {
    /// The body as sent.
    pub body: String,
    /// The headers, names lowercased.
    pub headers: Vec<(String, String)>,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP receiver that, given a secret, accepts only requests whose
/// signature header verifies (and is under 5 minutes old); 401 otherwise.
pub struct Webhook {
    /// Its URL (with a secret-looking query).
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    rejected: Arc<Mutex<Vec<String>>>,
}

/// Verify `t=<unix>,v1=<hex>` over `body` with `secret`, as the README
/// says a receiver does.
pub fn verify(secret: &[u8], header: &str, body: &str) -> Result<(), String> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = Some(x),
            Some(("v1", x)) => v1 = Some(x),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return Err(format!("malformed signature {header}"));
    };
    let ts: u64 = t.parse().map_err(|_| "bad t".to_string())?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if now.abs_diff(ts) > 300 {
        return Err("stale signature".into());
    }
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if want == v1 {
        Ok(())
    } else {
        Err("signature mismatch".into())
    }
}

impl Webhook {
    /// Start one; with `secret`, requests must carry a valid `header`.
    pub fn start(secret: Option<(&str, &str)>) -> Webhook {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let rejected = Arc::new(Mutex::new(Vec::new()));
        let (r, x) = (received.clone(), rejected.clone());
        let secret = secret.map(|(h, s)| (h.to_ascii_lowercase(), s.to_string()));
        std::thread::spawn(move || {
            for mut req in server.incoming_requests() {
                let mut body = String::new();
                let _ = req.as_reader().read_to_string(&mut body);
                let headers: Vec<(String, String)> = req
                    .headers()
                    .iter()
                    .map(|h| {
                        (
                            h.field.as_str().as_str().to_ascii_lowercase(),
                            h.value.as_str().to_string(),
                        )
                    })
                    .collect();
                let got = Received { body, headers };
                if let Some((header, key)) = &secret {
                    let check = match got.header(header) {
                        None => Err(format!("no {header} header")),
                        Some(sig) => verify(key.as_bytes(), sig, &got.body),
                    };
                    if let Err(why) = check {
                        x.lock().unwrap().push(why.clone());
                        let _ = req
                            .respond(tiny_http::Response::from_string(why).with_status_code(401));
                        continue;
                    }
                }
                r.lock().unwrap().push(got);
                let _ = req.respond(
                    tiny_http::Response::from_string("{\"status\":\"success\"}")
                        .with_status_code(202),
                );
            }
        });
        Webhook {
            url: format!("http://127.0.0.1:{port}/v2/enqueue?sig=SeCrEtQuErY"),
            received,
            rejected,
        }
    }

    /// Accepted requests, in order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Why requests were refused.
    pub fn rejected(&self) -> Vec<String> {
        self.rejected.lock().unwrap().clone()
    }
}
