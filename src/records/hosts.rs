//! Hosts as Mesos and Mesos-DNS write them: master and agent pids
//! (`id@host:port`), `host:port` by Go's `net.SplitHostPort` and
//! `JoinHostPort`, Go's port lookup, and the [`Resolver`] that turns host
//! names into addresses (the only I/O of `records/`).

use super::set::canonical;
use std::collections::HashMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::OnceLock;

/// Looks up the addresses of a host name (agents and frameworks given by
/// name rather than by IP).
pub trait Resolver {
    fn lookup(&self, host: &str) -> Vec<IpAddr>;
}

/// The system resolver (`/etc/hosts`, DNS).
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn lookup(&self, host: &str) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = match (host, 0u16).to_socket_addrs() {
            Ok(addrs) => addrs.map(|a| canonical(a.ip())).collect(),
            Err(_) => Vec::new(),
        };
        let mut seen = Vec::new();
        out.retain(|ip| {
            let new = !seen.contains(ip);
            seen.push(*ip);
            new
        });
        out
    }
}

/// A fixed host table, for tests and for runs that must not resolve.
#[derive(Default)]
pub struct StaticResolver(pub HashMap<String, Vec<IpAddr>>);

impl Resolver for StaticResolver {
    fn lookup(&self, host: &str) -> Vec<IpAddr> {
        self.0.get(host).cloned().unwrap_or_default()
    }
}

/// A parsed `id@host:port` process id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pid<'a> {
    pub host: &'a str,
    pub port: u16,
}

/// Splits a Mesos pid `id@host:port` (IPv6 hosts in brackets).
pub fn parse_pid(pid: &str) -> Result<Pid<'_>, String> {
    let mut parts = pid.split('@');
    let (Some(_id), Some(addr), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("{pid:?} is not of the form id@host:port"));
    };
    let (host, port) =
        split_host_port(addr).ok_or_else(|| format!("{pid:?} has no valid host:port"))?;
    Ok(Pid { host, port })
}

/// A state pid as Mesos-DNS's `PID.UnmarshalJSON` and `upid.Parse` leave
/// it: host and port exactly as written, and the host's addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upid<'a> {
    pub host: &'a str,
    pub port: &'a str,
    pub ips: Vec<IpAddr>,
}

/// Reads a framework or agent pid from the raw JSON text of its value, as
/// Mesos-DNS does: the undecoded bytes with `"` and spaces trimmed from both
/// ends (so escapes such as `\u0040` stay as written), exactly one `@`, then
/// Go's `net.ResolveTCPAddr("tcp", …)`: the port a number in 0-65535 (a
/// sign allowed, empty = 0) or a known TCP service name, the host empty or
/// an address or a name that resolves. The host and port text are kept.
pub fn parse_upid<'a>(raw: &'a str, resolver: &dyn Resolver) -> Result<Upid<'a>, String> {
    if raw == "null" {
        return Err("pid is null".into());
    }
    // Quoted and cut: the raw text may be long or span lines.
    let shown = || {
        let cut: String = raw.chars().take(80).collect();
        let more = if cut.len() < raw.len() { "…" } else { "" };
        format!("{cut:?}{more}")
    };
    let text = raw.trim_matches(|c| c == '"' || c == ' ');
    let mut parts = text.split('@');
    let (Some(_id), Some(addr), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("{} does not have exactly one '@'", shown()));
    };
    let (host, port) = go_split_host_port(addr).map_err(|e| format!("{}: {e}", shown()))?;
    go_lookup_port(port).map_err(|e| format!("{}: {e}", shown()))?;
    let ips = host_ips(host, resolver);
    if !host.is_empty() && ips.is_empty() {
        return Err(format!("{}: host {host:?} does not resolve", shown()));
    }
    Ok(Upid { host, port, ips })
}

/// Go's `net.SplitHostPort`: the port is whatever follows the last `:`.
fn go_split_host_port(hp: &str) -> Result<(&str, &str), &'static str> {
    let Some(i) = hp.rfind(':') else {
        return Err("missing port in address");
    };
    let (host, j, k) = if hp.starts_with('[') {
        let Some(end) = hp.find(']') else {
            return Err("missing ']' in address");
        };
        if end + 1 == hp.len() {
            return Err("missing port in address");
        } else if end + 1 != i {
            return Err(if hp.as_bytes()[end + 1] == b':' {
                "too many colons in address"
            } else {
                "missing port in address"
            });
        }
        (&hp[1..end], 1, end + 1)
    } else {
        let host = &hp[..i];
        if host.contains(':') {
            return Err("too many colons in address");
        }
        (host, 0, 0)
    };
    if hp[j..].contains('[') {
        return Err("unexpected '[' in address");
    }
    if hp[k..].contains(']') {
        return Err("unexpected ']' in address");
    }
    Ok((host, &hp[i + 1..]))
}

/// Go's `LookupPort("tcp", …)` (pure Go resolver): only whether it fails.
fn go_lookup_port(service: &str) -> Result<(), String> {
    let digits = service.strip_prefix(['+', '-']).unwrap_or(service);
    if digits.bytes().all(|b| b.is_ascii_digit()) {
        // Go saturates; anything past 65535 (or below 0) is invalid.
        let n = digits.bytes().try_fold(0u32, |n, b| {
            n.checked_mul(10)?.checked_add(u32::from(b - b'0'))
        });
        return match n {
            Some(n) if n <= 65535 && !(service.starts_with('-') && n > 0) => Ok(()),
            _ => Err(format!("invalid port {service:?}")),
        };
    }
    if known_tcp_service(service) {
        Ok(())
    } else {
        Err(format!("unknown port tcp/{service}"))
    }
}

/// Whether Go's pure resolver knows a TCP service name: its built-in table
/// plus `/etc/services`, matched in ASCII lower case, at most 25 bytes.
fn known_tcp_service(service: &str) -> bool {
    static TABLE: OnceLock<Vec<String>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut names: Vec<String> = [
            "ftp", "ftps", "gopher", "http", "https", "imap2", "imap3", "imaps", "pop3", "pop3s",
            "smtp", "ssh", "telnet",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Ok(text) = std::fs::read_to_string("/etc/services") {
            for line in text.lines() {
                let line = line.split('#').next().unwrap_or("");
                let f: Vec<&str> = line
                    .split([' ', '\r', '\t', '\n'])
                    .filter(|s| !s.is_empty())
                    .collect();
                let Some((port, net)) = f.get(1).and_then(|pn| pn.split_once('/')) else {
                    continue;
                };
                let port_ok = !port.is_empty()
                    && port.bytes().all(|b| b.is_ascii_digit())
                    && port.parse::<u32>().is_ok_and(|p| p > 0);
                if port_ok && net == "tcp" {
                    names.extend(
                        f.iter()
                            .enumerate()
                            .filter(|(i, _)| *i != 1)
                            .map(|(_, n)| n.to_string()),
                    );
                }
            }
        }
        names
    });
    service.len() <= 25 && {
        let lower = service.to_ascii_lowercase();
        table.contains(&lower)
    }
}

/// Go's `net.SplitHostPort` for `host:port` / `[v6]:port` with a numeric port.
pub fn split_host_port(addr: &str) -> Option<(&str, u16)> {
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':')?)
    } else {
        let (host, port) = addr.rsplit_once(':')?;
        if host.contains(':') {
            return None;
        }
        (host, port)
    };
    if host.is_empty() || port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((host, port.parse().ok()?))
}

/// An IP address literal, bracketed or not.
pub(super) fn ip_literal(host: &str) -> Option<IpAddr> {
    let inner = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    inner.parse().ok()
}

/// `IPs(host)`: the literal, or every address the resolver gives. As in
/// Mesos-DNS, a bracketed IPv6 address (`[fd00::1]`) is neither.
pub(super) fn host_ips(host: &str, resolver: &dyn Resolver) -> Vec<IpAddr> {
    if host.is_empty() {
        return Vec::new();
    }
    match host.parse::<IpAddr>() {
        Ok(ip) => vec![canonical(ip)],
        Err(_) => resolver.lookup(host),
    }
}

/// Go's `net.JoinHostPort`: IPv6 hosts in brackets.
pub(super) fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
