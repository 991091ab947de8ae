//! The cluster side of a run: the state (from a file or the leading
//! master) and the record set generated from it.

use crate::config::Config;
use crate::exit::{Exit, Fail};
use crate::records::{self, GenOptions, RecordSet, SystemResolver};

/// Reads the state: from `--state-file`, or from the leading master. With
/// a deadline, no master is given longer than the time left before it.
pub fn read_state(
    cfg: &Config,
    deadline: Option<std::time::Instant>,
) -> Result<(Vec<u8>, String), Fail> {
    if let Some(path) = &cfg.state_file {
        let body = std::fs::read(path)
            .map_err(|e| Fail::new(Exit::Failed, format!("state file {}: {e}", path.display())))?;
        return Ok((body, path.display().to_string()));
    }
    if cfg.masters.is_empty() {
        return Err(Fail::new(
            Exit::Usage,
            "no state source: give --state-file or --masters (or \"masters\" in the config file)",
        ));
    }
    let opts = crate::mesos::MesosOptions {
        masters: cfg.masters.clone(),
        https: cfg.mesos_https,
        ca_file: cfg.ca_file.clone(),
        credentials: cfg
            .read_mesos_credentials()
            .map_err(|e| Fail::new(Exit::Usage, e.0))?,
        connect_timeout: cfg.state_timeout.min(std::time::Duration::from_secs(5)),
        timeout: match deadline {
            Some(d) => cfg.state_timeout.min(
                d.saturating_duration_since(std::time::Instant::now())
                    .max(std::time::Duration::from_secs(1)),
            ),
            None => cfg.state_timeout,
        },
    };
    let fetched =
        crate::mesos::fetch_state(&opts).map_err(|e| Fail::new(Exit::Failed, e.to_string()))?;
    Ok((fetched.body, fetched.url))
}

/// Generation options from the configuration; masters lose their scheme.
pub fn gen_options(cfg: &Config) -> GenOptions {
    let mut opts = GenOptions::new(cfg.records_domain());
    opts.masters = cfg
        .masters
        .iter()
        .map(|m| {
            m.strip_prefix("http://")
                .or_else(|| m.strip_prefix("https://"))
                .unwrap_or(m)
                .trim_end_matches('/')
                .to_string()
        })
        .collect();
    opts.ip_sources = cfg.ip_sources.clone();
    opts.rules = cfg.rules;
    opts.srv_weight = cfg.srv_weight;
    opts
}

/// Parses a state and generates its record set.
pub fn build_records(
    body: &[u8],
    source: &str,
    cfg: &Config,
) -> Result<(RecordSet, records::generate::StateCounts, String), Fail> {
    let state = records::state::parse(body)
        .map_err(|e| Fail::new(Exit::Failed, format!("{source}: {e}")))?;
    let set = records::generate(&state, &gen_options(cfg), &SystemResolver)
        .map_err(|e| Fail::new(Exit::Failed, format!("{source}: {e}")))?;
    Ok((
        set,
        records::generate::counts(&state),
        state.leader.to_string(),
    ))
}

/// Task states after which a task is gone for good.
pub const TERMINAL_STATES: &[&str] = &[
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_LOST",
    "TASK_ERROR",
    "TASK_DROPPED",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
];

/// Parses a state and generates its record set, and the answers its
/// terminal tasks and completed frameworks would produce (which explain
/// their removal).
pub fn build_records_explained(
    body: &[u8],
    source: &str,
    cfg: &Config,
) -> Result<
    (
        RecordSet,
        records::generate::StateCounts,
        String,
        crate::plan::Explained,
    ),
    Fail,
> {
    let state = records::state::parse(body)
        .map_err(|e| Fail::new(Exit::Failed, format!("{source}: {e}")))?;
    let opts = gen_options(cfg);
    let set = records::generate(&state, &opts, &SystemResolver)
        .map_err(|e| Fail::new(Exit::Failed, format!("{source}: {e}")))?;
    let counts = records::generate::counts(&state);
    let leader = state.leader.to_string();
    let explained = explained(state, &opts);
    Ok((set, counts, leader, explained))
}

/// The records the state's ended tasks would have: every task of a
/// completed framework, every completed task, and every task listed in a
/// terminal state, generated as if running. Frameworks lose their pid and
/// hostname so that only task records come out; a state the generator
/// cannot read explains nothing (the safe side: nothing is explained).
pub fn explained(
    mut state: records::state::State<'_>,
    opts: &GenOptions,
) -> crate::plan::Explained {
    use std::borrow::Cow;
    let mut frameworks = Vec::new();
    let completed = std::mem::take(&mut state.completed_frameworks);
    for (done, mut fw) in state
        .frameworks
        .drain(..)
        .map(|f| (false, f))
        .chain(completed.into_iter().map(|f| (true, f)))
    {
        let mut tasks: Vec<_> = std::mem::take(&mut fw.tasks)
            .into_iter()
            .filter(|t| done || TERMINAL_STATES.contains(&t.state.as_ref()))
            .collect();
        tasks.append(&mut fw.completed_tasks);
        if tasks.is_empty() {
            continue;
        }
        for t in &mut tasks {
            t.state = Cow::Borrowed("TASK_RUNNING");
        }
        fw.tasks = tasks;
        fw.pid = None;
        fw.hostname = Cow::Borrowed("");
        frameworks.push(fw);
    }
    let mut out = crate::plan::Explained::new();
    if frameworks.is_empty() {
        return out;
    }
    state.frameworks = frameworks;
    match records::generate(&state, opts, &SystemResolver) {
        Ok(mut set) => {
            for r in set.records() {
                out.entry((r.name, r.rtype)).or_default().extend(r.answers);
            }
        }
        Err(e) => log::warn!("the state's ended tasks explain no removal: {e}"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::RecordType;

    #[test]
    fn ended_tasks_explain_and_malformed_ones_are_skipped() {
        let state = br#"{"leader": "master@10.0.0.1:5050",
          "slaves": [{"id": "S0", "pid": "slave(1)@10.1.0.1:5051"}],
          "frameworks": [{"name": "marathon", "pid": "scheduler@10.0.0.9:1",
            "tasks": [
              {"id": "web.1", "name": "web", "slave_id": "S0", "state": "TASK_RUNNING"},
              {"id": "old.1", "name": "old", "slave_id": "S0", "state": "TASK_KILLED"}],
            "completed_tasks": [1, "x", {"id": "gone.1", "name": "gone", "slave_id": "S0", "state": "TASK_FINISHED"},
              {"id": 5}]}],
          "completed_frameworks": {"not": "a list"}}"#;
        let st = records::state::parse(state).unwrap();
        let opts = GenOptions::new("mesos");
        let ex = explained(st, &opts);
        let has = |n: &str| ex.contains_key(&(n.to_string(), RecordType::A));
        assert!(has("old.marathon.mesos") && has("gone.marathon.mesos"));
        assert!(
            !has("web.marathon.mesos"),
            "a running task explains nothing"
        );
        assert!(!has("marathon.mesos"), "frameworks lose their own records");

        let state = br#"{"leader": "master@10.0.0.1:5050",
          "slaves": [{"id": "S0", "pid": "slave(1)@10.1.0.1:5051"}],
          "frameworks": [],
          "completed_frameworks": [{"name": "chronos", "tasks": [
              {"id": "job.1", "name": "job", "slave_id": "S0", "state": "TASK_RUNNING"}]}, 7]}"#;
        let st = records::state::parse(state).unwrap();
        let ex = explained(st, &opts);
        assert!(ex.contains_key(&("job.chronos.mesos".to_string(), RecordType::A)));
    }
}
