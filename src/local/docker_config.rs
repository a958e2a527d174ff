//! An earlier `docker login` to the target registry, from the docker config: a last
//! resort, used only when nothing else can.

use crate::access::Kind;
use crate::auth_file;
use crate::credentials::{Binding, Candidate, Context, Origin, kind_of_secret};
use crate::names::Registry;
use crate::secret::Secret;
use crate::vars::Vars;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::zeroize::Zeroizing;
use std::path::{Path, PathBuf};

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`: where docker keeps logins.
fn docker_config_file(vars: &Vars) -> Option<PathBuf> {
    match vars.setting("DOCKER_CONFIG").ok().flatten() {
        Some(dir) => Some(Path::new(dir).join("config.json")),
        None => Some(Path::new(vars.setting("HOME").ok().flatten()?).join(".docker/config.json")),
    }
}

/// An earlier `docker login` to the target registry, from the docker config's `auths`.
/// Its kind comes from the secret's prefix; it ranks after every other credential.
pub(super) fn docker_config(cx: &Context) -> Option<Candidate> {
    stored_login(cx.vars, &cx.target.registry)
}

/// An earlier `docker login` to `registry` (Docker Hub's key is
/// `https://index.docker.io/v1/`), bound to that registry only.
pub fn stored_login(vars: &Vars, registry: &Registry) -> Option<Candidate> {
    let path = docker_config_file(vars)?;
    // A refused file (a FIFO, a device, a link into /proc) is reported by the plan.
    let json = auth_file::read(&path).ok()?;
    let auths = json.get("auths")?.as_object()?;
    let entry = auths
        .iter()
        .find_map(|(key, entry)| crate::credentials::key_names(key, registry).then_some(entry))?;
    let (username, secret) = login_of(entry)?;
    let kind = kind_of_secret(&secret);
    let mut notes = vec![format!(
        "an earlier docker login, in {}; used only when nothing else can",
        path.display()
    )];
    if kind == Kind::JobToken {
        notes.push(
            "a job token left by an earlier job's docker login stopped working when that job ended"
                .into(),
        );
    }
    Some(Candidate {
        kind,
        origin: Origin::DockerConfig,
        username,
        secret,
        binding: Binding::to(vec![registry.clone()], "the registry it is stored for"),
        scopes: None,
        problem: None,
        notes,
    })
}

/// The user and secret of an `auths` entry: `auth` (base64 of `user:secret`), or the
/// older `username` and `password` fields. Identity tokens are not logins.
fn login_of(entry: &serde_json::Value) -> Option<(String, Secret)> {
    if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) {
        let decoded = Zeroizing::new(STANDARD.decode(auth.trim()).ok()?);
        let text = std::str::from_utf8(&decoded).ok()?;
        let (user, secret) = text.split_once(':')?;
        return (!user.is_empty() && !secret.is_empty())
            .then(|| (user.to_string(), Secret::new(secret)));
    }
    let user = entry.get("username")?.as_str()?;
    let secret = entry.get("password")?.as_str()?;
    (!user.is_empty() && !secret.is_empty()).then(|| (user.to_string(), Secret::new(secret)))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{discover, write};
    use super::*;

    #[test]
    fn docker_config_login_is_a_last_resort_candidate() {
        let dir = tempfile::tempdir().unwrap();
        let auth = STANDARD.encode("gitlab-ci-token:glcbt-dead");
        write(
            &dir.path().join("config.json"),
            &format!(
                r#"{{"auths":{{"https://registry.example.com":{{"auth":"{auth}"}},"other.example.com":{{"username":"bob","password":"pw"}},"ident.example.com":{{"identitytoken":"x"}}}}}}"#
            ),
        );
        let docker_config = dir.path().display().to_string();
        let vars = Vars::from_pairs([("DOCKER_CONFIG", docker_config.as_str())]);
        let c = discover(&vars, "registry.example.com").remove(0);
        assert_eq!((c.kind, &c.origin), (Kind::JobToken, &Origin::DockerConfig));
        assert_eq!(c.username, "gitlab-ci-token");
        assert!(c.notes.iter().any(|n| n.contains("stopped working")));
        let c = discover(&vars, "other.example.com").remove(0);
        assert_eq!((c.kind, c.username.as_str()), (Kind::Unknown, "bob"));
        assert!(discover(&vars, "ident.example.com").is_empty());
        assert!(discover(&vars, "none.example.com").is_empty());
    }
}
