//! The shape of `src/`, checked on every `cargo test` (issue 16):
//!
//! * no import circle among the crate's modules, at the granularity of the
//!   top-level modules and of the submodules of `records/` and `plan/`
//!   (edges from `crate::x` paths, in `use` lines and inline, and from
//!   `super::x` inside `records/` and `plan/`);
//! * the bottom modules (`text`, `exit`, `store`, `cli`) import nothing of
//!   the crate;
//! * no function longer than 150 lines (`Config::from_parts`, the flat
//!   merge of file, environment and flags, up to 300);
//! * no file over 1,000 lines of non-test code.
//!
//! A small reader of our own rather than a tool: cargo-modules and
//! cargo-depgraph draw the graph but do not fail a build on a circle, and
//! the length limits are ours. Test code (`#[cfg(test)] mod tests`, and
//! `plan/tests.rs`) is left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules whose submodules are nodes of their own.
const SPLIT: &[&str] = &["records", "plan"];
/// The layers, bottom first: a module imports only modules of lower
/// layers (inside `records/` and `plan/`, the circle check and
/// `records`' own order test keep the order). A new module must be placed.
const LAYERS: &[&[&str]] = &[
    &["text", "exit", "store"],
    &["tls", "records"],
    &["cli", "mesos", "ns1"],
    &["config", "plan"],
    &["apply", "state_dir", "source"],
    &["zone"],
    &["report"],
    &["commands"],
];
/// Modules that import nothing of the crate.
const BOTTOM: &[&str] = &["text", "exit", "store"];
const MAX_FN_LINES: usize = 150;
const MAX_FILE_LINES: usize = 1000;
/// (file, function, limit): the documented exceptions.
const FN_EXCEPTIONS: &[(&str, &str, usize)] = &[("config.rs", "from_parts", 300)];

fn src_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            src_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's path below `src/`, with `/` separators.
fn rel(path: &Path) -> String {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    path.strip_prefix(&src)
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

/// The graph node a file belongs to (`None`: the crate root or the binary).
fn node_of(rel: &str) -> Option<String> {
    let parts: Vec<&str> = rel.trim_end_matches(".rs").split('/').collect();
    match parts.as_slice() {
        ["lib"] | ["main"] => None,
        [top] => Some(top.to_string()),
        [top, "mod"] => Some(top.to_string()),
        [top, sub, ..] if SPLIT.contains(top) => Some(format!("{top}::{sub}")),
        [top, ..] => Some(top.to_string()),
        [] => None,
    }
}

/// The non-test part of a file: everything before `#[cfg(test)]` that
/// opens a `mod`.
fn non_test(text: &str) -> &str {
    let mut at = 0;
    while let Some(i) = text[at..].find("#[cfg(test)]") {
        let i = at + i;
        let rest = text[i + "#[cfg(test)]".len()..].trim_start();
        if rest.starts_with("mod ") {
            return &text[..i];
        }
        at = i + 1;
    }
    text
}

/// The code without its comment lines (doc links name no import).
fn code_only(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The identifiers after each occurrence of `prefix` (`crate::a::b`).
fn paths_after<'a>(text: &'a str, prefix: &str) -> Vec<Vec<&'a str>> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = text[at..].find(prefix) {
        let start = at + i;
        at = start + prefix.len();
        // Not part of a longer identifier (`mycrate::`).
        if text[..start]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let mut segs = Vec::new();
        let mut rest = &text[at..];
        loop {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if end == 0 {
                break;
            }
            segs.push(&rest[..end]);
            rest = &rest[end..];
            match rest.strip_prefix("::") {
                Some(r) => rest = r,
                None => break,
            }
        }
        out.push(segs);
    }
    out
}

/// Module nodes and the files under `src/`.
fn read_src() -> Vec<(String, String)> {
    let mut files = Vec::new();
    src_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    files.sort();
    files
        .iter()
        .map(|p| (rel(p), std::fs::read_to_string(p).unwrap()))
        .collect()
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let files = read_src();
    let nodes: BTreeSet<String> = files.iter().filter_map(|(r, _)| node_of(r)).collect();
    let target = |segs: &[&str]| -> Option<String> {
        let top = *segs.first()?;
        if let Some(sub) = segs.get(1)
            && SPLIT.contains(&top)
            && nodes.contains(&format!("{top}::{sub}"))
        {
            return Some(format!("{top}::{sub}"));
        }
        nodes.contains(top).then(|| top.to_string())
    };
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (rel, text) in &files {
        if rel == "plan/tests.rs" {
            continue;
        }
        let Some(from) = node_of(rel) else { continue };
        let code = code_only(non_test(text));
        let code = code.as_str();
        let mut to: Vec<String> = paths_after(code, "crate::")
            .iter()
            .filter_map(|s| target(s))
            .collect();
        // `super::x` inside a split module, where `x` is a sibling
        // submodule (not an item of a nested module's parent).
        let top = from.split("::").next().unwrap().to_string();
        if SPLIT.contains(&top.as_str()) && from.contains("::") {
            for segs in paths_after(code, "super::") {
                if let Some(sub) = segs.first() {
                    let sibling = format!("{top}::{sub}");
                    if nodes.contains(&sibling) {
                        to.push(sibling);
                    }
                }
            }
        }
        // A split module's mod.rs declares (and re-exports) its submodules.
        if SPLIT.contains(&from.as_str()) {
            let prefix = format!("{from}::");
            to.extend(nodes.iter().filter(|n| n.starts_with(&prefix)).cloned());
        }
        let entry = edges.entry(from.clone()).or_default();
        entry.extend(to.into_iter().filter(|t| *t != from));
    }
    edges
}

/// Every circle in the graph, each as its path of modules.
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        out: &mut Vec<Vec<String>>,
    ) {
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut c = stack[i..].to_vec();
            c.push(n.to_string());
            out.push(c);
            return;
        }
        if done.contains(n) {
            return;
        }
        stack.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            visit(m, edges, stack, done, out);
        }
        stack.pop();
        done.insert(n.to_string());
    }
    let mut out = Vec::new();
    let mut done = BTreeSet::new();
    for n in edges.keys() {
        visit(n, edges, &mut Vec::new(), &mut done, &mut out);
    }
    out
}

#[test]
fn no_import_circle_and_nothing_below_the_bottom() {
    let edges = graph();
    assert!(
        edges.contains_key("plan::safety") && edges.contains_key("commands"),
        "the module graph was not read: {edges:?}"
    );
    let found = circles(&edges);
    assert!(
        found.is_empty(),
        "import circles among src/ modules:\n{}",
        found
            .iter()
            .map(|c| c.join(" -> "))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let layer = |n: &str| {
        let top = n.split("::").next().unwrap();
        LAYERS.iter().position(|l| l.contains(&top))
    };
    let mut up = Vec::new();
    for (from, tos) in &edges {
        let Some(lf) = layer(from) else {
            up.push(format!("{from} is in no layer of tests/layout.rs"));
            continue;
        };
        for to in tos {
            let same_family = from.split("::").next() == to.split("::").next();
            if !same_family && layer(to).is_none_or(|lt| lt >= lf) {
                up.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(
        up.is_empty(),
        "imports that do not go down a layer:\n{}",
        up.join("\n")
    );
    for b in BOTTOM {
        let out = edges.get(*b).cloned().unwrap_or_default();
        assert!(
            out.is_empty(),
            "{b} must import nothing of the crate: {out:?}"
        );
    }
}

#[test]
fn the_circle_finder_finds_a_circle() {
    // The checker itself: a graph with a circle is reported, one without is not.
    let mut e: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    e.entry("a".into()).or_default().insert("b".into());
    e.entry("b".into()).or_default().insert("c".into());
    assert!(circles(&e).is_empty());
    e.entry("c".into()).or_default().insert("a".into());
    assert_eq!(circles(&e), vec![vec!["a", "b", "c", "a"]]);
    let segs = paths_after(
        "use crate::plan::safety::{x}; crate::text::now()",
        "crate::",
    );
    assert_eq!(segs, vec![vec!["plan", "safety"], vec!["text", "now"]]);
    assert!(paths_after("mycrate::x", "crate::").is_empty());
}

/// `(name, first line, length)` of each function in the non-test code: from
/// its `fn` line to the closing brace at the same indentation.
fn functions(code: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let indent = line.len() - t.len();
        let t = t
            .trim_start_matches("pub ")
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub(super) ")
            .trim_start_matches("const ")
            .trim_start_matches("unsafe ");
        let Some(rest) = t.strip_prefix("fn ") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let close = " ".repeat(indent) + "}";
        // A declaration without a body (`fn f();` in a trait) has no end.
        if line.trim_end().ends_with(';') {
            continue;
        }
        if let Some(end) = lines[i..].iter().position(|l| l.trim_end() == close) {
            out.push((name, i + 1, end + 1));
        }
    }
    out
}

#[test]
fn functions_and_files_stay_short() {
    let mut long = Vec::new();
    let mut seen = 0;
    for (rel, text) in read_src() {
        if rel == "plan/tests.rs" {
            continue;
        }
        let code = non_test(&text);
        let n = code.lines().count();
        if n > MAX_FILE_LINES {
            long.push(format!(
                "src/{rel}: {n} lines of non-test code (at most {MAX_FILE_LINES})"
            ));
        }
        for (name, line, len) in functions(code) {
            seen += 1;
            let limit = FN_EXCEPTIONS
                .iter()
                .find(|(f, n, _)| rel == *f && name == *n)
                .map_or(MAX_FN_LINES, |e| e.2);
            if len > limit {
                long.push(format!(
                    "src/{rel}:{line}: fn {name} is {len} lines (at most {limit})"
                ));
            }
        }
    }
    assert!(
        seen > 300,
        "only {seen} functions found: the reader is broken"
    );
    assert!(long.is_empty(), "too long:\n{}", long.join("\n"));
}

#[test]
fn the_function_reader_measures_bodies() {
    let code = "fn a() {\n    x();\n}\n\nimpl T {\n    pub fn b(&self) {\n        y();\n        z();\n    }\n}\n";
    assert_eq!(
        functions(code),
        vec![("a".to_string(), 1, 3), ("b".to_string(), 6, 4)]
    );
}
