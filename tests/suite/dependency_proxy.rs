//! End to end, issue 13 item 6: the dependency proxy, proven. GitLab accepting a login to
//! its dependency proxy proves no pull (reference 9.7, gitlab#362991), so with
//! `--dependency-proxy` the live check requests one manifest through the proxy (the
//! emulator serves it on GitLab's own host, reference 1.9) and reports what happened:
//! pulled, refused with GitLab's reason (exit 4), not found upstream, unreachable (exit 5).
//! The request log proves where the credential and the proxy's token went. Every run is
//! leak-scanned.

use crate::support::assert_contains;
use crate::support::gitlab::{Authorization, Fault, Times};
use crate::support::run::{Outcome, Run, ci_registry_login};
use crate::support::world::*;
use crate::support::{CI_CREDENTIALS, TestBed, World};

/// The proxy's host:port and its group image prefix for a job on group/app.
fn proxy_of(bed: &TestBed) -> (String, String) {
    let proxy = bed.gitlab().url().trim_start_matches("http://").to_string();
    let prefix = format!("{proxy}/group/dependency_proxy/containers");
    (proxy, prefix)
}

/// A job on group/app, checking the dependency proxy only (`--registry` names it).
fn proxy_job(bed: &TestBed) -> Run {
    let (proxy, _) = proxy_of(bed);
    ci_registry_login().envs(bed.ci_job_env("group/app")).args([
        "check",
        "--dependency-proxy",
        "--registry",
        proxy.as_str(),
    ])
}

/// Everything the binary said, report and warnings.
fn all(out: &Outcome) -> String {
    format!("{}\n{}", out.stdout, out.said())
}

const MANIFESTS: &str = "/v2/group/dependency_proxy/containers/";

/// The job's own credential (CI_DEPENDENCY_PROXY_USER/_PASSWORD) pulls the job's image
/// through the proxy; the Basic credential went only to the realm the proxy's challenge
/// named, the proxy's token only to the proxy.
#[test]
fn the_jobs_credential_pulls_the_jobs_image_through_the_proxy() {
    let bed = TestBed::start();
    let (_, prefix) = proxy_of(&bed);
    let out = proxy_job(&bed)
        .env("CI_JOB_IMAGE", format!("{prefix}/alpine:3.20"))
        .run()
        .expect_code(0);
    assert_contains(
        all(&out),
        "pulled the manifest of group/dependency_proxy/containers/alpine:3.20 (CI_JOB_IMAGE) through the dependency proxy (sha256:",
    );
    assert!(
        !all(&out).contains("does not prove a pull"),
        "{}",
        all(&out)
    );
    let log = bed.gitlab().requests();
    let tokens: Vec<_> = log.iter().filter(|r| r.path == "/jwt/auth").collect();
    assert!(!tokens.is_empty());
    for r in &tokens {
        assert_eq!(r.param("service"), Some("dependency_proxy"));
        assert_eq!(
            r.authorization,
            Some(Authorization::Basic("gitlab-ci-token".into()))
        );
    }
    assert!(
        tokens.iter().any(|r| r.param("scope")
            == Some("repository:group/dependency_proxy/containers/alpine:pull")),
        "the probe asks for the image's pull scope"
    );
    let manifests: Vec<_> = log
        .iter()
        .filter(|r| r.path.starts_with(MANIFESTS))
        .collect();
    assert_eq!(manifests.len(), 1, "one manifest: {manifests:?}");
    assert_eq!(
        manifests[0].path,
        format!("{MANIFESTS}alpine/manifests/3.20")
    );
    assert_eq!(manifests[0].authorization, Some(Authorization::Bearer));
    assert_eq!(manifests[0].status, Some(200));
    // Nothing else received a credential: the ping carries none.
    for r in log.iter().filter(|r| r.path == "/v2/") {
        assert_eq!(r.authorization, None, "{r:?}");
    }

    // `login` proves the same pull before it stores, with --proxy-probe naming a Docker
    // Hub image in the job's group.
    let run = ci_registry_login();
    let auth_file = run.path("auth.json");
    let (proxy, _) = proxy_of(&bed);
    let out = run
        .envs(bed.ci_job_env("group/app"))
        .allow_secret_in(&auth_file)
        .args(["login", "--dependency-proxy", "--registry", proxy.as_str()])
        .args(["--proxy-probe", "busybox:1.36", "--engine", "auth-file"])
        .arg("--auth-file")
        .arg(&auth_file)
        .run()
        .expect_code(0);
    assert_contains(
        all(&out),
        "pulled the manifest of group/dependency_proxy/containers/busybox:1.36 (--proxy-probe)",
    );
    assert!(auth_file.exists());
}

/// An image upstream does not have: the credential is accepted, the pull is not proven,
/// and the warning names what named the image.
#[test]
fn an_image_missing_upstream_is_reported_as_missing() {
    let bed = TestBed::start();
    let out = proxy_job(&bed)
        .args(["--proxy-probe", "alpine:0.0-missing"])
        .run()
        .expect_code(0);
    let said = all(&out);
    assert_contains(
        &said,
        "upstream has no group/dependency_proxy/containers/alpine:0.0-missing",
    );
    assert_contains(&said, "manifest unknown");
    assert_contains(
        &said,
        "--proxy-probe: group/dependency_proxy/containers/alpine:0.0-missing was not found upstream",
    );
    assert_contains(&said, "pull through the dependency proxy is not proven");
}

/// A user who cannot read the group is refused by the proxy: exit 4 with GitLab's
/// answer and what to do.
#[test]
fn a_user_without_access_to_the_group_is_refused_with_the_reason() {
    let bed = TestBed::start();
    let (proxy, _) = proxy_of(&bed);
    // alice, whom the job acts as, is no member of anything under `public`.
    let image = format!("{proxy}/public/dependency_proxy/containers/alpine:3.20");
    let out = proxy_job(&bed)
        .args(["--proxy-probe", image.as_str()])
        .run()
        .expect_code(4);
    let said = all(&out);
    assert_contains(
        &said,
        "refused to serve public/dependency_proxy/containers/alpine:3.20 (--proxy-probe): HTTP 403: denied: access forbidden",
    );
    assert_contains(&said, "must be able to read the group public");
    let manifest = bed
        .gitlab()
        .requests_to("/v2/public/dependency_proxy/containers/alpine/manifests/3.20");
    assert_eq!(manifest.len(), 1, "asked once, not retried");
    assert_eq!(manifest[0].status, Some(403));
}

const BOT_API: &str = "glpat-app-bot-api-Rk4Wn8Vb2Lx6Qj9Hs3";

/// Reference 9.7: a project access token cannot pull through the proxy. With read_api
/// GitLab's API says it is a bot's, and it is ruled out before the proxy sees it; without,
/// GitLab's token service still issues it a proxy token, and only the probe's manifest
/// request shows the refusal (403), which a plain login would never have seen.
#[test]
fn a_project_access_token_is_ruled_out() {
    let bed = TestBed::with_world({
        let mut w = World::standard();
        w.access_tokens.push(AccessToken::new(
            45,
            "app-bot-api",
            BOT_API,
            "project_10_bot_4f2a9c",
            &[Scope::ReadRegistry, Scope::WriteRegistry, Scope::ReadApi],
        ));
        w
    });
    let only_explicit = |bed: &TestBed, secret: &str| {
        let (proxy, prefix) = proxy_of(bed);
        ci_registry_login()
            .envs(without_job_credentials(bed))
            .env("REGISTRY_PASSWORD", secret)
            .env("CI_JOB_IMAGE", format!("{prefix}/alpine:3.20"))
            .args(["check", "--dependency-proxy", "--registry", proxy.as_str()])
    };
    let out = only_explicit(&bed, BOT_API).run().expect_code(4);
    assert_contains(
        all(&out),
        "a project access token cannot pull through the dependency proxy",
    );
    assert!(
        bed.gitlab().requests_to("/jwt/auth").is_empty(),
        "ruled out before the proxy"
    );

    bed.gitlab().clear_requests();
    let out = only_explicit(&bed, APP_BOT_TOKEN).run().expect_code(4);
    let said = all(&out);
    assert_contains(
        &said,
        "refused to serve group/dependency_proxy/containers/alpine:3.20 (CI_JOB_IMAGE): HTTP 403: denied: access forbidden",
    );
    assert_contains(
        &said,
        "a project access token never pulls through the dependency proxy (gitlab#332411)",
    );
    let manifests = bed
        .gitlab()
        .requests_to(&format!("{MANIFESTS}alpine/manifests/3.20"));
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0].status, Some(403));
}

/// With nothing to probe the output says plainly that the login proves no pull; and a
/// probe without the proxy is refused as bad usage.
#[test]
fn without_a_probe_image_the_pull_is_not_proven() {
    let bed = TestBed::start();
    let out = proxy_job(&bed).run().expect_code(0);
    assert_contains(
        all(&out),
        "GitLab accepting the login there does not prove a pull (gitlab#362991); pass --proxy-probe IMAGE",
    );
    let log = bed.gitlab().requests();
    assert!(
        log.iter().all(|r| !r.path.starts_with(MANIFESTS)),
        "{log:?}"
    );

    // The job's image from elsewhere is no probe of the proxy.
    let out = proxy_job(&bed)
        .env("CI_JOB_IMAGE", "docker.io/library/alpine:3.20")
        .run()
        .expect_code(0);
    assert_contains(all(&out), "does not prove a pull");

    let out = ci_registry_login()
        .envs(bed.ci_job_env("group/app"))
        .args(["check", "--proxy-probe", "alpine:3.20"])
        .run()
        .expect_code(2);
    assert_contains(
        all(&out),
        "--proxy-probe names an image to pull through the dependency proxy: it needs --dependency-proxy",
    );
}

/// A proxy that cannot answer the manifest request: exit 5, as any unreachable registry.
#[test]
fn an_unreachable_proxy_is_exit_5() {
    let bed = TestBed::start();
    bed.gitlab().inject(
        &format!("{MANIFESTS}alpine/manifests/3.20"),
        Fault::BadGateway,
        Times::Always,
    );
    let out = proxy_job(&bed)
        .args([
            "--proxy-probe",
            "alpine:3.20",
            "--retries",
            "2",
            "--retry-timeout",
            "2s",
        ])
        .run()
        .expect_code(5);
    assert_contains(
        all(&out),
        "the dependency proxy could not be asked for group/dependency_proxy/containers/alpine:3.20 (--proxy-probe)",
    );
}

/// Reference 1.9: GitLab's proxy token service wants read_registry and write_registry (or
/// api): a person's token with both pulls the probe; one that only reads is ruled out by
/// GitLab's API answer before the proxy sees it.
#[test]
fn a_personal_token_needs_both_registry_scopes_at_the_proxy() {
    let bed = TestBed::start();
    let (proxy, prefix) = proxy_of(&bed);
    let explicit = |secret: &str| {
        ci_registry_login()
            .envs(without_job_credentials(&bed))
            .env("REGISTRY_USER", "alice")
            .env("REGISTRY_PASSWORD", secret)
            .env("CI_JOB_IMAGE", format!("{prefix}/alpine:3.20"))
            .args(["check", "--dependency-proxy", "--registry", proxy.as_str()])
    };
    let out = explicit(ALICE_PAT_RW).run().expect_code(0);
    assert_contains(
        all(&out),
        "pulled the manifest of group/dependency_proxy/containers/alpine:3.20",
    );

    bed.gitlab().clear_requests();
    let out = explicit(ALICE_PAT_RO).run().expect_code(4);
    assert_contains(
        all(&out),
        "the dependency proxy needs read_registry and write_registry, or api, or read_virtual_registry",
    );
    assert!(
        bed.gitlab().requests_to("/jwt/auth").is_empty(),
        "ruled out before the proxy"
    );
}

/// The job on group/app without any credential of its own, the proxy's included.
fn without_job_credentials(bed: &TestBed) -> Vec<(String, String)> {
    let proxy_login = ["CI_DEPENDENCY_PROXY_USER", "CI_DEPENDENCY_PROXY_PASSWORD"];
    bed.ci_job_env_without("group/app", &[&CI_CREDENTIALS[..], &proxy_login].concat())
}
