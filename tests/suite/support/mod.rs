//! The test bed shared by every integration test (`crate::support`): a GitLab
//! emulator, a real registry trusting it, CI job environments, and the real
//! docker and skopeo clients.

pub mod auth;
pub mod delay_proxy;
pub mod docker;
pub mod env;
pub mod gitlab;
pub mod http;
pub mod https;
pub mod hub;
pub mod image;
pub mod jwt;
pub mod readme;
pub mod registry;
pub mod run;
pub mod world;

use std::path::PathBuf;

pub use docker::docker_login;
pub use gitlab::{Authorization, Fault, GitLab, LoggedRequest, Times};
pub use image::{
    Credentials, Skopeo, oci_image, skopeo_pull, skopeo_pull_docker_config, skopeo_push,
    skopeo_push_docker_config,
};
pub use registry::Registry;
pub use world::World;

/// Asserts that `text` contains `needle`, showing the whole text when it does not.
#[track_caller]
pub fn assert_contains(text: impl AsRef<str>, needle: impl AsRef<str>) {
    let (text, needle) = (text.as_ref(), needle.as_ref());
    assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
}

/// A JSON file's content; panics when it is missing or not JSON.
pub fn read_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A finished process's stderr, as text.
pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A file in `tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// An emulated GitLab and a real registry whose token realm is that GitLab.
pub struct TestBed {
    // Declared first so it is dropped first: the registry never outlives its realm.
    registry: Registry,
    gitlab: GitLab,
}

impl TestBed {
    /// The standard world and a plain-HTTP registry.
    pub fn start() -> TestBed {
        TestBed::with_world(World::standard())
    }

    pub fn with_world(world: World) -> TestBed {
        let gitlab = GitLab::start(world);
        let registry = Registry::start(&gitlab.realm());
        TestBed { registry, gitlab }
    }

    /// Like [`TestBed::with_world`], with the registry on HTTPS (leaf signed by `test-ca.crt`).
    pub fn with_world_tls(world: World) -> TestBed {
        let gitlab = GitLab::start(world);
        let registry = Registry::start_tls(&gitlab.realm());
        TestBed { registry, gitlab }
    }

    pub fn gitlab(&self) -> &GitLab {
        &self.gitlab
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Pushes the test image to `group/app:tag` with credentials from `auth_file`,
    /// failing the test with skopeo's message when it cannot.
    #[track_caller]
    pub fn assert_pushes(&self, auth_file: &std::path::Path, tag: &str) {
        let out = skopeo_push(auth_file, &self.registry.host_port(), "group/app", tag);
        assert!(
            out.status.success(),
            "skopeo push with {}: {}",
            auth_file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The predefined variables of the running job on `project`.
    pub fn ci_job_env(&self, project: &str) -> Vec<(String, String)> {
        let world = self.gitlab.world();
        env::gitlab_job(
            &world,
            self.gitlab.url(),
            &self.registry.host_port(),
            project,
        )
    }

    /// The running job's variables on `project`, minus those named in `without`.
    pub fn ci_job_env_without(&self, project: &str, without: &[&str]) -> Vec<(String, String)> {
        self.ci_job_env(project)
            .into_iter()
            .filter(|(k, _)| !without.contains(&k.as_str()))
            .collect()
    }

    /// What `gitlab-ci-local` would set for `project`, with or without `--registry`.
    pub fn gitlab_ci_local_env(&self, project: &str, registry_flag: bool) -> Vec<(String, String)> {
        env::gitlab_ci_local(self.gitlab.url(), project, registry_flag)
    }
}

/// The job's own registry credentials, which a test removes to offer only others.
pub const CI_CREDENTIALS: [&str; 3] = ["CI_REGISTRY_USER", "CI_REGISTRY_PASSWORD", "CI_JOB_TOKEN"];

/// A test that cannot run because a part the repository promises is missing (the JSON
/// schemas, gitlab-ci-local, the release binary). Under `CI=true` that is a failure:
/// CI installs every such part, so its absence is a broken gate, not a skip. Elsewhere
/// the test is recorded as skipped, with the reason.
#[track_caller]
pub fn missing_part(test: &str, why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: {why} (CI=true: every part the tests need must be installed)");
    }
    skipped(test, why);
}

/// Records a test that cannot run here and why, for the summary tests/run-all.sh prints
/// (the file named by `CI_REGISTRY_LOGIN_SKIPPED`); cargo hides what passing tests print.
pub fn skipped(test: &str, why: &str) {
    use std::io::Write;
    let line = format!("{test}: {why}");
    eprintln!("SKIPPED {line}");
    if let Some(path) = std::env::var_os("CI_REGISTRY_LOGIN_SKIPPED") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", PathBuf::from(&path).display()));
        writeln!(file, "{line}").unwrap();
    }
}
