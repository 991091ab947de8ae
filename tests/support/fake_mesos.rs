//! Fake Mesos master: real HTTP/1.1 over a real socket, pure std.
//!
//! ```ignore
//! let master = FakeMaster::start();
//! master.set_state(minimal_state(&master.addr()));
//! // point the code under test at master.addr() ("127.0.0.1:PORT")
//! ```
//!
//! Every connection gets one answer and is closed (`Connection: close`).
//! The listener is polled, so [`Mode::Down`] can really close it (clients
//! get "connection refused") and any other mode opens it again on the same
//! address.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How the fake answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// 200 with the state on `/master/state` and `/master/state.json`
    /// (Mesos 1.x serves both), 404 elsewhere.
    Serve,
    /// `307 Location: //ADDR<path>`, like a Mesos ≥ 1.0 non-leader
    /// (`ADDR` is `"127.0.0.1:PORT"`).
    RedirectTo(String),
    /// The listener is closed: connections are refused.
    Down,
    /// Wait this long, then answer as [`Mode::Serve`].
    Slow(Duration),
    /// 200 with an HTML body.
    Garbage,
    /// 200 with `Content-Length` of the whole state, but only the first
    /// half is sent before the connection is closed.
    Truncated,
    /// This status, with a short text body, on every path.
    Status(u16),
    /// Mesos ≤ 0.28: 404 on `/master/state`, the state on
    /// `/master/state.json`.
    Legacy,
}

/// One request the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// Path with query, as sent.
    pub path: String,
    /// Headers, names lowercased, in order.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `"GET /master/state"`, plus `" (auth)"` when it carried an
    /// `Authorization` header.
    pub fn line(&self) -> String {
        let auth = if self.header("authorization").is_some() {
            " (auth)"
        } else {
            ""
        };
        format!("{} {}{auth}", self.method, self.path)
    }
}

struct Shared {
    state: Vec<u8>,
    mode: Mode,
    /// Expected `Authorization` header value, when auth is required.
    auth: Option<String>,
    requests: Vec<Request>,
    /// Whether the listener is currently open (acknowledges `Down`).
    listening: bool,
}

/// A fake Mesos master on a loopback address; stops when dropped.
pub struct FakeMaster {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeMaster {
    /// Listens on 127.0.0.1 on a port the OS picks; serves an empty state
    /// that names this master as leader.
    pub fn start() -> FakeMaster {
        FakeMaster::start_on("127.0.0.1")
    }

    /// Listens on `ip` (a loopback address such as `127.0.0.2`) on a port
    /// the OS picks.
    pub fn start_on(ip: &str) -> FakeMaster {
        FakeMaster::start_at(&format!("{ip}:0"))
            .unwrap_or_else(|e| panic!("fake Mesos master on {ip}: {e}"))
    }

    /// Listens on exactly `addr` (`"127.0.0.2:PORT"`).
    pub fn start_at(addr: &str) -> io::Result<FakeMaster> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Mutex::new(Shared {
            state: minimal_state(&addr.to_string()).into_bytes(),
            mode: Mode::Serve,
            auth: None,
            requests: Vec::new(),
            listening: true,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let shared = Arc::clone(&shared);
            let stop = Arc::clone(&stop);
            thread::Builder::new()
                .name(format!("fake-mesos-{addr}"))
                .spawn(move || accept_loop(listener, addr, shared, stop))?
        };
        Ok(FakeMaster {
            addr,
            shared,
            stop,
            thread: Some(thread),
        })
    }

    /// Starts two fakes on the same port: one on 127.0.0.1 and one on
    /// `other_ip` (e.g. 127.0.0.2). Retries a few ports if the second
    /// bind collides with something else.
    pub fn start_pair_same_port(other_ip: &str) -> (FakeMaster, FakeMaster) {
        let mut last = None;
        for _ in 0..20 {
            let first = FakeMaster::start();
            match FakeMaster::start_at(&format!("{other_ip}:{}", first.port())) {
                Ok(second) => return (first, second),
                Err(e) => last = Some(e),
            }
        }
        panic!("no free port on both 127.0.0.1 and {other_ip}: {last:?}");
    }

    /// `"IP:PORT"`, e.g. `"127.0.0.1:41234"`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    pub fn ip(&self) -> String {
        self.addr.ip().to_string()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `"http://IP:PORT"`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The body served as the state.
    pub fn set_state(&self, body: impl Into<Vec<u8>>) {
        self.lock().state = body.into();
    }

    /// Changes how the fake answers. Switching to or from [`Mode::Down`]
    /// returns once the listener is closed or open again.
    pub fn set_mode(&self, mode: Mode) {
        let want_listening = mode != Mode::Down;
        self.lock().mode = mode;
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.lock().listening != want_listening {
            assert!(
                Instant::now() < deadline,
                "fake Mesos master {} did not {} its listener",
                self.addr,
                if want_listening { "reopen" } else { "close" }
            );
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// From now on, answer 401 unless the request carries this basic auth.
    pub fn require_basic_auth(&self, user: &str, pass: &str) {
        self.lock().auth = Some(format!(
            "Basic {}",
            base64(format!("{user}:{pass}").as_bytes())
        ));
    }

    /// Request lines received so far, e.g. `"GET /master/state"`, with
    /// `" (auth)"` appended when an `Authorization` header was sent.
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.iter().map(Request::line).collect()
    }

    /// Requests received so far, with their headers.
    pub fn received(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        lock(&self.shared)
    }
}

impl Drop for FakeMaster {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// An address on 127.0.0.1 where nothing listens (bound, then released).
pub fn unused_addr() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local_addr").to_string();
    drop(listener);
    addr
}

/// A small but realistic state whose leader is `master@LEADER_ADDR`.
pub fn minimal_state(leader_addr: &str) -> String {
    let state = serde_json::json!({
        "version": "1.11.0",
        "hostname": "fake-mesos",
        "leader": format!("master@{leader_addr}"),
        "frameworks": [],
        "slaves": [],
    });
    state.to_string()
}

/// `base` with its `leader` set to `master@LEADER_ADDR`.
pub fn state_with_leader(leader_addr: &str, base: &serde_json::Value) -> String {
    let mut state = base.clone();
    state
        .as_object_mut()
        .expect("a state is a JSON object")
        .insert(
            "leader".to_string(),
            serde_json::Value::String(format!("master@{leader_addr}")),
        );
    state.to_string()
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn accept_loop(
    listener: TcpListener,
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
) {
    let mut listener = Some(listener);
    while !stop.load(Ordering::SeqCst) {
        let down = lock(&shared).mode == Mode::Down;
        if down && listener.is_some() {
            listener = None;
            lock(&shared).listening = false;
        } else if !down && listener.is_none() {
            match TcpListener::bind(addr).and_then(|l| l.set_nonblocking(true).map(|()| l)) {
                Ok(l) => {
                    listener = Some(l);
                    lock(&shared).listening = true;
                }
                Err(_) => {
                    thread::sleep(Duration::from_millis(10));
                    continue;
                }
            }
        }
        let Some(l) = &listener else {
            thread::sleep(Duration::from_millis(2));
            continue;
        };
        match l.accept() {
            Ok((stream, _)) => {
                let shared = Arc::clone(&shared);
                thread::spawn(move || {
                    let _ = handle(stream, &shared);
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(2));
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn handle(mut stream: TcpStream, shared: &Mutex<Shared>) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let Some(request) = read_request(&mut stream)? else {
        return Ok(());
    };
    let (mode, state, auth) = {
        let mut shared = lock(shared);
        shared.requests.push(request.clone());
        (
            shared.mode.clone(),
            shared.state.clone(),
            shared.auth.clone(),
        )
    };
    let path = request.path.split('?').next().unwrap_or_default();
    let authorized = auth.is_none() || request.header("authorization") == auth.as_deref();
    match mode {
        // The listener closes shortly; a connection that slipped in first
        // is dropped without an answer.
        Mode::Down => return Ok(()),
        Mode::Slow(delay) => thread::sleep(delay),
        _ => {}
    }
    if !authorized {
        return respond(
            &mut stream,
            401,
            &[("WWW-Authenticate", "Basic realm=\"mesos\"")],
            b"401 Unauthorized",
        );
    }
    let is_state = path == "/master/state";
    let is_legacy = path == "/master/state.json";
    match mode {
        Mode::Serve | Mode::Slow(_) if is_state || is_legacy => respond_json(&mut stream, &state),
        Mode::Legacy if is_legacy => respond_json(&mut stream, &state),
        Mode::RedirectTo(to) => respond(
            &mut stream,
            307,
            &[("Location", &format!("//{to}{}", request.path))],
            b"",
        ),
        Mode::Garbage => respond(
            &mut stream,
            200,
            &[("Content-Type", "text/html")],
            b"<html><head><title>Mesos</title></head><body>Service Unavailable</body></html>",
        ),
        Mode::Truncated => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                state.len()
            );
            stream.write_all(head.as_bytes())?;
            stream.write_all(&state[..state.len() / 2])?;
            stream.flush()?;
            stream.shutdown(Shutdown::Both)
        }
        Mode::Status(status) => respond(
            &mut stream,
            status,
            &[],
            format!("fake status {status}").as_bytes(),
        ),
        _ => respond(&mut stream, 404, &[], b"404 Not Found"),
    }
}

/// Reads the request line and headers (a GET has no body we care about).
/// `None` when the client closed without sending a request.
fn read_request(stream: &mut TcpStream) -> io::Result<Option<Request>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    while !data.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        data.extend_from_slice(&buf[..n]);
        if data.len() > 64 * 1024 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "headers too long",
            ));
        }
    }
    let text = String::from_utf8_lossy(&data);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Some(Request {
        method,
        path,
        headers,
    }))
}

fn respond_json(stream: &mut TcpStream, body: &[u8]) -> io::Result<()> {
    respond(stream, 200, &[("Content-Type", "application/json")], body)
}

fn respond(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    stream.shutdown(Shutdown::Write)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        307 => "Temporary Redirect",
        401 => "Unauthorized",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Fake",
    }
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
