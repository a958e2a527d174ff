//! Live verification: a candidate asks the registry's token service for exactly the
//! access the job needs, and the answer becomes a verdict with a diagnosis a user can
//! act on. Candidates are tried one at a time, in rank order (commands::verify_plan).

use crate::access::{Holder, Intent, Kind};
use crate::credentials::Candidate;
use crate::gitlab_api::{self, SelfInfo};
use crate::handshake::{self, Auth, Endpoint, PingError, TokenReply};
use crate::http::Http;
use crate::known_realm::{self, Guess};

use crate::diagnose::{TokenScopes, judge, token_scopes_verdict};
pub use crate::verdict::{Check, Outcome, Verification};

/// The registry's answer to `GET /v2/`, shared by all candidates.
pub struct Session {
    pub endpoint: Endpoint,
    pub auth: Auth,
}

pub async fn connect(http: &Http, check: &Check<'_>) -> Result<Session, PingError> {
    let (endpoint, auth) = handshake::ping(http, &check.target.registry, check.insecure).await?;
    tracing::debug!(base = %endpoint.base, ?auth, "registry");
    Ok(Session { endpoint, auth })
}

/// The ping and, at the same time, the token request for `early`'s candidate to the
/// guessed realm (issue 15). The early answer is kept only when the ping's challenge
/// confirms the guess; otherwise it is dropped, unfinished if need be, and the
/// candidate is asked again where the challenge points.
pub async fn connect_with_early_token(
    http: &Http,
    check: &Check<'_>,
    early: Option<(&Guess, &Candidate)>,
) -> (Result<Session, PingError>, Option<TokenReply>) {
    let Some((guess, c)) = early else {
        return (connect(http, check).await, None);
    };
    let scope = scope(check);
    let ping = connect(http, check);
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
fn scope(check: &Check<'_>) -> Option<String> {
    check
        .target
        .repository
        .as_ref()
        .map(|r| check.intent.scope_for(r.as_str()))
}

/// Asks for exactly the access the job needs with one candidate, and judges the answer.
pub async fn verify(
    http: &Http,
    session: &Session,
    check: &Check<'_>,
    c: &Candidate,
) -> Verification {
    verify_with(http, session, check, c, None).await
}

/// [`verify`], with the token service's answer already in hand when `early` holds one
/// (asked from the realm the challenge confirmed).
pub async fn verify_with(
    http: &Http,
    session: &Session,
    check: &Check<'_>,
    c: &Candidate,
    early: Option<TokenReply>,
) -> Verification {
    let mut api_info = None;
    let mut learned_kind = None;
    let mut api_notes = Vec::new();
    if matches!(c.kind, Kind::AccessToken | Kind::Unknown)
        && let Some(api) = check.api_url
    {
        match introspect(http, api, c, check.intent, check.target.dependency_proxy).await {
            Introspection::Stop(mut v) => {
                v.kind = (c.kind == Kind::Unknown).then_some(Kind::AccessToken);
                return v;
            }
            Introspection::Continue(info, notes) => {
                learned_kind = learned(c.kind, info.is_some());
                api_info = info;
                api_notes = notes;
            }
            Introspection::NotAToken => learned_kind = learned(c.kind, false),
        }
    }
    // Judged as what the API said it is: two-factor advice only for a password.
    let relabelled;
    let c = match learned_kind {
        Some(kind) => {
            relabelled = Candidate { kind, ..c.clone() };
            &relabelled
        }
        None => c,
    };
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
                        scope(check).as_deref(),
                        &c.username,
                        &c.secret,
                    )
                    .await
                }
            };
            judge(reply, c, check, realm.as_str(), api_info.as_ref())
        }
    };
    if let Some(info) = api_info {
        v.token_scopes = Some(info.scopes);
        v.token_expires = info.expires_at;
    }
    v.kind = learned_kind;
    v.notes.extend(api_notes);
    v
}

/// What GitLab's API says a secret without a prefix is: a token it knows is an access
/// token whatever its prefix; one it refuses to know is a password (or nothing).
fn learned(kind: Kind, api_knows_it: bool) -> Option<Kind> {
    match (kind, api_knows_it) {
        (Kind::Unknown, true) => Some(Kind::AccessToken),
        (Kind::Unknown, false) => Some(Kind::Password),
        _ => None,
    }
}

enum Introspection {
    Stop(Verification),
    /// Go on to the registry, with what the API told worth saying.
    Continue(Option<gitlab_api::TokenInfo>, Vec<String>),
    /// The API knows no such token (401): for a secret without a prefix, a password.
    NotAToken,
}

/// Reads an access token's scopes, expiry and revocation from the API; a token the
/// API already refuses is not sent to the registry (failed logins count towards bans).
async fn introspect(
    http: &Http,
    api: &str,
    c: &Candidate,
    intent: Intent,
    dependency_proxy: bool,
) -> Introspection {
    match gitlab_api::token_self(http, api, &c.secret).await {
        SelfInfo::Token(info) => {
            // Only `read_api` means different things to a person's token and a bot's,
            // and only the dependency proxy refuses a project's.
            let holder = if info.scopes.iter().any(|s| s == "read_api") || dependency_proxy {
                gitlab_api::username(http, api, &c.secret)
                    .await
                    .map_or(Holder::Unknown, |name| Holder::of_username(&name))
            } else {
                Holder::Unknown
            };
            match token_scopes_verdict(&info, holder, intent, dependency_proxy) {
                TokenScopes::Refuse(v) => Introspection::Stop(v),
                TokenScopes::Continue(notes) => Introspection::Continue(Some(info), notes),
            }
        }
        SelfInfo::Refused(_) if c.kind == Kind::Unknown => Introspection::NotAToken,
        SelfInfo::Refused(message) => Introspection::Stop(Verification::new(
            Outcome::Rejected,
            format!(
                "GitLab's API refused the access token: {message}; it is expired, revoked or wrong"
            ),
        )),
        SelfInfo::NotApplicable(message) => {
            tracing::debug!(%message, "token introspection does not apply");
            Introspection::Continue(None, Vec::new())
        }
        SelfInfo::Unreachable(message) => {
            tracing::warn!("cannot read the access token's scopes: {message}");
            Introspection::Continue(None, Vec::new())
        }
    }
}
