//! Reading S3 objects as a stream, and listing prefixes.
//!
//! The object body is pumped chunk by chunk from the SDK's async stream
//! into a small bounded channel, and the runtime's blocking one-pass reader
//! pulls from it: no whole-object buffer, so memory stays bounded by the
//! channel (a few network chunks) plus the largest record, whatever the
//! object size. An error midway reaches the reader as an I/O error naming
//! the object and how many bytes had arrived.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::Client;
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::deadline::{self, Stop};
use crate::event::ObjectRef;

/// Chunks buffered between the network and the reader.
const CHANNEL_CHUNKS: usize = 8;

/// Why an object could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Trying again may help (throttling, 5xx, timeouts, network).
    #[error("{0}")]
    Temporary(String),
    /// It will not (missing object or bucket, access denied, bad request).
    #[error("{0}")]
    Permanent(String),
}

/// A readable error message for an SDK error: code, message, HTTP status.
pub fn describe_error<E: ProvideErrorMetadata + std::fmt::Debug>(e: &SdkError<E>) -> String {
    match e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            let status = se.raw().status().as_u16();
            match (err.code(), err.message()) {
                (Some(c), Some(m)) => format!("{c}: {m} (HTTP {status})"),
                (Some(c), None) => format!("{c} (HTTP {status})"),
                _ => format!("HTTP {status}"),
            }
        }
        SdkError::TimeoutError(_) => "timed out".to_string(),
        SdkError::DispatchFailure(d) => format!("could not connect: {d:?}"),
        other => format!("{other}"),
    }
}

/// Is this error worth retrying later?
pub fn is_temporary<E>(e: &SdkError<E>) -> bool {
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(se) => {
            let s = se.raw().status().as_u16();
            s == 429 || s >= 500
        }
        _ => false,
    }
}

/// An object being read.
pub struct Object {
    /// The stream of its bytes.
    pub body: BodyReader,
    /// Its size, as S3 reports it.
    pub size: Option<u64>,
    /// Set when the network stream failed midway (so the failure is
    /// temporary, not a corrupt file).
    pub network_failed: Arc<AtomicBool>,
}

/// Start reading `obj`. Must be called inside a Tokio runtime: the body is
/// pumped by a spawned task.
pub async fn open(client: &Client, obj: &ObjectRef) -> Result<Object, FetchError> {
    open_until(client, obj, None).await
}

/// [`open`], and once `stop` is set the pump stops waiting for the network
/// and ends the body with an error (the reader also checks `stop` itself
/// through `pipeline`), so a stalled download cannot outlive the deadline.
pub async fn open_until(
    client: &Client,
    obj: &ObjectRef,
    stop: Option<Stop>,
) -> Result<Object, FetchError> {
    let out = client
        .get_object()
        .bucket(&obj.bucket)
        .key(&obj.key)
        .set_version_id(obj.version_id.clone())
        .send()
        .await
        .map_err(|e| {
            let msg = format!("GetObject {} failed: {}", obj.url(), describe_error(&e));
            if is_temporary(&e) {
                FetchError::Temporary(msg)
            } else {
                FetchError::Permanent(msg)
            }
        })?;
    let size = out.content_length().and_then(|n| u64::try_from(n).ok());
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHANNEL_CHUNKS);
    let network_failed = Arc::new(AtomicBool::new(false));
    let failed = network_failed.clone();
    let url = obj.url();
    let mut body = out.body;
    tokio::spawn(async move {
        let mut received: u64 = 0;
        loop {
            let next = match &stop {
                None => body.try_next().await,
                Some(stop) => tokio::select! {
                    next = body.try_next() => next,
                    () = stop.wait() => {
                        let _ = tx.send(Err(deadline::stopped_error())).await;
                        break;
                    }
                },
            };
            match next {
                Ok(Some(chunk)) => {
                    received += chunk.len() as u64;
                    if tx.send(Ok(chunk)).await.is_err() {
                        break; // the reader stopped
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    failed.store(true, Ordering::Relaxed);
                    let msg =
                        format!("reading {url} failed after {received} bytes of the object: {e}");
                    let _ = tx.send(Err(io::Error::other(msg))).await;
                    break;
                }
            }
        }
    });
    Ok(Object {
        body: BodyReader {
            rx,
            current: Bytes::new(),
        },
        size,
        network_failed,
    })
}

/// `Read` over the pumped chunks, for the blocking reader thread.
pub struct BodyReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Split `s3://bucket/prefix` into bucket and prefix.
pub fn parse_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| (bucket.to_string(), prefix.to_string()))
}

/// Every object under `prefix`, in key order, with sizes.
pub async fn list(client: &Client, bucket: &str, prefix: &str) -> Result<Vec<ObjectRef>, String> {
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            format!(
                "ListObjectsV2 s3://{bucket}/{prefix} failed: {}",
                describe_error(&e)
            )
        })?;
        for o in page.contents() {
            let Some(key) = o.key() else { continue };
            if key.ends_with('/') {
                continue; // "folder" placeholder
            }
            out.push(ObjectRef {
                bucket: bucket.to_string(),
                key: key.to_string(),
                version_id: None,
                size: o.size().and_then(|n| u64::try_from(n).ok()),
            });
        }
    }
    Ok(out)
}

/// A CloudTrail digest file, known by its key (skipped without a fetch).
pub fn is_digest_key(key: &str) -> bool {
    key.contains("/CloudTrail-Digest/") || key.starts_with("CloudTrail-Digest/")
}

/// Why `obj` need not be fetched at all (a digest file by its key, or a
/// 0-byte object by its listed size); `None` when it must be read.
pub fn skip_before_fetch(obj: &ObjectRef) -> Option<&'static str> {
    if is_digest_key(&obj.key) {
        Some("CloudTrail digest file (no events)")
    } else if obj.size == Some(0) {
        Some(EMPTY_OBJECT)
    } else {
        None
    }
}

/// The skip reason of a 0-byte object.
pub const EMPTY_OBJECT: &str = "empty (0-byte) object";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_digest_keys() {
        assert_eq!(
            parse_url("s3://trail/AWSLogs/1/"),
            Some(("trail".into(), "AWSLogs/1/".into()))
        );
        assert_eq!(parse_url("s3://trail"), Some(("trail".into(), "".into())));
        assert_eq!(parse_url("s3:///x"), None);
        assert_eq!(parse_url("/tmp/x"), None);
        assert!(is_digest_key(
            "AWSLogs/123/CloudTrail-Digest/us-east-1/2024/01/01/x.json.gz"
        ));
        assert!(!is_digest_key(
            "AWSLogs/123/CloudTrail/us-east-1/2024/01/01/x.json.gz"
        ));
    }
}
