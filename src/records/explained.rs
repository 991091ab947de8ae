//! The records of ended tasks: what a state's terminal tasks and completed
//! frameworks would publish if they still ran. They explain a removal (the
//! task ended, as opposed to a master that forgot it).

use super::generate::generate;
use super::hosts::Resolver;
use super::options::GenOptions;
use super::set::RecordType;
use super::state::State;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// The answers of each (name, type) that ended tasks would have.
pub type Explained = HashMap<(String, RecordType), HashSet<String>>;

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

/// The records the state's ended tasks would have: every task of a
/// completed framework, every completed task, and every task listed in a
/// terminal state, generated as if running. Frameworks lose their pid and
/// hostname so that only task records come out; a state the generator
/// cannot read explains nothing (the safe side: nothing is explained).
pub fn explained(mut state: State<'_>, opts: &GenOptions, resolver: &dyn Resolver) -> Explained {
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
    let mut out = Explained::new();
    if frameworks.is_empty() {
        return out;
    }
    state.frameworks = frameworks;
    match generate(&state, opts, resolver) {
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
    use crate::records::hosts::SystemResolver;
    use crate::records::state::parse;

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
        let st = parse(state).unwrap();
        let opts = GenOptions::new("mesos");
        let ex = explained(st, &opts, &SystemResolver);
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
        let st = parse(state).unwrap();
        let ex = explained(st, &opts, &SystemResolver);
        assert!(ex.contains_key(&("job.chronos.mesos".to_string(), RecordType::A)));
    }
}
