//! The difference between the desired records and the zone: actions,
//! changes and the plan, compared by meaning.

use super::own::{Ownership, never_owned};
use crate::ns1::{ZoneRecord, normalize_name, normalize_short_answer};
use crate::records::{Record, RecordType};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

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

impl Change {
    /// The answers an update drops: those of `old` that `new` lacks (none
    /// unless the change has both sides, as an update does).
    pub fn removed_answers(&self) -> Vec<&String> {
        let old = self.old.as_ref().map_or(&[][..], |o| &o.answers[..]);
        self.removed_positions()
            .into_iter()
            .filter_map(|i| old.get(i))
            .collect()
    }

    /// [`Change::removed_answers`] as places in `old`'s answers.
    pub fn removed_positions(&self) -> Vec<usize> {
        let (Some(o), Some(n)) = (&self.old, &self.new) else {
            return Vec::new();
        };
        let new: std::collections::HashSet<&str> = n.answers.iter().map(String::as_str).collect();
        o.answers
            .iter()
            .enumerate()
            .filter(|(_, a)| !new.contains(a.as_str()))
            .map(|(i, _)| i)
            .collect()
    }
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
    /// Desired records not written because the zone holds a record of the
    /// same name and type that is never owned (linked, advanced, wildcard).
    pub blocked: usize,
    /// Records in scope that the tool did not publish and the cluster does
    /// not produce (people's records, or records of a cluster it no longer
    /// knows): left alone, listed in a warning; `adopt --yes` removes them.
    pub unowned: Vec<(String, RecordType)>,
    /// Desired records not written because the zone holds a record of the
    /// same name and type that the tool did not publish: left alone,
    /// listed in a warning; `adopt --yes` hands them over. Only records
    /// whose answers differ from the desired ones: see `joined`.
    pub collisions: Vec<(String, RecordType)>,
    /// Desired records the zone already holds, not in the ledger, with
    /// exactly the desired answers (same type, same answers by meaning; a
    /// plain record, as everything in scope is): the record the cluster
    /// produces, so it joins the ledger and is the tool's from now on
    /// (counted in `owned`; a TTL that differs is updated like any owned
    /// record's).
    pub joined: Vec<(String, RecordType)>,
    /// Desired records at or below another claim's domain: not written.
    pub bounded: usize,
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
    normalized_owned(rtype, answers.to_vec())
}

/// [`normalized`] of owned answers: the strings already in normal form
/// (most of a listing's) are kept, not copied.
fn normalized_owned(rtype: RecordType, answers: Vec<String>) -> Vec<String> {
    let mut v: Vec<String> = answers
        .into_iter()
        .map(|a| reuse(a, |a| normalize_short_answer(rtype.as_str(), a)))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// `s` in the form `normal` gives, `s` itself when it is in that form.
fn reuse(s: String, normal: impl Fn(&str) -> String) -> String {
    let n = normal(&s);
    if n == s { s } else { n }
}

/// One zone record's data into the map: the same (name, type) listed
/// twice is merged.
fn merge(data: &mut RecordData, answers: Vec<String>) {
    if data.answers.is_empty() {
        data.answers = answers;
    } else {
        data.answers.extend(answers);
        data.answers.sort();
        data.answers.dedup();
    }
}

/// The change (or none) that makes the owned record of `rec`'s (name,
/// type) hold its answers with `ttl`. A borrowed record is copied only
/// when it becomes a change.
fn finish(
    plan: &mut Plan,
    current: &mut HashMap<(String, RecordType), RecordData>,
    creates: &mut Vec<Change>,
    updates: &mut Vec<Change>,
    key: (String, RecordType),
    rec: Cow<'_, Record>,
    ttl: u32,
) {
    match current.remove(&key) {
        None => creates.push(Change {
            action: Action::Create,
            name: key.0,
            rtype: key.1,
            old: None,
            new: Some(RecordData {
                ttl: Some(ttl),
                answers: rec.into_owned().answers,
            }),
        }),
        Some(old) => {
            let ttl_differs = old.ttl.is_some_and(|t| t != ttl);
            if old.answers != rec.answers || ttl_differs {
                updates.push(Change {
                    action: Action::Update,
                    name: key.0,
                    rtype: key.1,
                    old: Some(old),
                    new: Some(RecordData {
                        ttl: Some(ttl),
                        answers: rec.into_owned().answers,
                    }),
                });
            } else {
                plan.unchanged += 1;
            }
        }
    }
}

/// Computes the plan. `desired` must already be publishable and unique per
/// (name, type), as [`publishable`] leaves it, with answers in the
/// generator's canonical form (sorted, unique, canonical IP and SRV text).
/// Both inputs are consumed so that their strings move into the plan
/// instead of being copied: a large zone is held only once.
pub fn compute(desired: Vec<Record>, zone: Vec<ZoneRecord>, own: &Ownership, ttl: u32) -> Plan {
    let n = desired.len();
    compute_from(desired.into_iter().map(Cow::Owned), n, zone, own, ttl)
}

/// [`compute`] with the desired records borrowed: only those that become
/// changes are copied, so a steady zone's plan costs no copy of the
/// desired set (and the caller keeps it, to plan again after a fresh read).
pub fn compute_borrowed(
    desired: &[Record],
    zone: Vec<ZoneRecord>,
    own: &Ownership,
    ttl: u32,
) -> Plan {
    compute_from(
        desired.iter().map(Cow::Borrowed),
        desired.len(),
        zone,
        own,
        ttl,
    )
}

/// Key of a record set: normalized name and type.
type SetKey = (String, RecordType);

/// The zone listing sorted out: the owned records (merged per name and
/// type), the never-owned keys, the in-scope records the tool did not
/// publish, and how many records are not the tool's.
struct Listed {
    current: HashMap<SetKey, RecordData>,
    never: std::collections::HashSet<SetKey>,
    unowned: std::collections::BTreeMap<SetKey, RecordData>,
    foreign: usize,
}

fn listed(zone: Vec<ZoneRecord>, own: &Ownership) -> Listed {
    // Not sized for the whole listing up front: the map grows as the
    // listing it is made of is given back (see below), not beside all of it.
    let mut current: HashMap<SetKey, RecordData> = HashMap::new();
    let mut never: std::collections::HashSet<SetKey> = Default::default();
    let mut foreign = 0;
    // In scope but not published by the tool: (name, type) → its data.
    let mut unowned: std::collections::BTreeMap<SetKey, RecordData> = Default::default();
    // Consumed in order from its end (reversed first), its room given back
    // as it goes: the listing and the map made of it are not both held in
    // full.
    let mut zone = zone;
    zone.reverse();
    while let Some(rec) = zone.pop() {
        if zone.capacity() > 4096 && zone.len() < zone.capacity() / 2 {
            zone.shrink_to_fit();
        }
        if !own.owns(&rec) {
            foreign += 1;
            if own.in_scope(&rec)
                && let Some(t) = RecordType::parse_any(&rec.rtype.to_ascii_uppercase())
            {
                let data = unowned
                    .entry((normalize_name(&rec.domain), t))
                    .or_insert(RecordData {
                        ttl: rec.ttl,
                        answers: Vec::new(),
                    });
                merge(data, normalized(t, &rec.answers));
            }
            if never_owned(&rec)
                && let Some(t) = RecordType::parse_any(&rec.rtype.to_ascii_uppercase())
            {
                never.insert((normalize_name(&rec.domain), t));
            }
            continue;
        }
        let rtype = RecordType::parse_any(&rec.rtype.to_ascii_uppercase()).unwrap_or(RecordType::A);
        let answers = normalized_owned(rtype, rec.answers);
        let data = current
            .entry((reuse(rec.domain, normalize_name), rtype))
            .or_insert(RecordData {
                ttl: rec.ttl,
                answers: Vec::new(),
            });
        merge(data, answers);
    }
    Listed {
        current,
        never,
        unowned,
        foreign,
    }
}

fn compute_from<'a>(
    desired: impl Iterator<Item = Cow<'a, Record>>,
    desired_len: usize,
    zone: Vec<ZoneRecord>,
    own: &Ownership,
    ttl: u32,
) -> Plan {
    let Listed {
        mut current,
        never,
        mut unowned,
        foreign,
    } = listed(zone, own);
    let owned = current.len();
    let mut plan = Plan {
        desired: desired_len,
        owned,
        foreign,
        ..Plan::default()
    };
    let mut creates = Vec::new();
    let mut updates = Vec::new();
    for rec in desired {
        let key = (rec.name.clone(), rec.rtype);
        if own.is_bounded(&key.0) {
            plan.bounded += 1;
            continue;
        }
        if let Some(found) = unowned.remove(&key) {
            if found.answers == normalized(key.1, &rec.answers) && !never.contains(&key) {
                // Exactly what the cluster produces: the cluster's record.
                log::info!(
                    "{} {} is in the zone with exactly the cluster's answers: it joins the ledger of published records",
                    key.0,
                    key.1
                );
                plan.joined.push(key.clone());
                plan.owned += 1;
                current.insert(key.clone(), found);
                finish(
                    &mut plan,
                    &mut current,
                    &mut creates,
                    &mut updates,
                    key,
                    rec,
                    ttl,
                );
                continue;
            }
            log::warn!(
                "{} {} is in the zone but was not published by mesos2ns1: left alone, not published (`mesos2ns1 adopt` hands it over)",
                key.0,
                key.1
            );
            plan.collisions.push(key);
            continue;
        }
        if never.contains(&key) {
            // Said for the first few; the summary counts them all.
            if plan.blocked < 10 {
                log::warn!(
                    "{} {} is a linked or advanced record in the zone: left alone, not published",
                    crate::text::quote(&key.0),
                    key.1
                );
            }
            plan.blocked += 1;
            continue;
        }
        finish(
            &mut plan,
            &mut current,
            &mut creates,
            &mut updates,
            key,
            rec,
            ttl,
        );
    }
    if plan.blocked > 10 {
        log::warn!(
            "and {} more linked or advanced records left alone, not published",
            plan.blocked - 10
        );
    }
    // Sorted by action (creates, updates, deletes), then name and type:
    // each group on its own, the deletes in place (their keys are unique,
    // being a map's, so no stable sort's copy of half of them is needed).
    let by_name = |a: &Change, b: &Change| (&a.name, a.rtype).cmp(&(&b.name, b.rtype));
    creates.sort_by(by_name);
    updates.sort_by(by_name);
    let mut deletes: Vec<Change> = current
        .into_iter()
        .map(|((name, rtype), old)| Change {
            action: Action::Delete,
            name,
            rtype,
            old: Some(old),
            new: None,
        })
        .collect();
    deletes.sort_unstable_by(by_name);
    plan.unowned = unowned.into_keys().collect();
    // Sized exactly: a plan that moves every task holds a million
    // changes, and doubling would leave room for as many again.
    creates.reserve_exact(updates.len() + deletes.len());
    plan.changes = creates;
    plan.changes.append(&mut updates);
    plan.changes.append(&mut deletes);
    plan
}
