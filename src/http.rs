//! One HTTP client for the registry handshake and the GitLab API: rustls with lazy
//! roots, `/etc/hosts`-first DNS, no redirects (a redirect on the token endpoint is a
//! diagnosis, never a hop to follow with credentials), proxies from the environment,
//! and bounded retries that never repeat a 401 or 403.

use crate::dns::{DnsError, HostsFirst};
use crate::secret::Secret;
use crate::tls::{self, ExtraCa};
use reqwest::header::{HeaderMap, HeaderValue};
use std::error::Error as _;
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

/// Bodies larger than this are not read: a token reply is a few kilobytes.
pub const MAX_BODY: usize = 1 << 20;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Time allowed for all attempts and the waits between them.
    pub budget: Duration,
    /// The first wait; each later one doubles, with jitter.
    pub base_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            budget: Duration::from_secs(30),
            base_delay: Duration::from_millis(250),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `n + 1` (n >= 1): exponential, with "equal jitter" so
    /// that parallel jobs retrying together spread out but never wait zero.
    pub fn delay(&self, n: u32) -> Duration {
        let full = self.base_delay.saturating_mul(1 << (n - 1).min(16));
        let half = full / 2;
        let jitter = RandomState::new().hash_one(n) % (half.as_millis() as u64 + 1);
        half + Duration::from_millis(jitter)
    }
}

#[derive(Debug, Clone)]
pub struct NetSettings {
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub extra_cas: Vec<ExtraCa>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetErrorKind {
    Dns,
    Connect,
    Timeout,
    /// The certificate chain does not lead to a trusted root.
    UnknownIssuer,
    /// The server answered a TLS hello with plain HTTP.
    HttpOnHttps,
    Tls,
    TooLarge,
    Other,
}

#[derive(Debug, thiserror::Error)]
#[error("{url}: {reason}")]
pub struct NetError {
    pub url: String,
    pub kind: NetErrorKind,
    pub reason: String,
}

impl NetError {
    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self.kind {
            NetErrorKind::UnknownIssuer => Some(
                "the server's certificate is not signed by a known CA: point CI_SERVER_TLS_CA_FILE or --ca-file at the CA bundle (PEM) that signed it"
                    .into(),
            ),
            NetErrorKind::HttpOnHttps => Some(
                "the server speaks plain HTTP: write the registry as http://HOST; plain HTTP is allowed for loopback addresses or with --insecure"
                    .into(),
            ),
            NetErrorKind::Dns => Some(
                "check the host name; in a job, service aliases come from /etc/hosts and other names need /etc/resolv.conf"
                    .into(),
            ),
            NetErrorKind::Timeout => Some("the server did not answer in time: raise --timeout, or check proxies (HTTPS_PROXY, NO_PROXY)".into()),
            NetErrorKind::Connect => Some("nothing accepted the connection: check the host, the port and any proxy (HTTPS_PROXY, NO_PROXY)".into()),
            _ => None,
        }
    }
}

/// Hosts that never go through a proxy, whatever `NO_PROXY` says: loopback is this
/// machine (docker never proxies it), and plain HTTP is allowed there only because it
/// never leaves the machine; a proxy would carry the job token in clear.
const ALWAYS_DIRECT: &str = "localhost,127.0.0.0/8,::1";

/// The proxies the environment names, as curl reads them (lower-case names first), each
/// bypassed for `NO_PROXY` and for loopback. An unusable value names its variable only:
/// a proxy URL may carry a password.
fn proxies(get: impl Fn(&str) -> Option<String>) -> Result<Vec<reqwest::Proxy>, String> {
    let var = |lower: &str| {
        [lower.to_string(), lower.to_ascii_uppercase()]
            .into_iter()
            .find_map(|name| {
                get(&name)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (name, v))
            })
    };
    let no_proxy = match var("no_proxy") {
        Some((_, list)) => format!("{list},{ALWAYS_DIRECT}"),
        None => ALWAYS_DIRECT.to_string(),
    };
    type Make = fn(String) -> reqwest::Result<reqwest::Proxy>;
    let kinds: [(&str, Make); 3] = [
        ("http_proxy", |u| reqwest::Proxy::http(u)),
        ("https_proxy", |u| reqwest::Proxy::https(u)),
        ("all_proxy", |u| reqwest::Proxy::all(u)),
    ];
    let mut out = Vec::new();
    for (lower, make) in kinds {
        if let Some((name, url)) = var(lower) {
            let proxy = make(url).map_err(|_| {
                format!("{name} is not a proxy URL (http://host:port); fix or unset it")
            })?;
            out.push(proxy.no_proxy(reqwest::NoProxy::from_string(&no_proxy)));
        }
    }
    Ok(out)
}

/// How a request authenticates. Every variant marks its header sensitive.
pub enum Credential<'a> {
    None,
    Basic(&'a str, &'a Secret),
    /// GitLab API: `PRIVATE-TOKEN`.
    PrivateToken(&'a Secret),
    /// A registry token, on the registry it was issued for.
    Bearer(&'a Secret),
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn headers_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }
}

pub struct Http {
    client: reqwest::Client,
    retry: RetryPolicy,
}

/// Statuses worth another attempt: the request may succeed if repeated.
fn retryable(status: u16, retry_404: bool) -> bool {
    matches!(status, 408 | 429 | 500..=599) || (retry_404 && status == 404)
}

impl Http {
    pub fn new(settings: &NetSettings) -> Result<Http, NetError> {
        let setup_error = |reason: String| NetError {
            url: String::new(),
            kind: NetErrorKind::Other,
            reason,
        };
        let mut builder = reqwest::Client::builder().no_proxy();
        for proxy in proxies(|name| std::env::var(name).ok()).map_err(setup_error)? {
            builder = builder.proxy(proxy);
        }
        let client = builder
            .tls_backend_preconfigured(tls::client_config(&settings.extra_cas))
            .dns_resolver(HostsFirst::default())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.timeout)
            .timeout(settings.timeout)
            .user_agent(concat!("ci-registry-login/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| setup_error(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Http {
            client,
            retry: settings.retry,
        })
    }

    /// GET with retries on connect errors, timeouts, 408, 429 (honouring `Retry-After`)
    /// and 5xx; `retry_404` adds 404, which GitLab's token endpoint sometimes answers to
    /// concurrent first pushes. 401 and 403 are never repeated: GitLab bans an address
    /// after repeated bad credentials.
    pub async fn get(
        &self,
        url: &str,
        credential: Credential<'_>,
        retry_404: bool,
    ) -> Result<Reply, NetError> {
        self.send(reqwest::Method::GET, url, credential, &[], retry_404)
            .await
    }

    /// [`Http::get`] with an `Accept` header (a registry's manifest types).
    pub async fn get_accepting(
        &self,
        url: &str,
        credential: Credential<'_>,
        retry_404: bool,
        accept: Option<&str>,
    ) -> Result<Reply, NetError> {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept", a)).into_iter().collect();
        self.send(reqwest::Method::GET, url, credential, &headers, retry_404)
            .await
    }

    /// HEAD, with the same retries as [`Http::get`]: a manifest's existence.
    pub async fn head(
        &self,
        url: &str,
        credential: Credential<'_>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, NetError> {
        self.send(reqwest::Method::HEAD, url, credential, headers, false)
            .await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        credential: Credential<'_>,
        headers: &[(&str, &str)],
        retry_404: bool,
    ) -> Result<Reply, NetError> {
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            tracing::info!(attempt, of = self.retry.attempts, %url, %method);
            let result = self.once(&method, url, &credential, headers).await;
            let wait = match &result {
                Ok(reply) if retryable(reply.status, retry_404) => {
                    retry_after(reply).unwrap_or_else(|| self.retry.delay(attempt))
                }
                Ok(_) => return result,
                Err(e) if matches!(e.kind, NetErrorKind::Connect | NetErrorKind::Timeout) => {
                    self.retry.delay(attempt)
                }
                Err(_) => return result,
            };
            let out_of_time = started.elapsed() + wait > self.retry.budget;
            if attempt >= self.retry.attempts || out_of_time {
                if let Ok(reply) = &result {
                    tracing::info!(status = reply.status, attempt, "giving up");
                }
                return result;
            }
            match &result {
                Ok(reply) => tracing::info!(
                    status = reply.status,
                    wait_ms = wait.as_millis() as u64,
                    "retrying"
                ),
                Err(e) => {
                    tracing::info!(error = %e.reason, wait_ms = wait.as_millis() as u64, "retrying")
                }
            }
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn once(
        &self,
        method: &reqwest::Method,
        url: &str,
        credential: &Credential<'_>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, NetError> {
        let mut request = self.client.request(method.clone(), url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        match credential {
            Credential::None => {}
            Credential::Bearer(token) => {
                let header = secrecy::zeroize::Zeroizing::new(format!("Bearer {}", token.expose()));
                let mut value = HeaderValue::from_str(&header).map_err(|_| NetError {
                    url: url.into(),
                    kind: NetErrorKind::Other,
                    reason: "the registry token cannot travel in an HTTP header".into(),
                })?;
                value.set_sensitive(true);
                request = request.header("Authorization", value);
            }
            Credential::Basic(user, secret) => {
                request = request.basic_auth(user, Some(secret.expose()))
            }
            Credential::PrivateToken(secret) => {
                let mut value = HeaderValue::from_str(secret.expose()).map_err(|_| NetError {
                    url: url.into(),
                    kind: NetErrorKind::Other,
                    reason: "the token contains characters that cannot travel in an HTTP header"
                        .into(),
                })?;
                value.set_sensitive(true);
                request = request.header("PRIVATE-TOKEN", value);
            }
        }
        let mut response = request.send().await.map_err(|e| classify(url, &e))?;
        let status = response.status().as_u16();
        tracing::debug!(status, version = ?response.version(), "answered");
        let headers = std::mem::take(response.headers_mut());
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY as u64)
        {
            return Err(too_large(url));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(url, &e))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(too_large(url));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}

fn too_large(url: &str) -> NetError {
    NetError {
        url: url.into(),
        kind: NetErrorKind::TooLarge,
        reason: format!(
            "the answer is larger than {} KiB; not a registry or GitLab reply",
            MAX_BODY / 1024
        ),
    }
}

fn retry_after(reply: &Reply) -> Option<Duration> {
    reply
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Every error below `err`, including the ones `io::Error::source` skips: it reports
/// the wrapped error's source, not the wrapped error, and rustls errors arrive wrapped
/// in two `io::Error` layers.
fn causes(err: &reqwest::Error) -> Vec<&(dyn std::error::Error + 'static)> {
    fn walk<'a>(
        e: &'a (dyn std::error::Error + 'static),
        out: &mut Vec<&'a (dyn std::error::Error + 'static)>,
    ) {
        out.push(e);
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            walk(inner, out);
        } else if let Some(next) = e.source() {
            walk(next, out);
        }
    }
    let mut out = Vec::new();
    if let Some(first) = err.source() {
        walk(first, &mut out);
    }
    out
}

/// Names the real cause of a transport error: reqwest wraps rustls and resolver errors
/// several layers deep, and `io::Error::source` skips the error it wraps.
fn classify(url: &str, err: &reqwest::Error) -> NetError {
    let mut kind = if err.is_timeout() {
        NetErrorKind::Timeout
    } else if err.is_connect() {
        NetErrorKind::Connect
    } else {
        NetErrorKind::Other
    };
    let mut reason = err.to_string();
    for cause in causes(err) {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            kind = match tls {
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
                    NetErrorKind::UnknownIssuer
                }
                rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
                    NetErrorKind::HttpOnHttps
                }
                _ => NetErrorKind::Tls,
            };
            reason = format!("TLS: {tls}");
        } else if let Some(dns) = cause.downcast_ref::<DnsError>() {
            kind = NetErrorKind::Dns;
            reason = dns.to_string();
        }
    }
    if matches!(kind, NetErrorKind::Connect | NetErrorKind::Other)
        && let Some(io) = causes(err)
            .into_iter()
            .rev()
            .find_map(|c| c.downcast_ref::<std::io::Error>())
    {
        reason = io.to_string();
    }
    NetError {
        url: url.into(),
        kind,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::proxies;

    #[test]
    fn proxies_come_from_either_spelling_and_never_echo_their_url() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(proxies(env(&[])).unwrap().len(), 0);
        let set = proxies(env(&[
            ("http_proxy", "http://127.0.0.1:3128"),
            ("HTTPS_PROXY", "http://127.0.0.1:3128"),
            ("NO_PROXY", "example.com"),
        ]));
        assert_eq!(set.unwrap().len(), 2);
        let err = proxies(env(&[("HTTPS_PROXY", "http://user:s3cret@[::bad")])).unwrap_err();
        assert!(
            err.contains("HTTPS_PROXY") && !err.contains("s3cret"),
            "{err}"
        );
    }

    use super::*;

    #[test]
    fn delays_grow_and_stay_within_bounds() {
        let p = RetryPolicy::default();
        for n in 1..6 {
            let full = p.base_delay * (1 << (n - 1));
            let d = p.delay(n);
            assert!(d >= full / 2 && d <= full, "attempt {n}: {d:?}");
        }
    }

    #[test]
    fn never_retries_refusals() {
        for s in [401, 403, 400, 200, 302] {
            assert!(!retryable(s, true), "{s}");
        }
        for s in [408, 429, 500, 502, 503] {
            assert!(retryable(s, false), "{s}");
        }
        assert!(!retryable(404, false) && retryable(404, true));
    }
}
