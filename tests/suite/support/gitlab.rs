//! The GitLab emulator: `/jwt/auth`, a few API endpoints (the token and job
//! look-ups, the generic package registry, releases), a request log and fault
//! switches, served from background threads.
//!
//! It listens twice: on `127.0.0.1` (the instance, [`GitLab::url`]) and on
//! `127.0.0.2` ([`GitLab::alias_url`]), the same instance behind another
//! address. Faults apply to the first listener only, so the alias can be the
//! clean target of a redirect fault: clients drop `Authorization` when a
//! redirect changes host, exactly like the proxy setups of reference §6.1.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Value, json};

use super::auth::{self, Access, CI_JOB_USER, Credential, Refusal};
use super::http::{self, ClientResponse, Reply, Request, Response, Server};
use super::jwt::{self, Jwt, Signer};
use super::world::{Scope, World};

const HTML: &str = "text/html; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";
const BAD_GATEWAY_HTML: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
const SERVER_ERROR_HTML: &str = "<!DOCTYPE html>\n<html><head><title>We're sorry, but something went wrong (500)</title></head><body><h1>500</h1><p>Whoops, something went wrong on our end.</p></body></html>\n";
const NOT_FOUND_HTML: &str = "<!DOCTYPE html>\n<html><head><title>The page you're looking for could not be found (404)</title></head><body><h1>404</h1><p>Page Not Found</p></body></html>\n";
const API_UNAUTHORIZED: &str = r#"{"message":"401 Unauthorized"}"#;
const NOT_A_PAT: &str = r#"{"message":"400 Bad request - This endpoint requires token type to be a personal access token"}"#;
/// Size of the [`Fault::HugeBody`] answer.
pub const HUGE_BODY_BYTES: usize = 10 * 1024 * 1024;

/// A misbehaviour to inject on a path (matched exactly, query excluded).
#[derive(Clone, Debug)]
pub enum Fault {
    /// 502 with nginx's HTML page.
    BadGateway,
    /// 500 with an empty body.
    InternalError,
    /// 404 with an empty body, like the realm during podman's concurrent first pushes.
    NotFound,
    /// 429 with `Retry-After: 1`.
    TooManyRequests,
    /// `status` (302, 307, ...) to `to` (scheme://host:port) plus the original path and query.
    Redirect { status: u16, to: String },
    /// Process the request as if a proxy had removed `Authorization`.
    StripAuthorization,
    /// Answer normally, but only after this long (cut short when the emulator is dropped).
    Delay(Duration),
    /// Read the request, then never answer until the emulator is dropped.
    Hang,
    /// 200 with JSON cut off in the middle of the token.
    GarbageJson,
    /// 200 with a well-formed `{"token":...}` of [`HUGE_BODY_BYTES`].
    HugeBody,
    /// 200 with a token of three dot-separated parts that are not base64url.
    MalformedJwt,
    /// 200 with `{}`.
    EmptyJson,
}

/// How many matching requests a fault hits.
#[derive(Clone, Copy, Debug)]
pub enum Times {
    First(usize),
    Always,
}

struct Injection {
    path: String,
    fault: Fault,
    remaining: Option<usize>,
}

/// How a logged request authenticated, without any secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authorization {
    /// The Basic username; empty when the header did not decode.
    Basic(String),
    Bearer,
    /// Any other scheme, as sent.
    Other(String),
}

/// One request as the emulator saw it, and the status it answered
/// (None when it never answered).
#[derive(Clone, Debug)]
pub struct LoggedRequest {
    pub path: String,
    pub query: Vec<(String, String)>,
    pub authorization: Option<Authorization>,
    /// Lower-case header names, e.g. to see whether `private-token` was sent.
    pub header_names: Vec<String>,
    pub status: Option<u16>,
    /// Arrived on the alias listener (127.0.0.2).
    pub via_alias: bool,
}

impl LoggedRequest {
    pub fn param(&self, name: &str) -> Option<&str> {
        http::query_param(&self.query, name)
    }

    pub fn params(&self, name: &str) -> Vec<&str> {
        http::query_params(&self.query, name)
    }
}

/// A generic package file: (project id, package name, version, file name).
type PackageFile = (u64, String, String, String);

struct Emulator {
    url: String,
    world: Mutex<World>,
    faults: Mutex<Vec<Injection>>,
    log: Mutex<Vec<LoggedRequest>>,
    /// Failed Basic logins per client IP, for the optional Rack::Attack ban.
    failed_logins: Mutex<HashMap<IpAddr, u32>>,
    signer: Signer,
    /// The generic package registry.
    packages: Mutex<BTreeMap<PackageFile, Vec<u8>>>,
    /// Releases created through the API: (project id, the request's JSON).
    releases: Mutex<Vec<(u64, Value)>>,
}

/// A running emulator; dropping it stops both listeners and releases hung requests.
pub struct GitLab {
    emulator: Arc<Emulator>,
    alias_url: String,
    _primary: Server,
    _alias: Server,
}

impl GitLab {
    pub fn start(world: World) -> GitLab {
        let primary = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let alias = TcpListener::bind("127.0.0.2:0").expect("bind 127.0.0.2:0");
        let emulator = Arc::new(Emulator {
            url: format!("http://{}", primary.local_addr().unwrap()),
            world: Mutex::new(world),
            faults: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            failed_logins: Mutex::new(HashMap::new()),
            signer: Signer::from_fixture(),
            packages: Mutex::new(BTreeMap::new()),
            releases: Mutex::new(Vec::new()),
        });
        let alias_url = format!("http://{}", alias.local_addr().unwrap());
        let on_primary = Arc::clone(&emulator);
        let on_alias = Arc::clone(&emulator);
        GitLab {
            _primary: Server::start(
                primary,
                Arc::new(move |r: &Request| on_primary.handle(r, false)),
            ),
            _alias: Server::start(alias, Arc::new(move |r: &Request| on_alias.handle(r, true))),
            emulator,
            alias_url,
        }
    }

    /// `http://127.0.0.1:PORT`, the instance URL (`CI_SERVER_URL`).
    pub fn url(&self) -> &str {
        &self.emulator.url
    }

    /// `url()/jwt/auth`, the registry's token realm.
    pub fn realm(&self) -> String {
        format!("{}/jwt/auth", self.url())
    }

    /// `http://127.0.0.2:PORT`: the same instance on another host, without faults.
    pub fn alias_url(&self) -> &str {
        &self.alias_url
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.emulator.log.lock().unwrap().clone()
    }

    /// The requests to one path, in arrival order.
    pub fn requests_to(&self, path: &str) -> Vec<LoggedRequest> {
        let log = self.emulator.log.lock().unwrap();
        log.iter().filter(|r| r.path == path).cloned().collect()
    }

    pub fn clear_requests(&self) {
        self.emulator.log.lock().unwrap().clear();
    }

    /// A copy of the current world.
    pub fn world(&self) -> World {
        self.emulator.world.lock().unwrap().clone()
    }

    /// Changes the world while running, e.g. to finish a job or revoke a token.
    pub fn edit_world(&self, edit: impl FnOnce(&mut World)) {
        edit(&mut self.emulator.world.lock().unwrap());
    }

    /// Makes requests to `path` misbehave; earlier injections on a path win
    /// until they are used up.
    pub fn inject(&self, path: &str, fault: Fault, times: Times) {
        let remaining = match times {
            Times::First(n) => Some(n),
            Times::Always => None,
        };
        self.emulator.faults.lock().unwrap().push(Injection {
            path: path.to_string(),
            fault,
            remaining,
        });
    }

    pub fn clear_faults(&self) {
        self.emulator.faults.lock().unwrap().clear();
    }

    /// `GET /jwt/auth?service=container_registry&scope=...` (one `scope=` per
    /// entry), with Basic credentials when given.
    pub fn request_token(&self, basic: Option<(&str, &str)>, scopes: &[&str]) -> ClientResponse {
        let mut url = format!("{}?service=container_registry", self.realm());
        for scope in scopes {
            url.push_str(&format!("&scope={}", http::percent_encode(scope)));
        }
        let header = basic.map(|(user, password)| http::basic(user, password));
        let headers: Vec<(&str, &str)> = header
            .iter()
            .map(|h| ("Authorization", h.as_str()))
            .collect();
        http::get(&url, &headers)
    }

    /// Like [`GitLab::request_token`], but insists on a 200 and decodes the JWT.
    pub fn token(&self, basic: Option<(&str, &str)>, scopes: &[&str]) -> Jwt {
        let response = self.request_token(basic, scopes);
        assert_eq!(
            response.status,
            200,
            "/jwt/auth answered {}",
            response.text()
        );
        jwt::decode(
            response.json()["token"]
                .as_str()
                .expect("token is a string"),
        )
    }

    /// Verifies a token's signature with the emulator's key.
    pub fn signed_by_me(&self, token: &str) -> bool {
        self.emulator.signer.verifies(token)
    }

    pub fn kid(&self) -> &str {
        self.emulator.signer.kid()
    }

    /// A file of the generic package registry, as stored.
    pub fn package_file(
        &self,
        project: u64,
        package: &str,
        version: &str,
        file: &str,
    ) -> Option<Vec<u8>> {
        let key = (
            project,
            package.to_string(),
            version.to_string(),
            file.to_string(),
        );
        self.emulator.packages.lock().unwrap().get(&key).cloned()
    }

    /// Replaces a stored package file, as whoever controls the storage could.
    pub fn tamper_package(
        &self,
        project: u64,
        package: &str,
        version: &str,
        file: &str,
        bytes: Vec<u8>,
    ) {
        let key = (
            project,
            package.to_string(),
            version.to_string(),
            file.to_string(),
        );
        self.emulator.packages.lock().unwrap().insert(key, bytes);
    }

    /// The releases created so far: (project id, the request's JSON).
    pub fn releases(&self) -> Vec<(u64, Value)> {
        self.emulator.releases.lock().unwrap().clone()
    }
}

impl Emulator {
    fn handle(&self, request: &Request, via_alias: bool) -> Reply {
        let fault = if via_alias {
            None
        } else {
            self.take_fault(&request.path)
        };
        let reply = match fault {
            None => Reply::Now(self.route(request)),
            Some(fault) => self.misbehave(request, fault),
        };
        self.record(request, &reply, via_alias);
        reply
    }

    fn take_fault(&self, path: &str) -> Option<Fault> {
        let mut faults = self.faults.lock().unwrap();
        let injection = faults
            .iter_mut()
            .find(|i| i.path == path && i.remaining != Some(0))?;
        if let Some(remaining) = &mut injection.remaining {
            *remaining -= 1;
        }
        Some(injection.fault.clone())
    }

    fn misbehave(&self, request: &Request, fault: Fault) -> Reply {
        let ok_json = |body: Vec<u8>| Reply::Now(Response::json(200, body));
        match fault {
            Fault::BadGateway => Reply::Now(Response::text(502, HTML, BAD_GATEWAY_HTML)),
            Fault::InternalError => Reply::Now(Response::empty(500)),
            Fault::NotFound => Reply::Now(Response::empty(404)),
            Fault::TooManyRequests => Reply::Now(
                Response::text(429, TEXT, "Retry later\n").with_header("Retry-After", "1"),
            ),
            Fault::Redirect { status, to } => {
                let query = if request.raw_query.is_empty() {
                    String::new()
                } else {
                    format!("?{}", request.raw_query)
                };
                let location = format!("{to}{}{query}", request.path);
                Reply::Now(Response::empty(status).with_header("Location", &location))
            }
            Fault::StripAuthorization => {
                Reply::Now(self.route(&request.clone().without_header("Authorization")))
            }
            Fault::Delay(delay) => Reply::After(delay, self.route(request)),
            Fault::Hang => Reply::Never,
            Fault::GarbageJson => ok_json(br#"{"token":"eyJhbGciOiJSUzI1NiIsInR5cCI6"#.to_vec()),
            Fault::HugeBody => {
                let mut body = br#"{"token":""#.to_vec();
                body.resize(HUGE_BODY_BYTES - 2, b'A');
                body.extend_from_slice(br#""}"#);
                ok_json(body)
            }
            Fault::MalformedJwt => ok_json(br#"{"token":"not*base64.@@@@.%%%%"}"#.to_vec()),
            Fault::EmptyJson => ok_json(b"{}".to_vec()),
        }
    }

    fn record(&self, request: &Request, reply: &Reply, via_alias: bool) {
        let status = match reply {
            Reply::Now(response) | Reply::After(_, response) => Some(response.status),
            Reply::Never => None,
        };
        let authorization = request.header("Authorization").map(|value| {
            let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
            if scheme.eq_ignore_ascii_case("basic") {
                Authorization::Basic(decode_basic(rest).map(|(user, _)| user).unwrap_or_default())
            } else if scheme.eq_ignore_ascii_case("bearer") {
                Authorization::Bearer
            } else {
                Authorization::Other(scheme.to_string())
            }
        });
        self.log.lock().unwrap().push(LoggedRequest {
            path: request.path.clone(),
            query: request.query.clone(),
            authorization,
            header_names: request
                .headers
                .iter()
                .map(|(k, _)| k.to_ascii_lowercase())
                .collect(),
            status,
            via_alias,
        });
    }

    fn route(&self, request: &Request) -> Response {
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/jwt/auth") => self.jwt_auth(request),
            // Only GET is routed: a POST (or anything else) finds no route.
            (_, "/jwt/auth") => Response::empty(404),
            ("GET", "/api/v4/personal_access_tokens/self") => self.personal_access_token(request),
            ("GET", "/api/v4/job") => self.current_job(request),
            ("GET", "/api/v4/user") => self.current_user(request),
            (method, path) if generic_package_path(path).is_some() => {
                self.generic_package(method, request)
            }
            ("POST", path) if releases_path(path).is_some() => self.create_release(request),
            // The dependency proxy, on GitLab's own host (reference 1.9).
            ("GET", "/v2/" | "/v2") => self.dependency_proxy_ping(request),
            ("GET", path) if path.starts_with("/v2/") => self.dependency_proxy_manifest(request),
            // Rails answers a HEAD on a GET route (`Journey::Router#match_head_routes`)
            // with the GET's status and headers, the body dropped: how clients ask
            // whether a manifest exists.
            ("HEAD", path) if path.starts_with("/v2/") => Response {
                body: Vec::new(),
                ..self.dependency_proxy_manifest(request)
            },
            (_, path) if path.starts_with("/api/") => {
                Response::json(404, r#"{"message":"404 Not Found"}"#)
            }
            _ => Response::text(404, HTML, NOT_FOUND_HTML),
        }
    }

    /// The running job a `JOB-TOKEN` header (or `gitlab-ci-token` Basic) belongs to, if
    /// it runs in `project` or in a project `project`'s allowlist admits (§9.5).
    fn job_for(world: &World, request: &Request, project: &super::world::Project) -> bool {
        let token = request.header("JOB-TOKEN").map(str::to_string).or_else(|| {
            basic_credentials(request)
                .filter(|(u, _)| u == CI_JOB_USER)
                .map(|(_, p)| p)
        });
        let Some(token) = token else { return false };
        world.jobs.iter().any(|job| {
            job.running
                && job.token == token
                && (job.project.eq_ignore_ascii_case(&project.path)
                    || project
                        .job_token_allowlist
                        .iter()
                        .any(|a| super::world::path_within(&job.project, a)))
        })
    }

    /// The generic package registry (GitLab's doc/user/packages/generic_packages, not in
    /// the reference): `PUT` stores a file with a job token of the project (201
    /// `{"message":"201 Created"}`), `GET` returns it to anyone for a public project and
    /// to a job of the project otherwise; a private project is 404 to others, as GitLab
    /// hides it. Other methods: 405.
    fn generic_package(&self, method: &str, request: &Request) -> Response {
        let [id, package, version, file] = generic_package_path(&request.path).expect("routed");
        let world = self.world.lock().unwrap();
        let Some(project) = project_by_ref(&world, id) else {
            return Response::json(404, r#"{"message":"404 Project Not Found"}"#);
        };
        if !valid_generic_package(package, version, file) {
            return Response::json(
                400,
                r#"{"error":"package_name, package_version or file_name is invalid"}"#,
            );
        }
        let key = (
            project.id,
            package.to_string(),
            version.to_string(),
            file.to_string(),
        );
        let is_job = Self::job_for(&world, request, project);
        match method {
            "PUT" if is_job => {
                self.packages
                    .lock()
                    .unwrap()
                    .insert(key, request.body.clone());
                Response::json(201, r#"{"message":"201 Created"}"#)
            }
            "PUT" if api_token(request).is_none() => Response::json(401, API_UNAUTHORIZED),
            "PUT" => Response::json(403, r#"{"message":"403 Forbidden"}"#),
            "GET" if is_job || project.visibility == super::world::Visibility::Public => {
                match self.packages.lock().unwrap().get(&key) {
                    Some(bytes) => Response::text(200, "application/octet-stream", bytes.clone()),
                    None => Response::json(404, r#"{"message":"404 Package Not Found"}"#),
                }
            }
            "GET" => Response::json(404, r#"{"message":"404 Project Not Found"}"#),
            _ => Response::json(405, r#"{"error":"405 Not Allowed"}"#),
        }
    }

    /// `POST /projects/:id/releases` (GitLab's doc/api/releases, not in the reference):
    /// a job of the project creates a release from JSON naming at least `tag_name`; it
    /// is recorded as sent and echoed with 201. A second release of a tag is 409.
    fn create_release(&self, request: &Request) -> Response {
        let id = releases_path(&request.path).expect("routed");
        let world = self.world.lock().unwrap();
        let Some(project) = project_by_ref(&world, id) else {
            return Response::json(404, r#"{"message":"404 Project Not Found"}"#);
        };
        if !Self::job_for(&world, request, project) {
            return Response::json(401, API_UNAUTHORIZED);
        }
        let Ok(release) = serde_json::from_slice::<Value>(&request.body) else {
            return Response::json(400, r#"{"error":"the body is not JSON"}"#);
        };
        let Some(tag) = release["tag_name"].as_str() else {
            return Response::json(400, r#"{"error":"tag_name is missing"}"#);
        };
        let mut releases = self.releases.lock().unwrap();
        if releases
            .iter()
            .any(|(p, r)| *p == project.id && r["tag_name"] == tag)
        {
            return Response::json(409, r#"{"message":"Release already exists"}"#);
        }
        releases.push((project.id, release.clone()));
        Response::json(201, release.to_string())
    }

    /// `JwtController#auth` and `ContainerRegistryAuthenticationService#execute` (§1.1–1.7).
    fn jwt_auth(&self, request: &Request) -> Response {
        let world = self.world.lock().unwrap();
        let credential = match basic_credentials(request) {
            None => Credential::Anonymous,
            Some((login, password)) => {
                match self.authenticate(&world, request.peer.ip(), &login, &password) {
                    Ok(credential) => credential,
                    Err(response) => return response,
                }
            }
        };
        if request.param("service") == Some("dependency_proxy") {
            return self.dependency_proxy_token(&world, &credential);
        }
        if request.param("service") != Some("container_registry") {
            return Response::empty(404);
        }
        if !world.settings.registry_enabled {
            return registry_error(404, "UNAVAILABLE", "registry not enabled");
        }
        if !credential.has_registry_ability()
            || credential.disabled_by_external_authorization(&world)
        {
            return registry_error(403, "DENIED", "access forbidden");
        }
        // Rack's parse_query keeps repeated keys; each value may hold several
        // space-separated scopes.
        let scopes: Vec<String> = request
            .params("scope")
            .iter()
            .flat_map(|value| value.split_whitespace())
            .map(str::to_string)
            .collect();
        let Ok(granted) = auth::grant(&world, &credential, &scopes) else {
            return Response::text(500, HTML, SERVER_ERROR_HTML);
        };
        if granted.is_empty() && matches!(credential, Credential::Anonymous) {
            return registry_error(403, "DENIED", "access forbidden");
        }
        if auth::push_protected(&world, &credential, &granted) {
            return registry_error(
                403,
                "DENIED",
                "Pushing to protected repository path forbidden",
            );
        }
        if auth::storage_limit_reached(&world, &granted) {
            let url = world.settings.external_url.as_deref().unwrap_or(&self.url);
            let message = format!(
                "Your action has been rejected because the namespace storage limit has been reached. For more information, visit {url}/help/user/storage_usage_quotas.md."
            );
            return registry_error(403, "DENIED", &message);
        }
        let token = self.issue(&world, &credential, &granted);
        Response::json(200, format!(r#"{{"token":"{token}"}}"#))
    }

    /// `/jwt/auth?service=dependency_proxy` (reference 1.9): `{"token":...}` for a
    /// credential `auth::dependency_proxy_holder` admits, else 403 `access forbidden`.
    /// GitLab signs this token with HMAC; the emulator uses its one key (no client
    /// verifies it). The scope is not read: the proxy checks the group per request.
    fn dependency_proxy_token(&self, world: &World, credential: &Credential) -> Response {
        let Some(holder) = auth::dependency_proxy_holder(world, credential) else {
            return registry_error(403, "DENIED", "access forbidden");
        };
        let now = unix_now();
        let mut claims = json!({
            "jti": self.signer.uuid(),
            "iat": now,
            "nbf": now - 5,
            "exp": now + world.settings.token_lifetime_minutes * 60,
        });
        match holder {
            auth::ProxyHolder::User(id) => claims["user_id"] = json!(id),
            auth::ProxyHolder::DeployToken(id) => claims["deploy_token_id"] = json!(id),
        }
        let token = self.signer.sign(&claims);
        Response::json(200, format!(r#"{{"token":"{token}"}}"#))
    }

    /// The holder of a valid dependency-proxy token in `Authorization: Bearer`.
    fn dependency_proxy_bearer(&self, request: &Request) -> Option<auth::ProxyHolder> {
        let value = request.header("Authorization")?;
        let (scheme, token) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") || !self.signer.verifies(token.trim()) {
            return None;
        }
        let claims = jwt::try_decode(token.trim())?.claims;
        if claims["exp"].as_u64().is_none_or(|exp| exp <= unix_now()) {
            return None;
        }
        match (
            claims["user_id"].as_u64(),
            claims["deploy_token_id"].as_u64(),
        ) {
            (Some(id), _) => Some(auth::ProxyHolder::User(id)),
            (None, Some(id)) => Some(auth::ProxyHolder::DeployToken(id)),
            _ => None,
        }
    }

    /// 401 with the proxy's challenge: its realm is GitLab's `/jwt/auth`, service
    /// `dependency_proxy` (reference 1.9).
    fn dependency_proxy_challenge(&self) -> Response {
        let challenge = format!(
            r#"Bearer realm="{}/jwt/auth",service="dependency_proxy""#,
            self.url
        );
        registry_error(401, "UNAUTHORIZED", "authentication required")
            .with_header("WWW-Authenticate", &challenge)
    }

    /// `GET /v2/` on GitLab's host: the dependency proxy's ping.
    fn dependency_proxy_ping(&self, request: &Request) -> Response {
        match self.dependency_proxy_bearer(request) {
            Some(_) => Response::json(200, "{}"),
            None => self.dependency_proxy_challenge(),
        }
    }

    /// `GET /v2/GROUP/dependency_proxy/containers/IMAGE/manifests/REFERENCE`: the
    /// upstream manifest when the token's holder reads the group, 403 when not, 404
    /// when upstream has no such image or tag (Docker Hub's `MANIFEST_UNKNOWN`).
    fn dependency_proxy_manifest(&self, request: &Request) -> Response {
        let parsed = request.path.strip_prefix("/v2/").and_then(|rest| {
            let (group, rest) = rest.split_once("/dependency_proxy/containers/")?;
            let (image, reference) = rest.rsplit_once("/manifests/")?;
            Some((group.to_string(), image.to_string(), reference.to_string()))
        });
        let Some((group, image, reference)) = parsed else {
            return registry_error(404, "NAME_UNKNOWN", "repository name not known to registry");
        };
        let Some(holder) = self.dependency_proxy_bearer(request) else {
            return self.dependency_proxy_challenge();
        };
        let world = self.world.lock().unwrap();
        if !auth::reads_group(&world, holder, &group) {
            return registry_error(403, "DENIED", "access forbidden");
        }
        let wanted = format!(
            "{}:{reference}",
            image.strip_prefix("library/").unwrap_or(&image)
        );
        if !world.upstream_images.contains(&wanted) {
            return registry_error(404, "MANIFEST_UNKNOWN", "manifest unknown");
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2, "digest": format!("sha256:{}", super::https::sha256_hex(b"{}"))},
            "layers": [],
        })
        .to_string();
        let digest = format!("sha256:{}", super::https::sha256_hex(manifest.as_bytes()));
        Response::text(
            200,
            "application/vnd.docker.distribution.manifest.v2+json",
            manifest,
        )
        .with_header("Docker-Content-Digest", &digest)
    }

    /// Resolves Basic credentials, with the optional IP ban around it
    /// (`find_for_git_client`'s `rate_limit!`: success resets the count,
    /// `gitlab-ci-token` is exempt, a 2FA refusal is raised before counting).
    fn authenticate<'w>(
        &self,
        world: &'w World,
        ip: IpAddr,
        login: &str,
        password: &str,
    ) -> Result<Credential<'w>, Response> {
        let exempt = login == CI_JOB_USER;
        let mut failed_logins = self.failed_logins.lock().unwrap();
        let failures = failed_logins.entry(ip).or_default();
        let limit = world.settings.ip_ban_after_failures;
        if !exempt && limit.is_some_and(|limit| *failures >= limit) {
            let message = "Too many failed authentication attempts from this IP";
            return Err(Response::text(403, TEXT, message));
        }
        let result = auth::find_for_git_client(world, login, password);
        if !exempt {
            match &result {
                Ok(_) => *failures = 0,
                Err(Refusal::TwoFactorRequiresToken) => {}
                Err(_) => *failures += 1,
            }
        }
        result.map_err(|refusal| self.unauthorized(world, &refusal))
    }

    /// The 401 body of §0.2 (or of old versions, when the setting asks for it).
    fn unauthorized(&self, world: &World, refusal: &Refusal) -> Response {
        let url = world.settings.external_url.as_deref().unwrap_or(&self.url);
        let message = match (world.settings.legacy_401_message, refusal) {
            (false, _) => format!(
                "HTTP Basic: Access denied. If a password was provided for Git authentication, the password was incorrect or you're required to use a token instead of a password. If a token was provided, it was either incorrect, expired, or improperly scoped. See {url}/help/user/profile/account/two_factor_authentication_troubleshooting.md#error-http-basic-access-denied-if-a-password-was-provided-for-git-authentication-"
            ),
            (true, Refusal::BadCredentials) => "HTTP Basic: Access denied".to_string(),
            (true, _) => format!(
                "HTTP Basic: Access denied\nYou must use a personal access token with 'api' scope for Git over HTTP.\nYou can generate one at {url}/-/profile/personal_access_tokens"
            ),
        };
        let body = json!({"errors": [{"code": "UNAUTHORIZED", "message": message}]});
        Response::json(401, body.to_string())
    }

    /// Signs the registry token with the claims of §1.7.
    fn issue(&self, world: &World, credential: &Credential, granted: &[Access]) -> String {
        let now = unix_now();
        let lifetime = world.settings.token_lifetime_minutes * 60;
        let access: Vec<Value> = granted
            .iter()
            .map(|a| access_entry(world, credential, a))
            .collect();
        let mut claims = json!({
            "jti": self.signer.uuid(),
            "aud": "container_registry",
            "iss": world.settings.issuer,
            "iat": now,
            "nbf": now - 5,
            "exp": now + lifetime,
            "auth_type": credential.auth_type(),
            "access": access,
            "user": self.user_info_token(credential, now),
        });
        // `sub` is compacted away when there is no user.
        if let Some(user) = credential.user() {
            claims["sub"] = json!(user.username);
        }
        self.signer.sign(&claims)
    }

    /// The nested `user` JWT (recent GitLab), with its default 60 s lifetime.
    fn user_info_token(&self, credential: &Credential, now: u64) -> String {
        let token_type = credential.auth_type();
        let info = match (credential, credential.user()) {
            (_, Some(user)) => {
                json!({"token_type": token_type, "username": user.username, "user_id": user.id})
            }
            (Credential::Deploy(token), None) => {
                json!({"token_type": token_type, "username": token.username, "deploy_token_id": token.id})
            }
            _ => Value::Null,
        };
        self.signer.sign(&json!({
            "user_info": info,
            "jti": self.signer.uuid(),
            "iat": now,
            "nbf": now - 5,
            "exp": now + 60,
        }))
    }

    /// `GET /api/v4/personal_access_tokens/self` (§5).
    fn personal_access_token(&self, request: &Request) -> Response {
        let world = self.world.lock().unwrap();
        let Some(secret) = api_token(request) else {
            return Response::json(401, API_UNAUTHORIZED);
        };
        if let Some(token) = world.access_tokens.iter().find(|t| t.token == secret) {
            // AccessTokenValidationService checks expiry before revocation.
            if token.expired() {
                return invalid_token(
                    "Token is expired. You can either do re-authorization or token refresh.",
                );
            }
            if token.revoked {
                return invalid_token("Token was revoked. You have to re-authorize from the user.");
            }
            let Some(user) = world.user(&token.user).filter(|u| !u.blocked) else {
                return Response::json(401, API_UNAUTHORIZED);
            };
            let scopes: Vec<&str> = token.scopes.iter().map(|s| s.as_str()).collect();
            let mut entity = json!({
                "id": token.id,
                "name": token.name,
                "revoked": token.revoked,
                "created_at": format!("{}T09:00:00.000Z", token.created_at),
                "description": token.description,
                "scopes": scopes,
                "user_id": user.id,
                "last_used_at": null,
                "active": token.active(),
                "expires_at": token.expires_at.map(|d| d.to_string()),
            });
            // Reference 9.1: a fine-grained token has `granular_scopes`, never both.
            if token.fine_grained {
                entity["scopes"] = json!([]);
                entity["granular_scopes"] = json!([{
                    "access": "selected_memberships",
                    "permissions": scopes.iter().map(|s| match *s {
                        "read_registry" => "read_container_image",
                        "write_registry" => "create_container_image",
                        other => other,
                    }).collect::<Vec<_>>(),
                }]);
            }
            return Response::json(200, entity.to_string());
        }
        let job = world.jobs.iter().any(|j| j.token == secret && j.running);
        let deploy = world
            .deploy_tokens
            .iter()
            .any(|t| t.token == secret && t.active());
        if job || deploy {
            return Response::json(400, NOT_A_PAT);
        }
        Response::json(401, API_UNAUTHORIZED)
    }

    /// `GET /api/v4/user` with an access token: its user, when the token may read it
    /// (`api`, `read_api`; reference 9.2 uses it to tell a bot's token from a person's).
    fn current_user(&self, request: &Request) -> Response {
        let world = self.world.lock().unwrap();
        let Some(secret) = api_token(request) else {
            return Response::json(401, API_UNAUTHORIZED);
        };
        let Some(token) = world
            .access_tokens
            .iter()
            .find(|t| t.token == secret && t.active())
        else {
            return Response::json(401, API_UNAUTHORIZED);
        };
        let readable = token
            .scopes
            .iter()
            .any(|s| matches!(s, Scope::Api | Scope::ReadApi));
        if !readable {
            return Response::json(
                403,
                r#"{"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the access token.","scope":"api read_user read_api"}"#,
            );
        }
        match world.user(&token.user) {
            Some(user) => Response::json(
                200,
                json!({"id": user.id, "username": user.username, "bot": user.is_bot(), "state": "active"}).to_string(),
            ),
            None => Response::json(401, API_UNAUTHORIZED),
        }
    }

    /// `GET /api/v4/job` with `JOB-TOKEN`: the job while it runs.
    fn current_job(&self, request: &Request) -> Response {
        let world = self.world.lock().unwrap();
        let job = request
            .header("JOB-TOKEN")
            .and_then(|secret| world.jobs.iter().find(|j| j.token == secret && j.running));
        let Some(job) = job else {
            return Response::json(401, API_UNAUTHORIZED);
        };
        let project = world.project(&job.project);
        let user = job.user.as_deref().and_then(|name| world.user(name));
        let entity = json!({
            "id": job.id,
            "status": "running",
            "stage": "build",
            "name": job.name,
            "ref": "main",
            "tag": false,
            "allow_failure": false,
            "user": user.map(|u| json!({"id": u.id, "username": u.username, "state": "active"})),
            "pipeline": {"id": job.id / 10, "project_id": project.map(|p| p.id), "ref": "main", "status": "running"},
            "web_url": format!("{}/{}/-/jobs/{}", self.url, job.project, job.id),
        });
        Response::json(200, entity.to_string())
    }
}

/// `{"errors":[{"code":..,"message":..}],"http_status":..}`, the service's `error()`.
/// `:id` of `/api/v4/projects/:id/...`: a project's number or its URL-encoded path.
fn project_by_ref<'w>(world: &'w World, id: &str) -> Option<&'w super::world::Project> {
    match id.parse::<u64>() {
        Ok(number) => world.projects.iter().find(|p| p.id == number),
        Err(_) => world.project(&id.replace("%2F", "/").replace("%2f", "/")),
    }
}

/// `/api/v4/projects/:id/packages/generic/:package_name/:package_version/:file_name`
/// split into its four parts.
fn generic_package_path(path: &str) -> Option<[&str; 4]> {
    let rest = path.strip_prefix("/api/v4/projects/")?;
    let (id, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix("packages/generic/")?;
    let mut parts = rest.split('/');
    let parts = [id, parts.next()?, parts.next()?, parts.next()?]
        .into_iter()
        .chain(parts.next())
        .collect::<Vec<_>>();
    <[&str; 4]>::try_from(parts).ok()
}

/// `:id` of `/api/v4/projects/:id/releases`.
fn releases_path(path: &str) -> Option<&str> {
    path.strip_prefix("/api/v4/projects/")?
        .strip_suffix("/releases")
}

/// GitLab's rules for a generic package's name, version and file name
/// (doc/user/packages/generic_packages: letters, digits, `.`, `_`, `-` (and `+`, `~`
/// in file names); a version of the form 1.2.3, optionally with a suffix).
fn valid_generic_package(package: &str, version: &str, file: &str) -> bool {
    let plain = |text: &str, extra: &str| {
        !text.is_empty()
            && !text.starts_with('.')
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c) || extra.contains(c))
    };
    let numbers: Vec<&str> = version
        .split(['-', '+'])
        .next()
        .unwrap_or("")
        .split('.')
        .collect();
    plain(package, "")
        && plain(file, "+~")
        && plain(version, "+")
        && numbers.len() == 3
        && numbers
            .iter()
            .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

fn registry_error(status: u16, code: &str, message: &str) -> Response {
    let body = json!({"errors": [{"code": code, "message": message}], "http_status": status});
    Response::json(status, body.to_string())
}

/// rack-oauth2's invalid_token answer.
fn invalid_token(description: &str) -> Response {
    let challenge = format!(
        r#"Bearer realm="Protected by OAuth 2.0", error="invalid_token", error_description="{description}""#
    );
    let body = json!({"error": "invalid_token", "error_description": description});
    Response::json(401, body.to_string()).with_header("WWW-Authenticate", &challenge)
}

/// Basic credentials as Rails' `authenticate_with_http_basic` sees them: only
/// the Basic scheme, and only when the decoded value holds a `:`.
fn basic_credentials(request: &Request) -> Option<(String, String)> {
    let value = request.header("Authorization")?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    decode_basic(encoded)
}

fn decode_basic(encoded: &str) -> Option<(String, String)> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The API token from `PRIVATE-TOKEN`, `Authorization: Bearer` or `JOB-TOKEN`.
fn api_token(request: &Request) -> Option<&str> {
    let bearer = || {
        let value = request.header("Authorization")?;
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then_some(token.trim())
    };
    request
        .header("PRIVATE-TOKEN")
        .or_else(bearer)
        .or_else(|| request.header("JOB-TOKEN"))
}

/// An `access` entry with its `meta` (reference 1.7), and the project's tag rules for
/// this actor (reference 9.3): `tag_deny_access_patterns` whenever the project has
/// protected-tag rules (the rules whose minimum role the actor lacks; none for admins;
/// every rule for a deploy token, which has no role), `tag_immutable_patterns` when
/// push or delete was granted and the project has immutable rules.
fn access_entry(world: &World, credential: &Credential, access: &Access) -> Value {
    let mut entry = json!({"type": access.kind, "name": access.name, "actions": access.actions});
    if let Some((id, root_namespace_id, path)) = &access.project {
        let mut meta =
            json!({"project_path": path, "project_id": id, "root_namespace_id": root_namespace_id});
        if let Some(project) = world.project(path) {
            let user = credential.user();
            let level = user.and_then(|u| u.role_in(&project.path));
            let admin = user.is_some_and(|u| u.admin);
            if !project.tag_protection.is_empty() {
                let denied: Vec<&str> = project
                    .tag_protection
                    .iter()
                    .filter(|rule| !admin && level.is_none_or(|l| l < rule.min_push_level))
                    .map(|rule| rule.pattern.as_str())
                    .collect();
                let granted = |action: &str| access.actions.iter().any(|a| a == action || a == "*");
                let mut patterns = json!({});
                for action in ["push", "delete"] {
                    if granted(action) {
                        patterns[action] = json!(denied);
                    }
                }
                meta["tag_deny_access_patterns"] = patterns;
            }
            let writes = access
                .actions
                .iter()
                .any(|a| a == "push" || a == "delete" || a == "*");
            if writes && !project.immutable_tags.is_empty() {
                meta["tag_immutable_patterns"] = json!(project.immutable_tags);
            }
        }
        entry["meta"] = meta;
    }
    entry
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
