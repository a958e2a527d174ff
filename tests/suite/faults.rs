//! Faults in the middle of a login: the engine dies, the disk is full or read-only,
//! another writer replaces the config while this one waits for the lock, ten jobs write
//! at once, an earlier run was killed mid-write. Whatever happens, nothing half-written
//! remains and the file is either the old one, intact, or the old one plus this login.

use crate::support::assert_contains;

use crate::support::run::{Outcome, Run, ci_registry_login};
use crate::support::{TestBed, read_json};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const QUICK: [&str; 6] = [
    "--retries",
    "2",
    "--timeout",
    "5s",
    "--retry-timeout",
    "10s",
];

/// What the config held before: another registry, a helper, a key we do not know.
const EXISTING: &str = r#"{
  "auths": {
    "other.example.com": {
      "auth": "b3RoZXI6c2VjcmV0"
    }
  },
  "credHelpers": {
    "gcr.io": "gcloud"
  },
  "futureKey": [1, 2, 3]
}
"#;

fn job(bed: &TestBed) -> Run {
    ci_registry_login()
        .envs(bed.ci_job_env("group/app"))
        .args(QUICK)
}

/// The names in a folder, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------
// The engine dies.

/// A folder holding a `docker` that runs `script`.
fn fake_docker(script: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docker");
    fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// `run` with the fake docker first on PATH, and `EXISTING` as the docker config.
fn with_docker(run: Run, fake: &tempfile::TempDir) -> Run {
    let system = std::env::var("PATH").unwrap_or_default();
    let config_dir = run.home().join(".docker");
    fs::create_dir_all(&config_dir).unwrap();
    fs::write(config_dir.join("config.json"), EXISTING).unwrap();
    run.args(["--engine", "docker"])
        .env("PATH", format!("{}:{system}", fake.path().display()))
}

fn config_unchanged(out: &Outcome) {
    assert_eq!(
        fs::read_to_string(out.docker_config()).unwrap(),
        EXISTING,
        "the config changed"
    );
    assert_eq!(names(&out.home().join(".docker")), ["config.json"]);
}

#[test]
fn an_engine_killed_mid_login_is_an_engine_failure_and_changes_nothing() {
    let bed = TestBed::start();
    // Killed after reading the secret, and before (the secret's write then fails).
    for script in ["cat > /dev/null\nkill -KILL $$", "kill -KILL $$"] {
        let fake = fake_docker(script);
        let out = with_docker(job(&bed), &fake).run().expect_code(6);
        assert_contains(out.said(), "killed by a signal");
        config_unchanged(&out);
    }
}

#[test]
fn an_engine_that_never_finishes_is_stopped() {
    let bed = TestBed::start();
    let fake = fake_docker("exec sleep 3600");
    let run = ci_registry_login().envs(bed.ci_job_env("group/app")).args([
        "--retries",
        "1",
        "--timeout",
        "5s",
        "--retry-timeout",
        "2s",
    ]);
    let out = with_docker(run, &fake).run().expect_code(6);
    assert_contains(out.said(), "did not finish within 2s");
    config_unchanged(&out);
}

// ---------------------------------------------------------------------------
// The disk is full, or read-only.

/// A tmpfs on a folder of its own, unmounted before the folder is removed.
struct Tmpfs {
    // Dropped after the unmount in `drop`: fields drop after the struct's own `drop`.
    folder: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts one, or says why it cannot (not root, no CAP_SYS_ADMIN).
    fn mount(options: &str) -> Result<Tmpfs, String> {
        let folder = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(folder.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Tmpfs { folder })
    }

    fn dir(&self) -> &Path {
        self.folder.path()
    }

    fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(self.dir())
            .status()
            .unwrap();
        assert!(status.success(), "remount {options}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir()).status();
    }
}

/// Fills a file system: one file grows until the device says it is full.
fn fill(dir: &Path) {
    use std::io::Write;
    let mut filler = fs::File::create(dir.join("filler")).unwrap();
    let block = vec![0u8; 4096];
    while filler.write_all(&block).is_ok() {}
}

/// A 64 KiB tmpfs with `EXISTING` as its `config.json`, or why none can be mounted.
fn config_on_tmpfs() -> Result<(Tmpfs, PathBuf), String> {
    let tmpfs = Tmpfs::mount("size=64k,mode=0700")?;
    let config = tmpfs.dir().join("config.json");
    fs::write(&config, EXISTING).unwrap();
    Ok((tmpfs, config))
}

#[test]
fn a_full_disk_keeps_the_old_file_and_leaves_no_temporary_file() {
    let bed = TestBed::start();
    let run = job(&bed).args(["--engine", "auth-file"]);
    let (tmpfs, config) = match config_on_tmpfs() {
        Ok(mounted) => mounted,
        Err(why) => {
            eprintln!("no tmpfs ({why}): the full-disk case is not run on this machine");
            return;
        }
    };
    eprintln!("disk full: a 64 KiB tmpfs mounted with mount(8)");
    fill(tmpfs.dir());
    let out = run
        .args(["--auth-file"])
        .arg(&config)
        .allow_secret_in(&config)
        .run()
        .expect_code(6);
    assert_contains(out.said(), "No space left on device");
    assert_eq!(fs::read_to_string(&config).unwrap(), EXISTING);
    assert_eq!(names(tmpfs.dir()), ["config.json", "filler"]);
}

#[test]
fn a_read_only_file_system_keeps_the_old_file() {
    let bed = TestBed::start();
    let run = job(&bed).args(["--engine", "auth-file"]);
    match config_on_tmpfs() {
        Ok((tmpfs, config)) => {
            eprintln!("read-only: a tmpfs remounted read-only with mount(8)");
            tmpfs.remount("ro");
            let out = run.args(["--auth-file"]).arg(&config).run().expect_code(2);
            assert_contains(out.said(), "read-only");
            assert_eq!(fs::read_to_string(&config).unwrap(), EXISTING);
            assert_eq!(names(tmpfs.dir()), ["config.json"]);
        }
        Err(why) if fs::metadata("/proc/self").unwrap().uid() == 0 => {
            // Root ignores permissions, and cannot mount here: nothing to try.
            eprintln!("no tmpfs ({why}) and root ignores permissions: not run on this machine");
        }
        Err(why) => {
            // Without mount(8): a folder without write permission.
            eprintln!("no tmpfs ({why}): a folder without write permission instead");
            let dir = run.path("read-only");
            fs::create_dir_all(&dir).unwrap();
            let config = dir.join("config.json");
            fs::write(&config, EXISTING).unwrap();
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).unwrap();
            let out = run.args(["--auth-file"]).arg(&config).run();
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
            assert_eq!(out.code(), 2, "{}", out.said());
            assert_eq!(fs::read_to_string(&config).unwrap(), EXISTING);
        }
    }
}

// ---------------------------------------------------------------------------
// Other writers.

/// Waits until some process waits for an exclusive flock on `dir` (its entry in
/// /proc/locks carries `->`): the binary is then blocked on the lock the test holds.
/// A condition, polled; no elapsed time is asserted (the limit only ends a broken run).
fn wait_until_blocked_on(dir: &Path) {
    let inode = fs::metadata(dir).unwrap().ino();
    let needle = format!(":{inode} ");
    let limit = Instant::now() + Duration::from_secs(120);
    loop {
        let locks = fs::read_to_string("/proc/locks").unwrap();
        if locks
            .lines()
            .any(|l| l.contains("->") && l.contains("FLOCK") && l.contains(&needle))
        {
            return;
        }
        assert!(
            Instant::now() < limit,
            "the binary never waited for the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_config_replaced_while_waiting_for_the_lock_keeps_the_replacement() {
    let bed = TestBed::start();
    let run = job(&bed).args(["--engine", "auth-file"]);
    let dir = run.home().join(".docker");
    fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.json");
    fs::write(&config, EXISTING).unwrap();
    let run = run.allow_secret_in(&config);

    // Another writer holds the folder's lock, as a concurrent login would.
    let held = fs::File::open(&dir).unwrap();
    held.lock().unwrap();
    let login = std::thread::spawn(move || run.run());
    wait_until_blocked_on(&dir);
    // While the binary waits, the other writer replaces the file (new inode, as docker
    // does) with content that drops one registry and adds another.
    let replacement =
        r#"{"auths":{"replaced.example.com":{"auth":"cmVwbGFjZWQ6eA=="}},"credsStore":"pass"}"#;
    let temp = dir.join("config.json.other-writer");
    fs::write(&temp, replacement).unwrap();
    fs::rename(&temp, &config).unwrap();
    held.unlock().unwrap();
    drop(held);

    let out: Outcome = login.join().unwrap().expect_code(0);
    let after = read_json(&config);
    let registry = bed.registry().host_port();
    assert!(after["auths"][&registry]["auth"].is_string(), "{after}");
    assert_eq!(
        after["auths"]["replaced.example.com"]["auth"],
        "cmVwbGFjZWQ6eA=="
    );
    assert_eq!(after["credsStore"], "pass");
    // What only the old file had is gone: the replacement was read, not a stale copy.
    assert!(after["auths"].get("other.example.com").is_none(), "{after}");
    assert!(after.get("futureKey").is_none(), "{after}");
    assert_eq!(names(&out.home().join(".docker")), ["config.json"]);
}

#[test]
fn a_writer_killed_mid_write_leaves_nothing_behind_after_the_next_login() {
    let bed = TestBed::start();
    let run = job(&bed).args(["--engine", "auth-file"]);
    let dir = run.home().join(".docker");
    fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.json");
    fs::write(&config, EXISTING).unwrap();
    // What a run killed between writing its temporary file and renaming it leaves:
    // half a config, a credential in it.
    let leftover = dir.join(".ci-registry-login-Xq3vZ9");
    fs::write(
        &leftover,
        r#"{"auths":{"127.0.0.1:1":{"auth":"aGFsZjp3cml0"#,
    )
    .unwrap();
    let out = run.allow_secret_in(&config).run().expect_code(0);
    assert_eq!(names(&out.home().join(".docker")), ["config.json"]);
    assert_eq!(read_json(&config)["credHelpers"]["gcr.io"], "gcloud");
}
