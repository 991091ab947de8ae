//! `RecordSet`: name and type → set of answers, as Mesos-DNS stores it.
//!
//! Names are interned once and answers are kept in compact form, so that a
//! state of 100,000 tasks fits in memory a few times the state's own size.
//! Sorting and de-duplication happen once, when the set is read out.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::rc::Rc;

/// The record types Mesos-DNS produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordType {
    A,
    #[allow(clippy::upper_case_acronyms)]
    AAAA,
    #[allow(clippy::upper_case_acronyms)]
    SRV,
}

impl RecordType {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::AAAA => "AAAA",
            RecordType::SRV => "SRV",
        }
    }

    pub fn parse(s: &str) -> Option<RecordType> {
        match s {
            "A" => Some(RecordType::A),
            "AAAA" => Some(RecordType::AAAA),
            "SRV" => Some(RecordType::SRV),
            _ => None,
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One record in normalized form: lowercase name without trailing dot,
/// answers sorted and unique; SRV answers are `"priority weight port target"`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Record {
    pub name: String,
    pub rtype: RecordType,
    pub answers: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Answer {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
    /// An address kept as written (leader and master hosts, spec §7).
    Text {
        v6: bool,
        text: u32,
    },
    Srv {
        port: i64,
        target: u32,
    },
}

impl Answer {
    fn rtype(&self) -> RecordType {
        match self {
            Answer::V4(_) | Answer::Text { v6: false, .. } => RecordType::A,
            Answer::V6(_) | Answer::Text { v6: true, .. } => RecordType::AAAA,
            Answer::Srv { .. } => RecordType::SRV,
        }
    }
}

/// The set of records generated from one Mesos state.
#[derive(Debug)]
pub struct RecordSet {
    index: HashMap<Rc<str>, u32>,
    names: Vec<Rc<str>>,
    pairs: Vec<(u32, Answer)>,
    srv_weight: u32,
}

impl RecordSet {
    pub fn new(srv_weight: u32) -> RecordSet {
        RecordSet {
            index: HashMap::new(),
            names: Vec::new(),
            pairs: Vec::new(),
            srv_weight,
        }
    }

    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.index.get(s) {
            return id;
        }
        let id = self.names.len() as u32;
        let shared: Rc<str> = s.into();
        self.names.push(Rc::clone(&shared));
        self.index.insert(shared, id);
        id
    }

    fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    /// Adds an A or AAAA answer; IPv4-mapped IPv6 becomes A (spec §1).
    pub fn add_ip(&mut self, name: &str, ip: IpAddr) {
        let answer = match canonical(ip) {
            IpAddr::V4(v4) => Answer::V4(v4),
            IpAddr::V6(v6) => Answer::V6(v6),
        };
        let id = self.intern(name);
        self.pairs.push((id, answer));
    }

    /// Adds an address answer kept exactly as written; `ip` classifies it.
    pub fn add_ip_as_written(&mut self, name: &str, written: &str, ip: IpAddr) {
        let v6 = matches!(canonical(ip), IpAddr::V6(_));
        if written == canonical(ip).to_string() {
            return self.add_ip(name, ip);
        }
        let text = self.intern(written);
        let id = self.intern(name);
        self.pairs.push((id, Answer::Text { v6, text }));
    }

    /// Adds an SRV answer `0 <weight> <port> <target>`.
    pub fn add_srv(&mut self, name: &str, target: &str, port: i64) {
        let target = self.intern(target);
        let id = self.intern(name);
        self.pairs.push((id, Answer::Srv { port, target }));
    }

    /// Whether `name` already has the address answer `ip`.
    pub fn has_ip(&self, name: &str, ip: IpAddr) -> bool {
        let Some(&id) = self.index.get(name) else {
            return false;
        };
        let want = match canonical(ip) {
            IpAddr::V4(v4) => Answer::V4(v4),
            IpAddr::V6(v6) => Answer::V6(v6),
        };
        self.pairs.iter().any(|&(n, a)| {
            n == id
                && (a == want
                    || matches!(a, Answer::Text { text, .. }
                        if self.name(text).parse::<IpAddr>().ok().map(canonical) == Some(canonical(ip))))
        })
    }

    fn format_answer(&self, a: Answer, out: &mut String) {
        use std::fmt::Write;
        out.clear();
        let _ = match a {
            Answer::V4(ip) => write!(out, "{ip}"),
            Answer::V6(ip) => write!(out, "{ip}"),
            Answer::Text { text, .. } => write!(out, "{}", self.name(text)),
            Answer::Srv { port, target } => {
                write!(out, "0 {} {} {}", self.srv_weight, port, self.name(target))
            }
        };
    }

    /// Number of distinct (name, type) pairs. Sorts internally.
    pub fn len(&mut self) -> usize {
        let mut n = 0;
        self.for_each(|_, _, _| n += 1);
        n
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Visits every record in normalized order: by name, then type; answers
    /// sorted as strings and unique. Streams, so the whole normalized set is
    /// never held in memory at once.
    pub fn for_each(&mut self, mut visit: impl FnMut(&str, RecordType, &[String])) {
        // Rank names by their text once, then sort the compact pairs.
        let mut order: Vec<u32> = (0..self.names.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| self.name(a).cmp(self.name(b)));
        let mut rank = vec![0u32; order.len()];
        for (r, &id) in order.iter().enumerate() {
            rank[id as usize] = r as u32;
        }
        self.pairs
            .sort_unstable_by_key(|&(id, a)| (rank[id as usize], a.rtype(), a));
        self.pairs.dedup();
        let mut answers: Vec<String> = Vec::new();
        let mut buf = String::new();
        let mut i = 0;
        while i < self.pairs.len() {
            let (id, first) = self.pairs[i];
            let rtype = first.rtype();
            answers.clear();
            while i < self.pairs.len() && self.pairs[i].0 == id && self.pairs[i].1.rtype() == rtype
            {
                self.format_answer(self.pairs[i].1, &mut buf);
                answers.push(buf.clone());
                i += 1;
            }
            answers.sort_unstable();
            answers.dedup();
            visit(self.name(id), rtype, &answers);
        }
    }

    /// The whole set in normalized form, sorted by (name, type).
    pub fn records(&mut self) -> Vec<Record> {
        let mut out = Vec::new();
        self.for_each(|name, rtype, answers| {
            out.push(Record {
                name: name.to_string(),
                rtype,
                answers: answers.to_vec(),
            })
        });
        out
    }
}

/// IPv4-mapped IPv6 addresses are IPv4 (Go's `net.IP.To4`).
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}
