//! Editing a docker-style auth file (`config.json`, containers' `auth.json`) without
//! ever losing what is in it: other registries, `credHelpers`, `credsStore` and keys we
//! do not know survive; the new file replaces the old in one rename; concurrent writers
//! queue on an advisory lock; a file we cannot read as JSON is left alone.

use crate::error::{FsError, fs_error};
use secrecy::zeroize::{Zeroize, Zeroizing};
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
    #[error(transparent)]
    Io(#[from] FsError),
}

/// Reads the file as a JSON object; a missing file is an empty object.
pub fn read(path: &Path) -> Result<Map<String, Value>, AuthFileError> {
    let shown = || path.display().to_string();
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => return Err(AuthFileError::IsDirectory { path: shown() }),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(e) => return Err(fs_error(path, "cannot inspect")(e).into()),
    }
    // The file holds other registries' credentials: wipe the buffer once parsed.
    let bytes = Zeroizing::new(fs::read(path).map_err(fs_error(path, "cannot read"))?);
    parse(&bytes, &shown())
}

/// The file's bytes as a JSON object; blank is an empty object. `path` is for messages.
pub fn parse(bytes: &[u8], path: &str) -> Result<Map<String, Value>, AuthFileError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(AuthFileError::NotAnObject { path: path.into() }),
        Err(e) => Err(AuthFileError::Invalid {
            path: path.into(),
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

/// The bytes written for a JSON object: pretty, with a final newline, as docker writes.
pub fn render(json: &Map<String, Value>) -> Zeroizing<Vec<u8>> {
    let mut text =
        Zeroizing::new(serde_json::to_vec_pretty(json).expect("a JSON object always serialises"));
    text.push(b'\n');
    text
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
    let lock = File::open(dir).map_err(fs_error(dir, "cannot open the folder"))?;
    lock.lock()
        .map_err(fs_error(dir, "cannot lock the folder"))?;
    remove_leftovers(dir);
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
    let mut json = Scrubbed(read(&path)?);
    let (changed, out) = change(&mut json.0);
    if changed {
        write_atomically(&path, dir, &json.0, existing_mode.unwrap_or(0o600))?;
    }
    Ok(out)
}

/// How temporary files are named; nothing else in the folder starts so.
const TEMP_PREFIX: &str = ".ci-registry-login-";

/// Every writer holds the folder lock while its temporary file exists, so one seen by
/// the lock's holder was left by a writer killed mid-write (SIGKILL runs no cleanup):
/// it holds a half-written copy of the file, credentials included.
fn remove_leftovers(dir: &Path) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let ours = entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX);
        if ours && entry.file_type().is_ok_and(|t| t.is_file()) {
            tracing::info!(file = %entry.path().display(), "removing a killed writer's leftover");
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// A parsed auth file whose strings (every registry's `auth`) are wiped when dropped.
struct Scrubbed(Map<String, Value>);

impl Drop for Scrubbed {
    fn drop(&mut self) {
        fn scrub(value: &mut Value) {
            match value {
                Value::String(s) => s.zeroize(),
                Value::Array(items) => items.iter_mut().for_each(scrub),
                Value::Object(map) => map.values_mut().for_each(scrub),
                _ => {}
            }
        }
        self.0.values_mut().for_each(scrub);
    }
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
        .map_err(fs_error(dir, "cannot create the folder"))?;
    Ok(())
}

/// Temp file in the same folder, fsync, rename: a reader sees the old file or the new
/// one, never half of either, even across a crash. The folder is not synced: that
/// would only decide which of the two whole files a crash leaves, at the price of a
/// second journal commit (milliseconds per login on a busy disk; docker syncs nothing).
fn write_atomically(
    path: &Path,
    dir: &Path,
    json: &Map<String, Value>,
    mode: u32,
) -> Result<(), AuthFileError> {
    let mut temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                AuthFileError::ReadOnly {
                    path: path.display().to_string(),
                }
            }
            _ => fs_error(dir, "cannot create a temporary file")(e).into(),
        })?;
    temp.write_all(&render(json))
        .map_err(fs_error(path, "cannot write"))?;
    temp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(fs_error(path, "cannot set permissions"))?;
    temp.as_file()
        .sync_all()
        .map_err(fs_error(path, "cannot sync"))?;
    temp.persist(path)
        .map_err(|e| fs_error(path, "cannot replace")(e.error))?;
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

/// Stores one registry's login: `auths[host_port] = {"auth": auth}`, after removing the
/// URL-form keys of the same registry (stale ones would shadow the new entry in some
/// tools). Every other entry stays as it was.
pub fn merge_login(json: &mut Map<String, Value>, host_port: &str, auth: &str) {
    let auths = auths(json);
    let [key, stale @ ..] = keys_for(host_port);
    for stale in &stale {
        auths.remove(stale);
    }
    auths.insert(key, serde_json::json!({ "auth": auth }));
}

/// Removes one registry's login under every key spelling; true when one was there.
pub fn remove_login(json: &mut Map<String, Value>, host_port: &str) -> bool {
    let Some(auths) = json.get_mut("auths").and_then(Value::as_object_mut) else {
        return false;
    };
    let mut removed = false;
    for key in keys_for(host_port) {
        removed |= auths.remove(&key).is_some();
    }
    removed
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
    fn a_killed_writers_leftover_is_removed_under_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let leftover = dir.path().join(format!("{TEMP_PREFIX}a1b2c3"));
        fs::write(&leftover, r#"{"auths":{"half":"#).unwrap();
        let unrelated = dir.path().join("config.json.bak");
        fs::write(&unrelated, "{}").unwrap();
        update(&path, |json| {
            auths(json);
            (true, ())
        })
        .unwrap();
        assert!(!leftover.exists());
        assert!(unrelated.exists());
    }

    #[test]
    fn numbers_survive_a_rewrite() {
        // Found by fuzzing: a long integer became a float that read back differently.
        let text = br#"{"aoe":1111111111111111111111111111111111111111111111111111111111111111111111111111144783,"f":0.1}"#;
        let mut json = parse(text, "config.json").unwrap();
        let before = json.clone();
        merge_login(&mut json, "registry.example.com", "dTpw");
        let after = parse(&render(&json), "rendered").unwrap();
        assert_eq!(after["aoe"], before["aoe"]);
        assert_eq!(after["f"], before["f"]);
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
