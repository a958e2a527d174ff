//! Command line and environment in, one immutable configuration, the command, an exit
//! code out.

use ci_registry_login::cli::Cli;
use ci_registry_login::commands;
use ci_registry_login::config::Config;
use ci_registry_login::error::{Exit, Failure};
use ci_registry_login::vars::Vars;
use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Docker runs the binary as docker-credential-ci-registry-login ACTION.
    let args = ci_registry_login::helper::argv(std::env::args_os().collect());
    if let Some(message) = ci_registry_login::cli::argument_problem(&args) {
        eprintln!("ci-registry-login: error: {message}");
        return ExitCode::from(Exit::Usage.code());
    }
    let cli = Cli::parse_from(args);
    init_tracing(cli.common.verbose, cli.common.quiet);
    let exit = match run(cli) {
        Ok(exit) => exit,
        Err(failure) => {
            ci_registry_login::output::print_failure(&failure);
            failure.exit
        }
    };
    ExitCode::from(exit.code())
}

fn run(cli: Cli) -> Result<Exit, Failure> {
    let vars = Vars::load(std::env::vars_os(), cli.common.variables_file.as_deref())
        .map_err(|e| Failure::usage(e.to_string()))?;
    let config = Config::new(cli, vars)?;
    commands::run(&config)
}

/// Logs go to stderr; `-v` raises the level, `RUST_LOG` (a level, or `target=level`
/// directives) overrides it. Colour only for a terminal, and never with `NO_COLOR`.
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
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(ansi)
                .with_target(false),
        )
        .with(filter)
        .init();
}
