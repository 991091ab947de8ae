//! The operator API events (`mesos.v1.master.Event`, JSON), as far as the
//! records need them. Field names are those of `include/mesos/v1/mesos.proto`
//! and `include/mesos/v1/master/master.proto`, which Mesos writes verbatim
//! (`JSON::Protobuf`): ids are `{"value": ...}` objects, resources a list
//! of `Resource` messages, labels `{"labels": [...]}`.
//!
//! Number forms: Mesos writes int64 and double fields as JSON numbers
//! (before 1.7 doubles with `%#.15g`, since 1.7 with rapidjson's shortest
//! form; before 1.7 `/` is escaped as `\/`); its own JSON → protobuf
//! parser also takes numbers written as strings, as the proto3 JSON
//! mapping writes int64. Every numeric field here accepts both. Unknown
//! fields are ignored.
//!
//! [`parse_event`] reads the envelope (`type`) first and only the payload
//! of that type, so that an unknown event type costs nothing and is
//! reported as [`Event::Unknown`].

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny};
use serde_json::value::RawValue;
use std::fmt;
use std::str::FromStr;

/// One event of the stream.
#[derive(Debug)]
pub enum Event {
    Subscribed(Box<Subscribed>),
    TaskAdded(Box<Task>),
    TaskUpdated(Box<TaskUpdated>),
    AgentAdded(Agent),
    AgentRemoved {
        agent_id: String,
    },
    FrameworkAdded(FrameworkInfo),
    FrameworkUpdated(FrameworkInfo),
    FrameworkRemoved(FrameworkInfo),
    Heartbeat,
    /// A type this tool does not read (`UNKNOWN`, or one added to Mesos
    /// later); ignored.
    Unknown(String),
}

impl Event {
    /// The event's `type`, as Mesos names it.
    pub fn kind(&self) -> &str {
        match self {
            Event::Subscribed(_) => "SUBSCRIBED",
            Event::TaskAdded(_) => "TASK_ADDED",
            Event::TaskUpdated(_) => "TASK_UPDATED",
            Event::AgentAdded(_) => "AGENT_ADDED",
            Event::AgentRemoved { .. } => "AGENT_REMOVED",
            Event::FrameworkAdded(_) => "FRAMEWORK_ADDED",
            Event::FrameworkUpdated(_) => "FRAMEWORK_UPDATED",
            Event::FrameworkRemoved(_) => "FRAMEWORK_REMOVED",
            Event::Heartbeat => "HEARTBEAT",
            Event::Unknown(kind) => kind,
        }
    }
}

/// Why an event could not be read. `kind` is the event's type when the
/// envelope could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    pub kind: Option<String>,
    pub message: String,
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Some(kind) => write!(f, "malformed {kind} event: {}", self.message),
            None => write!(f, "malformed event: {}", self.message),
        }
    }
}

impl std::error::Error for EventError {}

/// `Event.Subscribed`: the snapshot and the heartbeat interval.
#[derive(Debug, Default, Deserialize)]
pub struct Subscribed {
    #[serde(default)]
    pub get_state: GetState,
    /// Seconds; `None` when the master sends no heartbeats.
    #[serde(default, deserialize_with = "opt_num")]
    pub heartbeat_interval_seconds: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct GetState {
    #[serde(default)]
    pub get_tasks: GetTasks,
    #[serde(default)]
    pub get_agents: GetAgents,
    #[serde(default)]
    pub get_frameworks: GetFrameworks,
}

#[derive(Debug, Default, Deserialize)]
pub struct GetTasks {
    /// Staging, running, and terminal but not yet acknowledged.
    #[serde(default)]
    pub tasks: Vec<Task>,
    /// Terminal and acknowledged (bounded by the master per framework).
    #[serde(default)]
    pub completed_tasks: Vec<Task>,
    /// Not in `/master/state`'s `tasks` either: ignored.
    #[serde(default)]
    pub unreachable_tasks: IgnoredAny,
}

#[derive(Debug, Default, Deserialize)]
pub struct GetAgents {
    #[serde(default)]
    pub agents: Vec<Agent>,
}

#[derive(Debug, Default, Deserialize)]
pub struct GetFrameworks {
    #[serde(default)]
    pub frameworks: Vec<FrameworkEntry>,
    #[serde(default)]
    pub completed_frameworks: Vec<FrameworkEntry>,
}

/// `Response.GetFrameworks.Framework`, also the payload of
/// `FRAMEWORK_ADDED` / `FRAMEWORK_UPDATED` (`{"framework": ...}`).
#[derive(Debug, Default, Deserialize)]
pub struct FrameworkEntry {
    pub framework_info: FrameworkInfo,
}

/// `FrameworkInfo`: no scheduler pid here (see `cluster`).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct FrameworkInfo {
    #[serde(default, deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub hostname: Option<String>,
}

/// `Response.GetAgents.Agent`.
#[derive(Debug, Deserialize)]
pub struct Agent {
    pub agent_info: AgentInfo,
    /// The raw JSON text of `pid` (quotes and escapes as the master wrote
    /// them), which is what Mesos-DNS reads from `/master/state`.
    #[serde(default, deserialize_with = "raw_text")]
    pub pid: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct AgentInfo {
    #[serde(default, deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub hostname: String,
}

/// `Task`.
#[derive(Debug, Default, Deserialize)]
pub struct Task {
    #[serde(default)]
    pub name: String,
    #[serde(default, deserialize_with = "id")]
    pub task_id: String,
    #[serde(default, deserialize_with = "id")]
    pub framework_id: String,
    #[serde(default, deserialize_with = "id")]
    pub agent_id: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(default)]
    pub statuses: Vec<TaskStatus>,
    #[serde(default)]
    pub labels: Option<Labels>,
    #[serde(default)]
    pub discovery: Option<DiscoveryInfo>,
    /// Only whether it is there.
    #[serde(default)]
    pub health_check: Option<IgnoredAny>,
}

/// `Event.TaskUpdated`. `state` is the master's latest state of the task
/// (the agent's latest, which may be ahead of `status.state`): it is the
/// one trusted for the task's state, as by the master itself and dcos-net.
#[derive(Debug, Default, Deserialize)]
pub struct TaskUpdated {
    #[serde(default, deserialize_with = "id")]
    pub framework_id: String,
    pub status: TaskStatus,
    #[serde(default)]
    pub state: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct TaskStatus {
    #[serde(default, deserialize_with = "id")]
    pub task_id: String,
    #[serde(default)]
    pub state: String,
    /// Seconds; 0 when absent (as `/master/state` writes it).
    #[serde(default, deserialize_with = "num_or_zero")]
    pub timestamp: f64,
    #[serde(default)]
    pub healthy: Option<bool>,
    #[serde(default)]
    pub labels: Option<Labels>,
    #[serde(default)]
    pub container_status: Option<ContainerStatus>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Labels {
    #[serde(default)]
    pub labels: Vec<Label>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Label {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ContainerStatus {
    #[serde(default)]
    pub network_infos: Vec<NetworkInfo>,
}

#[derive(Debug, Default, Deserialize)]
pub struct NetworkInfo {
    #[serde(default)]
    pub ip_addresses: Vec<IpAddress>,
}

#[derive(Debug, Default, Deserialize)]
pub struct IpAddress {
    #[serde(default)]
    pub ip_address: Option<String>,
}

/// `Resource`: only what `/master/state`'s `resources.ports` is made of.
#[derive(Debug, Default, Deserialize)]
pub struct Resource {
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub ranges: Option<Ranges>,
    /// Present for revocable resources (`ports_revocable` in the state).
    #[serde(default)]
    pub revocable: Option<IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Ranges {
    #[serde(default)]
    pub range: Vec<Range>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Range {
    #[serde(deserialize_with = "num")]
    pub begin: u64,
    #[serde(deserialize_with = "num")]
    pub end: u64,
}

#[derive(Debug, Default, Deserialize)]
pub struct DiscoveryInfo {
    #[serde(default)]
    pub visibility: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub ports: Option<DiscoveryPorts>,
}

#[derive(Debug, Default, Deserialize)]
pub struct DiscoveryPorts {
    #[serde(default)]
    pub ports: Vec<DiscoveryPort>,
}

#[derive(Debug, Default, Deserialize)]
pub struct DiscoveryPort {
    #[serde(deserialize_with = "num")]
    pub number: u32,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub protocol: Option<String>,
}

/// `{"value": "..."}` → the value.
fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    struct Id {
        value: String,
    }
    Ok(Id::deserialize(d)?.value)
}

fn raw_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let raw = <&RawValue>::deserialize(d)?;
    Ok(Some(raw.get().to_string()))
}

/// A number, or a string holding one (proto3 / Mesos's parser accept both).
fn num<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr + TryFrom<u64> + Copy,
    T: num_cast::FromF64,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrText<'a> {
        U(u64),
        I(i64),
        F(f64),
        #[serde(borrow)]
        S(std::borrow::Cow<'a, str>),
    }
    match NumOrText::deserialize(d)? {
        NumOrText::U(u) => {
            T::try_from(u).map_err(|_| de::Error::custom(format!("{u} is out of range")))
        }
        NumOrText::I(i) => Err(de::Error::custom(format!("{i} is out of range"))),
        NumOrText::F(f) => T::from_f64(f)
            .ok_or_else(|| de::Error::custom(format!("{f} is not an integer in range"))),
        NumOrText::S(s) => s
            .trim()
            .parse::<T>()
            .map_err(|_| de::Error::custom(format!("{s:?} is not a number"))),
    }
}

/// Conversions of a JSON float that is a whole number.
mod num_cast {
    pub trait FromF64: Sized {
        fn from_f64(f: f64) -> Option<Self>;
    }
    impl FromF64 for u64 {
        fn from_f64(f: f64) -> Option<u64> {
            (f.fract() == 0.0 && (0.0..1.8e19).contains(&f)).then_some(f as u64)
        }
    }
    impl FromF64 for u32 {
        fn from_f64(f: f64) -> Option<u32> {
            (f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&f)).then_some(f as u32)
        }
    }
}

/// A double: a number, or a string holding one (`"Infinity"` included,
/// which Mesos writes since 1.10).
fn opt_num<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrText<'a> {
        F(f64),
        #[serde(borrow)]
        S(std::borrow::Cow<'a, str>),
        Null(()),
    }
    match Option::<NumOrText>::deserialize(d)? {
        None | Some(NumOrText::Null(())) => Ok(None),
        Some(NumOrText::F(f)) => Ok(Some(f)),
        Some(NumOrText::S(s)) => match s.trim() {
            "Infinity" => Ok(Some(f64::INFINITY)),
            "-Infinity" => Ok(Some(f64::NEG_INFINITY)),
            "NaN" => Ok(Some(f64::NAN)),
            t => t
                .parse::<f64>()
                .map(Some)
                .map_err(|_| de::Error::custom(format!("{s:?} is not a number"))),
        },
    }
}

fn num_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(opt_num(d)?.unwrap_or(0.0))
}

/// The envelope: the type, and each payload as raw JSON.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default, borrow)]
    subscribed: Option<&'a RawValue>,
    #[serde(default, borrow)]
    task_added: Option<&'a RawValue>,
    #[serde(default, borrow)]
    task_updated: Option<&'a RawValue>,
    #[serde(default, borrow)]
    agent_added: Option<&'a RawValue>,
    #[serde(default, borrow)]
    agent_removed: Option<&'a RawValue>,
    #[serde(default, borrow)]
    framework_added: Option<&'a RawValue>,
    #[serde(default, borrow)]
    framework_updated: Option<&'a RawValue>,
    #[serde(default, borrow)]
    framework_removed: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct TaskAdded {
    task: Task,
}

#[derive(Deserialize)]
struct AgentAdded {
    agent: Agent,
}

#[derive(Deserialize)]
struct AgentRemoved {
    #[serde(deserialize_with = "id")]
    agent_id: String,
}

#[derive(Deserialize)]
struct FrameworkChanged {
    framework: FrameworkEntry,
}

#[derive(Deserialize)]
struct FrameworkRemoved {
    framework_info: FrameworkInfo,
}

/// Reads one event (one RecordIO record).
pub fn parse_event(record: &[u8]) -> Result<Event, EventError> {
    let env: Envelope<'_> = serde_json::from_slice(record).map_err(|e| EventError {
        kind: None,
        message: e.to_string(),
    })?;
    let Some(kind) = env.kind else {
        return Err(EventError {
            kind: None,
            message: "no \"type\"".to_string(),
        });
    };
    fn payload<'a, T: Deserialize<'a>>(
        kind: &str,
        field: &str,
        raw: Option<&'a RawValue>,
    ) -> Result<T, EventError> {
        let raw = raw.ok_or_else(|| EventError {
            kind: Some(kind.to_string()),
            message: format!("no {field:?}"),
        })?;
        let de = &mut serde_json::Deserializer::from_str(raw.get());
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            EventError {
                kind: Some(kind.to_string()),
                message: format!("{} (at {field}.{path})", e.into_inner()),
            }
        })
    }
    let event = match kind.as_str() {
        "SUBSCRIBED" => Event::Subscribed(Box::new(payload(&kind, "subscribed", env.subscribed)?)),
        "TASK_ADDED" => {
            let t: TaskAdded = payload(&kind, "task_added", env.task_added)?;
            Event::TaskAdded(Box::new(t.task))
        }
        "TASK_UPDATED" => {
            Event::TaskUpdated(Box::new(payload(&kind, "task_updated", env.task_updated)?))
        }
        "AGENT_ADDED" => {
            let a: AgentAdded = payload(&kind, "agent_added", env.agent_added)?;
            Event::AgentAdded(a.agent)
        }
        "AGENT_REMOVED" => {
            let a: AgentRemoved = payload(&kind, "agent_removed", env.agent_removed)?;
            Event::AgentRemoved {
                agent_id: a.agent_id,
            }
        }
        "FRAMEWORK_ADDED" => {
            let f: FrameworkChanged = payload(&kind, "framework_added", env.framework_added)?;
            Event::FrameworkAdded(f.framework.framework_info)
        }
        "FRAMEWORK_UPDATED" => {
            let f: FrameworkChanged = payload(&kind, "framework_updated", env.framework_updated)?;
            Event::FrameworkUpdated(f.framework.framework_info)
        }
        "FRAMEWORK_REMOVED" => {
            let f: FrameworkRemoved = payload(&kind, "framework_removed", env.framework_removed)?;
            Event::FrameworkRemoved(f.framework_info)
        }
        "HEARTBEAT" => Event::Heartbeat,
        _ => Event::Unknown(kind),
    };
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_added_event_reads_protobuf_json() {
        let ev = parse_event(
            br#"{"type":"TASK_ADDED","task_added":{"task":{
              "name":"web","task_id":{"value":"web.1"},"framework_id":{"value":"F1"},
              "agent_id":{"value":"S1"},"state":"TASK_STAGING",
              "resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":0.1}},
                {"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":"31001"}]}}],
              "statuses":[],"labels":{"labels":[{"key":"a","value":"b"}]},
              "discovery":{"visibility":"FRAMEWORK","name":"web","ports":{"ports":[{"number":"80","protocol":"tcp"}]}},
              "health_check":{"type":"HTTP"}}}}"#,
        )
        .unwrap();
        let Event::TaskAdded(t) = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (
                t.task_id.as_str(),
                t.framework_id.as_str(),
                t.agent_id.as_str()
            ),
            ("web.1", "F1", "S1")
        );
        let r = t.resources[1].ranges.as_ref().unwrap();
        assert_eq!((r.range[0].begin, r.range[0].end), (31000, 31001));
        assert_eq!(t.discovery.unwrap().ports.unwrap().ports[0].number, 80);
        assert!(t.health_check.is_some());
    }

    #[test]
    fn numbers_may_be_strings_and_doubles_any_form() {
        let ev = parse_event(
            br#"{"type":"TASK_UPDATED","task_updated":{"framework_id":{"value":"F"},
              "state":"TASK_RUNNING","status":{"task_id":{"value":"t"},"state":"TASK_RUNNING",
              "timestamp":"1500000000.12345","healthy":true}}}"#,
        )
        .unwrap();
        let Event::TaskUpdated(u) = ev else { panic!() };
        assert_eq!(u.status.timestamp, 1500000000.12345);
        let ev = parse_event(
            br#"{"type":"SUBSCRIBED","subscribed":{"heartbeat_interval_seconds":15.0,"get_state":{}}}"#,
        )
        .unwrap();
        let Event::Subscribed(s) = ev else { panic!() };
        assert_eq!(s.heartbeat_interval_seconds, Some(15.0));
    }

    #[test]
    fn unknown_types_are_reported_not_parsed() {
        let ev = parse_event(br#"{"type":"OPERATION_UPDATED","operation_updated":{"x":[1,2]}}"#)
            .unwrap();
        assert!(matches!(&ev, Event::Unknown(k) if k == "OPERATION_UPDATED"));
        assert!(matches!(
            parse_event(br#"{"type":"HEARTBEAT"}"#).unwrap(),
            Event::Heartbeat
        ));
    }

    #[test]
    fn malformed_events_name_the_type_and_the_field() {
        let err =
            parse_event(br#"{"type":"TASK_ADDED","task_added":{"task":{"task_id":{"value":5}}}}"#)
                .unwrap_err();
        assert_eq!(err.kind.as_deref(), Some("TASK_ADDED"));
        assert!(err.message.contains("task_id"), "{err}");
        let err = parse_event(br#"{"type":"AGENT_ADDED"}"#).unwrap_err();
        assert!(err.to_string().contains("no \"agent_added\""), "{err}");
        assert!(parse_event(b"[1,2]").is_err());
        assert!(parse_event(b"{}").is_err());
        assert!(parse_event(b"\xff").is_err());
    }

    #[test]
    fn agent_pids_keep_their_raw_text() {
        let ev = parse_event(
            br#"{"type":"AGENT_ADDED","agent_added":{"agent":{"agent_info":{"id":{"value":"S1"},"hostname":"h"},
              "active":true,"version":"1.11.0","pid":"slave(1)\u0040127.0.0.1:5051"}}}"#,
        )
        .unwrap();
        let Event::AgentAdded(a) = ev else { panic!() };
        assert_eq!(a.pid.as_deref(), Some(r#""slave(1)\u0040127.0.0.1:5051""#));
        assert_eq!(a.agent_info.id, "S1");
    }
}
