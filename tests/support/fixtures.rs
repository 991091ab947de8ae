//! The public Mesos states and the record sets upstream Mesos-DNS serves
//! for them (from the mesos-dns, Marathon, DataDog, etcd-mesos and Mantl
//! test suites) are third-party data, kept out of the repository: the
//! tests read them from `../shared/fixtures/` beside the clone (origins
//! and licenses in its `README.md`; CI lays `shared/` there).
//!
//! Without that directory the tests that need it skip with one loud line
//! saying where the files are expected, except under `CI=true`, where they
//! fail. Stand-alone (no other support module), so that a test can include
//! it alone with `#[path]`.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the shared fixtures are expected: `../shared/fixtures` relative
/// to the repository root.
pub const SHARED_FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures");

/// The shared fixtures directory, or `None` after one loud line on stderr
/// saying that `test` is skipped and where the files are expected (written
/// to the process's stderr, so that the test harness does not capture it).
/// Panics under `CI=true` (or `CI=1`): CI must run these tests.
pub fn shared_fixtures(test: &str) -> Option<PathBuf> {
    let dir = Path::new(SHARED_FIXTURES);
    if dir.is_dir() {
        return Some(dir.to_path_buf());
    }
    // The same place without the `..`, when the parent exists.
    let shown = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .canonicalize()
        .map(|beside| beside.join("shared/fixtures"))
        .unwrap_or_else(|_| dir.to_path_buf());
    let what = format!(
        "{test}: needs the public Mesos fixtures (third-party data, not in the repository) in {} \
         (shared/fixtures beside the clone; see tests/fixtures/README.md)",
        shown.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{what}");
    }
    let _ = writeln!(std::io::stderr(), "*** SKIPPED {what} ***");
    None
}
