//! Every rule of the Mesos-DNS record specification, case by case, on small
//! states written here.

use mesos2ns1::records::{
    self, GenOptions, IpSource, LabelRules, Record, RecordType, StaticResolver,
    generate::resource_ports,
    hosts::parse_pid,
    names::{slave_part, task_hash},
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

fn ports(s: &str) -> Vec<i64> {
    resource_ports(s).unwrap().iter().collect()
}

#[test]
fn port_ranges() {
    assert_eq!(
        ports("[31000-31002, 31010-31010]"),
        vec![31000, 31001, 31002, 31010]
    );
    assert_eq!(ports("[]"), Vec::<i64>::new());
    assert_eq!(ports(""), Vec::<i64>::new());
    assert_eq!(ports("[31005-31000]"), Vec::<i64>::new());
    assert_eq!(ports("[31000 - 31001, 5-6]"), vec![5, 6]);
    assert!(resource_ports("[31000]").unwrap_err().contains("no '-'"));
    assert!(resource_ports("31000-31001").unwrap_err().contains("'['"));
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

/// Issue 11: `Resources.Ports` reads between the first `[` and the next
/// `]` (or `[`), and skips pieces whose ends are not integers.
#[test]
fn resource_port_strings_as_mesos_dns_reads_them() {
    // Served with ports.
    assert_eq!(ports("[31000-31001"), vec![31000, 31001]);
    assert_eq!(ports("[31000-31001]]"), vec![31000, 31001]);
    assert_eq!(ports("[31002-31003]x"), vec![31002, 31003]);
    assert_eq!(ports("[31000-31001][5-6]"), vec![31000, 31001]);
    assert_eq!(ports("x[31000-31001]"), vec![31000, 31001]);
    assert_eq!(ports("[1-2-3]"), vec![1, 2]);
    assert_eq!(ports("[+5-+6]"), vec![5, 6]);
    assert_eq!(ports("[ 7-7 ,\u{a0}8-8]"), vec![7, 8]);
    // Served with the bad pieces skipped.
    assert_eq!(ports("[abc]"), Vec::<i64>::new());
    assert_eq!(ports("[31000-31001,]"), vec![31000, 31001]);
    assert_eq!(ports("[,]"), Vec::<i64>::new());
    assert_eq!(ports("[]x"), Vec::<i64>::new());
    assert_eq!(ports("[-5-6, 9-x]"), Vec::<i64>::new());
    // Shapes that crash Mesos-DNS.
    assert!(resource_ports("[31000]").is_err());
    assert!(resource_ports("31000-31001").is_err());
    assert!(resource_ports("[0-9223372036854775807]").is_err());
    // The same through whole states.
    for (text, want) in [
        ("[31000-31001", &[31000, 31001][..]),
        ("[31002-31003]x", &[31002, 31003][..]),
        ("[abc]", &[][..]),
        ("[31000-31001,]", &[31000, 31001][..]),
        ("x[31000-31001]", &[31000, 31001][..]),
    ] {
        let set = build(&base(json!([task(json!({"resources": {"ports": text}}))])));
        has(&set, "web.marathon.mesos", "A", &["10.0.1.3"]);
        let srv: Vec<String> = want
            .iter()
            .map(|p| format!("0 1 {p} web-x9kri-s3.marathon.slave.mesos"))
            .collect();
        match get(&set, "_web._tcp.marathon.mesos", "SRV") {
            Some(got) => assert_eq!(got, &srv, "{text}"),
            None => assert!(srv.is_empty(), "{text}"),
        }
    }
    for text in ["[31000]", "31000-31001"] {
        let e = build_err(base(json!([task(json!({"resources": {"ports": text}}))])));
        assert!(e.contains("crashes"), "{text}: {e}");
    }
}

/// Issue 11: ports above 65535 are generated as Mesos-DNS generates them;
/// the publishable filter keeps them out of NS1.
#[test]
fn ports_above_65535_generated_as_mesos_dns_does() {
    let set = build(&base(json!([
        task(json!({"resources": {"ports": "[65535-65536]"}})),
        task(json!({"id": "t2", "name": "big", "resources": {"ports": "[70000-70000]"}}))
    ])));
    has(
        &set,
        "_web._tcp.marathon.mesos",
        "SRV",
        &[
            "0 1 65535 web-x9kri-s3.marathon.slave.mesos",
            "0 1 65536 web-x9kri-s3.marathon.slave.mesos",
        ],
    );
    let big = get(&set, "_big._udp.marathon.slave.mesos", "SRV").unwrap();
    assert_eq!(big.len(), 1);
    assert!(big[0].starts_with("0 1 70000 big-"), "{big:?}");
    let records = publish(&base(json!([
        task(json!({"resources": {"ports": "[65535-65536]"}})),
        task(json!({"id": "t2", "name": "big", "resources": {"ports": "[70000-70000]"}}))
    ])));
    assert_eq!(
        records[&("_web._tcp.marathon.mesos".to_string(), "SRV".to_string())],
        vec!["0 1 65535 web-x9kri-s3.marathon.slave.mesos".to_string()]
    );
    assert!(!records.keys().any(|(n, _)| n.starts_with("_big.")));
}

/// The record set the sync publishes (after the publishable filter).
fn publish(state: &Value) -> Set {
    let body = serde_json::to_vec(state).unwrap();
    publish_raw(&body)
}

fn publish_raw(body: &[u8]) -> Set {
    let st = records::state::parse(body).unwrap();
    let mut set = records::generate(&st, &GenOptions::new("mesos"), &resolver()).unwrap();
    let own = mesos2ns1::plan::Ownership::new("mesos", &[]);
    let (recs, _) = mesos2ns1::plan::publishable(set.records(), &own);
    recs.into_iter()
        .map(|r| ((r.name, r.rtype.to_string()), r.answers))
        .collect()
}

fn build_raw(body: &str) -> Result<Set, String> {
    let st = records::state::parse(body.as_bytes()).map_err(|e| e.to_string())?;
    let mut set = records::generate(&st, &GenOptions::new("mesos"), &resolver())
        .map_err(|e| e.to_string())?;
    Ok(set
        .records()
        .into_iter()
        .map(|r| ((r.name, r.rtype.to_string()), r.answers))
        .collect())
}

fn with_fw_pid(pid: &str) -> Value {
    let mut state = base(json!([task(json!({}))]));
    state["frameworks"][0]["pid"] = json!(pid);
    state
}

/// Issue 11: pids as `PID.UnmarshalJSON` + `upid.Parse` read them: the
/// port text is kept in the records.
#[test]
fn pids_as_mesos_dns_reads_them() {
    // A service name, an empty port and a signed port are accepted.
    let set = build(&with_fw_pid("scheduler-1@10.0.0.9:http"));
    has(&set, "marathon.mesos", "A", &["10.0.0.9"]);
    has(
        &set,
        "_framework._tcp.marathon.mesos",
        "SRV",
        &["0 1 http marathon.mesos"],
    );
    let set = build(&with_fw_pid("scheduler-1@10.0.0.9:HTTPS"));
    has(
        &set,
        "_framework._tcp.marathon.mesos",
        "SRV",
        &["0 1 HTTPS marathon.mesos"],
    );
    let set = build(&with_fw_pid("scheduler-1@10.0.0.9:"));
    has(&set, "marathon.mesos", "A", &["10.0.0.9"]);
    assert!(get(&set, "_framework._tcp.marathon.mesos", "SRV").is_none());
    let set = build(&with_fw_pid("scheduler-1@10.0.0.9:+80"));
    has(
        &set,
        "_framework._tcp.marathon.mesos",
        "SRV",
        &["0 1 +80 marathon.mesos"],
    );
    // Published as the port Mesos-DNS serves for it.
    let recs = publish(&with_fw_pid("scheduler-1@10.0.0.9:+80"));
    assert_eq!(
        recs[&("_framework._tcp.marathon.mesos".into(), "SRV".into())],
        vec!["0 1 80 marathon.mesos".to_string()]
    );
    let recs = publish(&with_fw_pid("scheduler-1@10.0.0.9:http"));
    assert!(!recs.contains_key(&("_framework._tcp.marathon.mesos".into(), "SRV".into())));
    // An empty host: no framework records, tasks unaffected.
    let set = build(&with_fw_pid("scheduler-1@:15101"));
    assert!(get(&set, "marathon.mesos", "A").is_none());
    assert!(get(&set, "_framework._tcp.marathon.mesos", "SRV").is_none());
    has(&set, "web.marathon.mesos", "A", &["10.0.1.3"]);
    // Surrounding spaces are trimmed.
    let set = build(&with_fw_pid("  scheduler-1@10.0.0.9:15101 "));
    has(
        &set,
        "_framework._tcp.marathon.mesos",
        "SRV",
        &["0 1 15101 marathon.mesos"],
    );
    // Agents: the port text is kept; an empty host gives no agent address
    // but its tasks still count.
    let mut state = base(json!([task(json!({}))]));
    state["slaves"][0]["pid"] = json!("slave(1)@10.0.1.3:http");
    let set = build(&state);
    has(&set, "_slave._tcp.mesos", "SRV", &["0 1 http slave.mesos"]);
    state["slaves"][0]["pid"] = json!("slave(1)@:5051");
    let set = build(&state);
    assert!(get(&set, "slave.mesos", "A").is_none());
    assert!(get(&set, "_slave._tcp.mesos", "SRV").is_none());
    assert!(get(&set, "web.marathon.slave.mesos", "A").is_none());
    assert!(get(&set, "web.marathon.mesos", "A").is_none());
    assert!(get(&set, "_web._tcp.marathon.mesos", "SRV").is_none());
    // Rejected as Mesos-DNS rejects them.
    for bad in [
        "scheduler-1@10.0.0.9:nosuchservice",
        "scheduler-1@10.0.0.9:-1",
        "scheduler-1@10.0.0.9:65536",
        "scheduler-1@10.0.0.9",
        "scheduler-1@",
        "a@b@10.0.0.9:1",
        "scheduler-1@[fd00::1]x:1",
        "scheduler-1@ 10.0.0.9:1",
    ] {
        let e = build_err(with_fw_pid(bad));
        assert!(e.contains("frameworks[0]"), "{bad}: {e}");
    }
    // The pid is read undecoded: an escaped `@` is no `@`.
    let body = serde_json::to_string(&with_fw_pid("scheduler-1@10.0.0.9:15101")).unwrap();
    let escaped = body.replace("scheduler-1@", "scheduler-1\\u0040");
    assert!(escaped.contains("\\u0040"));
    let e = build_raw(&escaped).unwrap_err();
    assert!(e.contains("frameworks[0]") && e.contains("'@'"), "{e}");
    // An escape in the id part is harmless, as in Mesos-DNS.
    let escaped = body.replace("scheduler-1@", "sched\\u0031@");
    let set = build_raw(&escaped).unwrap();
    has(
        &set,
        "_framework._tcp.marathon.mesos",
        "SRV",
        &["0 1 15101 marathon.mesos"],
    );
    // A pid that is not a string is rejected, in one line.
    let e = build_raw(&body.replace(
        "\"scheduler-1@10.0.0.9:15101\"",
        "{\n\"a@10.0.0.9:1\": [1,\n2]}",
    ))
    .unwrap_err();
    assert!(e.contains("frameworks[0]") && !e.contains('\n'), "{e}");
    let e = build_raw(&body.replace("\"scheduler-1@10.0.0.9:15101\"", "5")).unwrap_err();
    assert!(e.contains("frameworks[0]"), "{e}");
    // IPv6 and zero-signed ports.
    let set = build(&with_fw_pid("s@[fd00::9]:-0"));
    has(&set, "marathon.mesos", "AAAA", &["fd00::9"]);
    has(
        &set,
        "_framework._tcp.marathon.mesos",
        "SRV",
        &["0 1 -0 marathon.mesos"],
    );
}

/// Issue 11: `null` inside a list is an empty element.
#[test]
fn null_in_lists_is_an_empty_element() {
    let state = json!({
        "leader": "master@10.0.0.1:5050",
        "slaves": [{"id": "f00d-S3", "pid": "slave(1)@10.0.1.3:5051"}],
        "frameworks": [null, {"name": "marathon", "pid": "scheduler-1@10.0.0.9:15101", "tasks": [
            null,
            {"id": "web.a1b2", "name": "web", "slave_id": "f00d-S3", "state": "TASK_RUNNING",
             "statuses": [null, {"state": "TASK_RUNNING", "timestamp": 1.0, "labels": [null],
                                 "container_status": {"network_infos": [null, {"ip_addresses": [null, {"ip_address": "9.0.0.1"}]}]}}],
             "discovery": {"name": "web", "ports": {"ports": [null, {"number": 80, "protocol": "tcp"}]}}}
        ]}]
    });
    let set = build(&state);
    has(&set, "web.marathon.mesos", "A", &["9.0.0.1"]);
    // The null DiscoveryInfo port is port 0 on both protocols.
    has(
        &set,
        "_web._tcp.marathon.mesos",
        "SRV",
        &[
            "0 1 0 web-x9kri-s3.marathon.mesos",
            "0 1 80 web-x9kri-s3.marathon.mesos",
        ],
    );
    has(
        &set,
        "_web._udp.marathon.mesos",
        "SRV",
        &["0 1 0 web-x9kri-s3.marathon.mesos"],
    );
    // A null agent has no pid: Mesos-DNS crashes on it.
    let e = build_err(json!({"leader": "master@10.0.0.1:5050", "slaves": [null]}));
    assert!(
        e.contains("slaves[0]") && e.contains("pid is missing"),
        "{e}"
    );
}

/// Issue 11: the search for the latest RUNNING status starts at -1.0.
#[test]
fn running_status_search_starts_at_minus_one() {
    let ip = |a: &str| json!({"container_status": {"network_infos": [{"ip_address": a}]}});
    for ts in [-1.0, -5.0, -1e300] {
        let statuses = json!([status(ts, ip("9.0.0.1"))]);
        let set = build(&base(json!([task(json!({"statuses": statuses}))])));
        has(&set, "web.marathon.mesos", "A", &["10.0.1.3"]);
    }
    let statuses = json!([status(-0.5, ip("9.0.0.1")), status(-2.0, ip("9.0.0.2"))]);
    let set = build(&base(json!([task(json!({"statuses": statuses}))])));
    has(&set, "web.marathon.mesos", "A", &["9.0.0.1"]);
}

/// Issue 11: a bracketed IPv6 framework hostname is not an address.
#[test]
fn bracketed_ipv6_framework_hostname_makes_no_record() {
    let state = json!({
        "leader": "master@10.0.0.1:5050",
        "frameworks": [{"name": "v6b", "hostname": "[fd00::44]"}, {"name": "v6", "hostname": "fd00::44"}]
    });
    let set = build(&state);
    assert!(!set.keys().any(|(n, _)| n.contains("v6b")));
    has(&set, "v6.mesos", "AAAA", &["fd00::44"]);
}

/// Issue 11: JSON decoding. `-0` reads as 0 (matched). Case-insensitive
/// keys, duplicate keys and lone surrogates differ from Go's decoder and are
/// documented in the README: real Mesos never writes them.
#[test]
fn json_decoding_differences() {
    let body = serde_json::to_string(&base(json!([task(json!({
        "discovery": {"name": "web", "ports": {"ports": [{"number": 7, "protocol": "tcp"}]}},
        "statuses": [{"state": "TASK_RUNNING", "timestamp": 7}]
    }))])))
    .unwrap();
    let set = build_raw(&body.replace("\"number\":7", "\"number\":-0")).unwrap();
    has(
        &set,
        "_web._tcp.marathon.mesos",
        "SRV",
        &["0 1 0 web-x9kri-s3.marathon.mesos"],
    );
    for not_int in ["-0.0", "7.0", "7e0", "\"7\"", "9223372036854775808"] {
        let e =
            build_raw(&body.replace("\"number\":7", &format!("\"number\":{not_int}"))).unwrap_err();
        assert!(
            e.contains("discovery.ports.ports[0].number"),
            "{not_int}: {e}"
        );
    }
    let set = build_raw(&body.replace("\"timestamp\":7", "\"timestamp\":-0")).unwrap();
    has(&set, "web.marathon.mesos", "A", &["10.0.1.3"]);
    // Documented differences: exact keys only (Go also takes "PID")...
    let set = build_raw(&body.replace("\"pid\":\"scheduler", "\"PID\":\"scheduler")).unwrap();
    assert!(get(&set, "_framework._tcp.marathon.mesos", "SRV").is_none());
    // ...a duplicate key and a lone surrogate reject the state with a clear
    // error (Go takes the last key, and reads U+FFFD).
    let dup = body.replace("\"name\":\"web\"", "\"name\":\"web\",\"name\":\"web\"");
    let e = build_raw(&dup).unwrap_err();
    assert!(e.contains("duplicate field"), "{e}");
    let lone = body.replace("\"name\":\"marathon\"", "\"name\":\"m\\ud800\"");
    let e = build_raw(&lone).unwrap_err();
    assert!(e.contains("not valid JSON") || e.contains("invalid"), "{e}");
}

/// Issue 11: numeric host forms keep the system resolver's reading
/// (glibc's inet_aton: `10.4` is 10.0.0.4, `010.4.4.4` is 8.4.4.4).
#[test]
fn numeric_host_forms_use_the_system_resolver() {
    use mesos2ns1::records::{Resolver, SystemResolver};
    let r = SystemResolver;
    assert_eq!(
        r.lookup("10.4"),
        vec!["10.0.0.4".parse::<IpAddr>().unwrap()]
    );
    assert_eq!(
        r.lookup("010.4.4.4"),
        vec!["8.4.4.4".parse::<IpAddr>().unwrap()]
    );
    let state = json!({
        "leader": "master@10.0.0.1:5050",
        "frameworks": [{"name": "short", "hostname": "10.4"}]
    });
    let body = serde_json::to_vec(&state).unwrap();
    let st = records::state::parse(&body).unwrap();
    let mut set = records::generate(&st, &GenOptions::new("mesos"), &r).unwrap();
    let recs = set.records();
    let short = recs.iter().find(|r| r.name == "short.mesos").unwrap();
    assert_eq!(short.answers, vec!["10.0.0.4".to_string()]);
}

/// Issue 11: one odd framework among healthy ones: every healthy
/// framework's records are built and published.
#[test]
fn one_odd_framework_never_blocks_the_cluster() {
    let healthy = |i: usize| {
        json!({"name": format!("fw{i}"), "pid": format!("scheduler@10.0.0.{i}:{}", 8000 + i), "tasks": [
            {"id": format!("app{i}.1"), "name": format!("app{i}"), "slave_id": "f00d-S3", "state": "TASK_RUNNING",
             "resources": {"ports": format!("[{}-{}]", 31000 + i, 31001 + i)},
             "statuses": [{"state": "TASK_RUNNING", "timestamp": 1.0}]}]})
    };
    let odd = json!({"name": "odd", "pid": "scheduler@10.0.0.99:http", "tasks": [
        null,
        {"id": "odd.1", "name": "odd", "slave_id": "f00d-S3", "state": "TASK_RUNNING",
         "resources": {"ports": "x[abc, 70000-70001, 5-6,]]"},
         "statuses": [null, {"state": "TASK_RUNNING", "timestamp": -3.0}],
         "discovery": {"name": "Odd", "ports": {"ports": [null]}}},
        {"id": "odd.2", "name": "wide", "slave_id": "f00d-S3", "state": "TASK_RUNNING",
         "resources": {"ports": "[1-65535]"}}
    ]});
    let state_with = |odd: Option<&Value>| {
        let mut fws: Vec<Value> = (1..=3).map(healthy).collect();
        if let Some(o) = odd {
            fws.insert(1, o.clone());
        }
        json!({"leader": "master@10.0.0.1:5050",
               "slaves": [{"id": "f00d-S3", "pid": "slave(1)@10.0.1.3:5051"}],
               "frameworks": fws})
    };
    let alone = publish(&state_with(None));
    let all = publish(&state_with(Some(&odd)));
    for (key, answers) in &alone {
        let got = all.get(key).unwrap_or_else(|| panic!("{key:?} missing"));
        for a in answers {
            assert!(got.contains(a), "{key:?}: {a} missing from {got:?}");
        }
    }
    assert!(alone.len() > 20, "{}", alone.len());
    // The odd framework itself gets what Mesos-DNS would serve.
    assert!(all.contains_key(&("odd.mesos".into(), "A".into())));
    assert!(!all.contains_key(&("_framework._tcp.odd.mesos".into(), "SRV".into())));
    let odd_srv = &all[&("_odd._tcp.odd.slave.mesos".into(), "SRV".into())];
    let odd_ports: Vec<&str> = odd_srv
        .iter()
        .map(|a| a.split(' ').nth(2).unwrap())
        .collect();
    assert_eq!(odd_ports, ["5", "6"], "{odd_srv:?}");
    has(
        &build(&state_with(Some(&odd))),
        "_odd._udp.odd.mesos",
        "SRV",
        &["0 1 0 odd-khw3d-s3.odd.mesos"],
    );
    // The task over its port bound has no SRV records, but its addresses.
    assert!(all.keys().any(|(n, t)| n == "wide.odd.mesos" && t == "A"));
    assert!(!all.keys().any(|(n, _)| n.starts_with("_wide.")));
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

/// Issue 10: ports are de-duplicated per task, and a task's bound counts
/// distinct resource ports plus DiscoveryInfo ports.
#[test]
fn ports_are_deduplicated_per_task_and_bounded() {
    assert_eq!(
        ports("[31000-31001, 31000-31001, 31001-31002, 31002-31002]"),
        vec![31000, 31001, 31002]
    );
    assert_eq!(
        resource_ports(&repeat_range("1-65535", 2000))
            .unwrap()
            .len(),
        65535
    );
    let state = base(json!([task(json!({
        "resources": {"ports": "[31000-31001, 31000-31001, 31001-31002]"},
        "discovery": {"name": "web", "ports": {"ports": [{"number": 80}]}}
    }))]));
    let with_bound = |n: usize| {
        let mut opts = GenOptions::new("mesos");
        opts.max_task_ports = n;
        build_with(&state, &opts).unwrap()
    };
    // 3 distinct resource ports + 1 DiscoveryInfo port = 4.
    let set = with_bound(4);
    assert_eq!(
        get(&set, "_web._tcp.marathon.slave.mesos", "SRV")
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        get(&set, "_web._tcp.marathon.mesos", "SRV").unwrap().len(),
        1
    );
    let set = with_bound(3);
    assert!(!set.keys().any(|(n, _)| n.starts_with("_web.")));
    assert!(get(&set, "_web._tcp.marathon.slave.mesos", "SRV").is_none());
    has(&set, "web.marathon.mesos", "A", &["10.0.1.3"]);
}

fn repeat_range(range: &str, n: usize) -> String {
    format!("[{}]", vec![range; n].join(","))
}

fn answers(set: &Set) -> usize {
    set.values().map(Vec::len).sum()
}

/// Issue 10: the 16 KB state with one task holding 2,000 copies of
/// `1-65535` (it made 0.1.0 try to allocate 5.2 GB): that task's port
/// records are skipped, the rest of the cluster is published.
#[test]
fn sixteen_kb_state_of_repeated_full_ranges_is_bounded() {
    let state = base(json!([
        task(json!({"resources": {"ports": repeat_range("1-65535", 2000)}})),
        task(json!({"id": "ok.1", "name": "ok", "resources": {"ports": "[31000-31001]"}}))
    ]));
    let body = serde_json::to_vec(&state).unwrap();
    assert!((16_000..20_000).contains(&body.len()), "{}", body.len());
    let set = build(&state);
    assert!(answers(&set) < 40, "{} answers", answers(&set));
    has(&set, "web.marathon.mesos", "A", &["10.0.1.3"]);
    assert!(!set.keys().any(|(n, _)| n.starts_with("_web.")));
    has(
        &set,
        "_ok._tcp.marathon.mesos",
        "SRV",
        &[
            "0 1 31000 ok-ha5pn-s3.marathon.slave.mesos",
            "0 1 31001 ok-ha5pn-s3.marathon.slave.mesos",
        ],
    );
}

/// Issue 10: 50 tasks with `[1-65535]` (1.44 GB in 0.1.0): every one is over
/// the default bound, so only their addresses are built; with the bound
/// raised, the total bound refuses the state.
#[test]
fn fifty_full_range_tasks_are_bounded_and_the_total_refuses() {
    let tasks: Vec<Value> = (0..50)
        .map(|i| {
            task(
                json!({"id": format!("wide.{i}"), "name": format!("wide{i}"),
                        "resources": {"ports": "[1-65535]"}}),
            )
        })
        .collect();
    let state = base(json!(tasks));
    assert!(serde_json::to_vec(&state).unwrap().len() < 12_000);
    let set = build(&state);
    let srv = set.keys().filter(|(_, t)| t == "SRV").count();
    assert_eq!(
        srv,
        4,
        "only leader, slave and framework SRV: {:#?}",
        set.keys()
    );
    assert!(answers(&set) < 50 * 4 + 20, "{}", answers(&set));
    // Raise the per-task bound: the total bound stops it before it grows.
    let mut opts = GenOptions::new("mesos");
    opts.max_task_ports = 70_000;
    opts.max_records = 1_000_000;
    let e = build_with(&state, &opts).unwrap_err();
    assert!(
        e.contains("more than 1000000 records") && e.contains("--max-records"),
        "{e}"
    );
    // Within both bounds, everything is built.
    opts.max_records = 10_000_000;
    let one = base(json!([tasks[0].clone()]));
    let set = build_with(&one, &opts).unwrap();
    assert_eq!(
        get(&set, "_wide0._udp.marathon.mesos", "SRV")
            .unwrap()
            .len(),
        65535
    );
}

/// The zone-file output comments out SRV answers whose port no zone file
/// can hold (kept as text, or above 65535), as it does unpublishable names.
#[test]
fn zone_output_comments_out_ports_it_cannot_hold() {
    let mut state = base(json!([task(
        json!({"resources": {"ports": "[65535-65536]"}})
    )]));
    state["frameworks"][0]["pid"] = json!("scheduler-1@10.0.0.9:http");
    let body = serde_json::to_vec(&state).unwrap();
    let st = records::state::parse(&body).unwrap();
    let mut set = records::generate(&st, &GenOptions::new("mesos"), &resolver()).unwrap();
    let mut out = Vec::new();
    records::output::write_zone(&mut set, 60, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle}: {text}"))
            .to_string()
    };
    assert!(line("0 1 65535 web-").starts_with("_web._tcp.marathon.mesos."));
    assert!(line("0 1 65536 web-").starts_with("; not publishable"));
    assert!(line("0 1 http marathon.mesos").starts_with("; not publishable"));
}
