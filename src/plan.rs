//! The plan: the difference between the desired record set and the zone,
//! restricted to what the tool owns, and the safety checks that may refuse
//! it. No I/O here.

use crate::ns1::{ZoneRecord, normalize_name, normalize_short_answer};
use crate::records::labels::is_publishable_name;
use crate::records::{Record, RecordType};
use std::collections::HashMap;
use std::fmt;

/// What the tool owns: A, AAAA and SRV records strictly below `domain`,
/// except names matching an exclusion.
#[derive(Debug, Clone)]
pub struct Ownership {
    pub domain: String,
    /// Exact names, or patterns where `*` matches any run of characters
    /// (`*.manual.mesos.example.com`, `static-*.mesos.example.com`).
    pub exclude: Vec<String>,
}

impl Ownership {
    pub fn new(domain: &str, exclude: &[String]) -> Ownership {
        Ownership {
            domain: normalize_name(domain),
            exclude: exclude.iter().map(|e| normalize_name(e)).collect(),
        }
    }

    /// Whether a name is below the domain and not excluded.
    pub fn owns_name(&self, name: &str) -> bool {
        let below = name.len() > self.domain.len() + 1
            && name.ends_with(&self.domain)
            && name.as_bytes()[name.len() - self.domain.len() - 1] == b'.';
        below && !self.is_excluded(name)
    }

    pub fn is_excluded(&self, name: &str) -> bool {
        self.exclude.iter().any(|p| glob_match(p, name))
    }

    /// Whether a record in the zone is the tool's to change or delete.
    pub fn owns(&self, rec: &ZoneRecord) -> bool {
        RecordType::parse(&rec.rtype.to_ascii_uppercase()).is_some()
            && self.owns_name(&normalize_name(&rec.domain))
    }
}

/// `*` matches any run of characters (including dots); everything else is
/// literal.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
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
            log::warn!("generated name {} is outside the domain, skipped", rec.name);
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Create,
    Update,
    Delete,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        })
    }
}

/// The answers and TTL of one record set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordData {
    pub ttl: Option<u32>,
    pub answers: Vec<String>,
}

/// One change to one (name, type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub action: Action,
    pub name: String,
    pub rtype: RecordType,
    pub old: Option<RecordData>,
    pub new: Option<RecordData>,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |d: &Option<RecordData>| match d {
            Some(d) => format!(
                "ttl {} [{}]",
                d.ttl.map_or("?".to_string(), |t| t.to_string()),
                d.answers.join(", ")
            ),
            None => "-".to_string(),
        };
        match self.action {
            Action::Create => write!(f, "create {} {} {}", self.name, self.rtype, show(&self.new)),
            Action::Delete => write!(f, "delete {} {} {}", self.name, self.rtype, show(&self.old)),
            Action::Update => write!(
                f,
                "update {} {} {} -> {}",
                self.name,
                self.rtype,
                show(&self.old),
                show(&self.new)
            ),
        }
    }
}

/// The changes that make the owned part of the zone match the desired set,
/// sorted: creates, then updates, then deletes, each by name and type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// Desired (publishable) records.
    pub desired: usize,
    /// Owned records now in the zone.
    pub owned: usize,
    /// Desired records already right.
    pub unchanged: usize,
    /// Zone records left alone because the tool does not own them.
    pub foreign: usize,
}

impl Plan {
    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Creates={}, Updates={}, Deletes={}, Existing={}",
            self.count(Action::Create),
            self.count(Action::Update),
            self.count(Action::Delete),
            self.owned
        )
    }
}

/// Answers compared by meaning: numbers as numbers, no trailing dots,
/// canonical IP text, no order.
fn normalized(rtype: RecordType, answers: &[String]) -> Vec<String> {
    let mut v: Vec<String> = answers
        .iter()
        .map(|a| normalize_short_answer(rtype.as_str(), a))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Computes the plan. `desired` must already be publishable and unique per
/// (name, type), as [`publishable`] leaves it, with answers in the
/// generator's canonical form (sorted, unique, canonical IP and SRV text).
/// Both inputs are consumed so that their strings move into the plan
/// instead of being copied: a large zone is held only once.
pub fn compute(desired: Vec<Record>, zone: Vec<ZoneRecord>, own: &Ownership, ttl: u32) -> Plan {
    let mut current: HashMap<(String, RecordType), RecordData> = HashMap::with_capacity(zone.len());
    let mut foreign = 0;
    for rec in zone {
        if !own.owns(&rec) {
            foreign += 1;
            continue;
        }
        let rtype = RecordType::parse(&rec.rtype.to_ascii_uppercase()).unwrap_or(RecordType::A);
        let answers = normalized(rtype, &rec.answers);
        let entry = current
            .entry((normalize_name(&rec.domain), rtype))
            .or_insert(RecordData {
                ttl: rec.ttl,
                answers: Vec::new(),
            });
        if entry.answers.is_empty() {
            entry.answers = answers;
        } else {
            // The same (name, type) listed twice: merge.
            entry.answers.extend(answers);
            entry.answers.sort();
            entry.answers.dedup();
        }
    }
    let owned = current.len();
    let mut plan = Plan {
        desired: desired.len(),
        owned,
        foreign,
        ..Plan::default()
    };
    let mut creates = Vec::new();
    let mut updates = Vec::new();
    for rec in desired {
        let key = (rec.name, rec.rtype);
        let new = RecordData {
            ttl: Some(ttl),
            answers: rec.answers,
        };
        match current.remove(&key) {
            None => creates.push(Change {
                action: Action::Create,
                name: key.0,
                rtype: key.1,
                old: None,
                new: Some(new),
            }),
            Some(old) => {
                let ttl_differs = old.ttl.is_some_and(|t| t != ttl);
                if old.answers != new.answers || ttl_differs {
                    updates.push(Change {
                        action: Action::Update,
                        name: key.0,
                        rtype: key.1,
                        old: Some(old),
                        new: Some(new),
                    });
                } else {
                    plan.unchanged += 1;
                }
            }
        }
    }
    let deletes = current.into_iter().map(|((name, rtype), old)| Change {
        action: Action::Delete,
        name,
        rtype,
        old: Some(old),
        new: None,
    });
    plan.changes = creates;
    plan.changes.extend(updates);
    plan.changes.extend(deletes);
    plan.changes
        .sort_by(|a, b| (a.action, &a.name, a.rtype).cmp(&(b.action, &b.name, b.rtype)));
    plan
}

/// Figures of a state that passed the checks, kept for the next run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Baseline {
    pub agents: usize,
    pub running_tasks: usize,
}

/// Why a plan was refused, with the figures and how to override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub check: &'static str,
    pub detail: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refused by the {} check: {}; nothing was written. If this is intended, run once with --force",
            self.check, self.detail
        )
    }
}

/// Smallest owned-record count at which the mass-change check applies.
pub const MASS_CHANGE_MIN_RECORDS: usize = 10;

/// The safety checks (mass change, implausible state). `max_share` is a
/// fraction (0.3 = 30%).
pub fn check_safety(
    plan: &Plan,
    max_share: f64,
    now: Baseline,
    last_good: Option<Baseline>,
) -> Result<(), Refusal> {
    check_state(now, last_good, plan.owned)?;
    check_mass_change(plan, max_share)
}

/// The implausible-state check alone: no agents (when the zone holds owned
/// records or an earlier run saw agents), or fewer than half the agents or
/// running tasks of the last good run.
pub fn check_state(
    now: Baseline,
    last_good: Option<Baseline>,
    owned: usize,
) -> Result<(), Refusal> {
    let has_owned = owned > 0;
    if now.agents == 0 && (has_owned || last_good.is_some_and(|b| b.agents > 0)) {
        return Err(Refusal {
            check: "implausible-state",
            detail: format!(
                "the state lists no agents (last good run: {} agents, {} running tasks; the zone holds {} owned records)",
                last_good.map_or(0, |b| b.agents),
                last_good.map_or(0, |b| b.running_tasks),
                owned
            ),
        });
    }
    if let Some(last) = last_good {
        if now.agents * 2 < last.agents {
            return Err(Refusal {
                check: "implausible-state",
                detail: format!(
                    "{} agents now, fewer than half of the {} in the last good run",
                    now.agents, last.agents
                ),
            });
        }
        if now.running_tasks * 2 < last.running_tasks {
            return Err(Refusal {
                check: "implausible-state",
                detail: format!(
                    "{} running tasks now, fewer than half of the {} in the last good run",
                    now.running_tasks, last.running_tasks
                ),
            });
        }
    }
    Ok(())
}

/// The mass-change check alone.
pub fn check_mass_change(plan: &Plan, max_share: f64) -> Result<(), Refusal> {
    if plan.owned >= MASS_CHANGE_MIN_RECORDS {
        for action in [Action::Delete, Action::Update] {
            let n = plan.count(action);
            let share = n as f64 / plan.owned as f64;
            if share > max_share {
                return Err(Refusal {
                    check: "mass-change",
                    detail: format!(
                        "{n} {}s of {} owned records ({:.1}%) exceed the limit of {:.1}% (--max-change-percent)",
                        action,
                        plan.owned,
                        share * 100.0,
                        max_share * 100.0
                    ),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zr(domain: &str, rtype: &str, ttl: u32, answers: &[&str]) -> ZoneRecord {
        ZoneRecord {
            domain: domain.into(),
            rtype: rtype.into(),
            ttl: Some(ttl),
            answers: answers.iter().map(|s| s.to_string()).collect(),
            tier: Some(1),
        }
    }

    fn rec(name: &str, rtype: RecordType, answers: &[&str]) -> Record {
        Record {
            name: name.into(),
            rtype,
            answers: answers.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn own() -> Ownership {
        Ownership::new(
            "mesos.example.com",
            &[
                "static.mesos.example.com".into(),
                "*.manual.mesos.example.com".into(),
            ],
        )
    }

    #[test]
    fn ownership() {
        let o = own();
        assert!(o.owns_name("web.marathon.mesos.example.com"));
        assert!(!o.owns_name("mesos.example.com"));
        assert!(!o.owns_name("xmesos.example.com"));
        assert!(!o.owns_name("www.example.com"));
        assert!(!o.owns_name("static.mesos.example.com"));
        assert!(!o.owns_name("a.b.manual.mesos.example.com"));
        assert!(o.owns(&zr("Web.Mesos.Example.com.", "A", 60, &["1.2.3.4"])));
        assert!(!o.owns(&zr("web.mesos.example.com", "TXT", 60, &["x"])));
        assert!(!o.owns(&zr("web.mesos.example.com", "CNAME", 60, &["x"])));
        assert!(glob_match("static-*.m", "static-1.m"));
        assert!(glob_match("*", "anything"));
        assert!(!glob_match("a*b*c", "acb"));
        assert!(glob_match("a*b*c", "a-b-c"));
    }

    #[test]
    fn diff_compares_by_meaning() {
        let desired = vec![
            rec(
                "a.mesos.example.com",
                RecordType::A,
                &["10.0.0.1", "10.0.0.2"],
            ),
            rec(
                "_s._tcp.mesos.example.com",
                RecordType::SRV,
                &["0 1 80 t.mesos.example.com"],
            ),
            rec("v6.mesos.example.com", RecordType::AAAA, &["fd00::1"]),
            rec("new.mesos.example.com", RecordType::A, &["10.0.0.9"]),
            rec("ttl.mesos.example.com", RecordType::A, &["10.0.0.9"]),
            rec("chg.mesos.example.com", RecordType::A, &["10.0.0.7"]),
        ];
        let zone = vec![
            zr("example.com", "NS", 3600, &["dns1.p01.nsone.net"]),
            zr("www.example.com", "A", 300, &["192.0.2.1"]),
            zr("a.mesos.example.com", "A", 60, &["10.0.0.2", "10.0.0.1"]),
            zr(
                "_s._tcp.mesos.example.com",
                "SRV",
                60,
                &["00 01 080 T.mesos.example.com."],
            ),
            zr("v6.mesos.example.com", "AAAA", 60, &["FD00:0:0::1"]),
            zr("ttl.mesos.example.com", "A", 300, &["10.0.0.9"]),
            zr("chg.mesos.example.com", "A", 60, &["10.0.0.8"]),
            zr("gone.mesos.example.com", "A", 60, &["10.0.0.3"]),
            zr("static.mesos.example.com", "A", 60, &["10.0.0.4"]),
            zr("txt.mesos.example.com", "TXT", 60, &["hello"]),
        ];
        let plan = compute(desired, zone, &own(), 60);
        let summary: Vec<String> = plan
            .changes
            .iter()
            .map(|c| format!("{} {}", c.action, c.name))
            .collect();
        assert_eq!(
            summary,
            vec![
                "create new.mesos.example.com",
                "update chg.mesos.example.com",
                "update ttl.mesos.example.com",
                "delete gone.mesos.example.com",
            ]
        );
        assert_eq!(plan.unchanged, 3);
        assert_eq!(plan.owned, 6);
        assert_eq!(plan.foreign, 4);
        assert_eq!(
            plan.to_string(),
            "Creates=1, Updates=2, Deletes=1, Existing=6"
        );
    }

    #[test]
    fn publishable_filter_never_repairs() {
        let o = own();
        let (out, skipped) = publishable(
            vec![
                rec("Big.mesos.example.com", RecordType::A, &["10.0.0.1"]),
                rec("..mesos.example.com", RecordType::A, &["10.0.0.1"]),
                rec("x-.mesos.example.com", RecordType::A, &["10.0.0.1"]),
                rec(
                    "_s._tcp.mesos.example.com",
                    RecordType::SRV,
                    &[
                        "0 1 80 Big.mesos.example.com",
                        "0 1 81 ok.mesos.example.com",
                    ],
                ),
                rec(
                    "_t._tcp.mesos.example.com",
                    RecordType::SRV,
                    &["0 1 80 .mesos.example.com", "0 1 -1 ok.mesos.example.com"],
                ),
                rec("static.mesos.example.com", RecordType::A, &["10.0.0.1"]),
                rec("ok.mesos.example.com", RecordType::A, &["10.0.0.1"]),
            ],
            &o,
        );
        let names: Vec<&str> = out.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["_s._tcp.mesos.example.com", "ok.mesos.example.com"]
        );
        assert_eq!(out[0].answers, vec!["0 1 81 ok.mesos.example.com"]);
        assert_eq!(
            skipped,
            Skipped {
                names: 3,
                answers: 3,
                emptied: 1,
                excluded: 1
            }
        );
    }

    fn plan_with(owned: usize, deletes: usize, updates: usize) -> Plan {
        let mk = |action| Change {
            action,
            name: "x".into(),
            rtype: RecordType::A,
            old: None,
            new: None,
        };
        let mut changes = vec![mk(Action::Delete); deletes];
        changes.extend(vec![mk(Action::Update); updates]);
        changes.extend(vec![mk(Action::Create); 50]);
        Plan {
            changes,
            owned,
            ..Plan::default()
        }
    }

    #[test]
    fn mass_change_threshold() {
        let b = Baseline {
            agents: 3,
            running_tasks: 10,
        };
        assert!(check_safety(&plan_with(10, 3, 3), 0.3, b, Some(b)).is_ok());
        let r = check_safety(&plan_with(10, 4, 0), 0.3, b, Some(b)).unwrap_err();
        assert_eq!(r.check, "mass-change");
        assert!(
            r.detail.contains("4 deletes of 10 owned records (40.0%)"),
            "{}",
            r.detail
        );
        assert!(r.to_string().contains("--force"));
        let r = check_safety(&plan_with(10, 0, 4), 0.3, b, Some(b)).unwrap_err();
        assert!(r.detail.contains("updates"));
        // Below 10 owned records the check does not apply; creates never count.
        assert!(check_safety(&plan_with(9, 9, 0), 0.3, b, Some(b)).is_ok());
    }

    #[test]
    fn implausible_state() {
        let last = Baseline {
            agents: 10,
            running_tasks: 100,
        };
        let p = plan_with(20, 0, 0);
        assert!(
            check_safety(
                &p,
                0.3,
                Baseline {
                    agents: 5,
                    running_tasks: 50
                },
                Some(last)
            )
            .is_ok()
        );
        let r = check_safety(
            &p,
            0.3,
            Baseline {
                agents: 4,
                running_tasks: 100,
            },
            Some(last),
        )
        .unwrap_err();
        assert!(r.detail.contains("4 agents now"), "{}", r.detail);
        let r = check_safety(
            &p,
            0.3,
            Baseline {
                agents: 10,
                running_tasks: 49,
            },
            Some(last),
        )
        .unwrap_err();
        assert!(r.detail.contains("49 running tasks"), "{}", r.detail);
        let r = check_safety(
            &p,
            0.3,
            Baseline {
                agents: 0,
                running_tasks: 0,
            },
            None,
        )
        .unwrap_err();
        assert!(r.detail.contains("no agents"), "{}", r.detail);
        // A new cluster with an empty zone and no history may start empty.
        assert!(check_safety(&plan_with(0, 0, 0), 0.3, Baseline::default(), None).is_ok());
    }
}
