//! Runs the built binary the way a job would (cleared environment, a private HOME, no
//! docker daemon, the most verbose tracing), and afterwards proves that no secret
//! leaked: not to stdout or stderr, not into the argv or environment of any child it
//! spawned, not into any file it wrote other than the auth file the test asked for.
//!
//! Every end-to-end test runs the binary through [`ci_registry_login`], so the leak
//! scan covers the whole suite.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// Engines a run may spawn; each gets a recording shim in front of the real program.
const ENGINES: [&str; 5] = ["docker", "podman", "buildah", "skopeo", "nerdctl"];

/// Variables whose values are secrets: their values are scanned for automatically.
const SECRET_VARS: [&str; 6] = [
    "CI_REGISTRY_PASSWORD",
    "CI_JOB_TOKEN",
    "CI_DEPLOY_PASSWORD",
    "CI_DEPENDENCY_PROXY_PASSWORD",
    "REGISTRY_PASSWORD",
    "CI_BUILD_TOKEN",
];

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ci-registry-login"))
}

/// A run of the binary, built up like a `Command`.
pub struct Run {
    dir: tempfile::TempDir,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    secrets: BTreeSet<String>,
    allowed: Vec<PathBuf>,
    program: PathBuf,
}

/// The outcome of a run whose leak scan passed.
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub children: Vec<Child>,
    dir: tempfile::TempDir,
}

/// A child process the binary spawned, as its shim recorded it.
#[derive(Debug, Clone)]
pub struct Child {
    pub program: String,
    pub argv: Vec<String>,
    pub env: Vec<String>,
}

pub fn ci_registry_login() -> Run {
    Run::new(binary())
}

impl Run {
    pub fn new(program: PathBuf) -> Run {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["home", "tmp", "shims", "children"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let run = Run {
            args: Vec::new(),
            env: Vec::new(),
            secrets: BTreeSet::new(),
            allowed: Vec::new(),
            program,
            dir,
        };
        run.write_shims();
        run
    }

    /// The private HOME; `~/.docker/config.json` lives under it unless DOCKER_CONFIG is set.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// A scratch folder inside the run (scanned like everything else).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Run {
        self.args.push(arg.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Run {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets a variable; values of secret-bearing variables and GitLab tokens are
    /// remembered for the leak scan.
    pub fn env(mut self, name: impl Into<OsString>, value: impl Into<OsString>) -> Run {
        let (name, value) = (name.into(), value.into());
        if let (Some(n), Some(v)) = (name.to_str(), value.to_str()) {
            let tokenish = ["glpat-", "gldt-", "glcbt-"]
                .iter()
                .any(|p| v.starts_with(p));
            if (SECRET_VARS.contains(&n) || tokenish) && v.len() >= 8 {
                self.secrets.insert(v.to_string());
            }
        }
        self.env.push((name, value));
        self
    }

    pub fn envs<I, K, V>(mut self, vars: I) -> Run
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        for (k, v) in vars {
            self = self.env(k, v);
        }
        self
    }

    /// Another value that must never leak (a password, say).
    pub fn secret(mut self, secret: &str) -> Run {
        self.secrets.insert(secret.to_string());
        self
    }

    /// A file the test asked the binary to write credentials into.
    pub fn allow_secret_in(mut self, file: impl Into<PathBuf>) -> Run {
        self.allowed.push(file.into());
        self
    }

    /// Runs to completion and scans for leaks; panics naming the leak if there is one.
    pub fn run(self) -> Outcome {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env_clear()
            .env("PATH", self.search_path())
            .env("HOME", self.home())
            .env("TMPDIR", self.dir.path().join("tmp"))
            .env("DOCKER_HOST", "unix:///nonexistent.sock")
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "trace")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .current_dir(self.dir.path());
        let out = command.output().expect("the binary runs");
        let outcome = Outcome {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            children: read_children(&self.dir.path().join("children")),
            dir: self.dir,
        };
        scan(
            &outcome,
            &self.secrets,
            &self.allowed,
            &out.stdout,
            &out.stderr,
        );
        outcome
    }

    fn search_path(&self) -> OsString {
        let system = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![self.dir.path().join("shims")];
        paths.extend(std::env::split_paths(&system));
        std::env::join_paths(paths).unwrap()
    }

    /// `shims/docker` logs its argv and environment, then execs the real docker.
    fn write_shims(&self) {
        use std::os::unix::fs::PermissionsExt;
        let logs = self.dir.path().join("children");
        for engine in ENGINES {
            let Ok(real) = which(engine) else { continue };
            let shim = self.dir.path().join("shims").join(engine);
            let script = format!(
                "#!/bin/sh\nlog='{logs}/{engine}.'$$\n{{ echo ARGV; for a in \"$0\" \"$@\"; do printf '%s\\n' \"$a\"; done; echo ENV; env; }} > \"$log\"\nexec '{real}' \"$@\"\n",
                logs = logs.display(),
                real = real.display()
            );
            std::fs::write(&shim, script).unwrap();
            std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
}

fn which(program: &str) -> Result<PathBuf, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .ok_or(())
}

fn read_children(dir: &Path) -> Vec<Child> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let program = entry
            .file_name()
            .to_string_lossy()
            .split('.')
            .next()
            .unwrap_or("")
            .to_string();
        let mut argv = Vec::new();
        let mut env = Vec::new();
        let mut in_env = false;
        for line in text.lines() {
            match line {
                "ARGV" => {}
                "ENV" => in_env = true,
                l if in_env => env.push(l.to_string()),
                l => argv.push(l.to_string()),
            }
        }
        children.push(Child { program, argv, env });
    }
    children
}

/// The forms a secret can leak in: itself, and the stable middle of its standard and
/// URL-safe base64 at each of the three alignments it can have inside a longer value
/// (`user:secret` in an auth entry, say).
pub fn leak_forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_string()];
    for pad in 0..3 {
        let mut bytes = vec![b'\0'; pad];
        bytes.extend_from_slice(secret.as_bytes());
        for engine in [&STANDARD, &URL_SAFE] {
            let encoded = engine.encode(&bytes);
            let skip = if pad == 0 { 0 } else { 4 };
            if encoded.len() > skip + 8 {
                forms.push(encoded[skip..encoded.len() - 4].to_string());
            }
        }
    }
    forms.sort();
    forms.dedup();
    forms
}

fn scan(
    outcome: &Outcome,
    secrets: &BTreeSet<String>,
    allowed: &[PathBuf],
    stdout: &[u8],
    stderr: &[u8],
) {
    let mut places: Vec<(String, Vec<u8>)> = vec![
        ("stdout".into(), stdout.to_vec()),
        ("stderr (with RUST_LOG=trace)".into(), stderr.to_vec()),
    ];
    for child in &outcome.children {
        places.push((
            format!("argv of {}", child.program),
            child.argv.join("\n").into_bytes(),
        ));
        places.push((
            format!("environment of {}", child.program),
            child.env.join("\n").into_bytes(),
        ));
    }
    let allowed: Vec<PathBuf> = allowed
        .iter()
        .map(|p| p.canonicalize().unwrap_or_else(|_| p.clone()))
        .collect();
    for file in files_under(outcome.dir.path()) {
        let canonical = file.canonicalize().unwrap_or_else(|_| file.clone());
        let is_shim_or_log = file.starts_with(outcome.dir.path().join("shims"))
            || file.starts_with(outcome.dir.path().join("children"));
        if allowed.contains(&canonical) || is_shim_or_log {
            continue;
        }
        if let Ok(bytes) = std::fs::read(&file) {
            places.push((format!("file {}", file.display()), bytes));
        }
    }
    for secret in secrets {
        for form in leak_forms(secret) {
            for (place, bytes) in &places {
                if bytes.windows(form.len()).any(|w| w == form.as_bytes()) {
                    panic!(
                        "SECRET LEAK: a form of a secret ({}...) appears in {place}\n--- stderr ---\n{}",
                        &secret[..secret.len().min(6)],
                        String::from_utf8_lossy(stderr)
                    );
                }
            }
        }
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => out.push(path),
                _ => {}
            }
        }
    }
    out
}

impl Outcome {
    pub fn code(&self) -> i32 {
        self.status.code().expect("exited, not killed")
    }

    /// Asserts the exit code, showing the output when it differs.
    pub fn expect_code(self, code: i32) -> Outcome {
        assert_eq!(
            self.code(),
            code,
            "unexpected exit code\n--- stdout ---\n{}\n--- stderr (last 60 lines) ---\n{}",
            self.stdout,
            tail(&self.stderr, 60)
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// stderr without tracing lines: what a person reads.
    pub fn said(&self) -> String {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("ci-registry-login:") || l.starts_with("  "))
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The default docker config file of the run.
    pub fn docker_config(&self) -> PathBuf {
        self.home().join(".docker/config.json")
    }

    pub fn children_named(&self, program: &str) -> Vec<&Child> {
        self.children
            .iter()
            .filter(|c| c.program == program)
            .collect()
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
