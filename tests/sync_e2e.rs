//! End to end: the real binary against a fake Mesos master and a stateful
//! fake NS1 API, over real sockets on 127.0.0.1.

mod support;

use serde_json::json;
use std::collections::BTreeMap;
use support::fake_mesos::{Mode, unused_addr};
use support::fake_ns1::{FakeNs1, Fault};
use support::harness::*;

type Set = BTreeMap<(String, String), Vec<String>>;

const DOMAIN: &str = "mesos.example.com";

/// The records in the fake zone that the tool owns (A/AAAA/SRV below the domain).
fn owned(ns1: &FakeNs1) -> Set {
    ns1.records()
        .into_iter()
        .filter(|(d, t, _, _)| {
            d.ends_with(&format!(".{DOMAIN}")) && ["A", "AAAA", "SRV"].contains(&t.as_str())
        })
        .filter(|(d, _, _, _)| {
            !d.starts_with("static.") && !d.ends_with(".manual.mesos.example.com")
        })
        .map(|(d, t, _, a)| ((d, t), a))
        .collect()
}

/// Foreign records a sync must never touch.
fn seed_foreign(ns1: &FakeNs1) {
    ns1.insert("example.com", "A", 300, &["192.0.2.10"]);
    ns1.insert("www.example.com", "A", 300, &["192.0.2.11"]);
    ns1.insert("example.com", "MX", 300, &["10 mx.example.com"]);
    ns1.insert("mesos.example.com", "TXT", 300, &["hand made"]);
    ns1.insert(
        "alias.mesos.example.com",
        "CNAME",
        300,
        &["www.example.com"],
    );
    ns1.insert("mesos.example.com", "A", 300, &["192.0.2.12"]);
}

fn foreign(ns1: &FakeNs1) -> Vec<(String, String, u32, Vec<String>)> {
    ns1.records()
        .into_iter()
        .filter(|(d, t, _, _)| {
            !(d.ends_with(&format!(".{DOMAIN}")) && ["A", "AAAA", "SRV"].contains(&t.as_str()))
        })
        .collect()
}

#[test]
fn first_sync_creates_exactly_the_expected_records_and_a_second_run_writes_nothing() {
    let env = Env::new("first");
    seed_foreign(&env.ns1);
    let before = foreign(&env.ns1);
    let state = env.serve(3, &as_refs(&many_tasks(12, 3)));
    let want = expected(&state, DOMAIN);
    assert!(want.len() > 40, "{}", want.len());

    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned(&env.ns1), want);
    assert_eq!(env.ns1.writes(), want.len(), "one PUT per (name, type)");
    assert!(env.ns1.log().iter().filter(|r| r.method == "PUT").count() == want.len());
    assert!(env.ns1.records().iter().all(|(d, t, ttl, _)| *ttl == 60
        || !d.ends_with(DOMAIN)
        || t == "TXT"
        || t == "CNAME"
        || d == DOMAIN));
    assert_eq!(foreign(&env.ns1), before);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("created={}", want.len())),
        "{stdout}"
    );

    env.ns1.clear_log();
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(env.ns1.writes(), 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("created=0 updated=0 deleted=0"));
    assert_eq!(foreign(&env.ns1), before);
}

#[test]
fn churn_writes_only_the_changed_pairs() {
    let env = Env::new("churn");
    let tasks = many_tasks(12, 3);
    let a = env.serve(3, &as_refs(&tasks));
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // One task stops, one starts on another agent.
    let mut tasks2 = tasks.clone();
    tasks2.remove(4);
    tasks2.push(("newapp".to_string(), 2, 99));
    let b = env.serve(3, &as_refs(&tasks2));
    let (wa, wb) = (expected(&a, DOMAIN), expected(&b, DOMAIN));
    let mut changed: Vec<(String, String)> = wa
        .keys()
        .chain(wb.keys())
        .filter(|k| wa.get(*k) != wb.get(*k))
        .cloned()
        .collect();
    changed.sort();
    changed.dedup();
    assert!(!changed.is_empty());

    env.ns1.clear_log();
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut written: Vec<(String, String)> = env
        .ns1
        .log()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| {
            let parts: Vec<&str> = r.path.trim_end_matches('/').rsplitn(3, '/').collect();
            (parts[1].to_string(), parts[0].to_string())
        })
        .collect();
    written.sort();
    assert_eq!(written, changed);
    assert_eq!(owned(&env.ns1), wb);
}

#[test]
fn foreign_records_survive_and_a_paged_zone_is_read_whole() {
    let env = Env::new("foreign");
    seed_foreign(&env.ns1);
    // Excluded names under the domain are left alone too.
    env.ns1
        .insert("static.mesos.example.com", "A", 300, &["192.0.2.20"]);
    env.ns1
        .insert("db.manual.mesos.example.com", "A", 300, &["192.0.2.21"]);
    env.ns1.set_page_size(7);
    let state = env.serve(3, &as_refs(&many_tasks(9, 3)));
    let excl = [
        "--exclude",
        "static.mesos.example.com",
        "--exclude",
        "*.manual.mesos.example.com",
    ];
    let out = env.run("sync", &excl);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let before = env.ns1.records();
    // The zone is now many pages long. A second run must see all of it:
    // a reader that stopped at page one would re-create or delete records.
    env.ns1.clear_log();
    let out = env.run("sync", &excl);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(env.ns1.writes(), 0, "{}", text(&out));
    let pages = env.ns1.log().iter().filter(|r| r.method == "GET").count();
    assert!(
        pages >= before.len() / 7,
        "read {pages} pages of {} records",
        before.len()
    );
    assert_eq!(env.ns1.records(), before);
    assert_eq!(owned(&env.ns1), expected(&state, DOMAIN));
    let rec = |d: &str| {
        env.ns1
            .records()
            .into_iter()
            .find(|r| r.0 == d)
            .map(|r| r.3)
    };
    assert_eq!(
        rec("static.mesos.example.com"),
        Some(vec!["192.0.2.20".to_string()])
    );
    assert_eq!(
        rec("db.manual.mesos.example.com"),
        Some(vec!["192.0.2.21".to_string()])
    );
}

#[test]
fn every_fault_class_converges_within_three_runs() {
    let faults = [
        Fault::ServerError503Html,
        Fault::ServerError500Json,
        Fault::DropConnection,
        Fault::LoseReply,
        Fault::Status429,
    ];
    for fault in faults {
        for method in ["PUT", "POST", "DELETE"] {
            let env = Env::new("fault");
            seed_foreign(&env.ns1);
            let foreign_before = foreign(&env.ns1);
            // Start from a zone that needs creates, updates and deletes.
            let tasks = many_tasks(9, 3);
            let old = env.serve(3, &as_refs(&tasks));
            let out = env.run("sync", &[]);
            assert_eq!(out.status.code(), Some(0), "{}", text(&out));
            let mut tasks2 = tasks.clone();
            tasks2.remove(0);
            tasks2.push(("fresh".into(), 1, 50));
            let new = env.serve(3, &as_refs(&tasks2));
            assert_ne!(expected(&old, DOMAIN), expected(&new, DOMAIN));
            env.ns1
                .fail_matching(method, "/zones/example.com/", fault, 3);
            let mut converged = false;
            for _ in 0..3 {
                // One task of nine is a third of this small zone's records:
                // the mass-removal check (tests/safety_e2e.rs) is not the
                // subject here.
                let out = env.run("sync", &["--max-change-percent", "100"]);
                let code = out.status.code();
                assert!(
                    matches!(code, Some(0) | Some(4)),
                    "{fault:?} {method}: {}",
                    text(&out)
                );
                // Nothing foreign is touched, and nothing owned that is still
                // wanted is missing after any run.
                assert_eq!(foreign(&env.ns1), foreign_before, "{fault:?} {method}");
                let now = owned(&env.ns1);
                for key in expected(&new, DOMAIN).keys() {
                    if expected(&old, DOMAIN).contains_key(key) {
                        assert!(
                            now.contains_key(key),
                            "{fault:?} {method}: {key:?} was deleted"
                        );
                    }
                }
                if code == Some(0) && now == expected(&new, DOMAIN) {
                    converged = true;
                    break;
                }
            }
            assert!(
                converged,
                "{fault:?} on {method} did not converge in 3 runs"
            );
        }
    }
}

#[test]
fn unreachable_cluster_or_bad_state_exits_1_with_no_request_to_ns1() {
    let env = Env::new("down");
    let dead = unused_addr();
    let state_dir = env.dir.path().join("state");
    let args = sync_args(&dead, &env.ns1.endpoint(), &state_dir);
    let mut a: Vec<&str> = vec!["sync"];
    a.extend(args.iter().map(String::as_str));
    let out = run(&env.dir, &a);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&dead), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(env.ns1.log().is_empty());

    env.serve(2, &[("web", 0, 1)]);
    for mode in [Mode::Truncated, Mode::Garbage, Mode::Status(503)] {
        env.master.set_mode(mode.clone());
        let out = env.run("sync", &[]);
        assert_eq!(out.status.code(), Some(1), "{mode:?}: {}", text(&out));
        assert!(env.ns1.log().is_empty(), "{mode:?}");
    }
    // A state without a leader.
    env.master.set_mode(Mode::Serve);
    env.master
        .set_state(json!({"slaves": [], "frameworks": []}).to_string());
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("leader"),
        "{}",
        text(&out)
    );
    assert!(env.ns1.log().is_empty());
}

#[test]
fn plan_never_writes_and_reports_pending_changes() {
    let env = Env::new("plan");
    let state = env.serve(2, &as_refs(&many_tasks(4, 2)));
    let out = env.run("plan", &[]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert_eq!(env.ns1.writes(), 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let n = expected(&state, DOMAIN).len();
    assert!(
        stdout.contains(&format!("Creates={n}, Updates=0, Deletes=0")),
        "{stdout}"
    );
    assert!(
        stdout.contains("create leader.mesos.example.com A ttl 60 [127.0.0.1]"),
        "{stdout}"
    );

    // Issue 17: the stale record is one the tool published (a task that
    // ended), not one seeded into the zone by hand (that one is not the
    // tool's to delete).
    let mut tasks = many_tasks(4, 2);
    tasks.push(("stale".to_string(), 1, 99));
    let with_stale = env.serve(2, &as_refs(&tasks));
    assert_eq!(env.run("sync", &[]).status.code(), Some(0));
    env.serve(2, &as_refs(&many_tasks(4, 2)));
    env.ns1.clear_log();
    // (The ended task's 7 records are over the mass-removal share.)
    let out = env.run("plan", &["--max-change-percent", "100"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("delete stale.marathon.mesos.example.com A ttl 60 [10.1.0.2]"),
        "{}",
        text(&out)
    );
    assert_eq!(env.ns1.writes(), 0);
    let now = expected(&state, DOMAIN);
    for (name, rtype) in expected(&with_stale, DOMAIN).keys() {
        if !now.contains_key(&(name.clone(), rtype.clone())) {
            env.ns1.remove(name, rtype);
        }
    }
    let out = env.run("plan", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn ttl_changes_and_legacy_flags() {
    let env = Env::new("ttl");
    env.serve(1, &[("web", 0, 1)]);
    assert_eq!(env.run("sync", &[]).status.code(), Some(0));
    env.ns1.clear_log();
    // A TTL change updates every record; it removes nothing, so no
    // safety check holds it.
    let out = env.run("sync", &["--ttl", "30"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        env.ns1
            .records()
            .iter()
            .filter(|r| r.0.ends_with(DOMAIN) && r.1 != "NS" && r.1 != "TXT")
            .all(|r| r.2 == 30)
    );
    assert!(
        env.ns1
            .log()
            .iter()
            .all(|r| r.method == "GET" || r.method == "POST")
    );

    // The original tool's flags: -m, -z, -k, -s; no subcommand means sync.
    let state_dir = env.dir.path().join("state");
    let out = run(
        &env.dir,
        &[
            "-m",
            &env.master.addr(),
            "-z",
            "example.com",
            "--domain",
            DOMAIN,
            "-k",
            "test-key-0123456789",
            "-s",
            "netinfo",
            "-s",
            "host",
            "--ttl",
            "30",
            "--ns1-endpoint",
            &env.ns1.endpoint(),
            "--state-dir",
            &state_dir.display().to_string(),
            "-vvv",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("process list"), "-k warns: {err}");
    assert!(
        !err.contains("test-key-0123456789"),
        "the key must never be logged"
    );
}

#[test]
fn records_without_a_state_file_reads_the_leading_master() {
    let env = Env::new("records");
    let state = env.serve(2, &as_refs(&many_tasks(4, 2)));
    let master = env.master.addr();
    let out = run(
        &env.dir,
        &[
            "records",
            "--format",
            "json",
            "--masters",
            &master,
            "--domain",
            DOMAIN,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let got: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let got: Set = got
        .into_iter()
        .map(|r| {
            let answers = r["answers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect();
            (
                (
                    r["name"].as_str().unwrap().to_string(),
                    r["type"].as_str().unwrap().to_string(),
                ),
                answers,
            )
        })
        .collect();
    assert_eq!(got, expected(&state, DOMAIN));
    assert_eq!(env.master.requests(), vec!["GET /master/state".to_string()]);
}

/// Issue 10: a task over its port bound is skipped with a warning naming it
/// and the rest of the cluster is published; a state over the total bound
/// is refused before NS1 is contacted.
#[test]
fn port_bounds_skip_one_task_and_refuse_a_state_over_the_total() {
    let env = Env::new("bounds");
    let mut state = cluster(&env.master.addr(), 2, &as_refs(&many_tasks(6, 2)));
    let healthy = expected(&state, DOMAIN);
    let wide = json!({
        "id": "wide.00000001", "name": "wide", "slave_id": "agent-0000-S0", "state": "TASK_RUNNING",
        "resources": {"ports": format!("[{}]", vec!["1-65535"; 2000].join(","))},
        "statuses": [{"state": "TASK_RUNNING", "timestamp": 1.0}]
    });
    state["frameworks"][0]["tasks"]
        .as_array_mut()
        .unwrap()
        .push(wide);
    env.master.set_state(state.to_string());
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("wide.00000001") && err.contains("--max-task-ports"),
        "{err}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(" tasks_over_port_bound=1"),
        "{}",
        text(&out)
    );
    let zone = owned(&env.ns1);
    for (key, answers) in &healthy {
        assert_eq!(zone.get(key), Some(answers), "{key:?}");
    }
    assert!(zone.contains_key(&(format!("wide.marathon.{DOMAIN}"), "A".to_string())));
    assert!(!zone.keys().any(|(n, _)| n.starts_with("_wide.")));

    env.ns1.clear_log();
    let out = env.run("sync", &["--max-records", "30"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--max-records"), "{err}");
    assert!(env.ns1.log().is_empty());
    assert_eq!(owned(&env.ns1), zone);
}

/// Issue 10: the state body cap is configurable (`--max-state-mib`), for a
/// master's answer and a state file alike; out-of-range bounds are usage
/// errors.
#[test]
fn state_size_cap_and_bounds_are_configurable() {
    let env = Env::new("cap");
    let mut state = env.serve(2, &as_refs(&many_tasks(3, 2)));
    state["padding"] = json!("x".repeat(1_100_000));
    env.master.set_state(state.to_string());
    let out = env.run("sync", &["--max-state-mib", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--max-state-mib"),
        "{}",
        text(&out)
    );
    assert!(env.ns1.log().is_empty());
    let out = env.run("sync", &["--max-state-mib", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let file = env.dir.file("big.json", &state.to_string());
    let file = file.to_str().unwrap();
    let out = run(
        &env.dir,
        &[
            "records",
            "--state-file",
            file,
            "--domain",
            "mesos",
            "--max-state-mib",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-state-mib"));
    for bad in [
        ["--max-task-ports", "1000001"],
        ["--max-records", "0"],
        ["--max-state-mib", "0"],
    ] {
        let out = env.run("sync", &bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out));
    }
    // The same bounds from the config file (the one the harness passes).
    env.dir.file("empty-config.json", r#"{"maxRecords": 30}"#);
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-records"));
    env.dir
        .file("empty-config.json", r#"{"MaxTaskPorts": "many"}"#);
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("MaxTaskPorts"));
    env.dir.file("empty-config.json", r#"{"maxStateMiB": 1}"#);
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    env.dir.file("empty-config.json", "{}");
}
