//! Issue 3: with a program as engine, the tool starts while the live check runs, so its
//! start-up costs no time. For another registry it waits for the secret on its stdin
//! and gets it only after the check, and only if the check kept the credential it was
//! started for; otherwise it is killed and the right one started.
//!
//! Issue 15: for the job's own registry, with a credential the job's GitLab issued,
//! docker is given the secret at once and logs in alongside the check. What its login
//! changed (the config file's bytes, a credential helper's entry) is put back exactly
//! when the check does not keep it. Every run is leak-scanned.

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

/// The accounts docker's own token requests were for, in order.
fn docker_accounts(bed: &TestBed) -> Vec<String> {
    dockers_requests(bed)
        .iter()
        .map(|r| r.param("account").unwrap_or_default().to_string())
        .collect()
}

/// Who asked the token service, in order: `None` for us, `Some("docker")` for docker.
fn askers(bed: &TestBed) -> Vec<Option<String>> {
    bed.gitlab()
        .requests_to("/jwt/auth")
        .iter()
        .map(|r| r.param("client_id").map(str::to_string))
        .collect()
}

/// Runs a login expected to store the credential in `~/.docker/config.json`.
fn stores(run: crate::support::run::Run) -> Outcome {
    let config = run.home().join(".docker/config.json");
    run.allow_secret_in(config).run().expect_code(0)
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

/// The job's `config.json` and the log of the bed's registry with a credential
/// helper, before a run.
const ODD_CONFIG: &str = "{\n  \"auths\": { \"elsewhere.example:5000\": {\"auth\": \"dXNlcjpwYXNz\"} },\n\t\"HttpHeaders\": {\"X-Meta\": \"kept as written\"}  }\n";

/// A job offering only the project's read-only deploy token: docker can log in with
/// it, a push check refuses it.
fn read_only_deploy_job(bed: &TestBed) -> Vec<(String, String)> {
    let mut env = bed.ci_job_env_without("group/app", &crate::support::CI_CREDENTIALS);
    env.push(("CI_DEPLOY_USER".into(), DEPLOY_RO_USER.into()));
    env.push(("CI_DEPLOY_PASSWORD".into(), DEPLOY_RO_TOKEN.into()));
    env
}

#[test]
fn the_jobs_registry_feeds_docker_at_once_and_keeps_its_login() {
    let bed = TestBed::start();
    let run = ci_registry_login()
        .envs(bed.ci_job_env("group/app"))
        .args(["--engine", "docker"]);
    let out = stores(run);
    assert_eq!(docker_users(&out), ["gitlab-ci-token"], "docker ran once");
    let requests = bed.gitlab().requests_to("/jwt/auth");
    let mut askers: Vec<Option<&str>> = requests.iter().map(|r| r.param("client_id")).collect();
    askers.sort();
    assert_eq!(
        askers,
        [None, Some("docker")],
        "ours and docker's: {requests:?}"
    );
    assert_eq!(
        stored_user(&out, &bed.registry().host_port()),
        "gitlab-ci-token"
    );
    assert!(
        !out.stderr.contains("as they were before"),
        "{}",
        out.stderr
    );
}

#[test]
fn another_registry_gets_the_secret_only_after_the_check() {
    let bed = TestBed::start();
    // On a laptop, with a credential for a registry named by flag: no realm is known
    // before the registry's challenge names it.
    let run = ci_registry_login()
        .env("REGISTRY_USER", DEPLOY_RO_USER)
        .env("REGISTRY_PASSWORD", DEPLOY_RO_TOKEN)
        .args([
            "--registry",
            &bed.registry().host_port(),
            "--engine",
            "docker",
        ]);
    let out = stores(run);
    assert_eq!(askers(&bed), [None, Some("docker".into())], "ours first");
    assert_eq!(
        stored_user(&out, &bed.registry().host_port()),
        DEPLOY_RO_USER
    );
}

#[test]
fn a_check_that_changes_the_choice_waits_for_the_fed_docker_then_logs_in_the_right_one() {
    let bed = TestBed::start();
    // The project's deploy token works; the job's token does not.
    let env = finished_job(&bed);
    let run = ci_registry_login()
        .envs(env)
        .env("CI_DEPLOY_USER", DEPLOY_RO_USER)
        .env("CI_DEPLOY_PASSWORD", DEPLOY_RO_TOKEN)
        .args(["--engine", "docker"]);
    let out = stores(run);
    let mut users = docker_users(&out);
    users.sort();
    assert_eq!(users, [DEPLOY_RO_USER, "gitlab-ci-token"]);
    // The first, fed at once, finished (refused) before the second began.
    assert_eq!(docker_accounts(&bed), ["gitlab-ci-token", DEPLOY_RO_USER]);
    assert_eq!(
        stored_user(&out, &bed.registry().host_port()),
        DEPLOY_RO_USER
    );
}

#[test]
fn a_check_that_rejects_everything_leaves_nothing_stored() {
    let bed = TestBed::start();
    let env = finished_job(&bed);
    let out = ci_registry_login()
        .envs(env)
        .args(["--engine", "docker"])
        .run()
        .expect_code(4);
    assert_eq!(docker_users(&out), ["gitlab-ci-token"]);
    assert!(!out.docker_config().exists(), "nothing was stored");
    assert!(
        !out.home().join(".docker").exists(),
        "nor a folder made for it"
    );
}

#[test]
fn a_refused_push_puts_the_config_back_byte_for_byte() {
    use std::os::unix::fs::PermissionsExt;
    let bed = TestBed::start();
    let run = ci_registry_login()
        .envs(read_only_deploy_job(&bed))
        .args(["login", "--push", "--engine", "docker"]);
    let config = run.home().join(".docker/config.json");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, ODD_CONFIG).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = run.run().expect_code(4);
    // docker had logged in with the deploy token before the check refused the push...
    assert_eq!(
        docker_accounts(&bed),
        [DEPLOY_RO_USER],
        "docker was fed at once"
    );
    // ...and what it stored is gone: the file is the user's, to the byte and the mode.
    assert_eq!(std::fs::read_to_string(&config).unwrap(), ODD_CONFIG);
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
    assert!(out.stderr.contains("as they were before"), "{}", out.stderr);
}

/// A docker config sending every registry to `docker-credential-testbed`, a helper that
/// keeps each entry as the exact bytes it was given, in a file per server, and logs
/// each call (verb and server, never the secret); it runs `on_first_store` after
/// keeping the first entry it is given (docker's). With `previous`, the helper already
/// holds an entry of someone else's for `key`.
struct CredentialStore {
    log: std::path::PathBuf,
    entry: std::path::PathBuf,
    config: std::path::PathBuf,
    before: Option<String>,
}

const STORE_CONFIG: &str = "{\"credsStore\": \"testbed\"}\n";

impl CredentialStore {
    fn set_up(
        run: &crate::support::run::Run,
        key: &str,
        previous: bool,
        on_first_store: &str,
    ) -> CredentialStore {
        use std::os::unix::fs::PermissionsExt;
        let store = run.path("store");
        std::fs::create_dir_all(&store).unwrap();
        let script = format!(
            r#"#!/bin/sh
store='{store}'
input=$(cat)
case "$1" in
  store) server=$(printf '%s' "$input" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p')
         echo "store $server" >> "$store/log"
         printf '%s' "$input" > "$store/$server.entry"
         if [ ! -e "$store/stored-once" ]; then : > "$store/stored-once"; {on_first_store}; fi ;;
  get)   echo "get $input" >> "$store/log"
         if [ -f "$store/$input.entry" ]; then cat "$store/$input.entry"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  erase) echo "erase $input" >> "$store/log"
         if [ -f "$store/$input.entry" ]; then rm "$store/$input.entry"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  *) exit 1 ;;
esac
"#,
            store = store.display()
        );
        let helper = run.path("shims").join("docker-credential-testbed");
        std::fs::write(&helper, script).unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = run.home().join(".docker/config.json");
        std::fs::create_dir_all(config.parent().unwrap()).unwrap();
        std::fs::write(&config, STORE_CONFIG).unwrap();
        let entry = store.join(format!("{key}.entry"));
        let before = previous.then(|| {
            format!(r#"{{"ServerURL":"{key}","Username":"someone","Secret":"their-old-secret"}}"#)
        });
        if let Some(before) = &before {
            std::fs::write(&entry, before).unwrap();
        }
        CredentialStore {
            log: store.join("log"),
            entry,
            config,
            before,
        }
    }

    fn calls(&self) -> Vec<String> {
        let log = std::fs::read_to_string(&self.log).unwrap();
        log.lines().map(str::to_string).collect()
    }

    /// The helper's entry and the config are as they were before the run.
    #[track_caller]
    fn assert_as_before(&self) {
        match &self.before {
            Some(before) => assert_eq!(&std::fs::read_to_string(&self.entry).unwrap(), before),
            None => assert!(!self.entry.exists(), "the entry docker made is erased"),
        }
        assert_eq!(std::fs::read_to_string(&self.config).unwrap(), STORE_CONFIG);
    }
}

#[test]
fn a_refused_push_puts_the_credential_store_back() {
    let bed = TestBed::start();
    let key = bed.registry().host_port();
    // With an entry of someone else's before, and with none.
    for previous in [true, false] {
        let run = ci_registry_login()
            .envs(read_only_deploy_job(&bed))
            .args(["login", "--push", "--engine", "docker"]);
        let store = CredentialStore::set_up(&run, &key, previous, ":");
        let out = run.run().expect_code(4);
        let put_back = if previous { "store" } else { "erase" };
        // Ours (the snapshot), docker's own login, ours again (putting it back).
        assert_eq!(
            store.calls(),
            [
                format!("get {key}"),
                format!("store {key}"),
                format!("{put_back} {key}")
            ]
        );
        store.assert_as_before();
        assert!(out.stderr.contains("as they were before"), "{}", out.stderr);
    }
}

#[test]
fn a_signal_while_docker_holds_the_secret_puts_everything_back_first() {
    use std::os::unix::process::ExitStatusExt;
    let bed = TestBed::start();
    let key = bed.registry().host_port();
    let run = ci_registry_login()
        .envs(read_only_deploy_job(&bed))
        .args(["login", "--push", "--engine", "docker"]);
    // The job is cancelled just as docker stores the credential, before the check has
    // spoken: the helper sends SIGTERM to ci-registry-login (docker's parent) and
    // waits to be stopped with docker.
    let on_first_store =
        r#"ours=$(cut -d' ' -f4 "/proc/$PPID/stat"); kill -TERM "$ours"; exec sleep 600"#;
    let store = CredentialStore::set_up(&run, &key, true, on_first_store);
    let out = run.run();
    assert_eq!(
        out.status.signal(),
        Some(15),
        "ended by the signal: {}",
        out.stderr
    );
    assert_eq!(
        store.calls(),
        [
            format!("get {key}"),
            format!("store {key}"),
            format!("store {key}")
        ]
    );
    store.assert_as_before();
}
