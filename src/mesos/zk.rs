//! Leader detection through ZooKeeper, as Mesos does it (`zk` in a
//! Mesos-DNS config, e.g. `zk://10.0.0.1:2181,10.0.0.2:2181/mesos`).
//!
//! Every Mesos master contending for leadership holds an ephemeral
//! sequential znode `json.info_<sequence>` under the path, whose data is
//! its `MasterInfo` as JSON (Mesos ≥ 0.24). The leader is the member with
//! the lowest sequence number. Its address is read from `address.ip` and
//! `address.port`, falling back to `address.hostname`, then to the pre-0.24
//! fields (`ip`, a packed IPv4 address, and `port`), then to `hostname`
//! and `pid`, as Mesos-DNS and the Mesos CLI do.
//!
//! The client (`zookeeper-client`) tries the ensemble members in turn, so
//! one member being down does not stop detection. The whole detection,
//! connecting included, is bounded by one timeout.
//!
//! Bounds: every reply frame passes a relay ([`relay`]) that refuses one
//! announcing more than [`MAX_REPLY`] bytes (ZooKeeper's own 1 MB limit)
//! at its length prefix, so the client library never buffers more than
//! one such frame; a children list over it (more than about 43,000
//! `json.info_` names) fails detection the same way. Only the
//! [`MAX_INFO_READ`] lowest `json.info_` nodes are read.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde_json::Value;

mod relay;
pub use relay::MAX_REPLY;

/// How many `json.info_` nodes (the lowest sequence numbers) are read: the
/// leader and the masters after it. Mesos runs 3 or 5 masters; a path with
/// more nodes than this is either misused or under attack, and reading
/// them all would cost one request each.
pub const MAX_INFO_READ: usize = 16;

/// The prefix of the znodes Mesos masters register (Mesos ≥ 0.24).
pub const INFO_PREFIX: &str = "json.info_";

/// A parsed `zk://host:port[,host:port...]/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkUrl {
    /// `host:port` (`[v6]:port`) entries; a missing port is 2181.
    pub hosts: Vec<String>,
    /// The znode the masters register under, e.g. `/mesos`.
    pub path: String,
}

impl fmt::Display for ZkUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "zk://{}{}", self.hosts.join(","), self.path)
    }
}

/// Parses a Mesos `zk://` URL. User info (`zk://user:pass@...`) and file
/// references (`file:///...`) are not supported.
pub fn parse_zk_url(s: &str) -> Result<ZkUrl, String> {
    let s = s.trim();
    let Some(rest) = s.strip_prefix("zk://") else {
        return Err(format!(
            "{s:?} is not a zk:// URL (zk://host:port,.../path)"
        ));
    };
    let (hosts, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if hosts.contains('@') {
        return Err(format!(
            "{s:?}: ZooKeeper credentials in the URL are not supported"
        ));
    }
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        return Err(format!(
            "{s:?} has no znode path (e.g. zk://host:2181/mesos)"
        ));
    }
    if path.contains("//") || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{s:?}: {path:?} is not a valid znode path"));
    }
    let mut out = Vec::new();
    for h in hosts.split(',') {
        let h = h.trim();
        if h.is_empty() {
            return Err(format!("{s:?} has an empty host"));
        }
        let (host, port) = split_host_port(h).ok_or_else(|| {
            format!("{s:?}: {h:?} is not host[:port] (IPv6 addresses in brackets)")
        })?;
        out.push(join_host_port(&host, port));
    }
    Ok(ZkUrl {
        hosts: out,
        path: path.to_string(),
    })
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; port 2181 when missing.
fn split_host_port(h: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = h.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<std::net::Ipv6Addr>().ok()?;
        match after {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?)),
        }
    } else {
        match h.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, Some(port)),
            Some(_) => return None,
            None => (h, None),
        }
    };
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'))
    {
        return None;
    }
    let port = match port {
        None => 2181,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse::<u16>().ok().filter(|&p| p != 0)?
        }
        Some(_) => return None,
    };
    Some((host.to_string(), port))
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// What ZooKeeper says about the masters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    /// The leader's `host:port`.
    pub leader: String,
    /// Every registered master's `host:port`, leader first, then by
    /// sequence number (masters whose data cannot be read are left out).
    pub masters: Vec<String>,
}

/// Why detection failed, in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkError(pub String);

impl fmt::Display for ZkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ZkError {}

/// The sequence number of a `json.info_<n>` child; `None` for other nodes.
pub fn info_sequence(child: &str) -> Option<i64> {
    let n = child.strip_prefix(INFO_PREFIX)?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return None;
    }
    n.parse().ok()
}

/// The `json.info_*` children, lowest sequence first.
pub fn info_children(children: &[String]) -> Vec<&str> {
    let mut v: Vec<(i64, &str)> = children
        .iter()
        .filter_map(|c| info_sequence(c).map(|n| (n, c.as_str())))
        .collect();
    v.sort();
    v.into_iter().map(|(_, c)| c).collect()
}

/// The address (`host:port`) in a master's `MasterInfo` JSON.
pub fn master_address(data: &[u8]) -> Result<String, String> {
    let v: Value =
        serde_json::from_slice(data).map_err(|e| format!("MasterInfo is not valid JSON: {e}"))?;
    if !v.is_object() {
        return Err("MasterInfo is not a JSON object".into());
    }
    let text = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let port_of = |v: &Value| {
        v.get("port")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|&p| p != 0)
    };
    let top_port = port_of(&v);
    if let Some(addr) = v.get("address").filter(|a| a.is_object()) {
        let port = port_of(addr).or(top_port).unwrap_or(5050);
        if let Some(ip) = text(addr, "ip") {
            return host_entry(&ip, port);
        }
        if let Some(host) = text(addr, "hostname") {
            return host_entry(&host, port);
        }
    }
    let port = top_port.unwrap_or(5050);
    // Before 0.24: `ip` is the IPv4 address as the master's in_addr.s_addr,
    // i.e. network byte order read as a little-endian number.
    if let Some(ip) = v
        .get("ip")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n != 0)
    {
        return Ok(join_host_port(
            &Ipv4Addr::from(ip.to_le_bytes()).to_string(),
            port,
        ));
    }
    if let Some(host) = text(&v, "hostname") {
        return host_entry(&host, port);
    }
    if let Some(pid) = text(&v, "pid")
        && let Some((_, addr)) = pid.split_once('@')
        && let Some((host, p)) = split_host_port(addr)
    {
        return Ok(join_host_port(&host, p));
    }
    Err("MasterInfo has no address (address.ip, hostname, ip or pid)".into())
}

fn host_entry(host: &str, port: u16) -> Result<String, String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ok = host.parse::<IpAddr>().is_ok()
        || host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if host.is_empty() || !ok {
        return Err(format!("MasterInfo names an invalid host {host:?}"));
    }
    Ok(join_host_port(host, port))
}

/// The masters a run asks for the state after ZooKeeper detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// Entries to try, in order: configured entries keep their spelling
    /// (and scheme).
    pub masters: Vec<String>,
    /// ZooKeeper's masters (`host:port`, leader first) that may be named by
    /// the `master<i>` records.
    pub zk_masters: Vec<String>,
    /// Why ZooKeeper's leader is not contacted, and what to list; `None`
    /// when it is.
    pub refused_leader: Option<String>,
}

/// Whether the ZooKeeper address `zk_addr` (`host:port`) is the configured
/// `masters` entry `entry`: same port, and the same host compared without
/// resolving anything (IP literals as addresses, IPv4-mapped IPv6 equal to
/// IPv4; names case-insensitively). A name never matches an address.
pub fn is_configured(zk_addr: &str, entry: &str, https: bool) -> bool {
    let (Some((host, port)), Ok(m)) = (split_host_port(zk_addr), super::parse_master(entry, https))
    else {
        return false;
    };
    port == m.port && super::master::same_host(&host, &m.host)
}

/// Orders the masters to ask after detection.
///
/// Without Mesos credentials (`credentials` false), as Mesos-DNS does: the
/// masters ZooKeeper names (leader first), then the configured ones not
/// already named.
///
/// With credentials, ZooKeeper is not trusted to name hosts: its path is
/// writable by any ZooKeeper client, and the secret (and the trust to
/// publish a cluster) belongs only to the configured `masters`. A master
/// ZooKeeper names is asked only when it is a configured entry ([`is_configured`]);
/// the others are never contacted, with or without credentials. The
/// configured entries follow in their own order. When ZooKeeper's leader is
/// refused, `refused_leader` says so and what to list; with no configured
/// master at all the result is that message as an error.
pub fn choose_masters(
    found: &Detected,
    configured: &[String],
    https: bool,
    credentials: bool,
    url: &ZkUrl,
) -> Result<Chosen, String> {
    if !credentials {
        let mut masters = found.masters.clone();
        for m in configured {
            if !masters.contains(m) {
                masters.push(m.clone());
            }
        }
        return Ok(Chosen {
            masters,
            zk_masters: found.masters.clone(),
            refused_leader: None,
        });
    }
    let mut masters: Vec<String> = Vec::new();
    let mut zk_masters = Vec::new();
    let mut refused = Vec::new();
    for addr in &found.masters {
        match configured.iter().find(|e| is_configured(addr, e, https)) {
            Some(entry) => {
                zk_masters.push(addr.clone());
                if !masters.contains(entry) {
                    masters.push(entry.clone());
                }
            }
            None => refused.push(addr.as_str()),
        }
    }
    for m in configured {
        if !masters.contains(m) {
            masters.push(m.clone());
        }
    }
    if !refused.is_empty() {
        log::debug!(
            "ZooKeeper {url}: not contacted (not in the masters list): {}",
            refused.join(", ")
        );
    }
    let leader = &found.leader;
    if !refused.contains(&leader.as_str()) {
        return Ok(Chosen {
            masters,
            zk_masters,
            refused_leader: None,
        });
    }
    let why = format!(
        "ZooKeeper {url} names {leader} as the leading master, but it is not in the masters list: \
         with Mesos credentials configured only hosts of that list are contacted (any ZooKeeper \
         client can register a master under {}), so {leader} was not asked for the state; \
         if it is a Mesos master, add {leader} to masters (--masters or \"masters\", host:port \
         as ZooKeeper registers it)",
        url.path
    );
    if masters.is_empty() {
        return Err(why);
    }
    Ok(Chosen {
        masters,
        zk_masters,
        refused_leader: Some(why),
    })
}

/// Finds the leading master. `timeout` bounds everything (zero: error).
pub fn detect(url: &ZkUrl, timeout: Duration) -> Result<Detected, ZkError> {
    if timeout.is_zero() {
        return Err(ZkError(format!(
            "ZooKeeper {url}: no time left for leader detection"
        )));
    }
    let end = std::time::Instant::now() + timeout;
    let per_member = per_member_timeout(url, timeout);
    let relays = relay::Relays::start(&url.hosts, per_member, end).map_err(|e| {
        ZkError(format!(
            "ZooKeeper {url}: cannot start the reply relay: {e}"
        ))
    })?;
    let work = detect_async(url.clone(), relays.addrs.join(","), timeout);
    let url_text = url.to_string();
    let limit = async move {
        async_io::Timer::after(timeout).await;
        Err(ZkError(format!(
            "ZooKeeper {url_text}: no leader detected within {:.1}s",
            timeout.as_secs_f64()
        )))
    };
    let result = spawns_executor::block_on(futures_lite::future::or(work, limit));
    match (result, relays.refused()) {
        (Err(_), Some(why)) => Err(ZkError(format!("ZooKeeper {url}: {why}"))),
        (result, _) => result,
    }
}

/// Per member: how long to wait for the TCP connection and the session,
/// so that a member that is down still leaves time for the others.
fn per_member_timeout(url: &ZkUrl, timeout: Duration) -> Duration {
    (timeout / (url.hosts.len() as u32 + 1))
        .clamp(Duration::from_millis(500), Duration::from_secs(10))
}

/// Detection proper, through the relays at `connect` (see [`relay`]).
async fn detect_async(url: ZkUrl, connect: String, timeout: Duration) -> Result<Detected, ZkError> {
    use zookeeper_client as zk;
    let fail = |what: &str, e: zk::Error| ZkError(format!("ZooKeeper {url}: {what}: {e}"));
    // Session timeouts are negotiated by the server (by default 4 to 40 s);
    // the session only lives for this detection.
    let session = timeout.clamp(Duration::from_secs(4), Duration::from_secs(30));
    let per_member = per_member_timeout(&url, timeout);
    // Every member is tried once per pass. A pass in which none answers
    // (all down, or the ensemble electing a leader) is tried again after a
    // pause, up to three passes while the budget lasts.
    let started = std::time::Instant::now();
    let mut pass = 0;
    let client = loop {
        pass += 1;
        let attempt = zk::Client::connector()
            .with_session_timeout(session)
            .with_connection_timeout(per_member)
            .with_fail_eagerly()
            .connect(&connect)
            .await;
        match attempt {
            Ok(client) => break client,
            Err(zk::Error::NoHosts) if pass < 3 && started.elapsed() * 2 < timeout => {
                log::debug!("ZooKeeper {url}: no member answered (pass {pass}); trying again");
                async_io::Timer::after(Duration::from_millis(500)).await;
            }
            Err(zk::Error::NoHosts) => {
                return Err(ZkError(format!(
                    "ZooKeeper {url}: no ensemble member answered (detection budget {:.1}s)",
                    timeout.as_secs_f64()
                )));
            }
            Err(e) => return Err(fail("connecting", e)),
        }
    };
    // A leader may go away between listing and reading: list again.
    for _ in 0..3 {
        let children = client.list_children(&url.path).await.map_err(|e| match e {
            zk::Error::NoNode => ZkError(format!(
                "ZooKeeper {url}: the path {} does not exist (no Mesos master registered there)",
                url.path
            )),
            e => fail("listing the masters", e),
        })?;
        let infos = info_children(&children);
        if infos.is_empty() {
            return Err(ZkError(format!(
                "ZooKeeper {url}: no leading master ({} has no {INFO_PREFIX}* node)",
                url.path
            )));
        }
        if infos.len() > MAX_INFO_READ {
            log::warn!(
                "ZooKeeper {url}: {} {INFO_PREFIX}* nodes under {}; only the {MAX_INFO_READ} lowest are read",
                infos.len(),
                url.path
            );
        }
        let mut masters: Vec<String> = Vec::new();
        let mut leader_gone = false;
        for (i, child) in infos.iter().take(MAX_INFO_READ).enumerate() {
            let node = format!("{}/{child}", url.path);
            let address = match client.get_data(&node).await {
                Ok((data, _)) => master_address(&data),
                Err(zk::Error::NoNode) => {
                    if i == 0 {
                        leader_gone = true;
                        break;
                    }
                    continue;
                }
                Err(e) => return Err(fail(&format!("reading {node}"), e)),
            };
            match address {
                Ok(a) => {
                    if !masters.contains(&a) {
                        masters.push(a);
                    }
                }
                Err(e) if i == 0 => {
                    return Err(ZkError(format!(
                        "ZooKeeper {url}: the leader's node {node}: {e}"
                    )));
                }
                Err(e) => log::warn!("ZooKeeper {url}: {node}: {e}; master left out"),
            }
        }
        if leader_gone {
            log::debug!("ZooKeeper {url}: the leader's node went away; listing again");
            continue;
        }
        let leader = masters[0].clone();
        log::info!(
            "ZooKeeper {url}: leading master {leader} ({} registered)",
            masters.len()
        );
        return Ok(Detected { leader, masters });
    }
    Err(ZkError(format!(
        "ZooKeeper {url}: the leader changed while being read, three times"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_like_mesos_zk_urls() {
        let u = parse_zk_url("zk://10.0.0.1:2181,10.0.0.2:2182/mesos").unwrap();
        assert_eq!(u.hosts, ["10.0.0.1:2181", "10.0.0.2:2182"]);
        assert_eq!(u.path, "/mesos");
        let u = parse_zk_url("zk://zk1.example,[fd00::1]:2181,[fd00::2]/a/b/").unwrap();
        assert_eq!(
            u.hosts,
            ["zk1.example:2181", "[fd00::1]:2181", "[fd00::2]:2181"]
        );
        assert_eq!(u.path, "/a/b");
        assert_eq!(
            u.to_string(),
            "zk://zk1.example:2181,[fd00::1]:2181,[fd00::2]:2181/a/b"
        );
        for bad in [
            "",
            "10.0.0.1:2181/mesos",
            "http://10.0.0.1:2181/mesos",
            "zk://10.0.0.1:2181",
            "zk://10.0.0.1:2181/",
            "zk:///mesos",
            "zk://a,,b/mesos",
            "zk://u:p@10.0.0.1:2181/mesos",
            "zk://10.0.0.1:99999/mesos",
            "zk://10.0.0.1:0/mesos",
            "zk://fd00::1:2181/mesos",
            "zk://10.0.0.1:2181/me sos",
            "zk://10.0.0.1:2181/a//b",
        ] {
            assert!(parse_zk_url(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_lowest_sequence_json_info_child_leads() {
        let children: Vec<String> = [
            "json.info_0000000012",
            "info_0000000001",
            "log_replicas",
            "json.info_0000000010",
            "json.info_",
            "json.info_x",
            "json.info_0000000011",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            info_children(&children),
            [
                "json.info_0000000010",
                "json.info_0000000011",
                "json.info_0000000012"
            ]
        );
    }

    #[test]
    fn with_credentials_only_configured_masters_are_asked() {
        let url = parse_zk_url("zk://10.0.0.9:2181/mesos").unwrap();
        let found = Detected {
            leader: "10.0.0.66:5050".into(),
            masters: vec![
                "10.0.0.66:5050".into(),
                "10.0.0.2:5050".into(),
                "10.0.0.1:5051".into(),
            ],
        };
        let configured = vec![
            "https://10.0.0.1:5050".to_string(),
            "10.0.0.2:5050".to_string(),
        ];
        // Without credentials: Mesos-DNS's order, ZooKeeper's hosts first.
        let c = choose_masters(&found, &configured, false, false, &url).unwrap();
        assert_eq!(
            c.masters,
            [
                "10.0.0.66:5050",
                "10.0.0.2:5050",
                "10.0.0.1:5051",
                "https://10.0.0.1:5050"
            ]
        );
        assert_eq!(c.refused_leader, None);
        // With credentials: the leader and the master on another port are
        // refused; the configured spelling is kept.
        let c = choose_masters(&found, &configured, false, true, &url).unwrap();
        assert_eq!(c.masters, ["10.0.0.2:5050", "https://10.0.0.1:5050"]);
        assert_eq!(c.zk_masters, ["10.0.0.2:5050"]);
        let why = c.refused_leader.unwrap();
        assert!(why.contains("add 10.0.0.66:5050 to masters"), "{why}");
        // Nothing configured: an error saying what to list.
        let e = choose_masters(&found, &[], false, true, &url).unwrap_err();
        assert!(e.contains("add 10.0.0.66:5050 to masters"), "{e}");
        // A configured leader is asked first.
        let configured = vec!["10.0.0.2:5050".to_string(), "10.0.0.66:5050".to_string()];
        let c = choose_masters(&found, &configured, false, true, &url).unwrap();
        assert_eq!(c.masters, ["10.0.0.66:5050", "10.0.0.2:5050"]);
        assert_eq!(c.refused_leader, None);
    }

    #[test]
    fn configured_means_same_host_and_port_without_resolving() {
        assert!(is_configured("10.0.0.1:5050", "10.0.0.1:5050", false));
        assert!(is_configured(
            "10.0.0.1:5050",
            "https://10.0.0.1:5050",
            false
        ));
        assert!(is_configured(
            "[::ffff:10.0.0.1]:5050",
            "10.0.0.1:5050",
            false
        ));
        assert!(is_configured("M1.example:5050", "m1.example:5050", false));
        assert!(!is_configured("10.0.0.1:5051", "10.0.0.1:5050", false));
        assert!(!is_configured("10.0.0.1:5050", "m1.example:5050", false));
        assert!(!is_configured(
            "m1.example.evil:5050",
            "m1.example:5050",
            false
        ));
        assert!(!is_configured("10.0.0.1:5050", "not a master", false));
    }

    #[test]
    fn master_info_addresses_as_mesos_writes_them() {
        // Mesos 1.x.
        let v1 = br#"{"address":{"hostname":"m1.example","ip":"10.0.0.1","port":5050},
            "hostname":"m1.example","id":"x","ip":16777226,"pid":"master@10.0.0.1:5050",
            "port":5050,"version":"1.4.0"}"#;
        assert_eq!(master_address(v1).unwrap(), "10.0.0.1:5050");
        // No address.ip: its hostname.
        let named =
            br#"{"address":{"hostname":"m1.example","port":5051},"ip":16777226,"port":5050}"#;
        assert_eq!(master_address(named).unwrap(), "m1.example:5051");
        // Before 0.24: the packed IPv4 address (10.0.0.1 is 0x0100000a).
        let old = br#"{"id":"x","ip":16777226,"port":5050,"pid":"master@10.0.0.1:5050"}"#;
        assert_eq!(master_address(old).unwrap(), "10.0.0.1:5050");
        let v6 = br#"{"address":{"ip":"fd00::1","port":5050}}"#;
        assert_eq!(master_address(v6).unwrap(), "[fd00::1]:5050");
        let pid_only = br#"{"pid":"master@10.0.0.7:5050"}"#;
        assert_eq!(master_address(pid_only).unwrap(), "10.0.0.7:5050");
        for bad in [
            &b"master@10.0.0.1:5050"[..],
            b"[]",
            b"{}",
            br#"{"address":{"ip":"a b"}}"#,
        ] {
            assert!(
                master_address(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
