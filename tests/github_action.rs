//! End to end, issue 7: `action.yml`'s composite step, run as GitHub Actions runs it
//! (bash, the step's `env:` filled from the inputs, `$GITHUB_OUTPUT`, `$RUNNER_TEMP`)
//! against the test bed: it logs in with the password kept to the environment, sets its
//! outputs from the report, and logs out. The runs are leak-scanned like every other.

mod support;

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use support::run::{Outcome, Run};
use support::world::*;
use support::{Credentials, Skopeo, TestBed};

fn action() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("action.yml");
    let text = std::fs::read_to_string(path).unwrap();
    Value::deserialize(serde_yaml::Deserializer::from_str(&text)).unwrap()
}

/// Runs the action's step with `inputs` (the others at their defaults), the way the
/// runner does: each `env:` entry of the step is `${{ inputs.NAME }}` filled in.
/// `prepare` readies the run (files it may hold secrets in, a seeded HOME).
fn run_action(inputs: &[(&str, &str)], prepare: impl FnOnce(Run) -> Run) -> Outcome {
    let action = action();
    let step = &action["runs"]["steps"][0];
    assert_eq!(step["shell"], "bash");
    let given: BTreeMap<&str, &str> = inputs.iter().copied().collect();
    let run = Run::new(PathBuf::from("/bin/bash"));
    let bin = run.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(support::run::binary(), bin.join("ci-registry-login")).unwrap();
    let mut path = vec![run.path("shims"), bin];
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let (temp, output) = (run.path("tmp"), run.path("github-output"));
    let mut run = prepare(run)
        .env("PATH", std::env::join_paths(path).unwrap())
        .env("CI", "true")
        .env("GITHUB_ACTIONS", "true")
        .env("RUNNER_TEMP", temp)
        .env("GITHUB_OUTPUT", output);
    for (name, value) in step["env"].as_object().unwrap() {
        let input = value
            .as_str()
            .and_then(|v| v.strip_prefix("${{ inputs."))
            .and_then(|v| v.strip_suffix(" }}"))
            .unwrap_or_else(|| panic!("env {name} is an input: {value}"));
        let value = given.get(input).map_or_else(
            || {
                action["inputs"][input]["default"]
                    .as_str()
                    .unwrap()
                    .to_string()
            },
            |v| v.to_string(),
        );
        run = run.env(name, value);
    }
    run.args(["-c", step["run"].as_str().unwrap()]).run()
}

fn outputs(out: &Outcome) -> BTreeMap<String, String> {
    std::fs::read_to_string(out.path("github-output"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn logs_in_with_the_password_in_the_environment_and_sets_outputs() {
    let bed = TestBed::start();
    let registry = bed.registry().host_port();
    let inputs = [
        ("registry", registry.as_str()),
        ("repository", "group/app"),
        ("intent", "push"),
        ("username", "alice"),
        ("password", ALICE_PAT_RW),
        ("engine", "auth-file"),
    ];
    // By design the login, and it alone, gets the secret in its environment: argv,
    // output and files are scanned, environments are not.
    let out = run_action(&inputs, |run| {
        let auth_file = run.home().join(".docker/config.json");
        run.allow_secret_in(auth_file).in_job_environment()
    });
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let outputs = outputs(&out);
    assert_eq!(outputs["credential-kind"], "access-token");
    assert_eq!(outputs["granted"], "pull,push");
    assert_eq!(outputs["token-lifetime"], "300");
    let stored = Skopeo::new(Credentials::AuthFile(out.docker_config()));
    assert!(
        stored
            .push(&registry, "group/app", "action")
            .status
            .success()
    );
    // The report was a temporary file, removed when the step ended.
    assert_eq!(std::fs::read_dir(out.path("tmp")).unwrap().count(), 0);
}

#[test]
fn logout_input_removes_the_login() {
    let bed = TestBed::start();
    let registry = bed.registry().host_port();
    let inputs = [
        ("registry", registry.as_str()),
        ("engine", "auth-file"),
        ("logout", "true"),
    ];
    let out = run_action(&inputs, |run| {
        // What the login step left: an entry for the registry (its value is no secret here).
        let config = run.home().join(".docker/config.json");
        std::fs::create_dir_all(config.parent().unwrap()).unwrap();
        std::fs::write(
            &config,
            format!(r#"{{"auths":{{"{registry}":{{"auth":"dXNlcjpub3Rfc2VjcmV0"}},"other.example.com":{{"auth":"eDp5"}}}}}}"#),
        )
        .unwrap();
        run
    });
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("removed the credentials for {registry}")),
        "{}",
        out.stderr
    );
    let config = std::fs::read_to_string(out.docker_config()).unwrap();
    assert!(
        !config.contains(&registry) && config.contains("other.example.com"),
        "{config}"
    );
}

#[test]
fn refuses_an_unknown_intent_before_logging_in() {
    let bed = TestBed::start();
    let registry = bed.registry().host_port();
    let inputs = [
        ("registry", registry.as_str()),
        ("intent", "publish"),
        ("password", ALICE_PAT_RW),
    ];
    let out = run_action(&inputs, |run| run);
    assert_eq!(out.code(), 2);
    assert!(
        out.stdout
            .contains("::error::the intent input must be pull or push"),
        "{}",
        out.stdout
    );
    assert!(bed.gitlab().requests().is_empty());
}
