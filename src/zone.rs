//! The NS1 zone for a run: a [`Session`] opens the client with the pacing
//! saved by the last run, reads the zone by serial, imports a missing zone,
//! writes the ownership marker and the plan, and closes (saves the pacing,
//! and leaves the listing cache trusted only if nothing was written).
//!
//! * **Cached listing.** The last full listing is kept in the state dir
//!   ([`crate::state_dir::CACHE_FILE`]) with the zone's `serial`. A run first reads page 1
//!   with a small `limit` (one GET); when the serial is the cached one and
//!   the cache can be trusted, the run plans against the cache. A full read
//!   happens when the serial moved, after a run that wrote (its own writes
//!   move the serial, so such a run leaves the cache untrusted), when the
//!   cache is missing or in any doubt (size, digest, count, zone, endpoint,
//!   time), and at least every `--full-read-every` seconds. A run that
//!   would delete or change a record plans against a fresh full read,
//!   never the cache ([`Session::read_fresh`]); only a run whose changes
//!   are all additions may use it, and a create that finds a record in
//!   place changes nothing (see [`crate::ns1`]).
//! * **A new zone in one request** (`--create-zone`). A zone that does not
//!   exist is created with every desired record in one zone-file import
//!   ([`zone_file`]); the run then lists the new zone and writes what the
//!   import did not create record by record. An existing zone, even an
//!   empty one, is never re-created: an import refused because the zone
//!   exists after all gives [`Imported::Exists`], and the run reads the
//!   zone afresh and takes the ordinary road, with every check. An import
//!   NS1 refuses for its size or the account (a 413, 400 or 403) falls
//!   back to creating the empty zone ([`Imported::Refused`]): the ordinary
//!   road then claims it and writes every record one by one.

use crate::apply::{Applied, apply};
use crate::ns1::{
    Client, Ns1Api, Ns1Error, Ns1Options, Stats, ZoneListing, ZoneRecord, normalize_name,
};
use crate::plan::{Action, Claim, Plan, claim_of, marker_name, marker_text};
use crate::state_dir;
use std::path::Path;
use std::time::{Duration, Instant};

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

/// The zone for one run (or one pass): the client, paced with what the last
/// run learned, and whether this session wrote (then the listing cache is
/// no longer trusted when it closes).
pub struct Session<'a> {
    client: Client,
    read: ReadOptions<'a>,
    wrote: bool,
}

impl<'a> Session<'a> {
    /// Opens the client and restores the pacing saved by an earlier run.
    pub fn open(opts: Ns1Options, read: ReadOptions<'a>) -> Result<Session<'a>, Ns1Error> {
        let client = Client::new(opts)?;
        state_dir::load_pacing(read.state_dir, &client);
        Ok(Session {
            client,
            read,
            wrote: false,
        })
    }

    /// Reads the zone (see the module docs); a full listing becomes the
    /// cache, and the pacing is saved. After an error, [`Session::close`].
    pub fn read(&mut self) -> Result<ZoneView, Ns1Error> {
        let view = read_zone(&mut self.client, &self.read)?;
        after_read(&self.read, &view);
        state_dir::save_pacing(self.read.state_dir, &self.client);
        Ok(view)
    }

    /// Reads the zone in full, never from the cache (before a run deletes
    /// or changes anything); the listing becomes the cache.
    pub fn read_fresh(&mut self) -> Result<ZoneView, Ns1Error> {
        let before = self.client.stats().reads;
        let listing = self
            .client
            .list_zone_full(&normalize_name(self.read.zone))?;
        let view = ZoneView {
            records: listing.records,
            serial: listing.serial,
            source: Source::Full,
            reads: self.client.stats().reads - before,
        };
        after_read(&self.read, &view);
        state_dir::save_pacing(self.read.state_dir, &self.client);
        Ok(view)
    }

    /// Writes the ownership marker of `domain` naming `cluster` (a TXT
    /// record that claims it). `replace`: a marker is there (0.2.0's, or
    /// another cluster's that `adopt --yes` takes over) and its answers are
    /// replaced by ours, so that there is one marker, never two; else it
    /// is created, and a marker found in place is left alone (an error).
    /// The session counts as having written, whatever the answer.
    pub fn write_marker(
        &mut self,
        zone: &str,
        domain: &str,
        cluster: &str,
        ttl: u32,
        replace: bool,
    ) -> Result<(), Ns1Error> {
        self.wrote = true;
        let text = [marker_text(domain, cluster)];
        let name = marker_name(domain);
        if replace {
            self.client.update(zone, &name, "TXT", ttl.max(3600), &text)
        } else {
            self.client.create(zone, &name, "TXT", ttl.max(3600), &text)
        }
    }

    /// Reads another zone (a listed reverse zone) in full: never cached,
    /// never created. The pacing is saved.
    pub fn read_other(&mut self, zone: &str) -> Result<ZoneView, Ns1Error> {
        let before = self.client.stats().reads;
        let listing = self.client.list_zone_full(&normalize_name(zone))?;
        state_dir::save_pacing(self.read.state_dir, &self.client);
        Ok(ZoneView {
            records: listing.records,
            serial: listing.serial,
            source: Source::Full,
            reads: self.client.stats().reads - before,
        })
    }

    /// Writes the marker of another zone (a listed reverse zone): the TXT
    /// record `_mesos2ns1.<zone>` with `text`, created, or with `replace`
    /// its answers replaced. The run's zone is untouched, so its listing
    /// cache stays trusted.
    pub fn write_other_marker(
        &mut self,
        zone: &str,
        text: &str,
        ttl: u32,
        replace: bool,
    ) -> Result<(), Ns1Error> {
        let zone = normalize_name(zone);
        let name = marker_name(&zone);
        let text = [text.to_string()];
        if replace {
            self.client
                .update(&zone, &name, "TXT", ttl.max(3600), &text)
        } else {
            self.client
                .create(&zone, &name, "TXT", ttl.max(3600), &text)
        }
    }

    /// Carries out a plan in another zone (a listed reverse zone); the
    /// run's zone is untouched, so its listing cache stays trusted.
    pub fn apply_other(&mut self, zone: &str, ttl: u32, plan: &Plan, deadline: Instant) -> Applied {
        apply(&mut self.client, zone, zone, ttl, plan, deadline)
    }

    /// Upgrades a 0.2.0 marker of `domain` (no cluster named) to one
    /// naming `cluster`, reading it first (never the cache): it is
    /// replaced only if it is still a 0.2.0 marker, created if it is gone,
    /// and left alone if it names this cluster already. Returns the claim
    /// found instead when it names another cluster (someone claimed the
    /// domain since the listing): nothing is written then.
    pub fn upgrade_marker(
        &mut self,
        zone: &str,
        domain: &str,
        cluster: &str,
        ttl: u32,
    ) -> Result<Option<Claim>, Ns1Error> {
        let name = marker_name(domain);
        let now = self.client.read_record(zone, &name, "TXT")?;
        let claim = claim_of(now.as_slice(), domain, cluster);
        match claim {
            Claim::Legacy => self.write_marker(zone, domain, cluster, ttl, true)?,
            Claim::None => self.write_marker(zone, domain, cluster, ttl, false)?,
            Claim::Ours => log::info!("{name} names this cluster already: nothing to upgrade"),
            Claim::Foreign(_) => return Ok(Some(claim)),
        }
        Ok(None)
    }

    /// Creates the missing zone with the plan's creates in one import (see
    /// [`create_zone`]); the cache is distrusted at once.
    pub fn import(
        &mut self,
        zone: &str,
        domain: &str,
        cluster: &str,
        ttl: u32,
        plan: &Plan,
    ) -> Result<Imported, Ns1Error> {
        let listing = create_zone(&mut self.client, zone, domain, cluster, ttl, plan);
        self.wrote = true;
        after_write(&self.read);
        listing
    }

    /// Carries out a plan (see [`crate::apply`]).
    pub fn apply(
        &mut self,
        zone: &str,
        domain: &str,
        ttl: u32,
        plan: &Plan,
        deadline: Instant,
    ) -> Applied {
        let applied = apply(&mut self.client, zone, domain, ttl, plan, deadline);
        if applied.created + applied.updated + applied.deleted + applied.failed.len() > 0 {
            self.wrote = true;
        }
        applied
    }

    /// Starts another pass on a long-lived session (a follower's): the
    /// requests to come end by `deadline`, and whether this pass writes is
    /// counted afresh (so a pass that writes nothing leaves the listing
    /// cache trusted, as a sync run that writes nothing does).
    pub fn begin_pass(&mut self, deadline: Option<Instant>) {
        self.client.set_deadline(deadline);
        self.wrote = false;
    }

    /// The client's request figures so far.
    pub fn stats(&self) -> Stats {
        self.client.stats()
    }

    /// Ends a stretch of work: saves the pacing, distrusts the cache if
    /// anything was written, and gives the request figures.
    pub fn close(&mut self) -> Stats {
        state_dir::save_pacing(self.read.state_dir, &self.client);
        if self.wrote {
            after_write(&self.read);
        }
        self.client.stats()
    }
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
    match state_dir::load_cache(o.state_dir, &zone, o.endpoint, o.full_read_every) {
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
        Some(serial) => {
            state_dir::save_cache(o.state_dir, &zone, o.endpoint, serial, &view.records)
        }
        None => state_dir::distrust_cache(o.state_dir),
    };
    if let Err(e) = result {
        log::warn!("listing cache in {}: {e}", o.state_dir.display());
    }
}

/// After a run that wrote (or tried to): the cache is no longer trusted.
pub fn after_write(o: &ReadOptions<'_>) {
    if let Err(e) = state_dir::distrust_cache(o.state_dir) {
        log::warn!("listing cache in {}: {e}", o.state_dir.display());
    }
}

/// The ownership marker record (name, type, answers) to include in a
/// zone-file import: the TXT `_mesos2ns1.<domain>` that claims the domain
/// (see `plan::marker_name`).
pub fn ownership_marker_for_import(
    domain: &str,
    cluster: &str,
) -> Option<(String, String, Vec<String>)> {
    let domain = crate::ns1::normalize_name(domain);
    Some((
        crate::plan::marker_name(&domain),
        "TXT".into(),
        vec![crate::plan::marker_text(&domain, cluster)],
    ))
}

/// What a `--create-zone` import did.
#[derive(Debug)]
pub enum Imported {
    /// The zone was created by this import; its listing.
    Created(ZoneListing),
    /// The import was refused because the zone exists after all (another
    /// tool made it, a lost reply to our own import, or a read that said
    /// 404 wrongly): nothing was imported; read the zone afresh.
    Exists,
    /// The import was refused for its size or the account: the empty zone
    /// was created instead. Its listing, and the note that says so.
    Refused(ZoneListing, String),
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
/// import, then lists it. Returns the listing to plan the rest against,
/// and when the import was refused, the note that says so.
/// An import refused because the zone exists after all (another tool, or
/// a lost reply to our own import) is not an error but
/// [`Imported::Exists`]: nothing of the plan is applied against a zone
/// the checks have not seen.
/// An import refused for anything else the account or the request size
/// decides (a 4xx other than 401 and 429) falls back to creating the empty
/// zone (`PUT /v1/zones/{zone}`): [`Imported::Refused`].
pub fn create_zone(
    client: &mut dyn Ns1Api,
    zone: &str,
    domain: &str,
    cluster: &str,
    ttl: u32,
    plan: &Plan,
) -> Result<Imported, Ns1Error> {
    let extra: Vec<_> = ownership_marker_for_import(domain, cluster)
        .into_iter()
        .collect();
    let (text, pairs) = zone_file(zone, ttl, plan, &extra);
    log::info!(
        "zone {zone} does not exist: creating it with {pairs} record sets in one zone-file import ({} bytes)",
        text.len()
    );
    let size = text.len();
    let result = client.import_zonefile(zone, &text);
    drop(text);
    let mut note = None;
    match result {
        Ok(()) => {}
        Err(Ns1Error::Http {
            status, message, ..
        }) if (400..500).contains(&status) && message.to_ascii_lowercase().contains("exists") => {
            log::warn!(
                "zone {zone}: the import says the zone exists ({message}); nothing was imported: reading it again and taking the ordinary road"
            );
            return Ok(Imported::Exists);
        }
        Err(e) if import_refused(&e) => {
            let why = format!(
                "zone {zone}: the zone-file import ({size} bytes) was refused ({e}); \
                 creating the empty zone and writing the {pairs} record sets one by one instead"
            );
            log::warn!("{why}");
            client.create_zone(zone).or_else(|e| match &e {
                Ns1Error::Http {
                    status, message, ..
                } if (400..500).contains(status)
                    && message.to_ascii_lowercase().contains("exists") =>
                {
                    Ok(())
                }
                _ => Err(e),
            })?;
            note = Some(format!(
                "zone import refused: created the empty zone {zone}, records written one by one"
            ));
        }
        Err(e) => return Err(e),
    }
    let listing = client.list_zone_full(zone)?;
    Ok(match note {
        Some(why) => Imported::Refused(listing, why),
        None => Imported::Created(listing),
    })
}

/// Whether a failed import is one to fall back from: the request was
/// answered, and refused for its size or for what the account may do.
fn import_refused(e: &Ns1Error) -> bool {
    match e {
        Ns1Error::Http { status, .. } => (400..500).contains(status) && *status != 429,
        Ns1Error::Auth { status, .. } => *status == 403,
        _ => false,
    }
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
