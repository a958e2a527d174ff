//! Issue 12: messages as a newcomer meets them. GitLab's log section markers belong in
//! a GitLab job log, not in a person's terminal: the shipped example variables file
//! sets `GITLAB_CI: "true"`; run in a terminal (a pseudo-terminal from `script`), the
//! login prints no raw markers; with `CI_REGISTRY_LOGIN_SECTIONS=always` it does.

use crate::support;
use crate::support::run::{Run, binary};
use std::path::PathBuf;

fn in_a_terminal(extra_env: &[(&str, &str)]) -> String {
    let example =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/gitlab-job.variables.yml");
    let run = Run::new(PathBuf::from("/usr/bin/script"));
    let config = run.path("config.json");
    let command = format!(
        "'{}' --no-verify --engine auth-file --auth-file '{}' --variables-file '{}'",
        binary().display(),
        config.display(),
        example.display()
    );
    let out = run
        .args(["-qec", &command, "/dev/null"])
        .envs(extra_env.iter().copied())
        .allow_secret_in(&config)
        .run()
        .expect_code(0);
    out.stdout
}

#[test]
fn a_terminal_gets_no_section_markers() {
    let shown = in_a_terminal(&[]);
    support::assert_contains(&shown, "logged in to registry.example.com");
    assert!(!shown.contains("section_start"), "{shown:?}");
    assert!(!shown.contains('\u{1b}'), "{shown:?}");
}

#[test]
fn sections_can_be_forced() {
    let shown = in_a_terminal(&[("CI_REGISTRY_LOGIN_SECTIONS", "always")]);
    support::assert_contains(&shown, "section_start:");
}

/// A network failure is said once, as a network failure (exit 5), never as a credential
/// verdict and never as Rust `Debug` text (`CI_REGISTRY=foo_bar` once gave "protocol
/// error: Label contains invalid characters: Err(Errors)").
#[test]
fn a_name_that_cannot_resolve_is_one_line_and_exit_5() {
    let out = support::run::ci_registry_login()
        .envs([
            ("CI_REGISTRY", "foo_bar"),
            ("CI_PROJECT_PATH", "group/app"),
            ("CI_JOB_TOKEN", "glcbt-64_messages-Hs2Lq"),
            ("CI_REGISTRY_USER", "gitlab-ci-token"),
            ("CI_REGISTRY_PASSWORD", "glcbt-64_messages-Hs2Lq"),
        ])
        .args(["--push", "--engine", "auth-file"])
        .run()
        .expect_code(5);
    let said = out.said();
    let errors: Vec<&str> = said.lines().filter(|l| l.contains("error:")).collect();
    assert_eq!(errors.len(), 1, "{said}");
    support::assert_contains(errors[0], "cannot reach foo_bar");
    support::assert_contains(errors[0], "'_' is not allowed in a DNS name");
    for debug in ["Err(", "Query {", "no credential can"] {
        assert!(!said.contains(debug), "{debug}: {said}");
    }
}

/// `--format json` promises JSON on stdout: also for a usage error (exit 2), and for
/// `logout`, which said nothing there before.
#[test]
fn json_is_printed_for_usage_errors_and_logout() {
    let out = support::run::ci_registry_login()
        .args(["plan", "--format", "json", "--registry", "bad host"])
        .run()
        .expect_code(2);
    let error = &out.json()["error"];
    assert_eq!(error["exit"], 2);
    support::assert_contains(error["message"].as_str().unwrap(), "--registry");

    let run = support::run::ci_registry_login();
    let config = run.path("config.json");
    std::fs::write(
        &config,
        r#"{"auths":{"registry.example.com":{"auth":"dTpw"},"other.example.com":{"auth":"dTpw"}}}"#,
    )
    .unwrap();
    let out = run
        .args(["logout", "--format", "json", "--engine", "auth-file"])
        .args([
            "--registry",
            "registry.example.com",
            "--registry",
            "nothing.example.com",
        ])
        .arg("--auth-file")
        .arg(&config)
        .run()
        .expect_code(0);
    let logout = out.json()["logout"].clone();
    assert_eq!(logout[0]["registry"], "registry.example.com");
    assert_eq!(logout[0]["removed"], true);
    assert_eq!(logout[1]["removed"], false);
}

/// Each command takes only the options it uses (issue 12, item 5): `logout --push`
/// once passed silently. An option the command does not take is refused by name before
/// anything happens (the stored login stays); `--ignore-inapplicable`, which the CI
/// templates give their logout, turns that into a warning.
#[test]
fn an_option_the_command_does_not_take_is_refused_by_name() {
    let stored = r#"{"auths":{"registry.example.com":{"auth":"dTpw"}}}"#;
    let logout = |extra: &[&str]| {
        let run = support::run::ci_registry_login();
        let config = run.path("config.json");
        std::fs::write(&config, stored).unwrap();
        let out = run
            .args(["logout", "--engine", "auth-file", "--registry"])
            .arg("registry.example.com")
            .arg("--auth-file")
            .arg(&config)
            .args(extra)
            .run();
        let left = std::fs::read_to_string(&config).unwrap();
        (out, left)
    };
    let refusal = "--push does not apply to logout (logout removes this registry's stored login whatever it may do); it is for login, plan, check";

    let (out, left) = logout(&["--push", "--use", "job-token", "--no-verify"]);
    let out = out.expect_code(2);
    assert_eq!(out.said(), format!("ci-registry-login: error: {refusal}"));
    assert_eq!(left, stored, "nothing happened");

    let (out, _) = logout(&["--format", "json", "--push"]);
    assert_eq!(out.expect_code(2).json()["error"]["message"], refusal);

    let (out, left) = logout(&["--push", "--ignore-inapplicable"]);
    let out = out.expect_code(0);
    support::assert_contains(
        out.said(),
        format!("warning: {refusal}: ignored (--ignore-inapplicable)"),
    );
    assert!(!left.contains("registry.example.com"), "{left}");

    // Before the command, an option is the command's all the same.
    let out = support::run::ci_registry_login()
        .args(["--bin-dir", "/nonexistent", "plan"])
        .run()
        .expect_code(2);
    support::assert_contains(
        out.said(),
        "--bin-dir does not apply to plan (plan is offline: it asks no one and stores nothing); it is for helper install",
    );
}

/// Each command's help lists the options it takes, and only those; `help COMMAND` is
/// the same help.
#[test]
fn each_help_shows_only_its_options() {
    let help = |args: &[&str]| {
        support::run::ci_registry_login()
            .args(args)
            .run()
            .expect_code(0)
            .stdout
    };
    let plan = help(&["plan", "--help"]);
    support::assert_contains(&plan, "--push");
    for absent in [
        "--engine",
        "--auth-file",
        "--no-verify",
        "--report",
        "--bin-dir",
    ] {
        assert!(
            !plan.contains(absent),
            "plan --help shows {absent}:\n{plan}"
        );
    }
    assert_eq!(help(&["help", "plan"]), plan);
    let logout = help(&["logout", "--help"]);
    support::assert_contains(&logout, "--engine");
    // Whole flags: logout takes --push-image and --pull-image (issue 14).
    let shows = |help: &str, flag: &str| {
        help.lines().any(|l| {
            l.split_whitespace()
                .any(|w| w.trim_end_matches(',') == flag)
        })
    };
    for absent in ["--push", "--pull", "--use", "--no-verify", "--repository"] {
        assert!(
            !shows(&logout, absent),
            "logout --help shows {absent}:\n{logout}"
        );
    }
    // It listed all 30 options in 143 lines.
    let helper = help(&["helper", "--help"]);
    assert!(helper.lines().count() < 100, "{helper}");
    support::assert_contains(&helper, "--bin-dir");
    assert!(
        !shows(&helper, "--push") && !shows(&helper, "--engine"),
        "{helper}"
    );
    let top = help(&["--help"]);
    support::assert_contains(&top, "Without a command, login runs");
    support::assert_contains(&top, "--report");
    assert!(!top.contains("--bin-dir"), "{top}");
}
