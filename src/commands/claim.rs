//! What this cluster owns in its domain, for one pass: whose claim the
//! marker makes, the cluster id, the ledger of published records (loaded,
//! or seeded), and the ownership rule built from them.
//!
//! * The marker `_mesos2ns1.<domain>` names the cluster
//!   (`cluster=<id>`). A marker naming another cluster stops the pass
//!   before any write ([`Survey`] is then a refusal, exit 5).
//! * The id is the configured `clusterId`, else the one this state dir
//!   claimed with (`claim.json`, sticky), else the derived one.
//! * A 0.2.0 marker (no cluster) is upgraded in place by a state dir that
//!   synced before (0.2.0's `memory.json` or `holddown.json`) or that
//!   claimed the domain; any other treats it as another's claim.
//! * The ledger: only records the tool published are its own. A state
//!   dir without one, under its own (or upgraded) marker, seeds it from
//!   what it knows: the desired records, 0.2.0's hold-down clocks, and the
//!   zone's records whose names fit this cluster's Mesos-DNS grammar.

use crate::config::Config;
use crate::ns1::{ZoneRecord, normalize_name};
use crate::plan::{
    Action, Claim, Ledger, Ownership, Plan, claim_of, fits_grammar, framework_labels, ledger_key,
    marker_name,
};
use crate::records::Record;
use crate::state_dir::{self, ClaimFile, Owned, Safety};
use std::collections::HashSet;

/// How the marker must be written before the pass writes anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerWrite {
    /// It names this cluster already.
    None,
    /// No marker: create it (first contact, or a marker someone deleted).
    Create,
    /// A 0.2.0 marker: replace its answers by ours (one marker).
    Upgrade,
}

/// The ownership of one pass.
#[derive(Debug)]
pub struct Survey {
    pub cluster: String,
    pub claim: Claim,
    pub marker: MarkerWrite,
    /// The ledger as this pass starts (loaded, or seeded).
    pub ledger: Ledger,
    /// Why the ledger was seeded, if it was.
    pub seeded: Option<String>,
    /// The rule: in scope, bounded by nested claims, and in the ledger.
    pub own: Ownership,
    /// Keys of the zone's records in scope (to prune the ledger).
    pub zone_keys: HashSet<u64>,
}

/// The cluster id of this state dir for `domain`: configured, else the
/// one it claimed with, else derived.
pub fn cluster_id(cfg: &Config, owned: &Owned) -> String {
    match (&cfg.cluster_id, &owned.claim) {
        (Some(id), _) => id.clone(),
        (None, Some(c)) => c.cluster.clone(),
        (None, None) => cfg.derived_cluster_id(),
    }
}

/// What to tell an operator about a claim that is not ours.
pub fn refusal(domain: &str, claim: &Claim, ours: &str) -> Option<String> {
    let name = marker_name(domain);
    match claim {
        Claim::Foreign(ids) => {
            let theirs = ids
                .iter()
                .filter(|i| *i != ours)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            Some(format!(
                "{domain} is claimed by another cluster: {name} names cluster {theirs}{}, and this cluster is {ours}; nothing was written in it. \
                 If that claim is this cluster's (a master with a new state dir, or a changed masters list), set clusterId (--cluster-id) to {theirs}; \
                 if the domain must pass to this cluster, run `mesos2ns1 adopt` and then `mesos2ns1 adopt --yes`; \
                 else give this cluster a domain of its own",
                if ids.iter().any(|i| i == ours) {
                    " (and this cluster: the marker is contested)"
                } else {
                    ""
                }
            ))
        }
        Claim::Legacy => Some(format!(
            "{domain} is claimed by a mesos2ns1 0.2.0 marker ({name}, no cluster named) that this state dir did not write; nothing was written in it. \
             If it is this cluster's (a new master or a new state dir), run `mesos2ns1 adopt` and then `mesos2ns1 adopt --yes` to take it over with cluster id {ours}; \
             else give this cluster a domain of its own"
        )),
        _ => None,
    }
}

/// The survey of a zone view, or the refusal to write in it.
pub fn survey(
    cfg: &Config,
    desired: &[Record],
    explained: &crate::plan::Explained,
    zone: &[ZoneRecord],
    safety: &Safety,
) -> Result<Survey, String> {
    let domain = normalize_name(&cfg.domain);
    let owned = &safety.owned;
    let cluster = cluster_id(cfg, owned);
    let claim = claim_of(zone, &domain, &cluster);
    let claimed_here = owned
        .claim
        .as_ref()
        .is_some_and(|c| c.domain == domain && c.cluster == cluster);
    let marker = match &claim {
        Claim::Ours => MarkerWrite::None,
        Claim::None => MarkerWrite::Create,
        Claim::Legacy if claimed_here || owned.synced_before => MarkerWrite::Upgrade,
        other => return Err(refusal(&domain, other, &cluster).unwrap_or_default()),
    };
    let scope = Ownership::new(&cfg.domain, &cfg.exclude).with_zone(zone, None);
    let zone_keys: HashSet<u64> = zone
        .iter()
        .filter(|r| scope.in_scope(r))
        .map(|r| ledger_key(&r.domain, &r.rtype.to_ascii_uppercase()))
        .collect();
    // Ours: the marker names us, a 0.2.0 marker we upgrade, or a marker
    // someone deleted from a domain this state dir claimed.
    let ours = claim == Claim::Ours || marker == MarkerWrite::Upgrade || claimed_here;
    let (ledger, seeded) = match (&owned.ledger, ours) {
        (Some(l), _) => (l.clone(), None),
        (None, true) => {
            let why = owned
                .ledger_note
                .clone()
                .unwrap_or_else(|| "this state dir has no ledger yet".to_string());
            (
                seed(&domain, desired, explained, zone, &scope, safety),
                Some(why),
            )
        }
        // First contact: only what this cluster publishes from now on.
        (None, false) => (Ledger::new(), None),
    };
    let own = scope.clone().with_zone(zone, Some(ledger.clone()));
    Ok(Survey {
        cluster,
        claim,
        marker,
        ledger,
        seeded,
        own,
        zone_keys,
    })
}

/// The ledger a state dir without one starts with, under its own marker:
/// the desired records, the records 0.2.0's hold-down clocks knew, and the
/// zone's records in scope whose names fit this cluster's grammar.
fn seed(
    domain: &str,
    desired: &[Record],
    explained: &crate::plan::Explained,
    zone: &[ZoneRecord],
    scope: &Ownership,
    safety: &Safety,
) -> Ledger {
    let mut ledger: Ledger = desired
        .iter()
        .map(|r| ledger_key(&r.name, r.rtype.as_str()))
        .collect();
    let clocks = &safety.clocks;
    for key in clocks.records.keys().chain(clocks.answers.keys()) {
        let mut f = key.split(' ');
        if let (Some(name), Some(rtype)) = (f.next(), f.next()) {
            ledger.insert(ledger_key(name, rtype));
        }
    }
    let frameworks = framework_labels(
        desired
            .iter()
            .map(|r| r.name.as_str())
            .chain(explained.keys().map(|k| k.0.as_str())),
        domain,
    );
    for r in zone.iter().filter(|r| scope.in_scope(r)) {
        let name = normalize_name(&r.domain);
        if fits_grammar(&name, domain, &frameworks) {
            ledger.insert(ledger_key(&name, &r.rtype.to_ascii_uppercase()));
        }
    }
    ledger
}

/// The ledger to keep before the plan is applied: what is still in the
/// zone, the records in the zone with exactly the cluster's answers
/// (`Plan::joined`), and every record the plan is about to create
/// (remember, then apply).
pub fn ledger_before(survey: &Survey, plan: &Plan) -> Ledger {
    let mut l: Ledger = survey
        .ledger
        .iter()
        .copied()
        .filter(|k| survey.zone_keys.contains(k))
        .collect();
    for (name, rtype) in &plan.joined {
        l.insert(ledger_key(name, rtype.as_str()));
    }
    for c in &plan.changes {
        if c.action == Action::Create {
            l.insert(ledger_key(&c.name, c.rtype.as_str()));
        }
    }
    l
}

/// The ledger after the apply: creates that did not happen (postponed, or
/// refused because a record was in place) and deletes that did leave it.
pub fn ledger_after(mut ledger: Ledger, plan: &Plan, not_done: &[usize]) -> Ledger {
    let not_done: HashSet<usize> = not_done.iter().copied().collect();
    for (i, c) in plan.changes.iter().enumerate() {
        let key = ledger_key(&c.name, c.rtype.as_str());
        match c.action {
            Action::Create if not_done.contains(&i) => {
                ledger.remove(&key);
            }
            Action::Delete if !not_done.contains(&i) => {
                ledger.remove(&key);
            }
            _ => {}
        }
    }
    ledger
}

/// Saves the ledger; a failure is said and returned.
pub fn save_ledger(cfg: &Config, ledger: &Ledger) -> Result<(), String> {
    state_dir::save_ledger(&cfg.state_dir, &normalize_name(&cfg.domain), ledger)
        .map_err(|e| format!("cannot save the ledger of published records: {e}"))
}

/// Records the claim in the state dir (sticky id), if not already.
pub fn remember_claim(cfg: &Config, owned: &mut Owned, cluster: &str, now: f64) {
    let domain = normalize_name(&cfg.domain);
    if owned
        .claim
        .as_ref()
        .is_some_and(|c| c.domain == domain && c.cluster == cluster)
    {
        return;
    }
    let claim = ClaimFile {
        domain,
        cluster: cluster.to_string(),
        time: now,
    };
    match state_dir::save_claim(&cfg.state_dir, &claim) {
        Ok(()) => owned.claim = Some(claim),
        Err(e) => log::warn!("could not save the claim file: {e}"),
    }
}

/// The warnings about records the tool leaves alone: at most `SHOWN`
/// names each.
pub fn notes(plan: &Plan, domain: &str) -> Vec<String> {
    const SHOWN: usize = 5;
    let show = |v: &[(String, crate::records::RecordType)]| {
        let mut s: Vec<String> = v
            .iter()
            .take(SHOWN)
            .map(|(n, t)| format!("{n} {t}"))
            .collect();
        if v.len() > SHOWN {
            s.push(format!("and {} more", v.len() - SHOWN));
        }
        crate::text::escape_control(&s.join(", ")).into_owned()
    };
    let mut out = Vec::new();
    if !plan.unowned.is_empty() {
        out.push(format!(
            "{} records under {domain} were not published by mesos2ns1 and are left alone ({}): exclude them (--exclude), or run `mesos2ns1 adopt` to remove them",
            plan.unowned.len(),
            show(&plan.unowned)
        ));
    }
    if !plan.collisions.is_empty() {
        out.push(format!(
            "{} records the cluster produces are in the zone but were not published by mesos2ns1, so they are left as they are ({}): run `mesos2ns1 adopt` to hand them over",
            plan.collisions.len(),
            show(&plan.collisions)
        ));
    }
    out
}
