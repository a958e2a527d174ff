//! The real `docker` CLI, logging in client-side (there is no daemon here).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A socket that does not exist: the CLI then performs `docker login` itself
/// (https first, plain http as the fallback for loopback registries) and
/// writes `$DOCKER_CONFIG/config.json`.
pub const NO_DAEMON: &str = "unix:///nonexistent.sock";

/// `printf SECRET | docker login --username USER --password-stdin REGISTRY`
/// with `DOCKER_CONFIG=config_dir` and nothing else from the environment.
pub fn docker_login(config_dir: &Path, registry: &str, username: &str, secret: &str) -> Output {
    let mut child = Command::new("docker")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", config_dir)
        .env("DOCKER_CONFIG", config_dir)
        .env("DOCKER_HOST", NO_DAEMON)
        .args([
            "login",
            "--username",
            username,
            "--password-stdin",
            registry,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run docker (the CLI is expected at /usr/local/bin/docker)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(secret.as_bytes())
        .expect("write the secret to docker's stdin");
    child.wait_with_output().expect("wait for docker login")
}
