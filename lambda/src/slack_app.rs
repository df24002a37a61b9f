//! The `slack_app` destination: `chat.postMessage` of the Slack Web API
//! with a bot token, a Block Kit message (`payload::slack_app_message`),
//! follow-ups as replies in the alert's thread (`thread_ts`).
//!
//! The API answers HTTP 200 with `{"ok": false, "error": ...}` for most
//! failures: `ratelimited` is retried like an HTTP 429 (after
//! `Retry-After`, capped), any other error (`invalid_auth`,
//! `channel_not_found`, `not_in_channel`, ...) fails at once with a hint on
//! how to fix it; 5xx and network errors are retried with backoff. A
//! success returns the message's `ts` in the [`Receipt`]. The base URL is
//! `https://slack.com/api`, or `TATTLETAIL_SLACK_API_URL` (tests).

use serde_json::{json, Value};
use tattletail_compiler::config::SecretRef;

use crate::deliver::{Receipt, Send, SendError, SendResult, Verdict};
use crate::payload::{self, Message};
use crate::secrets;

/// The Slack Web API.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

/// The base URL: `TATTLETAIL_SLACK_API_URL`, else Slack's.
pub fn api_url() -> String {
    std::env::var("TATTLETAIL_SLACK_API_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| DEFAULT_API_URL.to_string())
}

/// The `chat.postMessage` body (without the token, which goes in the
/// `Authorization` header).
pub fn body(m: &Message, channel: &str, thread: Option<&str>) -> Value {
    let mut v = match m {
        Message::Alert(a) => payload::slack_app_message(a),
        Message::FollowUp(f) => payload::slack_app_followup(f),
    };
    v["channel"] = json!(channel);
    v["unfurl_links"] = json!(false);
    v["unfurl_media"] = json!(false);
    if let Some(ts) = thread {
        v["thread_ts"] = json!(ts);
    }
    v
}

/// How to fix a Slack API error, when we can say.
pub fn hint(error: &str) -> &'static str {
    match error {
        "invalid_auth" | "not_authed" | "token_revoked" | "token_expired" | "account_inactive" => {
            "the token is not valid: use the app's Bot User OAuth Token (xoxb-...) from its OAuth & Permissions page"
        }
        "channel_not_found" => {
            "no such channel for this token: check `channel` (#name or a channel id such as C0123456789)"
        }
        "not_in_channel" => "the app is not in the channel: invite it with /invite @your-app",
        "missing_scope" => "the token lacks the chat:write scope: add it and reinstall the app",
        "is_archived" => "the channel is archived: unarchive it or pick another channel",
        "invalid_blocks" | "invalid_blocks_format" | "msg_too_long" => {
            "Slack refused the message's layout; this is a bug in tattletail, please report it"
        }
        _ => "see https://api.slack.com/methods/chat.postMessage#errors",
    }
}

/// Post `m` to `channel` (in `send.thread` when set).
pub(crate) async fn post(send: &Send, token: &SecretRef, channel: &str) -> SendResult {
    let token = secrets::resolve(&send.clients, token).await?;
    let url = format!("{}/chat.postMessage", api_url());
    let body = body(&send.message, channel, send.thread.as_deref());
    let target = format!("slack:{channel}");
    send.post_retrying(
        &target,
        || {
            send.clients
                .http()
                .post(&url)
                .bearer_auth(&token)
                .json(&body)
        },
        |reply| {
            if reply.status != 200 {
                return match reply.verdict() {
                    Verdict::Done(()) => {
                        Verdict::Fail(format!("HTTP {} {}", reply.status, reply.excerpt()))
                    }
                    Verdict::Retry(why, wait) => Verdict::Retry(why, wait),
                    Verdict::Fail(why) => Verdict::Fail(why),
                };
            }
            let Ok(v) = serde_json::from_str::<Value>(&reply.body) else {
                return Verdict::Fail(format!("not a Slack API answer: {}", reply.excerpt()));
            };
            if v["ok"] == true {
                let ts = v["ts"].as_str().map(str::to_string);
                return Verdict::Done(Receipt {
                    thread: ts,
                    skipped: false,
                });
            }
            let error = v["error"].as_str().unwrap_or("unknown_error");
            if error == "ratelimited" {
                return Verdict::Retry("ratelimited".into(), reply.retry_after);
            }
            Verdict::Fail(format!("{error} ({})", hint(error)))
        },
    )
    .await
    .map_err(|(attempts, why)| {
        SendError::Failed(format!(
            "Slack chat.postMessage to {channel} failed after {attempts} attempt(s): {why}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_body_has_the_channel_and_a_thread_only_when_given() {
        let a = payload::AlertData::new(
            "r".into(),
            "d".into(),
            json!({"eventID": "e"}),
            None,
            "o".into(),
        );
        let m = Message::Alert(Arc::new(a));
        let b = body(&m, "#sec", None);
        assert_eq!(b["channel"], "#sec");
        assert_eq!(b["unfurl_links"], false);
        assert!(b.get("thread_ts").is_none());
        assert!(b["blocks"].is_array() && b["text"].is_string());
        assert_eq!(body(&m, "C1", Some("1.2"))["thread_ts"], "1.2");
        assert!(hint("not_in_channel").contains("/invite"));
    }
}
