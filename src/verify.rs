//! Live verification: a candidate asks the registry's token service for exactly the
//! access the job needs, and the answer becomes a verdict with a diagnosis a user can
//! act on. Candidates are tried one at a time, in rank order (commands::verify_plan).

use crate::access::{Action, Intent, Kind, Scope};
use crate::candidates::Candidate;
use crate::gitlab_api::{self, SelfInfo};
use crate::handshake::{self, Auth, Endpoint, PingError, TokenReply};
use crate::http::Http;
use crate::known_realm::{self, Guess};

use crate::diagnose::judge;
pub use crate::verdict::{Outcome, Target, Verification};

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

/// The ping and, at the same time, the token request for `early`'s candidate to the
/// guessed realm (issue 15). The early answer is kept only when the ping's challenge
/// confirms the guess; otherwise it is dropped, unfinished if need be, and the
/// candidate is asked again where the challenge points.
pub async fn connect_with_early_token(
    http: &Http,
    target: &Target,
    early: Option<(&Guess, &Candidate)>,
) -> (Result<Session, PingError>, Option<TokenReply>) {
    let Some((guess, c)) = early else {
        return (connect(http, target).await, None);
    };
    let scope = scope(target);
    let ping = connect(http, target);
    let token = handshake::request_token(
        http,
        &guess.realm,
        Some(known_realm::SERVICE),
        scope.as_deref(),
        &c.username,
        &c.secret,
    );
    tokio::pin!(ping, token);
    let mut answered = None;
    let session = loop {
        tokio::select! {
            session = &mut ping => break session,
            reply = &mut token, if answered.is_none() => answered = Some(reply),
        }
    };
    match &session {
        Ok(s) if guess.confirmed_by(&s.auth) => {}
        Ok(s) => {
            tracing::info!(
                "the registry's challenge names {}, not the job's GitLab {}: asking there",
                describe(&s.auth),
                guess.realm
            );
            return (session, None);
        }
        Err(_) => return (session, None),
    }
    let reply = match answered {
        Some(reply) => reply,
        None => token.await,
    };
    (session, Some(reply))
}

fn describe(auth: &Auth) -> String {
    match auth {
        Auth::Bearer { realm, service } => format!(
            "the token service {realm} (service {})",
            service.as_deref().unwrap_or("unnamed")
        ),
        Auth::Basic => "Basic auth".into(),
        Auth::Open => "no authentication".into(),
    }
}

/// The scope the job needs, when its repository is known.
fn scope(target: &Target) -> Option<String> {
    target
        .repository
        .as_ref()
        .map(|r| target.intent.scope_for(r.as_str()))
}

/// Asks for exactly the access the job needs with one candidate, and judges the answer.
pub async fn verify(
    http: &Http,
    session: &Session,
    target: &Target,
    c: &Candidate,
) -> Verification {
    verify_with(http, session, target, c, None).await
}

/// [`verify`], with the token service's answer already in hand when `early` holds one
/// (asked from the realm the challenge confirmed).
pub async fn verify_with(
    http: &Http,
    session: &Session,
    target: &Target,
    c: &Candidate,
    early: Option<TokenReply>,
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
            let reply = match early {
                Some(reply) => reply,
                None => {
                    handshake::request_token(
                        http,
                        realm,
                        service.as_deref(),
                        scope(target).as_deref(),
                        &c.username,
                        &c.secret,
                    )
                    .await
                }
            };
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
