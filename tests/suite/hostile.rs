//! Hostile and flaky servers. The binary must finish within its configured timeouts
//! (small ones are passed; elapsed time is never asserted) with exit 5, or 4 where the
//! server clearly refused; it must never send credentials to a plain-HTTP realm that is
//! not loopback, and never follow a redirect (so never carry Authorization to another
//! host). GitLab's misbehaviour comes from the emulator's fault switches; registry-side
//! hostility from small stubs on loopback. Every run is leak-scanned.

use crate::support::assert_contains;

use crate::support::http::{Reply, Request, Response, Server};
use crate::support::run::{Outcome, Run, ci_registry_login};
use crate::support::world::*;
use crate::support::{Fault, TestBed, Times};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Small limits, so that every hang ends quickly: two attempts, a second each.
const QUICK: [&str; 6] = ["--retries", "2", "--timeout", "1s", "--retry-timeout", "3s"];

/// The job's own environment on group/app, its own credentials only, writing the file.
fn job(bed: &TestBed) -> Run {
    ci_registry_login()
        .envs(bed.ci_job_env("group/app"))
        .args(["--engine", "auth-file"])
        .args(QUICK)
}

/// A stub server on loopback that records every request and answers with `answer`.
struct Stub {
    server: Server,
    log: Arc<Mutex<Vec<Request>>>,
}

impl Stub {
    fn start(answer: impl Fn(&Request, &str) -> Reply + Send + Sync + 'static) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&log);
        let server = Server::start(
            listener,
            Arc::new(move |r: &Request| {
                seen.lock().unwrap().push(r.clone());
                answer(r, &url)
            }),
        );
        Stub { server, log }
    }

    fn host_port(&self) -> String {
        self.server.addr().to_string()
    }

    fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }

    /// Requests that carried credentials of any kind.
    fn with_credentials(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|r| {
                r.header("Authorization").is_some()
                    || r.header("Proxy-Authorization").is_some()
                    || r.header("PRIVATE-TOKEN").is_some()
            })
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }
}

/// A registry stub whose `/v2/` challenge is `challenge`.
fn registry_challenging(challenge: impl Into<String>) -> Stub {
    let challenge = challenge.into();
    Stub::start(move |_, _| {
        Reply::Now(
            Response::json(401, r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#)
                .with_header("WWW-Authenticate", &challenge),
        )
    })
}

/// A laptop-style run against `registry` with alice's access token.
fn alice_to(registry: &str) -> Run {
    ci_registry_login()
        .envs([
            ("REGISTRY_USER", "alice"),
            ("REGISTRY_PASSWORD", ALICE_PAT_RW),
        ])
        .args(["--registry", registry, "--repository", "group/app"])
        .args(["--engine", "auth-file"])
        .args(QUICK)
}

fn said(out: &Outcome) -> String {
    out.said()
}

// ---------------------------------------------------------------------------
// The token endpoint misbehaves (GitLab emulator faults).

#[test]
fn broken_token_replies_are_unreachable_not_logins() {
    let cases = [
        (Fault::GarbageJson, "without a token"),
        (Fault::EmptyJson, "without a token"),
        (Fault::MalformedJwt, "unreadable token"),
        (Fault::HugeBody, "larger than"),
    ];
    for (fault, words) in cases {
        let bed = TestBed::start();
        bed.gitlab()
            .inject("/jwt/auth", fault.clone(), Times::Always);
        let out = job(&bed).run().expect_code(5);
        assert!(said(&out).contains(words), "{fault:?}: {}", said(&out));
        assert!(
            !out.docker_config().exists(),
            "{fault:?}: a login was stored"
        );
    }
}

#[test]
fn server_errors_are_retried_then_reported() {
    // Flaky: one 502, then GitLab answers. The retry hides it.
    let bed = TestBed::start();
    bed.gitlab()
        .inject("/jwt/auth", Fault::BadGateway, Times::First(1));
    let run = job(&bed);
    let config = run.home().join(".docker/config.json");
    run.allow_secret_in(&config).run().expect_code(0);
    let statuses: Vec<_> = bed
        .gitlab()
        .requests_to("/jwt/auth")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses[..2], [Some(502), Some(200)]);

    // Down for good: every attempt is used, then exit 5.
    for fault in [
        Fault::BadGateway,
        Fault::InternalError,
        Fault::TooManyRequests,
    ] {
        let bed = TestBed::start();
        bed.gitlab()
            .inject("/jwt/auth", fault.clone(), Times::Always);
        let out = job(&bed).run().expect_code(5);
        assert!(
            said(&out).contains("answered HTTP"),
            "{fault:?}: {}",
            said(&out)
        );
        assert_eq!(
            bed.gitlab().requests_to("/jwt/auth").len(),
            2,
            "{fault:?}: --retries 2 is two attempts"
        );
    }
}

#[test]
fn a_token_endpoint_that_never_answers_times_out() {
    for fault in [Fault::Hang, Fault::Delay(Duration::from_secs(3600))] {
        let bed = TestBed::start();
        bed.gitlab()
            .inject("/jwt/auth", fault.clone(), Times::Always);
        let out = job(&bed).run().expect_code(5);
        assert!(
            said(&out).contains("did not answer in time"),
            "{fault:?}: {}",
            said(&out)
        );
    }
}

#[test]
fn a_redirect_is_never_followed_so_credentials_stay_home() {
    let bed = TestBed::start();
    let to = bed.gitlab().alias_url().to_string();
    for status in [302, 307] {
        bed.gitlab().clear_requests();
        bed.gitlab().inject(
            "/jwt/auth",
            Fault::Redirect {
                status,
                to: to.clone(),
            },
            Times::Always,
        );
        let out = job(&bed).run().expect_code(4);
        assert_contains(said(&out), "redirected");
        let followed: Vec<_> = bed
            .gitlab()
            .requests()
            .into_iter()
            .filter(|r| r.via_alias)
            .collect();
        assert!(
            followed.is_empty(),
            "{status}: the redirect was followed: {followed:?}"
        );
        bed.gitlab().clear_faults();
    }
}

#[test]
fn an_endless_redirect_loop_ends_at_the_first_hop() {
    // The realm redirects to itself forever.
    let realm = Stub::start(|r, url| {
        Reply::Now(Response::empty(302).with_header("Location", &format!("{url}{}", r.path)))
    });
    let registry = registry_challenging(format!(
        r#"Bearer realm="http://{}/jwt/auth",service="container_registry""#,
        realm.host_port()
    ));
    let out = alice_to(&registry.host_port()).run().expect_code(4);
    assert_contains(said(&out), "redirected");
    assert_eq!(realm.requests().len(), 1, "a redirect was followed");

    // The registry's own /v2/ loops: reported, not followed.
    let looping = Stub::start(|r, url| {
        Reply::Now(Response::empty(302).with_header("Location", &format!("{url}{}", r.path)))
    });
    let out = alice_to(&looping.host_port()).run().expect_code(5);
    assert_contains(said(&out), "redirect");
    assert!(looping.with_credentials().is_empty());
    assert!(
        looping.requests().len() <= 2,
        "{} requests: a redirect was followed",
        looping.requests().len()
    );
}

// ---------------------------------------------------------------------------
// The registry misbehaves (stubs).

#[test]
fn a_challenge_without_a_realm_sends_nothing() {
    let registry = registry_challenging(r#"Bearer service="container_registry""#);
    let out = alice_to(&registry.host_port()).run().expect_code(5);
    assert_contains(said(&out), "without a realm");
    assert!(registry.with_credentials().is_empty());
}

#[test]
fn garbage_challenges_and_answers_are_unreachable() {
    for challenge in [
        r#"Bearer realm="unterminated"#,
        "Negotiate",
        r#"Bearer realm="ftp://gitlab.example.com/jwt/auth""#,
        r#"Bearer realm="not a url""#,
    ] {
        let registry = registry_challenging(challenge);
        let out = alice_to(&registry.host_port()).run().expect_code(5);
        assert!(
            registry.with_credentials().is_empty(),
            "{challenge}: credentials sent"
        );
        assert!(!said(&out).is_empty());
    }
    // Not a registry at all: a 10 MiB page.
    let huge = Stub::start(|_, _| {
        Reply::Now(Response::text(
            200,
            "text/html",
            vec![b'x'; crate::support::gitlab::HUGE_BODY_BYTES],
        ))
    });
    let out = alice_to(&huge.host_port()).run().expect_code(5);
    assert_contains(said(&out), "larger than");
}

/// The realm names a plain-HTTP host that is not loopback. All plain-HTTP traffic is
/// routed through a logging proxy on loopback (HTTP_PROXY), so a request to the realm,
/// had one been made, would be seen there.
#[test]
fn a_plain_http_realm_elsewhere_never_gets_credentials() {
    let proxy = Stub::start(|_, _| Reply::Now(Response::json(200, r#"{"token":"a.b.c"}"#)));
    let registry = registry_challenging(
        r#"Bearer realm="http://gitlab.example.com/jwt/auth",service="container_registry""#,
    );
    let via_proxy = |run: Run| {
        run.env("HTTP_PROXY", format!("http://{}", proxy.host_port()))
            .env("NO_PROXY", "127.0.0.1")
    };
    let out = via_proxy(alice_to(&registry.host_port()))
        .run()
        .expect_code(5);
    assert_contains(said(&out), "plain HTTP on a non-loopback host");
    assert_contains(said(&out), "none were sent");
    assert!(proxy.requests().is_empty(), "the realm was contacted");
    assert!(registry.with_credentials().is_empty());

    // The control: with --insecure the same realm is asked, through the proxy, so the
    // proxy would have seen the refused case too.
    via_proxy(alice_to(&registry.host_port()).arg("--insecure"))
        .run()
        .expect_code(5);
    let asked = proxy.requests();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].header("Host"), Some("gitlab.example.com"));
}

#[test]
fn a_registry_that_accepts_and_never_answers_times_out() {
    // Accepted by the kernel, never read: the listener is never polled.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let out = alice_to(&silent.local_addr().unwrap().to_string())
        .run()
        .expect_code(5);
    assert_contains(said(&out), "did not answer in time");
    // Reads the request, then nothing.
    let hung = Stub::start(|_, _| Reply::Never);
    let out = alice_to(&hung.host_port()).run().expect_code(5);
    assert_contains(said(&out), "did not answer in time");
    assert!(hung.with_credentials().is_empty());
}

#[test]
fn a_hostile_api_does_not_stop_a_good_token() {
    // The access token's scopes cannot be read; the registry still decides.
    for fault in [Fault::HugeBody, Fault::GarbageJson, Fault::Hang] {
        let bed = TestBed::start();
        bed.gitlab().inject(
            "/api/v4/personal_access_tokens/self",
            fault.clone(),
            Times::Always,
        );
        let run = job(&bed)
            .env("REGISTRY_USER", "alice")
            .env("REGISTRY_PASSWORD", ALICE_PAT_RW)
            .args(["--use", "access-token"]);
        let config = run.home().join(".docker/config.json");
        let out = run.allow_secret_in(&config).run().expect_code(0);
        // A warning in the log; the login line says what the registry granted.
        assert!(
            out.stderr.contains("cannot read the access token's scopes"),
            "{fault:?}: {}",
            said(&out)
        );
    }
}
