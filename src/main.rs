use clap::Parser;
use mesos2ns1::cli::Cli;
use std::process::ExitCode;

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
    builder
        .format(|buf, record| {
            use std::io::Write;
            let style = buf.default_level_style(record.level());
            let message = record.args().to_string();
            writeln!(
                buf,
                "[{style}{:<5}{style:#}] {}",
                record.level(),
                mesos2ns1::text::escape_control(&message)
            )
        })
        .target(env_logger::Target::Stderr)
        .init();
    let code = mesos2ns1::commands::run(cli);
    ExitCode::from(code as u8)
}
