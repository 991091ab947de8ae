//! `RecordSet`: name and type → set of answers, as Mesos-DNS stores it.
//!
//! Names are interned once and answers are kept in compact form, so that a
//! state of 100,000 tasks fits in memory a few times the state's own size.
//! Sorting and de-duplication happen once, when the set is read out.

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;
use std::fmt;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The record types Mesos-DNS produces: A, AAAA and SRV in the forward
/// set, PTR in the reverse set (AVENTER-UG/mesos-dns, `--reverse-zone`).
/// Declared in the order of their names, so that sorting by type is
/// sorting by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordType {
    A,
    #[allow(clippy::upper_case_acronyms)]
    AAAA,
    #[allow(clippy::upper_case_acronyms)]
    PTR,
    #[allow(clippy::upper_case_acronyms)]
    SRV,
}

impl RecordType {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::AAAA => "AAAA",
            RecordType::PTR => "PTR",
            RecordType::SRV => "SRV",
        }
    }

    /// A type of the forward set (A, AAAA, SRV); `None` for anything
    /// else, PTR included. The forward zone's ownership reads types with
    /// this, so a PTR record under the forward domain is never the tool's.
    pub fn parse(s: &str) -> Option<RecordType> {
        match s {
            "A" => Some(RecordType::A),
            "AAAA" => Some(RecordType::AAAA),
            "SRV" => Some(RecordType::SRV),
            _ => None,
        }
    }

    /// Any type the tool produces, PTR included (for reverse zones).
    pub fn parse_any(s: &str) -> Option<RecordType> {
        match s {
            "PTR" => Some(RecordType::PTR),
            other => RecordType::parse(other),
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

/// An interned name.
pub type NameId = u32;

/// One answer in compact form (12 bytes). IPv6 addresses and SRV ports
/// outside `u32` (a DiscoveryInfo port may be any integer) live in side
/// tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Answer {
    V4(Ipv4Addr),
    V6(u32),
    /// An address kept as written (leader and master hosts, spec §7).
    Text {
        v6: bool,
        text: NameId,
    },
    Srv {
        port: u32,
        target: NameId,
    },
    SrvWide {
        port_index: u32,
        target: NameId,
    },
    /// A port kept as text (a pid port such as `http` or `+80`, which
    /// Mesos-DNS stores as written).
    SrvText {
        port: NameId,
        target: NameId,
    },
}

impl Answer {
    fn rtype(&self) -> RecordType {
        match self {
            Answer::V4(_) | Answer::Text { v6: false, .. } => RecordType::A,
            Answer::V6(_) | Answer::Text { v6: true, .. } => RecordType::AAAA,
            Answer::Srv { .. } | Answer::SrvWide { .. } | Answer::SrvText { .. } => RecordType::SRV,
        }
    }
}

/// The set of records generated from one Mesos state.
#[derive(Debug)]
pub struct RecordSet {
    /// Every name's text, back to back in chunks of about 1 MiB (so that
    /// growing never copies or over-allocates much); `spans[id]` is
    /// (chunk, start, length).
    arena: Vec<String>,
    spans: Vec<Span>,
    /// Name ids by the hash of their text.
    index: HashTable<NameId>,
    pairs: Vec<(NameId, Answer)>,
    wide_ports: Vec<i64>,
    v6: Vec<Ipv6Addr>,
    srv_weight: u32,
    /// Tasks whose SRV records were skipped for their port bound.
    pub tasks_over_port_bound: usize,
    /// Warnings about the state's values (labels, port bounds), said once
    /// each at the end of generation.
    pub notes: crate::text::Tally,
}

impl RecordSet {
    pub fn new(srv_weight: u32) -> RecordSet {
        RecordSet {
            arena: Vec::new(),
            spans: Vec::new(),
            index: HashTable::new(),
            pairs: Vec::new(),
            wide_ports: Vec::new(),
            v6: Vec::new(),
            srv_weight,
            tasks_over_port_bound: 0,
            notes: Default::default(),
        }
    }

    /// Reserves room for about `answers` answers and `names` names.
    pub fn reserve(&mut self, answers: usize, names: usize) {
        self.pairs.reserve(answers);
        self.spans.reserve(names);
        let (arena, spans) = (&self.arena, &self.spans);
        self.index.reserve(names, |&id| {
            FxBuildHasher.hash_one(span_text(arena, spans, id))
        });
    }

    /// The id of a name, interning it on first use.
    pub fn intern(&mut self, s: &str) -> NameId {
        let hash = FxBuildHasher.hash_one(s);
        let (arena, spans) = (&self.arena, &self.spans);
        if let Some(&id) = self
            .index
            .find(hash, |&id| span_text(arena, spans, id) == s)
        {
            return id;
        }
        let id = self.spans.len() as NameId;
        let fits = self
            .arena
            .last()
            .is_some_and(|c| c.capacity() - c.len() >= s.len());
        if !fits {
            self.arena.push(String::with_capacity(CHUNK.max(s.len())));
        }
        let chunk = self.arena.len() - 1;
        let text = &mut self.arena[chunk];
        self.spans.push(Span {
            chunk: chunk as u32,
            start: text.len() as u32,
            len: s.len() as u32,
        });
        text.push_str(s);
        let (arena, spans) = (&self.arena, &self.spans);
        self.index.insert_unique(hash, id, |&id| {
            FxBuildHasher.hash_one(span_text(arena, spans, id))
        });
        id
    }

    fn lookup(&self, s: &str) -> Option<NameId> {
        let hash = FxBuildHasher.hash_one(s);
        self.index.find(hash, |&id| self.name(id) == s).copied()
    }

    fn name(&self, id: NameId) -> &str {
        span_text(&self.arena, &self.spans, id)
    }

    /// The text of an interned name.
    pub fn name_of(&self, id: NameId) -> &str {
        self.name(id)
    }

    /// Adds an A or AAAA answer; IPv4-mapped IPv6 becomes A (spec §1).
    pub fn add_ip(&mut self, name: &str, ip: IpAddr) {
        let id = self.intern(name);
        self.add_ip_to(id, ip);
    }

    /// [`add_ip`](Self::add_ip) for an interned name.
    pub fn add_ip_to(&mut self, id: NameId, ip: IpAddr) {
        let answer = self.ip_answer(ip);
        self.pairs.push((id, answer));
    }

    fn ip_answer(&mut self, ip: IpAddr) -> Answer {
        match canonical(ip) {
            IpAddr::V4(v4) => Answer::V4(v4),
            IpAddr::V6(v6) => {
                self.v6.push(v6);
                Answer::V6((self.v6.len() - 1) as u32)
            }
        }
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
        self.add_srv_to(id, target, port);
    }

    /// [`add_srv`](Self::add_srv) for interned names.
    pub fn add_srv_to(&mut self, id: NameId, target: NameId, port: i64) {
        let answer = match u32::try_from(port) {
            Ok(port) => Answer::Srv { port, target },
            Err(_) => {
                self.wide_ports.push(port);
                Answer::SrvWide {
                    port_index: (self.wide_ports.len() - 1) as u32,
                    target,
                }
            }
        };
        self.pairs.push((id, answer));
    }

    /// Adds an SRV answer whose port is kept as written (a pid port); a
    /// plain decimal port is stored as a number.
    pub fn add_srv_text(&mut self, name: &str, target: &str, port: &str) {
        let canonical = port == "0" || (!port.starts_with('0') && port.len() <= 9);
        match port.parse::<u32>() {
            Ok(n) if canonical && port.bytes().all(|b| b.is_ascii_digit()) => {
                self.add_srv(name, target, n.into())
            }
            _ => {
                let port = self.intern(port);
                let target = self.intern(target);
                let id = self.intern(name);
                self.pairs.push((id, Answer::SrvText { port, target }));
            }
        }
    }

    /// Answers added so far (before duplicates merge).
    pub fn answers(&self) -> usize {
        self.pairs.len()
    }

    /// Whether `name` already has the address answer `ip`.
    pub fn has_ip(&self, name: &str, ip: IpAddr) -> bool {
        let Some(id) = self.lookup(name) else {
            return false;
        };
        let want = Some(canonical(ip));
        self.pairs
            .iter()
            .any(|&(n, a)| n == id && self.answer_ip(a) == want)
    }

    fn answer_ip(&self, a: Answer) -> Option<IpAddr> {
        match a {
            Answer::V4(v4) => Some(IpAddr::V4(v4)),
            Answer::V6(i) => Some(IpAddr::V6(self.v6[i as usize])),
            Answer::Text { text, .. } => self.name(text).parse().ok().map(canonical),
            _ => None,
        }
    }

    fn format_answer(&self, a: Answer, out: &mut String) {
        use std::fmt::Write;
        out.clear();
        let _ = match a {
            Answer::V4(ip) => write!(out, "{ip}"),
            Answer::V6(i) => write!(out, "{}", self.v6[i as usize]),
            Answer::Text { text, .. } => write!(out, "{}", self.name(text)),
            Answer::Srv { port, target } => {
                write!(out, "0 {} {} {}", self.srv_weight, port, self.name(target))
            }
            Answer::SrvWide { port_index, target } => write!(
                out,
                "0 {} {} {}",
                self.srv_weight,
                self.wide_ports[port_index as usize],
                self.name(target)
            ),
            Answer::SrvText { port, target } => write!(
                out,
                "0 {} {} {}",
                self.srv_weight,
                self.name(port),
                self.name(target)
            ),
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
        let mut order: Vec<u32> = (0..self.spans.len() as u32).collect();
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

/// Size of a name chunk. A longer name gets a chunk of its own.
const CHUNK: usize = 1 << 20;

#[derive(Debug, Clone, Copy)]
struct Span {
    chunk: u32,
    start: u32,
    len: u32,
}

fn span_text<'a>(arena: &'a [String], spans: &[Span], id: NameId) -> &'a str {
    let Span { chunk, start, len } = spans[id as usize];
    &arena[chunk as usize][start as usize..(start + len) as usize]
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
