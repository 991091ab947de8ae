use clap::Parser;
use mesos2ns1::cli::Cli;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let level = match cli.opts.verbose {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        2 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    // Our own modules log at the requested level; libraries at most at
    // debug, because ureq's HTTP layer traces raw request headers, the NS1
    // key among them.
    let mut builder = env_logger::Builder::new();
    builder
        .filter_level(level.min(log::LevelFilter::Debug))
        .filter_module("mesos2ns1", level);
    for target in mesos2ns1::ns1::KEY_LEAKING_TRACE_TARGETS {
        builder.filter_module(target, level.min(log::LevelFilter::Debug));
    }
    // "[LEVEL] message", as env_logger's default without timestamp and
    // target, but with control characters escaped: text from a state or a
    // server (names, a leader pid) cannot start a log line of its own.
    // Up to -v, a line is cut at LINE_MAX and the lines stop at LOG_BUDGET
    // bytes (the code says each warning once; this is the backstop).
    let bounded = cli.opts.verbose <= 1;
    builder
        .format(move |buf, record| {
            use std::io::Write;
            let style = buf.default_level_style(record.level());
            let message = record.args().to_string();
            let mut message = mesos2ns1::text::escape_control(&message).into_owned();
            if bounded {
                if let Some((end, _)) = message.char_indices().nth(LINE_MAX) {
                    message.truncate(end);
                    message.push_str("… (line cut)");
                }
                let len = message.len() + 9;
                if LOGGED.fetch_add(len, Ordering::Relaxed) + len > LOG_BUDGET {
                    DROPPED.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
            }
            writeln!(buf, "[{style}{:<5}{style:#}] {message}", record.level())
        })
        .target(env_logger::Target::Stderr)
        .init();
    let code = mesos2ns1::commands::run(cli);
    let dropped = DROPPED.load(Ordering::Relaxed);
    if dropped > 0 {
        eprintln!(
            "[WARN ] {dropped} more log lines not written: one run writes at most {LOG_BUDGET} bytes of log up to -v"
        );
    }
    ExitCode::from(code as u8)
}

/// The most characters of one log line up to `-v`.
const LINE_MAX: usize = 2000;
/// The most bytes of log lines one run writes up to `-v`; with the one
/// failure line (see `commands::say_failure`) stderr stays under 64 KiB.
const LOG_BUDGET: usize = 56 * 1024;
static LOGGED: AtomicUsize = AtomicUsize::new(0);
static DROPPED: AtomicUsize = AtomicUsize::new(0);
