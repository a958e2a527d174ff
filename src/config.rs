//! Turns the command line and the variables into one immutable [`Config`]. Every bad
//! value is refused here, with the flag or variable named, before anything happens.

use crate::access::{Intent, Kind};
use crate::candidates::{Explicit, Mode, SECRET_VARIABLES};
use crate::cli::{Cli, Command};
use crate::engines::{EngineChoice, Paths, RunPolicy};
use crate::error::{Failure, Result};
use crate::http::{NetSettings, RetryPolicy};
use crate::names::{NameError, Registry, Repository, Scheme};
use crate::output::{Format, Printer};
use crate::secret::Secret;
use crate::tls::ExtraCa;
use crate::vars::{VarError, Vars};
use std::path::PathBuf;
use std::time::Duration;

/// One registry to serve, with the repository to check access on.
#[derive(Debug, Clone)]
pub struct Target {
    pub registry: Registry,
    pub repository: Option<Repository>,
}

pub struct Config {
    pub command: Command,
    pub intent: Intent,
    pub targets: Vec<Target>,
    pub use_kind: Option<Kind>,
    pub explicit: Explicit,
    pub engine: EngineChoice,
    pub paths: Paths,
    pub engine_policy: RunPolicy,
    pub printer: Printer,
    pub verify: bool,
    pub insecure: bool,
    pub net: NetSettings,
    pub min_token_lifetime: Duration,
    pub api_url: Option<String>,
    pub mode: Mode,
    pub vars: Vars,
    /// Said once per run, whatever happens.
    pub warnings: Vec<String>,
}

impl From<VarError> for Failure {
    fn from(e: VarError) -> Failure {
        Failure::usage(e.to_string())
    }
}

impl Config {
    pub fn new(cli: Cli, vars: Vars) -> Result<Config> {
        let c = cli.common;
        let mode = Mode::detect(&vars);
        let intent = if c.push { Intent::Push } else { Intent::Pull };
        let targets = targets(
            &vars,
            c.registry.as_deref(),
            c.repository.as_deref(),
            c.insecure,
        )?;
        let mut warnings = vars.notes.clone();
        if vars.is_true("CI_DEBUG_TRACE") {
            warnings.push(
                "CI_DEBUG_TRACE is on: the job log shows every variable, including the secrets this tool keeps out of it"
                    .into(),
            );
        }
        let mut extra_cas = Vec::new();
        for path in &c.ca_file {
            extra_cas.push(
                ExtraCa::from_file("--ca-file", &path.display().to_string())
                    .map_err(|e| Failure::usage(e.to_string()))?,
            );
        }
        if let Some(ca) = ci_server_ca(&vars, &mut warnings)? {
            extra_cas.push(ca);
        }
        let api_url = match &c.gitlab_url {
            Some(url) => Some(api_url_from("--gitlab-url", url)?),
            None => match vars.setting("CI_API_V4_URL")? {
                Some(url) => Some(api_url_from("CI_API_V4_URL", url)?),
                None => None,
            },
        };
        let explicit = Explicit {
            username: c.username,
            password_var: c.password_env.clone(),
            password_var_explicit: c.password_env != Explicit::default().password_var,
            ..Explicit::default()
        };
        if !valid_var_name(&explicit.password_var) {
            return Err(Failure::usage(format!(
                "--password-env '{}' is not a variable name: give the NAME of the variable that holds the secret, never the secret",
                crate::output::sanitize(&explicit.password_var, 40)
            )));
        }
        let retry = RetryPolicy {
            attempts: c.retries,
            budget: c.retry_timeout,
            ..RetryPolicy::default()
        };
        let engine_policy = RunPolicy {
            retry,
            scrub: secrets_in(&vars, &explicit.password_var),
        };
        Ok(Config {
            command: cli.command.unwrap_or(Command::Login),
            intent,
            targets,
            use_kind: c
                .use_kind
                .map(|k| k.parse().expect("clap checked the value")),
            explicit,
            engine: EngineChoice::parse(&c.engine).expect("clap checked the value"),
            paths: paths(&vars, c.auth_file)?,
            engine_policy,
            printer: Printer {
                format: if c.format == "json" {
                    Format::Json
                } else {
                    Format::Text
                },
                quiet: c.quiet,
            },
            verify: !c.no_verify,
            insecure: c.insecure,
            net: NetSettings {
                timeout: c.timeout.max(Duration::from_millis(1)),
                retry,
                extra_cas,
            },
            min_token_lifetime: c.min_token_lifetime,
            api_url,
            mode,
            vars,
            warnings,
        })
    }
}

fn bad_name(what: &str, value: &str, e: NameError) -> Failure {
    Failure::usage(format!(
        "{what} '{}' {e}",
        crate::output::sanitize(value, 80)
    ))
}

/// The registry from `--registry` or `CI_REGISTRY`, and the repository to check.
fn targets(
    vars: &Vars,
    registry_flag: Option<&str>,
    repository_flag: Option<&str>,
    insecure: bool,
) -> Result<Vec<Target>> {
    let ci_registry = vars.setting("CI_REGISTRY")?;
    let registry = match (registry_flag, ci_registry) {
        (Some(flag), _) => Registry::parse(flag).map_err(|e| bad_name("--registry", flag, e))?,
        (None, Some(ci)) => {
            Registry::parse(ci).map_err(|e| bad_name(&vars.describe("CI_REGISTRY"), ci, e))?
        }
        (None, None) => {
            return Err(Failure::usage(
                "no registry to log in to: pass --registry HOST[:PORT] or set CI_REGISTRY",
            ));
        }
    };
    if registry.explicit_scheme() == Some(Scheme::Http) && !insecure && !registry.is_loopback() {
        return Err(Failure::usage(format!(
            "--registry http://{registry}: plain HTTP to a registry that is not a loopback address needs --insecure"
        )));
    }
    // CI_* defaults describe CI_REGISTRY's project; they do not apply to other registries.
    let ci_is_target = ci_registry
        .and_then(|ci| Registry::parse(ci).ok())
        .is_none_or(|ci| ci.same_as(&registry));
    let repository = match repository_flag {
        Some(flag) => Some(
            Repository::parse(flag, Some(&registry))
                .map_err(|e| bad_name("--repository", flag, e))?,
        ),
        None if ci_is_target => default_repository(vars, &registry)?,
        None => None,
    };
    Ok(vec![Target {
        registry,
        repository,
    }])
}

fn default_repository(vars: &Vars, registry: &Registry) -> Result<Option<Repository>> {
    if let Some(image) = vars.setting("CI_REGISTRY_IMAGE")?
        && let Some((host, _)) = image.split_once('/')
        && Registry::parse(host).is_ok_and(|h| h.same_as(registry))
    {
        return Repository::parse(image, Some(registry))
            .map(Some)
            .map_err(|e| bad_name(&vars.describe("CI_REGISTRY_IMAGE"), image, e));
    }
    match vars.setting("CI_PROJECT_PATH")? {
        Some(path) => Repository::parse(path, None)
            .map(Some)
            .map_err(|e| bad_name(&vars.describe("CI_PROJECT_PATH"), path, e)),
        None => Ok(None),
    }
}

/// `CI_SERVER_TLS_CA_FILE` is set by the runner as a file variable: a path, or (when
/// defined by hand) the PEM itself. A path that does not exist only earns a warning:
/// since runner 16.6 service containers may see a path that is not there yet.
fn ci_server_ca(vars: &Vars, warnings: &mut Vec<String>) -> Result<Option<ExtraCa>> {
    let Some(value) = vars.setting("CI_SERVER_TLS_CA_FILE")? else {
        return Ok(None);
    };
    let name = vars.describe("CI_SERVER_TLS_CA_FILE");
    let loaded = if value.trim_start().starts_with("-----BEGIN") {
        ExtraCa::from_pem(&name, value.as_bytes(), "the variable's value")
    } else if std::path::Path::new(value).is_file() {
        ExtraCa::from_file(&name, value)
    } else {
        warnings.push(format!(
            "{name} names {value}, which does not exist; it is ignored"
        ));
        return Ok(None);
    };
    match loaded {
        Ok(ca) => Ok(Some(ca)),
        Err(e) => {
            warnings.push(format!("{e}; it is ignored"));
            Ok(None)
        }
    }
}

/// `https://gitlab.example.com` or `.../api/v4` -> `.../api/v4`.
fn api_url_from(what: &str, url: &str) -> Result<String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| {
        Failure::usage(format!(
            "{what} '{}' is not a URL: {e}",
            crate::output::sanitize(url, 80)
        ))
    })?;
    if !matches!(parsed.scheme(), "http" | "https")
        || !parsed.username().is_empty()
        || parsed.password().is_some()
    {
        return Err(Failure::usage(format!(
            "{what} must be an http(s) URL without user information"
        )));
    }
    let base = url.trim_end_matches('/');
    Ok(if base.ends_with("/api/v4") {
        base.to_string()
    } else {
        format!("{base}/api/v4")
    })
}

/// Where file-writing engines write. `HOME` is read, never looked up: a static binary
/// must not consult NSS.
fn paths(vars: &Vars, auth_file: Option<PathBuf>) -> Result<Paths> {
    let docker_config_file = match auth_file {
        Some(path) => Some(path),
        None => match (vars.setting("DOCKER_CONFIG")?, vars.setting("HOME")?) {
            (Some(dir), _) => Some(PathBuf::from(dir).join("config.json")),
            (None, Some(home)) => Some(PathBuf::from(home).join(".docker/config.json")),
            (None, None) => None,
        },
    };
    Ok(Paths {
        docker_config_file,
        docker_config_missing: "neither DOCKER_CONFIG nor HOME is set: pass --auth-file FILE",
    })
}

/// Every secret the run can see in its variables, to keep out of children's environments.
fn secrets_in(vars: &Vars, password_var: &str) -> Vec<Secret> {
    SECRET_VARIABLES
        .iter()
        .copied()
        .chain([password_var])
        .filter_map(|name| vars.get(name).ok().flatten())
        .filter(|v| !v.is_empty())
        .map(Secret::new)
        .collect()
}

fn valid_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets_for(
        pairs: &[(&str, &str)],
        registry: Option<&str>,
        repo: Option<&str>,
    ) -> Result<Vec<Target>> {
        targets(
            &Vars::from_pairs(pairs.iter().copied()),
            registry,
            repo,
            false,
        )
    }

    #[test]
    fn repository_defaults_follow_gitlab() {
        let t = targets_for(
            &[
                ("CI_REGISTRY", "reg.example.com:5050"),
                ("CI_REGISTRY_IMAGE", "reg.example.com:5050/group/app"),
                ("CI_PROJECT_PATH", "Group/App"),
            ],
            None,
            None,
        )
        .unwrap();
        assert_eq!(t[0].registry.host_port(), "reg.example.com:5050");
        assert_eq!(t[0].repository.as_ref().unwrap().as_str(), "group/app");
        let t = targets_for(
            &[
                ("CI_REGISTRY", "reg.example.com"),
                ("CI_PROJECT_PATH", "Group/App"),
            ],
            None,
            None,
        )
        .unwrap();
        assert_eq!(t[0].repository.as_ref().unwrap().as_str(), "group/app");
        // Another registry: CI defaults do not apply.
        let t = targets_for(
            &[
                ("CI_REGISTRY", "reg.example.com"),
                ("CI_PROJECT_PATH", "g/a"),
            ],
            Some("other.example.com"),
            None,
        )
        .unwrap();
        assert!(t[0].repository.is_none());
    }

    #[test]
    fn bad_values_name_their_source() {
        let err = targets_for(&[("CI_REGISTRY", "reg.example.com/path")], None, None).unwrap_err();
        assert!(
            err.message
                .starts_with("CI_REGISTRY 'reg.example.com/path' has a path"),
            "{}",
            err.message
        );
        let err = targets_for(&[], Some("https://u:p@host/x"), None).unwrap_err();
        assert!(err.message.starts_with("--registry"), "{}", err.message);
        let err = targets_for(&[], None, None).unwrap_err();
        assert!(err.message.contains("CI_REGISTRY"));
    }

    #[test]
    fn api_urls() {
        assert_eq!(
            api_url_from("x", "https://gitlab.example.com/").unwrap(),
            "https://gitlab.example.com/api/v4"
        );
        assert_eq!(
            api_url_from("x", "http://127.0.0.1:1/api/v4").unwrap(),
            "http://127.0.0.1:1/api/v4"
        );
        assert!(api_url_from("x", "https://user:pw@gitlab.example.com").is_err());
    }
}
