//! Issue 22 end to end: `sync --reverse-zone` publishes the cluster's PTR
//! records in reverse zones shared with the network's own PTRs and NS,
//! claims each zone, removes PTRs through the hold-down, and never touches
//! a record it did not publish. Assertions are on the fake NS1's zones and
//! request log.

mod support;

use support::fake_ns1::Request;
use support::harness::*;

const T0: f64 = 1_800_000_000.0;
const REV: &str = "1.10.in-addr.arpa";
const REV2: &str = "168.192.in-addr.arpa";

type Rec = (String, String, u32, Vec<String>);

fn writes(log: &[Request]) -> Vec<&Request> {
    log.iter()
        .filter(|r| matches!(r.method.as_str(), "PUT" | "POST" | "DELETE"))
        .collect()
}

/// The records of `zone` that are not mesos2ns1's (its marker and the
/// PTRs it may publish at the given names excepted).
fn foreign(records: &[Rec], ours: &[&str]) -> Vec<Rec> {
    records
        .iter()
        .filter(|r| !r.0.starts_with("_mesos2ns1.") && !ours.contains(&r.0.as_str()))
        .cloned()
        .collect()
}

fn ptr(records: &[Rec], name: &str) -> Option<Vec<String>> {
    records
        .iter()
        .find(|r| r.0 == name && r.1 == "PTR")
        .map(|r| r.3.clone())
}

/// Two reverse zones, seeded with the network's PTRs, NS and TXT.
fn seeded(tag: &str) -> Env {
    let env = Env::new(tag);
    env.ns1.add_zone(REV);
    env.ns1.add_zone(REV2);
    // Unrelated hosts, a delegation, a TXT, and the PTR of agent 3's own
    // address (where the `cache` task, on the host network, would go).
    env.ns1.insert(
        "9.0.1.10.in-addr.arpa",
        "PTR",
        3600,
        &["printer.corp.example.com"],
    );
    env.ns1.insert(
        "3.0.1.10.in-addr.arpa",
        "PTR",
        3600,
        &["agent3.corp.example.com"],
    );
    env.ns1
        .insert("7.1.10.in-addr.arpa", "NS", 3600, &["ns1.corp.example.com"]);
    env.ns1.insert(
        "note.1.10.in-addr.arpa",
        "TXT",
        3600,
        &["kept by the network team"],
    );
    env.ns1.insert(
        "5.1.168.192.in-addr.arpa",
        "PTR",
        3600,
        &["host.corp.example.com"],
    );
    env
}

fn sync_at(env: &Env, now: f64) -> std::process::Output {
    let args = env.args(
        "sync",
        &[
            "--reverse-zone",
            REV,
            "--reverse-zone",
            REV2,
            "--remove-after",
            "60",
        ],
    );
    run_args_at(&env.dir, now, &args)
}

const WEB: &str = "1.0.1.10.in-addr.arpa";
const SHARED: &str = "2.0.1.10.in-addr.arpa";

#[test]
fn sync_publishes_ptrs_beside_the_networks_records_and_removes_only_its_own() {
    let env = seeded("ptr-e2e");
    // Two instances of web on agent 0 (one name: its PTR is served), api
    // and db on agent 1 (two names: none), cache on agent 2 (its address
    // holds the network's PTR of the agent).
    env.serve(
        3,
        &[
            ("web", 0, 1),
            ("web", 0, 2),
            ("api", 1, 3),
            ("db", 1, 4),
            ("cache", 2, 5),
            ("cache", 2, 6),
            ("cache", 2, 7),
            ("cache", 2, 8),
            ("cache", 2, 9),
            ("cache", 2, 10),
            ("cache", 2, 11),
            ("cache", 2, 12),
            ("cache", 2, 13),
            ("cache", 2, 14),
            ("cache", 2, 15),
        ],
    );
    let rev_before = env.ns1.zone_records(REV);
    let rev2_before = env.ns1.zone_records(REV2);
    let out = sync_at(&env, T0);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ptr_desired=2 ptr_created=1"), "{stdout}");
    assert!(stdout.contains("ptr_ambiguous=1"), "{stdout}");
    assert!(stdout.contains("ptr_kept=1"), "{stdout}");
    let rev = env.ns1.zone_records(REV);
    assert_eq!(
        ptr(&rev, WEB),
        Some(vec!["web.marathon.mesos.example.com".to_string()])
    );
    assert_eq!(ptr(&rev, SHARED), None, "ambiguous: no PTR");
    // Both zones are claimed by this cluster.
    let marker = |recs: &[Rec], zone: &str| {
        recs.iter()
            .find(|r| r.0 == format!("_mesos2ns1.{zone}") && r.1 == "TXT")
            .map(|r| r.3.clone())
    };
    let m = marker(&rev, REV).expect("marker in the reverse zone");
    assert!(
        m[0].contains(&format!("cluster={}", env.cluster_id())),
        "{m:?}"
    );
    assert!(marker(&env.ns1.zone_records(REV2), REV2).is_some());
    // The network's records are as they were.
    assert_eq!(foreign(&rev, &[WEB]), rev_before);
    assert_eq!(foreign(&env.ns1.zone_records(REV2), &[]), rev2_before);
    // Every write in a reverse zone is the marker or the web PTR.
    let log = env.ns1.log();
    for w in writes(&log)
        .iter()
        .filter(|w| w.path.contains("in-addr.arpa"))
    {
        assert!(
            w.path.contains("/_mesos2ns1.") || w.path.ends_with(&format!("/{WEB}/PTR")),
            "unexpected write {} {}",
            w.method,
            w.path
        );
    }
    // PTR writes come after every forward write of the run.
    let last_forward = log
        .iter()
        .rposition(|r| r.method != "GET" && r.path.contains("/example.com/"))
        .unwrap();
    let first_ptr = log
        .iter()
        .position(|r| r.method != "GET" && r.path.ends_with("/PTR"))
        .unwrap();
    assert!(
        last_forward < first_ptr,
        "a PTR was written before a forward record"
    );

    // A rerun makes no write at all.
    env.ns1.clear_log();
    let out = sync_at(&env, T0 + 10.0);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(writes(&env.ns1.log()).is_empty(), "{:?}", env.ns1.log());

    // db dies: api alone claims agent 1's address, and its PTR appears.
    // web dies: its PTR waits for the hold-down, then goes.
    let mut left = vec![("api", 1, 3)];
    left.extend((5..16).map(|i| ("cache", 2, i)));
    env.serve(3, &left);
    let out = sync_at(&env, T0 + 20.0);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ptr_waiting=1"), "{stdout}");
    let rev = env.ns1.zone_records(REV);
    assert_eq!(
        ptr(&rev, SHARED),
        Some(vec!["api.marathon.mesos.example.com".to_string()])
    );
    assert!(ptr(&rev, WEB).is_some(), "deleted before the hold-down");
    env.ns1.clear_log();
    let out = sync_at(&env, T0 + 100.0);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let rev = env.ns1.zone_records(REV);
    assert_eq!(ptr(&rev, WEB), None, "web's PTR stayed after the hold-down");
    let deletes: Vec<String> = writes(&env.ns1.log())
        .iter()
        .filter(|w| w.method == "DELETE" && w.path.contains("in-addr.arpa"))
        .map(|w| w.path.clone())
        .collect();
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    assert!(deletes[0].ends_with(&format!("/{WEB}/PTR")));
    // Still, nothing of the network's was touched.
    assert_eq!(foreign(&rev, &[WEB, SHARED]), rev_before);
    assert_eq!(foreign(&env.ns1.zone_records(REV2), &[]), rev2_before);
}

#[test]
fn another_clusters_reverse_zone_is_left_alone_and_the_run_exits_5() {
    let env = seeded("ptr-claimed");
    env.ns1.insert(
        "_mesos2ns1.1.10.in-addr.arpa",
        "TXT",
        3600,
        &["mesos2ns1 cluster=someone-else owns the PTR records it published in 1.10.in-addr.arpa"],
    );
    env.serve(2, &[("web", 0, 1)]);
    let before = env.ns1.zone_records(REV);
    let out = sync_at(&env, T0);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ptr_zones_claimed=1"), "{stdout}");
    assert!(stdout.contains("reverse zone 1.10.in-addr.arpa is claimed by another cluster"));
    assert_eq!(env.ns1.zone_records(REV), before);
    // The forward domain was synced all the same.
    let owned = owned_records(&env.ns1, "mesos.example.com");
    assert!(owned.contains_key(&(
        "web.marathon.mesos.example.com".to_string(),
        "A".to_string()
    )));
}

#[test]
fn a_state_without_agents_deletes_no_ptr() {
    let env = seeded("ptr-burst");
    env.serve(2, &[("web", 0, 1), ("api", 1, 2)]);
    let out = sync_at(&env, T0);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        env.ns1
            .zone_records(REV)
            .iter()
            .filter(|r| r.1 == "PTR")
            .count(),
        4
    );
    // A burst the domain's mass-removal check holds: the zone's two PTRs
    // are below the share's minimum, and still no PTR goes.
    env.serve(2, &[("other", 1, 3)]);
    let _ = sync_at(&env, T0 + 10.0);
    let out = sync_at(&env, T0 + 500.0);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        ptr(&env.ns1.zone_records(REV), WEB).is_some(),
        "{}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("PTR removals wait"),
        "{}",
        text(&out)
    );
    // The master loses every agent: a burst the checks hold, long after
    // the hold-down.
    env.serve(0, &[]);
    let _ = sync_at(&env, T0 + 510.0);
    let out = sync_at(&env, T0 + 1000.0);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let rev = env.ns1.zone_records(REV);
    assert!(ptr(&rev, WEB).is_some(), "{}", text(&out));
    assert!(ptr(&rev, SHARED).is_some(), "{}", text(&out));
}

#[test]
fn plan_and_check_report_the_reverse_zones_and_never_create_one() {
    let env = Env::new("ptr-plan");
    env.ns1.add_zone(REV);
    env.serve(1, &[("web", 0, 1)]);
    let args = ["--reverse-zone", REV, "--reverse-zone", REV2];
    let out = env.run("check", &args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("never creates reverse zones"),
        "{}",
        text(&out)
    );
    let out = env.run("check", &args[..2]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not claimed yet"));
    let out = env.run("plan", &args[..2]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("create {WEB} PTR")), "{stdout}");
    assert!(writes(&env.ns1.log()).is_empty());
    // sync --create-zone: the missing reverse zone is said, not created.
    let out = env.run("sync", &["--reverse-zone", REV2, "--create-zone"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("never creates reverse zones"),
        "{}",
        text(&out)
    );
    assert!(
        !env.ns1
            .log()
            .iter()
            .any(|r| r.method == "PUT" && r.path.contains(REV2))
    );
}
