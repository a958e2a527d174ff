//! End to end, issue 14: the whole job proven before the build. Every image a job
//! pulls (flags, `CI_JOB_IMAGE`, each Dockerfile stage) and every tag it pushes, on the
//! GitLab registry (emulator, with protected and immutable tags per reference 9.3) and
//! on a second real registry with Docker Hub's token semantics (support/hub.rs).
//! Every run is leak-scanned.

use crate::support::assert_contains;
use crate::support::hub::{Hub, HubUser};
use crate::support::run::{Run, ci_registry_login};
use crate::support::world::*;
use crate::support::{TestBed, World, skopeo_push};
use base64::Engine;
use std::path::{Path, PathBuf};

const PUBLISHER: &str = "publisher";
const PUBLISHER_PASSWORD: &str = "publisher-password-Kd8Rq2Lm";
const ROBOT: &str = "robot$ci";
const ROBOT_PASSWORD: &str = "harbor-robot-secret-Wn5Tz1Pq";

/// A docker config with one login, for skopeo.
fn auth_file(dir: &Path, host: &str, user: &str, secret: &str) -> PathBuf {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
    let path = dir.join(format!("auth-{}.json", host.replace(':', "_")));
    let json = serde_json::json!({"auths": {host: {"auth": auth}}});
    std::fs::write(&path, json.to_string()).unwrap();
    path
}

#[track_caller]
fn push_image(auth: &Path, host: &str, repo: &str, tag: &str) {
    let out = skopeo_push(auth, host, repo, tag);
    assert!(
        out.status.success(),
        "skopeo push {host}/{repo}:{tag}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Pushes images to the GitLab registry as alice (Developer on group/app).
fn seed_gitlab(bed: &TestBed, images: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let host = bed.registry().host_port();
    let auth = auth_file(dir.path(), &host, "alice", ALICE_PAT_RW);
    for (repo, tag) in images {
        push_image(&auth, &host, repo, tag);
    }
}

fn hub() -> Hub {
    let hub = Hub::start(
        &["library/alpine", "library/golang"],
        vec![
            HubUser {
                name: PUBLISHER.into(),
                password: PUBLISHER_PASSWORD.into(),
                pull: vec![],
                push: vec![String::new()],
            },
            HubUser {
                name: ROBOT.into(),
                password: ROBOT_PASSWORD.into(),
                pull: vec!["team/".into()],
                push: vec![],
            },
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let auth = auth_file(dir.path(), &hub.host_port(), PUBLISHER, PUBLISHER_PASSWORD);
    for (repo, tag) in [
        ("library/alpine", "3.20"),
        ("library/golang", "1.23"),
        ("team/base", "1"),
    ] {
        push_image(&auth, &hub.host_port(), repo, tag);
    }
    hub
}

fn job(bed: &TestBed) -> Run {
    ci_registry_login()
        .envs(bed.ci_job_env("group/app"))
        .secret(PUBLISHER_PASSWORD)
        .secret(ROBOT_PASSWORD)
}

fn token_requests(bed: &TestBed) -> usize {
    bed.gitlab().requests_to("/jwt/auth").len()
}

/// group/app protects `v*` tags for Maintainers and makes `release-*` immutable.
fn tag_rules_world() -> World {
    let mut world = World::standard();
    let app = world.project_mut("group/app");
    app.tag_protection.push(TagProtection {
        pattern: r"^v\d+".into(),
        min_push_level: Role::Maintainer,
    });
    app.immutable_tags.push("^release-".into());
    world
}

#[test]
fn a_protected_tag_is_refused_for_a_developer_and_passes_for_a_maintainer() {
    let bed = TestBed::with_world(tag_rules_world());
    // The job runs as alice, a Developer.
    let out = job(&bed)
        .args(["check", "--tag", "v1.2.3", "--tag", "main"])
        .run()
        .expect_code(4);
    assert_contains(&out.stdout, "group/app:v1.2.3");
    assert_contains(&out.stdout, "refused");
    assert_contains(&out.stdout, r"tag v1.2.3 is protected: the rule '^v\d+'");
    assert_contains(out.said(), "2 images: push");
    // One token request for both tags.
    assert_eq!(token_requests(&bed), 1);

    // The same job started by a Maintainer.
    bed.gitlab().edit_world(|w| {
        w.users.push(
            User::new(105, "mia", Some("mia-password-Qx7Lp3Vz"))
                .member_of("group/app", Role::Maintainer),
        );
        w.jobs.iter_mut().find(|j| j.id == 9001).unwrap().user = Some("mia".into());
    });
    let out = job(&bed)
        .args(["check", "--tag", "v1.2.3", "--tag", "main"])
        .run()
        .expect_code(0);
    assert_contains(out.said(), "2 images: all reachable");
}

#[test]
fn an_existing_immutable_tag_is_refused_and_a_new_one_passes() {
    let bed = TestBed::with_world(tag_rules_world());
    seed_gitlab(&bed, &[("group/app", "release-1")]);
    let out = job(&bed)
        .args(["check", "--tag", "release-1"])
        .run()
        .expect_code(4);
    assert_contains(
        &out.stdout,
        "tag release-1 exists and matches the immutable tag rule '^release-': nobody may overwrite it",
    );
    let out = job(&bed)
        .args(["check", "--tag", "release-2", "--format", "json"])
        .run()
        .expect_code(0);
    let json = out.json();
    assert_eq!(json["images"][0]["verdict"], "ok", "{json}");
    assert!(
        json["images"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("tag release-2 is new"),
        "{json}"
    );
}

/// A realistic three-stage Dockerfile: a builder from the job's own project, a tool
/// stage from another project, the runtime from Docker Hub's stand-in.
fn three_stages(bed: &TestBed, hub: &str) -> String {
    let gitlab = bed.registry().host_port();
    format!(
        "# syntax=docker/dockerfile:1\n\
         ARG RUNTIME={hub}/library/alpine:3.20\n\
         FROM --platform=$BUILDPLATFORM {gitlab}/group/app/builder:1 AS build\n\
         RUN make\n\
         FROM {gitlab}/group/other/tools:2 AS tools\n\
         FROM ${{RUNTIME}}\n\
         COPY --from=build /out /app\n\
         COPY --from=tools /bin/t /bin/t\n"
    )
}

#[test]
fn a_stage_from_a_project_off_the_allowlist_fails_with_the_allowlist_fix() {
    let mut world = World::standard();
    world
        .user_mut("alice")
        .memberships
        .insert("group/other".into(), Role::Developer);
    let bed = TestBed::with_world(world);
    let hub = hub();
    seed_gitlab(
        &bed,
        &[("group/app/builder", "1"), ("group/other/tools", "2")],
    );
    let run = job(&bed);
    std::fs::write(run.path("Dockerfile"), three_stages(&bed, &hub.host_port())).unwrap();
    let dockerfile = run.path("Dockerfile");
    let out = run
        .args(["check", "--tag", "v1"])
        .arg("--dockerfile")
        .arg(&dockerfile)
        .run()
        .expect_code(4);
    assert_contains(
        &out.stdout,
        "the job token may not pull group/other/tools: add this project (group/app) to the CI/CD job token allowlist",
    );
    assert_contains(&out.stdout, "Dockerfile:5");

    // The fix named: group/other admits group/app.
    bed.gitlab().edit_world(|w| {
        w.project_mut("group/other")
            .job_token_allowlist
            .push("group/app".into())
    });
    bed.gitlab().clear_requests();
    let run = job(&bed);
    std::fs::write(run.path("Dockerfile"), three_stages(&bed, &hub.host_port())).unwrap();
    let dockerfile = run.path("Dockerfile");
    let before = hub.requests().len();
    let out = run
        .args(["check", "--tag", "v1"])
        .arg("--dockerfile")
        .arg(&dockerfile)
        .run()
        .expect_code(0);
    assert_contains(out.said(), "4 images: all reachable");
    // The issue's measure: one token request per registry host and action set.
    assert_eq!(
        token_requests(&bed),
        1,
        "{:?}",
        bed.gitlab().requests_to("/jwt/auth")
    );
    let scopes = &bed.gitlab().requests_to("/jwt/auth")[0];
    assert_eq!(
        scopes.params("scope"),
        vec![
            "repository:group/app:pull,push",
            "repository:group/app/builder:pull",
            "repository:group/other/tools:pull",
        ]
    );
    let hub_requests = &hub.requests()[before..];
    assert_eq!(hub_requests.len(), 1);
    assert_eq!(
        hub_requests[0].scopes,
        vec!["repository:library/alpine:pull"]
    );
    assert_eq!(hub_requests[0].status, 200);
}

#[test]
fn an_anonymous_pull_from_a_public_registry_passes_with_the_rate_limit_note() {
    let bed = TestBed::start();
    let hub = hub();
    let seeded = hub.requests().len();
    let out = job(&bed)
        .args(["check", "--pull-image"])
        .arg(format!("{}/library/alpine:3.20", hub.host_port()))
        .run()
        .expect_code(0);
    assert_contains(&out.stdout, "anonymous");
    assert_contains(out.said(), "10 pulls per hour per IPv4 address");
    assert_contains(out.said(), "dependency proxy");
    assert_contains(out.said(), "1 image: all reachable");
    let requests = &hub.requests()[seeded..];
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].user, None);
    // No GitLab credential went to the other registry's token service.
    assert_eq!(token_requests(&bed), 0);
}

#[test]
fn a_harbor_integration_credential_is_found_and_verified() {
    let bed = TestBed::start();
    let hub = hub();
    let image = format!("{}/team/base:1", hub.host_port());
    let harbor = [
        ("HARBOR_HOST", hub.host_port()),
        ("HARBOR_URL", format!("http://{}", hub.host_port())),
        ("HARBOR_PROJECT", "team".to_string()),
        ("HARBOR_USERNAME", ROBOT.to_string()),
        ("HARBOR_PASSWORD", ROBOT_PASSWORD.to_string()),
    ];
    let out = job(&bed)
        .envs(harbor.clone())
        .args(["plan", "--pull-image", &image])
        .run()
        .expect_code(0);
    assert_contains(&out.stdout, "from HARBOR_USERNAME (user robot$ci)");
    let out = job(&bed)
        .envs(harbor.clone())
        .args(["check", "--pull-image", &image])
        .run()
        .expect_code(0);
    assert_contains(&out.stdout, "from HARBOR_USERNAME");
    assert_contains(out.said(), "1 image: all reachable");
    let requests = hub.requests();
    assert_eq!(requests.last().unwrap().user.as_deref(), Some(ROBOT));

    // login: one login for the Harbor host, none for anything anonymous.
    let run = job(&bed);
    let stored = run.home().join(".docker/config.json");
    let out = run
        .envs(harbor)
        .args(["login", "--engine", "auth-file", "--pull-image", &image])
        .arg("--pull-image")
        .arg(format!("{}/library/alpine:3.20", hub.host_port()))
        .allow_secret_in(&stored)
        .run()
        .expect_code(0);
    let config = crate::support::read_json(&out.docker_config());
    assert!(
        config["auths"][hub.host_port()]["auth"].is_string(),
        "{config}"
    );
    assert_eq!(config["auths"].as_object().unwrap().len(), 1, "{config}");
    assert_contains(out.said(), "from HARBOR_USERNAME; stored by auth-file");

    // logout with the same flags clears the Harbor host's entry.
    let run = job(&bed);
    let stored = run.home().join(".docker/config.json");
    std::fs::create_dir_all(stored.parent().unwrap()).unwrap();
    std::fs::write(&stored, config.to_string()).unwrap();
    let out = run
        .envs([
            ("HARBOR_HOST", hub.host_port()),
            ("HARBOR_USERNAME", ROBOT.to_string()),
            ("HARBOR_PASSWORD", ROBOT_PASSWORD.to_string()),
        ])
        .args(["logout", "--engine", "auth-file", "--pull-image", &image])
        .allow_secret_in(&stored)
        .run()
        .expect_code(0);
    let config = crate::support::read_json(&out.docker_config());
    assert!(config["auths"].get(hub.host_port()).is_none(), "{config}");
}

#[test]
fn a_named_credential_goes_to_its_host_only() {
    let bed = TestBed::start();
    let hub = hub();
    let seeded = hub.requests().len();
    // A credential named for another host, and the job's own: neither reaches the hub.
    let out = job(&bed)
        .env("QUAY_USER", "q")
        .env("QUAY_TOKEN", "quay-token-Vb7Nc2Xz9Lk")
        .secret("quay-token-Vb7Nc2Xz9Lk")
        .args([
            "check",
            "--credential",
            "quay.example.com=QUAY_USER:QUAY_TOKEN",
        ])
        .arg("--pull-image")
        .arg(format!("{}/library/alpine:3.20", hub.host_port()))
        .run()
        .expect_code(0);
    assert_contains(&out.stdout, "anonymous");
    let requests = &hub.requests()[seeded..];
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].user, None);

    // Named for the hub, it is used there, and a wrong one is refused (exit 4).
    let out = job(&bed)
        .env("HUB_USER", ROBOT)
        .env("HUB_TOKEN", "not-the-password-Hs3Kq8")
        .secret("not-the-password-Hs3Kq8")
        .arg("check")
        .arg("--credential")
        .arg(format!("{}=HUB_USER:HUB_TOKEN", hub.host_port()))
        .arg("--pull-image")
        .arg(format!("{}/team/base:1", hub.host_port()))
        .run()
        .expect_code(4);
    assert_contains(&out.stdout, "incorrect username or password");
    assert_eq!(hub.requests().last().unwrap().user.as_deref(), Some(ROBOT));
}

#[test]
fn a_missing_base_image_is_reported_as_missing_not_as_a_credential_problem() {
    let bed = TestBed::start();
    let hub = hub();
    let run = job(&bed);
    std::fs::write(
        run.path("Containerfile"),
        format!(
            "FROM {}/library/alpine:3.99\nFROM {}/group/app/base:1\n",
            hub.host_port(),
            bed.registry().host_port()
        ),
    )
    .unwrap();
    let file = run.path("Containerfile");
    let out = run
        .arg("check")
        .arg("--dockerfile")
        .arg(&file)
        .run()
        .expect_code(4);
    assert_contains(&out.stdout, "missing");
    assert_contains(
        &out.stdout,
        format!(
            "{}/library/alpine:3.99 does not exist on {}",
            hub.host_port(),
            hub.host_port()
        ),
    );
    assert_contains(&out.stdout, "the credential is fine");
    assert!(!out.stdout.contains("refused"), "{}", out.stdout);
}

#[test]
fn an_unresolvable_arg_is_reported_not_guessed() {
    let bed = TestBed::start();
    let run = job(&bed);
    std::fs::write(run.path("Dockerfile"), "ARG BASE\nFROM $BASE\n").unwrap();
    let file = run.path("Dockerfile");
    let out = run
        .arg("check")
        .arg("--dockerfile")
        .arg(&file)
        .run()
        .expect_code(2);
    assert_contains(&out.stdout, "unresolved");
    assert_contains(&out.stdout, "ARG BASE has no value");
    assert_eq!(token_requests(&bed), 0);
}

#[test]
fn a_login_proves_the_job_first_and_stops_before_any_login() {
    let bed = TestBed::with_world(tag_rules_world());
    let out = job(&bed)
        .args(["login", "--engine", "auth-file", "--tag", "v2"])
        .run()
        .expect_code(4);
    assert_contains(&out.stdout, "tag v2 is protected");
    assert!(!out.docker_config().exists(), "nothing is stored");
    let run = job(&bed);
    let stored = run.home().join(".docker/config.json");
    let out = run
        .args([
            "login",
            "--engine",
            "auth-file",
            "--tag",
            "feature",
            "--report",
            "login.env",
        ])
        .allow_secret_in(&stored)
        .run()
        .expect_code(0);
    let report = std::fs::read_to_string(out.path("login.env")).unwrap();
    assert_contains(&report, "CI_REGISTRY_LOGIN_IMAGES=1\n");
    assert_contains(
        &report,
        format!(
            "CI_REGISTRY_LOGIN_IMAGE_1=push {}/group/app:feature ok\n",
            bed.registry().host_port()
        ),
    );
    assert_contains(
        &report,
        format!("CI_REGISTRY_LOGIN_HOSTS={}", bed.registry().host_port()),
    );
}

#[test]
fn on_a_laptop_the_named_registry_gets_the_explicit_credential() {
    let bed = TestBed::with_world(tag_rules_world());
    let out = ci_registry_login()
        .env("REGISTRY_USER", "alice")
        .env("REGISTRY_PASSWORD", ALICE_PAT_RW)
        .arg("check")
        .arg("--registry")
        .arg(bed.registry().host_port())
        .args([
            "--repository",
            "group/app",
            "--tag",
            "feature-1",
            "--tag",
            "v3",
        ])
        .run()
        .expect_code(4);
    assert_contains(&out.stdout, "access-token from REGISTRY_PASSWORD");
    assert_contains(&out.stdout, "tag v3 is protected");
    let requests = bed.gitlab().requests_to("/jwt/auth");
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].authorization,
        Some(crate::support::Authorization::Basic("alice".into()))
    );
}

/// The job's variable, as GitLab sets it.
fn job_var(bed: &TestBed, name: &str) -> String {
    bed.ci_job_env("group/app")
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {name} in the job"))
}

/// The dependency proxy (emulated on GitLab's own host, reference 1.9) as a preflight
/// host: its tokens list no access, so the manifest fetched with the proxy's token
/// proves the pull; an image upstream lacks is missing, not refused.
#[test]
fn a_pull_through_the_dependency_proxy_is_proven_by_its_manifest() {
    use crate::support::gitlab::Authorization;
    let bed = TestBed::start();
    let prefix = job_var(&bed, "CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX");
    let proxy = job_var(&bed, "CI_DEPENDENCY_PROXY_SERVER");
    let out = job(&bed)
        .args(["check", "--format", "json", "--pull-image"])
        .arg(format!("{prefix}/alpine:3.20"))
        .run()
        .expect_code(0);
    let json = out.json();
    let images = json["images"].as_array().unwrap();
    assert_eq!(images.len(), 1, "{json}");
    assert_eq!(images[0]["verdict"], "ok", "{json}");
    assert_eq!(images[0]["registry"], proxy.as_str(), "{json}");
    assert_eq!(
        images[0]["credential"], "job-token from CI_DEPENDENCY_PROXY_USER",
        "{json}"
    );
    let log = bed.gitlab().requests();
    let tokens: Vec<_> = log.iter().filter(|r| r.path == "/jwt/auth").collect();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert_eq!(tokens[0].param("service"), Some("dependency_proxy"));
    assert_eq!(
        tokens[0].authorization,
        Some(Authorization::Basic("gitlab-ci-token".into()))
    );
    let manifests: Vec<_> = log
        .iter()
        .filter(|r| r.path.contains("/manifests/"))
        .collect();
    assert_eq!(manifests.len(), 1, "{manifests:?}");
    assert_eq!(
        manifests[0].path,
        "/v2/group/dependency_proxy/containers/alpine/manifests/3.20"
    );
    assert_eq!(manifests[0].authorization, Some(Authorization::Bearer));
    assert_eq!(manifests[0].status, Some(200));

    // An image upstream does not have: missing (exit 4), the credential is fine.
    let out = job(&bed)
        .args(["check", "--pull-image"])
        .arg(format!("{prefix}/alpine:0.0-missing"))
        .run()
        .expect_code(4);
    assert_contains(
        &out.stdout,
        "containers/alpine:0.0-missing was not found upstream (the dependency proxy answered 404 for the manifest): the credential is fine",
    );
    assert!(!out.stdout.contains("refused"), "{}", out.stdout);
}

const OTHER_DEPLOY_USER: &str = "gitlab+deploy-token-20";
const OTHER_DEPLOY_TOKEN: &str = "gldt-other-read-Rk4Wn8Tb2Qs6Hv1Jm9Lc";

/// group/other (not on the job token's allowlist) has a read-only deploy token; its
/// images and group/app's are seeded. A job on group/app that pulls from both has no
/// one credential for both: its job token reads group/app only, the deploy token
/// group/other only.
fn two_projects() -> TestBed {
    let mut world = World::standard();
    world
        .user_mut("alice")
        .memberships
        .insert("group/other".into(), Role::Developer);
    world.deploy_tokens.push(DeployToken {
        id: 20,
        name: "other-read".into(),
        username: OTHER_DEPLOY_USER.into(),
        token: OTHER_DEPLOY_TOKEN.into(),
        scopes: vec![Scope::ReadRegistry],
        projects: vec!["group/other".into()],
        revoked: false,
        expires_at: None,
    });
    let bed = TestBed::with_world(world);
    seed_gitlab(&bed, &[("group/app/base", "1"), ("group/other/tools", "2")]);
    bed
}

/// The job on group/app with group/other's deploy token as the explicit credential.
fn two_credentials_job(bed: &TestBed) -> Run {
    let registry = bed.registry().host_port();
    job(bed)
        .env("REGISTRY_USER", OTHER_DEPLOY_USER)
        .env("REGISTRY_PASSWORD", OTHER_DEPLOY_TOKEN)
        .secret(OTHER_DEPLOY_TOKEN)
        .arg("--pull-image")
        .arg(format!("{registry}/group/app/base:1"))
        .arg("--pull-image")
        .arg(format!("{registry}/group/other/tools:2"))
}

/// Issue 14, item 6: each repository proven with the first credential that serves it;
/// podman stores the second under a repository key (`host/group/other/tools`), and the
/// real skopeo, reading that auth.json, pulls each image with its own credential
/// (containers-auth.json(5): the most specific key wins).
#[test]
fn a_host_with_a_credential_per_repository_gets_a_key_per_repository() {
    let bed = two_projects();
    bed.gitlab().clear_requests();
    let registry = bed.registry().host_port();
    let out = two_credentials_job(&bed)
        .args(["check", "--format", "json"])
        .run()
        .expect_code(0);
    let json = out.json();
    let credential_of = |repo: &str| {
        json["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["image"] == format!("{registry}/{repo}"))
            .map(|i| (i["credential"].clone(), i["verdict"].clone()))
            .unwrap_or_else(|| panic!("no row for {repo}: {json}"))
    };
    let (app, app_verdict) = credential_of("group/app/base:1");
    let (other, other_verdict) = credential_of("group/other/tools:2");
    assert_eq!(
        (app_verdict, other_verdict),
        ("ok".into(), "ok".into()),
        "{json}"
    );
    assert_ne!(app, other, "{json}");
    assert_eq!(other, "deploy-token from REGISTRY_PASSWORD", "{json}");
    // Each repository's credential comes from the answers already had: one token
    // request per credential, each carrying both scopes.
    let requests = bed.gitlab().requests_to("/jwt/auth");
    let users: Vec<_> = requests.iter().map(|r| r.authorization.clone()).collect();
    assert_eq!(
        users,
        [
            Some(crate::support::Authorization::Basic(
                "gitlab-ci-token".into()
            )),
            Some(crate::support::Authorization::Basic(
                OTHER_DEPLOY_USER.into()
            )),
        ],
        "{requests:?}"
    );
    assert!(
        requests.iter().all(|r| r.params("scope").len() == 2),
        "{requests:?}"
    );

    // podman stores the host key and one repository key.
    let run = two_credentials_job(&bed);
    let auth_json = run.path("auth.json");
    let out = run
        .args(["login", "--engine", "podman", "--auth-file"])
        .arg(&auth_json)
        .allow_secret_in(&auth_json)
        .run()
        .expect_code(0);
    let stored = crate::support::read_json(&auth_json);
    let keys: Vec<&String> = stored["auths"].as_object().unwrap().keys().collect();
    let repository_key = format!("{registry}/group/other/tools");
    assert_eq!(keys.len(), 2, "{stored}");
    assert!(keys.contains(&&registry), "{stored}");
    assert!(keys.contains(&&repository_key), "{stored}");
    let user_of = |key: &str| {
        let auth = stored["auths"][key]["auth"].as_str().unwrap();
        let pair = base64::engine::general_purpose::STANDARD
            .decode(auth)
            .unwrap();
        String::from_utf8(pair)
            .unwrap()
            .split(':')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(user_of(&repository_key), OTHER_DEPLOY_USER);
    assert_eq!(user_of(&registry), "gitlab-ci-token");
    assert_contains(
        out.said(),
        format!(
            "logged in to {repository_key} with deploy-token from REGISTRY_PASSWORD; stored by podman"
        ),
    );

    // The real skopeo resolves each image to its own credential.
    for (repo, tag) in [("group/app/base", "1"), ("group/other/tools", "2")] {
        let pulled = crate::support::skopeo_pull(&auth_json, &registry, repo, tag);
        assert!(
            pulled.status.success(),
            "skopeo pull {repo}:{tag}: {}",
            String::from_utf8_lossy(&pulled.stderr)
        );
    }
    // Without the repository key, the host's credential (the job token) is refused
    // there: the key is what makes the pull work.
    let mut host_only = stored.clone();
    host_only["auths"]
        .as_object_mut()
        .unwrap()
        .remove(&repository_key);
    let host_only_file = run_dir_file(&auth_json, "host-only.json", &host_only);
    let pulled = crate::support::skopeo_pull(&host_only_file, &registry, "group/other/tools", "2");
    assert!(
        !pulled.status.success(),
        "the job token may not pull group/other"
    );

    // logout with the same flags clears both keys.
    let run = two_credentials_job(&bed);
    let out = run
        .args(["logout", "--engine", "podman", "--auth-file"])
        .arg(&auth_json)
        .allow_secret_in(&auth_json)
        .run()
        .expect_code(0);
    let left = crate::support::read_json(&auth_json);
    assert!(
        left["auths"].as_object().is_none_or(|a| a.is_empty()),
        "{left}\n{}",
        out.said()
    );
}

/// Writes `json` next to `beside` (in the run's folder, which the leak scan allows).
fn run_dir_file(beside: &Path, name: &str, json: &serde_json::Value) -> PathBuf {
    let path = beside.with_file_name(name);
    std::fs::write(&path, json.to_string()).unwrap();
    path
}

/// docker's config.json keys by host only: the repository that needs its own
/// credential is named with the fix, and nothing is stored (exit 4).
#[test]
fn an_engine_keyed_by_host_only_names_the_repository_and_stores_nothing() {
    let bed = two_projects();
    let registry = bed.registry().host_port();
    let out = two_credentials_job(&bed)
        .args(["login", "--engine", "auth-file"])
        .run()
        .expect_code(4);
    assert_contains(
        out.said(),
        format!(
            "auth-file keys credentials by registry host only, so {registry}/group/other/tools would get"
        ),
    );
    assert_contains(
        out.said(),
        "use one credential that grants both, or an engine that keys by repository (--engine podman, buildah or skopeo, or --engine auth-file --auth-format containers)",
    );
    assert!(!out.docker_config().exists(), "nothing is stored");

    // The containers format keys by repository: the same login succeeds.
    let run = two_credentials_job(&bed);
    let auth_json = run.path("containers-auth.json");
    // The outcome keeps the run's folder, where the file is.
    let _out = run
        .args([
            "login",
            "--engine",
            "auth-file",
            "--auth-format",
            "containers",
            "--auth-file",
        ])
        .arg(&auth_json)
        .allow_secret_in(&auth_json)
        .run()
        .expect_code(0);
    let stored = crate::support::read_json(&auth_json);
    assert!(
        stored["auths"][format!("{registry}/group/other/tools")]["auth"].is_string(),
        "{stored}"
    );
    assert!(stored["auths"][&registry]["auth"].is_string(), "{stored}");
}
