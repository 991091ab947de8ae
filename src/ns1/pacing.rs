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
//!
//! Headers can lie: missing, zero, unparsable or absurd values (a period of
//! `1e20` seconds, a limit of four billion) never reach the arithmetic.
//! Such a response is paced with a conservative default bucket
//! ([`default_shape`]) and said once at `-v`. Every duration computed here
//! is finite and capped ([`MAX_WAIT`]).
//!
//! The bucket is the account's (`X-Ratelimit-By: customer`): other tools
//! spend from it too. When `Remaining` falls faster than this client's own
//! requests explain, the difference is counted as foreign spend and the
//! refill this client plans with drops to [`FAIR_SHARE`] of the share that
//! is left ([`Pacer::effective_rate`]), and [`RESERVE_SHARE`] of the
//! bucket is left unspent for the others, so that a neighbour is not
//! starved (and this client meets no 429 from their bursts).
//!
//! The estimates can be saved ([`Pacer::snapshot`]) and restored in the next
//! run ([`Pacer::restore`]) so that its first request of each method is
//! paced like the others.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Extra wait added on top of the computed time-to-next-token, to absorb
/// rounding and clock granularity.
pub const PACING_MARGIN: Duration = Duration::from_millis(5);

/// Largest bucket size believed (NS1's documented and observed ones are
/// 100 to 900 tokens).
pub const MAX_LIMIT: u32 = 100_000;
/// Smallest bucket size believed: NS1's smallest documented bucket holds
/// 100 tokens; a bucket of a handful is a lie or a misconfiguration, and
/// believing it would stall a run.
pub const MIN_LIMIT: u32 = 10;
/// Longest refill period believed, in seconds: an hour, 12 times NS1's
/// longest documented or observed period (300 s).
pub const MAX_PERIOD: f64 = 3_600.0;
/// Shortest refill period believed, in seconds.
pub const MIN_PERIOD: f64 = 0.001;
/// Slowest refill believed, tokens per second: NS1's slowest documented
/// bucket refills 0.5 per second (PUT and DELETE, 100 per 200 s); a shape
/// 50 times slower than that (a token every 100 s) is not believed.
pub const MIN_RATE: f64 = 0.01;
/// A saved estimate older than this is not restored: NS1's documented
/// buckets refill completely within 300 s, so an older one says nothing.
pub const MAX_SAVED_AGE: f64 = 600.0;
/// A saved estimate delays the first request of its method by at most
/// this much in the next run; that request's answer then replaces it. So
/// one hostile answer costs at most the run that received it.
pub const MAX_RESTORED_WAIT: Duration = Duration::from_secs(2);
/// No single pacing wait is longer than this.
pub const MAX_WAIT: Duration = Duration::from_secs(3600);
/// The smallest share of a bucket's refill this client plans with, however
/// much others spend.
pub const MIN_SHARE: f64 = 0.05;
/// Once others are seen spending from a bucket, this client plans with
/// this share of what they leave (the rest lets the bucket fill back).
pub const FAIR_SHARE: f64 = 0.9;
/// Once others are seen spending from a bucket, this share of it (at least
/// one token) is left to them: this client does not spend below it, so a
/// neighbour's requests find tokens even while this client is busy.
pub const RESERVE_SHARE: f64 = 0.2;
/// Tokens left unspent even before anyone else is seen: a neighbour spends
/// between this client's answers, and learning that it does takes a few
/// of them.
pub const ALONE_RESERVE: f64 = 1.0;

/// One set of rate-limit headers as reported by the server, checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitHeaders {
    /// Bucket size (`X-Ratelimit-Limit`), 1..=[`MAX_LIMIT`].
    pub limit: u32,
    /// Tokens left after this request (`X-Ratelimit-Remaining`), at most
    /// `limit`.
    pub remaining: u32,
    /// Seconds to refill the whole bucket (`X-Ratelimit-Period`),
    /// [`MIN_PERIOD`]..=[`MAX_PERIOD`].
    pub period: f64,
}

/// What a response said about its bucket.
#[derive(Debug, Clone, PartialEq)]
pub enum RateLimit {
    /// All three headers present and believable.
    Known(RateLimitHeaders),
    /// No rate-limit header at all.
    Missing,
    /// Present but zero, unparsable or absurd; the text says which.
    Absurd(String),
}

impl RateLimit {
    pub fn known(&self) -> Option<RateLimitHeaders> {
        match self {
            RateLimit::Known(h) => Some(*h),
            _ => None,
        }
    }
}

impl RateLimitHeaders {
    /// Builds the triple from header lookups (names are given in lower
    /// case). Returns `None` unless all three are present and sane (see
    /// [`RateLimitHeaders::check`]).
    pub fn from_lookup<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<Self> {
        Self::check(get).known()
    }

    /// Classifies the headers: believable, missing, or lying. A
    /// `Remaining` above `Limit` is clamped to it.
    pub fn check<'a>(get: impl Fn(&str) -> Option<&'a str>) -> RateLimit {
        let (l, r, p) = (
            get("x-ratelimit-limit"),
            get("x-ratelimit-remaining"),
            get("x-ratelimit-period"),
        );
        if l.is_none() && r.is_none() && p.is_none() {
            return RateLimit::Missing;
        }
        let (Some(l), Some(r), Some(p)) = (l, r, p) else {
            return RateLimit::Absurd(format!(
                "incomplete (limit {l:?}, remaining {r:?}, period {p:?})"
            ));
        };
        let limit = match l.trim().parse::<u64>() {
            Ok(n) if n >= u64::from(MIN_LIMIT) && n <= u64::from(MAX_LIMIT) => n as u32,
            _ => return RateLimit::Absurd(format!("X-Ratelimit-Limit {:?}", short(l))),
        };
        let remaining = match r.trim().parse::<u64>() {
            Ok(n) => n.min(u64::from(limit)) as u32,
            Err(_) => match r.trim().parse::<f64>() {
                Ok(f) if f.is_finite() && f >= 0.0 => f.min(f64::from(limit)) as u32,
                _ => return RateLimit::Absurd(format!("X-Ratelimit-Remaining {:?}", short(r))),
            },
        };
        let period = match p.trim().parse::<f64>() {
            Ok(f) if f.is_finite() && (MIN_PERIOD..=MAX_PERIOD).contains(&f) => f,
            _ => return RateLimit::Absurd(format!("X-Ratelimit-Period {:?}", short(p))),
        };
        if f64::from(limit) / period < MIN_RATE {
            return RateLimit::Absurd(format!(
                "X-Ratelimit-Limit {limit} per X-Ratelimit-Period {period} s (slower than {MIN_RATE} per second)"
            ));
        }
        RateLimit::Known(RateLimitHeaders {
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

fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

/// The conservative bucket assumed for `method` when its headers are
/// missing or lie: NS1's documented shapes (GET 900/300 s, POST 300/300 s,
/// PUT and DELETE 100/200 s; anything else 100/200 s).
pub fn default_shape(method: &str) -> (u32, f64) {
    match method {
        "GET" => (900, 300.0),
        "POST" => (300, 300.0),
        _ => (100, 200.0),
    }
}

/// A `Duration` of `secs` seconds, capped at [`MAX_WAIT`]; NaN and
/// negative values give zero. Never panics.
pub fn saturating_secs(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        Duration::ZERO
    } else if secs >= MAX_WAIT.as_secs_f64() {
        MAX_WAIT
    } else {
        Duration::from_secs_f64(secs)
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
    /// Own requests answered (or lost) since `seen`.
    own_since: f64,
    /// Best (unfloored) guess of the tokens at `seen`, for the foreign
    /// spend arithmetic.
    mid: f64,
    /// Decayed sums of foreign spend (tokens) and observed time (seconds).
    foreign_tokens: f64,
    foreign_secs: f64,
    /// Whether `limit`/`period` came from headers (false: the default).
    from_headers: bool,
}

impl BucketEstimate {
    fn raw_rate(&self) -> f64 {
        self.limit / self.period
    }

    /// Foreign spend per second believed, with a margin for the floor()ed
    /// `Remaining`; zero until more than a token is unexplained.
    fn foreign_rate(&self) -> f64 {
        if self.foreign_tokens <= 1.5 || self.foreign_secs <= 0.0 {
            0.0
        } else {
            (self.foreign_tokens + 1.0) / self.foreign_secs
        }
    }

    fn rate(&self) -> f64 {
        let raw = self.raw_rate();
        let foreign = self.foreign_rate();
        if foreign == 0.0 {
            return raw;
        }
        ((raw - foreign) * FAIR_SHARE).max(raw * MIN_SHARE)
    }

    /// Tokens left to others: [`ALONE_RESERVE`] while no one else is
    /// seen, [`RESERVE_SHARE`] of the bucket (at least that) once others
    /// are.
    fn reserve(&self) -> f64 {
        if !self.from_headers {
            // The conservative default shape: no neighbour can be seen.
            return 0.0;
        }
        if self.foreign_rate() == 0.0 {
            ALONE_RESERVE
        } else {
            (self.limit * RESERVE_SHARE).floor().max(ALONE_RESERVE)
        }
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
    /// Methods whose lying headers were already reported.
    warned: Vec<String>,
}

/// One method's saved estimate (see [`Pacer::snapshot`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedBucket {
    pub method: String,
    pub limit: f64,
    pub period: f64,
    pub tokens: f64,
    /// Unix time of the estimate, in seconds.
    pub unix_time: f64,
    /// Foreign spend believed, tokens per second.
    #[serde(default)]
    pub foreign_rate: f64,
}

/// The pacing state kept between runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PacingState {
    pub buckets: Vec<SavedBucket>,
}

fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Pacer {
    /// Creates a pacer that knows no bucket yet (the first request of each
    /// method goes without waiting).
    pub fn new() -> Pacer {
        Pacer::default()
    }

    /// Records the headers of a successful (non-429) response to a `method`
    /// request received at `now`. Absent headers (`None`) keep the previous
    /// estimate, less the request just answered.
    pub fn observe(&mut self, method: &str, headers: Option<RateLimitHeaders>, now: Instant) {
        let rl = match headers {
            Some(h) => RateLimit::Known(h),
            None => RateLimit::Missing,
        };
        self.observe_reply(method, &rl, false, now);
    }

    /// Records a response to a `method` request received at `now`:
    /// `throttled` for a 429 (which spent no token, and says the bucket is
    /// empty). Missing or lying headers fall back to the previous estimate,
    /// or to the conservative [`default_shape`] with an empty bucket.
    pub fn observe_reply(&mut self, method: &str, rl: &RateLimit, throttled: bool, now: Instant) {
        let own = if throttled { 0.0 } else { 1.0 };
        match rl {
            RateLimit::Known(h) => {
                let limit = f64::from(h.limit);
                let remaining = if throttled {
                    0.0
                } else {
                    f64::from(h.remaining.min(h.limit))
                };
                let mut next = BucketEstimate {
                    limit,
                    period: h.period,
                    tokens: remaining,
                    seen: now,
                    own_since: 0.0,
                    mid: if throttled { 0.5 } else { remaining + 0.5 },
                    foreign_tokens: 0.0,
                    foreign_secs: 0.0,
                    from_headers: true,
                };
                if let Some(b) = self.buckets.get(method)
                    && b.from_headers
                    && b.limit == limit
                    && b.period == h.period
                {
                    let elapsed = now.saturating_duration_since(b.seen).as_secs_f64();
                    let refilled = (b.mid + elapsed * b.raw_rate()).min(b.limit);
                    let predicted = refilled - b.own_since - own;
                    // Remaining is floor()ed: the true count is half a
                    // token above it on average.
                    let observed = f64::from(h.remaining.min(h.limit)) + 0.5;
                    let decay = (-elapsed / b.period.max(1.0)).exp();
                    if throttled {
                        // A 429 is no sample: it does not say what is left,
                        // and may come from a limit other than the bucket
                        // (NS1's abuse thresholds). Taken as others'
                        // spending it would shrink the share, and widen the
                        // reserve, for a whole period.
                        next.foreign_tokens = b.foreign_tokens;
                        next.foreign_secs = b.foreign_secs;
                    } else {
                        next.foreign_tokens = b.foreign_tokens * decay + predicted - observed;
                        next.foreign_secs = b.foreign_secs * decay + elapsed;
                    }
                    let before = b.foreign_rate();
                    if next.foreign_rate() > 0.0 && before == 0.0 {
                        log::info!(
                            "NS1 {method}: the shared bucket falls faster than this run's requests explain \
                             (about {:.2} tokens/s spent by others); pacing to the {:.0}% left",
                            next.foreign_rate(),
                            100.0 * next.rate() / next.raw_rate()
                        );
                    }
                }
                self.buckets.insert(method.to_string(), next);
            }
            RateLimit::Missing | RateLimit::Absurd(_) => {
                if !self.warned.iter().any(|m| m == method) {
                    self.warned.push(method.to_string());
                    let what = match rl {
                        RateLimit::Absurd(why) => {
                            format!("unbelievable rate-limit headers ({why})")
                        }
                        _ => "no rate-limit headers".to_string(),
                    };
                    let (l, p) = default_shape(method);
                    log::info!(
                        "NS1 {method}: {what}; pacing with the last good estimate or a conservative \
                         default of {l} per {p} s"
                    );
                }
                match self.buckets.get_mut(method) {
                    Some(b) => {
                        b.own_since += own;
                        if throttled {
                            b.tokens = 0.0;
                            b.mid = 0.5;
                            b.seen = now;
                            b.own_since = 0.0;
                        }
                    }
                    None => {
                        let (l, p) = default_shape(method);
                        self.buckets.insert(
                            method.to_string(),
                            BucketEstimate {
                                limit: f64::from(l),
                                period: p,
                                tokens: 0.0,
                                seen: now,
                                own_since: 0.0,
                                mid: 0.0,
                                foreign_tokens: 0.0,
                                foreign_secs: 0.0,
                                from_headers: false,
                            },
                        );
                    }
                }
            }
        }
    }

    /// The server said 429: whatever the headers claimed, assume the bucket
    /// is empty at `now`.
    pub fn note_throttled(&mut self, method: &str, now: Instant) {
        if let Some(b) = self.buckets.get_mut(method) {
            b.tokens = 0.0;
            b.mid = 0.5;
            b.seen = now;
            b.own_since = 0.0;
        }
    }

    /// A request was sent but no response (and so no headers) came back: the
    /// server may still have spent a token on it.
    pub fn note_unanswered(&mut self, method: &str, _now: Instant) {
        if let Some(b) = self.buckets.get_mut(method) {
            b.own_since += 1.0;
        }
    }

    /// Estimated tokens available for `method` at `now`, if a bucket is known.
    pub fn tokens(&self, method: &str, now: Instant) -> Option<f64> {
        self.buckets
            .get(method)
            .map(|b| (b.tokens_at(now) - b.own_since).max(0.0))
    }

    /// Token interval (period / limit) of `method`'s bucket, if known.
    pub fn token_interval(&self, method: &str) -> Option<Duration> {
        self.buckets
            .get(method)
            .map(|b| saturating_secs(b.period / b.limit))
    }

    /// What the estimate for `method` says, for messages: the bucket's
    /// shape, the tokens believed left at `now` and the planned refill.
    pub fn describe(&self, method: &str, now: Instant) -> Option<String> {
        self.buckets.get(method).map(|b| {
            format!(
                "{} believed: {} per {} s{}, {:.1} tokens left, planning {:.3} per second",
                method,
                b.limit,
                b.period,
                if b.from_headers {
                    ""
                } else {
                    " (default: NS1's headers were missing or not believable)"
                },
                (b.tokens_at(now) - b.own_since).max(0.0),
                b.rate()
            )
        })
    }

    /// Refill this client plans with for `method`, tokens per second: the
    /// bucket's rate less what others are seen to spend (at least
    /// [`MIN_SHARE`] of it).
    pub fn effective_rate(&self, method: &str) -> Option<f64> {
        self.buckets.get(method).map(BucketEstimate::rate)
    }

    /// How long to wait at `now` before sending a `method` request so that
    /// the bucket holds at least one token when it arrives.
    pub fn delay_before(&self, method: &str, now: Instant) -> Duration {
        match self.buckets.get(method) {
            None => Duration::ZERO,
            Some(b) => {
                let tokens = b.tokens_at(now) - b.own_since;
                let need = 1.0 + b.reserve();
                if tokens >= need {
                    Duration::ZERO
                } else {
                    saturating_secs((need - tokens) / b.rate()) + PACING_MARGIN
                }
            }
        }
    }

    /// The estimates learned from headers, to keep for the next run.
    pub fn snapshot(&self, now: Instant, wall: SystemTime) -> PacingState {
        let unix_time = unix_secs(wall);
        let mut buckets: Vec<SavedBucket> = self
            .buckets
            .iter()
            .filter(|(_, b)| b.from_headers)
            .map(|(m, b)| SavedBucket {
                method: m.clone(),
                limit: b.limit,
                period: b.period,
                tokens: (b.tokens_at(now) - b.own_since).max(0.0),
                unix_time,
                foreign_rate: b.foreign_rate(),
            })
            .collect();
        buckets.sort_by(|a, b| a.method.cmp(&b.method));
        PacingState { buckets }
    }

    /// Takes over a saved state: each believable entry becomes the estimate
    /// of its method, aged by the wall time since it was saved (a clock
    /// that went back counts as no time). Entries that are not believable
    /// are skipped. Returns how many were taken.
    pub fn restore(&mut self, state: &PacingState, now: Instant, wall: SystemTime) -> usize {
        let wall = unix_secs(wall);
        let mut taken = 0;
        for s in &state.buckets {
            let sane = !s.method.is_empty()
                && s.method.len() <= 16
                && s.limit.is_finite()
                && (f64::from(MIN_LIMIT)..=f64::from(MAX_LIMIT)).contains(&s.limit)
                && s.period.is_finite()
                && (MIN_PERIOD..=MAX_PERIOD).contains(&s.period)
                && s.limit / s.period >= MIN_RATE
                && s.tokens.is_finite()
                && (0.0..=s.limit).contains(&s.tokens)
                && s.unix_time.is_finite()
                && s.foreign_rate.is_finite()
                && s.foreign_rate >= 0.0;
            if !sane {
                log::debug!("pacing state for {:?} is not believable; ignored", s.method);
                continue;
            }
            let age = wall - s.unix_time;
            if age < -5.0 {
                // Saved "in the future": planted, or a clock that went
                // back; either way not evidence.
                log::info!(
                    "pacing state for {:?} is dated {:.0} s in the future; ignored",
                    s.method,
                    -age
                );
                continue;
            }
            let age = age.max(0.0);
            if age > MAX_SAVED_AGE.min(10.0 * s.period) {
                continue; // expired: long since full, nothing to learn
            }
            let Some(seen) = now.checked_sub(saturating_secs(age)) else {
                continue;
            };
            let foreign_rate = s.foreign_rate.min(s.limit / s.period);
            let mut b = BucketEstimate {
                limit: s.limit,
                period: s.period,
                tokens: s.tokens,
                seen,
                own_since: 0.0,
                mid: s.tokens,
                foreign_tokens: foreign_rate * s.period,
                foreign_secs: s.period,
                from_headers: true,
            };
            // The first request waits at most MAX_RESTORED_WAIT: its
            // answer, not the saved file, then decides.
            let floor = 1.0 + b.reserve() - MAX_RESTORED_WAIT.as_secs_f64() * b.rate();
            let tokens = b.tokens_at(now).max(floor);
            b.tokens = tokens;
            b.mid = tokens;
            b.seen = now;
            self.buckets.insert(s.method.clone(), b);
            taken += 1;
        }
        taken
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
        // Above the reserve (one token while alone).
        p.observe("PUT", hdr(100, 2, 200.0), t0);
        assert_eq!(p.delay_before("PUT", t0), Duration::ZERO);
        p.observe("PUT", hdr(100, 1, 200.0), t0);
        assert!(p.delay_before("PUT", t0) > Duration::ZERO);
        // Other methods are independent.
        assert_eq!(p.delay_before("POST", t0), Duration::ZERO);
    }

    #[test]
    fn empty_bucket_waits_for_a_token_above_the_reserve() {
        let mut p = Pacer::new();
        let t0 = Instant::now();
        p.observe("PUT", hdr(100, 0, 200.0), t0);
        // 2 s per token, one token above the one left unspent, plus margin.
        assert_eq!(
            p.delay_before("PUT", t0),
            Duration::from_secs(4) + PACING_MARGIN
        );
        // Half a second later, 3.5 s are left.
        let d = p.delay_before("PUT", t0 + Duration::from_millis(500));
        let expect = Duration::from_millis(3_500) + PACING_MARGIN;
        assert!(d.abs_diff(expect) < Duration::from_micros(10), "{d:?}");
        // Then no wait.
        assert_eq!(
            p.delay_before("PUT", t0 + Duration::from_secs(4)),
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
        // One token above the reserve of one: two intervals.
        assert_eq!(
            p.delay_before("PUT", t0),
            Duration::from_millis(200) + PACING_MARGIN
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

    #[test]
    fn lying_headers_are_classified_never_trusted() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[
                    ("x-ratelimit-limit", "100"),
                    ("x-ratelimit-remaining", "5"),
                    ("x-ratelimit-period", "1e20"),
                ],
                "Period",
            ),
            (
                &[
                    ("x-ratelimit-limit", "100"),
                    ("x-ratelimit-remaining", "5"),
                    ("x-ratelimit-period", "NaN"),
                ],
                "Period",
            ),
            (
                &[
                    ("x-ratelimit-limit", "100"),
                    ("x-ratelimit-remaining", "5"),
                    ("x-ratelimit-period", "inf"),
                ],
                "Period",
            ),
            (
                &[
                    ("x-ratelimit-limit", "100"),
                    ("x-ratelimit-remaining", "5"),
                    ("x-ratelimit-period", "0"),
                ],
                "Period",
            ),
            (
                &[
                    ("x-ratelimit-limit", "100"),
                    ("x-ratelimit-remaining", "5"),
                    ("x-ratelimit-period", "-3"),
                ],
                "Period",
            ),
            (
                &[
                    ("x-ratelimit-limit", "0"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-period", "10"),
                ],
                "Limit",
            ),
            (
                &[
                    ("x-ratelimit-limit", "99999999999999999999999"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-period", "10"),
                ],
                "Limit",
            ),
            (
                &[
                    ("x-ratelimit-limit", "10"),
                    ("x-ratelimit-remaining", "-1"),
                    ("x-ratelimit-period", "10"),
                ],
                "Remaining",
            ),
            (
                &[("x-ratelimit-limit", "10"), ("x-ratelimit-period", "10")],
                "incomplete",
            ),
        ];
        for (pairs, what) in cases {
            match RateLimitHeaders::check(lookup(pairs)) {
                RateLimit::Absurd(why) => assert!(why.contains(what), "{why} for {pairs:?}"),
                other => panic!("{other:?} for {pairs:?}"),
            }
        }
        assert_eq!(RateLimitHeaders::check(lookup(&[])), RateLimit::Missing);
        // Remaining above Limit is clamped.
        let over = [
            ("x-ratelimit-limit", "10"),
            ("x-ratelimit-remaining", "4000000000000"),
            ("x-ratelimit-period", "10"),
        ];
        assert_eq!(
            RateLimitHeaders::check(lookup(&over))
                .known()
                .unwrap()
                .remaining,
            10
        );
    }

    #[test]
    fn lying_headers_pace_with_a_conservative_default() {
        let mut p = Pacer::new();
        let t0 = Instant::now();
        p.observe_reply(
            "PUT",
            &RateLimit::Absurd("X-Ratelimit-Period \"1e20\"".into()),
            false,
            t0,
        );
        // Default PUT shape 100/200 s with an empty bucket: 2 s per token.
        let d = p.delay_before("PUT", t0);
        assert_eq!(d, Duration::from_secs(2) + PACING_MARGIN);
        // A previous good estimate is kept (less the request just answered).
        p.observe("POST", hdr(10, 5, 1.0), t0);
        p.observe_reply("POST", &RateLimit::Missing, false, t0);
        assert!((p.tokens("POST", t0).unwrap() - 4.0).abs() < 1e-9);
        // Saturation: no wait is ever longer than MAX_WAIT, nothing panics.
        assert_eq!(saturating_secs(1e20), MAX_WAIT);
        assert_eq!(saturating_secs(f64::NAN), Duration::ZERO);
        assert_eq!(saturating_secs(-1.0), Duration::ZERO);
        assert_eq!(saturating_secs(f64::INFINITY), MAX_WAIT);
    }

    /// Another tool spends from the same bucket at 60% of its refill: the
    /// pacer learns it from Remaining and never meets an empty bucket once
    /// the burst is over.
    #[test]
    fn shared_bucket_slows_to_the_share_left() {
        let (limit, period, foreign) = (50u32, 5.0f64, 6.0f64);
        let rate = f64::from(limit) / period;
        let rtt = Duration::from_millis(10);
        let start = Instant::now();
        let mut now = start;
        let mut server = f64::from(limit);
        let mut seen = start;
        let mut p = Pacer::new();
        let (mut sent, mut throttled) = (0u32, 0u32);
        while now.duration_since(start) < Duration::from_secs(30) {
            now += p.delay_before("PUT", now);
            let arrive = now + rtt / 2;
            let dt = arrive.duration_since(seen).as_secs_f64();
            server = ((server + dt * rate).min(f64::from(limit)) - dt * foreign).max(0.0);
            seen = arrive;
            now += rtt;
            if server >= 1.0 {
                server -= 1.0;
                sent += 1;
                p.observe_reply(
                    "PUT",
                    &RateLimit::Known(RateLimitHeaders {
                        limit,
                        remaining: server.floor() as u32,
                        period,
                    }),
                    false,
                    now,
                );
            } else {
                throttled += 1;
                p.observe_reply(
                    "PUT",
                    &RateLimit::Known(RateLimitHeaders {
                        limit,
                        remaining: 0,
                        period,
                    }),
                    true,
                    now,
                );
            }
        }
        assert!(
            throttled <= 1,
            "{throttled} throttled, {sent} sent, eff {:?}",
            p.effective_rate("PUT")
        );
        let eff = p.effective_rate("PUT").unwrap();
        assert!(eff < rate * 0.6 && eff > rate * 0.2, "effective rate {eff}");
        // Alone on the bucket the estimate stays at the full rate.
        let mut q = Pacer::new();
        let mut server = f64::from(limit);
        let mut now = start;
        let mut seen = start;
        for _ in 0..400 {
            now += q.delay_before("PUT", now);
            let arrive = now + rtt / 2;
            server =
                (server + arrive.duration_since(seen).as_secs_f64() * rate).min(f64::from(limit));
            seen = arrive;
            assert!(server >= 1.0);
            server -= 1.0;
            now += rtt;
            q.observe("PUT", hdr(limit, server.floor() as u32, period), now);
        }
        assert_eq!(q.effective_rate("PUT").unwrap(), rate);
    }

    #[test]
    fn pacing_state_round_trips_and_rejects_nonsense() {
        let mut p = Pacer::new();
        let t0 = Instant::now();
        let wall = SystemTime::now();
        p.observe("PUT", hdr(100, 0, 200.0), t0);
        p.observe_reply("DELETE", &RateLimit::Missing, false, t0);
        let s = p.snapshot(t0, wall);
        assert_eq!(s.buckets.len(), 1, "defaults are not saved: {s:?}");
        let json = serde_json::to_string(&s).unwrap();
        let back: PacingState = serde_json::from_str(&json).unwrap();
        // Ten seconds later, in a new run: five tokens back, the sixth 2 s away.
        let mut q = Pacer::new();
        let t1 = Instant::now() + Duration::from_secs(20);
        assert_eq!(q.restore(&back, t1, wall + Duration::from_secs(10)), 1);
        let tokens = q.tokens("PUT", t1).unwrap();
        assert!((tokens - 5.0).abs() < 0.01, "{tokens}");
        // Nonsense entries are skipped.
        let mut bad = back.clone();
        bad.buckets[0].period = 1e20;
        assert_eq!(Pacer::new().restore(&bad, t1, wall), 0);
        bad.buckets[0].period = 200.0;
        bad.buckets[0].tokens = f64::NAN;
        assert_eq!(Pacer::new().restore(&bad, t1, wall), 0);
        // Saved in the future (planted, or a clock that went back): ignored.
        let mut r = Pacer::new();
        assert_eq!(r.restore(&back, t1, wall - Duration::from_secs(1000)), 0);
        assert!(r.tokens("PUT", t1).is_none());
        // Expired: older than MAX_SAVED_AGE.
        assert_eq!(
            Pacer::new().restore(&back, t1, wall + Duration::from_secs(601)),
            0
        );
    }

    #[test]
    fn shapes_far_outside_ns1s_are_not_believed() {
        let check = |l: &str, p: &str| {
            RateLimitHeaders::check(lookup(&[
                ("x-ratelimit-limit", l),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-period", p),
            ]))
        };
        // The answer, and its neighbours.
        assert!(matches!(check("1", "86400"), RateLimit::Absurd(_)));
        assert!(matches!(check("100", "86400"), RateLimit::Absurd(_)));
        assert!(matches!(check("9", "1"), RateLimit::Absurd(_)));
        assert!(matches!(check("10", "3600"), RateLimit::Absurd(_)));
        assert!(matches!(check("200000", "300"), RateLimit::Absurd(_)));
        // NS1's documented shapes, and far faster or a bit slower ones.
        for (l, p) in [
            ("900", "300"),
            ("100", "200"),
            ("300", "300"),
            ("10", "1"),
            ("36", "3600"),
        ] {
            assert!(check(l, p).known().is_some(), "{l}/{p}");
        }
    }

    #[test]
    fn a_saved_estimate_delays_the_next_run_by_two_seconds_at_most() {
        // Believable but hostile: 10 per 1000 s, empty (100 s per token).
        let hostile = PacingState {
            buckets: vec![SavedBucket {
                method: "PUT".into(),
                limit: 10.0,
                period: 1000.0,
                tokens: 0.0,
                unix_time: unix_secs(SystemTime::now()),
                foreign_rate: 0.0,
            }],
        };
        let mut p = Pacer::new();
        let t = Instant::now();
        assert_eq!(p.restore(&hostile, t, SystemTime::now()), 1);
        let d = p.delay_before("PUT", t);
        assert!(d <= MAX_RESTORED_WAIT + PACING_MARGIN, "{d:?}");
        // The answer to that request replaces the estimate.
        p.observe("PUT", hdr(100, 99, 200.0), t);
        assert_eq!(p.delay_before("PUT", t), Duration::ZERO);
    }
}
