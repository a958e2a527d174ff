//! Engines store a credential where a builder will find it. Each is a small adapter
//! behind [`Engine`]; adding one is one file and one line in [`EngineChoice`].

mod command;
mod docker;
mod file;

pub use command::{CommandEngine, Failure as CommandFailure};
pub use file::AuthFileEngine;

use crate::auth_file::AuthFileError;
use crate::http::RetryPolicy;
use crate::names::Registry;
use crate::secret::Secret;
use std::path::PathBuf;

/// What an engine needs to log in.
pub struct LoginRequest<'a> {
    pub registry: &'a Registry,
    pub username: &'a str,
    pub secret: &'a Secret,
    /// The registry speaks plain HTTP (loopback or `--insecure`).
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
    #[error(transparent)]
    File(#[from] AuthFileError),
}

pub trait Engine {
    fn name(&self) -> &'static str;
    fn login(&self, request: &LoginRequest) -> Result<Stored, EngineError>;
    /// Removes the registry's credentials; `Ok(false)` when there were none.
    fn logout(&self, registry: &Registry) -> Result<bool, EngineError>;
}

/// `--engine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineChoice {
    Auto,
    Docker,
    AuthFile,
}

impl EngineChoice {
    pub const NAMES: [&'static str; 3] = ["auto", "docker", "auth-file"];

    pub fn parse(s: &str) -> Option<EngineChoice> {
        match s {
            "auto" => Some(EngineChoice::Auto),
            "docker" => Some(EngineChoice::Docker),
            "auth-file" => Some(EngineChoice::AuthFile),
            _ => None,
        }
    }
}

/// Where engines that write files put them.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `--auth-file`, `$DOCKER_CONFIG/config.json` or `$HOME/.docker/config.json`.
    pub docker_config_file: Option<PathBuf>,
    /// Why there is no path, for the error when one is needed.
    pub docker_config_missing: &'static str,
}

/// The engine for a choice; `auto` is the first CLI on PATH, else the auth file.
pub fn select(
    choice: EngineChoice,
    paths: &Paths,
    policy: &RunPolicy,
) -> Result<Box<dyn Engine>, EngineError> {
    let auth_file = || -> Result<Box<dyn Engine>, EngineError> {
        match &paths.docker_config_file {
            Some(path) => Ok(Box::new(AuthFileEngine::new(path.clone()))),
            None => Err(EngineError::Failed {
                engine: "auth-file",
                output: paths.docker_config_missing.to_string(),
            }),
        }
    };
    match choice {
        EngineChoice::Docker => Ok(Box::new(docker::docker(paths, policy)?)),
        EngineChoice::AuthFile => auth_file(),
        EngineChoice::Auto => match docker::docker(paths, policy) {
            Ok(engine) => Ok(Box::new(engine)),
            Err(EngineError::Missing { .. }) => auth_file(),
            Err(e) => Err(e),
        },
    }
}
