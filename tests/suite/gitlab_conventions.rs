//! End to end, issue 7: fitting GitLab's conventions. `--report` leaves a dotenv for
//! `artifacts:reports:dotenv` and `--format json` carries the same facts; in a GitLab job
//! the detail folds into a collapsed log section with the summary outside; `NO_COLOR`
//! and `CI_DEBUG_TRACE` are honoured. Every run is leak-scanned.

use crate::support::assert_contains;

use crate::support::run::ci_registry_login;
use crate::support::world::*;
use crate::support::{Credentials, Skopeo, TestBed};
use std::collections::BTreeMap;

fn dotenv(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not KEY=value: {l}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn report_and_json_carry_the_same_facts_and_no_secret() {
    let bed = TestBed::start();
    let registry = bed.registry().host_port();
    let run = ci_registry_login();
    let report = run.path("registry-login.env");
    let auth_file = run.path("auth.json");
    let out = run
        .envs(bed.ci_job_env("group/app"))
        .allow_secret_in(&auth_file)
        .args([
            "login",
            "--push",
            "--engine",
            "auth-file",
            "--format",
            "json",
        ])
        .arg("--auth-file")
        .arg(&auth_file)
        .arg("--report")
        .arg(&report)
        .run()
        .expect_code(0);
    let facts = dotenv(&std::fs::read_to_string(&report).unwrap());
    let json = out.json();
    let chosen = &json["chosen"];
    assert_eq!(facts["CI_REGISTRY_LOGIN_REGISTRY"], registry);
    assert_eq!(json["registry"], registry);
    assert_eq!(facts["CI_REGISTRY_LOGIN_REPOSITORY"], "group/app");
    assert_eq!(json["repository"], "group/app");
    assert_eq!(facts["CI_REGISTRY_LOGIN_KIND"], "registry-user");
    assert_eq!(chosen["kind"], "registry-user");
    assert_eq!(facts["CI_REGISTRY_LOGIN_GRANTED"], "pull,push");
    assert_eq!(chosen["granted"], serde_json::json!(["pull", "push"]));
    assert_eq!(
        facts["CI_REGISTRY_LOGIN_EXPIRES_AT"],
        chosen["token_expires_at"]
    );
    assert_eq!(
        facts["CI_REGISTRY_LOGIN_TOKEN_LIFETIME"],
        chosen["token_lifetime_seconds"].to_string()
    );
    assert_eq!(facts["CI_REGISTRY_LOGIN_TOKEN_LIFETIME"], "300");
    let expires = &facts["CI_REGISTRY_LOGIN_EXPIRES_AT"];
    assert!(
        expires.len() == 20 && expires.ends_with('Z') && expires.as_bytes()[10] == b'T',
        "RFC 3339: {expires}"
    );
    assert_eq!(facts.len(), 6, "{facts:?}");
    // The login it reports works.
    let pushed = Skopeo::new(Credentials::AuthFile(auth_file)).push(&registry, "group/app", "r");
    assert!(pushed.status.success());
}

#[test]
fn unverified_report_claims_nothing_granted() {
    let bed = TestBed::start();
    let run = ci_registry_login();
    let report = run.path("registry-login.env");
    let auth_file = run.path("auth.json");
    // The outcome owns the run's folder, and with it the report.
    let _out = run
        .envs(bed.ci_job_env("group/app"))
        .allow_secret_in(&auth_file)
        .args(["login", "--pull", "--no-verify", "--engine", "auth-file"])
        .arg("--auth-file")
        .arg(&auth_file)
        .arg("--report")
        .arg(&report)
        .run()
        .expect_code(0);
    let facts = dotenv(&std::fs::read_to_string(&report).unwrap());
    assert_eq!(facts["CI_REGISTRY_LOGIN_KIND"], "registry-user");
    for absent in ["GRANTED", "EXPIRES_AT", "TOKEN_LIFETIME"] {
        assert!(
            !facts.contains_key(&format!("CI_REGISTRY_LOGIN_{absent}")),
            "{facts:?}"
        );
    }
}

#[test]
fn report_numbers_the_second_registry() {
    let bed = TestBed::start();
    let env = bed.ci_job_env("group/app");
    let proxy = env
        .iter()
        .find(|(k, _)| k == "CI_DEPENDENCY_PROXY_SERVER")
        .map(|(_, v)| v.clone())
        .unwrap();
    let run = ci_registry_login();
    let report = run.path("registry-login.env");
    let auth_file = run.path("auth.json");
    let _out = run
        .envs(env)
        .allow_secret_in(&auth_file)
        .args([
            "login",
            "--no-verify",
            "--dependency-proxy",
            "--engine",
            "auth-file",
        ])
        .arg("--auth-file")
        .arg(&auth_file)
        .arg("--report")
        .arg(&report)
        .run()
        .expect_code(0);
    let facts = dotenv(&std::fs::read_to_string(&report).unwrap());
    assert_eq!(
        facts["CI_REGISTRY_LOGIN_REGISTRY"],
        bed.registry().host_port()
    );
    assert_eq!(facts["CI_REGISTRY_LOGIN_REPOSITORY"], "group/app");
    assert_eq!(facts["CI_REGISTRY_LOGIN_REGISTRY_2"], proxy);
    assert!(facts.contains_key("CI_REGISTRY_LOGIN_KIND_2"), "{facts:?}");
    // The proxy holds none of the job's repositories.
    assert!(
        !facts.contains_key("CI_REGISTRY_LOGIN_REPOSITORY_2"),
        "{facts:?}"
    );
}

#[test]
fn unusable_report_path_is_refused_before_anything_happens() {
    let bed = TestBed::start();
    let run = ci_registry_login();
    let report = run.path("missing/registry-login.env");
    let out = run
        .envs(bed.ci_job_env("group/app"))
        .args(["login", "--engine", "auth-file", "--report"])
        .arg(&report)
        .run()
        .expect_code(2);
    assert_contains(out.said(), "--report");
    assert_contains(out.said(), "does not exist");
    assert!(bed.gitlab().requests().is_empty());
    assert!(!out.docker_config().exists());

    let out = ci_registry_login()
        .envs(bed.ci_job_env("group/app"))
        .args(["plan", "--report", "x.env"])
        .run()
        .expect_code(2);
    assert_contains(out.said(), "--report does not apply to plan");
    assert_contains(out.said(), "it is for login");
}

/// The stderr between a section's start and end markers, and what follows the end.
fn section(stderr: &str) -> (String, String) {
    let start = stderr.find("section_start:").expect("a section starts");
    let end = stderr.find("section_end:").expect("the section ends");
    assert!(start < end);
    (stderr[start..end].to_string(), stderr[end..].to_string())
}

#[test]
fn gitlab_job_log_folds_the_detail_and_keeps_the_summary_outside() {
    let bed = TestBed::start();
    let registry = bed.registry().host_port();
    let run = ci_registry_login();
    let auth_file = run.path("auth.json");
    let out = run
        .envs(bed.ci_job_env("group/app"))
        .allow_secret_in(&auth_file)
        .args([
            "login",
            "--push",
            "--engine",
            "auth-file",
            "-v",
            "--auth-file",
        ])
        .arg(&auth_file)
        .run()
        .expect_code(0);
    let name = format!("ci_registry_login_{}", registry.replace(':', "_"));
    let (inside, after) = section(&out.stderr);
    // GitLab's markers: erase-line, the marker, a carriage return, erase-line, the title.
    assert!(
        inside.starts_with("section_start:")
            && inside.contains(&format!(
                ":{name}[collapsed=true]\r\x1b[0Kci-registry-login: credentials for {registry}\n"
            )),
        "{inside:?}"
    );
    assert!(out.stderr.contains("\x1b[0Ksection_start:"));
    // Inside: the candidates table and the verification's logs.
    assert!(
        inside.contains("registry-user  CI_REGISTRY_USER"),
        "{inside}"
    );
    assert!(inside.contains("/jwt/auth"), "{inside}");
    assert!(!inside.contains("logged in to"), "{inside}");
    // Outside: the end marker, then the one-line summary.
    assert!(
        after.starts_with("section_end:") && after.contains(&format!(":{name}\r\x1b[0K\n")),
        "{after:?}"
    );
    assert!(
        after.contains(&format!("ci-registry-login: logged in to {registry}")),
        "{after}"
    );
    // NO_COLOR (the runner sets it) leaves the title plain.
    assert!(!out.stderr.contains("\x1b[36;1m"));

    let run = ci_registry_login();
    let auth_file = run.path("auth.json");
    let out = run
        .envs(bed.ci_job_env("group/app"))
        .env("NO_COLOR", "")
        .allow_secret_in(&auth_file)
        .args(["login", "--engine", "auth-file", "--auth-file"])
        .arg(&auth_file)
        .run()
        .expect_code(0);
    assert!(
        out.stderr
            .contains("\x1b[36;1mci-registry-login: credentials for"),
        "an empty NO_COLOR is no NO_COLOR"
    );
}

#[test]
fn no_sections_outside_gitlab_nor_with_quiet_or_json() {
    let bed = TestBed::start();
    let mut gcl = bed.gitlab_ci_local_env("group/app", false);
    gcl.retain(|(k, _)| k != "CI_REGISTRY" && k != "CI_REGISTRY_IMAGE");
    let job = bed.ci_job_env("group/app");
    let cases = [
        (&gcl, &["--registry"][..]),
        (&job, &["-q", "--registry"]),
        (&job, &["--format", "json", "--registry"]),
    ];
    for (env, args) in cases {
        let run = ci_registry_login();
        let auth_file = run.path("auth.json");
        let out = run
            .envs(env.iter().cloned())
            .env("REGISTRY_USER", "alice")
            .env("REGISTRY_PASSWORD", ALICE_PAT_RW)
            .allow_secret_in(&auth_file)
            .args(["login", "--engine", "auth-file", "--auth-file"])
            .arg(&auth_file)
            .args(args)
            .arg(bed.registry().host_port())
            .run()
            .expect_code(0);
        assert!(!out.stderr.contains("section_"), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn ci_debug_trace_is_warned_about_once() {
    let bed = TestBed::start();
    let out = ci_registry_login()
        .envs(bed.ci_job_env("group/app"))
        .env("CI_DEBUG_TRACE", "true")
        .args(["plan", "--push"])
        .run()
        .expect_code(0);
    assert_eq!(
        out.said().matches("CI_DEBUG_TRACE is on").count(),
        1,
        "{}",
        out.said()
    );
}
