//! Property tests for the opt-in fields: whatever a state carries in the
//! fields only they read (task `labels`, `health_check`, `statuses[].healthy`,
//! `discovery.visibility`), the default record set is the one of the same
//! state without them, and no option combination panics.

use mesos2ns1::records::{self, GenOptions, StaticResolver};
use mesos2ns1::records::{HealthyOnly, Visibility};
use proptest::prelude::*;
use serde_json::{Value, json};

fn records_of(v: &Value, opts: &GenOptions) -> Result<Vec<records::Record>, String> {
    let body = serde_json::to_vec(v).unwrap();
    let state = records::state::parse(&body).map_err(|e| e.to_string())?;
    let mut set =
        records::generate(&state, opts, &StaticResolver::default()).map_err(|e| e.to_string())?;
    Ok(set.records())
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        prop_oneof![
            Just("EXTERNAL".to_string()),
            Just("CLUSTER".to_string()),
            Just("mesos2ns1.ip-sources".to_string()),
            Just("host".to_string()),
            Just("netinfo,host".to_string()),
            ".{0,12}"
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("key".to_string()),
                    Just("value".to_string()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn state(extra: Option<(Value, Value, Value, Value)>) -> Value {
    let mut task = json!({
        "id": "web.1", "name": "web", "slave_id": "S1", "state": "TASK_RUNNING",
        "resources": {"ports": "[31000-31001]"},
        "discovery": {"name": "web", "ports": {"ports": [{"number": 80, "name": "http", "protocol": "tcp"}]}},
        "statuses": [{"state": "TASK_RUNNING", "timestamp": 1.0,
            "container_status": {"network_infos": [{"ip_addresses": [{"ip_address": "172.17.0.2"}]}]}}]
    });
    if let Some((labels, check, healthy, visibility)) = extra {
        task["labels"] = labels;
        task["health_check"] = check;
        task["statuses"][0]["healthy"] = healthy;
        task["discovery"]["visibility"] = visibility;
    }
    json!({
        "leader": "master@10.0.0.1:5050",
        "slaves": [{"id": "S1", "pid": "slave(1)@10.0.1.1:5051"}],
        "frameworks": [{"name": "marathon", "pid": "scheduler@10.0.0.9:1", "tasks": [task]}]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_opt_in_fields_never_change_the_default_set(
        labels in arb_value(), check in arb_value(), healthy in arb_value(), vis in arb_value()
    ) {
        let plain = records_of(&state(None), &GenOptions::new("mesos")).unwrap();
        let odd = state(Some((labels, check, healthy, vis)));
        let mut defaults = GenOptions::new("mesos");
        // A valid label may choose other IP sources, which changes task A
        // records only: the SRV records must be the same.
        prop_assert_eq!(
            records_of(&odd, &defaults).map(|r| r.into_iter().filter(|r| r.rtype.to_string() == "SRV").collect::<Vec<_>>()),
            Ok(plain.iter().filter(|r| r.rtype.to_string() == "SRV").cloned().collect::<Vec<_>>())
        );
        for h in [HealthyOnly::Off, HealthyOnly::On, HealthyOnly::Strict] {
            for v in [None, Some(Visibility::Framework), Some(Visibility::External)] {
                defaults.healthy_only = h;
                defaults.min_visibility = v;
                prop_assert!(records_of(&odd, &defaults).is_ok());
            }
        }
    }

    #[test]
    fn without_the_label_the_whole_default_set_is_unchanged(
        check in arb_value(), healthy in arb_value(), vis in arb_value()
    ) {
        let plain = records_of(&state(None), &GenOptions::new("mesos")).unwrap();
        let odd = state(Some((Value::Null, check, healthy, vis)));
        prop_assert_eq!(records_of(&odd, &GenOptions::new("mesos")), Ok(plain));
    }
}
