//! Errors of the NS1 client. `Display` is always a single line naming the
//! method and path; the API key never appears in any of them.

use std::fmt;

/// What went wrong talking to NS1.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ns1Error {
    /// A non-2xx answer that is not one of the more specific cases below
    /// (e.g. 400 validation error, 404, or 5xx after retries ran out).
    Http {
        method: String,
        path: String,
        status: u16,
        /// The server's `{"message"}` text, or a short note on the body
        /// (e.g. "HTML error page (502)").
        message: String,
    },
    /// Connection refused/reset/dropped, timeout, TLS failure — after
    /// retries, if the failure was retryable.
    Transport {
        method: String,
        path: String,
        detail: String,
    },
    /// Still 429 after all retries.
    RateLimited {
        method: String,
        path: String,
        attempts: u32,
    },
    /// The run's deadline does not leave room for the next request or wait.
    /// `pacing`: the wait was a pacing wait, and what it was based on.
    Deadline {
        method: String,
        path: String,
        pacing: Option<String>,
    },
    /// The zone does not exist (404 `zone not found`).
    ZoneNotFound { zone: String },
    /// 401 or 403: key missing, wrong, or lacking permission.
    Auth {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    /// A 2xx body that is not the JSON expected, or a pagination loop.
    Protocol {
        method: String,
        path: String,
        detail: String,
    },
    /// Invalid client configuration (endpoint, CA file) or invalid input
    /// (e.g. an SRV answer that is not "priority weight port target").
    Invalid { detail: String },
}

impl Ns1Error {
    /// HTTP status carried by the error, if any.
    pub fn status(&self) -> Option<u16> {
        match self {
            Ns1Error::Http { status, .. } | Ns1Error::Auth { status, .. } => Some(*status),
            Ns1Error::RateLimited { .. } => Some(429),
            Ns1Error::ZoneNotFound { .. } => Some(404),
            _ => None,
        }
    }
}

/// Collapses whitespace (including newlines) so messages stay on one line.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl fmt::Display for Ns1Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ns1Error::Http {
                method,
                path,
                status,
                message,
            } => write!(
                f,
                "NS1 {method} {path}: HTTP {status}: {}",
                one_line(message)
            ),
            Ns1Error::Transport {
                method,
                path,
                detail,
            } => write!(
                f,
                "NS1 {method} {path}: transport error: {}",
                one_line(detail)
            ),
            Ns1Error::RateLimited {
                method,
                path,
                attempts,
            } => write!(
                f,
                "NS1 {method} {path}: HTTP 429: rate limited after {attempts} attempts"
            ),
            Ns1Error::Deadline {
                method,
                path,
                pacing: None,
            } => {
                write!(f, "NS1 {method} {path}: deadline reached, request not sent")
            }
            Ns1Error::Deadline {
                method,
                path,
                pacing: Some(why),
            } => write!(
                f,
                "NS1 {method} {path}: not sent: pacing stopped the run ({why})"
            ),
            Ns1Error::ZoneNotFound { zone } => write!(f, "NS1 zone {zone:?} not found (HTTP 404)"),
            Ns1Error::Auth {
                method,
                path,
                status,
                message,
            } => write!(
                f,
                "NS1 {method} {path}: HTTP {status}: authentication/permission failure: {} (check the API key)",
                one_line(message)
            ),
            Ns1Error::Protocol {
                method,
                path,
                detail,
            } => write!(
                f,
                "NS1 {method} {path}: unexpected response: {}",
                one_line(detail)
            ),
            Ns1Error::Invalid { detail } => write!(f, "NS1 client: {}", one_line(detail)),
        }
    }
}

impl std::error::Error for Ns1Error {}

/// Summarizes an error response body: the `message` of a JSON
/// `{"message": ...}` body, else a short note on what the body is. Never
/// fails.
pub fn describe_body(status: u16, content_type: Option<&str>, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return format!("empty body ({status})");
    }
    if trimmed.starts_with('{')
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(trimmed)
    {
        return match v.get("message") {
            Some(serde_json::Value::String(m)) => one_line(m),
            Some(other) => one_line(&other.to_string()),
            None => format!("JSON body without message ({status})"),
        };
    }
    let is_html = content_type.is_some_and(|c| c.to_ascii_lowercase().contains("html"))
        || trimmed.starts_with('<');
    if is_html {
        return format!("HTML error page ({status})");
    }
    let snippet: String = one_line(trimmed).chars().take(80).collect();
    format!("non-JSON body ({status}): {snippet}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_descriptions() {
        assert_eq!(
            describe_body(
                404,
                Some("application/json"),
                b"{\"message\": \"record not found\"}\n"
            ),
            "record not found"
        );
        assert_eq!(
            describe_body(
                503,
                Some("text/html; charset=UTF-8"),
                b"<!DOCTYPE html><html>..."
            ),
            "HTML error page (503)"
        );
        assert_eq!(
            describe_body(502, None, b"\n<html><body>Bad gateway</body></html>"),
            "HTML error page (502)"
        );
        assert_eq!(describe_body(500, None, b""), "empty body (500)");
        assert_eq!(
            describe_body(500, None, b"{not json"),
            "non-JSON body (500): {not json"
        );
        assert_eq!(
            describe_body(500, None, b"{\"error\": 1}"),
            "JSON body without message (500)"
        );
        let long = "x".repeat(500);
        assert!(describe_body(500, None, long.as_bytes()).len() < 120);
        assert_eq!(
            describe_body(400, None, b"{\"message\": \"line1\\nline2\"}"),
            "line1 line2"
        );
    }

    #[test]
    fn display_is_one_line() {
        let errs = [
            Ns1Error::Http {
                method: "PUT".into(),
                path: "/v1/zones/z/a.z/A".into(),
                status: 400,
                message: "bad\nthing".into(),
            },
            Ns1Error::Transport {
                method: "GET".into(),
                path: "/v1/zones/z".into(),
                detail: "connection reset\n".into(),
            },
            Ns1Error::RateLimited {
                method: "PUT".into(),
                path: "/p".into(),
                attempts: 5,
            },
            Ns1Error::Deadline {
                method: "PUT".into(),
                path: "/p".into(),
                pacing: None,
            },
            Ns1Error::Deadline {
                method: "PUT".into(),
                path: "/p".into(),
                pacing: Some("x".into()),
            },
            Ns1Error::ZoneNotFound { zone: "z".into() },
            Ns1Error::Auth {
                method: "GET".into(),
                path: "/p".into(),
                status: 401,
                message: "Unauthorized".into(),
            },
            Ns1Error::Protocol {
                method: "GET".into(),
                path: "/p".into(),
                detail: "x".into(),
            },
            Ns1Error::Invalid { detail: "y".into() },
        ];
        for e in &errs {
            let s = e.to_string();
            assert!(!s.contains('\n'), "{s}");
            assert!(s.starts_with("NS1"), "{s}");
        }
        assert_eq!(
            errs[0].to_string(),
            "NS1 PUT /v1/zones/z/a.z/A: HTTP 400: bad thing"
        );
        assert_eq!(errs[0].status(), Some(400));
        assert_eq!(errs[2].status(), Some(429));
        assert_eq!(errs[3].status(), None);
    }
}
