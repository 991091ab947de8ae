//! End to end, one test per scenario of issue 18 (no wrong delete under
//! young memories, failovers, health outages, clock steps and holds): the
//! real binary against the fake master and the fake NS1 over real
//! sockets, on a simulated clock (`MESOS2NS1_TEST_NOW`), with the real
//! defaults (hold-down 120 s, window 3600 s, settle 900 s, 30%).

mod support;

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::Output;
use support::harness::*;

const DOMAIN: &str = "mesos.example.com";
const T0: f64 = 1_800_000_000.0;

type Zone = BTreeMap<(String, String), Vec<String>>;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn run_at(env: &Env, now: f64, extra: &[&str]) -> Output {
    run_args_at(&env.dir, now, &env.args("sync", extra))
}

fn owned(env: &Env) -> Zone {
    owned_records(&env.ns1, DOMAIN)
}

fn env_new(tag: &str) -> Env {
    let env = Env::new(tag);
    for method in ["PUT", "POST", "DELETE"] {
        env.ns1.set_bucket(method, 100_000, 1.0);
    }
    env
}

/// Every record of `before` is still in `now` with at least its answers.
fn nothing_removed(before: &Zone, now: &Zone) -> Result<(), String> {
    for (key, answers) in before {
        let Some(have) = now.get(key) else {
            return Err(format!("{key:?} was deleted"));
        };
        if let Some(a) = answers.iter().find(|a| !have.contains(a)) {
            return Err(format!("{key:?} lost {a}"));
        }
    }
    Ok(())
}

fn count(env: &Env, method: &str) -> usize {
    env.ns1.log().iter().filter(|r| r.method == method).count()
}

fn tasks_named(prefix: &str, n: usize, agents: usize, first: usize) -> Vec<(String, usize, usize)> {
    (0..n)
        .map(|i| (format!("{prefix}{}", i / 2), i % agents, first + i))
        .collect()
}

/// The A records of the zone's owned part that an SRV answer names but
/// that are missing.
fn dangling_srv_targets(zone: &Zone) -> Vec<String> {
    let mut out = Vec::new();
    for ((_, rtype), answers) in zone {
        if rtype != "SRV" {
            continue;
        }
        for a in answers {
            let target = a
                .split_whitespace()
                .nth(3)
                .unwrap_or("")
                .trim_end_matches('.')
                .to_ascii_lowercase();
            if !zone.contains_key(&(target.clone(), "A".into())) {
                out.push(format!("{a} -> {target}"));
            }
        }
    }
    out
}

/// 20 real records' tasks, 100 bogus ones added in one run, then the 20
/// real ones gone: the real records stay (exit 3 from the end of the
/// hold-down) until --settle, then go. `t` is the time of the inflating
/// run.
fn inflate_then_drop(env: &Env, real: &[(String, usize, usize)], mut t: f64) {
    let real_zone = owned(env);
    assert!(!real_zone.is_empty());
    let bogus = tasks_named("bogus", 100, 4, 3000);
    let mut both = real.to_vec();
    both.extend(bogus.iter().cloned());
    env.serve(4, &as_refs(&both));
    let out = run_at(env, t, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    t += 60.0;
    let small = env.serve(4, &as_refs(&bogus));
    let dropped = t;
    env.ns1.clear_log();
    while t < dropped + 900.0 {
        let out = run_at(env, t, &[]);
        if let Err(e) = nothing_removed(&real_zone, &owned(env)) {
            panic!("at +{}s: {e}\n{}", t - dropped, text(&out));
        }
        if t >= dropped + 120.0 {
            assert_eq!(out.status.code(), Some(3), "{}", text(&out));
            assert!(
                stdout(&out).contains("held (mass-removal)"),
                "{}",
                text(&out)
            );
        }
        t += 60.0;
    }
    assert_eq!(count(env, "DELETE"), 0);
    // Liveness: consistently absent for --settle, they go.
    let out = run_at(env, t, &[]);
    assert_eq!(owned(env), expected(&small, DOMAIN), "{}", text(&out));
}

#[test]
fn inflate_then_drop_with_one_run_of_history_is_held_until_settle() {
    let env = env_new("young-one-run");
    let real = many_tasks(20, 4);
    env.serve(4, &as_refs(&real));
    // A new install: one run of history.
    assert_eq!(run_at(&env, T0, &[]).status.code(), Some(0));
    inflate_then_drop(&env, &real, T0 + 60.0);
}

#[test]
fn inflate_then_drop_after_a_wiped_state_dir_is_held_until_settle() {
    let env = env_new("young-wiped");
    let real = many_tasks(20, 4);
    env.serve(4, &as_refs(&real));
    let mut t = T0;
    for _ in 0..10 {
        assert_eq!(run_at(&env, t, &[]).status.code(), Some(0));
        t += 60.0;
    }
    // The README's advice for a damaged memory.json: remove it (here the
    // whole state dir). The next run is the inflating one.
    std::fs::remove_dir_all(env.dir.path().join("state")).unwrap();
    inflate_then_drop(&env, &real, t);
}

#[test]
fn inflate_then_drop_after_a_clock_step_back_is_held_until_settle() {
    let env = env_new("young-step-back");
    let real = many_tasks(20, 4);
    env.serve(4, &as_refs(&real));
    let mut t = T0;
    for _ in 0..10 {
        assert_eq!(run_at(&env, t, &[]).status.code(), Some(0));
        t += 60.0;
    }
    // The host's clock steps back two hours.
    inflate_then_drop(&env, &real, t - 7200.0);
}

#[test]
fn an_interrupted_first_sync_then_an_unexplained_deploy_converges_before_settle() {
    let env = Env::unclaimed("filling");
    for method in ["POST", "DELETE"] {
        env.ns1.set_bucket(method, 100_000, 1.0);
    }
    // 24 tasks of 8 apps on 3 agents (about 120 records).
    let tasks: Vec<(String, usize, usize)> = (0..24)
        .map(|i| (format!("app{}", i / 3), i % 3, i))
        .collect();
    env.serve(3, &as_refs(&tasks));
    let mut t = T0;
    // The first sync is cut by the deadline part way (10 creates a second).
    env.ns1.set_bucket("PUT", 10, 1.0);
    let out = run_at(&env, t, &["--deadline", "3"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let written = owned(&env).len();
    t += 60.0;
    env.ns1.set_bucket("PUT", 100_000, 1.0);
    // A deploy replaces 4 tasks (of app0 to app3); the old ones are simply
    // gone (not listed as ended: nothing explains their removal). Their
    // records are over 30% of the half-written zone, not of what it holds
    // once filled.
    let mut deployed = tasks.clone();
    for (n, i) in [0, 3, 6, 9].into_iter().enumerate() {
        deployed[i].2 = 700 + n;
    }
    let state = env.serve(3, &as_refs(&deployed));
    let want = expected(&state, DOMAIN);
    let mut converged = None;
    let mut last = String::new();
    for run in 1..=5 {
        let out = run_at(&env, t, &[]);
        last = text(&out);
        assert!(
            matches!(out.status.code(), Some(0) | Some(4)),
            "run {run} ({written} of {} records written first): {last}",
            want.len()
        );
        if out.status.code() == Some(0) && owned(&env) == want {
            converged = Some(run);
            break;
        }
        t += 60.0;
    }
    assert!(converged.is_some(), "{:?}\n{last}", owned(&env));
}

/// A master state after a failover: the agents of `present` and
/// `recovered` (listed in `recovered_slaves` as Mesos writes them:
/// `SlaveInfo` objects), the tasks of the present agents only.
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

#[test]
fn recovered_slaves_for_20_minutes_then_back_touches_nothing_and_a_dropped_agent_goes_after_the_hold_down()
 {
    let env = env_new("recovered");
    // Six services, each with its three tasks on one agent.
    let tasks: Vec<(String, usize, usize)> = (0..18)
        .map(|i| (format!("svc{}", i / 3), i / 3, i))
        .collect();
    let full_state = env.serve(6, &as_refs(&tasks));
    let mut t = T0;
    for _ in 0..3 {
        assert_eq!(run_at(&env, t, &[]).status.code(), Some(0));
        t += 60.0;
    }
    let full = owned(&env);
    assert_eq!(full, expected(&full_state, DOMAIN));
    env.ns1.clear_log();
    // A failover; agent 5 takes 20 minutes to re-register (a raised
    // --agent_reregister_timeout). The master says it waits for it.
    let elected = t;
    while t < elected + 1200.0 {
        let st = failover_state(&env, &tasks, 5, &[5], elected + 0.5);
        env.master.set_state(st.to_string());
        let out = run_at(&env, t, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        if let Err(e) = nothing_removed(&full, &owned(&env)) {
            panic!("at +{}s: {e}\n{}", t - elected, text(&out));
        }
        assert!(stderr(&out).contains("failover recovery"), "{}", text(&out));
        t += 60.0;
    }
    // It re-registers: nothing of it was deleted or re-created.
    let st = failover_state(&env, &tasks, 6, &[], elected + 0.5);
    env.master.set_state(st.to_string());
    let out = run_at(&env, t, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned(&env), full);
    assert_eq!(env.ns1.writes(), 0, "{:?}", env.ns1.log());
    t += 60.0;
    // Another failover, 12 minutes of waiting, then the master drops the
    // agent (its timeout): its records go after the hold-down.
    let elected = t;
    while t < elected + 720.0 {
        let st = failover_state(&env, &tasks, 5, &[5], elected + 0.5);
        env.master.set_state(st.to_string());
        let out = run_at(&env, t, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(
            nothing_removed(&full, &owned(&env)).is_ok(),
            "{}",
            text(&out)
        );
        t += 60.0;
    }
    let dropped = t;
    let st = failover_state(&env, &tasks, 5, &[], elected + 0.5);
    env.master.set_state(st.to_string());
    let svc5 = (
        "svc5.marathon.mesos.example.com".to_string(),
        "A".to_string(),
    );
    while t < dropped + 120.0 {
        let out = run_at(&env, t, &[]);
        assert!(owned(&env).contains_key(&svc5), "{}", text(&out));
        t += 60.0;
    }
    let out = run_at(&env, t, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned(&env), expected(&st, DOMAIN), "{}", text(&out));
}

#[test]
fn a_moving_elected_time_gets_one_recovery_period_named_as_such() {
    let env = env_new("moving-elected");
    let tasks: Vec<(String, usize, usize)> = (0..18)
        .map(|i| (format!("svc{}", i / 3), i / 3, i))
        .collect();
    env.serve(6, &as_refs(&tasks));
    let mut t = T0;
    for _ in 0..3 {
        assert_eq!(run_at(&env, t, &[]).status.code(), Some(0));
        t += 60.0;
    }
    // Agent 5 is gone for good; the leader's elected_time moves every
    // run (a flapping leader), and the state has no recovered_slaves.
    let first = t;
    let svc5 = (
        "svc5.marathon.mesos.example.com".to_string(),
        "A".to_string(),
    );
    let mut gone_at = None;
    while t < first + 1200.0 {
        let live: Vec<_> = tasks.iter().filter(|x| x.1 < 5).cloned().collect();
        let mut st = cluster(&env.master.addr(), 5, &as_refs(&live));
        st["elected_time"] = json!(t - 1.0);
        env.master.set_state(st.to_string());
        let out = run_at(&env, t, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        if t < first + 660.0 {
            assert!(owned(&env).contains_key(&svc5), "{}", text(&out));
            let line = stdout(&out);
            assert!(line.contains("failover recovery"), "{}", text(&out));
            assert!(!line.contains("hold-down"), "{}", text(&out));
        } else if gone_at.is_none() && !owned(&env).contains_key(&svc5) {
            gone_at = Some(t);
        }
        t += 60.0;
    }
    // One recovery period from the first run that saw the election (the
    // absent-since clock ran all along), not a wait for ever.
    assert_eq!(gone_at, Some(first + 660.0));
}

/// `state` with every running task's (or only `only`'s) health check
/// failing.
fn unhealthy(mut state: Value, only: Option<&str>) -> Value {
    for task in state["frameworks"][0]["tasks"].as_array_mut().unwrap() {
        if only.is_none_or(|id| task["id"] == id) {
            task["statuses"][0]["healthy"] = json!(false);
        } else {
            task["statuses"][0]["healthy"] = json!(true);
        }
    }
    state
}

#[test]
fn a_cluster_wide_health_outage_deletes_nothing_and_one_unhealthy_instance_is_left_out() {
    let env = env_new("health");
    let tasks: Vec<(String, usize, usize)> = (0..9)
        .map(|i| (format!("svc{}", i / 3), i % 3, i))
        .collect();
    let healthy = unhealthy(cluster(&env.master.addr(), 3, &as_refs(&tasks)), Some("-"));
    env.master.set_state(healthy.to_string());
    let metrics = env.dir.path().join("m.prom");
    let m = metrics.to_str().unwrap().to_string();
    let args = [
        "--healthy-only=true",
        "--metrics-file",
        &m,
        "--summary-json",
    ];
    let mut t = T0;
    for _ in 0..3 {
        assert_eq!(run_at(&env, t, &args).status.code(), Some(0));
        t += 60.0;
    }
    let full = owned(&env);
    assert_eq!(full, expected(&healthy, DOMAIN));
    // A shared dependency is down: every check fails, for 20 minutes.
    env.master
        .set_state(unhealthy(healthy.clone(), None).to_string());
    env.ns1.clear_log();
    for _ in 0..20 {
        let out = run_at(&env, t, &args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert_eq!(owned(&env), full, "{}", text(&out));
        let summary: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
        assert_eq!(summary["unhealthy_fail_open"], 3, "{summary}");
        assert_eq!(summary["unhealthy_tasks"], 0, "{summary}");
        assert!(stderr(&out).contains("\"svc1\""), "{}", text(&out));
        t += 60.0;
    }
    assert_eq!(env.ns1.writes(), 0);
    let prom = std::fs::read_to_string(&metrics).unwrap();
    assert!(prom.contains("mesos2ns1_unhealthy_fail_open 3\n"), "{prom}");
    // Health returns except one instance of svc0: it alone is left out
    // (after the hold-down), the other two stay.
    let one = unhealthy(healthy.clone(), Some("svc0.00000000"));
    env.master.set_state(one.to_string());
    let mut last = None;
    for _ in 0..4 {
        last = Some(run_at(&env, t, &args));
        t += 60.0;
    }
    let out = last.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let summary: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(summary["unhealthy_fail_open"], 0, "{summary}");
    assert_eq!(summary["unhealthy_tasks"], 1, "{summary}");
    let want = {
        let mut st = one.clone();
        st["frameworks"][0]["tasks"]
            .as_array_mut()
            .unwrap()
            .retain(|t| t["id"] != "svc0.00000000");
        expected(&st, DOMAIN)
    };
    assert_eq!(owned(&env), want);
    assert!(
        owned(&env)
            .get(&("svc0.marathon.mesos.example.com".into(), "A".into()))
            .is_some_and(|a| a.len() == 2),
        "{:?}",
        owned(&env)
    );
}

#[test]
fn a_forward_clock_step_of_1000_s_does_not_release_a_held_partial_state() {
    let env = env_new("forward-step");
    let tasks = many_tasks(36, 6);
    let full_state = env.serve(6, &as_refs(&tasks));
    let mut t = T0;
    for _ in 0..10 {
        assert_eq!(run_at(&env, t, &[]).status.code(), Some(0));
        t += 60.0;
    }
    let full = owned(&env);
    assert_eq!(full, expected(&full_state, DOMAIN));
    // A partial state: half the tasks missing, every agent listed.
    let half: Vec<_> = tasks.iter().filter(|x| x.2 % 2 == 0).cloned().collect();
    let partial = env.serve(6, &as_refs(&half));
    let start = t;
    env.ns1.clear_log();
    for run in 0..5 {
        let out = run_at(&env, t, &[]);
        assert_eq!(out.status.code(), Some(3), "run {run}: {}", text(&out));
        assert!(
            nothing_removed(&full, &owned(&env)).is_ok(),
            "{}",
            text(&out)
        );
        t += 60.0;
    }
    // Seen for 4 minutes; the clock then jumps 1,000 s forward.
    t = start + 240.0 + 1000.0;
    let mut released = None;
    while t < start + 2400.0 {
        let out = run_at(&env, t, &[]);
        if released.is_none() && count(&env, "DELETE") > 0 {
            released = Some(t);
        }
        if released.is_none() {
            assert_eq!(out.status.code(), Some(3), "{}", text(&out));
            assert!(
                nothing_removed(&full, &owned(&env)).is_ok(),
                "{}",
                text(&out)
            );
        }
        t += 60.0;
    }
    // Released once the runs have seen it absent for --settle: 5 runs
    // before the step (4 minutes), the step counts as one run (at most 1.5
    // usual gaps), then 60 s per run.
    let released = released.expect("never released");
    assert!(
        released >= start + 240.0 + 1000.0 + 540.0,
        "released {} s after the partial state began",
        released - start
    );
    assert!(
        released <= start + 240.0 + 1000.0 + 660.0,
        "{}",
        released - start
    );
    let out = run_at(&env, t, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned(&env), expected(&partial, DOMAIN));
}

#[test]
fn a_held_srv_answer_keeps_the_address_record_it_names() {
    let env = env_new("srv-order");
    // 5 apps of 4 tasks on 4 agents.
    let tasks: Vec<(String, usize, usize)> = (0..20)
        .map(|i| (format!("app{}", i % 5), i % 4, i))
        .collect();
    let full_state = env.serve(4, &as_refs(&tasks));
    let mut t = T0;
    for _ in 0..10 {
        assert_eq!(run_at(&env, t, &[]).status.code(), Some(0));
        t += 60.0;
    }
    assert_eq!(owned(&env), expected(&full_state, DOMAIN));
    // 9 of the 20 tasks vanish, 1 or 2 of each app (mass removal: the
    // SRV answers are held, the address records wait for the hold-down)...
    let few: Vec<_> = tasks.iter().skip(9).cloned().collect();
    env.serve(4, &as_refs(&few));
    let out = run_at(&env, t, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        stdout(&out).contains("held (mass-removal)"),
        "{}",
        text(&out)
    );
    t += 60.0;
    // ... then all but 2 come back: the check passes again, the 2 tasks'
    // SRV answers stay held (held earlier), their address records come
    // due after the hold-down.
    let most: Vec<_> = tasks.iter().skip(2).cloned().collect();
    let final_state = env.serve(4, &as_refs(&most));
    let start = t;
    let mut waited = false;
    while t < start + 1200.0 {
        let out = run_at(&env, t, &[]);
        let zone = owned(&env);
        let dangling = dangling_srv_targets(&zone);
        assert!(
            dangling.is_empty(),
            "at +{}s an SRV answer names a deleted record: {dangling:?}\n{}",
            t - start,
            text(&out)
        );
        waited |= stdout(&out).contains("wait for the SRV answers that still name them");
        t += 60.0;
    }
    assert!(waited, "the order rule never had to wait");
    // Liveness: everything settles.
    assert_eq!(owned(&env), expected(&final_state, DOMAIN));
}

/// Attack: a master that never empties `recovered_slaves` keeps the
/// removals waiting, but says so: after an hour the run exits 3; `--force`
/// lets them through to the other checks.
#[test]
fn recovered_slaves_that_never_clear_are_loud_after_an_hour_and_force_lets_them_go() {
    let env = env_new("recovered-forever");
    let tasks: Vec<(String, usize, usize)> = (0..18)
        .map(|i| (format!("svc{}", i / 3), i / 3, i))
        .collect();
    let full_state = env.serve(6, &as_refs(&tasks));
    let mut t = T0;
    for _ in 0..3 {
        assert_eq!(run_at(&env, t, &[]).status.code(), Some(0));
        t += 300.0;
    }
    let full = owned(&env);
    assert_eq!(full, expected(&full_state, DOMAIN));
    let elected = t;
    let st = failover_state(&env, &tasks, 5, &[5], elected);
    env.master.set_state(st.to_string());
    while t <= elected + 3900.0 {
        let out = run_at(&env, t, &[]);
        let want = if t - elected > 3600.0 { 3 } else { 0 };
        assert_eq!(
            out.status.code(),
            Some(want),
            "at +{}s: {}",
            t - elected,
            text(&out)
        );
        assert_eq!(owned(&env), full, "{}", text(&out));
        t += 300.0;
    }
    let out = run_at(&env, t, &["--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned(&env), expected(&st, DOMAIN), "{}", text(&out));
}
