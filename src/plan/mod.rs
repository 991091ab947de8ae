//! The plan: the difference between the desired record set and the zone,
//! restricted to what the tool owns, and the safety checks that may refuse
//! it. No I/O here.
//!
//! * [`own`]: what the tool owns and may publish, and the ownership marker;
//! * [`diff`]: the changes between the desired records and the zone;
//! * [`safety`]: the hold-down, the window, the checks and the decision.

pub mod diff;
pub mod own;
pub mod safety;

pub use crate::text::format_time;
pub use diff::*;
pub use own::*;
pub use safety::*;

#[cfg(test)]
mod tests;
