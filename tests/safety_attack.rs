//! Red-team attacks on issue 18's removal safety, end to end: the real
//! binary against the fake master and the fake NS1 over real sockets, on a
//! simulated clock (`MESOS2NS1_TEST_NOW`), with the real defaults.

mod support;

use serde_json::{Value, json};
use std::process::Output;
use support::harness::*;

const DOMAIN: &str = "mesos.example.com";
const T0: f64 = 1_800_000_000.0;

fn run_at(env: &Env, now: f64, extra: &[&str]) -> Output {
    run_args_at(&env.dir, now, &env.args("sync", extra))
}

fn env_new(tag: &str) -> Env {
    let env = Env::new(tag);
    for method in ["PUT", "POST", "DELETE"] {
        env.ns1.set_bucket(method, 100_000, 1.0);
    }
    env
}

/// The first `present` agents' tasks, `recovered` listed in
/// `recovered_slaves` (as Mesos writes them: `SlaveInfo` objects).
fn failover_state(
    env: &Env,
    tasks: &[(String, usize, usize)],
    present: usize,
    recovered: &[usize],
    elected: f64,
) -> Value {
    let live: Vec<_> = tasks.iter().filter(|x| x.1 < present).cloned().collect();
    let mut st = cluster(&env.master.addr(), present, &as_refs(&live));
    st["elected_time"] = json!(elected);
    st["recovered_slaves"] = Value::Array(
        recovered
            .iter()
            .map(|i| {
                json!({"id": format!("agent-0000-S{i}"), "hostname": format!("10.1.0.{}", i + 1),
                       "port": 5051, "attributes": {}})
            })
            .collect(),
    );
    st
}

/// Attack: a flapping leader whose `recovered_slaves` is listed on every
/// other run (each new leader lists the agent it has not heard from yet),
/// while agent 5 is gone for good. The removals must not wait silently
/// for ever: within a bit more than an hour the runs say so (exit 3), as
/// for a list that never clears.
#[test]
fn a_recovered_slaves_list_that_flaps_is_not_a_silent_wait_for_ever() {
    let env = env_new("recovered-flap");
    let tasks: Vec<(String, usize, usize)> = (0..18)
        .map(|i| (format!("svc{}", i / 3), i / 3, i))
        .collect();
    env.serve(6, &as_refs(&tasks));
    let mut t = T0;
    for _ in 0..3 {
        assert_eq!(run_at(&env, t, &[]).status.code(), Some(0));
        t += 60.0;
    }
    let svc5 = (
        "svc5.marathon.mesos.example.com".to_string(),
        "A".to_string(),
    );
    let first = t;
    let mut loud = false;
    let mut i = 0;
    while t < first + 3600.0 + 600.0 {
        let listed: &[usize] = if i % 2 == 0 { &[5] } else { &[] };
        let st = failover_state(&env, &tasks, 5, listed, t - 1.0);
        env.master.set_state(st.to_string());
        let out = run_at(&env, t, &[]);
        let code = out.status.code();
        assert!(code == Some(0) || code == Some(3), "{}", text(&out));
        if code == Some(3) {
            assert!(t > first + 3600.0, "{}", text(&out));
            assert!(stdout(&out).contains("failover recovery"), "{}", text(&out));
            loud = true;
        }
        if !owned_records(&env.ns1, DOMAIN).contains_key(&svc5) {
            // Deleting after the wait would also be a bounded answer.
            return;
        }
        t += 60.0;
        i += 1;
    }
    assert!(
        loud,
        "the removals waited silently (exit 0) for over an hour"
    );
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}
