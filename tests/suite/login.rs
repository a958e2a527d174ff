//! End to end, issue 2: find the credentials a job offers, pick one for pull or push,
//! log in with the real docker CLI or by writing the auth file, and prove the stored
//! credential works by pushing and pulling with skopeo. Every run is leak-scanned.

use crate::support::assert_contains;

use crate::support::run::{Outcome, ci_registry_login};
use crate::support::world::*;
use crate::support::{CI_CREDENTIALS, Credentials, Skopeo, TestBed};

/// A GitLab job on group/app, minus the variables named in `without`.
fn job_env(bed: &TestBed, without: &[&str]) -> Vec<(String, String)> {
    bed.ci_job_env_without("group/app", without)
}

fn push_and_pull_work(bed: &TestBed, out: &Outcome, tag: &str) {
    let skopeo = Skopeo::new(Credentials::AuthFile(out.docker_config()));
    let registry = bed.registry().host_port();
    let pushed = skopeo.push(&registry, "group/app", tag);
    assert!(
        pushed.status.success(),
        "push: {}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let pulled = skopeo.pull(&registry, "group/app", tag);
    assert!(
        pulled.status.success(),
        "pull: {}",
        String::from_utf8_lossy(&pulled.stderr)
    );
}

/// Pulls with the stored credential; pushing must succeed exactly when `can_push`.
fn pull_works_push_as_granted(bed: &TestBed, out: &Outcome, can_push: bool) {
    let registry = bed.registry().host_port();
    // Something to pull, pushed with alice's read-write token.
    let seed = tempfile::tempdir().unwrap();
    let seed_config = seed.path().join("config.json");
    crate::support::docker_login(seed.path(), &registry, "alice", ALICE_PAT_RW);
    assert!(
        Skopeo::new(Credentials::AuthFile(seed_config))
            .push(&registry, "group/app", "seed")
            .status
            .success()
    );
    let skopeo = Skopeo::new(Credentials::AuthFile(out.docker_config()));
    assert!(skopeo.pull(&registry, "group/app", "seed").status.success());
    let pushed = skopeo.push(&registry, "group/app", "pull-case");
    assert_eq!(
        pushed.status.success(),
        can_push,
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
}

#[test]
fn a_job_logs_in_with_docker_and_pushes() {
    let bed = TestBed::start();
    let run = ci_registry_login().envs(job_env(&bed, &[])).arg("--push");
    let config = run.home().join(".docker/config.json");
    let out = run.allow_secret_in(config).run().expect_code(0);
    assert!(
        out.said()
            .contains("using registry-user from CI_REGISTRY_USER"),
        "{}",
        out.said()
    );
    assert_contains(out.said(), "granted pull,push");
    // The real docker CLI did the login, with the secret on stdin only.
    let docker = out.children_named("docker");
    assert_eq!(docker.len(), 1, "docker should run once");
    let argv = &docker[0].argv;
    assert_eq!(&argv[1..4], ["login", "--username", "gitlab-ci-token"]);
    assert!(argv.contains(&"--password-stdin".to_string()));
    assert!(!argv.iter().any(|a| a == "-p" || a == "--password"));
    // The job token's variables were kept out of docker's environment.
    assert!(
        !docker[0]
            .env
            .iter()
            .any(|e| e.starts_with("CI_JOB_TOKEN=") || e.starts_with("CI_REGISTRY_PASSWORD="))
    );
    push_and_pull_work(&bed, &out, "docker-engine");
}

/// One row per kind of credential and intent: the credential, what must happen.
struct Case {
    name: &'static str,
    env: Vec<(&'static str, &'static str)>,
    push: bool,
    exit: i32,
    kind: &'static str,
    /// Whether GitLab lets the stored credential push (checked on pull cases).
    can_push: bool,
}

#[test]
fn every_kind_of_credential_for_pull_and_push() {
    let cases = [
        Case {
            name: "deploy token rw, push",
            env: vec![
                ("CI_DEPLOY_USER", DEPLOY_RW_USER),
                ("CI_DEPLOY_PASSWORD", DEPLOY_RW_TOKEN),
            ],
            push: true,
            exit: 0,
            kind: "deploy-token",
            can_push: true,
        },
        Case {
            name: "deploy token ro, pull",
            env: vec![
                ("CI_DEPLOY_USER", DEPLOY_RO_USER),
                ("CI_DEPLOY_PASSWORD", DEPLOY_RO_TOKEN),
            ],
            push: false,
            exit: 0,
            kind: "deploy-token",
            can_push: false,
        },
        Case {
            name: "deploy token ro, push",
            env: vec![
                ("CI_DEPLOY_USER", DEPLOY_RO_USER),
                ("CI_DEPLOY_PASSWORD", DEPLOY_RO_TOKEN),
            ],
            push: true,
            exit: 4,
            kind: "deploy-token",
            can_push: false,
        },
        Case {
            name: "explicit deploy token, push",
            env: vec![
                ("REGISTRY_USER", DEPLOY_RW_USER),
                ("REGISTRY_PASSWORD", DEPLOY_RW_TOKEN),
            ],
            push: true,
            exit: 0,
            kind: "deploy-token",
            can_push: true,
        },
        Case {
            name: "access token rw, push",
            env: vec![("REGISTRY_PASSWORD", ALICE_PAT_RW)],
            push: true,
            exit: 0,
            kind: "access-token",
            can_push: true,
        },
        Case {
            name: "access token ro, pull",
            env: vec![("REGISTRY_PASSWORD", ALICE_PAT_RO)],
            push: false,
            exit: 0,
            kind: "access-token",
            can_push: false,
        },
        Case {
            name: "access token ro, push",
            env: vec![("REGISTRY_PASSWORD", ALICE_PAT_RO)],
            push: true,
            exit: 4,
            kind: "access-token",
            can_push: false,
        },
        Case {
            name: "project bot token, push",
            env: vec![("REGISTRY_PASSWORD", APP_BOT_TOKEN)],
            push: true,
            exit: 0,
            kind: "access-token",
            can_push: true,
        },
        Case {
            name: "password, push",
            env: vec![
                ("REGISTRY_USER", "alice"),
                ("REGISTRY_PASSWORD", ALICE_PASSWORD),
            ],
            push: true,
            exit: 0,
            kind: "password",
            can_push: true,
        },
        Case {
            name: "job token only, pull",
            env: vec![("CI_JOB_TOKEN", JOB_APP_TOKEN)],
            push: false,
            exit: 0,
            kind: "job-token",
            can_push: true,
        },
        Case {
            name: "explicit job token, pull",
            env: vec![("REGISTRY_PASSWORD", JOB_APP_TOKEN)],
            push: false,
            exit: 0,
            kind: "job-token",
            can_push: true,
        },
    ];
    let bed = TestBed::start();
    for case in cases {
        let mut run = ci_registry_login()
            .envs(job_env(&bed, &CI_CREDENTIALS))
            .envs(case.env.iter().copied())
            .args(["--engine", "auth-file"]);
        if case.push {
            run = run.arg("--push");
        }
        let config = run.home().join(".docker/config.json");
        let out = run.allow_secret_in(&config).run();
        assert_eq!(
            out.code(),
            case.exit,
            "{}: {}\n{}",
            case.name,
            out.said(),
            out.stdout
        );
        if case.exit == 0 {
            assert!(
                out.said().contains(&format!("using {} from", case.kind)),
                "{}: {}",
                case.name,
                out.said()
            );
            if case.push {
                push_and_pull_work(&bed, &out, &case.name.replace([' ', ','], "-"));
            } else {
                pull_works_push_as_granted(&bed, &out, case.can_push);
            }
        } else {
            // Refused before anything was written.
            assert!(!config.exists(), "{}: the config was written", case.name);
            assert!(out.said().contains("push"), "{}: {}", case.name, out.said());
        }
    }
}

#[test]
fn an_empty_protected_variable_is_explained() {
    let bed = TestBed::start();
    let out = ci_registry_login()
        .envs(job_env(&bed, &CI_CREDENTIALS))
        .envs([
            ("CI_DEPLOY_USER", DEPLOY_RW_USER),
            ("CI_DEPLOY_PASSWORD", ""),
        ])
        .run()
        .expect_code(3);
    assert_contains(
        out.said(),
        "CI_DEPLOY_PASSWORD is set but empty: a protected variable is empty on an unprotected branch",
    );
    // Nothing was asked of GitLab: there was nothing worth asking with.
    assert!(bed.gitlab().requests_to("/jwt/auth").is_empty());
}

#[test]
fn no_credential_at_all_exits_3() {
    let bed = TestBed::start();
    let out = ci_registry_login()
        .envs(job_env(&bed, &CI_CREDENTIALS))
        .run()
        .expect_code(3);
    assert_contains(out.said(), "no credentials found");
    assert!(
        out.said().contains("REGISTRY_PASSWORD"),
        "the hint names what to set: {}",
        out.said()
    );
}

#[test]
fn credentials_of_another_registry_are_not_offered() {
    let bed = TestBed::start();
    let out = ci_registry_login()
        .envs(job_env(&bed, &[]))
        .args(["plan", "--registry", "other-registry.example.com"])
        .run()
        .expect_code(3);
    assert_contains(&out.stdout, "belongs to");
}

#[test]
fn plan_makes_no_request_and_shows_no_secret() {
    let bed = TestBed::start();
    let out = ci_registry_login()
        .envs(job_env(&bed, &[]))
        .envs([
            ("CI_DEPLOY_USER", DEPLOY_RW_USER),
            ("CI_DEPLOY_PASSWORD", DEPLOY_RW_TOKEN),
            ("REGISTRY_PASSWORD", ALICE_PAT_RW),
        ])
        .args(["plan", "--push", "--format", "json"])
        .run()
        .expect_code(0);
    assert!(bed.gitlab().requests().is_empty(), "plan talked to GitLab");
    let plan = out.json();
    assert_eq!(plan["registry"], bed.registry().host_port());
    assert_eq!(plan["repository"], "group/app");
    assert_eq!(plan["intent"], "push");
    assert_eq!(plan["chosen"]["kind"], "registry-user");
    let kinds: Vec<&str> = plan["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["registry-user", "job-token", "deploy-token", "access-token"]
    );
    for c in plan["candidates"].as_array().unwrap() {
        for field in ["source", "username", "scopes", "usable", "reason"] {
            assert!(c.get(field).is_some(), "{field} missing in {c}");
        }
        assert!(
            c.get("granted").is_none(),
            "granted only after a live check"
        );
    }
}

#[test]
fn use_forces_a_kind() {
    let bed = TestBed::start();
    let run = ci_registry_login()
        .envs(job_env(&bed, &[]))
        .envs([
            ("CI_DEPLOY_USER", DEPLOY_RW_USER),
            ("CI_DEPLOY_PASSWORD", DEPLOY_RW_TOKEN),
        ])
        .args(["--push", "--engine", "auth-file", "--use", "deploy-token"]);
    let config = run.home().join(".docker/config.json");
    let out = run.allow_secret_in(&config).run().expect_code(0);
    assert!(
        out.said()
            .contains("using deploy-token from CI_DEPLOY_USER"),
        "{}",
        out.said()
    );
    let stored = std::fs::read_to_string(&config).unwrap();
    let json: serde_json::Value = serde_json::from_str(&stored).unwrap();
    let auth = json["auths"][bed.registry().host_port()]["auth"]
        .as_str()
        .unwrap();
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .unwrap();
    assert_eq!(
        decoded,
        format!("{DEPLOY_RW_USER}:{DEPLOY_RW_TOKEN}").as_bytes()
    );

    let out = ci_registry_login()
        .envs(job_env(&bed, &[]))
        .args(["plan", "--use", "password"])
        .run()
        .expect_code(3);
    assert_contains(&out.stdout, "not used: --use password");
}

#[test]
fn auth_file_merges_into_an_existing_config() {
    let bed = TestBed::start();
    let run = ci_registry_login()
        .envs(job_env(&bed, &[]))
        .args(["--engine", "auth-file"]);
    let dir = run.home().join(".docker");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.json");
    let before = serde_json::json!({
        "auths": {"other.example.com:5050": {"auth": "b3RoZXI6c2VjcmV0"}, "https://index.docker.io/v1/": {"auth": "aHViOmh1Yg=="}},
        "credHelpers": {"gcr.io": "gcloud"},
        "proxies": {"default": {"httpProxy": "http://proxy:3128"}},
        "someFutureKey": [1, 2, 3]
    });
    std::fs::write(&config, serde_json::to_vec_pretty(&before).unwrap()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o640)).unwrap();

    let out = run.allow_secret_in(&config).run().expect_code(0);
    let after: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    for key in ["credHelpers", "proxies", "someFutureKey"] {
        assert_eq!(after[key], before[key], "{key} changed");
    }
    for registry in ["other.example.com:5050", "https://index.docker.io/v1/"] {
        assert_eq!(
            after["auths"][registry], before["auths"][registry],
            "{registry} changed"
        );
    }
    assert!(after["auths"][bed.registry().host_port()]["auth"].is_string());
    assert_eq!(
        std::fs::metadata(&config).unwrap().permissions().mode() & 0o777,
        0o640,
        "mode not kept"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        leftovers,
        ["config.json"],
        "temporary or lock files left behind"
    );
    push_and_pull_work(&bed, &out, "merged");
}

#[test]
fn a_malformed_config_is_left_untouched() {
    let bed = TestBed::start();
    let run = ci_registry_login()
        .envs(job_env(&bed, &[]))
        .args(["--engine", "auth-file"]);
    let dir = run.home().join(".docker");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.json");
    let broken = b"{\n  \"auths\": {\n    \"x\": {\"auth\": \"eDp5\"},,\n  }\n}\n";
    std::fs::write(&config, broken).unwrap();
    let out = run.run().expect_code(2);
    assert_contains(out.said(), "is not valid JSON (line 3");
    assert_contains(out.said(), "nothing was changed");
    assert_eq!(std::fs::read(&config).unwrap(), broken);
}

#[test]
fn docker_config_location_follows_docker_config_variable() {
    let bed = TestBed::start();
    let run = ci_registry_login().envs(job_env(&bed, &[]));
    let custom = run.path("custom-docker");
    let config = custom.join("config.json");
    let out = run
        .env("DOCKER_CONFIG", &custom)
        .allow_secret_in(&config)
        .run()
        .expect_code(0);
    assert!(config.is_file(), "docker did not write into DOCKER_CONFIG");
    assert!(!out.docker_config().exists(), "wrote into HOME as well");
}

#[test]
fn logout_removes_every_spelling_of_the_registry() {
    let bed = TestBed::start();
    let host = bed.registry().host_port();
    let run =
        ci_registry_login()
            .envs(job_env(&bed, &[]))
            .args(["logout", "--engine", "auth-file"]);
    let dir = run.home().join(".docker");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.json");
    let before = serde_json::json!({"auths": {
        host.clone(): {"auth": "YTpi"}, format!("https://{host}"): {"auth": "YTpi"}, format!("http://{host}"): {"auth": "YTpi"},
        "keep.example.com": {"auth": "YTpi"}
    }});
    std::fs::write(&config, before.to_string()).unwrap();
    let out = run.run().expect_code(0);
    assert_contains(out.said(), "removed the credentials");
    let after: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert_eq!(
        after["auths"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["keep.example.com"]
    );

    // And through docker.
    let run = ci_registry_login().envs(job_env(&bed, &[]));
    let config = run.home().join(".docker/config.json");
    let out = run.allow_secret_in(&config).run().expect_code(0);
    let home = out.home();
    let out = ci_registry_login()
        .envs(job_env(&bed, &[]))
        .env("DOCKER_CONFIG", home.join(".docker"))
        .arg("logout")
        .run()
        .expect_code(0);
    assert_eq!(
        out.children_named("docker")[0].argv[1..],
        ["logout".to_string(), host.clone()]
    );
    let after: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.join(".docker/config.json")).unwrap()).unwrap();
    assert!(after["auths"].get(&host).is_none(), "{after}");
}

#[test]
fn an_unreachable_registry_exits_5() {
    // A port nothing listens on: bind one, then close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = ci_registry_login()
        .envs([
            ("REGISTRY_USER", "alice"),
            ("REGISTRY_PASSWORD", ALICE_PASSWORD),
        ])
        .args(["--registry", &format!("127.0.0.1:{port}"), "--retries", "1"])
        .run()
        .expect_code(5);
    assert_contains(out.said(), "nothing accepted the connection");
}

#[test]
fn docker_reporting_an_authentication_error_exits_4() {
    // Without our check, docker itself meets GitLab's refusal.
    let bed = TestBed::start();
    let out = ci_registry_login()
        .envs(job_env(&bed, &CI_CREDENTIALS))
        .envs([
            ("REGISTRY_USER", "bob"),
            ("REGISTRY_PASSWORD", BOB_PASSWORD),
        ])
        .args(["--no-verify", "--engine", "docker"])
        .run()
        .expect_code(4);
    assert_contains(out.said(), "docker login was refused");
    assert!(
        out.said().contains("HTTP Basic: Access denied"),
        "docker's own message is passed through: {}",
        out.said()
    );
}

#[test]
fn docker_missing_exits_6() {
    let bed = TestBed::start();
    let out = ci_registry_login()
        .envs(job_env(&bed, &[]))
        .env("PATH", "/nonexistent")
        .args(["--engine", "docker"])
        .run()
        .expect_code(6);
    assert!(
        out.said()
            .contains("docker is not installed or not on PATH"),
        "{}",
        out.said()
    );
}

#[test]
fn help_shows_no_variable_values() {
    let out = ci_registry_login()
        .envs([
            ("REGISTRY_PASSWORD", ALICE_PAT_RW),
            ("CI_JOB_TOKEN", JOB_APP_TOKEN),
        ])
        .arg("--help")
        .run()
        .expect_code(0);
    assert_contains(&out.stdout, "Exit codes:");
    assert_contains(&out.stdout, "Real environment variables win over");
}

#[test]
fn environment_wins_over_the_variables_file() {
    let bed = TestBed::start();
    let run = ci_registry_login();
    let file = run.path("vars.yml");
    std::fs::write(
        &file,
        format!(
            "CI_REGISTRY: {}\nCI_PROJECT_PATH: group/app\nREGISTRY_USER: alice\nREGISTRY_PASSWORD:\n  type: variable\n  values:\n    '*': {ALICE_PASSWORD}\n",
            bed.registry().host_port()
        ),
    )
    .unwrap();
    let out = run
        .secret(ALICE_PASSWORD)
        .allow_secret_in(&file)
        .env("REGISTRY_PASSWORD", ALICE_PAT_RO)
        .args(["plan", "--format", "json", "--variables-file"])
        .arg(&file)
        .run()
        .expect_code(0);
    let plan = out.json();
    assert_eq!(plan["registry"], bed.registry().host_port());
    // The environment's access token, not the file's password.
    assert_eq!(plan["chosen"]["kind"], "access-token");
}

#[test]
fn registry_spellings_are_normalised_and_nonsense_refused() {
    let bed = TestBed::start();
    let host = bed.registry().host_port();
    let out = ci_registry_login()
        .envs(job_env(&bed, &[]))
        .args([
            "plan",
            "--format",
            "json",
            "--registry",
            &format!("HTTP://{host}/"),
        ])
        .run()
        .expect_code(0);
    assert_eq!(out.json()["registry"], host);
    for bad in [
        "registry.example.com/group",
        "https://user:pw@registry.example.com",
        "registry example.com",
    ] {
        let out = ci_registry_login()
            .args(["plan", "--registry", bad])
            .run()
            .expect_code(2);
        assert!(out.said().contains("--registry"), "{bad}: {}", out.said());
    }
}

#[test]
fn quiet_verbose_and_rust_log() {
    let bed = TestBed::start();
    let quiet = ci_registry_login()
        .envs(job_env(&bed, &[]))
        .env("RUST_LOG", "")
        .args(["check", "-q"])
        .run()
        .expect_code(0);
    assert_eq!(quiet.stderr, "", "-q must leave stderr empty on success");
    let verbose = ci_registry_login()
        .envs(job_env(&bed, &[]))
        .env("RUST_LOG", "")
        .args(["check", "-v"])
        .run()
        .expect_code(0);
    assert_contains(&verbose.stderr, " INFO ");
    assert!(!verbose.stderr.contains(" DEBUG "), "-v is info, not debug");
    let rust_log = ci_registry_login()
        .envs(job_env(&bed, &[]))
        .env("RUST_LOG", "ci_registry_login=debug")
        .arg("check")
        .run()
        .expect_code(0);
    assert_contains(&rust_log.stderr, " DEBUG ");
}

#[test]
fn login_reports_json() {
    let bed = TestBed::start();
    let run = ci_registry_login().envs(job_env(&bed, &[])).args([
        "--push",
        "--engine",
        "auth-file",
        "--format",
        "json",
    ]);
    let config = run.home().join(".docker/config.json");
    let out = run.allow_secret_in(&config).run().expect_code(0);
    let json = out.json();
    assert_eq!(json["chosen"]["kind"], "registry-user");
    assert_eq!(json["stored"]["engine"], "auth-file");
    assert_eq!(json["stored"]["location"], config.to_str().unwrap());
    assert_eq!(
        json["candidates"][0]["granted"],
        serde_json::json!(["pull", "push"])
    );
    assert!(
        json["candidates"][0]["token_expires_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
}

/// docker says "Removing login credentials" whether or not it had any (issue 12): with
/// nothing stored the logout says so, and docker is not asked; after a login it is.
#[test]
fn docker_logout_with_nothing_stored_says_so() {
    let bed = TestBed::start();
    let run = ci_registry_login().envs(job_env(&bed, &[]));
    let config_dir = run.path("docker-config");
    std::fs::create_dir_all(&config_dir).unwrap();
    let logout = || {
        ci_registry_login()
            .envs(job_env(&bed, &[]))
            .env("DOCKER_CONFIG", &config_dir)
            .args(["logout", "--engine", "docker"])
            .allow_secret_in(config_dir.join("config.json"))
            .run()
            .expect_code(0)
    };
    let nothing = logout();
    assert_contains(nothing.said(), "no credentials for");
    assert!(!nothing.said().contains("removed"), "{}", nothing.said());
    ci_registry_login()
        .envs(job_env(&bed, &[]))
        .env("DOCKER_CONFIG", &config_dir)
        .args(["--engine", "docker"])
        .allow_secret_in(config_dir.join("config.json"))
        .run()
        .expect_code(0);
    assert_contains(logout().said(), "removed the credentials");
}
