//! Every rule of the Mesos-DNS record specification, case by case, on small
//! states written here.

use mesos2ns1::records::{
    self, GenOptions, IpSource, LabelRules, Record, RecordType, StaticResolver,
    generate::{parse_pid, resource_ports, slave_part, task_hash},
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::IpAddr;

type Set = BTreeMap<(String, String), Vec<String>>;

fn resolver() -> StaticResolver {
    let mut r = StaticResolver::default();
    r.0.insert(
        "localhost".into(),
        vec!["127.0.0.1".parse::<IpAddr>().unwrap()],
    );
    r.0.insert(
        "dual.example".into(),
        vec!["10.9.9.9".parse().unwrap(), "fd00::9".parse().unwrap()],
    );
    r
}

fn build_with(state: &Value, opts: &GenOptions) -> Result<Set, String> {
    let body = serde_json::to_vec(state).unwrap();
    let st = records::state::parse(&body).map_err(|e| e.to_string())?;
    let mut set = records::generate(&st, opts, &resolver()).map_err(|e| e.to_string())?;
    Ok(set
        .records()
        .into_iter()
        .map(
            |Record {
                 name,
                 rtype,
                 answers,
             }| ((name, rtype.to_string()), answers),
        )
        .collect())
}

fn build(state: &Value) -> Set {
    build_with(state, &GenOptions::new("mesos")).unwrap()
}

fn get<'a>(set: &'a Set, name: &str, t: &str) -> Option<&'a Vec<String>> {
    set.get(&(name.to_string(), t.to_string()))
}

fn has(set: &Set, name: &str, t: &str, answers: &[&str]) {
    let got =
        get(set, name, t).unwrap_or_else(|| panic!("missing {name} {t}; have {:#?}", set.keys()));
    let mut want: Vec<String> = answers.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, &want, "{name} {t}");
}

fn base(tasks: Value) -> Value {
    json!({
        "leader": "master@10.0.0.1:5050",
        "slaves": [{"id": "f00d-S3", "pid": "slave(1)@10.0.1.3:5051"}],
        "frameworks": [{"name": "marathon", "pid": "scheduler-1@10.0.0.9:15101", "tasks": tasks}]
    })
}

fn task(extra: Value) -> Value {
    let mut t = json!({
        "id": "web.a1b2", "name": "web", "slave_id": "f00d-S3", "state": "TASK_RUNNING",
        "statuses": [{"state": "TASK_RUNNING", "timestamp": 1.0}]
    });
    for (k, v) in extra.as_object().unwrap() {
        t[k] = v.clone();
    }
    t
}

#[test]
fn hash_vectors() {
    assert_eq!(task_hash("test"), "iffe9");
    assert_eq!(task_hash("web.a1b2"), "x9kri");
    assert_eq!(task_hash("api.77"), "7o4ot");
    assert_eq!(slave_part("20150101-010101-16842879-5050-1234-S12"), "s12");
    assert_eq!(slave_part("20150101-010101-16842879-5050-1234-17"), "17");
    assert_eq!(slave_part("STANDALONE"), "standalone");
}

#[test]
fn worked_example_11_1_whole_set() {
    let set = build(&base(json!([task(
        json!({"resources": {"ports": "[31000-31001]"}})
    )])));
    let srv = [
        "0 1 31000 web-x9kri-s3.marathon.slave.mesos",
        "0 1 31001 web-x9kri-s3.marathon.slave.mesos",
    ];
    let mut want = Set::new();
    let mut put = |n: &str, t: &str, a: &[&str]| {
        want.insert(
            (n.into(), t.into()),
            a.iter().map(|s| s.to_string()).collect(),
        );
    };
    put("leader.mesos", "A", &["10.0.0.1"]);
    put("master.mesos", "A", &["10.0.0.1"]);
    put("master0.mesos", "A", &["10.0.0.1"]);
    put("_leader._tcp.mesos", "SRV", &["0 1 5050 leader.mesos"]);
    put("_leader._udp.mesos", "SRV", &["0 1 5050 leader.mesos"]);
    put("slave.mesos", "A", &["10.0.1.3"]);
    put("_slave._tcp.mesos", "SRV", &["0 1 5051 slave.mesos"]);
    put("marathon.mesos", "A", &["10.0.0.9"]);
    put(
        "_framework._tcp.marathon.mesos",
        "SRV",
        &["0 1 15101 marathon.mesos"],
    );
    put("web.marathon.mesos", "A", &["10.0.1.3"]);
    put("web-x9kri-s3.marathon.mesos", "A", &["10.0.1.3"]);
    put("web.marathon.slave.mesos", "A", &["10.0.1.3"]);
    put("web-x9kri-s3.marathon.slave.mesos", "A", &["10.0.1.3"]);
    put("_web._tcp.marathon.mesos", "SRV", &srv);
    put("_web._udp.marathon.mesos", "SRV", &srv);
    put("_web._tcp.marathon.slave.mesos", "SRV", &srv);
    put("_web._udp.marathon.slave.mesos", "SRV", &srv);
    assert_eq!(set, want);
}

#[test]
fn worked_example_11_2_discovery_container_ips_no_pid() {
    let state = json!({
        "leader": "master@10.0.0.1:5050",
        "slaves": [{"id": "f00d-S3", "pid": "slave(1)@10.0.1.3:5051"}],
        "frameworks": [{"name": "Prod.Marathon", "hostname": "10.0.0.9", "tasks": [{
            "id": "api.77", "name": "api-task", "slave_id": "f00d-S3", "state": "TASK_RUNNING",
            "resources": {"ports": "[31005-31005]"},
            "discovery": {"name": "Api_V2", "ports": {"ports": [{"number": 8080, "name": "http", "protocol": "tcp"}]}},
            "statuses": [{"state": "TASK_RUNNING", "timestamp": 2.0,
              "container_status": {"network_infos": [{"ip_addresses": [{"ip_address": "9.0.0.5"}, {"ip_address": "fd00::5"}]}]}}]
        }]}]
    });
    let set = build(&state);
    has(&set, "prod.marathon.mesos", "A", &["10.0.0.9"]);
    assert!(get(&set, "_framework._tcp.prod.marathon.mesos", "SRV").is_none());
    for n in ["api-v2", "Api_V2"] {
        let c = format!("{n}-7o4ot-s3");
        has(&set, &format!("{n}.prod.marathon.mesos"), "A", &["9.0.0.5"]);
        has(
            &set,
            &format!("{n}.prod.marathon.mesos"),
            "AAAA",
            &["fd00::5"],
        );
        has(&set, &format!("{c}.prod.marathon.mesos"), "A", &["9.0.0.5"]);
        has(
            &set,
            &format!("{c}.prod.marathon.mesos"),
            "AAAA",
            &["fd00::5"],
        );
        has(
            &set,
            &format!("{n}.prod.marathon.slave.mesos"),
            "A",
            &["10.0.1.3"],
        );
        has(
            &set,
            &format!("{c}.prod.marathon.slave.mesos"),
            "A",
            &["10.0.1.3"],
        );
        let slave_srv = format!("0 1 31005 {c}.prod.marathon.slave.mesos");
        has(
            &set,
            &format!("_{n}._tcp.prod.marathon.slave.mesos"),
            "SRV",
            &[&slave_srv],
        );
        has(
            &set,
            &format!("_{n}._udp.prod.marathon.slave.mesos"),
            "SRV",
            &[&slave_srv],
        );
        let d = format!("0 1 8080 {c}.prod.marathon.mesos");
        has(
            &set,
            &format!("_{n}._tcp.prod.marathon.mesos"),
            "SRV",
            &[&d],
        );
        has(
            &set,
            &format!("_http._{n}._tcp.prod.marathon.mesos"),
            "SRV",
            &[&d],
        );
        assert!(get(&set, &format!("_{n}._udp.prod.marathon.mesos"), "SRV").is_none());
    }
    assert!(!set.keys().any(|(n, _)| n.contains("api-task")));
}

#[test]
fn masters_numbering_11_3() {
    let state = json!({"leader": "master@10.0.0.4:5050"});
    let cases: &[(&[&str], &[&str], &[&str])] = &[
        (&[], &["10.0.0.4"], &["10.0.0.4"]),
        (
            &["10.0.0.2:5050", "10.0.0.4:5050", "10.0.0.3:5050"],
            &["10.0.0.2", "10.0.0.4", "10.0.0.3"],
            &["10.0.0.2", "10.0.0.3", "10.0.0.4"],
        ),
        (
            &["10.0.0.2:5050", "10.0.0.3:5050"],
            &["10.0.0.2", "10.0.0.3", "10.0.0.4"],
            &["10.0.0.2", "10.0.0.3", "10.0.0.4"],
        ),
        (
            &["10.0.0.4:5051", "10.0.0.2:5051"],
            &["10.0.0.2", "10.0.0.4"],
            &["10.0.0.2", "10.0.0.4"],
        ),
    ];
    for (masters, numbered, all) in cases {
        let mut opts = GenOptions::new("mesos");
        opts.masters = masters.iter().map(|s| s.to_string()).collect();
        let set = build_with(&state, &opts).unwrap();
        for (i, ip) in numbered.iter().enumerate() {
            has(&set, &format!("master{i}.mesos"), "A", &[ip]);
        }
        assert!(get(&set, &format!("master{}.mesos", numbered.len()), "A").is_none());
        has(&set, "master.mesos", "A", all);
        assert!(get(&set, "_master._tcp.mesos", "SRV").is_none());
    }
    // A master host that is not an IP makes Mesos-DNS crash: an error here.
    let mut opts = GenOptions::new("mesos");
    opts.masters = vec!["mesos-1:5050".into()];
    assert!(build_with(&state, &opts).unwrap_err().contains("mesos-1"));
}

#[test]
fn sanitization_edge_cases_in_names() {
    let long = "Q".repeat(70);
    let tasks = json!([
        task(json!({"id": "t1", "name": "My_App.Frontend"})),
        task(json!({"id": "t2", "name": "spaces in name"})),
        task(json!({"id": "t3", "name": "café-ünïcode"})),
        task(json!({"id": "t4", "name": "!!!"})),
        task(json!({"id": "t5", "name": long})),
    ]);
    let mut state = base(tasks);
    state["frameworks"][0]["name"] = json!("Team.Alpha_One");
    let set = build(&state);
    has(
        &set,
        "my-app-frontend.team.alpha-one.mesos",
        "A",
        &["10.0.1.3"],
    );
    has(
        &set,
        "spacesinname.team.alpha-one.mesos",
        "A",
        &["10.0.1.3"],
    );
    has(&set, "caf-ncode.team.alpha-one.mesos", "A", &["10.0.1.3"]);
    // A name that sanitizes to nothing keeps the empty label.
    has(&set, ".team.alpha-one.mesos", "A", &["10.0.1.3"]);
    let h4 = task_hash("t4");
    has(
        &set,
        &format!("-{h4}-s3.team.alpha-one.mesos"),
        "A",
        &["10.0.1.3"],
    );
    // 63-character cut; the canonical label is not cut.
    let q63 = "q".repeat(63);
    has(
        &set,
        &format!("{q63}.team.alpha-one.mesos"),
        "A",
        &["10.0.1.3"],
    );
    let h5 = task_hash("t5");
    has(
        &set,
        &format!("{q63}-{h5}-s3.team.alpha-one.mesos"),
        "A",
        &["10.0.1.3"],
    );

    // RFC 952: 24 characters, no leading digits.
    let mut opts = GenOptions::new("mesos");
    opts.rules = LabelRules::Rfc952;
    let state = base(json!([task(
        json!({"id": "t6", "name": "9Payments-Reconciliation-Service"})
    )]));
    let set = build_with(&state, &opts).unwrap();
    has(
        &set,
        "payments-reconciliations.marathon.mesos",
        "A",
        &["10.0.1.3"],
    );

    // A framework name that sanitizes to nothing gives names with an empty label.
    let mut state = base(json!([task(json!({}))]));
    state["frameworks"][0]["name"] = json!("日本");
    let set = build(&state);
    has(&set, "web..mesos", "A", &["10.0.1.3"]);
    has(&set, ".mesos", "A", &["10.0.0.9"]);
    has(&set, "_framework._tcp..mesos", "SRV", &["0 1 15101 .mesos"]);
}

#[test]
fn port_ranges() {
    assert_eq!(
        resource_ports("[31000-31002, 31010-31010]").unwrap(),
        vec![31000, 31001, 31002, 31010]
    );
    assert_eq!(resource_ports("[]").unwrap(), Vec::<i64>::new());
    assert_eq!(resource_ports("").unwrap(), Vec::<i64>::new());
    assert_eq!(resource_ports("[31005-31000]").unwrap(), Vec::<i64>::new());
    assert_eq!(resource_ports("[31000 - 31001, 5-6]").unwrap(), vec![5, 6]);
    assert!(resource_ports("[31000]").unwrap_err().contains("no '-'"));
    assert!(resource_ports("31000-31001").unwrap_err().contains("'['"));
    assert!(resource_ports("[0-99999999]").is_err());
    let set = build(&base(json!([task(
        json!({"resources": {"ports": "[80-80, 443-443]"}})
    )])));
    has(
        &set,
        "_web._tcp.marathon.mesos",
        "SRV",
        &[
            "0 1 80 web-x9kri-s3.marathon.slave.mesos",
            "0 1 443 web-x9kri-s3.marathon.slave.mesos",
        ],
    );
    let err = build_with(
        &base(json!([task(json!({"resources": {"ports": "[31000]"}}))])),
        &GenOptions::new("mesos"),
    )
    .unwrap_err();
    assert!(
        err.contains("resources.ports") && err.contains("web.a1b2"),
        "{err}"
    );
}

#[test]
fn discovery_ports_named_unnamed_and_protocols() {
    let t = task(json!({"discovery": {"name": "svc", "ports": {"ports": [
        {"number": 8080, "name": "Admin_Port", "protocol": "TCP"},
        {"number": 9000, "protocol": "sctp"},
        {"number": 53, "name": "dns"},
        {"number": 7000, "name": "!!!", "protocol": "udp"},
        {"name": "noport", "protocol": "tcp"}
    ]}}, "resources": {"ports": "[31000-31000]"}}));
    let set = build(&base(json!([t])));
    let c = "svc-x9kri-s3.marathon.mesos";
    has(
        &set,
        "_svc._tcp.marathon.mesos",
        "SRV",
        &[
            &format!("0 1 8080 {c}"),
            &format!("0 1 53 {c}"),
            &format!("0 1 0 {c}"),
        ],
    );
    has(
        &set,
        "_admin-port._svc._tcp.marathon.mesos",
        "SRV",
        &[&format!("0 1 8080 {c}")],
    );
    has(
        &set,
        "_svc._sctp.marathon.mesos",
        "SRV",
        &[&format!("0 1 9000 {c}")],
    );
    has(
        &set,
        "_svc._udp.marathon.mesos",
        "SRV",
        &[&format!("0 1 53 {c}"), &format!("0 1 7000 {c}")],
    );
    has(
        &set,
        "_dns._svc._tcp.marathon.mesos",
        "SRV",
        &[&format!("0 1 53 {c}")],
    );
    has(
        &set,
        "_dns._svc._udp.marathon.mesos",
        "SRV",
        &[&format!("0 1 53 {c}")],
    );
    has(
        &set,
        "_noport._svc._tcp.marathon.mesos",
        "SRV",
        &[&format!("0 1 0 {c}")],
    );
    assert!(!set.keys().any(|(n, _)| n.starts_with("_._svc")));
    // Resource ports only under .slave when DiscoveryInfo exists.
    has(
        &set,
        "_svc._tcp.marathon.slave.mesos",
        "SRV",
        &["0 1 31000 svc-x9kri-s3.marathon.slave.mesos"],
    );
    // An empty discovery name counts as no DiscoveryInfo: the task name is used.
    let t =
        task(json!({"discovery": {"name": "", "ports": {"ports": [{"number": 1, "name": "x"}]}}}));
    let set = build(&base(json!([t])));
    assert!(get(&set, "web.marathon.mesos", "A").is_some());
    assert!(!set.keys().any(|(n, _)| n.starts_with("_x.")));
    // An uppercase raw name is kept raw beside its sanitized copy.
    let t = task(json!({"discovery": {"name": "Big App"}}));
    let set = build(&base(json!([t])));
    assert!(get(&set, "Big App.marathon.mesos", "A").is_some());
    assert!(get(&set, "bigapp.marathon.mesos", "A").is_some());
}

fn status(ts: f64, extra: Value) -> Value {
    let mut s = json!({"state": "TASK_RUNNING", "timestamp": ts});
    for (k, v) in extra.as_object().unwrap() {
        s[k] = v.clone();
    }
    s
}

#[test]
fn ip_sources_in_order_first_populated_wins() {
    let statuses = json!([
        status(1.0, json!({"container_status": {"network_infos": [{"ip_address": "9.9.9.9"}]}})),
        status(5.0, json!({
            "labels": [
                {"key": "MesosContainerizer.NetworkSettings.IPAddress", "value": "9.0.0.2"},
                {"key": "Docker.NetworkSettings.IPAddress", "value": "9.0.0.3"},
                {"key": "docker.networksettings.ipaddress", "value": "9.0.0.4"}
            ],
            "container_status": {"network_infos": [
                {"ip_addresses": [{"ip_address": "9.0.0.1"}, {"ip_address": "not-an-ip"}], "ip_address": "9.0.0.99"},
                {"ip_address": "::ffff:9.0.10.1"}
            ]}
        })),
        {"state": "TASK_FINISHED", "timestamp": 9.0,
         "container_status": {"network_infos": [{"ip_address": "9.9.9.8"}]}}
    ]);
    let state = base(json!([task(json!({"statuses": statuses}))]));
    let cases: &[(&[IpSource], &[&str])] = &[
        (
            &[IpSource::Netinfo, IpSource::Mesos, IpSource::Host],
            &["9.0.0.1", "9.0.10.1"],
        ),
        (&[IpSource::Mesos, IpSource::Netinfo], &["9.0.0.2"]),
        (&[IpSource::Docker], &["9.0.0.3"]),
        (&[IpSource::Host, IpSource::Netinfo], &["10.0.1.3"]),
    ];
    for (sources, want) in cases {
        let mut opts = GenOptions::new("mesos");
        opts.ip_sources = sources.to_vec();
        let set = build_with(&state, &opts).unwrap();
        has(&set, "web.marathon.mesos", "A", want);
        has(&set, "web.marathon.slave.mesos", "A", &["10.0.1.3"]);
    }
    // No source yields anything: rows 1-2 are missing, the rest remain.
    let mut opts = GenOptions::new("mesos");
    opts.ip_sources = vec![IpSource::Docker];
    let state = base(json!([task(json!({}))]));
    let set = build_with(&state, &opts).unwrap();
    assert!(get(&set, "web.marathon.mesos", "A").is_none());
    assert!(get(&set, "web-x9kri-s3.marathon.mesos", "A").is_none());
    has(&set, "web.marathon.slave.mesos", "A", &["10.0.1.3"]);
}

#[test]
fn latest_running_status_only_and_ties_take_the_earlier() {
    let statuses = json!([
        status(
            3.0,
            json!({"container_status": {"network_infos": [{"ip_address": "9.0.0.1"}]}})
        ),
        status(
            3.0,
            json!({"container_status": {"network_infos": [{"ip_address": "9.0.0.2"}]}})
        ),
        status(
            2.0,
            json!({"container_status": {"network_infos": [{"ip_address": "9.0.0.3"}]}})
        ),
    ]);
    let set = build(&base(json!([task(json!({"statuses": statuses}))])));
    has(&set, "web.marathon.mesos", "A", &["9.0.0.1"]);
    // The latest running status has no IP: older ones are not consulted.
    let statuses = json!([
        status(
            1.0,
            json!({"container_status": {"network_infos": [{"ip_address": "9.0.0.1"}]}})
        ),
        status(2.0, json!({})),
    ]);
    let set = build(&base(json!([task(json!({"statuses": statuses}))])));
    has(&set, "web.marathon.mesos", "A", &["10.0.1.3"]);
}

#[test]
fn ipv6_text_forms_and_mapped_addresses() {
    let statuses = json!([status(
        1.0,
        json!({"container_status": {"network_infos": [
            {"ip_addresses": [{"ip_address": "FD00:0009:0000:0000:0000:0000:0000:00A1"}, {"ip_address": "::ffff:9.0.10.1"},
                              {"ip_address": "010.1.1.1"}, {"ip_address": "fe80::1%eth0"}]}
        ]}})
    )]);
    let mut state = base(json!([task(json!({"statuses": statuses}))]));
    state["slaves"][0]["pid"] = json!("slave(1)@[2001:DB8::1]:5051");
    let set = build(&state);
    has(&set, "web.marathon.mesos", "AAAA", &["fd00:9::a1"]);
    has(&set, "web.marathon.mesos", "A", &["9.0.10.1"]);
    has(&set, "slave.mesos", "AAAA", &["2001:db8::1"]);
    has(&set, "web.marathon.slave.mesos", "AAAA", &["2001:db8::1"]);
    // Agents given by a name that resolves to both families.
    let mut state = base(json!([]));
    state["slaves"][0]["pid"] = json!("slave(1)@dual.example:5051");
    let set = build(&state);
    has(&set, "slave.mesos", "A", &["10.9.9.9"]);
    has(&set, "slave.mesos", "AAAA", &["fd00::9"]);
}

#[test]
fn task_states_and_unknown_agents() {
    let tasks = json!([
        task(json!({"id": "a", "name": "starting", "state": "TASK_STARTING"})),
        task(json!({"id": "b", "name": "lower", "state": "task_running"})),
        task(json!({"id": "c", "name": "killing", "state": "TASK_KILLING"})),
        task(
            json!({"id": "d", "name": "orphan", "slave_id": "unknown-S9",
            "statuses": [status(1.0, json!({"container_status": {"network_infos": [{"ip_address": "9.0.0.1"}]}}))]})
        ),
        task(json!({"id": "e", "name": "ok"})),
    ]);
    let set = build(&base(tasks));
    assert!(get(&set, "ok.marathon.mesos", "A").is_some());
    for n in ["starting", "lower", "killing", "orphan"] {
        assert!(!set.keys().any(|(name, _)| name.contains(n)), "{n}");
    }
}

#[test]
fn frameworks_with_and_without_pid() {
    let state = json!({
        "leader": "master@10.0.0.1:5050",
        "frameworks": [
            {"name": "withpid", "pid": "scheduler@10.0.0.5:8080"},
            {"name": "byname", "hostname": "localhost"},
            {"name": "unresolvable", "hostname": "no-such-host.invalid"},
            {"name": "nohost"}
        ]
    });
    let set = build(&state);
    has(&set, "withpid.mesos", "A", &["10.0.0.5"]);
    has(
        &set,
        "_framework._tcp.withpid.mesos",
        "SRV",
        &["0 1 8080 withpid.mesos"],
    );
    has(&set, "byname.mesos", "A", &["127.0.0.1"]);
    assert!(get(&set, "_framework._tcp.byname.mesos", "SRV").is_none());
    assert!(
        !set.keys()
            .any(|(n, _)| n.contains("unresolvable") || n.contains("nohost"))
    );
}

fn build_err(state: Value) -> String {
    build_with(&state, &GenOptions::new("mesos")).unwrap_err()
}

#[test]
fn states_mesos_dns_rejects_are_clear_errors() {
    let e = build_err(json!({"leader": ""}));
    assert!(e.contains("no leader"), "{e}");
    let e = build_err(json!({"frameworks": []}));
    assert!(e.contains("no leader"), "{e}");
    let e = build_err(json!({"leader": "master-10.0.0.1:5050"}));
    assert!(e.contains("leader") && e.contains("id@host:port"), "{e}");
    let e = build_err(json!({"leader": "master@localhost:5050"}));
    assert!(e.contains("not an IP"), "{e}");
    let e = build_err(json!({"leader": "master@10.0.0.1:5050", "slaves": [{"id": "s1"}]}));
    assert!(
        e.contains("slaves[0]") && e.contains("pid is missing"),
        "{e}"
    );
    let e =
        build_err(json!({"leader": "master@10.0.0.1:5050", "slaves": [{"id": "s1", "pid": null}]}));
    assert!(e.contains("pid is null"), "{e}");
    let e = build_err(
        json!({"leader": "master@10.0.0.1:5050", "slaves": [{"id": "s1", "pid": "a@b@10.0.0.2:5051"}]}),
    );
    assert!(e.contains("slaves[0]"), "{e}");
    let e = build_err(
        json!({"leader": "master@10.0.0.1:5050", "slaves": [{"id": "s1", "pid": "slave@no-such-host.invalid:5051"}]}),
    );
    assert!(e.contains("does not resolve"), "{e}");
    let e = build_err(
        json!({"leader": "master@10.0.0.1:5050", "frameworks": [{"name": "f", "pid": null}]}),
    );
    assert!(e.contains("frameworks[0]") && e.contains("null"), "{e}");
    let e = build_err(
        json!({"leader": "master@10.0.0.1:5050", "frameworks": [{"name": "f", "pid": "nope"}]}),
    );
    assert!(e.contains("frameworks[0]"), "{e}");
    // Type mismatches name the field.
    let e = build_err(
        json!({"leader": "master@10.0.0.1:5050", "frameworks": [{"name": "f", "tasks": [
        {"id": "t", "resources": {"ports": 31000}}]}]}),
    );
    assert!(e.contains("frameworks[0].tasks[0].resources.ports"), "{e}");
    let e = build_err(json!({"leader": "master@10.0.0.1:5050", "slaves": "none"}));
    assert!(e.contains("slaves"), "{e}");
}

#[test]
fn not_json_and_truncated_are_errors_not_empty_clusters() {
    let full = serde_json::to_vec(&base(json!([task(json!({}))]))).unwrap();
    for cut in [1, 10, full.len() / 2, full.len() - 1] {
        let e = records::state::parse(&full[..cut]).unwrap_err().to_string();
        assert!(
            e.contains("truncated") || e.contains("not valid JSON"),
            "{cut}: {e}"
        );
    }
    let e = records::state::parse(b"<html>502 Bad Gateway</html>")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not valid JSON"), "{e}");
    assert!(records::state::parse(b"").is_err());
    assert!(records::state::parse(b"[]").is_err());
}

#[test]
fn nulls_and_unknown_fields_are_tolerated() {
    let state = json!({
        "leader": "master@10.0.0.1:5050", "version": "1.9.0", "unknown": {"x": [1, 2]},
        "slaves": [{"id": "f00d-S3", "pid": "slave(1)@10.0.1.3:5051", "hostname": null, "resources": {"cpus": 4}}],
        "frameworks": [{"name": "marathon", "pid": "s@10.0.0.9:1", "completed_tasks": [1], "tasks": [
            {"id": "web.a1b2", "name": "web", "slave_id": "f00d-S3", "state": "TASK_RUNNING",
             "discovery": null, "resources": null, "statuses": null, "labels": null}]}]
    });
    let set = build(&state);
    has(&set, "web.marathon.mesos", "A", &["10.0.1.3"]);
}

#[test]
fn pids() {
    let p = parse_pid("slave(1)@[2001:db8::1]:5051").unwrap();
    assert_eq!((p.host, p.port), ("2001:db8::1", 5051));
    assert!(parse_pid("master@10.0.0.1").is_err());
    assert!(parse_pid("10.0.0.1:5050").is_err());
    assert!(parse_pid("a@2001:db8::1:5051").is_err());
}

#[test]
fn record_type_and_srv_weight() {
    let mut opts = GenOptions::new("Example.COM.");
    opts.srv_weight = 7;
    let set = build_with(&json!({"leader": "master@10.0.0.1:5050"}), &opts).unwrap();
    has(
        &set,
        "_leader._tcp.example.com",
        "SRV",
        &["0 7 5050 leader.example.com"],
    );
    assert_eq!(RecordType::parse("AAAA"), Some(RecordType::AAAA));
}
