//! The serde model of the Mesos master state: only the fields Mesos-DNS
//! reads (spec §2.2). Unknown fields are ignored. As in Go's encoding/json,
//! a JSON `null` leaves a field at its default; a wrong type rejects the
//! whole state. Strings borrow from the input where they have no escapes.

use serde::{Deserialize, Deserializer};
use std::borrow::Cow;

type Str<'a> = Cow<'a, str>;

/// `null` or missing → default, as Go does for non-pointer fields.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A list whose spare capacity (from growing while parsing) is given back:
/// task lists are the bulk of a large state.
fn compact<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let mut v: Vec<T> = nullable(d)?;
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
/// list is an empty list. Each element is buffered on its own (strings are
/// then owned), so memory stays bounded by the largest element.
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
            while let Some(v) = seq.next_element::<serde_json::Value>()? {
                if let Ok(t) = T::deserialize(v) {
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

/// Tells a missing field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D>(d: D) -> Result<Option<Option<Str<'de>>>, D::Error>
where
    D: Deserializer<'de>,
{
    opt_text(d).map(Some)
}

#[derive(Debug, Default, Deserialize)]
pub struct State<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    pub leader: Str<'a>,
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub frameworks: Vec<Framework<'a>>,
    #[serde(default, borrow, deserialize_with = "nullable")]
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
    /// `None`: no `pid` key; `Some(None)`: `"pid": null` (rejected, §2.3).
    #[serde(default, borrow, deserialize_with = "present")]
    pub pid: Option<Option<Str<'a>>>,
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
    #[serde(default, borrow, deserialize_with = "present")]
    pub pid: Option<Option<Str<'a>>>,
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
            let mut best: Option<Status<'de>> = None;
            while let Some(s) = seq.next_element::<Status<'de>>()? {
                if s.state == "TASK_RUNNING"
                    && best.as_ref().is_none_or(|b| s.timestamp > b.timestamp)
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
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub labels: Vec<Label<'a>>,
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub container_status: ContainerStatus<'a>,
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
    #[serde(default, borrow, deserialize_with = "nullable")]
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
    let infos: Vec<NetworkInfo<'de>> = nullable(d)?;
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
}

#[derive(Debug, Default, Deserialize)]
pub struct DiscoveryPorts<'a> {
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub ports: Vec<DiscoveryPort<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct DiscoveryPort<'a> {
    #[serde(default, deserialize_with = "nullable")]
    pub number: i64,
    #[serde(default, borrow, deserialize_with = "text")]
    pub name: Str<'a>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub protocol: Str<'a>,
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
