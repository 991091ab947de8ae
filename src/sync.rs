//! `sync`, `plan` and `check`: one run from the masters to the zone, under
//! a lock, within a deadline, with the safety checks, ending in one summary
//! line (and optionally a JSON summary and a metrics file).

use crate::app::{Exit, Fail, build_records, read_state};
use crate::apply::{Applied, apply};
use crate::cli::Command;
use crate::config::Config;
use crate::ns1::{Client, Ns1Api, Ns1Options, Stats};
use crate::plan::{self, Baseline, Ownership, Plan};
use crate::records::generate::{StateCounts, parse_pid};
use crate::report::{Memory, Summary, write_metrics};
use crate::zone_read;
use std::fs::{self, File, TryLockError};
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

pub fn run_command(cfg: &Config, cmd: Command) -> Result<Exit, Fail> {
    let started = Instant::now();
    cfg.require_sync_settings()
        .map_err(|e| Fail::new(Exit::Usage, e.0))?;
    match cmd {
        Command::Check => check(cfg),
        Command::Plan => run_locked(cfg, false, started),
        _ => run_locked(cfg, true, started),
    }
}

/// Creates the state dir (mode 0750) and takes its lock. `None`: another
/// run holds it.
fn lock_state_dir(dir: &Path) -> Result<Option<File>, Fail> {
    if !dir.exists() {
        let mut b = fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o750);
        b.create(dir).map_err(|e| {
            Fail::new(
                Exit::Usage,
                format!("cannot create state dir {}: {e}", dir.display()),
            )
        })?;
    }
    let path = dir.join("lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| {
            Fail::new(
                Exit::Usage,
                format!("cannot open lock {}: {e}", path.display()),
            )
        })?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(Fail::new(
            Exit::Failed,
            format!("cannot lock {}: {e}", path.display()),
        )),
    }
}

fn run_locked(cfg: &Config, write: bool, started: Instant) -> Result<Exit, Fail> {
    let command = if write { "sync" } else { "plan" };
    let Some(_lock) = lock_state_dir(&cfg.state_dir)? else {
        println!(
            "mesos2ns1 {command}: another run holds the lock in {}; nothing to do",
            cfg.state_dir.display()
        );
        return Ok(Exit::Ok);
    };
    let mut summary = Summary::new(command);
    let mut memory = match Memory::load(&cfg.state_dir) {
        Ok(memory) => Some(memory),
        Err(e) if cfg.force => {
            log::warn!("--force: starting a new baseline: {e}");
            Some(Memory::default())
        }
        Err(e) => {
            let msg = format!(
                "refused: {e}, so the last good run's figures are unknown; nothing was read or written. \
                 Check the state dir, then run once with --force to start a new baseline"
            );
            eprintln!("mesos2ns1: {msg}");
            summary.reason = msg;
            None
        }
    };
    let outcome = match memory.as_mut() {
        Some(memory) => run(cfg, write, started, &mut summary, memory),
        None => Ok(Exit::Refused),
    };
    let exit = match &outcome {
        Ok(exit) => *exit,
        Err(fail) => {
            eprintln!("mesos2ns1: {}", fail.msg);
            summary.reason = fail.msg.clone();
            fail.exit
        }
    };
    summary.exit = exit as i32;
    summary.duration_seconds = started.elapsed().as_secs_f64();
    // An unreadable memory file is left as it is, for the operator.
    let memory = match memory {
        Some(mut memory) => {
            if exit == Exit::Refused {
                memory.refusals_total += 1;
            }
            if write && exit == Exit::Ok {
                memory.last_success_time = Some(crate::report::unix_now());
            }
            if let Err(e) = memory.save(&cfg.state_dir) {
                log::warn!("could not save {}: {e}", cfg.state_dir.display());
            }
            memory
        }
        None => Memory::default(),
    };
    if let Some(path) = &cfg.metrics_file
        && let Err(e) = write_metrics(path, &summary, &memory)
    {
        log::warn!("could not write metrics file {}: {e}", path.display());
    }
    summary.note_usage();
    summary.print(cfg.summary_json);
    // The error was already said; the summary carries it too.
    Ok(exit)
}

/// Whether `ip` is assigned to one of this host's network interfaces.
/// (A bind test would also succeed for non-local addresses on hosts with
/// `ip_nonlocal_bind`, common on keepalived masters.)
pub fn is_local_address(ip: IpAddr) -> Result<bool, String> {
    let ifaces =
        if_addrs::get_if_addrs().map_err(|e| format!("cannot list this host's addresses: {e}"))?;
    Ok(ifaces.iter().any(|i| i.ip() == ip))
}

fn run(
    cfg: &Config,
    write: bool,
    started: Instant,
    summary: &mut Summary,
    memory: &mut Memory,
) -> Result<Exit, Fail> {
    let deadline = started + cfg.deadline;
    // The key first: a configuration error is found before anything is read.
    let key = cfg
        .read_ns1_key()
        .map_err(|e| Fail::new(Exit::Usage, e.0))?;

    // 1. The cluster. Any failure here returns before NS1 is contacted.
    let (body, source) = read_state(cfg, Some(deadline))?;
    let (mut set, counts, leader) = build_records(&body, &source, cfg)?;
    drop(body);
    summary.leader = leader.clone();
    let StateCounts {
        agents,
        running_tasks,
        ..
    } = counts;
    summary.agents = agents;
    summary.running_tasks = running_tasks;

    if cfg.only_if_leader {
        let leader_ip = parse_pid(&leader)
            .ok()
            .and_then(|p| p.host.parse::<IpAddr>().ok())
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
        if !local {
            // Keep this host's baseline current, so that the day it becomes
            // the leader the implausible-state check compares with fresh figures.
            let now = Baseline {
                agents,
                running_tasks,
            };
            if plan::check_state(now, memory.last_good, 0).is_ok() {
                memory.last_good = Some(now);
            }
            summary.reason =
                format!("this host is not the leading master ({leader_ip}); nothing to do");
            return Ok(Exit::Ok);
        }
    }

    // 2. The desired, publishable records.
    let own = Ownership::new(&cfg.domain, &cfg.exclude);
    let (desired, skipped) = plan::publishable(set.records(), &own);
    drop(set);
    summary.desired = desired.len();
    summary.skipped = skipped.records();
    summary.skipped_answers = skipped.answers;
    if skipped.records() + skipped.answers > 0 {
        log::info!(
            "skipped: {} names NS1 cannot hold, {} SRV answers with unpublishable targets or ports, {} records left empty, {} excluded",
            skipped.names,
            skipped.answers,
            skipped.emptied,
            skipped.excluded
        );
    }

    // 3. The zone.
    let mut opts = Ns1Options::new(cfg.ns1_endpoint.clone(), key);
    opts.connect_timeout = cfg.ns1_timeout.min(Duration::from_secs(10));
    opts.read_timeout = cfg.ns1_timeout;
    opts.ca_file = cfg.ca_file.clone();
    opts.deadline = Some(deadline);
    opts.allow_http = cfg.ns1_allow_http;
    let mut client = Client::new(opts).map_err(|e| Fail::new(Exit::Usage, e.to_string()))?;
    // Cached listing, pacing across runs, --create-zone: see zone_read.
    let read_opts = zone_read::ReadOptions {
        zone: &cfg.zone,
        endpoint: &cfg.ns1_endpoint,
        state_dir: &cfg.state_dir,
        full_read_every: cfg.full_read_every,
        create_zone: cfg.create_zone,
    };
    zone_read::load_pacing(&cfg.state_dir, &client);
    let view = zone_read::read_zone(&mut client, &read_opts).map_err(|e| {
        note_stats(summary, &client.stats());
        zone_read::save_pacing(&cfg.state_dir, &client);
        Fail::new(Exit::Failed, format!("reading zone {}: {e}", cfg.zone))
    })?;
    zone_read::after_read(&read_opts, &view);
    zone_read::save_pacing(&cfg.state_dir, &client);
    let zone_missing = view.source == zone_read::Source::Missing;
    let mut plan = plan::compute(desired, view.records, &own, cfg.ttl);
    summary.unchanged = plan.unchanged;
    summary.owned = plan.owned;
    note_stats(summary, &client.stats());
    log::info!("plan: {plan}");

    // 4. Safety.
    let now = Baseline {
        agents,
        running_tasks,
    };
    if let Err(refusal) = plan::check_safety(&plan, cfg.max_change_share, now, memory.last_good) {
        if cfg.force {
            log::warn!("--force: overriding: {refusal}");
        } else {
            print_plan(&plan);
            return Err(Fail::new(Exit::Refused, refusal.to_string()));
        }
    }

    if !write && zone_missing {
        print_plan(&plan);
        summary.pending = plan.changes.len();
        summary.reason = format!(
            "zone {} does not exist; sync --create-zone would create it with {} record sets in one import",
            cfg.zone,
            plan.changes.len()
        );
        return Ok(Exit::Remaining);
    }
    if !write {
        print_plan(&plan);
        summary.pending = plan.changes.len();
        summary.reason = if plan.is_empty() {
            "nothing to change".into()
        } else {
            format!("{} changes pending ({plan})", plan.changes.len())
        };
        return Ok(if plan.is_empty() {
            Exit::Ok
        } else {
            Exit::Remaining
        });
    }

    // 5. Apply. The state passed the checks: it is the new baseline.
    memory.last_good = Some(now);
    let mut imported = 0;
    if zone_missing {
        let before = plan.count(plan::Action::Create);
        let listing = zone_read::create_zone(&mut client, &cfg.zone, &cfg.domain, cfg.ttl, &plan);
        zone_read::after_write(&read_opts);
        let listing = listing.map_err(|e| {
            note_stats(summary, &client.stats());
            zone_read::save_pacing(&cfg.state_dir, &client);
            Fail::new(Exit::Failed, format!("creating zone {}: {e}", cfg.zone))
        })?;
        plan = plan::compute(
            zone_read::desired_from_creates(&plan),
            listing.records,
            &own,
            cfg.ttl,
        );
        imported = before
            .saturating_sub(plan.count(plan::Action::Create) + plan.count(plan::Action::Update));
        log::info!("zone import created {imported} record sets; the rest record by record: {plan}");
    }
    let applied = apply(
        &mut client,
        &cfg.zone,
        &cfg.domain,
        cfg.ttl,
        &plan,
        deadline,
    );
    note_stats(summary, &client.stats());
    zone_read::save_pacing(&cfg.state_dir, &client);
    if applied.created + applied.updated + applied.deleted + applied.failed.len() > 0 {
        zone_read::after_write(&read_opts);
    }
    let exit = finish(summary, &plan, &applied);
    summary.created += imported;
    Ok(exit)
}

fn finish(summary: &mut Summary, plan: &Plan, applied: &Applied) -> Exit {
    summary.created = applied.created;
    summary.updated = applied.updated;
    summary.deleted = applied.deleted;
    summary.failed = applied.failed.len();
    summary.postponed = applied.postponed;
    if applied.remaining() == 0 {
        summary.reason = if plan.is_empty() {
            "zone already matches".into()
        } else {
            "zone matches".into()
        };
        Exit::Ok
    } else {
        let mut why = Vec::new();
        if !applied.failed.is_empty() {
            why.push(format!(
                "{} changes failed (first: {})",
                applied.failed.len(),
                applied.failed[0].1
            ));
        }
        if applied.postponed > 0 {
            why.push(format!(
                "{} changes postponed to the next run",
                applied.postponed
            ));
        }
        summary.reason = why.join("; ");
        Exit::Remaining
    }
}

fn note_stats(summary: &mut Summary, stats: &Stats) {
    summary.api_calls = stats.requests;
    summary.throttled = stats.throttled;
}

fn print_plan(plan: &Plan) {
    for change in &plan.changes {
        println!("{change}");
    }
    println!("plan: {plan}");
}

/// `check`: the configuration, the masters and leader, the key and the
/// zone, in that order; stops at the first problem with advice.
fn check(cfg: &Config) -> Result<Exit, Fail> {
    println!(
        "config: {} (zone {}, domain {}, {} masters)",
        cfg.config_file.as_ref().map_or(
            "no config file, flags and environment only".to_string(),
            |p| p.display().to_string()
        ),
        cfg.zone,
        cfg.domain,
        cfg.masters.len()
    );
    let (body, source) = read_state(cfg, None).map_err(|f| {
        Fail::new(
            f.exit,
            format!(
                "{} (check the masters list, the network path to port 5050 and mesosHTTPSOn)",
                f.msg
            ),
        )
    })?;
    let (mut set, counts, leader) = build_records(&body, &source, cfg)?;
    println!(
        "mesos: state from {source}: leader {leader}, {} agents, {} frameworks, {} running tasks, {} records",
        counts.agents,
        counts.frameworks,
        counts.running_tasks,
        set.records().len()
    );
    let key = cfg
        .read_ns1_key()
        .map_err(|e| Fail::new(Exit::Usage, e.0))?;
    let mut opts = Ns1Options::new(cfg.ns1_endpoint.clone(), key);
    opts.read_timeout = cfg.ns1_timeout;
    opts.ca_file = cfg.ca_file.clone();
    opts.allow_http = cfg.ns1_allow_http;
    let mut client = Client::new(opts).map_err(|e| Fail::new(Exit::Usage, e.to_string()))?;
    let zone = client.list_zone(&cfg.zone).map_err(|e| {
        Fail::new(
            Exit::Failed,
            format!(
                "NS1: {e} (check the key's permissions for zone {}, and that the zone exists)",
                cfg.zone
            ),
        )
    })?;
    let own = Ownership::new(&cfg.domain, &cfg.exclude);
    let owned = zone.iter().filter(|r| own.owns(r)).count();
    println!(
        "ns1: zone {} at {}: {} records, {} owned by mesos2ns1 (A, AAAA, SRV below {})",
        cfg.zone,
        cfg.ns1_endpoint,
        zone.len(),
        owned,
        cfg.domain
    );
    if let Some(_lock) = lock_state_dir(&cfg.state_dir)? {
        println!("state dir: {} is writable", cfg.state_dir.display());
    } else {
        println!(
            "state dir: {} (a run holds the lock now)",
            cfg.state_dir.display()
        );
    }
    println!("check: ok");
    Ok(Exit::Ok)
}
