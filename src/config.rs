//! One validated [`Config`] from the config file, the environment and the
//! flags (flags override the environment, which overrides the file).
//! Secrets are read from files here, once.
//!
//! File keys that mean the same as in Mesos-DNS's config.json use its names
//! (matched case-insensitively, as Mesos-DNS does), so an existing Mesos-DNS
//! config can be reused.

use crate::cli::Opts;
use crate::records::generate::{IpSource, parse_ip_sources, split_host_port};
use crate::records::labels::LabelRules;
use serde_json::{Map, Value};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_CONFIG: &str = "/etc/mesos2ns1/config.json";
pub const DEFAULT_STATE_DIR: &str = "/var/lib/mesos2ns1";
pub const DEFAULT_ENDPOINT: &str = "https://api.nsone.net/v1/";

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
    pub ns1_endpoint: String,
    pub ns1_key: KeySource,
    pub ns1_timeout: Duration,
    pub exclude: Vec<String>,
    pub max_change_share: f64,
    pub force: bool,
    pub state_dir: PathBuf,
    pub deadline: Duration,
    pub only_if_leader: bool,
    pub summary_json: bool,
    pub metrics_file: Option<PathBuf>,
    /// Create a missing zone with one zone-file import (`createZone`).
    pub create_zone: bool,
    /// Read the whole zone at least this often, even when its serial did
    /// not move (`fullReadEverySeconds`, default 600).
    pub full_read_every: Duration,
    /// Allow plain http to a non-loopback NS1 endpoint (`ns1AllowHttp`).
    pub ns1_allow_http: bool,
    /// Warnings found while loading (unknown keys, loose key-file mode).
    pub warnings: Vec<String>,
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
    metrics_file: Option<PathBuf>,
    create_zone: Option<bool>,
    full_read_every: Option<f64>,
    ns1_allow_http: Option<bool>,
}

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
    "zkdetectiontimeout",
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
                if !map.keys().any(|k| k.eq_ignore_ascii_case("masters")) {
                    return cerr(format!(
                        "config key {k:?}: ZooKeeper discovery is not supported; list the masters in \"masters\""
                    ));
                }
            }
            "domain" => f.domain = Some(get_str(k, v)?),
            "ipsources" => f.ip_sources = Some(get_strs(k, v)?),
            "enforcerfc952" => f.enforce_rfc952 = Some(get_bool(k, v)?),
            "ttl" => f.ttl = Some(get_u32(k, v)?),
            "srvrecorddefaultweight" => f.srv_weight = Some(get_u32(k, v)?),
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
            "deadlineseconds" => f.deadline = Some(get_f64(k, v)?),
            "onlyifleader" => f.only_if_leader = Some(get_bool(k, v)?),
            "metricsfile" => f.metrics_file = Some(get_str(k, v)?.into()),
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
            srv_weight: file.srv_weight.unwrap_or(1),
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
            summary_json: opts.summary_json,
            metrics_file: opts.metrics_file.clone().or(file.metrics_file),
            create_zone: opts.create_zone.or(file.create_zone).unwrap_or(false),
            full_read_every,
            ns1_allow_http: opts.ns1_allow_http.or(file.ns1_allow_http).unwrap_or(false),
            warnings,
        })
    }

    /// Checks what `sync`, `plan` and `check` need beyond `records`.
    pub fn require_sync_settings(&self) -> Result<(), ConfigError> {
        if self.zone.is_empty() {
            return cerr("no zone given: use --zone or \"zone\" in the config file");
        }
        if self.masters.is_empty() && self.state_file.is_none() {
            return cerr("no Mesos masters given: use --masters or \"masters\" in the config file");
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

/// Reads a one-line secret from a file, trimming the line end.
pub fn read_secret_file(what: &str, path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("{what} {}: {e}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o004 != 0
        {
            log::warn!(
                "{what} {} is readable by every user (mode {:o}); chmod 0640 it",
                path.display(),
                meta.permissions().mode() & 0o777
            );
        }
    }
    let secret = text.trim().to_string();
    if secret.is_empty() {
        return cerr(format!("{what} {} is empty", path.display()));
    }
    Ok(secret)
}
