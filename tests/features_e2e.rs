//! The opt-in features end to end (the real binary, the fake master and
//! the fake NS1): healthy-only records, per-task IP sources, the
//! visibility filter and `check`'s warning for public zones. Each filter
//! is checked against an independent oracle: the default record set of the
//! same state with the left-out tasks removed.

mod support;

use serde_json::{Value, json};
use std::collections::BTreeMap;
use support::harness::*;

const DOMAIN: &str = "mesos.example.com";

type Set = BTreeMap<(String, String), Vec<String>>;

fn owned(env: &Env) -> Set {
    owned_records(&env.ns1, DOMAIN)
}

/// The tasks of the state's only framework.
fn tasks(state: &mut Value) -> &mut Vec<Value> {
    state["frameworks"][0]["tasks"].as_array_mut().unwrap()
}

fn task<'a>(state: &'a mut Value, name: &str) -> &'a mut Value {
    tasks(state)
        .iter_mut()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no task {name}"))
}

fn without(state: &Value, names: &[&str]) -> Value {
    let mut s = state.clone();
    tasks(&mut s).retain(|t| !names.contains(&t["name"].as_str().unwrap()));
    s
}

/// `state` without the tasks of these ids.
fn without_ids(state: &Value, ids: &[&str]) -> Value {
    let mut s = state.clone();
    tasks(&mut s).retain(|t| !ids.contains(&t["id"].as_str().unwrap()));
    s
}

fn summary(out: &std::process::Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

fn set_status(t: &mut Value, statuses: Value) {
    t["statuses"] = statuses;
}

/// Five tasks in the shapes Mesos reports: a passing check, a failing
/// one, a check awaiting its first result as Mesos ≥ 1.8 shows it (the
/// definition in `health_check`), the same as Mesos ≤ 1.7 shows it (no
/// definition, no result), and a task without any check. `sick` and
/// `pending` each have a second, healthy instance: a service with no
/// healthy instance at all fails open (issue 18), so the filter is seen
/// on an instance among healthy ones.
fn health_state(env: &Env) -> Value {
    let mut s = cluster(
        &env.master.addr(),
        3,
        &[
            ("ok", 0, 1),
            ("sick", 1, 2),
            ("pending", 2, 3),
            ("oldpending", 0, 4),
            ("nocheck", 1, 5),
            ("sick", 2, 6),
            ("pending", 0, 7),
        ],
    );
    let healthy = json!([{"state": "TASK_RUNNING", "timestamp": 1.0, "healthy": true}]);
    for id in ["sick.00000006", "pending.00000007"] {
        let t = tasks(&mut s).iter_mut().find(|t| t["id"] == id).unwrap();
        t["health_check"] = json!({"type": "TCP", "tcp": {"port": 8080}});
        set_status(t, healthy.clone());
    }
    let check = json!({"type": "HTTP", "http": {"port": 8080, "path": "/health"},
                       "interval_seconds": 10.0, "grace_period_seconds": 30.0});
    let t = task(&mut s, "ok");
    t["health_check"] = check.clone();
    set_status(
        t,
        json!([{"state": "TASK_RUNNING", "timestamp": 1.0, "healthy": true}]),
    );
    let t = task(&mut s, "sick");
    t["health_check"] = check.clone();
    // Only the latest running status counts: it failed after passing.
    set_status(
        t,
        json!([{"state": "TASK_STARTING", "timestamp": 0.5},
               {"state": "TASK_RUNNING", "timestamp": 2.0, "healthy": false},
               {"state": "TASK_RUNNING", "timestamp": 1.0, "healthy": true}]),
    );
    task(&mut s, "pending")["health_check"] = check;
    s
}

#[test]
fn healthy_only_leaves_out_failing_tasks_and_strict_also_unchecked_ones() {
    let env = Env::new("healthy");
    let state = health_state(&env);
    env.master.set_state(state.to_string());

    // Default: every running task, as Mesos-DNS.
    let out = env.run("sync", &["--summary-json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned(&env), expected(&state, DOMAIN));
    assert_eq!(summary(&out)["unhealthy_tasks"], 0);

    let out = env.run("sync", &["--healthy-only", "--summary-json", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        owned(&env),
        expected(&without_ids(&state, &["sick.00000002"]), DOMAIN)
    );
    assert_eq!(summary(&out)["unhealthy_tasks"], 1);

    let out = env.run(
        "sync",
        &["--healthy-only=strict", "--summary-json", "--force"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        owned(&env),
        expected(
            &without_ids(&state, &["sick.00000002", "pending.00000003"]),
            DOMAIN
        )
    );
    let s = summary(&out);
    assert_eq!(s["unhealthy_tasks"], 2);
    assert_eq!(s["not_visible_tasks"], 0);

    // The text summary says it too.
    let out = env.run("plan", &["--healthy-only=strict"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(" unhealthy=2"),
        "{}",
        text(&out)
    );

    // Off again (flag value and config file alike): everything is back.
    let out = env.run("sync", &["--healthy-only=false", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned(&env), expected(&state, DOMAIN));
    let bad = env.run("plan", &["--healthy-only=maybe"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
}

#[test]
fn healthy_only_from_the_config_file() {
    let env = Env::new("healthy-cfg");
    let state = health_state(&env);
    env.master.set_state(state.to_string());
    for (value, gone) in [
        (json!(true), vec!["sick.00000002"]),
        (json!("strict"), vec!["sick.00000002", "pending.00000003"]),
        (json!(false), vec![]),
    ] {
        let cfg = env
            .dir
            .file("c.json", &json!({ "healthyOnly": value }).to_string());
        let mut args = env.args("sync", &["--force"]);
        args.push("--config".into());
        args.push(cfg.display().to_string());
        // As harness::run: records go as soon as they leave the set (this
        // test is about the filter, not the hold-down).
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mesos2ns1"))
            .args(&args)
            .env("NS1_APIKEY", "test-key-0123456789")
            .env("MESOS2NS1_REMOVE_AFTER", "0")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{value}: {}", text(&out));
        assert_eq!(
            owned(&env),
            expected(&without_ids(&state, &gone), DOMAIN),
            "{value}"
        );
    }
    let cfg = env
        .dir
        .file("c.json", &json!({ "healthyOnly": 3 }).to_string());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mesos2ns1"))
        .args(["plan", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn a_health_flap_goes_through_the_safety_checks() {
    let env = Env::new("flap");
    // Ten apps of two instances each (an app with no healthy instance at
    // all fails open, issue 18: the flap here leaves each app one).
    let names: Vec<String> = (0..10).map(|i| format!("app{i}")).collect();
    let list: Vec<(&str, usize, usize)> = (0..20)
        .map(|i| (names[i % 10].as_str(), i % 3, i))
        .collect();
    let mut state = cluster(&env.master.addr(), 3, &list);
    env.master.set_state(state.to_string());
    let out = env.run("sync", &["--healthy-only"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let before = owned(&env);

    // One instance of six of the ten apps fails its check at once: the
    // removals are refused like any other mass change.
    for n in &names[..6] {
        set_status(
            task(&mut state, n),
            json!([{"state": "TASK_RUNNING", "timestamp": 3.0, "healthy": false}]),
        );
    }
    env.master.set_state(state.to_string());
    let out = env.run("sync", &["--healthy-only"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(owned(&env), before, "nothing was deleted");
}

#[test]
fn the_ip_sources_label_chooses_a_tasks_addresses() {
    let env = Env::new("ipsrc");
    let mut state = cluster(
        &env.master.addr(),
        2,
        &[
            ("hostnet", 0, 1),
            ("both", 1, 2),
            ("bogus", 0, 3),
            ("plain", 1, 4),
        ],
    );
    let netinfo = |ip: &str| {
        json!([{"state": "TASK_RUNNING", "timestamp": 1.0,
                "container_status": {"network_infos": [{"ip_addresses": [{"ip_address": ip}]}]}}])
    };
    let label = |v: &str| json!([{"key": "mesos2ns1.ip-sources", "value": v}, {"key": "team", "value": "x"}]);
    for (name, ip, l) in [
        ("hostnet", "172.17.0.2", Some("host")),
        ("both", "172.17.0.3", Some("netinfo,host")),
        ("bogus", "172.17.0.4", Some("netinfo,carrier-pigeon")),
        ("plain", "172.17.0.5", None),
    ] {
        let t = task(&mut state, name);
        set_status(t, netinfo(ip));
        if let Some(l) = l {
            t["labels"] = label(l);
        }
    }
    env.master.set_state(state.to_string());
    // The global order is host only: the label brings netinfo back for "both".
    let out = env.run("sync", &["--ip-sources", "host"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let got = owned(&env);
    let a = |name: &str| {
        got.get(&(format!("{name}.marathon.{DOMAIN}"), "A".to_string()))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(a("hostnet"), ["10.1.0.1"]);
    assert_eq!(a("both"), ["172.17.0.3"]);
    assert_eq!(a("bogus"), ["10.1.0.1"], "the global order");
    assert_eq!(a("plain"), ["10.1.0.2"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mesos2ns1.ip-sources") && err.contains("carrier-pigeon"),
        "{}",
        text(&out)
    );

    // The default global order (netinfo first): "hostnet" still uses the agent.
    let out = env.run("sync", &["--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let got = owned(&env);
    let a = |name: &str| got[&(format!("{name}.marathon.{DOMAIN}"), "A".to_string())].clone();
    assert_eq!(a("hostnet"), ["10.1.0.1"]);
    assert_eq!(a("both"), ["172.17.0.3"]);
    assert_eq!(a("bogus"), ["172.17.0.4"]);
    assert_eq!(a("plain"), ["172.17.0.5"]);
}

fn visibility_state(env: &Env) -> Value {
    let mut s = cluster(
        &env.master.addr(),
        2,
        &[
            ("ext", 0, 1),
            ("clu", 1, 2),
            ("fw", 0, 3),
            ("nodisc", 1, 4),
            ("odd", 0, 5),
        ],
    );
    for (name, vis) in [
        ("ext", "EXTERNAL"),
        ("clu", "CLUSTER"),
        ("fw", "FRAMEWORK"),
        ("odd", "GALACTIC"),
    ] {
        task(&mut s, name)["discovery"] = json!({"visibility": vis, "name": name,
            "ports": {"ports": [{"number": 8080, "name": "http", "protocol": "tcp"}]}});
    }
    s
}

#[test]
fn min_visibility_publishes_only_tasks_meant_to_be_found() {
    let env = Env::new("visibility");
    let state = visibility_state(&env);
    env.master.set_state(state.to_string());
    let out = env.run("sync", &["--summary-json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned(&env), expected(&state, DOMAIN));
    for (level, gone) in [
        ("external", vec!["clu", "fw", "nodisc", "odd"]),
        ("cluster", vec!["fw", "nodisc", "odd"]),
        ("framework", vec!["nodisc", "odd"]),
        ("none", vec![]),
    ] {
        let out = env.run(
            "sync",
            &["--min-visibility", level, "--force", "--summary-json"],
        );
        assert_eq!(out.status.code(), Some(0), "{level}: {}", text(&out));
        assert_eq!(
            owned(&env),
            expected(&without(&state, &gone), DOMAIN),
            "{level}"
        );
        assert_eq!(summary(&out)["not_visible_tasks"], gone.len(), "{level}");
    }
    let bad = env.run("plan", &["--min-visibility", "public"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
}

#[test]
fn check_warns_about_a_public_zone_without_min_visibility() {
    let env = Env::new("check-public");
    env.master.set_state(visibility_state(&env).to_string());
    // The fake zone is served by dns1.p01.nsone.net and the like.
    let out = env.run("check", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("warning: zone example.com is served publicly")
            && stdout.contains("nsone.net"),
        "{}",
        text(&out)
    );
    let out = env.run("check", &["--min-visibility", "external"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("served publicly"),
        "{}",
        text(&out)
    );
}

#[test]
fn the_new_fields_never_change_the_default_record_set() {
    // Mesos-DNS ignores task labels, health fields and visibility: odd
    // values there neither reject the state nor change its records.
    let env = Env::new("lenient");
    let plain = cluster(&env.master.addr(), 2, &[("a", 0, 1), ("b", 1, 2)]);
    let mut odd = plain.clone();
    let t = task(&mut odd, "a");
    t["labels"] = json!(5);
    t["health_check"] = json!("yes");
    t["statuses"][0]["healthy"] = json!("no");
    let t = task(&mut odd, "b");
    t["labels"] = json!([1, {"key": 2, "value": null}, {"key": "mesos2ns1.ip-sources"}]);
    env.master.set_state(odd.to_string());
    for args in [&[][..], &["--healthy-only=strict"][..]] {
        let out = env.run("sync", args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        assert_eq!(owned(&env), expected(&plain, DOMAIN), "{args:?}");
    }
}
