//! Reading the zone for a run, and creating a missing one.
//!
//! * **Cached listing.** The last full listing is kept in the state dir
//!   ([`CACHE_FILE`]) with the zone's `serial`. A run first reads page 1
//!   with a small `limit` (one GET); when the serial is the cached one and
//!   the cache can be trusted, the run plans against the cache. A full read
//!   happens when the serial moved, after a run that wrote (its own writes
//!   move the serial, so such a run leaves the cache untrusted), when the
//!   cache is missing or in any doubt (size, digest, count, zone, endpoint,
//!   time), and at least every `--full-read-every` seconds. A stale cache
//!   costs a write fallback (PUT that finds the record becomes POST), never
//!   a wrong record.
//! * **A new zone in one request** (`--create-zone`). A zone that does not
//!   exist is created with every desired record in one zone-file import
//!   ([`zone_file`]); the run then lists the new zone and writes what the
//!   import did not create record by record. An existing zone, even an
//!   empty one, is never re-created.

use crate::ns1::{Ns1Api, Ns1Error, ZoneListing, ZoneRecord, normalize_name};
use crate::plan::{Action, Plan};
use crate::store;
use crate::text::unix_secs as unix_now;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;

/// The listing cache in the state dir.
pub const CACHE_FILE: &str = "ns1-listing-cache";
/// The pacing estimates in the state dir.
pub const PACING_FILE: &str = "ns1-pacing.json";
/// Largest listing cache read (about 2.5 million records).
pub const MAX_CACHE_BYTES: u64 = 256 * 1024 * 1024;
/// Most records a cache may claim.
pub const MAX_CACHE_RECORDS: u64 = 2_500_000;
const MAX_PACING_BYTES: u64 = 64 * 1024;
const CACHE_VERSION: u32 = 2;

/// Where the run's view of the zone came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Every page was read.
    Full,
    /// Page 1 showed the cached serial: the cached listing.
    Cache,
    /// The zone does not exist (and `--create-zone` is on).
    Missing,
}

/// The zone as this run sees it.
#[derive(Debug)]
pub struct ZoneView {
    pub records: Vec<ZoneRecord>,
    pub serial: Option<u64>,
    pub source: Source,
    /// GETs spent reading it.
    pub reads: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct CacheHeader {
    version: u32,
    zone: String,
    endpoint: String,
    serial: u64,
    /// Unix seconds of the full read this cache holds.
    full_read_unix: u64,
    /// False after a run that wrote: the zone moved since.
    trusted: bool,
    count: u64,
    /// SHA-256 (hex) of the records line.
    sha256: String,
}

/// One cached record: domain, type, ttl, tier, answers, link (a linked
/// record is never owned: the link must survive the cache).
type CachedRecord = (
    String,
    String,
    Option<u32>,
    Option<u32>,
    Vec<String>,
    Option<String>,
);
/// The same, borrowed, for writing.
type CachedRef<'a> = (
    &'a str,
    &'a str,
    Option<u32>,
    Option<u32>,
    &'a [String],
    Option<&'a str>,
);

fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

/// The trusted cached listing of `zone` at `endpoint`, or why there is
/// none. Anything in doubt is a reason to read the zone in full.
fn load_cache(
    dir: &Path,
    zone: &str,
    endpoint: &str,
    full_read_every: Duration,
) -> Result<(u64, Vec<ZoneRecord>), String> {
    if full_read_every.is_zero() {
        return Err("--full-read-every is 0".into());
    }
    let data = store::read(dir, CACHE_FILE, MAX_CACHE_BYTES)
        .map_err(|e| e.to_string())?
        .ok_or("no cached listing yet")?;
    let nl = data
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("cached listing is damaged (no header line)")?;
    let header: CacheHeader = serde_json::from_slice(&data[..nl])
        .map_err(|e| format!("cached listing header is damaged ({e})"))?;
    if header.version != CACHE_VERSION {
        return Err(format!("cached listing version {}", header.version));
    }
    if !header.trusted {
        return Err("the last run wrote to the zone".into());
    }
    if header.zone != zone || header.endpoint != endpoint {
        return Err("cached listing is of another zone or endpoint".into());
    }
    let now = unix_now();
    if header.full_read_unix > now {
        return Err("cached listing is from the future (clock moved back)".into());
    }
    let age = now - header.full_read_unix;
    if age >= full_read_every.as_secs().max(1) {
        return Err(format!("last full read {age} s ago"));
    }
    if header.count > MAX_CACHE_RECORDS {
        return Err("cached listing claims too many records".into());
    }
    let body = &data[nl + 1..];
    if hex(&Sha256::digest(body)) != header.sha256 {
        return Err("cached listing is damaged (digest mismatch)".into());
    }
    let cached: Vec<CachedRecord> =
        serde_json::from_slice(body).map_err(|e| format!("cached listing is damaged ({e})"))?;
    if cached.len() as u64 != header.count {
        return Err("cached listing is damaged (count mismatch)".into());
    }
    let records = cached
        .into_iter()
        .map(|(domain, rtype, ttl, tier, answers, link)| ZoneRecord {
            domain,
            rtype,
            ttl,
            answers,
            tier,
            link,
        })
        .collect();
    Ok((header.serial, records))
}

/// Saves a full listing as the trusted cache.
fn save_cache(
    dir: &Path,
    zone: &str,
    endpoint: &str,
    serial: u64,
    records: &[ZoneRecord],
) -> Result<(), String> {
    let cached: Vec<CachedRef<'_>> = records
        .iter()
        .map(|r| {
            (
                r.domain.as_str(),
                r.rtype.as_str(),
                r.ttl,
                r.tier,
                r.answers.as_slice(),
                r.link.as_deref(),
            )
        })
        .collect();
    let body = serde_json::to_vec(&cached).map_err(|e| e.to_string())?;
    let header = CacheHeader {
        version: CACHE_VERSION,
        zone: zone.to_string(),
        endpoint: endpoint.to_string(),
        serial,
        full_read_unix: unix_now(),
        trusted: true,
        count: records.len() as u64,
        sha256: hex(&Sha256::digest(&body)),
    };
    let mut data = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    if data.len() as u64 + 1 + body.len() as u64 > MAX_CACHE_BYTES {
        return Err("the listing is too large to cache".into());
    }
    data.push(b'\n');
    data.extend_from_slice(&body);
    store::write_atomic(dir, CACHE_FILE, &data).map_err(|e| e.to_string())
}

/// Marks the cache untrusted (the zone moved under this run's writes).
fn distrust_cache(dir: &Path) -> Result<(), String> {
    let header = CacheHeader {
        version: CACHE_VERSION,
        zone: String::new(),
        endpoint: String::new(),
        serial: 0,
        full_read_unix: 0,
        trusted: false,
        count: 0,
        sha256: hex(&Sha256::digest(b"[]")),
    };
    let mut data = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    data.extend_from_slice(b"\n[]");
    store::write_atomic(dir, CACHE_FILE, &data).map_err(|e| e.to_string())
}

/// How to read the zone.
#[derive(Debug, Clone)]
pub struct ReadOptions<'a> {
    pub zone: &'a str,
    pub endpoint: &'a str,
    pub state_dir: &'a Path,
    pub full_read_every: Duration,
    pub create_zone: bool,
}

/// Reads the zone for this run (see the module docs). A missing zone is
/// [`Source::Missing`] with `create_zone`, else the
/// [`Ns1Error::ZoneNotFound`] error.
pub fn read_zone(client: &mut dyn Ns1Api, o: &ReadOptions<'_>) -> Result<ZoneView, Ns1Error> {
    let zone = normalize_name(o.zone);
    let before = client.stats().reads;
    let missing = |client: &dyn Ns1Api| ZoneView {
        records: Vec::new(),
        serial: None,
        source: Source::Missing,
        reads: client.stats().reads - before,
    };
    match load_cache(o.state_dir, &zone, o.endpoint, o.full_read_every) {
        Ok((cached_serial, records)) => match client.zone_serial(&zone) {
            Ok(Some(serial)) if serial == cached_serial => {
                log::info!(
                    "zone {zone}: serial {serial} unchanged; planning against the cached listing ({} records)",
                    records.len()
                );
                return Ok(ZoneView {
                    records,
                    serial: Some(serial),
                    source: Source::Cache,
                    reads: client.stats().reads - before,
                });
            }
            Ok(serial) => log::info!(
                "zone {zone}: serial {serial:?} (cached {cached_serial}); reading it in full"
            ),
            Err(Ns1Error::ZoneNotFound { .. }) if o.create_zone => return Ok(missing(client)),
            Err(e) => return Err(e),
        },
        Err(why) => log::info!("zone {zone}: reading it in full ({why})"),
    }
    match client.list_zone_full(&zone) {
        Ok(ZoneListing { serial, records }) => Ok(ZoneView {
            records,
            serial,
            source: Source::Full,
            reads: client.stats().reads - before,
        }),
        Err(Ns1Error::ZoneNotFound { .. }) if o.create_zone => Ok(missing(client)),
        Err(e) => Err(e),
    }
}

/// After the read: a full listing with a serial becomes the trusted cache
/// (before planning consumes it). Failures are logged, never fatal (the
/// next run reads in full).
pub fn after_read(o: &ReadOptions<'_>, view: &ZoneView) {
    if view.source != Source::Full {
        return;
    }
    let zone = normalize_name(o.zone);
    let result = match view.serial {
        Some(serial) => save_cache(o.state_dir, &zone, o.endpoint, serial, &view.records),
        None => distrust_cache(o.state_dir),
    };
    if let Err(e) = result {
        log::warn!("listing cache in {}: {e}", o.state_dir.display());
    }
}

/// After a run that wrote (or tried to): the cache is no longer trusted.
pub fn after_write(o: &ReadOptions<'_>) {
    if let Err(e) = distrust_cache(o.state_dir) {
        log::warn!("listing cache in {}: {e}", o.state_dir.display());
    }
}

/// Restores the pacing estimates saved by an earlier run, if any.
pub fn load_pacing(dir: &Path, client: &crate::ns1::Client) {
    match store::read(dir, PACING_FILE, MAX_PACING_BYTES) {
        Ok(Some(data)) => match serde_json::from_slice::<crate::ns1::PacingState>(&data) {
            Ok(state) => {
                let n = client.restore_pacing(&state);
                log::debug!("pacing: {n} buckets restored from {PACING_FILE}");
            }
            Err(e) => log::info!("pacing state {PACING_FILE} ignored: {e}"),
        },
        Ok(None) => {}
        Err(e) => log::info!("pacing state ignored: {e}"),
    }
}

/// Saves the pacing estimates for the next run.
pub fn save_pacing(dir: &Path, client: &crate::ns1::Client) {
    let state = client.pacing_state();
    match serde_json::to_vec(&state) {
        Ok(data) => {
            if let Err(e) = store::write_atomic(dir, PACING_FILE, &data) {
                log::warn!("could not save pacing state: {e}");
            }
        }
        Err(e) => log::warn!("could not save pacing state: {e}"),
    }
}

/// The ownership marker record (name, type, answers) to include in a
/// zone-file import: the TXT `_mesos2ns1.<domain>` that claims the domain
/// (see `plan::marker_name`).
pub fn ownership_marker_for_import(domain: &str) -> Option<(String, String, Vec<String>)> {
    let domain = crate::ns1::normalize_name(domain);
    Some((
        crate::plan::marker_name(&domain),
        "TXT".into(),
        vec![crate::plan::marker_text(&domain)],
    ))
}

/// Whether a name or answer can go into a zone file as it is.
fn zone_file_safe(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b'(' | b')' | b'"' | b'\\' | b'$'))
}

fn fqdn(name: &str) -> String {
    format!("{}.", normalize_name(name))
}

/// The BIND zone file of the plan's creates (all of them, in a new zone),
/// plus `extra` records (the ownership marker). Records that cannot be
/// written safely in zone-file syntax are left out; the verify step writes
/// them record by record. Returns the text and how many (name, type)
/// pairs it holds.
pub fn zone_file(
    zone: &str,
    ttl: u32,
    plan: &Plan,
    extra: &[(String, String, Vec<String>)],
) -> (String, usize) {
    let mut out = format!("$ORIGIN {}\n$TTL {ttl}\n", fqdn(zone));
    let mut pairs = 0;
    let mut add = |name: &str, rtype: &str, answers: &[String], out: &mut String| {
        if !zone_file_safe(name) {
            return;
        }
        let mut lines = String::new();
        for a in answers {
            let rdata = match rtype {
                "SRV" => {
                    let f: Vec<&str> = a.split_whitespace().collect();
                    if f.len() != 4 || !f.iter().all(|x| zone_file_safe(x)) {
                        return;
                    }
                    format!("{} {} {} {}", f[0], f[1], f[2], fqdn(f[3]))
                }
                "TXT" => {
                    if !a.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
                        || a.contains(['"', '\\'])
                    {
                        return;
                    }
                    format!("\"{a}\"")
                }
                _ => {
                    if !zone_file_safe(a) {
                        return;
                    }
                    a.clone()
                }
            };
            lines.push_str(&format!("{} {ttl} IN {rtype} {rdata}\n", fqdn(name)));
        }
        if !lines.is_empty() {
            out.push_str(&lines);
            pairs += 1;
        }
    };
    for c in &plan.changes {
        if c.action != Action::Create {
            continue;
        }
        if let Some(new) = &c.new {
            add(&c.name, c.rtype.as_str(), &new.answers, &mut out);
        }
    }
    for (name, rtype, answers) in extra {
        add(name, rtype, answers, &mut out);
    }
    (out, pairs)
}

/// Creates the missing `zone` with the plan's creates in one zone-file
/// import, then lists it. Returns the listing to plan the rest against.
/// An import refused because the zone exists after all (another tool, or
/// a lost reply to our own import) is not an error: the listing decides.
pub fn create_zone(
    client: &mut dyn Ns1Api,
    zone: &str,
    domain: &str,
    ttl: u32,
    plan: &Plan,
) -> Result<ZoneListing, Ns1Error> {
    let extra: Vec<_> = ownership_marker_for_import(domain).into_iter().collect();
    let (text, pairs) = zone_file(zone, ttl, plan, &extra);
    log::info!(
        "zone {zone} does not exist: creating it with {pairs} record sets in one zone-file import ({} bytes)",
        text.len()
    );
    match client.import_zonefile(zone, &text) {
        Ok(()) => {}
        Err(Ns1Error::Http {
            status, message, ..
        }) if (400..500).contains(&status) && message.to_ascii_lowercase().contains("exists") => {
            log::warn!(
                "zone {zone}: the import says the zone exists ({message}); using it as it is"
            );
        }
        Err(e) => return Err(e),
    }
    client.list_zone_full(zone)
}

/// The desired records again, from a plan made against an empty zone (all
/// creates), to plan against the zone the import made.
pub fn desired_from_creates(plan: &Plan) -> Vec<crate::records::Record> {
    plan.changes
        .iter()
        .filter(|c| c.action == Action::Create)
        .filter_map(|c| {
            c.new.as_ref().map(|d| crate::records::Record {
                name: c.name.clone(),
                rtype: c.rtype,
                answers: d.answers.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Change, RecordData};
    use crate::records::RecordType;

    fn tmp(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "mesos2ns1-zr-{tag}-{}-{}",
            std::process::id(),
            unix_now()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn rec(d: &str, t: &str, a: &[&str]) -> ZoneRecord {
        ZoneRecord {
            domain: d.into(),
            rtype: t.into(),
            ttl: Some(60),
            answers: a.iter().map(|s| s.to_string()).collect(),
            tier: Some(1),
            link: None,
        }
    }

    #[test]
    fn cache_round_trip_and_every_doubt_means_a_full_read() {
        let dir = tmp("cache");
        let every = Duration::from_secs(600);
        let recs = vec![
            rec("a.example.com", "A", &["10.0.0.1"]),
            rec("example.com", "NS", &["dns1.p01.nsone.net"]),
        ];
        assert!(
            load_cache(&dir, "example.com", "e", every)
                .unwrap_err()
                .contains("no cached")
        );
        save_cache(&dir, "example.com", "e", 42, &recs).unwrap();
        let (serial, back) = load_cache(&dir, "example.com", "e", every).unwrap();
        assert_eq!(serial, 42);
        assert_eq!(back, recs);
        // Another zone or endpoint, or --full-read-every 0.
        assert!(load_cache(&dir, "other.com", "e", every).is_err());
        assert!(load_cache(&dir, "example.com", "f", every).is_err());
        assert!(load_cache(&dir, "example.com", "e", Duration::ZERO).is_err());
        // One flipped byte in the records.
        let path = dir.join(CACHE_FILE);
        let mut data = std::fs::read(&path).unwrap();
        let last = data.len() - 5;
        data[last] ^= 1;
        std::fs::write(&path, &data).unwrap();
        assert!(
            load_cache(&dir, "example.com", "e", every)
                .unwrap_err()
                .contains("damaged")
        );
        // Truncated, garbage, empty.
        for junk in [&b""[..], b"{", b"{}\n[]", b"\xff\xfe\n\x00"] {
            std::fs::write(&path, junk).unwrap();
            assert!(load_cache(&dir, "example.com", "e", every).is_err());
        }
        // A header claiming a count that is not there.
        save_cache(&dir, "example.com", "e", 42, &recs).unwrap();
        let text = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
        std::fs::write(&path, text.replacen("\"count\":2", "\"count\":3", 1)).unwrap();
        assert!(
            load_cache(&dir, "example.com", "e", every)
                .unwrap_err()
                .contains("count")
        );
        // After a writing run.
        save_cache(&dir, "example.com", "e", 42, &recs).unwrap();
        distrust_cache(&dir).unwrap();
        assert!(
            load_cache(&dir, "example.com", "e", every)
                .unwrap_err()
                .contains("wrote")
        );
        // Too large a file is not even read.
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(MAX_CACHE_BYTES + 1).unwrap();
        let e = load_cache(&dir, "example.com", "e", every).unwrap_err();
        assert!(e.contains(&MAX_CACHE_BYTES.to_string()), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn zone_file_of_the_creates() {
        let c = |name: &str, rtype, answers: &[&str]| Change {
            action: Action::Create,
            name: name.into(),
            rtype,
            old: None,
            new: Some(RecordData {
                ttl: Some(60),
                answers: answers.iter().map(|s| s.to_string()).collect(),
            }),
        };
        let plan = Plan {
            changes: vec![
                c(
                    "web.fw.mesos.example.com",
                    RecordType::A,
                    &["10.0.0.1", "10.0.0.2"],
                ),
                c(
                    "_web._tcp.fw.mesos.example.com",
                    RecordType::SRV,
                    &["0 1 31000 web-x.fw.slave.mesos.example.com"],
                ),
                c(
                    "v6.fw.mesos.example.com",
                    RecordType::AAAA,
                    &["2001:db8::1"],
                ),
                c("bad;name.mesos.example.com", RecordType::A, &["10.0.0.9"]),
            ],
            ..Plan::default()
        };
        let extra = vec![(
            "_mesos2ns1.mesos.example.com".to_string(),
            "TXT".to_string(),
            vec!["owner x".to_string()],
        )];
        let (text, pairs) = zone_file("example.com", 60, &plan, &extra);
        assert_eq!(pairs, 4, "{text}");
        assert_eq!(
            text,
            "$ORIGIN example.com.\n$TTL 60\n\
             web.fw.mesos.example.com. 60 IN A 10.0.0.1\n\
             web.fw.mesos.example.com. 60 IN A 10.0.0.2\n\
             _web._tcp.fw.mesos.example.com. 60 IN SRV 0 1 31000 web-x.fw.slave.mesos.example.com.\n\
             v6.fw.mesos.example.com. 60 IN AAAA 2001:db8::1\n\
             _mesos2ns1.mesos.example.com. 60 IN TXT \"owner x\"\n"
        );
    }
}
