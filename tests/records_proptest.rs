//! Property tests: no input makes the parser or the generator panic.

use mesos2ns1::records::{self, GenOptions, LabelRules, Profile, StaticResolver, output};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

fn run(bytes: &[u8]) {
    if let Ok(state) = records::state::parse(bytes) {
        for rules in [LabelRules::Rfc1123, LabelRules::Rfc952] {
            let mut opts = GenOptions::new("mesos");
            opts.rules = rules;
            opts.masters = vec!["10.0.0.1:5050".into(), "10.0.0.2:5050".into()];
            if let Ok(mut set) = records::generate(&state, &opts, &StaticResolver::default()) {
                let mut sink = Vec::new();
                output::write_json(&mut set, &mut sink).unwrap();
                output::write_zone(&mut set, 60, &mut sink).unwrap();
            }
        }
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("leader".to_string()),
                    Just("slaves".to_string()),
                    Just("frameworks".to_string()),
                    Just("tasks".to_string()),
                    Just("pid".to_string()),
                    Just("id".to_string()),
                    Just("name".to_string()),
                    Just("statuses".to_string()),
                    Just("discovery".to_string()),
                    Just("ports".to_string()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_name() -> impl Strategy<Value = String> {
    prop_oneof![".{0,80}", "[A-Za-z0-9_.\\- ]{0,70}", Just(String::new())]
}

/// States of the right shape with arbitrary values in every string.
fn arb_state() -> impl Strategy<Value = Value> {
    let ip = prop_oneof![
        Just("10.0.0.1".to_string()),
        Just("::ffff:1.2.3.4".to_string()),
        Just("fd00::1".to_string()),
        ".{0,20}"
    ];
    let ports = prop_oneof![
        Just("[31000-31002, 31010-31010]".to_string()),
        Just("[]".to_string()),
        "\\[[0-9\\-, ]{0,20}\\]?",
        ".{0,16}"
    ];
    let task = (arb_name(), arb_name(), ports, ip.clone(), arb_name(), arb_name(), any::<i64>()).prop_map(
        |(name, id, ports, ip, dname, pname, number)| {
            json!({
                "id": id, "name": name, "slave_id": "f00d-S3", "state": "TASK_RUNNING",
                "resources": {"ports": ports},
                "discovery": {"name": dname, "ports": {"ports": [{"number": number, "name": pname, "protocol": pname}]}},
                "statuses": [{"state": "TASK_RUNNING", "timestamp": 1.0,
                    "labels": [{"key": "MesosContainerizer.NetworkSettings.IPAddress", "value": ip}],
                    "container_status": {"network_infos": [{"ip_addresses": [{"ip_address": ip}]}]}}]
            })
        },
    );
    let pid = prop_oneof![
        Just("slave(1)@10.0.1.3:5051".to_string()),
        Just("slave(1)@[fd00::3]:5051".to_string()),
        ".{0,24}"
    ];
    (
        arb_name(),
        prop::collection::vec(task, 0..5),
        pid.clone(),
        pid,
    )
        .prop_map(|(fw, tasks, spid, lpid)| {
            json!({
                "leader": lpid,
                "slaves": [{"id": "f00d-S3", "pid": spid}],
                "frameworks": [{"name": fw, "pid": "scheduler@10.0.0.9:1", "tasks": tasks}]
            })
        })
}

/// Odd resource port strings that Mesos-DNS serves, with the ports it
/// reads from them: text before the first `[`, pieces that do not start
/// with an integer, extra `-ends`, spaces, a missing or doubled `]`, text
/// after it.
fn odd_ports() -> impl Strategy<Value = (String, BTreeSet<i64>)> {
    let piece = prop_oneof![
        (0i64..70_000, 0i64..4, " {0,2}", " {0,2}").prop_map(|(a, d, l, r)| (
            format!("{l}{a}-{}{r}", a + d),
            (a..=a + d).collect::<Vec<_>>()
        )),
        (0i64..70_000, 1i64..4).prop_map(|(a, d)| (format!("{}-{a}", a + d), vec![])),
        (0i64..100, 0i64..3)
            .prop_map(|(a, d)| (format!("+{a}-{}-9", a + d), (a..=a + d).collect())),
        "[a-z ]{0,3}".prop_map(|junk| (junk, vec![])),
        (0i64..100).prop_map(|a| (format!("{a}-x"), vec![])),
    ];
    (
        "[a-z ]{0,2}",
        prop::collection::vec(piece, 1..5),
        prop_oneof![Just(""), Just("]"), Just("]]"), Just("]x"), Just("][5-6]")],
    )
        .prop_map(|(prefix, pieces, end)| {
            let text: Vec<&str> = pieces.iter().map(|(t, _)| t.as_str()).collect();
            let want = pieces.iter().flat_map(|(_, p)| p.iter().copied()).collect();
            (format!("{prefix}[{}{end}", text.join(",")), want)
        })
}

/// Odd pids that Mesos-DNS accepts, with the host given and the port text
/// it keeps.
fn odd_pid() -> impl Strategy<Value = (String, &'static str, String)> {
    let host = prop_oneof![
        Just(("10.0.0.7", "10.0.0.7")),
        Just(("[fd00::7]", "fd00::7")),
        Just(("", ""))
    ];
    let port = prop_oneof![
        Just(String::new()),
        (0u32..=65535).prop_map(|p| p.to_string()),
        (0u32..=65535).prop_map(|p| format!("+{p}")),
        (0u32..=999).prop_map(|p| format!("0{p}")),
        Just("-0".to_string()),
        prop_oneof![Just("http"), Just("HTTPS"), Just("ssh"), Just("Telnet")]
            .prop_map(String::from),
    ];
    ("[^@\\\"]{0,8}", host, port, " {0,2}", " {0,2}")
        .prop_map(|(id, (h, ip), port, l, r)| (format!("{l}{id}@{h}:{port}{r}"), ip, port))
}

type Set = BTreeMap<(String, String), Vec<String>>;

fn records_of(state: &Value) -> Result<Set, String> {
    let body = serde_json::to_vec(state).unwrap();
    let st = records::state::parse(&body).map_err(|e| e.to_string())?;
    let mut set = records::generate(&st, &GenOptions::new("mesos"), &StaticResolver::default())
        .map_err(|e| e.to_string())?;
    Ok(set
        .records()
        .into_iter()
        .map(|r| ((r.name, r.rtype.to_string()), r.answers))
        .collect())
}

fn cluster(odd: Option<Value>) -> Value {
    let mut fws = vec![
        json!({"name": "healthy", "pid": "scheduler@10.0.0.9:8080", "tasks": [
        {"id": "app.1", "name": "app", "slave_id": "f00d-S3", "state": "TASK_RUNNING",
         "resources": {"ports": "[31000-31001]"},
         "statuses": [{"state": "TASK_RUNNING", "timestamp": 1.0}]}]}),
    ];
    fws.extend(odd);
    json!({"leader": "master@10.0.0.1:5050",
           "slaves": [{"id": "f00d-S3", "pid": "slave(1)@10.0.1.3:5051"}],
           "frameworks": fws})
}

/// Issue 22: the new code paths leave the default set alone. For a state,
/// the default profile's JSON is the same with reverse zones listed; the
/// aventer set holds every upstream answer; every PTR has one target, a
/// name whose A/AAAA answers hold the PTR's address; reverse names are
/// unique. Returns false when the state is refused (then both profiles
/// refuse it).
fn profile_properties(state: &Value) -> Result<bool, TestCaseError> {
    let body = serde_json::to_vec(state).unwrap();
    let Ok(st) = records::state::parse(&body) else {
        return Ok(false);
    };
    let resolver = StaticResolver::default();
    let base = GenOptions::new("mesos");
    let mut with_zones = base.clone();
    with_zones.reverse_zones = records::reverse::parse_reverse_zones(&[
        "10.in-addr.arpa",
        "4.3.2.1.in-addr.arpa",
        "0.0.d.f.ip6.arpa",
    ])
    .unwrap();
    let mut aventer = with_zones.clone();
    aventer.profile = Profile::Aventer;
    let plain = records::generate(&st, &base, &resolver);
    let zoned = records::generate_all(&st, &with_zones, &resolver);
    let av = records::generate_all(&st, &aventer, &resolver);
    let (mut plain, mut zoned, mut av) = match (plain, zoned, av) {
        (Ok(p), Ok(z), Ok(a)) => (p, z, a),
        (Err(p), Err(z), Err(a)) => {
            prop_assert_eq!(&p, &z);
            prop_assert_eq!(&p, &a);
            return Ok(false);
        }
        (p, z, a) => {
            return Err(TestCaseError::fail(format!(
                "refusals differ: {:?} {:?} {:?}",
                p.err(),
                z.err(),
                a.err()
            )));
        }
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    output::write_json(&mut plain, &mut a).unwrap();
    output::write_json(&mut zoned.forward, &mut b).unwrap();
    prop_assert_eq!(&a, &b);
    let up: BTreeMap<(String, String), Vec<String>> = plain
        .records()
        .into_iter()
        .map(|r| ((r.name, r.rtype.to_string()), r.answers))
        .collect();
    let fork: BTreeMap<(String, String), Vec<String>> = av
        .forward
        .records()
        .into_iter()
        .map(|r| ((r.name, r.rtype.to_string()), r.answers))
        .collect();
    for (k, answers) in &up {
        let got = fork.get(k);
        prop_assert!(
            got.is_some_and(|g| answers.iter().all(|x| g.contains(x))),
            "{:?}",
            k
        );
    }
    prop_assert_eq!(&zoned.reverse, &av.reverse);
    let mut names = BTreeSet::new();
    for r in zoned.reverse.records() {
        prop_assert!(names.insert(r.name.clone()), "{} twice", r.name);
        prop_assert_eq!(r.answers.len(), 1);
        let holds = ["A", "AAAA"].iter().any(|t| {
            up.get(&(r.answers[0].clone(), t.to_string()))
                .is_some_and(|ips| {
                    ips.iter().any(|ip| {
                        ip.parse()
                            .is_ok_and(|ip| records::reverse::reverse_name(ip) == r.name)
                    })
                })
        });
        prop_assert!(holds, "PTR {} -> {}", r.name, r.answers[0]);
    }
    Ok(true)
}

/// States of many tasks on few addresses, for the PTR rule.
fn arb_crowded_state() -> impl Strategy<Value = Value> {
    let ip = prop_oneof![
        Just("10.0.0.1"),
        Just("10.0.0.2"),
        Just("1.2.3.4"),
        Just("fd00::1"),
        Just("::ffff:10.0.0.2"),
        Just("192.168.0.1"),
    ];
    let name = prop_oneof![
        Just("web"),
        Just("api"),
        Just("Api_V2"),
        Just("db.main"),
        Just("")
    ];
    let task = (
        name.clone(),
        name,
        prop::collection::vec(ip, 0..3),
        prop_oneof![Just("f00d-S1"), Just("f00d-S2")],
        any::<bool>(),
        0u8..3,
    )
        .prop_map(|(n, dname, ips, slave, running, fw)| {
            json!({"fw": fw, "task": {
                "id": format!("{n}.{dname}.{}", ips.len()), "name": n, "slave_id": slave,
                "state": if running { "TASK_RUNNING" } else { "TASK_KILLED" },
                "resources": {"ports": "[31000-31001]"},
                "discovery": {"name": dname, "ports": {"ports": [{"number": 80, "name": "http"}]}},
                "statuses": [{"state": "TASK_RUNNING", "timestamp": 1.0,
                    "container_status": {"network_infos": [{"ip_addresses":
                        ips.iter().map(|ip| json!({"ip_address": ip})).collect::<Vec<_>>()}]}}]
            }})
        });
    prop::collection::vec(task, 0..8).prop_map(|tasks| {
        let mut fws = vec![
            json!({"name": "marathon", "pid": "scheduler@10.0.0.9:1", "tasks": []}),
            json!({"name": "aurora", "tasks": []}),
            json!({"name": "Team.Marathon", "tasks": []}),
        ];
        for t in tasks {
            let i = t["fw"].as_u64().unwrap() as usize;
            fws[i]["tasks"]
                .as_array_mut()
                .unwrap()
                .push(t["task"].clone());
        }
        json!({
            "leader": "master@10.0.0.1:5050",
            "slaves": [{"id": "f00d-S1", "pid": "slave(1)@10.0.0.1:5051"},
                       {"id": "f00d-S2", "pid": "slave(1)@[fd00::2]:5051"}],
            "frameworks": fws
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn profiles_and_ptrs_keep_the_default_set(v in arb_crowded_state()) {
        prop_assert!(profile_properties(&v)?);
    }

    #[test]
    fn profiles_and_ptrs_keep_the_default_set_on_arbitrary_states(v in arb_state()) {
        let mut v = v;
        v["leader"] = json!("master@10.0.0.1:5050");
        profile_properties(&v)?;
    }

    /// Issue 11 regression suite: an odd framework is served as Mesos-DNS
    /// serves it, and never costs the healthy framework its records.
    #[test]
    fn odd_but_valid_ports_and_pids_are_served((ports, want) in odd_ports(), (pid, ip, port) in odd_pid()) {
        let odd = json!({"name": "odd", "pid": pid, "tasks": [
            {"id": "o.1", "name": "o", "slave_id": "f00d-S3", "state": "TASK_RUNNING",
             "resources": {"ports": ports}}]});
        let alone = records_of(&cluster(None)).unwrap();
        let all = records_of(&cluster(Some(odd)));
        prop_assert!(all.is_ok(), "{pid:?} {ports:?}: {:?}", all.err());
        let all = all.unwrap();
        for (key, answers) in &alone {
            let got = all.get(key);
            prop_assert!(got.is_some_and(|g| answers.iter().all(|a| g.contains(a))), "{key:?}");
        }
        let srv: BTreeSet<i64> = all
            .get(&("_o._tcp.odd.mesos".to_string(), "SRV".to_string()))
            .map(|a| a.iter().map(|a| a.split(' ').nth(2).unwrap().parse().unwrap()).collect())
            .unwrap_or_default();
        prop_assert_eq!(srv, want, "{}", ports);
        let fw_srv = all.get(&("_framework._tcp.odd.mesos".to_string(), "SRV".to_string()));
        if ip.is_empty() {
            prop_assert!(!all.keys().any(|(n, _)| n == "odd.mesos"));
        } else {
            let rtype = if ip.contains(':') { "AAAA" } else { "A" };
            prop_assert_eq!(all.get(&("odd.mesos".to_string(), rtype.to_string())), Some(&vec![ip.to_string()]));
            if port.is_empty() {
                prop_assert!(fw_srv.is_none());
            } else {
                prop_assert_eq!(fw_srv, Some(&vec![format!("0 1 {port} odd.mesos")]));
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        run(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        run(&serde_json::to_vec(&v).unwrap());
    }

    #[test]
    fn arbitrary_states_never_panic(v in arb_state()) {
        run(&serde_json::to_vec(&v).unwrap());
        // With the leader forced valid, generation must also succeed or
        // fail with a message, never panic.
        let mut v = v;
        v["leader"] = json!("master@10.0.0.1:5050");
        run(&serde_json::to_vec(&v).unwrap());
    }

    #[test]
    fn labels_are_bounded_and_clean(s in ".{0,200}") {
        for (rules, max) in [(LabelRules::Rfc1123, 63), (LabelRules::Rfc952, 24)] {
            let l = records::labels::label(&s, rules);
            prop_assert!(l.len() <= max);
            prop_assert!(!l.starts_with('-'));
            prop_assert!(l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        }
    }
}
