//! The operator API event stream and the cluster model against the fake
//! master (real HTTP, chunked RecordIO, over a real socket), and parity:
//! the records built from the stream equal those built from
//! `/master/state` for the same cluster.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mesos2ns1::mesos::v1::Event;
use mesos2ns1::mesos::{
    Bounds, Cluster, EventStream, MesosOptions, Next, Pid, StreamError, SubscribeOptions,
    fetch_framework_pids, fetch_state, framework_pids_from_state, subscribe,
};
use mesos2ns1::records::options::HealthyOnly;
use mesos2ns1::records::state::Visibility;
use mesos2ns1::records::{self, GenOptions, LabelRules, Record, StaticResolver};
use serde_json::{Value, json};
use support::fake_mesos::{FakeMaster, Mode, v1_subscribed, v1_task};

fn opts(master: &FakeMaster) -> MesosOptions {
    MesosOptions {
        masters: vec![master.addr()],
        https: false,
        ca_file: None,
        credentials: None,
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(5),
        max_state_bytes: 64 << 20,
        deadline: None,
    }
}

fn sub() -> SubscribeOptions {
    SubscribeOptions {
        first_event_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(10),
        max_record: 64 << 20,
    }
}

fn records(state: &records::state::State<'_>, o: &GenOptions) -> Vec<Record> {
    let mut set = records::generate(state, o, &StaticResolver::default()).expect("generate");
    let mut out = set.records();
    out.sort();
    out
}

/// The option sets every parity check runs with.
fn option_sets() -> Vec<(&'static str, GenOptions)> {
    let base = GenOptions::new("mesos");
    let mut strict = base.clone();
    strict.healthy_only = HealthyOnly::Strict;
    let mut on = base.clone();
    on.healthy_only = HealthyOnly::On;
    let mut vis = base.clone();
    vis.min_visibility = Some(Visibility::Cluster);
    let mut rfc952 = base.clone();
    rfc952.rules = LabelRules::Rfc952;
    let mut host_first = base.clone();
    host_first.ip_sources = vec![
        records::IpSource::Host,
        records::IpSource::Netinfo,
        records::IpSource::Mesos,
    ];
    vec![
        ("defaults", base),
        ("--healthy-only", on),
        ("--healthy-only=strict", strict),
        ("--min-visibility=cluster", vis),
        ("--enforce-rfc952", rfc952),
        ("IPSources host first", host_first),
    ]
}

/// Asserts that `cluster` renders the records of the state `body`, with
/// every option set; also the records of the ended tasks.
fn assert_parity(what: &str, body: &[u8], cluster: &Cluster) {
    let from_state = records::state::parse(body).expect("the state parses");
    let from_stream = cluster.to_state();
    for (name, o) in option_sets() {
        assert_eq!(
            records(&from_stream, &o),
            records(&from_state, &o),
            "{what}: records differ with {name}"
        );
    }
    let ended = |s: &records::state::State<'_>| {
        let mut all: Vec<(String, String)> = Vec::new();
        for fw in s.frameworks.iter().chain(&s.completed_frameworks) {
            for t in fw.tasks.iter().chain(&fw.completed_tasks) {
                if t.state != "TASK_RUNNING" && t.state != "TASK_STAGING" {
                    all.push((t.id.to_string(), fw.name.to_string()));
                }
            }
            if s.completed_frameworks.iter().any(|c| std::ptr::eq(c, fw)) {
                for t in &fw.tasks {
                    all.push((t.id.to_string(), fw.name.to_string()));
                }
            }
        }
        all.sort();
        all.dedup();
        all
    };
    assert_eq!(
        ended(&from_stream),
        ended(&from_state),
        "{what}: the ended tasks (explained removals) differ"
    );
}

/// A fixture as a real master would serve it: an `id` on every framework
/// (the pid lookup needs them), and one active task per task id in a
/// framework (the master keys them by id; the upstream fake state repeats
/// one, and the last one is kept, as the model keeps it).
fn as_served(mut state: Value) -> Value {
    for key in ["frameworks", "completed_frameworks"] {
        if let Some(list) = state[key].as_array_mut() {
            for (i, f) in list.iter_mut().enumerate() {
                if f.is_object() && f.get("id").is_none_or(|v| !v.is_string()) {
                    f["id"] = json!(format!("{key}-{i}"));
                }
                if let Some(tasks) = f.get_mut("tasks").and_then(Value::as_array_mut) {
                    let mut seen = std::collections::HashSet::new();
                    let mut kept: Vec<Value> = tasks
                        .iter()
                        .rev()
                        .filter(|t| seen.insert(t["id"].to_string()))
                        .cloned()
                        .collect();
                    kept.reverse();
                    *tasks = kept;
                }
            }
        }
    }
    state
}

fn cluster_from(subscribed: &Value, state_body: &[u8]) -> Cluster {
    let mut c = Cluster::new(Bounds::default());
    let ev = mesos2ns1::mesos::v1::parse_event(subscribed.to_string().as_bytes())
        .expect("SUBSCRIBED parses");
    c.apply(ev).expect("SUBSCRIBED applies");
    let parsed = records::state::parse(state_body).expect("state");
    c.set_master(&parsed.leader, parsed.elected_time);
    c.seed_pids(&framework_pids_from_state(state_body).expect("pids"));
    assert!(c.pending_pids().is_empty(), "{:?}", c.pending_pids());
    c
}

#[test]
fn fixtures_render_the_same_records_from_the_snapshot() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("../shared/fixtures") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with("-state.json") {
            continue;
        }
        let state: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let state = as_served(state);
        let body = state.to_string();
        if records::state::parse(body.as_bytes()).is_err() {
            continue;
        }
        let subscribed = v1_subscribed(&state, 15.0);
        let cluster = cluster_from(&subscribed, body.as_bytes());
        assert_parity(&name, body.as_bytes(), &cluster);
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} fixtures checked");
}

/// A small cluster exercising every option: health, visibility, the
/// ip-sources label, long names, netinfo and label IPs.
fn rich_state(leader: &str) -> Value {
    let status = |state: &str, ts: f64, healthy: Option<bool>, ip: &str| {
        let mut s = json!({"state": state, "timestamp": ts,
            "labels": [{"key": "Docker.NetworkSettings.IPAddress", "value": "172.17.0.9"}],
            "container_status": {"network_infos": [{"ip_addresses": [{"ip_address": ip}]}]}});
        if let Some(h) = healthy {
            s["healthy"] = json!(h);
        }
        s
    };
    json!({
        "leader": format!("master@{leader}"),
        "elected_time": 1700000000.5,
        "slaves": [
            {"id": "S-0", "pid": "slave(1)@10.0.0.11:5051", "hostname": "a1"},
            {"id": "S-1", "pid": "slave(1)@10.0.0.12:5051", "hostname": "a2"}
        ],
        "frameworks": [
            {"id": "F-marathon", "name": "marathon", "pid": "scheduler-1@10.0.0.5:8080",
             "hostname": "10.0.0.5",
             "tasks": [
                {"id": "web.1", "name": "web", "slave_id": "S-0", "state": "TASK_RUNNING",
                 "resources": {"ports": "[31000-31001, 31005-31005]"},
                 "statuses": [status("TASK_STARTING", 1.0, None, "10.1.0.1"),
                              status("TASK_RUNNING", 2.5, Some(true), "10.1.0.2")],
                 "labels": [{"key": "mesos2ns1.ip-sources", "value": "host"}],
                 "health_check": {"type": "HTTP"}},
                // A failing instance of "web" among a healthy one (a service
                // with no healthy instance fails open, issue 18).
                {"id": "sick.1", "name": "web", "slave_id": "S-1", "state": "TASK_RUNNING",
                 "resources": {"ports": "[31010-31010]"},
                 "statuses": [status("TASK_RUNNING", 3.0, Some(false), "10.1.0.3")]},
                {"id": "nocheck.1", "name": "a-very-long-task-name-beyond-twenty-four", "slave_id": "S-1",
                 "state": "TASK_RUNNING", "resources": {"ports": "[31020-31021]"},
                 "statuses": [status("TASK_RUNNING", 4.0, None, "10.1.0.4")],
                 "health_check": {"type": "COMMAND"}},
                {"id": "disc.1", "name": "disc", "slave_id": "S-0", "state": "TASK_RUNNING",
                 "resources": {"ports": "[31030-31030]"},
                 "statuses": [status("TASK_RUNNING", 5.0, None, "10.1.0.5")],
                 "discovery": {"visibility": "CLUSTER", "name": "Disc_Name",
                    "ports": {"ports": [{"number": 8080, "name": "http", "protocol": "tcp"}]}}},
                {"id": "ext.1", "name": "ext", "slave_id": "S-0", "state": "TASK_RUNNING",
                 "statuses": [status("TASK_RUNNING", 6.0, None, "10.1.0.6")],
                 "discovery": {"visibility": "FRAMEWORK", "name": "ext"}},
                {"id": "staging.1", "name": "staging", "slave_id": "S-0", "state": "TASK_STAGING",
                 "statuses": []},
                {"id": "lost-agent.1", "name": "orphan", "slave_id": "S-9", "state": "TASK_RUNNING",
                 "statuses": [status("TASK_RUNNING", 7.0, None, "10.1.0.7")]}
             ],
             "completed_tasks": [
                {"id": "old.1", "name": "old", "slave_id": "S-0", "state": "TASK_FINISHED",
                 "resources": {"ports": "[31040-31040]"},
                 "statuses": [status("TASK_RUNNING", 0.5, None, "10.1.0.8")]}
             ]},
            {"id": "F-http", "name": "httpfw", "hostname": "10.0.0.6", "tasks": [
                {"id": "h.1", "name": "h", "slave_id": "S-1", "state": "TASK_RUNNING",
                 "statuses": [status("TASK_RUNNING", 1.0, None, "10.1.0.9")]}
             ]}
        ],
        "completed_frameworks": [
            {"id": "F-gone", "name": "chronos", "pid": "scheduler-2@10.0.0.7:4400",
             "tasks": [], "completed_tasks": [
                {"id": "cron.1", "name": "cron", "slave_id": "S-0", "state": "TASK_KILLED",
                 "statuses": [status("TASK_RUNNING", 1.0, None, "10.1.0.10")]}]}
        ]
    })
}

#[test]
fn a_rich_cluster_renders_the_same_records_with_every_option() {
    let state = rich_state("127.0.0.1:5050");
    let body = state.to_string();
    let cluster = cluster_from(&v1_subscribed(&state, 15.0), body.as_bytes());
    assert_parity("rich", body.as_bytes(), &cluster);
    // Not vacuous: the options do change this cluster's records.
    let parsed = records::state::parse(body.as_bytes()).unwrap();
    let sets: Vec<Vec<Record>> = option_sets()
        .iter()
        .map(|(_, o)| records(&parsed, o))
        .collect();
    for i in 1..sets.len() {
        assert_ne!(
            sets[0],
            sets[i],
            "option set {} changes nothing",
            option_sets()[i].0
        );
    }
}

/// Reads events into `cluster` until `pred` holds (or panics after 10 s).
fn pump(stream: &mut EventStream, cluster: &mut Cluster, mut pred: impl FnMut(&Event) -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < end, "timed out waiting for an event");
        match stream
            .next(Instant::now() + Duration::from_millis(200))
            .expect("stream")
        {
            Next::Event { event, .. } => {
                let done = pred(&event);
                cluster.apply(event).expect("applies");
                if done {
                    return;
                }
            }
            Next::Bad(e) => panic!("bad event: {e}"),
            Next::Idle => {}
        }
    }
}

/// Reads the pids the cluster waits for, as the follower will.
fn resolve_pids(o: &MesosOptions, leader: &str, cluster: &mut Cluster) {
    for id in cluster.pending_pids() {
        let pids = fetch_framework_pids(o, leader, Some(&id)).expect("pid fetch");
        cluster.set_pid(&id, pids.get(&id).cloned().unwrap_or(Pid::Absent));
    }
}

fn check_now(what: &str, master: &FakeMaster, cluster: &Cluster) {
    let body = master.state_json().to_string();
    assert_parity(what, body.as_bytes(), cluster);
}

#[test]
fn the_stream_follows_tasks_agents_and_frameworks() {
    let master = FakeMaster::start();
    let state = rich_state(&master.addr());
    master.set_state(state.to_string());
    master.set_heartbeat(0.2);
    let o = opts(&master);
    let fetched = fetch_state(&o).unwrap();
    let leader = fetched.master();
    assert_eq!(leader, format!("http://{}", master.addr()));

    let mut stream = subscribe(&o, &leader, &sub()).unwrap();
    let mut cluster = Cluster::new(Bounds::for_max_state_bytes(o.max_state_bytes));
    pump(&mut stream, &mut cluster, |e| {
        matches!(e, Event::Subscribed(_))
    });
    assert_eq!(
        stream.heartbeat_interval(),
        Some(Duration::from_millis(200))
    );
    let parsed = records::state::parse(&fetched.body).unwrap();
    cluster.set_master(&parsed.leader, parsed.elected_time);
    cluster.seed_pids(&framework_pids_from_state(&fetched.body).unwrap());
    check_now("after SUBSCRIBED", &master, &cluster);
    let api = master
        .received()
        .into_iter()
        .find(|r| r.path == "/api/v1")
        .expect("a POST /api/v1");
    assert_eq!(api.method, "POST");
    assert_eq!(api.header("content-type"), Some("application/json"));
    assert_eq!(api.header("accept"), Some("application/json"));
    assert_eq!(api.body, br#"{"type":"SUBSCRIBE"}"#);

    // A task starts: staging, then running.
    master.add_task(
        "F-marathon",
        json!({"id": "new.1", "name": "new", "slave_id": "S-1", "state": "TASK_STAGING",
               "resources": {"ports": "[32000-32000]"}, "statuses": []}),
    );
    pump(&mut stream, &mut cluster, |e| {
        matches!(e, Event::TaskAdded(_))
    });
    check_now("task staging", &master, &cluster);
    master.update_task(
        "F-marathon",
        "new.1",
        "TASK_RUNNING",
        json!({"state": "TASK_RUNNING", "timestamp": 10.0,
               "container_status": {"network_infos": [{"ip_addresses": [{"ip_address": "10.1.1.1"}]}]}}),
    );
    pump(&mut stream, &mut cluster, |e| {
        matches!(e, Event::TaskUpdated(_))
    });
    check_now("task running", &master, &cluster);

    // `state` is trusted over `status.state`: the agent says RUNNING while
    // the acknowledged status is still STARTING.
    master.add_task(
        "F-marathon",
        json!({"id": "fast.1", "name": "fast", "slave_id": "S-0", "state": "TASK_STAGING", "statuses": []}),
    );
    master.update_task(
        "F-marathon",
        "fast.1",
        "TASK_RUNNING",
        json!({"state": "TASK_STARTING", "timestamp": 11.0}),
    );
    pump(&mut stream, &mut cluster, |e| {
        matches!(e, Event::TaskUpdated(_))
    });
    check_now("state over status.state", &master, &cluster);

    // A task is killed.
    master.update_task(
        "F-marathon",
        "web.1",
        "TASK_KILLED",
        json!({"state": "TASK_KILLED", "timestamp": 12.0}),
    );
    pump(&mut stream, &mut cluster, |e| {
        matches!(e, Event::TaskUpdated(_))
    });
    check_now("task killed", &master, &cluster);

    // An agent comes, its task came first.
    let task_first = json!({"id": "early.1", "name": "early", "slave_id": "S-2", "state": "TASK_RUNNING",
        "statuses": [{"state": "TASK_RUNNING", "timestamp": 13.0}]});
    master.add_task("F-marathon", task_first);
    pump(&mut stream, &mut cluster, |e| {
        matches!(e, Event::TaskAdded(_))
    });
    check_now("task before its agent", &master, &cluster);
    let agent = json!({"id": "S-2", "pid": "slave(1)@10.0.0.13:5051", "hostname": "a3"});
    master.change(
        |s| s["slaves"].as_array_mut().unwrap().push(agent.clone()),
        &[json!({"type": "AGENT_ADDED", "agent_added": {"agent": support::fake_mesos::v1_agent(&agent)}})],
    );
    pump(&mut stream, &mut cluster, |e| {
        matches!(e, Event::AgentAdded(_))
    });
    check_now("agent added", &master, &cluster);
    master.change(
        |s| {
            s["slaves"]
                .as_array_mut()
                .unwrap()
                .retain(|a| a["id"] != "S-1")
        },
        &[json!({"type": "AGENT_REMOVED", "agent_removed": {"agent_id": {"value": "S-1"}}})],
    );
    pump(&mut stream, &mut cluster, |e| {
        matches!(e, Event::AgentRemoved { .. })
    });
    check_now("agent removed", &master, &cluster);

    // A framework registers (its pid read from /master/frameworks), its
    // task came before it.
    let fw = json!({"id": "F-new", "name": "aurora", "pid": "scheduler-9@10.0.0.9:9090",
                    "hostname": "10.0.0.9", "tasks": [], "completed_tasks": []});
    let early = json!({"id": "a.1", "name": "a", "slave_id": "S-0", "state": "TASK_RUNNING",
        "statuses": [{"state": "TASK_RUNNING", "timestamp": 14.0}]});
    master.emit(&json!({"type": "TASK_ADDED", "task_added": {"task": v1_task("F-new", &early)}}));
    pump(&mut stream, &mut cluster, |e| {
        matches!(e, Event::TaskAdded(_))
    });
    check_now("task before its framework", &master, &cluster);
    let mut fw_with_task = fw.clone();
    fw_with_task["tasks"] = json!([early]);
    master.change(
        |s| s["frameworks"].as_array_mut().unwrap().push(fw_with_task.clone()),
        &[json!({"type": "FRAMEWORK_ADDED", "framework_added": {"framework": support::fake_mesos::v1_framework(&fw)}})],
    );
    pump(&mut stream, &mut cluster, |e| {
        matches!(e, Event::FrameworkAdded(_))
    });
    assert_eq!(cluster.pending_pids(), ["F-new"]);
    resolve_pids(&o, &leader, &mut cluster);
    assert!(
        master
            .requests()
            .contains(&"GET /master/frameworks?framework_id=F-new".to_string())
    );
    check_now("framework added", &master, &cluster);

    // A scheduler failover: a new pid.
    master.change(
        |s| support::fake_mesos::framework_mut(s, "F-new")["pid"] = json!("scheduler-9@10.0.0.19:9090"),
        &[json!({"type": "FRAMEWORK_UPDATED", "framework_updated": {"framework": support::fake_mesos::v1_framework(&fw)}})],
    );
    pump(&mut stream, &mut cluster, |e| {
        matches!(e, Event::FrameworkUpdated(_))
    });
    resolve_pids(&o, &leader, &mut cluster);
    check_now("framework failover", &master, &cluster);

    // The framework is torn down: its tasks end with it.
    master.change(
        |s| {
            let list = s["frameworks"].as_array_mut().unwrap();
            let i = list.iter().position(|f| f["id"] == "F-new").unwrap();
            let mut gone = list.remove(i);
            let tasks = std::mem::take(gone["tasks"].as_array_mut().unwrap());
            for mut t in tasks {
                t["state"] = json!("TASK_KILLED");
                gone["completed_tasks"].as_array_mut().unwrap().push(t);
            }
            s["completed_frameworks"].as_array_mut().unwrap().push(gone);
        },
        &[json!({"type": "FRAMEWORK_REMOVED", "framework_removed": {"framework_info": {"id": {"value": "F-new"}, "name": "aurora", "user": "root"}}})],
    );
    pump(&mut stream, &mut cluster, |e| {
        matches!(e, Event::FrameworkRemoved(_))
    });
    check_now("framework removed", &master, &cluster);

    // Unknown event types and malformed events are skipped.
    master.emit(&json!({"type": "OPERATION_UPDATED", "operation_updated": {}}));
    master.emit(&json!({"type": "TASK_ADDED", "task_added": {"task": {"task_id": 5}}}));
    master.emit(&json!({"type": "HEARTBEAT"}));
    let mut bad = 0;
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        match stream
            .next(Instant::now() + Duration::from_millis(100))
            .unwrap()
        {
            Next::Bad(_) => bad += 1,
            Next::Event { event, .. } => {
                let unknown = matches!(event, Event::Unknown(_));
                cluster.apply(event).unwrap();
                if unknown {
                    assert_eq!(cluster.counters.unknown_events, 1);
                }
            }
            Next::Idle => {}
        }
        if bad == 1 && cluster.counters.unknown_events == 1 {
            break;
        }
    }
    assert_eq!((bad, cluster.counters.unknown_events), (1, 1));
    check_now("after skipped events", &master, &cluster);
    assert!(stream.bytes_read() > 1000);

    // The master ends the stream.
    master.end_streams();
    let err = loop {
        match stream.next(Instant::now() + Duration::from_secs(5)) {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert!(matches!(err, StreamError::Ended { .. }), "{err}");
}

#[test]
fn a_silent_stream_is_detected_after_three_heartbeats() {
    let master = FakeMaster::start();
    master.set_heartbeat(0.1);
    let o = opts(&master);
    let mut stream = subscribe(&o, &master.url(), &sub()).unwrap();
    let mut cluster = Cluster::new(Bounds::default());
    pump(&mut stream, &mut cluster, |e| {
        matches!(e, Event::Subscribed(_))
    });
    // Heartbeats keep it alive well past 3 intervals.
    let alive_until = Instant::now() + Duration::from_millis(600);
    while Instant::now() < alive_until {
        stream
            .next(alive_until)
            .expect("heartbeats keep the stream alive");
    }
    master.set_silent(true);
    let err = loop {
        match stream.next(Instant::now() + Duration::from_secs(5)) {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err, StreamError::Silent { after, .. } if after == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(err.to_string().contains("silent"), "{err}");
    // Every later call gives the same error.
    assert_eq!(stream.next(Instant::now()).unwrap_err(), err);
}

#[test]
fn a_non_leader_says_so() {
    let master = FakeMaster::start();
    master.set_mode(Mode::RedirectTo("127.0.0.9:5050".to_string()));
    let err = subscribe(&opts(&master), &master.url(), &sub()).unwrap_err();
    assert_eq!(
        err,
        StreamError::NotLeader {
            url: format!("http://{}/api/v1", master.addr()),
            status: 307,
            location: Some("http://127.0.0.9:5050/api/v1".to_string()),
        }
    );
    master.set_mode(Mode::Status(503));
    let err = subscribe(&opts(&master), &master.url(), &sub()).unwrap_err();
    assert!(
        matches!(
            err,
            StreamError::NotLeader {
                status: 503,
                location: None,
                ..
            }
        ),
        "{err:?}"
    );
    master.set_mode(Mode::Status(406));
    let err = subscribe(&opts(&master), &master.url(), &sub()).unwrap_err();
    assert!(
        matches!(err, StreamError::Status { status: 406, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("406 Not Acceptable"), "{err}");
    master.set_mode(Mode::Down);
    let err = subscribe(&opts(&master), &master.url(), &sub()).unwrap_err();
    assert!(matches!(err, StreamError::Transport { .. }), "{err:?}");
}

#[test]
fn credentials_go_to_the_stream_as_to_the_state() {
    let master = FakeMaster::start();
    master.require_basic_auth("ops", "s3cret");
    let mut o = opts(&master);
    let err = subscribe(&o, &master.url(), &sub()).unwrap_err();
    assert!(
        matches!(err, StreamError::Status { status: 401, .. }),
        "{err:?}"
    );
    o.credentials = Some(("ops".to_string(), "s3cret".to_string()));
    let mut stream = subscribe(&o, &master.url(), &sub()).unwrap();
    let mut cluster = Cluster::new(Bounds::default());
    pump(&mut stream, &mut cluster, |e| {
        matches!(e, Event::Subscribed(_))
    });
    assert!(
        master
            .requests()
            .contains(&"POST /api/v1 (auth)".to_string())
    );
}

#[test]
fn a_record_above_the_bound_breaks_the_stream() {
    let master = FakeMaster::start();
    master.set_state(rich_state(&master.addr()).to_string());
    let mut small = sub();
    small.max_record = 1000;
    let mut stream = subscribe(&opts(&master), &master.url(), &small).unwrap();
    let err = stream
        .next(Instant::now() + Duration::from_secs(5))
        .unwrap_err();
    assert!(
        matches!(&err, StreamError::Broken { reason, .. } if reason.contains("--max-state-mib")),
        "{err}"
    );
}

#[test]
fn the_state_is_read_gzipped_and_bounded_after_decompression() {
    let master = FakeMaster::start();
    let state = rich_state(&master.addr());
    let body = state.to_string();
    master.set_state(body.clone());
    master.set_gzip(true);
    let o = opts(&master);
    let fetched = fetch_state(&o).unwrap();
    assert_eq!(fetched.body, body.as_bytes());
    assert_eq!(master.received()[0].header("accept-encoding"), Some("gzip"));
    // The bound is on the decompressed size: a body that compresses far
    // below the limit but expands beyond it is refused.
    let mut big = state.clone();
    big["padding"] = json!("x".repeat(200_000));
    master.set_state(big.to_string());
    let mut tight = opts(&master);
    tight.max_state_bytes = 100_000;
    let err = fetch_state(&tight).unwrap_err().to_string();
    assert!(
        err.contains("larger than 100000 bytes (--max-state-mib)"),
        "{err}"
    );
    // The pid lookup goes the same way.
    let pids: HashMap<String, Pid> =
        fetch_framework_pids(&o, &master.url(), Some("F-marathon")).unwrap();
    assert_eq!(
        pids.get("F-marathon"),
        Some(&Pid::Raw("\"scheduler-1@10.0.0.5:8080\"".to_string()))
    );
    assert_eq!(pids.len(), 1);
}
