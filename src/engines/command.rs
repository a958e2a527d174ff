//! Engines that are command-line tools (`docker login` and its peers): the secret goes
//! to the child's stdin, never its argv or environment, and the tool's own message is
//! passed through with what it means.

use super::restore::{Pending, Snapshot};
use super::{Engine, EngineError, LoginRequest, RunPolicy, Stored};
use crate::secret::Secret;
use crate::text::sanitize;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The arguments of a login under one key (the secret is read from stdin).
pub type LoginArgs = Box<dyn Fn(&LoginRequest, &str) -> Vec<String>>;
/// The arguments of a logout of one key.
pub type LogoutArgs = Box<dyn Fn(&str) -> Vec<String>>;

pub struct CommandEngine {
    pub name: &'static str,
    pub program: PathBuf,
    pub login_args: LoginArgs,
    pub logout_args: LogoutArgs,
    /// Variables the tool needs besides what it inherits (`DOCKER_CONFIG` of an
    /// isolated job, say).
    pub env: Vec<(OsString, OsString)>,
    /// Where the tool stores credentials, for the summary line.
    pub location: String,
    /// The docker config a docker-like tool keeps logins in: read before a logout, as
    /// docker says it removed credentials whether or not it had any.
    pub config_file: Option<PathBuf>,
    /// The tool may be given the secret while the check still runs
    /// ([`Engine::start_fed`]): everything its login changes is in `config_file` and
    /// the credential helpers that file names, which can be saved and put back.
    pub restorable: bool,
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
        let missing = || EngineError::Missing {
            program: program.into(),
        };
        let path = std::env::var_os("PATH").ok_or_else(missing)?;
        // `which` expands a PATH entry starting with `~` through std's home_dir, which
        // without HOME asks the password database: getpwuid_r, glibc NSS, in a static
        // binary. Without HOME such entries are skipped instead.
        let path = match std::env::var_os("HOME") {
            Some(_) => path,
            None => std::env::join_paths(
                std::env::split_paths(&path).filter(|dir| !dir.starts_with("~")),
            )
            .map_err(|_| missing())?,
        };
        let cwd = std::env::current_dir().map_err(|_| missing())?;
        which::which_in(program, Some(path), cwd).map_err(|_| missing())
    }
}

impl Engine for CommandEngine {
    fn name(&self) -> &'static str {
        self.name
    }

    fn login(&self, request: &LoginRequest) -> Result<Stored, EngineError> {
        self.login_started(request, None)
    }

    fn start(&self, request: &LoginRequest) -> Option<Started> {
        let args = (self.login_args)(request, request.keys.first()?);
        let child = self.spawn(&args, Some(request.secret), false).ok()?;
        Some(Started {
            args,
            secret: request.secret.clone(),
            child: Some(child),
            fed: None,
            limit: self.limit(),
        })
    }

    fn start_fed(&self, request: &LoginRequest) -> Option<Started> {
        let (true, Some(config), Some(key)) =
            (self.restorable, &self.config_file, request.keys.first())
        else {
            return None;
        };
        let snapshot = match Snapshot::take(config, key, self.limit(), &self.policy.scrub) {
            Ok(snapshot) => snapshot,
            Err(why) => {
                tracing::info!(
                    engine = self.name,
                    "the tool gets the secret after the check: {why}"
                );
                return None;
            }
        };
        let args = (self.login_args)(request, key);
        // Its own process group: a signal in the window stops it and its credential
        // helper together before the snapshot is put back.
        let mut child = self.spawn(&args, Some(request.secret), true).ok()?;
        let group = rustix::process::Pid::from_child(&child);
        let pending = Pending::arm(snapshot, group);
        if let Some(mut stdin) = child.stdin.take() {
            // A tool that exits early closes the pipe; its exit status tells why.
            let _ = stdin.write_all(request.secret.expose().as_bytes());
        }
        Some(Started {
            args,
            secret: request.secret.clone(),
            child: Some(child),
            fed: Some(pending),
            limit: self.limit(),
        })
    }

    fn login_started(
        &self,
        request: &LoginRequest,
        mut started: Option<Started>,
    ) -> Result<Stored, EngineError> {
        // Keys log in one after another (the tools do not lock their files); only the
        // first can have been started.
        for key in request.keys {
            self.login_as(request, key, started.take())?;
        }
        Ok(Stored {
            engine: self.name,
            location: self.location.clone(),
            warnings: Vec::new(),
        })
    }

    fn logout(&self, keys: &[String]) -> Result<bool, EngineError> {
        let mut removed = false;
        for key in keys {
            if self
                .config_file
                .as_deref()
                .is_some_and(|f| !may_hold(f, key))
            {
                continue;
            }
            match self.run(&(self.logout_args)(key), None, None) {
                Ok(()) => removed = true,
                Err((_, output)) if output.to_ascii_lowercase().contains("not logged in") => {}
                Err((_, output)) => {
                    return Err(EngineError::Failed {
                        engine: self.name,
                        output,
                    });
                }
            }
        }
        Ok(removed)
    }
}

/// Whether the docker config may hold a login for `key`: an `auths` entry, a credential
/// helper for it, or a default credential store (which only the tool can ask). A file
/// that cannot be read may hold anything.
fn may_hold(file: &std::path::Path, key: &str) -> bool {
    let json = match crate::auth_file::read(file) {
        Ok(json) => json,
        Err(_) if !file.exists() => return false,
        Err(_) => return true,
    };
    let has = |field: &str, k: &str| {
        json.get(field)
            .and_then(|v| v.as_object())
            .is_some_and(|m| m.contains_key(k))
    };
    json.get("credsStore").is_some()
        || has("credHelpers", key)
        || crate::auth_file::keys_for(key)
            .iter()
            .any(|k| has("auths", k))
}

impl CommandEngine {
    /// One login, retried while the tool's failure looks transient; the first attempt
    /// may be a tool started earlier.
    fn login_as(
        &self,
        request: &LoginRequest,
        key: &str,
        mut early: Option<Started>,
    ) -> Result<(), EngineError> {
        let args = (self.login_args)(request, key);
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            match self.run(&args, Some(request.secret), early.take()) {
                Ok(()) => return Ok(()),
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
}

impl CommandEngine {
    /// Runs the tool, or finishes `early` when it was started with these very arguments
    /// and secret; on failure returns what its output means and the output itself
    /// (cleaned of control characters and, as insurance, of the secret).
    fn run(
        &self,
        args: &[String],
        secret: Option<&Secret>,
        early: Option<Started>,
    ) -> Result<(), (Failure, String)> {
        let (mut child, fed) = match early.and_then(|e| e.take_if_for(args, secret)) {
            Some(taken) => taken,
            None => (self.spawn(args, secret, false)?, None),
        };
        if let (Some(secret), Some(mut stdin)) = (secret, child.stdin.take()) {
            // A tool that exits early closes the pipe; its exit status tells why.
            let _ = stdin.write_all(secret.expose().as_bytes());
        }
        let limit = self.limit();
        let out = wait_within(child, limit);
        // Fed while the check ran, and the check kept it: what it stored stays. A failed
        // login is put back too (a no-op unless it stored something after all).
        if let (Some(pending), Ok(Some(out))) = (fed, &out)
            && out.status.success()
        {
            pending.keep();
        }
        let out = out
            .map_err(|e| {
                (
                    Failure::Other,
                    format!("{} did not finish: {e}", self.program.display()),
                )
            })?
            .ok_or_else(|| {
                (
                    Failure::Other,
                    format!(
                        "{} did not finish within {} (--retry-timeout) and was stopped",
                        self.program.display(),
                        crate::text::duration(limit.as_secs())
                    ),
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

    /// How long the tool may take: a stuck one (a hung daemon behind `docker login`)
    /// must not hang the job.
    fn limit(&self) -> Duration {
        self.policy.retry.budget.max(Duration::from_secs(1))
    }

    /// Starts the tool with the secret's variables scrubbed from its environment and,
    /// when there is a secret, a pipe for it on stdin; `own_group` makes it the leader
    /// of a process group of its own.
    fn spawn(
        &self,
        args: &[String],
        secret: Option<&Secret>,
        own_group: bool,
    ) -> Result<Child, (Failure, String)> {
        tracing::debug!(program = %self.program.display(), ?args, "running");
        let mut command = Command::new(&self.program);
        for name in variables_carrying(self.policy.scrub.iter().chain(secret)) {
            command.env_remove(name);
        }
        if own_group {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        command
            .envs(self.env.iter().map(|(k, v)| (k, v)))
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
            })
    }
}

/// Waits for `child` and reads its output for at most `limit`; after that the child is
/// killed and `None` returned. Readers of a killed child's pipes are not waited for: a
/// grandchild may hold them open.
pub(super) fn wait_within(mut child: Child, limit: Duration) -> std::io::Result<Option<Output>> {
    fn drain(pipe: Option<impl Read + Send + 'static>, closed: Sender<()>) -> JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            let _ = closed.send(());
            bytes
        })
    }
    let (closed, pipe_closed) = std::sync::mpsc::channel();
    let stdout = drain(child.stdout.take(), closed.clone());
    let stderr = drain(child.stderr.take(), closed);
    let deadline = Instant::now() + limit;
    let mut open_pipes = 2;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        let now = Instant::now();
        if now >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        // A tool's pipes close as it exits: wake up then, not at the next poll (a
        // 20 ms poll alone added 10 ms to the average `docker login`). A grandchild
        // can hold them open, so the exit is polled for too.
        if open_pipes == 0 {
            std::thread::sleep(Duration::from_millis(1));
        } else if pipe_closed
            .recv_timeout((deadline - now).min(Duration::from_millis(20)))
            .is_ok()
        {
            open_pipes -= 1;
        }
    };
    Ok(Some(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }))
}

/// A tool started ahead of its secret ([`Engine::start`]): it waits on its stdin.
/// Dropped unused, it is killed before it has read anything. Or one fed at once
/// ([`Engine::start_fed`]): dropped unused, it is waited for and what it stored is put
/// back.
pub struct Started {
    args: Vec<String>,
    secret: Secret,
    child: Option<Child>,
    fed: Option<Pending>,
    limit: Duration,
}

impl Started {
    /// The tool, if it was started with these arguments and this secret, and the
    /// snapshot to keep or put back if it was fed already.
    fn take_if_for(
        mut self,
        args: &[String],
        secret: Option<&Secret>,
    ) -> Option<(Child, Option<Pending>)> {
        let same = self.args == args && secret.is_some_and(|s| s.expose() == self.secret.expose());
        if !same {
            return None;
        }
        let child = self.child.take()?;
        Some((child, self.fed.take()))
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if self.fed.is_some() {
            // It has the secret: let it finish storing, then put back what it stored.
            let _ = wait_within(child, self.limit);
            drop(self.fed.take());
        } else {
            let _ = child.kill();
            let _ = child.wait();
        }
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
pub(super) fn variables_carrying<'a>(
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

    /// docker says it removed credentials whether or not it had any: the config is read
    /// first, so a logout with nothing stored says so.
    #[test]
    fn a_logout_runs_only_where_a_login_may_be_stored() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        assert!(!may_hold(&file, "r.example.com"), "no file, no login");
        std::fs::write(
            &file,
            r#"{"auths":{"https://r.example.com":{"auth":"eDp5"}}}"#,
        )
        .unwrap();
        assert!(may_hold(&file, "r.example.com"));
        assert!(!may_hold(&file, "other.example.com"));
        std::fs::write(&file, r#"{"credHelpers":{"r.example.com":"gcr"}}"#).unwrap();
        assert!(may_hold(&file, "r.example.com"));
        assert!(!may_hold(&file, "other.example.com"));
        std::fs::write(&file, r#"{"credsStore":"pass"}"#).unwrap();
        assert!(may_hold(&file, "other.example.com"), "only the store knows");
    }

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
