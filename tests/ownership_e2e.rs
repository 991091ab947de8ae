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

/// The writes of a request log on one record's path.
fn on_path<'a>(log: &'a [Request], name: &str, rtype: &str) -> Vec<&'a Request> {
    let tail = format!("/{name}/{rtype}");
    log.iter().filter(|r| r.path.ends_with(&tail)).collect()
}

/// The `created=N` of a run's summary line.
fn summary_field(out: &std::process::Output, field: &str) -> usize {
    let said = String::from_utf8_lossy(&out.stdout);
    let at = said
        .find(&format!(" {field}="))
        .unwrap_or_else(|| panic!("no {field}= in {said}"));
    said[at + field.len() + 2..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Successful record creates (PUT, 200) other than the marker.
fn record_creates(log: &[Request]) -> usize {
    log.iter()
        .filter(|r| {
            r.method == "PUT"
                && r.status == 200
                && r.path.starts_with("/v1/zones/")
                && !r.path.contains("_mesos2ns1")
        })
        .count()
}

/// A fresh state dir on a zone that already holds exactly this cluster's
/// records: they are the cluster's records and join the ledger (no
/// write but the claim); later the ones that go stale are removed like
/// any published record. A record the cluster produces with other answers
/// is a collision: left as it is, warned, exit 3, until `adopt --yes`.
#[test]
fn a_zone_holding_exactly_the_clusters_records_joins_the_ledger_a_differing_one_collides() {
    // Every record exactly as the cluster produces it.
    let env = Env::unclaimed("joined");
    let state = env.serve(2, &[("web", 0, 1), ("job", 1, 2)]);
    let want = expected(&state, DOMAIN);
    for ((n, t), a) in &want {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        env.ns1.insert(n, t, 60, &a);
    }
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let log = env.ns1.log();
    let w = writes(&log);
    assert!(
        w.len() == 1 && w[0].method == "PUT" && w[0].path.contains("_mesos2ns1"),
        "{w:#?}"
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("created=0 updated=0 deleted=0")
            && !said.contains("foreign=")
            && !said.contains("collisions="),
        "{said}"
    );
    assert!(env.dir.path().join("state/published").exists());
    assert_eq!(owned_records(&env.ns1, DOMAIN), want);
    // The next run writes nothing at all.
    env.ns1.clear_log();
    assert_eq!(env.run("sync", &[]).status.code(), Some(0));
    assert!(writes(&env.ns1.log()).is_empty(), "{:#?}", env.ns1.log());
    // They are the tool's: the ended job's records go.
    let after = env.serve(2, &[("web", 0, 1)]);
    let out = env.run("sync", &["--max-change-percent", "100"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned_records(&env.ns1, DOMAIN), expected(&after, DOMAIN));
    assert!(env.ns1.log().iter().any(|r| r.method == "DELETE"));

    // One record with other answers: a collision.
    let env = Env::unclaimed("collides");
    let state = env.serve(2, &[("web", 0, 1), ("job", 1, 2)]);
    let want = expected(&state, DOMAIN);
    let web = format!("web.marathon.{DOMAIN}");
    assert!(want.contains_key(&(web.clone(), "A".to_string())));
    for ((n, t), a) in &want {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        if *n == web && t == "A" {
            env.ns1.insert(n, t, 60, &["192.0.2.50"]);
        } else {
            env.ns1.insert(n, t, 60, &a);
        }
    }
    for k in 0..3 {
        let out = env.run("sync", &[]);
        assert_eq!(out.status.code(), Some(3), "run {k}: {}", text(&out));
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains("collisions=1")
                && said.contains(&format!("{web} A"))
                && said.contains("created=0 updated=0 deleted=0"),
            "{said}"
        );
        let log = env.ns1.log();
        let w = writes(&log);
        assert!(
            w.iter().all(|r| r.path.contains("_mesos2ns1")),
            "run {k}: {w:#?}"
        );
        env.ns1.clear_log();
    }
    let recs = env.ns1.records();
    let kept = recs.iter().find(|r| r.0 == web && r.1 == "A").unwrap();
    assert_eq!(kept.3, vec!["192.0.2.50".to_string()]);
    // adopt lists it (the change it makes), --yes makes it the cluster's.
    let out = env.run("adopt", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(&format!("update {web} A ttl 60 [192.0.2.50]")),
        "{}",
        text(&out)
    );
    assert_eq!(env.run("adopt", &["--yes"]).status.code(), Some(0));
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned_records(&env.ns1, DOMAIN), want);
}

/// `--create-zone` with a zone read that answers 404 although the zone
/// exists: the import is refused (the zone exists), nothing is counted as
/// created, and the run takes the ordinary road with every check. (a) A
/// failover's partial state: no live record is deleted, run after run.
#[test]
fn the_create_zone_lie_on_a_failover_partial_state_deletes_nothing() {
    let env = Env::unclaimed("lie-failover");
    for method in ["PUT", "POST", "DELETE"] {
        env.ns1.set_bucket(method, 100_000, 1.0);
    }
    let tasks: Vec<(String, usize, usize)> = (0..24)
        .map(|i| (format!("app{}", i / 2), i % 6, i))
        .collect();
    let refs: Vec<(&str, usize, usize)> =
        tasks.iter().map(|(n, a, i)| (n.as_str(), *a, *i)).collect();
    let full = env.serve(6, &refs);
    let mut args = env.args("sync", &["--create-zone"]);
    let mut t = T0;
    for _ in 0..3 {
        let out = run_args_at(&env.dir, t, &args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        t += 60.0;
    }
    let full_zone = owned_records(&env.ns1, DOMAIN);
    assert_eq!(full_zone, expected(&full, DOMAIN));
    // The new leader's state: half the agents (and their tasks) missing;
    // every run's zone read says 404.
    let present: Vec<(&str, usize, usize)> = refs.iter().filter(|x| x.1 < 3).cloned().collect();
    env.serve(3, &present);
    args.extend(["--remove-after".to_string(), "0".to_string()]);
    env.ns1.clear_log();
    for _ in 0..5 {
        env.ns1
            .fail_matching("GET", "/v1/zones/example.com", Fault::ZoneNotFound404, 1);
        let out = run_args_at(&env.dir, t, &args);
        assert!(
            matches!(out.status.code(), Some(0) | Some(3)),
            "{}",
            text(&out)
        );
        assert_eq!(summary_field(&out, "created"), 0, "{}", text(&out));
        assert_eq!(summary_field(&out, "deleted"), 0, "{}", text(&out));
        t += 60.0;
    }
    let log = env.ns1.log();
    let imports: Vec<u16> = log
        .iter()
        .filter(|r| r.path.starts_with("/v1/import/zonefile/"))
        .map(|r| r.status)
        .collect();
    assert_eq!(imports, vec![400; 5], "{log:#?}");
    assert!(!log.iter().any(|r| r.method == "DELETE"), "{log:#?}");
    assert_eq!(owned_records(&env.ns1, DOMAIN), full_zone);
}

/// The create-zone lie, (b): hand-made records in a zone no mesos2ns1
/// ever claimed are left untouched (one of them with a name the cluster
/// produces: a collision), and the summary counts only the records
/// really created, one by one, not the refused import.
#[test]
fn the_create_zone_lie_on_an_unclaimed_zone_leaves_hand_made_records() {
    let env = Env::unclaimed("lie-hand");
    let state = env.serve(2, &[("web", 0, 1), ("job", 1, 2)]);
    let web = format!("web.marathon.{DOMAIN}");
    let hand: Vec<(String, &str, Vec<&str>)> = vec![
        (format!("db.{DOMAIN}"), "A", vec!["192.0.2.5"]),
        (format!("ci.tools.{DOMAIN}"), "A", vec!["192.0.2.6"]),
        (
            format!("_ldap._tcp.{DOMAIN}"),
            "SRV",
            vec!["0 1 389 db.mesos.example.com"],
        ),
        (web.clone(), "A", vec!["192.0.2.50"]),
    ];
    for (n, t, a) in &hand {
        env.ns1.insert(n, t, 300, a);
    }
    env.ns1
        .fail_matching("GET", "/v1/zones/example.com", Fault::ZoneNotFound404, 1);
    let out = env.run("sync", &["--create-zone"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let log = env.ns1.log();
    let imports: Vec<u16> = log
        .iter()
        .filter(|r| r.path.starts_with("/v1/import/zonefile/"))
        .map(|r| r.status)
        .collect();
    assert_eq!(imports, vec![400], "{log:#?}");
    for (n, t, a) in &hand {
        let w: Vec<_> = on_path(&log, n, t)
            .into_iter()
            .filter(|r| r.method != "GET")
            .collect();
        assert!(w.is_empty(), "{n} {t}: {w:#?}");
        let recs = env.ns1.records();
        let r = recs.iter().find(|r| r.0 == *n && r.1 == *t).unwrap();
        assert_eq!(r.3, a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(r.2, 300);
    }
    let created = record_creates(&log);
    assert_eq!(summary_field(&out, "created"), created, "{}", text(&out));
    // Everything the cluster produces but the collision was created.
    assert_eq!(created, expected(&state, DOMAIN).len() - 1);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("foreign=3") && said.contains("collisions=1"),
        "{said}"
    );
}

/// The serial pinned while another tool changed the zone: the cached
/// listing is stale. (Linked record.) An owned record replaced by a
/// linked record, then the task ends: the run reads the zone in full
/// before it deletes anything, and leaves the linked record.
#[test]
fn a_pinned_serial_never_deletes_a_linked_record_put_in_place_of_ours() {
    let env = Env::unclaimed("pinned-linked");
    env.serve(2, &[("web", 0, 1), ("job", 1, 2)]);
    assert_eq!(env.run("sync", &[]).status.code(), Some(0));
    // A run without writes reads in full and trusts its listing as the cache.
    env.ns1.clear_log();
    assert_eq!(env.run("sync", &[]).status.code(), Some(0));
    assert!(writes(&env.ns1.log()).is_empty());
    let serial = env.ns1.serial();
    let job = format!("job.marathon.{DOMAIN}");
    env.ns1.insert_special(
        &job,
        "A",
        60,
        &["192.0.2.77"],
        Some("job.elsewhere.example.net"),
        1,
    );
    env.ns1.set_serial(serial);
    let after = env.serve(2, &[("web", 0, 1)]);
    env.ns1.clear_log();
    let out = env.run("sync", &["--max-change-percent", "100"]);
    assert!(
        matches!(out.status.code(), Some(0) | Some(3)),
        "{}",
        text(&out)
    );
    let log = env.ns1.log();
    let first_write = log
        .iter()
        .position(|r| r.method != "GET")
        .expect("the stale job records are deleted");
    let zone_reads: Vec<&str> = log[..first_write]
        .iter()
        .filter(|r| r.path == "/v1/zones/example.com")
        .map(|r| r.query.as_str())
        .collect();
    assert!(
        zone_reads.len() >= 2 && zone_reads[1..].iter().all(|q| *q != "limit=1"),
        "a full read before the first write: {zone_reads:?}"
    );
    assert!(on_path(&log, &job, "A").is_empty(), "{log:#?}");
    assert_eq!(
        env.ns1.special(&job, "A"),
        Some((Some("job.elsewhere.example.net".to_string()), 1))
    );
    // The rest of the ended job's records went.
    let mut want = expected(&after, DOMAIN);
    want.insert((job.clone(), "A".into()), vec!["192.0.2.77".into()]);
    assert_eq!(owned_records(&env.ns1, DOMAIN), want);
    assert!(log.iter().any(|r| r.method == "DELETE"));
}

/// The serial pinned (advanced record, tier 2). A create planned against
/// the cache finds an advanced record another tool made meanwhile: it
/// reads it and leaves it (never a POST over it). An owned record made
/// advanced, then the task moves: the run reads in full before it
/// updates, and leaves it.
#[test]
fn a_pinned_serial_never_overwrites_an_advanced_record() {
    let env = Env::unclaimed("pinned-advanced");
    env.serve(2, &[("web", 0, 1)]);
    assert_eq!(env.run("sync", &[]).status.code(), Some(0));
    assert_eq!(env.run("sync", &[]).status.code(), Some(0));
    // The create path: a new task's name, taken meanwhile by an advanced
    // record; the serial does not say so.
    let serial = env.ns1.serial();
    let api = format!("api.marathon.{DOMAIN}");
    env.ns1
        .insert_special(&api, "A", 30, &["192.0.2.88"], None, 2);
    env.ns1.set_serial(serial);
    env.serve(2, &[("web", 0, 1), ("api", 1, 2)]);
    env.ns1.clear_log();
    let out = env.run("sync", &[]);
    let log = env.ns1.log();
    let on_api: Vec<(&str, u16)> = on_path(&log, &api, "A")
        .iter()
        .map(|r| (r.method.as_str(), r.status))
        .collect();
    assert_eq!(on_api, vec![("PUT", 400), ("GET", 200)], "{}", text(&out));
    assert_eq!(env.ns1.special(&api, "A"), Some((None, 2)));
    let recs = env.ns1.records();
    let r = recs.iter().find(|r| r.0 == api && r.1 == "A").unwrap();
    assert_eq!((r.2, r.3.clone()), (30, vec!["192.0.2.88".to_string()]));
    // The next run reads in full (the last one wrote) and leaves it too.
    env.ns1.clear_log();
    let _ = env.run("sync", &[]);
    assert!(on_path(&env.ns1.log(), &api, "A").is_empty());

    // The update path: an owned record made advanced, the serial pinned,
    // then the task moves to the other agent.
    assert_eq!(env.run("sync", &[]).status.code(), Some(0));
    env.ns1.clear_log();
    assert_eq!(env.run("sync", &[]).status.code(), Some(0));
    assert!(writes(&env.ns1.log()).is_empty());
    let serial = env.ns1.serial();
    let web = format!("web.marathon.{DOMAIN}");
    let recs = env.ns1.records();
    let was = recs
        .iter()
        .find(|r| r.0 == web && r.1 == "A")
        .unwrap()
        .3
        .clone();
    let was: Vec<&str> = was.iter().map(String::as_str).collect();
    env.ns1.insert_special(&web, "A", 60, &was, None, 2);
    env.ns1.set_serial(serial);
    env.serve(2, &[("web", 1, 1), ("api", 1, 2)]);
    env.ns1.clear_log();
    let out = env.run("sync", &["--max-change-percent", "100"]);
    let log = env.ns1.log();
    let first_write = log.iter().position(|r| r.method != "GET");
    let zone_reads = log[..first_write.unwrap_or(log.len())]
        .iter()
        .filter(|r| r.path == "/v1/zones/example.com" && r.query != "limit=1")
        .count();
    assert!(zone_reads >= 1, "{}\n{log:#?}", text(&out));
    assert!(on_path(&log, &web, "A").is_empty(), "{}", text(&out));
    assert_eq!(env.ns1.special(&web, "A"), Some((None, 2)));
    let recs = env.ns1.records();
    let r = recs.iter().find(|r| r.0 == web && r.1 == "A").unwrap();
    assert_eq!(r.3, was.iter().map(|s| s.to_string()).collect::<Vec<_>>());
}

/// An upgrade from 0.2.0 racing another cluster's claim: the listing (the
/// cache, its serial pinned) still shows 0.2.0's marker, but another
/// cluster has put its own claim there since. The run reads the marker
/// again right before upgrading it, finds the other claim, writes
/// nothing at all and exits 5.
#[test]
fn a_0_2_0_marker_replaced_by_another_claim_since_the_listing_is_not_overwritten() {
    let env = Env::unclaimed("upgrade-race");
    let name = format!("_mesos2ns1.{DOMAIN}");
    env.ns1.insert(
        &name,
        "TXT",
        3600,
        &[&format!(
            "mesos2ns1 owns the A, AAAA and SRV records below {DOMAIN}"
        )],
    );
    let state = env.serve(2, &[("web", 0, 1)]);
    for ((n, t), a) in expected(&state, DOMAIN) {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        env.ns1.insert(&n, &t, 60, &a);
    }
    // 0.2.0's state dir.
    let state_dir = env.dir.path().join("state");
    std::fs::create_dir_all(&state_dir).unwrap();
    std::fs::write(
        state_dir.join("memory.json"),
        r#"{"last_good":{"agents":2,"running_tasks":1},"samples":[]}"#,
    )
    .unwrap();
    // `plan` reads the zone in full and keeps the listing as the cache.
    let out = env.run("plan", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let serial = env.ns1.serial();
    let theirs = marker_text(DOMAIN, "prod-east");
    env.ns1.insert(&name, "TXT", 3600, &[&theirs]);
    env.ns1.set_serial(serial);
    env.ns1.clear_log();
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("prod-east"), "{}", text(&out));
    let log = env.ns1.log();
    assert!(writes(&log).is_empty(), "{log:#?}");
    let on_marker: Vec<&str> = on_path(&log, &name, "TXT")
        .iter()
        .map(|r| r.method.as_str())
        .collect();
    assert_eq!(on_marker, vec!["GET"]);
    assert_eq!(markers(&env.ns1, DOMAIN), vec![vec![theirs]]);
}
