//! `auth-file`: writes the credential into a docker-style `config.json` itself, for
//! builders without a docker CLI (kaniko, BuildKit, buildah with `--authfile`), or into
//! containers' `auth.json` (`--auth-format containers`), whose keys may also name a
//! repository.

use super::{Engine, EngineError, LoginRequest, Stored};
use crate::auth_file::{self, Folder};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::zeroize::Zeroizing;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

pub struct AuthFileEngine {
    path: PathBuf,
    folder: Folder,
    /// The file is containers' auth.json: a key may name a repository.
    containers: bool,
}

impl AuthFileEngine {
    pub fn new(path: PathBuf, folder: Folder, containers: bool) -> Self {
        AuthFileEngine {
            path,
            folder,
            containers,
        }
    }
}

impl Engine for AuthFileEngine {
    fn name(&self) -> &'static str {
        "auth-file"
    }

    fn login(&self, request: &LoginRequest) -> Result<Stored, EngineError> {
        // Both buffers hold the secret: wiped when dropped, right after the write.
        let pair = Zeroizing::new(format!("{}:{}", request.username, request.secret.expose()));
        let auth = Zeroizing::new(STANDARD.encode(pair.as_bytes()));
        let warnings = auth_file::update_in(self.folder, &self.path, |json| {
            for key in request.keys {
                auth_file::merge_login(json, key, &auth);
            }
            (true, shadowed(json, request.keys, &self.path))
        })?;
        Ok(Stored {
            engine: self.name(),
            location: self.path.display().to_string(),
            warnings,
        })
    }

    fn repository_keys(&self) -> bool {
        self.containers
    }

    fn logout(&self, keys: &[String]) -> Result<bool, EngineError> {
        if !self.path.exists() {
            return Ok(false);
        }
        Ok(auth_file::update_in(self.folder, &self.path, |json| {
            let mut removed = false;
            for key in keys {
                removed |= auth_file::remove_login(json, key);
            }
            (removed, removed)
        })?)
    }
}

/// Entries docker will not read: for a registry listed in `credHelpers`, or for every
/// registry when `credsStore` is set, docker asks that helper and ignores `auths`.
fn shadowed(json: &Map<String, Value>, keys: &[String], path: &Path) -> Vec<String> {
    let helpers = json.get("credHelpers").and_then(Value::as_object);
    let store = json
        .get("credsStore")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    keys.iter()
        .filter_map(|key| {
            let (what, helper) = match helpers.and_then(|h| h.get(key)).and_then(Value::as_str) {
                Some(helper) => ("credHelpers maps it to", helper),
                None => ("credsStore is", store?),
            };
            Some(format!(
                "{} has an entry for {key}, but {what} '{helper}': docker asks docker-credential-{helper} for {key} and ignores that entry; use --engine docker to store through the helper, or --isolate for a config of the job's own",
                path.display()
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn warns_when_docker_would_ask_a_helper_instead() {
        let keys = ["r.example.com".to_string(), "other:5000".to_string()];
        let path = Path::new("/x/config.json");
        assert!(shadowed(&object(json!({"auths": {}})), &keys, path).is_empty());
        let store = shadowed(&object(json!({"credsStore": "desktop"})), &keys, path);
        assert_eq!(store.len(), 2);
        assert!(store[0].contains("credsStore is 'desktop'"), "{}", store[0]);
        let helper = shadowed(
            &object(json!({"credsStore": "desktop", "credHelpers": {"other:5000": "gcloud"}})),
            &keys,
            path,
        );
        assert!(
            helper[1].contains("credHelpers maps it to 'gcloud'"),
            "{helper:?}"
        );
        assert!(helper[1].contains("docker-credential-gcloud"), "{helper:?}");
    }
}
