//! Fake NS1 API: a stateful HTTP/1.1 server on 127.0.0.1 (OS-assigned
//! port), built on std only (plus serde_json for bodies), for the client's
//! integration tests and for end-to-end tests of the `mesos2ns1` binary.
//!
//! It holds one zone (with its apex NS record), and any further zones a
//! test adds ([`FakeNs1::add_zone`]: each its own listing, id and serial;
//! a record belongs to the most specific zone that holds its name), validates requests the way
//! the real API does (see shared/spec/ns1-api.md), pages zone listings with
//! `Link: <http://…?after=ID&limit=N>; rel="next"`, enforces a token bucket
//! per HTTP method with `X-Ratelimit-*` headers on every response, checks
//! `X-NSONE-Key`, and can inject faults (HTML 503, 500, dropped connection,
//! lost reply after applying a write, 429).
//!
//! Connections are kept alive (HTTP/1.1 default) unless the client sends
//! `Connection: close` or speaks HTTP/1.0; request bodies may use
//! `Content-Length` or chunked encoding.

use std::collections::{BTreeMap, HashMap};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A fault to inject into upcoming requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 503 with a Cloudflare-like HTML page (rate-limit headers present).
    ServerError503Html,
    /// 500 with `{"message": "Internal server error"}`.
    ServerError500Json,
    /// Close the socket without reply; the request is NOT applied.
    DropConnection,
    /// Apply the request, then close the socket without reply.
    LoseReply,
    /// 429 `{"message":"Rate limit exceeded"}` regardless of the bucket.
    Status429,
    /// 404 `{"message":"zone not found"}` although the zone exists (an
    /// inconsistent read).
    ZoneNotFound404,
}

/// One request as received by the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// Path without query, as sent (percent-encoding kept).
    pub path: String,
    /// Query string without `?` (empty if none).
    pub query: String,
    /// Status returned; 0 when no reply was sent (DropConnection,
    /// LoseReply).
    pub status: u16,
    /// Request body as text (lossy UTF-8).
    pub body: String,
    /// The injected fault that hit this request, if any.
    pub fault: Option<Fault>,
    /// When the fake started handling it (after the configured delay).
    pub at: Instant,
}

/// What the zone-file import endpoint does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMode {
    /// Creates the zone with every record of the file.
    Full,
    /// Creates the zone but leaves out the last `n` record sets of the
    /// file (as an import that silently skips what it cannot parse).
    DropLast(usize),
    /// 400 `{"message":"zone file import is not allowed for this account"}`.
    Refuse,
    /// 413 with the HTML page a front end sends for a body over its limit
    /// (`limit` bytes); smaller imports are done in full.
    TooLarge(usize),
}

/// Which rate-limit headers the fake sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderMode {
    /// The bucket's true headers.
    Real,
    /// None at all.
    Missing,
    /// These instead of the real ones (the bucket is still enforced).
    Fixed(Vec<(String, String)>),
}

#[derive(Debug, Clone)]
struct StoredRecord {
    id: String,
    ttl: u32,
    answers: Vec<Vec<Value>>,
    answer_ids: Vec<String>,
    /// `link` (linked records); set only by [`FakeNs1::insert_special`].
    link: Option<String>,
    /// `tier` (1 plain, > 1 advanced); set only by [`FakeNs1::insert_special`].
    tier: u32,
}

#[derive(Debug, Clone)]
struct Bucket {
    limit: u32,
    period: f64,
    tokens: f64,
    last: Instant,
    /// Tokens per second spent by "other tools" on the same account.
    foreign: f64,
}

impl Bucket {
    fn new(limit: u32, period: f64) -> Bucket {
        Bucket {
            limit,
            period,
            tokens: f64::from(limit),
            last: Instant::now(),
            foreign: 0.0,
        }
    }

    /// Refills (less what other tools spent), then takes one token if
    /// available. Returns whether the request is allowed.
    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        let rate = f64::from(self.limit) / self.period;
        self.tokens = ((self.tokens + elapsed * rate).min(f64::from(self.limit))
            - elapsed * self.foreign)
            .max(0.0);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn headers(&self) -> Vec<(String, String)> {
        vec![
            ("X-Ratelimit-Limit".into(), self.limit.to_string()),
            (
                "X-Ratelimit-Remaining".into(),
                (self.tokens.max(0.0).floor() as u64).to_string(),
            ),
            ("X-Ratelimit-Period".into(), format!("{}", self.period)),
            ("X-Ratelimit-By".into(), "customer".into()),
        ]
    }
}

#[derive(Debug, Clone)]
struct FaultRule {
    method: Option<String>,
    path_contains: Option<String>,
    fault: Fault,
    remaining: usize,
}

struct State {
    zone: String,
    zone_id: String,
    records: BTreeMap<(String, String), StoredRecord>,
    /// Every record id ever issued → its key (zone-listing cursors).
    ids: HashMap<String, (String, String)>,
    next_id: u64,
    log: Vec<Request>,
    page_size: usize,
    buckets: HashMap<String, Bucket>,
    faults: Vec<FaultRule>,
    api_key: Option<String>,
    delay: Duration,
    serial: u64,
    zone_exists: bool,
    import_mode: ImportMode,
    header_mode: HeaderMode,
    path_prefix: String,
    omit_records: bool,
    /// Records another writer puts in place right after a reply is lost
    /// (LoseReply): (domain, type, answers in short form).
    after_lost_reply: Vec<(String, String, Vec<String>)>,
    /// Zones beside `zone` ([`FakeNs1::add_zone`]): name → (id, serial).
    extra_zones: BTreeMap<String, (String, u64)>,
}

impl State {
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("5dc9a1c2{:016x}", self.next_id)
    }

    fn take_fault(&mut self, method: &str, path: &str) -> Option<Fault> {
        for rule in &mut self.faults {
            if rule.remaining == 0 {
                continue;
            }
            let method_ok = rule
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method));
            let path_ok = rule
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p));
            if method_ok && path_ok {
                rule.remaining -= 1;
                return Some(rule.fault);
            }
        }
        None
    }

    /// The zone a name belongs to: the most specific zone held that
    /// holds it (at a label boundary).
    fn zone_of(&self, domain: &str) -> Option<String> {
        std::iter::once(self.zone.as_str())
            .chain(self.extra_zones.keys().map(String::as_str))
            .filter(|z| domain == *z || domain.ends_with(&format!(".{z}")))
            .max_by_key(|z| z.len())
            .map(str::to_string)
    }

    /// Moves the serial of the zone `domain` belongs to.
    fn bump(&mut self, domain: &str) {
        match self.zone_of(domain) {
            Some(z) if z != self.zone => {
                if let Some(e) = self.extra_zones.get_mut(&z) {
                    e.1 += 1;
                }
            }
            _ => self.serial += 1,
        }
    }

    fn store(&mut self, domain: &str, rtype: &str, ttl: u32, answers: Vec<Vec<Value>>) {
        let key = (domain.to_string(), rtype.to_string());
        let id = match self.records.get(&key) {
            Some(r) => r.id.clone(),
            None => self.new_id(),
        };
        let answer_ids = answers.iter().map(|_| self.new_id()).collect();
        self.ids.insert(id.clone(), key.clone());
        self.records.insert(
            key,
            StoredRecord {
                id,
                ttl,
                answers,
                answer_ids,
                link: None,
                tier: 1,
            },
        );
        self.bump(domain);
    }
}

/// The fake server. Stops (closing its listener and idle connections) when
/// dropped.
pub struct FakeNs1 {
    state: Arc<Mutex<State>>,
    addr: SocketAddr,
    shutdown: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Renders one rdata element as it appears in `short_answers`.
fn rdata_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn short_answer(rdata: &[Value]) -> String {
    rdata.iter().map(rdata_text).collect::<Vec<_>>().join(" ")
}

/// Parses a short_answers-form string into rdata elements (SRV numbers
/// become JSON numbers).
fn parse_short(rtype: &str, answer: &str) -> Vec<Value> {
    let fields: Vec<&str> = answer.split_whitespace().collect();
    match rtype {
        "SRV" => fields
            .iter()
            .enumerate()
            .map(|(i, f)| match f.parse::<u64>() {
                Ok(n) if i < 3 => json!(n),
                _ => json!(f),
            })
            .collect(),
        "TXT" | "SPF" => vec![json!(answer)],
        _ => fields.iter().map(|f| json!(f)).collect(),
    }
}

impl FakeNs1 {
    /// Starts a fake holding `zone` (lower-cased) with its apex NS record
    /// (`dns1.p01.nsone.net` … `dns4.p01.nsone.net`, ttl 3600). Defaults:
    /// page size 2500; buckets GET 900/300 s, PUT 100/200 s, POST 300/300 s,
    /// DELETE 100/200 s; any non-empty `X-NSONE-Key` accepted (see
    /// [`FakeNs1::set_api_key`]); no delay; no faults.
    pub fn start(zone: &str) -> FakeNs1 {
        let zone = zone.trim_end_matches('.').to_ascii_lowercase();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let mut buckets = HashMap::new();
        buckets.insert("GET".to_string(), Bucket::new(900, 300.0));
        buckets.insert("PUT".to_string(), Bucket::new(100, 200.0));
        buckets.insert("POST".to_string(), Bucket::new(300, 300.0));
        buckets.insert("DELETE".to_string(), Bucket::new(100, 200.0));
        let mut st = State {
            zone: zone.clone(),
            zone_id: String::new(),
            records: BTreeMap::new(),
            ids: HashMap::new(),
            next_id: 0,
            log: Vec::new(),
            page_size: 2500,
            buckets,
            faults: Vec::new(),
            api_key: None,
            delay: Duration::ZERO,
            serial: 1_573_495_279,
            zone_exists: true,
            import_mode: ImportMode::Full,
            header_mode: HeaderMode::Real,
            path_prefix: String::new(),
            omit_records: false,
            after_lost_reply: Vec::new(),
            extra_zones: BTreeMap::new(),
        };
        st.zone_id = st.new_id();
        let ns = (1..=4)
            .map(|i| vec![json!(format!("dns{i}.p01.nsone.net"))])
            .collect();
        st.store(&zone, "NS", 3600, ns);
        let state = Arc::new(Mutex::new(st));
        let shutdown = Arc::new(AtomicBool::new(false));
        let accept_thread = {
            let state = Arc::clone(&state);
            let shutdown = Arc::clone(&shutdown);
            thread::Builder::new()
                .name("fake-ns1-accept".into())
                .spawn(move || {
                    for conn in listener.incoming() {
                        if shutdown.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(stream) = conn else { continue };
                        let state = Arc::clone(&state);
                        let shutdown = Arc::clone(&shutdown);
                        let _ = thread::Builder::new()
                            .name("fake-ns1-conn".into())
                            .spawn(move || serve_connection(stream, &state, &shutdown, addr));
                    }
                })
                .expect("spawn accept thread")
        };
        FakeNs1 {
            state,
            addr,
            shutdown,
            accept_thread: Some(accept_thread),
        }
    }

    /// `http://127.0.0.1:PORT/v1/`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/v1/", self.addr)
    }

    /// The socket address the fake listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The zone name.
    pub fn zone(&self) -> String {
        lock(&self.state).zone.clone()
    }

    /// Seeds (or replaces) a record. `answers` are in short_answers form
    /// (SRV `"0 1 31000 t.example.com"`, numbers stored as JSON numbers).
    pub fn insert(&self, domain: &str, rtype: &str, ttl: u32, answers: &[&str]) {
        let rtype = rtype.to_ascii_uppercase();
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let answers = answers.iter().map(|a| parse_short(&rtype, a)).collect();
        lock(&self.state).store(&domain, &rtype, ttl, answers);
    }

    /// Seeds a record as [`FakeNs1::insert`] does, with a `link` and a
    /// `tier` (a linked or an advanced record, as NS1 lists them).
    pub fn insert_special(
        &self,
        domain: &str,
        rtype: &str,
        ttl: u32,
        answers: &[&str],
        link: Option<&str>,
        tier: u32,
    ) {
        self.insert(domain, rtype, ttl, answers);
        let key = (
            domain.trim_end_matches('.').to_ascii_lowercase(),
            rtype.to_ascii_uppercase(),
        );
        let mut st = lock(&self.state);
        if let Some(r) = st.records.get_mut(&key) {
            r.link = link.map(str::to_string);
            r.tier = tier;
        }
    }

    /// The `link` and `tier` of one record, or None if absent.
    pub fn special(&self, domain: &str, rtype: &str) -> Option<(Option<String>, u32)> {
        let key = (domain.to_ascii_lowercase(), rtype.to_ascii_uppercase());
        lock(&self.state)
            .records
            .get(&key)
            .map(|r| (r.link.clone(), r.tier))
    }

    /// Removes a record directly (no request logged), moving the zone's
    /// serial as NS1 does on every change. Returns whether it existed.
    pub fn remove(&self, domain: &str, rtype: &str) -> bool {
        let removed = self.remove_keeping_serial(domain, rtype);
        if removed {
            lock(&self.state).serial += 1;
        }
        removed
    }

    /// Removes a record without moving the serial: a change the serial
    /// does not announce (which the cached listing must survive).
    pub fn remove_keeping_serial(&self, domain: &str, rtype: &str) -> bool {
        let key = (
            domain.trim_end_matches('.').to_ascii_lowercase(),
            rtype.to_ascii_uppercase(),
        );
        lock(&self.state).records.remove(&key).is_some()
    }

    /// Adds another zone (a reverse zone, say) with its apex NS record.
    pub fn add_zone(&self, zone: &str) {
        let zone = zone.trim_end_matches('.').to_ascii_lowercase();
        let mut st = lock(&self.state);
        let id = st.new_id();
        st.extra_zones.insert(zone.clone(), (id, 1_600_000_000));
        let ns = (1..=4)
            .map(|i| vec![json!(format!("dns{i}.p01.nsone.net"))])
            .collect();
        st.store(&zone, "NS", 3600, ns);
    }

    /// The records of one zone, as [`FakeNs1::records`].
    pub fn zone_records(&self, zone: &str) -> Vec<(String, String, u32, Vec<String>)> {
        let zone = zone.trim_end_matches('.').to_ascii_lowercase();
        let st = lock(&self.state);
        let owners: Vec<bool> = st
            .records
            .keys()
            .map(|(d, _)| st.zone_of(d).as_deref() == Some(zone.as_str()))
            .collect();
        drop(st);
        self.records()
            .into_iter()
            .zip(owners)
            .filter(|(_, o)| *o)
            .map(|(r, _)| r)
            .collect()
    }

    /// Sorted snapshot: (domain, type, ttl, sorted short answers).
    pub fn records(&self) -> Vec<(String, String, u32, Vec<String>)> {
        let st = lock(&self.state);
        st.records
            .iter()
            .map(|((domain, rtype), r)| {
                let mut answers: Vec<String> = r.answers.iter().map(|a| short_answer(a)).collect();
                answers.sort();
                (domain.clone(), rtype.clone(), r.ttl, answers)
            })
            .collect()
    }

    /// The rdata arrays of one record as stored (JSON values as sent), or
    /// None if absent.
    pub fn raw_answers(&self, domain: &str, rtype: &str) -> Option<Vec<Vec<Value>>> {
        let key = (domain.to_ascii_lowercase(), rtype.to_ascii_uppercase());
        lock(&self.state)
            .records
            .get(&key)
            .map(|r| r.answers.clone())
    }

    /// Every request received so far, in order.
    pub fn log(&self) -> Vec<Request> {
        lock(&self.state).log.clone()
    }

    /// Number of PUT/POST/DELETE requests received (any status, including
    /// dropped ones).
    pub fn writes(&self) -> usize {
        lock(&self.state)
            .log
            .iter()
            .filter(|r| matches!(r.method.as_str(), "PUT" | "POST" | "DELETE"))
            .count()
    }

    /// Forgets the request log.
    pub fn clear_log(&self) {
        lock(&self.state).log.clear();
    }

    /// Records per page of `GET /v1/zones/{zone}` when the request has no
    /// `limit` (minimum 1).
    pub fn set_page_size(&self, n: usize) {
        lock(&self.state).page_size = n.max(1);
    }

    /// Replaces `method`'s token bucket with a full one of `limit` tokens
    /// refilled over `period_secs`.
    pub fn set_bucket(&self, method: &str, limit: u32, period_secs: f64) {
        assert!(limit > 0 && period_secs > 0.0, "bucket must be positive");
        lock(&self.state)
            .buckets
            .insert(method.to_ascii_uppercase(), Bucket::new(limit, period_secs));
    }

    /// Injects `fault` into the next `count` requests (any method/path).
    pub fn fail_next(&self, fault: Fault, count: usize) {
        lock(&self.state).faults.push(FaultRule {
            method: None,
            path_contains: None,
            fault,
            remaining: count,
        });
    }

    /// Injects `fault` into the next `count` requests with this method whose
    /// path contains `path_contains`.
    pub fn fail_matching(&self, method: &str, path_contains: &str, fault: Fault, count: usize) {
        lock(&self.state).faults.push(FaultRule {
            method: Some(method.to_ascii_uppercase()),
            path_contains: Some(path_contains.to_string()),
            fault,
            remaining: count,
        });
    }

    /// Removes every injected fault not yet used up.
    pub fn clear_faults(&self) {
        lock(&self.state).faults.clear();
    }

    /// Requires exactly this `X-NSONE-Key`; anything else gets 401
    /// `{"message":"Unauthorized"}`. (Before this is called, any non-empty
    /// key is accepted, a missing one is not.)
    pub fn set_api_key(&self, key: &str) {
        lock(&self.state).api_key = Some(key.to_string());
    }

    /// Extra latency added before handling each request.
    pub fn set_delay(&self, d: Duration) {
        lock(&self.state).delay = d;
    }

    /// Starts a fake where `zone` does not exist yet (every zone and record
    /// request gets 404 `zone not found`) until a zone-file import creates
    /// it.
    pub fn start_without_zone(zone: &str) -> FakeNs1 {
        let fake = FakeNs1::start(zone);
        {
            let mut st = lock(&fake.state);
            st.zone_exists = false;
            st.records.clear();
        }
        fake
    }

    /// Whether the zone exists.
    pub fn zone_exists(&self) -> bool {
        lock(&self.state).zone_exists
    }

    /// What `PUT /v1/import/zonefile/{zone}` does.
    pub fn set_import_mode(&self, mode: ImportMode) {
        lock(&self.state).import_mode = mode;
    }

    /// Which rate-limit headers responses carry.
    pub fn set_header_mode(&self, mode: HeaderMode) {
        lock(&self.state).header_mode = mode;
    }

    /// Serve the API under this path prefix (`/ns1` → `/ns1/v1/...`), as a
    /// gateway would; `Link` URLs still name `/v1/...` (the API behind the
    /// gateway does not know the prefix).
    pub fn set_path_prefix(&self, prefix: &str) {
        lock(&self.state).path_prefix = prefix.trim_end_matches('/').to_string();
    }

    /// Zone answers without a `records` list.
    pub fn set_omit_records(&self, omit: bool) {
        lock(&self.state).omit_records = omit;
    }

    /// Sets what is left in `method`'s bucket now (as if another tool on
    /// the account had spent the rest).
    pub fn set_tokens(&self, method: &str, tokens: f64) {
        let mut st = lock(&self.state);
        let now = Instant::now();
        if let Some(b) = st.buckets.get_mut(&method.to_ascii_uppercase()) {
            b.take(now); // settle the refill up to now
            b.tokens = tokens;
        }
    }

    /// Other tools on the account spend `per_sec` tokens per second from
    /// `method`'s bucket.
    pub fn set_foreign_spend(&self, method: &str, per_sec: f64) {
        let mut st = lock(&self.state);
        let now = Instant::now();
        if let Some(b) = st.buckets.get_mut(&method.to_ascii_uppercase()) {
            b.take(now); // settle the time before the change
            b.tokens += 1.0; // (take spent one)
            b.foreign = per_sec;
        }
    }

    /// The zone's serial now.
    pub fn serial(&self) -> u64 {
        lock(&self.state).serial
    }

    /// Sets the zone's serial (a change the serial does not announce).
    pub fn set_serial(&self, serial: u64) {
        lock(&self.state).serial = serial;
    }

    /// After the next lost reply (a [`Fault::LoseReply`] that fires), puts
    /// this record in place before anything else is handled: another
    /// writer re-creating a name between a DELETE and its retry.
    pub fn after_lost_reply_insert(&self, domain: &str, rtype: &str, answers: &[&str]) {
        lock(&self.state).after_lost_reply.push((
            domain.to_ascii_lowercase(),
            rtype.to_ascii_uppercase(),
            answers.iter().map(|a| a.to_string()).collect(),
        ));
    }
}

impl Drop for FakeNs1 {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------
// HTTP/1.1 plumbing

struct HttpRequest {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    keep_alive: bool,
}

impl HttpRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

enum Parse {
    Complete(HttpRequest, usize),
    /// Need more bytes; `expects_continue` when the client waits for
    /// `100 Continue` before sending the body.
    Incomplete {
        expects_continue: bool,
    },
    Bad(&'static str),
}

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 16 * 1024 * 1024;

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_request(buf: &[u8]) -> Parse {
    // Reject non-HTTP traffic (e.g. a TLS ClientHello) at once instead of
    // waiting for a header terminator that never comes.
    let method_len = buf.iter().take_while(|b| b.is_ascii_uppercase()).count();
    if method_len < buf.len() && (method_len == 0 || buf[method_len] != b' ') {
        return Parse::Bad("not an HTTP request");
    }
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD {
            Parse::Bad("header too large")
        } else {
            Parse::Incomplete {
                expects_continue: false,
            }
        };
    };
    let Ok(head) = std::str::from_utf8(&buf[..head_end]) else {
        return Parse::Bad("non-UTF-8 header");
    };
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Parse::Bad("bad request line");
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Parse::Bad("bad request line");
    }
    let mut headers = Vec::new();
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            return Parse::Bad("bad header line");
        };
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let connection = get("connection").unwrap_or("").to_ascii_lowercase();
    let keep_alive = if version == "HTTP/1.0" {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    let expects_continue = get("expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));
    let body_start = head_end + 4;
    let chunked =
        get("transfer-encoding").is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
    let (body, consumed) = if chunked {
        match parse_chunked(&buf[body_start..]) {
            Ok(Some((body, used))) => (body, body_start + used),
            Ok(None) => return Parse::Incomplete { expects_continue },
            Err(e) => return Parse::Bad(e),
        }
    } else {
        let len = match get("content-length") {
            None => 0,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n <= MAX_BODY => n,
                _ => return Parse::Bad("bad content-length"),
            },
        };
        if buf.len() < body_start + len {
            return Parse::Incomplete { expects_continue };
        }
        (buf[body_start..body_start + len].to_vec(), body_start + len)
    };
    Parse::Complete(
        HttpRequest {
            method: method.to_string(),
            target: target.to_string(),
            headers,
            body,
            keep_alive,
        },
        consumed,
    )
}

/// Decodes a chunked body. Ok(None): incomplete.
fn parse_chunked(buf: &[u8]) -> Result<Option<(Vec<u8>, usize)>, &'static str> {
    let mut pos = 0;
    let mut body = Vec::new();
    loop {
        let Some(line_end) = find(&buf[pos..], b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&buf[pos..pos + line_end]).map_err(|_| "bad chunk")?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "bad chunk size")?;
        pos += line_end + 2;
        if size == 0 {
            // Trailers until an empty line.
            loop {
                let Some(end) = find(&buf[pos..], b"\r\n") else {
                    return Ok(None);
                };
                pos += end + 2;
                if end == 0 {
                    return Ok(Some((body, pos)));
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return Err("body too large");
        }
        if buf.len() < pos + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        pos += size + 2;
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

struct Reply {
    status: u16,
    content_type: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, v: &Value) -> Reply {
        let mut body = serde_json::to_vec(v).expect("serialize");
        body.push(b'\n');
        Reply {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body,
        }
    }

    fn message(status: u16, msg: &str) -> Reply {
        Reply::json(status, &json!({ "message": msg }))
    }

    fn html503() -> Reply {
        let body = "<!DOCTYPE html>\n<html lang=\"en-US\">\n<head>\n<title>api.nsone.net | 503: Service temporarily unavailable</title>\n</head>\n<body>\n<div id=\"cf-wrapper\"><h1>Service temporarily unavailable</h1>\n<span>Error code 503</span>\n<p>Visit cloudflare.com for more information.</p></div>\n</body>\n</html>\n";
        Reply {
            status: 503,
            content_type: "text/html; charset=UTF-8",
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    /// What nginx-style front ends answer to a body over their limit.
    fn html413() -> Reply {
        let body = "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
        Reply {
            status: 413,
            content_type: "text/html",
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn write_to(&self, stream: &mut TcpStream, keep_alive: bool) -> std::io::Result<()> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len(),
            if keep_alive { "keep-alive" } else { "close" }
        );
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(&self.body);
        stream.write_all(&out)?;
        stream.flush()
    }
}

enum Outcome {
    Reply(Reply),
    /// Close without replying.
    Drop,
}

fn serve_connection(
    mut stream: TcpStream,
    state: &Mutex<State>,
    shutdown: &AtomicBool,
    addr: SocketAddr,
) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf: Vec<u8> = Vec::new();
    let mut sent_continue = false;
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match parse_request(&buf) {
            Parse::Complete(req, used) => {
                buf.drain(..used);
                sent_continue = false;
                let keep_alive = req.keep_alive;
                match handle(state, addr, &req) {
                    Outcome::Drop => {
                        let _ = stream.shutdown(Shutdown::Both);
                        return;
                    }
                    Outcome::Reply(reply) => {
                        if reply.write_to(&mut stream, keep_alive).is_err() || !keep_alive {
                            let _ = stream.shutdown(Shutdown::Both);
                            return;
                        }
                    }
                }
                continue;
            }
            Parse::Bad(why) => {
                let reply = Reply::message(400, &format!("bad HTTP request: {why}"));
                let _ = reply.write_to(&mut stream, false);
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            Parse::Incomplete { expects_continue } => {
                if expects_continue && !sent_continue {
                    sent_continue = true;
                    if stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err() {
                        return;
                    }
                }
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if shutdown.load(Ordering::SeqCst) {
                    return;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hi = (b[i + 1] as char).to_digit(16);
            let lo = (b[i + 2] as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Handles one request: logging, delay, faults, rate limiting, auth and
/// routing.
fn handle(state: &Mutex<State>, addr: SocketAddr, req: &HttpRequest) -> Outcome {
    let delay = lock(state).delay;
    if !delay.is_zero() {
        thread::sleep(delay);
    }
    let mut st = lock(state);
    let (path, query) = match req.target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (req.target.clone(), String::new()),
    };
    let method = req.method.to_ascii_uppercase();
    let fault = st.take_fault(&method, &path);
    let log_index = st.log.len();
    st.log.push(Request {
        method: method.clone(),
        path: path.clone(),
        query: query.clone(),
        status: 0,
        body: String::from_utf8_lossy(&req.body).into_owned(),
        fault,
        at: Instant::now(),
    });
    if fault == Some(Fault::DropConnection) {
        return Outcome::Drop;
    }
    let now = Instant::now();
    let header_mode = st.header_mode.clone();
    // Methods without a configured bucket get one on first use, so every
    // response carries rate-limit headers.
    let bucket = st
        .buckets
        .entry(method.clone())
        .or_insert_with(|| Bucket::new(100, 200.0));
    let allowed = bucket.take(now);
    let rl_headers = match &header_mode {
        HeaderMode::Real => bucket.headers(),
        HeaderMode::Missing => Vec::new(),
        HeaderMode::Fixed(h) => h.clone(),
    };
    let mut reply = if !allowed || fault == Some(Fault::Status429) {
        Reply::message(429, "Rate limit exceeded")
    } else if fault == Some(Fault::ServerError503Html) {
        Reply::html503()
    } else if fault == Some(Fault::ServerError500Json) {
        Reply::message(500, "Internal server error")
    } else if fault == Some(Fault::ZoneNotFound404) {
        Reply::message(404, "zone not found")
    } else if !authorized(&st, req) {
        Reply::message(401, "Unauthorized")
    } else {
        let prefix = st.path_prefix.clone();
        match path.strip_prefix(prefix.as_str()) {
            Some(p) if p.starts_with('/') => {
                let ctype = req.header("content-type").unwrap_or("").to_string();
                route(&mut st, addr, &method, p, &query, &req.body, &ctype)
            }
            _ => Reply::message(404, "Not Found"),
        }
    };
    reply.headers.extend(rl_headers);
    if fault == Some(Fault::LoseReply) {
        // Another writer acts between the lost reply and any retry.
        for (domain, rtype, answers) in std::mem::take(&mut st.after_lost_reply) {
            let answers = answers.iter().map(|a| parse_short(&rtype, a)).collect();
            st.store(&domain, &rtype, 300, answers);
        }
        return Outcome::Drop;
    }
    st.log[log_index].status = reply.status;
    Outcome::Reply(reply)
}

fn authorized(st: &State, req: &HttpRequest) -> bool {
    match (req.header("x-nsone-key"), &st.api_key) {
        (None, _) => false,
        (Some(k), None) => !k.is_empty(),
        (Some(k), Some(expected)) => k == expected,
    }
}

fn route(
    st: &mut State,
    addr: SocketAddr,
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
    content_type: &str,
) -> Reply {
    let Some(rest) = path.strip_prefix("/v1/") else {
        return Reply::message(404, "Not Found");
    };
    let segs: Vec<String> = rest
        .trim_end_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (method, segs.as_slice()) {
        ("GET", ["zones"]) => {
            let mut z = zone_json(st);
            if let Some(obj) = z.as_object_mut() {
                obj.remove("records");
            }
            Reply::json(200, &json!([z]))
        }
        ("GET", ["zones", zone]) => get_zone(st, addr, zone, query),
        ("PUT", ["import", "zonefile", zone]) => import_zonefile(st, zone, body, content_type),
        ("PUT", ["zones", zone]) => create_zone(st, zone, body),
        (_, ["zones", _]) => Reply::message(405, "zone management is not supported by the fake"),
        (_, ["zones", zone, domain, rtype]) => record_op(st, method, zone, domain, rtype, body),
        _ => Reply::message(404, "Not Found"),
    }
}

fn zone_json(st: &State) -> Value {
    zone_json_of(st, &st.zone)
}

/// The zone object of `zone` (the main zone or an added one).
fn zone_json_of(st: &State, zone: &str) -> Value {
    let (id, serial) = match st.extra_zones.get(zone) {
        Some((id, serial)) => (id.clone(), *serial),
        None => (st.zone_id.clone(), st.serial),
    };
    json!({
        "zone": zone,
        "id": id,
        "ttl": 3600,
        "nx_ttl": 3600,
        "retry": 7200,
        "refresh": 43200,
        "expiry": 1_209_600,
        "serial": serial,
        "dnssec": false,
        "hostmaster": "hostmaster@nsone.net",
        "primary_master": "dns1.p01.nsone.net",
        "dns_servers": ["dns1.p01.nsone.net", "dns2.p01.nsone.net", "dns3.p01.nsone.net", "dns4.p01.nsone.net"],
        "network_pools": ["p01"],
        "pool": "p01",
        "networks": [0],
        "primary": {"enabled": false, "secondaries": []},
        "meta": {},
        "link": null,
        "records": [],
    })
}

fn get_zone(st: &State, addr: SocketAddr, zone: &str, query: &str) -> Reply {
    let zone = zone.to_ascii_lowercase();
    let extra = st.extra_zones.contains_key(&zone);
    if !extra && (zone != st.zone || !st.zone_exists) {
        return Reply::message(404, "zone not found");
    }
    let mut z = zone_json_of(st, &zone);
    if query_param(query, "records") == Some("false") {
        if let Some(obj) = z.as_object_mut() {
            obj.remove("records");
        }
        return Reply::json(200, &z);
    }
    let limit = match query_param(query, "limit") {
        None => st.page_size,
        Some(v) => match v.parse::<usize>() {
            Ok(0) => st.page_size,
            Ok(n) => n,
            Err(_) => return Reply::message(400, "Input validation failed (limit)"),
        },
    };
    let start = match query_param(query, "after") {
        None => Bound::Unbounded,
        Some(id) => match st.ids.get(id) {
            Some(key) => Bound::Excluded(key.clone()),
            None => return Reply::message(400, "invalid pagination cursor"),
        },
    };
    let mut iter = st
        .records
        .range((start, Bound::Unbounded))
        .filter(|((d, _), _)| st.zone_of(d).as_deref() == Some(zone.as_str()));
    let mut page = Vec::new();
    let mut last_id = None;
    for ((domain, rtype), r) in iter.by_ref().take(limit) {
        page.push(json!({
            "domain": domain,
            "short_answers": r.answers.iter().map(|a| short_answer(a)).collect::<Vec<_>>(),
            "link": r.link,
            "ttl": r.ttl,
            "tier": r.tier,
            "type": rtype,
            "id": r.id,
        }));
        last_id = Some(r.id.clone());
    }
    let more = iter.next().is_some();
    z["records"] = Value::Array(page);
    if st.omit_records
        && let Some(obj) = z.as_object_mut()
    {
        obj.remove("records");
    }
    let mut reply = Reply::json(200, &z);
    if more && let Some(id) = last_id {
        reply.headers.push((
            "Link".into(),
            format!(
                "<http://{addr}/v1/zones/{}?after={id}&limit={limit}>; rel=\"next\"",
                zone
            ),
        ));
    }
    reply
}

fn record_json(st: &State, domain: &str, rtype: &str, r: &StoredRecord) -> Value {
    let answers: Vec<Value> = r
        .answers
        .iter()
        .zip(&r.answer_ids)
        .map(|(a, id)| json!({"answer": a, "id": id}))
        .collect();
    json!({
        "domain": domain,
        "zone": st.zone_of(domain).unwrap_or_else(|| st.zone.clone()),
        "type": rtype,
        "ttl": r.ttl,
        "id": r.id,
        "tier": r.tier,
        "use_client_subnet": true,
        "link": r.link,
        "answers": answers,
        "filters": [],
        "regions": {},
        "meta": {},
        "networks": [0],
    })
}

fn invalid(detail: &str) -> Reply {
    Reply::message(400, &format!("Input validation failed ({detail})"))
}

/// Validates one answer's rdata for `rtype`.
fn check_rdata(rtype: &str, rdata: &[Value]) -> Result<(), String> {
    let as_u16 = |v: &Value| -> Option<u64> {
        match v {
            Value::Number(n) => n.as_u64().filter(|n| *n <= 65535),
            Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse::<u64>().ok().filter(|n| *n <= 65535)
            }
            _ => None,
        }
    };
    match rtype {
        "A" => match rdata {
            [Value::String(s)] if s.parse::<Ipv4Addr>().is_ok() => Ok(()),
            _ => Err(format!(
                "{} is not a valid IPv4 address",
                Value::from(rdata.to_vec())
            )),
        },
        "AAAA" => match rdata {
            [Value::String(s)] if s.parse::<Ipv6Addr>().is_ok() => Ok(()),
            _ => Err(format!(
                "{} is not a valid IPv6 address",
                Value::from(rdata.to_vec())
            )),
        },
        "SRV" => match rdata {
            [p, w, port, Value::String(target)]
                if as_u16(p).is_some()
                    && as_u16(w).is_some()
                    && as_u16(port).is_some()
                    && !target.trim().is_empty() =>
            {
                Ok(())
            }
            _ => Err(format!(
                "SRV answer {} must be [priority, weight, port, target]",
                Value::from(rdata.to_vec())
            )),
        },
        "PTR" => match rdata {
            [Value::String(t)] if !t.trim().is_empty() && !t.contains(' ') => Ok(()),
            _ => Err(format!(
                "PTR answer {} must be [ptrdname]",
                Value::from(rdata.to_vec())
            )),
        },
        _ => {
            if rdata.is_empty() || !rdata.iter().all(|v| v.is_string() || v.is_number()) {
                Err(format!(
                    "{rtype} answer {} is invalid",
                    Value::from(rdata.to_vec())
                ))
            } else {
                Ok(())
            }
        }
    }
}

/// Parses and validates `answers`; Err is the 400 reply.
fn parse_answers(rtype: &str, v: &Value) -> Result<Vec<Vec<Value>>, Reply> {
    let Value::Array(items) = v else {
        return Err(invalid(
            "Value for field 'record.answers' is not of type array",
        ));
    };
    let mut out = Vec::new();
    for item in items {
        let Some(Value::Array(rdata)) = item.get("answer") else {
            return Err(invalid(&format!(
                "answer {item} must be an object with an 'answer' array"
            )));
        };
        check_rdata(rtype, rdata).map_err(|e| invalid(&e))?;
        out.push(rdata.clone());
    }
    Ok(out)
}

fn record_op(
    st: &mut State,
    method: &str,
    zone: &str,
    domain: &str,
    rtype: &str,
    body: &[u8],
) -> Reply {
    let zone = zone.to_ascii_lowercase();
    let domain = domain.to_ascii_lowercase();
    let rtype = rtype.to_ascii_uppercase();
    if !(domain == zone || domain.ends_with(&format!(".{zone}"))) {
        return Reply::message(400, &format!("\"{domain}\" not a valid domain in {zone}"));
    }
    let extra = st.extra_zones.contains_key(&zone);
    if !extra && (zone != st.zone || !st.zone_exists) {
        return Reply::message(404, "zone not found");
    }
    if st.zone_of(&domain).as_deref() != Some(zone.as_str()) {
        return Reply::message(400, &format!("\"{domain}\" not a valid domain in {zone}"));
    }
    let key = (domain.clone(), rtype.clone());
    match method {
        "GET" => match st.records.get(&key) {
            Some(r) => Reply::json(200, &record_json(st, &domain, &rtype, r)),
            None => Reply::message(404, "record not found"),
        },
        "DELETE" => {
            if st.records.remove(&key).is_some() {
                st.bump(&domain);
                Reply::json(200, &json!({}))
            } else {
                Reply::message(404, "record not found")
            }
        }
        "PUT" | "POST" => {
            let v: Value = match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => return invalid(&format!("invalid JSON: {e}")),
            };
            let Some(obj) = v.as_object() else {
                return invalid("body must be a JSON object");
            };
            let creating = method == "PUT";
            for (field, want) in [("zone", &zone), ("domain", &domain), ("type", &rtype)] {
                match obj.get(field) {
                    Some(Value::String(s)) if s.eq_ignore_ascii_case(want) => {}
                    None if !creating => {}
                    Some(other) => {
                        return invalid(&format!(
                            "field '{field}' is {other}, does not match the URL ({want})"
                        ));
                    }
                    None => return invalid(&format!("field '{field}' is required")),
                }
            }
            if obj.get("filters") == Some(&Value::Null) {
                return invalid("Value None for field 'record.filters' is not of type array");
            }
            let ttl = match obj.get("ttl") {
                None => None,
                Some(t) => match t.as_u64().and_then(|t| u32::try_from(t).ok()) {
                    Some(t) => Some(t),
                    None => {
                        return invalid(&format!(
                            "Value {t} for field 'record.ttl' is not of type integer"
                        ));
                    }
                },
            };
            let answers = match obj.get("answers") {
                None if creating => return invalid("field 'answers' is required"),
                None => None,
                Some(a) => match parse_answers(&rtype, a) {
                    Ok(a) => Some(a),
                    Err(reply) => return reply,
                },
            };
            let existing = st.records.get(&key).cloned();
            match (creating, existing) {
                (true, Some(_)) => Reply::message(400, "record already exists"),
                (false, None) => Reply::message(404, "record not found"),
                (true, None) => {
                    st.store(
                        &domain,
                        &rtype,
                        ttl.unwrap_or(3600),
                        answers.unwrap_or_default(),
                    );
                    let r = st.records[&key].clone();
                    Reply::json(200, &record_json(st, &domain, &rtype, &r))
                }
                (false, Some(old)) => {
                    st.store(
                        &domain,
                        &rtype,
                        ttl.unwrap_or(old.ttl),
                        answers.unwrap_or(old.answers),
                    );
                    let r = st.records[&key].clone();
                    Reply::json(200, &record_json(st, &domain, &rtype, &r))
                }
            }
        }
        _ => Reply::message(405, "method not allowed"),
    }
}

/// Extracts the `zonefile` part of a multipart/form-data body.
fn multipart_field(body: &[u8], content_type: &str, field: &str) -> Option<String> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))?
        .trim_matches('"');
    if !content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        return None;
    }
    let text = String::from_utf8_lossy(body);
    let delim = format!("--{boundary}");
    for part in text.split(&delim) {
        let Some((head, content)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let named = head.lines().any(|l| {
            l.to_ascii_lowercase().starts_with("content-disposition")
                && l.contains(&format!("name=\"{field}\""))
        });
        if named {
            return Some(content.strip_suffix("\r\n").unwrap_or(content).to_string());
        }
    }
    None
}

/// `PUT /v1/zones/{zone}` with `{"zone": "..."}`: creates the empty zone
/// (with its apex NS record, as NS1 does).
fn create_zone(st: &mut State, zone: &str, body: &[u8]) -> Reply {
    let zone = zone.to_ascii_lowercase();
    if zone != st.zone {
        return Reply::message(400, "the fake holds only one zone");
    }
    if st.zone_exists {
        return Reply::message(400, "zone already exists");
    }
    let named = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["zone"].as_str().map(str::to_ascii_lowercase));
    if named.as_deref() != Some(zone.as_str()) {
        return invalid("body must be {\"zone\": \"<the zone in the path>\"}");
    }
    st.zone_exists = true;
    let ns = (1..=4)
        .map(|i| vec![json!(format!("dns{i}.p01.nsone.net"))])
        .collect();
    st.store(&zone, "NS", 3600, ns);
    let mut z = zone_json(st);
    if let Some(obj) = z.as_object_mut() {
        obj.remove("records");
    }
    Reply::json(200, &z)
}

/// `PUT /v1/import/zonefile/{zone}`: creates a new zone from a BIND zone
/// file (`$ORIGIN`, `$TTL`, one `name ttl IN TYPE rdata` line per answer;
/// relative names and `@` are resolved against the origin). An existing
/// zone is refused.
fn import_zonefile(st: &mut State, zone: &str, body: &[u8], content_type: &str) -> Reply {
    let zone = zone.to_ascii_lowercase();
    if zone != st.zone {
        return Reply::message(400, "the fake holds only one zone");
    }
    if st.zone_exists {
        return Reply::message(400, "zone already exists");
    }
    if st.import_mode == ImportMode::Refuse {
        return Reply::message(400, "zone file import is not allowed for this account");
    }
    if let ImportMode::TooLarge(limit) = st.import_mode
        && body.len() > limit
    {
        return Reply::html413();
    }
    let Some(file) = multipart_field(body, content_type, "zonefile") else {
        return invalid("multipart field 'zonefile' is required");
    };
    let mut origin = format!("{zone}.");
    let mut default_ttl = 3600u32;
    type Set = ((String, String), u32, Vec<Vec<Value>>);
    let mut sets: Vec<Set> = Vec::new();
    for line in file.lines() {
        let line = line.split(';').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f[0] == "$ORIGIN" && f.len() == 2 {
            origin = f[1].to_ascii_lowercase();
            continue;
        }
        if f[0] == "$TTL" && f.len() == 2 {
            match f[1].parse() {
                Ok(t) => default_ttl = t,
                Err(_) => return invalid(&format!("bad $TTL line {line:?}")),
            }
            continue;
        }
        if f.len() < 4 {
            return invalid(&format!("bad zone file line {line:?}"));
        }
        let name = if f[0] == "@" {
            origin.clone()
        } else if f[0].ends_with('.') {
            f[0].to_ascii_lowercase()
        } else {
            format!("{}.{origin}", f[0].to_ascii_lowercase())
        };
        let name = name.trim_end_matches('.').to_string();
        let mut i = 1;
        let mut ttl = default_ttl;
        if let Ok(t) = f[i].parse::<u32>() {
            ttl = t;
            i += 1;
        }
        if f[i].eq_ignore_ascii_case("IN") {
            i += 1;
        }
        if i + 1 >= f.len() {
            return invalid(&format!("bad zone file line {line:?}"));
        }
        let rtype = f[i].to_ascii_uppercase();
        let rdata_text = f[i + 1..].join(" ");
        let rdata_text = if rtype == "TXT" {
            rdata_text.trim_matches('"').to_string()
        } else {
            rdata_text
        };
        if !(name == zone || name.ends_with(&format!(".{zone}"))) {
            return invalid(&format!("{name} is not in zone {zone}"));
        }
        let mut rdata = parse_short(&rtype, &rdata_text);
        if rtype == "SRV"
            && let Some(Value::String(t)) = rdata.get_mut(3)
        {
            *t = t.trim_end_matches('.').to_string();
        }
        if let Err(e) = check_rdata(&rtype, &rdata) {
            return invalid(&e);
        }
        let key = (name, rtype);
        match sets.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, _, answers)) => answers.push(rdata),
            None => sets.push((key, ttl, vec![rdata])),
        }
    }
    if let ImportMode::DropLast(n) = st.import_mode {
        let keep = sets.len().saturating_sub(n);
        sets.truncate(keep);
    }
    st.zone_exists = true;
    let ns = (1..=4)
        .map(|i| vec![json!(format!("dns{i}.p01.nsone.net"))])
        .collect();
    let apex = st.zone.clone();
    st.store(&apex, "NS", 3600, ns);
    for ((name, rtype), ttl, answers) in sets {
        st.store(&name, &rtype, ttl, answers);
    }
    let mut z = zone_json(st);
    if let Some(obj) = z.as_object_mut() {
        obj.remove("records");
    }
    Reply::json(200, &z)
}
