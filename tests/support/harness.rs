//! Drives the real `mesos2ns1` binary against the fakes: temporary
//! directories, synthetic cluster states, and one call per run.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "mesos2ns1-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A cluster state: `agents` agents (10.1.0.x), and tasks given as
/// (name, agent index, id suffix), all running, each with two ports.
pub fn cluster(leader: &str, agents: usize, tasks: &[(&str, usize, usize)]) -> Value {
    let slaves: Vec<Value> = (0..agents)
        .map(|i| json!({"id": format!("agent-0000-S{i}"), "pid": format!("slave(1)@10.1.{}.{}:5051", i / 250, i % 250 + 1)}))
        .collect();
    let tasks: Vec<Value> = tasks
        .iter()
        .map(|(name, agent, id)| {
            let port = 31000 + (2 * *id) % 30000;
            json!({
                "id": format!("{name}.{id:08}"), "name": name, "slave_id": format!("agent-0000-S{agent}"),
                "state": "TASK_RUNNING", "resources": {"ports": format!("[{port}-{}]", port + 1)},
                "statuses": [{"state": "TASK_RUNNING", "timestamp": 1.0}]
            })
        })
        .collect();
    json!({
        "leader": format!("master@{leader}"),
        "slaves": slaves,
        "frameworks": [{"name": "marathon", "pid": "scheduler@10.0.0.9:15101", "tasks": tasks}]
    })
}

/// `n` tasks named app0..app{n/3} spread over `agents` agents.
pub fn many_tasks(n: usize, agents: usize) -> Vec<(String, usize, usize)> {
    (0..n)
        .map(|i| (format!("app{}", i / 3), i % agents.max(1), i))
        .collect()
}

pub fn as_refs(tasks: &[(String, usize, usize)]) -> Vec<(&str, usize, usize)> {
    tasks.iter().map(|(n, a, i)| (n.as_str(), *a, *i)).collect()
}

/// One run of the binary with an empty config file (so that no
/// /etc/mesos2ns1/config.json of the machine is read) and the NS1 key in
/// the environment.
pub fn run(dir: &TempDir, args: &[&str]) -> Output {
    let config = dir.0.join("empty-config.json");
    if !config.exists() {
        std::fs::write(&config, "{}").unwrap();
    }
    Command::new(env!("CARGO_BIN_EXE_mesos2ns1"))
        .args(args)
        .arg("--config")
        .arg(&config)
        .env("NS1_APIKEY", "test-key-0123456789")
        .env_remove("MESOS2NS1_CONFIG")
        // The suites written before the hold-down expect deletes at once;
        // tests of the hold-down give --remove-after, which overrides this.
        .env("MESOS2NS1_REMOVE_AFTER", "0")
        .output()
        .unwrap()
}

/// The common arguments of a sync against the fakes.
pub fn sync_args(master: &str, endpoint: &str, state_dir: &Path) -> Vec<String> {
    vec![
        "--masters".into(),
        master.into(),
        "--zone".into(),
        "example.com".into(),
        "--domain".into(),
        "mesos.example.com".into(),
        "--ns1-endpoint".into(),
        endpoint.into(),
        "--state-dir".into(),
        state_dir.display().to_string(),
    ]
}

pub fn text(out: &Output) -> String {
    format!(
        "exit={:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The publishable record set the library generates for `state`, as
/// (name, type) → sorted answers: what a sync must leave in the zone.
pub fn expected(
    state: &Value,
    domain: &str,
) -> std::collections::BTreeMap<(String, String), Vec<String>> {
    use mesos2ns1::plan::{Ownership, publishable};
    use mesos2ns1::records::{self, GenOptions, StaticResolver};
    let body = serde_json::to_vec(state).unwrap();
    let st = records::state::parse(&body).unwrap();
    let mut set =
        records::generate(&st, &GenOptions::new(domain), &StaticResolver::default()).unwrap();
    let (recs, _) = publishable(set.records(), &Ownership::new(domain, &[]));
    recs.into_iter()
        .map(|r| ((r.name, r.rtype.to_string()), r.answers))
        .collect()
}

/// A fake master, a fake NS1 zone `example.com` and a temp dir, with runs
/// of the binary against them.
pub struct Env {
    pub master: super::fake_mesos::FakeMaster,
    pub ns1: super::fake_ns1::FakeNs1,
    pub dir: TempDir,
}

/// The ownership marker mesos2ns1 writes to claim `domain`.
pub fn marker(domain: &str) -> (String, String) {
    (format!("_mesos2ns1.{domain}"), "TXT".to_string())
}

/// The cluster id a run with `--masters <masters>` (and no `--cluster-id`)
/// claims with.
pub fn cluster_id_of(masters: &[&str]) -> String {
    let m: Vec<String> = masters.iter().map(|s| s.to_string()).collect();
    mesos2ns1::config::derive_cluster_id(&m, None, None)
}

/// The marker text of `domain` claimed by `cluster`.
pub fn marker_text(domain: &str, cluster: &str) -> String {
    format!("mesos2ns1 cluster={cluster} owns the A, AAAA and SRV records below {domain}")
}

impl Env {
    /// Fakes whose zone already carries this cluster's ownership marker of
    /// mesos.example.com, as after a first sync or `adopt` (issue 17: the
    /// marker names the cluster; the records the tests seed under it fit
    /// the cluster's names, so a new state dir's ledger knows them).
    pub fn new(tag: &str) -> Env {
        let env = Env::unclaimed(tag);
        env.ns1.insert(
            "_mesos2ns1.mesos.example.com",
            "TXT",
            3600,
            &[&marker_text("mesos.example.com", &env.cluster_id())],
        );
        env
    }

    /// The cluster id runs against this env's master claim with.
    pub fn cluster_id(&self) -> String {
        cluster_id_of(&[&self.master.addr()])
    }

    /// Fakes whose zone has never seen mesos2ns1 (first contact).
    pub fn unclaimed(tag: &str) -> Env {
        Env {
            master: super::fake_mesos::FakeMaster::start(),
            ns1: super::fake_ns1::FakeNs1::start("example.com"),
            dir: TempDir::new(tag),
        }
    }

    /// Serves a cluster state (see [`cluster`]) and returns it.
    pub fn serve(&self, agents: usize, tasks: &[(&str, usize, usize)]) -> Value {
        let s = cluster(&self.master.addr(), agents, tasks);
        self.master.set_state(s.to_string());
        s
    }

    /// The arguments of `cmd` against the fakes, then `extra`.
    pub fn args(&self, cmd: &str, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = vec![cmd.into()];
        args.extend(sync_args(
            &self.master.addr(),
            &self.ns1.endpoint(),
            &self.dir.path().join("state"),
        ));
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    pub fn run(&self, cmd: &str, extra: &[&str]) -> Output {
        let args = self.args(cmd, extra);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&self.dir, &refs)
    }
}

/// The owned part of a fake zone: A, AAAA and SRV strictly below `domain`,
/// by (name, type).
pub fn owned_records(
    ns1: &super::fake_ns1::FakeNs1,
    domain: &str,
) -> std::collections::BTreeMap<(String, String), Vec<String>> {
    let below = format!(".{domain}");
    ns1.records()
        .into_iter()
        .filter(|r| r.0.ends_with(&below) && matches!(r.1.as_str(), "A" | "AAAA" | "SRV"))
        .map(|(d, t, _, a)| ((d, t), a))
        .collect()
}

/// One run of the binary with `args` at the simulated time `now`
/// (`MESOS2NS1_TEST_NOW`), with the hold-down at its default and an empty
/// config file in `dir`.
pub fn run_args_at(dir: &TempDir, now: f64, args: &[String]) -> Output {
    let config = dir.file("at-config.json", "{}");
    Command::new(env!("CARGO_BIN_EXE_mesos2ns1"))
        .args(args)
        .arg("--config")
        .arg(&config)
        .env("NS1_APIKEY", "test-key-0123456789")
        .env("MESOS2NS1_TEST_NOW", format!("{now}"))
        .env_remove("MESOS2NS1_CONFIG")
        .env_remove("MESOS2NS1_REMOVE_AFTER")
        .output()
        .unwrap()
}
