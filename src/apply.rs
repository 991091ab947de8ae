//! Carries out a plan through the NS1 client: creates and updates before
//! deletes, one failed change does not stop the others, and nothing new is
//! started past the deadline.

use crate::ns1::{Ns1Api, Ns1Error};
use crate::plan::{Action, Change, Plan};
use std::time::Instant;

/// What happened to the changes of one plan.
#[derive(Debug, Default)]
pub struct Applied {
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    /// Changes that failed, with the error, in one line each.
    pub failed: Vec<(Change, String)>,
    /// Changes not started because the deadline came (or a failure made
    /// the rest pointless, such as a rejected key).
    pub postponed: usize,
}

impl Applied {
    pub fn remaining(&self) -> usize {
        self.failed.len() + self.postponed
    }
}

/// Errors after which every further request would fail the same way.
fn is_fatal(e: &Ns1Error) -> bool {
    matches!(
        e,
        Ns1Error::Auth { .. } | Ns1Error::ZoneNotFound { .. } | Ns1Error::Deadline { .. }
    )
}

pub fn apply(
    client: &mut dyn Ns1Api,
    zone: &str,
    ttl: u32,
    plan: &Plan,
    deadline: Instant,
) -> Applied {
    let mut out = Applied::default();
    // The plan is sorted creates, updates, deletes; keep that order.
    for (i, change) in plan.changes.iter().enumerate() {
        if Instant::now() >= deadline {
            out.postponed = plan.changes.len() - i;
            log::warn!(
                "deadline reached: {} changes left for the next run",
                out.postponed
            );
            break;
        }
        let answers = change
            .new
            .as_ref()
            .map(|d| d.answers.as_slice())
            .unwrap_or(&[]);
        let rtype = change.rtype.as_str();
        let result = match change.action {
            Action::Create => client.create(zone, &change.name, rtype, ttl, answers),
            Action::Update => client.update(zone, &change.name, rtype, ttl, answers),
            Action::Delete => client.delete(zone, &change.name, rtype),
        };
        match result {
            Ok(()) => {
                log::info!("{change}");
                match change.action {
                    Action::Create => out.created += 1,
                    Action::Update => out.updated += 1,
                    Action::Delete => out.deleted += 1,
                }
            }
            Err(Ns1Error::Deadline { .. }) => {
                out.postponed = plan.changes.len() - i;
                log::warn!(
                    "deadline reached: {} changes left for the next run",
                    out.postponed
                );
                break;
            }
            Err(e) => {
                log::error!("{} {} {} failed: {e}", change.action, change.name, rtype);
                let fatal = is_fatal(&e);
                out.failed.push((change.clone(), e.to_string()));
                if fatal {
                    out.postponed = plan.changes.len() - i - 1;
                    break;
                }
            }
        }
    }
    out
}
