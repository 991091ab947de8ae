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

use super::{claim, print_plan, read_options, say_failure};
use crate::apply::Applied;
use crate::config::Config;
use crate::exit::{Exit, Fail};
use crate::plan::{
    self, Baseline, Decision, Explained, Ownership, Plan, Policy, Sample, marker_name,
};
use crate::records::Record;
use crate::records::generate::StateCounts;
use crate::report::{Summary, write_metrics};
use crate::source::{self, Cluster};
use crate::state_dir::{self, Safety};
use crate::text;
use crate::zone::{self, Session, ZoneView};
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
    // An unreadable clocks file holds removals for one settle period (the
    // default one under --settle never).
    let hold = cfg.settle.unwrap_or(900) as f64;
    let mut safety = state_dir::load_safety(&cfg.state_dir, cfg.force, text::now(), hold);
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
    /// The publishable PTR records of the listed reverse zones.
    pub reverse: super::reverse::ReverseSnapshot,
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

impl PassContext<'_> {
    /// When the pass starts its last change: the deadline less a reserve
    /// for what comes after the writes (saving the ledger and the state,
    /// the summary, giving back the run's memory), so that the run itself
    /// ends within the deadline: 3% of `--deadline` (at most 3 s), or as
    /// long as the pass took from its plan to its first write (deciding and
    /// saving the same records), if longer, up to 10% of the deadline.
    pub fn write_deadline(&self, prepared: std::time::Duration) -> Instant {
        let d = self.cfg.deadline.as_secs_f64();
        let reserve = (d * 0.03).min(3.0).max(prepared.as_secs_f64().min(d * 0.1));
        self.deadline
            .checked_sub(std::time::Duration::from_secs_f64(reserve))
            .unwrap_or(self.deadline)
    }
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
pub fn publishable(cfg: &Config, cluster: Cluster, summary: &mut Summary) -> Snapshot {
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
    let reverse = reverse_snapshot(cfg, cluster.reverse, &desired, &cluster.explained);
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
        reverse,
    }
}

/// The publishable PTR records (see [`super::reverse::publishable`]) and
/// the framework labels a reverse zone's ledger is seeded with.
fn reverse_snapshot(
    cfg: &Config,
    set: crate::records::ReverseSet,
    desired: &[Record],
    explained: &Explained,
) -> super::reverse::ReverseSnapshot {
    if cfg.reverse_zones.is_empty() {
        return Default::default();
    }
    let (zones, skipped) = super::reverse::publishable(set.zones, desired, &cfg.exclude);
    if skipped > 0 {
        log::info!(
            "skipped {skipped} PTR records: unpublishable or excluded names, or targets that are not published"
        );
    }
    let frameworks = plan::framework_labels(
        desired
            .iter()
            .map(|r| r.name.as_str())
            .chain(explained.keys().map(|k| k.0.as_str())),
        &crate::ns1::normalize_name(&cfg.domain),
    );
    super::reverse::ReverseSnapshot {
        zones,
        ambiguous: set.ambiguous,
        frameworks,
    }
}

/// `--only-if-leader` on a host that does not lead: keep this host's
/// window and clocks current, so that the day it becomes the leader the
/// checks compare with fresh figures and no clock spans a time a name was
/// back.
pub fn not_the_leader(
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
    let ptrs = snapshot.reverse.zones.iter().flat_map(|z| z.records.iter());
    let desired: Vec<Record> = snapshot.desired.iter().chain(ptrs).cloned().collect();
    safety.clocks.observe_desired(
        &desired,
        ctx.now,
        cfg.remove_after as f64,
        cfg.settle.map(|s| s as f64),
    );
    safety
        .save(&cfg.state_dir)
        .map_err(|e| Fail::new(Exit::Failed, format!("cannot save the safety state: {e}")))?;
    // The leader publishes meanwhile: this host's ledger no longer knows
    // what the cluster published. Dropped, it is seeded again (under the
    // cluster's marker) the day this host leads, instead of taking the
    // other master's records for people's.
    if !state_dir::remove_ledger(&cfg.state_dir) {
        log::warn!(
            "could not remove the ledger of a master that does not lead ({}); it may not know what the leader published",
            cfg.state_dir.join(state_dir::LEDGER_FILE).display()
        );
    }
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
/// with the safety memory of earlier passes: the claim and the ledger
/// ([`super::claim`]), the plan, the safety decision, then (sync) remember
/// and apply. The outcome is the exit code and what the pass noted in
/// `summary`; `safety` comes out updated (and saved before any change),
/// ready for the next pass. Every write of a run goes through here: a
/// missing zone's import, the zone after a refused import, and (through
/// the follower) every pass of a loop.
pub fn pass(
    ctx: &PassContext<'_>,
    mut snapshot: Snapshot,
    view: ZoneView,
    zone: &mut Session<'_>,
    safety: &mut Safety,
    summary: &mut Summary,
) -> Result<Exit, Fail> {
    let cfg = ctx.cfg;
    let reverse = std::mem::take(&mut snapshot.reverse);
    let prior = (!cfg.reverse_zones.is_empty()).then(|| safety.clocks.clone());
    let domain = crate::ns1::normalize_name(&cfg.domain);
    safety.owned = state_dir::load_owned(&cfg.state_dir, &domain);
    let mut view = view;
    let mut imported = 0;
    let mut refused = None;
    if view.source == zone::Source::Missing {
        if ctx.mode == Mode::Plan {
            let raw = compare(cfg, snapshot.desired, view, zone, summary);
            return Ok(plan_of_missing_zone(cfg, &raw, summary));
        }
        let (fresh, n) = import_missing_zone(ctx, &snapshot, zone, safety, summary, &mut refused)?;
        view = fresh;
        imported = n;
    }
    let (survey, raw) = match fresh_survey(ctx, &mut snapshot, view, zone, safety, summary)? {
        Ok(v) => v,
        Err(why) => {
            log::error!("{why}");
            summary.reason = why;
            return Ok(Exit::Claimed);
        }
    };
    let planned = Instant::now();
    claim_step(ctx, &survey, zone, safety, summary)?;
    let now_counts = snapshot.figures();
    summary.note_plan(&raw);
    summary.note_stats(&zone.stats());
    log::info!("plan: {raw}");
    let owner_notes = claim::notes(&raw, &domain);
    let filling = filling_before(ctx, safety, &raw);
    // The marker names this cluster (or is written now): the domain is claimed.
    let policy = policy(
        ctx,
        true,
        safety,
        now_counts,
        &snapshot.counts,
        domain,
        filling,
    );
    // Past a plan, the pass replaces the clocks with the decision's (see
    // `remember`): they are moved in, not copied.
    let clocks = match ctx.mode {
        Mode::Plan => safety.clocks.clone(),
        _ => std::mem::take(&mut safety.clocks),
    };
    let decision = plan::decide_owned(
        raw,
        &snapshot.explained,
        clocks,
        &safety.memory.samples,
        &policy,
    );
    let suspect = super::reverse::suspect(&decision);
    let facts = |prior| super::reverse::PassFacts {
        explained: &snapshot.explained,
        prior,
        now_counts,
        counts: &snapshot.counts,
        suspect: suspect.clone(),
    };
    let empty = plan::Clocks::default();
    if ctx.mode == Mode::Plan {
        let exit = report_plan(&decision, &policy, safety, summary);
        summary.note_reasons(owner_notes);
        let facts = facts(prior.as_ref().unwrap_or(&empty));
        return Ok(super::reverse::phase(
            ctx, reverse, &facts, zone, safety, summary, exit,
        ));
    }
    let keep = prior.as_ref().map(|p| super::reverse::carried_keys(ctx, p));
    let (decision, save_failed) = remember(ctx, decision, safety, now_counts, keep.as_ref());
    let ledger = claim::ledger_before(&survey, &decision.plan);
    let (decision, ledger_failed) = save_ledger_before(cfg, &ledger, decision);
    summary.note_decision(&decision);
    if decision.released > 0 {
        log::warn!(
            "released {} held removals: absent for --settle ({}) or --force",
            decision.released,
            cfg.settle.map_or("never".to_string(), |s| format!("{s} s"))
        );
    }
    print_held(&decision);
    let plan = &decision.plan;
    let applied = zone.apply(
        &cfg.zone,
        &cfg.domain,
        cfg.ttl,
        plan,
        ctx.write_deadline(planned.elapsed()),
    );
    summary.note_stats(&zone.close());
    if ledger_failed.is_none() {
        let after = claim::ledger_after(ledger, plan, &applied.not_done);
        if let Err(e) = claim::save_ledger(cfg, &after) {
            log::warn!("{e}");
        }
    }
    take_back_undone(ctx, &decision, plan, &applied, safety);
    safety.memory.filling = filling
        && applied
            .not_done
            .iter()
            .filter_map(|&i| plan.changes.get(i))
            .any(|c| c.action != plan::Action::Delete);
    let exit = summary.note_applied(plan, &applied);
    summary.created += imported;
    let state_force = (!save_failed).then_some(safety.clocks_ok);
    let mut notes = decision.notes(&policy, state_force);
    if let Some(why) = &safety.damaged
        && decision.held.is_empty()
    {
        notes.push(format!("{why} (no removal was pending)"));
    }
    notes.extend(ledger_failed.clone());
    notes.extend(owner_notes);
    for n in &notes {
        log::warn!("{n}");
    }
    notes.extend(refused);
    summary.note_reasons(notes);
    let exit = if !decision.held.is_empty()
        || safety.damaged.is_some()
        || decision.recovery_loud()
        || ledger_failed.is_some()
        || summary.collisions > 0
    {
        Exit::Refused
    } else {
        exit
    };
    let facts = facts(prior.as_ref().unwrap_or(&empty));
    Ok(super::reverse::phase(
        ctx, reverse, &facts, zone, safety, summary, exit,
    ))
}

/// The claim: says how the ledger was seeded, writes the marker where it
/// is missing (or a 0.2.0 one), or remembers the claim in the state dir.
fn claim_step(
    ctx: &PassContext<'_>,
    survey: &claim::Survey,
    zone: &mut Session<'_>,
    safety: &mut Safety,
    summary: &mut Summary,
) -> Result<(), Fail> {
    if let Some(why) = &survey.seeded {
        log::info!(
            "{why}: the ledger of published records starts from the desired records, the hold-down clocks and the zone's records of this cluster's names ({} keys)",
            survey.ledger.len()
        );
    }
    if ctx.mode == Mode::Sync && survey.marker != claim::MarkerWrite::None {
        write_claim(ctx, survey, zone, summary)?;
    }
    if ctx.mode == Mode::Sync && survey.marker == claim::MarkerWrite::None {
        claim::remember_claim(ctx.cfg, &mut safety.owned, &survey.cluster, ctx.now);
    }
    Ok(())
}

/// Whether the zone is being filled (from a run that found nothing owned
/// in it, until a run applies all its additions); remembered before any
/// change, so a run that dies part way through the fill leaves it set. A
/// clock that stepped back keeps the window's history, in order.
fn filling_before(ctx: &PassContext<'_>, safety: &mut Safety, raw: &Plan) -> bool {
    plan::rebase(&mut safety.memory.samples, ctx.now);
    let filling = safety.memory.filling || (raw.owned == 0 && raw.desired > 0);
    if ctx.mode == Mode::Sync {
        safety.memory.filling = filling;
    }
    filling
}

/// Saves the ledger with what this pass is about to create, before any
/// change. A full disk: with the old ledger gone, the next run seeds a new
/// one from the desired records under this cluster's marker, so the
/// additions may go (removals are held: the memory could not be saved
/// either, or they come from the ledger this run read). A ledger that can
/// neither be saved nor removed leaves only the additions, and says why.
fn save_ledger_before(
    cfg: &Config,
    ledger: &plan::Ledger,
    decision: Decision,
) -> (Decision, Option<String>) {
    match claim::save_ledger(cfg, ledger) {
        Ok(()) => (decision, None),
        Err(why) if state_dir::remove_ledger(&cfg.state_dir) => {
            log::warn!("{why}; the ledger is removed and seeded again by the next run");
            (decision, None)
        }
        Err(why) => (additions_only(decision, &why), Some(why)),
    }
}

/// The claim and the ledger over the zone view (see [`claim::survey`])
/// and the raw plan under them, or the refusal to write in the zone.
/// Fresh facts before destructive writes: a plan against the cache that
/// would delete or change anything is made again from a full read. The
/// desired records are moved into the last plan made (`snapshot.desired`
/// is left empty): the plan is the one copy of them.
fn fresh_survey(
    ctx: &PassContext<'_>,
    snapshot: &mut Snapshot,
    view: ZoneView,
    zone: &mut Session<'_>,
    safety: &Safety,
    summary: &mut Summary,
) -> Result<Result<(claim::Survey, Plan), String>, Fail> {
    let cfg = ctx.cfg;
    let survey_of = |snapshot: &Snapshot, v: &ZoneView| {
        claim::survey(
            cfg,
            &snapshot.desired,
            &snapshot.explained,
            &v.records,
            safety,
        )
    };
    let mut view = view;
    let mut survey = match survey_of(snapshot, &view) {
        Ok(s) => s,
        Err(why) => return Ok(Err(why)),
    };
    if view.source == zone::Source::Cache {
        // Borrowed: a plan that needs a fresh read needs the desired
        // records again.
        let cached = std::mem::take(&mut view.records);
        let raw = plan::compute_borrowed(&snapshot.desired, cached, &survey.own, cfg.ttl);
        if !destructive(&raw) {
            snapshot.desired = Vec::new();
            return Ok(Ok((survey, raw)));
        }
        drop(raw);
        log::info!("the plan deletes or changes records: reading the zone in full, not the cache");
        view = zone.read_fresh().map_err(|e| {
            summary.note_stats(&zone.close());
            Fail::new(Exit::Failed, format!("reading zone {}: {e}", cfg.zone))
        })?;
        survey = match survey_of(snapshot, &view) {
            Ok(s) => s,
            Err(why) => return Ok(Err(why)),
        };
    }
    let desired = std::mem::take(&mut snapshot.desired);
    let raw = plan::compute(desired, view.records, &survey.own, cfg.ttl);
    Ok(Ok((survey, raw)))
}

/// Whether a plan deletes or changes a record.
fn destructive(plan: &Plan) -> bool {
    plan.changes
        .iter()
        .any(|c| matches!(c.action, plan::Action::Delete | plan::Action::Update))
}

/// A pass that cannot save its ledger makes only the additions that need
/// no ledger entry... none: a create it could not remember would be a
/// record it does not own. It makes the updates of records it owns
/// already, and nothing else.
pub fn additions_only(mut decision: Decision, why: &str) -> Decision {
    log::error!("{why}; no record is created or deleted this run");
    decision
        .plan
        .changes
        .retain(|c| c.action == plan::Action::Update && c.removed_answers().is_empty());
    decision
}

/// Writes (or upgrades) the ownership marker before anything else, and
/// records the claim in the state dir. A marker that cannot be written
/// ends the pass: nothing is written in a domain this cluster has not
/// claimed (another cluster may be claiming it at the same moment).
fn write_claim(
    ctx: &PassContext<'_>,
    survey: &claim::Survey,
    zone: &mut Session<'_>,
    summary: &mut Summary,
) -> Result<(), Fail> {
    let cfg = ctx.cfg;
    let domain = crate::ns1::normalize_name(&cfg.domain);
    let replace = survey.marker == claim::MarkerWrite::Upgrade;
    let written = if replace {
        // Read again right before: only a marker still 0.2.0's is upgraded.
        zone.upgrade_marker(&cfg.zone, &domain, &survey.cluster, cfg.ttl)
    } else {
        zone.write_marker(&cfg.zone, &domain, &survey.cluster, cfg.ttl, false)
            .map(|()| None)
    };
    match written {
        Ok(Some(found)) => {
            summary.note_stats(&zone.close());
            let why = claim::refusal(&domain, &found, &survey.cluster).unwrap_or_default();
            Err(Fail::new(
                Exit::Claimed,
                format!("{why} (the 0.2.0 marker was replaced since the zone was listed)"),
            ))
        }
        Ok(None) => {
            log::info!(
                "{} {domain} with {} (cluster {})",
                if replace {
                    "upgraded the claim on"
                } else {
                    "claimed"
                },
                marker_name(&domain),
                survey.cluster
            );
            let mut owned = state_dir::load_owned(&cfg.state_dir, &domain);
            claim::remember_claim(cfg, &mut owned, &survey.cluster, ctx.now);
            Ok(())
        }
        Err(e) => {
            summary.note_stats(&zone.close());
            Err(Fail::new(
                Exit::Failed,
                format!(
                    "could not write the ownership marker {} ({e}); nothing was written: the next run reads the zone again",
                    marker_name(&domain)
                ),
            ))
        }
    }
}

/// The facts and settings the safety decision needs.
pub fn policy(
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
    safety: &mut Safety,
    now_counts: Baseline,
    keep: Option<&plan::Clocks>,
) -> (Decision, bool) {
    safety.clocks = std::mem::take(&mut decision.clocks);
    // The reverse zones' clocks, until their own decisions replace them.
    if let Some(keep) = keep {
        super::reverse::merge_keys(&mut safety.clocks, keep);
    }
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
    let decision = plan::hold_every_removal(decision, &safety.clocks, why.clone(), ctx.now);
    safety.damaged = Some(why);
    (decision, true)
}

/// `--create-zone`: one zone-file import of every desired record and
/// the ownership marker. Returns the zone to take the ordinary road with
/// and how many record sets the import created: the new zone's listing
/// (every record in it is this import's, so the ledger holds them all),
/// or, when the import was refused because the zone exists after all, a
/// fresh full read of it (nothing imported, nothing counted).
fn import_missing_zone(
    ctx: &PassContext<'_>,
    snapshot: &Snapshot,
    zone: &mut Session<'_>,
    safety: &mut Safety,
    summary: &mut Summary,
    refused: &mut Option<String>,
) -> Result<(ZoneView, usize), Fail> {
    let cfg = ctx.cfg;
    let domain = crate::ns1::normalize_name(&cfg.domain);
    let own = Ownership::new(&cfg.domain, &cfg.exclude);
    let all = plan::compute(snapshot.desired.clone(), Vec::new(), &own, cfg.ttl);
    let cluster = claim::cluster_id(cfg, &safety.owned);
    let failed = |zone: &mut Session<'_>, summary: &mut Summary, e: crate::ns1::Ns1Error| {
        summary.note_stats(&zone.close());
        Fail::new(
            Exit::Failed,
            format!(
                "creating zone {}: {e}; create the zone in NS1 and run again, \
                 or run without --create-zone against an existing zone",
                cfg.zone
            ),
        )
    };
    match zone.import(&cfg.zone, &cfg.domain, &cluster, cfg.ttl, &all) {
        Ok(zone::Imported::Created(listing)) => {
            let ledger: plan::Ledger = listing
                .records
                .iter()
                .map(|r| plan::ledger_key(&r.domain, &r.rtype.to_ascii_uppercase()))
                .collect();
            claim::remember_claim(cfg, &mut safety.owned, &cluster, ctx.now);
            if let Err(e) = claim::save_ledger(cfg, &ledger) {
                log::warn!("{e}");
            }
            safety.owned.ledger = Some(ledger);
            let in_place = listing.records.len();
            log::info!(
                "zone import created {cfg_zone} with {in_place} record sets",
                cfg_zone = cfg.zone
            );
            // (A set, not a scan of the listing per desired record: at
            // 100,000 tasks both hold about 380,000 record sets.)
            let listed: std::collections::HashSet<(String, String)> = listing
                .records
                .iter()
                .map(|r| {
                    (
                        crate::ns1::normalize_name(&r.domain),
                        r.rtype.to_ascii_uppercase(),
                    )
                })
                .collect();
            let imported = snapshot
                .desired
                .iter()
                .filter(|d| listed.contains(&(d.name.clone(), d.rtype.as_str().to_string())))
                .count();
            drop(listed);
            let _ = domain;
            Ok((
                ZoneView {
                    records: listing.records,
                    serial: listing.serial,
                    source: zone::Source::Full,
                    reads: 0,
                },
                imported,
            ))
        }
        Ok(zone::Imported::Refused(listing, why)) => {
            // Nothing imported: the empty zone takes the ordinary road
            // (claimed, then every record written one by one).
            *refused = Some(why);
            Ok((
                ZoneView {
                    records: listing.records,
                    serial: listing.serial,
                    source: zone::Source::Full,
                    reads: 0,
                },
                0,
            ))
        }
        Ok(zone::Imported::Exists) => {
            let view = zone.read_fresh().map_err(|e| failed(zone, summary, e))?;
            if view.source == zone::Source::Missing {
                return Err(Fail::new(
                    Exit::Failed,
                    format!("zone {} vanished", cfg.zone),
                ));
            }
            Ok((view, 0))
        }
        Err(e) => Err(failed(zone, summary, e)),
    }
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
    use std::io::Write;
    // Buffered: a run that holds 200,000 removals prints them in a few
    // writes, not one each (which took most of a second).
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for h in &d.held {
        if writeln!(out, "{h}").is_err() {
            return;
        }
    }
    let _ = out.flush();
}
