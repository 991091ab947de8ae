//! The Mesos-DNS record rules (spec §4–§7): one function from a state to a
//! record set, split by record family as Mesos-DNS's generator is: the
//! leader and masters (§5.1), agents (§5.2), frameworks (§5.3) and tasks
//! (§5.4). Name resolution goes through a [`Resolver`] so that the rules
//! can be tested with data only.
//!
//! With `--profile aventer` the task family adds AVENTER-UG/mesos-dns's
//! `.slave` DiscoveryInfo SRV records; with reverse zones listed, the task
//! family also collects the PTR claims (see `reverse.rs`), a separate
//! output of [`generate_all`].

use super::filter::{Verdict, fail_open, ip_sources, verdict_in};
use super::hosts::{
    Resolver, host_ips, ip_literal, join_host_port, parse_pid, parse_upid, split_host_port,
};
use super::labels::{LabelRules, fragment, label};
use super::names::{slave_part, task_hash};
use super::options::{GenOptions, IpSource, Profile};
use super::reverse::{PtrClaims, ReverseSet};
use super::set::{NameId, RecordSet, canonical};
use super::state::{Framework, State, Status, Task};
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

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
    /// Services the health filter fails open for (no healthy instance:
    /// all published; filled by [`super::filter::filter_counts`]).
    pub unhealthy_fail_open: usize,
    /// How many agents the state lists in `recovered_slaves` (known from
    /// the registry, not re-registered yet); `None`: no such list.
    pub recovered_agents: Option<usize>,
    /// The leader's `elected_time`, whole Unix seconds, when the state
    /// gives a plausible one.
    pub elected_unix: Option<u64>,
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
        elected_unix: state
            .elected_time
            .filter(|t| (0.0..1e11).contains(t))
            .map(|t| t as u64),
        recovered_agents: state.recovered_slaves.as_ref().map(Vec::len),
        ..StateCounts::default()
    }
}

/// What one generation gives: the forward record set (names under the
/// domain) and the reverse records (PTR, by listed reverse zone; empty
/// unless `opts.reverse_zones` lists some). The two go to different NS1
/// zones, with their own ownership.
#[derive(Debug)]
pub struct Generated {
    pub forward: RecordSet,
    pub reverse: ReverseSet,
}

/// Builds exactly the forward record set the profile's Mesos-DNS would
/// serve for `state` (no PTR records: see [`generate_all`]).
pub fn generate(
    state: &State<'_>,
    opts: &GenOptions,
    resolver: &dyn Resolver,
) -> Result<RecordSet, GenError> {
    let mut opts_forward;
    let opts = if opts.reverse_zones.is_empty() {
        opts
    } else {
        opts_forward = opts.clone();
        opts_forward.reverse_zones.clear();
        &opts_forward
    };
    generate_all(state, opts, resolver).map(|g| g.forward)
}

/// Builds the forward record set and, for the listed reverse zones, the
/// PTR records the fork would serve (AVENTER-UG/mesos-dns with
/// `ReverseDnsOn`).
pub fn generate_all(
    state: &State<'_>,
    opts: &GenOptions,
    resolver: &dyn Resolver,
) -> Result<Generated, GenError> {
    let mut set = RecordSet::new(opts.srv_weight);
    let mut claims = (!opts.reverse_zones.is_empty()).then(|| PtrClaims::new(&opts.reverse_zones));
    // About 12 answers and 2 new names per running task (a plain task with
    // a two-port range); a little more or less only costs a reallocation.
    let running = counts(state).running_tasks;
    set.reserve(
        running * 12 + state.slaves.len() * 2 + 64,
        running * 2 + state.slaves.len() + 64,
    );
    leader_and_masters(&mut set, state, opts)?;
    let agents = agents(&mut set, state, opts, resolver)?;
    let mut names = NameBuf::default();
    for (index, fw) in state.frameworks.iter().enumerate() {
        let fw = FwRef {
            index,
            fw,
            label: fragment(&fw.name, opts.rules),
            open: fail_open(fw, opts),
        };
        framework(&mut set, &fw, opts, resolver)?;
        for (ti, task) in fw.fw.tasks.iter().enumerate() {
            task_records(
                &mut set,
                &mut names,
                &mut claims,
                opts,
                &agents,
                &fw,
                ti,
                task,
            )?;
        }
    }
    set.notes.warn("tasks");
    let reverse = match claims {
        Some(claims) => claims.finish(&set),
        None => ReverseSet::default(),
    };
    Ok(Generated {
        forward: set,
        reverse,
    })
}

/// §5.1: the leader and the masters.
fn leader_and_masters(
    set: &mut RecordSet,
    state: &State<'_>,
    opts: &GenOptions,
) -> Result<(), GenError> {
    let d = opts.domain.as_str();
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
    Ok(())
}

/// §5.2: the agents' records; gives each agent's addresses by its id.
fn agents<'s>(
    set: &mut RecordSet,
    state: &'s State<'_>,
    opts: &GenOptions,
    resolver: &dyn Resolver,
) -> Result<HashMap<&'s str, Vec<IpAddr>>, GenError> {
    let d = opts.domain.as_str();
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
    Ok(agents)
}

/// A framework as its records and its tasks' records need it.
struct FwRef<'a> {
    /// Its place in the state's `frameworks`.
    index: usize,
    fw: &'a Framework<'a>,
    /// Its name as a label (`FW`).
    label: String,
    /// Its services that the health filter fails open for.
    open: std::collections::HashSet<&'a str>,
}

/// §5.3: a framework's own records.
fn framework(
    set: &mut RecordSet,
    fw: &FwRef<'_>,
    opts: &GenOptions,
    resolver: &dyn Resolver,
) -> Result<(), GenError> {
    let (d, fi, fwname) = (opts.domain.as_str(), fw.index, fw.label.as_str());
    let fw = fw.fw;
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
    Ok(())
}

/// §5.4: the records of one task, `ti` in its framework's `tasks` (none
/// unless it runs on a known agent and the filters publish it).
#[allow(clippy::too_many_arguments)]
fn task_records(
    set: &mut RecordSet,
    names: &mut NameBuf,
    claims: &mut Option<PtrClaims>,
    opts: &GenOptions,
    agents: &HashMap<&str, Vec<IpAddr>>,
    fw: &FwRef<'_>,
    ti: usize,
    task: &Task<'_>,
) -> Result<(), GenError> {
    let (d, fi, fwname) = (opts.domain.as_str(), fw.index, fw.label.as_str());
    let open = &fw.open;
    let fw = fw.fw;
    if task.state != "TASK_RUNNING" {
        return Ok(());
    }
    let Some(sips) = agents.get(task.slave_id.as_ref()) else {
        return Ok(());
    };
    if verdict_in(task, opts, open) != Verdict::Publish {
        return Ok(());
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
        set.notes.note_item(
            format!(
                "tasks of framework {} have more ports than the {} allowed \
                 (--max-task-ports): their SRV records are skipped",
                crate::text::quote(&fw.name),
                opts.max_task_ports
            ),
            Some(&task.id),
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
        &ip_sources(task, &opts.ip_sources, &mut set.notes),
    );
    let ctx = TaskCtx {
        fw: fwname,
        d,
        hash: task_hash(&task.id),
        slave: slave_part(&task.slave_id),
        tips: &tips,
        sips,
        ports: &ports,
        discovery_ports: within,
        aventer: opts.profile == Profile::Aventer,
    };
    if task.discovery.name.is_empty() {
        let n = label(&task.name, opts.rules);
        task_block(set, names, claims, &ctx, &n, None, opts.rules);
    } else {
        // The block for the raw name, then for the sanitized one (the
        // same block when they are equal: nothing new, no second claim).
        let raw = task.discovery.name.as_ref();
        task_block(set, names, claims, &ctx, raw, Some(task), opts.rules);
        let sanitized = label(raw, opts.rules);
        if sanitized != raw {
            task_block(set, names, claims, &ctx, &sanitized, Some(task), opts.rules);
        }
    }
    if set.answers() > opts.max_records {
        return err(too_many(opts.max_records));
    }
    Ok(())
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
    /// `--profile aventer`: DiscoveryInfo SRV records under `.slave` too.
    aventer: bool,
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
/// has DiscoveryInfo. Each task IP claims its reverse name for `N.FW.D`
/// (the fork's `insertTaskRR(arec+tail, tIP, PTR)`, `generator.go:451-453`).
fn task_block(
    set: &mut RecordSet,
    buf: &mut NameBuf,
    claims: &mut Option<PtrClaims>,
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
            if let Some(claims) = claims.as_mut() {
                claims.claim(*ip, n_fw);
            }
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
            // AVENTER-UG/mesos-dns (v0.8.0, `generator.go:506-508`): the
            // same chain under `FW.slave`, pointing at the agent-side name;
            // it merges into the resource-port SRV of the same name.
            if ctx.aventer {
                let id = buf.id(set, format_args!("_{n}._{proto}.{fw}.slave.{d}"));
                set.add_srv_to(id, c_slave, dp.number);
                if !pn.is_empty() {
                    let id = buf.id(set, format_args!("_{pn}._{n}._{proto}.{fw}.slave.{d}"));
                    set.add_srv_to(id, c_slave, dp.number);
                }
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

fn label_ips(st: &Status<'_>, key: &str, parse: impl Fn(&str) -> Option<IpAddr>) -> Vec<IpAddr> {
    st.labels
        .iter()
        .filter(|l| l.key == key)
        .filter_map(|l| parse(&l.value))
        .collect()
}
