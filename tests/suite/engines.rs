//! End to end, issue 5: the podman, buildah and skopeo engines log a job in to the real
//! registry (and skopeo pushes with what they stored), nerdctl's argv/stdin contract is
//! checked against a recording stand-in (Debian does not package it), and `auto` picks
//! the first builder on PATH. Every run is leak-scanned.

use crate::support::assert_contains;

use crate::support::TestBed;
use crate::support::run::{Child, Outcome, Run, ci_registry_login};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn argv_of<'a>(out: &'a Outcome, program: &str) -> &'a [String] {
    let children: Vec<&Child> = out.children_named(program);
    assert_eq!(children.len(), 1, "{program} runs once: {:?}", out.children);
    &children[0].argv
}

/// A containers/image tool logs in for a push, keeping to its own default file.
fn containers_tool_stores_in_its_auth_json(engine: &str) {
    let bed = TestBed::start();
    let (run, auth_json) = ci_registry_login()
        .envs(bed.ci_job_env("group/app"))
        .with_runtime_dir();
    let out = run
        .args(["--push", "--engine", engine])
        .allow_secret_in(&auth_json)
        .run()
        .expect_code(0);
    let argv = argv_of(&out, engine);
    let registry = bed.registry().host_port();
    assert_eq!(
        argv[1..],
        [
            "login",
            "--tls-verify=false",
            "--username",
            "gitlab-ci-token",
            "--password-stdin",
            registry.as_str()
        ],
        "plain HTTP registry: the tool's own switch"
    );
    assert!(
        out.said()
            .contains(&format!("stored by {engine} in {}", auth_json.display())),
        "{}",
        out.said()
    );
    assert!(!out.docker_config().exists(), "docker's config untouched");
    bed.assert_pushes(&auth_json, engine);
}

#[test]
fn podman_logs_in_and_its_auth_json_pushes() {
    containers_tool_stores_in_its_auth_json("podman");
}

#[test]
fn buildah_logs_in_and_its_auth_json_pushes() {
    containers_tool_stores_in_its_auth_json("buildah");
}

#[test]
fn skopeo_logs_in_and_its_auth_json_pushes() {
    containers_tool_stores_in_its_auth_json("skopeo");
}

#[test]
fn an_auth_file_asked_for_is_passed_as_authfile_and_reported() {
    let bed = TestBed::start();
    let run = ci_registry_login().envs(bed.ci_job_env("group/app"));
    let file = run.path("job-auth.json");
    let out = run
        .args(["--push", "--engine", "podman", "--auth-file"])
        .arg(&file)
        .allow_secret_in(&file)
        .run()
        .expect_code(0);
    let argv = argv_of(&out, "podman");
    assert_eq!(
        argv[2..4],
        ["--authfile".to_string(), file.display().to_string()]
    );
    assert!(
        out.said()
            .contains(&format!("stored by podman in {}", file.display())),
        "{}",
        out.said()
    );
    bed.assert_pushes(&file, "authfile");
    let logout = ci_registry_login()
        .envs(bed.ci_job_env("group/app"))
        .args(["logout", "--engine", "podman", "--auth-file"])
        .arg(&file)
        .allow_secret_in(&file)
        .run()
        .expect_code(0);
    assert_contains(logout.said(), "removed the credentials");
    let left = std::fs::read_to_string(&file).unwrap();
    assert!(!left.contains(&bed.registry().host_port()), "{left}");
}

#[test]
fn a_refused_credential_is_the_tools_refusal_with_exit_4() {
    let bed = TestBed::start();
    let (run, auth_json) = ci_registry_login().with_runtime_dir();
    let out = run
        .envs(bed.ci_job_env("group/app"))
        .env("CI_JOB_TOKEN", "glcbt-64_not-a-running-job-Wq3Zx8")
        .env("CI_REGISTRY_PASSWORD", "glcbt-64_not-a-running-job-Wq3Zx8")
        .args(["--no-verify", "--engine", "podman"])
        .run()
        .expect_code(4);
    assert_contains(out.said(), "podman login was refused");
    assert!(!auth_json.exists());
}

/// A stand-in for a program that is not installed here: it records its argv, its
/// environment and what it read on stdin, and succeeds.
fn recording_stand_in(dir: &Path, program: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let script = dir.join(program);
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nrec='{rec}/{program}'\nprintf '%s\\n' \"$@\" > \"$rec.argv\"\n/usr/bin/env > \"$rec.env\"\n/usr/bin/cat > \"$rec.stdin\"\necho 'Login Succeeded'\n",
            rec = dir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// PATH with `first` in front of the run's shims and the system's folders.
fn path_with(run: &Run, first: &Path) -> String {
    format!(
        "{}:{}:{}",
        first.display(),
        run.path("shims").display(),
        std::env::var("PATH").unwrap()
    )
}

fn read_lines(path: PathBuf) -> Vec<String> {
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn nerdctl_gets_the_secret_on_stdin_and_its_insecure_switch_first() {
    for (registry, extra, insecure) in [
        ("127.0.0.1:5999", None, true),
        ("registry.example.com", None, false),
        ("registry.example.com", Some("--insecure"), true),
    ] {
        let run = ci_registry_login();
        let fake = run.path("fake-bin");
        recording_stand_in(&fake, "nerdctl");
        let path = path_with(&run, &fake);
        let out = run
            .env("PATH", path)
            .env("REGISTRY_USER", "alice")
            .env("REGISTRY_PASSWORD", "glpat-nerdctl-Hq2Lw7Rt4Yx9")
            .args(["--no-verify", "--engine", "nerdctl", "--registry", registry])
            .args(extra)
            .allow_secret_in(fake.join("nerdctl.stdin"))
            .run()
            .expect_code(0);
        let mut expected = vec![];
        if insecure {
            expected.push("--insecure-registry");
        }
        expected.extend(["login", "--username", "alice", "--password-stdin", registry]);
        assert_eq!(
            read_lines(fake.join("nerdctl.argv")),
            expected,
            "{registry}"
        );
        assert_eq!(
            std::fs::read_to_string(fake.join("nerdctl.stdin")).unwrap(),
            "glpat-nerdctl-Hq2Lw7Rt4Yx9",
            "the secret, on stdin, without a newline"
        );
        // The leak scan has read nerdctl.env: no secret in its environment.
        assert_contains(out.said(), "stored by nerdctl");
    }
}

#[test]
fn nerdctl_and_docker_get_the_asked_folder_as_docker_config() {
    let run = ci_registry_login();
    let fake = run.path("fake-bin");
    recording_stand_in(&fake, "nerdctl");
    let path = path_with(&run, &fake);
    let config = run.path("job-config/config.json");
    let out = run
        .env("PATH", path)
        .env("REGISTRY_USER", "alice")
        .env("REGISTRY_PASSWORD", "glpat-nerdctl-Hq2Lw7Rt4Yx9")
        .args([
            "--no-verify",
            "--engine",
            "nerdctl",
            "--registry",
            "127.0.0.1:5999",
        ])
        .arg("--auth-file")
        .arg(&config)
        .allow_secret_in(fake.join("nerdctl.stdin"))
        .run()
        .expect_code(0);
    let env = read_lines(out.path("fake-bin/nerdctl.env"));
    let expected = format!("DOCKER_CONFIG={}", config.parent().unwrap().display());
    assert!(env.contains(&expected), "{env:?}");

    // docker has no switch naming a file: anything but config.json cannot be honoured.
    let run = ci_registry_login();
    let auth_json = run.path("auth.json");
    let out = run
        .env("REGISTRY_USER", "alice")
        .env("REGISTRY_PASSWORD", "glpat-nerdctl-Hq2Lw7Rt4Yx9")
        .args([
            "--no-verify",
            "--engine",
            "docker",
            "--registry",
            "127.0.0.1:5999",
        ])
        .arg("--auth-file")
        .arg(&auth_json)
        .run()
        .expect_code(6);
    assert_contains(out.said(), "must name a file called config.json");
    assert!(out.children.is_empty(), "docker never ran");
}

#[test]
fn auto_takes_the_first_builder_on_path_else_writes_the_auth_file() {
    // Only stand-ins on PATH: no docker, no podman.
    let run = ci_registry_login();
    let fake = run.path("fake-bin");
    recording_stand_in(&fake, "nerdctl");
    recording_stand_in(&fake, "buildah");
    let out = run
        .env("PATH", &fake)
        .env("REGISTRY_USER", "alice")
        .env("REGISTRY_PASSWORD", "glpat-auto-Vb6Nm1Qs8Kd3")
        .args(["--no-verify", "--registry", "127.0.0.1:5999"])
        .allow_secret_in(fake.join("buildah.stdin"))
        .run()
        .expect_code(0);
    assert_contains(out.said(), "stored by buildah");
    assert!(out.path("fake-bin/buildah.argv").exists());
    assert!(
        !out.path("fake-bin/nerdctl.argv").exists(),
        "buildah comes first"
    );

    let run = ci_registry_login();
    let config = run.home().join(".docker/config.json");
    let out = run
        .env("PATH", "/nonexistent")
        .env("REGISTRY_USER", "alice")
        .env("REGISTRY_PASSWORD", "glpat-auto-Vb6Nm1Qs8Kd3")
        .args(["--no-verify", "--registry", "127.0.0.1:5999"])
        .allow_secret_in(&config)
        .run()
        .expect_code(0);
    assert!(
        out.said()
            .contains(&format!("stored by auth-file in {}", config.display())),
        "{}",
        out.said()
    );
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(written.contains("127.0.0.1:5999"), "{written}");
}
