//! Integration tests of the NS1 client against the fake NS1 API.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use mesos2ns1::ns1::{Client, Ns1Api, Ns1Error, Ns1Options, log_line_may_leak_key};
use serde_json::{Value, json};
use support::fake_ns1::{FakeNs1, Fault, Request};

const ZONE: &str = "example.com";
/// Every test uses this key; the capture logger checks it never shows up.
const KEY: &str = "sk-TOPSECRET-0123456789abcdef";

// ---------------------------------------------------------------------------
// Log capture (process-wide, at trace level)

struct CaptureLogger {
    lines: Mutex<Vec<(log::Level, String, String)>>,
}

impl log::Log for CaptureLogger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        let line = (
            record.level(),
            record.target().to_string(),
            record.args().to_string(),
        );
        self.lines.lock().unwrap().push(line);
    }
    fn flush(&self) {}
}

fn logger() -> &'static CaptureLogger {
    static LOGGER: OnceLock<&'static CaptureLogger> = OnceLock::new();
    LOGGER.get_or_init(|| {
        let l: &'static CaptureLogger = Box::leak(Box::new(CaptureLogger {
            lines: Mutex::new(Vec::new()),
        }));
        log::set_logger(l).expect("logger set once");
        log::set_max_level(log::LevelFilter::Trace);
        l
    })
}

// ---------------------------------------------------------------------------
// Helpers

fn options(endpoint: &str) -> Ns1Options {
    let mut o = Ns1Options::new(endpoint, KEY);
    o.connect_timeout = Duration::from_secs(2);
    o.read_timeout = Duration::from_secs(5);
    o
}

fn client_with(opts: Ns1Options) -> Client {
    logger();
    Client::new(opts)
        .expect("client")
        .with_backoff(Duration::from_millis(10), Duration::from_millis(80))
}

fn client(fake: &FakeNs1) -> Client {
    client_with(options(&fake.endpoint()))
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn rec(
    domain: &str,
    rtype: &str,
    ttl: u32,
    answers: &[&str],
) -> (String, String, u32, Vec<String>) {
    let mut a = s(answers);
    a.sort();
    (domain.to_string(), rtype.to_string(), ttl, a)
}

fn apex_ns() -> (String, String, u32, Vec<String>) {
    rec(
        ZONE,
        "NS",
        3600,
        &[
            "dns1.p01.nsone.net",
            "dns2.p01.nsone.net",
            "dns3.p01.nsone.net",
            "dns4.p01.nsone.net",
        ],
    )
}

/// (method, status) of every logged request.
fn calls(log: &[Request]) -> Vec<(String, u16)> {
    log.iter().map(|r| (r.method.clone(), r.status)).collect()
}

fn call(method: &str, status: u16) -> (String, u16) {
    (method.to_string(), status)
}

/// One raw HTTP/1.1 exchange with `Connection: close`; returns (status,
/// head, body).
fn raw(fake: &FakeNs1, method: &str, path: &str, body: Option<&str>) -> (u16, String, String) {
    let mut stream = TcpStream::connect(fake.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nX-NSONE-Key: {KEY}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

fn find(fake: &FakeNs1, domain: &str, rtype: &str) -> (String, String, u32, Vec<String>) {
    fake.records()
        .into_iter()
        .find(|r| r.0 == domain && r.1 == rtype)
        .unwrap_or_else(|| panic!("{domain} {rtype} not in fake"))
}

fn message(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap();
    v["message"].as_str().unwrap().to_string()
}

// ---------------------------------------------------------------------------
// Listing

#[test]
fn pagination_reads_all_seven_pages() {
    let fake = FakeNs1::start(ZONE);
    for i in 0..20 {
        fake.insert(
            &format!("h{i:02}.{ZONE}"),
            "A",
            60,
            &[&format!("10.0.0.{i}")],
        );
    }
    fake.set_page_size(3); // 21 records incl. apex NS → 7 pages
    let mut c = client(&fake);
    let recs = c.list_zone(ZONE).unwrap();
    assert_eq!(recs.len(), 21);
    let mut domains: Vec<_> = recs.iter().map(|r| r.domain.clone()).collect();
    domains.sort();
    domains.dedup();
    assert_eq!(domains.len(), 21, "no page read twice or skipped");
    let h07 = recs
        .iter()
        .find(|r| r.domain == format!("h07.{ZONE}"))
        .unwrap();
    assert_eq!(h07.rtype, "A");
    assert_eq!(h07.ttl, Some(60));
    assert_eq!(h07.answers, vec!["10.0.0.7".to_string()]);
    assert_eq!(h07.tier, Some(1));
    let log = fake.log();
    assert_eq!(log.len(), 7);
    assert!(log.iter().all(|r| r.method == "GET" && r.status == 200));
    assert_eq!(log[0].query, "");
    assert!(log[1..].iter().all(|r| r.query.contains("after=")));
    let st = c.stats();
    assert_eq!((st.requests, st.reads, st.writes), (7, 7, 0));
}

#[test]
fn listing_keeps_short_answers_as_given() {
    let fake = FakeNs1::start(ZONE);
    fake.insert(
        &format!("_web._tcp.marathon.{ZONE}"),
        "SRV",
        60,
        &[
            "0 1 31000 node1.example.com.",
            "0 1 31001 node2.example.com",
        ],
    );
    let mut c = client(&fake);
    let recs = c.list_zone(&format!("{}.", ZONE.to_uppercase())).unwrap();
    assert_eq!(recs.len(), 2);
    let srv = recs.iter().find(|r| r.rtype == "SRV").unwrap();
    assert_eq!(
        srv.answers,
        s(&[
            "0 1 31000 node1.example.com.",
            "0 1 31001 node2.example.com"
        ])
    );
    let ns = recs.iter().find(|r| r.rtype == "NS").unwrap();
    assert_eq!(ns.domain, ZONE);
    assert_eq!(ns.answers.len(), 4);
}

/// A server whose `Link` always points back at the same page.
fn looping_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for conn in listener.incoming().take(10) {
            let Ok(mut stream) = conn else { continue };
            let mut buf = [0u8; 4096];
            let mut req = Vec::new();
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let body = r#"{"zone":"example.com","records":[{"domain":"a.example.com","type":"A","ttl":1,"tier":1,"short_answers":["10.0.0.1"]}]}"#;
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nLink: <https://{addr}/v1/zones/example.com?after=same&limit=1>; rel=\"next\"\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(resp.as_bytes());
        }
    });
    format!("http://{addr}/v1")
}

/// Also shows the Link URL is rebased onto the endpoint's scheme: the
/// server announces `https://` but speaks plain HTTP, so following it as
/// given would fail with a transport error instead.
#[test]
fn pagination_loop_is_detected() {
    let endpoint = looping_server();
    let mut c = client_with(options(&endpoint));
    let err = c.list_zone(ZONE).unwrap_err();
    assert!(matches!(err, Ns1Error::Protocol { .. }), "{err:?}");
    assert!(err.to_string().contains("loop"), "{err}");
    // First page, then the linked page once; the repeat is not fetched.
    assert_eq!(c.stats().requests, 2);
}

#[test]
fn unknown_zone_is_zone_not_found() {
    let fake = FakeNs1::start(ZONE);
    let mut c = client(&fake);
    let err = c.list_zone("other.org").unwrap_err();
    assert!(
        matches!(err, Ns1Error::ZoneNotFound { ref zone } if zone == "other.org"),
        "{err:?}"
    );
    let err = c
        .create("other.org", "a.other.org", "A", 60, &s(&["10.0.0.1"]))
        .unwrap_err();
    assert!(matches!(err, Ns1Error::ZoneNotFound { .. }), "{err:?}");
    let err = c
        .delete("other.org", "a.other.org", "A", &s(&["10.0.0.1"]))
        .unwrap_err();
    assert!(matches!(err, Ns1Error::ZoneNotFound { .. }), "{err:?}");
    // Not retried.
    assert_eq!(fake.log().len(), 3);
}

// ---------------------------------------------------------------------------
// Writes

#[test]
fn create_update_delete_semantics() {
    let fake = FakeNs1::start(ZONE);
    let mut c = client(&fake);
    let web = format!("web.{ZONE}");

    c.create(ZONE, &web, "A", 60, &s(&["10.0.0.2", "10.0.0.1"]))
        .unwrap();
    assert_eq!(
        fake.records(),
        vec![apex_ns(), rec(&web, "A", 60, &["10.0.0.1", "10.0.0.2"])]
    );

    c.update(ZONE, &web, "A", 30, &s(&["10.0.0.3"])).unwrap();
    assert_eq!(fake.records()[1], rec(&web, "A", 30, &["10.0.0.3"]));

    c.delete(ZONE, &web, "A", &s(&["10.0.0.3"])).unwrap();
    assert_eq!(fake.records(), vec![apex_ns()]);
    // Deleting again: 404 means already done.
    c.delete(ZONE, &web, "A", &s(&["10.0.0.3"])).unwrap();

    // Update of a missing record falls back to PUT.
    c.update(ZONE, &web, "A", 45, &s(&["10.0.0.4"])).unwrap();
    assert_eq!(fake.records()[1], rec(&web, "A", 45, &["10.0.0.4"]));
    // Issue 17: a create that finds another record in place reads it and
    // leaves it alone (an error), never a POST over it; the same answers
    // (a PUT whose reply was lost) are done.
    let err = c
        .create(ZONE, &web, "A", 50, &s(&["10.0.0.5"]))
        .unwrap_err();
    assert!(err.to_string().contains("left alone"), "{err}");
    assert_eq!(fake.records()[1], rec(&web, "A", 45, &["10.0.0.4"]));
    c.create(ZONE, &web, "A", 45, &s(&["10.0.0.4"])).unwrap();

    assert_eq!(
        calls(&fake.log()),
        vec![
            call("PUT", 200),
            call("POST", 200),
            call("DELETE", 200),
            call("DELETE", 404),
            call("POST", 404),
            call("PUT", 200),
            call("PUT", 400),
            call("GET", 200),
            call("PUT", 400),
            call("GET", 200),
        ]
    );
    let st = c.stats();
    assert_eq!((st.requests, st.writes, st.reads), (10, 8, 2));
    assert_eq!((st.retries, st.throttled, st.server_errors), (0, 0, 0));
    assert_eq!(fake.writes(), 8);
}

#[test]
fn request_shapes_and_names() {
    let fake = FakeNs1::start(ZONE);
    let mut c = client(&fake);
    c.create(
        "Example.COM.",
        "_Web._TCP.Marathon.Example.com.",
        "srv",
        60,
        &s(&["0 1 31000 node1.example.com", "0 1 31001 node2.example.com"]),
    )
    .unwrap();
    c.create(ZONE, "v6.example.com", "AAAA", 60, &s(&["2001:db8::1"]))
        .unwrap();
    let log = fake.log();
    assert_eq!(log[0].method, "PUT");
    assert_eq!(
        log[0].path,
        "/v1/zones/example.com/_web._tcp.marathon.example.com/SRV"
    );
    let body: Value = serde_json::from_str(&log[0].body).unwrap();
    assert_eq!(
        body,
        json!({
            "zone": "example.com",
            "domain": "_web._tcp.marathon.example.com",
            "type": "SRV",
            "ttl": 60,
            "answers": [
                {"answer": [0, 1, 31000, "node1.example.com"]},
                {"answer": [0, 1, 31001, "node2.example.com"]}
            ]
        })
    );
    assert_eq!(
        fake.raw_answers("_web._tcp.marathon.example.com", "SRV")
            .unwrap()[0],
        vec![json!(0), json!(1), json!(31000), json!("node1.example.com")]
    );
    let body: Value = serde_json::from_str(&log[1].body).unwrap();
    assert_eq!(body["answers"], json!([{"answer": ["2001:db8::1"]}]));
    let recs = c.list_zone(ZONE).unwrap();
    let srv = recs.iter().find(|r| r.rtype == "SRV").unwrap();
    assert_eq!(
        srv.answers,
        s(&["0 1 31000 node1.example.com", "0 1 31001 node2.example.com"])
    );
}

#[test]
fn client_errors_are_not_retried() {
    let fake = FakeNs1::start(ZONE);
    let mut c = client(&fake);
    // Domain outside the zone → 400 from the server.
    let err = c
        .create(ZONE, "web.example.org", "A", 60, &s(&["10.0.0.1"]))
        .unwrap_err();
    match &err {
        Ns1Error::Http {
            method,
            path,
            status,
            message,
        } => {
            assert_eq!((method.as_str(), *status), ("PUT", 400));
            assert_eq!(path, "/v1/zones/example.com/web.example.org/A");
            assert!(message.contains("not a valid domain"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    let line = err.to_string();
    assert!(
        line.contains("PUT /v1/zones/example.com/web.example.org/A"),
        "{line}"
    );
    assert!(
        line.contains("400") && line.contains("not a valid domain"),
        "{line}"
    );
    assert_eq!(fake.log().len(), 1);
    // Invalid input never reaches the server.
    let err = c
        .create(ZONE, "x.example.com", "SRV", 60, &s(&["0 1 notaport t"]))
        .unwrap_err();
    assert!(matches!(err, Ns1Error::Invalid { .. }), "{err:?}");
    assert_eq!(fake.log().len(), 1);
    assert_eq!(c.stats().retries, 0);
}

#[test]
fn auth_failure_is_clear_and_not_retried() {
    let fake = FakeNs1::start(ZONE);
    fake.set_api_key("the-right-key");
    let mut c = client(&fake);
    let err = c.list_zone(ZONE).unwrap_err();
    assert!(matches!(err, Ns1Error::Auth { status: 401, .. }), "{err:?}");
    let line = err.to_string();
    assert!(
        line.contains("401") && line.contains("Unauthorized"),
        "{line}"
    );
    assert!(!line.contains(KEY) && !format!("{err:?}").contains(KEY));
    let err = c
        .create(ZONE, "a.example.com", "A", 60, &s(&["10.0.0.1"]))
        .unwrap_err();
    assert!(matches!(err, Ns1Error::Auth { .. }), "{err:?}");
    assert_eq!(calls(&fake.log()), vec![call("GET", 401), call("PUT", 401)]);
    assert_eq!(c.stats().retries, 0);
}

// ---------------------------------------------------------------------------
// Faults

#[test]
fn recovers_from_503_html() {
    let fake = FakeNs1::start(ZONE);
    fake.fail_next(Fault::ServerError503Html, 2);
    let mut c = client(&fake);
    c.create(ZONE, "a.example.com", "A", 60, &s(&["10.0.0.1"]))
        .unwrap();
    assert_eq!(
        calls(&fake.log()),
        vec![call("PUT", 503), call("PUT", 503), call("PUT", 200)]
    );
    let st = c.stats();
    assert_eq!((st.server_errors, st.retries, st.requests), (2, 2, 3));
    assert_eq!(
        fake.records()[0],
        rec("a.example.com", "A", 60, &["10.0.0.1"])
    );
}

#[test]
fn exhausted_503_html_gives_readable_error() {
    let fake = FakeNs1::start(ZONE);
    fake.fail_next(Fault::ServerError503Html, 100);
    let mut opts = options(&fake.endpoint());
    opts.max_retries = 2;
    let mut c = client_with(opts);
    let err = c.list_zone(ZONE).unwrap_err();
    match &err {
        Ns1Error::Http {
            status, message, ..
        } => {
            assert_eq!(*status, 503);
            assert_eq!(message, "HTML error page (503)");
        }
        other => panic!("unexpected {other:?}"),
    }
    let line = err.to_string();
    assert!(
        !line.contains('\n') && line.contains("HTML error page (503)"),
        "{line}"
    );
    assert!(line.contains("GET /v1/zones/example.com"), "{line}");
    assert_eq!(fake.log().len(), 3, "1 try + 2 retries");
}

#[test]
fn recovers_from_500_json() {
    let fake = FakeNs1::start(ZONE);
    fake.insert("a.example.com", "A", 60, &["10.0.0.1"]);
    fake.fail_matching("POST", "/a.example.com/", Fault::ServerError500Json, 3);
    let mut c = client(&fake);
    c.update(ZONE, "a.example.com", "A", 60, &s(&["10.0.0.9"]))
        .unwrap();
    assert_eq!(c.stats().server_errors, 3);
    assert_eq!(
        fake.records()[0],
        rec("a.example.com", "A", 60, &["10.0.0.9"])
    );
}

#[test]
fn recovers_from_dropped_connections() {
    let fake = FakeNs1::start(ZONE);
    fake.set_page_size(1);
    fake.insert("a.example.com", "A", 60, &["10.0.0.1"]);
    let mut c = client(&fake);
    fake.fail_next(Fault::DropConnection, 1);
    let recs = c.list_zone(ZONE).unwrap();
    assert_eq!(recs.len(), 2);
    fake.fail_next(Fault::DropConnection, 2);
    c.create(ZONE, "b.example.com", "A", 60, &s(&["10.0.0.2"]))
        .unwrap();
    assert_eq!(
        calls(&fake.log()),
        vec![
            call("GET", 0),
            call("GET", 200),
            call("GET", 200),
            call("PUT", 0),
            call("PUT", 0),
            call("PUT", 200),
        ]
    );
    assert_eq!(c.stats().retries, 3);
    assert_eq!(fake.records().len(), 3);
}

#[test]
fn lost_put_reply_does_not_duplicate() {
    let fake = FakeNs1::start(ZONE);
    fake.fail_matching("PUT", "/web.example.com/A", Fault::LoseReply, 1);
    let mut c = client(&fake);
    c.create(
        ZONE,
        "web.example.com",
        "A",
        60,
        &s(&["10.0.0.1", "10.0.0.2"]),
    )
    .unwrap();
    assert_eq!(
        calls(&fake.log()),
        // Issue 17: the PUT that finds the record reads it (GET) instead of
        // overwriting it (POST); the same answers mean done.
        vec![call("PUT", 0), call("PUT", 400), call("GET", 200)]
    );
    assert_eq!(
        fake.records(),
        vec![
            apex_ns(),
            rec("web.example.com", "A", 60, &["10.0.0.1", "10.0.0.2"])
        ]
    );
}

#[test]
fn lost_post_reply_is_retried() {
    let fake = FakeNs1::start(ZONE);
    fake.insert("web.example.com", "A", 60, &["10.0.0.1"]);
    fake.fail_matching("POST", "/web.example.com/A", Fault::LoseReply, 2);
    let mut c = client(&fake);
    c.update(ZONE, "web.example.com", "A", 120, &s(&["10.0.0.7"]))
        .unwrap();
    assert_eq!(
        calls(&fake.log()),
        vec![call("POST", 0), call("POST", 0), call("POST", 200)]
    );
    assert_eq!(
        fake.records(),
        vec![apex_ns(), rec("web.example.com", "A", 120, &["10.0.0.7"])]
    );
}

#[test]
fn lost_delete_reply_ends_ok() {
    let fake = FakeNs1::start(ZONE);
    fake.insert("web.example.com", "A", 60, &["10.0.0.1"]);
    fake.fail_matching("DELETE", "/web.example.com/A", Fault::LoseReply, 1);
    let mut c = client(&fake);
    c.delete(ZONE, "web.example.com", "A", &s(&["10.0.0.1"]))
        .unwrap();
    assert_eq!(
        calls(&fake.log()),
        // Issue 17: before sending again, the record is read: gone means done.
        vec![call("DELETE", 0), call("GET", 404)]
    );
    assert_eq!(fake.records(), vec![apex_ns()]);
}

#[test]
fn throttled_429_is_counted_and_retried() {
    let fake = FakeNs1::start(ZONE);
    // Fast refill so the token wait after a 429 is short (10 ms).
    fake.set_bucket("PUT", 100, 1.0);
    fake.fail_next(Fault::Status429, 2);
    let mut c = client(&fake);
    c.create(ZONE, "a.example.com", "A", 60, &s(&["10.0.0.1"]))
        .unwrap();
    let st = c.stats();
    assert_eq!((st.throttled, st.retries, st.requests), (2, 2, 3));
    assert_eq!(
        calls(&fake.log()),
        vec![call("PUT", 429), call("PUT", 429), call("PUT", 200)]
    );
}

#[test]
fn rate_limited_when_retries_run_out() {
    let fake = FakeNs1::start(ZONE);
    fake.set_bucket("DELETE", 100, 1.0);
    fake.fail_next(Fault::Status429, 10);
    let mut opts = options(&fake.endpoint());
    opts.max_retries = 1;
    let mut c = client_with(opts);
    let err = c
        .delete(ZONE, "a.example.com", "A", &s(&["10.0.0.1"]))
        .unwrap_err();
    assert!(
        matches!(err, Ns1Error::RateLimited { attempts: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("429"), "{err}");
    assert_eq!(c.stats().throttled, 2);
}

#[test]
fn connection_refused_is_transport_error_after_retries() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut opts = options(&format!("http://127.0.0.1:{port}/v1/"));
    opts.max_retries = 2;
    let mut c = client_with(opts);
    let err = c.list_zone(ZONE).unwrap_err();
    assert!(matches!(err, Ns1Error::Transport { .. }), "{err:?}");
    assert!(
        err.to_string().contains("GET /v1/zones/example.com"),
        "{err}"
    );
    let st = c.stats();
    assert_eq!((st.requests, st.retries), (3, 2));
}

#[test]
fn read_timeout_is_retried_then_reported() {
    let fake = FakeNs1::start(ZONE);
    fake.set_delay(Duration::from_millis(600));
    let mut opts = options(&fake.endpoint());
    opts.read_timeout = Duration::from_millis(150);
    opts.max_retries = 1;
    let mut c = client_with(opts);
    let err = c.list_zone(ZONE).unwrap_err();
    assert!(matches!(err, Ns1Error::Transport { .. }), "{err:?}");
    assert!(err.to_string().contains("timeout"), "{err}");
    assert_eq!(c.stats().requests, 2);
}

/// A public root certificate (ISRG Root X2), to exercise `ca_file` loading.
const PUBLIC_ROOT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIICGzCCAaGgAwIBAgIQQdKd0XLq7qeAwSxs6S+HUjAKBggqhkjOPQQDAzBPMQsw
CQYDVQQGEwJVUzEpMCcGA1UEChMgSW50ZXJuZXQgU2VjdXJpdHkgUmVzZWFyY2gg
R3JvdXAxFTATBgNVBAMTDElTUkcgUm9vdCBYMjAeFw0yMDA5MDQwMDAwMDBaFw00
MDA5MTcxNjAwMDBaME8xCzAJBgNVBAYTAlVTMSkwJwYDVQQKEyBJbnRlcm5ldCBT
ZWN1cml0eSBSZXNlYXJjaCBHcm91cDEVMBMGA1UEAxMMSVNSRyBSb290IFgyMHYw
EAYHKoZIzj0CAQYFK4EEACIDYgAEzZvVn4CDCuwJSvMWSj5cz3es3mcFDR0HttwW
+1qLFNvicWDEukWVEYmO6gbf9yoWHKS5xcUy4APgHoIYOIvXRdgKam7mAHf7AlF9
ItgKbppbd9/w+kHsOdx1ymgHDB/qo0IwQDAOBgNVHQ8BAf8EBAMCAQYwDwYDVR0T
AQH/BAUwAwEB/zAdBgNVHQ4EFgQUfEKWrt5LSDv6kviejM9ti6lyN5UwCgYIKoZI
zj0EAwMDaAAwZQIwe3lORlCEwkSHRhtFcP9Ymd70/aTSVaYgLXTWNLxBo1BfASdW
tL4ndQavEi51mI38AjEAi/V3bNTIZargCyzuFJ0nN6T5U6VR5CmD1/iQMVtCnwr1
/q4AaOeMSQ+2b1tbFfLn
-----END CERTIFICATE-----
";

fn temp_file(name: &str, contents: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ns1_client_test_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn https_with_ca_file_against_plain_http_fails_without_retry() {
    let fake = FakeNs1::start(ZONE);
    let https = fake.endpoint().replace("http://", "https://");
    let mut opts = options(&https);
    opts.ca_file = Some(temp_file("root.pem", PUBLIC_ROOT_PEM));
    let mut c = client_with(opts);
    let err = c.list_zone(ZONE).unwrap_err();
    assert!(matches!(err, Ns1Error::Transport { .. }), "{err:?}");
    assert_eq!(c.stats().retries, 0, "a TLS failure is not retried: {err}");
    // The fake saw a TLS ClientHello, not an HTTP request.
    assert!(fake.log().is_empty());

    // A CA file without any certificate is a configuration error.
    let mut opts = options(&https);
    opts.ca_file = Some(temp_file("empty.pem", "not a certificate\n"));
    let err = Client::new(opts).unwrap_err();
    assert!(matches!(err, Ns1Error::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains("empty.pem"), "{err}");
}

// ---------------------------------------------------------------------------
// Pacing and deadline

#[test]
fn pacing_keeps_forty_creates_free_of_429() {
    let fake = FakeNs1::start(ZONE);
    fake.set_bucket("PUT", 10, 1.0);
    let mut c = client(&fake);
    for i in 0..40 {
        c.create(ZONE, &format!("h{i:02}.{ZONE}"), "A", 60, &s(&["10.1.0.1"]))
            .unwrap();
    }
    let st = c.stats();
    assert_eq!(st.throttled, 0);
    assert_eq!(st.retries, 0);
    assert_eq!(st.requests, 40);
    let log = fake.log();
    assert_eq!(log.len(), 40);
    assert!(log.iter().all(|r| r.method == "PUT" && r.status == 200));
    assert_eq!(fake.records().len(), 41);
    // The client's estimate tracks the server's bucket.
    assert!(c.estimated_tokens("PUT").unwrap() < 10.0);
    assert!(c.estimated_tokens("GET").is_none());
}

#[test]
fn pacing_is_per_method() {
    let fake = FakeNs1::start(ZONE);
    fake.set_bucket("GET", 3, 0.3);
    fake.set_bucket("DELETE", 4, 0.4);
    fake.set_page_size(1);
    for i in 0..6 {
        fake.insert(&format!("h{i}.{ZONE}"), "A", 60, &["10.0.0.1"]);
    }
    let mut c = client(&fake);
    let recs = c.list_zone(ZONE).unwrap(); // 7 pages through a 3-token bucket
    assert_eq!(recs.len(), 7);
    for i in 0..6 {
        c.delete(ZONE, &format!("h{i}.{ZONE}"), "A", &s(&["10.0.0.1"]))
            .unwrap();
    }
    for i in 0..6 {
        // Already gone: 404s still spend tokens and are paced.
        c.delete(ZONE, &format!("h{i}.{ZONE}"), "A", &s(&["10.0.0.1"]))
            .unwrap();
    }
    assert_eq!(c.stats().throttled, 0);
    assert!(fake.log().iter().all(|r| r.status != 429));
    assert_eq!(fake.records(), vec![apex_ns()]);
}

#[test]
fn deadline_in_the_past_sends_nothing() {
    let fake = FakeNs1::start(ZONE);
    let mut opts = options(&fake.endpoint());
    opts.deadline = Some(Instant::now());
    let mut c = client_with(opts);
    let err = c.list_zone(ZONE).unwrap_err();
    assert!(matches!(err, Ns1Error::Deadline { .. }), "{err:?}");
    assert!(err.to_string().contains("deadline"), "{err}");
    assert!(fake.log().is_empty());
    assert_eq!(c.stats().requests, 0);
}

#[test]
fn deadline_stops_paced_and_backoff_waits() {
    let fake = FakeNs1::start(ZONE);
    // A token a minute (a believable shape), one token left.
    fake.set_bucket("PUT", 10, 600.0);
    fake.set_tokens("PUT", 1.0);
    let mut opts = options(&fake.endpoint());
    opts.deadline = Some(Instant::now() + Duration::from_secs(10));
    let mut c = client_with(opts);
    // As the run side does when it restores the estimates.
    c.note_pacing_file(std::path::Path::new("/var/lib/mesos2ns1/ns1-pacing.json"));
    c.create(ZONE, "a.example.com", "A", 60, &s(&["10.0.0.1"]))
        .unwrap();
    // The next PUT would need a ~2 min pacing wait: refused at once, and
    // the error says pacing did it.
    let err = c
        .create(ZONE, "b.example.com", "A", 60, &s(&["10.0.0.2"]))
        .unwrap_err();
    assert!(
        matches!(err, Ns1Error::Deadline { ref method, pacing: Some(_), .. } if method == "PUT"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("pacing stopped the run")
            && err.to_string().contains("ns1-pacing.json"),
        "{err}"
    );
    // Other methods are unaffected.
    c.delete(ZONE, "a.example.com", "A", &s(&["10.0.0.1"]))
        .unwrap();
    // A backoff that would pass the deadline is not begun either.
    fake.fail_next(Fault::ServerError500Json, 1);
    let mut c = c.with_backoff(Duration::from_secs(30), Duration::from_secs(30));
    let err = c.list_zone(ZONE).unwrap_err();
    assert!(matches!(err, Ns1Error::Deadline { .. }), "{err:?}");
    assert_eq!(
        calls(&fake.log()),
        vec![call("PUT", 200), call("DELETE", 200), call("GET", 500)]
    );
}

// ---------------------------------------------------------------------------
// Secrets

#[test]
fn key_never_in_debug_display_or_logs() {
    let fake = FakeNs1::start(ZONE);
    let opts = options(&fake.endpoint());
    assert!(!format!("{opts:?}").contains(KEY));
    let mut c = client(&fake);
    assert!(!format!("{c:?}").contains(KEY));
    // Exercise every logging path: success, retry, 429, error, fallback.
    fake.set_bucket("PUT", 50, 1.0);
    fake.fail_next(Fault::ServerError503Html, 1);
    fake.fail_next(Fault::Status429, 1);
    c.create(ZONE, "k.example.com", "A", 60, &s(&["10.0.0.1"]))
        .unwrap();
    // Issue 17: a create that finds the record reads it (the fallback path).
    c.create(ZONE, "k.example.com", "A", 60, &s(&["10.0.0.1"]))
        .unwrap();
    let _ = c.list_zone(ZONE).unwrap();
    fake.set_api_key("another-key");
    let err = c
        .delete(ZONE, "k.example.com", "A", &s(&["10.0.0.1"]))
        .unwrap_err();
    assert!(!err.to_string().contains(KEY) && !format!("{err:?}").contains(KEY));
    let lines = logger().lines.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.2.contains("k.example.com")),
        "logger captured nothing from this test"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.0 == log::Level::Trace && l.1.starts_with("mesos2ns1::ns1")),
        "trace bodies are logged"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.0 == log::Level::Warn && l.2.contains("429"))
    );
    for (level, target, text) in &lines {
        if text.contains(KEY) || text.contains("TOPSECRET") {
            // Only ureq_proto's raw trace dump carries it; the binary's
            // logger must drop those (see KEY_LEAKING_TRACE_TARGETS).
            assert!(
                log_line_may_leak_key(target, *level),
                "key leaked into log line: {level} {target} {text}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// The fake itself (shared with end-to-end tests)

#[test]
fn fake_validates_like_the_real_api() {
    let fake = FakeNs1::start(ZONE);
    let path = "/v1/zones/example.com/s.example.com/SRV";
    let put = |body: &str| raw(&fake, "PUT", path, Some(body));
    let ok_body = r#"{"zone":"example.com","domain":"s.example.com","type":"SRV","ttl":60,"answers":[{"answer":["0","1","31000","t.example.com"]}]}"#;

    let (st, head, body) = put("{not json");
    assert_eq!(st, 400);
    assert!(message(&body).starts_with("Input validation failed"));
    assert!(head.contains("X-Ratelimit-Limit: 100"), "{head}");
    assert!(head.contains("X-Ratelimit-Period: 200"), "{head}");
    assert!(head.contains("X-Ratelimit-By: customer"), "{head}");

    let (st, _, body) = put(&ok_body.replace(r#""ttl":60"#, r#""ttl":60,"filters":null"#));
    assert_eq!(st, 400);
    assert!(message(&body).contains("filters"), "{body}");
    let (st, _, _) = put(&ok_body.replace(r#","t.example.com""#, ""));
    assert_eq!(st, 400, "SRV needs 4 rdata elements");
    let (st, _, _) = put(&ok_body.replace(r#""31000""#, r#""port""#));
    assert_eq!(st, 400, "SRV port must be numeric");
    let (st, _, _) =
        put(&ok_body.replace(r#""domain":"s.example.com""#, r#""domain":"x.example.com""#));
    assert_eq!(st, 400, "body domain must match URL");
    let (st, _, _) = put(&ok_body.replace(r#""zone":"example.com","#, ""));
    assert_eq!(st, 400, "PUT needs zone");

    let (st, _, body) = put(ok_body);
    assert_eq!(st, 200, "{body}");
    let full: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        full["answers"][0]["answer"],
        json!(["0", "1", "31000", "t.example.com"])
    );
    assert_eq!(full["tier"], json!(1));
    assert_eq!(full["filters"], json!([]));
    assert!(full["id"].is_string() && full["answers"][0]["id"].is_string());
    let (st, _, body) = put(ok_body);
    assert_eq!(
        (st, message(&body).as_str()),
        (400, "record already exists")
    );
    let (st, _, body) = raw(&fake, "GET", path, None);
    assert_eq!(st, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["ttl"],
        json!(60)
    );
    assert_eq!(
        find(&fake, "s.example.com", "SRV"),
        rec("s.example.com", "SRV", 60, &["0 1 31000 t.example.com"])
    );

    let a_path = "/v1/zones/example.com/a.example.com/A";
    let a = |ip: &str| {
        format!(
            r#"{{"zone":"example.com","domain":"a.example.com","type":"A","answers":[{{"answer":["{ip}"]}}]}}"#
        )
    };
    assert_eq!(raw(&fake, "PUT", a_path, Some(&a("300.1.1.1"))).0, 400);
    assert_eq!(raw(&fake, "PUT", a_path, Some(&a("::1"))).0, 400);
    assert_eq!(raw(&fake, "PUT", a_path, Some(&a("10.1.1.1"))).0, 200);
    assert_eq!(find(&fake, "a.example.com", "A").2, 3600, "default TTL");
    let aaaa = r#"{"zone":"example.com","domain":"a.example.com","type":"AAAA","answers":[{"answer":["10.1.1.1"]}]}"#;
    assert_eq!(
        raw(
            &fake,
            "PUT",
            "/v1/zones/example.com/a.example.com/AAAA",
            Some(aaaa)
        )
        .0,
        400
    );

    let (st, _, body) = raw(
        &fake,
        "POST",
        "/v1/zones/example.com/nope.example.com/A",
        Some(r#"{"ttl":5}"#),
    );
    assert_eq!((st, message(&body).as_str()), (404, "record not found"));
    let (st, _, body) = raw(
        &fake,
        "GET",
        "/v1/zones/example.com/nope.example.com/A",
        None,
    );
    assert_eq!((st, message(&body).as_str()), (404, "record not found"));
    let (st, _, body) = raw(
        &fake,
        "DELETE",
        "/v1/zones/example.com/nope.example.com/A",
        None,
    );
    assert_eq!((st, message(&body).as_str()), (404, "record not found"));
    let (st, _, body) = raw(&fake, "GET", "/v1/zones/nope.com", None);
    assert_eq!((st, message(&body).as_str()), (404, "zone not found"));
    let (st, _, body) = raw(
        &fake,
        "PUT",
        "/v1/zones/example.com/www.other.com/A",
        Some(&a("10.0.0.1")),
    );
    assert_eq!(st, 400);
    assert_eq!(
        message(&body),
        r#""www.other.com" not a valid domain in example.com"#
    );
    // Partial POST keeps other fields.
    let (st, _, _) = raw(&fake, "POST", a_path, Some(r#"{"ttl":30}"#));
    assert_eq!(st, 200);
    assert_eq!(
        find(&fake, "a.example.com", "A"),
        rec("a.example.com", "A", 30, &["10.1.1.1"])
    );
    let (st, _, body) = raw(&fake, "DELETE", a_path, None);
    assert_eq!((st, body.trim()), (200, "{}"));
    assert_eq!(fake.writes(), 17);
}

#[test]
fn fake_enforces_bucket_and_key() {
    let fake = FakeNs1::start(ZONE);
    fake.set_bucket("GET", 2, 100.0);
    let path = "/v1/zones/example.com";
    let (st, head, _) = raw(&fake, "GET", path, None);
    assert_eq!(st, 200);
    assert!(head.contains("X-Ratelimit-Remaining: 1"), "{head}");
    assert_eq!(raw(&fake, "GET", path, None).0, 200);
    let (st, head, body) = raw(&fake, "GET", path, None);
    assert_eq!((st, message(&body).as_str()), (429, "Rate limit exceeded"));
    assert!(head.contains("X-Ratelimit-Remaining: 0"), "{head}");
    // Missing key → 401.
    let mut stream = TcpStream::connect(fake.addr()).unwrap();
    stream
        .write_all(b"DELETE /v1/zones/example.com/a.example.com/A HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 401"), "{out}");
    assert!(out.contains("Unauthorized"));
}

#[test]
fn fake_speaks_keep_alive_and_chunked() {
    let fake = FakeNs1::start(ZONE);
    let mut stream = TcpStream::connect(fake.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let body = r#"{"zone":"example.com","domain":"c.example.com","type":"A","ttl":9,"answers":[{"answer":["10.0.0.9"]}]}"#;
    let (first, second) = body.split_at(40);
    let req = format!(
        "PUT /v1/zones/example.com/c.example.com/A HTTP/1.1\r\nHost: x\r\nX-NSONE-Key: k\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{first}\r\n{:x}\r\n{second}\r\n0\r\n\r\nGET /v1/zones/example.com/c.example.com/A HTTP/1.1\r\nHost: x\r\nX-NSONE-Key: k\r\n\r\n",
        first.len(),
        second.len()
    );
    stream.write_all(req.as_bytes()).unwrap();
    // Read two responses off the same (kept-alive) connection.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut responses = 0;
    while responses < 2 {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed early");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        responses = text.matches("HTTP/1.1 200 OK").count();
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    assert!(text.contains("Connection: keep-alive"), "{text}");
    assert_eq!(
        fake.records()[0],
        rec("c.example.com", "A", 9, &["10.0.0.9"])
    );
    // Then Connection: close ends the connection after the reply.
    stream
        .write_all(b"GET /v1/zones/example.com HTTP/1.1\r\nHost: x\r\nX-NSONE-Key: k\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut rest = String::new();
    stream.read_to_string(&mut rest).unwrap();
    assert!(rest.starts_with("HTTP/1.1 200"), "{rest}");
    assert!(rest.contains("Connection: close"));
    assert_eq!(fake.log().len(), 3);
}

#[test]
fn a_stop_request_ends_a_pacing_wait_and_sends_nothing_more() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let fake = FakeNs1::start(ZONE);
    fake.set_bucket("PUT", 1, 60.0);
    let stop = Arc::new(AtomicBool::new(false));
    let mut opts = options(&fake.endpoint());
    opts.stop = Some(Arc::clone(&stop));
    let mut c = client_with(opts);
    c.create(ZONE, "a.example.com", "A", 60, &s(&["10.0.0.1"]))
        .unwrap();
    // The next PUT waits ~60 s for a token; a stop ends the wait.
    let setter = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            stop.store(true, Ordering::SeqCst);
        })
    };
    let err = c
        .create(ZONE, "b.example.com", "A", 60, &s(&["10.0.0.2"]))
        .unwrap_err();
    setter.join().unwrap();
    assert!(matches!(err, Ns1Error::Deadline { .. }), "{err:?}");
    let err = c.list_zone(ZONE).unwrap_err();
    assert!(matches!(err, Ns1Error::Deadline { .. }), "{err:?}");
    assert_eq!(calls(&fake.log()), vec![call("PUT", 200)]);
}
