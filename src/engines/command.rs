//! Engines that are command-line tools (`docker login` and its peers): the secret goes
//! to the child's stdin, never its argv or environment, and the tool's own message is
//! passed through with what it means.

use super::{Engine, EngineError, LoginRequest, RunPolicy, Stored};
use crate::names::Registry;
use crate::output::sanitize;
use crate::secret::Secret;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

pub struct CommandEngine {
    pub name: &'static str,
    pub program: PathBuf,
    /// Arguments for a login that reads the secret from stdin.
    pub login_args: fn(&LoginRequest) -> Vec<String>,
    pub logout_args: fn(&Registry) -> Vec<String>,
    /// Where the tool stores credentials, for the summary line.
    pub location: String,
    pub policy: RunPolicy,
}

/// What a failed login's output means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Refused,
    /// Unreachable, and worth another try (5xx, timeouts, resets).
    Transient,
    Unreachable,
    Other,
}

/// Reads the tool's output the way a person would.
pub fn classify(output: &str) -> Failure {
    let o = output.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| o.contains(n));
    if any(&[
        "500 internal",
        "502 bad gateway",
        "503 service",
        "504 gateway",
        "timeout",
        "timed out",
        "connection reset",
        "unexpected eof",
    ]) {
        Failure::Transient
    } else if any(&[
        "unauthorized",
        "denied",
        "forbidden",
        "authentication required",
        "invalid username/password",
        "incorrect username or password",
        "401",
        "403",
    ]) {
        Failure::Refused
    } else if any(&[
        "connection refused",
        "no such host",
        "server gave http response",
        "x509",
        "certificate",
        "tls:",
        "network is unreachable",
        "no route to host",
    ]) {
        Failure::Unreachable
    } else {
        Failure::Other
    }
}

impl CommandEngine {
    /// Finds the program on PATH.
    pub fn find(program: &str) -> Result<PathBuf, EngineError> {
        which::which(program).map_err(|_| EngineError::Missing {
            program: program.into(),
        })
    }
}

impl Engine for CommandEngine {
    fn name(&self) -> &'static str {
        self.name
    }

    fn login(&self, request: &LoginRequest) -> Result<Stored, EngineError> {
        let args = (self.login_args)(request);
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            match self.run(&args, Some(request.secret)) {
                Ok(()) => {
                    return Ok(Stored {
                        engine: self.name,
                        location: self.location.clone(),
                    });
                }
                Err((Failure::Transient, output)) if attempt < self.policy.retry.attempts => {
                    let wait = self.policy.retry.delay(attempt);
                    if started.elapsed() + wait > self.policy.retry.budget {
                        return Err(EngineError::Unreachable {
                            engine: self.name,
                            output,
                        });
                    }
                    tracing::info!(
                        attempt,
                        engine = self.name,
                        "login failed transiently, retrying: {output}"
                    );
                    std::thread::sleep(wait);
                    attempt += 1;
                }
                Err((Failure::Refused, output)) => {
                    return Err(EngineError::Refused {
                        engine: self.name,
                        output,
                    });
                }
                Err((Failure::Transient | Failure::Unreachable, output)) => {
                    return Err(EngineError::Unreachable {
                        engine: self.name,
                        output,
                    });
                }
                Err((Failure::Other, output)) => {
                    return Err(EngineError::Failed {
                        engine: self.name,
                        output,
                    });
                }
            }
        }
    }

    fn logout(&self, registry: &Registry) -> Result<bool, EngineError> {
        match self.run(&(self.logout_args)(registry), None) {
            Ok(()) => Ok(true),
            Err((_, output)) if output.to_ascii_lowercase().contains("not logged in") => Ok(false),
            Err((_, output)) => Err(EngineError::Failed {
                engine: self.name,
                output,
            }),
        }
    }
}

impl CommandEngine {
    /// Runs the tool; on failure returns what its output means and the output itself
    /// (cleaned of control characters and, as insurance, of the secret).
    fn run(&self, args: &[String], secret: Option<&Secret>) -> Result<(), (Failure, String)> {
        tracing::debug!(program = %self.program.display(), ?args, "running");
        let mut command = Command::new(&self.program);
        for name in variables_carrying(self.policy.scrub.iter().chain(secret)) {
            command.env_remove(name);
        }
        let mut child = command
            .args(args)
            .stdin(if secret.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                (
                    Failure::Other,
                    format!("cannot start {}: {e}", self.program.display()),
                )
            })?;
        if let (Some(secret), Some(mut stdin)) = (secret, child.stdin.take()) {
            // A tool that exits early closes the pipe; its exit status tells why.
            let _ = stdin.write_all(secret.expose().as_bytes());
        }
        let out = child.wait_with_output().map_err(|e| {
            (
                Failure::Other,
                format!("{} did not finish: {e}", self.program.display()),
            )
        })?;
        if out.status.success() {
            return Ok(());
        }
        let mut text = tool_message(&out.stderr, &out.stdout);
        if let Some(secret) = secret.filter(|s| !s.is_empty()) {
            text = text.replace(secret.expose(), "<redacted>");
        }
        let text = match out.status.code() {
            Some(code) => format!("{text} (exit status {code})"),
            None => format!("{text} (killed by a signal)"),
        };
        Err((classify(&text), text))
    }
}

/// The tool's message without its own progress chatter (docker logs its HTTPS-to-HTTP
/// fallback as `level=info` lines), continuation lines indented under ours.
fn tool_message(stderr: &[u8], stdout: &[u8]) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(stderr),
        String::from_utf8_lossy(stdout)
    );
    let lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains("level=info") && !l.contains("level=debug"))
        .map(|l| sanitize(l, 500))
        .collect();
    if lines.is_empty() {
        "(no message)".into()
    } else {
        lines.join("\n    ")
    }
}

/// Names of environment variables whose value contains one of the secrets. The engine
/// gets the secret on stdin; it has no business seeing it (or the others) elsewhere.
fn variables_carrying<'a>(
    secrets: impl Iterator<Item = &'a Secret> + Clone,
) -> Vec<std::ffi::OsString> {
    use std::os::unix::ffi::OsStrExt;
    std::env::vars_os()
        .filter(|(_, value)| {
            let value = value.as_bytes();
            secrets.clone().any(|s| {
                let s = s.expose().as_bytes();
                !s.is_empty() && value.windows(s.len()).any(|w| w == s)
            })
        })
        .map(|(name, _)| name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_messages() {
        assert_eq!(
            classify(
                "Error response from daemon: Get \"https://r/v2/\": unauthorized: HTTP Basic: Access denied"
            ),
            Failure::Refused
        );
        assert_eq!(classify("denied: access forbidden"), Failure::Refused);
        assert_eq!(
            classify("dial tcp 127.0.0.1:1: connect: connection refused"),
            Failure::Unreachable
        );
        assert_eq!(
            classify("received unexpected HTTP status: 502 Bad Gateway"),
            Failure::Transient
        );
        assert_eq!(
            classify("x509: certificate signed by unknown authority"),
            Failure::Unreachable
        );
        assert_eq!(classify("something odd"), Failure::Other);
    }
}
