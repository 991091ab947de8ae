//! The serde model of the Mesos master state: only the fields Mesos-DNS
//! reads (spec §2.2). Unknown fields are ignored. As in Go's encoding/json,
//! a JSON `null` leaves a field at its default, a `null` list element is an
//! empty element, and a wrong type rejects the whole state. Strings borrow
//! from the input where they have no escapes.

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

type Str<'a> = Cow<'a, str>;

/// The task label that chooses a task's IP sources (read by
/// [`Task::ip_sources_label`], used by `filter.rs`).
pub const IP_SOURCES_LABEL: &str = "mesos2ns1.ip-sources";

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

/// `null` or missing → default, as Go does for non-pointer fields.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A list: `null` or missing → empty; a `null` element → a default element,
/// as Go decodes `null` into a struct in a slice.
fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    struct Elem<T>(T);
    impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Elem<T> {
        fn deserialize<D2: Deserializer<'de>>(d: D2) -> Result<Self, D2::Error> {
            Ok(Elem(Option::<T>::deserialize(d)?.unwrap_or_default()))
        }
    }
    let v: Vec<Elem<T>> = nullable(d)?;
    Ok(v.into_iter().map(|e| e.0).collect())
}

/// A list whose spare capacity (from growing while parsing) is given back:
/// task lists are the bulk of a large state.
fn compact<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    let mut v: Vec<T> = list(d)?;
    v.shrink_to_fit();
    Ok(v)
}

/// A string that borrows from the input when it has no escapes; `null`
/// gives "" (Go's behaviour). Serde's own `Cow` impl would always copy.
fn text<'de, D>(d: D) -> Result<Str<'de>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(opt_text(d)?.unwrap_or_default())
}

fn opt_text<'de, D>(d: D) -> Result<Option<Str<'de>>, D::Error>
where
    D: Deserializer<'de>,
{
    struct Text;
    impl<'de> serde::de::Visitor<'de> for Text {
        type Value = Option<Str<'de>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v)))
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_str(Text)
        }
    }
    d.deserialize_option(Text)
}

/// A list of which only the well-formed elements are kept; anything but a
/// list is an empty list. Each element is read as its raw JSON text, then
/// parsed on its own: a malformed element is skipped, and the fields that
/// keep raw text (pids) read as they do in `frameworks`.
fn lenient_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
    struct Lenient<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for Lenient<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::new();
            while let Some(v) = seq.next_element::<&'de serde_json::value::RawValue>()? {
                if let Ok(t) = serde_json::from_str::<T>(v.get()) {
                    out.push(t);
                }
            }
            out.shrink_to_fit();
            Ok(out)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Vec<T>, A::Error> {
            while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Vec::new())
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Vec<T>, D2::Error> {
            d.deserialize_any(self)
        }
        fn visit_none<E>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_unit<E>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_bool<E>(self, _: bool) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_i64<E>(self, _: i64) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_u64<E>(self, _: u64) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_f64<E>(self, _: f64) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_str<E>(self, _: &str) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(Lenient(std::marker::PhantomData))
}

/// `recovered_slaves`: the ids of the listed agents (see
/// [`State::recovered_slaves`]).
fn recovered<'de, D>(d: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    let v = serde_json::Value::deserialize(d)?;
    Ok(v.as_array().map(|list| {
        list.iter()
            .map(|a| a["id"].as_str().unwrap_or("?").to_string())
            .collect()
    }))
}

/// A number, or nothing: any other value (or a non-finite number) is
/// unknown, never a reason to reject the state.
fn lenient_time<'de, D>(d: D) -> Result<Option<f64>, D::Error>
where
    D: Deserializer<'de>,
{
    let v = serde_json::Value::deserialize(d)?;
    Ok(v.as_f64().filter(|t| t.is_finite()))
}

/// A pid as Mesos-DNS reads it: the raw JSON text of the value (`PID`
/// implements `json.Unmarshaler`, which gets the undecoded bytes: quotes,
/// escapes and all, or `null`). `None` only when the key is missing.
fn raw<'de, D>(d: D) -> Result<Option<&'de str>, D::Error>
where
    D: Deserializer<'de>,
{
    <&'de RawValue>::deserialize(d).map(|r| Some(r.get()))
}

#[derive(Debug, Default, Deserialize)]
pub struct State<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    pub leader: Str<'a>,
    /// When the leading master was elected (Unix seconds, Mesos's
    /// `elected_time`); read leniently: anything but a finite number is
    /// unknown. Mesos-DNS ignores it; the safety checks use it to tell a
    /// master that is still waiting for its agents to re-register.
    #[serde(default, deserialize_with = "lenient_time")]
    pub elected_time: Option<f64>,
    /// The agents the leading master knows from its registry and is still
    /// waiting for (`recovered_slaves`: Mesos writes one `SlaveInfo` per
    /// agent, `id`, `hostname`, `port`, `attributes`, from
    /// `slaves.recovered`, which empties as they re-register or are
    /// removed at the re-registration timeout). Their ids; `None` when the
    /// key is missing or not a list. Every element counts, whatever its
    /// shape (`"?"` when it has no string id): Mesos-DNS ignores the field,
    /// and the safety checks read a malformed entry as an agent still
    /// missing (the safe side).
    #[serde(default, deserialize_with = "recovered")]
    pub recovered_slaves: Option<Vec<String>>,
    #[serde(default, borrow, deserialize_with = "list")]
    pub frameworks: Vec<Framework<'a>>,
    #[serde(default, borrow, deserialize_with = "list")]
    pub slaves: Vec<Slave<'a>>,
    /// Frameworks that have ended; their tasks explain removals (never
    /// generates records). Read leniently: Mesos-DNS ignores this field,
    /// so a malformed entry is skipped, never a reason to reject the state.
    #[serde(default, borrow, deserialize_with = "lenient_list")]
    pub completed_frameworks: Vec<Framework<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Framework<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    pub name: Str<'a>,
    /// `None`: no `pid` key; otherwise the raw JSON text of the value
    /// (`"pid": null` gives `Some("null")`, rejected as Mesos-DNS does).
    #[serde(default, borrow, deserialize_with = "raw")]
    pub pid: Option<&'a str>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub hostname: Str<'a>,
    #[serde(default, borrow, deserialize_with = "compact")]
    pub tasks: Vec<Task<'a>>,
    /// Tasks that have ended; they explain removals (never generates
    /// records). Read leniently, as `completed_frameworks`.
    #[serde(default, borrow, deserialize_with = "lenient_list")]
    pub completed_tasks: Vec<Task<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Slave<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    pub id: Str<'a>,
    /// As [`Framework::pid`].
    #[serde(default, borrow, deserialize_with = "raw")]
    pub pid: Option<&'a str>,
}

/// Reads a status list keeping only the latest running status.
fn latest_running<'de, D>(d: D) -> Result<Option<Status<'de>>, D::Error>
where
    D: Deserializer<'de>,
{
    struct Latest;
    impl<'de> serde::de::Visitor<'de> for Latest {
        type Value = Option<Status<'de>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of task statuses")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_seq(Latest)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            // Mesos-DNS's search starts at -1.0: a status stamped at or
            // below -1 is never chosen.
            let mut best: Option<Status<'de>> = None;
            while let Some(s) = seq.next_element::<Option<Status<'de>>>()? {
                let Some(s) = s else { continue };
                if s.state == "TASK_RUNNING"
                    && s.timestamp > best.as_ref().map_or(-1.0, |b| b.timestamp)
                {
                    best = Some(s);
                }
            }
            Ok(best)
        }
    }
    d.deserialize_option(Latest)
}

#[derive(Debug, Default, Deserialize)]
pub struct Task<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    pub id: Str<'a>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub name: Str<'a>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub slave_id: Str<'a>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub state: Str<'a>,
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub resources: Resources<'a>,
    /// Of `statuses`, only the latest `TASK_RUNNING` one is kept (the
    /// greatest timestamp; the earlier element on ties): nothing else is
    /// ever read, and dropping the rest while parsing saves memory.
    #[serde(
        default,
        borrow,
        rename = "statuses",
        deserialize_with = "latest_running"
    )]
    pub latest_running: Option<Status<'a>>,
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub discovery: Discovery<'a>,
    /// Of the task's labels (Marathon passes an app's labels to its
    /// tasks), only the value of the first `mesos2ns1.ip-sources` one is
    /// kept. Mesos-DNS does not read labels: a malformed list is ignored,
    /// never a reason to reject the state.
    #[serde(
        default,
        borrow,
        rename = "labels",
        deserialize_with = "lenient::ip_sources_label"
    )]
    pub ip_sources_label: Option<Str<'a>>,
    /// Whether the task defines a Mesos health check. Mesos puts the
    /// definition in the state since 1.8; older masters leave it out.
    /// Only an object counts (its content is skipped).
    #[serde(default, deserialize_with = "lenient::object")]
    pub health_check: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct Resources<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    pub ports: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Status<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    pub state: Str<'a>,
    #[serde(default, deserialize_with = "nullable")]
    pub timestamp: f64,
    #[serde(default, borrow, deserialize_with = "list")]
    pub labels: Vec<Label<'a>>,
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub container_status: ContainerStatus<'a>,
    /// The health check's verdict, when Mesos has one (`None` before the
    /// first check result, and for tasks without a check).
    /// Not read by Mesos-DNS: anything but a boolean counts as absent.
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub healthy: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Label<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    pub key: Str<'a>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub value: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ContainerStatus<'a> {
    /// The task IPs of `network_infos` (spec §6), flattened while parsing:
    /// per network_info every `ip_addresses[].ip_address` if that list is
    /// non-empty, otherwise its `ip_address` (Mesos 0.25 form) if non-empty.
    #[serde(
        default,
        borrow,
        rename = "network_infos",
        deserialize_with = "netinfo_ips"
    )]
    pub network_ips: Vec<Str<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct NetworkInfo<'a> {
    #[serde(default, borrow, deserialize_with = "list")]
    ip_addresses: Vec<IpAddress<'a>>,
    #[serde(default, borrow, deserialize_with = "text")]
    ip_address: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
struct IpAddress<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    ip_address: Str<'a>,
}

fn netinfo_ips<'de, D>(d: D) -> Result<Vec<Str<'de>>, D::Error>
where
    D: Deserializer<'de>,
{
    let infos: Vec<NetworkInfo<'de>> = list(d)?;
    let mut out = Vec::new();
    for ni in infos {
        if ni.ip_addresses.is_empty() {
            if !ni.ip_address.is_empty() {
                out.push(ni.ip_address);
            }
        } else {
            out.extend(ni.ip_addresses.into_iter().map(|a| a.ip_address));
        }
    }
    Ok(out)
}

#[derive(Debug, Default, Deserialize)]
pub struct Discovery<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    pub name: Str<'a>,
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub ports: DiscoveryPorts<'a>,
    /// `FRAMEWORK`, `CLUSTER` or `EXTERNAL`; `None` without DiscoveryInfo
    /// or for a value Mesos does not define. Not read by Mesos-DNS:
    /// anything but a string counts as absent.
    #[serde(default, deserialize_with = "lenient::visibility")]
    pub visibility: Option<Visibility>,
}

#[derive(Debug, Default, Deserialize)]
pub struct DiscoveryPorts<'a> {
    #[serde(default, borrow, deserialize_with = "list")]
    pub ports: Vec<DiscoveryPort<'a>>,
}

/// An integer as Go reads one into an `int`: the number's text must be a
/// decimal integer (`-0` is 0; `1.0` or `1e2` are type errors); `null` is 0.
fn go_int<'de, D>(d: D) -> Result<i64, D::Error>
where
    D: Deserializer<'de>,
{
    let raw = <&'de RawValue>::deserialize(d)?.get();
    if raw == "null" {
        return Ok(0);
    }
    raw.parse::<i64>().map_err(|_| {
        serde::de::Error::custom(format_args!(
            "invalid type: {raw} is not an integer in the 64-bit range"
        ))
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct DiscoveryPort<'a> {
    #[serde(default, deserialize_with = "go_int")]
    pub number: i64,
    #[serde(default, borrow, deserialize_with = "text")]
    pub name: Str<'a>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub protocol: Str<'a>,
}

/// Fields that Mesos-DNS does not read (only the opt-in filters do): a
/// value of an unexpected shape is taken as absent, so that the default
/// record set never depends on them.
mod lenient {
    use super::{Label, Str};
    use serde::Deserializer;
    use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
    use std::borrow::Cow;
    use std::fmt;

    fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }

    /// Implements the visitor methods of every JSON shape but the kept one
    /// as "absent".
    macro_rules! absent_otherwise {
        ($($skip:ident),*) => {
            $(absent_otherwise!(@one $skip);)*
        };
        (@one bool) => {
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> { Ok(Default::default()) }
        };
        (@one num) => {
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> { Ok(Default::default()) }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> { Ok(Default::default()) }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> { Ok(Default::default()) }
        };
        (@one str) => {
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> { Ok(Default::default()) }
        };
        (@one unit) => {
            fn visit_unit<E>(self) -> Result<Self::Value, E> { Ok(Default::default()) }
            fn visit_none<E>(self) -> Result<Self::Value, E> { Ok(Default::default()) }
        };
        (@one seq) => {
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                drain_seq(seq)?;
                Ok(Default::default())
            }
        };
        (@one map) => {
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                drain_map(map)?;
                Ok(Default::default())
            }
        };
    }

    struct Bool;
    impl<'de> Visitor<'de> for Bool {
        type Value = Option<bool>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("anything")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        absent_otherwise!(num, str, unit, seq, map);
    }

    struct Object;
    impl<'de> Visitor<'de> for Object {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("anything")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            drain_map(map)?;
            Ok(true)
        }
        absent_otherwise!(bool, num, str, unit, seq);
    }

    /// Whether the value is a JSON object.
    pub fn object<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        d.deserialize_any(Object)
    }

    pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        d.deserialize_any(Bool)
    }

    struct Text;
    impl<'de> Visitor<'de> for Text {
        type Value = Str<'de>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("anything")
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(v))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_owned()))
        }
        fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v))
        }
        absent_otherwise!(bool, num, unit, seq, map);
    }

    struct Vis;
    impl<'de> Visitor<'de> for Vis {
        type Value = Option<super::Visibility>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("anything")
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.parse().ok())
        }
        absent_otherwise!(bool, num, unit, seq, map);
    }

    pub fn visibility<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<super::Visibility>, D::Error> {
        d.deserialize_any(Vis)
    }

    struct TextSeed;
    impl<'de> serde::de::DeserializeSeed<'de> for TextSeed {
        type Value = Str<'de>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(Text)
        }
    }

    #[derive(serde::Deserialize)]
    #[serde(field_identifier, rename_all = "lowercase")]
    enum Field {
        Key,
        Value,
        #[serde(other)]
        Other,
    }

    /// One label; `None` when it is not an object.
    struct OneLabel;
    impl<'de> Visitor<'de> for OneLabel {
        type Value = Option<Label<'de>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("anything")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut label = Label::default();
            while let Some(field) = map.next_key::<Field>()? {
                match field {
                    Field::Key => label.key = map.next_value_seed(TextSeed)?,
                    Field::Value => label.value = map.next_value_seed(TextSeed)?,
                    Field::Other => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(Some(label))
        }
        absent_otherwise!(bool, num, str, unit, seq);
    }

    struct OneLabelSeed;
    impl<'de> serde::de::DeserializeSeed<'de> for OneLabelSeed {
        type Value = Option<Label<'de>>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(OneLabel)
        }
    }

    struct IpSourcesLabel;
    impl<'de> Visitor<'de> for IpSourcesLabel {
        type Value = Option<Str<'de>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("anything")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(item) = seq.next_element_seed(OneLabelSeed)? {
                if found.is_none()
                    && let Some(label) = item
                    && label.key == super::IP_SOURCES_LABEL
                {
                    found = Some(label.value);
                }
            }
            Ok(found)
        }
        absent_otherwise!(bool, num, str, unit, map);
    }

    /// The value of the first `mesos2ns1.ip-sources` label of a list.
    pub fn ip_sources_label<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Str<'de>>, D::Error> {
        d.deserialize_any(IpSourcesLabel)
    }
}

/// Why a state document could not be read.
#[derive(Debug)]
pub struct StateError(pub String);

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StateError {}

/// Parses a state document. A document that is not JSON, is truncated, or
/// has a field of the wrong type is an error that names the field's path.
pub fn parse(bytes: &[u8]) -> Result<State<'_>, StateError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        None => return Err(StateError("the state is empty".into())),
        Some(_) => {
            let start: String = String::from_utf8_lossy(&bytes[..bytes.len().min(40)])
                .chars()
                .filter(|c| !c.is_control())
                .collect();
            return Err(StateError(format!(
                "the state is not valid JSON: expected an object, got {start:?}"
            )));
        }
    }
    match serde_json::from_slice::<State<'_>>(bytes) {
        Ok(s) => Ok(s),
        Err(_) => {
            // Parse again, slower, only to name the offending field.
            let de = &mut serde_json::Deserializer::from_slice(bytes);
            match serde_path_to_error::deserialize::<_, State<'_>>(de) {
                Ok(s) => Ok(s),
                Err(e) => {
                    let path = e.path().to_string();
                    let inner = e.into_inner();
                    let what = match inner.classify() {
                        serde_json::error::Category::Eof => {
                            "the state is truncated (unexpected end of input)".to_string()
                        }
                        serde_json::error::Category::Syntax => {
                            format!("the state is not valid JSON: {inner}")
                        }
                        _ => format!("the state has an invalid field: {inner}"),
                    };
                    if path.is_empty() || path == "." {
                        Err(StateError(what))
                    } else {
                        Err(StateError(format!("{what} (at {path})")))
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visibility_values_parse() {
        assert_eq!("External".parse::<Visibility>(), Ok(Visibility::External));
        assert!("public".parse::<Visibility>().is_err());
        assert!(Visibility::Framework < Visibility::Cluster);
        assert!(Visibility::Cluster < Visibility::External);
    }
}
