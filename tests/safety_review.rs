//! Adversarial review of the safety model: sequences of inputs that must
//! neither delete wrongly, nor lock the tool up, nor lose its state files.
//! The real binary against the fake Mesos master and the fake NS1 zone.

mod support;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::harness::*;

const DOMAIN: &str = "mesos.example.com";

/// `env.run`, but killed after `limit`: a run that hangs fails the test
/// instead of hanging the suite. `None`: it was killed.
fn run_within(env: &Env, cmd: &str, extra: &[&str], limit: Duration) -> Option<Output> {
    let config = env.dir.path().join("empty-config.json");
    if !config.exists() {
        std::fs::write(&config, "{}").unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_mesos2ns1"))
        .args(env.args(cmd, extra))
        .arg("--config")
        .arg(&config)
        .env("NS1_APIKEY", "test-key-0123456789")
        .env_remove("MESOS2NS1_CONFIG")
        .env("MESOS2NS1_REMOVE_AFTER", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn owned_names(env: &Env) -> Vec<String> {
    env.ns1
        .records()
        .into_iter()
        .filter(|r| r.0.ends_with(&format!(".{DOMAIN}")) && r.1 != "TXT")
        .map(|r| format!("{} {}", r.0, r.1))
        .collect()
}

/// A FIFO planted in the state dir (by anyone who can write there) in
/// place of a state file must not hang the run: opening it for reading
/// blocks until a writer comes, before any check of the file's type, and
/// the hung run would hold the lock, so every later run would say
/// "another run holds the lock; nothing to do" and publish nothing.
#[cfg(unix)]
#[test]
fn a_fifo_in_the_state_dir_does_not_hang_the_run() {
    for name in ["holddown.json", "memory.json", "lock"] {
        let env = Env::new(&format!("fifo-{name}"));
        env.serve(2, &as_refs(&many_tasks(6, 2)));
        let state = env.dir.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        let fifo = state.join(name);
        let st = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(st.success());
        let out = run_within(&env, "sync", &["--deadline", "20"], Duration::from_secs(30))
            .unwrap_or_else(|| panic!("{name}: the run hung on a FIFO"));
        let code = out.status.code();
        if name == "lock" {
            // No lock, no run: a clear error.
            assert_eq!(code, Some(2), "{name}: {}", text(&out));
        } else {
            // A damaged state file: additions still go, removals held.
            assert_eq!(code, Some(3), "{name}: {}", text(&out));
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("not a regular file"),
                "{name}: {}",
                text(&out)
            );
            assert!(!owned_names(&env).is_empty(), "{name}: nothing published");
        }
    }
}

const T0: f64 = 1_800_000_000.0;

type Zone = std::collections::BTreeMap<(String, String), Vec<String>>;

/// One run at `now` with the real defaults (hold-down 120 s, window
/// 3600 s, settle 900 s, 30%).
fn run_at(env: &Env, now: f64, cmd: &str, extra: &[&str]) -> Output {
    run_args_at(&env.dir, now, &env.args(cmd, extra))
}

fn owned(env: &Env) -> Zone {
    owned_records(&env.ns1, DOMAIN)
}

fn fast_env(tag: &str) -> Env {
    let env = Env::new(tag);
    for method in ["PUT", "POST", "DELETE"] {
        env.ns1.set_bucket(method, 100_000, 1.0);
    }
    env
}

/// The failover scenario with a partial state under the share:
/// after a master failover one agent of six (17% of the records, under
/// the 30% share) re-registers only after 8 minutes. Its tasks are live
/// all along; their records are deleted after the 120 s hold-down and
/// re-created 6 minutes later. The checks never see it: the loss stays
/// under the share, and the hold-down is shorter than Mesos's agent
/// re-registration timeout (10 min). Telling a failover's partial state
/// apart (the state's `elected_time`, a leader change) would hold such
/// removals for --settle; that is a design change, left to the issue.
#[test]
fn a_small_failover_partial_state_deletes_nothing() {
    let env = fast_env("small-failover");
    // Six services, each with its three tasks on one agent.
    let tasks: Vec<(String, usize, usize)> = (0..18)
        .map(|i| (format!("svc{}", i / 3), i / 3, i))
        .collect();
    env.serve(6, &as_refs(&tasks));
    let mut t = T0;
    for _ in 0..3 {
        assert_eq!(run_at(&env, t, "sync", &[]).status.code(), Some(0));
        t += 60.0;
    }
    let full = owned(&env);
    env.ns1.clear_log();
    let end = t + 480.0;
    let present: Vec<_> = tasks.iter().filter(|x| x.1 < 5).cloned().collect();
    // A new leader, elected now: Mesos's state says when.
    let elected = t;
    while t < end {
        let mut st = cluster(&env.master.addr(), 5, &as_refs(&present));
        st["elected_time"] = serde_json::json!(elected + 0.25);
        env.master.set_state(st.to_string());
        let out = run_at(&env, t, "sync", &[]);
        let now = owned(&env);
        let lost: Vec<_> = full.keys().filter(|k| !now.contains_key(*k)).collect();
        assert!(
            lost.is_empty(),
            "at +{}s: live records deleted: {lost:?}\n{}",
            t - T0,
            text(&out)
        );
        t += 60.0;
    }
    // Liveness: once the agents had their time to re-register, what is
    // still missing goes (the agent was really lost).
    let mut st = cluster(&env.master.addr(), 5, &as_refs(&present));
    st["elected_time"] = serde_json::json!(elected + 0.25);
    env.master.set_state(st.to_string());
    let t = elected + 660.0 + 1.0;
    let out = run_at(&env, t, "sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !owned(&env).contains_key(&("svc5.marathon.mesos.example.com".into(), "A".into())),
        "after the recovery the lost agent's service is still there\n{}",
        text(&out)
    );
}

/// A delete that NS1 refuses on every run (or that the deadline postpones)
/// is counted in the window once per run, as if it had been applied each
/// time: a single stuck record fills the window's share, and a later,
/// small, legitimate removal is then held for --settle.
#[test]
fn a_stuck_delete_is_not_counted_in_the_window_on_every_run() {
    let env = fast_env("stuck-delete");
    let svc = |n: usize| -> Vec<(String, usize, usize)> {
        (0..n).map(|i| (format!("svc{i}"), i % 3, i)).collect()
    };
    env.serve(3, &as_refs(&svc(10)));
    let mut t = T0;
    for _ in 0..3 {
        assert_eq!(run_at(&env, t, "sync", &[]).status.code(), Some(0));
        t += 60.0;
    }
    let total = owned(&env).len();
    // svc9 ends; one of its records cannot be deleted (NS1 answers 500).
    env.serve(3, &as_refs(&svc(9)));
    env.ns1.fail_matching(
        "DELETE",
        "/svc9.marathon.mesos.example.com/A",
        support::fake_ns1::Fault::ServerError500Json,
        100_000,
    );
    // 13 runs, each cut by a short deadline while it retries the delete
    // (failed or postponed: either way it did not happen).
    for _ in 0..13 {
        run_at(&env, t, "sync", &["--deadline", "2"]);
        t += 60.0;
    }
    assert!(
        owned(&env).contains_key(&("svc9.marathon.mesos.example.com".into(), "A".into())),
        "the fault did not hold"
    );
    // svc8 ends too: 8 of ~{total} records, well under the 30% share even
    // with svc9's records.
    env.serve(3, &as_refs(&svc(8)));
    let mut last = None;
    for _ in 0..4 {
        last = Some(run_at(&env, t, "sync", &[]));
        t += 60.0;
    }
    let left: Vec<_> = owned(&env)
        .into_keys()
        .filter(|k| k.0.contains("svc8"))
        .collect();
    assert!(
        left.is_empty(),
        "{total} owned records; svc8 still there after the hold-down: {left:?}\n{}",
        text(last.as_ref().unwrap())
    );
}

/// `adopt` shows what adopting deletes; `adopt --yes` then deletes what a
/// *new* read of the cluster says, at once, without the hold-down or the
/// mass-removal check (only the implausible-state check). If that read is
/// a failover's partial state (a third of the agents not re-registered,
/// under the "fewer than half" bound), the live services on the missing
/// agents are deleted although the preview listed only `www`. Safer:
/// adopt --yes deletes only what the preview listed (a digest of it), or
/// claims and leaves the removals to the next syncs' checks. Judgement
/// call on the "shows what adoption will delete".
#[test]
fn adopt_yes_deletes_only_what_the_preview_listed() {
    let env = Env::unclaimed("adopt-toctou");
    for method in ["PUT", "POST", "DELETE"] {
        env.ns1.set_bucket(method, 100_000, 1.0);
    }
    let tasks: Vec<(String, usize, usize)> = (0..18)
        .map(|i| (format!("svc{}", i / 3), i / 3, i))
        .collect();
    env.serve(6, &as_refs(&tasks));
    // The first sync publishes everything. (Issue 17: it claims the
    // domain at once and leaves `www`, which it did not publish, alone
    // with a warning, exit 0; before, it held it and exited 3.)
    env.ns1
        .insert("www.mesos.example.com", "A", 300, &["192.0.2.10"]);
    let mut t = T0;
    for _ in 0..3 {
        assert_eq!(run_at(&env, t, "sync", &[]).status.code(), Some(0));
        t += 60.0;
    }
    let out = run_at(&env, t, "adopt", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let preview = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        preview.contains("delete www.mesos.example.com A"),
        "{preview}"
    );
    let live = owned(&env);
    // A failover: agents 4 and 5 have not re-registered yet.
    let present: Vec<_> = tasks.iter().filter(|x| x.1 < 4).cloned().collect();
    env.serve(4, &as_refs(&present));
    t += 60.0;
    let out = run_at(&env, t, "adopt", &["--yes"]);
    let now = owned(&env);
    let lost: Vec<_> = live
        .keys()
        .filter(|k| !now.contains_key(*k) && k.0 != "www.mesos.example.com")
        .collect();
    assert!(
        lost.is_empty(),
        "not in the preview, deleted: {lost:?}\n{}",
        text(&out)
    );
}
