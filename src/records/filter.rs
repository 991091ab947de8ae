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
//!   The filter fails open per service, as load balancers and managed DNS
//!   do: when no instance of a service (a framework's tasks of one name:
//!   the DiscoveryInfo name, else the task name) passes the health filter,
//!   all its instances are published, and a warning names the service.
//!   One unhealthy instance among healthy ones is still left out.
//! * `minVisibility`: publish only tasks whose `DiscoveryInfo.visibility`
//!   is at least the given level (FRAMEWORK < CLUSTER < EXTERNAL). Tasks
//!   without DiscoveryInfo, or with a visibility this tool does not know,
//!   are left out when the option is set.
//! * the task label `mesos2ns1.ip-sources` (e.g. `host` or
//!   `netinfo,host`) replaces the global `IPSources` order for that task.

use super::options::{GenOptions, HealthyOnly, IpSource, parse_ip_sources};
use super::state::{Framework, IP_SOURCES_LABEL, State, Task};
use crate::text::{Tally, quote};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};

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
    if let Some(min) = opts.min_visibility
        && task.discovery.visibility.is_none_or(|v| v < min)
    {
        return Verdict::NotVisible;
    }
    let healthy = task.latest_running.as_ref().and_then(|s| s.healthy);
    match (opts.healthy_only, healthy) {
        (HealthyOnly::Off, _) => Verdict::Publish,
        (_, Some(false)) => Verdict::Unhealthy,
        (HealthyOnly::Strict, None) if task.health_check => Verdict::Unhealthy,
        _ => Verdict::Publish,
    }
}

/// The service a task is an instance of, for the health filter's fail-open
/// rule: its DiscoveryInfo name when it has one, else its name (the name
/// its records are made of).
pub fn service_name<'t>(task: &'t Task<'_>) -> &'t str {
    if task.discovery.name.is_empty() {
        &task.name
    } else {
        &task.discovery.name
    }
}

/// The services of `fw` whose every visible running instance the health
/// filter would leave out: they fail open (all their instances are
/// published). Empty when `healthyOnly` is off.
pub fn fail_open<'f>(fw: &'f Framework<'_>, opts: &GenOptions) -> HashSet<&'f str> {
    if opts.healthy_only == HealthyOnly::Off {
        return HashSet::new();
    }
    // Service → whether some instance passes.
    let mut any_healthy: BTreeMap<&str, bool> = BTreeMap::new();
    for task in fw.tasks.iter().filter(|t| t.state == "TASK_RUNNING") {
        match verdict(task, opts) {
            Verdict::NotVisible => {}
            v => *any_healthy.entry(service_name(task)).or_default() |= v == Verdict::Publish,
        }
    }
    any_healthy
        .into_iter()
        .filter(|(_, healthy)| !healthy)
        .map(|(name, _)| name)
        .collect()
}

/// The verdict on a task of a framework whose failing-open services are
/// `open` (see [`fail_open`]): an unhealthy instance of such a service is
/// published.
pub fn verdict_in(task: &Task<'_>, opts: &GenOptions, open: &HashSet<&str>) -> Verdict {
    match verdict(task, opts) {
        Verdict::Unhealthy if open.contains(service_name(task)) => Verdict::Publish,
        v => v,
    }
}

/// Running tasks the filters leave out, and the services the health filter
/// fails open for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FilterCounts {
    pub unhealthy: usize,
    pub not_visible: usize,
    /// Services with no healthy instance, published whole (fail open).
    pub fail_open: usize,
}

/// Counts what the filters leave out, and warns once per service that
/// fails open, naming it.
pub fn filter_counts(state: &State<'_>, opts: &GenOptions) -> FilterCounts {
    let mut c = FilterCounts::default();
    if opts.healthy_only == HealthyOnly::Off && opts.min_visibility.is_none() {
        return c;
    }
    for fw in &state.frameworks {
        let open = fail_open(fw, opts);
        for name in &open {
            let n = fw
                .tasks
                .iter()
                .filter(|t| t.state == "TASK_RUNNING" && service_name(t) == *name)
                .count();
            log::warn!(
                "healthy-only: no instance of service {:?} of framework {:?} is healthy; publishing all {n} of them (fail open)",
                crate::text::escape_control(name),
                crate::text::escape_control(&fw.name)
            );
        }
        c.fail_open += open.len();
        for task in fw.tasks.iter().filter(|t| t.state == "TASK_RUNNING") {
            match verdict_in(task, opts, &open) {
                Verdict::Publish => {}
                Verdict::NotVisible => c.not_visible += 1,
                Verdict::Unhealthy => c.unhealthy += 1,
            }
        }
    }
    c
}

/// The IP sources for `task`: its `mesos2ns1.ip-sources` label when that
/// is valid, else (with a warning in `notes` when it is not) the global
/// order.
pub fn ip_sources<'o>(
    task: &Task<'_>,
    global: &'o [IpSource],
    notes: &mut Tally,
) -> Cow<'o, [IpSource]> {
    let Some(value) = task.ip_sources_label.as_deref() else {
        return Cow::Borrowed(global);
    };
    let items: Vec<&str> = value.split(',').collect();
    match parse_ip_sources(&items) {
        Ok(list) => Cow::Owned(list),
        Err(e) => {
            notes.note(format!(
                "label {IP_SOURCES_LABEL}={} is invalid: {}; using the global IP sources",
                quote(value),
                quote(&e)
            ));
            Cow::Borrowed(global)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::state::{Visibility, parse};

    fn opts(h: HealthyOnly, v: Option<Visibility>) -> GenOptions {
        let mut o = GenOptions::new("mesos");
        o.healthy_only = h;
        o.min_visibility = v;
        o
    }

    /// Verdicts for one task JSON under each option.
    fn verdicts(task: &str) -> [Verdict; 3] {
        let body = format!(r#"{{"frameworks":[{{"tasks":[{task}]}}]}}"#);
        let state = parse(body.as_bytes()).unwrap();
        let t = &state.frameworks[0].tasks[0];
        [HealthyOnly::Off, HealthyOnly::On, HealthyOnly::Strict].map(|h| verdict(t, &opts(h, None)))
    }

    #[test]
    fn health_verdicts_follow_the_latest_running_status() {
        use Verdict::{Publish as P, Unhealthy as U};
        let running = r#""state":"TASK_RUNNING""#;
        let check = r#""health_check":{"type":"TCP","tcp":{"port":80}}"#;
        let cases = [
            // No check at all.
            (
                format!(r#"{{{running},"statuses":[{{{running},"timestamp":1}}]}}"#),
                [P, P, P],
            ),
            // Passing, failing.
            (
                format!(
                    r#"{{{running},{check},"statuses":[{{{running},"timestamp":1,"healthy":true}}]}}"#
                ),
                [P, P, P],
            ),
            (
                format!(
                    r#"{{{running},{check},"statuses":[{{{running},"timestamp":1,"healthy":false}}]}}"#
                ),
                [P, U, U],
            ),
            // Pre-1.8: no definition, a failing result.
            (
                format!(
                    r#"{{{running},"statuses":[{{{running},"timestamp":1,"healthy":false}}]}}"#
                ),
                [P, U, U],
            ),
            // 1.8+: a check awaiting its first result.
            (
                format!(r#"{{{running},{check},"statuses":[{{{running},"timestamp":1}}]}}"#),
                [P, P, U],
            ),
            // No running status yet: no result.
            (format!(r#"{{{running},{check},"statuses":[]}}"#), [P, P, U]),
            // The latest running status wins over an older failure.
            (
                format!(
                    r#"{{{running},{check},"statuses":[{{{running},"timestamp":1,"healthy":false}},{{{running},"timestamp":2,"healthy":true}}]}}"#
                ),
                [P, P, P],
            ),
            // healthy: null is no result.
            (
                format!(
                    r#"{{{running},{check},"statuses":[{{{running},"timestamp":1,"healthy":null}}]}}"#
                ),
                [P, P, U],
            ),
        ];
        for (task, want) in cases {
            assert_eq!(verdicts(&task), want, "{task}");
        }
    }

    #[test]
    fn visibility_levels_are_ordered() {
        let levels = ["FRAMEWORK", "CLUSTER", "EXTERNAL"];
        for (i, seen) in levels.iter().enumerate() {
            let body = format!(
                r#"{{"frameworks":[{{"tasks":[{{"state":"TASK_RUNNING","discovery":{{"visibility":"{seen}","name":"x"}}}}]}}]}}"#
            );
            let state = parse(body.as_bytes()).unwrap();
            let t = &state.frameworks[0].tasks[0];
            for (j, min) in levels.iter().enumerate() {
                let min: Visibility = min.parse().unwrap();
                let want = if i >= j {
                    Verdict::Publish
                } else {
                    Verdict::NotVisible
                };
                assert_eq!(
                    verdict(t, &opts(HealthyOnly::Off, Some(min))),
                    want,
                    "{seen} vs {min}"
                );
            }
            assert_eq!(verdict(t, &opts(HealthyOnly::Off, None)), Verdict::Publish);
        }
        let state = parse(br#"{"frameworks":[{"tasks":[{"state":"TASK_RUNNING"}]}]}"#).unwrap();
        let t = &state.frameworks[0].tasks[0];
        let min = Some(Visibility::Framework);
        assert_eq!(
            verdict(t, &opts(HealthyOnly::Off, min)),
            Verdict::NotVisible
        );
        assert_eq!(verdict(t, &opts(HealthyOnly::Off, None)), Verdict::Publish);
    }

    #[test]
    fn the_label_replaces_the_global_order_only_when_valid() {
        let global = [IpSource::Netinfo, IpSource::Host];
        let sources = |labels: &str| {
            let body =
                format!(r#"{{"frameworks":[{{"tasks":[{{"id":"t","labels":{labels}}}]}}]}}"#);
            let state = parse(body.as_bytes()).unwrap();
            ip_sources(
                &state.frameworks[0].tasks[0],
                &global,
                &mut Tally::default(),
            )
            .into_owned()
        };
        assert_eq!(sources("[]"), global);
        assert_eq!(
            sources(
                r#"[{"key":"team","value":"a"},{"key":"mesos2ns1.ip-sources","value":"host"}]"#
            ),
            [IpSource::Host]
        );
        assert_eq!(
            sources(r#"[{"value":"docker, mesos","key":"mesos2ns1.ip-sources"}]"#),
            [IpSource::Docker, IpSource::Mesos]
        );
        for bad in ["", "host,host", "hosts", "netinfo,,host"] {
            let l = format!(r#"[{{"key":"mesos2ns1.ip-sources","value":"{bad}"}}]"#);
            assert_eq!(sources(&l), global, "{bad:?}");
        }
        // The first such label counts.
        assert_eq!(
            sources(
                r#"[{"key":"mesos2ns1.ip-sources","value":"mesos"},{"key":"mesos2ns1.ip-sources","value":"host"}]"#
            ),
            [IpSource::Mesos]
        );
    }
}
