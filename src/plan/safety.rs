//! The safety of a plan's removals: the hold-down clocks, the sliding
//! window, the checks (first contact, state file, implausible state, mass
//! removal) and the decision over them, with the words an operator reads
//! about each hold.

use super::clocks::{Clocks, Key, answer_key, record_key};
use super::diff::{Action, Plan};
use super::held::{Check, Held};
use super::history::{Baseline, Sample, baseline, implausible, in_window};
use super::recovery::{Recovering, RecoveryFacts, assess};
use crate::records::RecordType;
use crate::text::format_time;

/// Smallest baseline of owned records at which the mass-removal check
/// applies.
pub const MASS_CHANGE_MIN_RECORDS: usize = 10;

/// Answers the state explains: those its terminal tasks and completed
/// frameworks would produce, by (name, type) (made by [`crate::records::explained`]).
pub use crate::records::Explained;

/// The settings and facts of one run that the decision needs.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Unix time of this run.
    pub now: f64,
    /// `--remove-after`, seconds.
    pub remove_after: f64,
    /// `--settle`, seconds; None: `never`.
    pub settle: Option<f64>,
    /// `--window`, seconds.
    pub window: f64,
    /// `--max-change-percent` as a fraction.
    pub max_share: f64,
    /// `--force`: release removals held by the implausible-state and
    /// mass-removal checks.
    pub force: bool,
    /// Whether the domain carries the ownership marker.
    pub claimed: bool,
    /// Why the hold-down clocks or the baseline are unknown (a damaged
    /// file); every removal is then held.
    pub damaged: Option<String>,
    /// The state's figures.
    pub now_counts: Baseline,
    /// The domain, for messages.
    pub domain: String,
    /// What the state says about the leader's failover recovery
    /// (`recovered_slaves`, `elected_time`): see [`super::recovery`].
    pub recovery: RecoveryFacts,
    /// Whether the zone is still being filled (the first sync, or a
    /// `--create-zone`, not finished yet): the baseline then counts what
    /// the zone will hold (`Plan::desired`), not the half-written zone.
    pub filling: bool,
}

/// The outcome of the safety decision over a raw plan.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    /// The changes to apply: every addition, and the removals allowed.
    pub plan: Plan,
    /// Removals held by a check.
    pub held: Vec<Held>,
    /// Why, one line per check that holds something, with its figures.
    pub reasons: Vec<(Check, String)>,
    /// Whole-record deletes waiting for the hold-down.
    pub waiting: usize,
    /// The earliest time one of them becomes due.
    pub next_due: Option<f64>,
    /// Held removals released this run by `--settle` or `--force`.
    pub released: usize,
    /// Removals explained by the state (terminal tasks, completed
    /// frameworks) in the plan.
    pub explained: usize,
    /// Unexplained removals in the plan (they count in the window).
    pub unexplained: usize,
    /// The changes counted in this run's sample (`removed`), so that a run
    /// can take back those that failed or were postponed.
    pub counted: Vec<(String, RecordType)>,
    /// The clocks to save.
    pub clocks: Clocks,
    /// This run's sample for the window.
    pub sample: Option<Sample>,
    /// The leader's failover recovery at this run.
    pub recovery: Recovering,
    /// Removals waiting for it (deletes, and updates whose answers it
    /// keeps); the deletes are also in `waiting`.
    pub recovering: usize,
    /// The deletes among them.
    pub recovering_deletes: usize,
    /// The last run that saw agents listed in `recovered_slaves`, when
    /// this run is the first that does not.
    pub listing_ended: Option<f64>,
    /// Address-record deletes waiting because an SRV answer left in the
    /// zone still names them (also in `waiting`).
    pub srv_named: usize,
    /// Whether the baseline was the window's median (else the smallest
    /// count of a young window).
    pub mature: bool,
}

impl Decision {
    /// Whether the failover recovery's waits are to be reported as a hold
    /// (exit 3): the master has listed agents for too long.
    pub fn recovery_loud(&self) -> bool {
        self.recovering > 0 && matches!(self.recovery, Recovering::Listed { loud: true, .. })
    }

    pub fn held_by(&self, check: Check) -> usize {
        self.held.iter().filter(|h| h.check == check).count()
    }

    /// The summary's words about held and waiting removals: the check, its
    /// figures, the release, and what --force would delete.
    /// `state_force`: whether `--force` would clear a state-file hold (a
    /// damaged file, not a full disk), and whether the clocks are readable.
    pub fn notes(&self, p: &Policy, state_force: Option<bool>) -> Vec<String> {
        let d = self;
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
                        format_time(t),
                        format_time(
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
                    let (deletes, answers) = (held(Action::Delete), held(Action::Update));
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
        let holddown = d.waiting - d.srv_named - d.recovering_deletes;
        if holddown > 0 {
            notes.push(format!(
                "{holddown} deletes wait for the hold-down ({} s), the first until {}",
                p.remove_after,
                d.next_due.map_or("-".to_string(), format_time)
            ));
        }
        if d.recovering > 0 {
            notes.push(d.recovery.note(d.recovering));
        }
        if d.srv_named > 0 {
            notes.push(format!(
                "{} address-record deletes wait for the SRV answers that still name them to leave the zone",
                d.srv_named
            ));
        }
        if d.released > 0 {
            notes.push(format!("released {} held removals", d.released));
        }
        notes
    }
}

/// Whether a plan removes anything: a delete, or an update that drops an
/// answer.
pub fn has_removals(plan: &Plan) -> bool {
    plan.changes.iter().any(|c| match c.action {
        Action::Create => false,
        Action::Delete => true,
        Action::Update => !c.removed_answers().is_empty(),
    })
}

/// A removal the plan would make: a whole record, or answers dropped from
/// a record that stays.
struct Candidate {
    /// Index in the raw plan's changes.
    index: usize,
    /// The removed answers, each with its clock and whether it is explained.
    answers: Vec<Removed>,
    /// Absent since (whole record), or the latest of the answers' clocks.
    since: f64,
    explained: bool,
    /// A whole record's clock key (deletes; an update's are its answers').
    key: Option<Key>,
    /// The check that held it in an earlier run, if any.
    was_held: Option<Check>,
}

/// One answer a candidate removes: where it is in the change's old
/// answers (not a copy of it), its clock key (an update's answers), since
/// when it counts as absent, and whether the state explains it.
struct Removed {
    at: usize,
    key: Option<Key>,
    since: f64,
    explained: bool,
}

/// The text of a removed answer of the raw plan's change `index`.
fn answer_text<'a>(raw: &'a Plan, index: usize, r: &Removed) -> &'a str {
    raw.changes[index]
        .old
        .as_ref()
        .and_then(|o| o.answers.get(r.at))
        .map_or("", String::as_str)
}

/// Applies the hold-down, the window and the checks to a raw plan from
/// [`compute`](super::compute). Pure: the clocks and the window come in
/// and go out. Three phases: find the [`candidates`] (the removals the plan
/// would make, with their clocks), [`judge`] them (which check, if any,
/// holds each), and [`trim`] the plan to what may go now.
pub fn decide(
    raw: Plan,
    explained: &Explained,
    clocks: &Clocks,
    samples: &[Sample],
    p: &Policy,
) -> Decision {
    let old = clocks.carried(p.now, p.remove_after, p.settle);
    decide_carried(raw, explained, old, samples, p)
}

/// [`decide`] consuming the clocks: a run that replaces them with the
/// decision's (as `sync` does) saves a copy of every key.
pub fn decide_owned(
    raw: Plan,
    explained: &Explained,
    clocks: Clocks,
    samples: &[Sample],
    p: &Policy,
) -> Decision {
    let old = clocks.into_carried(p.now, p.remove_after, p.settle);
    decide_carried(raw, explained, old, samples, p)
}

fn decide_carried(
    raw: Plan,
    explained: &Explained,
    old: Clocks,
    samples: &[Sample],
    p: &Policy,
) -> Decision {
    let (recovery, marks) = assess(p.recovery, old.recovery, p.now);
    // The master stopped listing agents since the last run: what waited
    // for them starts its hold-down now.
    // (Only on the first run after the last listing: the mark is kept a
    // while longer, see `RecoveryMarks::listed_last`.)
    let listing_ended = match recovery {
        Recovering::Listed { .. } => None,
        _ => old
            .recovery
            .clamped(p.now)
            .listed_last
            .filter(|l| old.observed == Some(*l)),
    };
    let mut d = Decision {
        clocks: Clocks {
            observed: Some(p.now),
            intervals: old.intervals.clone(),
            recovery: marks,
            ..Clocks::default()
        },
        recovery,
        listing_ended,
        ..Decision::default()
    };
    let found = candidates(&raw, explained, &old, p, &mut d);
    let judged = judge(&raw, &found, &old, samples, p, &mut d);
    give_reasons(&found, &judged, p, &mut d);
    // The old clocks are read for the last time above: given back before
    // the plan is trimmed (the run's peak when every task moves).
    drop(old);
    trim(raw, &found, &judged, p, &mut d);
    d
}

/// The removals a plan would make, and the deletes still waiting.
struct Candidates {
    list: Vec<Candidate>,
    /// Deletes still in their hold-down that nothing explains: they count
    /// when the mass-removal check judges the state (not in the window).
    waiting_unexplained: usize,
    /// Updates' answers kept for the failover recovery, by change index.
    keep: Vec<(usize, Vec<String>)>,
}

/// Phase 1: the removals of the raw plan, each with its clocks (carried
/// from `old` into `d.clocks`) and whether the state explains it. Deletes
/// in their hold-down (or waiting for a new leader's agents) wait instead.
fn candidates(
    raw: &Plan,
    explained: &Explained,
    old: &Clocks,
    p: &Policy,
    d: &mut Decision,
) -> Candidates {
    let mut found = Candidates {
        list: Vec::new(),
        waiting_unexplained: 0,
        keep: Vec::new(),
    };
    let is_explained = |name: &str, rtype: RecordType, answer: &str| {
        explained
            .get(&(name.to_string(), rtype))
            .is_some_and(|set| set.contains(answer))
    };
    // Whether what nothing explains waits for the new leader's agents
    // (never silently when unclaimed or with unknown clocks: then every
    // removal is listed as held).
    let recovery = d.recovery;
    let waits = recovery.active()
        && p.claimed
        && p.damaged.is_none()
        && !(p.force && matches!(recovery, Recovering::Listed { .. }));
    for (index, c) in raw.changes.iter().enumerate() {
        match c.action {
            Action::Create => {}
            Action::Update => {
                let removed = c.removed_positions();
                if removed.is_empty() {
                    continue;
                }
                update_candidate(
                    index,
                    c,
                    removed,
                    &is_explained,
                    waits,
                    old,
                    p,
                    d,
                    &mut found,
                );
            }
            Action::Delete => {
                delete_candidate(index, c, &is_explained, waits, old, p, d, &mut found);
            }
        }
    }
    // Grown by doubling: given back its spare room (kept through the run).
    found.list.shrink_to_fit();
    found
}

/// An update's dropped answers: a candidate (with their clocks), and the
/// unexplained ones kept while the failover recovery `waits`.
#[allow(clippy::too_many_arguments)]
fn update_candidate(
    index: usize,
    c: &super::diff::Change,
    removed: Vec<usize>,
    is_explained: &dyn Fn(&str, RecordType, &str) -> bool,
    waits: bool,
    old: &Clocks,
    p: &Policy,
    d: &mut Decision,
    found: &mut Candidates,
) {
    let now = p.now;
    let mut answers = Vec::with_capacity(removed.len());
    let mut since = f64::MIN;
    let mut was_held = None;
    let mut kept = Vec::new();
    let old_answers = c.old.as_ref().map_or(&[][..], |o| &o.answers[..]);
    for at in removed {
        let Some(a) = old_answers.get(at) else {
            continue;
        };
        let key = answer_key(&c.name, c.rtype, a);
        let ex = is_explained(&c.name, c.rtype, a);
        let mut t = old.answers.get(&key).copied().unwrap_or(now).min(now);
        if d.listing_ended.is_some_and(|e| t >= e) {
            t = now;
        }
        if waits && !ex {
            if d.recovery.pins_clocks() {
                t = now;
            }
            old.seen_since(&key, t, now, &mut d.clocks);
            if let Some(check) = old.held.get(&key) {
                d.clocks.held.insert(key.clone(), check.clone());
            }
            d.clocks.answers.insert(key, t);
            kept.push(a.clone());
            continue;
        }
        let eff = old.seen_since(&key, t, now, &mut d.clocks);
        if !ex {
            since = since.max(eff);
            was_held = was_held.or(old.held.get(&key).and_then(|c| Check::parse(c)));
        }
        d.clocks.answers.insert(key.clone(), t);
        answers.push(Removed {
            at,
            key: Some(key),
            since: eff,
            explained: ex,
        });
    }
    if !kept.is_empty() {
        d.recovering += 1;
        found.keep.push((index, kept));
    }
    if answers.is_empty() {
        return;
    }
    let explained = answers.iter().all(|a| a.explained);
    if explained {
        since = answers.iter().map(|a| a.since).fold(f64::MIN, f64::max);
    }
    found.list.push(Candidate {
        index,
        answers,
        since,
        explained,
        key: None,
        was_held,
    });
}

/// A whole-record delete: waiting (the hold-down, the failover recovery)
/// or a candidate.
#[allow(clippy::too_many_arguments)]
fn delete_candidate(
    index: usize,
    c: &super::diff::Change,
    is_explained: &dyn Fn(&str, RecordType, &str) -> bool,
    waits: bool,
    old: &Clocks,
    p: &Policy,
    d: &mut Decision,
    found: &mut Candidates,
) {
    let now = p.now;
    let key = record_key(&c.name, c.rtype);
    let mut t = old.records.get(&key).copied().unwrap_or(now).min(now);
    if d.listing_ended.is_some_and(|e| t >= e) {
        t = now;
    }
    let was_held = old.held.get(&key).and_then(|c| Check::parse(c));
    let unexplained = c.old.as_ref().is_none_or(|o| {
        o.answers.is_empty() || o.answers.iter().any(|a| !is_explained(&c.name, c.rtype, a))
    });
    // A new leader's agents may still be re-registering: what nothing
    // explains waits for them. While the master lists them, its hold-down
    // has not started yet.
    let recovering = unexplained && waits;
    if recovering && d.recovery.pins_clocks() {
        t = now;
    }
    let eff = old.seen_since(&key, t, now, &mut d.clocks);
    d.clocks.records.insert(key.clone(), t);
    // What a check held stays held (listed, exit 3), also when its clock
    // restarted (a gap, a clock step): it never drops back to waiting.
    let in_holddown = now - t < p.remove_after && was_held.is_none();
    if p.claimed && p.damaged.is_none() && (in_holddown || recovering) {
        // A hold survives the wait.
        if let Some(check) = old.held.get(&key) {
            d.clocks.held.insert(key.clone(), check.clone());
        }
        d.waiting += 1;
        if unexplained {
            found.waiting_unexplained += 1;
        }
        let mut due = t + p.remove_after;
        if recovering {
            d.recovering += 1;
            d.recovering_deletes += 1;
            due = due.max(d.recovery.until().unwrap_or(f64::INFINITY));
        }
        if due.is_finite() {
            d.next_due = Some(d.next_due.map_or(due, |x: f64| x.min(due)));
        }
        return;
    }
    let answers: Vec<Removed> = c
        .old
        .as_ref()
        .map(|o| {
            o.answers
                .iter()
                .enumerate()
                .map(|(at, a)| Removed {
                    at,
                    key: None,
                    since: eff,
                    explained: is_explained(&c.name, c.rtype, a),
                })
                .collect()
        })
        .unwrap_or_default();
    let explained = !answers.is_empty() && answers.iter().all(|a| a.explained);
    found.list.push(Candidate {
        index,
        answers,
        since: eff,
        explained,
        key: Some(key),
        was_held,
    });
}

/// What phase 2 found: the check holding each candidate (in order), the
/// answers a hold keeps, and the figures the checks judged with.
struct Judged {
    holds: Vec<Option<Check>>,
    /// For answer removals, the answers a hold keeps (their places in the
    /// candidate's `answers`).
    held_sets: Vec<Option<Vec<usize>>>,
    /// Removals counted in this run's sample.
    counted: usize,
    implausible: Option<String>,
    no_agents: bool,
    mass: bool,
    fresh_unexplained: usize,
    window_removed: usize,
    baseline: f64,
}

/// This run's count for the baseline: the owned records in the zone, or,
/// while the zone is being filled, what it will hold.
fn current_count(raw: &Plan, p: &Policy) -> usize {
    if p.filling { raw.desired } else { raw.owned }
}

/// Phase 2: which check, if any, holds each candidate; releases by
/// `--settle` or `--force` are counted in `d`.
fn judge(
    raw: &Plan,
    found: &Candidates,
    old: &Clocks,
    samples: &[Sample],
    p: &Policy,
    d: &mut Decision,
) -> Judged {
    let now = p.now;
    let candidates = &found.list;
    let waiting_unexplained = found.waiting_unexplained;
    let settled = |since: f64| p.settle.is_some_and(|s| now - since >= s);
    // Saturating: a memory file's figures are not trusted to be small.
    let window_removed: usize = in_window(samples, now, p.window)
        .map(|s| s.removed)
        .fold(0, usize::saturating_add);
    let (baseline, mature) = baseline(samples, now, p.window, current_count(raw, p));
    d.mature = mature;
    let implausible = implausible(p.now_counts, samples, now, p.window, raw.owned);
    let no_agents = implausible.is_some() && p.now_counts.agents == 0;
    let fresh_unexplained = candidates
        .iter()
        .filter(|c| !c.explained && !settled(c.since))
        .count();
    let limit = p.max_share * baseline;
    let mass = baseline >= MASS_CHANGE_MIN_RECORDS as f64
        && window_removed
            .saturating_add(fresh_unexplained)
            .saturating_add(waiting_unexplained) as f64
            > limit;
    let mut holds: Vec<Option<Check>> = Vec::with_capacity(candidates.len());
    // For answer removals, the answers a hold keeps: each answer settles
    // on its own clock, and under the share only answers held earlier stay
    // held (a record whose tasks churn never keeps dead answers forever).
    let mut held_sets: Vec<Option<Vec<usize>>> = Vec::with_capacity(candidates.len());
    let mut counted = 0;
    for c in candidates {
        let change = &raw.changes[c.index];
        let mut held_set = None;
        let hold = if !p.claimed {
            Some(Check::FirstContact)
        } else if p.damaged.is_some() {
            Some(Check::StateFile)
        } else if c.explained && implausible.is_none() && !mass {
            // Explanations are trusted only from a state the checks pass:
            // a suspect state's completed tasks may cover the same answers
            // as running tasks it has lost.
            None
        } else if implausible.is_some() || mass || c.was_held.is_some() {
            // A state with no agents at all is never taken as the
            // cluster's real shape, however long it lasts: it has nothing
            // to serve, and deleting everything for it helps nobody.
            if p.force || (settled(c.since) && !no_agents) {
                d.released += 1;
                None
            } else {
                let check = if implausible.is_some() {
                    Some(Check::ImplausibleState)
                } else if mass {
                    Some(Check::MassRemoval)
                } else {
                    c.was_held
                };
                if change.action == Action::Update {
                    // Places in `c.answers`, ascending.
                    let keep: Vec<usize> = c
                        .answers
                        .iter()
                        .enumerate()
                        .filter(|(_, a)| {
                            (c.explained || !a.explained)
                                && !settled(a.since)
                                && (implausible.is_some()
                                    || mass
                                    || a.key.as_ref().is_some_and(|k| old.held.contains_key(k)))
                        })
                        .map(|(i, _)| i)
                        .collect();
                    if keep.is_empty() {
                        if c.answers.iter().any(|a| settled(a.since)) {
                            d.released += 1;
                        } else {
                            counted += 1;
                            d.counted.push((change.name.clone(), change.rtype));
                        }
                        holds.push(None);
                        held_sets.push(None);
                        continue;
                    }
                    if c.answers.iter().any(|a| !a.explained && settled(a.since)) {
                        d.released += 1;
                    }
                    // Unexplained answers dropped now that no check held
                    // count in the window.
                    if c.answers.iter().enumerate().any(|(i, a)| {
                        !a.explained && !settled(a.since) && keep.binary_search(&i).is_err()
                    }) {
                        counted += 1;
                        d.counted.push((change.name.clone(), change.rtype));
                    }
                    held_set = Some(keep);
                }
                check
            }
        } else {
            counted += 1;
            d.counted.push((change.name.clone(), change.rtype));
            None
        };
        holds.push(hold);
        held_sets.push(held_set);
    }
    d.unexplained = candidates.iter().filter(|c| !c.explained).count();
    d.explained = candidates.len() - d.unexplained;
    Judged {
        holds,
        held_sets,
        counted,
        implausible,
        no_agents,
        mass,
        fresh_unexplained,
        window_removed,
        baseline,
    }
}

/// The reasons of the holds, one per check, with the figures it judged.
fn give_reasons(found: &Candidates, j: &Judged, p: &Policy, d: &mut Decision) {
    let candidates = &found.list;
    let Judged {
        holds,
        implausible,
        mass,
        fresh_unexplained,
        window_removed,
        baseline,
        ..
    } = j;
    let (mass, fresh_unexplained, window_removed, baseline) =
        (*mass, *fresh_unexplained, *window_removed, *baseline);
    let waiting_unexplained = found.waiting_unexplained;
    if !p.claimed && !candidates.is_empty() {
        d.reasons.push((
            Check::FirstContact,
            format!(
                "{} records under {} that the cluster does not produce are left alone (the domain has no ownership marker): exclude them, or run `mesos2ns1 adopt` to let them go",
                candidates.len(),
                p.domain
            ),
        ));
    } else if let Some(why) = &p.damaged
        && !candidates.is_empty()
    {
        d.reasons.push((Check::StateFile, why.clone()));
    } else {
        let count = |check| holds.iter().filter(|h| **h == Some(check)).count();
        if count(Check::ImplausibleState) > 0 {
            d.reasons.push((
                Check::ImplausibleState,
                implausible.clone().unwrap_or_else(|| {
                    "held earlier, they stay held until absent for --settle".to_string()
                }),
            ));
        }
        if count(Check::MassRemoval) > 0 {
            d.reasons.push((
                Check::MassRemoval,
                if mass {
                    format!(
                        "{} unexplained removals now ({fresh_unexplained} due, {waiting_unexplained} in their hold-down) and {window_removed} in the last {:.0} s exceed {:.1}% (--max-change-percent) of {baseline} owned records ({})",
                        fresh_unexplained + waiting_unexplained,
                        p.window,
                        p.max_share * 100.0,
                        if d.mature {
                            "the median over the window"
                        } else {
                            "the smallest count of a window younger than half its length"
                        }
                    )
                } else {
                    "held earlier, they stay held until absent for --settle".to_string()
                },
            ));
        }
    }
}

/// Phase 3: the plan to apply. Waiting deletes and held removals leave it;
/// an update whose answers are held publishes the union. Records this
/// run's sample.
fn trim(raw: Plan, found: &Candidates, j: &Judged, p: &Policy, d: &mut Decision) {
    let candidates = &found.list;
    let (holds, held_sets, no_agents) = (&j.holds, &j.held_sets, j.no_agents);
    let mut raw = raw;
    let mut keep: Vec<bool> = vec![true; raw.changes.len()];
    let mut candidate = vec![false; raw.changes.len()];
    for c in candidates {
        candidate[c.index] = true;
    }
    for (index, c) in raw.changes.iter().enumerate() {
        if c.action == Action::Delete && !candidate[index] {
            keep[index] = false; // waiting for the hold-down
        }
    }
    // Answers kept for the failover recovery stay published.
    for (index, answers) in &found.keep {
        if !union(&mut raw.changes[*index], answers.clone()) && !candidate[*index] {
            keep[*index] = false;
        }
    }
    for ((cand, hold), held_set) in candidates.iter().zip(holds).zip(held_sets) {
        let Some(check) = *hold else { continue };
        let since = held_set.as_ref().map_or(cand.since, |set| {
            set.iter()
                .map(|&i| cand.answers[i].since)
                .fold(f64::MIN, f64::max)
        });
        let release_at = match check {
            Check::FirstContact | Check::StateFile => None,
            Check::ImplausibleState if no_agents => None,
            _ => p.settle.map(|s| since + s),
        };
        let held: Vec<&Removed> = match held_set {
            Some(set) => set.iter().map(|&i| &cand.answers[i]).collect(),
            None => cand
                .answers
                .iter()
                .filter(|a| {
                    check == Check::FirstContact
                        || check == Check::StateFile
                        || cand.explained
                        || !a.explained
                })
                .collect(),
        };
        let held_answers: Vec<String> = held
            .iter()
            .map(|a| answer_text(&raw, cand.index, a).to_string())
            .collect();
        if matches!(check, Check::ImplausibleState | Check::MassRemoval) {
            let label = Key::from(check.to_string());
            // An update's held answers, or the whole record's key.
            let keys = match held_set {
                Some(_) => held.iter().filter_map(|a| a.key.as_ref()).collect(),
                None => cand.key.iter().collect::<Vec<_>>(),
            };
            for k in keys {
                d.clocks.held.insert(k.clone(), label.clone());
            }
        }
        let change = &mut raw.changes[cand.index];
        d.held.push(Held {
            action: change.action,
            name: change.name.clone(),
            rtype: change.rtype,
            answers: held_answers.clone(),
            check,
            since,
            release_at,
        });
        match change.action {
            Action::Delete => keep[cand.index] = false,
            _ => {
                // Publish the union: the new answers stay reachable, nothing
                // held is removed.
                if !union(change, held_answers) {
                    keep[cand.index] = false;
                }
            }
        }
    }
    let order_counted = keep_srv_targets(&raw, &mut keep, d);
    let mut i = 0;
    raw.changes.retain(|_| {
        i += 1;
        keep[i - 1]
    });
    d.plan = raw;
    d.sample = Some(Sample {
        time: p.now,
        owned: Some(d.plan.owned),
        agents: p.now_counts.agents,
        running_tasks: p.now_counts.running_tasks,
        removed: j.counted.saturating_sub(order_counted),
        target: Some(d.plan.desired),
        filling: p.filling,
    });
}

/// Adds `answers` to an update's new answers (the union is published);
/// false when the update is left with nothing to change.
pub(super) fn union(change: &mut super::diff::Change, answers: Vec<String>) -> bool {
    let (Some(o), Some(n)) = (&change.old, &mut change.new) else {
        return true;
    };
    n.answers.reserve_exact(answers.len());
    n.answers.extend(answers);
    n.answers.sort();
    n.answers.dedup();
    let ttl_differs = o.ttl.is_some_and(|t| Some(t) != n.ttl);
    n.answers != o.answers || ttl_differs
}

/// Order under holds: an A/AAAA record is not deleted while an SRV answer
/// the zone keeps after this run (held, waiting, kept for the failover
/// recovery, or published) still names it; the delete waits for a later
/// run (the apply already orders the deletes after SRV changes made in
/// the same run). Returns how many of the deferred deletes were counted
/// in the window. Desired SRV records the plan does not touch name only
/// desired names (the generator makes the target's address records with
/// every SRV answer), so they need no look.
fn keep_srv_targets(raw: &Plan, keep: &mut [bool], d: &mut Decision) -> usize {
    use crate::ns1::normalize_name;
    let target = |a: &String| a.split_whitespace().nth(3).map(normalize_name);
    let mut named = std::collections::HashSet::new();
    for (i, c) in raw.changes.iter().enumerate() {
        if c.rtype != RecordType::SRV {
            continue;
        }
        // What the zone holds for this SRV after the run: its old answers
        // if the change does not go, else the new ones (none for a delete).
        let stays = if keep[i] {
            c.new.as_ref()
        } else {
            c.old.as_ref()
        };
        named.extend(
            stays
                .into_iter()
                .flat_map(|r| r.answers.iter().filter_map(target)),
        );
    }
    let mut counted = 0;
    for (i, c) in raw.changes.iter().enumerate() {
        if keep[i]
            && c.action == Action::Delete
            && matches!(c.rtype, RecordType::A | RecordType::AAAA)
            && named.contains(&normalize_name(&c.name))
        {
            keep[i] = false;
            d.waiting += 1;
            d.srv_named += 1;
            if let Some(pos) = d
                .counted
                .iter()
                .position(|(n, t)| *n == c.name && *t == c.rtype)
            {
                d.counted.remove(pos);
                counted += 1;
            }
        }
    }
    counted
}
