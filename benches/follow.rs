//! Benchmark of `mesos2ns1 follow` (issue 20) against the fakes, run with
//! `cargo bench --bench follow` (a few minutes on 2 cores):
//!
//! 1. **Latency.** 100 tasks started one by one (`TASK_ADDED` staging, then
//!    `TASK_UPDATED` `TASK_RUNNING`) at random moments, with NS1's buckets
//!    holding tokens. Reported: p50 and p99 of the time from the master's
//!    `TASK_RUNNING` to the PUT of the task's A record in the fake NS1.
//!    Baseline: the timer (`sync` every minute), whose latency is the wait
//!    for the next run (the same random phases) plus the time a real `sync`
//!    run on the same cluster takes to write a new task's record (measured
//!    here).
//! 2. **Master load.** Bytes read from the master per hour at 100,000 tasks
//!    with 1% of the tasks replaced per minute (each: `TASK_UPDATED`
//!    killed, `TASK_ADDED`, `TASK_UPDATED` running), computed from measured
//!    sizes: the `/master/state` body (plain and gzip, level 6 as
//!    libprocess), and the RecordIO records of those events as the fake
//!    master writes them (the stream is not compressed). `sync`: 60
//!    snapshots an hour; `follow`: 3600 / `--reconcile-every` snapshots, the
//!    events, and 240 heartbeats (no reconnect counted).
//! 3. **Memory.** Peak RSS (VmHWM) of the follower after 10,000 and after
//!    100,000 events (tasks that stage and finish, and status updates of
//!    running tasks): the ratio should stay near 1 (flat).
//!
//! Figures are ratios against baselines measured in the same run.

#[path = "../tests/support/mod.rs"]
mod support;

use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::fake_mesos::{v1_status, v1_task};
use support::harness::{Env, as_refs, cluster, many_tasks};

const FW: &str = "marathon-0001";

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mesos2ns1"))
}

fn state(env: &Env, agents: usize, tasks: usize) -> Value {
    let mut s = cluster(
        &env.master.addr(),
        agents,
        &as_refs(&many_tasks(tasks, agents)),
    );
    s["frameworks"][0]["id"] = json!(FW);
    s
}

fn task(name: &str, n: usize, agent: usize) -> Value {
    let port = 40000 + 2 * (n % 10000);
    json!({
        "id": format!("{name}.{n:08}"), "name": name, "slave_id": format!("agent-0000-S{agent}"),
        "state": "TASK_STAGING", "resources": {"ports": format!("[{port}-{}]", port + 1)},
        "statuses": []
    })
}

fn start_follow(env: &Env, extra: &[&str]) -> Child {
    let config = env.dir.file("bench-config.json", "{}");
    let log = std::fs::File::create(env.dir.path().join("follow.log")).unwrap();
    Command::new(binary())
        .args(env.args("follow", extra))
        .arg("--config")
        .arg(&config)
        .env("NS1_APIKEY", "bench-key")
        .env_remove("MESOS2NS1_CONFIG")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap()
}

fn wait_for(what: &str, bound: Duration, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < bound, "{what}: not within {bound:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// When the fake NS1 received the PUT of `name`'s A record.
fn put_at(env: &Env, name: &str) -> Option<Instant> {
    let needle = format!("/{name}/A");
    env.ns1
        .log()
        .iter()
        .find(|r| r.method == "PUT" && r.path.ends_with(&needle))
        .map(|r| r.at)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A small deterministic generator (no rand crate for a benchmark).
struct Lcg(u64);
impl Lcg {
    fn unit(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn terminate(child: &mut Child) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let _ = child.wait();
}

fn latency() {
    println!("== latency: 100 tasks started one by one ==");
    let env = Env::new("bench-follow-latency");
    for m in ["PUT", "POST", "DELETE", "GET"] {
        env.ns1.set_bucket(m, 100_000, 1.0);
    }
    env.master.set_state(state(&env, 10, 30).to_string());
    let mut child = start_follow(&env, &[]);
    wait_for("subscribed", Duration::from_secs(60), || {
        env.master.subscribers() == 1
    });
    let mut rng = Lcg(20);
    let mut lat = Vec::new();
    let mut phases = Vec::new();
    for i in 0..100 {
        std::thread::sleep(Duration::from_secs_f64(rng.unit() * 0.6));
        let name = format!("lat{i}");
        env.master.add_task(FW, task(&name, i, i % 10));
        let t0 = Instant::now();
        env.master.update_task(
            FW,
            &format!("{name}.{i:08}"),
            "TASK_RUNNING",
            json!({"state": "TASK_RUNNING", "timestamp": 100.0 + i as f64}),
        );
        phases.push(rng.unit() * 60.0);
        let fqdn = format!("{name}.marathon.mesos.example.com");
        // Wait for it only every 10 tasks: the others overlap.
        if i % 10 == 9 {
            wait_for("the record", Duration::from_secs(30), || {
                put_at(&env, &fqdn).is_some()
            });
        }
        lat.push((fqdn, t0));
    }
    let mut follow: Vec<f64> = lat
        .iter()
        .map(|(fqdn, t0)| {
            wait_for("the record", Duration::from_secs(30), || {
                put_at(&env, fqdn).is_some()
            });
            put_at(&env, fqdn)
                .unwrap()
                .saturating_duration_since(*t0)
                .as_secs_f64()
        })
        .collect();
    terminate(&mut child);
    // The timer's run: how long a sync takes to write a new task's record.
    env.master.add_task(FW, task("timer", 999, 1));
    env.master.update_task(
        FW,
        "timer.00000999",
        "TASK_RUNNING",
        json!({"state": "TASK_RUNNING", "timestamp": 999.0}),
    );
    let t0 = Instant::now();
    let config = env.dir.file("bench-config.json", "{}");
    let out = Command::new(binary())
        .args(env.args("sync", &[]))
        .arg("--config")
        .arg(&config)
        .env("NS1_APIKEY", "bench-key")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let run = put_at(&env, "timer.marathon.mesos.example.com")
        .expect("sync wrote the record")
        .saturating_duration_since(t0)
        .as_secs_f64();
    let mut timer: Vec<f64> = phases.iter().map(|p| (60.0 - p) + run).collect();
    follow.sort_by(f64::total_cmp);
    timer.sort_by(f64::total_cmp);
    let (f50, f99) = (percentile(&follow, 0.5), percentile(&follow, 0.99));
    let (t50, t99) = (percentile(&timer, 0.5), percentile(&timer, 0.99));
    println!("follow (--batch-interval 1): p50 {f50:.3} s, p99 {f99:.3} s (target p99 < 2.5 s)");
    println!(
        "timer (sync every 60 s; a run writes a new record {run:.3} s after it starts): p50 {t50:.1} s, p99 {t99:.1} s"
    );
    println!(
        "ratio timer/follow: p50 {:.0}x, p99 {:.0}x",
        t50 / f50.max(1e-9),
        t99 / f99.max(1e-9)
    );
}

fn gzip_len(body: &[u8]) -> usize {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    enc.write_all(body).unwrap();
    enc.finish().unwrap().len()
}

/// One event as the master writes it on the stream: the RecordIO record
/// (`LEN\n` + JSON) in one HTTP chunk (`HEX\r\n` … `\r\n`).
fn on_the_wire(event: &Value) -> usize {
    let json = event.to_string();
    let record = format!("{}\n", json.len()).len() + json.len();
    format!("{record:x}\r\n").len() + record + 2
}

fn master_load() {
    println!("== master load: 100,000 tasks, 1% replaced per minute ==");
    let tasks = 100_000;
    let agents = 2_000;
    let mut s = cluster(
        "10.0.0.1:5050",
        agents,
        &as_refs(&many_tasks(tasks, agents)),
    );
    s["frameworks"][0]["id"] = json!(FW);
    let body = s.to_string().into_bytes();
    let plain = body.len() as f64;
    let gz = gzip_len(&body) as f64;
    let t = &s["frameworks"][0]["tasks"][12345];
    let id = t["id"].as_str().unwrap();
    let killed = json!({"type": "TASK_UPDATED", "task_updated": {"framework_id": {"value": FW},
        "status": v1_status(id, &json!({"state": "TASK_KILLED", "timestamp": 1.7e9})), "state": "TASK_KILLED"}});
    let added = json!({"type": "TASK_ADDED", "task_added": {"task": v1_task(FW, t)}});
    let running = json!({"type": "TASK_UPDATED", "task_updated": {"framework_id": {"value": FW},
        "status": v1_status(id, &json!({"state": "TASK_RUNNING", "timestamp": 1.7e9})), "state": "TASK_RUNNING"}});
    let heartbeat = on_the_wire(&json!({"type": "HEARTBEAT"})) as f64;
    let per_task = (on_the_wire(&killed) + on_the_wire(&added) + on_the_wire(&running)) as f64;
    let churn_per_hour = tasks as f64 * 0.01 * 60.0;
    let events = churn_per_hour * per_task + 240.0 * heartbeat;
    let reconcile = 300.0;
    let snapshots = 3600.0 / reconcile;
    println!(
        "snapshot {:.1} MB plain, {:.1} MB gzip ({:.1}x); one replaced task on the stream {per_task:.0} bytes",
        plain / 1e6,
        gz / 1e6,
        plain / gz
    );
    let sync_plain = 60.0 * plain;
    let sync_gz = 60.0 * gz;
    let follow_plain = snapshots * plain + events;
    let follow_gz = snapshots * gz + events;
    println!(
        "per hour: sync {:.0} MB plain, {:.0} MB gzip; follow (--reconcile-every 300) {:.0} MB plain, {:.0} MB gzip (events {:.1} MB)",
        sync_plain / 1e6,
        sync_gz / 1e6,
        follow_plain / 1e6,
        follow_gz / 1e6,
        events / 1e6
    );
    println!(
        "ratio sync/follow: {:.1}x plain, {:.1}x gzip; sync plain / follow gzip {:.1}x",
        sync_plain / follow_plain,
        sync_gz / follow_gz,
        sync_plain / follow_gz
    );
}

fn vm_hwm(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let l = s.lines().find(|l| l.starts_with("VmHWM:"))?.to_string();
            l.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .unwrap_or(0)
        * 1024
}

fn events_seen(metrics: &Path) -> f64 {
    std::fs::read_to_string(metrics)
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("mesos2ns1_events_total "))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

fn memory() {
    println!("== memory: peak RSS over 100,000 events ==");
    let env = Env::new("bench-follow-memory");
    for m in ["PUT", "POST", "DELETE", "GET"] {
        env.ns1.set_bucket(m, 100_000, 1.0);
    }
    env.master.set_state(state(&env, 20, 1000).to_string());
    let metrics = env.dir.path().join("metrics.prom");
    let m = metrics.display().to_string();
    let mut child = start_follow(&env, &["--metrics-file", &m]);
    wait_for("subscribed", Duration::from_secs(60), || {
        env.master.subscribers() == 1
    });
    let running: Vec<String> = (0..1000).map(|i| format!("app{}.{i:08}", i / 3)).collect();
    let mut emitted = 0usize;
    let mut hwm = Vec::new();
    let t = Instant::now();
    for block in 0..10 {
        for k in 0..10_000usize {
            let n = block * 10_000 + k;
            let ev = match k % 3 {
                // A task that stages and finishes: the completed ring.
                0 => {
                    let t = task("short", n, n % 20);
                    json!({"type": "TASK_ADDED", "task_added": {"task": v1_task(FW, &t)}})
                }
                1 => {
                    let id = format!("short.{:08}", n - 1);
                    json!({"type": "TASK_UPDATED", "task_updated": {"framework_id": {"value": FW},
                        "status": v1_status(&id, &json!({"state": "TASK_FINISHED", "timestamp": n as f64})),
                        "state": "TASK_FINISHED"}})
                }
                // A status update of a running task.
                _ => {
                    let id = &running[n % running.len()];
                    json!({"type": "TASK_UPDATED", "task_updated": {"framework_id": {"value": FW},
                        "status": v1_status(id, &json!({"state": "TASK_RUNNING", "timestamp": 1.0})),
                        "state": "TASK_RUNNING"}})
                }
            };
            env.master.emit(&ev);
            emitted += 1;
        }
        wait_for("the events read", Duration::from_secs(120), || {
            events_seen(&metrics) >= emitted as f64
        });
        hwm.push(vm_hwm(child.id()));
    }
    let secs = t.elapsed().as_secs_f64();
    terminate(&mut child);
    let mib: Vec<String> = hwm
        .iter()
        .map(|b| format!("{:.1}", *b as f64 / 1048576.0))
        .collect();
    println!("VmHWM (MiB) after each 10k events: {}", mib.join(" "));
    println!(
        "ratio 100k/10k {:.2}, 100k/50k {:.2} (flat: ~1.0); {:.0} events/s",
        hwm[9] as f64 / hwm[0].max(1) as f64,
        hwm[9] as f64 / hwm[4].max(1) as f64,
        emitted as f64 / secs
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("follow benchmark: run with `cargo bench --bench follow`");
        return;
    }
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o.as_str()));
    if want("master_load") {
        master_load();
    }
    if want("latency") {
        latency();
    }
    if want("memory") {
        memory();
    }
}
