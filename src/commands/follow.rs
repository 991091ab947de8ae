//! `follow`: a sync pass, then the leading master's event stream, until
//! SIGTERM or SIGINT. The events keep a cluster model
//! ([`crate::mesos::Cluster`]) current; its records go through the same
//! [`sync::pass`] as a sync's (the same plan, the same safety decision,
//! the safety memory kept between passes), at most once per
//! `--batch-interval`. A full pass from `/master/state` (a *reconcile*)
//! runs first, every `--reconcile-every` and after every reconnect.
//!
//! * **The lock.** The follower holds the state dir's lock for its whole
//!   life: a timer's `sync` finds it held and steps aside, and takes over
//!   when the follower stops. A follower that finds the lock held waits
//!   for it.
//! * **Reconnect.** When the stream ends, breaks, redirects or answers
//!   503, or is silent for 3 heartbeat intervals, the follower detects the
//!   leader again (masters or ZooKeeper, as sync does), reconciles and
//!   subscribes again, after a backoff of 1 s doubling to at most
//!   [`BACKOFF_CAP`] (reset once a stream has lived [`BACKOFF_CAP`]): a
//!   master that is down costs one attempt per 30 s.
//! * **`--only-if-leader`.** A reconcile on a host that does not lead
//!   keeps the windows current (as sync does) and subscribes to nothing;
//!   the follower polls leadership with the same backoff.
//! * **Stop.** SIGTERM or SIGINT sets a flag: the NS1 request in flight
//!   finishes and no other is begun, a Mesos read in flight is abandoned
//!   (it runs on its own thread), the state files are saved and the
//!   process exits 0. Nothing waits for a stream's reader thread.

use super::sync::{self, Mode, PassContext, Snapshot};
use super::{read_options, say_failure};
use crate::cli::FollowArgs;
use crate::config::Config;
use crate::exit::{Exit, Fail};
use crate::mesos::{self, EventStream, MesosOptions, Next, Pid, StreamError, SubscribeOptions};
use crate::records::SystemResolver;
use crate::report::{FollowFigures, Summary, write_follow_metrics};
use crate::source::{self, Masters};
use crate::state_dir::{self, Safety};
use crate::text;
use crate::zone::Session;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The longest wait between two attempts to reach the leader.
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// How often a wait looks at the stop flag.
const POLL: Duration = Duration::from_millis(100);
/// A batch that failed or left changes is tried again after this long
/// (or the batch interval, if longer).
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// How long a batch waits for host names (a reconcile: half the deadline).
const BATCH_RESOLVE: Duration = Duration::from_secs(2);

/// Runs the follower until SIGTERM or SIGINT.
pub fn run(cfg: &Config, args: &FollowArgs) -> Result<Exit, Fail> {
    if !(args.batch_interval.is_finite() && (0.0..=3600.0).contains(&args.batch_interval)) {
        return Err(Fail::new(
            Exit::Usage,
            format!(
                "--batch-interval {} is not between 0 and 3600 seconds",
                args.batch_interval
            ),
        ));
    }
    if cfg.state_file.is_some() {
        return Err(Fail::new(
            Exit::Usage,
            "follow reads the masters' event stream: --state-file cannot be followed",
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| Fail::new(Exit::Failed, format!("cannot handle signal {sig}: {e}")))?;
    }
    let key = cfg
        .read_ns1_key()
        .map_err(|e| Fail::new(Exit::Usage, e.0))?;
    let credentials = cfg
        .read_mesos_credentials()
        .map_err(|e| Fail::new(Exit::Usage, e.0))?;
    let Some(_lock) = wait_for_lock(cfg, &stop)? else {
        return Ok(Exit::Ok);
    };
    let mut ns1 = cfg.ns1_options(key, None);
    ns1.stop = Some(Arc::clone(&stop));
    let zone =
        Session::open(ns1, read_options(cfg)).map_err(|e| Fail::new(Exit::Usage, e.to_string()))?;
    let mut follower = Follower {
        cfg,
        shared: Arc::new(cfg.clone()),
        batch: Duration::from_secs_f64(args.batch_interval),
        reconcile_every: Duration::from_secs(args.reconcile_every.max(1)),
        stop,
        safety: state_dir::load_safety(
            &cfg.state_dir,
            cfg.force,
            crate::text::now(),
            cfg.settle.unwrap_or(900) as f64,
        ),
        zone,
        figures: FollowFigures::default(),
        credentials,
        link: None,
        dirty_since: None,
        pids_pending: false,
        next_batch: Instant::now(),
        next_reconcile: Instant::now(),
        backoff: Backoff::new(),
        last_summary: None,
    };
    follower.follow();
    follower.zone.close();
    follower.safety.save_counters(&cfg.state_dir);
    println!("mesos2ns1 follow: stopped; state saved");
    Ok(Exit::Ok)
}

/// Takes the state dir's lock, waiting while another run holds it.
/// `None`: stopped while waiting.
fn wait_for_lock(cfg: &Config, stop: &AtomicBool) -> Result<Option<std::fs::File>, Fail> {
    let mut said = false;
    loop {
        if let Some(lock) = state_dir::lock(&cfg.state_dir)? {
            return Ok(Some(lock));
        }
        if !said {
            println!(
                "mesos2ns1 follow: another run holds the lock in {}; waiting for it",
                cfg.state_dir.display()
            );
            said = true;
        }
        if !sleep_until(stop, Instant::now() + Duration::from_secs(1)) {
            return Ok(None);
        }
    }
}

/// Sleeps until `until`; false when the stop flag was set first.
fn sleep_until(stop: &AtomicBool, until: Instant) -> bool {
    loop {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(POLL));
    }
}

/// Runs `f` on a thread of its own and waits for it unless the stop flag
/// is set first (then `None`, and the thread is left to end by itself:
/// its reads have their own timeouts, and the process does not wait).
fn interruptible<T: Send + 'static>(
    stop: &AtomicBool,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("follow-read".to_string())
        .spawn(move || {
            let _ = tx.send(f());
        });
    if let Err(e) = spawned {
        log::error!("cannot start a reader thread: {e}");
        return None;
    }
    loop {
        match rx.recv_timeout(POLL) {
            Ok(v) => return Some(v),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if stop.load(Ordering::SeqCst) => {
                return None;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return None,
        }
    }
}

/// Bounded exponential backoff: 1 s, doubling, at most [`BACKOFF_CAP`].
#[derive(Debug)]
struct Backoff {
    next: Duration,
    /// No attempt before this.
    until: Instant,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff {
            next: Duration::from_secs(1),
            until: Instant::now(),
        }
    }

    /// A failure: the next attempt waits.
    fn fail(&mut self) {
        self.until = Instant::now() + self.next;
        log::info!("next attempt in {:?}", self.next);
        self.next = (self.next * 2).min(BACKOFF_CAP);
    }

    fn reset(&mut self) {
        self.next = Duration::from_secs(1);
    }
}

/// The open subscription and what it needs.
struct Link {
    stream: EventStream,
    model: mesos::Cluster,
    /// The leader, as a `masters` entry (`http://host:port`).
    leader: String,
    masters: Masters,
    opts: MesosOptions,
    /// Framework pids from the reconcile before the subscription.
    pids: HashMap<String, Pid>,
    since: Instant,
}

/// What a new model takes from the state read before it subscribes:
/// the framework pids, the leader's pid and election time.
struct Seed {
    pids: HashMap<String, Pid>,
    leader_pid: String,
    elected: Option<f64>,
}

/// What a reconcile found.
enum Found {
    /// The leader (a `masters` entry), the masters used, and what the
    /// model takes from the state.
    Leader(String, Masters, Seed),
    /// `--only-if-leader` on a host that does not lead.
    NotHere,
}

struct Follower<'a> {
    cfg: &'a Config,
    /// The configuration, for the reader threads.
    shared: Arc<Config>,
    batch: Duration,
    reconcile_every: Duration,
    stop: Arc<AtomicBool>,
    safety: Safety,
    zone: Session<'a>,
    figures: FollowFigures,
    credentials: Option<(String, String)>,
    link: Option<Link>,
    /// When the oldest event not yet applied arrived.
    dirty_since: Option<Instant>,
    pids_pending: bool,
    next_batch: Instant,
    next_reconcile: Instant,
    backoff: Backoff,
    last_summary: Option<Summary>,
}

impl Follower<'_> {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// The loop: connect (reconcile, subscribe) when not subscribed, else
    /// read events, apply batches, reconcile when due.
    fn follow(&mut self) {
        while !self.stopping() {
            if self.link.is_none() {
                if !sleep_until(&self.stop, self.backoff.until) {
                    return;
                }
                self.connect();
                continue;
            }
            self.step();
        }
    }

    /// Detect the leader, reconcile, subscribe.
    fn connect(&mut self) {
        let found = self.reconcile();
        let Some(Found::Leader(leader, masters, seed)) = found else {
            if !self.stopping() {
                self.backoff.fail();
            }
            return;
        };
        let opts = self.mesos_options(&masters, None);
        let mut sub = SubscribeOptions::new(self.cfg.max_state_bytes);
        sub.first_event_timeout = self.cfg.state_timeout.max(Duration::from_secs(5));
        let target = leader.clone();
        let o = opts.clone();
        let opened = interruptible(&self.stop, move || mesos::subscribe(&o, &target, &sub));
        match opened {
            None => {}
            Some(Ok(stream)) => {
                log::info!("subscribed to the event stream of {leader}");
                let mut model = mesos::Cluster::new(mesos::Bounds::for_max_state_bytes(
                    self.cfg.max_state_bytes,
                ));
                model.set_master(&seed.leader_pid, seed.elected);
                self.link = Some(Link {
                    stream,
                    model,
                    leader,
                    masters,
                    opts,
                    pids: seed.pids,
                    since: Instant::now(),
                });
                self.figures.subscribed = true;
            }
            Some(Err(e)) => {
                log::warn!("{e}; detecting the leader again");
                self.figures.reconnects_total += 1;
                self.backoff.fail();
            }
        }
    }

    /// How to reach the masters (credentials as sync's).
    fn mesos_options(&self, masters: &Masters, deadline: Option<Instant>) -> MesosOptions {
        MesosOptions {
            masters: masters.list.clone(),
            https: self.cfg.mesos_https,
            ca_file: self.cfg.ca_file.clone(),
            credentials: self.credentials.clone(),
            connect_timeout: self.cfg.state_timeout.min(Duration::from_secs(5)),
            max_state_bytes: self.cfg.max_state_bytes,
            timeout: self.cfg.state_timeout,
            deadline,
        }
    }

    /// One wait for events, then what is due.
    fn step(&mut self) {
        let now = Instant::now();
        let mut until = (now + Duration::from_millis(250)).min(self.next_reconcile);
        if self.dirty_since.is_some() {
            until = until.min(self.next_batch.max(now));
        }
        let Some(link) = self.link.as_mut() else {
            return;
        };
        match link.stream.next(until) {
            Ok(Next::Event { event, arrived }) => self.on_event(event, arrived),
            Ok(Next::Bad(_)) | Ok(Next::Idle) => {}
            Err(e) => self.lost(&e),
        }
        if self.stopping() {
            return;
        }
        let now = Instant::now();
        if now >= self.next_reconcile {
            self.periodic_reconcile();
        } else if self.dirty_since.is_some() && now >= self.next_batch {
            self.apply_batch();
        }
    }

    /// The stream is gone: detect the leader again after the backoff.
    fn lost(&mut self, e: &StreamError) {
        log::warn!("{e}; detecting the leader again");
        if let Some(link) = self.link.take()
            && link.since.elapsed() >= BACKOFF_CAP
        {
            self.backoff.reset();
        }
        self.figures.subscribed = false;
        self.figures.reconnects_total += 1;
        self.dirty_since = None;
        self.backoff.fail();
    }

    fn on_event(&mut self, event: mesos::v1::Event, arrived: Instant) {
        self.figures.events_total += 1;
        let Some(link) = self.link.as_mut() else {
            return;
        };
        let subscribed = matches!(event, mesos::v1::Event::Subscribed(_));
        let kind = event.kind().to_string();
        match link.model.apply(event) {
            Ok(applied) => {
                if subscribed {
                    link.model.seed_pids(&link.pids);
                    link.pids.clear();
                }
                if applied.changed {
                    log::debug!("{kind}: the records may change");
                    self.dirty_since.get_or_insert(arrived);
                }
                self.pids_pending |= applied.pid_needed;
            }
            Err(e @ mesos::cluster::ApplyError::Full { .. }) => {
                // The model misses tasks: reconnect (a new SUBSCRIBED).
                let url = link.stream.url().to_string();
                self.lost(&StreamError::Broken {
                    url,
                    reason: e.to_string(),
                });
            }
            Err(e) => log::warn!("{kind}: {e}: skipped"),
        }
    }

    /// Reads the pids of frameworks that appeared on the stream, one
    /// `/master/frameworks?framework_id=` each (every framework at once
    /// when more than 3 wait). A failed read leaves them pending: a new
    /// framework stays out of the records (an absence the hold-down
    /// covers), a known one keeps its old pid.
    fn fetch_pids(&mut self) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        let pending = link.model.pending_pids();
        self.pids_pending = false;
        if pending.is_empty() {
            return;
        }
        let mut opts = link.opts.clone();
        opts.deadline = Some(Instant::now() + self.cfg.state_timeout);
        let leader = link.leader.clone();
        let ids: Vec<Option<String>> = if pending.len() > 3 {
            vec![None]
        } else {
            pending.iter().cloned().map(Some).collect()
        };
        let read = interruptible(&self.stop, move || {
            ids.iter()
                .map(|id| mesos::fetch_framework_pids(&opts, &leader, id.as_deref()))
                .collect::<Vec<_>>()
        });
        let Some(answers) = read else { return };
        for answer in answers {
            match answer {
                Ok(pids) => {
                    for (id, pid) in pids {
                        if pending.contains(&id) {
                            link.model.set_pid(&id, pid);
                        }
                    }
                }
                Err(e) => {
                    log::warn!("reading a framework's pid: {e}");
                    self.pids_pending = true;
                }
            }
        }
    }

    /// A batch: the model's records through the pass.
    fn apply_batch(&mut self) {
        if self.pids_pending {
            self.fetch_pids();
        }
        let Some(link) = self.link.as_ref() else {
            return;
        };
        let started = Instant::now();
        let mut summary = Summary::new("follow");
        let cfg = self.cfg;
        let opts = source::gen_options_for(cfg, &link.masters);
        let until = started + BATCH_RESOLVE.min(cfg.deadline / 2);
        let built = source::build_state(
            link.model.to_state(),
            link.stream.url(),
            &opts,
            Arc::new(SystemResolver),
            until,
            true,
        );
        let masters = link.masters.clone();
        let url = link.stream.url().to_string();
        let outcome = built.and_then(|(records, reverse, counts, leader, explained)| {
            let cluster = source::Cluster {
                records,
                reverse,
                counts,
                leader,
                explained,
                masters,
                source: url,
            };
            let snapshot = sync::publishable(cfg, cluster, &mut summary);
            self.zone_pass(snapshot, started, &mut summary)
        });
        let exit = self.finish(summary, &outcome, started, false);
        if let Some(since) = self.dirty_since {
            self.figures.event_lag_seconds = since.elapsed().as_secs_f64();
        }
        self.figures.batches_total += 1;
        self.write_metrics_after(exit);
        self.next_batch = Instant::now() + self.batch;
        if matches!(exit, Exit::Failed | Exit::Remaining) {
            self.next_batch = Instant::now() + self.batch.max(RETRY_AFTER);
        } else {
            self.dirty_since = None;
        }
    }

    /// The zone side of a pass: read the zone (by serial, with the
    /// listing cache), then [`sync::pass`].
    fn zone_pass(
        &mut self,
        snapshot: Snapshot,
        started: Instant,
        summary: &mut Summary,
    ) -> Result<Exit, Fail> {
        let cfg = self.cfg;
        let ctx = PassContext {
            cfg,
            mode: Mode::Sync,
            now: text::now(),
            deadline: started + cfg.deadline,
        };
        self.zone.begin_pass(Some(ctx.deadline));
        let view = self.zone.read().map_err(|e| {
            summary.note_stats(&self.zone.close());
            Fail::new(Exit::Failed, format!("reading zone {}: {e}", cfg.zone))
        })?;
        sync::pass(
            &ctx,
            snapshot,
            view,
            &mut self.zone,
            &mut self.safety,
            summary,
        )
    }

    /// A reconcile while subscribed.
    fn periodic_reconcile(&mut self) {
        if let Some(Found::NotHere) = self.reconcile() {
            // The leadership moved away from this host.
            log::warn!("--only-if-leader: this host no longer leads; unsubscribing");
            self.link = None;
            self.figures.subscribed = false;
        }
    }

    /// A full pass from `/master/state`, as sync's: detect the leader,
    /// read its state (gzip, bounded by --max-state-mib), build, plan,
    /// decide, apply. `None` when it failed (said in its summary) or was
    /// stopped.
    fn reconcile(&mut self) -> Option<Found> {
        let started = Instant::now();
        self.next_reconcile = started + self.reconcile_every;
        let cfg = Arc::clone(&self.shared);
        let deadline = started + cfg.deadline;
        let read = interruptible(&self.stop, move || {
            let fetched = source::fetch(&cfg, Some(deadline))?;
            let pids = mesos::framework_pids_from_state(&fetched.body).unwrap_or_default();
            let until = source::resolve_deadline(&cfg, Some(deadline));
            let leader = master_of(&fetched.source);
            let cluster = fetched.build(&cfg, until, true)?;
            Ok::<_, Fail>((cluster, pids, leader))
        })?;
        let mut summary = Summary::new("follow-reconcile");
        self.figures.reconciles_total += 1;
        let mut found = None;
        let outcome = read.and_then(|(cluster, pids, leader)| {
            let masters = cluster.masters.clone();
            let elected = cluster.counts.elected_unix.map(|u| u as f64);
            let leader_pid = cluster.leader.clone();
            let snapshot = sync::publishable(self.cfg, cluster, &mut summary);
            if self.cfg.only_if_leader {
                let (here, leader_ip) = source::leader_is_here(&summary.leader)?;
                if !here {
                    found = Some(Found::NotHere);
                    let ctx = PassContext {
                        cfg: self.cfg,
                        mode: Mode::Sync,
                        now: text::now(),
                        deadline,
                    };
                    return sync::not_the_leader(
                        &ctx,
                        &snapshot,
                        leader_ip,
                        &mut self.safety,
                        &mut summary,
                    );
                }
            }
            if let Some(link) = self.link.as_mut() {
                link.model.set_master(&leader_pid, elected);
            }
            found = Some(Found::Leader(
                leader,
                masters,
                Seed {
                    pids,
                    leader_pid,
                    elected,
                },
            ));
            self.zone_pass(snapshot, started, &mut summary)
        });
        let exit = self.finish(summary, &outcome, started, true);
        self.write_metrics_after(exit);
        found
    }

    /// The end of a pass: counters, the summary line (a batch's at -v, a
    /// reconcile's always).
    fn finish(
        &mut self,
        mut summary: Summary,
        outcome: &Result<Exit, Fail>,
        started: Instant,
        always: bool,
    ) -> Exit {
        if let Err(fail) = outcome {
            say_failure(fail);
        }
        let exit = summary.note_end(outcome, started);
        let memory = &mut self.safety.memory;
        if exit == Exit::Refused {
            memory.refusals_total += 1;
        }
        if exit == Exit::Ok {
            memory.last_success_time = Some(text::unix_now());
        }
        self.safety.save_counters(&self.cfg.state_dir);
        summary.note_usage();
        if always || log::log_enabled!(log::Level::Info) {
            summary.print(self.cfg.summary_json);
        }
        self.last_summary = Some(summary);
        exit
    }

    fn write_metrics_after(&mut self, _exit: Exit) {
        let (Some(path), Some(summary)) = (&self.cfg.metrics_file, &self.last_summary) else {
            return;
        };
        if let Err(e) = write_follow_metrics(path, summary, &self.safety.memory, &self.figures) {
            log::warn!("could not write metrics file {}: {e}", path.display());
        }
    }
}

/// The master that answered `url`, as a `masters` entry
/// (`scheme://host:port`): where to subscribe.
fn master_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let authority = rest.split('/').next().unwrap_or_default();
    format!("{scheme}://{authority}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_master_of_a_state_url() {
        assert_eq!(
            master_of("http://10.0.0.1:5050/master/state"),
            "http://10.0.0.1:5050"
        );
        assert_eq!(
            master_of("https://[::1]:5050/master/state"),
            "https://[::1]:5050"
        );
    }

    #[test]
    fn the_backoff_doubles_to_its_cap() {
        let mut b = Backoff::new();
        let mut waits = Vec::new();
        for _ in 0..8 {
            waits.push(b.next);
            b.fail();
        }
        assert_eq!(
            waits.iter().map(Duration::as_secs).collect::<Vec<_>>(),
            [1, 2, 4, 8, 16, 30, 30, 30]
        );
        b.reset();
        assert_eq!(b.next, Duration::from_secs(1));
    }
}
