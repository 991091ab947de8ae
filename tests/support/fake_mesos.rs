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
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
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
    /// Open event streams: each gets the records sent to it.
    subscribers: Vec<std::sync::mpsc::Sender<StreamMsg>>,
    /// `heartbeat_interval_seconds` announced and kept.
    heartbeat: f64,
    /// No heartbeats (a silent stream).
    silent: bool,
    /// gzip-compress state answers when the client accepts it.
    gzip: bool,
}

/// What an open stream is told to do.
#[derive(Debug, Clone)]
enum StreamMsg {
    /// One event (JSON), sent as one RecordIO record.
    Record(Vec<u8>),
    /// End the stream cleanly (last chunk) and close.
    End,
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
            subscribers: Vec::new(),
            heartbeat: 15.0,
            silent: false,
            gzip: false,
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

    /// The heartbeat interval announced to new subscribers, and used by
    /// open streams for their heartbeats.
    pub fn set_heartbeat(&self, seconds: f64) {
        self.lock().heartbeat = seconds;
    }

    /// Stop (or resume) heartbeats on every stream.
    pub fn set_silent(&self, silent: bool) {
        self.lock().silent = silent;
    }

    /// gzip the state when the client sends `Accept-Encoding: gzip`.
    pub fn set_gzip(&self, gzip: bool) {
        self.lock().gzip = gzip;
    }

    /// Sends one event (a `mesos.v1.master.Event` as JSON) to every open
    /// stream.
    pub fn emit(&self, event: &serde_json::Value) {
        let record = event.to_string().into_bytes();
        self.lock()
            .subscribers
            .retain(|tx| tx.send(StreamMsg::Record(record.clone())).is_ok());
    }

    /// Ends every open stream (the master closes it between records).
    pub fn end_streams(&self) {
        for tx in self.lock().subscribers.drain(..) {
            let _ = tx.send(StreamMsg::End);
        }
    }

    /// Number of open streams.
    pub fn subscribers(&self) -> usize {
        let mut shared = self.lock();
        shared
            .subscribers
            .retain(|tx| tx.send(StreamMsg::Record(Vec::new())).is_ok());
        shared.subscribers.len()
    }

    /// The state served now, parsed.
    pub fn state_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.lock().state).expect("the fake's state is JSON")
    }

    /// Changes the cluster: `change` edits the `/master/state` document
    /// (the one model both endpoints serve), then `events` go to every
    /// open stream.
    pub fn change(
        &self,
        change: impl FnOnce(&mut serde_json::Value),
        events: &[serde_json::Value],
    ) {
        let mut state = self.state_json();
        change(&mut state);
        self.set_state(state.to_string());
        for e in events {
            self.emit(e);
        }
    }

    /// Adds `task` (in `/master/state` form) to framework `fw_id` and
    /// sends `TASK_ADDED`.
    pub fn add_task(&self, fw_id: &str, task: serde_json::Value) {
        let ev = serde_json::json!({"type": "TASK_ADDED", "task_added": {"task": v1_task(fw_id, &task)}});
        self.change(
            |s| {
                framework_mut(s, fw_id)["tasks"]
                    .as_array_mut()
                    .expect("tasks")
                    .push(task.clone())
            },
            &[ev],
        );
    }

    /// Moves task `task_id` of `fw_id` to `state` with a new status
    /// (`/master/state` form) appended, and sends `TASK_UPDATED`.
    /// Terminal tasks move to `completed_tasks`, as after an
    /// acknowledgement.
    pub fn update_task(&self, fw_id: &str, task_id: &str, state: &str, status: serde_json::Value) {
        let ev = serde_json::json!({"type": "TASK_UPDATED", "task_updated": {
            "framework_id": {"value": fw_id},
            "status": v1_status(task_id, &status),
            "state": state,
        }});
        let terminal = state != "TASK_RUNNING"
            && state != "TASK_STAGING"
            && state != "TASK_STARTING"
            && state != "TASK_KILLING";
        self.change(
            |s| {
                let fw = framework_mut(s, fw_id);
                let tasks = fw["tasks"].as_array_mut().expect("tasks");
                let Some(i) = tasks.iter().position(|t| t["id"] == task_id) else {
                    return;
                };
                let mut t = if terminal {
                    tasks.remove(i)
                } else {
                    tasks[i].clone()
                };
                t["state"] = state.into();
                t["statuses"]
                    .as_array_mut()
                    .expect("statuses")
                    .push(status.clone());
                if terminal {
                    if fw.get("completed_tasks").is_none() {
                        fw["completed_tasks"] = serde_json::json!([]);
                    }
                    fw["completed_tasks"]
                        .as_array_mut()
                        .expect("completed")
                        .push(t);
                } else {
                    fw["tasks"][i] = t;
                }
            },
            &[ev],
        );
    }
}

/// The framework `id` of a state document.
pub fn framework_mut<'a>(state: &'a mut serde_json::Value, id: &str) -> &'a mut serde_json::Value {
    state["frameworks"]
        .as_array_mut()
        .expect("frameworks")
        .iter_mut()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no framework {id}"))
}

// ---------------------------------------------------------------------------
// `/master/state` → `mesos.v1` (include/mesos/v1/mesos.proto,
// include/mesos/v1/master/master.proto): the same cluster as the operator
// API writes it (JSON::Protobuf: ids as {"value"}, resources as Resource
// messages, labels as {"labels": [...]}).

fn id_of(v: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({"value": v.as_str().unwrap_or_default()})
}

fn labels_of(v: &serde_json::Value) -> Option<serde_json::Value> {
    v.as_array().map(|l| serde_json::json!({"labels": l}))
}

/// `"[31000-31001, 31005-31005]"` → a `ports` RANGES `Resource`. `None`
/// when the text is not in that form (it cannot be written in v1).
pub fn v1_ports(text: &str) -> Option<serde_json::Value> {
    let inner = text.trim().strip_prefix('[')?.strip_suffix(']')?;
    let mut ranges = Vec::new();
    for piece in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = piece.split_once('-')?;
        ranges.push(serde_json::json!({"begin": a.trim().parse::<u64>().ok()?, "end": b.trim().parse::<u64>().ok()?}));
    }
    Some(
        serde_json::json!({"name": "ports", "type": "RANGES", "ranges": {"range": ranges}, "role": "*"}),
    )
}

/// A `/master/state` status as a `TaskStatus`.
pub fn v1_status(task_id: &str, s: &serde_json::Value) -> serde_json::Value {
    let mut out = serde_json::json!({"task_id": {"value": task_id}, "state": s["state"]});
    if let Some(ts) = s.get("timestamp").filter(|t| !t.is_null()) {
        out["timestamp"] = ts.clone();
    }
    if let Some(h) = s.get("healthy").filter(|h| h.is_boolean()) {
        out["healthy"] = h.clone();
    }
    if let Some(l) = s.get("labels").and_then(labels_of) {
        out["labels"] = l;
    }
    if let Some(nis) = s["container_status"]["network_infos"].as_array() {
        let nis: Vec<serde_json::Value> = nis
            .iter()
            .map(|ni| {
                let mut addrs: Vec<serde_json::Value> =
                    ni["ip_addresses"].as_array().cloned().unwrap_or_default();
                // Mesos 0.25's `ip_address` is gone from v1; the state
                // model reads it only when `ip_addresses` is empty.
                if addrs.is_empty() && ni["ip_address"].as_str().is_some_and(|a| !a.is_empty()) {
                    addrs.push(serde_json::json!({"ip_address": ni["ip_address"]}));
                }
                serde_json::json!({"ip_addresses": addrs})
            })
            .collect();
        out["container_status"] = serde_json::json!({"network_infos": nis});
    }
    out
}

/// A `/master/state` task of framework `fw_id` as a `Task`.
pub fn v1_task(fw_id: &str, t: &serde_json::Value) -> serde_json::Value {
    let task_id = t["id"].as_str().unwrap_or_default();
    let mut resources = vec![
        serde_json::json!({"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}, "role": "*"}),
    ];
    if let Some(p) = t["resources"]["ports"].as_str().and_then(v1_ports) {
        resources.push(p);
    }
    let statuses: Vec<serde_json::Value> = t["statuses"]
        .as_array()
        .map(|ss| {
            ss.iter()
                .filter(|s| s.is_object())
                .map(|s| v1_status(task_id, s))
                .collect()
        })
        .unwrap_or_default();
    let mut out = serde_json::json!({
        "name": t["name"].as_str().unwrap_or_default(),
        "task_id": {"value": task_id},
        "framework_id": {"value": fw_id},
        "agent_id": id_of(&t["slave_id"]),
        "state": t["state"].as_str().unwrap_or("TASK_STAGING"),
        "resources": resources,
        "statuses": statuses,
    });
    if let Some(l) = t.get("labels").and_then(labels_of) {
        out["labels"] = l;
    }
    if let Some(d) = t.get("discovery").filter(|d| d.is_object()) {
        out["discovery"] = d.clone();
    }
    if let Some(h) = t.get("health_check").filter(|h| h.is_object()) {
        out["health_check"] = h.clone();
    }
    out
}

/// A `/master/state` framework as `Response.GetFrameworks.Framework`.
pub fn v1_framework(f: &serde_json::Value) -> serde_json::Value {
    let mut info = serde_json::json!({"id": id_of(&f["id"]), "name": f["name"], "user": "root"});
    if let Some(h) = f.get("hostname").filter(|h| h.is_string()) {
        info["hostname"] = h.clone();
    }
    serde_json::json!({"framework_info": info, "active": true, "connected": true, "recovered": false})
}

/// A `/master/state` agent as `Response.GetAgents.Agent`.
pub fn v1_agent(a: &serde_json::Value) -> serde_json::Value {
    let mut out = serde_json::json!({
        "agent_info": {"id": id_of(&a["id"]), "hostname": a["hostname"].as_str().unwrap_or("localhost")},
        "active": true,
        "version": "1.11.0",
    });
    if let Some(pid) = a.get("pid") {
        out["pid"] = pid.clone();
    }
    out
}

/// The `SUBSCRIBED` event for a `/master/state` document.
pub fn v1_subscribed(state: &serde_json::Value, heartbeat: f64) -> serde_json::Value {
    let empty = Vec::new();
    let arr = |v: &serde_json::Value| v.as_array().cloned().unwrap_or_default();
    let frameworks = state["frameworks"].as_array().unwrap_or(&empty);
    let completed = state["completed_frameworks"].as_array().unwrap_or(&empty);
    let mut tasks = Vec::new();
    let mut completed_tasks = Vec::new();
    for f in frameworks.iter().chain(completed) {
        let id = f["id"].as_str().unwrap_or_default();
        tasks.extend(
            arr(&f["tasks"])
                .iter()
                .filter(|t| t.is_object())
                .map(|t| v1_task(id, t)),
        );
        completed_tasks.extend(
            arr(&f["completed_tasks"])
                .iter()
                .filter(|t| t.is_object())
                .map(|t| v1_task(id, t)),
        );
    }
    serde_json::json!({"type": "SUBSCRIBED", "subscribed": {
        "get_state": {
            "get_tasks": {"tasks": tasks, "completed_tasks": completed_tasks},
            "get_executors": {},
            "get_frameworks": {
                "frameworks": frameworks.iter().map(v1_framework).collect::<Vec<_>>(),
                "completed_frameworks": completed.iter().map(v1_framework).collect::<Vec<_>>(),
            },
            "get_agents": {"agents": arr(&state["slaves"]).iter().map(v1_agent).collect::<Vec<_>>()},
        },
        "heartbeat_interval_seconds": heartbeat,
    }})
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
    let (mode, state, auth, gzip) = {
        let mut shared = lock(shared);
        shared.requests.push(request.clone());
        (
            shared.mode.clone(),
            shared.state.clone(),
            shared.auth.clone(),
            shared.gzip,
        )
    };
    let gzip = gzip
        && request
            .header("accept-encoding")
            .is_some_and(|v| v.split(',').any(|e| e.trim() == "gzip"));
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
    let serving = matches!(mode, Mode::Serve | Mode::Slow(_));
    if serving && path == "/api/v1" {
        return serve_api(stream, &request, shared, &state);
    }
    if serving && path == "/master/frameworks" {
        let body = frameworks_answer(&state, &request.path);
        return respond_state(&mut stream, &body, gzip);
    }
    match mode {
        Mode::Serve | Mode::Slow(_) if is_state || is_legacy => {
            respond_state(&mut stream, &state, gzip)
        }
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
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
        .min(1 << 20);
    let start = data.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) + 4;
    let mut body = data[start.min(data.len())..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    Ok(Some(Request {
        method,
        path,
        headers,
        body,
    }))
}

/// `/master/frameworks?framework_id=ID`: the frameworks of the state
/// (every one without a query), as Mesos's readonly handler writes them.
fn frameworks_answer(state: &[u8], path: &str) -> Vec<u8> {
    let state: serde_json::Value = serde_json::from_slice(state).unwrap_or_default();
    let wanted = path
        .split_once('?')
        .and_then(|(_, q)| q.split('&').find_map(|kv| kv.strip_prefix("framework_id=")))
        .map(|v| v.replace("%2D", "-"));
    let pick = |list: &serde_json::Value| -> Vec<serde_json::Value> {
        list.as_array()
            .map(|l| {
                l.iter()
                    .filter(|f| wanted.as_deref().is_none_or(|w| f["id"] == w))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    serde_json::json!({
        "frameworks": pick(&state["frameworks"]),
        "completed_frameworks": pick(&state["completed_frameworks"]),
        "unregistered_frameworks": [],
    })
    .to_string()
    .into_bytes()
}

/// `POST /api/v1` `SUBSCRIBE`, as `Master::Http::api` and
/// `ReadOnlyHandler::subscribe`: 405 for another method, 400 without a
/// Content-Type, 415 for one not JSON, 406 for an Accept allowing no
/// JSON, then 200 chunked with `SUBSCRIBED` and a `HEARTBEAT`, and the
/// events as they come (a heartbeat every interval unless silent).
fn serve_api(
    mut stream: TcpStream,
    request: &Request,
    shared: &Mutex<Shared>,
    state: &[u8],
) -> io::Result<()> {
    if request.method != "POST" {
        return respond(
            &mut stream,
            405,
            &[("Allow", "POST")],
            b"Expecting one of { 'POST' }, but received 'GET'",
        );
    }
    match request.header("content-type") {
        None => {
            return respond(
                &mut stream,
                400,
                &[],
                b"Expecting 'Content-Type' to be present",
            );
        }
        Some("application/json") => {}
        Some(_) => {
            return respond(
                &mut stream,
                415,
                &[],
                b"Expecting 'Content-Type' of application/json or application/x-protobuf",
            );
        }
    }
    let accept = request.header("accept").unwrap_or("*/*");
    if !accept.split(',').any(|a| {
        let a = a.split(';').next().unwrap_or("").trim();
        a == "application/json" || a == "*/*" || a == "application/*"
    }) {
        return respond(
            &mut stream,
            406,
            &[],
            b"Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'",
        );
    }
    let call: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
    if call["type"] != "SUBSCRIBE" {
        return respond(&mut stream, 400, &[], b"Failed to validate master::Call");
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let heartbeat = {
        let mut shared = lock(shared);
        shared.subscribers.push(tx);
        shared.heartbeat
    };
    let state: serde_json::Value = serde_json::from_slice(state).unwrap_or_default();
    let head =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes())?;
    let chunk = |stream: &mut TcpStream, record: &[u8]| -> io::Result<()> {
        let framed = [format!("{}\n", record.len()).into_bytes(), record.to_vec()].concat();
        stream.write_all(format!("{:x}\r\n", framed.len()).as_bytes())?;
        stream.write_all(&framed)?;
        stream.write_all(b"\r\n")?;
        stream.flush()
    };
    let heartbeat_event = br#"{"type":"HEARTBEAT"}"#;
    chunk(
        &mut stream,
        v1_subscribed(&state, heartbeat).to_string().as_bytes(),
    )?;
    chunk(&mut stream, heartbeat_event)?;
    loop {
        let wait = Duration::from_secs_f64(lock(shared).heartbeat.max(0.001));
        match rx.recv_timeout(wait) {
            Ok(StreamMsg::Record(r)) if r.is_empty() => {}
            Ok(StreamMsg::Record(r)) => chunk(&mut stream, &r)?,
            Ok(StreamMsg::End) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                stream.write_all(b"0\r\n\r\n")?;
                stream.flush()?;
                return stream.shutdown(Shutdown::Both);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if !lock(shared).silent {
                    chunk(&mut stream, heartbeat_event)?;
                }
            }
        }
    }
}

fn respond_state(stream: &mut TcpStream, body: &[u8], gzip: bool) -> io::Result<()> {
    if !gzip || body.len() < 1024 {
        return respond_json(stream, body);
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(body)?;
    let compressed = enc.finish()?;
    respond(
        stream,
        200,
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ],
        &compressed,
    )
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
        400 => "Bad Request",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        415 => "Unsupported Media Type",
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
