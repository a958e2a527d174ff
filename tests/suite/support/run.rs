//! Runs the built binary the way a job would (cleared environment, a private HOME, no
//! docker daemon, the most verbose tracing), and afterwards proves that no secret
//! leaked: not to stdout or stderr, not into the argv or environment of any child it
//! spawned, not into any file it wrote other than the auth file the test asked for.
//!
//! What is scanned, and how:
//! - the secrets: values of well-known secret variables and token-shaped values, the
//!   variable `--password-env` names, secret entries of a `--variables-file`, and any
//!   the test adds; each in its own spelling, base64 (three alignments, standard and
//!   URL-safe), percent-encoded, JSON- and Rust-escaped;
//! - children: engines get a shim that records argv and environment, and, where
//!   `strace` works, every program the run executes is traced (argv and environment);
//! - files: those created or changed under the run's folder and under every folder the
//!   test points the binary at (HOME, DOCKER_CONFIG, TMPDIR, `--auth-file`, ...),
//!   compared with a snapshot taken before the run, so input files are not output.
//!
//! Not seen: a file created and deleted within the run, network traffic (the hostile
//! server tests check what reaches a server), and memory.
//!
//! Every end-to-end test runs the binary through [`ci_registry_login`], so the leak
//! scan covers the whole suite (`tests/suite/leak_scan.rs` checks both the scan and that).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use ci_registry_login::vars::parse_variables_file;
use ci_registry_login::yaml::FileVariable;
use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;

/// Engines a run may spawn, from the product's own engine table (a new engine is
/// recorded without a change here); each gets a recording shim in front of the real
/// program.
fn engine_programs() -> impl Iterator<Item = &'static str> {
    ci_registry_login::engines::ENGINES
        .iter()
        .filter(|row| row.is_program())
        .map(|row| row.name)
}

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
    stdin: Option<Vec<u8>>,
    secret_on_stdout: bool,
    job_environment: bool,
    /// The file system root the program runs in (`chroot`), when not the host's.
    root: Option<PathBuf>,
    /// Variables left unset, defaults included.
    unset: Vec<OsString>,
    /// The program's working directory, a folder inside the run; the run's own by default.
    cwd: Option<PathBuf>,
    /// The umask the program starts with; the test process's own by default.
    umask: Option<u32>,
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
            stdin: None,
            secret_on_stdout: false,
            job_environment: false,
            root: None,
            unset: Vec::new(),
            cwd: None,
            umask: None,
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

    /// Leaves a variable unset, even one the run sets by default (HOME, say).
    pub fn env_remove(mut self, name: impl Into<OsString>) -> Run {
        self.unset.push(name.into());
        self
    }

    /// Gives the run the `XDG_RUNTIME_DIR` a job has (podman refuses to work without
    /// one); returns containers' default auth file inside it.
    pub fn with_runtime_dir(self) -> (Run, PathBuf) {
        let runtime = self.path("xdg-run");
        std::fs::create_dir_all(&runtime).unwrap();
        let auth_json = runtime.join("containers/auth.json");
        (self.env("XDG_RUNTIME_DIR", runtime), auth_json)
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

    /// Bytes for the program's stdin (otherwise it reads nothing).
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Run {
        self.stdin = Some(input.into());
        self
    }

    /// For `helper get`, whose answer on stdout is the credential by protocol: stdout is
    /// not scanned; stderr, children and files still are.
    pub fn secret_expected_on_stdout(mut self) -> Run {
        self.secret_on_stdout = true;
        self
    }

    /// For a job's own tool (docker, skopeo) running the binary as its credential
    /// helper: the job's variables, secrets included, are in every process of a job by
    /// GitLab's design, so environments are not scanned; argv, output and files still are.
    pub fn in_job_environment(mut self) -> Run {
        self.job_environment = true;
        self
    }

    /// Runs the program (a path inside `root`) with `root` as its file system root, through
    /// `chroot` (needs root privileges). Paths in the environment and flags are then
    /// inside `root`, and the scan looks for written files there.
    pub fn chroot(mut self, root: impl Into<PathBuf>) -> Run {
        self.root = Some(root.into());
        self
    }

    /// Runs the program in a subfolder of the run, so that relative paths, `..` among
    /// them, stay inside the run's scanned folder.
    pub fn in_subfolder(mut self, name: &str) -> Run {
        let cwd = self.dir.path().join(name);
        std::fs::create_dir_all(&cwd).unwrap();
        self.cwd = Some(cwd);
        self
    }

    /// Starts the program with `mask` as its umask. Only the child's is set: the umask
    /// is per process, and every test of the suite shares this one.
    pub fn umask(mut self, mask: u32) -> Run {
        self.umask = Some(mask);
        self
    }

    fn working_dir(&self) -> PathBuf {
        self.cwd
            .clone()
            .unwrap_or_else(|| self.dir.path().to_path_buf())
    }

    /// Runs to completion and scans for leaks; panics naming the leak if there is one.
    pub fn run(mut self) -> Outcome {
        let env = self.effective_env();
        self.secrets
            .extend(secrets_given_indirectly(&self.args, &env));
        let roots = self.scanned_roots(&env);
        let before = snapshot(&roots);
        let trace = self.dir.path().join("trace/execve.log");
        let mut command = match &self.root {
            Some(root) => {
                let chroot = which("chroot").expect("chroot (coreutils) on PATH");
                let mut command = traced(&chroot, &trace);
                command.arg(root).arg(&self.program);
                command
            }
            None => traced(&self.program, &trace),
        };
        command
            .args(&self.args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .current_dir(self.working_dir());
        if let Some(mask) = self.umask {
            use std::os::unix::process::CommandExt;
            let mask = rustix::fs::Mode::from_bits_retain(mask);
            // SAFETY: umask(2) is async-signal-safe and allocates nothing, as a hook run
            // between fork and exec must.
            unsafe {
                command.pre_exec(move || {
                    rustix::process::umask(mask);
                    Ok(())
                });
            }
        }
        let mut child = command.spawn().expect("the binary runs");
        if let (Some(input), Some(mut pipe)) = (&self.stdin, child.stdin.take()) {
            use std::io::Write;
            // A program that exits without reading closes the pipe; its status tells.
            let _ = pipe.write_all(input);
        }
        let out = child.wait_with_output().expect("the binary runs");
        let outcome = Outcome {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            children: read_children(&self.dir.path().join("children")),
            dir: self.dir,
        };
        let scanned_stdout: &[u8] = if self.secret_on_stdout {
            b""
        } else {
            &out.stdout
        };
        let mut places = vec![
            ("stdout".to_string(), scanned_stdout.to_vec()),
            (
                "stderr (with RUST_LOG=trace)".to_string(),
                out.stderr.clone(),
            ),
        ];
        places.extend(shimmed_children(&outcome.children, self.job_environment));
        // The program's own exec, and chroot's before it, carry the test's input.
        let own_execs = 1 + usize::from(self.root.is_some());
        places.extend(traced_execs(&trace, own_execs, self.job_environment));
        places.extend(written_files(
            &roots,
            &before,
            outcome.dir.path(),
            &self.allowed,
        ));
        scan(&self.secrets, &places, &out.stderr);
        outcome
    }

    /// The environment the program gets: the run's defaults, then the test's variables
    /// (a later value for a name wins, as with `Command::env`).
    fn effective_env(&self) -> Vec<(OsString, OsString)> {
        let defaults: [(&str, OsString); 6] = [
            ("PATH", self.search_path()),
            ("HOME", self.home().into()),
            ("TMPDIR", self.dir.path().join("tmp").into()),
            ("DOCKER_HOST", "unix:///nonexistent.sock".into()),
            ("NO_COLOR", "1".into()),
            ("RUST_LOG", "trace".into()),
        ];
        let mut env: Vec<(OsString, OsString)> =
            defaults.into_iter().map(|(k, v)| (k.into(), v)).collect();
        for (name, value) in &self.env {
            env.retain(|(k, _)| k != name);
            env.push((name.clone(), value.clone()));
        }
        env.retain(|(k, _)| !self.unset.contains(k));
        env
    }

    /// Folders the program may write to: the run's own, and every folder the test
    /// pointed it at (a DOCKER_CONFIG elsewhere, `--auth-file /elsewhere/x.json`, ...).
    fn scanned_roots(&self, env: &[(OsString, OsString)]) -> Vec<PathBuf> {
        let folder_of = |file: &Path| self.host_path(file.parent().unwrap_or(file));
        let mut roots = vec![self.dir.path().to_path_buf()];
        for (name, value) in env {
            let Some(name) = name.to_str() else { continue };
            let path = Path::new(value);
            if FOLDER_VARS.contains(&name) {
                roots.push(self.host_path(path));
            } else if FILE_VARS.contains(&name) {
                roots.push(folder_of(path));
            }
        }
        for file in flag_values(&self.args, "--auth-file") {
            roots.push(folder_of(Path::new(&file)));
        }
        // `work/..` is the run's own folder: resolve it, so bookkeeping is recognised.
        for root in &mut roots {
            *root = lexically_normal(root);
        }
        let shared_temp = std::env::temp_dir();
        for root in &roots {
            assert!(
                root.is_absolute() && !shared_temp.starts_with(root),
                "the leak scan cannot cover {}: it holds other tests' files; point the run at a folder of its own",
                root.display()
            );
        }
        roots.sort();
        roots.dedup();
        roots
    }

    /// Where a path the program names is on the host. Relative paths are relative to
    /// the program's working directory: the run's folder, or `/` inside a chroot.
    fn host_path(&self, path: &Path) -> PathBuf {
        match &self.root {
            Some(root) => root.join(path.strip_prefix("/").unwrap_or(path)),
            None => self.working_dir().join(path),
        }
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
        for engine in engine_programs() {
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

/// `a/b/../c` as `a/c`, without asking the file system (the folder may not exist yet).
fn lexically_normal(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Variables naming a folder the program may write into.
const FOLDER_VARS: [&str; 7] = [
    "HOME",
    "DOCKER_CONFIG",
    "TMPDIR",
    "XDG_CONFIG_HOME",
    "XDG_RUNTIME_DIR",
    "CI_PROJECT_DIR",
    "CI_BUILDS_DIR",
];
/// Variables naming a file the program may write; its folder is scanned.
const FILE_VARS: [&str; 1] = ["REGISTRY_AUTH_FILE"];

/// Every value given for `flag`, as `--flag VALUE` or `--flag=VALUE`.
fn flag_values(args: &[OsString], flag: &str) -> Vec<OsString> {
    let mut values = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else { continue };
        if text == flag {
            values.extend(args.next().cloned());
        } else if let Some(value) = text.strip_prefix(flag).and_then(|v| v.strip_prefix('=')) {
            values.push(value.into());
        }
    }
    values
}

/// Secrets the test handed over without naming them: the variable `--password-env`
/// names, and secret-bearing entries of a `--variables-file` (read with the product's
/// own parser, so the scan knows exactly what the binary knows).
fn secrets_given_indirectly(args: &[OsString], env: &[(OsString, OsString)]) -> Vec<String> {
    let password_vars: Vec<String> = flag_values(args, "--password-env")
        .into_iter()
        .filter_map(|v| v.into_string().ok())
        .collect();
    let is_secret = |name: &str, value: &str| {
        let tokenish = ["glpat-", "gldt-", "glcbt-"]
            .iter()
            .any(|p| value.starts_with(p));
        (SECRET_VARS.contains(&name) || password_vars.iter().any(|v| v == name) || tokenish)
            && value.len() >= 8
    };
    let mut found = Vec::new();
    for (name, value) in env {
        if let (Some(name), Some(value)) = (name.to_str(), value.to_str())
            && is_secret(name, value)
        {
            found.push(value.to_string());
        }
    }
    for file in flag_values(args, "--variables-file") {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (name, value) in parse_variables_file(&text).unwrap_or_default() {
            if let FileVariable::Value(value) = value
                && is_secret(&name, &value)
            {
                found.push(value);
            }
        }
    }
    found
}

/// The forms a secret can leak in: itself; the stable middle of its standard and
/// URL-safe base64 at each of the three alignments it can have inside a longer value
/// (`user:secret` in an auth entry, say); and, when they differ from it, its
/// percent-encoded (a URL), JSON-escaped and Rust-escaped (`{:?}`) spellings.
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
    let percent: String = secret
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let json = serde_json::to_string(secret).unwrap();
    forms.push(percent);
    forms.push(json[1..json.len() - 1].to_string());
    forms.push(secret.escape_debug().to_string());
    forms.sort();
    forms.dedup();
    forms
}

/// Content fingerprints of every file under the roots, taken before the run.
fn snapshot(roots: &[PathBuf]) -> HashMap<PathBuf, u64> {
    files_under(roots)
        .into_iter()
        .filter_map(|file| {
            let bytes = std::fs::read(&file).ok()?;
            Some((file, fingerprint(&bytes)))
        })
        .collect()
}

fn fingerprint(bytes: &[u8]) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

/// Files the run created or changed, except the auth files the test allowed and the
/// run's own bookkeeping (shims, their logs, the exec trace). Files the test put there
/// beforehand (a variables file holding a secret, say) are input, not output.
fn written_files(
    roots: &[PathBuf],
    before: &HashMap<PathBuf, u64>,
    run_dir: &Path,
    allowed: &[PathBuf],
) -> Vec<(String, Vec<u8>)> {
    let allowed: Vec<PathBuf> = allowed
        .iter()
        .map(|p| p.canonicalize().unwrap_or_else(|_| p.clone()))
        .collect();
    let bookkeeping = ["shims", "children", "trace"].map(|d| run_dir.join(d));
    let mut places = Vec::new();
    for file in files_under(roots) {
        let canonical = file.canonicalize().unwrap_or_else(|_| file.clone());
        if allowed.contains(&canonical)
            || in_the_making(&canonical, &allowed)
            || bookkeeping.iter().any(|b| file.starts_with(b))
        {
            continue;
        }
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        if before.get(&file) != Some(&fingerprint(&bytes)) {
            places.push((format!("file {}", file.display()), bytes));
        }
    }
    places
}

/// The binary replaces an auth file by writing a `.ci-registry-login-*` sibling and
/// renaming it over the file: while another run writes the same allowed file at once
/// (the concurrency test), such a sibling is that file in the making. One left behind
/// is litter the tests check for themselves.
fn in_the_making(file: &Path, allowed: &[PathBuf]) -> bool {
    let temp_sibling = file
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(".ci-registry-login-"));
    temp_sibling && allowed.iter().any(|a| a.parent() == file.parent())
}

/// Their argv, and their environment unless the run is a job's (see `in_job_environment`).
fn shimmed_children(children: &[Child], job_environment: bool) -> Vec<(String, Vec<u8>)> {
    let mut places = Vec::new();
    for child in children {
        places.push((
            format!("argv of {}", child.program),
            child.argv.join("\n").into_bytes(),
        ));
        if job_environment {
            continue;
        }
        places.push((
            format!("environment of {}", child.program),
            child.env.join("\n").into_bytes(),
        ));
    }
    places
}

/// Whether `strace` can trace here (installed, and ptrace allowed); asked once.
fn strace() -> Option<&'static Path> {
    static STRACE: OnceLock<Option<PathBuf>> = OnceLock::new();
    STRACE
        .get_or_init(|| {
            let strace = which("strace").ok()?;
            let works = Command::new(&strace)
                .args(["-f", "-qq", "-e", "trace=execve", "-o", "/dev/null", "true"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            works.then_some(strace)
        })
        .as_deref()
}

/// Whether runs record every program the binary executes, not only shimmed engines.
pub fn exec_trace_available() -> bool {
    strace().is_some()
}

/// The program under `strace`, which logs the argv and environment of every program
/// it executes, shimmed or not. Without strace, only the shimmed engines are seen.
fn traced(program: &Path, log: &Path) -> Command {
    let Some(strace) = strace() else {
        return Command::new(program);
    };
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let mut command = Command::new(strace);
    command
        .args([
            "-f",
            "-qq",
            "-v",
            "-s",
            "4194304",
            "-e",
            "trace=execve",
            "-e",
            "signal=none",
            "-o",
        ])
        .arg(log)
        .arg("--")
        .arg(program);
    command
}

/// Every exec after the first `own` (the program's own), each as strace wrote it (C
/// escapes undone); `argv_only`: without the environment (`execve("p", [argv], [env])`).
fn traced_execs(log: &Path, own: usize, argv_only: bool) -> Vec<(String, Vec<u8>)> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|line| line.contains(" execve(\""))
        .skip(own)
        .map(|line| {
            let program = line
                .split('"')
                .nth(1)
                .and_then(|p| p.rsplit('/').next())
                .unwrap_or("?");
            let line = match line.find("\"], [") {
                Some(end) if argv_only => &line[..end + 2],
                _ => line,
            };
            (
                format!("argv or environment of {program} (exec trace)"),
                unescape_c(line),
            )
        })
        .collect()
}

/// strace's C string escapes (`\"`, `\\`, `\n`, `\t`, octal, `\x`) back to bytes.
fn unescape_c(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 == b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let (byte, used) = match b[i + 1] {
            b'n' => (b'\n', 2),
            b't' => (b'\t', 2),
            b'r' => (b'\r', 2),
            b'v' => (0x0b, 2),
            b'f' => (0x0c, 2),
            b'x' => {
                let hex = text.get(i + 2..i + 4).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => (v, 4),
                    Err(_) => (b'x', 2),
                }
            }
            b'0'..=b'7' => {
                let digits = b[i + 1..]
                    .iter()
                    .take(3)
                    .take_while(|d| (b'0'..=b'7').contains(d));
                let n = digits.count();
                let value = u32::from_str_radix(&text[i + 1..i + 1 + n], 8).unwrap_or(0);
                (value as u8, 1 + n)
            }
            other => (other, 2),
        };
        out.push(byte);
        i += used;
    }
    out
}

/// Panics naming the first place any form of any secret appears in.
fn scan(secrets: &BTreeSet<String>, places: &[(String, Vec<u8>)], stderr: &[u8]) {
    for secret in secrets {
        for form in leak_forms(secret) {
            for (place, bytes) in places {
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

fn files_under(roots: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = roots.to_vec();
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => {
                    out.insert(path);
                }
                _ => {}
            }
        }
    }
    out.into_iter().collect()
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
