//! Benchmark of `mesos2ns1 sync` against the fake NS1 API (a real HTTP
//! server on 127.0.0.1 with a per-method token bucket), run with
//! `cargo bench --bench sync`.
//!
//! 1. Initial sync of about 5,000 (name, type) pairs into an empty zone,
//!    with the PUT bucket scaled down (200 tokens, refilled in 1 s) so that
//!    it takes about half a minute. Reported: creates per second against
//!    the bucket's bound over the same window, and the 429s received.
//! 2. Steady state: a 100,000-task cluster whose records are all already
//!    in the zone. Reported: zone pages read, writes (must be 0), CPU time,
//!    and CPU time as a ratio to `mesos2ns1 records` on the same state.
//!
//! 3. Blip (issue 8): over 10 runs a minute apart, one framework (10% of
//!    the tasks) is missing from one poll and one agent from another.
//!    Reported: the writes made by the hold-down (default 120 s) against
//!    immediate deletes (`--remove-after 0`, Mesos-DNS's behaviour) in the
//!    same run; target 0 deletes and 0 re-creates for the missing names.
//! 4. Churn (issue 9): 300 tasks replaced (creates, updates and deletes
//!    mixed) with NS1's bucket shapes and the periods scaled down 100×.
//!    Reported: wall time against the sequential bound (the sum of each
//!    method's drain time) and the parallel bound (the largest), and 429s.
//! 5. Back to back: five runs right after a run that emptied the PUT
//!    bucket; 429s (target 0).
//! 6. First sync of about 5,900 record sets into a zone that does not
//!    exist: with `--create-zone` (one import) and record by record.
//! 7. Deadline: a deadline that cuts a large plan; what is left, by
//!    priority (target: only priority 3 and 4).
//! 8. Steady state with the cached listing: GETs per run at 100,000 tasks
//!    over 10 runs (target 20 or fewer, against 161 pages).
//!
//! 9. Memory (issue 19): peak RSS (the child's VmHWM, reported in the
//!    summary and by `records -v`) of `sync` at 100,000 tasks against the
//!    fake NS1: steady with a full read, steady from the cached listing,
//!    30% of the tasks gone, every task restarted elsewhere (under the
//!    50 s deadline); `records` on the same state is the baseline, and
//!    every figure is also a ratio to the state's size.
//!
//! Figures are ratios against baselines measured in the same run.

#[path = "../tests/support/mod.rs"]
mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::fake_mesos::FakeMaster;
use support::fake_ns1::FakeNs1;
use support::harness::{Env, TempDir, as_refs, cluster, expected, many_tasks};

/// NS1's bucket shapes (limit, period in s) per write method, with the
/// periods divided by `scale`.
fn ns1_shapes(scale: f64) -> [(&'static str, u32, f64); 3] {
    [
        ("PUT", 100, 200.0 / scale),
        ("POST", 300, 300.0 / scale),
        ("DELETE", 100, 200.0 / scale),
    ]
}

/// Seconds to send `n` requests through a full bucket of `limit` tokens
/// refilled over `period` seconds.
fn drain_time(n: usize, limit: u32, period: f64) -> f64 {
    (n as f64 - f64::from(limit)).max(0.0) / (f64::from(limit) / period)
}

fn count_429(env: &Env) -> usize {
    env.ns1.log().iter().filter(|r| r.status == 429).count()
}

const DOMAIN: &str = "mesos.example.com";

/// The release binary next to this bench, built first.
fn binary() -> PathBuf {
    let root = env!("CARGO_MANIFEST_DIR");
    let status = Command::new("cargo")
        .args([
            "build",
            "--release",
            "--locked",
            "--quiet",
            "--bin",
            "mesos2ns1",
        ])
        .current_dir(root)
        .status()
        .expect("cargo build");
    assert!(status.success(), "cargo build --release failed");
    // The binary cargo just built: under CARGO_TARGET_DIR when it is set.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(root).join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        PathBuf::from(root).join(target)
    };
    target.join("release/mesos2ns1")
}

fn run(bin: &Path, env: &Env, cmd: &str, extra: &[&str]) -> (Output, Value) {
    let config = env.dir.file("bench-config.json", "{}");
    // `BENCH_WRAP="heaptrack -o /tmp/ht"` runs each command under a
    // profiler (split on spaces); the summary is the last JSON line.
    let wrap = std::env::var("BENCH_WRAP").unwrap_or_default();
    let mut argv: Vec<String> = wrap.split_whitespace().map(String::from).collect();
    argv.push(bin.display().to_string());
    let out = Command::new(&argv[0])
        .args(&argv[1..])
        .args(env.args(cmd, extra))
        .arg("--config")
        .arg(&config)
        .env("NS1_APIKEY", "bench-key")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("{}")
        .to_string();
    let summary: Value = serde_json::from_str(&last).unwrap_or_else(|_| {
        panic!(
            "no JSON summary: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, summary)
}

fn initial_sync(bin: &Path) {
    // Find a cluster size that gives about 5,000 (name, type) pairs.
    let mut tasks = 500;
    let (state_tasks, pairs) = loop {
        let t = many_tasks(tasks, 50);
        let n = expected(&cluster("127.0.0.1:5050", 50, &as_refs(&t)), DOMAIN).len();
        if n >= 5000 {
            break (t, n);
        }
        tasks += 20;
    };
    let env = Env::new("bench-initial");
    env.serve(50, &as_refs(&state_tasks));
    let (limit, period) = (200u32, 1.0f64);
    env.ns1.set_bucket("PUT", limit, period);
    let (out, s) = run(bin, &env, "sync", &["--deadline", "300", "--summary-json"]);
    assert_eq!(out.status.code(), Some(0), "{s}");
    let created = s["created"].as_u64().unwrap();
    let secs = s["duration_seconds"].as_f64().unwrap();
    let throttled_client = s["throttled"].as_u64().unwrap();
    let throttled_server = env.ns1.log().iter().filter(|r| r.status == 429).count();
    // The bucket starts full, then refills at limit/period: over the run's
    // window at most `limit + rate * secs` PUTs can be accepted.
    let rate = f64::from(limit) / period;
    let bound = f64::from(limit) + rate * secs;
    println!("initial sync: {pairs} (name, type) pairs, {tasks} tasks");
    println!(
        "  PUT bucket {limit} tokens / {period} s ({rate} per s); run took {secs:.2} s, {} API calls",
        s["api_calls"]
    );
    println!(
        "  creates: {created} = {:.1} per s; bound over the window {:.0} writes ({:.1} per s); ratio {:.3}",
        created as f64 / secs,
        bound,
        bound / secs,
        created as f64 / bound
    );
    println!(
        "  sustained (after the initial burst of {limit}): {:.1} per s = {:.3} of the refill rate",
        (created as f64 - f64::from(limit)) / secs,
        (created as f64 - f64::from(limit)) / secs / rate
    );
    println!(
        "  429s: {throttled_client} seen by the client, {throttled_server} sent by the server (target 0)"
    );
}

fn steady_state(bin: &Path) {
    let env = Env::new("bench-steady");
    let tasks = many_tasks(100_000, 2000);
    let state = env.serve(2000, &as_refs(&tasks));
    let want = expected(&state, DOMAIN);
    for ((name, rtype), answers) in &want {
        let a: Vec<&str> = answers.iter().map(String::as_str).collect();
        env.ns1.insert(name, rtype, 60, &a);
    }
    let state_file = env.dir.file("state.json", &state.to_string());
    let size = std::fs::metadata(&state_file).unwrap().len();

    // Baseline in the same run: generating the record set alone.
    let out = Command::new(bin)
        .args([
            "records",
            "--format",
            "json",
            "--domain",
            DOMAIN,
            "-v",
            "--state-file",
        ])
        .arg(&state_file)
        .arg("--config")
        .arg(env.dir.file("bench-config.json", "{}"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    let records_cpu: f64 = log
        .split("cpu ")
        .nth(1)
        .and_then(|r| r.split('s').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no cpu figure in {log}"));

    env.ns1.clear_log();
    let (out, s) = run(bin, &env, "sync", &["--deadline", "300", "--summary-json"]);
    assert_eq!(out.status.code(), Some(0), "{s}");
    let log = env.ns1.log();
    let pages = log.iter().filter(|r| r.method == "GET").count();
    let writes = log.iter().filter(|r| r.method != "GET").count();
    let cpu = s["cpu_seconds"].as_f64().unwrap();
    println!(
        "steady state: 100000 tasks on 2000 agents, {:.1} MB state, {} records in the zone",
        size as f64 / 1e6,
        want.len()
    );
    println!(
        "  reads: {pages} zone pages of 2500 records; writes: {writes} (target 0); unchanged {}",
        s["unchanged"]
    );
    println!(
        "  sync: wall {:.2} s, cpu {cpu:.2} s, peak memory {:.0} MB; `records` on the same state: cpu {records_cpu:.2} s; ratio {:.2}",
        s["duration_seconds"].as_f64().unwrap(),
        s["peak_rss_bytes"].as_f64().unwrap() / 1e6,
        cpu / records_cpu
    );
}

/// Section 3, the blip: a cluster of 20 agents with 360 marathon tasks
/// and 40 chronos tasks (10%), polled 10 times a minute apart.
fn blip_state(leader: &str, chronos: bool, missing_agent: Option<usize>) -> Value {
    let keep = |t: &(String, usize, usize)| Some(t.1) != missing_agent;
    let marathon: Vec<_> = many_tasks(360, 20).into_iter().filter(keep).collect();
    let batch: Vec<_> = (0..40)
        .map(|i| (format!("batch{}", i / 4), i % 20, 5000 + i))
        .filter(keep)
        .collect();
    let mut state = cluster(leader, 20, &as_refs(&marathon));
    if let Some(a) = missing_agent {
        state["slaves"]
            .as_array_mut()
            .unwrap()
            .retain(|s| s["id"] != format!("agent-0000-S{a}"));
    }
    if chronos {
        let mut fw = cluster(leader, 20, &as_refs(&batch))["frameworks"][0].clone();
        fw["name"] = Value::from("chronos");
        fw["pid"] = Value::from("scheduler@10.0.0.8:15102");
        state["frameworks"].as_array_mut().unwrap().push(fw);
    }
    state
}

/// Writes by method over runs 2..=10, and the deletes and re-creates of
/// names the full cluster has.
struct BlipWrites {
    creates: usize,
    updates: usize,
    deletes: usize,
    recreated: usize,
}

fn blip_once(bin: &Path, remove_after: &str) -> BlipWrites {
    let env = Env::new("bench-blip");
    for method in ["PUT", "POST", "DELETE"] {
        env.ns1.set_bucket(method, 1_000_000, 1.0);
    }
    let leader = env.master.addr();
    let config = env.dir.file("bench-config.json", "{}");
    let t0 = 1_800_000_000.0f64;
    let mut deleted = std::collections::BTreeSet::new();
    let mut out = BlipWrites {
        creates: 0,
        updates: 0,
        deletes: 0,
        recreated: 0,
    };
    for run in 1..=10 {
        let state = match run {
            4 => blip_state(&leader, false, None),
            7 => blip_state(&leader, true, Some(5)),
            _ => blip_state(&leader, true, None),
        };
        env.master.set_state(state.to_string());
        env.ns1.clear_log();
        let o = Command::new(bin)
            .args(env.args("sync", &["--remove-after", remove_after]))
            .arg("--config")
            .arg(&config)
            .env("NS1_APIKEY", "bench-key")
            .env("MESOS2NS1_TEST_NOW", format!("{}", t0 + 60.0 * run as f64))
            .output()
            .unwrap();
        assert!(
            matches!(o.status.code(), Some(0) | Some(3)),
            "{}",
            String::from_utf8_lossy(&o.stdout)
        );
        if run == 1 {
            continue;
        }
        for r in env.ns1.log() {
            match r.method.as_str() {
                "PUT" => {
                    out.creates += 1;
                    if deleted.contains(&r.path) {
                        out.recreated += 1;
                    }
                }
                "POST" => out.updates += 1,
                "DELETE" => {
                    out.deletes += 1;
                    deleted.insert(r.path.clone());
                }
                _ => {}
            }
        }
    }
    out
}

fn blip(bin: &Path) {
    let full = expected(&blip_state("127.0.0.1:5050", true, None), DOMAIN).len();
    let hold = blip_once(bin, "120");
    let now = blip_once(bin, "0");
    println!(
        "blip: 10 runs a minute apart over {full} (name, type) pairs; run 4 misses the chronos framework (10% of the tasks), run 7 misses agent 5"
    );
    for (label, w) in [
        ("hold-down 120 s (default)", &hold),
        ("immediate deletes (--remove-after 0, baseline)", &now),
    ] {
        println!(
            "  {label}: {} writes = {} creates ({} re-creates) + {} updates + {} deletes",
            w.creates + w.updates + w.deletes,
            w.creates,
            w.recreated,
            w.updates,
            w.deletes
        );
    }
    let total = |w: &BlipWrites| (w.creates + w.updates + w.deletes) as f64;
    println!(
        "  writes ratio {:.3} of the baseline; deletes {} (target 0), re-creates {} (target 0); updates are the answer changes of names shared with live tasks",
        total(&hold) / total(&now).max(1.0),
        hold.deletes,
        hold.recreated
    );
}

/// 300 tasks replaced: about 600 creates, 600 deletes and 400 updates.
fn churn(bin: &Path) {
    let env = Env::new("bench-churn");
    let tasks = many_tasks(600, 50);
    env.serve(50, &as_refs(&tasks));
    for m in ["PUT", "POST", "DELETE"] {
        env.ns1.set_bucket(m, 1_000_000, 1.0);
    }
    let (out, s) = run(bin, &env, "sync", &["--deadline", "300", "--summary-json"]);
    assert_eq!(out.status.code(), Some(0), "{s}");
    let mut moved = tasks.clone();
    for t in moved.iter_mut().take(300) {
        t.2 += 100_000;
    }
    env.serve(50, &as_refs(&moved));
    let scale = 100.0;
    let shapes = ns1_shapes(scale);
    for (m, limit, period) in shapes {
        env.ns1.set_bucket(m, limit, period);
    }
    // The buckets start full, as the bounds assume.
    let _ = std::fs::remove_file(env.dir.path().join("state/ns1-pacing.json"));
    env.ns1.clear_log();
    let (out, s) = run(bin, &env, "sync", &["--deadline", "300", "--summary-json"]);
    assert_eq!(out.status.code(), Some(0), "{s}");
    let log = env.ns1.log();
    let wall = s["duration_seconds"].as_f64().unwrap();
    let writes: Vec<_> = log.iter().filter(|r| r.method != "GET").collect();
    let write_phase = match (writes.first(), writes.last()) {
        (Some(a), Some(b)) => b.at.duration_since(a.at).as_secs_f64(),
        _ => 0.0,
    };
    let mut drains = Vec::new();
    for (m, limit, period) in shapes {
        let n = log.iter().filter(|r| r.method == m).count();
        drains.push((m, n, drain_time(n, limit, period)));
    }
    let sequential: f64 = drains.iter().map(|d| d.2).sum();
    let parallel = drains.iter().map(|d| d.2).fold(0.0, f64::max);
    println!("churn: 300 of 600 tasks replaced; NS1 bucket shapes, periods / {scale}");
    for (m, n, d) in &drains {
        println!("  {m}: {n} requests, drain time {d:.2} s");
    }
    println!(
        "  run wall {wall:.2} s (writes {write_phase:.2} s); sequential bound {sequential:.2} s, parallel bound {parallel:.2} s"
    );
    println!(
        "  ratio to the parallel bound {:.3} (target <= 1.15); to the sequential bound {:.3}; 429s: {} (target 0)",
        wall / parallel,
        wall / sequential,
        count_429(&env)
    );
}

/// After a run that emptied the PUT bucket, five runs back to back.
fn back_to_back(bin: &Path) {
    let env = Env::new("bench-b2b");
    let scale = 100.0;
    for (m, limit, period) in ns1_shapes(scale) {
        env.ns1.set_bucket(m, limit, period);
    }
    let mut tasks = many_tasks(60, 10);
    env.serve(10, &as_refs(&tasks));
    let (out, s) = run(bin, &env, "sync", &["--deadline", "300", "--summary-json"]);
    assert_eq!(out.status.code(), Some(0), "{s}");
    let first_puts = env.ns1.log().iter().filter(|r| r.method == "PUT").count();
    let first_429 = count_429(&env);
    env.ns1.clear_log();
    let mut walls = Vec::new();
    for round in 0..5 {
        for k in 0..4 {
            tasks.push((format!("b2b{round}x{k}"), k, 50_000 + round * 10 + k));
        }
        env.serve(10, &as_refs(&tasks));
        let (out, s) = run(bin, &env, "sync", &["--deadline", "300", "--summary-json"]);
        assert_eq!(out.status.code(), Some(0), "{s}");
        walls.push(s["duration_seconds"].as_f64().unwrap());
    }
    let puts = env.ns1.log().iter().filter(|r| r.method == "PUT").count();
    println!(
        "back to back: a first run of {first_puts} PUTs emptied the 100-token PUT bucket ({first_429} 429s); then 5 runs, {puts} PUTs"
    );
    println!(
        "  429s in the 5 runs: {} (target 0); run walls {:?} s",
        count_429(&env),
        walls
            .iter()
            .map(|w| (w * 100.0).round() / 100.0)
            .collect::<Vec<_>>()
    );
}

/// A cluster of about `want` (name, type) pairs.
fn cluster_of(want: usize, agents: usize) -> (Vec<(String, usize, usize)>, usize) {
    let mut tasks = 500;
    loop {
        let t = many_tasks(tasks, agents);
        let n = expected(&cluster("127.0.0.1:5050", agents, &as_refs(&t)), DOMAIN).len();
        if n >= want {
            return (t, n);
        }
        tasks += 20;
    }
}

/// First sync of about 5,900 record sets into a zone that does not exist.
fn first_sync_import(bin: &Path) {
    let (tasks, pairs) = cluster_of(5900, 100);
    let no_zone = |tag: &str| Env {
        master: FakeMaster::start(),
        ns1: FakeNs1::start_without_zone("example.com"),
        dir: TempDir::new(tag),
    };
    // With --create-zone, NS1's PUT bucket as it is (100 per 200 s).
    let env = no_zone("bench-import");
    env.serve(100, &as_refs(&tasks));
    let (out, s) = run(
        bin,
        &env,
        "sync",
        &["--deadline", "300", "--summary-json", "--create-zone"],
    );
    assert_eq!(out.status.code(), Some(0), "{s}");
    let import_wall = s["duration_seconds"].as_f64().unwrap();
    let import_requests = env.ns1.log().len();
    assert_eq!(env.ns1.records().len(), pairs + 1);
    // Record by record: the zone exists (empty); the PUT bucket's period
    // scaled down 400× so that the run ends in about half a minute.
    let env2 = Env::new("bench-rbr");
    env2.serve(100, &as_refs(&tasks));
    let scale = 400.0;
    let (limit, period) = (100u32, 200.0 / scale);
    env2.ns1.set_bucket("PUT", limit, period);
    let (out, s) = run(bin, &env2, "sync", &["--deadline", "300", "--summary-json"]);
    assert_eq!(out.status.code(), Some(0), "{s}");
    let rbr_wall = s["duration_seconds"].as_f64().unwrap();
    let rbr_requests = env2.ns1.log().len();
    let scaled_bound = drain_time(pairs, limit, period);
    let real_bound = drain_time(pairs, 100, 200.0);
    println!("first sync: {pairs} record sets, {} tasks", tasks.len());
    println!(
        "  --create-zone: {import_wall:.2} s, {import_requests} requests (targets < 10 s, < 5 requests)"
    );
    println!(
        "  record by record (PUT period / {scale}): {rbr_wall:.2} s, {rbr_requests} requests; bound {scaled_bound:.2} s, ratio {:.3}",
        rbr_wall / scaled_bound
    );
    println!(
        "  at NS1's real PUT bucket the record-by-record bound is {real_bound:.0} s ({:.2} h): the import takes {:.5} of it",
        real_bound / 3600.0,
        import_wall / real_bound
    );
}

/// A deadline that cuts a large plan: what is left is priority 3 and 4.
fn deadline_priority(bin: &Path) {
    use mesos2ns1::records::names::priority;
    let env = Env::new("bench-deadline");
    let tasks = many_tasks(900, 30);
    let state = env.serve(30, &as_refs(&tasks));
    let want = expected(&state, DOMAIN);
    // NS1's PUT shape with the period scaled down 400×: the whole plan
    // needs about 18 s, the deadline allows about two thirds of it.
    let (limit, period) = (100u32, 200.0 / 400.0);
    env.ns1.set_bucket("PUT", limit, period);
    let bound = drain_time(want.len(), limit, period);
    let deadline = 12.0;
    let (out, s) = run(
        bin,
        &env,
        "sync",
        &["--deadline", &deadline.to_string(), "--summary-json"],
    );
    assert_eq!(out.status.code(), Some(4), "{s}");
    let done: std::collections::HashSet<(String, String)> = env
        .ns1
        .records()
        .into_iter()
        .map(|(d, t, _, _)| (d, t))
        .collect();
    let none = std::collections::HashSet::new();
    let mut left = [0usize; 5];
    let mut total = [0usize; 5];
    for key in want.keys() {
        let p = usize::from(priority(&key.0, DOMAIN, &none));
        total[p] += 1;
        if !done.contains(key) {
            left[p] += 1;
        }
    }
    println!(
        "deadline: {} record sets to create, PUT 100 per {period} s (drain bound {bound:.1} s), deadline {deadline} s = {:.2} of the bound; {} created, {} postponed",
        want.len(),
        deadline / bound,
        s["created"],
        s["postponed"]
    );
    for p in 1..=4 {
        println!(
            "  priority {p}: {} of {} left for the next run",
            left[p], total[p]
        );
    }
    println!("  left at priority 1-2: {} (target 0)", left[1] + left[2]);
}

/// Ten steady-state runs at 100,000 tasks with the cached listing.
fn steady_state_cached(bin: &Path) {
    let env = Env::new("bench-cached");
    let tasks = many_tasks(100_000, 2000);
    let state = env.serve(2000, &as_refs(&tasks));
    let want = expected(&state, DOMAIN);
    for ((name, rtype), answers) in &want {
        let a: Vec<&str> = answers.iter().map(String::as_str).collect();
        env.ns1.insert(name, rtype, 60, &a);
    }
    env.ns1.clear_log();
    let mut gets = Vec::new();
    let mut walls = Vec::new();
    for _ in 0..10 {
        let before = env.ns1.log().len();
        let (out, s) = run(bin, &env, "sync", &["--deadline", "300", "--summary-json"]);
        assert_eq!(out.status.code(), Some(0), "{s}");
        let log = env.ns1.log();
        gets.push(log[before..].iter().filter(|r| r.method == "GET").count());
        walls.push(s["duration_seconds"].as_f64().unwrap());
    }
    let avg = gets.iter().sum::<usize>() as f64 / gets.len() as f64;
    println!(
        "steady state with the cached listing: 100000 tasks, {} records; GETs per run {gets:?}",
        want.len()
    );
    println!(
        "  average {avg:.1} GETs per run (target <= 20) against {} for a full read: ratio {:.3}; run walls {:?} s",
        gets[0],
        avg / gets[0] as f64,
        walls
            .iter()
            .map(|w| (w * 100.0).round() / 100.0)
            .collect::<Vec<_>>()
    );
}

/// Section 9: peak memory of `sync` at 100,000 tasks.
fn memory(bin: &Path) {
    let env = Env::new("bench-memory");
    let tasks = many_tasks(100_000, 2000);
    let state = env.serve(2000, &as_refs(&tasks));
    let want = expected(&state, DOMAIN);
    for ((name, rtype), answers) in &want {
        let a: Vec<&str> = answers.iter().map(String::as_str).collect();
        env.ns1.insert(name, rtype, 60, &a);
    }
    drop(want);
    let state_text = state.to_string();
    let size = state_text.len() as f64;
    let state_file = env.dir.file("state.json", &state_text);
    drop(state_text);
    let out = Command::new(bin)
        .args(["records", "--format", "json", "--domain", DOMAIN, "-v"])
        .arg("--state-file")
        .arg(&state_file)
        .arg("--config")
        .arg(env.dir.file("bench-config.json", "{}"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    let records_peak: f64 = log
        .split("peak memory ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no peak memory in {log}"));
    println!(
        "memory: 100000 tasks on 2000 agents, {:.1} MB state; `records`: peak {:.0} MB ({:.2}x the state)",
        size / 1e6,
        records_peak / 1e6,
        records_peak / size
    );
    let row = |what: &str, s: &Value, target_mb: f64| {
        let peak = s["peak_rss_bytes"].as_f64().unwrap();
        println!(
            "  {what:<34} peak {:>5.0} MB (target {target_mb:>4.0}): {:.2}x the state, {:.2}x `records`; wall {:.1} s, exit {}",
            peak / 1e6,
            peak / size,
            peak / records_peak,
            s["duration_seconds"].as_f64().unwrap_or(0.0),
            s["exit"]
        );
    };
    let sync = |extra: &[&str]| {
        let mut args = vec!["--deadline", "50", "--summary-json"];
        args.extend_from_slice(extra);
        run(bin, &env, "sync", &args).1
    };
    // The first run claims the zone (the fake's marker is 0.2.0's) and
    // writes the cache; then a full read and a run from the cache.
    row("first run (claim)", &sync(&[]), f64::NAN);
    row(
        "steady, full read",
        &sync(&["--full-read-every", "0"]),
        350.0,
    );
    sync(&[]);
    row("steady, cached listing", &sync(&[]), 300.0);
    // 30% of the tasks gone (held by the mass-removal check or waiting
    // for the hold-down: the plan is computed in full either way).
    let kept: Vec<(String, usize, usize)> =
        tasks.iter().filter(|t| t.2 % 10 >= 3).cloned().collect();
    env.serve(2000, &as_refs(&kept));
    row("30% of the tasks gone", &sync(&[]), 450.0);
    // Every task restarted elsewhere: new task ids on other agents.
    let moved: Vec<(String, usize, usize)> = tasks
        .iter()
        .map(|(n, a, i)| (n.clone(), (a + 1) % 2000, i + 1_000_000))
        .collect();
    env.serve(2000, &as_refs(&moved));
    row("every task restarted elsewhere", &sync(&[]), 1000.0);
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing
    // that matters here: run only when asked to benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        println!("sync benchmark: run with `cargo bench --bench sync`");
        return;
    }
    let bin = binary();
    // `cargo bench --bench sync -- NAME` runs only the cases whose name
    // contains NAME.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o.as_str()));
    if want("initial_sync") {
        initial_sync(&bin);
    }
    if want("steady_state") {
        steady_state(&bin);
    }
    if want("blip") {
        blip(&bin);
    }
    if want("churn") {
        churn(&bin);
    }
    if want("back_to_back") {
        back_to_back(&bin);
    }
    if want("first_sync_import") {
        first_sync_import(&bin);
    }
    if want("deadline_priority") {
        deadline_priority(&bin);
    }
    if want("steady_state_cached") {
        steady_state_cached(&bin);
    }
    if want("memory") {
        memory(&bin);
    }
}
