//! The live proof of a whole job (issue 14): per registry host, one `GET /v2/`, one
//! token request carrying every repository's scope, and a `HEAD` of each manifest the
//! verdict needs (a pulled image; a pushed tag under an immutable rule). Credentials
//! are tried in rank order and the first that serves everything ends the search; when
//! none does, each repository gets the first that serves it (issue 14, item 6), from
//! the answers already had. Each goes only to a host its binding admits and to the
//! realm that host's challenge names.

use crate::access::{Action, JOB_TOKEN_USER};
use crate::credentials::Candidate;
use crate::handshake::{self, Auth, Endpoint, TokenReply};
use crate::http::{Credential, Http};
use crate::images::{self, HostAnswer, HostFacts, Need, Row, Spec};
use crate::names::Registry;
use crate::secret::Secret;
use crate::tag_rules::TagCheck;
use futures_util::future::join_all;

/// Docker Hub's token service names itself so in its challenge.
const DOCKER_HUB_SERVICE: &str = "registry.docker.io";

/// What to try on one registry host.
#[derive(Debug, Clone)]
pub struct HostPlan {
    pub registry: Registry,
    /// Ranked; empty: anonymous.
    pub candidates: Vec<Candidate>,
    pub dependency_proxy: bool,
}

/// The proof of one host: its facts and the credential that served (for the login).
#[derive(Debug, Clone)]
pub struct HostProof {
    pub facts: HostFacts,
    pub chosen: Option<Candidate>,
    /// The API spoke plain HTTP (for engines that need telling).
    pub plain_http: bool,
    /// When no credential serves every repository: those another credential serves
    /// than `chosen` (which the host's key keeps), each with its own.
    pub by_repository: Vec<RepositoryProof>,
}

/// A repository of a host served by a credential of its own.
#[derive(Debug, Clone)]
pub struct RepositoryProof {
    pub repository: String,
    pub facts: HostFacts,
    pub chosen: Candidate,
}

/// A host's proof with what its manifests are read with: the endpoint, the host
/// credential's token and, in `by_repository`'s order, each repository's.
struct Proven {
    proof: HostProof,
    endpoint: Option<Endpoint>,
    token: Option<Secret>,
    repository_tokens: Vec<Option<Secret>>,
}

impl Proven {
    fn new(proof: HostProof, endpoint: Option<Endpoint>, token: Option<Secret>) -> Proven {
        Proven {
            proof,
            endpoint,
            token,
            repository_tokens: Vec::new(),
        }
    }

    /// The facts, token and credential a repository is proven with.
    fn for_repository(
        &self,
        repository: &str,
    ) -> (&HostFacts, Option<&Secret>, Option<&Candidate>) {
        match self
            .proof
            .by_repository
            .iter()
            .position(|r| r.repository == repository)
        {
            Some(i) => {
                let r = &self.proof.by_repository[i];
                (
                    &r.facts,
                    self.repository_tokens[i].as_ref(),
                    Some(&r.chosen),
                )
            }
            None => (
                &self.proof.facts,
                self.token.as_ref(),
                self.proof.chosen.as_ref(),
            ),
        }
    }
}

/// Proves every image of `spec` on every host; rows in the spec's order, then the
/// Dockerfile lines that name no image.
pub async fn prove(
    http: &Http,
    spec: &Spec,
    hosts: &[HostPlan],
    insecure: bool,
    project: Option<&str>,
) -> (Vec<Row>, Vec<HostProof>) {
    // Hosts at once (each is sent only its own candidates, one at a time), then every
    // manifest at once: over HTTP/2 those of one registry share its connection.
    let proofs: Vec<Proven> = join_all(
        hosts
            .iter()
            .map(|host| prove_host(http, spec, host, insecure)),
    )
    .await;
    let presences = join_all(spec.touches.iter().map(|touch| async {
        let proven = proofs
            .iter()
            .find(|p| p.proof.facts.registry.same_as(&touch.image.registry))?;
        let (facts, token, chosen) = proven.for_repository(touch.image.repository.as_str());
        let presence = match &proven.endpoint {
            Some(endpoint) if wants_manifest(touch.need, &touch.image, facts) => {
                let credential = match (&facts.answer, token, chosen) {
                    (HostAnswer::Granted(_), Some(token), _) => Credential::Bearer(token),
                    (HostAnswer::Basic { .. }, _, Some(c)) => {
                        Credential::Basic(&c.username, &c.secret)
                    }
                    _ => Credential::None,
                };
                let reference = match touch.need {
                    Need::Pull => touch.image.reference(),
                    Need::Push => touch.image.tag.as_deref().unwrap_or("latest"),
                };
                handshake::manifest(
                    http,
                    endpoint,
                    touch.image.repository.as_str(),
                    reference,
                    credential,
                )
                .await
                .ok()
            }
            _ => None,
        };
        Some((facts, presence))
    }))
    .await;
    let mut rows = Vec::new();
    for (touch, proven) in spec.touches.iter().zip(presences) {
        if let Some((facts, presence)) = proven {
            rows.push(crate::diagnose::image_row(touch, facts, presence, project));
        }
    }
    rows.extend(spec.unnamed.iter().map(crate::diagnose::unnamed_row));
    (rows, proofs.into_iter().map(|p| p.proof).collect())
}

/// A pull's manifest proves the pull and finds a missing image; a push's only matters
/// when an immutable rule matches its tag (then an existing tag refuses the push).
fn wants_manifest(need: Need, image: &crate::image_ref::ImageRef, host: &HostFacts) -> bool {
    match (&host.answer, need) {
        (HostAnswer::Granted(claims), Need::Pull) => {
            host.dependency_proxy
                || claims
                    .granted(image.repository.as_str())
                    .contains(&Action::Pull)
        }
        (HostAnswer::Granted(claims), Need::Push) => {
            let tag = image.tag.as_deref().unwrap_or("latest");
            matches!(
                claims.tag_rules(image.repository.as_str()).check(tag),
                TagCheck::Immutable { .. }
            )
        }
        (HostAnswer::Basic { accepted: true } | HostAnswer::Open, Need::Pull) => true,
        _ => false,
    }
}

fn describe(c: Option<&Candidate>) -> String {
    match c {
        Some(c) => format!("{} from {}", c.kind, c.origin),
        None => "anonymous".into(),
    }
}

fn facts(
    host: &HostPlan,
    chosen: Option<&Candidate>,
    docker_hub: bool,
    answer: HostAnswer,
) -> HostFacts {
    HostFacts {
        registry: host.registry.clone(),
        credential: describe(chosen),
        anonymous: chosen.is_none(),
        job_token: chosen.is_some_and(|c| c.kind.row().job_scoped && c.username == JOB_TOKEN_USER),
        docker_hub,
        dependency_proxy: host.dependency_proxy,
        answer,
    }
}

async fn prove_host(http: &Http, spec: &Spec, host: &HostPlan, insecure: bool) -> Proven {
    // Only credentials bound to this host, and without a known problem, are sent.
    let sendable: Vec<&Candidate> = host
        .candidates
        .iter()
        .filter(|c| c.binding.admits(&host.registry) && c.problem.is_none())
        .collect();
    let api = spec
        .on(&host.registry)
        .next()
        .map(|t| t.image.api_registry())
        .unwrap_or_else(|| host.registry.clone());
    let hub_by_name = spec
        .on(&host.registry)
        .next()
        .is_some_and(|t| t.image.on_docker_hub());
    let done = |chosen: Option<&Candidate>, hub: bool, answer, plain: bool| HostProof {
        facts: facts(host, chosen, hub, answer),
        chosen: chosen.cloned(),
        plain_http: plain,
        by_repository: Vec::new(),
    };
    // A credential with a problem known offline (an unset variable) is reported as
    // such, never replaced by an anonymous request that would hide it.
    if sendable.is_empty()
        && let Some(c) = host.candidates.iter().find(|c| c.problem.is_some())
    {
        let answer = HostAnswer::Refused(c.problem.clone().unwrap_or_default());
        return Proven::new(done(Some(c), hub_by_name, answer, false), None, None);
    }
    let (endpoint, auth) = match handshake::ping(http, &api, insecure).await {
        Ok(pair) => pair,
        Err(e) => {
            let message = match e.hint() {
                Some(hint) => format!("{e} ({hint})"),
                None => e.to_string(),
            };
            let answer = HostAnswer::Unreachable(message);
            return Proven::new(
                done(sendable.first().copied(), hub_by_name, answer, false),
                None,
                None,
            );
        }
    };
    let plain = endpoint.scheme == crate::names::Scheme::Http;
    match auth {
        Auth::Open => Proven::new(
            done(None, hub_by_name, HostAnswer::Open, plain),
            Some(endpoint),
            None,
        ),
        Auth::Basic => {
            let Some(c) = sendable.first().copied() else {
                let answer = HostAnswer::Refused(format!(
                    "{} asks for a user and password (Basic auth) and none is on offer: pass --credential {}=USER_VAR:SECRET_VAR",
                    host.registry, host.registry
                ));
                return Proven::new(done(None, hub_by_name, answer, plain), Some(endpoint), None);
            };
            let answer = match handshake::basic_login(http, &endpoint, &c.username, &c.secret).await
            {
                Ok(accepted) => HostAnswer::Basic { accepted },
                Err(e) => HostAnswer::Unreachable(e.to_string()),
            };
            Proven::new(
                done(Some(c), hub_by_name, answer, plain),
                Some(endpoint),
                None,
            )
        }
        Auth::Bearer { realm, service } => {
            let hub = hub_by_name || service.as_deref() == Some(DOCKER_HUB_SERVICE);
            let scopes = spec.scopes(&host.registry);
            let logins: Vec<Option<&Candidate>> = if sendable.is_empty() {
                vec![None]
            } else {
                sendable.iter().map(|c| Some(*c)).collect()
            };
            // Every answer, in rank order: when none serves everything, each
            // repository gets the first credential that serves it.
            let mut tried: Vec<(Option<&Candidate>, HostAnswer, Option<Secret>)> = Vec::new();
            for login in logins {
                let (reply, token) = handshake::request_scoped_token(
                    http,
                    &realm,
                    service.as_deref(),
                    &scopes,
                    login.map(|c| (c.username.as_str(), &c.secret)),
                )
                .await;
                let answer = match reply {
                    TokenReply::Granted(claims) => {
                        let serves =
                            serves_all(spec, &host.registry, &claims) || host.dependency_proxy;
                        let answer = HostAnswer::Granted(claims);
                        if serves {
                            let proof = done(login, hub, answer, plain);
                            return Proven::new(proof, Some(endpoint), token);
                        }
                        answer
                    }
                    TokenReply::Unauthorized(m) | TokenReply::Forbidden(m) => {
                        HostAnswer::Refused(m)
                    }
                    TokenReply::Redirected(to) => HostAnswer::Refused(format!(
                        "the token service answered with a redirect to {to}; credentials never follow one"
                    )),
                    TokenReply::Broken(m) => HostAnswer::Unreachable(m),
                    TokenReply::Net(e) => {
                        let answer = HostAnswer::Unreachable(e.to_string());
                        return Proven::new(done(login, hub, answer, plain), Some(endpoint), None);
                    }
                };
                tried.push((login, answer, token));
            }
            let needs = spec.repositories(&host.registry);
            let repositories: Vec<String> = needs.iter().map(|(r, _)| r.clone()).collect();
            let serves = |i: usize, repo: &str| {
                let need = needs.iter().find(|(r, _)| r == repo).map(|(_, n)| *n);
                matches!((&tried[i].1, need), (HostAnswer::Granted(claims), Some(need)) if grants(claims, repo, need))
            };
            let Some(assignment) = images::assign(&repositories, tried.len(), serves) else {
                // Nothing served anything: the first grant is reported, else the
                // first refusal.
                let i = tried
                    .iter()
                    .position(|(_, a, _)| matches!(a, HostAnswer::Granted(_)))
                    .unwrap_or(0);
                let (login, answer, token) = tried.swap_remove(i);
                return Proven::new(done(login, hub, answer, plain), Some(endpoint), token);
            };
            let mut by_repository = Vec::new();
            let mut repository_tokens = Vec::new();
            for (repository, i) in assignment.repositories {
                let (login, answer, token) = &tried[i];
                let Some(chosen) = login else { continue };
                by_repository.push(RepositoryProof {
                    repository,
                    facts: facts(host, Some(chosen), hub, answer.clone()),
                    chosen: (*chosen).clone(),
                });
                repository_tokens.push(token.clone());
            }
            let (login, answer, token) = tried.swap_remove(assignment.host);
            Proven {
                proof: HostProof {
                    by_repository,
                    ..done(login, hub, answer, plain)
                },
                endpoint: Some(endpoint),
                token,
                repository_tokens,
            }
        }
    }
}

/// Whether a token grants every action the job needs on this host.
fn serves_all(spec: &Spec, registry: &Registry, claims: &crate::jwt::Claims) -> bool {
    spec.on(registry)
        .all(|t| grants(claims, t.image.repository.as_str(), t.need))
}

/// Whether a token grants what the job needs of one repository.
fn grants(claims: &crate::jwt::Claims, repository: &str, need: Need) -> bool {
    let wanted = match need {
        Need::Pull => Action::Pull,
        Need::Push => Action::Push,
    };
    claims.granted(repository).contains(&wanted)
}
