//! `records`: the record set Mesos-DNS would serve, printed as JSON or as
//! a zone file, without NS1.

use crate::cli::{Format, RecordsArgs};
use crate::config::Config;
use crate::exit::{Exit, Fail};
use crate::records::{self, SystemResolver};
use crate::source::{detect_leader, gen_options_for, read_state, resolve_deadline};
use std::io::Write;

/// Prints the record set (`records`), with the figures of each step logged.
pub fn run(cfg: &Config, args: &RecordsArgs) -> Result<Exit, Fail> {
    let t0 = std::time::Instant::now();
    // The deadline bounds detection and the fetch here too (three hung
    // masters cost one deadline, not three timeouts).
    let deadline = t0.checked_add(cfg.deadline);
    let masters = detect_leader(cfg, deadline)?;
    let (body, source) = read_state(cfg, &masters, deadline)?;
    let size = body.len();
    let t1 = std::time::Instant::now();
    let state = records::state::parse(&body)
        .map_err(|e| Fail::new(Exit::Failed, format!("{source}: {e}")))?;
    let t2 = std::time::Instant::now();
    log::debug!(
        "records: parsed; peak memory so far {} bytes",
        crate::report::process_usage().1
    );
    let resolved = records::resolve::resolve_until(
        records::resolve::names_to_resolve(&state),
        std::sync::Arc::new(SystemResolver),
        resolve_deadline(cfg, deadline),
        records::resolve::RESOLVE_WORKERS,
    );
    let records::Generated {
        forward: mut set,
        reverse,
    } = records::generate_all(&state, &gen_options_for(cfg, &masters), &resolved.table)
        .map_err(|e| Fail::new(Exit::Failed, format!("{source}: {e}")))?;
    if !cfg.reverse_zones.is_empty() {
        log::info!(
            "records: {} PTR records in {} reverse zones; {} addresses claimed by two or more names get none",
            reverse.len(),
            reverse.zones.len(),
            reverse.ambiguous
        );
    }
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
        Format::Json => records::output::write_json_with(&mut set, &reverse, &mut out),
        Format::Zone => records::output::write_zone_with(&mut set, &reverse, cfg.ttl, &mut out),
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
