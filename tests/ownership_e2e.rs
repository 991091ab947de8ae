//! Issue 17 end to end: the tool deletes and changes only what it
//! published for its own cluster. Each test asserts on the zone and on
//! the fake NS1's request log.

mod support;

use support::fake_mesos::FakeMaster;
use support::fake_ns1::{FakeNs1, Fault, Request};
use support::harness::*;

const DOMAIN: &str = "mesos.example.com";
const T0: f64 = 1_800_000_000.0;

/// Writes (PUT, POST, DELETE) in a request log.
fn writes(log: &[Request]) -> Vec<&Request> {
    log.iter()
        .filter(|r| matches!(r.method.as_str(), "PUT" | "POST" | "DELETE"))
        .collect()
}

/// A second cluster writing into the same fake NS1: its own master, state
/// dir and args.
struct Other {
    master: FakeMaster,
    dir: TempDir,
}

impl Other {
    fn new(tag: &str) -> Other {
        Other {
            master: FakeMaster::start(),
            dir: TempDir::new(tag),
        }
    }

    fn serve(&self, agents: usize, tasks: &[(&str, usize, usize)]) -> serde_json::Value {
        let s = cluster(&self.master.addr(), agents, tasks);
        self.master.set_state(s.to_string());
        s
    }

    fn run(
        &self,
        ns1: &FakeNs1,
        now: f64,
        domain: &str,
        cmd: &str,
        extra: &[&str],
    ) -> std::process::Output {
        let mut args: Vec<String> = vec![cmd.into()];
        args.extend(sync_args(
            &self.master.addr(),
            &ns1.endpoint(),
            &self.dir.path().join("state"),
        ));
        let i = args.iter().position(|a| a == "--domain").unwrap();
        args[i + 1] = domain.to_string();
        args.extend(extra.iter().map(|s| s.to_string()));
        run_args_at(&self.dir, now, &args)
    }
}

fn markers(ns1: &FakeNs1, domain: &str) -> Vec<Vec<String>> {
    ns1.records()
        .into_iter()
        .filter(|r| r.0 == format!("_mesos2ns1.{domain}") && r.1 == "TXT")
        .map(|r| r.3)
        .collect()
}

/// Two clusters, one domain: whichever claims first keeps it; the other
/// writes nothing at all (no creates either), exits 5 and says why, run
/// after run, in both orders.
#[test]
fn two_clusters_on_one_domain_the_second_writes_nothing_in_both_orders() {
    for first_is_a in [true, false] {
        let ns1 = FakeNs1::start("example.com");
        let a = Other::new("two-a");
        let b = Other::new("two-b");
        let sa = a.serve(2, &[("web", 0, 1), ("api", 1, 2)]);
        let sb = b.serve(3, &[("web", 0, 7), ("db", 2, 8)]);
        let (winner, loser, won) = if first_is_a {
            (&a, &b, &sa)
        } else {
            (&b, &a, &sb)
        };
        let out = winner.run(&ns1, T0, DOMAIN, "sync", &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let zone = owned_records(&ns1, DOMAIN);
        assert_eq!(zone, expected(won, DOMAIN));
        for i in 0..4 {
            ns1.clear_log();
            let out = loser.run(
                &ns1,
                T0 + 60.0 * (i as f64 + 1.0),
                DOMAIN,
                "sync",
                &["--settle", "0", "--remove-after", "0"],
            );
            assert_eq!(out.status.code(), Some(5), "{}", text(&out));
            let said = String::from_utf8_lossy(&out.stdout);
            assert!(
                said.contains("claimed by another cluster") && said.contains("--cluster-id"),
                "{said}"
            );
            assert!(writes(&ns1.log()).is_empty(), "{:#?}", ns1.log());
            // The winner keeps running: nothing of its records moves.
            let out = winner.run(
                &ns1,
                T0 + 60.0 * (i as f64 + 1.0) + 1.0,
                DOMAIN,
                "sync",
                &["--settle", "0", "--remove-after", "0"],
            );
            assert_eq!(out.status.code(), Some(0), "{}", text(&out));
            assert_eq!(owned_records(&ns1, DOMAIN), zone);
        }
        assert_eq!(markers(&ns1, DOMAIN).len(), 1);
    }
}

/// Nested domains: A on mesos.example.com, B on staging.mesos.example.com.
/// A never deletes (nor lists for adopt) anything at or below B's marker,
/// in both orders.
#[test]
fn nested_domains_bound_ownership_in_both_orders() {
    let staging = format!("staging.{DOMAIN}");
    for a_first in [true, false] {
        let ns1 = FakeNs1::start("example.com");
        let a = Other::new("nest-a");
        let b = Other::new("nest-b");
        let sa = a.serve(2, &[("web", 0, 1)]);
        let sb = b.serve(2, &[("db", 0, 5), ("db", 1, 6)]);
        let order: [(&Other, &str); 2] = if a_first {
            [(&a, DOMAIN), (&b, staging.as_str())]
        } else {
            [(&b, staging.as_str()), (&a, DOMAIN)]
        };
        for (who, dom) in order {
            let out = who.run(&ns1, T0, dom, "sync", &[]);
            assert_eq!(out.status.code(), Some(0), "{dom}: {}", text(&out));
        }
        let b_records = owned_records(&ns1, &staging);
        assert_eq!(b_records, expected(&sb, &staging));
        ns1.clear_log();
        for i in 1..5 {
            let out = a.run(
                &ns1,
                T0 + 300.0 * i as f64,
                DOMAIN,
                "sync",
                &["--settle", "0", "--remove-after", "0"],
            );
            assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        }
        assert!(writes(&ns1.log()).is_empty(), "{:#?}", ns1.log());
        assert_eq!(owned_records(&ns1, &staging), b_records);
        // A's own records are right, B's are not A's.
        let a_zone: std::collections::BTreeMap<_, _> = owned_records(&ns1, DOMAIN)
            .into_iter()
            .filter(|((n, _), _)| !n.ends_with(&staging))
            .collect();
        assert_eq!(a_zone, expected(&sa, DOMAIN));
        let out = a.run(&ns1, T0 + 2000.0, DOMAIN, "adopt", &[]);
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("staging"),
            "{}",
            text(&out)
        );
    }
}

/// Domain = zone: records people add after the claim are never deleted by
/// a sync, are listed in a warning on every run, and go with adopt --yes.
#[test]
fn records_added_after_the_claim_are_left_alone_and_warned() {
    let env = Env::unclaimed("after-claim");
    env.serve(2, &[("web", 0, 1)]);
    let mut args = env.args("sync", &["--remove-after", "0", "--settle", "0"]);
    let i = args.iter().position(|a| a == "--domain").unwrap();
    args[i + 1] = "example.com".into();
    let out = run_args_at(&env.dir, T0, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(markers(&env.ns1, "example.com").len(), 1);
    env.ns1.insert("www.example.com", "A", 300, &["192.0.2.80"]);
    env.ns1
        .insert("mail.example.com", "A", 300, &["192.0.2.25"]);
    env.ns1.insert(
        "_sip._tcp.example.com",
        "SRV",
        300,
        &["0 1 5060 mail.example.com"],
    );
    env.ns1.clear_log();
    for k in 1..6 {
        let out = run_args_at(&env.dir, T0 + 600.0 * k as f64, &args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains("3 records under example.com were not published")
                && said.contains("foreign=3"),
            "{said}"
        );
    }
    assert!(writes(&env.ns1.log()).is_empty(), "{:#?}", env.ns1.log());
    for n in ["www.example.com", "mail.example.com"] {
        assert!(env.ns1.records().iter().any(|r| r.0 == n));
    }
    // adopt lists them; adopt --yes removes exactly those.
    let mut adopt = args.clone();
    adopt[0] = "adopt".into();
    let out = run_args_at(&env.dir, T0 + 4000.0, &adopt);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("delete www.example.com A"));
    adopt.push("--yes".into());
    let out = run_args_at(&env.dir, T0 + 4001.0, &adopt);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!env.ns1.records().iter().any(|r| r.0 == "www.example.com"));
}

/// A DELETE whose reply is lost, with the record put back by another
/// writer before the retry: the retry reads the record and leaves it.
#[test]
fn a_lost_delete_reply_with_a_re_create_in_between_leaves_the_new_record() {
    let env = Env::unclaimed("lost-delete");
    env.serve(2, &[("web", 0, 1), ("job", 1, 2)]);
    assert_eq!(env.run("sync", &[]).status.code(), Some(0));
    env.serve(2, &[("web", 0, 1)]);
    let name = format!("job.marathon.{DOMAIN}");
    env.ns1
        .fail_matching("DELETE", &format!("/{name}/A"), Fault::LoseReply, 1);
    env.ns1.after_lost_reply_insert(&name, "A", &["192.0.2.99"]);
    env.ns1.clear_log();
    let out = env.run("sync", &["--max-change-percent", "100"]);
    let recs = env.ns1.records();
    let kept = recs.iter().find(|r| r.0 == name && r.1 == "A");
    assert_eq!(
        kept.map(|r| r.3.clone()),
        Some(vec!["192.0.2.99".to_string()]),
        "{}",
        text(&out)
    );
    let log = env.ns1.log();
    let on_it: Vec<(&str, u16)> = log
        .iter()
        .filter(|r| r.path.ends_with(&format!("/{name}/A")))
        .map(|r| (r.method.as_str(), r.status))
        .collect();
    assert_eq!(on_it, vec![("DELETE", 0), ("GET", 200)], "{}", text(&out));
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
}

/// A marker someone deleted is written again by the cluster that owns
/// the domain, and pending removals proceed, without adopt.
#[test]
fn a_deleted_marker_comes_back_and_removals_proceed() {
    let env = Env::unclaimed("lost-marker");
    env.serve(2, &[("web", 0, 1), ("job", 1, 2)]);
    assert_eq!(env.run("sync", &[]).status.code(), Some(0));
    assert!(env.ns1.remove(&format!("_mesos2ns1.{DOMAIN}"), "TXT"));
    let state = env.serve(2, &[("web", 0, 1)]);
    env.ns1.clear_log();
    let out = env.run("sync", &["--max-change-percent", "100"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned_records(&env.ns1, DOMAIN), expected(&state, DOMAIN));
    let m = markers(&env.ns1, DOMAIN);
    assert_eq!(m, vec![vec![marker_text(DOMAIN, &env.cluster_id())]]);
    let log = env.ns1.log();
    let w = writes(&log);
    assert!(
        w[0].method == "PUT" && w[0].path.contains("_mesos2ns1"),
        "{w:#?}"
    );
    assert!(w.iter().any(|r| r.method == "DELETE"), "{w:#?}");
}

/// An upgrade from 0.2.0: its marker (no cluster) and its state dir. The
/// first run converges without any operator command: one marker, naming
/// the cluster; the stale record 0.2.0's clocks knew goes; a record 0.2.0
/// would have deleted too but that is not the cluster's is kept.
#[test]
fn an_upgrade_from_0_2_0_converges_with_one_marker() {
    let env = Env::unclaimed("upgrade-020");
    env.ns1.insert(
        &format!("_mesos2ns1.{DOMAIN}"),
        "TXT",
        3600,
        &[&format!(
            "mesos2ns1 owns the A, AAAA and SRV records below {DOMAIN}"
        )],
    );
    let old = cluster(&env.master.addr(), 2, &[("web", 0, 1), ("job", 1, 2)]);
    for ((n, t), a) in expected(&old, DOMAIN) {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        env.ns1.insert(&n, &t, 60, &a);
    }
    env.ns1
        .insert(&format!("hand.{DOMAIN}"), "A", 300, &["192.0.2.7"]);
    // 0.2.0's state dir: its memory and clocks files.
    let state_dir = env.dir.path().join("state");
    std::fs::create_dir_all(&state_dir).unwrap();
    std::fs::write(
        state_dir.join("memory.json"),
        r#"{"last_good":{"agents":2,"running_tasks":2},"samples":[]}"#,
    )
    .unwrap();
    std::fs::write(
        state_dir.join("holddown.json"),
        format!(r#"{{"observed":{},"records":{{}}}}"#, T0 - 60.0),
    )
    .unwrap();
    let state = env.serve(2, &[("web", 0, 1)]);
    let mut args = env.args("sync", &["--max-change-percent", "100"]);
    args.push("--remove-after".into());
    args.push("60".into());
    let out = run_args_at(&env.dir, T0, &args);
    assert!(matches!(out.status.code(), Some(0)), "{}", text(&out));
    assert_eq!(
        markers(&env.ns1, DOMAIN),
        vec![vec![marker_text(DOMAIN, &env.cluster_id())]]
    );
    let out = run_args_at(&env.dir, T0 + 120.0, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut want = expected(&state, DOMAIN);
    want.insert(
        (format!("hand.{DOMAIN}"), "A".into()),
        vec!["192.0.2.7".into()],
    );
    assert_eq!(owned_records(&env.ns1, DOMAIN), want);
    // One marker, never two: the upgrade replaced 0.2.0's answer.
    assert_eq!(markers(&env.ns1, DOMAIN).len(), 1);
}
