//! The Mesos-DNS record rules (spec §4–§7): one function from a state to a
//! record set. Name resolution goes through a [`Resolver`] so that the rules
//! can be tested with data only.

use super::labels::{LabelRules, fragment, label};
use super::set::{NameId, RecordSet, canonical};
use super::state::{State, Task};
use data_encoding::{Encoding, Specification};
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, ToSocketAddrs};
use std::str::FromStr;
use std::sync::OnceLock;

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
    /// Opt-in filters (see `filter.rs`); off by default.
    pub healthy_only: super::filter::HealthyOnly,
    pub min_visibility: Option<super::filter::Visibility>,
}

impl GenOptions {
    pub fn new(domain: &str) -> GenOptions {
        GenOptions {
            domain: domain.trim_end_matches('.').to_ascii_lowercase(),
            masters: Vec::new(),
            ip_sources: vec![IpSource::Netinfo, IpSource::Mesos, IpSource::Host],
            rules: LabelRules::Rfc1123,
            srv_weight: 1,
            healthy_only: super::filter::HealthyOnly::Off,
            min_visibility: None,
        }
    }
}

/// Looks up the addresses of a host name (agents and frameworks given by
/// name rather than by IP).
pub trait Resolver {
    fn lookup(&self, host: &str) -> Vec<IpAddr>;
}

/// The system resolver (`/etc/hosts`, DNS).
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn lookup(&self, host: &str) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = match (host, 0u16).to_socket_addrs() {
            Ok(addrs) => addrs.map(|a| canonical(a.ip())).collect(),
            Err(_) => Vec::new(),
        };
        let mut seen = Vec::new();
        out.retain(|ip| {
            let new = !seen.contains(ip);
            seen.push(*ip);
            new
        });
        out
    }
}

/// A fixed host table, for tests and for runs that must not resolve.
#[derive(Default)]
pub struct StaticResolver(pub HashMap<String, Vec<IpAddr>>);

impl Resolver for StaticResolver {
    fn lookup(&self, host: &str) -> Vec<IpAddr> {
        self.0.get(host).cloned().unwrap_or_default()
    }
}

/// A state Mesos-DNS would reject or crash on (spec §2.3), in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenError(pub String);

impl fmt::Display for GenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GenError {}

fn err<T>(msg: String) -> Result<T, GenError> {
    Err(GenError(msg))
}

/// A parsed `id@host:port` process id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pid<'a> {
    pub host: &'a str,
    pub port: u16,
}

/// Splits a Mesos pid `id@host:port` (IPv6 hosts in brackets).
pub fn parse_pid(pid: &str) -> Result<Pid<'_>, String> {
    let mut parts = pid.split('@');
    let (Some(_id), Some(addr), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("{pid:?} is not of the form id@host:port"));
    };
    let (host, port) =
        split_host_port(addr).ok_or_else(|| format!("{pid:?} has no valid host:port"))?;
    Ok(Pid { host, port })
}

/// Go's `net.SplitHostPort` for `host:port` / `[v6]:port` with a numeric port.
pub fn split_host_port(addr: &str) -> Option<(&str, u16)> {
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':')?)
    } else {
        let (host, port) = addr.rsplit_once(':')?;
        if host.contains(':') {
            return None;
        }
        (host, port)
    };
    if host.is_empty() || port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((host, port.parse().ok()?))
}

fn zbase32() -> &'static Encoding {
    static ENC: OnceLock<Encoding> = OnceLock::new();
    ENC.get_or_init(|| {
        let mut spec = Specification::new();
        spec.symbols.push_str("ybndrfg8ejkmcpqxot1uwisza345h769");
        spec.encoding()
            .expect("z-base-32 alphabet is a valid specification")
    })
}

/// `H`: SHA-1 of the task id, z-base-32, first 5 characters (spec §4).
pub fn task_hash(task_id: &str) -> String {
    let digest = Sha1::digest(task_id.as_bytes());
    // 5 characters need 25 bits: encode the first 5 bytes (40 bits, 8 chars).
    let mut s = zbase32().encode(&digest[..5]);
    s.truncate(5);
    s
}

/// `S`: the text after the last `-` of the agent id, lowercased (spec §4).
pub fn slave_part(slave_id: &str) -> String {
    slave_id
        .rsplit('-')
        .next()
        .unwrap_or(slave_id)
        .to_lowercase()
}

fn ip_literal(host: &str) -> Option<IpAddr> {
    let inner = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    inner.parse().ok()
}

/// `IPs(host)`: the literal, or every address the resolver gives.
fn host_ips(host: &str, resolver: &dyn Resolver) -> Vec<IpAddr> {
    if host.is_empty() {
        return Vec::new();
    }
    match ip_literal(host) {
        Some(ip) => vec![canonical(ip)],
        None => resolver.lookup(host),
    }
}

/// Figures about a state, for the safety checks and the run summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
    pub agents: usize,
    pub frameworks: usize,
    pub running_tasks: usize,
    /// Running tasks left out by `healthyOnly` / `minVisibility` (filled
    /// by [`super::filter::filter_counts`]; zero here).
    pub unhealthy_tasks: usize,
    pub not_visible_tasks: usize,
}

pub fn counts(state: &State<'_>) -> StateCounts {
    StateCounts {
        agents: state.slaves.len(),
        frameworks: state.frameworks.len(),
        running_tasks: state
            .frameworks
            .iter()
            .flat_map(|f| f.tasks.iter())
            .filter(|t| t.state == "TASK_RUNNING")
            .count(),
        ..StateCounts::default()
    }
}

/// Builds exactly the record set Mesos-DNS would serve for `state`.
pub fn generate(
    state: &State<'_>,
    opts: &GenOptions,
    resolver: &dyn Resolver,
) -> Result<RecordSet, GenError> {
    let d = opts.domain.as_str();
    let mut set = RecordSet::new(opts.srv_weight);
    // About 12 answers and 2 new names per running task (a plain task with
    // a two-port range); a little more or less only costs a reallocation.
    let running = counts(state).running_tasks;
    set.reserve(
        running * 12 + state.slaves.len() * 2 + 64,
        running * 2 + state.slaves.len() + 64,
    );

    // §5.1 leader and masters.
    if state.leader.is_empty() {
        return err("the state has no leader (field \"leader\" is empty)".into());
    }
    let leader = parse_pid(&state.leader).map_err(|e| GenError(format!("leader: {e}")))?;
    let Some(leader_ip) = ip_literal(leader.host) else {
        return err(format!(
            "leader: host {:?} of {:?} is not an IP address",
            leader.host, state.leader
        ));
    };
    let leader_written = leader.host;
    let leader_str = join_host_port(leader.host, leader.port);
    set.add_ip_as_written(&format!("leader.{d}"), leader_written, leader_ip);
    set.add_ip_as_written(&format!("master.{d}"), leader_written, leader_ip);
    let leader_target = format!("leader.{d}");
    set.add_srv(
        &format!("_leader._tcp.{d}"),
        &leader_target,
        leader.port.into(),
    );
    set.add_srv(
        &format!("_leader._udp.{d}"),
        &leader_target,
        leader.port.into(),
    );

    let master_d = format!("master.{d}");
    let mut leader_numbered = false;
    let mut idx = 0usize;
    for entry in &opts.masters {
        let Some((host, _port)) = split_host_port(entry) else {
            return err(format!("master {entry:?} is not of the form host:port"));
        };
        let Some(ip) = ip_literal(host) else {
            return err(format!(
                "master {entry:?}: host {host:?} is not an IP address"
            ));
        };
        if *entry != leader_str {
            if set.has_ip(&master_d, ip) {
                continue;
            }
            set.add_ip_as_written(&master_d, host, ip);
        } else if leader_numbered {
            continue;
        }
        set.add_ip_as_written(&format!("master{idx}.{d}"), host, ip);
        if *entry == leader_str {
            leader_numbered = true;
        }
        idx += 1;
    }
    if !leader_numbered {
        set.add_ip_as_written(&format!("master{idx}.{d}"), leader_written, leader_ip);
    }

    // §5.2 agents.
    let slave_d = format!("slave.{d}");
    let mut agents: HashMap<&str, Vec<IpAddr>> = HashMap::with_capacity(state.slaves.len());
    for (i, slave) in state.slaves.iter().enumerate() {
        let pid = match &slave.pid {
            Some(Some(pid)) => pid,
            Some(None) => return err(format!("slaves[{i}] (id {:?}): pid is null", slave.id)),
            None => return err(format!("slaves[{i}] (id {:?}): pid is missing", slave.id)),
        };
        let p = parse_pid(pid).map_err(|e| GenError(format!("slaves[{i}] pid: {e}")))?;
        let ips = host_ips(p.host, resolver);
        if ips.is_empty() {
            return err(format!(
                "slaves[{i}] pid {pid:?}: host {:?} does not resolve",
                p.host
            ));
        }
        for ip in &ips {
            set.add_ip(&slave_d, *ip);
        }
        set.add_srv(&format!("_slave._tcp.{d}"), &slave_d, p.port.into());
        agents.insert(&slave.id, ips);
    }

    // §5.3 frameworks, §5.4 tasks.
    let mut names = NameBuf::default();
    for (fi, fw) in state.frameworks.iter().enumerate() {
        let fwname = fragment(&fw.name, opts.rules);
        let (host, port) = match &fw.pid {
            Some(Some(pid)) => {
                let p = parse_pid(pid)
                    .map_err(|e| GenError(format!("frameworks[{fi}] ({:?}) pid: {e}", fw.name)))?;
                let ips = host_ips(p.host, resolver);
                if ips.is_empty() {
                    return err(format!(
                        "frameworks[{fi}] ({:?}) pid {pid:?}: host {:?} does not resolve",
                        fw.name, p.host
                    ));
                }
                (p.host, Some(p.port))
            }
            Some(None) => {
                return err(format!("frameworks[{fi}] ({:?}): pid is null", fw.name));
            }
            None => (fw.hostname.as_ref(), None),
        };
        let fw_ips = host_ips(host, resolver);
        if !fw_ips.is_empty() {
            let fw_d = format!("{fwname}.{d}");
            for ip in &fw_ips {
                set.add_ip(&fw_d, *ip);
            }
            if let Some(port) = port {
                set.add_srv(&format!("_framework._tcp.{fwname}.{d}"), &fw_d, port.into());
            }
        }
        for (ti, task) in fw.tasks.iter().enumerate() {
            if task.state != "TASK_RUNNING" {
                continue;
            }
            let Some(sips) = agents.get(task.slave_id.as_ref()) else {
                continue;
            };
            if super::filter::verdict(task, opts) != super::filter::Verdict::Publish {
                continue;
            }
            let ports = resource_ports(&task.resources.ports).map_err(|e| {
                GenError(format!(
                    "frameworks[{fi}].tasks[{ti}] (id {:?}) resources.ports {:?}: {e}",
                    task.id, task.resources.ports
                ))
            })?;
            let tips = task_ips(
                task,
                sips,
                &super::filter::ip_sources(task, &opts.ip_sources),
            );
            let ctx = TaskCtx {
                fw: &fwname,
                d,
                hash: task_hash(&task.id),
                slave: slave_part(&task.slave_id),
                tips: &tips,
                sips,
                ports: &ports,
            };
            if task.discovery.name.is_empty() {
                let n = label(&task.name, opts.rules);
                task_block(&mut set, &mut names, &ctx, &n, None, opts.rules);
            } else {
                let raw = task.discovery.name.as_ref();
                task_block(&mut set, &mut names, &ctx, raw, Some(task), opts.rules);
                let sanitized = label(raw, opts.rules);
                if sanitized != raw {
                    task_block(
                        &mut set,
                        &mut names,
                        &ctx,
                        &sanitized,
                        Some(task),
                        opts.rules,
                    );
                }
            }
        }
    }
    Ok(set)
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

struct TaskCtx<'a> {
    fw: &'a str,
    d: &'a str,
    hash: String,
    slave: String,
    tips: &'a [IpAddr],
    sips: &'a [IpAddr],
    ports: &'a [i64],
}

/// A reused buffer for building names.
#[derive(Default)]
struct NameBuf(String);

impl NameBuf {
    /// Interns the formatted name into the set.
    fn id(&mut self, set: &mut RecordSet, name: std::fmt::Arguments<'_>) -> NameId {
        use std::fmt::Write;
        self.0.clear();
        let _ = self.0.write_fmt(name);
        set.intern(&self.0)
    }
}

/// Rows 1–8 of spec §5.4 for one name `n`. `discovery` is the task when it
/// has DiscoveryInfo.
fn task_block(
    set: &mut RecordSet,
    buf: &mut NameBuf,
    ctx: &TaskCtx<'_>,
    n: &str,
    discovery: Option<&Task<'_>>,
    rules: LabelRules,
) {
    let (fw, d, hash, slave) = (ctx.fw, ctx.d, ctx.hash.as_str(), ctx.slave.as_str());
    let c_fw = buf.id(set, format_args!("{n}-{hash}-{slave}.{fw}.{d}"));
    let c_slave = buf.id(set, format_args!("{n}-{hash}-{slave}.{fw}.slave.{d}"));
    if !ctx.tips.is_empty() {
        let n_fw = buf.id(set, format_args!("{n}.{fw}.{d}"));
        for ip in ctx.tips {
            set.add_ip_to(n_fw, *ip);
            set.add_ip_to(c_fw, *ip);
        }
    }
    if !ctx.sips.is_empty() {
        let n_slave = buf.id(set, format_args!("{n}.{fw}.slave.{d}"));
        for ip in ctx.sips {
            set.add_ip_to(n_slave, *ip);
            set.add_ip_to(c_slave, *ip);
        }
    }
    if !ctx.ports.is_empty() {
        for proto in ["tcp", "udp"] {
            let on_slave = buf.id(set, format_args!("_{n}._{proto}.{fw}.slave.{d}"));
            for &p in ctx.ports {
                set.add_srv_to(on_slave, c_slave, p);
            }
            if discovery.is_none() {
                let on_fw = buf.id(set, format_args!("_{n}._{proto}.{fw}.{d}"));
                for &p in ctx.ports {
                    set.add_srv_to(on_fw, c_slave, p);
                }
            }
        }
    }
    let Some(task) = discovery else {
        return;
    };
    for dp in &task.discovery.ports.ports {
        let pr = label(&dp.protocol, rules);
        let pn = label(&dp.name, rules);
        let protos: &[&str] = if pr.is_empty() {
            &["tcp", "udp"]
        } else {
            &[&pr]
        };
        for proto in protos {
            let id = buf.id(set, format_args!("_{n}._{proto}.{fw}.{d}"));
            set.add_srv_to(id, c_fw, dp.number);
            if !pn.is_empty() {
                let id = buf.id(set, format_args!("_{pn}._{n}._{proto}.{fw}.{d}"));
                set.add_srv_to(id, c_fw, dp.number);
            }
        }
    }
}

/// Expands `"[a-b, c-d]"` (spec §5.4). Pieces whose ends are not integers
/// are skipped, as upstream does; shapes that crash upstream are errors.
pub fn resource_ports(ports: &str) -> Result<Vec<i64>, String> {
    if ports.is_empty() {
        return Ok(Vec::new());
    }
    let Some(inner) = ports.strip_prefix('[') else {
        return Err("does not start with '['".into());
    };
    // Upstream drops the last character whatever it is.
    let mut chars = inner.chars();
    chars.next_back();
    let inner = chars.as_str();
    if inner.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for piece in inner.split(',') {
        let piece = piece.trim();
        let mut ends = piece.split('-');
        let (Some(a), Some(b)) = (ends.next(), ends.next()) else {
            return Err(format!("range {piece:?} has no '-'"));
        };
        let (Ok(a), Ok(b)) = (a.parse::<i64>(), b.parse::<i64>()) else {
            continue;
        };
        if a > b {
            continue;
        }
        if !(0..=65535).contains(&a) || !(0..=65535).contains(&b) {
            return Err(format!("range {piece:?} is outside 0-65535"));
        }
        out.extend(a..=b);
    }
    Ok(out)
}

/// `TIPs`: all IPs of the first source that yields one (spec §6).
fn task_ips(task: &Task<'_>, sips: &[IpAddr], sources: &[IpSource]) -> Vec<IpAddr> {
    let latest = task.latest_running.as_ref();
    let parse = |s: &str| s.parse::<IpAddr>().ok().map(canonical);
    for src in sources {
        let ips: Vec<IpAddr> = match (src, latest) {
            (IpSource::Host, _) => sips.to_vec(),
            (_, None) => Vec::new(),
            (IpSource::Netinfo, Some(st)) => st
                .container_status
                .network_ips
                .iter()
                .filter_map(|ip| parse(ip))
                .collect(),
            (IpSource::Mesos, Some(st)) => {
                label_ips(st, "MesosContainerizer.NetworkSettings.IPAddress", parse)
            }
            (IpSource::Docker, Some(st)) => {
                label_ips(st, "Docker.NetworkSettings.IPAddress", parse)
            }
        };
        if !ips.is_empty() {
            return ips;
        }
    }
    Vec::new()
}

fn label_ips(
    st: &super::state::Status<'_>,
    key: &str,
    parse: impl Fn(&str) -> Option<IpAddr>,
) -> Vec<IpAddr> {
    st.labels
        .iter()
        .filter(|l| l.key == key)
        .filter_map(|l| parse(&l.value))
        .collect()
}
