//! The cluster side of a run: the state (from a file, the leading master
//! or ZooKeeper's leader) and the record set generated from it, with the
//! records the state's ended tasks explain.

use crate::config::Config;
use crate::exit::{Exit, Fail};
use crate::records::{self, GenOptions, RecordSet, Resolver, SystemResolver};

/// Reads the state: from `--state-file`, or from the leading master. With
/// a deadline, the whole fetch (every master, redirect and leader
/// re-fetch) ends by it.
pub fn read_state(
    cfg: &Config,
    deadline: Option<std::time::Instant>,
) -> Result<(Vec<u8>, String), Fail> {
    if let Some(path) = &cfg.state_file {
        let body = read_capped(path, cfg.max_state_bytes)
            .map_err(|e| Fail::new(Exit::Failed, format!("state file {}: {e}", path.display())))?;
        return Ok((body, path.display().to_string()));
    }
    if cfg.masters.is_empty() {
        return Err(Fail::new(
            Exit::Usage,
            "no state source: give --state-file, --masters or --zk (or \"masters\" or \"zk\" in the config file)",
        ));
    }
    let opts = crate::mesos::MesosOptions {
        masters: cfg.masters.clone(),
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
    let fetched = crate::mesos::fetch_state(&opts).map_err(|e| match &cfg.zk_refused_leader {
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

/// With `zk` (and no state file), finds the leading master through
/// ZooKeeper within `zkDetectionTimeout` and what is left of the deadline.
/// The configuration returned lists the masters ZooKeeper reports (leader
/// first), then the configured `masters`, which are also the fallback when
/// detection fails, as in Mesos-DNS. Without `masters` a failed detection
/// fails the run.
pub fn detect_leader(
    cfg: &Config,
    deadline: Option<std::time::Instant>,
) -> Result<std::borrow::Cow<'_, Config>, Fail> {
    use std::borrow::Cow;
    use std::time::Instant;
    let Some(url) = cfg.zk.as_ref().filter(|_| cfg.state_file.is_none()) else {
        return Ok(Cow::Borrowed(cfg));
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
            let mut out = cfg.clone();
            out.masters = chosen.masters;
            out.zk_masters = chosen.zk_masters;
            out.zk_refused_leader = chosen.refused_leader;
            Ok(Cow::Owned(out))
        }
        Err(e) if !cfg.masters.is_empty() => {
            log::warn!("{e}; falling back to the configured masters");
            Ok(Cow::Borrowed(cfg))
        }
        Err(e) => Err(Fail::new(Exit::Failed, e.to_string())),
    }
}

/// Generation options from the configuration; masters lose their scheme.
/// After ZooKeeper detection the masters are the ones ZooKeeper reports
/// (as in Mesos-DNS), those with an IP address (Mesos-DNS requires one).
pub fn gen_options(cfg: &Config) -> GenOptions {
    let mut opts = GenOptions::new(cfg.records_domain());
    let zk_masters: Vec<String> = cfg
        .zk_masters
        .iter()
        .filter(|m| {
            let ok = records::hosts::split_host_port(m)
                .is_some_and(|(h, _)| h.parse::<std::net::IpAddr>().is_ok());
            if !ok {
                log::warn!("master {m} from ZooKeeper has no IP address: no master record for it");
            }
            ok
        })
        .cloned()
        .collect();
    let masters = if cfg.zk_masters.is_empty() {
        &cfg.masters
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
    opts.min_visibility = cfg.min_visibility;
    opts
}

/// Parses a state and generates its record set, resolving host names with
/// the system resolver until [`resolve_deadline`] (no deadline given).
pub fn build_records(
    body: &[u8],
    source: &str,
    cfg: &Config,
) -> Result<(RecordSet, records::generate::StateCounts, String), Fail> {
    build_records_until(
        body,
        source,
        cfg,
        std::sync::Arc::new(SystemResolver),
        resolve_deadline(cfg, None),
    )
}

/// When name resolution stops waiting: half the time left before the
/// run's `deadline` (so that the zone still gets the other half), or half
/// of `--deadline` from now when the command has none.
pub fn resolve_deadline(cfg: &Config, deadline: Option<std::time::Instant>) -> std::time::Instant {
    let now = std::time::Instant::now();
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
    resolver: std::sync::Arc<dyn Resolver + Send + Sync>,
    until: std::time::Instant,
) -> Result<(RecordSet, records::generate::StateCounts, String), Fail> {
    let (set, counts, leader, _) = build(body, source, cfg, resolver, until, false)?;
    Ok((set, counts, leader))
}

/// The record set, the state's figures, the leader, and (with `explain`)
/// the answers the state's ended tasks would have.
fn build(
    body: &[u8],
    source: &str,
    cfg: &Config,
    resolver: std::sync::Arc<dyn Resolver + Send + Sync>,
    until: std::time::Instant,
    explain: bool,
) -> Result<Built, Fail> {
    let state = records::state::parse(body)
        .map_err(|e| Fail::new(Exit::Failed, format!("{source}: {e}")))?;
    let resolved = records::resolve::resolve_until(
        records::resolve::names_to_resolve(&state),
        resolver,
        until,
        records::resolve::RESOLVE_WORKERS,
    );
    let opts = gen_options(cfg);
    let set = records::generate(&state, &opts, &resolved.table)
        .map_err(|e| Fail::new(Exit::Failed, format!("{source}: {e}")))?;
    let mut counts = records::generate::counts(&state);
    let left_out = records::filter::filter_counts(&state, &opts);
    counts.unhealthy_tasks = left_out.unhealthy;
    counts.not_visible_tasks = left_out.not_visible;
    let leader = state.leader.to_string();
    let explained = if explain {
        records::explained(state, &opts, &resolved.table)
    } else {
        crate::plan::Explained::new()
    };
    Ok((set, counts, leader, explained))
}

/// What a build gives: the record set, the state's figures, the leader,
/// and the answers the state's ended tasks explain.
pub type Built = (
    RecordSet,
    records::generate::StateCounts,
    String,
    crate::plan::Explained,
);

/// Parses a state and generates its record set, and the answers its
/// terminal tasks and completed frameworks would produce (which explain
/// their removal). Names are resolved as by [`build_records_until`], once
/// for both.
pub fn build_records_explained(
    body: &[u8],
    source: &str,
    cfg: &Config,
    resolver: std::sync::Arc<dyn Resolver + Send + Sync>,
    until: std::time::Instant,
) -> Result<Built, Fail> {
    build(body, source, cfg, resolver, until, true)
}
