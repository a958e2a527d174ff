//! Credential-helper mode: the binary answers docker's credential-helper protocol
//! (`docker-credential-ci-registry-login get|store|erase|list|version`), so the job's
//! credential is read from its variables at the moment docker asks and is never
//! written to disk.
//!
//! `get` decides offline, like `plan`: docker calls it for every image operation (often
//! several times for one command), each live check would cost a round trip to GitLab and
//! count towards its failed-login ban, and the registry checks the credential anyway on
//! the very request docker is making. The helper cannot know whether docker pulls or
//! pushes, so it answers the credential `login --push` would choose, else the one for
//! pull (the dependency proxy: always pull).
//!
//! It answers only for the registries it was set up for: `CI_REGISTRY`, the dependency
//! proxy, `--registry`, and those whose `credHelpers` entry names it. A catch-all
//! `credsStore` therefore never hands the explicit credential to every registry.

use crate::access::Intent;
use crate::auth_file;
use crate::cli::HelperAction;
use crate::config::{self, Config};
use crate::error::{Exit, Failure, Result};
use crate::names::Registry;
use crate::secret::Secret;
use secrecy::zeroize::Zeroizing;
use serde_json::{Map, Value};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The name in `credHelpers`: docker runs `docker-credential-<name>`.
pub const HELPER_NAME: &str = "ci-registry-login";
/// The program docker runs.
pub const LINK_NAME: &str = "docker-credential-ci-registry-login";
/// The protocol's agreed answer for an unknown server, which docker and the
/// containers tools read as "no credentials" (exit status 1, on stdout).
pub const NOT_FOUND: &str = "credentials not found in native keychain";
/// A server URL or one credential; anything longer is not the protocol.
const MAX_INPUT: u64 = 64 * 1024;

/// The command line clap should parse: called as `docker-credential-ci-registry-login
/// ACTION`, the binary behaves as `ci-registry-login helper ACTION`.
pub fn argv(args: Vec<OsString>) -> Vec<OsString> {
    let called_as_helper = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .is_some_and(|name| name == LINK_NAME);
    if !called_as_helper {
        return args;
    }
    let mut out: Vec<OsString> = vec![HELPER_NAME.into(), "helper".into()];
    out.extend(args.into_iter().skip(1));
    out
}

pub fn run(config: &Config, action: HelperAction) -> Result<Exit> {
    let answer = match action {
        HelperAction::Install => return install(config),
        HelperAction::Version => Ok(Zeroizing::new(format!(
            "{LINK_NAME} (ci-registry-login {}): answers from the job's variables, stores nothing\n",
            env!("CARGO_PKG_VERSION")
        ))),
        HelperAction::List => list(config),
        HelperAction::Get => read_input().and_then(|input| get(config, &input)),
        HelperAction::Store => read_input().and_then(|input| store(config, &input)),
        // Nothing is stored, so there is nothing to erase: `docker logout` succeeds.
        HelperAction::Erase => read_input().map(|_| Zeroizing::new(String::new())),
    };
    // The protocol puts answers and errors alike on stdout.
    let (text, exit) = match answer {
        Ok(text) => (text, Exit::Success),
        Err(message) => (Zeroizing::new(format!("{message}\n")), Exit::Protocol),
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    Ok(exit)
}

fn read_input() -> Result<Zeroizing<String>, String> {
    let mut input = Zeroizing::new(String::new());
    std::io::stdin()
        .take(MAX_INPUT)
        .read_to_string(&mut input)
        .map_err(|e| format!("cannot read the request on stdin: {e}"))?;
    Ok(input)
}

/// `get`: the server URL in, `{"ServerURL","Username","Secret"}` out.
fn get(config: &Config, input: &str) -> Result<Zeroizing<String>, String> {
    let server_url = input.trim();
    if server_url.is_empty() {
        return Err("no credentials server URL".into());
    }
    let Some((username, secret)) = credential_for(config, server_url)? else {
        return Err(NOT_FOUND.into());
    };
    #[derive(serde::Serialize)]
    struct Answer<'a> {
        #[serde(rename = "ServerURL")]
        server_url: &'a str,
        #[serde(rename = "Username")]
        username: &'a str,
        #[serde(rename = "Secret")]
        secret: &'a str,
    }
    let answer = Answer {
        server_url,
        username: &username,
        secret: secret.expose(),
    };
    let mut text = Zeroizing::new(serde_json::to_string(&answer).expect("strings serialise"));
    text.push('\n');
    Ok(text)
}

/// `store`: nothing is ever stored. Accepting what `get` answers keeps `docker login`
/// (which stores what it just used) working; anything else would be silently lost, so
/// it is refused.
fn store(config: &Config, input: &str) -> Result<Zeroizing<String>, String> {
    #[derive(serde::Deserialize)]
    struct Offered {
        #[serde(rename = "ServerURL")]
        server_url: String,
        #[serde(rename = "Username")]
        username: String,
        #[serde(rename = "Secret")]
        secret: String,
    }
    let mut offered: Offered = serde_json::from_str(input).map_err(|_| {
        "store expects {\"ServerURL\",\"Username\",\"Secret\"} on stdin".to_string()
    })?;
    let secret = Secret::new(std::mem::take(&mut offered.secret));
    let server = offered.server_url.trim();
    match credential_for(config, server)? {
        Some((user, known)) if user == offered.username && known == secret => {
            Ok(Zeroizing::new(String::new()))
        }
        _ => Err(format!(
            "ci-registry-login stores nothing: it answers from the job's variables when asked, and they give {} another credential; to store this one, remove the credHelpers entry for it from the docker config",
            crate::text::sanitize(server, 100)
        )),
    }
}

/// `list`: the registries `get` answers for, with their user names (never a secret).
fn list(config: &Config) -> Result<Zeroizing<String>, String> {
    let mut map = Map::new();
    for registry in answered(config) {
        let key = registry.host_port();
        if let Some((user, _)) = credential_for(config, &key)? {
            map.insert(key, Value::String(user));
        }
    }
    let mut text = Value::Object(map).to_string();
    text.push('\n');
    Ok(Zeroizing::new(text))
}

/// The credential for a server URL as docker spells it (`host[:port]`,
/// `https://host/v1/`...), or `None` when the helper does not answer for it.
fn credential_for(config: &Config, server_url: &str) -> Result<Option<(String, Secret)>, String> {
    let Some(registry) = registry_of(server_url) else {
        return Ok(None);
    };
    if !answered(config).iter().any(|r| r.same_as(&registry)) {
        return Ok(None);
    }
    let target = config::target_for(config, registry).map_err(|e| e.message)?;
    let intents: &[Intent] = if target.dependency_proxy {
        &[Intent::Pull]
    } else {
        &[Intent::Push, Intent::Pull]
    };
    for &intent in intents {
        let plan = crate::pipeline::offline_plan(config, &target, intent).map_err(|e| e.message)?;
        if let Some(chosen) = plan.chosen() {
            let c = &chosen.candidate;
            return Ok(Some((c.username.clone(), c.secret.clone())));
        }
    }
    Ok(None)
}

fn registry_of(server_url: &str) -> Option<Registry> {
    let rest = server_url
        .split_once("://")
        .map_or(server_url, |(_, rest)| rest);
    let host = rest.split('/').next()?;
    Registry::parse(host).ok()
}

/// The registries the helper answers for.
fn answered(config: &Config) -> Vec<Registry> {
    let mut out: Vec<Registry> = config.targets.iter().map(|t| t.registry.clone()).collect();
    out.extend(config.job.registries());
    if let Some(file) = docker_config(config)
        && let Ok(json) = auth_file::read(&file).map_err(|e| auth_file::warn_unread(&e))
        && let Some(helpers) = json.get("credHelpers").and_then(Value::as_object)
    {
        out.extend(
            helpers
                .iter()
                .filter(|(_, helper)| helper.as_str() == Some(HELPER_NAME))
                .filter_map(|(key, _)| Registry::parse(key).ok()),
        );
    }
    out
}

/// The docker config docker reads: `--auth-file` or the isolated folder's, else
/// `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
fn docker_config(config: &Config) -> Option<PathBuf> {
    config
        .paths
        .requested
        .clone()
        .or_else(|| config.paths.docker_config_file.clone())
}

/// `helper install`: `credHelpers[KEY] = "ci-registry-login"` for every registry of the
/// call (their stored `auths` entries go: docker would no longer read them, and they
/// hold secrets), and the `docker-credential-ci-registry-login` link.
fn install(config: &Config) -> Result<Exit> {
    let file = docker_config(config).ok_or_else(|| {
        Failure::usage("neither DOCKER_CONFIG nor HOME is set: pass --auth-file FILE")
    })?;
    let keys: Vec<String> = config
        .targets
        .iter()
        .flat_map(|t| t.keys.iter().cloned())
        .collect();
    // In the isolated job folder, that folder must still be ours when written.
    let folder = match &config.isolation {
        Some(dir) if file.parent() == Some(dir.as_path()) => auth_file::Folder::Private,
        _ => auth_file::Folder::Shared,
    };
    auth_file::update_in(folder, &file, |json| {
        for key in &keys {
            auth_file::remove_login(json, key);
        }
        let helpers = json
            .entry("credHelpers")
            .or_insert_with(|| Value::Object(Map::new()));
        if !helpers.is_object() {
            *helpers = Value::Object(Map::new());
        }
        let helpers = helpers.as_object_mut().expect("just made an object");
        for key in &keys {
            helpers.insert(key.clone(), Value::String(HELPER_NAME.into()));
        }
        (true, ())
    })
    .map_err(|e| Failure::new(Exit::Usage, e.to_string()))?;
    let exe = std::env::current_exe()
        .map_err(|e| Failure::new(Exit::Engine, format!("cannot find this binary: {e}")))?;
    let bin_dir = match &config.bin_dir {
        Some(dir) => dir.clone(),
        None => exe
            .parent()
            .map(Path::to_path_buf)
            .ok_or_else(|| Failure::new(Exit::Engine, "this binary has no folder"))?,
    };
    let link = bin_dir.join(LINK_NAME);
    make_link(&exe, &link)?;
    for target in &config.targets {
        config.printer.summary(&format!(
            "helper installed for {}: docker asks {LINK_NAME} (credHelpers in {}), which answers from the job's variables; nothing is stored",
            target.keys.join(" and "),
            file.display()
        ));
    }
    if !on_path(&bin_dir) {
        config.printer.warn(&format!(
            "{} is not on PATH: docker finds {LINK_NAME} only on PATH; add it, or pass --bin-dir with a folder on PATH",
            bin_dir.display()
        ));
    }
    Ok(Exit::Success)
}

/// Points `link` at `exe`, replacing an older link but never a file.
fn make_link(exe: &Path, link: &Path) -> Result<()> {
    let fail = |what: &str, e: std::io::Error| {
        Failure::new(Exit::Engine, format!("{}: {what}: {e}", link.display()))
    };
    match std::fs::symlink_metadata(link) {
        Ok(meta) if !meta.file_type().is_symlink() => {
            return Err(Failure::usage(format!(
                "{} exists and is not a link; it is left alone: remove it or pass another --bin-dir",
                link.display()
            )));
        }
        Ok(_) if std::fs::read_link(link).is_ok_and(|to| to == exe) => return Ok(()),
        _ => {}
    }
    // A new link beside the old one, renamed over it: never a moment without one.
    let temp = link.with_extension("new");
    let _ = std::fs::remove_file(&temp);
    std::os::unix::fs::symlink(exe, &temp).map_err(|e| fail("cannot create the link", e))?;
    std::fs::rename(&temp, link).map_err(|e| fail("cannot create the link", e))
}

fn on_path(dir: &Path) -> bool {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|p| p.canonicalize().is_ok_and(|p| p == dir))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn called_through_the_link_it_is_the_helper_subcommand() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            argv(args(&[
                "/usr/local/bin/docker-credential-ci-registry-login",
                "get"
            ])),
            args(&["ci-registry-login", "helper", "get"])
        );
        assert_eq!(
            argv(args(&["ci-registry-login", "plan"])),
            args(&["ci-registry-login", "plan"])
        );
    }

    #[test]
    fn server_urls_as_docker_spells_them() {
        for (url, host_port) in [
            ("127.0.0.1:5000", "127.0.0.1:5000"),
            ("https://Registry.example.com/v1/", "registry.example.com"),
            ("gitlab.com:443", "gitlab.com"),
            ("http://localhost:5000", "localhost:5000"),
        ] {
            assert_eq!(registry_of(url).unwrap().host_port(), host_port, "{url}");
        }
        assert!(registry_of("user@host").is_none());
    }
}
