//! Where the run happens (a GitLab job, local emulation, another CI, a laptop), read
//! from the variables once: it changes what the predefined variables mean.

use crate::vars::Vars;

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

#[cfg(test)]
mod tests {
    use super::*;

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
