//! One validated [`Config`] from the config file, the environment and the
//! flags (flags override the environment, which overrides the file).
//! Secrets are read from files here, once.
//!
//! File keys that mean the same as in Mesos-DNS's config.json use its names
//! (matched case-insensitively, as Mesos-DNS does), so an existing Mesos-DNS
//! config can be reused.

use crate::cli::Opts;
use crate::mesos::zk::{ZkUrl, parse_zk_url};
use crate::ns1::Ns1Options;
use crate::records::hosts::split_host_port;
use crate::records::labels::LabelRules;
use crate::records::options::{HealthyOnly, IpSource, Profile, parse_ip_sources};
use crate::records::reverse::{ReverseZone, parse_reverse_zones};
use crate::records::state::Visibility;
use serde_json::{Map, Value};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_CONFIG: &str = "/etc/mesos2ns1/config.json";
pub const DEFAULT_STATE_DIR: &str = "/var/lib/mesos2ns1";
pub const DEFAULT_ENDPOINT: &str = "https://api.nsone.net/v1/";
/// The longest state or NS1 timeout accepted, seconds (the longest deadline).
pub const MAX_TIMEOUT_SECS: u64 = 3600;
/// The largest key or secret file read, bytes.
pub const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// A configuration error, in one line (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn cerr<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// Where the NS1 key comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `-k KEY` on the command line (deprecated).
    Flag(String),
    /// `NS1_APIKEY`.
    Env(String),
    /// A key file.
    File(PathBuf),
    None,
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Flag(_) => f.write_str("Flag(<redacted>)"),
            KeySource::Env(_) => f.write_str("Env(<redacted>)"),
            KeySource::File(p) => write!(f, "File({})", p.display()),
            KeySource::None => f.write_str("None"),
        }
    }
}

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub config_file: Option<PathBuf>,
    pub masters: Vec<String>,
    pub state_file: Option<PathBuf>,
    pub mesos_https: bool,
    pub ca_file: Option<PathBuf>,
    pub mesos_principal: Option<String>,
    pub mesos_secret_file: Option<PathBuf>,
    pub state_timeout: Duration,
    pub domain: String,
    pub zone: String,
    pub ip_sources: Vec<IpSource>,
    pub rules: LabelRules,
    pub ttl: u32,
    pub srv_weight: u32,
    /// `--profile` [config: profile]: whose forward record set.
    pub profile: Profile,
    /// `--reverse-zone` [config: reverseZones]: where PTR records go;
    /// empty: no PTR records.
    pub reverse_zones: Vec<ReverseZone>,
    pub ns1_endpoint: String,
    pub ns1_key: KeySource,
    pub ns1_timeout: Duration,
    pub exclude: Vec<String>,
    pub max_change_share: f64,
    pub force: bool,
    pub state_dir: PathBuf,
    pub deadline: Duration,
    pub only_if_leader: bool,
    /// `--cluster-id` [config: clusterId]: the identity the ownership
    /// marker names; `None`: [`Config::derived_cluster_id`].
    pub cluster_id: Option<String>,
    pub summary_json: bool,
    pub metrics_file: Option<PathBuf>,
    /// `--remove-after`, seconds.
    pub remove_after: u64,
    /// `--window`, seconds.
    pub window: u64,
    /// `--settle`, seconds; None: `never`.
    pub settle: Option<u64>,
    /// Create a missing zone with one zone-file import (`createZone`).
    pub create_zone: bool,
    /// Read the whole zone at least this often, even when its serial did
    /// not move (`fullReadEverySeconds`, default 600).
    pub full_read_every: Duration,
    /// Allow plain http to a non-loopback NS1 endpoint (`ns1AllowHttp`).
    pub ns1_allow_http: bool,
    /// Warnings found while loading (unknown keys, loose key-file mode).
    pub warnings: Vec<String>,
    /// Most ports one task may have before its SRV records are skipped.
    pub max_task_ports: usize,
    /// Most records (answers) a run may build before the state is refused.
    pub max_records: usize,
    /// Largest state read, from a master or a file.
    pub max_state_bytes: u64,
    /// `--healthy-only[=strict]` [config: healthyOnly].
    pub healthy_only: HealthyOnly,
    /// `--min-visibility` [config: minVisibility]; `None`: no filter.
    pub min_visibility: Option<Visibility>,
    /// `--zk` [config: zk]: find the leader through ZooKeeper.
    pub zk: Option<ZkUrl>,
    /// `--zk-detection-timeout` [config: zkDetectionTimeout]; zero: only
    /// the run's deadline bounds detection.
    pub zk_detection_timeout: Duration,
}

/// Values read from the config file; `None` where the file is silent.
#[derive(Debug, Default)]
struct FileValues {
    masters: Option<Vec<String>>,
    domain: Option<String>,
    ip_sources: Option<Vec<String>>,
    enforce_rfc952: Option<bool>,
    ttl: Option<u32>,
    srv_weight: Option<u32>,
    profile: Option<Profile>,
    reverse_zones: Option<Vec<String>>,
    state_timeout: Option<u64>,
    mesos_https: Option<bool>,
    ca_file: Option<PathBuf>,
    mesos_authentication: Option<String>,
    mesos_principal: Option<String>,
    mesos_secret_file: Option<PathBuf>,
    zone: Option<String>,
    ns1_endpoint: Option<String>,
    ns1_key_file: Option<PathBuf>,
    ns1_timeout: Option<u64>,
    exclude: Option<Vec<String>>,
    max_change_percent: Option<f64>,
    state_dir: Option<PathBuf>,
    deadline: Option<f64>,
    only_if_leader: Option<bool>,
    cluster_id: Option<String>,
    metrics_file: Option<PathBuf>,
    max_task_ports: Option<u64>,
    max_records: Option<u64>,
    max_state_mib: Option<u64>,
    healthy_only: Option<HealthyOnly>,
    min_visibility: Option<Visibility>,
    zk: Option<ZkUrl>,
    zk_detection_timeout: Option<u64>,
    remove_after: Option<u64>,
    window: Option<u64>,
    settle: Option<String>,
    create_zone: Option<bool>,
    full_read_every: Option<f64>,
    ns1_allow_http: Option<bool>,
}

/// Default largest state read (`--max-state-mib`). Big clusters have states
/// of tens of MiB (100,000 tasks: about 50 MiB); this only stops a runaway
/// answer from eating all memory (peak memory is about 2.6 times the state).
pub const DEFAULT_MAX_STATE_MIB: u64 = 512;

/// Mesos-DNS keys that do not change what mesos2ns1 does; accepted quietly
/// so that a Mesos-DNS config.json can be reused as it is.
const MESOS_DNS_IGNORED: &[&str] = &[
    "refreshseconds",
    "port",
    "resolvers",
    "timeout",
    "httpon",
    "dnson",
    "httpport",
    "externalon",
    "listener",
    "soamname",
    "soarname",
    "soarefresh",
    "soaretry",
    "soaexpire",
    "soaminttl",
    "recurseon",
    "settruncatebit",
    "enumerationon",
    "zoneresolvers",
    "iamconfigfile",
    "certfile",
    "keyfile",
];

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn want<T>(key: &str, v: &Value, what: &str, got: Option<T>) -> Result<T, ConfigError> {
    got.ok_or_else(|| {
        ConfigError(format!(
            "config key {key:?}: expected {what}, got {}",
            type_name(v)
        ))
    })
}

fn get_str(key: &str, v: &Value) -> Result<String, ConfigError> {
    want(key, v, "a string", v.as_str().map(str::to_string))
}

fn get_bool(key: &str, v: &Value) -> Result<bool, ConfigError> {
    want(key, v, "true or false", v.as_bool())
}

fn get_u64(key: &str, v: &Value) -> Result<u64, ConfigError> {
    want(key, v, "a whole number >= 0", v.as_u64())
}

fn get_u32(key: &str, v: &Value) -> Result<u32, ConfigError> {
    let n = get_u64(key, v)?;
    u32::try_from(n).or_else(|_| cerr(format!("config key {key:?}: {n} is too large")))
}

fn get_f64(key: &str, v: &Value) -> Result<f64, ConfigError> {
    want(key, v, "a number", v.as_f64())
}

fn get_strs(key: &str, v: &Value) -> Result<Vec<String>, ConfigError> {
    let arr = want(key, v, "an array of strings", v.as_array())?;
    arr.iter()
        .enumerate()
        .map(|(i, item)| get_str(&format!("{key}[{i}]"), item))
        .collect()
}

fn parse_file(
    text: &str,
    path: &Path,
    warnings: &mut Vec<String>,
) -> Result<FileValues, ConfigError> {
    let root: Value = serde_json::from_str(text).map_err(|e| {
        ConfigError(format!(
            "config file {}: not valid JSON: {e}",
            path.display()
        ))
    })?;
    let Value::Object(map) = root else {
        return cerr(format!(
            "config file {}: expected a JSON object",
            path.display()
        ));
    };
    let mut f = FileValues::default();
    for (key, v) in &map {
        // null and "" mean "not set" (Mesos-DNS sample configs carry
        // `"CACertFile": ""` and the like).
        if v.is_null() || v.as_str() == Some("") {
            continue;
        }
        let k = key.as_str();
        match key.to_ascii_lowercase().as_str() {
            "masters" => f.masters = Some(get_strs(k, v)?),
            "zk" => {
                f.zk = Some(
                    parse_zk_url(&get_str(k, v)?)
                        .map_err(|e| ConfigError(format!("config key {k:?}: {e}")))?,
                )
            }
            "zkdetectiontimeout" => f.zk_detection_timeout = Some(get_u64(k, v)?),
            "healthyonly" => {
                f.healthy_only = Some(match v {
                    Value::Bool(true) => HealthyOnly::On,
                    Value::Bool(false) => HealthyOnly::Off,
                    Value::String(s) => s
                        .parse()
                        .map_err(|e| ConfigError(format!("config key {k:?}: {e}")))?,
                    other => {
                        return cerr(format!(
                            "config key {k:?}: expected true, false or \"strict\", got {}",
                            type_name(other)
                        ));
                    }
                })
            }
            "minvisibility" => {
                let s = get_str(k, v)?;
                if !s.eq_ignore_ascii_case("none") {
                    f.min_visibility = Some(
                        s.parse()
                            .map_err(|e| ConfigError(format!("config key {k:?}: {e}")))?,
                    );
                }
            }
            "domain" => f.domain = Some(get_str(k, v)?),
            "ipsources" => f.ip_sources = Some(get_strs(k, v)?),
            "enforcerfc952" => f.enforce_rfc952 = Some(get_bool(k, v)?),
            "ttl" => f.ttl = Some(get_u32(k, v)?),
            "srvrecorddefaultweight" => f.srv_weight = Some(get_u32(k, v)?),
            "profile" => {
                f.profile = Some(
                    get_str(k, v)?
                        .parse()
                        .map_err(|e| ConfigError(format!("config key {k:?}: {e}")))?,
                )
            }
            "reversezones" => f.reverse_zones = Some(get_strs(k, v)?),
            "statetimeoutseconds" => f.state_timeout = Some(get_u64(k, v)?),
            "mesoshttpson" => f.mesos_https = Some(get_bool(k, v)?),
            "cacertfile" => f.ca_file = Some(get_str(k, v)?.into()),
            "mesosauthentication" => f.mesos_authentication = Some(get_str(k, v)?),
            "mesoscredentials" => {
                let obj: &Map<String, Value> = want(k, v, "an object", v.as_object())?;
                for (ck, cv) in obj {
                    if cv.is_null() || cv.as_str() == Some("") {
                        continue;
                    }
                    let full = format!("{k}.{ck}");
                    match ck.to_ascii_lowercase().as_str() {
                        "principal" => f.mesos_principal = Some(get_str(&full, cv)?),
                        "secretfile" => f.mesos_secret_file = Some(get_str(&full, cv)?.into()),
                        "secret" => {
                            return cerr(format!(
                                "config key {full:?}: secrets are not read from the config file; \
                                 put the secret in a file readable only by mesos2ns1 and name it in \"{k}.secretFile\""
                            ));
                        }
                        _ => warnings.push(format!("unknown config key {full:?} ignored")),
                    }
                }
            }
            "zone" => f.zone = Some(get_str(k, v)?),
            "ns1endpoint" => f.ns1_endpoint = Some(get_str(k, v)?),
            "ns1keyfile" => f.ns1_key_file = Some(get_str(k, v)?.into()),
            "ns1apikey" | "ns1key" | "apikey" => {
                return cerr(format!(
                    "config key {k:?}: the NS1 key is not read from the config file; \
                     put it in a file (mode 0640) and name it in \"ns1KeyFile\""
                ));
            }
            "ns1timeoutseconds" => f.ns1_timeout = Some(get_u64(k, v)?),
            "exclude" => f.exclude = Some(get_strs(k, v)?),
            "maxchangepercent" => f.max_change_percent = Some(get_f64(k, v)?),
            "statedir" => f.state_dir = Some(get_str(k, v)?.into()),
            "removeafterseconds" => f.remove_after = Some(get_u64(k, v)?),
            "windowseconds" => f.window = Some(get_u64(k, v)?),
            "settleseconds" => {
                f.settle = Some(match v {
                    Value::String(s) => s.clone(),
                    _ => get_u64(k, v)?.to_string(),
                })
            }
            "deadlineseconds" => f.deadline = Some(get_f64(k, v)?),
            "onlyifleader" => f.only_if_leader = Some(get_bool(k, v)?),
            "clusterid" => f.cluster_id = Some(get_str(k, v)?),
            "metricsfile" => f.metrics_file = Some(get_str(k, v)?.into()),
            "maxtaskports" => f.max_task_ports = Some(get_u64(k, v)?),
            "maxrecords" => f.max_records = Some(get_u64(k, v)?),
            "maxstatemib" => f.max_state_mib = Some(get_u64(k, v)?),
            "createzone" => f.create_zone = Some(get_bool(k, v)?),
            "fullreadeveryseconds" | "fullreadevery" => f.full_read_every = Some(get_f64(k, v)?),
            "ns1allowhttp" => f.ns1_allow_http = Some(get_bool(k, v)?),
            lower if MESOS_DNS_IGNORED.contains(&lower) => {
                log::info!("config key {k:?} is a Mesos-DNS setting with no effect here; ignored")
            }
            _ => warnings.push(format!("unknown config key {k:?} ignored")),
        }
    }
    Ok(f)
}

pub use crate::mesos::derive_cluster_id;

/// A configured cluster id, validated (see [`crate::mesos::valid_cluster_id`]).
fn cluster_id(id: Option<String>) -> Result<Option<String>, ConfigError> {
    id.map(|id| crate::mesos::valid_cluster_id(&id).map_err(ConfigError))
        .transpose()
}

/// Validates a DNS name setting (`domain`, `zone`) and normalizes it.
fn dns_name(key: &str, s: &str) -> Result<String, ConfigError> {
    let s = s.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !s.is_empty()
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !ok {
        return cerr(format!("{key} {s:?} is not a valid DNS name"));
    }
    Ok(s)
}

impl Config {
    /// Builds the configuration. `env_key` is the value of `NS1_APIKEY`.
    pub fn load(opts: &Opts, env_key: Option<String>) -> Result<Config, ConfigError> {
        let mut warnings = Vec::new();
        let (config_file, file) = match &opts.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))?;
                (Some(path.clone()), parse_file(&text, path, &mut warnings)?)
            }
            None => {
                let path = Path::new(DEFAULT_CONFIG);
                match std::fs::read_to_string(path) {
                    Ok(text) => (
                        Some(path.to_path_buf()),
                        parse_file(&text, path, &mut warnings)?,
                    ),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        (None, FileValues::default())
                    }
                    Err(e) => return cerr(format!("config file {}: {e}", path.display())),
                }
            }
        };
        Config::from_parts(opts, env_key, config_file, file, warnings)
    }

    /// The configuration as if `text` were the config file at `path` (the
    /// file is not read). For tests and the fuzz campaign.
    pub fn load_text(
        opts: &Opts,
        env_key: Option<String>,
        path: &Path,
        text: &str,
    ) -> Result<Config, ConfigError> {
        let mut warnings = Vec::new();
        let file = parse_file(text, path, &mut warnings)?;
        Config::from_parts(opts, env_key, Some(path.to_path_buf()), file, warnings)
    }

    fn from_parts(
        opts: &Opts,
        env_key: Option<String>,
        config_file: Option<PathBuf>,
        file: FileValues,
        warnings: Vec<String>,
    ) -> Result<Config, ConfigError> {
        let masters = opts.masters.clone().or(file.masters).unwrap_or_default();
        let masters: Vec<String> = masters
            .iter()
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .collect();
        for m in &masters {
            let bare = m
                .strip_prefix("http://")
                .or_else(|| m.strip_prefix("https://"))
                .unwrap_or(m)
                .trim_end_matches('/');
            if split_host_port(bare).is_none() {
                return cerr(format!(
                    "master {m:?} is not of the form host:port or http(s)://host:port"
                ));
            }
        }

        let zk = match &opts.zk {
            Some(url) => Some(parse_zk_url(url).map_err(|e| ConfigError(format!("--zk: {e}")))?),
            None => file.zk,
        };
        // Mesos-DNS's default.
        let zk_detection_timeout = opts
            .zk_detection_timeout
            .or(file.zk_detection_timeout)
            .unwrap_or(30);

        let zone_in = opts.zone.clone().or(file.zone);
        let domain_in = opts.domain.clone().or(file.domain);
        let zone = zone_in
            .as_deref()
            .map(|z| dns_name("zone", z))
            .transpose()?;
        let domain = domain_in
            .as_deref()
            .map(|d| dns_name("domain", d))
            .transpose()?;
        let (zone, domain) = match (zone, domain) {
            (Some(z), Some(d)) => (z, d),
            (Some(z), None) => (z.clone(), z),
            (None, Some(d)) => (d.clone(), d),
            (None, None) => (String::new(), String::new()),
        };
        if !zone.is_empty() && domain != zone && !domain.ends_with(&format!(".{zone}")) {
            return cerr(format!("domain {domain:?} is not inside zone {zone:?}"));
        }

        let ip_sources = match opts.ip_sources.clone().or(file.ip_sources) {
            Some(list) => parse_ip_sources(&list).map_err(ConfigError)?,
            None => vec![IpSource::Netinfo, IpSource::Mesos, IpSource::Host],
        };
        let profile = match &opts.profile {
            Some(p) => p
                .parse()
                .map_err(|e| ConfigError(format!("--profile: {e}")))?,
            None => file.profile.unwrap_or_default(),
        };
        let reverse_zones = match (&opts.reverse_zones, &file.reverse_zones) {
            (Some(list), _) => parse_reverse_zones(list)
                .map_err(|e| ConfigError(format!("--reverse-zone: {e}")))?,
            (None, Some(list)) => parse_reverse_zones(list)
                .map_err(|e| ConfigError(format!("config key \"reverseZones\": {e}")))?,
            (None, None) => Vec::new(),
        };
        let rules = if opts.enforce_rfc952.or(file.enforce_rfc952).unwrap_or(false) {
            LabelRules::Rfc952
        } else {
            LabelRules::Rfc1123
        };

        if let Some(auth) = &file.mesos_authentication {
            let a = auth.to_ascii_lowercase();
            if !(a.is_empty() || a == "basic" || a == "none") {
                return cerr(format!(
                    "config key \"mesosAuthentication\": {auth:?} is not supported (use \"basic\")"
                ));
            }
        }
        let mesos_principal = opts.mesos_principal.clone().or(file.mesos_principal);
        let mesos_secret_file = opts.mesos_secret_file.clone().or(file.mesos_secret_file);
        if mesos_principal.is_some() != mesos_secret_file.is_some() {
            return cerr(
                "Mesos basic auth needs both a principal and a secret file (--mesos-principal, --mesos-secret-file)",
            );
        }

        let ns1_key = if let Some(k) = &opts.ns1_api_key {
            KeySource::Flag(k.clone())
        } else if let Some(p) = &opts.ns1_key_file {
            KeySource::File(p.clone())
        } else if let Some(k) = env_key.filter(|k| !k.is_empty()) {
            KeySource::Env(k)
        } else if let Some(p) = file.ns1_key_file {
            KeySource::File(p)
        } else {
            KeySource::None
        };

        let ttl = opts.ttl.or(file.ttl).unwrap_or(60);
        if ttl == 0 {
            return cerr("ttl must be at least 1 second");
        }
        let max_pct = opts
            .max_change_percent
            .or(file.max_change_percent)
            .unwrap_or(30.0);
        if !(0.0..=100.0).contains(&max_pct) {
            return cerr(format!(
                "max change percent {max_pct} is not between 0 and 100"
            ));
        }
        let deadline = opts.deadline.or(file.deadline).unwrap_or(50.0);
        if !(deadline > 0.0 && deadline <= 3600.0) {
            return cerr(format!("deadline {deadline} s is not between 0 and 3600"));
        }
        let state_timeout = opts.state_timeout.or(file.state_timeout).unwrap_or(30);
        let ns1_timeout = opts.ns1_timeout.or(file.ns1_timeout).unwrap_or(10);
        if state_timeout == 0 || ns1_timeout == 0 {
            return cerr("timeouts must be at least 1 second");
        }
        for (name, secs) in [
            (
                "state timeout (--state-timeout, stateTimeoutSeconds)",
                state_timeout,
            ),
            (
                "NS1 timeout (--ns1-timeout, ns1TimeoutSeconds)",
                ns1_timeout,
            ),
        ] {
            if secs > MAX_TIMEOUT_SECS {
                return cerr(format!(
                    "{name} {secs} s is longer than {MAX_TIMEOUT_SECS} s (the longest deadline)"
                ));
            }
        }
        let srv_weight = file.srv_weight.unwrap_or(1);
        if srv_weight > u32::from(u16::MAX) {
            return cerr(format!(
                "config key \"SRVRecordDefaultWeight\": {srv_weight} is above 65535, the largest SRV weight"
            ));
        }
        let ns1_endpoint = opts
            .ns1_endpoint
            .clone()
            .or(file.ns1_endpoint)
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let scheme = ns1_endpoint
            .split_once("://")
            .map(|(s, _)| s.to_ascii_lowercase());
        if !matches!(scheme.as_deref(), Some("https" | "http")) {
            return cerr(format!(
                "NS1 endpoint {ns1_endpoint:?} is not an http(s) URL"
            ));
        }

        let full_read_every = opts
            .full_read_every
            .or(file.full_read_every)
            .unwrap_or(600.0);
        if !(full_read_every.is_finite() && (0.0..=86_400.0).contains(&full_read_every)) {
            return cerr(format!(
                "full read every {full_read_every} s is not between 0 and 86400"
            ));
        }
        let full_read_every = Duration::from_secs_f64(full_read_every);

        let mut exclude = file.exclude.unwrap_or_default();
        exclude.extend(opts.exclude.iter().cloned());
        let exclude: Vec<String> = exclude
            .iter()
            .map(|e| e.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .collect();
        if !domain.is_empty() {
            for pattern in &exclude {
                if !exclusion_can_match(pattern, &domain) {
                    return cerr(format!(
                        "exclude pattern {pattern:?} can never match a name below the domain {domain:?}, \
                         so it would protect nothing; give full names (e.g. static.{domain}) or patterns \
                         ending in .{domain}"
                    ));
                }
            }
        }

        let max_task_ports = opts
            .max_task_ports
            .or(file.max_task_ports)
            .unwrap_or(crate::records::options::DEFAULT_MAX_TASK_PORTS as u64);
        if max_task_ports > 1_000_000 {
            return cerr(format!(
                "max task ports {max_task_ports} is more than 1000000"
            ));
        }
        let max_records = opts
            .max_records
            .or(file.max_records)
            .unwrap_or(crate::records::options::DEFAULT_MAX_RECORDS as u64);
        if max_records == 0 || max_records > 1_000_000_000 {
            return cerr(format!(
                "max records {max_records} is not between 1 and 1000000000"
            ));
        }

        let max_state_mib = opts
            .max_state_mib
            .or(file.max_state_mib)
            .unwrap_or(DEFAULT_MAX_STATE_MIB);
        if !(1..=65536).contains(&max_state_mib) {
            return cerr(format!(
                "max state size {max_state_mib} MiB is not between 1 and 65536"
            ));
        }
        let remove_after = opts.remove_after.or(file.remove_after).unwrap_or(120);
        let window = opts.window.or(file.window).unwrap_or(3600);
        if !(60..=30 * 86400).contains(&window) {
            return cerr(format!(
                "window {window} s is not between 60 and 2592000 seconds"
            ));
        }
        let settle = match opts.settle.clone().or(file.settle) {
            None => Some(900),
            Some(s) if s.trim().eq_ignore_ascii_case("never") => None,
            Some(s) => Some(s.trim().parse::<u64>().map_err(|_| {
                ConfigError(format!(
                    "settle {s:?} is neither a number of seconds nor \"never\""
                ))
            })?),
        };
        if remove_after > 30 * 86400 || settle.is_some_and(|s| s > 30 * 86400) {
            return cerr("remove-after and settle must be at most 2592000 seconds (30 days)");
        }

        Ok(Config {
            config_file,
            masters,
            state_file: opts.state_file.clone(),
            mesos_https: opts.mesos_https.or(file.mesos_https).unwrap_or(false),
            ca_file: opts.ca_file.clone().or(file.ca_file),
            mesos_principal,
            mesos_secret_file,
            state_timeout: Duration::from_secs(state_timeout),
            domain,
            zone,
            ip_sources,
            rules,
            ttl,
            srv_weight,
            profile,
            reverse_zones,
            ns1_endpoint,
            ns1_key,
            ns1_timeout: Duration::from_secs(ns1_timeout),
            exclude,
            max_change_share: max_pct / 100.0,
            force: opts.force,
            state_dir: opts
                .state_dir
                .clone()
                .or(file.state_dir)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR)),
            deadline: Duration::from_secs_f64(deadline),
            only_if_leader: opts.only_if_leader.or(file.only_if_leader).unwrap_or(false),
            cluster_id: cluster_id(opts.cluster_id.clone().or(file.cluster_id))?,
            summary_json: opts.summary_json,
            metrics_file: opts.metrics_file.clone().or(file.metrics_file),
            remove_after,
            window,
            settle,
            create_zone: opts.create_zone.or(file.create_zone).unwrap_or(false),
            full_read_every,
            ns1_allow_http: opts.ns1_allow_http.or(file.ns1_allow_http).unwrap_or(false),
            warnings,
            max_task_ports: max_task_ports as usize,
            max_records: max_records as usize,
            max_state_bytes: max_state_mib << 20,
            healthy_only: opts.healthy_only.or(file.healthy_only).unwrap_or_default(),
            min_visibility: match &opts.min_visibility {
                Some(v) if v.trim().eq_ignore_ascii_case("none") => None,
                Some(v) => Some(
                    v.parse()
                        .map_err(|e| ConfigError(format!("--min-visibility: {e}")))?,
                ),
                None => file.min_visibility,
            },
            zk,
            zk_detection_timeout: Duration::from_secs(zk_detection_timeout),
        })
    }

    /// The cluster id the ownership marker names when none is configured:
    /// `m-` and 12 hex digits of the SHA-256 of the sorted, normalized
    /// (lower case, no scheme, no trailing `/`) masters list, one per line;
    /// with no masters configured, of `zk:` and the ZooKeeper URL's sorted
    /// hosts and path; with neither, of `file:` and the state file's path.
    /// Every master of one cluster has the same list; two clusters with
    /// copied configs read different masters.
    pub fn derived_cluster_id(&self) -> String {
        let zk = self
            .zk
            .as_ref()
            .map(|z| (z.hosts.as_slice(), z.path.as_str()));
        derive_cluster_id(&self.masters, zk, self.state_file.as_deref())
    }

    /// The cluster id to claim with when the state dir has not claimed
    /// yet: the configured one, else [`Config::derived_cluster_id`].
    pub fn configured_cluster_id(&self) -> String {
        self.cluster_id
            .clone()
            .unwrap_or_else(|| self.derived_cluster_id())
    }

    /// Checks what `sync`, `plan` and `check` need beyond `records`.
    pub fn require_sync_settings(&self) -> Result<(), ConfigError> {
        if self.zone.is_empty() {
            return cerr("no zone given: use --zone or \"zone\" in the config file");
        }
        if self.masters.is_empty() && self.state_file.is_none() && self.zk.is_none() {
            return cerr(
                "no Mesos masters given: use --masters or --zk (or \"masters\" or \"zk\" in the config file)",
            );
        }
        if self.ns1_key == KeySource::None {
            return cerr(
                "no NS1 API key: set NS1_APIKEY or use --ns1-key-file (or \"ns1KeyFile\" in the config file)",
            );
        }
        Ok(())
    }

    /// Reads the NS1 key. Warns when a key file is readable by other users.
    pub fn read_ns1_key(&self) -> Result<String, ConfigError> {
        match &self.ns1_key {
            KeySource::Flag(k) => {
                log::warn!(
                    "the NS1 key was given with -k: other users can read it in the process list; use NS1_APIKEY or --ns1-key-file"
                );
                Ok(k.clone())
            }
            KeySource::Env(k) => Ok(k.clone()),
            KeySource::File(p) => read_secret_file("NS1 key file", p),
            KeySource::None => cerr("no NS1 API key configured"),
        }
    }

    /// The NS1 client's options: this configuration's endpoint, timeouts
    /// (connecting takes at most 10 s, and at most `--ns1-timeout`), CA
    /// file and plain-HTTP permission, with `key` and the run's `deadline`.
    /// The one place the configuration becomes [`Ns1Options`].
    pub fn ns1_options(&self, key: String, deadline: Option<std::time::Instant>) -> Ns1Options {
        let mut opts = Ns1Options::new(self.ns1_endpoint.clone(), key);
        opts.connect_timeout = self.ns1_timeout.min(Duration::from_secs(10));
        opts.read_timeout = self.ns1_timeout;
        opts.ca_file = self.ca_file.clone();
        opts.deadline = deadline;
        opts.allow_http = self.ns1_allow_http;
        opts
    }

    /// Reads the Mesos basic-auth credentials, if configured.
    pub fn read_mesos_credentials(&self) -> Result<Option<(String, String)>, ConfigError> {
        match (&self.mesos_principal, &self.mesos_secret_file) {
            (Some(p), Some(f)) => Ok(Some((p.clone(), read_secret_file("Mesos secret file", f)?))),
            _ => Ok(None),
        }
    }

    /// The domain used for names: `--domain`, else the zone, else `mesos`.
    pub fn records_domain(&self) -> &str {
        if self.domain.is_empty() {
            "mesos"
        } else {
            &self.domain
        }
    }
}

/// Whether an exclusion pattern can match some name strictly below
/// `domain`: the text after its last `*` (all of it, without `*`) must end
/// with `.domain`, or be an ending of `.domain` itself when a `*` precedes.
fn exclusion_can_match(pattern: &str, domain: &str) -> bool {
    let dotted = format!(".{domain}");
    match pattern.rsplit_once('*') {
        None => pattern.ends_with(&dotted) && pattern.len() > dotted.len(),
        Some((_, tail)) => tail.ends_with(&dotted) || dotted.ends_with(tail),
    }
}

/// Reads a one-line secret from a file, trimming the line end. The file
/// must be a regular file of at most [`MAX_SECRET_BYTES`]: a FIFO, a device
/// (`/dev/zero`) or a directory is an error, never a hang. Loose modes are
/// warned about (see [`secret_file_warnings`]).
pub fn read_secret_file(what: &str, path: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let fail = |e: &dyn fmt::Display| ConfigError(format!("{what} {}: {e}", path.display()));
    let not_regular = |meta: &std::fs::Metadata| {
        ConfigError(format!(
            "{what} {} is not a regular file (it is {}); give a file holding the secret",
            path.display(),
            file_kind(meta)
        ))
    };
    // Refused before opening: opening a FIFO would wait for a writer.
    let meta = std::fs::metadata(path).map_err(|e| fail(&e))?;
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        // O_NONBLOCK: should the path be swapped for a FIFO after the
        // check, open() still returns at once (fstat then refuses it).
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(0o4000);
    }
    let file = options.open(path).map_err(|e| fail(&e))?;
    let meta = file.metadata().map_err(|e| fail(&e))?;
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    if meta.len() > MAX_SECRET_BYTES {
        return cerr(format!(
            "{what} {} is {} bytes, more than a secret ({MAX_SECRET_BYTES} bytes at most)",
            path.display(),
            meta.len()
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(&e))?;
    if bytes.len() as u64 > MAX_SECRET_BYTES {
        return cerr(format!(
            "{what} {} is more than {MAX_SECRET_BYTES} bytes",
            path.display()
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| fail(&"not UTF-8 text"))?;
    for warning in secret_file_warnings(what, path, &meta, process_gid()) {
        log::warn!("{warning}");
    }
    let secret = text.trim().to_string();
    if secret.is_empty() {
        return cerr(format!("{what} {} is empty", path.display()));
    }
    Ok(secret)
}

fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

/// The effective group id of this process (Linux `/proc`); `None` elsewhere.
fn process_gid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Gid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Warnings about a secret file's mode: writable by group or others, or
/// readable by others than its owner, root and the job's group `job_gid`.
pub fn secret_file_warnings(
    what: &str,
    path: &Path,
    meta: &std::fs::Metadata,
    job_gid: Option<u32>,
) -> Vec<String> {
    let mut out = Vec::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let mode = meta.permissions().mode() & 0o7777;
        let gid = meta.gid();
        let p = path.display();
        if mode & 0o022 != 0 {
            out.push(format!(
                "{what} {p} can be changed by {} (mode {mode:o}); chmod 0640 it",
                if mode & 0o002 != 0 {
                    "every user"
                } else {
                    "its group"
                }
            ));
        }
        if mode & 0o004 != 0 {
            out.push(format!(
                "{what} {p} is readable by every user (mode {mode:o}); chmod 0640 it"
            ));
        } else if mode & 0o040 != 0 && gid != 0 && Some(gid) != job_gid {
            out.push(format!(
                "{what} {p} is readable by group {gid}, which is neither root nor this job's group; chgrp it or chmod 0600 it"
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = (what, path, meta, job_gid);
    out
}
