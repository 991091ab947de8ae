//! Find the leading Mesos master and fetch its state, the way Mesos-DNS
//! does (spec §2.1):
//!
//! * masters are tried in the configured order; the first usable state wins;
//! * `GET {scheme}://host:port/master/state`, falling back to
//!   `/master/state.json` (Mesos ≤ 0.28) when that answers 404;
//! * redirects (Mesos ≥ 1.0 non-leaders answer `307 Location:
//!   //leader:port/master/state`, a scheme-relative URL) are followed here,
//!   up to [`fetch::MAX_REDIRECTS`] hops;
//! * the body must be a JSON object whose `leader` is a pid `id@host:port`;
//! * leader check: when the leader's host differs from the host that
//!   answered, the state is fetched once more from the leader's host, with
//!   the scheme and port that answered, and that answer is used. If that
//!   re-fetch fails the attempt fails (a non-leader's state lacks agents
//!   and tasks, so it is never used instead) and, as in Mesos-DNS, the next
//!   configured master is tried.
//!
//! Time: `deadline` bounds the whole fetch: every master, every redirect,
//! every fallback and every leader re-fetch gets at most the time left
//! before it (and at most its own `timeout`); masters not reached before it
//! are reported as not tried.
//!
//! Credentials: basic auth is sent only to hosts of the `masters` list
//! (exact host match, after the normalization of [`parse_master`]), only
//! over the scheme configured for that host, and never over plain http in
//! an attempt that started (or passed) over https. A redirect target or a
//! leader named by a state that is not in the list gets no credentials (it
//! answers 401, that master fails, and the next one is tried). The secret
//! is never logged.

pub mod cluster;
mod error;
mod fetch;
mod master;
pub mod recordio;
pub mod stream;
pub mod v1;
pub mod zk;

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use log::{debug, info};

pub use cluster::{Bounds, Cluster, Pid, framework_pids_from_state};
pub use error::{FetchError, MasterFailure, MesosError};
pub use master::{Master, parse_master};
pub use stream::{EventStream, Next, StreamError, SubscribeOptions, subscribe};

use fetch::{Client, StateAnswer};
use master::same_host;

/// How to reach the Mesos masters.
#[derive(Clone)]
pub struct MesosOptions {
    /// Entries `host:port`, `http://host:port` or `https://host:port`
    /// (IPv6 as `[::1]:5050`); see [`parse_master`].
    pub masters: Vec<String>,
    /// Scheme of bare `host:port` entries: https when true, else http.
    pub https: bool,
    /// Extra CA certificates (PEM) trusted on top of the system store.
    pub ca_file: Option<PathBuf>,
    /// HTTP basic auth: principal, secret.
    pub credentials: Option<(String, String)>,
    /// Budget for connecting (TCP and TLS) to one host. Zero: no limit.
    pub connect_timeout: Duration,
    /// Budget for one master's whole answer, redirects and body included
    /// (Mesos-DNS `stateTimeoutSeconds`); the leader re-fetch gets its own.
    /// Zero: no limit.
    pub timeout: Duration,
    /// Largest state body read (`--max-state-mib`).
    pub max_state_bytes: u64,
    /// The end of the whole fetch, all masters included; `None`: no end
    /// beyond the timeouts.
    pub deadline: Option<Instant>,
}

impl fmt::Debug for MesosOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MesosOptions")
            .field("masters", &self.masters)
            .field("https", &self.https)
            .field("ca_file", &self.ca_file)
            .field(
                "credentials",
                &self
                    .credentials
                    .as_ref()
                    .map(|(principal, _)| (principal, "<redacted>")),
            )
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("deadline", &self.deadline)
            .finish()
    }
}

/// The leading master's state.
#[derive(Clone, PartialEq, Eq)]
pub struct FetchedState {
    /// The raw body: well-formed JSON, an object with a valid `leader`.
    pub body: Vec<u8>,
    /// The URL that finally answered.
    pub url: String,
    /// The state's `leader` pid, e.g. `master@10.0.0.1:5050`.
    pub leader: String,
}

impl fmt::Debug for FetchedState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchedState")
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .field("url", &self.url)
            .field("leader", &self.leader)
            .finish()
    }
}

impl FetchedState {
    /// The master that answered, as a `masters` entry
    /// (`scheme://host:port`): where to subscribe to the event stream.
    pub fn master(&self) -> String {
        let rest = self.url.split_once("://").map_or("", |(_, r)| r);
        let authority = rest.split('/').next().unwrap_or_default();
        let scheme = self.url.split_once("://").map_or("http", |(s, _)| s);
        format!("{scheme}://{authority}")
    }
}

/// The scheduler pid of framework `framework_id` (every framework when
/// `None`), read from `GET /master/frameworks?framework_id=ID` on `leader`
/// (a `masters` entry): the same writer as `/master/state`, so the same
/// raw text, with the credentials, CA, timeouts, gzip and size bound of the
/// state fetch. The answer maps framework ids to pids; a framework that is
/// not listed is not registered (any more). Masters before 1.1 ignore the
/// query and list every framework, which gives the same answer.
pub fn fetch_framework_pids(
    opts: &MesosOptions,
    leader: &str,
    framework_id: Option<&str>,
) -> Result<std::collections::HashMap<String, Pid>, StreamError> {
    let masters = opts
        .masters
        .iter()
        .map(|entry| parse_master(entry, opts.https))
        .collect::<Result<Vec<_>, _>>()?;
    let target = parse_master(leader, opts.https)?;
    let client = Client::new(opts, &masters)?;
    let path = match framework_id {
        Some(id) => format!("/master/frameworks?framework_id={}", query_escape(id)),
        None => "/master/frameworks".to_string(),
    };
    let secure = target.scheme == "https";
    let (url, body) =
        client
            .get_path(&target, &path, secure)
            .map_err(|e| StreamError::Transport {
                url: target.url(&path),
                reason: e.to_string(),
            })?;
    framework_pids_from_state(&body).map_err(|reason| StreamError::Broken {
        url,
        reason: format!("not a frameworks answer: {reason}"),
    })
}

/// Percent-encodes a query value (RFC 3986 unreserved characters kept).
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Fetches the leading master's state (see the module documentation).
///
/// Every entry of `opts.masters` is parsed before anything is fetched; a
/// bad entry is [`MesosError::InvalidMaster`]. When no master gives a
/// usable state the error is [`MesosError::AllFailed`], naming each master
/// and why.
pub fn fetch_state(opts: &MesosOptions) -> Result<FetchedState, MesosError> {
    if opts.masters.is_empty() {
        return Err(MesosError::NoMasters);
    }
    let masters = opts
        .masters
        .iter()
        .map(|entry| parse_master(entry, opts.https))
        .collect::<Result<Vec<_>, _>>()?;
    let client = Client::new(opts, &masters)?;
    let mut failures = Vec::new();
    for (entry, master) in opts.masters.iter().zip(&masters) {
        if client.past_deadline() {
            failures.push(MasterFailure {
                master: entry.clone(),
                error: FetchError::Transport {
                    url: master.url(fetch::STATE_PATH),
                    reason: "not tried: the run's deadline was reached".to_string(),
                },
            });
            continue;
        }
        debug!("trying Mesos master {entry}");
        match fetch_from(&client, master) {
            Ok(answer) => {
                info!(
                    "Mesos master {entry}: state from {} (leader {})",
                    answer.url,
                    crate::text::escape_control(&answer.leader)
                );
                return Ok(FetchedState {
                    body: answer.body,
                    url: answer.url,
                    leader: answer.leader,
                });
            }
            Err(error) => {
                debug!("Mesos master {entry} failed: {error}");
                failures.push(MasterFailure {
                    master: entry.clone(),
                    error,
                });
            }
        }
    }
    Err(MesosError::AllFailed(failures))
}

/// One attempt: the state from `master`, then the leader check.
fn fetch_from(client: &Client, master: &Master) -> Result<StateAnswer, FetchError> {
    let secure = master.scheme == "https";
    let first = client.get_state(master, secure)?;
    if same_host(&first.leader_pid.host, &first.origin.host) {
        return Ok(first);
    }
    let leader = Master {
        scheme: first.origin.scheme.clone(),
        host: first.leader_pid.host.clone(),
        port: first.origin.port,
    };
    debug!(
        "{} is not the leader (its state names {}); fetching from {leader}",
        first.url,
        crate::text::escape_control(&first.leader)
    );
    client
        .get_state(&leader, secure || first.origin.scheme == "https")
        .map_err(|cause| FetchError::LeaderFailed {
            url: first.url,
            leader: first.leader,
            cause: Box::new(cause),
        })
}
/// The cluster id derived from the configured masters (see
/// `Config::derived_cluster_id`).
pub fn derive_cluster_id(
    masters: &[String],
    zk: Option<(&[String], &str)>,
    state_file: Option<&std::path::Path>,
) -> String {
    use sha2::{Digest, Sha256};
    let norm = |s: &str| {
        let s = s.trim().to_ascii_lowercase();
        s.strip_prefix("http://")
            .or_else(|| s.strip_prefix("https://"))
            .unwrap_or(&s)
            .trim_end_matches('/')
            .to_string()
    };
    let sorted = |v: &[String]| {
        let mut m: Vec<String> = v.iter().map(|s| norm(s)).collect();
        m.sort();
        m.dedup();
        m
    };
    let text = if !masters.is_empty() {
        sorted(masters).join("\n")
    } else if let Some((hosts, path)) = zk {
        format!("zk:{}{path}", sorted(hosts).join(","))
    } else {
        format!(
            "file:{}",
            state_file.map_or(String::new(), |p| p.display().to_string())
        )
    };
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("m-{hex}")
}

/// Validates a cluster id (`--cluster-id`, `clusterId`): 1-63 characters
/// of `a-z0-9._-` (upper case is lowered), so that it reads the same in
/// the marker's text whatever the case.
pub fn valid_cluster_id(id: &str) -> Result<String, String> {
    let id = id.trim().to_ascii_lowercase();
    let ok = !id.is_empty()
        && id.len() <= 63
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(id)
    } else {
        Err(format!(
            "cluster id {id:?}: use 1-63 characters of a-z, 0-9, '.', '_' and '-'"
        ))
    }
}
