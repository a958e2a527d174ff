//! Finding every credential on offer. Each becomes a [`Candidate`] with a kind, the
//! variable it came from, and what is known of its scopes without asking anyone.

use crate::access::{Kind, Scope};
use crate::names::{Registry, Repository};
use crate::secret::{Secret, Whitespace};
use crate::vars::{VarError, Vars};

/// The user GitLab requires with a job token.
pub const JOB_TOKEN_USER: &str = "gitlab-ci-token";
/// GitLab accepts any user name with an access token; this one says what it is.
pub const ACCESS_TOKEN_USER: &str = "gitlab-token";
/// The source of a credential found in the docker config (`local`); it ranks after
/// every other.
pub const DOCKER_CONFIG_SOURCE: &str = "docker-config";

/// The job's own secrets, set by GitLab: they belong to the job's registries only.
const CI_SECRET_VARIABLES: [&str; 5] = [
    "CI_REGISTRY_PASSWORD",
    "CI_JOB_TOKEN",
    "CI_DEPLOY_PASSWORD",
    "CI_DEPENDENCY_PROXY_PASSWORD",
    "CI_BUILD_TOKEN",
];

/// Variables whose values are secrets wherever they appear (besides `--password-env`'s).
pub const SECRET_VARIABLES: [&str; 6] = [
    CI_SECRET_VARIABLES[0],
    CI_SECRET_VARIABLES[1],
    CI_SECRET_VARIABLES[2],
    CI_SECRET_VARIABLES[3],
    CI_SECRET_VARIABLES[4],
    "REGISTRY_PASSWORD",
];

/// Where the run happens, which changes what predefined variables mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A real GitLab job (`GITLAB_CI=true`).
    GitLabCi,
    /// gitlab-ci-local or similar emulation: no job token semantics.
    LocalEmulation,
    /// Another CI system (`CI=true`), e.g. GitHub Actions logging in to GitLab.
    OtherCi,
    /// A developer's machine.
    Laptop,
}

impl Mode {
    pub fn detect(vars: &Vars) -> Mode {
        let gitlab_ci = vars.get("GITLAB_CI").ok().flatten();
        let ci = vars.is_true("CI");
        let local_registry = vars
            .get("CI_REGISTRY")
            .ok()
            .flatten()
            .is_some_and(|r| r.starts_with("local-registry.") || r == "registry.gcl.local");
        let no_job_token = vars.get("CI_JOB_TOKEN").ok().flatten().is_none();
        if gitlab_ci == Some("false") || (local_registry && no_job_token) {
            Mode::LocalEmulation
        } else if vars.is_true("GITLAB_CI") {
            Mode::GitLabCi
        } else if ci {
            Mode::OtherCi
        } else {
            Mode::Laptop
        }
    }

    /// gitlab-ci-local or a developer's machine: credentials come from the developer's own
    /// stores (see `local`).
    pub fn is_local(self) -> bool {
        matches!(self, Mode::LocalEmulation | Mode::Laptop)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Mode::GitLabCi => "GitLab CI job",
            Mode::LocalEmulation => "local CI emulation (gitlab-ci-local): no job token semantics",
            Mode::OtherCi => "CI outside GitLab",
            Mode::Laptop => "not in CI",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Candidate {
    pub kind: Kind,
    /// The variable (or other source) that carries the secret, e.g. `CI_REGISTRY_PASSWORD`
    /// is reported as `CI_REGISTRY_USER`, the pair's usual name.
    pub source: String,
    pub username: String,
    pub secret: Secret,
    /// Where this credential may be sent: it is never sent anywhere else.
    pub binding: Binding,
    /// Registry scopes known offline for the target repository; `None` when unknown.
    pub scopes: Option<Vec<Scope>>,
    /// Why it cannot be used at all, known before any request.
    pub problem: Option<String>,
    /// Facts worth saying (whitespace around the secret, overridden variables...).
    pub notes: Vec<String>,
}

/// The registries a credential may be sent to (and, through the handshake, the token
/// service their own challenge names), and why (issue 11): CI credentials and anything
/// equal to one go to the job's registry and dependency proxy only; an explicit
/// credential to the registries the user tied it to.
#[derive(Debug, Clone, Default)]
pub struct Binding {
    pub registries: Vec<Registry>,
    /// Why these, for a message: "the job's registry", "--password-for".
    pub why: String,
}

impl Binding {
    pub fn to(registries: Vec<Registry>, why: impl Into<String>) -> Binding {
        Binding {
            registries,
            why: why.into(),
        }
    }

    pub fn admits(&self, registry: &Registry) -> bool {
        self.registries.iter().any(|r| r.same_as(registry))
    }

    /// `a.example.com, b.example.com`, or `no registry`.
    pub fn list(&self) -> String {
        if self.registries.is_empty() {
            return "no registry".into();
        }
        let names: Vec<String> = self.registries.iter().map(Registry::host_port).collect();
        names.join(", ")
    }
}

/// The job's own registries: `CI_REGISTRY` and `CI_DEPENDENCY_PROXY_SERVER`, where a job
/// token, the CI registry password and a deploy token of this GitLab may go.
fn job_binding(vars: &Vars) -> Result<Binding, VarError> {
    let mut registries = Vec::new();
    for name in ["CI_REGISTRY", "CI_DEPENDENCY_PROXY_SERVER"] {
        registries.extend(vars.setting(name)?.and_then(|r| Registry::parse(r).ok()));
    }
    Ok(Binding::to(
        registries,
        "the job's registry and dependency proxy",
    ))
}

/// Whether a secret is the job's own, whatever variable it came through: equal to a CI
/// secret, or a CI job token by its prefix (at any `-` boundary, for instance prefixes).
fn is_job_secret(vars: &Vars, secret: &Secret) -> Result<bool, VarError> {
    let value = secret.expose();
    if value.starts_with("glcbt-") || value.contains("-glcbt-") {
        return Ok(true);
    }
    for name in CI_SECRET_VARIABLES {
        if vars.get(name)?.is_some_and(|v| !v.is_empty() && v == value) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The explicit credential: `--username` (or its variable) and the variable named by
/// `--password-env`.
#[derive(Debug, Clone)]
pub struct Explicit {
    /// `--username`, when given.
    pub username: Option<String>,
    /// The variable holding the user name when `--username` is not given.
    pub username_var: String,
    /// The variable holding the secret (`--password-env`).
    pub password_var: String,
    /// Whether `--password-env` was given on the command line (an unset variable is
    /// then worth a complaint; the default one is simply not on offer).
    pub password_var_explicit: bool,
    /// Where the credential may go: `--password-for`; `None` for the registry being
    /// served, when the call serves exactly one (an empty binding when it serves several
    /// and none was named).
    pub binding: Option<Binding>,
}

impl Default for Explicit {
    fn default() -> Self {
        Explicit {
            username: None,
            username_var: "REGISTRY_USER".into(),
            password_var: "REGISTRY_PASSWORD".into(),
            password_var_explicit: false,
            binding: None,
        }
    }
}

/// What discovery needs to know about the run.
pub struct Context<'a> {
    pub vars: &'a Vars,
    pub mode: Mode,
    pub target: &'a Registry,
    pub repository: Option<&'a Repository>,
    pub explicit: &'a Explicit,
}

/// A credential source beyond the job's variables and flags (the local machine's: see
/// `local`), asked after them, and never for the dependency proxy.
pub type Source = fn(&Context) -> Vec<Candidate>;

/// Every credential on offer, in discovery order (ranking happens in `selection`):
/// the job's variables and flags, then each of `more`.
pub fn discover(cx: &Context, more: &[Source]) -> Result<Vec<Candidate>, VarError> {
    let mut found = discover_all(cx, more)?;
    hide_secret_user_names(cx, &mut found)?;
    Ok(found)
}

/// A user name that is a secret (the token pasted into REGISTRY_USER, `--username
/// "$TOKEN"`) would be printed in every summary and put on an engine's command line:
/// it is dropped, and the candidate cannot be used until the user name is fixed.
fn hide_secret_user_names(cx: &Context, found: &mut [Candidate]) -> Result<(), VarError> {
    let mut secrets: Vec<&str> = Vec::new();
    for name in SECRET_VARIABLES
        .iter()
        .copied()
        .chain([cx.explicit.password_var.as_str()])
    {
        secrets.extend(cx.vars.get(name)?.filter(|v| !v.is_empty()));
    }
    for c in found.iter_mut() {
        let own = c.secret.expose();
        if c.username.is_empty() || !(c.username == own || secrets.contains(&c.username.as_str())) {
            continue;
        }
        c.username.clear();
        c.problem = Some(format!(
            "the user name given with {} is a secret (a copy-and-paste mistake?), so it is neither shown nor sent: set the user name itself",
            c.source
        ));
    }
    Ok(())
}

fn discover_all(cx: &Context, more: &[Source]) -> Result<Vec<Candidate>, VarError> {
    // The dependency proxy has a credential of its own; the registry's belong elsewhere.
    if let Some(c) = dependency_proxy(cx)? {
        let mut out = vec![c];
        out.extend(explicit(cx)?);
        return Ok(out);
    }
    let ci_registry = cx
        .vars
        .setting("CI_REGISTRY")?
        .and_then(|r| Registry::parse(r).ok());
    let mut out = Vec::new();
    if let Some(c) = registry_user(cx, ci_registry.as_ref())? {
        out.push(c);
    }
    if let Some(c) = job_token(cx, ci_registry.as_ref())? {
        out.push(c);
    }
    if let Some(c) = deploy_token(cx, ci_registry.as_ref())? {
        out.push(c);
    }
    if let Some(c) = explicit(cx)? {
        out.push(c);
    }
    for source in more {
        out.extend(source(cx));
    }
    Ok(out)
}

/// A secret from a variable, with its whitespace note. `None` when the variable is unset.
fn secret_from(
    vars: &Vars,
    name: &str,
    notes: &mut Vec<String>,
) -> Result<Option<Secret>, VarError> {
    let Some(raw) = vars.get(name)? else {
        return Ok(None);
    };
    let (secret, whitespace) = Secret::from_input(raw.to_string());
    if whitespace == Whitespace::Surrounding {
        notes.push(format!(
            "{name} has spaces or line breaks around or inside it; they are kept, but are usually a copy-and-paste mistake"
        ));
    }
    Ok(Some(secret))
}

fn empty_problem(vars: &Vars, name: &str) -> String {
    format!(
        "{} is set but empty: a protected variable is empty on an unprotected branch or tag",
        vars.describe(name)
    )
}

/// The problem with a pair of variables, if either is unset or empty.
fn pair_problem(
    vars: &Vars,
    user_var: &str,
    user: Option<&str>,
    secret_var: &str,
    secret: Option<&Secret>,
) -> Option<String> {
    match (user, secret) {
        (None, _) => Some(format!("{user_var} is not set")),
        (_, None) => Some(format!("{secret_var} is not set")),
        (Some(""), _) => Some(empty_problem(vars, user_var)),
        (_, Some(s)) if s.is_empty() => Some(empty_problem(vars, secret_var)),
        (Some(user), Some(secret)) => unsendable(user_var, user, secret_var, secret),
    }
}

/// A credential given as two variables, a user and a secret
/// (`CI_REGISTRY_USER`/`CI_REGISTRY_PASSWORD` and their kin).
struct Pair<'v> {
    user_var: &'static str,
    /// Empty when unset; `problem` then says so.
    user: &'v str,
    secret: Secret,
    problem: Option<String>,
    notes: Vec<String>,
}

/// Reads a pair of variables; `None` when neither is set.
fn read_pair<'v>(
    vars: &'v Vars,
    user_var: &'static str,
    secret_var: &'static str,
) -> Result<Option<Pair<'v>>, VarError> {
    let user = vars.get(user_var)?;
    let mut notes = Vec::new();
    let secret = secret_from(vars, secret_var, &mut notes)?;
    if user.is_none() && secret.is_none() {
        return Ok(None);
    }
    Ok(Some(Pair {
        user_var,
        user: user.unwrap_or_default(),
        problem: pair_problem(vars, user_var, user, secret_var, secret.as_ref()),
        secret: secret.unwrap_or_else(|| Secret::new("")),
        notes,
    }))
}

impl Pair<'_> {
    fn into_candidate(self, kind: Kind, binding: Binding, scopes: Option<Vec<Scope>>) -> Candidate {
        Candidate {
            kind,
            source: self.user_var.into(),
            username: self.user.to_string(),
            secret: self.secret,
            binding,
            scopes,
            problem: self.problem,
            notes: self.notes,
        }
    }
}

/// Longest secret worth sending. GitLab's tokens are under a hundred characters and its
/// JWT job tokens a few KiB; a proxy's header limit (nginx: 8 KiB a line) stops more.
const MAX_SECRET_BYTES: usize = 8 * 1024;
/// GitLab user names, deploy-token ones included, have at most 255 characters.
const MAX_USERNAME_BYTES: usize = 255;

/// A user name or secret no registry could accept: said before anything is sent, naming
/// where it came from.
fn unsendable(user_from: &str, user: &str, secret_from: &str, secret: &Secret) -> Option<String> {
    if user.contains(':') {
        Some(format!(
            "the user name from {user_from} contains ':', which Basic authentication cannot carry"
        ))
    } else if user.chars().any(char::is_control) {
        Some(format!(
            "the user name from {user_from} contains a line break or another control character"
        ))
    } else if user.len() > MAX_USERNAME_BYTES {
        Some(format!(
            "the user name from {user_from} is {} bytes long; GitLab user names have at most {MAX_USERNAME_BYTES}",
            user.len()
        ))
    } else if secret.expose().len() > MAX_SECRET_BYTES {
        Some(format!(
            "{secret_from} is {} bytes long: no GitLab credential is, and no proxy would pass it (is a file's content in it?)",
            secret.expose().len()
        ))
    } else {
        None
    }
}

fn ci_registry_problem(ci_registry: Option<&Registry>) -> Option<String> {
    ci_registry
        .is_none()
        .then(|| "CI_REGISTRY is not set (the instance's registry is disabled?)".to_string())
}

/// Whether the target repository is the job's own project (job tokens push only there).
fn own_project(cx: &Context) -> Result<Option<bool>, VarError> {
    let Some(repo) = cx.repository else {
        return Ok(None);
    };
    let Some(project) = cx.vars.setting("CI_PROJECT_PATH")? else {
        return Ok(None);
    };
    let project = project.to_ascii_lowercase();
    let repo = repo.as_str();
    // Images may live below the project path: group/app/sub-image.
    Ok(Some(
        repo == project || repo.starts_with(&format!("{project}/")),
    ))
}

/// Documented job-token scopes for the target repository, with a note when it is
/// another project's.
fn job_token_scopes(
    cx: &Context,
    write: bool,
    notes: &mut Vec<String>,
) -> Result<Option<Vec<Scope>>, VarError> {
    if cx.mode == Mode::LocalEmulation {
        notes.push("local CI emulation: job token semantics are not assumed".into());
        return Ok(None);
    }
    match own_project(cx)? {
        Some(false) => {
            notes.push(
                "the repository is not the job's own project: a job token pulls there only when that project's CI/CD job token allowlist admits this one, and never pushes".into(),
            );
            Ok(Some(vec![Scope::ReadRegistry]))
        }
        _ if write => Ok(Some(vec![Scope::ReadRegistry, Scope::WriteRegistry])),
        _ => Ok(Some(vec![Scope::ReadRegistry])),
    }
}

fn registry_user(
    cx: &Context,
    ci_registry: Option<&Registry>,
) -> Result<Option<Candidate>, VarError> {
    let Some(mut pair) = read_pair(cx.vars, "CI_REGISTRY_USER", "CI_REGISTRY_PASSWORD")? else {
        return Ok(None);
    };
    pair.problem = pair.problem.or_else(|| ci_registry_problem(ci_registry));
    let user = pair.user;
    let scopes = if user == JOB_TOKEN_USER {
        job_token_scopes(cx, true, &mut pair.notes)?
    } else {
        // In a real job CI_REGISTRY_USER is always gitlab-ci-token; anything else was set
        // by a person (under local emulation the values are arbitrary).
        if pair.problem.is_none() && cx.mode == Mode::GitLabCi {
            let job_token = cx.vars.get("CI_JOB_TOKEN")?;
            if job_token == Some(pair.secret.expose()) {
                pair.problem = Some(format!(
                    "CI_REGISTRY_USER is '{user}', but CI_REGISTRY_PASSWORD is the job token, which GitLab accepts only with the user {JOB_TOKEN_USER}: a project or group variable probably overrides CI_REGISTRY_USER; remove it"
                ));
            } else {
                pair.notes.push(format!(
                    "CI_REGISTRY_USER is '{user}', not {JOB_TOKEN_USER}: the predefined registry variables look overridden by project or group variables"
                ));
            }
        }
        None
    };
    Ok(Some(pair.into_candidate(
        Kind::RegistryUser,
        job_binding(cx.vars)?,
        scopes,
    )))
}

fn job_token(cx: &Context, ci_registry: Option<&Registry>) -> Result<Option<Candidate>, VarError> {
    let mut notes = Vec::new();
    let Some(secret) = secret_from(cx.vars, "CI_JOB_TOKEN", &mut notes)? else {
        return Ok(None);
    };
    let problem = if secret.is_empty() {
        Some(empty_problem(cx.vars, "CI_JOB_TOKEN"))
    } else {
        unsendable(JOB_TOKEN_USER, JOB_TOKEN_USER, "CI_JOB_TOKEN", &secret)
            .or_else(|| ci_registry_problem(ci_registry))
    };
    Ok(Some(Candidate {
        kind: Kind::JobToken,
        source: "CI_JOB_TOKEN".into(),
        username: JOB_TOKEN_USER.into(),
        scopes: job_token_scopes(cx, false, &mut notes)?,
        secret,
        binding: job_binding(cx.vars)?,
        problem,
        notes,
    }))
}

fn deploy_token(
    cx: &Context,
    ci_registry: Option<&Registry>,
) -> Result<Option<Candidate>, VarError> {
    let Some(mut pair) = read_pair(cx.vars, "CI_DEPLOY_USER", "CI_DEPLOY_PASSWORD")? else {
        return Ok(None);
    };
    pair.problem = pair.problem.or_else(|| ci_registry_problem(ci_registry));
    Ok(Some(pair.into_candidate(
        Kind::DeployToken,
        job_binding(cx.vars)?,
        None,
    )))
}

/// `CI_DEPENDENCY_PROXY_USER`/`_PASSWORD` (the job token), when the target is the
/// dependency proxy's server. It pulls through the proxy for the groups the job's user
/// can read; the proxy serves pulls only.
fn dependency_proxy(cx: &Context) -> Result<Option<Candidate>, VarError> {
    let vars = cx.vars;
    let is_proxy = vars
        .setting("CI_DEPENDENCY_PROXY_SERVER")?
        .and_then(|s| Registry::parse(s).ok())
        .is_some_and(|s| s.same_as(cx.target));
    if !is_proxy {
        return Ok(None);
    }
    let pair = read_pair(
        vars,
        "CI_DEPENDENCY_PROXY_USER",
        "CI_DEPENDENCY_PROXY_PASSWORD",
    )?;
    let binding = job_binding(vars)?;
    Ok(pair.map(|p| p.into_candidate(Kind::JobToken, binding, Some(vec![Scope::ReadRegistry]))))
}

/// The kind of an explicit secret, from GitLab's token prefixes.
pub fn kind_of_secret(secret: &Secret) -> Kind {
    if secret.starts_with("glpat-") {
        Kind::AccessToken
    } else if secret.starts_with("gldt-") {
        Kind::DeployToken
    } else if secret.starts_with("glcbt-") {
        Kind::JobToken
    } else {
        Kind::Password
    }
}

fn explicit(cx: &Context) -> Result<Option<Candidate>, VarError> {
    let spec = cx.explicit;
    let vars = cx.vars;
    let tied = spec
        .binding
        .clone()
        .unwrap_or_else(|| Binding::to(vec![cx.target.clone()], "the one registry of this call"));
    let (user, user_source) = match &spec.username {
        Some(u) => (Some(u.as_str()), "--username".to_string()),
        None => (vars.get(&spec.username_var)?, spec.username_var.clone()),
    };
    let mut notes = Vec::new();
    let secret = secret_from(vars, &spec.password_var, &mut notes)?;
    let source = spec.password_var.clone();
    let Some(secret) = secret else {
        if spec.password_var_explicit || user.is_some_and(|u| !u.is_empty()) {
            return Ok(Some(Candidate {
                kind: Kind::Password,
                source,
                username: user.unwrap_or_default().to_string(),
                secret: Secret::new(""),
                binding: tied,
                scopes: None,
                problem: Some(match user.filter(|u| !u.is_empty()) {
                    Some(_) => format!(
                        "{} is not set (a user name came from {user_source}, but no secret)",
                        spec.password_var
                    ),
                    None => format!("{} is not set", spec.password_var),
                }),
                notes,
            }));
        }
        return Ok(None);
    };
    let kind = kind_of_secret(&secret);
    let user = user.filter(|u| !u.is_empty());
    let (username, problem) = match (kind, user) {
        (_, Some(u)) => (u.to_string(), None),
        (Kind::AccessToken, None) => (ACCESS_TOKEN_USER.to_string(), None),
        (Kind::JobToken, None) => (JOB_TOKEN_USER.to_string(), None),
        (Kind::DeployToken, None) => (
            String::new(),
            Some(format!(
                "{} is a deploy token, which needs its own user name (gitlab+deploy-token-N): set {} or --username",
                spec.password_var, spec.username_var
            )),
        ),
        (_, None) => (
            String::new(),
            Some(format!(
                "{} holds a password, which needs a user name: set {} or --username",
                spec.password_var, spec.username_var
            )),
        ),
    };
    let problem = problem.or_else(|| {
        if secret.is_empty() {
            Some(empty_problem(vars, &spec.password_var))
        } else {
            unsendable(&user_source, &username, &spec.password_var, &secret)
        }
    });
    let scopes = match kind {
        Kind::Password => {
            notes.push("a password never works for a user with two-factor authentication".into());
            Some(vec![Scope::ReadRegistry, Scope::WriteRegistry])
        }
        Kind::JobToken => job_token_scopes(cx, false, &mut notes)?,
        _ => None,
    };
    if kind == Kind::JobToken && username != JOB_TOKEN_USER {
        notes.push(format!(
            "a job token works only with the user {JOB_TOKEN_USER}"
        ));
    }
    // The job's own secret through another variable is still the job's: it goes where
    // the job's credentials go, whatever registry the call names (issue 11, finding 11).
    let binding = if is_job_secret(vars, &secret)? {
        job_binding(vars)?
    } else {
        tied
    };
    let problem = problem.or_else(|| {
        binding.registries.is_empty().then(|| {
            format!(
                "{} is tied to no registry: with several registries in one call, name the ones it is for with --password-for REGISTRY",
                spec.password_var
            )
        })
    });
    Ok(Some(Candidate {
        kind,
        source,
        username,
        secret,
        binding,
        scopes,
        problem,
        notes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(pairs: &[(&str, &str)], explicit: &Explicit) -> Vec<Candidate> {
        let vars = Vars::from_pairs(pairs.iter().copied());
        let target = Registry::parse("registry.example.com").unwrap();
        let repo = Repository::parse("group/app", None).unwrap();
        let cx = Context {
            vars: &vars,
            mode: Mode::detect(&vars),
            target: &target,
            repository: Some(&repo),
            explicit,
        };
        discover(&cx, &[]).unwrap()
    }

    const JOB: &[(&str, &str)] = &[
        ("GITLAB_CI", "true"),
        ("CI_REGISTRY", "registry.example.com"),
        ("CI_PROJECT_PATH", "Group/App"),
        ("CI_REGISTRY_USER", "gitlab-ci-token"),
        ("CI_REGISTRY_PASSWORD", "glcbt-64_job"),
        ("CI_JOB_TOKEN", "glcbt-64_job"),
    ];

    /// Issue 11, finding 10: a user name that is a secret is never kept.
    #[test]
    fn a_user_name_that_is_a_secret_is_dropped() {
        let mut pairs = JOB.to_vec();
        pairs.extend([
            ("REGISTRY_USER", "glpat-pasted-as-user-Qm4Zx"),
            ("REGISTRY_PASSWORD", "glpat-pasted-as-user-Qm4Zx"),
        ]);
        let c = find(&pairs, &Explicit::default());
        let explicit = c.iter().find(|c| c.source == "REGISTRY_PASSWORD").unwrap();
        assert_eq!(explicit.username, "");
        assert!(explicit.problem.as_ref().unwrap().contains("is a secret"));
        pairs.retain(|(k, _)| *k != "REGISTRY_USER");
        pairs.push(("REGISTRY_USER", "glcbt-64_job"));
        let c = find(&pairs, &Explicit::default());
        let explicit = c.iter().find(|c| c.source == "REGISTRY_PASSWORD").unwrap();
        assert_eq!(explicit.username, "", "the job token as a user name");
    }

    #[test]
    fn a_job_offers_registry_user_and_job_token() {
        let c = find(JOB, &Explicit::default());
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].kind, Kind::RegistryUser);
        assert_eq!(
            c[0].scopes,
            Some(vec![Scope::ReadRegistry, Scope::WriteRegistry])
        );
        assert_eq!(c[1].kind, Kind::JobToken);
        assert_eq!(c[1].scopes, Some(vec![Scope::ReadRegistry]));
        assert!(c.iter().all(|c| c.problem.is_none()));
    }

    #[test]
    fn empty_protected_variable_is_explained() {
        let mut env = JOB.to_vec();
        env.extend([
            ("CI_DEPLOY_USER", "gitlab+deploy-token-1"),
            ("CI_DEPLOY_PASSWORD", ""),
        ]);
        let c = find(&env, &Explicit::default());
        let deploy = c.iter().find(|c| c.kind == Kind::DeployToken).unwrap();
        assert!(
            deploy
                .problem
                .as_ref()
                .unwrap()
                .contains("protected variable")
        );
    }

    #[test]
    fn explicit_secret_kind_comes_from_its_prefix() {
        for (secret, kind) in [
            ("glpat-abc", Kind::AccessToken),
            ("gldt-abc", Kind::DeployToken),
            ("glcbt-abc", Kind::JobToken),
            ("hunter2", Kind::Password),
        ] {
            let c = find(
                &[("REGISTRY_USER", "alice"), ("REGISTRY_PASSWORD", secret)],
                &Explicit::default(),
            );
            assert_eq!(c[0].kind, kind, "{secret}");
            assert_eq!(c[0].username, "alice");
        }
        let c = find(&[("REGISTRY_PASSWORD", "glpat-abc")], &Explicit::default());
        assert_eq!(c[0].username, ACCESS_TOKEN_USER);
        let c = find(&[("REGISTRY_PASSWORD", "hunter2")], &Explicit::default());
        assert!(c[0].problem.as_ref().unwrap().contains("needs a user name"));
    }

    #[test]
    fn overridden_user_with_job_token_is_unusable() {
        let mut env = JOB.to_vec();
        env.retain(|(k, _)| *k != "CI_REGISTRY_USER");
        env.push(("CI_REGISTRY_USER", "alice"));
        let c = find(&env, &Explicit::default());
        assert!(
            c[0].problem
                .as_ref()
                .unwrap()
                .contains("overrides CI_REGISTRY_USER")
        );
    }

    #[test]
    fn job_token_never_pushes_to_another_project() {
        let mut env = JOB.to_vec();
        env.retain(|(k, _)| *k != "CI_PROJECT_PATH");
        env.push(("CI_PROJECT_PATH", "other/project"));
        let c = find(&env, &Explicit::default());
        assert_eq!(c[0].scopes, Some(vec![Scope::ReadRegistry]));
        assert!(c[0].notes.iter().any(|n| n.contains("allowlist")));
    }

    #[test]
    fn credentials_no_registry_could_take_are_refused_before_sending() {
        let problem = |pairs: &[(&str, &str)], explicit: &Explicit| {
            find(pairs, explicit)[0].problem.clone().unwrap_or_default()
        };
        let named = Explicit {
            username: Some("https://user:pass@host".into()),
            ..Explicit::default()
        };
        assert!(
            problem(&[("REGISTRY_PASSWORD", "pw-123456")], &named)
                .contains("from --username contains ':'")
        );
        assert!(
            problem(
                &[
                    ("REGISTRY_USER", "a\nb"),
                    ("REGISTRY_PASSWORD", "pw-123456")
                ],
                &Explicit::default()
            )
            .contains("from REGISTRY_USER contains a line break")
        );
        let long = "x".repeat(MAX_SECRET_BYTES + 1);
        assert!(
            problem(
                &[
                    ("CI_REGISTRY", "registry.example.com"),
                    ("CI_JOB_TOKEN", long.as_str())
                ],
                &Explicit::default()
            )
            .starts_with("CI_JOB_TOKEN is 8193 bytes long")
        );
        let user = "u".repeat(MAX_USERNAME_BYTES + 1);
        assert!(
            problem(
                &[
                    ("CI_REGISTRY", "registry.example.com"),
                    ("CI_DEPLOY_USER", user.as_str()),
                    ("CI_DEPLOY_PASSWORD", "gldt-123456")
                ],
                &Explicit::default()
            )
            .contains("from CI_DEPLOY_USER is 256 bytes long")
        );
    }

    #[test]
    fn detects_local_emulation() {
        let vars = Vars::from_pairs([("CI", "true"), ("GITLAB_CI", "false")]);
        assert_eq!(Mode::detect(&vars), Mode::LocalEmulation);
        let vars = Vars::from_pairs([("CI", "true"), ("CI_REGISTRY", "local-registry.gitlab.com")]);
        assert_eq!(Mode::detect(&vars), Mode::LocalEmulation);
        let vars = Vars::from_pairs([("CI", "true"), ("GITLAB_CI", "true")]);
        assert_eq!(Mode::detect(&vars), Mode::GitLabCi);
        assert_eq!(Mode::detect(&Vars::from_pairs([])), Mode::Laptop);
    }
}
