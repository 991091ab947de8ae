//! `--profile aventer` and `--reverse-zone` (issue 22): the forward set of
//! AVENTER-UG/mesos-dns v0.10.1 and its PTR records, on every public
//! fixture and on designed states. Expected sets are written out by hand
//! from the rules (README, "Record sets"); no reference binary is run.

#[path = "support/fixtures.rs"]
mod fixtures;

use fixtures::shared_fixtures;
use mesos2ns1::records::{
    self, GenOptions, LabelRules, Profile, ReverseZone, StaticResolver, output,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

type Set = BTreeMap<(String, String), Vec<String>>;
/// (reverse zone, reverse name, target).
type Ptrs = BTreeSet<(String, String, String)>;

fn resolver() -> StaticResolver {
    let mut r = StaticResolver::default();
    r.0.insert(
        "localhost".into(),
        vec!["127.0.0.1".parse::<IpAddr>().unwrap()],
    );
    r.0.insert(
        "compose-host".into(),
        vec!["10.20.0.5".parse::<IpAddr>().unwrap()],
    );
    r
}

fn zones(list: &[&str]) -> Vec<ReverseZone> {
    records::reverse::parse_reverse_zones(list).unwrap()
}

fn opts(profile: Profile, reverse: &[&str]) -> GenOptions {
    let mut o = GenOptions::new("mesos");
    o.profile = profile;
    o.reverse_zones = zones(reverse);
    o
}

fn gen_body(body: &[u8], o: &GenOptions) -> (Set, Ptrs, usize) {
    let st = records::state::parse(body).unwrap();
    let mut g = records::generate_all(&st, o, &resolver()).unwrap();
    let set = g
        .forward
        .records()
        .into_iter()
        .map(|r| ((r.name, r.rtype.to_string()), r.answers))
        .collect();
    let mut ptrs = Ptrs::new();
    for z in &g.reverse.zones {
        for r in &z.records {
            assert_eq!(r.rtype.to_string(), "PTR");
            assert_eq!(r.answers.len(), 1, "{r:?}");
            ptrs.insert((z.zone.clone(), r.name.clone(), r.answers[0].clone()));
        }
    }
    (set, ptrs, g.reverse.ambiguous)
}

fn gen_state(state: &Value, o: &GenOptions) -> (Set, Ptrs, usize) {
    gen_body(&serde_json::to_vec(state).unwrap(), o)
}

fn ptrs(list: &[(&str, &str, &str)]) -> Ptrs {
    list.iter()
        .map(|(z, n, t)| (z.to_string(), n.to_string(), t.to_string()))
        .collect()
}

/// Adds answers to `set` (creating the record), as the fork merges them.
fn add(set: &mut Set, name: &str, t: &str, answers: &[&str]) {
    let e = set.entry((name.into(), t.into())).or_default();
    e.extend(answers.iter().map(|a| a.to_string()));
    e.sort();
    e.dedup();
}

/// The checks every generation must pass: the default profile is the
/// forward set of `generate` (byte-identical JSON, with or without reverse
/// zones), `aventer` adds only, and every PTR target is a name with A or
/// AAAA records holding the PTR's address.
fn invariants(body: &[u8], reverse: &[&str]) {
    let st = records::state::parse(body).unwrap();
    let plain = {
        let mut set = records::generate(&st, &GenOptions::new("mesos"), &resolver()).unwrap();
        let mut out = Vec::new();
        output::write_json(&mut set, &mut out).unwrap();
        out
    };
    for profile in [Profile::MesosDns, Profile::Aventer] {
        let mut g = records::generate_all(&st, &opts(profile, reverse), &resolver()).unwrap();
        if profile == Profile::MesosDns {
            let mut out = Vec::new();
            output::write_json(&mut g.forward, &mut out).unwrap();
            assert_eq!(out, plain, "reverse zones changed the forward set");
        }
        let fwd: Set = g
            .forward
            .records()
            .into_iter()
            .map(|r| ((r.name, r.rtype.to_string()), r.answers))
            .collect();
        for z in &g.reverse.zones {
            for r in &z.records {
                let target = &r.answers[0];
                let has_ip = ["A", "AAAA"].iter().any(|t| {
                    fwd.get(&(target.clone(), t.to_string())).is_some_and(|a| {
                        a.iter().any(|ip| {
                            ip.parse::<IpAddr>()
                                .is_ok_and(|ip| records::reverse::reverse_name(ip) == r.name)
                        })
                    })
                });
                assert!(has_ip, "PTR {} → {target}: no A/AAAA record of it", r.name);
                assert!(
                    r.name.ends_with(&format!(".{}", z.zone)) || r.name == z.zone,
                    "{} outside {}",
                    r.name,
                    z.zone
                );
            }
        }
        if profile == Profile::Aventer {
            let upstream: Set = {
                let mut s = records::generate(&st, &GenOptions::new("mesos"), &resolver()).unwrap();
                s.records()
                    .into_iter()
                    .map(|r| ((r.name, r.rtype.to_string()), r.answers))
                    .collect()
            };
            for (k, answers) in &upstream {
                let got = fwd.get(k).unwrap_or_else(|| panic!("aventer lost {k:?}"));
                assert!(
                    answers.iter().all(|a| got.contains(a)),
                    "aventer lost answers of {k:?}"
                );
            }
            // What aventer adds is only SRV under `.slave.` pointing at
            // `.slave.` targets.
            for (k, answers) in &fwd {
                let base = upstream.get(k);
                for a in answers {
                    if base.is_some_and(|b| b.contains(a)) {
                        continue;
                    }
                    assert_eq!(k.1, "SRV", "aventer added {k:?} {a}");
                    assert!(k.0.contains(".slave."), "{k:?}");
                    assert!(a.contains(".slave."), "{k:?} {a}");
                }
            }
        }
    }
}

const PUBLIC: &[&str] = &[
    "mesos-dns-fake-state",
    "real-datadog-state",
    "real-etcd-mesos-0.22-state",
    "real-mantl-0.23-state",
    "real-marathon-0.28-state",
];

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn expected_set(dir: &Path, name: &str) -> Set {
    let v: Value = serde_json::from_slice(&read(dir, &format!("{name}.expected.json"))).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                (
                    r["name"].as_str().unwrap().to_string(),
                    r["type"].as_str().unwrap().to_string(),
                ),
                r["answers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

/// The fork's `.slave` DiscoveryInfo SRV records for the fake fixture,
/// written out from its three DiscoveryInfo tasks (names `liquor.store`
/// twice and `big.dog`; ports 80 `http` and 443 `https`, protocol `tcp`),
/// each under its raw and its sanitized name.
fn fake_fixture_aventer_extras(set: &mut Set) {
    let fw = "marathon.slave.mesos";
    for (n, cs) in [
        (
            "liquor.store",
            &["liquor.store-4dfjd-0", "liquor.store-zasmd-1"][..],
        ),
        (
            "liquor-store",
            &["liquor-store-4dfjd-0", "liquor-store-zasmd-1"][..],
        ),
        ("big.dog", &["big.dog-4dfjd-0"][..]),
        ("big-dog", &["big-dog-4dfjd-0"][..]),
    ] {
        let a = |port: u16| -> Vec<String> {
            cs.iter().map(|c| format!("0 1 {port} {c}.{fw}")).collect()
        };
        let both: Vec<String> = a(80).into_iter().chain(a(443)).collect();
        fn refs(v: &[String]) -> Vec<&str> {
            v.iter().map(String::as_str).collect()
        }
        add(set, &format!("_{n}._tcp.{fw}"), "SRV", &refs(&both));
        add(set, &format!("_http._{n}._tcp.{fw}"), "SRV", &refs(&a(80)));
        add(
            set,
            &format!("_https._{n}._tcp.{fw}"),
            "SRV",
            &refs(&a(443)),
        );
    }
}

#[test]
fn aventer_profile_on_every_public_fixture() {
    let Some(dir) = shared_fixtures("aventer_profile_on_every_public_fixture") else {
        return;
    };
    for name in PUBLIC {
        let body = read(&dir, &format!("{name}.json"));
        let mut want = expected_set(&dir, name);
        let (default, _, _) = gen_body(&body, &opts(Profile::MesosDns, &[]));
        assert_eq!(default, want, "{name}: default profile");
        if *name == "mesos-dns-fake-state" {
            let before = want.len();
            fake_fixture_aventer_extras(&mut want);
            // 8 new names (`_http._N._tcp` and `_https._N._tcp` for four
            // N); the `_N._tcp.marathon.slave` ones exist and gain answers.
            assert_eq!(want.len(), before + 8);
        }
        let (aventer, _, _) = gen_body(&body, &opts(Profile::Aventer, &[]));
        assert_eq!(aventer, want, "{name}: aventer profile");
        invariants(&body, &[]);
    }
}

#[test]
fn ptr_set_on_every_public_fixture() {
    let Some(dir) = shared_fixtures("ptr_set_on_every_public_fixture") else {
        return;
    };
    let v6 = "b.0.0.0.1.0.d.f.ip6.arpa";
    let listed = [
        "1.in-addr.arpa",
        "12.in-addr.arpa",
        "10.in-addr.arpa",
        "127.in-addr.arpa",
        "168.192.in-addr.arpa",
        v6,
    ];
    let cases: Vec<(&str, Ptrs, usize)> = vec![
        (
            // toy-store has three container IPs; nginx one (mesos label);
            // 1.2.3.11 and 1.2.3.12 carry many names (agent IPs, and raw
            // vs sanitized DiscoveryInfo names): none.
            "mesos-dns-fake-state",
            ptrs(&[
                (
                    "12.in-addr.arpa",
                    "2.1.0.12.in-addr.arpa",
                    "toy-store.ipv6-framework.mesos",
                ),
                (
                    "12.in-addr.arpa",
                    "3.1.0.12.in-addr.arpa",
                    "toy-store.ipv6-framework.mesos",
                ),
                (
                    "10.in-addr.arpa",
                    "3.0.3.10.in-addr.arpa",
                    "nginx.marathon.mesos",
                ),
                (
                    v6,
                    "2.0.0.0.0.0.0.8.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.0.0.0.1.0.d.f.ip6.arpa",
                    "toy-store.ipv6-framework.mesos",
                ),
            ]),
            2,
        ),
        (
            "real-datadog-state",
            ptrs(&[(
                "127.in-addr.arpa",
                "1.0.0.127.in-addr.arpa",
                "hello.marathon.mesos",
            )]),
            0,
        ),
        // Three etcd tasks of different names on 127.0.0.1.
        ("real-etcd-mesos-0.22-state", Ptrs::new(), 1),
        // marathon-consul and mesos-consul on one agent.
        ("real-mantl-0.23-state", Ptrs::new(), 1),
        // Orphan tasks only.
        ("real-marathon-0.28-state", Ptrs::new(), 0),
    ];
    for (name, want, ambiguous) in cases {
        let body = read(&dir, &format!("{name}.json"));
        for profile in [Profile::MesosDns, Profile::Aventer] {
            let (_, got, amb) = gen_body(&body, &opts(profile, &listed));
            assert_eq!(got, want, "{name} {profile:?}");
            assert_eq!(amb, ambiguous, "{name} {profile:?}");
        }
        invariants(&body, &listed);
        // With no zone listed, no PTR at all.
        let (_, none, _) = gen_body(&body, &opts(Profile::MesosDns, &[]));
        assert!(none.is_empty());
    }
}

// ---------------------------------------------------------------- designed

fn state(frameworks: Value) -> Value {
    json!({
        "leader": "master@10.0.0.1:5050",
        "slaves": [
            {"id": "f00d-S1", "pid": "slave(1)@10.0.1.1:5051"},
            {"id": "f00d-S2", "pid": "slave(1)@10.0.1.2:5051"},
            {"id": "f00d-S6", "pid": "slave(1)@[2001:db8:1::6]:5051"}
        ],
        "frameworks": frameworks
    })
}

fn task(id: &str, name: &str, slave: &str, ips: &[&str]) -> Value {
    let infos: Vec<Value> = if ips.is_empty() {
        vec![]
    } else {
        vec![
            json!({"ip_addresses": ips.iter().map(|ip| json!({"ip_address": ip})).collect::<Vec<_>>()}),
        ]
    };
    json!({
        "id": id, "name": name, "slave_id": slave, "state": "TASK_RUNNING",
        "statuses": [{"state": "TASK_RUNNING", "timestamp": 1.0,
                      "container_status": {"network_infos": infos}}]
    })
}

fn marathon(tasks: Vec<Value>) -> Value {
    json!({"name": "marathon", "pid": "scheduler@10.0.0.9:8080", "tasks": tasks})
}

const ZONES: &[&str] = &["10.in-addr.arpa", "8.b.d.0.1.0.0.2.ip6.arpa"];

fn ptr_of(st: &Value) -> (Ptrs, usize) {
    let body = serde_json::to_vec(st).unwrap();
    invariants(&body, ZONES);
    let (_, p, a) = gen_state(st, &opts(Profile::MesosDns, ZONES));
    let (_, p2, a2) = gen_state(st, &opts(Profile::Aventer, ZONES));
    assert_eq!(
        (&p, a),
        (&p2, a2),
        "the PTR set does not depend on the profile"
    );
    (p, a)
}

#[test]
fn an_ip_shared_by_two_names_gets_none_until_one_dies() {
    let mut st = state(json!([marathon(vec![
        task("web.1", "web", "f00d-S1", &["10.5.0.1"]),
        task("api.1", "api", "f00d-S1", &["10.5.0.1"]),
    ])]));
    assert_eq!(ptr_of(&st), (Ptrs::new(), 1));
    // api dies: web's PTR appears.
    st["frameworks"][0]["tasks"][1]["state"] = json!("TASK_KILLED");
    assert_eq!(
        ptr_of(&st),
        (
            ptrs(&[(
                "10.in-addr.arpa",
                "1.0.5.10.in-addr.arpa",
                "web.marathon.mesos"
            )]),
            0
        )
    );
    // A task on an unknown agent claims nothing either.
    st["frameworks"][0]["tasks"][1]["state"] = json!("TASK_RUNNING");
    st["frameworks"][0]["tasks"][1]["slave_id"] = json!("gone-S9");
    assert_eq!(ptr_of(&st).0.len(), 1);
}

#[test]
fn one_name_in_two_frameworks_is_two_names() {
    let st = state(json!([
        marathon(vec![task("web.1", "web", "f00d-S1", &["10.5.0.1"])]),
        {"name": "aurora", "pid": "scheduler@10.0.0.8:8080",
         "tasks": [task("web.aurora.1", "web", "f00d-S2", &["10.5.0.1"])]}
    ]));
    assert_eq!(ptr_of(&st), (Ptrs::new(), 1));
}

#[test]
fn two_instances_of_one_app_on_one_ip_keep_their_ptr() {
    // Host networking: both instances' IP is the agent's.
    let st = state(json!([marathon(vec![
        task("web.1", "web", "f00d-S1", &[]),
        task("web.2", "web", "f00d-S1", &[]),
        task("db.1", "db", "f00d-S2", &[]),
    ])]));
    assert_eq!(
        ptr_of(&st),
        (
            ptrs(&[
                (
                    "10.in-addr.arpa",
                    "1.1.0.10.in-addr.arpa",
                    "web.marathon.mesos"
                ),
                (
                    "10.in-addr.arpa",
                    "2.1.0.10.in-addr.arpa",
                    "db.marathon.mesos"
                ),
            ]),
            0
        )
    );
}

#[test]
fn host_network_tasks_of_two_apps_share_the_agent_ip() {
    // Mesos reports the agent IP in network_infos for host networking:
    // netinfo and host give the same address, so two apps collide.
    let st = state(json!([marathon(vec![
        task("h1.1", "h1", "f00d-S1", &["10.0.1.1"]),
        task("h2.1", "h2", "f00d-S1", &[]),
    ])]));
    assert_eq!(ptr_of(&st), (Ptrs::new(), 1));
    // The agent's own name (slave.mesos) makes no claim.
    let st = state(json!([marathon(vec![task("h1.1", "h1", "f00d-S1", &[])])]));
    assert_eq!(
        ptr_of(&st).0,
        ptrs(&[(
            "10.in-addr.arpa",
            "1.1.0.10.in-addr.arpa",
            "h1.marathon.mesos"
        )])
    );
}

#[test]
fn a_task_with_two_ips_and_ipv6() {
    let st = state(json!([marathon(vec![
        task("two.1", "two", "f00d-S1", &["10.5.0.1", "10.6.0.1"]),
        task("dual.1", "dual", "f00d-S2", &["10.7.0.1", "2001:db8:1::5"]),
        // IPv4-mapped IPv6 is an IPv4 address (in-addr.arpa).
        task("mapped.1", "mapped", "f00d-S2", &["::ffff:10.8.0.1"]),
        // An IPv6 agent's host-network task.
        task("v6host.1", "v6host", "f00d-S6", &[]),
    ])]));
    let ip6 = "8.b.d.0.1.0.0.2.ip6.arpa";
    assert_eq!(
        ptr_of(&st),
        (
            ptrs(&[
                (
                    "10.in-addr.arpa",
                    "1.0.5.10.in-addr.arpa",
                    "two.marathon.mesos"
                ),
                (
                    "10.in-addr.arpa",
                    "1.0.6.10.in-addr.arpa",
                    "two.marathon.mesos"
                ),
                (
                    "10.in-addr.arpa",
                    "1.0.7.10.in-addr.arpa",
                    "dual.marathon.mesos"
                ),
                (
                    "10.in-addr.arpa",
                    "1.0.8.10.in-addr.arpa",
                    "mapped.marathon.mesos"
                ),
                (
                    ip6,
                    "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
                    "dual.marathon.mesos"
                ),
                (
                    ip6,
                    "6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
                    "v6host.marathon.mesos"
                ),
            ]),
            0
        )
    );
}

#[test]
fn addresses_outside_every_listed_zone_get_none_and_nested_zones_pick_the_closest() {
    let st = state(json!([marathon(vec![
        task("web.1", "web", "f00d-S1", &["10.5.0.1"]),
        task("api.1", "api", "f00d-S1", &["10.6.0.1"]),
        task("ext.1", "ext", "f00d-S1", &["192.168.5.1", "fd00::1"]),
    ])]));
    let listed = ["10.in-addr.arpa", "5.10.in-addr.arpa"];
    let (_, got, amb) = gen_state(&st, &opts(Profile::MesosDns, &listed));
    assert_eq!(
        got,
        ptrs(&[
            (
                "5.10.in-addr.arpa",
                "1.0.5.10.in-addr.arpa",
                "web.marathon.mesos"
            ),
            (
                "10.in-addr.arpa",
                "1.0.6.10.in-addr.arpa",
                "api.marathon.mesos"
            ),
        ])
    );
    assert_eq!(amb, 0);
    // `5.0.11.10.in-addr.arpa` is not in `1.10.in-addr.arpa`: labels, not text.
    let st = state(json!([marathon(vec![task(
        "web.1",
        "web",
        "f00d-S1",
        &["10.11.0.5"]
    )])]));
    let (_, got, _) = gen_state(&st, &opts(Profile::MesosDns, &["1.10.in-addr.arpa"]));
    assert!(got.is_empty(), "{got:?}");
}

#[test]
fn discovery_names_whose_raw_and_sanitized_forms_differ_get_none() {
    let di = |id: &str, name: &str, ip: &str| {
        let mut t = task(id, "ignored", "f00d-S1", &[ip]);
        t["discovery"] =
            json!({"name": name, "ports": {"ports": [{"number": 80, "name": "http"}]}});
        t
    };
    let st = state(json!([marathon(vec![
        di("di.1", "My_Api", "10.5.0.1"),
        di("di2.1", "clean-api", "10.5.0.2"),
    ])]));
    assert_eq!(
        ptr_of(&st),
        (
            ptrs(&[(
                "10.in-addr.arpa",
                "2.0.5.10.in-addr.arpa",
                "clean-api.marathon.mesos"
            )]),
            1
        )
    );
}

#[test]
fn rfc952_names_are_the_targets() {
    let st = state(json!([marathon(vec![task(
        "rfc.1",
        "123-Payments-Reconciliation-Service",
        "f00d-S1",
        &["10.5.0.1"]
    ),])]));
    let mut o = opts(Profile::MesosDns, ZONES);
    o.rules = LabelRules::Rfc952;
    let (set, got, _) = gen_state(&st, &o);
    assert_eq!(
        got,
        ptrs(&[(
            "10.in-addr.arpa",
            "1.0.5.10.in-addr.arpa",
            "payments-reconciliations.marathon.mesos"
        )])
    );
    assert!(set.contains_key(&(
        "payments-reconciliations.marathon.mesos".to_string(),
        "A".to_string()
    )));
}

// ------------------------------------------------------ aventer, designed

#[test]
fn aventer_slave_chain_protocols_port_names_and_merging() {
    let mut t = task("api.77", "api-task", "f00d-S1", &["10.5.0.1"]);
    t["resources"] = json!({"ports": "[31005-31005]"});
    t["discovery"] = json!({"name": "api", "ports": {"ports": [
        {"number": 8080, "name": "http", "protocol": "tcp"},
        {"number": 9090, "name": "!!!"},
        {"number": 53, "name": "Dns_Port", "protocol": "UDP"}
    ]}});
    let st = state(json!([marathon(vec![t])]));
    let (base, _, _) = gen_state(&st, &opts(Profile::MesosDns, &[]));
    let (av, _, _) = gen_state(&st, &opts(Profile::Aventer, &[]));
    let c = "api-7o4ot-s1.marathon.slave.mesos";
    let mut want = base.clone();
    // Merged into the resource-port SRV names.
    add(
        &mut want,
        "_api._tcp.marathon.slave.mesos",
        "SRV",
        &[&format!("0 1 8080 {c}"), &format!("0 1 9090 {c}")],
    );
    add(
        &mut want,
        "_api._udp.marathon.slave.mesos",
        "SRV",
        &[&format!("0 1 9090 {c}"), &format!("0 1 53 {c}")],
    );
    add(
        &mut want,
        "_http._api._tcp.marathon.slave.mesos",
        "SRV",
        &[&format!("0 1 8080 {c}")],
    );
    add(
        &mut want,
        "_dns-port._api._udp.marathon.slave.mesos",
        "SRV",
        &[&format!("0 1 53 {c}")],
    );
    assert_eq!(av, want);
    // The resource port is still there (31005), unchanged.
    assert!(
        av[&(
            "_api._tcp.marathon.slave.mesos".to_string(),
            "SRV".to_string()
        )]
            .contains(&format!("0 1 31005 {c}"))
    );
}

#[test]
fn aventer_uses_raw_and_sanitized_discovery_names() {
    let mut t = task("api.77", "x", "f00d-S1", &[]);
    t["discovery"] =
        json!({"name": "Api_V2", "ports": {"ports": [{"number": 8080, "protocol": "tcp"}]}});
    let st = state(json!([marathon(vec![t])]));
    let (base, _, _) = gen_state(&st, &opts(Profile::MesosDns, &[]));
    let (av, _, _) = gen_state(&st, &opts(Profile::Aventer, &[]));
    let mut want = base;
    add(
        &mut want,
        "_Api_V2._tcp.marathon.slave.mesos",
        "SRV",
        &["0 1 8080 Api_V2-7o4ot-s1.marathon.slave.mesos"],
    );
    add(
        &mut want,
        "_api-v2._tcp.marathon.slave.mesos",
        "SRV",
        &["0 1 8080 api-v2-7o4ot-s1.marathon.slave.mesos"],
    );
    assert_eq!(av, want);
}

// ------------------------------------------- ClusterD and mesos-compose

const CLUSTERD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/clusterd-mesos-compose-state.json"
);

fn clusterd_body() -> Vec<u8> {
    std::fs::read(CLUSTERD).unwrap()
}

/// The whole record set of the ClusterD state, written out from the rules:
/// Mesos 1.x `/master/state` (HTTP-API framework without pid), task names
/// from mesos-compose (`mc:project:service`, `_`, `:`, `.` and capitals).
fn clusterd_expected() -> Set {
    let fw = "mesos-compose.mesos";
    let web = "mcmyprojectweb-frontend";
    let db = "mcmyprojectdb-postgres";
    let owned: Vec<(String, &str, Vec<String>)> = {
        let mut v = Vec::new();
        let mut put = |n: String, t: &'static str, a: &[String]| v.push((n, t, a.to_vec()));
        let s = |x: &str| x.to_string();
        put(s("leader.mesos"), "A", &[s("10.20.0.1")]);
        put(s("master.mesos"), "A", &[s("10.20.0.1")]);
        put(s("master0.mesos"), "A", &[s("10.20.0.1")]);
        put(
            s("_leader._tcp.mesos"),
            "SRV",
            &[s("0 1 5050 leader.mesos")],
        );
        put(
            s("_leader._udp.mesos"),
            "SRV",
            &[s("0 1 5050 leader.mesos")],
        );
        put(s("slave.mesos"), "A", &[s("10.20.1.10")]);
        put(s("_slave._tcp.mesos"), "SRV", &[s("0 1 5051 slave.mesos")]);
        put(s(fw), "A", &[s("10.20.0.5")]);
        for (n, h, tip, port) in [
            (web, "kuwty", "172.17.0.2", 31000),
            (db, "r1wfk", "10.20.1.10", 5432),
        ] {
            let c = format!("{n}-{h}-s0");
            put(format!("{n}.{fw}"), "A", &[s(tip)]);
            put(format!("{c}.{fw}"), "A", &[s(tip)]);
            put(
                format!("{n}.mesos-compose.slave.mesos"),
                "A",
                &[s("10.20.1.10")],
            );
            put(
                format!("{c}.mesos-compose.slave.mesos"),
                "A",
                &[s("10.20.1.10")],
            );
            let srv = vec![format!("0 1 {port} {c}.mesos-compose.slave.mesos")];
            for p in ["tcp", "udp"] {
                put(format!("_{n}._{p}.{fw}"), "SRV", &srv);
                put(format!("_{n}._{p}.mesos-compose.slave.mesos"), "SRV", &srv);
            }
        }
        for n in ["myproject_api", "myproject-api"] {
            let c = format!("{n}-x1cuo-s0");
            put(format!("{n}.{fw}"), "A", &[s("172.17.0.3")]);
            put(format!("{c}.{fw}"), "A", &[s("172.17.0.3")]);
            put(
                format!("{n}.mesos-compose.slave.mesos"),
                "A",
                &[s("10.20.1.10")],
            );
            put(
                format!("{c}.mesos-compose.slave.mesos"),
                "A",
                &[s("10.20.1.10")],
            );
            let res = vec![format!("0 1 31001 {c}.mesos-compose.slave.mesos")];
            put(format!("_{n}._tcp.mesos-compose.slave.mesos"), "SRV", &res);
            put(format!("_{n}._udp.mesos-compose.slave.mesos"), "SRV", &res);
            let di = vec![format!("0 1 8080 {c}.{fw}")];
            put(format!("_{n}._tcp.{fw}"), "SRV", &di);
            put(format!("_http._{n}._tcp.{fw}"), "SRV", &di);
        }
        v
    };
    let mut set = Set::new();
    for (n, t, a) in owned {
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        assert!(!set.contains_key(&(n.clone(), t.to_string())), "{n}");
        add(&mut set, &n, t, &refs);
    }
    set
}

#[test]
fn clusterd_state_with_mesos_compose_names() {
    let body = clusterd_body();
    let want = clusterd_expected();
    let (got, _, _) = gen_body(&body, &opts(Profile::MesosDns, &[]));
    assert_eq!(got, want);
    // The fork: the same plus the `.slave` DiscoveryInfo chain.
    let mut want_av = want;
    for n in ["myproject_api", "myproject-api"] {
        let t = format!("0 1 8080 {n}-x1cuo-s0.mesos-compose.slave.mesos");
        add(
            &mut want_av,
            &format!("_{n}._tcp.mesos-compose.slave.mesos"),
            "SRV",
            &[&t],
        );
        add(
            &mut want_av,
            &format!("_http._{n}._tcp.mesos-compose.slave.mesos"),
            "SRV",
            &[&t],
        );
    }
    let (got, _, _) = gen_body(&body, &opts(Profile::Aventer, &[]));
    assert_eq!(got, want_av);
    // PTR: the web container's IP, the host-network db task's agent IP;
    // the api container's IP is claimed by `myproject_api` and
    // `myproject-api`: none.
    let listed = ["17.172.in-addr.arpa", "20.10.in-addr.arpa"];
    let (_, got, amb) = gen_body(&body, &opts(Profile::MesosDns, &listed));
    assert_eq!(
        got,
        ptrs(&[
            (
                "17.172.in-addr.arpa",
                "2.0.17.172.in-addr.arpa",
                "mcmyprojectweb-frontend.mesos-compose.mesos"
            ),
            (
                "20.10.in-addr.arpa",
                "10.1.20.10.in-addr.arpa",
                "mcmyprojectdb-postgres.mesos-compose.mesos"
            ),
        ])
    );
    assert_eq!(amb, 1);
    invariants(&body, &listed);
}

#[test]
fn compose_service_names_marathon_never_used() {
    // Compose service names allow capitals, `_` and `.`; mesos-compose
    // and m3s prefix them with `project:`. Names by spec §3.1.
    let st = state(
        json!([{"name": "mesos-compose", "pid": "scheduler@10.0.0.8:1",
        "tasks": [
            task("a.1", "shop:Web_Frontend", "f00d-S1", &["10.5.0.1"]),
            task("b.1", "shop:cache.redis:7", "f00d-S1", &["10.5.0.2"]),
            task("c.1", "shop:café_ünïcode", "f00d-S1", &["10.5.0.3"]),
            task("d.1", "shop:___", "f00d-S1", &["10.5.0.4"]),
        ]}]),
    );
    let (set, got, _) = gen_state(&st, &opts(Profile::MesosDns, ZONES));
    for (name, ip) in [
        ("shopweb-frontend.mesos-compose.mesos", "10.5.0.1"),
        ("shopcache-redis7.mesos-compose.mesos", "10.5.0.2"),
        ("shopcaf-ncode.mesos-compose.mesos", "10.5.0.3"),
        ("shop.mesos-compose.mesos", "10.5.0.4"),
    ] {
        assert_eq!(
            set.get(&(name.to_string(), "A".to_string())),
            Some(&vec![ip.to_string()]),
            "{name}"
        );
    }
    assert_eq!(
        got,
        ptrs(&[
            (
                "10.in-addr.arpa",
                "1.0.5.10.in-addr.arpa",
                "shopweb-frontend.mesos-compose.mesos"
            ),
            (
                "10.in-addr.arpa",
                "2.0.5.10.in-addr.arpa",
                "shopcache-redis7.mesos-compose.mesos"
            ),
            (
                "10.in-addr.arpa",
                "3.0.5.10.in-addr.arpa",
                "shopcaf-ncode.mesos-compose.mesos"
            ),
            (
                "10.in-addr.arpa",
                "4.0.5.10.in-addr.arpa",
                "shop.mesos-compose.mesos"
            ),
        ])
    );
}

// ------------------------------------------------------------- binary

fn run(args: &[&str], state: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mesos2ns1"))
        .args(args)
        .arg("--state-file")
        .arg(state)
        .env(
            "MESOS2NS1_CONFIG",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/empty-config.json"
            ),
        )
        .output()
        .unwrap()
}

#[test]
fn binary_prints_ptrs_in_json_and_zone_form() {
    let path = Path::new(CLUSTERD);
    let out = run(
        &[
            "records",
            "--format",
            "json",
            "--domain",
            "mesos",
            "--reverse-zone",
            "17.172.in-addr.arpa.",
            "--reverse-zone",
            "20.10.in-addr.arpa",
            "--profile",
            "aventer",
        ],
        path,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = v.as_array().unwrap();
    let keys: Vec<(String, String)> = list
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().into(),
                r["type"].as_str().unwrap().into(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "sorted by (name, type)");
    let ptr: Vec<&Value> = list.iter().filter(|r| r["type"] == "PTR").collect();
    assert_eq!(
        ptr,
        vec![
            &json!({"answers": ["mcmyprojectdb-postgres.mesos-compose.mesos"], "name": "10.1.20.10.in-addr.arpa", "type": "PTR"}),
            &json!({"answers": ["mcmyprojectweb-frontend.mesos-compose.mesos"], "name": "2.0.17.172.in-addr.arpa", "type": "PTR"}),
        ]
    );
    assert!(keys.contains(&(
        "_http._myproject-api._tcp.mesos-compose.slave.mesos".into(),
        "SRV".into()
    )));

    let out = run(
        &[
            "records",
            "--domain",
            "mesos",
            "--reverse-zone",
            "17.172.in-addr.arpa,20.10.in-addr.arpa",
        ],
        path,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let tail = text
        .split("; reverse zone 17.172.in-addr.arpa: 1 PTR record\n")
        .nth(1)
        .unwrap();
    assert!(
        tail.starts_with(
            "2.0.17.172.in-addr.arpa.\t60\tIN\tPTR\tmcmyprojectweb-frontend.mesos-compose.mesos.\n\
         ; reverse zone 20.10.in-addr.arpa: 1 PTR record\n\
         10.1.20.10.in-addr.arpa.\t60\tIN\tPTR\tmcmyprojectdb-postgres.mesos-compose.mesos.\n"
        ),
        "{tail}"
    );

    // `--profile mesos-dns` is the default: the output of today.
    let plain = run(&["records", "--format", "json", "--domain", "mesos"], path);
    let explicit = run(
        &[
            "records",
            "--format",
            "json",
            "--domain",
            "mesos",
            "--profile",
            "mesos-dns",
        ],
        path,
    );
    assert!(plain.status.success());
    assert_eq!(plain.stdout, explicit.stdout);
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("PTR"));
}

#[test]
fn binary_refuses_bad_reverse_zones_and_profiles() {
    let path = Path::new(CLUSTERD);
    for (args, want) in [
        (
            &["--reverse-zone", "mesos.example.com"][..],
            "must end in .in-addr.arpa",
        ),
        (&["--reverse-zone", "300.in-addr.arpa"][..], "not an octet"),
        (
            &["--reverse-zone", "0/25.2.0.192.in-addr.arpa"][..],
            "RFC 2317",
        ),
        (
            &["--profile", "aventer-ug"][..],
            "not one of mesos-dns, aventer",
        ),
    ] {
        let mut all = vec!["records", "--domain", "mesos"];
        all.extend_from_slice(args);
        let out = run(&all, path);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[test]
fn config_file_keys_and_flags() {
    use mesos2ns1::cli::Opts;
    use mesos2ns1::config::Config;
    let path = Path::new("/etc/mesos2ns1/config.json");
    let load = |opts: &Opts, text: &str| Config::load_text(opts, None, path, text);
    let cfg = load(&Opts::default(), "{}").unwrap();
    assert_eq!(cfg.profile, Profile::MesosDns);
    assert!(cfg.reverse_zones.is_empty());
    let text = r#"{"Profile": "AVENTER", "reverseZones": ["10.in-addr.arpa.", "8.b.d.0.1.0.0.2.ip6.arpa"]}"#;
    let cfg = load(&Opts::default(), text).unwrap();
    assert_eq!(cfg.profile, Profile::Aventer);
    let names: Vec<&str> = cfg.reverse_zones.iter().map(|z| z.name()).collect();
    assert_eq!(names, ["10.in-addr.arpa", "8.b.d.0.1.0.0.2.ip6.arpa"]);
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    // Flags replace the file's list and profile.
    let opts = Opts {
        profile: Some("mesos-dns".into()),
        reverse_zones: Some(vec!["168.192.in-addr.arpa".into()]),
        ..Opts::default()
    };
    let cfg = load(&opts, text).unwrap();
    assert_eq!(cfg.profile, Profile::MesosDns);
    assert_eq!(cfg.reverse_zones.len(), 1);
    for (bad, want) in [
        (r#"{"profile": "fork"}"#, "not one of mesos-dns, aventer"),
        (r#"{"profile": 1}"#, "expected a string"),
        (
            r#"{"reverseZones": "10.in-addr.arpa"}"#,
            "expected an array",
        ),
        (r#"{"reverseZones": ["example.com"]}"#, "reverseZones"),
        (
            r#"{"reverseZones": ["10.in-addr.arpa", "10.IN-ADDR.ARPA"]}"#,
            "listed twice",
        ),
    ] {
        let e = load(&Opts::default(), bad).unwrap_err().to_string();
        assert!(e.contains(want), "{bad}: {e}");
    }
}
