//! Carries out a plan through the NS1 client.
//!
//! NS1's rate-limit buckets are per HTTP method, so creates (PUT), updates
//! (POST) and deletes (DELETE) go out concurrently, one thread per method
//! with one request in flight each, every one paced by its own bucket.
//! Where the order matters it is kept:
//!
//! * an SRV record that gains a target is written only after the target's
//!   A/AAAA create (when that create is in the plan);
//! * an A/AAAA record an SRV record points to is deleted only after that
//!   SRV record stopped pointing at it (its update or delete);
//! * a change whose prerequisite failed (or was postponed) is postponed to
//!   the next run, never sent out of order.
//!
//! Within each method the most-queried names go first
//! ([`records::names::priority`](crate::records::names::priority)), so
//! that when the deadline cuts a run short, what is left is the least
//! queried. One failed change does not stop the others; nothing new starts
//! past the deadline; an error after which every request would fail (a
//! rejected key, a missing zone) stops all methods.

use crate::ns1::{Ns1Api, Ns1Error, normalize_name};
use crate::plan::{Action, Change, Plan};
use crate::records::RecordType;
use crate::records::names::{instance_srv, priority};
use std::collections::{HashMap, HashSet};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// What happened to the changes of one plan.
#[derive(Debug, Default)]
pub struct Applied {
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    /// Changes that failed, with the error, in one line each.
    pub failed: Vec<(Change, String)>,
    /// Changes not started because the deadline came, a prerequisite
    /// failed, or a failure made the rest pointless (a rejected key).
    pub postponed: usize,
    /// Indices (into the plan's changes) of the changes that did not
    /// happen: failed or postponed.
    pub not_done: Vec<usize>,
}

impl Applied {
    pub fn remaining(&self) -> usize {
        self.failed.len() + self.postponed
    }
}

/// Errors after which every further request would fail the same way.
fn is_fatal(e: &Ns1Error) -> bool {
    matches!(e, Ns1Error::Auth { .. } | Ns1Error::ZoneNotFound { .. })
}

fn srv_target(answer: &str) -> Option<String> {
    let target = answer.split_whitespace().nth(3)?;
    Some(normalize_name(target))
}

fn srv_targets(data: Option<&crate::plan::RecordData>) -> HashSet<String> {
    data.map(|d| d.answers.iter().filter_map(|a| srv_target(a)).collect())
        .unwrap_or_default()
}

/// Prerequisites of each change (indices into `changes`).
pub fn dependencies(changes: &[Change]) -> Vec<Vec<usize>> {
    let mut deps = vec![Vec::new(); changes.len()];
    // A/AAAA creates and deletes by name.
    let mut addr_creates: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut addr_deletes: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, c) in changes.iter().enumerate() {
        if matches!(c.rtype, RecordType::A | RecordType::AAAA) {
            match c.action {
                Action::Create => addr_creates.entry(c.name.as_str()).or_default().push(i),
                Action::Delete => addr_deletes.entry(c.name.as_str()).or_default().push(i),
                Action::Update => {}
            }
        }
    }
    for (i, c) in changes.iter().enumerate() {
        if c.rtype != RecordType::SRV {
            continue;
        }
        let old = srv_targets(c.old.as_ref());
        let new = srv_targets(c.new.as_ref());
        for gained in new.difference(&old) {
            if let Some(creates) = addr_creates.get(gained.as_str()) {
                deps[i].extend(creates);
            }
        }
        for lost in old.difference(&new) {
            if let Some(deletes) = addr_deletes.get(lost.as_str()) {
                for &d in deletes {
                    deps[d].push(i);
                }
            }
        }
    }
    for d in &mut deps {
        d.sort_unstable();
        d.dedup();
    }
    deps
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Running,
    Done,
    Failed,
    Postponed,
}

struct Board {
    state: Vec<State>,
    stop: bool,
    out: Applied,
    /// Lines said about single changes, done ([`SAY_DONE`] at most at
    /// `-v`) and failed or postponed ([`SAY_PROBLEMS`] at most), and those
    /// left unsaid: one run's log stays bounded whatever the plan.
    said: [usize; 2],
    unsaid: [usize; 2],
}

/// Changes done listed one by one at `-v`, each cut at 240 characters
/// (all of them, in full, at `-vv`).
const SAY_DONE: usize = 100;
/// Failed or postponed changes said one by one (all of them at `-vv`).
const SAY_PROBLEMS: usize = 50;

impl Board {
    /// Whether a line about one more change of kind `k` (0 done, 1 failed
    /// or postponed) is said at its level; if not it goes to debug.
    fn say(&mut self, k: usize) -> bool {
        let cap = [SAY_DONE, SAY_PROBLEMS][k];
        if self.said[k] < cap {
            self.said[k] += 1;
            true
        } else {
            self.unsaid[k] += 1;
            false
        }
    }
}

struct Shared<'a> {
    plan: &'a Plan,
    deps: Vec<Vec<usize>>,
    board: Mutex<Board>,
    cv: Condvar,
    deadline: Instant,
    zone: &'a str,
    ttl: u32,
}

fn lock<'b>(m: &'b Mutex<Board>) -> MutexGuard<'b, Board> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

enum Ready {
    Yes,
    Never,
    NotYet,
}

impl Shared<'_> {
    fn ready(&self, board: &Board, i: usize) -> Ready {
        let mut wait = false;
        for &d in &self.deps[i] {
            match board.state[d] {
                State::Done => {}
                State::Failed | State::Postponed => return Ready::Never,
                State::Pending | State::Running => wait = true,
            }
        }
        if wait { Ready::NotYet } else { Ready::Yes }
    }

    fn postpone_all(&self, board: &mut Board, queue: &[usize]) {
        for &i in queue {
            if board.state[i] == State::Pending {
                board.state[i] = State::Postponed;
                board.out.postponed += 1;
            }
        }
    }

    /// One worker: sends the changes of `queue` (in order, skipping those
    /// whose prerequisites are not done yet) through `client`.
    fn work(&self, client: &mut dyn Ns1Api, queue: &[usize]) {
        let mut board = lock(&self.board);
        loop {
            if board.stop || Instant::now() >= self.deadline {
                self.postpone_all(&mut board, queue);
                self.cv.notify_all();
                return;
            }
            let mut pick = None;
            let mut waiting = false;
            let mut changed = false;
            for &i in queue {
                if board.state[i] != State::Pending {
                    continue;
                }
                match self.ready(&board, i) {
                    Ready::Yes => {
                        pick = Some(i);
                        break;
                    }
                    Ready::Never => {
                        let c = &self.plan.changes[i];
                        let level = if board.say(1) {
                            log::Level::Warn
                        } else {
                            log::Level::Debug
                        };
                        log::log!(
                            level,
                            "{} {} {} postponed: a change it depends on did not happen",
                            c.action,
                            c.name,
                            c.rtype
                        );
                        board.state[i] = State::Postponed;
                        board.out.postponed += 1;
                        changed = true;
                    }
                    Ready::NotYet => waiting = true,
                }
            }
            if changed {
                self.cv.notify_all();
            }
            let Some(i) = pick else {
                if !waiting {
                    return;
                }
                let left = self.deadline.saturating_duration_since(Instant::now());
                board = self
                    .cv
                    .wait_timeout(board, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
                continue;
            };
            board.state[i] = State::Running;
            drop(board);
            let change = &self.plan.changes[i];
            let result = send(client, self.zone, self.ttl, change);
            board = lock(&self.board);
            match result {
                Ok(()) => {
                    if board.say(0) {
                        log::info!("{}", crate::text::cut(&change.to_string(), 240));
                    } else {
                        log::debug!("{change}");
                    }
                    board.state[i] = State::Done;
                    match change.action {
                        Action::Create => board.out.created += 1,
                        Action::Update => board.out.updated += 1,
                        Action::Delete => board.out.deleted += 1,
                    }
                }
                Err(Ns1Error::Deadline { .. }) => {
                    board.state[i] = State::Postponed;
                    board.out.postponed += 1;
                    self.postpone_all(&mut board, queue);
                    self.cv.notify_all();
                    return;
                }
                Err(e) => {
                    let level = if board.say(1) {
                        log::Level::Error
                    } else {
                        log::Level::Debug
                    };
                    log::log!(
                        level,
                        "{} {} {} failed: {e}",
                        change.action,
                        change.name,
                        change.rtype
                    );
                    board.state[i] = State::Failed;
                    if is_fatal(&e) {
                        board.stop = true;
                    }
                    board.out.failed.push((change.clone(), e.to_string()));
                }
            }
            self.cv.notify_all();
        }
    }
}

fn send(client: &mut dyn Ns1Api, zone: &str, ttl: u32, change: &Change) -> Result<(), Ns1Error> {
    let answers = change
        .new
        .as_ref()
        .map(|d| d.answers.as_slice())
        .unwrap_or(&[]);
    let rtype = change.rtype.as_str();
    match change.action {
        Action::Create => client.create(zone, &change.name, rtype, ttl, answers),
        Action::Update => client.update(zone, &change.name, rtype, ttl, answers),
        Action::Delete => {
            let expected = change
                .old
                .as_ref()
                .map(|d| d.answers.as_slice())
                .unwrap_or(&[]);
            client.delete(zone, &change.name, rtype, expected)
        }
    }
}

/// The changes of each method, most-queried names first (stable by the
/// plan's order within a priority). A prerequisite inherits the priority
/// of its most-queried dependant, so that a service name's SRV record is
/// not held back behind the per-instance A records it points to.
fn queues(plan: &Plan, domain: &str, deps: &[Vec<usize>]) -> [Vec<usize>; 3] {
    let domain = normalize_name(domain);
    let mut targets = HashSet::new();
    for c in &plan.changes {
        if c.rtype == RecordType::SRV && instance_srv(&c.name, &domain) {
            targets.extend(srv_targets(c.old.as_ref()));
            targets.extend(srv_targets(c.new.as_ref()));
        }
    }
    let mut prio: Vec<u8> = plan
        .changes
        .iter()
        .map(|c| priority(&c.name, &domain, &targets))
        .collect();
    // Chains are at most create → SRV write → delete: two passes suffice;
    // a few more cost nothing.
    for _ in 0..3 {
        for (i, ds) in deps.iter().enumerate() {
            for &d in ds {
                prio[d] = prio[d].min(prio[i]);
            }
        }
    }
    let mut qs: [Vec<(u8, usize)>; 3] = Default::default();
    for (i, c) in plan.changes.iter().enumerate() {
        let q = match c.action {
            Action::Create => 0,
            Action::Update => 1,
            Action::Delete => 2,
        };
        qs[q].push((prio[i], i));
    }
    qs.map(|mut q| {
        q.sort();
        q.into_iter().map(|(_, i)| i).collect()
    })
}

/// Applies `plan` to `zone` (names below `domain`), creates, updates and
/// deletes concurrently when the client can be forked, until `deadline`.
pub fn apply(
    client: &mut dyn Ns1Api,
    zone: &str,
    domain: &str,
    ttl: u32,
    plan: &Plan,
    deadline: Instant,
) -> Applied {
    let n = plan.changes.len();
    let deps = dependencies(&plan.changes);
    let [creates, updates, deletes] = queues(plan, domain, &deps);
    let shared = Shared {
        plan,
        deps,
        board: Mutex::new(Board {
            state: vec![State::Pending; n],
            stop: false,
            out: Applied::default(),
            said: [0; 2],
            unsaid: [0; 2],
        }),
        cv: Condvar::new(),
        deadline,
        zone,
        ttl,
    };
    let forks = if n == 0 {
        None
    } else {
        client.fork().zip(client.fork())
    };
    match forks {
        Some((mut a, mut b)) => {
            std::thread::scope(|s| {
                let sh = &shared;
                let (cq, uq) = (&creates, &updates);
                let ta = std::thread::Builder::new()
                    .name("apply-put".into())
                    .spawn_scoped(s, move || sh.work(a.as_mut(), cq));
                let tb = std::thread::Builder::new()
                    .name("apply-post".into())
                    .spawn_scoped(s, move || sh.work(b.as_mut(), uq));
                // Should a thread fail to start, its queue runs here too.
                let mut mine = deletes.clone();
                if ta.is_err() {
                    mine.extend(&creates);
                }
                if tb.is_err() {
                    mine.extend(&updates);
                }
                sh.work(client, &mine);
            });
        }
        None => {
            let all: Vec<usize> = creates.into_iter().chain(updates).chain(deletes).collect();
            shared.work(client, &all);
        }
    }
    let board = shared.board.into_inner().unwrap_or_else(|e| e.into_inner());
    if board.unsaid[0] > 0 {
        log::info!(
            "and {} more changes done, not listed (-vv lists them)",
            board.unsaid[0]
        );
    }
    if board.unsaid[1] > 0 {
        log::warn!(
            "and {} more changes failed or postponed, not listed (-vv lists them)",
            board.unsaid[1]
        );
    }
    let mut out = board.out;
    out.not_done = (0..board.state.len())
        .filter(|&i| board.state[i] != State::Done)
        .collect();
    if out.postponed > 0 {
        log::warn!(
            "{} changes left for the next run (deadline, or a prerequisite that did not happen)",
            out.postponed
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::RecordData;

    fn ch(action: Action, name: &str, rtype: RecordType, old: &[&str], new: &[&str]) -> Change {
        let data = |a: &[&str]| {
            (!a.is_empty() || action != Action::Delete && action != Action::Create).then(|| {
                RecordData {
                    ttl: Some(60),
                    answers: a.iter().map(|s| s.to_string()).collect(),
                }
            })
        };
        Change {
            action,
            name: name.into(),
            rtype,
            old: if action == Action::Create {
                None
            } else {
                data(old)
            },
            new: if action == Action::Delete {
                None
            } else {
                data(new)
            },
        }
    }

    #[test]
    fn dependencies_follow_srv_targets() {
        use Action::*;
        use RecordType::*;
        let changes = vec![
            ch(Create, "t1.fw.slave.d", A, &[], &["10.0.0.1"]),
            ch(
                Update,
                "_x._tcp.fw.d",
                SRV,
                &["0 1 1 t0.fw.slave.d"],
                &["0 1 1 t1.fw.slave.d."],
            ),
            ch(Delete, "t0.fw.slave.d", A, &["10.0.0.2"], &[]),
            ch(Create, "_y._tcp.fw.d", SRV, &[], &["0 1 2 t1.fw.slave.d"]),
            ch(Delete, "_z._tcp.fw.d", SRV, &["0 1 3 t0.fw.slave.d"], &[]),
            ch(Create, "other.fw.d", A, &[], &["10.0.0.3"]),
        ];
        let deps = dependencies(&changes);
        assert_eq!(deps[0], Vec::<usize>::new());
        assert_eq!(deps[1], vec![0]);
        assert_eq!(deps[2], vec![1, 4]);
        assert_eq!(deps[3], vec![0]);
        assert_eq!(deps[4], Vec::<usize>::new());
        assert_eq!(deps[5], Vec::<usize>::new());
    }
}
