//! Command line and environment in, one immutable configuration, the command, an exit
//! code out.

use ci_registry_login::cli::Cli;
use ci_registry_login::commands;
use ci_registry_login::config::Config;
use ci_registry_login::error::{Exit, Failure};
use ci_registry_login::output::Format;
use ci_registry_login::vars::Vars;
use std::process::ExitCode;

fn main() -> ExitCode {
    harden_process();
    // Docker runs the binary as docker-credential-ci-registry-login ACTION.
    let args = ci_registry_login::helper::argv(std::env::args_os().collect());
    if let Some(message) = ci_registry_login::cli::argument_problem(&args) {
        ci_registry_login::output::say(&format!("ci-registry-login: error: {message}"));
        return ExitCode::from(Exit::Usage.code());
    }
    let cli = ci_registry_login::cli::try_parse_from(args).unwrap_or_else(|e| e.exit());
    init_tracing(cli.common.verbose, cli.common.quiet);
    let json = cli.common.format == Format::Json;
    let exit = match run(cli) {
        Ok(exit) => exit,
        Err(failure) => {
            ci_registry_login::output::print_failure(&failure);
            // `--format json` promises JSON on stdout, also when nothing could start.
            if json {
                ci_registry_login::output::print_json(&ci_registry_login::output::failure_json(
                    &failure,
                ));
            }
            failure.exit
        }
    };
    ExitCode::from(exit.code())
}

/// Secrets live in this process's memory: no core file may hold them (a crash with
/// `ulimit -c unlimited` once wrote the job token eight times), and no other process of
/// the same user may read its memory through ptrace or /proc. An engine started later is
/// dumpable again after its exec; it inherits the core limit of 0, which costs it nothing.
fn harden_process() {
    use rustix::process::{DumpableBehavior, Resource, Rlimit, getrlimit, set_dumpable_behavior};
    if let Err(e) = set_dumpable_behavior(DumpableBehavior::NotDumpable) {
        tracing::debug!("cannot mark the process non-dumpable: {e}");
    }
    let core = Rlimit {
        current: Some(0),
        maximum: getrlimit(Resource::Core).maximum,
    };
    if let Err(e) = rustix::process::setrlimit(Resource::Core, core) {
        tracing::debug!("cannot set RLIMIT_CORE to 0: {e}");
    }
}

fn run(cli: Cli) -> Result<Exit, Failure> {
    // An option the command does not take is refused before anything is read.
    if let Some(message) = cli.inapplicable.first()
        && !cli.common.ignore_inapplicable
    {
        return Err(Failure::usage(message.clone()));
    }
    let vars = Vars::load(std::env::vars_os(), cli.common.variables_file.as_deref())
        .map_err(|e| Failure::usage(e.to_string()))?;
    let config = Config::new(cli, vars)?;
    commands::run(&config)
}

/// Logs go to stderr, one physical line per event: what a server said is escaped on the
/// way out, so no field can forge a line (and no colour escapes either, for the same
/// reason). `-v` raises the level, `RUST_LOG` (a level, or `target=level` directives)
/// overrides it.
fn init_tracing(verbose: u8, quiet: bool) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let level = match (quiet, verbose) {
        (true, _) => LevelFilter::ERROR,
        (false, 0) => LevelFilter::WARN,
        (false, 1) => LevelFilter::INFO,
        (false, 2) => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    // An empty RUST_LOG means unset, not "log nothing".
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .and_then(|s| s.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(level));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(|| LogLine)
                .with_ansi(false)
                .with_target(false),
        )
        .with(filter)
        .init();
}

/// stderr for log events: each event arrives as one buffer ending in a line break; any
/// other control character or line break inside it is escaped. Write errors are dropped.
struct LogLine;

impl std::io::Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let body = text.strip_suffix('\n').unwrap_or(&text);
        ci_registry_login::output::say(&ci_registry_login::text::one_line(body));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
