//! `adopt`: what claiming the domain deletes (records under it that the
//! cluster does not produce); with `--yes`, exactly what the last preview
//! listed is deleted and the ownership marker written. Runs inside the
//! envelope of [`super::sync::run`] (lock, safety files, summary).

use super::print_plan;
use super::sync::{PassContext, Snapshot, compare};
use crate::exit::{Exit, Fail};
use crate::ns1::normalize_name;
use crate::plan::{self, Plan, is_claimed, marker_name};
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
    safety: &Safety,
    summary: &mut Summary,
) -> Result<Exit, Fail> {
    let cfg = ctx.cfg;
    let own_domain = normalize_name(&cfg.domain);
    let claimed = is_claimed(&view.records, &own_domain);
    let now_counts = plan::Baseline {
        agents: snapshot.counts.agents,
        running_tasks: snapshot.counts.running_tasks,
    };
    let raw = compare(cfg, snapshot.desired, view, zone, summary);
    if claimed {
        summary.reason = format!(
            "{own_domain} is already claimed ({} exists); nothing to do",
            marker_name(&own_domain)
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
    print_plan(&removals);
    if !yes {
        return preview(ctx, &own_domain, &removals, summary);
    }
    // Only what the last preview listed, to the letter (same answers and
    // TTL), and only if that preview is recent and of this domain.
    let Some(listed) = state_dir::load_adopt_preview(&cfg.state_dir, &own_domain, text::now())
    else {
        return Err(Fail::new(
            Exit::Refused,
            format!(
                "adopt --yes: no recent preview of {own_domain}; run `mesos2ns1 adopt` first to see what it deletes; nothing was written"
            ),
        ));
    };
    let before = removals.changes.len();
    removals.changes.retain(|c| listed.contains(&c.to_string()));
    if removals.changes.len() < before {
        log::warn!(
            "adopt --yes: {} removals were not in the preview and are left to the next syncs' checks",
            before - removals.changes.len()
        );
    }
    zone.write_marker(&cfg.zone, &own_domain, cfg.ttl)
        .map_err(|e| {
            Fail::new(
                Exit::Failed,
                format!("could not write the ownership marker: {e}; nothing else was written"),
            )
        })?;
    state_dir::remove_adopt_preview(&cfg.state_dir);
    let applied = zone.apply(&cfg.zone, &cfg.domain, cfg.ttl, &removals, ctx.deadline);
    summary.note_stats(&zone.close());
    let exit = summary.note_applied(&removals, &applied);
    summary.reason = format!("claimed {own_domain}; {}", summary.reason);
    Ok(exit)
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
    summary: &mut Summary,
) -> Result<Exit, Fail> {
    let n = removals.changes.len();
    let lines: Vec<String> = removals.changes.iter().map(|c| c.to_string()).collect();
    state_dir::save_adopt_preview(&ctx.cfg.state_dir, own_domain, text::now(), &lines)
        .map_err(|e| Fail::new(Exit::Failed, format!("cannot save the adopt preview: {e}")))?;
    summary.pending = n;
    summary.reason = format!(
        "adopting {own_domain} would delete or change the {n} records listed above \
         (records under {own_domain} that the cluster does not produce); nothing was written: \
         run `mesos2ns1 adopt --yes` within an hour to do exactly that"
    );
    Ok(Exit::Refused)
}
