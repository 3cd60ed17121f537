//! Pacing against Hetzner's request budget, so that a rate limit delays calls instead of failing them.
//!
//! Hetzner meters each project with a token bucket (3600 requests, refilled at about one per second)
//! and reports it on every response as `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`
//! (Unix seconds at which the bucket is full again). An empty bucket answers 429 `rate_limit_exceeded`
//! and does not process the request.
//!
//! Design notes:
//! - One [`Pacer`] per client, shared by every clone and every concurrent call: a burst of 100 creates
//!   queues behind the budget, in arrival order, instead of stampeding into 429s.
//! - The bucket is a local *estimate*. Each response's headers replace it; every request sent spends
//!   one token from it; between responses it refills lazily at the rate the headers imply
//!   (`(reset - now) / (limit - remaining)` per token, never faster than one per [`MIN_REFILL`]).
//! - Requests still in flight when a response arrives may not be counted in that response's
//!   `RateLimit-Remaining` yet, so they are subtracted from it: the estimate errs towards waiting.
//! - "Now" and every wait come from the injected [`Clock`]; the pacer never reads the wall clock, so
//!   the simulator and tests decide when budget comes back.
//!
//! Caveats: responses can arrive out of order, and a late one replaces a fresher estimate. The error is
//! bounded by the in-flight subtraction above, and a 429 costs only a wait, never a failure.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;

use crate::clock::Clock;

/// Shortest time one token is assumed to take to come back. Hetzner documents one per second.
pub const MIN_REFILL: Duration = Duration::from_secs(1);

/// The three rate-limit headers of one response. Each is optional: a missing or malformed header is
/// "not said", never an error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimitHeaders {
    /// `RateLimit-Limit`: the bucket's capacity.
    pub limit: Option<u32>,
    /// `RateLimit-Remaining`: requests left right now.
    pub remaining: Option<u32>,
    /// `RateLimit-Reset`: when the bucket will be full again.
    pub reset: Option<DateTime<Utc>>,
}

impl RateLimitHeaders {
    pub fn parse(headers: &HeaderMap) -> Self {
        Self {
            limit: header_u32(headers, "ratelimit-limit"),
            remaining: header_u32(headers, "ratelimit-remaining"),
            reset: header_u64(headers, "ratelimit-reset")
                .and_then(|secs| i64::try_from(secs).ok())
                .and_then(|secs| DateTime::from_timestamp(secs, 0)),
        }
    }

    /// Time for one token to come back, as these headers imply; `None` when they do not say (a header
    /// is missing, the bucket is full, or the reset time has already passed).
    pub fn refill_per_token(&self, now: DateTime<Utc>) -> Option<Duration> {
        let missing = self
            .limit?
            .checked_sub(self.remaining?)
            .filter(|m| *m > 0)?;
        let until_full = (self.reset? - now).to_std().ok()?;
        Some(until_full / missing)
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn header_u32(headers: &HeaderMap, name: &str) -> Option<u32> {
    header_u64(headers, name).map(|v| u32::try_from(v).unwrap_or(u32::MAX))
}

/// What a response says about the budget besides its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Any response but a 429: the headers are taken as they are.
    Served,
    /// A 429: the bucket is empty whatever the headers say.
    RateLimited,
}

/// The local estimate of the provider's bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bucket {
    /// Requests that can be sent before the provider would refuse.
    remaining: u32,
    /// Capacity, when the provider said; refill never goes above it.
    limit: Option<u32>,
    /// Time for one token to come back; at least [`MIN_REFILL`].
    per_token: Duration,
    /// The instant from which the next token accrues.
    refill_from: DateTime<Utc>,
}

impl Bucket {
    /// Adds the tokens that have come back since `refill_from`.
    fn refill(&mut self, now: DateTime<Utc>) {
        let Ok(elapsed) = (now - self.refill_from).to_std() else {
            return;
        };
        let tokens = elapsed.as_nanos() / self.per_token.as_nanos().max(1);
        if tokens == 0 {
            return;
        }
        let cap = self.limit.unwrap_or(u32::MAX);
        let tokens = u32::try_from(tokens).unwrap_or(u32::MAX);
        self.remaining = self.remaining.saturating_add(tokens).min(cap);
        if self.remaining == cap {
            self.refill_from = now;
        } else {
            // Keep the fraction of a token already accrued: advance by whole tokens only.
            self.refill_from += chrono::Duration::from_std(self.per_token * tokens)
                .unwrap_or(chrono::Duration::MAX);
        }
    }

    /// When the next token comes back (meaningful when `remaining` is 0).
    fn next_token_at(&self) -> DateTime<Utc> {
        self.refill_from
            + chrono::Duration::from_std(self.per_token).unwrap_or(chrono::Duration::MAX)
    }
}

#[derive(Debug, Default)]
struct State {
    /// `None` until a response has said anything about the budget: until then calls are not paced.
    bucket: Option<Bucket>,
    /// Requests sent whose response has not been read yet (see the module notes).
    in_flight: u32,
}

impl State {
    /// Spends one token, or says when the next one comes back.
    fn take(&mut self, now: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        let Some(bucket) = &mut self.bucket else {
            return Ok(());
        };
        bucket.refill(now);
        if bucket.remaining > 0 {
            bucket.remaining -= 1;
            Ok(())
        } else {
            Err(bucket.next_token_at())
        }
    }

    fn next_token_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self.bucket {
            Some(mut bucket) => {
                bucket.refill(now);
                if bucket.remaining > 0 {
                    now
                } else {
                    bucket.next_token_at().max(now)
                }
            }
            None => now,
        }
    }
}

/// The shared budget of one client.
#[derive(Debug, Default)]
pub struct Pacer {
    /// Callers waiting for budget queue on this lock; tokio's mutex is fair, so they go in arrival
    /// order. A tokio mutex because the holder sleeps on the clock while holding it; it is released as
    /// soon as a token is reserved, before the request is sent.
    turn: tokio::sync::Mutex<()>,
    /// The estimate. A std mutex: held only to read or update a few numbers, never across an await,
    /// and responses must be able to update it while a caller holds `turn`.
    state: Mutex<State>,
}

impl Pacer {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a panic mid-update of plain numbers; the estimate is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a call could be sent at `now` without waiting, by the last budget seen (if any).
    pub fn has_budget(&self, now: DateTime<Utc>) -> bool {
        self.state().next_token_at(now) <= now
    }

    /// Waits for one request's worth of budget and reserves it.
    ///
    /// Gives up, returning the estimated time budget comes back, when that is later than `deadline`
    /// (without waiting for it) or when the queue ahead does not clear by `deadline`.
    pub async fn acquire(
        &self,
        clock: &dyn Clock,
        deadline: DateTime<Utc>,
    ) -> Result<Permit<'_>, DateTime<Utc>> {
        let _turn = {
            let patience = (deadline - clock.now()).to_std().unwrap_or_default();
            tokio::select! {
                biased;
                turn = self.turn.lock() => turn,
                () = clock.sleep(patience) => {
                    let now = clock.now();
                    return Err(self.state().next_token_at(now));
                }
            }
        };
        loop {
            let now = clock.now();
            let next_token_at = {
                let mut state = self.state();
                match state.take(now) {
                    Ok(()) => {
                        state.in_flight += 1;
                        return Ok(Permit { pacer: self });
                    }
                    Err(at) => at,
                }
            };
            if next_token_at > deadline {
                return Err(next_token_at);
            }
            let wait = (next_token_at - now).to_std().unwrap_or_default();
            tracing::debug!(
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "waiting for hetzner rate-limit budget"
            );
            clock.sleep(wait).await;
        }
    }
}

/// One reserved token, for one request. Dropping it without [`Permit::observe`] (timeout, lost
/// connection, cancelled call) leaves the spent token spent, which is the cautious reading.
#[derive(Debug)]
pub struct Permit<'a> {
    pacer: &'a Pacer,
}

impl Permit<'_> {
    /// Folds a response's headers into the shared estimate.
    pub fn observe(self, headers: &RateLimitHeaders, answer: Answer, now: DateTime<Utc>) {
        let mut state = self.pacer.state();
        let others_in_flight = state.in_flight.saturating_sub(1);
        let previous = state.bucket;
        let remaining = match (answer, headers.remaining) {
            (Answer::RateLimited, _) => 0,
            (Answer::Served, Some(remaining)) => remaining.saturating_sub(others_in_flight),
            (Answer::Served, None) => return,
        };
        let per_token = headers
            .refill_per_token(now)
            .or(previous.map(|b| b.per_token))
            .unwrap_or(MIN_REFILL)
            .max(MIN_REFILL);
        state.bucket = Some(Bucket {
            remaining,
            limit: headers.limit.or(previous.and_then(|b| b.limit)),
            per_token,
            refill_from: now,
        });
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut state = self.pacer.state();
        state.in_flight = state.in_flight.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use reqwest::header::HeaderValue;

    const T0: i64 = 1_735_689_600; // 2025-01-01T00:00:00Z

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(T0 + secs, 0).unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn all_three_headers_parse() {
        let reset = (T0 + 3600).to_string();
        let parsed = RateLimitHeaders::parse(&headers(&[
            ("RateLimit-Limit", "3600"),
            ("RateLimit-Remaining", "3599"),
            ("RateLimit-Reset", &reset),
        ]));
        assert_eq!(
            parsed,
            RateLimitHeaders {
                limit: Some(3600),
                remaining: Some(3599),
                reset: Some(at(3600))
            }
        );
    }

    #[test]
    fn missing_or_malformed_headers_are_not_said() {
        assert_eq!(
            RateLimitHeaders::parse(&HeaderMap::new()),
            RateLimitHeaders::default()
        );
        let parsed = RateLimitHeaders::parse(&headers(&[
            ("RateLimit-Limit", "-1"),
            ("RateLimit-Remaining", "lots"),
            ("RateLimit-Reset", "2025-01-01T00:00:00Z"),
        ]));
        assert_eq!(parsed, RateLimitHeaders::default());
        // Surrounding whitespace is tolerated; absurdly large counts saturate rather than vanish.
        let parsed = RateLimitHeaders::parse(&headers(&[
            ("RateLimit-Remaining", " 7 "),
            ("RateLimit-Limit", "99999999999"),
        ]));
        assert_eq!(parsed.remaining, Some(7));
        assert_eq!(parsed.limit, Some(u32::MAX));
        // A reset beyond what a timestamp can hold is not a time.
        assert_eq!(
            RateLimitHeaders::parse(&headers(&[("RateLimit-Reset", &u64::MAX.to_string())])).reset,
            None
        );
    }

    #[test]
    fn refill_per_token_spreads_the_time_to_full_over_the_missing_tokens() {
        let h = RateLimitHeaders {
            limit: Some(3600),
            remaining: Some(0),
            reset: Some(at(3600)),
        };
        assert_eq!(h.refill_per_token(at(0)), Some(Duration::from_secs(1)));
        let h = RateLimitHeaders {
            limit: Some(10),
            remaining: Some(6),
            reset: Some(at(20)),
        };
        assert_eq!(h.refill_per_token(at(0)), Some(Duration::from_secs(5)));
        // Full bucket, reset in the past, or a header missing: nothing to say.
        assert_eq!(
            RateLimitHeaders {
                remaining: Some(10),
                ..h
            }
            .refill_per_token(at(0)),
            None
        );
        assert_eq!(h.refill_per_token(at(30)), None);
        assert_eq!(
            RateLimitHeaders { limit: None, ..h }.refill_per_token(at(0)),
            None
        );
    }

    #[test]
    fn an_empty_bucket_refills_one_token_per_interval_and_never_past_its_limit() {
        let mut state = State {
            bucket: Some(Bucket {
                remaining: 0,
                limit: Some(2),
                per_token: Duration::from_secs(2),
                refill_from: at(0),
            }),
            in_flight: 0,
        };
        assert_eq!(state.take(at(1)), Err(at(2)));
        assert_eq!(state.take(at(2)), Ok(()));
        assert_eq!(state.take(at(3)), Err(at(4)));
        // Long idle: capped at the limit (2), then empty again.
        assert_eq!(state.take(at(100)), Ok(()));
        assert_eq!(state.take(at(100)), Ok(()));
        assert_eq!(state.take(at(100)), Err(at(102)));
    }

    #[test]
    fn no_budget_information_means_no_pacing() {
        let mut state = State::default();
        assert_eq!(state.take(at(0)), Ok(()));
        assert_eq!(state.next_token_at(at(0)), at(0));
    }

    #[tokio::test]
    async fn responses_replace_the_estimate_minus_requests_still_in_flight() {
        let clock = ManualClock::new(at(0));
        let pacer = Pacer::new();
        let far = at(3600);
        let first = pacer.acquire(&clock, far).await.unwrap();
        let second = pacer.acquire(&clock, far).await.unwrap();
        // The server says 5 left after the first request; the second is still in flight.
        let h = RateLimitHeaders {
            limit: Some(10),
            remaining: Some(5),
            reset: Some(at(5)),
        };
        first.observe(&h, Answer::Served, at(0));
        assert_eq!(pacer.state().bucket.unwrap().remaining, 4);
        drop(second);
        assert_eq!(pacer.state().in_flight, 0);
        // A 429 empties the bucket whatever its headers claim, with the 1 s floor on the refill.
        let third = pacer.acquire(&clock, far).await.unwrap();
        third.observe(&RateLimitHeaders::default(), Answer::RateLimited, at(0));
        let bucket = pacer.state().bucket.unwrap();
        assert_eq!(
            (bucket.remaining, bucket.per_token, bucket.limit),
            (0, Duration::from_secs(1), Some(10))
        );
        assert!(!pacer.has_budget(at(0)));
        assert!(pacer.has_budget(at(1)));
    }

    #[tokio::test]
    async fn the_refill_estimate_is_never_faster_than_one_token_per_second() {
        let clock = ManualClock::new(at(0));
        let pacer = Pacer::new();
        let permit = pacer.acquire(&clock, at(0)).await.unwrap();
        // 3600 tokens back within a minute would be 60 per second; the pacer assumes at most one.
        let h = RateLimitHeaders {
            limit: Some(3600),
            remaining: Some(0),
            reset: Some(at(60)),
        };
        permit.observe(&h, Answer::Served, at(0));
        assert_eq!(pacer.state().bucket.unwrap().per_token, MIN_REFILL);
        assert!(!pacer.has_budget(at(0) + chrono::Duration::milliseconds(999)));
        assert!(pacer.has_budget(at(1)));
    }

    #[tokio::test]
    async fn acquire_refuses_at_once_when_budget_returns_after_the_deadline() {
        let clock = ManualClock::new(at(0));
        let pacer = Pacer::new();
        let permit = pacer.acquire(&clock, at(0)).await.unwrap();
        let h = RateLimitHeaders {
            limit: Some(10),
            remaining: Some(0),
            reset: Some(at(1200)),
        };
        permit.observe(&h, Answer::Served, at(0));
        // 1200 s over 10 tokens: the next one is 120 s away, past a 60 s deadline.
        assert_eq!(pacer.acquire(&clock, at(60)).await.unwrap_err(), at(120));
    }
}
