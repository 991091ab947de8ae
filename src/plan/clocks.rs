//! The hold-down clocks (`holddown.json`): since when each owned record
//! or answer has been absent, how much of that absence the runs have seen,
//! what the checks held, the cadence of the runs and the failover
//! recovery's marks.

use super::recovery::RecoveryMarks;
use crate::records::{Record, RecordType};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A clock's key (`"name TYPE"` or `"name TYPE answer"`), shared: one
/// allocation per key, however many maps, candidates and held lists name
/// it (a run that moves every task has a few hundred thousand of them).
pub type Key = Arc<str>;

/// The hold-down clocks (`holddown.json`): since when each owned record,
/// and each answer of a record that stays, has been absent from the
/// desired set in every run.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Clocks {
    /// Unix time of the last run that compared the cluster with the zone
    /// (or, on a non-leader, with these clocks).
    pub observed: Option<f64>,
    /// `"name TYPE"` → absent since.
    #[serde(default)]
    pub records: BTreeMap<Key, f64>,
    /// `"name TYPE answer"` → absent since.
    #[serde(default)]
    pub answers: BTreeMap<Key, f64>,
    /// Keys (of `records` or `answers`) a check has held → the check. A
    /// held removal stays held until it is released (`--settle`, `--force`)
    /// or comes back, even once the check passes again: a failover's
    /// partial states that shrink back below the share release nothing.
    #[serde(default)]
    pub held: BTreeMap<Key, Key>,
    /// The last gaps between observing runs (the cadence, at most 8).
    #[serde(default)]
    pub intervals: Vec<f64>,
    /// Keys of `records` or `answers` → seconds of absence the runs have
    /// *seen*: each observing run adds the gap since the previous one, but
    /// never more than [`CREDIT_CADENCES`] times the usual gap (a gap or a
    /// forward clock step counts as the runs that saw it, not as the time
    /// it spans). A held removal is released once this reaches `--settle`.
    /// Absent in files of 0.2.0 (then the wall-clock absence counts).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub seen: BTreeMap<Key, f64>,
    /// The runs' memory of a failover recovery.
    #[serde(default, skip_serializing_if = "is_default_marks")]
    pub recovery: RecoveryMarks,
    /// The absence this run adds to `seen` (set by [`Clocks::carried`]).
    #[serde(skip)]
    pub credit: f64,
}

fn is_default_marks(m: &RecoveryMarks) -> bool {
    *m == RecoveryMarks::default()
}

/// At most this many usual gaps of absence are credited per run.
pub const CREDIT_CADENCES: f64 = 1.5;

/// The usual gap assumed before the runs have shown one.
const DEFAULT_CADENCE: f64 = 60.0;

/// Gaps kept in [`Clocks::intervals`].
const MAX_INTERVALS: usize = 8;

pub fn record_key(name: &str, rtype: RecordType) -> Key {
    joined(&[name, rtype.as_str()])
}

pub fn answer_key(name: &str, rtype: RecordType, answer: &str) -> Key {
    joined(&[name, rtype.as_str(), answer])
}

/// `parts` joined by spaces, allocated once at its exact size.
fn joined(parts: &[&str]) -> Key {
    let len = parts
        .iter()
        .map(|p| p.len() + 1)
        .sum::<usize>()
        .saturating_sub(1);
    let mut s = String::with_capacity(len);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(p);
    }
    Key::from(s)
}

impl Clocks {
    /// The longest gap between two runs over which the clocks stay valid:
    /// twice the longest of the hold-down, the settle time and 10 minutes,
    /// or three times the usual gap between runs if longer (a job run
    /// hourly must still delete). After a longer gap (the tool did not run,
    /// or another host ran it) a name may have come back and gone again
    /// unseen, so the clocks restart.
    pub fn max_gap(&self, remove_after: f64, settle: Option<f64>) -> f64 {
        let base = 2.0 * remove_after.max(settle.unwrap_or(0.0)).max(600.0);
        let mut gaps = self.intervals.clone();
        gaps.retain(|g| g.is_finite() && *g >= 0.0);
        gaps.sort_by(f64::total_cmp);
        let usual = gaps.get(gaps.len() / 2).copied().unwrap_or(0.0);
        base.max(3.0 * usual)
    }

    /// The clocks to carry into a run at `now`: these, if still valid, else
    /// none running; the cadence is kept and gains this gap either way.
    ///
    /// What checks held stays held across such a restart (with its seen
    /// absence starting over): a gap or a clock step never releases.
    pub fn carried(&self, now: f64, remove_after: f64, settle: Option<f64>) -> Clocks {
        if self.valid_at(now, self.max_gap(remove_after, settle)) {
            self.clone().into_carried(now, remove_after, settle)
        } else {
            Clocks {
                observed: self.observed,
                intervals: self.intervals.clone(),
                held: self.held.clone(),
                recovery: self.recovery,
                ..Clocks::default()
            }
            .into_carried(now, remove_after, settle)
        }
    }

    /// [`Clocks::carried`], consuming these clocks (no copy of the maps).
    pub fn into_carried(self, now: f64, remove_after: f64, settle: Option<f64>) -> Clocks {
        let valid = self.valid_at(now, self.max_gap(remove_after, settle));
        let observed = self.observed;
        let cadence = self.cadence();
        let mut c = if valid {
            self
        } else {
            Clocks {
                intervals: self.intervals,
                held: self.held,
                recovery: self.recovery.clamped(now),
                ..Clocks::default()
            }
        };
        c.credit = 0.0;
        if let Some(t) = observed
            && now >= t
        {
            if valid {
                c.credit = (now - t).min(CREDIT_CADENCES * cadence);
            }
            c.intervals.push(now - t);
            if c.intervals.len() > MAX_INTERVALS {
                c.intervals.remove(0);
            }
        }
        c
    }

    /// The usual gap between runs: the median of the last gaps (60 s
    /// before there are any).
    pub fn cadence(&self) -> f64 {
        let mut gaps = self.intervals.clone();
        gaps.retain(|g| g.is_finite() && *g > 0.0);
        gaps.sort_by(f64::total_cmp);
        gaps.get(gaps.len() / 2).copied().unwrap_or(DEFAULT_CADENCE)
    }

    /// The time since which `key` (absent since `since`) counts as seen
    /// absent: `since`, or later when the runs saw less of the absence than
    /// the wall clock says. Records the key's seen absence in `into`.
    pub fn seen_since(&self, key: &Key, since: f64, now: f64, into: &mut Clocks) -> f64 {
        let wall = (now - since).max(0.0);
        let seen = match self.seen.get(key) {
            Some(s) if s.is_finite() => (s.max(0.0) + self.credit).min(wall),
            Some(_) => 0.0,
            // A 0.2.0 file, or a new key (then since is now).
            None => wall,
        };
        into.seen.insert(key.clone(), seen);
        now - seen
    }

    /// On a run that read the cluster but not the zone (a non-leader):
    /// names desired again lose their clocks; the others keep running.
    pub fn observe_desired(
        &mut self,
        desired: &[Record],
        now: f64,
        remove_after: f64,
        settle: Option<f64>,
    ) {
        *self = std::mem::take(self).into_carried(now, remove_after, settle);
        let mut keys = std::collections::HashSet::new();
        let mut answer_keys = std::collections::HashSet::new();
        for r in desired {
            keys.insert(record_key(&r.name, r.rtype));
            for a in &r.answers {
                answer_keys.insert(answer_key(&r.name, r.rtype, a));
            }
        }
        self.records.retain(|k, _| !keys.contains(k));
        self.answers.retain(|k, _| !answer_keys.contains(k));
        // Held keys stay while their name is not desired (a restart of the
        // clocks keeps them too).
        self.held
            .retain(|k, _| !keys.contains(k) && !answer_keys.contains(k));
        let (records, answers) = (&self.records, &self.answers);
        self.seen
            .retain(|k, _| records.contains_key(k) || answers.contains_key(k));
        let credit = self.credit;
        for s in self.seen.values_mut() {
            *s += credit;
        }
        self.observed = Some(now);
    }

    fn valid_at(&self, now: f64, max_gap: f64) -> bool {
        self.observed
            .is_some_and(|t| now >= t && now - t <= max_gap)
    }
}
