//! Local runs (gitlab-ci-local, a developer's machine). There is no job token there, so
//! credentials come from where a developer keeps them: gitlab-ci-local's own variables
//! file in `$HOME`, the GitLab CLI's config (`glab auth login`), and, as a last resort,
//! an earlier `docker login`.

use crate::access::Kind;
use crate::auth_file;
use crate::candidates::{
    ACCESS_TOKEN_USER, Binding, Candidate, Context, DOCKER_CONFIG_SOURCE, Mode, kind_of_secret,
};
use crate::error::Failure;
use crate::git_remote::{self, Remote};
use crate::names::Registry;
use crate::secret::Secret;
use crate::vars::{Origin, Vars};
use crate::yaml::{self, FileVariable, GlabHost};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::zeroize::Zeroizing;
use std::path::{Path, PathBuf};

/// The source of the GitLab CLI's token.
pub const GLAB_SOURCE: &str = "glab";

/// In local modes, adds the variables gitlab-ci-local would give a job from
/// `$HOME/.gitlab-ci-local/variables.yml`: `global`, then the `group` and `project`
/// entries whose keys the working directory's git remote contains. They rank below
/// `--variables-file` and the environment. A file that cannot be read is reported in
/// the notes and ignored, as it would not stop a login that needs none of it.
pub fn with_home_variables(mut vars: Vars, mode: Mode) -> Vars {
    if !mode.is_local() {
        return vars;
    }
    let Some(home) = vars.setting("HOME").ok().flatten().map(PathBuf::from) else {
        return vars;
    };
    let cwd = std::env::current_dir().unwrap_or_default();
    let path = home.join(".gitlab-ci-local/variables.yml");
    match home_variables(&path, git_remote::of_directory(&cwd).as_ref()) {
        Ok(entries) => vars.add_fallback(entries, &Origin::File(path)),
        Err(problem) => vars.notes.push(problem),
    }
    vars
}

/// The entries of gitlab-ci-local's home variables file that apply to `remote`, lowest
/// precedence first. A missing file has none.
fn home_variables(
    path: &Path,
    remote: Option<&Remote>,
) -> Result<Vec<(String, FileVariable)>, String> {
    let text = match std::fs::read(path) {
        Ok(bytes) => Zeroizing::new(
            String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8", path.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}; it is ignored", path.display())),
    };
    let file = yaml::home_variables(&text)
        .map_err(|e| format!("{}: {e}; it is ignored", path.display()))?;
    let mut out = file.global;
    if let Some(remote) = remote {
        // gitlab-ci-local reads `host:group` keys as `host/group`.
        let applies = |key: &str, url: &str| url.contains(&key.replacen(':', "/", 1));
        let (group_url, project_url) = (remote.group_url(), remote.project_url());
        for (key, entries) in file.group {
            if applies(&key, &group_url) {
                out.extend(entries);
            }
        }
        for (key, entries) in file.project {
            if applies(&key, &project_url) {
                out.extend(entries);
            }
        }
    }
    Ok(out)
}

/// gitlab-ci-local names the registry `local-registry.<git remote host>` when it has
/// none to offer. It resolves nowhere, so say so instead of failing to reach it.
pub fn refuse_placeholder_registry(mode: Mode, registry: &Registry) -> Result<(), Failure> {
    if !mode.is_local() || !registry.host().starts_with("local-registry.") {
        return Ok(());
    }
    Err(Failure::usage(format!(
        "{registry} is not a real registry: gitlab-ci-local makes this name up from the git remote when it has no registry to offer"
    ))
    .with_hint(
        "set CI_REGISTRY to a real registry in .gitlab-ci-local-variables.yml (or pass --registry), or run gitlab-ci-local --registry to get its local one",
    ))
}

/// The credentials a developer's machine keeps for the target registry, in local modes.
pub fn candidates(cx: &Context) -> Vec<Candidate> {
    if !cx.mode.is_local() {
        return Vec::new();
    }
    let mut out = Vec::new();
    out.extend(glab(cx));
    out.extend(docker_config(cx));
    out
}

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
fn glab(cx: &Context) -> Option<Candidate> {
    let path = glab_config_file(cx.vars)?;
    let candidate = |username: String, secret: Secret, problem: Option<String>| Candidate {
        kind: Kind::AccessToken,
        source: GLAB_SOURCE.into(),
        username,
        secret,
        binding: Binding::to(
            vec![cx.target.clone()],
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
    let target = cx.target;
    let by_domain = hosts.iter().find(|h| {
        h.container_registry_domains
            .iter()
            .any(|d| Registry::parse(d).is_ok_and(|d| d.same_as(target)))
    });
    let setting = |name| cx.vars.setting(name).ok().flatten();
    let target_is_ci_registry = setting("CI_REGISTRY")
        .and_then(|r| Registry::parse(r).ok())
        .is_some_and(|r| r.same_as(target));
    let by_server = || {
        let servers = [setting("CI_SERVER_FQDN"), setting("CI_SERVER_HOST")];
        hosts
            .iter()
            .find(|h| target_is_ci_registry && servers.iter().flatten().any(|s| *s == h.name))
    };
    let by_name = || {
        hosts.iter().find(|h| {
            let host = h.name.split(':').next().unwrap_or_default();
            target.host() == host || target.host() == format!("registry.{host}")
        })
    };
    by_domain.or_else(by_server).or_else(by_name)
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`: where docker keeps logins.
fn docker_config_file(vars: &Vars) -> Option<PathBuf> {
    match vars.setting("DOCKER_CONFIG").ok().flatten() {
        Some(dir) => Some(Path::new(dir).join("config.json")),
        None => Some(Path::new(vars.setting("HOME").ok().flatten()?).join(".docker/config.json")),
    }
}

/// An earlier `docker login` to the target registry, from the docker config's `auths`.
/// Its kind comes from the secret's prefix; it ranks after every other credential.
fn docker_config(cx: &Context) -> Option<Candidate> {
    let path = docker_config_file(cx.vars)?;
    // A refused file (a FIFO, a device, a link into /proc) is reported by the plan.
    let json = auth_file::read(&path).ok()?;
    let auths = json.get("auths")?.as_object()?;
    let entry = auths.iter().find_map(|(key, entry)| {
        let host = key.split_once("://").map_or(key.as_str(), |(_, rest)| rest);
        let host = host.split('/').next().unwrap_or_default();
        Registry::parse(host)
            .is_ok_and(|r| r.same_as(cx.target))
            .then_some(entry)
    })?;
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
        source: DOCKER_CONFIG_SOURCE.into(),
        username,
        secret,
        binding: Binding::to(vec![cx.target.clone()], "the registry it is stored for"),
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
    use super::*;
    use crate::candidates::Explicit;
    use std::fs;

    fn discover(vars: &Vars, registry: &str) -> Vec<Candidate> {
        let target = Registry::parse(registry).unwrap();
        let cx = Context {
            vars,
            mode: Mode::Laptop,
            target: &target,
            repository: None,
            explicit: &Explicit::default(),
        };
        candidates(&cx)
    }

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn home_variables_follow_the_remote_with_project_over_group_over_global() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("variables.yml");
        write(
            &path,
            "global:\n  A: global\n  B: global\n  C: global\ngroup:\n  gitlab.example.com:group/:\n    B: group\n    C: group\n  gitlab.example.com/other/:\n    C: other\nproject:\n  gitlab.example.com/group/app.git:\n    C: project\n",
        );
        let remote = git_remote::parse_url("git@gitlab.example.com:group/app.git").unwrap();
        let mut vars = Vars::from_pairs([("A", "env")]);
        vars.add_fallback(
            home_variables(&path, Some(&remote)).unwrap(),
            &Origin::File(path.clone()),
        );
        assert_eq!(vars.get("A").unwrap(), Some("env"));
        assert_eq!(vars.get("B").unwrap(), Some("group"));
        assert_eq!(vars.get("C").unwrap(), Some("project"));
        assert!(vars.describe("C").contains("variables.yml"));
        // Without a remote only `global` applies.
        let entries = home_variables(&path, None).unwrap();
        assert_eq!(entries.len(), 3);
        assert!(
            home_variables(&dir.path().join("missing.yml"), None)
                .unwrap()
                .is_empty()
        );
        write(&path, "project: [1]\n");
        let err = home_variables(&path, None).unwrap_err();
        assert!(
            err.contains("variables.yml") && err.contains("ignored"),
            "{err}"
        );
    }

    #[test]
    fn placeholder_registry_is_refused_only_in_local_modes() {
        let placeholder = Registry::parse("local-registry.gitlab.com").unwrap();
        let err = refuse_placeholder_registry(Mode::LocalEmulation, &placeholder).unwrap_err();
        assert_eq!(err.exit, crate::error::Exit::Usage);
        assert!(
            err.message.contains("not a real registry"),
            "{}",
            err.message
        );
        assert!(refuse_placeholder_registry(Mode::GitLabCi, &placeholder).is_ok());
        let real = Registry::parse("registry.gitlab.com").unwrap();
        assert!(refuse_placeholder_registry(Mode::Laptop, &real).is_ok());
    }

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
        assert_eq!(
            (c.kind, c.source.as_str()),
            (Kind::AccessToken, GLAB_SOURCE)
        );
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
        assert_eq!(
            (c.kind, c.source.as_str()),
            (Kind::JobToken, DOCKER_CONFIG_SOURCE)
        );
        assert_eq!(c.username, "gitlab-ci-token");
        assert!(c.notes.iter().any(|n| n.contains("stopped working")));
        let c = discover(&vars, "other.example.com").remove(0);
        assert_eq!((c.kind, c.username.as_str()), (Kind::Password, "bob"));
        assert!(discover(&vars, "ident.example.com").is_empty());
        assert!(discover(&vars, "none.example.com").is_empty());
    }

    #[test]
    fn nothing_outside_local_modes() {
        let vars = Vars::from_pairs([("GLAB_CONFIG_DIR", "/nonexistent")]);
        let target = Registry::parse("gitlab.example.com").unwrap();
        let cx = Context {
            vars: &vars,
            mode: Mode::GitLabCi,
            target: &target,
            repository: None,
            explicit: &Explicit::default(),
        };
        assert!(candidates(&cx).is_empty());
    }
}
