//! `sync`, `plan` and `check`.

use crate::app::{Exit, Fail};
use crate::cli::Command;
use crate::config::Config;

pub fn run_command(cfg: &Config, cmd: Command) -> Result<Exit, Fail> {
    cfg.require_sync_settings()
        .map_err(|e| Fail::new(Exit::Usage, e.0))?;
    Err(Fail::new(
        Exit::Failed,
        format!("{cmd:?} is not available yet"),
    ))
}
