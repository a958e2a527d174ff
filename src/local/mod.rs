//! Local runs (gitlab-ci-local, a developer's machine). There is no job token there, so
//! credentials also come from where a developer keeps them: the GitLab CLI's config
//! (`glab auth login`) and, as a last resort, an earlier `docker login`. One file per
//! source, one row each in [`SOURCES`].

mod docker_config;

pub use docker_config::stored_login;
mod glab;

use crate::credentials::{Candidate, Context, Serves, Source};

/// The developer's machine's credential sources, asked after the job's variables and
/// flags, only in local modes, and never for the dependency proxy.
pub const SOURCES: &[Source] = &[
    Source {
        name: "glab",
        serves: Serves::Registry,
        secret_variables: &[],
        job_secrets: false,
        find: |cx| Ok(local_only(cx, glab::glab)),
    },
    Source {
        name: "docker-config",
        serves: Serves::Registry,
        secret_variables: &[],
        job_secrets: false,
        find: |cx| Ok(local_only(cx, docker_config::docker_config)),
    },
];

fn local_only(cx: &Context, find: fn(&Context) -> Option<Candidate>) -> Vec<Candidate> {
    if !cx.job.mode.is_local() {
        return Vec::new();
    }
    find(cx).into_iter().collect()
}

/// Every local source's candidates (the tests' view of the table).
#[cfg(test)]
fn candidates(cx: &Context) -> Vec<Candidate> {
    SOURCES.iter().flat_map(|s| (s.find)(cx).unwrap()).collect()
}

/// What each local source's tests need: a laptop run against one registry, and files.
#[cfg(test)]
mod test_support {
    use super::*;
    use crate::credentials::Explicit;
    use crate::job::{Job, Target};
    use crate::mode::Mode;
    use crate::names::Registry;
    use crate::vars::Vars;
    use std::path::Path;

    /// The local sources' candidates for `registry`, on a laptop.
    pub fn discover(vars: &Vars, registry: &str) -> Vec<Candidate> {
        let registry = Registry::parse(registry).unwrap();
        let target = Target {
            keys: vec![registry.host_port()],
            registry,
            repository: None,
            dependency_proxy: false,
        };
        let job = Job::resolve(vars, Mode::Laptop).unwrap();
        let sources: Vec<&Source> = SOURCES.iter().collect();
        let cx = Context {
            vars,
            job: &job,
            target: &target,
            explicit: &Explicit::default(),
            sources: &sources,
        };
        candidates(&cx)
    }

    pub fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Explicit;
    use crate::job::{Job, Target};
    use crate::mode::Mode;
    use crate::names::Registry;
    use crate::vars::Vars;

    #[test]
    fn nothing_outside_local_modes() {
        let vars = Vars::from_pairs([("GLAB_CONFIG_DIR", "/nonexistent")]);
        let registry = Registry::parse("gitlab.example.com").unwrap();
        let target = Target {
            keys: vec![registry.host_port()],
            registry,
            repository: None,
            dependency_proxy: false,
        };
        let job = Job::resolve(&vars, Mode::GitLabCi).unwrap();
        let cx = Context {
            vars: &vars,
            job: &job,
            target: &target,
            explicit: &Explicit::default(),
            sources: &[],
        };
        assert!(candidates(&cx).is_empty());
    }
}
