//! The invocation deadline: when to stop scanning and when to give up on
//! sends, so that the summary, the per-object lines and the metrics are
//! always written before Lambda ends the invocation.
//!
//! Lambda gives every invocation a deadline (`Lambda-Runtime-Deadline-Ms`).
//! With a margin `M` (`TATTLETAIL_DEADLINE_MARGIN_MS`), the handler stops
//! reading records and starting sends at `deadline - M`; sends already in
//! flight may finish until `deadline - M/4`, and those still running then
//! are abandoned, each logged as `undelivered_alert`; the last quarter of
//! the margin is for the log lines, the metrics and the answer. When less
//! than `2M` is left at the start of an invocation (a function timeout
//! shorter than the margin allows), the margin shrinks to half of what is
//! left. A [`Stop`] carries the decision to everything that reads or
//! forwards records: the S3 body pump, the reader and the alert sink.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::time::Instant;

/// The two moments of an invocation's end.
#[derive(Clone, Copy, Debug)]
pub struct Cutoff {
    /// Stop reading records and starting sends.
    pub stop_scan: Instant,
    /// Abandon the sends still in flight.
    pub stop_sends: Instant,
    /// The margin used (the setting, or less when the invocation was
    /// given less than twice the margin).
    pub margin: Duration,
    /// True when the margin had to shrink.
    pub shrunk: bool,
}

impl Cutoff {
    /// The cutoff of an invocation whose deadline is `deadline`, with
    /// margin `margin`, as seen at `now`.
    pub fn new(deadline: SystemTime, margin: Duration, now: SystemTime) -> Cutoff {
        let left = deadline.duration_since(now).unwrap_or(Duration::ZERO);
        let (margin, shrunk) = if left < margin * 2 {
            (left / 2, true)
        } else {
            (margin, false)
        };
        let start = Instant::now();
        Cutoff {
            stop_scan: start + (left - margin),
            stop_sends: start + (left - margin / 4),
            margin,
            shrunk,
        }
    }
}

/// A one-way switch: once set, scanning stops. Cheap to check from the
/// blocking scan thread, awaitable from async code.
#[derive(Clone)]
pub struct Stop(Arc<StopInner>);

struct StopInner {
    set: AtomicBool,
    tx: watch::Sender<bool>,
}

impl Default for Stop {
    fn default() -> Self {
        Stop::new()
    }
}

impl Stop {
    /// Not set.
    pub fn new() -> Stop {
        Stop(Arc::new(StopInner {
            set: AtomicBool::new(false),
            tx: watch::Sender::new(false),
        }))
    }

    /// Set it (idempotent).
    pub fn trigger(&self) {
        self.0.set.store(true, Ordering::Release);
        self.0.tx.send_replace(true);
    }

    /// Is it set?
    pub fn is_set(&self) -> bool {
        self.0.set.load(Ordering::Acquire)
    }

    /// Wait until it is set.
    pub async fn wait(&self) {
        let mut rx = self.0.tx.subscribe();
        let _ = rx.wait_for(|set| *set).await;
    }

    /// Set it at `at` (a task; abort its handle to cancel).
    pub fn trigger_at(&self, at: Instant) -> tokio::task::JoinHandle<()> {
        let stop = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            stop.trigger();
        })
    }
}

/// The error a read returns once the stop is set.
pub fn stopped_error() -> std::io::Error {
    std::io::Error::other("stopped: the invocation deadline is near")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cutoff_keeps_the_margin_or_shrinks_it() {
        let now = SystemTime::now();
        let c = Cutoff::new(now + Duration::from_secs(300), Duration::from_secs(10), now);
        assert!(!c.shrunk);
        assert_eq!(c.margin, Duration::from_secs(10));
        assert_eq!(c.stop_sends - c.stop_scan, Duration::from_millis(7_500));
        let left = c.stop_scan - Instant::now();
        assert!(left <= Duration::from_secs(290) && left > Duration::from_secs(289));
        // Three seconds left: half of it is the margin.
        let c = Cutoff::new(now + Duration::from_secs(3), Duration::from_secs(10), now);
        assert!(c.shrunk);
        assert_eq!(c.margin, Duration::from_millis(1_500));
        // Already past: stop at once.
        let c = Cutoff::new(now - Duration::from_secs(1), Duration::from_secs(10), now);
        assert!(c.stop_scan <= Instant::now() && c.stop_sends <= Instant::now());
    }

    #[tokio::test]
    async fn stop_wakes_waiters_and_is_seen_by_threads() {
        let stop = Stop::new();
        assert!(!stop.is_set());
        let waiter = tokio::spawn({
            let s = stop.clone();
            async move { s.wait().await }
        });
        let timer = stop.trigger_at(Instant::now() + Duration::from_millis(10));
        waiter.await.unwrap();
        timer.await.unwrap();
        let s = stop.clone();
        assert!(std::thread::spawn(move || s.is_set()).join().unwrap());
        // Waiting on a set stop returns at once.
        stop.wait().await;
    }
}
