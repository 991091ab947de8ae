//! Exit codes and the error that ends a run: shared by every command
//! module, so that none of them imports another for them.

/// Exit codes; part of the interface (cron, monitoring, image tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The zone matches (plan: nothing to change).
    Ok = 0,
    /// Failed before any change.
    Failed = 1,
    /// Usage or configuration error.
    Usage = 2,
    /// A safety check held removals (additions were applied), a state
    /// file is damaged, or `adopt` ran without `--yes`.
    Refused = 3,
    /// Changes remain (sync: failed or postponed; plan: pending).
    Remaining = 4,
    /// The domain is claimed by another cluster (its ownership marker
    /// names another cluster id, or is a 0.2.0 marker this state dir did
    /// not write): nothing was written in it.
    Claimed = 5,
}

/// An error that ends a run: its exit code and a one-line message.
#[derive(Debug)]
pub struct Fail {
    pub exit: Exit,
    pub msg: String,
}

impl Fail {
    pub fn new(exit: Exit, msg: impl Into<String>) -> Fail {
        Fail {
            exit,
            msg: msg.into(),
        }
    }
}
