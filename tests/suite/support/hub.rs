//! A registry that is not GitLab's (issue 14): a real `docker-registry` trusting a
//! small token service with Docker Hub's semantics, which also stands in for Harbor or
//! any other registry speaking the distribution token handshake:
//! - `GET /token?service=registry.docker.io&scope=...` (several `scope=` accepted);
//! - anonymous requests get a token, with `pull` on public repositories only and no
//!   action elsewhere (never a 401 or 403: that is how Docker Hub answers);
//! - a known user gets `pull` on the repositories under its pull prefixes and
//!   `pull,push` under its push prefixes; a wrong password gets 401
//!   `{"details":"incorrect username or password"}`;
//! - the body carries `token` and `access_token`, `expires_in` and `issued_at`.
//!
//! Every request is logged (path, scopes, the Basic user), never a secret.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Value, json};

use super::http::{Request, Response, Server};
use super::jwt::Signer;
use super::registry::{Auth, Registry};

pub const HUB_SERVICE: &str = "registry.docker.io";
pub const HUB_ISSUER: &str = "auth.docker.io";

/// A user of the stand-in registry.
#[derive(Clone, Debug)]
pub struct HubUser {
    pub name: String,
    pub password: String,
    /// Repository path prefixes it may pull from (`team/`), beyond public ones.
    pub pull: Vec<String>,
    /// Prefixes it may push to (and pull from).
    pub push: Vec<String>,
}

/// One token request as the service saw it.
#[derive(Clone, Debug)]
pub struct HubRequest {
    pub scopes: Vec<String>,
    /// The Basic user, when one was sent.
    pub user: Option<String>,
    pub status: u16,
}

struct State {
    public: Vec<String>,
    users: Vec<HubUser>,
    log: Mutex<Vec<HubRequest>>,
    signer: Signer,
}

/// The token service and its registry; dropping it stops both.
pub struct Hub {
    // Dropped first: the registry never outlives its token service.
    registry: Registry,
    state: Arc<State>,
    _server: Server,
}

impl Hub {
    /// `public`: repositories anyone may pull (`library/alpine`).
    pub fn start(public: &[&str], users: Vec<HubUser>) -> Hub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let state = Arc::new(State {
            public: public.iter().map(|s| s.to_string()).collect(),
            users,
            log: Mutex::new(Vec::new()),
            signer: Signer::from_fixture(),
        });
        let handler_state = Arc::clone(&state);
        let server = Server::start(
            listener,
            Arc::new(move |r: &Request| handler_state.handle(r)),
        );
        let registry = Registry::start_for(
            &realm,
            &Auth {
                service: HUB_SERVICE,
                issuer: HUB_ISSUER,
            },
        );
        Hub {
            registry,
            state,
            _server: server,
        }
    }

    /// `127.0.0.1:PORT`, the registry's address in image references.
    pub fn host_port(&self) -> String {
        self.registry.host_port()
    }

    pub fn requests(&self) -> Vec<HubRequest> {
        self.state.log.lock().unwrap().clone()
    }
}

impl State {
    fn handle(&self, request: &Request) -> super::http::Reply {
        let scopes: Vec<String> = request
            .params("scope")
            .iter()
            .flat_map(|v| v.split_whitespace())
            .map(str::to_string)
            .collect();
        let user = basic(request);
        let (status, response) = self.answer(request, &scopes, user.as_ref());
        self.log.lock().unwrap().push(HubRequest {
            scopes,
            user: user.map(|(u, _)| u),
            status,
        });
        super::http::Reply::Now(response)
    }

    fn answer(
        &self,
        request: &Request,
        scopes: &[String],
        login: Option<&(String, String)>,
    ) -> (u16, Response) {
        if request.method != "GET" || request.path != "/token" {
            return (404, Response::empty(404));
        }
        if request.param("service") != Some(HUB_SERVICE) {
            let body = json!({"details": "invalid service"});
            return (400, Response::json(400, body.to_string()));
        }
        let user = match login {
            None => None,
            Some((name, password)) => {
                match self
                    .users
                    .iter()
                    .find(|u| &u.name == name && &u.password == password)
                {
                    Some(u) => Some(u),
                    None => {
                        let body = json!({"details": "incorrect username or password"});
                        return (401, Response::json(401, body.to_string()));
                    }
                }
            }
        };
        let access: Vec<Value> = scopes
            .iter()
            .filter_map(|scope| {
                let mut parts = scope.splitn(3, ':');
                let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                if kind != "repository" {
                    return None;
                }
                let under =
                    |prefixes: &[String]| prefixes.iter().any(|p| name.starts_with(p.as_str()));
                let may_push = user.is_some_and(|u| under(&u.push));
                let may_pull = may_push
                    || self.public.iter().any(|p| p == name)
                    || user.is_some_and(|u| under(&u.pull));
                let granted: Vec<&str> = actions
                    .split(',')
                    .filter(|a| match *a {
                        "pull" => may_pull,
                        "push" => may_push,
                        _ => false,
                    })
                    .collect();
                Some(json!({"type": "repository", "name": name, "actions": granted}))
            })
            .collect();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut claims = json!({
            "iss": HUB_ISSUER,
            "aud": HUB_SERVICE,
            "jti": self.signer.uuid(),
            "iat": now,
            "nbf": now - 5,
            "exp": now + 300,
            "access": access,
        });
        if let Some(u) = user {
            claims["sub"] = json!(u.name);
        }
        let token = self.signer.sign(&claims);
        let body = json!({
            "token": token,
            "access_token": token,
            "expires_in": 300,
            "issued_at": "2026-01-01T00:00:00Z",
        });
        (200, Response::json(200, body.to_string()))
    }
}

fn basic(request: &Request) -> Option<(String, String)> {
    let value = request.header("Authorization")?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let (user, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}
