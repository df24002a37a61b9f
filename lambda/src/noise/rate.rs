//! A destination's `rate_limit` as a token bucket: `count` tokens, refilled
//! evenly over `per` seconds (so `1/s` is one message a second, `30/m` a
//! burst of 30 then one every 2 s). The bucket lives in the process (one
//! Lambda execution environment, one CLI run): with several concurrent
//! executions each has its own, which the README says. An alert without a
//! token is not dropped: it is logged in full (`alert_throttled`) and
//! counted into one summary per destination.

/// One bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct Bucket {
    capacity: f64,
    per_ms: f64,
    tokens: f64,
    at_ms: i64,
}

impl Bucket {
    /// A full bucket of `count` tokens refilled over `per_secs`.
    pub fn new(count: u32, per_secs: u64, now_ms: i64) -> Bucket {
        let capacity = f64::from(count.max(1));
        Bucket {
            capacity,
            per_ms: (per_secs.max(1) * 1000) as f64 / capacity,
            tokens: capacity,
            at_ms: now_ms,
        }
    }

    /// Take a token at `now_ms`, if there is one.
    pub fn take(&mut self, now_ms: i64) -> bool {
        let elapsed = (now_ms - self.at_ms).max(0) as f64;
        self.tokens = (self.tokens + elapsed / self.per_ms).min(self.capacity);
        self.at_ms = self.at_ms.max(now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_per_second() {
        let mut b = Bucket::new(1, 1, 0);
        assert!(b.take(0));
        assert!(!b.take(0));
        assert!(!b.take(999));
        assert!(b.take(1000));
        assert!(!b.take(1500));
        assert!(b.take(2000));
    }

    #[test]
    fn a_burst_then_an_even_rate() {
        let mut b = Bucket::new(30, 60, 0);
        assert_eq!((0..40).filter(|_| b.take(0)).count(), 30);
        assert!(!b.take(1999));
        assert!(b.take(2000), "one token every 2 s");
        // Idle for an hour: full again, never more than the capacity.
        assert_eq!((0..40).filter(|_| b.take(3_600_000)).count(), 30);
    }
}
