//! `check`: the configuration, the masters and leader, the key and the
//! zone, in that order; stops at the first problem with advice.

use crate::config::Config;
use crate::exit::{Exit, Fail};
use crate::ns1::{Client, Ns1Api, Ns1Options, ZoneRecord, normalize_name};
use crate::plan::{Claim, Ownership, claim_of, marker_name};
use crate::source::{self, Cluster, Fetched};
use crate::state_dir;
use crate::text::escape_control;
use std::time::Instant;

/// What ZooKeeper reported, or that it did not.
fn say_zookeeper(url: &impl std::fmt::Display, from_zk: &[String]) {
    match from_zk.first() {
        Some(leader) => println!(
            "zookeeper: {url}: leader {leader}, {} masters registered",
            from_zk.len()
        ),
        None => println!(
            "zookeeper: {url}: no leader detected (see the warning); using the configured masters"
        ),
    }
}

/// Whether a nameserver is one of NS1's public managed nameservers
/// (`dns1.p01.nsone.net` and the like).
pub fn is_ns1_public_nameserver(name: &str) -> bool {
    let n = name.trim().trim_end_matches('.').to_ascii_lowercase();
    n.ends_with(".nsone.net")
}

/// `check`: the configuration, the masters and leader, the key and the
/// zone, in that order; stops at the first problem with advice.
pub fn run(cfg: &Config) -> Result<Exit, Fail> {
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
    let deadline = Instant::now().checked_add(cfg.deadline);
    // The steps of source::fetch, with what ZooKeeper said in between and
    // advice for a failed fetch.
    let masters = source::detect_leader(cfg, deadline)?;
    if let Some(url) = &cfg.zk {
        say_zookeeper(url, &masters.from_zk);
    }
    let (body, source) = source::read_state(cfg, &masters, deadline).map_err(|f| {
        Fail::new(
            f.exit,
            format!(
                "{} (check the masters list, the network path to port 5050 and mesosHTTPSOn)",
                f.msg
            ),
        )
    })?;
    let fetched = Fetched {
        body,
        source,
        masters,
    };
    let Cluster {
        mut records,
        counts,
        leader,
        source,
        ..
    } = fetched.build(cfg, source::resolve_deadline(cfg, None), false)?;
    println!(
        "mesos: state from {source}: leader {}, {} agents, {} frameworks, {} running tasks, {} records",
        escape_control(&leader),
        counts.agents,
        counts.frameworks,
        counts.running_tasks,
        records.records().len()
    );
    let key = cfg
        .read_ns1_key()
        .map_err(|e| Fail::new(Exit::Usage, e.0))?;
    let mut opts = cfg.ns1_options(key, None);
    // As in 0.2.0, `check` connects with NS1's default connect timeout.
    opts.connect_timeout = Ns1Options::new("", "").connect_timeout;
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
    if cfg.min_visibility.is_none() {
        match client.zone_dns_servers(&cfg.zone) {
            Ok(servers) if servers.iter().any(|s| is_ns1_public_nameserver(s)) => {
                let msg = format!(
                    "zone {} is served publicly (by {}) and --min-visibility is not set: \
                     every running task's addresses are published to the internet; \
                     set --min-visibility external (config \"minVisibility\") to publish only \
                     tasks whose DiscoveryInfo visibility is EXTERNAL",
                    cfg.zone,
                    servers.join(", ")
                );
                log::warn!("{msg}");
                println!("warning: {msg}");
            }
            Ok(_) => {}
            Err(e) => log::warn!("could not read the nameservers of zone {}: {e}", cfg.zone),
        }
    }
    let domain = normalize_name(&cfg.domain);
    let others: Vec<&ZoneRecord> = zone
        .iter()
        .filter(|r| {
            !matches!(r.rtype.to_ascii_uppercase().as_str(), "NS" | "SOA")
                && normalize_name(&r.domain) != marker_name(&domain)
        })
        .collect();
    if domain == normalize_name(&cfg.zone) && !others.is_empty() {
        println!(
            "warning: the domain is the zone {}, which holds {} records other than NS and SOA (e.g. {} {}): \
             give the cluster a domain of its own, such as --domain mesos.{}",
            cfg.zone,
            others.len(),
            others[0].domain,
            others[0].rtype,
            cfg.zone
        );
    }
    let owned = state_dir::load_owned(&cfg.state_dir, &domain);
    let cluster = super::claim::cluster_id(cfg, &owned);
    let claim = claim_of(&zone, &domain, &cluster);
    match &claim {
        Claim::Ours => println!(
            "ownership: {domain} is claimed by this cluster ({cluster}; {} exists)",
            marker_name(&domain)
        ),
        Claim::None => println!(
            "ownership: {domain} is not claimed yet: the first sync claims it as cluster {cluster}; \
             records already under it stay as they are (see `mesos2ns1 adopt`)"
        ),
        Claim::Legacy if owned.synced_before || owned.claim.is_some() => println!(
            "ownership: {domain} carries a 0.2.0 marker that the next sync upgrades to cluster {cluster}"
        ),
        other => {
            let why = super::claim::refusal(&domain, other, &cluster).unwrap_or_default();
            println!("ownership: {why}");
            return Err(Fail::new(Exit::Claimed, why));
        }
    }
    reverse_claims(cfg, &mut client, &cluster)?;
    if let Some(_lock) = state_dir::lock(&cfg.state_dir)? {
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

/// Each listed reverse zone: that it exists and who claims it. Another
/// cluster's claim is exit 5, as for the domain.
fn reverse_claims(cfg: &Config, client: &mut Client, cluster: &str) -> Result<(), Fail> {
    let mut refused = None;
    for z in &cfg.reverse_zones {
        let name = z.name();
        let records = client.list_zone(name).map_err(|e| {
            Fail::new(
                Exit::Failed,
                format!(
                    "NS1: reverse zone {name}: {e} (create it in NS1: mesos2ns1 never creates reverse zones; check the key's permissions)"
                ),
            )
        })?;
        let ptrs = records
            .iter()
            .filter(|r| r.rtype.eq_ignore_ascii_case("PTR"))
            .count();
        match claim_of(&records, name, cluster) {
            Claim::Ours => println!(
                "reverse zone {name}: {} records ({ptrs} PTR), claimed by this cluster ({cluster})",
                records.len()
            ),
            Claim::None => println!(
                "reverse zone {name}: {} records ({ptrs} PTR), not claimed yet: the first sync claims it as cluster {cluster}; \
                 PTR records already in it stay as they are",
                records.len()
            ),
            other => {
                let ids = match other {
                    Claim::Foreign(ids) => ids.join(", "),
                    _ => "none".to_string(),
                };
                let why = format!(
                    "reverse zone {name} is claimed by another cluster ({} names cluster {ids}; this cluster is {cluster}): sync writes nothing in it",
                    marker_name(name)
                );
                println!("ownership: {why}");
                refused.get_or_insert(why);
            }
        }
    }
    match refused {
        Some(why) => Err(Fail::new(Exit::Claimed, why)),
        None => Ok(()),
    }
}
