//! The parts of Mesos-DNS's task names (spec §4) and the one rule that
//! reads them back: the task hash `H`, the agent part `S`, the z-base-32
//! alphabet `H` is written in, and how much each name is queried.

use data_encoding::{Encoding, Specification};
use sha1::{Digest, Sha1};
use std::collections::HashSet;
use std::sync::OnceLock;

/// The z-base-32 alphabet (the one Mesos-DNS's task hash uses).
pub const ZBASE32_ALPHABET: &str = "ybndrfg8ejkmcpqxot1uwisza345h769";

fn zbase32() -> &'static Encoding {
    static ENC: OnceLock<Encoding> = OnceLock::new();
    ENC.get_or_init(|| {
        let mut spec = Specification::new();
        spec.symbols.push_str(ZBASE32_ALPHABET);
        spec.encoding()
            .expect("z-base-32 alphabet is a valid specification")
    })
}

/// `H`: SHA-1 of the task id, z-base-32, first 5 characters (spec §4).
pub fn task_hash(task_id: &str) -> String {
    let digest = Sha1::digest(task_id.as_bytes());
    // 5 characters need 25 bits: encode the first 5 bytes (40 bits, 8 chars).
    let mut s = zbase32().encode(&digest[..5]);
    s.truncate(5);
    s
}

/// `S`: the text after the last `-` of the agent id, lowercased (spec §4).
pub fn slave_part(slave_id: &str) -> String {
    slave_id
        .rsplit('-')
        .next()
        .unwrap_or(slave_id)
        .to_lowercase()
}

/// How much a name is queried, 1 (most) to 4 (least), for a name below
/// `domain`:
/// 1. the leader and master names (`leader.D`, `_leader._tcp.D`,
///    `master.D`, `masterN.D`);
/// 2. service names `TASK.FW.D`, `_TASK._PROTO.FW.D`,
///    `_PORT._TASK._PROTO.FW.D` and framework names;
/// 3. per-instance names (SRV targets, `N-HASH-S.FW.D`) and names under
///    `.slave.D`;
/// 4. `slave.D` and `_slave._tcp.D`.
///
/// `targets` holds the targets of the plan's per-instance SRV records
/// (normalized; see [`instance_srv`]): a name that is a target but no
/// canonical label (e.g. an agent id ending in `-`) is still a
/// per-instance name. A framework's `FW.D` is the target of
/// `_framework._tcp.FW.D`, which is not a per-instance SRV record, so a
/// framework name stays in 2.
pub fn priority(name: &str, domain: &str, targets: &HashSet<String>) -> u8 {
    let name = name.trim_end_matches('.');
    let rel = match name.strip_suffix(domain) {
        Some(r) if r.ends_with('.') => &r[..r.len() - 1],
        _ => return 2,
    };
    match rel {
        "leader" | "_leader._tcp" | "_leader._udp" | "master" => return 1,
        "slave" | "_slave._tcp" | "_slave._udp" => return 4,
        _ => {}
    }
    if let Some(n) = rel.strip_prefix("master")
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
    {
        return 1;
    }
    if rel == "slave" || rel.ends_with(".slave") {
        return 3;
    }
    if targets.contains(name) || is_canonical_label(rel.split('.').next().unwrap_or("")) {
        return 3;
    }
    2
}

/// Whether the SRV record `name` points at per-instance names, i.e. is
/// none of `_framework._tcp.FW.D`, `_leader._tcp.D`, `_slave._tcp.D` (and
/// their `_udp` forms), whose targets are framework, leader and agent
/// names. Only these records' targets feed [`priority`].
pub fn instance_srv(name: &str, domain: &str) -> bool {
    let name = name.trim_end_matches('.');
    let rel = name
        .strip_suffix(domain)
        .and_then(|r| r.strip_suffix('.'))
        .unwrap_or(name);
    !(rel.starts_with("_framework._")
        || matches!(
            rel,
            "_leader._tcp" | "_leader._udp" | "_slave._tcp" | "_slave._udp"
        ))
}

/// `N-HASH-S`: a Mesos-DNS canonical task label, HASH being five
/// z-base-32 characters.
fn is_canonical_label(label: &str) -> bool {
    if label.starts_with('_') {
        return false;
    }
    let mut parts = label.rsplitn(3, '-');
    let (Some(slave), Some(hash), Some(_name)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !slave.is_empty()
        && hash.len() == 5
        && hash
            .bytes()
            .all(|b| ZBASE32_ALPHABET.as_bytes().contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities() {
        let d = "mesos.example.com";
        let t: HashSet<String> =
            ["web-x9kri-s1.marathon.slave.mesos.example.com".to_string()].into();
        let p = |n: &str| priority(n, d, &t);
        assert_eq!(p("leader.mesos.example.com"), 1);
        assert_eq!(p("_leader._tcp.mesos.example.com"), 1);
        assert_eq!(p("master.mesos.example.com"), 1);
        assert_eq!(p("master12.mesos.example.com"), 1);
        assert_eq!(p("web.marathon.mesos.example.com"), 2);
        assert_eq!(p("_web._tcp.marathon.mesos.example.com"), 2);
        assert_eq!(p("_http._web._tcp.marathon.mesos.example.com"), 2);
        assert_eq!(p("marathon.mesos.example.com"), 2);
        assert_eq!(p("web-x9kri-s1.marathon.mesos.example.com"), 3);
        assert_eq!(p("web.marathon.slave.mesos.example.com"), 3);
        assert_eq!(p("_web._tcp.marathon.slave.mesos.example.com"), 3);
        assert_eq!(p("web-x9kri-s1.marathon.slave.mesos.example.com"), 3);
        assert_eq!(p("slave.mesos.example.com"), 4);
        assert_eq!(p("_slave._tcp.mesos.example.com"), 4);
        // A name with a dash that is no hash stays a service name.
        assert_eq!(p("my-web.marathon.mesos.example.com"), 2);
    }

    #[test]
    fn framework_names_are_priority_2_with_the_plans_own_targets() {
        let d = "mesos.example.com";
        // The SRV records a plan holds, as apply.rs collects targets.
        let srv = [
            (
                "_framework._tcp.marathon.mesos.example.com",
                "marathon.mesos.example.com",
            ),
            (
                "_framework._tcp.prod.aurora.mesos.example.com",
                "prod.aurora.mesos.example.com",
            ),
            ("_leader._tcp.mesos.example.com", "leader.mesos.example.com"),
            (
                "_web._tcp.marathon.mesos.example.com",
                "web-x9kri-.marathon.mesos.example.com",
            ),
        ];
        let t: HashSet<String> = srv
            .iter()
            .filter(|(n, _)| instance_srv(n, d))
            .map(|(_, t)| t.to_string())
            .collect();
        let p = |n: &str| priority(n, d, &t);
        assert_eq!(p("marathon.mesos.example.com"), 2);
        assert_eq!(p("prod.aurora.mesos.example.com"), 2);
        assert_eq!(p("_framework._tcp.marathon.mesos.example.com"), 2);
        assert_eq!(p("leader.mesos.example.com"), 1);
        // A per-instance target that is no canonical label (agent id
        // ending in `-`) is still per-instance.
        assert_eq!(p("web-x9kri-.marathon.mesos.example.com"), 3);
        assert!(instance_srv("_web._tcp.marathon.mesos.example.com.", d));
        assert!(!instance_srv("_framework._udp.x.mesos.example.com", d));
        assert!(!instance_srv("_slave._tcp.mesos.example.com", d));
    }

    #[test]
    fn hashes_are_written_in_the_alphabet_the_priority_rule_reads() {
        for id in ["test", "web.a1b2", "api.77", ""] {
            let h = task_hash(id);
            assert_eq!(h.len(), 5);
            assert!(is_canonical_label(&format!("web-{h}-s1")), "{h}");
        }
    }
}
