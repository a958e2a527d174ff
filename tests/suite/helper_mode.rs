//! End to end, issue 5: credential-helper mode. After `helper install`, the real docker
//! CLI (client-side: `docker manifest`, no daemon) and skopeo push and pull through
//! `docker-credential-ci-registry-login`, which answers from the job's variables; no
//! file under the job's HOME, DOCKER_CONFIG or XDG folders ever holds the secret. The
//! protocol's details (exit status 1 and the agreed message on stdout for an unknown
//! server, store/erase/list/version) are checked directly. Every run is leak-scanned.

use crate::support::assert_contains;

use crate::support::TestBed;
use crate::support::run::{Outcome, Run, binary, ci_registry_login, leak_forms};
use crate::support::world::JOB_APP_TOKEN;
use serde_json::{Value, json};
use std::path::PathBuf;

const LINK: &str = "docker-credential-ci-registry-login";
const NOT_FOUND: &str = "credentials not found in native keychain\n";

/// One job's folders, shared by every program of the job.
struct Job {
    dir: tempfile::TempDir,
}

impl Job {
    fn new() -> Job {
        let job = Job {
            dir: tempfile::tempdir().unwrap(),
        };
        for sub in ["home", "docker", "run", "config", "bin"] {
            std::fs::create_dir_all(job.path(sub)).unwrap();
        }
        job
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    /// HOME, DOCKER_CONFIG, the XDG folders, and PATH with the helper's folder first.
    fn vars(&self, run: &Run) -> Vec<(String, String)> {
        let path = format!(
            "{}:{}:{}",
            self.path("bin").display(),
            run.path("shims").display(),
            std::env::var("PATH").unwrap()
        );
        [
            ("HOME", self.path("home")),
            ("DOCKER_CONFIG", self.path("docker")),
            ("XDG_RUNTIME_DIR", self.path("run")),
            ("XDG_CONFIG_HOME", self.path("config")),
            ("PATH", PathBuf::from(path)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.display().to_string()))
        .collect()
    }

    /// A program of the job (docker, skopeo) with the job's variables.
    fn tool(&self, bed: &TestBed, program: &str) -> Run {
        let run = Run::new(which(program));
        let vars = self.vars(&run);
        run.envs(bed.ci_job_env("group/app"))
            .envs(vars)
            .in_job_environment()
    }

    /// No file of the job holds a form of the secret.
    fn assert_no_file_holds(&self, secret: &str) {
        let mut stack = vec![self.dir.path().to_path_buf()];
        let mut files = 0;
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let entry = entry.unwrap();
                let kind = entry.file_type().unwrap();
                if kind.is_dir() {
                    stack.push(entry.path());
                } else if kind.is_file() {
                    files += 1;
                    let bytes = std::fs::read(entry.path()).unwrap();
                    for form in leak_forms(secret) {
                        assert!(
                            !bytes.windows(form.len()).any(|w| w == form.as_bytes()),
                            "{} holds the secret",
                            entry.path().display()
                        );
                    }
                }
            }
        }
        assert!(files > 0, "the job wrote files, and they were all read");
    }
}

fn which(program: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not installed"))
}

fn install(bed: &TestBed, job: &Job, extra: &[&str]) -> Outcome {
    let run = ci_registry_login();
    let vars = job.vars(&run);
    run.envs(bed.ci_job_env("group/app"))
        .envs(vars)
        .args(["helper", "install", "--bin-dir"])
        .arg(job.path("bin"))
        .args(extra)
        .run()
        .expect_code(0)
}

fn docker_config(job: &Job) -> Value {
    serde_json::from_slice(&std::fs::read(job.path("docker/config.json")).unwrap()).unwrap()
}

#[test]
fn docker_and_skopeo_push_and_pull_through_the_helper_and_no_file_holds_the_secret() {
    let bed = TestBed::start();
    let registry = bed.registry().host_port();
    let job = Job::new();

    // Without the helper the job has no credential for the registry at all.
    let layout = crate::support::oci_image(&job.path("image"));
    let image = format!("{registry}/group/app:helper");
    let copy = |run: Run| {
        run.args(["--insecure-policy", "copy", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:latest", layout.display()))
            .arg(format!("docker://{image}"))
            .run()
    };
    let refused = copy(job.tool(&bed, "skopeo"));
    assert_ne!(refused.code(), 0, "no credential before install");

    let out = install(&bed, &job, &[]);
    assert_eq!(
        docker_config(&job),
        json!({"credHelpers": {registry.as_str(): "ci-registry-login"}})
    );
    assert_eq!(
        std::fs::read_link(job.path("bin").join(LINK)).unwrap(),
        binary().canonicalize().unwrap()
    );
    assert_contains(out.said(), "helper installed for");

    // skopeo pushes, docker (client-side) pushes a manifest list and reads it back.
    copy(job.tool(&bed, "skopeo")).expect_code(0);
    let list = format!("{registry}/group/app:list");
    job.tool(&bed, "docker")
        .args(["manifest", "create", "--insecure", &list, &image])
        .run()
        .expect_code(0);
    job.tool(&bed, "docker")
        .args(["manifest", "push", "--insecure", &list])
        .run()
        .expect_code(0);
    let inspected = job
        .tool(&bed, "docker")
        .args(["manifest", "inspect", "--insecure", &list])
        .run()
        .expect_code(0);
    assert!(
        inspected
            .stdout
            .contains("application/vnd.oci.image.manifest.v1+json"),
        "{}",
        inspected.stdout
    );
    let pulled = job
        .tool(&bed, "skopeo")
        .args(["--insecure-policy", "inspect", "--tls-verify=false"])
        .arg(format!("docker://{image}"))
        .run()
        .expect_code(0);
    assert_contains(&pulled.stdout, "sha256:");

    // The credential reached GitLab's token service, asked for pushes.
    let asked = bed.gitlab().requests_to("/jwt/auth");
    assert!(
        asked.iter().any(|r| r.authorization.is_some()
            && r.params("scope")
                .iter()
                .any(|s| s.contains("group/app:push") || s.contains("group/app:pull,push"))),
        "{asked:?}"
    );
    // Nothing was ever stored: the config still has only the helper entry.
    assert_eq!(
        docker_config(&job)["credHelpers"],
        json!({registry.as_str(): "ci-registry-login"})
    );
    job.assert_no_file_holds(JOB_APP_TOKEN);
}

#[test]
fn install_replaces_stored_entries_and_keeps_everything_else() {
    let bed = TestBed::start();
    let registry = bed.registry().host_port();
    let job = Job::new();
    std::fs::write(
        job.path("docker/config.json"),
        serde_json::to_vec(&json!({
            "auths": {registry.as_str(): {"auth": "b2xkOnN0YWxl"}, "other:1": {"auth": "eDp5"}},
            "credsStore": "desktop",
        }))
        .unwrap(),
    )
    .unwrap();
    install(&bed, &job, &["--dependency-proxy"]);
    let proxy = bed.gitlab().url().trim_start_matches("http://").to_string();
    let config = docker_config(&job);
    assert_eq!(config["auths"], json!({"other:1": {"auth": "eDp5"}}));
    assert_eq!(config["credsStore"], "desktop");
    assert_eq!(
        config["credHelpers"],
        json!({registry.as_str(): "ci-registry-login", proxy.as_str(): "ci-registry-login"})
    );
    // Installing again is harmless; a file in the link's place is never replaced.
    install(&bed, &job, &[]);
    std::fs::remove_file(job.path("bin").join(LINK)).unwrap();
    std::fs::write(job.path("bin").join(LINK), "#!/bin/sh\n").unwrap();
    let run = ci_registry_login();
    let vars = job.vars(&run);
    let out = run
        .envs(bed.ci_job_env("group/app"))
        .envs(vars)
        .args(["helper", "install", "--bin-dir"])
        .arg(job.path("bin"))
        .run()
        .expect_code(2);
    assert_contains(out.said(), "is not a link");
}

/// `ci-registry-login helper ACTION` with the job's variables and `input` on stdin.
fn helper(bed: &TestBed, job: &Job, action: &str, input: &str) -> Run {
    let run = ci_registry_login();
    let vars = job.vars(&run);
    run.envs(bed.ci_job_env("group/app"))
        .envs(vars)
        .args(["helper", action])
        .stdin(input)
}

#[test]
fn get_answers_the_jobs_credential_and_unknown_servers_the_agreed_message() {
    let bed = TestBed::start();
    let registry = bed.registry().host_port();
    let job = Job::new();

    let out = helper(&bed, &job, "get", &registry)
        .secret_expected_on_stdout()
        .run()
        .expect_code(0);
    let answer: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        answer,
        json!({"ServerURL": registry, "Username": "gitlab-ci-token", "Secret": JOB_APP_TOKEN})
    );

    // The dependency proxy's own credential (the emulator's host:port in this bed).
    let proxy = bed.gitlab().url().trim_start_matches("http://").to_string();
    let out = helper(&bed, &job, "get", &proxy)
        .secret_expected_on_stdout()
        .run()
        .expect_code(0);
    let answer: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(answer["Username"], "gitlab-ci-token");

    // Docker Hub is not the job's: exit status 1, the agreed message, on stdout.
    for server in ["https://index.docker.io/v1/", "registry.example.com", ""] {
        let out = helper(&bed, &job, "get", server).run().expect_code(1);
        let expected = if server.is_empty() {
            "no credentials server URL\n"
        } else {
            NOT_FOUND
        };
        assert_eq!(out.stdout, expected, "{server:?}");
    }
}

#[test]
fn the_explicit_credential_goes_only_to_registries_installed_for_it() {
    let bed = TestBed::start();
    let job = Job::new();
    let with_explicit = |run: Run| {
        run.env("REGISTRY_USER", "alice")
            .env("REGISTRY_PASSWORD", "glpat-helper-only-Kd8Wq2Zt5")
    };
    // Before install: a catch-all credsStore would hand it to anyone; the helper does not.
    let out = with_explicit(helper(&bed, &job, "get", "other.example.com"))
        .run()
        .expect_code(1);
    assert_eq!(out.stdout, NOT_FOUND);
    let run = ci_registry_login();
    let vars = job.vars(&run);
    with_explicit(run)
        .envs(vars)
        .args([
            "helper",
            "install",
            "--registry",
            "other.example.com",
            "--bin-dir",
        ])
        .arg(job.path("bin"))
        .run()
        .expect_code(0);
    let out = with_explicit(helper(&bed, &job, "get", "other.example.com"))
        .secret_expected_on_stdout()
        .run()
        .expect_code(0);
    let answer: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(answer["Username"], "alice");
    assert_eq!(answer["Secret"], "glpat-helper-only-Kd8Wq2Zt5");
    let out = with_explicit(helper(&bed, &job, "list", ""))
        .run()
        .expect_code(0);
    let listed: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(listed["other.example.com"], "alice", "{listed}");
    assert_eq!(listed[bed.registry().host_port()], "gitlab-ci-token");
}

#[test]
fn store_accepts_only_what_get_answers_and_erase_and_version_succeed() {
    let bed = TestBed::start();
    let registry = bed.registry().host_port();
    let job = Job::new();
    let offered = |secret: &str| {
        json!({"ServerURL": registry, "Username": "gitlab-ci-token", "Secret": secret}).to_string()
    };
    // What docker login stores after logging in with what get answered: a no-op.
    let out = helper(&bed, &job, "store", &offered(JOB_APP_TOKEN))
        .run()
        .expect_code(0);
    assert_eq!(out.stdout, "");
    let out = helper(&bed, &job, "store", &offered("glpat-other-Ny3Lp8Vc6"))
        .secret("glpat-other-Ny3Lp8Vc6")
        .run()
        .expect_code(1);
    assert_contains(&out.stdout, "stores nothing");
    helper(&bed, &job, "erase", &registry).run().expect_code(0);
    let out = helper(&bed, &job, "version", "").run().expect_code(0);
    assert!(out.stdout.starts_with(LINK), "{}", out.stdout);
    assert_eq!(
        std::fs::read_dir(job.path("docker")).unwrap().count(),
        0,
        "nothing was written"
    );
}

#[test]
fn called_through_the_link_the_binary_is_the_helper() {
    let bed = TestBed::start();
    let job = Job::new();
    let link = job.path("bin").join(LINK);
    std::os::unix::fs::symlink(binary(), &link).unwrap();
    let run = Run::new(link);
    let vars = job.vars(&run);
    let out = run
        .envs(bed.ci_job_env("group/app"))
        .envs(vars)
        .arg("get")
        .stdin("registry.example.com")
        .run()
        .expect_code(1);
    assert_eq!(out.stdout, NOT_FOUND);
}
