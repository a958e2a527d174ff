//! Turns the command line and the variables into one immutable [`Config`]. Every bad
//! value is refused here, with the flag or variable named, before anything happens.

use crate::access::{Intent, Kind};
use crate::cli::{Cli, Command, HelperAction};
use crate::credentials::{self, Binding, Explicit, Source};
use crate::engines::{EngineChoice, Paths, RunPolicy};
use crate::error::{Failure, Result};
use crate::http::{NetSettings, RetryPolicy};
use crate::isolation;
use crate::job::{Job, Target};
use crate::locations::{self};
use crate::mode::Mode;
use crate::names::{NameError, Registry, Repository, Scheme};
use crate::output::Printer;
use crate::proxy_probe::ProbeImage;
use crate::secret::Secret;
use crate::tls::ExtraCa;
use crate::vars::{VarError, Vars, is_variable_name};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// GitLab's API (`.../api/v4`) and who named it. An access token is only ever sent to
/// the GitLab that issued it (issue 11): the job's API serves the job's own registry;
/// `--gitlab-url` is the user's word that the token belongs there.
#[derive(Debug, Clone)]
pub struct Api {
    pub url: String,
    pub named_by_flag: bool,
}

pub struct Config {
    pub command: Command,
    pub intent: Intent,
    pub targets: Vec<Target>,
    pub use_kind: Option<Kind>,
    pub explicit: Explicit,
    pub engine: EngineChoice,
    pub paths: Paths,
    /// The job's private folder (`--isolate`), for the commands that store credentials.
    pub isolation: Option<PathBuf>,
    /// `--env-file-out`: the dotenv file that receives the isolated folder.
    pub env_file_out: Option<PathBuf>,
    /// `--report`: the dotenv file that receives what `login` used.
    pub report: Option<PathBuf>,
    /// `helper install --bin-dir`.
    pub bin_dir: Option<PathBuf>,
    pub engine_policy: RunPolicy,
    pub printer: Printer,
    pub verify: bool,
    pub insecure: bool,
    pub net: NetSettings,
    pub min_token_lifetime: Duration,
    /// `--warn-expiry`: days ahead of an access token's expiry to warn.
    pub warn_expiry_days: u64,
    /// GitLab's API for access-token introspection.
    pub api: Option<Api>,
    /// The image the live check pulls through the dependency proxy (`--proxy-probe`,
    /// else the job's own image when it comes through the proxy).
    pub proxy_probe: Option<ProbeImage>,
    /// The job as its predefined variables describe it, resolved once.
    pub job: Job,
    /// Every credential source, in discovery order: the job's variables and flags, then
    /// the developer's machine.
    pub sources: Vec<&'static Source>,
    /// The variables, for the credential sources (which read their own) only.
    pub vars: Vars,
    /// Said once per run, whatever happens.
    pub warnings: Vec<String>,
    /// What the job pulls and pushes, when any image flag was given (issue 14).
    pub preflight: Option<Preflight>,
}

/// The whole job to prove: its images and the per-host credentials the user named.
#[derive(Debug, Clone)]
pub struct Preflight {
    pub spec: crate::images::Spec,
    pub host_credentials: Vec<credentials::HostCredential>,
}

impl From<VarError> for Failure {
    fn from(e: VarError) -> Failure {
        Failure::usage(e.to_string())
    }
}

impl Config {
    pub fn new(cli: Cli, vars: Vars) -> Result<Config> {
        let c = cli.common;
        let preflight_flags = cli.preflight;
        check_paths(&c)?;
        let mode = Mode::detect(&vars);
        let vars = crate::vars::with_home_variables(vars, mode.is_local());
        let job = Job::resolve(&vars, mode)?;
        let sources: Vec<&'static Source> = credentials::SOURCES
            .iter()
            .chain(crate::local::SOURCES)
            .collect();
        let intent = if c.push { Intent::Push } else { Intent::Pull };
        let command = cli.command.unwrap_or(Command::Login);
        // docker calls the helper with no flags, and it learns the registry on stdin.
        let helper_protocol =
            matches!(command, Command::Helper { action } if action != HelperAction::Install);
        let targets = targets(
            &vars,
            &job,
            &c.registry,
            c.repository.as_deref(),
            c.insecure,
            c.dependency_proxy,
            !helper_protocol,
        )?;
        let proxy_probe = proxy_probe(&vars, c.proxy_probe.as_deref(), &targets)?;
        let stores = matches!(
            command,
            Command::Login
                | Command::Logout
                | Command::Helper {
                    action: HelperAction::Install
                }
        );
        let isolate = match (c.isolate, c.no_isolate) {
            (true, _) => true,
            (_, true) => false,
            _ => c.auth_file.is_none() && vars.is_true("CI_SHARED_ENVIRONMENT"),
        };
        let isolation = if isolate && stores {
            Some(
                isolation::job_folder(&vars, &std::env::temp_dir())
                    .map_err(|e| Failure::usage(e.to_string()))?,
            )
        } else {
            None
        };
        if let Some(path) = &c.report {
            if command != Command::Login {
                return Err(Failure::usage(
                    "--report describes a login: use it with login",
                ));
            }
            crate::report::check_path(path).map_err(|e| Failure::usage(e.to_string()))?;
        }
        if c.env_file_out.is_some() && isolation.is_none() {
            return Err(Failure::usage(
                "--env-file-out writes the isolated folder's DOCKER_CONFIG: it needs --isolate (on by default when CI_SHARED_ENVIRONMENT=true)",
            ));
        }
        let paths = locations::resolve(
            &vars,
            &locations::Asked {
                auth_file: c.auth_file.as_deref(),
                auth_format: c.auth_format,
                isolated: isolation.as_deref(),
                kaniko_dir: Path::new(locations::KANIKO_DOCKER_DIR),
            },
        )?;
        refuse_aliases(
            c.report.as_deref(),
            c.env_file_out.as_deref(),
            c.auth_file.is_some(),
            &paths,
        )?;
        let mut warnings = vars.notes.clone();
        // Refused before this unless --ignore-inapplicable.
        warnings.extend(
            cli.inapplicable
                .iter()
                .map(|m| format!("{m}: ignored (--ignore-inapplicable)")),
        );
        let sections = crate::gitlab_log::SECTIONS_VARIABLE;
        match vars.get(sections) {
            Ok(Some(v)) if crate::gitlab_log::Sections::parse(v).is_none() => {
                warnings.push(format!(
                    "{sections} is '{}'; it takes always, never or auto: auto is used",
                    crate::text::sanitize(v, 40)
                ))
            }
            Err(_) => warnings.push(format!("{sections} is not valid text; auto is used")),
            _ => {}
        }
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
        let api = match &c.gitlab_url {
            Some(url) => {
                let url = api_url_from("--gitlab-url", url)?;
                if let Some(problem) = plain_http_problem(&url, c.insecure) {
                    return Err(Failure::usage(format!("--gitlab-url {problem}")));
                }
                Some(Api {
                    url,
                    named_by_flag: true,
                })
            }
            None => match vars.setting("CI_API_V4_URL")? {
                Some(url) => {
                    let url = api_url_from("CI_API_V4_URL", url)?;
                    match plain_http_problem(&url, c.insecure) {
                        Some(problem) => {
                            warnings.push(format!(
                                "CI_API_V4_URL {problem}; access tokens are not introspected there"
                            ));
                            None
                        }
                        None => Some(Api {
                            url,
                            named_by_flag: false,
                        }),
                    }
                }
                None => None,
            },
        };
        let explicit = Explicit {
            named_kind: c.use_kind,
            username: c.username,
            password_var: c.password_env.clone(),
            password_var_explicit: c.password_env != Explicit::default().password_var,
            binding: explicit_binding(&c.password_for, &targets)?,
            ..Explicit::default()
        };
        if !is_variable_name(&explicit.password_var) {
            // Never echoed: what stands there is most often the secret itself.
            return Err(Failure::usage(
                "--password-env takes a variable name (letters, digits, '_'), and this looks like a secret, not a variable name, so it is not shown: pass the NAME of the variable that holds the secret, e.g. --password-env MY_TOKEN",
            ));
        }
        let retry = RetryPolicy {
            attempts: c.retries,
            budget: c.retry_timeout,
            ..RetryPolicy::default()
        };
        let named_target = !c.registry.is_empty() || c.repository.is_some();
        let preflight = preflight(&preflight_flags, &vars, &targets, named_target)?;
        let mut scrub = secrets_in(&vars, &sources, &explicit.password_var);
        for flag in preflight.iter().flat_map(|p| &p.host_credentials) {
            scrub.extend(vars.setting(&flag.secret_var)?.map(Secret::new));
        }
        let engine_policy = RunPolicy { retry, scrub };
        Ok(Config {
            command,
            intent,
            targets,
            use_kind: c.use_kind,
            explicit,
            engine: c.engine,
            paths,
            isolation,
            env_file_out: c.env_file_out,
            report: c.report,
            bin_dir: c.bin_dir,
            engine_policy,
            printer: Printer {
                format: c.format,
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
            warn_expiry_days: c.warn_expiry,
            api,
            proxy_probe,
            job,
            sources,
            vars,
            warnings,
            preflight,
        })
    }
}

/// The images the job touches, from `--push-image`, `--tag`, `--pull-image`,
/// `--dockerfile` (with `--build-arg`) and `CI_JOB_IMAGE`; `None` without any image flag.
fn preflight(
    flags: &crate::cli::Preflight,
    vars: &Vars,
    targets: &[Target],
    named_target: bool,
) -> Result<Option<Preflight>> {
    let mut host_credentials = Vec::new();
    for flag in &flags.credential {
        host_credentials.push(credentials::HostCredential::parse(flag).map_err(Failure::usage)?);
    }
    if !flags.asked() {
        if !flags.build_arg.is_empty() {
            return Err(Failure::usage(
                "--build-arg fills the ARG lines of a --dockerfile: give the Dockerfile too",
            ));
        }
        return Ok(None);
    }
    let mut build_args = Vec::new();
    for arg in &flags.build_arg {
        // As docker build: `NAME` alone takes the variable's value.
        let (name, value) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (
                arg.as_str(),
                vars.get(arg).ok().flatten().map(str::to_string),
            ),
        };
        if !is_variable_name(name) {
            return Err(Failure::usage(format!(
                "--build-arg '{}' takes NAME=VALUE, NAME being an ARG's name",
                crate::text::sanitize(name, 80)
            )));
        }
        build_args.extend(value.map(|v| (name.to_string(), v)));
    }
    let mut dockerfiles = Vec::new();
    for path in &flags.dockerfile {
        dockerfiles.push((
            crate::text::sanitize(&path.to_string_lossy(), 120),
            read_dockerfile(path)?,
        ));
    }
    // `--tag` pushes to the repository the flags name, else to CI_REGISTRY_IMAGE.
    let target_image = || {
        targets.first().and_then(|t| {
            let repo = t.repository.as_ref()?;
            crate::image_ref::ImageRef::parse(&format!("{}/{repo}", t.registry)).ok()
        })
    };
    let own_image = match vars.setting("CI_REGISTRY_IMAGE")? {
        _ if named_target => target_image(),
        Some(image) => Some(crate::image_ref::ImageRef::parse(image).map_err(|e| {
            Failure::usage(format!(
                "CI_REGISTRY_IMAGE '{}' {e}",
                crate::text::sanitize(image, 120)
            ))
        })?),
        None => target_image(),
    };
    let spec = crate::images::spec(&crate::images::Asked {
        push_images: &flags.push_image,
        tags: &flags.tag,
        pull_images: &flags.pull_image,
        job_image: vars.setting("CI_JOB_IMAGE")?,
        own_image,
        dockerfiles: &dockerfiles,
        build_args: &build_args,
    })
    .map_err(Failure::usage)?;
    Ok(Some(Preflight {
        spec,
        host_credentials,
    }))
}

/// A Dockerfile is text a person wrote: at most 1 MiB, UTF-8, a regular file.
fn read_dockerfile(path: &Path) -> Result<String> {
    let shown = crate::text::sanitize(&path.to_string_lossy(), 120);
    let fail = |why: String| Failure::usage(format!("--dockerfile '{shown}' {why}"));
    if let Some(problem) = crate::user_path::problem(path) {
        return Err(fail(problem.to_string()));
    }
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot be read: {e}")))?;
    if !meta.is_file() {
        return Err(fail("is not a regular file".into()));
    }
    if meta.len() > 1 << 20 {
        return Err(fail("is larger than 1 MiB; no Dockerfile is".into()));
    }
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot be read: {e}")))?;
    String::from_utf8(bytes).map_err(|_| fail("is not UTF-8 text".into()))
}

/// Where the explicit credential may be sent (issue 11): the registries `--password-for`
/// names; else the one registry the call serves (`None`: the plan's own); else, with
/// several, nowhere, which the plan then says.
fn explicit_binding(password_for: &[String], targets: &[Target]) -> Result<Option<Binding>> {
    if password_for.is_empty() {
        return Ok((targets.len() > 1).then(|| Binding::to(Vec::new(), "--password-for")));
    }
    let mut registries = Vec::new();
    for flag in password_for {
        registries.push(Registry::parse(flag).map_err(|e| bad_name("--password-for", flag, e))?);
    }
    Ok(Some(Binding::to(registries, "--password-for")))
}

/// Issue 11, finding 12: `--report` naming the auth file replaced config.json with the
/// report after a successful login. Neither `--report` nor `--env-file-out` may be any
/// auth file this run may write or hand to a tool, nor each other; compared through
/// `..`, links and hard links ([`crate::safe_fs::same_file`]).
fn refuse_aliases(
    report: Option<&Path>,
    env_file: Option<&Path>,
    auth_file_flag: bool,
    paths: &crate::engines::Paths,
) -> Result<()> {
    let requested = if auth_file_flag {
        "--auth-file"
    } else {
        "--isolate's config.json"
    };
    let auth_files = [
        (requested, paths.requested.as_deref()),
        ("the auth file", paths.auth_file.as_deref().ok()),
        (
            "the docker config (DOCKER_CONFIG, else ~/.docker)",
            paths.docker_config_file.as_deref(),
        ),
        (
            "containers' auth file (REGISTRY_AUTH_FILE)",
            paths.containers_auth_file.as_deref(),
        ),
    ];
    let shown = |p: &Path| crate::text::sanitize(&p.to_string_lossy(), 80);
    for (flag, file) in [("--report", report), ("--env-file-out", env_file)] {
        let Some(file) = file else { continue };
        for (what, auth) in auth_files {
            if auth.is_some_and(|auth| crate::safe_fs::same_file(file, auth)) {
                return Err(Failure::usage(format!(
                    "{flag} '{}' is {what} '{}': writing it would replace the stored credentials; give {flag} another file",
                    shown(file),
                    shown(auth.expect("just matched"))
                )));
            }
        }
    }
    if let (Some(report), Some(env_file)) = (report, env_file)
        && crate::safe_fs::same_file(report, env_file)
    {
        return Err(Failure::usage(format!(
            "--report '{}' and --env-file-out '{}' name the same file: each would overwrite the other; give them different files",
            shown(report),
            shown(env_file)
        )));
    }
    Ok(())
}

/// Files and folders named by flags, refused before anything is read or written when
/// no one could mean them; a file flag naming a folder is refused too.
fn check_paths(c: &crate::cli::Common) -> Result<()> {
    // (flag, path, names a file)
    let mut named: Vec<(&str, &Path, bool)> = Vec::new();
    for (flag, path) in [
        ("--auth-file", &c.auth_file),
        ("--report", &c.report),
        ("--env-file-out", &c.env_file_out),
    ] {
        named.extend(path.as_deref().map(|p| (flag, p, true)));
    }
    named.extend(c.bin_dir.as_deref().map(|p| ("--bin-dir", p, false)));
    named.extend(c.ca_file.iter().map(|p| ("--ca-file", p.as_path(), true)));
    // Written after the login: a missing folder must not fail a login already done.
    let folder_missing = c.env_file_out.as_deref().filter(|p| {
        !p.parent()
            .is_none_or(|d| d.as_os_str().is_empty() || d.is_dir())
    });
    if let Some(path) = folder_missing {
        return Err(Failure::usage(format!(
            "--env-file-out '{}': its folder does not exist",
            crate::text::sanitize(&path.to_string_lossy(), 80)
        )));
    }
    // Finding 5 of issue 11: a committed `build.env -> /proc/self/environ` published the
    // job's variables. Refused now, before the login; the write refuses it again.
    if let Some(path) = c.env_file_out.as_deref()
        && let Ok(meta) = std::fs::symlink_metadata(path)
    {
        use std::os::unix::fs::MetadataExt;
        if let Some(problem) = crate::safe_fs::type_problem(meta.mode()) {
            return Err(Failure::usage(format!(
                "--env-file-out '{}' {}",
                crate::text::sanitize(&path.to_string_lossy(), 80),
                problem.describe()
            )));
        }
    }
    for (flag, path, is_file) in named {
        let problem = crate::user_path::problem(path).or_else(|| match (is_file, path.is_dir()) {
            (true, true) => Some("is a folder; give a file name"),
            // Checked now: `helper install` edits the docker config before linking.
            (false, false) => Some("is not an existing folder"),
            _ => None,
        });
        if let Some(problem) = problem {
            return Err(Failure::usage(format!(
                "{flag} '{}' {problem}",
                crate::text::sanitize(&path.to_string_lossy(), 80)
            )));
        }
    }
    Ok(())
}

fn bad_name(what: &str, value: &str, e: NameError) -> Failure {
    Failure::usage(format!("{what} '{}' {e}", crate::text::sanitize(value, 80)))
}

/// The registries of the call: every `--registry` (else `CI_REGISTRY`) and, with
/// `--dependency-proxy`, the dependency proxy; each with the repository to check.
/// `required`: having none is an error.
fn targets(
    vars: &Vars,
    job: &Job,
    registry_flags: &[String],
    repository_flag: Option<&str>,
    insecure: bool,
    dependency_proxy: bool,
    required: bool,
) -> Result<Vec<Target>> {
    let mut registries = Vec::new();
    for flag in registry_flags {
        registries.push(Registry::parse(flag).map_err(|e| bad_name("--registry", flag, e))?);
    }
    if registries.is_empty()
        && let Some(ci) = vars.setting("CI_REGISTRY")?
    {
        registries
            .push(Registry::parse(ci).map_err(|e| bad_name(&vars.describe("CI_REGISTRY"), ci, e))?);
    }
    let mut targets: Vec<Target> = Vec::new();
    for registry in registries {
        if !targets.iter().any(|t| t.registry.same_as(&registry)) {
            targets.push(registry_target(
                vars,
                job,
                registry,
                repository_flag,
                insecure,
            )?);
        }
    }
    if dependency_proxy {
        let proxy = dependency_proxy_target(vars)?;
        targets.retain(|t| !t.registry.same_as(&proxy.registry));
        targets.push(proxy);
    }
    if targets.is_empty() && required {
        return Err(Failure::usage(
            "no registry to log in to: pass --registry HOST[:PORT] or set CI_REGISTRY",
        ));
    }
    Ok(targets)
}

/// The target for a registry named through the credential-helper protocol: the
/// dependency proxy's when it is that server, else the registry's.
pub fn target_for(config: &Config, registry: Registry) -> Result<Target> {
    match dependency_proxy_target(&config.vars) {
        Ok(proxy) if proxy.registry.same_as(&registry) => Ok(proxy),
        _ => registry_target(&config.vars, &config.job, registry, None, true),
    }
}

/// One registry, with `--repository`, else (for `CI_REGISTRY` only) the job's own.
fn registry_target(
    vars: &Vars,
    job: &Job,
    registry: Registry,
    repository_flag: Option<&str>,
    insecure: bool,
) -> Result<Target> {
    if registry.explicit_scheme() == Some(Scheme::Http) && !insecure && !registry.is_loopback() {
        return Err(Failure::usage(format!(
            "--registry http://{registry}: plain HTTP to a registry that is not a loopback address needs --insecure"
        )));
    }
    // CI_* defaults describe CI_REGISTRY's project; they do not apply to other registries.
    let ci_is_target = job.registry.as_ref().is_none_or(|ci| ci.same_as(&registry));
    let repository = match repository_flag {
        Some(flag) => Some(
            Repository::parse(flag, Some(&registry))
                .map_err(|e| bad_name("--repository", flag, e))?,
        ),
        None if ci_is_target => default_repository(vars, &registry)?,
        None => None,
    };
    Ok(Target {
        keys: vec![registry.host_port()],
        registry,
        repository,
        dependency_proxy: false,
    })
}

/// `CI_DEPENDENCY_PROXY_SERVER`. GitLab writes it with the port even when that is 443
/// (`gitlab.com:443`) and image references copy it from the `..._IMAGE_PREFIX`
/// variables, while GitLab's own docs strip the port, and docker matches keys exactly:
/// the credential is stored under both spellings. The proxy holds none of the job's
/// repositories.
fn dependency_proxy_target(vars: &Vars) -> Result<Target> {
    let Some(raw) = vars.setting("CI_DEPENDENCY_PROXY_SERVER")? else {
        return Err(Failure::usage(
            "--dependency-proxy: CI_DEPENDENCY_PROXY_SERVER is not set (the dependency proxy is off on this instance, or this is not a GitLab job)",
        ));
    };
    let registry = Registry::parse(raw)
        .map_err(|e| bad_name(&vars.describe("CI_DEPENDENCY_PROXY_SERVER"), raw, e))?;
    let mut keys = vec![registry.host_port()];
    if registry.port().is_none() && registry.explicit_scheme() != Some(Scheme::Http) {
        keys.insert(0, format!("{}:443", registry.host()));
    }
    Ok(Target {
        registry,
        repository: None,
        keys,
        dependency_proxy: true,
    })
}

/// What the live check pulls through the dependency proxy (issue 13, item 6):
/// `--proxy-probe`, else `CI_JOB_IMAGE` when it comes through the proxy (below
/// `CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX` or `..._DIRECT_GROUP_IMAGE_PREFIX`, read
/// leniently: they only find a default).
fn proxy_probe(vars: &Vars, flag: Option<&str>, targets: &[Target]) -> Result<Option<ProbeImage>> {
    let proxy = targets.iter().find(|t| t.dependency_proxy);
    let lenient = |name| vars.setting(name).ok().flatten();
    let group_prefix = lenient("CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX");
    match (flag, proxy) {
        (Some(_), None) => Err(Failure::usage(
            "--proxy-probe names an image to pull through the dependency proxy: it needs --dependency-proxy",
        )),
        (Some(value), Some(proxy)) => {
            crate::proxy_probe::parse(value, "--proxy-probe", &proxy.registry, group_prefix)
                .map(Some)
                .map_err(Failure::usage)
        }
        (None, Some(proxy)) => {
            let prefixes = [
                group_prefix.unwrap_or_default(),
                lenient("CI_DEPENDENCY_PROXY_DIRECT_GROUP_IMAGE_PREFIX").unwrap_or_default(),
            ];
            Ok(lenient("CI_JOB_IMAGE").and_then(|image| {
                crate::proxy_probe::from_job_image(image, &proxy.registry, &prefixes)
            }))
        }
        (None, None) => Ok(None),
    }
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
        Some(path) => Repository::project_path(path)
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
        // Quoted escaped and cut: the value may be anything, 128 KiB of it included.
        warnings.push(format!(
            "{name} names {}, which does not exist; it is ignored",
            crate::text::sanitize(&value.escape_debug().to_string(), 200)
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

/// The rule realms follow (handshake): plain HTTP carries a token in clear, so only to
/// loopback, or with --insecure.
fn plain_http_problem(api_url: &str, insecure: bool) -> Option<String> {
    let host = api_url.strip_prefix("http://")?.split('/').next()?;
    let loopback = Registry::parse(host).is_ok_and(|r| r.is_loopback());
    (!loopback && !insecure).then(|| {
        format!(
            "'{}' is plain HTTP to a host that is not loopback: a token would travel in clear; use https:// or pass --insecure",
            crate::text::sanitize(api_url, 80)
        )
    })
}

/// `https://gitlab.example.com` or `.../api/v4` -> `.../api/v4`.
fn api_url_from(what: &str, url: &str) -> Result<String> {
    // The URL parser would quietly drop a line break or punycode a look-alike host.
    if !url.is_ascii() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Failure::usage(format!(
            "{what} '{}' has spaces, control or non-ASCII characters (a look-alike?); write the URL in ASCII",
            crate::text::sanitize(url, 80)
        )));
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| {
        Failure::usage(format!(
            "{what} '{}' is not a URL: {e}",
            crate::text::sanitize(url, 80)
        ))
    })?;
    // `https:///x` parses with host `x`; an `@` anywhere hides user information.
    let no_host = url
        .split_once("://")
        .is_none_or(|(_, rest)| rest.starts_with('/'));
    if no_host
        || url.contains('@')
        || !matches!(parsed.scheme(), "http" | "https")
        || !parsed.username().is_empty()
        || parsed.password().is_some()
        || parsed.query().is_some()
        || parsed.fragment().is_some()
    {
        return Err(Failure::usage(format!(
            "{what} must be an http(s) URL with a host, without user information, query or fragment"
        )));
    }
    if let Err(e) = Registry::parse(parsed.host_str().unwrap_or_default()) {
        return Err(Failure::usage(format!("{what}: the host {e}")));
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
/// Every secret the run can see in its variables, to keep out of children's environments.
fn secrets_in(vars: &Vars, sources: &[&Source], password_var: &str) -> Vec<Secret> {
    credentials::secret_variables(sources)
        .map(|v| v as &str)
        .chain([password_var])
        .filter_map(|name| vars.get(name).ok().flatten())
        .filter(|v| !v.is_empty())
        .map(Secret::new)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job_of(vars: &Vars) -> Job {
        Job::resolve(vars, Mode::detect(vars)).unwrap()
    }

    fn targets_for(
        pairs: &[(&str, &str)],
        registry: Option<&str>,
        repo: Option<&str>,
    ) -> Result<Vec<Target>> {
        let flags: Vec<String> = registry.into_iter().map(String::from).collect();
        let vars = Vars::from_pairs(pairs.iter().copied());
        targets(&vars, &job_of(&vars), &flags, repo, false, false, true)
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
    fn several_registries_and_the_dependency_proxy_keyed_with_and_without_its_port() {
        let vars = Vars::from_pairs([
            ("CI_REGISTRY", "reg.example.com"),
            ("CI_PROJECT_PATH", "g/a"),
            ("CI_DEPENDENCY_PROXY_SERVER", "gitlab.example.com:443"),
        ]);
        let flags = [
            "reg.example.com".to_string(),
            "other.example.com:5000".to_string(),
            "REG.example.com:443".to_string(),
        ];
        let t = targets(&vars, &job_of(&vars), &flags, None, false, true, true).unwrap();
        let keys: Vec<&[String]> = t.iter().map(|t| t.keys.as_slice()).collect();
        assert_eq!(
            keys,
            [
                &["reg.example.com".to_string()][..],
                &["other.example.com:5000".to_string()][..],
                &[
                    "gitlab.example.com:443".to_string(),
                    "gitlab.example.com".to_string()
                ][..],
            ]
        );
        assert_eq!(t[0].repository.as_ref().unwrap().as_str(), "g/a");
        assert!(t[1].repository.is_none() && t[2].repository.is_none());
        assert!(t[2].dependency_proxy && !t[0].dependency_proxy);

        let t = targets(&vars, &job_of(&vars), &[], None, false, true, true).unwrap();
        assert_eq!(t.len(), 2, "CI_REGISTRY and the proxy");
        let none = Vars::from_pairs([]);
        let err = targets(&none, &job_of(&none), &[], None, false, true, true).unwrap_err();
        assert!(
            err.message.contains("CI_DEPENDENCY_PROXY_SERVER"),
            "{}",
            err.message
        );
        assert!(
            targets(
                &Vars::from_pairs([]),
                &job_of(&Vars::from_pairs([])),
                &[],
                None,
                false,
                false,
                false
            )
            .unwrap()
            .is_empty()
        );
    }

    /// Issue 11, finding 4: an access token never travels to an API in clear off
    /// loopback without --insecure, the rule realms follow.
    #[test]
    fn a_plain_http_api_off_loopback_needs_insecure() {
        let remote = "http://gitlab.example.com/api/v4";
        let problem = plain_http_problem(remote, false).unwrap();
        assert!(
            problem.contains("plain HTTP") && problem.contains("--insecure"),
            "{problem}"
        );
        assert_eq!(plain_http_problem(remote, true), None);
        assert_eq!(
            plain_http_problem("http://127.0.0.1:8080/api/v4", false),
            None
        );
        assert_eq!(plain_http_problem("http://[::1]:8080/api/v4", false), None);
        assert_eq!(
            plain_http_problem("https://gitlab.example.com/api/v4", false),
            None
        );
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
        for bad in [
            "https://gitlab.example.com\n",
            "https://gitlаb.example.com", // Cyrillic a
            "https://gitlab.example.com/?x=1",
            "https:///api/v4",
            "https://https://user:pass@host/path",
            "host:99999",
        ] {
            assert!(api_url_from("x", bad).is_err(), "{bad:?}");
        }
        let long_host = format!("https://{}.com", "a".repeat(300));
        assert!(api_url_from("x", &long_host).is_err());
    }
}
