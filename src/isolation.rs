//! Per-job isolation: the job's credentials live in a private folder of its own, so jobs
//! that share a machine (shell and ssh executors) never read, clobber or inherit each
//! other's, and a dead job token is not left behind in `~/.docker/config.json`.
//!
//! The folder is named after `CI_JOB_ID`; it is created with mode 0700 and reused only
//! when it is a real folder of ours that nobody else can enter, since a folder under a
//! shared temp directory can be made in advance by another user to catch credentials.

use crate::error::{FsError, fs_error};
use crate::safe_fs;
use crate::vars::{VarError, Vars};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The folder's name before the job id.
const PREFIX: &str = "ci-registry-login-job-";

#[derive(Debug, thiserror::Error)]
pub enum IsolationError {
    #[error(
        "--isolate names the job's folder after CI_JOB_ID, which is not set: run in a GitLab job, or pass --no-isolate"
    )]
    NoJobId,
    #[error("{name} '{value}' is not a job id (letters, digits, '-' and '_', at most 64)")]
    BadJobId { name: String, value: String },
    #[error("{name} '{value}' must be an absolute path without control characters")]
    BadBuildsDir { name: String, value: String },
    #[error(
        "{path} exists but is not a private folder of this user (a symlink, another owner, or open to others): it is left alone; remove it or choose another CI_BUILDS_DIR"
    )]
    NotOurs { path: String },
    #[error("--env-file-out '{path}' {problem}")]
    EnvFile { path: String, problem: String },
    #[error(transparent)]
    Var(#[from] VarError),
    #[error(transparent)]
    Io(#[from] FsError),
}

/// `$CI_BUILDS_DIR/ci-registry-login-job-<CI_JOB_ID>`, else the same under `temp`.
pub fn job_folder(vars: &Vars, temp: &Path) -> Result<PathBuf, IsolationError> {
    let id = vars.setting("CI_JOB_ID")?.ok_or(IsolationError::NoJobId)?;
    let id_ok = id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !id_ok {
        return Err(IsolationError::BadJobId {
            name: vars.describe("CI_JOB_ID"),
            value: crate::text::sanitize(id, 80),
        });
    }
    let base = match vars.setting("CI_BUILDS_DIR")? {
        Some(dir) => {
            if !dir.starts_with('/') || dir.chars().any(char::is_control) {
                return Err(IsolationError::BadBuildsDir {
                    name: vars.describe("CI_BUILDS_DIR"),
                    value: crate::text::sanitize(dir, 200),
                });
            }
            PathBuf::from(dir)
        }
        None => temp.to_path_buf(),
    };
    Ok(base.join(format!("{PREFIX}{id}")))
}

/// Creates the folder (0700), or accepts it when it is already a private folder of ours.
/// Missing parents are made 0700 too, whatever the umask. The folder is checked on its
/// descriptor (opened without following a link), and again under its lock by whatever
/// writes in it ([`crate::auth_file::Folder::Private`]).
pub fn prepare(folder: &Path) -> Result<(), IsolationError> {
    let not_ours = || IsolationError::NotOurs {
        path: folder.display().to_string(),
    };
    let (parent, name) = safe_fs::split(folder).ok_or_else(not_ours)?;
    safe_fs::create_private_dir_all(&parent)?;
    let parent_fd = safe_fs::open_dir(&parent)?;
    let created = match rustix::fs::mkdirat(&parent_fd, &name, Mode::from_raw_mode(0o700)) {
        Ok(()) => true,
        Err(Errno::EXIST) => false,
        Err(e) => return Err(fs_error(folder, "cannot create the folder")(e.into()).into()),
    };
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(&parent_fd, &name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::LOOP | Errno::NOTDIR) => return Err(not_ours()),
        Err(e) => return Err(fs_error(folder, "cannot open the folder")(e.into()).into()),
    };
    let st = rustix::fs::fstat(&fd).map_err(|e| fs_error(folder, "cannot inspect")(e.into()))?;
    if created && st.st_uid == safe_fs::euid() {
        // mkdir's 0700 less the umask: put back what the umask took (it never adds).
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o700))
            .map_err(|e| fs_error(folder, "cannot set permissions")(e.into()))?;
    }
    safe_fs::check_private_dir(&fd, folder).map_err(|_| not_ours())
}

/// Removes the folder; `Ok(false)` when there was none.
pub fn remove(folder: &Path) -> Result<bool, IsolationError> {
    match fs::symlink_metadata(folder) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(fs_error(folder, "cannot inspect")(e).into()),
        Ok(_) => check_ours(folder)?,
    }
    fs::remove_dir_all(folder).map_err(fs_error(folder, "cannot remove"))?;
    Ok(true)
}

fn check_ours(folder: &Path) -> Result<(), IsolationError> {
    let meta = fs::symlink_metadata(folder).map_err(fs_error(folder, "cannot inspect"))?;
    let private = meta.file_type().is_dir()
        && meta.permissions().mode() & 0o077 == 0
        && effective_uid().is_none_or(|uid| uid == meta.uid());
    if private {
        Ok(())
    } else {
        Err(IsolationError::NotOurs {
            path: folder.display().to_string(),
        })
    }
}

/// The effective user id.
pub fn effective_uid() -> Option<u32> {
    Some(safe_fs::euid())
}

/// The variables a job sets to use the folder: docker reads `DOCKER_CONFIG`; podman,
/// buildah and skopeo read `REGISTRY_AUTH_FILE` (docker's format suits them).
pub fn variables(folder: &Path) -> [(&'static str, String); 2] {
    [
        ("DOCKER_CONFIG", folder.display().to_string()),
        (
            "REGISTRY_AUTH_FILE",
            folder.join("config.json").display().to_string(),
        ),
    ]
}

/// `export NAME='value'` lines for `eval`, quoted for any POSIX shell.
pub fn export_lines(folder: &Path) -> String {
    variables(folder)
        .iter()
        .map(|(name, value)| format!("export {name}='{}'\n", value.replace('\'', r"'\''")))
        .collect()
}

/// Writes the variables into a dotenv file, keeping its other lines (GitLab's dotenv
/// reports take values verbatim, so they are not quoted). The file is a job's artifact
/// and may be planted by the job's own repository: it is never read or replaced through
/// a symbolic link (a committed `build.env -> /proc/self/environ` would publish the
/// job's secrets), and only a regular file of this user, of a sane size, is read.
pub fn write_env_file(file: &Path, folder: &Path) -> Result<(), IsolationError> {
    let refused = |problem: safe_fs::Problem| IsolationError::EnvFile {
        path: crate::text::sanitize(&file.to_string_lossy(), 200),
        problem: problem.describe(),
    };
    let (dir_path, name) =
        safe_fs::split(file).ok_or_else(|| refused(safe_fs::Problem::NotRegular("a folder")))?;
    let dir = safe_fs::open_dir(&dir_path)?;
    let existing = match safe_fs::read_regular(&dir, &name, file) {
        Ok(found) => found,
        Err(safe_fs::SafeFsError::Refused { problem, .. }) => return Err(refused(problem)),
        Err(safe_fs::SafeFsError::Io(e)) => return Err(e.into()),
    };
    let ours = variables(folder);
    let text = existing
        .as_ref()
        .map(|c| String::from_utf8_lossy(&c.bytes).into_owned());
    let mut text: String = text
        .iter()
        .flat_map(|t| t.lines())
        .filter(|line| {
            !ours
                .iter()
                .any(|(name, _)| line.starts_with(&format!("{name}=")))
        })
        .map(|line| format!("{line}\n"))
        .collect();
    for (name, value) in &ours {
        text.push_str(&format!("{name}={value}\n"));
    }
    // The existing file was just checked to be this user's own: its mode is kept.
    let mode = existing.map_or(0o644, |c| c.stat.st_mode & 0o7777);
    safe_fs::write_atomically(&dir, &name, text.as_bytes(), mode, file).map_err(|e| match e {
        safe_fs::WriteError::Create(e) => fs_error(&dir_path, "cannot write in")(e).into(),
        safe_fs::WriteError::Other(e) => e.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_is_named_after_the_job_under_the_builds_dir() {
        let temp = Path::new("/tmp");
        let vars = Vars::from_pairs([("CI_JOB_ID", "1234"), ("CI_BUILDS_DIR", "/builds")]);
        assert_eq!(
            job_folder(&vars, temp).unwrap(),
            PathBuf::from("/builds/ci-registry-login-job-1234")
        );
        let vars = Vars::from_pairs([("CI_JOB_ID", "1234")]);
        assert_eq!(
            job_folder(&vars, temp).unwrap(),
            PathBuf::from("/tmp/ci-registry-login-job-1234")
        );
    }

    #[test]
    fn hostile_job_ids_and_builds_dirs_are_refused() {
        let temp = Path::new("/tmp");
        for id in ["../../etc", "1/2", "a b", ""] {
            let vars = Vars::from_pairs([("CI_JOB_ID", id)]);
            assert!(job_folder(&vars, temp).is_err(), "{id:?}");
        }
        let vars = Vars::from_pairs([("CI_JOB_ID", "1"), ("CI_BUILDS_DIR", "builds")]);
        assert!(matches!(
            job_folder(&vars, temp),
            Err(IsolationError::BadBuildsDir { .. })
        ));
    }

    #[test]
    fn a_folder_open_to_others_or_a_symlink_is_not_reused() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("job");
        prepare(&folder).unwrap();
        assert_eq!(
            fs::metadata(&folder).unwrap().permissions().mode() & 0o777,
            0o700
        );
        prepare(&folder).unwrap();
        fs::set_permissions(&folder, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(matches!(
            prepare(&folder),
            Err(IsolationError::NotOurs { .. })
        ));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path(), &link).unwrap();
        assert!(matches!(
            prepare(&link),
            Err(IsolationError::NotOurs { .. })
        ));
        assert!(matches!(remove(&link), Err(IsolationError::NotOurs { .. })));
        assert!(link.exists(), "the link's target is left alone");
    }

    #[test]
    fn exports_are_quoted_and_the_env_file_keeps_other_lines() {
        assert_eq!(
            export_lines(Path::new("/b/it's")),
            "export DOCKER_CONFIG='/b/it'\\''s'\nexport REGISTRY_AUTH_FILE='/b/it'\\''s/config.json'\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("build.env");
        fs::write(&file, "OTHER=1\nDOCKER_CONFIG=/old\n").unwrap();
        write_env_file(&file, Path::new("/b/job")).unwrap();
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            "OTHER=1\nDOCKER_CONFIG=/b/job\nREGISTRY_AUTH_FILE=/b/job/config.json\n"
        );
    }

    /// Issue 11, finding 5, at write time: a link planted after the flags were checked
    /// is not followed; neither its target nor the link changes.
    #[test]
    fn the_env_file_is_never_read_or_written_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        fs::write(&secret, "CI_JOB_TOKEN=x\n").unwrap();
        let file = dir.path().join("build.env");
        std::os::unix::fs::symlink(&secret, &file).unwrap();
        let err = write_env_file(&file, Path::new("/b/job")).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("is a symbolic link; name a regular file"),
            "{err}"
        );
        assert!(err.to_string().starts_with("--env-file-out '"), "{err}");
        assert_eq!(fs::read_to_string(&secret).unwrap(), "CI_JOB_TOKEN=x\n");
        assert!(
            fs::symlink_metadata(&file)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
}
