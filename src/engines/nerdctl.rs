//! `nerdctl login`: containerd's docker-compatible CLI. It keeps credentials in docker's
//! `config.json` (`DOCKER_CONFIG` is honoured) and its plain-HTTP switch is the global
//! `--insecure-registry`, which goes before the subcommand.

use super::docker::DockerConfig;
use super::{CommandEngine, EngineError, Paths, RunPolicy};

pub fn nerdctl(paths: &Paths, policy: &RunPolicy) -> Result<CommandEngine, EngineError> {
    let program = CommandEngine::find("nerdctl")?;
    let folder = DockerConfig::of("nerdctl", paths)?;
    Ok(CommandEngine {
        name: "nerdctl",
        program,
        login_args: Box::new(|r, key| {
            let mut args: Vec<String> = Vec::new();
            if r.plain_http {
                args.push("--insecure-registry".into());
            }
            args.extend([
                "login".into(),
                "--username".into(),
                r.username.into(),
                "--password-stdin".into(),
                key.into(),
            ]);
            args
        }),
        logout_args: Box::new(|key| vec!["logout".into(), key.into()]),
        env: folder.env,
        location: folder.location,
        config_file: folder.file,
        restorable: false,
        policy: policy.clone(),
    })
}
