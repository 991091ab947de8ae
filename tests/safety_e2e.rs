//! End to end: the safety checks, the lock, the deadline, --only-if-leader,
//! the config file and the metrics file, with the real binary and fakes.

mod support;

use serde_json::json;
use std::process::Command;
use std::time::Duration;
use support::fake_mesos::Mode;
use support::harness::*;

const DOMAIN: &str = "mesos.example.com";

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The owned part of the zone: A, AAAA and SRV below the domain.
fn owned(env: &Env) -> std::collections::BTreeMap<(String, String), Vec<String>> {
    owned_records(&env.ns1, DOMAIN)
}

#[test]
fn an_empty_cluster_is_refused_with_zero_writes() {
    let env = Env::new("empty");
    env.serve(3, &as_refs(&many_tasks(12, 3)));
    assert_eq!(env.run("sync", &[]).status.code(), Some(0));
    let before = env.ns1.records();
    // Failover: the leader answers, but lists no agents and no frameworks.
    env.master.set_state(
        json!({"leader": format!("master@{}", env.master.addr()), "slaves": [], "frameworks": []})
            .to_string(),
    );
    env.ns1.clear_log();
    for cmd in ["sync", "plan"] {
        let out = env.run(cmd, &[]);
        assert_eq!(out.status.code(), Some(3), "{cmd}: {}", text(&out));
        let err = stderr(&out);
        assert!(
            err.contains("implausible-state")
                && err.contains("no agents")
                && err.contains("--force would delete these"),
            "{err}"
        );
        assert!(stdout(&out).contains("exit=3"), "{}", text(&out));
        assert!(
            stdout(&out).contains("held (implausible-state): delete slave.mesos.example.com A"),
            "{}",
            text(&out)
        );
    }
    assert_eq!(env.ns1.writes(), 0);
    assert_eq!(env.ns1.records(), before);
}

#[test]
fn losing_more_than_half_the_tasks_is_refused_then_accepted_with_force() {
    let env = Env::new("half");
    env.serve(4, &as_refs(&many_tasks(24, 4)));
    assert_eq!(env.run("sync", &[]).status.code(), Some(0));
    let shrunk = env.serve(4, &as_refs(&many_tasks(10, 4)));
    env.ns1.clear_log();
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("10 running tasks now, fewer than half of the median of 24"),
        "{err}"
    );
    assert_eq!(env.ns1.writes(), 0);

    let out = env.run("sync", &["--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(env.ns1.writes() > 0);
    assert_eq!(owned(&env), expected(&shrunk, DOMAIN));
    // The forced state is the new baseline: the next run needs no force.
    assert_eq!(env.run("sync", &[]).status.code(), Some(0));
}

#[test]
fn a_plan_deleting_more_than_the_threshold_is_held_in_plan_and_sync_while_additions_apply() {
    let env = Env::new("mass");
    let state = env.serve(2, &as_refs(&many_tasks(4, 2)));
    // 20 stale owned records: deleting them all is far more than 30%.
    for i in 0..20 {
        env.ns1
            .insert(&format!("old{i}.marathon.{DOMAIN}"), "A", 60, &["10.9.0.1"]);
    }
    env.ns1.clear_log();
    for cmd in ["plan", "sync"] {
        let out = env.run(cmd, &[]);
        assert_eq!(out.status.code(), Some(3), "{cmd}: {}", text(&out));
        let err = stderr(&out);
        assert!(
            err.contains("mass-removal")
                && err.contains("20 unexplained removals now (20 due, 0 in their hold-down) and 0 in the last 3600 s exceed 30.0%")
                && err.contains("of 20 owned records"),
            "{err}"
        );
        assert!(
            err.contains("--force would delete these 20 held removals"),
            "{err}"
        );
        assert!(
            stdout(&out).contains(
                "held (mass-removal): delete old0.marathon.mesos.example.com A [10.9.0.1]"
            ),
            "{}",
            text(&out)
        );
    }
    // The sync applied every addition and no delete.
    assert!(env.ns1.log().iter().all(|r| r.method != "DELETE"));
    assert_eq!(
        owned(&env)
            .into_iter()
            .filter(|(k, _)| !k.0.starts_with("old"))
            .collect::<std::collections::BTreeMap<_, _>>(),
        expected(&state, DOMAIN)
    );
    // Held removals stay held (until --settle) even under a higher limit;
    // --force releases them.
    let out = env.run("sync", &["--max-change-percent", "100"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let out = env.run("sync", &["--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned(&env), expected(&state, DOMAIN));
}

#[test]
fn two_concurrent_runs_one_waits_out_on_the_lock() {
    let env = Env::new("lock");
    env.serve(2, &as_refs(&many_tasks(4, 2)));
    env.master.set_mode(Mode::Slow(Duration::from_secs(3)));
    let args = env.args("sync", &[]);
    let config = env.dir.file("cfg.json", "{}");
    let first = Command::new(env!("CARGO_BIN_EXE_mesos2ns1"))
        .args(&args)
        .arg("--config")
        .arg(&config)
        .env("NS1_APIKEY", "k")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first run is talking to the master (it holds the lock by then).
    for _ in 0..200 {
        if !env.master.requests().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !env.master.requests().is_empty(),
        "the first run never reached the master"
    );
    let second = env.run("sync", &[]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    assert!(
        stdout(&second).contains("another run holds the lock"),
        "{}",
        text(&second)
    );
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert_eq!(
        env.master.requests().len(),
        1,
        "the second run must not fetch"
    );
}

#[test]
fn a_deadline_shorter_than_the_work_exits_4_then_the_next_run_finishes() {
    let env = Env::new("deadline");
    let state = env.serve(3, &as_refs(&many_tasks(12, 3)));
    let n = expected(&state, DOMAIN).len();
    // 10 creates a second: the work takes several seconds.
    env.ns1.set_bucket("PUT", 10, 1.0);
    let out = env.run("sync", &["--deadline", "2"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        stdout(&out).contains("postponed to the next run"),
        "{}",
        text(&out)
    );
    let done = env.ns1.records().len() - 2;
    assert!(done > 0 && done < n, "{done} of {n}");
    assert!(
        !env.ns1.log().iter().any(|r| r.status == 429),
        "pacing avoids 429s"
    );
    let out = env.run("sync", &["--deadline", "30"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(env.ns1.records().len() - 2, n);
}

#[test]
fn only_if_leader_on_a_non_leader_makes_no_request_to_ns1() {
    let env = Env::new("leader");
    // A state whose leader is not an address of this host (TEST-NET-1);
    // read from a file so that nothing tries to reach that address.
    let mut s = cluster("192.0.2.1:5050", 2, &as_refs(&many_tasks(4, 2)));
    let file = env.dir.file("state.json", &s.to_string());
    let base = [
        "sync",
        "--state-file",
        file.to_str().unwrap(),
        "--zone",
        "example.com",
        "--domain",
        DOMAIN,
        "--ns1-endpoint",
        &env.ns1.endpoint(),
        "--state-dir",
    ];
    let state_dir = env.dir.path().join("state").display().to_string();
    // Issue 17: the zone's marker names the env's cluster; a run from a
    // state file names it with --cluster-id.
    let id = env.cluster_id();
    let mut args: Vec<&str> = base.to_vec();
    args.extend([state_dir.as_str(), "--only-if-leader"]);
    args.extend(["--cluster-id", id.as_str()]);
    let out = run(&env.dir, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).contains("not the leading master"),
        "{}",
        text(&out)
    );
    assert!(env.ns1.log().is_empty());
    // A non-leader still keeps its baseline current for the day it leads.
    let memory = std::fs::read_to_string(env.dir.path().join("state/memory.json")).unwrap();
    let memory: serde_json::Value = serde_json::from_str(&memory).unwrap();
    assert_eq!(memory["last_good"]["agents"], 2, "{memory}");

    // A leader advertising a loopback address cannot be placed: refused.
    s["leader"] = json!("master@127.0.0.1:5050");
    env.dir.file("state.json", &s.to_string());
    let out = run(&env.dir, &args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("cannot tell which host leads"),
        "{}",
        text(&out)
    );
    assert!(env.ns1.log().is_empty());

    // With one of this host's own interface addresses as the leader, the run
    // does the work (where the machine has a non-loopback address at all).
    let local = if_addrs::get_if_addrs()
        .unwrap()
        .into_iter()
        .map(|i| i.ip())
        .find(|ip| ip.is_ipv4() && !ip.is_loopback());
    if let Some(ip) = local {
        s["leader"] = json!(format!("master@{ip}:5050"));
        env.dir.file("state.json", &s.to_string());
        let out = run(&env.dir, &args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(env.ns1.writes() > 0);
    }
}

#[test]
fn a_damaged_memory_file_holds_removals_until_forced_and_additions_apply() {
    let env = Env::new("memory");
    env.serve(2, &as_refs(&many_tasks(4, 2)));
    assert_eq!(env.run("sync", &[]).status.code(), Some(0));
    let memory = env.dir.path().join("state/memory.json");
    std::fs::write(&memory, "{\"samples\": [{\"time\": ").unwrap();
    // One task goes, one app comes.
    let mut tasks = many_tasks(3, 2);
    tasks.push(("fresh".into(), 1, 77));
    let state = env.serve(2, &as_refs(&tasks));
    env.ns1.clear_log();
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("memory.json is damaged")
            && err.contains("--force")
            && err.contains("state-file"),
        "{}",
        text(&out)
    );
    assert!(env.ns1.log().iter().all(|r| r.method != "DELETE"));
    let now = owned(&env);
    for key in expected(&state, DOMAIN).keys() {
        assert!(now.contains_key(key), "{key:?} not published");
    }
    // Left as it was for the operator to look at.
    assert_eq!(
        std::fs::read_to_string(&memory).unwrap(),
        "{\"samples\": [{\"time\": "
    );
    let out = env.run("sync", &["--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned(&env), expected(&state, DOMAIN));
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn environment_and_flags_override_booleans_and_bad_exclusions_are_refused() {
    let env = Env::new("bools");
    env.serve(2, &as_refs(&many_tasks(4, 2)));
    let cfg = env
        .dir
        .file("cfg.json", &json!({"onlyIfLeader": true}).to_string());
    // The leader (127.0.0.1) would be refused under onlyIfLeader; the
    // environment turns it off.
    let args = env.args("sync", &[]);
    let out = Command::new(env!("CARGO_BIN_EXE_mesos2ns1"))
        .args(&args)
        .arg("--config")
        .arg(&cfg)
        .env("NS1_APIKEY", "k")
        .env("MESOS2NS1_ONLY_IF_LEADER", "false")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(env.ns1.writes() > 0);
    let out = Command::new(env!("CARGO_BIN_EXE_mesos2ns1"))
        .args(&args)
        .args(["--config", cfg.to_str().unwrap(), "--only-if-leader=no"])
        .env("NS1_APIKEY", "k")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // An exclusion that can match nothing below the domain would protect nothing.
    let out = env.run("plan", &["--exclude", "static"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr(&out).contains("protect nothing"), "{}", text(&out));
    let out = env.run("plan", &["--exclude", "static.example.org"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // A domain label may not end in '-'.
    let out = env.run("plan", &["--domain", "mesos-.example.com"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn a_mesos_dns_config_file_is_honoured_and_checked() {
    let env = Env::new("config");
    let state = env.serve(2, &as_refs(&many_tasks(4, 2)));
    let key = env.dir.file("ns1.key", "test-key-0123456789\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    let config = json!({
        "masters": [env.master.addr()],
        "zk": "zk://10.0.0.1:2181/mesos",
        "refreshSeconds": 60,
        "domain": DOMAIN,
        "IPSources": ["netinfo", "mesos", "host"],
        "EnforceRFC952": false,
        "TTL": 120,
        "stateTimeoutSeconds": 5,
        "mesosHTTPSOn": false,
        "zone": "example.com",
        "ns1Endpoint": env.ns1.endpoint(),
        "ns1KeyFile": key,
        "stateDir": env.dir.path().join("state"),
        "colour": "blue"
    });
    let cfg = env.dir.file("config.json", &config.to_string());
    let out = Command::new(env!("CARGO_BIN_EXE_mesos2ns1"))
        .args(["sync", "--config", cfg.to_str().unwrap()])
        .env_remove("NS1_APIKEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stderr(&out).contains("unknown config key \"colour\""),
        "{}",
        text(&out)
    );
    let recs = env.ns1.records();
    assert!(
        recs.iter()
            .filter(|r| r.0.ends_with(DOMAIN) && r.1 != "TXT")
            .all(|r| r.2 == 120),
        "{recs:?}"
    );
    assert_eq!(
        recs.iter()
            .filter(|r| r.0.ends_with(DOMAIN) && r.1 != "TXT")
            .count(),
        expected(&state, DOMAIN).len()
    );

    // Flags override the file.
    let out = Command::new(env!("CARGO_BIN_EXE_mesos2ns1"))
        .args([
            "plan",
            "--config",
            cfg.to_str().unwrap(),
            "--ttl",
            "90",
            "--force",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(stdout(&out).contains("ttl 120 ["), "{}", text(&out));

    // A wrong type is an error naming the key.
    for (bad, key) in [
        (json!({"ttl": "60"}), "\"ttl\""),
        (json!({"masters": "10.0.0.1:5050"}), "\"masters\""),
        (
            json!({"mesosCredentials": {"principal": 5}}),
            "mesosCredentials.principal",
        ),
    ] {
        let cfg = env.dir.file("bad.json", &bad.to_string());
        let out = Command::new(env!("CARGO_BIN_EXE_mesos2ns1"))
            .args(["plan", "--config", cfg.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(stderr(&out).contains(key), "{}", text(&out));
    }
    // Secrets never come from the config itself.
    let cfg = env.dir.file(
        "secret.json",
        &json!({"mesosCredentials": {"principal": "p", "secret": "s"}}).to_string(),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_mesos2ns1"))
        .args(["plan", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr(&out).contains("secretFile"), "{}", text(&out));
    // A missing file named with --config is an error.
    let out = Command::new(env!("CARGO_BIN_EXE_mesos2ns1"))
        .args(["plan", "--config", "/nonexistent/mesos2ns1.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn a_world_readable_key_file_warns() {
    let env = Env::new("keymode");
    env.serve(1, &as_refs(&many_tasks(1, 1)));
    let key = env.dir.file("ns1.key", "test-key-0123456789\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let out = env.run("sync", &["--ns1-key-file", key.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stderr(&out).contains("readable by every user"),
        "{}",
        text(&out)
    );
    assert!(!stderr(&out).contains("test-key-0123456789"));
}

#[test]
fn summary_json_and_the_metrics_file_are_well_formed() {
    let env = Env::new("metrics");
    env.serve(2, &as_refs(&many_tasks(4, 2)));
    let metrics = env.dir.path().join("mesos2ns1.prom");
    let m = metrics.to_str().unwrap();
    let out = env.run("sync", &["--summary-json", "--metrics-file", m]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let line = stdout(&out).lines().last().unwrap().to_string();
    let summary: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(summary["exit"], 0);
    assert_eq!(summary["command"], "sync");
    assert!(summary["created"].as_u64().unwrap() > 0);
    assert_eq!(summary["throttled"], 0);
    for key in [
        "leader",
        "desired",
        "updated",
        "deleted",
        "unchanged",
        "skipped",
        "api_calls",
        "duration_seconds",
        "reason",
    ] {
        assert!(summary.get(key).is_some(), "{key}");
    }

    let check = |text: &str| -> std::collections::BTreeMap<String, f64> {
        let mut samples = std::collections::BTreeMap::new();
        let mut typed = std::collections::BTreeSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut it = rest.split(' ');
                let name = it.next().unwrap();
                assert!(
                    matches!(it.next(), Some("gauge") | Some("counter")),
                    "{line}"
                );
                assert!(typed.insert(name.to_string()), "TYPE twice: {line}");
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("bad line {line:?}"));
            let name = series.split('{').next().unwrap();
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{line}"
            );
            assert!(typed.contains(name), "sample before its TYPE: {line}");
            let labels = &series[name.len()..];
            if !labels.is_empty() {
                assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
                for pair in labels[1..labels.len() - 1].split(',') {
                    let (k, v) = pair.split_once('=').unwrap();
                    assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
                    assert!(v.starts_with('"') && v.ends_with('"'), "{line}");
                }
            }
            let v: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("bad value {line:?}"));
            samples.insert(series.to_string(), v);
        }
        samples
    };
    let samples = check(&std::fs::read_to_string(&metrics).unwrap());
    assert_eq!(
        samples["mesos2ns1_last_run_exit_code{command=\"sync\"}"],
        0.0
    );
    assert!(samples["mesos2ns1_last_success_timestamp_seconds"] > 1.7e9);
    assert!(samples["mesos2ns1_last_run_changes{action=\"create\"}"] > 0.0);
    assert_eq!(samples["mesos2ns1_refusals_total"], 0.0);

    // A refusal is counted.
    env.master.set_state(
        json!({"leader": format!("master@{}", env.master.addr()), "slaves": [], "frameworks": []})
            .to_string(),
    );
    let out = env.run("sync", &["--metrics-file", m]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let samples = check(&std::fs::read_to_string(&metrics).unwrap());
    assert_eq!(samples["mesos2ns1_refusals_total"], 1.0);
    assert_eq!(samples["mesos2ns1_last_run_refused"], 1.0);
    assert!(
        !std::fs::read_dir(env.dir.path()).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".tmp"))
    );
}

#[test]
fn check_reports_what_it_found_and_stops_at_the_first_problem() {
    let env = Env::new("check");
    env.serve(2, &as_refs(&many_tasks(4, 2)));
    let out = env.run("check", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = stdout(&out);
    assert!(
        s.contains("leader master@127.0.0.1") && s.contains("2 agents"),
        "{s}"
    );
    assert!(
        s.contains("zone example.com") && s.contains("check: ok"),
        "{s}"
    );
    env.ns1.set_api_key("another-key");
    let out = env.run("check", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stderr(&out).contains("NS1"), "{}", text(&out));
    env.master.set_mode(Mode::Down);
    let out = env.run("check", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stderr(&out).contains("check the masters"), "{}", text(&out));
}
