//! Per-job isolation: the job's credentials live in a private folder of its own, so jobs
//! that share a machine (shell and ssh executors) never read, clobber or inherit each
//! other's, and a dead job token is not left behind in `~/.docker/config.json`.
//!
//! The folder is named after `CI_JOB_ID`; it is created with mode 0700 and reused only
//! when it is a real folder of ours that nobody else can enter, since a folder under a
//! shared temp directory can be made in advance by another user to catch credentials.

use crate::error::{FsError, fs_error};
use crate::vars::{VarError, Vars};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
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
            value: crate::output::sanitize(id, 80),
        });
    }
    let base = match vars.setting("CI_BUILDS_DIR")? {
        Some(dir) => {
            if !dir.starts_with('/') || dir.chars().any(char::is_control) {
                return Err(IsolationError::BadBuildsDir {
                    name: vars.describe("CI_BUILDS_DIR"),
                    value: crate::output::sanitize(dir, 200),
                });
            }
            PathBuf::from(dir)
        }
        None => temp.to_path_buf(),
    };
    Ok(base.join(format!("{PREFIX}{id}")))
}

/// Creates the folder (0700), or accepts it when it is already a private folder of ours.
pub fn prepare(folder: &Path) -> Result<(), IsolationError> {
    if let Some(parent) = folder.parent() {
        fs::create_dir_all(parent).map_err(fs_error(parent, "cannot create the folder"))?;
    }
    match fs::DirBuilder::new().mode(0o700).create(folder) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => check_ours(folder),
        Err(e) => Err(fs_error(folder, "cannot create the folder")(e).into()),
    }
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

/// The effective user id, read from `/proc/self` (owned by it); std has no call for it.
pub fn effective_uid() -> Option<u32> {
    fs::metadata("/proc/self").ok().map(|m| m.uid())
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
/// reports take values verbatim, so they are not quoted).
pub fn write_env_file(file: &Path, folder: &Path) -> Result<(), IsolationError> {
    let ours = variables(folder);
    let existing = match fs::read_to_string(file) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(fs_error(file, "cannot read")(e).into()),
    };
    let mut text: String = existing
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
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp =
        tempfile::NamedTempFile::new_in(dir).map_err(fs_error(dir, "cannot write in"))?;
    temp.write_all(text.as_bytes())
        .map_err(fs_error(file, "cannot write"))?;
    let mode = match fs::metadata(file) {
        Ok(meta) => meta.permissions().mode() & 0o7777,
        Err(_) => 0o644,
    };
    temp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(fs_error(file, "cannot set permissions"))?;
    temp.persist(file)
        .map_err(|e| fs_error(file, "cannot replace")(e.error))?;
    Ok(())
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
}
