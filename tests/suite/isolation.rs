//! End to end, issue 5: per-job isolation. On a shared executor each job's credentials
//! live in a private folder named after its job id, which the real docker CLI writes
//! (it gets that DOCKER_CONFIG), which `eval` of the printed lines hands to the job's
//! later commands, and which `logout` removes. A folder that is not a private one of
//! ours is never used. Every run is leak-scanned.

use crate::support::assert_contains;

use crate::support::run::{Outcome, ci_registry_login};
use crate::support::{Credentials, Skopeo, TestBed};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A shell-executor job: `CI_SHARED_ENVIRONMENT=true` and a builds folder.
fn shared_job(bed: &TestBed, builds: &Path) -> Vec<(String, String)> {
    let mut env = bed.ci_job_env_without("group/app", &["CI_DISPOSABLE_ENVIRONMENT"]);
    env.push(("CI_SHARED_ENVIRONMENT".into(), "true".into()));
    env.push(("CI_BUILDS_DIR".into(), builds.display().to_string()));
    env
}

fn job_id(env: &[(String, String)]) -> String {
    env.iter()
        .find(|(k, _)| k == "CI_JOB_ID")
        .map(|(_, v)| v.clone())
        .unwrap()
}

/// What `eval "$(ci-registry-login)"` leaves in a shell: the exported variables.
fn evaluated(out: &Outcome) -> Vec<(String, String)> {
    let script = format!(
        "{}\nprintf '%s\\n' \"$DOCKER_CONFIG\" \"$REGISTRY_AUTH_FILE\"",
        out.stdout
    );
    let shell = Command::new("sh")
        .env_clear()
        .args(["-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8(shell.stdout).unwrap();
    let values: Vec<&str> = text.lines().collect();
    vec![
        ("DOCKER_CONFIG".into(), values[0].into()),
        ("REGISTRY_AUTH_FILE".into(), values[1].into()),
    ]
}

#[test]
fn a_shared_executor_job_logs_in_with_docker_into_its_own_folder() {
    let bed = TestBed::start();
    let run = ci_registry_login();
    let builds = run.path("builds");
    let env = shared_job(&bed, &builds);
    let folder = builds.join(format!("ci-registry-login-job-{}", job_id(&env)));
    let config = folder.join("config.json");
    let out = run
        .envs(env.clone())
        .arg("--push")
        .allow_secret_in(&config)
        .run()
        .expect_code(0);

    assert_eq!(
        std::fs::metadata(&folder).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let docker = out.children_named("docker");
    assert_eq!(docker.len(), 1);
    let expected = format!("DOCKER_CONFIG={}", folder.display());
    assert!(
        docker[0].env.contains(&expected),
        "docker writes the job's folder: {:?}",
        docker[0].env
    );
    assert!(config.is_file(), "docker wrote the job's config");
    assert!(
        !out.docker_config().exists(),
        "the shared ~/.docker/config.json is untouched"
    );
    assert!(
        out.said()
            .contains(&format!("stored by docker in {}", config.display())),
        "{}",
        out.said()
    );
    let exported = evaluated(&out);
    assert_eq!(
        exported[0].1,
        folder.display().to_string(),
        "{}",
        out.stdout
    );
    assert_eq!(exported[1].1, config.display().to_string());

    // The job's later commands, with what eval exported, push.
    let pushed = Skopeo::new(Credentials::DockerConfig(PathBuf::from(&exported[0].1))).push(
        &bed.registry().host_port(),
        "group/app",
        "isolated",
    );
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );

    // after_script: logout removes the folder, whatever it held.
    let out = ci_registry_login()
        .envs(env)
        .arg("logout")
        .run()
        .expect_code(0);
    assert!(!folder.exists(), "{}", out.said());
    assert_contains(out.said(), "removed the job's credentials folder");
}

#[test]
fn podman_is_given_the_folder_and_the_env_file_names_it() {
    let bed = TestBed::start();
    let run = ci_registry_login();
    let builds = run.path("builds");
    let env = shared_job(&bed, &builds);
    let folder = builds.join(format!("ci-registry-login-job-{}", job_id(&env)));
    let config = folder.join("config.json");
    let env_file = run.path("build.env");
    std::fs::write(&env_file, "VERSION=1.2\n").unwrap();
    let out = run
        .envs(env)
        .args(["--engine", "podman", "--env-file-out"])
        .arg(&env_file)
        .allow_secret_in(&config)
        .run()
        .expect_code(0);
    let podman = out.children_named("podman");
    assert_eq!(
        podman[0].argv[2..4],
        ["--authfile".to_string(), config.display().to_string()]
    );
    assert_eq!(
        std::fs::read_to_string(&env_file).unwrap(),
        format!(
            "VERSION=1.2\nDOCKER_CONFIG={}\nREGISTRY_AUTH_FILE={}\n",
            folder.display(),
            config.display()
        )
    );
    let pushed = Skopeo::new(Credentials::AuthFile(config)).push(
        &bed.registry().host_port(),
        "group/app",
        "podman-isolated",
    );
    assert!(pushed.status.success());
}

#[test]
fn a_folder_someone_else_could_enter_is_never_used() {
    let bed = TestBed::start();
    let run = ci_registry_login();
    let builds = run.path("builds");
    let env = shared_job(&bed, &builds);
    let folder = builds.join(format!("ci-registry-login-job-{}", job_id(&env)));
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = run
        .envs(env)
        .args(["--engine", "auth-file"])
        .run()
        .expect_code(2);
    assert_contains(out.said(), "is not a private folder of this user");
    assert_eq!(
        std::fs::read_dir(&folder).unwrap().count(),
        0,
        "nothing written"
    );
    assert!(out.stdout.is_empty(), "nothing to eval: {}", out.stdout);
}

#[test]
fn isolation_needs_a_job_id_and_can_be_turned_off() {
    let run = ci_registry_login();
    let out = run
        .env("REGISTRY_USER", "alice")
        .env("REGISTRY_PASSWORD", "glpat-isolate-Xe3Vn8Qw1")
        .args(["--isolate", "--no-verify", "--engine", "auth-file"])
        .args(["--registry", "127.0.0.1:5999"])
        .run()
        .expect_code(2);
    assert_contains(out.said(), "CI_JOB_ID, which is not set");

    let run = ci_registry_login();
    let config = run.home().join(".docker/config.json");
    let out = run
        .env("CI_SHARED_ENVIRONMENT", "true")
        .env("CI_JOB_ID", "77")
        .env("REGISTRY_USER", "alice")
        .env("REGISTRY_PASSWORD", "glpat-isolate-Xe3Vn8Qw1")
        .args(["--no-isolate", "--no-verify", "--engine", "auth-file"])
        .args(["--registry", "127.0.0.1:5999"])
        .allow_secret_in(&config)
        .run()
        .expect_code(0);
    assert!(config.is_file(), "{}", out.said());
    assert!(out.stdout.is_empty(), "no export without isolation");
}

#[test]
fn after_a_failed_login_the_eval_fails_too() {
    let bed = TestBed::start();
    let run = ci_registry_login();
    let builds = run.path("builds");
    let out = run
        .envs(shared_job(&bed, &builds))
        .args(["--engine", "auth-file", "--use", "deploy-token"])
        .run()
        .expect_code(3);
    let script = "set -e\neval \"$1\"\necho still running";
    let shell = Command::new("sh")
        .env_clear()
        .args(["-c", script, "sh", &out.stdout])
        .output()
        .unwrap();
    assert_eq!(shell.status.code(), Some(3), "{}", out.stdout);
    assert!(shell.stdout.is_empty(), "the job stops at the eval");
}
