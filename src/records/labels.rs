//! Name rules: the Mesos-DNS label sanitizers (spec §3) and the stricter
//! "publishable" test that decides what may be sent to NS1.

/// Which label rules apply (`EnforceRFC952` in Mesos-DNS).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LabelRules {
    /// RFC 1123: labels up to 63 characters, may start with a digit (default).
    #[default]
    Rfc1123,
    /// RFC 952: labels up to 24 characters, no leading digits.
    Rfc952,
}

impl LabelRules {
    fn limit(self) -> usize {
        match self {
            LabelRules::Rfc1123 => 63,
            LabelRules::Rfc952 => 24,
        }
    }
}

/// The Mesos-DNS label function `L` (spec §3.1).
///
/// Maps `A-Z` to lowercase, keeps `a-z0-9`, turns `-._` into `-` and deletes
/// everything else; strips leading `-` (and digits under RFC 952); then cuts
/// to the length limit the way upstream does, which may leave a trailing `-`.
pub fn label(input: &str, rules: LabelRules) -> String {
    let mapped: Vec<u8> = input
        .chars()
        .filter_map(|c| match c {
            'A'..='Z' => Some(c.to_ascii_lowercase() as u8),
            'a'..='z' | '0'..='9' => Some(c as u8),
            '-' | '.' | '_' => Some(b'-'),
            _ => None,
        })
        .collect();
    let start = mapped
        .iter()
        .position(|&b| match rules {
            LabelRules::Rfc1123 => b != b'-',
            LabelRules::Rfc952 => !(b == b'-' || b.is_ascii_digit()),
        })
        .unwrap_or(mapped.len());
    let s = &mapped[start..];
    let n = s.len().min(rules.limit());
    let head_len = s[..n].iter().rposition(|&b| b != b'-').map_or(0, |i| i + 1);
    let mut out: Vec<u8> = s[..head_len].to_vec();
    if head_len < n {
        let rest = &s[n..];
        let rest_start = rest.iter().position(|&b| b != b'-').unwrap_or(rest.len());
        let refill = &rest[rest_start..];
        out.extend_from_slice(&refill[..refill.len().min(n - head_len)]);
    }
    // Every byte is ASCII by construction.
    String::from_utf8(out).unwrap_or_default()
}

/// The Mesos-DNS domain-fragment function `F` (spec §3.2): split on `.`,
/// sanitize each piece with [`label`], drop empty pieces, join with `.`.
pub fn fragment(input: &str, rules: LabelRules) -> String {
    let mut out = String::new();
    for piece in input.split('.') {
        let l = label(piece, rules);
        if !l.is_empty() {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&l);
        }
    }
    out
}

/// Whether `name` (no trailing dot) can be published to NS1: every label 1 to
/// 63 characters of `a-z`, `0-9`, `-` and `_`, not starting or ending with
/// `-`, and the whole name at most 253 characters.
pub fn is_publishable_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::LabelRules::{Rfc952, Rfc1123};
    use super::*;

    #[test]
    fn spec_table_rfc1123_and_rfc952() {
        let x61 = "x".repeat(61);
        let hello = format!("hello{}f", "-".repeat(56));
        let c = |i: &str, a: &str, b: &str| (i.to_string(), a.to_string(), b.to_string());
        let cases = vec![
            c("My_App.Frontend", "my-app-frontend", "my-app-frontend"),
            c("-leading--dash-", "leading--dash", "leading--dash"),
            c("123-numeric", "123-numeric", "numeric"),
            c("9lives", "9lives", "lives"),
            c("0000", "0000", ""),
            c("café-ünïcode", "caf-ncode", "caf-ncode"),
            c("日本語", "", ""),
            c("___", "", ""),
            c("!!!", "", ""),
            c("spaces in\tname", "spacesinname", "spacesinname"),
            c(
                "Payments-Reconciliation-Service",
                "payments-reconciliation-service",
                "payments-reconciliations",
            ),
            c(
                &format!("{x61}--y-zzz"),
                &format!("{x61}y-"),
                &"x".repeat(24),
            ),
            c(&hello, &hello, "hellof"),
        ];
        for (input, want1123, want952) in cases {
            assert_eq!(label(&input, Rfc1123), want1123, "RFC 1123 of {input:?}");
            assert_eq!(label(&input, Rfc952), want952, "RFC 952 of {input:?}");
        }
    }

    #[test]
    fn cuts_at_63_and_24() {
        let long = "a".repeat(100);
        assert_eq!(label(&long, Rfc1123).len(), 63);
        assert_eq!(label(&long, Rfc952).len(), 24);
        // A 63-character cut that lands on a hyphen run refills from the rest.
        let s = format!("{}-{}", "a".repeat(62), "bcd");
        assert_eq!(label(&s, Rfc1123), format!("{}b", "a".repeat(62)));
        // ... but a short string simply loses its trailing hyphens.
        assert_eq!(label("abc---", Rfc1123), "abc");
    }

    #[test]
    fn fragments() {
        assert_eq!(
            fragment("Marathon.Prod_Team", Rfc1123),
            "marathon.prod-team"
        );
        assert_eq!(fragment("  .Chronos.. ", Rfc1123), "chronos");
        assert_eq!(
            fragment("marathon-0.6.0-dev", Rfc1123),
            "marathon-0.6.0-dev"
        );
        assert_eq!(fragment("marathon-0.6.0-dev", Rfc952), "marathon-0.dev");
        assert_eq!(fragment("日本", Rfc1123), "");
    }

    #[test]
    fn publishable_names() {
        assert!(is_publishable_name("web.marathon.mesos"));
        assert!(is_publishable_name("_web._tcp.marathon.mesos"));
        assert!(!is_publishable_name("Web.marathon.mesos"));
        assert!(!is_publishable_name("web..mesos"));
        assert!(!is_publishable_name(".mesos"));
        assert!(!is_publishable_name("web-.mesos"));
        assert!(!is_publishable_name("-web.mesos"));
        assert!(!is_publishable_name("big.dog x.mesos"));
        assert!(!is_publishable_name(&format!("{}.mesos", "a".repeat(64))));
        assert!(is_publishable_name(&format!("{}.mesos", "a".repeat(63))));
        let long = vec!["a".repeat(50); 5].join(".");
        assert_eq!(long.len(), 254);
        assert!(!is_publishable_name(&long));
        assert!(is_publishable_name(&long[1..]));
    }
}
