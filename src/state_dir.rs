//! The state dir (`--state-dir`, default `/var/lib/mesos2ns1`): every file
//! a run keeps for the next one is named, read and written here, and only
//! here ([`crate::store`] gives the safe-file primitives underneath: no
//! symlinks followed, owner checked, atomic replace). A new file in the
//! state dir is added to this module and to this list:
//!
//! | file | format | kept by |
//! |------|--------|---------|
//! | `lock` | empty; held with an exclusive `flock` for the whole run | [`lock`] |
//! | `memory.json` | JSON [`Memory`]: the window's samples, counters, last success, whether the zone is still being filled | [`Memory`], [`load_safety`] |
//! | `holddown.json` | JSON [`Clocks`] in the compact format 2 ([`holddown`]; 0.2.0's plain maps still load): since when each owned record (or answer) is absent, and what is held | [`load_clocks`], [`save_clocks`], [`load_safety`] |
//! | `holddown.json.damaged` | the last `holddown.json` that could not be read, moved aside as it was; never read | [`load_safety`] |
//! | `ns1-pacing.json` | JSON [`crate::ns1::PacingState`]: the NS1 rate-limit estimates | [`load_pacing`], [`save_pacing`] |
//! | `ns1-listing-cache` | one JSON header line (version, zone, endpoint, serial, full-read time, trusted, count, SHA-256), then one JSON array of `[domain, type, ttl, tier, answers, link]` | [`load_cache`], [`save_cache`], [`distrust_cache`] |
//! | `adopt-preview.json` | JSON `{"changes": [...], "domain": ..., "time": ...}`: what `adopt` showed, for `adopt --yes` | [`save_adopt_preview`], [`load_adopt_preview`] |
//! | `claim.json` | JSON [`ClaimFile`] `{"domain": ..., "cluster": ..., "time": ...}`: the domain this state dir claimed and the cluster id it claimed with (sticky) | [`load_owned`], [`save_claim`] |
//! | `published.<reverse zone>` | the ledger of the PTR records published in one listed reverse zone, in the format of `published` (its header names the reverse zone) | [`load_ledger_file`], [`save_ledger_file`] |
//! | `published` | the ledger of published records: one text header line `mesos2ns1-published 1 <domain> <count> <sha256 hex of the body>`, then `count` sorted 8-byte big-endian keys ([`crate::plan::ledger_key`]); at most [`MAX_LEDGER_KEYS`] | [`load_owned`], [`save_ledger`] |
//!
//! A damaged `memory.json`, or a `holddown.json` the tool may not open,
//! holds every removal until it is fixed or `--force` starts over; a
//! `holddown.json` whose content cannot be read is rebuilt, holding
//! removals for one settle period ([`load_safety`]); the pacing file, the
//! listing cache and the preview are only ever hints (in doubt: ignored).
//! A damaged `published` or `claim.json` is as if absent: the ledger is
//! seeded again from the zone (only under this cluster's own marker), the
//! claim from the marker; neither ever blocks a run.

use crate::exit::{Exit, Fail};
use crate::ns1::ZoneRecord;
use crate::plan::{Baseline, Clocks, Sample};
use crate::store;
use crate::text::unix_secs as unix_now;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{self, File, TryLockError};
use std::path::Path;
use std::time::Duration;

pub mod holddown;

/// The lock file: a run holds it (`flock`) from start to end.
pub const LOCK: &str = "lock";

/// Creates the state dir (mode 0750) and takes its lock. `None`: another
/// run holds it.
pub fn lock(dir: &Path) -> Result<Option<File>, Fail> {
    if !dir.exists() {
        let mut b = fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o750);
        b.create(dir).map_err(|e| {
            Fail::new(
                Exit::Usage,
                format!("cannot create state dir {}: {e}", dir.display()),
            )
        })?;
    }
    let path = dir.join(LOCK);
    let file = crate::store::open_checked(
        &path,
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true),
    )
    .and_then(|f| f.ok_or_else(|| crate::store::StoreError(format!("{} vanished", path.display()))))
    .map_err(|e| Fail::new(Exit::Usage, format!("cannot open lock: {e}")))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(Fail::new(
            Exit::Failed,
            format!("cannot lock {}: {e}", path.display()),
        )),
    }
}

/// What a run remembers for the next one (`STATE_DIR/memory.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Memory {
    /// Figures of the last state applied (kept for older readers; the
    /// checks use `samples`).
    #[serde(default)]
    pub last_good: Option<Baseline>,
    #[serde(default)]
    pub last_success_time: Option<f64>,
    #[serde(default)]
    pub refusals_total: u64,
    /// Held removals released by `--settle` or `--force` since the state
    /// dir was created.
    #[serde(default)]
    pub released_total: u64,
    /// One sample per run, for the sliding window's baseline.
    #[serde(default)]
    pub samples: Vec<Sample>,
    /// The same, of each listed reverse zone (its owned PTR records and
    /// the PTR removals a run made), by zone: the mass-removal share of a
    /// reverse zone is judged against its own window.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub reverse_samples: std::collections::BTreeMap<String, Vec<Sample>>,
    /// Whether the zone is still being filled: set by a run that found no
    /// owned record in the zone and had some to publish, cleared by the
    /// first run that applies all its additions (absent, false, in files of
    /// 0.2.0).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub filling: bool,
}

/// At most this many samples are kept (a run every second for an hour).
pub const MAX_SAMPLES: usize = 4000;

/// The largest memory or hold-down file read (a zone's worth of names).
pub const MAX_STATE_FILE: u64 = 256 << 20;

impl Memory {
    pub const FILE: &'static str = "memory.json";

    /// Loads the memory; a missing file is a first run. A file that cannot
    /// be read or parsed is an error: treating it as a first run would turn
    /// the checks' baseline off.
    pub fn load(dir: &Path) -> Result<Memory, String> {
        let path = dir.join(Self::FILE);
        match crate::store::read(dir, Self::FILE, MAX_STATE_FILE) {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("{} is damaged ({e})", path.display())),
            Ok(None) => Ok(Memory::default()),
            Err(e) => Err(e.0),
        }
    }

    pub fn save(&self, dir: &Path) -> Result<(), crate::store::StoreError> {
        let bytes = serde_json::to_vec(self)
            .map_err(|e| crate::store::StoreError(format!("cannot encode memory: {e}")))?;
        crate::store::write_atomic(dir, Self::FILE, &bytes)
    }

    /// Adds a sample, dropping those older than `window` and the oldest
    /// beyond [`MAX_SAMPLES`]. Samples from a later time (the clock stepped
    /// back) are kept, moved back in order ([`crate::plan::rebase`]).
    pub fn push_sample(&mut self, sample: Sample, window: f64) {
        push_bounded(&mut self.samples, sample, window);
    }

    /// Adds a sample to the window of the reverse zone `zone`; the windows
    /// of zones no longer listed (not in `listed`) are dropped.
    pub fn push_reverse_sample(
        &mut self,
        zone: &str,
        sample: Sample,
        window: f64,
        listed: &[&str],
    ) {
        self.reverse_samples
            .retain(|z, _| listed.contains(&z.as_str()));
        push_bounded(
            self.reverse_samples.entry(zone.to_string()).or_default(),
            sample,
            window,
        );
    }
}

/// Adds a sample to a window: samples from a later time (the clock stepped
/// back) are kept, moved back in order ([`crate::plan::rebase`]); those
/// older than `window` and the oldest beyond [`MAX_SAMPLES`] go.
fn push_bounded(samples: &mut Vec<Sample>, sample: Sample, window: f64) {
    crate::plan::rebase(samples, sample.time);
    samples.retain(|s| s.time <= sample.time && s.time > sample.time - window);
    samples.push(sample);
    if samples.len() > MAX_SAMPLES {
        let extra = samples.len() - MAX_SAMPLES;
        samples.drain(..extra);
    }
}

/// The hold-down clocks file (`STATE_DIR/holddown.json`).
pub const CLOCKS_FILE: &str = "holddown.json";
/// Where an unreadable clocks file is moved when new clocks start over it
/// (the latest one only; never read by the tool).
pub const CLOCKS_DAMAGED: &str = "holddown.json.damaged";

/// Why the clocks file could not be used.
#[derive(Debug)]
pub enum ClocksError {
    /// Its content: not JSON of either format, or over the read limit.
    /// New clocks may start over it ([`load_safety`]).
    Content(String),
    /// Access: a symlink, another owner, an I/O error. Left to the operator.
    Access(String),
}

impl std::fmt::Display for ClocksError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClocksError::Content(e) | ClocksError::Access(e) => f.write_str(e),
        }
    }
}

/// Loads the hold-down clocks (either format, see [`holddown`]) and the
/// time new clocks were started over an unreadable file, if that is still
/// remembered; a missing file is no clock running.
pub fn load_clocks(dir: &Path) -> Result<(Clocks, Option<f64>), ClocksError> {
    let path = dir.join(CLOCKS_FILE);
    match crate::store::read(dir, CLOCKS_FILE, MAX_STATE_FILE) {
        Ok(Some(bytes)) => holddown::decode(&bytes)
            .map_err(|e| ClocksError::Content(format!("{} is damaged ({e})", path.display()))),
        Ok(None) => Ok((Clocks::default(), None)),
        Err(e) if e.0.contains("is larger than") => Err(ClocksError::Content(e.0)),
        Err(e) => Err(ClocksError::Access(e.0)),
    }
}

/// Saves the clocks in format 2. A file this run could not read back (over
/// [`MAX_STATE_FILE`]) is not written: the save fails (every removal of the
/// run is then held, and the previous file stays).
pub fn save_clocks(
    dir: &Path,
    clocks: &Clocks,
    rebuilt: Option<f64>,
) -> Result<(), crate::store::StoreError> {
    let encoded = holddown::encoded(clocks, rebuilt);
    // Measured first, then streamed to the file: never built in memory.
    let mut size = Counted(0);
    serde_json::to_writer(&mut size, &encoded)
        .map_err(|e| crate::store::StoreError(format!("cannot encode clocks: {e}")))?;
    if size.0 > MAX_STATE_FILE {
        return Err(crate::store::StoreError(format!(
            "the hold-down clocks take {} bytes, more than the {MAX_STATE_FILE} this tool reads back ({} records and {} answers absent)",
            size.0,
            clocks.records.len(),
            clocks.answers.len()
        )));
    }
    crate::store::write_atomic_with(dir, CLOCKS_FILE, 0o600, |w| {
        serde_json::to_writer(w, &encoded).map_err(std::io::Error::other)
    })
}

/// A writer that only counts the bytes written to it.
struct Counted(u64);

impl std::io::Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The memory and clocks as loaded for a run; a damaged file is never
/// written over (without --force), except an unreadable clocks file, over
/// which new clocks start (see [`load_safety`]).
#[derive(Debug, Default)]
pub struct Safety {
    pub memory: Memory,
    pub memory_ok: bool,
    pub clocks: Clocks,
    pub clocks_ok: bool,
    /// When new clocks were started over an unreadable clocks file, while
    /// that still holds every removal (saved with the clocks).
    pub rebuilt: Option<f64>,
    /// Why a safety file could not be used (every removal is then held).
    pub damaged: Option<String>,
    /// The claim and the ledger ([`load_owned`]; loaded by the command).
    pub owned: Owned,
}

/// Loads the two safety files at `now`. A damaged memory file, or a clocks
/// file the tool may not open, holds every removal (additions go on)
/// until it is fixed or `force` starts over; it is left as it is for the
/// operator. A clocks file whose content cannot be read (damaged, or over
/// the read limit) is moved to [`CLOCKS_DAMAGED`] and new clocks start: every
/// removal is held for `hold` seconds (one settle period) from then, and
/// after that waits its (new) hold-down clock as usual. Never for ever.
pub fn load_safety(dir: &Path, force: bool, now: f64, hold: f64) -> Safety {
    let mut damaged = Vec::new();
    let memory = match Memory::load(dir) {
        Ok(memory) => Some(memory),
        Err(e) if force => {
            log::warn!("--force: starting a new baseline: {e}");
            Some(Memory::default())
        }
        Err(e) => {
            damaged.push(format!(
                "{e}, so the window's baseline is unknown; fix or remove it, or run once with --force to start a new baseline"
            ));
            None
        }
    };
    let mut rebuilt = None;
    let clocks = match load_clocks(dir) {
        Ok((c, r)) => {
            rebuilt = r.filter(|t| !force && now >= *t && now < t + hold);
            if let Some(t) = rebuilt {
                damaged.push(rebuilt_note(t, hold));
            }
            Some(c)
        }
        Err(e) if force => {
            log::warn!("--force: starting new hold-down clocks: {e}");
            Some(Clocks::default())
        }
        Err(ClocksError::Content(e)) => {
            let kept = match fs::rename(dir.join(CLOCKS_FILE), dir.join(CLOCKS_DAMAGED)) {
                Ok(()) => format!("moved to {CLOCKS_DAMAGED}"),
                Err(m) => format!("could not be moved aside ({m})"),
            };
            log::warn!("{e}: {kept}; starting new hold-down clocks");
            rebuilt = Some(now);
            damaged.push(rebuilt_note(now, hold));
            Some(Clocks::default())
        }
        Err(ClocksError::Access(e)) => {
            damaged.push(format!(
                "{e}, so how long records have been absent is unknown; fix or remove it, or run once with --force to start new clocks"
            ));
            None
        }
    };
    Safety {
        memory_ok: memory.is_some(),
        clocks_ok: clocks.is_some(),
        memory: memory.unwrap_or_default(),
        clocks: clocks.unwrap_or_default(),
        rebuilt,
        damaged: if damaged.is_empty() {
            None
        } else {
            Some(damaged.join("; "))
        },
        owned: Owned::default(),
    }
}

fn rebuilt_note(t: f64, hold: f64) -> String {
    format!(
        "{CLOCKS_FILE} could not be read and new hold-down clocks started at {}, so how long records have been absent is unknown: every removal is held until {} (one settle period), then waits its new clock",
        crate::text::format_time(t),
        crate::text::format_time(t + hold)
    )
}

impl Safety {
    /// Saves the baseline and the clocks; an error ends the run before any
    /// change (a full disk must not silently turn the checks off).
    pub fn save(&self, dir: &Path) -> Result<(), store::StoreError> {
        if self.clocks_ok {
            save_clocks(dir, &self.clocks, self.rebuilt)?;
        }
        if self.memory_ok {
            self.memory.save(dir)?;
        }
        Ok(())
    }

    /// Saves the memory's counters at the end of a run (the baseline was
    /// saved before any change); a damaged file is left alone.
    pub fn save_counters(&self, dir: &Path) {
        if self.memory_ok
            && let Err(e) = self.memory.save(dir)
        {
            log::warn!("could not save the run's counters: {e}");
        }
    }
}

/// Restores the pacing estimates saved by an earlier run, if any.
pub fn load_pacing(dir: &Path, client: &crate::ns1::Client) {
    client.note_pacing_file(&dir.join(PACING_FILE));
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

/// The cached records line, written from the listing as it is (each record
/// as a [`CachedRecord`] array, borrowed): never a copy of the listing.
struct CachedSeq<'a>(&'a [ZoneRecord]);

impl Serialize for CachedSeq<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|r| {
            (
                r.domain.as_str(),
                &*r.rtype,
                r.ttl,
                r.tier,
                r.answers.as_slice(),
                r.link.as_deref(),
            )
        }))
    }
}

/// The cached records line read straight into the listing (no
/// intermediate list), at most `limit` records.
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
            // Grown from room for four: kept for the whole run otherwise.
            answers.shrink_to_fit();
            self.records.push(ZoneRecord {
                domain,
                rtype: crate::ns1::listed_type(rtype),
                ttl,
                answers,
                tier,
                link,
            });
        }
        Ok(())
    }
}

/// A reader that hashes and counts what is read through it.
struct Hashing<R> {
    inner: R,
    digest: Digesting,
}

impl<R: std::io::Read> std::io::Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        std::io::Write::write_all(&mut self.digest, &buf[..n])?;
        Ok(n)
    }
}

/// The cached listing's body (after its `head` bytes of header line),
/// hashed as it is read, at most one byte past the file's bound.
fn cache_body(file: &mut File, head: u64) -> std::io::Result<Hashing<std::io::Take<&mut File>>> {
    use std::io::{Read, Seek};
    file.seek(std::io::SeekFrom::Start(head))?;
    Ok(Hashing {
        inner: file.take(MAX_CACHE_BYTES.saturating_sub(head).saturating_add(1)),
        digest: Digesting::default(),
    })
}

/// Longest header line of the cached listing read (it names the zone, the
/// endpoint and the digest: well under a kilobyte).
const MAX_CACHE_HEADER: u64 = 64 * 1024;

/// A writer that only hashes and counts what goes through it.
#[derive(Default)]
struct Digesting {
    sha: Sha256,
    len: u64,
}

impl std::io::Write for Digesting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.sha.update(buf);
        self.len += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

/// The trusted cached listing of `zone` at `endpoint`, or why there is
/// none. Anything in doubt is a reason to read the zone in full.
pub fn load_cache(
    dir: &Path,
    zone: &str,
    endpoint: &str,
    full_read_every: Duration,
) -> Result<(u64, Vec<ZoneRecord>), String> {
    if full_read_every.is_zero() {
        return Err("--full-read-every is 0".into());
    }
    use std::io::{BufRead, Read};
    let (file, size) = store::open_read(dir, CACHE_FILE, MAX_CACHE_BYTES)
        .map_err(|e| e.to_string())?
        .ok_or("no cached listing yet")?;
    // Streamed, never the whole file in memory: the header line first,
    // then the records line (see below).
    let mut r = std::io::BufReader::with_capacity(1 << 16, file.take(MAX_CACHE_BYTES + 1));
    let mut line = Vec::new();
    (&mut r)
        .take(MAX_CACHE_HEADER)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("cannot read the cached listing: {e}"))?;
    let Some(nl) = line.iter().position(|&b| b == b'\n') else {
        return Err("cached listing is damaged (no header line)".into());
    };
    let header: CacheHeader = serde_json::from_slice(&line[..nl])
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
    // Twice through the body, never all of it in memory: first only
    // hashed (a damaged body is refused before anything is parsed), then
    // parsed and hashed again (a file changed between the two is refused).
    let head = line.len() as u64;
    let body_len = size.saturating_sub(head);
    let mut file = r.into_inner().into_inner();
    let unreadable = |e: std::io::Error| format!("cannot read the cached listing: {e}");
    let checked = |hashed: Digesting| -> Result<(), String> {
        if head + hashed.len > MAX_CACHE_BYTES {
            return Err(format!(
                "the cached listing is larger than {MAX_CACHE_BYTES} bytes; refusing to read it"
            ));
        }
        if hex(&hashed.sha.finalize()) != header.sha256 {
            return Err("cached listing is damaged (digest mismatch)".into());
        }
        Ok(())
    };
    let mut first = cache_body(&mut file, head).map_err(unreadable)?;
    std::io::copy(&mut first, &mut std::io::sink()).map_err(unreadable)?;
    checked(first.digest)?;
    // A listed record takes about 100 bytes of JSON (at least 28): a
    // header that claims more than the body holds reserves at most about
    // twice the body (112 bytes a record for every 64 of the body), and
    // the list grows past that only as records are really read.
    let mut list = CachedList {
        records: Vec::with_capacity(
            (header.count as usize).min(usize::try_from(body_len / 64).unwrap_or(0)),
        ),
        limit: header.count as usize,
    };
    let mut second = std::io::BufReader::with_capacity(
        1 << 16,
        cache_body(&mut file, head).map_err(unreadable)?,
    );
    let mut de = serde_json::Deserializer::from_reader(&mut second);
    let parsed =
        serde::de::DeserializeSeed::deserialize(&mut list, &mut de).and_then(|()| de.end());
    drop(de);
    parsed.map_err(|e| format!("cached listing is damaged ({e})"))?;
    // Read to its end (the parse stops at the last non-blank byte).
    let mut second = second.into_inner();
    std::io::copy(&mut second, &mut std::io::sink()).map_err(unreadable)?;
    checked(second.digest).map_err(|e| format!("{e} (the file changed while it was read)"))?;
    if list.records.len() as u64 != header.count {
        return Err("cached listing is damaged (count mismatch)".into());
    }
    let records = list.records;
    Ok((header.serial, records))
}

/// Saves a full listing as the trusted cache.
pub fn save_cache(
    dir: &Path,
    zone: &str,
    endpoint: &str,
    serial: u64,
    records: &[ZoneRecord],
) -> Result<(), String> {
    // Twice through the listing, never a copy of it: once to hash and
    // measure the records line (the header names its digest), once into
    // the file.
    let mut digest = Digesting::default();
    serde_json::to_writer(&mut digest, &CachedSeq(records)).map_err(|e| e.to_string())?;
    let header = CacheHeader {
        version: CACHE_VERSION,
        zone: zone.to_string(),
        endpoint: endpoint.to_string(),
        serial,
        full_read_unix: unix_now(),
        trusted: true,
        count: records.len() as u64,
        sha256: hex(&digest.sha.finalize()),
    };
    let mut head = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    if head.len() as u64 + 1 + digest.len > MAX_CACHE_BYTES {
        return Err("the listing is too large to cache".into());
    }
    head.push(b'\n');
    store::write_atomic_with(dir, CACHE_FILE, 0o600, |w| {
        w.write_all(&head)?;
        serde_json::to_writer(&mut *w, &CachedSeq(records))?;
        Ok(())
    })
    .map_err(|e| e.to_string())
}

/// Marks the cache untrusted (the zone moved under this run's writes).
pub fn distrust_cache(dir: &Path) -> Result<(), String> {
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

/// The claim file (`STATE_DIR/claim.json`).
pub const CLAIM_FILE: &str = "claim.json";
/// The published-record ledger (`STATE_DIR/published`).
pub const LEDGER_FILE: &str = "published";
/// Most keys a ledger holds: as many records as a cached listing (20 MB).
pub const MAX_LEDGER_KEYS: u64 = MAX_CACHE_RECORDS;
const LEDGER_MAGIC: &str = "mesos2ns1-published";

/// The domain this state dir claimed, and with which cluster id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimFile {
    pub domain: String,
    pub cluster: String,
    pub time: f64,
}

/// What the state dir knows of the tool's ownership of a domain.
#[derive(Debug, Clone, Default)]
pub struct Owned {
    /// The claim this state dir made on the domain, if any.
    pub claim: Option<ClaimFile>,
    /// The ledger of published records of the domain; `None`: none yet,
    /// or damaged (then `ledger_note` says why).
    pub ledger: Option<crate::plan::Ledger>,
    pub ledger_note: Option<String>,
    /// Whether `memory.json` or `holddown.json` exists: this state dir has
    /// synced before (a 0.2.0 state dir, when there is no claim file).
    pub synced_before: bool,
}

/// Loads the claim and the ledger of `domain`. Anything in doubt is
/// absent (with a note), never an error.
pub fn load_owned(dir: &Path, domain: &str) -> Owned {
    let claim = store::read(dir, CLAIM_FILE, 64 << 10)
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice::<ClaimFile>(&b).ok())
        .filter(|c| c.domain == domain);
    let (ledger, ledger_note) = match load_ledger(dir, domain) {
        Ok(l) => (l, None),
        Err(e) => {
            log::warn!("{e}: the ledger is rebuilt");
            (None, Some(e))
        }
    };
    let present =
        |n: &str| fs::symlink_metadata(dir.join(n)).is_ok_and(|m| m.is_file() && m.len() > 0);
    Owned {
        claim,
        ledger,
        ledger_note,
        synced_before: present(Memory::FILE) || present(CLOCKS_FILE),
    }
}

/// Saves the claim file.
pub fn save_claim(dir: &Path, claim: &ClaimFile) -> Result<(), store::StoreError> {
    let bytes = serde_json::to_vec(claim)
        .map_err(|e| store::StoreError(format!("cannot encode the claim: {e}")))?;
    store::write_atomic(dir, CLAIM_FILE, &bytes)
}

/// The ledger of `domain`; `Ok(None)` when there is none (or it is of
/// another domain), `Err` when it is damaged.
pub fn load_ledger(dir: &Path, domain: &str) -> Result<Option<crate::plan::Ledger>, String> {
    load_ledger_file(dir, LEDGER_FILE, domain)
}

/// The ledger file of the listed reverse zone `zone`:
/// `published.<zone>` (a reverse zone's name is digits, hex letters and
/// dots: a safe file name).
pub fn reverse_ledger_file(zone: &str) -> String {
    format!("{LEDGER_FILE}.{zone}")
}

/// [`load_ledger`] from the file `file` of the state dir.
pub fn load_ledger_file(
    dir: &Path,
    file: &str,
    domain: &str,
) -> Result<Option<crate::plan::Ledger>, String> {
    let max = 512 + 8 * MAX_LEDGER_KEYS;
    let Some(data) = store::read(dir, file, max).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let damaged = |why: &str| format!("{} is damaged ({why})", dir.join(file).display());
    let nl = data
        .iter()
        .take(512)
        .position(|&b| b == b'\n')
        .ok_or_else(|| damaged("no header line"))?;
    let header = std::str::from_utf8(&data[..nl]).map_err(|_| damaged("header"))?;
    let f: Vec<&str> = header.split(' ').collect();
    let [magic, "1", file_domain, count, digest] = f[..] else {
        return Err(damaged("header"));
    };
    if magic != LEDGER_MAGIC {
        return Err(damaged("header"));
    }
    if file_domain != domain {
        return Ok(None);
    }
    let count: u64 = count.parse().map_err(|_| damaged("count"))?;
    let body = &data[nl + 1..];
    if count > MAX_LEDGER_KEYS || body.len() as u64 != count * 8 {
        return Err(damaged("count mismatch"));
    }
    if hex(&Sha256::digest(body)) != digest {
        return Err(damaged("digest mismatch"));
    }
    Ok(Some(
        body.chunks_exact(8)
            .map(|c| u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
    ))
}

/// Saves the ledger of `domain` (refused beyond [`MAX_LEDGER_KEYS`]).
pub fn save_ledger(
    dir: &Path,
    domain: &str,
    ledger: &crate::plan::Ledger,
) -> Result<(), store::StoreError> {
    save_ledger_file(dir, LEDGER_FILE, domain, ledger)
}

/// [`save_ledger`] to the file `file` of the state dir.
pub fn save_ledger_file(
    dir: &Path,
    file: &str,
    domain: &str,
    ledger: &crate::plan::Ledger,
) -> Result<(), store::StoreError> {
    if ledger.len() as u64 > MAX_LEDGER_KEYS {
        return Err(store::StoreError(format!(
            "the ledger holds {} keys, more than {MAX_LEDGER_KEYS}",
            ledger.len()
        )));
    }
    let mut keys: Vec<u64> = ledger.iter().copied().collect();
    keys.sort_unstable();
    let mut body = Vec::with_capacity(keys.len() * 8);
    for k in keys {
        body.extend_from_slice(&k.to_be_bytes());
    }
    let mut data = format!(
        "{LEDGER_MAGIC} 1 {domain} {} {}\n",
        body.len() / 8,
        hex(&Sha256::digest(&body))
    )
    .into_bytes();
    data.extend_from_slice(&body);
    store::write_atomic(dir, file, &data)
}

/// Removes the ledger (when it cannot be saved); whether it is gone.
pub fn remove_ledger(dir: &Path) -> bool {
    match fs::remove_file(dir.join(LEDGER_FILE)) {
        Ok(()) => true,
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// What `adopt` showed, for `adopt --yes`.
pub const ADOPT_PREVIEW: &str = "adopt-preview.json";
/// How long an `adopt` preview stays valid for `adopt --yes`.
pub const ADOPT_PREVIEW_SECS: f64 = 3600.0;

/// Saves what `adopt` showed (its changes, one line each) for `adopt --yes`.
pub fn save_adopt_preview(
    dir: &Path,
    domain: &str,
    time: f64,
    lines: &[String],
) -> Result<(), store::StoreError> {
    let preview = serde_json::json!({
        "domain": domain,
        "time": time,
        "changes": lines,
    });
    store::write_atomic(dir, ADOPT_PREVIEW, preview.to_string().as_bytes())
}

/// The changes the last preview listed, if it is of `domain` and less than
/// [`ADOPT_PREVIEW_SECS`] old at `now`; anything in doubt is no preview.
pub fn load_adopt_preview(
    dir: &Path,
    domain: &str,
    now: f64,
) -> Option<std::collections::HashSet<String>> {
    let preview: serde_json::Value = store::read(dir, ADOPT_PREVIEW, 16 << 20)
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice(&b).ok())?;
    let v = &preview;
    if v["domain"] == domain
        && v["time"]
            .as_f64()
            .is_some_and(|t| (0.0..=ADOPT_PREVIEW_SECS).contains(&(now - t)))
    {
        Some(
            v["changes"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        )
    } else {
        None
    }
}

/// Removes the preview once `adopt --yes` has used it.
pub fn remove_adopt_preview(dir: &Path) {
    let _ = fs::remove_file(dir.join(ADOPT_PREVIEW));
}

#[cfg(test)]
mod tests {
    use super::*;

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
            rtype: t.to_string().into(),
            ttl: Some(60),
            answers: a.iter().map(|s| s.to_string()).collect(),
            tier: Some(1),
            link: None,
        }
    }

    /// A `memory.json` of 0.2.0 loads; samples from the future (a clock
    /// that stepped back) are kept, in order, when the next run adds one.
    #[test]
    fn memory_of_0_2_0_loads_and_a_step_back_keeps_the_samples() {
        let dir = tmp("memory");
        std::fs::write(
            dir.join(Memory::FILE),
            r#"{"last_good":{"agents":4,"running_tasks":20},"last_success_time":1800000120.0,
               "refusals_total":2,"released_total":1,
               "samples":[{"time":1800000000.0,"owned":60,"agents":4,"running_tasks":20,"removed":0},
                          {"time":1800000060.0,"owned":61,"agents":4,"running_tasks":20,"removed":1},
                          {"time":1800000120.0,"owned":62,"agents":4,"running_tasks":20}]}"#,
        )
        .unwrap();
        let mut m = Memory::load(&dir).unwrap();
        assert_eq!(
            (m.samples.len(), m.filling, m.refusals_total),
            (3, false, 2)
        );
        let mut next = m.samples[0];
        next.time = 1_800_000_000.0 - 7200.0;
        m.push_sample(next, 3600.0);
        let owned: Vec<_> = m.samples.iter().map(|s| s.owned).collect();
        assert_eq!(owned, [Some(60), Some(61), Some(62), Some(60)]);
        assert!(m.samples.windows(2).all(|w| w[0].time < w[1].time));
        let _ = std::fs::remove_dir_all(&dir);
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
        // A header claiming fewer records than the (digest-checked) body
        // holds, or a body with more after its array: damaged, never a
        // list past the header's count.
        for (count, body) in [
            (1, &br#"[["a.example.com","A",60,1,["10.0.0.1"],null],["b.example.com","A",60,1,["10.0.0.2"],null]]"#[..]),
            (1, br#"[["a.example.com","A",60,1,["10.0.0.1"],null]] []"#),
        ] {
            let header = CacheHeader {
                version: CACHE_VERSION,
                zone: "example.com".into(),
                endpoint: "e".into(),
                serial: 42,
                full_read_unix: unix_now(),
                trusted: true,
                count,
                sha256: hex(&Sha256::digest(body)),
            };
            let mut data = serde_json::to_vec(&header).unwrap();
            data.push(b'\n');
            data.extend_from_slice(body);
            std::fs::write(&path, &data).unwrap();
            let e = load_cache(&dir, "example.com", "e", every).unwrap_err();
            assert!(e.contains("damaged"), "{e}");
        }
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
}
