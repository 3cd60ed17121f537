//! Hetzner's per-project token bucket, on the harness clock.
//!
//! The bucket starts full (`limit` tokens), refills continuously at `refill_per_second`, and every
//! admitted request takes one token; an empty bucket means 429 `rate_limit_exceeded`. Time is
//! whatever the injected clock says, so a scenario drains and refills the bucket by moving its
//! clock, never by sleeping. A clock that goes backwards refills nothing.

use chrono::{DateTime, Utc};

/// The values of the `RateLimit-*` headers after a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateSnapshot {
    /// `RateLimit-Limit`: the bucket's capacity.
    pub limit: u32,
    /// `RateLimit-Remaining`: whole tokens left.
    pub remaining: u32,
    /// `RateLimit-Reset`: Unix seconds at which the bucket is full again.
    pub reset: i64,
}

#[derive(Debug)]
pub(crate) struct TokenBucket {
    limit: u32,
    refill_per_second: f64,
    tokens: f64,
    /// When `tokens` was last brought up to date; `None` until the first request.
    last: Option<DateTime<Utc>>,
}

impl TokenBucket {
    pub(crate) fn new(limit: u32, refill_per_second: f64) -> Self {
        debug_assert!(limit > 0 && refill_per_second > 0.0 && refill_per_second.is_finite());
        TokenBucket {
            limit,
            refill_per_second,
            tokens: f64::from(limit),
            last: None,
        }
    }

    /// Takes a token if there is one: `Ok` when the request is admitted, `Err` when throttled.
    pub(crate) fn try_take(&mut self, now: DateTime<Utc>) -> Result<RateSnapshot, RateSnapshot> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(self.snapshot(now))
        } else {
            Err(self.snapshot(now))
        }
    }

    /// The headers for a response that took no token (e.g. 401).
    pub(crate) fn peek(&mut self, now: DateTime<Utc>) -> RateSnapshot {
        self.refill(now);
        self.snapshot(now)
    }

    fn refill(&mut self, now: DateTime<Utc>) {
        if let Some(last) = self.last {
            let elapsed = (now - last).num_milliseconds().max(0) as f64 / 1000.0;
            self.tokens =
                (self.tokens + elapsed * self.refill_per_second).min(f64::from(self.limit));
        }
        if self.last.is_none_or(|last| now > last) {
            self.last = Some(now);
        }
    }

    fn snapshot(&self, now: DateTime<Utc>) -> RateSnapshot {
        let missing = f64::from(self.limit) - self.tokens;
        let seconds_to_full = (missing / self.refill_per_second).ceil() as i64;
        RateSnapshot {
            limit: self.limit,
            remaining: self.tokens.floor() as u32,
            reset: now.timestamp() + seconds_to_full,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn a_full_bucket_allows_a_burst_of_limit_requests_then_throttles() {
        let mut bucket = TokenBucket::new(3, 1.0);
        assert_eq!(bucket.try_take(t(0)).unwrap().remaining, 2);
        assert_eq!(bucket.try_take(t(0)).unwrap().remaining, 1);
        let last = bucket.try_take(t(0)).unwrap();
        assert_eq!(last.remaining, 0);
        assert_eq!(last.reset, t(3).timestamp());
        let throttled = bucket.try_take(t(0)).unwrap_err();
        assert_eq!(throttled.remaining, 0);
        assert_eq!(throttled.limit, 3);
    }

    #[test]
    fn time_on_the_injected_clock_refills_the_bucket() {
        let mut bucket = TokenBucket::new(2, 0.5);
        bucket.try_take(t(0)).unwrap();
        bucket.try_take(t(0)).unwrap();
        assert!(
            bucket.try_take(t(1)).is_err(),
            "half a token is not a token"
        );
        assert_eq!(bucket.try_take(t(2)).unwrap().remaining, 0);
        assert_eq!(bucket.peek(t(100)).remaining, 2, "never above the limit");
        assert_eq!(bucket.peek(t(100)).reset, t(100).timestamp());
    }

    #[test]
    fn a_clock_going_backwards_refills_nothing() {
        let mut bucket = TokenBucket::new(1, 1.0);
        bucket.try_take(t(10)).unwrap();
        assert!(bucket.try_take(t(5)).is_err());
        assert!(bucket.try_take(t(10)).is_err());
        assert!(bucket.try_take(t(11)).is_ok());
    }
}
