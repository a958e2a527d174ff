//! End to end, issue 4: live verification through the registry's token handshake,
//! retries that never repeat a refusal, and a diagnosis for every known failure, each
//! produced by the emulator and the real registry. Every run is leak-scanned.

use crate::support::assert_contains;

use crate::support::http::{Reply, Response, Server};
use crate::support::run::{Outcome, Run, ci_registry_login};
use crate::support::world::*;
use crate::support::{CI_CREDENTIALS, Fault, TestBed, Times, World};
use std::sync::Arc;

/// A job on `project` with only the credentials in `extra` (the job's own removed).
fn bare_job(bed: &TestBed, project: &str, extra: &[(&str, &str)]) -> Run {
    ci_registry_login()
        .envs(bed.ci_job_env_without(project, &CI_CREDENTIALS))
        .envs(extra.iter().copied())
}

fn job(bed: &TestBed) -> Run {
    ci_registry_login().envs(bed.ci_job_env("group/app"))
}

fn token_requests(bed: &TestBed) -> usize {
    bed.gitlab().requests_to("/jwt/auth").len()
}

#[test]
fn a_read_only_credential_cannot_push_and_nothing_is_written() {
    let bed = TestBed::start();
    let deploy_ro = [
        ("CI_DEPLOY_USER", DEPLOY_RO_USER),
        ("CI_DEPLOY_PASSWORD", DEPLOY_RO_TOKEN),
    ];
    let out = bare_job(&bed, "group/app", &deploy_ro)
        .args(["check", "--push"])
        .run()
        .expect_code(4);
    assert!(
        out.stdout
            .contains("granted pull on group/app; push needs push (write_registry)"),
        "{}",
        out.stdout
    );
    let out = bare_job(&bed, "group/app", &deploy_ro)
        .args(["--push", "--engine", "auth-file"])
        .run()
        .expect_code(4);
    assert!(
        out.said()
            .contains("use a deploy token with write_registry"),
        "{}",
        out.said()
    );
    assert!(
        !out.docker_config().exists(),
        "a config was written for a credential that cannot push"
    );
    assert!(out.children.is_empty(), "an engine ran");
}

/// Candidates are tried one at a time in rank order and the first granted ends the
/// search (issue 11, finding 3): the lower-ranked deploy token and access token are
/// never sent, neither to the token service nor to the API.
#[test]
fn check_stops_at_the_first_granted_candidate() {
    let bed = TestBed::start();
    let out = job(&bed)
        .envs([
            ("CI_DEPLOY_USER", DEPLOY_RW_USER),
            ("CI_DEPLOY_PASSWORD", DEPLOY_RW_TOKEN),
            ("REGISTRY_PASSWORD", ALICE_PAT_RO),
        ])
        .args(["check", "--push"])
        .run()
        .expect_code(0);
    for column in ["KIND", "SOURCE", "GRANTED", "LIFETIME", "VERDICT"] {
        assert_contains(&out.stdout, column);
    }
    assert_contains(&out.stdout, "chosen: granted pull,push");

    bed.gitlab().clear_requests();
    let out = job(&bed)
        .envs([
            ("CI_DEPLOY_USER", DEPLOY_RW_USER),
            ("CI_DEPLOY_PASSWORD", DEPLOY_RW_TOKEN),
            ("REGISTRY_PASSWORD", ALICE_PAT_RO),
        ])
        .args(["check", "--push", "--format", "json"])
        .run()
        .expect_code(0);
    let plan = out.json();
    let by_kind = |kind: &str| {
        plan["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == kind)
            .unwrap()
            .clone()
    };
    assert_eq!(
        by_kind("registry-user")["granted"],
        serde_json::json!(["pull", "push"])
    );
    assert_eq!(by_kind("registry-user")["token_lifetime_seconds"], 300);
    for untried in ["deploy-token", "access-token"] {
        assert_eq!(
            by_kind(untried)["granted"],
            serde_json::Value::Null,
            "{untried}"
        );
    }
    // registry-user alone (job-token is the same secret); nothing asked the API.
    assert_eq!(token_requests(&bed), 1);
    let requests = bed.gitlab().requests();
    assert!(
        requests.iter().all(|r| !r.path.starts_with("/api/")),
        "{requests:?}"
    );

    // A lower-ranked candidate is tried when the higher one cannot serve the job.
    bed.gitlab().clear_requests();
    let out = job(&bed)
        .env_remove("CI_REGISTRY_USER")
        .env_remove("CI_REGISTRY_PASSWORD")
        .env_remove("CI_JOB_TOKEN")
        .envs([
            ("CI_DEPLOY_USER", DEPLOY_RW_USER),
            ("CI_DEPLOY_PASSWORD", DEPLOY_RW_TOKEN),
        ])
        .args(["check", "--push", "--format", "json"])
        .run()
        .expect_code(0);
    assert_eq!(out.json()["chosen"]["kind"], "deploy-token");
}

#[test]
fn a_live_grant_overrules_the_documentation() {
    let bed = TestBed::start();
    let only_job_token = [("CI_JOB_TOKEN", JOB_APP_TOKEN)];
    let out = bare_job(&bed, "group/app", &only_job_token)
        .args(["plan", "--push"])
        .run()
        .expect_code(3);
    assert_contains(&out.stdout, "documented without write_registry");
    let run =
        bare_job(&bed, "group/app", &only_job_token).args(["--push", "--engine", "auth-file"]);
    let config = run.home().join(".docker/config.json");
    let out = run.allow_secret_in(&config).run().expect_code(0);
    assert!(
        out.said()
            .contains("the documentation says a job-token cannot push, but this GitLab granted it"),
        "{}",
        out.said()
    );
}

#[test]
fn login_passes_over_a_candidate_that_cannot_push_and_says_why() {
    let bed = TestBed::start();
    let run = bare_job(
        &bed,
        "group/app",
        &[
            ("CI_DEPLOY_USER", DEPLOY_RO_USER),
            ("CI_DEPLOY_PASSWORD", DEPLOY_RO_TOKEN),
            ("REGISTRY_PASSWORD", ALICE_PAT_RW),
        ],
    )
    .args(["--push", "--engine", "auth-file"]);
    let config = run.home().join(".docker/config.json");
    let out = run.allow_secret_in(&config).run().expect_code(0);
    let said = out.said();
    assert!(
        said.contains("using access-token from REGISTRY_PASSWORD"),
        "{said}"
    );
    assert!(
        said.contains("deploy-token (CI_DEPLOY_USER) was not used: granted pull on group/app"),
        "{said}"
    );
}

#[test]
fn access_token_scopes_are_read_from_the_api_first() {
    let bed = TestBed::start();
    let out = bare_job(&bed, "group/app", &[("REGISTRY_PASSWORD", ALICE_PAT_RO)])
        .args(["check", "--push", "--format", "json"])
        .run()
        .expect_code(4);
    let c = &out.json()["candidates"][0];
    assert_eq!(c["token_scopes"], serde_json::json!(["read_registry"]));
    assert!(
        c["reason"]
            .as_str()
            .unwrap()
            .contains("push needs write_registry"),
        "{c}"
    );
    let api = bed
        .gitlab()
        .requests_to("/api/v4/personal_access_tokens/self");
    assert_eq!(api.len(), 1);
    assert!(api[0].header_names.contains(&"private-token".to_string()));
    assert_eq!(
        token_requests(&bed),
        0,
        "the registry was asked although the API already said no"
    );

    for (token, word) in [
        (ALICE_PAT_REVOKED, "revoked"),
        (ALICE_PAT_EXPIRED, "expired"),
    ] {
        bed.gitlab().clear_requests();
        let out = bare_job(&bed, "group/app", &[("REGISTRY_PASSWORD", token)])
            .arg("check")
            .run()
            .expect_code(4);
        assert!(out.stdout.contains(word), "{word}: {}", out.stdout);
        assert_eq!(
            token_requests(&bed),
            0,
            "{word}: a dead token was sent to /jwt/auth"
        );
    }
}

#[test]
fn transient_failures_are_retried() {
    let bed = TestBed::start();
    bed.gitlab()
        .inject("/jwt/auth", Fault::BadGateway, Times::First(2));
    let out = job(&bed)
        .args(["check", "--push", "-v"])
        .run()
        .expect_code(0);
    assert_eq!(token_requests(&bed), 3);
    assert!(
        out.stderr.matches("retrying").count() >= 2,
        "each retry is logged"
    );

    bed.gitlab().clear_requests();
    bed.gitlab()
        .inject("/jwt/auth", Fault::TooManyRequests, Times::First(1));
    job(&bed).args(["check", "--push"]).run().expect_code(0);
    assert_eq!(token_requests(&bed), 2);
}

#[test]
fn retries_stop_at_the_attempt_limit() {
    let bed = TestBed::start();
    bed.gitlab()
        .inject("/jwt/auth", Fault::BadGateway, Times::Always);
    let out = job(&bed)
        .args(["check", "--push", "--retries", "3"])
        .run()
        .expect_code(5);
    assert_eq!(token_requests(&bed), 3);
    assert_contains(&out.stdout, "HTTP 502");
}

#[test]
fn refusals_are_never_retried() {
    let bed = TestBed::start();
    // A 2FA user's password: 401.
    let out = bare_job(
        &bed,
        "group/app",
        &[
            ("REGISTRY_USER", "bob"),
            ("REGISTRY_PASSWORD", BOB_PASSWORD),
        ],
    )
    .arg("check")
    .run()
    .expect_code(4);
    assert_eq!(token_requests(&bed), 1);
    assert_contains(&out.stdout, "two-factor authentication");
    assert_contains(&out.stdout, "access token with read_registry");
    // A token without any registry scope: 403.
    bed.gitlab().clear_requests();
    let out = bare_job(&bed, "group/app", &[("REGISTRY_PASSWORD", ALICE_PAT_REPO)])
        .args(["check", "--gitlab-url", "http://127.0.0.1:9"]) // API unreachable: the registry decides
        .args(["--retries", "1"])
        .run()
        .expect_code(4);
    assert_eq!(token_requests(&bed), 1);
    assert_contains(&out.stdout, "no registry scope at all");
}

#[test]
fn a_finished_jobs_token_is_diagnosed() {
    let bed = TestBed::start();
    let out = bare_job(
        &bed,
        "group/app",
        &[("CI_JOB_TOKEN", JOB_APP_FINISHED_TOKEN)],
    )
    .arg("check")
    .run()
    .expect_code(4);
    assert_contains(&out.stdout, "works only while its job runs");
}

#[test]
fn a_redirect_at_the_token_endpoint_is_diagnosed_not_followed() {
    let bed = TestBed::start();
    let to = bed.gitlab().alias_url().to_string();
    bed.gitlab().inject(
        "/jwt/auth",
        Fault::Redirect { status: 302, to },
        Times::Always,
    );
    let out = job(&bed)
        .args(["--push", "--engine", "auth-file"])
        .run()
        .expect_code(4);
    assert_contains(out.said(), "redirected to");
    assert_contains(out.said(), "drops the Authorization header");
    let followed = bed
        .gitlab()
        .requests()
        .iter()
        .filter(|r| r.via_alias)
        .count();
    assert_eq!(followed, 0, "the redirect was followed");
    assert!(!out.docker_config().exists());
}

#[test]
fn a_proxy_stripping_authorization_is_named() {
    let bed = TestBed::start();
    bed.gitlab()
        .inject("/jwt/auth", Fault::StripAuthorization, Times::Always);
    let out = job(&bed).arg("check").run().expect_code(4);
    assert!(
        out.stdout
            .contains("the Authorization header is being lost on the way to /jwt/auth"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_job_token_for_another_project_mentions_the_allowlist() {
    let bed = TestBed::start();
    let out = ci_registry_login()
        .envs(bed.ci_job_env("group/other"))
        .args(["check", "--push", "--repository", "group/app"])
        .run()
        .expect_code(4);
    assert_contains(&out.stdout, "CI/CD job token allowlist");
    assert_contains(&out.stdout, "never pushes to another project");
}

#[test]
fn short_token_lifetimes_warn_for_pushes_only() {
    let mut world = World::standard();
    world.settings.token_lifetime_minutes = 1;
    let bed = TestBed::with_world(world);
    let out = job(&bed).args(["check", "--push"]).run().expect_code(0);
    assert!(
        out.said()
            .contains("registry tokens for this login live 1m"),
        "{}",
        out.said()
    );
    assert_contains(out.said(), "unauthorized: authentication required");
    for args in [
        &["check", "--push", "--min-token-lifetime", "30s"][..],
        &["check", "--pull"][..],
    ] {
        let out = job(&bed).args(args).run().expect_code(0);
        assert!(
            !out.said().contains("registry tokens for this login live"),
            "{args:?}: {}",
            out.said()
        );
    }
    // GitLab.com's 15 minutes pass the default threshold.
    let mut world = World::standard();
    world.settings = Settings::gitlab_com();
    let bed = TestBed::with_world(world);
    let out = job(&bed).args(["check", "--push"]).run().expect_code(0);
    assert_contains(&out.stdout, "15m");
    assert!(
        !out.said().contains("registry tokens for this login live"),
        "{}",
        out.said()
    );
}

#[test]
fn docker_auth_config_for_the_registry_is_flagged() {
    let bed = TestBed::start();
    let value = format!(
        r#"{{"auths":{{"{}":{{"auth":"cmVhZDpvbmx5"}}}}}}"#,
        bed.registry().host_port()
    );
    let out = job(&bed)
        .env("DOCKER_AUTH_CONFIG", value)
        .args(["plan", "--push"])
        .run()
        .expect_code(0);
    assert_contains(out.said(), "DOCKER_AUTH_CONFIG holds an entry for");
    let out = job(&bed)
        .env(
            "DOCKER_AUTH_CONFIG",
            r#"{"auths":{"elsewhere.example.com":{"auth":"eDp5"}}}"#,
        )
        .args(["plan", "--push"])
        .run()
        .expect_code(0);
    assert!(!out.said().contains("DOCKER_AUTH_CONFIG"), "{}", out.said());
}

#[test]
fn an_overridden_registry_user_is_diagnosed() {
    let bed = TestBed::start();
    let env: Vec<(String, String)> = bed
        .ci_job_env("group/app")
        .into_iter()
        .map(|(k, v)| {
            if k == "CI_REGISTRY_USER" {
                (k, "alice".to_string())
            } else {
                (k, v)
            }
        })
        .collect();
    let out = ci_registry_login()
        .envs(env)
        .args(["check", "--push"])
        .run()
        .expect_code(0);
    assert!(
        out.stdout
            .contains("a project or group variable probably overrides CI_REGISTRY_USER"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("chosen"),
        "the job token itself still works: {}",
        out.stdout
    );
}

fn tls_login(bed: &TestBed, extra: &[&str], env: &[(&str, &str)]) -> Outcome {
    let run = job(bed)
        .envs(env.iter().copied())
        .args(["--engine", "auth-file"])
        .args(extra);
    let config = run.home().join(".docker/config.json");
    run.allow_secret_in(config).run()
}

#[test]
fn tls_trust_comes_from_ca_files() {
    let bed = TestBed::with_world_tls(World::standard());
    let ca = crate::support::fixture("test-ca.crt");
    let out = tls_login(&bed, &[], &[]).expect_code(5);
    assert_contains(out.said(), "not signed by a known CA");
    assert_contains(out.said(), "CI_SERVER_TLS_CA_FILE");
    tls_login(&bed, &["--ca-file", ca.to_str().unwrap()], &[]).expect_code(0);
    tls_login(
        &bed,
        &[],
        &[("CI_SERVER_TLS_CA_FILE", ca.to_str().unwrap())],
    )
    .expect_code(0);
    let pem = std::fs::read_to_string(&ca).unwrap();
    tls_login(&bed, &[], &[("CI_SERVER_TLS_CA_FILE", &pem)]).expect_code(0);
    let out = tls_login(&bed, &["--ca-file", "/nonexistent/ca.pem"], &[]).expect_code(2);
    assert_contains(out.said(), "--ca-file");
}

/// Issue 15: where the server offers HTTP/2 (the distribution registry on TLS does,
/// through ALPN), it is used; the emulated GitLab on plain HTTP stays on HTTP/1.1.
#[test]
fn http2_is_negotiated_where_the_server_offers_it() {
    let bed = TestBed::with_world_tls(World::standard());
    let ca = crate::support::fixture("test-ca.crt");
    let out = tls_login(&bed, &["--ca-file", ca.to_str().unwrap()], &[]).expect_code(0);
    let answered = |version: &str| {
        out.stderr
            .lines()
            .filter(|l| l.contains("answered") && l.contains(version))
            .count()
    };
    assert!(
        answered("HTTP/2.0") >= 1,
        "the registry's ping: {}",
        out.stderr
    );
    assert!(
        answered("HTTP/1.1") >= 1,
        "the token service: {}",
        out.stderr
    );
}

#[test]
fn scheme_mismatches_are_explained() {
    let bed = TestBed::start();
    let host = bed.registry().host_port();
    let out = job(&bed)
        .args(["check", "--registry", &format!("https://{host}")])
        .run()
        .expect_code(5);
    assert_contains(&out.stdout, "speaks plain HTTP");
    let out = job(&bed)
        .args(["check", "--registry", "http://registry.example.com"])
        .run()
        .expect_code(2);
    assert_contains(out.said(), "needs --insecure");
}

#[test]
fn an_unknown_host_is_a_dns_error() {
    let out = ci_registry_login()
        .envs([
            ("REGISTRY_USER", "alice"),
            ("REGISTRY_PASSWORD", ALICE_PASSWORD),
        ])
        .args([
            "check",
            "--registry",
            "no-such-registry.invalid",
            "--retries",
            "1",
        ])
        .run()
        .expect_code(5);
    assert!(
        out.stdout
            .contains("cannot resolve 'no-such-registry.invalid'"),
        "{}",
        out.stdout
    );
}

/// A stand-in registry answering `/v2/` itself: open, or Basic auth with one user.
fn stub_registry(basic_user: Option<(&'static str, &'static str)>) -> Server {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let expected = basic_user.map(|(u, p)| crate::support::http::basic(u, p));
    Server::start(
        listener,
        Arc::new(move |request: &crate::support::http::Request| {
            let ok = match &expected {
                None => true,
                Some(e) => request.header("authorization") == Some(e.as_str()),
            };
            Reply::Now(if ok {
                Response::json(200, "{}")
            } else {
                Response::json(401, r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#)
                    .with_header("WWW-Authenticate", r#"Basic realm="registry""#)
            })
        }),
    )
}

#[test]
fn open_and_basic_auth_registries_work_too() {
    let open = stub_registry(None);
    let out = ci_registry_login()
        .envs([
            ("REGISTRY_USER", "alice"),
            ("REGISTRY_PASSWORD", ALICE_PASSWORD),
        ])
        .args([
            "check",
            "--registry",
            &open.addr().to_string(),
            "--repository",
            "group/app",
        ])
        .run()
        .expect_code(0);
    assert_contains(&out.stdout, "asks for no credentials");

    let basic = stub_registry(Some(("alice", ALICE_PASSWORD)));
    let registry = basic.addr().to_string();
    let out = ci_registry_login()
        .envs([
            ("REGISTRY_USER", "alice"),
            ("REGISTRY_PASSWORD", ALICE_PASSWORD),
        ])
        .args([
            "check",
            "--registry",
            &registry,
            "--repository",
            "group/app",
        ])
        .run()
        .expect_code(0);
    assert_contains(&out.stdout, "Basic auth");
    let out = ci_registry_login()
        .envs([
            ("REGISTRY_USER", "alice"),
            ("REGISTRY_PASSWORD", "wrong-password"),
        ])
        .args(["check", "--registry", &registry])
        .run()
        .expect_code(4);
    assert_contains(&out.stdout, "refused the credential");
}

#[test]
fn an_unreachable_registry_makes_check_exit_5() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    ci_registry_login()
        .envs([
            ("REGISTRY_USER", "alice"),
            ("REGISTRY_PASSWORD", ALICE_PASSWORD),
        ])
        .args([
            "check",
            "--registry",
            &format!("127.0.0.1:{port}"),
            "--retries",
            "1",
        ])
        .run()
        .expect_code(5);
}

#[test]
fn the_engines_login_is_retried_on_transient_failures() {
    let bed = TestBed::start();
    // Only docker's own token request meets the 502: our check is skipped.
    bed.gitlab()
        .inject("/jwt/auth", Fault::BadGateway, Times::First(1));
    let run = job(&bed).args(["--no-verify", "--engine", "docker"]);
    let config = run.home().join(".docker/config.json");
    let out = run.allow_secret_in(config).run().expect_code(0);
    assert_eq!(
        out.children_named("docker").len(),
        2,
        "docker login should have run twice"
    );
    assert_eq!(token_requests(&bed), 2);
}

/// A forward proxy for plain-HTTP requests that records each request line.
struct Proxy {
    addr: std::net::SocketAddr,
    seen: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Proxy {
    fn start() -> Proxy {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(client.try_clone().unwrap());
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    let mut head = Vec::new();
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                            break;
                        }
                        if !h.to_ascii_lowercase().starts_with("proxy-")
                            && !h.to_ascii_lowercase().starts_with("connection:")
                        {
                            head.push(h);
                        }
                    }
                    log.lock().unwrap().push(line.trim().to_string());
                    // "GET http://host:port/path HTTP/1.1" -> origin form to host:port.
                    let mut parts = line.split_whitespace();
                    let (method, target) = (parts.next().unwrap(), parts.next().unwrap());
                    let rest = target.strip_prefix("http://").unwrap();
                    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                    let mut upstream = std::net::TcpStream::connect(authority).unwrap();
                    write!(
                        upstream,
                        "{method} {path} HTTP/1.1\r\n{}Connection: close\r\n\r\n",
                        head.concat()
                    )
                    .unwrap();
                    let mut response = Vec::new();
                    upstream.read_to_end(&mut response).unwrap();
                    let mut client = client;
                    client.write_all(&response).unwrap();
                });
            }
        });
        Proxy { addr, seen }
    }
}

/// Issue 11, finding 9: plain HTTP is allowed for loopback because it never leaves the
/// machine; a proxy would carry the job token in clear. Loopback goes direct whatever
/// `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` say (a proxy is still used for other
/// hosts: tests/suite/hostile.rs `a_plain_http_realm_elsewhere_never_gets_credentials`).
#[test]
fn loopback_never_goes_through_a_proxy() {
    let bed = TestBed::start();
    let registry = format!("http://{}", bed.registry().host_port());
    let proxy = Proxy::start();
    let proxy_url = format!("http://{}", proxy.addr);
    for no_proxy in ["", "example.com"] {
        job(&bed)
            .envs([
                ("HTTP_PROXY", proxy_url.as_str()),
                ("HTTPS_PROXY", proxy_url.as_str()),
                ("ALL_PROXY", proxy_url.as_str()),
                ("NO_PROXY", no_proxy),
            ])
            .args(["check", "--push", "--registry", &registry])
            .run()
            .expect_code(0);
        let seen = proxy.seen.lock().unwrap().clone();
        assert!(seen.is_empty(), "loopback went through the proxy: {seen:?}");
    }
}
