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
}

impl Ownership {
    pub fn new(domain: &str, exclude: &[String]) -> Ownership {
        Ownership {
            domain: normalize_name(domain),
            exclude: exclude.iter().map(|e| normalize_name(e)).collect(),
        }
    }

    /// Whether a name is below the domain, not a wildcard and not excluded.
    pub fn owns_name(&self, name: &str) -> bool {
        let below = name.len() > self.domain.len() + 1
            && name.ends_with(&self.domain)
            && name.as_bytes()[name.len() - self.domain.len() - 1] == b'.';
        below && !is_wildcard(name) && !self.is_excluded(name)
    }

    pub fn is_excluded(&self, name: &str) -> bool {
        self.exclude.iter().any(|p| glob_match(p, name))
    }

    /// Whether a record in the zone is the tool's to change or delete.
    pub fn owns(&self, rec: &ZoneRecord) -> bool {
        !never_owned(rec)
            && RecordType::parse(&rec.rtype.to_ascii_uppercase()).is_some()
            && self.owns_name(&normalize_name(&rec.domain))
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
pub fn publishable(records: Vec<Record>, own: &Ownership) -> (Vec<Record>, Skipped) {
    let mut skipped = Skipped::default();
    let mut out = Vec::with_capacity(records.len());
    for mut rec in records {
        if !is_publishable_name(&rec.name) {
            log::debug!("not publishable, skipped: {} {}", rec.name, rec.rtype);
            skipped.names += 1;
            continue;
        }
        if own.is_excluded(&rec.name) {
            skipped.excluded += 1;
            continue;
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
            continue;
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
                continue;
            }
        }
        out.push(rec);
    }
    (out, skipped)
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

/// The marker's text.
pub fn marker_text(domain: &str) -> String {
    format!("mesos2ns1 owns the A, AAAA and SRV records below {domain}")
}

/// Whether the zone listing holds the domain's ownership marker.
pub fn is_claimed(zone: &[ZoneRecord], domain: &str) -> bool {
    let name = marker_name(domain);
    zone.iter()
        .any(|r| r.rtype.eq_ignore_ascii_case("TXT") && normalize_name(&r.domain) == name)
}
