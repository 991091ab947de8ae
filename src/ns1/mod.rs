//! NS1 REST API client.
//!
//! [`Client`] talks to `https://api.nsone.net/v1/` (or any endpoint given in
//! [`Ns1Options`]) with the operations the sync engine needs, behind the
//! [`Ns1Api`] trait so the engine can be tested with a fake:
//!
//! * listing a zone follows every `Link: <…>; rel="next"` page;
//! * requests are paced per HTTP method from the `X-Ratelimit-*` headers so
//!   that a normal run never receives a 429 (see [`pacing`]);
//! * 429, 5xx, dropped connections and timeouts are retried with a bounded,
//!   deterministic backoff; writes are made idempotent without ever
//!   changing a record they did not mean: a PUT that finds the record is
//!   done if it holds the same answers (else left alone), POST → PUT (404),
//!   a DELETE 404 is done, and a DELETE whose reply was lost is sent again
//!   only while the record is still the one meant.
//!
//! The API key is sent only in the `X-NSONE-Key` header and is never logged
//! or shown in `Debug`/`Display` output.

mod client;
mod error;
pub mod link;
pub mod pacing;
pub mod rdata;
mod record;
pub mod stop;

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use client::parse_zone_page;
pub use client::{Client, DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_CAP};
pub use error::{Ns1Error, describe_body};
pub use pacing::PacingState;
pub use rdata::{answer_to_rdata, normalize_name, normalize_short_answer, record_body};

/// Log targets (module prefixes) of dependencies that dump raw HTTP traffic,
/// including the `X-NSONE-Key` request header, at `trace` level:
/// `ureq_proto` hex-dumps every request it writes. Whoever installs the
/// logger must cap these targets at `debug` (e.g. env_logger
/// `filter_module("ureq_proto", LevelFilter::Debug)`), or the key is
/// written to the log when trace logging is on. (ureq's own `debug` lines
/// redact unknown headers and are safe.)
pub const KEY_LEAKING_TRACE_TARGETS: &[&str] = &["ureq_proto"];

/// Whether a log line of `target` at `level` may contain the API key (see
/// [`KEY_LEAKING_TRACE_TARGETS`]). Loggers should drop such lines.
pub fn log_line_may_leak_key(target: &str, level: log::Level) -> bool {
    level == log::Level::Trace
        && KEY_LEAKING_TRACE_TARGETS
            .iter()
            .any(|t| target == *t || target.starts_with(&format!("{t}::")))
}

/// Default NS1 API endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://api.nsone.net/v1/";

/// Client settings.
#[derive(Clone)]
pub struct Ns1Options {
    /// API base URL, e.g. `https://api.nsone.net/v1/` or
    /// `http://127.0.0.1:PORT/v1/` (trailing slash optional).
    pub endpoint: String,
    /// Sent as `X-NSONE-Key`. Never logged; redacted in `Debug`.
    pub api_key: String,
    /// TCP (and TLS) connect timeout.
    pub connect_timeout: Duration,
    /// Timeout for sending the request and for receiving the response
    /// headers and body.
    pub read_timeout: Duration,
    /// Extra CA certificate(s) in PEM, added to the system CA store for
    /// https endpoints.
    pub ca_file: Option<PathBuf>,
    /// Retries per request for 429, 5xx, dropped connections and timeouts.
    pub max_retries: u32,
    /// No request is started, and no pacing/backoff wait is begun, that
    /// would end past this instant ([`Ns1Error::Deadline`] instead). A
    /// request in flight is also cut off at the deadline.
    pub deadline: Option<Instant>,
    /// Allow a plain-http endpoint on a host other than loopback (the key
    /// then travels unencrypted). Loopback is always allowed (tests).
    pub allow_http: bool,
    /// Once set (a follower's SIGTERM), no request and no wait is begun
    /// ([`Ns1Error::Deadline`] instead); the request in flight finishes.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Ns1Options {
    /// Options with the given endpoint and key and default timeouts
    /// (connect 10 s, read 30 s), 4 retries, no CA file, no deadline.
    pub fn new(endpoint: impl Into<String>, api_key: impl Into<String>) -> Ns1Options {
        Ns1Options {
            endpoint: endpoint.into(),
            api_key: api_key.into(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            ca_file: None,
            max_retries: 4,
            deadline: None,
            allow_http: false,
            stop: None,
        }
    }
}

impl Default for Ns1Options {
    /// The public NS1 endpoint with an empty key (which [`Client::new`]
    /// rejects: set one).
    fn default() -> Ns1Options {
        Ns1Options::new(DEFAULT_ENDPOINT, "")
    }
}

impl std::fmt::Debug for Ns1Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ns1Options")
            .field("endpoint", &self.endpoint)
            .field(
                "api_key",
                &if self.api_key.is_empty() {
                    "<empty>"
                } else {
                    "<redacted>"
                },
            )
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("ca_file", &self.ca_file)
            .field("max_retries", &self.max_retries)
            .field("deadline", &self.deadline)
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// One record summary from a zone listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneRecord {
    /// FQDN as listed (NS1 lists names without trailing dot).
    pub domain: String,
    /// Record type, e.g. `A`, `SRV`, `NS`.
    pub rtype: std::borrow::Cow<'static, str>,
    pub ttl: Option<u32>,
    /// The `short_answers` strings exactly as given (SRV:
    /// `"10 50 31000 node1.example.com."`). See
    /// [`normalize_short_answer`] to compare them with desired answers.
    pub answers: Vec<String>,
    /// 1 for a plain record; > 1 means filters/metadata ("advanced").
    pub tier: Option<u32>,
    /// The record this one links to (`link`), for linked records.
    pub link: Option<String>,
}

/// A listed record's type as kept in the listing: the common types are
/// static text, not an allocation per record (12 MB at 400,000 records).
pub fn listed_type(rtype: String) -> std::borrow::Cow<'static, str> {
    const KNOWN: [&str; 12] = [
        "A", "AAAA", "SRV", "PTR", "NS", "SOA", "CNAME", "TXT", "MX", "CAA", "ALIAS", "SPF",
    ];
    match KNOWN.iter().find(|k| **k == rtype) {
        Some(k) => std::borrow::Cow::Borrowed(k),
        None => std::borrow::Cow::Owned(rtype),
    }
}

/// A whole zone listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneListing {
    /// The zone's `serial` as every page gave it; `None` when it was
    /// missing or changed between pages (the zone moved while read).
    pub serial: Option<u64>,
    pub records: Vec<ZoneRecord>,
}

/// Request counters.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// HTTP requests sent, including retries and fallbacks.
    pub requests: u64,
    /// Of those, GET requests.
    pub reads: u64,
    /// Of those, PUT/POST/DELETE requests.
    pub writes: u64,
    /// 429 responses received.
    pub throttled: u64,
    /// Requests re-sent after a 429, 5xx or transport failure.
    pub retries: u64,
    /// 5xx responses received.
    pub server_errors: u64,
}

/// The NS1 operations the sync engine uses.
pub trait Ns1Api: Send {
    /// `GET /v1/zones/{zone}`, following every `Link: <url>; rel="next"`
    /// page and concatenating `records`. Link URLs are rebased onto the
    /// endpoint's scheme, host and path prefix; a repeated page URL, or a
    /// page without a `records` list, is an [`Ns1Error::Protocol`] error.
    fn list_zone(&mut self, zone: &str) -> Result<Vec<ZoneRecord>, Ns1Error> {
        Ok(self.list_zone_full(zone)?.records)
    }
    /// [`Ns1Api::list_zone`] with the zone's serial.
    fn list_zone_full(&mut self, zone: &str) -> Result<ZoneListing, Ns1Error>;
    /// The zone's serial from page 1 read with a small `limit` (one GET).
    fn zone_serial(&mut self, zone: &str) -> Result<Option<u64>, Ns1Error>;
    /// `PUT /v1/import/zonefile/{zone}`, multipart field `zonefile`: creates
    /// a new zone from a BIND zone file. Never call it for a zone that
    /// exists.
    fn import_zonefile(&mut self, zone: &str, zonefile: &str) -> Result<(), Ns1Error>;
    /// `PUT /v1/zones/{zone}` with `{"zone": zone}`: creates the empty zone
    /// (NS1 adds the apex NS record). Never call it for a zone that exists.
    fn create_zone(&mut self, zone: &str) -> Result<(), Ns1Error>;
    /// Another handle on the same account for another thread, sharing
    /// pacing and counters; `None` if this client cannot be shared (then
    /// everything goes through one handle).
    fn fork(&self) -> Option<Box<dyn Ns1Api>> {
        None
    }
    /// PUT create with `answers` in normalized form (A/AAAA `"ip"`, SRV
    /// `"priority weight port target"`). When the server says the record
    /// already exists, the record is read: the same answers on a plain
    /// record are done (a PUT whose reply was lost); anything else is left
    /// alone and is an error. A create never changes a record.
    fn create(
        &mut self,
        zone: &str,
        domain: &str,
        rtype: &str,
        ttl: u32,
        answers: &[String],
    ) -> Result<(), Ns1Error>;
    /// POST update with the whole answer list and ttl. Falls back to PUT
    /// on 404 record not found.
    fn update(
        &mut self,
        zone: &str,
        domain: &str,
        rtype: &str,
        ttl: u32,
        answers: &[String],
    ) -> Result<(), Ns1Error>;
    /// DELETE of the record whose answers are `expected`. A 404 (record
    /// not found) means already done → `Ok`; a 404 `zone not found` is
    /// [`Ns1Error::ZoneNotFound`]. A DELETE whose reply was lost (transport
    /// failure, 5xx) is sent again only after a GET shows the record is
    /// still the plain one with `expected` answers; a record put back in
    /// between is left alone (an error).
    fn delete(
        &mut self,
        zone: &str,
        domain: &str,
        rtype: &str,
        expected: &[String],
    ) -> Result<(), Ns1Error>;
    /// Counters so far.
    fn stats(&self) -> Stats;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaking_targets() {
        assert!(log_line_may_leak_key("ureq_proto::util", log::Level::Trace));
        assert!(log_line_may_leak_key("ureq_proto", log::Level::Trace));
        assert!(!log_line_may_leak_key(
            "ureq_proto::util",
            log::Level::Debug
        ));
        assert!(!log_line_may_leak_key("ureq_protocol", log::Level::Trace));
        assert!(!log_line_may_leak_key(
            "mesos2ns1::ns1::client",
            log::Level::Trace
        ));
    }

    #[test]
    fn options_debug_redacts_key() {
        let o = Ns1Options::new("https://api.nsone.net/v1/", "s3cr3t-KEY-value");
        let d = format!("{o:?}");
        assert!(!d.contains("s3cr3t"), "{d}");
        assert!(d.contains("<redacted>"));
        assert!(d.contains("api.nsone.net"));
        let c = Client::new(Ns1Options::new("http://127.0.0.1:9/v1", "s3cr3t-KEY-value")).unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains("s3cr3t"), "{d}");
    }
}
