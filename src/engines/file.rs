//! `auth-file`: writes the credential into a docker-style `config.json` itself, for
//! builders without a docker CLI (kaniko, BuildKit, buildah with `--authfile`).

use super::{Engine, EngineError, LoginRequest, Stored};
use crate::auth_file::{self, keys_for};
use crate::names::Registry;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::path::PathBuf;

pub struct AuthFileEngine {
    path: PathBuf,
}

impl AuthFileEngine {
    pub fn new(path: PathBuf) -> Self {
        AuthFileEngine { path }
    }
}

impl Engine for AuthFileEngine {
    fn name(&self) -> &'static str {
        "auth-file"
    }

    fn login(&self, request: &LoginRequest) -> Result<Stored, EngineError> {
        let key = request.registry.host_port();
        // Built once and handed to the JSON value; the String is dropped right after.
        let auth = STANDARD.encode(format!("{}:{}", request.username, request.secret.expose()));
        auth_file::update(&self.path, |json| {
            let auths = auth_file::auths(json);
            // Stale URL-form keys would shadow the new entry in some tools.
            for stale in &keys_for(&key)[1..] {
                auths.remove(stale);
            }
            auths.insert(key.clone(), serde_json::json!({ "auth": auth }));
            (true, ())
        })?;
        Ok(Stored {
            engine: self.name(),
            location: self.path.display().to_string(),
        })
    }

    fn logout(&self, registry: &Registry) -> Result<bool, EngineError> {
        if !self.path.exists() {
            return Ok(false);
        }
        let keys = keys_for(&registry.host_port());
        Ok(auth_file::update(&self.path, |json| {
            let Some(auths) = json.get_mut("auths").and_then(|a| a.as_object_mut()) else {
                return (false, false);
            };
            let removed = keys
                .iter()
                .filter(|k| auths.remove(k.as_str()).is_some())
                .count()
                > 0;
            (removed, removed)
        })?)
    }
}
