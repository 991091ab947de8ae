//! Output of a record set: the normalized JSON form (byte-compatible with
//! the conformance fixtures) and an RFC 1035 zone-file fragment.

use super::labels::is_publishable_name;
use super::set::{RecordSet, RecordType};
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
    let mut first = true;
    let mut result = Ok(());
    w.write_all(b"[")?;
    set.for_each(|name, rtype, answers| {
        if result.is_err() {
            return;
        }
        result = (|| {
            w.write_all(if first { b"\n {\n" } else { b",\n {\n" })?;
            first = false;
            w.write_all(b"  \"answers\": [")?;
            for (i, a) in answers.iter().enumerate() {
                w.write_all(if i == 0 { b"\n   " } else { b",\n   " })?;
                write_json_str(w, a)?;
            }
            w.write_all(b"\n  ],\n  \"name\": ")?;
            write_json_str(w, name)?;
            write!(w, ",\n  \"type\": \"{rtype}\"\n }}")
        })();
    });
    result?;
    w.write_all(if first { b"]\n" } else { b"\n]\n" })
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
