//! The plan: the difference between the desired record set and the zone,
//! restricted to what the tool owns, and the safety checks that may refuse
//! it. No I/O here.
//!
//! * [`own`]: what the tool owns and may publish, and the ownership marker;
//! * [`diff`]: the changes between the desired records and the zone;
//! * [`safety`]: the hold-down, the checks and the decision;
//! * [`held`]: the checks and the removals they hold;
//! * [`full_disk`]: every removal held when the safety state cannot be saved;
//! * [`clocks`]: the hold-down clocks and what the runs have seen;
//! * [`history`]: the window's samples and the baseline taken from them;
//! * [`recovery`]: waiting for a new leader's agents (failover recovery).

pub mod clocks;
pub mod diff;
pub mod full_disk;
pub mod held;
pub mod history;
pub mod own;
pub mod recovery;
pub mod safety;

pub use crate::text::format_time;
pub use clocks::*;
pub use diff::*;
pub use full_disk::*;
pub use held::*;
pub use history::*;
pub use own::*;
pub use recovery::*;
pub use safety::*;

#[cfg(test)]
mod tests;
