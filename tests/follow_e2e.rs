//! End to end: the real binary's `follow` against the fake master (one
//! cluster model behind `/master/state`, `/master/frameworks` and the
//! event stream) and the stateful fake NS1, over real sockets. After every
//! step the zone must hold what `sync` builds from `/master/state` for the
//! same cluster; the only time bounds are generous liveness bounds.

mod support;

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::fake_mesos::{FakeMaster, Mode, framework_mut, state_with_leader, v1_agent};
use support::fake_ns1::FakeNs1;
use support::harness::*;

type Set = BTreeMap<(String, String), Vec<String>>;

const DOMAIN: &str = "mesos.example.com";
const FW: &str = "marathon-0001";
/// Convergence bound: generous (a batch is 0.2 s here).
const CONVERGE: Duration = Duration::from_secs(20);

fn owned(ns1: &FakeNs1) -> Set {
    owned_records(ns1, DOMAIN)
}

/// A cluster whose framework has an id (the stream needs one).
fn cluster_state(leader: &str, agents: usize, tasks: usize) -> Value {
    let mut s = cluster(leader, agents, &as_refs(&many_tasks(tasks, agents)));
    s["frameworks"][0]["id"] = json!(FW);
    s
}

fn task(name: &str, agent: usize, n: usize) -> Value {
    let port = 32000 + 2 * n;
    json!({
        "id": format!("{name}.{n:08}"), "name": name, "slave_id": format!("agent-0000-S{agent}"),
        "state": "TASK_RUNNING", "resources": {"ports": format!("[{port}-{}]", port + 1)},
        "statuses": [{"state": "TASK_RUNNING", "timestamp": 2.0 + n as f64}]
    })
}

/// A running `mesos2ns1 follow`, its output in files.
struct Follower {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Follower {
    fn start(env: &Env, extra: &[&str], remove_after: &str) -> Follower {
        let config = env.dir.file("follow-config.json", "{}");
        let out = env.dir.path().join("follow.out");
        let err = env.dir.path().join("follow.err");
        let child = Command::new(env!("CARGO_BIN_EXE_mesos2ns1"))
            .args(env.args("follow", extra))
            .args(["--batch-interval", "0.2", "--config"])
            .arg(&config)
            .env("NS1_APIKEY", "test-key-0123456789")
            .env("MESOS2NS1_REMOVE_AFTER", remove_after)
            .env_remove("MESOS2NS1_CONFIG")
            .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(&err).unwrap()))
            .spawn()
            .unwrap();
        Follower { child, out, err }
    }

    fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            std::fs::read_to_string(&self.out).unwrap_or_default(),
            std::fs::read_to_string(&self.err).unwrap_or_default()
        )
    }

    /// SIGTERM; the exit code and how long the exit took.
    fn terminate(&mut self) -> (Option<i32>, Duration) {
        let t = Instant::now();
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), t.elapsed());
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "follow did not exit after SIGTERM\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `ok`, at most `bound`.
fn eventually(what: &str, bound: Duration, f: &Follower, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(
            t.elapsed() < bound,
            "{what}: not within {bound:?}\n{}",
            f.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What sync publishes for `state` with these configured masters (the
/// master records name each of them).
fn expected_with(state: &Value, masters: &[String]) -> Set {
    use mesos2ns1::plan::{Ownership, publishable};
    use mesos2ns1::records::{self, GenOptions, StaticResolver};
    let body = serde_json::to_vec(state).unwrap();
    let st = records::state::parse(&body).unwrap();
    let mut opts = GenOptions::new(DOMAIN);
    opts.masters = masters.to_vec();
    let mut set = records::generate(&st, &opts, &StaticResolver::default()).unwrap();
    let (recs, _) = publishable(set.records(), &Ownership::new(DOMAIN, &[]));
    recs.into_iter()
        .map(|r| ((r.name, r.rtype.to_string()), r.answers))
        .collect()
}

/// The zone holds what sync builds from the master's `/master/state`.
fn converges(env: &Env, master: &FakeMaster, f: &Follower, step: &str) {
    eventually(step, CONVERGE, f, || {
        owned(&env.ns1) == expected(&master.state_json(), DOMAIN)
    });
}

/// [`converges`] with two configured masters.
fn converges_with(env: &Env, master: &FakeMaster, masters: &[String], f: &Follower, step: &str) {
    let t = Instant::now();
    while owned(&env.ns1) != expected_with(&master.state_json(), masters) {
        if t.elapsed() > CONVERGE {
            let (have, want) = (
                owned(&env.ns1),
                expected_with(&master.state_json(), masters),
            );
            let extra: Vec<_> = have
                .iter()
                .filter(|(k, v)| want.get(*k) != Some(v))
                .collect();
            let missing: Vec<_> = want
                .iter()
                .filter(|(k, v)| have.get(*k) != Some(v))
                .collect();
            panic!(
                "{step}: not within {CONVERGE:?}: extra {extra:?}, missing {missing:?}\n{}",
                f.output()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs a real `sync` (the follower stopped): it must find nothing to do.
fn sync_finds_nothing(env: &Env, extra: &[&str]) {
    let out = env.run("sync", extra);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("created=0 updated=0 deleted=0"), "{t}");
}

fn subscribes(master: &FakeMaster) -> usize {
    master
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST /api/v1"))
        .count()
}

fn deletes(ns1: &FakeNs1) -> usize {
    ns1.log().iter().filter(|r| r.method == "DELETE").count()
}

fn metric(path: &Path, name: &str) -> Option<f64> {
    std::fs::read_to_string(path).ok()?.lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

#[test]
fn follow_publishes_tasks_agents_and_frameworks_from_the_stream_and_stops_on_sigterm() {
    let env = Env::new("follow-main");
    // Large enough that one agent's records stay under the mass-removal
    // check's share.
    let state = cluster_state(&env.master.addr(), 3, 15);
    env.master.set_state(state.to_string());
    let metrics = env.dir.path().join("metrics.prom");
    let metrics_arg = metrics.display().to_string();
    let mut f = Follower::start(
        &env,
        &["--metrics-file", &metrics_arg, "--reconcile-every", "3600"],
        "0",
    );
    converges(&env, &env.master, &f, "the first pass");
    eventually("subscribed", CONVERGE, &f, || env.master.subscribers() == 1);

    // A task starts: TASK_ADDED (staging), then TASK_RUNNING.
    let mut t = task("web", 1, 1);
    t["state"] = json!("TASK_STAGING");
    t["statuses"] = json!([]);
    env.master.add_task(FW, t);
    env.master.update_task(
        FW,
        "web.00000001",
        "TASK_RUNNING",
        json!({"state": "TASK_RUNNING", "timestamp": 5.0}),
    );
    converges(&env, &env.master, &f, "a task started");
    assert!(owned(&env.ns1).contains_key(&("web.marathon.mesos.example.com".into(), "A".into())));

    // A task is killed.
    env.master.update_task(
        FW,
        "app0.00000000",
        "TASK_KILLED",
        json!({"state": "TASK_KILLED", "timestamp": 6.0}),
    );
    converges(&env, &env.master, &f, "a task killed");

    // An agent joins, and a task runs on it.
    let agent = json!({"id": "agent-0000-S7", "pid": "slave(1)@10.1.0.77:5051", "hostname": "a7"});
    let a = agent.clone();
    env.master.change(
        |s| s["slaves"].as_array_mut().unwrap().push(a),
        &[json!({"type": "AGENT_ADDED", "agent_added": {"agent": v1_agent(&agent)}})],
    );
    env.master.add_task(FW, task("db", 7, 2));
    converges(&env, &env.master, &f, "an agent added");

    // A new framework registers (its pid comes from /master/frameworks),
    // then runs a task.
    let fw = json!({"id": "chronos-0002", "name": "chronos", "pid": "scheduler@10.0.0.8:4400", "hostname": "c1", "tasks": []});
    let fw2 = fw.clone();
    env.master.change(
        |s| s["frameworks"].as_array_mut().unwrap().push(fw2),
        &[json!({"type": "FRAMEWORK_ADDED", "framework_added": {"framework": support::fake_mesos::v1_framework(&fw)}})],
    );
    env.master.add_task("chronos-0002", task("job", 0, 3));
    converges(&env, &env.master, &f, "a framework added");
    assert!(
        env.master
            .requests()
            .iter()
            .any(|r| r.starts_with("GET /master/frameworks?framework_id=chronos-0002")),
        "{:?}",
        env.master.requests()
    );

    // The framework is torn down: its tasks end, it becomes completed.
    env.master.change(
        |s| {
            let list = s["frameworks"].as_array_mut().unwrap();
            let i = list.iter().position(|f| f["id"] == "chronos-0002").unwrap();
            let mut gone = list.remove(i);
            let tasks = gone["tasks"].take();
            gone["tasks"] = json!([]);
            gone["completed_tasks"] = tasks;
            for t in gone["completed_tasks"].as_array_mut().unwrap() {
                t["state"] = json!("TASK_KILLED");
            }
            s["completed_frameworks"] = json!([gone]);
        },
        &[
            json!({"type": "TASK_UPDATED", "task_updated": {"framework_id": {"value": "chronos-0002"},
                "status": {"task_id": {"value": "job.00000003"}, "state": "TASK_KILLED", "timestamp": 7.0}, "state": "TASK_KILLED"}}),
            json!({"type": "FRAMEWORK_REMOVED", "framework_removed": {"framework_info": {"id": {"value": "chronos-0002"}, "name": "chronos", "user": "root"}}}),
        ],
    );
    converges(&env, &env.master, &f, "a framework removed");

    // The agent leaves (its task first).
    env.master.update_task(
        FW,
        "db.00000002",
        "TASK_GONE",
        json!({"state": "TASK_GONE", "timestamp": 8.0}),
    );
    env.master.change(
        |s| {
            s["slaves"]
                .as_array_mut()
                .unwrap()
                .retain(|a| a["id"] != "agent-0000-S7")
        },
        &[json!({"type": "AGENT_REMOVED", "agent_removed": {"agent_id": {"value": "agent-0000-S7"}}})],
    );
    converges(&env, &env.master, &f, "an agent removed");

    // Observability: the metrics file, per batch.
    eventually("metrics", CONVERGE, &f, || {
        metric(&metrics, "mesos2ns1_batches_total").is_some_and(|b| b >= 1.0)
    });
    let lag = metric(&metrics, "mesos2ns1_event_lag_seconds").unwrap();
    assert!(lag.is_finite() && lag >= 0.0, "{lag}");
    assert_eq!(metric(&metrics, "mesos2ns1_reconnects_total"), Some(0.0));
    assert_eq!(metric(&metrics, "mesos2ns1_stream_subscribed"), Some(1.0));
    // Only one snapshot read while the stream was up.
    let state_reads = env
        .master
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET /master/state"))
        .count();
    assert_eq!(state_reads, 1, "{:?}", env.master.requests());

    // SIGTERM: exit 0 within 5 s, state saved; then sync has nothing to do.
    let (code, took) = f.terminate();
    assert_eq!(code, Some(0), "{}", f.output());
    assert!(took < Duration::from_secs(5), "{took:?}\n{}", f.output());
    assert!(
        f.output().contains("stopped; state saved"),
        "{}",
        f.output()
    );
    assert!(env.dir.path().join("state/memory.json").exists());
    assert!(env.dir.path().join("state/holddown.json").exists());
    sync_finds_nothing(&env, &[]);
    // A reconcile line was printed for the first pass.
    assert!(
        f.output().contains("mesos2ns1 follow-reconcile: exit=0"),
        "{}",
        f.output()
    );
}

#[test]
fn the_timer_steps_aside_while_follow_runs_and_takes_over_after() {
    let env = Env::new("follow-lock");
    env.master
        .set_state(cluster_state(&env.master.addr(), 1, 2).to_string());
    let mut f = Follower::start(&env, &[], "0");
    converges(&env, &env.master, &f, "the first pass");
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("another run holds the lock"),
        "{}",
        text(&out)
    );
    assert_eq!(f.terminate().0, Some(0));
    env.master.add_task(FW, task("late", 0, 9));
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned(&env.ns1), expected(&env.master.state_json(), DOMAIN));
}

#[test]
fn a_leader_change_ends_the_stream_and_follow_resubscribes_to_the_new_leader() {
    // First contact: the follower claims the domain for this cluster (two
    // masters: its cluster id is theirs).
    let env = Env::unclaimed("follow-leader");
    let (b, a) = (
        &env.master,
        FakeMaster::start_at(&format!("127.0.0.2:{}", env.master.port())),
    );
    let Ok(a) = a else {
        eprintln!("127.0.0.2 not available: skipped");
        return;
    };
    // `a` leads first; `b` (the env's master) redirects to it.
    let base = cluster_state(&a.addr(), 2, 3);
    a.set_state(state_with_leader(&a.addr(), &base));
    b.set_state(state_with_leader(&a.addr(), &base));
    b.set_mode(Mode::RedirectTo(a.addr()));
    // The command line gives b (the env's), then a.
    let list = vec![b.addr(), a.addr()];
    let mut f = Follower::start(&env, &["--masters", &a.addr()], "0");
    converges_with(&env, &a, &list, &f, "the first pass");
    eventually("subscribed to a", CONVERGE, &f, || a.subscribers() == 1);

    // `b` is elected: `a` redirects and ends its stream.
    let mut next = serde_json::from_str::<Value>(&state_with_leader(&b.addr(), &base)).unwrap();
    framework_mut(&mut next, FW)["tasks"]
        .as_array_mut()
        .unwrap()
        .push(task("moved", 1, 4));
    b.set_state(next.to_string());
    b.set_mode(Mode::Serve);
    a.set_mode(Mode::RedirectTo(b.addr()));
    a.end_streams();
    eventually("subscribed to b", CONVERGE, &f, || b.subscribers() == 1);
    converges_with(&env, b, &list, &f, "after the leader change");
    b.add_task(FW, task("after", 0, 5));
    converges_with(&env, b, &list, &f, "a task on the new leader");
    assert_eq!(f.terminate().0, Some(0));
    sync_finds_nothing(&env, &["--masters", &a.addr()]);
}

#[test]
fn a_silent_stream_and_a_master_answering_503_reconnect_without_spinning() {
    let env = Env::new("follow-silent");
    env.master.set_heartbeat(0.3);
    env.master
        .set_state(cluster_state(&env.master.addr(), 1, 2).to_string());
    let metrics = env.dir.path().join("metrics.prom");
    let metrics_arg = metrics.display().to_string();
    let mut f = Follower::start(&env, &["--metrics-file", &metrics_arg], "0");
    converges(&env, &env.master, &f, "the first pass");

    // No heartbeat for 3 intervals: detect, reconcile, resubscribe.
    env.master.set_silent(true);
    eventually("resubscribed after silence", CONVERGE, &f, || {
        subscribes(&env.master) >= 2
    });
    env.master.set_silent(false);
    eventually("subscribed", CONVERGE, &f, || env.master.subscribers() >= 1);
    env.master.add_task(FW, task("loud", 0, 6));
    converges(&env, &env.master, &f, "after the silence");

    // The master answers 503 to everything: backoff, no spinning.
    env.master.set_mode(Mode::Status(503));
    env.master.end_streams();
    let before = env.master.requests().len();
    std::thread::sleep(Duration::from_secs(6));
    let tries = env.master.requests().len() - before;
    assert!(
        tries <= 12,
        "{tries} requests in 6 s: spinning\n{}",
        f.output()
    );
    env.master.set_mode(Mode::Serve);
    env.master.add_task(FW, task("back", 0, 7));
    eventually("converged after 503", Duration::from_secs(60), &f, || {
        owned(&env.ns1) == expected(&env.master.state_json(), DOMAIN)
    });
    eventually("reconnects counted", CONVERGE, &f, || {
        metric(&metrics, "mesos2ns1_reconnects_total").is_some_and(|n| n >= 2.0)
    });
    assert_eq!(f.terminate().0, Some(0));
    sync_finds_nothing(&env, &[]);
}

#[test]
fn an_agent_or_framework_missing_for_a_batch_deletes_nothing() {
    let env = Env::new("follow-blip");
    let state = cluster_state(&env.master.addr(), 2, 4);
    env.master.set_state(state.to_string());
    let f = Follower::start(&env, &["-v", "--reconcile-every", "2"], "120");
    converges(&env, &env.master, &f, "the first pass");
    eventually("subscribed", CONVERGE, &f, || env.master.subscribers() == 1);
    let zone = owned(&env.ns1);

    // An agent blip on the stream: removed, back a few batches later.
    let agent = state["slaves"][1].clone();
    env.master.emit(
        &json!({"type": "AGENT_REMOVED", "agent_removed": {"agent_id": {"value": "agent-0000-S1"}}}),
    );
    eventually("a batch holds the deletes", CONVERGE, &f, || {
        f.output().lines().any(|l| {
            l.starts_with("mesos2ns1 follow:")
                && !l.contains("waiting=0 ")
                && l.contains("waiting=")
        })
    });
    env.master
        .emit(&json!({"type": "AGENT_ADDED", "agent_added": {"agent": v1_agent(&agent)}}));

    // A framework blip on a reconcile: the state lacks it for one read.
    let reads = |m: &FakeMaster| {
        m.requests()
            .iter()
            .filter(|r| r.starts_with("GET /master/state"))
            .count()
    };
    let n = reads(&env.master);
    let mut blip = state.clone();
    blip["frameworks"] = json!([]);
    env.master.set_state(blip.to_string());
    eventually(
        "a reconcile holds the framework's deletes",
        CONVERGE,
        &f,
        || {
            reads(&env.master) > n
                && f.output().lines().any(|l| {
                    l.starts_with("mesos2ns1 follow-reconcile:")
                        && !l.contains("waiting=0 ")
                        && l.contains("waiting=")
                })
        },
    );
    env.master.set_state(state.to_string());
    let n = reads(&env.master);
    eventually("a reconcile with it again", CONVERGE, &f, || {
        reads(&env.master) > n
    });
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(deletes(&env.ns1), 0, "{}", f.output());
    assert_eq!(owned(&env.ns1), zone);
    assert_eq!(zone, expected(&state, DOMAIN));
}

#[test]
fn follow_waits_for_a_run_that_holds_the_lock_and_refuses_a_state_file() {
    let env = Env::new("follow-wait");
    env.master
        .set_state(cluster_state(&env.master.addr(), 1, 2).to_string());
    let dir = env.dir.path().join("state");
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::File::create(dir.join("lock")).unwrap();
    lock.try_lock().unwrap();
    let mut f = Follower::start(&env, &[], "0");
    eventually("says it waits", CONVERGE, &f, || {
        f.output().contains("another run holds the lock")
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(env.ns1.log().is_empty(), "{}", f.output());
    lock.unlock().unwrap();
    converges(&env, &env.master, &f, "after the lock was released");
    assert_eq!(f.terminate().0, Some(0));

    let file = env
        .dir
        .file("state.json", &env.master.state_json().to_string());
    let out = env.run("follow", &["--state-file", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--state-file cannot be followed"),
        "{}",
        text(&out)
    );
    let out = env.run("follow", &["--batch-interval=7200"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("not between 0 and 3600"),
        "{}",
        text(&out)
    );
}
