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
