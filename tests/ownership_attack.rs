//! Issue 17, attacked: sequences that tried to make the tool delete or
//! change what is not its own, or lock itself up. Each asserts on the
//! zone and on the fake NS1's request log.

mod support;

use support::fake_ns1::Request;
use support::harness::*;

const DOMAIN: &str = "mesos.example.com";
const T0: f64 = 1_800_000_000.0;

/// Writes (PUT, POST, DELETE) in a request log.
fn writes(log: &[Request]) -> Vec<&Request> {
    log.iter()
        .filter(|r| matches!(r.method.as_str(), "PUT" | "POST" | "DELETE"))
        .collect()
}

/// The args of `cmd` against the env's fakes with another state dir.
fn args_with_state(env: &Env, cmd: &str, state: &str, extra: &[&str]) -> Vec<String> {
    let mut args = env.args(cmd, extra);
    let i = args.iter().position(|a| a == "--state-dir").unwrap();
    args[i + 1] = env.dir.path().join(state).display().to_string();
    args
}

/// A brand-new state dir under the cluster's own marker (a failover to a
/// master that never led) seeds its ledger from the names the cluster
/// produces. People's service records beside `_leader._tcp` and
/// `_slave._tcp` (`_sip._tcp.D`, `_xmpp._udp.D`) are not the cluster's:
/// `_tcp` and `_udp` are not framework labels (Mesos-DNS framework labels
/// are sanitized to letters, digits and hyphens), so they are never
/// seeded, never deleted.
#[test]
fn seeding_does_not_take_peoples_service_records_beside_leader_tcp() {
    let env = Env::new("atk-sip");
    let state = env.serve(2, &[("web", 0, 1)]);
    let people = [
        (format!("_sip._tcp.{DOMAIN}"), "0 1 5060 sip.example.com"),
        (format!("_xmpp._udp.{DOMAIN}"), "0 1 5222 xmpp.example.com"),
        (
            format!("_ldap._tcp.dc._msdcs.{DOMAIN}"),
            "0 1 389 dc.example.com",
        ),
    ];
    for (n, a) in &people {
        env.ns1.insert(n, "SRV", 300, &[a]);
    }
    let args = args_with_state(
        &env,
        "sync",
        "fresh",
        &["--remove-after", "0", "--settle", "0"],
    );
    for k in 0..3 {
        let out = run_args_at(&env.dir, T0 + 60.0 * k as f64, &args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    for (n, a) in &people {
        assert!(
            env.ns1
                .records()
                .iter()
                .any(|r| &r.0 == n && r.1 == "SRV" && r.3 == vec![a.to_string()]),
            "{n} was deleted: {:#?}",
            env.ns1.log()
        );
    }
    assert!(
        env.ns1.log().iter().all(|r| r.method != "DELETE"),
        "{:#?}",
        env.ns1.log()
    );
    let mut want = expected(&state, DOMAIN);
    for (n, a) in &people {
        want.insert((n.clone(), "SRV".into()), vec![a.to_string()]);
    }
    assert_eq!(owned_records(&env.ns1, DOMAIN), want);
}

/// This host's first non-loopback IPv4 address.
fn local_ipv4() -> Option<std::net::Ipv4Addr> {
    if_addrs::get_if_addrs()
        .ok()?
        .into_iter()
        .filter_map(|i| match i.ip() {
            std::net::IpAddr::V4(v4) if !v4.is_loopback() => Some(v4),
            _ => None,
        })
        .next()
}

/// `--only-if-leader` on two masters, each with its own state dir: M2
/// leads and publishes, M1 leads for a while (M2 only watches) and
/// publishes a new app, then M2 leads again with the ledger it had. The
/// app M1 published is this cluster's: M2 keeps it current (its task
/// moved) and removes it when it goes, with no `adopt`.
#[test]
fn failover_back_to_a_master_with_an_old_ledger_keeps_what_the_other_published() {
    let Some(here) = local_ipv4() else {
        eprintln!("no non-loopback IPv4 address here: --only-if-leader not exercised");
        return;
    };
    let env = Env::new("atk-failback");
    let id = env.cluster_id();
    let file = env.dir.path().join("state.json");
    let serve = |leader: &str, tasks: &[(&str, usize, usize)]| {
        let s = cluster(leader, 3, tasks);
        std::fs::write(&file, s.to_string()).unwrap();
        s
    };
    let args = |state: &str, extra: &[&str]| {
        let mut a = args_with_state(&env, "sync", state, extra);
        let i = a.iter().position(|x| x == "--masters").unwrap();
        a.drain(i..i + 2);
        a.extend([
            "--state-file".to_string(),
            file.display().to_string(),
            "--cluster-id".to_string(),
            id.clone(),
            "--remove-after".to_string(),
            "0".to_string(),
            "--settle".to_string(),
            "0".to_string(),
            "--max-change-percent".to_string(),
            "100".to_string(),
        ]);
        a
    };
    let m2 = args("m2", &["--only-if-leader"]);
    let m1_host = "192.0.2.1:5050";
    let m2_host = format!("{here}:5050");
    // M2 leads.
    serve(&m2_host, &[("web", 0, 1)]);
    let out = run_args_at(&env.dir, T0, &m2);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // M1 leads (its own host's run; here without --only-if-leader); M2 watches.
    serve(m1_host, &[("web", 0, 1), ("api", 1, 2)]);
    let out = run_args_at(&env.dir, T0 + 60.0, &m2);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not the leading master"));
    let out = run_args_at(&env.dir, T0 + 61.0, &args("m1", &[]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run_args_at(&env.dir, T0 + 120.0, &m2);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // M2 leads again; the api task moved to another agent.
    let s = serve(&m2_host, &[("web", 0, 1), ("api", 2, 2)]);
    let out = run_args_at(&env.dir, T0 + 180.0, &m2);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned_records(&env.ns1, DOMAIN), expected(&s, DOMAIN));
    // And the app goes.
    let s = serve(&m2_host, &[("web", 0, 1)]);
    let out = run_args_at(&env.dir, T0 + 240.0, &m2);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned_records(&env.ns1, DOMAIN), expected(&s, DOMAIN));
}

/// `adopt` previews an unclaimed domain; before `adopt --yes`, another
/// cluster claims it. The `--yes` must not overwrite a claim the
/// operator was never shown: it writes nothing and says why.
#[test]
fn adopt_yes_does_not_take_over_a_claim_made_after_its_preview() {
    let env = Env::unclaimed("atk-adopt-race");
    env.serve(2, &[("web", 0, 1)]);
    env.ns1
        .insert(&format!("hand.{DOMAIN}"), "A", 300, &["192.0.2.7"]);
    let out = run_args_at(&env.dir, T0, &env.args("adopt", &[]));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    // Another cluster claims the domain meanwhile.
    let theirs = marker_text(DOMAIN, "other-cluster");
    env.ns1
        .insert(&format!("_mesos2ns1.{DOMAIN}"), "TXT", 3600, &[&theirs]);
    env.ns1.clear_log();
    let out = run_args_at(&env.dir, T0 + 60.0, &env.args("adopt", &["--yes"]));
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(writes(&env.ns1.log()).is_empty(), "{:#?}", env.ns1.log());
    let marker: Vec<Vec<String>> = env
        .ns1
        .records()
        .into_iter()
        .filter(|r| r.0 == format!("_mesos2ns1.{DOMAIN}"))
        .map(|r| r.3)
        .collect();
    assert_eq!(marker, vec![vec![theirs]]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("other-cluster"),
        "{}",
        text(&out)
    );
}

/// The tool publishes `web`; an operator excludes it for a while, then
/// lifts the exclusion. While excluded the record is hands-off, and
/// anyone may have changed it: the tool cannot tell it is still the one it
/// published. Decision: lifting an exclusion hands nothing back by
/// itself. A record that then differs from what the cluster produces is a
/// collision (exit 3, left as it is, the message names `adopt`), and
/// `adopt --yes` is the operator's act that hands it back; from then on the
/// tool keeps it current.
#[test]
fn lifting_an_exclusion_needs_adopt_to_hand_the_record_back() {
    let env = Env::new("atk-exclude");
    env.serve(2, &[("web", 0, 1)]);
    let base = ["--remove-after", "0", "--settle", "0"];
    let out = run_args_at(&env.dir, T0, &env.args("sync", &base));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let web = format!("web.marathon.{DOMAIN}");
    let mut ex = base.to_vec();
    ex.extend(["--exclude", web.as_str()]);
    let out = run_args_at(&env.dir, T0 + 60.0, &env.args("sync", &ex));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The task moves; the exclusion is lifted.
    let before: Vec<_> = env
        .ns1
        .records()
        .into_iter()
        .filter(|r| r.0 == web)
        .collect();
    let s = env.serve(2, &[("web", 1, 1)]);
    let out = run_args_at(&env.dir, T0 + 120.0, &env.args("sync", &base));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("adopt"), "{}", text(&out));
    let after: Vec<_> = env
        .ns1
        .records()
        .into_iter()
        .filter(|r| r.0 == web)
        .collect();
    assert_eq!(before, after, "a collision is left as it is");
    // The operator's act hands it back; the next sync converges.
    let out = run_args_at(&env.dir, T0 + 180.0, &env.args("adopt", &base));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let mut yes = base.to_vec();
    yes.push("--yes");
    let out = run_args_at(&env.dir, T0 + 181.0, &env.args("adopt", &yes));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run_args_at(&env.dir, T0 + 240.0, &env.args("sync", &base));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned_records(&env.ns1, DOMAIN), expected(&s, DOMAIN));
}

/// Odd marker text (case, spaces around `=`) still names this cluster,
/// and a nested marker written in upper case with a trailing dot still
/// bounds ownership: a fresh state dir seeds nothing below it and
/// deletes nothing there.
#[test]
fn odd_marker_text_and_an_upper_case_nested_marker_hold() {
    let env = Env::unclaimed("atk-odd-marker");
    let s = env.serve(2, &[("web", 0, 1)]);
    let id = env.cluster_id().to_ascii_uppercase();
    env.ns1.insert(
        &format!("_mesos2ns1.{DOMAIN}"),
        "TXT",
        3600,
        &[&format!("MESOS2NS1 Cluster = {id} owns it")],
    );
    env.ns1.insert(
        &format!("_MESOS2NS1.Marathon.{}.", DOMAIN.to_ascii_uppercase()),
        "TXT",
        3600,
        &["mesos2ns1 cluster=nested owns the A, AAAA and SRV records below it"],
    );
    let theirs = format!("db.x.marathon.{DOMAIN}");
    env.ns1.insert(&theirs, "A", 60, &["192.0.2.50"]);
    let out = run_args_at(
        &env.dir,
        T0,
        &env.args("sync", &["--remove-after", "0", "--settle", "0"]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(env.ns1.log().iter().all(|r| r.method != "DELETE"));
    assert!(env.ns1.records().iter().any(|r| r.0 == theirs));
    // Everything of the cluster's outside marathon.D is published.
    let want: std::collections::BTreeMap<_, _> = expected(&s, DOMAIN)
        .into_iter()
        .filter(|((n, _), _)| !n.ends_with(&format!("marathon.{DOMAIN}")))
        .collect();
    let got: std::collections::BTreeMap<_, _> = owned_records(&env.ns1, DOMAIN)
        .into_iter()
        .filter(|((n, _), _)| !n.ends_with(&format!("marathon.{DOMAIN}")))
        .collect();
    assert_eq!(got, want);
}
