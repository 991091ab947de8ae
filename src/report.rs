//! The end of a run: the summary line (or JSON object), what each stage
//! notes in it, and the metrics file.

use crate::apply::Applied;
use crate::exit::{Exit, Fail};
use crate::ns1::Stats;
use crate::plan::{Decision, Plan, Skipped};
use crate::records::generate::StateCounts;
use crate::state_dir::Memory;
use crate::text::{escape_control, unix_now};
use serde::Serialize;
use std::path::Path;

/// One run, for people (one line) and machines (`--summary-json`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub command: String,
    pub exit: i32,
    pub reason: String,
    pub leader: String,
    pub agents: usize,
    pub running_tasks: usize,
    pub desired: usize,
    pub owned: usize,
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    pub unchanged: usize,
    /// Records not published (unpublishable names, emptied, excluded).
    pub skipped: usize,
    /// SRV answers not published.
    pub skipped_answers: usize,
    pub failed: usize,
    pub postponed: usize,
    /// `plan` only: changes that a sync would make.
    pub pending: usize,
    /// Removals held by a safety check (the zone keeps them).
    pub held: usize,
    /// Deletes waiting for the hold-down (`--remove-after`).
    pub waiting: usize,
    /// Held removals released this run (`--settle`, `--force`).
    pub released: usize,
    /// Removals the state explains (terminal tasks, completed frameworks).
    pub explained: usize,
    pub api_calls: u64,
    pub throttled: u64,
    pub duration_seconds: f64,
    /// CPU time (user + system) of this process, where /proc tells it.
    pub cpu_seconds: f64,
    /// Peak resident memory of this process, where /proc tells it.
    pub peak_rss_bytes: u64,
    /// Tasks whose SRV records were skipped for having more ports than
    /// `--max-task-ports`.
    pub tasks_over_port_bound: usize,
    /// Running tasks left out because their health check failed
    /// (`--healthy-only`).
    pub unhealthy_tasks: usize,
    /// Running tasks left out by `--min-visibility`.
    pub not_visible_tasks: usize,
    /// Records under the domain that the tool did not publish and the
    /// cluster does not produce: left alone (`adopt --yes` removes them).
    pub foreign: usize,
    /// Desired records not written because a record the tool did not
    /// publish holds the name (`adopt --yes` hands it over).
    pub collisions: usize,
    /// The listed reverse zones (`--reverse-zone`): PTR records that may
    /// be published, and what the run did with them. Not counted in the
    /// fields above, which are the domain's.
    pub ptr_desired: usize,
    pub ptr_created: usize,
    pub ptr_updated: usize,
    pub ptr_deleted: usize,
    pub ptr_failed: usize,
    pub ptr_postponed: usize,
    pub ptr_held: usize,
    pub ptr_waiting: usize,
    /// Reverse names two or more targets claim: no PTR is published.
    pub ptr_ambiguous: usize,
    /// Desired PTRs whose name holds a PTR the tool did not publish (left
    /// as it is).
    pub ptr_kept: usize,
    /// Listed reverse zones another cluster claims (nothing written).
    pub ptr_zones_claimed: usize,
    /// Whether reverse zones are listed (the `ptr_` fields are printed).
    #[serde(skip)]
    pub ptr_listed: bool,
    /// Services with no healthy instance that `--healthy-only` publishes
    /// whole (fail open).
    pub unhealthy_fail_open: usize,
    /// Removals waiting for the leading master's failover recovery
    /// (agents listed in `recovered_slaves`, or a recent election); also
    /// counted in `waiting` or `held`.
    pub recovering: usize,
}

impl Summary {
    pub fn new(command: &str) -> Summary {
        Summary {
            command: command.into(),
            ..Summary::default()
        }
    }

    /// The summary line. Text that comes from outside (the leader, the
    /// reason) has its control characters escaped: one run, one line.
    pub fn line(&self) -> String {
        let leader = if self.leader.is_empty() {
            "-".into()
        } else {
            escape_control(&self.leader)
        };
        format!(
            "mesos2ns1 {}: exit={} ({}) leader={} desired={} created={} updated={} deleted={} unchanged={} skipped={} failed={} postponed={} held={} waiting={} api_calls={} throttled={} duration={:.2}s",
            self.command,
            self.exit,
            escape_control(&self.reason),
            leader,
            self.desired,
            self.created,
            self.updated,
            self.deleted,
            self.unchanged,
            self.skipped,
            self.failed,
            self.postponed,
            self.held,
            self.waiting,
            self.api_calls,
            self.throttled,
            self.duration_seconds
        ) + &self.filter_note()
    }

    /// ` unhealthy=N hidden=M` when the opt-in filters left tasks out.
    fn filter_note(&self) -> String {
        let mut s = String::new();
        if self.unhealthy_tasks > 0 {
            s += &format!(" unhealthy={}", self.unhealthy_tasks);
        }
        if self.not_visible_tasks > 0 {
            s += &format!(" not_visible={}", self.not_visible_tasks);
        }
        if self.foreign > 0 {
            s += &format!(" foreign={}", self.foreign);
        }
        if self.collisions > 0 {
            s += &format!(" collisions={}", self.collisions);
        }
        if self.ptr_listed {
            s += &format!(
                " ptr_desired={} ptr_created={} ptr_updated={} ptr_deleted={} ptr_held={} ptr_waiting={} ptr_ambiguous={}",
                self.ptr_desired,
                self.ptr_created,
                self.ptr_updated,
                self.ptr_deleted,
                self.ptr_held,
                self.ptr_waiting,
                self.ptr_ambiguous
            );
            for (k, v) in [
                ("ptr_failed", self.ptr_failed),
                ("ptr_postponed", self.ptr_postponed),
                ("ptr_kept", self.ptr_kept),
                ("ptr_zones_claimed", self.ptr_zones_claimed),
            ] {
                if v > 0 {
                    s += &format!(" {k}={v}");
                }
            }
        }
        if self.unhealthy_fail_open > 0 {
            s += &format!(" unhealthy_fail_open={}", self.unhealthy_fail_open);
        }
        if self.tasks_over_port_bound > 0 {
            s += &format!(" tasks_over_port_bound={}", self.tasks_over_port_bound);
        }
        s
    }

    /// The cluster's figures: its leader, agents and tasks.
    pub fn note_cluster(
        &mut self,
        leader: &str,
        counts: &StateCounts,
        tasks_over_port_bound: usize,
    ) {
        self.leader = leader.to_string();
        self.tasks_over_port_bound = tasks_over_port_bound;
        self.agents = counts.agents;
        self.running_tasks = counts.running_tasks;
        self.unhealthy_tasks = counts.unhealthy_tasks;
        self.not_visible_tasks = counts.not_visible_tasks;
        self.unhealthy_fail_open = counts.unhealthy_fail_open;
    }

    /// What may be published: the desired records and those skipped.
    pub fn note_publishable(&mut self, desired: usize, skipped: &Skipped) {
        self.desired = desired;
        self.skipped = skipped.records();
        self.skipped_answers = skipped.answers;
    }

    /// The raw plan's figures against the zone.
    pub fn note_plan(&mut self, raw: &Plan) {
        self.unchanged = raw.unchanged;
        self.owned = raw.owned;
        self.foreign = raw.unowned.len();
        self.collisions = raw.collisions.len();
    }

    /// The NS1 client's request figures so far.
    pub fn note_stats(&mut self, stats: &Stats) {
        self.api_calls = stats.requests;
        self.throttled = stats.throttled;
    }

    /// The safety decision's figures.
    pub fn note_decision(&mut self, d: &Decision) {
        self.held = d.held.len();
        self.waiting = d.waiting;
        self.released = d.released;
        self.explained = d.explained;
        self.recovering = d.recovering;
    }

    /// What the apply did, and the reason and exit code it gives.
    pub fn note_applied(&mut self, plan: &Plan, applied: &Applied) -> Exit {
        self.created = applied.created;
        self.updated = applied.updated;
        self.deleted = applied.deleted;
        self.failed = applied.failed.len();
        self.postponed = applied.postponed;
        if applied.remaining() == 0 {
            self.reason = if plan.is_empty() {
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
            self.reason = why.join("; ");
            Exit::Remaining
        }
    }

    /// Appends notes to the reason, `; `-separated.
    pub fn note_reasons(&mut self, notes: Vec<String>) {
        if !notes.is_empty() {
            self.reason = std::iter::once(self.reason.clone())
                .chain(notes)
                .collect::<Vec<_>>()
                .join("; ");
        }
    }

    /// How the run ended: its exit code, its failure (as the reason), and
    /// its duration.
    pub fn note_end(&mut self, outcome: &Result<Exit, Fail>, started: std::time::Instant) -> Exit {
        let exit = match outcome {
            Ok(exit) => *exit,
            Err(fail) => {
                self.reason = fail.msg.clone();
                fail.exit
            }
        };
        self.exit = exit as i32;
        self.duration_seconds = started.elapsed().as_secs_f64();
        exit
    }

    /// Fills in the process figures (CPU time, peak memory) just before printing.
    pub fn note_usage(&mut self) {
        let (cpu, rss) = process_usage();
        self.cpu_seconds = cpu;
        self.peak_rss_bytes = rss;
    }

    pub fn print(&self, json: bool) {
        if json {
            println!("{}", serde_json::to_string(self).unwrap_or_default());
        } else {
            println!("{}", self.line());
        }
    }
}

/// CPU seconds (user + system) and peak resident bytes of this process,
/// from Linux's /proc; zeros elsewhere.
pub fn process_usage() -> (f64, u64) {
    let cpu = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the parenthesized command name; utime and stime
            // are fields 14 and 15 of the whole line, in clock ticks (100/s).
            let rest = s.get(s.rfind(')')? + 2..)?;
            let f: Vec<&str> = rest.split(' ').collect();
            let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
            Some(ticks as f64 / 100.0)
        })
        .unwrap_or(0.0);
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        })
        .unwrap_or(0);
    (cpu, rss)
}

/// Writes a file readable by others (mode 0644 before the umask) by
/// renaming a complete temporary file (unpredictable name, created with
/// O_EXCL) over it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| std::io::Error::other(format!("{} has no file name", path.display())))?;
    crate::store::write_atomic_mode(dir, name, bytes, 0o644).map_err(|e| std::io::Error::other(e.0))
}

const NOT_OURS_HELP: &str = "Records under the domain the tool did not publish, left alone: foreign (the cluster does not produce them) and collision (it does).";

fn not_ours(s: &Summary) -> [(&'static str, f64); 2] {
    [
        ("{kind=\"foreign\"}", s.foreign as f64),
        ("{kind=\"collision\"}", s.collisions as f64),
    ]
}

fn left_out(s: &Summary) -> [(&'static str, f64); 2] {
    [
        ("{reason=\"unhealthy\"}", s.unhealthy_tasks as f64),
        ("{reason=\"not_visible\"}", s.not_visible_tasks as f64),
    ]
}

/// One metric, its help and type lines, then its samples.
fn push_metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, f64)]) {
    out.push_str(&format!(
        "# HELP mesos2ns1_{name} {help}\n# TYPE mesos2ns1_{name} {kind}\n"
    ));
    for (labels, v) in samples {
        out.push_str(&format!("mesos2ns1_{name}{labels} {v}\n"));
    }
}

/// The health filter's fail-open and the failover recovery's waits.
fn fail_open_and_recovery_metrics(out: &mut String, s: &Summary) {
    push_metric(
        out,
        "unhealthy_fail_open",
        "gauge",
        "Services with no healthy instance that --healthy-only published whole (fail open) in the last run.",
        &[("", s.unhealthy_fail_open as f64)],
    );
    push_metric(
        out,
        "recovery_waiting",
        "gauge",
        "Removals waiting for the leading master's failover recovery in the last run.",
        &[("", s.recovering as f64)],
    );
}

/// A Prometheus node-exporter textfile, written atomically.
pub fn write_metrics(path: &Path, s: &Summary, m: &Memory) -> std::io::Result<()> {
    write_atomic(path, render_metrics(s, m).as_bytes())
}

/// What a follower adds to the metrics file (`mesos2ns1 follow`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FollowFigures {
    /// From the arrival of the oldest event of the last applied batch to
    /// the end of its records' write, seconds.
    pub event_lag_seconds: f64,
    /// Times the follower detected the leader again and resubscribed.
    pub reconnects_total: u64,
    /// Events received from the stream.
    pub events_total: u64,
    /// Batches applied from the stream.
    pub batches_total: u64,
    /// Full passes from `/master/state`.
    pub reconciles_total: u64,
    /// 1 while subscribed to the leader's event stream.
    pub subscribed: bool,
}

/// The metrics file of a follower: the run's metrics, then the
/// follower's own.
pub fn write_follow_metrics(
    path: &Path,
    s: &Summary,
    m: &Memory,
    f: &FollowFigures,
) -> std::io::Result<()> {
    let mut out = render_metrics(s, m);
    let mut metric = metric_writer(&mut out);
    metric(
        "event_lag_seconds",
        "gauge",
        "follow: from the arrival of the oldest event of the last applied batch to its records' write.",
        &[("", f.event_lag_seconds)],
    );
    metric(
        "reconnects_total",
        "counter",
        "follow: leader detections and resubscriptions after the stream ended, broke, redirected or fell silent.",
        &[("", f.reconnects_total as f64)],
    );
    metric(
        "events_total",
        "counter",
        "follow: events received from the leader's event stream.",
        &[("", f.events_total as f64)],
    );
    metric(
        "batches_total",
        "counter",
        "follow: batches of events applied.",
        &[("", f.batches_total as f64)],
    );
    metric(
        "reconciles_total",
        "counter",
        "follow: full passes from /master/state.",
        &[("", f.reconciles_total as f64)],
    );
    metric(
        "stream_subscribed",
        "gauge",
        "follow: 1 while subscribed to the leading master's event stream.",
        &[("", f64::from(u8::from(f.subscribed)))],
    );
    drop(metric);
    write_atomic(path, out.as_bytes())
}

/// `# HELP`, `# TYPE` and the samples of one metric, appended to `out`.
fn metric_writer(out: &mut String) -> impl FnMut(&str, &str, &str, &[(&str, f64)]) + '_ {
    move |name, kind, help, samples| push_metric(out, name, kind, help, samples)
}

/// The metrics of a run, as text.
fn render_metrics(s: &Summary, m: &Memory) -> String {
    let mut out = String::new();
    let mut metric = metric_writer(&mut out);
    let cmd = format!("{{command=\"{}\"}}", s.command);
    metric(
        "last_run_timestamp_seconds",
        "gauge",
        "End of the last run (Unix time).",
        &[(&cmd, unix_now().floor())],
    );
    metric(
        "last_success_timestamp_seconds",
        "gauge",
        "End of the last sync that left the zone matching the cluster (Unix time; 0 if never).",
        &[("", m.last_success_time.unwrap_or(0.0).floor())],
    );
    metric(
        "last_run_exit_code",
        "gauge",
        "Exit code of the last run (0 ok, 1 failed, 2 config, 3 refused, 4 changes remain, 5 claimed by another cluster).",
        &[(&cmd, s.exit as f64)],
    );
    metric(
        "last_run_duration_seconds",
        "gauge",
        "Duration of the last run.",
        &[(&cmd, s.duration_seconds)],
    );
    metric(
        "last_run_changes",
        "gauge",
        "Changes made by the last run, by action.",
        &[
            ("{action=\"create\"}", s.created as f64),
            ("{action=\"update\"}", s.updated as f64),
            ("{action=\"delete\"}", s.deleted as f64),
        ],
    );
    metric(
        "last_run_change_errors",
        "gauge",
        "Changes that failed in the last run.",
        &[("", s.failed as f64)],
    );
    metric(
        "last_run_postponed",
        "gauge",
        "Changes left for the next run (deadline).",
        &[("", s.postponed as f64)],
    );
    metric(
        "last_run_pending",
        "gauge",
        "Changes a plan run found pending.",
        &[("", s.pending as f64)],
    );
    metric(
        "records_desired",
        "gauge",
        "Publishable records generated from the state.",
        &[("", s.desired as f64)],
    );
    metric(
        "records_unchanged",
        "gauge",
        "Desired records already right in the zone.",
        &[("", s.unchanged as f64)],
    );
    metric(
        "records_skipped",
        "gauge",
        "Records not published (unpublishable names, excluded).",
        &[("", s.skipped as f64)],
    );
    metric(
        "api_requests",
        "gauge",
        "NS1 API requests made by the last run.",
        &[("", s.api_calls as f64)],
    );
    metric(
        "api_throttled",
        "gauge",
        "HTTP 429 answers received by the last run.",
        &[("", s.throttled as f64)],
    );
    metric(
        "last_run_refused",
        "gauge",
        "1 if the last run was refused by a safety check.",
        &[("", f64::from(u8::from(s.exit == 3)))],
    );
    metric(
        "refusals_total",
        "counter",
        "Runs refused by a safety check since the state dir was created.",
        &[("", m.refusals_total as f64)],
    );
    metric(
        "held_removals",
        "gauge",
        "Removals held by a safety check in the last run.",
        &[("", s.held as f64)],
    );
    metric(
        "holddown_waiting",
        "gauge",
        "Deletes waiting for the hold-down in the last run.",
        &[("", s.waiting as f64)],
    );
    metric(
        "released_total",
        "counter",
        "Held removals released by --settle or --force since the state dir was created.",
        &[("", m.released_total as f64)],
    );
    metric(
        "records_not_published_by_us",
        "gauge",
        NOT_OURS_HELP,
        &not_ours(s),
    );
    metric(
        "cluster_agents",
        "gauge",
        "Agents in the last state read.",
        &[("", s.agents as f64)],
    );
    metric(
        "tasks_left_out",
        "gauge",
        "Running tasks left out of the records by the opt-in filters, by reason.",
        &left_out(s),
    );
    metric(
        "cluster_running_tasks",
        "gauge",
        "Running tasks in the last state read.",
        &[("", s.running_tasks as f64)],
    );
    drop(metric);
    out.push_str(&ptr_metrics(s));
    fail_open_and_recovery_metrics(&mut out, s);
    out
}

/// The metrics of the listed reverse zones (zeros when none is listed).
fn ptr_metrics(s: &Summary) -> String {
    let mut out = String::new();
    let mut metric = metric_writer(&mut out);
    metric(
        "ptr_records",
        "gauge",
        "PTR records of the listed reverse zones in the last run, by kind: desired (may be published), ambiguous (reverse names two or more targets claim: none published), kept (names holding a PTR mesos2ns1 did not publish).",
        &[
            ("{kind=\"desired\"}", s.ptr_desired as f64),
            ("{kind=\"ambiguous\"}", s.ptr_ambiguous as f64),
            ("{kind=\"kept\"}", s.ptr_kept as f64),
        ],
    );
    metric(
        "last_run_ptr_changes",
        "gauge",
        "PTR changes made in the listed reverse zones by the last run, by action.",
        &[
            ("{action=\"create\"}", s.ptr_created as f64),
            ("{action=\"update\"}", s.ptr_updated as f64),
            ("{action=\"delete\"}", s.ptr_deleted as f64),
        ],
    );
    metric(
        "ptr_held_removals",
        "gauge",
        "PTR removals held by a safety check in the last run.",
        &[("", s.ptr_held as f64)],
    );
    drop(metric);
    out
}
