//! The blocking HTTP client for the NS1 API (ureq 3 + rustls).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use log::{debug, trace, warn};
use serde::Deserialize;
use ureq::Agent;
use ureq::tls::{RootCerts, TlsConfig};

use super::error::{Ns1Error, describe_body};
use super::link::{Endpoint, parse_next_link};
use super::pacing::{Pacer, PacingState, RateLimit, RateLimitHeaders, backoff_delay};
mod zones;
use super::rdata::{normalize_name, record_body};
use super::{Ns1Api, Ns1Options, Stats, ZoneListing, ZoneRecord};

/// Default first retry wait; doubles per retry.
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_millis(500);
/// Default cap on a single retry wait.
pub const DEFAULT_BACKOFF_CAP: Duration = Duration::from_secs(8);
/// Largest response body read (a 2,500-record page is well under 1 MiB).
const MAX_BODY: u64 = 64 * 1024 * 1024;
/// Give up on pagination beyond this many pages (a loop the URL check
/// cannot see, e.g. an ever-changing cursor).
const MAX_PAGES: usize = 100_000;

/// One HTTP exchange's outcome that the caller gets to interpret.
#[derive(Debug)]
pub(super) struct Reply {
    status: u16,
    links: Vec<String>,
    content_type: Option<String>,
    ratelimit: RateLimit,
    pub(super) body: Vec<u8>,
}

impl Reply {
    fn message(&self) -> String {
        describe_body(self.status, self.content_type.as_deref(), &self.body)
    }

    pub(super) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn says(&self, needle: &str) -> bool {
        self.message().to_ascii_lowercase().contains(needle)
    }
}

/// NS1 API client. Each handle sends one request at a time; handles made
/// by [`Ns1Api::fork`] share the pacing estimates and the counters, so one
/// thread per HTTP method can ride each bucket. Paces itself per HTTP
/// method from the rate-limit headers and retries transient failures (see
/// [`Ns1Api`]).
#[derive(Clone)]
pub struct Client {
    agent: Agent,
    pub(super) endpoint: Endpoint,
    api_key: String,
    max_retries: u32,
    deadline: Option<Instant>,
    stop: super::stop::Stop,
    backoff_base: Duration,
    backoff_cap: Duration,
    pacer: Arc<Mutex<Pacer>>,
    stats: Arc<Mutex<Stats>>,
    /// While set, a transport failure or a 5xx is not retried (see
    /// [`Client::request_unanswered_once`]).
    pub(super) unanswered_once: bool,
    /// Whether "pacing stopped the run" was said (once per run).
    pacing_warned: Arc<std::sync::atomic::AtomicBool>,
    /// Where the run side keeps the pacing estimates, for messages.
    pacing_file: Arc<std::sync::OnceLock<String>>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint.url(""))
            .field("api_key", &"<redacted>")
            .field("max_retries", &self.max_retries)
            .field("deadline", &self.deadline)
            .field("stats", &*locked(&self.stats))
            .finish_non_exhaustive()
    }
}

fn invalid(detail: impl Into<String>) -> Ns1Error {
    Ns1Error::Invalid {
        detail: detail.into(),
    }
}

/// One create or update.
struct Write<'a> {
    zone: &'a str,
    domain: &'a str,
    rtype: &'a str,
    ttl: u32,
    answers: &'a [String],
}

/// Percent-encodes a name for use as one path segment. DNS names only need
/// `[a-z0-9._-*]`, everything else is escaped so that a stray `/` or `?`
/// cannot change the request.
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'*') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether a transport failure is worth retrying.
fn retryable(e: &ureq::Error) -> bool {
    match e {
        // rustls failures surface as InvalidData I/O errors: do not retry
        // a certificate problem.
        ureq::Error::Io(io) => io.kind() != std::io::ErrorKind::InvalidData,
        ureq::Error::Timeout(_)
        | ureq::Error::ConnectionFailed
        | ureq::Error::HostNotFound
        | ureq::Error::Protocol(_)
        | ureq::Error::BodyStalled => true,
        _ => false,
    }
}

#[derive(Deserialize)]
struct ZonePage {
    /// Required: a zone answer without a `records` list is not an empty
    /// zone (that is `"records": []`).
    records: Option<Vec<RecordSummary>>,
    #[serde(default)]
    serial: Option<serde_json::Value>,
}

impl ZonePage {
    /// The zone serial, if it is a non-negative integer (as a number or a
    /// digit string).
    fn serial(&self) -> Option<u64> {
        match &self.serial {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// Whether `authority` (`host[:port]`) names this machine's loopback.
fn is_loopback_authority(authority: &str) -> bool {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// The multipart boundary of zone-file imports (checked not to occur in
/// the file).
const BOUNDARY: &str = "mesos2ns1-zonefile-4b1f0c9e2d7a";

#[derive(Deserialize)]
struct RecordSummary {
    domain: String,
    #[serde(rename = "type")]
    rtype: String,
    #[serde(default)]
    ttl: Option<u32>,
    #[serde(default)]
    short_answers: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    tier: Option<u32>,
    #[serde(default)]
    link: Option<serde_json::Value>,
}

/// Parses one page of a zone listing (the body of `GET zones/:zone`) into
/// its records, as `list_zone` does. For tests and the fuzz campaign.
pub fn parse_zone_page(body: &[u8]) -> Result<Vec<ZoneRecord>, String> {
    let page: ZonePage = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok(page
        .records
        .summaries()
        .into_iter()
        .map(ZoneRecord::from)
        .collect())
}

/// The record summaries of a page, whether `records` is a list or an
/// optional list.
trait Summaries {
    fn summaries(self) -> Vec<RecordSummary>;
}

impl Summaries for Vec<RecordSummary> {
    fn summaries(self) -> Vec<RecordSummary> {
        self
    }
}

impl Summaries for Option<Vec<RecordSummary>> {
    fn summaries(self) -> Vec<RecordSummary> {
        self.unwrap_or_default()
    }
}

impl Client {
    /// Sends `first`; when its reply says so (`fall_back`), sends the same
    /// body with `second`. The error names the method that failed last.
    fn write_with_fallback(
        &mut self,
        w: &Write<'_>,
        first: &str,
        second: &str,
        fall_back: fn(&Reply) -> bool,
    ) -> Result<(), Ns1Error> {
        let (zone, domain, rtype, body) =
            Self::prepare(w.zone, w.domain, w.rtype, w.ttl, w.answers)?;
        let mut method = first;
        let mut reply = self.write(first, &zone, &domain, &rtype, &body)?;
        if !reply.is_success() && fall_back(&reply) {
            debug!(
                "NS1 {first} {domain} {rtype}: {}; sending {second} instead",
                reply.message()
            );
            method = second;
            reply = self.write(second, &zone, &domain, &rtype, &body)?;
        }
        if reply.is_success() {
            return Ok(());
        }
        let url = self.record_url(&zone, &domain, &rtype);
        Err(self.fail(method, &url, &zone, &reply))
    }

    /// Builds a client. Loads CA certificates (system store plus
    /// `ca_file`) only for an `https` endpoint.
    pub fn new(opts: Ns1Options) -> Result<Client, Ns1Error> {
        let endpoint = Endpoint::parse(&opts.endpoint).map_err(invalid)?;
        if opts.api_key.is_empty() {
            return Err(invalid("the API key is empty"));
        }
        if opts.api_key.bytes().any(|b| b.is_ascii_control()) {
            return Err(invalid(
                "the API key contains control characters (stray newline?)",
            ));
        }
        let mut config = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(format!("mesos2ns1/{}", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(opts.connect_timeout))
            .timeout_send_request(Some(opts.read_timeout))
            .timeout_send_body(Some(opts.read_timeout))
            .timeout_recv_response(Some(opts.read_timeout))
            .timeout_recv_body(Some(opts.read_timeout));
        if endpoint.scheme == "http"
            && !opts.allow_http
            && !is_loopback_authority(&endpoint.authority)
        {
            return Err(invalid(format!(
                "plain http to {} is refused: the API key would travel unencrypted; use https, or \
                 --ns1-allow-http (config ns1AllowHttp) for a trusted proxy",
                endpoint.origin()
            )));
        }
        if endpoint.scheme == "https" {
            let certs = crate::tls::root_certs(opts.ca_file.as_deref()).map_err(invalid)?;
            config = config.tls_config(
                TlsConfig::builder()
                    .root_certs(RootCerts::Specific(Arc::new(certs)))
                    .build(),
            );
        } else if opts.ca_file.is_some() {
            warn!(
                "NS1 client: ca_file is ignored for the plain-http endpoint {}",
                endpoint.url("")
            );
        }
        Ok(Client {
            agent: config.build().new_agent(),
            endpoint,
            api_key: opts.api_key,
            max_retries: opts.max_retries,
            deadline: opts.deadline,
            stop: super::stop::Stop::new(opts.stop),
            backoff_base: DEFAULT_BACKOFF_BASE,
            backoff_cap: DEFAULT_BACKOFF_CAP,
            pacer: Arc::new(Mutex::new(Pacer::new())),
            stats: Arc::new(Mutex::new(Stats::default())),
            unanswered_once: false,
            pacing_warned: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            pacing_file: Arc::new(std::sync::OnceLock::new()),
        })
    }

    /// Overrides the retry backoff (first wait `base`, doubling, capped at
    /// `cap`). Defaults: 0.5 s and 8 s. Mostly for tests.
    pub fn with_backoff(mut self, base: Duration, cap: Duration) -> Client {
        self.backoff_base = base;
        self.backoff_cap = cap.max(base);
        self
    }

    /// Changes the deadline after construction.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// Estimated tokens left in `method`'s bucket now (None: no headers
    /// seen yet for that method).
    pub fn estimated_tokens(&self, method: &str) -> Option<f64> {
        locked(&self.pacer).tokens(method, Instant::now())
    }

    /// The pacing estimates to keep for the next run.
    pub fn pacing_state(&self) -> PacingState {
        locked(&self.pacer).snapshot(Instant::now(), std::time::SystemTime::now())
    }

    /// Names the file the run side keeps the pacing estimates in, for the
    /// message that says pacing stopped a run.
    pub fn note_pacing_file(&self, path: &std::path::Path) {
        let _ = self.pacing_file.set(path.display().to_string());
    }

    /// Takes over the pacing estimates of an earlier run (see
    /// [`Pacer::restore`]); returns how many methods were restored.
    pub fn restore_pacing(&self, state: &PacingState) -> usize {
        locked(&self.pacer).restore(state, Instant::now(), std::time::SystemTime::now())
    }

    /// Refill this client plans with for `method` (tokens per second), if
    /// known.
    pub fn effective_rate(&self, method: &str) -> Option<f64> {
        locked(&self.pacer).effective_rate(method)
    }

    pub(super) fn record_url(&self, zone: &str, domain: &str, rtype: &str) -> String {
        self.endpoint.url(&format!(
            "zones/{}/{}/{}",
            path_segment(zone),
            path_segment(domain),
            path_segment(rtype)
        ))
    }

    /// Sleeps `d` unless past the deadline or stopping ([`super::stop`]).
    fn sleep_checked(&self, method: &str, path: &str, d: Duration) -> Result<(), Ns1Error> {
        let late = self.deadline.is_some_and(|end| Instant::now() + d > end);
        if late || self.stop.is_set() {
            debug!("NS1 {method} {path}: a {d:?} wait would pass the deadline");
            return Err(Ns1Error::Deadline {
                method: method.to_string(),
                path: path.to_string(),
                pacing: None,
            });
        }
        self.stop.sleep(method, path, d)
    }

    fn send_once(
        &self,
        method: &str,
        url: &str,
        body: Option<(&[u8], &str)>,
        timeout: Option<Duration>,
    ) -> Result<Reply, ureq::Error> {
        let key = self.api_key.as_str();
        let mut resp = match method {
            "GET" | "DELETE" => {
                let rb = if method == "GET" {
                    self.agent.get(url)
                } else {
                    self.agent.delete(url)
                };
                let rb = match timeout {
                    Some(t) => rb.config().timeout_global(Some(t)).build(),
                    None => rb,
                };
                rb.header("X-NSONE-Key", key)
                    .header("Accept", "application/json")
                    .call()?
            }
            _ => {
                let rb = if method == "PUT" {
                    self.agent.put(url)
                } else {
                    self.agent.post(url)
                };
                let rb = match timeout {
                    Some(t) => rb.config().timeout_global(Some(t)).build(),
                    None => rb,
                };
                let (bytes, ctype) = body.unwrap_or((&[], "application/json"));
                rb.header("X-NSONE-Key", key)
                    .header("Accept", "application/json")
                    .content_type(ctype)
                    .send(bytes)?
            }
        };
        let status = resp.status().as_u16();
        let headers = resp.headers();
        let links = headers
            .get_all("link")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let ratelimit =
            RateLimitHeaders::check(|name| headers.get(name).and_then(|v| v.to_str().ok()));
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()?;
        Ok(Reply {
            status,
            links,
            content_type,
            ratelimit,
            body,
        })
    }

    /// Sends one logical request with pacing, retries and deadline checks.
    /// Returns the reply for any status that is not retried (2xx, 3xx, 4xx
    /// other than 429); errors once retries are exhausted.
    pub(super) fn request(
        &mut self,
        method: &str,
        url: &str,
        body: Option<&[u8]>,
    ) -> Result<Reply, Ns1Error> {
        self.request_keyed(method, method, url, body.map(|b| (b, "application/json")))
    }

    /// A deadline met while waiting for a rate-limit token: the error says
    /// pacing stopped the run (warned once a run), with the believed
    /// bucket and the file the estimate is kept in.
    fn pacing_stopped(&self, e: Ns1Error, bucket: &str, wait: Duration) -> Ns1Error {
        // A stop request (a follower's SIGTERM) is not pacing's doing.
        if self.stop.is_set() {
            return e;
        }
        let Ns1Error::Deadline { method, path, .. } = e else {
            return e;
        };
        let why = format!(
            "waiting {:.1} s for a {bucket} rate-limit token would pass the deadline; {}. \
             The estimate comes from NS1's X-Ratelimit headers and is kept for the next \
             run in {}; if NS1's buckets are not that small, delete that file",
            wait.as_secs_f64(),
            locked(&self.pacer)
                .describe(bucket, Instant::now())
                .unwrap_or_else(|| "bucket unknown".into()),
            self.pacing_file
                .get()
                .map_or("the state dir's pacing file", String::as_str),
        );
        if !self
            .pacing_warned
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            warn!("NS1: pacing stopped the run: {why}");
        }
        Ns1Error::Deadline {
            method,
            path,
            pacing: Some(why),
        }
    }

    /// Counts one request sent, as a read or a write.
    fn count_request(&self, method: &str) {
        let mut stats = locked(&self.stats);
        stats.requests += 1;
        if method == "GET" {
            stats.reads += 1;
        } else {
            stats.writes += 1;
        }
    }

    /// [`Client::request`] with the pacing bucket named `bucket` (the
    /// method, or e.g. `PUT import` for an endpoint with its own bucket)
    /// and a body with its content type.
    pub(super) fn request_keyed(
        &mut self,
        method: &str,
        bucket: &str,
        url: &str,
        body: Option<(&[u8], &str)>,
    ) -> Result<Reply, Ns1Error> {
        let path = self.endpoint.path_of(url).to_string();
        let mut retries_done: u32 = 0;
        loop {
            let wait = locked(&self.pacer).delay_before(bucket, Instant::now());
            if !wait.is_zero() {
                debug!("NS1 {method} {path}: pacing, waiting {wait:?} for a rate-limit token");
                self.sleep_checked(method, &path, wait)
                    .map_err(|e| self.pacing_stopped(e, bucket, wait))?;
            }
            self.stop.check(method, &path)?;
            let timeout = match self.deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        debug!("NS1 {method} {path}: deadline reached, not sending");
                        return Err(Ns1Error::Deadline {
                            method: method.to_string(),
                            path,
                            pacing: None,
                        });
                    }
                    Some(left)
                }
                None => None,
            };
            self.count_request(method);
            if let Some((b, _)) = body {
                trace!(
                    "NS1 {method} {path} request body: {}",
                    String::from_utf8_lossy(b)
                );
            }
            let result = self.send_once(method, url, body, timeout);
            let now = Instant::now();
            let (delay, why) = match result {
                Ok(reply) => {
                    locked(&self.pacer).observe_reply(
                        bucket,
                        &reply.ratelimit,
                        reply.status == 429,
                        now,
                    );
                    debug!(
                        "NS1 {method} {path} -> {} (remaining {})",
                        reply.status,
                        reply.ratelimit.known().map_or_else(
                            || "unknown".to_string(),
                            |r| format!("{}/{}", r.remaining, r.limit)
                        )
                    );
                    trace!(
                        "NS1 {method} {path} response body: {}",
                        String::from_utf8_lossy(&reply.body)
                    );
                    if reply.status == 429 {
                        locked(&self.stats).throttled += 1;
                        if retries_done >= self.max_retries {
                            warn!("NS1 {method} {path}: 429 rate limited, no retries left");
                            return Err(Ns1Error::RateLimited {
                                method: method.to_string(),
                                path,
                                attempts: retries_done + 1,
                            });
                        }
                        // With headers the pacer now waits for a token;
                        // without, back off.
                        let delay = if reply.ratelimit.known().is_some() {
                            Duration::ZERO
                        } else {
                            backoff_delay(self.backoff_base, self.backoff_cap, retries_done)
                        };
                        let shown = delay.max(locked(&self.pacer).delay_before(bucket, now));
                        warn!(
                            "NS1 {method} {path}: 429 rate limited; retry {}/{} in {shown:?}",
                            retries_done + 1,
                            self.max_retries
                        );
                        (delay, "429")
                    } else if reply.status >= 500 {
                        locked(&self.stats).server_errors += 1;
                        let message = reply.message();
                        if retries_done >= self.max_retries || self.unanswered_once {
                            warn!(
                                "NS1 {method} {path}: HTTP {} ({message}), no retries left",
                                reply.status
                            );
                            return Err(Ns1Error::Http {
                                method: method.to_string(),
                                path,
                                status: reply.status,
                                message,
                            });
                        }
                        let delay =
                            backoff_delay(self.backoff_base, self.backoff_cap, retries_done);
                        warn!(
                            "NS1 {method} {path}: HTTP {} ({message}); retry {}/{} in {delay:?}",
                            reply.status,
                            retries_done + 1,
                            self.max_retries
                        );
                        (delay, "server error")
                    } else {
                        return Ok(reply);
                    }
                }
                Err(e) => {
                    locked(&self.pacer).note_unanswered(bucket, now);
                    let can_retry = retryable(&e) && !self.unanswered_once;
                    if !can_retry || retries_done >= self.max_retries {
                        let detail = if can_retry {
                            format!("{e} (after {} attempts)", retries_done + 1)
                        } else {
                            e.to_string()
                        };
                        warn!("NS1 {method} {path}: {detail}");
                        return Err(Ns1Error::Transport {
                            method: method.to_string(),
                            path,
                            detail,
                        });
                    }
                    let delay = backoff_delay(self.backoff_base, self.backoff_cap, retries_done);
                    warn!(
                        "NS1 {method} {path}: {e}; retry {}/{} in {delay:?}",
                        retries_done + 1,
                        self.max_retries
                    );
                    (delay, "transport error")
                }
            };
            retries_done += 1;
            locked(&self.stats).retries += 1;
            trace!("NS1 {method} {path}: retrying after {why}");
            self.sleep_checked(method, &path, delay)?;
        }
    }

    /// Maps a non-2xx reply (after the caller's own special cases) to an
    /// error.
    pub(super) fn fail(&self, method: &str, url: &str, zone: &str, reply: &Reply) -> Ns1Error {
        let path = self.endpoint.path_of(url).to_string();
        let message = reply.message();
        match reply.status {
            401 | 403 => Ns1Error::Auth {
                method: method.to_string(),
                path,
                status: reply.status,
                message,
            },
            404 if message.to_ascii_lowercase().contains("zone not found") => {
                Ns1Error::ZoneNotFound {
                    zone: zone.to_string(),
                }
            }
            status => Ns1Error::Http {
                method: method.to_string(),
                path,
                status,
                message,
            },
        }
    }

    /// PUT (create) or POST (update) of a full record body.
    fn write(
        &mut self,
        method: &str,
        zone: &str,
        domain: &str,
        rtype: &str,
        body: &[u8],
    ) -> Result<Reply, Ns1Error> {
        let url = self.record_url(zone, domain, rtype);
        self.request(method, &url, Some(body))
    }

    fn prepare(
        zone: &str,
        domain: &str,
        rtype: &str,
        ttl: u32,
        answers: &[String],
    ) -> Result<(String, String, String, Vec<u8>), Ns1Error> {
        let zone = normalize_name(zone);
        let domain = normalize_name(domain);
        let rtype = rtype.trim().to_ascii_uppercase();
        let body = record_body(&zone, &domain, &rtype, ttl, answers)
            .map_err(|e| invalid(format!("{domain} {rtype}: {e}")))?;
        let body = serde_json::to_vec(&body).map_err(|e| invalid(e.to_string()))?;
        Ok((zone, domain, rtype, body))
    }
}

impl Client {
    /// The zone's `dns_servers` (the nameservers NS1 serves it from), read
    /// with `GET /v1/zones/{zone}?records=false`. Missing: empty.
    pub fn zone_dns_servers(&mut self, zone: &str) -> Result<Vec<String>, Ns1Error> {
        #[derive(Deserialize)]
        struct ZoneInfo {
            #[serde(default)]
            dns_servers: Option<Vec<serde_json::Value>>,
        }
        let zone = normalize_name(zone);
        let url = self
            .endpoint
            .url(&format!("zones/{}?records=false", path_segment(&zone)));
        let reply = self.request("GET", &url, None)?;
        if !reply.is_success() {
            return Err(self.fail("GET", &url, &zone, &reply));
        }
        let info: ZoneInfo =
            serde_json::from_slice(&reply.body).map_err(|e| Ns1Error::Protocol {
                method: "GET".to_string(),
                path: self.endpoint.path_of(&url).to_string(),
                detail: format!("zone body is not the expected JSON ({e})"),
            })?;
        Ok(info
            .dns_servers
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect())
    }
}

fn already_exists(reply: &Reply) -> bool {
    matches!(reply.status, 400 | 409) && reply.says("already exists")
}

pub(super) fn record_missing(reply: &Reply) -> bool {
    reply.status == 404 && !reply.says("zone not found")
}

impl Client {
    fn page_error(&self, url: &str, detail: String) -> Ns1Error {
        Ns1Error::Protocol {
            method: "GET".to_string(),
            path: self.endpoint.path_of(url).to_string(),
            detail,
        }
    }

    /// GETs one zone page and parses it.
    fn zone_page(&mut self, url: &str, zone: &str) -> Result<(ZonePage, Vec<String>), Ns1Error> {
        let reply = self.request("GET", url, None)?;
        if !reply.is_success() {
            return Err(self.fail("GET", url, zone, &reply));
        }
        let page: ZonePage = serde_json::from_slice(&reply.body).map_err(|e| {
            self.page_error(
                url,
                format!(
                    "zone body is not the expected JSON ({e}); body: {}",
                    reply.message()
                ),
            )
        })?;
        if page.records.is_none() {
            return Err(self.page_error(
                url,
                "the zone answer has no \"records\" list (an empty zone is \"records\": []); \
                 not treating it as empty"
                    .to_string(),
            ));
        }
        Ok((page, reply.links))
    }
}

impl Ns1Api for Client {
    fn list_zone_full(&mut self, zone: &str) -> Result<ZoneListing, Ns1Error> {
        let zone = normalize_name(zone);
        let mut url = self.endpoint.url(&format!("zones/{}", path_segment(&zone)));
        let mut seen = std::collections::HashSet::new();
        let mut records = Vec::new();
        let mut serial: Option<Option<u64>> = None;
        loop {
            if !seen.insert(url.clone()) || seen.len() > MAX_PAGES {
                return Err(self.page_error(
                    &url,
                    format!(
                        "pagination loop: Link rel=next repeats a page after {} pages",
                        seen.len()
                    ),
                ));
            }
            let (page, links) = self.zone_page(&url, &zone)?;
            let page_serial = page.serial();
            serial = match serial {
                None => Some(page_serial),
                // Pages that disagree: the zone changed while it was read.
                Some(s) if s == page_serial => Some(s),
                Some(_) => Some(None),
            };
            let page_records = page.records.unwrap_or_default();
            debug!(
                "NS1 GET {}: {} records on this page",
                self.endpoint.path_of(&url),
                page_records.len()
            );
            records.extend(page_records.into_iter().map(ZoneRecord::from));
            match parse_next_link(&links) {
                Some(next) => url = self.endpoint.rebase(&next),
                None => break,
            }
        }
        debug!("NS1 zone {zone}: {} records listed", records.len());
        records.shrink_to_fit(); // grown by pages: up to twice its size
        Ok(ZoneListing {
            serial: serial.flatten(),
            records,
        })
    }

    fn zone_serial(&mut self, zone: &str) -> Result<Option<u64>, Ns1Error> {
        let zone = normalize_name(zone);
        let url = self
            .endpoint
            .url(&format!("zones/{}?limit=1", path_segment(&zone)));
        let (page, _) = self.zone_page(&url, &zone)?;
        Ok(page.serial())
    }

    fn import_zonefile(&mut self, zone: &str, zonefile: &str) -> Result<(), Ns1Error> {
        let zone = normalize_name(zone);
        if zonefile.contains(BOUNDARY) {
            return Err(invalid("the zone file contains the multipart boundary"));
        }
        let body = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"zonefile\"; filename=\"{zone}.zone\"\r\n\
             Content-Type: text/plain\r\n\r\n{zonefile}\r\n--{BOUNDARY}--\r\n"
        );
        let url = self
            .endpoint
            .url(&format!("import/zonefile/{}", path_segment(&zone)));
        let ctype = format!("multipart/form-data; boundary={BOUNDARY}");
        let reply =
            self.request_keyed("PUT", "PUT import", &url, Some((body.as_bytes(), &ctype)))?;
        if reply.is_success() {
            return Ok(());
        }
        Err(self.fail("PUT", &url, &zone, &reply))
    }

    #[rustfmt::skip]    fn create_zone(&mut self, zone: &str) -> Result<(), Ns1Error> { self.put_new_zone(zone) }
    fn fork(&self) -> Option<Box<dyn Ns1Api>> {
        Some(Box::new(self.clone()))
    }

    fn create(
        &mut self,
        zone: &str,
        domain: &str,
        rtype: &str,
        ttl: u32,
        answers: &[String],
    ) -> Result<(), Ns1Error> {
        // A PUT that finds a record in place (our own PUT whose reply was
        // lost, or a record someone else made since the listing) changes
        // nothing: the same answers are done, anything else is left alone.
        let (zone_n, domain_n, rtype_n, body) = Self::prepare(zone, domain, rtype, ttl, answers)?;
        let reply = self.write("PUT", &zone_n, &domain_n, &rtype_n, &body)?;
        if reply.is_success() {
            return Ok(());
        }
        let url = self.record_url(&zone_n, &domain_n, &rtype_n);
        if !already_exists(&reply) {
            return Err(self.fail("PUT", &url, &zone_n, &reply));
        }
        match self.get_record(&zone_n, &domain_n, &rtype_n)? {
            Some(found) if found.is_plain() && found.same_answers(&rtype_n, answers) => {
                debug!("NS1 PUT {domain_n} {rtype_n}: already there with these answers");
                Ok(())
            }
            _ => Err(Ns1Error::Http {
                method: "PUT".to_string(),
                path: self.endpoint.path_of(&url).to_string(),
                status: reply.status,
                message: "a record is in place that this run did not plan to change: left alone (the next run reads the zone again)".to_string(),
            }),
        }
    }

    fn update(
        &mut self,
        zone: &str,
        domain: &str,
        rtype: &str,
        ttl: u32,
        answers: &[String],
    ) -> Result<(), Ns1Error> {
        // A POST that finds no record (deleted meanwhile, or never created): PUT.
        let write = Write {
            zone,
            domain,
            rtype,
            ttl,
            answers,
        };
        self.write_with_fallback(&write, "POST", "PUT", record_missing)
    }

    fn delete(
        &mut self,
        zone: &str,
        domain: &str,
        rtype: &str,
        expected: &[String],
    ) -> Result<(), Ns1Error> {
        let zone = normalize_name(zone);
        let domain = normalize_name(domain);
        let rtype = rtype.trim().to_ascii_uppercase();
        let url = self.record_url(&zone, &domain, &rtype);
        let mut attempt = 0;
        loop {
            let err = match self.request_unanswered_once("DELETE", &url) {
                Ok(reply) if reply.is_success() => return Ok(()),
                Ok(reply) if record_missing(&reply) => {
                    debug!("NS1 DELETE {domain} {rtype}: already absent");
                    return Ok(());
                }
                Ok(reply) if reply.status < 500 => {
                    return Err(self.fail("DELETE", &url, &zone, &reply));
                }
                Ok(reply) => self.fail("DELETE", &url, &zone, &reply),
                Err(e @ (Ns1Error::Transport { .. } | Ns1Error::Http { .. })) => e,
                Err(e) => return Err(e),
            };
            // The DELETE may have been carried out with its reply lost, and
            // the record put back since: send it again only if the record
            // is still the one this run meant to delete.
            attempt += 1;
            if attempt > self.max_retries {
                return Err(err);
            }
            warn!("NS1 DELETE {domain} {rtype}: {err}; checking the record before trying again");
            match self.get_record(&zone, &domain, &rtype)? {
                None => return Ok(()),
                Some(found) if found.is_plain() && found.same_answers(&rtype, expected) => {
                    let d = backoff_delay(self.backoff_base, self.backoff_cap, attempt - 1);
                    self.sleep_checked("DELETE", self.endpoint.path_of(&url), d)?;
                }
                Some(_) => {
                    return Err(Ns1Error::Http {
                        method: "DELETE".to_string(),
                        path: self.endpoint.path_of(&url).to_string(),
                        status: 409,
                        message: "the record changed after a DELETE whose reply was lost (someone put another record there): left alone".to_string(),
                    });
                }
            }
        }
    }

    fn stats(&self) -> Stats {
        locked(&self.stats).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(
            path_segment("_http._tcp.web.example.com"),
            "_http._tcp.web.example.com"
        );
        assert_eq!(path_segment("*.example.com"), "*.example.com");
        assert_eq!(path_segment("a/b?c d"), "a%2Fb%3Fc%20d");
    }

    #[test]
    fn summaries_convert() {
        let page: ZonePage = serde_json::from_str(
            r#"{"zone":"example.com","ttl":3600,"records":[
              {"domain":"example.com","type":"NS","ttl":3600,"tier":1,"short_answers":["dns1.p01.nsone.net"],"id":"a","link":null},
              {"domain":"_x._tcp.example.com","type":"SRV","ttl":60,"tier":1,"short_answers":["0 1 31000 t.example.com."],"id":"b","extra":{}},
              {"domain":"l.example.com","type":"A","link":"other.example.com","id":"c"}
            ]}"#,
        )
        .unwrap();
        assert_eq!(page.serial(), None);
        let recs: Vec<ZoneRecord> = page
            .records
            .unwrap()
            .into_iter()
            .map(ZoneRecord::from)
            .collect();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[1].rtype, "SRV");
        assert_eq!(recs[1].ttl, Some(60));
        assert_eq!(
            recs[1].answers,
            vec!["0 1 31000 t.example.com.".to_string()]
        );
        assert_eq!(recs[0].tier, Some(1));
        assert_eq!(recs[0].link, None);
        assert_eq!(recs[2].link.as_deref(), Some("other.example.com"));
        assert!(recs[2].answers.is_empty());
        assert_eq!(recs[2].ttl, None);
        let missing: ZonePage = serde_json::from_str(r#"{"zone":"z","serial":7}"#).unwrap();
        assert!(missing.records.is_none());
        assert_eq!(missing.serial(), Some(7));
        let empty: ZonePage = serde_json::from_str(r#"{"zone":"z","records":[]}"#).unwrap();
        assert!(empty.records.unwrap().is_empty());
        assert!(is_loopback_authority("127.0.0.1:80"));
        assert!(is_loopback_authority("127.9.9.9"));
        assert!(is_loopback_authority("[::1]:8080"));
        assert!(is_loopback_authority("LOCALHOST:1"));
        assert!(!is_loopback_authority("api.nsone.net"));
        assert!(!is_loopback_authority("10.0.0.1:80"));
        assert!(!is_loopback_authority("[2001:db8::1]:80"));
    }

    #[test]
    fn client_rejects_bad_options() {
        let mut o = Ns1Options::new("ftp://x/", "k");
        assert!(matches!(
            Client::new(o.clone()),
            Err(Ns1Error::Invalid { .. })
        ));
        o.endpoint = "http://127.0.0.1:1/v1/".into();
        o.api_key = String::new();
        assert!(matches!(
            Client::new(o.clone()),
            Err(Ns1Error::Invalid { .. })
        ));
        o.api_key = "key\n".into();
        let e = Client::new(o.clone()).unwrap_err();
        assert!(!e.to_string().contains("key\n"));
        o.api_key = "k".into();
        o.endpoint = "https://127.0.0.1:1/v1/".into();
        o.ca_file = Some("/nonexistent/ca.pem".into());
        assert!(matches!(Client::new(o), Err(Ns1Error::Invalid { .. })));
    }

    #[test]
    fn reply_classification() {
        let r = |status: u16, body: &str| Reply {
            status,
            links: vec![],
            content_type: Some("application/json".into()),
            ratelimit: RateLimit::Missing,
            body: body.as_bytes().to_vec(),
        };
        assert!(already_exists(&r(
            400,
            r#"{"message":"record already exists"}"#
        )));
        assert!(already_exists(&r(
            409,
            r#"{"message":"Record Already Exists"}"#
        )));
        assert!(!already_exists(&r(
            404,
            r#"{"message":"record already exists"}"#
        )));
        assert!(!already_exists(&r(
            400,
            r#"{"message":"Input validation failed"}"#
        )));
        assert!(record_missing(&r(404, r#"{"message":"record not found"}"#)));
        assert!(record_missing(&r(404, "<html>not found</html>")));
        assert!(!record_missing(&r(404, r#"{"message":"zone not found"}"#)));
    }
}
