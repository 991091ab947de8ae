//! Property tests: no input makes the parser or the generator panic.

use mesos2ns1::records::{self, GenOptions, LabelRules, StaticResolver, output};
use proptest::prelude::*;
use serde_json::{Value, json};

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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

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
