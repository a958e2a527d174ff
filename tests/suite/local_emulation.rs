//! End to end, issue 7: runs outside a GitLab job. Under gitlab-ci-local and on a
//! laptop the output names the mode, no job-token rule is assumed, and the credential
//! comes from a developer's own stores: gitlab-ci-local's `~/.gitlab-ci-local/variables.yml`
//! (matched against the git remote), the GitLab CLI's config, an earlier docker login.
//! Every run is leak-scanned: none of those secrets may be printed.

use crate::support::assert_contains;

use crate::support::TestBed;
use crate::support::run::{Run, ci_registry_login};
use crate::support::world::*;
use std::path::Path;

/// A laptop: no CI variables at all, the working folder a clone of `group/app` whose
/// remote is the bed's GitLab.
fn laptop(bed: &TestBed) -> Run {
    let run = ci_registry_login();
    let git = run.path(".git");
    std::fs::create_dir_all(&git).unwrap();
    std::fs::write(
        git.join("config"),
        format!(
            "[core]\n\tbare = false\n[remote \"origin\"]\n\turl = {}/group/app.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n",
            bed.gitlab().url()
        ),
    )
    .unwrap();
    run
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn gitlab_ci_local_placeholder_registry_is_refused_with_a_hint() {
    let bed = TestBed::start();
    let out = ci_registry_login()
        .envs(bed.gitlab_ci_local_env("group/app", false))
        .env("REGISTRY_USER", "alice")
        .env("REGISTRY_PASSWORD", ALICE_PAT_RW)
        .args(["login", "--push", "--engine", "auth-file"])
        .run()
        .expect_code(2);
    let said = out.said();
    assert!(
        said.contains("local-registry.127.0.0.1 is not a real registry"),
        "{said}"
    );
    assert!(said.contains("hint: set CI_REGISTRY"), "{said}");
    assert!(!out.docker_config().exists(), "nothing was written");
    assert!(bed.gitlab().requests().is_empty(), "nothing was asked");
}

/// A gitlab-ci-local shell job whose variables file set `CI_REGISTRY` to the bed's
/// registry (gitlab-ci-local derives `CI_REGISTRY_IMAGE` from it), with the developer's
/// token in a variables file of the dotenv form handed to the binary.
fn gitlab_ci_local_job(bed: &TestBed, run: Run) -> (Run, std::path::PathBuf) {
    let registry = bed.registry().host_port();
    let mut env = bed.gitlab_ci_local_env("group/app", false);
    for (name, value) in &mut env {
        match name.as_str() {
            "CI_REGISTRY" => *value = registry.clone(),
            "CI_REGISTRY_IMAGE" => *value = format!("{registry}/group/app"),
            _ => {}
        }
    }
    let variables = run.path("gcl.env");
    write(
        &variables,
        &format!("# local\nREGISTRY_USER=alice\nexport REGISTRY_PASSWORD=\"{ALICE_PAT_RW}\"\n"),
    );
    let run = run
        .envs(env)
        .allow_secret_in(&variables)
        .secret(ALICE_PAT_RW)
        .arg("--variables-file")
        .arg(&variables);
    (run, variables)
}

#[test]
fn gitlab_ci_local_job_logs_in_with_the_variables_file_without_job_token_rules() {
    let bed = TestBed::start();
    let (run, _) = gitlab_ci_local_job(&bed, ci_registry_login());
    let plan = run.args(["plan", "--push"]).run().expect_code(0);
    assert!(
        plan.stdout
            .contains("mode:       local CI emulation (gitlab-ci-local): no job token semantics"),
        "{}",
        plan.stdout
    );
    let row = plan
        .stdout
        .lines()
        .find(|l| l.starts_with("access-token"))
        .unwrap_or_else(|| panic!("{}", plan.stdout));
    assert!(
        row.contains("REGISTRY_PASSWORD") && row.contains("alice"),
        "{row}"
    );

    let (run, _) = gitlab_ci_local_job(&bed, ci_registry_login());
    let auth_file = run.home().join(".docker/config.json");
    let out = run
        .allow_secret_in(&auth_file)
        .args(["login", "--push", "--engine", "auth-file"])
        .run()
        .expect_code(0);
    assert!(
        out.said()
            .contains("run detected as local CI emulation (gitlab-ci-local)"),
        "{}",
        out.said()
    );
    bed.assert_pushes(&auth_file, "gcl-variables");
}

#[test]
fn laptop_reads_gitlab_ci_local_home_variables_for_its_remote() {
    let bed = TestBed::start();
    let registry = bed.registry().host_port();
    let run = laptop(&bed);
    // Another project's section and the global one lose to this project's.
    let variables = run.home().join(".gitlab-ci-local/variables.yml");
    write(
        &variables,
        &format!(
            "global:\n  REGISTRY_USER: nobody\n  REGISTRY_PASSWORD: not-this-one\nproject:\n  127.0.0.1/other/app.git:\n    REGISTRY_PASSWORD: {ALICE_PAT_RO}\n  127.0.0.1/group/app.git:\n    CI_REGISTRY: \"{registry}\"\n    REGISTRY_USER: alice\n    REGISTRY_PASSWORD: {ALICE_PAT_RW}\n"
        ),
    );
    let auth_file = run.home().join(".docker/config.json");
    let out = run
        .allow_secret_in(&variables)
        .allow_secret_in(&auth_file)
        .secret(ALICE_PAT_RO)
        .args([
            "login",
            "--push",
            "--repository",
            "group/app",
            "--engine",
            "auth-file",
        ])
        .run()
        .expect_code(0);
    let said = out.said();
    assert!(said.contains(&format!("logged in to {registry}")), "{said}");
    assert!(said.contains("(user alice)"), "{said}");
    assert!(said.contains("run detected as not in CI"), "{said}");
    bed.assert_pushes(&auth_file, "home-variables");
}

#[test]
fn laptop_uses_the_gitlab_cli_token_for_the_registrys_gitlab() {
    let bed = TestBed::start();
    let registry = bed.registry().host_port();
    let run = ci_registry_login();
    let glab = run.path("glab/config.yml");
    write(
        &glab,
        &format!(
            "git_protocol: ssh\nhosts:\n  gitlab.example.com:\n    token: {ALICE_PAT_RW}\n    user: alice\n    container_registry_domains: gitlab.example.com,{registry}\n"
        ),
    );
    let glab_dir = run.path("glab");
    let plan = run
        .env("GLAB_CONFIG_DIR", glab_dir)
        .allow_secret_in(&glab)
        .secret(ALICE_PAT_RW)
        .args([
            "plan",
            "--push",
            "--registry",
            &registry,
            "--repository",
            "group/app",
        ])
        .run()
        .expect_code(0);
    let row = plan
        .stdout
        .lines()
        .find(|l| l.starts_with("access-token"))
        .unwrap_or_else(|| panic!("{}", plan.stdout));
    assert!(
        row.contains("glab") && row.contains("alice") && row.contains("chosen"),
        "{row}"
    );
    assert_contains(&plan.stdout, "mode:       not in CI");
    assert!(
        plan.stdout
            .contains("the GitLab CLI's token, from host gitlab.example.com")
    );

    let run = ci_registry_login();
    let glab = run.path("glab/config.yml");
    write(
        &glab,
        &format!(
            "hosts:\n  gitlab.example.com:\n    token: {ALICE_PAT_RW}\n    user: alice\n    container_registry_domains: {registry}\n"
        ),
    );
    let auth_file = run.path("auth.json");
    let glab_dir = run.path("glab");
    // The outcome owns the run's folder, and with it the auth file.
    let _out = run
        .env("GLAB_CONFIG_DIR", glab_dir)
        .allow_secret_in(&glab)
        .allow_secret_in(&auth_file)
        .args([
            "login",
            "--push",
            "--registry",
            &registry,
            "--repository",
            "group/app",
        ])
        .args(["--engine", "auth-file", "--auth-file"])
        .arg(&auth_file)
        .run()
        .expect_code(0);
    bed.assert_pushes(&auth_file, "glab");
}

#[test]
fn an_earlier_docker_login_is_the_last_resort_and_never_shown() {
    let bed = TestBed::start();
    let registry = bed.registry().host_port();
    let run = ci_registry_login();
    let docker_config = run.home().join(".docker/config.json");
    // An earlier `docker login` with the read-write deploy token, as docker writes it.
    let seeded = crate::support::docker_login(
        docker_config.parent().unwrap(),
        &registry,
        DEPLOY_RW_USER,
        DEPLOY_RW_TOKEN,
    );
    assert!(seeded.status.success());
    // An explicit read-only token is offered too: it ranks first although a deploy
    // token's kind ranks above an access token's, and the live check passes it over.
    let out = run
        .env("REGISTRY_PASSWORD", ALICE_PAT_RO)
        .secret(DEPLOY_RW_TOKEN)
        .allow_secret_in(&docker_config)
        .args([
            "check",
            "--push",
            "--registry",
            &registry,
            "--repository",
            "group/app",
        ])
        .run()
        .expect_code(0);
    let rows: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("KIND"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(rows.len(), 2, "{}", out.stdout);
    assert!(
        rows[0].starts_with("access-token") && rows[0].contains("not used"),
        "{rows:?}"
    );
    assert!(
        rows[1].starts_with("deploy-token")
            && rows[1].contains("docker-config")
            && rows[1].contains(DEPLOY_RW_USER)
            && rows[1].contains("chosen"),
        "{rows:?}"
    );
    assert_contains(&out.stdout, "an earlier docker login");
}

#[test]
fn no_credential_on_a_laptop_says_where_to_put_one() {
    let out = ci_registry_login()
        .args([
            "login",
            "--registry",
            "127.0.0.1:9",
            "--engine",
            "auth-file",
        ])
        .run()
        .expect_code(3);
    let said = out.said();
    assert!(said.contains("no credentials found (not in CI)"), "{said}");
    assert!(said.contains("glab auth login"), "{said}");
}
