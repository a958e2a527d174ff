//! Credentials for registries that are not the job's (issue 14): Docker Hub, GHCR,
//! Harbor, Quay, another registry a Dockerfile pulls from. In order: the user's
//! `--credential HOST=USER_VAR:SECRET_VAR`, GitLab's Harbor integration variables for
//! the Harbor host, the job's `DOCKER_AUTH_CONFIG` entry for the host; the caller then
//! tries the docker config, else goes anonymous. Each is bound to its one host.

use super::{Binding, Candidate, Context, Origin, Serves, Source, kind_of_secret};
use crate::names::Registry;
use crate::secret::Secret;
use crate::vars::{VarError, Vars, is_variable_name};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::zeroize::Zeroizing;

/// GitLab's Harbor integration: its credential serves the Harbor host (as a target of
/// its own too: `--registry $HARBOR_HOST`).
pub const HARBOR: Source = Source {
    name: "harbor",
    serves: Serves::Registry,
    secret_variables: &["HARBOR_PASSWORD"],
    job_secrets: false,
    find: |cx: &Context| Ok(harbor(cx.vars, &cx.target.registry)?.into_iter().collect()),
};

/// `--credential HOST=USER_VAR:SECRET_VAR`: variable names, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCredential {
    pub registry: Registry,
    pub user_var: String,
    pub secret_var: String,
}

impl HostCredential {
    pub fn parse(flag: &str) -> Result<HostCredential, String> {
        let shape = "takes HOST=USER_VAR:SECRET_VAR, the names of the variables that hold the user and the secret";
        let Some((host, vars)) = flag.split_once('=') else {
            return Err(format!("--credential {shape}"));
        };
        let registry = Registry::parse(host).map_err(|e| {
            format!(
                "--credential: the host '{}' {e}",
                crate::text::sanitize(host, 80)
            )
        })?;
        let (user_var, secret_var) = vars
            .split_once(':')
            .filter(|(u, s)| is_variable_name(u) && is_variable_name(s))
            // Never echoed: what stands there may be the secret itself.
            .ok_or_else(|| format!("--credential for {registry} {shape} (letters, digits, '_'); what follows '=' is not two variable names, so it is not shown"))?;
        Ok(HostCredential {
            registry,
            user_var: user_var.to_string(),
            secret_var: secret_var.to_string(),
        })
    }
}

/// The credential the job's variables offer for `registry`, by the order above.
pub fn for_other_registry(
    vars: &Vars,
    registry: &Registry,
    flags: &[HostCredential],
) -> Result<Option<Candidate>, VarError> {
    if let Some(flag) = flags.iter().find(|f| f.registry.same_as(registry)) {
        let user = vars.setting(&flag.user_var)?.unwrap_or_default();
        let secret = vars.setting(&flag.secret_var)?;
        let problem = match (user.is_empty(), secret.is_none()) {
            (_, true) => Some(format!(
                "{} is unset or empty (a protected variable on an unprotected branch?)",
                flag.secret_var
            )),
            (true, false) => Some(format!("{} is unset or empty", flag.user_var)),
            _ => None,
        };
        let mut c = bound(
            registry,
            user,
            Secret::new(secret.unwrap_or_default()),
            Origin::Variable(flag.secret_var.clone()),
            "--credential",
        );
        c.problem = problem;
        return Ok(Some(c));
    }
    if let Some(c) = harbor(vars, registry)? {
        return Ok(Some(c));
    }
    Ok(docker_auth_config(vars, registry))
}

/// `HARBOR_HOST` (else `HARBOR_URL`'s host) with `HARBOR_USERNAME`/`HARBOR_PASSWORD`.
/// The host is read leniently: the integration's variables are in every job of a
/// project that has it, and a broken one must not stop a job that pulls nothing there.
fn harbor(vars: &Vars, registry: &Registry) -> Result<Option<Candidate>, VarError> {
    let lenient = |name| vars.setting(name).ok().flatten();
    let host = match lenient("HARBOR_HOST") {
        Some(h) => Registry::parse(h).ok(),
        None => lenient("HARBOR_URL").and_then(|u| Registry::parse(u).ok()),
    };
    if !host.is_some_and(|h| h.same_as(registry)) {
        return Ok(None);
    }
    let (Some(user), Some(secret)) = (
        vars.setting("HARBOR_USERNAME")?,
        vars.setting("HARBOR_PASSWORD")?,
    ) else {
        return Ok(None);
    };
    let mut c = bound(
        registry,
        user,
        Secret::new(secret),
        Origin::Variable("HARBOR_USERNAME".into()),
        "the Harbor integration's host",
    );
    if let Some(project) = lenient("HARBOR_PROJECT") {
        c.notes.push(format!(
            "GitLab's Harbor integration, project {}",
            crate::text::sanitize(project, 80)
        ));
    }
    Ok(Some(c))
}

/// The job's `DOCKER_AUTH_CONFIG` entry for `registry` (Docker Hub's key is
/// `https://index.docker.io/v1/`).
fn docker_auth_config(vars: &Vars, registry: &Registry) -> Option<Candidate> {
    let raw = Zeroizing::new(
        vars.setting("DOCKER_AUTH_CONFIG")
            .ok()
            .flatten()?
            .to_string(),
    );
    let json: serde_json::Value = serde_json::from_str(&raw).ok()?;
    let entry = json
        .get("auths")?
        .as_object()?
        .iter()
        .find_map(|(key, entry)| key_names(key, registry).then_some(entry))?;
    let auth = entry.get("auth")?.as_str()?;
    let decoded = Zeroizing::new(STANDARD.decode(auth.trim()).ok()?);
    let (user, secret) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    if user.is_empty() || secret.is_empty() {
        return None;
    }
    Some(bound(
        registry,
        user,
        Secret::new(secret),
        Origin::Variable("DOCKER_AUTH_CONFIG".into()),
        "the registry its DOCKER_AUTH_CONFIG entry is for",
    ))
}

/// Whether a docker config key (`host`, `https://host/v1/`) names `registry`.
pub fn key_names(key: &str, registry: &Registry) -> bool {
    let host = key.split_once("://").map_or(key, |(_, rest)| rest);
    let host = host.split('/').next().unwrap_or_default();
    let Ok(named) = Registry::parse(host) else {
        return false;
    };
    let hub = |r: &Registry| {
        r.port().is_none()
            && matches!(
                r.host(),
                "docker.io" | "index.docker.io" | "registry-1.docker.io"
            )
    };
    named.same_as(registry) || (hub(&named) && hub(registry))
}

fn bound(registry: &Registry, user: &str, secret: Secret, origin: Origin, why: &str) -> Candidate {
    Candidate {
        kind: kind_of_secret(&secret),
        origin,
        username: user.to_string(),
        secret,
        binding: Binding::to(vec![registry.clone()], why),
        scopes: None,
        problem: None,
        notes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(s: &str) -> Registry {
        Registry::parse(s).unwrap()
    }

    #[test]
    fn the_order_is_flag_harbor_docker_auth_config() {
        let auth = STANDARD.encode("hubuser:hubsecret");
        let config =
            format!(r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}}}}}}"#);
        let vars = Vars::from_pairs([
            ("HARBOR_HOST", "harbor.example.com"),
            ("HARBOR_USERNAME", "robot$ci"),
            ("HARBOR_PASSWORD", "harbor-secret"),
            ("HARBOR_PROJECT", "team"),
            ("DOCKER_AUTH_CONFIG", config.as_str()),
            ("QUAY_USER", "q"),
            ("QUAY_TOKEN", "quay-secret"),
        ]);
        let flags = [HostCredential::parse("quay.io=QUAY_USER:QUAY_TOKEN").unwrap()];
        let found = |r: &str| for_other_registry(&vars, &reg(r), &flags).unwrap();
        let quay = found("quay.io").unwrap();
        assert_eq!(
            (quay.username.as_str(), quay.origin.as_str()),
            ("q", "QUAY_TOKEN")
        );
        assert!(quay.binding.admits(&reg("quay.io")) && !quay.binding.admits(&reg("ghcr.io")));
        let harbor = found("harbor.example.com").unwrap();
        assert_eq!(harbor.origin.as_str(), "HARBOR_USERNAME");
        assert_eq!(harbor.secret.expose(), "harbor-secret");
        let hub = found("docker.io").unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.origin.as_str()),
            ("hubuser", "DOCKER_AUTH_CONFIG")
        );
        assert!(found("ghcr.io").is_none());
    }

    #[test]
    fn an_unset_secret_is_a_problem_not_a_fallback() {
        let vars = Vars::from_pairs([("U", "me")]);
        let flags = [HostCredential::parse("ghcr.io=U:S").unwrap()];
        let c = for_other_registry(&vars, &reg("ghcr.io"), &flags)
            .unwrap()
            .unwrap();
        assert!(c.problem.unwrap().starts_with("S is unset"));
    }

    #[test]
    fn the_flag_takes_names_never_values() {
        assert!(HostCredential::parse("ghcr.io").is_err());
        let e = HostCredential::parse("ghcr.io=me:ghp_s3cr3t-value").unwrap_err();
        assert!(!e.contains("s3cr3t"), "{e}");
        assert!(HostCredential::parse("https://x/y=A:B").is_err());
    }
}
