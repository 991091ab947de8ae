//! Output of a record set: the normalized JSON form (byte-compatible with
//! the conformance fixtures) and an RFC 1035 zone-file fragment; with
//! reverse zones, the PTR records too (`*_with`).

use super::labels::is_publishable_name;
use super::reverse::ReverseSet;
use super::set::{Record, RecordSet, RecordType};
use std::io::{self, Write};

/// Writes a JSON string the way the fixtures were written (ASCII only,
/// `\uXXXX` escapes for everything else).
fn write_json_str(w: &mut impl Write, s: &str) -> io::Result<()> {
    if s.bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
    {
        w.write_all(b"\"")?;
        w.write_all(s.as_bytes())?;
        return w.write_all(b"\"");
    }
    w.write_all(b"\"")?;
    for c in s.chars() {
        match c {
            '"' => w.write_all(b"\\\"")?,
            '\\' => w.write_all(b"\\\\")?,
            '\n' => w.write_all(b"\\n")?,
            '\r' => w.write_all(b"\\r")?,
            '\t' => w.write_all(b"\\t")?,
            '\u{8}' => w.write_all(b"\\b")?,
            '\u{c}' => w.write_all(b"\\f")?,
            ' '..='~' | '\u{7f}' => w.write_all(&[c as u8])?,
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{u:04x}")?;
                }
            }
        }
    }
    w.write_all(b"\"")
}

/// The normalized JSON form: an array sorted by (name, type) of
/// `{"answers", "name", "type"}` objects, one-space indentation.
pub fn write_json(set: &mut RecordSet, w: &mut impl Write) -> io::Result<()> {
    write_json_with(set, &ReverseSet::default(), w)
}

/// [`write_json`] with the PTR records of `reverse` merged in, in the same
/// order (by name, then type): `{"answers": [target], "name": reverse
/// name, "type": "PTR"}`. With no PTR records the output is that of
/// [`write_json`], byte for byte.
pub fn write_json_with(
    set: &mut RecordSet,
    reverse: &ReverseSet,
    w: &mut impl Write,
) -> io::Result<()> {
    let ptrs = reverse.records();
    let mut next = 0;
    let mut first = true;
    let mut result = Ok(());
    w.write_all(b"[")?;
    set.for_each(|name, rtype, answers| {
        if result.is_err() {
            return;
        }
        result = (|| {
            while let Some(p) = ptrs.get(next)
                && (p.name.as_str(), p.rtype) < (name, rtype)
            {
                json_record(w, &mut first, &p.name, p.rtype, &p.answers)?;
                next += 1;
            }
            json_record(w, &mut first, name, rtype, answers)
        })();
    });
    result?;
    for p in &ptrs[next..] {
        json_record(w, &mut first, &p.name, p.rtype, &p.answers)?;
    }
    w.write_all(if first { b"]\n" } else { b"\n]\n" })
}

fn json_record(
    w: &mut impl Write,
    first: &mut bool,
    name: &str,
    rtype: RecordType,
    answers: &[String],
) -> io::Result<()> {
    w.write_all(if *first { b"\n {\n" } else { b",\n {\n" })?;
    *first = false;
    w.write_all(b"  \"answers\": [")?;
    for (i, a) in answers.iter().enumerate() {
        w.write_all(if i == 0 { b"\n   " } else { b",\n   " })?;
        write_json_str(w, a)?;
    }
    w.write_all(b"\n  ],\n  \"name\": ")?;
    write_json_str(w, name)?;
    write!(w, ",\n  \"type\": \"{rtype}\"\n }}")
}

/// A zone-file fragment with the given TTL. Names NS1 cannot hold (see
/// [`is_publishable_name`]) are listed as comments, not as records.
pub fn write_zone(set: &mut RecordSet, ttl: u32, w: &mut impl Write) -> io::Result<()> {
    let mut result = Ok(());
    writeln!(w, "$TTL {ttl}")?;
    set.for_each(|name, rtype, answers| {
        if result.is_err() {
            return;
        }
        result = (|| {
            let publishable = is_publishable_name(name);
            for a in answers {
                // An SRV target may hold a raw name from the state.
                let rdata = match rtype {
                    RecordType::SRV => format!("{}.", crate::text::escape_control(a)),
                    _ => a.clone(),
                };
                // A port kept as text (`http`, `+80`) or outside 0-65535
                // is no zone-file port.
                let port_ok = rtype != RecordType::SRV
                    || a.split(' ').nth(2).is_some_and(|p| {
                        p.bytes().all(|b| b.is_ascii_digit())
                            && p.parse::<u16>().is_ok_and(|n| n.to_string() == p)
                    });
                if publishable && port_ok {
                    writeln!(w, "{name}.\t{ttl}\tIN\t{rtype}\t{rdata}")?;
                } else {
                    writeln!(
                        w,
                        "; not publishable: {name:?}\t{ttl}\tIN\t{rtype}\t{rdata}"
                    )?;
                }
            }
            Ok(())
        })();
    });
    result
}

/// [`write_zone`], then the PTR records of each listed reverse zone, after
/// a comment line naming the zone (`; reverse zone 10.in-addr.arpa: 2 PTR
/// records`), with absolute names. A target NS1 cannot hold is listed as
/// a comment. With no reverse zone listed the output is that of
/// [`write_zone`], byte for byte.
pub fn write_zone_with(
    set: &mut RecordSet,
    reverse: &ReverseSet,
    ttl: u32,
    w: &mut impl Write,
) -> io::Result<()> {
    write_zone(set, ttl, w)?;
    for zone in &reverse.zones {
        writeln!(
            w,
            "; reverse zone {}: {} PTR record{}",
            zone.zone,
            zone.records.len(),
            if zone.records.len() == 1 { "" } else { "s" }
        )?;
        for Record { name, answers, .. } in &zone.records {
            for target in answers {
                let rdata = format!("{}.", crate::text::escape_control(target));
                if is_publishable_name(name) && is_publishable_name(target) {
                    writeln!(w, "{name}.\t{ttl}\tIN\tPTR\t{rdata}")?;
                } else {
                    writeln!(w, "; not publishable: {name:?}\t{ttl}\tIN\tPTR\t{rdata}")?;
                }
            }
        }
    }
    Ok(())
}
