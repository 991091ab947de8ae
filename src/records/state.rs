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

/// Tells a missing field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Default, Deserialize)]
pub struct State<'a> {
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub leader: Str<'a>,
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub frameworks: Vec<Framework<'a>>,
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub slaves: Vec<Slave<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Framework<'a> {
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub name: Str<'a>,
    /// `None`: no `pid` key; `Some(None)`: `"pid": null` (rejected, §2.3).
    #[serde(default, borrow, deserialize_with = "present")]
    pub pid: Option<Option<Str<'a>>>,
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub hostname: Str<'a>,
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub tasks: Vec<Task<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Slave<'a> {
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub id: Str<'a>,
    #[serde(default, borrow, deserialize_with = "present")]
    pub pid: Option<Option<Str<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Task<'a> {
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub id: Str<'a>,
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub name: Str<'a>,
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub slave_id: Str<'a>,
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub state: Str<'a>,
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub resources: Resources<'a>,
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub statuses: Vec<Status<'a>>,
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub discovery: Discovery<'a>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Resources<'a> {
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub ports: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Status<'a> {
    #[serde(default, borrow, deserialize_with = "nullable")]
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
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub key: Str<'a>,
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub value: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ContainerStatus<'a> {
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub network_infos: Vec<NetworkInfo<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct NetworkInfo<'a> {
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub ip_addresses: Vec<IpAddress<'a>>,
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub ip_address: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
pub struct IpAddress<'a> {
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub ip_address: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Discovery<'a> {
    #[serde(default, borrow, deserialize_with = "nullable")]
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
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub name: Str<'a>,
    #[serde(default, borrow, deserialize_with = "nullable")]
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
