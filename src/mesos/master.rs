//! Master addresses, libprocess pids and redirect targets: the small,
//! pure parsers the fetch builds on.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use super::MesosError;

/// One Mesos master to ask for its state: a parsed `masters` entry, or a
/// host the fetch was sent to (redirect target, leader named by a state).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Master {
    /// `"http"` or `"https"` (always lowercase).
    pub scheme: String,
    /// Host without brackets: an IPv4 literal, a canonical IPv6 literal
    /// (`"::1"`) or a host name.
    pub host: String,
    pub port: u16,
}

impl Master {
    /// `host:port`, with the host in brackets when it is an IPv6 literal.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL of `path` (which starts with `/`) on this master.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.authority(), path)
    }
}

impl fmt::Display for Master {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority())
    }
}

/// Parses one `masters` entry: `host:port`, `http://host:port` or
/// `https://host:port` (IPv6 literals in brackets: `[::1]:5050`). A bare
/// entry uses `https` when `https` is true, else `http`. A single trailing
/// `/` is tolerated; a path, query, user info or missing port is not.
pub fn parse_master(s: &str, https: bool) -> Result<Master, MesosError> {
    let invalid = |reason: &str| MesosError::InvalidMaster {
        entry: s.to_string(),
        reason: reason.to_string(),
    };
    if s.is_empty() {
        return Err(invalid("empty entry"));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("contains white space"));
    }
    let (scheme, rest) = match s.find("://") {
        Some(i) => {
            let scheme = s[..i].to_ascii_lowercase();
            if scheme != "http" && scheme != "https" {
                return Err(invalid("the scheme must be http:// or https://"));
            }
            (scheme, &s[i + 3..])
        }
        None => (if https { "https" } else { "http" }.to_string(), s),
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) {
        return Err(invalid(
            "expected host:port, without a path, query or user info",
        ));
    }
    let (host, port) = split_host_port(rest).map_err(|reason| invalid(&reason))?;
    Ok(Master { scheme, host, port })
}

/// Splits `host:port` (`[v6]:port` for IPv6) like Go's `net.SplitHostPort`,
/// and checks both halves. The host comes back without brackets.
fn split_host_port(s: &str) -> Result<(String, u16), String> {
    let (host, port) = split_authority(s)?;
    match port {
        Some(port) => Ok((host, port)),
        None => Err("missing :port".to_string()),
    }
}

/// Like [`split_host_port`], but the port may be absent.
fn split_authority(s: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(inner) = s.strip_prefix('[') {
        let Some(end) = inner.find(']') else {
            return Err("unclosed [ around an IPv6 address".to_string());
        };
        let v6: Ipv6Addr = inner[..end]
            .parse()
            .map_err(|_| format!("{:?} is not an IPv6 address", &inner[..end]))?;
        let after = &inner[end + 1..];
        let port = if after.is_empty() {
            None
        } else {
            match after.strip_prefix(':') {
                Some(p) => Some(p),
                None => return Err("unexpected text after ]".to_string()),
            }
        };
        (v6.to_string(), port)
    } else {
        let (host, port) = match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        };
        if host.contains(':') {
            return Err("an IPv6 address must be in brackets, e.g. [::1]:5050".to_string());
        }
        if host.is_empty() {
            return Err("empty host".to_string());
        }
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        {
            return Err(format!("{host:?} is not a valid host name or IP address"));
        }
        (host.to_ascii_lowercase(), port)
    };
    let port = match port {
        None => None,
        Some(p) => Some(parse_port(p)?),
    };
    Ok((host, port))
}

fn parse_port(p: &str) -> Result<u16, String> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{p:?} is not a port number"));
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("port {p} is out of range 1-65535")),
        Ok(port) => Ok(port),
    }
}

/// A libprocess pid, `id@host:port`, as found in a state's `leader`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pid {
    pub id: String,
    /// Without brackets, as in [`Master::host`].
    pub host: String,
    pub port: u16,
}

/// Parses `id@host:port` (exactly one `@`; IPv6 hosts in brackets).
pub(crate) fn parse_pid(s: &str) -> Result<Pid, String> {
    let mut parts = s.split('@');
    let (Some(id), Some(addr), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("expected id@host:port with exactly one @".to_string());
    };
    let (host, port) = split_host_port(addr)?;
    Ok(Pid {
        id: id.to_string(),
        host,
        port,
    })
}

/// Whether two hosts (as stored in [`Master::host`] / [`Pid::host`]) name
/// the same machine without resolving anything: IP literals compare as
/// addresses (an IPv4-mapped IPv6 address equals its IPv4 address), names
/// compare case-insensitively.
pub(crate) fn same_host(a: &str, b: &str) -> bool {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(a), Ok(b)) => a.to_canonical() == b.to_canonical(),
        _ => a.eq_ignore_ascii_case(b),
    }
}

/// Resolves a redirect's `Location` against the request it answered
/// (`base` + `base_path`). Handles absolute URLs, scheme-relative ones
/// (`//leader:5050/master/state`, what Mesos sends), absolute paths and
/// relative paths. Returns the target and its path (with any query; the
/// fragment dropped).
pub(crate) fn resolve_location(
    base: &Master,
    base_path: &str,
    location: &str,
) -> Result<(Master, String), String> {
    let loc = location.trim();
    if loc.is_empty() {
        return Err("empty Location".to_string());
    }
    let loc = loc.split('#').next().unwrap_or_default();
    if let Some(rest) = loc.strip_prefix("//") {
        return authority_and_path(&base.scheme, rest);
    }
    if let Some(i) = loc.find("://") {
        let scheme = &loc[..i];
        if !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphabetic()) {
            let scheme = scheme.to_ascii_lowercase();
            if scheme != "http" && scheme != "https" {
                return Err(format!("unsupported scheme in Location {location:?}"));
            }
            return authority_and_path(&scheme, &loc[i + 3..]);
        }
    }
    if loc.starts_with('/') {
        return Ok((base.clone(), loc.to_string()));
    }
    // A relative reference: replace the last segment of the base path.
    let base_path = base_path.split('?').next().unwrap_or_default();
    let dir = match base_path.rfind('/') {
        Some(i) => &base_path[..=i],
        None => "/",
    };
    let path = if let Some(query) = loc.strip_prefix('?') {
        format!("{base_path}?{query}")
    } else {
        format!("{dir}{loc}")
    };
    Ok((base.clone(), path))
}

fn authority_and_path(scheme: &str, rest: &str) -> Result<(Master, String), String> {
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.contains('@') {
        return Err("user info in a redirect Location is not supported".to_string());
    }
    let (host, port) = split_authority(authority)?;
    let port = port.unwrap_or(if scheme == "https" { 443 } else { 80 });
    let path = if path.is_empty() {
        "/".to_string()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    Ok((
        Master {
            scheme: scheme.to_string(),
            host,
            port,
        },
        path,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(scheme: &str, host: &str, port: u16) -> Master {
        Master {
            scheme: scheme.to_string(),
            host: host.to_string(),
            port,
        }
    }

    #[test]
    fn bare_entries_take_the_scheme_from_the_https_flag() {
        assert_eq!(
            parse_master("10.0.0.1:5050", false).unwrap(),
            m("http", "10.0.0.1", 5050)
        );
        assert_eq!(
            parse_master("10.0.0.1:5050", true).unwrap(),
            m("https", "10.0.0.1", 5050)
        );
    }

    #[test]
    fn explicit_schemes_win_over_the_flag() {
        assert_eq!(
            parse_master("http://10.0.0.1:5050", true).unwrap(),
            m("http", "10.0.0.1", 5050)
        );
        assert_eq!(
            parse_master("HTTPS://Master1.Example.COM:5050/", false).unwrap(),
            m("https", "master1.example.com", 5050)
        );
    }

    #[test]
    fn ipv6_entries_need_brackets_and_are_canonicalized() {
        let v6 = parse_master("[::1]:5050", false).unwrap();
        assert_eq!(v6, m("http", "::1", 5050));
        assert_eq!(v6.authority(), "[::1]:5050");
        assert_eq!(v6.url("/master/state"), "http://[::1]:5050/master/state");
        assert_eq!(
            parse_master("https://[2001:DB8:0::1]:5050", false)
                .unwrap()
                .host,
            "2001:db8::1"
        );
        assert!(parse_master("::1:5050", false).is_err());
        assert!(parse_master("[::1", false).is_err());
        assert!(parse_master("[nothost]:5050", false).is_err());
        assert!(parse_master("[::1]5050", false).is_err());
    }

    #[test]
    fn bad_entries_are_rejected_with_the_entry_named() {
        for bad in [
            "",
            "10.0.0.1",
            "10.0.0.1:",
            "10.0.0.1:0",
            "10.0.0.1:65536",
            "10.0.0.1:50x",
            "10.0.0.1:+50",
            ":5050",
            "ftp://10.0.0.1:5050",
            "http://10.0.0.1:5050/master",
            "http://user:pw@10.0.0.1:5050",
            "10.0.0.1:5050?x",
            " 10.0.0.1:5050",
            "host name:5050",
            "zk://10.0.0.1:2181/mesos",
            "http://",
        ] {
            let err = parse_master(bad, false).expect_err(bad);
            let MesosError::InvalidMaster { entry, reason } = &err else {
                panic!("{bad}: unexpected error {err:?}");
            };
            assert_eq!(entry, bad);
            assert!(!reason.is_empty());
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn pids_parse_like_libprocess_pids() {
        assert_eq!(
            parse_pid("master@10.0.0.1:5050").unwrap(),
            Pid {
                id: "master".to_string(),
                host: "10.0.0.1".to_string(),
                port: 5050
            }
        );
        let v6 = parse_pid("master@[fd00::1]:5050").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("fd00::1", 5050));
        let named = parse_pid("master@Leader.example:5050").unwrap();
        assert_eq!(named.host, "leader.example");
        for bad in [
            "",
            "master",
            "10.0.0.1:5050",
            "master@10.0.0.1",
            "master@@10.0.0.1:5050",
            "a@b@10.0.0.1:5050",
            "master@fd00::1:5050",
            "master@10.0.0.1:port",
            "master@:5050",
        ] {
            assert!(parse_pid(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn same_host_compares_addresses_not_spellings() {
        assert!(same_host("10.0.0.1", "10.0.0.1"));
        assert!(!same_host("10.0.0.1", "10.0.0.2"));
        assert!(same_host("::ffff:10.0.0.1", "10.0.0.1"));
        assert!(same_host("fd00::1", "fd00:0::1"));
        assert!(same_host("Master.Example", "master.example"));
        assert!(!same_host("master.example", "10.0.0.1"));
    }

    #[test]
    fn redirect_locations_resolve_against_the_request() {
        let base = m("https", "10.0.0.1", 5050);
        let cases = [
            // What Mesos sends: scheme-relative, same scheme as the request.
            (
                "//10.0.0.2:5050/master/state",
                m("https", "10.0.0.2", 5050),
                "/master/state",
            ),
            (
                "//leader.example:5050/master/state",
                m("https", "leader.example", 5050),
                "/master/state",
            ),
            ("//[fd00::2]:5051", m("https", "fd00::2", 5051), "/"),
            ("//10.0.0.2", m("https", "10.0.0.2", 443), "/"),
            (
                "http://10.0.0.3:5050/master/state?x=1#frag",
                m("http", "10.0.0.3", 5050),
                "/master/state?x=1",
            ),
            ("HTTP://10.0.0.3/x", m("http", "10.0.0.3", 80), "/x"),
            (
                "/master/state.json",
                m("https", "10.0.0.1", 5050),
                "/master/state.json",
            ),
            (
                "state.json",
                m("https", "10.0.0.1", 5050),
                "/master/state.json",
            ),
            (
                "?jsonp=x",
                m("https", "10.0.0.1", 5050),
                "/master/state?jsonp=x",
            ),
        ];
        for (location, want_master, want_path) in cases {
            let (got, path) = resolve_location(&base, "/master/state", location)
                .unwrap_or_else(|e| panic!("{location}: {e}"));
            assert_eq!(got, want_master, "{location}");
            assert_eq!(path, want_path, "{location}");
        }
        for bad in [
            "",
            "  ",
            "ftp://10.0.0.2/x",
            "//user@10.0.0.2:5050/",
            "//fd00::2:5050/",
            "//10.0.0.2:99999/",
        ] {
            assert!(
                resolve_location(&base, "/master/state", bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }
}
