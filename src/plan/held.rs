//! Held removals: the checks that hold them and what the safety decision
//! keeps in the zone.

use super::diff::Action;
use crate::records::RecordType;
use crate::text::format_time;
use std::fmt;

/// What holds a removal back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Check {
    /// The domain is not claimed (no marker record).
    FirstContact,
    /// The hold-down clocks or the baseline could not be read.
    StateFile,
    /// The state lists no agents, or fewer than half the agents or running
    /// tasks of the window's median.
    ImplausibleState,
    /// Unexplained removals over the window exceed the share of the
    /// window's median of owned records.
    MassRemoval,
}

impl Check {
    pub(super) fn parse(s: &str) -> Option<Check> {
        match s {
            "implausible-state" => Some(Check::ImplausibleState),
            "mass-removal" => Some(Check::MassRemoval),
            _ => None,
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Check::FirstContact => "first-contact",
            Check::StateFile => "state-file",
            Check::ImplausibleState => "implausible-state",
            Check::MassRemoval => "mass-removal",
        })
    }
}

/// One removal held back.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    /// Delete (the whole record) or Update (answers dropped).
    pub action: Action,
    pub name: String,
    pub rtype: RecordType,
    /// The answers that stay in the zone because of the hold.
    pub answers: Vec<String>,
    pub check: Check,
    /// Absent from the desired set since (Unix time).
    pub since: f64,
    /// When it will be released if it stays absent (None: never by itself).
    pub release_at: Option<f64>,
}

impl fmt::Display for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.action {
            Action::Delete => "delete",
            _ => "remove answers from",
        };
        write!(
            f,
            "held ({}): {what} {} {} [{}]; release: {}",
            self.check,
            self.name,
            self.rtype,
            self.answers.join(", "),
            match self.release_at {
                Some(t) => format!("{} if still absent", format_time(t)),
                None if self.check == Check::FirstContact => {
                    "never by itself (exclude it, or run `mesos2ns1 adopt`)".to_string()
                }
                None => "only with --force (--settle never)".to_string(),
            }
        )
    }
}
