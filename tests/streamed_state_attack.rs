//! Attack round on the streamed state files (92373de, b924812, b9393a5):
//! the listing cache parsed as it is read and hashed, holddown.json
//! measured then streamed, the write deadline, the static record types.
//! The pre-change loader (3e70646: read whole, digest, then parse) is the
//! oracle for the cache.

#[path = "support/mod.rs"]
mod support;

use mesos2ns1::ns1::{ZoneRecord, listed_type};
use mesos2ns1::plan::{Clocks, Key};
use mesos2ns1::state_dir::{
    self, CACHE_FILE, CLOCKS_FILE, MAX_CACHE_BYTES, MAX_CACHE_RECORDS, holddown,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::harness::{Env, as_refs, expected, many_tasks, text};

// ---------------------------------------------------------------------
// Counting allocator.

use support::counting::{Counting, LIVE, MEASURE, peak_of};

#[global_allocator]
static GLOBAL: Counting = Counting;

// ---------------------------------------------------------------------
// Helpers.

fn tmpdir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "mesos2ns1-sst-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
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

fn hexd(b: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(b))
}

fn header(count: u64, serial: u64, sha: &str) -> Vec<u8> {
    let h = serde_json::json!({
        "version": 2, "zone": "example.com", "endpoint": "e", "serial": serial,
        "full_read_unix": now() - 1, "trusted": true, "count": count, "sha256": sha,
    });
    let mut v = serde_json::to_vec(&h).unwrap();
    v.push(b'\n');
    v
}

fn cache_bytes(count: u64, body: &[u8]) -> Vec<u8> {
    let mut d = header(count, 7, &hexd(body));
    d.extend_from_slice(body);
    d
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
        rtype: if i.is_multiple_of(3) { "SRV" } else { "A" }
            .to_string()
            .into(),
        ttl: Some(60),
        answers: vec![format!("10.0.{}.{}", i / 256 % 256, i % 256)],
        tier: Some(1),
        link: None,
    }
}

/// A small deterministic PRNG (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

// ---------------------------------------------------------------------
// The pre-change loader (3e70646), verbatim but for the file read (the
// same `store::read`) and the record type (through `listed_type`, as now).

mod old {
    use super::*;

    #[derive(Deserialize)]
    struct CacheHeader {
        version: u32,
        zone: String,
        endpoint: String,
        serial: u64,
        full_read_unix: u64,
        trusted: bool,
        count: u64,
        sha256: String,
    }

    type CachedRecord = (
        String,
        String,
        Option<u32>,
        Option<u32>,
        Vec<String>,
        Option<String>,
    );

    struct CachedList {
        records: Vec<ZoneRecord>,
        limit: usize,
    }

    impl<'de> serde::de::DeserializeSeed<'de> for &mut CachedList {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }

    impl<'de> serde::de::Visitor<'de> for &mut CachedList {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an array of cached records")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some((domain, rtype, ttl, tier, mut answers, link)) =
                seq.next_element::<CachedRecord>()?
            {
                if self.records.len() >= self.limit {
                    return Err(serde::de::Error::custom(
                        "more records than the header says",
                    ));
                }
                answers.shrink_to_fit();
                self.records.push(ZoneRecord {
                    domain,
                    rtype: listed_type(rtype),
                    ttl,
                    answers,
                    tier,
                    link,
                });
            }
            Ok(())
        }
    }

    pub fn load_bytes(
        data: &[u8],
        zone: &str,
        endpoint: &str,
        every: Duration,
    ) -> Result<(u64, Vec<ZoneRecord>), String> {
        if data.len() as u64 > MAX_CACHE_BYTES {
            return Err("too large".into());
        }
        let nl = data
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("cached listing is damaged (no header line)")?;
        let header: CacheHeader =
            serde_json::from_slice(&data[..nl]).map_err(|e| format!("header damaged ({e})"))?;
        if header.version != 2 {
            return Err("version".into());
        }
        if !header.trusted {
            return Err("untrusted".into());
        }
        if header.zone != zone || header.endpoint != endpoint {
            return Err("other zone".into());
        }
        let now = super::now();
        if header.full_read_unix > now {
            return Err("future".into());
        }
        if now - header.full_read_unix >= every.as_secs().max(1) {
            return Err("old".into());
        }
        if header.count > MAX_CACHE_RECORDS {
            return Err("too many".into());
        }
        let body = &data[nl + 1..];
        if super::hexd(body) != header.sha256 {
            return Err("digest mismatch".into());
        }
        let mut list = CachedList {
            records: Vec::with_capacity((header.count as usize).min(body.len() / 64)),
            limit: header.count as usize,
        };
        let mut de = serde_json::Deserializer::from_slice(body);
        serde::de::DeserializeSeed::deserialize(&mut list, &mut de)
            .and_then(|()| de.end())
            .map_err(|e| format!("damaged ({e})"))?;
        if list.records.len() as u64 != header.count {
            return Err("count mismatch".into());
        }
        Ok((header.serial, list.records))
    }
}

/// Writes `data` as the cache and checks the new loader against the old.
fn agree(dir: &Path, data: &[u8], what: &str) -> Result<(u64, Vec<ZoneRecord>), String> {
    std::fs::write(dir.join(CACHE_FILE), data).unwrap();
    let new = std::panic::catch_unwind(|| load(dir)).unwrap_or_else(|_| {
        panic!(
            "{what}: the new loader panicked on {:?}",
            String::from_utf8_lossy(data)
        )
    });
    let old = old::load_bytes(data, "example.com", "e", HOUR);
    match (&old, &new) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{what}: both accept, records differ"),
        (Err(_), Err(_)) => {}
        _ => panic!(
            "{what}: old {:?} / new {:?} on {:?}",
            old.as_ref().map(|r| r.1.len()),
            new.as_ref().map(|r| r.1.len()),
            String::from_utf8_lossy(&data[..data.len().min(400)])
        ),
    }
    new
}

// ---------------------------------------------------------------------
// (a) The streamed loader against the old one.

fn sample_records(rng: &mut Rng, n: usize) -> Vec<ZoneRecord> {
    let types = [
        "A", "AAAA", "SRV", "TXT", "NS", "a", "srv", "TYPE65", "", "CNAME",
    ];
    let pieces = [
        "x",
        "é",
        "\"",
        "\\",
        "\n",
        "\u{2028}",
        "\u{1F600}",
        "\u{7f}",
        "\t",
        "/",
        "0",
    ];
    (0..n)
        .map(|i| {
            let mut s = format!("n{i}");
            for _ in 0..rng.below(4) {
                s.push_str(pieces[rng.below(pieces.len())]);
            }
            ZoneRecord {
                domain: s.clone(),
                rtype: types[rng.below(types.len())].to_string().into(),
                ttl: [None, Some(0), Some(60), Some(u32::MAX)][rng.below(4)],
                answers: (0..rng.below(4)).map(|k| format!("{s} {k}")).collect(),
                tier: [None, Some(1), Some(3)][rng.below(3)],
                link: [None, Some(""), Some("l.example.net")][rng.below(3)].map(str::to_string),
            }
        })
        .collect()
}

/// Mutated files (bytes flipped, replaced, inserted, deleted, truncated),
/// each with the header's digest as it was and with the digest of the
/// mutated body: the old and new loaders give the same answer every time.
#[test]
fn the_streamed_loader_agrees_with_the_old_one_on_mutated_files() {
    let dir = tmpdir("diff");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let interesting = [
        b'\0', b'\n', b'"', b'\\', b']', b'[', b',', b' ', 0xff, 0xc3, b'0', b'9', b'n', b'{',
        b'}', b'u', 0x80, b'e', b'-', b'.',
    ];
    let (mut accepted, mut total) = (0, 0);
    for round in 0..120 {
        let n = rng.below(8);
        let recs = sample_records(&mut rng, n);
        state_dir::save_cache(&dir, "example.com", "e", 7, &recs).unwrap();
        let good = std::fs::read(dir.join(CACHE_FILE)).unwrap();
        let (_, back) = agree(&dir, &good, "good").unwrap();
        assert_eq!(back, recs);
        let nl = good.iter().position(|&b| b == b'\n').unwrap();
        for m in 0..25 {
            let mut bad = good.clone();
            let body_only = rng.below(4) != 0;
            let lo = if body_only { nl + 1 } else { 0 };
            let at = lo + rng.below(bad.len() - lo);
            match rng.below(6) {
                0 => bad[at] ^= 1 << rng.below(8),
                1 => bad[at] = interesting[rng.below(interesting.len())],
                2 => bad.insert(at, interesting[rng.below(interesting.len())]),
                3 => {
                    bad.remove(at);
                }
                4 => bad.truncate(at),
                _ => {
                    let other = bad[lo + rng.below(bad.len() - lo)];
                    bad.insert(at, other);
                }
            }
            total += 1;
            let what = format!("round {round} mutation {m}");
            if agree(&dir, &bad, &what).is_ok() {
                accepted += 1;
            }
            // The same body with a digest (and count) that match it: the
            // parse alone decides.
            if let Some(nl2) = bad.iter().position(|&b| b == b'\n') {
                let body = bad[nl2 + 1..].to_vec();
                for count in [n as u64, n.saturating_sub(1) as u64, n as u64 + 1] {
                    let fixed = cache_bytes(count, &body);
                    total += 1;
                    if let Ok((_, got)) = agree(&dir, &fixed, &format!("{what} fixed {count}")) {
                        accepted += 1;
                        assert_eq!(got.len() as u64, count);
                    }
                }
            }
        }
    }
    eprintln!("differential: {accepted} of {total} files accepted by both");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Hand-picked hostile bodies, all with a matching digest: old and new
/// agree (and nothing panics).
#[test]
fn hostile_bodies_with_a_matching_digest_agree_with_the_old_loader() {
    let dir = tmpdir("hostile");
    let one = r#"["a.example.com","A",60,1,["10.0.0.1"],null]"#;
    let cases: Vec<(u64, Vec<u8>)> = vec![
        (1, format!("[{one}]").into_bytes()),
        (1, format!("  [ {one} ]  \n\t").into_bytes()),
        (1, format!("[{one}]\0").into_bytes()),
        (1, format!("\u{feff}[{one}]").into_bytes()),
        (1, format!("[{one}]\r\n").into_bytes()),
        (1, format!("[{one},]").into_bytes()),
        (1, format!("[{one}] //").into_bytes()),
        (1, format!("[{}]", &one[..one.len() - 1]).into_bytes()),
        (1, br#"[["a","A",60,1,["\u0000"],null]]"#.to_vec()),
        (1, b"[[\"a\0\",\"A\",60,1,[],null]]".to_vec()),
        (1, b"[[\"a\xc3\",\"A\",60,1,[],null]]".to_vec()),
        (1, b"[[\"a\xed\xa0\x80\",\"A\",60,1,[],null]]".to_vec()),
        (1, br#"[["\udbff\udfff","A",60,1,[],null]]"#.to_vec()),
        (1, br#"[["a","A",60.0,1,[],null]]"#.to_vec()),
        (1, br#"[["a","A",6e1,1,[],null]]"#.to_vec()),
        (1, br#"[["a","A",060,1,[],null]]"#.to_vec()),
        (1, br#"[["a","A",1e999,1,[],null]]"#.to_vec()),
        (1, br#"[["a","A",null,null,[],"x"]]"#.to_vec()),
        (1, br#"[["a","A",null,null,[],{}]]"#.to_vec()),
        (
            1,
            format!("[[\"{}\",\"A\",1,1,[],null]]", "x".repeat(1 << 20)).into_bytes(),
        ),
        (
            1,
            format!("{}{}", "[".repeat(200), "]".repeat(200)).into_bytes(),
        ),
        (
            1,
            format!(
                "[[\"a\",\"A\",1,1,{}{},null]]",
                "[".repeat(150),
                "]".repeat(150)
            )
            .into_bytes(),
        ),
        (0, b"[]".to_vec()),
        (0, b"[] ".to_vec()),
        (0, b"[]]".to_vec()),
        (2, format!("[{one},{one}]").into_bytes()),
    ];
    for (i, (count, body)) in cases.iter().enumerate() {
        let _ = agree(&dir, &cache_bytes(*count, body), &format!("case {i}"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A body that parses but does not match the digest: never used, even
/// when its records are plausible and the count is right.
#[test]
fn a_body_that_parses_but_does_not_match_the_digest_is_refused() {
    let dir = tmpdir("nodigest");
    let real: Vec<ZoneRecord> = (0..50).map(rec).collect();
    state_dir::save_cache(&dir, "example.com", "e", 7, &real).unwrap();
    let good = std::fs::read(dir.join(CACHE_FILE)).unwrap();
    let nl = good.iter().position(|&b| b == b'\n').unwrap();
    // Same count, another listing (one record dropped, one added).
    let mut other = real.clone();
    other.remove(10);
    other.push(rec(999));
    let mut body = Vec::new();
    {
        let dir2 = tmpdir("nodigest2");
        state_dir::save_cache(&dir2, "example.com", "e", 7, &other).unwrap();
        let d = std::fs::read(dir2.join(CACHE_FILE)).unwrap();
        let nl2 = d.iter().position(|&b| b == b'\n').unwrap();
        body.extend_from_slice(&d[nl2 + 1..]);
        let _ = std::fs::remove_dir_all(&dir2);
    }
    let mut data = good[..=nl].to_vec();
    data.extend_from_slice(&body);
    std::fs::write(dir.join(CACHE_FILE), &data).unwrap();
    let e = load(&dir).unwrap_err();
    assert!(e.contains("digest"), "{e}");
    // The right body with whitespace added: same records, other bytes.
    let mut data = good.clone();
    data.push(b' ');
    std::fs::write(dir.join(CACHE_FILE), &data).unwrap();
    assert!(load(&dir).unwrap_err().contains("digest"));
    // The digest in capitals (the same hash, other text): refused.
    let text = String::from_utf8(good.clone()).unwrap();
    let sha = hexd(&good[nl + 1..]);
    std::fs::write(
        dir.join(CACHE_FILE),
        text.replace(&sha, &sha.to_uppercase()),
    )
    .unwrap();
    assert!(load(&dir).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every bit of a good file flipped: the same records or refused; the
/// header fields a flip can change unnoticed are listed (the header is
/// not under the digest, as before this change).
#[test]
fn every_single_bit_flip_loads_the_same_records_or_is_refused() {
    let dir = tmpdir("flips");
    let recs: Vec<ZoneRecord> = (0..4).map(rec).collect();
    state_dir::save_cache(&dir, "example.com", "e", 42, &recs).unwrap();
    let good = std::fs::read(dir.join(CACHE_FILE)).unwrap();
    let mut serials = std::collections::BTreeSet::new();
    for i in 0..good.len() {
        for bit in 0..8 {
            let mut bad = good.clone();
            bad[i] ^= 1 << bit;
            if let Ok((serial, back)) = agree(&dir, &bad, &format!("byte {i} bit {bit}")) {
                assert_eq!(back, recs, "byte {i} bit {bit}");
                serials.insert(serial);
            }
        }
    }
    eprintln!("serials accepted after one flip: {serials:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------
// (b) The header line.

#[test]
fn the_header_line_bound() {
    let dir = tmpdir("header");
    let body = b"[]";
    // Padding inside the header's JSON (whitespace) to an exact length.
    let with_len = |len: usize| -> Vec<u8> {
        let h = header(0, 7, &hexd(body));
        let short = h.len() - 1; // without the newline
        assert!(len >= short);
        let mut line = Vec::with_capacity(len + 1 + body.len());
        line.push(b'{');
        line.extend(std::iter::repeat_n(b' ', len - short));
        line.extend_from_slice(&h[1..]);
        line.extend_from_slice(body);
        line
    };
    // Up to 64 KiB with its newline: read; one byte more: refused.
    std::fs::write(dir.join(CACHE_FILE), with_len(65535)).unwrap();
    assert_eq!(load(&dir).unwrap(), (7, vec![]));
    std::fs::write(dir.join(CACHE_FILE), with_len(65536)).unwrap();
    let e = load(&dir).unwrap_err();
    assert!(e.contains("no header line"), "{e}");
    // (The old loader took any header length: a header over 64 KiB is now
    // refused, which only costs a full read; the tool writes < 1 KiB.)
    assert!(old::load_bytes(&with_len(65536), "example.com", "e", HOUR).is_ok());
    // No newline at all, a huge first line, a file of only newlines.
    for data in [
        vec![b'{'; 200_000],
        vec![b'\n'; 10],
        b"{\"version\":2".to_vec(),
        Vec::new(),
    ] {
        std::fs::write(dir.join(CACHE_FILE), &data).unwrap();
        assert!(load(&dir).is_err());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------
// (c) Files that are not plain files of this user, and sizes.

#[test]
fn special_files_and_other_owners_are_refused_without_blocking() {
    let dir = tmpdir("special");
    let path = dir.join(CACHE_FILE);
    let recs: Vec<ZoneRecord> = (0..3).map(rec).collect();
    // Another user's file (when running as root).
    if mesos2ns1::store::current_uid() == 0 {
        state_dir::save_cache(&dir, "example.com", "e", 7, &recs).unwrap();
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        let e = load(&dir).unwrap_err();
        assert!(e.contains("not by the running user"), "{e}");
        std::fs::remove_file(&path).unwrap();
        // A character device (/dev/zero's numbers) named as the cache.
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        let dev = libc::makedev(1, 5);
        if unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, dev) } == 0 {
            let (tx, rx) = std::sync::mpsc::channel();
            let d2 = dir.clone();
            std::thread::spawn(move || tx.send(load(&d2)).unwrap());
            let got = rx
                .recv_timeout(Duration::from_secs(10))
                .expect("blocked on a device");
            assert!(got.unwrap_err().contains("not a regular file"));
            std::fs::remove_file(&path).unwrap();
        }
    }
    // A symlink to a directory, a dangling symlink, a hard link to a good
    // cache elsewhere (a plain file of this user: it is used, as before).
    std::os::unix::fs::symlink("/", &path).unwrap();
    assert!(load(&dir).unwrap_err().contains("symbolic link"));
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(dir.join("nowhere"), &path).unwrap();
    assert!(load(&dir).unwrap_err().contains("symbolic link"));
    std::fs::remove_file(&path).unwrap();
    // A FIFO with a writer that keeps it open (no EOF ever; O_RDWR never
    // blocks on a FIFO on Linux).
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let holder = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let d2 = dir.clone();
    std::thread::spawn(move || tx.send(load(&d2)).unwrap());
    let got = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("blocked on a FIFO");
    assert!(got.unwrap_err().contains("not a regular file"));
    drop(holder);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sparse_file_over_the_bound_is_refused_before_any_read() {
    let _g = MEASURE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tmpdir("sparse");
    let path = dir.join(CACHE_FILE);
    // A good header, then a hole to exactly the bound: read (and refused
    // for its NULs); one byte more: refused at once.
    let mut data = header(0, 7, &hexd(b"[]"));
    data.extend_from_slice(b"[]");
    std::fs::write(&path, &data).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(MAX_CACHE_BYTES + 1).unwrap();
    let t = std::time::Instant::now();
    let (got, peak) = peak_of(|| load(&dir));
    assert!(got.unwrap_err().contains("larger than"));
    assert!(t.elapsed() < Duration::from_secs(1));
    assert!(peak < 1 << 20, "{peak}");
    // At the bound: hashed in full (refused for its digest) before any
    // parse, in a bounded buffer.
    f.set_len(MAX_CACHE_BYTES).unwrap();
    let t = std::time::Instant::now();
    let (got, peak) = peak_of(|| load(&dir));
    assert!(got.is_err());
    eprintln!("sparse 256 MiB: {:?}, peak {peak}", t.elapsed());
    assert!(peak < 8 << 20, "{peak}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------
// (d) Files changed while they are read.

/// Waits until this process has `path` open (the loader's open), then
/// runs `f` (the loader has not read far yet: the file is large).
fn when_opened(path: PathBuf, f: impl FnOnce() + Send + 'static) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let t = std::time::Instant::now();
        loop {
            let open = std::fs::read_dir("/proc/self/fd")
                .unwrap()
                .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .any(|l| l == path);
            if open {
                break;
            }
            if t.elapsed() > Duration::from_secs(10) {
                return;
            }
            std::thread::yield_now();
        }
        f();
    })
}

#[test]
fn a_cache_truncated_replaced_or_rewritten_while_read_is_never_a_mix() {
    let dir = tmpdir("race");
    let path = dir.join(CACHE_FILE);
    let a: Vec<ZoneRecord> = (0..30_000).map(rec).collect();
    let b: Vec<ZoneRecord> = (30_000..60_000).map(rec).collect();
    let (mut trusted, mut refused) = (0, 0);
    for round in 0..12 {
        state_dir::save_cache(&dir, "example.com", "e", 7, &a).unwrap();
        let p = path.clone();
        let d = dir.clone();
        let b2 = b.clone();
        let h = when_opened(path.clone(), move || match round % 4 {
            // Truncated to half in place.
            0 => {
                let len = std::fs::metadata(&p).unwrap().len();
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&p)
                    .unwrap()
                    .set_len(len / 2)
                    .unwrap();
            }
            // Replaced by another good cache (rename): the open file stays.
            1 => state_dir::save_cache(&d, "example.com", "e", 8, &b2).unwrap(),
            // Rewritten in place with another good cache (O_TRUNC).
            2 => {
                let tmp = tmpdir("race-src");
                state_dir::save_cache(&tmp, "example.com", "e", 8, &b2).unwrap();
                std::fs::write(&p, std::fs::read(tmp.join(CACHE_FILE)).unwrap()).unwrap();
                let _ = std::fs::remove_dir_all(&tmp);
            }
            // Grown by a valid-looking tail.
            _ => {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
                let _ = f.write_all(b" ");
            }
        });
        let got = load(&dir);
        h.join().unwrap();
        match got {
            Ok((7, back)) => {
                assert_eq!(back, a, "round {round}");
                trusted += 1;
            }
            Ok((8, back)) => {
                assert_eq!(back, b, "round {round}");
                trusted += 1;
            }
            Ok((s, _)) => panic!("round {round}: serial {s}"),
            Err(e) => {
                assert!(e.contains("damaged") || e.contains("larger"), "{e}");
                refused += 1;
            }
        }
    }
    eprintln!("changed while read: {trusted} trusted (each one whole listing), {refused} refused");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------
// (e) Memory.

#[test]
fn the_streamed_load_does_not_hold_the_file() {
    let _g = MEASURE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tmpdir("mem");
    let recs: Vec<ZoneRecord> = (0..40_000).map(rec).collect();
    state_dir::save_cache(&dir, "example.com", "e", 7, &recs).unwrap();
    let size = std::fs::metadata(dir.join(CACHE_FILE)).unwrap().len() as usize;
    let base = LIVE.load(Ordering::Relaxed);
    let (got, peak) = peak_of(|| load(&dir));
    let kept = LIVE.load(Ordering::Relaxed).saturating_sub(base);
    let (_, back) = got.unwrap();
    assert_eq!(back, recs);
    eprintln!("40k records: file {size}, kept {kept}, peak {peak}");
    // The records kept, their Vec once doubled, the reader's buffers:
    // never the file on top.
    let vec_bytes = recs.len() * std::mem::size_of::<ZoneRecord>();
    assert!(
        peak <= kept + vec_bytes + (1 << 20),
        "peak {peak}, kept {kept}, file {size}"
    );
    drop(back);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A body that does not match its digest is parsed before it is refused
/// (the old loader refused it before parsing): how much can that parse
/// allocate? Empty answers: 3 bytes of file for 24 of String.
#[test]
fn a_damaged_body_is_parsed_within_a_bound_before_it_is_refused() {
    let _g = MEASURE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tmpdir("amplify");
    let n = 1_000_000;
    let mut body = b"[[\"a\",\"A\",1,1,[".to_vec();
    for i in 0..n {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(b"\"\"");
    }
    body.extend_from_slice(b"],null]]");
    let mut data = header(1, 7, &"0".repeat(64));
    data.extend_from_slice(&body);
    std::fs::write(dir.join(CACHE_FILE), &data).unwrap();
    let (got, peak) = peak_of(|| load(&dir));
    assert!(got.unwrap_err().contains("digest"));
    let (old, old_peak) = peak_of(|| {
        let d = mesos2ns1::store::read(&dir, CACHE_FILE, MAX_CACHE_BYTES)
            .unwrap()
            .unwrap();
        old::load_bytes(&d, "example.com", "e", HOUR)
    });
    assert!(old.is_err());
    eprintln!(
        "damaged body of {} bytes: new peak {peak} ({:.1}x), old peak {old_peak}",
        body.len(),
        peak as f64 / body.len() as f64
    );
    // Bounded (24-byte String per 3 bytes, Vec doubling: 16x), never more.
    assert!(peak <= body.len() * 17 + (1 << 20), "{peak}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------
// (f) holddown.json.

fn clocks_of(rng: &mut Rng, n: usize) -> Clocks {
    let mut c = Clocks {
        observed: Some(1_700_000_000.5),
        intervals: vec![60.0, 59.9],
        ..Clocks::default()
    };
    let checks = ["mass-removal", "implausible-state", "state-file", "é\"\\"];
    for i in 0..n {
        let t = 1_700_000_000.0 - (rng.below(5) as f64) * 60.0;
        let rk: Key = format!("t{i}-x.fw.mesos.example.com A").into();
        c.records.insert(rk.clone(), t);
        if rng.below(3) == 0 {
            c.held
                .insert(rk.clone(), checks[rng.below(checks.len())].into());
        }
        for k in 0..rng.below(3) {
            let ak: Key = format!("_w{i}._tcp.fw.mesos.example.com SRV 0 1 {k} t{i}.x").into();
            c.answers.insert(ak.clone(), t);
            if rng.below(4) == 0 {
                c.held
                    .insert(ak.clone(), checks[rng.below(checks.len())].into());
            }
            if rng.below(2) == 0 {
                c.seen.insert(ak, 30.0);
            }
        }
        if rng.below(7) == 0 {
            c.held
                .insert(format!("gone{i}.x A").into(), "mass-removal".into());
        }
    }
    c.answers.insert("odd".into(), 5.0);
    c
}

#[test]
fn saved_clocks_are_exactly_the_encoding_and_read_back() {
    let dir = tmpdir("clocks");
    let mut rng = Rng(77);
    for (i, n) in [0usize, 1, 5, 200, 5000].into_iter().enumerate() {
        let c = clocks_of(&mut rng, n);
        let rebuilt = [None, Some(1_700_000_000.0)][i % 2];
        state_dir::save_clocks(&dir, &c, rebuilt).unwrap();
        let bytes = std::fs::read(dir.join(CLOCKS_FILE)).unwrap();
        assert_eq!(bytes, holddown::encode(&c, rebuilt).unwrap(), "n {n}");
        let (back, r) = state_dir::load_clocks(&dir).unwrap();
        assert_eq!((back, r), (c, rebuilt), "n {n}");
        assert_eq!(entries(&dir), vec![CLOCKS_FILE.to_string()]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A full disk while holddown.json is streamed (RLIMIT_FSIZE in a forked
/// child, SIGXFSZ ignored): an error, the old file byte for byte, no temp
/// file; a clocks file that cannot be replaced (a directory in its place)
/// too.
#[test]
fn a_full_disk_while_the_clocks_are_streamed_keeps_the_old_file() {
    let _g = MEASURE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tmpdir("clocks-full");
    let mut rng = Rng(5);
    let old = clocks_of(&mut rng, 10);
    state_dir::save_clocks(&dir, &old, None).unwrap();
    let before = std::fs::read(dir.join(CLOCKS_FILE)).unwrap();
    let new = clocks_of(&mut rng, 20_000);
    let size = holddown::encode(&new, None).unwrap().len() as u64;
    assert!(size > 2 << 20, "{size}");
    for limit in [0u64, 100, 256 * 1024, 256 * 1024 + 1, 300 * 1024, size - 1] {
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
            let code = match state_dir::save_clocks(&dir, &new, None) {
                Ok(()) => 10,
                Err(e) if e.0.contains("File too large") => 11,
                Err(_) => 12,
            };
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status), "limit {limit}: killed ({status})");
        assert_eq!(libc::WEXITSTATUS(status), 11, "limit {limit}");
        assert_eq!(
            std::fs::read(dir.join(CLOCKS_FILE)).unwrap(),
            before,
            "limit {limit}"
        );
        assert_eq!(
            entries(&dir),
            vec![CLOCKS_FILE.to_string()],
            "limit {limit}"
        );
    }
    // Exactly enough room: written.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: size,
                rlim_max: size,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &lim);
        }
        let code = i32::from(state_dir::save_clocks(&dir, &new, None).is_err());
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    assert_eq!(state_dir::load_clocks(&dir).unwrap().0, new);
    // A directory where the file is: the rename fails, no temp file left.
    let d2 = tmpdir("clocks-dir");
    std::fs::create_dir(d2.join(CLOCKS_FILE)).unwrap();
    std::fs::write(d2.join(CLOCKS_FILE).join("x"), b"x").unwrap();
    assert!(state_dir::save_clocks(&d2, &old, None).is_err());
    assert_eq!(entries(&d2), vec![CLOCKS_FILE.to_string()]);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&d2);
}

// ---------------------------------------------------------------------
// (g) listed_type.

#[test]
fn listed_types_are_the_text_given() {
    for t in [
        "A", "AAAA", "SRV", "PTR", "NS", "SOA", "CNAME", "TXT", "MX", "CAA", "ALIAS", "SPF",
    ] {
        let c = listed_type(t.to_string());
        assert!(matches!(c, std::borrow::Cow::Borrowed(_)), "{t}");
        assert_eq!(c, t);
    }
    for t in [
        "a",
        "srv",
        "A ",
        " A",
        "",
        "TYPE1",
        "Aaaa",
        "A\0",
        "ＡＡＡＡ",
    ] {
        let c = listed_type(t.to_string());
        assert!(matches!(c, std::borrow::Cow::Owned(_)), "{t:?}");
        assert_eq!(c, t);
    }
}

// ---------------------------------------------------------------------
// (h) Through the binary: the write deadline, and runs over a damaged
// cache.

const DOMAIN: &str = "mesos.example.com";

fn owned(
    ns1: &support::fake_ns1::FakeNs1,
) -> std::collections::BTreeMap<(String, String), Vec<String>> {
    support::harness::owned_records(ns1, DOMAIN)
}

#[test]
fn a_deadline_cuts_the_writes_and_the_rest_waits_for_the_next_run() {
    let env = Env::new("deadline");
    for m in ["GET", "PUT", "POST", "DELETE"] {
        env.ns1.set_bucket(m, 100_000, 1.0);
    }
    let tasks = many_tasks(8, 3);
    let state = env.serve(3, &as_refs(&tasks));
    // 100 ms a request: the writes of 40-odd records take longer than
    // the 1.5 s deadline.
    env.ns1.set_delay(Duration::from_millis(100));
    let t = std::time::Instant::now();
    let out = env.run("sync", &["--deadline", "1.5"]);
    let took = t.elapsed();
    let code = out.status.code();
    assert_ne!(code, Some(101), "{}", text(&out));
    let first = owned(&env.ns1).len();
    eprintln!("deadline 1.5 s: exit {code:?} in {took:?}, {first} records written");
    assert_eq!(code, Some(4), "{}", text(&out));
    assert!(first > 0, "no progress: {}", text(&out));
    assert!(took < Duration::from_secs(5), "{took:?}");
    env.ns1.set_delay(Duration::ZERO);
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned(&env.ns1), expected(&state, DOMAIN));
}

#[test]
fn odd_deadlines_never_panic() {
    let env = Env::new("deadline-odd");
    env.serve(2, &as_refs(&many_tasks(3, 2)));
    for d in [
        "0",
        "-1",
        "NaN",
        "inf",
        "1e400",
        "3600.0001",
        "0.000001",
        "0.01",
        "3600",
    ] {
        let out = env.run("sync", &["--deadline", d]);
        let code = out.status.code();
        eprintln!("--deadline {d}: exit {code:?}");
        assert!(
            code.is_some() && code != Some(101),
            "--deadline {d}: {}",
            text(&out)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "--deadline {d}: {}", text(&out));
    }
    // The config file's value too.
    for v in ["0.01", "3600", "1e-9", "null", "\"5\""] {
        let cfg = env
            .dir
            .file("dl.json", &format!("{{\"deadlineSeconds\": {v}}}"));
        let mut args = env.args("sync", &[]);
        args.push("--config".into());
        args.push(cfg.display().to_string());
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mesos2ns1"))
            .args(&args)
            .env("NS1_APIKEY", "test-key-0123456789")
            .env_remove("MESOS2NS1_CONFIG")
            .env("MESOS2NS1_REMOVE_AFTER", "0")
            .output()
            .unwrap();
        let code = out.status.code();
        eprintln!("deadlineSeconds {v}: exit {code:?}");
        assert!(code.is_some() && code != Some(101), "{v}: {}", text(&out));
    }
}

/// Runs alternating full and cached reads, the cache damaged or forged
/// between runs (its digest fixed, its serial the zone's): no record the
/// cluster still has is ever deleted, and the zone ends right.
#[test]
fn damaged_or_forged_caches_between_runs_never_delete_a_live_record() {
    let env = Env::new("cache-seq");
    for m in ["GET", "PUT", "POST", "DELETE"] {
        env.ns1.set_bucket(m, 100_000, 1.0);
    }
    let all = many_tasks(12, 3);
    let mut rng = Rng(0xC0FFEE);
    let state_dir = env.dir.path().join("state");
    let cache = state_dir.join(CACHE_FILE);
    let mut state = env.serve(3, &as_refs(&all));
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut forged_used = 0;
    for round in 0..10 {
        // The cluster moves now and then.
        if round % 3 == 2 {
            let keep: Vec<_> = all.iter().filter(|_| rng.below(4) != 0).cloned().collect();
            state = env.serve(3, &as_refs(&keep));
        }
        let want = expected(&state, DOMAIN);
        // A full read, to leave a trusted cache.
        let out = env.run("sync", &["--full-read-every", "0"]);
        assert!(matches!(out.status.code(), Some(0 | 3)), "{}", text(&out));
        let out = env.run("sync", &[]);
        assert!(matches!(out.status.code(), Some(0 | 3)), "{}", text(&out));
        if let Ok(good) = std::fs::read(&cache) {
            let nl = good.iter().position(|&b| b == b'\n').unwrap();
            let head: serde_json::Value = serde_json::from_slice(&good[..nl]).unwrap();
            let mut bad = good.clone();
            match round % 4 {
                0 => {
                    let at = nl + 1 + rng.below(good.len() - nl - 1);
                    bad[at] ^= 1 << rng.below(8);
                }
                1 => bad.truncate(nl + 1 + rng.below(good.len() - nl - 1)),
                // Forged: an empty listing with a right digest and the
                // zone's serial (the tool would create everything).
                2 => {
                    let body = b"[]";
                    let mut h = head.clone();
                    h["count"] = 0.into();
                    h["sha256"] = hexd(body).into();
                    h["serial"] = env.ns1.serial().into();
                    bad = serde_json::to_vec(&h).unwrap();
                    bad.push(b'\n');
                    bad.extend_from_slice(body);
                }
                // Forged: the listing plus owned records the cluster does
                // not have, and every desired record with other answers.
                _ => {
                    let mut recs: Vec<ZoneRecord> = (0..5)
                        .map(|i| ZoneRecord {
                            domain: format!("ghost{i}.{DOMAIN}"),
                            rtype: "A".into(),
                            ttl: Some(60),
                            answers: vec!["10.9.9.9".into()],
                            tier: Some(1),
                            link: None,
                        })
                        .collect();
                    for (name, t) in want.keys() {
                        recs.push(ZoneRecord {
                            domain: name.clone(),
                            rtype: t.clone().into(),
                            ttl: Some(60),
                            answers: vec!["10.9.9.8".into()],
                            tier: Some(1),
                            link: None,
                        });
                    }
                    let tmp = tmpdir("forge");
                    state_dir::save_cache(
                        &tmp,
                        "example.com",
                        head["endpoint"].as_str().unwrap(),
                        env.ns1.serial(),
                        &recs,
                    )
                    .unwrap();
                    let forged = std::fs::read(tmp.join(CACHE_FILE)).unwrap();
                    let _ = std::fs::remove_dir_all(&tmp);
                    // Keep the real header's zone/endpoint (normalized).
                    let fnl = forged.iter().position(|&b| b == b'\n').unwrap();
                    let mut h: serde_json::Value = serde_json::from_slice(&forged[..fnl]).unwrap();
                    h["zone"] = head["zone"].clone();
                    bad = serde_json::to_vec(&h).unwrap();
                    bad.extend_from_slice(&forged[fnl..]);
                }
            }
            std::fs::write(&cache, &bad).unwrap();
        }
        env.ns1.clear_log();
        let out = env.run("sync", &["-v"]);
        let code = out.status.code();
        assert!(
            matches!(code, Some(0 | 3 | 4)),
            "round {round}: {}",
            text(&out)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        let used = err.contains("planning against the cached listing");
        // A damaged cache is never used; a forged one (right digest, the
        // zone's serial) is, and only ever leads to creates or a fresh
        // read.
        if round % 4 < 2 {
            assert!(!used, "round {round}: a damaged cache was used: {err}");
        } else {
            forged_used += usize::from(used);
        }
        // No delete of a name the cluster has.
        for r in env.ns1.log() {
            if r.method == "DELETE" {
                let live = want
                    .keys()
                    .any(|(n, t)| r.path.ends_with(&format!("/{n}/{t}")));
                assert!(!live, "round {round}: deleted a live record: {}", r.path);
            }
        }
        // Every record the cluster has is in the zone with its answers
        // (after a forged cache, once the next full read has repaired it).
        let out = env.run("sync", &["--full-read-every", "0"]);
        assert!(matches!(out.status.code(), Some(0 | 3)), "{}", text(&out));
        // (Removals may be held by the safety checks: the zone holds at
        // least every answer the cluster has.)
        let have = owned(&env.ns1);
        for (k, a) in &want {
            let got = have
                .get(k)
                .unwrap_or_else(|| panic!("round {round}: {k:?} missing"));
            assert!(
                a.iter().all(|x| got.contains(x)),
                "round {round}: {k:?}: {got:?} lacks some of {a:?}"
            );
        }
    }
    eprintln!("forged caches used by a run: {forged_used} of 5");
    assert!(forged_used > 0);
}

/// How far past --deadline a run ends when one request takes longer than
/// the reserve (2% of the deadline): printed, and bounded by the
/// deadline plus one request and the run's end work.
#[test]
fn a_slow_request_at_the_write_deadline() {
    let env = Env::new("deadline-slow");
    for m in ["GET", "PUT", "POST", "DELETE"] {
        env.ns1.set_bucket(m, 100_000, 1.0);
    }
    let state = env.serve(3, &as_refs(&many_tasks(8, 3)));
    env.ns1.set_delay(Duration::from_millis(400));
    let t = std::time::Instant::now();
    let out = env.run("sync", &["--deadline", "3"]);
    let took = t.elapsed();
    eprintln!("deadline 3 s, 400 ms a request: {took:?}\n{}", text(&out));
    let failed = env.ns1.log().iter().filter(|r| r.status == 0).count();
    eprintln!("requests without a reply: {failed}");
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    // The run ends at the deadline plus its end work (a request started
    // before the write deadline is cut by the client's deadline).
    assert!(took < Duration::from_millis(3600), "{took:?}");
    // A write cut in flight (its outcome unknown to the run) is repaired
    // by the next run.
    std::thread::sleep(Duration::from_millis(500));
    env.ns1.set_delay(Duration::ZERO);
    let out = env.run("sync", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(owned(&env.ns1), expected(&state, DOMAIN));
    env.ns1.clear_log();
    let out = env.run("sync", &["--full-read-every", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(env.ns1.writes(), 0);
}
