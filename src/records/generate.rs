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
    /// Most ports (distinct resource ports plus DiscoveryInfo ports) one
    /// task may have; a task with more gets no SRV records, with a warning.
    pub max_task_ports: usize,
    /// Most answers (A, AAAA and SRV resource records) a run may build; a
    /// state that makes more is refused.
    pub max_records: usize,
    /// Opt-in filters (see `filter.rs`); off by default.
    pub healthy_only: super::filter::HealthyOnly,
    pub min_visibility: Option<super::filter::Visibility>,
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

/// A state pid as Mesos-DNS's `PID.UnmarshalJSON` and `upid.Parse` leave
/// it: host and port exactly as written, and the host's addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upid<'a> {
    pub host: &'a str,
    pub port: &'a str,
    pub ips: Vec<IpAddr>,
}

/// Reads a framework or agent pid from the raw JSON text of its value, as
/// Mesos-DNS does: the undecoded bytes with `"` and spaces trimmed from both
/// ends (so escapes such as `\u0040` stay as written), exactly one `@`, then
/// Go's `net.ResolveTCPAddr("tcp", …)`: the port a number in 0-65535 (a
/// sign allowed, empty = 0) or a known TCP service name, the host empty or
/// an address or a name that resolves. The host and port text are kept.
pub fn parse_upid<'a>(raw: &'a str, resolver: &dyn Resolver) -> Result<Upid<'a>, String> {
    if raw == "null" {
        return Err("pid is null".into());
    }
    // Quoted and cut: the raw text may be long or span lines.
    let shown = || {
        let cut: String = raw.chars().take(80).collect();
        let more = if cut.len() < raw.len() { "…" } else { "" };
        format!("{cut:?}{more}")
    };
    let text = raw.trim_matches(|c| c == '"' || c == ' ');
    let mut parts = text.split('@');
    let (Some(_id), Some(addr), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("{} does not have exactly one '@'", shown()));
    };
    let (host, port) = go_split_host_port(addr).map_err(|e| format!("{}: {e}", shown()))?;
    go_lookup_port(port).map_err(|e| format!("{}: {e}", shown()))?;
    let ips = host_ips(host, resolver);
    if !host.is_empty() && ips.is_empty() {
        return Err(format!("{}: host {host:?} does not resolve", shown()));
    }
    Ok(Upid { host, port, ips })
}

/// Go's `net.SplitHostPort`: the port is whatever follows the last `:`.
fn go_split_host_port(hp: &str) -> Result<(&str, &str), &'static str> {
    let Some(i) = hp.rfind(':') else {
        return Err("missing port in address");
    };
    let (host, j, k) = if hp.starts_with('[') {
        let Some(end) = hp.find(']') else {
            return Err("missing ']' in address");
        };
        if end + 1 == hp.len() {
            return Err("missing port in address");
        } else if end + 1 != i {
            return Err(if hp.as_bytes()[end + 1] == b':' {
                "too many colons in address"
            } else {
                "missing port in address"
            });
        }
        (&hp[1..end], 1, end + 1)
    } else {
        let host = &hp[..i];
        if host.contains(':') {
            return Err("too many colons in address");
        }
        (host, 0, 0)
    };
    if hp[j..].contains('[') {
        return Err("unexpected '[' in address");
    }
    if hp[k..].contains(']') {
        return Err("unexpected ']' in address");
    }
    Ok((host, &hp[i + 1..]))
}

/// Go's `LookupPort("tcp", …)` (pure Go resolver): only whether it fails.
fn go_lookup_port(service: &str) -> Result<(), String> {
    let digits = service.strip_prefix(['+', '-']).unwrap_or(service);
    if digits.bytes().all(|b| b.is_ascii_digit()) {
        // Go saturates; anything past 65535 (or below 0) is invalid.
        let n = digits.bytes().try_fold(0u32, |n, b| {
            n.checked_mul(10)?.checked_add(u32::from(b - b'0'))
        });
        return match n {
            Some(n) if n <= 65535 && !(service.starts_with('-') && n > 0) => Ok(()),
            _ => Err(format!("invalid port {service:?}")),
        };
    }
    if known_tcp_service(service) {
        Ok(())
    } else {
        Err(format!("unknown port tcp/{service}"))
    }
}

/// Whether Go's pure resolver knows a TCP service name: its built-in table
/// plus `/etc/services`, matched in ASCII lower case, at most 25 bytes.
fn known_tcp_service(service: &str) -> bool {
    static TABLE: OnceLock<Vec<String>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut names: Vec<String> = [
            "ftp", "ftps", "gopher", "http", "https", "imap2", "imap3", "imaps", "pop3", "pop3s",
            "smtp", "ssh", "telnet",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Ok(text) = std::fs::read_to_string("/etc/services") {
            for line in text.lines() {
                let line = line.split('#').next().unwrap_or("");
                let f: Vec<&str> = line
                    .split([' ', '\r', '\t', '\n'])
                    .filter(|s| !s.is_empty())
                    .collect();
                let Some((port, net)) = f.get(1).and_then(|pn| pn.split_once('/')) else {
                    continue;
                };
                let port_ok = !port.is_empty()
                    && port.bytes().all(|b| b.is_ascii_digit())
                    && port.parse::<u32>().is_ok_and(|p| p > 0);
                if port_ok && net == "tcp" {
                    names.extend(
                        f.iter()
                            .enumerate()
                            .filter(|(i, _)| *i != 1)
                            .map(|(_, n)| n.to_string()),
                    );
                }
            }
        }
        names
    });
    service.len() <= 25 && {
        let lower = service.to_ascii_lowercase();
        table.contains(&lower)
    }
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

/// `IPs(host)`: the literal, or every address the resolver gives. As in
/// Mesos-DNS, a bracketed IPv6 address (`[fd00::1]`) is neither.
pub(crate) fn host_ips(host: &str, resolver: &dyn Resolver) -> Vec<IpAddr> {
    if host.is_empty() {
        return Vec::new();
    }
    match host.parse::<IpAddr>() {
        Ok(ip) => vec![canonical(ip)],
        Err(_) => resolver.lookup(host),
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
    let leader_written = served_form(leader.host, leader_ip);
    let leader_written = leader_written.as_str();
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
        let host = served_form(host, ip);
        let host = host.as_str();
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
        // A missing pid crashes Mesos-DNS (nil dereference).
        let Some(pid) = slave.pid else {
            return err(format!("slaves[{i}] (id {:?}): pid is missing", slave.id));
        };
        let p = parse_upid(pid, resolver)
            .map_err(|e| GenError(format!("slaves[{i}] (id {:?}) pid: {e}", slave.id)))?;
        // An empty host (`slave@:5051`) gives no address: the agent's tasks
        // still count, without agent addresses.
        if !p.ips.is_empty() {
            for ip in &p.ips {
                set.add_ip(&slave_d, *ip);
            }
            set.add_srv_text(&format!("_slave._tcp.{d}"), &slave_d, p.port);
        }
        agents.insert(&slave.id, p.ips);
    }

    // §5.3 frameworks, §5.4 tasks.
    let mut names = NameBuf::default();
    for (fi, fw) in state.frameworks.iter().enumerate() {
        let fwname = fragment(&fw.name, opts.rules);
        let (fw_ips, port) = match fw.pid {
            Some(pid) => {
                let p = parse_upid(pid, resolver)
                    .map_err(|e| GenError(format!("frameworks[{fi}] ({:?}) pid: {e}", fw.name)))?;
                (p.ips, p.port)
            }
            None => (host_ips(&fw.hostname, resolver), ""),
        };
        if !fw_ips.is_empty() {
            let fw_d = format!("{fwname}.{d}");
            for ip in &fw_ips {
                set.add_ip(&fw_d, *ip);
            }
            if !port.is_empty() {
                set.add_srv_text(&format!("_framework._tcp.{fwname}.{d}"), &fw_d, port);
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
            let ranges = resource_ports(&task.resources.ports).map_err(|e| {
                GenError(format!(
                    "frameworks[{fi}].tasks[{ti}] (id {:?}) resources.ports {:?}: {e}",
                    task.id, task.resources.ports
                ))
            })?;
            let discovery_ports = if task.discovery.name.is_empty() {
                0
            } else {
                task.discovery.ports.ports.len()
            };
            let total = ranges.len().saturating_add(discovery_ports as u64);
            let within = total <= opts.max_task_ports as u64;
            if !within {
                set.tasks_over_port_bound += 1;
                log::warn!(
                    "task {:?} of framework {:?} has {total} ports, more than the {} allowed \
                     (--max-task-ports): its SRV records are skipped",
                    task.id,
                    fw.name,
                    opts.max_task_ports
                );
            }
            let ports: Vec<i64> = if within {
                ranges.iter().collect()
            } else {
                Vec::new()
            };
            // Each port makes at most 2 protocols x 2 names x 2 blocks.
            if set.answers().saturating_add(ports.len() * 8) > opts.max_records {
                return err(too_many(opts.max_records));
            }
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
                discovery_ports: within,
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
            if set.answers() > opts.max_records {
                return err(too_many(opts.max_records));
            }
        }
    }
    Ok(set)
}

fn too_many(max: usize) -> String {
    format!("the state makes more than {max} records (--max-records): refused, nothing is written")
}

/// A leader or master host as Mesos-DNS serves it: as written, except an
/// IPv4-mapped IPv6 address (`::ffff:10.0.0.1`), which Go's
/// `net.ParseIP(..).To4()` files and serves as the A record `10.0.0.1`.
fn served_form(host: &str, ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => canonical(ip).to_string(),
        _ => host.to_string(),
    }
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
    /// Whether the DiscoveryInfo ports make records (the task is within
    /// its port bound).
    discovery_ports: bool,
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
    let Some(task) = discovery.filter(|_| ctx.discovery_ports) else {
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

/// The resource ports of a task: sorted, merged, inclusive ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortRanges(Vec<(i64, i64)>);

impl PortRanges {
    /// How many distinct ports.
    pub fn len(&self) -> u64 {
        self.0
            .iter()
            .map(|&(lo, hi)| (hi - lo) as u64 + 1)
            .fold(0, u64::saturating_add)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every port, ascending (as many as [`len`](Self::len): bound it first).
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        self.0.iter().flat_map(|&(lo, hi)| lo..=hi)
    }
}

/// Reads `resources.ports` as Mesos-DNS's `Resources.Ports` does (spec
/// §5.4): `""` and `"[]"` are none; otherwise the text between the first
/// `[` and the next `[` or `]`, split at `,`, each piece trimmed and split
/// at `-`; a piece whose first or second end is not an integer is skipped,
/// `a > b` gives none, and ends above 65535 are kept. Shapes that crash
/// Mesos-DNS are errors: no `[`, a piece with an integer and no `-`, and a
/// range ending at 2^63-1 (its loop never ends). Duplicates merge.
pub fn resource_ports(ports: &str) -> Result<PortRanges, String> {
    if ports.is_empty() || ports == "[]" {
        return Ok(PortRanges::default());
    }
    let Some((_, rest)) = ports.split_once('[') else {
        return Err("has no '[' (Mesos-DNS crashes on it)".into());
    };
    let inner = rest.split('[').next().unwrap_or("");
    let inner = inner.split(']').next().unwrap_or("");
    let mut ranges = Vec::new();
    for piece in inner.split(',') {
        let piece = piece.trim();
        let mut ends = piece.split('-');
        let Ok(lo) = ends.next().unwrap_or("").parse::<i64>() else {
            continue;
        };
        let Some(hi) = ends.next() else {
            return Err(format!(
                "range {piece:?} has no '-' (Mesos-DNS crashes on it)"
            ));
        };
        let Ok(hi) = hi.parse::<i64>() else {
            continue;
        };
        if lo > hi {
            continue;
        }
        if hi == i64::MAX {
            return Err(format!(
                "range {piece:?} never ends in Mesos-DNS (its loop overflows)"
            ));
        }
        ranges.push((lo, hi));
    }
    ranges.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match merged.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    Ok(PortRanges(merged))
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
