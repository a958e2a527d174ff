//! The registry's token handshake: `GET /v2/` -> `WWW-Authenticate` -> the token
//! endpoint with exactly the scope the job needs -> what the JWT grants.
//!
//! Docker asks the token endpoint for no scope at all, so a read-only credential "logs
//! in" and fails at push time; asking for the job's scope and reading the grant is the
//! only reliable check (GitLab answers 200 with fewer actions, never an error).

use crate::challenge;
use crate::http::{Credential, Http, NetError, NetErrorKind, Reply};
use crate::images::Presence;
use crate::jwt::Claims;
use crate::names::{Registry, Scheme};
use crate::secret::Secret;
use crate::text::sanitize;
use reqwest::Url;
use secrecy::zeroize::Zeroizing;

/// Where the registry's API lives, once the scheme is settled.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub base: String,
    pub scheme: Scheme,
}

/// How the registry wants clients to authenticate.
#[derive(Debug, Clone)]
pub enum Auth {
    Bearer {
        realm: Url,
        service: Option<String>,
    },
    Basic,
    /// `/v2/` answered 200 without credentials.
    Open,
}

#[derive(Debug, thiserror::Error)]
pub enum PingError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("{0}")]
    Protocol(String),
    /// A configuration that would expose credentials; never proceed.
    #[error("{0}")]
    Unsafe(String),
}

impl PingError {
    pub fn hint(&self) -> Option<String> {
        match self {
            PingError::Net(e) => e.hint(),
            PingError::Unsafe(_) => Some(
                "fix the registry's token realm to use https, or pass --insecure if this network is trusted".into(),
            ),
            PingError::Protocol(_) => None,
        }
    }
}

/// Plain HTTP is for loopback registries and explicit `--insecure` only.
pub fn plain_http_allowed(registry: &Registry, insecure: bool) -> bool {
    insecure || registry.is_loopback()
}

/// `GET /v2/`: settles the scheme and reads the challenge.
pub async fn ping(
    http: &Http,
    registry: &Registry,
    insecure: bool,
) -> Result<(Endpoint, Auth), PingError> {
    let host = registry.host_port();
    let may_use_http = plain_http_allowed(registry, insecure);
    let schemes: &[Scheme] = match registry.explicit_scheme() {
        Some(Scheme::Http) if !may_use_http => {
            return Err(PingError::Unsafe(format!(
                "{registry} is not a loopback address: plain HTTP needs --insecure"
            )));
        }
        Some(Scheme::Http) => &[Scheme::Http],
        Some(Scheme::Https) => &[Scheme::Https],
        // A loopback registry is nearly always plain HTTP (a local registry container),
        // and this request carries no credentials: HTTP's answer is read first.
        None if registry.is_loopback() => &[Scheme::Http, Scheme::Https],
        // Like docker for insecure registries: HTTPS first, then plain HTTP.
        None if insecure => &[Scheme::Https, Scheme::Http],
        None => &[Scheme::Https],
    };
    // Where two schemes are possible, both are asked at once (the request carries no
    // credentials) and the answers are read in the order above: a plain-HTTP probe never
    // costs a round trip ahead of HTTPS (issue 15).
    let base = |scheme: Scheme| match scheme {
        Scheme::Https => format!("https://{host}"),
        Scheme::Http => format!("http://{host}"),
    };
    let ask = |scheme: Scheme| {
        let url = format!("{}/v2/", base(scheme));
        async move { http.get(&url, Credential::None, false).await }
    };
    let results = match schemes {
        [only] => vec![(*only, ask(*only).await)],
        [first, second] => first_decisive(ask(*first), ask(*second), *first, *second).await,
        _ => unreachable!("one or two schemes"),
    };
    let mut answers = results.into_iter().peekable();
    while let Some((scheme, result)) = answers.next() {
        if answers.peek().is_some() && speaks_the_other_scheme(&result, scheme) {
            tracing::debug!(?scheme, "the other scheme answered");
            continue;
        }
        let reply = result?;
        let auth = read_challenge(&reply, registry, insecure)?;
        return Ok((
            Endpoint {
                base: base(scheme),
                scheme,
            },
            auth,
        ));
    }
    unreachable!("the last scheme always returns")
}

/// Both schemes' answers, asked at once, in preference order; an answer that settles
/// the scheme ends the wait for the other (a server may never answer the wrong one).
/// The preferred scheme settles it unless it speaks the other; the other settles it
/// when it is a real answer in its own scheme.
async fn first_decisive(
    first: impl Future<Output = Result<Reply, NetError>>,
    second: impl Future<Output = Result<Reply, NetError>>,
    first_scheme: Scheme,
    second_scheme: Scheme,
) -> Vec<(Scheme, Result<Reply, NetError>)> {
    tokio::pin!(first, second);
    tokio::select! {
        a = &mut first => {
            if speaks_the_other_scheme(&a, first_scheme) {
                vec![(first_scheme, a), (second_scheme, second.await)]
            } else {
                vec![(first_scheme, a)]
            }
        }
        b = &mut second => {
            if b.is_ok() && !speaks_the_other_scheme(&b, second_scheme) {
                vec![(second_scheme, b)]
            } else {
                vec![(first_scheme, first.await), (second_scheme, b)]
            }
        }
    }
}

/// Whether an answer suggests the port speaks the other scheme: a TLS port answers
/// plain HTTP with 400 (Go's servers) or drops it; a plain port fails a TLS hello.
fn speaks_the_other_scheme(result: &Result<Reply, NetError>, tried: Scheme) -> bool {
    match (tried, result) {
        (Scheme::Http, Ok(reply)) => reply.status == 400,
        // An answer too large to read is still plain HTTP talking (not a registry).
        (Scheme::Http, Err(e)) => !matches!(
            e.kind,
            NetErrorKind::Dns | NetErrorKind::Timeout | NetErrorKind::TooLarge
        ),
        (Scheme::Https, Err(e)) => {
            matches!(e.kind, NetErrorKind::HttpOnHttps | NetErrorKind::Connect)
        }
        (Scheme::Https, Ok(_)) => false,
    }
}

fn read_challenge(reply: &Reply, registry: &Registry, insecure: bool) -> Result<Auth, PingError> {
    match reply.status {
        200 => return Ok(Auth::Open),
        401 => {}
        300..=399 => {
            return Err(PingError::Protocol(format!(
                "{registry} answered /v2/ with a redirect to {}; use that host as --registry",
                reply
                    .header("location")
                    .map(|l| sanitize(l, 200))
                    .unwrap_or_default()
            )));
        }
        status => {
            return Err(PingError::Protocol(format!(
                "{registry} answered GET /v2/ with HTTP {status}; is it a container registry?"
            )));
        }
    }
    let mut basic = false;
    for header in reply.headers_all("www-authenticate") {
        let challenges = challenge::parse(header)
            .map_err(|e| PingError::Protocol(format!("{registry}: {e}")))?;
        for c in challenges {
            match c.scheme.as_str() {
                "bearer" => {
                    let realm = c.param("realm").ok_or_else(|| {
                        PingError::Protocol(format!(
                            "{registry} sent a Bearer challenge without a realm: it does not say where to get a token"
                        ))
                    })?;
                    let realm = checked_realm(realm, insecure)?;
                    return Ok(Auth::Bearer {
                        realm,
                        service: c.param("service").map(str::to_string),
                    });
                }
                "basic" => basic = true,
                _ => {}
            }
        }
    }
    if basic {
        Ok(Auth::Basic)
    } else {
        Err(PingError::Protocol(format!(
            "{registry} asked for authentication (401) without a Bearer or Basic challenge"
        )))
    }
}

/// The realm receives credentials: it must be HTTPS unless it is loopback or the user
/// said `--insecure`.
pub fn checked_realm(realm: &str, insecure: bool) -> Result<Url, PingError> {
    let url = Url::parse(realm).map_err(|e| {
        PingError::Protocol(format!(
            "the token realm '{}' is not a URL: {e}",
            sanitize(realm, 200)
        ))
    })?;
    match url.scheme() {
        "https" => Ok(url),
        "http" => {
            let host = url.host_str().unwrap_or_default();
            let loopback = Registry::parse(host).is_ok_and(|r| r.is_loopback());
            if loopback || insecure {
                Ok(url)
            } else {
                Err(PingError::Unsafe(format!(
                    "the token realm {url} is plain HTTP on a non-loopback host: credentials would travel unencrypted, so none were sent"
                )))
            }
        }
        other => Err(PingError::Protocol(format!(
            "the token realm uses unsupported scheme '{other}'"
        ))),
    }
}

/// What the token endpoint said.
#[derive(Debug)]
pub enum TokenReply {
    Granted(Claims),
    /// 401: bad credentials.
    Unauthorized(String),
    /// 403: valid credentials without registry ability, a stripped header, a ban...
    Forbidden(String),
    /// 3xx: followed by nobody; credentials must not chase a redirect.
    Redirected(String),
    /// Anything that is not GitLab's token service talking.
    Broken(String),
    Net(NetError),
}

/// `GET realm?service=...&scope=...` with Basic credentials: what the token grants.
pub async fn request_token(
    http: &Http,
    realm: &Url,
    service: Option<&str>,
    scope: Option<&str>,
    username: &str,
    secret: &Secret,
) -> TokenReply {
    let scopes: Vec<String> = scope.map(str::to_string).into_iter().collect();
    request_scoped_token(http, realm, service, &scopes, Some((username, secret)))
        .await
        .0
}

/// The same request, keeping the token itself, for a request that uses it (the
/// dependency proxy's probe); every answer but a token is the [`TokenReply`].
pub async fn request_raw_token(
    http: &Http,
    realm: &Url,
    service: Option<&str>,
    scope: Option<&str>,
    username: &str,
    secret: &Secret,
) -> Result<Secret, TokenReply> {
    let scopes: Vec<String> = scope.map(str::to_string).into_iter().collect();
    match request_scoped_token(http, realm, service, &scopes, Some((username, secret))).await {
        (TokenReply::Granted(_), Some(token)) => Ok(token),
        (reply, _) => Err(reply),
    }
}

/// One token request for several scopes (one `scope=` each, as docker sends them and
/// GitLab and Docker Hub accept), with Basic credentials or anonymous. Also returns the
/// registry token itself, for the manifest requests it authorises.
pub async fn request_scoped_token(
    http: &Http,
    realm: &Url,
    service: Option<&str>,
    scopes: &[String],
    login: Option<(&str, &Secret)>,
) -> (TokenReply, Option<Secret>) {
    let mut url = realm.clone();
    {
        let mut query = url.query_pairs_mut();
        if let Some(service) = service {
            query.append_pair("service", service);
        }
        for scope in scopes {
            query.append_pair("scope", scope);
        }
    }
    // Pushing to a new path sometimes gets a spurious 404 under concurrency; retry it.
    let retry_404 = scopes.iter().any(|s| s.contains("push"));
    let credential = match login {
        Some((username, secret)) => Credential::Basic(username, secret),
        None => Credential::None,
    };
    let mut reply = match http.get(url.as_str(), credential, retry_404).await {
        Ok(reply) => reply,
        Err(e) => return (TokenReply::Net(e), None),
    };
    let reply = match reply.status {
        200 => {
            // The registry token is a credential while it lives: wiped once read.
            let body = Zeroizing::new(std::mem::take(&mut reply.body));
            match token_from_body(&body).map(Zeroizing::new) {
                Ok(token) => match Claims::decode(&token) {
                    Ok(claims) => {
                        return (
                            TokenReply::Granted(claims),
                            Some(Secret::new(token.as_str())),
                        );
                    }
                    Err(e) => TokenReply::Broken(format!(
                        "{realm} answered 200 with an unreadable token: {e}"
                    )),
                },
                Err(e) => TokenReply::Broken(format!("{realm} answered 200 without a token: {e}")),
            }
        }
        401 => TokenReply::Unauthorized(error_message(&reply.body)),
        403 => TokenReply::Forbidden(error_message(&reply.body)),
        300..=399 => TokenReply::Redirected(
            reply
                .header("location")
                .map(|l| sanitize(l, 200))
                .unwrap_or_else(|| "(no Location)".into()),
        ),
        status => TokenReply::Broken(format!(
            "{realm} answered HTTP {status}{}",
            match error_message(&reply.body) {
                m if m.is_empty() => String::new(),
                m => format!(": {m}"),
            }
        )),
    };
    (reply, None)
}

/// The manifest media types a pull accepts: without them a registry may answer for
/// an older format, or not find an OCI index.
const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// `HEAD /v2/<repo>/manifests/<ref>` with the registry token (Basic credentials on a
/// Basic-auth registry, none on an open one).
pub async fn manifest(
    http: &Http,
    endpoint: &Endpoint,
    repository: &str,
    reference: &str,
    credential: Credential<'_>,
) -> Result<Presence, NetError> {
    let url = format!("{}/v2/{repository}/manifests/{reference}", endpoint.base);
    let reply = http
        .head(&url, credential, &[("Accept", MANIFEST_TYPES)])
        .await?;
    Ok(match reply.status {
        200 => Presence::Exists,
        404 => Presence::Missing,
        s @ (401 | 403) => Presence::Refused(s),
        s => Presence::Other(s),
    })
}

/// `GET /v2/` with Basic credentials, for registries that use Basic auth.
pub async fn basic_login(
    http: &Http,
    endpoint: &Endpoint,
    username: &str,
    secret: &Secret,
) -> Result<bool, NetError> {
    let reply = http
        .get(
            &format!("{}/v2/", endpoint.base),
            Credential::Basic(username, secret),
            false,
        )
        .await?;
    Ok(reply.status == 200)
}

fn token_from_body(body: &[u8]) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    struct Body {
        token: Option<String>,
        access_token: Option<String>,
    }
    let parsed: Body = serde_json::from_slice(body).map_err(|e| format!("not JSON ({e})"))?;
    parsed
        .token
        .or(parsed.access_token)
        .ok_or_else(|| "no 'token' field".to_string())
}

/// GitLab's error envelope as docker prints it (`denied: access forbidden`), or the
/// body's text when it is not JSON (the IP-ban answer is plain text).
pub fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        code: Option<String>,
        message: Option<String>,
    }
    if let Ok(env) = serde_json::from_slice::<Envelope>(body) {
        let items: Vec<String> = env
            .errors
            .iter()
            .map(|e| match (&e.code, &e.message) {
                (Some(c), Some(m)) => format!("{}: {m}", c.to_ascii_lowercase()),
                (None, Some(m)) => m.clone(),
                (Some(c), None) => c.to_ascii_lowercase(),
                (None, None) => String::new(),
            })
            .collect();
        return sanitize(&items.join("; "), 300);
    }
    sanitize(&String::from_utf8_lossy(body), 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitlab_error_bodies_read_like_docker() {
        let denied =
            br#"{"errors":[{"code":"DENIED","message":"access forbidden"}],"http_status":403}"#;
        assert_eq!(error_message(denied), "denied: access forbidden");
        assert_eq!(
            error_message(b"Too many failed authentication attempts from this IP"),
            "Too many failed authentication attempts from this IP"
        );
        assert_eq!(error_message(b""), "");
    }

    #[test]
    fn realms_must_not_expose_credentials() {
        assert!(checked_realm("https://gitlab.example.com/jwt/auth", false).is_ok());
        assert!(checked_realm("http://127.0.0.1:8080/jwt/auth", false).is_ok());
        assert!(matches!(
            checked_realm("http://gitlab.example.com/jwt/auth", false),
            Err(PingError::Unsafe(_))
        ));
        assert!(checked_realm("http://gitlab.example.com/jwt/auth", true).is_ok());
        assert!(checked_realm("ftp://x/", true).is_err());
    }

    #[test]
    fn token_body_forms() {
        assert_eq!(token_from_body(br#"{"token":"a.b.c"}"#).unwrap(), "a.b.c");
        assert_eq!(
            token_from_body(br#"{"access_token":"a.b.c"}"#).unwrap(),
            "a.b.c"
        );
        assert!(token_from_body(b"{}").is_err());
        assert!(token_from_body(b"<html>").is_err());
    }
}
