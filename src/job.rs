//! The job as its predefined variables describe it, resolved once: its registry, its
//! dependency proxy, its project, where it runs; and the registries a call serves
//! ([`Target`]). Everything after `config` asks these instead of reading variables.

use crate::error::Failure;
use crate::mode::Mode;
use crate::names::{Registry, Repository};
use crate::vars::{VarError, Vars};

/// gitlab-ci-local names the registry `local-registry.<git remote host>` when it has
/// none to offer. It resolves nowhere, so say so instead of failing to reach it.
pub fn refuse_placeholder_registry(mode: Mode, registry: &Registry) -> Result<(), Failure> {
    if !mode.is_local() || !registry.host().starts_with("local-registry.") {
        return Ok(());
    }
    Err(Failure::usage(format!(
        "{registry} is not a real registry: gitlab-ci-local makes this name up from the git remote when it has no registry to offer"
    ))
    .with_hint(
        "set CI_REGISTRY to a real registry in .gitlab-ci-local-variables.yml (or pass --registry), or run gitlab-ci-local --registry to get its local one",
    ))
}

#[derive(Debug, Clone)]
pub struct Job {
    pub mode: Mode,
    /// `CI_REGISTRY`, when set and a registry name (`config` refuses a bad one when the
    /// call needs it).
    pub registry: Option<Registry>,
    /// `CI_DEPENDENCY_PROXY_SERVER`.
    pub dependency_proxy: Option<Registry>,
    /// `CI_PROJECT_PATH` in lower case, as GitLab names repositories.
    pub project: Option<String>,
    /// `CI_SERVER_FQDN` and `CI_SERVER_HOST`: the GitLab serving `CI_REGISTRY`.
    pub servers: Vec<String>,
    /// `CI_SERVER_URL`: the GitLab that issued the job's credentials (issue 15 asks its
    /// token service before the registry's challenge names it).
    pub server_url: Option<String>,
    /// The registries `DOCKER_AUTH_CONFIG` holds an entry for: docker CLI 28.3 and newer
    /// prefer it over a stored login.
    pub docker_auth_config: Vec<Registry>,
}

impl Job {
    pub fn resolve(vars: &Vars, mode: Mode) -> Result<Job, VarError> {
        let registry = |name| -> Result<Option<Registry>, VarError> {
            Ok(vars.setting(name)?.and_then(|r| Registry::parse(r).ok()))
        };
        // Read leniently, as before: they only refine a local run's glab lookup and a
        // warning, and a broken one must not stop a job that needs neither.
        let lenient = |name| vars.setting(name).ok().flatten();
        let servers = ["CI_SERVER_FQDN", "CI_SERVER_HOST"]
            .into_iter()
            .filter_map(lenient)
            .map(str::to_string)
            .collect();
        Ok(Job {
            mode,
            registry: registry("CI_REGISTRY")?,
            dependency_proxy: registry("CI_DEPENDENCY_PROXY_SERVER")?,
            project: vars
                .setting("CI_PROJECT_PATH")?
                .map(str::to_ascii_lowercase),
            servers,
            docker_auth_config: docker_auth_config_registries(lenient("DOCKER_AUTH_CONFIG")),
            server_url: lenient("CI_SERVER_URL").map(str::to_string),
        })
    }

    /// The job's own registries: where its secrets may go.
    pub fn registries(&self) -> Vec<Registry> {
        self.registry
            .iter()
            .chain(&self.dependency_proxy)
            .cloned()
            .collect()
    }

    /// Whether `registry` is `CI_REGISTRY`, whose GitLab is the job's.
    pub fn is_own_registry(&self, registry: &Registry) -> bool {
        self.registry.as_ref().is_some_and(|r| r.same_as(registry))
    }

    pub fn is_dependency_proxy(&self, registry: &Registry) -> bool {
        self.dependency_proxy
            .as_ref()
            .is_some_and(|r| r.same_as(registry))
    }

    /// Whether `repository` belongs to the job's own project (images may live below the
    /// project path: `group/app/sub-image`); `None` when the project is unknown.
    pub fn owns(&self, repository: &Repository) -> Option<bool> {
        let project = self.project.as_deref()?;
        let repo = repository.as_str();
        Some(
            repo == project
                || repo
                    .strip_prefix(project)
                    .is_some_and(|rest| rest.starts_with('/')),
        )
    }
}

/// The registries a `DOCKER_AUTH_CONFIG` value has `auths` entries for; none when it
/// is no such JSON.
fn docker_auth_config_registries(raw: Option<&str>) -> Vec<Registry> {
    let Some(json) = raw.and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok()) else {
        return Vec::new();
    };
    json.get("auths")
        .and_then(|a| a.as_object())
        .map(|auths| {
            auths
                .keys()
                .filter_map(|k| Registry::parse(k).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// One registry a call serves, with the repository to check access on.
#[derive(Debug, Clone)]
pub struct Target {
    pub registry: Registry,
    pub repository: Option<Repository>,
    /// The names the credential is stored under: `host[:port]`, and for the dependency
    /// proxy `host:443` as well (see `config`).
    pub keys: Vec<String>,
    /// GitLab's dependency proxy: pull only, with its own credential.
    pub dependency_proxy: bool,
}

#[cfg(test)]
impl Target {
    /// `registry.example.com/group/app`, for unit tests.
    pub fn example() -> Target {
        let registry = Registry::parse("registry.example.com").unwrap();
        Target {
            keys: vec![registry.host_port()],
            repository: Some(Repository::parse("group/app", None).unwrap()),
            registry,
            dependency_proxy: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(pairs: &[(&str, &str)]) -> Job {
        let vars = Vars::from_pairs(pairs.iter().copied());
        Job::resolve(&vars, Mode::detect(&vars)).unwrap()
    }

    #[test]
    fn the_job_owns_its_project_and_the_images_below_it() {
        let job = job(&[("CI_PROJECT_PATH", "Group/App")]);
        let repo = |r| Repository::parse(r, None).unwrap();
        assert_eq!(job.owns(&repo("group/app")), Some(true));
        assert_eq!(job.owns(&repo("group/app/sub")), Some(true));
        assert_eq!(job.owns(&repo("group/apple")), Some(false));
        assert_eq!(job.owns(&repo("other/app")), Some(false));
        assert_eq!(super::Job::owns(&self::job(&[]), &repo("group/app")), None);
    }

    #[test]
    fn own_registries_are_compared_as_registries() {
        let job = job(&[
            ("CI_REGISTRY", "Registry.Example.com:443"),
            ("CI_DEPENDENCY_PROXY_SERVER", "gitlab.example.com:443"),
        ]);
        let r = |s| Registry::parse(s).unwrap();
        assert!(job.is_own_registry(&r("registry.example.com")));
        assert!(!job.is_own_registry(&r("gitlab.example.com")));
        assert!(job.is_dependency_proxy(&r("gitlab.example.com")));
        assert_eq!(job.registries().len(), 2);
    }

    #[test]
    fn placeholder_registry_is_refused_only_in_local_modes() {
        let placeholder = Registry::parse("local-registry.gitlab.com").unwrap();
        let err = refuse_placeholder_registry(Mode::LocalEmulation, &placeholder).unwrap_err();
        assert_eq!(err.exit, crate::error::Exit::Usage);
        assert!(
            err.message.contains("not a real registry"),
            "{}",
            err.message
        );
        assert!(refuse_placeholder_registry(Mode::GitLabCi, &placeholder).is_ok());
        let real = Registry::parse("registry.gitlab.com").unwrap();
        assert!(refuse_placeholder_registry(Mode::Laptop, &real).is_ok());
    }
}
