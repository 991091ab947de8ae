//! The cluster side of a run: the masters (configured, or reported by
//! ZooKeeper), the state (from a file or the leading master), and the
//! record set generated from it, with the records the state's ended tasks
//! explain. [`read_cluster`] is the one path from "detect the leader" to
//! "the cluster's records"; [`leader_is_here`] tells whether this host leads.

use crate::config::Config;
use crate::exit::{Exit, Fail};
use crate::records::generate::StateCounts;
use crate::records::hosts::parse_pid;
use crate::records::{self, GenOptions, RecordSet, Resolver, SystemResolver};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

/// Reads the state: from `--state-file`, or from the leading master. With
/// a deadline, the whole fetch (every master, redirect and leader
/// re-fetch) ends by it.
pub fn read_state(
    cfg: &Config,
    masters: &Masters,
    deadline: Option<Instant>,
) -> Result<(Vec<u8>, String), Fail> {
    if let Some(path) = &cfg.state_file {
        let body = read_capped(path, cfg.max_state_bytes)
            .map_err(|e| Fail::new(Exit::Failed, format!("state file {}: {e}", path.display())))?;
        return Ok((body, path.display().to_string()));
    }
    if masters.list.is_empty() {
        return Err(Fail::new(
            Exit::Usage,
            "no state source: give --state-file, --masters or --zk (or \"masters\" or \"zk\" in the config file)",
        ));
    }
    let opts = crate::mesos::MesosOptions {
        masters: masters.list.clone(),
        https: cfg.mesos_https,
        ca_file: cfg.ca_file.clone(),
        credentials: cfg
            .read_mesos_credentials()
            .map_err(|e| Fail::new(Exit::Usage, e.0))?,
        connect_timeout: cfg.state_timeout.min(std::time::Duration::from_secs(5)),
        max_state_bytes: cfg.max_state_bytes,
        // Each master (and each leader re-fetch) gets `state_timeout`, and
        // all of them together end at the deadline.
        timeout: cfg.state_timeout,
        deadline,
    };
    let fetched = crate::mesos::fetch_state(&opts).map_err(|e| match &masters.refused_leader {
        Some(why) => Fail::new(Exit::Failed, format!("{e}; {why}")),
        None => Fail::new(Exit::Failed, e.to_string()),
    })?;
    Ok((fetched.body, fetched.url))
}

/// Reads a file of at most `max` bytes.
fn read_capped(path: &std::path::Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut body = Vec::new();
    std::fs::File::open(path)?
        .take(max.saturating_add(1))
        .read_to_end(&mut body)?;
    if body.len() as u64 > max {
        return Err(std::io::Error::other(format!(
            "larger than {max} bytes (--max-state-mib)"
        )));
    }
    Ok(body)
}

/// The masters a run reads from: the configured ones, or after ZooKeeper
/// detection those ZooKeeper reports (leader first) followed by the
/// configured ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Masters {
    /// The masters to fetch the state from, in order.
    pub list: Vec<String>,
    /// The masters ZooKeeper reported (leader first); empty without
    /// ZooKeeper or when detection failed.
    pub from_zk: Vec<String>,
    /// Why ZooKeeper's leader was not contacted (see
    /// `mesos::zk::choose_masters`), and what to list.
    pub refused_leader: Option<String>,
}

impl Masters {
    /// The configured masters, as they are.
    pub fn configured(cfg: &Config) -> Masters {
        Masters {
            list: cfg.masters.clone(),
            from_zk: Vec::new(),
            refused_leader: None,
        }
    }
}

/// With `zk` (and no state file), finds the leading master through
/// ZooKeeper within `zkDetectionTimeout` and what is left of the deadline.
/// The masters returned are those ZooKeeper reports (leader first), then
/// the configured `masters`, which are also the fallback when detection
/// fails, as in Mesos-DNS. Without `masters` a failed detection fails the
/// run.
pub fn detect_leader(cfg: &Config, deadline: Option<Instant>) -> Result<Masters, Fail> {
    let Some(url) = cfg.zk.as_ref().filter(|_| cfg.state_file.is_none()) else {
        return Ok(Masters::configured(cfg));
    };
    let deadline = deadline.unwrap_or_else(|| Instant::now() + cfg.deadline);
    let mut budget = deadline.saturating_duration_since(Instant::now());
    if !cfg.zk_detection_timeout.is_zero() {
        budget = budget.min(cfg.zk_detection_timeout);
    }
    match crate::mesos::zk::detect(url, budget) {
        Ok(found) => {
            // With credentials, only configured masters are asked (see
            // `choose_masters`).
            let credentials = cfg.mesos_principal.is_some() && cfg.mesos_secret_file.is_some();
            let chosen = crate::mesos::zk::choose_masters(
                &found,
                &cfg.masters,
                cfg.mesos_https,
                credentials,
                url,
            )
            .map_err(|e| Fail::new(Exit::Failed, e))?;
            if let Some(why) = &chosen.refused_leader {
                log::warn!("{why}; trying the configured masters");
            }
            Ok(Masters {
                list: chosen.masters,
                from_zk: chosen.zk_masters,
                refused_leader: chosen.refused_leader,
            })
        }
        Err(e) if !cfg.masters.is_empty() => {
            log::warn!("{e}; falling back to the configured masters");
            Ok(Masters::configured(cfg))
        }
        Err(e) => Err(Fail::new(Exit::Failed, e.to_string())),
    }
}

/// The cluster as one run sees it.
#[derive(Debug)]
pub struct Cluster {
    /// The Mesos-DNS record set.
    pub records: RecordSet,
    /// The PTR records of the listed reverse zones (none listed: empty).
    pub reverse: records::ReverseSet,
    /// The state's figures.
    pub counts: StateCounts,
    /// The leader's pid, as the state gives it.
    pub leader: String,
    /// The answers the state's ended tasks explain (empty unless asked).
    pub explained: crate::plan::Explained,
    /// The masters used (and those ZooKeeper reported).
    pub masters: Masters,
    /// Where the state came from (a URL or a file).
    pub source: String,
}

/// A state as fetched, before its records are built.
#[derive(Debug)]
pub struct Fetched {
    pub body: Vec<u8>,
    pub source: String,
    pub masters: Masters,
}

/// Detects the leader and fetches its state, both within `deadline`.
pub fn fetch(cfg: &Config, deadline: Option<Instant>) -> Result<Fetched, Fail> {
    let masters = detect_leader(cfg, deadline)?;
    let (body, source) = read_state(cfg, &masters, deadline)?;
    Ok(Fetched {
        body,
        source,
        masters,
    })
}

impl Fetched {
    /// Builds the cluster's records from the fetched state, resolving host
    /// names with the system resolver until `resolve_until`; with
    /// `explain`, also the answers its ended tasks explain.
    pub fn build(
        self,
        cfg: &Config,
        resolve_until: Instant,
        explain: bool,
    ) -> Result<Cluster, Fail> {
        let opts = gen_options_for(cfg, &self.masters);
        let (records, reverse, counts, leader, explained) = build(
            &self.body,
            &self.source,
            &opts,
            Arc::new(SystemResolver),
            resolve_until,
            explain,
        )?;
        Ok(Cluster {
            records,
            reverse,
            counts,
            leader,
            explained,
            masters: self.masters,
            source: self.source,
        })
    }
}

/// The one path from "detect the leader" to "the cluster's records":
/// detection and the fetch end by `deadline`, name resolution by
/// [`resolve_deadline`] (half of what is left then).
pub fn read_cluster(
    cfg: &Config,
    deadline: Option<Instant>,
    explain: bool,
) -> Result<Cluster, Fail> {
    let fetched = fetch(cfg, deadline)?;
    let until = resolve_deadline(cfg, deadline);
    fetched.build(cfg, until, explain)
}

/// Generation options from the configuration alone (the configured
/// masters); masters lose their scheme.
pub fn gen_options(cfg: &Config) -> GenOptions {
    gen_options_for(cfg, &Masters::configured(cfg))
}

/// Generation options for a run that used `masters`. After ZooKeeper
/// detection the master records are those ZooKeeper reports (as in
/// Mesos-DNS), those with an IP address (Mesos-DNS requires one).
pub fn gen_options_for(cfg: &Config, masters: &Masters) -> GenOptions {
    let mut opts = GenOptions::new(cfg.records_domain());
    let zk_masters: Vec<String> = masters
        .from_zk
        .iter()
        .filter(|m| {
            let ok = records::hosts::split_host_port(m)
                .is_some_and(|(h, _)| h.parse::<IpAddr>().is_ok());
            if !ok {
                log::warn!("master {m} from ZooKeeper has no IP address: no master record for it");
            }
            ok
        })
        .cloned()
        .collect();
    let masters = if masters.from_zk.is_empty() {
        &masters.list
    } else {
        &zk_masters
    };
    opts.masters = masters
        .iter()
        .map(|m| {
            m.strip_prefix("http://")
                .or_else(|| m.strip_prefix("https://"))
                .unwrap_or(m)
                .trim_end_matches('/')
                .to_string()
        })
        .collect();
    opts.ip_sources = cfg.ip_sources.clone();
    opts.rules = cfg.rules;
    opts.srv_weight = cfg.srv_weight;
    opts.max_task_ports = cfg.max_task_ports;
    opts.max_records = cfg.max_records;
    opts.healthy_only = cfg.healthy_only;
    opts.profile = cfg.profile;
    opts.reverse_zones = cfg.reverse_zones.clone();
    opts.min_visibility = cfg.min_visibility;
    opts
}

/// Parses a state and generates its record set, resolving host names with
/// the system resolver until [`resolve_deadline`] (no deadline given).
pub fn build_records(
    body: &[u8],
    source: &str,
    cfg: &Config,
) -> Result<(RecordSet, StateCounts, String), Fail> {
    build_records_until(
        body,
        source,
        cfg,
        Arc::new(SystemResolver),
        resolve_deadline(cfg, None),
    )
}

/// When name resolution stops waiting: half the time left before the
/// run's `deadline` (so that the zone still gets the other half), or half
/// of `--deadline` from now when the command has none.
pub fn resolve_deadline(cfg: &Config, deadline: Option<Instant>) -> Instant {
    let now = Instant::now();
    let left = match deadline {
        Some(d) => d.saturating_duration_since(now),
        None => cfg.deadline,
    };
    now.checked_add(left / 2).unwrap_or(now)
}

/// [`build_records`] with a given resolver, waiting for names until `until`
/// (see [`records::resolve`]).
pub fn build_records_until(
    body: &[u8],
    source: &str,
    cfg: &Config,
    resolver: Arc<dyn Resolver + Send + Sync>,
    until: Instant,
) -> Result<(RecordSet, StateCounts, String), Fail> {
    let (set, _, counts, leader, _) =
        build(body, source, &gen_options(cfg), resolver, until, false)?;
    Ok((set, counts, leader))
}

/// The record set, the state's figures, the leader, and (with `explain`)
/// the answers the state's ended tasks would have.
fn build(
    body: &[u8],
    source: &str,
    opts: &GenOptions,
    resolver: Arc<dyn Resolver + Send + Sync>,
    until: Instant,
    explain: bool,
) -> Result<Built, Fail> {
    let state = records::state::parse(body)
        .map_err(|e| Fail::new(Exit::Failed, format!("{source}: {e}")))?;
    build_state(state, source, opts, resolver, until, explain)
}

/// [`build`] from a state already in memory (the event stream's cluster
/// model renders one: [`crate::mesos::Cluster::to_state`]): the same
/// steps, so the same records as from `/master/state`.
pub fn build_state(
    state: records::state::State<'_>,
    source: &str,
    opts: &GenOptions,
    resolver: Arc<dyn Resolver + Send + Sync>,
    until: Instant,
    explain: bool,
) -> Result<Built, Fail> {
    let resolved = records::resolve::resolve_until(
        records::resolve::names_to_resolve(&state),
        resolver,
        until,
        records::resolve::RESOLVE_WORKERS,
    );
    let records::Generated {
        forward: set,
        reverse,
    } = records::generate_all(&state, opts, &resolved.table)
        .map_err(|e| Fail::new(Exit::Failed, format!("{source}: {e}")))?;
    let mut counts = records::generate::counts(&state);
    let left_out = records::filter::filter_counts(&state, opts);
    counts.unhealthy_tasks = left_out.unhealthy;
    counts.not_visible_tasks = left_out.not_visible;
    counts.unhealthy_fail_open = left_out.fail_open;
    let leader = state.leader.to_string();
    let explained = if explain {
        records::explained(state, opts, &resolved.table)
    } else {
        crate::plan::Explained::new()
    };
    Ok((set, reverse, counts, leader, explained))
}

/// What a build gives: the record set, the PTR records of the listed
/// reverse zones, the state's figures, the leader, and the answers the
/// state's ended tasks explain.
pub type Built = (
    RecordSet,
    records::ReverseSet,
    StateCounts,
    String,
    crate::plan::Explained,
);

/// Whether this host is the leading master (`--only-if-leader`): the
/// leader's address, from its pid, is one of this host's addresses. A
/// leader advertising a loopback or unspecified address cannot be told
/// apart and fails the run.
pub fn leader_is_here(leader: &str) -> Result<(bool, IpAddr), Fail> {
    let leader_ip = parse_pid(leader)
        .ok()
        .and_then(|p| p.host.parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
        .ok_or_else(|| {
            Fail::new(
                Exit::Failed,
                format!("cannot tell the leader's address from {leader:?}"),
            )
        })?;
    if leader_ip.is_loopback() || leader_ip.is_unspecified() {
        return Err(Fail::new(
            Exit::Failed,
            format!(
                "--only-if-leader: the leader advertises {leader_ip}, which every host holds; \
                 cannot tell which host leads (set the masters' --advertise_ip)"
            ),
        ));
    }
    let local = is_local_address(leader_ip).map_err(|e| Fail::new(Exit::Failed, e))?;
    Ok((local, leader_ip))
}

/// Whether `ip` is assigned to one of this host's network interfaces.
/// (A bind test would also succeed for non-local addresses on hosts with
/// `ip_nonlocal_bind`, common on keepalived masters.)
pub fn is_local_address(ip: IpAddr) -> Result<bool, String> {
    let ifaces =
        if_addrs::get_if_addrs().map_err(|e| format!("cannot list this host's addresses: {e}"))?;
    Ok(address_among(ip, ifaces.iter().map(|i| i.ip())))
}

/// Whether `ip` is one of `addrs`, compared canonically: an IPv4-mapped
/// IPv6 address (`::ffff:10.0.0.1`) is its IPv4 address.
pub fn address_among(ip: IpAddr, addrs: impl IntoIterator<Item = IpAddr>) -> bool {
    let ip = ip.to_canonical();
    addrs.into_iter().any(|a| a.to_canonical() == ip)
}
