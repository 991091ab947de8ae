//! ZooKeeper leader detection end to end: the real binary, a real
//! ZooKeeper server (Debian's `zookeeper` package, started here on
//! 127.0.0.1 and stopped afterwards), Mesos masters registered the way a
//! Mesos master does it (ephemeral sequential `json.info_` nodes holding
//! MasterInfo JSON), fake Mesos masters serving the state and the fake NS1.

mod support;

use std::collections::BTreeMap;
use support::fake_mesos::{FakeMaster, unused_addr};
use support::fake_ns1::FakeNs1;
use support::harness::*;
use support::zk::{BlackHole, Contender, Ensemble, available, master_info};

const DOMAIN: &str = "mesos.example.com";

struct ZkEnv {
    ns1: FakeNs1,
    dir: TempDir,
}

impl ZkEnv {
    fn new(tag: &str) -> ZkEnv {
        ZkEnv {
            ns1: FakeNs1::start("example.com"),
            dir: TempDir::new(tag),
        }
    }

    fn run(&self, cmd: &str, zk: &str, extra: &[&str]) -> std::process::Output {
        let state_dir = self.dir.path().join("state").display().to_string();
        let endpoint = self.ns1.endpoint();
        let mut args = vec![
            cmd,
            "--zk",
            zk,
            "--zone",
            "example.com",
            "--domain",
            DOMAIN,
            "--ns1-endpoint",
            &endpoint,
            "--state-dir",
            &state_dir,
        ];
        args.extend_from_slice(extra);
        run(&self.dir, &args)
    }

    fn owned(&self) -> BTreeMap<(String, String), Vec<String>> {
        self.ns1
            .records()
            .into_iter()
            .filter(|(d, t, _, _)| {
                d.ends_with(&format!(".{DOMAIN}")) && ["A", "AAAA", "SRV"].contains(&t.as_str())
            })
            .map(|(d, t, _, a)| ((d, t), a))
            .collect()
    }

    fn leader_srv(&self) -> Vec<String> {
        self.owned()
            .get(&(format!("_leader._tcp.{DOMAIN}"), "SRV".to_string()))
            .cloned()
            .unwrap_or_default()
    }
}

/// A fake master serving a small cluster whose state names `leader`.
fn master_serving(leader: Option<&FakeMaster>) -> (FakeMaster, serde_json::Value) {
    let m = FakeMaster::start();
    let leader_addr = leader.map_or_else(|| m.addr(), FakeMaster::addr);
    let state = cluster(&leader_addr, 2, &[("web", 0, 1), ("db", 1, 2)]);
    m.set_state(state.to_string());
    (m, state)
}

fn info_for(m: &FakeMaster, id: &str) -> String {
    master_info(&m.ip(), m.port(), id)
}

fn srv_to_leader(port: u16) -> Vec<String> {
    vec![format!("0 1 {port} leader.{DOMAIN}")]
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_leader_is_found_through_zookeeper() {
    let Some(java) = available("the_leader_is_found_through_zookeeper") else {
        return;
    };
    let zk = Ensemble::start(&java, 1);
    zk.mkdir("/mesos/log_replicas");
    let (m, state) = master_serving(None);
    let _leader = Contender::register(&zk.hosts(), "/mesos", &info_for(&m, "leader-1"));
    let env = ZkEnv::new("zk-found");
    let out = env.run("sync", &zk.url("/mesos"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(env.owned(), expected(&state, DOMAIN), "{}", text(&out));
    assert_eq!(env.leader_srv(), srv_to_leader(m.port()));
    assert!(!m.requests().is_empty());

    // `check` says what ZooKeeper reported.
    let out = env.run("check", &zk.url("/mesos"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("leader 127.0.0.1:{}", m.port())),
        "{}",
        text(&out)
    );
}

#[test]
fn a_new_leader_is_followed_between_runs() {
    let Some(java) = available("a_new_leader_is_followed_between_runs") else {
        return;
    };
    let zk = Ensemble::start(&java, 1);
    zk.mkdir("/mesos");
    let (a, _) = master_serving(None);
    let (b, _) = master_serving(None);
    let first = Contender::register(&zk.hosts(), "/mesos", &info_for(&a, "a"));
    let second = Contender::register(&zk.hosts(), "/mesos", &info_for(&b, "b"));
    assert!(first.node < second.node, "{} {}", first.node, second.node);
    let env = ZkEnv::new("zk-change");

    let out = env.run("sync", &zk.url("/mesos"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(env.leader_srv(), srv_to_leader(a.port()), "{}", text(&out));
    let b_before = b.requests().len();
    assert_eq!(b_before, 0, "the follower was asked: {:?}", b.requests());

    // The leader dies: its node goes with its session; b leads.
    drop(first);
    let a_before = a.requests().len();
    let out = env.run("sync", &zk.url("/mesos"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(env.leader_srv(), srv_to_leader(b.port()), "{}", text(&out));
    assert_eq!(a.requests().len(), a_before, "the old leader was asked");
    assert!(!b.requests().is_empty());
}

#[test]
fn one_zookeeper_member_down_does_not_stop_detection() {
    let Some(java) = available("one_zookeeper_member_down_does_not_stop_detection") else {
        return;
    };
    let mut zk = Ensemble::start(&java, 3);
    zk.mkdir("/mesos");
    let (m, state) = master_serving(None);
    let _leader = Contender::register(&zk.hosts(), "/mesos", &info_for(&m, "leader-1"));
    let url = zk.url("/mesos");
    zk.stop(0);
    let env = ZkEnv::new("zk-down");
    for _ in 0..6 {
        // The client may try the members in any order: run a few times.
        let out = env.run("plan", &url, &[]);
        assert!(matches!(out.status.code(), Some(0 | 4)), "{}", text(&out));
        assert!(!stderr(&out).contains("falling back"), "{}", text(&out));
    }
    let out = env.run("sync", &url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(env.owned(), expected(&state, DOMAIN));
    assert_eq!(env.leader_srv(), srv_to_leader(m.port()));

    // A member that hangs (accepts, never answers) costs its share of the
    // budget, not the detection.
    let hole = BlackHole::start();
    let url = format!("zk://127.0.0.1:{},{}/mesos", hole.port, zk.hosts());
    for _ in 0..4 {
        let out = env.run("plan", &url, &["--zk-detection-timeout", "6"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(!stderr(&out).contains("falling back"), "{}", text(&out));
    }
}

#[test]
fn no_leader_node_fails_the_run_or_falls_back_to_the_masters() {
    let Some(java) = available("no_leader_node_fails_the_run_or_falls_back_to_the_masters") else {
        return;
    };
    let zk = Ensemble::start(&java, 1);
    // Only the replicated log's node: no master registered.
    zk.mkdir("/mesos/log_replicas");
    let env = ZkEnv::new("zk-none");
    let out = env.run("sync", &zk.url("/mesos"), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stderr(&out).contains("no leading master"), "{}", text(&out));
    assert!(env.owned().is_empty());
    assert_eq!(env.ns1.writes(), 0);

    // A path that does not exist at all.
    let out = env.run("sync", &zk.url("/elsewhere"), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stderr(&out).contains("does not exist"), "{}", text(&out));

    // With masters configured, they are the fallback.
    let (m, state) = master_serving(None);
    let out = env.run("sync", &zk.url("/mesos"), &["--masters", &m.addr()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stderr(&out).contains("falling back"), "{}", text(&out));
    assert_eq!(env.owned(), expected(&state, DOMAIN));
}

#[test]
fn zookeeper_unreachable_falls_back_to_the_masters() {
    // No ZooKeeper server is needed: nothing listens on the port.
    let env = ZkEnv::new("zk-unreachable");
    let zk = format!("zk://{}/mesos", unused_addr());
    let (m, state) = master_serving(None);
    let out = env.run("sync", &zk, &["--masters", &m.addr()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stderr(&out).contains("falling back"), "{}", text(&out));
    assert_eq!(env.owned(), expected(&state, DOMAIN));

    // Without masters there is nothing to fall back to.
    let out = env.run("sync", &zk, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("no ensemble member answered"),
        "{}",
        text(&out)
    );
}

#[test]
fn detection_is_bounded_by_zk_detection_timeout_and_by_the_deadline() {
    // A member that accepts connections and never answers.
    let hole = BlackHole::start();
    let zk = format!("zk://127.0.0.1:{}/mesos", hole.port);
    let env = ZkEnv::new("zk-hang");
    let (m, _) = master_serving(None);
    let out = env.run(
        "plan",
        &zk,
        &["--masters", &m.addr(), "--zk-detection-timeout", "1"],
    );
    let err = stderr(&out);
    assert!(
        err.contains("budget 1.0s") || err.contains("within 1.0s"),
        "{}",
        text(&out)
    );
    assert!(err.contains("falling back"), "{}", text(&out));
    // The state was still read from the fallback master: changes pending.
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));

    // The run's deadline is shorter than zkDetectionTimeout: it wins
    // (the budget is what is left of 2 s when detection starts).
    let out = env.run(
        "plan",
        &zk,
        &[
            "--masters",
            &m.addr(),
            "--zk-detection-timeout",
            "600",
            "--deadline",
            "2",
        ],
    );
    let err = stderr(&out);
    assert!(
        ["budget 2.0s", "budget 1.9s", "within 2.0s", "within 1.9s"]
            .iter()
            .any(|s| err.contains(s)),
        "{}",
        text(&out)
    );
    assert!(err.contains("falling back"), "{}", text(&out));
}

#[test]
fn a_mesos_dns_config_with_zk_and_no_masters_is_accepted() {
    let Some(java) = available("a_mesos_dns_config_with_zk_and_no_masters_is_accepted") else {
        return;
    };
    let zk = Ensemble::start(&java, 1);
    zk.mkdir("/mesos");
    let (m, state) = master_serving(None);
    let _leader = Contender::register(&zk.hosts(), "/mesos", &info_for(&m, "leader-1"));
    let env = ZkEnv::new("zk-config");
    let cfg = env.dir.file(
        "mesos-dns.json",
        &serde_json::json!({
            "zk": zk.url("/mesos"),
            "zkDetectionTimeout": 20,
            "refreshSeconds": 60,
            "domain": DOMAIN,
            "zone": "example.com",
            "ns1Endpoint": env.ns1.endpoint(),
            "stateDir": env.dir.path().join("state"),
        })
        .to_string(),
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mesos2ns1"))
        .args(["sync", "--config", cfg.to_str().unwrap()])
        .env("NS1_APIKEY", "test-key-0123456789")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(env.owned(), expected(&state, DOMAIN));
}

/// Issue 19: anyone who can reach ZooKeeper can register a "leader" (the
/// Mesos path is open to every client). With Mesos credentials configured
/// a master that only ZooKeeper names is never contacted: it receives no
/// request at all (so neither the secret nor the chance to serve a fake
/// cluster), and the run says why and what to list.
#[test]
fn a_rogue_zookeeper_leader_gets_no_credentials_and_publishes_nothing() {
    let Some(java) =
        available("a_rogue_zookeeper_leader_gets_no_credentials_and_publishes_nothing")
    else {
        return;
    };
    let zk = Ensemble::start(&java, 1);
    zk.mkdir("/mesos");
    // The rogue master: a fake cluster, no authentication required.
    let rogue = FakeMaster::start();
    let rogue_state = cluster(&rogue.addr(), 1, &[("evil", 0, 1)]);
    rogue.set_state(rogue_state.to_string());
    // Its node sorts before every real master's.
    zk.create(
        "/mesos/json.info_0000000000",
        info_for(&rogue, "rogue").as_bytes(),
    );
    let (real, state) = master_serving(None);
    real.require_basic_auth("principal", "s3cr3t!");
    let real_node = Contender::register(&zk.hosts(), "/mesos", &info_for(&real, "real"));
    assert!(real_node.node.as_str() > "json.info_0000000000");
    let env = ZkEnv::new("zk-rogue");
    let secret = env.dir.file("mesos-secret", "s3cr3t!");
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let secret = secret.display().to_string();
    let creds = [
        "--mesos-principal",
        "principal",
        "--mesos-secret-file",
        secret.as_str(),
    ];
    let rogue_addr = rogue.addr();

    // Credentials and no masters list: nothing is trusted, the run fails
    // before NS1 and says what to list.
    let out = env.run("sync", &zk.url("/mesos"), &creds);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("names {rogue_addr} as the leading master"))
            && err.contains("not in the masters list")
            && err.contains(&format!("add {rogue_addr} to masters")),
        "{}",
        text(&out)
    );
    assert_eq!(env.ns1.writes(), 0);
    assert!(env.owned().is_empty());
    assert!(rogue.received().is_empty(), "{:?}", rogue.requests());

    // With the real master configured: the rogue leader is refused (said
    // once), the configured master is asked with the credentials, and only
    // the real cluster is published.
    let mut args = creds.to_vec();
    let real_addr = real.addr();
    args.extend(["--masters", real_addr.as_str()]);
    let out = env.run("sync", &zk.url("/mesos"), &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stderr(&out).contains("not in the masters list"),
        "{}",
        text(&out)
    );
    assert!(rogue.received().is_empty(), "{:?}", rogue.requests());
    assert_eq!(
        real.received()[0].header("authorization"),
        Some("Basic cHJpbmNpcGFsOnMzY3IzdCE=")
    );
    assert_eq!(env.owned(), expected(&state, DOMAIN), "{}", text(&out));
    assert!(
        !env.owned().keys().any(|(name, _)| name.contains("evil")),
        "{:?}",
        env.owned()
    );

    // The real leader gone, the rogue the only one left: the configured
    // master is still the only one asked; it no longer answers, the run
    // fails and names the refused leader.
    drop(real_node);
    real.set_mode(support::fake_mesos::Mode::Status(503));
    let before = env.ns1.writes();
    let out = env.run("sync", &zk.url("/mesos"), &args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains(&format!("add {rogue_addr} to masters")),
        "{}",
        text(&out)
    );
    assert!(rogue.received().is_empty(), "{:?}", rogue.requests());
    assert_eq!(env.ns1.writes(), before);

    // Without credentials, ZooKeeper is trusted as Mesos-DNS trusts it
    // (README, "What --zk trusts"): the lowest node is the leader.
    // (Its state would remove the real cluster's records: held, exit 3.)
    let out = env.run("plan", &zk.url("/mesos"), &[]);
    assert!(matches!(out.status.code(), Some(3 | 4)), "{}", text(&out));
    assert!(!rogue.received().is_empty(), "{}", text(&out));
    assert!(
        rogue
            .received()
            .iter()
            .all(|r| r.header("authorization").is_none())
    );
}

/// Issue 19: only the lowest `json.info_` nodes are read, whatever their
/// number; a children list over ZooKeeper's 1 MB reply limit is refused
/// (not buffered) and detection ends, falling back to the masters.
#[test]
fn many_json_info_nodes_are_not_all_read_and_an_oversized_list_is_refused() {
    let Some(java) =
        available("many_json_info_nodes_are_not_all_read_and_an_oversized_list_is_refused")
    else {
        return;
    };
    let zk = Ensemble::start(&java, 1);
    zk.mkdir("/mesos");
    let (m, state) = master_serving(None);
    let _leader = Contender::register(&zk.hosts(), "/mesos", &info_for(&m, "leader-1"));
    // 20,000 more nodes (a 480 KB list), each with data that is no
    // MasterInfo: read, each would say so.
    zk.create_many("/mesos", 1_000, 20_000, b"not a MasterInfo");
    let env = ZkEnv::new("zk-many");
    let out = env.run("sync", &zk.url("/mesos"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("only the 16 lowest are read"),
        "{}",
        text(&out)
    );
    let left_out = err.matches("master left out").count();
    assert!(left_out <= 15, "{left_out} nodes read past the bound");
    assert_eq!(env.owned(), expected(&state, DOMAIN));

    // 50,001 nodes: the list (about 1.2 MB) is over the limit.
    zk.create_many("/mesos", 100_000, 30_000, b"");
    let out = env.run("plan", &zk.url("/mesos"), &["--masters", &m.addr()]);
    let err = stderr(&out);
    assert!(
        err.contains("announced a reply of") && err.contains("refused without reading it"),
        "{}",
        text(&out)
    );
    assert!(err.contains("falling back"), "{}", text(&out));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// The figure: 200,000 `json.info_` nodes. Detection ends within
/// its budget (the list is refused at its length prefix). About 10 s, most
/// of it creating the nodes.
#[test]
fn two_hundred_thousand_json_info_nodes_end_within_the_budget() {
    let Some(java) = available("two_hundred_thousand_json_info_nodes_end_within_the_budget") else {
        return;
    };
    // 200,000 nodes do not fit the tests' usual 96 MB heap.
    let zk = Ensemble::start_with_heap(&java, 1, "384m");
    zk.mkdir("/mesos");
    let (m, state) = master_serving(None);
    let _leader = Contender::register(&zk.hosts(), "/mesos", &info_for(&m, "leader-1"));
    zk.create_many("/mesos", 1_000, 200_000, b"");
    let env = ZkEnv::new("zk-200k");
    let started = std::time::Instant::now();
    let out = env.run(
        "sync",
        &zk.url("/mesos"),
        &["--masters", &m.addr(), "--zk-detection-timeout", "10"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stderr(&out).contains("refused without reading it"),
        "{}",
        text(&out)
    );
    assert_eq!(env.owned(), expected(&state, DOMAIN));
    eprintln!("run with 200,000 nodes: {:?}", started.elapsed());
}

/// Something answering on a ZooKeeper port announces a 1.9 GB reply: it
/// is refused at the length prefix, before its body is read.
#[test]
fn a_huge_announced_reply_is_refused_without_buffering_it() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = sent.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let counter = counter.clone();
            std::thread::spawn(move || {
                // The client's ConnectRequest: length prefix, then body.
                let mut len = [0u8; 4];
                if conn.read_exact(&mut len).is_err() {
                    return;
                }
                let mut req = vec![0u8; u32::from_be_bytes(len) as usize];
                if conn.read_exact(&mut req).is_err() {
                    return;
                }
                // A reply frame announcing 1.9 GB, then its body.
                if conn.write_all(&1_900_000_000u32.to_be_bytes()).is_err() {
                    return;
                }
                let chunk = vec![0u8; 64 * 1024];
                while conn.write_all(&chunk).is_ok() {
                    counter.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::SeqCst);
                    if counter.load(std::sync::atomic::Ordering::SeqCst) > 1_900_000_000 {
                        break;
                    }
                }
            });
        }
    });
    let env = ZkEnv::new("zk-huge");
    let (m, _) = master_serving(None);
    let out = env.run(
        "plan",
        &format!("zk://127.0.0.1:{port}/mesos"),
        &["--masters", &m.addr(), "--zk-detection-timeout", "5"],
    );
    let err = stderr(&out);
    assert!(
        err.contains("announced a reply of 1900000000 bytes"),
        "{}",
        text(&out)
    );
    assert!(err.contains("falling back"), "{}", text(&out));
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    // What the server could push before the connection closed: socket
    // buffers, not the announced 1.9 GB.
    let pushed = sent.load(std::sync::atomic::Ordering::SeqCst);
    assert!(pushed < 64 << 20, "{pushed} bytes accepted");
}
