//! Engines store a credential where a builder will find it. Each is a small adapter
//! behind [`Engine`]; adding one is one file, a variant of [`EngineChoice`] and its row
//! in [`ENGINES`], from which `--engine`'s names, parsing and `auto` all derive.

mod buildah;
mod command;
mod containers;
mod docker;
mod file;
mod nerdctl;
mod podman;
mod restore;
mod skopeo;

pub use command::{CommandEngine, Failure as CommandFailure, Started};
pub use file::AuthFileEngine;

use crate::auth_file::AuthFileError;
use crate::http::RetryPolicy;
use crate::names::Registry;
use crate::secret::Secret;
use std::path::PathBuf;

/// What an engine needs to log in.
pub struct LoginRequest<'a> {
    pub registry: &'a Registry,
    /// The names to store the credential under (`host[:port]`, and for the dependency
    /// proxy `host:443` too): image references must match a key exactly.
    pub keys: &'a [String],
    pub username: &'a str,
    pub secret: &'a Secret,
    /// The registry speaks, or may speak, plain HTTP: it did during the live check, was
    /// named `http://`, or (unchecked) is a loopback address or `--insecure` was given.
    pub plain_http: bool,
}

/// How engines that are programs run.
#[derive(Debug, Clone, Default)]
pub struct RunPolicy {
    pub retry: RetryPolicy,
    /// Secrets that must not reach a child through its environment (every one the run
    /// can see, not only the one used): variables carrying them are removed.
    pub scrub: Vec<Secret>,
}

/// Where the credential went.
#[derive(Debug, Clone)]
pub struct Stored {
    pub engine: &'static str,
    pub location: String,
    /// What the user should know about the stored entry (a credential store that
    /// docker will ask instead, say).
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{program} is not installed or not on PATH")]
    Missing { program: String },
    /// The engine reached the registry, which refused the credential.
    #[error("{engine} login was refused: {output}")]
    Refused {
        engine: &'static str,
        output: String,
    },
    /// The engine could not reach the registry.
    #[error("{engine} could not reach the registry: {output}")]
    Unreachable {
        engine: &'static str,
        output: String,
    },
    #[error("{engine} failed: {output}")]
    Failed {
        engine: &'static str,
        output: String,
    },
    /// The variables and flags name no file to write: bad input, not a failed engine.
    #[error("auth-file: {0}")]
    NoFile(String),
    #[error(transparent)]
    File(#[from] AuthFileError),
}

pub trait Engine {
    fn name(&self) -> &'static str;
    fn login(&self, request: &LoginRequest) -> Result<Stored, EngineError>;
    /// Starts the login of the offline choice while the live check runs, where the
    /// engine is a tool that reads the secret last: its start-up (half of a `docker
    /// login`) then costs no time. Nothing is sent to it yet.
    fn start(&self, _request: &LoginRequest) -> Option<Started> {
        None
    }
    /// Starts the login of the offline choice and gives it the secret at once, so that
    /// the tool's own round trips overlap the live check; what its login may change is
    /// saved first, and put back unless the check keeps this very login. `None` where
    /// that cannot be guaranteed (the tool is not docker, or its credential store
    /// cannot be read): [`Engine::start`] then.
    fn start_fed(&self, _request: &LoginRequest) -> Option<Started> {
        None
    }
    /// [`Engine::login`], finishing `started` if it was started for this very request;
    /// otherwise it is killed before it has seen a secret.
    fn login_started(
        &self,
        request: &LoginRequest,
        started: Option<Started>,
    ) -> Result<Stored, EngineError> {
        drop(started);
        self.login(request)
    }
    /// Removes the credentials stored under these keys (and their `http://` and
    /// `https://` spellings); `Ok(false)` when there were none.
    fn logout(&self, keys: &[String]) -> Result<bool, EngineError>;
    /// Whether its auth file keys a credential by repository (`host/group/app`) as well
    /// as by host: containers' auth.json does (containers-auth.json(5): the most
    /// specific key wins), docker's config.json does not.
    fn repository_keys(&self) -> bool {
        ENGINES
            .iter()
            .any(|row| row.name == self.name() && row.repository_keys)
    }
}

/// `--engine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineChoice {
    Auto,
    Docker,
    Podman,
    Buildah,
    Nerdctl,
    Skopeo,
    AuthFile,
}

/// Makes a program engine; `None` for `auto` and the auth file, which are no program.
type Tool = fn(&Paths, &RunPolicy) -> Result<CommandEngine, EngineError>;

/// One engine: its `--engine` name, how to make it, whether `auto` looks for it on
/// PATH (in table order: the builders a job may log in for), and whether its logins
/// may be keyed by repository.
pub struct Row {
    pub choice: EngineChoice,
    pub name: &'static str,
    tool: Option<Tool>,
    pub auto: bool,
    /// Writes containers' auth.json, whose keys may name a repository (the auth-file
    /// engine says so itself, by the format it writes).
    pub repository_keys: bool,
}

impl Row {
    /// Whether the engine is a program the run starts (its name is the program's).
    pub fn is_program(&self) -> bool {
        self.tool.is_some()
    }
}

/// Every engine, in `--engine`'s order.
pub const ENGINES: [Row; 7] = [
    Row {
        choice: EngineChoice::Auto,
        name: "auto",
        tool: None,
        auto: false,
        repository_keys: false,
    },
    Row {
        choice: EngineChoice::Docker,
        name: "docker",
        tool: Some(docker::docker),
        auto: true,
        repository_keys: false,
    },
    Row {
        choice: EngineChoice::Podman,
        name: "podman",
        tool: Some(podman::podman),
        auto: true,
        repository_keys: true,
    },
    Row {
        choice: EngineChoice::Buildah,
        name: "buildah",
        tool: Some(buildah::buildah),
        auto: true,
        repository_keys: true,
    },
    Row {
        choice: EngineChoice::Nerdctl,
        name: "nerdctl",
        tool: Some(nerdctl::nerdctl),
        auto: true,
        repository_keys: false,
    },
    Row {
        choice: EngineChoice::Skopeo,
        name: "skopeo",
        tool: Some(skopeo::skopeo),
        auto: false,
        repository_keys: true,
    },
    Row {
        choice: EngineChoice::AuthFile,
        name: "auth-file",
        tool: None,
        auto: false,
        repository_keys: false,
    },
];

impl EngineChoice {
    pub const NAMES: [&'static str; ENGINES.len()] = {
        let mut names = [""; ENGINES.len()];
        let mut i = 0;
        while i < ENGINES.len() {
            names[i] = ENGINES[i].name;
            i += 1;
        }
        names
    };

    /// Every choice, in `--engine`'s order (for the CLI's typed flag).
    pub const ALL: [EngineChoice; ENGINES.len()] = {
        let mut all = [EngineChoice::Auto; ENGINES.len()];
        let mut i = 0;
        while i < ENGINES.len() {
            all[i] = ENGINES[i].choice;
            i += 1;
        }
        all
    };

    pub fn name(self) -> &'static str {
        self.row().name
    }

    pub fn parse(s: &str) -> Option<EngineChoice> {
        ENGINES
            .iter()
            .find(|row| row.name == s)
            .map(|row| row.choice)
    }

    fn row(self) -> &'static Row {
        ENGINES
            .iter()
            .find(|row| row.choice == self)
            .expect("every choice has a row in ENGINES")
    }
}

/// Where engines keep credentials, resolved once from the flags and variables.
#[derive(Debug, Clone)]
pub struct Paths {
    /// A file the user asked for: `--auth-file`, or the isolated job folder's
    /// `config.json`. Tools with an `--authfile` switch are given it; docker and nerdctl
    /// get its folder as `DOCKER_CONFIG`.
    pub requested: Option<PathBuf>,
    /// docker's config file (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`).
    pub docker_config_file: Option<PathBuf>,
    /// containers' `auth.json` (`REGISTRY_AUTH_FILE`, else
    /// `$XDG_RUNTIME_DIR/containers/auth.json`).
    pub containers_auth_file: Option<PathBuf>,
    /// What the auth-file engine writes, or why there is nothing it could write.
    pub auth_file: Result<PathBuf, String>,
    /// The isolated job folder, when isolating: files in it are written only while it
    /// is still a private folder of this user.
    pub isolated: Option<PathBuf>,
    /// The auth-file engine writes containers' auth.json (`--auth-format containers`),
    /// whose keys may name a repository.
    pub auth_file_containers: bool,
}

/// The engine for a choice; `auto` is the first builder on PATH, else the auth file.
pub fn select(
    choice: EngineChoice,
    paths: &Paths,
    policy: &RunPolicy,
) -> Result<Box<dyn Engine>, EngineError> {
    let tool = |row: &Row| -> Result<CommandEngine, EngineError> {
        let make = row.tool.expect("not a program");
        make(paths, policy)
    };
    let auth_file = || -> Result<Box<dyn Engine>, EngineError> {
        match &paths.auth_file {
            Ok(path) => {
                let folder = match &paths.isolated {
                    Some(dir) if path.parent() == Some(dir.as_path()) => {
                        crate::auth_file::Folder::Private
                    }
                    _ => crate::auth_file::Folder::Shared,
                };
                Ok(Box::new(AuthFileEngine::new(
                    path.clone(),
                    folder,
                    paths.auth_file_containers,
                )))
            }
            Err(why) => Err(EngineError::NoFile(why.clone())),
        }
    };
    match choice {
        EngineChoice::AuthFile => auth_file(),
        EngineChoice::Auto => {
            for row in ENGINES.iter().filter(|row| row.auto) {
                match tool(row) {
                    Ok(engine) => return Ok(Box::new(engine)),
                    Err(EngineError::Missing { .. }) => continue,
                    Err(e) => return Err(e),
                }
            }
            auth_file()
        }
        program => Ok(Box::new(tool(program.row())?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_to_its_own_engine() {
        for row in &ENGINES {
            assert_eq!(
                EngineChoice::parse(row.name),
                Some(row.choice),
                "{}",
                row.name
            );
            assert_eq!(row.choice.row().name, row.name);
        }
        assert_eq!(
            EngineChoice::NAMES.map(|n| EngineChoice::parse(n).unwrap().row().name),
            EngineChoice::NAMES
        );
        assert_eq!(EngineChoice::parse("Docker"), None);
    }

    #[test]
    fn only_auto_and_the_auth_file_are_no_program() {
        for row in &ENGINES {
            let program = !matches!(row.choice, EngineChoice::Auto | EngineChoice::AuthFile);
            assert_eq!(row.tool.is_some(), program, "{}", row.name);
            assert!(!row.auto || program, "{}", row.name);
        }
        let auto: Vec<&str> = ENGINES.iter().filter(|r| r.auto).map(|r| r.name).collect();
        assert_eq!(auto, ["docker", "podman", "buildah", "nerdctl"]);
    }

    #[test]
    fn the_containers_tools_key_by_repository_and_the_auth_file_by_its_format() {
        let by_repository: Vec<&str> = ENGINES
            .iter()
            .filter(|r| r.repository_keys)
            .map(|r| r.name)
            .collect();
        assert_eq!(by_repository, ["podman", "buildah", "skopeo"]);
        let file = |containers| {
            AuthFileEngine::new(
                "/x/auth.json".into(),
                crate::auth_file::Folder::Shared,
                containers,
            )
        };
        assert!(file(true).repository_keys());
        assert!(!file(false).repository_keys());
    }
}
