//! Editing a docker-style auth file (`config.json`, containers' `auth.json`) without
//! ever losing what is in it: other registries, `credHelpers`, `credsStore` and keys we
//! do not know survive; the new file replaces the old in one rename; concurrent writers
//! queue on an advisory lock; a file we cannot read as JSON is left alone.

use crate::error::{FsError, fs_error};
use crate::safe_fs::{self, Problem, SafeFsError, WriteError};
use secrecy::zeroize::{Zeroize, Zeroizing};
use serde_json::{Map, Value};
use std::os::fd::OwnedFd;
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
    /// Not a file this user may have meant as an auth file: a FIFO, a device, a file of
    /// another user, a link into /proc, a folder that is no longer private...
    #[error(
        "{path} {}; it was not read or changed (point --auth-file or DOCKER_CONFIG elsewhere)",
        problem.describe()
    )]
    Refused { path: String, problem: Problem },
    #[error(transparent)]
    Io(#[from] FsError),
}

impl From<SafeFsError> for AuthFileError {
    fn from(e: SafeFsError) -> AuthFileError {
        match e {
            SafeFsError::Refused {
                path,
                problem: Problem::NotRegular("a folder"),
            } => AuthFileError::IsDirectory { path },
            SafeFsError::Refused { path, problem } => AuthFileError::Refused { path, problem },
            SafeFsError::Io(e) => AuthFileError::Io(e),
        }
    }
}

/// The folder an auth file is in, as the caller knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    /// The user's folder (`~/.docker`, `DOCKER_CONFIG`, `--auth-file`'s): used as named.
    Shared,
    /// The isolated job folder: it must still be a private folder of this user, not a
    /// link, when it is opened and again under its lock.
    Private,
}

/// Reads the file as a JSON object; a missing file is an empty object. Only a regular
/// file of this user is read (see [`safe_fs`]); a link is followed as [`follow_link`]
/// allows.
pub fn read(path: &Path) -> Result<Map<String, Value>, AuthFileError> {
    // The file holds other registries' credentials: its buffer is wiped when dropped.
    save(path)?.json()
}

/// For readers that can do without the file (the docker config's earlier logins, the
/// registries installed for the helper): says why a refused file is not used, so a FIFO
/// or a link into /proc is reported, not silently skipped. Files that are merely broken
/// stay quiet there, as before.
pub fn warn_unread(e: &AuthFileError) {
    if matches!(e, AuthFileError::Refused { .. }) {
        tracing::warn!("{e}");
    }
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

/// [`update_in`] for a file in the user's own folder.
pub fn update<T>(
    path: &Path,
    change: impl FnOnce(&mut Map<String, Value>) -> (bool, T),
) -> Result<T, AuthFileError> {
    update_in(Folder::Shared, path, change)
}

/// Applies `change` to the file's JSON under an exclusive lock and replaces the file
/// atomically. `change` returns whether it changed anything; if not, nothing is written.
/// The folder and the file are opened once and checked on their descriptors under the
/// lock, so a folder or file swapped in meanwhile is refused, never followed.
pub fn update_in<T>(
    folder: Folder,
    path: &Path,
    change: impl FnOnce(&mut Map<String, Value>) -> (bool, T),
) -> Result<T, AuthFileError> {
    let link = path;
    let path = match folder {
        Folder::Shared => follow_link(path)?,
        // The job's folder is ours alone: a link in it was planted, not set up.
        Folder::Private => path.to_path_buf(),
    };
    let shown = shown(link, &path);
    let (dir_path, name) = split(&path)?;
    if folder == Folder::Shared {
        safe_fs::create_private_dir_all(&dir_path)?;
    }
    let dir = open_folder(folder, &dir_path)?;
    // Lock the folder, never the file: the rename below swaps the file's inode, and a
    // sidecar lock file would be litter in the user's config folder.
    rustix::fs::flock(&dir, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| fs_error(&dir_path, "cannot lock the folder")(e.into()))?;
    // Whoever held the lock may have swapped the folder's mode or owner meanwhile.
    if folder == Folder::Private {
        safe_fs::check_private_dir(&dir, &dir_path)?;
    }
    safe_fs::remove_leftovers(&dir, &dir_path);
    let (existing_mode, json) = match safe_fs::read_regular(&dir, &name, &shown)? {
        Some(contents) => {
            if contents.stat.st_mode & 0o222 == 0 {
                return Err(AuthFileError::ReadOnly {
                    path: path.display().to_string(),
                });
            }
            // Read from the descriptor just checked to be this user's own regular file:
            // its mode is the user's choice and is kept. A file of another user was
            // refused above and never lends its mode.
            let mode = contents.stat.st_mode & 0o7777;
            (
                Some(mode),
                parse(&contents.bytes, &path.display().to_string())?,
            )
        }
        None => (None, Map::new()),
    };
    let mut json = Scrubbed(json);
    let (changed, out) = change(&mut json.0);
    if changed {
        write(&dir, &name, &path, &json.0, existing_mode.unwrap_or(0o600))?;
    }
    Ok(out)
}

/// An auth file as it was, to be put back exactly: its bytes and mode, or its absence
/// (and whether its folder existed). Its bytes hold every registry's credential and
/// are wiped when dropped.
pub struct Saved {
    path: PathBuf,
    shown: PathBuf,
    contents: Option<(Zeroizing<Vec<u8>>, u32)>,
    folder_existed: bool,
}

impl Saved {
    /// The file as a JSON object; a missing file is an empty object.
    pub fn json(&self) -> Result<Map<String, Value>, AuthFileError> {
        match &self.contents {
            Some((bytes, _)) => parse(bytes, &self.shown.display().to_string()),
            None => Ok(Map::new()),
        }
    }
}

/// Saves the file at `path` as it is now, for [`put_back`]: only a regular file of this
/// user is read (see [`safe_fs`]); a link is followed as [`follow_link`] allows.
pub fn save(path: &Path) -> Result<Saved, AuthFileError> {
    let link = path;
    let path = follow_link(path)?;
    let shown = shown(link, &path);
    let (dir, name) = split(&path)?;
    let dir = match safe_fs::open_dir(&dir) {
        Ok(fd) => fd,
        Err(e) if e.source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Saved {
                path,
                shown,
                contents: None,
                folder_existed: false,
            });
        }
        Err(e) => return Err(e.into()),
    };
    let contents =
        safe_fs::read_regular(&dir, &name, &shown)?.map(|c| (c.bytes, c.stat.st_mode & 0o7777));
    Ok(Saved {
        path,
        shown,
        contents,
        folder_existed: true,
    })
}

/// Undoes a login of `key` on `saved`'s file, under the folder's lock. When only that
/// login changed it (however the tool rewrote the rest: order, spacing, fields it does
/// not know), the file gets `saved`'s exact bytes and mode back, or goes (with its folder,
/// if that was made for it and is empty). When another writer changed other entries
/// meanwhile, theirs are kept and only `key`'s entry is put back. Returns whether
/// anything had changed.
pub fn put_back(saved: &Saved, key: &str) -> Result<bool, AuthFileError> {
    let (dir_path, name) = split(&saved.path)?;
    let dir = match safe_fs::open_dir(&dir_path) {
        Ok(fd) => fd,
        Err(e) if e.source.kind() == std::io::ErrorKind::NotFound && saved.contents.is_none() => {
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    };
    rustix::fs::flock(&dir, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| fs_error(&dir_path, "cannot lock the folder")(e.into()))?;
    let Some(now) = safe_fs::read_regular(&dir, &name, &saved.shown)? else {
        // Nothing there: the tool stored nothing, or someone removed the file since.
        return Ok(false);
    };
    if let Some((bytes, mode)) = &saved.contents
        && now.bytes == *bytes
        && now.stat.st_mode & 0o7777 == *mode
    {
        return Ok(false);
    }
    let before = Scrubbed(saved.json()?);
    let after = Scrubbed(parse(&now.bytes, &saved.shown.display().to_string())?);
    let undone = Scrubbed(undo_login(&before.0, &after.0, key));
    let shown = &saved.shown;
    match &saved.contents {
        Some((bytes, mode)) if undone.0 == before.0 => {
            safe_fs::write_atomically(&dir, &name, bytes, *mode, shown)
                .map_err(|e| write_error(shown, e))?;
        }
        None if undone.0.is_empty() => {
            rustix::fs::unlinkat(&dir, &name, rustix::fs::AtFlags::empty())
                .map_err(|e| fs_error(shown, "cannot remove")(e.into()))?;
            if !saved.folder_existed {
                // Empty now, it was made for the file: it goes too (not empty, it stays).
                drop(dir);
                let _ = std::fs::remove_dir(&dir_path);
            }
        }
        _ => {
            tracing::info!(file = %shown.display(), "another writer changed the file meanwhile: its entries are kept");
            let mode = saved.contents.as_ref().map_or(0o600, |(_, mode)| *mode);
            write(&dir, &name, &saved.path, &undone.0, mode)?;
        }
    }
    Ok(true)
}

/// `after` with the login of `key` that turned `before` into it undone: `key`'s entries
/// (every spelling) as `before` had them, and the fields a tool that rewrites the whole
/// file drops (docker keeps only those it knows) as `before` had them. What another
/// writer added or changed elsewhere stays.
pub fn undo_login(
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    key: &str,
) -> Map<String, Value> {
    let mut out = before.clone();
    for (field, value) in after {
        if field == "auths" {
            continue;
        }
        out.insert(field.clone(), value.clone());
    }
    let spellings = keys_for(key);
    let empty = Map::new();
    let auths_before = before
        .get("auths")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let auths_after = after
        .get("auths")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut auths = auths_before.clone();
    for (entry, value) in auths_after {
        if !spellings.contains(entry) {
            auths.insert(entry.clone(), value.clone());
        }
    }
    if before.contains_key("auths") || !auths.is_empty() {
        out.insert("auths".into(), Value::Object(auths));
    }
    out
}

fn write_error(shown: &Path, e: WriteError) -> AuthFileError {
    match e {
        WriteError::Create(e) => fs_error(shown, "cannot create a temporary file")(e).into(),
        WriteError::Other(e) => e.into(),
    }
}

/// How a file reached through a link is named in messages: `link -> target`.
fn shown(link: &Path, target: &Path) -> PathBuf {
    if link == target {
        target.to_path_buf()
    } else {
        PathBuf::from(format!("{} -> {}", link.display(), target.display()))
    }
}

fn split(path: &Path) -> Result<(PathBuf, std::ffi::OsString), AuthFileError> {
    safe_fs::split(path).ok_or_else(|| AuthFileError::IsDirectory {
        path: path.display().to_string(),
    })
}

fn open_folder(folder: Folder, dir: &Path) -> Result<OwnedFd, AuthFileError> {
    Ok(match folder {
        Folder::Shared => safe_fs::open_dir(dir)?,
        Folder::Private => safe_fs::open_private_dir(dir)?,
    })
}

/// How temporary files are named; nothing else in the folder starts so.
#[cfg(test)]
const TEMP_PREFIX: &str = safe_fs::TEMP_PREFIX;

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

/// A symlinked config file (a dotfiles manager's `~/.docker/config.json -> ...`) is
/// followed to its target, as docker does, so that the link survives the rename. But
/// a link is a way to aim this program at a file the user never meant (issue 11: a link
/// into /proc put the job's variables in a published file), so it is followed only when
/// the link belongs to this user and leads somewhere; the target is then opened like any
/// auth file: never through a further link, and only a regular file of this user
/// outside /proc and /sys is read (so a link to a device, a FIFO or another user's file
/// is refused). A path that is no link is returned as it is.
fn follow_link(path: &Path) -> Result<PathBuf, AuthFileError> {
    use std::os::unix::fs::MetadataExt;
    let refused = |why| AuthFileError::Refused {
        path: path.display().to_string(),
        problem: Problem::BadLink(why),
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            if meta.uid() != safe_fs::euid() {
                return Err(refused("that another user owns"));
            }
            std::fs::canonicalize(path).map_err(|_| refused("to nothing"))
        }
        _ => Ok(path.to_path_buf()),
    }
}

/// Writes the new file next to the old, syncs it and renames it over the old: a reader
/// sees the old file or the new one, never half of either, even across a crash. The
/// folder is not synced: that would only decide which of the two whole files a crash
/// leaves, at the price of a second journal commit (milliseconds per login on a busy
/// disk; docker syncs nothing).
fn write(
    dir: &OwnedFd,
    name: &std::ffi::OsStr,
    path: &Path,
    json: &Map<String, Value>,
    mode: u32,
) -> Result<(), AuthFileError> {
    safe_fs::write_atomically(dir, name, &render(json), mode, path).map_err(|e| match e {
        WriteError::Create(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            AuthFileError::ReadOnly {
                path: path.display().to_string(),
            }
        }
        WriteError::Create(e) => fs_error(path, "cannot create a temporary file")(e).into(),
        WriteError::Other(e) => e.into(),
    })
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
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn put_back_restores_the_bytes_and_mode_or_the_absence() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        let original = b"{ \"auths\": {},\n\t\"odd\": 1 }";
        fs::write(&file, original).unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
        let saved = save(&file).unwrap();
        assert!(
            !put_back(&saved, "r.example.com").unwrap(),
            "nothing changed yet"
        );
        update(&file, |json| {
            merge_login(json, "r.example.com", "eDp5");
            (true, ())
        })
        .unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(put_back(&saved, "r.example.com").unwrap());
        assert_eq!(fs::read(&file).unwrap(), original);
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o7777,
            0o640
        );

        // No file and no folder before: neither after.
        let folder = dir.path().join("new");
        let file = folder.join("config.json");
        let saved = save(&file).unwrap();
        update(&file, |json| {
            merge_login(json, "r.example.com", "eDp5");
            (true, ())
        })
        .unwrap();
        assert!(put_back(&saved, "r.example.com").unwrap());
        assert!(!folder.exists());
        assert!(
            !put_back(&saved, "r.example.com").unwrap(),
            "nothing to do twice"
        );
    }

    #[test]
    fn put_back_keeps_what_another_writer_stored_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        fs::write(
            &file,
            br#"{"auths":{"a.example":{"auth":"YTpi"}},"psFormat":"x"}"#,
        )
        .unwrap();
        let saved = save(&file).unwrap();
        update(&file, |json| {
            merge_login(json, "r.example.com", "eDp5");
            merge_login(json, "other.example", "bzpw");
            json.remove("psFormat");
            (true, ())
        })
        .unwrap();
        assert!(put_back(&saved, "r.example.com").unwrap());
        let json = read(&file).unwrap();
        let auths = json["auths"].as_object().unwrap();
        assert!(!auths.contains_key("r.example.com"), "the login is undone");
        assert_eq!(
            auths["other.example"]["auth"], "bzpw",
            "the other writer's entry stays"
        );
        assert_eq!(auths["a.example"]["auth"], "YTpi");
        assert_eq!(json["psFormat"], "x", "a field the tool dropped comes back");
    }

    #[test]
    fn undoing_a_login_restores_every_spelling_of_its_key() {
        let before: Map<String, Value> = serde_json::from_str(
            r#"{"auths":{"https://r.example.com":{"auth":"b2xk"}},"credsStore":"pass"}"#,
        )
        .unwrap();
        let after: Map<String, Value> =
            serde_json::from_str(r#"{"auths":{"r.example.com":{}},"credsStore":"pass"}"#).unwrap();
        assert_eq!(undo_login(&before, &after, "r.example.com"), before);
        let none = Map::new();
        assert_eq!(undo_login(&none, &after, "r.example.com"), {
            let mut m = Map::new();
            m.insert("credsStore".into(), "pass".into());
            m
        });
    }

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

    fn refusal(r: Result<(), AuthFileError>) -> Problem {
        match r {
            Err(AuthFileError::Refused { problem, .. }) => problem,
            other => panic!("not refused: {other:?}"),
        }
    }

    fn login(path: &Path) -> Result<(), AuthFileError> {
        update(path, |json| {
            merge_login(json, "registry.example.com", "dTpw");
            (true, ())
        })
    }

    /// Issue 11, findings 5 and 8: a link the user set up to a file of theirs is still
    /// followed (and survives); one into /proc, to a device or owned by someone else is not.
    #[test]
    fn a_users_own_link_is_followed_and_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.json");
        fs::write(&target, r#"{"x":1}"#).unwrap();
        let link = dir.path().join("config.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        login(&link).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        let json: Value = serde_json::from_slice(&fs::read(&target).unwrap()).unwrap();
        assert_eq!(json["x"], 1);
        assert_eq!(json["auths"]["registry.example.com"]["auth"], "dTpw");

        for (to, problem) in [
            ("/proc/self/environ", Problem::KernelFile),
            ("/dev/zero", Problem::NotRegular("a device")),
            ("/nonexistent/x.json", Problem::BadLink("to nothing")),
        ] {
            let link = dir.path().join(format!("link-{}", to.replace('/', "_")));
            std::os::unix::fs::symlink(to, &link).unwrap();
            assert_eq!(refusal(login(&link)), problem, "{to}");
            assert_eq!(refusal(read(&link).map(drop)), problem, "{to}");
        }
    }

    /// Issue 11, finding 7: a file of another user is neither read nor lends its mode,
    /// and a link another user owns is not followed (root only: it needs chown).
    #[test]
    fn another_users_file_or_link_is_refused() {
        if safe_fs::euid() != 0 {
            eprintln!("not root: cannot give files away, not run");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("config.json");
        fs::write(&theirs, "{}").unwrap();
        fs::set_permissions(&theirs, fs::Permissions::from_mode(0o666)).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        assert_eq!(refusal(login(&theirs)), Problem::NotOurs { owner: 65534 });
        assert_eq!(fs::read_to_string(&theirs).unwrap(), "{}");

        let mine = dir.path().join("mine.json");
        fs::write(&mine, "{}").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&mine, &link).unwrap();
        std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).unwrap();
        assert_eq!(
            refusal(login(&link)),
            Problem::BadLink("that another user owns")
        );
        assert_eq!(fs::read_to_string(&mine).unwrap(), "{}");
    }

    /// Issue 11, finding 8: a FIFO as the auth file fails at once (nobody writes to it).
    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("config.json");
        let fd = safe_fs::open_dir(dir.path()).unwrap();
        rustix::fs::mkfifoat(&fd, "config.json", rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
        assert_eq!(
            refusal(login(&fifo)),
            Problem::NotRegular("a FIFO (named pipe)")
        );
        assert!(read(&fifo).is_err());
    }

    /// Issue 11, finding 7: the isolated folder is checked again under its lock, on the
    /// descriptor: opened up to others, or swapped for a link, it is not written.
    #[test]
    fn a_private_folder_changed_before_the_write_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("job");
        fs::create_dir(&folder).unwrap();
        fs::set_permissions(&folder, fs::Permissions::from_mode(0o700)).unwrap();
        let file = folder.join("config.json");
        update_in(Folder::Private, &file, |json| {
            auths(json);
            (true, ())
        })
        .unwrap();
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );

        // Another writer holds the lock; meanwhile the folder is opened up to others.
        let held = fs::File::open(&folder).unwrap();
        held.lock().unwrap();
        let writer = {
            let file = file.clone();
            std::thread::spawn(move || {
                update_in(Folder::Private, &file, |json| {
                    merge_login(json, "registry.example.com", "dTpw");
                    (true, ())
                })
            })
        };
        // Whether the writer opened the folder before or after the change, it refuses:
        // before, the check under the lock sees it; after, the check at opening.
        fs::set_permissions(&folder, fs::Permissions::from_mode(0o777)).unwrap();
        held.unlock().unwrap();
        let result = writer.join().unwrap();
        assert!(
            matches!(
                result,
                Err(AuthFileError::Refused {
                    problem: Problem::NotPrivate,
                    ..
                })
            ),
            "{result:?}"
        );
        assert!(!fs::read_to_string(&file).unwrap().contains("dTpw"));

        // Swapped for a link to a folder of ours: not followed.
        fs::set_permissions(&folder, fs::Permissions::from_mode(0o700)).unwrap();
        let moved = dir.path().join("moved");
        fs::rename(&folder, &moved).unwrap();
        std::os::unix::fs::symlink(&moved, &folder).unwrap();
        assert!(update_in(Folder::Private, &file, |_| (true, ())).is_err());
    }
}
