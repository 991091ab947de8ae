//! The commands, wired from configuration to exit code. Exit codes are
//! decided here and only here.

use crate::cli::{Cli, Command, Format, RecordsArgs};
use crate::config::Config;
use crate::records::{self, SystemResolver};
use std::io::Write;

pub use crate::exit::{Exit, Fail};
pub use crate::source::{build_records, gen_options, read_state};

pub fn run(cli: Cli) -> i32 {
    let env_key = std::env::var("NS1_APIKEY").ok();
    let result = Config::load(&cli.opts, env_key)
        .map_err(|e| Fail::new(Exit::Usage, e.0))
        .and_then(|cfg| {
            for w in &cfg.warnings {
                log::warn!("{w}");
            }
            match cli.command {
                Some(Command::Records(args)) => cmd_records(&cfg, &args),
                other => crate::sync::run_command(&cfg, other.unwrap_or(Command::Sync)),
            }
        });
    match result {
        Ok(exit) => exit as i32,
        Err(fail) => {
            eprintln!("mesos2ns1: {}", fail.msg);
            fail.exit as i32
        }
    }
}

fn cmd_records(cfg: &Config, args: &RecordsArgs) -> Result<Exit, Fail> {
    let t0 = std::time::Instant::now();
    let (body, source) = read_state(cfg, None)?;
    let size = body.len();
    let t1 = std::time::Instant::now();
    let state = records::state::parse(&body)
        .map_err(|e| Fail::new(Exit::Failed, format!("{source}: {e}")))?;
    let t2 = std::time::Instant::now();
    log::debug!(
        "records: parsed; peak memory so far {} bytes",
        crate::report::process_usage().1
    );
    let mut set = records::generate(&state, &gen_options(cfg), &SystemResolver)
        .map_err(|e| Fail::new(Exit::Failed, format!("{source}: {e}")))?;
    log::debug!(
        "records: generated; peak memory so far {} bytes",
        crate::report::process_usage().1
    );
    drop(state);
    drop(body);
    let t3 = std::time::Instant::now();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = match args.format {
        Format::Json => records::output::write_json(&mut set, &mut out),
        Format::Zone => records::output::write_zone(&mut set, cfg.ttl, &mut out),
    };
    written
        .and_then(|_| out.flush())
        .map_err(|e| Fail::new(Exit::Failed, format!("writing records: {e}")))?;
    let (cpu, rss) = crate::report::process_usage();
    log::info!(
        "records: read {size} bytes in {:.3}s, parsed in {:.3}s, generated in {:.3}s, sorted and wrote in {:.3}s; cpu {cpu:.2}s, peak memory {rss} bytes",
        (t1 - t0).as_secs_f64(),
        (t2 - t1).as_secs_f64(),
        (t3 - t2).as_secs_f64(),
        t3.elapsed().as_secs_f64()
    );
    Ok(Exit::Ok)
}
