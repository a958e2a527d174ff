//! Live verification: a candidate asks the registry's token service for exactly the
//! access the job needs, and the answer becomes a verdict with a diagnosis a user can
//! act on. Candidates are tried one at a time, in rank order (commands::verify_plan).

use crate::access::{self, Action, Intent, Kind, Scope};
use crate::candidates::{Candidate, JOB_TOKEN_USER, Mode};
use crate::gitlab_api::{self, SelfInfo};
use crate::handshake::{self, Auth, Endpoint, PingError, TokenReply};
use crate::http::Http;
use crate::names::{Registry, Repository};

pub use crate::verdict::{Outcome, Verification};

/// What every verification needs to know about the run.
#[derive(Debug, Clone)]
pub struct Target {
    pub registry: Registry,
    pub repository: Option<Repository>,
    pub intent: Intent,
    pub mode: Mode,
    /// The job's own project (`CI_PROJECT_PATH`, lower case), when known.
    pub own_project: Option<String>,
    /// GitLab's API (`CI_API_V4_URL` or `--gitlab-url`), for access-token introspection.
    pub api_url: Option<String>,
    pub insecure: bool,
}

/// The registry's answer to `GET /v2/`, shared by all candidates.
pub struct Session {
    pub endpoint: Endpoint,
    pub auth: Auth,
}

pub async fn connect(http: &Http, target: &Target) -> Result<Session, PingError> {
    let (endpoint, auth) = handshake::ping(http, &target.registry, target.insecure).await?;
    tracing::debug!(base = %endpoint.base, ?auth, "registry");
    Ok(Session { endpoint, auth })
}

/// Asks for exactly the access the job needs with one candidate, and judges the answer.
pub async fn verify(
    http: &Http,
    session: &Session,
    target: &Target,
    c: &Candidate,
) -> Verification {
    let mut api_info = None;
    if c.kind == Kind::AccessToken
        && let Some(api) = &target.api_url
    {
        match introspect(http, api, c, target.intent).await {
            Introspection::Stop(v) => return v,
            Introspection::Continue(info) => api_info = info,
        }
    }
    let mut v = match &session.auth {
        Auth::Open => Verification::new(Outcome::Accepted, "the registry asks for no credentials"),
        Auth::Basic => {
            match handshake::basic_login(http, &session.endpoint, &c.username, &c.secret).await {
                Ok(true) => Verification::new(
                    Outcome::Accepted,
                    "accepted (the registry uses Basic auth, which does not say what is allowed)",
                ),
                Ok(false) => Verification::new(
                    Outcome::Rejected,
                    "the registry refused the credential (Basic auth)",
                ),
                Err(e) => Verification::new(Outcome::Unreachable, e.to_string()),
            }
        }
        Auth::Bearer { realm, service } => {
            let scope = target
                .repository
                .as_ref()
                .map(|r| target.intent.scope_for(r.as_str()));
            let reply = handshake::request_token(
                http,
                realm,
                service.as_deref(),
                scope.as_deref(),
                &c.username,
                &c.secret,
            )
            .await;
            judge(reply, c, target, realm.as_str(), api_info.as_ref())
        }
    };
    if let Some(info) = api_info {
        v.token_scopes = Some(info.scopes);
        v.token_expires = info.expires_at;
    }
    v
}

enum Introspection {
    Stop(Verification),
    Continue(Option<gitlab_api::TokenInfo>),
}

/// Reads an access token's scopes, expiry and revocation from the API; a token the
/// API already refuses is not sent to the registry (failed logins count towards bans).
async fn introspect(http: &Http, api: &str, c: &Candidate, intent: Intent) -> Introspection {
    match gitlab_api::token_self(http, api, &c.secret).await {
        SelfInfo::Token(info) => {
            if info.revoked == Some(true) || info.active == Some(false) {
                let mut v = Verification::new(
                    Outcome::Rejected,
                    "the access token is revoked or inactive (GitLab API); create a new one",
                );
                v.token_scopes = Some(info.scopes);
                v.token_expires = info.expires_at;
                return Introspection::Stop(v);
            }
            let registry_scopes = Scope::from_token_scopes(&info.scopes);
            let lacking: Vec<&str> = Scope::needed(intent)
                .into_iter()
                .filter(|s| !registry_scopes.contains(s))
                .map(Scope::as_str)
                .collect();
            if lacking.is_empty() {
                return Introspection::Continue(Some(info));
            }
            let granted: Vec<Action> = [Action::Pull, Action::Push]
                .into_iter()
                .filter(|a| a.scope().is_some_and(|s| registry_scopes.contains(&s)))
                .collect();
            let mut v = Verification::new(
                Outcome::Granted,
                format!(
                    "the access token's scopes are {} (GitLab API); {} needs {}: create a token with read_registry{}",
                    if info.scopes.is_empty() {
                        "none".into()
                    } else {
                        info.scopes.join(",")
                    },
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
            v.token_scopes = Some(info.scopes);
            v.token_expires = info.expires_at;
            Introspection::Stop(v)
        }
        SelfInfo::Refused(message) => Introspection::Stop(Verification::new(
            Outcome::Rejected,
            format!(
                "GitLab's API refused the access token: {message}; it is expired, revoked or wrong"
            ),
        )),
        SelfInfo::NotApplicable(message) => {
            tracing::debug!(%message, "token introspection does not apply");
            Introspection::Continue(None)
        }
        SelfInfo::Unreachable(message) => {
            tracing::warn!("cannot read the access token's scopes: {message}");
            Introspection::Continue(None)
        }
    }
}

/// Whether the credential demonstrably has registry access, so that a 403 "access
/// forbidden" can only mean the Authorization header was lost on the way.
fn known_registry_access(
    c: &Candidate,
    target: &Target,
    api: Option<&gitlab_api::TokenInfo>,
) -> bool {
    let running_job_token = target.mode == Mode::GitLabCi
        && matches!(c.kind, Kind::RegistryUser | Kind::JobToken)
        && c.username == JOB_TOKEN_USER;
    let api_says_so = api.is_some_and(|i| !Scope::from_token_scopes(&i.scopes).is_empty());
    running_job_token || api_says_so
}

fn judge(
    reply: TokenReply,
    c: &Candidate,
    target: &Target,
    realm: &str,
    api: Option<&gitlab_api::TokenInfo>,
) -> Verification {
    match reply {
        TokenReply::Granted(claims) => {
            let Some(repository) = &target.repository else {
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
            let needed = target.intent.actions();
            let detail = if access::covers(&granted, needed) {
                format!("granted {}", access::join_actions(&granted))
            } else {
                too_little(c, target, repository, &granted)
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
            Verification::new(Outcome::Rejected, forbidden(c, target, &message, api))
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
    target: &Target,
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
    if known_registry_access(c, target, api) {
        "GitLab answered 'access forbidden' to a credential that has registry access: the Authorization header is being lost on the way to /jwt/auth (a proxy in front of GitLab, or a redirect); check the proxy and the registry's token realm".to_string()
    } else {
        "GitLab answered 'access forbidden': the credential has no registry scope at all (it needs read_registry, and write_registry to push), or a proxy in front of GitLab drops the Authorization header on the way to /jwt/auth".to_string()
    }
}

/// Too few actions: name what is missing and what would grant it.
fn too_little(
    c: &Candidate,
    target: &Target,
    repository: &Repository,
    granted: &[Action],
) -> String {
    let missing = access::missing(granted, target.intent.actions());
    let scopes: Vec<&str> = missing
        .iter()
        .filter_map(Action::scope)
        .map(Scope::as_str)
        .collect();
    let own = target.own_project.as_deref().is_none_or(|p| {
        let r = repository.as_str();
        r == p || r.starts_with(&format!("{p}/"))
    });
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
        target.intent.as_str(),
        access::join_actions(&missing),
        scopes.join(", ")
    )
}

/// GitLab's 401 message carries a long help URL; the first sentence is enough.
fn first_sentence(message: &str) -> &str {
    message.split(". ").next().unwrap_or(message)
}
