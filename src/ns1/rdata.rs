//! Conversion between the normalized answer strings the sync engine works
//! with and NS1's JSON `answers` rdata arrays.

use serde_json::{Value, json};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Converts one normalized answer string into NS1 rdata elements.
///
/// * `A` / `AAAA`: `"ip"` → `["ip"]` (validated as an IPv4 / IPv6 address).
/// * `SRV`: `"priority weight port target"` → `[priority, weight, port,
///   "target"]` with the three numbers as JSON numbers (each 0..=65535).
/// * `TXT` / `SPF`: the whole string as one element.
/// * `PTR`: `"target"` → `["target"]` (exactly one name).
/// * anything else: whitespace-separated fields as strings.
pub fn answer_to_rdata(rtype: &str, answer: &str) -> Result<Vec<Value>, String> {
    let rtype = rtype.to_ascii_uppercase();
    match rtype.as_str() {
        "A" => {
            let ip: Ipv4Addr = answer
                .trim()
                .parse()
                .map_err(|_| format!("A answer {answer:?} is not an IPv4 address"))?;
            Ok(vec![json!(ip.to_string())])
        }
        "AAAA" => {
            let ip: Ipv6Addr = answer
                .trim()
                .parse()
                .map_err(|_| format!("AAAA answer {answer:?} is not an IPv6 address"))?;
            Ok(vec![json!(ip.to_string())])
        }
        "SRV" => {
            let fields: Vec<&str> = answer.split_ascii_whitespace().collect();
            let [prio, weight, port, target] = fields[..] else {
                return Err(format!(
                    "SRV answer {answer:?} must be \"priority weight port target\""
                ));
            };
            let num = |what: &str, s: &str| -> Result<Value, String> {
                s.parse::<u16>()
                    .map(|n| json!(n))
                    .map_err(|_| format!("SRV answer {answer:?}: {what} {s:?} is not 0..=65535"))
            };
            Ok(vec![
                num("priority", prio)?,
                num("weight", weight)?,
                num("port", port)?,
                json!(target),
            ])
        }
        "TXT" | "SPF" => Ok(vec![json!(answer)]),
        // One domain name, as ns1-go writes CNAME and ALIAS answers:
        // `{"answer": ["web.marathon.mesos"]}`.
        "PTR" => {
            let fields: Vec<&str> = answer.split_ascii_whitespace().collect();
            let [name] = fields[..] else {
                return Err(format!("{rtype} answer {answer:?} must be one domain name"));
            };
            Ok(vec![json!(name)])
        }
        _ => {
            let fields: Vec<Value> = answer.split_ascii_whitespace().map(|f| json!(f)).collect();
            if fields.is_empty() {
                return Err(format!("{rtype} answer is empty"));
            }
            Ok(fields)
        }
    }
}

/// Builds the JSON body for a record PUT (create) or POST (update):
/// `{"zone","domain","type","ttl","answers":[{"answer":[...]}]}`. Names must
/// already be normalized (lower case, no trailing dot).
pub fn record_body(
    zone: &str,
    domain: &str,
    rtype: &str,
    ttl: u32,
    answers: &[String],
) -> Result<Value, String> {
    let answers = answers
        .iter()
        .map(|a| answer_to_rdata(rtype, a).map(|rdata| json!({ "answer": rdata })))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({
        "zone": zone,
        "domain": domain,
        "type": rtype,
        "ttl": ttl,
        "answers": answers,
    }))
}

/// Normalizes a name for the API: trimmed, lower case, no trailing dot.
pub fn normalize_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Normalizes a `short_answers` string as read from a zone listing into the
/// form [`answer_to_rdata`] takes, so listings and desired answers compare
/// equal: fields joined by single spaces; for `SRV` the numbers are
/// canonicalized (`"010"` → `"10"`) and the target is lower-cased without
/// trailing dot; for `A`/`AAAA` the address is canonicalized when it
/// parses; `CNAME`/`NS`/`PTR`/`MX` targets lose their trailing dot and are
/// lower-cased. Other types only get whitespace collapsed.
pub fn normalize_short_answer(rtype: &str, short: &str) -> String {
    let fields: Vec<&str> = short.split_ascii_whitespace().collect();
    match rtype.to_ascii_uppercase().as_str() {
        "A" => short
            .trim()
            .parse::<Ipv4Addr>()
            .map_or_else(|_| fields.join(" "), |ip| ip.to_string()),
        "AAAA" => short
            .trim()
            .parse::<Ipv6Addr>()
            .map_or_else(|_| fields.join(" "), |ip| ip.to_string()),
        "SRV" if fields.len() == 4 => {
            let n = |s: &str| {
                s.parse::<u64>()
                    .map_or_else(|_| s.to_string(), |v| v.to_string())
            };
            format!(
                "{} {} {} {}",
                n(fields[0]),
                n(fields[1]),
                n(fields[2]),
                normalize_name(fields[3])
            )
        }
        "CNAME" | "NS" | "PTR" if fields.len() == 1 => normalize_name(fields[0]),
        "MX" if fields.len() == 2 => format!("{} {}", fields[0], normalize_name(fields[1])),
        "TXT" | "SPF" => short.to_string(),
        _ => fields.join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptr_is_one_name() {
        assert_eq!(
            answer_to_rdata("PTR", "web.marathon.mesos").unwrap(),
            vec![json!("web.marathon.mesos")]
        );
        assert!(answer_to_rdata("PTR", "a.mesos b.mesos").is_err());
        assert!(answer_to_rdata("PTR", " ").is_err());
        assert_eq!(
            normalize_short_answer("PTR", "Web.Marathon.Mesos."),
            "web.marathon.mesos"
        );
    }

    #[test]
    fn a_and_aaaa() {
        assert_eq!(
            answer_to_rdata("A", "10.0.0.1").unwrap(),
            vec![json!("10.0.0.1")]
        );
        assert_eq!(
            answer_to_rdata("a", " 10.0.0.1 ").unwrap(),
            vec![json!("10.0.0.1")]
        );
        assert!(answer_to_rdata("A", "10.0.0.256").is_err());
        assert!(answer_to_rdata("A", "::1").is_err());
        assert_eq!(
            answer_to_rdata("AAAA", "2001:db8::1").unwrap(),
            vec![json!("2001:db8::1")]
        );
        assert!(answer_to_rdata("AAAA", "10.0.0.1").is_err());
    }

    #[test]
    fn srv_numbers_are_json_numbers() {
        let r = answer_to_rdata("SRV", "0 1 31000 node1.example.com").unwrap();
        assert_eq!(
            r,
            vec![json!(0), json!(1), json!(31000), json!("node1.example.com")]
        );
        assert!(r[0].is_number() && r[2].is_u64() && r[3].is_string());
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(s, r#"[0,1,31000,"node1.example.com"]"#);
    }

    #[test]
    fn srv_rejects_bad_shapes() {
        assert!(answer_to_rdata("SRV", "0 1 31000").is_err());
        assert!(answer_to_rdata("SRV", "0 1 31000 a b").is_err());
        assert!(answer_to_rdata("SRV", "0 1 70000 a").is_err());
        assert!(answer_to_rdata("SRV", "x 1 1 a").is_err());
        assert!(answer_to_rdata("SRV", "-1 1 1 a").is_err());
    }

    #[test]
    fn other_types() {
        assert_eq!(
            answer_to_rdata("TXT", "v=spf1 -all").unwrap(),
            vec![json!("v=spf1 -all")]
        );
        assert_eq!(
            answer_to_rdata("MX", "10 mx.example.com").unwrap(),
            vec![json!("10"), json!("mx.example.com")]
        );
        assert!(answer_to_rdata("CNAME", "  ").is_err());
    }

    #[test]
    fn body_shape() {
        let b = record_body(
            "example.com",
            "_http._tcp.web.example.com",
            "SRV",
            60,
            &[
                "0 1 31000 a.example.com".to_string(),
                "0 1 31001 b.example.com".to_string(),
            ],
        )
        .unwrap();
        assert_eq!(
            b,
            json!({
                "zone": "example.com",
                "domain": "_http._tcp.web.example.com",
                "type": "SRV",
                "ttl": 60,
                "answers": [
                    {"answer": [0, 1, 31000, "a.example.com"]},
                    {"answer": [0, 1, 31001, "b.example.com"]}
                ]
            })
        );
        assert!(b.get("filters").is_none());
        assert!(record_body("z", "d.z", "A", 1, &["nope".to_string()]).is_err());
    }

    #[test]
    fn names() {
        assert_eq!(normalize_name("Web.Example.COM."), "web.example.com");
        assert_eq!(normalize_name(" example.com "), "example.com");
    }

    #[test]
    fn short_answers_normalize() {
        assert_eq!(
            normalize_short_answer("SRV", "010 50  31000 Node1.Example.com."),
            "10 50 31000 node1.example.com"
        );
        assert_eq!(normalize_short_answer("A", "10.0.0.1"), "10.0.0.1");
        assert_eq!(
            normalize_short_answer("AAAA", "2001:DB8:0:0:0:0:0:1"),
            "2001:db8::1"
        );
        assert_eq!(
            normalize_short_answer("NS", "dns1.p01.nsone.net."),
            "dns1.p01.nsone.net"
        );
        assert_eq!(normalize_short_answer("MX", "10 MX.e.com."), "10 mx.e.com");
        assert_eq!(normalize_short_answer("TXT", "a  b"), "a  b");
        // Round trip: normalized SRV converts to rdata.
        let n = normalize_short_answer("SRV", "0 1 31000 t.example.com.");
        assert!(answer_to_rdata("SRV", &n).is_ok());
    }
}
