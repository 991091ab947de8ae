//! Issue 19, item 3: the tool reads back every `holddown.json` it writes,
//! and a clocks file it cannot read is rebuilt: removals are held for one
//! settle period at most, then the runs go on.

mod support;

use mesos2ns1::plan::Clocks;
use mesos2ns1::state_dir::{self, MAX_STATE_FILE, holddown};
use std::process::Output;
use support::harness::*;

const DOMAIN: &str = "mesos.example.com";
const T0: f64 = 1_800_000_000.0;

fn run_at(env: &Env, now: f64, cmd: &str, extra: &[&str]) -> Output {
    run_args_at(&env.dir, now, &env.args(cmd, extra))
}

fn deletes(env: &Env) -> usize {
    env.ns1
        .log()
        .iter()
        .filter(|r| r.method == "DELETE")
        .count()
}

/// The clocks after every task of a `tasks`-task cluster restarted
/// elsewhere, all at once and all held by the mass-removal check: each
/// task's two per-instance A records, and the answers it gave its service
/// names (two ports: `_N._tcp`/`_N._udp` under `fw.D` and `fw.slave.D`,
/// and its agent's address under `N.fw.D` and `N.fw.slave.D`).
fn all_moved(tasks: usize) -> Clocks {
    let mut c = Clocks {
        observed: Some(T0),
        intervals: vec![60.0; 8],
        ..Clocks::default()
    };
    let t = T0 - 30.0;
    for i in 0..tasks {
        let n = format!("app-{:05}", i / 3);
        let c_label = format!("{n}-{}-s{}", &format!("{:05x}", i * 7919)[..5], i % 997);
        let fw = "marathon";
        let ip = format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
        let mut keys = vec![
            format!("{c_label}.{fw}.{DOMAIN} A"),
            format!("{c_label}.{fw}.slave.{DOMAIN} A"),
        ];
        for k in &keys {
            c.records.insert(k.as_str().into(), t);
        }
        for port in [31000 + (i % 30000), 31001 + (i % 30000)] {
            for proto in ["_tcp", "_udp"] {
                for under in ["", "slave."] {
                    keys.push(format!(
                        "_{n}.{proto}.{fw}.{under}{DOMAIN} SRV 0 1 {port} {c_label}.{fw}.slave.{DOMAIN}"
                    ));
                }
            }
        }
        for under in ["", "slave."] {
            keys.push(format!("{n}.{fw}.{under}{DOMAIN} A {ip}"));
        }
        for k in &keys[2..] {
            c.answers.insert(k.as_str().into(), t);
        }
        for k in keys {
            c.held.insert(k.into(), "mass-removal".into());
        }
    }
    c
}

/// Bytes serde_json writes, without keeping them.
struct Count(usize);
impl std::io::Write for Count {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len();
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_largest_clocks_file_the_tool_writes_reads_back() {
    let clocks = all_moved(110_000);
    let mut old = Count(0);
    serde_json::to_writer(&mut old, &clocks).unwrap();
    let dir = TempDir::new("clocks-110k");
    state_dir::save_clocks(dir.path(), &clocks, None).unwrap();
    let size = std::fs::metadata(dir.path().join(state_dir::CLOCKS_FILE))
        .unwrap()
        .len();
    eprintln!(
        "110,000 tasks all moved: {} records, {} answers held; 0.2.0 form {} bytes, format 2 {size} bytes, read limit {MAX_STATE_FILE}",
        clocks.records.len(),
        clocks.answers.len(),
        old.0
    );
    assert!(
        size < MAX_STATE_FILE / 2,
        "{size} bytes: not within half the read limit"
    );
    assert!(size * 2 < old.0 as u64, "{size} vs {}", old.0);
    let (back, rebuilt) = state_dir::load_clocks(dir.path()).unwrap();
    assert_eq!(rebuilt, None);
    assert!(back == clocks, "the clocks read back differ");
    // The same clocks in the 0.2.0 form still load.
    let v1 = serde_json::to_vec(&all_moved(1000)).unwrap();
    assert!(holddown::decode(&v1).unwrap().0 == all_moved(1000));
}

#[test]
fn an_oversized_clocks_file_holds_removals_for_one_settle_period_then_runs_go_on() {
    let env = Env::new("clocks-oversized");
    let tasks = many_tasks(12, 3);
    env.serve(3, &as_refs(&tasks));
    let out = run_at(&env, T0, "sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // One app goes, and a file one byte over the read limit is planted.
    let fewer: Vec<_> = tasks.iter().filter(|x| x.0 != "app1").cloned().collect();
    let state = env.serve(3, &as_refs(&fewer));
    let path = env.dir.path().join("state").join(state_dir::CLOCKS_FILE);
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(MAX_STATE_FILE + 1).unwrap();
    drop(f);
    let t = T0 + 60.0;
    let out = run_at(&env, t, "sync", &["--settle", "300"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is larger than") && err.contains("moved to holddown.json.damaged"),
        "{err}"
    );
    assert_eq!(deletes(&env), 0);
    // The rebuilt file is small and read by the next runs.
    assert!(std::fs::metadata(&path).unwrap().len() < 100_000);
    let out = run_at(&env, t + 240.0, "sync", &["--settle", "300"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(deletes(&env), 0);
    // One settle period after the rebuild, the removals go.
    let out = run_at(&env, t + 300.0, "sync", &["--settle", "300"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(deletes(&env) > 0);
    assert_eq!(owned_records(&env.ns1, DOMAIN), expected(&state, DOMAIN));
}
