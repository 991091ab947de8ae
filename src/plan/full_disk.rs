//! The decision of a pass that cannot save its safety state (a full
//! disk): every removal held.

use super::clocks::{Clocks, answer_key, record_key};
use super::diff::Action;
use super::held::{Check, Held};
use super::safety::{Decision, union};
use crate::records::RecordType;

/// The decision of a pass that could not save its safety state (a full
/// disk): every removal is held by the state-file check, since the next
/// run would not know what this one did. Every addition still goes, and
/// every update publishes its new answers with the old ones. Made from the
/// decision itself (no copy of the raw plan is kept for it): what it
/// would remove now becomes a state-file hold, what its checks held stays
/// held under the state-file check, what waits keeps waiting. `clocks` are
/// the decision's, for the holds' times.
pub fn hold_every_removal(mut d: Decision, clocks: &Clocks, why: String, now: f64) -> Decision {
    let changes = std::mem::take(&mut d.plan.changes);
    let mut kept = Vec::with_capacity(changes.len());
    let mut held = std::mem::take(&mut d.held);
    for h in &mut held {
        h.check = Check::StateFile;
        h.release_at = None;
    }
    // A record's held answers, to add what else it would remove.
    let mut at: std::collections::HashMap<(String, RecordType), usize> = held
        .iter()
        .enumerate()
        .filter(|(_, h)| h.action == Action::Update)
        .map(|(i, h)| ((h.name.clone(), h.rtype), i))
        .collect();
    for mut c in changes {
        let removed: Vec<String> = match c.action {
            Action::Create => Vec::new(),
            Action::Delete => c.old.as_ref().map_or(Vec::new(), |o| o.answers.clone()),
            Action::Update => c.removed_answers().into_iter().cloned().collect(),
        };
        if c.action == Action::Create || (c.action == Action::Update && removed.is_empty()) {
            kept.push(c);
            continue;
        }
        let since = if c.action == Action::Delete {
            clocks.records.get(&*record_key(&c.name, c.rtype)).copied()
        } else {
            removed
                .iter()
                .filter_map(|a| {
                    clocks
                        .answers
                        .get(&*answer_key(&c.name, c.rtype, a))
                        .copied()
                })
                .reduce(f64::max)
        }
        .unwrap_or(now);
        match at.get(&(c.name.clone(), c.rtype)) {
            Some(&i) if c.action == Action::Update => {
                let h = &mut held[i];
                h.answers.extend(removed.iter().cloned());
                h.answers.sort();
                h.answers.dedup();
                h.since = h.since.max(since);
            }
            _ => {
                if c.action == Action::Update {
                    at.insert((c.name.clone(), c.rtype), held.len());
                }
                held.push(Held {
                    action: c.action,
                    name: c.name.clone(),
                    rtype: c.rtype,
                    answers: removed.clone(),
                    check: Check::StateFile,
                    since,
                    release_at: None,
                });
            }
        }
        if c.action == Action::Update && union(&mut c, removed) {
            kept.push(c);
        }
    }
    d.plan.changes = kept;
    // The reason only with something held (else the run says that no
    // removal was pending).
    d.reasons = if held.is_empty() {
        Vec::new()
    } else {
        vec![(Check::StateFile, why)]
    };
    d.held = held;
    d.released = 0;
    d.counted.clear();
    d
}
