//! The command line, and nothing else: clap types stop here; `config` turns them into
//! the run's immutable configuration.

use clap::{ArgAction, Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  2  bad usage or bad input (a flag, a variable, a file)
  3  no credential found, or none can serve the intent
  4  the registry rejected the credential, or granted less than asked
  5  the registry or GitLab cannot be reached
  6  the engine is missing, or its login failed

Secrets are read from environment variables only, never from flags, and are never
printed. Real environment variables win over --variables-file.";

#[derive(Debug, Parser)]
#[command(
    name = "ci-registry-login",
    version,
    about = "Log a CI job into a container registry: find every credential, check it can pull or push, log in without exposing the secret",
    after_help = EXIT_CODES,
    args_conflicts_with_subcommands = false,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Pick the best credential, verify it, and log in (the default).
    Login,
    /// Show what would be used and why; offline, no login, never a secret.
    Plan,
    /// Verify every credential live and show what each is granted.
    Check,
    /// Remove this registry's credentials from the engine or auth file.
    Logout,
}

#[derive(Debug, Args)]
pub struct Common {
    /// Intent: pull (needs read_registry). The default.
    #[arg(long, global = true, conflicts_with = "push")]
    pub pull: bool,

    /// Intent: push (needs read_registry and write_registry).
    #[arg(long, global = true)]
    pub push: bool,

    /// Registry to log in to [default: $CI_REGISTRY]. Accepts https://host/, host:443 and
    /// upper case; never a path or user information.
    #[arg(long, global = true, value_name = "HOST[:PORT]")]
    pub registry: Option<String>,

    /// Repository the job will pull or push, e.g. group/app [default: $CI_REGISTRY_IMAGE
    /// without its host, else $CI_PROJECT_PATH]. Lower-cased as GitLab does.
    #[arg(long, global = true, value_name = "PATH")]
    pub repository: Option<String>,

    /// Use only this kind of credential.
    #[arg(long = "use", global = true, value_name = "KIND",
          value_parser = ["registry-user", "job-token", "deploy-token", "access-token", "password"])]
    pub use_kind: Option<String>,

    /// User name for the explicit credential [default: $REGISTRY_USER].
    #[arg(long, global = true, value_name = "NAME")]
    pub username: Option<String>,

    /// Name of the environment variable holding the explicit secret (never the secret
    /// itself).
    #[arg(
        long,
        global = true,
        value_name = "VAR",
        default_value = "REGISTRY_PASSWORD"
    )]
    pub password_env: String,

    /// Where to store the credential: auto = the first of docker found on PATH, else
    /// auth-file.
    #[arg(long, global = true, value_name = "ENGINE", default_value = "auto",
          value_parser = ["auto", "docker", "auth-file"])]
    pub engine: String,

    /// Docker config file the auth-file engine writes [default: $DOCKER_CONFIG/config.json,
    /// else ~/.docker/config.json].
    #[arg(long, global = true, value_name = "FILE")]
    pub auth_file: Option<PathBuf>,

    /// Variables for local CI emulation, as gitlab-ci-local's .gitlab-ci-local-variables.yml
    /// (a YAML map, {values: {"*": ...}} entries, or dotenv). Real environment variables win
    /// over the file.
    #[arg(long, global = true, value_name = "FILE")]
    pub variables_file: Option<PathBuf>,

    /// Log in without checking the credential against the registry first.
    #[arg(long, global = true)]
    pub no_verify: bool,

    /// Allow plain HTTP to a registry or token endpoint that is not a loopback address.
    #[arg(long, global = true)]
    pub insecure: bool,

    /// Extra CA bundle (PEM) to trust, besides the system's and Mozilla's roots and
    /// $CI_SERVER_TLS_CA_FILE. May repeat.
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_file: Vec<PathBuf>,

    /// GitLab's URL, for reading access tokens' scopes [default: $CI_API_V4_URL].
    #[arg(long, global = true, value_name = "URL")]
    pub gitlab_url: Option<String>,

    /// Attempts per request, the first included (connect errors, timeouts, 408, 429, 5xx;
    /// never 401 or 403).
    #[arg(long, global = true, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=20))]
    pub retries: u32,

    /// Time allowed for all attempts of one request.
    #[arg(long, global = true, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub retry_timeout: Duration,

    /// Time allowed for one request.
    #[arg(long, global = true, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Warn when a push's registry token lives less than this (GitLab's default is 5m).
    #[arg(long, global = true, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub min_token_lifetime: Duration,

    /// Output format.
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub format: String,

    /// Say nothing but errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// More detail on stderr (-v info, -vv debug, -vvv trace); RUST_LOG is honoured too.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
}

/// `90s`, `5m`, `1h`, `250ms`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (e.g. 90s, 5m, 1h)"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (ms, s, m, h)")),
    };
    if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("'{s}' is out of range (0 to 24h)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("99999h").is_err());
    }
}
