//! A stable-Rust fuzz campaign over everything that parses outside input:
//! the Mesos state (parser and record generator, on to the NS1 answer
//! form), the NS1 zone listing (parser and planner), the rate-limit
//! headers (parser and pacer), `Link` headers (and the endpoint rebase)
//! and the config loader.
//!
//! Each target gets seed inputs (examples/, packaging/, tests/fixtures,
//! and the public Mesos states in ../shared/fixtures)
//! mutated by a fast PRNG (bit flips, interesting bytes, dictionary
//! tokens, deletions, duplications, splices), plus structure-aware inputs
//! built from the format's grammar with hostile values. Every input runs
//! under `catch_unwind`; a panic is a finding: the input is saved under
//! the cargo target tmp dir and the test fails naming it.
//!
//! Short by default (CI). A long campaign, one target at a time:
//!
//! ```sh
//! MESOS2NS1_FUZZ_ITERS=10000000 nice -n 19 cargo test --release --locked \
//!     --test fuzz fuzz_state -- --nocapture --test-threads=1
//! ```
//!
//! `MESOS2NS1_FUZZ_SEED` picks another PRNG seed (the default is fixed, so
//! CI runs are reproducible). Each target prints its inputs per second.

#[path = "support/fixtures.rs"]
mod fixtures;

use mesos2ns1::cli::Opts;
use mesos2ns1::config::Config;
use mesos2ns1::ns1::link::{Endpoint, parse_next_link};
use mesos2ns1::ns1::pacing::{Pacer, RateLimitHeaders, backoff_delay};
use mesos2ns1::ns1::{answer_to_rdata, normalize_name, normalize_short_answer, parse_zone_page};
use mesos2ns1::plan::{self, Ownership};
use mesos2ns1::records::{self, GenOptions, IpSource, LabelRules, StaticResolver};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::net::IpAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

// ------------------------------------------------------------ the engine

/// SplitMix64: tiny, fast, good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    /// True one time in `n`.
    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const INTERESTING_BYTES: &[u8] = &[
    0, 1, 0x7f, 0x80, 0xff, b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'-', b'@', b'.',
    b'\n', b' ', b'0', b'9', b'e', b'<', b'>', b';', b'=',
];

/// One to eight random edits of `data`.
fn mutate(rng: &mut Rng, data: &mut Vec<u8>, dict: &[&str], others: &[Vec<u8>]) {
    for _ in 0..1 + rng.below(8) {
        let len = data.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = *rng.pick(INTERESTING_BYTES);
            }
            2 => {
                let i = rng.below(len + 1);
                let token = rng.pick(dict).as_bytes();
                data.splice(i..i, token.iter().copied());
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                data.drain(i..i + n);
            }
            4 if len > 0 && len < 1 << 20 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(256));
                let chunk: Vec<u8> = data[i..i + n].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, chunk);
            }
            5 if !others.is_empty() => {
                let other = rng.pick(others);
                if !other.is_empty() {
                    let i = rng.below(other.len());
                    let n = 1 + rng.below((other.len() - i).min(512));
                    let at = rng.below(len + 1);
                    let end = (at + rng.below(64)).min(len);
                    data.splice(at..end, other[i..i + n].iter().copied());
                }
            }
            6 if len > 0 => data.truncate(rng.below(len)),
            7 if len > 0 => {
                // Replace a run of digits with an extreme number.
                let i = rng.below(len);
                if data[i].is_ascii_digit() {
                    let mut j = i;
                    while j < len && data[j].is_ascii_digit() {
                        j += 1;
                    }
                    let n = rng.pick(EXTREME_NUMBERS).as_bytes();
                    data.splice(i..j, n.iter().copied());
                }
            }
            _ => {
                let i = rng.below(len + 1);
                data.insert(i, rng.next() as u8);
            }
        }
    }
}

const EXTREME_NUMBERS: &[&str] = &[
    "0",
    "-0",
    "-1",
    "1",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
    "1e20",
    "1e308",
    "1e309",
    "-1e308",
    "0.0000001",
    "1.5",
    "NaN",
    "inf",
];

thread_local! {
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            // Where in this crate it happened: the first frames naming it.
            let trace = std::backtrace::Backtrace::force_capture().to_string();
            let ours: Vec<&str> = trace
                .lines()
                .filter(|l| l.contains("mesos2ns1::"))
                .take(3)
                .map(str::trim)
                .collect();
            let msg = format!("{info} [{}]", ours.join(" <- "));
            LAST_PANIC.with(|p| *p.borrow_mut() = msg);
        }));
    });
}

fn iterations(default: u64) -> u64 {
    std::env::var("MESOS2NS1_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn seed() -> u64 {
    std::env::var("MESOS2NS1_FUZZ_SEED")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0x6d65_736f_7332_6e73)
}

/// Runs one target: `default_iters` inputs unless `MESOS2NS1_FUZZ_ITERS`
/// says otherwise; half mutated seeds (and earlier generated inputs), half
/// generated, a few generated then mutated.
fn campaign(
    name: &str,
    default_iters: u64,
    seeds: Vec<Vec<u8>>,
    dict: &[&str],
    mut generate: impl FnMut(&mut Rng) -> Vec<u8>,
    target: impl Fn(&[u8]),
) {
    quiet_panics();
    let iters = iterations(default_iters);
    let seed = seed();
    let mut rng = Rng(seed ^ name.bytes().fold(0, |h, b| h * 31 + u64::from(b)));
    let mut pool: Vec<Vec<u8>> = seeds;
    for seed in &pool {
        run_one(name, &target, seed, &mut Vec::new());
    }
    let mut findings: Vec<(PathBuf, String)> = Vec::new();
    let started = Instant::now();
    let mut bytes: u64 = 0;
    let mut last_report = Instant::now();
    let mut done: u64 = 0;
    for i in 0..iters {
        done = i + 1;
        let input = match rng.below(10) {
            0..=4 if !pool.is_empty() => {
                let mut data = rng.pick(&pool).clone();
                mutate(&mut rng, &mut data, dict, &pool);
                data
            }
            5 => {
                let mut data = generate(&mut rng);
                mutate(&mut rng, &mut data, dict, &pool);
                data
            }
            _ => generate(&mut rng),
        };
        bytes += input.len() as u64;
        if let Some(found) = run_one(name, &target, &input, &mut findings) {
            eprintln!("fuzz {name}: finding after {i} inputs: {found}");
            if findings.len() >= 5 {
                break;
            }
        }
        // Keep a few generated inputs around as mutation material.
        if pool.len() < 64 && rng.one_in(64) {
            pool.push(input);
        } else if rng.one_in(4096) && !pool.is_empty() {
            let j = rng.below(pool.len());
            pool[j] = input;
        }
        if last_report.elapsed() > Duration::from_secs(60) {
            last_report = Instant::now();
            let secs = started.elapsed().as_secs_f64();
            println!(
                "fuzz {name}: {} inputs in {secs:.0}s ({:.0} inputs/s)",
                i + 1,
                (i + 1) as f64 / secs
            );
        }
    }
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    println!(
        "fuzz {name}: {done} inputs ({} MB) in {secs:.2}s: {:.0} inputs/s, {} findings, seed {seed}",
        bytes / 1_000_000,
        done as f64 / secs,
        findings.len()
    );
    if let Some((path, msg)) = findings.first() {
        panic!(
            "fuzz {name}: {} inputs panicked; first: {msg} (input saved in {})",
            findings.len(),
            path.display()
        );
    }
}

/// Runs `target` on one input; a panic is saved and returned.
fn run_one(
    name: &str,
    target: &impl Fn(&[u8]),
    input: &[u8],
    findings: &mut Vec<(PathBuf, String)>,
) -> Option<String> {
    if catch_unwind(AssertUnwindSafe(|| target(input))).is_ok() {
        return None;
    }
    let msg = LAST_PANIC.with(|p| p.borrow().clone());
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-findings");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{name}-{}.in", findings.len()));
    let _ = std::fs::write(&path, input);
    findings.push((path, msg.clone()));
    Some(msg)
}

fn repo_file(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

// ------------------------------------------------------------ hostile values

fn hostile_string(rng: &mut Rng) -> String {
    const PIECES: &[&str] = &[
        "web",
        "a",
        "-",
        ".",
        "_",
        " ",
        "0",
        "9",
        "x-y",
        "Ünïcödé",
        "ß",
        "İ",
        "ﬁ",
        "😀",
        "\u{202e}",
        "\u{0}",
        "\n",
        "\r",
        "\t",
        "\u{1b}[2J",
        "@",
        ":",
        "[",
        "]",
        "*",
        "\\",
        "\"",
        "/",
        "%",
        "xn--",
        "é",
        "\u{200b}",
        "..",
        "--",
        "a.b.c",
    ];
    let mut s = String::new();
    let n = match rng.below(20) {
        0 => 0,
        1 => 100 + rng.below(200),
        _ => 1 + rng.below(6),
    };
    for _ in 0..n {
        s.push_str(rng.pick::<&str>(PIECES));
    }
    s
}

fn label(rng: &mut Rng) -> String {
    const NAMES: &[&str] = &[
        "web", "api", "db", "marathon", "chronos", "a", "x1", "my-app",
    ];
    if rng.one_in(4) {
        hostile_string(rng)
    } else {
        rng.pick(NAMES).to_string()
    }
}

fn ip(rng: &mut Rng) -> String {
    match rng.below(12) {
        0 => "::ffff:10.0.0.1".into(),
        1 => format!("fd00::{:x}", rng.below(0xffff)),
        2 => "FD00:0009:0000:0000:0000:0000:0000:00A1".into(),
        3 => "010.1.1.1".into(),
        4 => "fe80::1%eth0".into(),
        5 => "256.1.1.1".into(),
        6 => "::".into(),
        7 => "127.0.0.1".into(),
        8 => hostile_string(rng),
        _ => format!(
            "10.{}.{}.{}",
            rng.below(256),
            rng.below(256),
            rng.below(256)
        ),
    }
}

fn host(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => format!("[{}]", ip(rng)),
        1 => "agent1.example".into(),
        2 => hostile_string(rng),
        _ => ip(rng),
    }
}

fn port(rng: &mut Rng) -> String {
    if rng.one_in(8) {
        rng.pick(EXTREME_NUMBERS).to_string()
    } else {
        (1 + rng.below(65535)).to_string()
    }
}

fn pid(rng: &mut Rng, id: &str) -> Value {
    match rng.below(14) {
        0 => Value::Null,
        1 => json!(format!("{}:{}", host(rng), port(rng))),
        2 => json!(format!("{id}@{id}@{}:{}", host(rng), port(rng))),
        3 => json!(format!("{id}@{}", host(rng))),
        4 => json!(hostile_string(rng)),
        5 => json!(7),
        _ => json!(format!("{id}@{}:{}", host(rng), port(rng))),
    }
}

fn ports_string(rng: &mut Rng) -> Value {
    match rng.below(16) {
        0 => json!(""),
        1 => json!("[31000]"),
        2 => json!("[-]"),
        3 => json!("31000-31001"),
        4 => json!("[31000-31001"),
        5 => json!("[a-b, 1-2]"),
        6 => json!(format!(
            "[{}-{}]",
            rng.pick(EXTREME_NUMBERS),
            rng.pick(EXTREME_NUMBERS)
        )),
        7 => json!(42),
        8 => json!("[]"),
        // Rarely a full range: expensive, but it must not break anything.
        9 if rng.one_in(200) => json!("[1-65535]"),
        _ => {
            let mut pieces = Vec::new();
            for _ in 0..1 + rng.below(4) {
                let a = 1 + rng.below(65000);
                let b = a + rng.below(4);
                pieces.push(format!("{a}-{b}"));
            }
            json!(format!("[{}]", pieces.join(", ")))
        }
    }
}

fn maybe_wrong_type(rng: &mut Rng, v: Value) -> Value {
    match rng.below(40) {
        0 => Value::Null,
        1 => json!(1),
        2 => json!([v]),
        3 => json!({"x": v}),
        4 => json!(true),
        _ => v,
    }
}

fn wrong_with(rng: &mut Rng, f: impl FnOnce(&mut Rng) -> Value) -> Value {
    let v = f(rng);
    maybe_wrong_type(rng, v)
}

fn gen_state(rng: &mut Rng) -> Vec<u8> {
    let leader = match rng.below(10) {
        0 => json!("master@[::ffff:10.0.0.1]:5050"),
        1 => json!("master@[fd00::1]:5050"),
        2 => json!("master@leader.example:5050"),
        3 => json!(""),
        4 => maybe_wrong_type(rng, json!("x")),
        5 => pid(rng, "master"),
        _ => json!(format!("master@10.0.0.{}:5050", 1 + rng.below(3))),
    };
    let slaves: Vec<Value> = (0..rng.below(5))
        .map(|i| {
            let mut s = json!({"id": format!("S{i}"), "pid": pid(rng, "slave(1)")});
            if rng.one_in(10) {
                s.as_object_mut().unwrap().remove("pid");
            }
            if rng.one_in(10) {
                s["id"] = json!(hostile_string(rng));
            }
            s
        })
        .collect();
    let n_slaves = slaves.len().max(1);
    let frameworks: Vec<Value> = (0..rng.below(4))
        .map(|_| {
            let tasks: Vec<Value> = (0..rng.below(6))
                .map(|t| gen_task(rng, t, n_slaves))
                .collect();
            let mut fw = json!({"name": label(rng), "tasks": tasks});
            match rng.below(4) {
                0 => fw["hostname"] = json!(host(rng)),
                1 => {}
                _ => fw["pid"] = pid(rng, "scheduler"),
            }
            fw
        })
        .collect();
    let mut state = json!({"leader": leader, "slaves": slaves, "frameworks": frameworks});
    if rng.one_in(20) {
        state["slaves"] = maybe_wrong_type(rng, Value::Null);
    }
    serde_json::to_vec(&state).unwrap()
}

fn gen_task(rng: &mut Rng, t: usize, n_slaves: usize) -> Value {
    let statuses: Vec<Value> = (0..rng.below(3))
        .map(|_| {
            let ips: Vec<Value> = (0..rng.below(3))
                .map(|_| json!({"ip_address": ip(rng)}))
                .collect();
            json!({
                "state": if rng.one_in(4) { "TASK_STAGING" } else { "TASK_RUNNING" },
                "timestamp": wrong_with(rng, |r| json!(r.below(100) as f64 / 7.0)),
                "labels": [{"key": *rng.pick(&[
                    "Docker.NetworkSettings.IPAddress",
                    "MesosContainerizer.NetworkSettings.IPAddress",
                    "other",
                ]), "value": ip(rng)}],
                "container_status": {"network_infos": [{"ip_addresses": ips}]}
            })
        })
        .collect();
    let mut task = json!({
        "id": format!("{}.{t}", label(rng)),
        "name": label(rng),
        "slave_id": format!("S{}", rng.below(n_slaves + 1)),
        "state": if rng.one_in(6) { json!(hostile_string(rng)) } else { json!("TASK_RUNNING") },
        "resources": {"ports": ports_string(rng)},
        "statuses": statuses,
    });
    if rng.one_in(3) {
        let ports: Vec<Value> = (0..rng.below(4))
            .map(|_| {
                json!({
                    "number": wrong_with(rng, |r| json!(*r.pick(&[80i64, 0, -1, 65535, 65536, 1 << 40]))),
                    "name": label(rng),
                    "protocol": *rng.pick(&["tcp", "udp", "", "TCP", "sctp", "\n"]),
                })
            })
            .collect();
        task["discovery"] = json!({"name": label(rng), "ports": {"ports": ports}});
    }
    task
}

fn gen_options_variants(rng_byte: u8) -> GenOptions {
    let mut o = GenOptions::new("mesos.example.com");
    if rng_byte & 1 != 0 {
        o.masters = vec![
            "10.0.0.1:5050".into(),
            "[::ffff:10.0.0.2]:5050".into(),
            "[fd00::3]:5050".into(),
            "10.0.0.1:5051".into(),
        ];
    }
    if rng_byte & 2 != 0 {
        o.rules = LabelRules::Rfc952;
    }
    if rng_byte & 4 != 0 {
        o.ip_sources = vec![
            IpSource::Docker,
            IpSource::Mesos,
            IpSource::Netinfo,
            IpSource::Host,
        ];
    }
    if rng_byte & 8 != 0 {
        o.srv_weight = 65535;
    }
    o
}

// ------------------------------------------------------------ targets

/// examples/state.json and the public states of ../shared/fixtures
/// (without them, after a loud line, the campaign runs on the rest).
fn state_seeds() -> Vec<Vec<u8>> {
    let mut seeds = vec![repo_file("examples/state.json")];
    let Some(shared) = fixtures::shared_fixtures("fuzz_state (seeds)") else {
        return seeds;
    };
    for entry in std::fs::read_dir(shared).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with("-state.json") {
            seeds.push(std::fs::read(entry.path()).unwrap());
        }
    }
    seeds
}

fn state_target(input: &[u8]) {
    let Ok(state) = records::state::parse(input) else {
        return;
    };
    let mut resolver = StaticResolver::default();
    resolver.0.insert(
        "agent1.example".into(),
        vec![IpAddr::from([10, 9, 0, 1]), "fd00::9".parse().unwrap()],
    );
    let _ = records::generate::counts(&state);
    let variant = input.first().copied().unwrap_or(0) ^ input.last().copied().unwrap_or(0);
    let Ok(mut set) = records::generate(&state, &gen_options_variants(variant), &resolver) else {
        return;
    };
    let mut sink = std::io::sink();
    let _ = records::output::write_json(&mut set, &mut sink);
    let _ = records::output::write_zone(&mut set, 60, &mut sink);
    let own = Ownership::new(
        "mesos.example.com",
        &["static.mesos.example.com".to_string()],
    );
    let (desired, _) = plan::publishable(set.records(), &own);
    for r in &desired {
        for a in &r.answers {
            let _ = answer_to_rdata(&r.rtype.to_string(), a);
        }
    }
}

#[test]
fn fuzz_state() {
    campaign(
        "state",
        3_000,
        state_seeds(),
        &[
            "\"TASK_RUNNING\"",
            "\"leader\":",
            "\"pid\":null,",
            "\"ports\":\"[1-65535]\"",
            "\"[31000-31001]\"",
            "master@[::ffff:10.0.0.1]:5050",
            "\"statuses\":[]",
            "null",
            "{}",
            "[]",
            "\"\\u0000\"",
            "\"\\n\"",
            "1e999",
            "-1",
            "@",
        ],
        gen_state,
        state_target,
    );
}

fn gen_zone(rng: &mut Rng) -> Vec<u8> {
    let records: Vec<Value> = (0..rng.below(8))
        .map(|_| {
            let rtype = *rng.pick(&["A", "AAAA", "SRV", "CNAME", "TXT", "a", "", "NS"]);
            let answers: Vec<Value> = (0..rng.below(4))
                .map(|_| match rtype {
                    "SRV" => json!(format!(
                        "{} {} {} {}",
                        rng.pick(EXTREME_NUMBERS),
                        rng.pick(EXTREME_NUMBERS),
                        port(rng),
                        label(rng)
                    )),
                    _ if rng.one_in(6) => maybe_wrong_type(rng, json!(5)),
                    _ => json!(ip(rng)),
                })
                .collect();
            json!({
                "domain": wrong_with(rng, |r| json!(format!("{}.mesos.example.com", label(r)))),
                "type": rtype,
                "ttl": wrong_with(rng, |r| json!(*r.pick(&[60u64, 0, 4294967295, 4294967296]))),
                "short_answers": maybe_wrong_type(rng, Value::Array(answers)),
                "tier": wrong_with(rng, |r| json!(1 + r.below(3))),
            })
        })
        .collect();
    serde_json::to_vec(&json!({"zone": "example.com", "records": records})).unwrap()
}

fn zone_target(input: &[u8]) {
    let Ok(zone) = parse_zone_page(input) else {
        return;
    };
    for r in &zone {
        let _ = normalize_name(&r.domain);
        for a in &r.answers {
            let _ = normalize_short_answer(&r.rtype, a);
        }
    }
    // The planner against a small desired set.
    static DESIRED: std::sync::OnceLock<Vec<records::Record>> = std::sync::OnceLock::new();
    let own = Ownership::new(
        "mesos.example.com",
        &["*.static.mesos.example.com".to_string()],
    );
    let desired = DESIRED.get_or_init(|| {
        let body = repo_file("examples/state.json");
        let state = records::state::parse(&body).unwrap();
        let mut set = records::generate(
            &state,
            &GenOptions::new("mesos.example.com"),
            &StaticResolver::default(),
        )
        .unwrap();
        plan::publishable(set.records(), &own).0
    });
    let plan = plan::compute(desired.clone(), zone, &own, 60);
    let _ = plan.to_string();
    for change in &plan.changes {
        let _ = change.to_string();
    }
}

#[test]
fn fuzz_zone_listing() {
    let seeds = vec![
        br#"{"zone":"example.com","records":[{"domain":"web.marathon.mesos.example.com","type":"A","ttl":60,"short_answers":["10.0.0.1"],"tier":1},{"domain":"_web._tcp.marathon.mesos.example.com","type":"SRV","ttl":60,"short_answers":["0 1 31000 web-abcde-s1.marathon.slave.mesos.example.com."],"tier":1}]}"#.to_vec(),
        br#"{"zone":"z","records":[]}"#.to_vec(),
    ];
    campaign(
        "zone",
        20_000,
        seeds,
        &[
            "\"short_answers\":",
            "\"SRV\"",
            "\"AAAA\"",
            "\"ttl\":",
            "null",
            "[",
            "\"0 1 65536 x.\"",
            "\"::ffff:10.0.0.1\"",
            "\"tier\":99",
        ],
        gen_zone,
        zone_target,
    );
}

fn gen_headers(rng: &mut Rng) -> Vec<u8> {
    let num = |rng: &mut Rng| -> String {
        match rng.below(6) {
            0 => rng.pick(EXTREME_NUMBERS).to_string(),
            1 => format!(" {} ", rng.below(100)),
            2 => hostile_string(rng),
            3 => format!("{}.{}", rng.below(100), rng.below(1000)),
            _ => rng.below(1000).to_string(),
        }
    };
    let lines = [num(rng), num(rng), num(rng), num(rng), num(rng), num(rng)];
    lines.join("\n").into_bytes()
}

fn headers_target(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let mut lines = text.split('\n');
    let (limit, remaining, period) = (lines.next(), lines.next(), lines.next());
    let extra: Vec<u64> = lines
        .map(|l| l.trim().parse::<u64>().unwrap_or(0))
        .collect();
    let headers = RateLimitHeaders::from_lookup(|name| match name {
        "x-ratelimit-limit" => limit,
        "x-ratelimit-remaining" => remaining,
        "x-ratelimit-period" => period,
        _ => None,
    });
    if let Some(h) = &headers {
        let _ = h.token_interval();
    }
    let now = Instant::now();
    let mut pacer = Pacer::new();
    for method in ["GET", "PUT"] {
        pacer.observe(method, headers, now);
        let _ = pacer.tokens(method, now);
        let _ = pacer.token_interval(method);
        let _ = pacer.delay_before(method, now);
        pacer.note_unanswered(method, now);
        let later = now + Duration::from_millis(extra.first().copied().unwrap_or(0) % 100_000);
        let _ = pacer.delay_before(method, later);
        pacer.note_throttled(method, later);
        let _ = pacer.delay_before(method, later);
        let _ = pacer.tokens(method, later);
    }
    let base = Duration::from_millis(extra.get(1).copied().unwrap_or(500));
    let cap = Duration::from_millis(extra.get(2).copied().unwrap_or(8000));
    let attempt = extra.get(3).copied().unwrap_or(0) as u32;
    let _ = backoff_delay(base, cap, attempt);
}

#[test]
fn fuzz_rate_limit_headers() {
    campaign(
        "ratelimit",
        50_000,
        vec![b"10\n9\n1\n".to_vec(), b"100\n0\n10\n".to_vec()],
        &[
            "1e20",
            "NaN",
            "inf",
            "-",
            ".",
            "0",
            "\n",
            " ",
            "4294967295",
            "1e-300",
        ],
        gen_headers,
        headers_target,
    );
}

fn gen_links(rng: &mut Rng) -> Vec<u8> {
    let mut lines = vec![match rng.below(6) {
        0 => hostile_string(rng),
        1 => "http://127.0.0.1:8080/v1".into(),
        2 => "HTTPS://api.example/v1/".into(),
        _ => "https://api.nsone.net/v1/".into(),
    }];
    for _ in 0..1 + rng.below(3) {
        let mut links = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let url = match rng.below(8) {
                0 => "/v1/zones/example.com?after=abc&limit=1000".into(),
                1 => "zones/example.com?after=x".into(),
                2 => format!("https://evil.example/{}", hostile_string(rng)),
                3 => hostile_string(rng),
                4 => "//other:443/v1/zones/z?after=1".into(),
                _ => format!(
                    "https://api.nsone.net/v1/zones/example.com?after={}",
                    rng.next()
                ),
            };
            let rel = *rng.pick(&[
                "rel=\"next\"",
                "rel=next",
                "rel=\"prev next\"",
                "REL=\"NEXT\"",
                "rel=\"",
                "rel",
                "title=\"a,b;c\"; rel=\"next\"",
                "rel=\"last\"",
            ]);
            let sep = *rng.pick(&["; ", ";", " ; ", ";;"]);
            links.push(match rng.below(10) {
                0 => format!("{url}{sep}{rel}"),
                1 => format!("<{url}{sep}{rel}"),
                _ => format!("<{url}>{sep}{rel}"),
            });
        }
        lines.push(links.join(*rng.pick(&[", ", ",", " , "])));
    }
    lines.join("\n").into_bytes()
}

fn links_target(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let mut lines = text.split('\n');
    let endpoint = lines.next().unwrap_or_default();
    let values: Vec<&str> = lines.collect();
    let next = parse_next_link(&values);
    let parsed = Endpoint::parse(endpoint);
    let ep = parsed.unwrap_or_else(|_| Endpoint::parse("https://api.nsone.net/v1/").unwrap());
    let _ = ep.origin();
    let _ = ep.url("zones/example.com");
    if let Some(next) = next {
        let rebased = ep.rebase(&next);
        assert!(
            rebased.starts_with(&ep.origin()),
            "{rebased:?} left {}",
            ep.origin()
        );
        let _ = ep.path_of(&rebased);
    }
    for v in &values {
        let _ = ep.path_of(v);
        let _ = ep.rebase(v);
    }
}

#[test]
fn fuzz_link_headers() {
    campaign(
        "link",
        50_000,
        vec![
            b"https://api.nsone.net/v1/\n<https://api.nsone.net/v1/zones/example.com?after=x>; rel=\"next\"".to_vec(),
        ],
        &["<", ">", ";", ",", "rel=\"next\"", "\"", "//", "?", "#", "@", "%2F", "https://"],
        gen_links,
        links_target,
    );
}

const CONFIG_KEYS: &[&str] = &[
    "masters",
    "zk",
    "domain",
    "IPSources",
    "EnforceRFC952",
    "ttl",
    "SRVRecordDefaultWeight",
    "stateTimeoutSeconds",
    "mesosHTTPSOn",
    "CACertFile",
    "mesosAuthentication",
    "mesosCredentials",
    "zone",
    "ns1Endpoint",
    "ns1KeyFile",
    "ns1ApiKey",
    "ns1TimeoutSeconds",
    "exclude",
    "maxChangePercent",
    "stateDir",
    "deadlineSeconds",
    "onlyIfLeader",
    "metricsFile",
    "refreshSeconds",
    "unknownKey",
];

fn config_value(rng: &mut Rng, key: &str) -> Value {
    match rng.below(10) {
        0 => Value::Null,
        1 => json!(hostile_string(rng)),
        2 => serde_json::from_str(rng.pick::<&str>(EXTREME_NUMBERS)).unwrap_or(json!(-1)),
        3 => json!(rng.one_in(2)),
        4 => json!([hostile_string(rng), "10.0.0.1:5050"]),
        _ => match key {
            "masters" => json!([
                format!("{}:{}", host(rng), port(rng)),
                "https://10.0.0.2:5050"
            ]),
            "IPSources" => json!([
                *rng.pick(&["netinfo", "mesos", "docker", "host", "x"]),
                *rng.pick(&["netinfo", "host"])
            ]),
            "domain" | "zone" => json!(*rng.pick(&[
                "example.com",
                "mesos.example.com",
                "EXAMPLE.com.",
                "a..b",
                "-x.com",
                "",
            ])),
            "exclude" => json!([format!("*.{}", label(rng)), "static.mesos.example.com"]),
            "mesosCredentials" => {
                json!({"principal": label(rng), "secretFile": "/x", "secret": "s"})
            }
            "ns1Endpoint" => json!(*rng.pick(&[
                "https://api.nsone.net/v1/",
                "http://127.0.0.1:1/v1",
                "ftp://x",
                "HTTPS://X/",
            ])),
            "maxChangePercent" | "deadlineSeconds" => json!(rng.below(5000) as f64 / 7.0),
            _ => json!(rng.below(100_000)),
        },
    }
}

fn gen_config(rng: &mut Rng) -> Vec<u8> {
    let mut map = serde_json::Map::new();
    for _ in 0..rng.below(10) {
        let key = rng.pick(CONFIG_KEYS);
        let key = match rng.below(4) {
            0 => key.to_ascii_lowercase(),
            1 => key.to_ascii_uppercase(),
            _ => key.to_string(),
        };
        let v = config_value(rng, &key);
        map.insert(key, v);
    }
    serde_json::to_vec(&Value::Object(map)).unwrap()
}

/// Command-line values taken from the input's last bytes, so that flags
/// are fuzzed too.
fn opts_from(input: &[u8]) -> Opts {
    let b = |i: usize| {
        input
            .get(input.len().wrapping_sub(1 + i))
            .copied()
            .unwrap_or(0)
    };
    let f64s = [
        f64::NAN,
        f64::INFINITY,
        -0.0,
        1e300,
        0.5,
        3600.0,
        3600.1,
        50.0,
    ];
    let u64s = [0u64, 1, 30, 3600, 3601, u64::MAX, u64::MAX / 1000, 86400];
    let mut o = Opts::default();
    if b(0) & 1 != 0 {
        o.deadline = Some(f64s[usize::from(b(1)) % f64s.len()]);
    }
    if b(0) & 2 != 0 {
        o.state_timeout = Some(u64s[usize::from(b(2)) % u64s.len()]);
    }
    if b(0) & 4 != 0 {
        o.ns1_timeout = Some(u64s[usize::from(b(3)) % u64s.len()]);
    }
    if b(0) & 8 != 0 {
        o.max_change_percent = Some(f64s[usize::from(b(4)) % f64s.len()]);
    }
    if b(0) & 16 != 0 {
        o.ttl = Some(u32::MAX >> (b(5) % 32));
    }
    if b(0) & 32 != 0 {
        o.zone = Some("example.com".into());
        o.masters = Some(vec!["10.0.0.1:5050".into()]);
    }
    o
}

fn config_target(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let opts = opts_from(input);
    let path = Path::new("/fuzz/config.json");
    if let Ok(cfg) = Config::load_text(&opts, Some("key".into()), path, &text) {
        let _ = cfg.require_sync_settings();
        let _ = mesos2ns1::app::gen_options(&cfg);
        let _ = cfg.records_domain();
        let _ = Ownership::new(&cfg.domain, &cfg.exclude);
        let _ = mesos2ns1::app::resolve_deadline(&cfg, None);
        let _ = mesos2ns1::app::resolve_deadline(&cfg, Some(Instant::now()));
        let _ = Instant::now() + cfg.deadline + cfg.state_timeout + cfg.ns1_timeout;
        let _ = format!("{cfg:?}");
    }
}

#[test]
fn fuzz_config() {
    campaign(
        "config",
        20_000,
        vec![
            repo_file("examples/config.json"),
            repo_file("packaging/config.json.example"),
            repo_file("tests/fixtures/empty-config.json"),
        ],
        &[
            "\"stateTimeoutSeconds\": 18446744073709551615,",
            "\"SRVRecordDefaultWeight\": 65536,",
            "\"deadlineSeconds\": 1e308,",
            "\"ttl\": 0,",
            "null",
            "\"\"",
            "\"zk\": \"zk://x\",",
            "\"masters\": [],",
        ],
        gen_config,
        config_target,
    );
}
