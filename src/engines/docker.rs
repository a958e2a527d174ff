//! `docker login --username U --password-stdin REGISTRY`. Docker reads `DOCKER_CONFIG`
//! from the environment it inherits; without a daemon it logs in client-side, and it
//! allows plain HTTP to loopback registries by itself.

use super::{CommandEngine, EngineError, Paths, RunPolicy};
use std::ffi::OsString;

pub fn docker(paths: &Paths, policy: &RunPolicy) -> Result<CommandEngine, EngineError> {
    let program = CommandEngine::find("docker")?;
    let folder = DockerConfig::of("docker", paths)?;
    Ok(CommandEngine {
        name: "docker",
        program,
        login_args: Box::new(|r, key| {
            vec![
                "login".into(),
                "--username".into(),
                r.username.into(),
                "--password-stdin".into(),
                key.into(),
            ]
        }),
        logout_args: Box::new(|key| vec!["logout".into(), key.into()]),
        env: folder.env,
        location: folder.location,
        config_file: folder.file,
        restorable: true,
        policy: policy.clone(),
    })
}

/// Where a tool that keeps docker's `config.json` (docker, nerdctl) stores, and the
/// `DOCKER_CONFIG` it needs for that: these tools have no switch naming a file.
pub(super) struct DockerConfig {
    pub env: Vec<(OsString, OsString)>,
    pub location: String,
    /// The config file the tool reads and writes, when known.
    pub file: Option<std::path::PathBuf>,
}

impl DockerConfig {
    pub fn of(tool: &'static str, paths: &Paths) -> Result<DockerConfig, EngineError> {
        let Some(file) = &paths.requested else {
            return Ok(DockerConfig {
                env: Vec::new(),
                location: match &paths.docker_config_file {
                    Some(path) => format!("{} (or its credential helper)", path.display()),
                    None => format!("{tool}'s credential store"),
                },
                file: paths.docker_config_file.clone(),
            });
        };
        match (file.file_name(), file.parent()) {
            (Some(name), Some(folder)) if name == "config.json" => Ok(DockerConfig {
                env: vec![("DOCKER_CONFIG".into(), folder.as_os_str().to_owned())],
                location: file.display().to_string(),
                file: Some(file.clone()),
            }),
            _ => Err(EngineError::Failed {
                engine: tool,
                output: format!(
                    "{tool} keeps credentials in FOLDER/config.json, so --auth-file must name a file called config.json (got {}); or use --engine auth-file",
                    file.display()
                ),
            }),
        }
    }
}
