//! The template, and the README's include snippet, run by the real gitlab-ci-local as
//! shell-executor jobs (no `image:`) against the test bed: the job logs in with the
//! built binary, pushes with skopeo, reports, and logs out.
//!
//! gitlab-ci-local runs through the leak-scanning runner, so nothing it or the job
//! prints or leaves behind may hold the secret. `.ci/run` installs gitlab-ci-local
//! (tests/run-all.sh); without it on PATH these tests are skipped (under `CI=true`, they fail).

use crate::support::assert_contains;

use crate::support::run::{Outcome, Run};
use crate::support::world::*;
use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// gitlab-ci-local on PATH, or `None` after saying why the test is skipped.
pub(crate) fn gitlab_ci_local(test: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .map(|dir| dir.join("gitlab-ci-local"))
        .find(|p| p.is_file());
    if found.is_none() {
        missing_part(
            test,
            "gitlab-ci-local is not on PATH (tests/run-all.sh installs it into target/tools)",
        );
    }
    found
}

pub(crate) fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A committed git project whose remote is the emulated GitLab's `group/app`, with the
/// template where a user would copy it, an OCI image layout in `image/`, and `ci` as
/// its `.gitlab-ci.yml`. Returns the project folder and the commit's short SHA.
fn project(run: &Run, bed: &TestBed, ci: &str) -> (PathBuf, String) {
    let dir = run.path("project");
    std::fs::create_dir_all(dir.join("ci-templates")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("ci-templates/registry-login.gitlab-ci.yml"),
        dir.join("ci-templates/registry-login.gitlab-ci.yml"),
    )
    .unwrap();
    std::fs::rename(oci_image(&dir), dir.join("image")).unwrap();
    std::fs::write(dir.join(".gitlab-ci.yml"), ci).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    let remote = format!("{}/group/app.git", bed.gitlab().url());
    git(&dir, &["remote", "add", "origin", &remote]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "init"]);
    let out = Command::new("git")
        .args(["rev-parse", "--short=8", "HEAD"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let sha = String::from_utf8(out.stdout).unwrap().trim().to_string();
    (dir, sha)
}

/// gitlab-ci-local with, when `installed`, the built binary on PATH (after the engines'
/// recording shims, before everything else), and skopeo allowed plain HTTP to the bed's
/// registry by the user's registries.conf, as on a laptop.
pub(crate) fn gcl_run(gcl: &Path, bed: &TestBed, installed: bool) -> Run {
    let run = Run::new(gcl.to_path_buf());
    let mut path = vec![run.path("shims")];
    if installed {
        let bin = run.path("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(crate::support::run::binary(), bin.join("ci-registry-login"))
            .unwrap();
        path.push(bin);
    }
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let registries_conf = run.home().join(".config/containers/registries.conf");
    std::fs::create_dir_all(registries_conf.parent().unwrap()).unwrap();
    std::fs::write(
        &registries_conf,
        format!(
            "[[registry]]\nlocation = \"{}\"\ninsecure = true\n",
            bed.registry().host_port()
        ),
    )
    .unwrap();
    run.env("PATH", std::env::join_paths(path).unwrap())
}

/// alice logged in with the GitLab CLI: her token in glab's config under `host`, with
/// `extra` lines for that host. The token lives only in this file: the job's variables
/// carry no secret, so every process of the job is held to the leak scan.
pub(crate) fn glab_login(run: Run, host: &str, extra: &str) -> Run {
    let config = run.home().join(".config/glab-cli/config.yml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        format!("hosts:\n  \"{host}\":\n    token: {ALICE_PAT_RW}\n    user: alice\n{extra}"),
    )
    .unwrap();
    run.secret(ALICE_PAT_RW).allow_secret_in(config)
}

/// The bed's image `group/app:tag`, pulled with alice's own login; panics if it is not there.
pub(crate) fn assert_pushed(bed: &TestBed, tag: &str) {
    let config = tempfile::tempdir().unwrap();
    let registry = bed.registry().host_port();
    let login = docker_login(config.path(), &registry, "alice", ALICE_PAT_RW);
    assert!(login.status.success());
    let pull = skopeo_pull(
        &config.path().join("config.json"),
        &registry,
        "group/app",
        tag,
    );
    assert!(
        pull.status.success(),
        "group/app:{tag} is not in the registry: {}",
        String::from_utf8_lossy(&pull.stderr)
    );
}

pub(crate) fn assert_ok(outcome: &Outcome) {
    assert!(
        outcome.status.success(),
        "gitlab-ci-local failed\n--- stdout ---\n{}\n--- stderr ---\n{}",
        outcome.stdout,
        outcome.stderr
    );
}

#[test]
fn template_job_logs_in_pushes_reports_and_logs_out_on_a_shared_executor() {
    let Some(gcl) = gitlab_ci_local("template job") else {
        return;
    };
    let bed = TestBed::start();
    let registry = bed.registry().host_port();
    let run = gcl_run(&gcl, &bed, true);
    let (project, _) = project(
        &run,
        &bed,
        "include:\n  - local: ci-templates/registry-login.gitlab-ci.yml\n\npush-image:\n  extends: .registry-login:push\n  script:\n    - echo \"isolated in $DOCKER_CONFIG.\"\n    - skopeo copy oci:image:latest \"docker://$CI_REGISTRY_IMAGE:from-template\"\n",
    );
    // The GitLab of this run (CI_SERVER_FQDN, from the git remote) is glab's host.
    let fqdn = bed.gitlab().url().trim_start_matches("http://").to_string();
    let outcome = glab_login(run, &fqdn, "")
        .args([
            // gitlab-ci-local wants it relative; the runner starts it in its own folder.
            "--cwd",
            "project",
            "--variable",
            &format!("CI_REGISTRY={registry}"),
            // A shell runner says so; the login then isolates itself in a job folder.
            "--variable",
            "CI_SHARED_ENVIRONMENT=true",
            // The binary on PATH is the version asked for: nothing is downloaded.
            "--variable",
            concat!("REGISTRY_LOGIN_VERSION=v", env!("CARGO_PKG_VERSION")),
            "--ignore-predefined-vars",
            "CI_REGISTRY",
            "push-image",
        ])
        .run();
    assert_ok(&outcome);
    // gitlab-ci-local shows the job's stderr, where the binary speaks, on its own.
    let log = &outcome.stderr;
    assert!(
        log.contains(&format!("logged in to {registry}"))
            && log.contains("using access-token from glab (user alice)")
            && log.contains("run detected as local CI emulation"),
        "{log}"
    );
    assert_pushed(&bed, "from-template");
    // The live check asked GitLab for exactly the push scope, as alice.
    let asked = bed.gitlab().requests_to("/jwt/auth");
    assert!(
        asked.iter().any(|r| r.param("account") == Some("alice")
            && r.params("scope") == ["repository:group/app:pull,push"]),
        "{asked:?}"
    );
    let report = std::fs::read_to_string(project.join("registry-login.env")).unwrap();
    for line in [
        format!("CI_REGISTRY_LOGIN_REGISTRY={registry}"),
        "CI_REGISTRY_LOGIN_REPOSITORY=group/app".into(),
        "CI_REGISTRY_LOGIN_KIND=access-token".into(),
        "CI_REGISTRY_LOGIN_GRANTED=pull,push".into(),
    ] {
        assert!(report.lines().any(|l| l == line), "{line} in\n{report}");
    }
    // The script ran with the job's private folder, which after_script removed; the
    // shared ~/.docker was never used.
    let isolated = outcome
        .stdout
        .split("isolated in ")
        .filter(|rest| rest.starts_with('/'))
        .find_map(|rest| rest.split(".\n").next())
        .unwrap_or_else(|| panic!("the script printed its DOCKER_CONFIG:\n{}", outcome.stdout));
    assert!(isolated.contains("ci-registry-login-job-"), "{isolated}");
    assert!(!Path::new(isolated).exists(), "{isolated} is left behind");
    assert!(!outcome.docker_config().exists());
}

#[test]
fn readme_include_snippet_runs_unchanged() {
    let Some(gcl) = gitlab_ci_local("README snippet") else {
        return;
    };
    let bed = TestBed::start();
    let registry = bed.registry().host_port();
    let run = gcl_run(&gcl, &bed, true);
    let (_, sha) = project(&run, &bed, &readme::include_snippet());
    // The developer's own gitlab-ci-local variables for this project's remote name the
    // registry; glab knows the registry as one of its GitLab's.
    let variables = run.home().join(".gitlab-ci-local/variables.yml");
    std::fs::create_dir_all(variables.parent().unwrap()).unwrap();
    std::fs::write(
        &variables,
        format!("project:\n  127.0.0.1/group/app.git:\n    CI_REGISTRY: \"{registry}\"\n"),
    )
    .unwrap();
    let domains = format!("    container_registry_domains: {registry}\n");
    let outcome = glab_login(run, "gitlab.example.com", &domains)
        .args(["--cwd", "project"])
        .run();
    assert_ok(&outcome);
    assert_contains(&outcome.stderr, format!("logged in to {registry}"));
    assert_pushed(&bed, &sha);
    // Logged in to the shell job's ~/.docker/config.json, and out again.
    let config = std::fs::read_to_string(outcome.docker_config()).unwrap_or_default();
    assert!(!config.contains(&registry), "{config}");
    assert!(
        outcome
            .children_named("docker")
            .iter()
            .any(|c| c.argv.contains(&"logout".to_string())),
        "after_script ran docker logout"
    );
}

/// Finding 2, under gitlab-ci-local: the template downloads over HTTPS (a loopback server
/// with the test CA), refuses a download that is not the pinned one before it is made
/// executable or run, and runs the pinned one.
#[test]
fn template_downloads_the_binary_checks_its_sha256_then_logs_in() {
    let Some(gcl) = gitlab_ci_local("template download") else {
        return;
    };
    let bed = TestBed::start();
    let registry = bed.registry().host_port();
    // What is published: a small stand-in that runs the built binary, so the download,
    // the checksum and the install are the template's own, without copying 100 MB.
    let published = tempfile::tempdir().unwrap();
    let artifact = published.path().join("ci-registry-login");
    std::fs::write(
        &artifact,
        format!(
            "#!/bin/sh\nexec '{}' \"$@\"\n",
            crate::support::run::binary().display()
        ),
    )
    .unwrap();
    let published = std::fs::read(&artifact).unwrap();
    let sha256 = https::sha256_hex(&published);
    let server = https::FileServer::start(
        [(
            "/ci-registry-login".to_string(),
            https::Answer::File(published),
        )]
        .into(),
    );
    let url = server.url("/ci-registry-login");
    let ca = fixture("test-ca.crt");
    let fqdn = bed.gitlab().url().trim_start_matches("http://").to_string();
    let job = "include:\n  - local: ci-templates/registry-login.gitlab-ci.yml\n\ncheck:\n  extends: .registry-login:pull\n  script:\n    - echo \"installed at $(command -v ci-registry-login).\"\n";
    let attempt = |checksum: &str| {
        let run = gcl_run(&gcl, &bed, false);
        project(&run, &bed, job);
        glab_login(run, &fqdn, "")
            .args([
                "--cwd",
                "project",
                "--variable",
                &format!("CI_REGISTRY={registry}"),
            ])
            .args(["--variable", &format!("REGISTRY_LOGIN_DOWNLOAD_URL={url}")])
            .args(["--variable", &format!("REGISTRY_LOGIN_SHA256={checksum}")])
            .args(["--variable", &format!("CURL_CA_BUNDLE={}", ca.display())])
            .args(["--ignore-predefined-vars", "CI_REGISTRY", "check"])
            .run()
    };

    // A download that is not the one pinned is never run.
    let tampered = attempt(&"0".repeat(64));
    assert!(!tampered.status.success());
    let log = format!("{}{}", tampered.stdout, tampered.stderr);
    assert!(
        log.contains(&format!(
            "download refused: expected sha256 {}, got sha256 {sha256}",
            "0".repeat(64)
        )),
        "{log}"
    );
    assert!(bed.gitlab().requests().is_empty(), "nothing logged in");

    let out = attempt(&sha256);
    assert_ok(&out);
    assert_contains(&out.stderr, format!("logged in to {registry}"));
    let installed = out
        .stdout
        .split("installed at ")
        .filter(|rest| rest.starts_with('/'))
        .find_map(|rest| rest.split(".\n").next())
        .unwrap_or_else(|| panic!("{}", out.stdout));
    let job_folder = Path::new(installed).parent().unwrap();
    assert!(
        job_folder.starts_with(out.home().join(".cache"))
            && installed.ends_with("/ci-registry-login"),
        "downloaded into a folder of the job under ~/.cache: {installed}"
    );
    assert!(!job_folder.exists(), "after_script removed {installed}");
}
