//! End to end, issue 13: GitLab as it behaves in 2026 (reference section 9), against
//! the emulator and the real registry: token prefixes anywhere at a `-` boundary,
//! secrets of unknown kind, `read_api` per token holder, fine-grained tokens, the job
//! token as a JWT, every denial with its own cause, and expiry said ahead of time.
//! Every run is leak-scanned.

use crate::support::assert_contains;
use crate::support::run::{Run, ci_registry_login};
use crate::support::world::*;
use crate::support::{CI_CREDENTIALS, TestBed, World};

/// A job on group/app whose only credentials are `extra`.
fn bare_job(bed: &TestBed, extra: &[(&str, &str)]) -> Run {
    ci_registry_login()
        .envs(bed.ci_job_env_without("group/app", &CI_CREDENTIALS))
        .envs(extra.iter().copied())
}

/// The same job with GitLab's API unknown: nothing can be introspected.
fn bare_job_without_api(bed: &TestBed, extra: &[(&str, &str)]) -> Run {
    let without = [&CI_CREDENTIALS[..], &["CI_API_V4_URL"]].concat();
    ci_registry_login()
        .envs(bed.ci_job_env_without("group/app", &without))
        .envs(extra.iter().copied())
}

fn world_with(edit: impl FnOnce(&mut World)) -> World {
    let mut world = World::standard();
    edit(&mut world);
    world
}

/// The standard world plus access tokens: (id, secret, user, its one scope).
fn with_tokens<const N: usize>(tokens: [(u64, &str, &str, Scope); N]) -> TestBed {
    TestBed::with_world(world_with(|w| {
        for (id, secret, user, scope) in tokens {
            let name = format!("token-{id}");
            w.access_tokens
                .push(AccessToken::new(id, &name, secret, user, &[scope]));
        }
    }))
}

const PREFIXED_PAT: &str = "acme-glpat-instance-Rt6Yh1Nb8Mk3Vc5Xz";
const CUSTOM_PAT: &str = "custompfx-legacy-Wq7Ls2Df9Gh4Jk1Pz";
const BOT_READ_API: &str = "glpat-bot-read-api-Hy3Nm8Qw1Er6Tz4Ua";
const ALICE_READ_API: &str = "glpat-alice-read-api-Kd2Fg7Hj4Lz9Xc1V";
const FINE_GRAINED: &str = "glpat-fine-grained-Bn5Mv8Cx2Zl7Kj3Hg";

/// Reference 9.1: `acme-glpat-...` is an access token, pulls, and never gets two-factor
/// advice; a secret with a custom prefix is an access token once GitLab's API knows it.
#[test]
fn instance_prefixed_and_custom_tokens_are_access_tokens() {
    let bed = with_tokens([
        (40, PREFIXED_PAT, "alice", Scope::ReadRegistry),
        (41, CUSTOM_PAT, "alice", Scope::ReadRegistry),
    ]);
    let out = bare_job(&bed, &[("REGISTRY_PASSWORD", PREFIXED_PAT)])
        .args(["check", "--format", "json"])
        .run()
        .expect_code(0);
    assert_eq!(out.json()["chosen"]["kind"], "access-token");
    assert!(!out.stdout.contains("two-factor"), "{}", out.stdout);

    // No known prefix: unknown offline, an access token by the API's word.
    let out = bare_job(
        &bed,
        &[
            ("REGISTRY_USER", "alice"),
            ("REGISTRY_PASSWORD", CUSTOM_PAT),
        ],
    )
    .args(["check", "--format", "json"])
    .run()
    .expect_code(0);
    assert_eq!(
        out.json()["chosen"]["kind"],
        "access-token",
        "{}",
        out.stdout
    );
    let offline = bare_job(
        &bed,
        &[
            ("REGISTRY_USER", "alice"),
            ("REGISTRY_PASSWORD", CUSTOM_PAT),
        ],
    )
    .args(["plan", "--format", "json"])
    .run()
    .expect_code(0);
    assert_eq!(offline.json()["candidates"][0]["kind"], "unknown");

    // Without a user name, `--use access-token` says what it is.
    bare_job_without_api(&bed, &[("REGISTRY_PASSWORD", CUSTOM_PAT)])
        .args(["check", "--use", "access-token"])
        .run()
        .expect_code(0);
}

/// Reference 9.1: a secret of unknown kind refused by GitLab gets two-factor advice only
/// once GitLab's API has said it is no token (so a password); without the API, it gets
/// neither-nor.
#[test]
fn two_factor_advice_only_for_what_really_is_a_password() {
    let bed = TestBed::start();
    let bob = [
        ("REGISTRY_USER", "bob"),
        ("REGISTRY_PASSWORD", BOB_PASSWORD),
    ];
    let out = bare_job(&bed, &bob).args(["check"]).run().expect_code(4);
    assert_contains(&out.stdout, "two-factor");
    let out = bare_job_without_api(&bed, &bob)
        .args(["check"])
        .run()
        .expect_code(4);
    assert_contains(&out.stdout, "neither a valid access token");
    assert!(!out.stdout.contains("two-factor"), "{}", out.stdout);
    // alice's password works, and is reported as a password.
    let out = bare_job(
        &bed,
        &[
            ("REGISTRY_USER", "alice"),
            ("REGISTRY_PASSWORD", ALICE_PASSWORD),
        ],
    )
    .args(["check", "--format", "json"])
    .run()
    .expect_code(0);
    assert_eq!(out.json()["chosen"]["kind"], "password");
}

/// Reference 9.1: a runner token never logs in to a registry.
#[test]
fn a_runner_token_is_refused_with_its_reason() {
    let bed = TestBed::start();
    let out = bare_job(
        &bed,
        &[
            ("REGISTRY_USER", "alice"),
            ("REGISTRY_PASSWORD", "glrt-t1_runner-Zx8Cv3Bn6Mq1Wd4R"),
        ],
    )
    .args(["check"])
    .run()
    .expect_code(3);
    assert_contains(
        &out.stdout,
        "a runner authentication token, which never logs in",
    );
    assert!(
        bed.gitlab().requests_to("/jwt/auth").is_empty(),
        "it was sent"
    );
}

/// Reference 9.2: `read_api` pulls with a person's token, and gives a project access
/// token (a bot's) nothing: ruled out by the API, never sent to the registry.
#[test]
fn read_api_means_what_it_means_for_the_tokens_holder() {
    let bed = with_tokens([
        (42, BOT_READ_API, "project_10_bot_4f2a9c", Scope::ReadApi),
        (43, ALICE_READ_API, "alice", Scope::ReadApi),
    ]);
    let out = bare_job(&bed, &[("REGISTRY_PASSWORD", BOT_READ_API)])
        .args(["check"])
        .run()
        .expect_code(4);
    assert_contains(
        &out.stdout,
        "read_api gives a project or group access token no registry access",
    );
    assert!(
        bed.gitlab().requests_to("/jwt/auth").is_empty(),
        "ruled out before the registry"
    );
    let out = bare_job(&bed, &[("REGISTRY_PASSWORD", ALICE_READ_API)])
        .args(["check"])
        .run()
        .expect_code(0);
    assert_contains(&out.stdout, "a personal access token");
}

/// Reference 9.1: a fine-grained token has no classic scopes; it is verified live and
/// used, and the plan says how its rights were learnt.
#[test]
fn a_fine_grained_token_is_verified_live_and_used() {
    let bed = TestBed::with_world(world_with(|w| {
        w.access_tokens.push(AccessToken {
            fine_grained: true,
            ..AccessToken::new(
                44,
                "alice-fine",
                FINE_GRAINED,
                "alice",
                &[Scope::ReadRegistry, Scope::WriteRegistry],
            )
        });
    }));
    let out = bare_job(&bed, &[("REGISTRY_PASSWORD", FINE_GRAINED)])
        .args(["check", "--push"])
        .run()
        .expect_code(0);
    assert_contains(&out.stdout, "fine-grained access token");
    assert_contains(&out.stdout, "granted pull,push");
}

/// Reference 9.3: deploy tokens can never push to a protected repository.
#[test]
fn a_protected_repository_names_the_deploy_token_rule() {
    let bed = TestBed::with_world(world_with(|w| {
        w.project_mut("group/app")
            .push_protection
            .push(PushProtection {
                path_pattern: "group/app*".into(),
                min_push_level: Role::Maintainer,
            });
    }));
    let out = bare_job(
        &bed,
        &[
            ("CI_DEPLOY_USER", DEPLOY_RW_USER),
            ("CI_DEPLOY_PASSWORD", DEPLOY_RW_TOKEN),
        ],
    )
    .args(["check", "--push"])
    .run()
    .expect_code(4);
    assert_contains(
        &out.stdout,
        "deploy tokens can never push to a protected repository",
    );
}

/// Reference 9.4: the namespace storage limit, quoted, with where to act.
#[test]
fn the_storage_limit_is_named() {
    let bed = TestBed::with_world(world_with(|w| {
        w.project_mut("group/app").storage_limit_reached = true;
    }));
    let out = ci_registry_login()
        .envs(bed.ci_job_env("group/app"))
        .args(["check", "--push"])
        .run()
        .expect_code(4);
    assert_contains(&out.stdout, "over its storage limit");
    assert_contains(&out.stdout, "storage_usage_quotas");
}

/// Reference 9.4: maintenance mode grants nothing but pull; a job started by a Reporter
/// cannot push. Both are named for the job token.
#[test]
fn maintenance_mode_and_a_reporters_job_are_named() {
    let bed = TestBed::with_world(world_with(|w| w.settings.maintenance_mode = true));
    let out = ci_registry_login()
        .envs(bed.ci_job_env("group/app"))
        .args(["check", "--push"])
        .run()
        .expect_code(4);
    assert_contains(&out.stdout, "maintenance mode");
    ci_registry_login()
        .envs(bed.ci_job_env("group/app"))
        .args(["check"])
        .run()
        .expect_code(0);

    let bed = TestBed::with_world(world_with(|w| {
        w.jobs[0].user = Some("rita".into());
    }));
    let out = ci_registry_login()
        .envs(bed.ci_job_env("group/app"))
        .args(["check", "--push"])
        .run()
        .expect_code(4);
    assert_contains(
        &out.stdout,
        "a manual job started by a Reporter cannot push",
    );
}

/// Reference 9.4: external authorization turns access and deploy tokens off.
#[test]
fn external_authorization_is_named() {
    let bed = TestBed::with_world(world_with(|w| w.settings.external_authorization = true));
    let out = bare_job(&bed, &[("REGISTRY_PASSWORD", ALICE_PAT_RW)])
        .args(["check"])
        .run()
        .expect_code(4);
    assert_contains(&out.stdout, "external authorization");
}

/// A job token in GitLab 19's form: `glcbt-` and a JWT whose `exp` is `left` seconds
/// away (reference 9.1). Unsigned: nothing but the product reads it, and it only decodes.
fn jwt_job_token(left: u64) -> String {
    use base64::Engine as _;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let payload = format!(r#"{{"exp":{},"iat":{now},"sub":"job_9001"}}"#, now + left);
    format!(
        "glcbt-{}.{}.{}",
        b64(r#"{"alg":"RS256","typ":"JWT"}"#),
        b64(&payload),
        b64("signature-Qx7Wm2")
    )
}

/// Reference 9.1: the job token's remaining life is reported (plan, JSON, dotenv) and
/// a job token that ends within --min-token-lifetime is warned about.
#[test]
fn the_job_tokens_jwt_expiry_is_reported_and_warned_about() {
    let token = jwt_job_token(120);
    let bed = TestBed::with_world(world_with(|w| w.jobs[0].token = token.clone()));
    let run = ci_registry_login().envs(bed.ci_job_env("group/app"));
    let report = run.path("login.env");
    let config = run.home().join(".docker/config.json");
    let out = run
        .args(["--push", "--engine", "auth-file", "--report"])
        .arg(&report)
        .allow_secret_in(config)
        .run()
        .expect_code(0);
    assert_contains(out.said(), "less than --min-token-lifetime (5m)");
    let dotenv = std::fs::read_to_string(&report).unwrap();
    assert_contains(&dotenv, "CI_REGISTRY_LOGIN_JOB_TOKEN_EXPIRES_AT=");
    let out = ci_registry_login()
        .envs(bed.ci_job_env("group/app"))
        .args(["plan", "--format", "json"])
        .run()
        .expect_code(0);
    assert!(
        out.json()["chosen"]["job_token_expires_at"].is_string(),
        "{}",
        out.stdout
    );
    // With an hour left there is nothing to warn about.
    let bed = TestBed::with_world(world_with(|w| w.jobs[0].token = jwt_job_token(3600)));
    let out = ci_registry_login()
        .envs(bed.ci_job_env("group/app"))
        .args(["check", "--push"])
        .run()
        .expect_code(0);
    assert!(!out.stderr.contains("min-token-lifetime"), "{}", out.stderr);
}

/// Reference 9.6: an access token that expires within --warn-expiry days is said, with
/// the date; check still passes; the JSON and the dotenv report carry the date.
#[test]
fn an_access_token_expiring_soon_is_warned_about() {
    let bed = TestBed::with_world(world_with(|w| {
        w.access_token_mut("alice-rw").expires_at = Some(Date::days_from_today(5));
    }));
    let day = Date::days_from_today(5).to_string();
    let run = bare_job(&bed, &[("REGISTRY_PASSWORD", ALICE_PAT_RW)]);
    let report = run.path("login.env");
    let config = run.home().join(".docker/config.json");
    let out = run
        .args(["--push", "--engine", "auth-file", "--report"])
        .arg(&report)
        .allow_secret_in(config)
        .run()
        .expect_code(0);
    assert_contains(out.said(), format!("expires on {day} (in 5 days)"));
    assert_contains(
        std::fs::read_to_string(&report).unwrap(),
        format!("CI_REGISTRY_LOGIN_CREDENTIAL_EXPIRES_ON={day}"),
    );
    let out = bare_job(&bed, &[("REGISTRY_PASSWORD", ALICE_PAT_RW)])
        .args(["check", "--format", "json", "--warn-expiry", "3"])
        .run()
        .expect_code(0);
    assert_eq!(out.json()["chosen"]["credential_expires_on"], day.as_str());
    assert!(!out.stderr.contains("expires on"), "{}", out.stderr);
}
