//! Client-side pacing against NS1's per-method token buckets, and retry
//! backoff arithmetic.
//!
//! NS1 reports `X-Ratelimit-Limit`, `X-Ratelimit-Remaining` and
//! `X-Ratelimit-Period` on every response. The bucket holds `limit` tokens
//! and refills continuously at `limit / period` tokens per second. We keep
//! the last report per HTTP method together with the instant it was received
//! and, before each request, estimate how many tokens the server has now.
//! Everything here takes `now` as an argument so it can be tested without a
//! clock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Extra wait added on top of the computed time-to-next-token, to absorb
/// rounding and clock granularity.
pub const PACING_MARGIN: Duration = Duration::from_millis(5);

/// One set of rate-limit headers as reported by the server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitHeaders {
    /// Bucket size (`X-Ratelimit-Limit`).
    pub limit: u32,
    /// Tokens left after this request (`X-Ratelimit-Remaining`).
    pub remaining: u32,
    /// Seconds to refill the whole bucket (`X-Ratelimit-Period`).
    pub period: f64,
}

impl RateLimitHeaders {
    /// Builds the triple from header lookups (names are given in lower
    /// case). Returns `None` unless all three are present and sane
    /// (limit > 0, period > 0).
    pub fn from_lookup<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<Self> {
        let limit: u32 = get("x-ratelimit-limit")?.trim().parse().ok()?;
        let remaining: u32 = get("x-ratelimit-remaining")?.trim().parse().ok()?;
        let period: f64 = get("x-ratelimit-period")?.trim().parse().ok()?;
        if limit == 0 || !(period.is_finite() && period > 0.0) {
            return None;
        }
        Some(RateLimitHeaders {
            limit,
            remaining,
            period,
        })
    }

    /// Seconds needed to refill one token.
    pub fn token_interval(&self) -> f64 {
        self.period / f64::from(self.limit)
    }
}

/// Estimated state of one method's bucket.
#[derive(Debug, Clone, Copy)]
struct BucketEstimate {
    limit: f64,
    period: f64,
    /// Tokens believed to be available at `seen`.
    tokens: f64,
    seen: Instant,
}

impl BucketEstimate {
    fn rate(&self) -> f64 {
        self.limit / self.period
    }

    fn tokens_at(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.seen).as_secs_f64();
        (self.tokens + elapsed * self.rate()).min(self.limit)
    }
}

/// Per-method bucket estimates.
#[derive(Debug, Default, Clone)]
pub struct Pacer {
    buckets: HashMap<String, BucketEstimate>,
}

impl Pacer {
    /// Creates a pacer that knows no bucket yet (the first request of each
    /// method goes without waiting).
    pub fn new() -> Pacer {
        Pacer::default()
    }

    /// Records the headers of a response to a `method` request received at
    /// `now`. Absent headers (`None`) keep the previous estimate.
    pub fn observe(&mut self, method: &str, headers: Option<RateLimitHeaders>, now: Instant) {
        if let Some(h) = headers {
            self.buckets.insert(
                method.to_string(),
                BucketEstimate {
                    limit: f64::from(h.limit),
                    period: h.period,
                    tokens: f64::from(h.remaining.min(h.limit)),
                    seen: now,
                },
            );
        }
    }

    /// The server said 429: whatever the headers claimed, assume the bucket
    /// is empty at `now`.
    pub fn note_throttled(&mut self, method: &str, now: Instant) {
        if let Some(b) = self.buckets.get_mut(method) {
            b.tokens = 0.0;
            b.seen = now;
        }
    }

    /// A request was sent but no response (and so no headers) came back: the
    /// server may still have spent a token on it.
    pub fn note_unanswered(&mut self, method: &str, now: Instant) {
        if let Some(b) = self.buckets.get_mut(method) {
            b.tokens = (b.tokens_at(now) - 1.0).max(0.0);
            b.seen = now;
        }
    }

    /// Estimated tokens available for `method` at `now`, if a bucket is known.
    pub fn tokens(&self, method: &str, now: Instant) -> Option<f64> {
        self.buckets.get(method).map(|b| b.tokens_at(now))
    }

    /// Token interval (period / limit) of `method`'s bucket, if known.
    pub fn token_interval(&self, method: &str) -> Option<Duration> {
        self.buckets
            .get(method)
            .map(|b| Duration::from_secs_f64(b.period / b.limit))
    }

    /// How long to wait at `now` before sending a `method` request so that
    /// the bucket holds at least one token when it arrives.
    pub fn delay_before(&self, method: &str, now: Instant) -> Duration {
        match self.buckets.get(method) {
            None => Duration::ZERO,
            Some(b) => {
                let tokens = b.tokens_at(now);
                if tokens >= 1.0 {
                    Duration::ZERO
                } else {
                    Duration::from_secs_f64((1.0 - tokens) / b.rate()) + PACING_MARGIN
                }
            }
        }
    }
}

/// Deterministic exponential backoff: `base * 2^attempt`, capped at `cap`.
/// `attempt` counts from 0 (the wait before the first retry).
pub fn backoff_delay(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(limit: u32, remaining: u32, period: f64) -> Option<RateLimitHeaders> {
        Some(RateLimitHeaders {
            limit,
            remaining,
            period,
        })
    }

    fn lookup<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }

    #[test]
    fn parses_headers() {
        let pairs = [
            ("x-ratelimit-limit", "100"),
            ("x-ratelimit-remaining", "42"),
            ("x-ratelimit-period", "200"),
        ];
        let h = RateLimitHeaders::from_lookup(lookup(&pairs)).unwrap();
        assert_eq!(h.limit, 100);
        assert_eq!(h.remaining, 42);
        assert_eq!(h.period, 200.0);
        assert!((h.token_interval() - 2.0).abs() < 1e-9);
    }

    #[test]
    fn missing_or_bad_headers_give_none() {
        let missing = [("x-ratelimit-limit", "100"), ("x-ratelimit-period", "200")];
        assert!(RateLimitHeaders::from_lookup(lookup(&missing)).is_none());
        let zero = [
            ("x-ratelimit-limit", "0"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-period", "200"),
        ];
        assert!(RateLimitHeaders::from_lookup(lookup(&zero)).is_none());
        let junk = [
            ("x-ratelimit-limit", "ten"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-period", "200"),
        ];
        assert!(RateLimitHeaders::from_lookup(lookup(&junk)).is_none());
        let fractional = [
            ("x-ratelimit-limit", "10"),
            ("x-ratelimit-remaining", "3"),
            ("x-ratelimit-period", "0.5"),
        ];
        let h = RateLimitHeaders::from_lookup(lookup(&fractional)).unwrap();
        assert_eq!(h.period, 0.5);
    }

    #[test]
    fn unknown_bucket_never_waits() {
        let p = Pacer::new();
        assert_eq!(p.delay_before("PUT", Instant::now()), Duration::ZERO);
        assert!(p.tokens("PUT", Instant::now()).is_none());
    }

    #[test]
    fn tokens_left_means_no_wait() {
        let mut p = Pacer::new();
        let t0 = Instant::now();
        p.observe("PUT", hdr(100, 3, 200.0), t0);
        assert_eq!(p.delay_before("PUT", t0), Duration::ZERO);
        // Other methods are independent.
        assert_eq!(p.delay_before("POST", t0), Duration::ZERO);
    }

    #[test]
    fn empty_bucket_waits_one_token_interval() {
        let mut p = Pacer::new();
        let t0 = Instant::now();
        p.observe("PUT", hdr(100, 0, 200.0), t0);
        // 2 s per token plus margin.
        assert_eq!(
            p.delay_before("PUT", t0),
            Duration::from_secs(2) + PACING_MARGIN
        );
        // Half a second later, 1.5 s are left.
        let d = p.delay_before("PUT", t0 + Duration::from_millis(500));
        let expect = Duration::from_millis(1500) + PACING_MARGIN;
        assert!(d.abs_diff(expect) < Duration::from_micros(10), "{d:?}");
        // After a full interval, no wait.
        assert_eq!(
            p.delay_before("PUT", t0 + Duration::from_secs(2)),
            Duration::ZERO
        );
    }

    #[test]
    fn estimate_is_capped_at_limit() {
        let mut p = Pacer::new();
        let t0 = Instant::now();
        p.observe("GET", hdr(10, 0, 1.0), t0);
        let t = p.tokens("GET", t0 + Duration::from_secs(100)).unwrap();
        assert_eq!(t, 10.0);
    }

    #[test]
    fn throttle_and_unanswered_adjust_estimate() {
        let mut p = Pacer::new();
        let t0 = Instant::now();
        p.observe("PUT", hdr(10, 5, 1.0), t0);
        p.note_unanswered("PUT", t0);
        assert!((p.tokens("PUT", t0).unwrap() - 4.0).abs() < 1e-9);
        p.note_throttled("PUT", t0);
        assert_eq!(p.tokens("PUT", t0).unwrap(), 0.0);
        assert_eq!(
            p.delay_before("PUT", t0),
            Duration::from_millis(100) + PACING_MARGIN
        );
        assert_eq!(p.token_interval("PUT"), Some(Duration::from_millis(100)));
        // Throttle on an unknown bucket is a no-op (no pacing info).
        p.note_throttled("DELETE", t0);
        assert!(p.tokens("DELETE", t0).is_none());
    }

    #[test]
    fn absent_headers_keep_previous_estimate() {
        let mut p = Pacer::new();
        let t0 = Instant::now();
        p.observe("PUT", hdr(10, 0, 1.0), t0);
        p.observe("PUT", None, t0);
        assert!(p.delay_before("PUT", t0) > Duration::ZERO);
    }

    /// Simulates a long run of sequential writes against an exact model of
    /// the server's bucket (continuous refill, floor()ed Remaining header,
    /// fixed round-trip latency) and checks we never hit an empty bucket yet
    /// achieve at least 95% of the theoretical bound `limit + rate * t`.
    #[test]
    fn simulated_long_run_is_never_throttled_and_near_bound() {
        for &(limit, period, rtt_ms) in &[
            (100u32, 200.0f64, 40u64),
            (10, 1.0, 3),
            (20, 1.0, 1),
            (300, 300.0, 150),
        ] {
            let rate = f64::from(limit) / period;
            let rtt = Duration::from_millis(rtt_ms);
            let start = Instant::now();
            let mut now = start;
            let mut server_tokens = f64::from(limit);
            let mut server_seen = start;
            let mut pacer = Pacer::new();
            let mut sent = 0u64;
            let run = Duration::from_secs_f64(period * 3.0);
            while now.duration_since(start) < run {
                now += pacer.delay_before("PUT", now);
                // Request reaches the server after half the round trip.
                let arrive = now + rtt / 2;
                server_tokens = (server_tokens
                    + arrive.duration_since(server_seen).as_secs_f64() * rate)
                    .min(f64::from(limit));
                server_seen = arrive;
                assert!(
                    server_tokens >= 1.0,
                    "would be throttled (limit {limit}, period {period})"
                );
                server_tokens -= 1.0;
                sent += 1;
                now += rtt;
                pacer.observe("PUT", hdr(limit, server_tokens.floor() as u32, period), now);
            }
            let elapsed = now.duration_since(start).as_secs_f64();
            let bound = f64::from(limit) + rate * elapsed;
            assert!(
                sent as f64 >= 0.95 * bound,
                "sent {sent}, bound {bound} (limit {limit}, period {period})"
            );
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let base = Duration::from_millis(500);
        let cap = Duration::from_secs(8);
        let got: Vec<_> = (0..7).map(|a| backoff_delay(base, cap, a)).collect();
        assert_eq!(
            got,
            vec![
                Duration::from_millis(500),
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(4),
                Duration::from_secs(8),
                Duration::from_secs(8),
                Duration::from_secs(8),
            ]
        );
        assert_eq!(backoff_delay(base, cap, u32::MAX), cap);
    }
}
