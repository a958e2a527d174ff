//! The GitLab CLI's token (`glab auth login`) for the GitLab serving the target registry.

use crate::access::{ACCESS_TOKEN_USER, Kind};
use crate::credentials::{Binding, Candidate, Context, Origin};
use crate::names::Registry;
use crate::secret::Secret;
use crate::vars::Vars;
use crate::yaml::{self, GlabHost};
use secrecy::zeroize::Zeroizing;
use std::path::{Path, PathBuf};

/// `$GLAB_CONFIG_DIR/config.yml`, else `~/.config/glab-cli/config.yml`, else
/// `$XDG_CONFIG_HOME/glab-cli/config.yml`: where glab looks, in its order.
fn glab_config_file(vars: &Vars) -> Option<PathBuf> {
    if let Some(dir) = vars.setting("GLAB_CONFIG_DIR").ok().flatten() {
        return Some(Path::new(dir).join("config.yml"));
    }
    let home = vars.setting("HOME").ok().flatten().map(Path::new);
    let legacy = home.map(|h| h.join(".config/glab-cli/config.yml"));
    let xdg = vars
        .setting("XDG_CONFIG_HOME")
        .ok()
        .flatten()
        .map(|d| Path::new(d).join("glab-cli/config.yml"));
    [legacy, xdg].into_iter().flatten().find(|p| p.is_file())
}

/// The GitLab CLI's token for the GitLab that serves the target registry.
pub(super) fn glab(cx: &Context) -> Option<Candidate> {
    let path = glab_config_file(cx.vars)?;
    let candidate = |username: String, secret: Secret, problem: Option<String>| Candidate {
        kind: Kind::AccessToken,
        origin: Origin::Glab,
        username,
        secret,
        binding: Binding::to(
            vec![cx.target.registry.clone()],
            "glab's login for the GitLab serving it",
        ),
        scopes: None,
        problem,
        notes: Vec::new(),
    };
    let text = match std::fs::read(&path) {
        Ok(bytes) => Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            let problem = format!("cannot read {}: {e}", path.display());
            return Some(candidate(String::new(), Secret::new(""), Some(problem)));
        }
    };
    let hosts = match yaml::glab_hosts(&text) {
        Ok(hosts) => hosts,
        Err(e) => {
            let problem = format!("{} is not a glab config: {e}", path.display());
            return Some(candidate(String::new(), Secret::new(""), Some(problem)));
        }
    };
    let host = gitlab_host_for(cx, &hosts)?;
    let where_from = format!("host {} in {}", host.name, path.display());
    let Some(token) = host.token.clone() else {
        let problem =
            format!("glab has no token for {where_from} (kept in a keyring, which is not read?)");
        return Some(candidate(String::new(), Secret::new(""), Some(problem)));
    };
    // GitLab takes an OAuth2 access token only with the user name `oauth2`.
    let username = if host.is_oauth2 {
        "oauth2".to_string()
    } else {
        host.user
            .clone()
            .unwrap_or_else(|| ACCESS_TOKEN_USER.into())
    };
    let mut c = candidate(username, token, None);
    c.notes
        .push(format!("the GitLab CLI's token, from {where_from}"));
    if host.is_oauth2 {
        c.notes
            .push("an OAuth2 token lives about two hours; any glab command refreshes it".into());
    }
    Some(c)
}

/// The glab host serving `cx.target`: one whose `container_registry_domains` names it
/// (what glab's own docker helper uses), else the GitLab of this run (`CI_SERVER_FQDN`
/// or `CI_SERVER_HOST`, when the target is `CI_REGISTRY`), else the host the registry
/// is named after (`gitlab.example.com:5050`, `registry.gitlab.example.com`).
fn gitlab_host_for<'a>(cx: &Context, hosts: &'a [GlabHost]) -> Option<&'a GlabHost> {
    let target = &cx.target.registry;
    let by_domain = hosts.iter().find(|h| {
        h.container_registry_domains
            .iter()
            .any(|d| Registry::parse(d).is_ok_and(|d| d.same_as(target)))
    });
    let by_server = || {
        hosts
            .iter()
            .find(|h| cx.job.is_own_registry(target) && cx.job.servers.contains(&h.name))
    };
    let by_name = || {
        hosts.iter().find(|h| {
            let host = h.name.split(':').next().unwrap_or_default();
            target.host() == host || target.host() == format!("registry.{host}")
        })
    };
    by_domain.or_else(by_server).or_else(by_name)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{discover, write};
    use super::*;
    use crate::access::ACCESS_TOKEN_USER;

    #[test]
    fn glab_token_for_the_registry_domain() {
        let dir = tempfile::tempdir().unwrap();
        let glab_dir = dir.path().join("glab");
        write(
            &glab_dir.join("config.yml"),
            "hosts:\n  gitlab.example.com:\n    token: glpat-laptop\n    user: alice\n    container_registry_domains: gitlab.example.com,registry.example.com:5050\n  other.example.com:\n    token: glpat-other\n",
        );
        let glab_dir = glab_dir.display().to_string();
        let vars = Vars::from_pairs([("GLAB_CONFIG_DIR", glab_dir.as_str())]);
        let found = discover(&vars, "registry.example.com:5050");
        assert_eq!(found.len(), 1);
        let c = &found[0];
        assert_eq!((c.kind, &c.origin), (Kind::AccessToken, &Origin::Glab));
        assert_eq!(
            (c.username.as_str(), c.secret.expose()),
            ("alice", "glpat-laptop")
        );
        assert!(c.problem.is_none());
        // Named after the host: registry.other.example.com belongs to other.example.com.
        let found = discover(&vars, "registry.other.example.com");
        assert_eq!(found[0].secret.expose(), "glpat-other");
        assert_eq!(found[0].username, ACCESS_TOKEN_USER);
        assert!(discover(&vars, "docker.io").is_empty());
    }

    #[test]
    fn glab_host_of_this_run_serves_ci_registry() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join(".config/glab-cli/config.yml"),
            "hosts:\n  127.0.0.1:8929:\n    token: gloas-oauth\n    is_oauth2: \"true\"\n",
        );
        let home = dir.path().display().to_string();
        let vars = Vars::from_pairs([
            ("HOME", home.as_str()),
            ("CI_REGISTRY", "127.0.0.1:5000"),
            ("CI_SERVER_FQDN", "127.0.0.1:8929"),
        ]);
        let found = discover(&vars, "127.0.0.1:5000");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].username, "oauth2");
        assert!(found[0].notes.iter().any(|n| n.contains("OAuth2")));
        // A registry on another host is not this GitLab's.
        assert!(discover(&vars, "127.0.0.2:5000").is_empty());
    }

    #[test]
    fn broken_or_tokenless_glab_config_is_a_named_problem() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.yml");
        let glab_dir = dir.path().display().to_string();
        let vars = Vars::from_pairs([("GLAB_CONFIG_DIR", glab_dir.as_str())]);
        write(&config, "hosts: [\n");
        let problem = discover(&vars, "gitlab.example.com")
            .remove(0)
            .problem
            .unwrap();
        assert!(problem.contains("config.yml"), "{problem}");
        write(&config, "hosts:\n  gitlab.example.com:\n    user: alice\n");
        let problem = discover(&vars, "gitlab.example.com")
            .remove(0)
            .problem
            .unwrap();
        assert!(problem.contains("no token"), "{problem}");
    }
}
