//! End to end, issue 7: `action.yml`'s composite step, run as GitHub Actions runs it
//! (bash, the step's `env:` filled from the inputs, `$GITHUB_OUTPUT`, `$RUNNER_TEMP`)
//! against the test bed: it logs in with the password kept to the environment, sets its
//! outputs from the report, and logs out. The runs are leak-scanned like every other.

use crate::support::assert_contains;
use crate::support::https::{Answer, FileServer, sha256_hex};
use crate::support::run::{Outcome, Run};
use crate::support::world::*;
use crate::support::{Credentials, Skopeo, TestBed};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn action() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("action.yml");
    let text = std::fs::read_to_string(path).unwrap();
    Value::deserialize(serde_yaml::Deserializer::from_str(&text)).unwrap()
}

/// Runs the action's step with `inputs` (the others at their defaults), the way the
/// runner does: each `env:` entry of the step is `${{ inputs.NAME }}` filled in.
/// `prepare` readies the run (files it may hold secrets in, a seeded HOME).
fn run_action(inputs: &[(&str, &str)], prepare: impl FnOnce(Run) -> Run) -> Outcome {
    run_action_with(inputs, true, prepare)
}

/// [`run_action`], with the built binary on PATH only when `installed`; without it, PATH
/// is the shims and the system's folders, where there is no ci-registry-login.
fn run_action_with(
    inputs: &[(&str, &str)],
    installed: bool,
    prepare: impl FnOnce(Run) -> Run,
) -> Outcome {
    let action = action();
    let step = &action["runs"]["steps"][0];
    assert_eq!(step["shell"], "bash");
    let given: BTreeMap<&str, &str> = inputs.iter().copied().collect();
    let run = Run::new(PathBuf::from("/bin/bash"));
    let mut path = vec![run.path("shims")];
    if installed {
        let bin = run.path("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(crate::support::run::binary(), bin.join("ci-registry-login"))
            .unwrap();
        path.push(bin);
        path.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
    } else {
        path.extend(std::env::split_paths(SYSTEM_PATH));
        assert!(
            path.iter()
                .all(|dir| !dir.join("ci-registry-login").exists()),
            "ci-registry-login is installed: the download tests need it absent"
        );
    }
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

/// The system's tools, without ci-registry-login among them.
const SYSTEM_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

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

/// A stand-in for the published binary that records its arguments in `ran` of `run`'s
/// folder and prints nothing; the step then reads an empty report.
fn stand_in(ran: &std::path::Path) -> Vec<u8> {
    format!(
        "#!/bin/sh\necho \"stand-in ran: $*\" > '{}'\n",
        ran.display()
    )
    .into_bytes()
}

/// Runs the action with no binary on PATH and `inputs` (plus `download-url` set to
/// `path` on an HTTPS server publishing the stand-in at `/genuine`, a tampered copy at
/// `/tampered`, and a redirect to plain HTTP at `/moved`). Returns the outcome, the
/// paths the server was asked for, and what the stand-in recorded, if it ran.
fn download(path: &str, inputs: &[(&str, &str)]) -> (Outcome, Vec<String>, Option<String>) {
    let ran_dir = tempfile::tempdir().unwrap();
    let ran = ran_dir.path().join("ran");
    let genuine = stand_in(&ran);
    let mut tampered = genuine.clone();
    tampered.extend_from_slice(b"echo stolen\n");
    let server = FileServer::start(
        [
            ("/genuine".to_string(), Answer::File(genuine.clone())),
            ("/tampered".to_string(), Answer::File(tampered)),
            (
                "/moved".to_string(),
                Answer::Redirect("http://127.0.0.1:9/genuine".to_string()),
            ),
        ]
        .into(),
    );
    let sha256 = sha256_hex(&genuine);
    let url = server.url(path);
    let mut given = vec![("download-url", url.as_str())];
    for (name, value) in inputs {
        given.push((name, if *value == "GENUINE" { &sha256 } else { value }));
    }
    let out = run_action_with(&given, false, |run| {
        run.env("CURL_CA_BUNDLE", crate::support::fixture("test-ca.crt"))
    });
    let recorded = std::fs::read_to_string(&ran).ok();
    (out, server.requests(), recorded)
}

/// Every file under the action's install folder that anyone could execute.
fn executables(out: &Outcome) -> Vec<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(entries) = std::fs::read_dir(out.path("tmp").join("ci-registry-login")) else {
        return Vec::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.metadata().unwrap().permissions().mode() & 0o111 != 0)
        .collect()
}

/// Finding 2: without the sha256 input the download is refused before it is fetched and
/// nothing runs; insecure-download: true runs it, with a warning.
#[test]
fn download_without_sha256_is_refused_unless_waived() {
    // A version the action pins no checksum for.
    let (out, asked, ran) = download("/genuine", &[("version", "9.9.9")]);
    assert_eq!(out.code(), 1, "{}", out.stderr);
    assert_contains(
        &out.stdout,
        "::error::ci-registry-login download refused: no SHA-256 is pinned for version 9.9.9 (x86_64): set the sha256 input",
    );
    assert!(asked.is_empty(), "{asked:?}");
    assert_eq!(ran, None);
    assert!(executables(&out).is_empty());

    let (out, asked, ran) = download(
        "/genuine",
        &[("version", "9.9.9"), ("insecure-download", "true")],
    );
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_contains(
        &out.stdout,
        "::warning::insecure-download is true: the ci-registry-login download is run without a SHA-256 check",
    );
    assert_eq!(asked, ["/genuine"]);
    assert_contains(ran.unwrap(), "stand-in ran: login --pull");
}

/// Finding 2: a tampered download is refused with one line naming both checksums and
/// the input to fix, and left nowhere executable; the pinned one runs.
#[test]
fn download_runs_only_with_the_pinned_sha256() {
    let (out, _, ran) = download("/tampered", &[("sha256", "GENUINE")]);
    assert_eq!(out.code(), 1, "{}", out.stderr);
    let refusal: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains("refused"))
        .collect();
    assert_eq!(refusal.len(), 1, "{}", out.stdout);
    assert!(
        refusal[0].starts_with("::error::ci-registry-login download refused: expected sha256 ")
            && refusal[0].ends_with("; nothing was run (fix the sha256 input or the URL)"),
        "{}",
        refusal[0]
    );
    assert_eq!(ran, None);
    assert!(executables(&out).is_empty(), "{:?}", executables(&out));
    assert_eq!(
        std::fs::read_dir(out.path("tmp").join("ci-registry-login"))
            .unwrap()
            .count(),
        0,
        "the download was removed"
    );

    let (out, _, ran) = download("/genuine", &[("sha256", "GENUINE")]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(!out.stdout.contains("::warning::"), "{}", out.stdout);
    assert_contains(ran.unwrap(), "stand-in ran: login --pull");
}

/// Finding 2: plain HTTP is refused, as the input and as a redirect from HTTPS.
#[test]
fn download_is_https_only_redirects_included() {
    let (out, asked, ran) = download(
        "/genuine",
        &[("version", "9.9.9"), ("insecure-download", "true")],
    );
    assert_eq!((out.code(), asked.len()), (0, 1), "the HTTPS control run");
    assert!(ran.is_some());

    let (out, asked, ran) = download(
        "/moved",
        &[("version", "9.9.9"), ("insecure-download", "true")],
    );
    assert_ne!(out.code(), 0, "{}", out.stderr);
    // curl refuses the redirect itself, before connecting anywhere.
    assert_contains(&out.stderr, "Protocol \"http\" not supported");
    assert_eq!(asked, ["/moved"]);
    assert_eq!(ran, None);
    assert!(executables(&out).is_empty());

    let action = action();
    let step = &action["runs"]["steps"][0];
    let run = Run::new(PathBuf::from("/bin/bash"))
        .env("PATH", SYSTEM_PATH)
        .env("RUNNER_TEMP", "/nonexistent")
        .env("GITHUB_OUTPUT", "/dev/null");
    let mut run = run;
    for (name, value) in step["env"].as_object().unwrap() {
        let input = value.as_str().unwrap();
        let value = match input {
            "${{ inputs.download-url }}" => "http://127.0.0.1:9/ci-registry-login",
            "${{ inputs.sha256 }}" => "00",
            _ => "",
        };
        run = run.env(name, value);
    }
    let out = run.args(["-c", step["run"].as_str().unwrap()]).run();
    assert_eq!(out.code(), 1, "{}", out.stderr);
    assert_contains(
        &out.stdout,
        "::error::ci-registry-login download refused: the download-url input must start with https://",
    );
}
