//! Failover recovery: while the leading master may still be waiting for
//! agents it knew before its election, removals nothing explains wait.
//!
//! Two sources, the master's own words first:
//!
//! * `recovered_slaves` in `/master/state` (Mesos's
//!   `master/readonly_handler.cpp` writes one `SlaveInfo` per agent of
//!   `slaves.recovered`: the agents the new leader knows from its registry
//!   and has not heard from yet; an agent leaves the list when it
//!   re-registers, or when the re-registration timeout, at least 10
//!   minutes and often raised, removes it). While the list is not empty,
//!   every unexplained removal waits, however long that is; the hold-down
//!   of what waited starts only once the list is empty again (the agent is
//!   dropped: its records go after the hold-down; it re-registered:
//!   nothing of it was touched). A list that stays for more than
//!   [`RECOVERY_LOUD_SECS`] is reported as a hold (exit 3), still
//!   released only by the master or `--force`.
//! * Without that list (older masters) or with an empty one (a master
//!   whose registry is in memory knows no agent to wait for), the
//!   state's `elected_time`: for [`FAILOVER_RECOVERY_SECS`] after the
//!   election, bounded: one recovery period counted from the first run
//!   that saw a recent election, for as long as the runs keep seeing one
//!   (a leader whose `elected_time` moves every run gets one period, not
//!   a wait for ever).

use crate::text::format_time;

/// How long after a master's election its agents may still be
/// re-registering: Mesos's default `--agent_reregister_timeout` (10
/// minutes) and a minute to spare.
pub const FAILOVER_RECOVERY_SECS: f64 = 660.0;

/// After this long with agents listed in `recovered_slaves`, the wait is
/// reported as a hold (exit 3): a re-registration timeout is rarely raised
/// that far, and a master that never empties its list must be seen.
pub const RECOVERY_LOUD_SECS: f64 = 3600.0;

/// How far ahead of this host's clock an `elected_time` is still believed.
const ELECTED_SKEW_SECS: f64 = 300.0;

/// What the state says about the leader's recovery.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RecoveryFacts {
    /// Agents listed in `recovered_slaves`; `None`: no such list.
    pub recovered_agents: Option<usize>,
    /// The leader's `elected_time` (Unix seconds).
    pub elected: Option<f64>,
}

/// What the runs remember of a recovery (in `holddown.json`).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RecoveryMarks {
    /// The first run of the current stretch of runs that saw agents listed
    /// in `recovered_slaves`.
    #[serde(default)]
    pub listed_since: Option<f64>,
    /// The first run of the current stretch of runs that saw a recent
    /// election.
    #[serde(default)]
    pub election_seen: Option<f64>,
    /// The last run that saw agents listed (the clocks of what waited are
    /// pinned there: the first run after it starts their hold-down). Kept
    /// for a recovery period after it, with `listed_since`, so that a
    /// list that flaps is one stretch.
    #[serde(default)]
    pub listed_last: Option<f64>,
}

impl RecoveryMarks {
    /// Marks no later than `now` (a clock that stepped back).
    pub fn clamped(self, now: f64) -> RecoveryMarks {
        let c = |t: Option<f64>| t.map(|t| if t.is_finite() { t.min(now) } else { now });
        RecoveryMarks {
            listed_since: c(self.listed_since),
            election_seen: c(self.election_seen),
            listed_last: c(self.listed_last),
        }
    }
}

/// The recovery a run is in.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Recovering {
    #[default]
    No,
    /// The master lists `agents` agents it waits for, since `since` (the
    /// first run that saw them); `loud` once that is longer than
    /// [`RECOVERY_LOUD_SECS`].
    Listed {
        agents: usize,
        since: f64,
        loud: bool,
    },
    /// A recent election: unexplained removals wait until `until`.
    Elected { until: f64 },
}

impl Recovering {
    pub fn active(&self) -> bool {
        !matches!(self, Recovering::No)
    }

    /// Whether removals waiting for it keep their absent-since clocks at
    /// this run (the hold-down starts once the master is done waiting).
    pub fn pins_clocks(&self) -> bool {
        matches!(self, Recovering::Listed { .. })
    }

    /// When the waits end by themselves (None: when the master says so).
    pub fn until(&self) -> Option<f64> {
        match self {
            Recovering::Elected { until } => Some(*until),
            _ => None,
        }
    }

    /// The summary's words about `n` removals waiting for it.
    pub fn note(&self, n: usize) -> String {
        match self {
            Recovering::No => String::new(),
            Recovering::Listed {
                agents,
                since,
                loud,
            } => format!(
                "{n} removals wait for failover recovery: the leading master lists {agents} agents it has not heard from since its election (recovered_slaves, since {}); they wait until those agents re-register or the master drops them{}",
                format_time(*since),
                if *loud {
                    format!(
                        "; listed for more than {RECOVERY_LOUD_SECS:.0} s, so this is reported as a hold: check the master, or --force would let them go through the other checks now"
                    )
                } else {
                    String::new()
                }
            ),
            Recovering::Elected { until } => format!(
                "{n} removals wait for failover recovery: the leading master was elected recently (elected_time); agents may still re-register until {}",
                format_time(*until)
            ),
        }
    }
}

/// The recovery at `now` from the state's facts and the earlier runs'
/// marks, and the marks to keep.
pub fn assess(facts: RecoveryFacts, marks: RecoveryMarks, now: f64) -> (Recovering, RecoveryMarks) {
    let marks = marks.clamped(now);
    let mut out = RecoveryMarks::default();
    let recent = facts.elected.filter(|e| {
        e.is_finite() && now < e + FAILOVER_RECOVERY_SECS && *e <= now + ELECTED_SKEW_SECS
    });
    if recent.is_some() {
        out.election_seen = Some(marks.election_seen.unwrap_or(now));
    }
    if let Some(agents) = facts.recovered_agents.filter(|n| *n > 0) {
        let since = marks.listed_since.unwrap_or(now);
        out.listed_since = Some(since);
        out.listed_last = Some(now);
        let loud = now - since > RECOVERY_LOUD_SECS;
        return (
            Recovering::Listed {
                agents,
                since,
                loud,
            },
            out,
        );
    }
    // A list that flaps (a leader that keeps failing over lists its
    // agents on some runs only) is one stretch while the listings are
    // less than a recovery period apart: its wait is loud after an hour,
    // as a list that never clears, not a silent wait for ever.
    if let Some(last) = marks.listed_last
        && now - last <= FAILOVER_RECOVERY_SECS
    {
        out.listed_since = marks.listed_since;
        out.listed_last = Some(last);
    }
    let (Some(e), Some(seen)) = (recent, out.election_seen) else {
        return (Recovering::No, out);
    };
    let until = (e + FAILOVER_RECOVERY_SECS).min(seen + FAILOVER_RECOVERY_SECS);
    if now < until {
        (Recovering::Elected { until }, out)
    } else {
        (Recovering::No, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: f64 = 1_800_000_000.0;

    #[test]
    fn a_moving_elected_time_gets_one_period_from_the_first_run_that_saw_it() {
        let mut marks = RecoveryMarks::default();
        let mut waited = Vec::new();
        for i in 0..30 {
            let now = T + 60.0 * i as f64;
            let facts = RecoveryFacts {
                recovered_agents: None,
                elected: Some(now - 5.0),
            };
            let (r, m) = assess(facts, marks, now);
            marks = m;
            waited.push(r.active());
        }
        assert!(waited[..11].iter().all(|w| *w), "{waited:?}");
        assert!(waited[11..].iter().all(|w| !*w), "{waited:?}");
        // A run that sees no recent election ends the stretch: the next
        // election gets its own period.
        let now = T + 3600.0;
        let (r, m) = assess(
            RecoveryFacts {
                recovered_agents: None,
                elected: Some(T),
            },
            marks,
            now,
        );
        assert_eq!((r, m), (Recovering::No, RecoveryMarks::default()));
        let (r, _) = assess(
            RecoveryFacts {
                recovered_agents: None,
                elected: Some(now + 10.0),
            },
            m,
            now + 20.0,
        );
        assert_eq!(
            r,
            Recovering::Elected {
                until: now + 10.0 + FAILOVER_RECOVERY_SECS
            }
        );
    }

    #[test]
    fn listed_agents_wait_however_long_and_are_loud_after_an_hour() {
        let facts = RecoveryFacts {
            recovered_agents: Some(2),
            elected: Some(T - 10_000.0),
        };
        let (r, m) = assess(facts, RecoveryMarks::default(), T);
        assert_eq!(
            r,
            Recovering::Listed {
                agents: 2,
                since: T,
                loud: false
            }
        );
        let (r, _) = assess(facts, m, T + RECOVERY_LOUD_SECS + 1.0);
        assert!(matches!(r, Recovering::Listed { loud: true, .. }));
        // A mark from the future (a clock stepped back) is now.
        let (r, _) = assess(facts, m, T - 500.0);
        assert!(matches!(r, Recovering::Listed { since, .. } if since == T - 500.0));
        // An empty list: the election's clock (long past here).
        let empty = RecoveryFacts {
            recovered_agents: Some(0),
            ..facts
        };
        assert_eq!(assess(empty, m, T).0, Recovering::No);
        // Far-future or non-finite elected_time: no wait.
        for e in [T + 10_000.0, f64::NAN, f64::INFINITY] {
            let f = RecoveryFacts {
                recovered_agents: None,
                elected: Some(e),
            };
            assert_eq!(assess(f, RecoveryMarks::default(), T).0, Recovering::No);
        }
    }
}
