//! Issue 19, item 5: the log of one run is bounded whatever the state.
//! The real binary against the fake master and the fake NS1: 2,000 tasks
//! carrying 10 KB invalid `mesos2ns1.ip-sources` labels (30 distinct
//! values), tasks over the port bound, and a sync writing thousands of
//! records, at the default level and at `-v`. Each warning is said once
//! with the number of tasks it affects; stderr stays under 64 KB.

mod support;

use serde_json::{Value, json};
use support::harness::*;

const LIMIT: usize = 64 * 1024;

/// A state of 2,000 tasks (20 names over 10 agents): every task has a
/// 10 KB invalid IP-sources label, one of 30 values; 100 tasks have 1,000
/// ports each.
fn flooding_state(env: &Env) -> Value {
    let tasks: Vec<(String, usize, usize)> = (0..2000)
        .map(|i| (format!("app{}", i % 20), i % 10, i))
        .collect();
    let mut state = cluster(&env.master.addr(), 10, &as_refs(&tasks));
    for (i, t) in state["frameworks"][0]["tasks"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        let value = format!("{},netinfo,{}", 100 + i % 30, "x".repeat(10 * 1024));
        t["labels"] = json!([{"key": "mesos2ns1.ip-sources", "value": value}]);
        if i % 20 == 7 {
            t["resources"]["ports"] = json!("[20000-20999]");
        }
    }
    env.master.set_state(state.to_string());
    state
}

fn check(what: &str, out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.stderr.len() < LIMIT,
        "{what}: {} bytes of stderr: {}",
        out.stderr.len(),
        &stderr[..2000.min(stderr.len())]
    );
    // The code's own aggregation keeps it small, not the backstop.
    assert!(!stderr.contains("more log lines not written"), "{what}");
    // 20 distinct warnings listed, each once with its count (19 label
    // values and the port bound, in the order met), the other 11 label
    // values counted.
    let label_lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("label mesos2ns1.ip-sources="))
        .collect();
    assert_eq!(label_lines.len(), 19, "{what}: {stderr}");
    for l in &label_lines {
        assert!(
            l.contains("… (10252 bytes) is invalid") && l.ends_with("(67 tasks)"),
            "{what}: {l}"
        );
        assert!(l.len() < 400, "{what}: {l}");
    }
    assert!(
        stderr.contains("and 727 more tasks with other warnings like these, not listed"),
        "{what}: {stderr}"
    );
    assert_eq!(
        stderr.matches("(--max-task-ports)").count(),
        1,
        "{what}: {stderr}"
    );
    stderr
}

#[test]
fn one_runs_stderr_stays_under_64_kb_at_the_default_level_and_at_v() {
    let env = Env::new("log-volume");
    flooding_state(&env);
    for method in ["PUT", "POST", "DELETE"] {
        env.ns1.set_bucket(method, 100_000, 1.0);
    }
    let ports = ["--max-task-ports", "100"];
    let out = env.run("records", &ports);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    check("records", &out);
    let out = env.run("records", &[ports[0], ports[1], "-v"]);
    check("records -v", &out);
    // A sync at -v writes thousands of records: the first are listed, the
    // rest counted.
    let out = env.run("sync", &[ports[0], ports[1], "-v", "--deadline", "40"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = check("sync -v", &out);
    let done = stderr.lines().filter(|l| l.contains("] create ")).count();
    assert_eq!(done, 100, "changes listed");
    assert!(
        stderr.contains("more changes done, not listed (-vv lists them)"),
        "{stderr}"
    );
    // The next run (nothing to change) at the default level.
    let out = env.run("sync", &ports);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    check("sync", &out);
}
