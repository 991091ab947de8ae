//! Attack round on the issue-19 memory changes (0.3.1):
//! the borrowed plan against the pre-change plan, and hostile or damaged
//! listing caches (never a panic, never trusted, memory bounded).

mod support;

use mesos2ns1::ns1::{ZoneRecord, normalize_name, normalize_short_answer};
use mesos2ns1::plan::{
    self, Action, Change, Ledger, Ownership, Plan, RecordData, ledger_key, never_owned,
};
use mesos2ns1::records::{Record, RecordType};
use mesos2ns1::state_dir::{self, CACHE_FILE, MAX_CACHE_RECORDS};
use mesos2ns1::store;
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

// ---------------------------------------------------------------------
// A counting allocator: live and peak bytes (for the memory bounds).

use support::counting::{Counting, MEASURE, peak_of};

#[global_allocator]
static GLOBAL: Counting = Counting;

// ---------------------------------------------------------------------
// (a) The plan: the pre-change `compute` (a4d0e31, verbatim but for the
// logging) as the oracle.

mod old {
    use super::*;

    fn normalized(rtype: RecordType, answers: &[String]) -> Vec<String> {
        let mut v: Vec<String> = answers
            .iter()
            .map(|a| normalize_short_answer(rtype.as_str(), a))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    fn merge(data: &mut RecordData, answers: Vec<String>) {
        if data.answers.is_empty() {
            data.answers = answers;
        } else {
            data.answers.extend(answers);
            data.answers.sort();
            data.answers.dedup();
        }
    }

    fn finish(
        plan: &mut Plan,
        current: &mut HashMap<(String, RecordType), RecordData>,
        creates: &mut Vec<Change>,
        updates: &mut Vec<Change>,
        key: (String, RecordType),
        answers: Vec<String>,
        ttl: u32,
    ) {
        let new = RecordData {
            ttl: Some(ttl),
            answers,
        };
        match current.remove(&key) {
            None => creates.push(Change {
                action: Action::Create,
                name: key.0,
                rtype: key.1,
                old: None,
                new: Some(new),
            }),
            Some(old) => {
                let ttl_differs = old.ttl.is_some_and(|t| t != ttl);
                if old.answers != new.answers || ttl_differs {
                    updates.push(Change {
                        action: Action::Update,
                        name: key.0,
                        rtype: key.1,
                        old: Some(old),
                        new: Some(new),
                    });
                } else {
                    plan.unchanged += 1;
                }
            }
        }
    }

    pub fn compute(desired: Vec<Record>, zone: Vec<ZoneRecord>, own: &Ownership, ttl: u32) -> Plan {
        let mut current: HashMap<(String, RecordType), RecordData> =
            HashMap::with_capacity(zone.len());
        let mut never: std::collections::HashSet<(String, RecordType)> = Default::default();
        let mut foreign = 0;
        let mut unowned: std::collections::BTreeMap<(String, RecordType), RecordData> =
            Default::default();
        for rec in zone {
            if !own.owns(&rec) {
                foreign += 1;
                if own.in_scope(&rec)
                    && let Some(t) = RecordType::parse_any(&rec.rtype.to_ascii_uppercase())
                {
                    let data =
                        unowned
                            .entry((normalize_name(&rec.domain), t))
                            .or_insert(RecordData {
                                ttl: rec.ttl,
                                answers: Vec::new(),
                            });
                    merge(data, normalized(t, &rec.answers));
                }
                if never_owned(&rec)
                    && let Some(t) = RecordType::parse_any(&rec.rtype.to_ascii_uppercase())
                {
                    never.insert((normalize_name(&rec.domain), t));
                }
                continue;
            }
            let rtype =
                RecordType::parse_any(&rec.rtype.to_ascii_uppercase()).unwrap_or(RecordType::A);
            let answers = normalized(rtype, &rec.answers);
            let data = current
                .entry((normalize_name(&rec.domain), rtype))
                .or_insert(RecordData {
                    ttl: rec.ttl,
                    answers: Vec::new(),
                });
            merge(data, answers);
        }
        let owned = current.len();
        let mut plan = Plan {
            desired: desired.len(),
            owned,
            foreign,
            ..Plan::default()
        };
        let mut creates = Vec::new();
        let mut updates = Vec::new();
        for rec in desired {
            let key = (rec.name, rec.rtype);
            if own.is_bounded(&key.0) {
                plan.bounded += 1;
                continue;
            }
            if let Some(found) = unowned.remove(&key) {
                if found.answers == normalized(key.1, &rec.answers) && !never.contains(&key) {
                    plan.joined.push(key.clone());
                    plan.owned += 1;
                    current.insert(key.clone(), found);
                    finish(
                        &mut plan,
                        &mut current,
                        &mut creates,
                        &mut updates,
                        key,
                        rec.answers,
                        ttl,
                    );
                    continue;
                }
                plan.collisions.push(key);
                continue;
            }
            if never.contains(&key) {
                plan.blocked += 1;
                continue;
            }
            finish(
                &mut plan,
                &mut current,
                &mut creates,
                &mut updates,
                key,
                rec.answers,
                ttl,
            );
        }
        let deletes = current.into_iter().map(|((name, rtype), old)| Change {
            action: Action::Delete,
            name,
            rtype,
            old: Some(old),
            new: None,
        });
        plan.unowned = unowned.into_keys().collect();
        plan.changes = creates;
        plan.changes.extend(updates);
        plan.changes.extend(deletes);
        plan.changes
            .sort_by(|a, b| (a.action, &a.name, a.rtype).cmp(&(b.action, &b.name, b.rtype)));
        plan
    }
}

const DOMAIN: &str = "mesos.example.com";
const LABELS: &[&str] = &["web", "job", "api", "WEB", "*", "x-1", "nested"];
const SUFFIXES: &[&str] = &[
    ".marathon.mesos.example.com",
    ".mesos.example.com",
    ".nested.mesos.example.com",
    ".skip.mesos.example.com",
    ".other.example.com",
    "",
];
const ANSWERS: &[&str] = &[
    "10.0.0.1",
    "10.0.0.2",
    "010.0.0.1",
    "2001:db8::1",
    "2001:DB8:0:0::1",
    "10 50 31000 node1.example.com.",
    "10 50 31000 node1.example.com",
    "0 0 80 web.mesos.example.com",
];

fn arb_name() -> impl Strategy<Value = String> {
    (0..LABELS.len(), 0..SUFFIXES.len()).prop_map(|(l, s)| format!("{}{}", LABELS[l], SUFFIXES[s]))
}

fn arb_answers() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        (0..ANSWERS.len()).prop_map(|i| ANSWERS[i].to_string()),
        0..4,
    )
}

fn arb_zone_record() -> impl Strategy<Value = ZoneRecord> {
    (
        arb_name(),
        any::<bool>(),
        prop::sample::select(vec!["A", "a", "AAAA", "SRV", "srv", "TXT", "CNAME", "PTR"]),
        prop::sample::select(vec![None, Some(30u32), Some(60)]),
        arb_answers(),
        prop::sample::select(vec![None, Some(1u32), Some(2)]),
        prop::sample::select(vec![
            None,
            Some(String::new()),
            Some("x.example.net".to_string()),
        ]),
    )
        .prop_map(|(name, dot, rtype, ttl, answers, tier, link)| ZoneRecord {
            domain: if dot { format!("{name}.") } else { name },
            rtype: rtype.to_string().into(),
            ttl,
            answers,
            tier,
            link,
        })
}

fn arb_record() -> impl Strategy<Value = Record> {
    (
        arb_name(),
        prop::sample::select(vec![RecordType::A, RecordType::AAAA, RecordType::SRV]),
        arb_answers(),
    )
        .prop_map(|(name, rtype, answers)| Record {
            name,
            rtype,
            answers,
        })
}

fn arb_case() -> impl Strategy<Value = (Vec<Record>, Vec<ZoneRecord>, Ownership)> {
    (
        prop::collection::vec(arb_record(), 0..24),
        prop::collection::vec(arb_zone_record(), 0..32),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(any::<bool>(), 32),
        prop::collection::vec(any::<bool>(), 32),
    )
        .prop_map(
            |(mut desired, zone, exclude, bound, with_ledger, pick, mirror)| {
                // Desired records that mirror zone records (joined, unchanged
                // and TTL-only updates), in the generator's canonical form.
                for (r, _) in zone.iter().zip(&mirror).filter(|(_, m)| **m) {
                    let Some(t) = RecordType::parse_any(&r.rtype.to_ascii_uppercase()) else {
                        continue;
                    };
                    if t == RecordType::PTR {
                        continue;
                    }
                    let mut answers: Vec<String> = r
                        .answers
                        .iter()
                        .map(|a| normalize_short_answer(t.as_str(), a))
                        .collect();
                    answers.sort();
                    answers.dedup();
                    desired.push(Record {
                        name: normalize_name(&r.domain),
                        rtype: t,
                        answers,
                    });
                }
                let ex = if exclude {
                    vec!["*.skip.mesos.example.com".to_string()]
                } else {
                    vec![]
                };
                let mut own = Ownership::new(DOMAIN, &ex);
                if bound {
                    own.bounds = vec!["nested.mesos.example.com".into()];
                }
                if with_ledger {
                    let ledger: Ledger = zone
                        .iter()
                        .zip(&pick)
                        .filter(|(_, p)| **p)
                        .map(|(r, _)| ledger_key(&r.domain, &r.rtype.to_ascii_uppercase()))
                        .collect();
                    own.ledger = Some(ledger);
                }
                (desired, zone, own)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]
    /// compute and compute_borrowed give exactly the pre-change plan:
    /// every change in order, every count and list.
    #[test]
    fn borrowed_and_owned_plans_are_the_old_plan((desired, zone, own) in arb_case(), ttl in prop::sample::select(vec![30u32, 60])) {
        let want = old::compute(desired.clone(), zone.clone(), &own, ttl);
        let owned = plan::compute(desired.clone(), zone.clone(), &own, ttl);
        let borrowed = plan::compute_borrowed(&desired, zone.clone(), &own, ttl);
        prop_assert_eq!(&owned, &want);
        prop_assert_eq!(&borrowed, &want);
    }
}

/// A fixed table of the tricky cases (the property covers them randomly).
#[test]
fn borrowed_plan_table() {
    let zr = |d: &str, t: &str, a: &[&str], tier: Option<u32>, link: Option<&str>| ZoneRecord {
        domain: d.into(),
        rtype: t.to_string().into(),
        ttl: Some(60),
        answers: a.iter().map(|s| s.to_string()).collect(),
        tier,
        link: link.map(str::to_string),
    };
    let r = |n: &str, t: RecordType, a: &[&str]| Record {
        name: n.into(),
        rtype: t,
        answers: a.iter().map(|s| s.to_string()).collect(),
    };
    let zone = vec![
        // Duplicates, upper case, trailing dots: one owned key, merged.
        zr(
            "web.marathon.mesos.example.com",
            "A",
            &["10.0.0.1"],
            None,
            None,
        ),
        zr(
            "WEB.marathon.mesos.example.com.",
            "a",
            &["10.0.0.2"],
            None,
            None,
        ),
        // Foreign, never owned.
        zr(
            "job.marathon.mesos.example.com",
            "A",
            &["10.0.0.3"],
            Some(2),
            None,
        ),
        zr(
            "api.marathon.mesos.example.com",
            "A",
            &["10.0.0.4"],
            None,
            Some("x.net"),
        ),
        // A stale owned record (a delete).
        zr(
            "gone.marathon.mesos.example.com",
            "SRV",
            &["0 0 80 x.example.com."],
            None,
            None,
        ),
        // Under a nested claim.
        zr("a.nested.mesos.example.com", "A", &["10.0.0.5"], None, None),
    ];
    let desired = vec![
        r(
            "web.marathon.mesos.example.com",
            RecordType::A,
            &["10.0.0.1"],
        ),
        r(
            "job.marathon.mesos.example.com",
            RecordType::A,
            &["10.0.0.9"],
        ),
        r(
            "api.marathon.mesos.example.com",
            RecordType::A,
            &["10.0.0.4"],
        ),
        r("a.nested.mesos.example.com", RecordType::A, &["10.0.0.5"]),
        r(
            "new.marathon.mesos.example.com",
            RecordType::AAAA,
            &["2001:db8::1"],
        ),
        r(
            "new.marathon.mesos.example.com",
            RecordType::AAAA,
            &["2001:db8::1"],
        ),
    ];
    for ledger in [false, true] {
        let mut own = Ownership::new(DOMAIN, &[]);
        own.bounds = vec!["nested.mesos.example.com".into()];
        if ledger {
            own.ledger = Some(
                [
                    ledger_key("web.marathon.mesos.example.com", "A"),
                    ledger_key("gone.marathon.mesos.example.com", "SRV"),
                ]
                .into_iter()
                .collect(),
            );
        }
        let want = old::compute(desired.clone(), zone.clone(), &own, 60);
        assert_eq!(
            plan::compute_borrowed(&desired, zone.clone(), &own, 60),
            want
        );
        assert_eq!(plan::compute(desired.clone(), zone.clone(), &own, 60), want);
        assert!(want.count(Action::Delete) >= 1 || ledger, "{want:?}");
    }
}

// ---------------------------------------------------------------------
// (c) Hostile or damaged caches.

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "mesos2ns1-atk-{tag}-{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
    ));
    let d = PathBuf::from(d.to_string_lossy().replace([' ', '{', '}', ':', ','], "_"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

const HOUR: Duration = Duration::from_secs(3600);

/// A cache file with a self-consistent header (the digest of `body`, the
/// given count): only the body's shape or count is wrong.
fn write_cache(dir: &Path, count: u64, body: &[u8]) {
    let header = serde_json::json!({
        "version": 2, "zone": "example.com", "endpoint": "e", "serial": 7,
        "full_read_unix": now() - 1, "trusted": true, "count": count,
        "sha256": data_encoding::HEXLOWER.encode(&Sha256::digest(body)),
    });
    let mut data = serde_json::to_vec(&header).unwrap();
    data.push(b'\n');
    data.extend_from_slice(body);
    std::fs::write(dir.join(CACHE_FILE), data).unwrap();
}

fn load(dir: &Path) -> Result<(u64, Vec<ZoneRecord>), String> {
    state_dir::load_cache(dir, "example.com", "e", HOUR)
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn rec(i: usize) -> ZoneRecord {
    ZoneRecord {
        domain: format!("h{i}.mesos.example.com"),
        rtype: "A".into(),
        ttl: Some(60),
        answers: vec![format!("10.0.{}.{}", i / 256 % 256, i % 256)],
        tier: Some(1),
        link: None,
    }
}

#[test]
fn a_saved_cache_reads_back_exactly_with_awkward_strings() {
    let dir = tmpdir("roundtrip");
    let mut recs: Vec<ZoneRecord> = (0..50).map(rec).collect();
    recs.push(ZoneRecord {
        domain: "we\"ird\n\u{2028}é.example.com".into(),
        rtype: "TXT".into(),
        ttl: None,
        answers: vec!["a \"quoted\"\nline".into(), String::new(), "\\".into()],
        tier: None,
        link: Some("l.example.net".into()),
    });
    recs.push(ZoneRecord {
        domain: String::new(),
        rtype: String::new().into(),
        ttl: Some(u32::MAX),
        answers: vec![],
        tier: Some(0),
        link: Some(String::new()),
    });
    state_dir::save_cache(&dir, "example.com", "e", 7, &recs).unwrap();
    let (serial, back) = load(&dir).unwrap();
    assert_eq!(serial, 7);
    assert_eq!(back, recs);
    // An empty listing, too.
    state_dir::save_cache(&dir, "example.com", "e", 8, &[]).unwrap();
    assert_eq!(load(&dir).unwrap(), (8, vec![]));
    assert_eq!(entries(&dir), vec![CACHE_FILE.to_string()]);
}

#[test]
fn damaged_or_hostile_bodies_are_never_trusted() {
    let dir = tmpdir("hostile");
    let one = br#"["a.example.com","A",60,1,["10.0.0.1"],null]"#;
    let two = format!(
        "[{},{}]",
        std::str::from_utf8(one).unwrap(),
        std::str::from_utf8(one).unwrap()
    );
    let cases: Vec<(&str, u64, Vec<u8>)> = vec![
        ("count lower", 1, two.clone().into_bytes()),
        ("count higher", 3, two.clone().into_bytes()),
        (
            "count 0, one record",
            0,
            format!("[{}]", std::str::from_utf8(one).unwrap()).into_bytes(),
        ),
        ("max count, tiny body", MAX_CACHE_RECORDS, b"[]".to_vec()),
        ("over max count", MAX_CACHE_RECORDS + 1, b"[]".to_vec()),
        ("u64::MAX count", u64::MAX, b"[]".to_vec()),
        ("trailing garbage", 2, format!("{two}x").into_bytes()),
        ("trailing array", 2, format!("{two} []").into_bytes()),
        ("trailing NUL", 2, format!("{two}\0").into_bytes()),
        ("empty body", 0, Vec::new()),
        ("whitespace body", 0, b"   \n".to_vec()),
        ("object", 0, b"{}".to_vec()),
        (
            "object of records",
            1,
            format!("{{\"a\":{}}}", std::str::from_utf8(one).unwrap()).into_bytes(),
        ),
        ("array of objects", 1, br#"[{"domain":"a"}]"#.to_vec()),
        (
            "short tuple",
            1,
            br#"[["a.example.com","A",60,1,["10.0.0.1"]]]"#.to_vec(),
        ),
        (
            "long tuple",
            1,
            br#"[["a.example.com","A",60,1,["10.0.0.1"],null,1]]"#.to_vec(),
        ),
        (
            "negative ttl",
            1,
            br#"[["a.example.com","A",-1,1,["10.0.0.1"],null]]"#.to_vec(),
        ),
        (
            "ttl too big",
            1,
            br#"[["a.example.com","A",4294967296,1,["10.0.0.1"],null]]"#.to_vec(),
        ),
        (
            "float ttl",
            1,
            br#"[["a.example.com","A",6.5,1,["10.0.0.1"],null]]"#.to_vec(),
        ),
        (
            "number answer",
            1,
            br#"[["a.example.com","A",60,1,[1],null]]"#.to_vec(),
        ),
        (
            "string answers",
            1,
            br#"[["a.example.com","A",60,1,"10.0.0.1",null]]"#.to_vec(),
        ),
        (
            "invalid utf-8",
            1,
            b"[[\"a\xff\",\"A\",60,1,[],null]]".to_vec(),
        ),
        (
            "lone surrogate",
            1,
            br#"[["\ud800","A",60,1,[],null]]"#.to_vec(),
        ),
        ("truncated", 2, two.as_bytes()[..two.len() - 3].to_vec()),
        (
            "nested deep",
            1,
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
        ),
        ("null", 0, b"null".to_vec()),
        ("two arrays", 0, b"[][]".to_vec()),
    ];
    for (what, count, body) in cases {
        write_cache(&dir, count, &body);
        let got = std::panic::catch_unwind(|| load(&dir));
        let got = got.unwrap_or_else(|_| panic!("{what}: panicked"));
        assert!(got.is_err(), "{what}: trusted: {got:?}");
    }
    // The header itself damaged.
    for head in [
        &b"\n[]"[..],
        b"{}\n[]",
        b"[]",
        b"{\"version\":2}\n[]",
        b"\xff\xfe\n[]",
    ] {
        std::fs::write(dir.join(CACHE_FILE), head).unwrap();
        assert!(load(&dir).is_err());
    }
    // One flipped bit anywhere in a good file.
    let recs: Vec<ZoneRecord> = (0..5).map(rec).collect();
    state_dir::save_cache(&dir, "example.com", "e", 7, &recs).unwrap();
    let good = std::fs::read(dir.join(CACHE_FILE)).unwrap();
    let mut accepted = Vec::new();
    for i in 0..good.len() {
        for bit in [0x01u8, 0x20, 0x80] {
            let mut bad = good.clone();
            bad[i] ^= bit;
            std::fs::write(dir.join(CACHE_FILE), &bad).unwrap();
            if let Ok((serial, back)) = load(&dir) {
                // Only a header field that is not checked may change:
                // never the records.
                assert_eq!(back, recs, "byte {i} bit {bit:#x}");
                accepted.push((i, bit, serial));
            }
        }
    }
    eprintln!("bit flips accepted (header only): {accepted:?}");
}

#[test]
fn a_huge_count_with_a_small_body_allocates_little() {
    let _g = MEASURE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tmpdir("hugecount");
    // 1 MB of whitespace and an empty array: the count is wrong, but the
    // digest matches.
    let mut body = vec![b' '; 1 << 20];
    body.extend_from_slice(b"[]");
    write_cache(&dir, MAX_CACHE_RECORDS, &body);
    let (got, peak) = peak_of(|| load(&dir));
    assert!(got.is_err());
    eprintln!("huge count, 1 MB body: peak {peak} bytes");
    // The file (1 MB) plus at most body/20 records of reservation.
    let rec = std::mem::size_of::<ZoneRecord>();
    assert!(
        peak <= (1 << 20) * 2 + (body.len() / 20) * rec + (1 << 20),
        "{peak}"
    );
}

#[test]
fn a_record_with_a_million_answers_loads_within_a_bound() {
    let _g = MEASURE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tmpdir("million");
    let answers: Vec<String> = (0..1_000_000)
        .map(|i| format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255))
        .collect();
    let recs = vec![ZoneRecord {
        domain: "big.example.com".into(),
        rtype: "A".into(),
        ttl: Some(60),
        answers,
        tier: Some(1),
        link: None,
    }];
    let (saved, save_peak) = peak_of(|| state_dir::save_cache(&dir, "example.com", "e", 1, &recs));
    saved.unwrap();
    let size = std::fs::metadata(dir.join(CACHE_FILE)).unwrap().len() as usize;
    let (got, peak) = peak_of(|| load(&dir));
    let (_, back) = got.unwrap();
    assert_eq!(back, recs);
    // What the records take once loaded (String headers and their text).
    let held: usize = back[0].answers.iter().map(|a| 24 + a.capacity()).sum();
    eprintln!(
        "1e6 answers: file {size} bytes, held {held}, load peak {peak}, save peak {save_peak}"
    );
    // The save streams: far less than the file.
    assert!(
        save_peak < size / 4,
        "save peak {save_peak} for a file of {size}"
    );
    // The load: the file, the records and a growing answers Vec (×2).
    assert!(
        peak <= size + held + 2 * 24 * 1_000_000 + (4 << 20),
        "{peak}"
    );
}

#[test]
fn a_symlink_a_fifo_or_a_directory_in_place_of_the_cache_is_refused_at_once() {
    let dir = tmpdir("special");
    let path = dir.join(CACHE_FILE);
    // A symlink to a good cache elsewhere.
    let other = tmpdir("special-target");
    state_dir::save_cache(&other, "example.com", "e", 7, &[rec(1)]).unwrap();
    std::os::unix::fs::symlink(other.join(CACHE_FILE), &path).unwrap();
    let e = load(&dir).unwrap_err();
    assert!(e.contains("symbolic link"), "{e}");
    // Saving over the symlink replaces the link, never writes through it.
    state_dir::save_cache(&dir, "example.com", "e", 9, &[rec(2)]).unwrap();
    assert!(
        !std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(load(&other).unwrap().0, 7);
    std::fs::remove_file(&path).unwrap();
    // A FIFO with no writer: refused without blocking.
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (tx, rx) = std::sync::mpsc::channel();
    let d2 = dir.clone();
    std::thread::spawn(move || tx.send(load(&d2)).unwrap());
    let got = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("load_cache blocked on a FIFO");
    assert!(got.unwrap_err().contains("not a regular file"));
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    assert!(load(&dir).is_err());
    // Saving over a directory fails and leaves no temp file.
    assert!(state_dir::save_cache(&dir, "example.com", "e", 9, &[rec(2)]).is_err());
    assert_eq!(entries(&dir), vec![CACHE_FILE.to_string()]);
}

#[test]
fn a_cache_growing_while_read_is_bounded_or_refused() {
    let dir = tmpdir("growing");
    let recs: Vec<ZoneRecord> = (0..20_000).map(rec).collect();
    state_dir::save_cache(&dir, "example.com", "e", 7, &recs).unwrap();
    // Another writer appends to the very inode while we read: the result
    // is either the good listing (read before the append) or refused.
    let path = dir.join(CACHE_FILE);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    let p2 = path.clone();
    let w = std::thread::spawn(move || {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&p2).unwrap();
        while !s2.load(Ordering::Relaxed) {
            let _ = f.write_all(&[b' '; 4096]);
            if f.metadata().unwrap().len() > 8 << 20 {
                break;
            }
        }
    });
    let mut ok = 0;
    for _ in 0..20 {
        match load(&dir) {
            Ok((_, back)) => {
                assert_eq!(back, recs);
                ok += 1;
            }
            Err(e) => assert!(e.contains("damaged") || e.contains("larger"), "{e}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    w.join().unwrap();
    eprintln!("growing: {ok} of 20 reads trusted (each exactly the saved listing)");
}

/// A write that fails part way (as a full disk, a serializer error or a
/// kill between the passes would leave it): the old file intact, no
/// temp file left.
#[test]
fn a_failed_streamed_write_keeps_the_old_cache_and_no_temp_file() {
    let dir = tmpdir("failwrite");
    let recs: Vec<ZoneRecord> = (0..1000).map(rec).collect();
    state_dir::save_cache(&dir, "example.com", "e", 7, &recs).unwrap();
    let before = std::fs::read(dir.join(CACHE_FILE)).unwrap();
    // An I/O error after 1 MB streamed (past the 256 KB buffer).
    let e = store::write_atomic_with(&dir, CACHE_FILE, 0o600, |w| {
        w.write_all(&vec![b'x'; 1 << 20])?;
        Err(std::io::Error::other("disk went away"))
    })
    .unwrap_err();
    assert!(e.to_string().contains("disk went away"), "{e}");
    assert_eq!(std::fs::read(dir.join(CACHE_FILE)).unwrap(), before);
    assert_eq!(entries(&dir), vec![CACHE_FILE.to_string()]);
    assert_eq!(load(&dir).unwrap().1, recs);
}

/// A panic inside the streamed write (release builds abort; a test
/// build unwinds): is the temp file left behind?
#[test]
fn a_panicking_streamed_write_leaves_the_old_cache() {
    let dir = tmpdir("panicwrite");
    let recs: Vec<ZoneRecord> = (0..10).map(rec).collect();
    state_dir::save_cache(&dir, "example.com", "e", 7, &recs).unwrap();
    let r = std::panic::catch_unwind(|| {
        store::write_atomic_with(&dir, CACHE_FILE, 0o600, |w| {
            w.write_all(b"partial")?;
            panic!("boom")
        })
    });
    assert!(r.is_err());
    assert_eq!(load(&dir).unwrap().1, recs);
    let left = entries(&dir);
    eprintln!("after a panic in the write: {left:?}");
}

/// A full disk during the streamed cache write (RLIMIT_FSIZE in a forked
/// child, SIGXFSZ ignored): an error, the old cache intact, no temp file.
#[test]
fn a_full_disk_during_the_streamed_cache_write() {
    let _g = MEASURE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tmpdir("fulldisk");
    let old: Vec<ZoneRecord> = (0..100).map(rec).collect();
    state_dir::save_cache(&dir, "example.com", "e", 7, &old).unwrap();
    let before = std::fs::read(dir.join(CACHE_FILE)).unwrap();
    let new: Vec<ZoneRecord> = (0..50_000).map(rec).collect();
    // Limits: below the 256 KB buffer, just above it, and mid-file.
    for limit in [100u64, 300 * 1024, 1 << 20] {
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            unsafe {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let lim = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                libc::setrlimit(libc::RLIMIT_FSIZE, &lim);
            }
            let code = match state_dir::save_cache(&dir, "example.com", "e", 9, &new) {
                Ok(()) => 10,
                Err(e) if e.contains("File too large") => 11,
                Err(_) => 12,
            };
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status), "limit {limit}: killed ({status})");
        assert_eq!(libc::WEXITSTATUS(status), 11, "limit {limit}");
        assert_eq!(
            std::fs::read(dir.join(CACHE_FILE)).unwrap(),
            before,
            "limit {limit}"
        );
        assert_eq!(entries(&dir), vec![CACHE_FILE.to_string()], "limit {limit}");
    }
    assert_eq!(load(&dir).unwrap().1, old);
}

/// The generator reaches every branch of the plan (else the property
/// above proves little).
#[test]
fn the_plan_generator_reaches_every_branch() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen = [0usize; 9];
    for _ in 0..2000 {
        let (desired, zone, own) = arb_case().new_tree(&mut runner).unwrap().current();
        let p = plan::compute_borrowed(&desired, zone, &own, 60);
        for (i, hit) in [
            p.count(Action::Create) > 0,
            p.count(Action::Update) > 0,
            p.count(Action::Delete) > 0,
            !p.joined.is_empty(),
            !p.collisions.is_empty(),
            !p.unowned.is_empty(),
            p.blocked > 0,
            p.bounded > 0,
            p.unchanged > 0,
        ]
        .into_iter()
        .enumerate()
        {
            seen[i] += usize::from(hit);
        }
    }
    eprintln!(
        "create, update, delete, joined, collisions, unowned, blocked, bounded, unchanged: {seen:?}"
    );
    assert!(seen.iter().all(|&n| n >= 20), "{seen:?}");
}
