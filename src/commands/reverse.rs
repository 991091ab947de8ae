//! The listed reverse zones (`--reverse-zone`) in a `sync` or `plan`
//! pass: after the forward domain's changes, each zone in turn is read,
//! claimed, planned, judged and written, as the domain is (issue 17's
//! ownership, the hold-down and the checks), with its own marker, its own
//! ledger and its own window.
//!
//! * **Claim.** The TXT `_mesos2ns1.<zone>` names the cluster. Another
//!   cluster's marker (or any marker naming no cluster: mesos2ns1 never
//!   wrote one in a reverse zone) stops writes in that zone only; the pass
//!   goes on with the other zones and exits 5.
//! * **Ownership.** Only PTR records strictly below the zone whose key is
//!   in the zone's ledger (`published.<zone>`) are ever changed or deleted:
//!   the zone is shared with the network's other PTRs, NS and anything
//!   else, which are never touched. A reverse name that holds a PTR the
//!   tool did not publish (an agent's own PTR, typically, for host-network
//!   tasks) is left as it is: counted (`ptr_kept`), never an error, and
//!   `adopt` never takes it over.
//! * **Safety.** Each zone's plan goes through [`plan::decide`] with the
//!   zone's own owned count and window (`memory.json`'s
//!   `reverse_samples`), the cluster's figures (so an implausible state
//!   holds PTR removals too) and the shared hold-down clocks (reverse
//!   names never meet forward names).
//! * **Rate limits.** The zone's writes start after every forward write
//!   of the pass (a second apply phase), within the same deadline: a PTR
//!   never delays a service.
//! * **Never created.** A listed zone missing in NS1 is said and skipped
//!   (exit 4), even with `--create-zone`: a reverse zone is the network's.
//! * Reverse zones are read in full each pass (no listing cache).

use super::claim::{MarkerWrite, Survey, ledger_after, ledger_before};
use super::print_plan;
use super::sync::{Mode, PassContext, additions_only as additions_only_of, print_held};
use crate::exit::Exit;
use crate::ns1::{Ns1Error, ZoneRecord, normalize_name};
use crate::plan::{
    self, Baseline, Claim, Clocks, Decision, Explained, Ledger, Ownership, Plan, at_or_below,
    claim_of, fits_grammar, ledger_key, marker_name, reverse_marker_text,
};
use crate::records::{Record, RecordType, ZonePtrs};
use crate::report::Summary;
use crate::state_dir::{self, Safety};
use crate::zone::Session;
use std::collections::HashSet;

/// The cluster's side of the reverse zones for one pass.
#[derive(Debug, Clone, Default)]
pub struct ReverseSnapshot {
    /// The publishable PTR records of each listed zone, in the order the
    /// zones are listed.
    pub zones: Vec<ZonePtrs>,
    /// Reverse names two or more targets claim (no PTR is published).
    pub ambiguous: usize,
    /// The framework labels of the cluster's names (to seed a ledger).
    pub frameworks: HashSet<String>,
}

/// Keeps the PTR records that may be published: in the zone's scope
/// (publishable name, not excluded) and pointing at a name the forward
/// pass publishes (a PTR to a name left out would point nowhere).
/// Returns them and how many were left out.
pub fn publishable(
    zones: Vec<ZonePtrs>,
    forward: &[Record],
    exclude: &[String],
) -> (Vec<ZonePtrs>, usize) {
    let targets: HashSet<&str> = forward
        .iter()
        .filter(|r| matches!(r.rtype, RecordType::A | RecordType::AAAA))
        .map(|r| r.name.as_str())
        .collect();
    let mut skipped = 0;
    let zones = zones
        .into_iter()
        .map(|z| {
            let own = Ownership::reverse(&z.zone, exclude);
            let (mut records, s) = plan::publishable(z.records, &own);
            let before = records.len();
            records.retain(|r| {
                r.answers
                    .iter()
                    .all(|a| targets.contains(normalize_name(a).as_str()))
            });
            skipped += s.records() + before - records.len();
            ZonePtrs {
                zone: z.zone,
                records,
            }
        })
        .collect();
    (zones, skipped)
}

/// The clock keys (`"name TYPE ..."`) of `clocks` at or below `zone`.
fn in_zone(key: &str, zone: &str) -> bool {
    key.split(' ')
        .next()
        .is_some_and(|name| at_or_below(name, zone))
}

/// The clocks of the listed reverse zones in `clocks` (carried to `now`):
/// what the forward pass keeps when it replaces the clocks with its own.
pub fn carried_keys(ctx: &PassContext<'_>, clocks: &Clocks) -> Clocks {
    let cfg = ctx.cfg;
    let mut c = clocks.carried(
        ctx.now,
        cfg.remove_after as f64,
        cfg.settle.map(|s| s as f64),
    );
    let listed = |k: &crate::plan::Key| cfg.reverse_zones.iter().any(|z| in_zone(k, z.name()));
    c.records.retain(|k, _| listed(k));
    c.answers.retain(|k, _| listed(k));
    c.held.retain(|k, _| listed(k));
    c
}

/// Adds the record, answer and held keys of `from` to `into`.
pub fn merge_keys(into: &mut Clocks, from: &Clocks) {
    into.records
        .extend(from.records.iter().map(|(k, v)| (k.clone(), *v)));
    into.answers
        .extend(from.answers.iter().map(|(k, v)| (k.clone(), *v)));
    into.held
        .extend(from.held.iter().map(|(k, v)| (k.clone(), v.clone())));
}

/// Replaces the keys of `zone` in `into` by those of `from`.
fn replace_zone_keys(into: &mut Clocks, from: &Clocks, zone: &str) {
    into.records.retain(|k, _| !in_zone(k, zone));
    into.answers.retain(|k, _| !in_zone(k, zone));
    into.held.retain(|k, _| !in_zone(k, zone));
    merge_keys(into, from);
}

/// What the phase found, summed over the zones.
#[derive(Debug, Default)]
struct Tally {
    exit: Exit0,
    notes: Vec<String>,
}

/// Exit codes ranked (the worst wins): ok, changes remain, refused,
/// claimed by another cluster.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Exit0 {
    #[default]
    Ok,
    Remaining,
    Refused,
    Claimed,
}

impl Exit0 {
    fn of(e: Exit) -> Exit0 {
        match e {
            Exit::Ok => Exit0::Ok,
            Exit::Remaining => Exit0::Remaining,
            Exit::Claimed => Exit0::Claimed,
            _ => Exit0::Refused,
        }
    }
}

/// The worse of two exit codes of a pass (ok < changes remain < refused
/// < claimed); a code outside these (1, 2) is kept as it is.
pub fn worse(a: Exit, b: Exit) -> Exit {
    if !matches!(
        a,
        Exit::Ok | Exit::Remaining | Exit::Refused | Exit::Claimed
    ) {
        return a;
    }
    if Exit0::of(b) > Exit0::of(a) { b } else { a }
}

impl Tally {
    fn raise(&mut self, e: Exit0, note: Option<String>) {
        self.exit = self.exit.max(e);
        if let Some(n) = note {
            log::warn!("{n}");
            self.notes.push(n);
        }
    }
}

/// The facts of the pass the reverse zones are judged with.
pub struct PassFacts<'a> {
    pub explained: &'a Explained,
    /// The clocks as the pass found them (before the forward decision).
    pub prior: &'a Clocks,
    pub now_counts: Baseline,
    pub counts: &'a crate::records::StateCounts,
    /// Why the forward decision found the state suspect (it held removals
    /// by the implausible-state or mass-removal check): then no PTR is
    /// removed either, whatever a zone's own figures say (a small zone is
    /// below the share's minimum).
    pub suspect: Option<String>,
}

/// Whether the forward decision held removals because the state is
/// suspect, and which check.
pub fn suspect(d: &Decision) -> Option<String> {
    [plan::Check::ImplausibleState, plan::Check::MassRemoval]
        .into_iter()
        .find(|c| d.held_by(*c) > 0)
        .map(|c| c.to_string())
}

/// Without the removals (deletes, dropped answers) of its plan, which wait
/// for a state the checks pass; how many there were.
fn without_removals(mut d: Decision) -> (Decision, usize) {
    let before = d.plan.changes.len();
    d.plan.changes.retain(|c| match c.action {
        plan::Action::Create => true,
        plan::Action::Delete => false,
        plan::Action::Update => c.removed_answers().is_empty(),
    });
    let held = before - d.plan.changes.len();
    d.counted.clear();
    if let Some(s) = &mut d.sample {
        s.removed = 0;
    }
    (d, held)
}

/// The reverse zones of one pass, after the forward domain's: returns the
/// pass's exit code, `forward` or worse.
pub fn phase(
    ctx: &PassContext<'_>,
    snap: ReverseSnapshot,
    facts: &PassFacts<'_>,
    zone: &mut Session<'_>,
    safety: &mut Safety,
    summary: &mut Summary,
    forward: Exit,
) -> Exit {
    if ctx.cfg.reverse_zones.is_empty() {
        return forward;
    }
    summary.ptr_listed = true;
    summary.ptr_ambiguous = snap.ambiguous;
    let mut tally = Tally::default();
    for z in &snap.zones {
        summary.ptr_desired += z.records.len();
        one_zone(
            ctx,
            z,
            &snap.frameworks,
            facts,
            zone,
            safety,
            summary,
            &mut tally,
        );
    }
    summary.note_stats(&zone.stats());
    summary.note_reasons(std::mem::take(&mut tally.notes));
    let exit = match tally.exit {
        Exit0::Ok => Exit::Ok,
        Exit0::Remaining => Exit::Remaining,
        Exit0::Refused => Exit::Refused,
        Exit0::Claimed => Exit::Claimed,
    };
    worse(forward, exit)
}

/// One listed reverse zone: read, claim, plan, decide, remember, apply.
#[allow(clippy::too_many_arguments)]
fn one_zone(
    ctx: &PassContext<'_>,
    z: &ZonePtrs,
    frameworks: &HashSet<String>,
    facts: &PassFacts<'_>,
    zone: &mut Session<'_>,
    safety: &mut Safety,
    summary: &mut Summary,
    tally: &mut Tally,
) {
    let cfg = ctx.cfg;
    let name = z.zone.as_str();
    let view = match zone.read_other(name) {
        Ok(v) => v,
        Err(Ns1Error::ZoneNotFound { .. }) => {
            return tally.raise(
                Exit0::Remaining,
                Some(format!(
                    "reverse zone {name} does not exist in NS1: create it there (mesos2ns1 never creates reverse zones); its {} PTR records wait",
                    z.records.len()
                )),
            );
        }
        Err(e) => {
            return tally.raise(
                Exit0::Remaining,
                Some(format!(
                    "reading reverse zone {name}: {e}; its PTR records wait for the next run"
                )),
            );
        }
    };
    let ledger_file = state_dir::reverse_ledger_file(name);
    let loaded = state_dir::load_ledger_file(&cfg.state_dir, &ledger_file, name);
    if let Err(e) = &loaded {
        log::warn!("{e}: the ledger of {name} is rebuilt");
    }
    let cluster = super::claim::cluster_id(cfg, &safety.owned);
    let survey = match survey(
        cfg,
        name,
        &z.records,
        frameworks,
        &view.records,
        loaded,
        &cluster,
    ) {
        Ok(s) => s,
        Err(why) => {
            summary.ptr_zones_claimed += 1;
            return tally.raise(Exit0::Claimed, Some(why));
        }
    };
    if ctx.mode == Mode::Sync && survey.marker != MarkerWrite::None {
        let text = reverse_marker_text(name, &cluster);
        let replace = survey.marker == MarkerWrite::Upgrade;
        if let Err(e) = zone.write_other_marker(name, &text, cfg.ttl, replace) {
            return tally.raise(
                Exit0::Remaining,
                Some(format!(
                    "could not write the ownership marker {} ({e}); nothing was written in {name}",
                    marker_name(name)
                )),
            );
        }
        log::info!(
            "claimed reverse zone {name} with {} (cluster {cluster})",
            marker_name(name)
        );
    }
    let raw = plan::compute(z.records.clone(), view.records, &survey.own, cfg.ttl);
    log::info!("reverse zone {name}: plan: {raw}");
    summary.ptr_kept += raw.collisions.len();
    let policy = super::sync::policy(
        ctx,
        true,
        safety,
        facts.now_counts,
        facts.counts,
        name.to_string(),
        false,
    );
    let empty = Vec::new();
    let samples = safety.memory.reverse_samples.get(name).unwrap_or(&empty);
    let mut decision = plan::decide(raw, facts.explained, facts.prior, samples, &policy);
    if let Some(check) = &facts.suspect {
        let (d, held) = without_removals(decision);
        decision = d;
        if held > 0 {
            summary.ptr_held += held;
            tally.raise(
                Exit0::Refused,
                Some(format!(
                    "reverse zone {name}: {held} PTR removals wait: the {check} check holds the domain's removals, so the state is not trusted for PTRs either"
                )),
            );
        }
    }
    summary.ptr_held += decision.held.len();
    summary.ptr_waiting += decision.waiting;
    if ctx.mode != Mode::Sync {
        print_plan(&decision.plan);
        print_held(&decision);
        summary.pending += decision.plan.changes.len();
        let e = if !decision.held.is_empty() {
            Exit0::Refused
        } else if decision.plan.is_empty() {
            Exit0::Ok
        } else {
            Exit0::Remaining
        };
        let notes = decision.notes(&policy, Some(safety.clocks_ok));
        for n in notes {
            tally.raise(e, Some(format!("reverse zone {name}: {n}")));
        }
        return tally.raise(e, None);
    }
    write(
        ctx, name, decision, &policy, survey, zone, safety, summary, tally,
    );
}

/// Remember (clocks, window sample, ledger), then apply, then the ledger
/// again: the same order as the forward pass.
#[allow(clippy::too_many_arguments)]
fn write(
    ctx: &PassContext<'_>,
    name: &str,
    decision: Decision,
    policy: &plan::Policy,
    survey: Survey,
    zone: &mut Session<'_>,
    safety: &mut Safety,
    summary: &mut Summary,
    tally: &mut Tally,
) {
    let cfg = ctx.cfg;
    replace_zone_keys(&mut safety.clocks, &decision.clocks, name);
    if let Some(sample) = decision.sample {
        let listed: Vec<&str> = cfg.reverse_zones.iter().map(|z| z.name()).collect();
        safety
            .memory
            .push_reverse_sample(name, sample, cfg.window as f64, &listed);
    }
    let mut decision = decision;
    if let Err(e) = safety.save(&cfg.state_dir) {
        let why = format!("cannot save the safety state: {e}; every PTR removal in {name} is held");
        decision = additions_only_of(decision, &why);
        tally.raise(Exit0::Refused, Some(why));
    }
    let ledger_file = state_dir::reverse_ledger_file(name);
    let ledger = ledger_before(&survey, &decision.plan);
    let save = |l: &Ledger| {
        state_dir::save_ledger_file(&cfg.state_dir, &ledger_file, name, l)
            .map_err(|e| format!("cannot save the ledger of {name}: {e}"))
    };
    let ledger_ok = match save(&ledger) {
        Ok(()) => true,
        Err(why) => {
            decision = additions_only_of(decision, &why);
            tally.raise(Exit0::Refused, Some(why));
            false
        }
    };
    print_held(&decision);
    let plan = &decision.plan;
    let applied = zone.apply_other(
        name,
        cfg.ttl,
        plan,
        ctx.write_deadline(std::time::Duration::ZERO),
    );
    if ledger_ok && let Err(e) = save(&ledger_after(ledger, plan, &applied.not_done)) {
        log::warn!("{e}");
    }
    take_back_undone(ctx, name, &decision, plan, &applied.not_done, safety);
    summary.ptr_created += applied.created;
    summary.ptr_updated += applied.updated;
    summary.ptr_deleted += applied.deleted;
    summary.ptr_failed += applied.failed.len();
    summary.ptr_postponed += applied.postponed;
    if applied.remaining() > 0 {
        tally.raise(
            Exit0::Remaining,
            Some(format!(
                "reverse zone {name}: {} PTR changes failed or were postponed",
                applied.remaining()
            )),
        );
    }
    if !decision.held.is_empty() {
        let notes = decision.notes(policy, Some(safety.clocks_ok));
        for n in notes {
            tally.raise(Exit0::Refused, Some(format!("reverse zone {name}: {n}")));
        }
        tally.raise(Exit0::Refused, None);
    }
}

/// PTR removals that did not happen are not counted in the zone's window.
fn take_back_undone(
    ctx: &PassContext<'_>,
    name: &str,
    decision: &Decision,
    plan: &Plan,
    not_done: &[usize],
    safety: &mut Safety,
) {
    let undone: HashSet<(&str, RecordType)> = not_done
        .iter()
        .filter_map(|&i| plan.changes.get(i))
        .map(|c| (c.name.as_str(), c.rtype))
        .collect();
    let back = decision
        .counted
        .iter()
        .filter(|(n, t)| undone.contains(&(n.as_str(), *t)))
        .count();
    if let Some(s) = safety
        .memory
        .reverse_samples
        .get_mut(name)
        .and_then(|v| v.last_mut())
        .filter(|s| s.time == ctx.now)
    {
        s.removed = s.removed.saturating_sub(back);
    }
    if back > 0 {
        safety.save_counters(&ctx.cfg.state_dir);
    }
}

/// The claim and the ledger of one reverse zone, or the refusal to write
/// in it. A ledger from an earlier pass is kept even when the marker was
/// deleted (the marker is written again); without one, under this
/// cluster's marker, the ledger is seeded from the desired PTRs and the
/// zone's PTRs that point at this cluster's names; at first contact it
/// starts empty.
pub fn survey(
    cfg: &crate::config::Config,
    name: &str,
    desired: &[Record],
    frameworks: &HashSet<String>,
    zone: &[ZoneRecord],
    loaded: Result<Option<Ledger>, String>,
    cluster: &str,
) -> Result<Survey, String> {
    let claim = claim_of(zone, name, cluster);
    let marker = match &claim {
        Claim::Ours => MarkerWrite::None,
        Claim::None => MarkerWrite::Create,
        other => return Err(refusal(name, other, cluster)),
    };
    let scope = Ownership::reverse(name, &cfg.exclude).with_zone(zone, None);
    let zone_keys: HashSet<u64> = zone
        .iter()
        .filter(|r| scope.in_scope(r))
        .map(|r| ledger_key(&r.domain, &r.rtype.to_ascii_uppercase()))
        .collect();
    let (ledger, seeded) = match (loaded, &claim) {
        (Ok(Some(l)), _) => (l, None),
        (loaded, Claim::Ours) => {
            let domain = normalize_name(&cfg.domain);
            let mut l: Ledger = desired
                .iter()
                .map(|r| ledger_key(&r.name, r.rtype.as_str()))
                .collect();
            for r in zone.iter().filter(|r| scope.in_scope(r)) {
                if r.answers
                    .iter()
                    .all(|a| fits_grammar(&normalize_name(a), &domain, frameworks))
                    && !r.answers.is_empty()
                {
                    l.insert(ledger_key(&r.domain, "PTR"));
                }
            }
            let why = loaded.err().unwrap_or_else(|| "no ledger yet".to_string());
            (l, Some(why))
        }
        _ => (Ledger::new(), None),
    };
    if let Some(why) = &seeded {
        log::info!(
            "reverse zone {name}: {why}: the ledger starts from the desired PTRs and the zone's PTRs that point at this cluster's names ({} keys)",
            ledger.len()
        );
    }
    let own = scope.with_zone(zone, Some(ledger.clone()));
    Ok(Survey {
        cluster: cluster.to_string(),
        claim,
        marker,
        ledger,
        seeded,
        own,
        zone_keys,
    })
}

/// Why a reverse zone is not written: another cluster's marker, or a
/// marker naming none.
fn refusal(zone: &str, claim: &Claim, ours: &str) -> String {
    let marker = marker_name(zone);
    let theirs = match claim {
        Claim::Foreign(ids) => ids
            .iter()
            .filter(|i| *i != ours)
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
        _ => "none (a marker mesos2ns1 did not write)".to_string(),
    };
    format!(
        "reverse zone {zone} is claimed by another cluster: {marker} names cluster {theirs}, and this cluster is {ours}; no PTR record was written in it \
         (the domain and the other reverse zones were synced). If that claim is this cluster's, set clusterId (--cluster-id) to it; else remove {zone} from reverseZones"
    )
}
