//! The HTTP side: one client per run, GET with our own redirect handling,
//! the `/master/state.json` fallback, and the checks a body must pass.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::debug;
use serde::Deserialize;
use ureq::tls::{RootCerts, TlsConfig};

use super::master::{Master, Pid, parse_pid, resolve_location};
use super::{FetchError, MesosError, MesosOptions};

/// Redirect hops followed per request. Mesos needs one (non-leader to
/// leader); a few more tolerate a proxy in front.
pub(crate) const MAX_REDIRECTS: usize = 5;

/// The endpoint since Mesos 1.0 (Mesos-DNS ≥ v0.7.0-rc1).
pub(crate) const STATE_PATH: &str = "/master/state";
/// The endpoint of Mesos ≤ 0.28, tried when [`STATE_PATH`] answers 404.
pub(crate) const LEGACY_STATE_PATH: &str = "/master/state.json";

/// A body that passed [`check_state`].
#[derive(Debug)]
pub(crate) struct StateAnswer {
    pub body: Vec<u8>,
    /// The URL that finally answered (after redirects).
    pub url: String,
    /// Scheme, host and port of `url`.
    pub origin: Master,
    /// The `leader` field, verbatim.
    pub leader: String,
    pub leader_pid: Pid,
}

pub(crate) struct Client {
    agent: ureq::Agent,
    /// `Authorization` header value; never logged.
    authorization: Option<String>,
    /// Scheme and host of every configured master: the only places the
    /// credentials are sent to (exact host match, same scheme).
    auth_targets: Vec<(String, String)>,
    timeout: Duration,
    connect_timeout: Duration,
    max_body: u64,
    /// The end of the whole Mesos phase: no request runs past it.
    deadline: Option<Instant>,
}

/// The time one [`Client::get_state`] may take: its own `timeout`, cut
/// short by the run's deadline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    end: Option<Instant>,
    /// Whether `end` is the run's deadline rather than the timeout.
    by_deadline: bool,
}

impl Budget {
    /// `timeout` from now (zero: none), but never past `deadline`.
    /// Saturates: a timeout too large for the clock is no limit.
    pub(crate) fn new(timeout: Duration, deadline: Option<Instant>) -> Budget {
        let own = nonzero(timeout).and_then(|t| Instant::now().checked_add(t));
        match (own, deadline) {
            (Some(own), Some(deadline)) if deadline < own => Budget {
                end: Some(deadline),
                by_deadline: true,
            },
            (None, Some(deadline)) => Budget {
                end: Some(deadline),
                by_deadline: true,
            },
            (own, _) => Budget {
                end: own,
                by_deadline: false,
            },
        }
    }

    /// Time left; `None` when unlimited.
    fn left(&self) -> Option<Duration> {
        self.end
            .map(|end| end.saturating_duration_since(Instant::now()))
    }
}

impl Client {
    pub(crate) fn new(opts: &MesosOptions, masters: &[Master]) -> Result<Client, MesosError> {
        let mut config = ureq::Agent::config_builder()
            // Statuses and redirects are handled here, not by ureq: ureq
            // would not keep credentials across hosts, and we want the
            // final URL and each hop in the log.
            .http_status_as_error(false)
            .max_redirects(0)
            // Masters are inside the cluster; like Mesos-DNS, never go
            // through an HTTP(S)_PROXY from the environment.
            .proxy(None)
            .user_agent(concat!("mesos2ns1/", env!("CARGO_PKG_VERSION")))
            .accept("application/json")
            .timeout_connect(nonzero(opts.connect_timeout));
        if let Some(tls) = tls_config(opts, masters)? {
            config = config.tls_config(tls);
        }
        let authorization = opts.credentials.as_ref().map(|(principal, secret)| {
            let token = data_encoding::BASE64.encode(format!("{principal}:{secret}").as_bytes());
            format!("Basic {token}")
        });
        Ok(Client {
            agent: config.build().new_agent(),
            authorization,
            auth_targets: masters
                .iter()
                .map(|m| (m.scheme.clone(), m.host.clone()))
                .collect(),
            timeout: opts.timeout,
            connect_timeout: opts.connect_timeout,
            max_body: opts.max_state_bytes,
            deadline: opts.deadline,
        })
    }

    /// Whether the run's deadline has passed.
    pub(crate) fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Whether the credentials may go to `target` in an attempt that
    /// started over `https` (when `secure`): only to a configured master's
    /// host, over the scheme configured for it, and never over plain http
    /// once the attempt started over https.
    pub(crate) fn may_send_auth(&self, target: &Master, secure: bool) -> bool {
        if secure && target.scheme != "https" {
            return false;
        }
        self.auth_targets
            .iter()
            .any(|(scheme, host)| *scheme == target.scheme && *host == target.host)
    }

    /// Fetches and checks the state from `master`: `/master/state`,
    /// redirects followed, then `/master/state.json` if the former answered
    /// 404. The whole exchange shares one `timeout` budget, cut short by
    /// the run's deadline. `secure`: the attempt started over https (see
    /// [`Client::may_send_auth`]).
    pub(crate) fn get_state(
        &self,
        master: &Master,
        secure: bool,
    ) -> Result<StateAnswer, FetchError> {
        let budget = Budget::new(self.timeout, self.deadline);
        let (url, origin, body) = match self.get(master, STATE_PATH, budget, secure) {
            Err(FetchError::Status { url, status: 404 }) => {
                debug!("{url} answered 404; trying the pre-1.0 endpoint {LEGACY_STATE_PATH}");
                self.get(master, LEGACY_STATE_PATH, budget, secure)?
            }
            other => other?,
        };
        let (leader, leader_pid) = check_state(&url, &body)?;
        Ok(StateAnswer {
            body,
            url,
            origin,
            leader,
            leader_pid,
        })
    }

    /// One GET, following up to [`MAX_REDIRECTS`] redirects. Returns the
    /// final URL, its origin and the whole body of a 2xx answer.
    fn get(
        &self,
        master: &Master,
        path: &str,
        budget: Budget,
        secure: bool,
    ) -> Result<(String, Master, Vec<u8>), FetchError> {
        let mut target = master.clone();
        let mut path = path.to_string();
        let mut secure = secure;
        for _ in 0..=MAX_REDIRECTS {
            let url = target.url(&path);
            let send_auth = self.authorization.is_some() && self.may_send_auth(&target, secure);
            if self.authorization.is_some() && !send_auth {
                debug!(
                    "not sending the Mesos credentials to {target}: only to the configured masters, over their configured scheme"
                );
            }
            debug!(
                "GET {url}{}",
                if send_auth && self.authorization.is_some() {
                    " (with basic auth)"
                } else {
                    ""
                }
            );
            // libprocess compresses any answer of 1 KB or more when asked
            // (`3rdparty/libprocess/src/encoder.hpp`).
            let mut request = self.agent.get(&url).header("Accept-Encoding", "gzip");
            if send_auth && let Some(authorization) = &self.authorization {
                request = request.header("Authorization", authorization);
            }
            let request = match budget.left() {
                None => request.config().build(),
                Some(left) => {
                    if left.is_zero() {
                        return Err(self.timed_out(&url, budget));
                    }
                    request.config().timeout_global(Some(left)).build()
                }
            };
            let mut response = request
                .call()
                .map_err(|e| self.transport_error(&url, e, "request", budget))?;
            let status = response.status().as_u16();
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                let location = response
                    .headers()
                    .get(ureq::http::header::LOCATION)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .ok_or_else(|| FetchError::Redirect {
                        url: url.clone(),
                        reason: format!("HTTP {status} redirect without a Location header"),
                    })?;
                let (next, next_path) =
                    resolve_location(&target, &path, &location).map_err(|reason| {
                        FetchError::Redirect {
                            url: url.clone(),
                            reason: format!("cannot follow redirect to {location:?}: {reason}"),
                        }
                    })?;
                if target.scheme == "https" {
                    // Once https, never plain http with the credentials.
                    secure = true;
                }
                debug!(
                    "{url} redirected (HTTP {status}) to {}",
                    next.url(&next_path)
                );
                target = next;
                path = next_path;
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(FetchError::Status { url, status });
            }
            let body = self.read_body(&url, &mut response, budget)?;
            return Ok((url, target, body));
        }
        Err(FetchError::Redirect {
            url: master.url(&path),
            reason: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    /// Reads a 2xx body, gunzipping it when the master compressed it. The
    /// bound `--max-state-mib` applies to the decompressed body exactly as
    /// to a plain one; the compressed bytes read are bounded too (twice the
    /// limit plus 64 KiB: deflate never expands data by more), so that no
    /// input makes this read forever or without limit.
    fn read_body(
        &self,
        url: &str,
        response: &mut ureq::http::Response<ureq::Body>,
        budget: Budget,
    ) -> Result<Vec<u8>, FetchError> {
        let encoding = response
            .headers()
            .get(ureq::http::header::CONTENT_ENCODING)
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        let gzip = match encoding.as_str() {
            "" | "identity" => false,
            "gzip" | "x-gzip" => true,
            other => {
                return Err(FetchError::Transport {
                    url: url.to_string(),
                    reason: format!("unsupported Content-Encoding {other:?}"),
                });
            }
        };
        if !gzip {
            let body = response
                .body_mut()
                .with_config()
                .limit(self.max_body)
                .read_to_vec()
                .map_err(|e| self.transport_error(url, e, "body", budget))?;
            debug!("{url} answered with {} bytes", body.len());
            return Ok(body);
        }
        let compressed_limit = self.max_body.saturating_mul(2).saturating_add(64 * 1024);
        let reader = response
            .body_mut()
            .with_config()
            .limit(compressed_limit)
            .reader();
        let mut counted = Counted {
            inner: reader,
            n: 0,
        };
        let mut body = Vec::new();
        let read = io::Read::read_to_end(
            &mut io::Read::take(
                flate2::read::GzDecoder::new(&mut counted),
                self.max_body.saturating_add(1),
            ),
            &mut body,
        );
        if let Err(e) = read {
            // ureq's own errors (timeouts, the limit) come wrapped in io.
            let reason = match e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<ureq::Error>())
            {
                Some(ureq::Error::Timeout(_)) => {
                    format!("reading the body: {}", self.timeout_reason(budget))
                }
                Some(ureq::Error::BodyExceedsLimit(limit)) => {
                    format!("the compressed state is larger than {limit} bytes (--max-state-mib)")
                }
                _ if e.kind() == io::ErrorKind::InvalidInput
                    || e.kind() == io::ErrorKind::InvalidData =>
                {
                    format!("reading the body: the gzip data is corrupt: {e}")
                }
                _ => format!("reading the body: {}", io_reason(&e)),
            };
            return Err(FetchError::Transport {
                url: url.to_string(),
                reason,
            });
        }
        if body.len() as u64 > self.max_body {
            return Err(FetchError::Transport {
                url: url.to_string(),
                reason: format!(
                    "the state is larger than {} bytes (--max-state-mib)",
                    self.max_body
                ),
            });
        }
        debug!(
            "{url} answered with {} bytes, gzip-compressed to {}",
            body.len(),
            counted.n
        );
        Ok(body)
    }

    /// The agent, for the event stream (same TLS, proxy and timeouts).
    pub(crate) fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    /// The `Authorization` value to send to `target`, if any (see
    /// [`Client::may_send_auth`]).
    pub(crate) fn authorization_for(&self, target: &Master, secure: bool) -> Option<&str> {
        self.authorization
            .as_deref()
            .filter(|_| self.may_send_auth(target, secure))
    }

    /// One GET of `path` (with a query) on `master`, redirects followed,
    /// gzip accepted, bounded by `--max-state-mib`; the body of a 2xx.
    pub(crate) fn get_path(
        &self,
        master: &Master,
        path: &str,
        secure: bool,
    ) -> Result<(String, Vec<u8>), FetchError> {
        let budget = Budget::new(self.timeout, self.deadline);
        let (url, _, body) = self.get(master, path, budget, secure)?;
        Ok((url, body))
    }

    fn timed_out(&self, url: &str, budget: Budget) -> FetchError {
        FetchError::Transport {
            url: url.to_string(),
            reason: self.timeout_reason(budget),
        }
    }

    fn timeout_reason(&self, budget: Budget) -> String {
        if budget.by_deadline {
            "stopped at the run's deadline".to_string()
        } else {
            format!("timed out after {}", secs(self.timeout))
        }
    }

    /// Turns a ureq error into a short reason. `stage` says whether the
    /// headers ("request") or the body ("body") were being read.
    fn transport_error(
        &self,
        url: &str,
        e: ureq::Error,
        stage: &str,
        budget: Budget,
    ) -> FetchError {
        let while_body = if stage == "body" {
            "reading the body: "
        } else {
            ""
        };
        let reason = match e {
            ureq::Error::Timeout(ureq::Timeout::Connect) => {
                format!("connect timed out after {}", secs(self.connect_timeout))
            }
            ureq::Error::Timeout(_) => {
                return FetchError::Transport {
                    url: url.to_string(),
                    reason: format!("{while_body}{}", self.timeout_reason(budget)),
                };
            }
            ureq::Error::Io(io) => format!("{while_body}{}", io_reason(&io)),
            ureq::Error::HostNotFound => "host not found".to_string(),
            ureq::Error::ConnectionFailed => "connection failed".to_string(),
            ureq::Error::BodyExceedsLimit(limit) => {
                format!("the state is larger than {limit} bytes (--max-state-mib)")
            }
            other => format!("{while_body}{other}"),
        };
        FetchError::Transport {
            url: url.to_string(),
            reason,
        }
    }
}

/// Counts the bytes read through it (the compressed size, for the log).
struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: io::Read> io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

pub(crate) fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::ConnectionReset => "connection reset".to_string(),
        io::ErrorKind::ConnectionAborted => "connection aborted".to_string(),
        io::ErrorKind::TimedOut => "timed out".to_string(),
        io::ErrorKind::UnexpectedEof => {
            "the connection closed before the whole body arrived (truncated)".to_string()
        }
        _ => e.to_string(),
    }
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// A zero duration means "no limit" (as in Go's `http.Client`).
fn nonzero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

/// The TLS setup, when any master may be reached over https: the system
/// CA store (rustls-native-certs) plus the PEM certificates of `ca_file`.
/// `None` leaves ureq's defaults (plain http only).
fn tls_config(opts: &MesosOptions, masters: &[Master]) -> Result<Option<TlsConfig>, MesosError> {
    let uses_https = opts.https || masters.iter().any(|m| m.scheme == "https");
    if !uses_https && opts.ca_file.is_none() {
        return Ok(None);
    }
    let roots =
        crate::tls::root_certs(opts.ca_file.as_deref()).map_err(|reason| MesosError::CaFile {
            path: opts.ca_file.clone().unwrap_or_default(),
            reason,
        })?;
    Ok(Some(
        TlsConfig::builder()
            .root_certs(RootCerts::Specific(Arc::new(roots)))
            .build(),
    ))
}

/// The only field read here. Everything else is skipped, but still
/// checked to be well-formed JSON.
#[derive(Deserialize)]
struct LeaderOnly {
    #[serde(default)]
    leader: Option<String>,
}

/// Checks that `body` is a JSON object with a well-formed `leader` pid,
/// and returns that pid (verbatim and parsed).
pub(crate) fn check_state(url: &str, body: &[u8]) -> Result<(String, Pid), FetchError> {
    let parsed: LeaderOnly = serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => FetchError::NotAState {
            url: url.to_string(),
            message: e.to_string(),
        },
        _ => FetchError::InvalidJson {
            url: url.to_string(),
            message: e.to_string(),
            truncated: e.is_eof(),
        },
    })?;
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(FetchError::NotAState {
            url: url.to_string(),
            message: "not a JSON object".to_string(),
        });
    }
    let leader = match parsed.leader {
        Some(leader) if !leader.is_empty() => leader,
        _ => {
            return Err(FetchError::NoLeader {
                url: url.to_string(),
            });
        }
    };
    match parse_pid(&leader) {
        Ok(pid) => Ok((leader, pid)),
        Err(reason) => Err(FetchError::BadLeader {
            url: url.to_string(),
            leader,
            reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://127.0.0.1:5050/master/state";

    #[test]
    fn a_state_with_a_leader_passes() {
        let (leader, pid) = check_state(
            URL,
            br#" {"frameworks":[{"name":"marathon"}],"leader":"master@10.0.0.1:5050","slaves":[]}"#,
        )
        .unwrap();
        assert_eq!(leader, "master@10.0.0.1:5050");
        assert_eq!((pid.host.as_str(), pid.port), ("10.0.0.1", 5050));
    }

    #[test]
    fn truncated_json_is_flagged_as_truncated() {
        let err = check_state(URL, br#"{"leader":"master@10.0.0.1:5050","slaves":[{"#).unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::InvalidJson {
                    truncated: true,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().ends_with("(truncated?)"), "{err}");
        let empty = check_state(URL, b"").unwrap_err();
        assert!(matches!(
            empty,
            FetchError::InvalidJson {
                truncated: true,
                ..
            }
        ));
    }

    #[test]
    fn html_and_trailing_garbage_are_not_json() {
        for body in [
            &b"<html><body>Service Unavailable</body></html>"[..],
            br#"{"leader":"master@10.0.0.1:5050"} trailing"#,
        ] {
            let err = check_state(URL, body).unwrap_err();
            assert!(
                matches!(
                    err,
                    FetchError::InvalidJson {
                        truncated: false,
                        ..
                    }
                ),
                "{err:?}"
            );
            assert!(err.to_string().contains("is not valid JSON"), "{err}");
        }
    }

    #[test]
    fn other_shapes_are_not_states() {
        for body in [
            &br#"["master@10.0.0.1:5050"]"#[..],
            br#"{"leader":5}"#,
            b"42",
        ] {
            let err = check_state(URL, body).unwrap_err();
            assert!(matches!(err, FetchError::NotAState { .. }), "{err:?}");
        }
    }

    #[test]
    fn a_missing_null_or_empty_leader_is_refused() {
        for body in [
            &br#"{"slaves":[]}"#[..],
            br#"{"leader":null}"#,
            br#"{"leader":""}"#,
        ] {
            let err = check_state(URL, body).unwrap_err();
            assert_eq!(
                err,
                FetchError::NoLeader {
                    url: URL.to_string()
                }
            );
            assert_eq!(
                err.to_string(),
                format!("the state from {URL} has no leader")
            );
        }
    }

    #[test]
    fn a_malformed_leader_is_refused() {
        let err = check_state(URL, br#"{"leader":"10.0.0.1:5050"}"#).unwrap_err();
        assert!(matches!(err, FetchError::BadLeader { .. }), "{err:?}");
    }

    fn opts(https: bool, ca_file: Option<std::path::PathBuf>) -> MesosOptions {
        MesosOptions {
            masters: vec!["127.0.0.1:5050".to_string()],
            https,
            ca_file,
            credentials: None,
            connect_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            max_state_bytes: 1 << 30,
            deadline: None,
        }
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_a_config_error() {
        let dir = std::env::temp_dir().join(format!("mesos2ns1-ca-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap();
        for path in [missing, empty] {
            let err = tls_config(&opts(true, Some(path.clone())), &[])
                .err()
                .unwrap_or_else(|| panic!("{} accepted", path.display()));
            assert!(
                matches!(&err, MesosError::CaFile { path: p, .. } if *p == path),
                "{err:?}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn credentials_go_only_to_configured_hosts_over_their_scheme() {
        let entries = [
            "https://10.0.0.1:5050",
            "http://10.0.0.2:5050",
            "m3.example:5050",
        ];
        let masters: Vec<Master> = entries
            .iter()
            .map(|e| super::super::parse_master(e, false).unwrap())
            .collect();
        let mut o = opts(false, None);
        o.masters = entries.iter().map(|e| e.to_string()).collect();
        o.credentials = Some(("p".to_string(), "s".to_string()));
        let client = Client::new(&o, &masters).unwrap();
        let m = |scheme: &str, host: &str| Master {
            scheme: scheme.to_string(),
            host: host.to_string(),
            port: 5050,
        };
        // Configured host and scheme; any port (a leader re-fetch keeps it).
        assert!(client.may_send_auth(&m("https", "10.0.0.1"), true));
        assert!(client.may_send_auth(&m("http", "10.0.0.2"), false));
        assert!(client.may_send_auth(&m("http", "m3.example"), false));
        // The https master over http: after an https-to-http redirect, or
        // the leader re-fetch that follows one.
        assert!(!client.may_send_auth(&m("http", "10.0.0.1"), false));
        assert!(!client.may_send_auth(&m("http", "10.0.0.1"), true));
        // An http master, but the attempt started over https.
        assert!(!client.may_send_auth(&m("http", "10.0.0.2"), true));
        // The http master over https is another scheme than configured.
        assert!(!client.may_send_auth(&m("https", "10.0.0.2"), false));
        // Hosts outside the list, or spelled otherwise.
        assert!(!client.may_send_auth(&m("https", "10.0.0.9"), true));
        assert!(!client.may_send_auth(&m("http", "::ffff:10.0.0.2"), false));
        assert!(!client.may_send_auth(&m("http", "m3.example.evil"), false));
    }

    #[test]
    fn budgets_saturate_and_stop_at_the_deadline() {
        let far = Budget::new(Duration::MAX, None);
        assert!(far.end.is_none() && !far.by_deadline);
        let soon = Instant::now() + Duration::from_secs(1);
        let b = Budget::new(Duration::MAX, Some(soon));
        assert_eq!((b.end, b.by_deadline), (Some(soon), true));
        let b = Budget::new(Duration::from_secs(3600), Some(soon));
        assert_eq!((b.end, b.by_deadline), (Some(soon), true));
        let b = Budget::new(Duration::from_millis(1), Some(soon));
        assert!(!b.by_deadline && b.end.unwrap() < soon);
        let b = Budget::new(Duration::ZERO, Some(soon));
        assert_eq!((b.end, b.by_deadline), (Some(soon), true));
    }

    #[test]
    fn plain_http_needs_no_tls_setup() {
        assert!(tls_config(&opts(false, None), &[]).unwrap().is_none());
    }
}
