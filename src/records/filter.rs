//! The opt-in task filters and the per-task IP choice (none of them is in
//! Mesos-DNS; with their defaults the record set is exactly Mesos-DNS's):
//!
//! * `healthyOnly`: leave out a task whose latest `TASK_RUNNING` status
//!   says `healthy: false`; `strict` also leaves out a task that defines a
//!   Mesos health check but has no result yet. Mesos reports results in
//!   `statuses[].healthy` (0.2x and 1.x alike; the master keeps one status
//!   per state, the latest, so the last `TASK_RUNNING` status carries the
//!   latest result). The definition (`health_check`) is in the state only
//!   since Mesos 1.8: before that a task awaiting its first result looks
//!   like a task without a check, and is published even under `strict`.
//! * `minVisibility`: publish only tasks whose `DiscoveryInfo.visibility`
//!   is at least the given level (FRAMEWORK < CLUSTER < EXTERNAL). Tasks
//!   without DiscoveryInfo, or with a visibility this tool does not know,
//!   are left out when the option is set.
//! * the task label `mesos2ns1.ip-sources` (e.g. `host` or
//!   `netinfo,host`) replaces the global `IPSources` order for that task.

use super::generate::{GenOptions, IpSource, parse_ip_sources};
use super::state::{State, Task};
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// The task label that chooses a task's IP sources.
pub const IP_SOURCES_LABEL: &str = "mesos2ns1.ip-sources";

/// `healthyOnly` (`--healthy-only[=strict]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HealthyOnly {
    /// Publish every running task (Mesos-DNS).
    #[default]
    Off,
    /// Leave out tasks whose latest check failed.
    On,
    /// Also leave out tasks that define a check and have no result yet.
    Strict,
}

impl FromStr for HealthyOnly {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "false" | "no" | "off" | "0" => Ok(HealthyOnly::Off),
            "true" | "yes" | "on" | "1" => Ok(HealthyOnly::On),
            "strict" => Ok(HealthyOnly::Strict),
            other => Err(format!(
                "healthy-only {other:?} is not one of true, false, strict"
            )),
        }
    }
}

/// `DiscoveryInfo.visibility`, in increasing order of reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Visibility {
    Framework,
    Cluster,
    External,
}

impl FromStr for Visibility {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "framework" => Ok(Visibility::Framework),
            "cluster" => Ok(Visibility::Cluster),
            "external" => Ok(Visibility::External),
            other => Err(format!(
                "visibility {other:?} is not one of external, cluster, framework"
            )),
        }
    }
}

impl fmt::Display for Visibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Visibility::Framework => "framework",
            Visibility::Cluster => "cluster",
            Visibility::External => "external",
        })
    }
}

/// What the filters decide for one running task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Publish,
    /// Left out by `minVisibility`.
    NotVisible,
    /// Left out by `healthyOnly`.
    Unhealthy,
}

/// The filters' verdict on a task (visibility first, then health).
pub fn verdict(task: &Task<'_>, opts: &GenOptions) -> Verdict {
    if let Some(min) = opts.min_visibility {
        let seen = task.discovery.visibility.parse::<Visibility>().ok();
        if seen.is_none_or(|v| v < min) {
            return Verdict::NotVisible;
        }
    }
    let healthy = task.latest_running.as_ref().and_then(|s| s.healthy);
    match (opts.healthy_only, healthy) {
        (HealthyOnly::Off, _) => Verdict::Publish,
        (_, Some(false)) => Verdict::Unhealthy,
        (HealthyOnly::Strict, None) if task.health_check => Verdict::Unhealthy,
        _ => Verdict::Publish,
    }
}

/// Running tasks the filters leave out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FilterCounts {
    pub unhealthy: usize,
    pub not_visible: usize,
}

pub fn filter_counts(state: &State<'_>, opts: &GenOptions) -> FilterCounts {
    let mut c = FilterCounts::default();
    if opts.healthy_only == HealthyOnly::Off && opts.min_visibility.is_none() {
        return c;
    }
    for task in state.frameworks.iter().flat_map(|f| f.tasks.iter()) {
        if task.state != "TASK_RUNNING" {
            continue;
        }
        match verdict(task, opts) {
            Verdict::Publish => {}
            Verdict::NotVisible => c.not_visible += 1,
            Verdict::Unhealthy => c.unhealthy += 1,
        }
    }
    c
}

/// The IP sources for `task`: its `mesos2ns1.ip-sources` label when that
/// is valid, else (with a warning when it is not) the global order.
pub fn ip_sources<'o>(task: &Task<'_>, global: &'o [IpSource]) -> Cow<'o, [IpSource]> {
    let Some(label) = task.labels.iter().find(|l| l.key == IP_SOURCES_LABEL) else {
        return Cow::Borrowed(global);
    };
    let items: Vec<&str> = label.value.split(',').collect();
    match parse_ip_sources(&items) {
        Ok(list) => Cow::Owned(list),
        Err(e) => {
            log::warn!(
                "task {:?}: label {IP_SOURCES_LABEL}={:?}: {e}; using the global IP sources",
                task.id,
                label.value
            );
            Cow::Borrowed(global)
        }
    }
}
