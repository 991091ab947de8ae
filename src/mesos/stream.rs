//! The operator API event stream of the leading master
//! (`docs/operator-http-api.md`, `src/master/http.cpp`,
//! `src/master/readonly_handler.cpp` in Apache Mesos):
//!
//! * `POST /api/v1` with `{"type":"SUBSCRIBE"}`, `Content-Type:
//!   application/json`, `Accept: application/json` (the master answers
//!   406 to an `Accept` allowing neither JSON nor protobuf, e.g. the agent
//!   API's `application/recordio`); basic auth and TLS exactly as the state
//!   fetch (same client, same rule for where credentials go);
//! * a master that is not the leader answers `307 Location:
//!   //leader:port/api/v1`, or 503 when it knows no leader (or has not
//!   finished recovery): both are [`StreamError::NotLeader`], and the
//!   caller detects the leader again;
//! * the answer is `200`, chunked, each event one RecordIO record of JSON:
//!   `SUBSCRIBED` first (the snapshot and `heartbeat_interval_seconds`,
//!   15 s in every Mesos), a `HEARTBEAT` right after, then events.
//!
//! A thread reads and parses the records ([`super::recordio`],
//! [`super::v1`]) and hands them over a channel of one slot, so that the
//! caller waits with its own deadline ([`EventStream::next`]) and the
//! stream is never buffered beyond one event. Silence: no record for 3 ×
//! the heartbeat interval (dcos-net's rule; before `SUBSCRIBED`, for
//! [`SubscribeOptions::first_event_timeout`]) is [`StreamError::Silent`].
//! A dropped [`EventStream`] stops its thread at the next record, or at
//! the socket's read timeout ([`SubscribeOptions::read_timeout`]).

use std::fmt;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use log::{debug, warn};

use super::fetch::Client;
use super::master::{Master, resolve_location};
use super::recordio::{RecordError, RecordReader};
use super::v1::{self, Event, EventError};
use super::{MesosError, MesosOptions, parse_master};

/// The operator API endpoint.
pub const API_PATH: &str = "/api/v1";

/// How to subscribe.
#[derive(Debug, Clone)]
pub struct SubscribeOptions {
    /// From the request to the `SUBSCRIBED` event (the snapshot can be
    /// tens of MB on a large cluster).
    pub first_event_timeout: Duration,
    /// The socket's read timeout: a backstop that ends a silent
    /// connection's thread. Must exceed 3 × the heartbeat interval (Mesos:
    /// 15 s); the default is 120 s.
    pub read_timeout: Duration,
    /// Largest record (`--max-state-mib`: the first one is the snapshot).
    pub max_record: u64,
}

impl SubscribeOptions {
    pub fn new(max_record: u64) -> SubscribeOptions {
        SubscribeOptions {
            first_event_timeout: Duration::from_secs(60),
            read_timeout: Duration::from_secs(120),
            max_record,
        }
    }
}

/// Why the stream could not be opened or went on no longer. Every
/// `Display` is one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// The configuration is unusable (bad master entry, CA file).
    Config(String),
    /// No HTTP answer (refused, timeout, TLS).
    Transport { url: String, reason: String },
    /// The master is not the leader: 307 (with the leader's location) or
    /// 503.
    NotLeader {
        url: String,
        status: u16,
        location: Option<String>,
    },
    /// Another status; `message` is the start of the body (Mesos explains
    /// 400, 406 and 415 there).
    Status {
        url: String,
        status: u16,
        message: String,
    },
    /// No record for `after`.
    Silent { url: String, after: Duration },
    /// The master closed the stream between records.
    Ended { url: String },
    /// The stream broke: framing, I/O, or a first event that is not a
    /// readable `SUBSCRIBED`.
    Broken { url: String, reason: String },
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Config(m) => write!(f, "{m}"),
            StreamError::Transport { url, reason } => write!(f, "POST {url}: {reason}"),
            StreamError::NotLeader {
                url,
                status,
                location,
            } => {
                write!(f, "POST {url}: HTTP {status}: not the leading master")?;
                if let Some(l) = location {
                    write!(f, " (redirects to {})", crate::report::escape_control(l))?;
                }
                Ok(())
            }
            StreamError::Status {
                url,
                status,
                message,
            } => {
                write!(f, "POST {url}: HTTP {status}")?;
                if let Some(reason) = ureq::http::StatusCode::from_u16(*status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                {
                    write!(f, " {reason}")?;
                }
                if !message.is_empty() {
                    write!(f, ": {}", crate::report::escape_control(message))?;
                }
                if matches!(status, 401 | 403) {
                    write!(f, " (check the Mesos credentials)")?;
                }
                Ok(())
            }
            StreamError::Silent { url, after } => write!(
                f,
                "the event stream from {url} is silent: no event for {}s",
                after.as_secs_f64()
            ),
            StreamError::Ended { url } => write!(f, "the master ended the event stream {url}"),
            StreamError::Broken { url, reason } => {
                write!(f, "the event stream from {url} broke: {reason}")
            }
        }
    }
}

impl std::error::Error for StreamError {}

impl From<MesosError> for StreamError {
    fn from(e: MesosError) -> StreamError {
        StreamError::Config(e.to_string())
    }
}

/// What the reader thread hands over.
enum Item {
    Event(Event, usize),
    Bad(EventError),
    End(Option<RecordError>),
}

/// One step of [`EventStream::next`].
#[derive(Debug)]
pub enum Next {
    /// An event, and when its record was read.
    Event { event: Event, arrived: Instant },
    /// A record that is not a readable event (after `SUBSCRIBED`): skip
    /// it, count it.
    Bad(EventError),
    /// The caller's deadline came first.
    Idle,
}

/// An open subscription.
pub struct EventStream {
    url: String,
    rx: Receiver<Item>,
    subscribed: bool,
    heartbeat: Option<Duration>,
    first_deadline: Instant,
    last_record: Instant,
    bytes: Arc<AtomicU64>,
    events: u64,
    /// Set once an error was returned: every later call returns it.
    failed: Option<StreamError>,
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("url", &self.url)
            .field("subscribed", &self.subscribed)
            .field("heartbeat", &self.heartbeat)
            .field("events", &self.events)
            .finish()
    }
}

impl EventStream {
    /// The URL subscribed to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The heartbeat interval `SUBSCRIBED` announced.
    pub fn heartbeat_interval(&self) -> Option<Duration> {
        self.heartbeat
    }

    /// Bytes read from the master so far (framing included).
    pub fn bytes_read(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The silence bound in force: 3 × the heartbeat interval after
    /// `SUBSCRIBED`, the first-event timeout before.
    fn silence_deadline(&self) -> Option<(Instant, Duration)> {
        if !self.subscribed {
            return Some((
                self.first_deadline,
                self.first_deadline
                    .saturating_duration_since(self.last_record),
            ));
        }
        let hb = self.heartbeat?;
        let limit = hb.saturating_mul(3);
        Some((self.last_record.checked_add(limit)?, limit))
    }

    /// Waits for the next event until `until`. The first event is always
    /// `SUBSCRIBED` (else [`StreamError::Broken`]).
    pub fn next(&mut self, until: Instant) -> Result<Next, StreamError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let out = self.next_inner(until);
        if let Err(e) = &out {
            self.failed = Some(e.clone());
        }
        out
    }

    fn next_inner(&mut self, until: Instant) -> Result<Next, StreamError> {
        let silence = self.silence_deadline();
        let wake = match silence {
            Some((at, _)) => at.min(until),
            None => until,
        };
        let item = match self
            .rx
            .recv_timeout(wake.saturating_duration_since(Instant::now()))
        {
            Ok(item) => item,
            Err(RecvTimeoutError::Timeout) => {
                if let Some((at, limit)) = silence
                    && Instant::now() >= at
                {
                    return Err(StreamError::Silent {
                        url: self.url.clone(),
                        after: limit,
                    });
                }
                return Ok(Next::Idle);
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(StreamError::Broken {
                    url: self.url.clone(),
                    reason: "the reader stopped".to_string(),
                });
            }
        };
        let arrived = Instant::now();
        self.last_record = arrived;
        match item {
            Item::End(None) => Err(StreamError::Ended {
                url: self.url.clone(),
            }),
            Item::End(Some(e)) => Err(StreamError::Broken {
                url: self.url.clone(),
                reason: e.to_string(),
            }),
            Item::Bad(e) if !self.subscribed => Err(StreamError::Broken {
                url: self.url.clone(),
                reason: format!("the first event is not a readable SUBSCRIBED: {e}"),
            }),
            Item::Bad(e) => {
                warn!("{}: {e}: skipped", self.url);
                Ok(Next::Bad(e))
            }
            Item::Event(event, size) => {
                self.events += 1;
                if !self.subscribed {
                    let Event::Subscribed(s) = &event else {
                        return Err(StreamError::Broken {
                            url: self.url.clone(),
                            reason: format!("the first event is {}, not SUBSCRIBED", event.kind()),
                        });
                    };
                    self.subscribed = true;
                    self.heartbeat = s
                        .heartbeat_interval_seconds
                        .filter(|h| h.is_finite() && *h > 0.0)
                        .and_then(|h| Duration::try_from_secs_f64(h).ok());
                    debug!(
                        "{}: SUBSCRIBED ({size} bytes), heartbeat every {:?}",
                        self.url, self.heartbeat
                    );
                }
                Ok(Next::Event { event, arrived })
            }
        }
    }
}

/// Subscribes to the event stream of `leader` (a `masters` entry such as
/// `http://10.0.0.1:5050`, usually [`super::FetchedState::master`]),
/// with the credentials, CA and timeouts of `opts`.
pub fn subscribe(
    opts: &MesosOptions,
    leader: &str,
    sub: &SubscribeOptions,
) -> Result<EventStream, StreamError> {
    let masters = opts
        .masters
        .iter()
        .map(|entry| parse_master(entry, opts.https))
        .collect::<Result<Vec<_>, _>>()?;
    let target = parse_master(leader, opts.https)?;
    let client = Client::new(opts, &masters)?;
    open(&client, &target, sub)
}

fn open(
    client: &Client,
    target: &Master,
    sub: &SubscribeOptions,
) -> Result<EventStream, StreamError> {
    let url = target.url(API_PATH);
    let secure = target.scheme == "https";
    let mut request = client
        .agent()
        .post(&url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json");
    let auth = client.authorization_for(target, secure);
    if let Some(value) = auth {
        request = request.header("Authorization", value);
    }
    debug!(
        "POST {url} SUBSCRIBE{}",
        if auth.is_some() {
            " (with basic auth)"
        } else {
            ""
        }
    );
    let started = Instant::now();
    let response = request
        .config()
        .timeout_global(None)
        .timeout_recv_response(Some(sub.first_event_timeout))
        .timeout_per_read(Some(sub.read_timeout))
        .build()
        .send(&br#"{"type":"SUBSCRIBE"}"#[..])
        .map_err(|e| StreamError::Transport {
            url: url.clone(),
            reason: transport_reason(e),
        })?;
    let status = response.status().as_u16();
    if matches!(status, 301 | 302 | 303 | 307 | 308 | 503) {
        let location = response
            .headers()
            .get(ureq::http::header::LOCATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        // Say where it points, resolved against this master.
        let location = location.map(|l| match resolve_location(target, API_PATH, &l) {
            Ok((m, path)) => m.url(&path),
            Err(_) => l,
        });
        return Err(StreamError::NotLeader {
            url,
            status,
            location,
        });
    }
    if status != 200 {
        let mut body = Vec::new();
        let _ = response
            .into_body()
            .into_with_config()
            .limit(512)
            .reader()
            .read_to_end(&mut body);
        let message: String = String::from_utf8_lossy(&body)
            .split(['\r', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(200)
            .collect();
        return Err(StreamError::Status {
            url,
            status,
            message,
        });
    }
    let reader = response.into_body().into_with_config().reader();
    let bytes = Arc::new(AtomicU64::new(0));
    let (tx, rx) = sync_channel(1);
    {
        let bytes = Arc::clone(&bytes);
        let max = sub.max_record;
        let name = format!("mesos-events-{}", target.authority());
        std::thread::Builder::new()
            .name(name)
            .spawn(move || read_loop(reader, max, &tx, &bytes))
            .map_err(|e| StreamError::Broken {
                url: url.clone(),
                reason: format!("cannot start the reader thread: {e}"),
            })?;
    }
    Ok(EventStream {
        url,
        rx,
        subscribed: false,
        heartbeat: None,
        first_deadline: started + sub.first_event_timeout,
        last_record: started,
        bytes,
        events: 0,
        failed: None,
    })
}

fn read_loop(reader: impl Read, max: u64, tx: &SyncSender<Item>, bytes: &AtomicU64) {
    let mut records = RecordReader::new(reader, max);
    loop {
        let item = match records.next_record() {
            Ok(Some(record)) => match v1::parse_event(&record) {
                Ok(event) => Item::Event(event, record.len()),
                Err(e) => Item::Bad(e),
            },
            Ok(None) => Item::End(None),
            Err(e) => Item::End(Some(e)),
        };
        bytes.store(records.bytes_read(), Ordering::Relaxed);
        let end = matches!(item, Item::End(_));
        if tx.send(item).is_err() || end {
            return;
        }
    }
}

fn transport_reason(e: ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::Io(io) => super::fetch::io_reason(&io),
        ureq::Error::HostNotFound => "host not found".to_string(),
        ureq::Error::ConnectionFailed => "connection failed".to_string(),
        other => other.to_string(),
    }
}
