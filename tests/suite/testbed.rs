//! Self-test of the test bed: the emulator answers as GitLab does (reference
//! §8), and the real registry, docker and skopeo accept what it issues.

use crate::support::assert_contains;

use std::process::Output;
use std::time::Duration;

use crate::support::gitlab::HUGE_BODY_BYTES;
use crate::support::http;
use crate::support::world::*;
use crate::support::*;
use serde_json::json;

const APP: &str = "group/app";

fn assert_ok(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed:\n{}",
        stderr(output)
    );
}

fn actions(list: &[&str]) -> Vec<String> {
    list.iter().map(|a| a.to_string()).collect()
}

/// The actions a credential gets for one scope (empty when nothing was granted).
fn granted(gitlab: &GitLab, basic: Option<(&str, &str)>, scope: &str) -> Vec<String> {
    let jwt = gitlab.token(basic, &[scope]);
    jwt.access()
        .into_iter()
        .flat_map(|(_, actions)| actions)
        .collect()
}

fn unauthorized_body(gitlab_url: &str) -> String {
    format!(
        r#"{{"errors":[{{"code":"UNAUTHORIZED","message":"HTTP Basic: Access denied. If a password was provided for Git authentication, the password was incorrect or you're required to use a token instead of a password. If a token was provided, it was either incorrect, expired, or improperly scoped. See {gitlab_url}/help/user/profile/account/two_factor_authentication_troubleshooting.md#error-http-basic-access-denied-if-a-password-was-provided-for-git-authentication-"}}]}}"#
    )
}

const FORBIDDEN: &str =
    r#"{"errors":[{"code":"DENIED","message":"access forbidden"}],"http_status":403}"#;

fn assert_unauthorized(gitlab: &GitLab, basic: (&str, &str), scopes: &[&str]) {
    let response = gitlab.request_token(Some(basic), scopes);
    assert_eq!(response.status, 401, "{basic:?}: {}", response.text());
    assert_eq!(response.text(), unauthorized_body(gitlab.url()));
}

fn assert_forbidden(gitlab: &GitLab, basic: Option<(&str, &str)>, scopes: &[&str]) {
    let response = gitlab.request_token(basic, scopes);
    assert_eq!(
        (response.status, response.text()),
        (403, FORBIDDEN.to_string()),
        "{basic:?}"
    );
}

// ---------------------------------------------------------------------------
// Real parts: docker-registry, docker and skopeo accept the emulator's tokens.

#[test]
fn job_token_logs_in_with_docker_then_skopeo_pushes_and_pulls() {
    let bed = TestBed::start();
    let registry = bed.registry().host_port();
    let config = tempfile::tempdir().unwrap();

    let login = docker_login(config.path(), &registry, "gitlab-ci-token", JOB_APP_TOKEN);
    assert_ok(&login, "docker login");
    assert!(String::from_utf8_lossy(&login.stdout).contains("Login Succeeded"));
    let logins = bed.gitlab().requests_to("/jwt/auth");
    assert_eq!(
        logins.len(),
        1,
        "docker asks for one login token: {logins:?}"
    );
    assert_eq!(logins[0].param("account"), Some("gitlab-ci-token"));
    assert_eq!(logins[0].param("client_id"), Some("docker"));
    assert!(logins[0].params("scope").is_empty());

    let auth_file = config.path().join("config.json");
    assert_ok(
        &skopeo_push(&auth_file, &registry, APP, "v1"),
        "skopeo push",
    );
    assert_ok(
        &skopeo_pull(&auth_file, &registry, APP, "v1"),
        "skopeo pull",
    );
    let scopes: Vec<String> = bed
        .gitlab()
        .requests_to("/jwt/auth")
        .iter()
        .flat_map(|r| r.params("scope").into_iter().map(str::to_string))
        .collect();
    assert!(
        scopes.contains(&"repository:group/app:pull,push".to_string()),
        "{scopes:?}"
    );
    assert!(
        scopes.contains(&"repository:group/app:pull".to_string()),
        "{scopes:?}"
    );
}

#[test]
fn read_only_deploy_token_pulls_but_cannot_push() {
    let bed = TestBed::start();
    let registry = bed.registry().host_port();
    let writer = tempfile::tempdir().unwrap();
    assert_ok(
        &docker_login(writer.path(), &registry, DEPLOY_RW_USER, DEPLOY_RW_TOKEN),
        "rw login",
    );
    assert_ok(
        &skopeo_push(&writer.path().join("config.json"), &registry, APP, "v1"),
        "rw push",
    );

    let reader = tempfile::tempdir().unwrap();
    assert_ok(
        &docker_login(reader.path(), &registry, DEPLOY_RO_USER, DEPLOY_RO_TOKEN),
        "ro login",
    );
    let auth_file = reader.path().join("config.json");
    assert_ok(&skopeo_pull(&auth_file, &registry, APP, "v1"), "ro pull");
    let push = skopeo_push(&auth_file, &registry, APP, "v2");
    assert!(!push.status.success());
    assert_contains(
        stderr(&push),
        "denied: requested access to the resource is denied",
    );
}

#[test]
fn skopeo_reads_docker_config_dir() {
    let bed = TestBed::start();
    let registry = bed.registry().host_port();
    let config = tempfile::tempdir().unwrap();
    assert_ok(
        &docker_login(config.path(), &registry, "alice", ALICE_PAT_RW),
        "login",
    );
    assert_ok(
        &skopeo_push_docker_config(config.path(), &registry, APP, "v1"),
        "push",
    );
    assert_ok(
        &skopeo_pull_docker_config(config.path(), &registry, APP, "v1"),
        "pull",
    );
    bed.gitlab().clear_requests();
    let anonymous = Skopeo::new(Credentials::None).pull(&registry, APP, "v1");
    assert!(
        !anonymous.status.success(),
        "a private image needs credentials"
    );
    let asked = bed.gitlab().requests_to("/jwt/auth");
    assert!(!asked.is_empty());
    assert!(
        asked
            .iter()
            .all(|r| r.authorization.is_none() && r.status == Some(403))
    );
}

#[test]
fn tls_registry_serves_the_fixture_leaf() {
    let bed = TestBed::with_world_tls(World::standard());
    assert!(bed.registry().url().starts_with("https://"));
    let registry = bed.registry().host_port();
    let config = tempfile::tempdir().unwrap();
    assert_ok(
        &docker_login(config.path(), &registry, "gitlab-ci-token", JOB_APP_TOKEN),
        "login",
    );
    let skopeo = Skopeo::new(Credentials::AuthFile(config.path().join("config.json")));
    let verified = skopeo.clone().trusting(&fixture("test-ca.crt"));
    assert_ok(
        &verified.push(&registry, APP, "v1"),
        "push verifying test-ca.crt",
    );
    assert_ok(
        &verified.pull(&registry, APP, "v1"),
        "pull verifying test-ca.crt",
    );
    let wrong_ca = skopeo.trusting(&fixture("jwt-signing.crt"));
    let refused = wrong_ca.pull(&registry, APP, "v1");
    assert_contains(stderr(&refused), "x509");
}

#[test]
fn registry_challenges_with_the_emulator_realm_and_honours_access() {
    let bed = TestBed::start();
    let base = bed.registry().url();
    let challenge = http::get(&format!("{base}/v2/"), &[]);
    assert_eq!(challenge.status, 401);
    let expected = format!(
        r#"Bearer realm="{}",service="container_registry""#,
        bed.gitlab().realm()
    );
    assert_eq!(
        challenge.header("WWW-Authenticate"),
        Some(expected.as_str())
    );
    assert_eq!(
        challenge.text().trim_end(),
        r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#
    );

    // A login token with `"access":[]` opens /v2/ but no repository.
    let response = bed
        .gitlab()
        .request_token(Some(("alice", ALICE_PAT_RW)), &[]);
    let token = response.json()["token"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {token}");
    let headers = [("Authorization", bearer.as_str())];
    assert_eq!(http::get(&format!("{base}/v2/"), &headers).status, 200);
    let tags = http::get(&format!("{base}/v2/group/app/tags/list"), &headers);
    assert_eq!(tags.status, 401);
    assert!(
        tags.header("WWW-Authenticate")
            .unwrap()
            .contains(r#"error="insufficient_scope""#)
    );
}

/// The binary's own HTTP stack (reqwest on hyper) reads the emulator's
/// `Connection: close` answers, redirects included.
#[test]
fn reqwest_talks_to_the_emulator() {
    let gitlab = GitLab::start(World::standard());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let realm = gitlab.realm();
    let fault = Fault::Redirect {
        status: 302,
        to: gitlab.alias_url().to_string(),
    };
    gitlab.inject("/jwt/auth", fault, Times::First(1));
    let (redirected, direct) = runtime.block_on(async {
        let send = || async {
            let response = client
                .get(format!("{realm}?service=container_registry"))
                .basic_auth("alice", Some(ALICE_PAT_RW))
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        };
        (send().await, send().await)
    });
    assert_eq!(
        redirected,
        (403, FORBIDDEN.to_string()),
        "reqwest drops Authorization across hosts"
    );
    assert_eq!(direct.0, 200);
    assert!(direct.1.starts_with(r#"{"token":"ey"#));
}

#[test]
fn kid_is_the_libtrust_id_of_the_fixture_certificate() {
    use base64::Engine;
    let signer = crate::support::jwt::Signer::from_fixture();
    let pem = std::fs::read_to_string(fixture("jwt-signing.crt")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let cert = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    let spki = signer.spki();
    assert!(
        cert.windows(spki.len()).any(|w| w == spki),
        "the key is the certificate's"
    );
    let groups: Vec<&str> = signer.kid().split(':').collect();
    assert_eq!(groups.len(), 12);
    assert!(groups.iter().all(|g| g.len() == 4));
}

// ---------------------------------------------------------------------------
// /jwt/auth: credentials.

#[test]
fn job_token_gets_pull_push_delete_on_its_own_project_but_never_star() {
    let gitlab = GitLab::start(World::standard());
    let job = Some(("gitlab-ci-token", JOB_APP_TOKEN));
    let jwt = gitlab.token(job, &["repository:group/app:pull,push,delete,*"]);
    assert_eq!(
        jwt.access(),
        vec![(APP.to_string(), actions(&["pull", "push", "delete"]))]
    );
    assert_eq!(jwt.claims["auth_type"], "build");
    assert_eq!(jwt.claims["sub"], "alice");
}

#[test]
fn job_token_needs_its_login_and_a_running_job() {
    let gitlab = GitLab::start(World::standard());
    assert_unauthorized(&gitlab, ("alice", JOB_APP_TOKEN), &[]);
    assert_unauthorized(&gitlab, ("gitlab-ci-token", JOB_APP_FINISHED_TOKEN), &[]);
    gitlab.edit_world(|w| w.project_mut(APP).ci_enabled = false);
    assert_unauthorized(&gitlab, ("gitlab-ci-token", JOB_APP_TOKEN), &[]);
}

#[test]
fn job_token_never_pushes_elsewhere_and_pulls_only_through_the_allowlist() {
    let gitlab = GitLab::start(World::standard());
    let job = Some(("gitlab-ci-token", JOB_APP_TOKEN));
    // alice is Reporter on group/other, but its allowlist is empty.
    assert!(granted(&gitlab, job, "repository:group/other:pull,push").is_empty());
    gitlab.edit_world(|w| {
        w.project_mut("group/other")
            .job_token_allowlist
            .push(APP.into())
    });
    assert_eq!(
        granted(&gitlab, job, "repository:group/other:pull,push"),
        actions(&["pull"])
    );
    gitlab.edit_world(|w| {
        w.user_mut("alice")
            .memberships
            .insert("group/other".into(), Role::Owner);
    });
    assert_eq!(
        granted(&gitlab, job, "repository:group/other:push,pull"),
        actions(&["pull"])
    );
    assert_eq!(
        granted(&gitlab, job, "repository:public/base:pull,push"),
        actions(&["pull"])
    );
}

#[test]
fn access_tokens_work_with_any_username_and_their_scopes_decide() {
    let gitlab = GitLab::start(World::standard());
    let scope = "repository:group/app:pull,push,delete";
    for login in ["alice", "someone-else", "gitlab-ci-token", "oauth2"] {
        assert_eq!(
            granted(&gitlab, Some((login, ALICE_PAT_RW)), scope),
            actions(&["pull", "push"])
        );
    }
    assert_eq!(
        granted(&gitlab, Some(("x", ALICE_PAT_RO)), scope),
        actions(&["pull"])
    );
    // `api` carries admin_container_image, but delete also needs Maintainer.
    assert_eq!(
        granted(&gitlab, Some(("x", ALICE_PAT_API)), scope),
        actions(&["pull", "push"])
    );
    assert_eq!(
        granted(&gitlab, Some(("x", APP_BOT_TOKEN)), scope),
        actions(&["pull", "push"])
    );
    gitlab.edit_world(|w| {
        w.user_mut("alice")
            .memberships
            .insert(APP.into(), Role::Maintainer);
    });
    let all = "repository:group/app:pull,push,delete,*";
    assert_eq!(
        granted(&gitlab, Some(("x", ALICE_PAT_API)), all),
        actions(&["pull", "push", "delete", "*"])
    );
    assert_eq!(
        granted(&gitlab, Some(("x", ALICE_PAT_RW)), all),
        actions(&["pull", "push"])
    );
    let jwt = gitlab.token(Some(("x", ALICE_PAT_RW)), &[]);
    assert_eq!(jwt.claims["auth_type"], "personal_access_token");
    assert_eq!(jwt.claims["sub"], "alice");
}

#[test]
fn a_credential_without_registry_ability_is_forbidden_even_without_scope() {
    let gitlab = GitLab::start(World::standard());
    assert_forbidden(&gitlab, Some(("alice", ALICE_PAT_REPO)), &[]);
    assert_forbidden(
        &gitlab,
        Some(("alice", ALICE_PAT_REPO)),
        &["repository:group/app:pull"],
    );
    assert_forbidden(&gitlab, Some((DEPLOY_REPO_USER, DEPLOY_REPO_TOKEN)), &[]);
}

#[test]
fn revoked_expired_and_expiring_today_tokens_are_refused() {
    let gitlab = GitLab::start(World::standard());
    assert_unauthorized(&gitlab, ("alice", ALICE_PAT_REVOKED), &[]);
    assert_unauthorized(&gitlab, ("alice", ALICE_PAT_EXPIRED), &[]);
    gitlab.edit_world(|w| w.access_token_mut("alice-rw").expires_at = Some(Date::today()));
    assert_unauthorized(&gitlab, ("alice", ALICE_PAT_RW), &[]);
    gitlab.edit_world(|w| w.deploy_token_mut("deploy-rw").revoked = true);
    assert_unauthorized(&gitlab, (DEPLOY_RW_USER, DEPLOY_RW_TOKEN), &[]);
}

#[test]
fn deploy_tokens_need_their_username_scopes_and_attachment() {
    let gitlab = GitLab::start(World::standard());
    assert_unauthorized(&gitlab, ("alice", DEPLOY_RW_TOKEN), &[]);
    assert_unauthorized(&gitlab, (DEPLOY_RO_USER, DEPLOY_RW_TOKEN), &[]);
    let rw = Some((DEPLOY_RW_USER, DEPLOY_RW_TOKEN));
    let ro = Some((DEPLOY_RO_USER, DEPLOY_RO_TOKEN));
    assert_eq!(
        granted(&gitlab, rw, "repository:group/app:push,pull,delete"),
        actions(&["push", "pull"])
    );
    assert_eq!(
        granted(&gitlab, ro, "repository:group/app:push,pull"),
        actions(&["pull"])
    );
    assert!(granted(&gitlab, rw, "repository:group/other:pull").is_empty());
    assert_eq!(
        granted(&gitlab, rw, "repository:public/base:pull,push"),
        actions(&["pull"])
    );
    let jwt = gitlab.token(rw, &[]);
    assert_eq!(jwt.claims["auth_type"], "deploy_token");
    assert!(
        jwt.claims.get("sub").is_none(),
        "no user, no sub: {}",
        jwt.claims
    );
}

#[test]
fn passwords_work_by_username_or_email_unless_2fa_or_disabled() {
    let gitlab = GitLab::start(World::standard());
    let scope = "repository:group/app:pull,push";
    assert_eq!(
        granted(&gitlab, Some(("alice", ALICE_PASSWORD)), scope),
        actions(&["pull", "push"])
    );
    assert_eq!(
        granted(&gitlab, Some(("alice@example.com", ALICE_PASSWORD)), scope),
        actions(&["pull", "push"])
    );
    assert_eq!(
        granted(&gitlab, Some(("rita", RITA_PASSWORD)), scope),
        actions(&["pull"])
    );
    assert_eq!(
        gitlab.token(Some(("alice", ALICE_PASSWORD)), &[]).claims["auth_type"],
        "gitlab_or_ldap"
    );
    assert_unauthorized(&gitlab, ("alice", "wrong-password"), &[]);
    assert_unauthorized(&gitlab, ("bob", BOB_PASSWORD), &[]);
    gitlab.edit_world(|w| w.user_mut("alice").blocked = true);
    assert_unauthorized(&gitlab, ("alice", ALICE_PASSWORD), &[]);
    assert_unauthorized(&gitlab, ("alice", ALICE_PAT_RW), &[]);
    gitlab.edit_world(|w| w.settings.password_auth_for_git = false);
    assert_unauthorized(&gitlab, ("rita", RITA_PASSWORD), &[]);
}

#[test]
fn anonymous_and_bearer_requests_pull_public_projects_only() {
    let gitlab = GitLab::start(World::standard());
    assert_eq!(
        granted(&gitlab, None, "repository:public/base:pull"),
        actions(&["pull"])
    );
    assert_eq!(
        granted(&gitlab, None, "repository:public/base:pull,push"),
        actions(&["pull"])
    );
    assert_eq!(
        gitlab.token(None, &["repository:public/base:pull"]).claims["auth_type"],
        "none"
    );
    assert_forbidden(&gitlab, None, &["repository:public/base:push"]);
    assert_forbidden(&gitlab, None, &["repository:group/app:pull"]);
    assert_forbidden(&gitlab, None, &[]);
    let url = format!("{}?service=container_registry", gitlab.realm());
    let bearer = format!("Bearer {ALICE_PAT_RW}");
    let response = http::get(&url, &[("Authorization", &bearer)]);
    assert_eq!(
        (response.status, response.text()),
        (403, FORBIDDEN.to_string())
    );
}

// ---------------------------------------------------------------------------
// /jwt/auth: scopes, errors, the token.

#[test]
fn scopes_are_parsed_like_gitlab() {
    let gitlab = GitLab::start(World::standard());
    let alice = Some(("alice", ALICE_PAT_RW));
    // Repeated parameters and space-separated lists (`+` and %20 alike).
    let url = format!(
        "{}?service=container_registry&scope=repository%3Agroup%2Fapp%3Apull+repository:public/base:pull&scope=repository:group/other:pull",
        gitlab.realm()
    );
    let basic = http::basic("alice", ALICE_PAT_RW);
    let response = http::get(&url, &[("Authorization", &basic)]);
    let jwt = crate::support::jwt::decode(response.json()["token"].as_str().unwrap());
    let names: Vec<String> = jwt.access().into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["group/app", "public/base", "group/other"]);

    // Downcased; split on the first two colons; nested images resolve to the project.
    let jwt = gitlab.token(alice, &["repository:Group/App/Sub/Image:pull"]);
    assert_eq!(
        jwt.access(),
        vec![("group/app/sub/image".to_string(), actions(&["pull"]))]
    );
    assert_eq!(
        jwt.claims["access"][0]["meta"],
        json!({"project_path": "group/app", "project_id": 10, "root_namespace_id": 2})
    );
    // At most two levels below the project.
    assert!(granted(&gitlab, alice, "repository:group/app/a/b/c:pull").is_empty());
    for dropped in [
        "repository:app:pull",
        "repository:*:*",
        "repository(plugin):group/app:pull",
        "image:group/app:pull",
        "repository:group/app:pull:extra",
        "registry:catalog:*",
    ] {
        assert!(granted(&gitlab, alice, dropped).is_empty(), "{dropped}");
    }
    let malformed = gitlab.request_token(alice, &["repository:group/app"]);
    assert_eq!(malformed.status, 500, "GitLab calls nil.split");
}

#[test]
fn the_catalog_is_for_admins_only() {
    let gitlab = GitLab::start(World::standard());
    assert!(
        granted(
            &gitlab,
            Some(("alice", ALICE_PASSWORD)),
            "registry:catalog:*"
        )
        .is_empty()
    );
    gitlab.edit_world(|w| w.user_mut("alice").admin = true);
    let jwt = gitlab.token(Some(("alice", ALICE_PASSWORD)), &["registry:catalog:*"]);
    assert_eq!(
        jwt.claims["access"],
        json!([{"type": "registry", "name": "catalog", "actions": ["*"]}])
    );
}

#[test]
fn disabled_registries_grant_nothing_or_answer_unavailable() {
    let gitlab = GitLab::start(World::standard());
    gitlab.edit_world(|w| w.project_mut(APP).registry_enabled = false);
    assert!(
        granted(
            &gitlab,
            Some(("gitlab-ci-token", JOB_APP_TOKEN)),
            "repository:group/app:pull"
        )
        .is_empty()
    );
    gitlab.edit_world(|w| w.settings.registry_enabled = false);
    let response = gitlab.request_token(Some(("alice", ALICE_PAT_RW)), &[]);
    assert_eq!(response.status, 404);
    assert_eq!(
        response.text(),
        r#"{"errors":[{"code":"UNAVAILABLE","message":"registry not enabled"}],"http_status":404}"#
    );
}

#[test]
fn protected_paths_refuse_the_whole_push_request() {
    let gitlab = GitLab::start(World::standard());
    gitlab.edit_world(|w| {
        w.project_mut(APP).push_protection.push(PushProtection {
            path_pattern: "group/app/release*".into(),
            min_push_level: Role::Maintainer,
        })
    });
    let alice = Some(("alice", ALICE_PAT_RW));
    let response = gitlab.request_token(alice, &["repository:group/app/release:pull,push"]);
    assert_eq!(response.status, 403);
    assert_eq!(
        response.text(),
        r#"{"errors":[{"code":"DENIED","message":"Pushing to protected repository path forbidden"}],"http_status":403}"#
    );
    assert_eq!(
        granted(&gitlab, alice, "repository:group/app/release:pull"),
        actions(&["pull"])
    );
    assert_eq!(
        granted(&gitlab, alice, "repository:group/app:push"),
        actions(&["push"])
    );
}

#[test]
fn unauthorized_bodies_are_exact_in_both_wordings() {
    let gitlab = GitLab::start(World::standard());
    let response = gitlab.request_token(Some(("alice", "nope")), &[]);
    assert_eq!(
        response.header("Content-Type"),
        Some("application/json; charset=utf-8")
    );
    assert!(response.header("WWW-Authenticate").is_none());
    assert_eq!(response.text(), unauthorized_body(gitlab.url()));

    gitlab.edit_world(|w| {
        w.settings.legacy_401_message = true;
        w.settings.external_url = Some("https://gitlab.example.com".into());
    });
    let old = gitlab.request_token(Some(("alice", "nope")), &[]);
    assert_eq!(
        old.text(),
        r#"{"errors":[{"code":"UNAUTHORIZED","message":"HTTP Basic: Access denied"}]}"#
    );
    let two_factor = gitlab.request_token(Some(("bob", BOB_PASSWORD)), &[]);
    assert_eq!(
        two_factor.json()["errors"][0]["message"],
        "HTTP Basic: Access denied\nYou must use a personal access token with 'api' scope for Git over HTTP.\nYou can generate one at https://gitlab.example.com/-/profile/personal_access_tokens"
    );
}

#[test]
fn post_and_unknown_services_are_404_with_an_empty_body() {
    let gitlab = GitLab::start(World::standard());
    let basic = http::basic("alice", ALICE_PAT_RW);
    let headers = [("Authorization", basic.as_str())];
    let realm = gitlab.realm();
    let post = http::send(
        "POST",
        &format!("{realm}?service=container_registry"),
        &headers,
        http::CLIENT_TIMEOUT,
    )
    .unwrap();
    for (response, what) in [
        (post, "POST"),
        (
            http::get(&format!("{realm}?service=nope"), &headers),
            "unknown service",
        ),
        (http::get(&realm, &headers), "no service"),
    ] {
        assert_eq!((response.status, response.body.len()), (404, 0), "{what}");
    }
}

#[test]
fn success_is_only_a_signed_token_with_gitlabs_claims() {
    let gitlab = GitLab::start(World::standard());
    let response = gitlab.request_token(
        Some(("gitlab-ci-token", JOB_APP_TOKEN)),
        &["repository:group/app:push,pull"],
    );
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("Content-Type"),
        Some("application/json; charset=utf-8")
    );
    let body = response.json();
    assert_eq!(body.as_object().unwrap().len(), 1, "only token: {body}");
    let token = body["token"].as_str().unwrap();
    assert!(gitlab.signed_by_me(token));
    let jwt = crate::support::jwt::decode(token);
    assert_eq!(
        jwt.header,
        json!({"alg": "RS256", "kid": gitlab.kid(), "typ": "JWT"})
    );
    let claims = &jwt.claims;
    assert_eq!(
        (claims["iss"].as_str(), claims["aud"].as_str()),
        (Some(ISSUER), Some("container_registry"))
    );
    let iat = claims["iat"].as_u64().unwrap();
    assert_eq!(claims["nbf"].as_u64(), Some(iat - 5));
    assert_eq!(claims["exp"].as_u64(), Some(iat + 300));
    let jti = claims["jti"].as_str().unwrap();
    assert_eq!(
        (jti.len(), jti.as_bytes()[14]),
        (36, b'4'),
        "UUID v4: {jti}"
    );
    assert_eq!(
        claims["access"],
        json!([{"type": "repository", "name": "group/app", "actions": ["push", "pull"],
                "meta": {"project_path": "group/app", "project_id": 10, "root_namespace_id": 2}}])
    );
    let user = crate::support::jwt::decode(claims["user"].as_str().unwrap());
    assert_eq!(
        user.claims["user_info"],
        json!({"token_type": "build", "username": "alice", "user_id": 101})
    );
}

#[test]
fn the_gitlab_com_profile_issues_15_minute_tokens() {
    let gitlab = GitLab::start(World {
        settings: Settings::gitlab_com(),
        ..World::standard()
    });
    let claims = gitlab.token(Some(("alice", ALICE_PAT_RO)), &[]).claims;
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        900
    );
}

#[test]
fn the_ip_ban_follows_failures_and_spares_gitlab_ci_token() {
    let mut world = World::standard();
    world.settings.ip_ban_after_failures = Some(3);
    let gitlab = GitLab::start(world);
    // A success resets the count.
    assert_unauthorized(&gitlab, ("alice", "wrong-1"), &[]);
    assert_eq!(
        gitlab
            .request_token(Some(("alice", ALICE_PAT_RO)), &[])
            .status,
        200
    );
    for attempt in ["wrong-2", "wrong-3", "wrong-4"] {
        assert_unauthorized(&gitlab, ("alice", attempt), &[]);
    }
    let banned = gitlab.request_token(Some(("alice", ALICE_PAT_RO)), &[]);
    assert_eq!(
        (banned.status, banned.text().as_str()),
        (403, "Too many failed authentication attempts from this IP")
    );
    assert_eq!(
        banned.header("Content-Type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        gitlab
            .request_token(Some(("gitlab-ci-token", JOB_APP_TOKEN)), &[])
            .status,
        200
    );
    assert_eq!(
        gitlab
            .request_token(None, &["repository:public/base:pull"])
            .status,
        200
    );
}

// ---------------------------------------------------------------------------
// The API endpoints.

#[test]
fn personal_access_token_self_describes_any_pat() {
    let gitlab = GitLab::start(World::standard());
    let url = format!("{}/api/v4/personal_access_tokens/self", gitlab.url());
    let by_header = http::get(&url, &[("PRIVATE-TOKEN", ALICE_PAT_RO)]);
    assert_eq!(by_header.status, 200);
    let token = World::standard().access_token("alice-ro").clone();
    let expected = json!({
        "id": 2, "name": "alice-ro", "revoked": false,
        "created_at": format!("{}T09:00:00.000Z", token.created_at),
        "description": null, "scopes": ["read_registry"], "user_id": 101,
        "last_used_at": null, "active": true, "expires_at": token.expires_at.unwrap().to_string(),
    });
    assert_eq!(by_header.json(), expected);
    let bearer = format!("Bearer {APP_BOT_TOKEN}");
    let bot = http::get(&url, &[("Authorization", &bearer)]);
    assert_eq!(bot.json()["user_id"], 104);
    assert_eq!(
        bot.json()["scopes"],
        json!(["read_registry", "write_registry"])
    );
}

#[test]
fn personal_access_token_self_refuses_everything_else() {
    let gitlab = GitLab::start(World::standard());
    let url = format!("{}/api/v4/personal_access_tokens/self", gitlab.url());
    let ask = |token: &str| http::get(&url, &[("PRIVATE-TOKEN", token)]);
    let revoked = ask(ALICE_PAT_REVOKED);
    assert_eq!(revoked.status, 401);
    assert_eq!(
        revoked.text(),
        r#"{"error":"invalid_token","error_description":"Token was revoked. You have to re-authorize from the user."}"#
    );
    assert_eq!(
        ask(ALICE_PAT_EXPIRED).text(),
        r#"{"error":"invalid_token","error_description":"Token is expired. You can either do re-authorization or token refresh."}"#
    );
    assert_eq!(
        (ask("glpat-unknown").status, ask("glpat-unknown").text()),
        (401, r#"{"message":"401 Unauthorized"}"#.into())
    );
    let not_a_pat = r#"{"message":"400 Bad request - This endpoint requires token type to be a personal access token"}"#;
    for other in [JOB_APP_TOKEN, DEPLOY_RO_TOKEN] {
        assert_eq!(
            (ask(other).status, ask(other).text()),
            (400, not_a_pat.to_string())
        );
    }
    assert_eq!(http::get(&url, &[]).status, 401);
}

#[test]
fn api_job_answers_while_the_job_runs() {
    let gitlab = GitLab::start(World::standard());
    let url = format!("{}/api/v4/job", gitlab.url());
    let job = http::get(&url, &[("JOB-TOKEN", JOB_APP_TOKEN)]);
    assert_eq!(job.status, 200);
    assert_eq!(
        (
            job.json()["id"].clone(),
            job.json()["user"]["username"].clone()
        ),
        (json!(9001), json!("alice"))
    );
    assert_eq!(
        http::get(&url, &[("JOB-TOKEN", JOB_APP_FINISHED_TOKEN)]).status,
        401
    );
    gitlab.edit_world(|w| w.jobs.iter_mut().for_each(|j| j.running = false));
    assert_eq!(
        http::get(&url, &[("JOB-TOKEN", JOB_APP_TOKEN)]).text(),
        r#"{"message":"401 Unauthorized"}"#
    );
    assert_unauthorized(&gitlab, ("gitlab-ci-token", JOB_APP_TOKEN), &[]);
}

// ---------------------------------------------------------------------------
// Fault switches, checked through the request log.

fn statuses(gitlab: &GitLab, path: &str) -> Vec<Option<u16>> {
    gitlab.requests_to(path).iter().map(|r| r.status).collect()
}

#[test]
fn server_errors_hit_the_first_requests_of_their_path_only() {
    let gitlab = GitLab::start(World::standard());
    let alice = Some(("alice", ALICE_PAT_RW));
    gitlab.inject("/jwt/auth", Fault::BadGateway, Times::First(2));
    let first = gitlab.request_token(alice, &[]);
    assert_eq!(
        first.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert!(first.text().contains("502 Bad Gateway"));
    let api = http::get(
        &format!("{}/api/v4/job", gitlab.url()),
        &[("JOB-TOKEN", JOB_APP_TOKEN)],
    );
    assert_eq!(api.status, 200, "other paths are untouched");
    gitlab.request_token(alice, &[]);
    gitlab.request_token(alice, &[]);
    assert_eq!(
        statuses(&gitlab, "/jwt/auth"),
        [Some(502), Some(502), Some(200)]
    );

    gitlab.clear_requests();
    gitlab.inject("/jwt/auth", Fault::InternalError, Times::First(1));
    gitlab.inject("/jwt/auth", Fault::NotFound, Times::First(1));
    let error = gitlab.request_token(alice, &[]);
    let not_found = gitlab.request_token(alice, &[]);
    assert_eq!((error.status, error.body.len()), (500, 0));
    assert_eq!((not_found.status, not_found.body.len()), (404, 0));
    gitlab.inject("/jwt/auth", Fault::TooManyRequests, Times::Always);
    for _ in 0..2 {
        let throttled = gitlab.request_token(alice, &[]);
        assert_eq!(
            (throttled.status, throttled.header("Retry-After")),
            (429, Some("1"))
        );
    }
    gitlab.clear_faults();
    gitlab.request_token(alice, &[]);
    assert_eq!(
        statuses(&gitlab, "/jwt/auth"),
        [Some(500), Some(404), Some(429), Some(429), Some(200)]
    );
}

#[test]
fn a_redirect_to_another_host_loses_authorization_for_docker() {
    let bed = TestBed::start();
    let gitlab = bed.gitlab();
    let fault = Fault::Redirect {
        status: 307,
        to: gitlab.alias_url().to_string(),
    };
    gitlab.inject("/jwt/auth", fault, Times::Always);
    let config = tempfile::tempdir().unwrap();
    let login = docker_login(
        config.path(),
        &bed.registry().host_port(),
        "alice",
        ALICE_PAT_RW,
    );
    assert!(!login.status.success());
    assert_contains(stderr(&login), "denied: access forbidden");
    let requests = gitlab.requests_to("/jwt/auth");
    let (sent, followed): (Vec<_>, Vec<_>) = requests.iter().partition(|r| !r.via_alias);
    assert!(
        sent.iter().all(|r| r.status == Some(307)
            && r.authorization == Some(Authorization::Basic("alice".into())))
    );
    assert!(!followed.is_empty());
    assert!(
        followed
            .iter()
            .all(|r| r.status == Some(403) && r.authorization.is_none())
    );
    assert_eq!(
        followed[0].param("account"),
        Some("alice"),
        "the query survives the redirect"
    );
}

#[test]
fn a_proxy_stripping_authorization_makes_good_credentials_forbidden() {
    let bed = TestBed::start();
    bed.gitlab()
        .inject("/jwt/auth", Fault::StripAuthorization, Times::Always);
    let config = tempfile::tempdir().unwrap();
    let login = docker_login(
        config.path(),
        &bed.registry().host_port(),
        "gitlab-ci-token",
        JOB_APP_TOKEN,
    );
    assert_contains(stderr(&login), "denied: access forbidden");
    let requests = bed.gitlab().requests_to("/jwt/auth");
    assert!(requests.iter().all(|r| r.status == Some(403)));
    assert!(
        requests
            .iter()
            .all(|r| r.authorization == Some(Authorization::Basic("gitlab-ci-token".into())))
    );
}

#[test]
fn delays_and_hangs_leave_the_client_waiting() {
    let gitlab = GitLab::start(World::standard());
    let url = format!("{}?service=container_registry", gitlab.realm());
    let basic = http::basic("alice", ALICE_PAT_RW);
    let headers = [("Authorization", basic.as_str())];
    // The client gives up long before either fault would answer.
    let patience = Duration::from_millis(200);
    gitlab.inject(
        "/jwt/auth",
        Fault::Delay(Duration::from_secs(3600)),
        Times::First(1),
    );
    let delayed = http::send("GET", &url, &headers, patience).unwrap_err();
    gitlab.inject("/jwt/auth", Fault::Hang, Times::First(1));
    let hung = http::send("GET", &url, &headers, patience).unwrap_err();
    for error in [delayed, hung] {
        assert!(
            matches!(
                error.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{error}"
        );
    }
    // The delayed answer was going to be a 200; the hang never answers.
    assert_eq!(statuses(&gitlab, "/jwt/auth"), [Some(200), None]);
    // A short delay still answers, and normally.
    gitlab.inject(
        "/jwt/auth",
        Fault::Delay(Duration::from_millis(50)),
        Times::First(1),
    );
    assert_eq!(http::get(&url, &headers).status, 200);
}

#[test]
fn hostile_bodies_are_what_they_claim() {
    let gitlab = GitLab::start(World::standard());
    let alice = Some(("alice", ALICE_PAT_RW));
    let next = |fault: Fault| {
        gitlab.inject("/jwt/auth", fault, Times::First(1));
        let response = gitlab.request_token(alice, &[]);
        assert_eq!(response.status, 200);
        response
    };
    let garbage = next(Fault::GarbageJson);
    assert!(serde_json::from_slice::<serde_json::Value>(&garbage.body).is_err());
    let huge = next(Fault::HugeBody);
    assert_eq!(huge.body.len(), HUGE_BODY_BYTES);
    assert_eq!(
        huge.json()["token"].as_str().unwrap().len(),
        HUGE_BODY_BYTES - 12
    );
    let malformed = next(Fault::MalformedJwt).json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(malformed.split('.').count(), 3);
    assert!(crate::support::jwt::try_decode(&malformed).is_none());
    assert_eq!(next(Fault::EmptyJson).text(), "{}");
}

// ---------------------------------------------------------------------------
// Job environments and the world's secrets.

fn var<'a>(vars: &'a [(String, String)], name: &str) -> Option<&'a str> {
    vars.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn ci_job_env_is_a_gitlab_job_on_the_bed() {
    let mut world = World::standard();
    world.project_mut(APP).path = "Group/App".into();
    world.deploy_token_mut("deploy-ro").name = "gitlab-deploy-token".into();
    let bed = TestBed::with_world(world);
    let vars = bed.ci_job_env(APP);
    let registry = bed.registry().host_port();
    let server = bed.gitlab().url();
    let port = server.rsplit(':').next().unwrap();
    for (name, value) in [
        ("CI", "true"),
        ("GITLAB_CI", "true"),
        ("CI_REGISTRY", registry.as_str()),
        ("CI_REGISTRY_IMAGE", &format!("{registry}/group/app")),
        ("CI_REGISTRY_USER", "gitlab-ci-token"),
        ("CI_REGISTRY_PASSWORD", JOB_APP_TOKEN),
        ("CI_JOB_TOKEN", JOB_APP_TOKEN),
        ("CI_PROJECT_PATH", "Group/App"),
        ("CI_PROJECT_ID", "10"),
        ("CI_JOB_ID", "9001"),
        ("CI_SERVER_URL", server),
        ("CI_API_V4_URL", &format!("{server}/api/v4")),
        ("CI_SERVER_HOST", "127.0.0.1"),
        ("CI_SERVER_PORT", port),
        ("CI_SERVER_PROTOCOL", "http"),
        ("CI_DEPLOY_USER", DEPLOY_RO_USER),
        ("CI_DEPLOY_PASSWORD", DEPLOY_RO_TOKEN),
    ] {
        assert_eq!(var(&vars, name), Some(value), "{name}");
    }

    bed.gitlab()
        .edit_world(|w| w.project_mut(APP).registry_enabled = false);
    let vars = bed.ci_job_env(APP);
    assert!(var(&vars, "CI_REGISTRY_IMAGE").is_none());
    assert!(var(&vars, "CI_REGISTRY").is_some());
    bed.gitlab()
        .edit_world(|w| w.settings.registry_enabled = false);
    assert!(var(&bed.ci_job_env(APP), "CI_REGISTRY").is_none());
}

#[test]
fn gitlab_ci_local_env_has_no_job_token() {
    let gitlab = GitLab::start(World::standard());
    let plain = crate::support::env::gitlab_ci_local(gitlab.url(), "Group/App", false);
    assert_eq!(var(&plain, "GITLAB_CI"), Some("false"));
    assert_eq!(var(&plain, "CI_REGISTRY"), Some("local-registry.127.0.0.1"));
    assert_eq!(
        var(&plain, "CI_REGISTRY_IMAGE"),
        Some("local-registry.127.0.0.1/group/app")
    );
    for absent in [
        "CI_JOB_TOKEN",
        "CI_REGISTRY_USER",
        "CI_REGISTRY_PASSWORD",
        "CI_DEPENDENCY_PROXY_PASSWORD",
    ] {
        assert!(var(&plain, absent).is_none(), "{absent}");
    }
    let flagged = crate::support::env::gitlab_ci_local(gitlab.url(), "Group/App", true);
    assert_eq!(var(&flagged, "CI_REGISTRY"), Some("registry.gcl.local"));
    assert_eq!(
        var(&flagged, "CI_REGISTRY_USER"),
        Some("registry.gcl.local.user")
    );
    assert_eq!(
        var(&flagged, "CI_REGISTRY_PASSWORD"),
        Some("registry.gcl.local.password")
    );
}

#[test]
fn secrets_are_unique_and_none_contains_another() {
    let secrets = World::standard().secrets();
    assert!(secrets.len() >= 16);
    for (i, a) in secrets.iter().enumerate() {
        for (j, b) in secrets.iter().enumerate() {
            assert!(i == j || !a.contains(b.as_str()), "{a} contains {b}");
        }
    }
}
