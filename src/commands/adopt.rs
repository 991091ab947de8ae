//! `adopt`: what claiming the domain deletes (records under it that the
//! cluster does not produce); with `--yes`, exactly what the last preview
//! listed is deleted and the ownership marker written. Runs inside the
//! envelope of [`super::sync::run`] (lock, safety files, summary).
//!
//! `adopt` is of the domain only: the listed reverse zones are shared
//! with the network's other PTRs, so it never takes over or deletes a PTR
//! record there (the next `sync` claims each reverse zone and publishes
//! the cluster's PTRs beside the others).

use super::sync::{PassContext, Snapshot};
use super::{claim, print_plan};
use crate::exit::{Exit, Fail};
use crate::ns1::normalize_name;
use crate::plan::{self, Claim, Ownership, Plan, claim_of};
use crate::report::Summary;
use crate::state_dir::{self, Safety};
use crate::text;
use crate::zone::{Session, ZoneView};

/// `adopt` over a cluster snapshot and the zone view.
pub fn adopt(
    ctx: &PassContext<'_>,
    yes: bool,
    snapshot: Snapshot,
    view: ZoneView,
    zone: &mut Session<'_>,
    safety: &mut Safety,
    summary: &mut Summary,
) -> Result<Exit, Fail> {
    let cfg = ctx.cfg;
    let own_domain = normalize_name(&cfg.domain);
    if !cfg.reverse_zones.is_empty() {
        log::info!(
            "adopt is of the domain {own_domain} only: the reverse zones are left as they are (the next sync claims them)"
        );
    }
    safety.owned = state_dir::load_owned(&cfg.state_dir, &own_domain);
    let cluster = claim::cluster_id(cfg, &safety.owned);
    let found = claim_of(&view.records, &own_domain, &cluster);
    let ledger = safety.owned.ledger.clone().unwrap_or_default();
    let now_counts = plan::Baseline {
        agents: snapshot.counts.agents,
        running_tasks: snapshot.counts.running_tasks,
    };
    // Everything in scope (below the domain, not excluded, not at or
    // below another claim, never linked, advanced or wildcard), as if the
    // ledger held it all: what adopting hands over.
    let scope = Ownership::new(&cfg.domain, &cfg.exclude).with_zone(&view.records, None);
    let unledgered: Vec<(String, String)> = view
        .records
        .iter()
        .filter(|r| scope.in_scope(r))
        .map(|r| (normalize_name(&r.domain), r.rtype.to_ascii_uppercase()))
        .filter(|(n, t)| !ledger.contains(&plan::ledger_key(n, t)))
        .collect();
    let raw = plan::compute(snapshot.desired, view.records, &scope, cfg.ttl);
    summary.note_plan(&raw);
    summary.note_stats(&zone.stats());
    if found == Claim::Ours && unledgered.is_empty() {
        summary.reason = format!(
            "{own_domain} is claimed by this cluster ({cluster}) and holds nothing it did not publish; nothing to do"
        );
        return Ok(Exit::Ok);
    }
    if let Some(why) = plan::implausible(
        now_counts,
        &safety.memory.samples,
        text::now(),
        cfg.window as f64,
        raw.owned,
    ) {
        return Err(Fail::new(
            Exit::Refused,
            format!("adopt refused by the implausible-state check: {why}; nothing was written"),
        ));
    }
    let mut removals = removals(&raw);
    // The records kept as they are but handed over (the next syncs own
    // them), one line each after the removals.
    let listed: std::collections::HashSet<(String, String)> = removals
        .changes
        .iter()
        .map(|c| (c.name.clone(), c.rtype.to_string()))
        .collect();
    let handover: Vec<String> = unledgered
        .iter()
        .filter(|k| !listed.contains(*k))
        .map(|(n, t)| format!("take over {n} {t}"))
        .collect();
    print_plan(&removals);
    for h in &handover {
        println!("{}", text::escape_control(h));
    }
    let takeover = match &found {
        Claim::Foreign(ids) => format!("the claim of cluster {} and ", ids.join(", ")),
        Claim::Legacy => "the 0.2.0 claim and ".to_string(),
        _ => String::new(),
    };
    // The claim the preview showed is part of what `--yes` does: one
    // made in between (another cluster's) is not taken over unseen.
    let claim_line = format!("claim found: {}", claim_said(&found));
    if !yes {
        let said = [takeover.as_str(), claim_line.as_str()];
        return preview(ctx, &own_domain, &removals, &handover, said, summary);
    }
    // Only what the last preview listed, to the letter (same answers and
    // TTL), and only if that preview is recent and of this domain.
    let Some(shown) = state_dir::load_adopt_preview(&cfg.state_dir, &own_domain, text::now())
    else {
        return Err(Fail::new(
            Exit::Refused,
            format!(
                "adopt --yes: no recent preview of {own_domain}; run `mesos2ns1 adopt` first to see what it deletes; nothing was written"
            ),
        ));
    };
    claim_unchanged(&shown, &claim_line, &own_domain)?;
    let before = removals.changes.len();
    removals.changes.retain(|c| shown.contains(&c.to_string()));
    if removals.changes.len() < before {
        log::warn!(
            "adopt --yes: {} removals were not in the preview and are left to the next syncs' checks",
            before - removals.changes.len()
        );
    }
    let mut new_ledger = ledger;
    for (n, t) in &unledgered {
        if shown.contains(&format!("take over {n} {t}")) {
            new_ledger.insert(plan::ledger_key(n, t));
        }
    }
    for c in &removals.changes {
        new_ledger.insert(plan::ledger_key(&c.name, c.rtype.as_str()));
    }
    // Remember, then write: the ledger first, then the marker.
    claim::save_ledger(cfg, &new_ledger)
        .map_err(|e| Fail::new(Exit::Failed, format!("{e}; nothing was written")))?;
    if found != Claim::Ours {
        zone.write_marker(
            &cfg.zone,
            &own_domain,
            &cluster,
            cfg.ttl,
            found != Claim::None,
        )
        .map_err(|e| {
            Fail::new(
                Exit::Failed,
                format!("could not write the ownership marker: {e}; nothing else was written"),
            )
        })?;
    }
    claim::remember_claim(cfg, &mut safety.owned, &cluster, ctx.now);
    state_dir::remove_adopt_preview(&cfg.state_dir);
    let until = ctx.write_deadline(Default::default());
    let applied = zone.apply(&cfg.zone, &cfg.domain, cfg.ttl, &removals, until);
    summary.note_stats(&zone.close());
    let after = claim::ledger_after(new_ledger, &removals, &applied.not_done);
    if let Err(e) = claim::save_ledger(cfg, &after) {
        log::warn!("{e}");
    }
    let exit = summary.note_applied(&removals, &applied);
    summary.foreign = 0;
    summary.collisions = 0;
    summary.reason = format!(
        "claimed {own_domain} as cluster {cluster}; {}",
        summary.reason
    );
    Ok(exit)
}

/// `adopt --yes` takes over only the claim its preview showed.
fn claim_unchanged(
    shown: &std::collections::HashSet<String>,
    claim_line: &str,
    own_domain: &str,
) -> Result<(), Fail> {
    if shown.contains(claim_line) {
        return Ok(());
    }
    Err(Fail::new(
        Exit::Refused,
        format!(
            "adopt --yes: the claim on {own_domain} changed since the preview ({claim_line}); nothing was written: run `mesos2ns1 adopt` again to see what adopting does now"
        ),
    ))
}

/// The claim found, in the words the preview keeps.
fn claim_said(found: &Claim) -> String {
    match found {
        Claim::None => "none".to_string(),
        Claim::Ours => "this cluster".to_string(),
        Claim::Legacy => "a 0.2.0 marker".to_string(),
        Claim::Foreign(ids) => format!("cluster {}", ids.join(", ")),
    }
}

/// Only the removals of a plan: the next sync makes the additions.
fn removals(raw: &Plan) -> Plan {
    let mut removals = raw.clone();
    removals.changes.retain(|c| match c.action {
        plan::Action::Create => false,
        plan::Action::Delete => true,
        plan::Action::Update => !c.removed_answers().is_empty(),
    });
    removals
}

/// `adopt` without `--yes`: saves what it showed, so that `adopt --yes`
/// deletes exactly that, nothing the cluster lost in between (a
/// failover's partial state).
fn preview(
    ctx: &PassContext<'_>,
    own_domain: &str,
    removals: &Plan,
    handover: &[String],
    [takeover, claim_line]: [&str; 2],
    summary: &mut Summary,
) -> Result<Exit, Fail> {
    let n = removals.changes.len();
    let mut lines: Vec<String> = removals.changes.iter().map(|c| c.to_string()).collect();
    lines.extend(handover.iter().cloned());
    lines.push(claim_line.to_string());
    state_dir::save_adopt_preview(&ctx.cfg.state_dir, own_domain, text::now(), &lines)
        .map_err(|e| Fail::new(Exit::Failed, format!("cannot save the adopt preview: {e}")))?;
    summary.pending = n;
    summary.reason = format!(
        "adopting {own_domain} would take over {takeover}delete or change the {n} records listed above \
         (records under {own_domain} that the cluster does not produce) and hand over the {} records \
         listed as `take over`; nothing was written: \
         run `mesos2ns1 adopt --yes` within an hour to do exactly that",
        handover.len()
    );
    Ok(Exit::Refused)
}
