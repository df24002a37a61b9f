//! The `webhook` destination: POST a message to any HTTP endpoint
//! (PagerDuty Events v2, Microsoft Teams, an in-house receiver).
//!
//! The body is the destination's template rendered for the message
//! (`payload::render`), or the SNS message JSON without one; the headers
//! are the configured ones (values resolved from their secret references)
//! and `Content-Type: application/json` unless set. With `hmac_secret`,
//! each attempt is signed: the `hmac_header` (default
//! `X-Tattletail-Signature`) carries `t=<unix seconds>,v1=<hex>` where the
//! hex is HMAC-SHA256(secret, "<t>.<body>"). Retries as for Slack
//! webhooks (429 after `Retry-After`, 5xx, network). Logs show the URL
//! masked ([`mask`]) and secrets as `********`.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac as HmacImpl, KeyInit, Mac};
use sha2::Sha256;
use tattletail_compiler::config::template::Template;
use tattletail_compiler::config::{Hmac, SecretRef};

use crate::deliver::{Receipt, Reply, Send, SendError, SendResult};
use crate::payload::{self, Message};
use crate::secrets;

/// The body sent for `m`: the template rendered (secret placeholders
/// through `secret`), or the SNS message.
pub fn body(
    m: &Message,
    template: Option<&Template>,
    secret: &dyn Fn(&SecretRef) -> String,
) -> String {
    match (template, m) {
        (Some(t), _) => payload::render(t, m, secret),
        (None, Message::Alert(a)) => payload::sns_message(a),
        (None, Message::FollowUp(f)) => payload::sns_followup(f),
    }
}

/// The signature header's value: `t=<unix>,v1=<hex HMAC-SHA256(secret,
/// "<unix>.<body>")>`.
pub fn signature(secret: &[u8], unix: u64, body: &str) -> String {
    let mut mac = <HmacImpl<Sha256> as KeyInit>::new_from_slice(secret)
        .expect("HMAC takes a key of any length");
    mac.update(unix.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={unix},v1={hex}")
}

/// A URL safe to log: the query and fragment dropped, the path masked
/// after its first segment.
pub fn mask(url: &str) -> String {
    let cut = url.find(['?', '#']).unwrap_or(url.len());
    let masked = payload::mask_url(&url[..cut]);
    if cut < url.len() {
        format!("{masked}?********")
    } else {
        masked
    }
}

/// POST `send.message` to `url`.
pub(crate) async fn post(
    send: &Send,
    url: &str,
    headers: &[(String, SecretRef)],
    template: Option<&Template>,
    hmac: Option<&Hmac>,
) -> SendResult {
    let mut resolved = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        resolved.push((name.as_str(), secrets::resolve(&send.clients, value).await?));
    }
    let mut template_secrets = Vec::new();
    if let Some(t) = template {
        for r in t.secrets() {
            template_secrets.push((r, secrets::resolve(&send.clients, r).await?));
        }
    }
    let key = match hmac {
        Some(h) => Some((
            h.header.as_str(),
            secrets::resolve(&send.clients, &h.secret).await?,
        )),
        None => None,
    };
    let body = body(&send.message, template, &|r| {
        template_secrets
            .iter()
            .find(|(k, _)| *k == r)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    });
    let has_content_type = resolved
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    let masked = mask(url);
    send.post_retrying(
        &masked,
        || {
            let mut req = send.clients.http().post(url);
            if !has_content_type {
                req = req.header("Content-Type", "application/json");
            }
            for (name, value) in &resolved {
                req = req.header(*name, value.as_str());
            }
            if let Some((header, secret)) = &key {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                req = req.header(*header, signature(secret.as_bytes(), now, &body));
            }
            req.body(body.clone())
        },
        Reply::verdict,
    )
    .await
    .map(|()| Receipt::default())
    .map_err(|(attempts, why)| {
        SendError::Failed(format!(
            "webhook {masked} failed after {attempts} attempt(s): {why}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_known_vectors() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mut mac = <HmacImpl<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Our header for t=1700000000, body {"a":1}, key "secret": the
        // HMAC of "1700000000.{\"a\":1}" (computed with Python's hmac).
        assert_eq!(
            signature(b"secret", 1_700_000_000, "{\"a\":1}"),
            "t=1700000000,v1=".to_string() + SIGNED_VECTOR
        );
    }

    const SIGNED_VECTOR: &str = "49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686";

    #[test]
    fn urls_are_masked_with_their_query() {
        assert_eq!(
            mask("https://prod.westus.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=SECRET"),
            "https://prod.westus.logic.azure.com:443/workflows/********?********"
        );
        assert_eq!(mask("https://host?sig=x"), "https://host?********");
        assert_eq!(
            mask("https://events.pagerduty.com/v2/enqueue"),
            "https://events.pagerduty.com/v2/********"
        );
    }
}
