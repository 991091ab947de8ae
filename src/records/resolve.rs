//! Name resolution under a deadline. A state names some hosts rather than
//! addresses (agents and frameworks with a host-name pid, frameworks of the
//! HTTP scheduler API, which have no pid and only a `hostname`). Resolving
//! them through the system resolver can hang: the names are resolved here,
//! before generation, by a few worker threads, and whatever has no answer
//! when the time is up is treated as a name that does not resolve (as
//! Mesos-DNS treats one: no framework records; an agent or framework pid
//! that does not resolve rejects the state), and logged.

use super::hosts::{Resolver, StaticResolver, host_ips, parse_upid};
use super::state::State;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

/// Worker threads resolving at once (a hung lookup holds one).
pub const RESOLVE_WORKERS: usize = 8;

/// The host names of `state` that need a lookup: agent and framework pid
/// hosts and the `hostname` of frameworks without a pid, that are not IP
/// literals; each once, in state order.
pub fn names_to_resolve(state: &State<'_>) -> Vec<String> {
    // The generator's own parsing decides which names it looks up: a
    // resolver that only records the names it is asked for sees exactly
    // those (IP literals never reach a resolver).
    struct Collect(std::cell::RefCell<(HashSet<String>, Vec<String>)>);
    impl Resolver for Collect {
        fn lookup(&self, host: &str) -> Vec<IpAddr> {
            let mut c = self.0.borrow_mut();
            if !host.is_empty() && c.0.insert(host.to_string()) {
                c.1.push(host.to_string());
            }
            Vec::new()
        }
    }
    let collect = Collect(Default::default());
    for slave in &state.slaves {
        if let Some(pid) = slave.pid {
            let _ = parse_upid(pid, &collect);
        }
    }
    for fw in &state.frameworks {
        match fw.pid {
            Some(pid) => {
                let _ = parse_upid(pid, &collect);
            }
            None => {
                let _ = host_ips(&fw.hostname, &collect);
            }
        }
    }
    collect.0.into_inner().1
}

/// What [`resolve_until`] found.
pub struct Resolved {
    /// The answers, as a resolver for [`generate`](super::generate()).
    /// Names without an answer are absent: they resolve to nothing.
    pub table: StaticResolver,
    /// Names still unanswered when the time was up.
    pub timed_out: Vec<String>,
}

/// Resolves `names` with `resolver` on up to `workers` threads, waiting
/// until `until` at the latest. Lookups still running then are abandoned
/// (their threads end when the lookup returns; nothing waits for them).
pub fn resolve_until(
    names: Vec<String>,
    resolver: Arc<dyn Resolver + Send + Sync>,
    until: Instant,
    workers: usize,
) -> Resolved {
    let total = names.len();
    let mut table = HashMap::with_capacity(total);
    if total == 0 {
        return Resolved {
            table: StaticResolver(table),
            timed_out: Vec::new(),
        };
    }
    let queue = Arc::new(Mutex::new(names.iter().cloned().collect::<VecDeque<_>>()));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<(String, Vec<IpAddr>)>();
    let mut started = 0;
    for i in 0..workers.clamp(1, total) {
        let (queue, stop, tx, resolver) = (
            Arc::clone(&queue),
            Arc::clone(&stop),
            tx.clone(),
            Arc::clone(&resolver),
        );
        let spawned = std::thread::Builder::new()
            .name(format!("resolve-{i}"))
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let next = queue.lock().map(|mut q| q.pop_front()).unwrap_or(None);
                    let Some(name) = next else { break };
                    let ips = resolver.lookup(&name);
                    if tx.send((name, ips)).is_err() {
                        break;
                    }
                }
            });
        match spawned {
            Ok(_) => started += 1,
            Err(e) => log::warn!("cannot start a name resolution thread: {e}"),
        }
    }
    drop(tx);
    if started > 0 {
        while table.len() < total {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match rx.recv_timeout(left) {
                Ok((name, ips)) => {
                    table.insert(name, ips);
                }
                Err(_) => break,
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let timed_out: Vec<String> = names
        .into_iter()
        .filter(|n| !table.contains_key(n))
        .collect();
    if !timed_out.is_empty() {
        let shown: Vec<String> = timed_out
            .iter()
            .take(5)
            .map(|n| crate::text::quote(n))
            .collect();
        log::warn!(
            "{} host names did not resolve in time ({}{}); treated as names that do not resolve",
            timed_out.len(),
            shown.join(", "),
            if timed_out.len() > shown.len() {
                ", …"
            } else {
                ""
            }
        );
    }
    Resolved {
        table: StaticResolver(table),
        timed_out,
    }
}
