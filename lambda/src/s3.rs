//! Reading S3 objects as a stream, and listing prefixes.
//!
//! The object body is pumped chunk by chunk from the SDK's async stream
//! into a small bounded channel, and the runtime's blocking one-pass reader
//! pulls from it: no whole-object buffer, so memory stays bounded by the
//! channel (a few network chunks) plus the largest record, whatever the
//! object size. An error midway reaches the reader as an I/O error naming
//! the object and how many bytes had arrived; it carries a
//! [`FetchError::Temporary`] ([`FetchError::in_io`] finds it), so whoever
//! sees the read fail can tell a network failure (retry) from a corrupt
//! object (the reader's own errors, which carry none).

use std::error::Error;
use std::io::{self, Read};

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::Client;
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::aws::error_chain;
use crate::deadline::{self, Stop};
use crate::event::ObjectRef;

/// Chunks buffered between the network and the reader.
const CHANNEL_CHUNKS: usize = 8;

/// Why an object could not be fetched, or its body not read to the end.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Trying again may help (throttling, 5xx, timeouts, network).
    #[error("{0}")]
    Temporary(String),
    /// It will not (missing object or bucket, access denied, bad request).
    #[error("{0}")]
    Permanent(String),
}

impl FetchError {
    /// May trying again help?
    pub fn is_temporary(&self) -> bool {
        matches!(self, FetchError::Temporary(_))
    }

    /// The [`FetchError`] an I/O error from a [`BodyReader`] carries
    /// (directly or as the source of a wrapping error); `None` for any
    /// other I/O error (a corrupt object, a deadline stop).
    pub fn in_io(e: &io::Error) -> Option<&FetchError> {
        let mut next: Option<&(dyn Error + 'static)> = e.get_ref().map(|e| e as _);
        while let Some(e) = next {
            if let Some(f) = e.downcast_ref::<FetchError>() {
                return Some(f);
            }
            if let Some(io) = e.downcast_ref::<io::Error>() {
                next = io.get_ref().map(|e| e as _);
                continue;
            }
            next = e.source();
        }
        None
    }

    /// The error of a failed S3 call, `what` naming the call and its
    /// object (`GetObject s3://b/k`).
    pub fn from_sdk<E: ProvideErrorMetadata + Error + 'static>(
        what: &str,
        e: &SdkError<E>,
    ) -> FetchError {
        let msg = format!("{what} failed: {}", describe_error(e));
        if is_temporary(e) {
            FetchError::Temporary(msg)
        } else {
            FetchError::Permanent(msg)
        }
    }
}

/// A readable error message for an SDK error: code, message, HTTP status;
/// for a failure to get an answer at all, what went wrong underneath
/// (`could not connect: io error: …`).
pub fn describe_error<E: ProvideErrorMetadata + Error + 'static>(e: &SdkError<E>) -> String {
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
        SdkError::DispatchFailure(d) => {
            let what = if d.is_io() {
                "could not connect"
            } else if d.is_timeout() {
                "timed out connecting"
            } else {
                // Credentials and other failures before the request left.
                "the request could not be sent"
            };
            // The connector error's own text is only its kind ("io error",
            // "other"): its source says what happened.
            match d.as_connector_error().and_then(Error::source) {
                Some(source) => format!("{what}: {}", error_chain(source)),
                None => what.to_string(),
            }
        }
        other => error_chain(other),
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
        .map_err(|e| FetchError::from_sdk(&format!("GetObject {}", obj.url()), &e))?;
    let size = out.content_length().and_then(|n| u64::try_from(n).ok());
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHANNEL_CHUNKS);
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
                    let msg = format!(
                        "reading {url} failed after {received} bytes of the object: {}",
                        error_chain(&e)
                    );
                    let _ = tx.send(Err(network_error(msg))).await;
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
    })
}

/// The I/O error of a body whose download failed midway: it carries a
/// [`FetchError::Temporary`], found again by [`FetchError::in_io`].
fn network_error(msg: String) -> io::Error {
    io::Error::other(FetchError::Temporary(msg))
}

/// `Read` over the pumped chunks, for the blocking reader thread. A read
/// that fails because the download failed returns an error carrying a
/// [`FetchError::Temporary`] ([`FetchError::in_io`]).
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
pub async fn list(
    client: &Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<ObjectRef>, FetchError> {
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            FetchError::from_sdk(&format!("ListObjectsV2 s3://{bucket}/{prefix}"), &e)
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

    #[test]
    fn a_failed_download_is_a_temporary_error_in_the_read_error() {
        let (tx, rx) = mpsc::channel(4);
        let lost = "reading s3://b/k failed after 7 bytes of the object: connection reset";
        tx.try_send(Ok(Bytes::from_static(b"{\"Recor"))).unwrap();
        tx.try_send(Err(network_error(lost.into()))).unwrap();
        let mut body = BodyReader {
            rx,
            current: Bytes::new(),
        };
        let mut got = Vec::new();
        let err = body.read_to_end(&mut got).unwrap_err();
        assert_eq!(got, b"{\"Recor");
        assert_eq!(err.to_string(), lost, "the message is unchanged");
        let found = FetchError::in_io(&err).unwrap();
        assert!(found.is_temporary());
        assert_eq!(found, &FetchError::Temporary(lost.into()));
        // Still found when a reader wraps the error in its own.
        let wrapped = io::Error::new(io::ErrorKind::InvalidData, err);
        assert!(FetchError::in_io(&wrapped).is_some_and(FetchError::is_temporary));
        // Other read errors carry none: a corrupt object, the deadline.
        assert_eq!(
            FetchError::in_io(&io::Error::other("corrupt deflate stream")),
            None
        );
        assert_eq!(FetchError::in_io(&deadline::stopped_error()), None);
        assert_eq!(
            FetchError::in_io(&io::ErrorKind::UnexpectedEof.into()),
            None
        );
    }

    #[test]
    fn failures_to_send_a_request_read_as_text_not_debug() {
        use aws_sdk_s3::error::ConnectorError;
        use aws_sdk_s3::operation::get_object::GetObjectError;
        #[derive(Debug)]
        struct Wrapper(io::Error);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("client error (Connect)")
            }
        }
        impl Error for Wrapper {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&self.0)
            }
        }
        let refused = Wrapper(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        ));
        let e: SdkError<GetObjectError> =
            SdkError::dispatch_failure(ConnectorError::io(Box::new(refused)));
        assert_eq!(
            describe_error(&e),
            "could not connect: client error (Connect): Connection refused (os error 111)"
        );
        assert_eq!(
            FetchError::from_sdk("GetObject s3://b/k", &e),
            FetchError::Temporary(
                "GetObject s3://b/k failed: could not connect: client error (Connect): \
                 Connection refused (os error 111)"
                    .into()
            )
        );
        let no_credentials = "the credential provider was not enabled";
        let e: SdkError<GetObjectError> =
            SdkError::dispatch_failure(ConnectorError::other(no_credentials.into(), None));
        assert_eq!(
            describe_error(&e),
            "the request could not be sent: the credential provider was not enabled"
        );
        let e: SdkError<GetObjectError> = SdkError::timeout_error("slow");
        assert_eq!(describe_error(&e), "timed out");
        let e: SdkError<GetObjectError> = SdkError::construction_failure("no bucket given");
        assert_eq!(
            describe_error(&e),
            "failed to construct request: no bucket given"
        );
        assert!(!is_temporary(&e));
    }
}
