//! Diagnosis: from a typed outcome to the message, the hint and the exit code a user
//! acts on. Pure: no I/O, so every message the product prints for a failed login or
//! check is unit-tested here, table by table; the end-to-end tests prove the same
//! messages against the emulator.

mod images;

pub use images::{
    DOCKER_HUB_ANONYMOUS_LIMIT, image_row, preflight_exit, preflight_summary, unnamed_row,
};

use crate::access::JOB_TOKEN_USER;
use crate::access::{self, Action, Kind, Scope};
use crate::credentials::Candidate;
use crate::engines::EngineError;
use crate::error::{Exit, Failure};
use crate::gitlab_api;
use crate::handshake::TokenReply;
use crate::job::{Job, Target};
use crate::mode::Mode;
use crate::names::Repository;
use crate::selection::Plan;
use crate::verdict::{Check, Outcome, Verification};

/// What the user should know about a target whatever credential is chosen: the
/// dependency proxy's limits, a repository that is unknown (and why, naming only the
/// sources that apply), a `DOCKER_AUTH_CONFIG` entry that would shadow the login.
pub fn target_warnings(job: &Job, target: &Target) -> Vec<String> {
    let registry = &target.registry;
    let mut out = Vec::new();
    if job.docker_auth_config.iter().any(|k| k.same_as(registry)) {
        out.push(format!(
            "DOCKER_AUTH_CONFIG holds an entry for {registry}: docker CLI 28.3 and newer use it ahead of what this login stores, so pushes may use those credentials; unset it for this step (env -u DOCKER_AUTH_CONFIG docker push ...) or point DOCKER_CONFIG at a separate folder"
        ));
    }
    if target.dependency_proxy {
        out.push(format!(
            "{registry} is GitLab's dependency proxy: it serves pulls only, and its tokens do not say what they allow, so a live check shows only that GitLab accepts the credential"
        ));
    } else if target.repository.is_none() {
        out.push(if job.is_own_registry(registry) {
            "no repository is known (--repository, CI_REGISTRY_IMAGE, CI_PROJECT_PATH): the credential can be checked, but not what it may pull or push".into()
        } else {
            format!(
                "no repository is known for {registry} (CI_REGISTRY_IMAGE and CI_PROJECT_PATH describe the job's own registry; pass --repository): the credential can be checked, but not what it may pull or push"
            )
        });
    }
    out
}

/// Whether the credential demonstrably has registry access, so that a 403 "access
/// forbidden" can only mean the Authorization header was lost on the way.
fn known_registry_access(
    c: &Candidate,
    check: &Check,
    api: Option<&gitlab_api::TokenInfo>,
) -> bool {
    let running_job_token =
        check.job.mode == Mode::GitLabCi && c.kind.row().job_scoped && c.username == JOB_TOKEN_USER;
    let api_says_so = api.is_some_and(|i| !Scope::from_token_scopes(&i.scopes).is_empty());
    running_job_token || api_says_so
}

pub fn judge(
    reply: TokenReply,
    c: &Candidate,
    check: &Check,
    realm: &str,
    api: Option<&gitlab_api::TokenInfo>,
) -> Verification {
    match reply {
        TokenReply::Granted(claims) => {
            let Some(repository) = &check.target.repository else {
                let mut v = Verification::new(
                    Outcome::Accepted,
                    "GitLab accepted the credential; without --repository what it may do is unknown",
                );
                v.lifetime_seconds = claims.lifetime_seconds();
                v.expires_at = claims.expires_at();
                v.auth_type = claims.auth_type;
                return v;
            };
            let granted = claims.granted(repository.as_str());
            let unknown = claims.unknown_actions(repository.as_str());
            let warnings = if unknown.is_empty() {
                Vec::new()
            } else {
                vec![format!(
                    "the token service at {realm} granted {} on {repository}, which are no registry actions (pull, push, delete, *): dropped; the token service is broken or hostile",
                    unknown.join(", ")
                )]
            };
            let needed = check.intent.actions();
            let detail = if access::covers(&granted, needed) {
                format!("granted {}", access::join_actions(&granted))
            } else {
                too_little(c, check, repository, &granted)
            };
            Verification {
                outcome: Outcome::Granted,
                lifetime_seconds: claims.lifetime_seconds(),
                expires_at: claims.expires_at(),
                auth_type: claims.auth_type,
                granted: Some(granted),
                warnings,
                ..Verification::new(Outcome::Granted, detail)
            }
        }
        TokenReply::Unauthorized(message) => {
            Verification::new(Outcome::Rejected, unauthorized(c, &message))
        }
        TokenReply::Forbidden(message) => {
            Verification::new(Outcome::Rejected, forbidden(c, check, &message, api))
        }
        TokenReply::Redirected(location) => Verification::new(
            Outcome::Rejected,
            format!(
                "the token endpoint {realm} redirected to {location}; no credentials were sent there. A redirect drops the Authorization header, which GitLab answers with 'access forbidden': point the registry's token realm at the final URL (a realm written as http:// in front of an https-only GitLab does this, as can a proxy)"
            ),
        ),
        TokenReply::Broken(message) => Verification::new(Outcome::Unreachable, message),
        TokenReply::Net(e) => Verification::unreachable(&e, e.hint()),
    }
}

fn unauthorized(c: &Candidate, message: &str) -> String {
    let why = match c.kind {
        Kind::Password => {
            "GitLab refused the password. A user with two-factor authentication can never log in with a password: use a personal, project or group access token with read_registry (and write_registry to push)".to_string()
        }
        Kind::RegistryUser | Kind::JobToken => format!(
            "GitLab refused the job token: it works only while its job runs (a finished or retried job's token is dead) and only with the user {JOB_TOKEN_USER}"
        ),
        Kind::DeployToken => {
            "GitLab refused the deploy token: the user name must be the token's own (gitlab+deploy-token-N), and the token must not be revoked or expired".to_string()
        }
        Kind::AccessToken => "GitLab refused the access token: it is wrong, expired or revoked".to_string(),
    };
    format!("{why} (GitLab said: {})", first_sentence(message))
}

fn forbidden(
    c: &Candidate,
    check: &Check,
    message: &str,
    api: Option<&gitlab_api::TokenInfo>,
) -> String {
    let lower = message.to_ascii_lowercase();
    if lower.contains("too many failed") || lower.contains("too many distinct") {
        return format!(
            "GitLab has banned this address after repeated failed logins ({message}); it lifts the ban after a while (an hour by default) or an administrator can"
        );
    }
    if lower.contains("protected repository path") {
        return format!(
            "the repository path is protected for pushes ({message}): a user with a higher role, or a change to the protection rule, is needed"
        );
    }
    if !lower.contains("access forbidden") {
        return format!("GitLab refused: {message}");
    }
    if known_registry_access(c, check, api) {
        "GitLab answered 'access forbidden' to a credential that has registry access: the Authorization header is being lost on the way to /jwt/auth (a proxy in front of GitLab, or a redirect); check the proxy and the registry's token realm".to_string()
    } else {
        "GitLab answered 'access forbidden': the credential has no registry scope at all (it needs read_registry, and write_registry to push), or a proxy in front of GitLab drops the Authorization header on the way to /jwt/auth".to_string()
    }
}

/// Too few actions: name what is missing and what would grant it.
fn too_little(c: &Candidate, check: &Check, repository: &Repository, granted: &[Action]) -> String {
    let missing = access::missing(granted, check.intent.actions());
    let scopes: Vec<&str> = missing
        .iter()
        .filter_map(Action::scope)
        .map(Scope::as_str)
        .collect();
    let own = check.job.owns(repository) != Some(false);
    let fix = match c.kind {
        Kind::RegistryUser | Kind::JobToken if !own => format!(
            "a job token never pushes to another project, and pulls from {repository} only when that project's CI/CD job token allowlist admits this project (and the job's user may read it)"
        ),
        Kind::RegistryUser | Kind::JobToken => {
            "the job token should pull and push its own project; is the project's container registry enabled?".to_string()
        }
        Kind::DeployToken => format!("use a deploy token with {} on this project", scopes.join(" and ")),
        Kind::AccessToken => format!(
            "the token needs {} and its user at least the {} role on the project",
            scopes.join(" and "),
            if missing.contains(&Action::Push) { "Developer" } else { "Reporter" }
        ),
        Kind::Password => format!(
            "the user needs at least the {} role on the project",
            if missing.contains(&Action::Push) { "Developer" } else { "Reporter" }
        ),
    };
    format!(
        "granted {} on {repository}; {} needs {} ({}): {fix}",
        access::join_actions(granted),
        check.intent.as_str(),
        access::join_actions(&missing),
        scopes.join(", ")
    )
}

/// GitLab's 401 message carries a long help URL; the first sentence is enough.
fn first_sentence(message: &str) -> &str {
    message.split(". ").next().unwrap_or(message)
}

/// The error when no candidate can serve the intent, with each one's reason.
pub fn nothing_usable(plan: &Plan) -> Failure {
    let mut message = plan.explain();
    if plan.candidates.is_empty() {
        message.push_str(": no credentials found");
        if plan.mode.is_local() {
            message.push_str(&format!(" ({})", plan.mode.describe()));
            return Failure::new(Exit::NoCredential, message).with_hint(
                "there is no job token here: set REGISTRY_USER and REGISTRY_PASSWORD (e.g. in .gitlab-ci-local-variables.yml or ~/.gitlab-ci-local/variables.yml), log in with glab auth login, or docker login once",
            );
        }
        return Failure::new(Exit::NoCredential, message).with_hint(
            "in a GitLab job CI_REGISTRY_USER/CI_REGISTRY_PASSWORD or CI_JOB_TOKEN are set for you; elsewhere set REGISTRY_USER and REGISTRY_PASSWORD (or name the secret's variable with --password-env)",
        );
    }
    // A network failure is said once, as what it is: no credential was judged.
    if plan.failure_exit() == Exit::Unreachable
        && let Some(detail) = plan
            .candidates
            .iter()
            .find_map(|a| a.live.as_ref().map(|l| &l.detail))
    {
        return Failure::new(
            Exit::Unreachable,
            format!("cannot reach {}: {detail}", plan.target.registry),
        );
    }
    for a in &plan.candidates {
        message.push_str(&format!(
            "\n  {} ({}): {}",
            a.candidate.kind,
            a.candidate.origin,
            a.reason()
        ));
    }
    Failure::new(plan.failure_exit(), message)
}

pub fn engine_failure(e: EngineError) -> Failure {
    use crate::auth_file::AuthFileError as F;
    let exit = match &e {
        EngineError::Refused { .. } => Exit::Rejected,
        EngineError::Unreachable { .. } => Exit::Unreachable,
        EngineError::NoFile(_)
        | EngineError::File(
            F::Invalid { .. }
            | F::NotAnObject { .. }
            | F::IsDirectory { .. }
            | F::ReadOnly { .. }
            | F::Refused { .. },
        ) => Exit::Usage,
        EngineError::Missing { .. } | EngineError::Failed { .. } | EngineError::File(_) => {
            Exit::Engine
        }
    };
    let failure = Failure::new(exit, e.to_string());
    match e {
        EngineError::Missing { .. } => failure.with_hint("install it, choose another with --engine, or use --engine auth-file to write the docker config directly"),
        _ => failure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Intent;
    use crate::credentials::{Binding, Origin};
    use crate::jwt::Claims;
    use crate::names::Registry;
    use crate::secret::Secret;

    fn registry() -> Registry {
        Registry::parse("registry.example.com").unwrap()
    }

    fn candidate(kind: Kind, source: &str, username: &str) -> Candidate {
        Candidate {
            kind,
            origin: Origin::Variable(source.into()),
            username: username.into(),
            secret: Secret::new("s3cret-diagnose"),
            binding: Binding::to(vec![registry()], "the job's registry"),
            scopes: None,
            problem: None,
            notes: Vec::new(),
        }
    }

    fn the_job(project: &str) -> Job {
        Job {
            mode: Mode::GitLabCi,
            registry: Some(registry()),
            dependency_proxy: None,
            project: Some(project.into()),
            servers: Vec::new(),
            docker_auth_config: Vec::new(),
        }
    }

    fn target() -> Target {
        Target {
            registry: registry(),
            repository: Some(Repository::parse("group/app", None).unwrap()),
            keys: vec![registry().host_port()],
            dependency_proxy: false,
        }
    }

    fn check<'a>(job: &'a Job, target: &'a Target, intent: Intent) -> Check<'a> {
        Check {
            job,
            target,
            intent,
            api_url: None,
            insecure: false,
        }
    }

    fn granted(actions: &[&str]) -> TokenReply {
        let payload = serde_json::json!({
            "access": [{"type": "repository", "name": "group/app", "actions": actions}],
            "iat": 1000, "exp": 1300,
        });
        TokenReply::Granted(serde_json::from_value::<Claims>(payload).unwrap())
    }

    /// Every token-service answer, per credential kind: the outcome and what the
    /// message must say (the cause and the fix).
    #[test]
    fn token_replies_become_verdicts() {
        let job = candidate(Kind::RegistryUser, "CI_REGISTRY_USER", JOB_TOKEN_USER);
        let password = candidate(Kind::Password, "REGISTRY_PASSWORD", "alice");
        let deploy = candidate(Kind::DeployToken, "CI_DEPLOY_USER", "gitlab+deploy-token-1");
        let pat = candidate(Kind::AccessToken, "REGISTRY_PASSWORD", "alice");
        let net = crate::http::NetError {
            url: "https://registry.example.com/jwt/auth".into(),
            kind: crate::http::NetErrorKind::Timeout,
            reason: "did not answer in time".into(),
        };
        let rows: Vec<(&Candidate, TokenReply, Intent, Outcome, &[&str])> = vec![
            (
                &job,
                granted(&["pull", "push"]),
                Intent::Push,
                Outcome::Granted,
                &["granted pull,push"],
            ),
            (
                &pat,
                granted(&["pull"]),
                Intent::Push,
                Outcome::Granted,
                &["push needs push", "write_registry", "Developer"],
            ),
            (
                &job,
                granted(&["pull"]),
                Intent::Push,
                Outcome::Granted,
                &["container registry enabled"],
            ),
            (
                &deploy,
                granted(&["pull"]),
                Intent::Push,
                Outcome::Granted,
                &["deploy token with write_registry"],
            ),
            (
                &password,
                TokenReply::Unauthorized(
                    "HTTP Basic: Access denied. If a password was provided".into(),
                ),
                Intent::Pull,
                Outcome::Rejected,
                &[
                    "two-factor",
                    "access token",
                    "GitLab said: HTTP Basic: Access denied",
                ],
            ),
            (
                &job,
                TokenReply::Unauthorized("HTTP Basic: Access denied".into()),
                Intent::Pull,
                Outcome::Rejected,
                &["works only while its job runs"],
            ),
            (
                &deploy,
                TokenReply::Unauthorized("denied".into()),
                Intent::Pull,
                Outcome::Rejected,
                &["gitlab+deploy-token-N"],
            ),
            (
                &pat,
                TokenReply::Forbidden(
                    "Too many failed authentication attempts from this IP".into(),
                ),
                Intent::Pull,
                Outcome::Rejected,
                &["banned this address"],
            ),
            (
                &job,
                TokenReply::Forbidden("access forbidden".into()),
                Intent::Pull,
                Outcome::Rejected,
                &["Authorization header is being lost"],
            ),
            (
                &pat,
                TokenReply::Forbidden("access forbidden".into()),
                Intent::Pull,
                Outcome::Rejected,
                &["no registry scope"],
            ),
            (
                &job,
                TokenReply::Forbidden("denied: protected repository path".into()),
                Intent::Push,
                Outcome::Rejected,
                &["protected for pushes"],
            ),
            (
                &job,
                TokenReply::Redirected("https://elsewhere/jwt/auth".into()),
                Intent::Pull,
                Outcome::Rejected,
                &["redirected", "no credentials were sent there"],
            ),
            (
                &job,
                TokenReply::Broken("answered with HTML".into()),
                Intent::Pull,
                Outcome::Unreachable,
                &["answered with HTML"],
            ),
            (
                &job,
                TokenReply::Net(net),
                Intent::Pull,
                Outcome::Unreachable,
                &["did not answer in time"],
            ),
        ];
        let (own, target) = (the_job("group/app"), target());
        for (c, reply, intent, outcome, says) in rows {
            let shown = format!("{:?} {reply:?}", c.kind);
            let v = judge(
                reply,
                c,
                &check(&own, &target, intent),
                "https://gitlab.example.com/jwt/auth",
                None,
            );
            assert_eq!(v.outcome, outcome, "{shown}: {}", v.detail);
            for needle in says {
                assert!(
                    v.detail.contains(needle),
                    "{shown}: {needle:?} not in {}",
                    v.detail
                );
            }
            assert!(!v.detail.contains('\n'), "{shown}: one line: {}", v.detail);
        }
    }

    /// Issue 12's newcomer finding: a second registry's warning names only what applies
    /// to it; the job's registry names the job's variables.
    #[test]
    fn target_warnings_name_what_applies() {
        let job = Job {
            docker_auth_config: vec![Registry::parse("other.example.com").unwrap()],
            ..the_job("group/app")
        };
        let bare = |registry: &str, proxy: bool| Target {
            registry: Registry::parse(registry).unwrap(),
            repository: None,
            keys: Vec::new(),
            dependency_proxy: proxy,
        };
        let own = target_warnings(&job, &bare("registry.example.com", false));
        assert_eq!(own.len(), 1);
        assert!(own[0].contains("(--repository, CI_REGISTRY_IMAGE, CI_PROJECT_PATH)"));
        let other = target_warnings(&job, &bare("other.example.com", false));
        assert_eq!(other.len(), 2, "{other:?}");
        assert!(other[0].starts_with("DOCKER_AUTH_CONFIG holds an entry for other.example.com"));
        assert!(other[1].contains("describe the job's own registry; pass --repository"));
        let proxy = target_warnings(&job, &bare("gitlab.example.com", true));
        assert!(proxy[0].contains("serves pulls only"), "{proxy:?}");
        assert!(target_warnings(&job, &target()).is_empty());
        for w in own.iter().chain(&other).chain(&proxy) {
            assert!(!w.contains('\n'), "one line: {w}");
        }
    }

    /// A job token reaching another project's repository: the allowlist is the fix.
    #[test]
    fn another_projects_repository_names_the_allowlist() {
        let job = candidate(Kind::JobToken, "CI_JOB_TOKEN", JOB_TOKEN_USER);
        let (other, target) = (the_job("group/other"), target());
        let v = judge(
            granted(&[]),
            &job,
            &check(&other, &target, Intent::Pull),
            "realm",
            None,
        );
        assert!(v.detail.contains("allowlist"), "{}", v.detail);
    }

    fn plan_with(candidates: Vec<Candidate>, live: Vec<(usize, Verification)>) -> Plan {
        let mut plan = Plan::offline(candidates, target(), Intent::Push, Mode::GitLabCi, None);
        if !live.is_empty() {
            plan.apply_live(live);
        }
        plan
    }

    /// Each exit code a failed login ends with, and its one-line cause.
    #[test]
    fn failures_carry_their_exit_code() {
        let nothing = nothing_usable(&plan_with(Vec::new(), Vec::new()));
        assert_eq!(nothing.exit, Exit::NoCredential);
        assert!(nothing.message.contains("no credentials found"));
        assert!(nothing.hint.unwrap().contains("REGISTRY_PASSWORD"));

        let job = candidate(Kind::RegistryUser, "CI_REGISTRY_USER", JOB_TOKEN_USER);
        let refused = Verification::new(Outcome::Rejected, "GitLab refused the job token");
        let rejected = nothing_usable(&plan_with(vec![job.clone()], vec![(0, refused)]));
        assert_eq!(rejected.exit, Exit::Rejected);
        assert!(
            rejected
                .message
                .contains("CI_REGISTRY_USER): GitLab refused"),
            "{}",
            rejected.message
        );

        let dns =
            Verification::unreachable("cannot resolve 'registry.example.com': no such host", None);
        let unreachable = nothing_usable(&plan_with(vec![job], vec![(0, dns)]));
        assert_eq!(unreachable.exit, Exit::Unreachable);
        assert_eq!(
            unreachable.message,
            "cannot reach registry.example.com: cannot resolve 'registry.example.com': no such host"
        );

        let engine_rows = [
            (EngineError::NoFile("no HOME".into()), Exit::Usage),
            (
                EngineError::Missing {
                    program: "docker".into(),
                },
                Exit::Engine,
            ),
            (
                EngineError::Refused {
                    engine: "docker",
                    output: "denied".into(),
                },
                Exit::Rejected,
            ),
            (
                EngineError::Unreachable {
                    engine: "docker",
                    output: "no route".into(),
                },
                Exit::Unreachable,
            ),
            (
                EngineError::Failed {
                    engine: "podman",
                    output: "crashed".into(),
                },
                Exit::Engine,
            ),
        ];
        for (error, exit) in engine_rows {
            let shown = error.to_string();
            let failure = engine_failure(error);
            assert_eq!(failure.exit, exit, "{shown}");
            assert!(!failure.message.contains('\n'), "{shown}");
        }
        let missing = engine_failure(EngineError::Missing {
            program: "docker".into(),
        });
        assert!(missing.hint.unwrap().contains("--engine auth-file"));
    }
}
