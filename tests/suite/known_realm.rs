//! Issue 15, item 2: the job's own registry's token is asked from the job's GitLab at
//! once, alongside the `/v2/` ping; the challenge still decides. A guess goes only to
//! `CI_SERVER_URL` with a credential GitLab set for the job; any other realm receives
//! credentials only after a challenge named it. Over loopback and over TLS.

use crate::support::delay_proxy::{DelayProxy, Traffic, What};
use crate::support::env::gitlab_job;
use crate::support::run::ci_registry_login;
use crate::support::world::*;
use crate::support::{GitLab, Registry, TestBed, World, assert_contains, fixture};
use std::time::Duration;

/// A job whose registry's challenge names the emulator's alias listener (127.0.0.2)
/// while `CI_SERVER_URL` names its primary one: a guess the challenge does not confirm.
struct Elsewhere {
    // The registry first: it never outlives its realm.
    registry: Registry,
    gitlab: GitLab,
}

impl Elsewhere {
    fn start() -> Elsewhere {
        let gitlab = GitLab::start(World::standard());
        let registry = Registry::start(&format!("{}/jwt/auth", gitlab.alias_url()));
        Elsewhere { registry, gitlab }
    }

    fn env(&self) -> Vec<(String, String)> {
        gitlab_job(
            &self.gitlab.world(),
            self.gitlab.url(),
            &self.registry.host_port(),
            "group/app",
        )
    }

    /// Token requests that reached (primary listener, alias listener).
    fn token_requests(&self) -> (usize, usize) {
        let asked = self.gitlab.requests_to("/jwt/auth");
        let alias = asked.iter().filter(|r| r.via_alias).count();
        (asked.len() - alias, alias)
    }
}

#[test]
fn the_jobs_registry_costs_one_token_request_when_the_challenge_confirms_the_guess() {
    let bed = TestBed::start();
    let env = bed.ci_job_env("group/app");
    ci_registry_login()
        .envs(env.clone())
        .args(["check", "--push"])
        .run()
        .expect_code(0);
    let asked = bed.gitlab().requests_to("/jwt/auth");
    assert_eq!(asked.len(), 1, "the early answer is used, not asked again");
    assert_eq!(asked[0].param("service"), Some("container_registry"));
    assert_eq!(
        asked[0].param("scope"),
        Some("repository:group/app:pull,push")
    );
    bed.gitlab().clear_requests();
    let run = ci_registry_login()
        .envs(env)
        .args(["login", "--push", "--engine", "auth-file"]);
    let config = run.home().join(".docker/config.json");
    run.allow_secret_in(config).run().expect_code(0);
    assert_eq!(bed.gitlab().requests_to("/jwt/auth").len(), 1);
}

#[test]
fn a_guess_the_challenge_does_not_confirm_is_asked_again_where_it_points() {
    let world = Elsewhere::start();
    let out = ci_registry_login()
        .envs(world.env())
        .args(["check", "--push", "-v"])
        .run()
        .expect_code(0);
    assert_contains(&out.stderr, "not the job's GitLab");
    // The early request went to CI_SERVER_URL, the GitLab that issued the job token;
    // the alias got its request only after the challenge named it.
    assert_eq!(world.token_requests(), (1, 1));
}

#[test]
fn a_credential_the_jobs_gitlab_did_not_issue_is_never_sent_ahead_of_the_challenge() {
    let world = Elsewhere::start();
    ci_registry_login()
        .envs(world.env())
        .envs([
            ("REGISTRY_USER", DEPLOY_RW_USER),
            ("REGISTRY_PASSWORD", DEPLOY_RW_TOKEN),
        ])
        .args(["check", "--push", "--use", "deploy-token"])
        .run()
        .expect_code(0);
    assert_eq!(world.token_requests(), (0, 1));
}

#[test]
fn outside_a_gitlab_job_nothing_is_guessed() {
    let world = Elsewhere::start();
    ci_registry_login()
        .envs(world.env())
        .env("GITLAB_CI", "false")
        .args(["check", "--push", "--use", "registry-user"])
        .run();
    assert_eq!(world.token_requests().0, 0, "nothing went to CI_SERVER_URL");
}

/// The bed behind the WAN benchmark's TLS delay proxies (no delay): the registry and
/// its realm on HTTPS, the early request on its own TLS connection.
#[test]
fn over_tls_the_delay_proxy_forwards_and_the_guess_is_confirmed() {
    let gitlab = GitLab::start(World::standard());
    let backend = |url: &str| url.trim_start_matches("http://").parse().unwrap();
    let gitlab_front = DelayProxy::start(backend(gitlab.url()));
    let registry = Registry::start(&format!("{}/jwt/auth", gitlab_front.url()));
    let registry_front = DelayProxy::start(backend(&registry.url()));
    let env = gitlab_job(
        &gitlab.world(),
        &gitlab_front.url(),
        &registry_front.host_port(),
        "group/app",
    );
    let run = ci_registry_login()
        .envs(env.clone())
        .env("CI_SERVER_TLS_CA_FILE", fixture("test-ca.crt"))
        .args(["login", "--push", "--engine", "auth-file"]);
    let config = run.home().join(".docker/config.json");
    run.allow_secret_in(config).run().expect_code(0);
    let requests = |front: &DelayProxy| -> Vec<String> {
        front
            .events()
            .into_iter()
            .filter_map(|e| match e.what {
                What::Request { method, path } => Some(format!("{method} {path}")),
                _ => None,
            })
            .collect()
    };
    assert_eq!(requests(&gitlab_front), ["GET /jwt/auth"]);
    assert_eq!(requests(&registry_front), ["GET /v2/"]);
    // Through the proxy, as the backend answered it.
    let asked = gitlab.requests_to("/jwt/auth");
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].status, Some(200));

    // With a delay, what the benchmark counts: the ping and the token, each on a TLS
    // connection of its own (the registry's port also sees the plain-HTTP probe).
    for front in [&gitlab_front, &registry_front] {
        front.clear();
        front.set_delay(Duration::from_millis(2));
    }
    ci_registry_login()
        .envs(env)
        .env("CI_SERVER_TLS_CA_FILE", fixture("test-ca.crt"))
        .args(["check", "--push"])
        .run()
        .expect_code(0);
    let mut events = gitlab_front.events();
    events.extend(registry_front.events());
    events.sort_by_key(|e| e.at);
    let traffic = Traffic::of(&events);
    assert_eq!(traffic.requests, 2, "{events:?}");
    assert!(traffic.connections >= 2, "{events:?}");
    assert!(traffic.round_trips >= 3, "{traffic:?}");
    drop(registry);
}
