//! What the tool owns: the ownership rule (A, AAAA and SRV strictly below
//! the domain, minus exclusions, never wildcards, linked or advanced
//! records), what may be published at all, and the ownership marker that
//! claims the domain.

use crate::ns1::{ZoneRecord, normalize_name};
use crate::records::labels::is_publishable_name;
use crate::records::{Record, RecordType};

/// What the tool owns: A, AAAA and SRV records strictly below `domain`,
/// except names matching an exclusion, and never wildcard names (a `*`
/// label), linked records or advanced records (tier > 1).
#[derive(Debug, Clone)]
pub struct Ownership {
    pub domain: String,
    /// Exact names, or patterns where `*` matches any run of characters
    /// (`*.manual.mesos.example.com`, `static-*.mesos.example.com`) and
    /// `\*` matches a literal `*` label (`\*.mesos.example.com`).
    pub exclude: Vec<String>,
    /// Domains below `domain` claimed by a marker of their own: nothing
    /// at or below them is the tool's ([`nested_claims`]).
    pub bounds: Vec<String>,
    /// The published-record ledger: when set, a zone record is the
    /// tool's only if its key is in it. `None`: every record in scope
    /// (`adopt`'s view of what it would take over, and `check`).
    pub ledger: Option<Ledger>,
    /// A reverse zone's rule: PTR records strictly below it (instead of
    /// A, AAAA and SRV below the domain).
    pub ptr: bool,
}

impl Ownership {
    pub fn new(domain: &str, exclude: &[String]) -> Ownership {
        Ownership {
            domain: normalize_name(domain),
            exclude: exclude.iter().map(|e| normalize_name(e)).collect(),
            bounds: Vec::new(),
            ledger: None,
            ptr: false,
        }
    }

    /// The rule of a listed reverse zone: PTR records strictly below
    /// `zone`, with the same exclusions, bounds and ledger as the domain.
    pub fn reverse(zone: &str, exclude: &[String]) -> Ownership {
        Ownership {
            ptr: true,
            ..Ownership::new(zone, exclude)
        }
    }

    /// Whether the rule covers records of this type.
    pub fn covers_type(&self, rtype: &str) -> bool {
        let t = RecordType::parse_any(&rtype.to_ascii_uppercase());
        if self.ptr {
            t == Some(RecordType::PTR)
        } else {
            t.is_some_and(|t| t != RecordType::PTR)
        }
    }

    /// The same, bounded by the nested claims of `zone` and, if given,
    /// restricted to the ledger's records.
    pub fn with_zone(mut self, zone: &[ZoneRecord], ledger: Option<Ledger>) -> Ownership {
        self.bounds = nested_claims(zone, &self.domain);
        self.ledger = ledger;
        self
    }

    /// Whether a name is below the domain, not a wildcard, not excluded and
    /// not at or below a nested claim.
    pub fn owns_name(&self, name: &str) -> bool {
        let below = name.len() > self.domain.len() + 1
            && name.ends_with(&self.domain)
            && name.as_bytes()[name.len() - self.domain.len() - 1] == b'.';
        below && !is_wildcard(name) && !self.is_excluded(name) && !self.is_bounded(name)
    }

    /// Whether a nested claim covers the name.
    pub fn is_bounded(&self, name: &str) -> bool {
        self.bounds.iter().any(|b| at_or_below(name, b))
    }

    /// Whether a zone record is in the tool's scope (what it would own
    /// with every key in the ledger): see [`Ownership::owns`].
    pub fn in_scope(&self, rec: &ZoneRecord) -> bool {
        !never_owned(rec)
            && self.covers_type(&rec.rtype)
            && self.owns_name(&normalize_name(&rec.domain))
    }

    pub fn is_excluded(&self, name: &str) -> bool {
        self.exclude.iter().any(|p| glob_match(p, name))
    }

    /// Whether a record in the zone is the tool's to change or delete: in
    /// scope (A, AAAA or SRV strictly below the domain, not excluded, not
    /// linked, advanced or wildcard, not at or below a nested claim) and,
    /// with a ledger, published by the tool.
    pub fn owns(&self, rec: &ZoneRecord) -> bool {
        self.in_scope(rec)
            && self.ledger.as_ref().is_none_or(|l| {
                l.contains(&ledger_key(&rec.domain, &rec.rtype.to_ascii_uppercase()))
            })
    }
}

/// A name with a `*` label.
pub fn is_wildcard(name: &str) -> bool {
    name.split('.').any(|l| l == "*")
}

/// Records the tool never changes or deletes, whatever the domain: linked
/// records, advanced records (tier > 1) and wildcard names.
pub fn never_owned(rec: &ZoneRecord) -> bool {
    rec.link.as_deref().is_some_and(|l| !l.is_empty())
        || rec.tier.is_some_and(|t| t > 1)
        || is_wildcard(&normalize_name(&rec.domain))
}

/// `*` matches any run of characters (including dots); `\*` is a literal
/// `*`; everything else is literal.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    // Split on unescaped `*` only, unescaping `\*` in the pieces.
    let mut parts: Vec<String> = vec![String::new()];
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'*') => {
                chars.next();
                if let Some(last) = parts.last_mut() {
                    last.push('*');
                }
            }
            '*' => parts.push(String::new()),
            c => {
                if let Some(last) = parts.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    if parts.len() == 1 {
        return parts[0] == name;
    }
    let (first, last) = (parts[0].as_str(), parts[parts.len() - 1].as_str());
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid.as_str()) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// What the publishable filter left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Records whose name NS1 cannot hold (uppercase, empty or long labels).
    pub names: usize,
    /// SRV answers dropped because their target is not publishable or the
    /// port is outside 0-65535.
    pub answers: usize,
    /// Records left with no answers after that.
    pub emptied: usize,
    /// Records left alone because an exclusion matches.
    pub excluded: usize,
}

impl Skipped {
    pub fn records(&self) -> usize {
        self.names + self.emptied + self.excluded
    }
}

/// Keeps only what may be published; never repairs a name.
/// Filters in place: no second list of a large record set.
pub fn publishable(mut records: Vec<Record>, own: &Ownership) -> (Vec<Record>, Skipped) {
    let mut skipped = Skipped::default();
    records.retain_mut(|rec| {
        if !is_publishable_name(&rec.name) {
            log::debug!("not publishable, skipped: {} {}", rec.name, rec.rtype);
            skipped.names += 1;
            return false;
        }
        if own.is_excluded(&rec.name) {
            skipped.excluded += 1;
            return false;
        }
        if !own.owns_name(&rec.name) {
            // Never happens with names the generator builds (all end in
            // the domain); kept so that nothing outside it is ever written.
            if skipped.names < 5 {
                log::warn!(
                    "generated name {} is outside the domain, skipped",
                    crate::text::quote(&rec.name)
                );
            }
            skipped.names += 1;
            return false;
        }
        if rec.rtype == RecordType::SRV {
            let before = rec.answers.len();
            let mut rewritten = false;
            rec.answers.retain_mut(|a| {
                rewritten |= served_port(a);
                srv_publishable(a)
            });
            skipped.answers += before - rec.answers.len();
            if rewritten {
                rec.answers.sort_unstable();
                rec.answers.dedup();
            }
            if rec.answers.is_empty() {
                log::debug!("no publishable SRV answer left, skipped: {}", rec.name);
                skipped.emptied += 1;
                return false;
            }
        }
        true
    });
    records.shrink_to_fit();
    (records, skipped)
}

/// A pid port kept as written (`+80`, `080`) is published as the port
/// Mesos-DNS serves for it (Go's `strconv.Atoi`). Returns whether it changed.
fn served_port(answer: &mut String) -> bool {
    let f: Vec<&str> = answer.splitn(4, ' ').collect();
    let [prio, weight, port, target] = f[..] else {
        return false;
    };
    let canonical = match port.parse::<i64>() {
        Ok(n) if (0..=65535).contains(&n) && n.to_string() != port => n.to_string(),
        _ => return false,
    };
    *answer = format!("{prio} {weight} {canonical} {target}");
    true
}

fn srv_publishable(answer: &str) -> bool {
    let f: Vec<&str> = answer.split(' ').collect();
    f.len() == 4
        && f[0].parse::<u16>().is_ok()
        && f[1].parse::<u16>().is_ok()
        && f[2].parse::<u16>().is_ok()
        && is_publishable_name(f[3])
}

/// The ownership marker's name: one TXT record that claims the domain.
pub fn marker_name(domain: &str) -> String {
    format!("_mesos2ns1.{domain}")
}

/// The marker's text: the claim and the cluster that makes it (no `;`,
/// which a zone file would read as a comment).
pub fn marker_text(domain: &str, cluster: &str) -> String {
    format!("mesos2ns1 cluster={cluster} owns the A, AAAA and SRV records below {domain}")
}

/// The marker text of a listed reverse zone: the claim of this cluster's
/// PTR records in it (the zone is shared with the network's other PTRs).
pub fn reverse_marker_text(zone: &str, cluster: &str) -> String {
    format!("mesos2ns1 cluster={cluster} owns the PTR records it published in {zone}")
}

/// The marker text release 0.2.0 wrote (no cluster named).
pub fn legacy_marker_text(domain: &str) -> String {
    format!("mesos2ns1 owns the A, AAAA and SRV records below {domain}")
}

/// The cluster id one marker answer names: the value after `cluster=`
/// (key in any case, spaces around `=` allowed, quotes around the whole
/// text dropped), up to `;`, a space or the end, lower-cased. `None`: a
/// marker of 0.2.0 (no `cluster=`), or an empty value.
pub fn marker_cluster(answer: &str) -> Option<String> {
    let text = answer.trim().trim_matches('"');
    let lower = text.to_ascii_lowercase();
    let mut found = None;
    let mut at = 0;
    while let Some(i) = lower[at..].find("cluster") {
        let start = at + i;
        at = start + "cluster".len();
        // Not part of a longer word (`subcluster=`).
        if lower[..start]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            continue;
        }
        let Some(rest) = lower[at..].trim_start().strip_prefix('=') else {
            continue;
        };
        let value: String = rest
            .trim_start()
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != ';' && *c != '"' && *c != ',')
            .collect();
        if value.is_empty() {
            continue;
        }
        // Two different ids in one answer: the claim is not one cluster's.
        match &found {
            Some(f) if *f != value => return Some(format!("{f}+{value}")),
            _ => found = Some(value),
        }
    }
    found
}

/// Who claims the domain, from the marker records in the zone listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// No marker.
    None,
    /// Every answer of the marker names this cluster (0.2.0 answers
    /// beside it are upgraded away when the marker is written).
    Ours,
    /// Only 0.2.0 markers (no cluster named).
    Legacy,
    /// An answer names another cluster: the ids found (ours among them if
    /// the marker is contested).
    Foreign(Vec<String>),
}

/// The claim on `domain` in a zone listing, for the cluster `ours`. Every
/// TXT record at the marker's name counts, and every answer of each: one
/// answer naming another cluster makes the domain another's.
pub fn claim_of(zone: &[ZoneRecord], domain: &str, ours: &str) -> Claim {
    let name = marker_name(domain);
    let mut ids = std::collections::BTreeSet::new();
    let mut any = false;
    let mut legacy = false;
    for r in zone {
        if !r.rtype.eq_ignore_ascii_case("TXT") || normalize_name(&r.domain) != name {
            continue;
        }
        any = true;
        if r.answers.is_empty() {
            legacy = true;
        }
        for a in &r.answers {
            match marker_cluster(a) {
                Some(id) => {
                    ids.insert(id);
                }
                None => legacy = true,
            }
        }
    }
    if !any {
        return Claim::None;
    }
    let ours = ours.to_ascii_lowercase();
    if ids.iter().any(|id| *id != ours) {
        return Claim::Foreign(ids.into_iter().collect());
    }
    if ids.is_empty() && legacy {
        return Claim::Legacy;
    }
    Claim::Ours
}

/// Whether the zone listing holds the domain's ownership marker (any).
pub fn is_claimed(zone: &[ZoneRecord], domain: &str) -> bool {
    let name = marker_name(domain);
    zone.iter()
        .any(|r| r.rtype.eq_ignore_ascii_case("TXT") && normalize_name(&r.domain) == name)
}

/// The domains strictly below `domain` that carry a marker of their own
/// (whoever's): nothing at or below them is this tool's.
pub fn nested_claims(zone: &[ZoneRecord], domain: &str) -> Vec<String> {
    let suffix = format!(".{domain}");
    let mut out: Vec<String> = zone
        .iter()
        .filter(|r| r.rtype.eq_ignore_ascii_case("TXT"))
        .filter_map(|r| {
            let name = normalize_name(&r.domain);
            let below = name.strip_prefix("_mesos2ns1.")?.to_string();
            below.ends_with(&suffix).then_some(below)
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Whether `name` is `top` or below it.
pub fn at_or_below(name: &str, top: &str) -> bool {
    name == top
        || (name.len() > top.len()
            && name.ends_with(top)
            && name.as_bytes()[name.len() - top.len() - 1] == b'.')
}

/// The published-record ledger's key of one (name, type): the first 8
/// bytes of SHA-256 of `name\ttype`, as a number. Two keys meet by
/// chance with odds of about n²/2⁶⁵ (2.5 million keys: 1 in 6 million).
pub fn ledger_key(name: &str, rtype: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!(
        "{}\t{}",
        normalize_name(name),
        rtype.to_ascii_uppercase()
    ));
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// The keys of the records the tool has published (or was handed over).
pub type Ledger = std::collections::HashSet<u64>;

/// Whether `name` (below `domain`) fits the Mesos-DNS grammar of this
/// cluster: `leader`, `master`, `masterN`, `slave`, `_leader._tcp`,
/// `_leader._udp`, `_slave._tcp`, and anything at or below `FW.domain` or
/// `FW.slave.domain` for a framework label `FW` in `frameworks`.
pub fn fits_grammar(
    name: &str,
    domain: &str,
    frameworks: &std::collections::HashSet<String>,
) -> bool {
    let Some(rel) = name.strip_suffix(domain).and_then(|r| r.strip_suffix('.')) else {
        return false;
    };
    let fixed = [
        "leader",
        "master",
        "slave",
        "_leader._tcp",
        "_leader._udp",
        "_slave._tcp",
    ];
    if fixed.contains(&rel) {
        return true;
    }
    if let Some(n) = rel.strip_prefix("master")
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
    {
        return true;
    }
    let labels: Vec<&str> = rel.split('.').collect();
    let last = labels[labels.len() - 1];
    if last == "slave" && labels.len() >= 2 {
        return frameworks.contains(labels[labels.len() - 2]);
    }
    last != "slave" && frameworks.contains(last)
}

/// The framework labels of the cluster's names: the label just below the
/// domain (or just below `slave.domain`) of each name with a label left
/// of it. A label starting with `_` is never a framework's (Mesos-DNS
/// turns `_` into `-` in framework names): `_leader._tcp.domain` does not
/// make `_tcp` a framework, so people's `_sip._tcp.domain` is not seeded.
pub fn framework_labels<'a>(
    names: impl Iterator<Item = &'a str>,
    domain: &str,
) -> std::collections::HashSet<String> {
    let mut out = std::collections::HashSet::new();
    for name in names {
        let Some(rel) = name.strip_suffix(domain).and_then(|r| r.strip_suffix('.')) else {
            continue;
        };
        let labels: Vec<&str> = rel.split('.').collect();
        let n = labels.len();
        let fw = if n >= 3 && labels[n - 1] == "slave" {
            labels[n - 2]
        } else if n >= 2 && labels[n - 1] != "slave" {
            labels[n - 1]
        } else {
            continue;
        };
        if !fw.starts_with('_') {
            out.insert(fw.to_string());
        }
    }
    out
}
