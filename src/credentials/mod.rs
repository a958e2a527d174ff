//! Finding every credential on offer. Each becomes a [`Candidate`] with a kind, where it
//! was found, where it may be sent, and what is known of its scopes without asking
//! anyone. Each source is one row of [`SOURCES`] (and `local::SOURCES` for the
//! developer's machine), in its own file.

mod ci;
mod explicit;
mod hosts;

pub use explicit::{Explicit, kind_of_secret};
pub use hosts::{HostCredential, for_other_registry, key_names};

use crate::access::{Kind, Scope};
use crate::job::{Job, Target};
use crate::names::Registry;
use crate::secret::{Secret, Whitespace};
use crate::vars::{VarError, Vars};
use std::fmt;

#[derive(Debug, Clone)]
pub struct Candidate {
    pub kind: Kind,
    /// Where it was found.
    pub origin: Origin,
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

impl Candidate {
    /// When the credential itself expires, as far as it says offline: a job token that is
    /// a JWT carries its `exp` (reference 9.1).
    pub fn expires_at(&self) -> Option<u64> {
        if !self.kind.row().job_scoped {
            return None;
        }
        crate::jwt::job_token_expires_at(self.secret.expose())
    }
}

/// Where a candidate was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A variable; a pair is named after its user variable (`CI_REGISTRY_USER`).
    Variable(String),
    /// The GitLab CLI's configuration.
    Glab,
    /// An earlier `docker login`, in the docker config: used only when nothing else can.
    DockerConfig,
}

impl Origin {
    pub fn as_str(&self) -> &str {
        match self {
            Origin::Variable(name) => name,
            Origin::Glab => "glab",
            Origin::DockerConfig => "docker-config",
        }
    }

    /// A login left on the machine ranks after every other credential, whatever its kind.
    pub fn is_last_resort(&self) -> bool {
        *self == Origin::DockerConfig
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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
pub fn job_binding(job: &Job) -> Binding {
    Binding::to(job.registries(), "the job's registry and dependency proxy")
}

/// Whether a secret is the job's own, whatever variable it came through: equal to a CI
/// secret, or a CI job token by its prefix (at any `-` boundary, for instance prefixes).
fn is_job_secret(cx: &Context, secret: &Secret) -> Result<bool, VarError> {
    let value = secret.expose();
    if Kind::of_prefix(value) == Some(Kind::JobToken) {
        return Ok(true);
    }
    let vars = cx.vars;
    for name in job_secret_variables(cx.sources) {
        if vars.get(name)?.is_some_and(|v| !v.is_empty() && v == value) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// What discovery needs to know about the run.
pub struct Context<'a> {
    pub vars: &'a Vars,
    pub job: &'a Job,
    pub target: &'a Target,
    pub explicit: &'a Explicit,
    /// Every source of the run (for the variables that hold secrets).
    pub sources: &'a [&'a Source],
}

/// When a source is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serves {
    /// Registries, not the dependency proxy (unless the proxy's own credential is missing).
    Registry,
    /// Only GitLab's dependency proxy; what it finds there replaces every `Registry` source.
    DependencyProxy,
    /// Every target.
    Any,
}

/// A credential source: one row each. A new source is a file with its `find` and a row
/// here (or in `local::SOURCES` for the developer's machine).
pub struct Source {
    pub name: &'static str,
    pub serves: Serves,
    /// Variables whose values are secrets wherever they appear: scrubbed from engines'
    /// environments, never taken as user names.
    pub secret_variables: &'static [&'static str],
    /// Its secrets are the job's own: they go only to the job's registries (issue 11),
    /// whatever variable they come through.
    pub job_secrets: bool,
    pub find: fn(&Context) -> Result<Vec<Candidate>, VarError>,
}

/// The sources that read variables and flags, in discovery order.
pub const SOURCES: &[Source] = &[
    ci::DEPENDENCY_PROXY,
    ci::REGISTRY_USER,
    ci::JOB_TOKEN,
    ci::DEPLOY_TOKEN,
    explicit::EXPLICIT,
    hosts::HARBOR,
];

/// Every variable the sources declare as holding a secret.
pub fn secret_variables<'a>(sources: &'a [&'a Source]) -> impl Iterator<Item = &'static str> + 'a {
    sources
        .iter()
        .flat_map(|s| s.secret_variables.iter().copied())
}

fn job_secret_variables<'a>(sources: &'a [&'a Source]) -> impl Iterator<Item = &'static str> + 'a {
    sources
        .iter()
        .filter(|s| s.job_secrets)
        .flat_map(|s| s.secret_variables.iter().copied())
}

/// Every credential on offer, in discovery order (ranking happens in `selection`). For
/// the dependency proxy, its own credential, when there is one, replaces the registry's.
pub fn discover(cx: &Context) -> Result<Vec<Candidate>, VarError> {
    let ask = |serves: &[Serves]| -> Result<Vec<Candidate>, VarError> {
        let mut out = Vec::new();
        for source in cx.sources.iter().filter(|s| serves.contains(&s.serves)) {
            out.extend((source.find)(cx)?);
        }
        Ok(out)
    };
    let proxy = ask(&[Serves::DependencyProxy])?;
    let mut found = if proxy.is_empty() {
        ask(&[Serves::Registry, Serves::Any])?
    } else {
        let mut found = proxy;
        found.extend(ask(&[Serves::Any])?);
        found
    };
    hide_secret_user_names(cx, &mut found)?;
    for c in &mut found {
        if let Some(at) = c.expires_at() {
            c.notes.push(format!(
                "the job token is a JWT that expires at {} (the job's timeout plus 5 minutes)",
                crate::text::rfc3339(at)
            ));
        }
    }
    Ok(found)
}

/// A user name that is a secret (the token pasted into REGISTRY_USER, `--username
/// "$TOKEN"`) would be printed in every summary and put on an engine's command line:
/// it is dropped, and the candidate cannot be used until the user name is fixed.
fn hide_secret_user_names(cx: &Context, found: &mut [Candidate]) -> Result<(), VarError> {
    let mut secrets: Vec<&str> = Vec::new();
    let password_var: &str = &cx.explicit.password_var;
    for name in secret_variables(cx.sources)
        .map(|v| v as &str)
        .chain([password_var])
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
            c.origin
        ));
    }
    Ok(())
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
    pub user_var: &'static str,
    /// Empty when unset; `problem` then says so.
    pub user: &'v str,
    pub secret: Secret,
    pub problem: Option<String>,
    pub notes: Vec<String>,
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
            origin: Origin::Variable(self.user_var.into()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::ACCESS_TOKEN_USER;
    use crate::mode::Mode;
    use crate::names::Repository;

    fn find(pairs: &[(&str, &str)], explicit: &Explicit) -> Vec<Candidate> {
        let vars = Vars::from_pairs(pairs.iter().copied());
        let registry = Registry::parse("registry.example.com").unwrap();
        let target = Target {
            keys: vec![registry.host_port()],
            repository: Some(Repository::parse("group/app", None).unwrap()),
            registry,
            dependency_proxy: false,
        };
        let job = Job::resolve(&vars, Mode::detect(&vars)).unwrap();
        let sources: Vec<&Source> = SOURCES.iter().collect();
        let cx = Context {
            vars: &vars,
            job: &job,
            target: &target,
            explicit,
            sources: &sources,
        };
        discover(&cx).unwrap()
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
        let explicit = c
            .iter()
            .find(|c| c.origin.as_str() == "REGISTRY_PASSWORD")
            .unwrap();
        assert_eq!(explicit.username, "");
        assert!(explicit.problem.as_ref().unwrap().contains("is a secret"));
        pairs.retain(|(k, _)| *k != "REGISTRY_USER");
        pairs.push(("REGISTRY_USER", "glcbt-64_job"));
        let c = find(&pairs, &Explicit::default());
        let explicit = c
            .iter()
            .find(|c| c.origin.as_str() == "REGISTRY_PASSWORD")
            .unwrap();
        assert_eq!(explicit.username, "", "the job token as a user name");
    }

    /// Issue 12's newcomer finding: with `--password-env MY_PASS` unset and no user name,
    /// the problem names MY_PASS alone, not a user name that came from nowhere.
    #[test]
    fn an_unset_named_secret_says_only_what_is_missing() {
        let named = Explicit {
            password_var: "MY_PASS".into(),
            password_var_explicit: true,
            ..Explicit::default()
        };
        let c = find(&[], &named);
        assert_eq!(c[0].username, "");
        assert_eq!(c[0].problem.as_deref(), Some("MY_PASS is not set"));
        let c = find(&[("REGISTRY_USER", "alice")], &named);
        assert_eq!(
            c[0].problem.as_deref(),
            Some("MY_PASS is not set (a user name came from REGISTRY_USER, but no secret)")
        );
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

    /// Reference 9.1: type prefixes at any `-` boundary; no prefix is an unknown kind,
    /// not a password, unless `--use` says so; a runner token is refused outright.
    #[test]
    fn explicit_secret_kind_comes_from_its_prefix() {
        for (secret, kind) in [
            ("glpat-abc", Kind::AccessToken),
            ("acme-glpat-abc", Kind::AccessToken),
            ("gldt-abc", Kind::DeployToken),
            ("glcbt-abc", Kind::JobToken),
            ("hunter2", Kind::Unknown),
        ] {
            let c = find(
                &[("REGISTRY_USER", "alice"), ("REGISTRY_PASSWORD", secret)],
                &Explicit::default(),
            );
            assert_eq!(c[0].kind, kind, "{secret}");
            assert_eq!(c[0].username, "alice");
        }
        let c = find(
            &[("REGISTRY_PASSWORD", "acme-glpat-abc")],
            &Explicit::default(),
        );
        assert_eq!(c[0].username, ACCESS_TOKEN_USER);
        let c = find(&[("REGISTRY_PASSWORD", "hunter2")], &Explicit::default());
        let problem = c[0].problem.as_ref().unwrap();
        assert!(problem.contains("no GitLab token prefix"), "{problem}");
        assert!(!c[0].notes.iter().any(|n| n.contains("two-factor")));
        let named = |kind| Explicit {
            named_kind: Some(kind),
            ..Explicit::default()
        };
        let c = find(
            &[("REGISTRY_PASSWORD", "custom-token")],
            &named(Kind::AccessToken),
        );
        assert_eq!(
            (c[0].kind, c[0].username.as_str()),
            (Kind::AccessToken, ACCESS_TOKEN_USER)
        );
        let c = find(
            &[("REGISTRY_USER", "bob"), ("REGISTRY_PASSWORD", "hunter2")],
            &named(Kind::Password),
        );
        assert_eq!(c[0].kind, Kind::Password);
        assert!(c[0].notes.iter().any(|n| n.contains("two-factor")));
        let c = find(
            &[
                ("REGISTRY_USER", "bob"),
                ("REGISTRY_PASSWORD", "acme-glrt-abc"),
            ],
            &Explicit::default(),
        );
        let problem = c[0].problem.as_ref().unwrap();
        assert!(
            problem.contains("a runner authentication token, which never logs in"),
            "{problem}"
        );
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
}
