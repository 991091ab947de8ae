//! `sync` and `plan` (and the envelope `adopt` shares): one run from the
//! masters to the zone, under the state dir's lock, within a deadline, with
//! the safety checks, ending in one summary line (and optionally a JSON
//! summary and a metrics file).
//!
//! A run reads top-down: [`run`] locks, loads the safety files, calls
//! [`pipeline`], saves, reports. The pipeline names its steps: the
//! cluster, what may be published, the zone, then one [`pass`] (safety,
//! remember, apply), which takes everything it needs as values so that a
//! loop can call it again without re-reading the config or the state dir.

use super::{print_plan, read_options, say_failure};
use crate::apply::Applied;
use crate::config::Config;
use crate::exit::{Exit, Fail};
use crate::plan::{
    self, Baseline, Decision, Explained, Ownership, Plan, Policy, Sample, is_claimed, marker_name,
};
use crate::records::Record;
use crate::records::generate::StateCounts;
use crate::report::{Summary, write_metrics};
use crate::source::{self, Cluster};
use crate::state_dir::{self, Safety};
use crate::text;
use crate::zone::{self, Session, ZoneView};
use std::borrow::Cow;
use std::time::Instant;

/// Which command a run serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Sync,
    Plan,
    Adopt { yes: bool },
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Sync => "sync",
            Mode::Plan => "plan",
            Mode::Adopt { .. } => "adopt",
        }
    }
}

/// One run: lock, load, pipeline, save, report. A failure is said once
/// and carried in the summary; the exit code is the run's.
pub fn run(cfg: &Config, mode: Mode, started: Instant) -> Result<Exit, Fail> {
    let Some(_lock) = state_dir::lock(&cfg.state_dir)? else {
        println!(
            "mesos2ns1 {}: another run holds the lock in {}; nothing to do",
            mode.name(),
            cfg.state_dir.display()
        );
        return Ok(Exit::Ok);
    };
    let mut summary = Summary::new(mode.name());
    let mut safety = state_dir::load_safety(&cfg.state_dir, cfg.force);
    let outcome = pipeline(cfg, mode, started, &mut safety, &mut summary);
    if let Err(fail) = &outcome {
        say_failure(fail);
    }
    let exit = summary.note_end(&outcome, started);
    let memory = &mut safety.memory;
    if exit == Exit::Refused {
        memory.refusals_total += 1;
    }
    if mode == Mode::Sync && exit == Exit::Ok {
        memory.last_success_time = Some(text::unix_now());
    }
    // The counters only: the baseline was saved before any change.
    safety.save_counters(&cfg.state_dir);
    if let Some(path) = &cfg.metrics_file
        && let Err(e) = write_metrics(path, &summary, &safety.memory)
    {
        log::warn!("could not write metrics file {}: {e}", path.display());
    }
    summary.note_usage();
    summary.print(cfg.summary_json);
    // The error was already said; the summary carries it too.
    Ok(exit)
}

/// The cluster's side of a pass: what may be published and the figures
/// the checks judge the state by.
#[derive(Debug)]
pub struct Snapshot {
    /// The publishable records, sorted.
    pub desired: Vec<Record>,
    pub counts: StateCounts,
    /// The answers the state's ended tasks explain.
    pub explained: Explained,
}

impl Snapshot {
    fn figures(&self) -> Baseline {
        Baseline {
            agents: self.counts.agents,
            running_tasks: self.counts.running_tasks,
        }
    }
}

/// The settings of a pass: the configuration (never re-read), the
/// command, this pass's time and deadline.
#[derive(Debug, Clone, Copy)]
pub struct PassContext<'a> {
    pub cfg: &'a Config,
    pub mode: Mode,
    /// Unix time of the pass (`MESOS2NS1_TEST_NOW` in tests).
    pub now: f64,
    pub deadline: Instant,
}

/// The steps of one run, each a call into the module named after it.
fn pipeline(
    cfg: &Config,
    mode: Mode,
    started: Instant,
    safety: &mut Safety,
    summary: &mut Summary,
) -> Result<Exit, Fail> {
    let ctx = PassContext {
        cfg,
        mode,
        now: text::now(),
        deadline: started + cfg.deadline,
    };
    // The key first: a configuration error is found before anything is read.
    let key = cfg
        .read_ns1_key()
        .map_err(|e| Fail::new(Exit::Usage, e.0))?;
    // 1. The cluster. Any failure here returns before NS1 is contacted.
    let cluster = source::read_cluster(cfg, Some(ctx.deadline), true)?;
    // 2. The desired, publishable records.
    let snapshot = publishable(cfg, cluster, summary);
    if cfg.only_if_leader && mode == Mode::Sync {
        let (here, leader_ip) = source::leader_is_here(&summary.leader)?;
        if !here {
            return not_the_leader(&ctx, &snapshot, leader_ip, safety, summary);
        }
    }
    // 3. The zone.
    let mut zone = Session::open(cfg.ns1_options(key, Some(ctx.deadline)), read_options(cfg))
        .map_err(|e| Fail::new(Exit::Usage, e.to_string()))?;
    let view = zone.read().map_err(|e| {
        summary.note_stats(&zone.close());
        Fail::new(Exit::Failed, format!("reading zone {}: {e}", cfg.zone))
    })?;
    // 4. One pass: safety, remember, apply (or adopt).
    match mode {
        Mode::Adopt { yes } => {
            super::adopt::adopt(&ctx, yes, snapshot, view, &mut zone, safety, summary)
        }
        _ => pass(&ctx, snapshot, view, &mut zone, safety, summary),
    }
}

/// The cluster's records that may be published (see
/// [`plan::publishable`]), noted in the summary.
fn publishable(cfg: &Config, cluster: Cluster, summary: &mut Summary) -> Snapshot {
    summary.note_cluster(
        &cluster.leader,
        &cluster.counts,
        cluster.records.tasks_over_port_bound,
    );
    let own = Ownership::new(&cfg.domain, &cfg.exclude);
    let mut set = cluster.records;
    let (desired, skipped) = plan::publishable(set.records(), &own);
    drop(set);
    summary.note_publishable(desired.len(), &skipped);
    if skipped.records() + skipped.answers > 0 {
        log::info!(
            "skipped: {} names NS1 cannot hold, {} SRV answers with unpublishable targets or ports, {} records left empty, {} excluded",
            skipped.names,
            skipped.answers,
            skipped.emptied,
            skipped.excluded
        );
    }
    Snapshot {
        desired,
        counts: cluster.counts,
        explained: cluster.explained,
    }
}

/// `--only-if-leader` on a host that does not lead: keep this host's
/// window and clocks current, so that the day it becomes the leader the
/// checks compare with fresh figures and no clock spans a time a name was
/// back.
fn not_the_leader(
    ctx: &PassContext<'_>,
    snapshot: &Snapshot,
    leader_ip: std::net::IpAddr,
    safety: &mut Safety,
    summary: &mut Summary,
) -> Result<Exit, Fail> {
    let cfg = ctx.cfg;
    let now_counts = snapshot.figures();
    safety.memory.last_good = Some(now_counts);
    safety.memory.push_sample(
        Sample {
            time: ctx.now,
            owned: None,
            agents: now_counts.agents,
            running_tasks: now_counts.running_tasks,
            removed: 0,
            target: None,
            filling: false,
        },
        cfg.window as f64,
    );
    safety.clocks.observe_desired(
        &snapshot.desired,
        ctx.now,
        cfg.remove_after as f64,
        cfg.settle.map(|s| s as f64),
    );
    safety
        .save(&cfg.state_dir)
        .map_err(|e| Fail::new(Exit::Failed, format!("cannot save the safety state: {e}")))?;
    summary.reason = format!("this host is not the leading master ({leader_ip}); nothing to do");
    Ok(Exit::Ok)
}

/// The raw plan of `desired` against the zone, noted in the summary.
pub fn compare(
    cfg: &Config,
    desired: Vec<Record>,
    view: ZoneView,
    zone: &Session<'_>,
    summary: &mut Summary,
) -> Plan {
    let own = Ownership::new(&cfg.domain, &cfg.exclude);
    let raw = plan::compute(desired, view.records, &own, cfg.ttl);
    summary.note_plan(&raw);
    summary.note_stats(&zone.stats());
    log::info!("plan: {raw}");
    raw
}

/// One pass of `sync` or `plan` over a cluster snapshot and a zone view,
/// with the safety memory of earlier passes: the plan, the safety
/// decision, then (sync) remember and apply. The outcome is the exit code
/// and what the pass noted in `summary`; `safety` comes out updated (and
/// saved before any change), ready for the next pass.
pub fn pass(
    ctx: &PassContext<'_>,
    snapshot: Snapshot,
    view: ZoneView,
    zone: &mut Session<'_>,
    safety: &mut Safety,
    summary: &mut Summary,
) -> Result<Exit, Fail> {
    let cfg = ctx.cfg;
    let domain = crate::ns1::normalize_name(&cfg.domain);
    let claimed = is_claimed(&view.records, &domain);
    let zone_missing = view.source == zone::Source::Missing;
    let now_counts = snapshot.figures();
    let raw = compare(cfg, snapshot.desired, view, zone, summary);
    if ctx.mode == Mode::Plan && zone_missing {
        return Ok(plan_of_missing_zone(cfg, &raw, summary));
    }
    // A clock that stepped back keeps the window's history, in order.
    plan::rebase(&mut safety.memory.samples, ctx.now);
    // The zone is being filled from a run that found nothing owned in it
    // until a run applies all its additions.
    let filling = safety.memory.filling || (raw.owned == 0 && raw.desired > 0);
    // Remembered before any change (a run that dies part way through the
    // fill leaves it set), cleared once a run has applied all additions.
    if ctx.mode == Mode::Sync {
        safety.memory.filling = filling;
    }
    // Safety: the hold-down, the window and the checks decide which
    // removals go now; every addition goes.
    let policy = policy(
        ctx,
        claimed,
        safety,
        now_counts,
        &snapshot.counts,
        domain,
        filling,
    );
    let raw_copy = (ctx.mode == Mode::Sync).then(|| raw.clone());
    let decision = plan::decide(
        raw,
        &snapshot.explained,
        &safety.clocks,
        &safety.memory.samples,
        &policy,
    );
    if ctx.mode == Mode::Plan {
        return Ok(report_plan(&decision, &policy, safety, summary));
    }
    let (decision, save_failed) = remember(
        ctx,
        decision,
        raw_copy,
        &snapshot.explained,
        &policy,
        safety,
        now_counts,
    );
    summary.note_decision(&decision);
    if decision.released > 0 {
        log::warn!(
            "released {} held removals: absent for --settle ({}) or --force",
            decision.released,
            cfg.settle.map_or("never".to_string(), |s| format!("{s} s"))
        );
    }
    let marker_note = claim_on_first_contact(cfg, &policy, &decision, zone_missing, safety, zone);
    print_held(&decision);
    let (plan, imported) = if zone_missing {
        import_missing_zone(cfg, &decision.plan, zone, summary)?
    } else {
        (Cow::Borrowed(&decision.plan), 0)
    };
    let applied = zone.apply(&cfg.zone, &cfg.domain, cfg.ttl, &plan, ctx.deadline);
    summary.note_stats(&zone.close());
    take_back_undone(ctx, &decision, &plan, &applied, safety);
    safety.memory.filling = filling
        && applied
            .not_done
            .iter()
            .filter_map(|&i| plan.changes.get(i))
            .any(|c| c.action != plan::Action::Delete);
    let exit = summary.note_applied(&plan, &applied);
    summary.created += imported;
    let state_force = (!save_failed).then_some(safety.clocks_ok);
    let mut notes = decision.notes(&policy, state_force);
    if let Some(why) = &safety.damaged
        && decision.held.is_empty()
    {
        notes.push(format!("{why} (no removal was pending)"));
    }
    for n in &notes {
        log::warn!("{n}");
    }
    notes.extend(marker_note);
    summary.note_reasons(notes);
    Ok(
        if !decision.held.is_empty() || safety.damaged.is_some() || decision.recovery_loud() {
            Exit::Refused
        } else {
            exit
        },
    )
}

/// The facts and settings the safety decision needs.
fn policy(
    ctx: &PassContext<'_>,
    claimed: bool,
    safety: &Safety,
    now_counts: Baseline,
    counts: &StateCounts,
    domain: String,
    filling: bool,
) -> Policy {
    let cfg = ctx.cfg;
    Policy {
        now: ctx.now,
        remove_after: cfg.remove_after as f64,
        settle: cfg.settle.map(|s| s as f64),
        window: cfg.window as f64,
        max_share: cfg.max_change_share,
        force: cfg.force,
        claimed,
        damaged: safety.damaged.clone(),
        now_counts,
        domain,
        recovery: plan::RecoveryFacts {
            recovered_agents: counts.recovered_agents,
            elected: counts.elected_unix.map(|e| e as f64),
        },
        filling,
    }
}

/// `plan` against a zone that does not exist: what `sync --create-zone`
/// would import.
fn plan_of_missing_zone(cfg: &Config, raw: &Plan, summary: &mut Summary) -> Exit {
    print_plan(raw);
    summary.pending = raw.changes.len();
    summary.reason = format!(
        "zone {} does not exist; sync --create-zone would create it with {} record sets in one import",
        cfg.zone,
        raw.changes.len()
    );
    Exit::Remaining
}

/// `plan`: the changes a sync would make, and what it would hold.
fn report_plan(
    decision: &Decision,
    policy: &Policy,
    safety: &Safety,
    summary: &mut Summary,
) -> Exit {
    let plan = &decision.plan;
    summary.note_decision(decision);
    print_plan(plan);
    print_held(decision);
    summary.pending = plan.changes.len();
    let mut why = vec![if plan.is_empty() {
        "nothing to change".to_string()
    } else {
        format!("{} changes pending ({plan})", plan.changes.len())
    }];
    why.extend(decision.notes(policy, Some(safety.clocks_ok)));
    if let Some(d) = &safety.damaged {
        why.push(d.clone());
    }
    for n in &why[1..] {
        log::warn!("{n}");
    }
    summary.reason = why.join("; ");
    if !decision.held.is_empty() || safety.damaged.is_some() || decision.recovery_loud() {
        Exit::Refused
    } else if plan.is_empty() {
        Exit::Ok
    } else {
        Exit::Remaining
    }
}

/// Remember, before any change: the clocks and this pass's sample are
/// saved. A pass that cannot save them (a full disk) removes nothing,
/// since the next would not know what it did, but still makes every
/// addition, and exits 3 saying why. Returns the decision to carry out and
/// whether the save failed.
fn remember(
    ctx: &PassContext<'_>,
    mut decision: Decision,
    raw_copy: Option<Plan>,
    explained: &Explained,
    policy: &Policy,
    safety: &mut Safety,
    now_counts: Baseline,
) -> (Decision, bool) {
    safety.clocks = decision.clocks.clone();
    if let Some(sample) = decision.sample {
        safety.memory.push_sample(sample, ctx.cfg.window as f64);
    }
    safety.memory.last_good = Some(now_counts);
    safety.memory.released_total += decision.released as u64;
    let Err(e) = safety.save(&ctx.cfg.state_dir) else {
        return (decision, false);
    };
    let why = format!("cannot save the safety state: {e}; every removal is held");
    log::error!("{why}");
    let mut held_policy = policy.clone();
    held_policy.damaged = Some(why.clone());
    if let Some(raw) = raw_copy {
        decision = plan::decide(
            raw,
            explained,
            &safety.clocks,
            &safety.memory.samples,
            &held_policy,
        );
    }
    safety.damaged = Some(why);
    (decision, true)
}

/// First contact with nothing to leave alone (every removal, if any, is a
/// record of a task the state lists as ended): claim the domain before
/// anything else, so an interrupted first sync stays claimed. A zone that
/// does not exist yet gets the marker in its import. Returns the note for
/// the summary when the marker could not be written.
fn claim_on_first_contact(
    cfg: &Config,
    policy: &Policy,
    decision: &Decision,
    zone_missing: bool,
    safety: &Safety,
    zone: &mut Session<'_>,
) -> Option<String> {
    if policy.claimed || zone_missing || decision.unexplained != 0 || safety.damaged.is_some() {
        return None;
    }
    let domain = &policy.domain;
    match zone.write_marker(&cfg.zone, domain, cfg.ttl) {
        Ok(()) => {
            log::info!("claimed {domain} with {}", marker_name(domain));
            None
        }
        Err(e) => {
            log::warn!("could not write the ownership marker: {e}");
            Some(format!("the ownership marker could not be written ({e})"))
        }
    }
}

/// `--create-zone`: one zone-file import (with the ownership marker), then
/// the listing is compared with the plan and what the import did not
/// create is left to be written record by record. Returns that rest and
/// how many record sets the import created.
fn import_missing_zone<'p>(
    cfg: &Config,
    plan: &'p Plan,
    zone: &mut Session<'_>,
    summary: &mut Summary,
) -> Result<(Cow<'p, Plan>, usize), Fail> {
    let before = plan.count(plan::Action::Create);
    let listing = zone
        .import(&cfg.zone, &cfg.domain, cfg.ttl, plan)
        .map_err(|e| {
            summary.note_stats(&zone.close());
            Fail::new(Exit::Failed, format!("creating zone {}: {e}", cfg.zone))
        })?;
    let own = Ownership::new(&cfg.domain, &cfg.exclude);
    let rest = plan::compute(
        zone::desired_from_creates(plan),
        listing.records,
        &own,
        cfg.ttl,
    );
    let imported =
        before.saturating_sub(rest.count(plan::Action::Create) + rest.count(plan::Action::Update));
    log::info!("zone import created {imported} record sets; the rest record by record: {rest}");
    Ok((Cow::Owned(rest), imported))
}

/// Removals that failed or were postponed did not happen: they are
/// counted again when a later pass makes them, not on every pass that
/// tries (the memory is saved again at the end of the run).
fn take_back_undone(
    ctx: &PassContext<'_>,
    decision: &Decision,
    plan: &Plan,
    applied: &Applied,
    safety: &mut Safety,
) {
    if decision.counted.is_empty() {
        return;
    }
    let Some(sample) = safety
        .memory
        .samples
        .last_mut()
        .filter(|s| s.time == ctx.now)
    else {
        return;
    };
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

/// Prints the held removals, one line each.
pub fn print_held(d: &Decision) {
    for h in &d.held {
        println!("{h}");
    }
}
