//! Issue 11: no credential reaches a host that did not issue it. Every host of the
//! matrix is a recording stub on loopback that speaks the token handshake and grants
//! whatever is asked (the worst case: a secret sent anywhere would "work" there), so
//! what each host ever received is the whole truth:
//!
//! - J: the job's registry (`CI_REGISTRY`), its realm at G1, the job's GitLab (which
//!   also serves the job's API);
//! - P: the job's dependency proxy (`CI_DEPENDENCY_PROXY_SERVER`), realm at G1;
//! - O1: another registry whose realm is on the same host;
//! - O2: another registry whose realm is elsewhere (T2);
//! - R2: another GitLab's registry, realm and API at G2.
//!
//! Each credential kind is checked alone (`--use`) against each target; the rule
//! (SECURITY.md): the job's secrets, and any secret equal to one or carrying `glcbt-`,
//! go to J, P and G1 only; an explicit credential to the registry it is tied to (by
//! default the call's one registry) and the realm that registry's challenge names; an
//! access token to the job's API only when it serves the job's registry or dependency proxy.

use crate::support::http::{Reply, Request, Response, Server};
use crate::support::run::ci_registry_login;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use std::collections::BTreeSet;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

const JOB_TOKEN: &str = "glcbt-64_binding-job-Hq3Lm8Zt5Rw1";
const DEPLOY_TOKEN: &str = "gldt-binding-deploy-Kp2Vn7Xc4Js9";
const VENDOR_PASSWORD: &str = "vendor-password-Tb6Gy1Wq8Md3";
const ACCESS_TOKEN: &str = "glpat-binding-access-Fz5Nc2Rk9Lp4";
/// A job token of this instance given by hand, not equal to the running job's.
const OTHER_JOB_TOKEN: &str = "glcbt-64_binding-other-Ds7Hx3Qv1Pe6";

/// Who sent what where: (host label, secret) for every credential any stub received;
/// a GitLab API request is labelled `G1 API`, apart from the same host's realm.
type Seen = Arc<Mutex<BTreeSet<(String, String)>>>;

/// A recording host. As a registry it challenges with `realm`; as a token service it
/// grants every action asked for; as a GitLab API it answers 404 (not applicable).
struct Host {
    server: Server,
}

impl Host {
    fn start(label: &'static str, seen: &Seen, realm: Option<String>) -> Host {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let own = listener.local_addr().unwrap();
        let realm = realm.unwrap_or_else(|| format!("http://{own}/jwt/auth"));
        let seen = Arc::clone(seen);
        let server = Server::start(
            listener,
            Arc::new(move |r: &Request| {
                record(label, r, &seen);
                answer(r, &realm)
            }),
        );
        Host { server }
    }

    fn host_port(&self) -> String {
        self.server.addr().to_string()
    }

    fn realm(&self) -> String {
        format!("http://{}/jwt/auth", self.host_port())
    }
}

fn record(label: &'static str, r: &Request, seen: &Seen) {
    let label = if r.path.starts_with("/api/") {
        format!("{label} API")
    } else {
        label.to_string()
    };
    let mut seen = seen.lock().unwrap();
    if let Some(basic) = r
        .header("Authorization")
        .and_then(|h| h.strip_prefix("Basic "))
        && let Some(pair) = STANDARD
            .decode(basic)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        && let Some((_, secret)) = pair.split_once(':')
    {
        seen.insert((label.clone(), secret.to_string()));
    }
    if let Some(token) = r.header("PRIVATE-TOKEN") {
        seen.insert((label, token.to_string()));
    }
}

fn answer(r: &Request, realm: &str) -> Reply {
    if r.path == "/v2/" {
        let challenge = format!(r#"Bearer realm="{realm}",service="container_registry""#);
        return Reply::Now(
            Response::json(401, r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#)
                .with_header("WWW-Authenticate", &challenge),
        );
    }
    if r.path == "/jwt/auth" {
        let access: Vec<serde_json::Value> = r
            .params("scope")
            .iter()
            .filter_map(|s| {
                let mut parts = s.splitn(3, ':');
                let (_, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                Some(serde_json::json!({
                    "type": "repository",
                    "name": name,
                    "actions": actions.split(',').collect::<Vec<_>>(),
                }))
            })
            .collect();
        let claims = serde_json::json!({"access": access, "iat": 1_000, "exp": 1_300});
        let token = format!(
            "eyJhbGciOiJSUzI1NiJ9.{}.c2ln",
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        return Reply::Now(Response::json(
            200,
            serde_json::json!({ "token": token }).to_string(),
        ));
    }
    Reply::Now(Response::json(404, r#"{"message":"404 Not Found"}"#))
}

/// The matrix's hosts, all recording into one set.
struct World {
    seen: Seen,
    g1: Host,
    j: Host,
    p: Host,
    o1: Host,
    t2: Host,
    o2: Host,
    g2: Host,
    r2: Host,
}

impl World {
    fn start() -> World {
        let seen: Seen = Arc::default();
        let g1 = Host::start("G1", &seen, None);
        let j = Host::start("J", &seen, Some(g1.realm()));
        let p = Host::start("P", &seen, Some(g1.realm()));
        let o1 = Host::start("O1", &seen, None);
        let t2 = Host::start("T2", &seen, None);
        let o2 = Host::start("O2", &seen, Some(t2.realm()));
        let g2 = Host::start("G2", &seen, None);
        let r2 = Host::start("R2", &seen, Some(g2.realm()));
        World {
            seen,
            g1,
            j,
            p,
            o1,
            t2,
            o2,
            g2,
            r2,
        }
    }

    /// A running GitLab job on group/app with every CI credential set.
    fn job_env(&self) -> Vec<(String, String)> {
        let j = self.j.host_port();
        let g1 = self.g1.host_port();
        [
            ("GITLAB_CI", "true".to_string()),
            ("CI", "true".to_string()),
            ("CI_REGISTRY", j.clone()),
            ("CI_REGISTRY_IMAGE", format!("{j}/group/app")),
            ("CI_PROJECT_PATH", "group/app".to_string()),
            ("CI_SERVER_URL", format!("http://{g1}")),
            ("CI_API_V4_URL", format!("http://{g1}/api/v4")),
            ("CI_REGISTRY_USER", "gitlab-ci-token".to_string()),
            ("CI_REGISTRY_PASSWORD", JOB_TOKEN.to_string()),
            ("CI_JOB_TOKEN", JOB_TOKEN.to_string()),
            ("CI_DEPLOY_USER", "gitlab+deploy-token-7".to_string()),
            ("CI_DEPLOY_PASSWORD", DEPLOY_TOKEN.to_string()),
            ("CI_DEPENDENCY_PROXY_SERVER", self.p.host_port()),
            ("CI_DEPENDENCY_PROXY_USER", "gitlab-ci-token".to_string()),
            ("CI_DEPENDENCY_PROXY_PASSWORD", JOB_TOKEN.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn taken(&self) -> BTreeSet<(String, String)> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

/// One credential under test: how it is offered, which `--use` picks it, its secret.
struct Credential {
    name: &'static str,
    kind: &'static str,
    env: &'static [(&'static str, &'static str)],
    secret: &'static str,
    /// The job's own secret (by variable, by value or by prefix).
    job_bound: bool,
}

const CREDENTIALS: [Credential; 7] = [
    Credential {
        name: "CI_REGISTRY_USER/PASSWORD",
        kind: "registry-user",
        env: &[],
        secret: JOB_TOKEN,
        job_bound: true,
    },
    Credential {
        name: "CI_JOB_TOKEN",
        kind: "job-token",
        env: &[],
        secret: JOB_TOKEN,
        job_bound: true,
    },
    Credential {
        name: "CI_DEPLOY_USER/PASSWORD",
        kind: "deploy-token",
        env: &[],
        secret: DEPLOY_TOKEN,
        job_bound: true,
    },
    Credential {
        name: "explicit password",
        kind: "password",
        env: &[
            ("REGISTRY_USER", "vendor"),
            ("REGISTRY_PASSWORD", VENDOR_PASSWORD),
        ],
        secret: VENDOR_PASSWORD,
        job_bound: false,
    },
    Credential {
        name: "explicit access token",
        kind: "access-token",
        env: &[("REGISTRY_PASSWORD", ACCESS_TOKEN)],
        secret: ACCESS_TOKEN,
        job_bound: false,
    },
    // Finding 11: the job's own token through another variable.
    Credential {
        name: "CI_JOB_TOKEN's value in REGISTRY_PASSWORD",
        kind: "job-token",
        env: &[("REGISTRY_PASSWORD", JOB_TOKEN)],
        secret: JOB_TOKEN,
        job_bound: true,
    },
    Credential {
        name: "a glcbt- token in REGISTRY_PASSWORD",
        kind: "job-token",
        env: &[("REGISTRY_PASSWORD", OTHER_JOB_TOKEN)],
        secret: OTHER_JOB_TOKEN,
        job_bound: true,
    },
];

#[test]
fn each_credential_reaches_only_the_hosts_it_is_bound_to() {
    let world = World::start();
    // (label, registry, the labels of its own hosts: itself and its realm)
    let targets: [(&str, String, &[&str]); 5] = [
        ("J", world.j.host_port(), &["J", "G1"]),
        ("P", world.p.host_port(), &["P", "G1"]),
        ("O1", world.o1.host_port(), &["O1"]),
        ("O2", world.o2.host_port(), &["O2", "T2"]),
        ("R2", world.r2.host_port(), &["R2", "G2"]),
    ];
    let job_hosts: BTreeSet<&str> = ["J", "P", "G1"].into();
    let mut reached = Vec::new();
    for credential in &CREDENTIALS {
        for (label, registry, own_hosts) in &targets {
            let intent = if *label == "P" { "--pull" } else { "--push" };
            let out = ci_registry_login()
                .envs(world.job_env())
                .envs(credential.env.iter().copied())
                .args(["check", intent, "--use", credential.kind])
                .args(["--registry", registry, "--repository", "group/app"])
                .args(["--retries", "1", "--timeout", "5s"])
                .run();
            let seen = world.taken();
            let mut allowed: BTreeSet<&str> = if credential.job_bound {
                job_hosts.clone()
            } else {
                own_hosts.iter().copied().collect()
            };
            // An access token's API is the job's GitLab only for the job's registry
            // (finding 4) and its dependency proxy, which that GitLab serves (issue 13,
            // item 6: a project access token is ruled out there by the API's answer).
            if credential.kind == "access-token" && matches!(*label, "J" | "P") {
                allowed.insert("G1 API");
            }
            for (host, secret) in &seen {
                // `--use job-token` also picks the job's own token: it goes to the
                // job's hosts like every job-bound secret.
                let job_secret = CREDENTIALS
                    .iter()
                    .any(|c| c.job_bound && c.secret == *secret);
                if job_secret && secret != credential.secret {
                    assert!(
                        job_hosts.contains(host.as_str()),
                        "--use {} against {label}: {host} received a job secret",
                        credential.kind
                    );
                    continue;
                }
                assert!(
                    secret == credential.secret,
                    "--use {} against {label}: {host} received another credential's secret:\n{}",
                    credential.kind,
                    out.said()
                );
                assert!(
                    allowed.contains(host.as_str()),
                    "{} against {label}: {host} received it (allowed: {allowed:?}):\n{}",
                    credential.name,
                    out.said()
                );
            }
            if seen.iter().any(|(_, s)| s == credential.secret) {
                reached.push((credential.name, *label));
            }
        }
    }
    // The recorders work: each credential did reach the registries it is bound to.
    for (name, label) in [
        ("CI_REGISTRY_USER/PASSWORD", "J"),
        ("CI_JOB_TOKEN", "P"),
        ("CI_DEPLOY_USER/PASSWORD", "J"),
        ("explicit password", "O1"),
        ("explicit password", "O2"),
        ("explicit access token", "R2"),
        ("explicit access token", "J"),
        ("explicit access token", "P"),
        ("CI_JOB_TOKEN's value in REGISTRY_PASSWORD", "P"),
        ("a glcbt- token in REGISTRY_PASSWORD", "J"),
    ] {
        assert!(
            reached.contains(&(name, label)),
            "{name} never reached {label}: {reached:?}"
        );
    }
    drop((world.o1, world.t2, world.o2, world.g2, world.r2));
}

/// Finding 3: a vendor password in REGISTRY_USER/REGISTRY_PASSWORD never reaches the
/// job's GitLab when a CI credential serves the job (it used to get a 401 on every run,
/// feeding GitLab's failed-login ban).
#[test]
fn an_explicit_credential_is_not_tried_when_a_ci_credential_serves() {
    let world = World::start();
    ci_registry_login()
        .envs(world.job_env())
        .envs([
            ("REGISTRY_USER", "vendor"),
            ("REGISTRY_PASSWORD", VENDOR_PASSWORD),
        ])
        .args(["check", "--push"])
        .run()
        .expect_code(0);
    let seen = world.taken();
    assert_eq!(
        seen,
        BTreeSet::from([("G1".to_string(), JOB_TOKEN.to_string())]),
        "only the chosen job token was sent, once, to the job's GitLab"
    );
}

/// With several registries an explicit credential goes only where `--password-for`
/// ties it; untied, it goes nowhere and the plan says why.
#[test]
fn with_several_registries_an_explicit_credential_needs_to_be_tied() {
    let world = World::start();
    let o1 = world.o1.host_port();
    let o2 = world.o2.host_port();
    let vendor = [
        ("REGISTRY_USER", "vendor"),
        ("REGISTRY_PASSWORD", VENDOR_PASSWORD),
    ];
    let out = ci_registry_login()
        .envs(vendor)
        .args(["check", "--push", "--repository", "group/app"])
        .args(["--registry", &o1, "--registry", &o2])
        .run()
        .expect_code(3);
    assert!(world.taken().is_empty());
    crate::support::assert_contains(&out.stdout, "--password-for");

    ci_registry_login()
        .envs(vendor)
        .args(["check", "--push", "--repository", "group/app"])
        .args(["--registry", &o1, "--registry", &o2, "--password-for", &o2])
        .run()
        .expect_code(3);
    let seen = world.taken();
    assert!(
        seen.iter()
            .all(|(host, _)| ["O2", "T2"].contains(&host.as_str()))
            && !seen.is_empty(),
        "{seen:?}"
    );
}
