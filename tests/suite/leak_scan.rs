//! The leak scan in `crate::support::run` guards every end-to-end test; these tests guard the
//! scan. Each runs a deliberately leaky fake in place of the binary and proves the scan
//! names the place: stdout, stderr, a shimmed engine's argv and environment, any other
//! program's argv and environment (exec trace), files in HOME and in folders the test
//! pointed the run at, secrets given only by `--password-env` or `--variables-file`,
//! and encoded forms. Clean runs, allowed auth files and input files pass.

use crate::support::run::{Run, leak_forms};
use crate::support::world::{ALICE_PASSWORD, JOB_APP_TOKEN};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use std::os::unix::fs::PermissionsExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// A `/bin/sh` script standing in for the binary, kept outside the run's folder. The
/// token moves from the environment to the unexported `$t` first, so the programs a
/// fake starts (mkdir, base64, ...) inherit it only where a case exports it again.
struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    fn new(body: &str) -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fake");
        let script = format!("#!/bin/sh\nt=\"$CI_JOB_TOKEN\"; unset CI_JOB_TOKEN\n{body}\n");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Fake { dir }
    }

    /// A run of the fake with the job token in its environment (and so in the scan).
    fn run(&self) -> Run {
        Run::new(self.path()).env("CI_JOB_TOKEN", JOB_APP_TOKEN)
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("fake")
    }
}

/// Runs and returns the scan's complaint; fails the test when there is none.
fn leak_report(run: Run) -> String {
    let caught = catch_unwind(AssertUnwindSafe(|| run.run()));
    let payload = caught.err().expect("the scan found nothing");
    payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_else(|| payload.downcast_ref::<&str>().unwrap().to_string())
}

fn assert_caught_in(run: Run, place: &str) {
    let report = leak_report(run);
    assert!(report.starts_with("SECRET LEAK"), "{report}");
    let first_line = report.lines().next().unwrap();
    assert!(
        first_line.contains(place),
        "expected a leak in {place}: {first_line}"
    );
}

#[test]
fn the_secret_on_stdout_or_stderr() {
    let fake = Fake::new(r#"printf 'token=%s\n' "$t""#);
    assert_caught_in(fake.run(), "stdout");
    let fake = Fake::new(r#"printf 'TRACE request auth=%s\n' "$t" >&2"#);
    assert_caught_in(fake.run(), "stderr");
}

#[test]
fn base64_of_user_and_secret_at_any_alignment() {
    // An `Authorization: Basic` header or an auth entry printed by mistake.
    for user in ["gitlab-ci-token", "ab", "abc"] {
        let encoded = STANDARD.encode(format!("{user}:{JOB_APP_TOKEN}"));
        let fake = Fake::new(&format!("echo 'Authorization: Basic {encoded}' >&2"));
        assert_caught_in(fake.run(), "stderr");
    }
    let url_safe = URL_SAFE.encode(format!("x:{JOB_APP_TOKEN}?"));
    let fake = Fake::new(&format!("echo {url_safe}"));
    assert_caught_in(fake.run(), "stdout");
}

#[test]
fn percent_encoded_and_escaped_spellings() {
    let secret = r#"p@ss w0rd/"quoted"+more"#;
    let fake = Fake::new("echo 'GET /jwt/auth?password=p%40ss%20w0rd%2F%22quoted%22%2Bmore'");
    assert_caught_in(fake.run().secret(secret), "stdout");
    let fake = Fake::new(r#"echo '{"password":"p@ss w0rd/\"quoted\"+more"}' >&2"#);
    assert_caught_in(fake.run().secret(secret), "stderr");
}

#[test]
fn a_shimmed_engine_gets_it_in_argv_or_environment() {
    let fake = Fake::new(r#"docker "$t" >/dev/null 2>&1; exit 0"#);
    assert_caught_in(fake.run(), "argv of docker");
    // Not scrubbed from the environment docker inherits.
    let fake = Fake::new(r#"export CI_JOB_TOKEN="$t"; docker --version >/dev/null"#);
    assert_caught_in(fake.run(), "environment of docker");
}

#[test]
fn any_other_program_gets_it_in_argv_or_environment() {
    assert!(
        crate::support::run::exec_trace_available(),
        "strace is needed to see programs that are not shimmed engines (tests/run-all.sh installs it)"
    );
    let fake = Fake::new(r#"/bin/true "$t""#);
    assert_caught_in(fake.run(), "true (exec trace)");
    let fake = Fake::new(r#"export CI_JOB_TOKEN="$t"; /bin/true"#);
    assert_caught_in(fake.run(), "true (exec trace)");
}

#[test]
fn a_file_in_home_or_the_temp_folder() {
    let fake = Fake::new(r#"mkdir -p "$HOME/.cache" && printf %s "$t" > "$HOME/.cache/x""#);
    assert_caught_in(fake.run(), "/home/.cache/x");
    let fake = Fake::new(r#"printf %s "$t" > "$TMPDIR/scratch""#);
    assert_caught_in(fake.run(), "/tmp/scratch");
}

#[test]
fn a_file_in_a_folder_the_test_pointed_elsewhere() {
    let elsewhere = tempfile::tempdir().unwrap();
    let docker_config = elsewhere.path().join("docker");
    let fake =
        Fake::new(r#"mkdir -p "$DOCKER_CONFIG" && printf %s "$t" > "$DOCKER_CONFIG/stray.json""#);
    assert_caught_in(
        fake.run().env("DOCKER_CONFIG", &docker_config),
        &docker_config.join("stray.json").display().to_string(),
    );
    // `--auth-file` elsewhere: the file itself is allowed, a copy next to it is not.
    let auth_file = elsewhere.path().join("auth/config.json");
    std::fs::create_dir_all(auth_file.parent().unwrap()).unwrap();
    let fake = Fake::new(r#"printf %s "$t" > "$2"; printf %s "$t" > "$2.bak""#);
    assert_caught_in(
        fake.run()
            .args([Path::new("--auth-file"), &auth_file])
            .allow_secret_in(&auth_file),
        "config.json.bak",
    );
}

#[test]
fn secrets_given_only_by_name_or_in_a_variables_file() {
    // Not a well-known variable, not token-shaped: only --password-env says it is secret.
    let fake = Fake::new(r#"printf %s "$MY_REGISTRY_SECRET""#);
    let run = fake
        .run()
        .env("MY_REGISTRY_SECRET", "Correct-Horse-Battery")
        .args(["--password-env", "MY_REGISTRY_SECRET"]);
    assert_caught_in(run, "stdout");

    let inputs = tempfile::tempdir().unwrap();
    let file = inputs.path().join("vars.yml");
    std::fs::write(
        &file,
        format!("CI_REGISTRY: registry.example.com\nCI_DEPLOY_PASSWORD:\n  values:\n    '*': {ALICE_PASSWORD}-deploy\n"),
    )
    .unwrap();
    let fake = Fake::new(r#"grep -o 'alice-password-deploy' "$2" >&2"#);
    assert_caught_in(
        fake.run().args([Path::new("--variables-file"), &file]),
        "stderr",
    );
}

#[test]
fn clean_runs_allowed_files_and_inputs_pass() {
    let fake = Fake::new(
        r#"mkdir -p "$HOME/.docker"
auth="$(printf 'u:%s' "$t" | base64 -w0)"
printf '{"auths":{"r":{"auth":"%s"}}}' "$auth" > "$HOME/.docker/config.json"
echo "logged in" >&2"#,
    );
    let run = fake.run();
    let config = run.home().join(".docker/config.json");
    // A variables file the test wrote before the run holds the secret too: input.
    let input = run.path("vars.env");
    std::fs::write(&input, format!("CI_JOB_TOKEN={JOB_APP_TOKEN}\n")).unwrap();
    let out = run
        .allow_secret_in(&config)
        .args([Path::new("--variables-file"), &input])
        .run();
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert!(std::fs::read_to_string(&config).unwrap().contains("auths"));
}

#[test]
fn leak_forms_cover_every_base64_alignment() {
    let forms = leak_forms(JOB_APP_TOKEN);
    for prefix in ["", "a", "ab", "abc", "gitlab-ci-token:"] {
        for encoded in [
            STANDARD.encode(format!("{prefix}{JOB_APP_TOKEN}")),
            URL_SAFE.encode(format!("{prefix}{JOB_APP_TOKEN}\n")),
        ] {
            assert!(
                forms.iter().any(|f| encoded.contains(f.as_str())),
                "{prefix:?}: {encoded} escapes {forms:?}"
            );
        }
    }
}

/// The scan covers the suite only if every test runs the binary through it: none may
/// spawn it with a bare `Command` (placing it on a PATH that a `Run` then runs is fine:
/// the whole process tree is traced).
#[test]
fn every_test_runs_the_binary_through_the_scanning_runner() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let runner = tests.join("suite/support/run.rs");
    let this = tests.join("suite/leak_scan.rs");
    // Its closed-stderr test hands the binary a stderr whose reader is gone, which a
    // `Run` (it reads stderr to scan it) cannot do, and runs it as another user; those
    // runs are given no secret but a dummy token.
    let closed_stderr = tests.join("suite/process_safety.rs");
    let mut offenders = Vec::new();
    let mut stack = vec![tests];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && path != runner
                && path != this
                && path != closed_stderr
            {
                let text = std::fs::read_to_string(&path)
                    .unwrap()
                    .replace(char::is_whitespace, "");
                let direct = [
                    "Command::new(crate::support::run::binary()",
                    "Command::new(binary()",
                    "Command::new(env!(\"CARGO_BIN_EXE",
                ];
                if direct.iter().any(|d| text.contains(d)) {
                    offenders.push(path.display().to_string());
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "these spawn the binary without the leak scan; use crate::support::run::ci_registry_login(): {offenders:?}"
    );
}
