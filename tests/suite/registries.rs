//! End to end, issue 5: several registries in one call. `--registry` repeats,
//! `--dependency-proxy` adds GitLab's dependency proxy with its own credential and both
//! spellings of its key, every registry gets its own summary line, and the exit code is
//! the worst of them. Every run is leak-scanned.

use crate::support::run::ci_registry_login;
use crate::support::{Credentials, Registry, Skopeo, TestBed, read_json};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::os::unix::fs::PermissionsExt;

fn summary_lines(said: &str) -> Vec<&str> {
    said.lines()
        .filter(|l| l.starts_with("ci-registry-login: logged in to"))
        .collect()
}

#[test]
fn the_registry_and_the_dependency_proxy_are_verified_and_stored_in_one_call() {
    let bed = TestBed::start();
    // A second real registry trusting the same GitLab plays the dependency proxy.
    let proxy = Registry::start(&bed.gitlab().realm());
    let run = ci_registry_login();
    let config = run.home().join(".docker/config.json");
    let out = run
        .envs(bed.ci_job_env("group/app"))
        .env("CI_DEPENDENCY_PROXY_SERVER", proxy.host_port())
        .args(["--push", "--dependency-proxy", "--engine", "auth-file"])
        .allow_secret_in(&config)
        .run()
        .expect_code(0);
    let said = out.said();
    let lines = summary_lines(&said);
    assert_eq!(lines.len(), 2, "one line per registry: {said}");
    assert!(
        lines[0].contains(&format!(
            "logged in to {}; using registry-user",
            bed.registry().host_port()
        )),
        "{said}"
    );
    assert!(lines[0].contains("granted pull,push"), "{said}");
    assert!(
        lines[1].contains(&format!(
            "logged in to {}; using job-token from CI_DEPENDENCY_PROXY_USER",
            proxy.host_port()
        )),
        "{said}"
    );
    assert!(
        lines[1].contains("to pull"),
        "the proxy serves pulls: {said}"
    );
    assert!(said.contains("is GitLab's dependency proxy"), "{said}");
    let proxy_checks: Vec<_> = bed
        .gitlab()
        .requests_to("/jwt/auth")
        .into_iter()
        .filter(|r| r.params("scope").is_empty() && r.authorization.is_some())
        .collect();
    assert!(
        !proxy_checks.is_empty(),
        "the proxy's credential is checked without a scope"
    );

    let json = read_json(&config);
    let auths = json["auths"].as_object().unwrap();
    assert_eq!(auths.len(), 2, "{auths:?}");
    let pushed = Skopeo::new(Credentials::AuthFile(config.clone())).push(
        &proxy.host_port(),
        "group/app",
        "via-proxy-credential",
    );
    assert!(
        pushed.status.success(),
        "the stored proxy credential works there: {}",
        String::from_utf8_lossy(&pushed.stderr)
    );
}

#[test]
fn one_unreachable_registry_fails_the_call_but_not_the_others() {
    let bed = TestBed::start();
    let good = bed.registry().host_port();
    for order in [
        ["127.0.0.1:1", good.as_str()],
        [good.as_str(), "127.0.0.1:1"],
    ] {
        let run = ci_registry_login();
        let config = run.home().join(".docker/config.json");
        let out = run
            .envs(bed.ci_job_env("group/app"))
            .env("REGISTRY_USER", "alice")
            .env("REGISTRY_PASSWORD", crate::support::world::ALICE_PAT_RW)
            .args(["--engine", "auth-file", "--retries", "1"])
            .args(["--registry", order[0], "--registry", order[1]])
            // With two registries the explicit token goes only where it is tied to.
            .args(["--password-for", order[0], "--password-for", order[1]])
            .allow_secret_in(&config)
            .run()
            .expect_code(5);
        let said = out.said();
        assert_eq!(summary_lines(&said).len(), 1, "{said}");
        assert!(said.contains(&format!("logged in to {good}")), "{said}");
        assert!(said.contains("ci-registry-login: error:"), "{said}");
        let json = read_json(&config);
        let keys: Vec<&String> = json["auths"].as_object().unwrap().keys().collect();
        assert_eq!(keys, [&good], "{order:?}");
    }
}

/// The dependency proxy's variables as GitLab.com sets them, for a fake host: nothing
/// is contacted with --no-verify.
const PROXY_JOB: [(&str, &str); 3] = [
    ("CI_DEPENDENCY_PROXY_SERVER", "gitlab.example.com:443"),
    ("CI_DEPENDENCY_PROXY_USER", "gitlab-ci-token"),
    (
        "CI_DEPENDENCY_PROXY_PASSWORD",
        "glcbt-64_proxy-job-Rm4Tx9Lc2",
    ),
];

#[test]
fn the_proxy_is_stored_with_and_without_its_port_and_logged_out_under_both() {
    let run = ci_registry_login();
    let config = run.home().join(".docker/config.json");
    let out = run
        .envs(PROXY_JOB)
        .args(["--no-verify", "--dependency-proxy", "--engine", "auth-file"])
        .allow_secret_in(&config)
        .run()
        .expect_code(0);
    assert!(
        out.said()
            .contains("logged in to gitlab.example.com:443 and gitlab.example.com;"),
        "{}",
        out.said()
    );
    let json = read_json(&config);
    let expected = STANDARD.encode("gitlab-ci-token:glcbt-64_proxy-job-Rm4Tx9Lc2");
    for key in ["gitlab.example.com:443", "gitlab.example.com"] {
        assert_eq!(json["auths"][key]["auth"], expected.as_str(), "{key}");
    }

    let out = ci_registry_login()
        .envs(PROXY_JOB)
        .args([
            "logout",
            "--dependency-proxy",
            "--engine",
            "auth-file",
            "--auth-file",
        ])
        .arg(&config)
        .allow_secret_in(&config)
        .run()
        .expect_code(0);
    assert_eq!(
        read_json(&config)["auths"],
        serde_json::json!({}),
        "{}",
        out.said()
    );
}

#[test]
fn tools_log_in_once_per_key() {
    // nerdctl is not packaged here: a stand-in that appends each argv it is given.
    let run = ci_registry_login();
    let fake = run.path("fake-bin");
    std::fs::create_dir_all(&fake).unwrap();
    let script = fake.join("nerdctl");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}/argv'\n/usr/bin/cat > /dev/null\n",
            fake.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run
        .env("PATH", &fake)
        .envs(PROXY_JOB)
        .args(["--no-verify", "--dependency-proxy", "--engine", "nerdctl"])
        .run()
        .expect_code(0);
    assert_eq!(
        std::fs::read_to_string(out.path("fake-bin/argv")).unwrap(),
        "login --username gitlab-ci-token --password-stdin gitlab.example.com:443\n\
         login --username gitlab-ci-token --password-stdin gitlab.example.com\n"
    );
}
