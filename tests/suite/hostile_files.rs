//! End to end, issue 11 (file handling): files a job's repository or another user can
//! plant where the binary reads or writes. Each test reproduces one finding of the
//! issue with the real binary, and shows the attack now fails. No registry is needed
//! (`--no-verify`), and every run is leak-scanned as usual.

use crate::support::assert_contains;
use crate::support::run::{Outcome, Run, ci_registry_login};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

const PASSWORD: &str = "glpat-hostile-files-Qv7Lm2Xk9";
const JOB_TOKEN: &str = "glcbt-64_hostile-files-Zr4Wn8Tb1";
const REGISTRY: &str = "127.0.0.1:5999";

/// A login that needs no registry: an explicit credential, not checked live, written
/// by the auth-file engine. The job token is in the environment too, as in a job.
fn login(run: Run) -> Run {
    run.env("REGISTRY_USER", "alice")
        .env("REGISTRY_PASSWORD", PASSWORD)
        .env("CI_JOB_TOKEN", JOB_TOKEN)
        .args([
            "--no-verify",
            "--engine",
            "auth-file",
            "--registry",
            REGISTRY,
        ])
}

/// The same, isolated in `CI_BUILDS_DIR=builds` as on a shell executor; returns the
/// job's folder.
fn isolated(run: Run, builds: &Path) -> (Run, PathBuf) {
    let folder = builds.join("ci-registry-login-job-77");
    let run = login(run)
        .env("CI_JOB_ID", "77")
        .env("CI_BUILDS_DIR", builds)
        .arg("--isolate");
    (run, folder)
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo (coreutils)");
    assert!(status.success());
}

/// Runs `run`, failing the test if it has not finished within a minute (it would be
/// blocked on `fifo`). The limit only ends a broken run: no timing is asserted. A
/// blocked binary is then released (a writer opens the FIFO, writes `{}` and closes
/// it) so that it exits instead of outliving the test.
fn run_unless_blocked(run: Run, fifo: &Path) -> Outcome {
    let (sender, receiver) = mpsc::channel();
    let runner = std::thread::spawn(move || {
        let _ = sender.send(run.run());
    });
    match receiver.recv_timeout(Duration::from_secs(60)) {
        Ok(outcome) => outcome,
        Err(RecvTimeoutError::Disconnected) => {
            // The runner panicked (a leak, say): show its panic.
            std::panic::resume_unwind(runner.join().unwrap_err())
        }
        Err(RecvTimeoutError::Timeout) => {
            if let Ok(mut writer) = fs::OpenOptions::new().read(true).write(true).open(fifo) {
                let _ = writer.write_all(b"{}");
            }
            panic!(
                "the binary was still blocked on the FIFO {} after 60 s",
                fifo.display()
            );
        }
    }
}

/// Finding 5: a committed `build.env -> /proc/self/environ` (or a link to any file
/// holding a secret) as `--env-file-out` put CI_JOB_TOKEN and CI_REGISTRY_PASSWORD into
/// the dotenv the job publishes. Now refused before the login, naming the flag; the
/// link and its target stay as they were, and no secret reaches output or any file.
#[test]
fn finding_5_an_env_file_that_is_a_link_is_refused() {
    let run = ci_registry_login();
    let secret_file = run.path("secrets.txt");
    let secret_text = format!("CI_JOB_TOKEN={JOB_TOKEN}\n");
    fs::write(&secret_file, &secret_text).unwrap();
    for target in [PathBuf::from("/proc/self/environ"), secret_file.clone()] {
        let run = ci_registry_login();
        let builds = run.path("builds");
        let link = run.path("build.env");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let (run, folder) = isolated(run, &builds);
        let out = run
            .args(["--env-file-out", "build.env"])
            .run()
            .expect_code(2);
        assert_contains(
            out.said(),
            "--env-file-out 'build.env' is a symbolic link; name a regular file",
        );
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(!folder.exists(), "refused before the login");
        assert!(!out.stdout.contains("export"), "{}", out.stdout);
    }
    assert_eq!(fs::read_to_string(&secret_file).unwrap(), secret_text);
}

/// Finding 5, the env file's other disguises: a FIFO (which blocked) and a file of
/// another user are refused too; the login's own file is never read through them.
#[test]
fn finding_5_an_env_file_that_is_a_fifo_is_refused_without_blocking() {
    let run = ci_registry_login();
    let builds = run.path("builds");
    let fifo = run.path("build.env");
    mkfifo(&fifo);
    let (run, _) = isolated(run, &builds);
    let out = run_unless_blocked(run.args(["--env-file-out", "build.env"]), &fifo).expect_code(2);
    assert_contains(out.said(), "--env-file-out 'build.env' is a FIFO");
}

/// A docker config folder whose `config.json` is a FIFO nobody writes to.
fn fifo_config(run: &Run) -> (PathBuf, PathBuf) {
    let dir = run.path("docker-config");
    fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("config.json");
    mkfifo(&fifo);
    (dir, fifo)
}

/// Finding 8: a FIFO as the docker config hung `login` forever, holding the folder's
/// lock. Now it fails at once with exit 2, naming the file and what it is.
#[test]
fn finding_8_a_fifo_as_the_config_fails_login_at_once() {
    let run = ci_registry_login();
    let (dir, fifo) = fifo_config(&run);
    let out = run_unless_blocked(login(run).env("DOCKER_CONFIG", &dir), &fifo).expect_code(2);
    assert_contains(
        out.said(),
        "config.json is a FIFO (named pipe), not a regular file",
    );
    assert!(
        !out.said().contains("Os {"),
        "no Debug text: {}",
        out.said()
    );
}

/// Finding 8, the readers: `plan` (an earlier docker login is a local run's last
/// candidate) and `helper get` (registries installed for the helper) read the docker
/// config too, and hung. Now they go on without it and say why.
#[test]
fn finding_8_a_fifo_as_the_config_does_not_hang_plan_or_helper_get() {
    let run = ci_registry_login();
    let (dir, fifo) = fifo_config(&run);
    let out = run_unless_blocked(
        run.env("DOCKER_CONFIG", &dir)
            .env("REGISTRY_USER", "alice")
            .env("REGISTRY_PASSWORD", PASSWORD)
            .args(["plan", "--registry", REGISTRY]),
        &fifo,
    )
    .expect_code(0);
    assert_contains(out.said(), "config.json is a FIFO (named pipe)");

    let run = ci_registry_login();
    let (dir, fifo) = fifo_config(&run);
    let out = run_unless_blocked(
        run.env("DOCKER_CONFIG", &dir)
            .env("CI_REGISTRY", REGISTRY)
            .args(["helper", "get"])
            .stdin("other.example.com\n"),
        &fifo,
    )
    .expect_code(1);
    // The protocol keeps quiet on stderr, which docker shows on every call: a warning
    // in the log (on by default) names the file.
    assert_contains(&out.stderr, "config.json is a FIFO (named pipe)");
    assert_contains(&out.stdout, "credentials not found");
}

/// Finding 8: `/dev/zero` as the config (through a link) was read until memory ran out;
/// a huge regular file is not read either.
#[test]
fn finding_8_a_device_or_an_oversized_config_is_refused() {
    let run = ci_registry_login();
    let dir = run.path("docker-config");
    fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("config.json")).unwrap();
    let out = login(run).env("DOCKER_CONFIG", &dir).run().expect_code(2);
    assert_contains(
        out.said(),
        "config.json -> /dev/zero is a device, not a regular file",
    );

    let run = ci_registry_login();
    let dir = run.path("docker-config");
    fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.json");
    // Sparse: 5 MiB that take no disk.
    fs::File::create(&config).unwrap().set_len(5 << 20).unwrap();
    let out = login(run).env("DOCKER_CONFIG", &dir).run().expect_code(2);
    assert_contains(out.said(), "is larger than 4 MiB");
    assert_eq!(fs::metadata(&config).unwrap().len(), 5 << 20);
}

/// Finding 7: under `umask 000` the builds folder's missing parents were made 0777, so
/// another user could swap the job's folder. Now every folder made is 0700 and the auth
/// file 0600, whatever the umask.
#[test]
fn finding_7_folders_and_files_are_private_whatever_the_umask() {
    let run = ci_registry_login();
    let builds = run.path("builds/nested");
    let (run, folder) = isolated(run, &builds);
    let config = folder.join("config.json");
    // Only the binary's umask: the test process's is shared by every test of the suite.
    let run = run.allow_secret_in(&config).umask(0);
    let _kept = run.run().expect_code(0);
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for made in [builds.parent().unwrap(), &builds, &folder] {
        assert_eq!(mode(made), 0o700, "{}", made.display());
    }
    assert_eq!(mode(&config), 0o600);
}

/// Finding 7: a job folder another user made in advance (or swapped in) is never used,
/// even when it looks private; nor one that is a link to a private folder.
#[test]
fn finding_7_a_job_folder_of_another_user_or_a_link_is_refused() {
    let run = ci_registry_login();
    let builds = run.path("builds");
    let (run, folder) = isolated(run, &builds);
    fs::create_dir_all(&folder).unwrap();
    fs::set_permissions(&folder, fs::Permissions::from_mode(0o700)).unwrap();
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::chown(&folder, Some(65534), Some(65534)).unwrap();
        let out = run.run().expect_code(2);
        assert_contains(out.said(), "is not a private folder of this user");
        assert_eq!(fs::read_dir(&folder).unwrap().count(), 0);
    } else {
        crate::support::skipped(
            "finding_7_a_job_folder_of_another_user_or_a_link_is_refused",
            "not root: cannot give a folder to another user (the link case still runs)",
        );
    }

    let run = ci_registry_login();
    let builds = run.path("builds");
    let elsewhere = run.path("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    fs::set_permissions(&elsewhere, fs::Permissions::from_mode(0o700)).unwrap();
    let (run, folder) = isolated(run, &builds);
    fs::create_dir_all(&builds).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &folder).unwrap();
    let out = run.run().expect_code(2);
    assert_contains(out.said(), "is not a private folder of this user");
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
}

/// What the docker config held before.
const EXISTING: &str = "{\n  \"auths\": {\n    \"other.example.com\": {\n      \"auth\": \"b3RoZXI6eA==\"\n    }\n  }\n}\n";

/// Sets up the files of one way to name the auth file again; returns the flags.
type Spelling = Box<dyn Fn(&Run) -> Vec<String>>;

/// Finding 12: `--report` naming the auth file replaced config.json with the report
/// after a successful login (exit 0): every stored credential lost. Now refused before
/// anything happens, however the same file is spelled: the same path, `..`, the default
/// `~/.docker/config.json`, a hard link; config.json keeps its bytes.
#[test]
fn finding_12_a_report_naming_the_auth_file_is_refused() {
    let spellings: [(&str, Spelling); 4] = [
        (
            "--auth-file",
            Box::new(|run: &Run| {
                let file = run.path("auth.json");
                fs::write(&file, EXISTING).unwrap();
                vec![
                    "--auth-file".into(),
                    file.display().to_string(),
                    "--report".into(),
                    file.display().to_string(),
                ]
            }),
        ),
        (
            "--auth-file",
            Box::new(|run: &Run| {
                let file = run.path("auth.json");
                fs::write(&file, EXISTING).unwrap();
                vec![
                    "--auth-file".into(),
                    "auth.json".into(),
                    "--report".into(),
                    "tmp/../auth.json".into(),
                ]
            }),
        ),
        (
            "the auth file",
            Box::new(|run: &Run| {
                let file = run.home().join(".docker/config.json");
                fs::create_dir_all(file.parent().unwrap()).unwrap();
                fs::write(&file, EXISTING).unwrap();
                vec!["--report".into(), file.display().to_string()]
            }),
        ),
        (
            "the auth file",
            Box::new(|run: &Run| {
                let file = run.home().join(".docker/config.json");
                fs::create_dir_all(file.parent().unwrap()).unwrap();
                fs::write(&file, EXISTING).unwrap();
                fs::hard_link(&file, run.path("report.env")).unwrap();
                vec!["--report".into(), "report.env".into()]
            }),
        ),
    ];
    for (what, args) in spellings {
        let run = ci_registry_login();
        let args = args(&run);
        let files = [
            run.path("auth.json"),
            run.home().join(".docker/config.json"),
        ];
        let out = login(run).args(&args).run().expect_code(2);
        assert_contains(
            out.said(),
            format!("--report '{}' is {what}", args[args.len() - 1]),
        );
        for file in files.iter().filter(|f| f.exists()) {
            assert_eq!(fs::read_to_string(file).unwrap(), EXISTING, "{args:?}");
        }
    }
}

/// Finding 12's sibling: `--report` and `--env-file-out` naming one file would each
/// overwrite the other. Refused with exit 2, naming both flags, before the login.
#[test]
fn finding_12_a_report_naming_the_env_file_is_refused() {
    let run = ci_registry_login();
    let builds = run.path("builds");
    let (run, folder) = isolated(run, &builds);
    let out = run
        .args(["--env-file-out", "job.env", "--report", "./job.env"])
        .run()
        .expect_code(2);
    assert_contains(
        out.said(),
        "--report './job.env' and --env-file-out 'job.env' name the same file",
    );
    assert!(!folder.exists(), "refused before the login");
}

/// Finding 12: a report that is a link is refused, not written through (it would have
/// replaced the link's target, the docker config included).
#[test]
fn finding_12_a_report_that_is_a_link_is_refused() {
    let run = ci_registry_login();
    let target = run.path("elsewhere.env");
    fs::write(&target, "KEEP=1\n").unwrap();
    std::os::unix::fs::symlink(&target, run.path("report.env")).unwrap();
    let out = login(run)
        .args(["--report", "report.env"])
        .run()
        .expect_code(2);
    assert_contains(
        out.said(),
        "--report 'report.env' is a symbolic link; name a regular file",
    );
    assert_eq!(fs::read_to_string(&target).unwrap(), "KEEP=1\n");
}
