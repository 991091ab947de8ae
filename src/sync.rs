//! `sync`, `plan` and `check`: one run from the masters to the zone, under
//! a lock, within a deadline, with the safety checks, ending in one summary
//! line (and optionally a JSON summary and a metrics file).

use crate::apply::{Applied, apply};
use crate::cli::Command;
use crate::config::Config;
use crate::exit::{Exit, Fail};
use crate::ns1::{Client, Ns1Api, Ns1Options, Stats, ZoneRecord, normalize_name};
use crate::plan::{self, Baseline, Check, Clocks, Decision, Ownership, Plan, Policy};
use crate::records::generate::StateCounts;
use crate::records::hosts::parse_pid;
use crate::report::{Memory, Summary, write_metrics};
use crate::source::{build_records, build_records_explained, read_state};
use crate::zone_read;
use std::fs::{self, File, TryLockError};
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

pub fn run_command(cfg: &Config, cmd: Command) -> Result<Exit, Fail> {
    let started = Instant::now();
    cfg.require_sync_settings()
        .map_err(|e| Fail::new(Exit::Usage, e.0))?;
    match cmd {
        Command::Check => check(cfg),
        Command::Plan => run_locked(cfg, Mode::Plan, started),
        Command::Adopt(args) => run_locked(cfg, Mode::Adopt { yes: args.yes }, started),
        _ => run_locked(cfg, Mode::Sync, started),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Sync,
    Plan,
    Adopt { yes: bool },
}

/// The ownership marker's name: one TXT record that claims the domain.
pub fn marker_name(domain: &str) -> String {
    format!("_mesos2ns1.{domain}")
}

/// The marker's text.
pub fn marker_text(domain: &str) -> String {
    format!("mesos2ns1 owns the A, AAAA and SRV records below {domain}")
}

/// The state-dir file where `adopt` keeps what it showed, for `adopt --yes`.
const ADOPT_PREVIEW: &str = "adopt-preview.json";
/// How long an `adopt` preview stays valid for `adopt --yes`.
const ADOPT_PREVIEW_SECS: f64 = 3600.0;

/// Whether the zone listing holds the domain's ownership marker.
pub fn is_claimed(zone: &[ZoneRecord], domain: &str) -> bool {
    let name = marker_name(domain);
    zone.iter()
        .any(|r| r.rtype.eq_ignore_ascii_case("TXT") && normalize_name(&r.domain) == name)
}

/// The time of this run: the clock, or `MESOS2NS1_TEST_NOW` (Unix seconds)
/// where the end-to-end tests set it to simulate runs minutes apart.
pub fn now() -> f64 {
    std::env::var("MESOS2NS1_TEST_NOW")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|t| t.is_finite() && *t > 0.0)
        .unwrap_or_else(crate::report::unix_now)
}

/// Creates the state dir (mode 0750) and takes its lock. `None`: another
/// run holds it.
fn lock_state_dir(dir: &Path) -> Result<Option<File>, Fail> {
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
    let path = dir.join("lock");
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

fn run_locked(cfg: &Config, mode: Mode, started: Instant) -> Result<Exit, Fail> {
    let command = match mode {
        Mode::Sync => "sync",
        Mode::Plan => "plan",
        Mode::Adopt { .. } => "adopt",
    };
    let Some(_lock) = lock_state_dir(&cfg.state_dir)? else {
        println!(
            "mesos2ns1 {command}: another run holds the lock in {}; nothing to do",
            cfg.state_dir.display()
        );
        return Ok(Exit::Ok);
    };
    let mut summary = Summary::new(command);
    // A damaged file holds every removal (additions go on) until it is
    // fixed or --force starts over; it is left as it is for the operator.
    let mut damaged = Vec::new();
    let mut memory = match Memory::load(&cfg.state_dir) {
        Ok(memory) => Some(memory),
        Err(e) if cfg.force => {
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
    let clocks = match crate::report::load_clocks(&cfg.state_dir) {
        Ok(c) => Some(c),
        Err(e) if cfg.force => {
            log::warn!("--force: starting new hold-down clocks: {e}");
            Some(Clocks::default())
        }
        Err(e) => {
            damaged.push(format!(
                "{e}, so how long records have been absent is unknown; fix or remove it, or run once with --force to start new clocks"
            ));
            None
        }
    };
    let mut files = StateFiles {
        memory_ok: memory.is_some(),
        clocks_ok: clocks.is_some(),
        memory: memory.take().unwrap_or_default(),
        clocks: clocks.unwrap_or_default(),
        damaged: if damaged.is_empty() {
            None
        } else {
            Some(damaged.join("; "))
        },
    };
    let outcome = run(cfg, mode, started, &mut summary, &mut files);
    let exit = match &outcome {
        Ok(exit) => *exit,
        Err(fail) => {
            eprintln!("mesos2ns1: {}", fail.msg);
            summary.reason = fail.msg.clone();
            fail.exit
        }
    };
    summary.exit = exit as i32;
    summary.duration_seconds = started.elapsed().as_secs_f64();
    let memory = &mut files.memory;
    if exit == Exit::Refused {
        memory.refusals_total += 1;
    }
    if mode == Mode::Sync && exit == Exit::Ok {
        memory.last_success_time = Some(crate::report::unix_now());
    }
    // The counters only: the baseline was saved before any change.
    if files.memory_ok
        && let Err(e) = memory.save(&cfg.state_dir)
    {
        log::warn!("could not save the run's counters: {e}");
    }
    if let Some(path) = &cfg.metrics_file
        && let Err(e) = write_metrics(path, &summary, memory)
    {
        log::warn!("could not write metrics file {}: {e}", path.display());
    }
    summary.note_usage();
    summary.print(cfg.summary_json);
    // The error was already said; the summary carries it too.
    Ok(exit)
}

/// The state dir's memory and clocks as loaded; a damaged file is never
/// written over (without --force).
struct StateFiles {
    memory: Memory,
    memory_ok: bool,
    clocks: Clocks,
    clocks_ok: bool,
    damaged: Option<String>,
}

impl StateFiles {
    /// Saves the baseline and the clocks; an error ends the run before any
    /// change (a full disk must not silently turn the checks off).
    fn save(&self, dir: &Path) -> Result<(), crate::store::StoreError> {
        if self.clocks_ok {
            crate::report::save_clocks(dir, &self.clocks)?;
        }
        if self.memory_ok {
            self.memory.save(dir)?;
        }
        Ok(())
    }
}

/// Whether `ip` is assigned to one of this host's network interfaces.
/// (A bind test would also succeed for non-local addresses on hosts with
/// `ip_nonlocal_bind`, common on keepalived masters.)
pub fn is_local_address(ip: IpAddr) -> Result<bool, String> {
    let ifaces =
        if_addrs::get_if_addrs().map_err(|e| format!("cannot list this host's addresses: {e}"))?;
    Ok(address_among(ip, ifaces.iter().map(|i| i.ip())))
}

/// Whether `ip` is one of `addrs`, compared canonically: an IPv4-mapped
/// IPv6 address (`::ffff:10.0.0.1`) is its IPv4 address.
pub fn address_among(ip: IpAddr, addrs: impl IntoIterator<Item = IpAddr>) -> bool {
    let ip = ip.to_canonical();
    addrs.into_iter().any(|a| a.to_canonical() == ip)
}

fn run(
    cfg: &Config,
    mode: Mode,
    started: Instant,
    summary: &mut Summary,
    files: &mut StateFiles,
) -> Result<Exit, Fail> {
    let deadline = started + cfg.deadline;
    let now = now();
    let remove_after = cfg.remove_after as f64;
    let settle = cfg.settle.map(|s| s as f64);
    let window = cfg.window as f64;
    // The key first: a configuration error is found before anything is read.
    let key = cfg
        .read_ns1_key()
        .map_err(|e| Fail::new(Exit::Usage, e.0))?;

    // 1. The cluster. Any failure here returns before NS1 is contacted.
    let detected = crate::app::detect_leader(cfg, Some(deadline))?;
    let cfg: &Config = &detected;
    let (body, source) = read_state(cfg, Some(deadline))?;
    let (mut set, counts, leader, explained) = build_records_explained(
        &body,
        &source,
        cfg,
        std::sync::Arc::new(crate::records::SystemResolver),
        crate::app::resolve_deadline(cfg, Some(deadline)),
    )?;
    drop(body);
    summary.leader = leader.clone();
    summary.tasks_over_port_bound = set.tasks_over_port_bound;
    let StateCounts {
        agents,
        running_tasks,
        ..
    } = counts;
    summary.agents = agents;
    summary.running_tasks = running_tasks;
    summary.unhealthy_tasks = counts.unhealthy_tasks;
    summary.not_visible_tasks = counts.not_visible_tasks;
    let now_counts = Baseline {
        agents,
        running_tasks,
    };

    // 2. The desired, publishable records.
    let own = Ownership::new(&cfg.domain, &cfg.exclude);
    let (desired, skipped) = plan::publishable(set.records(), &own);
    drop(set);
    summary.desired = desired.len();
    summary.skipped = skipped.records();
    summary.skipped_answers = skipped.answers;
    if skipped.records() + skipped.answers > 0 {
        log::info!(
            "skipped: {} names NS1 cannot hold, {} SRV answers with unpublishable targets or ports, {} records left empty, {} excluded",
            skipped.names,
            skipped.answers,
            skipped.emptied,
            skipped.excluded
        );
    }

    if cfg.only_if_leader && mode == Mode::Sync {
        let leader_ip = parse_pid(&leader)
            .ok()
            .and_then(|p| p.host.parse::<IpAddr>().ok())
            .map(|ip| ip.to_canonical())
            .ok_or_else(|| {
                Fail::new(
                    Exit::Failed,
                    format!("cannot tell the leader's address from {leader:?}"),
                )
            })?;
        if leader_ip.is_loopback() || leader_ip.is_unspecified() {
            return Err(Fail::new(
                Exit::Failed,
                format!(
                    "--only-if-leader: the leader advertises {leader_ip}, which every host holds; \
                     cannot tell which host leads (set the masters' --advertise_ip)"
                ),
            ));
        }
        let local = is_local_address(leader_ip).map_err(|e| Fail::new(Exit::Failed, e))?;
        if !local {
            // Keep this host's window and clocks current, so that the day it
            // becomes the leader the checks compare with fresh figures and
            // no clock spans a time a name was back.
            files.memory.last_good = Some(now_counts);
            files.memory.push_sample(
                plan::Sample {
                    time: now,
                    owned: None,
                    agents,
                    running_tasks,
                    removed: 0,
                },
                window,
            );
            files
                .clocks
                .observe_desired(&desired, now, remove_after, settle);
            files.save(&cfg.state_dir).map_err(|e| {
                Fail::new(Exit::Failed, format!("cannot save the safety state: {e}"))
            })?;
            summary.reason =
                format!("this host is not the leading master ({leader_ip}); nothing to do");
            return Ok(Exit::Ok);
        }
    }

    // 3. The zone.
    let mut opts = Ns1Options::new(cfg.ns1_endpoint.clone(), key);
    opts.connect_timeout = cfg.ns1_timeout.min(Duration::from_secs(10));
    opts.read_timeout = cfg.ns1_timeout;
    opts.ca_file = cfg.ca_file.clone();
    opts.deadline = Some(deadline);
    opts.allow_http = cfg.ns1_allow_http;
    let mut client = Client::new(opts).map_err(|e| Fail::new(Exit::Usage, e.to_string()))?;
    // Cached listing, pacing across runs, --create-zone: see zone_read.
    let read_opts = zone_read::ReadOptions {
        zone: &cfg.zone,
        endpoint: &cfg.ns1_endpoint,
        state_dir: &cfg.state_dir,
        full_read_every: cfg.full_read_every,
        create_zone: cfg.create_zone,
    };
    zone_read::load_pacing(&cfg.state_dir, &client);
    let view = zone_read::read_zone(&mut client, &read_opts).map_err(|e| {
        note_stats(summary, &client.stats());
        zone_read::save_pacing(&cfg.state_dir, &client);
        Fail::new(Exit::Failed, format!("reading zone {}: {e}", cfg.zone))
    })?;
    zone_read::after_read(&read_opts, &view);
    zone_read::save_pacing(&cfg.state_dir, &client);
    let zone_missing = view.source == zone_read::Source::Missing;
    let zone = view.records;
    let claimed = is_claimed(&zone, &own.domain);
    let raw = plan::compute(desired, zone, &own, cfg.ttl);
    summary.unchanged = raw.unchanged;
    summary.owned = raw.owned;
    note_stats(summary, &client.stats());
    log::info!("plan: {raw}");

    if let Mode::Adopt { yes } = mode {
        return adopt(
            cfg,
            yes,
            raw,
            claimed,
            now_counts,
            &mut client,
            summary,
            files,
            deadline,
            &read_opts,
        );
    }

    if mode == Mode::Plan && zone_missing {
        print_plan(&raw);
        summary.pending = raw.changes.len();
        summary.reason = format!(
            "zone {} does not exist; sync --create-zone would create it with {} record sets in one import",
            cfg.zone,
            raw.changes.len()
        );
        return Ok(Exit::Remaining);
    }

    // 4. Safety: the hold-down, the window and the checks decide which
    // removals go now; every addition goes.
    let policy = Policy {
        now,
        remove_after,
        settle,
        window,
        max_share: cfg.max_change_share,
        force: cfg.force,
        claimed,
        damaged: files.damaged.clone(),
        now_counts,
        domain: own.domain.clone(),
        recovering_until: plan::recovering_until(counts.elected_unix, now),
    };
    if let Some(until) = policy.recovering_until {
        log::info!(
            "the leading master was elected less than {} s ago: deletes nothing explains wait until {} for its agents to re-register",
            plan::FAILOVER_RECOVERY_SECS,
            plan::format_time(until)
        );
    }
    let raw_copy = (mode == Mode::Sync).then(|| raw.clone());
    let mut decision = plan::decide(
        raw,
        &explained,
        &files.clocks,
        &files.memory.samples,
        &policy,
    );

    if mode == Mode::Plan {
        let plan = &decision.plan;
        summary.held = decision.held.len();
        summary.waiting = decision.waiting;
        summary.released = decision.released;
        summary.explained = decision.explained;
        print_plan(plan);
        print_held(&decision);
        summary.pending = plan.changes.len();
        let mut why = vec![if plan.is_empty() {
            "nothing to change".to_string()
        } else {
            format!("{} changes pending ({plan})", plan.changes.len())
        }];
        why.extend(hold_notes(&decision, &policy, Some(files.clocks_ok)));
        if let Some(d) = &files.damaged {
            why.push(d.clone());
        }
        for n in &why[1..] {
            log::warn!("{n}");
        }
        summary.reason = why.join("; ");
        return Ok(if !decision.held.is_empty() || files.damaged.is_some() {
            Exit::Refused
        } else if plan.is_empty() {
            Exit::Ok
        } else {
            Exit::Remaining
        });
    }

    // 5. Remember, then apply. The clocks and this run's sample are saved
    // before any change. A run that cannot save them (a full disk) removes
    // nothing, since the next run would not know what it did, but still
    // makes every addition, and exits 3 saying why.
    files.clocks = decision.clocks.clone();
    if let Some(sample) = decision.sample {
        files.memory.push_sample(sample, window);
    }
    files.memory.last_good = Some(now_counts);
    files.memory.released_total += decision.released as u64;
    let mut save_failed = false;
    if let Err(e) = files.save(&cfg.state_dir) {
        save_failed = true;
        let why = format!("cannot save the safety state: {e}; every removal is held");
        log::error!("{why}");
        let mut held_policy = policy.clone();
        held_policy.damaged = Some(why.clone());
        if let Some(raw) = raw_copy {
            decision = plan::decide(
                raw,
                &explained,
                &files.clocks,
                &files.memory.samples,
                &held_policy,
            );
        }
        files.damaged = Some(why);
    }
    let plan = &decision.plan;
    summary.held = decision.held.len();
    summary.waiting = decision.waiting;
    summary.released = decision.released;
    summary.explained = decision.explained;
    if decision.released > 0 {
        log::warn!(
            "released {} held removals: absent for --settle ({}) or --force",
            decision.released,
            cfg.settle.map_or("never".to_string(), |s| format!("{s} s"))
        );
    }
    let mut marker_note = None;
    let mut wrote = false;
    // A zone that does not exist yet gets the marker in its import.
    if !claimed && !zone_missing && decision.unexplained == 0 && files.damaged.is_none() {
        wrote = true;
        // First contact with nothing to leave alone (every removal, if any,
        // is a record of a task the state lists as ended): claim the domain
        // before anything else, so an interrupted first sync stays claimed.
        match client.create(
            &cfg.zone,
            &marker_name(&own.domain),
            "TXT",
            cfg.ttl.max(3600),
            &[marker_text(&own.domain)],
        ) {
            Ok(()) => log::info!("claimed {} with {}", own.domain, marker_name(&own.domain)),
            Err(e) => {
                log::warn!("could not write the ownership marker: {e}");
                marker_note = Some(format!("the ownership marker could not be written ({e})"));
            }
        }
    }
    print_held(&decision);
    let mut plan = std::borrow::Cow::Borrowed(plan);
    let mut imported = 0;
    if zone_missing {
        // --create-zone: one zone-file import (with the ownership marker),
        // then the listing is compared with the plan and what the import
        // did not create is written record by record.
        let before = plan.count(plan::Action::Create);
        let listing = zone_read::create_zone(&mut client, &cfg.zone, &cfg.domain, cfg.ttl, &plan);
        zone_read::after_write(&read_opts);
        let listing = listing.map_err(|e| {
            note_stats(summary, &client.stats());
            zone_read::save_pacing(&cfg.state_dir, &client);
            Fail::new(Exit::Failed, format!("creating zone {}: {e}", cfg.zone))
        })?;
        let rest = plan::compute(
            zone_read::desired_from_creates(&plan),
            listing.records,
            &own,
            cfg.ttl,
        );
        imported = before
            .saturating_sub(rest.count(plan::Action::Create) + rest.count(plan::Action::Update));
        log::info!("zone import created {imported} record sets; the rest record by record: {rest}");
        plan = std::borrow::Cow::Owned(rest);
    }
    let applied = apply(
        &mut client,
        &cfg.zone,
        &cfg.domain,
        cfg.ttl,
        &plan,
        deadline,
    );
    note_stats(summary, &client.stats());
    zone_read::save_pacing(&cfg.state_dir, &client);
    if wrote || applied.created + applied.updated + applied.deleted + applied.failed.len() > 0 {
        zone_read::after_write(&read_opts);
    }
    // Removals that failed or were postponed did not happen: they are
    // counted again when a later run makes them, not on every run that
    // tries (the memory is saved again at the end of the run).
    if !decision.counted.is_empty()
        && let Some(sample) = files.memory.samples.last_mut().filter(|s| s.time == now)
    {
        let undone: std::collections::HashSet<(&str, crate::records::RecordType)> = applied
            .not_done
            .iter()
            .filter_map(|&i| plan.changes.get(i))
            .map(|c| (c.name.as_str(), c.rtype))
            .collect();
        let taken_back = decision
            .counted
            .iter()
            .filter(|(name, rtype)| undone.contains(&(name.as_str(), *rtype)))
            .count();
        sample.removed = sample.removed.saturating_sub(taken_back);
    }
    let mut exit = finish(summary, &plan, &applied);
    summary.created += imported;
    let state_force = (!save_failed).then_some(files.clocks_ok);
    let mut notes = hold_notes(&decision, &policy, state_force);
    if let Some(why) = &files.damaged
        && decision.held.is_empty()
    {
        notes.push(format!("{why} (no removal was pending)"));
    }
    for n in &notes {
        log::warn!("{n}");
    }
    notes.extend(marker_note);
    if !notes.is_empty() {
        summary.reason = std::iter::once(summary.reason.clone())
            .chain(notes)
            .collect::<Vec<_>>()
            .join("; ");
    }
    if !decision.held.is_empty() || files.damaged.is_some() {
        exit = Exit::Refused;
    }
    Ok(exit)
}

/// The summary's words about held and waiting removals: the check, its
/// figures, the release, and what --force would delete.
/// `state_force`: whether `--force` would clear a state-file hold (a
/// damaged file, not a full disk), and whether the clocks are readable.
fn hold_notes(d: &Decision, p: &Policy, state_force: Option<bool>) -> Vec<String> {
    let mut notes = Vec::new();
    for (check, why) in &d.reasons {
        let n = d.held_by(*check);
        let release = match check {
            Check::FirstContact => String::new(),
            Check::StateFile => String::new(),
            _ => match d
                .held
                .iter()
                .filter(|h| h.check == *check)
                .filter_map(|h| h.release_at)
                .reduce(f64::min)
            {
                Some(t) => format!(
                    "; the first is released at {} if it stays absent, the last at {}",
                    plan::format_time(t),
                    plan::format_time(
                        d.held
                            .iter()
                            .filter(|h| h.check == *check)
                            .filter_map(|h| h.release_at)
                            .fold(t, f64::max)
                    )
                ),
                None => "; they are not released by themselves (--settle never, or a state with no agents): they stay until the cluster has them again or --force".to_string(),
            },
        };
        let force = match check {
            Check::ImplausibleState | Check::MassRemoval => {
                format!("; --force would delete these {n} held removals (listed above) now")
            }
            Check::StateFile if state_force.is_none() => String::new(),
            Check::StateFile => {
                let clocks_ok = state_force == Some(true);
                // Under --force a damaged file starts over: the held
                // answers go at once, whole records once their (new) clocks
                // pass the hold-down.
                let held = |a| {
                    d.held
                        .iter()
                        .filter(|h| h.check == *check && h.action == a)
                        .count()
                };
                let (deletes, answers) = (held(plan::Action::Delete), held(plan::Action::Update));
                let now = if clocks_ok || p.remove_after <= 0.0 {
                    deletes
                } else {
                    0
                };
                format!(
                    "; --force would delete {now} of the {deletes} held records and the held answers of {answers} records (listed above) now{}",
                    if now < deletes {
                        format!(
                            ", the other records after --remove-after ({} s)",
                            p.remove_after
                        )
                    } else {
                        String::new()
                    }
                )
            }
            Check::FirstContact => String::new(),
        };
        notes.push(format!(
            "held {n} removals by the {check} check: {why}{release}{force}"
        ));
    }
    if d.waiting > 0 {
        notes.push(format!(
            "{} deletes wait for the hold-down ({} s), the first until {}",
            d.waiting,
            p.remove_after,
            d.next_due.map_or("-".to_string(), plan::format_time)
        ));
    }
    if d.released > 0 {
        notes.push(format!("released {} held removals", d.released));
    }
    notes
}

fn print_held(d: &Decision) {
    for h in &d.held {
        println!("{h}");
    }
}

/// `adopt`: what claiming the domain deletes; with --yes, delete it and
/// write the marker.
#[allow(clippy::too_many_arguments)]
fn adopt(
    cfg: &Config,
    yes: bool,
    raw: Plan,
    claimed: bool,
    now_counts: Baseline,
    client: &mut Client,
    summary: &mut Summary,
    files: &StateFiles,
    deadline: Instant,
    read_opts: &zone_read::ReadOptions,
) -> Result<Exit, Fail> {
    let own_domain = normalize_name(&cfg.domain);
    if claimed {
        summary.reason = format!(
            "{own_domain} is already claimed ({} exists); nothing to do",
            marker_name(&own_domain)
        );
        return Ok(Exit::Ok);
    }
    if let Some(why) = plan::implausible(
        now_counts,
        &files.memory.samples,
        now(),
        cfg.window as f64,
        raw.owned,
    ) {
        return Err(Fail::new(
            Exit::Refused,
            format!("adopt refused by the implausible-state check: {why}; nothing was written"),
        ));
    }
    // Only the removals: the next sync makes the additions.
    let mut removals = raw.clone();
    removals.changes.retain(|c| match c.action {
        plan::Action::Create => false,
        plan::Action::Delete => true,
        plan::Action::Update => match (&c.old, &c.new) {
            (Some(o), Some(n)) => o.answers.iter().any(|a| !n.answers.contains(a)),
            _ => false,
        },
    });
    print_plan(&removals);
    let n = removals.changes.len();
    if !yes {
        // `adopt --yes` deletes exactly what this preview listed, nothing
        // the cluster lost in between (a failover's partial state).
        let lines: Vec<String> = removals.changes.iter().map(|c| c.to_string()).collect();
        let preview = serde_json::json!({
            "domain": own_domain,
            "time": now(),
            "changes": lines,
        });
        crate::store::write_atomic(
            &cfg.state_dir,
            ADOPT_PREVIEW,
            preview.to_string().as_bytes(),
        )
        .map_err(|e| Fail::new(Exit::Failed, format!("cannot save the adopt preview: {e}")))?;
        summary.pending = n;
        summary.reason = format!(
            "adopting {own_domain} would delete or change the {n} records listed above \
             (records under {own_domain} that the cluster does not produce); nothing was written: \
             run `mesos2ns1 adopt --yes` within an hour to do exactly that"
        );
        return Ok(Exit::Refused);
    }
    // Only what the last preview listed, to the letter (same answers and
    // TTL), and only if that preview is recent and of this domain.
    let preview: Option<serde_json::Value> =
        crate::store::read(&cfg.state_dir, ADOPT_PREVIEW, 16 << 20)
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice(&b).ok());
    let listed: std::collections::HashSet<String> = match &preview {
        Some(v)
            if v["domain"] == own_domain.as_str()
                && v["time"]
                    .as_f64()
                    .is_some_and(|t| (0.0..=ADOPT_PREVIEW_SECS).contains(&(now() - t))) =>
        {
            v["changes"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        }
        _ => {
            return Err(Fail::new(
                Exit::Refused,
                format!(
                    "adopt --yes: no recent preview of {own_domain}; run `mesos2ns1 adopt` first to see what it deletes; nothing was written"
                ),
            ));
        }
    };
    let before = removals.changes.len();
    removals.changes.retain(|c| listed.contains(&c.to_string()));
    if removals.changes.len() < before {
        log::warn!(
            "adopt --yes: {} removals were not in the preview and are left to the next syncs' checks",
            before - removals.changes.len()
        );
    }
    client
        .create(
            &cfg.zone,
            &marker_name(&own_domain),
            "TXT",
            cfg.ttl.max(3600),
            &[marker_text(&own_domain)],
        )
        .map_err(|e| {
            Fail::new(
                Exit::Failed,
                format!("could not write the ownership marker: {e}; nothing else was written"),
            )
        })?;
    let _ = std::fs::remove_file(cfg.state_dir.join(ADOPT_PREVIEW));
    let applied = apply(client, &cfg.zone, &cfg.domain, cfg.ttl, &removals, deadline);
    note_stats(summary, &client.stats());
    zone_read::save_pacing(&cfg.state_dir, client);
    zone_read::after_write(read_opts);
    let exit = finish(summary, &removals, &applied);
    summary.reason = format!("claimed {own_domain}; {}", summary.reason);
    Ok(exit)
}

fn finish(summary: &mut Summary, plan: &Plan, applied: &Applied) -> Exit {
    summary.created = applied.created;
    summary.updated = applied.updated;
    summary.deleted = applied.deleted;
    summary.failed = applied.failed.len();
    summary.postponed = applied.postponed;
    if applied.remaining() == 0 {
        summary.reason = if plan.is_empty() {
            "zone already matches".into()
        } else {
            "zone matches".into()
        };
        Exit::Ok
    } else {
        let mut why = Vec::new();
        if !applied.failed.is_empty() {
            why.push(format!(
                "{} changes failed (first: {})",
                applied.failed.len(),
                applied.failed[0].1
            ));
        }
        if applied.postponed > 0 {
            why.push(format!(
                "{} changes postponed to the next run",
                applied.postponed
            ));
        }
        summary.reason = why.join("; ");
        Exit::Remaining
    }
}

fn note_stats(summary: &mut Summary, stats: &Stats) {
    summary.api_calls = stats.requests;
    summary.throttled = stats.throttled;
}

fn print_plan(plan: &Plan) {
    for change in &plan.changes {
        // Names come from the state: one change, one line.
        println!("{}", crate::report::escape_control(&change.to_string()));
    }
    println!("plan: {plan}");
}

/// Whether a nameserver is one of NS1's public managed nameservers
/// (`dns1.p01.nsone.net` and the like).
pub fn is_ns1_public_nameserver(name: &str) -> bool {
    let n = name.trim().trim_end_matches('.').to_ascii_lowercase();
    n.ends_with(".nsone.net")
}

/// `check`: the configuration, the masters and leader, the key and the
/// zone, in that order; stops at the first problem with advice.
fn check(cfg: &Config) -> Result<Exit, Fail> {
    println!(
        "config: {} (zone {}, domain {}, {} masters)",
        cfg.config_file.as_ref().map_or(
            "no config file, flags and environment only".to_string(),
            |p| p.display().to_string()
        ),
        cfg.zone,
        cfg.domain,
        cfg.masters.len()
    );
    let deadline = Instant::now().checked_add(cfg.deadline);
    let detected = crate::app::detect_leader(cfg, deadline)?;
    let cfg: &Config = &detected;
    if let Some(url) = &cfg.zk {
        match cfg.zk_masters.first() {
            Some(leader) => println!(
                "zookeeper: {url}: leader {leader}, {} masters registered",
                cfg.zk_masters.len()
            ),
            None => println!(
                "zookeeper: {url}: no leader detected (see the warning); using the configured masters"
            ),
        }
    }
    let (body, source) = read_state(cfg, deadline).map_err(|f| {
        Fail::new(
            f.exit,
            format!(
                "{} (check the masters list, the network path to port 5050 and mesosHTTPSOn)",
                f.msg
            ),
        )
    })?;
    let (mut set, counts, leader) = build_records(&body, &source, cfg)?;
    println!(
        "mesos: state from {source}: leader {}, {} agents, {} frameworks, {} running tasks, {} records",
        crate::report::escape_control(&leader),
        counts.agents,
        counts.frameworks,
        counts.running_tasks,
        set.records().len()
    );
    let key = cfg
        .read_ns1_key()
        .map_err(|e| Fail::new(Exit::Usage, e.0))?;
    let mut opts = Ns1Options::new(cfg.ns1_endpoint.clone(), key);
    opts.read_timeout = cfg.ns1_timeout;
    opts.ca_file = cfg.ca_file.clone();
    opts.allow_http = cfg.ns1_allow_http;
    let mut client = Client::new(opts).map_err(|e| Fail::new(Exit::Usage, e.to_string()))?;
    let zone = client.list_zone(&cfg.zone).map_err(|e| {
        Fail::new(
            Exit::Failed,
            format!(
                "NS1: {e} (check the key's permissions for zone {}, and that the zone exists)",
                cfg.zone
            ),
        )
    })?;
    let own = Ownership::new(&cfg.domain, &cfg.exclude);
    let owned = zone.iter().filter(|r| own.owns(r)).count();
    println!(
        "ns1: zone {} at {}: {} records, {} owned by mesos2ns1 (A, AAAA, SRV below {})",
        cfg.zone,
        cfg.ns1_endpoint,
        zone.len(),
        owned,
        cfg.domain
    );
    if cfg.min_visibility.is_none() {
        match client.zone_dns_servers(&cfg.zone) {
            Ok(servers) if servers.iter().any(|s| is_ns1_public_nameserver(s)) => {
                let msg = format!(
                    "zone {} is served publicly (by {}) and --min-visibility is not set: \
                     every running task's addresses are published to the internet; \
                     set --min-visibility external (config \"minVisibility\") to publish only \
                     tasks whose DiscoveryInfo visibility is EXTERNAL",
                    cfg.zone,
                    servers.join(", ")
                );
                log::warn!("{msg}");
                println!("warning: {msg}");
            }
            Ok(_) => {}
            Err(e) => log::warn!("could not read the nameservers of zone {}: {e}", cfg.zone),
        }
    }
    let domain = normalize_name(&cfg.domain);
    let others: Vec<&ZoneRecord> = zone
        .iter()
        .filter(|r| {
            !matches!(r.rtype.to_ascii_uppercase().as_str(), "NS" | "SOA")
                && normalize_name(&r.domain) != marker_name(&domain)
        })
        .collect();
    if domain == normalize_name(&cfg.zone) && !others.is_empty() {
        println!(
            "warning: the domain is the zone {}, which holds {} records other than NS and SOA (e.g. {} {}): \
             give the cluster a domain of its own, such as --domain mesos.{}",
            cfg.zone,
            others.len(),
            others[0].domain,
            others[0].rtype,
            cfg.zone
        );
    }
    if is_claimed(&zone, &domain) {
        println!(
            "ownership: {domain} is claimed ({} exists)",
            marker_name(&domain)
        );
    } else {
        println!(
            "ownership: {domain} is not claimed yet: the first sync removes nothing and claims it \
             when nothing is left to leave alone (see `mesos2ns1 adopt`)"
        );
    }
    if let Some(_lock) = lock_state_dir(&cfg.state_dir)? {
        println!("state dir: {} is writable", cfg.state_dir.display());
    } else {
        println!(
            "state dir: {} (a run holds the lock now)",
            cfg.state_dir.display()
        );
    }
    println!("check: ok");
    Ok(Exit::Ok)
}
