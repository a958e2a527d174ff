//! End to end, issue 5: the auth-file writer. Fifty logins racing into one file as
//! separate processes all survive; a malformed file, a directory and a read-only file
//! are refused with the file left byte for byte as it was; containers' auth.json is a
//! target of its own; a docker config whose credential store would shadow the entry
//! says so. Every run is leak-scanned.

use crate::support::run::ci_registry_login;
use crate::support::{TestBed, read_json};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn secret(i: usize) -> String {
    format!("glpat-concurrent-{i:02}-Tq8Wz3Lm")
}

fn decoded(entry: &Value) -> String {
    String::from_utf8(STANDARD.decode(entry["auth"].as_str().unwrap()).unwrap()).unwrap()
}

#[test]
fn fifty_concurrent_logins_to_fifty_registries_into_one_file_all_survive() {
    let shared = tempfile::tempdir().unwrap();
    let file = shared.path().join("config.json");
    let foreign = json!({
        "auths": {"foreign.example.com": {"auth": "eDp5"}},
        "credHelpers": {"gcr.io": "gcloud"},
        "unknownKey": [1, 2],
    });
    std::fs::write(&file, serde_json::to_vec(&foreign).unwrap()).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();

    let logins: Vec<_> = (0..50)
        .map(|i| {
            let file = file.clone();
            std::thread::spawn(move || {
                ci_registry_login()
                    .env("REGISTRY_USER", format!("user{i}"))
                    .env("REGISTRY_PASSWORD", secret(i))
                    .args(["--no-verify", "--engine", "auth-file", "--registry"])
                    .arg(format!("127.0.0.1:{}", 20000 + i))
                    .arg("--auth-file")
                    .arg(&file)
                    .allow_secret_in(&file)
                    .run()
                    .expect_code(0)
            })
        })
        .collect();
    for login in logins {
        login.join().expect("a login thread panicked");
    }

    let json = read_json(&file);
    let auths = json["auths"].as_object().unwrap();
    assert_eq!(
        auths.len(),
        51,
        "50 logins and the foreign entry: {auths:?}"
    );
    for i in 0..50 {
        let entry = &auths[&format!("127.0.0.1:{}", 20000 + i)];
        assert_eq!(decoded(entry), format!("user{i}:{}", secret(i)));
    }
    assert_eq!(json["auths"]["foreign.example.com"]["auth"], "eDp5");
    assert_eq!(json["credHelpers"], foreign["credHelpers"]);
    assert_eq!(json["unknownKey"], foreign["unknownKey"]);
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o640,
        "an existing file keeps its mode"
    );
    let litter: Vec<_> = std::fs::read_dir(shared.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "config.json")
        .collect();
    assert!(
        litter.is_empty(),
        "no temporary or lock files left: {litter:?}"
    );
}

#[test]
fn malformed_directory_and_read_only_files_are_refused_and_left_as_they_were() {
    type Setup = fn(&Path);
    let cases: [(&str, Setup, &str); 3] = [
        (
            "malformed",
            |p| std::fs::write(p, "{\n  \"auths\": {,\n}").unwrap(),
            "is not valid JSON (line 2",
        ),
        (
            "directory",
            |p| std::fs::create_dir(p).unwrap(),
            "is a folder",
        ),
        (
            "read-only",
            |p| {
                std::fs::write(p, "{\"auths\":{}}\n").unwrap();
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o444)).unwrap();
            },
            "is read-only; nothing was changed",
        ),
    ];
    for (case, setup, message) in cases {
        let run = ci_registry_login();
        let file = run.path("config/config.json");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        setup(&file);
        let before = std::fs::read(&file).ok();
        let out = run
            .env("REGISTRY_USER", "alice")
            .env("REGISTRY_PASSWORD", "glpat-refused-Jw5Xc2Nb8")
            .args([
                "--no-verify",
                "--engine",
                "auth-file",
                "--registry",
                "127.0.0.1:5999",
            ])
            .arg("--auth-file")
            .arg(&file)
            .run()
            .expect_code(2);
        assert!(out.said().contains(message), "{case}: {}", out.said());
        assert!(
            out.said().contains(&file.display().to_string()),
            "{case}: the file is named: {}",
            out.said()
        );
        assert_eq!(std::fs::read(&file).ok(), before, "{case}: byte-identical");
        let siblings = std::fs::read_dir(file.parent().unwrap()).unwrap().count();
        assert_eq!(siblings, 1, "{case}: no temporary file left");
    }
}

#[test]
fn containers_auth_json_is_written_where_podman_looks_and_pushes() {
    let bed = TestBed::start();
    let (run, auth_json) = ci_registry_login()
        .envs(bed.ci_job_env("group/app"))
        .with_runtime_dir();
    let out = run
        .args([
            "--push",
            "--engine",
            "auth-file",
            "--auth-format",
            "containers",
        ])
        .allow_secret_in(&auth_json)
        .run()
        .expect_code(0);
    assert!(
        out.said()
            .contains(&format!("stored by auth-file in {}", auth_json.display())),
        "{}",
        out.said()
    );
    assert!(!out.docker_config().exists(), "docker's config untouched");
    assert_eq!(
        std::fs::metadata(&auth_json).unwrap().permissions().mode() & 0o777,
        0o600,
        "a new file is private"
    );
    // podman itself reads the file: the entry is one it understands.
    let podman = std::process::Command::new("podman")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("HOME", out.home())
        .env(
            "XDG_RUNTIME_DIR",
            auth_json.parent().unwrap().parent().unwrap(),
        )
        .args(["login", "--get-login", &bed.registry().host_port()])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&podman.stdout).trim(),
        "gitlab-ci-token",
        "{}",
        String::from_utf8_lossy(&podman.stderr)
    );
    let pushed =
        crate::support::skopeo_push(&auth_json, &bed.registry().host_port(), "group/app", "c");
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );

    // REGISTRY_AUTH_FILE names the file instead.
    let run = ci_registry_login();
    let named = run.path("named/auth.json");
    let out = run
        .env("REGISTRY_AUTH_FILE", &named)
        .env("REGISTRY_USER", "alice")
        .env("REGISTRY_PASSWORD", "glpat-named-Ue4Rk9Vz2")
        .args([
            "--no-verify",
            "--engine",
            "auth-file",
            "--auth-format",
            "containers",
        ])
        .args(["--registry", "127.0.0.1:5999"])
        .allow_secret_in(&named)
        .run()
        .expect_code(0);
    assert_eq!(
        decoded(&read_json(&named)["auths"]["127.0.0.1:5999"]),
        "alice:glpat-named-Ue4Rk9Vz2",
        "{}",
        out.said()
    );
}

#[test]
fn a_credential_store_that_docker_asks_instead_is_named() {
    let run = ci_registry_login();
    let config = run.home().join(".docker/config.json");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        r#"{"credsStore":"desktop","credHelpers":{"other:1":"gcloud"}}"#,
    )
    .unwrap();
    let out = run
        .env("REGISTRY_USER", "alice")
        .env("REGISTRY_PASSWORD", "glpat-shadowed-Pz7Qm3Kd1")
        .args([
            "--no-verify",
            "--engine",
            "auth-file",
            "--registry",
            "127.0.0.1:5999",
        ])
        .allow_secret_in(&config)
        .run()
        .expect_code(0);
    assert!(
        out.said().contains(
            "credsStore is 'desktop': docker asks docker-credential-desktop for 127.0.0.1:5999"
        ),
        "{}",
        out.said()
    );
    let json = read_json(&config);
    assert_eq!(json["credsStore"], "desktop", "kept");
    assert!(json["auths"]["127.0.0.1:5999"]["auth"].is_string());
}
