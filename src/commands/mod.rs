//! The commands, wired from configuration to exit code: one file per
//! subcommand, dispatched here. Exit codes are decided in these files and
//! only here, and a failure is printed by [`say_failure`] only.
//!
//! * [`records`]: the record set, printed (no NS1);
//! * [`check`]: the configuration, the masters, the key and the zone;
//! * [`sync`]: `sync` and `plan`, one run under the state dir's lock;
//! * [`reverse`]: the listed reverse zones of a `sync` or `plan` pass;
//! * [`adopt`]: claiming a domain that holds records already;
//! * [`follow`]: `sync`, then the leading master's event stream, until SIGTERM.

pub mod adopt;
pub mod check;
pub mod claim;
pub mod follow;
pub mod records;
pub mod reverse;
pub mod sync;

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::exit::{Exit, Fail};
use crate::zone::ReadOptions;
use std::time::Instant;

pub use sync::Mode;

/// Runs the command line's command; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let env_key = std::env::var("NS1_APIKEY").ok();
    let result = Config::load(&cli.opts, env_key)
        .map_err(|e| Fail::new(Exit::Usage, e.0))
        .and_then(|cfg| {
            for w in &cfg.warnings {
                log::warn!("{w}");
            }
            dispatch(&cfg, cli.command.unwrap_or(Command::Sync))
        });
    match result {
        Ok(exit) => exit as i32,
        Err(fail) => {
            say_failure(&fail);
            fail.exit as i32
        }
    }
}

fn dispatch(cfg: &Config, cmd: Command) -> Result<Exit, Fail> {
    if let Command::Records(args) = &cmd {
        return records::run(cfg, args);
    }
    let started = Instant::now();
    cfg.require_sync_settings()
        .map_err(|e| Fail::new(Exit::Usage, e.0))?;
    match cmd {
        Command::Check => check::run(cfg),
        Command::Plan => sync::run(cfg, Mode::Plan, started),
        Command::Adopt(args) => sync::run(cfg, Mode::Adopt { yes: args.yes }, started),
        Command::Follow(args) => follow::run(cfg, &args),
        _ => sync::run(cfg, Mode::Sync, started),
    }
}

/// The one place a failure is said: `mesos2ns1: <message>` on stderr, cut
/// at 4,000 characters (stderr's budget, see main.rs).
pub fn say_failure(fail: &Fail) {
    let msg = match fail.msg.char_indices().nth(4000) {
        Some((end, _)) => format!("{}… (cut)", &fail.msg[..end]),
        None => fail.msg.clone(),
    };
    eprintln!("mesos2ns1: {msg}");
}

/// How this configuration reads its zone (see [`crate::zone`]).
pub fn read_options(cfg: &Config) -> ReadOptions<'_> {
    ReadOptions {
        zone: &cfg.zone,
        endpoint: &cfg.ns1_endpoint,
        state_dir: &cfg.state_dir,
        full_read_every: cfg.full_read_every,
        create_zone: cfg.create_zone,
    }
}

/// Prints a plan's changes, one line each, then its figures.
pub fn print_plan(plan: &crate::plan::Plan) {
    use std::io::Write;
    // Buffered: a plan of a million changes is not a million writes.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for change in &plan.changes {
        // Names come from the state: one change, one line.
        if writeln!(out, "{}", crate::text::escape_control(&change.to_string())).is_err() {
            return;
        }
    }
    let _ = writeln!(out, "plan: {plan}");
    let _ = out.flush();
}
