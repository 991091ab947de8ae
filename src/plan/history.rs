//! The window's history (`memory.json`'s samples) and the figures the
//! checks take from it: the baseline of owned records, the medians of
//! agents and running tasks, and what a clock that steps back does to it.
//!
//! **The baseline.** A window has *enough history* for a median once it
//! holds at least [`MIN_HISTORY_RUNS`] earlier runs and the oldest is at
//! least half a window old (30 minutes by default): a burst must then
//! last more than half of what the window has seen to move the median.
//! A younger memory (a new install, a wiped state dir, `--force` over a
//! damaged `memory.json`, a clock that jumped past the window) is
//! cautious instead: the baseline is the *smallest* count of the window's
//! runs and of this run, which no burst can inflate (counts of zero, a
//! zone that held nothing owned, are left out: nothing could be removed
//! then). Each run's count is what the zone held before the run, or,
//! while the zone is still being filled, what it will hold
//! ([`Sample::measure`]).

/// Figures of a cluster state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Baseline {
    pub agents: usize,
    pub running_tasks: usize,
}

/// Earlier runs a window needs (with half a window of age) before its
/// median is the baseline.
pub const MIN_HISTORY_RUNS: usize = 3;

/// One run's figures in the sliding window (`memory.json`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    /// Unix time of the run.
    pub time: f64,
    /// Owned records in the zone before the run's changes (None: the zone
    /// was not read, as on a non-leader).
    pub owned: Option<usize>,
    pub agents: usize,
    pub running_tasks: usize,
    /// Unexplained removals the run applied (whole records or records that
    /// lost answers), counted against the window's share.
    #[serde(default)]
    pub removed: usize,
    /// Owned records the zone holds once the run's plan is applied (what
    /// the cluster asks for); absent in files of 0.2.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<usize>,
    /// Whether the zone was still being filled at this run (see
    /// [`Sample::measure`]); absent (false) in files of 0.2.0.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub filling: bool,
}

impl Sample {
    /// The run's count for the baseline: what the zone held, or, while
    /// the zone was still being filled (a first sync cut by the deadline,
    /// a `--create-zone` finishing record by record), what it will hold.
    pub fn measure(&self) -> Option<usize> {
        if self.filling {
            self.target.or(self.owned)
        } else {
            self.owned
        }
    }
}

/// The median (the mean of the two middle values for an even count).
pub fn median(values: &mut [usize]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2] as f64
    } else {
        (values[n / 2 - 1] as f64 + values[n / 2] as f64) / 2.0
    })
}

/// The samples of the window ending at `now`.
pub fn in_window(samples: &[Sample], now: f64, window: f64) -> impl Iterator<Item = &Sample> {
    samples
        .iter()
        .filter(move |s| s.time <= now && s.time > now - window)
}

/// The implausible-state check: no agents while the zone holds owned
/// records (or the window saw agents), or fewer than half the window's
/// median of agents or of running tasks. `Some(figures)` when it fails.
pub fn implausible(
    now: Baseline,
    samples: &[Sample],
    at: f64,
    window: f64,
    owned: usize,
) -> Option<String> {
    let mut agents: Vec<usize> = in_window(samples, at, window).map(|s| s.agents).collect();
    let mut tasks: Vec<usize> = in_window(samples, at, window)
        .map(|s| s.running_tasks)
        .collect();
    let runs = agents.len();
    let med_agents = median(&mut agents);
    let med_tasks = median(&mut tasks);
    if now.agents == 0 && (owned > 0 || med_agents.is_some_and(|m| m > 0.0)) {
        return Some(format!(
            "the state lists no agents (median over the window: {} agents, {} running tasks; the zone holds {owned} owned records)",
            med_agents.unwrap_or(0.0),
            med_tasks.unwrap_or(0.0)
        ));
    }
    if let Some(m) = med_agents
        && (now.agents as f64) * 2.0 < m
    {
        return Some(format!(
            "{} agents now, fewer than half of the median of {m} over the last {runs} runs in the window",
            now.agents
        ));
    }
    if let Some(m) = med_tasks
        && (now.running_tasks as f64) * 2.0 < m
    {
        return Some(format!(
            "{} running tasks now, fewer than half of the median of {m} over the last {runs} runs in the window",
            now.running_tasks
        ));
    }
    None
}

/// The baseline of owned records at `now`: the median over the window
/// (with this run's `current` count) once the window has enough history,
/// else the smallest non-zero count. Returns it and whether it is the
/// median.
pub fn baseline(samples: &[Sample], now: f64, window: f64, current: usize) -> (f64, bool) {
    let mut counts: Vec<usize> = in_window(samples, now, window)
        .filter_map(Sample::measure)
        .collect();
    let oldest = in_window(samples, now, window)
        .filter(|s| s.measure().is_some())
        .map(|s| s.time)
        .fold(f64::INFINITY, f64::min);
    let mature = counts.len() >= MIN_HISTORY_RUNS && oldest <= now - window / 2.0;
    counts.push(current);
    if mature {
        (median(&mut counts).unwrap_or(0.0), true)
    } else {
        let smallest = counts.iter().copied().filter(|c| *c > 0).min();
        (smallest.unwrap_or(0) as f64, false)
    }
}

/// Samples from a later time than `now` (the clock stepped back, or a
/// file from the future): all of them are moved back together, in order
/// and with their spacing, so that the latest is a second before `now`.
/// The window keeps the history it has instead of starting over.
pub fn rebase(samples: &mut [Sample], now: f64) {
    samples.sort_by(|a, b| a.time.total_cmp(&b.time));
    let Some(last) = samples.last().map(|s| s.time) else {
        return;
    };
    if last >= now {
        let shift = last - now + 1.0;
        for s in samples.iter_mut() {
            s.time -= shift;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(time: f64, owned: usize) -> Sample {
        Sample {
            time,
            owned: Some(owned),
            agents: 4,
            running_tasks: 10,
            removed: 0,
            target: Some(owned),
            filling: false,
        }
    }

    #[test]
    fn a_young_window_takes_the_smallest_count_a_mature_one_the_median() {
        let t = 1_800_000_000.0;
        // One run of history, then a burst: the burst cannot raise it.
        let young = [s(t, 20), s(t + 60.0, 20)];
        assert_eq!(baseline(&young, t + 120.0, 3600.0, 120), (20.0, false));
        // Zero counts (an empty zone) are left out.
        let empty = [s(t, 0)];
        assert_eq!(baseline(&empty, t + 60.0, 3600.0, 20), (20.0, false));
        // Half a window of history with three runs: the median.
        let old = [s(t, 20), s(t + 1000.0, 20), s(t + 1800.0, 120)];
        assert_eq!(baseline(&old, t + 1800.0, 3600.0, 120), (70.0, true));
        // A filling zone counts what it will hold.
        let mut f = s(t, 0);
        f.filling = true;
        f.target = Some(57);
        assert_eq!(baseline(&[f], t + 60.0, 3600.0, 57), (57.0, false));
    }

    #[test]
    fn a_clock_step_back_keeps_the_samples_in_order() {
        let t = 1_800_000_000.0;
        let mut v = vec![s(t + 120.0, 3), s(t, 1), s(t + 60.0, 2)];
        rebase(&mut v, t - 3600.0);
        let times: Vec<f64> = v.iter().map(|x| x.time).collect();
        assert_eq!(times, [t - 3721.0, t - 3661.0, t - 3601.0]);
        assert_eq!(
            v.iter().map(|x| x.owned).collect::<Vec<_>>(),
            [Some(1), Some(2), Some(3)]
        );
        let before = v.clone();
        rebase(&mut v, t);
        assert_eq!(v, before, "nothing moves when the clock goes forward");
    }
}
