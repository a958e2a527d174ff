//! Editing a docker-style auth file (`config.json`, containers' `auth.json`) without
//! ever losing what is in it: other registries, `credHelpers`, `credsStore` and keys we
//! do not know survive; the new file replaces the old in one rename; concurrent writers
//! queue on an advisory lock; a file we cannot read as JSON is left alone.

use serde_json::{Map, Value};
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum AuthFileError {
    #[error("{path} is a directory, not an auth file")]
    IsDirectory { path: String },
    #[error(
        "{path} is read-only; nothing was changed (is it mounted read-only? use --auth-file or DOCKER_CONFIG to write elsewhere)"
    )]
    ReadOnly { path: String },
    #[error(
        "{path} is not valid JSON (line {line}, column {column}: {message}); nothing was changed: fix or remove it"
    )]
    Invalid {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path} holds JSON that is not an object; nothing was changed")]
    NotAnObject { path: String },
    #[error("{path}: {action}: {source}")]
    Io {
        path: String,
        action: &'static str,
        source: std::io::Error,
    },
}

fn io<'a>(
    path: &'a Path,
    action: &'static str,
) -> impl FnOnce(std::io::Error) -> AuthFileError + 'a {
    move |source| AuthFileError::Io {
        path: path.display().to_string(),
        action,
        source,
    }
}

/// Reads the file as a JSON object; a missing file is an empty object.
pub fn read(path: &Path) -> Result<Map<String, Value>, AuthFileError> {
    let shown = || path.display().to_string();
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => return Err(AuthFileError::IsDirectory { path: shown() }),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(e) => return Err(io(path, "cannot inspect")(e)),
    }
    let bytes = fs::read(path).map_err(io(path, "cannot read"))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(AuthFileError::NotAnObject { path: shown() }),
        Err(e) => Err(AuthFileError::Invalid {
            path: shown(),
            line: e.line(),
            column: e.column(),
            message: e
                .to_string()
                .split(" at line")
                .next()
                .unwrap_or_default()
                .to_string(),
        }),
    }
}

/// Applies `change` to the file's JSON under an exclusive lock and replaces the file
/// atomically. `change` returns whether it changed anything; if not, nothing is written.
pub fn update<T>(
    path: &Path,
    change: impl FnOnce(&mut Map<String, Value>) -> (bool, T),
) -> Result<T, AuthFileError> {
    let path = resolve_symlink(path);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    // Lock the folder, never the file: the rename below swaps the file's inode, and a
    // sidecar lock file would be litter in the user's config folder.
    let lock = File::open(dir).map_err(io(dir, "cannot open the folder"))?;
    lock.lock().map_err(io(dir, "cannot lock the folder"))?;
    let existing_mode = match fs::metadata(&path) {
        Ok(meta) if meta.is_dir() => {
            return Err(AuthFileError::IsDirectory {
                path: path.display().to_string(),
            });
        }
        Ok(meta) if meta.permissions().mode() & 0o222 == 0 => {
            return Err(AuthFileError::ReadOnly {
                path: path.display().to_string(),
            });
        }
        Ok(meta) => Some(meta.permissions().mode() & 0o7777),
        Err(_) => None,
    };
    let mut json = read(&path)?;
    let (changed, out) = change(&mut json);
    if changed {
        write_atomically(
            &path,
            dir,
            &Value::Object(json),
            existing_mode.unwrap_or(0o600),
        )?;
    }
    Ok(out)
}

/// Follows a symlinked config file to its target, as docker does, so the link survives.
fn resolve_symlink(path: &Path) -> PathBuf {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
        }
        _ => path.to_path_buf(),
    }
}

fn create_private_dir(dir: &Path) -> Result<(), AuthFileError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(dir, "cannot create the folder"))
}

/// Temp file in the same folder, fsync, rename, fsync the folder: a reader sees the
/// old file or the new one, never half of either, even across a crash.
fn write_atomically(path: &Path, dir: &Path, json: &Value, mode: u32) -> Result<(), AuthFileError> {
    let mut temp = tempfile::Builder::new()
        .prefix(".ci-registry-login-")
        .tempfile_in(dir)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                AuthFileError::ReadOnly {
                    path: path.display().to_string(),
                }
            }
            _ => io(dir, "cannot create a temporary file")(e),
        })?;
    let mut text = serde_json::to_vec_pretty(json).expect("a JSON value always serialises");
    text.push(b'\n');
    temp.write_all(&text).map_err(io(path, "cannot write"))?;
    temp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io(path, "cannot set permissions"))?;
    temp.as_file().sync_all().map_err(io(path, "cannot sync"))?;
    temp.persist(path)
        .map_err(|e| io(path, "cannot replace")(e.error))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The `auths` map, created when missing. A non-object `auths` is replaced: there is no
/// way to keep it and also log in.
pub fn auths(json: &mut Map<String, Value>) -> &mut Map<String, Value> {
    let entry = json
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    entry.as_object_mut().expect("just made an object")
}

/// Keys a registry may be stored under: docker's own (`host[:port]`) and the URL forms
/// older tools wrote.
pub fn keys_for(host_port: &str) -> [String; 3] {
    [
        host_port.to_string(),
        format!("https://{host_port}"),
        format!("http://{host_port}"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keeps_everything_else_and_sets_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(
            &path,
            r#"{"auths":{"other:5000":{"auth":"eA=="}},"credHelpers":{"gcr.io":"gcloud"},"x":1}"#,
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        update(&path, |json| {
            auths(json).insert("new".into(), serde_json::json!({"auth": "bg=="}));
            (true, ())
        })
        .unwrap();
        let json: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(json["auths"]["other:5000"]["auth"], "eA==");
        assert_eq!(json["auths"]["new"]["auth"], "bg==");
        assert_eq!(json["credHelpers"]["gcr.io"], "gcloud");
        assert_eq!(json["x"], 1);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );

        let fresh = dir.path().join("sub/new.json");
        update(&fresh, |json| {
            auths(json);
            (true, ())
        })
        .unwrap();
        assert_eq!(
            fs::metadata(&fresh).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn broken_file_is_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, "{\n  \"auths\": {,\n}").unwrap();
        let err = update(&path, |_| (true, ())).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\n  \"auths\": {,\n}");
    }

    #[test]
    fn directory_and_read_only_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            update(dir.path(), |_| (true, ())),
            Err(AuthFileError::IsDirectory { .. })
        ));
        let path = dir.path().join("ro.json");
        fs::write(&path, "{}").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).unwrap();
        assert!(matches!(
            update(&path, |_| (true, ())),
            Err(AuthFileError::ReadOnly { .. })
        ));
    }
}
