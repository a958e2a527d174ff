//! `docker login --username U --password-stdin REGISTRY`. Docker reads `DOCKER_CONFIG`
//! from the environment it inherits; without a daemon it logs in client-side, and it
//! allows plain HTTP to loopback registries by itself.

use super::{CommandEngine, EngineError, Paths, RunPolicy};

pub fn docker(paths: &Paths, policy: &RunPolicy) -> Result<CommandEngine, EngineError> {
    Ok(CommandEngine {
        name: "docker",
        program: CommandEngine::find("docker")?,
        login_args: |r| {
            vec![
                "login".into(),
                "--username".into(),
                r.username.into(),
                "--password-stdin".into(),
                r.registry.host_port(),
            ]
        },
        logout_args: |registry| vec!["logout".into(), registry.host_port()],
        location: match &paths.docker_config_file {
            Some(path) => format!("{} (or its credential helper)", path.display()),
            None => "docker's credential store".into(),
        },
        policy: policy.clone(),
    })
}
