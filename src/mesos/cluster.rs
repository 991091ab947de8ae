//! The cluster as the event stream tells it: agents, frameworks and tasks
//! kept up to date by [`Cluster::apply`], and rendered on demand into the
//! same [`State`] the generator reads from `/master/state`
//! ([`Cluster::to_state`]), so that the records built from the stream are
//! the records `sync` builds.
//!
//! How `/master/state` is made, and mirrored here (Apache Mesos,
//! `src/master/readonly_handler.cpp`, `src/common/http.cpp`,
//! `src/master/master.cpp`):
//!
//! * `slaves`: the registered agents (`id`, `pid`); an agent leaves on
//!   `AGENT_REMOVED`.
//! * `frameworks`: the registered frameworks, each with `tasks` (staging,
//!   running, and terminal until acknowledged) and `completed_tasks` (a
//!   ring of `--max_completed_tasks_per_framework`, 1000 by default);
//!   `completed_frameworks`: a ring of `--max_completed_frameworks` (50).
//!   Here a task that reaches a terminal state moves to its framework's
//!   completed ring at once (both lists only *explain* removals, and a
//!   terminal task makes no record), and `TASK_UNREACHABLE` drops it (the
//!   master moves it to `unreachable_tasks`, which the state model does not
//!   read; the master sends `TASK_ADDED` if it comes back).
//! * a task's `state`: `TASK_UPDATED.state` (the latest state the agent
//!   reported, which the master stores), never changed once terminal.
//! * a task's `statuses`: the master appends each status, replacing the
//!   last one when it has the same state; the generator reads only the
//!   latest `TASK_RUNNING` one (greatest timestamp), which is all that is
//!   kept here. (The master forwards a status to subscribers only when the
//!   state changes or a health check result changed; a repeated
//!   `TASK_RUNNING` for another reason reaches only the state: the periodic
//!   reconcile covers it.)
//! * a task's `resources.ports`: the sum of its `ports` RANGES resources
//!   that are not revocable, coalesced and written `[a-b, c-d]`
//!   (`Value::Ranges` `+=` and `operator<<`).
//! * `labels`, `discovery`, `health_check`, `statuses[].labels`,
//!   `statuses[].container_status.network_infos`: the same messages.
//!
//! The scheduler pid. `/master/state` gives each framework's libprocess
//! `pid` (omitted for HTTP frameworks), from which Mesos-DNS makes
//! `FRAMEWORK.D` and `_framework._tcp.FRAMEWORK.D`; the v1 `FrameworkInfo`
//! has no pid. The master sends `FRAMEWORK_ADDED` when a framework
//! registers and `FRAMEWORK_UPDATED` when it re-registers (a scheduler
//! failover: a new pid). Either marks the framework's pid *pending*; the
//! caller then reads it from `/master/frameworks?framework_id=ID` (the
//! same writer as `/master/state`: [`super::fetch_framework_pids`]) and
//! gives it with [`Cluster::set_pid`]. The frameworks of `SUBSCRIBED` are
//! pending too; their pids come from the `/master/state` read that
//! precedes every subscription ([`framework_pids_from_state`],
//! [`Cluster::seed_pids`]). A pending framework that had a pid is rendered
//! with it until the new one arrives; one that never had one is left out
//! of the rendered state (with its tasks), exactly as a framework missing
//! from one poll, which the safety checks hold down.
//!
//! Bounds: the model holds what the master holds, at most
//! [`Bounds::max_tasks`] tasks (active, completed and waiting for their
//! framework together); an event that would go beyond is refused
//! ([`ApplyError::Full`]) and the model marked incomplete until the next
//! `SUBSCRIBED` (the caller reconciles). Completed tasks and frameworks
//! are rings of the master's default sizes.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::v1;
use crate::records::state::IP_SOURCES_LABEL;
use crate::records::state::{
    ContainerStatus, Discovery, DiscoveryPort, DiscoveryPorts, Framework, Label, Resources, Slave,
    State, Status, Task,
};

/// The terminal task states (`protobuf::isTerminalState`): one list, in
/// `records::explained`.
pub use crate::records::explained::TERMINAL_STATES as TERMINAL;

fn is_terminal(state: &str) -> bool {
    TERMINAL.contains(&state)
}

/// Size limits of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Tasks held in all (active, completed, waiting).
    pub max_tasks: usize,
    /// Completed tasks kept per framework (Mesos's
    /// `--max_completed_tasks_per_framework` default).
    pub max_completed_tasks: usize,
    /// Completed frameworks kept (Mesos's `--max_completed_frameworks`
    /// default).
    pub max_completed_frameworks: usize,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            max_tasks: 2_000_000,
            max_completed_tasks: 1000,
            max_completed_frameworks: 50,
        }
    }
}

impl Bounds {
    /// Bounds for a `--max-state-mib` limit: a task takes at least 150
    /// bytes of `/master/state`, so a state within the limit never has more
    /// than `max_state_bytes / 150` tasks.
    pub fn for_max_state_bytes(max_state_bytes: u64) -> Bounds {
        Bounds {
            max_tasks: usize::try_from(max_state_bytes / 150)
                .unwrap_or(usize::MAX)
                .max(1000),
            ..Bounds::default()
        }
    }
}

/// A framework's scheduler pid, as `/master/state` would give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pid {
    /// The `pid` key is absent (an HTTP framework, or one recovered after
    /// a master failover that has not re-registered yet).
    Absent,
    /// The raw JSON text of the `pid` value (quotes and escapes included).
    Raw(String),
}

#[derive(Debug, Clone)]
struct StatusEntry {
    timestamp: f64,
    healthy: Option<bool>,
    labels: Vec<(String, String)>,
    network_ips: Vec<String>,
}

#[derive(Debug, Clone)]
struct DiscoveryEntry {
    name: String,
    visibility: Option<String>,
    ports: Vec<(i64, String, String)>,
}

#[derive(Debug, Clone)]
struct TaskEntry {
    id: String,
    name: String,
    agent_id: String,
    state: String,
    /// `resources.ports` as `/master/state` writes it; "" when none.
    ports: String,
    latest_running: Option<StatusEntry>,
    discovery: Option<DiscoveryEntry>,
    ip_sources_label: Option<String>,
    health_check: bool,
}

#[derive(Debug, Default)]
struct FrameworkEntry {
    name: String,
    hostname: String,
    /// The pid to render with (`None`: never known).
    pid: Option<Pid>,
    /// Whether a fresher pid is awaited.
    pid_pending: bool,
    /// Whether the master told about this framework (else it only holds
    /// tasks that arrived before it).
    known: bool,
    tasks: BTreeMap<String, TaskEntry>,
    completed: VecDeque<TaskEntry>,
}

/// Why an event was not applied. The model stays consistent: the event is
/// skipped (and counted by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyError {
    /// The model is at [`Bounds::max_tasks`].
    Full { max_tasks: usize },
    /// An event other than `SUBSCRIBED` before `SUBSCRIBED`.
    NotSubscribed,
    /// An id the event needs is empty.
    MissingId(&'static str),
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplyError::Full { max_tasks } => write!(
                f,
                "the cluster holds more than {max_tasks} tasks (bound from --max-state-mib): event skipped, model incomplete until the next reconcile"
            ),
            ApplyError::NotSubscribed => write!(f, "an event before SUBSCRIBED"),
            ApplyError::MissingId(what) => write!(f, "the event has no {what}"),
        }
    }
}

impl std::error::Error for ApplyError {}

/// What an applied event changed, for the caller's batching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Applied {
    /// Whether the rendered state may differ (the records may change).
    pub changed: bool,
    /// A framework whose pid must now be read (see the module docs).
    pub pid_needed: bool,
}

/// Counters since the model was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub events: u64,
    pub unknown_events: u64,
    /// `TASK_UPDATED` for a task the model does not hold.
    pub unknown_tasks: u64,
    pub refused: u64,
}

/// The cluster model.
#[derive(Debug)]
pub struct Cluster {
    bounds: Bounds,
    /// `leader` and `elected_time` of the last `/master/state` read: the
    /// stream does not carry them.
    leader: String,
    elected_time: Option<f64>,
    subscribed: bool,
    heartbeat: Option<f64>,
    agents: BTreeMap<String, Option<String>>,
    frameworks: BTreeMap<String, FrameworkEntry>,
    completed_frameworks: VecDeque<FrameworkEntry>,
    task_count: usize,
    overflowed: bool,
    pub counters: Counters,
}

impl Cluster {
    pub fn new(bounds: Bounds) -> Cluster {
        Cluster {
            bounds,
            leader: String::new(),
            elected_time: None,
            subscribed: false,
            heartbeat: None,
            agents: BTreeMap::new(),
            frameworks: BTreeMap::new(),
            completed_frameworks: VecDeque::new(),
            task_count: 0,
            overflowed: false,
            counters: Counters::default(),
        }
    }

    /// The leading master's pid and election time, as the last
    /// `/master/state` read gave them (the records of `leader.D` and
    /// `master.D` come from them).
    pub fn set_master(&mut self, leader: &str, elected_time: Option<f64>) {
        self.leader = leader.to_string();
        self.elected_time = elected_time;
    }

    /// Whether a `SUBSCRIBED` has been applied.
    pub fn is_subscribed(&self) -> bool {
        self.subscribed
    }

    /// `heartbeat_interval_seconds` of the last `SUBSCRIBED`.
    pub fn heartbeat_interval(&self) -> Option<f64> {
        self.heartbeat
    }

    /// False when an event was refused for the bound since the last
    /// `SUBSCRIBED`: the model may miss tasks.
    pub fn is_complete(&self) -> bool {
        !self.overflowed
    }

    /// Tasks held (active, completed, waiting).
    pub fn task_count(&self) -> usize {
        self.task_count
    }

    /// Applies one event.
    pub fn apply(&mut self, event: v1::Event) -> Result<Applied, ApplyError> {
        self.counters.events += 1;
        let out = self.apply_inner(event);
        if matches!(out, Err(ApplyError::Full { .. })) {
            self.overflowed = true;
        }
        if out.is_err() {
            self.counters.refused += 1;
        }
        out
    }

    fn apply_inner(&mut self, event: v1::Event) -> Result<Applied, ApplyError> {
        use v1::Event as E;
        let changed = Applied {
            changed: true,
            pid_needed: false,
        };
        if !self.subscribed && !matches!(event, E::Subscribed(_) | E::Heartbeat | E::Unknown(_)) {
            return Err(ApplyError::NotSubscribed);
        }
        match event {
            E::Subscribed(s) => self.subscribe(*s),
            E::Heartbeat => Ok(Applied::default()),
            E::Unknown(_) => {
                self.counters.unknown_events += 1;
                Ok(Applied::default())
            }
            E::TaskAdded(task) => {
                self.add_task(*task, false)?;
                Ok(changed)
            }
            E::TaskUpdated(update) => self.update_task(*update),
            E::AgentAdded(agent) => {
                if agent.agent_info.id.is_empty() {
                    return Err(ApplyError::MissingId("agent id"));
                }
                self.agents.insert(agent.agent_info.id, agent.pid);
                Ok(changed)
            }
            E::AgentRemoved { agent_id } => Ok(Applied {
                changed: self.agents.remove(&agent_id).is_some(),
                pid_needed: false,
            }),
            E::FrameworkAdded(info) | E::FrameworkUpdated(info) => {
                if info.id.is_empty() {
                    return Err(ApplyError::MissingId("framework id"));
                }
                let fw = self.frameworks.entry(info.id).or_default();
                fw.name = info.name;
                fw.hostname = info.hostname.unwrap_or_default();
                fw.known = true;
                fw.pid_pending = true;
                Ok(Applied {
                    changed: true,
                    pid_needed: true,
                })
            }
            E::FrameworkRemoved(info) => {
                let Some(mut fw) = self.frameworks.remove(&info.id) else {
                    return Ok(Applied::default());
                };
                // Its tasks end with it (the master kills them first).
                let tasks = std::mem::take(&mut fw.tasks);
                for (_, mut t) in tasks {
                    if !is_terminal(&t.state) {
                        t.state = "TASK_KILLED".to_string();
                    }
                    push_completed(
                        &mut fw.completed,
                        t,
                        self.bounds.max_completed_tasks,
                        &mut self.task_count,
                    );
                }
                fw.pid_pending = false;
                if fw.known {
                    self.completed_frameworks.push_back(fw);
                    while self.completed_frameworks.len() > self.bounds.max_completed_frameworks {
                        if let Some(old) = self.completed_frameworks.pop_front() {
                            self.task_count -= old.completed.len();
                        }
                    }
                } else {
                    self.task_count -= fw.completed.len();
                }
                Ok(changed)
            }
        }
    }

    fn subscribe(&mut self, s: v1::Subscribed) -> Result<Applied, ApplyError> {
        // Pids known before survive a resubscription (the new snapshot's
        // frameworks are pending until seeded or read).
        let old_pids: HashMap<String, Pid> = self
            .frameworks
            .iter_mut()
            .filter_map(|(id, fw)| fw.pid.take().map(|p| (id.clone(), p)))
            .collect();
        self.agents.clear();
        self.frameworks.clear();
        self.completed_frameworks.clear();
        self.task_count = 0;
        self.overflowed = false;
        self.subscribed = true;
        self.heartbeat = s.heartbeat_interval_seconds;
        let st = s.get_state;
        for agent in st.get_agents.agents {
            if !agent.agent_info.id.is_empty() {
                self.agents.insert(agent.agent_info.id, agent.pid);
            }
        }
        for f in st.get_frameworks.frameworks {
            let info = f.framework_info;
            let fw = self.frameworks.entry(info.id.clone()).or_default();
            fw.name = info.name;
            fw.hostname = info.hostname.unwrap_or_default();
            fw.known = true;
            fw.pid = old_pids.get(&info.id).cloned();
            fw.pid_pending = true;
        }
        let mut completed_frameworks: BTreeMap<String, FrameworkEntry> = BTreeMap::new();
        for f in st.get_frameworks.completed_frameworks {
            let info = f.framework_info;
            if self.frameworks.contains_key(&info.id) {
                continue;
            }
            let fw = completed_frameworks.entry(info.id).or_default();
            fw.name = info.name;
            fw.hostname = info.hostname.unwrap_or_default();
            fw.known = true;
        }
        let mut full = None;
        for task in st.get_tasks.tasks {
            if let Some(fw) = completed_frameworks.get_mut(&task.framework_id) {
                if self.task_count >= self.bounds.max_tasks {
                    full = Some(ApplyError::Full {
                        max_tasks: self.bounds.max_tasks,
                    });
                    break;
                }
                let t = task_entry(task);
                self.task_count += 1;
                push_completed(
                    &mut fw.completed,
                    t,
                    self.bounds.max_completed_tasks,
                    &mut self.task_count,
                );
                continue;
            }
            if let Err(e) = self.add_task(task, false) {
                full = Some(e);
                break;
            }
        }
        for task in st.get_tasks.completed_tasks {
            if let Some(fw) = completed_frameworks.get_mut(&task.framework_id) {
                let t = task_entry(task);
                if self.task_count >= self.bounds.max_tasks {
                    full = Some(ApplyError::Full {
                        max_tasks: self.bounds.max_tasks,
                    });
                    break;
                }
                self.task_count += 1;
                push_completed(
                    &mut fw.completed,
                    t,
                    self.bounds.max_completed_tasks,
                    &mut self.task_count,
                );
                continue;
            }
            if let Err(e) = self.add_task(task, true) {
                full = Some(e);
                break;
            }
        }
        self.completed_frameworks = completed_frameworks.into_values().collect();
        while self.completed_frameworks.len() > self.bounds.max_completed_frameworks {
            if let Some(old) = self.completed_frameworks.pop_front() {
                self.task_count -= old.completed.len();
            }
        }
        if let Some(e) = full {
            self.overflowed = true;
            log::warn!("{e}");
        }
        Ok(Applied {
            changed: true,
            pid_needed: !self.frameworks.is_empty(),
        })
    }

    /// Adds (or replaces) a task; `completed` puts it in its framework's
    /// completed ring.
    fn add_task(&mut self, task: v1::Task, completed: bool) -> Result<(), ApplyError> {
        if task.task_id.is_empty() {
            return Err(ApplyError::MissingId("task id"));
        }
        if task.framework_id.is_empty() {
            return Err(ApplyError::MissingId("framework id"));
        }
        let fw_id = task.framework_id.clone();
        let entry = task_entry(task);
        let exists = self
            .frameworks
            .get(&fw_id)
            .is_some_and(|fw| fw.tasks.contains_key(&entry.id));
        if !exists && self.task_count >= self.bounds.max_tasks {
            return Err(ApplyError::Full {
                max_tasks: self.bounds.max_tasks,
            });
        }
        // A task may come before its framework: it waits in an entry that
        // is not rendered until the framework is known.
        let fw = self.frameworks.entry(fw_id).or_default();
        if completed || is_terminal(&entry.state) {
            if let Some(_old) = fw.tasks.remove(&entry.id) {
                self.task_count -= 1;
            }
            self.task_count += 1;
            push_completed(
                &mut fw.completed,
                entry,
                self.bounds.max_completed_tasks,
                &mut self.task_count,
            );
        } else if entry.state == "TASK_UNREACHABLE" {
            if fw.tasks.remove(&entry.id).is_some() {
                self.task_count -= 1;
            }
        } else if fw.tasks.insert(entry.id.clone(), entry).is_none() {
            self.task_count += 1;
        }
        Ok(())
    }

    fn update_task(&mut self, u: v1::TaskUpdated) -> Result<Applied, ApplyError> {
        let task_id = u.status.task_id.clone();
        if task_id.is_empty() {
            return Err(ApplyError::MissingId("task id"));
        }
        let Some(fw) = self.frameworks.get_mut(&u.framework_id) else {
            self.counters.unknown_tasks += 1;
            return Ok(Applied::default());
        };
        let Some(task) = fw.tasks.get_mut(&task_id) else {
            self.counters.unknown_tasks += 1;
            return Ok(Applied::default());
        };
        if !is_terminal(&task.state) && !u.state.is_empty() {
            task.state = u.state;
        }
        if u.status.state == "TASK_RUNNING" && u.status.timestamp > -1.0 {
            let newer = task
                .latest_running
                .as_ref()
                .is_none_or(|s| u.status.timestamp >= s.timestamp);
            if newer {
                task.latest_running = Some(status_entry(u.status));
            }
        }
        if is_terminal(&task.state) {
            if let Some(t) = fw.tasks.remove(&task_id) {
                push_completed(
                    &mut fw.completed,
                    t,
                    self.bounds.max_completed_tasks,
                    &mut self.task_count,
                );
            }
        } else if task.state == "TASK_UNREACHABLE" && fw.tasks.remove(&task_id).is_some() {
            self.task_count -= 1;
        }
        Ok(Applied {
            changed: true,
            pid_needed: false,
        })
    }

    /// Frameworks whose pid is awaited (their ids).
    pub fn pending_pids(&self) -> Vec<String> {
        self.frameworks
            .iter()
            .filter(|(_, fw)| fw.known && fw.pid_pending)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The pid read for framework `id` (from `/master/frameworks`).
    /// Unknown ids are ignored.
    pub fn set_pid(&mut self, id: &str, pid: Pid) -> bool {
        match self.frameworks.get_mut(id) {
            Some(fw) => {
                let changed = fw.pid.as_ref() != Some(&pid);
                fw.pid = Some(pid);
                fw.pid_pending = false;
                changed
            }
            None => false,
        }
    }

    /// Pids from a `/master/state` read ([`framework_pids_from_state`]),
    /// for the frameworks still pending: a framework the state lists
    /// without a pid is [`Pid::Absent`]; one the state does not list stays
    /// pending.
    pub fn seed_pids(&mut self, pids: &HashMap<String, Pid>) {
        for (id, fw) in &mut self.frameworks {
            if fw.pid_pending
                && let Some(pid) = pids.get(id)
            {
                fw.pid = Some(pid.clone());
                fw.pid_pending = false;
            }
        }
    }

    /// The state the generator reads, as `/master/state` would give it
    /// now: every registered agent, every known framework that has a pid
    /// (see the module docs: a framework never seen with its pid is left
    /// out), its tasks and completed tasks, and the completed frameworks.
    pub fn to_state(&self) -> State<'_> {
        let mut state = State {
            leader: Cow::Borrowed(&self.leader),
            elected_time: self.elected_time,
            ..State::default()
        };
        state.slaves = self
            .agents
            .iter()
            .map(|(id, pid)| Slave {
                id: Cow::Borrowed(id),
                pid: pid.as_deref(),
            })
            .collect();
        for fw in self.frameworks.values() {
            if !fw.known {
                continue;
            }
            let Some(pid) = &fw.pid else { continue };
            state.frameworks.push(render_framework(fw, Some(pid)));
        }
        state.completed_frameworks = self
            .completed_frameworks
            .iter()
            .map(|fw| render_framework(fw, fw.pid.as_ref()))
            .collect();
        state
    }
}

fn push_completed(ring: &mut VecDeque<TaskEntry>, task: TaskEntry, max: usize, count: &mut usize) {
    ring.push_back(task);
    while ring.len() > max {
        ring.pop_front();
        *count -= 1;
    }
}

fn render_framework<'a>(fw: &'a FrameworkEntry, pid: Option<&'a Pid>) -> Framework<'a> {
    Framework {
        name: Cow::Borrowed(&fw.name),
        pid: match pid {
            Some(Pid::Raw(raw)) => Some(raw.as_str()),
            _ => None,
        },
        hostname: Cow::Borrowed(&fw.hostname),
        tasks: fw.tasks.values().map(render_task).collect(),
        completed_tasks: fw.completed.iter().map(render_task).collect(),
    }
}

fn render_task(t: &TaskEntry) -> Task<'_> {
    Task {
        id: Cow::Borrowed(&t.id),
        name: Cow::Borrowed(&t.name),
        slave_id: Cow::Borrowed(&t.agent_id),
        state: Cow::Borrowed(&t.state),
        resources: Resources {
            ports: Cow::Borrowed(&t.ports),
        },
        latest_running: t.latest_running.as_ref().map(|s| Status {
            state: Cow::Borrowed("TASK_RUNNING"),
            timestamp: s.timestamp,
            labels: s
                .labels
                .iter()
                .map(|(k, v)| Label {
                    key: Cow::Borrowed(k),
                    value: Cow::Borrowed(v),
                })
                .collect(),
            container_status: ContainerStatus {
                network_ips: s
                    .network_ips
                    .iter()
                    .map(|ip| Cow::Borrowed(ip.as_str()))
                    .collect(),
            },
            healthy: s.healthy,
        }),
        discovery: match &t.discovery {
            None => Discovery::default(),
            Some(d) => Discovery {
                name: Cow::Borrowed(&d.name),
                ports: DiscoveryPorts {
                    ports: d
                        .ports
                        .iter()
                        .map(|(number, name, protocol)| DiscoveryPort {
                            number: *number,
                            name: Cow::Borrowed(name),
                            protocol: Cow::Borrowed(protocol),
                        })
                        .collect(),
                },
                visibility: d.visibility.as_deref().and_then(|v| v.parse().ok()),
            },
        },
        ip_sources_label: t.ip_sources_label.as_deref().map(Cow::Borrowed),
        health_check: t.health_check,
    }
}

fn status_entry(s: v1::TaskStatus) -> StatusEntry {
    let mut network_ips = Vec::new();
    if let Some(cs) = s.container_status {
        for ni in cs.network_infos {
            network_ips.extend(
                ni.ip_addresses
                    .into_iter()
                    .map(|a| a.ip_address.unwrap_or_default()),
            );
        }
    }
    StatusEntry {
        timestamp: s.timestamp,
        healthy: s.healthy,
        labels: s
            .labels
            .map(|l| {
                l.labels
                    .into_iter()
                    .map(|l| (l.key, l.value.unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default(),
        network_ips,
    }
}

fn task_entry(t: v1::Task) -> TaskEntry {
    // The latest TASK_RUNNING status, as the state model keeps it:
    // greatest timestamp, the earlier one on ties, above -1.
    let mut best: Option<v1::TaskStatus> = None;
    for s in t.statuses {
        if s.state == "TASK_RUNNING" && s.timestamp > best.as_ref().map_or(-1.0, |b| b.timestamp) {
            best = Some(s);
        }
    }
    let ip_sources_label = t.labels.as_ref().and_then(|l| {
        l.labels
            .iter()
            .find(|l| l.key == IP_SOURCES_LABEL)
            .map(|l| l.value.clone().unwrap_or_default())
    });
    TaskEntry {
        ports: ports_text(&t.resources),
        id: t.task_id,
        name: t.name,
        agent_id: t.agent_id,
        state: t.state,
        latest_running: best.map(status_entry),
        discovery: t.discovery.map(|d| DiscoveryEntry {
            name: d.name.unwrap_or_default(),
            visibility: d.visibility,
            ports: d
                .ports
                .map(|p| {
                    p.ports
                        .into_iter()
                        .map(|p| {
                            (
                                i64::from(p.number),
                                p.name.unwrap_or_default(),
                                p.protocol.unwrap_or_default(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }),
        ip_sources_label,
        health_check: t.health_check.is_some(),
    }
}

/// `resources.ports` as `/master/state` writes it: the non-revocable
/// `ports` RANGES resources summed (sorted, overlapping and adjacent ranges
/// merged) and written `[a-b, c-d]`; "" when the task has none.
pub fn ports_text(resources: &[v1::Resource]) -> String {
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    let mut any = false;
    for r in resources {
        if r.name != "ports" || r.kind != "RANGES" || r.revocable.is_some() {
            continue;
        }
        any = true;
        if let Some(rs) = &r.ranges {
            ranges.extend(rs.range.iter().map(|r| (r.begin, r.end)));
        }
    }
    if !any {
        return String::new();
    }
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match merged.last_mut() {
            Some(last) if lo == last.0 => last.1 = last.1.max(hi),
            Some(last) if lo > last.0 && lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    let parts: Vec<String> = merged.iter().map(|(a, b)| format!("{a}-{b}")).collect();
    format!("[{}]", parts.join(", "))
}

/// The `frameworks` (and `completed_frameworks`) of a `/master/state` or
/// `/master/frameworks` body: id → pid. Everything else is skipped.
#[derive(Deserialize)]
struct PidsBody<'a> {
    #[serde(default, borrow)]
    frameworks: Vec<PidsFramework<'a>>,
    #[serde(default, borrow)]
    completed_frameworks: Vec<PidsFramework<'a>>,
}

#[derive(Deserialize)]
struct PidsFramework<'a> {
    #[serde(default)]
    id: String,
    /// `None` only when the key is missing (`null` is kept as `null`,
    /// which the generator rejects as Mesos-DNS does).
    #[serde(default, borrow, deserialize_with = "raw_pid")]
    pid: Option<&'a RawValue>,
}

fn raw_pid<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

/// The scheduler pid of every framework of a `/master/state` (or
/// `/master/frameworks`) body, by framework id.
pub fn framework_pids_from_state(body: &[u8]) -> Result<HashMap<String, Pid>, String> {
    let parsed: PidsBody<'_> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let mut out = HashMap::new();
    for fw in parsed
        .completed_frameworks
        .into_iter()
        .chain(parsed.frameworks)
    {
        if fw.id.is_empty() {
            continue;
        }
        let pid = match fw.pid {
            None => Pid::Absent,
            Some(raw) => Pid::Raw(raw.get().to_string()),
        };
        out.insert(fw.id, pid);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: &str) -> Vec<v1::Resource> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn ports_are_summed_coalesced_and_written_as_mesos_does() {
        assert_eq!(ports_text(&[]), "");
        assert_eq!(
            ports_text(&res(
                r#"[{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31005,"end":31005},{"begin":31000,"end":31001}]}},
                   {"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31002,"end":31003}]}},
                   {"name":"ports","type":"RANGES","revocable":{},"ranges":{"range":[{"begin":1,"end":2}]}},
                   {"name":"cpus","type":"SCALAR","scalar":{"value":1}}]"#
            )),
            "[31000-31003, 31005-31005]"
        );
        assert_eq!(
            ports_text(&res(
                r#"[{"name":"ports","type":"RANGES","ranges":{"range":[]}}]"#
            )),
            "[]"
        );
    }

    fn ev(json: &str) -> v1::Event {
        v1::parse_event(json.as_bytes()).unwrap()
    }

    #[test]
    fn events_before_subscribed_are_refused() {
        let mut c = Cluster::new(Bounds::default());
        let err = c
            .apply(ev(
                r#"{"type":"AGENT_REMOVED","agent_removed":{"agent_id":{"value":"S1"}}}"#,
            ))
            .unwrap_err();
        assert_eq!(err, ApplyError::NotSubscribed);
        assert!(c.apply(ev(r#"{"type":"HEARTBEAT"}"#)).is_ok());
    }

    #[test]
    fn the_task_bound_holds() {
        let mut c = Cluster::new(Bounds {
            max_tasks: 2,
            ..Bounds::default()
        });
        c.apply(ev(r#"{"type":"SUBSCRIBED","subscribed":{"get_state":{}}}"#))
            .unwrap();
        let add = |i: u32| {
            ev(&format!(
                r#"{{"type":"TASK_ADDED","task_added":{{"task":{{"name":"t","task_id":{{"value":"t{i}"}},
                "framework_id":{{"value":"F"}},"agent_id":{{"value":"S"}},"state":"TASK_RUNNING"}}}}}}"#
            ))
        };
        c.apply(add(1)).unwrap();
        c.apply(add(2)).unwrap();
        c.apply(add(2)).unwrap();
        assert_eq!(
            c.apply(add(3)).unwrap_err(),
            ApplyError::Full { max_tasks: 2 }
        );
        assert!(!c.is_complete());
        assert_eq!(c.task_count(), 2);
        // A new snapshot starts over.
        c.apply(ev(r#"{"type":"SUBSCRIBED","subscribed":{"get_state":{}}}"#))
            .unwrap();
        assert!(c.is_complete());
        assert_eq!(c.task_count(), 0);
    }

    #[test]
    fn completed_rings_are_bounded() {
        let mut c = Cluster::new(Bounds {
            max_tasks: 100,
            max_completed_tasks: 3,
            max_completed_frameworks: 1,
        });
        c.apply(ev(r#"{"type":"SUBSCRIBED","subscribed":{"get_state":{}}}"#))
            .unwrap();
        for fw in ["F1", "F2"] {
            c.apply(ev(&format!(
                r#"{{"type":"FRAMEWORK_ADDED","framework_added":{{"framework":{{"framework_info":{{"id":{{"value":"{fw}"}},"name":"m","user":"u"}},"active":true,"connected":true,"recovered":false}}}}}}"#
            )))
            .unwrap();
            for i in 0..10 {
                c.apply(ev(&format!(
                    r#"{{"type":"TASK_ADDED","task_added":{{"task":{{"name":"t","task_id":{{"value":"t{i}"}},
                    "framework_id":{{"value":"{fw}"}},"agent_id":{{"value":"S"}},"state":"TASK_FINISHED"}}}}}}"#
                )))
                .unwrap();
            }
        }
        assert_eq!(c.task_count(), 6);
        for fw in ["F1", "F2"] {
            c.apply(ev(&format!(
                r#"{{"type":"FRAMEWORK_REMOVED","framework_removed":{{"framework_info":{{"id":{{"value":"{fw}"}},"name":"m","user":"u"}}}}}}"#
            )))
            .unwrap();
        }
        assert_eq!(c.task_count(), 3);
        assert_eq!(c.to_state().completed_frameworks.len(), 1);
    }

    #[test]
    fn pids_come_from_state_bodies() {
        let pids = framework_pids_from_state(
            br#"{"frameworks":[{"id":"F1","pid":"scheduler-1@10.0.0.1:8080","tasks":[{"id":"x"}]},{"id":"F2"}],
                 "completed_frameworks":[{"id":"F3","pid":null}]}"#,
        )
        .unwrap();
        assert_eq!(
            pids["F1"],
            Pid::Raw("\"scheduler-1@10.0.0.1:8080\"".to_string())
        );
        assert_eq!(pids["F2"], Pid::Absent);
        assert_eq!(pids["F3"], Pid::Raw("null".to_string()));
        assert!(framework_pids_from_state(b"<html>").is_err());
    }
}
