//! Record generation: the Mesos-DNS record set for a Mesos state, and its
//! output as normalized JSON or a zone-file fragment. No I/O here except the
//! optional system resolver.
//!
//! The modules, each importing only those listed before it and nothing
//! else of the crate but `escape_control` (in `resolve` and `output`):
//! `labels` (label rules), `set` (the record set), `names` (task hash,
//! agent part, z-base-32, name priority), `state` (the state's serde
//! model), `hosts` (pids, host:port, resolvers), `reverse` (reverse zones,
//! reverse names and the PTR rule), `options` (GenOptions, profiles),
//! `filter` (the opt-in task filters), `generate` (the rules, by record
//! family), `explained` (records of ended tasks), `resolve` (name
//! resolution with a deadline), `output` (JSON and zone file).

pub mod explained;
pub mod filter;
pub mod generate;
pub mod hosts;
pub mod labels;
pub mod names;
pub mod options;
pub mod output;
pub mod resolve;
pub mod reverse;
pub mod set;
pub mod state;

pub use explained::{Explained, explained};
pub use generate::{GenError, Generated, StateCounts, counts, generate, generate_all};
pub use hosts::{Resolver, StaticResolver, SystemResolver};
pub use labels::LabelRules;
pub use options::{GenOptions, HealthyOnly, IpSource, Profile};
pub use reverse::{ReverseSet, ReverseZone, ZonePtrs};
pub use set::{Record, RecordSet, RecordType};
pub use state::Visibility;

#[cfg(test)]
mod layering {
    /// The modules in the order of the module doc: each may import only
    /// those before it.
    const ORDER: &[&str] = &[
        "labels",
        "set",
        "names",
        "state",
        "hosts",
        "reverse",
        "options",
        "filter",
        "generate",
        "explained",
        "resolve",
        "output",
    ];

    /// Paths a module of `records/` may take from the rest of the crate.
    const OUTSIDE: &[&str] = &[
        "crate::records::",
        "crate::text::escape_control",
        "crate::text::escape_control",
        "crate::text::quote",
        "crate::text::Tally",
        "crate::text::{Tally, quote}",
    ];

    /// The code of a file before its tests, without comment lines.
    fn code(path: &std::path::Path) -> String {
        let text = std::fs::read_to_string(path).unwrap();
        let text = text.split("#[cfg(test)]").next().unwrap_or("");
        text.lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The first path segment after each `super::` or `crate::records::`,
    /// with each item of a `{a, b::c}` group.
    fn siblings(code: &str) -> Vec<String> {
        let ident = |s: &str| -> String {
            s.trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        };
        let mut out = Vec::new();
        for prefix in ["super::", "crate::records::"] {
            for (i, _) in code.match_indices(prefix) {
                let rest = &code[i + prefix.len()..];
                match rest.strip_prefix('{') {
                    Some(group) => {
                        let group = group.split('}').next().unwrap_or("");
                        out.extend(group.split(',').map(ident));
                    }
                    None => out.push(ident(rest)),
                }
            }
        }
        out
    }

    #[test]
    fn records_has_no_import_circle_and_no_arrow_up() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/records");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if name == "mod" {
                continue;
            }
            let Some(rank) = ORDER.iter().position(|m| *m == name) else {
                panic!("src/records/{name}.rs is not in ORDER (and the module doc): place it");
            };
            let code = code(&path);
            for used in siblings(&code) {
                if let Some(r) = ORDER.iter().position(|m| *m == used) {
                    assert!(
                        r < rank,
                        "records/{name} imports records/{used}, which comes after it"
                    );
                }
            }
            for (i, _) in code.match_indices("crate::") {
                let rest = &code[i..];
                assert!(
                    OUTSIDE.iter().any(|p| rest.starts_with(p)),
                    "records/{name} reaches out of records/: {}",
                    rest.lines().next().unwrap_or("")
                );
            }
        }
    }
}
