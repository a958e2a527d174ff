//! The command line, and nothing else: clap types stop here; `config` turns them into
//! the run's immutable configuration.

use crate::access::Kind;
use crate::engines::EngineChoice;
use crate::locations::AuthFormat;
use crate::output::Format;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// The top level is `login`'s help (the default command) and the list of commands.
const TOP_LEVEL_AFTER_HELP: &str = "\
Without a command, login runs: the options above are login's. Each command takes only
its own options: see ci-registry-login help COMMAND.

Exit codes:
  0  success
  1  helper get/store/erase/list only: the credential-helper protocol's failure
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
    after_help = TOP_LEVEL_AFTER_HELP,
    args_conflicts_with_subcommands = false
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub common: Common,
    /// One message per option given to a command it does not apply to (see
    /// [`APPLIES_TO`]); filled by [`try_parse_from`].
    #[arg(skip)]
    pub inapplicable: Vec<String>,
    #[command(flatten)]
    pub preflight: Preflight,
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
    /// Docker credential-helper mode: answer docker from the job's variables, store
    /// nothing. `install` sets it up; docker calls the rest (as
    /// docker-credential-ci-registry-login).
    Helper {
        #[arg(value_enum)]
        action: HelperAction,
    },
}

/// The credential-helper protocol's actions, and `install`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HelperAction {
    /// Server URL on stdin; the credential as JSON on stdout.
    Get,
    /// Stores nothing: accepts only the credential `get` would answer.
    Store,
    /// Nothing is stored, so nothing to erase.
    Erase,
    /// The registries `get` answers for, with user names.
    List,
    Version,
    /// Point docker's credHelpers for the registries at this binary and create the
    /// docker-credential-ci-registry-login link.
    Install,
}

#[derive(Debug, Args)]
pub struct Common {
    /// Intent: pull (needs read_registry). The default.
    #[arg(long, global = true, conflicts_with = "push")]
    pub pull: bool,

    /// Intent: push (needs read_registry and write_registry).
    #[arg(long, global = true)]
    pub push: bool,

    /// Registry to log in to [default: $CI_REGISTRY]; may repeat. Accepts https://host/,
    /// host:443 and upper case; never a path or user information.
    #[arg(long, global = true, value_name = "HOST[:PORT]")]
    pub registry: Vec<String>,

    /// Also log in to GitLab's dependency proxy ($CI_DEPENDENCY_PROXY_SERVER) with its
    /// own credential ($CI_DEPENDENCY_PROXY_USER/_PASSWORD); pull only.
    #[arg(long, global = true)]
    pub dependency_proxy: bool,

    /// With --dependency-proxy: the image whose manifest the live check requests
    /// through the proxy, proving a pull (alpine:3.20 in the group of
    /// $CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX, or a whole reference below it)
    /// [default: $CI_JOB_IMAGE when it comes through the proxy].
    #[arg(long, global = true, value_name = "IMAGE")]
    pub proxy_probe: Option<String>,

    /// Repository the job will pull or push, e.g. group/app [default: $CI_REGISTRY_IMAGE
    /// without its host, else $CI_PROJECT_PATH]. Lower-cased as GitLab does.
    #[arg(long, global = true, value_name = "PATH")]
    pub repository: Option<String>,

    /// Use only this kind of credential.
    #[arg(long = "use", global = true, value_name = "KIND", value_enum)]
    pub use_kind: Option<Kind>,

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

    /// A registry the explicit credential (--username, --password-env) may be sent to;
    /// repeat for several. It is sent nowhere else [default: the one registry of the
    /// call, when there is exactly one].
    #[arg(long, global = true, value_name = "REGISTRY")]
    pub password_for: Vec<String>,

    /// Where to store the credential: auto = the first of docker, podman, buildah and
    /// nerdctl found on PATH, else auth-file.
    #[arg(
        long,
        global = true,
        value_name = "ENGINE",
        default_value = "auto",
        value_enum
    )]
    pub engine: EngineChoice,

    /// Auth file to write: the auth-file engine writes it, podman/buildah/skopeo get it
    /// as --authfile, docker/nerdctl its folder as DOCKER_CONFIG (so it must be called
    /// config.json) [default: see --auth-format].
    #[arg(long, global = true, value_name = "FILE")]
    pub auth_file: Option<PathBuf>,

    /// Which file the auth-file engine writes without --auth-file: docker's
    /// ($DOCKER_CONFIG/config.json, else ~/.docker/config.json) or containers'
    /// ($REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json) [default: docker's,
    /// or kaniko's /kaniko/.docker/config.json when that folder exists and DOCKER_CONFIG
    /// is unset].
    #[arg(long, global = true, value_name = "FORMAT", value_enum)]
    pub auth_format: Option<AuthFormat>,

    /// Keep this job's credentials in a fresh private folder named after CI_JOB_ID (under
    /// $CI_BUILDS_DIR, else the temp folder) and print `export DOCKER_CONFIG=...` for
    /// `eval`; `logout --isolate` removes it [default: on when CI_SHARED_ENVIRONMENT=true,
    /// i.e. shell and ssh executors].
    #[arg(
        long,
        global = true,
        overrides_with = "no_isolate",
        conflicts_with = "auth_file"
    )]
    pub isolate: bool,

    /// Do not isolate, even on a shared executor.
    #[arg(long, global = true, overrides_with = "isolate")]
    pub no_isolate: bool,

    /// Also write the isolated folder as DOCKER_CONFIG=... to this dotenv file (for a
    /// later job: artifacts:reports:dotenv).
    #[arg(long, global = true, value_name = "FILE")]
    pub env_file_out: Option<PathBuf>,

    /// `login`: write what was used to FILE as dotenv, for a later job
    /// (artifacts:reports:dotenv): CI_REGISTRY_LOGIN_REGISTRY, _REPOSITORY, _KIND,
    /// _GRANTED, _EXPIRES_AT, _TOKEN_LIFETIME. Never the secret.
    #[arg(long, global = true, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// `helper install`: the folder (on PATH) for the docker-credential-ci-registry-login
    /// link [default: next to this binary].
    #[arg(long, global = true, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,

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

    /// Time allowed for all attempts of one request, and for an engine's login.
    #[arg(long, global = true, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub retry_timeout: Duration,

    /// Time allowed for one request.
    #[arg(long, global = true, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Warn when a push's registry token lives less than this (GitLab's default is 5m), or
    /// when the job token (a JWT) has less than this left.
    #[arg(long, global = true, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub min_token_lifetime: Duration,

    /// Warn when the access token used expires within this many days (GitLab's API
    /// says when); 0 turns the warning off.
    #[arg(long, global = true, value_name = "DAYS", default_value_t = 14,
          value_parser = clap::value_parser!(u64).range(0..=3650))]
    pub warn_expiry: u64,

    /// Output format.
    #[arg(
        long,
        global = true,
        value_name = "FORMAT",
        default_value = "text",
        value_enum
    )]
    pub format: Format,

    /// Say nothing but errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// More detail on stderr (-v info, -vv debug, -vvv trace); RUST_LOG is honoured too.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// Warn about options this command does not take instead of refusing them, for
    /// scripts that give login and logout the same options.
    #[arg(long, global = true)]
    pub ignore_inapplicable: bool,
}

/// What an option can apply to: the commands, with the credential-helper protocol's
/// actions (get, store, erase, list, version) as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    Login,
    Plan,
    Check,
    Logout,
    HelperProtocol,
    HelperInstall,
}

impl Applies {
    pub const ALL: [Applies; 6] = [
        Applies::Login,
        Applies::Plan,
        Applies::Check,
        Applies::Logout,
        Applies::HelperProtocol,
        Applies::HelperInstall,
    ];

    pub fn of(command: Command) -> Applies {
        match command {
            Command::Login => Applies::Login,
            Command::Plan => Applies::Plan,
            Command::Check => Applies::Check,
            Command::Logout => Applies::Logout,
            Command::Helper {
                action: HelperAction::Install,
            } => Applies::HelperInstall,
            Command::Helper { .. } => Applies::HelperProtocol,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Applies::Login => "login",
            Applies::Plan => "plan",
            Applies::Check => "check",
            Applies::Logout => "logout",
            Applies::HelperProtocol => "helper get/store/erase/list/version",
            Applies::HelperInstall => "helper install",
        }
    }

    /// Why an option outside the command's row means nothing to it.
    fn takes(self) -> &'static str {
        match self {
            Applies::Login => "login stores a credential; it does not install the helper",
            Applies::Plan => "plan is offline: it asks no one and stores nothing",
            Applies::Check => "check verifies every credential live and stores nothing",
            Applies::Logout => "logout removes this registry's stored login whatever it may do",
            Applies::HelperProtocol => {
                "docker's credential-helper calls answer offline from the job's variables and store nothing"
            }
            Applies::HelperInstall => {
                "helper install only points docker's credHelpers at this binary"
            }
        }
    }
}

use Applies::{
    Check as C, HelperInstall as HI, HelperProtocol as HP, Login as L, Logout as LO, Plan as P,
};

/// Every option (by clap id) and the commands it applies to, from what each command
/// reads (`commands.rs`, `helper.rs`, `pipeline.rs`). It drives each command's help and
/// the refusal of the rest. `insecure` applies wherever `--registry` does: a plain-HTTP
/// registry off loopback is refused without it.
pub const APPLIES_TO: &[(&str, &[Applies])] = &[
    ("pull", &[L, P, C]),
    ("push", &[L, P, C]),
    ("registry", &[L, P, C, LO, HP, HI]),
    ("dependency_proxy", &[L, P, C, LO, HI]),
    // Requested by the live check.
    ("proxy_probe", &[L, C]),
    ("repository", &[L, P, C]),
    ("use_kind", &[L, P, C, HP]),
    ("username", &[L, P, C, HP]),
    ("password_env", &[L, P, C, HP]),
    ("password_for", &[L, P, C, HP]),
    ("engine", &[L, LO]),
    ("auth_file", &[L, LO, HP, HI]),
    ("auth_format", &[L, LO]),
    ("isolate", &[L, LO, HI]),
    ("no_isolate", &[L, LO, HI]),
    ("env_file_out", &[L, HI]),
    ("report", &[L]),
    ("bin_dir", &[HI]),
    ("variables_file", &[L, P, C, LO, HP, HI]),
    ("no_verify", &[L]),
    ("insecure", &[L, P, C, LO, HP, HI]),
    ("ca_file", &[L, C]),
    ("gitlab_url", &[L, C]),
    ("retries", &[L, C]),
    // Also the time an engine's tool may take, logout's included.
    ("retry_timeout", &[L, C, LO]),
    ("timeout", &[L, C]),
    // Plan too: a job token (a JWT) about to end is said offline.
    ("min_token_lifetime", &[L, P, C]),
    // Needs GitLab's API, asked by the live check.
    ("warn_expiry", &[L, C]),
    // The protocol's answers and errors go to stdout in its own form.
    ("format", &[L, P, C, LO, HI]),
    ("quiet", &[L, P, C, LO, HP, HI]),
    ("verbose", &[L, P, C, LO, HP, HI]),
    ("ignore_inapplicable", &[L, P, C, LO, HP, HI]),
    // Issue 14's preflight: what the job pulls and pushes. Logout takes the images and
    // credentials too, to clear every host a login with the same flags stored.
    ("push_image", &[L, P, C, LO]),
    ("tag", &[L, P, C]),
    ("pull_image", &[L, P, C, LO]),
    ("dockerfile", &[L, P, C, LO]),
    ("build_arg", &[L, P, C, LO]),
    ("credential", &[L, P, C, LO]),
];

/// Whether option `id` applies to `command`; clap's own `help` and `version` always do.
pub fn applies(id: &str, command: Applies) -> bool {
    APPLIES_TO
        .iter()
        .find(|(option, _)| *option == id)
        .is_none_or(|(_, commands)| commands.contains(&command))
}

/// The parser: `Cli`'s, with each command's help showing only the options it takes.
/// Options stay global, so `ci-registry-login --push plan` still parses; the top level
/// shows `login`'s, the default command's.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let cli = Cli::command();
    // A subcommand that has an option of its own gets no global copy of it: each gets
    // its own copy of every option, hidden where it does not apply, so all still parse
    // (and are then refused by name) but its help shows only its own. Done before clap
    // builds the tree.
    let globals: Vec<clap::Arg> = cli
        .get_arguments()
        .filter(|a| a.is_global_set())
        .cloned()
        .collect();
    let copies = |sub: clap::Command, shown: &[Applies]| {
        globals.iter().fold(sub, |sub, a| {
            let takes = shown.iter().any(|&c| applies(a.get_id().as_str(), c));
            sub.arg(a.clone().hide(!takes))
        })
    };
    let mut cli = cli;
    for (name, shown) in [
        ("login", &[Applies::Login][..]),
        ("plan", &[Applies::Plan]),
        ("check", &[Applies::Check]),
        ("logout", &[Applies::Logout]),
        ("helper", &[Applies::HelperProtocol, Applies::HelperInstall]),
    ] {
        cli = cli.mut_subcommand(name, |sub| copies(sub, shown));
    }
    globals
        .iter()
        .filter(|a| !applies(a.get_id().as_str(), Applies::Login))
        .fold(cli, |cli, a| cli.mut_arg(a.get_id(), |a| a.hide(true)))
}

/// Parses `args`; options given to a command they do not apply to are listed in
/// [`Cli::inapplicable`], for the caller to refuse before anything happens.
pub fn try_parse_from(args: Vec<std::ffi::OsString>) -> Result<Cli, clap::Error> {
    use clap::FromArgMatches;
    let mut parser = command();
    let matches = parser.try_get_matches_from_mut(args)?;
    let mut cli = Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut parser))?;
    let given: Vec<&str> = matches
        .ids()
        .map(|id| id.as_str())
        .filter(|id| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
        .collect();
    cli.inapplicable = inapplicable(&parser, &given, cli.command.unwrap_or(Command::Login));
    Ok(cli)
}

/// One line for each option in `given` that `command` does not take: the flag, the
/// command, why, and where it applies.
fn inapplicable(parser: &clap::Command, given: &[&str], command: Command) -> Vec<String> {
    let applies_to = Applies::of(command);
    let command_name = match command {
        Command::Helper { action } => format!(
            "helper {}",
            action
                .to_possible_value()
                .expect("no action is skipped")
                .get_name()
        ),
        _ => applies_to.name().to_string(),
    };
    given
        .iter()
        .filter(|id| !applies(id, applies_to))
        .map(|id| {
            let flag = parser
                .get_arguments()
                .find(|a| a.get_id() == *id)
                .and_then(|a| a.get_long())
                .map_or_else(|| id.to_string(), |long| format!("--{long}"));
            let used_by: Vec<&str> = Applies::ALL
                .iter()
                .filter(|&&c| applies(id, c))
                .map(|c| c.name())
                .collect();
            format!(
                "{flag} does not apply to {command_name} ({}); it is for {}",
                applies_to.takes(),
                used_by.join(", ")
            )
        })
        .collect()
}

/// What the job pulls and pushes (issue 14): `check`, `login` and `plan` prove (or, for
/// `plan`, name the credential for) every image before the build. Kept in one struct
/// so that the per-command option table can list them together.
#[derive(Debug, Args, Default)]
pub struct Preflight {
    /// An image the job pushes (repeatable), e.g. registry.example.com/group/app:v1;
    /// without a tag, latest.
    #[arg(long, global = true, value_name = "IMAGE[:TAG]")]
    pub push_image: Vec<String>,

    /// A tag the job pushes to its own repository ($CI_REGISTRY_IMAGE, else --registry
    /// and --repository); repeatable. Checked against GitLab's protected and immutable
    /// tag rules.
    #[arg(long, global = true, value_name = "TAG")]
    pub tag: Vec<String>,

    /// An image the job pulls (repeatable), e.g. a service's; $CI_JOB_IMAGE is added
    /// when set and any of these flags is given.
    #[arg(long, global = true, value_name = "IMAGE")]
    pub pull_image: Vec<String>,

    /// A Dockerfile or Containerfile the job builds (repeatable): every FROM and
    /// COPY --from image is a pull.
    #[arg(long, global = true, value_name = "PATH")]
    pub dockerfile: Vec<PathBuf>,

    /// A build argument for the Dockerfiles' ARG lines, as docker build takes it.
    #[arg(long, global = true, value_name = "NAME=VALUE")]
    pub build_arg: Vec<String>,

    /// The credential for one registry host other than the job's, by the NAMES of the
    /// variables holding the user and the secret (never the values); repeatable.
    #[arg(long, global = true, value_name = "HOST=USER_VAR:SECRET_VAR")]
    pub credential: Vec<String>,
}

impl Preflight {
    /// Whether any image flag was given: only then is the whole job proven.
    pub fn asked(&self) -> bool {
        !(self.push_image.is_empty()
            && self.tag.is_empty()
            && self.pull_image.is_empty()
            && self.dockerfile.is_empty())
    }
}

/// No flag takes a value longer than a path can be.
const MAX_ARGUMENT_BYTES: usize = 4096;

/// An argument clap would refuse without saying which (not UTF-8) or quote back whole
/// (128 KiB of it, or a line break that forges the next log line): the problem, naming
/// the flag it belongs to. No flag's value has a reason to hold a control character.
pub fn argument_problem(args: &[std::ffi::OsString]) -> Option<String> {
    let unreadable = |a: &std::ffi::OsString| {
        a.len() > MAX_ARGUMENT_BYTES || a.to_str().is_none_or(|t| t.chars().any(char::is_control))
    };
    let (i, arg) = args
        .iter()
        .enumerate()
        .skip(1)
        .find(|(_, a)| unreadable(a))?;
    let lossy = arg.to_string_lossy();
    let flag = match (lossy.split_once('='), args[i - 1].to_str()) {
        (Some((flag, _)), _) if flag.starts_with('-') && flag.len() < 64 => flag.to_string(),
        (_, Some(previous)) if previous.starts_with('-') && !previous.contains('=') => {
            previous.to_string()
        }
        (_, Some(previous)) if previous.len() < 64 => format!("the argument after '{previous}'"),
        _ => format!("argument {i}"),
    };
    Some(if arg.to_str().is_none() {
        format!("{flag}: the value is not valid UTF-8")
    } else if arg.len() > MAX_ARGUMENT_BYTES {
        format!(
            "{flag}: the value is {} bytes long; no value is longer than {MAX_ARGUMENT_BYTES}",
            arg.len()
        )
    } else {
        format!("{flag}: the value contains a line break or another control character")
    })
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

    fn parse(args: &[&str]) -> Cli {
        let argv = std::iter::once("ci-registry-login")
            .chain(args.iter().copied())
            .map(std::ffi::OsString::from)
            .collect();
        try_parse_from(argv).unwrap()
    }

    fn help(args: &[&str]) -> String {
        let argv = std::iter::once("ci-registry-login").chain(args.iter().copied());
        let e = command().try_get_matches_from(argv).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp);
        e.to_string()
    }

    #[test]
    fn every_option_has_one_row_and_every_row_is_an_option() {
        let ids: Vec<String> = Cli::command()
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .filter(|id| id != "help" && id != "version")
            .collect();
        for id in &ids {
            let rows = APPLIES_TO.iter().filter(|(row, _)| row == id).count();
            assert_eq!(rows, 1, "{id}: {rows} rows in APPLIES_TO");
        }
        for (row, commands) in APPLIES_TO {
            assert!(ids.iter().any(|id| id == row), "{row} is no option");
            assert!(!commands.is_empty(), "{row} applies nowhere");
        }
    }

    #[test]
    fn each_help_lists_only_its_options() {
        command().debug_assert();
        let plan = help(&["plan", "--help"]);
        assert!(plan.contains("--push") && plan.contains("--use"), "{plan}");
        for absent in [
            "--engine",
            "--auth-file",
            "--report",
            "--no-verify",
            "--timeout",
        ] {
            assert!(!plan.contains(absent), "plan --help shows {absent}");
        }
        let logout = help(&["logout", "--help"]);
        assert!(logout.contains("--engine") && logout.contains("--isolate"));
        // Whole flags: logout takes --push-image and --pull-image (issue 14).
        let shows = |help: &str, flag: &str| {
            help.lines().any(|l| {
                l.split_whitespace()
                    .any(|w| w.trim_end_matches(',') == flag)
            })
        };
        for absent in ["--push", "--pull", "--use", "--no-verify", "--username"] {
            assert!(!shows(&logout, absent), "logout --help shows {absent}");
        }
        let top = help(&["--help"]);
        assert!(top.contains("--report") && top.contains("Commands:"));
        assert!(!top.contains("--bin-dir"), "the top level is login's");
        assert!(help(&["helper", "--help"]).contains("--bin-dir"));
        assert!(help(&["help", "plan"]).contains("ci-registry-login plan"));
    }

    #[test]
    fn options_a_command_does_not_take_are_named() {
        for args in [&["logout", "--push"][..], &["--push", "logout"]] {
            assert_eq!(
                parse(args).inapplicable,
                [
                    "--push does not apply to logout (logout removes this registry's stored login whatever it may do); it is for login, plan, check"
                ]
            );
        }
        let bin_dir = parse(&["helper", "get", "--bin-dir", "/x"]).inapplicable;
        assert!(
            bin_dir[0].starts_with("--bin-dir does not apply to helper get ("),
            "{bin_dir:?}"
        );
        assert_eq!(
            parse(&["--bin-dir", "/x", "helper", "install"])
                .inapplicable
                .len(),
            0
        );
        assert_eq!(parse(&["--report", "r.env"]).inapplicable.len(), 0);
        assert_eq!(parse(&["plan", "--engine", "docker"]).inapplicable.len(), 1);
        // Defaults are not given options.
        assert!(parse(&["logout"]).inapplicable.is_empty());
        assert!(parse(&["--push", "plan", "-v"]).inapplicable.is_empty());
    }

    #[test]
    fn unreadable_values_are_named() {
        use std::os::unix::ffi::OsStringExt;
        let bad = || std::ffi::OsString::from_vec(vec![b'a', 0xff]);
        let mut eq = std::ffi::OsString::from("--auth-file=");
        eq.push(bad());
        let args = |rest: Vec<std::ffi::OsString>| {
            let mut all = vec!["ci-registry-login".into(), "plan".into()];
            all.extend(rest);
            all
        };
        assert_eq!(
            argument_problem(&args(vec!["--username".into(), bad()])).unwrap(),
            "--username: the value is not valid UTF-8"
        );
        assert!(
            argument_problem(&args(vec![eq]))
                .unwrap()
                .starts_with("--auth-file:")
        );
        assert!(argument_problem(&args(vec!["--push".into()])).is_none());
        assert_eq!(
            argument_problem(&args(vec!["--format".into(), "json\nX: y".into()])).unwrap(),
            "--format: the value contains a line break or another control character"
        );
        let long = "x".repeat(MAX_ARGUMENT_BYTES + 1);
        assert_eq!(
            argument_problem(&args(vec!["--use".into(), long.into()])).unwrap(),
            "--use: the value is 4097 bytes long; no value is longer than 4096"
        );
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

// The typed flags take their values from the domain's own tables: a new credential kind
// or engine is a row there, and `--use`/`--engine` know it.
macro_rules! value_enum_from_table {
    ($type:ty, $all:expr, $name:expr) => {
        value_enum_from_table!($type, $all, $name, |_| None);
    };
    ($type:ty, $all:expr, $name:expr, $help:expr) => {
        impl clap::ValueEnum for $type {
            fn value_variants<'a>() -> &'a [Self] {
                &$all
            }

            fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
                let name: fn(&$type) -> &'static str = $name;
                let help: fn(&$type) -> Option<&'static str> = $help;
                let value = clap::builder::PossibleValue::new(name(self));
                Some(match help(self) {
                    Some(help) => value.help(help),
                    None => value,
                })
            }
        }
    };
}

value_enum_from_table!(Kind, Kind::BY_USE, |k| k.as_str(), |k| Some(k.row().help));
value_enum_from_table!(EngineChoice, EngineChoice::ALL, |e| e.name());
value_enum_from_table!(AuthFormat, AuthFormat::ALL, |f| f.as_str());
value_enum_from_table!(Format, Format::ALL, |f| f.as_str());
