//! Errors of the state fetch. Every `Display` is one line.

use std::fmt;
use std::path::PathBuf;

/// Why [`fetch_state`](super::fetch_state) produced no state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MesosError {
    /// The `masters` list is empty.
    NoMasters,
    /// A `masters` entry does not parse (see
    /// [`parse_master`](super::parse_master)). Nothing was fetched.
    InvalidMaster { entry: String, reason: String },
    /// The extra CA file cannot be read or holds no PEM certificate.
    CaFile { path: PathBuf, reason: String },
    /// Every master was tried, in order, and none gave a usable state.
    AllFailed(Vec<MasterFailure>),
}

/// One configured master and why it gave no usable state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterFailure {
    /// The `masters` entry as configured.
    pub master: String,
    pub error: FetchError,
}

/// Why one attempt (one configured master, with its redirects, the
/// `/master/state.json` fallback and the leader re-fetch) failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// No HTTP answer: connection refused, timeout, TLS failure, the body
    /// cut short, ...
    Transport { url: String, reason: String },
    /// An HTTP status other than 2xx (after redirects).
    Status { url: String, status: u16 },
    /// A redirect that cannot be followed, or too many of them.
    Redirect { url: String, reason: String },
    /// The body is not JSON. `truncated` when it ended early.
    InvalidJson {
        url: String,
        message: String,
        truncated: bool,
    },
    /// JSON, but not shaped like a Mesos state (not an object, `leader`
    /// not a string, ...).
    NotAState { url: String, message: String },
    /// The state's `leader` is missing, null or empty.
    NoLeader { url: String },
    /// The state's `leader` is not `id@host:port`.
    BadLeader {
        url: String,
        leader: String,
        reason: String,
    },
    /// `url` is not the leader; its state names `leader`, and fetching
    /// the state from that leader failed with `cause`.
    LeaderFailed {
        url: String,
        leader: String,
        cause: Box<FetchError>,
    },
}

impl fmt::Display for MesosError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MesosError::NoMasters => write!(f, "no Mesos masters are configured"),
            MesosError::InvalidMaster { entry, reason } => {
                write!(f, "invalid Mesos master {entry:?}: {}", one_line(reason))
            }
            MesosError::CaFile { path, reason } => write!(
                f,
                "cannot use the CA file {}: {}",
                path.display(),
                one_line(reason)
            ),
            MesosError::AllFailed(failures) => {
                write!(f, "no usable state from any Mesos master: ")?;
                for (i, failure) in failures.iter().enumerate() {
                    if i > 0 {
                        write!(f, "; ")?;
                    }
                    write!(f, "{failure}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for MasterFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.master, self.error)
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Transport { url, reason } => {
                write!(f, "GET {url}: {}", one_line(reason))
            }
            FetchError::Status { url, status } => {
                write!(f, "GET {url}: HTTP {status}")?;
                if let Some(reason) = ureq::http::StatusCode::from_u16(*status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                {
                    write!(f, " {reason}")?;
                }
                if matches!(status, 401 | 403) {
                    write!(f, " (check the Mesos credentials)")?;
                }
                Ok(())
            }
            FetchError::Redirect { url, reason } => {
                write!(f, "GET {url}: {}", one_line(reason))
            }
            FetchError::InvalidJson {
                url,
                message,
                truncated,
            } => {
                write!(
                    f,
                    "the state from {url} is not valid JSON: {}",
                    one_line(message)
                )?;
                if *truncated {
                    write!(f, " (truncated?)")?;
                }
                Ok(())
            }
            FetchError::NotAState { url, message } => write!(
                f,
                "the state from {url} is not a Mesos state: {}",
                one_line(message)
            ),
            FetchError::NoLeader { url } => write!(f, "the state from {url} has no leader"),
            FetchError::BadLeader {
                url,
                leader,
                reason,
            } => write!(
                f,
                "the state from {url} has a malformed leader {leader:?}: {}",
                one_line(reason)
            ),
            FetchError::LeaderFailed { url, leader, cause } => write!(
                f,
                "{url} is not the leader (its state names {}), and the leader failed: {cause}",
                crate::text::escape_control(leader)
            ),
        }
    }
}

impl std::error::Error for MesosError {}
impl std::error::Error for FetchError {}

/// Collapses line breaks so that every message stays on one line.
fn one_line(s: &str) -> String {
    s.split(['\r', '\n'])
        .filter(|part| !part.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_failed_names_every_master_on_one_line() {
        let err = MesosError::AllFailed(vec![
            MasterFailure {
                master: "10.0.0.1:5050".to_string(),
                error: FetchError::Transport {
                    url: "http://10.0.0.1:5050/master/state".to_string(),
                    reason: "connection refused".to_string(),
                },
            },
            MasterFailure {
                master: "10.0.0.2:5050".to_string(),
                error: FetchError::Status {
                    url: "http://10.0.0.2:5050/master/state".to_string(),
                    status: 503,
                },
            },
            MasterFailure {
                master: "10.0.0.3:5050".to_string(),
                error: FetchError::LeaderFailed {
                    url: "http://10.0.0.3:5050/master/state".to_string(),
                    leader: "master@10.0.0.9:5050".to_string(),
                    cause: Box::new(FetchError::InvalidJson {
                        url: "http://10.0.0.9:5050/master/state".to_string(),
                        message: "EOF while parsing\nan object".to_string(),
                        truncated: true,
                    }),
                },
            },
        ]);
        assert_eq!(
            err.to_string(),
            "no usable state from any Mesos master: \
             10.0.0.1:5050: GET http://10.0.0.1:5050/master/state: connection refused; \
             10.0.0.2:5050: GET http://10.0.0.2:5050/master/state: HTTP 503 Service Unavailable; \
             10.0.0.3:5050: http://10.0.0.3:5050/master/state is not the leader \
             (its state names master@10.0.0.9:5050), and the leader failed: \
             the state from http://10.0.0.9:5050/master/state is not valid JSON: \
             EOF while parsing an object (truncated?)"
        );
    }

    #[test]
    fn auth_failures_hint_at_the_credentials() {
        let err = FetchError::Status {
            url: "http://m:5050/master/state".to_string(),
            status: 401,
        };
        assert_eq!(
            err.to_string(),
            "GET http://m:5050/master/state: HTTP 401 Unauthorized (check the Mesos credentials)"
        );
    }
}
