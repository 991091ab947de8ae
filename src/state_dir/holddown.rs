//! `holddown.json` on disk: the compact form (format 2) the tool writes,
//! and the 0.2.0 form (the [`Clocks`] maps as they are) it still reads.
//!
//! When every task of a large cluster restarts elsewhere, every owned name
//! and answer is absent at once, all since the same run and all held by
//! the same check: the 0.2.0 form repeated the time and the full key for
//! each, and the held map repeated every key again (268.8 MB at 110,000
//! tasks, past the read limit). Format 2 writes each key once, grouped by
//! (since, check), and each answer under its record's key:
//!
//! ```json
//! {"format": 2, "observed": 1700000000.0, "intervals": [60.0],
//!  "rebuilt": 1700000000.0,
//!  "records": [[1700000000.0, "mass-removal", ["web-x9kri-s1.fw.D A", ...]]],
//!  "answers": [[1700000000.0, "", [["_web._tcp.fw.D SRV", ["0 1 31000 t.D", ...]]]]],
//!  "held": {"key": "check"}}
//! ```
//!
//! `""` is "not held"; `held` keeps only held keys that have no clock;
//! `rebuilt` is the time new clocks were started over an unreadable file
//! (see [`super::load_safety`]), kept for one settle period.

use crate::plan::{Clocks, Key};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The format number [`encode`] writes.
pub const FORMAT: u32 = 2;

type Group<T> = (f64, String, Vec<T>);

#[derive(Serialize, Deserialize)]
struct File {
    format: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    observed: Option<f64>,
    #[serde(default)]
    intervals: Vec<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rebuilt: Option<f64>,
    #[serde(default)]
    records: Vec<Group<String>>,
    #[serde(default)]
    answers: Vec<Group<(String, Vec<String>)>>,
    /// Answer keys that are not `name TYPE answer` → since (never made by
    /// this tool; kept so that any [`Clocks`] round-trips).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    odd_answers: BTreeMap<String, f64>,
    #[serde(default)]
    held: BTreeMap<String, String>,
    /// [`Clocks::seen`] and [`Clocks::recovery`] as they are.
    #[serde(default)]
    seen: BTreeMap<String, f64>,
    #[serde(default)]
    recovery: crate::plan::RecoveryMarks,
}

/// [`File`] as written: borrowed from the clocks, no key copied.
#[derive(Serialize)]
pub struct FileOut<'a> {
    format: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    observed: Option<f64>,
    intervals: &'a [f64],
    #[serde(skip_serializing_if = "Option::is_none")]
    rebuilt: Option<f64>,
    records: Vec<Group<&'a str>>,
    answers: Vec<Group<(&'a str, Vec<&'a str>)>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    odd_answers: BTreeMap<&'a str, f64>,
    held: BTreeMap<&'a str, &'a str>,
    seen: &'a BTreeMap<Key, f64>,
    recovery: &'a crate::plan::RecoveryMarks,
}

/// `(since, check)` groups of `map`, oldest first, each key taken from
/// `held` when it is there.
fn groups<'a>(
    map: &'a BTreeMap<Key, f64>,
    held: &mut BTreeMap<&'a str, &'a str>,
) -> Vec<(f64, &'a str, Vec<&'a str>)> {
    let mut by: HashMap<(u64, &str), Vec<&str>> = HashMap::new();
    for (key, since) in map {
        let check = held.remove(&**key).unwrap_or("");
        by.entry((since.to_bits(), check)).or_default().push(&**key);
    }
    let mut out: Vec<_> = by
        .into_iter()
        .map(|((t, c), keys)| (f64::from_bits(t), c, keys))
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
    out
}

/// `clocks` (and the rebuild time, if any) in format 2.
pub fn encode(clocks: &Clocks, rebuilt: Option<f64>) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&encoded(clocks, rebuilt))
}

/// The clocks arranged for writing in format 2 (borrowed from them), to
/// serialize into any writer: a file is streamed, not built in memory
/// first (with every task moved, the file is a few hundred megabytes).
pub fn encoded(clocks: &Clocks, rebuilt: Option<f64>) -> FileOut<'_> {
    let mut held: BTreeMap<&str, &str> = clocks.held.iter().map(|(k, c)| (&**k, &**c)).collect();
    let records = groups(&clocks.records, &mut held)
        .into_iter()
        .map(|(t, c, keys)| (t, c.to_string(), keys))
        .collect();
    let mut odd_answers = BTreeMap::new();
    let mut answers = Vec::new();
    for (t, c, keys) in groups(&clocks.answers, &mut held) {
        // Keys are sorted, so one record's answers are next to each other.
        let mut per_record: Vec<(&str, Vec<&str>)> = Vec::new();
        for key in keys {
            // `name TYPE answer`: the record is the key up to its second
            // space.
            let Some(cut) = key
                .match_indices(' ')
                .nth(1)
                .map(|(i, _)| i)
                .filter(|&i| key[..i].contains(' '))
            else {
                odd_answers.insert(key, t);
                continue;
            };
            let (record, answer) = (&key[..cut], &key[cut + 1..]);
            match per_record.last_mut() {
                Some((r, list)) if *r == record => list.push(answer),
                _ => per_record.push((record, vec![answer])),
            }
        }
        answers.push((t, c.to_string(), per_record));
    }
    FileOut {
        format: FORMAT,
        observed: clocks.observed,
        intervals: &clocks.intervals,
        rebuilt,
        records,
        answers,
        odd_answers,
        held,
        seen: &clocks.seen,
        recovery: &clocks.recovery,
    }
}

/// Reads either form: the clocks, and the rebuild time (format 2 only).
pub fn decode(bytes: &[u8]) -> serde_json::Result<(Clocks, Option<f64>)> {
    let head = &bytes[..bytes.len().min(64)];
    let is_v2 = String::from_utf8_lossy(head)
        .split_whitespace()
        .collect::<String>()
        .starts_with("{\"format\":");
    if !is_v2 {
        return serde_json::from_slice::<Clocks>(bytes).map(|c| (c, None));
    }
    let file: File = serde_json::from_slice(bytes)?;
    if file.format != FORMAT {
        return Err(serde::de::Error::custom(format!(
            "format {} is not one this version reads ({FORMAT})",
            file.format
        )));
    }
    let mut clocks = Clocks {
        observed: file.observed,
        intervals: file.intervals,
        recovery: file.recovery,
        ..Clocks::default()
    };
    // The checks' names, one allocation each however many keys they hold.
    let mut labels: std::collections::BTreeSet<Key> = Default::default();
    let mut label = |check: String| -> Key {
        if let Some(l) = labels.get(check.as_str()) {
            return l.clone();
        }
        let l = Key::from(check);
        labels.insert(l.clone());
        l
    };
    for (t, check, keys) in file.records {
        let check = label(check);
        for key in keys {
            let key = Key::from(key);
            if !check.is_empty() {
                clocks.held.insert(key.clone(), check.clone());
            }
            clocks.records.insert(key, t);
        }
    }
    for (t, check, per_record) in file.answers {
        let check = label(check);
        for (record, answers) in per_record {
            for answer in answers {
                let key = Key::from(format!("{record} {answer}"));
                if !check.is_empty() {
                    clocks.held.insert(key.clone(), check.clone());
                }
                clocks.answers.insert(key, t);
            }
        }
    }
    clocks
        .answers
        .extend(file.odd_answers.into_iter().map(|(k, t)| (Key::from(k), t)));
    // `held` and `seen` as written, their keys shared with the clocks'
    // (a group's check wins over `held`'s, as it always has).
    let shared = |clocks: &Clocks, k: String| -> Key {
        clocks
            .records
            .get_key_value(k.as_str())
            .or_else(|| clocks.answers.get_key_value(k.as_str()))
            .map_or_else(|| Key::from(k), |(key, _)| key.clone())
    };
    for (k, check) in file.held {
        let k = shared(&clocks, k);
        clocks.held.entry(k).or_insert_with(|| label(check));
    }
    for (k, seen) in file.seen {
        let k = shared(&clocks, k);
        clocks.seen.insert(k, seen);
    }
    Ok((clocks, file.rebuilt))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Clocks {
        let mut c = Clocks {
            observed: Some(1000.5),
            intervals: vec![60.0, 61.0],
            ..Clocks::default()
        };
        c.records.insert("a.fw.d A".into(), 900.0);
        c.records.insert("b.fw.d A".into(), 900.0);
        c.records.insert("c.fw.d AAAA".into(), 950.0);
        c.answers
            .insert("_w._tcp.fw.d SRV 0 1 1 a.fw.d".into(), 900.0);
        c.answers
            .insert("_w._tcp.fw.d SRV 0 1 2 a.fw.d".into(), 900.0);
        c.answers.insert("w.fw.d A 10.0.0.1".into(), 950.0);
        c.answers.insert("odd".into(), 10.0);
        c.held.insert("a.fw.d A".into(), "mass-removal".into());
        c.held.insert(
            "_w._tcp.fw.d SRV 0 1 2 a.fw.d".into(),
            "mass-removal".into(),
        );
        c.held
            .insert("gone.fw.d A".into(), "implausible-state".into());
        c
    }

    #[test]
    fn format_2_round_trips_and_the_0_2_0_form_still_loads() {
        let c = sample();
        let bytes = encode(&c, Some(5.0)).unwrap();
        assert_eq!(decode(&bytes).unwrap(), (c.clone(), Some(5.0)));
        let old = serde_json::to_vec(&c).unwrap();
        assert_eq!(decode(&old).unwrap(), (c.clone(), None));
        // A 0.2.0 file as that version wrote it (field order, pretty or not).
        let text = r#"{"observed":1.0,"records":{"x.d A":0.5},"answers":{},"held":{"x.d A":"mass-removal"},"intervals":[]}"#;
        let (c, r) = decode(text.as_bytes()).unwrap();
        assert_eq!(
            (c.records["x.d A"], &*c.held["x.d A"], r),
            (0.5, "mass-removal", None)
        );
        assert!(decode(b"{\"format\": 3}").is_err());
        assert!(decode(b"{\"format\": 2, \"records\": [[1, \"\", ").is_err());
    }
}
