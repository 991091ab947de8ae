//! Issue 10 ("bounded time, no panics, credentials only where they
//! belong"): the real binary and library against the fakes on 127.0.0.1.

mod support;

use mesos2ns1::records::{self, Resolver, StaticResolver};
use serde_json::json;
use std::net::IpAddr;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::fake_mesos::{FakeMaster, Mode};
use support::harness::*;

const DOMAIN: &str = "mesos.example.com";

/// Runs the binary like [`run`], but kills it after `limit` (a hang must
/// fail the test, not stall it). Returns the output and the time it took.
fn run_limited(dir: &TempDir, args: &[String], limit: Duration) -> (Output, Duration) {
    let config = dir.0.join("empty-config.json");
    if !config.exists() {
        std::fs::write(&config, "{}").unwrap();
    }
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mesos2ns1"))
        .args(args)
        .arg("--config")
        .arg(&config)
        .env("NS1_APIKEY", "test-key-0123456789")
        .env_remove("MESOS2NS1_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (out, started.elapsed())
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------- time

/// A fake master that accepts the connection and never answers.
fn hung_master() -> FakeMaster {
    let master = FakeMaster::start();
    master.set_mode(Mode::Slow(Duration::from_secs(600)));
    master
}

#[test]
fn three_hung_masters_end_within_the_deadline() {
    let env = Env::new("hung");
    let hung = [hung_master(), hung_master(), hung_master()];
    let masters = hung
        .iter()
        .map(FakeMaster::addr)
        .collect::<Vec<_>>()
        .join(",");
    let mut args = env.args("sync", &["--deadline", "3"]);
    let i = args.iter().position(|a| a == "--masters").unwrap();
    args[i + 1] = masters;

    // The default state timeout (30 s) is far longer than the deadline.
    let (out, took) = run_limited(&env.dir, &args, Duration::from_secs(60));

    assert!(
        took < Duration::from_secs(6),
        "took {took:?}\n{}",
        text(&out)
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("deadline"), "{}", text(&out));
    assert_eq!(env.ns1.writes(), 0);
}

#[test]
fn records_and_check_keep_to_the_deadline_too() {
    let env = Env::new("hungcmd");
    let hung = [hung_master(), hung_master(), hung_master()];
    let masters = hung
        .iter()
        .map(FakeMaster::addr)
        .collect::<Vec<_>>()
        .join(",");
    for cmd in ["records", "check"] {
        let mut args = env.args(cmd, &["--deadline", "2"]);
        let i = args.iter().position(|a| a == "--masters").unwrap();
        args[i + 1] = masters.clone();
        let (out, took) = run_limited(&env.dir, &args, Duration::from_secs(40));
        assert!(
            took < Duration::from_secs(5),
            "{cmd} took {took:?}\n{}",
            text(&out)
        );
        assert_eq!(out.status.code(), Some(1), "{cmd}: {}", text(&out));
    }
}

/// A resolver whose lookups never return (a hung DNS path).
struct Hung;

impl Resolver for Hung {
    fn lookup(&self, _host: &str) -> Vec<IpAddr> {
        loop {
            std::thread::park();
        }
    }
}

/// A state with one agent, a framework without a pid (HTTP scheduler API)
/// whose hostname must be resolved, and a running task.
fn http_api_state() -> serde_json::Value {
    json!({
        "leader": "master@10.0.0.1:5050",
        "slaves": [{"id": "S1", "pid": "slave(1)@10.1.0.1:5051"}],
        "frameworks": [{
            "name": "httpapi",
            "hostname": "scheduler.hangs.example",
            "tasks": [{
                "id": "web.1", "name": "web", "slave_id": "S1", "state": "TASK_RUNNING",
                "resources": {"ports": "[31000-31000]"}, "statuses": []
            }]
        }]
    })
}

#[test]
fn a_hung_resolver_is_abandoned_at_the_deadline_and_the_name_treated_as_unresolvable() {
    let body = serde_json::to_vec(&http_api_state()).unwrap();
    let state = records::state::parse(&body).unwrap();
    let names = records::resolve::names_to_resolve(&state);
    assert_eq!(names, ["scheduler.hangs.example"]);

    let started = Instant::now();
    let resolved = records::resolve::resolve_until(
        names,
        Arc::new(Hung),
        started + Duration::from_millis(500),
        records::resolve::RESOLVE_WORKERS,
    );
    let took = started.elapsed();

    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(resolved.timed_out, ["scheduler.hangs.example"]);
    let mut set =
        records::generate(&state, &records::GenOptions::new(DOMAIN), &resolved.table).unwrap();
    let names: Vec<String> = set.records().into_iter().map(|r| r.name).collect();
    // No framework record (as Mesos-DNS does for a name that does not
    // resolve); the task's records are all there.
    assert!(!names.contains(&format!("httpapi.{DOMAIN}")), "{names:?}");
    assert!(
        names.contains(&format!("web.httpapi.{DOMAIN}")),
        "{names:?}"
    );
    assert!(
        names.contains(&format!("_web._tcp.httpapi.{DOMAIN}")),
        "{names:?}"
    );
}

#[test]
fn build_records_stops_waiting_for_names_at_its_deadline() {
    let body = serde_json::to_vec(&http_api_state()).unwrap();
    let dir = TempDir::new("resolve");
    let opts = mesos2ns1::cli::Opts::default();
    let cfg =
        mesos2ns1::config::Config::load_text(&opts, None, &dir.0.join("c.json"), "{}").unwrap();
    let started = Instant::now();
    let (mut set, counts, _) = mesos2ns1::source::build_records_until(
        &body,
        "test",
        &cfg,
        Arc::new(Hung),
        started + Duration::from_millis(500),
    )
    .unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(counts.running_tasks, 1);
    assert!(!set.records().is_empty());
}

#[test]
fn names_are_resolved_in_parallel_and_answers_kept() {
    // Eight slow names with eight workers take about one lookup's time.
    struct Slow;
    impl Resolver for Slow {
        fn lookup(&self, host: &str) -> Vec<IpAddr> {
            std::thread::sleep(Duration::from_millis(300));
            let n: u8 = host.trim_start_matches('h').parse().unwrap();
            vec![IpAddr::from([10, 0, 0, n])]
        }
    }
    let names: Vec<String> = (1..=8).map(|i| format!("h{i}")).collect();
    let started = Instant::now();
    let resolved = records::resolve::resolve_until(
        names,
        Arc::new(Slow),
        started + Duration::from_secs(20),
        8,
    );
    assert!(resolved.timed_out.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        resolved.table.lookup("h7"),
        vec![IpAddr::from([10, 0, 0, 7])]
    );
    let _ = StaticResolver::default();
}

// ---------------------------------------------------------------- no panics

#[test]
fn huge_timeouts_are_configuration_errors_not_aborts() {
    let dir = TempDir::new("huge");
    for (flag, value) in [
        ("--state-timeout", "18446744073709551615"),
        ("--ns1-timeout", "18446744073709551615"),
        ("--state-timeout", "3601"),
    ] {
        let master = FakeMaster::start();
        let args = strings(&["records", "--masters", &master.addr(), flag, value]);
        let (out, _) = run_limited(&dir, &args, Duration::from_secs(20));
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("longer than 3600 s") && !stderr.contains("panicked"),
            "{}",
            text(&out)
        );
        assert!(master.requests().is_empty());
    }
    let cfg = dir.file(
        "huge.json",
        r#"{"stateTimeoutSeconds": 18446744073709551615, "masters": ["127.0.0.1:5050"]}"#,
    );
    let err = mesos2ns1::config::Config::load(
        &mesos2ns1::cli::Opts {
            config: Some(cfg),
            ..Default::default()
        },
        None,
    )
    .unwrap_err();
    assert!(err.0.contains("stateTimeoutSeconds"), "{err}");
}

#[test]
fn an_srv_weight_above_65535_is_a_configuration_error() {
    let dir = TempDir::new("weight");
    let opts = mesos2ns1::cli::Opts::default();
    let path = dir.0.join("config.json");
    for (weight, ok) in [
        ("0", true),
        ("65535", true),
        ("65536", false),
        ("4294967295", false),
    ] {
        let text = format!(r#"{{"SRVRecordDefaultWeight": {weight}}}"#);
        let got = mesos2ns1::config::Config::load_text(&opts, None, &path, &text);
        match (ok, got) {
            (true, Ok(cfg)) => assert_eq!(cfg.srv_weight.to_string(), weight),
            (false, Err(e)) => assert!(
                e.0.contains("SRVRecordDefaultWeight") && e.0.contains("65535"),
                "{e}"
            ),
            (ok, got) => panic!("weight {weight}: wanted ok={ok}, got {got:?}"),
        }
    }
    // The binary says so and stops, exit 2.
    let cfg = dir.file("w.json", r#"{"SRVRecordDefaultWeight": 70000}"#);
    let state = dir.file("state.json", &http_api_state().to_string());
    let out = Command::new(env!("CARGO_BIN_EXE_mesos2ns1"))
        .args(["records", "--config"])
        .arg(&cfg)
        .arg("--state-file")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

// ---------------------------------------------------------------- key files

fn key_file_run(env: &Env, key_file: &std::path::Path) -> (Output, Duration) {
    env.serve(1, &[("web", 0, 1)]);
    let args = env.args("sync", &["--ns1-key-file", &key_file.display().to_string()]);
    run_limited(&env.dir, &args, Duration::from_secs(20))
}

#[test]
fn a_fifo_or_a_device_as_key_file_is_an_error_not_a_hang() {
    let env = Env::new("keyfifo");
    let fifo = env.dir.0.join("key.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    for path in [fifo.as_path(), std::path::Path::new("/dev/zero")] {
        let (out, took) = key_file_run(&env, path);
        assert!(took < Duration::from_secs(10), "{path:?} took {took:?}");
        assert_eq!(out.status.code(), Some(2), "{path:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("is not a regular file"), "{}", text(&out));
    }
    assert_eq!(env.ns1.log().len(), 0);

    // The Mesos secret file too: refused before any request.
    let args = strings(&[
        "records",
        "--masters",
        &env.master.addr(),
        "--mesos-principal",
        "p",
        "--mesos-secret-file",
        &fifo.display().to_string(),
    ]);
    let (out, took) = run_limited(&env.dir, &args, Duration::from_secs(20));
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Mesos secret file"),
        "{}",
        text(&out)
    );
    assert!(env.master.requests().is_empty());
}

#[test]
fn an_oversized_key_file_is_an_error() {
    let env = Env::new("keybig");
    let big = env.dir.file("big.key", &"k".repeat(1 << 20));
    let (out, _) = key_file_run(&env, &big);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("more than a secret"),
        "{}",
        text(&out)
    );
    let err = mesos2ns1::config::read_secret_file("Mesos secret file", &big).unwrap_err();
    assert!(err.0.starts_with("Mesos secret file "), "{err}");
}

#[test]
fn loose_key_file_modes_are_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new("keymode");
    let key = env.dir.file("ns1.key", "test-key-0123456789\n");
    let warned = |mode: u32| {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        let meta = std::fs::metadata(&key).unwrap();
        mesos2ns1::config::secret_file_warnings("NS1 key file", &key, &meta, Some(0))
    };
    assert!(warned(0o600).is_empty());
    assert!(
        warned(0o640).is_empty(),
        "group root (the job's group here)"
    );
    let w = warned(0o660);
    assert!(
        w.len() == 1 && w[0].contains("can be changed by its group"),
        "{w:?}"
    );
    let w = warned(0o644);
    assert!(
        w.len() == 1 && w[0].contains("readable by every user"),
        "{w:?}"
    );
    let w = warned(0o666);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].contains("every user"), "{w:?}");

    // Readable by a group that is neither root nor the job's.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    if std::os::unix::fs::chown(&key, None, Some(4242)).is_ok() {
        let meta = std::fs::metadata(&key).unwrap();
        let w = mesos2ns1::config::secret_file_warnings("NS1 key file", &key, &meta, Some(0));
        assert!(
            w.len() == 1 && w[0].contains("readable by group 4242"),
            "{w:?}"
        );
        let w = mesos2ns1::config::secret_file_warnings("NS1 key file", &key, &meta, Some(4242));
        assert!(w.is_empty(), "{w:?}");
    } else {
        eprintln!("not root: the foreign-group case is covered only where chown works");
    }

    // The binary warns on stderr and goes on.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (out, _) = key_file_run(&env, &key);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("can be changed by every user"),
        "{}",
        text(&out)
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

// ---------------------------------------------------------------- escaping

#[test]
fn a_line_break_in_the_leader_pid_cannot_forge_a_summary_line() {
    let env = Env::new("forge");
    let forged = format!(
        "master\nmesos2ns1 sync: exit=0 (zone matches) leader=x\n@{}",
        env.master.addr()
    );
    let mut state = cluster(&env.master.addr(), 1, &[("web", 0, 1)]);
    state["leader"] = json!(forged);
    env.master.set_state(state.to_string());

    let out = env.run("sync", &["-vv"]);

    let stdout = String::from_utf8_lossy(&out.stdout);
    let summaries: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("mesos2ns1 "))
        .collect();
    assert_eq!(summaries.len(), 1, "{}", text(&out));
    assert!(
        summaries[0].contains("leader=master\\nmesos2ns1 sync: exit=0"),
        "{}",
        text(&out)
    );
    // Every log line is one log record: "[LEVEL] ...", however the state
    // is spelled.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("master\\nmesos2ns1 sync"), "{}", text(&out));
    for line in stderr.lines() {
        assert!(
            line.starts_with('[') || line.starts_with("mesos2ns1: "),
            "forged line {line:?} in\n{}",
            text(&out)
        );
    }
}

#[test]
fn a_line_break_in_a_task_name_cannot_add_a_line_to_the_zone_listing() {
    let dir = TempDir::new("zonelines");
    let state = json!({
        "leader": "master@10.0.0.1:5050",
        "slaves": [{"id": "S1", "pid": "slave(1)@10.1.0.1:5051"}],
        "frameworks": [{"name": "marathon", "pid": "scheduler@10.0.0.9:15101", "tasks": [{
            "id": "web.1", "name": "web", "slave_id": "S1", "state": "TASK_RUNNING",
            "resources": {"ports": "[31000-31000]"}, "statuses": [],
            "discovery": {"name": "evil\nforged.example.com.\t60\tIN\tA\t6.6.6.6", "ports": {"ports": []}}
        }]}]
    });
    let file = dir.file("state.json", &state.to_string());
    let args = strings(&["records", "--state-file", &file.display().to_string()]);
    let (out, _) = run_limited(&dir, &args, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in stdout.lines() {
        assert!(
            line.starts_with("$TTL ") || line.starts_with("; ") || line.contains(".mesos.\t"),
            "forged line {line:?} in\n{stdout}"
        );
        assert!(!line.starts_with("forged"), "{stdout}");
    }
}

#[test]
fn summary_lines_escape_control_characters() {
    let mut s = mesos2ns1::report::Summary::new("sync");
    s.leader = "m\u{1b}[2J\r@10.0.0.1:5050".into();
    s.reason = "bad\nname".into();
    let line = s.line();
    assert!(!line.chars().any(char::is_control), "{line:?}");
    assert!(
        line.contains("leader=m\\u{1b}[2J\\r@10.0.0.1:5050"),
        "{line}"
    );
    assert!(line.contains("(bad\\nname)"), "{line}");
}

// ---------------------------------------------------------------- IPv4-mapped leader

#[test]
fn only_if_leader_compares_addresses_canonically() {
    use mesos2ns1::source::address_among;
    let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
    let v4: IpAddr = "10.0.0.1".parse().unwrap();
    assert!(address_among(mapped, [v4]));
    assert!(address_among(v4, [mapped]));
    assert!(!address_among(mapped, ["10.0.0.2".parse().unwrap()]));
    assert!(!address_among("::1".parse().unwrap(), [v4]));
}

/// A non-loopback IPv4 address of this host, if it has one.
fn local_ipv4() -> Option<std::net::Ipv4Addr> {
    if_addrs::get_if_addrs()
        .ok()?
        .into_iter()
        .filter_map(|i| match i.ip() {
            IpAddr::V4(v4) if !v4.is_loopback() => Some(v4),
            _ => None,
        })
        .next()
}

#[test]
fn a_mapped_leader_address_gives_a_records_and_the_leader_host_syncs() {
    let env = Env::new("mapped");
    let mut state = cluster(&env.master.addr(), 1, &[("web", 0, 1)]);
    // With --state-file the leader is taken as given. On a host with only
    // a loopback address, the records part is still checked.
    let (local, flags) = match local_ipv4() {
        Some(ip) => (ip, &["--only-if-leader"][..]),
        None => {
            eprintln!("no non-loopback IPv4 address here: --only-if-leader not exercised");
            ("10.0.0.1".parse().unwrap(), &[][..])
        }
    };
    state["leader"] = json!(format!("master@[::ffff:{local}]:5050"));
    let file = env.dir.file("state.json", &state.to_string());
    let mut args = env.args("sync", flags);
    let i = args.iter().position(|a| a == "--masters").unwrap();
    args.drain(i..i + 2);
    args.extend(["--state-file".to_string(), file.display().to_string()]);
    // Issue 17: the zone's marker names the env's cluster.
    args.extend(["--cluster-id".to_string(), env.cluster_id()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();

    let out = run(&env.dir, &refs);

    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("not the leading master"),
        "{}",
        text(&out)
    );
    let records = env.ns1.records();
    for name in ["leader", "master", "master0"] {
        let fqdn = format!("{name}.{DOMAIN}");
        let found: Vec<_> = records.iter().filter(|r| r.0 == fqdn).collect();
        assert_eq!(found.len(), 1, "{fqdn}: {found:?}");
        assert_eq!(found[0].1, "A", "{fqdn}: {found:?}");
        assert_eq!(found[0].3, [local.to_string()], "{fqdn}: {found:?}");
    }
}

// ---------------------------------------------------------------- cloud-init

const FRAGMENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/packaging/cloud-init/mesos2ns1-enable.sh"
);

fn fragment(vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg(FRAGMENT).env_clear().env("PATH", "/usr/bin:/bin");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn the_cloud_init_fragment_fails_without_masters_instead_of_using_127_0_0_1() {
    let base = [
        ("MESOS2NS1_ENABLED", "true"),
        ("MESOS2NS1_ZONE", "mesos.example.com"),
        ("MESOS2NS1_NS1_KEY", "abcDEF0123456789"),
    ];
    for masters in [None, Some(""), Some("   ")] {
        let mut vars = base.to_vec();
        if let Some(m) = masters {
            vars.push(("MESOS_MASTERS_IPS", m));
        }
        let out = fragment(&vars);
        assert_eq!(out.status.code(), Some(1), "{masters:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("no Mesos master addresses"),
            "{}",
            text(&out)
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("127.0.0.1"));
    }
    // With masters, the fragment gets past that check (here it then stops
    // because the package's user does not exist, or would write the config).
    if Command::new("getent")
        .args(["passwd", "mesos2ns1"])
        .output()
        .is_ok_and(|o| !o.status.success())
    {
        let mut vars = base.to_vec();
        vars.push(("MESOS_MASTERS_IPS", "192.0.2.11 192.0.2.12"));
        let out = fragment(&vars);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("package is not installed"),
            "{}",
            text(&out)
        );
    }
    // Not enabled: nothing is checked, nothing is done.
    let out = fragment(&[("MESOS2NS1_ENABLED", "false")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
