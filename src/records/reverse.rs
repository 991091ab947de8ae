//! Reverse (PTR) records, as AVENTER-UG/mesos-dns v0.10.1 builds them
//! (`records/generator.go` `taskContextRecord` and `insertRR`,
//! `resolver/resolver.go` `handlePTR`), placed into the reverse zones the
//! operator lists (`--reverse-zone`).
//!
//! The rule: every IP of every task that gets records (`TIPs`, the IPs of
//! the first IP source that has one) claims `reverse(IP) → N.FW.D`, `N`
//! being each name the task's block is emitted for (the task name label,
//! or the raw and the sanitized DiscoveryInfo name). A reverse name is
//! served only when exactly one distinct target claims it in the whole
//! cluster (`handlePTR` answers nothing for two or more). Each served name
//! goes into the listed zone that holds it at a label boundary (the most
//! specific one when listed zones nest); an address in no listed zone gets
//! none.
//!
//! Memory: one claim per distinct task IP inside a listed zone (at most one
//! per A/AAAA answer of the forward set, which `--max-records` bounds), and
//! one record per served reverse name.

use super::set::{NameId, Record, RecordSet, RecordType, canonical};
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A reverse zone the operator listed: `N.in-addr.arpa` (1 to 4 octet
/// labels) or `N.ip6.arpa` (1 to 32 nibble labels), lowercase, no trailing
/// dot. It stands for the address prefix its labels spell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReverseZone {
    name: String,
    net: Net,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Net {
    V4 { prefix: u32, bits: u32 },
    V6 { prefix: u128, bits: u32 },
}

impl ReverseZone {
    /// The zone's name (lowercase, no trailing dot).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The prefix length the zone covers (8 per octet, 4 per nibble).
    pub fn prefix_len(&self) -> u32 {
        match self.net {
            Net::V4 { bits, .. } | Net::V6 { bits, .. } => bits,
        }
    }

    /// Whether `reverse_name(ip)` lies in this zone (at a label boundary).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (Net::V4 { prefix, bits }, IpAddr::V4(v4)) => {
                bits == 0 || u32::from(v4) >> (32 - bits) == prefix >> (32 - bits)
            }
            (Net::V6 { prefix, bits }, IpAddr::V6(v6)) => {
                bits == 0 || u128::from(v6) >> (128 - bits) == prefix >> (128 - bits)
            }
            _ => false,
        }
    }
}

impl fmt::Display for ReverseZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl FromStr for ReverseZone {
    type Err = String;

    /// Reads a zone name such as `10.in-addr.arpa`, `168.192.in-addr.arpa.`
    /// or `8.b.d.0.1.0.0.2.ip6.arpa`. Anything else is an error naming the
    /// rule it breaks.
    fn from_str(s: &str) -> Result<ReverseZone, String> {
        let name = s.trim().trim_end_matches('.').to_ascii_lowercase();
        let bad = |why: &str| Err(format!("reverse zone {s:?}: {why}"));
        if let Some(rest) = strip_suffix_label(&name, "in-addr.arpa") {
            if rest.is_empty() {
                return bad("give a zone below in-addr.arpa, such as 10.in-addr.arpa");
            }
            let labels: Vec<&str> = rest.split('.').collect();
            if labels.len() > 4 {
                return bad("an in-addr.arpa zone has at most 4 octet labels");
            }
            let mut prefix = 0u32;
            for (i, l) in labels.iter().rev().enumerate() {
                let octet = match l.parse::<u8>() {
                    Ok(o) if o.to_string() == *l => o,
                    _ if l.contains('/') || l.contains('-') => {
                        return bad(&format!(
                            "label {l:?} looks like an RFC 2317 classless delegation, which is not supported; \
                             list the enclosing octet zone instead"
                        ));
                    }
                    _ => {
                        return bad(&format!(
                            "label {l:?} is not an octet (0 to 255, no leading zeros)"
                        ));
                    }
                };
                prefix |= u32::from(octet) << (24 - 8 * i);
            }
            let bits = 8 * labels.len() as u32;
            return Ok(ReverseZone {
                name,
                net: Net::V4 { prefix, bits },
            });
        }
        if let Some(rest) = strip_suffix_label(&name, "ip6.arpa") {
            if rest.is_empty() {
                return bad("give a zone below ip6.arpa, such as 8.b.d.0.1.0.0.2.ip6.arpa");
            }
            let labels: Vec<&str> = rest.split('.').collect();
            if labels.len() > 32 {
                return bad("an ip6.arpa zone has at most 32 nibble labels");
            }
            let mut prefix = 0u128;
            for (i, l) in labels.iter().rev().enumerate() {
                let nibble = match (l.len(), u8::from_str_radix(l, 16)) {
                    (1, Ok(n)) => n,
                    _ => {
                        return bad(&format!(
                            "label {l:?} is not one hexadecimal digit (ip6.arpa zones are written nibble by nibble)"
                        ));
                    }
                };
                prefix |= u128::from(nibble) << (124 - 4 * i);
            }
            let bits = 4 * labels.len() as u32;
            return Ok(ReverseZone {
                name,
                net: Net::V6 { prefix, bits },
            });
        }
        bad("a reverse zone must end in .in-addr.arpa (IPv4) or .ip6.arpa (IPv6)")
    }
}

/// `name` without `.suffix` (or `""` when it is `suffix` itself); `None`
/// when `suffix` is not its last labels.
fn strip_suffix_label<'a>(name: &'a str, suffix: &str) -> Option<&'a str> {
    if name == suffix {
        return Some("");
    }
    name.strip_suffix(suffix)?.strip_suffix('.')
}

/// Parses and checks a list of reverse zones: each valid, none listed twice.
pub fn parse_reverse_zones<S: AsRef<str>>(items: &[S]) -> Result<Vec<ReverseZone>, String> {
    let mut out: Vec<ReverseZone> = Vec::new();
    for item in items {
        let zone: ReverseZone = item.as_ref().parse()?;
        if out.contains(&zone) {
            return Err(format!("reverse zone {:?} is listed twice", zone.name));
        }
        out.push(zone);
    }
    Ok(out)
}

/// The reverse name of an address, as miekg/dns `ReverseAddr` writes it
/// (without the trailing dot): `d.c.b.a.in-addr.arpa` for IPv4 (and
/// IPv4-mapped IPv6), 32 lowercase nibbles then `ip6.arpa` for IPv6.
pub fn reverse_name(ip: IpAddr) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(72);
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            let _ = write!(out, "{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0]);
        }
        IpAddr::V6(v6) => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            for b in v6.octets().iter().rev() {
                out.push(HEX[(b & 0xf) as usize] as char);
                out.push('.');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push('.');
            }
            out.push_str("ip6.arpa");
        }
    }
    out
}

/// The listed zone that holds `ip`'s reverse name: the most specific one
/// when listed zones nest.
pub fn zone_for(zones: &[ReverseZone], ip: IpAddr) -> Option<usize> {
    zones
        .iter()
        .enumerate()
        .filter(|(_, z)| z.contains(ip))
        .max_by_key(|(_, z)| z.prefix_len())
        .map(|(i, _)| i)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Claim {
    /// One target (a name of the forward set) so far.
    One(NameId),
    /// Two or more distinct targets: no PTR (`handlePTR`).
    Ambiguous,
}

/// The PTR claims of a generation: reverse name (by address) → target.
#[derive(Debug)]
pub struct PtrClaims {
    zones: Vec<ReverseZone>,
    claims: HashMap<IpAddr, (u32, Claim)>,
}

impl PtrClaims {
    pub fn new(zones: &[ReverseZone]) -> PtrClaims {
        PtrClaims {
            zones: zones.to_vec(),
            claims: HashMap::new(),
        }
    }

    /// `ip` claims its reverse name for `target` (a name of the forward
    /// set). An address in no listed zone is not recorded.
    pub fn claim(&mut self, ip: IpAddr, target: NameId) {
        let ip = canonical(ip);
        if let Some((_, claim)) = self.claims.get_mut(&ip) {
            if *claim != Claim::One(target) {
                *claim = Claim::Ambiguous;
            }
            return;
        }
        if let Some(z) = zone_for(&self.zones, ip) {
            self.claims.insert(ip, (z as u32, Claim::One(target)));
        }
    }

    /// The served PTR records, by zone; target names are read from `set`.
    pub fn finish(self, set: &RecordSet) -> ReverseSet {
        let mut zones: Vec<ZonePtrs> = self
            .zones
            .iter()
            .map(|z| ZonePtrs {
                zone: z.name.clone(),
                records: Vec::new(),
            })
            .collect();
        let mut ambiguous = 0;
        for (ip, (z, claim)) in self.claims {
            match claim {
                Claim::One(target) => zones[z as usize].records.push(Record {
                    name: reverse_name(ip),
                    rtype: RecordType::PTR,
                    answers: vec![set.name_of(target).to_string()],
                }),
                Claim::Ambiguous => ambiguous += 1,
            }
        }
        for z in &mut zones {
            z.records.sort_unstable();
        }
        ReverseSet { zones, ambiguous }
    }
}

/// The PTR records of one listed reverse zone, sorted by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZonePtrs {
    /// The zone, as listed (lowercase, no trailing dot).
    pub zone: String,
    /// `{name: reverse name, type: PTR, answers: [target]}`, sorted.
    pub records: Vec<Record>,
}

/// The reverse records of a generation: one entry per listed zone, in the
/// order the zones were listed (empty when none is listed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReverseSet {
    pub zones: Vec<ZonePtrs>,
    /// Reverse names inside a listed zone that two or more distinct
    /// targets claim, so that none is served.
    pub ambiguous: usize,
}

impl ReverseSet {
    /// Every PTR record of every zone, sorted by name (reverse names are
    /// unique across zones: each lies in exactly one).
    pub fn records(&self) -> Vec<&Record> {
        let mut all: Vec<&Record> = self.zones.iter().flat_map(|z| &z.records).collect();
        all.sort_unstable();
        all
    }

    /// The records of the listed zone `zone`.
    pub fn zone(&self, zone: &str) -> Option<&[Record]> {
        self.zones
            .iter()
            .find(|z| z.zone == zone)
            .map(|z| z.records.as_slice())
    }

    /// Number of PTR records in all zones.
    pub fn len(&self) -> usize {
        self.zones.iter().map(|z| z.records.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn reverse_names_as_miekg_dns_writes_them() {
        assert_eq!(reverse_name(ip("10.11.0.5")), "5.0.11.10.in-addr.arpa");
        assert_eq!(reverse_name(ip("::ffff:9.0.10.1")), "1.10.0.9.in-addr.arpa");
        assert_eq!(
            reverse_name(ip("2001:db8::567:89ab")),
            "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
    }

    #[test]
    fn zones_parse_and_contain_at_label_boundaries() {
        let z: ReverseZone = "10.in-addr.arpa.".parse().unwrap();
        assert_eq!(z.name(), "10.in-addr.arpa");
        assert!(z.contains(ip("10.11.0.5")));
        assert!(!z.contains(ip("11.0.0.10")));
        let z1: ReverseZone = "1.10.IN-ADDR.ARPA".parse().unwrap();
        assert!(!z1.contains(ip("10.11.0.5")));
        assert!(z1.contains(ip("10.1.200.5")));
        assert!(!z1.contains(ip("fd00::1")));
        let z6: ReverseZone = "8.b.d.0.1.0.0.2.ip6.arpa".parse().unwrap();
        assert_eq!(z6.prefix_len(), 32);
        assert!(z6.contains(ip("2001:db8::1")));
        assert!(!z6.contains(ip("2001:db9::1")));
        assert!(!z6.contains(ip("10.0.0.1")));
        let full: ReverseZone = "5.0.11.10.in-addr.arpa".parse().unwrap();
        assert!(full.contains(ip("10.11.0.5")));
        assert!(!full.contains(ip("10.11.0.50")));
        let zones = [z, z1, full];
        assert_eq!(zone_for(&zones, ip("10.1.0.1")), Some(1));
        assert_eq!(zone_for(&zones, ip("10.11.0.5")), Some(2));
        assert_eq!(zone_for(&zones, ip("10.11.0.6")), Some(0));
        assert_eq!(zone_for(&zones, ip("192.168.0.1")), None);
    }

    #[test]
    fn bad_zones_are_clear_errors() {
        for (zone, why) in [
            ("mesos.example.com", "must end in .in-addr.arpa"),
            ("in-addr.arpa", "below in-addr.arpa"),
            ("ip6.arpa", "below ip6.arpa"),
            ("256.in-addr.arpa", "not an octet"),
            ("010.in-addr.arpa", "not an octet"),
            ("1.2.3.4.5.in-addr.arpa", "at most 4"),
            ("0/25.2.0.192.in-addr.arpa", "RFC 2317"),
            ("0-25.2.0.192.in-addr.arpa", "RFC 2317"),
            ("ab.ip6.arpa", "one hexadecimal digit"),
            ("g.ip6.arpa", "one hexadecimal digit"),
            ("xin-addr.arpa", "must end in"),
            ("", "must end in"),
        ] {
            let e = zone.parse::<ReverseZone>().unwrap_err();
            assert!(e.contains(why), "{zone}: {e}");
        }
        let e = parse_reverse_zones(&["10.in-addr.arpa", "10.in-addr.arpa."]).unwrap_err();
        assert!(e.contains("listed twice"), "{e}");
    }
}
