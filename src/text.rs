//! Shared helpers at the bottom of the crate: text that is safe to print
//! on one line, the clocks a run reads, and how a time is written.
//! Imports nothing of this crate.

use std::borrow::Cow;

/// `s` with every control character (line breaks, escape sequences, ...)
/// written as a Rust escape (`\n`, `\u{1b}`), so that text from a state or
/// a server can never start a new log or summary line of its own.
pub fn escape_control(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The wall clock, in Unix seconds (0 before 1970).
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The wall clock, in whole Unix seconds (0 before 1970).
pub fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The time of this run: the clock, or `MESOS2NS1_TEST_NOW` (Unix seconds)
/// where the end-to-end tests set it to simulate runs minutes apart.
pub fn now() -> f64 {
    std::env::var("MESOS2NS1_TEST_NOW")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|t| t.is_finite() && *t > 0.0)
        .unwrap_or_else(unix_now)
}

/// A Unix time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_time(t: f64) -> String {
    let secs = t.max(0.0) as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 { y + 1 } else { y };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The longest a value from a state or a server is quoted in a log line.
pub const QUOTE_MAX: usize = 80;

/// `s` quoted for a log line: at most [`QUOTE_MAX`] characters, control
/// characters and quotes escaped, and when cut, its full length in bytes.
pub fn quote(s: &str) -> String {
    match s.char_indices().nth(QUOTE_MAX) {
        None => format!("{s:?}"),
        Some((end, _)) => format!("{:?}… ({} bytes)", &s[..end], s.len()),
    }
}

/// `s` cut to at most `max` characters, `…` marking a cut.
pub fn cut(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((end, _)) => Cow::Owned(format!("{}…", &s[..end])),
    }
}

/// Warnings about values (a label, a port bound, a name) gathered over a
/// run and said once each, with how many items (tasks, records) each
/// affects. At most [`Tally::MAX_DISTINCT`] distinct warnings are kept;
/// beyond that only their number and the items they affect are counted,
/// so what a tally logs is bounded whatever the input.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    seen: Vec<(String, usize, Option<String>)>,
    index: std::collections::HashMap<String, usize>,
    more_items: usize,
}

impl Tally {
    /// Distinct warnings said in full.
    pub const MAX_DISTINCT: usize = 20;

    /// One more item that `warning` is about (build the warning from
    /// [`quote`]d values).
    pub fn note(&mut self, warning: String) {
        self.note_item(warning, None);
    }

    /// [`Tally::note`], naming the first item a warning is about (e.g. the
    /// task) in its line.
    pub fn note_item(&mut self, warning: String, item: Option<&str>) {
        if let Some(&i) = self.index.get(&warning) {
            self.seen[i].1 += 1;
        } else if self.seen.len() < Self::MAX_DISTINCT {
            self.index.insert(warning.clone(), self.seen.len());
            self.seen.push((warning, 1, item.map(quote)));
        } else {
            // A distinct warning past the bound is not kept (so it cannot
            // be told from another): only its item is counted.
            self.more_items += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// The lines to say, `items` naming what is counted ("tasks").
    pub fn lines(&self, items: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .seen
            .iter()
            .map(|(w, n, first)| match first {
                Some(f) => format!("{w} ({n} {items}, first {f})"),
                None => format!("{w} ({n} {items})"),
            })
            .collect();
        if self.more_items > 0 {
            out.push(format!(
                "and {} more {items} with other warnings like these, not listed",
                self.more_items
            ));
        }
        out
    }

    /// Says every line at warning level, and starts over.
    pub fn warn(&mut self, items: &str) {
        for line in self.lines(items) {
            log::warn!("{line}");
        }
        *self = Tally::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_short_and_escaped() {
        assert_eq!(quote("host"), "\"host\"");
        assert_eq!(quote("a\nb"), "\"a\\nb\"");
        let long = "é".repeat(5000);
        let q = quote(&long);
        assert!(q.chars().count() < QUOTE_MAX + 30, "{q}");
        assert!(q.ends_with("… (10000 bytes)"), "{q}");
    }

    #[test]
    fn a_tally_says_each_warning_once_with_its_count_and_is_bounded() {
        let mut t = Tally::default();
        for i in 0..1000 {
            t.note("label x is invalid".into());
            t.note(format!("label {i} is invalid"));
        }
        let lines = t.lines("tasks");
        assert_eq!(lines.len(), Tally::MAX_DISTINCT + 1);
        assert_eq!(lines[0], "label x is invalid (1000 tasks)");
        assert_eq!(lines[1], "label 0 is invalid (1 tasks)");
        assert_eq!(
            lines[Tally::MAX_DISTINCT],
            "and 981 more tasks with other warnings like these, not listed"
        );
    }
}
