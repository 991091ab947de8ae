//! The settings that change the record set (spec §10): [`GenOptions`],
//! the IP sources (`IPSources`, spec §6) and the opt-in `healthyOnly`
//! filter (see `filter.rs`).

use super::labels::LabelRules;
use super::state::Visibility;
use std::str::FromStr;

/// Where task IPs come from (`IPSources`, spec §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpSource {
    Netinfo,
    Mesos,
    Docker,
    Host,
}

impl FromStr for IpSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "netinfo" => Ok(IpSource::Netinfo),
            "mesos" => Ok(IpSource::Mesos),
            "docker" => Ok(IpSource::Docker),
            "host" => Ok(IpSource::Host),
            other => Err(format!(
                "unknown IP source {other:?} (valid: netinfo, mesos, docker, host)"
            )),
        }
    }
}

/// Parses and validates an `IPSources` list as Mesos-DNS does: not empty, no
/// duplicates, only known values.
pub fn parse_ip_sources<S: AsRef<str>>(items: &[S]) -> Result<Vec<IpSource>, String> {
    if items.is_empty() {
        return Err("IP sources must not be empty".into());
    }
    let mut out = Vec::new();
    for item in items {
        let src: IpSource = item.as_ref().trim().parse()?;
        if out.contains(&src) {
            return Err(format!("IP source {:?} is listed twice", item.as_ref()));
        }
        out.push(src);
    }
    Ok(out)
}

/// `healthyOnly` (`--healthy-only[=strict]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HealthyOnly {
    /// Publish every running task (Mesos-DNS).
    #[default]
    Off,
    /// Leave out tasks whose latest check failed.
    On,
    /// Also leave out tasks that define a check and have no result yet.
    Strict,
}

impl FromStr for HealthyOnly {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "false" | "no" | "off" | "0" => Ok(HealthyOnly::Off),
            "true" | "yes" | "on" | "1" => Ok(HealthyOnly::On),
            "strict" => Ok(HealthyOnly::Strict),
            other => Err(format!(
                "healthy-only {other:?} is not one of true, false, strict"
            )),
        }
    }
}

/// Settings that change the record set (spec §10).
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// `D`, lowercase, no trailing dot.
    pub domain: String,
    /// Configured masters as `host:port`; empty means the leader alone.
    pub masters: Vec<String>,
    pub ip_sources: Vec<IpSource>,
    pub rules: LabelRules,
    pub srv_weight: u32,
    /// Most ports (distinct resource ports plus DiscoveryInfo ports) one
    /// task may have; a task with more gets no SRV records, with a warning.
    pub max_task_ports: usize,
    /// Most answers (A, AAAA and SRV resource records) a run may build; a
    /// state that makes more is refused.
    pub max_records: usize,
    /// Opt-in filters (see `filter.rs`); off by default.
    pub healthy_only: HealthyOnly,
    pub min_visibility: Option<Visibility>,
}

/// Default of [`GenOptions::max_task_ports`].
pub const DEFAULT_MAX_TASK_PORTS: usize = 1024;
/// Default of [`GenOptions::max_records`]: a 100,000-task cluster with two
/// ports per task makes about 1.2 million.
pub const DEFAULT_MAX_RECORDS: usize = 5_000_000;

impl GenOptions {
    pub fn new(domain: &str) -> GenOptions {
        GenOptions {
            domain: domain.trim_end_matches('.').to_ascii_lowercase(),
            masters: Vec::new(),
            ip_sources: vec![IpSource::Netinfo, IpSource::Mesos, IpSource::Host],
            rules: LabelRules::Rfc1123,
            srv_weight: 1,
            max_task_ports: DEFAULT_MAX_TASK_PORTS,
            max_records: DEFAULT_MAX_RECORDS,
            healthy_only: HealthyOnly::Off,
            min_visibility: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_values_parse() {
        assert_eq!("strict".parse::<HealthyOnly>(), Ok(HealthyOnly::Strict));
        assert_eq!("TRUE".parse::<HealthyOnly>(), Ok(HealthyOnly::On));
        assert_eq!("false".parse::<HealthyOnly>(), Ok(HealthyOnly::Off));
        assert!("maybe".parse::<HealthyOnly>().is_err());
    }
}
