//! A real ZooKeeper for the tests: Debian's `zookeeper` package (the jar
//! in /usr/share/java, run with the system `java`), started on 127.0.0.1
//! with a temporary data dir and free ports, stopped on drop. Mesos
//! masters are simulated the way they register: an ephemeral sequential
//! `json.info_` node holding the master's MasterInfo as JSON, kept alive by
//! the master's own ZooKeeper session.
//!
//! Without Java or the package the tests that need a server skip with a
//! loud message, except under `CI=true`, where they fail:
//! `scripts/install-test-deps` installs what they need.

#![allow(dead_code)]

use super::harness::TempDir;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use zookeeper_client as zk;

pub const ZK_JAR: &str = "/usr/share/java/zookeeper.jar";

fn java() -> Option<String> {
    let java = std::env::var("JAVA").unwrap_or_else(|_| "java".into());
    Command::new(&java)
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()
        .filter(|s| s.success())
        .map(|_| java)
}

/// Java and the ZooKeeper jar, or `None` after saying loudly that the
/// test is skipped. Panics under `CI=true`: CI must run these tests.
pub fn available(test: &str) -> Option<String> {
    let java = java();
    let jar = std::path::Path::new(ZK_JAR).exists();
    if let (Some(java), true) = (&java, jar) {
        return Some(java.clone());
    }
    let what = format!(
        "{test}: needs a real ZooKeeper (java: {}, {ZK_JAR}: {}); run scripts/install-test-deps",
        if java.is_some() { "found" } else { "missing" },
        if jar { "found" } else { "missing" }
    );
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{what}");
    }
    eprintln!("\n*** SKIPPED {what} ***\n");
    None
}

/// A free TCP port on 127.0.0.1 (free when asked).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One ZooKeeper server process.
pub struct ZkServer {
    child: Option<Child>,
    pub port: u16,
    dir: TempDir,
}

impl ZkServer {
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the server (a member going down).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("zk.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for ZkServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `srvr` four-letter word: the server's mode once it serves.
fn mode(port: u16) -> Option<String> {
    let mut s = TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().ok()?,
        Duration::from_secs(1),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"srvr").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.lines()
        .find_map(|l| l.strip_prefix("Mode: "))
        .map(str::to_string)
}

fn start_member(java: &str, id: usize, ports: &[(u16, u16, u16)], heap: &str) -> ZkServer {
    let dir = TempDir::new(&format!("zk{id}"));
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let (client, _, _) = ports[id - 1];
    let mut cfg = format!(
        "tickTime=500\ninitLimit=40\nsyncLimit=10\ndataDir={}\nclientPort={client}\n\
         clientPortAddress=127.0.0.1\nadmin.enableServer=false\nminSessionTimeout=1000\n\
         maxSessionTimeout=60000\n4lw.commands.whitelist=srvr,ruok\n",
        data.display()
    );
    if ports.len() > 1 {
        std::fs::write(data.join("myid"), format!("{id}\n")).unwrap();
        for (i, (_, peer, election)) in ports.iter().enumerate() {
            cfg.push_str(&format!("server.{}=127.0.0.1:{peer}:{election}\n", i + 1));
        }
    }
    let cfg_path = dir.file("zoo.cfg", &cfg);
    let log = std::fs::File::create(dir.path().join("zk.log")).unwrap();
    let child = Command::new(java)
        .arg(format!("-Xmx{heap}"))
        .args([
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Dzookeeper.admin.enableServer=false",
            "-cp",
            ZK_JAR,
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
        ])
        .arg(&cfg_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start java");
    ZkServer {
        child: Some(child),
        port: client,
        dir,
    }
}

fn wait_serving(servers: &[ZkServer]) {
    wait_serving_refs(&servers.iter().collect::<Vec<_>>())
}

fn wait_serving_refs(servers: &[&ZkServer]) {
    let until = Instant::now() + Duration::from_secs(90);
    for s in servers {
        loop {
            if matches!(
                mode(s.port).as_deref(),
                Some("standalone" | "leader" | "follower")
            ) {
                break;
            }
            if Instant::now() > until {
                panic!(
                    "ZooKeeper on port {} did not start serving; log:\n{}",
                    s.port,
                    s.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// ZooKeeper server(s) on 127.0.0.1: one standalone server, or an
/// ensemble of `n` members.
pub struct Ensemble {
    pub members: Vec<ZkServer>,
}

impl Ensemble {
    pub fn start(java: &str, n: usize) -> Ensemble {
        Ensemble::start_with_heap(java, n, "96m")
    }

    /// [`Ensemble::start`] with this much Java heap per member (`-Xmx`).
    pub fn start_with_heap(java: &str, n: usize, heap: &str) -> Ensemble {
        let ports: Vec<(u16, u16, u16)> = (0..n)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let members: Vec<ZkServer> = (1..=n)
            .map(|id| start_member(java, id, &ports, heap))
            .collect();
        wait_serving(&members);
        Ensemble { members }
    }

    /// Kills member `i` and waits until the others serve again (they
    /// elect a new leader if `i` led the ensemble).
    pub fn stop(&mut self, i: usize) {
        self.members[i].stop();
        let rest: Vec<&ZkServer> = self
            .members
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, s)| s)
            .collect();
        wait_serving_refs(&rest);
    }

    /// `host:port,...` of every member.
    pub fn hosts(&self) -> String {
        self.members
            .iter()
            .map(ZkServer::addr)
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn url(&self, path: &str) -> String {
        format!("zk://{}{path}", self.hosts())
    }

    /// Creates a persistent node (and its parents), as Mesos does for the
    /// masters' path and for the replicated log's `log_replicas`.
    pub fn mkdir(&self, path: &str) {
        let hosts = self.hosts();
        let path = path.to_string();
        spawns_executor::block_on(async move {
            let client = zk::Client::connect(&hosts).await.expect("connect");
            client
                .mkdir(
                    &path,
                    &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
                )
                .await
                .expect("mkdir");
        });
    }
}

impl Ensemble {
    /// Creates a persistent node holding `data`, as any ZooKeeper client
    /// may do under a path without ACLs (Mesos creates its path open to
    /// anyone).
    pub fn create(&self, path: &str, data: &[u8]) {
        let hosts = self.hosts();
        let (path, data) = (path.to_string(), data.to_vec());
        spawns_executor::block_on(async move {
            let client = zk::Client::connect(&hosts).await.expect("connect");
            client
                .create(
                    &path,
                    &data,
                    &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
                )
                .await
                .expect("create");
        });
    }
}

impl Ensemble {
    /// Creates `n` persistent nodes `{parent}/json.info_<seq>` for `seq` in
    /// `first..first + n`, each holding `data`, 1,000 per multi request
    /// (ZooKeeper's 1 MB request limit allows about 10,000).
    pub fn create_many(&self, parent: &str, first: u64, n: u64, data: &[u8]) {
        let hosts = self.hosts();
        let (parent, data) = (parent.to_string(), data.to_vec());
        spawns_executor::block_on(async move {
            let connect = || async {
                // A long session: a server busy writing its log may be slow.
                zk::Client::connector()
                    .with_session_timeout(Duration::from_secs(40))
                    .connect(&hosts)
                    .await
                    .expect("connect")
            };
            let mut client = connect().await;
            let mode = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
            let mut seq = first;
            let mut failures = 0;
            while seq < first + n {
                let batch_end = (seq + 1000).min(first + n);
                let mut multi = client.new_multi_writer();
                for s in seq..batch_end {
                    multi
                        .add_create(&format!("{parent}/json.info_{s:010}"), &data, &mode)
                        .expect("add_create");
                }
                match multi.commit().await {
                    Ok(_) => {}
                    // Applied before the connection went: a multi is atomic.
                    Err(zk::MultiWriteError::OperationFailed {
                        source: zk::Error::NodeExists,
                        ..
                    }) => {}
                    Err(e) => {
                        failures += 1;
                        assert!(failures < 5, "multi create: {e:?}");
                        client = connect().await;
                        continue;
                    }
                }
                seq = batch_end;
            }
        });
    }
}

/// MasterInfo JSON exactly as a Mesos 1.x master writes it to ZooKeeper
/// (`JSON::protobuf(MasterInfo)`: keys in order, `ip` the packed IPv4).
pub fn master_info(ip: &str, port: u16, id: &str) -> String {
    let octets: [u8; 4] = ip.parse::<std::net::Ipv4Addr>().unwrap().octets();
    let packed = u32::from_le_bytes(octets);
    format!(
        concat!(
            r#"{{"address":{{"hostname":"localhost","ip":"{ip}","port":{port}}},"#,
            r#""capabilities":[{{"type":"AGENT_UPDATE"}},{{"type":"AGENT_DRAINING"}},{{"type":"QUOTA_V2"}}],"#,
            r#""hostname":"localhost","id":"{id}","ip":{packed},"pid":"master@{ip}:{port}","#,
            r#""port":{port},"version":"1.11.0"}}"#
        ),
        ip = ip,
        port = port,
        id = id,
        packed = packed
    )
}

/// A Mesos master's membership: its own session holding an ephemeral
/// sequential `json.info_` node. Dropping it ends the membership (the
/// master dies: ZooKeeper removes the node with the session).
pub struct Contender {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The node's name, e.g. `json.info_0000000003`.
    pub node: String,
}

impl Contender {
    pub fn register(hosts: &str, path: &str, data: &str) -> Contender {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let (hosts, path, data) = (hosts.to_string(), path.to_string(), data.to_string());
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            spawns_executor::block_on(async move {
                let client = zk::Client::connector()
                    // Long enough to outlive an election when a member dies.
                    .with_session_timeout(Duration::from_secs(20))
                    .connect(&hosts)
                    .await
                    .expect("contender connect");
                let mode = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());
                let prefix = format!("{path}/json.info_");
                let (_, seq) = client
                    .create(&prefix, data.as_bytes(), &mode)
                    .await
                    .expect("create json.info_ node");
                let node = format!("json.info_{:010}", seq.into_i64());
                tx.send(node.clone()).unwrap();
                while !flag.load(Ordering::SeqCst) {
                    async_io::Timer::after(Duration::from_millis(20)).await;
                }
                // What ZooKeeper does when the session of a dead master ends.
                let _ = client.delete(&format!("{path}/{node}"), None).await;
            });
        });
        let node = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the contender registered");
        Contender {
            stop,
            thread: Some(thread),
            node,
        }
    }
}

impl Drop for Contender {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A listener that accepts connections and never answers: a ZooKeeper
/// member that hangs.
pub struct BlackHole {
    pub port: u16,
    _listener: TcpListener,
}

impl BlackHole {
    pub fn start() -> BlackHole {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        BlackHole {
            port: l.local_addr().unwrap().port(),
            _listener: l,
        }
    }
}
