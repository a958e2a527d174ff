//! podman, buildah and skopeo all log in through containers/image: the same flags, the
//! same `auth.json` (`--authfile`, else `REGISTRY_AUTH_FILE`, else
//! `$XDG_RUNTIME_DIR/containers/auth.json`), and `--tls-verify=false` for plain HTTP,
//! which they never fall back to by themselves, not even on loopback.

use super::{CommandEngine, EngineError, Paths, RunPolicy};

pub(super) fn containers_tool(
    name: &'static str,
    paths: &Paths,
    policy: &RunPolicy,
) -> Result<CommandEngine, EngineError> {
    let program = CommandEngine::find(name)?;
    let authfile: Vec<String> = match &paths.requested {
        Some(file) => vec!["--authfile".into(), file.to_string_lossy().into_owned()],
        None => Vec::new(),
    };
    let location = match paths
        .requested
        .as_ref()
        .or(paths.containers_auth_file.as_ref())
    {
        Some(file) => file.display().to_string(),
        None => format!("{name}'s default auth.json (XDG_RUNTIME_DIR is not set)"),
    };
    let logout_authfile = authfile.clone();
    Ok(CommandEngine {
        config_file: None,
        name,
        program,
        login_args: Box::new(move |r, key| {
            let mut args = vec!["login".to_string()];
            args.extend(authfile.iter().cloned());
            if r.plain_http {
                args.push("--tls-verify=false".into());
            }
            args.extend([
                "--username".into(),
                r.username.into(),
                "--password-stdin".into(),
                key.into(),
            ]);
            args
        }),
        logout_args: Box::new(move |key| {
            let mut args = vec!["logout".to_string()];
            args.extend(logout_authfile.iter().cloned());
            args.push(key.into());
            args
        }),
        env: Vec::new(),
        location,
        restorable: false,
        policy: policy.clone(),
    })
}
