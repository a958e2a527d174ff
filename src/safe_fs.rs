//! Opening the files a job can plant (the auth file, `--env-file-out`, `--report`)
//! without being steered by them (issue 11): a committed `build.env ->
//! /proc/self/environ`, a FIFO or `/dev/zero` as `config.json`, a folder swapped between
//! a check and a use.
//!
//! The rules, used by `auth_file`, `isolation` and `report` alike:
//! - a file is opened relative to its opened folder (`openat`), never through a symbolic
//!   link in its last component (`O_NOFOLLOW`), and checked on the descriptor (`fstat`),
//!   so what is checked is what is read;
//! - opening never blocks (`O_NONBLOCK`: a FIFO with no writer opens at once), and only
//!   a regular file owned by the current user, outside `/proc` and `/sys`, is read, at
//!   most [`MAX_READ`] bytes;
//! - new folders are 0700 and new files get the mode asked for, whatever the umask;
//! - a file is replaced by writing a new one next to it (`O_EXCL`, 0600 until done),
//!   syncing it and renaming it over the old one within the opened folder.

use crate::error::{FsError, fs_error};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;
use secrecy::zeroize::Zeroizing;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

/// The most read from any file: a docker config with hundreds of registries is a few
/// KiB; `/dev/zero` or a huge file would otherwise be read until memory runs out.
pub const MAX_READ: u64 = 4 << 20;

/// sysfs's magic number (linux/magic.h), next to rustix's `PROC_SUPER_MAGIC`.
const SYSFS_MAGIC: u64 = 0x6265_6572;

/// Why a file or folder is not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Symlink,
    /// What it is instead: "a folder", "a FIFO", "a device", "a socket".
    NotRegular(&'static str),
    NotOurs {
        owner: u32,
    },
    TooLarge,
    KernelFile,
    /// A symbolic link that another user owns, or that leads nowhere.
    BadLink(&'static str),
    /// A folder that is a link, someone else's or open to others.
    NotPrivate,
}

impl Problem {
    /// What follows the file's name in a message: the cause and the fix.
    pub fn describe(&self) -> String {
        match self {
            Problem::Symlink => "is a symbolic link; name a regular file".into(),
            Problem::NotRegular(what) => {
                format!("is {what}, not a regular file; name a regular file")
            }
            Problem::NotOurs { owner } => format!(
                "belongs to another user (uid {owner}), not to this one (uid {}); it is left alone: name a file of this user",
                euid()
            ),
            Problem::TooLarge => format!(
                "is larger than {} MiB, far more than such a file holds; name the right file",
                MAX_READ >> 20
            ),
            Problem::KernelFile => {
                "is a kernel file (/proc, /sys), not a file of this user; name a regular file"
                    .into()
            }
            Problem::BadLink(why) => format!("is a symbolic link {why}; name a regular file"),
            Problem::NotPrivate => {
                "is not a private folder of this user (a symlink, another owner, or open to others)"
                    .into()
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SafeFsError {
    #[error("{path} {}", problem.describe())]
    Refused { path: String, problem: Problem },
    #[error(transparent)]
    Io(#[from] FsError),
}

impl SafeFsError {
    fn refused(path: &Path, problem: Problem) -> SafeFsError {
        SafeFsError::Refused {
            path: path.display().to_string(),
            problem,
        }
    }
}

/// The effective user id: the owner every file read must have.
pub fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn io<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(Errno) -> FsError + 'a {
    move |e| fs_error(path, action)(e.into())
}

/// A file's folder (`.` for a bare name) and its last component. `None` for a path
/// without a file name (`/`, `..`, `dir/..`).
pub fn split(path: &Path) -> Option<(PathBuf, OsString)> {
    let name = match path.components().next_back()? {
        Component::Normal(name) => name.to_os_string(),
        _ => return None,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Some((dir, name))
}

/// Opens a folder (following links on the way: the user's path is the user's choice).
pub fn open_dir(dir: &Path) -> Result<OwnedFd, FsError> {
    rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io(dir, "cannot open the folder"))
}

/// Opens a folder that must be a private one of this user: not a link (in its last
/// component), owned by the current user, nobody else may enter it. Checked on the
/// descriptor, so a folder swapped after an earlier check is caught.
pub fn open_private_dir(dir: &Path) -> Result<OwnedFd, SafeFsError> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = match rustix::fs::open(dir, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::LOOP | Errno::NOTDIR) => {
            return Err(SafeFsError::refused(dir, Problem::NotPrivate));
        }
        Err(e) => return Err(io(dir, "cannot open the folder")(e).into()),
    };
    check_private_dir(&fd, dir)?;
    Ok(fd)
}

/// The check of [`open_private_dir`] on an open folder, e.g. again under its lock.
pub fn check_private_dir(fd: &OwnedFd, dir: &Path) -> Result<(), SafeFsError> {
    let st = rustix::fs::fstat(fd).map_err(io(dir, "cannot inspect"))?;
    if is_private_dir(&st, euid()) {
        Ok(())
    } else {
        Err(SafeFsError::refused(dir, Problem::NotPrivate))
    }
}

/// A folder of `uid` that nobody else can enter, list or write.
pub fn is_private_dir(st: &Stat, uid: u32) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Directory
        && st.st_uid == uid
        && st.st_mode & 0o077 == 0
}

/// Creates `dir` and its missing parents, each new one 0700 whatever the umask (a
/// folder made by `mkdir -p` under `umask 000` would be 0777). Existing ones are left
/// as they are.
pub fn create_private_dir_all(dir: &Path) -> Result<(), FsError> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_private_dir_all(parent)?;
    }
    let Some((parent, name)) = split(dir) else {
        return Ok(());
    };
    let parent_fd = open_dir(&parent)?;
    match rustix::fs::mkdirat(&parent_fd, &name, Mode::from_raw_mode(0o700)) {
        Ok(()) => {}
        // Made meanwhile by someone else: used as it is, like one that was there before.
        Err(Errno::EXIST) => return Ok(()),
        Err(e) => return Err(io(dir, "cannot create the folder")(e)),
    }
    // The umask can only have removed bits from 0700: put back what it removed.
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(&parent_fd, &name, flags, Mode::empty())
        .map_err(io(dir, "cannot open the folder"))?;
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o700)).map_err(io(dir, "cannot set permissions"))
}

/// What [`read_regular`] found.
pub struct Contents {
    pub bytes: Zeroizing<Vec<u8>>,
    pub stat: Stat,
}

/// Reads `name` in the open folder `dir`: never through a symbolic link, never
/// blocking, only a regular file of the current user outside /proc and /sys, at most
/// [`MAX_READ`] bytes. `None` when there is no such file. `shown` is for messages.
pub fn read_regular(
    dir: &OwnedFd,
    name: &OsStr,
    shown: &Path,
) -> Result<Option<Contents>, SafeFsError> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY;
    let fd = match rustix::fs::openat(dir, name, flags | OFlags::CLOEXEC, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(Errno::LOOP) => return Err(SafeFsError::refused(shown, Problem::Symlink)),
        // O_NOFOLLOW on a link whose target refuses to open says ENXIO or EACCES for
        // the target; a socket says ENXIO.
        Err(Errno::NXIO) => {
            return Err(SafeFsError::refused(shown, Problem::NotRegular("a socket")));
        }
        Err(e) => return Err(io(shown, "cannot open")(e).into()),
    };
    let stat = rustix::fs::fstat(&fd).map_err(io(shown, "cannot inspect"))?;
    if let Some(problem) = problem_with(&stat, euid()) {
        return Err(SafeFsError::refused(shown, problem));
    }
    if let Ok(fs) = rustix::fs::fstatfs(&fd) {
        let kind = fs.f_type as u64;
        if kind == rustix::fs::PROC_SUPER_MAGIC as u64 || kind == SYSFS_MAGIC {
            return Err(SafeFsError::refused(shown, Problem::KernelFile));
        }
    }
    let mut bytes = Zeroizing::new(Vec::new());
    File::from(fd)
        .take(MAX_READ + 1)
        .read_to_end(&mut bytes)
        .map_err(fs_error(shown, "cannot read"))?;
    if bytes.len() as u64 > MAX_READ {
        return Err(SafeFsError::refused(shown, Problem::TooLarge));
    }
    Ok(Some(Contents { bytes, stat }))
}

/// Why a file with this `stat` is not read by `uid`, if it is not.
pub fn problem_with(stat: &Stat, uid: u32) -> Option<Problem> {
    if let Some(problem) = type_problem(stat.st_mode) {
        return Some(problem);
    }
    if stat.st_uid != uid {
        return Some(Problem::NotOurs { owner: stat.st_uid });
    }
    if stat.st_size as u64 > MAX_READ {
        return Some(Problem::TooLarge);
    }
    None
}

/// Why a file of this mode (`st_mode`, type bits included) is not a regular file.
pub fn type_problem(mode: u32) -> Option<Problem> {
    let kind = match FileType::from_raw_mode(mode) {
        FileType::RegularFile => None,
        FileType::Directory => Some("a folder"),
        FileType::Fifo => Some("a FIFO (named pipe)"),
        FileType::CharacterDevice | FileType::BlockDevice => Some("a device"),
        FileType::Socket => Some("a socket"),
        FileType::Symlink => return Some(Problem::Symlink),
        FileType::Unknown => Some("not a file"),
    };
    kind.map(Problem::NotRegular)
}

/// What `name` in `dir` is, without following a link: `None` when it does not exist.
pub fn lstat_at(dir: &OwnedFd, name: &OsStr, shown: &Path) -> Result<Option<Stat>, FsError> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(io(shown, "cannot inspect")(e)),
    }
}

/// How temporary files are named; nothing else in a folder of ours starts so.
pub const TEMP_PREFIX: &str = ".ci-registry-login-";

/// Why [`write_atomically`] failed: creating the temporary file (a read-only folder
/// or file system says so here), or a later step.
#[derive(Debug)]
pub enum WriteError {
    Create(std::io::Error),
    Other(FsError),
}

/// Replaces `name` in the open folder `dir` with `bytes`, mode `mode` (exactly, whatever
/// the umask): a new file (`O_EXCL`, never through a link) is written, synced and renamed
/// over the old one, so a reader sees the old file or the new one, never half of either.
/// The new file is 0600 until it is whole. On failure it is removed.
pub fn write_atomically(
    dir: &OwnedFd,
    name: &OsStr,
    bytes: &[u8],
    mode: u32,
    shown: &Path,
) -> Result<(), WriteError> {
    let (temp, fd) = create_temp(dir).map_err(|e| WriteError::Create(e.into()))?;
    let result = (|| {
        let mut file = File::from(fd);
        file.write_all(bytes)
            .map_err(fs_error(shown, "cannot write"))?;
        rustix::fs::fchmod(&file, Mode::from_raw_mode(mode & 0o7777))
            .map_err(io(shown, "cannot set permissions"))?;
        file.sync_all().map_err(fs_error(shown, "cannot sync"))?;
        drop(file);
        rustix::fs::renameat(dir, &temp, dir, name).map_err(io(shown, "cannot replace"))
    })();
    if result.is_err() {
        let _ = rustix::fs::unlinkat(dir, &temp, AtFlags::empty());
    }
    result.map_err(WriteError::Other)
}

/// A new, empty, 0600 file named `TEMP_PREFIX` and a unique tail, in `dir`.
fn create_temp(dir: &OwnedFd) -> Result<(OsString, OwnedFd), Errno> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut last = Errno::EXIST;
    for _ in 0..100 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = OsString::from(format!("{TEMP_PREFIX}{}-{n}-{nanos:x}", std::process::id()));
        match rustix::fs::openat(dir, &name, flags, Mode::from_raw_mode(0o600)) {
            Ok(fd) => return Ok((name, fd)),
            Err(Errno::EXIST) => last = Errno::EXIST,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Removes regular files named `TEMP_PREFIX...` from the open folder: left by a writer
/// killed mid-write (call it only under the folder's lock, which every writer holds
/// while its temporary file exists).
pub fn remove_leftovers(dir: &OwnedFd, shown: &Path) {
    let Ok(entries) = rustix::fs::Dir::read_from(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_bytes();
        if name.starts_with(TEMP_PREFIX.as_bytes()) && entry.file_type() == FileType::RegularFile {
            let name = OsStr::from_bytes(name);
            tracing::info!(file = %shown.join(name).display(), "removing a killed writer's leftover");
            let _ = rustix::fs::unlinkat(dir, name, AtFlags::empty());
        }
    }
}

use std::os::unix::ffi::OsStrExt;

/// Whether two paths name the same file: the same path once their folders are
/// resolved, or (both existing) the same device and inode, so that links and hard
/// links are seen through. Relative paths are relative to the working directory.
pub fn same_file(a: &Path, b: &Path) -> bool {
    if let (Some(x), Some(y)) = (resolved(a), resolved(b))
        && x == y
    {
        return true;
    }
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// `path` with its folder made absolute and canonical where it exists, and `.`/`..`
/// resolved lexically where it does not.
fn resolved(path: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(path).ok()?;
    if let Ok(full) = absolute.canonicalize() {
        return Some(full);
    }
    let (dir, name) = split(&absolute)?;
    let dir = dir.canonicalize().unwrap_or_else(|_| lexical(&dir));
    Some(dir.join(name))
}

fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn opened(dir: &Path) -> OwnedFd {
        open_dir(dir).unwrap()
    }

    fn refused(r: Result<Option<Contents>, SafeFsError>) -> Problem {
        match r {
            Err(SafeFsError::Refused { problem, .. }) => problem,
            Err(e) => panic!("not a refusal: {e}"),
            Ok(_) => panic!("read"),
        }
    }

    #[test]
    fn splits_a_path_into_folder_and_name() {
        assert_eq!(
            split(Path::new("a/b.env")),
            Some((PathBuf::from("a"), OsString::from("b.env")))
        );
        assert_eq!(
            split(Path::new("b.env")),
            Some((PathBuf::from("."), OsString::from("b.env")))
        );
        assert_eq!(split(Path::new("/")), None);
        assert_eq!(split(Path::new("a/..")), None);
    }

    #[test]
    fn reads_a_regular_file_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let fd = opened(dir.path());
        fs::write(dir.path().join("ok"), "{}").unwrap();
        let got = read_regular(&fd, OsStr::new("ok"), Path::new("ok")).unwrap();
        assert_eq!(&got.unwrap().bytes[..], b"{}");
        assert!(
            read_regular(&fd, OsStr::new("missing"), Path::new("m"))
                .unwrap()
                .is_none()
        );

        std::os::unix::fs::symlink(dir.path().join("ok"), dir.path().join("link")).unwrap();
        assert_eq!(
            refused(read_regular(&fd, OsStr::new("link"), Path::new("link"))),
            Problem::Symlink
        );
        fs::create_dir(dir.path().join("sub")).unwrap();
        assert_eq!(
            refused(read_regular(&fd, OsStr::new("sub"), Path::new("sub"))),
            Problem::NotRegular("a folder")
        );
        // A FIFO nobody writes to: opened without blocking, then refused.
        rustix::fs::mkfifoat(&fd, "fifo", Mode::from_raw_mode(0o600)).unwrap();
        assert_eq!(
            refused(read_regular(&fd, OsStr::new("fifo"), Path::new("fifo"))),
            Problem::NotRegular("a FIFO (named pipe)")
        );
    }

    #[test]
    fn devices_kernel_files_and_huge_files_are_refused() {
        let dev = opened(Path::new("/dev"));
        assert_eq!(
            refused(read_regular(
                &dev,
                OsStr::new("zero"),
                Path::new("/dev/zero")
            )),
            Problem::NotRegular("a device")
        );
        let proc_self = opened(Path::new("/proc/self"));
        assert_eq!(
            refused(read_regular(
                &proc_self,
                OsStr::new("environ"),
                Path::new("/proc/self/environ")
            )),
            Problem::KernelFile
        );
        let dir = tempfile::tempdir().unwrap();
        let big = fs::File::create(dir.path().join("big")).unwrap();
        big.set_len(MAX_READ + 1).unwrap();
        assert_eq!(
            refused(read_regular(
                &opened(dir.path()),
                OsStr::new("big"),
                Path::new("big")
            )),
            Problem::TooLarge
        );
    }

    #[test]
    fn only_the_owners_files_are_read() {
        let mut st = rustix::fs::fstat(opened(Path::new("/"))).unwrap();
        st.st_mode = 0o100600;
        st.st_size = 2;
        st.st_uid = 1000;
        assert_eq!(problem_with(&st, 1000), None);
        assert_eq!(problem_with(&st, 0), Some(Problem::NotOurs { owner: 1000 }));
        st.st_mode = 0o040700;
        assert!(is_private_dir(&st, 1000));
        assert!(!is_private_dir(&st, 1001));
        st.st_mode = 0o040710;
        assert!(!is_private_dir(&st, 1000));
    }

    #[test]
    fn new_folders_are_0700_and_files_get_their_mode_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        // The umask is per process: 0o000 here makes mkdir and open ask for too much
        // if they relied on it (tests in this binary create nothing that minds).
        let old = rustix::process::umask(Mode::empty());
        let deep = dir.path().join("a/b/c");
        let made = create_private_dir_all(&deep);
        let fd = opened(dir.path());
        let written = write_atomically(&fd, OsStr::new("f"), b"x", 0o600, Path::new("f"));
        rustix::process::umask(old);
        made.unwrap();
        written.unwrap();
        for sub in ["a", "a/b", "a/b/c"] {
            let mode = fs::metadata(dir.path().join(sub))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700, "{sub}");
        }
        let mode = fs::metadata(dir.path().join("f"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn an_atomic_write_replaces_a_link_not_its_target_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("name")).unwrap();
        let fd = opened(dir.path());
        write_atomically(&fd, OsStr::new("name"), b"new", 0o644, Path::new("name")).unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep");
        assert_eq!(fs::read_to_string(dir.path().join("name")).unwrap(), "new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_private_folder_is_checked_on_its_descriptor() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("job");
        fs::create_dir(&folder).unwrap();
        fs::set_permissions(&folder, fs::Permissions::from_mode(0o700)).unwrap();
        let fd = open_private_dir(&folder).unwrap();
        // Opened, then opened up to others: the check under the lock sees it.
        fs::set_permissions(&folder, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(check_private_dir(&fd, &folder).is_err());
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&folder, &link).unwrap();
        fs::set_permissions(&folder, fs::Permissions::from_mode(0o700)).unwrap();
        assert!(matches!(
            open_private_dir(&link),
            Err(SafeFsError::Refused {
                problem: Problem::NotPrivate,
                ..
            })
        ));
    }

    #[test]
    fn the_same_file_is_seen_through_spellings_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("config.json");
        assert!(same_file(&a, &dir.path().join("x/../config.json")));
        assert!(same_file(&a, &dir.path().join("./config.json")));
        fs::write(&a, "{}").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&a, &link).unwrap();
        assert!(same_file(&a, &link));
        let hard = dir.path().join("hard.json");
        fs::hard_link(&a, &hard).unwrap();
        assert!(same_file(&hard, &a));
        assert!(!same_file(&a, &dir.path().join("other.json")));
    }
}
