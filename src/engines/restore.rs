//! docker fed while the check runs (issue 15): docker's own login, round trips nothing
//! can remove, then costs no time after ours. The price is that docker may store the
//! credential before the check has judged it. So whatever its login may change is saved
//! first and put back exactly when the check does not keep that login: the config
//! file's bytes (or its absence), and the credential helper's entry for the key, read
//! through the helper protocol (`get`, then `store` or `erase`).
//!
//! A SIGINT, SIGTERM or SIGHUP in that window stops docker (its whole process group, a
//! credential helper included) and puts everything back before the process ends as the
//! signal says. Only SIGKILL, which no program can catch, leaves what docker stored: a
//! credential docker itself had just logged in with, as a plain `docker login` would.

use super::command::{CommandEngine, variables_carrying, wait_within};
use crate::auth_file::{self, Saved};
use crate::secret::Secret;
use rustix::process::Pid;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// The protocol's answer to `get` for a server it has nothing for.
const NOT_FOUND: &str = "credentials not found";

/// What a docker login of one key may change, as it was before.
pub struct Snapshot {
    config: Saved,
    key: String,
    helper: Option<HelperEntry>,
}

/// A credential helper's entry for one server, as it was.
struct HelperEntry {
    program: PathBuf,
    server: String,
    previous: Option<Entry>,
    limit: Duration,
    scrub: Vec<Secret>,
}

/// A helper's entry for the server, as it was.
struct Entry {
    username: String,
    secret: Secret,
}

/// The credential-helper protocol's entry: `get`'s answer, `store`'s input (in the
/// order docker writes it).
#[derive(Serialize, Deserialize)]
struct Wire<S> {
    #[serde(rename = "ServerURL", default)]
    server: String,
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: S,
}

impl Snapshot {
    /// Saves docker's config file and, when the file sends `key` to a credential helper
    /// (`credHelpers`, else `credsStore`), the helper's entry for it. `Err` says why a
    /// faithful snapshot cannot be taken; docker is then fed only after the check.
    /// `scrub`: secrets no helper may see in its environment.
    pub fn take(
        config: &Path,
        key: &str,
        limit: Duration,
        scrub: &[Secret],
    ) -> Result<Snapshot, String> {
        let saved = auth_file::save(config).map_err(|e| e.to_string())?;
        let json = saved.json().map_err(|e| e.to_string())?;
        let helper_name = json
            .get("credHelpers")
            .and_then(|h| h.get(key))
            .or_else(|| json.get("credsStore"))
            .and_then(|name| name.as_str())
            .filter(|name| !name.is_empty());
        let helper = match helper_name {
            None => None,
            Some(name) => {
                let program = CommandEngine::find(&format!("docker-credential-{name}"))
                    .map_err(|e| e.to_string())?;
                let mut entry = HelperEntry {
                    program,
                    server: key.to_string(),
                    previous: None,
                    limit,
                    scrub: scrub.to_vec(),
                };
                entry.previous = entry.get()?;
                Some(entry)
            }
        };
        Ok(Snapshot {
            config: saved,
            key: key.to_string(),
            helper,
        })
    }

    /// Puts back what was saved; says what could not be.
    fn put_back(&self) -> Result<(), String> {
        let helper = match &self.helper {
            Some(entry) => entry.put_back(),
            None => Ok(()),
        };
        let file = auth_file::put_back(&self.config, &self.key).map_err(|e| e.to_string());
        helper.and(file.map(drop))
    }
}

impl HelperEntry {
    fn get(&self) -> Result<Option<Entry>, String> {
        match self.call("get", self.server.as_bytes()) {
            Ok(out) => {
                let out = secrecy::zeroize::Zeroizing::new(out);
                let wire: Wire<String> = serde_json::from_slice(&out).map_err(|_| {
                    format!("{} get gave an answer that is not an entry", self.shown())
                })?;
                Ok(Some(Entry {
                    username: wire.username,
                    secret: Secret::new(wire.secret),
                }))
            }
            Err(out) if out.contains(NOT_FOUND) => Ok(None),
            Err(out) => Err(format!("{} get failed: {out}", self.shown())),
        }
    }

    fn put_back(&self) -> Result<(), String> {
        let result = match &self.previous {
            Some(entry) => {
                let entry = Wire {
                    server: self.server.clone(),
                    username: entry.username.clone(),
                    secret: entry.secret.expose(),
                };
                let json = secrecy::zeroize::Zeroizing::new(
                    serde_json::to_vec(&entry).expect("an entry always serialises"),
                );
                self.call("store", &json).map(drop)
            }
            None => match self.call("erase", self.server.as_bytes()) {
                Err(out) if out.contains(NOT_FOUND) => Ok(()),
                other => other.map(drop),
            },
        };
        result.map_err(|out| format!("{} could not restore its entry: {out}", self.shown()))
    }

    /// Runs `program verb` with `input` on stdin: its stdout, or its message.
    fn call(&self, verb: &str, input: &[u8]) -> Result<Vec<u8>, String> {
        let mut command = Command::new(&self.program);
        let previous = self.previous.iter().map(|e| &e.secret);
        for name in variables_carrying(self.scrub.iter().chain(previous)) {
            command.env_remove(name);
        }
        let mut child = command
            .arg(verb)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start it: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input);
        }
        let out = wait_within(child, self.limit)
            .map_err(|e| e.to_string())?
            .ok_or("it did not answer in time")?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            // The protocol's errors are on stdout; neither stream carries a secret.
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            Err(crate::text::sanitize(text.trim(), 300))
        }
    }

    fn shown(&self) -> String {
        self.program
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    }
}

/// The snapshot of the login now in flight, and docker's process group: a signal puts
/// it back; [`Pending`] keeps it or puts it back when the check has spoken.
static IN_FLIGHT: Mutex<Option<(u64, Snapshot, Pid)>> = Mutex::new(None);

/// A login in flight whose snapshot is put back when dropped, unless kept.
pub struct Pending {
    id: u64,
}

impl Pending {
    /// Docker (group leader of `group`) has been fed; from now on a signal puts the
    /// snapshot back first.
    pub fn arm(snapshot: Snapshot, group: Pid) -> Pending {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        watch_signals();
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        *lock() = Some((id, snapshot, group));
        Pending { id }
    }

    /// The check kept this login: what docker stored stays.
    pub fn keep(self) {
        drop(self.take(&mut lock()));
        std::mem::forget(self);
    }

    /// This login's snapshot, if a signal has not taken it already.
    fn take(&self, slot: &mut Option<(u64, Snapshot, Pid)>) -> Option<Snapshot> {
        slot.take_if(|(id, ..)| *id == self.id)
            .map(|(_, snapshot, _)| snapshot)
    }
}

impl Drop for Pending {
    /// Call only once docker has exited. The lock is held while putting back, so a
    /// signal meanwhile waits for it and then ends the process.
    fn drop(&mut self) {
        let mut slot = lock();
        if let Some(snapshot) = self.take(&mut slot) {
            report(snapshot.put_back());
        }
    }
}

fn lock() -> std::sync::MutexGuard<'static, Option<(u64, Snapshot, Pid)>> {
    IN_FLIGHT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn report(result: Result<(), String>) {
    match result {
        Ok(()) => tracing::info!(
            "docker had been given the credential before the check ended; its config and credential store are as they were before"
        ),
        Err(why) => tracing::error!(
            "docker had been given the credential before the check ended and it could not all be removed ({why}); run docker logout for this registry"
        ),
    }
}

/// From the first armed login on, SIGINT, SIGTERM and SIGHUP are watched by a thread:
/// it stops docker and puts the snapshot in flight back, then ends the process as the
/// signal would have.
fn watch_signals() {
    static WATCHING: std::sync::Once = std::sync::Once::new();
    WATCHING.call_once(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            tracing::warn!(
                "cannot watch for signals: one during the login may leave docker's login stored"
            );
            return;
        };
        std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let mut slot = lock();
                if let Some((_, snapshot, group)) = slot.take() {
                    let _ =
                        rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
                    // Its leader is our child: wait until it is gone, without reaping
                    // it from under the thread that owns it.
                    let _ = rustix::process::waitid(
                        rustix::process::WaitId::Pgid(Some(group)),
                        rustix::process::WaitIdOptions::EXITED
                            | rustix::process::WaitIdOptions::NOWAIT,
                    );
                    report(snapshot.put_back());
                }
                let _ = signal_hook::low_level::emulate_default_handler(signal);
                std::process::exit(128 + signal);
            }
        });
    });
}
