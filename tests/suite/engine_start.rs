//! Issue 3: with a program as engine, the tool starts while the live check runs and
//! waits for the secret on its stdin, so its start-up costs no time. It gets the secret
//! only after the check, and only if the check kept the credential it was started for;
//! otherwise it is killed and the right one started. Every run is leak-scanned.

use crate::support::run::{Outcome, ci_registry_login};
use crate::support::world::*;
use crate::support::{LoggedRequest, TestBed};
use base64::Engine as _;

/// The token requests docker made itself (ours carry no `client_id`).
fn dockers_requests(bed: &TestBed) -> Vec<LoggedRequest> {
    bed.gitlab()
        .requests_to("/jwt/auth")
        .into_iter()
        .filter(|r| r.param("client_id") == Some("docker"))
        .collect()
}

/// A job whose token no longer works (its job has finished).
fn finished_job(bed: &TestBed) -> Vec<(String, String)> {
    bed.ci_job_env("group/app")
        .into_iter()
        .map(|(k, v)| {
            if v == JOB_APP_TOKEN {
                (k, JOB_APP_FINISHED_TOKEN.to_string())
            } else {
                (k, v)
            }
        })
        .collect()
}

fn docker_users(out: &Outcome) -> Vec<String> {
    out.children_named("docker")
        .iter()
        .map(|c| {
            let at = c.argv.iter().position(|a| a == "--username").unwrap();
            c.argv[at + 1].clone()
        })
        .collect()
}

fn stored_user(out: &Outcome, registry: &str) -> String {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.docker_config()).unwrap()).unwrap();
    let auth = json["auths"][registry]["auth"].as_str().unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .unwrap();
    let text = String::from_utf8(decoded).unwrap();
    text.split(':').next().unwrap().to_string()
}

#[test]
fn the_started_docker_gets_the_secret_only_after_the_check() {
    let bed = TestBed::start();
    let run = ci_registry_login()
        .envs(bed.ci_job_env("group/app"))
        .args(["--engine", "docker"]);
    let config = run.home().join(".docker/config.json");
    let out = run.allow_secret_in(config).run().expect_code(0);
    assert_eq!(docker_users(&out), ["gitlab-ci-token"], "docker ran once");
    // Our check came first; docker's own request only once it had the secret.
    let requests = bed.gitlab().requests_to("/jwt/auth");
    let order: Vec<Option<&str>> = requests.iter().map(|r| r.param("client_id")).collect();
    assert_eq!(order, [None, Some("docker")], "{requests:?}");
    assert_eq!(
        stored_user(&out, &bed.registry().host_port()),
        "gitlab-ci-token"
    );
}

#[test]
fn a_check_that_changes_the_choice_kills_the_started_docker_unfed() {
    let bed = TestBed::start();
    // The project's deploy token works; the job's token does not.
    let env = finished_job(&bed);
    let run = ci_registry_login()
        .envs(env)
        .env("CI_DEPLOY_USER", DEPLOY_RO_USER)
        .env("CI_DEPLOY_PASSWORD", DEPLOY_RO_TOKEN)
        .args(["--engine", "docker"]);
    let config = run.home().join(".docker/config.json");
    let out = run.allow_secret_in(config).run().expect_code(0);
    // Started for the offline choice, then for the checked one (the shims' records
    // are not in order).
    let mut users = docker_users(&out);
    users.sort();
    assert_eq!(users, [DEPLOY_RO_USER, "gitlab-ci-token"]);
    let asked = dockers_requests(&bed);
    let accounts: Vec<Option<&str>> = asked.iter().map(|r| r.param("account")).collect();
    assert_eq!(
        accounts,
        [Some(DEPLOY_RO_USER)],
        "the first docker never logged in"
    );
    assert_eq!(
        stored_user(&out, &bed.registry().host_port()),
        DEPLOY_RO_USER
    );
}

#[test]
fn a_check_that_rejects_everything_kills_the_started_docker_unfed() {
    let bed = TestBed::start();
    let env = finished_job(&bed);
    let out = ci_registry_login()
        .envs(env)
        .args(["--engine", "docker"])
        .run()
        .expect_code(4);
    assert_eq!(
        docker_users(&out),
        ["gitlab-ci-token"],
        "started, then killed"
    );
    assert!(dockers_requests(&bed).is_empty(), "docker never logged in");
    assert!(!out.docker_config().exists(), "nothing was stored");
}
