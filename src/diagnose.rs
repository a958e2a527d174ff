//! Diagnosis: from a typed outcome to the message, the hint and the exit code a user
//! acts on. Pure: no I/O, so every message the product prints for a failed login or
//! check is unit-tested here, table by table; the end-to-end tests prove the same
//! messages against the emulator.

mod images;

pub use images::{
    DOCKER_HUB_ANONYMOUS_LIMIT, image_row, keyed_by_host_only, preflight_exit, preflight_summary,
    unnamed_row,
};

use crate::access::JOB_TOKEN_USER;
use crate::access::{self, Action, Holder, Intent, Kind, Scope};
use crate::credentials::Candidate;
use crate::engines::EngineError;
use crate::error::{Exit, Failure};
use crate::gitlab_api::{self, TokenInfo};
use crate::handshake::TokenReply;
use crate::job::{Job, Target};
use crate::mode::Mode;
use crate::names::Repository;
use crate::proxy_probe::{ProbeImage, ProbeOutcome};
use crate::selection::Plan;
use crate::verdict::{Check, Outcome, Verification};

/// What the user should know about a target whatever credential is chosen: the
/// dependency proxy's limits, a repository that is unknown (and why, naming only the
/// sources that apply), a `DOCKER_AUTH_CONFIG` entry that would shadow the login.
/// `probe`: the image the live check requests through the dependency proxy, if any.
pub fn target_warnings(job: &Job, target: &Target, probe: Option<&ProbeImage>) -> Vec<String> {
    let registry = &target.registry;
    let mut out = Vec::new();
    if job.docker_auth_config.iter().any(|k| k.same_as(registry)) {
        out.push(format!(
            "DOCKER_AUTH_CONFIG holds an entry for {registry}: docker CLI 28.3 and newer use it ahead of what this login stores, so pushes may use those credentials; unset it for this step (env -u DOCKER_AUTH_CONFIG docker push ...) or point DOCKER_CONFIG at a separate folder"
        ));
    }
    if target.dependency_proxy {
        // Reference 9.7, gitlab#362991: a login the proxy accepts may still not pull.
        if probe.is_none() {
            out.push(format!(
                "{registry} is GitLab's dependency proxy: it serves pulls only, and GitLab accepting the login there does not prove a pull (gitlab#362991); pass --proxy-probe IMAGE (an image the job pulls through it) to check or login to request one manifest"
            ));
        }
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

/// What an access token's own description (GitLab API) says about the job's intent.
pub enum TokenScopes {
    /// It cannot serve: the verdict, without asking the registry.
    Refuse(Verification),
    /// Ask the registry, saying these facts.
    Continue(Vec<String>),
}

/// Judges an access token by what `/personal_access_tokens/self` says (reference 5, 9.1,
/// 9.2): revoked or inactive stops; a fine-grained token is left to the live grant;
/// classic scopes are read per holder (`read_api` grants a bot nothing).
pub fn token_scopes_verdict(
    info: &TokenInfo,
    holder: Holder,
    intent: Intent,
    dependency_proxy: bool,
) -> TokenScopes {
    let described = |mut v: Verification| {
        v.token_scopes = Some(info.scopes.clone());
        v.token_expires = info.expires_at.clone();
        v
    };
    if info.revoked == Some(true) || info.active == Some(false) {
        return TokenScopes::Refuse(described(Verification::new(
            Outcome::Rejected,
            "the access token is revoked or inactive (GitLab API); create a new one",
        )));
    }
    // Reference 9.7: GitLab refuses project access tokens at the dependency proxy.
    if dependency_proxy && holder == Holder::ProjectBot {
        return TokenScopes::Refuse(described(Verification::new(
            Outcome::Rejected,
            "a project access token cannot pull through the dependency proxy (GitLab refuses it: gitlab#332411); use a group access token, a personal access token, or the job's CI_DEPENDENCY_PROXY_USER/_PASSWORD",
        )));
    }
    // Reference 9.7: the virtual-registry scope serves the dependency proxy.
    if dependency_proxy && info.scopes.iter().any(|s| s == "read_virtual_registry") {
        return TokenScopes::Continue(vec![
            "read_virtual_registry serves pulls through the dependency proxy".into(),
        ]);
    }
    if info.is_fine_grained() {
        return TokenScopes::Continue(vec![
            "a fine-grained access token: its registry permissions are not classic scopes, so the registry's grant decides".into(),
        ]);
    }
    // Reference 1.9: GitLab's proxy token service wants reading and creating images
    // both (read_registry and write_registry, or api); read alone is refused there.
    let has = |scope: &str| info.scopes.iter().any(|s| s == scope);
    if dependency_proxy && !(has("api") || has("read_registry") && has("write_registry")) {
        return TokenScopes::Refuse(described(Verification::new(
            Outcome::Rejected,
            format!(
                "the access token's scopes are {} (GitLab API); the dependency proxy needs read_registry and write_registry, or api, or read_virtual_registry (GitLab refuses anything less there): create a token with them",
                if info.scopes.is_empty() {
                    "none".to_string()
                } else {
                    info.scopes.join(",")
                }
            ),
        )));
    }
    let mut notes = Vec::new();
    let read_api_only = info.scopes.iter().any(|s| s == "read_api")
        && !info
            .scopes
            .iter()
            .any(|s| s == "api" || s == "read_registry");
    if read_api_only && holder != Holder::Unknown {
        notes.push(format!(
            "{} (its user's name says so): read_api {}",
            holder.describe(),
            if holder.is_bot() {
                "gives it no registry access"
            } else {
                "lets it pull"
            }
        ));
    }
    let registry_scopes = Scope::from_token_scopes(&info.scopes, holder);
    let lacking: Vec<&str> = Scope::needed(intent)
        .into_iter()
        .filter(|s| !registry_scopes.contains(s))
        .map(Scope::as_str)
        .collect();
    if lacking.is_empty() {
        return TokenScopes::Continue(notes);
    }
    let granted: Vec<Action> = [Action::Pull, Action::Push]
        .into_iter()
        .filter(|a| a.scope().is_some_and(|s| registry_scopes.contains(&s)))
        .collect();
    let scopes = if info.scopes.is_empty() {
        "none".to_string()
    } else {
        info.scopes.join(",")
    };
    let bot_read_api = if read_api_only && holder.is_bot() {
        " (read_api gives a project or group access token no registry access)"
    } else {
        ""
    };
    let mut v = Verification::new(
        Outcome::Granted,
        format!(
            "the access token's scopes are {scopes} (GitLab API){bot_read_api}; {} needs {}: create a token with read_registry{}",
            intent.as_str(),
            lacking.join(" and "),
            if intent == Intent::Push {
                " and write_registry"
            } else {
                ""
            }
        ),
    );
    v.granted = Some(granted);
    v.notes = notes;
    TokenScopes::Refuse(described(v))
}

/// A job token that is a JWT and ends before `min_lifetime` has passed (issue 13, item
/// 3): a push still running then fails. Unix times.
pub fn job_token_expiry_warning(plan: &Plan, now: u64, min_lifetime: u64) -> Option<String> {
    let chosen = plan.chosen()?;
    let at = chosen.candidate.expires_at()?;
    let left = at.saturating_sub(now);
    (left < min_lifetime).then(|| {
        format!(
            "the job token ({}) expires at {}, in {}: less than --min-token-lifetime ({}); a push still running then fails with 'unauthorized'; raise the job's timeout or split the job",
            chosen.candidate.origin,
            crate::text::rfc3339(at),
            crate::text::duration(left),
            crate::text::duration(min_lifetime)
        )
    })
}

/// An access token whose expiry day (GitLab API) is within `warn_days` (issue 13, item
/// 5; reference 9.6: tokens expire on a schedule). Unix time `now`.
pub fn credential_expiry_warning(plan: &Plan, now: u64, warn_days: u64) -> Option<String> {
    let chosen = plan.chosen()?;
    let date = chosen.live.as_ref()?.token_expires.as_deref()?;
    let day = crate::text::date_to_unix(date)?;
    let days_left = day.saturating_sub(now).div_ceil(86_400);
    (days_left <= warn_days).then(|| {
        let when = match days_left {
            0 => "today".to_string(),
            1 => "tomorrow".to_string(),
            n => format!("in {n} days"),
        };
        format!(
            "the {} from {} expires on {date} ({when}): rotate it before then (User settings > Access tokens for a personal token; the project's or group's Settings > Access tokens for theirs) and update {}",
            chosen.candidate.kind,
            chosen.candidate.origin,
            chosen.candidate.origin
        )
    })
}

/// The dependency proxy's answer to one manifest request, folded into the verdict of
/// a credential GitLab accepted there (issue 13, item 6; reference 1.9, 9.7): pulled
/// proves the pull; refused is the credential's failure (exit 4), with GitLab's reason;
/// an image upstream does not have leaves the credential usable but the pull unproven,
/// and says so naming what named the image; unreachable is exit 5.
pub fn proxy_probe_verdict(
    accepted: Verification,
    image: &ProbeImage,
    outcome: ProbeOutcome,
) -> Verification {
    let what = format!("{} ({})", image.describe(), image.source);
    let said = |m: &str| {
        if m.is_empty() {
            String::new()
        } else {
            format!(": {m}")
        }
    };
    match outcome {
        ProbeOutcome::Pulled { digest } => Verification {
            detail: format!(
                "pulled the manifest of {what} through the dependency proxy{}",
                digest.map(|d| format!(" ({d})")).unwrap_or_default()
            ),
            ..accepted
        },
        ProbeOutcome::Refused { status, message } => {
            let fix = if status == 403 {
                format!(
                    "the credential's user must be able to read the group {} (a member of it or of a project in it; the job's CI_DEPENDENCY_PROXY_USER/_PASSWORD act as the user running the job), and a token needs read_registry and write_registry, or api, or read_virtual_registry; a project access token never pulls through the dependency proxy (gitlab#332411)",
                    image.group
                )
            } else {
                "GitLab did not accept the proxy's token for this image: a project access token never pulls through the dependency proxy (gitlab#332411); use a group or personal access token with read_registry and write_registry, or the job's CI_DEPENDENCY_PROXY_USER/_PASSWORD".to_string()
            };
            Verification {
                outcome: Outcome::Rejected,
                detail: format!(
                    "GitLab accepted the login to the dependency proxy, but refused to serve {what}: HTTP {status}{}; {fix}",
                    said(&message)
                ),
                ..accepted
            }
        }
        ProbeOutcome::NotFound(message) => {
            let mut v = Verification {
                detail: format!(
                    "GitLab accepted the credential, but upstream has no {what}{}, so the pull is not proven",
                    said(&message)
                ),
                ..accepted
            };
            v.warnings.push(format!(
                "{}: {} was not found upstream (Docker Hub){}: a pull through the dependency proxy is not proven; name an image and tag that exist",
                image.source,
                image.describe(),
                said(&message)
            ));
            v
        }
        ProbeOutcome::Unreachable(message) => Verification {
            outcome: Outcome::Unreachable,
            detail: format!("the dependency proxy could not be asked for {what}: {message}"),
            ..accepted
        },
    }
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
    let api_says_so =
        api.is_some_and(|i| !Scope::from_token_scopes(&i.scopes, Holder::Unknown).is_empty());
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
                too_little(c, check, repository, &granted, api)
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
        // Not a password for certain: two-factor advice would send a token's owner astray.
        Kind::Unknown => format!(
            "GitLab refused the secret from {} (user {}): it is neither a valid access token (wrong, expired or revoked) nor that user's password",
            c.origin, c.username
        ),
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
    // Reference 9.3: a protected repository refuses the whole request.
    if lower.contains("protected repository path") {
        return if c.kind == Kind::DeployToken {
            format!(
                "the repository path is protected for pushes ({message}): deploy tokens can never push to a protected repository; use a job token or an access token of a role the rule allows"
            )
        } else {
            format!(
                "the repository path is protected for pushes ({message}): a user with a higher role, or a change to the protection rule, is needed"
            )
        };
    }
    // Reference 9.4: GitLab's own message carries the usage-quotas link.
    if lower.contains("storage limit") {
        return format!(
            "the namespace is over its storage limit, so GitLab refuses pushes (GitLab said: {message}); free space (delete old images or tags) or raise the limit, on the namespace's Usage quotas page"
        );
    }
    if !lower.contains("access forbidden") {
        return format!("GitLab refused: {message}");
    }
    // Reference 9.4: external authorization turns deploy and access tokens off.
    if matches!(c.kind, Kind::DeployToken | Kind::AccessToken)
        && known_registry_access(c, check, api)
    {
        return "GitLab answered 'access forbidden' to a token that has registry scopes: the instance's external authorization turns off deploy and access tokens for the registry (ask an administrator, or use the job token), or a proxy in front of GitLab drops the Authorization header on the way to /jwt/auth".to_string();
    }
    if known_registry_access(c, check, api) {
        "GitLab answered 'access forbidden' to a credential that has registry access: the Authorization header is being lost on the way to /jwt/auth (a proxy in front of GitLab, or a redirect); check the proxy and the registry's token realm".to_string()
    } else {
        "GitLab answered 'access forbidden': the credential has no registry scope at all (it needs read_registry, and write_registry to push), or a proxy in front of GitLab drops the Authorization header on the way to /jwt/auth".to_string()
    }
}

/// Too few actions: name what is missing and what would grant it.
/// Whether the API said the token carries push rights.
fn token_may_push(api: Option<&TokenInfo>) -> bool {
    api.is_some_and(|i| {
        Scope::from_token_scopes(&i.scopes, Holder::Unknown).contains(&Scope::WriteRegistry)
    })
}

fn too_little(
    c: &Candidate,
    check: &Check,
    repository: &Repository,
    granted: &[Action],
    api: Option<&TokenInfo>,
) -> String {
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
        // Reference 9.4: the job token acts with the role of the user who started the
        // job, and maintenance mode grants nothing but pull.
        Kind::RegistryUser | Kind::JobToken if missing.contains(&Action::Push) && !granted.is_empty() => {
            "the job token acts with the role of the user who started the job, and pushing needs Developer: a manual job started by a Reporter cannot push (have a Developer run it); or the instance is in maintenance mode, which grants nothing but pull".to_string()
        }
        Kind::RegistryUser | Kind::JobToken => {
            "the job token should pull and push its own project; is the project's container registry enabled?".to_string()
        }
        Kind::DeployToken => format!("use a deploy token with {} on this project", scopes.join(" and ")),
        Kind::AccessToken if missing.contains(&Action::Push) && token_may_push(api) => {
            "the token has write_registry, so its user's role is below Developer on the project, or the instance is in maintenance mode, which grants nothing but pull".to_string()
        }
        Kind::AccessToken => format!(
            "the token needs {} and its user at least the {} role on the project",
            scopes.join(" and "),
            if missing.contains(&Action::Push) { "Developer" } else { "Reporter" }
        ),
        Kind::Password | Kind::Unknown => format!(
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
            server_url: None,
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
        let unknown = candidate(Kind::Unknown, "REGISTRY_PASSWORD", "alice");
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
                &["started by a Reporter cannot push", "maintenance mode"],
            ),
            (
                &job,
                granted(&[]),
                Intent::Push,
                Outcome::Granted,
                &["container registry enabled"],
            ),
            (
                &deploy,
                TokenReply::Forbidden("Pushing to protected repository path forbidden".into()),
                Intent::Push,
                Outcome::Rejected,
                &["deploy tokens can never push to a protected repository"],
            ),
            (
                &pat,
                TokenReply::Forbidden("Pushing to protected repository path forbidden".into()),
                Intent::Push,
                Outcome::Rejected,
                &["a user with a higher role"],
            ),
            (
                &pat,
                TokenReply::Forbidden("Your action has been rejected because the namespace storage limit has been reached. For more information, visit https://gitlab.example.com/help/user/storage_usage_quotas.md".into()),
                Intent::Push,
                Outcome::Rejected,
                &["over its storage limit", "storage_usage_quotas", "Usage quotas"],
            ),
            (
                &unknown,
                TokenReply::Unauthorized("HTTP Basic: Access denied. If a password".into()),
                Intent::Pull,
                Outcome::Rejected,
                &["neither a valid access token", "nor that user's password"],
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
        let (own, target) = (the_job("group/app"), Target::example());
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
            // Reference 9.1: two-factor advice only for what is surely a password.
            if c.kind != Kind::Password {
                assert!(!v.detail.contains("two-factor"), "{shown}: {}", v.detail);
            }
        }
    }

    fn probe_image() -> ProbeImage {
        ProbeImage {
            group: "group".into(),
            image: "alpine".into(),
            reference: "3.20".into(),
            source: "--proxy-probe",
        }
    }

    /// Issue 13, item 6: each answer of the proxy to the probe, its verdict and words.
    #[test]
    fn the_proxy_probe_proves_refuses_or_leaves_the_pull_unproven() {
        let accepted = || Verification::new(Outcome::Accepted, "GitLab accepted the credential");
        let image = probe_image();
        let refused = |status: u16| ProbeOutcome::Refused {
            status,
            message: "denied: access forbidden".into(),
        };
        // (outcome, verdict, words in the detail, warning naming the source)
        let cases: Vec<(ProbeOutcome, Outcome, &[&str], bool)> = vec![
            (
                ProbeOutcome::Pulled {
                    digest: Some("sha256:abc".into()),
                },
                Outcome::Accepted,
                &[
                    "pulled the manifest of group/dependency_proxy/containers/alpine:3.20 (--proxy-probe)",
                    "(sha256:abc)",
                ],
                false,
            ),
            (
                refused(403),
                Outcome::Rejected,
                &[
                    "refused to serve group/dependency_proxy/containers/alpine:3.20",
                    "HTTP 403: denied: access forbidden",
                    "read the group group",
                ],
                false,
            ),
            (
                refused(401),
                Outcome::Rejected,
                &[
                    "HTTP 401",
                    "project access token never pulls",
                    "gitlab#332411",
                ],
                false,
            ),
            (
                ProbeOutcome::NotFound("manifest unknown: manifest unknown".into()),
                Outcome::Accepted,
                &["upstream has no", "manifest unknown", "pull is not proven"],
                true,
            ),
            (
                ProbeOutcome::Unreachable("connection refused".into()),
                Outcome::Unreachable,
                &["could not be asked for", "connection refused"],
                false,
            ),
        ];
        for (outcome, verdict, words, warned) in cases {
            let shown = format!("{outcome:?}");
            let v = proxy_probe_verdict(accepted(), &image, outcome);
            assert_eq!(v.outcome, verdict, "{shown}");
            for w in words {
                assert!(v.detail.contains(w), "{shown}: {}", v.detail);
            }
            assert!(!v.detail.contains('\n'), "one line: {}", v.detail);
            assert_eq!(
                v.warnings.len(),
                usize::from(warned),
                "{shown}: {:?}",
                v.warnings
            );
            if warned {
                assert!(
                    v.warnings[0].starts_with("--proxy-probe: "),
                    "{:?}",
                    v.warnings
                );
            }
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
        let own = target_warnings(&job, &bare("registry.example.com", false), None);
        assert_eq!(own.len(), 1);
        assert!(own[0].contains("(--repository, CI_REGISTRY_IMAGE, CI_PROJECT_PATH)"));
        let other = target_warnings(&job, &bare("other.example.com", false), None);
        assert_eq!(other.len(), 2, "{other:?}");
        assert!(other[0].starts_with("DOCKER_AUTH_CONFIG holds an entry for other.example.com"));
        assert!(other[1].contains("describe the job's own registry; pass --repository"));
        let proxy = target_warnings(&job, &bare("gitlab.example.com", true), None);
        assert!(proxy[0].contains("serves pulls only"), "{proxy:?}");
        assert!(proxy[0].contains("does not prove a pull (gitlab#362991)"));
        assert!(proxy[0].contains("--proxy-probe IMAGE"));
        // A probe proves or disproves the pull: nothing to warn about beforehand.
        let probe = probe_image();
        assert!(target_warnings(&job, &bare("gitlab.example.com", true), Some(&probe)).is_empty());
        assert!(target_warnings(&job, &Target::example(), None).is_empty());
        for w in own.iter().chain(&other).chain(&proxy) {
            assert!(!w.contains('\n'), "one line: {w}");
        }
    }

    /// Reference 9.1/9.2: what the API's own description of a token means, per holder.
    #[test]
    fn token_descriptions_become_verdicts_per_holder() {
        let info = |scopes: &[&str], granular: bool| TokenInfo {
            name: None,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            granular_scopes: granular
                .then(|| serde_json::json!([{"permissions": ["read_container_image"]}])),
            user_id: Some(7),
            active: Some(true),
            revoked: Some(false),
            expires_at: Some("2027-01-01".into()),
        };
        let refuses = |v: TokenScopes| match v {
            TokenScopes::Refuse(v) => Some(v.detail),
            TokenScopes::Continue(_) => None,
        };
        // A bot's read_api is nothing; a person's is a pull.
        let bot = refuses(token_scopes_verdict(
            &info(&["read_api"], false),
            Holder::ProjectBot,
            Intent::Pull,
            false,
        ));
        assert!(
            bot.unwrap()
                .contains("read_api gives a project or group access token no registry access")
        );
        assert!(
            refuses(token_scopes_verdict(
                &info(&["read_api"], false),
                Holder::Person,
                Intent::Pull,
                false
            ))
            .is_none()
        );
        let push = refuses(token_scopes_verdict(
            &info(&["read_api"], false),
            Holder::Person,
            Intent::Push,
            false,
        ));
        assert!(push.unwrap().contains("push needs write_registry"));
        // Fine-grained: no classic scopes, decided live, and said so.
        match token_scopes_verdict(&info(&[], true), Holder::Unknown, Intent::Push, false) {
            TokenScopes::Continue(notes) => assert!(notes[0].contains("fine-grained")),
            TokenScopes::Refuse(v) => panic!("ruled out: {}", v.detail),
        }
        // No scopes and no permissions at all: nothing to pull with.
        assert!(
            refuses(token_scopes_verdict(
                &info(&[], false),
                Holder::Unknown,
                Intent::Pull,
                false
            ))
            .unwrap()
            .contains("scopes are none")
        );
        // Reference 9.7: at the dependency proxy, a project token is refused, a group
        // token and read_virtual_registry are not.
        let proxy = |scopes: &[&str], holder| {
            refuses(token_scopes_verdict(
                &info(scopes, false),
                holder,
                Intent::Pull,
                true,
            ))
        };
        assert!(
            proxy(&["read_registry"], Holder::ProjectBot)
                .unwrap()
                .contains("gitlab#332411")
        );
        assert!(proxy(&["read_registry", "write_registry"], Holder::GroupBot).is_none());
        assert!(proxy(&["api"], Holder::Person).is_none());
        assert!(proxy(&["read_virtual_registry"], Holder::Person).is_none());
        // Reference 1.9: reading alone is refused by the proxy's token service.
        assert!(
            proxy(&["read_registry"], Holder::GroupBot)
                .unwrap()
                .contains(
                    "needs read_registry and write_registry, or api, or read_virtual_registry"
                )
        );
        let mut revoked = info(&["api"], false);
        revoked.revoked = Some(true);
        assert!(
            refuses(token_scopes_verdict(
                &revoked,
                Holder::Person,
                Intent::Pull,
                false
            ))
            .unwrap()
            .contains("revoked")
        );
    }

    /// Issue 13, items 3 and 5: a job token JWT about to end, an access token about to
    /// expire; one sentence each, with the date and what to do.
    #[test]
    fn expiry_is_said_ahead_of_time() {
        use base64::Engine as _;
        let now = 1_800_000_000;
        let payload = format!(r#"{{"exp":{}}}"#, now + 120);
        let jwt = format!(
            "glcbt-eyJhbGciOiJSUzI1NiJ9.{}.c2ln",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload)
        );
        let mut job = candidate(Kind::JobToken, "CI_JOB_TOKEN", JOB_TOKEN_USER);
        job.secret = crate::secret::Secret::new(jwt);
        let plan = plan_with(vec![job], Vec::new());
        let w = job_token_expiry_warning(&plan, now, 300).unwrap();
        assert!(w.contains("expires at 2027-01-15T08:02:00Z, in 2m"), "{w}");
        assert!(w.contains("less than --min-token-lifetime (5m)"), "{w}");
        assert!(job_token_expiry_warning(&plan, now, 60).is_none());

        let pat = candidate(Kind::AccessToken, "REGISTRY_PASSWORD", "alice");
        let mut live = Verification::new(Outcome::Granted, "ok");
        live.granted = Some(vec![Action::Pull, Action::Push]);
        live.token_expires = Some("2027-01-22".into());
        let plan = plan_with(vec![pat], vec![(0, live)]);
        let w = credential_expiry_warning(&plan, now, 14).unwrap();
        assert!(
            w.contains("the access-token from REGISTRY_PASSWORD expires on 2027-01-22 (in 7 days)"),
            "{w}"
        );
        assert!(w.contains("rotate it"), "{w}");
        assert!(credential_expiry_warning(&plan, now, 6).is_none());
    }

    /// Reference 9.4: 'access forbidden' to a token whose scopes (GitLab API) carry
    /// registry access names external authorization first; without those scopes it is
    /// the missing scope.
    #[test]
    fn access_forbidden_for_a_scoped_token_names_external_authorization() {
        let pat = candidate(Kind::AccessToken, "REGISTRY_PASSWORD", "alice");
        let (own, target) = (the_job("group/app"), Target::example());
        let info = |scopes: &[&str]| TokenInfo {
            name: None,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            granular_scopes: None,
            user_id: Some(101),
            active: Some(true),
            revoked: Some(false),
            expires_at: None,
        };
        let forbidden = || TokenReply::Forbidden("access forbidden".into());
        let check = check(&own, &target, Intent::Pull);
        let scoped = judge(
            forbidden(),
            &pat,
            &check,
            "realm",
            Some(&info(&["read_registry"])),
        );
        assert!(
            scoped.detail.contains("external authorization"),
            "{}",
            scoped.detail
        );
        let unscoped = judge(
            forbidden(),
            &pat,
            &check,
            "realm",
            Some(&info(&["read_repository"])),
        );
        assert!(
            unscoped.detail.contains("no registry scope"),
            "{}",
            unscoped.detail
        );
    }

    /// A job token reaching another project's repository: the allowlist is the fix.
    #[test]
    fn another_projects_repository_names_the_allowlist() {
        let job = candidate(Kind::JobToken, "CI_JOB_TOKEN", JOB_TOKEN_USER);
        let (other, target) = (the_job("group/other"), Target::example());
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
        let mut plan = Plan::offline(
            candidates,
            Target::example(),
            Intent::Push,
            Mode::GitLabCi,
            None,
        );
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
