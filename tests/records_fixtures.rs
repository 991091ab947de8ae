//! The public fixtures must give exactly their expected record sets, whole
//! and byte for byte. They are third-party data, read from
//! `../shared/fixtures` (see tests/support/fixtures.rs).

#[path = "support/fixtures.rs"]
mod fixtures;

use fixtures::shared_fixtures;
use mesos2ns1::records::{self, GenOptions, StaticResolver, output};
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

const FIXTURES: &[&str] = &[
    "mesos-dns-fake-state",
    "real-datadog-state",
    "real-etcd-mesos-0.22-state",
    "real-mantl-0.23-state",
    "real-marathon-0.28-state",
];

fn fixture(dir: &Path, name: &str) -> Vec<u8> {
    let path = dir.join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fixtures were made on a machine whose /etc/hosts maps `localhost`
/// to 127.0.0.1 only, and where no other host name resolves.
fn fixture_resolver() -> StaticResolver {
    let mut r = StaticResolver::default();
    r.0.insert(
        "localhost".into(),
        vec!["127.0.0.1".parse::<IpAddr>().unwrap()],
    );
    r
}

#[test]
fn every_fixture_gives_exactly_its_expected_set() {
    let Some(shared) = shared_fixtures("every_fixture_gives_exactly_its_expected_set") else {
        return;
    };
    for name in FIXTURES {
        let body = fixture(&shared, &format!("{name}.json"));
        let state = records::state::parse(&body).unwrap();
        let mut set = records::generate(&state, &GenOptions::new("mesos"), &fixture_resolver())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut out = Vec::new();
        output::write_json(&mut set, &mut out).unwrap();
        let expected = fixture(&shared, &format!("{name}.expected.json"));
        if out != expected {
            let got = String::from_utf8_lossy(&out);
            let want = String::from_utf8_lossy(&expected);
            let first_diff = got
                .lines()
                .zip(want.lines())
                .enumerate()
                .find(|(_, (a, b))| a != b)
                .map(|(i, (a, b))| format!("line {}: got {a:?}, want {b:?}", i + 1));
            panic!("{name}: output differs from the expected set: {first_diff:?}");
        }
    }
}

#[test]
fn binary_records_json_matches_fixture() {
    let Some(shared) = shared_fixtures("binary_records_json_matches_fixture") else {
        return;
    };
    // This fixture names no host that needs resolving.
    let dir = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(env!("CARGO_BIN_EXE_mesos2ns1"))
        .args([
            "records",
            "--format",
            "json",
            "--domain",
            "mesos",
            "--config",
            "/dev/null/none",
        ])
        .arg("--state-file")
        .arg(shared.join("real-mantl-0.23-state.json"))
        .output()
        .unwrap();
    // A --config that does not exist is an error (exit 2).
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = Command::new(env!("CARGO_BIN_EXE_mesos2ns1"))
        .args(["records", "--format", "json", "--domain", "mesos"])
        .arg("--state-file")
        .arg(shared.join("real-mantl-0.23-state.json"))
        .env(
            "MESOS2NS1_CONFIG",
            format!("{dir}/tests/fixtures/empty-config.json"),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.stdout,
        fixture(&shared, "real-mantl-0.23-state.expected.json")
    );
}

#[test]
fn binary_zone_format_uses_the_ttl() {
    let Some(shared) = shared_fixtures("binary_zone_format_uses_the_ttl") else {
        return;
    };
    let dir = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(env!("CARGO_BIN_EXE_mesos2ns1"))
        .args(["records", "--domain", "mesos", "--ttl", "30"])
        .arg("--state-file")
        .arg(shared.join("mesos-dns-fake-state.json"))
        .env(
            "MESOS2NS1_CONFIG",
            format!("{dir}/tests/fixtures/empty-config.json"),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("$TTL 30\n"));
    assert!(text.contains("leader.mesos.\t30\tIN\tA\t127.0.0.1\n"));
    assert!(text.contains(
        "_big-dog._tcp.marathon.mesos.\t30\tIN\tSRV\t0 1 443 big-dog-4dfjd-0.marathon.mesos.\n"
    ));
    // The raw DiscoveryInfo name `big.dog` makes more labels, all valid.
    assert!(text.contains(
        "_big.dog._tcp.marathon.mesos.\t30\tIN\tSRV\t0 1 80 big.dog-4dfjd-0.marathon.mesos.\n"
    ));
    assert!(!text.contains("; not publishable"));
    for line in text
        .lines()
        .filter(|l| !l.starts_with(';') && !l.starts_with('$'))
    {
        let name = line.split('\t').next().unwrap();
        assert!(name.ends_with('.'), "{line}");
    }
}
